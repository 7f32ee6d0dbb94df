/*
 * The configuration loader: every value type and its bounds, defaults,
 * relative paths, lists, and every kind of problem reported with its exact
 * file:line. Each test writes its files into a fresh mkdtemp directory.
 * Also loads the shipped config/intaked.conf and config/dev.conf (run from
 * the repository root, as `make check-unit` does).
 */
#include <sys/stat.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/socket.h>
#include <arpa/inet.h>

#include <check.h>

#include "altcha.h"
#include "config.h"
#include "filetype.h"
#include "log.h"
#include "testutil.h"

/* What a configuration without recipients is told. */
#define NO_RECIPIENTS	"no staff recipients yet: on a staff member's own " \
	"machine run `intakectl keygen -o staff.key` and put the age1... " \
	"line it prints under [crypto] recipients (the key file stays on " \
	"that machine)"

/* Public keys from age-keygen; their secret halves were thrown away. */
#define R1	"age1w2r7tml9f6wcngls6vag93gyhfqg8r0v66s0slgfqp3vq8ynqunsduazu5"
#define R2	"age10jwsnzmcvppcm2g3rz86fq4tnry7addqa6vzz2srdgw59dj3waxska7c66"

/* The least a config needs; its lines are N+1..N+5 after N lines. */
#define MINIMAL								\
	"[crypto]\n"							\
	"recipients = " R1 "\n"						\
	"[mail]\n"							\
	"to = staff@example.com\n"					\
	"[form contact]\n"

struct sink {
	struct diag	d;
	char		text[32768];
	size_t		len;
};

/* The fixture: a temporary directory holding t.conf. */
static struct {
	char	dir[64];
	char	real[PATH_MAX];		/* realpath(dir) */
	char	conf[128];		/* dir/t.conf */
	char	path[PATH_MAX + 64];	/* scratch for pathof() */
} fx;

static void
sink_emit(struct diag *d, const char *line)
{
	struct sink	*s = d->arg;
	int		 n;

	n = snprintf(s->text + s->len, sizeof(s->text) - s->len, "%s\n",
	    line);
	if (n > 0 && s->len + (size_t)n < sizeof(s->text))
		s->len += (size_t)n;
}

static void
sink_init(struct sink *s)
{
	memset(s, 0, sizeof(*s));
	s->d.emit = sink_emit;
	s->d.arg = s;
}

static void
setup(void)
{
	ck_assert_ptr_nonnull(tu_tmpdir(fx.dir, sizeof(fx.dir),
	    "check_config"));
	ck_assert_ptr_nonnull(realpath(fx.dir, fx.real));
	ck_assert_ptr_nonnull(tu_path(fx.conf, sizeof(fx.conf), fx.dir,
	    "t.conf"));
}

static void
teardown(void)
{
	tu_rmtree(fx.dir);
}

/* fx.real + "/" + name, in a scratch buffer valid until the next call. */
static const char *
pathof(const char *name)
{
	return tu_path(fx.path, sizeof(fx.path), fx.real, name);
}

static void
write_file(const char *path, const char *text, mode_t mode)
{
	ck_assert_msg(tu_write_file(path, text, strlen(text), mode) == 0,
	    "%s: %s", path, strerror(errno));
}

static char *
read_text(const char *path)
{
	char	*text;

	ck_assert_msg((text = tu_read_file(path, NULL)) != NULL, "%s: %s",
	    path, strerror(errno));
	return text;
}

/* Writes text as t.conf and loads it. */
static int
load(const char *text, struct config **cf, struct sink *s)
{
	write_file(fx.conf, text, 0644);
	sink_init(s);
	return config_load(fx.conf, cf, &s->d);
}

/* Loads text that must be valid; returns the snapshot. */
static struct config *
load_ok(const char *text)
{
	struct config	*cf;
	struct sink	 s;
	int		 rc;

	rc = load(text, &cf, &s);
	ck_assert_msg(rc == 0, "rc %d, diagnostics:\n%s", rc, s.text);
	ck_assert_uint_eq(s.d.count, 0);
	ck_assert_ptr_nonnull(cf);
	return cf;
}

/* Loads text that must fail with exactly nerr problems. */
static void
load_bad(const char *text, struct sink *s, unsigned nerr)
{
	struct config	*cf = (struct config *)1;
	int		 rc;

	rc = load(text, &cf, s);
	ck_assert_int_eq(rc, ERR_CONFIG);
	ck_assert_ptr_null(cf);
	ck_assert_msg(s->d.count == nerr, "expected %u problems, got %u:\n%s",
	    nerr, s->d.count, s->text);
}

/* Asserts that "t.conf:LINE: MSG" (or "t.conf: MSG" for line 0) was said. */
static void
expect(const struct sink *s, int line, const char *msg)
{
	char	want[8192];

	if (line > 0)
		snprintf(want, sizeof(want), "%s:%d: %s\n", fx.conf, line,
		    msg);
	else
		snprintf(want, sizeof(want), "%s: %s\n", fx.conf, msg);
	ck_assert_msg(strstr(s->text, want) != NULL,
	    "missing \"%s\" in:\n%s", want, s->text);
}

/* SQLite by default, with its keys beside the file; PostgreSQL needs a
   URL, and its keys have no default (every daemon must share them). */
START_TEST(test_storage_backends)
{
	struct config	*cf = load_ok(MINIMAL);
	struct sink	 s;

	ck_assert_int_eq(cf->backend, BACKEND_SQLITE);
	ck_assert_ptr_eq(cf->store, cf->db_path);
	ck_assert_str_eq(cf->spool_key, "/var/lib/intaked/spool.key");
	ck_assert_str_eq(cf->altcha_key, "/var/lib/intaked/altcha.key");
	config_free(cf);
	cf = load_ok("[storage]\nbackend = postgresql\n"
	    "url = postgresql://intaked@db.example.com/intake\n"
	    "spool_key = keys/spool.key\n" MINIMAL);
	ck_assert_int_eq(cf->backend, BACKEND_POSTGRESQL);
	ck_assert_str_eq(cf->store, "postgresql://intaked@db.example.com/intake");
	ck_assert_str_eq(cf->spool_key, pathof("keys/spool.key"));
	ck_assert_ptr_null(cf->altcha_key);
	config_free(cf);
	cf = load_ok("[storage]\nbackend = postgresql\n"
	    "url = host=db.example.com dbname=intake\n" MINIMAL);
	ck_assert_ptr_null(cf->spool_key);
	config_free(cf);
	load_bad("[storage]\nbackend = postgresql\n" MINIMAL, &s, 1);
	expect(&s, 1, "[storage] backend = postgresql needs url "
	    "(postgresql://... or a libpq conninfo)");
	load_bad("[storage]\nbackend = postgresql\nurl = /srv/intake.db\n"
	    MINIMAL, &s, 1);
	expect(&s, 1, "[storage] url: not a postgresql:// URI nor a libpq "
	    "conninfo (host=... dbname=...)");
	load_bad("[storage]\nurl = postgresql:///intake\n" MINIMAL, &s, 1);
	expect(&s, 1, "[storage] url is for backend = postgresql; SQLite "
	    "takes path");
	load_bad("[storage]\nbackend = mysql\n" MINIMAL, &s, 1);
}
END_TEST

