/* Unit tests for the template engine and the shipped HTML templates.
   Run from the top of the tree: the shipped templates are read from
   templates/ (INTAKE_TEMPLATES overrides the directory). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <jansson.h>

#include "buf.h"
#include "log.h"
#include "page.h"
#include "template.h"
#include "testutil.h"

/* The shipped templates are checked against the variable sets the daemon
   itself promises them (snapshot.c), not against a copy. */
/* A generic set for the engine tests. */
static const struct tmpl_var sub_vars[] = {
	{ "v", NULL },
	{ "x", NULL },
	{ NULL, NULL }
};

static const struct tmpl_var item_vars[] = {
	{ "name", NULL },
	{ "x", NULL },
	{ "subs", sub_vars },
	{ NULL, NULL }
};

static const struct tmpl_var vars[] = {
	{ "x", NULL },
	{ "y", NULL },
	{ "flag", NULL },
	{ "title", NULL },
	{ "items", item_vars },
	{ "other", item_vars },
	{ NULL, NULL }
};

/* template_load's files go in a per-test directory that the fixture
   removes whole, whatever a failing test left in it. */
static char	tmpdir[64];

static void
setup_tmpdir(void)
{
	ck_assert_ptr_nonnull(tu_tmpdir(tmpdir, sizeof(tmpdir),
	    "check_template"));
}

static void
teardown_tmpdir(void)
{
	tu_rmtree(tmpdir);
}

/* Parses text; diagnostics land in *diags (initialised here). */
static int
parse(const char *text, enum tmpl_mode mode, const struct tmpl_var *v,
    struct tmpl **t, struct buf *diags, unsigned *count)
{
	struct diag	d = { 0, tu_diag_buf, diags };
	int		r;

	buf_init(diags, 0);
	r = template_parse("t.html", text, strlen(text), mode, v, t, &d);
	if (count)
		*count = d.count;
	return r;
}

/* Parses text (must succeed) and renders it with ctx given as JSON. */
static char *
render(const char *text, enum tmpl_mode mode, const char *ctxjson)
{
	struct tmpl	*t;
	struct buf	 diags, out;
	json_error_t	 jerr;
	json_t		*ctx;
	char		*s;
	int		 r;

	r = parse(text, mode, vars, &t, &diags, NULL);
	ck_assert_msg(r == 0, "parse failed: %s", diags.data);
	buf_free(&diags);
	ctx = json_loads(ctxjson, 0, &jerr);
	ck_assert_msg(ctx != NULL, "bad test json: %s", jerr.text);
	buf_init(&out, 0);
	ck_assert_int_eq(template_render(t, ctx, &out), 0);
	s = buf_steal(&out, NULL);
	json_decref(ctx);
	template_free(t);
	return s;
}

static void
expect(const char *text, enum tmpl_mode mode, const char *ctx,
    const char *want)
{
	char	*got = render(text, mode, ctx);

	ck_assert_str_eq(got, want);
	free(got);
}

/* Parses text, expecting failure with exactly the diagnostic want. */
static void
expect_err(const char *text, const char *want)
{
	struct tmpl	*t = (struct tmpl *)1;
	struct buf	 diags;
	unsigned	 count;

	ck_assert_int_eq(parse(text, TMPL_HTML, vars, &t, &diags, &count),
	    ERR_CONFIG);
	ck_assert_ptr_null(t);
	ck_assert_uint_eq(count, 1);
	ck_assert_str_eq(diags.data, want);
	buf_free(&diags);
}

START_TEST(test_var_html_escape)
{
	expect("<p>{{x}}</p>", TMPL_HTML,
	    "{\"x\": \"<script>alert('a&b')</script> \\\"q\\\"\"}",
	    "<p>&lt;script&gt;alert(&#39;a&amp;b&#39;)&lt;/script&gt; "
	    "&quot;q&quot;</p>");
	expect("{{x}}", TMPL_HTML, "{\"x\": \"plain é ü\"}", "plain é ü");
	expect("{{x}}", TMPL_HTML, "{\"x\": \"\"}", "");
}
END_TEST

START_TEST(test_var_text_mode)
{
	expect("Hi {{x}}!", TMPL_TEXT, "{\"x\": \"<b>&'\\\"\"}",
	    "Hi <b>&'\"!");
}
END_TEST

START_TEST(test_raw)
{
	expect("{{{x}}}|{{x}}", TMPL_HTML, "{\"x\": \"<i>\"}",
	    "<i>|&lt;i&gt;");
	expect("{{{ x }}}", TMPL_TEXT, "{\"x\": \"<i>\"}", "<i>");
}
END_TEST

START_TEST(test_whitespace_in_tags)
{
	expect("[{{ x }}][{{\tx\t}}][{{# flag }}on{{/ flag }}]"
	    "[{{^ flag }}off{{/flag}}]", TMPL_HTML,
	    "{\"x\": \"a\", \"flag\": true}", "[a][a][on][]");
	expect("{{\nx\n}}", TMPL_HTML, "{\"x\": \"n\"}", "n");
}
END_TEST

