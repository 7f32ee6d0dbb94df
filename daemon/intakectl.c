/*
 * intakectl: the staff and admin command line. It reads the daemon's
 * database (read-only except delete, purge and retry) and decrypts records
 * with identities the staff bring along (-i); the server itself never
 * needs a secret key.
 *
 * Every command exits 0 on success, 1 on failure and 2 on a usage error,
 * with exactly one "intakectl: …" line on stderr when it fails.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <malloc.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "age.h"
#include "audit.h"
#include "buf.h"
#include "config.h"
#include "fsutil.h"
#include "log.h"
#include "outbox.h"
#include "store.h"
#include "utf8.h"
#include "uuid.h"

#ifndef INTAKE_VERSION
#define INTAKE_VERSION	"0.1.0"
#endif

#define DEFAULT_CONFIG	"/etc/intaked/intaked.conf"
#define MAX_IDENTITY_FILES 16
#define MAX_CSV_COLUMNS	1024
#define DIAG_LINE	512

enum exit_code { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

/* What the global options say, and what was loaded because of them. */
struct ctl {
	const char	*config_path;
	const char	*db_override;
	struct config	*cfg;
	const char	*cmd;
};

static const char usage_text[] =
"usage: intakectl [-c CONFIG] [-d DATABASE] [-v] COMMAND [ARGS]\n"
"\n"
"  keygen [-o FILE]            make an age identity; print its recipient\n"
"  list [--since T] [--until T] [--form F] [--limit N] [--json]\n"
"                              inquiries, newest first (no key needed)\n"
"  show ID -i IDENTITY [-i IDENTITY ...] [--json]\n"
"                              decrypt and print one inquiry\n"
"  cat ID [--attachment N]    the raw age file, for `age -d -i KEY`\n"
"  attachment ID N -i IDENTITY [-o FILE]\n"
"                              decrypt attachment N (from 1, as show lists)\n"
"  export -i IDENTITY [--format ndjson|csv] [--since T] [--until T]\n"
"         [--form F]           decrypt inquiries, oldest first\n"
"  delete ID                   erase an inquiry and its notifications\n"
"  purge --older-than DURATION erase inquiries older than DURATION (90d)\n"
"  stats                       counts, sizes, notification states\n"
"  queue [--all]               notifications not yet sent (--all: all)\n"
"  retry ID                    re-queue an inquiry's failed notifications\n"
"  audit [--since T] [--json]  who read or changed what, oldest first\n"
"  audit --verify              check the audit log's hash chain\n"
"\n"
"T is an RFC 3339 date or time (2026-11-21, 2026-11-21T05:00:00Z) or a\n"
"duration back from now (7d, 12h). CONFIG defaults to " DEFAULT_CONFIG ";\n"
"-d names the database directly. Exit: 0 ok, 1 failed, 2 usage.\n";

/* Prints the one error line and returns the exit code for it. */
static int LOG_PRINTF(2, 3)
fail(int code, const char *fmt, ...)
{
	va_list	ap;

	fflush(stdout);
	fputs("intakectl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return code;
}

/*
 * jansson's free: decrypted records live in jansson trees, so every block
 * it releases is wiped first. jansson never reallocs, so this sees all of
 * its memory.
 */
static void
wipe_free(void *p)
{
	if (p == NULL)
		return;
	sodium_memzero(p, malloc_usable_size(p));
	free(p);
}

/* Keeps the first "file:line: reason" of a diag, for the one error line. */
static void
keep_first(struct diag *d, const char *line)
{
	if (d->count == 1)
		snprintf(d->arg, DIAG_LINE, "%s", line);
}

static const char *
db_path(struct ctl *c)
{
	return c->db_override ? c->db_override : c->cfg->db_path;
}

/* Loads the configuration unless -d made it unnecessary. */
static int
load_config(struct ctl *c)
{
	char		first[DIAG_LINE] = "";
	struct diag	d = { 0, keep_first, first };

	if (c->db_override != NULL || c->cfg != NULL)
		return EXIT_OK;
	if (config_load(c->config_path, &c->cfg, &d) != 0) {
		if (d.count > 1)
			return fail(EXIT_FAIL, "%s (and %u more problems)",
			    first, d.count - 1);
		return fail(EXIT_FAIL, "%s", *first ? first :
		    "cannot load the configuration");
	}
	return EXIT_OK;
}

/* Opens the database named by -d or the configuration. */
static int
open_db(struct ctl *c, int flags, struct store **st)
{
	int	rc, r;

	if ((rc = load_config(c)) != EXIT_OK)
		return rc;
	errno = 0;
	if ((r = store_open(db_path(c), flags, st)) == 0)
		return EXIT_OK;
	if (r == ERR_NOTFOUND)
		return fail(EXIT_FAIL, "cannot open database %s: %s",
		    db_path(c), strerror(ENOENT));
	return fail(EXIT_FAIL, "cannot open database %s: %s", db_path(c),
	    err_str(r));
}

/* "2026-11-21…" or a duration such as 7d meaning that long ago. */
static int
parse_when(const char *s, int64_t *ms)
{
	uint64_t	d;

	if (clock_rfc3339_parse(s, ms) == 0)
		return 0;
	if (config_parse_duration(s, &d) != 0 || d > INT64_MAX / 2)
		return -1;
	*ms = clock_now_ms() - (int64_t)d;
	return 0;
}

static int
parse_count(const char *s, uint64_t *n)
{
	char	*end;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	*n = strtoull(s, &end, 10);
	return errno != 0 || *end != '\0' ? -1 : 0;
}

/* The getopt error for the current subcommand, as the one line. */
static int
bad_option(struct ctl *c, int ch, char **argv)
{
	const char	*cmd = c->cmd ? c->cmd : "";
	const char	*sep = c->cmd ? ": " : "";

	if (ch == ':')
		return fail(EXIT_USAGE, "%s%s%s needs an argument", cmd, sep,
		    argv[optind - 1]);
	return fail(EXIT_USAGE, "%s%sunknown option '%s' (see intakectl "
	    "--help)", cmd, sep, argv[optind - 1]);
}

/* The single ID argument left after the options, checked. */
static int
one_id(struct ctl *c, int argc, char **argv, const char **id)
{
	if (argc - optind != 1)
		return fail(EXIT_USAGE, "%s needs exactly one inquiry ID",
		    c->cmd);
	*id = argv[optind];
	if (!uuid_valid(*id))
		return fail(EXIT_USAGE, "bad inquiry id '%s'", *id);
	return EXIT_OK;
}

/* For commands without options: any option is an error. */
static int
no_options(struct ctl *c, int argc, char **argv)
{
	static const struct option	longopts[] = { { NULL, 0, NULL, 0 } };
	int				ch;

	if ((ch = getopt_long(argc, argv, ":", longopts, NULL)) != -1)
		return bad_option(c, ch, argv);
	return EXIT_OK;
}

static int
no_args(struct ctl *c, int argc, char **argv)
{
	if (argc != optind)
		return fail(EXIT_USAGE, "%s: unexpected argument '%s'",
		    c->cmd, argv[optind]);
	return EXIT_OK;
}

/* Flushes stdout and reports a failed write (a full disk, a closed pipe). */
static int
finish_output(void)
{
	if (fflush(stdout) == EOF || ferror(stdout))
		return fail(EXIT_FAIL, "write error: %s", strerror(errno));
	return EXIT_OK;
}

/*
 * Prints s for a person: control characters become '?', so a hostile
 * value cannot drive the terminal, and characters that hide or reorder
 * text (bidi controls, zero-width characters, BOM, line separators) are
 * shown as marks like ⟦U+202E⟧, as the inbox shows them; each newline is
 * followed by indent.
 */
static void
print_clean(FILE *f, const char *s, const char *indent)
{
	const unsigned char	*p = (const unsigned char *)s;
	size_t			 n, left = strlen(s);
	uint32_t		 cp;

	for (; left > 0; p += n, left -= n) {
		n = utf8_decode(p, left, &cp);
		if (n == 0) {
			fputc('?', f);
			n = 1;
		} else if (cp == '\n') {
			fputc('\n', f);
			fputs(indent, f);
		} else if (cp == '\t')
			fputc('\t', f);
		else if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f))
			fputc('?', f);
		else if (utf8_hidden(cp) || cp == 0x2028 || cp == 0x2029)
			fprintf(f, "\xe2\x9f\xa6U+%04X\xe2\x9f\xa7", (unsigned)cp);
		else
			fwrite(p, 1, n, f);
	}
}

