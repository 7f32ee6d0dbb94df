/*
 * The pages a patient sees, as template contexts: the form (built from its
 * schema and the form's policy, with answers and errors when it comes back
 * after a failed submission), the thank-you page and the error pages.
 * Templates escape every value; nothing here builds HTML.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "filetype.h"
#include "page.h"
#include "schema.h"

static const struct tmpl_var error_item_vars[] = {
	{ "field", NULL }, { "label", NULL }, { "message", NULL },
	{ NULL, NULL }
};
static const struct tmpl_var option_vars[] = {
	{ "value", NULL }, { "title", NULL }, { "selected", NULL },
	{ NULL, NULL }
};
static const struct tmpl_var field_vars[] = {
	{ "name", NULL }, { "label", NULL }, { "hint", NULL },
	{ "input", NULL }, { "required", NULL }, { "is_input", NULL },
	{ "is_textarea", NULL }, { "is_select", NULL },
	{ "is_checkbox", NULL }, { "is_file", NULL }, { "is_consent", NULL },
	{ "options", option_vars }, { "minlength", NULL },
	{ "maxlength", NULL }, { "pattern", NULL }, { "autocomplete", NULL },
	{ "value", NULL }, { "checked", NULL }, { "error", NULL },
	{ "describedby", NULL }, { "accept", NULL }, { "file_hint", NULL },
	{ "multiple", NULL }, { NULL, NULL }
};

const struct tmpl_var page_form_vars[] = {
	{ "form", NULL }, { "title", NULL }, { "description", NULL },
	{ "action", NULL }, { "honeypot", NULL }, { "multipart", NULL },
	{ "privacy_url", NULL }, { "altcha", NULL }, { "altcha_url", NULL },
	{ "altcha_error", NULL },
	{ "has_errors", NULL }, { "error_count", NULL },
	{ "errors", error_item_vars }, { "files_again", NULL },
	{ "fields", field_vars }, { NULL, NULL }
};
const struct tmpl_var page_thanks_vars[] = {
	{ "form", NULL }, { "title", NULL }, { "id", NULL }, { NULL, NULL }
};
const struct tmpl_var page_error_vars[] = {
	{ "form", NULL }, { "title", NULL }, { "heading", NULL },
	{ "message", NULL }, { "status", NULL }, { "detail", NULL },
	{ NULL, NULL }
};

/* ---- limits as people read them ---- */

static void
size_words(size_t n, char *out, size_t len)
{
	if (n >= (1u << 20) && n % (1u << 20) == 0)
		snprintf(out, len, "%zu MiB", n >> 20);
	else if (n >= (1u << 20))
		snprintf(out, len, "%.1f MiB", (double)n / (1u << 20));
	else
		snprintf(out, len, "%zu KiB", (n + 1023) >> 10);
}

unsigned
page_files_max(const struct form_conf *fc, const struct form_field *f)
{
	if (f->max_items < 0 || (unsigned long long)f->max_items > fc->files)
		return fc->files;
	return (unsigned)f->max_items;
}

/*
 * What a file input takes, from the schema and the form's policy: the
 * accept list (MIME types and extensions) and the hint beside it, e.g.
 * "PDF, JPEG or PNG; up to 5 files of 10 MiB each, 25 MiB in all."
 */
static void
file_policy(const struct config *cfg, const struct form_conf *fc,
    unsigned max, struct buf *accept, struct buf *hint)
{
	char		one[32], all[32];
	unsigned	t, n = 0, seen = 0;

	for (t = 1; t < FILETYPE_COUNT; t++)
		n += (fc->attach_types >> t) & 1;
	for (t = 1; t < FILETYPE_COUNT; t++) {
		if (!((fc->attach_types >> t) & 1))
			continue;
		buf_printf(accept, "%s%s,%s", accept->len ? "," : "",
		    filetype_mime((enum filetype)t),
		    filetype_extensions((enum filetype)t));
		seen++;
		buf_printf(hint, "%s%s", seen == 1 ? "" : seen == n ? " or " :
		    ", ", filetype_name((enum filetype)t));
	}
	size_words(fc->file_bytes, one, sizeof(one));
	size_words(cfg->max_upload_bytes, all, sizeof(all));
	if (max > 1)
		buf_printf(hint, "; up to %u files of %s each", max, one);
	else
		buf_printf(hint, "; one file of up to %s", one);
	if (max > 1 && cfg->max_upload_bytes < (size_t)max * fc->file_bytes)
		buf_printf(hint, ", %s in all", all);
	buf_putc(hint, '.');
}

/* ---- the form ---- */

