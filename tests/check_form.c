/*
 * Forms (daemon/form.c, schema.c, utf8.c): schema loading and its
 * diagnostics, urlencoded and JSON decoding, coercion, every keyword and
 * every error code. Bad schemas are written to a temporary directory so
 * that the file:line diagnostics are checked as intaked -t prints them.
 */
#include <sys/stat.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <jansson.h>

#include "buf.h"
#include "form.h"
#include "testutil.h"
#include "log.h"
#include "utf8.h"

#define CONSULTATION	"config/forms/consultation.schema.json"

/* A schema with every keyword, one per line where lines are checked. */
static const char test_schema[] =
    "{\n"
    "  \"$schema\": \"https://json-schema.org/draft/2020-12/schema\",\n"
    "  \"$id\": \"test.schema.json\",\n"
    "  \"$comment\": \"every keyword\",\n"
    "  \"title\": \"Test form\",\n"
    "  \"description\": \"for the unit tests\",\n"
    "  \"type\": \"object\",\n"
    "  \"additionalProperties\": false,\n"
    "  \"properties\": {\n"
    "    \"name\": {\"type\": \"string\", \"title\": \"Name\", \"minLength\": 2,"
    " \"maxLength\": 5, \"default\": \"\", \"examples\": [\"Abc\"]},\n"
    "    \"code\": {\"type\": \"string\", \"pattern\": \"[A-Z]{3}-[0-9]+\"},\n"
    "    \"email\": {\"type\": \"string\", \"format\": \"email\"},\n"
    "    \"day\": {\"type\": \"string\", \"format\": \"date\"},\n"
    "    \"site\": {\"type\": \"string\", \"format\": \"uri\"},\n"
    "    \"color\": {\"type\": \"string\", \"enum\": [\"red\", \"green\"]},\n"
    "    \"fixed\": {\"type\": \"string\", \"const\": \"yes\"},\n"
    "    \"note\": {\"type\": \"string\", \"x-multiline\": true,"
    " \"maxLength\": 20},\n"
    "    \"age\": {\"type\": \"integer\", \"minimum\": 18,"
    " \"maximum\": 120},\n"
    "    \"score\": {\"type\": \"number\", \"minimum\": -1.5,"
    " \"maximum\": 2.5},\n"
    "    \"level\": {\"type\": \"integer\", \"enum\": [1, 2, 3]},\n"
    "    \"ratio\": {\"type\": \"number\", \"enum\": [0.5, 1]},\n"
    "    \"agree\": {\"type\": \"boolean\", \"const\": true},\n"
    "    \"flag\": {\"type\": \"boolean\"},\n"
    "    \"tags\": {\"type\": \"array\", \"maxItems\": 2, \"items\":"
    " {\"type\": \"string\", \"enum\": [\"a\", \"b\", \"c\"]}},\n"
    "    \"nums\": {\"type\": \"array\", \"items\": {\"type\": \"integer\","
    " \"maximum\": 10}}\n"
    "  },\n"
    "  \"required\": [\"name\", \"agree\"]\n"
    "}\n";

static const char open_schema[] =
    "{\"type\": \"object\", \"properties\": {"
    "\"name\": {\"type\": \"string\"}}}";

static char	tmpdir[64];

static void
setup(void)
{
	log_init("check_form", LOG_LVL_ERR);
	ck_assert_ptr_nonnull(tu_tmpdir(tmpdir, sizeof(tmpdir),
	    "check_form"));
}

static void
teardown(void)
{
	tu_rmtree(tmpdir);
}

#define collect	tu_diag_buf

