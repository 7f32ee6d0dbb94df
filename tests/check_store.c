/*
 * The store and its writer thread (daemon/store.c), on each backend: the
 * "store" and "writer" cases on SQLite, the "pg" cases (the same tests
 * where they do not look inside SQLite's files, and what several daemons
 * share) on the PostgreSQL server tests/pgtest.py started, named by
 * INTAKE_TEST_PG_URL.
 *
 * The commit-failure test needs a write that really fails although the
 * tests run as root (where chmod does not stop writes). It lowers
 * RLIMIT_FSIZE below the size the WAL must grow to: the kernel refuses the
 * write with EFBIG for root too (SIGXFSZ is ignored), which SQLite sees as
 * a full disk. Raising the soft limit again is the recovery.
 */
#include <sys/resource.h>
#include <sys/stat.h>

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <sodium.h>
#include <sqlite3.h>
#include <uv.h>

#include "audit.h"
#include "libpq.h"
#include "log.h"
#include "outbox.h"
#include "session.h"
#include "store.h"
#include "store_pg.h"
#include "store_sqlite.h"	/* the tests look at the file too */
#include "testutil.h"
#include "uuid.h"

static char	tmpdir[64];
static char	dbpath[PATH_MAX];
static int	pg_mode;	/* this case runs on PostgreSQL */

static void
setup(void)
{
	ck_assert_int_ge(sodium_init(), 0);
	log_init("check_store", LOG_LVL_ERR);
	pg_mode = 0;
	ck_assert_ptr_nonnull(tu_tmpdir(tmpdir, sizeof(tmpdir), "check_store"));
	snprintf(dbpath, sizeof(dbpath), "%s/state/db/intake.db", tmpdir);
}

static void
teardown(void)
{
	tu_rmtree(tmpdir);
}

/* A connection of the test's own to the PostgreSQL database. */
static PGconn *
pg_conn(void)
{
	const char	*keys[] = { "dbname", NULL }, *vals[] = { dbpath, NULL };
	PGconn		*c;

	ck_assert_ptr_null(libpq_open());
	c = pq.connectdbParams(keys, vals, 1);
	ck_assert_int_eq(pq.status(c), CONNECTION_OK);
	return c;
}

static void
pg_exec(PGconn *c, const char *sql)
{
	PGresult	*r = pq.exec(c, sql);

	ck_assert_msg(pq.resultStatus(r) == PGRES_COMMAND_OK ||
	    pq.resultStatus(r) == PGRES_TUPLES_OK, "%s: %s", sql,
	    pq.errorMessage(c));
	pq.clear(r);
}

/* An empty database for each test: its schema dropped and made again. */
static void
setup_pg(void)
{
	const char	*url = getenv("INTAKE_TEST_PG_URL");
	PGconn		*c;

	setup();
	pg_mode = 1;
	ck_assert_ptr_nonnull(url);
	snprintf(dbpath, sizeof(dbpath), "%s", url);
	c = pg_conn();
	pg_exec(c, "SET client_min_messages = warning");
	pg_exec(c, "DROP SCHEMA public CASCADE");
	pg_exec(c, "CREATE SCHEMA public");
	pq.finish(c);
}

/* One integer from a query on db. */
static int64_t
query_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt	*s;
	int64_t		 v = -1;

	ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
	if (sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return v;
}

/* One integer from a query on st's database, on either backend. */
static int64_t
st_int(struct store *st, const char *sql)
{
	PGconn		*c;
	PGresult	*r;
	int64_t		 v = -1;

	if (!pg_mode)
		return query_int(sq(st)->db, sql);
	c = pg_conn();
	r = pq.exec(c, sql);
	ck_assert_int_eq(pq.resultStatus(r), PGRES_TUPLES_OK);
	if (pq.ntuples(r) == 1)
		v = strtoll(pq.getvalue(r, 0, 0), NULL, 10);
	pq.clear(r);
	pq.finish(c);
	return v;
}

static void	exec_ok(sqlite3 *, const char *);

static void
st_exec(struct store *st, const char *sql)
{
	PGconn	*c;

	if (!pg_mode) {
		exec_ok(sq(st)->db, sql);
		return;
	}
	c = pg_conn();
	pg_exec(c, sql);
	pq.finish(c);
}

static void
fill_job(struct store_job *j, int64_t ms, const char *form,
    const unsigned char *ct, size_t ctlen)
{
	memset(j, 0, sizeof(*j));
	uuid_v7(ms, j->id);
	j->form = form;
	j->received_at_ms = ms;
	j->ct = ct;
	j->ctlen = ctlen;
}

static const struct store_outbox two_rows[] = {
	{ "notify", (const unsigned char *)"sealed-notify", 13 },
	{ "ack", (const unsigned char *)"sealed-ack", 10 },
};

static unsigned
file_mode(const char *path)
{
	struct stat	sb;

	ck_assert_int_eq(stat(path, &sb), 0);
	return sb.st_mode & 07777;
}

START_TEST(test_create_modes)
{
	struct store		*st;
	struct store_job	 j, *jp = &j;
	char			 p[PATH_MAX + 8];

	ck_assert_int_eq(store_open(dbpath, STORE_CREATE, &st), 0);
	fill_job(&j, clock_now_ms(), "consultation", (const unsigned char *)"x", 1);
	ck_assert_int_eq(store_insert(st, &jp, 1), 0);
	ck_assert_int_eq(st_int(st, "PRAGMA user_version"), SQ_SCHEMA_VERSION);
	ck_assert_int_eq(st_int(st, "PRAGMA synchronous"), 2);
	ck_assert_int_eq(st_int(st, "PRAGMA foreign_keys"), 1);
	ck_assert_int_eq(st_int(st, "PRAGMA secure_delete"), 1);
	ck_assert_uint_eq(file_mode(dbpath), 0600);
	snprintf(p, sizeof(p), "%s-wal", dbpath);
	ck_assert_uint_eq(file_mode(p), 0600);
	snprintf(p, sizeof(p), "%s-shm", dbpath);
	ck_assert_uint_eq(file_mode(p), 0600);
	snprintf(p, sizeof(p), "%s/state/db", tmpdir);
	ck_assert_uint_eq(file_mode(p), 0700);
	snprintf(p, sizeof(p), "%s/state", tmpdir);
	ck_assert_uint_eq(file_mode(p), 0700);
	store_close(st);
}
END_TEST

