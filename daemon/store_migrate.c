/*
 * intakectl migrate: a SQLite store copied into a PostgreSQL one, every
 * table row for row, in one PostgreSQL transaction that commits only
 * after the copy has been read back and found equal: row counts and a
 * SHA-256 over every table, ordered by its key. The source is opened
 * read-only and read inside one snapshot; a daemon may keep writing to
 * it meanwhile (what it writes after the snapshot is not copied: stop it
 * first, as the README says).
 *
 * The one place that knows both backends' files: it reads SQLite and
 * writes libpq directly, since no store operation moves raw rows.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "libpq.h"
#include "log.h"
#include "store.h"
#include "store_migrate.h"
#include "store_pg.h"
#include "store_sqlite.h"

#define BATCH	256	/* statements per pipeline sync */
#define NCOLS	10

/* The schema's tables, parents before children, with their columns in
   key order first (the order both reads sort by). */
static const struct table {
	const char	*name;
	const char	*cols;
	const char	*key;
	int		 ncols;
} tables[] = {
	{ "inquiries", "id, form, received_at, size, record, status", "id",
	  6 },
	{ "attachments", "inquiry_id, n, size", "inquiry_id, n", 3 },
	{ "attachment_chunks", "inquiry_id, n, seq, data",
	  "inquiry_id, n, seq", 4 },
	{ "outbox", "id, inquiry_id, kind, state, attempts, created_at,"
	  " next_try, last_error, message, claimed_until", "id", 10 },
	{ "audit", "seq, at, actor, action, inquiry_id, client, detail, prev,"
	  " hash", "seq", 9 },
	{ "challenges", "digest, recipient, expires", "digest", 3 },
	{ "sessions", "digest, recipient, created, seen", "digest", 4 },
	{ "spent", "digest, expires", "digest", 2 },
};
#define NTABLES	(sizeof(tables) / sizeof(tables[0]))
_Static_assert(NTABLES <= STORE_MIGRATE_TABLES, "report too small");
_Static_assert(SQ_SCHEMA_VERSION == 5, "migrate knows schema version 5");

/* One value into the running hash: its kind, length and bytes, so that
   no two different rows hash alike. Blobs go in as lowercase hex, the
   form PostgreSQL's encode(x, 'hex') reads them back in. */
static void
hash_value(crypto_hash_sha256_state *h, int null, const char *p,
    size_t len)
{
	unsigned char	n[9];
	uint64_t	l = len;
	int		i;

	n[0] = null ? 'N' : 'V';
	for (i = 0; i < 8; i++)
		n[1 + i] = (unsigned char)(l >> (8 * (7 - i)));
	crypto_hash_sha256_update(h, n, sizeof(n));
	if (!null && len > 0)
		crypto_hash_sha256_update(h, (const unsigned char *)p, len);
}

/* The SQLite side of a value, as text (blobs hex) into *tmp. */
static const char *
sq_text(sqlite3_stmt *s, int c, size_t *len, char **tmp, size_t *cap)
{
	const unsigned char	*b;
	size_t			 n, need;

	if (sqlite3_column_type(s, c) != SQLITE_BLOB) {
		*len = (size_t)sqlite3_column_bytes(s, c);
		return (const char *)sqlite3_column_text(s, c);
	}
	b = sqlite3_column_blob(s, c);
	n = (size_t)sqlite3_column_bytes(s, c);
	need = 2 * n + 1;
	if (need > *cap) {
		free(*tmp);
		if ((*tmp = malloc(need)) == NULL) {
			*cap = 0;
			return NULL;
		}
		*cap = need;
	}
	sodium_bin2hex(*tmp, need, b, n);
	*len = 2 * n;
	return *tmp;
}

/* Reads the results of the statements sent since the last sync. */
static int
sync_batch(PGconn *c)
{
	PGresult	*res;
	int		 r = 0, nulls = 0;

	if (pq.pipelineSync(c) != 1)
		return ERR_IO;
	for (;;) {
		if ((res = pq.getResult(c)) == NULL) {
			if (++nulls > 1)
				return ERR_IO;
			continue;
		}
		nulls = 0;
		if (pq.resultStatus(res) == PGRES_PIPELINE_SYNC) {
			pq.clear(res);
			return r;
		}
		if (r == 0 && pq.resultStatus(res) != PGRES_COMMAND_OK) {
			log_warnx("migrate: %s",
			    pq.resultErrorField(res, PG_DIAG_MESSAGE_PRIMARY));
			r = ERR_IO;
		}
		pq.clear(res);
	}
}