/* Writes text to tmpdir/s.json and loads it; diagnostics go to out. */
static int
load_text(const char *text, size_t len, struct schema **s, struct buf *out)
{
	struct diag	 d = { 0, collect, out };
	char		 path[PATH_MAX];
	FILE		*f;
	int		 rc;

	snprintf(path, sizeof(path), "%s/s.json", tmpdir);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	ck_assert_uint_eq(fwrite(text, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
	rc = schema_load(path, s, &d);
	ck_assert_uint_eq(d.count > 0, rc != 0);
	return rc;
}

static struct schema *
load_ok(const char *text)
{
	struct schema	*s;
	struct buf	 out;

	buf_init(&out, 0);
	if (load_text(text, strlen(text), &s, &out) != 0)
		ck_abort_msg("schema did not load: %s", out.data);
	buf_free(&out);
	return s;
}

/* Loads a bad schema and checks the single expected "s.json:LINE: ..."
   diagnostic starts with want (after the file name). */
static void
load_bad(const char *text, const char *want)
{
	struct schema	*s = NULL;
	struct buf	 out;
	const char	*at;

	buf_init(&out, 0);
	ck_assert_int_eq(load_text(text, strlen(text), &s, &out),
	    ERR_CONFIG);
	ck_assert_ptr_null(s);
	ck_assert_ptr_nonnull(out.data);
	at = strstr(out.data, "s.json");
	ck_assert_msg(at && strncmp(at + 6, want, strlen(want)) == 0,
	    "got \"%s\", want \"s.json%s...\"", out.data, want);
	buf_free(&out);
}

static struct schema *
consultation(void)
{
	struct schema	*s;
	struct diag	 d = { 0, NULL, NULL };

	ck_assert_int_eq(schema_load(CONSULTATION, &s, &d), 0);
	ck_assert_uint_eq(d.count, 0);
	return s;
}

static const struct form_opts opts = { .honeypot = "website",
    .max_fields = 64, .max_field_bytes = 4096, .max_json_depth = 8 };

static int
parse(const struct schema *s, enum form_ctype t, const char *body,
    struct form_result *r)
{
	return form_parse(s, t, body, strlen(body), &opts, r);
}

static const struct form_error *
find_err(const struct form_result *r, const char *field, const char *code)
{
	size_t	i;

	for (i = 0; i < r->nerrors; i++)
		if (strcmp(r->errors[i].field, field) == 0 &&
		    strcmp(r->errors[i].code, code) == 0)
			return &r->errors[i];
	return NULL;
}

/* Parses body, expects exactly one error, with field and code. */
static void
one_error(const struct schema *s, enum form_ctype t, const char *body,
    const char *field, const char *code)
{
	struct form_result	r;
	int			rc;

	rc = parse(s, t, body, &r);
	ck_assert_msg(r.nerrors == 1 && find_err(&r, field, code),
	    "body \"%s\": rc %d, %zu errors, first %s/%s (want %s/%s)", body,
	    rc, r.nerrors, r.nerrors ? r.errors[0].field : "-",
	    r.nerrors ? r.errors[0].code : "-", field, code);
	ck_assert_int_eq(rc, strcmp(code, "malformed") == 0 ?
	    ERR_MALFORMED : ERR_REJECTED);
	ck_assert_ptr_null(r.fields);
	form_result_free(&r);
}

/* Parses body, expects success, returns the fields (caller decrefs). */
static json_t *
ok_fields(const struct schema *s, enum form_ctype t, const char *body)
{
	struct form_result	 r;
	json_t			*f;
	int			 rc;

	rc = parse(s, t, body, &r);
	ck_assert_msg(rc == 0, "body \"%s\": rc %d, first error %s/%s",
	    body, rc, r.nerrors ? r.errors[0].field : "-",
	    r.nerrors ? r.errors[0].code : "-");
	ck_assert_uint_eq(r.nerrors, 0);
	f = json_incref(r.fields);
	form_result_free(&r);
	return f;
}

/* The minimal valid body of test_schema, plus extra. */
static void
valid_with(const struct schema *s, const char *extra, const char *field,
    const char *want_json)
{
	char	 body[1024];
	json_t	*f, *want;

	snprintf(body, sizeof(body), "name=Abc&agree=on&%s", extra);
	f = ok_fields(s, FORM_URLENCODED, body);
	want = json_loads(want_json, JSON_DECODE_ANY, NULL);
	ck_assert_ptr_nonnull(want);
	if (json_is_null(want))		/* "null": the field is absent */
		ck_assert_ptr_null(json_object_get(f, field));
	else
		ck_assert_msg(json_equal(json_object_get(f, field), want),
	    "\"%s\": %s is not %s", extra,
	    json_dumps(json_object_get(f, field), JSON_ENCODE_ANY), want_json);
	json_decref(want);
	json_decref(f);
}

static void
invalid_with(const struct schema *s, const char *extra, const char *field,
    const char *code)
{
	char	body[1024];

	snprintf(body, sizeof(body), "name=Abc&agree=on&%s", extra);
	one_error(s, FORM_URLENCODED, body, field, code);
}

/* ---- utf8_valid ---- */

START_TEST(utf8_table)
{
	static const struct {
		const char	*s;
		int		 ok;
	} t[] = {
		{ "", 1 }, { "plain", 1 }, { "caf\xc3\xa9", 1 },
		{ "\xe2\x82\xac", 1 }, { "\xf0\x9f\x98\x80", 1 },
		{ "\xef\xbf\xbf", 1 }, { "\xf4\x8f\xbf\xbf", 1 },
		{ "\xed\x9f\xbf", 1 },			/* U+D7FF */
		{ "\xc0\xaf", 0 }, { "\xc1\xbf", 0 },	/* overlong */
		{ "\xe0\x80\xaf", 0 }, { "\xf0\x80\x80\xaf", 0 },
		{ "\xed\xa0\x80", 0 }, { "\xed\xbf\xbf", 0 },	/* surrogates */
		{ "\xf4\x90\x80\x80", 0 }, { "\xf5\x80\x80\x80", 0 },
		{ "\xff", 0 }, { "\x80", 0 }, { "\xc3", 0 },
		{ "\xe2\x82", 0 }, { "a\xc3(", 0 }, { "\xf0\x9f\x98", 0 },
	};
	size_t	i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		ck_assert_msg(utf8_valid(t[i].s, strlen(t[i].s)) == t[i].ok,
		    "case %zu", i);
	/* the length is honoured, not the NUL */
	ck_assert_int_eq(utf8_valid("a\0b", 3), 1);
	ck_assert_int_eq(utf8_valid("\xc3\xa9", 1), 0);
}
END_TEST

/* ---- the shipped schema ---- */

START_TEST(consultation_loads)
{
	struct schema		*s = consultation();
	const struct form_field	*f;
	const char		*text;
	size_t			 n, len;
	FILE			*fp;
	char			*file;
	long			 flen;

	ck_assert_str_eq(schema_title(s), "Free consultation");
	f = schema_fields(s, &n);
	ck_assert_uint_eq(n, 9);
	ck_assert_str_eq(f[0].name, "name");
	ck_assert_str_eq(f[0].title, "Full name");
	ck_assert_str_eq(f[0].type, "string");
	ck_assert_int_eq(f[0].required, 1);
	ck_assert_int_eq(f[0].min_length, 1);
	ck_assert_int_eq(f[0].max_length, 100);
	ck_assert_ptr_null(f[0].options);
	ck_assert_str_eq(f[1].name, "email");
	ck_assert_str_eq(f[1].format, "email");
	ck_assert_int_eq(f[1].max_length, 254);
	ck_assert_str_eq(f[2].name, "phone");
	ck_assert_str_eq(f[3].name, "country");
	ck_assert_str_eq(f[4].name, "condition");
	ck_assert_ptr_nonnull(f[4].options);
	ck_assert_str_eq(f[4].options[0], "liver-cirrhosis");
	ck_assert_str_eq(f[4].options[3], "other");
	ck_assert_ptr_null(f[4].options[4]);
	ck_assert_str_eq(f[5].name, "message");
	ck_assert_int_eq(f[5].multiline, 1);
	ck_assert_int_eq(f[5].required, 0);
	ck_assert_int_eq(f[5].min_length, -1);
	ck_assert_int_eq(f[5].max_length, 5000);
	ck_assert_str_eq(f[6].name, "contact_time");
	ck_assert_str_eq(f[6].title, "Preferred contact time");
	ck_assert_int_eq(f[6].required, 0);
	ck_assert_str_eq(f[7].name, "reports");
	ck_assert_int_eq(f[7].file, 1);
	ck_assert_int_eq(f[7].max_items, 5);
	ck_assert_int_eq(f[7].required, 0);
	ck_assert_str_eq(f[8].name, "consent");
	ck_assert_str_eq(f[8].type, "boolean");
	ck_assert_int_eq(f[8].required, 1);
	ck_assert_ptr_null(f[8].format);

	/* schema_text is the file, byte for byte */
	ck_assert_ptr_nonnull(fp = fopen(CONSULTATION, "rb"));
	fseek(fp, 0, SEEK_END);
	flen = ftell(fp);
	rewind(fp);
	ck_assert_ptr_nonnull(file = malloc((size_t)flen));
	ck_assert_uint_eq(fread(file, 1, (size_t)flen, fp), (size_t)flen);
	fclose(fp);
	text = schema_text(s, &len);
	ck_assert_uint_eq(len, (size_t)flen);
	ck_assert_int_eq(memcmp(text, file, len), 0);
	free(file);
	schema_free(s);
}
END_TEST

START_TEST(consultation_urlencoded)
{
	struct schema	*s = consultation();
	json_t		*f;

	f = ok_fields(s, FORM_URLENCODED,
	    "name=Test+Patient+One&email=test.patient%40example.com"
	    "&phone=%2B91+00000+00000&country=India"
	    "&condition=liver-cirrhosis"
	    "&message=Line+one%0D%0ALine+two&contact_time=morning"
	    "&consent=on&website=");
	ck_assert_str_eq(json_string_value(json_object_get(f, "name")),
	    "Test Patient One");
	ck_assert_str_eq(json_string_value(json_object_get(f, "email")),
	    "test.patient@example.com");
	ck_assert_str_eq(json_string_value(json_object_get(f, "phone")),
	    "+91 00000 00000");
	ck_assert_str_eq(json_string_value(json_object_get(f, "message")),
	    "Line one\nLine two");
	ck_assert(json_is_true(json_object_get(f, "consent")));
	ck_assert_ptr_null(json_object_get(f, "website"));
	ck_assert_uint_eq(json_object_size(f), 8);
	json_decref(f);
	schema_free(s);
}
END_TEST

START_TEST(consultation_json)
{
	struct schema	*s = consultation();
	json_t		*f;

	f = ok_fields(s, FORM_JSON,
	    "{\"name\": \"Test Patient Two\", \"email\": \"t2@example.com\","
	    " \"phone\": \"+1 (000) 000-0000\", \"country\": \"Kenya\","
	    " \"condition\": \"other\", \"consent\": true,"
	    " \"message\": null, \"contact_time\": \"\"}");
	ck_assert_uint_eq(json_object_size(f), 6);
	ck_assert_ptr_null(json_object_get(f, "message"));
	json_decref(f);
	schema_free(s);
}
END_TEST

START_TEST(consultation_errors)
{
	struct schema		*s = consultation();
	struct form_result	 r;

	ck_assert_int_eq(parse(s, FORM_URLENCODED, "", &r), ERR_REJECTED);
	ck_assert_uint_eq(r.nerrors, 6);
	ck_assert_ptr_nonnull(find_err(&r, "name", "required"));
	ck_assert_str_eq(find_err(&r, "name", "required")->message,
	    "is required");
	ck_assert_str_eq(find_err(&r, "consent", "required")->message,
	    "must be accepted");
	form_result_free(&r);

	ck_assert_int_eq(parse(s, FORM_URLENCODED,
	    "name=Tester&email=t%40example.com&phone=0000&country=India"
	    "&condition=liver-cirrhosis&consent=off", &r), ERR_REJECTED);
	ck_assert_uint_eq(r.nerrors, 2);
	ck_assert_ptr_nonnull(find_err(&r, "phone", "pattern"));
	ck_assert_str_eq(find_err(&r, "consent", "const")->message,
	    "must be accepted");
	form_result_free(&r);

	/* a wrong option never echoes what was sent */
	ck_assert_int_eq(parse(s, FORM_URLENCODED,
	    "name=Tester&email=t%40example.com&phone=%2B91+00000+00000"
	    "&country=India&condition=SECRETVALUE&consent=on", &r),
	    ERR_REJECTED);
	ck_assert_uint_eq(r.nerrors, 1);
	ck_assert_str_eq(r.errors[0].message,
	    "must be one of the listed options");
	ck_assert_ptr_null(strstr(r.errors[0].message, "SECRET"));
	form_result_free(&r);
	schema_free(s);
}
END_TEST

/* ---- keywords ---- */

START_TEST(kw_lengths)
{
	struct schema	*s = load_ok(test_schema);

	json_t		*f;

	f = ok_fields(s, FORM_URLENCODED, "agree=on&name=Ab");
	ck_assert_str_eq(json_string_value(json_object_get(f, "name")), "Ab");
	json_decref(f);
	/* five code points, ten bytes */
	f = ok_fields(s, FORM_URLENCODED,
	    "agree=on&name=%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9");
	ck_assert_str_eq(json_string_value(json_object_get(f, "name")),
	    "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9");
	json_decref(f);
	one_error(s, FORM_URLENCODED,
	    "agree=on&name=%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9", "name",
	    "maxLength");
	one_error(s, FORM_URLENCODED, "agree=on&name=A", "name", "minLength");
	{
		struct form_result	r;

		parse(s, FORM_URLENCODED, "agree=on&name=A", &r);
		ck_assert_str_eq(r.errors[0].message,
		    "must be at least 2 characters");
		form_result_free(&r);
		parse(s, FORM_URLENCODED, "agree=on&name=Abcdef", &r);
		ck_assert_str_eq(r.errors[0].message,
		    "must be at most 5 characters");
		form_result_free(&r);
	}
	schema_free(s);
}
END_TEST

START_TEST(kw_pattern)
{
	struct schema	*s = load_ok(test_schema);

	valid_with(s, "code=ABC-12", "code", "\"ABC-12\"");
	/* unanchored, as JSON Schema says: found anywhere in the value */
	valid_with(s, "code=XABC-12", "code", "\"XABC-12\"");
	valid_with(s, "code=ABC-12x", "code", "\"ABC-12x\"");
	invalid_with(s, "code=abc-1", "code", "pattern");
	invalid_with(s, "code=AB-12", "code", "pattern");
	schema_free(s);
}
END_TEST

/* "email=" and a 64-byte local part at a domain of first + 129 bytes. */
static void
long_email(char *out, size_t size, size_t first)
{
	char	local[65], b[64], c[61], d[64];

	memset(local, 'a', 64);
	local[64] = '\0';
	memset(b, 'b', first);
	b[first] = '\0';
	memset(c, 'c', 60);
	c[60] = '\0';
	memset(d, 'd', 63);
	d[63] = '\0';
	snprintf(out, size, "email=%s@%s.%s.%s.com", local, b, c, d);
}

START_TEST(kw_format_email)
{
	static const char *const good[] = {
		"a@example.com", "first.last%40example.com",
		"x%2Btag@sub.example.co", "o'neil@example.org",
		"a_b-c@ex-ample.com",
	};
	static const char *const bad[] = {
		"plainaddress", "a@b@example.com", "a@example", ".a@example.com",
		"a.@example.com", "a..b@example.com", "a@-example.com",
		"a@example-.com", "a@exa_mple.com", "a@example..com",
		"a@example.com.", "a@1.2.3.4", "a%20b@example.com",
		"a@%5B127.0.0.1%5D", "%40example.com", "a@",
		"%C3%A9@example.com", "a(b)@example.com",
	};
	struct schema	*s = load_ok(test_schema);
	char		 body[600];
	size_t		 i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		snprintf(body, sizeof(body), "name=Abc&agree=on&email=%s",
		    good[i]);
		json_decref(ok_fields(s, FORM_URLENCODED, body));
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(body, sizeof(body), "email=%s", bad[i]);
		invalid_with(s, body, "email", "format");
	}
	/* 254 bytes is the limit: 64 + 1 + 189 */
	long_email(body, sizeof(body), 60);
	{
		json_t	*f;
		char	 full[700];

		snprintf(full, sizeof(full), "name=Abc&agree=on&%s", body);
		f = ok_fields(s, FORM_URLENCODED, full);
		ck_assert_uint_eq(json_string_length(json_object_get(f,
		    "email")), 254);
		json_decref(f);
	}
	long_email(body, sizeof(body), 61);
	invalid_with(s, body, "email", "format");
	schema_free(s);
}
END_TEST

START_TEST(kw_format_date)
{
	static const char *const good[] = {
		"2024-02-29", "2000-02-29", "1999-12-31", "2023-01-01",
	};
	static const char *const bad[] = {
		"2023-02-29", "1900-02-29", "2024-13-01", "2024-00-10",
		"2024-04-31", "2024-4-01", "2024-04-1", "24-04-01",
		"2024/04/01", "2024-04-01T00:00:00Z", "abcd-ef-gh",
		"2024-01-00",
	};
	struct schema	*s = load_ok(test_schema);
	char		 body[100], want[100];
	size_t		 i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		snprintf(body, sizeof(body), "day=%s", good[i]);
		snprintf(want, sizeof(want), "\"%s\"", good[i]);
		valid_with(s, body, "day", want);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(body, sizeof(body), "day=%s", bad[i]);
		invalid_with(s, body, "day", "format");
	}
	schema_free(s);
}
END_TEST

START_TEST(kw_format_uri)
{
	static const char *const good[] = {
		"http://example.com", "https://example.com/",
		"HTTPS://www.example.com:8443/a/b?x=1&y=%2F#frag",
		"http://example.com?q", "https://sub.example.co.uk/%7Euser",
	};
	static const char *const bad[] = {
		"ftp://example.com", "javascript:alert(1)", "example.com",
		"http://", "http:///path", "http://exa mple.com",
		"http://user:pw@example.com/", "http://example.com:/",
		"http://example.com:1234567/", "http://example.com:80x/",
		"http://example.com/%zz", "http://example.com/a b",
		"http://example.com/<x>", "http://localhost/",
		"//example.com/",
		"http://example.com/\xc3\xa9",
	};
	struct schema		*s = load_ok(test_schema);
	struct form_result	 r;
	json_t			*f;
	char			 body[300];
	size_t			 i;

	/* JSON bodies carry the bytes as they are, without % decoding */
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		snprintf(body, sizeof(body), "{\"name\": \"Abc\", \"agree\":"
		    " true, \"site\": \"%s\"}", good[i]);
		f = ok_fields(s, FORM_JSON, body);
		ck_assert_str_eq(json_string_value(json_object_get(f, "site")),
		    good[i]);
		json_decref(f);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(body, sizeof(body), "{\"name\": \"Abc\", \"agree\":"
		    " true, \"site\": \"%s\"}", bad[i]);
		ck_assert_int_eq(parse(s, FORM_JSON, body, &r), ERR_REJECTED);
		ck_assert_msg(r.nerrors == 1 && find_err(&r, "site", "format"),
		    "%s", bad[i]);
		form_result_free(&r);
	}
	schema_free(s);
}
END_TEST

