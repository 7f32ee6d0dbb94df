#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>
#include <sodium.h>

#include "addr.h"
#include "buf.h"
#include "message.h"
#include "template.h"
#include "utf8.h"
#include "uuid.h"

/*
 * Everything is appended through a "sticky" writer: the first buffer error
 * is kept and later writes do nothing, so composing code reads as a list of
 * puts with one check at the end.
 */
struct out {
	struct buf	*b;
	int		 err;	/* BUF_* of the first failure */
};

#define LINE_MAX_HDR	78	/* RFC 5322 recommended header line length */
#define WORD_BYTES	45	/* bytes per encoded word: 60 base64 chars */
#define QP_COLS		75	/* + "=" of a soft break = 76 */
#define B64_IN		57	/* bytes per 76-column base64 line */
#define LOCAL_MAX	64
#define NAME_FIELD_MAX	200	/* bytes of a display name we keep */
#define NAME_FIELD	"name"	/* the field that names the patient */

static const struct tmpl_var field_vars[] = {
	{ "name", NULL }, { "label", NULL }, { "value", NULL }, { NULL, NULL }
};

static const struct tmpl_var file_vars[] = {
	{ "n", NULL }, { "filename", NULL }, { "type", NULL }, { "size", NULL },
	{ "attached_as", NULL }, { NULL, NULL }
};

/* The variables promised to notify.txt and notify.html. */
static const struct tmpl_var notify_vars[] = {
	{ "id", NULL }, { "form", NULL }, { "title", NULL },
	{ "received_at", NULL }, { "full", NULL }, { "summary", NULL },
	{ "sealed", NULL }, { "fields", field_vars }, { "intakectl", NULL },
	{ "files", file_vars }, { "files_attached", NULL }, { "inbox", NULL },
	{ NULL, NULL }
};

static const struct tmpl_var ack_vars[] = {
	{ "name", NULL }, { "title", NULL }, { NULL, NULL }
};

static const struct tmpl_var subject_vars[] = {
	{ "id", NULL }, { "form", NULL }, { "title", NULL }, { NULL, NULL }
};


static void
putn(struct out *o, const void *p, size_t n)
{
	if (o->err == 0)
		o->err = buf_append(o->b, p, n);
}

static void
put(struct out *o, const char *s)
{
	putn(o, s, strlen(s));
}

static void putf(struct out *, const char *, ...)
    __attribute__((format(printf, 2, 3)));

/* Short formatted pieces only (header fragments); longer is a bug. */
static void
putf(struct out *o, const char *fmt, ...)
{
	char	s[1024];
	va_list	ap;
	int	n;

	va_start(ap, fmt);
	n = vsnprintf(s, sizeof(s), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(s)) {
		if (o->err == 0)
			o->err = ERR_TOOBIG;
		return;
	}
	putn(o, s, (size_t)n);
}

static int
out_result(const struct out *o)
{
	switch (o->err) {
	case 0:		return 0;
	case ERR_TOOBIG:	return ERR_TOOBIG;
	default:		return ERR_NOMEM;
	}
}

static int
tmpl_result(int r)
{
	switch (r) {
	case 0:		return 0;
	case ERR_TOOBIG:	return ERR_TOOBIG;
	default:		return ERR_NOMEM;
	}
}

/* Drops what was appended past mark, wiping it: it may hold fields. */
static void
rewind_wipe(struct buf *b, size_t mark)
{
	if (b->data == NULL)
		return;
	sodium_memzero(b->data + mark, b->cap - mark);
	b->len = mark;
}

/*
 * Copies s into o with each control character (CR and LF included) turned
 * into a space, each byte that does not start valid UTF-8 into '?', and
 * runs of spaces and the outer spaces removed. This is the only way a
 * value reaches a header.
 */
static void
sanitize(struct out *o, const char *s, size_t max)
{
	const unsigned char	*p = (const unsigned char *)s;
	size_t			 n = strlen(s), i = 0, k, start = o->b->len;
	int			 space = 1;

	if (n > max)
		n = max;
	while (i < n) {
		if (p[i] < 0x20 || p[i] == 0x7f || p[i] == ' ') {
			if (!space)
				putn(o, " ", 1);
			space = 1;
			i++;
			continue;
		}
		space = 0;
		if ((k = utf8_seqlen(p + i, n - i)) == 0) {
			putn(o, "?", 1);
			i++;
			continue;
		}
		putn(o, p + i, k);
		i += k;
	}
	if (o->err == 0 && o->b->len > start &&
	    o->b->data[o->b->len - 1] == ' ')
		o->b->data[--o->b->len] = '\0';
}

