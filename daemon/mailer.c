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
 *   transport (SMTP: curl multi on this loop; Maildir: threadpool) ──▶
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

struct mailer;

struct sock {
	uv_poll_t	 poll;
	curl_socket_t	 fd;
	struct mailer	*m;
	int		 closing;
	struct sock	*next;
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
	CURLM				*multi;
	uv_timer_t			 curl_timer;
	uv_timer_t			 wake_timer;
	struct sock			*socks;
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

const char *
mailer_strerror(int e)
{
	switch (e) {
	case MAILER_OK:		return "ok";
	case MAILER_EINVAL:	return "invalid mail configuration";
	case MAILER_ENOMEM:	return "out of memory";
	case MAILER_EIO:	return "mail setup I/O error";
	case MAILER_ECOMPOSE:	return "message could not be composed";
	default:		return "unknown mailer error";
	}
}

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
	int		 fd, r = MAILER_EINVAL;

	*out = NULL;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		diag(d, path, 0, "cannot open password file: %s",
		    strerror(errno));
		return MAILER_EIO;
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
			r = MAILER_ENOMEM;
		else
			r = MAILER_OK;
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
		return MAILER_OK;
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
	return d->count == before ? MAILER_OK : MAILER_EINVAL;
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
	int		  r = MAILER_OK, k;

	*out = NULL;
	if ((s = calloc(cfg->nforms + 1, sizeof(*s))) == NULL)
		return MAILER_ENOMEM;
	for (i = 0; i < cfg->nforms; i++) {
		if (cfg->forms[i].subject == NULL)
			continue;
		snprintf(name, sizeof(name), "[form %s] subject",
		    cfg->forms[i].name);
		k = message_subject_parse(name, cfg->forms[i].subject, &s[i],
		    d);
		if (k != MESSAGE_OK)
			r = k == MESSAGE_ENOMEM ? MAILER_ENOMEM : MAILER_EINVAL;
	}
	if (r != MAILER_OK) {
		free_subjects(s, cfg->nforms);
		return r;
	}
	*out = s;
	return MAILER_OK;
}

