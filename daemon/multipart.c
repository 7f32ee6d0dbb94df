/*
 * multipart/form-data as a stream. The rules, and the choices made where
 * the RFCs leave room, are in multipart.h; this file says how.
 *
 * The delimiter is searched byte by byte with a count of how much of it
 * has matched. Bytes that might start a delimiter are held back, but never
 * copied: they equal the delimiter's own prefix, so when they turn out to
 * be data they are handed out from m->delim. Since a boundary holds no CR,
 * the only CR in the delimiter is its first byte: on a mismatch no later
 * suffix of the held-back bytes can start a delimiter, and the byte that
 * failed is simply looked at again. Each byte is thus seen at most twice.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "multipart.h"
#include "utf8.h"

#define DFL_HEADER_BYTES	(8 * 1024)
#define DFL_MAX_PARTS		64
#define HEADER_BYTES_MAX	(1024 * 1024)
#define DELIM_MAX		(4 + MULTIPART_BOUNDARY_MAX)

enum state {
	S_PREAMBLE,	/* looking for the first delimiter */
	S_AFTER,	/* a delimiter matched: "--", padding or CRLF next */
	S_DASH,		/* the first '-' of a close delimiter */
	S_PADDING,	/* transport padding after a delimiter */
	S_LF,		/* the CR that ends a boundary line */
	S_HEADERS,
	S_DATA,
	S_EPILOGUE,
	S_FINISHED,
};

struct multipart {
	const struct multipart_cb	*cb;
	void				*arg;
	size_t				 header_max;
	unsigned			 max_parts;
	unsigned			 nparts;
	enum state			 state;
	int				 err;	/* sticky once non-zero */
	const char			*why;
	int				 in_part; /* begun, not yet ended */
	char				 delim[DELIM_MAX]; /* CRLF "--" b */
	size_t				 dlen;
	size_t				 matched; /* of delim, held back */
	size_t				 virt;	/* leading matched bytes that
						   were never data: the CRLF
						   before the body, or the
						   one ending the headers */
	size_t				 count;	/* preamble, padding or
						   epilogue bytes */
	char				*hdr;	/* this part's header lines */
	size_t				 hlen;
	size_t				 line;	/* where the open line starts */
	unsigned			 seen;	/* bit i: known[i] read */
	struct multipart_part		 part;
	char				 name[MULTIPART_NAME_MAX + 1];
	char				 filename[MULTIPART_FILENAME_MAX + 1];
};

/* One parameter of a header value, as spans of the value: val includes
   the quotes of a quoted-string. */
struct param {
	const char	*name;
	size_t		 nlen;
	const char	*val;
	size_t		 vlen;
	int		 quoted;
};

static const char	replacement[] = "\xef\xbf\xbd";	/* U+FFFD */

/* ---- characters ---- */

/* 1 if c is an ASCII letter or digit, or one of extra. */
static int
alnum_or(unsigned char c, const char *extra)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || (c != '\0' && strchr(extra, c) != NULL);
}

/* RFC 9110 tchar. */
static int
is_tchar(unsigned char c)
{
	return alnum_or(c, "!#$%&'*+-.^_`|~");
}

/* RFC 2046 bchars. */
static int
is_bchar(unsigned char c)
{
	return alnum_or(c, "'()+_,-./:=? ");
}

/* RFC 5987 attr-char: a tchar but '*', '\'' and '%'. */
static int
is_attr_char(unsigned char c)
{
	return is_tchar(c) && c != '*' && c != '\'' && c != '%';
}

/* A control character other than HTAB, as header values may not hold. */
static int
is_ctl(unsigned char c)
{
	return (c < 0x20 && c != '\t') || c == 0x7f;
}

static int
hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* 1 if s[0..len) is word, ignoring ASCII case. */
static int
ieq(const char *s, size_t len, const char *word)
{
	return strlen(word) == len && strncasecmp(s, word, len) == 0;
}

static size_t
skip_ows(const char *s, size_t len, size_t i)
{
	while (i < len && (s[i] == ' ' || s[i] == '\t'))
		i++;
	return i;
}

static size_t
skip_token(const char *s, size_t len, size_t i)
{
	while (i < len && is_tchar((unsigned char)s[i]))
		i++;
	return i;
}