START_TEST(test_comment)
{
	expect("a{{! a comment with {braces} and {{ }}b", TMPL_HTML,
	    "{\"x\": \"X\"}", "ab");
	/* A comment alone on its lines disappears with its newline. */
	expect("a\n{{! one\n two }}\nb\n", TMPL_TEXT, "{}", "a\nb\n");
}
END_TEST

START_TEST(test_missing_and_scalars)
{
	expect("[{{x}}][{{y}}]", TMPL_HTML, "{\"x\": null}", "[][]");
	expect("{{x}} {{y}}", TMPL_HTML, "{\"x\": 42, \"y\": -7}", "42 -7");
	expect("{{x}} {{y}}", TMPL_HTML, "{\"x\": 0.5, \"y\": 3.0}", "0.5 3");
	expect("{{x}}", TMPL_HTML, "{\"x\": 0.1}", "0.1");
	expect("{{x}}", TMPL_HTML, "{\"x\": 1e300}", "1e+300");
	expect("{{x}}", TMPL_HTML, "{\"x\": 0.30000000000000004}",
	    "0.30000000000000004");
	expect("{{x}}", TMPL_HTML, "{\"x\": 9007199254740993}",
	    "9007199254740993");
	expect("{{x}}/{{y}}", TMPL_HTML, "{\"x\": true, \"y\": false}",
	    "true/false");
	/* A structured value where a scalar was promised prints nothing. */
	expect("[{{x}}][{{y}}]", TMPL_HTML, "{\"x\": [1], \"y\": {\"a\": 1}}",
	    "[][]");
	/* A context that is not an object is simply empty. */
	expect("[{{x}}]", TMPL_HTML, "[]", "[]");
}
END_TEST

START_TEST(test_section_truthiness)
{
	const char	*t = "{{#flag}}S{{/flag}}{{^flag}}I{{/flag}}";

	expect(t, TMPL_HTML, "{\"flag\": true}", "S");
	expect(t, TMPL_HTML, "{\"flag\": \"yes\"}", "S");
	expect(t, TMPL_HTML, "{\"flag\": 0}", "S");
	expect(t, TMPL_HTML, "{\"flag\": 2.5}", "S");
	expect(t, TMPL_HTML, "{\"flag\": [1]}", "S");
	expect(t, TMPL_HTML, "{\"flag\": {}}", "S");
	expect(t, TMPL_HTML, "{\"flag\": false}", "I");
	expect(t, TMPL_HTML, "{\"flag\": null}", "I");
	expect(t, TMPL_HTML, "{\"flag\": \"\"}", "I");
	expect(t, TMPL_HTML, "{\"flag\": []}", "I");
	expect(t, TMPL_HTML, "{}", "I");
	/* A scalar section shows once and keeps the outer scope. */
	expect("{{#flag}}<{{x}}>{{/flag}}", TMPL_HTML,
	    "{\"flag\": [1, 2, 3], \"x\": \"o\"}", "<o>");
}
END_TEST

START_TEST(test_list_sections)
{
	expect("{{#items}}[{{name}}/{{title}}]{{/items}}", TMPL_HTML,
	    "{\"title\": \"T&\", \"items\": [{\"name\": \"a\"}, "
	    "{\"name\": \"<b>\"}, {}]}",
	    "[a/T&amp;][&lt;b&gt;/T&amp;][/T&amp;]");
	expect("({{#items}}x{{/items}})", TMPL_HTML, "{\"items\": []}", "()");
	expect("({{#items}}x{{/items}})", TMPL_HTML, "{}", "()");
	/* Items that are not objects still repeat, with nothing in scope. */
	expect("{{#items}}[{{name}}]{{/items}}", TMPL_HTML,
	    "{\"items\": [1, \"s\", null]}", "[][][]");
	/* A list given a scalar shows once with an empty item scope. */
	expect("{{#items}}[{{name}}|{{title}}]{{/items}}", TMPL_HTML,
	    "{\"items\": true, \"title\": \"t\"}", "[|t]");
	expect("{{^items}}none{{/items}}", TMPL_HTML, "{\"items\": []}",
	    "none");
	expect("{{^items}}none{{/items}}", TMPL_HTML,
	    "{\"items\": [{}]}", "");
}
END_TEST

START_TEST(test_list_scope_shadowing)
{
	/* "x" exists at both levels: inside the list the item's wins, and
	   an item without it renders empty rather than the outer value. */
	expect("{{x}}{{#items}}[{{x}}]{{/items}}{{x}}", TMPL_HTML,
	    "{\"x\": \"O\", \"items\": [{\"x\": \"i\"}, {}]}",
	    "O[i][]O");
}
END_TEST

