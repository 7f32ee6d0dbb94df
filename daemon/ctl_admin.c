/* intakectl keygen, delete, purge, stats, queue, retry and audit. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "audit.h"
#include "ctl.h"
#include "outbox.h"
#include "store_migrate.h"
#include "store_pg.h"
#include "uuid.h"
/* ---- keygen --------------------------------------------------------- */

int
cmd_keygen(struct ctl *c, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 }
	};
	struct age_identity	id;
	struct age_recipient	r;
	char			rs[AGE_RECIPIENT_STRLEN + 1];
	const char		*out = NULL;
	int			ch, rc;

	while ((ch = getopt_long(argc, argv, ":o:", longopts, NULL)) != -1) {
		if (ch != 'o')
			return ctl_bad_option(c, ch, argv);
		out = optarg;
	}
	if ((rc = ctl_no_args(c, argc, argv)) != EXIT_OK)
		return rc;
	if ((rc = age_identity_generate(&id)) != 0)
		return ctl_fail(EXIT_FAIL, "cannot make a key: %s",
		    err_str(rc));
	age_identity_recipient(&id, &r);
	age_recipient_format(&r, rs);
	rc = age_identity_file_write(out ? out : "-", &id);
	age_identities_wipe(&id, 1);
	if (rc == ERR_EXIST)
		return ctl_fail(EXIT_FAIL, "%s exists; not overwriting it", out);
	if (rc == ERR_IO)
		return ctl_fail(EXIT_FAIL, "cannot write %s: %s",
		    out ? out : "the key", strerror(errno));
	if (rc != 0)
		return ctl_fail(EXIT_FAIL, "cannot write the key: %s",
		    err_str(rc));
	if (out == NULL) {
		/* Like age-keygen: the file on stdout, the recipient aside. */
		fprintf(stderr, "Public key: %s\n", rs);
		return EXIT_OK;
	}
	printf("%s\n", rs);
	return ctl_finish();
}

/* ---- delete, purge, stats ------------------------------------------- */

/*
 * An erasure cannot be undone: on a terminal it asks first, naming what
 * goes; a script says --yes. Without a terminal and without --yes it is
 * refused, so that a typo in a cron line never erases by surprise.
 */
static int
confirm(int yes, const char *what)
{
	char	line[16];

	if (yes)
		return EXIT_OK;
	if (!isatty(STDIN_FILENO) || !isatty(STDERR_FILENO))
		return ctl_fail(EXIT_USAGE, "not erasing %s without --yes "
		    "(no terminal to ask on)", what);
	fprintf(stderr, "Erase %s for good? Type yes to go on: ", what);
	if (fgets(line, sizeof(line), stdin) == NULL ||
	    strcmp(line, "yes\n") != 0)
		return ctl_fail(EXIT_FAIL, "not erased");
	return EXIT_OK;
}

/* --yes, and for purge --older-than and --dry-run. */
struct erase_opts {
	int		 yes, dry;
	const char	*age;
};

static int
erase_opts(struct ctl *c, int argc, char **argv, int purge,
    struct erase_opts *o)
{
	static const struct option longopts[] = {
		{ "yes", no_argument, NULL, 'y' },
		{ "older-than", required_argument, NULL, 'o' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 }
	};
	int	ch;

	memset(o, 0, sizeof(*o));
	while ((ch = getopt_long(argc, argv, ":yo:n", longopts, NULL)) != -1) {
		if (ch == 'y')
			o->yes = 1;
		else if (purge && ch == 'o')
			o->age = optarg;
		else if (purge && ch == 'n')
			o->dry = 1;
		else
			return ctl_bad_option(c, ch, argv);
	}
	return EXIT_OK;
}

int
cmd_delete(struct ctl *c, int argc, char **argv)
{
	struct store		*st;
	struct audit_event	 ev;
	char			 actor[AUDIT_ACTOR_MAX + 1];
	struct erase_opts	 o;
	char			 what[64];
	const char		*id;
	int			 rc, r;

	if ((rc = erase_opts(c, argc, argv, 0, &o)) != EXIT_OK ||
	    (rc = ctl_one_id(c, argc, argv, &id)) != EXIT_OK)
		return rc;
	snprintf(what, sizeof(what), "inquiry %s", id);
	if ((rc = ctl_open_db(c, 0, &st)) != EXIT_OK)
		return rc;
	if ((r = store_get(st, id, NULL, NULL)) == ERR_NOTFOUND) {
		store_close(st);
		return ctl_fail(EXIT_FAIL, "no inquiry %s", id);
	}
	if ((rc = confirm(o.yes, what)) != EXIT_OK) {
		store_close(st);
		return rc;
	}
	ctl_audit_as(&ev, actor, sizeof(actor), "delete", id);
	r = store_delete(st, id, &ev);
	store_close(st);
	if (r == ERR_NOTFOUND)
		return ctl_fail(EXIT_FAIL, "no inquiry %s", id);
	if (r != 0)
		return ctl_fail(EXIT_FAIL, "cannot delete inquiry %s: %s", id,
		    err_str(r));
	printf("deleted %s\n", id);
	return ctl_finish();
}

