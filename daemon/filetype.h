#ifndef INTAKE_FILETYPE_H
#define INTAKE_FILETYPE_H

#include "err.h"

#include <stddef.h>

/*
 * The type of an uploaded file, decided by its first bytes alone: the
 * declared Content-Type and the filename's extension are the client's
 * claims and are never consulted. Each type has one strict signature at
 * a fixed offset; whatever matches none (executables, scripts, HTML,
 * archives, a text file named report.pdf) is FILETYPE_UNKNOWN.
 *
 *   PDF    "%PDF-" then "1." or "2." and a digit, at offset 0
 *   JPEG   FF D8 FF at offset 0
 *   PNG    89 50 4E 47 0D 0A 1A 0A at offset 0
 *   HEIC   an ISO-BMFF "ftyp" box opening the file: a size of 16 to
 *          FILETYPE_FTYP_MAX bytes, a multiple of 4, that fits in the
 *          file, and a major brand heic, heix, heim, heis, hevc, hevx,
 *          mif1 or msf1 (the last two are HEIF's generic brands, which
 *          some AVIF files carry too: they are still HEIF containers)
 *   DICOM  "DICM" at offset 128, after the 128-byte preamble
 */

enum filetype {
	FILETYPE_UNKNOWN,
	FILETYPE_PDF,
	FILETYPE_JPEG,
	FILETYPE_PNG,
	FILETYPE_HEIC,
	FILETYPE_DICOM,
};

/* Leading bytes filetype_sniff needs to tell every type (DICOM's). */
#define FILETYPE_SNIFF_BYTES	132
#define FILETYPE_FTYP_MAX	1024

/*
 * The type of a file that starts with p[0..n). Give it the first
 * FILETYPE_SNIFF_BYTES bytes, or the whole file when it is shorter (a
 * stream's reader gathers that many before asking): a signature that
 * needs more bytes than n is taken as absent, so a short file is judged by
 * what it has, and an empty one is FILETYPE_UNKNOWN. p may be NULL when n
 * is 0.
 */
enum filetype	 filetype_sniff(const void *p, size_t n);

/*
 * For a whole file too short to hold a signature (n below what its type
 * needs): 1 if its bytes are the beginning of the signature of a type in
 * allowed (1u << enum filetype, PDF, JPEG and PNG only), so that nothing
 * in it says it is anything else; *out is that type, or FILETYPE_UNKNOWN
 * for an empty file. Else 0.
 */
int		 filetype_prefix_allowed(const void *p, size_t n,
		    unsigned allowed, enum filetype *out);

/* The MIME type of t ("application/pdf", "image/jpeg", "image/png",
   "image/heic", "application/dicom"); "application/octet-stream" for
   FILETYPE_UNKNOWN or any other value. A static string. */
const char	*filetype_mime(enum filetype t);
/* For people and file pickers: "PDF", "JPEG"… ("file" for any other
   value) and ".pdf", ".jpg,.jpeg"… ("" for any other). Static strings. */
const char	*filetype_name(enum filetype t);
const char	*filetype_extensions(enum filetype t);
#define FILETYPE_COUNT	(FILETYPE_DICOM + 1)

/*
 * The type whose MIME type is mime (ASCII case ignored), as the config's
 * list of allowed types names them. Returns 0 with *out set, ERR_NOTFOUND
 * for a MIME type that filetype_sniff never gives (including
 * "application/octet-stream"), ERR_INVAL for a NULL argument.
 */
int		 filetype_from_mime(const char *mime, enum filetype *out);

#endif
