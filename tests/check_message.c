/* Composition of notification and acknowledgement mails (message.c),
   with the shipped templates. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <check.h>
#include <jansson.h>
#include <sodium.h>

#include "buf.h"
#include "config.h"
#include "form.h"
#include "message.h"
#include "template.h"
#include "testutil.h"
#include "utf8.h"

#define ID	"01890a5d-ac96-774b-bcce-b302099a8057"
#define WHEN	1790000000123LL		/* 2026-09-21T... UTC */
#define MAXH	64

struct hdr {
	char	name[64];
	char	value[4096];	/* unfolded */
};

struct parsed {
	struct hdr	h[MAXH];
	size_t		n;
	const char	*body;
};

static struct message_templates tpl;
static struct tmpl *subject;

static void
setup(void)
{
	const char	*dir = getenv("INTAKE_TEMPLATES");
	struct diag	 d = { 0, NULL, NULL };

	ck_assert_int_ge(sodium_init(), 0);
	ck_assert_int_eq(message_templates_load(dir ? dir : "templates", &tpl,
	    &d), 0);
	ck_assert_int_eq(message_subject_parse("subject",
	    "[{{form}}] {{title}} {{id}}", &subject, &d), 0);
}

static void
teardown(void)
{
	message_templates_free(&tpl);
	template_free(subject);
}

/* Splits the header block of msg (CRLF lines, folded lines joined). */
static void
parse(const char *msg, struct parsed *p)
{
	const char	*s = msg, *eol, *colon;
	struct hdr	*h = NULL;
	size_t		 n;

	memset(p, 0, sizeof(*p));
	for (;;) {
		eol = strstr(s, "\r\n");
		ck_assert_ptr_nonnull(eol);
		if (eol == s) {
			p->body = s + 2;
			return;
		}
		if (*s == ' ' || *s == '\t') {
			ck_assert_ptr_nonnull(h);
			n = strlen(h->value);
			snprintf(h->value + n, sizeof(h->value) - n, "%.*s",
			    (int)(eol - s), s);
		} else {
			ck_assert_uint_lt(p->n, MAXH);
			colon = memchr(s, ':', (size_t)(eol - s));
			ck_assert_ptr_nonnull(colon);
			h = &p->h[p->n++];
			snprintf(h->name, sizeof(h->name), "%.*s",
			    (int)(colon - s), s);
			snprintf(h->value, sizeof(h->value), "%.*s",
			    (int)(eol - colon - 2), colon + 2);
		}
		s = eol + 2;
	}
}

static const char *
header(const struct parsed *p, const char *name)
{
	size_t	i;

	for (i = 0; i < p->n; i++)
		if (strcasecmp(p->h[i].name, name) == 0)
			return p->h[i].value;
	return NULL;
}

static unsigned
count_header(const struct parsed *p, const char *name)
{
	size_t		i;
	unsigned	c = 0;

	for (i = 0; i < p->n; i++)
		c += strcasecmp(p->h[i].name, name) == 0;
	return c;
}

/* Decodes the RFC 2047 "B" words of v (joined, as a reader shows them). */
static void
decode_words(const char *v, char *out, size_t len)
{
	const char	*s = v, *e;
	size_t		 o = 0, n;

	out[0] = '\0';
	while ((s = strstr(s, "=?UTF-8?B?")) != NULL) {
		s += 10;
		e = strstr(s, "?=");
		ck_assert_ptr_nonnull(e);
		ck_assert_int_eq(sodium_base642bin((unsigned char *)out + o,
		    len - o - 1, s, (size_t)(e - s), NULL, &n, NULL,
		    sodium_base64_VARIANT_ORIGINAL), 0);
		o += n;
		out[o] = '\0';
		s = e + 2;
	}
}

/* Quoted-printable to text with LF line ends. */
static char *
qp_decode(const char *s, size_t len)
{
	char	*out = malloc(len + 1), hex[3] = { 0 };
	size_t	 i, o = 0;

	ck_assert_ptr_nonnull(out);
	for (i = 0; i < len; i++) {
		if (s[i] == '=' && i + 2 < len && s[i + 1] == '\r') {
			i += 2;
		} else if (s[i] == '=' && i + 2 < len) {
			hex[0] = s[i + 1];
			hex[1] = s[i + 2];
			out[o++] = (char)strtol(hex, NULL, 16);
			i += 2;
		} else if (s[i] == '\r' && i + 1 < len && s[i + 1] == '\n') {
			out[o++] = '\n';
			i++;
		} else
			out[o++] = s[i];
	}
	out[o] = '\0';
	return out;
}