START_TEST(test_nested_sections)
{
	const char	*t =
	    "{{#items}}{{name}}:{{#subs}}({{v}},{{x}},{{name}},{{title}})"
	    "{{/subs}}{{^subs}}-{{/subs}};{{/items}}";

	expect(t, TMPL_HTML,
	    "{\"title\": \"T\", \"items\": ["
	    "{\"name\": \"a\", \"subs\": [{\"v\": 1, \"x\": \"p\"}, "
	    "{\"v\": 2}]},"
	    "{\"name\": \"b\", \"subs\": []}]}",
	    "a:(1,p,a,T)(2,,a,T);b:-;");
	/* A scalar section inside a list sees the item's variables. */
	expect("{{#items}}{{#name}}<{{name}}>{{/name}}{{^name}}?{{/name}}"
	    "{{/items}}", TMPL_HTML,
	    "{\"items\": [{\"name\": \"n\"}, {\"name\": \"\"}]}", "<n>?");
	expect("{{#flag}}{{#items}}{{name}}{{/items}}{{/flag}}", TMPL_HTML,
	    "{\"flag\": 1, \"items\": [{\"name\": \"q\"}]}", "q");
}
END_TEST

START_TEST(test_standalone_lines)
{
	expect("<ul>\n  {{#items}}\n  <li>{{name}}</li>\n  {{/items}}\n"
	    "</ul>\n", TMPL_HTML,
	    "{\"items\": [{\"name\": \"a\"}, {\"name\": \"b\"}]}",
	    "<ul>\n  <li>a</li>\n  <li>b</li>\n</ul>\n");
	expect("a\r\n{{#flag}}\r\nb\r\n{{/flag}}\r\nc", TMPL_TEXT,
	    "{\"flag\": true}", "a\r\nb\r\nc");
	expect("{{#flag}}\nx\n{{/flag}}", TMPL_TEXT, "{\"flag\": true}",
	    "x\n");
	/* Not alone on the line: kept as written. */
	expect("a {{#flag}}b{{/flag}}\n", TMPL_TEXT, "{\"flag\": true}",
	    "a b\n");
	expect("{{x}} {{#flag}}\n{{/flag}}", TMPL_TEXT, "{\"flag\": true, \"x\": 1}",
	    "1 \n");
	/* Variables never take their line. */
	expect("{{x}}\n", TMPL_TEXT, "{\"x\": \"\"}", "\n");
}
END_TEST

START_TEST(test_plain_text_and_braces)
{
	expect("", TMPL_HTML, "{}", "");
	expect("no tags } { }} here", TMPL_HTML, "{}", "no tags } { }} here");
	expect("css{a:b}", TMPL_HTML, "{}", "css{a:b}");
}
END_TEST

START_TEST(test_err_unknown_variable)
{
	expect_err("line1\nline2\n<p>{{nope}}</p>",
	    "t.html:3: unknown variable \"nope\"\n");
	/* Item variables are not visible outside their list. */
	expect_err("{{#items}}{{name}}{{/items}}\n{{name}}",
	    "t.html:2: unknown variable \"name\"\n");
	/* Nor inside an inverted list section (there are no items). */
	expect_err("{{^items}}\n{{name}}\n{{/items}}",
	    "t.html:2: unknown variable \"name\"\n");
	/* A sibling list's item variables are not in scope. */
	expect_err("{{#items}}{{#subs}}{{v}}{{/subs}}{{/items}}{{#other}}"
	    "\n\n{{v}}{{/other}}", "t.html:3: unknown variable \"v\"\n");
	expect_err("{{#nope}}{{/nope}}",
	    "t.html:1: unknown variable \"nope\"\n");
	expect_err("{{{nope}}}", "t.html:1: unknown variable \"nope\"\n");
}
END_TEST

START_TEST(test_err_sections)
{
	expect_err("a\n{{#flag}}\nb\n",
	    "t.html:2: section {{#flag}} is never closed\n");
	expect_err("{{^flag}}", "t.html:1: section {{^flag}} is never closed\n");
	expect_err("{{#flag}}\n{{#items}}\n\n{{/flag}}\n{{/items}}",
	    "t.html:4: {{/flag}} does not match {{#items}} opened at "
	    "line 2\n");
	expect_err("x\n\n{{/flag}}", "t.html:3: {{/flag}} closes no open "
	    "section\n");
	expect_err("{{#flag}}{{/flag}}{{/flag}}",
	    "t.html:1: {{/flag}} closes no open section\n");
}
END_TEST

START_TEST(test_err_tags)
{
	expect_err("ok\nstart {{x\n\nmore", "t.html:2: unterminated tag\n");
	expect_err("\n{{{x}}", "t.html:2: unterminated tag\n");
	expect_err("{{", "t.html:1: unterminated tag\n");
	expect_err("\n\n{{}}", "t.html:3: empty tag name\n");
	expect_err("{{  }}", "t.html:1: empty tag name\n");
	expect_err("{{{ }}}", "t.html:1: empty tag name\n");
	expect_err("{{# }}{{/ }}", "t.html:1: empty tag name\n");
	expect_err("\n{{items}}", "t.html:2: list \"items\" used as a value; "
	    "use {{#items}}...{{/items}}\n");
	expect_err("{{{items}}}", "t.html:1: list \"items\" used as a value; "
	    "use {{#items}}...{{/items}}\n");
	expect_err("a\n{{=<% %>=}}",
	    "t.html:2: set delimiters ({{=...=}}) are not supported\n");
	expect_err("{{> header}}",
	    "t.html:1: partials ({{>...}}) are not supported\n");
	expect_err("{{&x}}", "t.html:1: {{&...}} is not supported; "
	    "use {{{...}}}\n");
	expect_err("{{items.name}}", "t.html:1: dotted names are not "
	    "supported: \"items.name\"\n");
	expect_err("{{.}}", "t.html:1: dotted names are not supported: "
	    "\".\"\n");
	expect_err("{{x y}}", "t.html:1: invalid character in tag name\n");
	expect_err("{{a123456789a123456789a123456789a123456789a123456789"
	    "a123456789abcde}}",
	    "t.html:1: tag name longer than 64 characters\n");
}
END_TEST

