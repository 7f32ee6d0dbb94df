/*
 * Loading form schemas: reading the file, checking every keyword, compiling
 * patterns, and the field list for the demo page.
 *
 * Line numbers. jansson reports the line of a syntax error but keeps no
 * positions for values, so a semantic error (unknown keyword, bad pattern,
 * wrong type) is located afterwards: the loader keeps the JSON path of what
 * it checks (e.g. properties / phone / pattern), and text_line() walks the
 * raw file text along that path with a small scanner (jansson has already
 * accepted the text, so the scanner only needs to skip strings and balance
 * brackets). The line is the one of the last key (or array element) found
 * on the path; keys written with escapes never match, and the error then
 * points at the nearest enclosing key instead.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "buf.h"
#include "form.h"
#include "schema.h"
#include "log.h"
#include "utf8.h"

#define SCHEMA_MAX_BYTES	(1024 * 1024)
#define SCHEMA_MAX_PROPS	256
#define SCHEMA_NAME_MAX		128	/* the body decoders' key cap */
#define PATH_DEPTH		6
#define PATTERN_MAX_BYTES	1024	/* a form field's format, not a program;
					   also keeps the offset map in 16 bits */
#define PATTERN_GROWTH		10	/* rewritten bytes per byte: \S, 2
					   bytes, is the longest, at 19 */
#define PATTERN_NEST_MAX	64	/* the bits of struct xlate's look */

/*
 * What one value may cost against one pattern. A value up to 64 KiB under
 * a pattern that repeats a group per character (^(?:.|\n)*$) needs about
 * 200000 steps and 130000 frames; the depth cap stops such patterns short
 * of that, at about 6 MiB of frames, and the heap cap bounds frames made
 * larger by named groups. 500000 steps take about 5 ms: a pattern that
 * backtracks exponentially, as ^(a+)+$ on "aaa...!", gives up there.
 */
#define MATCH_LIMIT		500000
#define DEPTH_LIMIT		50000
#define HEAP_LIMIT_KIB		16384

/* Where a keyword may appear. */
#define AT_ROOT		0x1
#define AT_PROP		0x2
#define AT_ITEMS	0x4
#define AT_FIELD	(AT_PROP | AT_ITEMS)
#define AT_ANY		(AT_ROOT | AT_PROP | AT_ITEMS)

/* Field types a keyword applies to (0: any). */
#define TY(t)		(1u << (t))
#define TY_STR		TY(SCHEMA_STRING)
#define TY_NUM		(TY(SCHEMA_INTEGER) | TY(SCHEMA_NUMBER))
#define TY_SCALAR	(TY_STR | TY_NUM | TY(SCHEMA_BOOLEAN))

enum kwtype {
	KW_STRING,
	KW_BOOL,
	KW_ARRAY,
	KW_OBJECT,
	KW_COUNT,	/* non-negative integer */
	KW_NUMBER,
	KW_ANY,
};

struct keyword {
	const char	*name;
	unsigned	 where;
	enum kwtype	 type;
	unsigned	 types;
};

static const struct keyword keywords[] = {
	{ "$schema",		AT_ROOT,	KW_STRING,	0 },
	{ "$id",		AT_ROOT,	KW_STRING,	0 },
	{ "$comment",		AT_ANY,		KW_STRING,	0 },
	{ "title",		AT_ANY,		KW_STRING,	0 },
	{ "description",	AT_ANY,		KW_STRING,	0 },
	{ "default",		AT_FIELD,	KW_ANY,		0 },
	{ "examples",		AT_ANY,		KW_ARRAY,	0 },
	{ "type",		AT_ANY,		KW_STRING,	0 },
	{ "properties",		AT_ROOT,	KW_OBJECT,	0 },
	{ "required",		AT_ROOT,	KW_ARRAY,	0 },
	{ "additionalProperties", AT_ROOT,	KW_BOOL,	0 },
	{ "x-multiline",	AT_FIELD,	KW_BOOL,	TY_STR },
	{ "x-autocomplete",	AT_FIELD,	KW_STRING,	0 },
	{ "minLength",		AT_FIELD,	KW_COUNT,	TY_STR },
	{ "maxLength",		AT_FIELD,	KW_COUNT,	TY_STR },
	{ "pattern",		AT_FIELD,	KW_STRING,	TY_STR },
	{ "format",		AT_FIELD,	KW_STRING,	TY_STR },
	{ "enum",		AT_FIELD,	KW_ARRAY,	TY_SCALAR },
	{ "const",		AT_FIELD,	KW_ANY,		TY_SCALAR },
	{ "oneOf",		AT_FIELD,	KW_ARRAY,	TY_SCALAR },
	{ "minimum",		AT_FIELD,	KW_NUMBER,	TY_NUM },
	{ "maximum",		AT_FIELD,	KW_NUMBER,	TY_NUM },
	{ "maxItems",		AT_PROP,	KW_COUNT,	TY(SCHEMA_ARRAY) },
	{ "items",		AT_PROP,	KW_OBJECT,	TY(SCHEMA_ARRAY) },
};

static const char *const typenames[] = {
	"string", "integer", "number", "boolean", "array"
};

static const char *const kwtypenames[] = {
	"a string", "true or false", "an array", "an object",
	"a non-negative integer", "a number", "any value"
};

static const char *const formats[] = { NULL, "email", "date", "uri",
    "binary" };

struct loader {
	const char	*file;
	struct diag	*d;
	const char	*text;
	size_t		 len;
	const char	*path[PATH_DEPTH];
	size_t		 depth;
	unsigned	 errors;
	int		 nomem;
	pcre2_compile_context	*cctx;
};

/* ---- locating keys in the raw text ---- */

struct scan {
	const char	*p;
	const char	*end;
};

static void
skip_ws(struct scan *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' ||
	    *s->p == '\n' || *s->p == '\r'))
		s->p++;
}

/* Skips the string whose opening quote is at s->p. */
static int
skip_string(struct scan *s)
{
	s->p++;
	while (s->p < s->end) {
		if (*s->p == '\\') {
			if (s->end - s->p < 2)
				return -1;
			s->p += 2;
		} else if (*s->p++ == '"')
			return 0;
	}
	return -1;
}

/* Skips one value of any kind: strings, scalars, or balanced containers. */
static int
skip_value(struct scan *s)
{
	size_t	depth = 0;

	skip_ws(s);
	if (s->p >= s->end)
		return -1;
	if (*s->p == '"')
		return skip_string(s);
	if (*s->p != '{' && *s->p != '[') {
		while (s->p < s->end && memchr(",}] \t\r\n", *s->p, 7) == NULL)
			s->p++;
		return 0;
	}
	while (s->p < s->end) {
		if (*s->p == '"') {
			if (skip_string(s) == -1)
				return -1;
			continue;
		}
		if (*s->p == '{' || *s->p == '[')
			depth++;
		else if ((*s->p == '}' || *s->p == ']') && --depth == 0) {
			s->p++;
			return 0;
		}
		s->p++;
	}
	return -1;
}

