/*
 * intaked: the consultation-inquiry intake daemon. This file only wires the
 * modules together: load the snapshot, start the store writer, the mailer
 * and the HTTP server, tell systemd, handle signals, and stop in order
 * (HTTP drains, in-flight submissions commit, mailer stops, store stops).
 */
#include <sys/resource.h>

#include <errno.h>
#include <limits.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>
#include <uv.h>

#include "attach.h"
#include "fsutil.h"
#include "http.h"
#include "inbox.h"
#include "intake.h"
#include "libcurl.h"
#include "log.h"
#include "mailer.h"
#include "sd.h"
#include "snapshot.h"
#include "store.h"
#include "store_pg.h"
#include "uuid.h"
#include "version.h"

#define DEFAULT_CONFIG		"/etc/intaked/intaked.conf"
#define RETENTION_FIRST_MS	(60 * 1000)
#define RETENTION_EVERY_MS	(24 * 3600 * 1000)

struct daemon {
	uv_loop_t		*loop;
	const char		*config_path;
	struct snapshot		*boot;		/* what the mailer and store use */
	struct snapshot		*cur;		/* what requests use */
	struct store_writer	*writer;
	struct mailer		*mailer;
	struct intake		*intake;
	struct inbox		*inbox;
	struct http_server	*http;		/* the public listener */
	struct http_server	*admin;		/* the staff listener */
	int			 servers;	/* not yet shut down */
	uv_signal_t		 sigterm, sigint, sighup;
	uv_timer_t		 watchdog, retention;
	struct store_purge_job	 purge;
	char			 stage[PATH_MAX];	/* uploads, encrypted */
	int			 purging;
	int			 stopping;
	int			 debug;		/* -d: outranks log_level */
};

static void
usage(FILE *f)
{
	fprintf(f, "usage: intaked [-dt] [-c config]\n"
	    "  -c FILE    configuration file (default %s)\n"
	    "  -t         check the configuration, schemas and templates, "
	    "then exit\n"
	    "  -d         debug logging\n"
	    "  --version  print the version\n", DEFAULT_CONFIG);
}

/* ---- shutdown, in order ---- */

static void
store_stopped(void *arg)
{
	struct daemon *d = arg;

	/* Closed last: closing a uv_signal restores the default action,
	   and SIGHUP's (and SIGTERM's) is to die in the middle of the drain. */
	uv_close((uv_handle_t *)&d->sigterm, NULL);
	uv_close((uv_handle_t *)&d->sigint, NULL);
	uv_close((uv_handle_t *)&d->sighup, NULL);
	log_info("stopped");
}

static void
mailer_stopped(void *arg)
{
	struct daemon *d = arg;

	store_writer_stop(d->writer, store_stopped, d);
}

static void
drained(void *arg)
{
	struct daemon *d = arg;

	if (d->mailer)
		mailer_stop(d->mailer, mailer_stopped, d);
	else
		mailer_stopped(d);
}

static void
inbox_drained(void *arg)
{
	struct daemon *d = arg;

	intake_drain(d->intake, drained, d);
}

/* Both listeners are closed: then the work they started, in order. */
static void
http_stopped(void *arg)
{
	struct daemon *d = arg;

	if (--d->servers > 0)
		return;
	d->http = d->admin = NULL;
	inbox_drain(d->inbox, inbox_drained, d);
}

static void
stop(struct daemon *d)
{
	if (d->stopping)
		return;
	d->stopping = 1;
	log_info("stopping: finishing requests in flight");
	sd_notify("STOPPING=1");
	uv_close((uv_handle_t *)&d->watchdog, NULL);
	uv_close((uv_handle_t *)&d->retention, NULL);
	d->servers = 2;
	http_server_shutdown(d->http, http_stopped, d);
	http_server_shutdown(d->admin, http_stopped, d);
}

/* The public listener's limits: [limits] and [server] trusted_proxies. */
static void
public_limits(const struct config *cfg, struct http_limits *lim)
{
	memset(lim, 0, sizeof(*lim));
	lim->max_connections = cfg->max_connections;
	lim->max_conns_per_ip = cfg->max_conns_per_ip;
	lim->header_timeout_ms = cfg->header_timeout_ms;
	lim->body_timeout_ms = cfg->body_timeout_ms;
	lim->idle_timeout_ms = cfg->idle_timeout_ms;
	lim->shutdown_timeout_ms = cfg->shutdown_timeout_ms;
	lim->max_header_bytes = cfg->max_header_bytes;
	lim->max_body_bytes = cfg->max_body_bytes;
	lim->memory_budget = cfg->memory_budget;
	lim->trusted_proxies = cfg->trusted_proxies;
	lim->ntrusted_proxies = cfg->ntrusted_proxies;
}

