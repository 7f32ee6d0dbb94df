/* A multipart submission through the upload module: text fields out as
   an urlencoded body, files sniffed, staged encrypted, decrypting to what
   was sent; the limits as they are crossed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <sodium.h>

#include "age.h"
#include "buf.h"
#include "testutil.h"
#include "upload.h"

#define B	"----testboundary7MA4YWxkTrZu0gW"

static char			dir[64], stagedir[128];
static struct age_identity	id;
static struct age_recipient	rcpt;
static const struct upload_field fields[] = {
	{ "reports", 3 },
	{ "photo", 1 },
};

static void
setup(void)
{
	ck_assert_int_ge(sodium_init(), 0);
	ck_assert_ptr_nonnull(tu_tmpdir(dir, sizeof(dir), "check_upload"));
	ck_assert_ptr_nonnull(tu_path(stagedir, sizeof(stagedir), dir,
	    "staging"));
	ck_assert_int_eq(age_identity_generate(&id), 0);
	age_identity_recipient(&id, &rcpt);
}

static void
teardown(void)
{
	tu_rmtree(dir);
}

static struct upload_policy
policy(void)
{
	struct upload_policy	p;

	memset(&p, 0, sizeof(p));
	p.allowed = 1u << FILETYPE_PDF | 1u << FILETYPE_JPEG |
	    1u << FILETYPE_PNG;
	p.file_bytes = 1u << 20;
	p.upload_bytes = 3u << 20;
	p.files = 4;
	p.field_bytes = 1024;
	p.text_bytes = 4096;
	p.max_parts = 32;
	return p;
}

static void
add_text(struct buf *b, const char *name, const char *value)
{
	ck_assert_int_eq(buf_printf(b, "--" B "\r\nContent-Disposition: "
	    "form-data; name=\"%s\"\r\n\r\n%s\r\n", name, value), 0);
}

static void
add_file(struct buf *b, const char *name, const char *filename,
    const void *data, size_t len)
{
	ck_assert_int_eq(buf_printf(b, "--" B "\r\nContent-Disposition: "
	    "form-data; name=\"%s\"; filename=\"%s\"\r\nContent-Type: "
	    "application/pdf\r\n\r\n", name, filename), 0);
	ck_assert_int_eq(buf_append(b, data, len), 0);
	ck_assert_int_eq(buf_puts(b, "\r\n"), 0);
}

static void
end(struct buf *b)
{
	ck_assert_int_eq(buf_puts(b, "--" B "--\r\n"), 0);
}

/* A PDF-looking body of len bytes. */
static unsigned char *
pdf(size_t len)
{
	unsigned char	*p = malloc(len + 1);
	size_t		 i;

	ck_assert_ptr_nonnull(p);
	for (i = 0; i < len; i++)
		p[i] = (unsigned char)(i * 31 + 7);
	memcpy(p, "%PDF-1.7\n", len < 9 ? len : 9);
	return p;
}

/* Feeds body in pieces of step bytes, doing the work as asked; returns
   the first error, or what finish said. */
static int
run(struct upload *u, const struct buf *body, size_t step)
{
	size_t	off, n;
	int	r;

	for (off = 0; off < body->len; off += n) {
		n = body->len - off < step ? body->len - off : step;
		r = upload_feed(u, body->data + off, n);
		if (r < 0)
			return r;
		if (r == UPLOAD_WORK) {
			upload_work(u);
			ck_assert_int_eq(upload_work_done(u), 0);
		}
	}
	if ((r = upload_finish(u)) == UPLOAD_WORK) {
		upload_work(u);
		r = upload_work_done(u);
	}
	return r;
}

static void
check_file(const struct upload_file *f, const void *want, size_t len)
{
	unsigned char	*ct, digest[32];
	char		 hex[65];
	struct buf	 out;
	ssize_t		 got;

	ck_assert_uint_eq(f->size, len);
	crypto_hash_sha256(digest, want, len);
	sodium_bin2hex(hex, sizeof(hex), digest, 32);
	ck_assert_str_eq(f->sha256, hex);
	ct = malloc(f->staged + 1);
	got = pread(f->fd, ct, f->staged, 0);
	ck_assert_int_eq(got, (ssize_t)f->staged);
	buf_init(&out, 0);
	ck_assert_int_eq(age_decrypt(&id, 1, ct, f->staged, &out), 0);
	ck_assert_uint_eq(out.len, len);
	if (len)
		ck_assert_mem_eq(out.data, want, len);
	buf_free(&out);
	free(ct);
}

