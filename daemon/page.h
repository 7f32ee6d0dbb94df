#ifndef INTAKE_PAGE_H
#define INTAKE_PAGE_H

#include <stddef.h>

#include <jansson.h>

#include "config.h"
#include "form.h"
#include "snapshot.h"
#include "template.h"

/*
 * The patient's pages as template contexts (form.html, thanks.html,
 * error.html; the variables each may use are the page_*_vars below, which
 * the snapshot checks templates against at load). Each returns a new JSON
 * object, or NULL when out of memory.
 */

#define PAGE_TOKEN_FIELD	"altcha"	/* the proof of work's field */

extern const struct tmpl_var page_form_vars[];
extern const struct tmpl_var page_thanks_vars[];
extern const struct tmpl_var page_error_vars[];

/*
 * The form built from its schema: labels, hints tied to their fields,
 * choices by title, HTML constraints that agree with the server's, the file
 * input with the form's policy. After a failed submission answers (from
 * form_result, or NULL) fill the fields in and errs sit beside theirs, with
 * a summary at the top; files_again says files must be chosen again (a
 * browser never re-sends them). altcha embeds the proof-of-work widget.
 */
json_t	*page_form_context(const struct snapshot *, int form,
	    const json_t *answers, const struct form_error *errs, size_t nerrs,
	    int files_again, int altcha);
/* The thank-you page; ref is the inquiry id shown, or NULL. */
json_t	*page_thanks_context(const struct snapshot *, int form,
	    const char *ref);
/* An error page that speaks to the patient: a heading and what to do for
   status, never the status text as its headline. form may be -1. */
json_t	*page_error_context(const struct snapshot *, int form, int status,
	    const char *detail);
/* The files file field f takes: its maxItems, within the form's files. */
unsigned page_files_max(const struct form_conf *, const struct form_field *);

#endif
