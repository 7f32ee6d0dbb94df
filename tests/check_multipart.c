/*
 * multipart/form-data (daemon/multipart.c): the boundary parameter, the
 * framing fed whole, byte by byte and split at every position, the CRLF
 * edge cases, part headers and their caps, filenames, and callbacks that
 * stop the parser. A recorder turns the callbacks into one log string per
 * run, so runs fed differently are compared as strings (and with what
 * was sent, which shows that no delimiter byte reached the data). The
 * callbacks note the first broken rule instead of asserting, since a
 * passing ck_assert costs a write and data may come a byte at a time.
 */
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <check.h>

#include "buf.h"
#include "multipart.h"
#include "utf8.h"

#define B		"AaB03x"
#define LOG_MAX		(1 << 20)
#define BODY(s)		s, sizeof(s) - 1

struct rec {
	struct buf	 log;		/* "[name|filename|type]data$" a part */
	int		 quiet;		/* count only: no log */
	int		 in_part;
	unsigned	 begins, ends;
	size_t		 data;		/* bytes handed out */
	uint64_t	 hash;		/* FNV-1a of them */
	int		 stop_begin, stop_data;	/* returned when non-zero */
	char		 delim[4 + MULTIPART_BOUNDARY_MAX];
	size_t		 dlen;
	char		 why[128];	/* multipart_error at the end */
	const char	*bad;		/* the first rule seen broken */
	size_t		 heap_base, heap_max;	/* mallinfo2 uordblks */
	int		 heap;		/* measure the heap at part_end */
};

static void
rec_init(struct rec *r, const char *boundary)
{
	memset(r, 0, sizeof(*r));
	buf_init(&r->log, LOG_MAX);
	r->hash = 1469598103934665603ULL;
	r->dlen = (size_t)snprintf(r->delim, sizeof(r->delim), "\r\n--%s",
	    boundary);
}

static uint64_t
fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char	*s = p;
	size_t			 i;

	for (i = 0; i < n; i++)
		h = (h ^ s[i]) * 1099511628211ULL;
	return h;
}

static const char *
nz(const char *s)
{
	return s ? s : "NULL";
}

static void
broken(struct rec *r, int cond, const char *rule)
{
	if (cond && r->bad == NULL)
		r->bad = rule;
}

static int
on_begin(const struct multipart_part *p, void *arg)
{
	struct rec	*r = arg;

	broken(r, r->in_part, "begin inside a part");
	broken(r, p->name == NULL, "a part without a name");
	r->in_part = 1;
	r->begins++;
	if (!r->quiet)
		broken(r, buf_printf(&r->log, "[%s|%s|%s]", p->name,
		    nz(p->filename), nz(p->content_type)) != 0, "log full");
	return r->stop_begin;
}

static int
on_data(const void *p, size_t n, void *arg)
{
	struct rec	*r = arg;

	broken(r, !r->in_part, "data outside a part");
	broken(r, n == 0, "an empty data piece");
	/* Across pieces, comparing all the data with what was sent shows
	   that no delimiter byte got in. */
	broken(r, memmem(p, n, r->delim, r->dlen) != NULL,
	    "a delimiter in data");
	r->data += n;
	r->hash = fnv(r->hash, p, n);
	if (!r->quiet)
		broken(r, buf_append(&r->log, p, n) != 0, "log full");
	return r->stop_data;
}

static int
on_end(const struct multipart_part *p, void *arg)
{
	struct rec		*r = arg;
	struct mallinfo2	 mi;

	broken(r, !r->in_part, "end outside a part");
	broken(r, p->name == NULL, "a part without a name");
	r->in_part = 0;
	r->ends++;
	if (r->heap) {
		mi = mallinfo2();
		if (mi.uordblks > r->heap_max)
			r->heap_max = mi.uordblks;
	}
	if (!r->quiet)
		broken(r, buf_putc(&r->log, '$') != 0, "log full");
	return 0;
}

static const struct multipart_cb	cbs = { on_begin, on_data, on_end };

static struct multipart *
parser(const char *boundary, struct rec *r, const struct multipart_limits *lim)
{
	struct multipart	*m;

	rec_init(r, boundary);
	ck_assert_int_eq(multipart_new(boundary, lim, &cbs, r, &m), 0);
	return m;
}

/* Finishes (unless a feed failed), keeps the reason, frees. */
static int
done(struct multipart *m, struct rec *r, int rc)
{
	if (rc == 0)
		rc = multipart_finish(m);
	snprintf(r->why, sizeof(r->why), "%s", multipart_error(m));
	multipart_free(m);
	ck_assert_msg(r->bad == NULL, "%s", r->bad);
	return rc;
}

/* Parses body fed in pieces of step bytes (0: whole). */
static int
run_lim(const char *boundary, const void *body, size_t len, size_t step,
    const struct multipart_limits *lim, struct rec *r)
{
	struct multipart	*m = parser(boundary, r, lim);
	size_t			 off, k;
	int			 rc = 0;

	if (step == 0)
		step = len ? len : 1;
	for (off = 0; off < len && rc == 0; off += k) {
		k = len - off < step ? len - off : step;
		rc = multipart_feed(m, (const char *)body + off, k);
	}
	return done(m, r, rc);
}

static int
run(const void *body, size_t len, size_t step, struct rec *r)
{
	return run_lim(B, body, len, step, NULL, r);
}

/* Parses body in three feeds: [0,a) [a,b) [b,len). */
static int
run_cuts(const char *boundary, const char *body, size_t len, size_t a,
    size_t b, struct rec *r)
{
	struct multipart	*m = parser(boundary, r, NULL);
	int			 rc;

	if ((rc = multipart_feed(m, body, a)) == 0 &&
	    (rc = multipart_feed(m, body + a, b - a)) == 0)
		rc = multipart_feed(m, body + b, len - b);
	return done(m, r, rc);
}