START_TEST(kw_enum_const)
{
	struct schema		*s = load_ok(test_schema);
	struct form_result	 r;

	valid_with(s, "color=green", "color", "\"green\"");
	invalid_with(s, "color=blue", "color", "enum");
	invalid_with(s, "color=Red", "color", "enum");
	valid_with(s, "fixed=yes", "fixed", "\"yes\"");
	invalid_with(s, "fixed=no", "fixed", "const");
	parse(s, FORM_URLENCODED, "name=Abc&agree=on&fixed=no", &r);
	ck_assert_str_eq(r.errors[0].message,
	    "does not have the value this form requires");
	form_result_free(&r);
	valid_with(s, "level=3", "level", "3");
	invalid_with(s, "level=4", "level", "enum");
	/* numbers compare by value: 1 matches 1.0 */
	valid_with(s, "ratio=1", "ratio", "1.0");
	valid_with(s, "ratio=0.50", "ratio", "0.5");
	invalid_with(s, "ratio=0.25", "ratio", "enum");
	/* boolean const */
	one_error(s, FORM_URLENCODED, "name=Abc&agree=no", "agree", "const");
	schema_free(s);
}
END_TEST

/* oneOf of const/title: validated as the enum of its consts, the titles
   for the page; anything else inside a choice is refused at load. */
START_TEST(kw_oneof_titles)
{
	static const char text[] = "{\"type\":\"object\",\"properties\":"
	    "{\"c\":{\"type\":\"string\",\"oneOf\":["
	    "{\"const\":\"fatty-liver\",\"title\":\"Fatty liver disease\"},"
	    "{\"const\":\"other\"}]}}}";
	struct schema		*s = load_ok(text);
	const struct form_field	*f;
	size_t			 n;

	valid_with(s, "c=other", "c", "\"other\"");
	invalid_with(s, "c=Other", "c", "enum");
	f = schema_fields(s, &n);
	ck_assert_str_eq(f[0].options[0], "fatty-liver");
	ck_assert_str_eq(f[0].option_titles[0], "Fatty liver disease");
	ck_assert_str_eq(f[0].option_titles[1], "other");	/* no title */
	ck_assert_ptr_null(f[0].options[2]);
	schema_free(s);
	load_bad("{\"properties\":{\"c\":{\"type\":\"string\",\"enum\":[\"a\"],"
	    "\"oneOf\":[{\"const\":\"a\"}]}}}", ":1: use \"enum\" or \"oneOf\"");
	load_bad("{\"properties\":{\"c\":{\"type\":\"string\",\"oneOf\":"
	    "[{\"const\":\"a\",\"pattern\":\"x\"}]}}}",
	    ":1: a choice holds only");
	load_bad("{\"properties\":{\"c\":{\"type\":\"string\",\"oneOf\":"
	    "[{\"title\":\"a\"}]}}}", ":1: each choice");
	load_bad("{\"properties\":{\"c\":{\"type\":\"integer\",\"oneOf\":"
	    "[{\"const\":\"a\"}]}}}", ":1: each choice");
	load_bad("{\"properties\":{\"c\":{\"type\":\"string\",\"oneOf\":"
	    "[]}}}", ":1: \"oneOf\" must list");
}
END_TEST

/* What the page offers the browser: autocomplete tokens as given, and a
   pattern only when the browser's v-flag reading is the same. */
START_TEST(page_hints_from_schema)
{
	static const char text[] = "{\"type\":\"object\",\"properties\":{"
	    "\"a\":{\"type\":\"string\",\"x-autocomplete\":\"tel\","
	    "\"pattern\":\"^\\\\+[0-9][0-9 \\\\(\\\\)\\\\-]{6,20}$\"},"
	    "\"b\":{\"type\":\"string\",\"pattern\":\"^[0-9 ()-]+$\"},"
	    "\"c\":{\"type\":\"string\",\"pattern\":\"[a-z]+\"},"
	    "\"d\":{\"type\":\"string\",\"pattern\":\"^[ab&&]$\"},"
	    "\"e\":{\"type\":\"string\",\"pattern\":\"^ab\\\\$\"},"
	    "\"f\":{\"type\":\"boolean\",\"const\":true,\"description\":\"x\"}}}";
	struct schema		*s = load_ok(text);
	const struct form_field	*f;
	size_t			 n;

	f = schema_fields(s, &n);
	ck_assert_uint_eq(n, 6);
	ck_assert_str_eq(f[0].autocomplete, "tel");
	ck_assert_str_eq(f[0].pattern, "^\\+[0-9][0-9 \\(\\)\\-]{6,20}$");
	ck_assert_ptr_null(f[1].pattern);	/* ( ) bare in a class */
	ck_assert_ptr_null(f[2].pattern);	/* not anchored */
	ck_assert_ptr_null(f[3].pattern);	/* && is v-mode syntax */
	ck_assert_ptr_null(f[4].pattern);	/* ends in \$, not $ */
	ck_assert_ptr_null(f[1].autocomplete);
	ck_assert_int_eq(f[5].consent, 1);
	ck_assert_int_eq(f[0].consent, 0);
	ck_assert_str_eq(f[5].description, "x");
	schema_free(s);
	load_bad("{\"properties\":{\"a\":{\"type\":\"string\","
	    "\"x-autocomplete\":\"tel\\\"><x\"}}}",
	    ":1: x-autocomplete: autocomplete");
}
END_TEST

/* A one-line answer holding what hides or reorders text is refused; a
   message may keep them (the inbox and intakectl show mark them). */
START_TEST(invisible_in_one_line)
{
	static const char *const bad[] = {
		"%E2%80%AE",	/* U+202E RIGHT-TO-LEFT OVERRIDE */
		"%E2%81%A6",	/* U+2066 LEFT-TO-RIGHT ISOLATE */
		"%E2%80%8B",	/* U+200B ZERO WIDTH SPACE */
		"%E2%80%8F",	/* U+200F RIGHT-TO-LEFT MARK */
		"%EF%BB%BF",	/* U+FEFF BOM */
		"%E2%80%A8",	/* U+2028 LINE SEPARATOR */
		"%E2%80%A9",	/* U+2029 PARAGRAPH SEPARATOR */
	};
	struct schema		*s = load_ok(test_schema);
	struct form_result	 r;
	char			 body[100];
	size_t			 i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(body, sizeof(body), "agree=on&name=Ab%sc", bad[i]);
		one_error(s, FORM_URLENCODED, body, "name", "invisible");
		snprintf(body, sizeof(body), "agree=on&name=Abc&note=x%sy",
		    bad[i]);
		ck_assert_int_eq(parse(s, FORM_URLENCODED, body, &r), 0);
		form_result_free(&r);
	}
	/* Letters of any script are not invisible. */
	ck_assert_int_eq(parse(s, FORM_URLENCODED, "agree=on&name=%E0%A4%AE"
	    "%E0%A4%B0%E0%A5%80%E0%A4%9C%E0%A4%BC", &r), 0);
	form_result_free(&r);
	schema_free(s);
}
END_TEST

/* A rejected urlencoded body keeps what was typed, made displayable, so
   that the form can be shown again filled in. */
START_TEST(answers_kept_on_rejection)
{
	struct schema		*s = load_ok(test_schema);
	struct form_result	 r;
	char			*j;

	ck_assert_int_eq(parse(s, FORM_URLENCODED, "name=%3Cb%3E%22x%FF"
	    "%E2%80%AEy%01&note=a%0D%0Ab%09c&color=blue&website=bot", &r),
	    ERR_REJECTED);
	ck_assert_ptr_nonnull(r.answers);
	ck_assert_str_eq(json_string_value(json_object_get(r.answers,
	    "name")), "<b>\"x\xef\xbf\xbdy");
	ck_assert_str_eq(json_string_value(json_object_get(r.answers,
	    "note")), "a\nb\tc");
	ck_assert_str_eq(json_string_value(json_object_get(r.answers,
	    "color")), "blue");
	ck_assert_ptr_null(json_object_get(r.answers, "website"));
	j = json_dumps(r.answers, 0);
	ck_assert_ptr_nonnull(j);
	free(j);
	form_result_free(&r);
	ck_assert_ptr_null(r.answers);
	/* accepted: nothing kept beyond the fields */
	ck_assert_int_eq(parse(s, FORM_URLENCODED, "name=Abc&agree=on", &r), 0);
	ck_assert_ptr_null(r.answers);
	form_result_free(&r);
	schema_free(s);
}
END_TEST

START_TEST(kw_min_max)
{
	struct schema		*s = load_ok(test_schema);
	struct form_result	 r;

	valid_with(s, "age=18", "age", "18");
	valid_with(s, "age=120", "age", "120");
	invalid_with(s, "age=17", "age", "minimum");
	invalid_with(s, "age=121", "age", "maximum");
	parse(s, FORM_URLENCODED, "name=Abc&agree=on&age=17", &r);
	ck_assert_str_eq(r.errors[0].message, "must be at least 18");
	form_result_free(&r);
	valid_with(s, "score=-1.5", "score", "-1.5");
	valid_with(s, "score=2.5", "score", "2.5");
	invalid_with(s, "score=-1.51", "score", "minimum");
	invalid_with(s, "score=2.6", "score", "maximum");
	parse(s, FORM_URLENCODED, "name=Abc&agree=on&score=3", &r);
	ck_assert_str_eq(r.errors[0].message, "must be at most 2.5");
	form_result_free(&r);
	schema_free(s);
}
END_TEST

START_TEST(kw_arrays)
{
	struct schema		*s = load_ok(test_schema);
	struct form_result	 r;

	valid_with(s, "tags=a&tags=c", "tags", "[\"a\", \"c\"]");
	valid_with(s, "tags=b", "tags", "[\"b\"]");
	/* empty selections are dropped, all empty is absent */
	valid_with(s, "tags=&tags=a&tags=", "tags", "[\"a\"]");
	valid_with(s, "tags=", "tags", "null");
	invalid_with(s, "tags=a&tags=b&tags=c", "tags", "maxItems");
	parse(s, FORM_URLENCODED, "name=Abc&agree=on&tags=a&tags=z", &r);
	ck_assert_uint_eq(r.nerrors, 1);
	ck_assert_str_eq(r.errors[0].code, "enum");
	ck_assert_str_eq(r.errors[0].message,
	    "item 2 must be one of the listed options");
	form_result_free(&r);
	/* items are coerced to their type */
	valid_with(s, "nums=1&nums=-2&nums=10", "nums", "[1, -2, 10]");
	invalid_with(s, "nums=1&nums=x", "nums", "type");
	invalid_with(s, "nums=11", "nums", "maximum");
	/* JSON lists */
	{
		json_t	*f;

		f = ok_fields(s, FORM_JSON, "{\"name\": \"Abc\", \"agree\": true,"
		    " \"tags\": [\"a\", \"b\"], \"nums\": []}");
		ck_assert_uint_eq(json_array_size(json_object_get(f, "tags")),
		    2);
		ck_assert_ptr_null(json_object_get(f, "nums"));
		json_decref(f);
	}
	one_error(s, FORM_JSON, "{\"name\": \"Abc\", \"agree\": true,"
	    " \"tags\": \"a\"}", "tags", "type");
	one_error(s, FORM_JSON, "{\"name\": \"Abc\", \"agree\": true,"
	    " \"tags\": [\"a\", 1]}", "tags", "type");
	one_error(s, FORM_JSON, "{\"name\": \"Abc\", \"agree\": true,"
	    " \"tags\": [\"a\", \"b\", \"c\"]}", "tags", "maxItems");
	schema_free(s);
}
END_TEST