static int
valid_boundary(const char *b, size_t len)
{
	size_t	i;

	if (len == 0 || len > MULTIPART_BOUNDARY_MAX || b[len - 1] == ' ')
		return 0;
	for (i = 0; i < len; i++)
		if (!is_bchar((unsigned char)b[i]))
			return 0;
	return 1;
}

/* ---- parameters (Content-Type, Content-Disposition) ---- */

/* Finds the end of the quoted-string opening at s[i]: returns the index
   past its closing quote, or 0 if it is unterminated or holds a control
   character. */
static size_t
skip_quoted(const char *s, size_t len, size_t i)
{
	for (i++; i < len; i++) {
		if (s[i] == '"')
			return i + 1;
		if (is_ctl((unsigned char)s[i]))
			return 0;
		if (s[i] == '\\' && i + 1 < len && (s[i + 1] == '"' ||
		    s[i + 1] == '\\'))
			i++;
	}
	return 0;
}

/*
 * Reads the parameter at s[*pos..len): OWS ";" OWS token OWS "=" OWS
 * (token / quoted-string). Returns 1 with *p set and *pos moved past it,
 * 0 at the end of the value (a trailing ';' allowed), ERR_MALFORMED.
 */
static int
param_next(const char *s, size_t len, size_t *pos, struct param *p)
{
	size_t	i = skip_ows(s, len, *pos), end;

	if (i == len)
		return 0;
	if (s[i] != ';')
		return ERR_MALFORMED;
	if ((i = skip_ows(s, len, i + 1)) == len)
		return 0;
	p->name = s + i;
	i = skip_token(s, len, i);
	if ((p->nlen = (size_t)(s + i - p->name)) == 0)
		return ERR_MALFORMED;
	i = skip_ows(s, len, i);
	if (i == len || s[i] != '=')
		return ERR_MALFORMED;
	i = skip_ows(s, len, i + 1);
	p->quoted = i < len && s[i] == '"';
	end = p->quoted ? skip_quoted(s, len, i) : skip_token(s, len, i);
	if (end == 0 || end == i)
		return ERR_MALFORMED;
	p->val = s + i;
	p->vlen = end - i;
	*pos = end;
	return 1;
}

/*
 * Writes p's value without quotes and escapes to dst (cap bytes, no NUL
 * added) and its length to *len. dst may be p->val itself: it never writes
 * ahead of what it has read. Returns 0, or -1 if it does not fit.
 */
static int
unquote(const struct param *p, char *dst, size_t cap, size_t *len)
{
	const char	*s = p->val, *end = p->val + p->vlen;
	size_t		 o = 0;

	if (p->quoted) {
		s++;
		end--;
	}
	for (; s < end; s++) {
		if (o == cap)
			return -1;
		if (p->quoted && *s == '\\' && s + 1 < end && (s[1] == '"' ||
		    s[1] == '\\'))
			s++;
		dst[o++] = *s;
	}
	*len = o;
	return 0;
}

/* Reads "type/subtype" at s[*pos..len); 1 if it is multipart/form-data. */
static int
is_form_data(const char *s, size_t len, size_t *pos)
{
	size_t	i = skip_ows(s, len, 0), t, u;

	t = skip_token(s, len, i);
	if (!ieq(s + i, t - i, "multipart") || t == len || s[t] != '/')
		return 0;
	u = skip_token(s, len, t + 1);
	*pos = u;
	return ieq(s + t + 1, u - t - 1, "form-data");
}

int
multipart_boundary(const char *ct, char *out, size_t outlen)
{
	struct param	p;
	char		b[MULTIPART_BOUNDARY_MAX];
	size_t		len, pos, blen = 0;
	int		r, found = 0;

	if (ct == NULL || out == NULL)
		return ERR_INVAL;
	len = strlen(ct);
	if (!is_form_data(ct, len, &pos))
		return ERR_MALFORMED;
	while ((r = param_next(ct, len, &pos, &p)) == 1) {
		if (!ieq(p.name, p.nlen, "boundary"))
			continue;
		if (found || unquote(&p, b, sizeof(b), &blen) != 0)
			return ERR_MALFORMED;
		found = 1;
	}
	if (r != 0 || !found || !valid_boundary(b, blen))
		return ERR_MALFORMED;
	if (blen >= outlen)
		return ERR_INVAL;
	memcpy(out, b, blen);
	out[blen] = '\0';
	return 0;
}

/* ---- filenames ---- */

