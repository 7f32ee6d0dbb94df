/*
 * What intakectl's commands share: the one error line, the configuration
 * and database, option and argument checks, identities and decrypted
 * records, the audit entry of a read, and files written for the staff.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <malloc.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "audit.h"
#include "ctl.h"
#include "fsutil.h"
#include "store_pg.h"
#include "utf8.h"
#include "uuid.h"
/* Prints the one error line and returns the exit code for it. */
int LOG_PRINTF(2, 3)
ctl_fail(int code, const char *fmt, ...)
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
void
ctl_wipe_free(void *p)
{
	if (p == NULL)
		return;
	sodium_memzero(p, malloc_usable_size(p));
	free(p);
}

/* Keeps the first "file:line: reason" of a diag, for the one error line. */
void
ctl_keep_first(struct diag *d, const char *line)
{
	if (d->count == 1)
		snprintf(d->arg, DIAG_LINE, "%s", line);
}

const char *
ctl_db_path(struct ctl *c)
{
	return c->db_override ? c->db_override : c->cfg->store;
}

/* Loads the configuration unless -d made it unnecessary. */
int
ctl_load_config(struct ctl *c)
{
	char		first[DIAG_LINE] = "";
	struct diag	d = { 0, ctl_keep_first, first };

	if (c->db_override != NULL || c->cfg != NULL)
		return EXIT_OK;
	if (config_load(c->config_path, &c->cfg, &d) != 0) {
		if (d.count > 1)
			return ctl_fail(EXIT_FAIL, "%s (and %u more problems)",
			    first, d.count - 1);
		return ctl_fail(EXIT_FAIL, "%s", *first ? first :
		    "cannot load the configuration");
	}
	return EXIT_OK;
}

/* Opens the database named by -d or the configuration. */
int
ctl_open_db(struct ctl *c, int flags, struct store **st)
{
	char		 first[DIAG_LINE] = "";
	struct diag	 d = { 0, ctl_keep_first, first };
	const char	*db, *name;
	int		 rc, r;

	if ((rc = ctl_load_config(c)) != EXIT_OK)
		return rc;
	db = ctl_db_path(c);
	/* A URI may hold a password: it is never printed. */
	name = store_pg_target(db) ? "on PostgreSQL" : db;
	if (store_pg_target(db) && store_pg_password(c->cfg ?
	    c->cfg->db_password_file : NULL, &d) != 0)
		return ctl_fail(EXIT_FAIL, "%s", first);
	errno = 0;
	if ((r = store_open(db, flags, st)) == 0)
		return EXIT_OK;
	if (r == ERR_NOTFOUND)
		return ctl_fail(EXIT_FAIL, "cannot open database %s: %s", name,
		    store_pg_target(db) ? "no intaked schema there" :
		    strerror(ENOENT));
	return ctl_fail(EXIT_FAIL, "cannot open database %s: %s", name,
	    err_str(r));
}

/* "2026-11-21…" or a duration such as 7d meaning that long ago. */
int
ctl_parse_when(const char *s, int64_t *ms)
{
	uint64_t	d;

	if (clock_rfc3339_parse(s, ms) == 0)
		return 0;
	if (config_parse_duration(s, &d) != 0 || d > INT64_MAX / 2)
		return -1;
	*ms = clock_now_ms() - (int64_t)d;
	return 0;
}

int
ctl_parse_count(const char *s, uint64_t *n)
{
	char	*end;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	*n = strtoull(s, &end, 10);
	return errno != 0 || *end != '\0' ? -1 : 0;
}

/* The getopt error for the current subcommand, as the one line. */
int
ctl_bad_option(struct ctl *c, int ch, char **argv)
{
	const char	*cmd = c->cmd ? c->cmd : "";
	const char	*sep = c->cmd ? ": " : "";

	if (ch == ':')
		return ctl_fail(EXIT_USAGE, "%s%s%s needs an argument", cmd, sep,
		    argv[optind - 1]);
	return ctl_fail(EXIT_USAGE, "%s%sunknown option '%s' (see intakectl "
	    "--help)", cmd, sep, argv[optind - 1]);
}

