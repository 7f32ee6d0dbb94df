#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snapshot.h"

static const struct tmpl_var error_item_vars[] = {
	{ "field", NULL }, { "code", NULL }, { "message", NULL }, { NULL, NULL }
};
static const struct tmpl_var option_vars[] = {
	{ "value", NULL }, { NULL, NULL }
};
static const struct tmpl_var field_vars[] = {
	{ "name", NULL }, { "label", NULL }, { "input", NULL },
	{ "required", NULL }, { "is_input", NULL }, { "is_textarea", NULL },
	{ "is_select", NULL }, { "is_checkbox", NULL },
	{ "options", option_vars }, { "minlength", NULL },
	{ "maxlength", NULL }, { NULL, NULL }
};

const struct tmpl_var snapshot_thanks_vars[] = {
	{ "form", NULL }, { "title", NULL }, { "id", NULL }, { NULL, NULL }
};
const struct tmpl_var snapshot_error_vars[] = {
	{ "form", NULL }, { "title", NULL }, { "status", NULL },
	{ "reason", NULL }, { "message", NULL },
	{ "errors", error_item_vars }, { "hint", NULL }, { NULL, NULL }
};
const struct tmpl_var snapshot_form_vars[] = {
	{ "form", NULL }, { "title", NULL }, { "action", NULL },
	{ "honeypot", NULL }, { "fields", field_vars }, { NULL, NULL }
};

static void
snapshot_free(struct snapshot *s)
{
	size_t	i;

	if (s->cfg && s->schemas)
		for (i = 0; i < s->cfg->nforms; i++)
			schema_free(s->schemas[i]);
	free(s->schemas);
	template_free(s->thanks);
	template_free(s->error);
	template_free(s->form_page);
	free(s->rcpts);
	config_free(s->cfg);
	free(s);
}

static int
load_template(struct snapshot *s, const char *name, enum tmpl_mode mode,
    const struct tmpl_var *vars, struct tmpl **out, struct diag *d)
{
	char	path[4096];

	snprintf(path, sizeof(path), "%s/%s", s->cfg->templates, name);
	return template_load(path, mode, vars, out, d) == 0 ? 0 : -1;
}

/* The recipients from the config (already syntax-checked by config_load)
   and from recipients_file. At least one is required. */
static int
load_recipients(struct snapshot *s, struct diag *d)
{
	const struct config	*cfg = s->cfg;
	size_t			 i;

	if (cfg->nrecipients) {
		s->rcpts = calloc(cfg->nrecipients, sizeof(*s->rcpts));
		if (s->rcpts == NULL)
			return -1;
	}
	for (i = 0; i < cfg->nrecipients; i++) {
		if (age_recipient_parse(cfg->recipients[i],
		    &s->rcpts[s->nrcpts]) != 0) {
			diag(d, cfg->path, 0, "bad recipient %s",
			    cfg->recipients[i]);
			return -1;
		}
		s->nrcpts++;
	}
	if (cfg->recipients_file && age_recipients_file_read(
	    cfg->recipients_file, &s->rcpts, &s->nrcpts, d) != 0)
		return -1;
	if (s->nrcpts == 0) {
		diag(d, cfg->path, 0, "no recipients: set [crypto] recipients "
		    "or recipients_file");
		return -1;
	}
	return 0;
}

int
snapshot_load(const char *path, struct snapshot **out, struct diag *d)
{
	struct snapshot	*s;
	unsigned	 before = d->count;
	size_t		 i;

	*out = NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return ERR_NOMEM;
	s->refs = 1;
	if (config_load(path, &s->cfg, d) != 0) {
		snapshot_free(s);
		return ERR_CONFIG;
	}
	if ((s->schemas = calloc(s->cfg->nforms + 1,
	    sizeof(*s->schemas))) == NULL) {
		snapshot_free(s);
		return ERR_NOMEM;
	}
	/* Keep going after a problem so that -t reports every one. */
	for (i = 0; i < s->cfg->nforms; i++)
		schema_load(s->cfg->forms[i].schema, &s->schemas[i], d);
	load_template(s, "thanks.html", TMPL_HTML, snapshot_thanks_vars,
	    &s->thanks, d);
	load_template(s, "error.html", TMPL_HTML, snapshot_error_vars,
	    &s->error, d);
	load_template(s, "form.html", TMPL_HTML, snapshot_form_vars,
	    &s->form_page, d);
	load_recipients(s, d);
	if (d->count != before) {
		snapshot_free(s);
		return ERR_CONFIG;
	}
	*out = s;
	return 0;
}

struct snapshot *
snapshot_ref(struct snapshot *s)
{
	s->refs++;
	return s;
}

void
snapshot_unref(struct snapshot *s)
{
	if (s && --s->refs == 0)
		snapshot_free(s);
}

int
snapshot_form(const struct snapshot *s, const char *name, size_t len)
{
	size_t	i;

	for (i = 0; i < s->cfg->nforms; i++)
		if (strlen(s->cfg->forms[i].name) == len &&
		    memcmp(s->cfg->forms[i].name, name, len) == 0)
			return (int)i;
	return -1;
}