/* The header block and decoded body of the part whose Content-Type
   starts with type; NULL if absent. Caller frees the body. */
static char *
part(const char *msg, const char *type, struct parsed *ph)
{
	char		 needle[128];
	const char	*s, *start, *end;

	snprintf(needle, sizeof(needle), "\r\nContent-Type: %s", type);
	if ((s = strstr(msg, needle)) == NULL)
		return NULL;
	start = s + 2;
	parse(start, ph);
	end = strstr(ph->body, "\r\n--");
	ck_assert_ptr_nonnull(end);
	if (strcmp(header(ph, "Content-Transfer-Encoding"),
	    "quoted-printable") == 0)
		return qp_decode(ph->body, (size_t)(end - ph->body));
	return strndup(ph->body, (size_t)(end - ph->body));
}

/* Every line of msg ends in CRLF and is at most max characters. */
static void
assert_lines(const char *msg, size_t max)
{
	const char	*s = msg, *eol;

	while (*s) {
		eol = strstr(s, "\r\n");
		ck_assert_msg(eol != NULL, "line without CRLF");
		ck_assert_msg((size_t)(eol - s) <= max, "line of %zu chars: "
		    "%.*s", (size_t)(eol - s), (int)(eol - s), s);
		ck_assert_ptr_null(memchr(s, '\r', (size_t)(eol - s)));
		ck_assert_ptr_null(memchr(s, '\n', (size_t)(eol - s)));
		s = eol + 2;
	}
}

/* No line of msg starts with name: not in the headers, and not in the
   text either (a one-line field stays one line). */
static void
assert_no_header_line(const char *msg, const char *name)
{
	const char	*s = msg;
	size_t		 n = strlen(name);

	if (strncasecmp(s, name, n) == 0)
		ck_abort_msg("message starts with %s", name);
	while ((s = strstr(s, "\r\n")) != NULL) {
		s += 2;
		ck_assert_msg(strncasecmp(s, name, n) != 0,
		    "a line starts with %s", name);
	}
}

static json_t *
fields(void)
{
	json_t	*f;

	f = json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:[s,s]}",
	    "name", "Testy McTestface", "email", "patient@example.com",
	    "phone", "+91 00000 00000", "condition", "liver-cirrhosis",
	    "message", "Line one <b>bold</b>\nLine two = fine\n. dot line",
	    "consent", 1, "times", "morning", "evening");
	ck_assert_ptr_nonnull(f);
	return f;
}

#define LABEL(n, t, ty, fmt, req, ml) { .name = n, .title = t, .type = ty, \
	.format = fmt, .required = req, .multiline = ml, .min_length = -1, \
	.max_length = -1, .max_items = 1 }
static const struct form_field labels[] = {
	LABEL("name", "Your name", "string", NULL, 1, 0),
	LABEL("email", "E-mail", "string", "email", 1, 0),
	LABEL("phone", "Phone", "string", NULL, 0, 0),
	LABEL("message", "Message", "string", NULL, 0, 1),
	LABEL("consent", "Consent", "boolean", NULL, 1, 0),
};

static void
notify_init(struct message_notify *n, const json_t *f,
    enum mail_content content)
{
	memset(n, 0, sizeof(*n));
	n->id = ID;
	n->kind = "notify";
	n->form = "consultation";
	n->title = "Free consultation";
	n->received_at_ms = WHEN;
	n->fields = f;
	n->labels = labels;
	n->nlabels = sizeof(labels) / sizeof(labels[0]);
	n->reply_to_field = "email";
	n->name_field = "name";
	n->content = content;
	n->subject = subject;
	n->from = "intake@example.org";
	n->to = tu_staff;
	n->nto = TU_NSTAFF;
}

static char *
compose(const struct message_notify *n)
{
	struct buf	b;

	buf_init(&b, MESSAGE_MAX);
	ck_assert_int_eq(message_notify(&tpl, n, &b), 0);
	return buf_steal(&b, NULL);
}

