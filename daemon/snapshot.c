#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsutil.h"
#include "page.h"
#include "snapshot.h"

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
	free(s->widget);
	message_templates_free(&s->mail);
	if (s->cfg && s->subjects)
		for (i = 0; i < s->cfg->nforms; i++)
			template_free(s->subjects[i]);
	free(s->subjects);
	free(s->rcpts);
	config_free(s->cfg);
	free(s);
}

static int
load_template(struct snapshot *s, const char *name, enum tmpl_mode mode,
    const struct tmpl_var *vars, struct tmpl **out, struct diag *d)
{
	char	path[4096];

	if (snprintf(path, sizeof(path), "%s/%s", s->cfg->templates, name) >=
	    (int)sizeof(path)) {
		diag(d, s->cfg->templates, 0, "path too long");
		return ERR_CONFIG;
	}
	return template_load(path, mode, vars, out, d);
}

/* Each form's mail subject, a template of its own ([form NAME] subject). */
static int
load_subjects(struct snapshot *s, struct diag *d)
{
	const struct config	*cfg = s->cfg;
	char			 name[128];
	size_t			 i;
	int			 r, worst = 0;

	if ((s->subjects = calloc(cfg->nforms + 1, sizeof(*s->subjects))) ==
	    NULL)
		return ERR_NOMEM;
	for (i = 0; i < cfg->nforms; i++) {
		if (cfg->forms[i].subject == NULL)
			continue;
		snprintf(name, sizeof(name), "[form %s] subject",
		    cfg->forms[i].name);
		if ((r = message_subject_parse(name, cfg->forms[i].subject,
		    &s->subjects[i], d)) != 0 && worst != ERR_NOMEM)
			worst = r;
	}
	return worst;
}

/* The recipients from the config (already syntax-checked by config_load)
   and from recipients_file. At least one is required. */
int
snapshot_recipients(const struct config *cfg, struct age_recipient **out,
    size_t *n, struct diag *d)
{
	size_t	i;
	int	r;

	*out = NULL;
	*n = 0;
	if (cfg->nrecipients &&
	    (*out = calloc(cfg->nrecipients, sizeof(**out))) == NULL)
		return ERR_NOMEM;
	for (i = 0; i < cfg->nrecipients; i++) {
		if (age_recipient_parse(cfg->recipients[i], &(*out)[*n]) != 0) {
			/* config_load checked them: this is a broken
			   invariant, reported rather than trusted. */
			diag(d, cfg->path, 0, "bad recipient #%zu", i + 1);
			return ERR_CONFIG;
		}
		(*n)++;
	}
	if (cfg->recipients_file && (r = age_recipients_file_read(
	    cfg->recipients_file, out, n, d)) != 0)
		return r == ERR_NOMEM ? r : ERR_CONFIG;
	if (*n == 0) {
		diag(d, cfg->path, 0, "no recipients: set [crypto] recipients "
		    "or recipients_file");
		return ERR_CONFIG;
	}
	return 0;
}

#define WIDGET_FILE	"altcha.js"
#define WIDGET_MAX	(2u << 20)

/* The proof-of-work widget, read only when a form will embed it: the
   pages load it from intaked, never from a third party. */
static int
load_widget(struct snapshot *s, struct diag *d)
{
	const struct config	*cfg = s->cfg;
	char			 path[4096];
	size_t			 i;

	for (i = 0; i < cfg->nforms && !cfg->forms[i].altcha; i++)
		continue;
	if (i == cfg->nforms)
		return 0;
	snprintf(path, sizeof(path), "%s/" WIDGET_FILE, cfg->public_files);
	if (fs_read_file(path, WIDGET_MAX, &s->widget, &s->widgetlen) == 0)
		return 0;
	diag(d, path, 0, "%s: form %s has altcha = yes and its pages need "
	    "the widget ([server] public_files; `make` builds it)",
	    strerror(errno), cfg->forms[i].name);
	return ERR_CONFIG;
}

static int
load_recipients(struct snapshot *s, struct diag *d)
{
	return snapshot_recipients(s->cfg, &s->rcpts, &s->nrcpts, d);
}

/* A form's attachments setting and its schema's file fields must agree:
   files the schema asks for must be takeable, and a setting for files
   that no field takes is a mistake. */
