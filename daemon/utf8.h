#ifndef INTAKE_UTF8_H
#define INTAKE_UTF8_H

#include <stddef.h>
#include <stdint.h>

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
/* Decodes the sequence at p (n >= 1 bytes): returns its length and sets
   *cp, or returns 0 (and *cp = p[0]) for a byte that starts no
   well-formed sequence. */
size_t	utf8_decode(const unsigned char *p, size_t n, uint32_t *cp);
/* 1 for what hides or disguises text where people read names: controls
   (C0, DEL, C1) and the invisible format and bidi characters (U+061C,
   U+200B-200F, U+202A-202E, U+2060-2064, U+2066-2069, U+FEFF). */
int	utf8_hidden(uint32_t cp);

#endif
