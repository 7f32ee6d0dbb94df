#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <uv.h>

#include "addr.h"
#include "buf.h"
#include "clock.h"
#include "log.h"
#include "mail_transport.h"
#include "mailer.h"
#include "message.h"
#include "outbox.h"
#include "pool.h"
#include "ratelimit.h"
#include "spool.h"
#include "store.h"

/*
 * How delivery works. One row of the outbox is one struct mail_send from
 * the moment a fetch takes it until its outcome is committed; while it
 * exists its row id is "active" and later fetches skip it, so a row is
 * never handed to two transfers. At most mail_parallel sends are active.
 *
 *   pump ──fetch (threadpool, the mailer's own connection: due rows,
 *   seals opened)──▶ transport ──mail_done──▶ results ──record (store
 *   writer: one transaction per batch)──▶ freed
 *
 * The writer thread does inserts and commits only: the fetch is a read on
 * a connection of the mailer's, and opening seals is crypto, neither of
 * which may hold up the commits of inquiries. The wake timer fires at the
 * next due retry, or after POLL_MS to notice rows that intakectl retry
 * re-queued.
 */

#define POLL_MS		30000
#define RECORD_RETRY_MS	5000
#define RETRY_BASE_MS	30000
#define RETRY_MAX_MS	3600000
#define HOUR_MS		3600000

static const struct rate ack_per_addr = { 1, HOUR_MS, 1 };
static const struct rate ack_per_ip = { 5, HOUR_MS, 5 };

struct fetch {
	uv_work_t		 work;
	struct mailer		*m;
	int64_t			 now;
	unsigned		 want;
	int64_t			*skip;
	size_t			 nskip;
	struct mail_send	*got, **tail;
	int64_t			 next_due;	/* 0: nothing later queued */
	int			 result;
};

struct record {
	struct store_call	 call;
	struct mailer		*m;
	struct mail_send	*list;
	struct outbox_outcome	*o;		/* mail_parallel of them */
};

struct mailer {
	uv_loop_t			*loop;
	const struct config		*cfg;
	struct store_writer		*sw;
	struct store			*reader;	/* the fetch's; threadpool */
	struct spool_key		*key;
	const struct mail_tx	*tx;
	void				*txstate;
	int				 tx_running;
	uv_timer_t			 wake_timer;
	unsigned			 handles;	/* open uv handles */
	/* Every send whose outcome is not on disk yet: their rows are not
	   fetched again. Of those, nsending wait for their outcome; only
	   they take one of the parallel slots, so the transport starts the
	   next message while the last one's outcome is being recorded.
	   Outcomes waiting for the disk hold back fetching beyond
	   ACTIVE_MAX, which is also the most one record batch holds. */
	struct mail_send		*active;
	unsigned			 nactive;
	unsigned			 nsending;
	/* Fetched ahead, waiting for a slot (linked by rnext): a free slot
	   takes the next at once instead of waiting for a fetch. */
	struct mail_send		*ready, **ready_tail;
	unsigned			 nready;
	unsigned			 parallel;
	struct mail_send		*results, **results_tail;
	struct fetch			 fetch;
	int				 fetching, kicked;
	struct record			 record;
	int				 recording;
	int64_t				 retry_base_ms;
	struct mailer_counters		 c;
	struct ratelimit		*acks_by_addr, *acks_by_ip;
	int				 stopping;
	void				(*stop_cb)(void *);
	void				*stop_arg;
};

#define ACTIVE_MAX(m)	(4 * (m)->parallel)

static void	pump(struct mailer *);
static void	dispatch_ready(struct mailer *);
static void	maybe_finish(struct mailer *);
static void	record_flush(struct mailer *);
static void	arm_at(struct mailer *, int64_t);

static const struct mail_tx *
transport_of(const struct config *cfg)
{
	return cfg->transport == MAIL_MAILDIR ? &mail_maildir : &mail_smtp;
}

int
mailer_check(const struct config *cfg, struct diag *d)
{
	struct spool_key	*key = NULL;
	int			 r, k;

	r = transport_of(cfg)->check(cfg, d);
	/* An existing key must be usable; a missing one is made at start. */
	if ((k = spool_key_load(cfg->spool_key, 0, &key, d)) != 0 &&
	    k != ERR_NOTFOUND && r == 0)
		r = k;
	spool_key_free(key);
	return r;
}

/* ---- composition (threadpool) ---------------------------------------- */