static unsigned
two_reports(void *arg, const char *field)
{
	(void)arg;
	return strcmp(field, "reports") == 0 ? *(unsigned *)arg : 0;
}

/* File fields: described by the schema, counted from the multipart
   body, never text. */
START_TEST(kw_format_binary)
{
	static const char	 text[] = "{\"type\": \"object\", "
	    "\"properties\": {\"name\": {\"type\": \"string\"}, "
	    "\"scan\": {\"type\": \"string\", \"format\": \"binary\"}, "
	    "\"reports\": {\"type\": \"array\", \"maxItems\": 2, "
	    "\"items\": {\"type\": \"string\", \"format\": \"binary\"}}}, "
	    "\"required\": [\"reports\"]}";
	struct schema		*sc = load_ok(text);
	const struct form_field	*f;
	struct form_result	 r;
	struct form_opts	 o = opts;
	unsigned		 n = 0;
	size_t			 nf;

	f = schema_fields(sc, &nf);
	ck_assert_int_eq(f[0].file, 0);
	ck_assert_int_eq(f[1].file, 1);
	ck_assert_int_eq(f[1].max_items, 1);
	ck_assert_int_eq(f[2].file, 1);
	ck_assert_int_eq(f[2].max_items, 2);
	/* Without a multipart body there are no files: required. */
	ck_assert_int_eq(parse(sc, FORM_URLENCODED, "name=x", &r),
	    ERR_REJECTED);
	ck_assert_ptr_nonnull(find_err(&r, "reports", "required"));
	form_result_free(&r);
	/* Text where a file belongs. */
	ck_assert_int_eq(parse(sc, FORM_URLENCODED, "reports=a&scan=b", &r),
	    ERR_REJECTED);
	ck_assert_ptr_nonnull(find_err(&r, "reports", "notAFile"));
	ck_assert_ptr_nonnull(find_err(&r, "scan", "notAFile"));
	form_result_free(&r);
	ck_assert_int_eq(parse(sc, FORM_JSON, "{\"reports\": [\"x\"]}", &r),
	    ERR_REJECTED);
	ck_assert_ptr_nonnull(find_err(&r, "reports", "notAFile"));
	form_result_free(&r);
	/* Counted from the upload: within maxItems, then over it. */
	o.files = two_reports;
	o.files_arg = &n;
	n = 2;
	ck_assert_int_eq(form_parse(sc, FORM_URLENCODED, "name=x", 6, &o, &r),
	    0);
	ck_assert_ptr_null(json_object_get(r.fields, "reports"));
	form_result_free(&r);
	n = 3;
	ck_assert_int_eq(form_parse(sc, FORM_URLENCODED, "name=x", 6, &o, &r),
	    ERR_REJECTED);
	ck_assert_ptr_nonnull(find_err(&r, "reports", "maxItems"));
	form_result_free(&r);
	schema_free(sc);
	/* A text keyword on a file is a promise nobody keeps. */
	load_bad("{\"type\": \"object\", \"properties\": {\"f\": "
	    "{\"type\": \"string\", \"format\": \"binary\",\n"
	    "\"maxLength\": 5}}}", ":2: \"maxLength\" does not apply");
}
END_TEST

START_TEST(kw_annotations_ignored)
{
	struct schema	*s;
	json_t		*f;

	/* default/examples/title/description never change validation */
	s = load_ok("{\"type\": \"object\", \"properties\": {\"a\":"
	    " {\"type\": \"string\", \"default\": \"x\", \"examples\":"
	    " [\"y\"], \"title\": \"A\", \"description\": \"d\","
	    " \"$comment\": \"c\", \"x-multiline\": false}}}");
	f = ok_fields(s, FORM_URLENCODED, "");
	ck_assert_uint_eq(json_object_size(f), 0);
	json_decref(f);
	schema_free(s);
}
END_TEST

/* ---- coercion ---- */

START_TEST(coerce_boolean)
{
	static const char *const yes[] = { "on", "true", "1", "yes" };
	static const char *const no[] = { "off", "false", "0", "no" };
	static const char *const bad[] = { "On", "TRUE", "y", "2", "maybe",
		"true+", "%20on" };
	struct schema	*s = load_ok(test_schema);
	char		 body[64];
	size_t		 i;

	for (i = 0; i < 4; i++) {
		snprintf(body, sizeof(body), "flag=%s", yes[i]);
		valid_with(s, body, "flag", "true");
		snprintf(body, sizeof(body), "flag=%s", no[i]);
		valid_with(s, body, "flag", "false");
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(body, sizeof(body), "flag=%s", bad[i]);
		invalid_with(s, body, "flag", "type");
	}
	schema_free(s);
}
END_TEST

START_TEST(coerce_integer)
{
	static const char *const bad[] = { "%2B20", "20.0", "%2020", "20%20",
		"-", "2e1", "0x14", "twenty", "9223372036854775808",
		"-9223372036854775809", "99999999999999999999999" };
	struct schema	*s = load_ok("{\"type\": \"object\", \"properties\":"
	    " {\"n\": {\"type\": \"integer\"}}}");
	char		 body[64];
	size_t		 i;

	valid_with(s, "n=42", "n", "42");
	valid_with(s, "n=-7", "n", "-7");
	valid_with(s, "n=007", "n", "7");
	valid_with(s, "n=-0", "n", "0");
	valid_with(s, "n=9223372036854775807", "n", "9223372036854775807");
	valid_with(s, "n=-9223372036854775808", "n",
	    "-9223372036854775808");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(body, sizeof(body), "n=%s", bad[i]);
		invalid_with(s, body, "n", "type");
	}
	schema_free(s);
}
END_TEST

START_TEST(coerce_number)
{
	static const char *const bad[] = { "0x10", "inf", "nan", "INF",
		"1e999", "-1e999", "1.2.3", "e5", "-", ".", "1e", "1e%2B",
		"%2B1", "1%2C5", "%201", "1f", "--1", "1e5.5" };
	struct schema	*s = load_ok("{\"type\": \"object\", \"properties\":"
	    " {\"n\": {\"type\": \"number\"}}}");
	char		 body[300];
	size_t		 i;

	valid_with(s, "n=1.5", "n", "1.5");
	valid_with(s, "n=-0.25", "n", "-0.25");
	valid_with(s, "n=.5", "n", "0.5");
	valid_with(s, "n=2.", "n", "2.0");
	valid_with(s, "n=1e2", "n", "100.0");
	valid_with(s, "n=1E-2", "n", "0.01");
	valid_with(s, "n=3e%2B1", "n", "30.0");
	valid_with(s, "n=7", "n", "7.0");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(body, sizeof(body), "n=%s", bad[i]);
		invalid_with(s, body, "n", "type");
	}
	/* an absurdly long number is refused before strtod */
	memset(body, '1', sizeof(body));
	memcpy(body, "n=", 2);
	body[2 + 101] = '\0';
	invalid_with(s, body, "n", "type");
	schema_free(s);
}
END_TEST

START_TEST(json_strict_types)
{
	struct schema	*s = load_ok(test_schema);
	json_t		*f;

	one_error(s, FORM_JSON, "{\"name\": \"Abc\", \"agree\": true,"
	    " \"age\": \"20\"}", "age", "type");
	one_error(s, FORM_JSON, "{\"name\": \"Abc\", \"agree\": true,"
	    " \"age\": 20.5}", "age", "type");
	one_error(s, FORM_JSON, "{\"name\": \"Abc\", \"agree\": \"on\"}",
	    "agree", "type");
	one_error(s, FORM_JSON, "{\"name\": 12345, \"agree\": true}",
	    "name", "type");
	one_error(s, FORM_JSON, "{\"name\": [\"Abc\"], \"agree\": true}",
	    "name", "type");
	/* a nested object where text is expected: an error, not dropped */
	one_error(s, FORM_JSON, "{\"name\": {\"first\": \"Abc\"},"
	    " \"agree\": true}", "name", "type");
	one_error(s, FORM_JSON, "{\"name\": \"Abc\", \"agree\": true,"
	    " \"score\": \"1\"}", "score", "type");
	one_error(s, FORM_JSON, "{\"name\": \"Abc\", \"agree\": 1}",
	    "agree", "type");
	/* an integer may be written with a zero fraction */
	f = ok_fields(s, FORM_JSON, "{\"name\": \"Abc\", \"agree\": true,"
	    " \"age\": 20.0, \"score\": 1, \"flag\": false}");
	ck_assert(json_is_integer(json_object_get(f, "age")));
	ck_assert_int_eq(json_integer_value(json_object_get(f, "age")), 20);
	ck_assert(json_is_false(json_object_get(f, "flag")));
	json_decref(f);
	schema_free(s);
}
END_TEST

/* ---- urlencoded decoding ---- */

START_TEST(url_escapes)
{
	struct schema	*s = load_ok(test_schema);
	json_t		*f;

	f = ok_fields(s, FORM_URLENCODED, "name=A+b%2bc&agree=on");
	ck_assert_str_eq(json_string_value(json_object_get(f, "name")),
	    "A b+c");
	json_decref(f);
	f = ok_fields(s, FORM_URLENCODED, "na%6De=%41%62%63&agree=on&");
	ck_assert_str_eq(json_string_value(json_object_get(f, "name")),
	    "Abc");
	json_decref(f);
	/* empty segments are harmless */
	json_decref(ok_fields(s, FORM_URLENCODED, "&&name=Abc&&agree=on&"));
	one_error(s, FORM_URLENCODED, "name=Ab%G1&agree=on", "", "malformed");
	one_error(s, FORM_URLENCODED, "name=Abc&agree=on%", "", "malformed");
	one_error(s, FORM_URLENCODED, "name=Abc%4&agree=on", "", "malformed");
	one_error(s, FORM_URLENCODED, "name=Abc&agree=on%4", "", "malformed");
	one_error(s, FORM_URLENCODED, "n%ZZame=Abc", "", "malformed");
	/* a malformed body reports only that, even after other errors */
	one_error(s, FORM_URLENCODED, "bogus=1&name=%", "", "malformed");
	schema_free(s);
}
END_TEST

START_TEST(url_utf8)
{
	static const char *const bad[] = {
		"%FF", "%C0%AF", "%C1%BF", "%E0%80%AF", "%ED%A0%80",
		"%ED%BF%BF", "%F4%90%80%80", "%F8%88%80%80%80", "Ab%C3",
		"%80", "%C3%28",
	};
	struct schema	*s = load_ok(test_schema);
	char		 body[100];
	size_t		 i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(body, sizeof(body), "agree=on&name=%s", bad[i]);
		one_error(s, FORM_URLENCODED, body, "name", "utf8");
	}
	valid_with(s, "note=%F0%9F%98%80", "note", "\"\\ud83d\\ude00\"");
	schema_free(s);
}
END_TEST