START_TEST(test_open_errors)
{
	static const char	 junk[] = "this is not an SQLite database, "
	    "just some text that is long enough to be looked at as a header, "
	    "really";
	struct store		*st = (struct store *)1;
	char			 p[PATH_MAX + 16];

	/* Without STORE_CREATE a missing file is not made. */
	ck_assert_int_eq(store_open(dbpath, 0, &st), ERR_NOTFOUND);
	ck_assert_ptr_null(st);
	ck_assert_int_eq(store_open(dbpath, STORE_RDONLY, &st),
	    ERR_NOTFOUND);
	ck_assert_int_eq(store_open(dbpath, STORE_RDONLY | STORE_CREATE, &st),
	    ERR_INVAL);
	/* Not a database. */
	snprintf(p, sizeof(p), "%s/junk.db", tmpdir);
	ck_assert_int_eq(tu_write_file(p, junk, strlen(junk), 0644), 0);
	ck_assert_int_eq(store_open(p, 0, &st), ERR_IO);
	ck_assert_ptr_null(st);
	/* A parent that is a file. */
	snprintf(p, sizeof(p), "%s/junk.db/sub/x.db", tmpdir);
	ck_assert_int_eq(store_open(p, STORE_CREATE, &st), ERR_IO);
}
END_TEST

static void
exec_ok(sqlite3 *db, const char *sql)
{
	ck_assert_int_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
}

/* A version 1 database as the first release would have made it. */
static void
make_v1(const char *path)
{
	sqlite3	*db;

	ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
	exec_ok(db, "CREATE TABLE inquiries(id TEXT PRIMARY KEY,"
	    " form TEXT NOT NULL, received_at INTEGER NOT NULL,"
	    " size INTEGER NOT NULL, record BLOB NOT NULL);"
	    "CREATE INDEX inquiries_received ON inquiries(received_at);"
	    "INSERT INTO inquiries VALUES('0190a1b2-c3d4-7e5f-8a9b-"
	    "0c1d2e3f4a5b', 'consultation', 1700000000000, 3, x'616765');"
	    "PRAGMA user_version = 1;");
	sqlite3_close(db);
}

START_TEST(test_migrate_v1)
{
	struct store		*st;
	struct store_meta	 m;
	struct buf		 ct;
	char			 p[PATH_MAX + 8];

	snprintf(p, sizeof(p), "%s/v1.db", tmpdir);
	make_v1(p);
	/* A reader cannot migrate: it refuses instead of misreading. */
	ck_assert_int_eq(store_open(p, STORE_RDONLY, &st), ERR_VERSION);
	ck_assert_int_eq(store_open(p, 0, &st), 0);
	ck_assert_int_eq(st_int(st, "PRAGMA user_version"), SQ_SCHEMA_VERSION);
	ck_assert_int_eq(st_int(st, "SELECT count(*) FROM"
	    " sqlite_master WHERE name IN ('outbox', 'outbox_due',"
	    " 'outbox_inquiry')"), 3);
	buf_init(&ct, 0);
	ck_assert_int_eq(store_get(st, "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
	    &m, &ct), 0);
	ck_assert_str_eq(m.form, "consultation");
	ck_assert_int_eq(m.received_at_ms, 1700000000000LL);
	ck_assert_uint_eq(m.outbox_queued, 0);
	ck_assert_uint_eq(ct.len, 3);
	ck_assert_mem_eq(ct.data, "age", 3);
	buf_free(&ct);
	store_close(st);
	/* Migrated once; a second open is a plain open. */
	ck_assert_int_eq(store_open(p, STORE_RDONLY, &st), 0);
	store_close(st);
}
END_TEST

START_TEST(test_newer_version)
{
	struct store	*st;
	sqlite3		*db;
	char		 p[PATH_MAX + 8];

	snprintf(p, sizeof(p), "%s/future.db", tmpdir);
	ck_assert_int_eq(sqlite3_open(p, &db), SQLITE_OK);
	exec_ok(db, "CREATE TABLE future(x); PRAGMA user_version = 999;");
	sqlite3_close(db);
	ck_assert_int_eq(store_open(p, 0, &st), ERR_VERSION);
	ck_assert_ptr_null(st);
	ck_assert_int_eq(store_open(p, STORE_RDONLY, &st), ERR_VERSION);
	ck_assert_int_eq(store_open(p, STORE_CREATE, &st), ERR_VERSION);
	/* Refused without touching it. */
	ck_assert_int_eq(sqlite3_open(p, &db), SQLITE_OK);
	ck_assert_int_eq(query_int(db, "PRAGMA user_version"), 999);
	sqlite3_close(db);
}
END_TEST

#define NLIST	10
#define T0	1790000000000LL

/* Ten inquiries a second apart, forms alternating, outbox rows on the
   even ones. Returns the store; ids in ids[i] for time T0 + i s. */
static struct store *
make_ten(char ids[NLIST][STORE_ID_LEN + 1])
{
	struct store		*st;
	struct store_job	 j[NLIST], *jp[NLIST];
	static const unsigned char ct[100];
	int			 i;

	ck_assert_int_eq(store_open(dbpath, STORE_CREATE, &st), 0);
	/* Submitted out of order: the list orders by time, not insertion. */
	for (i = 0; i < NLIST; i++) {
		int k = (i * 7) % NLIST;

		fill_job(&j[i], T0 + k * 1000, k % 2 ? "callback" :
		    "consultation", ct, 10 + (size_t)k);
		if (k % 2 == 0) {
			j[i].outbox = two_rows;
			j[i].noutbox = 2;
		}
		jp[i] = &j[i];
		memcpy(ids[k], j[i].id, sizeof(j[i].id));
	}
	ck_assert_int_eq(store_insert(st, jp, NLIST), 0);
	return st;
}

struct collect {
	struct store_meta	m[NLIST + 1];
	int			n;
	int			stop_after;
};

static int
collect_cb(void *arg, const struct store_meta *m)
{
	struct collect	*c = arg;

	ck_assert_int_lt(c->n, NLIST);
	c->m[c->n++] = *m;
	return c->stop_after && c->n >= c->stop_after;
}

static void
list(struct store *st, struct store_filter *f, struct collect *c)
{
	int	stop = c->stop_after;

	memset(c, 0, sizeof(*c));
	c->stop_after = stop;
	ck_assert_int_eq(store_list(st, f, collect_cb, c), 0);
}