START_TEST(test_err_many_reported)
{
	struct tmpl	*t;
	struct buf	 diags;
	unsigned	 count;

	ck_assert_int_eq(parse("{{a}}\n{{x}}\n{{b}}\n{{items}}\n{{#flag}}",
	    TMPL_HTML, vars, &t, &diags, &count), ERR_CONFIG);
	ck_assert_ptr_null(t);
	ck_assert_uint_eq(count, 4);
	ck_assert_str_eq(diags.data,
	    "t.html:1: unknown variable \"a\"\n"
	    "t.html:3: unknown variable \"b\"\n"
	    "t.html:4: list \"items\" used as a value; "
	    "use {{#items}}...{{/items}}\n"
	    "t.html:5: section {{#flag}} is never closed\n");
	buf_free(&diags);
}
END_TEST

START_TEST(test_err_error_cap)
{
	struct tmpl	*t;
	struct buf	 diags, src;
	unsigned	 count, i;

	buf_init(&src, 0);
	for (i = 0; i < 100; i++)
		ck_assert_int_eq(buf_puts(&src, "{{bad}}\n"), 0);
	ck_assert_int_eq(parse(src.data, TMPL_HTML, vars, &t, &diags,
	    &count), ERR_CONFIG);
	ck_assert_uint_eq(count, 20);
	buf_free(&diags);
	buf_free(&src);
}
END_TEST

START_TEST(test_err_nesting_depth)
{
	struct buf	 src;
	int		 i;

	buf_init(&src, 0);
	ck_assert_int_eq(buf_puts(&src, "\n"), 0);
	for (i = 0; i < 17; i++)
		ck_assert_int_eq(buf_puts(&src, "{{#flag}}"), 0);
	expect_err(src.data, "t.html:2: sections nested deeper than 16\n");
	buf_free(&src);

	/* 16 levels are fine, every one a list scope. */
	buf_init(&src, 0);
	for (i = 0; i < 16; i++)
		ck_assert_int_eq(buf_puts(&src, "{{#items}}"), 0);
	for (i = 0; i < 16; i++)
		ck_assert_int_eq(buf_puts(&src, "{{/items}}"), 0);
	expect(src.data, TMPL_HTML, "{\"items\": [{\"items\": [{}]}]}", "");
	buf_free(&src);
}
END_TEST

START_TEST(test_err_encoding)
{
	expect_err("a\nb\xc3(", "t.html:2: invalid UTF-8\n");
	expect_err("\xc0\xaf", "t.html:1: invalid UTF-8\n");	/* overlong */
	expect_err("\n\n\xed\xa0\x80", "t.html:3: invalid UTF-8\n");
	expect_err("\xf4\x90\x80\x80", "t.html:1: invalid UTF-8\n");
	expect_err("\xff", "t.html:1: invalid UTF-8\n");
	expect("\xf0\x9f\x99\x82 \xe2\x80\x94 \xc3\xa9", TMPL_HTML, "{}",
	    "\xf0\x9f\x99\x82 \xe2\x80\x94 \xc3\xa9");
}
END_TEST

START_TEST(test_err_nul_byte)
{
	struct tmpl	*t;
	struct buf	 diags;
	struct diag	 d = { 0, tu_diag_buf, &diags };

	buf_init(&diags, 0);
	ck_assert_int_eq(template_parse("n.txt", "a\n\0b", 4, TMPL_TEXT, vars,
	    &t, &d), ERR_CONFIG);
	ck_assert_ptr_null(t);
	ck_assert_str_eq(diags.data, "n.txt:2: NUL byte in template\n");
	buf_free(&diags);
}
END_TEST

START_TEST(test_err_too_large)
{
	struct tmpl	*t;
	struct buf	 diags;
	struct diag	 d = { 0, tu_diag_buf, &diags };
	size_t		 n = 256 * 1024;
	char		*big = malloc(n + 1);

	ck_assert_ptr_nonnull(big);
	memset(big, 'a', n + 1);
	buf_init(&diags, 0);
	ck_assert_int_eq(template_parse("big.html", big, n + 1, TMPL_HTML,
	    vars, &t, &d), ERR_CONFIG);
	ck_assert_ptr_null(t);
	ck_assert_str_eq(diags.data,
	    "big.html: template too large (262145 bytes, max 262144)\n");
	ck_assert_int_eq(template_parse("big.html", big, n, TMPL_HTML, vars,
	    &t, &d), 0);
	template_free(t);
	buf_free(&diags);
	free(big);
}
END_TEST

