#ifndef INTAKE_MAILER_H
#define INTAKE_MAILER_H

#include "err.h"

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "config.h"
#include "log.h"
#include "message.h"
#include "store.h"

/*
 * Staff notifications (and optional patient acknowledgements): the
 * delivery engine. Messages are composed at intake time, while the
 * plaintext exists in memory (message.c), sealed with the local spool key
 * and queued in the outbox in the same transaction as the inquiry. The
 * engine then works the outbox from the libuv loop: it reads due rows and
 * opens their seals off the loop and off the writer (threadpool, its own
 * connection), hands each to the transport ([mail] transport: SMTP on a
 * mail thread, mail_smtp.c; a Maildir on the threadpool, mail_maildir.c),
 * and records outcomes in batches through the store writer. Temporary
 * failures are retried with exponential backoff and jitter; give_up_after
 * ends them.
 *
 * The first retry waits 30 s (INTAKED_MAIL_RETRY_MS in the environment
 * overrides it, for tests), each next one twice as long up to 1 h, +-20 %.
 * The mailer keeps only what needs a restart ([mail] and [storage]); the
 * config passed to mailer_start must outlive the mailer. Templates and
 * subjects travel with each inquiry (struct message_inquiry).
 */

struct mailer;

struct mailer_counters {
	const char	*transport;	/* "smtp", "maildir" */
	uint64_t	 sent, failed, retried, acks_limited;
};

/*
 * Loads the SMTP password and the spool key (created 0600 beside the
 * database on first start), prepares the transport and starts delivering
 * what the outbox holds. Problems are reported via d. *out owned by the
 * caller until mailer_stop.
 */
int	mailer_start(uv_loop_t *, const struct config *, struct store_writer *,
	    struct mailer **out, struct diag *d);
/* For intaked -t: loads and checks everything mailer_start would (the
   password, an existing spool key), starts nothing. */
int	mailer_check(const struct config *, struct diag *d);
/*
 * Thread-safe (called on a threadpool thread). Composes the notification
 * of inq (and the patient's acknowledgement if ack), seals each with the
 * spool key. On success *out holds *n items the caller frees with
 * mailer_outbox_free.
 */
int	mailer_compose(struct mailer *, const struct message_inquiry *inq,
	    int ack, struct store_outbox **out, size_t *n);
void	mailer_outbox_free(struct store_outbox *, size_t n);
/*
 * Called on the loop before composing: 1 if an ack may go to this address
 * from this client IP now (one per address and five per client IP an
 * hour, through the one rate limiter), else 0.
 */
int	mailer_ack_allowed(struct mailer *, const char *addr, const char *ip);
/* On the loop after a commit that queued outbox rows: look now. */
void	mailer_kick(struct mailer *);
void	mailer_counters(const struct mailer *, struct mailer_counters *);
/* 1 when nothing is being fetched, sent or recorded right now. */
int	mailer_idle(const struct mailer *);
/* Stops delivery (in-flight sessions are abandoned, rows stay queued),
   closes handles, calls cb(arg), frees the mailer. */
void	mailer_stop(struct mailer *, void (*cb)(void *), void *arg);

#endif