START_TEST(test_insert_list)
{
	char			 ids[NLIST][STORE_ID_LEN + 1];
	struct store		*st = make_ten(ids);
	struct store_filter	 f;
	struct collect		 c = { .stop_after = 0 };
	int			 i;

	list(st, NULL, &c);
	ck_assert_int_eq(c.n, NLIST);
	for (i = 0; i < NLIST; i++) {
		const struct store_meta *m = &c.m[i];
		int k = NLIST - 1 - i;

		ck_assert_str_eq(m->id, ids[k]);
		ck_assert_int_eq(m->received_at_ms, T0 + k * 1000);
		ck_assert_str_eq(m->form, k % 2 ? "callback" : "consultation");
		ck_assert_uint_eq(m->size, 10 + (uint64_t)k);
		ck_assert_uint_eq(m->outbox_queued, k % 2 ? 0 : 2);
		ck_assert_uint_eq(m->outbox_failed, 0);
	}
	/* Bounds are inclusive. */
	memset(&f, 0, sizeof(f));
	f.since_ms = T0 + 3000;
	f.until_ms = T0 + 6000;
	list(st, &f, &c);
	ck_assert_int_eq(c.n, 4);
	ck_assert_str_eq(c.m[0].id, ids[6]);
	ck_assert_str_eq(c.m[3].id, ids[3]);
	f.form = "callback";
	list(st, &f, &c);
	ck_assert_int_eq(c.n, 2);
	ck_assert_str_eq(c.m[0].id, ids[5]);
	ck_assert_str_eq(c.m[1].id, ids[3]);
	memset(&f, 0, sizeof(f));
	f.limit = 3;
	list(st, &f, &c);
	ck_assert_int_eq(c.n, 3);
	ck_assert_str_eq(c.m[2].id, ids[7]);
	f.form = "nosuchform";
	list(st, &f, &c);
	ck_assert_int_eq(c.n, 0);
	/* The callback can stop the walk. */
	c.stop_after = 2;
	list(st, NULL, &c);
	ck_assert_int_eq(c.n, 2);
	store_close(st);
}
END_TEST

START_TEST(test_get)
{
	char			 ids[NLIST][STORE_ID_LEN + 1];
	struct store		*st = make_ten(ids);
	struct store_meta	 m;
	struct buf		 ct;

	buf_init(&ct, 0);
	ck_assert_int_eq(store_get(st, ids[4], &m, &ct), 0);
	ck_assert_str_eq(m.id, ids[4]);
	ck_assert_str_eq(m.form, "consultation");
	ck_assert_int_eq(m.received_at_ms, T0 + 4000);
	ck_assert_uint_eq(m.size, 14);
	ck_assert_uint_eq(ct.len, 14);
	ck_assert_uint_eq(m.outbox_queued, 2);
	buf_free(&ct);
	ck_assert_int_eq(store_get(st, ids[5], NULL, NULL), 0);
	ck_assert_int_eq(store_get(st, "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
	    &m, NULL), ERR_NOTFOUND);
	/* A capped buffer that cannot hold the record. */
	buf_init(&ct, 4);
	ck_assert_int_eq(store_get(st, ids[4], &m, &ct), ERR_NOMEM);
	buf_free(&ct);
	store_close(st);
}
END_TEST

START_TEST(test_insert_invalid)
{
	struct store		*st;
	struct store_job	 j[4], *jp[4];
	static const unsigned char ct[8];
	struct collect		 c = { .stop_after = 0 };
	int			 i;

	ck_assert_int_eq(store_open(dbpath, STORE_CREATE, &st), 0);
	for (i = 0; i < 4; i++) {
		fill_job(&j[i], T0 + i, "consultation", ct, sizeof(ct));
		jp[i] = &j[i];
	}
	memcpy(j[1].id, j[0].id, sizeof(j[0].id));	/* duplicate */
	j[2].form = NULL;				/* invalid */
	ck_assert_int_eq(store_insert(st, jp, 4), ERR_INVAL);
	ck_assert_int_eq(j[0].result, 0);
	ck_assert_int_eq(j[1].result, ERR_INVAL);
	ck_assert_int_eq(j[2].result, ERR_INVAL);
	ck_assert_int_eq(j[3].result, 0);
	list(st, NULL, &c);
	ck_assert_int_eq(c.n, 2);
	ck_assert_str_eq(c.m[0].id, j[3].id);
	ck_assert_str_eq(c.m[1].id, j[0].id);
	store_close(st);
}
END_TEST

/* 1 if needle occurs in the file at path (a missing file holds nothing). */
static int
file_contains(const char *path, const void *needle, size_t n)
{
	char	*data;
	size_t	 len;
	int	 found;

	if ((data = tu_read_file(path, &len)) == NULL) {
		ck_assert_int_eq(errno, ENOENT);
		return 0;
	}
	found = memmem(data, len, needle, n) != NULL;
	free(data);
	return found;
}

static int
on_disk(const char *marker)
{
	char	p[PATH_MAX + 8];

	snprintf(p, sizeof(p), "%s-wal", dbpath);
	return file_contains(dbpath, marker, strlen(marker)) ||
	    file_contains(p, marker, strlen(marker));
}

/* A staged age file: an anonymous file holding len bytes of pattern. */
static int
stage(const char *pattern, size_t len)
{
	char	p[PATH_MAX + 8];
	size_t	i, pl = strlen(pattern);
	int	fd;

	snprintf(p, sizeof(p), "%s/stage.XXXXXX", tmpdir);
	ck_assert_int_ge(fd = mkstemp(p), 0);
	ck_assert_int_eq(unlink(p), 0);
	for (i = 0; i < len; i += pl)
		ck_assert_int_eq(write(fd, pattern, len - i < pl ? len - i :
		    pl), (ssize_t)(len - i < pl ? len - i : pl));
	return fd;
}

struct sink_buf {
	struct buf	b;
	int		pieces;
};

static int
to_buf(void *arg, const void *p, size_t n)
{
	struct sink_buf	*s = arg;

	s->pieces++;
	return buf_append(&s->b, p, n);
}

/* Attachments commit with their inquiry, read back whole and in order,
   count in the metadata and go with an erasure. */