/* After a member or element: 1 if a ',' followed (and was consumed). */
static int
next_member(struct scan *s)
{
	skip_ws(s);
	if (s->p < s->end && *s->p == ',') {
		s->p++;
		return 1;
	}
	return 0;
}

/* In the object at s->p, finds key and leaves s->p at its value. Returns
   the position of the key, or NULL. Keys are compared as written. */
static const char *
find_key(struct scan *s, const char *key)
{
	const char	*at;
	size_t		 klen = strlen(key), toklen;

	s->p++;
	do {
		skip_ws(s);
		if (s->p >= s->end || *s->p != '"')
			return NULL;
		at = s->p;
		if (skip_string(s) == -1)
			return NULL;
		toklen = (size_t)(s->p - at);
		skip_ws(s);
		if (s->p >= s->end || *s->p++ != ':')
			return NULL;
		if (toklen == klen + 2 && memcmp(at + 1, key, klen) == 0) {
			skip_ws(s);
			return at;
		}
		if (skip_value(s) == -1)
			return NULL;
	} while (next_member(s));
	return NULL;
}

/* In the array at s->p, finds element idx (decimal) and leaves s->p on it. */
static const char *
find_index(struct scan *s, const char *idx)
{
	char		*end;
	unsigned long	 n, i;

	n = strtoul(idx, &end, 10);
	if (*idx == '\0' || *end != '\0')
		return NULL;
	s->p++;
	for (i = 0;; i++) {
		skip_ws(s);
		if (i == n)
			return s->p < s->end && *s->p != ']' ? s->p : NULL;
		if (skip_value(s) == -1 || !next_member(s))
			return NULL;
	}
}

/*
 * The 1-based line of the deepest key (or element) of path found in text,
 * which must be JSON that jansson accepted; the line of the top-level value
 * when not even the first step is found.
 */
static int
text_line(const char *text, size_t len, const char *const *path, size_t n)
{
	struct scan	 s = { text, text + len };
	const char	*found, *at = NULL;
	size_t		 i;
	int		 line = 1;

	skip_ws(&s);
	found = s.p;
	for (i = 0; i < n; i++) {
		skip_ws(&s);
		if (s.p >= s.end)
			break;
		if (*s.p == '{')
			at = find_key(&s, path[i]);
		else if (*s.p == '[')
			at = find_index(&s, path[i]);
		else
			at = NULL;
		if (at == NULL)
			break;
		found = at;
	}
	for (; text < found; text++)
		if (*text == '\n')
			line++;
	return line;
}

/* ---- reporting ---- */

static void
push(struct loader *L, const char *key)
{
	if (L->depth < PATH_DEPTH)
		L->path[L->depth] = key;
	L->depth++;
}

static void
pop(struct loader *L)
{
	L->depth--;
}

/* Reports a problem at the current path plus key (NULL: the path itself). */
static void LOG_PRINTF(3, 4)
lerr(struct loader *L, const char *key, const char *fmt, ...)
{
	char	msg[400];
	va_list	ap;
	size_t	n;
	int	line;

	push(L, key);
	n = key ? L->depth : L->depth - 1;
	line = text_line(L->text, L->len, L->path,
	    n < PATH_DEPTH ? n : PATH_DEPTH);
	pop(L);
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	diag(L->d, L->file, line, "%s", msg);
	L->errors++;
}

/* ---- keywords ---- */

static const struct keyword *
keyword_find(const char *name)
{
	size_t	i;

	for (i = 0; i < sizeof(keywords) / sizeof(keywords[0]); i++)
		if (strcmp(keywords[i].name, name) == 0)
			return &keywords[i];
	return NULL;
}

static int
kwtype_ok(enum kwtype t, const json_t *v)
{
	switch (t) {
	case KW_STRING:
		return json_is_string(v);
	case KW_BOOL:
		return json_is_boolean(v);
	case KW_ARRAY:
		return json_is_array(v);
	case KW_OBJECT:
		return json_is_object(v);
	case KW_COUNT:
		return json_is_integer(v) && json_integer_value(v) >= 0;
	case KW_NUMBER:
		return json_is_number(v);
	case KW_ANY:
		return 1;
	}
	return 0;
}

/* Checks that every key of obj is a known keyword, allowed at where, with
   a value of the right JSON type. */
static void
check_keywords(struct loader *L, const json_t *obj, unsigned where)
{
	const struct keyword	*kw;
	const char		*key;
	json_t			*v;

	json_object_foreach((json_t *)obj, key, v) {
		if ((kw = keyword_find(key)) == NULL)
			lerr(L, key, "unknown keyword \"%.64s\"", key);
		else if (!(kw->where & where))
			lerr(L, key, "\"%s\" is not supported %s", key,
			    where == AT_ROOT ? "at the top level" :
			    where == AT_ITEMS ? "in items" :
			    "in a property (nested objects are not supported)");
		else if (!kwtype_ok(kw->type, v))
			lerr(L, key, "\"%s\" must be %s", key,
			    kwtypenames[kw->type]);
	}
}

/* Keywords that exist but do not apply to the node's type. */
static void
check_applicable(struct loader *L, const struct schema_node *n,
    const json_t *obj)
{
	const struct keyword	*kw;
	const char		*key;
	json_t			*v;

	json_object_foreach((json_t *)obj, key, v) {
		kw = keyword_find(key);
		if (kw && kw->types && !(kw->types & TY(n->type)))
			lerr(L, key, "\"%s\" does not apply to a field of "
			    "type %s", key, typenames[n->type]);
	}
}

/* Typed getters: a value of the wrong type was reported already. */
static const json_t *
get(const json_t *obj, const char *key, enum kwtype t)
{
	const json_t	*v = json_object_get(obj, key);

	return v && kwtype_ok(t, v) ? v : NULL;
}

static int
load_type(struct loader *L, struct schema_node *n, const json_t *obj,
    unsigned where)
{
	const json_t	*t = json_object_get(obj, "type");
	const char	*name;
	size_t		 i;

	if (t == NULL) {
		lerr(L, NULL, "missing \"type\"");
		return -1;
	}
	if ((name = json_string_value(t)) == NULL)
		return -1;
	for (i = 0; i < sizeof(typenames) / sizeof(typenames[0]); i++)
		if (strcmp(name, typenames[i]) == 0)
			break;
	if (i == sizeof(typenames) / sizeof(typenames[0])) {
		lerr(L, "type", "unsupported type \"%.64s\"", name);
		return -1;
	}
	n->type = (enum schema_type)i;
	if (n->type == SCHEMA_ARRAY && where == AT_ITEMS) {
		lerr(L, "type", "lists of lists are not supported");
		return -1;
	}
	return 0;
}

