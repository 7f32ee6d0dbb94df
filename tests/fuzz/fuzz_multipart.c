/*
 * libFuzzer target for the multipart/form-data parser. The input's first
 * line (up to '\n', at most LINE_MAX bytes) is a Content-Type value for
 * multipart_boundary; when that refuses it, the boundary is FIXED and the
 * whole input is the body. The body is fed in pieces whose sizes come
 * from a generator seeded with the input's hash, or are all N bytes when
 * the Content-Type says "; fuzz-split=N". The hash also picks small caps
 * (so they are reached) and whether the receiver stops the parser.
 * Invariants, checked for every input, abort when broken:
 * - the data handed out never exceeds what was fed, and no piece, nor the
 *   end of one with the start of the next, holds the delimiter;
 * - begin, data and end come in order, at most max_parts parts, names are
 *   1 to 128 bytes of UTF-8 without controls, a filename is NULL, "" or
 *   what multipart_filename_clean promises;
 * - every result is 0 or a negative ERR_* code (or the receiver's own);
 *   after one, feed and finish return it again and call nothing;
 *   multipart_finish succeeds only once every part has ended;
 * - multipart_filename_clean on the input as a string, and filetype_sniff
 *   on each file's first bytes, keep their contracts.
 * Build: as tests/fuzz/run.sh does (all of daemon/ but the two mains).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filetype.h"
#include "multipart.h"
#include "utf8.h"

#define LINE_MAX	256
#define FIXED		"fuzz-b0undary"
#define STOP_CODE	(-1000)	/* the receiver's, never the parser's */

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

struct fz {
	char		 delim[4 + MULTIPART_BOUNDARY_MAX];
	size_t		 dlen;
	char		 tail[4 + MULTIPART_BOUNDARY_MAX];
	size_t		 tlen;
	unsigned	 max_parts, begins, ends;
	int		 in_part, after_error;
	size_t		 fed, data;
	size_t		 stop_after;	/* data bytes; 0: never stop */
	unsigned char	 head[FILETYPE_SNIFF_BYTES];
	size_t		 hlen;
};

static _Noreturn void
die(const char *why)
{
	fprintf(stderr, "fuzz_multipart: %s\n", why);
	abort();
}

/*
 * The characters multipart_filename_clean drops, by their UTF-8 bytes: a
 * prefix, then a range for the byte after it. Spelt as bytes, not code
 * points, so this oracle shares nothing with the code it checks.
 */
static const struct {
	const char	*prefix;
	unsigned char	 lo, hi;
} dropped[] = {
	{ "", 0x00, 0x1f },		/* C0 */
	{ "", 0x7f, 0x7f },		/* DEL */
	{ "\xc2", 0x80, 0x9f },		/* C1 */
	{ "\xd8", 0x9c, 0x9c },		/* U+061C */
	{ "\xe2\x80", 0x8b, 0x8f },	/* U+200B-U+200F */
	{ "\xe2\x80", 0xaa, 0xae },	/* U+202A-U+202E */
	{ "\xe2\x81", 0xa0, 0xa4 },	/* U+2060-U+2064 */
	{ "\xe2\x81", 0xa6, 0xa9 },	/* U+2066-U+2069 */
	{ "\xef\xbb", 0xbf, 0xbf },	/* U+FEFF */
};

/* 1 if s (well-formed UTF-8, so that a lead byte is never taken for a
   continuation) holds a character to drop; only controls if
   controls_only. */
static int
has_dropped(const char *s, int controls_only)
{
	const unsigned char	*p;
	size_t			 i, k, n = controls_only ? 3 : sizeof(dropped) /
				    sizeof(dropped[0]);

	for (p = (const unsigned char *)s; *p; p++)
		for (i = 0; i < n; i++) {
			k = strlen(dropped[i].prefix);
			if (strncmp((const char *)p, dropped[i].prefix, k) == 0 &&
			    p[k] >= dropped[i].lo && p[k] <= dropped[i].hi)
				return 1;
		}
	return 0;
}

/* What multipart_filename_clean promises of every name it gives. */
static void
check_clean(const char *s)
{
	size_t	len = strlen(s);

	if (len == 0 || len > MULTIPART_FILENAME_MAX || s[0] == '.' ||
	    s[0] == ' ' || s[len - 1] == ' ' || strpbrk(s, "/\\") != NULL ||
	    !utf8_valid(s, len) || has_dropped(s, 0))
		die("a cleaned filename breaks its contract");
}

static void
check_name(const char *s)
{
	size_t	len = strlen(s);

	if (len == 0 || len > MULTIPART_NAME_MAX || !utf8_valid(s, len) ||
	    has_dropped(s, 1))
		die("a field name breaks its contract");
}

static int
on_begin(const struct multipart_part *p, void *arg)
{
	struct fz	*f = arg;

	if (f->in_part || f->after_error || ++f->begins > f->max_parts)
		die("part_begin out of order");
	check_name(p->name);
	if (p->filename != NULL && p->filename[0] != '\0')
		check_clean(p->filename);
	f->in_part = 1;
	memcpy(f->tail, "\r\n", 2);	/* the data may not open with "--" */
	f->tlen = 2;
	f->hlen = 0;
	return 0;
}

/* Keeps the last dlen - 1 bytes of the part's data in f->tail. */
static void
check_delim(struct fz *f, const char *p, size_t n)
{
	char	join[2 * sizeof(f->tail)];
	size_t	k = n < f->dlen - 1 ? n : f->dlen - 1, keep;

	memcpy(join, f->tail, f->tlen);
	memcpy(join + f->tlen, p, k);
	if (memmem(join, f->tlen + k, f->delim, f->dlen) != NULL ||
	    memmem(p, n, f->delim, f->dlen) != NULL)
		die("a delimiter in part data");
	keep = f->tlen + k > f->dlen - 1 ? f->dlen - 1 - k : f->tlen;
	memmove(f->tail, f->tail + f->tlen - keep, keep);
	memcpy(f->tail + keep, p + n - k, k);
	f->tlen = keep + k;
}

