/*
 * File types by content (daemon/filetype.c): each signature's minimal
 * form, the same cut one byte short, look-alikes and files whose name or
 * declared type would lie, HEIC's box checks, DICOM's preamble, and the
 * MIME names both ways.
 */
#include <stdint.h>
#include <string.h>

#include <check.h>

#include "filetype.h"

#define SNIFF(s)	filetype_sniff(s, sizeof(s) - 1)

/* The smallest start of each type that is recognised. */
static const struct {
	const char	*bytes;
	size_t		 len;
	enum filetype	 type;
} minimal[] = {
	{ "%PDF-1.4", 8, FILETYPE_PDF },
	{ "%PDF-2.0", 8, FILETYPE_PDF },
	{ "\xff\xd8\xff", 3, FILETYPE_JPEG },
	{ "\x89PNG\r\n\x1a\n", 8, FILETYPE_PNG },
	{ "\0\0\0\x10" "ftypheic\0\0\0\0", 16, FILETYPE_HEIC },
};

START_TEST(minimal_headers)
{
	size_t	i;

	for (i = 0; i < sizeof(minimal) / sizeof(minimal[0]); i++)
		ck_assert_int_eq(filetype_sniff(minimal[i].bytes,
		    minimal[i].len), minimal[i].type);
	ck_assert_int_eq(SNIFF("\xff\xd8\xff\xe0\0\x10JFIF\0"), FILETYPE_JPEG);
	ck_assert_int_eq(SNIFF("\x89PNG\r\n\x1a\n\0\0\0\rIHDR"), FILETYPE_PNG);
	ck_assert_int_eq(SNIFF("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"), FILETYPE_PDF);
}
END_TEST

START_TEST(truncated_headers)
{
	unsigned char	dicom[FILETYPE_SNIFF_BYTES] = { 0 };
	size_t		i, n;

	for (i = 0; i < sizeof(minimal) / sizeof(minimal[0]); i++)
		for (n = 0; n < minimal[i].len; n++)
			ck_assert_int_eq(filetype_sniff(minimal[i].bytes, n),
			    FILETYPE_UNKNOWN);
	memcpy(dicom + 128, "DICM", 4);
	ck_assert_int_eq(filetype_sniff(dicom, sizeof(dicom)), FILETYPE_DICOM);
	for (n = 0; n < sizeof(dicom); n++)
		ck_assert_int_eq(filetype_sniff(dicom, n), FILETYPE_UNKNOWN);
	ck_assert_int_eq(filetype_sniff(NULL, 0), FILETYPE_UNKNOWN);
}
END_TEST

#define BYTES(s)	{ s, sizeof(s) - 1 }

/* Whatever the upload was called or declared, these are no report. */
static const struct {
	const char	*bytes;
	size_t		 len;
} unknown[] = {
	/* an ELF and a shell script, each sent as report.pdf */
	BYTES("\x7f" "ELF\x02\x01\x01\0\0\0\0\0\0\0\0\0"),
	BYTES("#!/bin/sh\nrm -rf /\n"),
	BYTES("<!DOCTYPE html><html><body>%PDF-1.4"),
	BYTES("PK\x03\x04\x14\0\0\0\x08\0"),
	BYTES("MZ\x90\0\x03\0\0\0"),
	BYTES("GIF89a\x01\0\x01\0"),
	BYTES("report.pdf"),
	BYTES(" %PDF-1.4"),
	/* PDF without a version, or not 1.x / 2.x */
	BYTES("%PDF-"),
	BYTES("%PDF-x.4 and more"),
	BYTES("%PDF-1"),
	BYTES("%PDF-14 and more"),
	BYTES("%PDF-1.x and more"),
	BYTES("%PDF-3.0 and more"),
	BYTES("%PDF-0.9 and more"),
	BYTES("%pdf-1.4 and more"),
	/* JPEG and PNG one byte off */
	BYTES("\xff\xd8\xfe\xe0"),
	BYTES("\xff\xd9\xff\xe0"),
	BYTES("\x89PNG\r\n\x1a\r"),
	BYTES("\x89PNG\n\x1a\n\0"),
	BYTES("\x89png\r\n\x1a\n"),
};

START_TEST(impostors)
{
	size_t	i;

	for (i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++)
		ck_assert_msg(filetype_sniff(unknown[i].bytes,
		    unknown[i].len) == FILETYPE_UNKNOWN, "unknown[%zu] "
		    "recognised", i);
}
END_TEST

/* An ftyp box of size bytes with major brand b, in a file of n bytes. */
static enum filetype
heic(uint32_t size, const char *b, size_t n)
{
	unsigned char	f[2048] = { 0 };

	f[0] = (unsigned char)(size >> 24);
	f[1] = (unsigned char)(size >> 16);
	f[2] = (unsigned char)(size >> 8);
	f[3] = (unsigned char)size;
	memcpy(f + 4, "ftyp", 4);
	memcpy(f + 8, b, 4);
	memcpy(f + 16, "mif1heic", 8);	/* compatible brands */
	return filetype_sniff(f, n);
}

