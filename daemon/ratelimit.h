#ifndef INTAKE_RATELIMIT_H
#define INTAKE_RATELIMIT_H

#include <stdint.h>

/*
 * The one rate limiter: per-key token buckets in a fixed-size table, used
 * for submissions per client IP and for patient acknowledgements per
 * address and per IP. A flood of distinct keys costs no memory: when a
 * key's probe window is full the stalest bucket is reused, which can only
 * forgive a client, never block an innocent one.
 *
 * Keys are kept as a keyed 64-bit hash (SipHash, a random key per table),
 * never as the text: a table of acknowledgement limits holds no address.
 */

#define RATELIMIT_SLOTS	4096	/* buckets per table */

/* A rule: count tokens every period_ms, at most burst in the bucket.
   count == 0 means no limit. */
struct rate {
	unsigned	count;
	int64_t		period_ms;
	unsigned	burst;
};

struct ratelimit;

/* NULL without memory (or if libsodium is not initialised). */
struct ratelimit *ratelimit_new(void);
void	ratelimit_free(struct ratelimit *);
/*
 * Takes one token for key at time now_ms. Returns 0 when allowed, else
 * the number of seconds (>= 1) after which a token will be there, for
 * Retry-After; a refused take changes nothing.
 */
unsigned ratelimit_take(struct ratelimit *, const char *key, int64_t now_ms,
	    const struct rate *);
/* Gives back part of a token taken for key (never past the burst): for a
   take that turned out to cost less than a whole one. */
void	ratelimit_refund(struct ratelimit *, const char *key, int64_t now_ms,
	    const struct rate *, double tokens);
/* As ratelimit_take without taking: whether a token is there now. */
unsigned ratelimit_wait(struct ratelimit *, const char *key, int64_t now_ms,
	    const struct rate *);

#endif