/* The log of a successful whole-body parse, to compare other runs with. */
static void
expect_log(const void *body, size_t len, const char *want, size_t wlen)
{
	struct rec	r;
	size_t		step;

	for (step = 0; step < 3; step++) {
		ck_assert_int_eq(run(body, len, step, &r), 0);
		ck_assert_uint_eq(r.log.len, wlen);
		if (wlen > 0)	/* an empty log has no data at all */
			ck_assert_mem_eq(r.log.data, want, wlen);
		ck_assert_uint_eq(r.begins, r.ends);
		buf_free(&r.log);
	}
}

/* Parses, whole and byte by byte, a body that must fail with rc and why. */
static void
expect_error(const void *body, size_t len, int rc, const char *why)
{
	struct rec	r;
	size_t		step;

	for (step = 0; step < 2; step++) {
		ck_assert_int_eq(run(body, len, step, &r), rc);
		ck_assert_str_eq(r.why, why);
		buf_free(&r.log);
	}
}

/* ---- the boundary parameter ---- */

static int
boundary_of(const char *ct, char *out)
{
	return multipart_boundary(ct, out, MULTIPART_BOUNDARY_MAX + 1);
}

START_TEST(boundary_forms)
{
	char	b[MULTIPART_BOUNDARY_MAX + 1];

	ck_assert_int_eq(boundary_of("multipart/form-data; boundary=" B, b), 0);
	ck_assert_str_eq(b, B);
	ck_assert_int_eq(boundary_of("Multipart/Form-Data;BOUNDARY=\"a b:c\"",
	    b), 0);
	ck_assert_str_eq(b, "a b:c");
	ck_assert_int_eq(boundary_of(" multipart/form-data ; charset=utf-8 ;"
	    "\tboundary = x-1 ; other=\"y\" ;", b), 0);
	ck_assert_str_eq(b, "x-1");
	ck_assert_int_eq(boundary_of("multipart/form-data; boundary=\"'()+_,-."
	    "/:=?\"", b), 0);
	ck_assert_str_eq(b, "'()+_,-./:=?");
	ck_assert_int_eq(boundary_of("multipart/form-data; boundary=----"
	    "WebKitFormBoundary7MA4YWxkTrZu0gW", b), 0);
	ck_assert_str_eq(b, "----WebKitFormBoundary7MA4YWxkTrZu0gW");
}
END_TEST

START_TEST(boundary_refused)
{
	static const char *const bad[] = {
		"multipart/form-data",
		"multipart/form-data;",
		"multipart/form-data; charset=utf-8",
		"multipart/form-data; boundary=",
		"multipart/form-data; boundary=\"\"",
		"multipart/form-data; boundary=\"ends in space \"",
		"multipart/form-data; boundary=\"tab\tinside\"",
		"multipart/form-data; boundary=\"semi;colon\"",
		"multipart/form-data; boundary=\"unterminated",
		"multipart/form-data; boundary=a; boundary=a",
		"multipart/form-data; boundary=a b",
		"multipart/form-data boundary=a",
		"multipart/mixed; boundary=a",
		"application/x-www-form-urlencoded; boundary=a",
		"multipart/form-data; boundary=\"a\\\"b\"",
		"multipart/form-data; boundary=\"\xc3\xa9\"",
		"multipart/form-data; =a",
	};
	char	b[MULTIPART_BOUNDARY_MAX + 1], ct[200];
	size_t	i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(boundary_of(bad[i], b) == ERR_MALFORMED,
		    "accepted: %s", bad[i]);
	snprintf(ct, sizeof(ct), "multipart/form-data; boundary=%.70s",
	    "0123456789012345678901234567890123456789012345678901234567890123"
	    "456789");
	ck_assert_int_eq(boundary_of(ct, b), 0);
	ck_assert_uint_eq(strlen(b), 70);
	strcat(ct, "x");	/* 71 */
	ck_assert_int_eq(boundary_of(ct, b), ERR_MALFORMED);
	ck_assert_int_eq(multipart_boundary("multipart/form-data; boundary=abc",
	    b, 3), ERR_INVAL);
	ck_assert_int_eq(multipart_boundary(NULL, b, sizeof(b)), ERR_INVAL);
}
END_TEST

START_TEST(new_checks_arguments)
{
	struct multipart_limits	 big = { 2 * 1024 * 1024, 0 };
	struct multipart	*m = NULL;

	ck_assert_int_eq(multipart_new("", NULL, &cbs, NULL, &m), ERR_INVAL);
	ck_assert_int_eq(multipart_new("a ", NULL, &cbs, NULL, &m), ERR_INVAL);
	ck_assert_int_eq(multipart_new("a\r", NULL, &cbs, NULL, &m), ERR_INVAL);
	ck_assert_int_eq(multipart_new("a", &big, &cbs, NULL, &m), ERR_INVAL);
	ck_assert_int_eq(multipart_new("a", NULL, NULL, NULL, &m), ERR_INVAL);
	ck_assert_int_eq(multipart_new(NULL, NULL, &cbs, NULL, &m), ERR_INVAL);
	ck_assert_ptr_null(m);
	multipart_free(NULL);
}
END_TEST

/* ---- framing ---- */

/* Two text fields and a file, as a browser sends them, with data that
   holds "\r\n--" and NUL bytes. */
static const char form_body[] =
    "--" B "\r\n"
    "Content-Disposition: form-data; name=\"name\"\r\n"
    "\r\n"
    "Asha Rao\r\n"
    "--" B "\r\n"
    "Content-Disposition: form-data; name=\"message\"\r\n"
    "\r\n"
    "Line one\r\n--not the boundary\r\n--AaB03\r\n-\r\n\r\r\n"
    "--" B "\r\n"
    "Content-Disposition: form-data; name=\"reports\"; filename=\"scan.pdf\""
    "\r\n"
    "Content-Type: application/pdf\r\n"
    "\r\n"
    "%PDF-1.7\r\n\0\0binary\xff\r\n--\r\n-- " B "\r\n"
    "--" B "--\r\n";

