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

/* One library: what to open and which symbols (prefix + names[i]) go
   into *slots[i]; the rest is dlib_load's. */
struct dlib {
	const char		*soname;
	const char		*what;		/* what needs it, for errors */
	const char		*prefix;
	const char *const	*names;
	void **const		*slots;
	size_t			 n;

	int			 tried;
	const char		*result;	/* NULL, or why */
	char			 why[256];
};

/*
 * Opens the library and fills its slots, once, from any thread; later
 * calls return the first one's answer. NULL, or a line saying why not:
 * what needs the library, then dlerror's words.
 */
const char	*dlib_load(struct dlib *);

/* The names and slot addresses of a struct of function pointers whose
   members an X-macro list F(name) names, for a struct dlib. */
#define DLIB_NAME(name)		#name,
#define DLIB_SLOT(var, name)	(void **)&var.name,

#endif
