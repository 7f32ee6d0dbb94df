#ifndef INTAKE_AUDIT_H
#define INTAKE_AUDIT_H

#include "err.h"

#include <stddef.h>
#include <stdint.h>

#include "store.h"

/*
 * The audit log: who did what to which inquiry, from where, and when.
 * Append-only and hash-chained: each entry holds the SHA-256 of the one
 * before, and its own hash covers that and every field, so a row altered
 * or removed with sqlite3 breaks the chain at that row (audit_verify).
 * An entry never holds personal data: an actor is a staff recipient (with
 * the label the config gives it) or "intakectl:USER", the subject an
 * inquiry id.
 */

#define AUDIT_ACTOR_MAX		128
#define AUDIT_ACTION_MAX	16
#define AUDIT_CLIENT_MAX	48
#define AUDIT_DETAIL_MAX	128
#define AUDIT_HASH_LEN		32

struct audit_entry {
	int64_t		seq;		/* 1, 2, 3 … */
	int64_t		at_ms;
	char		actor[AUDIT_ACTOR_MAX + 1];
	char		action[AUDIT_ACTION_MAX + 1];
	char		inquiry_id[STORE_ID_LEN + 1];
	char		client[AUDIT_CLIENT_MAX + 1];
	char		detail[AUDIT_DETAIL_MAX + 1];
	unsigned char	prev[AUDIT_HASH_LEN];
	unsigned char	hash[AUDIT_HASH_LEN];
};

/* ERR_INVAL when ev is missing its actor or action or a field is too
   long (nothing is cut: an entry says all or is refused). */
int	audit_event_check(const struct audit_event *);
/* Appends ev as its own transaction. */
int	audit_append(struct store *, const struct audit_event *ev);
/* Calls cb for each entry at or after since_ms (0: all), oldest first; a
   non-zero return from cb stops (still 0). */
int	audit_list(struct store *, int64_t since_ms,
	    int (*cb)(void *, const struct audit_entry *), void *arg);
/*
 * Walks the whole chain. 0 when every entry's prev is the hash of the one
 * before (zeros for the first), its hash covers its fields, and the
 * sequence has no gap; else ERR_AUTH with *bad (may be NULL) set to the
 * first entry that does not fit.
 */
int	audit_verify(struct store *, int64_t *bad);

/* The hash of e (its prev and every field but hash). For backends. */
void	audit_hash(const struct audit_entry *e, unsigned char out[AUDIT_HASH_LEN]);
/* Fills e from ev for appending (the backend sets seq and prev). */
void	audit_fill(struct audit_entry *e, const struct audit_event *ev,
	    int64_t at_ms);

#endif
