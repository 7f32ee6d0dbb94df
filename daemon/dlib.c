/* Libraries opened at run time: see dlib.h. */
#include <dlfcn.h>
#include <stdio.h>

#include "dlib.h"

const char *
dlib_open(const char *soname, const char *what, const char *prefix,
    const char *const names[], void **const slots[], size_t n, char *why,
    size_t whylen)
{
	char		 sym[64];
	const char	*e;
	void		*h;
	size_t		 i;

	/* RTLD_NOW: a missing symbol shows here, not on first use. */
	if ((h = dlopen(soname, RTLD_NOW | RTLD_LOCAL)) == NULL)
		goto fail;
	for (i = 0; i < n; i++) {
		snprintf(sym, sizeof(sym), "%s%s", prefix, names[i]);
		if ((*slots[i] = dlsym(h, sym)) == NULL)
			goto fail;
	}
	return NULL;
fail:
	e = dlerror();
	snprintf(why, whylen, "%s: cannot load %s: %s", what, soname,
	    e != NULL ? e : "unknown error");
	if (h != NULL)
		dlclose(h);
	return why;
}