/* 1 if s[0..n) may stand in a header as is: printable ASCII, no "=?". */
static int
plain_ascii(const char *s, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if (s[i] < 0x20 || s[i] > 0x7e)
			return 0;
	return memmem(s, n, "=?", 2) == NULL;
}

/* 1 if s is a phrase of atext words (RFC 5322 3.2.3) and spaces. */
static int
plain_phrase(const char *s, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if (s[i] != ' ' && !addr_atext(s[i]))
			return 0;
	return memmem(s, n, "=?", 2) == NULL;
}

/*
 * Appends s[0..n) (sanitized UTF-8) as RFC 2047 "B" encoded words,
 * never splitting a character, separated by a folding CRLF SP so each
 * header line stays within 78 columns; col is where the first word
 * starts. A word holds at most WORD_BYTES bytes (72 columns).
 */
static void
put_words(struct out *o, const char *s, size_t n, size_t col)
{
	char	b64[sodium_base64_ENCODED_LEN(WORD_BYTES,
		    sodium_base64_VARIANT_ORIGINAL)];
	size_t	i = 0, take, k, max;

	/* 12 columns of "=?UTF-8?B?" "?=", 4 per 3 bytes. */
	max = col + 12 + 8 <= LINE_MAX_HDR ? (LINE_MAX_HDR - col - 12) / 4 * 3 :
	    WORD_BYTES;
	if (max > WORD_BYTES)
		max = WORD_BYTES;
	while (i < n) {
		take = 0;
		while (i + take < n) {
			k = utf8_seqlen((const unsigned char *)s + i + take,
			    n - i - take);
			if (k == 0)
				k = 1;	/* cannot happen after sanitize */
			if (take + k > max && take > 0)
				break;
			take += k;
		}
		sodium_bin2base64(b64, sizeof(b64),
		    (const unsigned char *)s + i, take,
		    sodium_base64_VARIANT_ORIGINAL);
		if (i > 0)
			put(o, "\r\n ");
		putf(o, "=?UTF-8?B?%s?=", b64);
		i += take;
		max = WORD_BYTES;
	}
}

/* "Name: value" CRLF with the value sanitized and encoded as needed. */
static void
put_header(struct out *o, const char *name, const char *value)
{
	struct buf	v;
	struct out	vo = { &v, 0 };

	buf_init(&v, 4096);
	sanitize(&vo, value, 2048);
	if (vo.err != 0) {
		if (o->err == 0)
			o->err = vo.err;
		buf_free(&v);
		return;
	}
	putf(o, "%s: ", name);
	if (v.len == 0)
		;
	else if (plain_ascii(v.data, v.len) &&
	    strlen(name) + 2 + v.len <= LINE_MAX_HDR)
		putn(o, v.data, v.len);
	else
		put_words(o, v.data, v.len, strlen(name) + 2);
	put(o, "\r\n");
	buf_free(&v);
}

int
message_header(struct buf *b, const char *name, const char *value)
{
	struct out	o = { b, 0 };

	put_header(&o, name, value);
	return out_result(&o);
}

/*
 * "Name: display <addr>" CRLF. addr must already be valid; the display
 * name is sanitized and encoded unless it is a short plain phrase.
 */
static void
put_addr_header(struct out *o, const char *name, const char *display,
    const char *addr)
{
	struct buf	v;
	struct out	vo = { &v, 0 };

	buf_init(&v, 4096);
	if (display)
		sanitize(&vo, display, NAME_FIELD_MAX);
	putf(o, "%s: ", name);
	if (vo.err == 0 && v.len > 0) {
		if (plain_phrase(v.data, v.len) && strlen(name) + 2 + v.len +
		    strlen(addr) + 3 <= LINE_MAX_HDR)
			putn(o, v.data, v.len);
		else {
			put_words(o, v.data, v.len, strlen(name) + 2);
			put(o, "\r\n");
		}
		put(o, " ");
	}
	putf(o, "<%s>\r\n", addr);
	buf_free(&v);
}

/* "To: a," CRLF " b" CRLF: one address per line. */
static void
put_addr_list(struct out *o, const char *name, char *const *addr, size_t n)
{
	size_t	i;

	putf(o, "%s: ", name);
	for (i = 0; i < n; i++)
		putf(o, "%s<%s>%s", i ? " " : "", addr[i],
		    i + 1 < n ? ",\r\n" : "\r\n");
}