START_TEST(test_defaults)
{
	struct config		*cf = load_ok(MINIMAL);
	const struct form_conf	*f;

	ck_assert_str_eq(cf->path, fx.conf);
	ck_assert_str_eq(cf->dir, fx.real);
	ck_assert_uint_eq(cf->nlisten, 1);
	ck_assert_str_eq(cf->listen[0], "127.0.0.1:8080");
	ck_assert_uint_eq(cf->ntrusted_proxies, 0);
	ck_assert_ptr_null(cf->trusted_proxies);
	ck_assert_str_eq(cf->templates, "/usr/local/share/intaked/templates");
	ck_assert_int_eq(cf->log_level, LOG_LVL_INFO);
	ck_assert_uint_eq(cf->max_connections, 1024);
	ck_assert_uint_eq(cf->header_timeout_ms, 10000);
	ck_assert_uint_eq(cf->body_timeout_ms, 30000);
	ck_assert_uint_eq(cf->idle_timeout_ms, 60000);
	ck_assert_uint_eq(cf->shutdown_timeout_ms, 10000);
	ck_assert_uint_eq(cf->max_header_bytes, 16384);
	ck_assert_uint_eq(cf->max_body_bytes, 1048576);
	ck_assert_uint_eq(cf->max_fields, 64);
	ck_assert_uint_eq(cf->max_field_bytes, 32768);
	ck_assert_uint_eq(cf->max_json_depth, 4);
	ck_assert_uint_eq(cf->max_pending_writes, 1024);
	ck_assert_uint_eq(cf->rate_per_minute, 30);
	ck_assert_uint_eq(cf->rate_burst, 10);
	ck_assert_str_eq(cf->db_path, "/var/lib/intaked/intake.db");
	ck_assert_uint_eq(cf->retention_s, 0);
	ck_assert_uint_eq(cf->nrecipients, 1);
	ck_assert_str_eq(cf->recipients[0], R1);
	ck_assert_ptr_null(cf->recipients_file);
	ck_assert_int_eq(cf->transport, MAIL_SMTP);
	ck_assert_ptr_null(cf->maildir);
	ck_assert_str_eq(cf->url, "smtp://127.0.0.1:25");
	ck_assert_int_eq(cf->tls, TLS_REQUIRED);
	ck_assert_ptr_null(cf->ca_file);
	ck_assert_ptr_null(cf->username);
	ck_assert_ptr_null(cf->password_file);
	ck_assert_str_eq(cf->from, "intaked@localhost");
	ck_assert_uint_eq(cf->nto, 1);
	ck_assert_str_eq(cf->to[0], "staff@example.com");
	ck_assert_int_eq(cf->content, CONTENT_SUMMARY);
	ck_assert_uint_eq(cf->mail_parallel, 2);
	ck_assert_uint_eq(cf->mail_timeout_ms, 30000);
	ck_assert_uint_eq(cf->give_up_after_s, 3 * 86400);
	ck_assert_uint_eq(cf->nforms, 1);
	f = &cf->forms[0];
	ck_assert_str_eq(f->name, "contact");
	ck_assert_int_eq(f->line, 5);
	ck_assert_str_eq(f->schema, pathof("forms/contact.schema.json"));
	ck_assert_ptr_null(f->redirect);
	ck_assert_ptr_null(f->honeypot);
	ck_assert_ptr_null(f->reply_to);
	ck_assert_str_eq(f->subject, "New {{title}} inquiry {{id}}");
	ck_assert_int_eq(f->ack, 0);
	ck_assert_str_eq(f->attachments, "none");
	ck_assert_uint_eq(f->ncors_origins, 0);
	ck_assert_ptr_null(f->cors_origins);
	ck_assert_int_eq(f->altcha, 0);
	ck_assert_uint_eq(f->altcha_maxnumber, 50000);
	ck_assert_uint_eq(f->altcha_ttl_s, 600);
	config_free(cf);
}
END_TEST

START_TEST(test_values)
{
	struct config	*cf = load_ok(
	    "[server]\n"
	    "log_level = debug\n"
	    "[limits]\n"
	    "connections = 100000\n"
	    "header_timeout = 1500ms\n"
	    "body_timeout = 2m\n"
	    "idle_timeout = 1h\n"
	    "shutdown_timeout = 0s\n"
	    "header_bytes = 1M\n"
	    "body_bytes = 64M\n"
	    "connections_per_ip = 0\n"
	    "memory_budget = 1024M\n"
	    "fields = 1\n"
	    "field_bytes = 16\n"
	    "json_depth = 32\n"
	    "pending_writes = 7\n"
	    "rate = 0\n"
	    "rate_burst = 10000\n"
	    "[storage]\n"
	    "retention = 90d\n"
	    "[mail]\n"
	    "url = smtps://mail.example.com:465\n"
	    "tls = opportunistic\n"
	    "ca_file = /etc/ssl/certs/ca-certificates.crt\n"
	    "username = intake\n"
	    "from = intake@example.com\n"
	    "content = sealed\n"
	    "parallel = 64\n"
	    "timeout = 45s\n"
	    "give_up_after = 1h30m\n"
	    MINIMAL
	    "subject = Inquiry {{id}}\n"
	    "ack = yes\n"
	    "attachments = application/pdf, image/jpeg image/png\n");

	ck_assert_int_eq(cf->log_level, LOG_LVL_DEBUG);
	ck_assert_uint_eq(cf->max_connections, 100000);
	ck_assert_uint_eq(cf->header_timeout_ms, 1500);
	ck_assert_uint_eq(cf->body_timeout_ms, 120000);
	ck_assert_uint_eq(cf->idle_timeout_ms, 3600000);
	ck_assert_uint_eq(cf->shutdown_timeout_ms, 0);
	ck_assert_uint_eq(cf->max_header_bytes, 1048576);
	ck_assert_uint_eq(cf->max_body_bytes, 64 * 1048576);
	ck_assert_uint_eq(cf->max_conns_per_ip, 0);
	ck_assert_uint_eq(cf->memory_budget, 1024 * 1048576ULL);
	ck_assert_uint_eq(cf->max_fields, 1);
	ck_assert_uint_eq(cf->max_field_bytes, 16);
	ck_assert_uint_eq(cf->max_json_depth, 32);
	ck_assert_uint_eq(cf->max_pending_writes, 7);
	ck_assert_uint_eq(cf->rate_per_minute, 0);
	ck_assert_uint_eq(cf->rate_burst, 10000);
	ck_assert_uint_eq(cf->retention_s, 90 * 86400);
	ck_assert_str_eq(cf->url, "smtps://mail.example.com:465");
	ck_assert_int_eq(cf->tls, TLS_OPPORTUNISTIC);
	ck_assert_str_eq(cf->ca_file, "/etc/ssl/certs/ca-certificates.crt");
	ck_assert_str_eq(cf->username, "intake");
	ck_assert_str_eq(cf->from, "intake@example.com");
	ck_assert_int_eq(cf->content, CONTENT_SEALED);
	ck_assert_uint_eq(cf->mail_parallel, 64);
	ck_assert_uint_eq(cf->mail_timeout_ms, 45000);
	ck_assert_uint_eq(cf->give_up_after_s, 5400);
	ck_assert_str_eq(cf->forms[0].subject, "Inquiry {{id}}");
	ck_assert_int_eq(cf->forms[0].ack, 1);
	ck_assert_str_eq(cf->forms[0].attachments,
	    "application/pdf, image/jpeg image/png");
	ck_assert_uint_eq(cf->forms[0].attach_types, 1u << FILETYPE_PDF |
	    1u << FILETYPE_JPEG | 1u << FILETYPE_PNG);
	config_free(cf);
}
END_TEST

/* The per-IP caps and the budget have their documented defaults, and a
   budget that could never hold one largest request is refused. */
START_TEST(test_connection_caps_and_budget)
{
	struct config	*cf = load_ok(MINIMAL);
	struct sink	 s;

	ck_assert_uint_eq(cf->max_conns_per_ip, 32);
	ck_assert_uint_eq(cf->admin_max_conns_per_ip, 0);
	ck_assert_uint_eq(cf->memory_budget, 64 * 1048576);
	config_free(cf);
	cf = load_ok("[limits]\nbody_bytes = 2M\nheader_bytes = 1M\n"
	    "memory_budget = 3M\n[admin]\nconnections_per_ip = 4\n"
	    MINIMAL);
	ck_assert_uint_eq(cf->admin_max_conns_per_ip, 4);
	config_free(cf);
	ck_assert_int_eq(load("[limits]\nbody_bytes = 2M\n"
	    "memory_budget = 2M\n" MINIMAL, &cf, &s), ERR_CONFIG);
	ck_assert_ptr_nonnull(strstr(s.text, "t.conf:3: memory_budget"));
	ck_assert_int_eq(load("[limits]\nmemory_budget = 512k\n" MINIMAL, &cf,
	    &s), ERR_CONFIG);
	ck_assert_int_eq(load("[limits]\nconnections_per_ip = 100001\n"
	    MINIMAL, &cf, &s), ERR_CONFIG);
}
END_TEST

START_TEST(test_bool_and_enum)
{
	static const struct {
		const char	*text;
		int		 value;
	} bools[] = {
		{ "yes", 1 }, { "No", 0 }, { "TRUE", 1 }, { "false", 0 },
		{ "on", 1 }, { "OFF", 0 }, { "1", 1 }, { "0", 0 },
	}, levels[] = {
		{ "error", LOG_LVL_ERR }, { "warning", LOG_LVL_WARN },
		{ "notice", LOG_LVL_NOTICE }, { "info", LOG_LVL_INFO },
		{ "debug", LOG_LVL_DEBUG },
	};
	struct config	*cf;
	char		 text[512];
	size_t		 i;

	for (i = 0; i < sizeof(bools) / sizeof(bools[0]); i++) {
		snprintf(text, sizeof(text), MINIMAL "ack = %s\n",
		    bools[i].text);
		cf = load_ok(text);
		ck_assert_int_eq(cf->forms[0].ack, bools[i].value);
		config_free(cf);
	}
	for (i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
		snprintf(text, sizeof(text), "[server]\nlog_level = %s\n"
		    MINIMAL, levels[i].text);
		cf = load_ok(text);
		ck_assert_int_eq(cf->log_level, levels[i].value);
		config_free(cf);
	}
	cf = load_ok("[mail]\ntransport = maildir\nmaildir = m\n"
	    "content = full\ntls = off\n" MINIMAL);
	ck_assert_int_eq(cf->transport, MAIL_MAILDIR);
	ck_assert_int_eq(cf->content, CONTENT_FULL);
	ck_assert_int_eq(cf->tls, TLS_OFF);
	config_free(cf);
}
END_TEST