/* The admin listener's: its own caps, the public timeouts, and a budget
   of the public one's size (an account of its own). */
static void
admin_limits(const struct config *cfg, struct http_limits *lim)
{
	public_limits(cfg, lim);
	lim->max_connections = cfg->admin_max_connections;
	lim->max_conns_per_ip = cfg->admin_max_conns_per_ip;
	lim->max_body_bytes = cfg->admin_body_bytes;
}

/*
 * SIGHUP: load everything again; swap only if all of it is good, so a
 * broken edit never takes a running daemon down. Listen addresses, storage
 * and mail settings are read at start only.
 */
static void
reload(struct daemon *d)
{
	struct snapshot		*s;
	struct diag		 dg = { 0 };
	struct http_limits	 lim;
	int			 r, rc;

	sd_notify("RELOADING=1");
	if ((r = snapshot_load(d->config_path, &s, &dg)) != 0) {
		if (dg.count)
			log_warnx("reload: %s has %u problem(s); keeping the "
			    "running configuration", d->config_path, dg.count);
		else
			log_warnx("reload: %s: %s; keeping the running "
			    "configuration", d->config_path, err_str(r));
		sd_notify("READY=1");
		return;
	}
	/* The page's files first: they are what a reload most likely cannot
	   load, and nothing has changed yet when they fail. */
	if ((rc = inbox_set_snapshot(d->inbox, s)) == 0) {
		public_limits(s->cfg, &lim);
		rc = http_server_set_limits(d->http, &lim);
	}
	if (rc == 0) {
		admin_limits(s->cfg, &lim);
		rc = http_server_set_limits(d->admin, &lim);
	}
	if (rc != 0) {
		log_warnx("reload: %s; keeping the running configuration",
		    err_str(rc));
		inbox_set_snapshot(d->inbox, d->cur);
		snapshot_unref(s);
		sd_notify("READY=1");
		return;
	}
	intake_set_snapshot(d->intake, s);
	snapshot_unref(d->cur);
	d->cur = s;
	if (!d->debug)
		log_setlevel(s->cfg->log_level);
	log_info("reloaded %s (listen, [storage] and [mail] changes take "
	    "effect at restart)", d->config_path);
	sd_notify("READY=1");
}

static void
on_signal(uv_signal_t *h, int signum)
{
	struct daemon *d = h->data;

	if (d->stopping)
		log_info("already stopping; signal %d ignored", signum);
	else if (signum == SIGHUP)
		reload(d);
	else
		stop(d);
}

static void
on_watchdog(uv_timer_t *t)
{
	(void)t;
	sd_notify("WATCHDOG=1");
}

/* ---- retention ---- */

static void
purge_done(struct store_purge_job *j)
{
	struct daemon *d = j->arg;

	d->purging = 0;
	if (j->result != 0)
		log_warnx("retention: purge failed: %s", err_str(j->result));
	else if (j->removed)
		log_info("retention: purged %llu inquiries",
		    (unsigned long long)j->removed);
}

/* Off the writer (store_purge_queue): a daily purge of many rows must not
   hold up the commits of inquiries arriving meanwhile. */
static void
on_retention(uv_timer_t *t)
{
	struct daemon *d = t->data;

	if (d->purging || d->boot->cfg->retention_s == 0)
		return;
	d->purge.path = d->boot->cfg->store;
	d->purge.before_ms = clock_now_ms() -
	    (int64_t)d->boot->cfg->retention_s * 1000;
	d->purge.done = purge_done;
	d->purge.arg = d;
	d->purge.audit.actor = "intaked";
	d->purge.audit.action = "purge";
	d->purge.audit.detail = NULL;
	if (store_purge_queue(d->loop, &d->purge) == 0)
		d->purging = 1;
}

/* ---- start ---- */