static int
on_data(const void *p, size_t n, void *arg)
{
	struct fz	*f = arg;
	size_t		 k;

	if (!f->in_part || f->after_error || n == 0)
		die("part_data out of order");
	check_delim(f, p, n);
	f->data += n;
	if (f->data > f->fed)
		die("more data handed out than fed");
	k = sizeof(f->head) - f->hlen < n ? sizeof(f->head) - f->hlen : n;
	memcpy(f->head + f->hlen, p, k);
	f->hlen += k;
	return f->stop_after && f->data >= f->stop_after ? STOP_CODE : 0;
}

static int
on_end(const struct multipart_part *p, void *arg)
{
	struct fz	*f = arg;
	enum filetype	 t;

	if (!f->in_part || f->after_error)
		die("part_end out of order");
	f->in_part = 0;
	f->ends++;
	if (p->filename != NULL) {
		t = filetype_sniff(f->head, f->hlen);
		if (t > FILETYPE_DICOM || filetype_mime(t) == NULL)
			die("filetype_sniff out of range");
	}
	return 0;
}

static const struct multipart_cb	cbs = { on_begin, on_data, on_end };

static uint64_t
hash(const uint8_t *p, size_t n)
{
	uint64_t	h = 1469598103934665603ULL;
	size_t		i;

	for (i = 0; i < n; i++)
		h = (h ^ p[i]) * 1099511628211ULL;
	return h;
}

/* The next piece size: mostly around the delimiter's length, where a cut
   falls inside it, sometimes one byte, sometimes large. */
static size_t
piece(uint64_t *x, size_t split, size_t dlen)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	if (split)
		return split;
	switch (*x & 3) {
	case 0:
		return 1;
	case 3:
		return 1 + (*x >> 8) % 4096;
	default:
		return 1 + (*x >> 8) % (dlen + 2);
	}
}

/* Splits the input into the boundary and the body; returns the fixed
   piece size asked for, or 0. */
static size_t
setup(const uint8_t **data, size_t *size, char *boundary)
{
	char		 line[LINE_MAX + 1];
	const uint8_t	*nl;
	const char	*s;
	size_t		 n;

	nl = memchr(*data, '\n', *size < LINE_MAX ? *size : LINE_MAX);
	n = nl ? (size_t)(nl - *data) : 0;
	memcpy(line, *data, n);
	line[n] = '\0';
	if (nl == NULL || multipart_boundary(line, boundary,
	    MULTIPART_BOUNDARY_MAX + 1) != 0) {
		strcpy(boundary, FIXED);
		return 0;
	}
	*data += n + 1;
	*size -= n + 1;
	s = strstr(line, "; fuzz-split=");
	return s ? strtoul(s + 13, NULL, 10) % 100000 : 0;
}

/* Feeds the body; returns the first non-zero result, checking that
   results stick. */
static int
feed_all(struct multipart *m, struct fz *f, const uint8_t *body, size_t n,
    uint64_t x, size_t split)
{
	size_t	off, k;
	int	r = 0;

	for (off = 0; off < n && r == 0; off += k) {
		k = piece(&x, split, f->dlen);
		k = k < n - off ? k : n - off;
		f->fed += k;
		r = multipart_feed(m, body + off, k);
	}
	if (r == 0)
		r = multipart_finish(m);
	if (r == 0)
		return 0;
	if ((r < ERR_MIN || r > 0) && r != STOP_CODE)
		die("a result outside the ERR_* codes");
	f->after_error = 1;
	if (multipart_feed(m, body, n) != r || multipart_finish(m) != r)
		die("an error did not stick");
	if (multipart_error(m) == NULL || multipart_error(m)[0] == '\0')
		die("an error without a reason");
	return r;
}

static void
fuzz_clean(const uint8_t *data, size_t size)
{
	char	raw[1024], out[MULTIPART_FILENAME_MAX + 1], small[9];

	size = size < sizeof(raw) - 1 ? size : sizeof(raw) - 1;
	memcpy(raw, data, size);
	raw[size] = '\0';
	if (multipart_filename_clean(raw, out, sizeof(out)) != 0 ||
	    multipart_filename_clean(raw, small, sizeof(small)) != 0)
		die("multipart_filename_clean failed");
	check_clean(out);
	check_clean(small);
	if (strlen(small) > 8)
		die("multipart_filename_clean overflowed");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct multipart_limits	 small = { 256, 8 }, *lim = NULL;
	struct multipart	*m;
	struct fz		 f;
	char			 b[MULTIPART_BOUNDARY_MAX + 1];
	uint64_t		 h = hash(data, size);
	size_t			 split;
	int			 r;

	fuzz_clean(data, size);
	memset(&f, 0, sizeof(f));
	split = setup(&data, &size, b);
	f.dlen = (size_t)snprintf(f.delim, sizeof(f.delim), "\r\n--%s", b);
	f.max_parts = 64;
	if ((h >> 60) == 0) {
		lim = &small;
		f.max_parts = small.max_parts;
	}
	if ((h >> 56 & 0xf) == 0)
		f.stop_after = 1 + (h >> 32) % 256;
	if (multipart_new(b, lim, &cbs, &f, &m) != 0)
		die("multipart_new refused a boundary multipart_boundary gave");
	r = feed_all(m, &f, data, size, h | 1, split);
	if (r == 0 && (f.in_part || f.begins != f.ends))
		die("finished with a part open");
	multipart_free(m);
	return 0;
}