START_TEST(text_and_files_in_any_pieces)
{
	static const size_t	 steps[] = { 1, 7, 4096, 16384,
				    UPLOAD_FEED_MAX };
	static const size_t	 sizes[] = { 65535, 65536, 65537, 200000 };
	struct upload_policy	 pol = policy();
	struct upload		*u;
	struct buf		 body;
	unsigned char		*f[4];
	const char		*text;
	size_t			 i, s, len;

	for (i = 0; i < 4; i++)
		f[i] = pdf(sizes[i]);
	buf_init(&body, 0);
	add_text(&body, "name", "Test Patient");
	add_text(&body, "message", "Line one.\r\nLine two & more = 100%");
	add_file(&body, "reports", "scan.pdf", f[0], sizes[0]);
	add_file(&body, "reports", "../../etc/lab.pdf", f[1], sizes[1]);
	add_file(&body, "reports", "x.pdf", f[2], sizes[2]);
	add_file(&body, "photo", "p.pdf", f[3], sizes[3]);
	add_file(&body, "photo", "", "", 0);	/* an input left empty */
	end(&body);
	for (s = 0; s < sizeof(steps) / sizeof(steps[0]); s++) {
		ck_assert_int_eq(upload_new(B, &pol, fields, 2, stagedir, &rcpt,
		    1, &u), 0);
		ck_assert_int_eq(run(u, &body, steps[s]), 0);
		text = upload_text(u, &len);
		ck_assert_str_eq(text, "name=Test%20Patient&message=Line%20one."
		    "%0D%0ALine%20two%20%26%20more%20%3D%20100%25");
		ck_assert_uint_eq(upload_nfiles(u), 4);
		for (i = 0; i < 4; i++)
			check_file(upload_file(u, i), f[i], sizes[i]);
		ck_assert_str_eq(upload_file(u, 1)->filename, "lab.pdf");
		ck_assert_str_eq(upload_file(u, 3)->field, "photo");
		ck_assert_str_eq(upload_file(u, 0)->content_type,
		    "application/pdf");
		ck_assert_int_eq(tu_count_files(stagedir), 0);
		upload_free(u);
	}
	for (i = 0; i < 4; i++)
		free(f[i]);
	buf_free(&body);
}
END_TEST

/* Types by their bytes: a renamed executable and a script are dropped
   and named; a PNG is a PNG whatever it claims; short files are judged
   by what they hold. */
START_TEST(types_are_sniffed)
{
	struct upload_policy		 pol = policy();
	const struct upload_problem	*pr;
	struct upload			*u;
	struct buf			 body;
	size_t				 n;

	buf_init(&body, 0);
	add_file(&body, "reports", "report.pdf", "\x7f" "ELF\x02\x01\x01\0\0\0"
	    "\0\0\0\0\0\0\x03\0>\0", 20);
	add_file(&body, "reports", "a.pdf", "\x89PNG\r\n\x1a\n\0\0\0\rIHDR",
	    16);
	add_file(&body, "reports", "b.pdf", "%", 1);
	add_file(&body, "photo", "c.sh", "#!/bin/sh\nrm -rf /\n", 19);
	end(&body);
	ck_assert_int_eq(upload_new(B, &pol, fields, 2, stagedir, &rcpt, 1,
	    &u), 0);
	ck_assert_int_eq(run(u, &body, 5), 0);
	ck_assert_uint_eq(upload_nfiles(u), 2);
	ck_assert_str_eq(upload_file(u, 0)->content_type, "image/png");
	ck_assert_str_eq(upload_file(u, 1)->content_type, "application/pdf");
	pr = upload_problems(u, &n);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(pr[0].field, "reports");
	ck_assert_str_eq(pr[0].code, "fileType");
	ck_assert_str_eq(pr[1].field, "photo");
	upload_free(u);
	buf_free(&body);
}
END_TEST