/* ---- keygen --------------------------------------------------------- */

static int
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
			return bad_option(c, ch, argv);
		out = optarg;
	}
	if ((rc = no_args(c, argc, argv)) != EXIT_OK)
		return rc;
	if ((rc = age_identity_generate(&id)) != 0)
		return fail(EXIT_FAIL, "cannot make a key: %s",
		    err_str(rc));
	age_identity_recipient(&id, &r);
	age_recipient_format(&r, rs);
	rc = age_identity_file_write(out ? out : "-", &id);
	age_identities_wipe(&id, 1);
	if (rc == ERR_EXIST)
		return fail(EXIT_FAIL, "%s exists; not overwriting it", out);
	if (rc == ERR_IO)
		return fail(EXIT_FAIL, "cannot write %s: %s",
		    out ? out : "the key", strerror(errno));
	if (rc != 0)
		return fail(EXIT_FAIL, "cannot write the key: %s",
		    err_str(rc));
	if (out == NULL) {
		/* Like age-keygen: the file on stdout, the recipient aside. */
		fprintf(stderr, "Public key: %s\n", rs);
		return EXIT_OK;
	}
	printf("%s\n", rs);
	return finish_output();
}

/* ---- list ----------------------------------------------------------- */

struct list_opts {
	struct store_filter	f;
	int			json;
};

/* Parses --since/--until/--form/--limit (shared by list and export);
   returns EXIT_OK or a printed error's code. */
static int
filter_opt(int ch, const char *arg, struct store_filter *f)
{
	int64_t		ms;

	switch (ch) {
	case 's':
	case 'u':
		if (parse_when(arg, &ms) == -1)
			return fail(EXIT_USAGE, "bad time '%s' (want RFC 3339 "
			    "or a duration like 7d)", arg);
		if (ch == 's')
			f->since_ms = ms;
		else
			f->until_ms = ms;
		return EXIT_OK;
	case 'f':
		if (*arg == '\0' || strlen(arg) > STORE_FORM_MAX)
			return fail(EXIT_USAGE, "bad form name '%s'", arg);
		f->form = arg;
		return EXIT_OK;
	case 'n':
		if (parse_count(arg, &f->limit) == -1 || f->limit == 0)
			return fail(EXIT_USAGE, "bad limit '%s'", arg);
		return EXIT_OK;
	}
	return EXIT_USAGE;
}

/* "queued", "2 sent", "1 failed, 1 sent", or "-" without notifications. */
static void
mail_summary(const struct store_meta *m, char *out, size_t len)
{
	const unsigned	 n[3] = { m->outbox_failed, m->outbox_queued,
	    m->outbox_sent };
	static const char *const name[3] = { "failed", "queued", "sent" };
	size_t		 i, o = 0;

	out[0] = '\0';
	for (i = 0; i < 3; i++) {
		if (n[i] == 0)
			continue;
		o += (size_t)snprintf(out + o, len - o, "%s%u %s",
		    o ? ", " : "", n[i], name[i]);
		if (o >= len)
			return;
	}
	if (o == 0)
		snprintf(out, len, "-");
}

struct list_state {
	int	json;
	size_t	n;
};