static int
seal_into(struct mailer *m, const char *id, const char *kind,
    const struct buf *b, struct store_outbox *o)
{
	unsigned char	*blob;
	size_t		 len;
	int		 r;

	if ((r = spool_seal(m->key, id, kind, b->data, b->len, &blob,
	    &len)) != 0)
		return r;
	o->kind = kind;
	o->msg = blob;
	o->msglen = len;
	return 0;
}

int
mailer_compose(struct mailer *m, const struct message_inquiry *inq, int ack,
    struct store_outbox **out, size_t *n)
{
	const struct config	*cfg = m->cfg;
	struct message_sender	 snd = { cfg->from, cfg->to, cfg->nto,
				    cfg->content, cfg->mail_max_attach };
	struct store_outbox	*o;
	struct buf		 b;
	size_t			 k = 0;
	int			 r;

	*out = NULL;
	*n = 0;
	if (inq->id == NULL || inq->form == NULL || inq->tpl == NULL)
		return ERR_INVAL;
	if ((o = calloc(2, sizeof(*o))) == NULL)
		return ERR_NOMEM;
	buf_init(&b, MESSAGE_MAX);
	if ((r = message_spool_notify(inq, &snd, &b)) != 0 ||
	    (r = seal_into(m, inq->id, "notify", &b, &o[k])) != 0)
		goto out;
	k++;
	buf_wipe(&b);
	if (ack && (r = message_spool_ack(inq, cfg->from, &b)) != 0)
		goto out;
	if (b.len > 0 && (r = seal_into(m, inq->id, "ack", &b, &o[k])) != 0)
		goto out;
	k += b.len > 0;
out:
	buf_wipe(&b);
	if (r != 0) {
		mailer_outbox_free(o, k);
		return r;
	}
	*out = o;
	*n = k;
	return 0;
}

void
mailer_outbox_free(struct store_outbox *o, size_t n)
{
	size_t	i;

	if (o == NULL)
		return;
	for (i = 0; i < n; i++)
		free((void *)o[i].msg);
	free(o);
}

/* ---- ack limits (loop) ----------------------------------------------- */

int
mailer_ack_allowed(struct mailer *m, const char *addr, const char *ip)
{
	char	key[ADDR_MAX + 1];
	size_t	i;
	int64_t	now = clock_now_ms();
	int	with_ip = ip != NULL && *ip != '\0';

	if (!addr_valid_str(addr, 0))
		return 0;
	for (i = 0; addr[i]; i++)
		key[i] = (char)tolower((unsigned char)addr[i]);
	key[i] = '\0';
	/* Look first, take both only if both allow: a refusal by one must
	   not use up the other. */
	if (ratelimit_wait(m->acks_by_addr, key, now, &ack_per_addr) ||
	    (with_ip && ratelimit_wait(m->acks_by_ip, ip, now, &ack_per_ip))) {
		m->c.acks_limited++;
		return 0;
	}
	ratelimit_take(m->acks_by_addr, key, now, &ack_per_addr);
	if (with_ip)
		ratelimit_take(m->acks_by_ip, ip, now, &ack_per_ip);
	return 1;
}

/* ---- outcomes ---------------------------------------------------------- */

/* Delay before attempt number attempts + 1: base doubling to the cap,
   +-20 % so that a queue does not retry in lockstep. */
static int64_t
retry_delay(const struct mailer *m, unsigned attempts)
{
	int64_t		d = m->retry_base_ms, cap = RETRY_MAX_MS;
	unsigned	i;

	if (cap < d)
		cap = d;
	for (i = 1; i < attempts && d < cap; i++)
		d *= 2;
	if (d > cap)
		d = cap;
	return d * (80 + (int64_t)randombytes_uniform(41)) / 100;
}

/*
 * Sets what becomes of s's row. A temporary failure turns permanent once
 * the row is older than give_up_after. reason holds no personal data.
 */
static void
set_outcome(struct mail_send *s, enum outbox_state st, const char *reason)
{
	const struct config	*cfg = s->m->cfg;
	int64_t			 now = clock_now_ms();

	s->state = st;
	s->next_try = now;
	snprintf(s->error, sizeof(s->error), "%s", reason ? reason : "");
	if (st != OUTBOX_QUEUED)
		return;
	if (cfg->give_up_after_s > 0 &&
	    now - s->created_ms >= (int64_t)cfg->give_up_after_s * 1000) {
		s->state = OUTBOX_FAILED;
		snprintf(s->error, sizeof(s->error), "gave up after %u "
		    "attempts: %s", s->attempts + 1, reason);
		return;
	}
	s->next_try = now + retry_delay(s->m, s->attempts + 1);
}