START_TEST(test_null_diag)
{
	struct tmpl	*t;

	ck_assert_int_eq(template_parse("q", "{{nope}}", 8, TMPL_HTML, vars,
	    &t, NULL), ERR_CONFIG);
	ck_assert_ptr_null(t);
	ck_assert_int_eq(template_load("/nonexistent/x.html", TMPL_HTML, vars,
	    &t, NULL), ERR_IO);
	ck_assert_ptr_null(t);
	/* No promised variables at all: plain text still parses. */
	ck_assert_int_eq(template_parse("q", "hi", 2, TMPL_HTML, NULL, &t,
	    NULL), 0);
	template_free(t);
	template_free(NULL);
}
END_TEST

/* Writes len bytes of s to a file in tmpdir; returns its malloc'd path. */
static char *
tmpfile_with(const char *s, size_t len)
{
	char	path[PATH_MAX], *p;

	ck_assert_ptr_nonnull(tu_path(path, sizeof(path), tmpdir, "t.tmpl"));
	ck_assert_int_eq(tu_write_file(path, s, len, 0644), 0);
	ck_assert_ptr_nonnull(p = strdup(path));
	return p;
}

START_TEST(test_load_file)
{
	struct tmpl	*t;
	struct buf	 diags, out;
	struct diag	 d = { 0, tu_diag_buf, &diags };
	json_t		*ctx;
	char		*path, msg[600];

	buf_init(&diags, 0);
	path = tmpfile_with("Hello {{x}}\n\n{{oops}}\n", 22);
	ck_assert_int_eq(template_load(path, TMPL_TEXT, vars, &t, &d),
	    ERR_CONFIG);
	snprintf(msg, sizeof(msg), "%s:3: unknown variable \"oops\"\n", path);
	ck_assert_str_eq(diags.data, msg);
	unlink(path);
	free(path);

	path = tmpfile_with("Hello {{x}}\n", 12);
	ck_assert_int_eq(template_load(path, TMPL_TEXT, vars, &t, &d),
	    0);
	ctx = json_pack("{s:s}", "x", "<w>");
	buf_init(&out, 0);
	ck_assert_int_eq(template_render(t, ctx, &out), 0);
	ck_assert_str_eq(out.data, "Hello <w>\n");
	buf_free(&out);
	json_decref(ctx);
	template_free(t);
	unlink(path);
	free(path);

	buf_reset(&diags);
	ck_assert_int_eq(template_load("/nonexistent/x.html", TMPL_HTML, vars,
	    &t, &d), ERR_IO);
	ck_assert_ptr_null(t);
	ck_assert_str_eq(diags.data, "/nonexistent/x.html: cannot open: "
	    "No such file or directory\n");
	buf_reset(&diags);
	ck_assert_int_eq(template_load("/tmp", TMPL_HTML, vars, &t, &d),
	    ERR_IO);
	ck_assert_str_eq(diags.data, "/tmp: not a regular file\n");
	buf_free(&diags);
}
END_TEST

START_TEST(test_load_file_too_large)
{
	struct tmpl	*t;
	struct buf	 diags;
	struct diag	 d = { 0, tu_diag_buf, &diags };
	size_t		 n = 256 * 1024 + 1;
	char		*big = malloc(n), *path, msg[600];

	ck_assert_ptr_nonnull(big);
	memset(big, 'a', n);
	path = tmpfile_with(big, n);
	buf_init(&diags, 0);
	ck_assert_int_eq(template_load(path, TMPL_HTML, vars, &t, &d),
	    ERR_CONFIG);
	ck_assert_ptr_null(t);
	snprintf(msg, sizeof(msg), "%s: template too large (max 262144 "
	    "bytes)\n", path);
	ck_assert_str_eq(diags.data, msg);
	unlink(path);
	free(path);
	/* Exactly at the cap loads. */
	path = tmpfile_with(big, n - 1);
	ck_assert_int_eq(template_load(path, TMPL_HTML, vars, &t, &d),
	    0);
	template_free(t);
	unlink(path);
	free(path);
	buf_free(&diags);
	free(big);
}
END_TEST

START_TEST(test_render_too_big)
{
	struct tmpl	*t;
	struct buf	 diags, out;
	json_t		*ctx;

	ck_assert_int_eq(parse("<{{x}}>{{#items}}[{{name}}]{{/items}}",
	    TMPL_HTML, vars, &t, &diags, NULL), 0);
	buf_free(&diags);
	ctx = json_pack("{s:s, s:[{s:s},{s:s}]}", "x", "&&",
	    "items", "name", "abc", "name", "def");
	/* The full rendering is 22 bytes; prior content must survive. */
	buf_init(&out, 22 + 3);
	ck_assert_int_eq(buf_puts(&out, "pre"), 0);
	ck_assert_int_eq(template_render(t, ctx, &out), 0);
	ck_assert_str_eq(out.data, "pre<&amp;&amp;>[abc][def]");
	buf_free(&out);
	buf_init(&out, 22 + 2);
	ck_assert_int_eq(buf_puts(&out, "pre"), 0);
	ck_assert_int_eq(template_render(t, ctx, &out), ERR_TOOBIG);
	ck_assert_uint_eq(out.len, 3);
	ck_assert_str_eq(out.data, "pre");
	buf_free(&out);
	/* Failing inside an escaped value. */
	buf_init(&out, 4);
	ck_assert_int_eq(template_render(t, ctx, &out), ERR_TOOBIG);
	ck_assert_uint_eq(out.len, 0);
	buf_free(&out);
	json_decref(ctx);
	template_free(t);
}
END_TEST