static int
list_row(void *arg, const struct store_meta *m)
{
	struct list_state	*ls = arg;
	char			 when[25], mail[64];
	json_t			*o;
	char			*s;

	clock_rfc3339(m->received_at_ms, when);
	if (!ls->json) {
		mail_summary(m, mail, sizeof(mail));
		printf("%-36s  %-24s  %-16s %9" PRIu64 "  %s\n", m->id, when,
		    m->form, m->size, mail);
		ls->n++;
		return 0;
	}
	o = json_pack("{s:s, s:s, s:s, s:I, s:{s:i, s:i, s:i}}",
	    "id", m->id, "received_at", when, "form", m->form,
	    "size", (json_int_t)m->size, "mail",
	    "queued", (int)m->outbox_queued, "failed", (int)m->outbox_failed,
	    "sent", (int)m->outbox_sent);
	s = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (s == NULL)
		return -1;
	printf("%s%s", ls->n++ ? ",\n" : "[\n", s);
	wipe_free(s);
	return 0;
}

static int
cmd_list(struct ctl *c, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "since", required_argument, NULL, 's' },
		{ "until", required_argument, NULL, 'u' },
		{ "form", required_argument, NULL, 'f' },
		{ "limit", required_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	struct store_filter	 f = { 0 };
	struct list_state	 ls = { 0, 0 };
	struct store		*st;
	int			 ch, rc, r;

	while ((ch = getopt_long(argc, argv, ":s:u:f:n:j", longopts,
	    NULL)) != -1) {
		if (ch == 'j')
			ls.json = 1;
		else if (ch == '?' || ch == ':')
			return bad_option(c, ch, argv);
		else if ((rc = filter_opt(ch, optarg, &f)) != EXIT_OK)
			return rc;
	}
	if ((rc = no_args(c, argc, argv)) != EXIT_OK ||
	    (rc = open_db(c, STORE_RDONLY, &st)) != EXIT_OK)
		return rc;
	if (!ls.json)
		printf("%-36s  %-24s  %-16s %9s  %s\n", "ID", "RECEIVED",
		    "FORM", "SIZE", "MAIL");
	r = store_list(st, &f, list_row, &ls);
	store_close(st);
	if (r != 0)
		return fail(EXIT_FAIL, "cannot list: %s", err_str(r));
	if (ls.json)
		printf(ls.n ? "\n]\n" : "[]\n");
	return finish_output();
}

/* ---- decryption (show, export) -------------------------------------- */

/* The identities of every -i file, for decrypting. */
struct keys {
	const char		*paths[MAX_IDENTITY_FILES];
	size_t			 npaths;
	struct age_identity	*ids;
	size_t			 nids;
};

static int
keys_add_path(struct keys *k, const char *path)
{
	if (k->npaths == MAX_IDENTITY_FILES)
		return fail(EXIT_USAGE, "too many -i options (at most %d)",
		    MAX_IDENTITY_FILES);
	k->paths[k->npaths++] = path;
	return EXIT_OK;
}

static int
keys_load(struct ctl *c, struct keys *k)
{
	char		first[DIAG_LINE];
	struct diag	d = { 0, keep_first, first };
	size_t		i;
	int		r;

	if (k->npaths == 0)
		return fail(EXIT_USAGE, "%s needs -i IDENTITY (a key file "
		    "from intakectl keygen or age-keygen)", c->cmd);
	for (i = 0; i < k->npaths; i++) {
		first[0] = '\0';
		d.count = 0;
		r = age_identities_file_read(k->paths[i], &k->ids, &k->nids,
		    &d);
		if (r != 0)
			return fail(EXIT_FAIL, "%s", *first ? first :
			    err_str(r));
	}
	if (k->nids == 0)
		return fail(EXIT_FAIL, "no identities in %s", k->paths[0]);
	return EXIT_OK;
}

static void
keys_free(struct keys *k)
{
	age_identities_free(k->ids, k->nids);
	k->ids = NULL;
	k->nids = 0;
}

/* Fetches inquiry id and decrypts it into pt (the caller wipes it). */
static int
decrypt_inquiry(struct store *st, const struct keys *k, const char *id,
    struct buf *pt)
{
	struct buf	ct;
	int		r;

	buf_init(&ct, 0);
	if ((r = store_get(st, id, NULL, &ct)) != 0) {
		buf_free(&ct);
		if (r == ERR_NOTFOUND)
			return fail(EXIT_FAIL, "no inquiry %s", id);
		return fail(EXIT_FAIL, "cannot read inquiry %s: %s", id,
		    err_str(r));
	}
	r = age_decrypt(k->ids, k->nids, ct.data, ct.len, pt);
	buf_free(&ct);
	if (r == ERR_NOKEY)
		return fail(EXIT_FAIL, "no identity matches inquiry %s", id);
	if (r != 0)
		return fail(EXIT_FAIL, "cannot decrypt inquiry %s: %s", id,
		    err_str(r));
	return EXIT_OK;
}

/*
 * Fetches, decrypts and parses inquiry id into *rec (the caller
 * json_decrefs it; jansson's memory is wiped on free). The record must
 * name the row's id: a ciphertext moved to another row is refused. The
 * parser's message is not shown: it may quote the plaintext.
 */
static int
load_record(struct store *st, const struct keys *k, const char *id,
    json_t **rec)
{
	struct buf	 pt;
	json_error_t	 jerr;
	const char	*rid;
	int		 rc;

	*rec = NULL;
	buf_init(&pt, 0);
	rc = decrypt_inquiry(st, k, id, &pt);
	if (rc == EXIT_OK)
		*rec = json_loadb(pt.data, pt.len, JSON_REJECT_DUPLICATES,
		    &jerr);
	buf_wipe(&pt);
	if (rc != EXIT_OK)
		return rc;
	if (*rec == NULL || !json_is_object(*rec)) {
		json_decref(*rec);
		*rec = NULL;
		return fail(EXIT_FAIL, "inquiry %s: record is not a JSON "
		    "object", id);
	}
	rid = json_string_value(json_object_get(*rec, "id"));
	if (rid == NULL || strcmp(rid, id) != 0) {
		json_decref(*rec);
		*rec = NULL;
		return fail(EXIT_FAIL, "inquiry %s: record names another id "
		    "(moved or tampered with)", id);
	}
	return EXIT_OK;
}

/* A value as text: strings as they are, anything else as compact JSON.
   The result is freed with wipe_free. */
static char *
value_text(const json_t *v)
{
	if (json_is_string(v))
		return strdup(json_string_value(v));
	return json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
}

