#ifndef INTAKE_ADDR_H
#define INTAKE_ADDR_H

#include <stddef.h>

/*
 * The one mail address rule, used wherever an address is accepted: the
 * config ([mail] from and to), the form's "format": "email", and every
 * address that goes into a header or an SMTP envelope. What passes here is
 * safe in all of them, so nothing later re-validates differently.
 *
 * Deliberately narrower than RFC 5322: a dot-atom local part (letters,
 * digits, the atext specials, inner single dots; at most 64 bytes) and a
 * host name (dot-separated labels of letters, digits and inner hyphens, at
 * most 63 bytes each); ASCII only; no quoted strings, comments or IP
 * literals; at most 254 bytes in all (RFC 5321's path limit).
 */

#define ADDR_MAX	254

/* With ADDR_PUBLIC the host must also look like a public name: at least
   two labels, the last not all digits (what a patient should type; a
   staff address may be user@localhost). */
#define ADDR_PUBLIC	0x1

/* 1 if s[0..len) is an address under the rule above, else 0. */
int	addr_valid(const char *s, size_t len, int flags);
/* 1 if s[0..len) is a host name as above (also for the host of a URI). */
int	addr_host_valid(const char *s, size_t len, int flags);
/* The same as addr_valid for a NUL-terminated s (NULL is not an address). */
int	addr_valid_str(const char *s, int flags);

/* 1 if c is RFC 5322 atext (also the words of a plain display name). */
int	addr_atext(char c);

#endif