START_TEST(test_full_headers_and_parts)
{
	struct message_notify	 n;
	struct parsed		 p, ph;
	json_t			*f = fields();
	char			*msg, *txt, *html;

	notify_init(&n, f, CONTENT_FULL);
	msg = compose(&n);
	assert_lines(msg, 78);
	parse(msg, &p);
	ck_assert_str_eq(header(&p, "From"), "<intake@example.org>");
	ck_assert_str_eq(header(&p, "To"),
	    "<staff@example.org>, <desk@example.org>");
	ck_assert_str_eq(header(&p, "Subject"),
	    "[consultation] Free consultation " ID);
	ck_assert_str_eq(header(&p, "Message-ID"),
	    "<" ID ".notify@example.org>");
	ck_assert_str_eq(header(&p, "Date"), "Mon, 21 Sep 2026 14:13:20 +0000");
	ck_assert_str_eq(header(&p, "Auto-Submitted"), "auto-generated");
	ck_assert_str_eq(header(&p, "MIME-Version"), "1.0");
	ck_assert_str_eq(header(&p, "Reply-To"),
	    "Testy McTestface <patient@example.com>");
	ck_assert_ptr_nonnull(strstr(header(&p, "Content-Type"),
	    "multipart/alternative; boundary="));
	ck_assert_uint_eq(p.n, 10);

	txt = part(msg, "text/plain; charset=utf-8", &ph);
	ck_assert_ptr_nonnull(txt);
	ck_assert_ptr_nonnull(strstr(txt, "Inquiry:  " ID));
	ck_assert_ptr_nonnull(strstr(txt, "Your name:\nTesty McTestface\n"));
	ck_assert_ptr_nonnull(strstr(txt, "Phone:\n+91 00000 00000\n"));
	ck_assert_ptr_nonnull(strstr(txt, "Message:\nLine one <b>bold</b>\n"
	    "Line two = fine\n. dot line\n"));
	ck_assert_ptr_nonnull(strstr(txt, "Consent:\nyes\n"));
	/* Not in the schema: listed after, by name, list joined. */
	ck_assert_ptr_nonnull(strstr(txt, "times:\nmorning, evening\n"));
	ck_assert_ptr_nonnull(strstr(txt, "Received: 2026-09-21T14:13:20.123Z"));
	ck_assert(strstr(txt, "Your name") < strstr(txt, "E-mail"));
	ck_assert(strstr(txt, "Message") < strstr(txt, "condition"));

	html = part(msg, "text/html; charset=utf-8", &ph);
	ck_assert_ptr_nonnull(html);
	ck_assert_ptr_nonnull(strstr(html, "Line one &lt;b&gt;bold&lt;/b&gt;"));
	ck_assert_ptr_null(strstr(html, "<b>bold"));
	/* The transfer encoding keeps body lines within 76 and never lets a
	   line start with "." in transit. */
	assert_lines(strstr(msg, "\r\n\r\n") + 4, 76);
	ck_assert_ptr_null(strstr(msg, "\r\n."));
	free(txt);
	free(html);
	free(msg);
	json_decref(f);
}
END_TEST

START_TEST(test_subject_rfc2047)
{
	struct message_notify	 n;
	struct parsed		 p;
	struct tmpl		*s;
	json_t			*f = fields();
	char			*msg, dec[1024];
	const char		*title = "Бесплатная консультация — "
				    "цирроз печени, стволовые клетки 肝硬変";

	ck_assert_int_eq(message_subject_parse("s", "{{title}} ({{id}})", &s,
	    NULL), 0);
	notify_init(&n, f, CONTENT_SUMMARY);
	n.title = title;
	n.subject = s;
	msg = compose(&n);
	assert_lines(msg, 78);
	parse(msg, &p);
	ck_assert_str_eq(header(&p, "MIME-Version"), "1.0");
	ck_assert_msg(strncmp(header(&p, "Subject"), "=?UTF-8?B?", 10) == 0,
	    "subject not encoded: %s", header(&p, "Subject"));
	ck_assert_ptr_null(strchr(header(&p, "Subject"), 0x80));
	decode_words(header(&p, "Subject"), dec, sizeof(dec));
	ck_assert_str_eq(dec, "Бесплатная консультация — цирроз печени, "
	    "стволовые клетки 肝硬変 (" ID ")");
	/* Each decoded word is whole UTF-8: it was split between chars. */
	ck_assert_int_eq(utf8_valid(dec, strlen(dec)), 1);
	free(msg);
	template_free(s);
	json_decref(f);
}
END_TEST