static void
load_lengths(struct loader *L, struct schema_node *n, const json_t *obj)
{
	const json_t	*v;

	if ((v = get(obj, "minLength", KW_COUNT)) != NULL)
		n->min_length = json_integer_value(v);
	if ((v = get(obj, "maxLength", KW_COUNT)) != NULL)
		n->max_length = json_integer_value(v);
	if ((v = get(obj, "maxItems", KW_COUNT)) != NULL)
		n->max_items = json_integer_value(v);
	if ((v = get(obj, "x-multiline", KW_BOOL)) != NULL)
		n->multiline = json_is_true(v);
	/* Goes into an HTML attribute: tokens only (name, tel, country-name,
	   "shipping email"). */
	if ((v = get(obj, "x-autocomplete", KW_STRING)) != NULL &&
	    (json_string_length(v) == 0 || json_string_length(v) > 64 ||
	    strspn(json_string_value(v), "abcdefghijklmnopqrstuvwxyz0123456789"
	    "- ") != json_string_length(v)))
		lerr(L, "x-autocomplete", "x-autocomplete: autocomplete "
		    "tokens, e.g. \"name\" or \"tel\"");
	if (n->max_length >= 0 && n->min_length > n->max_length)
		lerr(L, "minLength", "minLength is greater than maxLength");
}

/* ---- patterns ---- */

/*
 * A schema's "pattern" is also run by the browser (the same file is served
 * for client-side validation), so both must read it alike. The pattern as
 * written is ECMA-262 with the u flag; it is scanned once, refusing what
 * the two dialects read differently or what only PCRE2 has, and rewritten
 * where PCRE2 needs other words for the same thing (\s, \v). PCRE2 then
 * compiles the result with the options below, and its errors are reported
 * at offsets in the pattern as written (the map).
 */

/* What a quantifier at this point would apply to. */
enum {
	PREV_OTHER,	/* an atom, or nothing: PCRE2 judges */
	PREV_LOOK,	/* a lookaround: PCRE2 allows a quantifier, ECMA-262 not */
	PREV_QUANT,	/* a quantifier: '?' makes it lazy, '+' possessive */
};

struct xlate {
	const char	*p;		/* the pattern as written */
	size_t		 len, i;
	char		*out;		/* the pattern for PCRE2 */
	uint16_t	*map;		/* out[k] stands for p[map[k]] */
	size_t		 n, cap;
	int		 prev;
	unsigned	 depth;
	uint64_t	 look;		/* bit d: the group at depth d is a
					   lookaround */
	char		 why[128];	/* the first refusal, or "" */
	size_t		 at;
};

static void LOG_PRINTF(3, 4)
refuse(struct xlate *x, size_t at, const char *fmt, ...)
{
	va_list	ap;

	if (x->why[0] != '\0')
		return;
	va_start(ap, fmt);
	vsnprintf(x->why, sizeof(x->why), fmt, ap);
	va_end(ap);
	x->at = at;
}

/* Appends s, which stands for the source bytes from offset src on. */
static void
emit(struct xlate *x, const char *s, size_t n, size_t src)
{
	size_t	k;

	if (x->cap - x->n < n) {
		refuse(x, src, "too long once rewritten for PCRE2");
		return;
	}
	memcpy(x->out + x->n, s, n);
	for (k = 0; k < n; k++)
		x->map[x->n + k] = (uint16_t)src;
	x->n += n;
}

/* Copies n source bytes as they are, each standing for itself. */
static void
copy(struct xlate *x, size_t n)
{
	for (; n > 0; n--, x->i++)
		emit(x, x->p + x->i, 1, x->i);
}

static int
is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
	    (c >= 'A' && c <= 'F');
}

static int
is_ascii_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* The length of "\uHHHH" or "\u{H...}" at p (left bytes), or 0. */
static size_t
unicode_escape_len(const char *p, size_t left)
{
	size_t	n;

	if (left >= 6 && is_hex(p[2]) && is_hex(p[3]) && is_hex(p[4]) &&
	    is_hex(p[5]))
		return 6;
	if (left < 5 || p[2] != '{')
		return 0;
	for (n = 3; n < left && is_hex(p[n]); n++)
		;
	return n > 3 && n < left && p[n] == '}' ? n + 1 : 0;
}

/* A script name as Unicode writes it ("Greek", "Old_Italic", "Grek"):
   PCRE2 also takes "greek" and "old italic", ECMA-262 does not. */
static int
is_script_name(const char *s, size_t n)
{
	size_t	i;

	if (n == 0 || s[0] < 'A' || s[0] > 'Z')
		return 0;
	for (i = 1; i < n; i++)
		if (!is_ascii_alpha(s[i]) && s[i] != '_')
			return 0;
	return 1;
}

/*
 * The length of "\p{...}" (or \P) at p when both dialects know the
 * property by that spelling: a General_Category value in its short form,
 * or a script. PCRE2 matches property names loosely and knows more of
 * them, so anything else could compile here and fail in the browser.
 */
static size_t
property_len(const char *p, size_t left)
{
	static const char *const gc[] = { "L", "Lu", "Ll", "Lt", "Lm", "Lo",
	    "LC", "M", "Mn", "Mc", "Me", "N", "Nd", "Nl", "No", "P", "Pc",
	    "Pd", "Ps", "Pe", "Pi", "Pf", "Po", "S", "Sm", "Sc", "Sk", "So",
	    "Z", "Zs", "Zl", "Zp", "C", "Cc", "Cf", "Cs", "Co", "Cn" };
	static const char *const keys[] = { "Script=", "sc=",
	    "Script_Extensions=", "scx=" };
	const char	*body = p + 3, *close;
	size_t		 blen, i, klen;

	if (left < 5 || p[2] != '{' ||
	    (close = memchr(body, '}', left - 3)) == NULL)
		return 0;
	blen = (size_t)(close - body);
	for (i = 0; i < sizeof(gc) / sizeof(gc[0]); i++)
		if (strlen(gc[i]) == blen && memcmp(gc[i], body, blen) == 0)
			return blen + 4;
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		klen = strlen(keys[i]);
		if (blen > klen && memcmp(keys[i], body, klen) == 0 &&
		    is_script_name(body + klen, blen - klen))
			return blen + 4;
	}
	return 0;
}

/*
 * ECMA-262's \s is Unicode white space and line terminators (Zs, Zl, Zp,
 * TAB to CR, U+FEFF); PCRE2 without UCP takes ASCII white space only, so
 * \s and \S are spelt out. ECMA-262's \v is VT; PCRE2's is any vertical
 * space, LF included.
 */