static void
send_free(struct mail_send *s)
{
	buf_wipe(&s->msg);
	buf_free(&s->sealed);
	free(s);
}

static void
active_remove(struct mailer *m, struct mail_send *s)
{
	struct mail_send	**pp;

	for (pp = &m->active; *pp; pp = &(*pp)->next)
		if (*pp == s) {
			*pp = s->next;
			m->nactive--;
			return;
		}
}

static void
log_outcome(const struct mail_send *s)
{
	switch (s->state) {
	case OUTBOX_SENT:
		log_info("inquiry %s: %s sent", s->id, s->kind);
		break;
	case OUTBOX_FAILED:
		log_warnx("inquiry %s: %s failed: %s", s->id, s->kind,
		    s->error);
		break;
	case OUTBOX_QUEUED:
		log_notice("inquiry %s: %s attempt %u failed (%s), next in "
		    "%llds", s->id, s->kind, s->attempts + 1, s->error,
		    (long long)((s->next_try - clock_now_ms()) / 1000));
		break;
	}
}

/* Writer thread: one transaction for the batch of outcomes. */
static int
record_fn(struct store *st, void *arg)
{
	struct record		*rec = arg;
	struct mail_send	*s;
	size_t			 n = 0;

	for (s = rec->list; s; s = s->rnext) {
		rec->o[n].row = s->row;
		rec->o[n].state = s->state;
		rec->o[n].next_try_ms = s->next_try;
		rec->o[n].error = s->state == OUTBOX_SENT ? NULL : s->error;
		n++;
	}
	return outbox_record(st, rec->o, n);
}

/*
 * Loop: the batch could not be committed (disk full, I/O error). Its
 * sends stay active, so their rows are not fetched and sent again, and
 * the batch is retried shortly. Stopping drops them: the rows are still
 * queued and go out after the next start (at least once, never lost).
 */
static void
record_failed(struct mailer *m, struct record *rec, int result)
{
	struct mail_send	*s, *next, **tail;

	log_warnx("mailer: outcomes not recorded: %s", err_str(result));
	if (m->stopping) {
		for (s = rec->list; s; s = next) {
			next = s->rnext;
			active_remove(m, s);
			send_free(s);
		}
		rec->list = NULL;
		/* Outcomes queued meanwhile get their own try (or are
		   dropped by record_flush when the writer is gone). */
		record_flush(m);
	} else {
		for (tail = &rec->list; *tail; tail = &(*tail)->rnext)
			;
		*tail = m->results;
		if (m->results == NULL)
			m->results_tail = tail;
		m->results = rec->list;
		arm_at(m, clock_now_ms() + RECORD_RETRY_MS);
	}
	rec->list = NULL;
	maybe_finish(m);
}

/* Loop: the batch is on disk; count, log, free, carry on. */
static void
record_done(struct store_call *c, int result)
{
	struct record		*rec = c->arg;
	struct mailer		*m = rec->m;
	struct mail_send	*s, *next;

	m->recording = 0;
	if (result != 0) {
		record_failed(m, rec, result);
		return;
	}
	for (s = rec->list; s; s = next) {
		next = s->rnext;
		log_outcome(s);
		if (s->state == OUTBOX_SENT)
			m->c.sent++;
		else if (s->state == OUTBOX_FAILED)
			m->c.failed++;
		else {
			m->c.retried++;
			arm_at(m, s->next_try);
		}
		active_remove(m, s);
		send_free(s);
	}
	rec->list = NULL;
	record_flush(m);
	pump(m);
	maybe_finish(m);
}

/* Hands the queued outcomes to the writer unless a batch is in flight.
   A send stays active until its outcome is on disk, so its row is not
   fetched again meanwhile. */
static void
record_flush(struct mailer *m)
{
	struct mail_send	*s, *next;

	if (m->recording || m->results == NULL)
		return;
	m->record.list = m->results;
	m->results = NULL;
	m->results_tail = &m->results;
	m->record.call.fn = record_fn;
	m->record.call.done = record_done;
	m->record.call.arg = &m->record;
	if (store_writer_call(m->sw, &m->record.call) == 0) {
		m->recording = 1;
		return;
	}
	/* The writer is gone: the rows stay queued and go out next start. */
	for (s = m->record.list; s; s = next) {
		next = s->rnext;
		active_remove(m, s);
		send_free(s);
	}
	m->record.list = NULL;
}

