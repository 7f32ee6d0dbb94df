#ifndef INTAKE_UTF8_H
#define INTAKE_UTF8_H

#include <stddef.h>

/*
 * UTF-8 well-formedness, shared by the form decoder, the template loader,
 * mail composition and the record builder. Well-formed means the shortest
 * encoding of a Unicode scalar value: no overlong forms (C0 AF for '/'), no
 * UTF-16 surrogates (ED A0 80), nothing past U+10FFFF.
 */

/* 1 if p[0..len) is well-formed UTF-8, else 0. */
int	utf8_valid(const char *p, size_t len);
/* Length of the sequence at p (n >= 1 bytes available): 1 for ASCII, 2 to
   4 for a well-formed multi-byte sequence, 0 when not well-formed. */
size_t	utf8_seqlen(const unsigned char *p, size_t n);

#endif