const char *
message_field_addr(const json_t *fields, const char *field)
{
	const json_t	*v;

	if (fields == NULL || field == NULL ||
	    (v = json_object_get(fields, field)) == NULL ||
	    !json_is_string(v) || !addr_valid_str(json_string_value(v), 0))
		return NULL;
	return json_string_value(v);
}

/* 1 when the text ahead of i (after a space) ends the line. */
static int
at_line_end(const char *t, size_t i, size_t len)
{
	return i + 1 == len || t[i + 1] == '\n' ||
	    (t[i + 1] == '\r' && i + 2 < len && t[i + 2] == '\n');
}

/*
 * Quoted-printable (RFC 2045 6.7): LF or CRLF become CRLF hard breaks,
 * soft breaks keep lines at 76 columns, '=' and non-printable bytes are
 * escaped, as are trailing whitespace and a '.' opening a line (so no
 * transport ever sees a lone "." line). The output ends with CRLF.
 */
static void
put_qp(struct out *o, const char *t, size_t len)
{
	static const char	 hex[] = "0123456789ABCDEF";
	/* One output line at a time: a call into buf per byte was 5 % of a
	   submission's CPU. QP_COLS, then "=\r\n" or "\r\n". */
	char			 line[QP_COLS + 3];
	size_t			 i, col = 0, tl;
	unsigned char		 c;

	for (i = 0; i < len; i++) {
		c = (unsigned char)t[i];
		if (c == '\n' || (c == '\r' && i + 1 < len && t[i + 1] == '\n')) {
			memcpy(line + col, "\r\n", 2);
			putn(o, line, col + 2);
			col = 0;
			i += c == '\r';
			continue;
		}
		tl = 1;
		if (!((c >= 33 && c <= 126 && c != '=') ||
		    ((c == ' ' || c == '\t') && !at_line_end(t, i, len))))
			tl = 3;
		if (col + tl > QP_COLS) {
			memcpy(line + col, "=\r\n", 3);
			putn(o, line, col + 3);
			col = 0;
		}
		if (c == '.' && col == 0)
			tl = 3;
		if (tl == 3) {
			line[col++] = '=';
			line[col++] = hex[c >> 4];
			line[col++] = hex[c & 15];
		} else
			line[col++] = (char)c;
	}
	if (col > 0) {
		memcpy(line + col, "\r\n", 2);
		putn(o, line, col + 2);
	}
}

int
message_qp(struct buf *b, const char *t, size_t len)
{
	struct out	o = { b, 0 };

	put_qp(&o, t, len);
	return out_result(&o);
}

static void
put_base64(struct out *o, const void *p, size_t len)
{
	char			 line[sodium_base64_ENCODED_LEN(B64_IN,
				     sodium_base64_VARIANT_ORIGINAL)];
	const unsigned char	*s = p;
	size_t			 i, take;

	for (i = 0; i < len && o->err == 0; i += take) {
		take = len - i < B64_IN ? len - i : B64_IN;
		sodium_bin2base64(line, sizeof(line), s + i, take,
		    sodium_base64_VARIANT_ORIGINAL);
		put(o, line);
		put(o, "\r\n");
	}
}

int
message_base64(struct buf *b, const void *p, size_t len)
{
	struct out	o = { b, 0 };

	put_base64(&o, p, len);
	return out_result(&o);
}

static void
put_date(struct out *o, int64_t ms)
{
	char	date[CLOCK_DATE_LEN];

	clock_mail_date(ms, date);
	putf(o, "Date: %s\r\n", date);
}

/* Ids and kinds end up in Message-ID and boundaries: keep them tame. */
static int
token_valid(const char *s, size_t max)
{
	size_t	n;

	if (s == NULL || (n = strlen(s)) == 0 || n > max)
		return 0;
	return strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-") == n;
}

/* Date, From, To, Subject, Message-ID and the auto-mail markers. */
static void
put_common(struct out *o, const char *id, const char *kind,
    const char *from, char *const *to, size_t nto, const char *subject,
    int64_t date_ms)
{
	put_date(o, date_ms);
	putf(o, "From: <%s>\r\n", from);
	put_addr_list(o, "To", to, nto);
	put_header(o, "Subject", subject);
	putf(o, "Message-ID: <%s.%s@%s>\r\n", id, kind, strchr(from, '@') + 1);
	put(o, "Auto-Submitted: auto-generated\r\n");
	put(o, "X-Auto-Response-Suppress: All\r\n");
	put(o, "MIME-Version: 1.0\r\n");
}

