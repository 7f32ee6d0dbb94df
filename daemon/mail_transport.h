#ifndef INTAKE_MAIL_TRANSPORT_H
#define INTAKE_MAIL_TRANSPORT_H

/*
 * Between the delivery engine (mailer.c) and its transports (mail_smtp.c,
 * mail_maildir.c): private to those three files.
 */

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "buf.h"
#include "config.h"
#include "log.h"
#include "outbox.h"

#define MAIL_RCPT_MAX	32	/* envelope recipients of one message */

enum mail_result {
	MAIL_SENT,
	MAIL_TEMPFAIL,		/* try again later */
	MAIL_PERMFAIL,		/* the server refused it for good */
	MAIL_ABANDONED,		/* stopping: dropped, its row stays queued */
};

/*
 * One delivery attempt of one outbox row. The engine fills the first
 * block before send(); from then until the transport calls mail_done() the
 * send belongs to the transport (which may keep its own state in tx).
 */
struct mail_send {
	char		 id[STORE_ID_LEN + 1];
	char		 kind[OUTBOX_KIND_MAX];
	char		*rcpt[MAIL_RCPT_MAX];	/* into msg */
	size_t		 nrcpt;
	const char	*body;			/* the message, CRLF, into msg */
	size_t		 bodylen;
	void		*tx;			/* the transport's */

	/* the engine's */
	struct mailer	*m;
	struct mail_send *next;		/* active list; fetch list */
	struct mail_send *rnext;		/* results, record batch */
	int64_t		 row;
	unsigned	 attempts;
	int64_t		 created_ms;
	int		 open_rc;		/* seal, envelope, files */
	unsigned	 attach;		/* files to splice in */
	struct buf	 sealed, msg;
	enum outbox_state state;
	int64_t		 next_try;
	char		 error[160];
};

/*
 * A transport. check and start report problems via d; start prepares what
 * sends need;
 * send starts one (no blocking call: the loop runs it); stop abandons what
 * is in flight (each comes back through mail_done with MAIL_ABANDONED or
 * its real result) and calls done(arg) once the transport runs nothing
 * of its own; free releases it after that.
 */
struct mail_tx {
	const char	*name;
	/* For intaked -t: what start would refuse, without starting. */
	int	(*check)(const struct config *, struct diag *d);
	int	(*start)(uv_loop_t *, struct mailer *, const struct config *,
		    void **state, struct diag *d);
	void	(*send)(void *state, struct mail_send *);
	void	(*stop)(void *state, void (*done)(void *), void *arg);
	void	(*free)(void *state);
};

extern const struct mail_tx mail_smtp;
extern const struct mail_tx mail_maildir;

/* On the loop: what became of s. reason holds no personal data (never a
   server's text, which may echo an address). */
void	mail_done(struct mail_send *s, enum mail_result, const char *reason);

#endif
