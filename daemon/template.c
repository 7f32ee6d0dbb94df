#include <sys/stat.h>

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "buf.h"
#include "log.h"
#include "template.h"
#include "utf8.h"

/*
 * A template is parsed once into a flat array of nodes. Text and names live
 * in one pool; a section node records where its body ends, so rendering is a
 * walk over index ranges with no string scanning. Each variable is resolved
 * at load time to the scope it comes from (0 = the context, k = the item of
 * the k-th enclosing list section), so rendering never searches outward and
 * a list item can never pick up an unrelated outer key by accident.
 */

#define TMPL_MAXSIZE	(256 * 1024)	/* bytes in one template file */
#define TMPL_MAXDEPTH	16		/* nested sections */
#define TMPL_MAXERRORS	20		/* diagnostics before giving up */
#define TMPL_NAMEMAX	64		/* characters of a tag name */

enum node_type {
	N_TEXT,
	N_VAR,		/* escaped in TMPL_HTML mode */
	N_RAW,
	N_SECTION,
	N_INVERTED,
};

struct node {
	uint32_t	off;	/* pool offset: text, or NUL-terminated name */
	uint32_t	len;	/* text length */
	uint32_t	end;	/* sections: index of the node after the body */
	uint8_t		type;
	uint8_t		level;	/* scope the name resolves in */
	uint8_t		list;	/* section over a list: pushes one scope */
};

struct tmpl {
	struct node	*nodes;
	size_t		 nnodes;
	char		*pool;
	enum tmpl_mode	 mode;
};

/* One tag as found in the source. */
struct tag {
	char		 kind;	/* 0 for {{name}}, '{' for {{{name}}}, or sigil */
	const char	*name;
	size_t		 namelen;
	size_t		 start;	/* offset of the opening braces */
	size_t		 end;	/* offset just past the closing braces */
	int		 line;
};

struct open_section {
	size_t		 node;
	const char	*name;
	size_t		 namelen;
	int		 line;
	int		 pushed;	/* opened a list scope */
};

struct parser {
	const char		*file;
	const char		*text;
	size_t			 len;
	size_t			 pos;
	int			 line;	/* line number at lpos */
	size_t			 lpos;
	struct diag		*d;
	unsigned		 errors;
	struct tmpl		*t;
	size_t			 nodecap;
	struct buf		 pool;
	const struct tmpl_var	*scopes[TMPL_MAXDEPTH + 1];
	size_t			 nscopes;
	struct open_section	 open[TMPL_MAXDEPTH];
	size_t			 nopen;
};

/* Returns the 1-based line of offset off; offsets must be asked in order. */
static int
line_at(struct parser *p, size_t off)
{
	for (; p->lpos < off; p->lpos++)
		if (p->text[p->lpos] == '\n')
			p->line++;
	return p->line;
}

