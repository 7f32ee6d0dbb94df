#ifndef INTAKE_SCHEMA_H
#define INTAKE_SCHEMA_H

/*
 * The compiled form of a schema: private to the form module (schema.c
 * loads it, form.c validates against it). Everyone else sees struct schema
 * as opaque through form.h.
 */

#include <regex.h>

#include <jansson.h>

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
};

struct schema_node {
	enum schema_type	 type;
	int			 multiline;
	long long		 min_length, max_length;	/* -1: absent */
	regex_t			*pattern;	/* anchored, or NULL */
	enum schema_format	 format;
	const json_t		*enumv;		/* array, or NULL; in doc */
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
};

#endif