START_TEST(test_bad_bool_and_enum)
{
	struct sink	s;

	load_bad(
	    "[server]\n"
	    "log_level = loud\n"
	    "[mail]\n"
	    "tls = maybe\n"
	    "transport = SMTP\n"
	    "content = everything\n"
	    MINIMAL
	    "ack = perhaps\n", &s, 5);
	expect(&s, 2, "log_level: 'loud' is not one of error, warning, "
	    "notice, info, debug");
	expect(&s, 4, "tls: 'maybe' is not one of required, opportunistic, "
	    "off");
	expect(&s, 5, "transport: 'SMTP' is not one of smtp, maildir");
	expect(&s, 6, "content: 'everything' is not one of full, summary, "
	    "sealed");
	expect(&s, 12, "ack: 'perhaps' is not yes or no");
}
END_TEST

/* The edges of every bounded key are accepted. */
START_TEST(test_bounds_edges)
{
	struct config	*cf;

	cf = load_ok("[limits]\nconnections = 1\nheader_timeout = 100ms\n"
	    "idle_timeout = 1h\nheader_bytes = 1k\nbody_bytes = 1024\n"
	    "field_bytes = 1M\njson_depth = 1\npending_writes = 100000\n"
	    "rate = 100000\nrate_burst = 1\n[storage]\nretention = 1h\n"
	    "[mail]\nparallel = 1\ntimeout = 1h\ngive_up_after = 365d\n"
	    MINIMAL);
	ck_assert_uint_eq(cf->max_connections, 1);
	ck_assert_uint_eq(cf->header_timeout_ms, 100);
	ck_assert_uint_eq(cf->idle_timeout_ms, 3600000);
	ck_assert_uint_eq(cf->max_header_bytes, 1024);
	ck_assert_uint_eq(cf->max_body_bytes, 1024);
	ck_assert_uint_eq(cf->max_field_bytes, 1048576);
	ck_assert_uint_eq(cf->max_json_depth, 1);
	ck_assert_uint_eq(cf->max_pending_writes, 100000);
	ck_assert_uint_eq(cf->rate_per_minute, 100000);
	ck_assert_uint_eq(cf->rate_burst, 1);
	ck_assert_uint_eq(cf->retention_s, 3600);
	ck_assert_uint_eq(cf->mail_parallel, 1);
	ck_assert_uint_eq(cf->mail_timeout_ms, 3600000);
	ck_assert_uint_eq(cf->give_up_after_s, 365 * 86400);
	config_free(cf);
}
END_TEST

START_TEST(test_bounds_errors)
{
	struct sink	s;

	load_bad(
	    "[limits]\n"
	    "connections = 100001\n"
	    "header_bytes = 1023\n"
	    "body_bytes = 65M\n"
	    "json_depth = 33\n"
	    "fields = 0\n"
	    "rate_burst = 0\n"
	    "header_timeout = 99ms\n"
	    "idle_timeout = 2h\n"
	    "field_bytes = 15\n"
	    "rate = 100001\n"
	    "[storage]\n"
	    "retention = 59m\n"
	    "[mail]\n"
	    "parallel = 65\n"
	    "timeout = 999ms\n"
	    "give_up_after = 366d\n"
	    MINIMAL, &s, 14);
	expect(&s, 2, "connections: 100001 is out of range (1 to 100000)");
	expect(&s, 3, "header_bytes: 1023 is out of range (1k to 1M)");
	expect(&s, 4, "body_bytes: 65M is out of range (1k to 64M)");
	expect(&s, 5, "json_depth: 33 is out of range (1 to 32)");
	expect(&s, 6, "fields: 0 is out of range (1 to 1000)");
	expect(&s, 7, "rate_burst: 0 is out of range (1 to 10000)");
	expect(&s, 8, "header_timeout: 99ms is out of range (100ms to 1h)");
	expect(&s, 9, "idle_timeout: 2h is out of range (100ms to 1h)");
	expect(&s, 10, "field_bytes: 15 is out of range (16 to 1M)");
	expect(&s, 11, "rate: 100001 is out of range (0 to 100000)");
	expect(&s, 13, "retention: 59m is out of range (1h to 36500d)");
	expect(&s, 15, "parallel: 65 is out of range (1 to 64)");
	expect(&s, 16, "timeout: 999ms is out of range (1s to 1h)");
	expect(&s, 17, "give_up_after: 366d is out of range (1m to 365d)");
}
END_TEST

START_TEST(test_bad_numbers)
{
	struct sink	s;

	load_bad(
	    "[limits]\n"
	    "connections = -1\n"
	    "fields = 1e3\n"
	    "json_depth = 4 4\n"
	    "rate = 99999999999999999999999\n"
	    "header_bytes = 16kb\n"
	    "body_bytes = 1G\n"
	    "field_bytes = k\n"
	    "body_timeout = 30\n"
	    "idle_timeout = 5y\n"
	    "header_timeout = 10 s\n"
	    "shutdown_timeout = 99999999999999999d\n"
	    MINIMAL, &s, 11);
	expect(&s, 2, "connections: '-1' is not a whole number");
	expect(&s, 3, "fields: '1e3' is not a whole number");
	expect(&s, 4, "json_depth: '4 4' is not a whole number");
	expect(&s, 5, "rate: '99999999999999999999999' is not a whole number");
	expect(&s, 6, "header_bytes: '16kb' is not a size (bytes, or with k "
	    "or M: 16k, 1M)");
	expect(&s, 7, "body_bytes: '1G' is not a size (bytes, or with k or M: "
	    "16k, 1M)");
	expect(&s, 8, "field_bytes: 'k' is not a size (bytes, or with k or M: "
	    "16k, 1M)");
	expect(&s, 9, "body_timeout: '30' is not a duration (500ms, 30s, 5m, "
	    "12h, 90d)");
	expect(&s, 10, "idle_timeout: '5y' is not a duration (500ms, 30s, 5m, "
	    "12h, 90d)");
	expect(&s, 11, "header_timeout: '10 s' is not a duration (500ms, 30s, "
	    "5m, 12h, 90d)");
	expect(&s, 12, "shutdown_timeout: '99999999999999999d' is not a "
	    "duration (500ms, 30s, 5m, 12h, 90d)");
}
END_TEST

START_TEST(test_duration)
{
	static const struct {
		const char	*text;
		uint64_t	 ms;
	} good[] = {
		{ "0s", 0 }, { "1500ms", 1500 }, { "45s", 45000 },
		{ "30m", 1800000 }, { "12h", 43200000 },
		{ "90d", 90ULL * 86400000 }, { "1h30m", 5400000 },
		{ "1d12h", 129600000 }, { "2s500ms", 2500 },
		{ "18446744073709551615ms", UINT64_MAX },
	};
	static const char *const bad[] = {
		"", "10", "s", "5y", "-1s", "+1s", "1.5h", " 1s", "1s ", "1S",
		"1 s", "1sec", "1mss", "h1", "18446744073709551616ms",
		"213503982334602d", "18446744073709551615ms1ms",
	};
	uint64_t	ms;
	size_t		i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		ms = 12345;
		ck_assert_msg(config_parse_duration(good[i].text, &ms) ==
		    0, "%s refused", good[i].text);
		ck_assert_msg(ms == good[i].ms, "%s gave %llu", good[i].text,
		    (unsigned long long)ms);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ms = 12345;
		ck_assert_msg(config_parse_duration(bad[i], &ms) ==
		    ERR_CONFIG, "'%s' accepted", bad[i]);
		ck_assert_uint_eq(ms, 12345);
	}
	ck_assert_int_eq(config_parse_duration(NULL, &ms), ERR_CONFIG);
}
END_TEST

START_TEST(test_relative_paths)
{
	struct config	*cf;
	char		 want[2 * PATH_MAX];

	cf = load_ok(
	    "[server]\n"
	    "templates = tpl\n"
	    "listen = unix:run/intaked.sock unix:/run/intaked/x.sock\n"
	    "[storage]\n"
	    "path = ../db/intake.db\n"
	    "[mail]\n"
	    "transport = maildir\n"
	    "maildir = /srv/mail\n"
	    "password_file = secret/smtp\n"
	    "ca_file = ./ca.pem\n"
	    MINIMAL
	    "schema = schemas/contact.json\n"
	    "[form other]\n"
	    "schema = /etc/intaked/forms/o.json\n");
	ck_assert_str_eq(cf->templates, pathof("tpl"));
	snprintf(want, sizeof(want), "unix:%s", pathof("run/intaked.sock"));
	ck_assert_str_eq(cf->listen[0], want);
	ck_assert_str_eq(cf->listen[1], "unix:/run/intaked/x.sock");
	ck_assert_str_eq(cf->db_path, pathof("../db/intake.db"));
	ck_assert_str_eq(cf->maildir, "/srv/mail");
	ck_assert_str_eq(cf->password_file, pathof("secret/smtp"));
	ck_assert_str_eq(cf->ca_file, pathof("./ca.pem"));
	ck_assert_str_eq(cf->forms[0].schema, pathof("schemas/contact.json"));
	ck_assert_str_eq(cf->forms[1].schema, "/etc/intaked/forms/o.json");
	config_free(cf);
}
END_TEST