/* A send has its outcome: queue it for recording, free its slot. */
static void
complete(struct mail_send *s)
{
	struct mailer	*m = s->m;

	buf_wipe(&s->msg);
	buf_free(&s->sealed);
	s->rnext = NULL;
	*m->results_tail = s;
	m->results_tail = &s->rnext;
	m->nsending--;
	record_flush(m);
	dispatch_ready(m);
	pump(m);
}

void
mail_done(struct mail_send *s, enum mail_result r, const char *reason)
{
	struct mailer	*m = s->m;

	switch (r) {
	case MAIL_ABANDONED:	/* the row stays queued */
		m->nsending--;
		active_remove(m, s);
		send_free(s);
		maybe_finish(m);
		return;
	case MAIL_SENT:
		set_outcome(s, OUTBOX_SENT, NULL);
		break;
	case MAIL_PERMFAIL:
		set_outcome(s, OUTBOX_FAILED, reason);
		break;
	case MAIL_TEMPFAIL:
		set_outcome(s, OUTBOX_QUEUED, reason);
		break;
	}
	complete(s);
	maybe_finish(m);
}

/* ---- fetching due rows (threadpool) ------------------------------------ */

/* Threadpool: a send for a due row, its seal opened and its envelope
   split. A row that does not open is still a send: its outcome says so. */
static int
take_row(void *arg, const struct outbox_due *d)
{
	struct fetch		*f = arg;
	struct mail_send	*s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return ERR_NOMEM;
	s->m = f->m;
	s->row = d->row;
	snprintf(s->id, sizeof(s->id), "%s", d->inquiry_id);
	snprintf(s->kind, sizeof(s->kind), "%s", d->kind);
	s->attempts = d->attempts;
	s->created_ms = d->created_ms;
	buf_init(&s->msg, SPOOL_MAX);
	s->open_rc = spool_open(f->m->key, s->id, s->kind, d->msg, d->msglen,
	    &s->msg);
	if (s->open_rc == 0)
		s->open_rc = message_spool_parse(s->msg.data, s->msg.len,
		    s->rcpt, MAIL_RCPT_MAX, &s->nrcpt, &s->attach,
		    &s->bodylen);
	if (s->open_rc == 0) {
		s->body = s->msg.data + s->bodylen;
		s->bodylen = s->msg.len - s->bodylen;
	}
	*f->tail = s;
	f->tail = &s->next;
	return 0;
}

static int
collect(void *arg, const void *p, size_t n)
{
	return buf_append(arg, p, n);
}

/*
 * Threadpool: the encrypted files of a sealed notification, spliced in
 * from the store now rather than kept twice on disk in the outbox. Memory
 * is bounded by [mail] parallel messages of max_attachment_bytes.
 */
static int
splice_files(struct mailer *m, struct mail_send *s)
{
	size_t		off = (size_t)(s->body - s->msg.data), at[MAIL_RCPT_MAX];
	struct buf	age;
	size_t		i;
	unsigned	k;
	int		r = 0;

	/* The envelope points into msg, which moves as it grows. */
	for (i = 0; i < s->nrcpt; i++)
		at[i] = (size_t)(s->rcpt[i] - s->msg.data);

	buf_init(&age, MESSAGE_MAX);
	for (k = 1; k <= s->attach && r == 0; k++) {
		buf_reset(&age);
		if ((r = store_attachment(m->reader, s->id, k, collect,
		    &age)) == 0)
			r = message_attach(&s->msg, s->id, k, age.data, age.len);
	}
	if (r == 0)
		r = message_attach_end(&s->msg, s->id);
	buf_free(&age);
	for (i = 0; i < s->nrcpt; i++)
		s->rcpt[i] = s->msg.data + at[i];
	s->body = s->msg.data + off;
	s->bodylen = s->msg.len - off;
	return r;
}

static void
fetch_work(uv_work_t *w)
{
	struct fetch		*f = w->data;
	struct mailer		*m = f->m;
	struct mail_send	*s;

	pool_background();
	if (m->reader == NULL &&
	    (f->result = store_open(m->cfg->store, 0, &m->reader)) != 0)
		return;
	f->result = outbox_due(m->reader, f->now, f->want, f->skip, f->nskip,
	    take_row, f, &f->next_due);
	for (s = f->got; s; s = s->next)
		if (s->open_rc == 0 && s->attach > 0)
			s->open_rc = splice_files(m, s);
}

