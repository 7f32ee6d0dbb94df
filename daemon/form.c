/*
 * Request bodies to validated fields: decoding of urlencoded and JSON
 * bodies, text checks, coercion and the keyword checks. The rules are
 * documented in form.h; schema.c loads what is checked here.
 */
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "addr.h"
#include "buf.h"
#include "clock.h"
#include "form.h"
#include "log.h"
#include "schema.h"
#include "utf8.h"

#define KEY_MAX			128	/* bytes in a field name */
#define ERRORS_MAX		256
#define NUMBER_MAX		100	/* characters in a number */
#define DFL_MAX_FIELDS		64
#define DFL_FIELD_BYTES		(64 * 1024)
#define DFL_JSON_DEPTH		8

struct ctx {
	const struct schema	*s;
	struct form_opts	 o;	/* defaults applied */
	struct form_result	*res;
	size_t			 cap;	/* errors allocated */
	int			 nomem;
};

/* One decoded urlencoded value: malloc'd, NUL-terminated, any bytes. */
struct raw {
	char	*p;
	size_t	 len;
};

/* What an urlencoded body said about one schema property. */
struct slot {
	struct raw	*v;
	size_t		 n;
	unsigned	 seen;		/* occurrences of the key */
	int		 toolong;
};

static const char *const type_msgs[] = {
	"must be text",
	"must be a whole number",
	"must be a number",
	"must be true or false",
	"must be a list of values",
};

/* ---- errors ---- */

static void
free_errors(struct form_result *r)
{
	size_t	i;

	for (i = 0; i < r->nerrors; i++) {
		free(r->errors[i].field);
		free(r->errors[i].code);
		free(r->errors[i].message);
	}
	free(r->errors);
	r->errors = NULL;
	r->nerrors = 0;
}

static void
add_error(struct ctx *c, const char *field, const char *code,
    const char *msg)
{
	struct form_result	*r = c->res;
	struct form_error	*e;
	size_t			 ncap;

	if (r->nerrors >= ERRORS_MAX)
		return;
	if (r->nerrors == c->cap) {
		ncap = c->cap ? c->cap * 2 : 8;
		if ((e = realloc(r->errors, ncap * sizeof(*e))) == NULL) {
			c->nomem = 1;
			return;
		}
		r->errors = e;
		c->cap = ncap;
	}
	e = &r->errors[r->nerrors];
	e->field = strdup(field);
	e->code = strdup(code);
	e->message = strdup(msg);
	if (e->field == NULL || e->code == NULL || e->message == NULL) {
		free(e->field);
		free(e->code);
		free(e->message);
		c->nomem = 1;
		return;
	}
	r->nerrors++;
}

/* An error about field; idx >= 0 names an element of a list (0-based). */
static void LOG_PRINTF(5, 6)
field_error(struct ctx *c, const char *field, long idx, const char *code,
    const char *fmt, ...)
{
	char	msg[256], full[300];
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (idx >= 0)
		snprintf(full, sizeof(full), "item %ld %s", idx + 1, msg);
	else
		snprintf(full, sizeof(full), "%s", msg);
	add_error(c, field, code, full);
}

/* Like add_error, but once per field and code (for repeated keys). */
static void
error_once(struct ctx *c, const char *field, const char *code,
    const char *msg)
{
	size_t	i;

	for (i = 0; i < c->res->nerrors; i++)
		if (strcmp(c->res->errors[i].field, field) == 0 &&
		    strcmp(c->res->errors[i].code, code) == 0)
			return;
	add_error(c, field, code, msg);
}

/* The body cannot be decoded: this becomes the only error. */
static int
malformed(struct ctx *c, const char *msg)
{
	free_errors(c->res);
	c->cap = 0;
	add_error(c, "", "malformed", msg);
	return c->nomem ? ERR_NOMEM : ERR_MALFORMED;
}

static void
set_field(struct ctx *c, json_t *fields, const char *name, json_t *v)
{
	if (v != NULL && json_object_set_new(fields, name, v) == -1)
		c->nomem = 1;
}

/* ---- text ---- */

/*
 * Scans valid UTF-8 for control characters (C0, DEL, C1). Returns 0 when
 * there are none (LF, CR and TAB allowed when multiline), 1 when the only
 * ones are line breaks, 2 otherwise.
 */
static int
control_kind(const char *s, size_t len, int multiline)
{
	const unsigned char	*p = (const unsigned char *)s;
	size_t			 i;
	int			 kind = 0;

	for (i = 0; i < len; i++) {
		if (p[i] == 0xc2 && i + 1 < len && p[i + 1] <= 0x9f)
			return 2;	/* U+0080..U+009F */
		if (p[i] >= 0x20 && p[i] != 0x7f)
			continue;
		if (multiline && (p[i] == '\n' || p[i] == '\r' ||
		    p[i] == '\t'))
			continue;
		if (p[i] != '\n' && p[i] != '\r')
			return 2;
		kind = 1;
	}
	return kind;
}

/*
 * 1 if valid UTF-8 s holds a character that hides or reorders text (bidi
 * controls, zero-width characters, BOM, line and paragraph separators):
 * in a one-line answer such as a name they only ever disguise it.
 */