START_TEST(url_controls)
{
	static const char *const bad[] = {
		"%00", "Ab%00c", "%01", "%1B%5B31m", "%7F", "%C2%85",
		"%C2%9F", "a%09b",
	};
	struct schema		*s = load_ok(test_schema);
	struct form_result	 r;
	char			 body[100];
	size_t			 i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(body, sizeof(body), "agree=on&name=%s", bad[i]);
		one_error(s, FORM_URLENCODED, body, "name", "control");
	}
	/* line breaks in a single-line field */
	one_error(s, FORM_URLENCODED, "agree=on&name=a%0Ab", "name", "control");
	one_error(s, FORM_URLENCODED, "agree=on&name=a%0D%0Ab", "name",
	    "control");
	parse(s, FORM_URLENCODED, "agree=on&name=a%0Db", &r);
	ck_assert_uint_eq(r.nerrors, 1);
	ck_assert_str_eq(r.errors[0].message, "must be a single line");
	form_result_free(&r);
	/* multi-line: CRLF and CR become LF, LF and TAB stay */
	valid_with(s, "note=a%0D%0Ab%0Dc%0Ad%09e", "note",
	    "\"a\\nb\\nc\\nd\\te\"");
	valid_with(s, "note=%0D%0A%0D%0A", "note", "\"\\n\\n\"");
	/* length counts the normalised text: 10 CRLF pairs are 10 chars */
	valid_with(s, "note=%0D%0A%0D%0A%0D%0A%0D%0A%0D%0A%0D%0A%0D%0A%0D%0A"
	    "%0D%0A%0D%0Aabcdefghij", "note",
	    "\"\\n\\n\\n\\n\\n\\n\\n\\n\\n\\nabcdefghij\"");
	invalid_with(s, "note=a%00b", "note", "control");
	invalid_with(s, "note=a%0Bb", "note", "control");
	invalid_with(s, "note=a%C2%85b", "note", "control");
	schema_free(s);
}
END_TEST

START_TEST(url_keys)
{
	struct schema		*s = load_ok(test_schema);
	struct form_result	 r;
	char			 body[400];

	invalid_with(s, "bogus=1", "bogus", "additionalProperties");
	/* once per unknown key */
	parse(s, FORM_URLENCODED, "name=Abc&agree=on&x=1&x=2&y=3", &r);
	ck_assert_uint_eq(r.nerrors, 2);
	ck_assert_str_eq(find_err(&r, "x", "additionalProperties")->message,
	    "is not a field of this form");
	ck_assert_ptr_nonnull(find_err(&r, "y", "additionalProperties"));
	form_result_free(&r);
	invalid_with(s, "color=red&color=green", "color", "duplicate");
	/* a repeat counts even when one of them is empty */
	invalid_with(s, "color=&color=red", "color", "duplicate");
	one_error(s, FORM_URLENCODED, "=x&name=Abc&agree=on", "",
	    "malformed");
	one_error(s, FORM_URLENCODED, "na%FFme=Abc&agree=on", "",
	    "malformed");
	one_error(s, FORM_URLENCODED, "na%0Ame=Abc&agree=on", "",
	    "malformed");
	memset(body, 'k', sizeof(body));
	snprintf(body + 129, sizeof(body) - 129, "=1&name=Abc&agree=on");
	one_error(s, FORM_URLENCODED, body, "", "malformed");
	/* a key with no '=' has an empty value */
	one_error(s, FORM_URLENCODED, "name&agree=on", "name", "required");
	schema_free(s);
}
END_TEST

START_TEST(url_absent_and_required)
{
	struct schema		*s = load_ok(test_schema);
	struct form_result	 r;
	json_t			*f;

	/* every optional input sent empty, as HTML forms do */
	f = ok_fields(s, FORM_URLENCODED, "name=Abc&agree=on&code=&email="
	    "&day=&site=&color=&fixed=&note=&age=&score=&level=&ratio="
	    "&flag=&tags=&nums=");
	ck_assert_uint_eq(json_object_size(f), 2);
	json_decref(f);
	ck_assert_int_eq(parse(s, FORM_URLENCODED, "name=&agree=", &r),
	    ERR_REJECTED);
	ck_assert_uint_eq(r.nerrors, 2);
	ck_assert_ptr_nonnull(find_err(&r, "name", "required"));
	ck_assert_ptr_nonnull(find_err(&r, "agree", "required"));
	form_result_free(&r);
	schema_free(s);
}
END_TEST

START_TEST(url_limits)
{
	struct schema		*s = load_ok(test_schema);
	struct form_opts	 o = { .honeypot = NULL, .max_fields = 4,
	    .max_field_bytes = 8, .max_json_depth = 8 };
	struct form_result	 r;
	const char		*body;

	body = "name=Abc&agree=on&note=123456789";
	ck_assert_int_eq(form_parse(s, FORM_URLENCODED, body, strlen(body),
	    &o, &r), ERR_REJECTED);
	ck_assert_uint_eq(r.nerrors, 1);
	ck_assert_ptr_nonnull(find_err(&r, "note", "tooLong"));
	form_result_free(&r);
	body = "name=Abc&agree=on&note=12345678";
	ck_assert_int_eq(form_parse(s, FORM_URLENCODED, body, strlen(body),
	    &o, &r), 0);
	form_result_free(&r);
	/* the cap is on decoded bytes: %41 is one byte */
	body = "name=Abc&agree=on&note=%41%41%41%41%41%41%41%41";
	ck_assert_int_eq(form_parse(s, FORM_URLENCODED, body, strlen(body),
	    &o, &r), 0);
	form_result_free(&r);
	body = "name=Abc&agree=on&a=1&b=2&c=3";
	ck_assert_int_eq(form_parse(s, FORM_URLENCODED, body, strlen(body),
	    &o, &r), ERR_REJECTED);
	ck_assert_ptr_nonnull(find_err(&r, "", "tooMany"));
	form_result_free(&r);
	/* repeats count too */
	body = "tags=a&tags=a&tags=a&tags=a&tags=a";
	ck_assert_int_eq(form_parse(s, FORM_URLENCODED, body, strlen(body),
	    &o, &r), ERR_REJECTED);
	ck_assert_uint_eq(r.nerrors, 1);
	ck_assert_ptr_nonnull(find_err(&r, "", "tooMany"));
	form_result_free(&r);
	/* NULL options: the defaults (64 fields) */
	body = "name=Abc&agree=on";
	ck_assert_int_eq(form_parse(s, FORM_URLENCODED, body, strlen(body),
	    NULL, &r), 0);
	form_result_free(&r);
	schema_free(s);
}
END_TEST

START_TEST(honeypot)
{
	struct schema		*s = load_ok(test_schema);
	struct form_result	 r;

	ck_assert_int_eq(parse(s, FORM_URLENCODED,
	    "name=Abc&agree=on&website=http%3A%2F%2Fspam.example", &r),
	    0);
	ck_assert_int_eq(r.honeypot, 1);
	ck_assert_ptr_null(json_object_get(r.fields, "website"));
	form_result_free(&r);
	ck_assert_int_eq(parse(s, FORM_URLENCODED,
	    "name=Abc&agree=on&website=", &r), 0);
	ck_assert_int_eq(r.honeypot, 0);
	form_result_free(&r);
	/* set even when the rest is invalid: callers check it first */
	ck_assert_int_eq(parse(s, FORM_URLENCODED, "website=x", &r),
	    ERR_REJECTED);
	ck_assert_int_eq(r.honeypot, 1);
	form_result_free(&r);
	ck_assert_int_eq(parse(s, FORM_JSON, "{\"name\": \"Abc\", \"agree\":"
	    " true, \"website\": \"x\"}", &r), 0);
	ck_assert_int_eq(r.honeypot, 1);
	form_result_free(&r);
	ck_assert_int_eq(parse(s, FORM_JSON, "{\"name\": \"Abc\", \"agree\":"
	    " true, \"website\": \"\"}", &r), 0);
	ck_assert_int_eq(r.honeypot, 0);
	form_result_free(&r);
	schema_free(s);
}
END_TEST

START_TEST(all_errors_at_once)
{
	struct schema		*s = load_ok(test_schema);
	struct form_result	 r;
	size_t			 i;

	ck_assert_int_eq(parse(s, FORM_URLENCODED,
	    "name=A&code=x&email=x&day=x&site=x&color=x&fixed=x&note=%00"
	    "&age=1&score=9&level=9&ratio=9&agree=off&flag=x&tags=x&nums=99"
	    "&bogus=1&name=B", &r), ERR_REJECTED);
	ck_assert_ptr_null(r.fields);
	ck_assert_ptr_nonnull(find_err(&r, "bogus", "additionalProperties"));
	ck_assert_ptr_nonnull(find_err(&r, "name", "duplicate"));
	ck_assert_ptr_nonnull(find_err(&r, "code", "pattern"));
	ck_assert_ptr_nonnull(find_err(&r, "email", "format"));
	ck_assert_ptr_nonnull(find_err(&r, "day", "format"));
	ck_assert_ptr_nonnull(find_err(&r, "site", "format"));
	ck_assert_ptr_nonnull(find_err(&r, "color", "enum"));
	ck_assert_ptr_nonnull(find_err(&r, "fixed", "const"));
	ck_assert_ptr_nonnull(find_err(&r, "note", "control"));
	ck_assert_ptr_nonnull(find_err(&r, "age", "minimum"));
	ck_assert_ptr_nonnull(find_err(&r, "score", "maximum"));
	ck_assert_ptr_nonnull(find_err(&r, "level", "enum"));
	ck_assert_ptr_nonnull(find_err(&r, "ratio", "enum"));
	ck_assert_ptr_nonnull(find_err(&r, "agree", "const"));
	ck_assert_ptr_nonnull(find_err(&r, "flag", "type"));
	ck_assert_ptr_nonnull(find_err(&r, "tags", "enum"));
	ck_assert_ptr_nonnull(find_err(&r, "nums", "maximum"));
	ck_assert_uint_eq(r.nerrors, 17);
	form_result_free(&r);
	schema_free(s);

	/* several keywords of one field */
	s = load_ok("{\"type\": \"object\", \"properties\": {\"code\":"
	    " {\"type\": \"string\", \"minLength\": 10, \"pattern\":"
	    " \"[A-Z]+\"}}}");
	ck_assert_int_eq(parse(s, FORM_URLENCODED, "code=qqq", &r),
	    ERR_REJECTED);
	ck_assert_uint_eq(r.nerrors, 2);
	ck_assert_ptr_nonnull(find_err(&r, "code", "minLength"));
	ck_assert_ptr_nonnull(find_err(&r, "code", "pattern"));
	for (i = 0; i < r.nerrors; i++)
		ck_assert_ptr_null(strstr(r.errors[i].message, "qqq"));
	form_result_free(&r);
	schema_free(s);
}
END_TEST

START_TEST(additional_allowed)
{
	struct schema	*s = load_ok(open_schema);
	json_t		*f;

	f = ok_fields(s, FORM_URLENCODED, "name=A&extra=b+c&empty=");
	ck_assert_str_eq(json_string_value(json_object_get(f, "extra")),
	    "b c");
	ck_assert_ptr_null(json_object_get(f, "empty"));
	json_decref(f);
	one_error(s, FORM_URLENCODED, "extra=1&extra=2", "extra", "duplicate");
	one_error(s, FORM_URLENCODED, "extra=a%0Ab", "extra", "control");
	one_error(s, FORM_URLENCODED, "extra=%FF", "extra", "utf8");
	f = ok_fields(s, FORM_JSON, "{\"name\": \"A\", \"n\": 1, \"r\": 1.5,"
	    " \"b\": true, \"s\": \"t\", \"z\": null}");
	ck_assert_int_eq(json_integer_value(json_object_get(f, "n")), 1);
	ck_assert(json_is_true(json_object_get(f, "b")));
	ck_assert_ptr_null(json_object_get(f, "z"));
	ck_assert_uint_eq(json_object_size(f), 5);
	json_decref(f);
	one_error(s, FORM_JSON, "{\"x\": {\"y\": 1}}", "x", "depth");
	one_error(s, FORM_JSON, "{\"x\": [1]}", "x", "depth");
	one_error(s, FORM_JSON, "{\"x\": \"\\u0007\"}", "x", "control");
	schema_free(s);
}
END_TEST

