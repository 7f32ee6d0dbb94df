/* libpq, opened at run time: see libpq.h. */
#include "dlib.h"
#include "libpq.h"

struct libpq	 pq;

#define F(name)	DLIB_NAME(name)
static const char *const names[] = { LIBPQ_FUNCS };
#undef F
#define F(name)	DLIB_SLOT(pq, name)
static void **const slots[] = { LIBPQ_FUNCS };
#undef F

/* Debian's libpq5: the ABI libpq-fe.h describes. */
static struct dlib lib = {
	.soname = "libpq.so.5",
	.what = "[storage] backend = postgresql",
	.prefix = "PQ",
	.names = names,
	.slots = slots,
	.n = sizeof(names) / sizeof(names[0]),
};

const char *
libpq_open(void)
{
	return dlib_load(&lib);
}