START_TEST(test_header_injection)
{
	struct message_notify	 n;
	struct parsed		 p, ph;
	struct tmpl		*s;
	json_t			*f = fields();
	char			*msg, *txt, dec[512];

	json_object_set_new(f, "name",
	    json_string("Jane\r\nBcc: victim@example.com"));
	ck_assert_int_eq(message_subject_parse("s", "{{title}}", &s, NULL),
	    0);
	notify_init(&n, f, CONTENT_FULL);
	n.title = "Consultation\r\nBcc: victim@example.com\nX-Evil: 1";
	n.subject = s;
	msg = compose(&n);
	assert_lines(msg, 78);
	parse(msg, &p);
	ck_assert_uint_eq(p.n, 10);
	ck_assert_uint_eq(count_header(&p, "Bcc"), 0);
	ck_assert_uint_eq(count_header(&p, "X-Evil"), 0);
	ck_assert_uint_eq(count_header(&p, "Reply-To"), 1);
	/* The name is still there for the reader, as one encoded phrase. */
	ck_assert_ptr_nonnull(strstr(header(&p, "Reply-To"),
	    "<patient@example.com>"));
	decode_words(header(&p, "Reply-To"), dec, sizeof(dec));
	ck_assert_str_eq(dec, "Jane Bcc: victim@example.com");
	/* Plain ASCII once the breaks are spaces: it stays readable. */
	ck_assert_str_eq(header(&p, "Subject"),
	    "Consultation Bcc: victim@example.com X-Evil: 1");
	assert_no_header_line(msg, "Bcc:");
	assert_no_header_line(msg, "X-Evil:");
	/* The part headers are intact too. */
	txt = part(msg, "text/plain; charset=utf-8", &ph);
	ck_assert_uint_eq(ph.n, 2);
	ck_assert_ptr_nonnull(strstr(txt, "Your name:\nJane  Bcc: victim@"));
	free(txt);
	free(msg);

	/* An address with a line break is no address: no Reply-To. */
	json_object_set_new(f, "email",
	    json_string("patient@example.com\r\nBcc: victim@example.com"));
	n.content = CONTENT_FULL;
	msg = compose(&n);
	parse(msg, &p);
	ck_assert_uint_eq(count_header(&p, "Reply-To"), 0);
	ck_assert_uint_eq(p.n, 9);
	free(msg);
	template_free(s);
	json_decref(f);
}
END_TEST

START_TEST(test_message_id_stable)
{
	struct message_notify	 n;
	struct parsed		 p1, p2;
	json_t			*f = fields();
	char			*a, *b;

	notify_init(&n, f, CONTENT_FULL);
	a = compose(&n);
	b = compose(&n);
	ck_assert_str_eq(a, b);
	parse(a, &p1);
	n.kind = "resend";
	free(b);
	b = compose(&n);
	parse(b, &p2);
	ck_assert_str_eq(header(&p1, "Message-ID"),
	    "<" ID ".notify@example.org>");
	ck_assert_str_eq(header(&p2, "Message-ID"),
	    "<" ID ".resend@example.org>");
	free(a);
	free(b);
	json_decref(f);
}
END_TEST

START_TEST(test_content_summary)
{
	struct message_notify	 n;
	struct parsed		 p, ph;
	json_t			*f = fields();
	char			*msg, *txt, *html;

	notify_init(&n, f, CONTENT_SUMMARY);
	msg = compose(&n);
	parse(msg, &p);
	ck_assert_uint_eq(count_header(&p, "Reply-To"), 0);
	ck_assert_ptr_null(strstr(msg, "example.com"));	/* patient's */
	ck_assert_ptr_null(strstr(msg, "Testy"));
	ck_assert_ptr_null(strstr(msg, "00000"));
	ck_assert_ptr_null(strstr(msg, "multipart/mixed"));
	txt = part(msg, "text/plain; charset=utf-8", &ph);
	html = part(msg, "text/html; charset=utf-8", &ph);
	/* The key stays on the staff member's machine: the server side of
	   the hint needs none. */
	ck_assert_ptr_nonnull(strstr(txt, "intakectl cat " ID " > " ID ".age"));
	ck_assert_ptr_nonnull(strstr(txt, "age -d -i YOUR-KEY " ID ".age"));
	ck_assert_ptr_null(strstr(txt, "intakectl show"));
	ck_assert_ptr_nonnull(strstr(txt, "Form:     consultation"));
	ck_assert_ptr_null(strstr(txt, "Testy"));
	ck_assert_ptr_null(strstr(txt, "Line one"));
	ck_assert_ptr_null(strstr(txt, "staff inbox"));
	ck_assert_ptr_nonnull(strstr(html, "intakectl cat " ID));
	free(txt);
	free(html);
	free(msg);
	json_decref(f);
}
END_TEST