static const char *
input_type(const struct form_field *f)
{
	if (f->format && strcmp(f->format, "email") == 0)
		return "email";
	if (f->format && strcmp(f->format, "date") == 0)
		return "date";
	if (f->format && strcmp(f->format, "uri") == 0)
		return "url";
	if (f->autocomplete && strcmp(f->autocomplete, "tel") == 0)
		return "tel";
	if (!strcmp(f->type, "integer") || !strcmp(f->type, "number"))
		return "number";
	return "text";
}

/* The first error of field name, or NULL. */
static const char *
error_of(const struct form_error *errs, size_t n, const char *name)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if (strcmp(errs[i].field, name) == 0)
			return errs[i].message;
	return NULL;
}

/* Beside its field a message stands alone, as a sentence. */
static const char *
sentence(const char *s, char *out, size_t len)
{
	snprintf(out, len, "%s", s);
	if (out[0] >= 'a' && out[0] <= 'z')
		out[0] = (char)(out[0] - 'a' + 'A');
	return out;
}

static json_t *
options_json(const struct form_field *f, const char *value)
{
	json_t	*opts = json_array();
	size_t	 i;

	for (i = 0; opts && f->options && f->options[i]; i++)
		json_array_append_new(opts, json_pack("{s:s, s:s, s:b}",
		    "value", f->options[i], "title", f->option_titles[i],
		    "selected", value && strcmp(value, f->options[i]) == 0));
	return opts;
}

/* What the boolean answer "on", "true", "1" or "yes" looked like. */
static int
is_checked(const char *v)
{
	return v && (!strcmp(v, "on") || !strcmp(v, "true") ||
	    !strcmp(v, "1") || !strcmp(v, "yes"));
}

static json_t *
field_json(const struct snapshot *s, int form, const struct form_field *f,
    const json_t *answers, const struct form_error *errs, size_t nerrs)
{
	const struct form_conf	*fc = &s->cfg->forms[form];
	const char		*value, *err = error_of(errs, nerrs, f->name);
	struct buf		 accept, fhint, by;
	char			 minl[24] = "", maxl[24] = "", msg[256];
	unsigned		 max = 0;
	int			 sel = f->options != NULL;
	int			 box = !strcmp(f->type, "boolean");
	json_t			*j;

	value = json_string_value(json_object_get(answers, f->name));
	buf_init(&accept, 1024);
	buf_init(&fhint, 1024);
	buf_init(&by, 256);
	if (f->file) {
		max = page_files_max(fc, f);
		file_policy(s->cfg, fc, max, &accept, &fhint);
	}
	/* The hint, the file policy and the error, each read out after the
	   label. */
	if (f->description)
		buf_printf(&by, "h-%s", f->name);
	if (f->file)
		buf_printf(&by, "%sp-%s", by.len ? " " : "", f->name);
	if (err)
		buf_printf(&by, "%se-%s", by.len ? " " : "", f->name);
	if (err)
		err = sentence(err, msg, sizeof(msg));
	if (f->min_length >= 0)
		snprintf(minl, sizeof(minl), "%lld", f->min_length);
	if (f->max_length >= 0)
		snprintf(maxl, sizeof(maxl), "%lld", f->max_length);
	j = json_pack("{s:s, s:s, s:s, s:s, s:b, s:b, s:b, s:b, s:b, s:b, s:b,"
	    " s:o, s:s, s:s, s:s, s:s, s:s, s:b, s:s, s:s#, s:s#, s:s#, s:b}",
	    "name", f->name, "label", f->title ? f->title : f->name,
	    "hint", f->description ? f->description : "",
	    "input", input_type(f), "required", f->required,
	    "is_input", !sel && !box && !f->multiline && !f->file,
	    "is_textarea", f->multiline && !sel, "is_select", sel,
	    "is_checkbox", box && !sel, "is_file", f->file,
	    "is_consent", f->consent, "options", options_json(f, value),
	    "minlength", minl, "maxlength", maxl,
	    "pattern", f->pattern ? f->pattern : "",
	    "autocomplete", f->autocomplete ? f->autocomplete : "",
	    "value", value && !box ? value : "", "checked", is_checked(value),
	    "error", err ? err : "",
	    "describedby", by.data ? by.data : "", by.len,
	    "accept", accept.data ? accept.data : "", accept.len,
	    "file_hint", fhint.data ? fhint.data : "", fhint.len,
	    "multiple", max > 1);
	buf_free(&accept);
	buf_free(&fhint);
	buf_free(&by);
	return j;
}

