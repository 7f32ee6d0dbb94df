/*
 * The mailer against real components: a real aiosmtpd (STARTTLS or plain,
 * started per test on a free loopback port), a real store writer on a
 * temporary database, the shipped templates, the spool key and the age
 * tool for the sealed attachment. Every wait is bounded.
 */
#include <sys/socket.h>
#include <sys/stat.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <jansson.h>
#include <sodium.h>
#include <sqlite3.h>
#include <uv.h>

#include "age.h"
#include "buf.h"
#include "config.h"
#include "mailer.h"
#include "outbox.h"
#include "spool.h"
#include "store.h"
#include "testutil.h"
#include "uuid.h"

#define MAX_ITEMS	16

struct item {
	struct store_job	 job;
	struct store_outbox	*ob;
	size_t			 nob;
	struct buf		 ct;
	char			*plain;
	int			 done, result;
	struct t		*t;
};

struct t {
	char			 dir[64];
	char			 outdir[256], db[256], idfile[256];
	char			 cert[256], key[256], url[64];
	char			 pwfile[256];
	int			 port;
	pid_t			 server;
	uv_loop_t		 loop;
	struct store_writer	*sw;
	struct mailer		*m;
	struct store		*ro;
	struct config		 cfg;
	struct form_conf	 fc;
	struct age_identity	 ident;
	struct age_recipient	 rcpt;
	struct message_templates tpl;
	struct tmpl		*subject;
	struct item		 items[MAX_ITEMS];
	size_t			 nitems;
	int			 stopped;
	int			 nokick;
};

static void
make_cert(struct t *t)
{
	char	cmd[2048];

	snprintf(cmd, sizeof(cmd), "openssl req -x509 -newkey ec -pkeyopt "
	    "ec_paramgen_curve:prime256v1 -nodes -keyout %s -out %s -days 2 "
	    "-subj /CN=localhost -addext subjectAltName=DNS:localhost,"
	    "IP:127.0.0.1 >/dev/null 2>&1", t->key, t->cert);
	ck_assert_int_eq(system(cmd), 0);
}

/* aiosmtpd writing into t->outdir (Maildir); tls adds STARTTLS; size
   (or NULL) caps the message size. */
static void
server_start(struct t *t, int tls, const char *size)
{
	const char	*opts[7];
	char		 log[PATH_MAX];
	int		 n = 0;

	if (tls) {
		opts[n++] = "--tlscert";
		opts[n++] = t->cert;
		opts[n++] = "--tlskey";
		opts[n++] = t->key;
	}
	if (size) {
		opts[n++] = "-s";
		opts[n++] = size;
	}
	opts[n] = NULL;
	ck_assert_ptr_nonnull(tu_path(log, sizeof(log), t->dir,
	    "aiosmtpd.log"));
	t->server = tu_aiosmtpd_start(t->port, t->outdir, opts, log);
	ck_assert_msg(t->server > 0, "aiosmtpd did not start");
}

static void
server_stop(struct t *t)
{
	tu_aiosmtpd_stop(t->server);
	t->server = 0;
}

/* A temporary tree, the config of an SMTP (STARTTLS) mailer, an age
   identity; nothing started yet. */
static void
t_init(struct t *t)
{
	memset(t, 0, sizeof(*t));
	ck_assert_int_ge(sodium_init(), 0);
	ck_assert_ptr_nonnull(tu_tmpdir(t->dir, sizeof(t->dir),
	    "check_mailer"));
	snprintf(t->outdir, sizeof(t->outdir), "%s/out", t->dir);
	snprintf(t->db, sizeof(t->db), "%s/var/intake.db", t->dir);
	snprintf(t->idfile, sizeof(t->idfile), "%s/staff.key", t->dir);
	snprintf(t->cert, sizeof(t->cert), "%s/c.pem", t->dir);
	snprintf(t->key, sizeof(t->key), "%s/k.pem", t->dir);
	snprintf(t->pwfile, sizeof(t->pwfile), "%s/pw", t->dir);
	/* Python's Maildir creates the subdirectories only with the root. */
	ck_assert_int_eq(tu_maildir(t->outdir), 0);
	ck_assert_int_gt(t->port = tu_free_port(), 0);
	snprintf(t->url, sizeof(t->url), "smtp://127.0.0.1:%d", t->port);
	ck_assert_int_eq(age_identity_generate(&t->ident), 0);
	age_identity_recipient(&t->ident, &t->rcpt);
	ck_assert_int_eq(age_identity_file_write(t->idfile, &t->ident), 0);
	ck_assert_int_eq(uv_loop_init(&t->loop), 0);

	tu_mail_config(&t->cfg, &t->fc, t->db, t->url);
	t->fc.subject = "New {{form}} inquiry {{id}}";
	t->fc.ack = 1;
	t->cfg.path = "test.conf";
	t->cfg.tls = TLS_REQUIRED;
	t->cfg.ca_file = t->cert;
	t->cfg.content = CONTENT_FULL;
	t->cfg.mail_parallel = 4;
	t->cfg.mail_timeout_ms = 5000;
	setenv("INTAKED_MAIL_RETRY_MS", "100", 1);
	/* What the daemon's snapshot holds: the templates, the subject. */
	ck_assert_int_eq(message_templates_load(t->cfg.templates, &t->tpl,
	    NULL), 0);
	ck_assert_int_eq(message_subject_parse("subject", t->fc.subject,
	    &t->subject, NULL), 0);
}