/* A config named relatively still yields absolute paths. */
START_TEST(test_relative_config_path)
{
	struct config	*cf;
	struct sink	 s;

	write_file(fx.conf, "[server]\ntemplates = tpl\n" MINIMAL, 0644);
	ck_assert_int_eq(chdir(fx.dir), 0);
	sink_init(&s);
	ck_assert_int_eq(config_load("./t.conf", &cf, &s.d), 0);
	ck_assert_str_eq(cf->path, "./t.conf");
	ck_assert_str_eq(cf->dir, fx.real);
	ck_assert_str_eq(cf->templates, pathof("tpl"));
	ck_assert_str_eq(cf->forms[0].schema,
	    pathof("forms/contact.schema.json"));
	config_free(cf);
	ck_assert_int_eq(config_load("t.conf", &cf, &s.d), 0);
	ck_assert_str_eq(cf->dir, fx.real);
	config_free(cf);
}
END_TEST

START_TEST(test_lists)
{
	struct config	*cf;

	cf = load_ok(
	    "[server]\n"
	    "listen = 127.0.0.1:8080, [::1]:8081\n"
	    "listen = localhost:9000\tunix:/run/x.sock\n"
	    "[crypto]\n"
	    "recipients = " R2 "\n"
	    "[mail]\n"
	    "to = a@example.com,b@example.com\n"
	    MINIMAL
	    "cors_origins = https://www.example.com, HTTP://Example.COM:8443\n"
	    "cors_origins = https://[2001:db8::1]\n");
	ck_assert_uint_eq(cf->nlisten, 4);
	ck_assert_str_eq(cf->listen[0], "127.0.0.1:8080");
	ck_assert_str_eq(cf->listen[1], "[::1]:8081");
	ck_assert_str_eq(cf->listen[2], "localhost:9000");
	ck_assert_str_eq(cf->listen[3], "unix:/run/x.sock");
	ck_assert_uint_eq(cf->nrecipients, 2);
	ck_assert_str_eq(cf->recipients[0], R2);
	ck_assert_str_eq(cf->recipients[1], R1);
	ck_assert_uint_eq(cf->nto, 3);
	ck_assert_str_eq(cf->to[0], "a@example.com");
	ck_assert_str_eq(cf->to[1], "b@example.com");
	ck_assert_str_eq(cf->to[2], "staff@example.com");
	ck_assert_uint_eq(cf->forms[0].ncors_origins, 3);
	ck_assert_str_eq(cf->forms[0].cors_origins[0],
	    "https://www.example.com");
	ck_assert_str_eq(cf->forms[0].cors_origins[1],
	    "http://example.com:8443");
	ck_assert_str_eq(cf->forms[0].cors_origins[2],
	    "https://[2001:db8::1]");
	config_free(cf);
}
END_TEST

START_TEST(test_cidrs)
{
	struct config		*cf;
	const struct cidr	*c;
	unsigned char		 v6[16];

	cf = load_ok(
	    "[server]\n"
	    "trusted_proxies = 127.0.0.1 10.0.0.0/8, ::1\n"
	    "trusted_proxies = fd00::/8 0.0.0.0/0\n"
	    MINIMAL);
	ck_assert_uint_eq(cf->ntrusted_proxies, 5);
	c = cf->trusted_proxies;
	ck_assert_int_eq(c[0].family, AF_INET);
	ck_assert_uint_eq(c[0].prefix, 32);
	ck_assert_mem_eq(c[0].addr, "\x7f\0\0\x01", 4);
	ck_assert_int_eq(c[1].family, AF_INET);
	ck_assert_uint_eq(c[1].prefix, 8);
	ck_assert_mem_eq(c[1].addr, "\x0a\0\0\0", 4);
	ck_assert_int_eq(c[2].family, AF_INET6);
	ck_assert_uint_eq(c[2].prefix, 128);
	ck_assert_int_eq(inet_pton(AF_INET6, "::1", v6), 1);
	ck_assert_mem_eq(c[2].addr, v6, 16);
	ck_assert_int_eq(c[3].family, AF_INET6);
	ck_assert_uint_eq(c[3].prefix, 8);
	ck_assert_int_eq(inet_pton(AF_INET6, "fd00::", v6), 1);
	ck_assert_mem_eq(c[3].addr, v6, 16);
	ck_assert_int_eq(c[4].family, AF_INET);
	ck_assert_uint_eq(c[4].prefix, 0);
	config_free(cf);
}
END_TEST

START_TEST(test_cidrs_bad)
{
	struct sink	s;

	load_bad(
	    "[server]\n"
	    "trusted_proxies = 10.0.0.1/8\n"
	    "trusted_proxies = 1.2.3.4/33\n"
	    "trusted_proxies = proxy.example.com\n"
	    "trusted_proxies = ::1/129 10.0.0.0/\n"
	    "trusted_proxies = 10.0.0.0/x 1.2.3\n"
	    MINIMAL, &s, 7);
	expect(&s, 2, "trusted_proxies: '10.0.0.1/8' has bits set past its "
	    "prefix length");
	expect(&s, 3, "trusted_proxies: '1.2.3.4/33' has a bad prefix length");
	expect(&s, 4, "trusted_proxies: 'proxy.example.com' is not an IP "
	    "address or CIDR range");
	expect(&s, 5, "trusted_proxies: '::1/129' has a bad prefix length");
	expect(&s, 5, "trusted_proxies: '10.0.0.0/' has a bad prefix length");
	expect(&s, 6, "trusted_proxies: '10.0.0.0/x' has a bad prefix length");
	expect(&s, 6, "trusted_proxies: '1.2.3' is not an IP address or CIDR "
	    "range");
}
END_TEST

START_TEST(test_listen_bad)
{
	struct sink	s;
	char		text[1024], longpath[120];

	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[sizeof(longpath) - 1] = '\0';
	snprintf(text, sizeof(text),
	    "[server]\n"
	    "listen = 127.0.0.1\n"
	    "listen = 127.0.0.1:0\n"
	    "listen = 127.0.0.1:65536\n"
	    "listen = ::1:80\n"
	    "listen = [::1]80\n"
	    "listen = [zz]:80\n"
	    "listen = www.example.com:80\n"
	    "listen = unix:\n"
	    "listen = unix:/%s\n"
	    "listen = :8080\n"
	    "listen = 127.0.0.1:http\n"
	    MINIMAL, longpath);
	load_bad(text, &s, 11);
	expect(&s, 2, "listen: '127.0.0.1' is not host:port, [address]:port "
	    "or unix:path");
	expect(&s, 3, "listen: '127.0.0.1:0' has a bad port (1 to 65535)");
	expect(&s, 4, "listen: '127.0.0.1:65536' has a bad port (1 to 65535)");
	expect(&s, 5, "listen: '::1:80' needs brackets around an IPv6 address "
	    "([::1]:8080)");
	expect(&s, 6, "listen: '[::1]80' is not [address]:port");
	expect(&s, 7, "listen: '[zz]:80' is not a valid IPv6 address");
	expect(&s, 8, "listen: 'www.example.com:80' has a host that is not an "
	    "IPv4 address or localhost");
	expect(&s, 9, "listen: 'unix:' needs a socket path");
	snprintf(text, sizeof(text), "listen: socket path /%s is too long "
	    "(at most 107 bytes)", longpath);
	expect(&s, 10, text);
	expect(&s, 11, "listen: ':8080' has a bad host");
	expect(&s, 12, "listen: '127.0.0.1:http' has a bad port (1 to 65535)");
}
END_TEST

/* Many problems of different kinds, all reported in one pass. */
START_TEST(test_structure_errors)
{
	struct sink	s;

	load_bad(
	    "stray = 1\n"			/* 1 */
	    "[srever]\n"			/* 2 */
	    "listen = 127.0.0.1:80\n"		/* 3: skipped */
	    "[server]\n"			/* 4 */
	    "lisen = 127.0.0.1:80\n"		/* 5 */
	    "listen\n"				/* 6 */
	    "= 127.0.0.1:80\n"			/* 7 */
	    "[limits\n"				/* 8 */
	    "connections = 0\n"			/* 9: skipped */
	    "[limits] junk\n"			/* 10 */
	    "[form]\n"				/* 11 */
	    "[form Contact.Us]\n"		/* 12 */
	    "redirect = ftp://x\n"		/* 13: skipped */
	    "[mail]\n"				/* 14 */
	    "to : staff@example.com\n"		/* 15 */
	    "[crypto]\n"			/* 16 */
	    "recipients = " R1 "\n"		/* 17 */
	    "[form ok]\n"			/* 18 */
	    "colour = blue\n",			/* 19 */
	    &s, 12);
	expect(&s, 1, "'stray' is outside any [section]");
	expect(&s, 2, "unknown section [srever]");
	expect(&s, 5, "unknown key 'lisen' in [server]");
	expect(&s, 6, "expected '=' after the key name");
	expect(&s, 7, "expected 'key = value'");
	expect(&s, 8, "section header without ']'");
	expect(&s, 10, "unexpected text after the section header");
	expect(&s, 11, "a form section needs a name: [form NAME]");
	expect(&s, 12, "form name 'Contact.Us' must be 1 to 64 of a-z, 0-9, _ "
	    "and -");
	expect(&s, 15, "expected '=' after the key name");
	expect(&s, 19, "unknown key 'colour' in [form ok]");
	expect(&s, 14, "[mail] needs at least one 'to' address");
}
END_TEST

