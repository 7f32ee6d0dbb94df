#ifndef INTAKE_SNAPSHOT_H
#define INTAKE_SNAPSHOT_H

#include "err.h"

#include <stddef.h>

#include "age.h"
#include "config.h"
#include "form.h"
#include "log.h"
#include "message.h"
#include "template.h"

/*
 * Everything a reload may change, loaded from the configuration and checked
 * as one unit: the config, each form's schema and mail subject, the page
 * and mail templates and the recipients. A submission keeps a reference to
 * the snapshot it was accepted with and composes its mails from it, so a
 * reload applies to all of a later inquiry at once. Startup,
 * `intaked -t` and SIGHUP all go through snapshot_load, so what -t accepts
 * is exactly what the daemon runs. A reload swaps snapshots only when the new
 * one loaded completely; requests in flight keep a reference to the one they
 * started with. References are taken and dropped on the loop thread only.
 */
struct snapshot {
	unsigned		 refs;
	struct config		*cfg;
	struct schema		**schemas;	/* one per cfg->forms[i] */
	struct tmpl		*thanks;
	struct tmpl		*error;
	struct tmpl		*form_page;
	struct message_templates mail;		/* notify.txt/.html, ack.txt */
	struct tmpl		**subjects;	/* one per cfg->forms[i] */
	struct age_recipient	*rcpts;
	size_t			 nrcpts;
	/* public_files/altcha.js when a form asks for proof of work */
	char			*widget;
	size_t			 widgetlen;
};


/*
 * Loads config file path and all it names. Every problem is reported via
 * d; the load succeeds whole (0, *out has one reference) or fails
 * (ERR_CONFIG, ERR_NOMEM, ERR_IO) with nothing left allocated.
 */
int	 snapshot_load(const char *path, struct snapshot **out, struct diag *d);
struct snapshot *snapshot_ref(struct snapshot *);
void	 snapshot_unref(struct snapshot *);
/* The recipients cfg names ([crypto] recipients, then recipients_file);
   *out is the caller's to free, also on failure. */
int	 snapshot_recipients(const struct config *, struct age_recipient **out,
	    size_t *n, struct diag *d);
/* Index of the form called name, or -1. */
int	 snapshot_form(const struct snapshot *, const char *name, size_t len);
/* What people read as form's name: the schema's title, else its [form
   NAME]; "" for no form (-1). */
const char *snapshot_form_title(const struct snapshot *, int form);

#endif