/* ---- JSON decoding ---- */

START_TEST(json_decoding)
{
	struct schema		*s = load_ok(test_schema);
	struct form_result	 r;
	const char		*body;
	json_t			*f;

	f = ok_fields(s, FORM_JSON, "{\"name\": \"Ab\\u00e9\", \"agree\":"
	    " true, \"note\": \"a\\r\\nb\\rc\\td\"}");
	ck_assert_str_eq(json_string_value(json_object_get(f, "note")),
	    "a\nb\nc\td");
	json_decref(f);
	one_error(s, FORM_JSON, "{\"name\": \"Abc\", \"name\": \"Abd\","
	    " \"agree\": true}", "", "duplicate");
	one_error(s, FORM_JSON, "[]", "", "malformed");
	one_error(s, FORM_JSON, "\"name\"", "", "malformed");
	one_error(s, FORM_JSON, "12", "", "malformed");
	one_error(s, FORM_JSON, "null", "", "malformed");
	one_error(s, FORM_JSON, "", "", "malformed");
	one_error(s, FORM_JSON, "{\"name\": \"Abc\",}", "", "malformed");
	one_error(s, FORM_JSON, "{\"name\": \"Ab\xff\"}", "", "malformed");
	one_error(s, FORM_JSON, "{\"name\": \"\\ud800\"}", "", "malformed");
	one_error(s, FORM_JSON, "{\"name\": \"A\\u0000b\"}", "", "malformed");
	one_error(s, FORM_JSON, "{\"name\": \"Abc\"} {}", "", "malformed");
	one_error(s, FORM_JSON, "{\"\": 1}", "", "malformed");
	one_error(s, FORM_JSON, "{\"a\\nb\": 1}", "", "malformed");
	one_error(s, FORM_JSON, "{\"name\": \"A\\u0001b\", \"agree\": true}",
	    "name", "control");
	one_error(s, FORM_JSON, "{\"name\": \"A\\nb\", \"agree\": true}",
	    "name", "control");
	one_error(s, FORM_JSON, "{\"name\": \"A\\u0085b\", \"agree\": true}",
	    "name", "control");
	one_error(s, FORM_JSON, "{\"name\": \"Abc\", \"agree\": true,"
	    " \"bogus\": 1}", "bogus", "additionalProperties");
	/* the body may arrive with a byte length and no NUL */
	body = "{\"name\": \"Abc\", \"agree\": true}XYZ";
	ck_assert_int_eq(form_parse(s, FORM_JSON, body, strlen(body) - 3,
	    &opts, &r), 0);
	form_result_free(&r);
	schema_free(s);
}
END_TEST

/* "{"a":" k '[' k ']' "}" (or only the brackets when !obj). */
static char *
nested(size_t k, int obj)
{
	char	*p, *q;

	ck_assert_ptr_nonnull(p = malloc(2 * k + 8));
	q = p;
	if (obj)
		q = stpcpy(q, "{\"a\":");
	memset(q, '[', k);
	memset(q + k, ']', k);
	q += 2 * k;
	strcpy(q, obj ? "}" : "");
	return p;
}

static void
depth_error(const struct schema *s, const char *body,
    const struct form_opts *o)
{
	struct form_result	r;

	ck_assert_int_eq(form_parse(s, FORM_JSON, body, strlen(body), o, &r),
	    ERR_REJECTED);
	ck_assert_uint_eq(r.nerrors, 1);
	ck_assert_ptr_nonnull(find_err(&r, "", "depth"));
	ck_assert_str_eq(r.errors[0].message,
	    "the JSON body is nested too deeply");
	form_result_free(&r);
}

START_TEST(json_depth)
{
	struct schema		*s = load_ok(test_schema);
	struct form_opts	 o = { .honeypot = NULL, .max_fields = 64,
	    .max_field_bytes = 4096, .max_json_depth = 2 };
	struct form_result	 r;
	const char		*body;
	char			*deep;

	/* depth 2 is enough for the schema's lists */
	body = "{\"name\": \"Abc\", \"agree\": true, \"tags\": [\"a\"]}";
	ck_assert_int_eq(form_parse(s, FORM_JSON, body, strlen(body), &o, &r),
	    0);
	form_result_free(&r);
	depth_error(s, "{\"name\": \"Abc\", \"agree\": true,"
	    " \"tags\": [[\"a\"]]}", &o);
	/* within the depth cap, nesting the schema does not allow is a type
	   error, never dropped */
	one_error(s, FORM_JSON, "{\"name\": \"Abc\", \"agree\": true,"
	    " \"tags\": [[\"a\"]]}", "tags", "type");
	/* the default cap is 8 levels, the top-level object included */
	deep = nested(7, 1);
	ck_assert_int_eq(form_parse(s, FORM_JSON, deep, strlen(deep), &opts,
	    &r), ERR_REJECTED);
	ck_assert_ptr_nonnull(find_err(&r, "a", "additionalProperties"));
	ck_assert_ptr_null(find_err(&r, "", "depth"));
	form_result_free(&r);
	free(deep);
	deep = nested(8, 1);
	depth_error(s, deep, &opts);
	free(deep);
	/* deeper than jansson's own parser limit */
	deep = nested(5000, 1);
	depth_error(s, deep, &opts);
	free(deep);
	deep = nested(5000, 0);
	depth_error(s, deep, &opts);
	free(deep);
	schema_free(s);
}
END_TEST

START_TEST(json_limits)
{
	struct schema		*s = load_ok(test_schema);
	struct form_opts	 o = { .honeypot = NULL, .max_fields = 3,
	    .max_field_bytes = 4, .max_json_depth = 8 };
	struct form_result	 r;
	const char		*body;

	body = "{\"name\": \"Abcde\", \"agree\": true}";
	ck_assert_int_eq(form_parse(s, FORM_JSON, body, strlen(body), &o, &r),
	    ERR_REJECTED);
	ck_assert_ptr_nonnull(find_err(&r, "name", "tooLong"));
	form_result_free(&r);
	body = "{\"name\": \"Abc\", \"agree\": true, \"a\": 1, \"b\": 2}";
	ck_assert_int_eq(form_parse(s, FORM_JSON, body, strlen(body), &o, &r),
	    ERR_REJECTED);
	ck_assert_uint_eq(r.nerrors, 1);
	ck_assert_ptr_nonnull(find_err(&r, "", "tooMany"));
	form_result_free(&r);
	body = "{\"name\": \"Abc\", \"agree\": true, \"nums\": [1, 2, 3, 4]}";
	ck_assert_int_eq(form_parse(s, FORM_JSON, body, strlen(body), &o, &r),
	    ERR_REJECTED);
	ck_assert_ptr_nonnull(find_err(&r, "nums", "tooMany"));
	form_result_free(&r);
	schema_free(s);
}
END_TEST

/* ---- schema load errors ---- */

START_TEST(load_syntax)
{
	load_bad("{\n  \"type\": \"object\",\n  \"properties\": {,\n}\n",
	    ":3: ");
	load_bad("{\n  \"type\": \"object\",\n  \"type\": \"object\"\n}\n",
	    ":3: duplicate object key");
	load_bad("", ":1: ");
	load_bad("[\n]\n", ":1: the schema must be a JSON object");
}
END_TEST

START_TEST(load_keywords)
{
	load_bad("{\n\"type\": \"object\",\n\"properties\": {\n"
	    "  \"a\": {\n    \"type\": \"string\",\n    \"maxLenght\": 5\n"
	    "  }\n}\n}\n", ":6: unknown keyword \"maxLenght\"");
	load_bad("{\n\"type\": \"object\",\n\"properties\": {\n"
	    "  \"a\": {\n    \"type\": \"string\",\n\n    \"maxLength\": \"5\"\n"
	    "  }\n}\n}\n", ":7: \"maxLength\" must be a non-negative integer");
	load_bad("{\n\"type\": \"object\",\n\"properties\": {\n"
	    "  \"a\": {\"type\": \"string\",\n \"minLength\": -1}}}\n",
	    ":5: \"minLength\" must be a non-negative integer");
	load_bad("{\n\"type\": \"object\",\n\"properties\": {\n"
	    "  \"a\": {\"type\": \"string\",\n"
	    " \"minimum\": 1}}}\n",
	    ":5: \"minimum\" does not apply to a field of type string");
	load_bad("{\n\"type\": \"object\",\n\"properties\": {\n"
	    "  \"a\": {\"type\": \"integer\",\n"
	    " \"minimum\": 1.5}}}\n",
	    ":5: \"minimum\" of an integer field must be a whole number");
	load_bad("{\n\"type\": \"object\",\n\"properties\": {\n"
	    "  \"a\": {\"type\": \"string\",\n"
	    " \"format\": \"phone\"}}}\n", ":5: unknown format \"phone\"");
	load_bad("{\n\"type\": \"object\",\n\"properties\": {\n"
	    "  \"a\": {\"type\": \"string\", \"title\": 5}}}\n",
	    ":4: \"title\" must be a string");
	load_bad("{\n\"type\": \"object\",\n\"properties\": {\n"
	    "  \"a\": {\"type\": \"string\",\n\"x-multiline\": \"yes\"}}}\n",
	    ":5: \"x-multiline\" must be true or false");
	load_bad("{\n\"type\": \"object\",\n\"properties\": {\n"
	    "  \"a\": {\"type\": \"boolean\",\n\"x-multiline\": true}}}\n",
	    ":5: \"x-multiline\" does not apply");
	load_bad("{\n\"type\": \"object\",\n\"additionalProperties\": {},\n"
	    "\"properties\": {}}\n",
	    ":3: \"additionalProperties\" must be true or false");
	load_bad("{\n\"type\": \"array\",\n\"properties\": {}}\n",
	    ":2: the top-level type must be \"object\"");
	load_bad("{\n\"type\": \"object\",\n\"$id\": \"x\",\n"
	    "\"minLength\": 1,\n\"properties\": {}}\n",
	    ":4: \"minLength\" is not supported at the top level");
	load_bad("{\"type\": \"object\"}\n",
	    ":1: the schema has no \"properties\"");
}
END_TEST

