/*
 * Loading form schemas: reading the file, checking every keyword, compiling
 * patterns, and the field list for the demo page.
 *
 * Line numbers. jansson reports the line of a syntax error but keeps no
 * positions for values, so a semantic error (unknown keyword, bad regex,
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
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "buf.h"
#include "form.h"
#include "schema.h"
#include "log.h"

#define SCHEMA_MAX_BYTES	(1024 * 1024)
#define SCHEMA_MAX_PROPS	256
#define SCHEMA_NAME_MAX		128	/* the body decoders' key cap */
#define PATH_DEPTH		6

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
	{ "minLength",		AT_FIELD,	KW_COUNT,	TY_STR },
	{ "maxLength",		AT_FIELD,	KW_COUNT,	TY_STR },
	{ "pattern",		AT_FIELD,	KW_STRING,	TY_STR },
	{ "format",		AT_FIELD,	KW_STRING,	TY_STR },
	{ "enum",		AT_FIELD,	KW_ARRAY,	TY_SCALAR },
	{ "const",		AT_FIELD,	KW_ANY,		TY_SCALAR },
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

static const char *const formats[] = { NULL, "email", "date", "uri" };

struct loader {
	const char	*file;
	struct diag	*d;
	const char	*text;
	size_t		 len;
	const char	*path[PATH_DEPTH];
	size_t		 depth;
	unsigned	 errors;
	int		 nomem;
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
	if (n->max_length >= 0 && n->min_length > n->max_length)
		lerr(L, "minLength", "minLength is greater than maxLength");
}

/*
 * Rejects what anchoring by wrapping in ^( )$ would change (a stray ')')
 * and back-references (exponential matching). Bracket expressions are
 * skipped, including "[]...]" and "[^]...]" and [:class:] names.
 */
static const char *
pattern_problem(const char *p)
{
	long	depth = 0;

	for (; *p; p++) {
		if (*p == '\\') {
			if (p[1] >= '0' && p[1] <= '9')
				return "back-references are not supported";
			if (p[1] == '\0')
				return "the pattern ends with a backslash";
			p++;
		} else if (*p == '[') {
			p += p[1] == '^' ? 2 : 1;
			if (*p == ']')
				p++;
			while (*p && *p != ']') {
				if (*p == '[' && (p[1] == ':' || p[1] == '=' ||
				    p[1] == '.') && (p = strchr(p + 2, p[1])) ==
				    NULL)
					return "unterminated bracket expression";
				p++;
			}
			if (*p == '\0')
				return "unterminated bracket expression";
		} else if (*p == '(')
			depth++;
		else if (*p == ')' && --depth < 0)
			return "unbalanced parenthesis";
	}
	return depth ? "unbalanced parenthesis" : NULL;
}

static void
load_pattern(struct loader *L, struct schema_node *n, const json_t *obj)
{
	const json_t	*v;
	const char	*why;
	char		*full, err[200];
	size_t		 len;
	int		 rc;

	if ((v = get(obj, "pattern", KW_STRING)) == NULL)
		return;
	if ((why = pattern_problem(json_string_value(v))) != NULL) {
		lerr(L, "pattern", "bad pattern: %s", why);
		return;
	}
	len = json_string_length(v) + 5;
	if ((full = malloc(len)) == NULL ||
	    (n->pattern = malloc(sizeof(*n->pattern))) == NULL) {
		free(full);
		L->nomem = 1;
		return;
	}
	snprintf(full, len, "^(%s)$", json_string_value(v));
	rc = regcomp(n->pattern, full, REG_EXTENDED | REG_NOSUB);
	free(full);
	if (rc != 0) {
		regerror(rc, n->pattern, err, sizeof(err));
		free(n->pattern);
		n->pattern = NULL;
		lerr(L, "pattern", "bad pattern: %s", err);
	}
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
	    "date, uri)", json_string_value(v));
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

/* The enum values as a NULL-terminated array when they are all strings. */
static int
field_options(const struct schema_node *n, const char ***out)
{
	const char	**o;
	const json_t	 *e;
	size_t		  i;

	*out = NULL;
	if (n->enumv == NULL || n->type != SCHEMA_STRING)
		return 0;
	if ((o = calloc(json_array_size(n->enumv) + 1, sizeof(*o))) == NULL)
		return ERR_NOMEM;
	json_array_foreach(n->enumv, i, e)
		o[i] = json_string_value(e);
	*out = o;
	return 0;
}

static int
build_fields(struct schema *s)
{
	const json_t		*props, *p;
	const struct schema_node *n;
	struct form_field	*f;
	const char		**opts;
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
		f->type = typenames[n->type];
		f->required = s->props[i].required;
		if (n->type == SCHEMA_ARRAY)
			n = n->items;
		f->format = formats[n->format];
		f->multiline = n->multiline;
		f->min_length = n->min_length;
		f->max_length = n->max_length;
		if (field_options(n, &opts) != 0)
			return ERR_NOMEM;
		f->options = opts;
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
	rc = load_root(&L, s);
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
	if (n->pattern) {
		regfree(n->pattern);
		free(n->pattern);
	}
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
	for (i = 0; s->fields && i < s->nprops; i++)
		free((void *)s->fields[i].options);
	free(s->fields);
	free(s->props);
	json_decref(s->doc);
	free(s->text);
	free(s);
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

const struct form_field *
schema_fields(const struct schema *s, size_t *n)
{
	*n = s->nprops;
	return s->fields;
}