static void
t_start(struct t *t)
{
	struct diag	d = { 0, NULL, NULL };
	int		r;

	ck_assert_int_eq(store_writer_start(&t->loop, t->db, 64, 1, &t->sw),
	    0);
	r = mailer_start(&t->loop, &t->cfg, t->sw, &t->m, &d);
	ck_assert_msg(r == 0, "mailer_start: %s", err_str(r));
	ck_assert_int_eq(store_open(t->db, STORE_RDONLY, &t->ro), 0);
}

static void
writer_stopped(void *arg)
{
	struct t	*t = arg;

	t->stopped = 1;
}

static void
mailer_stopped(void *arg)
{
	struct t	*t = arg;

	t->m = NULL;
	store_writer_stop(t->sw, writer_stopped, t);
}

/* Stops mailer then writer, proves the loop closed cleanly. */
static void
t_stop_loop(struct t *t)
{
	size_t	i;

	if (t->ro)
		store_close(t->ro);
	t->ro = NULL;
	mailer_stop(t->m, mailer_stopped, t);
	while (!t->stopped)
		ck_assert_int_eq(uv_run(&t->loop, UV_RUN_ONCE) >= 0, 1);
	uv_run(&t->loop, UV_RUN_DEFAULT);
	ck_assert_int_eq(uv_loop_close(&t->loop), 0);
	for (i = 0; i < t->nitems; i++) {
		mailer_outbox_free(t->items[i].ob, t->items[i].nob);
		buf_free(&t->items[i].ct);
		free(t->items[i].plain);
	}
	t->nitems = 0;
}

static void
t_free(struct t *t)
{
	message_templates_free(&t->tpl);
	template_free(t->subject);
	server_stop(t);
	tu_rmtree(t->dir);
}

struct waiter {
	uv_timer_t	  tm;
	struct t	 *t;
	int		(*pred)(struct t *, const void *);
	const void	 *arg;
	uint64_t	  deadline;
	int		  ok;
};

static void
tick(uv_timer_t *h)
{
	struct waiter	*w = h->data;

	if (w->pred(w->t, w->arg)) {
		w->ok = 1;
		uv_stop(h->loop);
	} else if (uv_now(h->loop) >= w->deadline)
		uv_stop(h->loop);
}

/* Runs the loop until pred holds (1) or ms pass (0). */
static int
run_until(struct t *t, int (*pred)(struct t *, const void *),
    const void *arg, unsigned ms)
{
	struct waiter	w;

	memset(&w, 0, sizeof(w));
	w.t = t;
	w.pred = pred;
	w.arg = arg;
	uv_update_time(&t->loop);
	w.deadline = uv_now(&t->loop) + ms;
	uv_timer_init(&t->loop, &w.tm);
	w.tm.data = &w;
	uv_timer_start(&w.tm, tick, 5, 5);
	uv_run(&t->loop, UV_RUN_DEFAULT);
	uv_close((uv_handle_t *)&w.tm, NULL);
	uv_run(&t->loop, UV_RUN_NOWAIT);
	return w.ok;
}

static int
never(struct t *t, const void *arg)
{
	(void)t;
	(void)arg;
	return 0;
}

static int
item_done(struct t *t, const void *arg)
{
	(void)t;
	return ((const struct item *)arg)->done;
}

static void
job_done(struct store_job *j, int result)
{
	struct item	*it = j->arg;

	it->done = 1;
	it->result = result;
	if (result == 0 && it->t->m && !it->t->nokick)
		mailer_kick(it->t->m);
}

/* Accepts one inquiry the way the daemon does: record, compose, commit
   in one job, kick. Returns the item (its job.id is the inquiry id). */
static struct item *
submit(struct t *t, const char *name, const char *email, int ack)
{
	struct message_inquiry	 inq;
	struct item		*it;
	json_t			*fields;

	ck_assert_uint_lt(t->nitems, MAX_ITEMS);
	it = &t->items[t->nitems++];
	memset(it, 0, sizeof(*it));
	it->t = t;
	fields = json_pack("{s:s, s:s, s:s, s:s}", "name", name, "email",
	    email, "phone", "+91 00000 00000", "message",
	    "Test message.\nSecond line.");
	ck_assert_ptr_nonnull(fields);
	it->job.received_at_ms = clock_now_ms();
	uuid_v7(it->job.received_at_ms, it->job.id);
	it->plain = json_dumps(fields, JSON_COMPACT);
	buf_init(&it->ct, 0);
	ck_assert_int_eq(age_encrypt(&t->rcpt, 1, it->plain,
	    strlen(it->plain), &it->ct), 0);
	memset(&inq, 0, sizeof(inq));
	inq.id = it->job.id;
	inq.form = t->fc.name;
	inq.title = "Free consultation";
	inq.received_at_ms = it->job.received_at_ms;
	inq.fields = fields;
	inq.reply_to_field = t->fc.reply_to;
	inq.record = (const unsigned char *)it->ct.data;
	inq.recordlen = it->ct.len;
	inq.tpl = &t->tpl;
	inq.subject = t->subject;
	ck_assert_int_eq(mailer_compose(t->m, &inq, ack, &it->ob, &it->nob),
	    0);
	json_decref(fields);
	it->job.form = "consultation";
	it->job.ct = (const unsigned char *)it->ct.data;
	it->job.ctlen = it->ct.len;
	it->job.outbox = it->ob;
	it->job.noutbox = it->nob;
	it->job.done = job_done;
	it->job.arg = it;
	ck_assert_int_eq(store_writer_submit(t->sw, &it->job), 0);
	ck_assert(run_until(t, item_done, it, 5000));
	ck_assert_int_eq(it->result, 0);
	return it;
}