START_TEST(test_content_sealed)
{
	struct message_notify	 n;
	struct parsed		 p, ph;
	unsigned char		 record[3000], dec[3000];
	json_t			*f = fields();
	char			*msg, *att, *txt;
	size_t			 i, declen;

	for (i = 0; i < sizeof(record); i++)
		record[i] = (unsigned char)(i * 7 + 3);
	notify_init(&n, f, CONTENT_SEALED);
	n.record = record;
	n.recordlen = sizeof(record);
	msg = compose(&n);
	assert_lines(msg, 78);
	parse(msg, &p);
	ck_assert_ptr_nonnull(strstr(header(&p, "Content-Type"),
	    "multipart/mixed; boundary="));
	ck_assert_uint_eq(count_header(&p, "Reply-To"), 0);
	ck_assert_ptr_null(strstr(msg, "Testy"));
	ck_assert_ptr_nonnull(strstr(msg,
	    "Content-Type: multipart/alternative"));
	txt = part(msg, "text/plain; charset=utf-8", &ph);
	ck_assert_ptr_nonnull(strstr(txt, "attached as " ID ".age"));
	att = part(msg, "application/octet-stream", &ph);
	ck_assert_ptr_nonnull(att);
	ck_assert_str_eq(header(&ph, "Content-Type"),
	    "application/octet-stream; name=\"" ID ".age\"");
	ck_assert_str_eq(header(&ph, "Content-Disposition"),
	    "attachment; filename=\"" ID ".age\"");
	ck_assert_str_eq(header(&ph, "Content-Transfer-Encoding"), "base64");
	ck_assert_int_eq(sodium_base642bin(dec, sizeof(dec), att, strlen(att),
	    "\r\n", &declen, NULL, sodium_base64_VARIANT_ORIGINAL), 0);
	ck_assert_uint_eq(declen, sizeof(record));
	ck_assert_mem_eq(dec, record, sizeof(record));
	free(att);
	free(txt);
	free(msg);

	n.record = NULL;	/* sealed without a record is refused */
	{
		struct buf	b;

		buf_init(&b, 0);
		ck_assert_int_eq(message_notify(&tpl, &n, &b), ERR_INVAL);
		ck_assert_uint_eq(b.len, 0);
		buf_free(&b);
	}
	json_decref(f);
}
END_TEST

START_TEST(test_reply_to_only_valid)
{
	static const char *const bad[] = { "not-an-address", "a@b@example.com",
	    "x@example.com>", "<x@example.com>", "x y@example.com",
	    "x@-example.com", ".x@example.com", "x..y@example.com",
	    "x@example..com", "ü@example.com", "x@", "@example.com", "" };
	struct message_notify	 n;
	struct parsed		 p;
	json_t			*f = fields();
	char			*msg;
	size_t			 i;

	notify_init(&n, f, CONTENT_FULL);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_object_set_new(f, "email", json_string(bad[i]));
		msg = compose(&n);
		parse(msg, &p);
		ck_assert_msg(count_header(&p, "Reply-To") == 0, "%s", bad[i]);
		free(msg);
	}
	json_object_set_new(f, "email", json_integer(5));
	msg = compose(&n);
	parse(msg, &p);
	ck_assert_uint_eq(count_header(&p, "Reply-To"), 0);
	free(msg);
	json_object_set_new(f, "email", json_string("pat.ient+x@mail.example.com"));
	n.reply_to_field = NULL;	/* form names no reply_to field */
	msg = compose(&n);
	parse(msg, &p);
	ck_assert_uint_eq(count_header(&p, "Reply-To"), 0);
	free(msg);
	n.reply_to_field = "email";
	json_object_del(f, "name");	/* no display name */
	msg = compose(&n);
	parse(msg, &p);
	ck_assert_str_eq(header(&p, "Reply-To"),
	    "<pat.ient+x@mail.example.com>");
	free(msg);
	json_decref(f);
}
END_TEST