static void
perr(struct parser *p, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Reports one problem as "file:line: reason" and counts it. */
static void
perr(struct parser *p, int line, const char *fmt, ...)
{
	char	msg[400];
	va_list	ap;

	p->errors++;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	diag(p->d, p->file, line, "%s", msg);
}

/* Checks that the whole text is UTF-8 without NUL bytes; reports the line. */
static int
check_text(struct parser *p)
{
	const unsigned char	*s = (const unsigned char *)p->text;
	size_t			 i = 0, n;

	while (i < p->len) {
		if (s[i] == '\0') {
			perr(p, line_at(p, i), "NUL byte in template");
			return -1;
		}
		if ((n = utf8_seqlen(s + i, p->len - i)) == 0) {
			perr(p, line_at(p, i), "invalid UTF-8");
			return -1;
		}
		i += n;
	}
	p->line = 1;
	p->lpos = 0;
	return 0;
}

/* Appends a node; returns its index or -1 when out of memory. */
static long
add_node(struct parser *p, enum node_type type, uint32_t off, uint32_t len)
{
	struct node	*n;
	size_t		 cap;

	if (p->t->nnodes == p->nodecap) {
		cap = p->nodecap ? p->nodecap * 2 : 32;
		if ((n = reallocarray(p->t->nodes, cap, sizeof(*n))) == NULL)
			return -1;
		p->t->nodes = n;
		p->nodecap = cap;
	}
	n = &p->t->nodes[p->t->nnodes];
	memset(n, 0, sizeof(*n));
	n->type = (uint8_t)type;
	n->off = off;
	n->len = len;
	return (long)p->t->nnodes++;
}

/* Copies text [from, to) into the pool as a text node. */
static int
add_text(struct parser *p, size_t from, size_t to)
{
	size_t	off = p->pool.len;

	if (from >= to)
		return 0;
	if (buf_append(&p->pool, p->text + from, to - from) != 0)
		return ERR_NOMEM;
	if (add_node(p, N_TEXT, (uint32_t)off, (uint32_t)(to - from)) < 0)
		return ERR_NOMEM;
	return 0;
}

static int
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Trims whitespace around [*s, *s + *n). */
static void
trim(const char **s, size_t *n)
{
	while (*n > 0 && is_space(**s))
		(*s)++, (*n)--;
	while (*n > 0 && is_space((*s)[*n - 1]))
		(*n)--;
}

/*
 * Finds the end of the tag opening at tg->start and splits it into kind and
 * name. Returns 0, or -1 (reported) when the tag is never closed.
 */
static int
scan_tag(struct parser *p, struct tag *tg)
{
	const char	*body = p->text + tg->start + 2, *close;
	size_t		 avail = p->len - tg->start - 2, n;
	int		 triple = avail > 0 && body[0] == '{';

	tg->line = line_at(p, tg->start);
	close = memmem(body, avail, triple ? "}}}" : "}}", triple ? 3 : 2);
	if (close == NULL) {
		perr(p, tg->line, "unterminated tag");
		return -1;
	}
	n = (size_t)(close - body);
	tg->end = (size_t)(close - p->text) + (triple ? 3 : 2);
	if (triple) {
		tg->kind = '{';
		body++, n--;
	} else {
		trim(&body, &n);
		tg->kind = 0;
		if (n > 0 && strchr("#^/!=>&", body[0]) != NULL)
			tg->kind = *body++, n--;
	}
	trim(&body, &n);
	tg->name = body;
	tg->namelen = n;
	return 0;
}

/* Checks the name's spelling; reports and returns -1 when it is unusable. */
static int
check_name(struct parser *p, const struct tag *tg)
{
	size_t	i;
	char	c;

	if (tg->namelen == 0) {
		perr(p, tg->line, "empty tag name");
		return -1;
	}
	if (tg->namelen > TMPL_NAMEMAX) {
		perr(p, tg->line, "tag name longer than %d characters",
		    TMPL_NAMEMAX);
		return -1;
	}
	for (i = 0; i < tg->namelen; i++) {
		c = tg->name[i];
		if (c == '.') {
			perr(p, tg->line, "dotted names are not supported: "
			    "\"%.*s\"", (int)tg->namelen, tg->name);
			return -1;
		}
		if (!(c >= 'a' && c <= 'z') && !(c >= 'A' && c <= 'Z') &&
		    !(c >= '0' && c <= '9') && c != '_' && c != '-') {
			perr(p, tg->line, "invalid character in tag name");
			return -1;
		}
	}
	return 0;
}

/*
 * Finds the promised variable named by tg, innermost scope first. Returns it
 * and sets *level, or reports an unknown variable and returns NULL.
 */
static const struct tmpl_var *
resolve(struct parser *p, const struct tag *tg, uint8_t *level)
{
	const struct tmpl_var	*v;
	size_t			 k;

	for (k = p->nscopes; k-- > 0;) {
		for (v = p->scopes[k]; v != NULL && v->name != NULL; v++) {
			if (strlen(v->name) == tg->namelen &&
			    memcmp(v->name, tg->name, tg->namelen) == 0) {
				*level = (uint8_t)k;
				return v;
			}
		}
	}
	perr(p, tg->line, "unknown variable \"%.*s\"", (int)tg->namelen,
	    tg->name);
	return NULL;
}

/* Adds a node naming tg's variable; the name goes to the pool with a NUL. */
static long
add_named(struct parser *p, enum node_type type, const struct tag *tg,
    uint8_t level)
{
	size_t	off = p->pool.len;
	long	i;

	if (buf_append(&p->pool, tg->name, tg->namelen) != 0 ||
	    buf_putc(&p->pool, '\0') != 0)
		return -1;
	if ((i = add_node(p, type, (uint32_t)off, 0)) < 0)
		return -1;
	p->t->nodes[i].level = level;
	return i;
}

/* {{name}} and {{{name}}}: a list cannot be printed as a value. */
static int
on_var(struct parser *p, const struct tag *tg)
{
	const struct tmpl_var	*v;
	uint8_t			 level;

	if (check_name(p, tg) == -1 || (v = resolve(p, tg, &level)) == NULL)
		return 0;
	if (v->items != NULL) {
		perr(p, tg->line, "list \"%s\" used as a value; "
		    "use {{#%s}}...{{/%s}}", v->name, v->name, v->name);
		return 0;
	}
	if (add_named(p, tg->kind == '{' ? N_RAW : N_VAR, tg, level) < 0)
		return ERR_NOMEM;
	return 0;
}

/*
 * {{#name}} and {{^name}}: opens a section. A {{#list}} brings the items'
 * variables into scope; an inverted list is shown only when there are no
 * items, so it does not. Returns ERR_CONFIG (reported) when nesting is too
 * deep.
 */
static int
on_open(struct parser *p, const struct tag *tg)
{
	const struct tmpl_var	*v = NULL;
	struct open_section	*o;
	uint8_t			 level = 0;
	long			 i;

	if (p->nopen == TMPL_MAXDEPTH) {
		perr(p, tg->line, "sections nested deeper than %d",
		    TMPL_MAXDEPTH);
		return ERR_CONFIG;
	}
	if (check_name(p, tg) == 0)
		v = resolve(p, tg, &level);
	i = add_named(p, tg->kind == '#' ? N_SECTION : N_INVERTED, tg, level);
	if (i < 0)
		return ERR_NOMEM;
	o = &p->open[p->nopen++];
	o->node = (size_t)i;
	o->name = tg->name;
	o->namelen = tg->namelen;
	o->line = tg->line;
	o->pushed = 0;
	if (v != NULL && v->items != NULL && tg->kind == '#') {
		p->t->nodes[i].list = 1;
		p->scopes[p->nscopes++] = v->items;
		o->pushed = 1;
	}
	return 0;
}

/* {{/name}}: must close the innermost open section; ERR_CONFIG (reported)
   when it does not. */
static int
on_close(struct parser *p, const struct tag *tg)
{
	struct open_section	*o;

	if (p->nopen == 0) {
		perr(p, tg->line, "{{/%.*s}} closes no open section",
		    (int)tg->namelen, tg->name);
		return ERR_CONFIG;
	}
	o = &p->open[p->nopen - 1];
	if (o->namelen != tg->namelen ||
	    memcmp(o->name, tg->name, tg->namelen) != 0) {
		perr(p, tg->line, "{{/%.*s}} does not match {{%c%.*s}} "
		    "opened at line %d", (int)tg->namelen, tg->name,
		    p->t->nodes[o->node].type == N_SECTION ? '#' : '^',
		    (int)o->namelen, o->name, o->line);
		return ERR_CONFIG;
	}
	p->t->nodes[o->node].end = (uint32_t)p->t->nnodes;
	if (o->pushed)
		p->nscopes--;
	p->nopen--;
	return 0;
}

/*
 * Sections and comments alone on their line take the line with them (as in
 * Mustache), so text templates do not fill up with blank lines. Returns the
 * offset where the line starts, and sets *next past its newline, when the
 * tag stands alone; otherwise returns tg->start and *next = tg->end.
 */
static size_t
standalone(const struct parser *p, const struct tag *tg, size_t *next)
{
	size_t	b = tg->start, e = tg->end;

	*next = tg->end;
	if (tg->kind == 0 || tg->kind == '{')
		return tg->start;
	while (b > p->pos && (p->text[b - 1] == ' ' || p->text[b - 1] == '\t'))
		b--;
	if (b > 0 && p->text[b - 1] != '\n')
		return tg->start;
	while (e < p->len && (p->text[e] == ' ' || p->text[e] == '\t'))
		e++;
	if (e < p->len && p->text[e] == '\r' && e + 1 < p->len &&
	    p->text[e + 1] == '\n')
		e++;
	if (e < p->len && p->text[e] != '\n')
		return tg->start;
	*next = e < p->len ? e + 1 : e;
	return b;
}

/* Handles one tag. Returns 0, ERR_CONFIG to stop (reported) or ERR_NOMEM. */
static int
on_tag(struct parser *p, const struct tag *tg)
{
	switch (tg->kind) {
	case '!':
		return 0;
	case '=':
		perr(p, tg->line, "set delimiters ({{=...=}}) are not "
		    "supported");
		return 0;
	case '>':
		perr(p, tg->line, "partials ({{>...}}) are not supported");
		return 0;
	case '&':
		perr(p, tg->line, "{{&...}} is not supported; use {{{...}}}");
		return 0;
	case '#':
	case '^':
		return on_open(p, tg);
	case '/':
		return on_close(p, tg);
	default:
		return on_var(p, tg);
	}
}

/* The parse loop: text up to each "{{", then the tag. */
static int
parse(struct parser *p)
{
	struct tag	 tg;
	const char	*s;
	size_t		 cut, next;
	int		 r;

	while (p->pos < p->len) {
		if (p->errors >= TMPL_MAXERRORS)
			return ERR_CONFIG;
		s = memmem(p->text + p->pos, p->len - p->pos, "{{", 2);
		if (s == NULL)
			return add_text(p, p->pos, p->len);
		memset(&tg, 0, sizeof(tg));
		tg.start = (size_t)(s - p->text);
		if (scan_tag(p, &tg) == -1)
			return ERR_CONFIG;
		cut = standalone(p, &tg, &next);
		if ((r = add_text(p, p->pos, cut)) != 0)
			return r;
		if ((r = on_tag(p, &tg)) != 0)
			return r;
		p->pos = next;
	}
	return 0;
}

/* After the last tag: every section must have been closed. */
static void
check_unclosed(struct parser *p)
{
	const struct open_section	*o;
	size_t				 i;

	for (i = p->nopen; i-- > 0;) {
		o = &p->open[i];
		perr(p, o->line, "section {{%c%.*s}} is never closed",
		    p->t->nodes[o->node].type == N_SECTION ? '#' : '^',
		    (int)o->namelen, o->name);
	}
}

static void
discard(struct diag *d, const char *line)
{
	(void)d;
	(void)line;
}

/*
 * Parses text (len bytes, need not be NUL-terminated) against the promised
 * variables. On success *out is a new template owned by the caller; on
 * failure every problem found has been reported to d and *out is NULL.
 */
int
template_parse(const char *name, const char *text, size_t len,
    enum tmpl_mode mode, const struct tmpl_var *vars, struct tmpl **out,
    struct diag *d)
{
	struct diag	quiet = { 0, discard, NULL };
	struct parser	p;
	int		r = ERR_CONFIG;

	*out = NULL;
	if (d == NULL)
		d = &quiet;
	memset(&p, 0, sizeof(p));
	p.file = name;
	p.text = text;
	p.len = len;
	p.line = 1;
	p.d = d;
	p.scopes[p.nscopes++] = vars;
	if (len > TMPL_MAXSIZE) {
		perr(&p, 0, "template too large (%zu bytes, max %d)", len,
		    TMPL_MAXSIZE);
		return ERR_CONFIG;
	}
	if (check_text(&p) == -1)
		return ERR_CONFIG;
	if ((p.t = calloc(1, sizeof(*p.t))) == NULL)
		return ERR_NOMEM;
	p.t->mode = mode;
	buf_init(&p.pool, 0);
	if ((r = parse(&p)) == ERR_NOMEM)
		goto out;
	if (r == 0)
		check_unclosed(&p);
	if (p.errors > 0) {
		r = ERR_CONFIG;
		goto out;
	}
	if ((p.t->pool = buf_steal(&p.pool, NULL)) == NULL) {
		r = ERR_NOMEM;
		goto out;
	}
	*out = p.t;
	return 0;
out:
	buf_free(&p.pool);
	template_free(p.t);
	return r;
}

/* Reads at most TMPL_MAXSIZE + 1 bytes of a regular file into b. */
static int
read_file(const char *path, struct buf *b, struct diag *d)
{
	struct stat	st;
	char		chunk[8192];
	ssize_t		n;
	int		fd, r = ERR_IO;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		diag(d, path, 0, "cannot open: %s", strerror(errno));
		return ERR_IO;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		diag(d, path, 0, "not a regular file");
		goto out;
	}
	while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			diag(d, path, 0, "read: %s", strerror(errno));
			goto out;
		}
		if (buf_append(b, chunk, (size_t)n) != 0) {
			diag(d, path, 0, "template too large (max %d bytes)",
			    TMPL_MAXSIZE);
			r = ERR_CONFIG;
			goto out;
		}
	}
	r = 0;