START_TEST(test_html_escape)
{
	struct buf	out;

	buf_init(&out, 0);
	ck_assert_int_eq(html_escape(&out, "a<b>&\"'c", 9), 0);
	ck_assert_str_eq(out.data, "a&lt;b&gt;&amp;&quot;&#39;c");
	buf_reset(&out);
	/* Length-bounded: bytes past len are not read. */
	ck_assert_int_eq(html_escape(&out, "ab<cd", 2), 0);
	ck_assert_str_eq(out.data, "ab");
	ck_assert_int_eq(html_escape(&out, "", 0), 0);
	ck_assert_str_eq(out.data, "ab");
	buf_free(&out);

	buf_init(&out, 6);
	ck_assert_int_eq(buf_puts(&out, "x"), 0);
	ck_assert_int_eq(html_escape(&out, "<<", 2), ERR_TOOBIG);
	ck_assert_str_eq(out.data, "x");
	ck_assert_int_eq(html_escape(&out, "abcde", 5), 0);
	ck_assert_str_eq(out.data, "xabcde");
	buf_free(&out);
}
END_TEST

START_TEST(test_reuse_parsed)
{
	struct tmpl	*t;
	struct buf	 diags, out;
	json_t		*a, *b;

	ck_assert_int_eq(parse("{{x}};", TMPL_HTML, vars, &t, &diags, NULL),
	    0);
	buf_free(&diags);
	a = json_pack("{s:s}", "x", "1");
	b = json_pack("{s:i}", "x", 2);
	buf_init(&out, 0);
	ck_assert_int_eq(template_render(t, a, &out), 0);
	ck_assert_int_eq(template_render(t, b, &out), 0);
	ck_assert_int_eq(template_render(t, a, &out), 0);
	ck_assert_str_eq(out.data, "1;2;1;");
	buf_free(&out);
	json_decref(a);
	json_decref(b);
	template_free(t);
}
END_TEST

/* Loads templates/NAME with vs and renders it with ctx (a JSON text). */
static char *
shipped(const char *name, const struct tmpl_var *vs, const char *ctxjson)
{
	const char	*dir = getenv("INTAKE_TEMPLATES");
	struct tmpl	*t;
	struct buf	 diags, out;
	struct diag	 d = { 0, tu_diag_buf, &diags };
	json_error_t	 jerr;
	json_t		*ctx;
	char		 path[512];

	snprintf(path, sizeof(path), "%s/%s", dir ? dir : "templates", name);
	buf_init(&diags, 0);
	ck_assert_msg(template_load(path, TMPL_HTML, vs, &t, &d) == 0,
	    "%s: %s", path, diags.data ? diags.data : "cannot load");
	buf_free(&diags);
	ctx = json_loads(ctxjson, 0, &jerr);
	ck_assert_msg(ctx != NULL, "bad test json: %s", jerr.text);
	buf_init(&out, 64 * 1024);
	ck_assert_int_eq(template_render(t, ctx, &out), 0);
	json_decref(ctx);
	template_free(t);
	return buf_steal(&out, NULL);
}

static void
has(const char *page, const char *s)
{
	ck_assert_msg(strstr(page, s) != NULL, "missing <%s> in:\n%.3000s", s,
	    page);
}

static void
lacks(const char *page, const char *s)
{
	const char	*at = strstr(page, s);

	ck_assert_msg(at == NULL, "unexpected <%s> at:\n%.300s", s,
	    at ? (at - page > 100 ? at - 100 : page) : "");
}

/* What every shipped page must be: HTML5, English, self-contained. */
static void
well_formed_page(const char *page)
{
	ck_assert_msg(strncmp(page, "<!DOCTYPE html>\n", 16) == 0,
	    "does not start with the doctype:\n%s", page);
	has(page, "<html lang=\"en\">");
	has(page, "<meta charset=\"utf-8\">");
	has(page, "<meta name=\"viewport\" "
	    "content=\"width=device-width, initial-scale=1\">");
	has(page, "</html>\n");
	lacks(page, "<script");
	lacks(page, "<link");
	lacks(page, "src=");
	lacks(page, "http://");
	lacks(page, "https://");
	lacks(page, "{{");
	lacks(page, "\n\n");
}

START_TEST(test_shipped_thanks)
{
	char	*p = shipped("thanks.html", page_thanks_vars,
	    "{\"form\": \"consultation\", \"title\": \"<script>x</script>\","
	    " \"id\": \"01890a5d-ac96-774b-bcce-b302099a8057\"}");

	well_formed_page(p);
	has(p, "<title>Thank you – &lt;script&gt;x&lt;/script&gt;</title>");
	has(p, "<h1>Thank you: we received your inquiry</h1>");
	has(p, "<code id=\"ref\">01890a5d-ac96-774b-bcce-b302099a8057</code>");
	free(p);
	/* Without a reference, no reference line. */
	p = shipped("thanks.html", page_thanks_vars,
	    "{\"form\": \"consultation\", \"title\": \"T\", \"id\": \"\"}");
	well_formed_page(p);
	lacks(p, "<code");
	free(p);
}
END_TEST

