/*
 * Sniffing a file's type from its first bytes; filetype.h lists the
 * signatures. Each check states how many bytes it needs and fails when
 * the file is shorter, so none reads past n.
 */
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "filetype.h"

static const char *const mimes[] = {
	[FILETYPE_PDF] = "application/pdf",
	[FILETYPE_JPEG] = "image/jpeg",
	[FILETYPE_PNG] = "image/png",
	[FILETYPE_HEIC] = "image/heic",
	[FILETYPE_DICOM] = "application/dicom",
};

/* What a person calls each type, and the extensions a file picker
   filters on (a phone's picker knows extensions better than MIME types). */
static const char *const names[] = {
	[FILETYPE_PDF] = "PDF",
	[FILETYPE_JPEG] = "JPEG",
	[FILETYPE_PNG] = "PNG",
	[FILETYPE_HEIC] = "HEIC",
	[FILETYPE_DICOM] = "DICOM",
};
static const char *const exts[] = {
	[FILETYPE_PDF] = ".pdf",
	[FILETYPE_JPEG] = ".jpg,.jpeg",
	[FILETYPE_PNG] = ".png",
	[FILETYPE_HEIC] = ".heic,.heif",
	[FILETYPE_DICOM] = ".dcm",
};

#define NTYPES	(sizeof(mimes) / sizeof(mimes[0]))

static int
has(const unsigned char *p, size_t n, size_t off, const void *magic,
    size_t len)
{
	return n >= off + len && memcmp(p + off, magic, len) == 0;
}

/* "%PDF-1.x" or "%PDF-2.x": the version is what tells a PDF from a file
   that merely starts with the word. */
static int
is_pdf(const unsigned char *p, size_t n)
{
	return has(p, n, 0, "%PDF-", 5) && n >= 8 && (p[5] == '1' ||
	    p[5] == '2') && p[6] == '.' && p[7] >= '0' && p[7] <= '9';
}

/*
 * An ISO-BMFF file opens with its ftyp box: a 32-bit big-endian size, the
 * type "ftyp", the major brand, a minor version and compatible brands of
 * four bytes each. A size of 0 (to the end of the file) or 1 (a 64-bit
 * size follows) is legal for other boxes but never for a real ftyp.
 */
static int
is_heic(const unsigned char *p, size_t n)
{
	static const char *const brands[] = { "heic", "heix", "heim", "heis",
	    "hevc", "hevx", "mif1", "msf1" };
	uint32_t	size;
	size_t		i;

	if (n < 16 || !has(p, n, 4, "ftyp", 4))
		return 0;
	size = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
	if (size < 16 || size > FILETYPE_FTYP_MAX || size % 4 != 0)
		return 0;
	if (n < FILETYPE_SNIFF_BYTES && size > n)
		return 0;	/* the whole file is shorter than its box */
	for (i = 0; i < sizeof(brands) / sizeof(brands[0]); i++)
		if (memcmp(p + 8, brands[i], 4) == 0)
			return 1;
	return 0;
}

enum filetype
filetype_sniff(const void *data, size_t n)
{
	const unsigned char	*p = data;

	if (n == 0)
		return FILETYPE_UNKNOWN;
	if (is_pdf(p, n))
		return FILETYPE_PDF;
	if (has(p, n, 0, "\xff\xd8\xff", 3))
		return FILETYPE_JPEG;
	if (has(p, n, 0, "\x89PNG\r\n\x1a\n", 8))
		return FILETYPE_PNG;
	if (is_heic(p, n))
		return FILETYPE_HEIC;
	if (has(p, n, 128, "DICM", 4))
		return FILETYPE_DICOM;
	return FILETYPE_UNKNOWN;
}

/* Whether p[0..n) could be the start of type t's signature: each byte
   present fits it (n may be 0). Only the fixed-prefix signatures. */
static int
could_start(enum filetype t, const unsigned char *p, size_t n)
{
	static const char	pdf[] = "%PDF-";
	size_t			i;

	switch (t) {
	case FILETYPE_PDF:
		for (i = 0; i < n && i < 5; i++)
			if (p[i] != (unsigned char)pdf[i])
				return 0;
		return n < 8 && (n < 6 || p[5] == '1' || p[5] == '2') &&
		    (n < 7 || p[6] == '.');
	case FILETYPE_JPEG:
		return n < 3 && (n < 1 || p[0] == 0xff) &&
		    (n < 2 || p[1] == 0xd8);
	case FILETYPE_PNG:
		return n < 8 && (n == 0 || memcmp(p, "\x89PNG\r\n\x1a\n", n) == 0);
	default:
		return 0;
	}
}

int
filetype_prefix_allowed(const void *data, size_t n, unsigned allowed,
    enum filetype *out)
{
	static const enum filetype	order[] = { FILETYPE_PDF,
					    FILETYPE_JPEG, FILETYPE_PNG };
	size_t				i;

	for (i = 0; i < sizeof(order) / sizeof(order[0]); i++)
		if ((allowed & (1u << order[i])) &&
		    could_start(order[i], data, n)) {
			*out = n == 0 ? FILETYPE_UNKNOWN : order[i];
			return 1;
		}
	return 0;
}

const char *
filetype_mime(enum filetype t)
{
	if ((size_t)t >= NTYPES || mimes[t] == NULL)
		return "application/octet-stream";
	return mimes[t];
}

const char *
filetype_name(enum filetype t)
{
	if ((size_t)t >= NTYPES || names[t] == NULL)
		return "file";
	return names[t];
}

const char *
filetype_extensions(enum filetype t)
{
	if ((size_t)t >= NTYPES || exts[t] == NULL)
		return "";
	return exts[t];
}

int
filetype_from_mime(const char *mime, enum filetype *out)
{
	size_t	i;

	if (mime == NULL || out == NULL)
		return ERR_INVAL;
	for (i = 0; i < NTYPES; i++)
		if (mimes[i] != NULL && strcasecmp(mime, mimes[i]) == 0) {
			*out = (enum filetype)i;
			return 0;
		}
	return ERR_NOTFOUND;
}
