#include <sys/resource.h>

#include <unistd.h>

#include "pool.h"

#define POOL_NICE	10

void
pool_background(void)
{
	static __thread int	done;

	if (done)
		return;
	done = 1;
	(void)setpriority(PRIO_PROCESS, (id_t)gettid(), POOL_NICE);
}