static const char *
str_or(const json_t *o, const char *key, const char *dflt)
{
	const char	*s = json_string_value(json_object_get(o, key));

	return s ? s : dflt;
}

static void
print_line(const char *label, const char *value)
{
	printf("%-12s ", label);
	print_clean(stdout, value, "             ");
	putchar('\n');
}

static void
print_attachments(const json_t *atts)
{
	const json_t	*a;
	size_t		 i;
	char		 line[64];

	json_array_foreach(atts, i, a) {
		snprintf(line, sizeof(line), "%" JSON_INTEGER_FORMAT,
		    json_integer_value(json_object_get(a, "size")));
		printf("attachment %zu: ", i + 1);
		print_clean(stdout, str_or(a, "field", "?"), "");
		printf(": ");
		print_clean(stdout, str_or(a, "filename", "?"), "");
		printf(" (");
		print_clean(stdout, str_or(a, "content_type", "?"), "");
		printf(", %s bytes, sha256 ", line);
		print_clean(stdout, str_or(a, "sha256", "?"), "");
		printf(")\n");
	}
}

/* The readable form of a record: header lines, then "name: value". */
static void
print_record(const json_t *rec)
{
	const json_t	*client = json_object_get(rec, "client");
	const json_t	*v;
	const char	*name;
	char		*text;

	print_line("id:", str_or(rec, "id", "?"));
	print_line("form:", str_or(rec, "form", "?"));
	print_line("received_at:", str_or(rec, "received_at", "?"));
	print_line("client ip:", str_or(client, "ip", "-"));
	if (json_object_get(client, "user_agent") != NULL)
		print_line("user agent:", str_or(client, "user_agent", "-"));
	if (json_object_get(client, "referer") != NULL)
		print_line("referer:", str_or(client, "referer", "-"));
	putchar('\n');
	json_object_foreach((json_t *)json_object_get(rec, "fields"), name,
	    v) {
		if ((text = value_text(v)) == NULL)
			continue;
		print_clean(stdout, name, "");
		fputs(": ", stdout);
		print_clean(stdout, text, "  ");
		putchar('\n');
		wipe_free(text);
	}
	print_attachments(json_object_get(rec, "attachments"));
}

/* Who intakectl acts for in the audit log: "intakectl:USER". */
static void
audit_as(struct audit_event *ev, char *actor, size_t len, const char *action,
    const char *id)
{
	struct passwd	*pw = getpwuid(getuid());

	memset(ev, 0, sizeof(*ev));
	if (pw != NULL)
		snprintf(actor, len, "intakectl:%s", pw->pw_name);
	else
		snprintf(actor, len, "intakectl:uid-%u", (unsigned)getuid());
	ev->actor = actor;
	ev->action = action;
	ev->inquiry_id = id;
}

/*
 * Writes what is about to be read into the audit log, on a connection of
 * its own (the reading one is read-only). Plaintext is shown only once the
 * entry is committed: a read the log cannot record does not happen.
 */
static int
audit_read(struct ctl *c, const char *action, const char *id,
    const char *detail)
{
	struct store		*st;
	struct audit_event	 ev;
	char			 actor[AUDIT_ACTOR_MAX + 1];
	int			 rc, r;

	if ((rc = open_db(c, 0, &st)) != EXIT_OK)
		return rc;
	audit_as(&ev, actor, sizeof(actor), action, id);
	ev.detail = detail;
	r = audit_append(st, &ev);
	store_close(st);
	if (r != 0)
		return fail(EXIT_FAIL, "cannot write the audit log (%s); "
		    "nothing shown", err_str(r));
	return EXIT_OK;
}

static int
cmd_show(struct ctl *c, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "identity", required_argument, NULL, 'i' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	struct keys	 k = { .npaths = 0 };
	struct store	*st = NULL;
	json_t		*rec = NULL;
	const char	*id;
	char		*s;
	int		 ch, rc, json = 0;

	while ((ch = getopt_long(argc, argv, ":i:j", longopts, NULL)) != -1) {
		if (ch == 'j')
			json = 1;
		else if (ch != 'i')
			return bad_option(c, ch, argv);
		else if ((rc = keys_add_path(&k, optarg)) != EXIT_OK)
			return rc;
	}
	if ((rc = one_id(c, argc, argv, &id)) != EXIT_OK ||
	    (rc = keys_load(c, &k)) != EXIT_OK ||
	    (rc = open_db(c, STORE_RDONLY, &st)) != EXIT_OK ||
	    (rc = load_record(st, &k, id, &rec)) != EXIT_OK ||
	    (rc = audit_read(c, "view", id, NULL)) != EXIT_OK)
		goto out;
	if (json) {
		s = json_dumps(rec, JSON_INDENT(2));
		if (s != NULL)
			printf("%s\n", s);
		wipe_free(s);
	} else
		print_record(rec);
	rc = finish_output();
out:
	json_decref(rec);
	store_close(st);
	keys_free(&k);
	return rc;
}

/* ---- cat ------------------------------------------------------------ */

static int
to_stdout(void *arg, const void *p, size_t n)
{
	(void)arg;
	return fwrite(p, 1, n, stdout) == n ? 0 : ERR_IO;
}

/* "N" of --attachment or of the attachment command: from 1. */
static int
parse_n(const char *s, unsigned *n)
{
	uint64_t	v;

	if (parse_count(s, &v) == -1 || v == 0 || v > 1000)
		return fail(EXIT_USAGE, "bad attachment number '%s' (from 1)",
		    s);
	*n = (unsigned)v;
	return EXIT_OK;
}

/* Reads nothing: whether store_attachment finds the file at all. */
static int
stop_at_once(void *arg, const void *p, size_t n)
{
	(void)arg;
	(void)p;
	(void)n;
	return ERR_CLOSED;
}

