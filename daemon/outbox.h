#ifndef INTAKE_OUTBOX_H
#define INTAKE_OUTBOX_H

#include <stdint.h>

#include "store.h"

/*
 * The outbox table, as intakectl sees it (queue, retry) and as the mailer
 * works it. Functions take a struct store (any thread that owns it) and
 * return STORE_* codes. Rows never carry personal data outside the sealed
 * message blob.
 */

struct outbox_row {
	int64_t		id;
	char		inquiry_id[STORE_ID_LEN + 1];
	char		kind[16];	/* notify, ack */
	char		state[16];	/* queued, sent, failed */
	unsigned	attempts;
	int64_t		created_ms;
	int64_t		next_try_ms;
	char		last_error[256];
};

/* Rows not yet sent (queued and failed; all != 0 includes sent), oldest first. */
int	outbox_list(struct store *, int all,
	    int (*cb)(void *, const struct outbox_row *), void *arg);
/* Re-queues the failed rows of an inquiry for immediate delivery.
   ERR_NOTFOUND when the inquiry has no failed rows. */
int	outbox_retry(struct store *, const char *inquiry_id, unsigned *requeued);

#endif