static int
has_invisible(const char *s, size_t len)
{
	const unsigned char	*p = (const unsigned char *)s;
	size_t			 i, n;
	uint32_t		 cp;

	for (i = 0; i < len; i += n) {
		n = utf8_decode(p + i, len - i, &cp);
		if (n == 0)
			return 1;
		if (n > 1 && (utf8_hidden(cp) || cp == 0x2028 || cp == 0x2029))
			return 1;
	}
	return 0;
}

/* Code points in valid UTF-8: every byte but continuation bytes. */
static long long
count_chars(const char *s, size_t len)
{
	long long	n = 0;
	size_t		i;

	for (i = 0; i < len; i++)
		if (((unsigned char)s[i] & 0xc0) != 0x80)
			n++;
	return n;
}

/* CRLF and lone CR to LF; returns a new JSON string, or NULL (nomem). */
static json_t *
newlines_to_lf(const char *p, size_t len)
{
	json_t	*v;
	char	*q;
	size_t	 i, n = 0;

	if ((q = malloc(len + 1)) == NULL)
		return NULL;
	for (i = 0; i < len; i++) {
		if (p[i] == '\r') {
			q[n++] = '\n';
			if (i + 1 < len && p[i + 1] == '\n')
				i++;
		} else
			q[n++] = p[i];
	}
	v = json_stringn_nocheck(q, n);
	free(q);
	return v;
}

/*
 * Checks one decoded value as text for node n (UTF-8, control characters,
 * newlines in multi-line fields). Returns a new JSON string (normalised) or
 * NULL when an error was recorded or memory ran out.
 */
static json_t *
clean_text(struct ctx *c, const char *field, long idx,
    const struct schema_node *n, const char *p, size_t len)
{
	json_t	*v;
	int	 kind;

	if (!utf8_valid(p, len)) {
		field_error(c, field, idx, "utf8", "is not valid UTF-8 text");
		return NULL;
	}
	if ((kind = control_kind(p, len, n->multiline)) != 0) {
		field_error(c, field, idx, "control", "%s", kind == 1 ?
		    "must be a single line" : n->multiline ?
		    "must not contain control characters other than line "
		    "breaks and tabs" : "must not contain control characters");
		return NULL;
	}
	if (!n->multiline && has_invisible(p, len)) {
		field_error(c, field, idx, "invisible", "must not contain "
		    "invisible formatting characters (direction marks, "
		    "zero-width spaces)");
		return NULL;
	}
	if (n->multiline && memchr(p, '\r', len) != NULL)
		v = newlines_to_lf(p, len);
	else
		v = json_stringn_nocheck(p, len);
	if (v == NULL)
		c->nomem = 1;
	return v;
}

/* ---- coercion of urlencoded strings ---- */

static int
is_digit(char ch)
{
	return ch >= '0' && ch <= '9';
}

static int
parse_bool(const char *s, int *out)
{
	static const char *const yes[] = { "on", "true", "1", "yes" };
	static const char *const no[] = { "off", "false", "0", "no" };
	size_t	i;

	for (i = 0; i < 4; i++) {
		if (strcmp(s, yes[i]) == 0) {
			*out = 1;
			return 0;
		}
		if (strcmp(s, no[i]) == 0) {
			*out = 0;
			return 0;
		}
	}
	return -1;
}

/* [-]digits within int64. */
static int
parse_int(const char *s, size_t len, json_int_t *out)
{
	unsigned long long	mag = 0, limit = LLONG_MAX;
	size_t			i = 0;
	unsigned		d;

	if (len > 0 && s[0] == '-') {
		limit = (unsigned long long)LLONG_MAX + 1;
		i = 1;
	}
	if (i == len)
		return -1;
	for (; i < len; i++) {
		if (!is_digit(s[i]))
			return -1;
		d = (unsigned)(s[i] - '0');
		if (mag > (limit - d) / 10)
			return -1;
		mag = mag * 10 + d;
	}
	if (s[0] != '-')
		*out = (json_int_t)mag;
	else if (mag == (unsigned long long)LLONG_MAX + 1)
		*out = LLONG_MIN;
	else
		*out = -(json_int_t)mag;
	return 0;
}

/* Skips decimal digits from s[*i]; returns how many. */
static size_t
digits(const char *s, size_t len, size_t *i)
{
	size_t	start = *i;

	while (*i < len && is_digit(s[*i]))
		(*i)++;
	return *i - start;
}

/* [-]digits[.digits][e[+-]digits], checked before strtod so that hex, inf,
   nan and spaces never reach it. s must be NUL-terminated at len. */
static int
parse_number(const char *s, size_t len, double *out)
{
	size_t	 i = 0, nd;
	char	*end;
	double	 d;

	if (len > NUMBER_MAX)
		return -1;
	if (i < len && s[i] == '-')
		i++;
	nd = digits(s, len, &i);
	if (i < len && s[i] == '.') {
		i++;
		nd += digits(s, len, &i);
	}
	if (nd == 0)
		return -1;
	if (i < len && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < len && (s[i] == '+' || s[i] == '-'))
			i++;
		if (digits(s, len, &i) == 0)
			return -1;
	}
	if (i != len)
		return -1;
	d = strtod(s, &end);
	if (end != s + len || !isfinite(d))
		return -1;
	*out = d;
	return 0;
}