static int
cmd_cat(struct ctl *c, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "attachment", required_argument, NULL, 'a' },
		{ NULL, 0, NULL, 0 }
	};
	struct store	*st;
	struct buf	 ct;
	const char	*id, *nstr = NULL;
	unsigned	 n = 0;
	int		 ch, rc, r;

	while ((ch = getopt_long(argc, argv, ":a:", longopts, NULL)) != -1) {
		if (ch != 'a')
			return bad_option(c, ch, argv);
		if ((rc = parse_n(optarg, &n)) != EXIT_OK)
			return rc;
		nstr = optarg;
	}
	if ((rc = one_id(c, argc, argv, &id)) != EXIT_OK)
		return rc;
	if (isatty(STDOUT_FILENO))
		return fail(EXIT_USAGE, "not writing a binary age file to a "
		    "terminal; redirect or pipe it (| age -d -i KEY)");
	if ((rc = open_db(c, STORE_RDONLY, &st)) != EXIT_OK)
		return rc;
	buf_init(&ct, 0);
	/* Audited once it is known to exist, before a byte goes out. */
	if (n > 0) {
		if ((r = store_attachment(st, id, n, stop_at_once, NULL)) ==
		    ERR_CLOSED && (rc = audit_read(c, "attachment", id,
		    nstr)) == EXIT_OK)
			r = store_attachment(st, id, n, to_stdout, NULL);
	} else if ((r = store_get(st, id, NULL, &ct)) == 0 &&
	    (rc = audit_read(c, "view", id, "sealed")) == EXIT_OK)
		fwrite(ct.data, 1, ct.len, stdout);
	store_close(st);
	buf_free(&ct);
	if (rc != EXIT_OK)
		return rc;
	if (r == ERR_NOTFOUND && n > 0)
		return fail(EXIT_FAIL, "inquiry %s has no attachment %u", id, n);
	if (r == ERR_NOTFOUND)
		return fail(EXIT_FAIL, "no inquiry %s", id);
	if (r != 0)
		return fail(EXIT_FAIL, "cannot read inquiry %s: %s", id,
		    err_str(r));
	return finish_output();
}

static int
to_buf(void *arg, const void *p, size_t n)
{
	return buf_append(arg, p, n);
}

/* A new file at path (0600, never an existing one), opened before any
   decryption so that a refusal costs nothing and audits nothing. */
static int
open_new(const char *path, int *fd)
{
	*fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (*fd == -1 && errno == EEXIST)
		return fail(EXIT_FAIL, "%s exists; not overwriting it", path);
	if (*fd == -1)
		return fail(EXIT_FAIL, "cannot create %s: %s", path,
		    strerror(errno));
	return EXIT_OK;
}

/* Writes p to fd from open_new and closes it; path goes on failure. */
static int
write_new(const char *path, int fd, const void *p, size_t n)
{
	if (fs_write_all(fd, p, n) == -1 || fsync(fd) == -1) {
		close(fd);
		unlink(path);
		return fail(EXIT_FAIL, "cannot write %s: %s", path,
		    strerror(errno));
	}
	if (close(fd) == -1) {
		unlink(path);
		return fail(EXIT_FAIL, "cannot write %s: %s", path,
		    strerror(errno));
	}
	return EXIT_OK;
}

/* The plaintext of attachment n, checked against the record's SHA-256
   (so a file swapped between rows or cut short is refused). */
static int
attachment_plain(struct store *st, const struct keys *k, const char *id,
    unsigned n, struct buf *pt)
{
	const json_t	*a;
	json_t		*rec = NULL;
	struct buf	 ct;
	unsigned char	 d[32];
	char		 hex[65];
	int		 rc, r;

	if ((rc = load_record(st, k, id, &rec)) != EXIT_OK)
		return rc;
	a = json_array_get(json_object_get(rec, "attachments"), n - 1);
	if (a == NULL) {
		json_decref(rec);
		return fail(EXIT_FAIL, "inquiry %s has no attachment %u", id, n);
	}
	buf_init(&ct, 0);
	if ((r = store_attachment(st, id, n, to_buf, &ct)) == 0)
		r = age_decrypt(k->ids, k->nids, ct.data, ct.len, pt);
	buf_free(&ct);
	if (r == 0) {
		crypto_hash_sha256(d, (unsigned char *)pt->data, pt->len);
		sodium_bin2hex(hex, sizeof(hex), d, sizeof(d));
		if (strcmp(hex, str_or(a, "sha256", "")) != 0)
			r = ERR_AUTH;
	}
	json_decref(rec);
	if (r == ERR_NOKEY)
		return fail(EXIT_FAIL, "no identity matches attachment %u of "
		    "%s", n, id);
	if (r == ERR_AUTH)
		return fail(EXIT_FAIL, "attachment %u of %s does not match its "
		    "SHA-256 in the record", n, id);
	if (r != 0)
		return fail(EXIT_FAIL, "cannot read attachment %u of %s: %s",
		    n, id, err_str(r));
	return EXIT_OK;
}

static int
cmd_attachment(struct ctl *c, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "identity", required_argument, NULL, 'i' },
		{ "output", required_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 }
	};
	struct keys	 k = { .npaths = 0 };
	struct store	*st = NULL;
	struct buf	 pt;
	const char	*id, *out = NULL;
	unsigned	 n = 0;
	int		 ch, rc, fd = -1;

	while ((ch = getopt_long(argc, argv, ":i:o:", longopts, NULL)) != -1) {
		if (ch == 'o')
			out = optarg;
		else if (ch != 'i')
			return bad_option(c, ch, argv);
		else if ((rc = keys_add_path(&k, optarg)) != EXIT_OK)
			return rc;
	}
	if (argc - optind != 2)
		return fail(EXIT_USAGE, "attachment needs an inquiry ID and a "
		    "number N (from 1)");
	id = argv[optind];
	if (!uuid_valid(id))
		return fail(EXIT_USAGE, "bad inquiry id '%s'", id);
	if ((rc = parse_n(argv[optind + 1], &n)) != EXIT_OK)
		return rc;
	if (out == NULL && isatty(STDOUT_FILENO))
		return fail(EXIT_USAGE, "not writing a file to a terminal; "
		    "use -o FILE or redirect");
	buf_init(&pt, 0);
	if ((rc = keys_load(c, &k)) != EXIT_OK ||
	    (out != NULL && (rc = open_new(out, &fd)) != EXIT_OK) ||
	    (rc = open_db(c, STORE_RDONLY, &st)) != EXIT_OK ||
	    (rc = attachment_plain(st, &k, id, n, &pt)) != EXIT_OK ||
	    (rc = audit_read(c, "attachment", id, argv[optind + 1])) !=
	    EXIT_OK)
		goto out;
	if (out != NULL) {
		rc = write_new(out, fd, pt.data, pt.len);
		fd = -1;
	} else {
		fwrite(pt.data, 1, pt.len, stdout);
		rc = finish_output();
	}