/* Loop: starts s with the transport, or settles it at once. */
static void
dispatch(struct mail_send *s)
{
	struct mailer	*m = s->m;

	m->nsending++;
	if (s->open_rc == ERR_AUTH) {
		set_outcome(s, OUTBOX_FAILED, "sealed message does not open "
		    "(spool key replaced?)");
		complete(s);
	} else if (s->open_rc == ERR_MALFORMED) {
		set_outcome(s, OUTBOX_FAILED, "spooled message is malformed");
		complete(s);
	} else if (s->open_rc == ERR_NOTFOUND) {
		set_outcome(s, OUTBOX_FAILED, "an attached file is not in the "
		    "store");
		complete(s);
	} else if (s->open_rc != 0) {
		set_outcome(s, OUTBOX_QUEUED, "out of memory");
		complete(s);
	} else
		m->tx->send(m->txstate, s);
}

/* Loop: hands ready sends to the free slots. */
static void
dispatch_ready(struct mailer *m)
{
	struct mail_send	*s;

	while (!m->stopping && m->nsending < m->parallel &&
	    (s = m->ready) != NULL) {
		if ((m->ready = s->rnext) == NULL)
			m->ready_tail = &m->ready;
		s->rnext = NULL;
		m->nready--;
		dispatch(s);
	}
}

/* Loop: a fetched send is active (its row is not fetched again) and
   waits for a slot. */
static void
start_send(struct mail_send *s)
{
	struct mailer	*m = s->m;

	s->next = m->active;
	m->active = s;
	m->nactive++;
	s->rnext = NULL;
	*m->ready_tail = s;
	m->ready_tail = &s->rnext;
	m->nready++;
	dispatch_ready(m);
}

/* Loop: start what the fetch found; plan the next look. */
static void
fetch_done(uv_work_t *w, int status)
{
	struct fetch		*f = w->data;
	struct mailer		*m = f->m;
	struct mail_send	*s, *next;
	unsigned		 n = 0;

	free(f->skip);
	f->skip = NULL;
	if (status != 0 || f->result != 0)
		log_warnx("mailer: cannot read the outbox: %s",
		    err_str(status ? ERR_CLOSED : f->result));
	for (s = f->got; s; s = next, n++) {
		next = s->next;
		s->next = NULL;
		if (m->stopping)
			send_free(s);
		else
			start_send(s);
	}
	f->got = NULL;
	if (n == f->want)
		m->kicked = 1;	/* a full batch: there may be more due */
	arm_at(m, f->next_due > 0 && f->next_due < f->now + POLL_MS ?
	    f->next_due : f->now + POLL_MS);
	/* Only now: a send settled at once while starting (a seal that does
	   not open) completes and pumps, and a fetch begun then would reuse
	   f while this one is still being read. */
	m->fetching = 0;
	pump(m);
	maybe_finish(m);
}

/* Asks the threadpool for due rows when one is wanted and slots are free. */
static void
pump(struct mailer *m)
{
	struct fetch		*f = &m->fetch;
	struct mail_send	*s;
	size_t			 i = 0;

	if (m->stopping || m->fetching || !m->kicked ||
	    m->nsending + m->nready > m->parallel ||
	    m->nactive >= ACTIVE_MAX(m))
		return;
	memset(f, 0, sizeof(*f));
	if (m->nactive > 0 &&
	    (f->skip = calloc(m->nactive, sizeof(*f->skip))) == NULL)
		return;		/* the wake timer tries again */
	for (s = m->active; s; s = s->next)
		f->skip[i++] = s->row;
	f->nskip = i;
	f->m = m;
	f->now = clock_now_ms();
	/* Messages in memory: those being sent and those ready, at most
	   parallel + 1 (a sealed one carries its files). */
	f->want = ACTIVE_MAX(m) - m->nactive;
	if (f->want > m->parallel + 1 - m->nsending - m->nready)
		f->want = m->parallel + 1 - m->nsending - m->nready;
	f->tail = &f->got;
	f->work.data = f;
	if (uv_queue_work(m->loop, &f->work, fetch_work, fetch_done) != 0) {
		free(f->skip);
		f->skip = NULL;
		return;
	}
	m->fetching = 1;
	m->kicked = 0;
}

static void	on_wake(uv_timer_t *);

/* Makes the wake timer fire at when (absolute ms) unless it fires
   earlier already. */
static void
arm_at(struct mailer *m, int64_t when)
{
	int64_t	now = clock_now_ms();

	if (m->stopping)
		return;
	if (uv_is_active((uv_handle_t *)&m->wake_timer) &&
	    (int64_t)uv_timer_get_due_in(&m->wake_timer) <= when - now)
		return;
	uv_timer_start(&m->wake_timer, on_wake,
	    when > now ? (uint64_t)(when - now) : 0, 0);
}

