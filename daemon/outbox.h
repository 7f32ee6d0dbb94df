#ifndef INTAKE_OUTBOX_H
#define INTAKE_OUTBOX_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

/*
 * The outbox: notifications queued with their inquiry, as the mailer works
 * them (due rows, outcomes) and as intakectl sees them (queue, retry).
 * Functions take a struct store (any thread that owns it) and return 0 or
 * an ERR_* code. Rows never carry personal data outside the sealed message
 * blob; last_error holds only our own words.
 */

#define OUTBOX_KIND_MAX		16
#define OUTBOX_ERROR_MAX	256

enum outbox_state { OUTBOX_QUEUED, OUTBOX_SENT, OUTBOX_FAILED };

struct outbox_row {
	int64_t		id;
	char		inquiry_id[STORE_ID_LEN + 1];
	char		kind[OUTBOX_KIND_MAX];	/* notify, ack */
	char		state[16];		/* queued, sent, failed */
	unsigned	attempts;
	int64_t		created_ms;
	int64_t		next_try_ms;
	char		last_error[OUTBOX_ERROR_MAX];
};

/* A row due for delivery, as outbox_due hands it over. msg points into
   the backend's row and is valid only during the callback. */
struct outbox_due {
	int64_t			 row;
	const char		*inquiry_id;
	const char		*kind;
	unsigned		 attempts;	/* before this one */
	int64_t			 created_ms;
	const unsigned char	*msg;		/* the sealed message */
	size_t			 msglen;
};

/* What became of one delivery attempt. */
struct outbox_outcome {
	int64_t			 row;
	enum outbox_state	 state;		/* QUEUED: retry at next_try */
	int64_t			 next_try_ms;
	const char		*error;		/* NULL when sent */
};

/*
 * Calls cb for up to want queued rows due at now_ms (next_try <= now),
 * oldest due first, skipping the nskip row ids in skip (the ones being
 * delivered). A non-zero return from cb stops the walk and is returned.
 * *next_due (may be NULL) gets when the next queued row that is not yet
 * due falls due, or 0 when there is none. Reads only.
 */
int	outbox_due(struct store *, int64_t now_ms, unsigned want,
	    const int64_t *skip, size_t nskip,
	    int (*cb)(void *, const struct outbox_due *), void *arg,
	    int64_t *next_due);
/*
 * Records n outcomes in one transaction: attempts + 1, the new state,
 * next try and error; a sent row's message is deleted. A row that is no
 * longer queued (deleted, retried by hand) is left alone.
 */
int	outbox_record(struct store *, const struct outbox_outcome *, size_t n);
/* Rows not yet sent (queued and failed; all != 0 includes sent), oldest
   first; a non-zero return from cb stops the walk (still 0). */
int	outbox_list(struct store *, int all,
	    int (*cb)(void *, const struct outbox_row *), void *arg);
/* Re-queues the failed rows of an inquiry and makes its queued ones due
   now. ERR_NOTFOUND when the inquiry has neither. */
int	outbox_retry(struct store *, const char *inquiry_id, unsigned *requeued);

#endif