START_TEST(test_attachments)
{
	static const char	 marker[] = "ATTACHMENT-CIPHERTEXT-MARKER-42";
	struct store		*st;
	struct store_job	 j, *jp = &j;
	struct store_file	 f[3];
	struct store_meta	 m;
	struct sink_buf		 out;
	size_t			 i, len;

	ck_assert_int_eq(store_open(dbpath, STORE_CREATE, &st), 0);
	fill_job(&j, T0, "consultation", (const unsigned char *)"rec", 3);
	f[0].size = 0;			/* an empty file's age file is not */
	f[1].size = 1000000;		/* several chunk rows */
	f[2].size = strlen(marker);
	f[0].fd = stage("x", 0);
	f[1].fd = stage("0123456789abcdef", f[1].size);
	f[2].fd = stage(marker, f[2].size);
	j.files = f;
	j.nfiles = 3;
	ck_assert_int_eq(store_insert(st, &jp, 1), 0);
	ck_assert_int_eq(store_get(st, j.id, &m, NULL), 0);
	ck_assert_uint_eq(m.attachments, 3);
	for (i = 0; i < 3; i++) {
		memset(&out, 0, sizeof(out));
		buf_init(&out.b, 0);
		ck_assert_int_eq(store_attachment(st, j.id, (unsigned)i + 1,
		    to_buf, &out), f[i].size ? 0 : ERR_NOTFOUND);
		ck_assert_uint_eq(out.b.len, f[i].size);
		buf_free(&out.b);
	}
	/* The second one came back in order, in 256 KiB pieces. */
	memset(&out, 0, sizeof(out));
	buf_init(&out.b, 0);
	ck_assert_int_eq(store_attachment(st, j.id, 2, to_buf, &out), 0);
	ck_assert_int_eq(out.pieces, 4);
	for (i = 0, len = out.b.len; i < len; i += 16)
		ck_assert_int_eq(memcmp(out.b.data + i, "0123456789abcdef",
		    len - i < 16 ? len - i : 16), 0);
	buf_free(&out.b);
	ck_assert_int_eq(store_attachment(st, j.id, 4, to_buf, &out),
	    ERR_NOTFOUND);
	if (!pg_mode)	/* PostgreSQL's files: VACUUM's business */
		ck_assert_int_eq(on_disk(marker), 1);
	ck_assert_int_eq(store_delete(st, j.id, NULL), 0);
	ck_assert_int_eq(st_int(st, "SELECT count(*) FROM "
	    "attachment_chunks"), 0);
	ck_assert_int_eq(st_int(st, "SELECT count(*) FROM "
	    "attachments"), 0);
	if (!pg_mode)
		ck_assert_int_eq(on_disk(marker), 0);
	for (i = 0; i < 3; i++)
		close(f[i].fd);
	store_close(st);
}
END_TEST

/* A staged file shorter than it claims fails the whole transaction:
   never a truncated attachment beside a committed inquiry. */
START_TEST(test_attachment_short_file)
{
	struct store		*st;
	struct store_job	 j, *jp = &j;
	struct store_file	 f;

	ck_assert_int_eq(store_open(dbpath, STORE_CREATE, &st), 0);
	fill_job(&j, T0, "consultation", (const unsigned char *)"rec", 3);
	f.fd = stage("abc", 10);
	f.size = 11;
	j.files = &f;
	j.nfiles = 1;
	ck_assert_int_eq(store_insert(st, &jp, 1), ERR_IO);
	ck_assert_int_eq(store_get(st, j.id, NULL, NULL), ERR_NOTFOUND);
	ck_assert_int_eq(st_int(st, "SELECT count(*) FROM "
	    "attachments"), 0);
	close(f.fd);
	store_close(st);
}
END_TEST

START_TEST(test_delete)
{
	char			 ids[NLIST][STORE_ID_LEN + 1];
	struct store		*st = make_ten(ids);
	struct store_job	 j, *jp = &j;
	static const char	 marker[] = "FAKE-CIPHERTEXT-MARKER-0000-00000";
	struct collect		 c = { .stop_after = 0 };

	fill_job(&j, T0 + 500, "consultation", (const unsigned char *)marker,
	    strlen(marker));
	j.outbox = two_rows;
	j.noutbox = 2;
	ck_assert_int_eq(store_insert(st, &jp, 1), 0);
	ck_assert_int_eq(st_int(st, "SELECT count(*) FROM outbox"),
	    12);
	if (!pg_mode)	/* PostgreSQL's files: VACUUM's business */
		ck_assert_int_eq(on_disk(marker), 1);

	ck_assert_int_eq(store_delete(st, j.id, NULL), 0);
	ck_assert_int_eq(store_get(st, j.id, NULL, NULL), ERR_NOTFOUND);
	ck_assert_int_eq(st_int(st, "SELECT count(*) FROM outbox"),
	    10);
	/* Erased from the files, not just unlinked from the b-tree. */
	if (!pg_mode)
		ck_assert_int_eq(on_disk(marker), 0);
	ck_assert_int_eq(store_delete(st, j.id, NULL), ERR_NOTFOUND);
	list(st, NULL, &c);
	ck_assert_int_eq(c.n, NLIST);
	ck_assert_int_eq(store_integrity(st), 0);
	store_close(st);
}
END_TEST

START_TEST(test_purge_stats)
{
	char			 ids[NLIST][STORE_ID_LEN + 1];
	struct store		*st = make_ten(ids);
	struct store_stats	 s;
	struct store_meta	 m;
	uint64_t		 n = 99;
	char			 sql[256];

	st_exec(st, "UPDATE outbox SET state = 'sent'"
	    " WHERE kind = 'notify'");
	snprintf(sql, sizeof(sql), "UPDATE outbox SET state = 'failed'"
	    " WHERE kind = 'ack' AND inquiry_id = '%s'", ids[0]);
	st_exec(st, sql);
	ck_assert_int_eq(store_get(st, ids[0], &m, NULL), 0);
	ck_assert_uint_eq(m.outbox_queued, 0);
	ck_assert_uint_eq(m.outbox_failed, 1);
	ck_assert_uint_eq(m.outbox_sent, 1);

	ck_assert_int_eq(store_stats(st, &s), 0);
	ck_assert_uint_eq(s.inquiries, 10);
	ck_assert_uint_eq(s.bytes, 145);
	ck_assert_int_eq(s.oldest_ms, T0);
	ck_assert_int_eq(s.newest_ms, T0 + 9000);
	ck_assert_uint_eq(s.outbox_queued, 4);
	ck_assert_uint_eq(s.outbox_sent, 5);
	ck_assert_uint_eq(s.outbox_failed, 1);

	ck_assert_int_eq(store_purge(st, T0 + 3000, &n, NULL), 0);
	ck_assert_uint_eq(n, 3);
	ck_assert_int_eq(store_get(st, ids[2], NULL, NULL), ERR_NOTFOUND);
	ck_assert_int_eq(store_get(st, ids[3], NULL, NULL), 0);
	ck_assert_int_eq(store_stats(st, &s), 0);
	ck_assert_uint_eq(s.inquiries, 7);
	ck_assert_int_eq(s.oldest_ms, T0 + 3000);
	ck_assert_uint_eq(s.outbox_queued + s.outbox_sent + s.outbox_failed,
	    6);
	ck_assert_uint_eq(s.outbox_failed, 0);
	ck_assert_int_eq(store_purge(st, T0 + 3000, &n, NULL), 0);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(store_purge(st, INT64_MAX, &n, NULL), 0);
	ck_assert_uint_eq(n, 7);
	ck_assert_int_eq(store_stats(st, &s), 0);
	ck_assert_uint_eq(s.inquiries, 0);
	ck_assert_int_eq(s.oldest_ms, 0);
	ck_assert_uint_eq(s.outbox_queued + s.outbox_sent, 0);
	store_close(st);
}
END_TEST

