#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "audit.h"
#include "clock.h"

static int
fits(const char *s, size_t max, int required)
{
	if (s == NULL)
		return !required;
	return (*s != '\0' || !required) && strlen(s) <= max;
}

int
audit_event_check(const struct audit_event *ev)
{
	if (ev == NULL || !fits(ev->actor, AUDIT_ACTOR_MAX, 1) ||
	    !fits(ev->action, AUDIT_ACTION_MAX, 1) ||
	    !fits(ev->inquiry_id, STORE_ID_LEN, 0) ||
	    !fits(ev->client, AUDIT_CLIENT_MAX, 0) ||
	    !fits(ev->detail, AUDIT_DETAIL_MAX, 0))
		return ERR_INVAL;
	return 0;
}

static void
copy(char *dst, size_t len, const char *s)
{
	snprintf(dst, len, "%s", s ? s : "");
}

void
audit_fill(struct audit_entry *e, const struct audit_event *ev, int64_t at)
{
	memset(e, 0, sizeof(*e));
	e->at_ms = at;
	copy(e->actor, sizeof(e->actor), ev->actor);
	copy(e->action, sizeof(e->action), ev->action);
	copy(e->inquiry_id, sizeof(e->inquiry_id), ev->inquiry_id);
	copy(e->client, sizeof(e->client), ev->client);
	copy(e->detail, sizeof(e->detail), ev->detail);
}

/* A field as length and bytes, so that no two entries hash alike by
   moving a separator. */
static void
put_field(crypto_hash_sha256_state *h, const char *s)
{
	unsigned char	len[4];
	size_t		n = strlen(s);

	len[0] = (unsigned char)(n >> 24);
	len[1] = (unsigned char)(n >> 16);
	len[2] = (unsigned char)(n >> 8);
	len[3] = (unsigned char)n;
	crypto_hash_sha256_update(h, len, 4);
	crypto_hash_sha256_update(h, (const unsigned char *)s, n);
}

void
audit_hash(const struct audit_entry *e, unsigned char out[AUDIT_HASH_LEN])
{
	crypto_hash_sha256_state	h;
	char				num[48];

	crypto_hash_sha256_init(&h);
	crypto_hash_sha256_update(&h, (const unsigned char *)"intaked-audit-1",
	    15);
	crypto_hash_sha256_update(&h, e->prev, AUDIT_HASH_LEN);
	snprintf(num, sizeof(num), "%lld %lld", (long long)e->seq,
	    (long long)e->at_ms);
	put_field(&h, num);
	put_field(&h, e->actor);
	put_field(&h, e->action);
	put_field(&h, e->inquiry_id);
	put_field(&h, e->client);
	put_field(&h, e->detail);
	crypto_hash_sha256_final(&h, out);
}

int
audit_append(struct store *st, const struct audit_event *ev)
{
	if (audit_event_check(ev) != 0)
		return ERR_INVAL;
	return st->ops->audit_append(st, ev);
}

int
audit_list(struct store *st, int64_t since_ms,
    int (*cb)(void *, const struct audit_entry *), void *arg)
{
	return st->ops->audit_list(st, since_ms, cb, arg);
}

struct walk {
	int64_t		last_seq;
	unsigned char	last_hash[AUDIT_HASH_LEN];
	int64_t		bad;
};

static int
check_entry(void *arg, const struct audit_entry *e)
{
	struct walk	*w = arg;
	unsigned char	 h[AUDIT_HASH_LEN];

	audit_hash(e, h);
	if (e->seq != w->last_seq + 1 ||
	    sodium_memcmp(e->prev, w->last_hash, AUDIT_HASH_LEN) != 0 ||
	    sodium_memcmp(h, e->hash, AUDIT_HASH_LEN) != 0) {
		w->bad = e->seq;
		return 1;
	}
	w->last_seq = e->seq;
	memcpy(w->last_hash, e->hash, AUDIT_HASH_LEN);
	return 0;
}

int
audit_verify(struct store *st, int64_t *bad)
{
	struct walk	w;
	int		r;

	memset(&w, 0, sizeof(w));
	w.bad = -1;
	if (bad)
		*bad = -1;
	if ((r = audit_list(st, 0, check_entry, &w)) != 0)
		return r;
	if (w.bad < 0)
		return 0;
	if (bad)
		*bad = w.bad;
	return ERR_AUTH;
}
