#include <sys/socket.h>
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <sodium.h>
#include <sqlite3.h>
#include <uv.h>

#include "buf.h"
#include "config.h"
#include "form.h"
#include "fsutil.h"
#include "log.h"
#include "mailer.h"
#include "message.h"
#include "spool.h"
#include "store.h"
#include "uuid.h"

/*
 * How delivery works. One row of the outbox is one struct send from the
 * moment a fetch takes it until its outcome is committed; while it exists
 * its row id is "active" and later fetches skip it, so a row is never
 * handed to two transfers. At most mail_parallel sends are active.
 *
 *   pump ──fetch (writer thread: select due rows, open the seals)──▶
 *   transport (SMTP: curl multi on the mail thread; Maildir: threadpool) ──▶
 *   results ──record (writer thread: one transaction per batch)──▶ freed
 *
 * All SQL runs on the store writer thread through store_writer_call; the
 * loop only moves pointers. The wake timer fires at the next due retry,
 * or after POLL_MS to notice rows that intakectl retry re-queued.
 *
 * Maildir file I/O (write, fsync, rename, fsync dir) runs on the libuv
 * threadpool (uv_queue_work) rather than on the writer thread, so a slow
 * disk under the mail directory never delays the commits of inquiries.
 */

#define POLL_MS		30000
#define THREAD_POLL_MS	1000		/* mail thread's longest nap */
#define RECORD_RETRY_MS	5000
#define RETRY_BASE_MS	30000
#define RETRY_MAX_MS	3600000
#define ENVELOPE_MAX	32		/* recipients of one message */
#define PASSWORD_MAX	1024
#define NAME_FIELD	"name"		/* the field the ack greets with */

/*
 * Ack limits: per recipient address ACK_PER_ADDR per hour, per client IP
 * ACK_PER_IP per hour. Each table holds ACK_SETS * ACK_WAYS = 1024 entries
 * of 24 bytes (keyed SipHash of the value, never the value itself): 48 KiB
 * for both, whatever the traffic. When a set is full the entry whose
 * window started first is evicted, so a flood of distinct addresses can
 * at worst let one address get a second ack within the hour.
 */
#define ACK_PER_ADDR	1
#define ACK_PER_IP	5
#define ACK_WINDOW_MS	3600000
#define ACK_SETS	256
#define ACK_WAYS	4

enum outcome { OUT_SENT, OUT_RETRY, OUT_FAILED };

/* How the mail thread hands a send back to the loop. */
enum handback {
	HB_DONE,		/* finished: rc and code tell how */
	HB_NOSTART,		/* the multi refused it */
	HB_ABANDONED,		/* stopping: dropped, its row stays queued */
};

struct mailer;

/* A socket curl opened (mail thread), listed so stopping can cut it. */
struct msock {
	curl_socket_t	 fd;
	struct msock	*next;
};

/* A FIFO of sends between the loop and the mail thread (under mu). */
struct squeue {
	struct send	*head, **tail;
};

struct send {
	struct mailer		*m;
	struct send		*next;		/* active list */
	struct send		*rnext;		/* results queue / fetch list */
	int64_t			 row;
	char			 id[STORE_ID_LEN + 1];
	char			 kind[16];
	unsigned		 attempts;	/* before this one */
	int64_t			 created_ms;
	int			 open_rc;	/* SPOOL_* from the fetch */
	struct buf		 msg;		/* envelope + message */
	size_t			 body;		/* offset of the message */
	size_t			 pos;		/* upload position */
	CURL			*easy;
	struct curl_slist	*rcpt;
	struct send		*qnext;		/* todo / done queue */
	struct send		*tnext;		/* mail thread: in flight */
	CURLcode		 rc;		/* mail thread: the result */
	long			 code;		/* and the server's last code */
	enum handback		 handback;
	uv_work_t		 work;		/* Maildir: */
	char			 name[128];	/* unique file name */
	int			 err;		/* errno of the failed step */
	const char		*step;
	enum outcome		 outcome;
	int64_t			 next_try;
	char			 error[160];
};

struct fetch {
	struct store_call	 call;
	struct mailer		*m;
	int64_t			 now;
	unsigned		 want;
	int64_t			*skip;
	size_t			 nskip;
	struct send		*got;
	int64_t			 next_due;	/* 0: nothing later queued */
};

struct record {
	struct store_call	 call;
	struct mailer		*m;
	struct send		*list;
};

struct ack_slot {
	uint64_t	h;		/* 0: empty */
	int64_t		start;
	uint32_t	count;
};

struct ack_table {
	struct ack_slot	slot[ACK_SETS][ACK_WAYS];
};

struct mailer {
	uv_loop_t			*loop;
	const struct config		*cfg;
	struct store_writer		*sw;
	struct spool_key		*key;
	struct message_templates	 tpl;
	struct tmpl			**subjects;	/* per cfg->forms */
	char				*password;
	int				 curl_inited;
	CURLM				*multi;		/* the mail thread's */
	uv_thread_t			 thread;
	int				 thread_started, joining;
	uv_mutex_t			 mu;
	int				 mu_inited;
	uv_async_t			 async;		/* thread -> loop */
	uv_work_t			 join;
	/* Under mu: the loop <-> mail thread hand-over. */
	struct squeue			 todo, done;
	struct msock			*msocks;
	int				 quit;
	/* Mail thread only: the sends in the multi. */
	struct send			*inflight;
	uv_timer_t			 wake_timer;
	unsigned			 handles;	/* open uv handles */
	struct send			*active;
	unsigned			 nactive;
	unsigned			 parallel;
	struct send			*results, **results_tail;
	struct fetch			 fetch;
	int				 fetching, kicked;
	struct record			 record;
	int				 recording;
	unsigned			 nworks;
	int64_t				 retry_base_ms;
	struct mailer_counters		 c;
	unsigned char			 hkey[crypto_shorthash_KEYBYTES];
	struct ack_table		 by_addr, by_ip;
	char				 host[64];
	int				 stopping;
	void				(*stop_cb)(void *);
	void				*stop_arg;
};

static void	pump(struct mailer *);
static void	complete(struct send *);
static void	maybe_finish(struct mailer *);


/* ---- configuration: password, templates, checks ---------------------- */

/*
 * Reads a secret file: a regular file nobody but the owner can read, at
 * most PASSWORD_MAX bytes, one line (a trailing newline is dropped).
 * *out is malloc'd (wipe before free). Problems are reported via d.
 */
static int
read_secret(const char *path, char **out, struct diag *d)
{
	struct stat	 st;
	char		 b[PASSWORD_MAX + 2];
	ssize_t		 n;
	int		 fd, r = ERR_CONFIG;

	*out = NULL;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		diag(d, path, 0, "cannot open password file: %s",
		    strerror(errno));
		return ERR_IO;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode))
		diag(d, path, 0, "password file is not a regular file");
	else if (st.st_mode & (S_IRWXG | S_IRWXO))
		diag(d, path, 0, "password file is readable by group or "
		    "others; chmod 600 it");
	else if ((n = read(fd, b, sizeof(b) - 1)) < 0)
		diag(d, path, 0, "cannot read password file: %s",
		    strerror(errno));
	else {
		b[n] = '\0';
		b[strcspn(b, "\r\n")] = '\0';
		if (b[0] == '\0' || (size_t)n > PASSWORD_MAX)
			diag(d, path, 0, "password file is empty or too long");
		else if ((*out = strdup(b)) == NULL)
			r = ERR_NOMEM;
		else
			r = 0;
	}
	sodium_memzero(b, sizeof(b));
	close(fd);
	return r;
}

