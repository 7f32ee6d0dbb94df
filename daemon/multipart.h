#ifndef INTAKE_MULTIPART_H
#define INTAKE_MULTIPART_H

#include "err.h"

#include <stddef.h>

/*
 * multipart/form-data (RFC 7578, framed as RFC 2046 says) parsed as a
 * stream: the body may arrive in pieces of any size, down to one byte, and
 * a part's data is handed to the caller as it comes, never gathered. The
 * memory held is the part-header cap plus a few hundred bytes, whatever
 * the size of the body or of any part.
 *
 * Framing, and the choices made where RFC 2046 leaves room:
 * - The delimiter is CRLF "--" boundary. The first one may open the body
 *   without the CRLF; anything before it (the preamble, at most
 *   MULTIPART_PREAMBLE_MAX bytes, else ERR_MALFORMED: a body that finds
 *   no boundary that early was sent with some other one) is ignored.
 * - Once "--" boundary is seen after a CRLF it is a delimiter (RFC 2046
 *   5.1.1: the boundary need only appear in its entirety after the CRLF),
 *   so data never holds it. It must be followed by "--" (the close
 *   delimiter) or by transport padding (spaces and tabs, at most
 *   MULTIPART_PADDING_MAX) and CRLF; anything else is ERR_MALFORMED.
 *   "\r\n--" followed by anything that is not the whole boundary is data.
 * - The CRLF that ends a part's headers may also be the delimiter's, as
 *   the grammar allows: "...\r\n\r\n--boundary" is a part with no data.
 * - After the close delimiter up to MULTIPART_EPILOGUE_MAX bytes (the
 *   epilogue, its padding and CRLF included) are ignored; more is
 *   ERR_TOOBIG. A body that is only a close delimiter has no part, and is
 *   accepted: an HTML form with no field sends it.
 * - Line ends are CRLF: a bare LF or CR in part headers or after a
 *   boundary is ERR_MALFORMED (in data it is data).
 *
 * Part headers: CRLF-terminated "Name: value" lines, ended by an empty
 * line; folded lines (obs-fold), whitespace before the colon and control
 * characters (but HTAB) are ERR_MALFORMED; all of a part's header lines
 * together are capped (ERR_TOOBIG). Known headers may appear once each:
 * - Content-Disposition must be "form-data" with a name parameter. Values
 *   are tokens or quoted-strings; in a quoted-string a backslash escapes
 *   only '"' and '\' and is otherwise kept as it is, since browsers send
 *   Windows paths (C:\reports\scan.pdf) unescaped. filename* (RFC 5987:
 *   UTF-8''percent-encoded, charset case-insensitive, the language
 *   ignored) takes precedence over filename; another charset, a bad
 *   percent-encoding or bytes that are not UTF-8 there are ERR_MALFORMED.
 *   The name must be 1 to MULTIPART_NAME_MAX bytes of UTF-8 without
 *   control characters. The %22, %0D and %0A that HTML's form encoding
 *   puts in names and filenames for '"', CR and LF are not decoded.
 * - Content-Type is kept as declared, for diagnostics only; a multipart
 *   type (nested multipart, deprecated by RFC 7578 4.3) is ERR_MALFORMED.
 * - Content-Transfer-Encoding other than 7bit, 8bit or binary is
 *   ERR_MALFORMED (RFC 7578 4.7: senders must not use one).
 * - Other headers are ignored.
 *
 * Errors: every function returns 0 or a negative ERR_* code (or what a
 * callback returned to stop it). A parse error is ERR_MALFORMED (answer
 * 400) or ERR_TOOBIG (413), with a short English reason from
 * multipart_error() that never echoes the input.
 */

#define MULTIPART_BOUNDARY_MAX	70	/* RFC 2046 */
#define MULTIPART_NAME_MAX	128	/* bytes in a field name */
#define MULTIPART_FILENAME_MAX	255	/* bytes in a cleaned filename */
#define MULTIPART_PREAMBLE_MAX	1024
#define MULTIPART_EPILOGUE_MAX	1024
#define MULTIPART_PADDING_MAX	64

/* A zero member (or limits == NULL) means the default: 8 KiB of header
   lines per part, 64 parts. header_bytes above 1 MiB is ERR_INVAL. */
struct multipart_limits {
	size_t		header_bytes;
	unsigned	max_parts;
};