/* One leaf part's header lines and body. */
static void
put_text_part(struct out *o, const char *subtype, const struct buf *body)
{
	putf(o, "Content-Type: text/%s; charset=utf-8\r\n", subtype);
	put(o, "Content-Transfer-Encoding: quoted-printable\r\n\r\n");
	put_qp(o, body->data ? body->data : "", body->len);
}

/*
 * Human text of one field value: strings as given, booleans as yes/no,
 * numbers in JSON form, lists joined by ", ". Objects and nulls (no
 * text) leave v empty.
 */
static int
value_text(const json_t *v, struct buf *s)
{
	const json_t	*item;
	size_t		 i;
	char		*num;
	int		 r = 0;

	switch (json_typeof(v)) {
	case JSON_STRING:
		return buf_append(s, json_string_value(v),
		    json_string_length(v));
	case JSON_TRUE:
	case JSON_FALSE:
		return buf_puts(s, json_is_true(v) ? "yes" : "no");
	case JSON_INTEGER:
	case JSON_REAL:
		if ((num = json_dumps(v, JSON_ENCODE_ANY)) == NULL)
			return ERR_NOMEM;
		r = buf_puts(s, num);
		free(num);
		return r;
	case JSON_ARRAY:
		json_array_foreach(v, i, item) {
			if (r == 0 && i > 0)
				r = buf_puts(s, ", ");
			if (r == 0)
				r = value_text(item, s);
		}
		return r;
	default:
		return 0;
	}
}

/*
 * Keeps a value's text to the lines it may have: a multi-line field keeps
 * LF (CRLF becomes LF) and tab, any other control character becomes a
 * space, so a one-line field is one line in the mail too.
 */
static void
flatten(struct buf *s, int multiline)
{
	size_t	i, o = 0;
	char	c;

	for (i = 0; i < s->len; i++) {
		c = s->data[i];
		if (multiline && c == '\r' && i + 1 < s->len &&
		    s->data[i + 1] == '\n')
			continue;
		if ((unsigned char)c < 0x20 || c == 0x7f)
			if (!multiline || (c != '\n' && c != '\t'))
				c = ' ';
		s->data[o++] = c;
	}
	s->len = o;
	if (s->data)
		s->data[o] = '\0';
}

/* Appends {name, label, value} to list unless the value has no text. */
static int
add_field(json_t *list, const char *name, const char *label,
    const json_t *v, int multiline)
{
	struct buf	 s;
	json_t		*item;
	int		 r;

	buf_init(&s, 0);
	if ((r = value_text(v, &s)) == 0)
		flatten(&s, multiline);
	if (r != 0 || s.len == 0) {
		buf_wipe(&s);
		return r;
	}
	item = json_pack("{s:s, s:s, s:s%}", "name", name, "label", label,
	    "value", s.data, s.len);
	buf_wipe(&s);
	if (item == NULL || json_array_append_new(list, item) == -1)
		return ERR_NOMEM;
	return 0;
}

/* Was name listed by the schema (so already shown in schema order)? */
static int
in_labels(const struct message_notify *n, const char *name)
{
	size_t	i;

	for (i = 0; i < n->nlabels; i++)
		if (strcmp(n->labels[i].name, name) == 0)
			return 1;
	return 0;
}

/* The fields list: schema order and titles first, then any others
   (validation let their newlines through, so they keep them). */
static json_t *
field_list(const struct message_notify *n)
{
	const struct form_field	*f;
	const char		*key;
	const json_t		*v;
	json_t			*list;
	size_t			 i;

	if ((list = json_array()) == NULL)
		return NULL;
	for (i = 0; i < n->nlabels; i++) {
		f = &n->labels[i];
		if ((v = json_object_get(n->fields, f->name)) != NULL &&
		    add_field(list, f->name, f->title ? f->title : f->name,
		    v, f->multiline) != 0)
			goto fail;
	}
	json_object_foreach((json_t *)n->fields, key, v) {
		if (!in_labels(n, key) &&
		    add_field(list, key, key, v, 1) != 0)
			goto fail;
	}
	return list;
fail:
	json_decref(list);
	return NULL;
}

/* A JSON string of s with control characters as spaces (one line). */
static json_t *
one_line(const char *s)
{
	struct buf	 b;
	json_t		*j;

	buf_init(&b, 0);
	if (buf_puts(&b, s) != 0) {
		buf_free(&b);
		return NULL;
	}
	flatten(&b, 0);
	j = json_stringn(b.data, b.len);
	buf_free(&b);
	return j;
}

