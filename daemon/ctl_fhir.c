/*
 * intakectl export --format fhir: one FHIR R4 QuestionnaireResponse per
 * inquiry, one per line (NDJSON, the bulk-data convention), for clinical
 * systems that take them (OpenEMR, Medplum). Each field is an item
 * (linkId its name, text its schema title) with answers typed from the
 * schema: valueString, valueBoolean, valueInteger, valueDecimal, valueDate,
 * valueUri, valueCoding for a choice, valueAttachment for a file (its data
 * only with --with-files).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "ctl.h"
#include "form.h"
#include "sha1.h"

#define SCHEMAS_MAX	64

/* The forms' schemas, loaded once each for the export. */
struct schemas {
	struct {
		const char	*form;
		struct schema	*s;
	} v[SCHEMAS_MAX];
	size_t	n;
};

static const struct schema *
schema_of(struct ctl *c, struct schemas *ss, const char *form)
{
	const struct form_conf	*fc;
	struct diag		 d = { 0, ctl_keep_first, NULL };
	struct schema		*s = NULL;
	size_t			 i;

	for (i = 0; i < ss->n; i++)
		if (strcmp(ss->v[i].form, form) == 0)
			return ss->v[i].s;
	if (c->cfg == NULL || (fc = config_form(c->cfg, form)) == NULL ||
	    ss->n == SCHEMAS_MAX)
		return NULL;	/* a form no longer configured: plain text */
	(void)schema_load(fc->schema, &s, &d);
	ss->v[ss->n].form = fc->name;
	ss->v[ss->n++].s = s;
	return s;
}

static const struct form_field *
field_of(const struct schema *s, const char *name)
{
	const struct form_field	*f;
	size_t			 i, n;

	if (s == NULL)
		return NULL;
	f = schema_fields(s, &n);
	for (i = 0; i < n; i++)
		if (strcmp(f[i].name, name) == 0)
			return &f[i];
	return NULL;
}

/* The questionnaire's canonical URL: [form] fhir_questionnaire, or one
   made from the form's name. */
static void
questionnaire(struct ctl *c, const char *form, char *out, size_t len)
{
	const struct form_conf	*fc = c->cfg ? config_form(c->cfg, form) : NULL;

	if (fc != NULL && fc->fhir_questionnaire != NULL)
		snprintf(out, len, "%s", fc->fhir_questionnaire);
	else
		snprintf(out, len, "urn:intaked:questionnaire:%s", form);
}

/* One answer for value v of field f (may be NULL: not in the schema). */
static json_t *
answer(const struct form_field *f, const char *system, const json_t *v)
{
	size_t		 i;

	if (json_is_boolean(v))
		return json_pack("{s:b}", "valueBoolean", json_is_true(v));
	if (json_is_integer(v))
		return json_pack("{s:I}", "valueInteger", json_integer_value(v));
	if (json_is_real(v))
		return json_pack("{s:f}", "valueDecimal", json_real_value(v));
	if (!json_is_string(v))
		return NULL;
	for (i = 0; f && f->options && f->options[i]; i++)
		if (strcmp(f->options[i], json_string_value(v)) == 0)
			return json_pack("{s:{s:s, s:s, s:s}}", "valueCoding",
			    "system", system, "code", f->options[i], "display",
			    f->option_titles[i]);
	if (f && f->format && strcmp(f->format, "date") == 0)
		return json_pack("{s:O}", "valueDate", v);
	if (f && f->format && strcmp(f->format, "uri") == 0)
		return json_pack("{s:O}", "valueUri", v);
	return json_pack("{s:O}", "valueString", v);
}

static int
sha1_b64(const struct buf *pt, char *out, size_t len)
{
	struct sha1	s;
	unsigned char	d[SHA1_LEN];

	sha1_init(&s);
	sha1_update(&s, pt->data, pt->len);
	sha1_final(&s, d);
	sodium_bin2base64(out, len, d, sizeof(d),
	    sodium_base64_VARIANT_ORIGINAL);
	return 0;
}

/* Attachment n as a valueAttachment: what it is, its SHA-1 (FHIR's hash)
   and, with --with-files, its bytes. */
static int
attachment(struct store *st, const struct keys *k, const char *id,
    unsigned n, const json_t *meta, int with_files, json_t **out)
{
	struct buf	 pt;
	char		 hash[sodium_base64_ENCODED_LEN(SHA1_LEN,
			     sodium_base64_VARIANT_ORIGINAL)];
	char		*data = NULL;
	size_t		 dlen;
	json_t		*a;
	int		 rc;

	buf_init(&pt, 0);
	if ((rc = ctl_file_plain(st, k, id, n, meta, &pt)) != EXIT_OK) {
		buf_wipe(&pt);
		return rc;
	}
	sha1_b64(&pt, hash, sizeof(hash));
	a = json_pack("{s:s, s:I, s:s, s:s}", "contentType",
	    ctl_str_or(meta, "content_type", "application/octet-stream"),
	    "size", (json_int_t)pt.len, "hash", hash,
	    "title", ctl_str_or(meta, "filename", ""));
	if (a != NULL && with_files) {
		dlen = sodium_base64_ENCODED_LEN(pt.len,
		    sodium_base64_VARIANT_ORIGINAL);
		if ((data = malloc(dlen)) == NULL) {
			json_decref(a);
			a = NULL;
		} else {
			sodium_bin2base64(data, dlen, (unsigned char *)(pt.data ?
			    pt.data : ""), pt.len,
			    sodium_base64_VARIANT_ORIGINAL);
			json_object_set_new(a, "data", json_string(data));
			ctl_wipe_free(data);
		}
	}
	buf_wipe(&pt);
	if (a == NULL)
		return ctl_fail(EXIT_FAIL, "out of memory");
	*out = json_pack("{s:o}", "valueAttachment", a);
	return *out ? EXIT_OK : ctl_fail(EXIT_FAIL, "out of memory");
}