/* Everything mailer_check and mailer_start share; fills m's tables. */
static int
load_all(struct mailer *m, const struct config *cfg, struct diag *d)
{
	int	r, worst = MAILER_OK;

	if ((r = check_settings(cfg, d)) != MAILER_OK)
		worst = r;
	if (message_templates_load(cfg->templates ? cfg->templates :
	    "templates", &m->tpl, d) != MESSAGE_OK)
		worst = MAILER_EINVAL;
	if ((r = load_subjects(cfg, &m->subjects, d)) != MAILER_OK)
		worst = r;
	if (cfg->transport == MAIL_SMTP &&
	    (r = load_password(cfg, &m->password, d)) != MAILER_OK)
		worst = r;
	/* Not twice for one problem: a refused file is reported already. */
	else if (cfg->transport == MAIL_SMTP && cfg->username &&
	    !m->password) {
		diag(d, cfg->path ? cfg->path : "config", 0, "[mail] username "
		    "is set but there is no password_file or smtp-password "
		    "credential");
		worst = MAILER_EINVAL;
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
		return MAILER_ENOMEM;
	m->cfg = cfg;
	r = load_all(m, cfg, d);
	/* An existing key must be usable; a missing one is made at start. */
	if (cfg->db_path &&
	    (k = spool_key_load(cfg->db_path, 0, &m->key, d)) != SPOOL_OK &&
	    k != SPOOL_ENOENT && r == MAILER_OK)
		r = MAILER_EIO;
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
		if (buf_puts(b, rcpt[i]) != BUF_OK || buf_putc(b, '\n') != BUF_OK)
			return MAILER_ENOMEM;
	return buf_putc(b, '\n') == BUF_OK ? MAILER_OK : MAILER_ENOMEM;
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
	if (put_envelope(b, cfg->to, cfg->nto) != MAILER_OK)
		return MAILER_ENOMEM;
	return message_notify(&m->tpl, &n, b) == MESSAGE_OK ? MAILER_OK :
	    MAILER_ECOMPOSE;
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
		return MAILER_OK;
	name = json_object_get(inq->fields, NAME_FIELD);
	a.id = inq->id;
	a.title = inq->form_title ? inq->form_title : inq->form->name;
	a.name = json_is_string(name) ? json_string_value(name) : NULL;
	a.from = m->cfg->from;
	a.received_at_ms = inq->received_at_ms;
	rcpt[0] = (char *)a.to;
	if (put_envelope(b, rcpt, 1) != MAILER_OK)
		return MAILER_ENOMEM;
	return message_ack(&m->tpl, &a, b) == MESSAGE_OK ? MAILER_OK :
	    MAILER_ECOMPOSE;
}

static int
seal_into(struct mailer *m, const char *id, const char *kind,
    const struct buf *b, struct store_outbox *o)
{
	unsigned char	*blob;
	size_t		 len;

	if (spool_seal(m->key, id, kind, b->data, b->len, &blob, &len) !=
	    SPOOL_OK)
		return MAILER_ECOMPOSE;
	o->kind = kind;
	o->msg = blob;
	o->msglen = len;
	return MAILER_OK;
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
		return MAILER_EINVAL;
	if ((o = calloc(2, sizeof(*o))) == NULL)
		return MAILER_ENOMEM;
	buf_init(&b, MESSAGE_MAX);
	if ((r = compose_notify(m, inq, &b)) != MAILER_OK ||
	    (r = seal_into(m, inq->id, "notify", &b, &o[k])) != MAILER_OK)
		goto out;
	k++;
	buf_wipe(&b);
	if (inq->ack && (r = compose_ack(m, inq, &b)) != MAILER_OK)
		goto out;
	if (b.len > 0 && (r = seal_into(m, inq->id, "ack", &b, &o[k])) !=
	    MAILER_OK)
		goto out;
	k += b.len > 0;
out:
	buf_wipe(&b);
	if (r != MAILER_OK) {
		mailer_outbox_free(o, k);
		return r;
	}
	*out = o;
	*n = k;
	return MAILER_OK;
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
		return STORE_EIO;
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
		return STORE_OK;
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return STORE_EIO;
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

	log_warnx("mailer: outcomes not recorded: %s", store_strerror(result));
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
	if (result != STORE_OK) {
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
	if (store_writer_call(m->sw, &m->record.call) == STORE_OK) {
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
	int		  rc, r = STORE_OK;

	if (sqlite3_prepare_v2(db, "SELECT id, inquiry_id, kind, attempts,"
	    " created_at, message FROM outbox WHERE state = 'queued'"
	    " AND next_try <= ?1 ORDER BY next_try, id LIMIT ?2", -1, &q,
	    NULL) != SQLITE_OK)
		return STORE_EIO;
	sqlite3_bind_int64(q, 1, f->now);
	sqlite3_bind_int64(q, 2, (sqlite3_int64)(f->want + f->nskip));
	while (n < f->want && (rc = sqlite3_step(q)) == SQLITE_ROW) {
		if (skipped(f, sqlite3_column_int64(q, 0)))
			continue;
		if ((s = send_from_row(f->m, q)) == NULL) {
			r = STORE_ENOMEM;
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
	if (result != STORE_OK)
		log_warnx("mailer: cannot read the outbox: %s",
		    store_strerror(result));
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
	if (store_writer_call(m->sw, &f->call) != STORE_OK) {
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

/* ---- SMTP: curl multi on the loop -------------------------------------- */

static void
sock_closed(uv_handle_t *h)
{
	struct sock	*k = h->data;
	struct mailer	*m = k->m;

	free(k);
	m->handles--;
	maybe_finish(m);
}

static void
sock_close(struct sock *k)
{
	struct sock	**pp;

	if (k->closing)
		return;
	k->closing = 1;
	for (pp = &k->m->socks; *pp; pp = &(*pp)->next)
		if (*pp == k) {
			*pp = k->next;
			break;
		}
	uv_close((uv_handle_t *)&k->poll, sock_closed);
}

/* Reads the finished transfers: classify, free curl state, complete. */
static void	classify(struct send *, CURLcode, long);

static void
check_done(struct mailer *m)
{
	CURLMsg		*msg;
	struct send	*s;
	CURLcode	 rc;
	long		 code;
	int		 left;

	while ((msg = curl_multi_info_read(m->multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		rc = msg->data.result;
		s = NULL;
		code = 0;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &s);
		curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE,
		    &code);
		curl_multi_remove_handle(m->multi, s->easy);
		curl_easy_cleanup(s->easy);
		s->easy = NULL;
		curl_slist_free_all(s->rcpt);
		s->rcpt = NULL;
		buf_wipe(&s->msg);
		classify(s, rc, code);
		complete(s);
	}
}

static void
on_poll(uv_poll_t *h, int status, int events)
{
	struct sock	*k = h->data;
	struct mailer	*m = k->m;
	int		 flags = 0, running;

	if (status < 0)
		flags = CURL_CSELECT_ERR;
	if (events & UV_READABLE)
		flags |= CURL_CSELECT_IN;
	if (events & UV_WRITABLE)
		flags |= CURL_CSELECT_OUT;
	curl_multi_socket_action(m->multi, k->fd, flags, &running);
	check_done(m);
}

static void
on_curl_timeout(uv_timer_t *t)
{
	struct mailer	*m = t->data;
	int		 running;

	curl_multi_socket_action(m->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done(m);
}

/* CURLMOPT_TIMERFUNCTION: one uv timer; 0 runs on the next iteration,
   never from inside this callback. */
static int
on_curl_timer(CURLM *multi, long ms, void *arg)
{
	struct mailer	*m = arg;

	(void)multi;
	if (m->stopping)
		return 0;
	if (ms < 0)
		uv_timer_stop(&m->curl_timer);
	else
		uv_timer_start(&m->curl_timer, on_curl_timeout, (uint64_t)ms,
		    0);
	return 0;
}

static struct sock *
sock_new(struct mailer *m, curl_socket_t fd)
{
	struct sock	*k;

	if ((k = calloc(1, sizeof(*k))) == NULL)
		return NULL;
	if (uv_poll_init_socket(m->loop, &k->poll, fd) != 0) {
		free(k);
		return NULL;
	}
	k->poll.data = k;
	k->fd = fd;
	k->m = m;
	k->next = m->socks;
	m->socks = k;
	m->handles++;
	curl_multi_assign(m->multi, fd, k);
	return k;
}

/* CURLMOPT_SOCKETFUNCTION: one uv_poll per socket curl uses. */
static int
on_socket(CURL *easy, curl_socket_t fd, int what, void *arg, void *sockp)
{
	struct mailer	*m = arg;
	struct sock	*k = sockp;
	int		 events = 0;

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (k) {
			sock_close(k);
			if (!m->stopping)
				curl_multi_assign(m->multi, fd, NULL);
		}
		return 0;
	}
	if (m->stopping)
		return 0;
	if (k == NULL && (k = sock_new(m, fd)) == NULL)
		return -1;
	if (what & CURL_POLL_IN)
		events |= UV_READABLE;
	if (what & CURL_POLL_OUT)
		events |= UV_WRITABLE;
	return uv_poll_start(&k->poll, events, on_poll) == 0 ? 0 : -1;
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
	case CURLE_LOGIN_DENIED:
		return "login denied; check username and password";
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
	   stuck in getaddrinfo on the loop: detach it instead. */
	(void)curl_easy_setopt(e, CURLOPT_QUICK_EXIT, 1L);	/* 7.87+ */
	/* mail_timeout_ms bounds the whole SMTP transaction. */
	bad |= curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, timeout);
	bad |= curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout);
	return bad ? -1 : 0;
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

static void
smtp_start(struct send *s, char *const *rcpt, size_t nrcpt)
{
	struct mailer	*m = s->m;

	if ((s->easy = curl_easy_init()) == NULL ||
	    smtp_rcpts(s, rcpt, nrcpt) == -1 || smtp_setup(s) == -1 ||
	    curl_multi_add_handle(m->multi, s->easy) != CURLM_OK) {
		/* Not in the multi: abandon_transfers must not take it for
		   a transfer in flight (it is on its way to record_fn). */
		if (s->easy)
			curl_easy_cleanup(s->easy);
		s->easy = NULL;
		curl_slist_free_all(s->rcpt);
		s->rcpt = NULL;
		buf_wipe(&s->msg);
		set_outcome(s, OUT_RETRY, "cannot set up the SMTP transfer");
		complete(s);
	}
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

	if (s->open_rc == SPOOL_EAUTH) {
		set_outcome(s, OUT_FAILED, "sealed message does not open "
		    "(spool key replaced?)");
		complete(s);
		return;
	}
	if (s->open_rc != SPOOL_OK) {
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
		return MAILER_ENOMEM;
	m->curl_inited = 1;
	if ((m->multi = curl_multi_init()) == NULL)
		return MAILER_ENOMEM;
	curl_multi_setopt(m->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
	curl_multi_setopt(m->multi, CURLMOPT_SOCKETDATA, m);
	curl_multi_setopt(m->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
	curl_multi_setopt(m->multi, CURLMOPT_TIMERDATA, m);
	curl_multi_setopt(m->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, n);
	curl_multi_setopt(m->multi, CURLMOPT_MAXCONNECTS, n);
	return MAILER_OK;
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

static int64_t
retry_base(void)
{
	const char	*s = getenv("INTAKED_MAIL_RETRY_MS");
	char		*end;
	unsigned long	 v;

	if (s == NULL || *s == '\0')
		return RETRY_BASE_MS;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v == 0 || v > RETRY_MAX_MS)
		return RETRY_BASE_MS;
	return (int64_t)v;
}

static void
mailer_free(struct mailer *m)
{
	struct send	*s;

	while ((s = m->active) != NULL) {	/* none when stopped cleanly */
		m->active = s->next;
		send_free(s);
	}
	if (m->multi)
		curl_multi_cleanup(m->multi);
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

	if ((r = load_all(m, cfg, d)) != MAILER_OK)
		return r;
	if (cfg->db_path == NULL) {
		diag(d, cfg->path ? cfg->path : "config", 0,
		    "[storage] path is needed for the spool key");
		return MAILER_EINVAL;
	}
	if ((r = spool_key_load(cfg->db_path, 1, &m->key, d)) != SPOOL_OK)
		return r == SPOOL_ENOMEM ? MAILER_ENOMEM : MAILER_EIO;
	if (cfg->transport == MAIL_MAILDIR && make_maildir(cfg->maildir)) {
		diag(d, cfg->maildir, 0, "cannot create maildir: %s",
		    strerror(errno));
		return MAILER_EIO;
	}
	if (cfg->transport == MAIL_SMTP)
		return smtp_init(m);
	return MAILER_OK;
}

int
mailer_start(uv_loop_t *loop, const struct config *cfg,
    struct store_writer *sw, struct mailer **out, struct diag *d)
{
	struct mailer	*m;
	int		 r;

	*out = NULL;
	if (sodium_init() < 0 || (m = calloc(1, sizeof(*m))) == NULL)
		return MAILER_ENOMEM;
	m->loop = loop;
	m->cfg = cfg;
	m->sw = sw;
	m->parallel = cfg->mail_parallel ? cfg->mail_parallel : 1;
	m->results_tail = &m->results;
	m->retry_base_ms = retry_base();
	m->record.m = m;
	randombytes_buf(m->hkey, sizeof(m->hkey));
	set_host(m);
	if ((r = mailer_prepare(m, d)) != MAILER_OK) {
		mailer_free(m);
		return r;
	}
	uv_timer_init(loop, &m->curl_timer);
	uv_timer_init(loop, &m->wake_timer);
	m->curl_timer.data = m->wake_timer.data = m;
	m->handles = 2;
	m->kicked = 1;		/* deliver what the outbox holds */
	pump(m);
	*out = m;
	return MAILER_OK;
}

static void
timer_closed(uv_handle_t *h)
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

	if (!m->stopping || m->handles || m->fetching || m->recording ||
	    m->nworks || m->results)
		return;
	mailer_free(m);
	if (cb)
		cb(arg);
}

/* In-flight SMTP transfers are dropped; their rows stay queued. */
static void
abandon_transfers(struct mailer *m)
{
	struct send	*s, *next;

	for (s = m->active; s; s = next) {
		next = s->next;
		if (s->easy == NULL)
			continue;
		curl_multi_remove_handle(m->multi, s->easy);
		active_remove(m, s);
		send_free(s);
	}
}

void
mailer_stop(struct mailer *m, void (*cb)(void *), void *arg)
{
	m->stopping = 1;
	m->stop_cb = cb;
	m->stop_arg = arg;
	if (m->multi) {
		abandon_transfers(m);
		while (m->socks)
			sock_close(m->socks);
		/* Closing the cached connections may call on_socket, which
		   only sees socks already closing. */
		curl_multi_cleanup(m->multi);
		m->multi = NULL;
	}
	uv_close((uv_handle_t *)&m->curl_timer, timer_closed);
	uv_close((uv_handle_t *)&m->wake_timer, timer_closed);
	/* Outcomes waiting for RECORD_RETRY_MS after a failed batch: the
	   wake timer that would have flushed them is gone. */
	record_flush(m);
}