START_TEST(test_quoted_printable)
{
	struct buf	 b;
	char		 text[400], *dec;
	size_t		 i;

	for (i = 0; i < 300; i++)
		text[i] = (char)('a' + i % 26);
	memcpy(text + 300, " trailing \nnext=line\tx\t\n.dot\nü\n", 33);
	buf_init(&b, 0);
	ck_assert_int_eq(message_qp(&b, text, strlen(text)), 0);
	assert_lines(b.data, 76);
	ck_assert_ptr_nonnull(strstr(b.data, "trailing=20\r\n"));
	ck_assert_ptr_nonnull(strstr(b.data, "next=3Dline\tx=09\r\n"));
	ck_assert_ptr_nonnull(strstr(b.data, "\r\n=2Edot\r\n"));
	ck_assert_ptr_nonnull(strstr(b.data, "=C3=BC"));
	dec = qp_decode(b.data, b.len);
	ck_assert_str_eq(dec, text);
	free(dec);
	buf_free(&b);
}
END_TEST

START_TEST(test_ack)
{
	struct message_ack	 a;
	struct parsed		 p;
	struct buf		 b;
	char			*body;

	memset(&a, 0, sizeof(a));
	a.id = ID;
	a.title = "Free consultation";
	a.name = "Testy\r\nBcc: victim@example.com";
	a.to = "patient@example.com";
	a.from = "intake@example.org";
	a.received_at_ms = WHEN;
	buf_init(&b, 0);
	ck_assert_int_eq(message_ack(&tpl, &a, &b), 0);
	assert_lines(b.data, 78);
	parse(b.data, &p);
	ck_assert_str_eq(header(&p, "To"), "<patient@example.com>");
	ck_assert_str_eq(header(&p, "Subject"),
	    "We received your message (Free consultation)");
	ck_assert_str_eq(header(&p, "Message-ID"), "<" ID ".ack@example.org>");
	ck_assert_str_eq(header(&p, "Content-Type"),
	    "text/plain; charset=utf-8");
	ck_assert_uint_eq(count_header(&p, "Reply-To"), 0);
	ck_assert_uint_eq(count_header(&p, "Bcc"), 0);
	ck_assert_uint_eq(p.n, 10);
	body = qp_decode(p.body, strlen(p.body));
	ck_assert_msg(strncmp(body, "Hello Testy", 11) == 0, "%s", body);
	ck_assert_ptr_null(strstr(body, "Subject:"));
	ck_assert_ptr_null(strstr(body, ID));	/* no inquiry data */
	free(body);

	buf_reset(&b);
	a.to = "patient@example.com\r\nBcc: victim@example.com";
	ck_assert_int_eq(message_ack(&tpl, &a, &b), ERR_INVAL);
	ck_assert_uint_eq(b.len, 0);
	buf_free(&b);
}
END_TEST

START_TEST(test_templates_checked)
{
	struct message_templates	 t;
	struct tmpl			*s = NULL;
	struct diag			 d = { 0, tu_diag_quiet, NULL };

	ck_assert_int_eq(message_subject_parse("[form x] subject",
	    "{{name}} {{id}}", &s, &d), ERR_CONFIG);
	ck_assert_ptr_null(s);
	ck_assert_uint_ge(d.count, 1);
	d.count = 0;
	ck_assert_int_eq(message_templates_load("/nonexistent", &t, &d),
	    ERR_CONFIG);
	ck_assert_uint_ge(d.count, 3);
	ck_assert_ptr_null(t.notify_txt);
}
END_TEST

START_TEST(test_header_folding)
{
	struct buf	 b;
	struct parsed	 p;
	char		 v[300], dec[400];

	memset(v, 'x', 200);
	v[200] = '\0';
	v[50] = v[120] = ' ';
	buf_init(&b, 0);
	ck_assert_int_eq(message_header(&b, "Subject", v), 0);
	ck_assert_int_eq(buf_puts(&b, "\r\n"), 0);
	assert_lines(b.data, 78);
	parse(b.data, &p);
	decode_words(header(&p, "Subject"), dec, sizeof(dec));
	ck_assert_str_eq(dec, v);
	buf_reset(&b);
	ck_assert_int_eq(message_header(&b, "Subject", "a =?x?= b"),
	    0);
	ck_assert_ptr_nonnull(strstr(b.data, "=?UTF-8?B?"));
	buf_reset(&b);
	ck_assert_int_eq(message_header(&b, "Subject", "  plain \t text  "),
	    0);
	ck_assert_str_eq(b.data, "Subject: plain text\r\n");
	buf_free(&b);
}
END_TEST