/* password_file, else the systemd credential smtp-password if present. */
static int
load_password(const struct config *cfg, char **out, struct diag *d)
{
	char		 path[PATH_MAX];
	const char	*dir;

	*out = NULL;
	if (cfg->password_file)
		return read_secret(cfg->password_file, out, d);
	dir = getenv("CREDENTIALS_DIRECTORY");
	if (dir == NULL || snprintf(path, sizeof(path), "%s/smtp-password",
	    dir) >= (int)sizeof(path) || access(path, F_OK) != 0)
		return 0;
	return read_secret(path, out, d);
}

static void
free_secret(char *s)
{
	if (s) {
		sodium_memzero(s, strlen(s));
		free(s);
	}
}

/* The [mail] settings the mailer relies on; each problem goes to d. */
static int
check_settings(const struct config *cfg, struct diag *d)
{
	const char	*f = cfg->path ? cfg->path : "config";
	unsigned	 before = d->count;
	size_t		 i;

	if (!message_addr_valid(cfg->from))
		diag(d, f, 0, "[mail] from: not a valid address");
	if (cfg->nto == 0)
		diag(d, f, 0, "[mail] to: at least one address is needed");
	if (cfg->nto > ENVELOPE_MAX)
		diag(d, f, 0, "[mail] to: at most %d addresses (a longer "
		    "envelope could never be sent)", ENVELOPE_MAX);
	for (i = 0; i < cfg->nto; i++)
		if (!message_addr_valid(cfg->to[i]))
			diag(d, f, 0, "[mail] to: not a valid address (#%zu)",
			    i + 1);
	if (cfg->transport == MAIL_MAILDIR && cfg->maildir == NULL)
		diag(d, f, 0, "[mail] maildir: needed with transport = "
		    "maildir");
	if (cfg->transport == MAIL_SMTP && cfg->url == NULL)
		diag(d, f, 0, "[mail] url: needed with transport = smtp");
	if (cfg->transport == MAIL_SMTP && cfg->content == CONTENT_FULL &&
	    cfg->tls != TLS_REQUIRED && cfg->url != NULL &&
	    strncmp(cfg->url, "smtps://", 8) != 0)
		diag(d, f, 0, "[mail] content = full needs tls = required");
	return d->count == before ? 0 : ERR_CONFIG;
}

static void
free_subjects(struct tmpl **subjects, size_t n)
{
	size_t	i;

	if (subjects == NULL)
		return;
	for (i = 0; i < n; i++)
		template_free(subjects[i]);
	free(subjects);
}

/* One subject template per form (NULL where the form has none). */
static int
load_subjects(const struct config *cfg, struct tmpl ***out, struct diag *d)
{
	struct tmpl	**s;
	char		  name[128];
	size_t		  i;
	int		  r = 0, k;

	*out = NULL;
	if ((s = calloc(cfg->nforms + 1, sizeof(*s))) == NULL)
		return ERR_NOMEM;
	for (i = 0; i < cfg->nforms; i++) {
		if (cfg->forms[i].subject == NULL)
			continue;
		snprintf(name, sizeof(name), "[form %s] subject",
		    cfg->forms[i].name);
		k = message_subject_parse(name, cfg->forms[i].subject, &s[i],
		    d);
		if (k != 0)
			r = k;
	}
	if (r != 0) {
		free_subjects(s, cfg->nforms);
		return r;
	}
	*out = s;
	return 0;
}

/* Everything mailer_check and mailer_start share; fills m's tables. */
static int
load_all(struct mailer *m, const struct config *cfg, struct diag *d)
{
	int	r, worst = 0;

	if ((r = check_settings(cfg, d)) != 0)
		worst = r;
	if (message_templates_load(cfg->templates ? cfg->templates :
	    "templates", &m->tpl, d) != 0)
		worst = ERR_CONFIG;
	if ((r = load_subjects(cfg, &m->subjects, d)) != 0)
		worst = r;
	if (cfg->transport == MAIL_SMTP &&
	    (r = load_password(cfg, &m->password, d)) != 0)
		worst = r;
	/* Not twice for one problem: a refused file is reported already. */
	else if (cfg->transport == MAIL_SMTP && cfg->username &&
	    !m->password) {
		diag(d, cfg->path ? cfg->path : "config", 0, "[mail] username "
		    "is set but there is no password_file or smtp-password "
		    "credential");
		worst = ERR_CONFIG;
	}
	return worst;
}

static void
unload_all(struct mailer *m)
{
	message_templates_free(&m->tpl);
	free_subjects(m->subjects, m->cfg ? m->cfg->nforms : 0);
	m->subjects = NULL;
	free_secret(m->password);
	m->password = NULL;
	spool_key_free(m->key);
	m->key = NULL;
}

int
mailer_check(const struct config *cfg, struct diag *d)
{
	struct mailer	*m;
	int		 r, k;

	if ((m = calloc(1, sizeof(*m))) == NULL)
		return ERR_NOMEM;
	m->cfg = cfg;
	r = load_all(m, cfg, d);
	/* An existing key must be usable; a missing one is made at start. */
	if (cfg->db_path &&
	    (k = spool_key_load(cfg->db_path, 0, &m->key, d)) != 0 &&
	    k != ERR_NOTFOUND && r == 0)
		r = ERR_IO;
	unload_all(m);
	free(m);
	return r;
}

/* ---- composition (threadpool) ---------------------------------------- */

static const struct tmpl *
subject_of(const struct mailer *m, const struct form_conf *fc)
{
	size_t	i;

	for (i = 0; i < m->cfg->nforms; i++)
		if (strcmp(m->cfg->forms[i].name, fc->name) == 0)
			return m->subjects[i];
	return NULL;
}

/*
 * The spooled plaintext: the envelope recipients, one per line, an empty
 * line, then the message. Baking the recipients in keeps a queued ack's
 * address inside the seal and a queued notification consistent with its
 * To: header even if the configuration changes.
 */
static int
put_envelope(struct buf *b, char *const *rcpt, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if (buf_puts(b, rcpt[i]) != 0 || buf_putc(b, '\n') != 0)
			return ERR_NOMEM;
	return buf_putc(b, '\n') == 0 ? 0 : ERR_NOMEM;
}

static int
compose_notify(struct mailer *m, const struct mail_inquiry *inq,
    struct buf *b)
{
	const struct config	*cfg = m->cfg;
	struct message_notify	 n;

	memset(&n, 0, sizeof(n));
	n.id = inq->id;
	n.kind = "notify";
	n.form = inq->form->name;
	n.title = inq->form_title ? inq->form_title : inq->form->name;
	n.received_at_ms = inq->received_at_ms;
	n.fields = inq->fields;
	if (inq->schema)
		n.labels = schema_fields(inq->schema, &n.nlabels);
	n.reply_to_field = inq->form->reply_to;
	n.name_field = NAME_FIELD;
	n.content = cfg->content;
	n.record = inq->record;
	n.recordlen = inq->recordlen;
	n.subject = subject_of(m, inq->form);
	n.from = cfg->from;
	n.to = cfg->to;
	n.nto = cfg->nto;
	if (put_envelope(b, cfg->to, cfg->nto) != 0)
		return ERR_NOMEM;
	return message_notify(&m->tpl, &n, b) == 0 ? 0 :
	    ERR_INVAL;
}