/* purge --dry-run: what would go, newest first, as list shows it. */
static int
purge_row(void *arg, const struct store_meta *m)
{
	char	when[CLOCK_RFC3339_LEN];

	(*(uint64_t *)arg)++;
	clock_rfc3339(m->received_at_ms, when);
	printf("%s  %s  %s\n", m->id, when, m->form);
	return 0;
}

int
cmd_purge(struct ctl *c, int argc, char **argv)
{
	struct store		*st;
	struct store_filter	 f = { 0 };
	struct audit_event	 ev;
	struct erase_opts	 o;
	char			 actor[AUDIT_ACTOR_MAX + 1], what[96];
	uint64_t		 d, n = 0;
	int64_t			 cutoff;
	int			 rc, r;

	if ((rc = erase_opts(c, argc, argv, 1, &o)) != EXIT_OK ||
	    (rc = ctl_no_args(c, argc, argv)) != EXIT_OK)
		return rc;
	if (o.age == NULL)
		return ctl_fail(EXIT_USAGE, "purge needs --older-than DURATION "
		    "(e.g. 90d)");
	if (config_parse_duration(o.age, &d) != 0 || d > INT64_MAX / 2)
		return ctl_fail(EXIT_USAGE, "bad duration '%s'", o.age);
	cutoff = clock_now_ms() - (int64_t)d;
	if ((rc = ctl_open_db(c, o.dry ? STORE_RDONLY : 0, &st)) != EXIT_OK)
		return rc;
	/* What goes is what store_purge takes: received before the cutoff. */
	f.until_ms = cutoff - 1;
	if (o.dry) {
		r = store_list(st, &f, purge_row, &n);
		store_close(st);
		if (r != 0)
			return ctl_fail(EXIT_FAIL, "cannot list: %s",
			    err_str(r));
		printf("would purge %" PRIu64 " inquiries\n", n);
		return ctl_finish();
	}
	snprintf(what, sizeof(what), "every inquiry older than %s", o.age);
	if ((rc = confirm(o.yes, what)) != EXIT_OK) {
		store_close(st);
		return rc;
	}
	ctl_audit_as(&ev, actor, sizeof(actor), "purge", NULL);
	r = store_purge(st, cutoff, &n, &ev);
	store_close(st);
	if (r != 0)
		return ctl_fail(EXIT_FAIL, "cannot purge: %s", err_str(r));
	printf("purged %" PRIu64 " inquiries\n", n);
	return ctl_finish();
}

static void
print_time(const char *label, int64_t ms, int have)
{
	char	when[25];

	clock_rfc3339(ms, when);
	printf("%-15s %s\n", label, have ? when : "-");
}

int
cmd_stats(struct ctl *c, int argc, char **argv)
{
	struct store_stats	 s;
	struct store		*st;
	int			 rc, r;

	if ((rc = ctl_no_options(c, argc, argv)) != EXIT_OK ||
	    (rc = ctl_no_args(c, argc, argv)) != EXIT_OK ||
	    (rc = ctl_open_db(c, STORE_RDONLY, &st)) != EXIT_OK)
		return rc;
	r = store_stats(st, &s);
	store_close(st);
	if (r != 0)
		return ctl_fail(EXIT_FAIL, "cannot read stats: %s",
		    err_str(r));
	printf("%-15s %" PRIu64 "\n", "inquiries:", s.inquiries);
	printf("%-15s %" PRIu64 "\n", "bytes:", s.bytes);
	print_time("oldest:", s.oldest_ms, s.inquiries > 0);
	print_time("newest:", s.newest_ms, s.inquiries > 0);
	printf("%-15s %" PRIu64 "\n", "mail queued:", s.outbox_queued);
	printf("%-15s %" PRIu64 "\n", "mail sent:", s.outbox_sent);
	printf("%-15s %" PRIu64 "\n", "mail failed:", s.outbox_failed);
	return ctl_finish();
}

