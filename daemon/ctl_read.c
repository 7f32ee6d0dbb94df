/* intakectl list, show, cat and attachment: reading what is stored. */
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
#include "uuid.h"
/* ---- list ----------------------------------------------------------- */

struct list_opts {
	struct store_filter	f;
	int			json;
};

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
	ctl_wipe_free(s);
	return 0;
}

int
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
			return ctl_bad_option(c, ch, argv);
		else if ((rc = ctl_filter_opt(ch, optarg, &f)) != EXIT_OK)
			return rc;
	}
	if ((rc = ctl_no_args(c, argc, argv)) != EXIT_OK ||
	    (rc = ctl_open_db(c, STORE_RDONLY, &st)) != EXIT_OK)
		return rc;
	if (!ls.json)
		printf("%-36s  %-24s  %-16s %9s  %s\n", "ID", "RECEIVED",
		    "FORM", "SIZE", "MAIL");
	r = store_list(st, &f, list_row, &ls);
	store_close(st);
	if (r != 0)
		return ctl_fail(EXIT_FAIL, "cannot list: %s", err_str(r));
	if (ls.json)
		printf(ls.n ? "\n]\n" : "[]\n");
	return ctl_finish();
}

static void
print_line(const char *label, const char *value)
{
	printf("%-12s ", label);
	ctl_print_clean(stdout, value, "             ");
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
		ctl_print_clean(stdout, ctl_str_or(a, "field", "?"), "");
		printf(": ");
		ctl_print_clean(stdout, ctl_str_or(a, "filename", "?"), "");
		printf(" (");
		ctl_print_clean(stdout, ctl_str_or(a, "content_type", "?"), "");
		printf(", %s bytes, sha256 ", line);
		ctl_print_clean(stdout, ctl_str_or(a, "sha256", "?"), "");
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

	print_line("id:", ctl_str_or(rec, "id", "?"));
	print_line("form:", ctl_str_or(rec, "form", "?"));
	print_line("received_at:", ctl_str_or(rec, "received_at", "?"));
	print_line("client ip:", ctl_str_or(client, "ip", "-"));
	if (json_object_get(client, "user_agent") != NULL)
		print_line("user agent:", ctl_str_or(client, "user_agent", "-"));
	if (json_object_get(client, "referer") != NULL)
		print_line("referer:", ctl_str_or(client, "referer", "-"));
	putchar('\n');
	json_object_foreach((json_t *)json_object_get(rec, "fields"), name,
	    v) {
		if ((text = ctl_value_text(v)) == NULL)
			continue;
		ctl_print_clean(stdout, name, "");
		fputs(": ", stdout);
		ctl_print_clean(stdout, text, "  ");
		putchar('\n');
		ctl_wipe_free(text);
	}
	print_attachments(json_object_get(rec, "attachments"));
}

int
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
			return ctl_bad_option(c, ch, argv);
		else if ((rc = ctl_keys_add(&k, optarg)) != EXIT_OK)
			return rc;
	}
	if ((rc = ctl_one_id(c, argc, argv, &id)) != EXIT_OK ||
	    (rc = ctl_keys_load(c, &k)) != EXIT_OK ||
	    (rc = ctl_open_db(c, STORE_RDONLY, &st)) != EXIT_OK ||
	    (rc = ctl_load_record(st, &k, id, &rec)) != EXIT_OK ||
	    (rc = ctl_audit_read(c, "view", id, NULL)) != EXIT_OK)
		goto out;
	if (json) {
		s = json_dumps(rec, JSON_INDENT(2));
		if (s != NULL)
			printf("%s\n", s);
		ctl_wipe_free(s);
	} else
		print_record(rec);
	rc = ctl_finish();
