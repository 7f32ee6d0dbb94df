#ifndef INTAKE_TEMPLATE_H
#define INTAKE_TEMPLATE_H

#include "err.h"

#include <jansson.h>

#include "buf.h"
#include "log.h"

/*
 * A small Mustache subset: {{var}} (escaped), {{{var}}} (raw, only where the
 * template author asks), {{#name}}…{{/name}} (a list repeats once per item
 * with the item's keys in scope, a true/non-empty value shows once),
 * {{^name}}…{{/name}} (shown when missing, false, empty list or ""),
 * {{! comment}}. Dotted names and partials are not supported.
 *
 * Templates are checked at load time against the variables their caller
 * promises to provide (struct tmpl_var), so a misspelt variable or an
 * unbalanced section is a load error with file:line, never a surprise at
 * render time.
 */

struct tmpl;

/* A variable a template may use. items != NULL marks a list whose entries
   provide those variables (in addition to the outer ones). Arrays of
   tmpl_var end with a { NULL, NULL } entry. */
struct tmpl_var {
	const char		*name;
	const struct tmpl_var	*items;
};

enum tmpl_mode {
	TMPL_HTML,	/* {{x}} escapes & < > " ' */
	TMPL_TEXT,	/* {{x}} inserted as is (plain-text mail) */
};


/*
 * Loads path; problems go to d as "file:line: reason" (d == NULL discards
 * them). *out owned by caller. Files must be UTF-8 and at most 256 KiB.
 * A name inside a list section resolves to the item's variables first,
 * then outward; rendering looks the value up in that same scope only.
 */
int	template_load(const char *path, enum tmpl_mode mode,
	    const struct tmpl_var *vars, struct tmpl **out, struct diag *d);
/* Same, from memory; name is used in diagnostics. */
int	template_parse(const char *name, const char *text, size_t len,
	    enum tmpl_mode mode, const struct tmpl_var *vars, struct tmpl **out,
	    struct diag *d);
void	template_free(struct tmpl *);

/*
 * Appends the rendering of t with the values of ctx (a JSON object: strings,
 * numbers, booleans, arrays of objects) to out. A variable absent from ctx
 * renders as empty. Returns 0, ERR_NOMEM or ERR_TOOBIG; on
 * failure out is truncated back to its length on entry.
 */
int	template_render(const struct tmpl *t, const json_t *ctx, struct buf *out);

/* Appends s HTML-escaped to out (& < > " '). Returns 0, ERR_NOMEM
   or ERR_TOOBIG; on failure out is left as it was. */
int	html_escape(struct buf *out, const char *s, size_t len);

#endif
