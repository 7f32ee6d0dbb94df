#ifndef INTAKE_RATELIMIT_H
#define INTAKE_RATELIMIT_H

#include <stdint.h>

/*
 * Per-key token buckets (keys are client IPs) in a fixed-size table, so a
 * flood of distinct addresses costs no memory: when the table is full the
 * least recently seen bucket is reused. That can only forgive a client,
 * never block an innocent one.
 */

#define RATELIMIT_SLOTS	4096

struct ratelimit;

struct ratelimit *ratelimit_new(void);
void	ratelimit_free(struct ratelimit *);
/*
 * Takes one token for key at time now_ms from a bucket that refills
 * per_minute tokens a minute up to burst. Returns 0 when allowed, else the
 * number of seconds after which a token will be there (for Retry-After).
 * per_minute == 0 allows everything.
 */
unsigned ratelimit_take(struct ratelimit *, const char *key, int64_t now_ms,
	    unsigned per_minute, unsigned burst);

#endif