out:
	close(fd);
	return r;
}

/* Loads and parses the file at path; see template_parse. */
int
template_load(const char *path, enum tmpl_mode mode,
    const struct tmpl_var *vars, struct tmpl **out, struct diag *d)
{
	struct diag	quiet = { 0, discard, NULL };
	struct buf	b;
	int		r;

	*out = NULL;
	if (d == NULL)
		d = &quiet;
	buf_init(&b, TMPL_MAXSIZE);
	if ((r = read_file(path, &b, d)) == 0)
		r = template_parse(path, b.data ? b.data : "", b.len, mode,
		    vars, out, d);
	buf_free(&b);
	return r;
}

void
template_free(struct tmpl *t)
{
	if (t == NULL)
		return;
	free(t->nodes);
	free(t->pool);
	free(t);
}


/* Truncates out back to mark after a failed append. */
static void
rewind_to(struct buf *out, size_t mark)
{
	out->len = mark;
	if (out->data != NULL)
		out->data[mark] = '\0';
}

/* Appends s escaped for HTML text and quoted attribute values. */
int
html_escape(struct buf *out, const char *s, size_t len)
{
	const char	*rep;
	size_t		 i, run = 0, mark = out->len;
	int		 r;

	for (i = 0; i < len; i++) {
		switch (s[i]) {
		case '&': rep = "&amp;"; break;
		case '<': rep = "&lt;"; break;
		case '>': rep = "&gt;"; break;
		case '"': rep = "&quot;"; break;
		case '\'': rep = "&#39;"; break;
		default: continue;
		}
		if ((r = buf_append(out, s + run, i - run)) != 0 ||
		    (r = buf_puts(out, rep)) != 0)
			goto fail;
		run = i + 1;
	}
	if ((r = buf_append(out, s + run, len - run)) == 0)
		return 0;
fail:
	rewind_to(out, mark);
	return r;
}