/* ---- migrate -------------------------------------------------------- */

int
cmd_migrate(struct ctl *c, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "to", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 }
	};
	struct store_migrate	 rep;
	char			 first[DIAG_LINE] = "";
	struct diag		 d = { 0, ctl_keep_first, first };
	const char		*to = NULL, *from;
	size_t			 i;
	int			 ch, rc, r;

	while ((ch = getopt_long(argc, argv, ":t:", longopts, NULL)) != -1) {
		if (ch != 't')
			return ctl_bad_option(c, ch, argv);
		to = optarg;
	}
	if ((rc = ctl_no_args(c, argc, argv)) != EXIT_OK ||
	    (rc = ctl_load_config(c)) != EXIT_OK)
		return rc;
	from = ctl_db_path(c);
	if (to == NULL || !store_pg_target(to))
		return ctl_fail(EXIT_USAGE, "migrate needs --to and a "
		    "postgresql:// URI or libpq conninfo");
	if (store_pg_target(from))
		return ctl_fail(EXIT_FAIL, "the store is on PostgreSQL already; "
		    "migrate copies a SQLite one");
	if (store_pg_password(c->cfg ? c->cfg->db_password_file : NULL,
	    &d) != 0)
		return ctl_fail(EXIT_FAIL, "%s", first);
	r = store_migrate(from, to, &rep);
	if (r == ERR_EXIST)
		return ctl_fail(EXIT_FAIL, "the PostgreSQL database holds "
		    "inquiries already: migrate only into an empty one");
	if (r != 0)
		return ctl_fail(EXIT_FAIL, "migrate failed, nothing was kept in "
		    "PostgreSQL: %s", r == ERR_AUTH ? "a table read back "
		    "different (see above)" : err_str(r));
	for (i = 0; i < rep.ntables; i++)
		printf("%-18s %10" PRIu64 " rows  %s\n", rep.t[i].name,
		    rep.t[i].rows, rep.t[i].verified ? "verified" : "");
	printf("copied %" PRIu64 " inquiries; row counts and SHA-256 of "
	    "every table match. %s is unchanged.\n", rep.t[0].rows, from);
	printf("Next: in [storage] set backend = postgresql and url, and "
	    "copy the spool and ALTCHA keys to every daemon (spool_key, "
	    "altcha_key).\n");
	return ctl_finish();
}

/* ---- queue, retry --------------------------------------------------- */

/* What each kind of mail is, for the person reading the queue. */
static const char *
kind_label(const char *kind)
{
	if (strcmp(kind, "notify") == 0)
		return "to staff";
	if (strcmp(kind, "ack") == 0)
		return "to patient";
	return kind;
}

static int
queue_row(void *arg, const struct outbox_row *r)
{
	char	when[CLOCK_DATE_LEN];

	(void)arg;
	/* The next attempt in the reader's own zone: when will it go? */
	if (strcmp(r->state, "queued") == 0)
		clock_local(r->next_try_ms, when);
	else
		snprintf(when, sizeof(when), "-");
	printf("%-36s  %-10s  %-6s  %8u  %-22s  ", r->inquiry_id,
	    kind_label(r->kind), r->state, r->attempts, when);
	ctl_print_clean(stdout, r->last_error[0] ? r->last_error : "-", " ");
	putchar('\n');
	return 0;
}

int
cmd_queue(struct ctl *c, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "all", no_argument, NULL, 'a' },
		{ NULL, 0, NULL, 0 }
	};
	struct store	*st;
	int		 ch, rc, r, all = 0;

	while ((ch = getopt_long(argc, argv, ":a", longopts, NULL)) != -1) {
		if (ch != 'a')
			return ctl_bad_option(c, ch, argv);
		all = 1;
	}
	if ((rc = ctl_no_args(c, argc, argv)) != EXIT_OK ||
	    (rc = ctl_open_db(c, STORE_RDONLY, &st)) != EXIT_OK)
		return rc;
	printf("%-36s  %-10s  %-6s  %8s  %-22s  %s\n", "INQUIRY", "MAIL",
	    "STATE", "ATTEMPTS", "NEXT TRY", "LAST ERROR");
	r = outbox_list(st, all, queue_row, NULL);
	store_close(st);
	if (r != 0)
		return ctl_fail(EXIT_FAIL, "cannot list the queue: %s",
		    err_str(r));
	return ctl_finish();
}