/* Coerces a checked text value to n's type; NULL after a "type" error or
   when memory ran out. */
static json_t *
coerce(struct ctx *c, const char *field, long idx,
    const struct schema_node *n, json_t *str)
{
	const char	*s = json_string_value(str);
	size_t		 len = json_string_length(str);
	json_t		*v = NULL;
	json_int_t	 i;
	double		 d;
	int		 b;

	switch (n->type) {
	case SCHEMA_STRING:
		return json_incref(str);
	case SCHEMA_BOOLEAN:
		if (parse_bool(s, &b) == 0 && (v = json_boolean(b)) == NULL)
			c->nomem = 1;
		break;
	case SCHEMA_INTEGER:
		if (parse_int(s, len, &i) == 0 && (v = json_integer(i)) == NULL)
			c->nomem = 1;
		break;
	case SCHEMA_NUMBER:
		if (parse_number(s, len, &d) == 0 && (v = json_real(d)) == NULL)
			c->nomem = 1;
		break;
	case SCHEMA_ARRAY:
		break;
	}
	if (v == NULL && !c->nomem)
		field_error(c, field, idx, "type", "%s", type_msgs[n->type]);
	return v;
}

/* ---- formats ---- */

static int
is_hex(char ch)
{
	return is_digit(ch) || (ch >= 'a' && ch <= 'f') ||
	    (ch >= 'A' && ch <= 'F');
}

/* Printable ASCII allowed in a URI, with valid %XX escapes. */
static int
uri_chars_ok(const char *s, size_t len)
{
	size_t	i;

	for (i = 0; i < len; i++) {
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f ||
		    strchr("\"<>\\^`{|}", s[i]) != NULL)
			return 0;
		if (s[i] == '%' && (i + 2 >= len || !is_hex(s[i + 1]) ||
		    !is_hex(s[i + 2])))
			return 0;
	}
	return 1;
}

/* An absolute http or https URI with a host name and an optional port;
   no user information (a classic way to disguise the real host). */
static int
is_uri(const char *s, size_t len)
{
	const char	*colon;
	size_t		 skip, alen, hlen, i;

	if (!uri_chars_ok(s, len))
		return 0;
	if (len >= 7 && strncasecmp(s, "http://", 7) == 0)
		skip = 7;
	else if (len >= 8 && strncasecmp(s, "https://", 8) == 0)
		skip = 8;
	else
		return 0;
	s += skip;
	len -= skip;
	alen = strcspn(s, "/?#");
	if (alen > len)
		alen = len;
	if (memchr(s, '@', alen) != NULL)
		return 0;
	colon = memchr(s, ':', alen);
	hlen = colon ? (size_t)(colon - s) : alen;
	if (hlen < alen) {
		if (alen - hlen < 2 || alen - hlen > 6)
			return 0;
		for (i = hlen + 1; i < alen; i++)
			if (!is_digit(s[i]))
				return 0;
	}
	return addr_host_valid(s, hlen, ADDR_PUBLIC);
}

/* ---- keyword checks on a typed value ---- */

static int
same_value(const struct schema_node *n, const json_t *a, const json_t *b)
{
	if (n->type == SCHEMA_NUMBER)
		return json_is_number(a) && json_is_number(b) &&
		    json_number_value(a) == json_number_value(b);
	return json_equal((json_t *)a, (json_t *)b);
}

static void
check_choice(struct ctx *c, const char *field, long idx,
    const struct schema_node *n, const json_t *v)
{
	const json_t	*e;
	size_t		 i;

	if (n->constv && !same_value(n, n->constv, v))
		field_error(c, field, idx, "const", "%s",
		    json_is_true(n->constv) ? "must be accepted" :
		    "does not have the value this form requires");
	if (n->enumv == NULL)
		return;
	json_array_foreach(n->enumv, i, e)
		if (same_value(n, e, v))
			return;
	field_error(c, field, idx, "enum", "must be one of the listed options");
}

static void
check_pattern(struct ctx *c, const char *field, long idx,
    const struct schema_node *n, const char *s, size_t len)
{
	int	rc = schema_match(c->s, n, s, len);

	if (rc == ERR_NOMEM)
		c->nomem = 1;
	else if (rc == ERR_TOOBIG)
		field_error(c, field, idx, "pattern", "is too long or too "
		    "complex to check against the expected format");
	else if (rc != 0)
		field_error(c, field, idx, "pattern",
		    "is not in the expected format");
}