/* 0 with nothing appended when the inquiry has no valid address. */
static int
compose_ack(struct mailer *m, const struct mail_inquiry *inq, struct buf *b)
{
	struct message_ack	 a;
	const json_t		*name;
	char			*rcpt[1];

	memset(&a, 0, sizeof(a));
	a.to = message_field_addr(inq->fields, inq->form->reply_to);
	if (a.to == NULL)
		return 0;
	name = json_object_get(inq->fields, NAME_FIELD);
	a.id = inq->id;
	a.title = inq->form_title ? inq->form_title : inq->form->name;
	a.name = json_is_string(name) ? json_string_value(name) : NULL;
	a.from = m->cfg->from;
	a.received_at_ms = inq->received_at_ms;
	rcpt[0] = (char *)a.to;
	if (put_envelope(b, rcpt, 1) != 0)
		return ERR_NOMEM;
	return message_ack(&m->tpl, &a, b) == 0 ? 0 :
	    ERR_INVAL;
}

static int
seal_into(struct mailer *m, const char *id, const char *kind,
    const struct buf *b, struct store_outbox *o)
{
	unsigned char	*blob;
	size_t		 len;

	if (spool_seal(m->key, id, kind, b->data, b->len, &blob, &len) !=
	    0)
		return ERR_INVAL;
	o->kind = kind;
	o->msg = blob;
	o->msglen = len;
	return 0;
}

int
mailer_compose(struct mailer *m, const struct mail_inquiry *inq,
    struct store_outbox **out, size_t *n)
{
	struct store_outbox	*o;
	struct buf		 b;
	size_t			 k = 0;
	int			 r;