static const char form_log[] =
    "[name|NULL|NULL]Asha Rao$"
    "[message|NULL|NULL]Line one\r\n--not the boundary\r\n--AaB03\r\n-\r\n"
    "\r$"
    "[reports|scan.pdf|application/pdf]%PDF-1.7\r\n\0\0binary\xff\r\n--\r\n"
    "-- " B "$";

START_TEST(whole_and_byte_by_byte)
{
	expect_log(BODY(form_body), BODY(form_log));
}
END_TEST

START_TEST(split_at_every_position)
{
	struct rec	r;
	size_t		len = sizeof(form_body) - 1, a, b;

	for (a = 0; a <= len; a++) {
		ck_assert_int_eq(run_cuts(B, form_body, len, a, a, &r), 0);
		ck_assert_uint_eq(r.log.len, sizeof(form_log) - 1);
		ck_assert_mem_eq(r.log.data, form_log, sizeof(form_log) - 1);
		buf_free(&r.log);
	}
	for (a = 0; a <= len; a += 3)
		for (b = a; b <= len; b += 5) {
			ck_assert_int_eq(run_cuts(B, form_body, len, a, b, &r),
			    0);
			ck_assert_uint_eq(r.log.len, sizeof(form_log) - 1);
			ck_assert_mem_eq(r.log.data, form_log,
			    sizeof(form_log) - 1);
			buf_free(&r.log);
		}
}
END_TEST

/* One field "f" whose data is d, fed whole, byte by byte and in pairs. */
#define ONE(d)	"--" B "\r\nContent-Disposition: form-data; name=f\r\n\r\n" \
		d "\r\n--" B "--\r\n"

START_TEST(crlf_edges)
{
	expect_log(BODY(ONE("x\r")), BODY("[f|NULL|NULL]x\r$"));
	expect_log(BODY(ONE("x\r\n")), BODY("[f|NULL|NULL]x\r\n$"));
	expect_log(BODY(ONE("x\r\n-")), BODY("[f|NULL|NULL]x\r\n-$"));
	expect_log(BODY(ONE("x\r\n--")), BODY("[f|NULL|NULL]x\r\n--$"));
	expect_log(BODY(ONE("\r\n--Q\r\n--AaB03y")),
	    BODY("[f|NULL|NULL]\r\n--Q\r\n--AaB03y$"));
	expect_log(BODY(ONE("\r")), BODY("[f|NULL|NULL]\r$"));
	expect_log(BODY(ONE("\r\r\n\r\n\r")),
	    BODY("[f|NULL|NULL]\r\r\n\r\n\r$"));
	expect_log(BODY(ONE("")), BODY("[f|NULL|NULL]$"));
	/* The boundary's text is data unless "\r\n--" comes before it. */
	expect_log(BODY(ONE(B " --" B " x--" B)),
	    BODY("[f|NULL|NULL]" B " --" B " x--" B "$"));
}
END_TEST

START_TEST(boundary_in_data)
{
	/* RFC 2046 5.1.1: after CRLF "--" the whole boundary is a
	   delimiter, so what follows it must be what a boundary line
	   allows. */
	expect_error(BODY(ONE("a\r\n--" B "more")), ERR_MALFORMED,
	    "unexpected bytes after a boundary");
	expect_error(BODY(ONE("--" B "more")), ERR_MALFORMED,
	    "unexpected bytes after a boundary");
	/* The CRLF ending the headers may start the delimiter: data that
	   opens with the boundary line ends the part, empty. */
	expect_log(BODY("--" B "\r\nContent-Disposition: form-data; name=a\r\n"
	    "\r\n--" B "\r\nContent-Disposition: form-data; name=b\r\n\r\n"
	    "x\r\n--" B "--"), BODY("[a|NULL|NULL]$[b|NULL|NULL]x$"));
}
END_TEST

START_TEST(lf_only_refused)
{
	expect_error(BODY("--" B "\nContent-Disposition: form-data; name=f\n"
	    "\nx\n--" B "--\n"), ERR_MALFORMED,
	    "a boundary line does not end in CRLF");
	expect_error(BODY("--" B "\r\nContent-Disposition: form-data; name=f\n"
	    "\r\nx\r\n--" B "--\r\n"), ERR_MALFORMED,
	    "a part header line does not end in CRLF");
	expect_error(BODY("--" B "\r\nContent-Disposition: form-data;\r name=f"
	    "\r\n\r\nx\r\n--" B "--\r\n"), ERR_MALFORMED,
	    "bare CR in part headers");
	expect_error(BODY("--" B "\r\r\n"), ERR_MALFORMED,
	    "a boundary line does not end in CRLF");
}
END_TEST

START_TEST(preamble_epilogue_padding)
{
	char	body[4096];
	int	n;

	expect_log(BODY("This is the preamble.\r\nIt is ignored.\r\n--" B
	    " \t \r\nContent-Disposition: form-data; name=f\r\n\r\nv\r\n--"
	    B "\t\r\nContent-Disposition: form-data; name=g\r\n\r\nw\r\n--"
	    B "--  \r\nThis is the epilogue.\r\n--" B "\r\nignored\r\n"),
	    BODY("[f|NULL|NULL]v$[g|NULL|NULL]w$"));
	/* A leading CRLF is part of the first delimiter, not data. */
	expect_log(BODY("\r\n--" B "\r\nContent-Disposition: form-data; "
	    "name=f\r\n\r\nv\r\n--" B "--"), BODY("[f|NULL|NULL]v$"));
	/* No field at all. */
	expect_log(BODY("--" B "--\r\n"), BODY(""));
	n = snprintf(body, sizeof(body), "--" B "--\r\n%1022s", "");
	expect_log(body, (size_t)n, BODY(""));
	n = snprintf(body, sizeof(body), "--" B "--\r\n%1023s", "");
	expect_error(body, (size_t)n, ERR_TOOBIG,
	    "too many bytes after the closing boundary");
	n = snprintf(body, sizeof(body), "%1025s\r\n--" B "--", "");
	expect_error(body, (size_t)n, ERR_MALFORMED,
	    "no boundary at the start of the body");
	n = snprintf(body, sizeof(body), "--" B "%65s\r\n", "");
	expect_error(body, (size_t)n, ERR_MALFORMED,
	    "too much padding after a boundary");
}
END_TEST