/* The items of one record, in schema order and then any others. */
static int
items(struct store *st, const struct keys *k, const json_t *rec,
    const struct schema *s, const char *qurl, int with_files, json_t *list)
{
	const json_t		*fields = json_object_get(rec, "fields"), *v, *e;
	const json_t		*atts = json_object_get(rec, "attachments");
	const struct form_field	*f, *all = NULL;
	const char		*id = json_string_value(json_object_get(rec,
				    "id")), *key;
	char			 system[1024];
	json_t			*item, *answers, *a = NULL;
	size_t			 i, j, nf = 0;
	int			 rc;

	if (s != NULL)
		all = schema_fields(s, &nf);
	for (i = 0; i < nf; i++) {
		f = &all[i];
		key = f->name;
		answers = json_array();
		snprintf(system, sizeof(system), "%s#%s", qurl, key);
		if (f->file) {
			json_array_foreach(atts, j, e) {
				if (strcmp(ctl_str_or(e, "field", ""), key) != 0)
					continue;
				if ((rc = attachment(st, k, id, (unsigned)j + 1,
				    e, with_files, &a)) != EXIT_OK) {
					json_decref(answers);
					return rc;
				}
				json_array_append_new(answers, a);
			}
		} else if ((v = json_object_get(fields, key)) != NULL) {
			if (json_is_array(v))
				json_array_foreach(v, j, e)
					json_array_append_new(answers,
					    answer(f, system, e));
			else
				json_array_append_new(answers,
				    answer(f, system, v));
		}
		if (json_array_size(answers) == 0) {
			json_decref(answers);
			continue;
		}
		item = json_pack("{s:s, s:s, s:o}", "linkId", key, "text",
		    f->title ? f->title : key, "answer", answers);
		json_array_append_new(list, item);
	}
	/* Fields the schema does not name (additionalProperties), as text. */
	json_object_foreach((json_t *)fields, key, v) {
		if (field_of(s, key) != NULL || json_is_null(v))
			continue;
		snprintf(system, sizeof(system), "%s#%s", qurl, key);
		json_array_append_new(list, json_pack("{s:s, s:s, s:[o]}",
		    "linkId", key, "text", key, "answer", answer(NULL, system, v)));
	}
	return EXIT_OK;
}

static int
response(struct ctl *c, struct store *st, const struct keys *k,
    struct schemas *ss, const json_t *rec, int with_files)
{
	const char	*id = json_string_value(json_object_get(rec, "id"));
	const char	*form = ctl_str_or(rec, "form", "");
	char		 qurl[512], urn[64], *line;
	json_t		*list = json_array(), *doc;
	int		 rc;

	questionnaire(c, form, qurl, sizeof(qurl));
	if ((rc = items(st, k, rec, schema_of(c, ss, form), qurl, with_files,
	    list)) != EXIT_OK) {
		json_decref(list);
		return rc;
	}
	snprintf(urn, sizeof(urn), "urn:uuid:%s", id);
	doc = json_pack("{s:s, s:s, s:{s:s, s:s}, s:s, s:s, s:O, s:o}",
	    "resourceType", "QuestionnaireResponse", "id", id,
	    "identifier", "system", "urn:ietf:rfc:3986", "value", urn,
	    "questionnaire", qurl, "status", "completed",
	    "authored", json_object_get(rec, "received_at"), "item", list);
	if (doc == NULL || (line = json_dumps(doc, JSON_COMPACT)) == NULL) {
		json_decref(doc);
		return ctl_fail(EXIT_FAIL, "out of memory");
	}
	json_decref(doc);
	printf("%s\n", line);
	ctl_wipe_free(line);
	return EXIT_OK;
}

struct fhir_run {
	struct ctl		*c;
	struct store		*st;
	const struct keys	*k;
	struct schemas		 ss;
	int			 with_files;
};

static int
fhir_one(void *arg, const char *id, json_t *rec)
{
	struct fhir_run	*r = arg;

	(void)id;
	return response(r->c, r->st, r->k, &r->ss, rec, r->with_files);
}

int
ctl_export_fhir(struct ctl *c, struct store *st, const struct keys *k,
    const struct ctl_ids *l, int with_files)
{
	struct fhir_run	 r = { c, st, k, { .n = 0 }, with_files };
	size_t		 i;
	int		 rc;

	rc = ctl_each_record(st, k, l, fhir_one, &r);
	for (i = 0; i < r.ss.n; i++)
		schema_free(r.ss.v[i].s);
	return rc == EXIT_OK ? ctl_finish() : rc;
}