static void
start_timers(struct daemon *d)
{
	uint64_t	wd = sd_watchdog_usec();

	uv_timer_init(d->loop, &d->watchdog);
	uv_timer_init(d->loop, &d->retention);
	d->retention.data = d;
	if (wd)
		uv_timer_start(&d->watchdog, on_watchdog, wd / 2000,
		    wd / 2000);
	if (d->boot->cfg->retention_s)
		uv_timer_start(&d->retention, on_retention, (uint64_t)clock_env_ms(
		    "INTAKED_RETENTION_FIRST_MS", RETENTION_FIRST_MS,
		    RETENTION_EVERY_MS), RETENTION_EVERY_MS);
}

static void
start_signals(struct daemon *d)
{
	uv_signal_t	*sig[] = { &d->sigterm, &d->sigint, &d->sighup };
	int		 num[] = { SIGTERM, SIGINT, SIGHUP };
	size_t		 i;

	signal(SIGPIPE, SIG_IGN);
	/* A file-size limit must fail the write (the store answers 503 and
	   stays up), not kill the daemon with SIGXFSZ. */
	signal(SIGXFSZ, SIG_IGN);
	for (i = 0; i < 3; i++) {
		uv_signal_init(d->loop, sig[i]);
		sig[i]->data = d;
		uv_signal_start(sig[i], on_signal, num[i]);
	}
}

/* Uploads are staged beside the database, on the same file system, in a
   directory of their own that only intaked can enter. */
static void
stage_dir(const char *db_path, char *out, size_t len)
{
	char	dir[PATH_MAX];

	if (fs_dirname(db_path, dir, sizeof(dir)) == -1 ||
	    snprintf(out, len, "%s/staging", dir) >= (int)len)
		fatalx("[storage] path is too long for its staging directory");
}

static void
start(struct daemon *d)
{
	const struct config	*cfg = d->boot->cfg;
	struct diag		 dg = { 0 };
	struct http_limits	 lim;
	char			 names[SD_MAX_FDS][SD_NAME_MAX + 1];
	int			 fds[SD_MAX_FDS], afds[SD_MAX_FDS];
	int			 n, nfds = 0, nafds = 0, i, rc;

	if ((n = sd_listen_fds_named(names)) < 0)
		fatalx("malformed LISTEN_FDS/LISTEN_PID from the service "
		    "manager");
	/* A socket named "admin" (intaked-admin.socket) is the staff side;
	   every other one is public. */
	for (i = 0; i < n; i++)
		if (strcmp(names[i], "admin") == 0)
			afds[nafds++] = SD_LISTEN_FDS_START + i;
		else
			fds[nfds++] = SD_LISTEN_FDS_START + i;
	/* Before any socket listens: a SIGTERM sent once a client can
	   connect must reach on_signal (the loop runs it after start), not
	   kill the daemon with the default action. */
	start_signals(d);
	if ((rc = store_writer_start(d->loop, cfg->store,
	    cfg->max_pending_writes, 1, &d->writer)) != 0)
		fatalx("store: %s", err_str(rc));
	if (mailer_start(d->loop, cfg, d->writer, &d->mailer, &dg) != 0)
		fatalx("mail: cannot start (see above)");
	stage_dir(cfg->db_path, d->stage, sizeof(d->stage));
	if ((rc = attach_sweep(d->stage)) > 0)
		log_notice("uploads: removed %d staging file(s) an interrupted "
		    "run left", rc);
	if (intake_new(d->loop, d->cur, d->writer, d->mailer, d->stage,
	    &d->intake) != 0)
		fatalx("cannot start taking inquiries: out of memory, or no "
		    "ALTCHA key (see above)");
	public_limits(cfg, &lim);
	if (http_server_start(d->loop, cfg->listen, cfg->nlisten, fds,
	    (size_t)nfds, &lim, intake_handler(d->intake), &d->http) != 0)
		fatalx("cannot listen (see above)");
	intake_set_http(d->intake, d->http);
	if ((rc = inbox_new(d->loop, d->cur, cfg->store, d->intake,
	    &d->inbox)) != 0)
		fatalx("inbox: %s (see above)", err_str(rc));
	admin_limits(cfg, &lim);
	if (nafds > 0)
		log_info("admin: %d socket(s) from the service manager; [admin] "
		    "listen not used", nafds);
	if (http_server_start(d->loop, cfg->admin_listen, cfg->nadmin_listen,
	    afds, (size_t)nafds, &lim, inbox_handler(d->inbox),
	    &d->admin) != 0)
		fatalx("cannot listen for the admin side (see above)");
	start_timers(d);
	log_info("intaked %s ready: %zu form(s), %zu recipient(s), store %s",
	    INTAKE_VERSION, cfg->nforms, d->boot->nrcpts,
	    /* A URI may hold a password: never logged. */
	    cfg->backend == BACKEND_SQLITE ? cfg->db_path : "on PostgreSQL");
	sd_notify("READY=1");
}