START_TEST(wrong_or_missing_boundary)
{
	static const char	other[] = "--" B "Z\r\nContent-Disposition: "
	    "form-data; name=f\r\n\r\nv\r\n--" B "Z--\r\n";
	struct rec		r;

	/* The body's boundary has the header's as a prefix: no part. */
	ck_assert_int_eq(run_lim("AaB03xY", BODY(other), 0, NULL, &r),
	    ERR_MALFORMED);
	ck_assert_str_eq(r.why, "no boundary in the body");
	ck_assert_uint_eq(r.begins, 0);
	buf_free(&r.log);
	expect_error(BODY(other), ERR_MALFORMED,
	    "unexpected bytes after a boundary");
	expect_error(BODY(""), ERR_MALFORMED, "no boundary in the body");
	expect_error(BODY("--" B), ERR_MALFORMED,
	    "the body ends before the closing boundary");
	expect_error(BODY("--" B "-"), ERR_MALFORMED,
	    "the body ends before the closing boundary");
	expect_error(BODY("--" B "-x"), ERR_MALFORMED,
	    "unexpected bytes after a boundary");
}
END_TEST

START_TEST(extra_boundaries)
{
	/* An empty part between two boundaries has no Content-Disposition. */
	expect_error(BODY("--" B "\r\n\r\n--" B "\r\n"), ERR_MALFORMED,
	    "part without Content-Disposition");
	/* A boundary line right after another is a header line. */
	expect_error(BODY("--" B "\r\n--" B "\r\n"), ERR_MALFORMED,
	    "part header without a colon");
	/* Empty data between two delimiters is an empty value. */
	expect_log(BODY("--" B "\r\nContent-Disposition: form-data; name=a\r\n"
	    "\r\n\r\n--" B "\r\nContent-Disposition: form-data; name=a\r\n"
	    "\r\n\r\n--" B "--"), BODY("[a|NULL|NULL]$[a|NULL|NULL]$"));
}
END_TEST

START_TEST(close_delimiter_missing)
{
	struct rec	r;

	ck_assert_int_eq(run(BODY("--" B "\r\nContent-Disposition: form-data;"
	    " name=f\r\n\r\nall of it\r\n--" B "\r\n"), 0, &r), ERR_MALFORMED);
	ck_assert_str_eq(r.why, "the body ends before the closing boundary");
	ck_assert_uint_eq(r.begins, 1);
	ck_assert_uint_eq(r.ends, 1);
	buf_free(&r.log);
	ck_assert_int_eq(run(BODY("--" B "\r\nContent-Disposition: form-data;"
	    " name=f\r\n\r\ncut short\r\n--" B), 1, &r), ERR_MALFORMED);
	ck_assert_uint_eq(r.ends, 0);
	ck_assert_uint_eq(r.data, 9);
	buf_free(&r.log);
	expect_error(BODY("--" B "\r\nContent-Disposition: form-data; name=f"),
	    ERR_MALFORMED, "the body ends before the closing boundary");
}
END_TEST

/* ---- part headers ---- */

/* The log of a one-part body with header lines h and data "v". */
static void
expect_part(const char *h, const char *want)
{
	char	body[1024], log[512];
	int	n, k;

	n = snprintf(body, sizeof(body), "--" B "\r\n%s\r\n\r\nv\r\n--" B "--",
	    h);
	k = snprintf(log, sizeof(log), "%sv$", want);
	expect_log(body, (size_t)n, log, (size_t)k);
}

static void
expect_part_error(const char *h, int rc, const char *why)
{
	char	body[1024];
	int	n;

	n = snprintf(body, sizeof(body), "--" B "\r\n%s\r\n\r\nv\r\n--" B "--",
	    h);
	expect_error(body, (size_t)n, rc, why);
}

#define CD	"Content-Disposition: form-data; "

START_TEST(disposition_forms)
{
	expect_part(CD "name=\"a\\\"b\\\\c\"", "[a\"b\\c|NULL|NULL]");
	expect_part("content-disposition:FORM-DATA;NAME=tok.en ; x=\"y\"",
	    "[tok.en|NULL|NULL]");
	expect_part(CD "name=\"f\"; filename=\"a.pdf\"\r\nX-Other: ignored\r\n"
	    "Content-Type:  image/png ", "[f|a.pdf|image/png]");
	expect_part(CD "name=f\r\nContent-Transfer-Encoding: BINARY\r\n"
	    "Content-Transfer-Encoding-Other: x", "[f|NULL|NULL]");
	expect_part(CD "name=f; filename=\"\"\r\nContent-Type: "
	    "application/octet-stream", "[f||application/octet-stream]");
	expect_part(CD "name=\"\xe5\x90\x8d\xe5\x89\x8d\"",
	    "[\xe5\x90\x8d\xe5\x89\x8d|NULL|NULL]");
	expect_part(CD "name=f\r\nContent-Type:", "[f|NULL|NULL]");
}
END_TEST