#define ECMA_SPACE	"\\p{Z}\\t-\\r\\ufeff"

static void
escape_space(struct xlate *x, int in_class, int negated)
{
	static const char	out[] = "[" ECMA_SPACE "]";
	static const char	outneg[] = "[^" ECMA_SPACE "]";
	size_t			at = x->i;

	x->i += 2;
	if (in_class && negated) {
		refuse(x, at, "\\S inside [...] (write [^\\s...])");
		return;
	}
	if (in_class)
		emit(x, ECMA_SPACE, sizeof(ECMA_SPACE) - 1, at);
	else if (negated)
		emit(x, outneg, sizeof(outneg) - 1, at);
	else
		emit(x, out, sizeof(out) - 1, at);
	if (in_class && x->i + 1 < x->len && x->p[x->i] == '-' &&
	    x->p[x->i + 1] != ']')
		refuse(x, at, "\\s cannot end a range");
}

/* The length of the escape at p (left >= 2 bytes) when ECMA-262 and
   PCRE2 read it alike as written, or 0. */
static size_t
plain_escape_len(const char *p, size_t left, int in_class)
{
	char	e = p[1];

	if (e == '\0')
		return 0;
	if (strchr("bdDwWfnrt", e) != NULL || (e == 'B' && !in_class) ||
	    (e == '-' && in_class))
		return 2;
	if (e == '0')
		return left > 2 && p[2] >= '0' && p[2] <= '9' ? 0 : 2;
	if (e == 'c')
		return left > 2 && is_ascii_alpha(p[2]) ? 3 : 0;
	if (e == 'x')
		return left > 3 && is_hex(p[2]) && is_hex(p[3]) ? 4 : 0;
	if (e == 'u')
		return unicode_escape_len(p, left);
	if (e == 'p' || e == 'P')
		return property_len(p, left);
	return strchr("^$\\.*+?()[]{}|/", e) != NULL ? 2 : 0;
}

/* One escape at x->i, in a character class or not. */
static void
read_escape(struct xlate *x, int in_class)
{
	const char	*p = x->p + x->i;
	size_t		 left = x->len - x->i, n;

	x->prev = PREV_OTHER;
	if (left < 2)
		refuse(x, x->i, "\\ at end of pattern");
	else if (p[1] == 's' || p[1] == 'S')
		escape_space(x, in_class, p[1] == 'S');
	else if (p[1] == 'v') {
		emit(x, "\\x0b", 4, x->i);
		x->i += 2;
	} else if ((p[1] >= '1' && p[1] <= '9') || p[1] == 'k')
		refuse(x, x->i, "back-references are not supported");
	else if ((p[1] == 'p' || p[1] == 'P') && property_len(p, left) == 0)
		refuse(x, x->i, "\\%c{...} takes a General_Category value "
		    "(L, Lu, Nd, ...) or Script=NAME", p[1]);
	else if ((n = plain_escape_len(p, left, in_class)) != 0)
		copy(x, n);
	else {
		n = utf8_seqlen((const unsigned char *)p + 1, left - 1);
		refuse(x, x->i, "\\%.*s is not an escape ECMA-262 and PCRE2 "
		    "read alike", (int)(n ? n : 1), p + 1);
	}
}

/*
 * A character class at x->i. A ']' right after '[' or '[^' closes it, as
 * in ECMA-262 (PCRE2_ALLOW_EMPTY_CLASS). An unclosed class is refused
 * here, as PCRE2 would take the wrapper's ')' into it.
 */
static void
read_class(struct xlate *x)
{
	char	c;

	x->prev = PREV_OTHER;
	copy(x, 1);
	if (x->i < x->len && x->p[x->i] == '^')
		copy(x, 1);
	while (x->why[0] == '\0') {
		if (x->i == x->len) {
			refuse(x, x->len, "missing terminating ] for "
			    "character class");
			return;
		}
		if ((c = x->p[x->i]) == ']') {
			copy(x, 1);
			return;
		}
		if (c == '\\')
			read_escape(x, 1);
		else if (c == '[' && x->i + 1 < x->len &&
		    (x->p[x->i + 1] == ':' || x->p[x->i + 1] == '.' ||
		    x->p[x->i + 1] == '='))
			refuse(x, x->i, "POSIX classes such as [[:alpha:]] are "
			    "PCRE2-only (write \\[ for a '[')");
		else
			copy(x, 1);
	}
}

/* Why the group opener "(?c" at the offset is refused, or NULL for the
   groups both dialects have. */
static const char *
group_problem(char c)
{
	if (c == ':' || c == '=' || c == '!' || c == '<')
		return NULL;
	if (c == '>')
		return "atomic groups (?>...) are PCRE2-only";
	if (c == '(')
		return "conditional groups (?(...) are PCRE2-only";
	if (c == 'R' || c == '&' || c == '+' || (c >= '0' && c <= '9'))
		return "recursion and subroutine calls are PCRE2-only";
	if (c == '#')
		return "comments (?#...) are PCRE2-only";
	if (c == '|')
		return "branch reset groups (?|...) are PCRE2-only";
	if (c == 'P' || c == '\'')
		return "named groups are written (?<name>...)";
	return "inline options such as (?i) are PCRE2-only";
}

/* An opening parenthesis at x->i, with what opens the group. */
static void
open_group(struct xlate *x)
{
	const char	*p = x->p + x->i, *gt, *why;
	size_t		 left = x->len - x->i, n = 1;
	int		 look = 0;

	if (x->depth >= PATTERN_NEST_MAX) {
		refuse(x, x->i, "groups nested more than %d deep",
		    PATTERN_NEST_MAX);
		return;
	}
	if (left > 1 && p[1] == '*') {
		refuse(x, x->i, "(*...) verbs and options are PCRE2-only");
		return;
	}
	if (left > 2 && p[1] == '?') {
		if ((why = group_problem(p[2])) != NULL) {
			refuse(x, x->i, "%s", why);
			return;
		}
		look = p[2] == '=' || p[2] == '!' || (p[2] == '<' &&
		    left > 3 && (p[3] == '=' || p[3] == '!'));
		n = p[2] != '<' ? 3 : look ? 4 :
		    (gt = memchr(p, '>', left)) ? (size_t)(gt - p) + 1 : 3;
	}
	if (look)
		x->look |= (uint64_t)1 << x->depth;
	else
		x->look &= ~((uint64_t)1 << x->depth);
	x->depth++;
	copy(x, n);
	x->prev = PREV_OTHER;
}

static void
close_group(struct xlate *x)
{
	if (x->depth == 0) {
		refuse(x, x->i, "unmatched closing parenthesis");
		return;
	}
	x->depth--;
	x->prev = (x->look >> x->depth) & 1 ? PREV_LOOK : PREV_OTHER;
	copy(x, 1);
}