	*out = NULL;
	*n = 0;
	if (inq->id == NULL || inq->form == NULL)
		return ERR_CONFIG;
	if ((o = calloc(2, sizeof(*o))) == NULL)
		return ERR_NOMEM;
	buf_init(&b, MESSAGE_MAX);
	if ((r = compose_notify(m, inq, &b)) != 0 ||
	    (r = seal_into(m, inq->id, "notify", &b, &o[k])) != 0)
		goto out;
	k++;
	buf_wipe(&b);
	if (inq->ack && (r = compose_ack(m, inq, &b)) != 0)
		goto out;
	if (b.len > 0 && (r = seal_into(m, inq->id, "ack", &b, &o[k])) !=
	    0)
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

/* The slot of h in t: its own, else a free, expired or the oldest one
   (reset for h). Never fails: memory stays fixed. */
static struct ack_slot *
ack_slot(struct ack_table *t, uint64_t h, int64_t now)
{
	struct ack_slot	*set = t->slot[h % ACK_SETS], *pick = NULL;
	size_t		 i;

	for (i = 0; i < ACK_WAYS; i++)
		if (set[i].h == h) {
			pick = &set[i];
			break;
		}
	for (i = 0; pick == NULL && i < ACK_WAYS; i++)
		if (set[i].h == 0 || now - set[i].start >= ACK_WINDOW_MS)
			pick = &set[i];
	if (pick == NULL) {
		pick = &set[0];
		for (i = 1; i < ACK_WAYS; i++)
			if (set[i].start < pick->start)
				pick = &set[i];
	}
	if (pick->h != h || now - pick->start >= ACK_WINDOW_MS) {
		pick->h = h;
		pick->start = now;
		pick->count = 0;
	}
	return pick;
}

/* Keyed hash of the lower-cased value (never 0, which marks empty). */
static uint64_t
ack_hash(const struct mailer *m, char tag, const char *s)
{
	unsigned char	in[MESSAGE_ADDR_MAX + 2], out[8];
	size_t		n = strnlen(s, MESSAGE_ADDR_MAX), i;
	uint64_t	h = 0;

	in[0] = (unsigned char)tag;
	for (i = 0; i < n; i++)
		in[i + 1] = (unsigned char)tolower((unsigned char)s[i]);
	crypto_shorthash(out, in, n + 1, m->hkey);
	for (i = 0; i < 8; i++)
		h = (h << 8) | out[i];
	return h ? h : 1;
}

int
mailer_ack_allowed(struct mailer *m, const char *addr, const char *ip)
{
	struct ack_slot	*a, *i = NULL;
	int64_t		 now = now_ms();

	if (addr == NULL || !message_addr_valid(addr))
		return 0;
	a = ack_slot(&m->by_addr, ack_hash(m, 'a', addr), now);
	if (ip && *ip)
		i = ack_slot(&m->by_ip, ack_hash(m, 'i', ip), now);
	if (a->count >= ACK_PER_ADDR || (i && i->count >= ACK_PER_IP)) {
		m->c.acks_limited++;
		return 0;
	}
	a->count++;
	if (i)
		i->count++;
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
 * Sets the outcome of s. A temporary failure turns permanent once the row
 * is older than give_up_after. reason must hold no personal data.
 */
static void
set_outcome(struct send *s, enum outcome o, const char *reason)
{
	const struct config	*cfg = s->m->cfg;
	int64_t			 now = now_ms();

	s->outcome = o;
	s->next_try = now;
	snprintf(s->error, sizeof(s->error), "%s", reason ? reason : "");
	if (o != OUT_RETRY)
		return;
	if (cfg->give_up_after_s > 0 &&
	    now - s->created_ms >= (int64_t)cfg->give_up_after_s * 1000) {
		s->outcome = OUT_FAILED;
		snprintf(s->error, sizeof(s->error), "gave up after %u "
		    "attempts: %s", s->attempts + 1, reason);
		return;
	}
	s->next_try = now + retry_delay(s->m, s->attempts + 1);
}

static void
send_free(struct send *s)
{
	if (s->easy)
		curl_easy_cleanup(s->easy);
	curl_slist_free_all(s->rcpt);
	buf_wipe(&s->msg);
	free(s);
}

static void
active_remove(struct mailer *m, struct send *s)
{
	struct send	**pp;

	for (pp = &m->active; *pp; pp = &(*pp)->next)
		if (*pp == s) {
			*pp = s->next;
			m->nactive--;
			return;
		}
}

static void
log_outcome(const struct send *s)
{
	switch (s->outcome) {
	case OUT_SENT:
		log_info("inquiry %s: %s sent", s->id, s->kind);
		break;
	case OUT_FAILED:
		log_warnx("inquiry %s: %s failed: %s", s->id, s->kind,
		    s->error);
		break;
	case OUT_RETRY:
		log_notice("inquiry %s: %s attempt %u failed (%s), next in "
		    "%llds", s->id, s->kind, s->attempts + 1, s->error,
		    (long long)((s->next_try - now_ms()) / 1000));
		break;
	}
}

/* Writer thread: one transaction for the batch of outcomes. */
static int
record_fn(struct store *st, void *arg)
{
	static const char	 sql[] = "UPDATE outbox SET state = ?2,"
	    " attempts = attempts + 1, next_try = ?3, last_error = ?4,"
	    " message = CASE WHEN ?2 = 'sent' THEN NULL ELSE message END"
	    " WHERE id = ?1 AND state = 'queued'";
	static const char *const state[] = { "sent", "queued", "failed" };
	struct record		*rec = arg;
	sqlite3			*db = store_db(st);
	sqlite3_stmt		*q = NULL;
	struct send		*s;
	int			 rc;

	if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return ERR_IO;
	rc = sqlite3_prepare_v2(db, sql, -1, &q, NULL);
	for (s = rec->list; rc == SQLITE_OK && s; s = s->rnext) {
		sqlite3_bind_int64(q, 1, s->row);
		sqlite3_bind_text(q, 2, state[s->outcome], -1, SQLITE_STATIC);
		sqlite3_bind_int64(q, 3, s->next_try);
		if (s->outcome == OUT_SENT)
			sqlite3_bind_null(q, 4);
		else
			sqlite3_bind_text(q, 4, s->error, -1, SQLITE_STATIC);
		rc = sqlite3_step(q) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
		sqlite3_reset(q);
	}
	sqlite3_finalize(q);
	if (rc == SQLITE_OK &&
	    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK)
		return 0;
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return ERR_IO;
}

static void	record_flush(struct mailer *);
static void	arm_at(struct mailer *, int64_t);

/*
 * Loop: the batch could not be committed (disk full, I/O error). Its
 * sends stay active, so their rows are not fetched and sent again, and
 * the batch is retried shortly. Stopping drops them: the rows are still
 * queued and go out after the next start (at least once, never lost).
 */
static void
record_failed(struct mailer *m, struct record *rec, int result)
{
	struct send	*s, *next, **tail;

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
		arm_at(m, now_ms() + RECORD_RETRY_MS);
	}
	rec->list = NULL;
	maybe_finish(m);
}

/* Loop: the batch is on disk; count, log, free, carry on. */
static void
record_done(struct store_call *c, int result)
{
	struct record	*rec = c->arg;
	struct mailer	*m = rec->m;
	struct send	*s, *next;

	m->recording = 0;
	if (result != 0) {
		record_failed(m, rec, result);
		return;
	}
	for (s = rec->list; s; s = next) {
		next = s->rnext;
		log_outcome(s);
		if (s->outcome == OUT_SENT)
			m->c.sent++;
		else if (s->outcome == OUT_FAILED)
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

/* Hands the queued outcomes to the writer unless a batch is in flight. */
static void
record_flush(struct mailer *m)
{
	struct send	*s, *next;

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

/* A send has its outcome: queue it for recording. */
static void
complete(struct send *s)
{
	struct mailer	*m = s->m;

	s->rnext = NULL;
	*m->results_tail = s;
	m->results_tail = &s->rnext;
	record_flush(m);
}

/* ---- fetching due rows ------------------------------------------------- */

static int
skipped(const struct fetch *f, int64_t row)
{
	size_t	i;

	for (i = 0; i < f->nskip; i++)
		if (f->skip[i] == row)
			return 1;
	return 0;
}

static void
copy_col(char *dst, size_t len, sqlite3_stmt *q, int col)
{
	const unsigned char	*t = sqlite3_column_text(q, col);

	snprintf(dst, len, "%s", t ? (const char *)t : "");
}

/* Writer thread: a send for the current row, its seal opened. */
static struct send *
send_from_row(struct mailer *m, sqlite3_stmt *q)
{
	struct send	*s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->m = m;
	s->row = sqlite3_column_int64(q, 0);
	copy_col(s->id, sizeof(s->id), q, 1);
	copy_col(s->kind, sizeof(s->kind), q, 2);
	s->attempts = (unsigned)sqlite3_column_int64(q, 3);
	s->created_ms = sqlite3_column_int64(q, 4);
	buf_init(&s->msg, SPOOL_MAX);
	s->open_rc = spool_open(m->key, s->id, s->kind,
	    sqlite3_column_blob(q, 5), (size_t)sqlite3_column_bytes(q, 5),
	    &s->msg);
	return s;
}

/* Writer thread: when the next queued row not yet due falls due. */
static int64_t
next_due(sqlite3 *db, int64_t now)
{
	sqlite3_stmt	*q;
	int64_t		 t = 0;

	if (sqlite3_prepare_v2(db, "SELECT min(next_try) FROM outbox"
	    " WHERE state = 'queued' AND next_try > ?1", -1, &q, NULL) !=
	    SQLITE_OK)
		return 0;
	sqlite3_bind_int64(q, 1, now);
	if (sqlite3_step(q) == SQLITE_ROW)
		t = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	return t;
}

/* Writer thread: up to want due rows that are not active, oldest due
   first, appended to f->got in that order. */
static int
fetch_fn(struct store *st, void *arg)
{
	struct fetch	 *f = arg;
	sqlite3		 *db = store_db(st);
	sqlite3_stmt	 *q;
	struct send	 *s, **tail = &f->got;
	unsigned	  n = 0;
	int		  rc, r = 0;

	if (sqlite3_prepare_v2(db, "SELECT id, inquiry_id, kind, attempts,"
	    " created_at, message FROM outbox WHERE state = 'queued'"
	    " AND next_try <= ?1 ORDER BY next_try, id LIMIT ?2", -1, &q,
	    NULL) != SQLITE_OK)
		return ERR_IO;
	sqlite3_bind_int64(q, 1, f->now);
	sqlite3_bind_int64(q, 2, (sqlite3_int64)(f->want + f->nskip));
	while (n < f->want && (rc = sqlite3_step(q)) == SQLITE_ROW) {
		if (skipped(f, sqlite3_column_int64(q, 0)))
			continue;
		if ((s = send_from_row(f->m, q)) == NULL) {
			r = ERR_NOMEM;
			break;
		}
		*tail = s;
		tail = &s->rnext;
		n++;
	}
	sqlite3_finalize(q);
	f->next_due = next_due(db, f->now);
	return r;
}

static void	on_wake(uv_timer_t *);

/* Makes the wake timer fire at when (absolute ms) unless it fires
   earlier already. */
static void
arm_at(struct mailer *m, int64_t when)
{
	int64_t	now = now_ms();

	if (m->stopping)
		return;
	if (uv_is_active((uv_handle_t *)&m->wake_timer) &&
	    (int64_t)uv_timer_get_due_in(&m->wake_timer) <= when - now)
		return;
	uv_timer_start(&m->wake_timer, on_wake,
	    when > now ? (uint64_t)(when - now) : 0, 0);
}

static void	start_send(struct send *);

/* Loop: start what the fetch found; plan the next look. */
static void
fetch_done(struct store_call *c, int result)
{
	struct fetch	*f = c->arg;
	struct mailer	*m = f->m;
	struct send	*s, *next;
	unsigned	 n = 0;

	m->fetching = 0;
	free(f->skip);
	f->skip = NULL;
	if (result != 0)
		log_warnx("mailer: cannot read the outbox: %s",
		    err_str(result));
	for (s = f->got; s; s = next, n++) {
		next = s->rnext;
		s->rnext = NULL;
		if (m->stopping) {
			send_free(s);
			continue;
		}
		s->next = m->active;
		m->active = s;
		m->nactive++;
		start_send(s);
	}
	f->got = NULL;
	if (n == f->want)
		m->kicked = 1;	/* a full batch: there may be more due */
	arm_at(m, f->next_due > 0 && f->next_due < f->now + POLL_MS ?
	    f->next_due : f->now + POLL_MS);
	pump(m);
	maybe_finish(m);
}

/* Asks the writer for due rows when one is wanted and slots are free. */
static void
pump(struct mailer *m)
{
	struct fetch	*f = &m->fetch;
	struct send	*s;
	size_t		 i = 0;

	if (m->stopping || m->fetching || !m->kicked ||
	    m->nactive >= m->parallel)
		return;
	memset(f, 0, sizeof(*f));
	if (m->nactive > 0 &&
	    (f->skip = calloc(m->nactive, sizeof(*f->skip))) == NULL)
		return;		/* the wake timer tries again */
	for (s = m->active; s; s = s->next)
		f->skip[i++] = s->row;
	f->nskip = i;
	f->m = m;
	f->now = now_ms();
	f->want = m->parallel - m->nactive;
	f->call.fn = fetch_fn;
	f->call.done = fetch_done;
	f->call.arg = f;
	if (store_writer_call(m->sw, &f->call) != 0) {
		free(f->skip);
		f->skip = NULL;
		return;
	}
	m->fetching = 1;
	m->kicked = 0;
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
}

/* ---- SMTP: curl multi on the mail thread -------------------------------- */

/*
 * libcurl 7.88 waits for the reply to the end of DATA (and to QUIT) with
 * a blocking poll even in multi mode, so no transfer may run on the loop:
 * a slow relay would freeze HTTP and the systemd watchdog. One mail
 * thread owns the multi handle (its connection cache gives reuse, at
 * most parallel connections) and makes every curl call on a transfer:
 *
 *   loop: easy handle set up ──todo + curl_multi_wakeup──▶ mail thread:
 *   add, perform, info_read ──done + uv_async_send──▶ loop: classify,
 *   complete, as for any transport.
 *
 * From mail_enqueue until the loop takes it off the done queue a send
 * belongs to the mail thread, except s->next and s->row, which only the
 * loop uses. The queues, the socket list and quit are shared under mu.
 * The sockets are listed so that stopping can shut them down: a server
 * that never answers then cannot hold the thread (nor the stop).
 */

static void
sq_init(struct squeue *q)
{
	q->head = NULL;
	q->tail = &q->head;
}

static void
sq_push(struct squeue *q, struct send *s)
{
	s->qnext = NULL;
	*q->tail = s;
	q->tail = &s->qnext;
}

/* Empties q; returns its sends in order, linked by qnext. */
static struct send *
sq_take(struct squeue *q)
{
	struct send	*l = q->head;

	sq_init(q);
	return l;
}

/* Shuts down every socket curl holds. Caller holds m->mu, which keeps
   each listed fd open (on_closesocket unlists it before closing). */
static void
cut_sockets_locked(struct mailer *m)
{
	struct msock	*k;

	for (k = m->msocks; k; k = k->next)
		shutdown(k->fd, SHUT_RDWR);
}

/* CURLOPT_OPENSOCKETFUNCTION (mail thread): a socket, listed; none once
   stopping, so no connection can outlive the cut. */
static curl_socket_t
on_opensocket(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
	struct mailer	*m = arg;
	struct msock	*k;
	int		 fd, quit;

	(void)purpose;
	if ((k = malloc(sizeof(*k))) == NULL)
		return CURL_SOCKET_BAD;
	if ((fd = socket(a->family, a->socktype | SOCK_CLOEXEC,
	    a->protocol)) == -1) {
		free(k);
		return CURL_SOCKET_BAD;
	}
	k->fd = fd;
	uv_mutex_lock(&m->mu);
	if (!(quit = m->quit)) {
		k->next = m->msocks;
		m->msocks = k;
	}
	uv_mutex_unlock(&m->mu);
	if (quit) {
		close(fd);
		free(k);
		return CURL_SOCKET_BAD;
	}
	return fd;
}

/* CURLOPT_CLOSESOCKETFUNCTION (mail thread): unlisted, then closed. */
static int
on_closesocket(void *arg, curl_socket_t fd)
{
	struct mailer	*m = arg;
	struct msock	**pp, *k;

	uv_mutex_lock(&m->mu);
	for (pp = &m->msocks; *pp; pp = &(*pp)->next)
		if ((*pp)->fd == fd) {
			k = *pp;
			*pp = k->next;
			free(k);
			break;
		}
	uv_mutex_unlock(&m->mu);
	return close(fd);
}

/* Mail thread: frees the curl state of s (out of the multi already). */
static void
release_easy(struct send *s)
{
	curl_easy_cleanup(s->easy);
	s->easy = NULL;
	curl_slist_free_all(s->rcpt);
	s->rcpt = NULL;
}

/* Mail thread: gives s back to the loop, which takes it in on_mail_done. */
static void
hand_back(struct mailer *m, struct send *s, enum handback how)
{
	s->handback = how;
	uv_mutex_lock(&m->mu);
	sq_push(&m->done, s);
	uv_mutex_unlock(&m->mu);
	uv_async_send(&m->async);
}

/* Mail thread: the sends queued since the last look; *quit: stop now. */
static struct send *
take_todo(struct mailer *m, int *quit)
{
	struct send	*l;

	uv_mutex_lock(&m->mu);
	l = sq_take(&m->todo);
	*quit = m->quit;
	uv_mutex_unlock(&m->mu);
	return l;
}

/* Mail thread: puts the list l (linked by qnext) into the multi; what it
   refuses goes back at once. */
static void
add_new(struct mailer *m, struct send *l)
{
	struct send	*s, *next;

	for (s = l; s; s = next) {
		next = s->qnext;
		if (curl_multi_add_handle(m->multi, s->easy) != CURLM_OK) {
			release_easy(s);
			hand_back(m, s, HB_NOSTART);
			continue;
		}
		s->tnext = m->inflight;
		m->inflight = s;
	}
}

static void
inflight_remove(struct mailer *m, struct send *s)
{
	struct send	**pp;

	for (pp = &m->inflight; *pp; pp = &(*pp)->tnext)
		if (*pp == s) {
			*pp = s->tnext;
			return;
		}
}

/* Mail thread: hands back each finished transfer with its result. */
static void
reap(struct mailer *m)
{
	CURLMsg		*msg;
	struct send	*s;
	int		 left;

	while ((msg = curl_multi_info_read(m->multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		s = NULL;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &s);
		s->rc = msg->data.result;	/* msg dies with the removal */
		s->code = 0;
		curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &s->code);
		curl_multi_remove_handle(m->multi, s->easy);
		release_easy(s);
		inflight_remove(m, s);
		hand_back(m, s, HB_DONE);
	}
}

/* Mail thread: gives back the list l (linked by qnext) unstarted. */
static void
abandon_list(struct mailer *m, struct send *l)
{
	struct send	*s, *next;

	for (s = l; s; s = next) {
		next = s->qnext;
		release_easy(s);
		hand_back(m, s, HB_ABANDONED);
	}
}

/*
 * Mail thread, stopping: drops the transfers in flight and frees the
 * multi without waiting on any server. The sockets are cut first:
 * removing a transfer runs curl's SMTP done phase, which could send the
 * final "." of a partial message and wait for the reply, and the cleanup
 * sends QUIT on cached connections and waits (up to 120 s) for it.
 */
static void
thread_shutdown(struct mailer *m)
{
	struct send	*s;

	uv_mutex_lock(&m->mu);
	cut_sockets_locked(m);
	uv_mutex_unlock(&m->mu);
	while ((s = m->inflight) != NULL) {
		m->inflight = s->tnext;
		curl_multi_remove_handle(m->multi, s->easy);
		release_easy(s);
		hand_back(m, s, HB_ABANDONED);
	}
	curl_multi_cleanup(m->multi);
}

/* The mail thread: runs the transfers until mailer_stop sets quit. */
static void
mail_thread(void *arg)
{
	struct mailer	*m = arg;
	struct send	*l;
	int		 quit, running;

	for (;;) {
		l = take_todo(m, &quit);
		if (quit) {
			abandon_list(m, l);
			break;
		}
		add_new(m, l);
		curl_multi_perform(m->multi, &running);
		reap(m);
		/* curl's own timeouts shorten the wait; the loop's
		   curl_multi_wakeup ends it. */
		if (curl_multi_poll(m->multi, NULL, 0, THREAD_POLL_MS,
		    NULL) != CURLM_OK)
			uv_sleep(THREAD_POLL_MS);	/* never spin on an error */
	}
	thread_shutdown(m);
}

/* Loop: hands s, its easy handle set up, to the mail thread. */
static void
mail_enqueue(struct mailer *m, struct send *s)
{
	uv_mutex_lock(&m->mu);
	sq_push(&m->todo, s);
	/* Under mu: the thread frees the multi only after it saw quit
	   under mu, so the multi is alive here. */
	curl_multi_wakeup(m->multi);
	uv_mutex_unlock(&m->mu);
}

static void	classify(struct send *, CURLcode, long);

/* Loop: a send back from the mail thread goes the way of any outcome. */
static void
take_in(struct mailer *m, struct send *s)
{
	buf_wipe(&s->msg);
	switch (s->handback) {
	case HB_ABANDONED:	/* the row stays queued */
		active_remove(m, s);
		send_free(s);
		return;
	case HB_NOSTART:
		set_outcome(s, OUT_RETRY, "cannot set up the SMTP transfer");
		break;
	case HB_DONE:
		classify(s, s->rc, s->code);
		break;
	}
	complete(s);
}

/* Loop: takes in what the mail thread handed back. May free m. */
static void
take_back(struct mailer *m)
{
	struct send	*s, *next;

	uv_mutex_lock(&m->mu);
	s = sq_take(&m->done);
	uv_mutex_unlock(&m->mu);
	for (; s; s = next) {
		next = s->qnext;
		take_in(m, s);
	}
	maybe_finish(m);
}

static void
on_mail_done(uv_async_t *a)
{
	take_back(a->data);
}

static size_t
on_read(char *dst, size_t size, size_t nmemb, void *arg)
{
	struct send	*s = arg;
	size_t		 n = size * nmemb, left = s->msg.len - s->pos;

	if (n > left)
		n = left;
	memcpy(dst, s->msg.data + s->pos, n);
	s->pos += n;
	return n;
}

/* A reason for last_error: the server's code or curl's class of error,
   never the server's text (it may echo an address). */
static const char *
curl_reason(CURLcode rc, long code, char *b, size_t len)
{
	/* Before the code: 535 alone would not say what to fix. */
	if (rc == CURLE_LOGIN_DENIED)
		return "login denied; check username and password";
	if (code >= 400 && code < 600) {
		snprintf(b, len, "%ld from server", code);
		return b;
	}
	switch (rc) {
	case CURLE_USE_SSL_FAILED:
		return "TLS required but server offers no STARTTLS";
	case CURLE_COULDNT_CONNECT:
		return "cannot connect to server";
	case CURLE_COULDNT_RESOLVE_HOST:
		return "cannot resolve server name";
	case CURLE_OPERATION_TIMEDOUT:
		return "timed out";
	case CURLE_PEER_FAILED_VERIFICATION:
		return "server certificate not trusted";
	case CURLE_SSL_CONNECT_ERROR:
		return "TLS handshake failed";
	default:
		return curl_easy_strerror(rc);
	}
}

/* 5xx is permanent (except a refused login: that is our configuration,
   and retrying after the fix delivers); everything else is temporary. */
static void
classify(struct send *s, CURLcode rc, long code)
{
	char	b[64];

	if (rc == CURLE_OK) {
		set_outcome(s, OUT_SENT, NULL);
		return;
	}
	set_outcome(s, code >= 500 && code < 600 && rc != CURLE_LOGIN_DENIED ?
	    OUT_FAILED : OUT_RETRY, curl_reason(rc, code, b, sizeof(b)));
}

static long
use_ssl(enum mail_tls tls)
{
	switch (tls) {
	case TLS_OPPORTUNISTIC:	return (long)CURLUSESSL_TRY;
	case TLS_OFF:		return (long)CURLUSESSL_NONE;
	default:		return (long)CURLUSESSL_ALL;
	}
}

/* The socket callbacks that list e's sockets for a stop to cut. Curl
   keeps them with the connection, so a cached one is covered too.
   Nonzero on failure. */
static int
smtp_sockets(CURL *e, struct mailer *m)
{
	int	bad = 0;

	bad |= curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, on_opensocket);
	bad |= curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, m);
	bad |= curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION,
	    on_closesocket);
	bad |= curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, m);
	return bad;
}

