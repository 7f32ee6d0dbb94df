/* libcurl, opened at run time: see libcurl.h. */
#include <pthread.h>

#include "dlib.h"
#include "libcurl.h"

struct libcurl	 libcurl;

static char		 buf[256];
static const char	*why;

static void
open_once(void)
{
#define F(name) #name,
	static const char *const names[] = { LIBCURL_FUNCS };
#undef F
#define F(name) (void **)&libcurl.name,
	static void **const slots[] = { LIBCURL_FUNCS };
#undef F

	/* Debian's libcurl4: the ABI curl.h describes. */
	why = dlib_open("libcurl.so.4", "[mail] transport = smtp",
	    "curl_", names, slots, sizeof(names) / sizeof(names[0]), buf,
	    sizeof(buf));
}

const char *
libcurl_open(void)
{
	static pthread_once_t	once = PTHREAD_ONCE_INIT;

	pthread_once(&once, open_once);
	return why;
}