/* The length of "{n}", "{n,}" or "{n,m}" at p (left bytes), or 0. */
static size_t
brace_len(const char *p, size_t left)
{
	size_t	i = 1, digits;

	for (digits = 0; i < left && p[i] >= '0' && p[i] <= '9'; i++)
		digits++;
	if (digits == 0 || i == left)
		return 0;
	if (p[i] == ',')
		for (i++; i < left && p[i] >= '0' && p[i] <= '9'; i++)
			;
	return i < left && p[i] == '}' ? i + 1 : 0;
}

/* *, +, ?, or a '{' at x->i. */
static void
read_quantifier(struct xlate *x)
{
	char	c = x->p[x->i];
	size_t	n = 1;

	if (c == '{' && (n = brace_len(x->p + x->i, x->len - x->i)) == 0) {
		refuse(x, x->i, "a '{' that does not start {n}, {n,} or "
		    "{n,m} (write \\{)");
		return;
	}
	if (x->prev == PREV_LOOK) {
		refuse(x, x->i, "a lookaround cannot be quantified");
		return;
	}
	if (x->prev == PREV_QUANT && c == '+') {
		refuse(x, x->i, "possessive quantifiers such as a++ are "
		    "PCRE2-only");
		return;
	}
	x->prev = x->prev == PREV_QUANT && c == '?' ? PREV_OTHER : PREV_QUANT;
	copy(x, n);
}

/*
 * The unanchored search is written into the pattern, as "[^]*?(?:...)"
 * matched anchored, rather than left to pcre2_match() trying each start
 * position: PCRE2 restarts its match limit at every start position, so a
 * backtracking-heavy unanchored pattern would cost the limit times the
 * length of the value (seconds for 64 KiB); as one anchored attempt, the
 * limit bounds the whole search. The lazy prefix tries the same start
 * positions in the same order, so what matches does not change.
 */
#define WRAP_OPEN	"[^]*?(?:"
#define WRAP_CLOSE	")"

/* Checks and rewrites x->p into x->out. 0, or -1 with x->why set. */
static int
rewrite_pattern(struct xlate *x)
{
	char	c;

	emit(x, WRAP_OPEN, sizeof(WRAP_OPEN) - 1, 0);
	while (x->i < x->len && x->why[0] == '\0') {
		c = x->p[x->i];
		if (c == '\\')
			read_escape(x, 0);
		else if (c == '[')
			read_class(x);
		else if (c == '(')
			open_group(x);
		else if (c == ')')
			close_group(x);
		else if (c == '*' || c == '+' || c == '?' || c == '{')
			read_quantifier(x);
		else if (c == ']' || c == '}')
			refuse(x, x->i, "a lone '%c' (write \\%c)", c, c);
		else {
			x->prev = PREV_OTHER;
			copy(x, 1);
		}
	}
	emit(x, WRAP_CLOSE, sizeof(WRAP_CLOSE) - 1, x->len);
	return x->why[0] != '\0' ? -1 : 0;
}

/*
 * ECMA-262 with the u flag, in PCRE2's words: UTF, so that "." and classes
 * take code points; no UCP, because ECMA-262 keeps \d \w \b ASCII even
 * with u (\s is spelt out instead); "$" only at the very end, not before
 * a final newline; [] matching nothing and [^] anything; \uHHHH, \u{H...}
 * and \xHH as ECMA-262 reads them (with PCRE2_EXTRA_ALT_BSUX). Nothing reads
 * captures, and without them the backtracking frames are smaller.
 */
#define PATTERN_OPTIONS	(PCRE2_UTF | PCRE2_NEVER_UCP | PCRE2_DOLLAR_ENDONLY | \
	PCRE2_ALLOW_EMPTY_CLASS | PCRE2_ALT_BSUX | PCRE2_NEVER_BACKSLASH_C | \
	PCRE2_NO_AUTO_CAPTURE | PCRE2_ANCHORED)

static void
compile_pattern(struct loader *L, struct schema_node *n,
    const struct xlate *x)
{
	PCRE2_UCHAR	msg[160];
	PCRE2_SIZE	off;
	int		code;

	n->pattern = pcre2_compile((PCRE2_SPTR)x->out, x->n, PATTERN_OPTIONS,
	    &code, &off, L->cctx);
	if (n->pattern != NULL)
		return;
	if (code == PCRE2_ERROR_HEAP_FAILED) {
		L->nomem = 1;
		return;
	}
	pcre2_get_error_message(code, msg, sizeof(msg));
	lerr(L, "pattern", "pattern: %s at offset %zu", (const char *)msg,
	    off < x->n ? (size_t)x->map[off] : x->len);
}

static void
load_pattern(struct loader *L, struct schema_node *n, const json_t *obj)
{
	const json_t	*v;
	struct xlate	 x;

	if ((v = get(obj, "pattern", KW_STRING)) == NULL)
		return;
	if (json_string_length(v) > PATTERN_MAX_BYTES) {
		lerr(L, "pattern", "pattern: longer than %d bytes",
		    PATTERN_MAX_BYTES);
		return;
	}
	memset(&x, 0, sizeof(x));
	x.p = json_string_value(v);
	x.len = json_string_length(v);
	x.cap = x.len * PATTERN_GROWTH + sizeof(WRAP_OPEN WRAP_CLOSE);
	x.out = malloc(x.cap);
	x.map = calloc(x.cap, sizeof(*x.map));
	if (x.out == NULL || x.map == NULL)
		L->nomem = 1;
	else if (rewrite_pattern(&x) != 0)
		lerr(L, "pattern", "pattern: %s at offset %zu", x.why, x.at);
	else
		compile_pattern(L, n, &x);
	free(x.out);
	free(x.map);
}

static void
load_format(struct loader *L, struct schema_node *n, const json_t *obj)
{
	const json_t	*v;
	size_t		 i;

	if ((v = get(obj, "format", KW_STRING)) == NULL)
		return;
	for (i = 1; i < sizeof(formats) / sizeof(formats[0]); i++)
		if (strcmp(json_string_value(v), formats[i]) == 0) {
			n->format = (enum schema_format)i;
			return;
		}
	lerr(L, "format", "unknown format \"%.64s\" (supported: email, "
	    "date, uri, binary)", json_string_value(v));
}

/* 1 if v is a value a field of type t can hold. */
static int
value_fits(enum schema_type t, const json_t *v)
{
	switch (t) {
	case SCHEMA_STRING:
		return json_is_string(v);
	case SCHEMA_INTEGER:
		return json_is_integer(v);
	case SCHEMA_NUMBER:
		return json_is_number(v);
	case SCHEMA_BOOLEAN:
		return json_is_boolean(v);
	case SCHEMA_ARRAY:
		break;
	}
	return 0;
}