/* A reader sees what a writer committed (still in the WAL) and cannot
   write itself. */
START_TEST(test_readonly)
{
	char			 ids[NLIST][STORE_ID_LEN + 1];
	struct store		*st = make_ten(ids), *ro;
	struct store_job	 j, *jp = &j;
	struct collect		 c = { .stop_after = 0 };
	uint64_t		 n;

	ck_assert_int_eq(store_open(dbpath, STORE_RDONLY, &ro), 0);
	list(ro, NULL, &c);
	ck_assert_int_eq(c.n, NLIST);
	fill_job(&j, T0 + 20000, "consultation", (const unsigned char *)"x",
	    1);
	ck_assert_int_eq(store_insert(st, &jp, 1), 0);
	ck_assert_int_eq(store_get(ro, j.id, NULL, NULL), 0);
	ck_assert_int_eq(store_delete(ro, j.id, NULL), ERR_IO);
	ck_assert_int_eq(store_purge(ro, INT64_MAX, &n, NULL), ERR_IO);
	ck_assert_int_eq(store_insert(ro, &jp, 1), ERR_IO);
	ck_assert_int_eq(store_get(ro, j.id, NULL, NULL), 0);
	store_close(ro);
	store_close(st);
}
END_TEST

/*
 * Writer tests. The loop runs in the test's thread; a store_call whose fn
 * blocks on a semaphore holds the writer thread still, so that what is
 * submitted meanwhile is waiting all at once when it is released. The
 * same fn counts commits with an SQLite commit hook on the writer's own
 * connection, which says how many transactions were used.
 */
struct wtest {
	uv_loop_t		 loop;
	struct store_writer	*w;
	uv_thread_t		 loop_thread;
	uv_sem_t		 started, release;
	int			 block;		/* fn waits on release */
	int			 commits;	/* by the hook, writer thread */
	int			 fn_on_loop;
	int			 call_done, call_result;
	int			 stopped;
	int			 ndone, nok, out_of_order, done_on_thread;
	int			 last_index;
	int			 done_after_stop;
	struct store_call	 call;
};

struct tjob {
	struct store_job	 job;
	struct wtest		*t;
	int			 index;
	int			 result;
};

static int
commit_hook(void *arg)
{
	struct wtest	*t = arg;

	t->commits++;
	return 0;
}

static int
hold_fn(struct store *st, void *arg)
{
	struct wtest	*t = arg;
	uv_thread_t	 self = uv_thread_self();

	t->fn_on_loop = uv_thread_equal(&self, &t->loop_thread);
	if (!pg_mode)	/* counted on SQLite only */
		sqlite3_commit_hook(sq(st)->db, commit_hook, t);
	uv_sem_post(&t->started);
	if (t->block)
		uv_sem_wait(&t->release);
	return 42;
}

static void
call_done(struct store_call *c, int result)
{
	struct wtest	*t = c->arg;

	t->call_done++;
	t->call_result = result;
}

static void
job_done(struct store_job *j, int result)
{
	struct tjob	*tj = (struct tjob *)j;
	struct wtest	*t = tj->t;
	uv_thread_t	 self = uv_thread_self();

	if (!uv_thread_equal(&self, &t->loop_thread))
		t->done_on_thread++;
	if (tj->index != t->last_index + 1)
		t->out_of_order++;
	t->last_index = tj->index;
	if (t->stopped)
		t->done_after_stop++;
	tj->result = result;
	t->ndone++;
	t->nok += result == 0;
}

static void
stopped(void *arg)
{
	struct wtest	*t = arg;

	t->stopped++;
}

static void
wtest_start(struct wtest *t, unsigned max_pending, int group)
{
	memset(t, 0, sizeof(*t));
	t->last_index = -1;
	t->loop_thread = uv_thread_self();
	ck_assert_int_eq(uv_loop_init(&t->loop), 0);
	ck_assert_int_eq(uv_sem_init(&t->started, 0), 0);
	ck_assert_int_eq(uv_sem_init(&t->release, 0), 0);
	ck_assert_int_eq(store_writer_start(&t->loop, dbpath, max_pending,
	    group, &t->w), 0);
	ck_assert_int_eq(store_writer_healthy(t->w), 1);
}

/* Holds the writer thread in hold_fn until wtest_release. */
static void
wtest_hold(struct wtest *t)
{
	t->block = 1;
	t->call.fn = hold_fn;
	t->call.done = call_done;
	t->call.arg = t;
	ck_assert_int_eq(store_writer_call(t->w, &t->call), 0);
	uv_sem_wait(&t->started);
}

static void
wtest_release(struct wtest *t)
{
	uv_sem_post(&t->release);
}

/* Runs the loop until n done callbacks have run in all. */
static void
wtest_run_until(struct wtest *t, int n)
{
	while (t->ndone < n)
		uv_run(&t->loop, UV_RUN_ONCE);
}

static void
wtest_stop(struct wtest *t)
{
	store_writer_stop(t->w, stopped, t);
	ck_assert_int_eq(uv_run(&t->loop, UV_RUN_DEFAULT), 0);
	ck_assert_int_eq(t->stopped, 1);
	ck_assert_int_eq(uv_loop_close(&t->loop), 0);
	uv_sem_destroy(&t->started);
	uv_sem_destroy(&t->release);
}

static struct tjob *
make_jobs(struct wtest *t, int n, size_t ctlen)
{
	static unsigned char	 ct[65536];
	struct tjob		*tj;
	int			 i;

	ck_assert_uint_le(ctlen, sizeof(ct));
	tj = calloc((size_t)n, sizeof(*tj));
	ck_assert_ptr_nonnull(tj);
	for (i = 0; i < n; i++) {
		fill_job(&tj[i].job, clock_now_ms(), "consultation", ct, ctlen);
		tj[i].job.outbox = two_rows;
		tj[i].job.noutbox = 1;
		tj[i].job.done = job_done;
		tj[i].t = t;
		tj[i].index = i;
		tj[i].result = 1;
	}
	return tj;
}

static int64_t
count_rows(const char *sql)
{
	struct store	*st;
	int64_t		 n;

	ck_assert_int_eq(store_open(dbpath, STORE_RDONLY, &st), 0);
	n = st_int(st, sql);
	store_close(st);
	return n;
}

/* With the writer held, n jobs pile up; released, they commit in
   `expect` transactions. */