START_TEST(test_duplicates)
{
	struct sink	s;

	load_bad(
	    "[limits]\n"			/* 1 */
	    "connections = 10\n"		/* 2 */
	    "connections = 20\n"		/* 3 */
	    MINIMAL				/* 4-8, [form contact] at 8 */
	    "subject = One\n"			/* 9 */
	    "subject = Two\n"			/* 10 */
	    "[form other]\n"			/* 11 */
	    "[form contact]\n"			/* 12 */
	    "redirect = not a path\n"		/* 13: skipped */
	    "[limits]\n"			/* 14: sections merge */
	    "fields = 5\n"			/* 15 */
	    "fields = 6\n",			/* 16 */
	    &s, 4);
	expect(&s, 3, "connections: already set at line 2");
	expect(&s, 10, "subject: already set at line 9");
	expect(&s, 12, "duplicate form 'contact' (first at line 8)");
	expect(&s, 16, "fields: already set at line 15");
}
END_TEST

START_TEST(test_missing_required)
{
	struct sink	s;

	load_bad("# nothing here\n", &s, 3);
	expect(&s, 0, NO_RECIPIENTS);
	expect(&s, 0, "[mail] needs at least one 'to' address");
	expect(&s, 0, "no [form NAME] section: at least one form is required");

	load_bad("[server]\n[crypto]\n[mail]\nfrom = a@example.com\n"
	    "[form a]\n", &s, 2);
	expect(&s, 2, NO_RECIPIENTS);
	expect(&s, 3, "[mail] needs at least one 'to' address");

	/* An empty list value is "not set" and lands on the same checks. */
	load_bad("[crypto]\nrecipients =\n[mail]\nto =\n[form a]\n", &s, 2);
	expect(&s, 1, NO_RECIPIENTS);
	expect(&s, 4, "[mail] needs at least one 'to' address");
}
END_TEST

START_TEST(test_mail_rules)
{
	struct config	*cf;
	struct sink	 s;

	load_bad("[mail]\ntransport = maildir\n" MINIMAL, &s, 1);
	expect(&s, 2, "transport = maildir needs a 'maildir' directory");

	load_bad("[mail]\ntls = off\ncontent = full\n" MINIMAL, &s, 1);
	expect(&s, 3, "content = full needs tls = required: inquiries must "
	    "not travel in clear");
	load_bad("[mail]\ncontent = full\ntls = opportunistic\n" MINIMAL,
	    &s, 1);
	expect(&s, 2, "content = full needs tls = required: inquiries must "
	    "not travel in clear");

	load_bad("[mail]\nurl = smtps://mail.example.com\ntls = off\n" MINIMAL,
	    &s, 1);
	expect(&s, 3, "tls = off contradicts an smtps:// url");

	load_bad("[mail]\nurl = http://mail.example.com\nurl2 = x\n"
	    "[mail]\n" MINIMAL, &s, 2);
	expect(&s, 2, "url: 'http://mail.example.com' must start with smtp:// "
	    "or smtps://");
	expect(&s, 3, "unknown key 'url2' in [mail]");
	load_bad("[mail]\nurl = smtp://\n" MINIMAL, &s, 1);
	expect(&s, 2, "url: 'smtp://' is not a valid SMTP URL");

	cf = load_ok("[mail]\ncontent = full\n" MINIMAL);
	ck_assert_int_eq(cf->content, CONTENT_FULL);
	config_free(cf);
	cf = load_ok("[mail]\ncontent = full\ntls = off\ntransport = maildir\n"
	    "maildir = mail\n" MINIMAL);
	ck_assert_str_eq(cf->maildir, pathof("mail"));
	config_free(cf);
}
END_TEST

START_TEST(test_addresses)
{
	struct sink	s;

	load_bad(
	    "[mail]\n"
	    "from = intaked\n"
	    "to = a@b@example.com, @example.com staff@\n"
	    "to = Staff <staff@example.com>\n"
	    MINIMAL, &s, 6);
	expect(&s, 2, "from: 'intaked' is not a mail address "
	    "(name@example.com)");
	expect(&s, 3, "to: 'a@b@example.com' is not a mail address "
	    "(name@example.com)");
	expect(&s, 3, "to: '@example.com' is not a mail address "
	    "(name@example.com)");
	expect(&s, 3, "to: 'staff@' is not a mail address (name@example.com)");
	expect(&s, 4, "to: 'Staff' is not a mail address (name@example.com)");
	expect(&s, 4, "to: '<staff@example.com>' is not a mail address "
	    "(name@example.com)");
}
END_TEST

/* The config applies the mailer's own address rule: what -t accepts can
   be sent, and what could not be sent fails here with its line. */
START_TEST(test_addresses_as_the_mailer_sees_them)
{
	struct sink	 s;
	char		 text[4096];
	size_t		 i, o;

	load_bad(
	    "[mail]\n"
	    "from = intaked@exa_mple.com\n"
	    "to = staff@example-.com staff..x@example.com\n"
	    MINIMAL, &s, 3);
	expect(&s, 2, "from: 'intaked@exa_mple.com' is not a mail address "
	    "(name@example.com)");
	expect(&s, 3, "to: 'staff@example-.com' is not a mail address "
	    "(name@example.com)");
	expect(&s, 3, "to: 'staff..x@example.com' is not a mail address "
	    "(name@example.com)");
	/* More staff than one SMTP envelope carries. */
	o = (size_t)snprintf(text, sizeof(text), "[mail]\n");
	for (i = 0; i < 32; i++)
		o += (size_t)snprintf(text + o, sizeof(text) - o,
		    "to = s%zu@example.com\n", i);
	/* MINIMAL's own "to" is the 33rd. */
	snprintf(text + o, sizeof(text) - o, "%s", MINIMAL);
	load_bad(text, &s, 1);
	expect(&s, 37, "to: too many values (at most 32)");
}
END_TEST

START_TEST(test_password_file)
{
	struct config	*cf;
	struct sink	 s;
	char		 secret[PATH_MAX + 64], text[PATH_MAX + 512];

	snprintf(secret, sizeof(secret), "%s/smtp-password", fx.real);
	snprintf(text, sizeof(text), "[mail]\nusername = intake\n"
	    "password_file = smtp-password\n" MINIMAL);

	/* Not there (yet): systemd may pass a credential instead. */
	cf = load_ok(text);
	ck_assert_str_eq(cf->password_file, secret);
	config_free(cf);

	write_file(secret, "not-a-real-password\n", 0600);
	cf = load_ok(text);
	ck_assert_str_eq(cf->password_file, secret);
	config_free(cf);

	ck_assert_int_eq(chmod(secret, 0644), 0);
	load_bad(text, &s, 1);
	snprintf(text, sizeof(text), "password_file: %s is accessible by "
	    "group or others (chmod 600 it)", secret);
	expect(&s, 3, text);

	ck_assert_int_eq(chmod(secret, 0640), 0);
	snprintf(text, sizeof(text), "[mail]\npassword_file = %s\n" MINIMAL,
	    secret);
	load_bad(text, &s, 1);
	snprintf(text, sizeof(text), "password_file: %s is accessible by "
	    "group or others (chmod 600 it)", secret);
	expect(&s, 2, text);

	ck_assert_int_eq(chmod(secret, 0604), 0);
	snprintf(text, sizeof(text), "[mail]\npassword_file = %s\n" MINIMAL,
	    secret);
	load_bad(text, &s, 1);

	/* The one rule: no access at all for group or others, as the
	   mailer and the spool key demand too. */
	ck_assert_int_eq(chmod(secret, 0620), 0);
	load_bad(text, &s, 1);
	snprintf(text, sizeof(text), "password_file: %s is accessible by "
	    "group or others (chmod 600 it)", secret);
	expect(&s, 2, text);
}
END_TEST