START_TEST(load_fields)
{
	/* missing type: the line of the property */
	load_bad("{\n\"type\": \"object\",\n\"properties\": {\n"
	    "  \"a\": {\"type\": \"string\"},\n  \"b\": {\n"
	    "    \"title\": \"B\"\n  }\n}}\n", ":5: missing \"type\"");
	load_bad("{\n\"type\": \"object\",\n\"properties\": {\n"
	    "  \"a\": {\n\"type\": \"object\"}}}\n",
	    ":5: unsupported type \"object\"");
	load_bad("{\n\"type\": \"object\",\n\"properties\": {\n"
	    "  \"a\": {\"type\": [\"string\", \"null\"]}}}\n",
	    ":4: \"type\" must be a string");
	load_bad("{\n\"type\": \"object\",\n\"properties\": {\n"
	    "  \"a\": {\"type\": \"string\",\n \"properties\": {}}}}\n",
	    ":5: \"properties\" is not supported in a property");
	load_bad("{\n\"type\": \"object\",\n\"properties\": {\n"
	    "  \"a\": {\"type\": \"array\", \"items\": {\n"
	    "    \"type\": \"array\"}}}}\n",
	    ":5: lists of lists are not supported");
	load_bad("{\n\"type\": \"object\",\n\"properties\": {\n"
	    "  \"a\": {\"type\": \"array\", \"items\": {\n"
	    "    \"type\": \"string\",\n    \"maxItems\": 3}}}}\n",
	    ":6: \"maxItems\" is not supported in items");
	load_bad("{\n\"type\": \"object\",\n\"properties\": {\n"
	    "  \"a\": 5}}\n", ":4: a field's schema must be an object");
	load_bad("{\n\"type\": \"object\",\n\"properties\": {\n"
	    "  \"a\": {\"type\": \"string\", \"enum\": [\n    \"x\",\n"
	    "    3\n  ]}}}\n", ":6: enum values must be string values");
	load_bad("{\n\"type\": \"object\",\n\"properties\": {\n"
	    "  \"a\": {\"type\": \"string\",\n \"enum\": []}}}\n",
	    ":5: \"enum\" must list at least one value");
	load_bad("{\n\"type\": \"object\",\n\"properties\": {\n"
	    "  \"a\": {\"type\": \"boolean\",\n \"const\": \"true\"}}}\n",
	    ":5: \"const\" must be a boolean value");
	load_bad("{\n\"type\": \"object\",\n\"properties\": {\n"
	    "  \"a\": {\"type\": \"string\",\n \"minLength\": 5,"
	    " \"maxLength\": 2}}}\n", ":5: minLength is greater than maxLength");
	load_bad("{\n\"type\": \"object\",\n\"properties\": {\n"
	    "  \"a\": {\"type\": \"number\", \"minimum\": 5,\n"
	    " \"maximum\": 2}}}\n", ":4: minimum is greater than maximum");
	load_bad("{\n\"type\": \"object\",\n\"properties\": {\n"
	    "  \"a\": {\"type\": \"string\"}},\n\"required\": [\n  \"a\",\n"
	    "  \"b\"\n]}\n",
	    ":7: required property \"b\" is not defined in \"properties\"");
	load_bad("{\n\"type\": \"object\",\n\"properties\": {\n"
	    "  \"\": {\"type\": \"string\"}}}\n",
	    ":4: a property name must be 1 to 128 bytes");
}
END_TEST

START_TEST(load_patterns)
{
	load_bad("{\n\"type\": \"object\",\n\"properties\": {\n"
	    "  \"a\": {\n    \"type\": \"string\",\n"
	    "    \"pattern\": \"[a-\"\n  }}}\n",
	    ":6: pattern: missing terminating ] for character class at "
	    "offset 3");
	load_bad("{\n\"type\": \"object\",\n\"properties\": {\n"
	    "  \"a\": {\n    \"type\": \"string\",\n"
	    "    \"pattern\": \"a{2,1}\"\n  }}}\n",
	    ":6: pattern: numbers out of order in {} quantifier at offset 5");
	load_bad("{\n\"type\": \"object\",\n\"properties\": {\n"
	    "  \"a\": {\"type\": \"string\",\n"
	    "    \"pattern\": \"(a)\\\\1\"}}}\n",
	    ":5: pattern: back-references are not supported at offset 3");
	load_bad("{\n\"type\": \"object\",\n\"properties\": {\n"
	    "  \"a\": {\"type\": \"string\",\n"
	    "    \"pattern\": \"a)|(b\"}}}\n",
	    ":5: pattern: unmatched closing parenthesis at offset 1");
	load_bad("{\n\"type\": \"object\",\n\"properties\": {\n"
	    "  \"a\": {\"type\": \"string\",\n"
	    "    \"pattern\": \"(ab\"}}}\n",
	    ":5: pattern: missing closing parenthesis at offset 3");
	load_bad("{\n\"type\": \"object\",\n\"properties\": {\n"
	    "  \"a\": {\"type\": \"string\",\n"
	    "    \"pattern\": \"ab\\\\\"}}}\n",
	    ":5: pattern: \\ at end of pattern at offset 2");
}
END_TEST

START_TEST(load_pattern_brackets)
{
	struct schema	*s;

	/* parentheses are literal in a class, ']' is written \] (ECMA-262) */
	s = load_ok("{\"type\": \"object\", \"properties\": {\"a\":"
	    " {\"type\": \"string\", \"pattern\":"
	    " \"^[\\\\]()]+[^\\\\])]?[\\\\d()]*$\"}}}");
	valid_with(s, "a=%5D%28%29x1%29", "a", "\"]()x1)\"");
	invalid_with(s, "a=x", "a", "pattern");
	schema_free(s);
	/* ^ and $ bind to their alternative only: ^a or b$ */
	s = load_ok("{\"type\": \"object\", \"properties\": {\"a\":"
	    " {\"type\": \"string\", \"pattern\": \"^a|b$\"}}}");
	valid_with(s, "a=b", "a", "\"b\"");
	valid_with(s, "a=ab", "a", "\"ab\"");
	valid_with(s, "a=cb", "a", "\"cb\"");
	invalid_with(s, "a=ba", "a", "pattern");
	schema_free(s);
	/* [] never matches, [^] matches anything, as in ECMA-262 */
	s = load_ok("{\"type\": \"object\", \"properties\": {\"a\":"
	    " {\"type\": \"string\", \"pattern\": \"^x[]|^[^]y$\"}}}");
	valid_with(s, "a=%5Dy", "a", "\"]y\"");
	invalid_with(s, "a=x", "a", "pattern");
	schema_free(s);
}
END_TEST

/* ---- patterns: the common subset of ECMA-262 and PCRE2 ---- */

/* A schema whose one field "a" (multi-line) has the pattern given as
   JSON string text, so backslashes come doubled. */
static struct schema *
pattern_schema(const char *json_pattern)
{
	char	text[2048];

	snprintf(text, sizeof(text), "{\"type\": \"object\", \"properties\": "
	    "{\"a\": {\"type\": \"string\", \"x-multiline\": true, "
	    "\"pattern\": \"%s\"}}}", json_pattern);
	return load_ok(text);
}

/* Expects the pattern (JSON string text), written on line 5 of the file,
   to be refused with want: "pattern: REASON at offset N". */
static void
pattern_bad(const char *json_pattern, const char *want)
{
	char	text[2048], line[300];

	snprintf(text, sizeof(text), "{\n\"type\": \"object\",\n\"properties\":"
	    " {\n  \"a\": {\"type\": \"string\",\n    \"pattern\": \"%s\"}}}\n",
	    json_pattern);
	snprintf(line, sizeof(line), ":5: %s\n", want);
	load_bad(text, line);
}

/* One value against one pattern (JSON string text, backslashes doubled):
   accepted, or refused with a single "pattern" error. */
struct match_case {
	const char	*pattern;
	const char	*value;		/* urlencoded */
	int		 ok;
};

static void
check_matches(const struct match_case *t, size_t n)
{
	struct schema	*s;
	json_t		*f;
	char		 body[256];
	size_t		 i;

	for (i = 0; i < n; i++) {
		s = pattern_schema(t[i].pattern);
		snprintf(body, sizeof(body), "a=%s", t[i].value);
		if (t[i].ok) {
			f = ok_fields(s, FORM_URLENCODED, body);
			ck_assert_ptr_nonnull(json_object_get(f, "a"));
			json_decref(f);
		} else
			one_error(s, FORM_URLENCODED, body, "a", "pattern");
		schema_free(s);
	}
}

START_TEST(pattern_counts_characters)
{
	static const struct match_case	t[] = {
		/* "." is one code point: three ü are six bytes */
		{ "^.{1,3}$", "%C3%BC%C3%BC%C3%BC", 1 },
		{ "^.{1,3}$", "%C3%BC%C3%BC%C3%BC%C3%BC", 0 },
		{ "^.$", "%F0%9F%98%80", 1 },
		{ "^.$", "ab", 0 },
		/* unanchored, ".{1,3}" finds three characters in four */
		{ ".{1,3}", "%C3%BC%C3%BC%C3%BC%C3%BC", 1 },
	};

	check_matches(t, sizeof(t) / sizeof(t[0]));
}
END_TEST

START_TEST(pattern_unanchored)
{
	static const struct match_case	t[] = {
		{ "abc", "xabcx", 1 },
		{ "abc", "abc", 1 },
		{ "abc", "abxc", 0 },
		{ "^abc$", "abc", 1 },
		{ "^abc$", "xabcx", 0 },
		{ "^abc$", "abcx", 0 },
		/* "$" is the very end, not before a final newline */
		{ "^abc$", "abc%0A", 0 },
		/* "." stops at a line break, as in ECMA-262 */
		{ "^a.b$", "a%E2%82%ACb", 1 },
		{ "^a.b$", "a%0Ab", 0 },
		{ "^a.b$", "a%E2%80%A8b", 0 },		/* U+2028 */
	};

	check_matches(t, sizeof(t) / sizeof(t[0]));
}
END_TEST

START_TEST(pattern_unicode)
{
	static const struct match_case	t[] = {
		/* \p{...}: Unicode properties, any script */
		{ "^\\\\p{L}+$", "Jos%C3%A9", 1 },
		{ "^\\\\p{L}+$", "%CE%95%CE%BB%CE%AD%CE%BD%CE%B7", 1 },
		{ "^\\\\p{L}+$", "J0s%C3%A9", 0 },
		{ "^\\\\p{Script=Greek}+$", "%CE%B1%CE%B2", 1 },
		{ "^\\\\p{Script=Greek}+$", "ab", 0 },
		/* \w \d \b stay ASCII, as in ECMA-262 with the u flag */
		{ "^\\\\w+$", "Jose_1", 1 },
		{ "^\\\\w+$", "Jos%C3%A9", 0 },
		{ "\\\\d", "%D9%A3", 0 },		/* ARABIC-INDIC 3 */
		{ "\\\\bcaf\\\\b", "caf%C3%A9", 1 },
		/* \s is ECMA-262's: Unicode spaces and U+FEFF too */
		{ "^a\\\\sb$", "a%C2%A0b", 1 },
		{ "^a\\\\sb$", "a%E3%80%80b", 1 },
		{ "^a\\\\sb$", "a%EF%BB%BFb", 1 },
		{ "^a\\\\sb$", "a%0Ab", 1 },
		{ "^a\\\\sb$", "axb", 0 },
		{ "^\\\\S[^\\\\s]$", "%C3%A9x", 1 },
		{ "^\\\\S[^\\\\s]$", "%C2%A0x", 0 },
		{ "^\\\\S[^\\\\s]$", "x%C2%A0", 0 },
		/* \u escapes as ECMA-262 writes them */
		{ "^\\\\u00e9\\\\u{1F600}$", "%C3%A9%F0%9F%98%80", 1 },
	};

	check_matches(t, sizeof(t) / sizeof(t[0]));
}
END_TEST