/* ---- what landed --------------------------------------------------- */

/* How many messages reached the server's Maildir. */
static int
in_new(struct t *t)
{
	char	p[PATH_MAX];

	ck_assert_ptr_nonnull(tu_path(p, sizeof(p), t->outdir, "new"));
	return tu_count_files(p);
}

static int
landed(struct t *t, const void *arg)
{
	return in_new(t) >= *(const int *)arg;
}

/* The contents of every file in dir/new, NUL-terminated, in *files. */
static int
read_new(const char *dir, char ***files)
{
	char		 p[PATH_MAX], f[PATH_MAX * 2];
	DIR		*d;
	struct dirent	*e;
	int		 n = 0;

	*files = calloc(64, sizeof(char *));
	snprintf(p, sizeof(p), "%s/new", dir);
	ck_assert_ptr_nonnull(d = opendir(p));
	while ((e = readdir(d)) != NULL && n < 64) {
		if (e->d_name[0] == '.')
			continue;
		ck_assert_ptr_nonnull(tu_path(f, sizeof(f), p, e->d_name));
		ck_assert_ptr_nonnull((*files)[n] = tu_read_file(f, NULL));
		n++;
	}
	closedir(d);
	return n;
}

static void
free_files(char **files, int n)
{
	int	i;

	for (i = 0; i < n; i++)
		free(files[i]);
	free(files);
}

/* The unfolded value of a top-level header of msg (LF or CRLF). */
static int
get_header(const char *msg, const char *name, char *out, size_t len)
{
	const char	*s = msg, *eol;
	size_t		 n = strlen(name), o = 0, k;

	out[0] = '\0';
	while (*s && *s != '\n' && !(*s == '\r' && s[1] == '\n')) {
		eol = strchr(s, '\n');
		ck_assert_ptr_nonnull(eol);
		if (strncasecmp(s, name, n) == 0 && s[n] == ':') {
			s += n + 1;
			while (*s == ' ')
				s++;
			for (;;) {
				k = (size_t)(eol - s);
				if (k > 0 && s[k - 1] == '\r')
					k--;
				if (o + k >= len)
					k = len - o - 1;
				memcpy(out + o, s, k);
				o += k;
				out[o] = '\0';
				if (eol[1] != ' ' && eol[1] != '\t')
					return 1;
				s = eol + 1;
				eol = strchr(s, '\n');
			}
		}
		s = eol + 1;
	}
	return 0;
}

/* The file whose Message-ID is <id.kind@example.org>, or NULL. */
static const char *
find_msg(char **files, int n, const char *id, const char *kind)
{
	char	want[128], got[256];
	int	i;

	snprintf(want, sizeof(want), "<%s.%s@example.org>", id, kind);
	for (i = 0; i < n; i++)
		if (get_header(files[i], "Message-ID", got, sizeof(got)) &&
		    strcmp(got, want) == 0)
			return files[i];
	return NULL;
}

/* ---- the outbox as the database sees it ------------------------------ */

static int
count_rows(struct t *t, const char *where)
{
	char		 sql[512];
	sqlite3_stmt	*q;
	int		 n = -1;

	sqlite3		*db;

	/* The test's own look at the file, beside the store's API. */
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM outbox WHERE %s",
	    where);
	ck_assert_int_eq(sqlite3_open_v2(t->db, &db, SQLITE_OPEN_READONLY,
	    NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &q, NULL),
	    SQLITE_OK);
	if (sqlite3_step(q) == SQLITE_ROW)
		n = sqlite3_column_int(q, 0);
	sqlite3_finalize(q);
	sqlite3_close(db);
	return n;
}

struct rows_where {
	const char	*where;
	int		 n;
};

static int
rows_are(struct t *t, const void *arg)
{
	const struct rows_where	*r = arg;

	return count_rows(t, r->where) == r->n;
}

static int
collect_row(void *arg, const struct outbox_row *r)
{
	*(struct outbox_row *)arg = *r;
	return 1;
}

/* The first outbox row (oldest), as intakectl queue shows it. */
static struct outbox_row
first_row(struct t *t)
{
	struct outbox_row	r;

	memset(&r, 0, sizeof(r));
	ck_assert_int_eq(outbox_list(t->ro, 1, collect_row, &r), 0);
	return r;
}

/* ---- tests ------------------------------------------------------------ */