out:
	if (fd != -1) {
		close(fd);
		unlink(out);
	}
	buf_wipe(&pt);
	store_close(st);
	keys_free(&k);
	return rc;
}

/* ---- export --------------------------------------------------------- */

/* The ids to export, collected before decrypting anything. */
struct idlist {
	char	(*id)[STORE_ID_LEN + 1];
	size_t	  n, cap;
	int	  oom;
};

static int
collect_id(void *arg, const struct store_meta *m)
{
	struct idlist	*l = arg;
	void		*p;
	size_t		 cap;

	if (l->n == l->cap) {
		cap = l->cap ? l->cap * 2 : 256;
		if ((p = reallocarray(l->id, cap, sizeof(*l->id))) == NULL) {
			l->oom = 1;
			return -1;
		}
		l->id = p;
		l->cap = cap;
	}
	memcpy(l->id[l->n++], m->id, sizeof(*l->id));
	return 0;
}

static int
export_ndjson(struct store *st, const struct keys *k, const struct idlist *l)
{
	json_t	*rec;
	char	*s;
	size_t	 i;
	int	 rc;

	for (i = l->n; i-- > 0; ) {
		if ((rc = load_record(st, k, l->id[i], &rec)) != EXIT_OK)
			return rc;
		s = json_dumps(rec, JSON_COMPACT);
		json_decref(rec);
		if (s == NULL)
			return fail(EXIT_FAIL, "out of memory");
		printf("%s\n", s);
		wipe_free(s);
	}
	return finish_output();
}

/*
 * One CSV field per RFC 4180: quoted when it holds a comma, a quote, CR
 * or LF, with quotes doubled. Patient-supplied values (untrusted) that a
 * spreadsheet would take for a formula (= + - @ tab CR first) get a leading
 * apostrophe, which spreadsheets hide and which makes them plain text:
 * staff open these files, and a submitted "=HYPERLINK(...)" must not run.
 */
static void
csv_field(const char *s, int first, int untrusted)
{
	int	quote = strpbrk(s, ",\"\r\n") != NULL;

	if (!first)
		putchar(',');
	if (quote)
		putchar('"');
	if (untrusted && *s != '\0' && strchr("=+-@\t\r", *s) != NULL)
		putchar('\'');
	for (; *s != '\0'; s++) {
		if (*s == '"')
			putchar('"');
		putchar(*s);
	}
	if (quote)
		putchar('"');
}

/* Pass one: the union of field names, in order of first appearance, as
   the keys of *cols (an object, which keeps insertion order). */
static int
csv_columns(struct store *st, const struct keys *k, const struct idlist *l,
    json_t *cols)
{
	json_t		*rec, *v;
	const char	*name;
	size_t		 i;
	int		 rc;

	for (i = l->n; i-- > 0; ) {
		if ((rc = load_record(st, k, l->id[i], &rec)) != EXIT_OK)
			return rc;
		json_object_foreach(json_object_get(rec, "fields"), name, v) {
			if (json_object_get(cols, name) != NULL)
				continue;
			if (json_object_size(cols) == MAX_CSV_COLUMNS) {
				json_decref(rec);
				return fail(EXIT_FAIL, "more than %d distinct "
				    "fields; export as ndjson", MAX_CSV_COLUMNS);
			}
			json_object_set_new(cols, name, json_true());
		}
		json_decref(rec);
	}
	return EXIT_OK;
}

static void
csv_row(const char *id, const json_t *rec, const json_t *cols)
{
	const json_t	*fields = json_object_get(rec, "fields"), *v;
	const char	*name;
	char		*text;

	csv_field(id, 1, 0);
	csv_field(str_or(rec, "form", ""), 0, 0);
	csv_field(str_or(rec, "received_at", ""), 0, 0);
	json_object_foreach((json_t *)cols, name, v) {
		v = json_object_get(fields, name);
		text = v && !json_is_null(v) ? value_text(v) : NULL;
		csv_field(text ? text : "", 0, 1);
		wipe_free(text);
	}
	fputs("\r\n", stdout);
}

static int
export_csv(struct store *st, const struct keys *k, const struct idlist *l)
{
	json_t		*cols, *rec, *v;
	const char	*name;
	size_t		 i;
	int		 rc;

	if ((cols = json_object()) == NULL)
		return fail(EXIT_FAIL, "out of memory");
	if ((rc = csv_columns(st, k, l, cols)) != EXIT_OK)
		goto out;
	csv_field("id", 1, 0);
	csv_field("form", 0, 0);
	csv_field("received_at", 0, 0);
	json_object_foreach(cols, name, v)
		csv_field(name, 0, 1);
	fputs("\r\n", stdout);
	for (i = l->n; i-- > 0; ) {
		if ((rc = load_record(st, k, l->id[i], &rec)) != EXIT_OK)
			goto out;
		csv_row(l->id[i], rec, cols);
		json_decref(rec);
	}
	rc = finish_output();
out:
	json_decref(cols);
	return rc;
}

/* Parses export's options into k, f and *csv. */
static int
export_opts(struct ctl *c, int argc, char **argv, struct keys *k,
    struct store_filter *f, int *csv)
{
	static const struct option longopts[] = {
		{ "identity", required_argument, NULL, 'i' },
		{ "format", required_argument, NULL, 'F' },
		{ "since", required_argument, NULL, 's' },
		{ "until", required_argument, NULL, 'u' },
		{ "form", required_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 }
	};
	int	ch, rc;

