#ifndef INTAKE_MAILER_H
#define INTAKE_MAILER_H

#include "err.h"

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "config.h"
#include "form.h"
#include "log.h"
#include "store.h"

/*
 * Staff notifications (and optional patient acknowledgements). Messages are
 * rendered at intake time, while the plaintext exists in memory, sealed with
 * the local spool key and queued in the outbox in the same transaction as
 * the inquiry. The mailer drives delivery from the libuv loop: SMTP through
 * libcurl's multi interface on a dedicated mail thread (libcurl 7.88's SMTP
 * "done" phase waits for the server's reply with a blocking poll, which must
 * never happen on the loop), or a Maildir on the threadpool; retries with
 * exponential backoff and jitter; gives up after give_up_after.
 *
 * The first retry waits 30 s (INTAKED_MAIL_RETRY_MS in the environment
 * overrides it, for tests), each next one twice as long up to 1 h, +-20 %.
 * The config snapshot passed to mailer_start must outlive the mailer.
 */

struct mailer;


/* What mailer_compose needs to know about one accepted inquiry. */
struct mail_inquiry {
	const char		*id;
	const struct form_conf	*form;
	const char		*form_title;	/* schema title, or the name */
	int64_t			 received_at_ms;
	const json_t		*fields;	/* validated fields */
	const unsigned char	*record;	/* the age file, for content=sealed */
	size_t			 recordlen;
	int			 ack;		/* send the patient an ack */
	/* Optional: labels and order of the listed fields (schema titles);
	   NULL lists the fields by name in their object order. */
	const struct schema	*schema;
};


struct mailer_counters {
	uint64_t	sent, failed, retried, acks_limited;
};

/*
 * Loads templates (notify.txt, notify.html, ack.txt, the forms' subjects),
 * the SMTP password and the spool key (created 0600 beside the database on
 * first start), and starts delivering what the outbox holds. Problems are
 * reported via d. *out owned by the caller until mailer_stop.
 */
int	mailer_start(uv_loop_t *, const struct config *, struct store_writer *,
	    struct mailer **out, struct diag *d);
/* For intaked -t: loads and checks everything mailer_start would, starts nothing. */
int	mailer_check(const struct config *, struct diag *d);
/*
 * Thread-safe (called on a threadpool thread). Renders the notification
 * (and the ack if inq->ack), seals each with the spool key. On success *out
 * holds *n items the caller frees with mailer_outbox_free.
 */
int	mailer_compose(struct mailer *, const struct mail_inquiry *inq,
	    struct store_outbox **out, size_t *n);
void	mailer_outbox_free(struct store_outbox *, size_t n);
/*
 * Called on the loop before composing: 1 if an ack may go to this address
 * from this client IP now (per-address and per-IP limits), else 0.
 */
int	mailer_ack_allowed(struct mailer *, const char *addr, const char *ip);
/* On the loop after a commit that queued outbox rows: look now. */
void	mailer_kick(struct mailer *);
void	mailer_counters(const struct mailer *, struct mailer_counters *);
/* Stops delivery (in-flight sessions are abandoned, rows stay queued),
   closes handles, calls cb(arg), frees the mailer. */
void	mailer_stop(struct mailer *, void (*cb)(void *), void *arg);

#endif