START_TEST(test_spool_seal_open)
{
	struct spool_key	*k, *k2;
	struct stat		 sb;
	struct diag		 d = { 0, tu_diag_quiet, NULL };
	struct buf		 out;
	unsigned char		*blob;
	char			 path[PATH_MAX];
	size_t			 len;
	struct t		 t;

	t_init(&t);
	snprintf(path, sizeof(path), "%s/var/spool.key", t.dir);
	ck_assert_int_eq(spool_key_load(path, 0, &k, &d), ERR_NOTFOUND);
	mkdir(t.dir, 0700);
	{
		char	var[PATH_MAX];

		snprintf(var, sizeof(var), "%s/var", t.dir);
		ck_assert_int_eq(mkdir(var, 0700), 0);
	}
	ck_assert_int_eq(spool_key_load(path, 1, &k, &d), 0);
	ck_assert_int_eq(stat(path, &sb), 0);
	ck_assert_int_eq(sb.st_mode & 0777, 0600);
	ck_assert_int_eq(sb.st_size, SPOOL_KEY_LEN);

	ck_assert_int_eq(spool_seal(k, "id-1", "notify", "hello", 5, &blob,
	    &len), 0);
	ck_assert_uint_eq(len, 5 + SPOOL_OVERHEAD);
	ck_assert_ptr_null(memmem(blob, len, "hello", 5));
	buf_init(&out, 0);
	ck_assert_int_eq(spool_open(k, "id-1", "notify", blob, len, &out),
	    0);
	ck_assert_str_eq(out.data, "hello");
	/* Bound to its row: another id or kind does not open it. */
	buf_reset(&out);
	ck_assert_int_eq(spool_open(k, "id-2", "notify", blob, len, &out),
	    ERR_AUTH);
	ck_assert_int_eq(spool_open(k, "id-1", "ack", blob, len, &out),
	    ERR_AUTH);
	ck_assert_int_eq(spool_open(k, "id-1notify", "", blob, len, &out),
	    ERR_AUTH);
	blob[len - 1] ^= 1;
	ck_assert_int_eq(spool_open(k, "id-1", "notify", blob, len, &out),
	    ERR_AUTH);
	ck_assert_uint_eq(out.len, 0);
	blob[len - 1] ^= 1;
	/* The same key comes back on the next start. */
	ck_assert_int_eq(spool_key_load(path, 1, &k2, &d), 0);
	ck_assert_int_eq(spool_open(k2, "id-1", "notify", blob, len, &out),
	    0);
	spool_key_free(k2);
	/* A key others can read is refused; so is a truncated one. */
	ck_assert_int_eq(chmod(path, 0640), 0);
	ck_assert_int_eq(spool_key_load(path, 1, &k2, &d), ERR_PERM);
	ck_assert_int_eq(chmod(path, 0600), 0);
	ck_assert_int_eq(truncate(path, 31), 0);
	ck_assert_int_eq(spool_key_load(path, 1, &k2, &d), ERR_MALFORMED);
	ck_assert_uint_ge(d.count, 2);
	free(blob);
	buf_wipe(&out);
	spool_key_free(k);
	uv_loop_close(&t.loop);
	t_free(&t);
}
END_TEST

START_TEST(test_check_config)
{
	struct diag	d = { 0, tu_diag_quiet, NULL };
	struct t	t;
	char		cred[PATH_MAX];

	t_init(&t);
	t.cfg.username = "intake";
	ck_assert_int_eq(mailer_check(&t.cfg, &d), ERR_CONFIG);
	ck_assert_uint_eq(d.count, 1);	/* no password */

	ck_assert_int_eq(tu_write_file(t.pwfile, "s3cret\n", 7, 0644), 0);
	t.cfg.password_file = t.pwfile;
	d.count = 0;
	ck_assert_int_ne(mailer_check(&t.cfg, &d), 0);
	ck_assert_uint_eq(d.count, 1);	/* world-readable */
	chmod(t.pwfile, 0600);
	d.count = 0;
	ck_assert_int_eq(mailer_check(&t.cfg, &d), 0);
	ck_assert_uint_eq(d.count, 0);

	/* The systemd credential stands in for password_file. */
	t.cfg.password_file = NULL;
	snprintf(cred, sizeof(cred), "%s/smtp-password", t.dir);
	ck_assert_int_eq(rename(t.pwfile, cred), 0);
	setenv("CREDENTIALS_DIRECTORY", t.dir, 1);
	ck_assert_int_eq(mailer_check(&t.cfg, &d), 0);
	unsetenv("CREDENTIALS_DIRECTORY");

	/* The settings themselves (addresses, TLS for full content) are
	   config_load's to check, with file:line: tests/check_config.c. */
	uv_loop_close(&t.loop);
	t_free(&t);
}
END_TEST

START_TEST(test_ack_limits)
{
	struct mailer_counters	c;
	struct t		t;
	char			addr[64];
	int			i;

	t_init(&t);
	t.cfg.transport = MAIL_MAILDIR;
	t.cfg.maildir = t.outdir;
	t_start(&t);
	ck_assert_int_eq(mailer_ack_allowed(t.m, "a@example.com", "192.0.2.1"),
	    1);
	ck_assert_int_eq(mailer_ack_allowed(t.m, "a@example.com", "192.0.2.2"),
	    0);
	ck_assert_int_eq(mailer_ack_allowed(t.m, "A@Example.COM", NULL), 0);
	ck_assert_int_eq(mailer_ack_allowed(t.m, "not an address", NULL), 0);
	/* Per IP: 5 an hour, whatever the addresses. */
	for (i = 0; i < 4; i++) {
		snprintf(addr, sizeof(addr), "p%d@example.com", i);
		ck_assert_int_eq(mailer_ack_allowed(t.m, addr, "192.0.2.1"), 1);
	}
	ck_assert_int_eq(mailer_ack_allowed(t.m, "q@example.com", "192.0.2.1"),
	    0);
	ck_assert_int_eq(mailer_ack_allowed(t.m, "q@example.com", "192.0.2.9"),
	    1);
	/* Bounded memory: a flood of addresses neither fails nor grows. */
	for (i = 0; i < 5000; i++) {
		snprintf(addr, sizeof(addr), "flood%d@example.com", i);
		mailer_ack_allowed(t.m, addr, NULL);
	}
	mailer_counters(t.m, &c);
	ck_assert_uint_eq(c.acks_limited, 3);
	t_stop_loop(&t);
	t_free(&t);
}
END_TEST