/* Prints a real with the fewest digits that read back as the same value. */
static int
put_real(struct buf *out, double v)
{
	char	s[32];
	int	prec;

	for (prec = 15; prec < 17; prec++) {
		snprintf(s, sizeof(s), "%.*g", prec, v);
		if (strtod(s, NULL) == v)
			break;
	}
	snprintf(s, sizeof(s), "%.*g", prec, v);
	return buf_puts(out, s);
}

/* Appends one value: strings (escaped unless raw), numbers, booleans. */
static int
put_value(struct buf *out, const json_t *v, int escape)
{
	const char	*s;
	size_t		 n;

	if (v == NULL)
		return 0;
	switch (json_typeof(v)) {
	case JSON_STRING:
		s = json_string_value(v);
		n = json_string_length(v);
		if (escape)
			return html_escape(out, s, n);
		return buf_append(out, s, n);
	case JSON_INTEGER:
		return buf_printf(out, "%" JSON_INTEGER_FORMAT,
		    json_integer_value(v));
	case JSON_REAL:
		return put_real(out, json_real_value(v));
	case JSON_TRUE:
		return buf_puts(out, "true");
	case JSON_FALSE:
		return buf_puts(out, "false");
	default:
		return 0;
	}
}

/* Whether a section over v is shown (once, or per item for a list). */
static int
truthy(const json_t *v)
{
	if (v == NULL)
		return 0;
	switch (json_typeof(v)) {
	case JSON_TRUE:
	case JSON_INTEGER:
	case JSON_REAL:
	case JSON_OBJECT:
		return 1;
	case JSON_STRING:
		return json_string_length(v) > 0;
	case JSON_ARRAY:
		return json_array_size(v) > 0;
	default:
		return 0;
	}
}

