/*
 * libFuzzer target: every input is parsed by form_parse as an urlencoded
 * body and as a JSON body against the shipped consultation schema (or the
 * schema named by $FUZZ_FORM_SCHEMA), and the result is checked against
 * the contract in form.h: return codes match the result, accepted fields
 * are clean UTF-8 text, errors are well-formed. A broken invariant aborts.
 * Build (from the repository root, where the schema path resolves):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE
 *   -Idaemon tests/fuzz/fuzz_form.c daemon/form.c daemon/schema.c
 *   daemon/utf8.c daemon/buf.c daemon/log.c -ljansson -lsodium -lpcre2-8
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "form.h"
#include "utf8.h"
#include "log.h"

#define SCHEMA	"config/forms/consultation.schema.json"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static const struct form_opts opts = { .honeypot = "website", .max_fields = 32,
	    .max_field_bytes = 2048, .max_json_depth = 4 };

static const struct schema *
schema(void)
{
	static struct schema	*s;
	struct diag		 d = { 0, NULL, NULL };
	const char		*path;

	if (s != NULL)
		return s;
	if ((path = getenv("FUZZ_FORM_SCHEMA")) == NULL)
		path = SCHEMA;
	if (schema_load(path, &s, &d) != 0) {
		fprintf(stderr, "fuzz_form: cannot load %s (run from the "
		    "repository root)\n", path);
		abort();
	}
	return s;
}

/* Accepted text: valid UTF-8, no controls but LF and TAB, never CR. */
static void
check_text(const char *s, size_t len, int multiline)
{
	size_t	i;

	if (!utf8_valid(s, len))
		abort();
	for (i = 0; i < len; i++) {
		unsigned char	c = (unsigned char)s[i];

		if (c == 0x7f || c == '\r')
			abort();
		if (c < 0x20 && !(multiline && (c == '\n' || c == '\t')))
			abort();
	}
}

/* A value must have the type its field declares (array items: any
   scalar), and its text must be clean. */
static void
check_value(const struct form_field *f, const json_t *v)
{
	const char	*type = f ? f->type : NULL;
	json_t		*e;
	size_t		 i;

	if (json_is_string(v)) {
		if (type && strcmp(type, "string") != 0 &&
		    strcmp(type, "array") != 0)
			abort();
		check_text(json_string_value(v), json_string_length(v),
		    f && f->multiline);
	} else if (json_is_array(v)) {
		if (type && strcmp(type, "array") != 0)
			abort();
		json_array_foreach(v, i, e)
			if (json_is_array(e) || json_is_object(e))
				abort();
			else
				check_value(NULL, e);
	} else if (json_is_boolean(v)) {
		if (type && strcmp(type, "boolean") != 0 &&
		    strcmp(type, "array") != 0)
			abort();
	} else if (json_is_integer(v)) {
		if (type && strcmp(type, "string") == 0)
			abort();
	} else if (!json_is_real(v) || (type && strcmp(type, "number") != 0 &&
	    strcmp(type, "array") != 0))
		abort();
}

static void
check_fields(const struct schema *s, const json_t *fields)
{
	const struct form_field	*fs, *f;
	const char		*key;
	json_t			*v;
	size_t			 n, i;

	fs = schema_fields(s, &n);
	if (!json_is_object(fields) || json_object_size(fields) >
	    opts.max_fields)
		abort();
	for (i = 0; i < n; i++)
		if (fs[i].required && json_object_get(fields, fs[i].name) ==
		    NULL)
			abort();
	json_object_foreach((json_t *)fields, key, v) {
		check_text(key, strlen(key), 0);
		if (strcmp(key, opts.honeypot) == 0)
			abort();
		for (f = NULL, i = 0; i < n && f == NULL; i++)
			if (strcmp(fs[i].name, key) == 0)
				f = &fs[i];
		check_value(f, v);
	}
}

static void
check_result(const struct schema *s, int rc, const struct form_result *r)
{
	size_t	i;

	switch (rc) {
	case 0:
		if (r->fields == NULL || r->nerrors != 0)
			abort();
		check_fields(s, r->fields);
		return;
	case ERR_REJECTED:
		if (r->fields != NULL || r->nerrors == 0)
			abort();
		break;
	case ERR_MALFORMED:
		if (r->fields != NULL || r->nerrors != 1 ||
		    strcmp(r->errors[0].code, "malformed") != 0)
			abort();
		break;
	case ERR_NOMEM:
		return;
	default:
		abort();
	}
	for (i = 0; i < r->nerrors; i++) {
		check_text(r->errors[i].field, strlen(r->errors[i].field), 0);
		if (*r->errors[i].code == '\0' || *r->errors[i].message == '\0')
			abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct schema	*s = schema();
	struct form_result	 r;
	int			 rc;

	rc = form_parse(s, FORM_URLENCODED, (const char *)data, size, &opts,
	    &r);
	check_result(s, rc, &r);
	form_result_free(&r);
	rc = form_parse(s, FORM_JSON, (const char *)data, size, &opts, &r);
	check_result(s, rc, &r);
	form_result_free(&r);
	return 0;
}
