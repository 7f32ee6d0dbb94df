/* intakectl export: decrypted inquiries as NDJSON or CSV, oldest first. */
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
/* ---- export --------------------------------------------------------- */

static int
ndjson_line(void *arg, const char *id, json_t *rec)
{
	char	*s;

	(void)arg;
	(void)id;
	if ((s = json_dumps(rec, JSON_COMPACT)) == NULL)
		return ctl_fail(EXIT_FAIL, "out of memory");
	printf("%s\n", s);
	ctl_wipe_free(s);
	return EXIT_OK;
}

static int
export_ndjson(struct store *st, const struct keys *k, const struct ctl_ids *l)
{
	int	rc;

	if ((rc = ctl_each_record(st, k, l, ndjson_line, NULL)) != EXIT_OK)
		return rc;
	return ctl_finish();
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
   the keys of cols (an object, which keeps insertion order). */
static int
csv_columns(void *arg, const char *id, json_t *rec)
{
	json_t		*cols = arg, *v;
	const char	*name;

	(void)id;
	json_object_foreach(json_object_get(rec, "fields"), name, v) {
		if (json_object_get(cols, name) != NULL)
			continue;
		if (json_object_size(cols) == MAX_CSV_COLUMNS)
			return ctl_fail(EXIT_FAIL, "more than %d distinct "
			    "fields; export as ndjson", MAX_CSV_COLUMNS);
		json_object_set_new(cols, name, json_true());
	}
	return EXIT_OK;
}

/* Pass two: one row per record, a cell per column. */
static int
csv_row(void *arg, const char *id, json_t *rec)
{
	const json_t	*cols = arg;
	const json_t	*fields = json_object_get(rec, "fields"), *v;
	const char	*name;
	char		*text;

	csv_field(id, 1, 0);
	csv_field(ctl_str_or(rec, "form", ""), 0, 0);
	csv_field(ctl_str_or(rec, "received_at", ""), 0, 0);
	json_object_foreach((json_t *)cols, name, v) {
		v = json_object_get(fields, name);
		text = v && !json_is_null(v) ? ctl_value_text(v) : NULL;
		csv_field(text ? text : "", 0, 1);
		ctl_wipe_free(text);
	}
	fputs("\r\n", stdout);
	return EXIT_OK;
}

static int
export_csv(struct store *st, const struct keys *k, const struct ctl_ids *l)
{
	json_t		*cols, *v;
	struct keys	 again;
	const char	*name;
	size_t		 twice = 0;
	int		 rc;

	if ((cols = json_object()) == NULL)
		return ctl_fail(EXIT_FAIL, "out of memory");
	if ((rc = ctl_each_record(st, k, l, csv_columns, cols)) != EXIT_OK)
		goto out;
	csv_field("id", 1, 0);
	csv_field("form", 0, 0);
	csv_field("received_at", 0, 0);
	json_object_foreach(cols, name, v)
		csv_field(name, 0, 1);
	fputs("\r\n", stdout);
	/* The columns pass counted what no identity opens; not again. */
	again = *k;
	again.skipped = &twice;
	if ((rc = ctl_each_record(st, &again, l, csv_row, cols)) == EXIT_OK)
		rc = ctl_finish();
out:
	json_decref(cols);
	return rc;
}

enum { FMT_NDJSON, FMT_CSV, FMT_FHIR, FMT_FHIR_FILES };

/* Parses export's options into k, f and *fmt. */
static int
export_opts(struct ctl *c, int argc, char **argv, struct keys *k,
    struct store_filter *f, int *fmt)
{
	static const struct option longopts[] = {
		{ "identity", required_argument, NULL, 'i' },
		{ "format", required_argument, NULL, 'F' },
		{ "since", required_argument, NULL, 's' },
		{ "until", required_argument, NULL, 'u' },
		{ "form", required_argument, NULL, 'f' },
		{ "with-files", no_argument, NULL, 'W' },
		{ NULL, 0, NULL, 0 }
	};
	int	ch, rc, files = 0;

	while ((ch = getopt_long(argc, argv, ":i:F:s:u:f:", longopts,
	    NULL)) != -1) {
		if (ch == '?' || ch == ':')
			return ctl_bad_option(c, ch, argv);
		if (ch == 'i')
			rc = ctl_keys_add(k, optarg);
		else if (ch == 'W') {
			files = 1;
			rc = EXIT_OK;
		} else if (ch != 'F')
			rc = ctl_filter_opt(ch, optarg, f);
		else if (strcmp(optarg, "ndjson") == 0 ||
		    strcmp(optarg, "csv") == 0 || strcmp(optarg, "fhir") == 0) {
			*fmt = optarg[0] == 'n' ? FMT_NDJSON : optarg[0] == 'c' ?
			    FMT_CSV : FMT_FHIR;
			rc = EXIT_OK;
		} else
			rc = ctl_fail(EXIT_USAGE, "bad format '%s' (ndjson, csv "
			    "or fhir)", optarg);
		if (rc != EXIT_OK)
			return rc;
	}
	if (files && *fmt != FMT_FHIR)
		return ctl_fail(EXIT_USAGE, "--with-files goes with --format "
		    "fhir");
	if (files)
		*fmt = FMT_FHIR_FILES;
	return ctl_no_args(c, argc, argv);
}

int
cmd_export(struct ctl *c, int argc, char **argv)
{
	struct keys		 k = { .npaths = 0 };
	struct store_filter	 f = { 0 };
	struct ctl_ids		 l = { NULL, 0, 0, 0 };
	struct store		*st = NULL;
	char			 detail[64];
	size_t			 skipped = 0;
	int			 rc, r, fmt = FMT_NDJSON;
	static const char *const fmts[] = { "ndjson", "csv", "fhir",
	    "fhir with files" };

	if ((rc = export_opts(c, argc, argv, &k, &f, &fmt)) != EXIT_OK ||
	    (fmt >= FMT_FHIR && (rc = ctl_load_config(c)) != EXIT_OK) ||
	    (rc = ctl_keys_load(c, &k)) != EXIT_OK ||
	    (rc = ctl_open_db(c, STORE_RDONLY, &st)) != EXIT_OK)
		goto out;
	/* One read transaction: the list and every record come from the same
	   WAL snapshot, so a delete or the daemon's retention purge running
	   meanwhile cannot make a listed id vanish under the export. */
	if (store_read_begin(st) != 0) {
		rc = ctl_fail(EXIT_FAIL, "cannot read the database");
		goto out;
	}
	r = store_list(st, &f, ctl_collect_id, &l);
	if (r != 0 || l.oom) {
		rc = ctl_fail(EXIT_FAIL, "cannot list: %s",
		    err_str(l.oom ? ERR_NOMEM : r));
		goto out;
	}
	snprintf(detail, sizeof(detail), "%zu inquiries, %s", l.n, fmts[fmt]);
	if ((rc = ctl_audit_read(c, "export", NULL, detail)) != EXIT_OK)
		goto out;
	/* What no given identity opens is left out and counted, so that one
	   key missing does not cost the rest of the export. */
	k.skipped = &skipped;
	if (fmt == FMT_CSV)
		rc = export_csv(st, &k, &l);
	else if (fmt == FMT_NDJSON)
		rc = export_ndjson(st, &k, &l);
	else
		rc = ctl_export_fhir(c, st, &k, &l, fmt == FMT_FHIR_FILES);
	if (rc == EXIT_OK && skipped > 0)
		rc = ctl_fail(EXIT_FAIL, "%zu of %zu inquiries skipped: no "
		    "identity given opens them", skipped, l.n);
out:
	free(l.id);
	store_close(st);
	ctl_keys_free(&k);
	return rc;
}