/* The single ID argument left after the options, checked. */
int
ctl_one_id(struct ctl *c, int argc, char **argv, const char **id)
{
	if (argc - optind != 1)
		return ctl_fail(EXIT_USAGE, "%s needs exactly one inquiry ID",
		    c->cmd);
	*id = argv[optind];
	if (!uuid_valid(*id))
		return ctl_fail(EXIT_USAGE, "bad inquiry id '%s'", *id);
	return EXIT_OK;
}

/* For commands without options: any option is an error. */
int
ctl_no_options(struct ctl *c, int argc, char **argv)
{
	static const struct option	longopts[] = { { NULL, 0, NULL, 0 } };
	int				ch;

	if ((ch = getopt_long(argc, argv, ":", longopts, NULL)) != -1)
		return ctl_bad_option(c, ch, argv);
	return EXIT_OK;
}

int
ctl_no_args(struct ctl *c, int argc, char **argv)
{
	if (argc != optind)
		return ctl_fail(EXIT_USAGE, "%s: unexpected argument '%s'",
		    c->cmd, argv[optind]);
	return EXIT_OK;
}

/* Flushes stdout and reports a failed write (a full disk, a closed pipe). */
int
ctl_finish(void)
{
	if (fflush(stdout) == EOF || ferror(stdout))
		return ctl_fail(EXIT_FAIL, "write error: %s", strerror(errno));
	return EXIT_OK;
}

/*
 * Prints s for a person: control characters become '?', so a hostile
 * value cannot drive the terminal, and characters that hide or reorder
 * text (bidi controls, zero-width characters, BOM, line separators) are
 * shown as marks like ⟦U+202E⟧, as the inbox shows them; each newline is
 * followed by indent.
 */
void
ctl_print_clean(FILE *f, const char *s, const char *indent)
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

/* Parses --since/--until/--form/--limit (shared by list and export);
   returns EXIT_OK or a printed error's code. */
int
ctl_filter_opt(int ch, const char *arg, struct store_filter *f)
{
	int64_t		ms;

	switch (ch) {
	case 's':
	case 'u':
		if (ctl_parse_when(arg, &ms) == -1)
			return ctl_fail(EXIT_USAGE, "bad time '%s' (want RFC 3339 "
			    "or a duration like 7d)", arg);
		if (ch == 's')
			f->since_ms = ms;
		else
			f->until_ms = ms;
		return EXIT_OK;
	case 'f':
		if (*arg == '\0' || strlen(arg) > STORE_FORM_MAX)
			return ctl_fail(EXIT_USAGE, "bad form name '%s'", arg);
		f->form = arg;
		return EXIT_OK;
	case 'n':
		if (ctl_parse_count(arg, &f->limit) == -1 || f->limit == 0)
			return ctl_fail(EXIT_USAGE, "bad limit '%s'", arg);
		return EXIT_OK;
	}
	return EXIT_USAGE;
}

/* ---- identities and records ------------------------------------- */

int
ctl_keys_add(struct keys *k, const char *path)
{
	if (k->npaths == MAX_IDENTITY_FILES)
		return ctl_fail(EXIT_USAGE, "too many -i options (at most %d)",
		    MAX_IDENTITY_FILES);
	k->paths[k->npaths++] = path;
	return EXIT_OK;
}

int
ctl_keys_load(struct ctl *c, struct keys *k)
{
	char		first[DIAG_LINE];
	struct diag	d = { 0, ctl_keep_first, first };
	size_t		i;
	int		r;

	if (k->npaths == 0)
		return ctl_fail(EXIT_USAGE, "%s needs -i IDENTITY (a key file "
		    "from intakectl keygen or age-keygen)", c->cmd);
	for (i = 0; i < k->npaths; i++) {
		first[0] = '\0';
		d.count = 0;
		r = age_identities_file_read(k->paths[i], &k->ids, &k->nids,
		    &d);
		if (r != 0)
			return ctl_fail(EXIT_FAIL, "%s", *first ? first :
			    err_str(r));
	}
	if (k->nids == 0)
		return ctl_fail(EXIT_FAIL, "no identities in %s", k->paths[0]);
	return EXIT_OK;
}