static void
check_string(struct ctx *c, const char *field, long idx,
    const struct schema_node *n, const json_t *v)
{
	static const char *const fmt_msgs[] = { "",
		"must be a valid email address",
		"must be a date in the form YYYY-MM-DD",
		"must be a web address starting with http:// or https://" };
	const char	*s = json_string_value(v);
	size_t		 len = json_string_length(v);
	long long	 chars = count_chars(s, len);
	int		 ok = 1;

	if (n->min_length >= 0 && chars < n->min_length)
		field_error(c, field, idx, "minLength", "must be at least %lld "
		    "character%s", n->min_length, n->min_length == 1 ? "" : "s");
	if (n->max_length >= 0 && chars > n->max_length)
		field_error(c, field, idx, "maxLength", "must be at most %lld "
		    "character%s", n->max_length, n->max_length == 1 ? "" : "s");
	if (n->pattern)
		check_pattern(c, field, idx, n, s, len);
	if (n->format == SCHEMA_FMT_EMAIL)
		ok = addr_valid(s, len, ADDR_PUBLIC);
	else if (n->format == SCHEMA_FMT_DATE)
		ok = clock_date_valid(s, len);
	else if (n->format == SCHEMA_FMT_URI)
		ok = is_uri(s, len);
	if (!ok)
		field_error(c, field, idx, "format", "%s", fmt_msgs[n->format]);
}

static void
check_range(struct ctx *c, const char *field, long idx,
    const struct schema_node *n, const json_t *v)
{
	if (n->type == SCHEMA_INTEGER) {
		if (n->has_min && json_integer_value(v) < n->imin)
			field_error(c, field, idx, "minimum",
			    "must be at least %lld", (long long)n->imin);
		if (n->has_max && json_integer_value(v) > n->imax)
			field_error(c, field, idx, "maximum",
			    "must be at most %lld", (long long)n->imax);
		return;
	}
	if (n->has_min && json_number_value(v) < n->dmin)
		field_error(c, field, idx, "minimum", "must be at least %g",
		    n->dmin);
	if (n->has_max && json_number_value(v) > n->dmax)
		field_error(c, field, idx, "maximum", "must be at most %g",
		    n->dmax);
}

/* Every keyword of scalar node n against v, which has n's type. */
static void
check_value(struct ctx *c, const char *field, long idx,
    const struct schema_node *n, const json_t *v)
{
	if (n->type == SCHEMA_STRING)
		check_string(c, field, idx, n, v);
	else if (n->type == SCHEMA_INTEGER || n->type == SCHEMA_NUMBER)
		check_range(c, field, idx, n, v);
	check_choice(c, field, idx, n, v);
}

static void
absent(struct ctx *c, const struct schema_prop *p)
{
	if (!p->required)
		return;
	if (p->node.type == SCHEMA_BOOLEAN && p->node.constv &&
	    json_is_true(p->node.constv))
		field_error(c, p->name, -1, "required", "must be accepted");
	else
		field_error(c, p->name, -1, "required", "is required");
}

/* A field that takes files ("format": "binary", on the items of a list). */
static int
is_file(const struct schema_prop *p)
{
	const struct schema_node	*n = &p->node;

	if (n->type == SCHEMA_ARRAY)
		n = n->items;
	return n->format == SCHEMA_FMT_BINARY;
}

/*
 * A file field is never text: a value sent for it in the body is an
 * error, and what counts is how many files the multipart body brought
 * (files_arg), checked against required and maxItems like a list.
 */
static void
file_prop(struct ctx *c, const struct schema_prop *p, int has_text)
{
	unsigned	n = c->o.files ? c->o.files(c->o.files_arg, p->name) : 0;

	if (has_text) {
		field_error(c, p->name, -1, "notAFile", "must be uploaded as "
		    "a file");
		return;
	}
	if (n == 0) {
		absent(c, p);
		return;
	}
	if (p->node.type == SCHEMA_ARRAY &&
	    p->node.max_items >= 0 && n > (size_t)p->node.max_items)
		field_error(c, p->name, -1, "maxItems", "must have at most "
		    "%lld file%s", p->node.max_items,
		    p->node.max_items == 1 ? "" : "s");
}

static void
too_many_items(struct ctx *c, const struct schema_prop *p, size_t n)
{
	if (p->node.max_items >= 0 && n > (size_t)p->node.max_items)
		field_error(c, p->name, -1, "maxItems", "must have at most "
		    "%lld item%s", p->node.max_items,
		    p->node.max_items == 1 ? "" : "s");
}

/* ---- options and names ---- */

static void
ctx_init(struct ctx *c, const struct schema *s, const struct form_opts *o,
    struct form_result *res)
{
	memset(c, 0, sizeof(*c));
	c->s = s;
	c->res = res;
	if (o)
		c->o = *o;
	if (c->o.max_fields == 0)
		c->o.max_fields = DFL_MAX_FIELDS;
	if (c->o.max_field_bytes == 0)
		c->o.max_field_bytes = DFL_FIELD_BYTES;
	if (c->o.max_json_depth == 0)
		c->o.max_json_depth = DFL_JSON_DEPTH;
}

static const struct schema_prop *
find_prop(const struct schema *s, const char *name)
{
	size_t	i;

	for (i = 0; i < s->nprops; i++)
		if (strcmp(s->props[i].name, name) == 0)
			return &s->props[i];
	return NULL;
}

static int
is_honeypot(const struct ctx *c, const char *name)
{
	return c->o.honeypot && strcmp(c->o.honeypot, name) == 0;
}

