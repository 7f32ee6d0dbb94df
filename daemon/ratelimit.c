#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "ratelimit.h"

#define KEYLEN	48
#define PROBE	8	/* slots examined per lookup */

struct bucket {
	char	key[KEYLEN];
	double	tokens;
	int64_t	last_ms;
};

struct ratelimit {
	unsigned char	seed[crypto_shorthash_KEYBYTES];
	struct bucket	slots[RATELIMIT_SLOTS];
};

struct ratelimit *
ratelimit_new(void)
{
	struct ratelimit *rl;

	if ((rl = calloc(1, sizeof(*rl))) == NULL)
		return NULL;
	/* A keyed hash so nobody can aim addresses at one probe window. */
	randombytes_buf(rl->seed, sizeof(rl->seed));
	return rl;
}

void
ratelimit_free(struct ratelimit *rl)
{
	free(rl);
}

/* The bucket for key: its own, else an empty slot, else the stalest one
   in its probe window (reset). */
static struct bucket *
lookup(struct ratelimit *rl, const char *key, unsigned burst)
{
	unsigned char	h[crypto_shorthash_BYTES];
	uint64_t	idx;
	struct bucket	*b, *victim = NULL;
	unsigned	i;

	crypto_shorthash(h, (const unsigned char *)key, strlen(key), rl->seed);
	memcpy(&idx, h, sizeof(idx));
	for (i = 0; i < PROBE; i++) {
		b = &rl->slots[(idx + i) % RATELIMIT_SLOTS];
		if (strcmp(b->key, key) == 0)
			return b;
		if (victim == NULL || b->key[0] == '\0' ||
		    (victim->key[0] != '\0' && b->last_ms < victim->last_ms))
			victim = b;
	}
	snprintf(victim->key, sizeof(victim->key), "%s", key);
	victim->tokens = burst;
	victim->last_ms = 0;
	return victim;
}

unsigned
ratelimit_take(struct ratelimit *rl, const char *key, int64_t now_ms,
    unsigned per_minute, unsigned burst)
{
	struct bucket	*b;
	double		 rate, wait;

	if (per_minute == 0)
		return 0;
	b = lookup(rl, key, burst);
	rate = per_minute / 60000.0;	/* tokens per ms */
	if (b->last_ms && now_ms > b->last_ms) {
		b->tokens += (double)(now_ms - b->last_ms) * rate;
		if (b->tokens > burst)
			b->tokens = burst;
	}
	b->last_ms = now_ms;
	if (b->tokens >= 1.0) {
		b->tokens -= 1.0;
		return 0;
	}
	wait = ceil((1.0 - b->tokens) / rate / 1000.0);
	return wait < 1.0 ? 1 : (unsigned)wait;
}