START_TEST(test_smtp_starttls_delivery)
{
	struct rows_where	 sent = { "state = 'sent' AND message IS NULL"
				     " AND last_error IS NULL", 3 };
	struct mailer_counters	 c;
	struct item		*a, *b;
	struct t		 t;
	const char		*msg;
	char			**files, v[512];
	int			 n, want = 3;

	t_init(&t);
	make_cert(&t);
	server_start(&t, 1, NULL);
	t_start(&t);
	a = submit(&t, "Testy McTestface", "patient@example.com", 1);
	b = submit(&t, "Jane Placeholder", "other@example.com", 0);
	ck_assert(run_until(&t, landed, &want, 10000));
	ck_assert(run_until(&t, rows_are, &sent, 5000));
	n = read_new(t.outdir, &files);
	ck_assert_int_eq(n, 3);

	ck_assert_ptr_nonnull(msg = find_msg(files, n, a->job.id, "notify"));
	get_header(msg, "X-MailFrom", v, sizeof(v));
	ck_assert_str_eq(v, "intake@example.org");
	get_header(msg, "X-RcptTo", v, sizeof(v));
	ck_assert_str_eq(v, "staff@example.org, desk@example.org");
	get_header(msg, "Subject", v, sizeof(v));
	ck_assert_ptr_nonnull(strstr(v, a->job.id));
	get_header(msg, "Reply-To", v, sizeof(v));
	ck_assert_str_eq(v, "Testy McTestface <patient@example.com>");
	get_header(msg, "Auto-Submitted", v, sizeof(v));
	ck_assert_str_eq(v, "auto-generated");
	get_header(msg, "Content-Type", v, sizeof(v));
	ck_assert_ptr_nonnull(strstr(v, "multipart/alternative"));
	ck_assert_ptr_nonnull(strstr(msg, "Content-Type: text/plain; charset=utf-8"));
	ck_assert_ptr_nonnull(strstr(msg, "Content-Type: text/html; charset=utf-8"));
	ck_assert_ptr_nonnull(strstr(msg, "+91 00000 00000"));

	ck_assert_ptr_nonnull(msg = find_msg(files, n, a->job.id, "ack"));
	get_header(msg, "X-RcptTo", v, sizeof(v));
	ck_assert_str_eq(v, "patient@example.com");
	get_header(msg, "To", v, sizeof(v));
	ck_assert_str_eq(v, "<patient@example.com>");
	ck_assert_ptr_null(strstr(msg, "00000"));	/* no field but the name */
	ck_assert_ptr_nonnull(strstr(msg, "Hello Testy McTestface,"));

	ck_assert_ptr_nonnull(find_msg(files, n, b->job.id, "notify"));
	ck_assert_ptr_null(find_msg(files, n, b->job.id, "ack"));
	free_files(files, n);
	mailer_counters(t.m, &c);
	ck_assert_uint_eq(c.sent, 3);
	ck_assert_uint_eq(c.failed + c.retried, 0);
	t_stop_loop(&t);
	t_free(&t);
}
END_TEST

START_TEST(test_tls_required_refused)
{
	struct rows_where	 tried = { "attempts >= 2", 1 };
	struct outbox_row	 r;
	struct t		 t;

	t_init(&t);
	server_start(&t, 0, NULL);	/* no STARTTLS */
	t_start(&t);
	submit(&t, "Testy McTestface", "patient@example.com", 0);
	ck_assert(run_until(&t, rows_are, &tried, 10000));
	r = first_row(&t);
	ck_assert_str_eq(r.state, "queued");
	ck_assert_str_eq(r.kind, "notify");
	ck_assert_str_eq(r.last_error,
	    "TLS required but server offers no STARTTLS");
	ck_assert_int_gt(r.next_try_ms, r.created_ms);
	ck_assert_int_eq(in_new(&t), 0);
	ck_assert_int_eq(count_rows(&t, "message IS NOT NULL"), 1);
	t_stop_loop(&t);
	t_free(&t);
}
END_TEST

START_TEST(test_outage_then_delivery)
{
	struct rows_where	 failing = { "attempts >= 2 AND last_error ="
				     " 'cannot connect to server'", 3 };
	struct rows_where	 sent = { "state = 'sent'", 3 };
	struct mailer_counters	 c;
	struct item		*it[3];
	struct t		 t;
	char			**files;
	int			 n, i, want = 3;

	t_init(&t);
	t.cfg.tls = TLS_OFF;
	t.cfg.content = CONTENT_SUMMARY;
	t_start(&t);		/* nothing listens on the port yet */
	for (i = 0; i < 3; i++)
		it[i] = submit(&t, "Testy McTestface", "patient@example.com",
		    0);
	ck_assert(run_until(&t, rows_are, &failing, 10000));
	server_start(&t, 0, NULL);
	ck_assert(run_until(&t, landed, &want, 10000));
	ck_assert(run_until(&t, rows_are, &sent, 5000));
	/* Let any duplicate show up before counting. */
	run_until(&t, never, NULL, 500);
	ck_assert_int_eq(in_new(&t), 3);
	n = read_new(t.outdir, &files);
	for (i = 0; i < 3; i++)
		ck_assert_ptr_nonnull(find_msg(files, n, it[i]->job.id,
		    "notify"));
	free_files(files, n);
	mailer_counters(t.m, &c);
	ck_assert_uint_eq(c.sent, 3);
	ck_assert_uint_ge(c.retried, 6);
	ck_assert_uint_eq(c.failed, 0);
	t_stop_loop(&t);
	t_free(&t);
}
END_TEST

