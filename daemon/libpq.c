/* libpq, opened at run time: see libpq.h. */
#include <pthread.h>

#include "dlib.h"
#include "libpq.h"

struct libpq	 pq;

static char		 buf[256];
static const char	*why;

static void
open_once(void)
{
#define F(name) #name,
	static const char *const names[] = { LIBPQ_FUNCS };
#undef F
#define F(name) (void **)&pq.name,
	static void **const slots[] = { LIBPQ_FUNCS };
#undef F

	/* Debian's libpq5: the ABI libpq-fe.h describes. */
	why = dlib_open("libpq.so.5", "[storage] backend = postgresql",
	    "PQ", names, slots, sizeof(names) / sizeof(names[0]), buf,
	    sizeof(buf));
}

const char *
libpq_open(void)
{
	static pthread_once_t	once = PTHREAD_ONCE_INIT;

	pthread_once(&once, open_once);
	return why;
}