static void
on_wake(uv_timer_t *t)
{
	struct mailer	*m = t->data;

	record_flush(m);
	m->kicked = 1;
	pump(m);
}

void
mailer_kick(struct mailer *m)
{
	if (m == NULL || m->stopping)
		return;
	m->kicked = 1;
	pump(m);
}

void
mailer_counters(const struct mailer *m, struct mailer_counters *c)
{
	*c = m->c;
	c->transport = m->tx->name;
}

int
mailer_idle(const struct mailer *m)
{
	return !m->fetching && !m->recording && m->nactive == 0 &&
	    m->results == NULL;
}

/* ---- start and stop ------------------------------------------------------ */

static void
mailer_free(struct mailer *m)
{
	struct mail_send	*s;

	while ((s = m->active) != NULL) {	/* none when stopped cleanly */
		m->active = s->next;
		send_free(s);
	}
	if (m->txstate)
		m->tx->free(m->txstate);
	store_close(m->reader);
	spool_key_free(m->key);
	ratelimit_free(m->acks_by_addr);
	ratelimit_free(m->acks_by_ip);
	free(m->record.o);
	free(m);
}

/* Loads and prepares everything that can fail; no handle exists yet. */
static int
mailer_prepare(struct mailer *m, struct diag *d)
{
	const struct config	*cfg = m->cfg;
	int			 r;

	if ((m->acks_by_addr = ratelimit_new()) == NULL ||
	    (m->acks_by_ip = ratelimit_new()) == NULL ||
	    (m->record.o = calloc(ACTIVE_MAX(m), sizeof(*m->record.o))) ==
	    NULL)
		return ERR_NOMEM;
	if ((r = spool_key_load(cfg->spool_key, 1, &m->key, d)) != 0)
		return r;
	if ((r = m->tx->start(m->loop, m, cfg, &m->txstate, d)) != 0)
		return r;
	m->tx_running = 1;
	return 0;
}

int
mailer_start(uv_loop_t *loop, const struct config *cfg,
    struct store_writer *sw, struct mailer **out, struct diag *d)
{
	struct mailer	*m;
	int		 r;

	*out = NULL;
	if (sodium_init() < 0 || (m = calloc(1, sizeof(*m))) == NULL)
		return ERR_NOMEM;
	m->loop = loop;
	m->cfg = cfg;
	m->sw = sw;
	m->tx = transport_of(cfg);
	m->parallel = cfg->mail_parallel ? cfg->mail_parallel : 1;
	m->results_tail = &m->results;
	m->ready_tail = &m->ready;
	m->retry_base_ms = clock_env_ms("INTAKED_MAIL_RETRY_MS",
	    RETRY_BASE_MS, RETRY_MAX_MS);
	m->record.m = m;
	if ((r = mailer_prepare(m, d)) != 0) {
		mailer_free(m);
		return r;
	}
	uv_timer_init(loop, &m->wake_timer);
	m->wake_timer.data = m;
	m->handles++;
	m->kicked = 1;		/* deliver what the outbox holds */
	pump(m);
	*out = m;
	return 0;
}

static void
handle_closed(uv_handle_t *h)
{
	struct mailer	*m = h->data;

	m->handles--;
	maybe_finish(m);
}

static void
transport_stopped(void *arg)
{
	struct mailer	*m = arg;

	m->tx_running = 0;
	maybe_finish(m);
}

/* Frees the mailer once nothing refers to it any more. */
static void
maybe_finish(struct mailer *m)
{
	void	(*cb)(void *) = m->stop_cb;
	void	*arg = m->stop_arg;

	if (!m->stopping || m->handles || m->tx_running || m->fetching ||
	    m->recording || m->results)
		return;
	mailer_free(m);
	if (cb)
		cb(arg);
}

void
mailer_stop(struct mailer *m, void (*cb)(void *), void *arg)
{
	m->stopping = 1;
	m->stop_cb = cb;
	m->stop_arg = arg;
	uv_close((uv_handle_t *)&m->wake_timer, handle_closed);
	/* In-flight sends come back abandoned: their rows stay queued. */
	m->tx->stop(m->txstate, transport_stopped, m);
	/* Outcomes waiting for RECORD_RETRY_MS after a failed batch: the
	   wake timer that would have flushed them is gone. */
	record_flush(m);
}
