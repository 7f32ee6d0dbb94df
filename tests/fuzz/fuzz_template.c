/*
 * libFuzzer target: template_parse on arbitrary bytes with a fixed variable
 * set; whatever parses is rendered (HTML mode) with a fixed context that
 * has every kind of value, including list items that are not objects.
 * Build: clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE
 *   -Idaemon tests/fuzz/fuzz_template.c daemon/template.c daemon/buf.c
 *   daemon/log.c -ljansson -lsodium
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <jansson.h>

#include "buf.h"
#include "log.h"
#include "template.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static const struct tmpl_var opt_vars[] = {
	{ "value", NULL },
	{ "s", NULL },
	{ NULL, NULL }
};

static const struct tmpl_var item_vars[] = {
	{ "name", NULL },
	{ "s", NULL },
	{ "b", NULL },
	{ "opts", opt_vars },
	{ NULL, NULL }
};

static const struct tmpl_var vars[] = {
	{ "s", NULL },
	{ "e", NULL },
	{ "i", NULL },
	{ "r", NULL },
	{ "t", NULL },
	{ "f", NULL },
	{ "n", NULL },
	{ "o", NULL },
	{ "missing", NULL },
	{ "items", item_vars },
	{ "empty", item_vars },
	{ "scalar", item_vars },
	{ NULL, NULL }
};

/* Lists hold two entries so that nesting a list in itself 16 deep stays
   within the fuzzer's time budget. */
static const char ctxjson[] =
    "{\"s\": \"<a href='x'>&\\\"</a> \\u00e9\", \"e\": \"\", \"i\": -42,"
    " \"r\": 0.1, \"t\": true, \"f\": false, \"n\": null,"
    " \"o\": {\"s\": \"inner\"},"
    " \"items\": [{\"name\": \"a&b\", \"s\": \"item\", \"b\": true,"
    "   \"opts\": [{\"value\": \"<v>\"}, 7]},"
    "  \"not an object\"],"
    " \"empty\": [], \"scalar\": \"yes\"}";

static json_t *
context(void)
{
	static json_t	*ctx;

	if (ctx == NULL && (ctx = json_loads(ctxjson, 0, NULL)) == NULL)
		abort();
	return ctx;
}

static void
quiet(struct diag *d, const char *line)
{
	(void)d;
	(void)line;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct diag	 d = { 0, quiet, NULL };
	struct tmpl	*t;
	struct buf	 out;
	int		 r;

	r = template_parse("fuzz", (const char *)data, size, TMPL_HTML, vars,
	    &t, &d);
	if ((r == 0) != (d.count == 0) || (r == 0) != (t != NULL))
		abort();
	if (r != 0)
		return 0;
	buf_init(&out, 1 << 20);
	r = template_render(t, context(), &out);
	if (r != 0 && r != ERR_TOOBIG)
		abort();
	buf_free(&out);
	template_free(t);

	buf_init(&out, 1 << 16);
	if (html_escape(&out, (const char *)data, size) == 0 &&
	    out.len < size)
		abort();
	buf_free(&out);
	return 0;
}
