#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "ipcount.h"

#define BUCKETS_MIN	64

struct node {
	struct node	*next;
	struct ipkey	 key;
	unsigned	 count;
};

struct ipcount {
	unsigned char	  seed[crypto_shorthash_KEYBYTES];
	struct node	**buckets;
	size_t		  nbuckets;	/* a power of two */
	size_t		  n;		/* nodes */
};

int
ipcount_new(struct ipcount **out)
{
	struct ipcount	*t;

	*out = NULL;
	if (sodium_init() < 0 || (t = calloc(1, sizeof(*t))) == NULL)
		return ERR_NOMEM;
	if ((t->buckets = calloc(BUCKETS_MIN, sizeof(*t->buckets))) == NULL) {
		free(t);
		return ERR_NOMEM;
	}
	t->nbuckets = BUCKETS_MIN;
	randombytes_buf(t->seed, sizeof(t->seed));
	*out = t;
	return 0;
}

void
ipcount_free(struct ipcount *t)
{
	struct node	*n, *next;
	size_t		 i;

	if (t == NULL)
		return;
	for (i = 0; i < t->nbuckets; i++)
		for (n = t->buckets[i]; n; n = next) {
			next = n->next;
			free(n);
		}
	free(t->buckets);
	free(t);
}

int
ipcount_key(int family, const void *addr, struct ipkey *out)
{
	static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0,
						  0, 0xff, 0xff };
	const unsigned char	*a = addr;

	memset(out, 0, sizeof(*out));
	if (family == AF_INET) {
		out->family = 4;
		memcpy(out->addr, a, 4);
		return 0;
	}
	if (family != AF_INET6)
		return ERR_INVAL;
	/* One client reaching a dual-stack socket over IPv4 is the same
	   client as on an IPv4 socket. */
	if (memcmp(a, mapped, sizeof(mapped)) == 0) {
		out->family = 4;
		memcpy(out->addr, a + 12, 4);
		return 0;
	}
	out->family = 6;
	memcpy(out->addr, a, 16);
	return 0;
}

int
ipcount_key_text(const char *ip, struct ipkey *out)
{
	unsigned char	a[16];

	if (inet_pton(AF_INET, ip, a) == 1)
		return ipcount_key(AF_INET, a, out);
	if (inet_pton(AF_INET6, ip, a) == 1)
		return ipcount_key(AF_INET6, a, out);
	return ERR_INVAL;
}

static size_t
slot(const struct ipcount *t, const struct ipkey *k)
{
	unsigned char	h[crypto_shorthash_BYTES];
	uint64_t	v;

	crypto_shorthash(h, (const unsigned char *)k, sizeof(*k), t->seed);
	memcpy(&v, h, sizeof(v));
	return (size_t)(v & (t->nbuckets - 1));
}

static struct node **
find(const struct ipcount *t, const struct ipkey *k)
{
	struct node	**pp = &t->buckets[slot(t, k)];

	while (*pp && memcmp(&(*pp)->key, k, sizeof(*k)) != 0)
		pp = &(*pp)->next;
	return pp;
}

/* Doubles the buckets so chains stay short; without memory the table
   keeps working with longer chains. */
static void
grow(struct ipcount *t)
{
	struct node	**old = t->buckets, *n, *next;
	size_t		  i, nold = t->nbuckets;

	if ((t->buckets = calloc(nold * 2, sizeof(*t->buckets))) == NULL) {
		t->buckets = old;
		return;
	}
	t->nbuckets = nold * 2;
	for (i = 0; i < nold; i++)
		for (n = old[i]; n; n = next) {
			next = n->next;
			n->next = t->buckets[slot(t, &n->key)];
			t->buckets[slot(t, &n->key)] = n;
		}
	free(old);
}

int
ipcount_take(struct ipcount *t, const struct ipkey *k, unsigned max)
{
	struct node	**pp = find(t, k), *n;

	if (*pp) {
		if (max && (*pp)->count >= max)
			return ERR_BUSY;
		(*pp)->count++;
		return 0;
	}
	if ((n = calloc(1, sizeof(*n))) == NULL)
		return ERR_NOMEM;
	n->key = *k;
	n->count = 1;
	*pp = n;
	if (++t->n > t->nbuckets)
		grow(t);
	return 0;
}

void
ipcount_drop(struct ipcount *t, const struct ipkey *k)
{
	struct node	**pp = find(t, k), *n = *pp;

	if (n == NULL)
		return;
	if (--n->count > 0)
		return;
	*pp = n->next;
	free(n);
	t->n--;
}

unsigned
ipcount_get(const struct ipcount *t, const struct ipkey *k)
{
	struct node	*n = *find(t, k);

	return n ? n->count : 0;
}

size_t
ipcount_addresses(const struct ipcount *t)
{
	return t->n;
}