/* Unicode White_Space (the controls among it are dropped before). */
static int
is_space(uint32_t cp)
{
	return cp == ' ' || cp == 0xa0 || cp == 0x1680 ||
	    (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 || cp == 0x2029 ||
	    cp == 0x202f || cp == 0x205f || cp == 0x3000;
}

/* The cleaning multipart_filename_clean documents, of raw[0..len) (any
   bytes, NUL included); outlen >= sizeof("unnamed"). */
static void
clean_name(const char *raw, size_t len, char *out, size_t outlen)
{
	const unsigned char	*p, *end = (const unsigned char *)raw + len;
	const char		*src;
	size_t			 max, o = 0, keep = 0, step, w, i;
	uint32_t		 cp;

	max = outlen - 1 < MULTIPART_FILENAME_MAX ? outlen - 1 :
	    MULTIPART_FILENAME_MAX;
	for (i = len; i > 0 && raw[i - 1] != '/' && raw[i - 1] != '\\'; i--)
		continue;
	for (p = (const unsigned char *)raw + i; p < end; p += step) {
		src = (const char *)p;
		step = w = utf8_decode(p, (size_t)(end - p), &cp);
		if (step == 0) {
			src = replacement;
			w = sizeof(replacement) - 1;
			step = 1;
			cp = 0xfffd;
		}
		if (utf8_hidden(cp) || (o == 0 && (cp == '.' || is_space(cp))))
			continue;
		if (w > max - o)
			break;
		memcpy(out + o, src, w);
		o += w;
		if (!is_space(cp))
			keep = o;
	}
	if (keep == 0) {
		memcpy(out, "unnamed", 8);
		return;
	}
	out[keep] = '\0';
}

int
multipart_filename_clean(const char *raw, char *out, size_t outlen)
{
	if (raw == NULL || out == NULL || outlen < sizeof("unnamed"))
		return ERR_INVAL;
	clean_name(raw, strlen(raw), out, outlen);
	return 0;
}

/* ---- errors and callbacks ---- */

static int
fail(struct multipart *m, int err, const char *why)
{
	m->err = err;
	m->why = why;
	return err;
}

/* A callback's non-zero return stops the parser for good. */
static int
stopped(struct multipart *m, int r)
{
	return r ? fail(m, r, "stopped by the receiver") : 0;
}

static int
end_part(struct multipart *m)
{
	if (!m->in_part)
		return 0;
	m->in_part = 0;
	if (m->cb->part_end == NULL)
		return 0;
	return stopped(m, m->cb->part_end(&m->part, m->arg));
}

/* Hands out part data, or counts preamble bytes. */
static int
pass(struct multipart *m, const void *p, size_t n)
{
	if (n == 0)
		return 0;
	if (m->state == S_PREAMBLE) {
		m->count += n;
		if (m->count > MULTIPART_PREAMBLE_MAX)
			return fail(m, ERR_MALFORMED,
			    "no boundary at the start of the body");
		return 0;
	}
	if (m->cb->part_data == NULL)
		return 0;
	return stopped(m, m->cb->part_data(p, n, m->arg));
}

/* ---- framing ---- */

/*
 * Looks for the delimiter in s[0..n), passing on the bytes before it.
 * Sets *used to the bytes consumed: all n, or those up to the end of a
 * delimiter (the state is then S_AFTER).
 */
static int
scan(struct multipart *m, const unsigned char *s, size_t n, size_t *used)
{
	const unsigned char	*cr;
	size_t			 i = 0, k;
	int			 r = 0;

	while (i < n && r == 0) {
		if (m->matched == 0) {
			cr = memchr(s + i, '\r', n - i);
			k = cr ? (size_t)(cr - s) - i : n - i;
			r = pass(m, s + i, k);
			i += k + (cr != NULL);
			m->matched = cr != NULL;
		} else if (s[i] == (unsigned char)m->delim[m->matched]) {
			i++;
			if (++m->matched < m->dlen)
				continue;
			m->matched = m->virt = 0;
			m->state = S_AFTER;
			break;
		} else {
			/* What was held back is data; s[i] is read again. */
			k = m->matched;
			m->matched = 0;
			r = pass(m, m->delim + m->virt, k - m->virt);
			m->virt = 0;
		}
	}
	*used = i;
	return r;
}

static int
start_headers(struct multipart *m)
{
	if (m->nparts == m->max_parts)
		return fail(m, ERR_TOOBIG, "too many parts");
	m->nparts++;
	m->hlen = m->line = 0;
	m->seen = 0;
	m->part.name = m->part.filename = m->part.content_type = NULL;
	m->state = S_HEADERS;
	return 0;
}

/* One byte of what follows a delimiter, up to the CRLF that ends it. */
static int
boundary_tail(struct multipart *m, unsigned char c)
{
	int	r;

	switch (m->state) {
	case S_AFTER:
		if (c == '-') {
			m->state = S_DASH;
			return 0;
		}
		m->count = 0;
		m->state = S_PADDING;
		/* FALLTHROUGH */
	case S_PADDING:
		if (c == '\r') {
			m->state = S_LF;
			return 0;
		}
		if (c == '\n')
			return fail(m, ERR_MALFORMED,
			    "a boundary line does not end in CRLF");
		if (c != ' ' && c != '\t')
			return fail(m, ERR_MALFORMED,
			    "unexpected bytes after a boundary");
		if (++m->count > MULTIPART_PADDING_MAX)
			return fail(m, ERR_MALFORMED,
			    "too much padding after a boundary");
		return 0;
	case S_DASH:
		if (c != '-')
			return fail(m, ERR_MALFORMED,
			    "unexpected bytes after a boundary");
		m->count = 0;
		m->state = S_EPILOGUE;
		return end_part(m);
	default:	/* S_LF */
		if (c != '\n')
			return fail(m, ERR_MALFORMED,
			    "a boundary line does not end in CRLF");
		if ((r = end_part(m)) != 0)
			return r;
		return start_headers(m);
	}
}

static int
epilogue(struct multipart *m, size_t n)
{
	m->count += n;
	if (m->count > MULTIPART_EPILOGUE_MAX)
		return fail(m, ERR_TOOBIG,
		    "too many bytes after the closing boundary");
	return 0;
}

/* ---- part headers ---- */

static int
set_name(struct multipart *m, const struct param *p)
{
	const unsigned char	*s = (const unsigned char *)m->name;
	size_t			 len, i;

	if (unquote(p, m->name, MULTIPART_NAME_MAX, &len) != 0)
		return fail(m, ERR_MALFORMED, "field name too long");
	m->name[len] = '\0';
	if (len == 0)
		return fail(m, ERR_MALFORMED, "empty field name");
	if (!utf8_valid(m->name, len))
		return fail(m, ERR_MALFORMED, "field name is not UTF-8");
	for (i = 0; i < len; i++)
		if (s[i] < 0x20 || s[i] == 0x7f || (s[i] == 0xc2 &&
		    s[i + 1] <= 0x9f))
			return fail(m, ERR_MALFORMED,
			    "control character in a field name");
	m->part.name = m->name;
	return 0;
}

/* Sets the part's filename from raw[0..len), decoded. */
static void
set_filename(struct multipart *m, const char *raw, size_t len)
{
	if (len == 0)
		m->filename[0] = '\0';
	else
		clean_name(raw, len, m->filename, sizeof(m->filename));
	m->part.filename = m->filename;
}

/*
 * filename* (RFC 5987): charset "'" [language] "'" value-chars, decoded in
 * place (the value lives in m->hdr).
 */
static int
set_filename_ext(struct multipart *m, const struct param *p)
{
	char		*s = (char *)p->val, *end = s + p->vlen, *q, *v;
	size_t		 o = 0;
	int		 hi, lo;

	if (p->quoted)
		return fail(m, ERR_MALFORMED, "filename* must not be quoted");
	if ((q = memchr(s, '\'', p->vlen)) == NULL ||
	    (v = memchr(q + 1, '\'', (size_t)(end - q - 1))) == NULL)
		return fail(m, ERR_MALFORMED, "malformed filename*");
	if (!ieq(s, (size_t)(q - s), "utf-8"))
		return fail(m, ERR_MALFORMED, "filename* is not UTF-8");
	for (v++; v < end; v++) {
		if (*v != '%') {
			if (!is_attr_char((unsigned char)*v))
				return fail(m, ERR_MALFORMED,
				    "malformed filename*");
			s[o++] = *v;
			continue;
		}
		if (end - v < 3 || (hi = hexval((unsigned char)v[1])) < 0 ||
		    (lo = hexval((unsigned char)v[2])) < 0)
			return fail(m, ERR_MALFORMED,
			    "bad percent-encoding in filename*");
		s[o++] = (char)(hi << 4 | lo);
		v += 2;
	}
	if (!utf8_valid(s, o))
		return fail(m, ERR_MALFORMED, "filename* is not UTF-8");
	set_filename(m, s, o);
	return 0;
}

/* Keeps the parameters disposition() uses, refusing one given twice. */
static int
keep_param(struct multipart *m, const struct param *p, struct param *name,
    struct param *fn, struct param *ext)
{
	struct param	*slot;

	if (ieq(p->name, p->nlen, "name"))
		slot = name;
	else if (ieq(p->name, p->nlen, "filename"))
		slot = fn;
	else if (ieq(p->name, p->nlen, "filename*"))
		slot = ext;
	else
		return 0;
	if (slot->name != NULL)
		return fail(m, ERR_MALFORMED,
		    "repeated Content-Disposition parameter");
	*slot = *p;
	return 0;
}

static int
disposition(struct multipart *m, char *v, size_t len)
{
	struct param	p, name = { 0 }, fn = { 0 }, ext = { 0 };
	size_t		pos = skip_token(v, len, 0), flen = 0;
	int		r;

	if (!ieq(v, pos, "form-data"))
		return fail(m, ERR_MALFORMED,
		    "Content-Disposition is not form-data");
	while ((r = param_next(v, len, &pos, &p)) == 1)
		if ((r = keep_param(m, &p, &name, &fn, &ext)) != 0)
			return r;
	if (r != 0)
		return fail(m, ERR_MALFORMED, "malformed Content-Disposition");
	if (name.name == NULL)
		return fail(m, ERR_MALFORMED, "part without a field name");
	if ((r = set_name(m, &name)) != 0)
		return r;
	if (ext.name != NULL)
		return set_filename_ext(m, &ext);
	if (fn.name != NULL) {
		unquote(&fn, (char *)fn.val, fn.vlen, &flen);
		set_filename(m, fn.val, flen);
	}
	return 0;
}

static int
content_type(struct multipart *m, char *v, size_t len)
{
	if (len >= 10 && strncasecmp(v, "multipart/", 10) == 0)
		return fail(m, ERR_MALFORMED,
		    "nested multipart is not supported");
	m->part.content_type = len ? v : NULL;
	return 0;
}

static int
transfer_encoding(struct multipart *m, char *v, size_t len)
{
	if (ieq(v, len, "7bit") || ieq(v, len, "8bit") ||
	    ieq(v, len, "binary"))
		return 0;
	return fail(m, ERR_MALFORMED,
	    "Content-Transfer-Encoding not supported");
}

/* The part headers we read; each may appear once. */
static const struct {
	const char	*name;
	int		(*fn)(struct multipart *, char *v, size_t len);
} known[] = {
	{ "content-disposition", disposition },
	{ "content-type", content_type },
	{ "content-transfer-encoding", transfer_encoding },
};

/* One "Name: value" line, s[0..len) without its CRLF; s[len] is the CR,
   where the value's NUL goes. */
static int
header_field(struct multipart *m, char *s, size_t len)
{
	char	*colon, *v;
	size_t	 nlen, vlen, i;

	if (s[0] == ' ' || s[0] == '\t')
		return fail(m, ERR_MALFORMED, "folded part header line");
	if ((colon = memchr(s, ':', len)) == NULL)
		return fail(m, ERR_MALFORMED, "part header without a colon");
	nlen = (size_t)(colon - s);
	if (nlen == 0 || skip_token(s, nlen, 0) != nlen)
		return fail(m, ERR_MALFORMED, "bad part header name");
	i = skip_ows(s, len, nlen + 1);
	v = s + i;
	for (vlen = len - i; vlen > 0 && (v[vlen - 1] == ' ' ||
	    v[vlen - 1] == '\t'); vlen--)
		continue;
	for (i = 0; i < vlen; i++)
		if (is_ctl((unsigned char)v[i]))
			return fail(m, ERR_MALFORMED,
			    "control character in a part header");
	v[vlen] = '\0';
	for (i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		if (!ieq(s, nlen, known[i].name))
			continue;
		if (m->seen & 1u << i)
			return fail(m, ERR_MALFORMED, "repeated part header");
		m->seen |= 1u << i;
		return known[i].fn(m, v, vlen);
	}
	return 0;
}

/* The empty line: the part begins, and its data follows. */
static int
begin_part(struct multipart *m)
{
	if (m->part.name == NULL)
		return fail(m, ERR_MALFORMED,
		    "part without Content-Disposition");
	m->state = S_DATA;
	m->matched = m->virt = 2;	/* this CRLF may start the delimiter */
	m->in_part = 1;
	if (m->cb->part_begin == NULL)
		return 0;
	return stopped(m, m->cb->part_begin(&m->part, m->arg));
}

/* A line has just been completed by its LF at the end of m->hdr. */
static int
header_line(struct multipart *m)
{
	char	*s = m->hdr + m->line;
	size_t	 len = m->hlen - m->line - 1;

	if (len == 0 || s[len - 1] != '\r')
		return fail(m, ERR_MALFORMED,
		    "a part header line does not end in CRLF");
	len--;
	m->line = m->hlen;
	if (memchr(s, '\r', len) != NULL)
		return fail(m, ERR_MALFORMED, "bare CR in part headers");
	if (len == 0)
		return begin_part(m);
	return header_field(m, s, len);
}

/* Gathers header bytes up to the end of a line. */
static int
headers(struct multipart *m, const unsigned char *s, size_t n, size_t *used)
{
	const unsigned char	*lf = memchr(s, '\n', n);
	size_t			 k = lf ? (size_t)(lf - s) + 1 : n;

	*used = k;
	if (k > m->header_max - m->hlen)
		return fail(m, ERR_TOOBIG, "part headers too large");
	memcpy(m->hdr + m->hlen, s, k);
	m->hlen += k;
	return lf ? header_line(m) : 0;
}

/* ---- the parser ---- */

int
multipart_new(const char *boundary, const struct multipart_limits *lim,
    const struct multipart_cb *cb, void *arg, struct multipart **out)
{
	struct multipart	*m;
	size_t			 blen;

	if (boundary == NULL || cb == NULL || out == NULL)
		return ERR_INVAL;
	blen = strlen(boundary);
	if (!valid_boundary(boundary, blen) || (lim != NULL &&
	    lim->header_bytes > HEADER_BYTES_MAX))
		return ERR_INVAL;
	if ((m = calloc(1, sizeof(*m))) == NULL)
		return ERR_NOMEM;
	m->header_max = lim && lim->header_bytes ? lim->header_bytes :
	    DFL_HEADER_BYTES;
	m->max_parts = lim && lim->max_parts ? lim->max_parts : DFL_MAX_PARTS;
	if ((m->hdr = malloc(m->header_max)) == NULL) {
		free(m);
		return ERR_NOMEM;
	}
	m->cb = cb;
	m->arg = arg;
	memcpy(m->delim, "\r\n--", 4);
	memcpy(m->delim + 4, boundary, blen);
	m->dlen = 4 + blen;
	m->state = S_PREAMBLE;
	m->matched = m->virt = 2;	/* the body may open with "--" */
	*out = m;
	return 0;
}

int
multipart_feed(struct multipart *m, const void *p, size_t n)
{
	const unsigned char	*s = p;
	size_t			 i = 0, used = 0;
	int			 r = 0;

	if (m->err)
		return m->err;
	if (m->state == S_FINISHED)
		return fail(m, ERR_INVAL, "fed after the end of the body");
	while (i < n && r == 0) {
		switch (m->state) {
		case S_PREAMBLE:
		case S_DATA:
			r = scan(m, s + i, n - i, &used);
			break;
		case S_HEADERS:
			r = headers(m, s + i, n - i, &used);
			break;
		case S_EPILOGUE:
			used = n - i;
			r = epilogue(m, used);
			break;
		default:
			used = 1;
			r = boundary_tail(m, s[i]);
			break;
		}
		i += used;
	}
	return r;
}

int
multipart_finish(struct multipart *m)
{
	if (m->err)
		return m->err;
	if (m->state == S_PREAMBLE)
		return fail(m, ERR_MALFORMED, "no boundary in the body");
	if (m->state != S_EPILOGUE && m->state != S_FINISHED)
		return fail(m, ERR_MALFORMED,
		    "the body ends before the closing boundary");
	m->state = S_FINISHED;
	return 0;
}

const char *
multipart_error(const struct multipart *m)
{
	return m->err ? m->why : "no error";
}

void
multipart_free(struct multipart *m)
{
	if (m == NULL)
		return;
	free(m->hdr);
	free(m);
}