static int
is_token(const struct ctx *c, const char *name)
{
	return c->o.token_field && strcmp(c->o.token_field, name) == 0;
}

/* Keeps the token's bytes; a second one is an error, not a choice. */
static void
take_token(struct ctx *c, const char *key, const char *p, size_t len)
{
	if (c->res->token != NULL) {
		error_once(c, key, "duplicate", "was sent more than once");
		return;
	}
	if ((c->res->token = malloc(len + 1)) == NULL) {
		c->nomem = 1;
		return;
	}
	memcpy(c->res->token, p, len);
	c->res->token[len] = '\0';
	c->res->tokenlen = len;
}

/* Field names must be short, valid, control-free text (they are echoed in
   errors and become JSON keys). */
static int
check_name(struct ctx *c, const char *name, size_t len)
{
	if (len == 0)
		return malformed(c, "the body has a field without a name");
	if (len > KEY_MAX || !utf8_valid(name, len) ||
	    control_kind(name, len, 0) != 0)
		return malformed(c, "the body has a field name that is too "
		    "long or not valid text");
	return 0;
}

/* A plain single-line text node for keys not in the schema. */
static void
extra_node(struct schema_node *n)
{
	memset(n, 0, sizeof(*n));
	n->type = SCHEMA_STRING;
	n->min_length = n->max_length = n->max_items = -1;
}

/* ---- urlencoded ---- */