	while ((ch = getopt_long(argc, argv, ":i:F:s:u:f:", longopts,
	    NULL)) != -1) {
		if (ch == '?' || ch == ':')
			return bad_option(c, ch, argv);
		if (ch == 'i')
			rc = keys_add_path(k, optarg);
		else if (ch != 'F')
			rc = filter_opt(ch, optarg, f);
		else if (strcmp(optarg, "csv") == 0 ||
		    strcmp(optarg, "ndjson") == 0) {
			*csv = strcmp(optarg, "csv") == 0;
			rc = EXIT_OK;
		} else
			rc = fail(EXIT_USAGE, "bad format '%s' (ndjson or "
			    "csv)", optarg);
		if (rc != EXIT_OK)
			return rc;
	}
	return no_args(c, argc, argv);
}

static int
cmd_export(struct ctl *c, int argc, char **argv)
{
	struct keys		 k = { .npaths = 0 };
	struct store_filter	 f = { 0 };
	struct idlist		 l = { NULL, 0, 0, 0 };
	struct store		*st = NULL;
	char			 detail[64];
	int			 rc, r, csv = 0;

	if ((rc = export_opts(c, argc, argv, &k, &f, &csv)) != EXIT_OK ||
	    (rc = keys_load(c, &k)) != EXIT_OK ||
	    (rc = open_db(c, STORE_RDONLY, &st)) != EXIT_OK)
		goto out;
	/* One read transaction: the list and every record come from the same
	   WAL snapshot, so a delete or the daemon's retention purge running
	   meanwhile cannot make a listed id vanish under the export. */
	if (store_read_begin(st) != 0) {
		rc = fail(EXIT_FAIL, "cannot read the database");
		goto out;
	}
	r = store_list(st, &f, collect_id, &l);
	if (r != 0 || l.oom) {
		rc = fail(EXIT_FAIL, "cannot list: %s",
		    err_str(l.oom ? ERR_NOMEM : r));
		goto out;
	}
	snprintf(detail, sizeof(detail), "%zu inquiries, %s", l.n,
	    csv ? "csv" : "ndjson");
	if ((rc = audit_read(c, "export", NULL, detail)) != EXIT_OK)
		goto out;
	rc = csv ? export_csv(st, &k, &l) : export_ndjson(st, &k, &l);
out:
	free(l.id);
	store_close(st);
	keys_free(&k);
	return rc;
}

/* ---- delete, purge, stats ------------------------------------------- */

static int
cmd_delete(struct ctl *c, int argc, char **argv)
{
	struct store		*st;
	struct audit_event	 ev;
	char			 actor[AUDIT_ACTOR_MAX + 1];
	const char		*id;
	int			 rc, r;

	if ((rc = no_options(c, argc, argv)) != EXIT_OK ||
	    (rc = one_id(c, argc, argv, &id)) != EXIT_OK ||
	    (rc = open_db(c, 0, &st)) != EXIT_OK)
		return rc;
	audit_as(&ev, actor, sizeof(actor), "delete", id);
	r = store_delete(st, id, &ev);
	store_close(st);
	if (r == ERR_NOTFOUND)
		return fail(EXIT_FAIL, "no inquiry %s", id);
	if (r != 0)
		return fail(EXIT_FAIL, "cannot delete inquiry %s: %s", id,
		    err_str(r));
	printf("deleted %s\n", id);
	return finish_output();
}

static int
cmd_purge(struct ctl *c, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "older-than", required_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 }
	};
	struct store		*st;
	struct audit_event	 ev;
	char			 actor[AUDIT_ACTOR_MAX + 1];
	const char		*age = NULL;
	uint64_t		 d, n = 0;
	int			 ch, rc, r;

	while ((ch = getopt_long(argc, argv, ":o:", longopts, NULL)) != -1) {
		if (ch != 'o')
			return bad_option(c, ch, argv);
		age = optarg;
	}
	if ((rc = no_args(c, argc, argv)) != EXIT_OK)
		return rc;
	if (age == NULL)
		return fail(EXIT_USAGE, "purge needs --older-than DURATION "
		    "(e.g. 90d)");
	if (config_parse_duration(age, &d) != 0 || d > INT64_MAX / 2)
		return fail(EXIT_USAGE, "bad duration '%s'", age);
	if ((rc = open_db(c, 0, &st)) != EXIT_OK)
		return rc;
	audit_as(&ev, actor, sizeof(actor), "purge", NULL);
	r = store_purge(st, clock_now_ms() - (int64_t)d, &n, &ev);
	store_close(st);
	if (r != 0)
		return fail(EXIT_FAIL, "cannot purge: %s", err_str(r));
	printf("purged %" PRIu64 " inquiries\n", n);
	return finish_output();
}

static void
print_time(const char *label, int64_t ms, int have)
{
	char	when[25];

	clock_rfc3339(ms, when);
	printf("%-15s %s\n", label, have ? when : "-");
}

static int
cmd_stats(struct ctl *c, int argc, char **argv)
{
	struct store_stats	 s;
	struct store		*st;
	int			 rc, r;

	if ((rc = no_options(c, argc, argv)) != EXIT_OK ||
	    (rc = no_args(c, argc, argv)) != EXIT_OK ||
	    (rc = open_db(c, STORE_RDONLY, &st)) != EXIT_OK)
		return rc;
	r = store_stats(st, &s);
	store_close(st);
	if (r != 0)
		return fail(EXIT_FAIL, "cannot read stats: %s",
		    err_str(r));
	printf("%-15s %" PRIu64 "\n", "inquiries:", s.inquiries);
	printf("%-15s %" PRIu64 "\n", "bytes:", s.bytes);
	print_time("oldest:", s.oldest_ms, s.inquiries > 0);
	print_time("newest:", s.newest_ms, s.inquiries > 0);
	printf("%-15s %" PRIu64 "\n", "mail queued:", s.outbox_queued);
	printf("%-15s %" PRIu64 "\n", "mail sent:", s.outbox_sent);
	printf("%-15s %" PRIu64 "\n", "mail failed:", s.outbox_failed);
	return finish_output();
}

