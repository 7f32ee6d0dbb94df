#ifndef INTAKE_SCHEMA_H
#define INTAKE_SCHEMA_H

/*
 * The compiled form of a schema: private to the form module (schema.c
 * loads it, form.c validates against it). Everyone else sees struct schema
 * as opaque through form.h.
 */

#ifndef PCRE2_CODE_UNIT_WIDTH
#define PCRE2_CODE_UNIT_WIDTH	8
#endif

#include <jansson.h>
#include <pcre2.h>

#include "form.h"

enum schema_type {
	SCHEMA_STRING,
	SCHEMA_INTEGER,
	SCHEMA_NUMBER,
	SCHEMA_BOOLEAN,
	SCHEMA_ARRAY,
};

enum schema_format {
	SCHEMA_FMT_NONE,
	SCHEMA_FMT_EMAIL,
	SCHEMA_FMT_DATE,
	SCHEMA_FMT_URI,
	SCHEMA_FMT_BINARY,	/* a file, uploaded with multipart */
};

struct schema_node {
	enum schema_type	 type;
	int			 multiline;
	long long		 min_length, max_length;	/* -1: absent */
	pcre2_code		*pattern;	/* see schema_match, or NULL */
	enum schema_format	 format;
	const json_t		*enumv;		/* array, or NULL; in doc, or
						   oneof */
	json_t			*oneof;		/* oneOf's consts; owned */
	const json_t		*constv;	/* or NULL; in doc */
	int			 has_min, has_max;
	json_int_t		 imin, imax;	/* integer fields */
	double			 dmin, dmax;	/* number fields */
	long long		 max_items;	/* -1: absent */
	struct schema_node	*items;		/* arrays only */
};

struct schema_prop {
	const char		*name;		/* in doc */
	int			 required;
	struct schema_node	 node;
};

struct schema {
	char			*text;		/* the file, NUL-terminated */
	size_t			 len;
	json_t			*doc;
	struct schema_prop	*props;		/* in file order */
	size_t			 nprops;
	int			 additional;	/* unknown keys allowed */
	struct form_field	*fields;	/* nprops of them */
	pcre2_general_context	*gctx;		/* PCRE2 allocates with malloc */
	pcre2_match_context	*mctx;		/* the match limits */
};

/*
 * Matches the value v (len bytes, already checked as UTF-8 by form.c)
 * against n->pattern, which must be set. Returns 0 when the pattern
 * matches somewhere in v, ERR_REJECTED when it does not, ERR_TOOBIG when
 * the match gave up at one of the limits (too much backtracking: the value
 * fails the pattern all the same), ERR_NOMEM. Safe to call from several
 * threads at once: the compiled pattern and the contexts are only read.
 */
int	schema_match(const struct schema *s, const struct schema_node *n,
	    const char *v, size_t len);

#endif