void
ctl_keys_free(struct keys *k)
{
	age_identities_free(k->ids, k->nids);
	k->ids = NULL;
	k->nids = 0;
}

/* Fetches inquiry id and decrypts it into pt (the caller wipes it). */
int
ctl_decrypt(struct store *st, const struct keys *k, const char *id,
    struct buf *pt)
{
	struct buf	ct;
	int		r;

	buf_init(&ct, 0);
	if ((r = store_get(st, id, NULL, &ct)) != 0) {
		buf_free(&ct);
		if (r == ERR_NOTFOUND)
			return ctl_fail(EXIT_FAIL, "no inquiry %s", id);
		return ctl_fail(EXIT_FAIL, "cannot read inquiry %s: %s", id,
		    err_str(r));
	}
	r = age_decrypt(k->ids, k->nids, ct.data, ct.len, pt);
	buf_free(&ct);
	if (r == ERR_NOKEY && k->skipped != NULL) {
		(*k->skipped)++;
		return CTL_SKIPPED;
	}
	if (r == ERR_NOKEY)
		return ctl_fail(EXIT_FAIL, "no identity matches inquiry %s", id);
	if (r != 0)
		return ctl_fail(EXIT_FAIL, "cannot decrypt inquiry %s: %s", id,
		    err_str(r));
	return EXIT_OK;
}

/*
 * Fetches, decrypts and parses inquiry id into *rec (the caller
 * json_decrefs it; jansson's memory is wiped on free). The record must
 * name the row's id: a ciphertext moved to another row is refused. The
 * parser's message is not shown: it may quote the plaintext.
 */
int
ctl_load_record(struct store *st, const struct keys *k, const char *id,
    json_t **rec)
{
	struct buf	 pt;
	json_error_t	 jerr;
	const char	*rid;
	int		 rc;

	*rec = NULL;
	buf_init(&pt, 0);
	rc = ctl_decrypt(st, k, id, &pt);
	if (rc == EXIT_OK)
		*rec = json_loadb(pt.data, pt.len, JSON_REJECT_DUPLICATES,
		    &jerr);
	buf_wipe(&pt);
	if (rc != EXIT_OK)
		return rc;
	if (*rec == NULL || !json_is_object(*rec)) {
		json_decref(*rec);
		*rec = NULL;
		return ctl_fail(EXIT_FAIL, "inquiry %s: record is not a JSON "
		    "object", id);
	}
	rid = json_string_value(json_object_get(*rec, "id"));
	if (rid == NULL || strcmp(rid, id) != 0) {
		json_decref(*rec);
		*rec = NULL;
		return ctl_fail(EXIT_FAIL, "inquiry %s: record names another id "
		    "(moved or tampered with)", id);
	}
	return EXIT_OK;
}

/* A value as text: strings as they are, anything else as compact JSON.
   The result is freed with ctl_wipe_free. */
char *
ctl_value_text(const json_t *v)
{
	if (json_is_string(v))
		return strdup(json_string_value(v));
	return json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
}

const char *
ctl_str_or(const json_t *o, const char *key, const char *dflt)
{
	const char	*s = json_string_value(json_object_get(o, key));

	return s ? s : dflt;
}