struct render {
	const struct tmpl	*t;
	struct buf		*out;
	const json_t		*scope[TMPL_MAXDEPTH + 1];
	size_t			 depth;
};

static const json_t *
lookup(const struct render *r, const struct node *n)
{
	const json_t	*obj;

	if (n->level >= r->depth)
		return NULL;
	obj = r->scope[n->level];
	if (!json_is_object(obj))
		return NULL;
	return json_object_get(obj, r->t->pool + n->off);
}

static int	render_range(struct render *, size_t, size_t);

/* Renders a section body with item as the new innermost scope. */
static int
render_item(struct render *r, const json_t *item, size_t from, size_t to)
{
	int	rc;

	r->scope[r->depth++] = json_is_object(item) ? item : NULL;
	rc = render_range(r, from, to);
	r->depth--;
	return rc;
}

/*
 * A list section repeats its body per item (a non-list value that is shown
 * still gets an empty scope so that levels stay aligned with the parse);
 * any other section shows its body once.
 */
static int
render_section(struct render *r, const struct node *n, size_t i)
{
	const json_t	*v = lookup(r, n), *item;
	size_t		 k;
	int		 rc;

	if (n->type == N_INVERTED)
		return truthy(v) ? 0 : render_range(r, i + 1, n->end);
	if (!truthy(v))
		return 0;
	if (!n->list)
		return render_range(r, i + 1, n->end);
	if (!json_is_array(v))
		return render_item(r, NULL, i + 1, n->end);
	json_array_foreach(v, k, item) {
		if ((rc = render_item(r, item, i + 1, n->end)) != 0)
			return rc;
	}
	return 0;
}

/* Renders nodes [from, to). */
static int
render_range(struct render *r, size_t from, size_t to)
{
	const struct node	*n;
	size_t			 i = from;
	int			 rc;

	while (i < to) {
		n = &r->t->nodes[i];
		switch (n->type) {
		case N_TEXT:
			rc = buf_append(r->out, r->t->pool + n->off,
			    n->len);
			i++;
			break;
		case N_VAR:
		case N_RAW:
			rc = put_value(r->out, lookup(r, n),
			    n->type == N_VAR && r->t->mode == TMPL_HTML);
			i++;
			break;
		default:
			rc = render_section(r, n, i);
			i = n->end;
			break;
		}
		if (rc != 0)
			return rc;
	}
	return 0;
}

/*
 * Appends the rendering to out. On failure out is restored to its length on
 * entry, so a half-rendered page can never be sent.
 */
int
template_render(const struct tmpl *t, const json_t *ctx, struct buf *out)
{
	struct render	r;
	size_t		mark = out->len;
	int		rc;

	memset(&r, 0, sizeof(r));
	r.t = t;
	r.out = out;
	r.scope[r.depth++] = ctx;
	if ((rc = render_range(&r, 0, t->nnodes)) != 0)
		rewind_to(out, mark);
	return rc;
}