START_TEST(fields_and_counts)
{
	struct upload_policy		 pol = policy();
	const struct upload_problem	*pr;
	struct upload			*u;
	struct buf			 body;
	size_t				 n;

	buf_init(&body, 0);
	add_file(&body, "name", "x.pdf", "%PDF-1.4", 8);	/* not a file field */
	add_text(&body, "photo", "a text for a file");
	add_file(&body, "reports", "1.pdf", "%PDF-1.4", 8);
	add_file(&body, "reports", "2.pdf", "%PDF-1.4", 8);
	add_file(&body, "reports", "3.pdf", "%PDF-1.4", 8);
	add_file(&body, "reports", "4.pdf", "%PDF-1.4", 8);	/* over 3 */
	end(&body);
	ck_assert_int_eq(upload_new(B, &pol, fields, 2, stagedir, &rcpt, 1,
	    &u), 0);
	ck_assert_int_eq(run(u, &body, 4096), 0);
	ck_assert_uint_eq(upload_nfiles(u), 3);
	pr = upload_problems(u, &n);
	ck_assert_uint_eq(n, 3);
	ck_assert_str_eq(pr[0].field, "name");
	ck_assert_str_eq(pr[0].code, "notAFile");
	ck_assert_str_eq(pr[1].field, "photo");
	ck_assert_str_eq(pr[1].code, "notAFile");
	ck_assert_str_eq(pr[2].code, "maxItems");
	upload_free(u);
	buf_free(&body);
}
END_TEST

/* A limit answers as soon as it is crossed, not after the rest. */
START_TEST(limits_as_they_are_crossed)
{
	struct upload_policy	 pol = policy();
	struct upload		*u;
	struct buf		 body;
	unsigned char		*big = pdf(pol.file_bytes + 1);
	size_t			 off, fed = 0;
	int			 r = 0;

	buf_init(&body, 0);
	add_file(&body, "reports", "big.pdf", big, pol.file_bytes + 1);
	end(&body);
	ck_assert_int_eq(upload_new(B, &pol, fields, 2, stagedir, &rcpt, 1,
	    &u), 0);
	for (off = 0; off < body.len && r >= 0; off += 4096) {
		r = upload_feed(u, body.data + off, body.len - off < 4096 ?
		    body.len - off : 4096);
		fed = off;
		if (r == UPLOAD_WORK) {
			upload_work(u);
			ck_assert_int_eq(upload_work_done(u), 0);
		}
	}
	ck_assert_int_eq(r, ERR_TOOBIG);
	ck_assert_uint_lt(fed, body.len - 100);
	ck_assert_str_eq(upload_error(u), "a file is over the size limit");
	upload_free(u);
	/* All files together, each under its own limit. */
	pol.upload_bytes = pol.file_bytes + 10;
	buf_reset(&body);
	add_file(&body, "reports", "a.pdf", big, pol.file_bytes);
	add_file(&body, "reports", "b.pdf", big, 100);
	end(&body);
	ck_assert_int_eq(upload_new(B, &pol, fields, 2, stagedir, &rcpt, 1,
	    &u), 0);
	ck_assert_int_eq(run(u, &body, 65536), ERR_TOOBIG);
	upload_free(u);
	free(big);
	buf_free(&body);
}
END_TEST

START_TEST(malformed_bodies)
{
	struct upload_policy	 pol = policy();
	struct upload		*u;
	struct buf		 body;

	buf_init(&body, 0);
	add_text(&body, "name", "x");	/* no close delimiter */
	ck_assert_int_eq(upload_new(B, &pol, fields, 2, stagedir, &rcpt, 1,
	    &u), 0);
	ck_assert_int_eq(run(u, &body, 100), ERR_MALFORMED);
	upload_free(u);
	buf_free(&body);
	ck_assert_int_eq(upload_new("bad boundary ", &pol, fields, 2,
	    stagedir, &rcpt, 1, &u), ERR_INVAL);
}
END_TEST

Suite *
upload_suite(void)
{
	Suite	*s = suite_create("upload");
	TCase	*tc = tcase_create("upload");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, text_and_files_in_any_pieces);
	tcase_add_test(tc, types_are_sniffed);
	tcase_add_test(tc, fields_and_counts);
	tcase_add_test(tc, limits_as_they_are_crossed);
	tcase_add_test(tc, malformed_bodies);
	suite_add_tcase(s, tc);
	return s;
}