START_TEST(test_maildir_transport)
{
	struct rows_where	 sent = { "state = 'sent' AND message IS NULL",
				     2 };
	struct stat		 sb;
	struct item		*a;
	struct t		 t;
	char			 p[PATH_MAX], **files, v[256];
	const char		*msg;
	int			 n;

	t_init(&t);
	t.cfg.transport = MAIL_MAILDIR;
	snprintf(t.outdir, sizeof(t.outdir), "%s/mail", t.dir);
	t.cfg.maildir = t.outdir;
	t_start(&t);		/* creates the Maildir */
	ck_assert_int_eq(stat(t.outdir, &sb), 0);
	ck_assert_int_eq(sb.st_mode & 0777, 0700);
	snprintf(p, sizeof(p), "%s/cur", t.outdir);
	ck_assert_int_eq(stat(p, &sb), 0);
	ck_assert_int_eq(sb.st_mode & 0777, 0700);
	a = submit(&t, "Testy McTestface", "patient@example.com", 1);
	ck_assert(run_until(&t, rows_are, &sent, 5000));
	n = read_new(t.outdir, &files);
	ck_assert_int_eq(n, 2);
	ck_assert_ptr_nonnull(msg = find_msg(files, n, a->job.id, "notify"));
	ck_assert_ptr_null(strchr(msg, '\r'));	/* Maildir: LF lines */
	get_header(msg, "To", v, sizeof(v));
	ck_assert_str_eq(v, "<staff@example.org>, <desk@example.org>");
	ck_assert_ptr_nonnull(strstr(msg, "+91 00000 00000"));
	ck_assert_ptr_nonnull(find_msg(files, n, a->job.id, "ack"));
	free_files(files, n);
	snprintf(p, sizeof(p), "%s/tmp", t.outdir);
	ck_assert_int_eq(tu_count_files(p), 0);
	t_stop_loop(&t);
	t_free(&t);
}
END_TEST

/* A store call that holds the writer thread until released. */
struct hold {
	struct store_call	call;
	uv_sem_t		started, release;
	int			done;
};

static int
hold_fn(struct store *st, void *arg)
{
	struct hold	*h = arg;

	(void)st;
	uv_sem_post(&h->started);
	uv_sem_wait(&h->release);
	return 0;
}

static void
hold_done(struct store_call *c, int result)
{
	(void)result;
	((struct hold *)c->arg)->done = 1;
}

static int
mailer_is_idle(struct t *t, const void *arg)
{
	(void)arg;
	return mailer_idle(t->m);
}

static int
hold_over(struct t *t, const void *arg)
{
	(void)t;
	return ((const struct hold *)arg)->done;
}

/*
 * The writer thread does inserts and commits only: reading the due rows
 * and opening their seals happen elsewhere. With the writer held still,
 * a queued notification is fetched, opened and written to the Maildir;
 * only its outcome waits for the writer.
 */
START_TEST(test_delivery_beside_a_busy_writer)
{
	struct rows_where	 queued = { "state = 'queued'", 2 };
	struct rows_where	 sent2 = { "state = 'sent' AND message IS NULL",
				     2 };
	struct rows_where	 sent4 = { "state = 'sent' AND message IS NULL",
				     4 };
	struct hold		 h;
	struct t		 t;
	int			 four = 4;

	t_init(&t);
	t.cfg.transport = MAIL_MAILDIR;
	snprintf(t.outdir, sizeof(t.outdir), "%s/mail", t.dir);
	t.cfg.maildir = t.outdir;
	t_start(&t);
	/* A first inquiry goes out as usual; after it the mailer looks
	   again only when kicked (or after its 30 s poll). */
	submit(&t, "Testy McTestface", "patient@example.com", 1);
	ck_assert(run_until(&t, rows_are, &sent2, 5000));
	ck_assert(run_until(&t, mailer_is_idle, NULL, 5000));
	t.nokick = 1;
	submit(&t, "Second Patient", "second@example.com", 1);
	ck_assert_int_eq(count_rows(&t, queued.where), 2);

	memset(&h, 0, sizeof(h));
	ck_assert_int_eq(uv_sem_init(&h.started, 0), 0);
	ck_assert_int_eq(uv_sem_init(&h.release, 0), 0);
	h.call.fn = hold_fn;
	h.call.done = hold_done;
	h.call.arg = &h;
	ck_assert_int_eq(store_writer_call(t.sw, &h.call), 0);
	uv_sem_wait(&h.started);

	mailer_kick(t.m);
	ck_assert(run_until(&t, landed, &four, 5000));
	ck_assert_int_eq(count_rows(&t, queued.where), 2);	/* not yet */
	uv_sem_post(&h.release);
	ck_assert(run_until(&t, hold_over, &h, 5000));
	ck_assert(run_until(&t, rows_are, &sent4, 5000));
	uv_sem_destroy(&h.started);
	uv_sem_destroy(&h.release);
	t_stop_loop(&t);
	t_free(&t);
}
END_TEST