/*
 * "oneOf": [{"const": V, "title": T}, …], the 2020-12 way to give each
 * choice a title for people: validated as the enum of the consts. Any
 * other subschema would be a promise of validation we do not make, so
 * each entry may hold only const, title and description.
 */
static void
load_oneof(struct loader *L, struct schema_node *n, const json_t *list)
{
	const json_t	*e, *c;
	const char	*k;
	json_t		*vals;
	char		 idx[24];
	size_t		 i;

	if (json_array_size(list) == 0) {
		lerr(L, "oneOf", "\"oneOf\" must list at least one choice");
		return;
	}
	if ((vals = json_array()) == NULL) {
		L->nomem = 1;
		return;
	}
	push(L, "oneOf");
	json_array_foreach(list, i, e) {
		snprintf(idx, sizeof(idx), "%zu", i);
		c = json_object_get(e, "const");
		if (!json_is_object(e) || c == NULL || !value_fits(n->type, c)) {
			lerr(L, idx, "each choice must be {\"const\": a %s "
			    "value, \"title\": …}", typenames[n->type]);
			continue;
		}
		json_object_foreach((json_t *)e, k, c)
			if (strcmp(k, "const") != 0 && strcmp(k, "title") != 0 &&
			    strcmp(k, "description") != 0)
				lerr(L, idx, "a choice holds only const, title "
				    "and description, not \"%.64s\"", k);
		if (json_object_get(e, "title") != NULL &&
		    !json_is_string(json_object_get(e, "title")))
			lerr(L, idx, "a choice's title must be a string");
		if (json_array_append(vals, json_object_get(e, "const")) != 0)
			L->nomem = 1;
	}
	pop(L);
	n->oneof = vals;
	n->enumv = vals;
}

static void
load_values(struct loader *L, struct schema_node *n, const json_t *obj)
{
	const json_t	*v, *e;
	char		 idx[24];
	size_t		 i;

	if (n->type == SCHEMA_ARRAY)
		return;		/* reported by check_applicable */
	if ((v = get(obj, "const", KW_ANY)) != NULL) {
		if (value_fits(n->type, v))
			n->constv = v;
		else
			lerr(L, "const", "\"const\" must be a %s value",
			    typenames[n->type]);
	}
	if (get(obj, "oneOf", KW_ARRAY) != NULL) {
		if (get(obj, "enum", KW_ARRAY) != NULL)
			lerr(L, "oneOf", "use \"enum\" or \"oneOf\", not both");
		else
			load_oneof(L, n, get(obj, "oneOf", KW_ARRAY));
		return;
	}
	if ((v = get(obj, "enum", KW_ARRAY)) == NULL)
		return;
	if (json_array_size(v) == 0) {
		lerr(L, "enum", "\"enum\" must list at least one value");
		return;
	}
	push(L, "enum");
	json_array_foreach(v, i, e) {
		if (!value_fits(n->type, e)) {
			snprintf(idx, sizeof(idx), "%zu", i);
			lerr(L, idx, "enum values must be %s values",
			    typenames[n->type]);
		}
	}
	pop(L);
	n->enumv = v;
}

static void
load_bounds(struct loader *L, struct schema_node *n, const json_t *obj)
{
	const json_t	*lo, *hi;

	if (n->type != SCHEMA_INTEGER && n->type != SCHEMA_NUMBER)
		return;
	lo = get(obj, "minimum", KW_NUMBER);
	hi = get(obj, "maximum", KW_NUMBER);
	if (n->type == SCHEMA_INTEGER) {
		if (lo && !json_is_integer(lo)) {
			lerr(L, "minimum", "\"minimum\" of an integer field "
			    "must be a whole number");
			lo = NULL;
		}
		if (hi && !json_is_integer(hi)) {
			lerr(L, "maximum", "\"maximum\" of an integer field "
			    "must be a whole number");
			hi = NULL;
		}
	}
	n->has_min = lo != NULL;
	n->has_max = hi != NULL;
	n->imin = lo ? json_integer_value(lo) : 0;
	n->imax = hi ? json_integer_value(hi) : 0;
	n->dmin = lo ? json_number_value(lo) : 0;
	n->dmax = hi ? json_number_value(hi) : 0;
	if (lo && hi && n->dmin > n->dmax)
		lerr(L, "minimum", "minimum is greater than maximum");
}

static void	load_node(struct loader *, struct schema_node *,
		    const json_t *, unsigned);

static void
load_items(struct loader *L, struct schema_node *n, const json_t *obj)
{
	const json_t	*items;

	if (n->type != SCHEMA_ARRAY)
		return;
	if ((n->items = calloc(1, sizeof(*n->items))) == NULL) {
		L->nomem = 1;
		return;
	}
	n->items->min_length = n->items->max_length = -1;
	n->items->max_items = -1;
	if ((items = get(obj, "items", KW_OBJECT)) == NULL) {
		n->items->type = SCHEMA_STRING;
		return;
	}
	push(L, "items");
	load_node(L, n->items, items, AT_ITEMS);
	pop(L);
}

/* Loads the property or items schema obj, at L's current path, into n. */
/* A file has no text to check: a text keyword beside "format": "binary"
   would be a promise the server cannot keep. */
static void
check_binary(struct loader *L, const struct schema_node *n, const json_t *obj)
{
	static const char *const text_kw[] = { "minLength", "maxLength",
	    "pattern", "enum", "const", "oneOf", "x-multiline" };
	size_t	i;

	if (n->format != SCHEMA_FMT_BINARY)
		return;
	for (i = 0; i < sizeof(text_kw) / sizeof(text_kw[0]); i++)
		if (json_object_get(obj, text_kw[i]) != NULL)
			lerr(L, text_kw[i], "\"%s\" does not apply to a file "
			    "(\"format\": \"binary\")", text_kw[i]);
}

static void
load_node(struct loader *L, struct schema_node *n, const json_t *obj,
    unsigned where)
{
	n->min_length = n->max_length = n->max_items = -1;
	if (!json_is_object(obj)) {
		lerr(L, NULL, "a field's schema must be an object");
		return;
	}
	check_keywords(L, obj, where);
	if (load_type(L, n, obj, where) == -1)
		return;
	check_applicable(L, n, obj);
	load_lengths(L, n, obj);
	load_pattern(L, n, obj);
	load_format(L, n, obj);
	load_values(L, n, obj);
	load_bounds(L, n, obj);
	load_items(L, n, obj);
	check_binary(L, n, obj);
}