START_TEST(test_recipients)
{
	struct config	*cf;
	struct sink	 s;
	char		 text[2 * PATH_MAX];

	load_bad("[crypto]\nrecipients = age1notakey\n"
	    "recipients = " R1 "x AGE-SECRET-KEY-1XYZ\n"
	    "[mail]\nto = staff@example.com\n[form a]\n", &s, 3);
	expect(&s, 2, "recipients: 'age1notakey' is not an age recipient "
	    "(a typo?)");
	expect(&s, 3, "recipients: '" R1 "x' is not an age recipient "
	    "(a typo?)");
	/* A secret key is named as one and never echoed. */
	expect(&s, 3, "recipients: this is a secret key; put its public "
	    "recipient (age1...) here; the secret key must stay off the "
	    "server");
	ck_assert_ptr_null(strstr(s.text, "AGE-SECRET-KEY-1XYZ"));

	/* A recipients file alone is enough, and is read at load time. */
	write_file(pathof("staff.recipients"), "# staff\n" R1 "\n\n" R2 "\n",
	    0644);
	cf = load_ok("[crypto]\nrecipients_file = staff.recipients\n"
	    "[mail]\nto = staff@example.com\n[form a]\n");
	ck_assert_uint_eq(cf->nrecipients, 0);
	ck_assert_str_eq(cf->recipients_file, pathof("staff.recipients"));
	config_free(cf);

	snprintf(text, sizeof(text), "[crypto]\nrecipients_file = "
	    "missing.recipients\n[mail]\nto = staff@example.com\n[form a]\n");
	ck_assert_int_eq(load(text, &cf, &s), ERR_CONFIG);
	ck_assert_ptr_null(cf);
	ck_assert_msg(strstr(s.text, fx.conf) != NULL &&
	    strstr(s.text, ":2: recipients_file: ") != NULL &&
	    strstr(s.text, "No such file or directory") != NULL, "%s", s.text);
	/* Said once: no second line that says "I/O error" about it. */
	ck_assert_uint_eq(s.d.count, 1);
	ck_assert_ptr_null(strstr(s.text, "I/O error"));

	write_file(pathof("bad.recipients"), R1 "\nnot-a-key\n", 0644);
	ck_assert_int_eq(load("[crypto]\nrecipients_file = bad.recipients\n"
	    "[mail]\nto = staff@example.com\n[form a]\n", &cf, &s),
	    ERR_CONFIG);
	/* The recipients file's own line is named too, on the same line. */
	snprintf(text, sizeof(text), ":2: recipients_file: %s:2: ",
	    pathof("bad.recipients"));
	ck_assert_msg(strstr(s.text, text) != NULL, "%s", s.text);
	ck_assert_uint_eq(s.d.count, 1);
	/* A secret key in the file: named, never echoed. */
	write_file(pathof("secret.recipients"), "AGE-SECRET-KEY-1QQQQSECRET\n",
	    0644);
	ck_assert_int_eq(load("[crypto]\nrecipients_file = secret.recipients\n"
	    "[mail]\nto = staff@example.com\n[form a]\n", &cf, &s),
	    ERR_CONFIG);
	ck_assert_ptr_nonnull(strstr(s.text, "this is a secret key"));
	ck_assert_ptr_null(strstr(s.text, "QQQQSECRET"));
}
END_TEST

START_TEST(test_form_values)
{
	struct config		*cf;
	const struct form_conf	*f;
	struct sink		 s;

	cf = load_ok(MINIMAL
	    "redirect = /thanks.html\n"
	    "honeypot = website\n"
	    "reply_to = email\n"
	    "[form b]\n"
	    "redirect = https://www.example.com/thank-you?from=form\n"
	    "attachments = none\n");
	f = config_form(cf, "contact");
	ck_assert_ptr_eq(f, &cf->forms[0]);
	ck_assert_str_eq(f->redirect, "/thanks.html");
	ck_assert_str_eq(f->honeypot, "website");
	ck_assert_str_eq(f->reply_to, "email");
	f = config_form(cf, "b");
	ck_assert_ptr_eq(f, &cf->forms[1]);
	ck_assert_int_eq(f->line, 9);
	ck_assert_str_eq(f->redirect,
	    "https://www.example.com/thank-you?from=form");
	ck_assert_ptr_null(config_form(cf, "c"));
	ck_assert_ptr_null(config_form(cf, "Contact"));
	config_free(cf);

	load_bad(MINIMAL				/* 1-5 */
	    "redirect = //evil.example.com/\n"		/* 6 */
	    "honeypot = web site\n"			/* 7 */
	    "reply_to = e:mail\n"			/* 8 */
	    "attachments = pdf\n"			/* 9 */
	    "cors_origins = https://www.example.com/ ftp://example.com\n"
	    "cors_origins = https:// https://a.example.com/path\n" /* 11 */
	    "[form b]\n"				/* 12 */
	    "redirect = http://www.example.com/\n"	/* 13 */
	    "subject = tab\there\n"			/* 14 */
	    "[form c]\n"				/* 15 */
	    "redirect = /\\evil.example.com\n"		/* 16 */
	    "[form d]\n"				/* 17 */
	    "redirect = javascript:alert(1)\n"		/* 18 */
	    "honeypot = email\n"			/* 19 */
	    "reply_to = email\n",			/* 20 */
	    &s, 13);
	expect(&s, 6, "redirect: '//evil.example.com/' must be a path starting "
	    "with / or an https:// URL");
	expect(&s, 7, "honeypot: 'web site' is not a field name (letters, "
	    "digits, _ . -)");
	expect(&s, 8, "reply_to: 'e:mail' is not a field name (letters, "
	    "digits, _ . -)");
	expect(&s, 9, "attachments: 'pdf' is not none or a list of the types "
	    "intaked recognises by their bytes (application/pdf image/jpeg "
	    "image/png image/heic application/dicom)");
	expect(&s, 10, "cors_origins: 'https://www.example.com/' is not an "
	    "origin (https://host[:port], no path)");
	expect(&s, 10, "cors_origins: 'ftp://example.com' is not an origin "
	    "(https://host[:port], no path)");
	expect(&s, 11, "cors_origins: 'https://' is not an origin "
	    "(https://host[:port], no path)");
	expect(&s, 11, "cors_origins: 'https://a.example.com/path' is not an "
	    "origin (https://host[:port], no path)");
	expect(&s, 13, "redirect: 'http://www.example.com/' must be a path "
	    "starting with / or an https:// URL");
	expect(&s, 14, "subject: control character in value");
	expect(&s, 16, "redirect: '/\\evil.example.com' must be a path "
	    "starting with / or an https:// URL");
	expect(&s, 18, "redirect: 'javascript:alert(1)' must be a path "
	    "starting with / or an https:// URL");
	expect(&s, 17, "form d: honeypot and reply_to name the same field");
}
END_TEST

/* The proof of work: off by default, per form, within altcha.h's bounds. */
START_TEST(test_form_altcha)
{
	struct config		*cf;
	const struct form_conf	*f;
	struct sink		 s;

	cf = load_ok(MINIMAL
	    "altcha = yes\n"
	    "altcha_maxnumber = 1000\n"
	    "altcha_ttl = 30s\n"
	    "[form b]\n"
	    "altcha = on\n"
	    "altcha_maxnumber = 10000000\n"
	    "altcha_ttl = 1d\n"
	    "[form c]\n"
	    "altcha_ttl = 90m\n");
	f = config_form(cf, "contact");
	ck_assert_int_eq(f->altcha, 1);
	ck_assert_uint_eq(f->altcha_maxnumber, 1000);
	ck_assert_uint_eq(f->altcha_ttl_s, 30);
	f = config_form(cf, "b");
	ck_assert_int_eq(f->altcha, 1);
	ck_assert_uint_eq(f->altcha_maxnumber, ALTCHA_MAXNUMBER_MAX);
	ck_assert_uint_eq(f->altcha_ttl_s, ALTCHA_TTL_MAX);
	f = config_form(cf, "c");
	ck_assert_int_eq(f->altcha, 0);
	ck_assert_uint_eq(f->altcha_maxnumber, 50000);
	ck_assert_uint_eq(f->altcha_ttl_s, 5400);
	config_free(cf);

	load_bad(MINIMAL				/* 1-5 */
	    "altcha = maybe\n"				/* 6 */
	    "altcha_maxnumber = 999\n"			/* 7 */
	    "altcha_ttl = 29s\n"			/* 8 */
	    "[form b]\n"				/* 9 */
	    "altcha_maxnumber = 10000001\n"		/* 10 */
	    "altcha_ttl = 25h\n"			/* 11 */
	    "[form c]\n"				/* 12 */
	    "altcha_maxnumber = many\n",		/* 13 */
	    &s, 6);
	expect(&s, 6, "altcha: 'maybe' is not yes or no");
	expect(&s, 7, "altcha_maxnumber: 999 is out of range (1000 to "
	    "10000000)");
	expect(&s, 8, "altcha_ttl: 29s is out of range (30s to 1d)");
	expect(&s, 10, "altcha_maxnumber: 10000001 is out of range (1000 to "
	    "10000000)");
	expect(&s, 11, "altcha_ttl: 25h is out of range (30s to 1d)");
	expect(&s, 13, "altcha_maxnumber: 'many' is not a whole number");
}
END_TEST

START_TEST(test_honeypot_is_reply_to)
{
	struct sink	s;

	load_bad(MINIMAL "honeypot = email\nreply_to = email\n", &s, 1);
	expect(&s, 5, "form contact: honeypot and reply_to name the same "
	    "field");
}
END_TEST

START_TEST(test_empty_values)
{
	struct config	*cf;
	struct sink	 s;

	cf = load_ok("[storage]\nretention =\n[mail]\nca_file =\n" MINIMAL
	    "redirect =\nschema =\n");
	ck_assert_uint_eq(cf->retention_s, 0);
	ck_assert_ptr_null(cf->ca_file);
	ck_assert_ptr_null(cf->forms[0].redirect);
	ck_assert_str_eq(cf->forms[0].schema,
	    pathof("forms/contact.schema.json"));
	config_free(cf);

	load_bad("[server]\ntemplates =\n[limits]\nconnections =\n" MINIMAL
	    "subject =\n", &s, 3);
	expect(&s, 2, "templates: empty value (default: "
	    "/usr/local/share/intaked/templates)");
	expect(&s, 4, "connections: empty value (default: 1024)");
	expect(&s, 10, "subject: empty value (default: New {{title}} inquiry "
	    "{{id}})");
}
END_TEST

