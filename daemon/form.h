#ifndef INTAKE_FORM_H
#define INTAKE_FORM_H

#include "err.h"

#include <stddef.h>

#include <jansson.h>

#include "log.h"

/*
 * Forms: a JSON Schema (2020-12 subset) per form, decoding of request bodies
 * (application/x-www-form-urlencoded and application/json) and validation
 * with coercion of string values to the schema's types.
 *
 * Supported keywords: type (object at the top; string, integer, number,
 * boolean, array of one of those for properties), required, properties,
 * additionalProperties (false, or true/absent), minLength, maxLength, pattern
 * (below), enum, const, format
 * (email, date, uri), minimum, maximum, maxItems, items; and the annotations
 * title, description, $schema, $id, $comment, default, examples, and
 * "x-multiline": true (the field may contain newlines and tabs; CRLF and a
 * lone CR are normalised to LF). Unknown keywords, keywords of the wrong JSON
 * type and keywords that do not apply to the field's type are load errors,
 * so that a typo never silently weakens validation. Every property must
 * have a "type"; "items" (default: string) gives an array's element type.
 *
 * Patterns: "pattern" is a regular expression in the common subset of
 * ECMA-262 (with the u flag, as JSON Schema validators in the browser run
 * it on the same file) and PCRE2, which runs it here in UTF mode. It is
 * unanchored, as JSON Schema says: "abc" matches "xabcx"; anchor with ^...$
 * to constrain the whole value. It works on code points, not bytes (".{3}"
 * is three characters). As in ECMA-262: \d, \w and \b are ASCII (PCRE2_UCP
 * is deliberately off, since ECMA-262 keeps them ASCII even with u); \s is
 * Unicode white space (Zs, U+2028, U+2029, TAB to CR, U+FEFF); "." matches
 * anything but LF, CR, U+2028 and U+2029; "$" only the very end; [] never
 * matches and [^] matches anything. Accepted: literals and escaped syntax
 * characters (\^ \$ \\ \. \* \+ \? \( \) \[ \] \{ \} \| \/, and \- in a
 * class), ., [...] and [^...] with ranges, \d \D \w \W \s \S (\S not inside
 * [...]), \b \B, \f \n \r \t \v, \0, \cX, \xHH, \uHHHH, \u{H...}, \p{..} and
 * \P{..} with a General_Category short value (L, Lu, Nd, ...) or
 * Script=, sc=, Script_Extensions=, scx= and a script name; | ^ $; groups
 * (...), (?:...), (?<name>...); lookaheads (?=...) (?!...) and fixed-length
 * lookbehinds (?<=...) (?<!...), none of them quantified; quantifiers * + ?
 * {n} {n,} {n,m}, each optionally lazy (?). Refused at load, as
 * "file:line: pattern: REASON at offset N" (N counts bytes of the pattern):
 * back-references; what only PCRE2 has (possessive a++, atomic (?>...),
 * \A \Z \z \G \K \R \h \Q..\E and the other PCRE2 escapes, inline options
 * (?i), recursion (?R) (?1), conditionals (?(...), (*VERB), POSIX classes
 * [[:alpha:]]); what ECMA-262 refuses but PCRE2 would read as something
 * (a lone { } or ], {,n}, \- outside a class, \x without two hex digits);
 * whatever PCRE2 refuses (with PCRE2's message); patterns over 1024 bytes or
 * with groups nested over 64 deep. Patterns are compiled once at load. A
 * value that needs more backtracking than the match limits allow fails the
 * pattern like a mismatch, with its own message.
 *
 * Text: every string (keys and values) must be valid UTF-8 ("utf8") without
 * control characters (C0, DEL, C1: "control"); fields with x-multiline may
 * hold LF and TAB. minLength/maxLength count code points. A field name
 * longer than 128 bytes, empty, or not such text makes the body malformed.
 *
 * Absent values: an empty string (or, in JSON, null or an empty list) counts
 * as absent, since HTML forms send every input even when left empty; an
 * absent required field is a "required" error.
 *
 * Coercion of urlencoded values (which are all strings):
 *   boolean  "on", "true", "1", "yes" -> true; "off", "false", "0", "no" ->
 *            false (exactly these, lowercase); anything else: "type".
 *   integer  an optional '-' then decimal digits only, within int64.
 *   number   [-]digits[.digits][e[+-]digits] (digits on at least one side of
 *            the point); no hex, inf or nan; must be finite.
 *   array    the key repeated, one element per occurrence (empty ones are
 *            dropped); each element coerced to the items type. Any other
 *            repeated key is a "duplicate" error.
 * JSON bodies are not coerced: values must already have the schema's JSON
 * type (an integer field also takes a number with no fractional part, as
 * JSON Schema says). A property value that is an object, or a list where a
 * single value is expected, is a "type" error, never silently dropped.
 *
 * Keys not in the schema are "additionalProperties" errors when the schema
 * says "additionalProperties": false; otherwise they are kept (text checked
 * as single-line strings; in JSON strings, numbers and booleans are kept and
 * nested values are a "depth" error).
 */