static const struct message_file two_files[] = {
	{ "scan-\xe0\xa4\x95.pdf", "application/pdf", 5u << 20, 5300000 },
	{ "labs.png", "image/png", 812, 1200 },
};

/* Summary: the inbox link instead of the hint, and files by number, type
   and size, never by name (a file name is the patient's words). */
START_TEST(test_summary_links_inbox_lists_files_without_names)
{
	struct message_notify	 n;
	struct parsed		 ph;
	json_t			*f = fields();
	char			*msg, *txt, *html;

	notify_init(&n, f, CONTENT_SUMMARY);
	n.inbox = "https://staff.example.com/inbox/#" ID;
	n.files = two_files;
	n.nfiles = 2;
	msg = compose(&n);
	ck_assert_ptr_null(strstr(msg, "scan"));
	ck_assert_ptr_null(strstr(msg, "labs"));
	txt = part(msg, "text/plain; charset=utf-8", &ph);
	html = part(msg, "text/html; charset=utf-8", &ph);
	ck_assert_ptr_nonnull(strstr(txt, "File 1:   application/pdf, "
	    "5.0 MiB\n"));
	ck_assert_ptr_nonnull(strstr(txt, "File 2:   image/png, 812 B\n"));
	ck_assert_ptr_nonnull(strstr(txt,
	    "    https://staff.example.com/inbox/#" ID "\n"));
	ck_assert_ptr_null(strstr(txt, "intakectl"));
	ck_assert_ptr_nonnull(strstr(html,
	    "<a href=\"https://staff.example.com/inbox/#" ID "\">"));
	free(txt);
	free(html);
	free(msg);
	/* full names them */
	notify_init(&n, f, CONTENT_FULL);
	n.files = two_files;
	n.nfiles = 2;
	msg = compose(&n);
	txt = part(msg, "text/plain; charset=utf-8", &ph);
	ck_assert_ptr_nonnull(strstr(txt, "File 1:   scan-\xe0\xa4\x95.pdf, "
	    "application/pdf, 5.0 MiB\n"));
	ck_assert_ptr_nonnull(strstr(txt, "File 2:   labs.png, image/png"));
	free(txt);
	free(msg);
	json_decref(f);
}
END_TEST

/* A sealed notification's files: spooled without them ("@attach N"),
   spliced in at send time as ID-N.age parts of the mixed message. */