static void
group_case(int group, int n, int expect)
{
	struct wtest	 t;
	struct tjob	*tj;
	int		 i;

	wtest_start(&t, (unsigned)n, group);
	tj = make_jobs(&t, n, 2048);
	wtest_hold(&t);
	for (i = 0; i < n; i++)
		ck_assert_int_eq(store_writer_submit(t.w, &tj[i].job),
		    0);
	ck_assert_uint_eq(store_writer_pending(t.w), (unsigned)n);
	wtest_release(&t);
	wtest_run_until(&t, n);
	ck_assert_int_eq(t.nok, n);
	ck_assert_int_eq(t.out_of_order, 0);
	ck_assert_int_eq(t.done_on_thread, 0);
	ck_assert_int_eq(t.fn_on_loop, 0);
	ck_assert_uint_eq(store_writer_pending(t.w), 0);
	wtest_stop(&t);
	ck_assert_int_eq(t.call_done, 1);
	ck_assert_int_eq(t.call_result, 42);
	if (!pg_mode)
		ck_assert_int_eq(t.commits, expect);
	ck_assert_int_eq(count_rows("SELECT count(*) FROM inquiries"), n);
	ck_assert_int_eq(count_rows("SELECT count(*) FROM outbox"), n);
	free(tj);
}

START_TEST(test_writer_group_commit)
{
	group_case(1, 200, 1);
}
END_TEST

START_TEST(test_writer_per_request)
{
	group_case(0, 50, 50);
}
END_TEST

START_TEST(test_writer_busy)
{
	struct wtest	 t;
	struct tjob	*tj;
	int		 i;

	wtest_start(&t, 4, 1);
	tj = make_jobs(&t, 6, 100);
	wtest_hold(&t);
	for (i = 0; i < 4; i++)
		ck_assert_int_eq(store_writer_submit(t.w, &tj[i].job),
		    0);
	/* Refused at once, and its done never runs. */
	ck_assert_int_eq(store_writer_submit(t.w, &tj[4].job), ERR_BUSY);
	ck_assert_uint_eq(store_writer_pending(t.w), 4);
	wtest_release(&t);
	wtest_run_until(&t, 4);
	ck_assert_uint_eq(store_writer_pending(t.w), 0);
	/* Room again. */
	tj[5].index = 4;
	ck_assert_int_eq(store_writer_submit(t.w, &tj[5].job), 0);
	wtest_run_until(&t, 5);
	wtest_stop(&t);
	ck_assert_int_eq(t.ndone, 5);
	ck_assert_int_eq(t.nok, 5);
	ck_assert_int_eq(tj[4].result, 1);
	ck_assert_int_eq(count_rows("SELECT count(*) FROM inquiries"), 5);
	free(tj);
}
END_TEST

/* Stop finishes what was queued, then refuses more. */
START_TEST(test_writer_stop_drains)
{
	struct wtest	 t;
	struct tjob	*tj;
	struct store_call c = { .fn = hold_fn };
	int		 i;

	wtest_start(&t, 100, 1);
	tj = make_jobs(&t, 21, 100);
	for (i = 0; i < 20; i++)
		ck_assert_int_eq(store_writer_submit(t.w, &tj[i].job),
		    0);
	store_writer_stop(t.w, stopped, &t);
	ck_assert_int_eq(store_writer_submit(t.w, &tj[20].job),
	    ERR_CLOSED);
	c.arg = &t;
	ck_assert_int_eq(store_writer_call(t.w, &c), ERR_CLOSED);
	ck_assert_int_eq(uv_run(&t.loop, UV_RUN_DEFAULT), 0);
	ck_assert_int_eq(t.stopped, 1);
	ck_assert_int_eq(t.ndone, 20);
	ck_assert_int_eq(t.nok, 20);
	ck_assert_int_eq(t.done_after_stop, 0);
	ck_assert_int_eq(tj[20].result, 1);
	ck_assert_int_eq(uv_loop_close(&t.loop), 0);
	uv_sem_destroy(&t.started);
	uv_sem_destroy(&t.release);
	ck_assert_int_eq(count_rows("SELECT count(*) FROM inquiries"), 20);
	free(tj);
}
END_TEST

