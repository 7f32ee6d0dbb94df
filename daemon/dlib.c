/* Libraries opened at run time: see dlib.h. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

#include "dlib.h"

static pthread_mutex_t	 mu = PTHREAD_MUTEX_INITIALIZER;

static const char *
open_lib(struct dlib *l)
{
	char		 sym[64];
	const char	*e;
	void		*h;
	size_t		 i;

	/* RTLD_NOW: a missing symbol shows here, not on first use. */
	if ((h = dlopen(l->soname, RTLD_NOW | RTLD_LOCAL)) == NULL)
		goto fail;
	for (i = 0; i < l->n; i++) {
		snprintf(sym, sizeof(sym), "%s%s", l->prefix, l->names[i]);
		if ((*l->slots[i] = dlsym(h, sym)) == NULL)
			goto fail;
	}
	return NULL;
fail:
	e = dlerror();
	snprintf(l->why, sizeof(l->why), "%s: cannot load %s: %s", l->what,
	    l->soname, e != NULL ? e : "unknown error");
	if (h != NULL)
		dlclose(h);
	return l->why;
}

const char *
dlib_load(struct dlib *l)
{
	const char	*r;

	pthread_mutex_lock(&mu);
	if (!l->tried) {
		l->result = open_lib(l);
		l->tried = 1;
	}
	r = l->result;
	pthread_mutex_unlock(&mu);
	return r;
}