START_TEST(disposition_refused)
{
	char	h[512], w[512];

	expect_part_error("Content-Type: text/plain", ERR_MALFORMED,
	    "part without Content-Disposition");
	expect_part_error("Content-Disposition: attachment; name=f",
	    ERR_MALFORMED, "Content-Disposition is not form-data");
	expect_part_error("Content-Disposition: form-data", ERR_MALFORMED,
	    "part without a field name");
	expect_part_error(CD "filename=a.pdf", ERR_MALFORMED,
	    "part without a field name");
	expect_part_error(CD "name=a; name=b", ERR_MALFORMED,
	    "repeated Content-Disposition parameter");
	expect_part_error(CD "name=a\r\n" CD "name=b", ERR_MALFORMED,
	    "repeated part header");
	expect_part_error(CD "name=\"a", ERR_MALFORMED,
	    "malformed Content-Disposition");
	expect_part_error(CD "name=a b", ERR_MALFORMED,
	    "malformed Content-Disposition");
	expect_part_error(CD "name=\"\"", ERR_MALFORMED, "empty field name");
	expect_part_error(CD "name=\"a\tb\"", ERR_MALFORMED,
	    "control character in a field name");
	expect_part_error(CD "name=\"a\xc2\x85" "b\"", ERR_MALFORMED,
	    "control character in a field name");
	expect_part_error(CD "name=\"a\xe9\"", ERR_MALFORMED,
	    "field name is not UTF-8");
	snprintf(h, sizeof(h), CD "name=%0129d", 0);
	expect_part_error(h, ERR_MALFORMED, "field name too long");
	snprintf(h, sizeof(h), CD "name=%0128d", 0);
	snprintf(w, sizeof(w), "[%0128d|NULL|NULL]", 0);
	expect_part(h, w);
}
END_TEST

START_TEST(header_lines_refused)
{
	expect_part_error(CD "name=f\r\n X-Folded: y", ERR_MALFORMED,
	    "folded part header line");
	expect_part_error(CD "name=f\r\nContent-Type : text/plain",
	    ERR_MALFORMED, "bad part header name");
	expect_part_error(CD "name=f\r\nno colon here", ERR_MALFORMED,
	    "part header without a colon");
	expect_part_error(CD "name=f\r\n: empty name", ERR_MALFORMED,
	    "bad part header name");
	expect_part_error(CD "name=f\r\nX-Nul: a\001b", ERR_MALFORMED,
	    "control character in a part header");
	expect_part_error(CD "name=f\r\nContent-Type: multipart/mixed; "
	    "boundary=inner", ERR_MALFORMED,
	    "nested multipart is not supported");
	expect_part_error(CD "name=f\r\nContent-Type: MULTIPART/alternative",
	    ERR_MALFORMED, "nested multipart is not supported");
	expect_part_error(CD "name=f\r\nContent-Transfer-Encoding: base64",
	    ERR_MALFORMED, "Content-Transfer-Encoding not supported");
	expect_part_error(CD "name=f\r\nContent-Transfer-Encoding: "
	    "quoted-printable", ERR_MALFORMED,
	    "Content-Transfer-Encoding not supported");
	expect_part_error(CD "name=f\r\nContent-Type: a\r\nContent-Type: b",
	    ERR_MALFORMED, "repeated part header");
}
END_TEST

START_TEST(header_cap)
{
	struct multipart_limits	 lim = { 0, 0 };
	struct rec		 r;
	char			 body[16384];
	int			 n;

	/* 8 KiB by default: every header byte of a part counts, CRLFs too. */
	n = snprintf(body, sizeof(body), "--" B "\r\n" CD "name=f\r\n"
	    "X-Pad: %8000s\r\n\r\nv\r\n--" B "--", "");
	expect_log(body, (size_t)n, BODY("[f|NULL|NULL]v$"));
	n = snprintf(body, sizeof(body), "--" B "\r\n" CD "name=f\r\n"
	    "X-Pad: %8200s\r\n\r\nv\r\n--" B "--", "");
	expect_error(body, (size_t)n, ERR_TOOBIG, "part headers too large");
	/* A lowered cap, met exactly and passed by one byte. */
	n = snprintf(body, sizeof(body), "--" B "\r\n" CD "name=f\r\nX: y\r\n"
	    "\r\nv\r\n--" B "--");
	lim.header_bytes = sizeof(CD "name=f\r\nX: y\r\n\r\n") - 1;
	ck_assert_int_eq(run_lim(B, body, (size_t)n, 1, &lim, &r), 0);
	buf_free(&r.log);
	lim.header_bytes--;
	ck_assert_int_eq(run_lim(B, body, (size_t)n, 0, &lim, &r), ERR_TOOBIG);
	buf_free(&r.log);
	/* A line that never ends is refused as soon as it passes the cap. */
	memset(body, 'x', sizeof(body));
	memcpy(body, "--" B "\r\n", 10);
	ck_assert_int_eq(run_lim(B, body, sizeof(body), 0, &lim, &r),
	    ERR_TOOBIG);
	ck_assert_str_eq(r.why, "part headers too large");
	buf_free(&r.log);
}
END_TEST

/* ---- many parts, big parts ---- */

static void
tiny_parts(struct buf *b, unsigned n)
{
	unsigned	i;

	buf_init(b, 0);
	for (i = 0; i < n; i++)
		ck_assert_int_eq(buf_printf(b, "--" B "\r\n" CD
		    "name=\"f%u\"\r\n\r\n%u\r\n", i, i), 0);
	ck_assert_int_eq(buf_puts(b, "--" B "--\r\n"), 0);
}

static double
now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