/* The easy handle of one message. 0 or -1. */
static int
smtp_setup(struct send *s)
{
	const struct config	*cfg = s->m->cfg;
	CURL			*e = s->easy;
	char			 from[MESSAGE_ADDR_MAX + 3];
	long			 timeout = cfg->mail_timeout_ms ?
				    (long)cfg->mail_timeout_ms : 60000L;
	int			 bad = 0;

	snprintf(from, sizeof(from), "<%s>", cfg->from);
	bad |= curl_easy_setopt(e, CURLOPT_URL, cfg->url);
	bad |= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
	bad |= curl_easy_setopt(e, CURLOPT_USE_SSL, use_ssl(cfg->tls));
	if (cfg->ca_file)
		bad |= curl_easy_setopt(e, CURLOPT_CAINFO, cfg->ca_file);
	if (cfg->username && s->m->password) {
		bad |= curl_easy_setopt(e, CURLOPT_USERNAME, cfg->username);
		bad |= curl_easy_setopt(e, CURLOPT_PASSWORD, s->m->password);
	}
	bad |= curl_easy_setopt(e, CURLOPT_MAIL_FROM, from);
	bad |= curl_easy_setopt(e, CURLOPT_MAIL_RCPT, s->rcpt);
	/* One refused staff address must not keep the others from it. */
	bad |= curl_easy_setopt(e, CURLOPT_MAIL_RCPT_ALLLOWFAILS, 1L);
	bad |= curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
	bad |= curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE,
	    (curl_off_t)(s->msg.len - s->pos));
	bad |= curl_easy_setopt(e, CURLOPT_READFUNCTION, on_read);
	bad |= curl_easy_setopt(e, CURLOPT_READDATA, s);
	bad |= curl_easy_setopt(e, CURLOPT_PRIVATE, s);
	bad |= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	/* A timed-out or removed transfer must not join a resolver thread
	   stuck in getaddrinfo (on the mail thread, which a stop joins):
	   detach it instead. */
	(void)curl_easy_setopt(e, CURLOPT_QUICK_EXIT, 1L);	/* 7.87+ */
	/* mail_timeout_ms bounds the whole SMTP transaction. */
	bad |= curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, timeout);
	bad |= curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout);
	return bad || smtp_sockets(e, s->m) ? -1 : 0;
}