/* ---- queue, retry --------------------------------------------------- */

static int
queue_row(void *arg, const struct outbox_row *r)
{
	char	when[25];

	(void)arg;
	clock_rfc3339(r->next_try_ms, when);
	printf("%-36s  %-6s  %-6s  %8u  %-24s  ", r->inquiry_id, r->kind,
	    r->state, r->attempts, when);
	print_clean(stdout, r->last_error[0] ? r->last_error : "-", " ");
	putchar('\n');
	return 0;
}

static int
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
			return bad_option(c, ch, argv);
		all = 1;
	}
	if ((rc = no_args(c, argc, argv)) != EXIT_OK ||
	    (rc = open_db(c, STORE_RDONLY, &st)) != EXIT_OK)
		return rc;
	printf("%-36s  %-6s  %-6s  %8s  %-24s  %s\n", "INQUIRY", "KIND",
	    "STATE", "ATTEMPTS", "NEXT TRY", "LAST ERROR");
	r = outbox_list(st, all, queue_row, NULL);
	store_close(st);
	if (r != 0)
		return fail(EXIT_FAIL, "cannot list the queue: %s",
		    err_str(r));
	return finish_output();
}

static int
cmd_retry(struct ctl *c, int argc, char **argv)
{
	struct store	*st;
	const char	*id;
	unsigned	 n = 0;
	int		 rc, r;

	if ((rc = no_options(c, argc, argv)) != EXIT_OK ||
	    (rc = one_id(c, argc, argv, &id)) != EXIT_OK ||
	    (rc = open_db(c, 0, &st)) != EXIT_OK)
		return rc;
	if ((r = store_get(st, id, NULL, NULL)) == 0)
		r = outbox_retry(st, id, &n);
	else if (r == ERR_NOTFOUND) {
		store_close(st);
		return fail(EXIT_FAIL, "no inquiry %s", id);
	}
	store_close(st);
	if (r == ERR_NOTFOUND)
		return fail(EXIT_FAIL, "inquiry %s has no failed "
		    "notifications", id);
	if (r != 0)
		return fail(EXIT_FAIL, "cannot retry inquiry %s: %s", id,
		    err_str(r));
	printf("requeued %u notification%s of %s\n", n, n == 1 ? "" : "s",
	    id);
	return finish_output();
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

static int
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
		else if (ch == 's' && parse_when(optarg, &since) == 0)
			continue;
		else if (ch == 's')
			return fail(EXIT_USAGE, "bad time '%s' (want RFC 3339 "
			    "or a duration like 7d)", optarg);
		else
			return bad_option(c, ch, argv);
	}
	if ((rc = no_args(c, argc, argv)) != EXIT_OK ||
	    (rc = open_db(c, STORE_RDONLY, &st)) != EXIT_OK)
		return rc;
	if (verify) {
		r = audit_verify(st, &bad);
		store_close(st);
		if (r == ERR_AUTH)
			return fail(EXIT_FAIL, "audit log broken at entry %lld: "
			    "altered, or an entry before it removed",
			    (long long)bad);
		if (r != 0)
			return fail(EXIT_FAIL, "cannot read the audit log: %s",
			    err_str(r));
		printf("audit log intact\n");
		return finish_output();
	}
	r = audit_list(st, since, audit_row, &o);
	store_close(st);
	if (o.json)
		printf(o.n ? "\n]\n" : "[]\n");
	if (r != 0)
		return fail(EXIT_FAIL, "cannot read the audit log: %s",
		    err_str(r));
	return finish_output();
}

/* ---- main ----------------------------------------------------------- */

static const struct command {
	const char	*name;
	int		(*fn)(struct ctl *, int, char **);
} commands[] = {
	{ "keygen", cmd_keygen },
	{ "list", cmd_list },
	{ "show", cmd_show },
	{ "cat", cmd_cat },
	{ "attachment", cmd_attachment },
	{ "export", cmd_export },
	{ "delete", cmd_delete },
	{ "purge", cmd_purge },
	{ "stats", cmd_stats },
	{ "queue", cmd_queue },
	{ "retry", cmd_retry },
	{ "audit", cmd_audit },
};

/* Parses the global options. Returns -1 to go on with the command, or
   the exit code (help and version print and succeed). */
static int
global_opts(struct ctl *c, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "database", required_argument, NULL, 'd' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	int	ch;

	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+:c:d:vhV", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'c':
			c->config_path = optarg;
			break;
		case 'd':
			c->db_override = optarg;
			break;
		case 'v':
			log_setlevel(LOG_LVL_DEBUG);
			break;
		case 'h':
			fputs(usage_text, stdout);
			return finish_output();
		case 'V':
			printf("intakectl %s\n", INTAKE_VERSION);
			return finish_output();
		default:
			return bad_option(c, ch, argv);
		}
	}
	return -1;
}

static const struct command *
find_command(const char *name)
{
	size_t	i;

	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

int
main(int argc, char **argv)
{
	struct ctl		 c = { DEFAULT_CONFIG, NULL, NULL, NULL };
	const struct command	*cmd;
	int			 rc;

	/* Store warnings would add lines to the one-line errors; -v. */
	log_init("intakectl", LOG_LVL_ERR);
	json_set_alloc_funcs(malloc, wipe_free);
	if (sodium_init() < 0)
		return fail(EXIT_FAIL, "cannot initialise libsodium");
	if ((rc = global_opts(&c, argc, argv)) != -1)
		return rc;
	argc -= optind;
	argv += optind;
	if (argc == 0)
		return fail(EXIT_USAGE, "no command given (see intakectl "
		    "--help)");
	if ((cmd = find_command(argv[0])) == NULL)
		return fail(EXIT_USAGE, "unknown command '%s' (see intakectl "
		    "--help)", argv[0]);
	if (argc > 1 && (strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "--help") == 0)) {
		fputs(usage_text, stdout);
		return finish_output();
	}
	c.cmd = cmd->name;
	optind = 0;	/* glibc: start over, on the command's own argv */
	rc = cmd->fn(&c, argc, argv);
	config_free(c.cfg);
	return rc;
}