/* Bytes as a person reads them: "812 B", "64.0 KiB", "5.0 MiB". */
static void
human_size(uint64_t n, char *out, size_t len)
{
	if (n < 1024)
		snprintf(out, len, "%u B", (unsigned)n);
	else if (n < 1024 * 1024)
		snprintf(out, len, "%.1f KiB", (double)n / 1024);
	else
		snprintf(out, len, "%.1f MiB", (double)n / (1024 * 1024));
}

/* The files list: number, type and size; the name only for content=full,
   since it is the patient's words as much as a field is. */
static json_t *
file_list(const struct message_notify *n)
{
	const struct message_file	*f;
	char				 size[32], as[96];
	json_t				*list, *name;
	size_t				 i;

	if ((list = json_array()) == NULL)
		return NULL;
	for (i = 0; i < n->nfiles; i++) {
		f = &n->files[i];
		human_size(f->size, size, sizeof(size));
		if (n->attach)
			snprintf(as, sizeof(as), "%s-%zu.age", n->id, i + 1);
		else
			as[0] = '\0';
		name = n->content == CONTENT_FULL && f->filename ?
		    one_line(f->filename) : json_string("");
		if (json_array_append_new(list, json_pack("{s:I, s:o, s:s, "
		    "s:s, s:s}", "n", (json_int_t)(i + 1), "filename", name,
		    "type", f->type ? f->type : "", "size", size,
		    "attached_as", as)) != 0) {
			json_decref(list);
			return NULL;
		}
	}
	return list;
}

/* The template context of notify.txt/notify.html. */
static json_t *
notify_context(const struct message_notify *n)
{
	char	 when[32], hint[128];
	json_t	*ctx, *fields, *form, *title;

	clock_rfc3339(n->received_at_ms, when);
	/* What an admin runs on the server to hand a staff member the
	   sealed record: the key stays on the staff member's machine. */
	snprintf(hint, sizeof(hint), "intakectl cat %s > %s.age", n->id,
	    n->id);
	if (n->content == CONTENT_FULL && n->fields != NULL)
		fields = field_list(n);
	else
		fields = json_array();
	form = one_line(n->form);
	title = one_line(n->title);
	/* json_pack's "o" steals the references even when it fails. */
	ctx = json_pack("{s:s, s:o, s:o, s:s, s:b, s:b, s:b, s:o, s:s, s:o, "
	    "s:b, s:s}",
	    "id", n->id, "form", form, "title", title,
	    "received_at", when, "full", n->content == CONTENT_FULL,
	    "summary", n->content == CONTENT_SUMMARY,
	    "sealed", n->content == CONTENT_SEALED, "fields", fields,
	    "intakectl", hint, "files", file_list(n),
	    "files_attached", n->attach, "inbox", n->inbox ? n->inbox : "");
	return ctx;
}

static int
render_subject(const struct message_notify *n, struct buf *s)
{
	json_t	*ctx;
	int	 r;

	if (n->subject == NULL)
		return buf_printf(s, "New inquiry: %s (%s)", n->title,
		    n->id) == 0 ? 0 : ERR_NOMEM;
	ctx = json_pack("{s:s, s:s, s:s}", "id", n->id, "form", n->form,
	    "title", n->title);
	if (ctx == NULL)
		return ERR_NOMEM;
	r = template_render(n->subject, ctx, s);
	json_decref(ctx);
	return tmpl_result(r);
}

static int
check_addrs(const char *from, char *const *to, size_t nto)
{
	size_t	i;

	if (!addr_valid_str(from, 0) || nto == 0)
		return ERR_INVAL;
	for (i = 0; i < nto; i++)
		if (!addr_valid_str(to[i], 0))
			return ERR_INVAL;
	return 0;
}

/* One age file as a part of the mixed message of inquiry id. */
static void
put_age_part(struct out *o, const char *id, const char *name,
    const void *age, size_t len)
{
	putf(o, "\r\n--=_intaked-mix-%s\r\n", id);
	putf(o, "Content-Type: application/octet-stream;\r\n name=\"%s.age\"\r\n"
	    "Content-Disposition: attachment;\r\n filename=\"%s.age\"\r\n"
	    "Content-Transfer-Encoding: base64\r\n\r\n", name, name);
	put_base64(o, age, len);
}

