/* libcurl, opened at run time: see libcurl.h. */
#include "dlib.h"
#include "libcurl.h"

struct libcurl	 libcurl;

#define F(name)	DLIB_NAME(name)
static const char *const names[] = { LIBCURL_FUNCS };
#undef F
#define F(name)	DLIB_SLOT(libcurl, name)
static void **const slots[] = { LIBCURL_FUNCS };
#undef F

/* Debian's libcurl4: the ABI curl.h describes. */
static struct dlib lib = {
	.soname = "libcurl.so.4",
	.what = "[mail] transport = smtp",
	.prefix = "curl_",
	.names = names,
	.slots = slots,
	.n = sizeof(names) / sizeof(names[0]),
};

const char *
libcurl_open(void)
{
	return dlib_load(&lib);
}