START_TEST(test_shipped_error)
{
	char	*p = shipped("error.html", page_error_vars,
	    "{\"form\": \"consultation\", \"title\": \"Free <b>\","
	    " \"heading\": \"Too many tries in a short time\","
	    " \"message\": \"Please wait a minute & try again.\","
	    " \"status\": \"429\", \"detail\": \"too many\"}");

	well_formed_page(p);
	has(p, "<title>Too many tries in a short time – Free &lt;b&gt;</title>");
	has(p, "<h1>Too many tries in a short time</h1>");
	has(p, "<p>Please wait a minute &amp; try again.</p>");
	has(p, "<a href=\"/forms/consultation\">Back to the form: Free "
	    "&lt;b&gt;</a>");
	has(p, "error 429");
	lacks(p, "Error 429");
	free(p);

	/* No form: no link back. */
	p = shipped("error.html", page_error_vars,
	    "{\"form\": \"\", \"title\": \"\", \"heading\": \"There is no "
	    "form here\", \"message\": \"Check the link.\", \"status\": "
	    "\"404\", \"detail\": \"\"}");
	well_formed_page(p);
	has(p, "<title>There is no form here</title>");
	lacks(p, "<a ");
	free(p);
}
END_TEST

#define FIELD(extra) "{\"label\": \"L\", \"hint\": \"\", \"input\": " \
	"\"text\", \"required\": false, \"is_input\": false, " \
	"\"is_textarea\": false, \"is_select\": false, \"is_checkbox\": " \
	"false, \"is_file\": false, \"is_consent\": false, \"options\": [], " \
	"\"minlength\": \"\", \"maxlength\": \"\", \"pattern\": \"\", " \
	"\"autocomplete\": \"\", \"value\": \"\", \"checked\": false, " \
	"\"error\": \"\", \"describedby\": \"\", \"accept\": \"\", " \
	"\"file_hint\": \"\", \"multiple\": false, " extra "}"

static const char form_ctx[] =
    "{\"form\": \"demo\", \"title\": \"Demo & <Test>\","
    " \"description\": \"Ask us.\", \"action\": \"/forms/demo\","
    " \"honeypot\": \"website\", \"multipart\": false,"
    " \"privacy_url\": \"/privacy\", \"altcha\": false,"
    " \"altcha_url\": \"/forms/demo/altcha\", \"has_errors\": true,"
    " \"error_count\": 1, \"files_again\": false,"
    " \"errors\": [{\"field\": \"email\", \"label\": \"Email <x>\","
    " \"message\": \"must be an email address\"}],"
    " \"fields\": ["
    FIELD("\"name\": \"name\", \"label\": \"Your name\", \"is_input\": true,"
    " \"required\": true, \"minlength\": \"2\", \"maxlength\": \"100\","
    " \"autocomplete\": \"name\", \"value\": \"<script>\\\"'\"") ","
    FIELD("\"name\": \"email\", \"label\": \"Email\", \"is_input\": true,"
    " \"input\": \"email\", \"value\": \"bad\", \"error\": \"must be an "
    "email address\", \"describedby\": \"e-email\"") ","
    FIELD("\"name\": \"message\", \"label\": \"Message\","
    " \"is_textarea\": true, \"hint\": \"Tell us\","
    " \"describedby\": \"h-message\", \"value\": \"</textarea><b>\"") ","
    FIELD("\"name\": \"condition\", \"label\": \"Condition\","
    " \"is_select\": true, \"required\": true, \"options\": ["
    "{\"value\": \"liver-cirrhosis\", \"title\": \"Liver cirrhosis\","
    " \"selected\": true}, {\"value\": \"a\\\"><script>\", \"title\": \"A\","
    " \"selected\": false}]") ","
    FIELD("\"name\": \"consent\", \"label\": \"I agree\","
    " \"is_checkbox\": true, \"is_consent\": true, \"required\": true,"
    " \"checked\": true, \"hint\": \"Only for this.\","
    " \"describedby\": \"h-consent\"") "]}";