/* Builds the RCPT list from the spooled envelope. 0 or -1. */
static int
smtp_rcpts(struct send *s, char *const *addr, size_t n)
{
	struct curl_slist	*l;
	char			 b[MESSAGE_ADDR_MAX + 3];
	size_t			 i;

	for (i = 0; i < n; i++) {
		snprintf(b, sizeof(b), "<%s>", addr[i]);
		if ((l = curl_slist_append(s->rcpt, b)) == NULL)
			return -1;
		s->rcpt = l;
	}
	return 0;
}

/* Sets up the easy handle here (no I/O) and hands the transfer to the
   mail thread, which runs it and hands it back to take_in. */
static void
smtp_start(struct send *s, char *const *rcpt, size_t nrcpt)
{
	if ((s->easy = curl_easy_init()) == NULL ||
	    smtp_rcpts(s, rcpt, nrcpt) == -1 || smtp_setup(s) == -1) {
		if (s->easy)
			curl_easy_cleanup(s->easy);
		s->easy = NULL;
		curl_slist_free_all(s->rcpt);
		s->rcpt = NULL;
		buf_wipe(&s->msg);
		set_outcome(s, OUT_RETRY, "cannot set up the SMTP transfer");
		complete(s);
		return;
	}
	mail_enqueue(s->m, s);
}