/* Decodes the base64 attachment of msg (LF or CRLF lines) into out. */
static size_t
attachment(const char *msg, unsigned char *out, size_t len)
{
	const char	*s, *e;
	size_t		 n;

	s = strstr(msg, "Content-Transfer-Encoding: base64");
	ck_assert_ptr_nonnull(s);
	s = strstr(s, "\n\n") ? strstr(s, "\n\n") + 2 : NULL;
	if (s == NULL)
		s = strstr(msg, "base64\r\n\r\n") + 10;
	e = strstr(s, "\n--");
	ck_assert_ptr_nonnull(e);
	ck_assert_int_eq(sodium_base642bin(out, len, s, (size_t)(e - s),
	    "\r\n", &n, NULL, sodium_base64_VARIANT_ORIGINAL), 0);
	return n;
}

START_TEST(test_sealed_attachment_decrypts)
{
	struct rows_where	 sent = { "state = 'sent'", 1 };
	struct item		*a;
	struct t		 t;
	unsigned char		 age[8192];
	char			 p[PATH_MAX], cmd[PATH_MAX * 3], out[4096];
	char			**files;
	const char		*msg;
	size_t			 len;
	FILE			*fp;
	int			 n, want = 1;

	t_init(&t);
	t.cfg.tls = TLS_OFF;		/* sealed needs no TLS */
	t.cfg.content = CONTENT_SEALED;
	server_start(&t, 0, NULL);
	t_start(&t);
	a = submit(&t, "Testy McTestface", "patient@example.com", 0);
	ck_assert(run_until(&t, landed, &want, 10000));
	ck_assert(run_until(&t, rows_are, &sent, 5000));
	n = read_new(t.outdir, &files);
	ck_assert_ptr_nonnull(msg = find_msg(files, n, a->job.id, "notify"));
	ck_assert_ptr_null(strstr(msg, "00000"));
	ck_assert_ptr_null(strstr(msg, "patient@example.com"));
	len = attachment(msg, age, sizeof(age));
	ck_assert_uint_eq(len, a->ct.len);
	snprintf(p, sizeof(p), "%s/%s.age", t.dir, a->job.id);
	ck_assert_int_eq(tu_write_file(p, age, len, 0644), 0);
	snprintf(cmd, sizeof(cmd), "age -d -i %s %s", t.idfile, p);
	ck_assert_ptr_nonnull(fp = popen(cmd, "r"));
	len = fread(out, 1, sizeof(out) - 1, fp);
	out[len] = '\0';
	ck_assert_int_eq(pclose(fp), 0);
	ck_assert_str_eq(out, a->plain);
	free_files(files, n);
	t_stop_loop(&t);
	t_free(&t);
}
END_TEST

struct retry_call {
	struct store_call	 call;
	const char		*id;
	unsigned		 n;
	int			 done, result;
};

static int
retry_fn(struct store *st, void *arg)
{
	struct retry_call	*r = arg;

	return outbox_retry(st, r->id, &r->n);
}

static void
retry_done(struct store_call *c, int result)
{
	struct retry_call	*r = c->arg;

	r->done = 1;
	r->result = result;
}

static int
retry_finished(struct t *t, const void *arg)
{
	(void)t;
	return ((const struct retry_call *)arg)->done;
}

START_TEST(test_5xx_fails_then_retry)
{
	struct rows_where	 failed = { "state = 'failed'", 1 };
	struct rows_where	 sent = { "state = 'sent'", 1 };
	struct mailer_counters	 c;
	struct retry_call	 rc;
	struct outbox_row	 r;
	struct item		*a;
	struct t		 t;
	int			 want = 1;

	t_init(&t);
	t.cfg.tls = TLS_OFF;
	t.cfg.content = CONTENT_SUMMARY;
	server_start(&t, 0, "200");	/* every message is too large */
	t_start(&t);
	a = submit(&t, "Testy McTestface", "patient@example.com", 0);
	ck_assert(run_until(&t, rows_are, &failed, 10000));
	r = first_row(&t);
	ck_assert_str_eq(r.last_error, "552 from server");
	ck_assert_uint_eq(r.attempts, 1);
	mailer_counters(t.m, &c);
	ck_assert_uint_eq(c.failed, 1);
	ck_assert_uint_eq(c.retried, 0);
	/* Failed rows keep their sealed message, so they can be retried. */
	ck_assert_int_eq(count_rows(&t, "message IS NOT NULL"), 1);

	server_stop(&t);
	server_start(&t, 0, NULL);
	memset(&rc, 0, sizeof(rc));
	rc.id = a->job.id;
	rc.call.fn = retry_fn;
	rc.call.done = retry_done;
	rc.call.arg = &rc;
	ck_assert_int_eq(store_writer_call(t.sw, &rc.call), 0);
	ck_assert(run_until(&t, retry_finished, &rc, 5000));
	ck_assert_int_eq(rc.result, 0);
	ck_assert_uint_eq(rc.n, 1);
	mailer_kick(t.m);
	ck_assert(run_until(&t, landed, &want, 10000));
	ck_assert(run_until(&t, rows_are, &sent, 5000));
	/* Nothing left to retry now. */
	rc.done = 0;
	ck_assert_int_eq(store_writer_call(t.sw, &rc.call), 0);
	ck_assert(run_until(&t, retry_finished, &rc, 5000));
	ck_assert_int_eq(rc.result, ERR_NOTFOUND);
	t_stop_loop(&t);
	t_free(&t);
}
END_TEST