static int
has_control(const char *p)
{
	for (; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return 1;
	return 0;
}

static int
load_props(struct loader *L, struct schema *s, const json_t *props)
{
	const char	*name;
	json_t		*v;
	size_t		 i = 0, len;

	if (json_object_size(props) > SCHEMA_MAX_PROPS) {
		lerr(L, "properties", "more than %d properties",
		    SCHEMA_MAX_PROPS);
		return 0;
	}
	s->props = calloc(json_object_size(props) + 1, sizeof(*s->props));
	if (s->props == NULL)
		return ERR_NOMEM;
	push(L, "properties");
	json_object_foreach((json_t *)props, name, v) {
		len = strlen(name);
		if (len == 0 || len > SCHEMA_NAME_MAX || has_control(name))
			lerr(L, name, "a property name must be 1 to %d "
			    "bytes without control characters",
			    SCHEMA_NAME_MAX);
		s->props[i].name = name;
		push(L, name);
		load_node(L, &s->props[i].node, v, AT_PROP);
		pop(L);
		i++;
		s->nprops = i;
	}
	pop(L);
	return L->nomem ? ERR_NOMEM : 0;
}

static void
load_required(struct loader *L, struct schema *s, const json_t *req)
{
	const json_t	*e;
	char		 idx[24];
	size_t		 i, j;

	push(L, "required");
	json_array_foreach(req, i, e) {
		snprintf(idx, sizeof(idx), "%zu", i);
		if (!json_is_string(e)) {
			lerr(L, idx, "\"required\" must list property names");
			continue;
		}
		for (j = 0; j < s->nprops; j++)
			if (strcmp(s->props[j].name, json_string_value(e)) == 0)
				break;
		if (j == s->nprops)
			lerr(L, idx, "required property \"%.64s\" is not "
			    "defined in \"properties\"", json_string_value(e));
		else
			s->props[j].required = 1;
	}
	pop(L);
}

static int
load_root(struct loader *L, struct schema *s)
{
	const json_t	*root = s->doc, *v;
	int		 rc;

	if (!json_is_object(root)) {
		lerr(L, NULL, "the schema must be a JSON object");
		return 0;
	}
	check_keywords(L, root, AT_ROOT);
	v = get(root, "type", KW_STRING);
	if (v && strcmp(json_string_value(v), "object") != 0)
		lerr(L, "type", "the top-level type must be \"object\"");
	v = get(root, "additionalProperties", KW_BOOL);
	s->additional = v == NULL || json_is_true(v);
	if ((v = get(root, "properties", KW_OBJECT)) == NULL) {
		if (json_object_get(root, "properties") == NULL)
			lerr(L, NULL, "the schema has no \"properties\"");
		return 0;
	}
	if ((rc = load_props(L, s, v)) != 0)
		return rc;
	if ((v = get(root, "required", KW_ARRAY)) != NULL)
		load_required(L, s, v);
	return 0;
}

/* ---- field descriptions ---- */

static const char *
str_or(const json_t *obj, const char *key, const char *dflt)
{
	const char	*v = json_string_value(json_object_get(obj, key));

	return v ? v : dflt;
}

/* The enum values as NULL-terminated arrays when they are all strings:
   the values, and what people see (a oneOf choice's title, else the
   value). */
static int
field_options(const struct schema_node *n, const json_t *obj,
    struct form_field *f)
{
	const json_t	 *e, *oneof = json_object_get(obj, "oneOf");
	const char	**o, **t;
	size_t		  i, k;

	if (n->enumv == NULL || n->type != SCHEMA_STRING)
		return 0;
	k = json_array_size(n->enumv);
	o = calloc(k + 1, sizeof(*o));
	t = calloc(k + 1, sizeof(*t));
	if (o == NULL || t == NULL) {
		free(o);
		free(t);
		return ERR_NOMEM;
	}
	json_array_foreach(n->enumv, i, e) {
		o[i] = json_string_value(e);
		t[i] = str_or(json_array_get(oneof, i), "title", o[i]);
	}
	f->options = o;
	f->option_titles = t;
	return 0;
}

/*
 * The pattern as an HTML pattern attribute, or NULL when the browser
 * would read it otherwise. The attribute is anchored for us and compiled
 * with the v flag, whose classes reserve ( ) [ { } / | and doubled
 * punctuation; only a pattern written ^…$ with none of those bare in a
 * class reads the same, so only such a one is offered to the browser
 * (the server checks every pattern anyway).
 */
static const char *
html_pattern(const json_t *obj)
{
	const char	*p = json_string_value(json_object_get(obj, "pattern"));
	size_t		 n, i;
	int		 in_class = 0;

	if (p == NULL || (n = strlen(p)) < 2 || p[0] != '^' || p[n - 1] != '$' ||
	    (n >= 2 && p[n - 2] == '\\'))
		return NULL;
	for (i = 0; i < n; i++) {
		if (p[i] == '\\') {
			i++;
			continue;
		}
		if (!in_class) {
			in_class = p[i] == '[';
			continue;
		}
		if (p[i] == ']')
			in_class = 0;
		else if (strchr("()[{}/|", p[i]) != NULL || (p[i + 1] == p[i] &&
		    strchr("&!#$%*+,.:;<=>?@^`~-", p[i]) != NULL))
			return NULL;
	}
	return p;
}

static int
build_fields(struct schema *s)
{
	const json_t		*props, *p;
	const struct schema_node *n;
	struct form_field	*f;
	size_t			 i;

	if ((s->fields = calloc(s->nprops + 1, sizeof(*s->fields))) == NULL)
		return ERR_NOMEM;
	props = json_object_get(s->doc, "properties");
	for (i = 0; i < s->nprops; i++) {
		f = &s->fields[i];
		p = json_object_get(props, s->props[i].name);
		n = &s->props[i].node;
		f->name = s->props[i].name;
		f->title = str_or(p, "title", f->name);
		f->description = str_or(p, "description", NULL);
		f->type = typenames[n->type];
		f->required = s->props[i].required;
		f->max_items = n->type == SCHEMA_ARRAY ? n->max_items : 1;
		/* A boolean that must be true is a consent: the record keeps
		   what it said (its title) and when. */
		f->consent = n->type == SCHEMA_BOOLEAN && n->constv != NULL &&
		    json_is_true(n->constv);
		if (n->type == SCHEMA_ARRAY) {
			n = n->items;
			p = json_object_get(p, "items");
		}
		f->autocomplete = str_or(p, "x-autocomplete", NULL);
		f->pattern = html_pattern(p);
		f->file = n->format == SCHEMA_FMT_BINARY;
		f->format = formats[n->format];
		f->multiline = n->multiline;
		f->min_length = n->min_length;
		f->max_length = n->max_length;
		if (field_options(n, p, f) != 0)
			return ERR_NOMEM;
	}
	return 0;
}

/* ---- the file ---- */

/* Reads path whole into s->text (capped at SCHEMA_MAX_BYTES). */
static int
read_file(const char *path, struct schema *s, struct diag *d)
{
	struct buf	b;
	char		chunk[8192];
	ssize_t		n;
	int		fd, rc = 0;

	buf_init(&b, SCHEMA_MAX_BYTES);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		diag(d, path, 0, "%s", strerror(errno));
		return ERR_CONFIG;
	}
	while (rc == 0 && (n = read(fd, chunk, sizeof(chunk))) != 0) {
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			diag(d, path, 0, "%s", strerror(errno));
			rc = ERR_CONFIG;
		} else if ((rc = buf_append(&b, chunk, (size_t)n)) ==
		    ERR_TOOBIG) {
			diag(d, path, 0, "the schema is larger than %d bytes",
			    SCHEMA_MAX_BYTES);
			rc = ERR_CONFIG;
		} else if (rc != 0)
			rc = ERR_NOMEM;
	}
	close(fd);
	if (rc == 0 && (s->text = buf_steal(&b, &s->len)) == NULL)
		rc = ERR_NOMEM;
	buf_free(&b);
	return rc;
}