static double
seconds_since(const struct timespec *t0)
{
	struct timespec	t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) +
	    (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

START_TEST(pattern_backtracking_limit)
{
	struct schema		*s;
	struct form_result	 r;
	struct timespec		 t0;
	char			 body[4100];
	size_t			 i;

	s = pattern_schema("^(a+)+$");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ck_assert_int_eq(parse(s, FORM_URLENCODED,
	    "a=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!", &r), ERR_REJECTED);
	ck_assert_double_lt(seconds_since(&t0), 2.0);
	ck_assert_uint_eq(r.nerrors, 1);
	ck_assert_ptr_nonnull(find_err(&r, "a", "pattern"));
	ck_assert_str_eq(r.errors[0].message, "is too long or too complex to "
	    "check against the expected format");
	form_result_free(&r);
	schema_free(s);

	/* unanchored, the limit holds for the whole search: from any one
	   start in these 235 runs of 16 a's the match stays under it */
	s = pattern_schema("(a+)+$");
	memcpy(body, "a=", 2);
	for (i = 2; i < 4001; i++)
		body[i] = (i - 2) % 17 == 16 ? '!' : 'a';
	body[i - 1] = '!';
	body[i] = '\0';
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ck_assert_int_eq(parse(s, FORM_URLENCODED, body, &r), ERR_REJECTED);
	ck_assert_double_lt(seconds_since(&t0), 2.0);
	ck_assert_str_eq(r.errors[0].message, "is too long or too complex to "
	    "check against the expected format");
	form_result_free(&r);
	/* a plain mismatch still says so */
	ck_assert_int_eq(parse(s, FORM_URLENCODED, "a=b", &r), ERR_REJECTED);
	ck_assert_str_eq(r.errors[0].message, "is not in the expected format");
	form_result_free(&r);
	schema_free(s);
}
END_TEST

START_TEST(pattern_pcre2_only)
{
	pattern_bad("a++", "pattern: possessive quantifiers such as a++ are "
	    "PCRE2-only at offset 2");
	pattern_bad("a{2}+", "pattern: possessive quantifiers such as a++ are "
	    "PCRE2-only at offset 4");
	pattern_bad("x(?>a)", "pattern: atomic groups (?>...) are PCRE2-only "
	    "at offset 1");
	pattern_bad("\\\\Aa", "pattern: \\A is not an escape ECMA-262 and "
	    "PCRE2 read alike at offset 0");
	pattern_bad("a\\\\Z", "pattern: \\Z is not an escape ECMA-262 and "
	    "PCRE2 read alike at offset 1");
	pattern_bad("a\\\\z", "pattern: \\z is not an escape ECMA-262 and "
	    "PCRE2 read alike at offset 1");
	pattern_bad("ab\\\\Kc", "pattern: \\K is not an escape ECMA-262 and "
	    "PCRE2 read alike at offset 2");
	pattern_bad("(?i)a", "pattern: inline options such as (?i) are "
	    "PCRE2-only at offset 0");
	pattern_bad("a(?R)?", "pattern: recursion and subroutine calls are "
	    "PCRE2-only at offset 1");
	pattern_bad("(a)(?(1)b|c)", "pattern: conditional groups (?(...) are "
	    "PCRE2-only at offset 3");
	pattern_bad("^[[:alpha:]]+$", "pattern: POSIX classes such as "
	    "[[:alpha:]] are PCRE2-only (write \\[ for a '[') at offset 2");
	pattern_bad("(*LIMIT_MATCH=1)a", "pattern: (*...) verbs and options "
	    "are PCRE2-only at offset 0");
	pattern_bad("\\\\p{Greek}", "pattern: \\p{...} takes a "
	    "General_Category value (L, Lu, Nd, ...) or Script=NAME at "
	    "offset 0");
	/* what ECMA-262 refuses and PCRE2 would take as something else */
	pattern_bad("a{,3}", "pattern: a '{' that does not start {n}, {n,} or "
	    "{n,m} (write \\{) at offset 1");
	pattern_bad("a]", "pattern: a lone ']' (write \\]) at offset 1");
	pattern_bad("(?=a)*b", "pattern: a lookaround cannot be quantified at "
	    "offset 5");
	pattern_bad("a\\\\-b", "pattern: \\- is not an escape ECMA-262 and "
	    "PCRE2 read alike at offset 1");
	pattern_bad("\\\\x{41}", "pattern: \\x is not an escape ECMA-262 and "
	    "PCRE2 read alike at offset 0");
	pattern_bad("[\\\\S]", "pattern: \\S inside [...] (write [^\\s...]) at "
	    "offset 1");
}
END_TEST

START_TEST(pattern_syntax_errors)
{
	char	*big;

	pattern_bad("[z-a]", "pattern: range out of order in character class "
	    "at offset 3");
	/* the offset is in the pattern as written, not as rewritten */
	pattern_bad("\\\\s\\\\s[z-a]", "pattern: range out of order in "
	    "character class at offset 7");
	pattern_bad("(?<=a+)b", "pattern: lookbehind assertion is not fixed "
	    "length at offset 0");
	pattern_bad("a{70000}", "pattern: number too big in {} quantifier at "
	    "offset 7");
	ck_assert_ptr_nonnull(big = malloc(1026));
	memset(big, 'a', 1025);
	big[1025] = '\0';
	pattern_bad(big, "pattern: longer than 1024 bytes");
	big[1024] = '\0';
	schema_free(pattern_schema(big));
	free(big);
}
END_TEST

START_TEST(load_many_errors)
{
	struct schema	*s = NULL;
	struct buf	 out;
	const char	*text =
	    "{\n"
	    "  \"type\": \"object\",\n"
	    "  \"propertys\": 1,\n"
	    "  \"properties\": {\n"
	    "    \"a\": {\n"
	    "      \"type\": \"string\",\n"
	    "      \"pattern\": \"(\",\n"
	    "      \"format\": \"nope\"\n"
	    "    },\n"
	    "    \"b\": {\n"
	    "      \"type\": \"integer\",\n"
	    "      \"maxLength\": 3\n"
	    "    }\n"
	    "  }\n"
	    "}\n";

	buf_init(&out, 0);
	ck_assert_int_eq(load_text(text, strlen(text), &s, &out),
	    ERR_CONFIG);
	ck_assert_ptr_nonnull(strstr(out.data, "s.json:3: unknown keyword"));
	ck_assert_ptr_nonnull(strstr(out.data, "s.json:7: pattern: missing "
	    "closing parenthesis"));
	ck_assert_ptr_nonnull(strstr(out.data, "s.json:8: unknown format"));
	ck_assert_ptr_nonnull(strstr(out.data, "s.json:12: \"maxLength\" does"
	    " not apply to a field of type integer"));
	buf_free(&out);
}
END_TEST

START_TEST(load_same_key_elsewhere)
{
	/* the line is found along the path, not at the first "pattern" */
	load_bad("{\n\"type\": \"object\",\n\"properties\": {\n"
	    "  \"a\": {\"type\": \"string\", \"pattern\": \"x\"},\n"
	    "  \"b\": {\"type\": \"string\",\n"
	    "    \"pattern\": \"(\"}}}\n",
	    ":6: pattern: missing closing parenthesis");
	/* a key inside a string value does not confuse the scanner */
	load_bad("{\n\"type\": \"object\",\n\"description\": \"\\\"c\\\": {\","
	    "\n\"properties\": {\n"
	    "  \"c\": {\"type\": \"string\",\n"
	    "    \"bad\": 1}}}\n", ":6: unknown keyword \"bad\"");
}
END_TEST

START_TEST(load_limits)
{
	struct schema	*s = NULL;
	struct buf	 out;
	struct diag	 d = { 0, collect, &out };
	char		*big;
	size_t		 n = 1024 * 1024 + 10;

	buf_init(&out, 0);
	ck_assert_ptr_nonnull(big = malloc(n));
	memset(big, ' ', n);
	memcpy(big, "{\"properties\": {}}", 18);
	ck_assert_int_eq(load_text(big, n, &s, &out), ERR_CONFIG);
	ck_assert_ptr_nonnull(strstr(out.data, "larger than 1048576 bytes"));
	ck_assert_ptr_null(s);
	/* just under the cap loads */
	buf_reset(&out);
	ck_assert_int_eq(load_text(big, 1024 * 1024, &s, &out), 0);
	schema_free(s);
	free(big);
	buf_reset(&out);
	ck_assert_int_eq(schema_load("/nonexistent/x.schema.json", &s, &d),
	    ERR_CONFIG);
	ck_assert_ptr_nonnull(strstr(out.data, "/nonexistent/x.schema.json: "
	    "No such file"));
	buf_free(&out);
}
END_TEST

START_TEST(fields_of_test_schema)
{
	struct schema		*s = load_ok(test_schema);
	const struct form_field	*f;
	size_t			 n;

	f = schema_fields(s, &n);
	ck_assert_uint_eq(n, 16);
	ck_assert_str_eq(f[0].title, "Name");
	ck_assert_str_eq(f[1].title, "code");	/* falls back to the name */
	ck_assert_str_eq(f[3].format, "date");
	ck_assert_str_eq(f[4].format, "uri");
	ck_assert_str_eq(f[5].options[1], "green");
	ck_assert_str_eq(f[8].type, "integer");
	ck_assert_str_eq(f[9].type, "number");
	ck_assert_ptr_null(f[10].options);	/* integer enum */
	ck_assert_int_eq(f[12].required, 1);
	ck_assert_str_eq(f[14].type, "array");
	ck_assert_str_eq(f[14].options[2], "c");
	ck_assert_ptr_null(f[14].options[3]);
	ck_assert_str_eq(schema_title(s), "Test form");
	schema_free(s);
}
END_TEST

Suite *
form_suite(void)
{
	Suite	*s = suite_create("form");
	TCase	*tc;

	tc = tcase_create("schema");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, consultation_loads);
	tcase_add_test(tc, fields_of_test_schema);
	tcase_add_test(tc, load_syntax);
	tcase_add_test(tc, load_keywords);
	tcase_add_test(tc, load_fields);
	tcase_add_test(tc, load_patterns);
	tcase_add_test(tc, load_pattern_brackets);
	tcase_add_test(tc, pattern_pcre2_only);
	tcase_add_test(tc, pattern_syntax_errors);
	tcase_add_test(tc, load_many_errors);
	tcase_add_test(tc, load_same_key_elsewhere);
	tcase_add_test(tc, load_limits);
	suite_add_tcase(s, tc);

	tc = tcase_create("validate");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, utf8_table);
	tcase_add_test(tc, consultation_urlencoded);
	tcase_add_test(tc, consultation_json);
	tcase_add_test(tc, consultation_errors);
	tcase_add_test(tc, kw_lengths);
	tcase_add_test(tc, kw_pattern);
	tcase_add_test(tc, pattern_counts_characters);
	tcase_add_test(tc, pattern_unanchored);
	tcase_add_test(tc, pattern_unicode);
	tcase_add_test(tc, pattern_backtracking_limit);
	tcase_add_test(tc, kw_format_email);
	tcase_add_test(tc, kw_format_date);
	tcase_add_test(tc, kw_format_uri);
	tcase_add_test(tc, kw_enum_const);
	tcase_add_test(tc, kw_oneof_titles);
	tcase_add_test(tc, page_hints_from_schema);
	tcase_add_test(tc, invisible_in_one_line);
	tcase_add_test(tc, answers_kept_on_rejection);
	tcase_add_test(tc, kw_min_max);
	tcase_add_test(tc, kw_arrays);
	tcase_add_test(tc, kw_format_binary);
	tcase_add_test(tc, kw_annotations_ignored);
	tcase_add_test(tc, coerce_boolean);
	tcase_add_test(tc, coerce_integer);
	tcase_add_test(tc, coerce_number);
	tcase_add_test(tc, json_strict_types);
	tcase_add_test(tc, url_escapes);
	tcase_add_test(tc, url_utf8);
	tcase_add_test(tc, url_controls);
	tcase_add_test(tc, url_keys);
	tcase_add_test(tc, url_absent_and_required);
	tcase_add_test(tc, url_limits);
	tcase_add_test(tc, honeypot);
	tcase_add_test(tc, all_errors_at_once);
	tcase_add_test(tc, additional_allowed);
	tcase_add_test(tc, json_decoding);
	tcase_add_test(tc, json_depth);
	tcase_add_test(tc, json_limits);
	suite_add_tcase(s, tc);
	return s;
}