/* Who intakectl acts for in the audit log: "intakectl:USER". */
void
ctl_audit_as(struct audit_event *ev, char *actor, size_t len, const char *action,
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
int
ctl_audit_read(struct ctl *c, const char *action, const char *id,
    const char *detail)
{
	struct store		*st;
	struct audit_event	 ev;
	char			 actor[AUDIT_ACTOR_MAX + 1];
	int			 rc, r;

	if ((rc = ctl_open_db(c, 0, &st)) != EXIT_OK)
		return rc;
	ctl_audit_as(&ev, actor, sizeof(actor), action, id);
	ev.detail = detail;
	r = audit_append(st, &ev);
	store_close(st);
	if (r != 0)
		return ctl_fail(EXIT_FAIL, "cannot write the audit log (%s); "
		    "nothing shown", err_str(r));
	return EXIT_OK;
}

int
ctl_to_buf(void *arg, const void *p, size_t n)
{
	return buf_append(arg, p, n);
}

/* A new file at path (0600, never an existing one), opened before any
   decryption so that a refusal costs nothing and audits nothing. */
int
ctl_open_new(const char *path, int *fd)
{
	*fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (*fd == -1 && errno == EEXIST)
		return ctl_fail(EXIT_FAIL, "%s exists; not overwriting it", path);
	if (*fd == -1)
		return ctl_fail(EXIT_FAIL, "cannot create %s: %s", path,
		    strerror(errno));
	return EXIT_OK;
}

/* Writes p to fd from open_new and closes it; path goes on failure. */
int
ctl_write_new(const char *path, int fd, const void *p, size_t n)
{
	if (fs_write_all(fd, p, n) == -1 || fsync(fd) == -1) {
		close(fd);
		unlink(path);
		return ctl_fail(EXIT_FAIL, "cannot write %s: %s", path,
		    strerror(errno));
	}
	if (close(fd) == -1) {
		unlink(path);
		return ctl_fail(EXIT_FAIL, "cannot write %s: %s", path,
		    strerror(errno));
	}
	return EXIT_OK;
}

/* A store_list callback collecting ids, so that nothing is decrypted
   while the list is read. */
int
ctl_collect_id(void *arg, const struct store_meta *m)
{
	struct ctl_ids	*l = arg;
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


/*
 * Attachment n of inquiry id decrypted into pt, checked against meta, its
 * entry in the (authenticated) record: a file swapped between rows or cut
 * short is refused.
 */
int
ctl_file_plain(struct store *st, const struct keys *k, const char *id,
    unsigned n, const json_t *meta, struct buf *pt)
{
	struct buf	 ct;
	unsigned char	 d[32];
	char		 hex[65];
	int		 r;

	buf_init(&ct, 0);
	if ((r = store_attachment(st, id, n, ctl_to_buf, &ct)) == 0)
		r = age_decrypt(k->ids, k->nids, ct.data, ct.len, pt);
	buf_free(&ct);
	if (r == 0) {
		crypto_hash_sha256(d, (unsigned char *)pt->data, pt->len);
		sodium_bin2hex(hex, sizeof(hex), d, sizeof(d));
		if (strcmp(hex, ctl_str_or(meta, "sha256", "")) != 0)
			r = ERR_AUTH;
	}
	if (r == ERR_NOKEY)
		return ctl_fail(EXIT_FAIL, "no identity matches attachment %u of "
		    "%s", n, id);
	if (r == ERR_AUTH)
		return ctl_fail(EXIT_FAIL, "attachment %u of %s does not match its "
		    "SHA-256 in the record", n, id);
	if (r != 0)
		return ctl_fail(EXIT_FAIL, "cannot read attachment %u of %s: %s",
		    n, id, err_str(r));
	return EXIT_OK;
}

int
ctl_each_record(struct store *st, const struct keys *k,
    const struct ctl_ids *l, int (*fn)(void *, const char *, json_t *),
    void *arg)
{
	json_t	*rec;
	size_t	 i;
	int	 rc;

	for (i = l->n; i-- > 0; ) {
		if ((rc = ctl_load_record(st, k, l->id[i], &rec)) ==
		    CTL_SKIPPED)
			continue;
		if (rc == EXIT_OK)
			rc = fn(arg, l->id[i], rec);
		json_decref(rec);
		if (rc != EXIT_OK)
			return rc;
	}
	return EXIT_OK;
}