START_TEST(test_sealed_files_spliced_as_age_parts)
{
	struct message_templates	*t = &tpl;
	struct message_inquiry		 inq;
	struct message_sender		 snd = { "intake@example.org", tu_staff,
					    TU_NSTAFF, CONTENT_SEALED, 10u << 20 };
	struct parsed			 p, ph;
	unsigned char			 record[100], age[3][700];
	char				*rcpt[4], *msg, *txt, *att, name[80];
	struct buf			 b;
	json_t				*f = fields();
	size_t				 n, body, i;
	unsigned			 attach, k;

	memset(record, 'r', sizeof(record));
	memset(&inq, 0, sizeof(inq));
	inq.id = ID;
	inq.form = "consultation";
	inq.received_at_ms = WHEN;
	inq.fields = f;
	inq.record = record;
	inq.recordlen = sizeof(record);
	inq.files = two_files;
	inq.nfiles = 2;
	inq.tpl = t;
	buf_init(&b, MESSAGE_MAX);
	ck_assert_int_eq(message_spool_notify(&inq, &snd, &b), 0);
	ck_assert_int_eq(strncmp(b.data, "@attach 2\n", 10), 0);
	ck_assert_int_eq(message_spool_parse(b.data, b.len, rcpt, 4, &n,
	    &attach, &body), 0);
	ck_assert_uint_eq(attach, 2);
	ck_assert_uint_eq(n, TU_NSTAFF);
	/* open until the files come: no closing boundary yet */
	ck_assert_ptr_null(strstr(b.data + body, "=_intaked-mix-" ID "--"));
	for (k = 1; k <= 2; k++) {
		memset(age[k], (int)('a' + k), sizeof(age[k]));
		ck_assert_int_eq(message_attach(&b, ID, k, age[k],
		    sizeof(age[k])), 0);
	}
	ck_assert_int_eq(message_attach_end(&b, ID), 0);
	ck_assert_int_eq(buf_append(&b, "", 0), 0);
	msg = b.data + body;
	assert_lines(msg, 78);
	parse(msg, &p);
	ck_assert_ptr_nonnull(strstr(msg, "\r\n--=_intaked-mix-" ID
	    "--\r\n"));
	txt = part(msg, "text/plain; charset=utf-8", &ph);
	ck_assert_ptr_nonnull(strstr(txt, "(attached as " ID "-1.age)"));
	ck_assert_ptr_nonnull(strstr(txt, "(attached as " ID "-2.age)"));
	free(txt);
	for (k = 1; k <= 2; k++) {
		unsigned char	dec[800];
		size_t		declen;

		const char	*at, *from = msg, *q;

		/* the part named ID-k.age: from the boundary before it */
		snprintf(name, sizeof(name), "name=\"" ID "-%u.age\"", k);
		ck_assert_ptr_nonnull(at = strstr(msg, name));
		while ((q = strstr(from + 1, "\r\n--=_intaked-mix-")) != NULL &&
		    q < at)
			from = q;
		att = part(from, "application/octet-stream", &ph);
		ck_assert_ptr_nonnull(att);
		ck_assert_ptr_nonnull(strstr(header(&ph,
		    "Content-Disposition"), name + 5));
		ck_assert_int_eq(sodium_base642bin(dec, sizeof(dec), att,
		    strlen(att), "\r\n", &declen, NULL,
		    sodium_base64_VARIANT_ORIGINAL), 0);
		ck_assert_uint_eq(declen, sizeof(age[k]));
		ck_assert_mem_eq(dec, age[k], declen);
		free(att);
	}
	/* over max_attachment_bytes: listed, not attached, closed at once */
	buf_reset(&b);
	snd.max_attach = 5000000;
	ck_assert_int_eq(message_spool_notify(&inq, &snd, &b), 0);
	ck_assert_int_eq(message_spool_parse(b.data, b.len, rcpt, 4, &n,
	    &attach, &body), 0);
	ck_assert_uint_eq(attach, 0);
	ck_assert_int_eq(buf_append(&b, "", 0), 0);
	ck_assert_ptr_nonnull(strstr(b.data + body, "=_intaked-mix-" ID "--"));
	txt = part(b.data + body, "text/plain; charset=utf-8", &ph);
	ck_assert_ptr_null(strstr(txt, "(attached as"));
	ck_assert_ptr_nonnull(strstr(txt, "File 2:   image/png, 812 B\n"));
	free(txt);
	/* a bad count is no spool */
	for (i = 0; i < 3; i++) {
		static const char *const bad[] = { "@attach 0\n",
		    "@attach x\n", "@attach 65\n" };
		char	buf2[256];

		snprintf(buf2, sizeof(buf2), "%sstaff@example.com\n\nX: y\r\n",
		    bad[i]);
		ck_assert_int_eq(message_spool_parse(buf2, strlen(buf2), rcpt, 4,
		    &n, &attach, &body), ERR_MALFORMED);
	}
	buf_free(&b);
	json_decref(f);
}
END_TEST

Suite *
message_suite(void)
{
	Suite	*s = suite_create("message");
	TCase	*tc = tcase_create("compose");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, test_full_headers_and_parts);
	tcase_add_test(tc, test_subject_rfc2047);
	tcase_add_test(tc, test_header_injection);
	tcase_add_test(tc, test_message_id_stable);
	tcase_add_test(tc, test_content_summary);
	tcase_add_test(tc, test_content_sealed);
	tcase_add_test(tc, test_summary_links_inbox_lists_files_without_names);
	tcase_add_test(tc, test_sealed_files_spliced_as_age_parts);
	tcase_add_test(tc, test_reply_to_only_valid);
	tcase_add_test(tc, test_quoted_printable);
	tcase_add_test(tc, test_ack);
	tcase_add_test(tc, test_templates_checked);
	tcase_add_test(tc, test_header_folding);
	suite_add_tcase(s, tc);
	return s;
}