/* Copies one table, row by row in pipelined INSERTs. */
static int
copy_table(sqlite3 *db, PGconn *c, const struct table *t,
    struct store_migrate_table *out)
{
	sqlite3_stmt	*s;
	const char	*v[NCOLS];
	int		 len[NCOLS], fmt[NCOLS];
	char		 sql[512], ins[512], num[NCOLS][24];
	size_t		 sent = 0;
	int		 i, rc, r = 0;

	snprintf(sql, sizeof(sql), "SELECT %s FROM %s ORDER BY %s", t->cols,
	    t->name, t->key);
	i = snprintf(ins, sizeof(ins), "INSERT INTO %s(%s) VALUES (",
	    t->name, t->cols);
	for (int k = 1; k <= t->ncols; k++)
		i += snprintf(ins + i, sizeof(ins) - (size_t)i, "%s$%d",
		    k > 1 ? ", " : "", k);
	snprintf(ins + i, sizeof(ins) - (size_t)i, ")");
	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
		return ERR_IO;
	pq.enterPipelineMode(c);
	while (r == 0 && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		for (i = 0; i < t->ncols; i++) {
			fmt[i] = 0;
			len[i] = 0;
			switch (sqlite3_column_type(s, i)) {
			case SQLITE_NULL:
				v[i] = NULL;
				break;
			case SQLITE_INTEGER:
				snprintf(num[i], sizeof(num[i]), "%lld",
				    (long long)sqlite3_column_int64(s, i));
				v[i] = num[i];
				break;
			case SQLITE_BLOB:
				v[i] = sqlite3_column_blob(s, i);
				len[i] = sqlite3_column_bytes(s, i);
				fmt[i] = 1;
				if (v[i] == NULL)	/* an empty blob */
					v[i] = "";
				break;
			default:
				v[i] = (const char *)sqlite3_column_text(s, i);
				break;
			}
		}
		if (pq.sendQueryParams(c, ins, t->ncols, NULL, v, len, fmt,
		    0) != 1) {
			r = ERR_IO;
			break;
		}
		out->rows++;
		if (++sent % BATCH == 0)
			r = sync_batch(c);
	}
	if (r == 0 && rc != SQLITE_DONE && rc != SQLITE_ROW)
		r = ERR_IO;
	if (sent % BATCH != 0 || sent == 0) {
		int r2 = sync_batch(c);

		if (r == 0)
			r = r2;
	}
	if (pq.exitPipelineMode(c) != 1 && r == 0)
		r = ERR_IO;
	sqlite3_finalize(s);
	return r;
}

/* The hash of table t on the SQLite side. */
static int
hash_sqlite(sqlite3 *db, const struct table *t, unsigned char out[32])
{
	crypto_hash_sha256_state h;
	sqlite3_stmt	*s;
	char		 sql[512], *tmp = NULL;
	const char	*p;
	size_t		 cap = 0, len;
	int		 i, rc;

	snprintf(sql, sizeof(sql), "SELECT %s FROM %s ORDER BY %s", t->cols,
	    t->name, t->key);
	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
		return ERR_IO;
	crypto_hash_sha256_init(&h);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		for (i = 0; i < t->ncols; i++) {
			if (sqlite3_column_type(s, i) == SQLITE_NULL) {
				hash_value(&h, 1, NULL, 0);
				continue;
			}
			if ((p = sq_text(s, i, &len, &tmp, &cap)) == NULL) {
				rc = SQLITE_NOMEM;
				break;
			}
			hash_value(&h, 0, p, len);
		}
	sqlite3_finalize(s);
	free(tmp);
	crypto_hash_sha256_final(&h, out);
	return rc == SQLITE_DONE ? 0 : ERR_IO;
}

#define BYTEAOID	17	/* pg_type.oid of bytea */

/* The same hash read back from PostgreSQL, inside the transaction, as
   text: integers in decimal as SQLite prints them, and bytea as \x and
   lowercase hex (bytea_output = hex, set by the caller), the form the
   SQLite side hashes blobs in. Sorting is by the same keys, which are
   ASCII (ids, numbers, digests), so both sides sort alike. */