int
message_attach(struct buf *b, const char *id, unsigned k, const void *age,
    size_t len)
{
	struct out	o = { b, 0 };
	char		name[96];

	if (!token_valid(id, 64) || k == 0)
		return ERR_INVAL;
	snprintf(name, sizeof(name), "%s-%u", id, k);
	put_age_part(&o, id, name, age, len);
	return out_result(&o);
}

int
message_attach_end(struct buf *b, const char *id)
{
	struct out	o = { b, 0 };

	if (!token_valid(id, 64))
		return ERR_INVAL;
	putf(&o, "\r\n--=_intaked-mix-%s--\r\n", id);
	return out_result(&o);
}

/* The parts below the headers: alternative, or mixed around it. */
static void
notify_body(struct out *o, const struct message_notify *n,
    const struct buf *txt, const struct buf *html)
{
	int	mixed = n->content == CONTENT_SEALED;

	if (mixed) {
		putf(o, "Content-Type: multipart/mixed;\r\n"
		    " boundary=\"=_intaked-mix-%s\"\r\n\r\n", n->id);
		put(o, "This is a multi-part message in MIME format.\r\n");
		putf(o, "\r\n--=_intaked-mix-%s\r\n", n->id);
	}
	putf(o, "Content-Type: multipart/alternative;\r\n"
	    " boundary=\"=_intaked-alt-%s\"\r\n\r\n", n->id);
	if (!mixed)
		put(o, "This is a multi-part message in MIME format.\r\n");
	putf(o, "\r\n--=_intaked-alt-%s\r\n", n->id);
	put_text_part(o, "plain", txt);
	putf(o, "\r\n--=_intaked-alt-%s\r\n", n->id);
	put_text_part(o, "html", html);
	putf(o, "\r\n--=_intaked-alt-%s--\r\n", n->id);
	if (!mixed)
		return;
	put_age_part(o, n->id, n->id, n->record, n->recordlen);
	if (!n->attach)
		putf(o, "\r\n--=_intaked-mix-%s--\r\n", n->id);
}

static void
notify_headers(struct out *o, const struct message_notify *n,
    const char *subject)
{
	const char	*reply, *display = NULL;
	const json_t	*v;

	put_common(o, n->id, n->kind, n->from, n->to, n->nto, subject,
	    n->received_at_ms);
	/* summary and sealed keep personal data out of the mail: the
	   address and name are fields too. */
	if (n->content != CONTENT_FULL)
		return;
	reply = message_field_addr(n->fields, n->reply_to_field);
	if (reply == NULL)
		return;
	if (n->name_field && (v = json_object_get(n->fields,
	    n->name_field)) != NULL && json_is_string(v))
		display = json_string_value(v);
	put_addr_header(o, "Reply-To", display, reply);
}

static int
check_notify(const struct message_notify *n)
{
	if (!token_valid(n->id, 64) || !token_valid(n->kind, 15) ||
	    n->form == NULL || n->title == NULL ||
	    (n->content == CONTENT_SEALED && n->record == NULL) ||
	    (n->attach && (n->content != CONTENT_SEALED || n->nfiles == 0)) ||
	    (n->nfiles > 0 && n->files == NULL))
		return ERR_INVAL;
	return check_addrs(n->from, n->to, n->nto);
}

int
message_notify(const struct message_templates *t,
    const struct message_notify *n, struct buf *out)
{
	struct buf	 subj, txt, html;
	struct out	 o = { out, 0 };
	json_t		*ctx = NULL;
	size_t		 mark = out->len;
	int		 r;

	if ((r = check_notify(n)) != 0)
		return r;
	buf_init(&subj, 4096);
	buf_init(&txt, MESSAGE_MAX / 4);
	buf_init(&html, MESSAGE_MAX / 4);
	r = ERR_NOMEM;
	if ((ctx = notify_context(n)) == NULL)
		goto out;
	if ((r = render_subject(n, &subj)) != 0 ||
	    (r = tmpl_result(template_render(t->notify_txt, ctx, &txt))) ||
	    (r = tmpl_result(template_render(t->notify_html, ctx, &html))))
		goto out;
	notify_headers(&o, n, subj.data ? subj.data : "");
	notify_body(&o, n, &txt, &html);
	r = out_result(&o);
out:
	if (r != 0)
		rewind_wipe(out, mark);
	json_decref(ctx);
	buf_wipe(&subj);
	buf_wipe(&txt);
	buf_wipe(&html);
	return r;
}

/*
 * Splits a rendered ack.txt: a first line "Subject: …" gives the subject
 * and one blank line after it is skipped. Without it the subject is a
 * fixed English line. *body points into text.
 */