START_TEST(heic_brands)
{
	static const char *const good[] = { "heic", "heix", "heim", "heis",
	    "hevc", "hevx", "mif1", "msf1" };
	static const char *const bad[] = { "avif", "isom", "mp42", "qt  ",
	    "HEIC", "heif", "crx " };
	size_t	i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		ck_assert_int_eq(heic(24, good[i], 24), FILETYPE_HEIC);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_int_eq(heic(24, bad[i], 24), FILETYPE_UNKNOWN);
	/* The brand only counts in a box named ftyp at offset 4. */
	ck_assert_int_eq(SNIFF("\0\0\0\x18" "moovheic\0\0\0\0mif1heic"),
	    FILETYPE_UNKNOWN);
	ck_assert_int_eq(SNIFF("\0\0\0\0\0\0\0\x18" "ftypheic\0\0\0\0mif1heic"),
	    FILETYPE_UNKNOWN);
}
END_TEST

START_TEST(heic_box_size)
{
	ck_assert_int_eq(heic(16, "heic", 16), FILETYPE_HEIC);
	ck_assert_int_eq(heic(FILETYPE_FTYP_MAX, "heic", 2048), FILETYPE_HEIC);
	ck_assert_int_eq(heic(FILETYPE_FTYP_MAX, "heic", FILETYPE_SNIFF_BYTES),
	    FILETYPE_HEIC);
	ck_assert_int_eq(heic(0, "heic", 64), FILETYPE_UNKNOWN);
	ck_assert_int_eq(heic(1, "heic", 64), FILETYPE_UNKNOWN);
	ck_assert_int_eq(heic(8, "heic", 64), FILETYPE_UNKNOWN);
	ck_assert_int_eq(heic(12, "heic", 64), FILETYPE_UNKNOWN);
	ck_assert_int_eq(heic(22, "heic", 64), FILETYPE_UNKNOWN);
	ck_assert_int_eq(heic(FILETYPE_FTYP_MAX + 4, "heic", 2048),
	    FILETYPE_UNKNOWN);
	ck_assert_int_eq(heic(0xffffffff, "heic", 2048), FILETYPE_UNKNOWN);
	ck_assert_int_eq(heic(0x80000010, "heic", 2048), FILETYPE_UNKNOWN);
	/* A whole file shorter than its own box. */
	ck_assert_int_eq(heic(32, "heic", 24), FILETYPE_UNKNOWN);
	ck_assert_int_eq(heic(32, "heic", 15), FILETYPE_UNKNOWN);
}
END_TEST

START_TEST(dicom_needs_the_preamble)
{
	unsigned char	f[FILETYPE_SNIFF_BYTES + 16];

	memset(f, 0, sizeof(f));
	memcpy(f, "DICM", 4);
	ck_assert_int_eq(filetype_sniff(f, sizeof(f)), FILETYPE_UNKNOWN);
	memcpy(f + 127, "DICM", 4);
	ck_assert_int_eq(filetype_sniff(f, sizeof(f)), FILETYPE_UNKNOWN);
	memset(f, 'x', 128);	/* the preamble's content is free */
	memcpy(f + 128, "DICM", 4);
	ck_assert_int_eq(filetype_sniff(f, sizeof(f)), FILETYPE_DICOM);
	memcpy(f + 128, "dicm", 4);
	ck_assert_int_eq(filetype_sniff(f, sizeof(f)), FILETYPE_UNKNOWN);
}
END_TEST

START_TEST(mime_names)
{
	static const enum filetype	all[] = { FILETYPE_PDF, FILETYPE_JPEG,
	    FILETYPE_PNG, FILETYPE_HEIC, FILETYPE_DICOM };
	enum filetype			t = FILETYPE_UNKNOWN;
	size_t				i;

	ck_assert_str_eq(filetype_mime(FILETYPE_PDF), "application/pdf");
	ck_assert_str_eq(filetype_mime(FILETYPE_JPEG), "image/jpeg");
	ck_assert_str_eq(filetype_mime(FILETYPE_PNG), "image/png");
	ck_assert_str_eq(filetype_mime(FILETYPE_HEIC), "image/heic");
	ck_assert_str_eq(filetype_mime(FILETYPE_DICOM), "application/dicom");
	ck_assert_str_eq(filetype_mime(FILETYPE_UNKNOWN),
	    "application/octet-stream");
	ck_assert_str_eq(filetype_mime((enum filetype)99),
	    "application/octet-stream");
	for (i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		ck_assert_int_eq(filetype_from_mime(filetype_mime(all[i]), &t),
		    0);
		ck_assert_int_eq(t, all[i]);
	}
	ck_assert_int_eq(filetype_from_mime("Image/PNG", &t), 0);
	ck_assert_int_eq(t, FILETYPE_PNG);
	ck_assert_int_eq(filetype_from_mime("application/octet-stream", &t),
	    ERR_NOTFOUND);
	ck_assert_int_eq(filetype_from_mime("image/jpg", &t), ERR_NOTFOUND);
	ck_assert_int_eq(filetype_from_mime("image/png ", &t), ERR_NOTFOUND);
	ck_assert_int_eq(filetype_from_mime("", &t), ERR_NOTFOUND);
	ck_assert_int_eq(filetype_from_mime(NULL, &t), ERR_INVAL);
	ck_assert_int_eq(filetype_from_mime("image/png", NULL), ERR_INVAL);
}
END_TEST

Suite *
filetype_suite(void)
{
	Suite	*s = suite_create("filetype");
	TCase	*tc = tcase_create("filetype");

	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, minimal_headers);
	tcase_add_test(tc, truncated_headers);
	tcase_add_test(tc, impostors);
	tcase_add_test(tc, heic_brands);
	tcase_add_test(tc, heic_box_size);
	tcase_add_test(tc, dicom_needs_the_preamble);
	tcase_add_test(tc, mime_names);
	suite_add_tcase(s, tc);
	return s;
}