/* The summary at the top: every problem, by its field's label. */
static json_t *
errors_json(const struct form_field *f, size_t nf,
    const struct form_error *errs, size_t n)
{
	json_t		*arr = json_array();
	const char	*label;
	size_t		 i, k;

	for (i = 0; arr && i < n; i++) {
		label = errs[i].field;
		/* The proof of work is no field of the schema. */
		if (strcmp(label, PAGE_TOKEN_FIELD) == 0)
			label = "The automatic spam check";
		for (k = 0; k < nf; k++)
			if (strcmp(f[k].name, errs[i].field) == 0 && f[k].title)
				label = f[k].title;
		json_array_append_new(arr, json_pack("{s:s, s:s, s:s}",
		    "field", errs[i].field, "label", *label ? label : "The form",
		    "message", errs[i].message));
	}
	return arr;
}

json_t *
page_form_context(const struct snapshot *s, int form, const json_t *answers,
    const struct form_error *errs, size_t nerrs, int files_again, int altcha)
{
	const struct form_conf	*fc = &s->cfg->forms[form];
	const struct form_field	*f;
	const char		*desc, *aerr;
	json_t			*fields = json_array();
	char			 action[128], altcha_url[160], amsg[256];
	size_t			 i, n;
	int			 multipart = 0;

	f = schema_fields(s->schemas[form], &n);
	for (i = 0; fields && i < n; i++) {
		multipart |= f[i].file;
		json_array_append_new(fields, field_json(s, form, &f[i],
		    answers, errs, nerrs));
	}
	desc = schema_description(s->schemas[form]);
	snprintf(action, sizeof(action), "/forms/%s", fc->name);
	snprintf(altcha_url, sizeof(altcha_url), "/forms/%s/altcha", fc->name);
	if ((aerr = error_of(errs, nerrs, PAGE_TOKEN_FIELD)) != NULL)
		aerr = sentence(aerr, amsg, sizeof(amsg));
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:s, s:b, s:s, s:s, "
	    "s:b, s:I, s:o, s:b, s:o}", "form", fc->name,
	    "title", snapshot_form_title(s, form), "description", desc ? desc : "",
	    "action", action, "honeypot", fc->honeypot ? fc->honeypot : "",
	    "multipart", multipart,
	    "privacy_url", fc->privacy_url ? fc->privacy_url : "",
	    "altcha", altcha, "altcha_url", altcha_url,
	    "altcha_error", aerr ? aerr : "",
	    "has_errors", nerrs > 0, "error_count", (json_int_t)nerrs,
	    "errors", errors_json(f, n, errs, nerrs),
	    "files_again", files_again && multipart, "fields", fields);
}

json_t *
page_thanks_context(const struct snapshot *s, int form, const char *ref)
{
	return json_pack("{s:s, s:s, s:s}", "form", s->cfg->forms[form].name,
	    "title", snapshot_form_title(s, form), "id", ref ? ref : "");
}

/* ---- errors ---- */

/* What a patient reads instead of a status line. */
static const struct {
	int		 status;
	const char	*heading;
	const char	*message;
} wording[] = {
	{ 400, "The form could not be read",
	  "Your browser sent something we could not read. Please go back "
	  "and send the form again." },
	{ 404, "There is no form here",
	  "Please check the link you followed from the clinic's website." },
	{ 405, "This page cannot do that",
	  "Please open the form from the clinic's website and send it from "
	  "there." },
	{ 408, "The connection was too slow",
	  "Your answers did not arrive in time. Please send the form again." },
	{ 413, "The files are too large",
	  "Please send smaller or fewer files; nothing was stored." },
	{ 415, "The form was sent in a way we cannot read",
	  "Please open the form from the clinic's website and send it from "
	  "there." },
	{ 429, "Too many tries in a short time",
	  "Please wait a minute, then send the form again. Nothing you sent "
	  "was stored." },
	{ 503, "We cannot take your inquiry right now",
	  "Please try again in a few minutes. Nothing you sent was stored." },
};

json_t *
page_error_context(const struct snapshot *s, int form, int status,
    const char *detail)
{
	const char	*heading = "Something went wrong", *msg;
	char		 code[8];
	size_t		 i;

	msg = "Please go back and try again.";
	for (i = 0; i < sizeof(wording) / sizeof(wording[0]); i++)
		if (wording[i].status == status) {
			heading = wording[i].heading;
			msg = wording[i].message;
		}
	snprintf(code, sizeof(code), "%d", status);
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}",
	    "form", form >= 0 ? s->cfg->forms[form].name : "",
	    "title", snapshot_form_title(s, form), "heading", heading,
	    "message", msg, "status", code, "detail", detail ? detail : "");
}