START_TEST(test_writer_start_fails)
{
	uv_loop_t		 loop;
	struct store_writer	*w = (struct store_writer *)1;
	char			 p[PATH_MAX + 16];

	ck_assert_int_eq(uv_loop_init(&loop), 0);
	snprintf(p, sizeof(p), "%s/file", tmpdir);
	ck_assert_int_eq(tu_write_file(p, "", 0, 0644), 0);
	snprintf(p, sizeof(p), "%s/file/intake.db", tmpdir);
	ck_assert_int_eq(store_writer_start(&loop, p, 8, 1, &w), ERR_IO);
	ck_assert_ptr_null(w);
	ck_assert_int_eq(store_writer_start(&loop, dbpath, 0, 1, &w),
	    ERR_INVAL);
	/* The half-made writer is released by the loop; ASan checks that. */
	ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

/* Lowers the file size limit to the WAL's current size, so that the next
   commit cannot append its frames; returns the old limit. */
static struct rlimit
limit_wal(void)
{
	struct rlimit	old, rl;
	struct stat	sb;
	char		p[PATH_MAX + 8];

	snprintf(p, sizeof(p), "%s-wal", dbpath);
	ck_assert_int_eq(stat(p, &sb), 0);
	ck_assert_int_gt(sb.st_size, 0);
	ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
	rl = old;
	rl.rlim_cur = (rlim_t)sb.st_size;
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
	return old;
}

static void
purge_finished(struct store_purge_job *j)
{
	*(int *)j->arg = 1;
}

/*
 * Retention is slow work and must not run on the writer thread: with the
 * writer held still, a purge of many rows (several batches) still
 * completes, and the writer's commits go on afterwards.
 */
START_TEST(test_purge_runs_beside_a_busy_writer)
{
	struct wtest		 t;
	struct store_purge_job	 pj;
	struct store		*st;
	struct store_job	*jp[700];
	struct tjob		*tj;
	int			 finished = 0, i;

	wtest_start(&t, 1024, 1);
	ck_assert_int_eq(store_open(dbpath, 0, &st), 0);
	tj = make_jobs(&t, 700, 64);
	for (i = 0; i < 700; i++) {
		tj[i].job.received_at_ms = T0 + i;
		jp[i] = &tj[i].job;
	}
	ck_assert_int_eq(store_insert(st, jp, 700), 0);
	store_close(st);
	free(tj);

	wtest_hold(&t);
	memset(&pj, 0, sizeof(pj));
	pj.path = dbpath;
	pj.before_ms = T0 + 650;
	pj.done = purge_finished;
	pj.arg = &finished;
	pj.audit.actor = "test";
	pj.audit.action = "purge";
	ck_assert_int_eq(store_purge_queue(&t.loop, &pj), 0);
	while (!finished)
		uv_run(&t.loop, UV_RUN_ONCE);
	ck_assert_int_eq(pj.result, 0);
	ck_assert_uint_eq(pj.removed, 650);
	ck_assert_int_eq(count_rows("SELECT count(*) FROM inquiries"), 50);
	/* The writer was held all along. */
	ck_assert_int_eq(t.call_done, 0);
	wtest_release(&t);
	while (!t.call_done)
		uv_run(&t.loop, UV_RUN_ONCE);
	wtest_stop(&t);
}
END_TEST

START_TEST(test_writer_commit_fails)
{
	struct wtest	 t;
	struct tjob	*tj;
	struct rlimit	 old;
	int		 i, healthy_during;

	signal(SIGXFSZ, SIG_IGN);
	wtest_start(&t, 16, 1);
	tj = make_jobs(&t, 8, 16384);
	ck_assert_int_eq(store_writer_submit(t.w, &tj[0].job), 0);
	wtest_run_until(&t, 1);
	ck_assert_int_eq(tj[0].result, 0);

	/* No ck_assert while the limit is low: Check writes to a file. */
	old = limit_wal();
	for (i = 1; i < 6; i++)
		store_writer_submit(t.w, &tj[i].job);
	wtest_run_until(&t, 6);
	healthy_during = store_writer_healthy(t.w);
	setrlimit(RLIMIT_FSIZE, &old);

	for (i = 1; i < 6; i++)
		ck_assert_int_eq(tj[i].result, ERR_IO);
	ck_assert_int_eq(healthy_during, 0);
	ck_assert_uint_eq(store_writer_pending(t.w), 0);

	/* Room again: the next commit succeeds and health comes back. */
	for (i = 6; i < 8; i++)
		ck_assert_int_eq(store_writer_submit(t.w, &tj[i].job),
		    0);
	wtest_run_until(&t, 8);
	ck_assert_int_eq(tj[6].result, 0);
	ck_assert_int_eq(tj[7].result, 0);
	ck_assert_int_eq(store_writer_healthy(t.w), 1);
	wtest_stop(&t);
	ck_assert_int_eq(count_rows("SELECT count(*) FROM inquiries"), 3);
	free(tj);
}
END_TEST

/* A proof of work is spent once, whichever connection (daemon) sees it
   again: the second inquiry is refused and leaves nothing behind. */
START_TEST(test_spend_once)
{
	struct store		*a, *b;
	struct store_job	 j1, j2, j3, *jp[2];
	static const unsigned char digest[STORE_SPEND_LEN] = { 1, 2, 3 };
	static const unsigned char other[STORE_SPEND_LEN] = { 4, 5, 6 };

	ck_assert_int_eq(store_open(dbpath, STORE_CREATE, &a), 0);
	ck_assert_int_eq(store_open(dbpath, 0, &b), 0);
	fill_job(&j1, T0, "consultation", (const unsigned char *)"x", 1);
	j1.spend = digest;
	j1.spend_expires_ms = T0 + 60000;
	j1.outbox = two_rows;
	j1.noutbox = 2;
	jp[0] = &j1;
	ck_assert_int_eq(store_insert(a, jp, 1), 0);
	fill_job(&j2, T0 + 1, "consultation", (const unsigned char *)"y", 1);
	j2.spend = digest;
	j2.spend_expires_ms = T0 + 60000;
	j2.outbox = two_rows;
	j2.noutbox = 2;
	fill_job(&j3, T0 + 2, "consultation", (const unsigned char *)"z", 1);
	j3.spend = other;
	j3.spend_expires_ms = T0 + 60000;
	jp[0] = &j2;
	jp[1] = &j3;
	ck_assert_int_eq(store_insert(b, jp, 2), ERR_REPLAYED);
	ck_assert_int_eq(j2.result, ERR_REPLAYED);
	ck_assert_int_eq(j3.result, 0);
	ck_assert_int_eq(store_get(a, j2.id, NULL, NULL), ERR_NOTFOUND);
	ck_assert_int_eq(store_get(a, j3.id, NULL, NULL), 0);
	ck_assert_int_eq(st_int(a, "SELECT count(*) FROM outbox"), 2);
	ck_assert_int_eq(st_int(a, "SELECT count(*) FROM spent"), 2);
	/* Expired spends are collected with the sessions. */
	ck_assert_int_eq(session_gc(a, T0 + 60001, 1, 1), 0);
	ck_assert_int_eq(st_int(a, "SELECT count(*) FROM spent"), 0);
	store_close(b);
	store_close(a);
}
END_TEST

struct claims {
	int	n;
	int64_t	row;
};

static int
claim_cb(void *arg, const struct outbox_due *d)
{
	struct claims	*c = arg;

	c->n++;
	c->row = d->row;
	return 0;
}

/* Two connections, as two daemons would hold, on a store with one
   inquiry whose one notification is due at T0. */
static void
two_daemons_one_row(struct store **a, struct store **b)
{
	struct store_job	 j, *jp = &j;

	ck_assert_int_eq(store_open(dbpath, STORE_CREATE, a), 0);
	ck_assert_int_eq(store_open(dbpath, 0, b), 0);
	fill_job(&j, T0, "consultation", (const unsigned char *)"x", 1);
	j.outbox = two_rows;
	j.noutbox = 1;
	ck_assert_int_eq(store_insert(*a, &jp, 1), 0);
}

/* A row one daemon claimed is not another's until the lease runs out:
   then a daemon that died with it no longer holds it up. */
START_TEST(test_pg_outbox_lease)
{
	struct store		*a, *b;
	struct claims		 ca = { 0, 0 }, cb = { 0, 0 };
	struct outbox_outcome	 o;
	int64_t			 next = 0, now = T0 + 10;

	two_daemons_one_row(&a, &b);
	ck_assert_int_eq(outbox_due(a, now, 8, NULL, 0, claim_cb, &ca,
	    &next), 0);
	ck_assert_int_eq(ca.n, 1);
	ck_assert_int_eq(outbox_due(b, now, 8, NULL, 0, claim_cb, &cb,
	    &next), 0);
	ck_assert_int_eq(cb.n, 0);
	/* The other daemon looks again within the poll interval. */
	ck_assert_int_gt(next, now);
	ck_assert_int_le(next, now + 5000);
	/* a dies; after the lease b takes the row over and sends it. */
	store_close(a);
	ck_assert_int_eq(outbox_due(b, now + 121000, 8, NULL, 0, claim_cb,
	    &cb, NULL), 0);
	ck_assert_int_eq(cb.n, 1);
	ck_assert_int_eq(cb.row, ca.row);
	memset(&o, 0, sizeof(o));
	o.row = cb.row;
	o.state = OUTBOX_SENT;
	ck_assert_int_eq(outbox_record(b, &o, 1), 0);
	ck_assert_int_eq(st_int(b, "SELECT count(*) FROM outbox WHERE"
	    " state = 'sent' AND claimed_until = 0 AND message IS NULL"), 1);
	store_close(b);
}
END_TEST

/* A long [mail] timeout makes the lease longer: a slow delivery on a
   live daemon is never taken over. */
START_TEST(test_pg_lease_follows_mail_timeout)
{
	struct store		*a, *b;
	struct claims		 ca = { 0, 0 }, cb = { 0, 0 };

	store_pg_send_time(300000);		/* 5 min */
	two_daemons_one_row(&a, &b);
	ck_assert_int_eq(outbox_due(a, T0, 8, NULL, 0, claim_cb, &ca, NULL),
	    0);
	ck_assert_int_eq(ca.n, 1);
	ck_assert_int_eq(outbox_due(b, T0 + 599000, 8, NULL, 0, claim_cb,
	    &cb, NULL), 0);
	ck_assert_int_eq(cb.n, 0);
	ck_assert_int_eq(outbox_due(b, T0 + 600001, 8, NULL, 0, claim_cb,
	    &cb, NULL), 0);
	ck_assert_int_eq(cb.n, 1);
	store_close(b);
	store_close(a);
}
END_TEST

/* Retention runs on one daemon at a time: while another holds the lock,
   a purge removes nothing and fails nothing. */
START_TEST(test_pg_retention_lock)
{
	char			 ids[NLIST][STORE_ID_LEN + 1];
	struct store		*st = make_ten(ids);
	PGconn			*other = pg_conn();
	uint64_t		 n = 99;

	pg_exec(other, "SELECT pg_advisory_lock(1768846433, 2)");
	ck_assert_int_eq(store_purge(st, INT64_MAX, &n, NULL), 0);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(st_int(st, "SELECT count(*) FROM inquiries"), NLIST);
	pg_exec(other, "SELECT pg_advisory_unlock(1768846433, 2)");
	pq.finish(other);
	ck_assert_int_eq(store_purge(st, INT64_MAX, &n, NULL), 0);
	ck_assert_uint_eq(n, NLIST);
	store_close(st);
}
END_TEST

/* Two daemons appending at once still make one unbroken chain. */
START_TEST(test_pg_audit_two_writers)
{
	struct store		*a, *b;
	struct audit_event	 ev = { .actor = "test", .action = "view" };
	int64_t			 bad = 0;
	int			 i;

	ck_assert_int_eq(store_open(dbpath, STORE_CREATE, &a), 0);
	ck_assert_int_eq(store_open(dbpath, 0, &b), 0);
	for (i = 0; i < 10; i++)
		ck_assert_int_eq(audit_append(i % 2 ? a : b, &ev), 0);
	ck_assert_int_eq(audit_verify(a, &bad), 0);
	ck_assert_int_eq(st_int(a, "SELECT max(seq) FROM audit"), 10);
	store_close(b);
	store_close(a);
}
END_TEST

/* A target that is not a server refuses at once, saying why. */
START_TEST(test_pg_unreachable)
{
	struct store	*st = (struct store *)1;

	ck_assert_int_eq(store_open("postgresql:///x?host=/nonexistent",
	    STORE_CREATE, &st), ERR_IO);
	ck_assert_ptr_null(st);
}
END_TEST

Suite *
store_suite(void)
{
	Suite	*s = suite_create("store");
	TCase	*tc = tcase_create("store");
	TCase	*tw = tcase_create("writer");
	TCase	*tp;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_create_modes);
	tcase_add_test(tc, test_open_errors);
	tcase_add_test(tc, test_migrate_v1);
	tcase_add_test(tc, test_newer_version);
	tcase_add_test(tc, test_insert_list);
	tcase_add_test(tc, test_get);
	tcase_add_test(tc, test_insert_invalid);
	tcase_add_test(tc, test_delete);
	tcase_add_test(tc, test_attachments);
	tcase_add_test(tc, test_attachment_short_file);
	tcase_add_test(tc, test_purge_stats);
	tcase_add_test(tc, test_readonly);
	suite_add_tcase(s, tc);

	tcase_add_checked_fixture(tw, setup, teardown);
	tcase_set_timeout(tw, 60);
	tcase_add_test(tw, test_writer_group_commit);
	tcase_add_test(tw, test_writer_per_request);
	tcase_add_test(tw, test_writer_busy);
	tcase_add_test(tw, test_writer_stop_drains);
	tcase_add_test(tw, test_writer_start_fails);
	tcase_add_test(tw, test_writer_commit_fails);
	tcase_add_test(tw, test_purge_runs_beside_a_busy_writer);
	suite_add_tcase(s, tw);
	tcase_add_test(tc, test_spend_once);

	/* make check starts the server; alone, say what is not run. */
	if (getenv("INTAKE_TEST_PG_URL") == NULL) {
		fprintf(stderr, "check_store: no INTAKE_TEST_PG_URL: the "
		    "PostgreSQL cases are left out (tests/pgtest.py runs "
		    "them)\n");
		return s;
	}
	tp = tcase_create("pg");
	tcase_add_checked_fixture(tp, setup_pg, teardown);
	tcase_set_timeout(tp, 60);
	tcase_add_test(tp, test_insert_list);
	tcase_add_test(tp, test_get);
	tcase_add_test(tp, test_insert_invalid);
	tcase_add_test(tp, test_delete);
	tcase_add_test(tp, test_attachments);
	tcase_add_test(tp, test_attachment_short_file);
	tcase_add_test(tp, test_purge_stats);
	tcase_add_test(tp, test_readonly);
	tcase_add_test(tp, test_spend_once);
	tcase_add_test(tp, test_pg_outbox_lease);
	tcase_add_test(tp, test_pg_lease_follows_mail_timeout);
	tcase_add_test(tp, test_pg_retention_lock);
	tcase_add_test(tp, test_pg_audit_two_writers);
	tcase_add_test(tp, test_pg_unreachable);
	tcase_add_test(tp, test_writer_group_commit);
	tcase_add_test(tp, test_writer_per_request);
	tcase_add_test(tp, test_writer_busy);
	tcase_add_test(tp, test_writer_stop_drains);
	tcase_add_test(tp, test_purge_runs_beside_a_busy_writer);
	suite_add_tcase(s, tp);
	return s;
}
