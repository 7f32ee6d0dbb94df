#ifndef INTAKE_IPCOUNT_H
#define INTAKE_IPCOUNT_H

#include "err.h"

#include <stddef.h>

/*
 * Open connections per client address, for the HTTP server's per-IP cap.
 * Exact counts (unlike the rate limiter's lossy buckets): every take is
 * matched by one drop, and an address whose count falls to zero is
 * forgotten, so the table holds at most one entry per open connection.
 * Lookups hash the address with a random key per table, so nobody can aim
 * addresses at one chain.
 *
 * An address is counted as is: an IPv4-mapped IPv6 address (::ffff:a.b.c.d,
 * from a dual-stack socket) is the IPv4 address, and an IPv6 address is the
 * whole 128 bits.
 */

struct ipkey {
	unsigned char	family;		/* 4 or 6 */
	unsigned char	addr[16];	/* IPv4: the first 4 bytes */
};

struct ipcount;

/* A new empty table: 0 with *out set, or ERR_NOMEM. */
int		 ipcount_new(struct ipcount **out);
void		 ipcount_free(struct ipcount *);

/*
 * The key of an address of family AF_INET (addr: 4 bytes) or AF_INET6
 * (16 bytes): 0, or ERR_INVAL for another family.
 */
int		 ipcount_key(int family, const void *addr, struct ipkey *out);
/* The key of an address in text (a.b.c.d or IPv6): 0, or ERR_INVAL. */
int		 ipcount_key_text(const char *ip, struct ipkey *out);

/*
 * Counts one more connection from k, unless it already has max (max 0:
 * no cap). Returns 0, ERR_BUSY at the cap (nothing counted) or ERR_NOMEM.
 */
int		 ipcount_take(struct ipcount *, const struct ipkey *k,
		    unsigned max);
/* Counts one connection from k fewer; k must have been taken. */
void		 ipcount_drop(struct ipcount *, const struct ipkey *k);
/* Open connections from k. */
unsigned	 ipcount_get(const struct ipcount *, const struct ipkey *k);
/* Addresses with at least one open connection. */
size_t		 ipcount_addresses(const struct ipcount *);

#endif