/* ---- Maildir: the threadpool writes, the loop records ------------------ */

static int
mkdir_0700(const char *path)
{
	return mkdir(path, S_IRWXU) == 0 || errno == EEXIST ? 0 : -1;
}

/* dir and its cur, new and tmp (0700). 0 or -1 with errno set. */
static int
make_maildir(const char *dir)
{
	static const char *const	 sub[] = { "cur", "new", "tmp" };
	char				 p[PATH_MAX];
	size_t				 i;

	if (mkdir_0700(dir) == -1)
		return -1;
	for (i = 0; i < 3; i++) {
		if (snprintf(p, sizeof(p), "%s/%s", dir, sub[i]) >=
		    (int)sizeof(p)) {
			errno = ENAMETOOLONG;
			return -1;
		}
		if (mkdir_0700(p) == -1)
			return -1;
	}
	return 0;
}

/* Maildir files use LF line ends: drop the CR of each CRLF in place. */
static size_t
crlf_to_lf(char *p, size_t len)
{
	size_t	i, o = 0;

	for (i = 0; i < len; i++)
		if (!(p[i] == '\r' && i + 1 < len && p[i + 1] == '\n'))
			p[o++] = p[i];
	return o;
}

/* Writes the file tmp fully to disk and closes it. 0 or -1 (errno,
   s->step). */
static int
write_tmp(struct send *s, const char *dir, const char *tmp)
{
	size_t	len;
	int	fd, saved;

	len = crlf_to_lf(s->msg.data + s->body, s->msg.len - s->body);
	s->step = "open";
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd == -1 && errno == ENOENT && make_maildir(dir) == 0)
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd == -1)
		return -1;
	s->step = "write";
	if (fs_write_all(fd, s->msg.data + s->body, len) == 0) {
		s->step = "fsync";
		if (fsync(fd) == 0) {
			s->step = "close";
			return close(fd);
		}
	}
	saved = errno;
	close(fd);
	errno = saved;
	return -1;
}

/*
 * Threadpool: tmp/NAME (fsync), rename into new/, fsync new/. Sets
 * s->err to 0 or the errno of the failed step named by s->step; a failed
 * delivery leaves nothing behind in tmp/.
 */
static void
maildir_work(uv_work_t *w)
{
	struct send	*s = w->data;
	const char	*dir = s->m->cfg->maildir;
	char		 tmp[PATH_MAX], dst[PATH_MAX], newdir[PATH_MAX];

	s->err = 0;
	s->step = "path";
	if (snprintf(tmp, sizeof(tmp), "%s/tmp/%s", dir, s->name) >=
	    (int)sizeof(tmp) || snprintf(dst, sizeof(dst), "%s/new/%s", dir,
	    s->name) >= (int)sizeof(dst) || snprintf(newdir, sizeof(newdir),
	    "%s/new", dir) >= (int)sizeof(newdir)) {
		s->err = ENAMETOOLONG;
		return;
	}
	if (write_tmp(s, dir, tmp) == -1) {
		s->err = errno;
		unlink(tmp);
		return;
	}
	s->step = "rename";
	if (rename(tmp, dst) == -1) {
		s->err = errno;
		unlink(tmp);
		return;
	}
	s->step = "fsync";
	if (fs_fsync_dir(newdir) == -1)
		s->err = errno;
}

static void
maildir_after(uv_work_t *w, int status)
{
	struct send	*s = w->data;
	struct mailer	*m = s->m;
	char		 why[sizeof(s->error)];

	m->nworks--;
	buf_wipe(&s->msg);
	if (status == UV_ECANCELED)
		set_outcome(s, OUT_RETRY, "delivery cancelled");
	else if (s->err == 0)
		set_outcome(s, OUT_SENT, NULL);
	else {
		snprintf(why, sizeof(why), "maildir %s: %s", s->step,
		    strerror(s->err));
		set_outcome(s, OUT_RETRY, why);
	}
	complete(s);
	maybe_finish(m);
}

/* A unique Maildir name: time, pid, 64 random bits, host. */
static void
maildir_name(struct send *s)
{
	struct timespec	ts;
	unsigned char	r[8];
	char		hex[sizeof(r) * 2 + 1];

	clock_gettime(CLOCK_REALTIME, &ts);
	randombytes_buf(r, sizeof(r));
	sodium_bin2hex(hex, sizeof(hex), r, sizeof(r));
	snprintf(s->name, sizeof(s->name), "%lld.M%06ldP%dR%s.%s",
	    (long long)ts.tv_sec, ts.tv_nsec / 1000, (int)getpid(), hex,
	    s->m->host);
}

static void
maildir_start(struct send *s, char *const *rcpt, size_t nrcpt)
{
	struct mailer	*m = s->m;

	(void)rcpt;
	(void)nrcpt;
	maildir_name(s);
	s->work.data = s;
	if (uv_queue_work(m->loop, &s->work, maildir_work, maildir_after) !=
	    0) {
		set_outcome(s, OUT_RETRY, "cannot queue the maildir write");
		complete(s);
		return;
	}
	m->nworks++;
}

/* ---- starting a send ---------------------------------------------------- */

/* The transports, chosen by [mail] transport. Each ends in complete(). */
static void (*const transports[])(struct send *, char *const *, size_t) = {
	[MAIL_SMTP] = smtp_start,
	[MAIL_MAILDIR] = maildir_start,
};

/*
 * Splits the spooled plaintext into its envelope (addresses, one per
 * line, up to an empty line) and the message; the addresses are
 * re-validated. 0 or -1.
 */
static int
parse_envelope(struct send *s, char **rcpt, size_t *n)
{
	char	*p = s->msg.data, *end, *nl;

	*n = 0;
	if (p == NULL)
		return -1;
	end = p + s->msg.len;
	while (p < end && *p != '\n') {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL ||
		    *n == ENVELOPE_MAX)
			return -1;
		*nl = '\0';
		if (!message_addr_valid(p))
			return -1;
		rcpt[(*n)++] = p;
		p = nl + 1;
	}
	if (p >= end || *n == 0)
		return -1;
	s->body = s->pos = (size_t)(p + 1 - s->msg.data);
	return 0;
}