static int
hash_pg(PGconn *c, const struct table *t, unsigned char out[32])
{
	crypto_hash_sha256_state h;
	PGresult	*res;
	const char	*v;
	char		 sql[512];
	size_t		 len;
	int		 i, r = 0;

	snprintf(sql, sizeof(sql), "SELECT %s FROM %s ORDER BY %s", t->cols,
	    t->name, t->key);
	if (pq.sendQueryParams(c, sql, 0, NULL, NULL, NULL, NULL, 0) != 1)
		return ERR_IO;
	pq.setSingleRowMode(c);
	crypto_hash_sha256_init(&h);
	while ((res = pq.getResult(c)) != NULL) {
		if (pq.resultStatus(res) != PGRES_SINGLE_TUPLE) {
			if (pq.resultStatus(res) != PGRES_TUPLES_OK && r == 0)
				r = ERR_IO;
			pq.clear(res);
			continue;
		}
		for (i = 0; i < t->ncols; i++) {
			if (pq.getisnull(res, 0, i)) {
				hash_value(&h, 1, NULL, 0);
				continue;
			}
			v = pq.getvalue(res, 0, i);
			len = (size_t)pq.getlength(res, 0, i);
			if (pq.ftype(res, i) == BYTEAOID && len >= 2) {
				v += 2;		/* \x */
				len -= 2;
			}
			hash_value(&h, 0, v, len);
		}
		pq.clear(res);
	}
	crypto_hash_sha256_final(&h, out);
	return r;
}

static int64_t
pg_count(PGconn *c, const char *sql)
{
	PGresult	*res = pq.exec(c, sql);
	int64_t		 n = -1;

	if (pq.resultStatus(res) == PGRES_TUPLES_OK && pq.ntuples(res) == 1)
		n = strtoll(pq.getvalue(res, 0, 0), NULL, 10);
	pq.clear(res);
	return n;
}

static int
pg_cmd(PGconn *c, const char *sql)
{
	PGresult	*res = pq.exec(c, sql);
	int		 ok;

	ok = pq.resultStatus(res) == PGRES_COMMAND_OK ||
	    pq.resultStatus(res) == PGRES_TUPLES_OK;
	if (!ok)	/* its first line: the DETAIL after it may hold values */
		log_warnx("migrate: %.*s", (int)strcspn(pq.errorMessage(c),
		    "\n"), pq.errorMessage(c));
	pq.clear(res);
	return ok ? 0 : ERR_IO;
}

int
store_migrate(const char *from, const char *to, struct store_migrate *rep)
{
	struct store	*src = NULL, *dst = NULL;
	sqlite3		*db;
	PGconn		*c;
	unsigned char	 a[32], b[32];
	size_t		 i;
	int		 r;

	memset(rep, 0, sizeof(*rep));
	if (store_pg_target(from) || !store_pg_target(to))
		return ERR_INVAL;
	if ((r = store_open(from, STORE_RDONLY, &src)) != 0)
		return r;
	if ((r = store_open(to, STORE_CREATE, &dst)) != 0)
		goto out;
	db = sq(src)->db;
	c = store_pg_conn(dst);
	if (pg_count(c, "SELECT (SELECT count(*) FROM inquiries) +"
	    " (SELECT count(*) FROM audit) + (SELECT count(*) FROM outbox)")
	    != 0) {
		r = ERR_EXIST;
		goto out;
	}
	if ((r = store_read_begin(src)) != 0)
		goto out;
	if ((r = pg_cmd(c, "BEGIN")) != 0 ||
	    (r = pg_cmd(c, "SET LOCAL bytea_output = 'hex'")) != 0)
		goto read_end;
	for (i = 0; i < NTABLES && r == 0; i++) {
		rep->t[i].name = tables[i].name;
		r = copy_table(db, c, &tables[i], &rep->t[i]);
	}
	rep->ntables = i;
	/* New outbox rows must not take the copied ids. */
	if (r == 0)
		r = pg_cmd(c, "SELECT setval(pg_get_serial_sequence('outbox',"
		    " 'id'), coalesce(max(id), 0) + 1, false) FROM outbox");
	for (i = 0; i < NTABLES && r == 0; i++) {
		if ((r = hash_sqlite(db, &tables[i], a)) != 0 ||
		    (r = hash_pg(c, &tables[i], b)) != 0)
			break;
		if (sodium_memcmp(a, b, sizeof(a)) != 0) {
			log_warnx("migrate: table %s differs after the copy",
			    tables[i].name);
			r = ERR_AUTH;
		}
		rep->t[i].verified = r == 0;
	}
	if (r == 0)
		r = pg_cmd(c, "COMMIT");
	else
		(void)pg_cmd(c, "ROLLBACK");
read_end:
	store_read_end(src);
out:
	store_close(dst);
	store_close(src);
	return r;
}