static int
check_files(const struct snapshot *s, size_t i, struct diag *d)
{
	const struct form_conf	*fc = &s->cfg->forms[i];
	const struct form_field	*f;
	size_t			 j, n;
	int			 any = 0;

	f = schema_fields(s->schemas[i], &n);
	for (j = 0; j < n; j++)
		if (f[j].file) {
			any = 1;
			break;
		}
	if (any && fc->attach_types == 0) {
		diag(d, s->cfg->path, fc->line, "form %s: field %s takes files "
		    "but attachments = none; name the types it takes",
		    fc->name, f[j].name);
		return ERR_CONFIG;
	}
	if (!any && fc->attach_types != 0) {
		diag(d, s->cfg->path, fc->line, "form %s: attachments is set "
		    "but no field of its schema takes files (\"format\": "
		    "\"binary\")", fc->name);
		return ERR_CONFIG;
	}
	return 0;
}

/* 0 when dir is a directory, else why not (an errno value). */
static int
dir_problem(const char *dir)
{
	struct stat	sb;

	if (stat(dir, &sb) != 0)
		return errno;
	return S_ISDIR(sb.st_mode) ? 0 : ENOTDIR;
}

/*
 * A configured database's directory must exist: a missing one is almost
 * always a typo, and creating it would start an empty database elsewhere
 * while the real one sat unread. The default's is made when missing
 * (StateDirectory= does it under systemd): it cannot be misspelt.
 */
static int
check_storage_dir(const struct config *cfg, struct diag *d)
{
	char	dir[4096];
	int	e;

	if (cfg->db_line == 0)
		return 0;
	if (fs_dirname(cfg->db_path, dir, sizeof(dir)) == -1)
		e = ENAMETOOLONG;
	else if ((e = dir_problem(dir)) == 0)
		return 0;
	if (e == ENOENT)
		diag(d, cfg->path, cfg->db_line, "[storage] path: the directory "
		    "%s does not exist; create it (mode 0700, owned by the "
		    "daemon's user) or correct the path", dir);
	else
		diag(d, cfg->path, cfg->db_line, "[storage] path: %s: %s", dir,
		    strerror(e));
	return ERR_CONFIG;
}

/* Keeps the worst of two results: running out of memory outranks a
   reported problem, which outranks success. */
static int
worse(int a, int b)
{
	if (a == ERR_NOMEM || b == ERR_NOMEM)
		return ERR_NOMEM;
	return a ? a : b;
}

/* The pages and mails; a missing directory is one problem, not one a
   file. */
static int
load_templates(struct snapshot *s, struct diag *d)
{
	const char	*dir = s->cfg->templates;
	int		 e, r;

	if ((e = dir_problem(dir)) != 0) {
		diag(d, s->cfg->path, 0, "[server] templates: %s: %s", dir,
		    strerror(e));
		return ERR_CONFIG;
	}
	r = load_template(s, "thanks.html", TMPL_HTML, page_thanks_vars,
	    &s->thanks, d);
	r = worse(r, load_template(s, "error.html", TMPL_HTML,
	    page_error_vars, &s->error, d));
	r = worse(r, load_template(s, "form.html", TMPL_HTML,
	    page_form_vars, &s->form_page, d));
	return worse(r, message_templates_load(dir, &s->mail, d));
}

int
snapshot_load(const char *path, struct snapshot **out, struct diag *d)
{
	struct snapshot	*s;
	unsigned	 before = d->count;
	size_t		 i;
	int		 r;

	*out = NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return ERR_NOMEM;
	s->refs = 1;
	if ((r = config_load(path, &s->cfg, d)) != 0) {
		snapshot_free(s);
		return r;
	}
	if ((s->schemas = calloc(s->cfg->nforms + 1,
	    sizeof(*s->schemas))) == NULL) {
		snapshot_free(s);
		return ERR_NOMEM;
	}
	/* Keep going after a problem so that -t reports every one. */
	r = check_storage_dir(s->cfg, d);
	for (i = 0; i < s->cfg->nforms; i++) {
		r = worse(r, schema_load(s->cfg->forms[i].schema,
		    &s->schemas[i], d));
		if (s->schemas[i] != NULL)
			r = worse(r, check_files(s, i, d));
	}
	r = worse(r, load_templates(s, d));
	r = worse(r, load_subjects(s, d));
	r = worse(r, load_recipients(s, d));
	r = worse(r, load_widget(s, d));
	/* A failure that said nothing is still a failure, and a problem
	   reported without a failing return still fails the load. */
	if (r == 0 && d->count != before)
		r = ERR_CONFIG;
	if (r != 0) {
		snapshot_free(s);
		return r;
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

const char *
snapshot_form_title(const struct snapshot *s, int form)
{
	const char	*t;

	if (form < 0)
		return "";
	t = schema_title(s->schemas[form]);
	return t ? t : s->cfg->forms[form].name;
}