static void
split_subject(const struct buf *text, char *subject, size_t len,
    const char **body, size_t *bodylen)
{
	const char	*s = text->data ? text->data : "", *nl, *v;
	size_t		 n = text->len;

	snprintf(subject, len, "We received your message");
	*body = s;
	*bodylen = n;
	if (n < 8 || strncasecmp(s, "Subject:", 8) != 0 ||
	    (nl = memchr(s, '\n', n)) == NULL)
		return;
	for (v = s + 8; v < nl && (*v == ' ' || *v == '\t'); v++)
		;
	snprintf(subject, len, "%.*s", (int)(nl - v), v);
	nl++;
	if (nl < s + n && *nl == '\n')
		nl++;
	else if (nl + 1 < s + n && nl[0] == '\r' && nl[1] == '\n')
		nl += 2;
	*body = nl;
	*bodylen = n - (size_t)(nl - s);
}

int
message_ack(const struct message_templates *t, const struct message_ack *a,
    struct buf *out)
{
	char		 subject[512], *to[1];
	const char	*body;
	size_t		 bodylen, mark = out->len;
	struct buf	 text;
	struct out	 o = { out, 0 };
	json_t		*ctx;
	int		 r;

	if (!token_valid(a->id, 64) || a->title == NULL ||
	    !addr_valid_str(a->to, 0) || !addr_valid_str(a->from, 0))
		return ERR_INVAL;
	ctx = json_pack("{s:s, s:s}", "name", a->name ? a->name : "",
	    "title", a->title);
	if (ctx == NULL)
		return ERR_NOMEM;
	buf_init(&text, 1u << 20);
	r = tmpl_result(template_render(t->ack_txt, ctx, &text));
	json_decref(ctx);
	if (r == 0) {
		split_subject(&text, subject, sizeof(subject), &body, &bodylen);
		to[0] = (char *)a->to;
		put_common(&o, a->id, "ack", a->from, to, 1, subject,
		    a->received_at_ms);
		put(&o, "Content-Type: text/plain; charset=utf-8\r\n");
		put(&o, "Content-Transfer-Encoding: quoted-printable\r\n\r\n");
		put_qp(&o, body, bodylen);
		if ((r = out_result(&o)) != 0)
			rewind_wipe(out, mark);
	}
	buf_wipe(&text);
	return r;
}

static int
load_one(const char *dir, const char *file, enum tmpl_mode mode,
    const struct tmpl_var *vars, struct tmpl **out, struct diag *d)
{
	char	path[PATH_MAX];

	if (snprintf(path, sizeof(path), "%s/%s", dir, file) >=
	    (int)sizeof(path)) {
		diag(d, dir, 0, "path too long");
		return ERR_CONFIG;
	}
	return template_load(path, mode, vars, out, d);
}

int
message_templates_load(const char *dir, struct message_templates *t,
    struct diag *d)
{
	int	r1, r2, r3;

	memset(t, 0, sizeof(*t));
	r1 = load_one(dir, "notify.txt", TMPL_TEXT, notify_vars,
	    &t->notify_txt, d);
	r2 = load_one(dir, "notify.html", TMPL_HTML, notify_vars,
	    &t->notify_html, d);
	r3 = load_one(dir, "ack.txt", TMPL_TEXT, ack_vars, &t->ack_txt, d);
	if (r1 == 0 && r2 == 0 && r3 == 0)
		return 0;
	message_templates_free(t);
	return r1 == ERR_NOMEM || r2 == ERR_NOMEM || r3 == ERR_NOMEM ?
	    ERR_NOMEM : ERR_CONFIG;
}

void
message_templates_free(struct message_templates *t)
{
	template_free(t->notify_txt);
	template_free(t->notify_html);
	template_free(t->ack_txt);
	memset(t, 0, sizeof(*t));
}

int
message_subject_parse(const char *name, const char *text, struct tmpl **out,
    struct diag *d)
{
	int	r;

	r = template_parse(name, text, strlen(text), TMPL_TEXT, subject_vars,
	    out, d);
	return r;
}

/* The envelope: one address per line, then an empty line. */
static int
put_envelope(struct buf *b, char *const *rcpt, size_t n, unsigned attach)
{
	size_t	i;

	if (attach > 0 && buf_printf(b, "@attach %u\n", attach) != 0)
		return ERR_NOMEM;
	for (i = 0; i < n; i++)
		if (buf_puts(b, rcpt[i]) != 0 || buf_putc(b, '\n') != 0)
			return ERR_NOMEM;
	return buf_putc(b, '\n') == 0 ? 0 : ERR_NOMEM;
}