struct schema;


enum form_ctype {
	FORM_URLENCODED,
	FORM_JSON,
};

/* One validation problem. field is "" for problems with the whole body. */
struct form_error {
	char	*field;
	char	*code;		/* required, type, minLength, maxLength,
				   pattern, enum, const, format, minimum,
				   maximum, maxItems, additionalProperties,
				   duplicate, utf8, control, depth, tooMany,
				   tooLong (over max_field_bytes), malformed
				   (the ERR_MALFORMED entry), invisible
				   (format characters in one line) */
	char	*message;	/* English, safe to show: never echoes the value */
};

/* A zero member (or opts == NULL) means the built-in default: 64 fields,
   64 KiB per field, JSON depth 8 (the top-level object is depth 1). */
struct form_opts {
	const char	*honeypot;	/* field name accepted and removed, or NULL */
	/* A field that is no answer but a token for the server (the proof
	   of work's "altcha"): taken out of the body whole into
	   form_result.token, never validated or stored; NULL for none. */
	const char	*token_field;
	/* Keep form_result.answers even when the body is valid (the form may
	   still be shown again, if its proof of work fails). */
	int		 keep_answers;
	unsigned	 max_fields;	/* cap on keys in the body */
	size_t		 max_field_bytes;	/* cap on one decoded value */
	unsigned	 max_json_depth;
	/* Files: how many a file field ("format": "binary") came with in a
	   multipart body; NULL when the body had none (urlencoded, JSON). */
	unsigned	(*files)(void *arg, const char *field);
	void		*files_arg;
};

struct form_result {
	json_t			*fields;	/* validated, coerced; owned */
	int			 honeypot;	/* the honeypot field was non-empty;
					   set whatever form_parse returns:
					   check it first */
	struct form_error	*errors;	/* owned */
	size_t			 nerrors;
	/* urlencoded bodies with errors: each schema field's answers as
	   typed (made displayable text), to show the form again; owned */
	json_t			*answers;
	char			*token;		/* token_field's value, or NULL */
	size_t			 tokenlen;
};

/* One field description, for rendering the demo form page. */
struct form_field {
	const char	 *name;
	const char	 *title;	/* falls back to name */
	const char	 *description;	/* the hint, or NULL */
	const char	 *type;		/* string, integer, number, boolean, array */
	const char	 *format;	/* or NULL */
	int		  required;
	int		  multiline;
	const char *const *options;	/* enum values (strings), NULL-terminated, or NULL */
	const char *const *option_titles;	/* beside options: as shown */
	const char	 *autocomplete;	/* x-autocomplete, or NULL */
	const char	 *pattern;	/* as an HTML pattern attribute, or NULL */
	int		  consent;	/* a boolean that must be true */
	long long	  min_length, max_length;	/* -1 when absent */
	int		  file;		/* "format": "binary" (on the items) */
	long long	  max_items;	/* 1 for a string; -1: no maxItems */
};

/*
 * Loads and checks a schema file. Problems are reported via d as
 * "file:line: reason" (the line of the offending keyword). On success *out
 * is owned by the caller (schema_free).
 */
int		 schema_load(const char *path, struct schema **out, struct diag *d);
void		 schema_free(struct schema *);
/* The file's bytes as loaded, to serve at GET /forms/NAME/schema. */
const char	*schema_text(const struct schema *, size_t *len);
/* The schema's top-level "title", or NULL. Valid while the schema lives. */
const char	*schema_title(const struct schema *);
/* Its top-level "description", or NULL. */
const char	*schema_description(const struct schema *);
/* Field descriptions in schema order; valid while the schema lives. */
const struct form_field *schema_fields(const struct schema *, size_t *n);

/*
 * Decodes body as ctype and validates it against s. Collects every error,
 * not just the first. Returns 0 (res->fields set), ERR_REJECTED
 * (res->errors set), ERR_MALFORMED (res->errors has one entry saying
 * why) or ERR_NOMEM. Always call form_result_free(res) afterwards.
 */
int		 form_parse(const struct schema *s, enum form_ctype ctype,
		    const char *body, size_t len, const struct form_opts *opts,
		    struct form_result *res);
void		 form_result_free(struct form_result *);


#endif
