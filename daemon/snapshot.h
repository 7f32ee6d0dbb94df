#ifndef INTAKE_SNAPSHOT_H
#define INTAKE_SNAPSHOT_H

#include "err.h"

#include <stddef.h>

#include "age.h"
#include "config.h"
#include "form.h"
#include "log.h"
#include "template.h"

/*
 * Everything loaded from the configuration, checked as one unit: the config,
 * each form's schema, the HTML templates and the recipients. Startup,
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
	struct age_recipient	*rcpts;
	size_t			 nrcpts;
};


extern const struct tmpl_var snapshot_thanks_vars[];
extern const struct tmpl_var snapshot_error_vars[];
extern const struct tmpl_var snapshot_form_vars[];

/* Loads config file path and all it names. *out has one reference. */
int	 snapshot_load(const char *path, struct snapshot **out, struct diag *d);
struct snapshot *snapshot_ref(struct snapshot *);
void	 snapshot_unref(struct snapshot *);
/* Index of the form called name, or -1. */
int	 snapshot_form(const struct snapshot *, const char *name, size_t len);

#endif