/*
 * What a part's headers said. The strings are the parser's: valid from
 * the part_begin call until part_end returns, or, for a part that never
 * ends (an error), until multipart_free.
 */
struct multipart_part {
	const char	*name;		/* the field name, checked as above */
	/* NULL for a field without a filename parameter; "" when the client
	   sent an empty one (a file input left empty, as browsers send it);
	   otherwise the name cleaned by multipart_filename_clean, never
	   empty. */
	const char	*filename;
	/* As declared, trimmed, or NULL: the client's claim, never to be
	   trusted (filetype.h decides the type). */
	const char	*content_type;
};

/*
 * The caller's callbacks; any may be NULL. Each returns 0 to go on, or
 * non-zero to stop parsing: multipart_feed then returns that value as it
 * is (so return a negative ERR_* code) and keeps returning it.
 * part_data gets the part's data in pieces of any size, never a byte of
 * a delimiter; p is valid only during the call.
 */
struct multipart_cb {
	int	(*part_begin)(const struct multipart_part *, void *arg);
	int	(*part_data)(const void *p, size_t n, void *arg);
	int	(*part_end)(const struct multipart_part *, void *arg);
};

struct multipart;

/*
 * Extracts the boundary parameter of a Content-Type value
 * ("multipart/form-data; boundary=..."; the type, subtype and parameter
 * names case-insensitive, other parameters allowed, whitespace around ';'
 * and '=' tolerated, the value a token or a quoted-string). Writes it,
 * NUL-terminated, to out (outlen bytes; MULTIPART_BOUNDARY_MAX + 1 always
 * suffice). Returns 0; ERR_MALFORMED when the type is not
 * multipart/form-data, the parameter is missing or repeated, or the value
 * is not 1 to 70 RFC 2046 bchars not ending in a space; ERR_INVAL when
 * an argument is NULL or out is too small for the boundary.
 */
int	 multipart_boundary(const char *content_type, char *out,
	    size_t outlen);

/*
 * Makes a parser for a body framed by boundary (as multipart_boundary
 * gives it; copied). cb is kept by pointer and must outlive the parser;
 * arg is passed to every callback. On success *out is the caller's, to
 * release with multipart_free. Returns 0, ERR_INVAL (a boundary that
 * multipart_boundary would refuse, bad limits, a NULL argument) or
 * ERR_NOMEM; no callback is ever called from here.
 */
int	 multipart_new(const char *boundary, const struct multipart_limits *,
	    const struct multipart_cb *cb, void *arg, struct multipart **out);

/*
 * Parses the next n bytes of the body, calling the callbacks for what they
 * complete. Returns 0, the parse error (ERR_MALFORMED, ERR_TOOBIG), or
 * what a callback returned to stop. After a non-zero return every later
 * call returns the same value and calls nothing.
 */
int	 multipart_feed(struct multipart *, const void *p, size_t n);

/*
 * Says the body has ended. Returns 0 if the close delimiter was seen (all
 * parts have ended), else ERR_MALFORMED; or the error an earlier feed
 * returned. Feeding after it is ERR_INVAL.
 */
int	 multipart_finish(struct multipart *);

/* Why the last call failed, in a few English words that never echo the
   input, for a 400 answer; "no error" when none did. Never NULL. */
const char *multipart_error(const struct multipart *);

/* Releases the parser; NULL is a no-op. Calls no callback. */
void	 multipart_free(struct multipart *);

/*
 * Sanitises a client's filename (a NUL-terminated string) for keeping in
 * the record: keeps only what follows the last '/' or '\'; drops C0 and
 * C1 controls, DEL and the Unicode format and bidi controls (U+061C,
 * U+200B-U+200F, U+202A-U+202E, U+2060-U+2064, U+2066-U+2069, U+FEFF);
 * replaces each byte that is not part of well-formed UTF-8 with U+FFFD
 * rather than dropping it, so a Latin-1 name keeps its shape and the
 * staff see that a letter was there; strips leading dots and leading and
 * trailing white space (Unicode's); keeps at most MULTIPART_FILENAME_MAX
 * bytes (fewer if outlen is smaller), never cutting a UTF-8 sequence
 * (what does not fit is dropped, extension included). An empty result is
 * "unnamed". Writes the result, NUL-terminated, to out (outlen bytes).
 * Returns 0, or ERR_INVAL when an argument is NULL or outlen is below
 * sizeof("unnamed").
 */
int	 multipart_filename_clean(const char *raw, char *out, size_t outlen);

#endif
