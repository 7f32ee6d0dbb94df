/* libcurl, opened at run time: see libcurl.h. */
#include <dlfcn.h>
#include <stdio.h>

#include "libcurl.h"

/* The soname of Debian's libcurl4, the ABI curl.h describes. */
#define LIBCURL_SONAME	"libcurl.so.4"

struct libcurl	 libcurl;

const char *
libcurl_open(void)
{
	static char	 why[256];
	static int	 opened;
	const char	*e;
	void		*h;

	if (opened)
		return NULL;
	/* RTLD_NOW: a missing symbol shows here, not on the first mail. */
	if ((h = dlopen(LIBCURL_SONAME, RTLD_NOW | RTLD_LOCAL)) == NULL)
		goto fail;
#define F(name) \
	if ((*(void **)&libcurl.name = dlsym(h, "curl_" #name)) == NULL) \
		goto fail;
	LIBCURL_FUNCS
#undef F
	opened = 1;
	return NULL;
fail:
	e = dlerror();
	snprintf(why, sizeof(why), "[mail] transport = smtp: cannot load "
	    "libcurl: %s", e != NULL ? e : "unknown error");
	if (h != NULL)
		dlclose(h);
	return why;
}