/*
 * Each connection is a descriptor, and the soft limit (often 1024) would
 * turn clients away long before [limits] connections does: take what the
 * hard limit allows (LimitNOFILE= under systemd sets both).
 */
static void
raise_nofile(void)
{
	struct rlimit	rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			log_warn("cannot raise the open-files limit");
	}
}

/* intaked -t: everything start-up would load, and nothing started. */
static int
check_config(const char *path)
{
	struct snapshot	*s;
	struct diag	 dg = { 0 };
	int		 r;

	if ((r = snapshot_load(path, &s, &dg)) == 0) {
		r = mailer_check(s->cfg, &dg);
		if (r == 0 && s->cfg->backend == BACKEND_POSTGRESQL)
			r = store_pg_password(s->cfg->db_password_file, &dg);
		if (r == 0)
			r = inbox_check(s->cfg, &dg);
		snapshot_unref(s);
	}
	if (r != 0 || dg.count) {
		if (dg.count)
			fprintf(stderr, "%s: %u problem(s)\n", path, dg.count);
		else
			fprintf(stderr, "%s: %s\n", path, err_str(r));
		return 1;
	}
	printf("%s: configuration OK\n", path);
	return 0;
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct daemon	d = { 0 };
	struct diag	dg = { 0 };
	const char	*why;
	int		ch, r, test = 0, debug = 0, smtp;

	d.config_path = DEFAULT_CONFIG;
	while ((ch = getopt_long(argc, argv, "c:dth", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c': d.config_path = optarg; break;
		case 'd': debug = 1; break;
		case 't': test = 1; break;
		case 'V': printf("intaked %s\n", INTAKE_VERSION); return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	log_init("intaked", debug ? LOG_LVL_DEBUG : LOG_LVL_INFO);
	/* libsodium's default asks the kernel for every random value, five
	   getrandom() calls per submission; its ChaCha20 generator, seeded
	   from the kernel once per thread and rekeyed after every call
	   (fast key erasure), makes the same quality in user space. Before
	   sodium_init(), as the API requires; intaked never forks. */
	if (randombytes_set_implementation(
	    &randombytes_internal_implementation) != 0 || sodium_init() < 0)
		fatalx("libsodium failed to initialise");
	if (test)
		return check_config(d.config_path);
	if ((r = snapshot_load(d.config_path, &d.boot, &dg)) != 0)
		fatalx("%s: %s; not starting", d.config_path, dg.count ?
		    "problems (see above)" : err_str(r));
	/* Only SMTP needs libcurl (libcurl.h): a Maildir setup never maps
	   it. Opened and initialised before any thread, as dlopen's
	   constructors and curl_global_init() want. The transport cannot
	   change on reload. */
	if (d.boot->cfg->backend == BACKEND_POSTGRESQL &&
	    store_pg_password(d.boot->cfg->db_password_file, &dg) != 0)
		fatalx("[storage] password: see above; not starting");
	store_pg_send_time(d.boot->cfg->mail_timeout_ms);
	smtp = d.boot->cfg->transport == MAIL_SMTP;
	if (smtp && (why = libcurl_open()) != NULL)
		fatalx("%s; not starting", why);
	if (smtp && libcurl.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		fatalx("libcurl failed to initialise");
	d.debug = debug;
	if (!debug)
		log_setlevel(d.boot->cfg->log_level);
	raise_nofile();
	d.cur = snapshot_ref(d.boot);
	d.loop = uv_default_loop();
	start(&d);
	uv_run(d.loop, UV_RUN_DEFAULT);
	inbox_free(d.inbox);
	intake_free(d.intake);
	snapshot_unref(d.cur);
	snapshot_unref(d.boot);
	uv_loop_close(d.loop);
	if (smtp)
		libcurl.global_cleanup();
	return 0;
}
