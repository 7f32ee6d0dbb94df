#ifndef INTAKE_DRAIN_H
#define INTAKE_DRAIN_H

/*
 * Work a handler has in flight, and who waits for it to end: the intake
 * and the inbox each count theirs, and SIGTERM's shutdown waits for both
 * to reach zero before the store closes.
 */
struct drain {
	unsigned	  n;
	void		(*cb)(void *);
	void		 *arg;
};

static inline void
drain_begin(struct drain *d)
{
	d->n++;
}

/* One piece of work ended; the waiter is called when it was the last. */
static inline void
drain_end(struct drain *d)
{
	void	(*cb)(void *) = d->cb;

	if (--d->n == 0 && cb != NULL) {
		d->cb = NULL;
		cb(d->arg);
	}
}

/* cb(arg) once nothing is in flight: now, or at the last drain_end. */
static inline void
drain_wait(struct drain *d, void (*cb)(void *), void *arg)
{
	if (d->n == 0) {
		cb(arg);
		return;
	}
	d->cb = cb;
	d->arg = arg;
}

#endif