static uint64_t
staged_total(const struct message_inquiry *inq)
{
	uint64_t	t = 0;
	size_t		i;

	for (i = 0; i < inq->nfiles; i++)
		t += inq->files[i].staged;
	return t;
}

int
message_spool_notify(const struct message_inquiry *inq,
    const struct message_sender *snd, struct buf *out)
{
	struct message_notify	n;
	char			inbox[PATH_MAX];
	size_t			mark = out->len;
	int			r;

	memset(&n, 0, sizeof(n));
	n.id = inq->id;
	n.kind = "notify";
	n.form = inq->form;
	n.title = inq->title ? inq->title : inq->form;
	n.received_at_ms = inq->received_at_ms;
	n.fields = inq->fields;
	n.labels = inq->labels;
	n.nlabels = inq->nlabels;
	n.reply_to_field = inq->reply_to_field;
	n.name_field = NAME_FIELD;
	n.content = snd->content;
	n.record = inq->record;
	n.recordlen = inq->recordlen;
	n.files = inq->files;
	n.nfiles = inq->nfiles;
	n.attach = snd->content == CONTENT_SEALED && inq->nfiles > 0 &&
	    staged_total(inq) <= snd->max_attach;
	if (inq->inbox_url != NULL) {
		snprintf(inbox, sizeof(inbox), "%s/inbox/#%s", inq->inbox_url,
		    inq->id);
		n.inbox = inbox;
	}
	n.subject = inq->subject;
	n.from = snd->from;
	n.to = snd->to;
	n.nto = snd->nto;
	if ((r = put_envelope(out, snd->to, snd->nto, n.attach ?
	    (unsigned)n.nfiles : 0)) == 0 &&
	    (r = message_notify(inq->tpl, &n, out)) == 0)
		return 0;
	rewind_wipe(out, mark);
	return r;
}

int
message_spool_ack(const struct message_inquiry *inq, const char *from,
    struct buf *out)
{
	struct message_ack	 a;
	const json_t		*name;
	char			*rcpt[1];
	size_t			 mark = out->len;
	int			 r;

	memset(&a, 0, sizeof(a));
	if ((a.to = message_field_addr(inq->fields, inq->reply_to_field)) ==
	    NULL)
		return 0;
	name = json_object_get(inq->fields, NAME_FIELD);
	a.id = inq->id;
	a.title = inq->title ? inq->title : inq->form;
	a.name = json_is_string(name) ? json_string_value(name) : NULL;
	a.from = from;
	a.received_at_ms = inq->received_at_ms;
	rcpt[0] = (char *)a.to;
	if ((r = put_envelope(out, rcpt, 1, 0)) == 0 &&
	    (r = message_ack(inq->tpl, &a, out)) == 0)
		return 0;
	rewind_wipe(out, mark);
	return r;
}

/* The optional "@attach N" line; p moves past it. */
static int
spool_attach(char **p, char *end, unsigned *attach)
{
	char		*nl, *e;
	unsigned long	 v;

	*attach = 0;
	if (end - *p < 9 || memcmp(*p, "@attach ", 8) != 0)
		return 0;
	if ((nl = memchr(*p, '\n', (size_t)(end - *p))) == NULL)
		return ERR_MALFORMED;
	*nl = '\0';
	errno = 0;
	v = strtoul(*p + 8, &e, 10);
	if (e == *p + 8 || *e != '\0' || errno != 0 || v == 0 ||
	    v > MESSAGE_FILES_MAX)
		return ERR_MALFORMED;
	*attach = (unsigned)v;
	*p = nl + 1;
	return 0;
}

int
message_spool_parse(char *p, size_t len, char **rcpt, size_t max,
    size_t *n, unsigned *attach, size_t *body)
{
	char	*start = p, *end = p + len, *nl;

	*n = 0;
	if (p == NULL || spool_attach(&p, end, attach) != 0)
		return ERR_MALFORMED;
	while (p < end && *p != '\n') {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL ||
		    *n == max)
			return ERR_MALFORMED;
		*nl = '\0';
		if (!addr_valid_str(p, 0))
			return ERR_MALFORMED;
		rcpt[(*n)++] = p;
		p = nl + 1;
	}
	if (p >= end || *n == 0)
		return ERR_MALFORMED;
	*body = (size_t)(p + 1 - start);
	return 0;
}