START_TEST(test_shipped_form)
{
	char	*p = shipped("form.html", page_form_vars, form_ctx);

	well_formed_page(p);
	has(p, "<title>Please check your answers – Demo &amp; &lt;Test&gt;"
	    "</title>");
	has(p, "<p class=\"intro\">Ask us.</p>");
	has(p, "<div class=\"summary\" id=\"error-summary\" role=\"alert\" "
	    "tabindex=\"-1\" autofocus>");
	has(p, "<li><a href=\"#f-email\">Email &lt;x&gt;: must be an email "
	    "address</a></li>");
	has(p, "<form method=\"post\" action=\"/forms/demo\" "
	    "enctype=\"application/x-www-form-urlencoded\"");
	has(p, "<input type=\"text\" id=\"f-name\" name=\"name\" "
	    "value=\"&lt;script&gt;&quot;&#39;\" autocomplete=\"name\" "
	    "minlength=\"2\" maxlength=\"100\" required>");
	has(p, "<span class=\"error\" id=\"e-email\">must be an email address"
	    "</span>\n<input type=\"email\" id=\"f-email\" name=\"email\" "
	    "value=\"bad\" aria-describedby=\"e-email\" aria-invalid=\"true\">");
	has(p, "<span class=\"hint\" id=\"h-message\">Tell us</span>");
	has(p, "rows=\"6\" aria-describedby=\"h-message\">&lt;/textarea&gt;"
	    "&lt;b&gt;</textarea>");
	has(p, "<option value=\"liver-cirrhosis\" selected>Liver cirrhosis"
	    "</option>");
	has(p, "<option value=\"a&quot;&gt;&lt;script&gt;\">A</option>");
	has(p, "<input type=\"checkbox\" id=\"f-consent\" name=\"consent\" "
	    "value=\"true\" checked required aria-describedby=\"h-consent\">");
	has(p, "Only for this. <a href=\"/privacy\">Read the privacy notice"
	    "</a>");
	has(p, "<input type=\"text\" id=\"hp-website\" name=\"website\" "
	    "value=\"\" autocomplete=\"off\" tabindex=\"-1\">");
	has(p, "<button type=\"submit\">");
	lacks(p, "<altcha-widget");
	free(p);
}
END_TEST

START_TEST(test_shipped_form_no_honeypot)
{
	char	*p = shipped("form.html", page_form_vars,
	    "{\"form\": \"f\", \"title\": \"F\", \"action\": \"/forms/f\","
	    " \"honeypot\": \"\", \"has_errors\": false, \"fields\": []}");

	well_formed_page(p);
	lacks(p, "tabindex");
	lacks(p, "class=\"hp\"");
	lacks(p, "<label");
	lacks(p, "summary\"");
	has(p, "<form method=\"post\" action=\"/forms/f\"");
	free(p);
}
END_TEST

/* The shipped templates name nothing outside the promised sets: a stricter
   set must fail, so the load above really checks something. */
START_TEST(test_shipped_need_their_vars)
{
	static const struct tmpl_var no_id[] = {
		{ "form", NULL }, { "title", NULL }, { NULL, NULL }
	};
	struct tmpl	*t;
	struct buf	 diags;
	struct diag	 d = { 0, tu_diag_buf, &diags };
	const char	*dir = getenv("INTAKE_TEMPLATES");
	char		 path[512];

	snprintf(path, sizeof(path), "%s/thanks.html",
	    dir ? dir : "templates");
	buf_init(&diags, 0);
	ck_assert_int_eq(template_load(path, TMPL_HTML, no_id, &t, &d),
	    ERR_CONFIG);
	has(diags.data, ": unknown variable \"id\"");
	buf_free(&diags);
}
END_TEST

Suite *
template_suite(void)
{
	Suite	*s = suite_create("template");
	TCase	*tc;

	tc = tcase_create("render");
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, test_var_html_escape);
	tcase_add_test(tc, test_var_text_mode);
	tcase_add_test(tc, test_raw);
	tcase_add_test(tc, test_whitespace_in_tags);
	tcase_add_test(tc, test_comment);
	tcase_add_test(tc, test_missing_and_scalars);
	tcase_add_test(tc, test_section_truthiness);
	tcase_add_test(tc, test_list_sections);
	tcase_add_test(tc, test_list_scope_shadowing);
	tcase_add_test(tc, test_nested_sections);
	tcase_add_test(tc, test_standalone_lines);
	tcase_add_test(tc, test_plain_text_and_braces);
	tcase_add_test(tc, test_render_too_big);
	tcase_add_test(tc, test_html_escape);
	tcase_add_test(tc, test_reuse_parsed);
	suite_add_tcase(s, tc);

	tc = tcase_create("load");
	tcase_set_timeout(tc, 10);
	tcase_add_checked_fixture(tc, setup_tmpdir, teardown_tmpdir);
	tcase_add_test(tc, test_err_unknown_variable);
	tcase_add_test(tc, test_err_sections);
	tcase_add_test(tc, test_err_tags);
	tcase_add_test(tc, test_err_many_reported);
	tcase_add_test(tc, test_err_error_cap);
	tcase_add_test(tc, test_err_nesting_depth);
	tcase_add_test(tc, test_err_encoding);
	tcase_add_test(tc, test_err_nul_byte);
	tcase_add_test(tc, test_err_too_large);
	tcase_add_test(tc, test_null_diag);
	tcase_add_test(tc, test_load_file);
	tcase_add_test(tc, test_load_file_too_large);
	suite_add_tcase(s, tc);

	tc = tcase_create("shipped");
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, test_shipped_thanks);
	tcase_add_test(tc, test_shipped_error);
	tcase_add_test(tc, test_shipped_form);
	tcase_add_test(tc, test_shipped_form_no_honeypot);
	tcase_add_test(tc, test_shipped_need_their_vars);
	suite_add_tcase(s, tc);
	return s;
}