static void
start_send(struct send *s)
{
	char	*rcpt[ENVELOPE_MAX];
	size_t	 n;

	if (s->open_rc == ERR_AUTH) {
		set_outcome(s, OUT_FAILED, "sealed message does not open "
		    "(spool key replaced?)");
		complete(s);
		return;
	}
	if (s->open_rc != 0) {
		set_outcome(s, OUT_RETRY, "out of memory");
		complete(s);
		return;
	}
	if (parse_envelope(s, rcpt, &n) == -1) {
		set_outcome(s, OUT_FAILED, "spooled message is malformed");
		complete(s);
		return;
	}
	transports[s->m->cfg->transport](s, rcpt, n);
}

/* ---- start and stop ------------------------------------------------------ */

static int
smtp_init(struct mailer *m)
{
	long	n = (long)m->parallel;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return ERR_NOMEM;
	m->curl_inited = 1;
	if ((m->multi = curl_multi_init()) == NULL)
		return ERR_NOMEM;
	curl_multi_setopt(m->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, n);
	curl_multi_setopt(m->multi, CURLMOPT_MAXCONNECTS, n);
	return 0;
}

/* The host part of Maildir names, with '/' and ':' replaced. */
static void
set_host(struct mailer *m)
{
	size_t	i;

	if (gethostname(m->host, sizeof(m->host)) != 0)
		snprintf(m->host, sizeof(m->host), "localhost");
	m->host[sizeof(m->host) - 1] = '\0';
	for (i = 0; m->host[i]; i++)
		if (m->host[i] == '/' || m->host[i] == ':')
			m->host[i] = '_';
}

static void
mailer_free(struct mailer *m)
{
	struct send	*s;
	struct msock	*k;

	while ((s = m->active) != NULL) {	/* none when stopped cleanly */
		m->active = s->next;
		send_free(s);
	}
	if (m->multi)		/* the mail thread never ran */
		curl_multi_cleanup(m->multi);
	while ((k = m->msocks) != NULL) {	/* none: curl closed them */
		m->msocks = k->next;
		free(k);
	}
	if (m->mu_inited)
		uv_mutex_destroy(&m->mu);
	if (m->curl_inited)
		curl_global_cleanup();
	unload_all(m);
	free(m);
}

/* Loads and prepares everything that can fail; no handle exists yet. */
static int
mailer_prepare(struct mailer *m, struct diag *d)
{
	const struct config	*cfg = m->cfg;
	int			 r;

	if ((r = load_all(m, cfg, d)) != 0)
		return r;
	if (cfg->db_path == NULL) {
		diag(d, cfg->path ? cfg->path : "config", 0,
		    "[storage] path is needed for the spool key");
		return ERR_CONFIG;
	}
	if ((r = spool_key_load(cfg->db_path, 1, &m->key, d)) != 0)
		return r;
	if (cfg->transport == MAIL_MAILDIR && make_maildir(cfg->maildir)) {
		diag(d, cfg->maildir, 0, "cannot create maildir: %s",
		    strerror(errno));
		return ERR_IO;
	}
	if (cfg->transport == MAIL_SMTP)
		return smtp_init(m);
	return 0;
}

/* Tells the mail thread to stop and wakes it. The cut sockets also end
   a wait inside curl (the reply to "." in its blocking done phase) at
   once, instead of after up to [mail] timeout. */
static void
tell_quit(struct mailer *m)
{
	uv_mutex_lock(&m->mu);
	m->quit = 1;
	cut_sockets_locked(m);
	curl_multi_wakeup(m->multi);	/* alive: see mail_enqueue */
	uv_mutex_unlock(&m->mu);
}

/*
 * SMTP: the mutex, the mail thread and the async handle it wakes the
 * loop with. 0 or ERR_NOMEM; on failure no thread runs and
 * no handle is open (mailer_free cleans up).
 */
static int
start_thread(struct mailer *m)
{
	if (uv_mutex_init(&m->mu) != 0)
		return ERR_NOMEM;
	m->mu_inited = 1;
	sq_init(&m->todo);
	sq_init(&m->done);
	/* The thread touches async only to hand back a send, and none is
	   queued before mailer_start returns. */
	if (uv_thread_create(&m->thread, mail_thread, m) != 0)
		return ERR_NOMEM;
	if (uv_async_init(m->loop, &m->async, on_mail_done) != 0) {
		tell_quit(m);
		uv_thread_join(&m->thread);
		m->multi = NULL;	/* the thread freed it */
		return ERR_NOMEM;
	}
	m->async.data = m;
	m->thread_started = 1;
	m->handles++;
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
	m->parallel = cfg->mail_parallel ? cfg->mail_parallel : 1;
	m->results_tail = &m->results;
	m->retry_base_ms = env_ms("INTAKED_MAIL_RETRY_MS", RETRY_BASE_MS,
	    RETRY_MAX_MS);
	m->record.m = m;
	randombytes_buf(m->hkey, sizeof(m->hkey));
	set_host(m);
	if ((r = mailer_prepare(m, d)) != 0 ||
	    (cfg->transport == MAIL_SMTP && (r = start_thread(m)) !=
	    0)) {
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

/* Frees the mailer once nothing refers to it any more. */
static void
maybe_finish(struct mailer *m)
{
	void	(*cb)(void *) = m->stop_cb;
	void	*arg = m->stop_arg;

	if (!m->stopping || m->handles || m->joining || m->fetching ||
	    m->recording || m->nworks || m->results)
		return;
	mailer_free(m);
	if (cb)
		cb(arg);
}

/* Threadpool: waits for the mail thread, so that even a slow curl
   cleanup never holds the loop. */
static void
join_work(uv_work_t *w)
{
	struct mailer	*m = w->data;

	uv_thread_join(&m->thread);
}

/* Loop: the mail thread is gone. Takes in its last sends (abandoned, or
   finished just before the stop: recorded), then closes async. */
static void
join_after(uv_work_t *w, int status)
{
	struct mailer	*m = w->data;

	(void)status;
	m->joining = 0;
	m->thread_started = 0;
	m->multi = NULL;	/* the thread freed it */
	take_back(m);		/* async is open: m stays */
	uv_close((uv_handle_t *)&m->async, handle_closed);
}

static void
stop_thread(struct mailer *m)
{
	tell_quit(m);
	m->joining = 1;
	m->join.data = m;
	if (uv_queue_work(m->loop, &m->join, join_work, join_after) != 0) {
		join_work(&m->join);	/* only if the loop is unusable */
		join_after(&m->join, 0);
	}
}

void
mailer_stop(struct mailer *m, void (*cb)(void *), void *arg)
{
	m->stopping = 1;
	m->stop_cb = cb;
	m->stop_arg = arg;
	uv_close((uv_handle_t *)&m->wake_timer, handle_closed);
	/* In-flight transfers come back abandoned: rows stay queued. */
	if (m->thread_started)
		stop_thread(m);
	/* Outcomes waiting for RECORD_RETRY_MS after a failed batch: the
	   wake timer that would have flushed them is gone. */
	record_flush(m);
}