int
cmd_retry(struct ctl *c, int argc, char **argv)
{
	struct store	*st;
	const char	*id;
	unsigned	 n = 0;
	int		 rc, r;

	if ((rc = ctl_no_options(c, argc, argv)) != EXIT_OK ||
	    (rc = ctl_one_id(c, argc, argv, &id)) != EXIT_OK ||
	    (rc = ctl_open_db(c, 0, &st)) != EXIT_OK)
		return rc;
	if ((r = store_get(st, id, NULL, NULL)) == 0)
		r = outbox_retry(st, id, &n);
	else if (r == ERR_NOTFOUND) {
		store_close(st);
		return ctl_fail(EXIT_FAIL, "no inquiry %s", id);
	}
	store_close(st);
	if (r == ERR_NOTFOUND)
		return ctl_fail(EXIT_FAIL, "inquiry %s has no notification "
		    "waiting or failed", id);
	if (r != 0)
		return ctl_fail(EXIT_FAIL, "cannot retry inquiry %s: %s", id,
		    err_str(r));
	/* The daemon looks at the queue at least every 30 s. */
	printf("requeued %u notification%s of %s; intaked sends within 30 s\n",
	    n, n == 1 ? "" : "s", id);
	return ctl_finish();
}

/* ---- audit ---------------------------------------------------------- */

struct audit_out {
	int	json;
	size_t	n;
};

static int
audit_row(void *arg, const struct audit_entry *e)
{
	struct audit_out	*o = arg;
	char			 when[CLOCK_RFC3339_LEN], hash[17];
	json_t			*j;
	char			*s;

	clock_rfc3339(e->at_ms, when);
	sodium_bin2hex(hash, sizeof(hash), e->hash, 8);
	if (!o->json) {
		printf("%6lld  %s  %-12s %-36s  %-15s  %s", (long long)e->seq,
		    when, e->action, e->inquiry_id[0] ? e->inquiry_id : "-",
		    e->client[0] ? e->client : "-", e->actor);
		if (e->detail[0])
			printf("  (%s)", e->detail);
		printf("\n");
		o->n++;
		return 0;
	}
	j = json_pack("{s:I, s:s, s:s, s:s, s:s?, s:s?, s:s?, s:s}",
	    "seq", (json_int_t)e->seq, "at", when, "actor", e->actor,
	    "action", e->action,
	    "inquiry_id", e->inquiry_id[0] ? e->inquiry_id : NULL,
	    "client", e->client[0] ? e->client : NULL,
	    "detail", e->detail[0] ? e->detail : NULL, "hash", hash);
	if (j == NULL || (s = json_dumps(j, JSON_COMPACT)) == NULL) {
		json_decref(j);
		return -1;
	}
	json_decref(j);
	printf("%s%s", o->n++ ? ",\n" : "[\n", s);
	free(s);
	return 0;
}

int
cmd_audit(struct ctl *c, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "since", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "verify", no_argument, NULL, 'v' },
		{ NULL, 0, NULL, 0 }
	};
	struct audit_out	 o = { 0, 0 };
	struct store		*st;
	int64_t			 since = 0, bad;
	int			 ch, rc, r, verify = 0;

	while ((ch = getopt_long(argc, argv, ":s:jv", longopts, NULL)) != -1) {
		if (ch == 'j')
			o.json = 1;
		else if (ch == 'v')
			verify = 1;
		else if (ch == 's' && ctl_parse_when(optarg, &since) == 0)
			continue;
		else if (ch == 's')
			return ctl_fail(EXIT_USAGE, "bad time '%s' (want RFC 3339 "
			    "or a duration like 7d)", optarg);
		else
			return ctl_bad_option(c, ch, argv);
	}
	if ((rc = ctl_no_args(c, argc, argv)) != EXIT_OK ||
	    (rc = ctl_open_db(c, STORE_RDONLY, &st)) != EXIT_OK)
		return rc;
	if (verify) {
		r = audit_verify(st, &bad);
		store_close(st);
		if (r == ERR_AUTH)
			return ctl_fail(EXIT_FAIL, "audit log broken at entry %lld: "
			    "altered, or an entry before it removed",
			    (long long)bad);
		if (r != 0)
			return ctl_fail(EXIT_FAIL, "cannot read the audit log: %s",
			    err_str(r));
		printf("audit log intact\n");
		return ctl_finish();
	}
	r = audit_list(st, since, audit_row, &o);
	store_close(st);
	if (o.json)
		printf(o.n ? "\n]\n" : "[]\n");
	if (r != 0)
		return ctl_fail(EXIT_FAIL, "cannot read the audit log: %s",
		    err_str(r));
	return ctl_finish();
}