/* BOM, CRLF, indentation, inline and full-line comments. */
START_TEST(test_syntax_variants)
{
	struct config	*cf;

	cf = load_ok(
	    "\xef\xbb\xbf# a comment\r\n"
	    "; another\r\n"
	    "  [server]  \r\n"
	    "\tlisten = 127.0.0.1:8081 ; inline comment\r\n"
	    "    log_level=debug\r\n"
	    "[ limits ] # why not\r\n"
	    "rate = 5\r\n"
	    "\r\n"
	    "[crypto]\r\nrecipients = " R1 "\r\n"
	    "[mail]\r\nto = staff@example.com\r\n"
	    "[form  contact ]\r\n"
	    "subject = New #{{id}}\r\n");
	ck_assert_uint_eq(cf->nlisten, 1);
	ck_assert_str_eq(cf->listen[0], "127.0.0.1:8081");
	ck_assert_int_eq(cf->log_level, LOG_LVL_DEBUG);
	ck_assert_uint_eq(cf->rate_per_minute, 5);
	ck_assert_str_eq(cf->forms[0].name, "contact");
	ck_assert_str_eq(cf->forms[0].subject, "New #{{id}}");
	ck_assert_int_eq(cf->forms[0].line, 13);
	config_free(cf);
}
END_TEST

/* An over-long line is one error; line numbers after it stay right. */
START_TEST(test_long_line)
{
	struct sink	s;
	char		text[2048], pad[400];

	memset(pad, 'a', sizeof(pad) - 1);
	pad[sizeof(pad) - 1] = '\0';
	snprintf(text, sizeof(text), "[form contact]\nsubject = %s\n"
	    "redirect = nope\n[crypto]\nrecipients = " R1 "\n[mail]\n"
	    "to = staff@example.com\n", pad);
	load_bad(text, &s, 2);
	expect(&s, 2, "line too long (at most 197 characters) or has a NUL "
	    "byte");
	expect(&s, 3, "redirect: 'nope' must be a path starting with / or an "
	    "https:// URL");
}
END_TEST

START_TEST(test_nul_byte)
{
	static const char	text[] = "[server]\nlisten = 127.0.0.1:80\0x\n"
	    "lissen = 1\n" MINIMAL;
	struct config		*cf;
	struct sink		 s;

	ck_assert_int_eq(tu_write_file(fx.conf, text, sizeof(text) - 1, 0644),
	    0);
	sink_init(&s);
	ck_assert_int_eq(config_load(fx.conf, &cf, &s.d), ERR_CONFIG);
	ck_assert_uint_eq(s.d.count, 2);
	expect(&s, 2, "line too long (at most 197 characters) or has a NUL "
	    "byte");
	expect(&s, 3, "unknown key 'lissen' in [server]");
}
END_TEST

START_TEST(test_open_failure)
{
	struct config	*cf = (struct config *)1;
	struct sink	 s;

	sink_init(&s);
	ck_assert_int_eq(config_load(fx.conf, &cf, &s.d), ERR_IO);
	ck_assert_ptr_null(cf);
	ck_assert_uint_eq(s.d.count, 1);
	expect(&s, 0, "cannot open: No such file or directory");

	ck_assert_int_eq(config_load("/nonexistent-dir/intaked.conf", &cf,
	    &s.d), ERR_IO);
	ck_assert_ptr_null(cf);

	/* A directory opens but cannot be read. */
	ck_assert_int_eq(mkdir(fx.conf, 0700), 0);
	sink_init(&s);
	ck_assert_int_eq(config_load(fx.conf, &cf, &s.d), ERR_IO);
	ck_assert_ptr_null(cf);
	ck_assert_uint_eq(s.d.count, 1);
}
END_TEST

START_TEST(test_free_null)
{
	config_free(NULL);
}
END_TEST

/* A recipient nobody holds, for loading the sample as an admin would
   after putting the staff's in. */
#define SAMPLE_RCPT	"age1w2r7tml9f6wcngls6vag93gyhfqg8r0v66s0slgfqp3vq8ynqunsduazu5"

/* text with a recipients line at the top of its [crypto] section. */
static char *
with_recipient(const char *text)
{
	const char	*at = strstr(text, "[crypto]\n");
	char		*out;
	size_t		 head;

	ck_assert_ptr_nonnull(at);
	head = (size_t)(at - text) + strlen("[crypto]\n");
	ck_assert_ptr_nonnull(out = malloc(strlen(text) + 128));
	memcpy(out, text, head);
	snprintf(out + head, strlen(text) + 128 - head, "recipients = %s\n%s",
	    SAMPLE_RCPT, text + head);
	return out;
}

/*
 * The shipped sample, as installed, from the repository root: it ships no
 * recipient, so as it stands it fails, saying what to do and where; with
 * one added it loads.
 */
START_TEST(test_sample_loads)
{
	struct config		*cf;
	const struct form_conf	*f;
	struct sink		 s;
	char			 dir[PATH_MAX], want[PATH_MAX + 64], *text, *raw;
	int			 rc;

	sink_init(&s);
	rc = config_load("config/intaked.conf", &cf, &s.d);
	ck_assert_int_eq(rc, ERR_CONFIG);
	ck_assert_ptr_null(cf);
	ck_assert_uint_eq(s.d.count, 1);
	ck_assert_ptr_nonnull(strstr(s.text, "no staff recipients yet"));
	ck_assert_ptr_nonnull(strstr(s.text, "intakectl keygen -o staff.key"));
	raw = read_text("config/intaked.conf");
	text = with_recipient(raw);
	free(raw);
	ck_assert_ptr_nonnull(realpath("config", dir));
	/* In place, so that its relative paths resolve as installed. */
	snprintf(want, sizeof(want), "%s/intaked.conf.test", dir);
	write_file(want, text, 0644);
	free(text);
	sink_init(&s);
	rc = config_load(want, &cf, &s.d);
	unlink(want);
	ck_assert_msg(rc == 0, "rc %d:\n%s", rc, s.text);
	ck_assert_str_eq(cf->dir, dir);
	ck_assert_uint_eq(cf->nrecipients, 1);
	ck_assert_int_eq(strncmp(cf->recipients[0], "age1", 4), 0);
	ck_assert_uint_eq(cf->nto, 1);
	ck_assert_int_eq(cf->transport, MAIL_SMTP);
	ck_assert_int_eq(cf->content, CONTENT_SUMMARY);
	ck_assert_uint_eq(cf->nforms, 1);
	f = config_form(cf, "consultation");
	ck_assert_ptr_nonnull(f);
	snprintf(want, sizeof(want), "%s/forms/consultation.schema.json", dir);
	ck_assert_str_eq(f->schema, want);
	ck_assert_str_eq(f->honeypot, "website");
	ck_assert_str_eq(f->reply_to, "email");
	ck_assert_ptr_null(f->redirect);
	config_free(cf);
}
END_TEST

/* Lines "# key = value" / "# key =" of the sample, uncommented. */
static char *
uncomment_defaults(const char *text, unsigned *n)
{
	char		*out, *o;
	const char	*line, *nl;
	size_t		 klen;

	out = o = calloc(1, strlen(text) + 1);
	ck_assert_ptr_nonnull(out);
	*n = 0;
	for (line = text; *line; line = nl) {
		nl = strchr(line, '\n');
		nl = nl ? nl + 1 : line + strlen(line);
		klen = strspn(line + 2, "abcdefghijklmnopqrstuvwxyz_");
		if (strncmp(line, "# ", 2) == 0 && klen > 0 &&
		    strncmp(line + 2 + klen, " =", 2) == 0 &&
		    (line[4 + klen] == '\n' || line[4 + klen] == ' ')) {
			line += 2;
			(*n)++;
		}
		memcpy(o, line, (size_t)(nl - line));
		o += nl - line;
	}
	return out;
}

static void
same_strs(char **a, size_t na, char **b, size_t nb)
{
	size_t	i;

	ck_assert_uint_eq(na, nb);
	for (i = 0; i < na; i++)
		ck_assert_str_eq(a[i], b[i]);
}

static void
same_form(const struct form_conf *a, const struct form_conf *b)
{
	ck_assert_str_eq(a->name, b->name);
	ck_assert_str_eq(a->schema, b->schema);
	ck_assert_pstr_eq(a->redirect, b->redirect);
	ck_assert_pstr_eq(a->honeypot, b->honeypot);
	ck_assert_pstr_eq(a->reply_to, b->reply_to);
	ck_assert_str_eq(a->subject, b->subject);
	ck_assert_int_eq(a->ack, b->ack);
	ck_assert_str_eq(a->attachments, b->attachments);
	same_strs(a->cors_origins, a->ncors_origins, b->cors_origins,
	    b->ncors_origins);
	ck_assert_int_eq(a->altcha, b->altcha);
	ck_assert_uint_eq(a->altcha_maxnumber, b->altcha_maxnumber);
	ck_assert_uint_eq(a->altcha_ttl_s, b->altcha_ttl_s);
}

