/*
 * Libraries opened at run time, by what needs them, instead of linked:
 * libcurl for the SMTP transport (libcurl.h), libpq for the PostgreSQL
 * store (libpq.h). Linked, each maps its whole tree (a TLS library,
 * Kerberos, LDAP, SSH, p11-kit) into every intaked, and their start-up
 * and relocations cost megabytes of memory a Maildir or SQLite setup
 * never uses.
 */
#ifndef INTAKE_DLIB_H
#define INTAKE_DLIB_H

#include <stddef.h>

/*
 * Opens soname and fills *slots[i] with the symbol prefix + names[i],
 * for n names. NULL, or why (whylen bytes) with a line saying why not:
 * what needs the library, then dlerror's words.
 */
const char	*dlib_open(const char *soname, const char *what,
		    const char *prefix, const char *const names[],
		    void **const slots[], size_t n, char *why, size_t whylen);

#endif