START_TEST(test_give_up)
{
	struct rows_where	 failed = { "state = 'failed'", 1 };
	struct mailer_counters	 c;
	struct outbox_row	 r;
	struct t		 t;

	t_init(&t);
	t.cfg.tls = TLS_OFF;
	t.cfg.content = CONTENT_SUMMARY;
	t.cfg.give_up_after_s = 1;
	t_start(&t);		/* the server never comes */
	submit(&t, "Testy McTestface", "patient@example.com", 0);
	ck_assert(run_until(&t, rows_are, &failed, 10000));
	r = first_row(&t);
	ck_assert_msg(strncmp(r.last_error, "gave up after ", 14) == 0, "%s",
	    r.last_error);
	ck_assert_ptr_nonnull(strstr(r.last_error, "cannot connect to server"));
	ck_assert_uint_ge(r.attempts, 2);
	ck_assert_int_ge(clock_now_ms() - r.created_ms, 1000);
	mailer_counters(t.m, &c);
	ck_assert_uint_eq(c.failed, 1);
	t_stop_loop(&t);
	t_free(&t);
}
END_TEST

/* A server that accepts connections and never says a word: the transfer
   is in flight when the mailer stops. */
START_TEST(test_stop_in_flight)
{
	struct rows_where	 queued = { "state = 'queued' AND attempts = 0",
				     1 };
	struct sockaddr_in	 sa;
	struct t		 t;
	int			 fd;

	t_init(&t);
	t.cfg.tls = TLS_OFF;
	t.cfg.content = CONTENT_SUMMARY;
	fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)t.port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(fd, 8), 0);
	t_start(&t);
	submit(&t, "Testy McTestface", "patient@example.com", 0);
	run_until(&t, never, NULL, 300);
	ck_assert(rows_are(&t, &queued));
	t_stop_loop(&t);	/* proves every handle closed */
	close(fd);
	ck_assert_int_eq(store_open(t.db, STORE_RDONLY, &t.ro), 0);
	ck_assert(rows_are(&t, &queued));
	store_close(t.ro);
	t_free(&t);
}
END_TEST

static void
flag_set(void *arg)
{
	*(int *)arg = 1;
}

static int
flag_is_set(struct t *t, const void *arg)
{
	(void)t;
	return *(const int *)arg;
}

/* Rows sealed under a key that is gone fail visibly instead of being
   retried for ever. */
START_TEST(test_spool_key_replaced)
{
	struct rows_where	 failed = { "state = 'failed'", 5 };
	struct diag		 d = { 0, tu_diag_quiet, NULL };
	struct outbox_row	 r;
	struct t		 t;
	char			 p[PATH_MAX];
	int			 stopped = 0, i;

	t_init(&t);
	t.cfg.transport = MAIL_MAILDIR;
	t.cfg.maildir = t.outdir;
	t.cfg.content = CONTENT_SUMMARY;
	t_start(&t);
	/* Let the first look at the (empty) outbox finish, then queue a row
	   nobody looks at: no kick, and the next poll is 30 s away. */
	run_until(&t, never, NULL, 200);
	t.nokick = 1;
	/* Several: each settles while the fetch that found it is being
	   started, and the next fetch must not begin under it. */
	for (i = 0; i < 5; i++)
		submit(&t, "Testy McTestface", "patient@example.com", 0);
	mailer_stop(t.m, flag_set, &stopped);
	ck_assert(run_until(&t, flag_is_set, &stopped, 5000));
	snprintf(p, sizeof(p), "%s/var/spool.key", t.dir);
	ck_assert_int_eq(unlink(p), 0);
	ck_assert_int_eq(mailer_start(&t.loop, &t.cfg, t.sw, &t.m, &d),
	    0);
	ck_assert(run_until(&t, rows_are, &failed, 5000));
	r = first_row(&t);
	ck_assert_str_eq(r.last_error,
	    "sealed message does not open (spool key replaced?)");
	ck_assert_int_eq(in_new(&t), 0);
	t_stop_loop(&t);
	t_free(&t);
}
END_TEST

Suite *
mailer_suite(void)
{
	Suite	*s = suite_create("mailer");
	TCase	*unit = tcase_create("unit");
	TCase	*smtp = tcase_create("smtp");

	tcase_set_timeout(unit, 20);
	tcase_add_test(unit, test_spool_seal_open);
	tcase_add_test(unit, test_check_config);
	tcase_add_test(unit, test_ack_limits);
	tcase_add_test(unit, test_maildir_transport);
	tcase_add_test(unit, test_delivery_beside_a_busy_writer);
	tcase_add_test(unit, test_spool_key_replaced);
	suite_add_tcase(s, unit);

	tcase_set_timeout(smtp, 40);
	tcase_add_test(smtp, test_smtp_starttls_delivery);
	tcase_add_test(smtp, test_tls_required_refused);
	tcase_add_test(smtp, test_outage_then_delivery);
	tcase_add_test(smtp, test_sealed_attachment_decrypts);
	tcase_add_test(smtp, test_5xx_fails_then_retry);
	tcase_add_test(smtp, test_give_up);
	tcase_add_test(smtp, test_stop_in_flight);
	suite_add_tcase(s, smtp);
	return s;
}