/* Every value of two snapshots is the same. */
static void
same_config(const struct config *a, const struct config *b)
{
	size_t	i;

	same_strs(a->listen, a->nlisten, b->listen, b->nlisten);
	ck_assert_uint_eq(a->ntrusted_proxies, b->ntrusted_proxies);
	ck_assert_str_eq(a->templates, b->templates);
	ck_assert_int_eq(a->log_level, b->log_level);
	ck_assert_uint_eq(a->max_connections, b->max_connections);
	ck_assert_uint_eq(a->max_conns_per_ip, b->max_conns_per_ip);
	ck_assert_uint_eq(a->memory_budget, b->memory_budget);
	ck_assert_uint_eq(a->admin_max_conns_per_ip, b->admin_max_conns_per_ip);
	ck_assert_uint_eq(a->header_timeout_ms, b->header_timeout_ms);
	ck_assert_uint_eq(a->body_timeout_ms, b->body_timeout_ms);
	ck_assert_uint_eq(a->idle_timeout_ms, b->idle_timeout_ms);
	ck_assert_uint_eq(a->shutdown_timeout_ms, b->shutdown_timeout_ms);
	ck_assert_uint_eq(a->max_header_bytes, b->max_header_bytes);
	ck_assert_uint_eq(a->max_body_bytes, b->max_body_bytes);
	ck_assert_uint_eq(a->max_fields, b->max_fields);
	ck_assert_uint_eq(a->max_field_bytes, b->max_field_bytes);
	ck_assert_uint_eq(a->max_json_depth, b->max_json_depth);
	ck_assert_uint_eq(a->max_pending_writes, b->max_pending_writes);
	ck_assert_uint_eq(a->rate_per_minute, b->rate_per_minute);
	ck_assert_uint_eq(a->rate_burst, b->rate_burst);
	ck_assert_str_eq(a->db_path, b->db_path);
	ck_assert_uint_eq(a->retention_s, b->retention_s);
	same_strs(a->recipients, a->nrecipients, b->recipients,
	    b->nrecipients);
	ck_assert_pstr_eq(a->recipients_file, b->recipients_file);
	ck_assert_int_eq(a->transport, b->transport);
	ck_assert_pstr_eq(a->maildir, b->maildir);
	ck_assert_str_eq(a->url, b->url);
	ck_assert_int_eq(a->tls, b->tls);
	ck_assert_pstr_eq(a->ca_file, b->ca_file);
	ck_assert_pstr_eq(a->username, b->username);
	ck_assert_pstr_eq(a->password_file, b->password_file);
	ck_assert_str_eq(a->from, b->from);
	same_strs(a->to, a->nto, b->to, b->nto);
	ck_assert_int_eq(a->content, b->content);
	ck_assert_int_eq(a->backend, b->backend);
	ck_assert_pstr_eq(a->spool_key, b->spool_key);
	ck_assert_pstr_eq(a->altcha_key, b->altcha_key);
	ck_assert_uint_eq(a->mail_parallel, b->mail_parallel);
	ck_assert_uint_eq(a->mail_timeout_ms, b->mail_timeout_ms);
	ck_assert_uint_eq(a->mail_max_attach, b->mail_max_attach);
	ck_assert_uint_eq(a->give_up_after_s, b->give_up_after_s);
	ck_assert_uint_eq(a->nforms, b->nforms);
	for (i = 0; i < a->nforms; i++)
		same_form(&a->forms[i], &b->forms[i]);
}

/*
 * The defaults the sample documents are the real ones: uncommenting every
 * "# key = value" line changes nothing. The count proves every key that
 * the sample does not set is documented that way.
 */
START_TEST(test_sample_documents_defaults)
{
	struct config	*plain, *uncommented;
	char		*text, *text2, *raw;
	unsigned	 n;

	raw = read_text("config/intaked.conf");
	text = with_recipient(raw);
	free(raw);
	text2 = uncomment_defaults(text, &n);
	/* Every key with a default is there as a commented-out line. */
	ck_assert_uint_eq(n, 60);
	plain = load_ok(text);
	uncommented = load_ok(text2);
	same_config(plain, uncommented);
	config_free(plain);
	config_free(uncommented);
	free(text);
	free(text2);
}
END_TEST

/* config/dev.conf, in a copy of the layout `make run` creates. */
START_TEST(test_dev_conf)
{
	struct config		*cf;
	const struct form_conf	*f;
	struct sink		 s;
	char			*text, conf[PATH_MAX + 64], want[PATH_MAX + 64];
	int			 rc;

	text = read_text("config/dev.conf");
	ck_assert_int_eq(mkdir(pathof("config"), 0700), 0);
	ck_assert_int_eq(mkdir(pathof("var"), 0700), 0);
	snprintf(conf, sizeof(conf), "%s", pathof("config/dev.conf"));
	write_file(conf, text, 0644);
	free(text);

	/* Without var/dev.recipients (before `make run` made it) it fails. */
	sink_init(&s);
	ck_assert_int_eq(config_load(conf, &cf, &s.d), ERR_CONFIG);

	write_file(pathof("var/dev.recipients"), "# dev\n" R1 "\n", 0600);
	sink_init(&s);
	rc = config_load(conf, &cf, &s.d);
	ck_assert_msg(rc == 0, "rc %d:\n%s", rc, s.text);
	ck_assert_str_eq(cf->dir, pathof("config"));
	ck_assert_uint_eq(cf->nlisten, 1);
	ck_assert_str_eq(cf->listen[0], "127.0.0.1:8080");
	ck_assert_str_eq(cf->templates, pathof("config/../templates"));
	ck_assert_str_eq(cf->db_path, pathof("config/../var/intake.db"));
	ck_assert_str_eq(cf->recipients_file,
	    pathof("config/../var/dev.recipients"));
	ck_assert_int_eq(cf->transport, MAIL_MAILDIR);
	ck_assert_str_eq(cf->maildir, pathof("config/../var/mail"));
	ck_assert_str_eq(cf->from, "intaked@example.com");
	ck_assert_uint_eq(cf->nto, 1);
	ck_assert_str_eq(cf->to[0], "staff@example.com");
	ck_assert_int_eq(cf->content, CONTENT_FULL);
	f = config_form(cf, "consultation");
	ck_assert_ptr_nonnull(f);
	snprintf(want, sizeof(want), "%s",
	    pathof("config/forms/consultation.schema.json"));
	ck_assert_str_eq(f->schema, want);
	ck_assert_str_eq(f->honeypot, "website");
	ck_assert_str_eq(f->reply_to, "email");
	ck_assert_int_eq(f->ack, 0);
	ck_assert_ptr_null(f->redirect);
	config_free(cf);
}
END_TEST

Suite *
config_suite(void)
{
	Suite	*s = suite_create("config");
	TCase	*tc = tcase_create("config");

	tcase_set_timeout(tc, 10);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_storage_backends);
	tcase_add_test(tc, test_values);
	tcase_add_test(tc, test_connection_caps_and_budget);
	tcase_add_test(tc, test_bool_and_enum);
	tcase_add_test(tc, test_bad_bool_and_enum);
	tcase_add_test(tc, test_bounds_edges);
	tcase_add_test(tc, test_bounds_errors);
	tcase_add_test(tc, test_bad_numbers);
	tcase_add_test(tc, test_duration);
	tcase_add_test(tc, test_relative_paths);
	tcase_add_test(tc, test_relative_config_path);
	tcase_add_test(tc, test_lists);
	tcase_add_test(tc, test_cidrs);
	tcase_add_test(tc, test_cidrs_bad);
	tcase_add_test(tc, test_listen_bad);
	tcase_add_test(tc, test_structure_errors);
	tcase_add_test(tc, test_duplicates);
	tcase_add_test(tc, test_missing_required);
	tcase_add_test(tc, test_mail_rules);
	tcase_add_test(tc, test_addresses);
	tcase_add_test(tc, test_addresses_as_the_mailer_sees_them);
	tcase_add_test(tc, test_password_file);
	tcase_add_test(tc, test_recipients);
	tcase_add_test(tc, test_form_values);
	tcase_add_test(tc, test_form_altcha);
	tcase_add_test(tc, test_honeypot_is_reply_to);
	tcase_add_test(tc, test_empty_values);
	tcase_add_test(tc, test_syntax_variants);
	tcase_add_test(tc, test_long_line);
	tcase_add_test(tc, test_nul_byte);
	tcase_add_test(tc, test_open_failure);
	tcase_add_test(tc, test_free_null);
	tcase_add_test(tc, test_sample_loads);
	tcase_add_test(tc, test_sample_documents_defaults);
	tcase_add_test(tc, test_dev_conf);
	suite_add_tcase(s, tc);
	return s;
}