static int
hexval(char ch)
{
	if (is_digit(ch))
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* Decodes p..end ('+' and %XX) into a new NUL-terminated buffer. */
static int
pct_decode(struct ctx *c, const char *p, const char *end, struct raw *out)
{
	char	*q;
	size_t	 n = 0;
	int	 hi, lo;

	if ((q = malloc((size_t)(end - p) + 1)) == NULL) {
		c->nomem = 1;
		return ERR_NOMEM;
	}
	while (p < end) {
		if (*p == '+') {
			q[n++] = ' ';
			p++;
		} else if (*p != '%')
			q[n++] = *p++;
		else if (end - p < 3 || (hi = hexval(p[1])) < 0 ||
		    (lo = hexval(p[2])) < 0) {
			free(q);
			return malformed(c, "the body has an invalid "
			    "percent-escape (% must be followed by two hex "
			    "digits)");
		} else {
			q[n++] = (char)(hi << 4 | lo);
			p += 3;
		}
	}
	q[n] = '\0';
	out->p = q;
	out->len = n;
	return 0;
}

/* A key not in the schema: an error, or kept as single-line text. */
static void
url_extra(struct ctx *c, const char *key, const struct raw *val,
    json_t *extras)
{
	struct schema_node	 n;
	json_t			*v = NULL;

	if (!c->s->additional) {
		error_once(c, key, "additionalProperties",
		    "is not a field of this form");
		return;
	}
	if (json_object_get(extras, key) != NULL)
		error_once(c, key, "duplicate", "was sent more than once");
	else if (val->len > c->o.max_field_bytes)
		field_error(c, key, -1, "tooLong", "is longer than this "
		    "server accepts");
	else if (val->len > 0) {
		extra_node(&n);
		v = clean_text(c, key, -1, &n, val->p, val->len);
	}
	/* null marks "seen" so that a repeat is noticed */
	if (json_object_set_new(extras, key, v ? v : json_null()) == -1)
		c->nomem = 1;
}

/* Files one decoded pair; takes val->p when it keeps the value. */
static int
url_store(struct ctx *c, const char *key, struct raw *val,
    struct slot *slots, json_t *extras)
{
	const struct schema_prop	*p;
	struct slot			*sl;
	struct raw			*nv;

	if (is_honeypot(c, key)) {
		if (val->len > 0)
			c->res->honeypot = 1;
		return 0;
	}
	if (is_token(c, key)) {
		take_token(c, key, val->p, val->len);
		return 0;
	}
	if ((p = find_prop(c->s, key)) == NULL) {
		url_extra(c, key, val, extras);
		return 0;
	}
	sl = &slots[p - c->s->props];
	if (++sl->seen > 1 && p->node.type != SCHEMA_ARRAY)
		return 0;
	if (val->len > c->o.max_field_bytes) {
		sl->toolong = 1;
		return 0;
	}
	if ((nv = realloc(sl->v, (sl->n + 1) * sizeof(*nv))) == NULL) {
		c->nomem = 1;
		return ERR_NOMEM;
	}
	sl->v = nv;
	sl->v[sl->n++] = *val;
	val->p = NULL;
	return 0;
}

/* One "key=value" (or "key") segment p..end. */
static int
url_pair(struct ctx *c, const char *p, const char *end, struct slot *slots,
    json_t *extras)
{
	const char	*eq;
	struct raw	 key = { NULL, 0 }, val = { NULL, 0 };
	int		 rc;

	if ((eq = memchr(p, '=', (size_t)(end - p))) == NULL)
		eq = end;
	if ((rc = pct_decode(c, p, eq, &key)) != 0 ||
	    (rc = check_name(c, key.p, key.len)) != 0 ||
	    (rc = pct_decode(c, eq < end ? eq + 1 : end, end, &val)) != 0)
		goto out;
	rc = url_store(c, key.p, &val, slots, extras);
out:
	free(key.p);
	free(val.p);
	return rc;
}

/* Splits the body on '&' and files every pair (empty segments skipped). */
static int
url_split(struct ctx *c, const char *body, size_t len, struct slot *slots,
    json_t *extras)
{
	const char	*p = body, *end = body + len, *amp;
	unsigned	 count = 0;
	int		 rc;

	while (p < end) {
		if ((amp = memchr(p, '&', (size_t)(end - p))) == NULL)
			amp = end;
		if (amp > p) {
			if (++count > c->o.max_fields) {
				add_error(c, "", "tooMany", "the form has too "
				    "many fields");
				return ERR_REJECTED;
			}
			if ((rc = url_pair(c, p, amp, slots, extras)) != 0)
				return rc;
		}
		if (amp == end)
			break;
		p = amp + 1;
	}
	return 0;
}

/* Text check, coercion and keywords for one urlencoded value. */
static json_t *
url_value(struct ctx *c, const char *field, long idx,
    const struct schema_node *n, const struct raw *r)
{
	json_t	*str, *v;

	if ((str = clean_text(c, field, idx, n, r->p, r->len)) == NULL)
		return NULL;
	v = coerce(c, field, idx, n, str);
	json_decref(str);
	if (v)
		check_value(c, field, idx, n, v);
	return v;
}

static json_t *
url_list(struct ctx *c, const struct schema_prop *p, const struct slot *sl,
    size_t nonempty)
{
	json_t	*list, *v;
	size_t	 i;
	long	 idx = 0;

	too_many_items(c, p, nonempty);
	if ((list = json_array()) == NULL) {
		c->nomem = 1;
		return NULL;
	}
	for (i = 0; i < sl->n; i++) {
		if (sl->v[i].len == 0)
			continue;
		v = url_value(c, p->name, idx++, p->node.items, &sl->v[i]);
		if (v && json_array_append_new(list, v) == -1)
			c->nomem = 1;
	}
	return list;
}

static void
url_prop(struct ctx *c, const struct schema_prop *p, const struct slot *sl,
    json_t *fields)
{
	size_t	i, nonempty = 0;

	if (sl->seen > 1 && p->node.type != SCHEMA_ARRAY) {
		field_error(c, p->name, -1, "duplicate",
		    "was sent more than once");
		return;
	}
	if (sl->toolong) {
		field_error(c, p->name, -1, "tooLong",
		    "is longer than this server accepts");
		return;
	}
	for (i = 0; i < sl->n; i++)
		if (sl->v[i].len > 0)
			nonempty++;
	if (is_file(p))
		file_prop(c, p, nonempty > 0);
	else if (nonempty == 0)
		absent(c, p);
	else if (p->node.type == SCHEMA_ARRAY)
		set_field(c, fields, p->name, url_list(c, p, sl, nonempty));
	else
		set_field(c, fields, p->name,
		    url_value(c, p->name, -1, &p->node, &sl->v[0]));
}

/* Appends the kept unknown keys (null marks seen-but-empty ones). */
static void
merge_extras(struct ctx *c, json_t *fields, json_t *extras)
{
	const char	*key;
	json_t		*v;

	json_object_foreach(extras, key, v)
		if (!json_is_null(v) && json_object_set(fields, key, v) == -1)
			c->nomem = 1;
}

/*
 * What the patient typed, fit to show again: a byte that is no UTF-8 as
 * U+FFFD, control and invisible characters dropped (line breaks kept in
 * multi-line fields). The page escapes it; this keeps it readable text.
 */
static json_t *
answer_text(const struct raw *r, int multiline)
{
	const unsigned char	*p = (const unsigned char *)r->p;
	struct buf		 b;
	json_t			*v;
	size_t			 i, n;
	uint32_t		 cp;

	buf_init(&b, 4 * r->len + 1);
	for (i = 0; i < r->len; i += n) {
		if ((n = utf8_decode(p + i, r->len - i, &cp)) == 0) {
			buf_puts(&b, "\xef\xbf\xbd");
			n = 1;
		} else if (multiline && (cp == '\n' || cp == '\t'))
			buf_putc(&b, (char)cp);
		else if (!utf8_hidden(cp) && cp != 0x2028 && cp != 0x2029)
			buf_append(&b, p + i, n);
	}
	v = json_stringn(b.data ? b.data : "", b.len);
	buf_free(&b);
	return v;
}

/* Every schema field's answers, for the form page shown again with its
   errors: a string, or a list for a list field. */
static json_t *
answers(const struct schema *s, const struct slot *slots)
{
	const struct schema_node	*n;
	json_t				*out = json_object(), *v, *list;
	size_t				 i, j;

	for (i = 0; out && i < s->nprops; i++) {
		n = &s->props[i].node;
		if (slots[i].n == 0)
			continue;
		if (n->type != SCHEMA_ARRAY)
			v = answer_text(&slots[i].v[0], n->multiline);
		else {
			v = list = json_array();
			for (j = 0; list && j < slots[i].n; j++)
				json_array_append_new(list,
				    answer_text(&slots[i].v[j], 0));
		}
		if (v == NULL || json_object_set_new(out, s->props[i].name,
		    v) != 0) {
			json_decref(out);
			return NULL;
		}
	}
	return out;
}

static int
parse_urlencoded(struct ctx *c, const char *body, size_t len,
    json_t *fields)
{
	const struct schema	*s = c->s;
	struct slot		*slots;
	json_t			*extras;
	size_t			 i, j;
	int			 rc = ERR_NOMEM;

	slots = calloc(s->nprops + 1, sizeof(*slots));
	extras = json_object();
	if (slots == NULL || extras == NULL)
		goto out;
	if ((rc = url_split(c, body, len, slots, extras)) != 0)
		goto out;
	for (i = 0; i < s->nprops; i++)
		if (!is_honeypot(c, s->props[i].name))
			url_prop(c, &s->props[i], &slots[i], fields);
	merge_extras(c, fields, extras);
	if ((c->res->nerrors > 0 || c->o.keep_answers) &&
	    (c->res->answers = answers(s, slots)) == NULL)
		c->nomem = 1;
out:
	for (i = 0; slots && i < s->nprops; i++) {
		for (j = 0; j < slots[i].n; j++)
			free(slots[i].v[j].p);
		free(slots[i].v);
	}
	free(slots);
	json_decref(extras);
	return rc;
}

/* ---- JSON ---- */

/* 1 if v nests containers deeper than max (the top-level value is at
   depth 1); stops descending as soon as it knows. */
static int
too_deep(const json_t *v, unsigned depth, unsigned max)
{
	const char	*key;
	json_t		*e;
	size_t		 i;

	if (!json_is_object(v) && !json_is_array(v))
		return 0;
	if (depth > max)
		return 1;
	if (json_is_array(v)) {
		json_array_foreach(v, i, e)
			if (too_deep(e, depth + 1, max))
				return 1;
		return 0;
	}
	json_object_foreach((json_t *)v, key, e)
		if (too_deep(e, depth + 1, max))
			return 1;
	return 0;
}

/* A new copy of the JSON scalar v as a value of n's type, or NULL after
   a "type" (or text) error or when memory ran out. */
static json_t *
json_scalar(struct ctx *c, const char *field, long idx,
    const struct schema_node *n, const json_t *v)
{
	json_t	*out = NULL;
	double	 d;
	int	 fits = 1;

	if (n->type == SCHEMA_STRING && json_is_string(v)) {
		if (json_string_length(v) > c->o.max_field_bytes) {
			field_error(c, field, idx, "tooLong",
			    "is longer than this server accepts");
			return NULL;
		}
		return clean_text(c, field, idx, n, json_string_value(v),
		    json_string_length(v));
	}
	if (n->type == SCHEMA_INTEGER && json_is_integer(v))
		out = json_integer(json_integer_value(v));
	else if (n->type == SCHEMA_INTEGER && json_is_real(v) &&
	    (d = json_real_value(v)) >= -9223372036854775808.0 &&
	    d < 9223372036854775808.0 && d == (double)(json_int_t)d)
		out = json_integer((json_int_t)d);
	else if (n->type == SCHEMA_NUMBER && json_is_number(v))
		out = json_is_integer(v) ? json_integer(json_integer_value(v))
		    : json_real(json_real_value(v));
	else if (n->type == SCHEMA_BOOLEAN && json_is_boolean(v))
		out = json_boolean(json_is_true(v));
	else
		fits = 0;
	if (!fits)
		field_error(c, field, idx, "type", "%s", type_msgs[n->type]);
	else if (out == NULL)
		c->nomem = 1;
	return out;
}

/* json_scalar then the keyword checks. */
static json_t *
json_value(struct ctx *c, const char *field, long idx,
    const struct schema_node *n, const json_t *v)
{
	json_t	*out;

	if ((out = json_scalar(c, field, idx, n, v)) != NULL)
		check_value(c, field, idx, n, out);
	return out;
}

static json_t *
json_list(struct ctx *c, const struct schema_prop *p, const json_t *in)
{
	json_t	*list, *e, *v;
	size_t	 i;

	if (!json_is_array(in)) {
		field_error(c, p->name, -1, "type", "%s",
		    type_msgs[SCHEMA_ARRAY]);
		return NULL;
	}
	if (json_array_size(in) > c->o.max_fields) {
		field_error(c, p->name, -1, "tooMany", "has too many items");
		return NULL;
	}
	too_many_items(c, p, json_array_size(in));
	if ((list = json_array()) == NULL) {
		c->nomem = 1;
		return NULL;
	}
	json_array_foreach(in, i, e) {
		v = json_value(c, p->name, (long)i, p->node.items, e);
		if (v && json_array_append_new(list, v) == -1)
			c->nomem = 1;
	}
	return list;
}

static int
json_absent(const struct schema_prop *p, const json_t *v)
{
	return v == NULL || json_is_null(v) ||
	    (json_is_string(v) && json_string_length(v) == 0) ||
	    (p->node.type == SCHEMA_ARRAY && json_is_array(v) &&
	    json_array_size(v) == 0);
}

static void
json_extra(struct ctx *c, const char *key, const json_t *v, json_t *fields)
{
	struct schema_node	n;

	if (!c->s->additional) {
		add_error(c, key, "additionalProperties",
		    "is not a field of this form");
		return;
	}
	if (json_is_null(v) || (json_is_string(v) && json_string_length(v) == 0))
		return;
	if (json_is_object(v) || json_is_array(v)) {
		field_error(c, key, -1, "depth",
		    "must be a single value, not a list or object");
		return;
	}
	extra_node(&n);
	if (json_is_integer(v))
		n.type = SCHEMA_INTEGER;
	else if (json_is_real(v))
		n.type = SCHEMA_NUMBER;
	else if (json_is_boolean(v))
		n.type = SCHEMA_BOOLEAN;
	set_field(c, fields, key, json_scalar(c, key, -1, &n, v));
}

/* Names and the honeypot first, so that a bad name is the only error. */
static int
json_names(struct ctx *c, const json_t *doc)
{
	const char	*key;
	json_t		*v;
	int		 rc;

	json_object_foreach((json_t *)doc, key, v) {
		if ((rc = check_name(c, key, strlen(key))) != 0)
			return rc;
		if (is_honeypot(c, key) && !json_is_null(v) &&
		    !(json_is_string(v) && json_string_length(v) == 0))
			c->res->honeypot = 1;
		if (is_token(c, key) && json_is_string(v))
			take_token(c, key, json_string_value(v),
			    json_string_length(v));
		else if (is_token(c, key))
			field_error(c, key, -1, "type", "must be text");
	}
	return 0;
}

static int
json_fields(struct ctx *c, const json_t *doc, json_t *fields)
{
	const struct schema_prop	*p;
	const char			*key;
	json_t				*v;
	size_t				 i;
	int				 rc;

	if ((rc = json_names(c, doc)) != 0)
		return rc;
	for (i = 0; i < c->s->nprops; i++) {
		p = &c->s->props[i];
		v = json_object_get(doc, p->name);
		if (is_honeypot(c, p->name))
			continue;
		if (is_file(p))
			file_prop(c, p, !json_absent(p, v));
		else if (json_absent(p, v))
			absent(c, p);
		else if (p->node.type == SCHEMA_ARRAY)
			set_field(c, fields, p->name, json_list(c, p, v));
		else
			set_field(c, fields, p->name,
			    json_value(c, p->name, -1, &p->node, v));
	}
	json_object_foreach((json_t *)doc, key, v)
		if (!is_honeypot(c, key) && !is_token(c, key) &&
		    find_prop(c->s, key) == NULL)
			json_extra(c, key, v, fields);
	return 0;
}

static int
json_failure(struct ctx *c, const json_error_t *err)
{
	switch (json_error_code(err)) {
	case json_error_out_of_memory:
		c->nomem = 1;
		return ERR_NOMEM;
	case json_error_duplicate_key:
		add_error(c, "", "duplicate", "the JSON body repeats a field");
		return ERR_REJECTED;
	case json_error_stack_overflow:
		add_error(c, "", "depth", "the JSON body is nested too deeply");
		return ERR_REJECTED;
	default:
		return malformed(c, "the body is not valid JSON");
	}
}

static int
parse_json(struct ctx *c, const char *body, size_t len, json_t *fields)
{
	json_error_t	 err;
	json_t		*doc;
	int		 rc = 0;

	doc = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY,
	    &err);
	if (doc == NULL)
		return json_failure(c, &err);
	if (!json_is_object(doc))
		rc = malformed(c, "the JSON body must be an object");
	else if (too_deep(doc, 1, c->o.max_json_depth)) {
		add_error(c, "", "depth", "the JSON body is nested too deeply");
		rc = ERR_REJECTED;
	} else if (json_object_size(doc) > c->o.max_fields) {
		add_error(c, "", "tooMany", "the form has too many fields");
		rc = ERR_REJECTED;
	} else
		rc = json_fields(c, doc, fields);
	json_decref(doc);
	return rc;
}

/* ---- entry points ---- */

int
form_parse(const struct schema *s, enum form_ctype ctype, const char *body,
    size_t len, const struct form_opts *opts, struct form_result *res)
{
	struct ctx	 c;
	json_t		*fields;
	int		 rc;

	memset(res, 0, sizeof(*res));
	ctx_init(&c, s, opts, res);
	if ((fields = json_object()) == NULL)
		return ERR_NOMEM;
	if (ctype == FORM_JSON)
		rc = parse_json(&c, body, len, fields);
	else
		rc = parse_urlencoded(&c, body, len, fields);
	if (c.nomem)
		rc = ERR_NOMEM;
	else if (rc == 0 && res->nerrors > 0)
		rc = ERR_REJECTED;
	if (rc == 0)
		res->fields = fields;
	else
		json_decref(fields);
	return rc;
}

void
form_result_free(struct form_result *res)
{
	json_decref(res->fields);
	res->fields = NULL;
	json_decref(res->answers);
	res->answers = NULL;
	free(res->token);
	res->token = NULL;
	res->tokenlen = 0;
	free_errors(res);
	res->honeypot = 0;
}