START_TEST(ten_thousand_parts)
{
	struct multipart_limits	 lim = { 0, 10000 };
	struct multipart	*m;
	struct buf		 b;
	struct rec		 r;
	double			 t;

	tiny_parts(&b, 10000);
	m = parser(B, &r, &lim);
	r.quiet = 1;
	r.heap = 1;
	r.heap_base = r.heap_max = mallinfo2().uordblks;
	t = now();
	ck_assert_int_eq(multipart_feed(m, b.data, b.len), 0);
	ck_assert_int_eq(done(m, &r, 0), 0);
	t = now() - t;
	ck_assert_uint_eq(r.begins, 10000);
	ck_assert_uint_eq(r.ends, 10000);
	/* Nothing is allocated per part (mallinfo2 reads 0 under ASan). */
	ck_assert_uint_le(r.heap_max - r.heap_base, 0);
	ck_assert_msg(t < 5.0, "10000 parts took %.2f s", t);
	lim.max_parts = 9999;
	ck_assert_int_eq(run_lim(B, b.data, b.len, 0, &lim, &r), ERR_TOOBIG);
	ck_assert_str_eq(r.why, "too many parts");
	ck_assert_uint_eq(r.begins, 9999);
	buf_free(&r.log);
	buf_free(&b);
}
END_TEST

START_TEST(default_max_parts)
{
	struct buf	b;
	struct rec	r;

	tiny_parts(&b, 64);
	ck_assert_int_eq(run(b.data, b.len, 0, &r), 0);
	buf_free(&r.log);
	buf_free(&b);
	tiny_parts(&b, 65);
	ck_assert_int_eq(run(b.data, b.len, 0, &r), ERR_TOOBIG);
	buf_free(&r.log);
	buf_free(&b);
}
END_TEST

START_TEST(empty_files)
{
	expect_part(CD "name=reports; filename=\"empty.pdf\"\r\nContent-Type: "
	    "application/pdf", "[reports|empty.pdf|application/pdf]");
	expect_log(BODY("--" B "\r\n" CD "name=r; filename=\"a.pdf\"\r\n\r\n"
	    "\r\n--" B "\r\n" CD "name=r; filename=\"b.pdf\"\r\n\r\n\r\n--"
	    B "--\r\n"), BODY("[r|a.pdf|NULL]$[r|b.pdf|NULL]$"));
}
END_TEST

#define BIG		(5 * 1024 * 1024)
#define BIG_B		"----WebKitFormBoundary7MA4YWxkTrZu0gW"

/*
 * A 5 MiB file whose data is full of near-delimiters: "\r\n--" and every
 * prefix of the boundary, each cut short, among random bytes.
 */
static char *
big_body(size_t *len, uint64_t *hash, size_t *dlen)
{
	static const char	head[] = "--" BIG_B "\r\n" CD "name=reports; "
	    "filename=\"big.pdf\"\r\n\r\n", tail[] = "\r\n--" BIG_B "--\r\n";
	char			*body, *d;
	size_t			 i = 0, k, blen = strlen(BIG_B);
	uint32_t		 x = 12345;

	body = malloc(sizeof(head) + BIG + sizeof(tail));
	ck_assert_ptr_nonnull(body);
	memcpy(body, head, sizeof(head) - 1);
	d = body + sizeof(head) - 1;
	while (i < BIG) {
		x = x * 1103515245 + 12345;
		if (x >> 28 == 0 && BIG - i > blen + 5) {
			k = (x >> 8) % blen;	/* a boundary prefix, cut */
			memcpy(d + i, "\r\n--", 4);
			memcpy(d + i + 4, BIG_B, k);
			d[i + 4 + k] = BIG_B[k] == 'x' ? 'y' : 'x';
			i += 5 + k;
		} else
			d[i++] = "\r\n-ab\0\xff"[(x >> 16) % 7];
	}
	memcpy(d + BIG, tail, sizeof(tail) - 1);
	*len = sizeof(head) - 1 + BIG + sizeof(tail) - 1;
	*hash = fnv(1469598103934665603ULL, d, BIG);
	*dlen = BIG;
	return body;
}

START_TEST(five_mib_file)
{
	static const size_t	 steps[] = { 1, 65536, 65535, 7 };
	struct rec		 r;
	char			*body;
	size_t			 len, dlen, i;
	uint64_t		 hash;

	body = big_body(&len, &hash, &dlen);
	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		struct multipart	*m = parser(BIG_B, &r, NULL);
		size_t			 off, k;
		int			 rc = 0;

		r.quiet = 1;
		for (off = 0; off < len && rc == 0; off += k) {
			k = len - off < steps[i] ? len - off : steps[i];
			rc = multipart_feed(m, body + off, k);
		}
		ck_assert_int_eq(done(m, &r, rc), 0);
		ck_assert_uint_eq(r.data, dlen);
		ck_assert(r.hash == hash);
		ck_assert_uint_eq(r.ends, 1);
	}
	free(body);
}
END_TEST

/* ---- filenames ---- */

static void
expect_clean(const char *raw, const char *want)
{
	char	out[MULTIPART_FILENAME_MAX + 1];

	ck_assert_int_eq(multipart_filename_clean(raw, out, sizeof(out)), 0);
	ck_assert_str_eq(out, want);
}

START_TEST(filename_paths_and_controls)
{
	expect_clean("scan.pdf", "scan.pdf");
	expect_clean("../../etc/passwd", "passwd");
	expect_clean("..\\..\\windows\\win.ini", "win.ini");
	expect_clean("/home/asha/reports/liver scan.pdf", "liver scan.pdf");
	expect_clean("C:\\Users\\Asha\\scan.pdf", "scan.pdf");
	expect_clean("reports/", "unnamed");
	expect_clean("..", "unnamed");
	expect_clean("", "unnamed");
	expect_clean(".htaccess", "htaccess");
	expect_clean(" . .. .bashrc  ", "bashrc");
	expect_clean("  scan.pdf \xc2\xa0\xe3\x80\x80", "scan.pdf");
	expect_clean("a\tb\r\nc\x7f" "d\x1b[31m.pdf", "abcd[31m.pdf");
	expect_clean("a\xc2\x85\xc2\x9f" "b.pdf", "ab.pdf");
	expect_clean("a. b .pdf", "a. b .pdf");
}
END_TEST

