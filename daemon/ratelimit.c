#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "ratelimit.h"

#define PROBE	8	/* slots examined per lookup */

struct bucket {
	uint64_t	h;		/* 0: empty */
	double		tokens;
	int64_t		last_ms;
};

struct ratelimit {
	unsigned char	seed[crypto_shorthash_KEYBYTES];
	struct bucket	slots[RATELIMIT_SLOTS];
};

struct ratelimit *
ratelimit_new(void)
{
	struct ratelimit *rl;

	if (sodium_init() < 0 || (rl = calloc(1, sizeof(*rl))) == NULL)
		return NULL;
	/* Keyed, so nobody can aim keys at one probe window. */
	randombytes_buf(rl->seed, sizeof(rl->seed));
	return rl;
}

void
ratelimit_free(struct ratelimit *rl)
{
	free(rl);
}

static uint64_t
key_hash(const struct ratelimit *rl, const char *key)
{
	unsigned char	h[crypto_shorthash_BYTES];
	uint64_t	v;

	crypto_shorthash(h, (const unsigned char *)key, strlen(key), rl->seed);
	memcpy(&v, h, sizeof(v));
	return v ? v : 1;
}

/* The bucket for key, refilled to now: its own, else an empty slot, else
   the stalest one in its probe window (reset to a full bucket). */
static struct bucket *
lookup(struct ratelimit *rl, const char *key, int64_t now_ms,
    const struct rate *r)
{
	uint64_t	 h = key_hash(rl, key);
	struct bucket	*b, *victim = NULL;
	unsigned	 i;
	double		 per_ms = (double)r->count / (double)r->period_ms;

	for (i = 0; i < PROBE; i++) {
		b = &rl->slots[(h + i) % RATELIMIT_SLOTS];
		if (b->h == h) {
			if (now_ms > b->last_ms) {
				b->tokens += (double)(now_ms - b->last_ms) *
				    per_ms;
				if (b->tokens > r->burst)
					b->tokens = r->burst;
				b->last_ms = now_ms;
			}
			return b;
		}
		if (victim == NULL || b->h == 0 ||
		    (victim->h != 0 && b->last_ms < victim->last_ms))
			victim = b;
	}
	victim->h = h;
	victim->tokens = r->burst;
	victim->last_ms = now_ms;
	return victim;
}

/* Seconds until b holds one token (0 when it does). */
static unsigned
wait_s(const struct bucket *b, const struct rate *r)
{
	double	per_ms = (double)r->count / (double)r->period_ms, w;

	if (b->tokens >= 1.0)
		return 0;
	w = ceil((1.0 - b->tokens) / per_ms / 1000.0);
	return w < 1.0 ? 1 : (unsigned)w;
}

unsigned
ratelimit_wait(struct ratelimit *rl, const char *key, int64_t now_ms,
    const struct rate *r)
{
	if (r->count == 0 || r->period_ms <= 0)
		return 0;
	return wait_s(lookup(rl, key, now_ms, r), r);
}

unsigned
ratelimit_take(struct ratelimit *rl, const char *key, int64_t now_ms,
    const struct rate *r)
{
	struct bucket	*b;
	unsigned	 w;

	if (r->count == 0 || r->period_ms <= 0)
		return 0;
	b = lookup(rl, key, now_ms, r);
	if ((w = wait_s(b, r)) == 0)
		b->tokens -= 1.0;
	return w;
}

void
ratelimit_refund(struct ratelimit *rl, const char *key, int64_t now_ms,
    const struct rate *r, double tokens)
{
	struct bucket	*b;

	if (r->count == 0 || r->period_ms <= 0 || tokens <= 0)
		return;
	b = lookup(rl, key, now_ms, r);
	b->tokens += tokens;
	if (b->tokens > r->burst)
		b->tokens = r->burst;
}