/* PCRE2 allocates through these, so that a test wrapping malloc and free
   at link time (allocation failures in turn) sees PCRE2's allocations. */
static void *
re_malloc(PCRE2_SIZE size, void *unused)
{
	(void)unused;
	return malloc(size);
}

static void
re_free(void *p, void *unused)
{
	(void)unused;
	free(p);
}

/* The contexts kept for matching: the allocator and the limits. */
static int
match_setup(struct schema *s)
{
	s->gctx = pcre2_general_context_create(re_malloc, re_free, NULL);
	if (s->gctx == NULL ||
	    (s->mctx = pcre2_match_context_create(s->gctx)) == NULL)
		return ERR_NOMEM;
	pcre2_set_match_limit(s->mctx, MATCH_LIMIT);
	pcre2_set_depth_limit(s->mctx, DEPTH_LIMIT);
	pcre2_set_heap_limit(s->mctx, HEAP_LIMIT_KIB);
	return 0;
}

/* The compile context, used while loading only; NULL when out of memory. */
static pcre2_compile_context *
compile_setup(pcre2_general_context *g)
{
	pcre2_compile_context	*c;

	if ((c = pcre2_compile_context_create(g)) == NULL)
		return NULL;
	/* "." must stop at what ECMA-262 calls a line terminator: LF, CR,
	   U+2028, U+2029. ANY also stops it at VT, FF and NEL, which never
	   reach a pattern (form.c refuses control characters). */
	pcre2_set_newline(c, PCRE2_NEWLINE_ANY);
	pcre2_set_compile_extra_options(c, PCRE2_EXTRA_ALT_BSUX);
	return c;
}

static int
parse_and_check(const char *path, struct schema *s, struct diag *d)
{
	struct loader	L;
	json_error_t	err;
	int		rc;

	s->doc = json_loadb(s->text, s->len, JSON_REJECT_DUPLICATES, &err);
	if (s->doc == NULL) {
		if (json_error_code(&err) == json_error_out_of_memory)
			return ERR_NOMEM;
		diag(d, path, err.line, "%s", err.text);
		return ERR_CONFIG;
	}
	memset(&L, 0, sizeof(L));
	L.file = path;
	L.d = d;
	L.text = s->text;
	L.len = s->len;
	if ((L.cctx = compile_setup(s->gctx)) == NULL)
		return ERR_NOMEM;
	rc = load_root(&L, s);
	pcre2_compile_context_free(L.cctx);
	if (rc == 0 && L.nomem)
		rc = ERR_NOMEM;
	if (rc == 0 && L.errors)
		rc = ERR_CONFIG;
	return rc;
}

int
schema_load(const char *path, struct schema **out, struct diag *d)
{
	struct schema	*s;
	int		 rc;

	*out = NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return ERR_NOMEM;
	if ((rc = read_file(path, s, d)) == 0 &&
	    (rc = match_setup(s)) == 0 &&
	    (rc = parse_and_check(path, s, d)) == 0)
		rc = build_fields(s);
	if (rc == ERR_NOMEM)
		diag(d, path, 0, "out of memory");
	if (rc != 0) {
		schema_free(s);
		return rc;
	}
	*out = s;
	return 0;
}

static void
node_free(struct schema_node *n)
{
	pcre2_code_free(n->pattern);
	json_decref(n->oneof);
	if (n->items) {
		node_free(n->items);
		free(n->items);
	}
}

void
schema_free(struct schema *s)
{
	size_t	i;

	if (s == NULL)
		return;
	for (i = 0; i < s->nprops; i++)
		node_free(&s->props[i].node);
	for (i = 0; s->fields && i < s->nprops; i++) {
		free((void *)s->fields[i].options);
		free((void *)s->fields[i].option_titles);
	}
	free(s->fields);
	free(s->props);
	json_decref(s->doc);
	free(s->text);
	pcre2_match_context_free(s->mctx);
	pcre2_general_context_free(s->gctx);
	free(s);
}

int
schema_match(const struct schema *s, const struct schema_node *n,
    const char *v, size_t len)
{
	pcre2_match_data	*md;
	int			 rc;

	/* One pair is enough, as only whether it matched is read; one block
	   per call, so that concurrent matches share nothing they write. */
	if ((md = pcre2_match_data_create(1, s->gctx)) == NULL)
		return ERR_NOMEM;
	/* PCRE2_NO_UTF_CHECK: form.c matches only values its clean_text()
	   accepted with utf8_valid(), which holds them to what PCRE2's own
	   check would (shortest forms, no surrogates, nothing past
	   U+10FFFF); PCRE2 would misbehave on anything else. */
	rc = pcre2_match(n->pattern, (PCRE2_SPTR)v, len, 0, PCRE2_NO_UTF_CHECK,
	    md, s->mctx);
	pcre2_match_data_free(md);
	if (rc >= 0)
		return 0;
	switch (rc) {
	case PCRE2_ERROR_NOMEMORY:
		return ERR_NOMEM;
	case PCRE2_ERROR_MATCHLIMIT:
	case PCRE2_ERROR_DEPTHLIMIT:
	case PCRE2_ERROR_HEAPLIMIT:
		return ERR_TOOBIG;
	default:	/* no match, or an error: never an accept */
		return ERR_REJECTED;
	}
}

const char *
schema_text(const struct schema *s, size_t *len)
{
	*len = s->len;
	return s->text;
}

const char *
schema_title(const struct schema *s)
{
	return json_string_value(json_object_get(s->doc, "title"));
}

const char *
schema_description(const struct schema *s)
{
	return json_string_value(json_object_get(s->doc, "description"));
}

const struct form_field *
schema_fields(const struct schema *s, size_t *n)
{
	*n = s->nprops;
	return s->fields;
}