START_TEST(filename_unicode)
{
	/* U+202E would show "invoice\u202Efdp.exe" as "invoiceexe.pdf". */
	expect_clean("invoice\xe2\x80\xae" "fdp.exe", "invoicefdp.exe");
	expect_clean("\xe2\x80\x8bscan\xe2\x80\x8d.pdf\xef\xbb\xbf",
	    "scan.pdf");
	expect_clean("\xd8\x9c" "a\xe2\x81\xa0\xe2\x81\xa4\xe2\x81\xa6"
	    "b\xe2\x81\xa9\xe2\x80\xaa\xe2\x80\x8e.pdf", "ab.pdf");
	expect_clean("\xe2\x80\x8b.hidden", "hidden");
	/* Latin-1, overlong '/', a surrogate: each bad byte is U+FFFD. */
	expect_clean("r\xe9sum\xe9.pdf", "r\xef\xbf\xbdsum\xef\xbf\xbd.pdf");
	expect_clean("a\xc0\xaf" "b", "a\xef\xbf\xbd\xef\xbf\xbd" "b");
	expect_clean("\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
	expect_clean("\xe5\x8c\xbb\xe7\x99\x82.pdf", "\xe5\x8c\xbb\xe7\x99\x82"
	    ".pdf");
}
END_TEST

START_TEST(filename_length)
{
	char	raw[1024], out[MULTIPART_FILENAME_MAX + 1], small[10];
	size_t	i;

	memset(raw, 'a', 300);
	raw[300] = '\0';
	ck_assert_int_eq(multipart_filename_clean(raw, out, sizeof(out)), 0);
	ck_assert_uint_eq(strlen(out), 255);
	for (i = 0; i < 300; i++)
		memcpy(raw + 2 * i, "\xc3\xa9", 2);	/* é */
	raw[600] = '\0';
	ck_assert_int_eq(multipart_filename_clean(raw, out, sizeof(out)), 0);
	ck_assert_uint_eq(strlen(out), 254);	/* not 255: no half é */
	ck_assert(utf8_valid(out, strlen(out)));
	memcpy(raw, "x", 1);
	for (i = 0; i < 100; i++)
		memcpy(raw + 1 + 3 * i, "\xe2\x82\xac", 3);	/* € */
	raw[301] = '\0';
	ck_assert_int_eq(multipart_filename_clean(raw, out, sizeof(out)), 0);
	ck_assert_uint_eq(strlen(out), 253);
	/* Trailing space left by the cut is trimmed too. */
	memset(raw, 'a', 254);
	memcpy(raw + 254, " b", 3);
	ck_assert_int_eq(multipart_filename_clean(raw, out, sizeof(out)), 0);
	ck_assert_uint_eq(strlen(out), 254);
	ck_assert_int_eq(multipart_filename_clean("report.pdf", small,
	    sizeof(small)), 0);
	ck_assert_str_eq(small, "report.pd");
	ck_assert_int_eq(multipart_filename_clean("x", small, 7), ERR_INVAL);
	ck_assert_int_eq(multipart_filename_clean(NULL, small, 10), ERR_INVAL);
	ck_assert_int_eq(multipart_filename_clean("x", NULL, 10), ERR_INVAL);
}
END_TEST

START_TEST(filename_in_parts)
{
	expect_part(CD "name=r; filename=\"../../etc/passwd\"",
	    "[r|passwd|NULL]");
	/* Browsers send Windows paths with the backslashes unescaped. */
	expect_part(CD "name=r; filename=\"C:\\reports\\scan.pdf\"",
	    "[r|scan.pdf|NULL]");
	expect_part(CD "name=r; filename=\"a\\\"b.pdf\"", "[r|a\"b.pdf|NULL]");
	expect_part(CD "name=r; filename=plain.pdf", "[r|plain.pdf|NULL]");
	expect_part(CD "name=r; filename=\"\xe2\x80\xae" "fdp.exe\"",
	    "[r|fdp.exe|NULL]");
	expect_part(CD "name=r; filename=\"r\xe9sum\xe9.pdf\"",
	    "[r|r\xef\xbf\xbdsum\xef\xbf\xbd.pdf|NULL]");
	expect_part(CD "name=r; filename=\"...\"", "[r|unnamed|NULL]");
}
END_TEST

START_TEST(filename_ext)
{
	expect_part(CD "name=r; filename*=UTF-8''%E2%82%AC%20rates.pdf",
	    "[r|\xe2\x82\xac rates.pdf|NULL]");
	expect_part(CD "name=r; filename=\"fallback.pdf\"; filename*=utf-8'en'"
	    "real.pdf", "[r|real.pdf|NULL]");
	expect_part(CD "name=r; filename*=utf-8''real.pdf; filename=\"fall.pdf"
	    "\"", "[r|real.pdf|NULL]");
	expect_part(CD "name=r; filename*=UTF-8''a%00b%2e%2E%2fc.pdf",
	    "[r|c.pdf|NULL]");
	expect_part(CD "name=r; filename*=UTF-8''a%00b.pdf", "[r|ab.pdf|NULL]");
	expect_part(CD "name=r; filename*=UTF-8''%E2%80%AEfdp.exe",
	    "[r|fdp.exe|NULL]");
	expect_part(CD "name=r; filename*=UTF-8''", "[r||NULL]");
	expect_part_error(CD "name=r; filename*=ISO-8859-1''%E9.pdf",
	    ERR_MALFORMED, "filename* is not UTF-8");
	expect_part_error(CD "name=r; filename*=UTF-8''%E9.pdf",
	    ERR_MALFORMED, "filename* is not UTF-8");
	expect_part_error(CD "name=r; filename*=UTF-8''%E2%82",
	    ERR_MALFORMED, "filename* is not UTF-8");
	expect_part_error(CD "name=r; filename*=UTF-8''%G1.pdf",
	    ERR_MALFORMED, "bad percent-encoding in filename*");
	expect_part_error(CD "name=r; filename*=UTF-8''a.pdf%4",
	    ERR_MALFORMED, "bad percent-encoding in filename*");
	expect_part_error(CD "name=r; filename*=UTF-8''a%", ERR_MALFORMED,
	    "bad percent-encoding in filename*");
	expect_part_error(CD "name=r; filename*=UTF-8'a.pdf", ERR_MALFORMED,
	    "malformed filename*");
	expect_part_error(CD "name=r; filename*=UTF-8''it's.pdf",
	    ERR_MALFORMED, "malformed filename*");
	expect_part_error(CD "name=r; filename*=a.pdf", ERR_MALFORMED,
	    "malformed filename*");
	expect_part_error(CD "name=r; filename*=\"UTF-8''a.pdf\"",
	    ERR_MALFORMED, "filename* must not be quoted");
	expect_part_error(CD "name=r; filename*=UTF-8''a; filename*=UTF-8''b",
	    ERR_MALFORMED, "repeated Content-Disposition parameter");
}
END_TEST

/* ---- callbacks and errors ---- */

START_TEST(callback_stops)
{
	struct multipart	*m;
	struct rec		 r;

	m = parser(B, &r, NULL);
	r.stop_data = ERR_TOOBIG;	/* the caller's per-file cap */
	ck_assert_int_eq(multipart_feed(m, BODY(form_body)), ERR_TOOBIG);
	ck_assert_str_eq(multipart_error(m), "stopped by the receiver");
	ck_assert_uint_eq(r.begins, 1);
	r.stop_data = 0;
	ck_assert_int_eq(multipart_feed(m, BODY(form_body)), ERR_TOOBIG);
	ck_assert_int_eq(multipart_finish(m), ERR_TOOBIG);
	ck_assert_uint_eq(r.begins, 1);
	multipart_free(m);
	buf_free(&r.log);

	m = parser(B, &r, NULL);
	r.stop_begin = 7;
	ck_assert_int_eq(multipart_feed(m, BODY(form_body)), 7);
	ck_assert_int_eq(multipart_feed(m, "x", 1), 7);
	ck_assert_uint_eq(r.data, 0);
	multipart_free(m);
	buf_free(&r.log);
}
END_TEST

START_TEST(errors_stick)
{
	static const char	bad[] = "--" B "\r\nContent-Disposition: "
	    "form-data; name=\"secret-value\r\n\r\nv\r\n--" B "--\r\n";
	struct multipart	*m;
	struct rec		 r;

	m = parser(B, &r, NULL);
	ck_assert_str_eq(multipart_error(m), "no error");
	ck_assert_int_eq(multipart_feed(m, BODY(bad)), ERR_MALFORMED);
	ck_assert_str_eq(multipart_error(m), "malformed Content-Disposition");
	ck_assert_int_eq(multipart_feed(m, BODY(form_body)), ERR_MALFORMED);
	ck_assert_int_eq(multipart_finish(m), ERR_MALFORMED);
	ck_assert_ptr_null(strstr(multipart_error(m), "secret"));
	ck_assert_uint_eq(r.begins, 0);
	multipart_free(m);
	buf_free(&r.log);

	m = parser(B, &r, NULL);
	ck_assert_int_eq(multipart_feed(m, BODY("--" B "--")), 0);
	ck_assert_int_eq(multipart_finish(m), 0);
	ck_assert_int_eq(multipart_finish(m), 0);
	ck_assert_int_eq(multipart_feed(m, "x", 1), ERR_INVAL);
	ck_assert_int_eq(multipart_feed(m, "x", 1), ERR_INVAL);
	ck_assert_int_eq(multipart_feed(m, NULL, 0), ERR_INVAL);
	multipart_free(m);
	buf_free(&r.log);
}
END_TEST

START_TEST(null_callbacks)
{
	static const struct multipart_cb	none = { NULL, NULL, NULL };
	struct multipart			*m;

	ck_assert_int_eq(multipart_new(B, NULL, &none, NULL, &m), 0);
	ck_assert_int_eq(multipart_feed(m, BODY(form_body)), 0);
	ck_assert_int_eq(multipart_finish(m), 0);
	multipart_free(m);
}
END_TEST

Suite *
multipart_suite(void)
{
	Suite	*s = suite_create("multipart");
	TCase	*tc = tcase_create("multipart");

	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, boundary_forms);
	tcase_add_test(tc, boundary_refused);
	tcase_add_test(tc, new_checks_arguments);
	tcase_add_test(tc, whole_and_byte_by_byte);
	tcase_add_test(tc, crlf_edges);
	tcase_add_test(tc, boundary_in_data);
	tcase_add_test(tc, lf_only_refused);
	tcase_add_test(tc, preamble_epilogue_padding);
	tcase_add_test(tc, wrong_or_missing_boundary);
	tcase_add_test(tc, extra_boundaries);
	tcase_add_test(tc, close_delimiter_missing);
	tcase_add_test(tc, disposition_forms);
	tcase_add_test(tc, disposition_refused);
	tcase_add_test(tc, header_lines_refused);
	tcase_add_test(tc, header_cap);
	tcase_add_test(tc, default_max_parts);
	tcase_add_test(tc, empty_files);
	tcase_add_test(tc, filename_paths_and_controls);
	tcase_add_test(tc, filename_unicode);
	tcase_add_test(tc, filename_length);
	tcase_add_test(tc, filename_in_parts);
	tcase_add_test(tc, filename_ext);
	tcase_add_test(tc, callback_stops);
	tcase_add_test(tc, errors_stick);
	tcase_add_test(tc, null_callbacks);
	suite_add_tcase(s, tc);
	tc = tcase_create("volume");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, split_at_every_position);
	tcase_add_test(tc, ten_thousand_parts);
	tcase_add_test(tc, five_mib_file);
	suite_add_tcase(s, tc);
	return s;
}