out:
	json_decref(rec);
	store_close(st);
	ctl_keys_free(&k);
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

	if (ctl_parse_count(s, &v) == -1 || v == 0 || v > 1000)
		return ctl_fail(EXIT_USAGE, "bad attachment number '%s' (from 1)",
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

int
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
			return ctl_bad_option(c, ch, argv);
		if ((rc = parse_n(optarg, &n)) != EXIT_OK)
			return rc;
		nstr = optarg;
	}
	if ((rc = ctl_one_id(c, argc, argv, &id)) != EXIT_OK)
		return rc;
	if (isatty(STDOUT_FILENO))
		return ctl_fail(EXIT_USAGE, "not writing a binary age file to a "
		    "terminal; redirect or pipe it (| age -d -i KEY)");
	if ((rc = ctl_open_db(c, STORE_RDONLY, &st)) != EXIT_OK)
		return rc;
	buf_init(&ct, 0);
	/* Audited once it is known to exist, before a byte goes out. */
	if (n > 0) {
		if ((r = store_attachment(st, id, n, stop_at_once, NULL)) ==
		    ERR_CLOSED && (rc = ctl_audit_read(c, "attachment", id,
		    nstr)) == EXIT_OK)
			r = store_attachment(st, id, n, to_stdout, NULL);
	} else if ((r = store_get(st, id, NULL, &ct)) == 0 &&
	    (rc = ctl_audit_read(c, "view", id, "sealed")) == EXIT_OK)
		fwrite(ct.data, 1, ct.len, stdout);
	store_close(st);
	buf_free(&ct);
	if (rc != EXIT_OK)
		return rc;
	if (r == ERR_NOTFOUND && n > 0)
		return ctl_fail(EXIT_FAIL, "inquiry %s has no attachment %u", id, n);
	if (r == ERR_NOTFOUND)
		return ctl_fail(EXIT_FAIL, "no inquiry %s", id);
	if (r != 0)
		return ctl_fail(EXIT_FAIL, "cannot read inquiry %s: %s", id,
		    err_str(r));
	return ctl_finish();
}

/* The plaintext of attachment n, checked against the record's SHA-256. */
static int
attachment_plain(struct store *st, const struct keys *k, const char *id,
    unsigned n, struct buf *pt)
{
	const json_t	*a;
	json_t		*rec = NULL;
	int		 rc;

	if ((rc = ctl_load_record(st, k, id, &rec)) != EXIT_OK)
		return rc;
	a = json_array_get(json_object_get(rec, "attachments"), n - 1);
	if (a == NULL)
		rc = ctl_fail(EXIT_FAIL, "inquiry %s has no attachment %u", id, n);
	else
		rc = ctl_file_plain(st, k, id, n, a, pt);
	json_decref(rec);
	return rc;
}

int
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
			return ctl_bad_option(c, ch, argv);
		else if ((rc = ctl_keys_add(&k, optarg)) != EXIT_OK)
			return rc;
	}
	if (argc - optind != 2)
		return ctl_fail(EXIT_USAGE, "attachment needs an inquiry ID and a "
		    "number N (from 1)");
	id = argv[optind];
	if (!uuid_valid(id))
		return ctl_fail(EXIT_USAGE, "bad inquiry id '%s'", id);
	if ((rc = parse_n(argv[optind + 1], &n)) != EXIT_OK)
		return rc;
	if (out == NULL && isatty(STDOUT_FILENO))
		return ctl_fail(EXIT_USAGE, "not writing a file to a terminal; "
		    "use -o FILE or redirect");
	buf_init(&pt, 0);
	if ((rc = ctl_keys_load(c, &k)) != EXIT_OK ||
	    (out != NULL && (rc = ctl_open_new(out, &fd)) != EXIT_OK) ||
	    (rc = ctl_open_db(c, STORE_RDONLY, &st)) != EXIT_OK ||
	    (rc = attachment_plain(st, &k, id, n, &pt)) != EXIT_OK ||
	    (rc = ctl_audit_read(c, "attachment", id, argv[optind + 1])) !=
	    EXIT_OK)
		goto out;
	if (out != NULL) {
		rc = ctl_write_new(out, fd, pt.data, pt.len);
		fd = -1;
	} else {
		fwrite(pt.data, 1, pt.len, stdout);
		rc = ctl_finish();
	}
out:
	if (fd != -1) {
		close(fd);
		unlink(out);
	}
	buf_wipe(&pt);
	store_close(st);
	ctl_keys_free(&k);
	return rc;
}
