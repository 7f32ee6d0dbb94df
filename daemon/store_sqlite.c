#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "audit.h"
#include "log.h"
#include "store_sqlite.h"

/*
 * The SQLite backend: one database file (WAL, synchronous=FULL, schema
 * versioned by PRAGMA user_version, file 0600 in a 0700 directory). A
 * struct sqlite_store is one connection with its prepared statements,
 * used by one thread at a time. The outbox's statements are in outbox.c.
 */

#define BUSY_TIMEOUT_MS	5000
#define PURGE_BATCH	500	/* inquiries erased per transaction */
#define CHUNK_ROW	(256 * 1024)	/* attachment bytes per row */

/*
 * The schema as an ordered list of migrations: entry i brings a database
 * from user_version i to i + 1. Never edit a shipped entry; append one.
 */
static const char *const migrations[] = {
	/* 1: the inquiries */
	"CREATE TABLE inquiries("
	"  id TEXT PRIMARY KEY,"
	"  form TEXT NOT NULL,"
	"  received_at INTEGER NOT NULL,"	/* unix ms */
	"  size INTEGER NOT NULL,"		/* ciphertext bytes */
	"  record BLOB NOT NULL);"		/* age file */
	"CREATE INDEX inquiries_received ON inquiries(received_at);",
	/* 2: the notification outbox */
	"CREATE TABLE outbox("
	"  id INTEGER PRIMARY KEY,"
	"  inquiry_id TEXT NOT NULL"
	"    REFERENCES inquiries(id) ON DELETE CASCADE,"
	"  kind TEXT NOT NULL,"
	"  state TEXT NOT NULL DEFAULT 'queued',"	/* queued|sent|failed */
	"  attempts INTEGER NOT NULL DEFAULT 0,"
	"  created_at INTEGER NOT NULL,"
	"  next_try INTEGER NOT NULL,"
	"  last_error TEXT,"
	"  message BLOB);"
	"CREATE INDEX outbox_due ON outbox(state, next_try);"
	"CREATE INDEX outbox_inquiry ON outbox(inquiry_id);",
	/* 3: attachments, each an age file kept as rows of chunks */
	"CREATE TABLE attachments("
	"  inquiry_id TEXT NOT NULL"
	"    REFERENCES inquiries(id) ON DELETE CASCADE,"
	"  n INTEGER NOT NULL,"			/* from 1, record order */
	"  size INTEGER NOT NULL,"		/* ciphertext bytes */
	"  PRIMARY KEY(inquiry_id, n)) WITHOUT ROWID;"
	"CREATE TABLE attachment_chunks("
	"  inquiry_id TEXT NOT NULL,"
	"  n INTEGER NOT NULL,"
	"  seq INTEGER NOT NULL,"
	"  data BLOB NOT NULL,"
	"  PRIMARY KEY(inquiry_id, n, seq),"
	"  FOREIGN KEY(inquiry_id, n) REFERENCES attachments(inquiry_id, n)"
	"    ON DELETE CASCADE);",
	/* 4: the staff inbox: status, the audit log, logins and sessions.
	   The audit log refers to inquiries by id only: an erasure leaves
	   the entries that say it happened. */
	"ALTER TABLE inquiries ADD COLUMN status TEXT NOT NULL"
	"  DEFAULT 'new';"
	"CREATE TABLE audit("
	"  seq INTEGER PRIMARY KEY,"
	"  at INTEGER NOT NULL,"
	"  actor TEXT NOT NULL,"
	"  action TEXT NOT NULL,"
	"  inquiry_id TEXT NOT NULL,"
	"  client TEXT NOT NULL,"
	"  detail TEXT NOT NULL,"
	"  prev BLOB NOT NULL,"
	"  hash BLOB NOT NULL);"
	"CREATE INDEX audit_at ON audit(at);"
	"CREATE TABLE challenges("
	"  digest BLOB PRIMARY KEY,"
	"  recipient TEXT NOT NULL,"
	"  expires INTEGER NOT NULL) WITHOUT ROWID;"
	"CREATE TABLE sessions("
	"  digest BLOB PRIMARY KEY,"
	"  recipient TEXT NOT NULL,"
	"  created INTEGER NOT NULL,"
	"  seen INTEGER NOT NULL) WITHOUT ROWID;",
	/* 5: what several daemons share (store_pg.c has the same): outbox
	   leases, unused with one daemon, and spent ALTCHA challenges */
	"ALTER TABLE outbox ADD COLUMN claimed_until INTEGER NOT NULL"
	"  DEFAULT 0;"
	"CREATE TABLE spent("
	"  digest BLOB PRIMARY KEY,"
	"  expires INTEGER NOT NULL) WITHOUT ROWID;",
};
#define SCHEMA_VERSION	((int)(sizeof(migrations) / sizeof(migrations[0])))
_Static_assert(SCHEMA_VERSION == SQ_SCHEMA_VERSION, "SQ_SCHEMA_VERSION");

enum stmt {
	ST_INSERT,
	ST_INSERT_OUTBOX,
	ST_INSERT_ATTACHMENT,
	ST_INSERT_CHUNK,
	ST_INSERT_SPENT,
	ST_CHUNKS,
	ST_LIST,
	ST_GET,
	ST_DELETE,
	ST_SET_STATUS,
	ST_REKEY,
	ST_FILE_COUNT,
	ST_FILE_SIZE,
	ST_DROP_CHUNKS,
	ST_PURGE,
	ST_STATS,
	ST_OUTBOX_STATS,
	ST_BEGIN,
	ST_BEGIN_READ,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_COUNT
};

/* The outbox summary of the inquiry row aliased i; each count is one
   seek on outbox_inquiry. */
#define OUTBOX_COUNTS \
	"(SELECT count(*) FROM outbox o WHERE o.inquiry_id = i.id" \
	"   AND o.state = 'queued')," \
	"(SELECT count(*) FROM outbox o WHERE o.inquiry_id = i.id" \
	"   AND o.state = 'failed')," \
	"(SELECT count(*) FROM outbox o WHERE o.inquiry_id = i.id" \
	"   AND o.state = 'sent')," \
	"(SELECT count(*) FROM attachments a WHERE a.inquiry_id = i.id)," \
	"i.status"

static const char *const stmt_sql[ST_COUNT] = {
	[ST_INSERT] = "INSERT INTO inquiries(id, form, received_at, size,"
	    " record) VALUES (?1, ?2, ?3, ?4, ?5)",
	[ST_INSERT_OUTBOX] = "INSERT INTO outbox(inquiry_id, kind, created_at,"
	    " next_try, message) VALUES (?1, ?2, ?3, ?3, ?4)",
	[ST_INSERT_ATTACHMENT] = "INSERT INTO attachments(inquiry_id, n, size)"
	    " VALUES (?1, ?2, ?3)",
	[ST_INSERT_CHUNK] = "INSERT INTO attachment_chunks(inquiry_id, n, seq,"
	    " data) VALUES (?1, ?2, ?3, ?4)",
	[ST_INSERT_SPENT] = "INSERT INTO spent(digest, expires) VALUES (?1, ?2)",
	[ST_CHUNKS] = "SELECT data FROM attachment_chunks WHERE inquiry_id = ?1"
	    " AND n = ?2 ORDER BY seq",
	/* A range scan of inquiries_received, newest first. */
	[ST_LIST] = "SELECT i.id, i.form, i.received_at, i.size, "
	    OUTBOX_COUNTS " FROM inquiries i"
	    " WHERE i.received_at >= ?1 AND i.received_at <= ?2"
	    " AND (?3 IS NULL OR i.form = ?3)"
	    " AND (?5 IS NULL OR i.id < ?5)"
	    " ORDER BY i.received_at DESC, i.id DESC LIMIT ?4",
	[ST_GET] = "SELECT i.id, i.form, i.received_at, i.size, "
	    OUTBOX_COUNTS ", i.record FROM inquiries i WHERE i.id = ?1",
	[ST_DELETE] = "DELETE FROM inquiries WHERE id = ?1",
	[ST_SET_STATUS] = "UPDATE inquiries SET status = ?2 WHERE id = ?1",
	[ST_REKEY] = "UPDATE inquiries SET record = ?2, size = ?3 WHERE id = ?1",
	[ST_FILE_COUNT] = "SELECT count(*) FROM attachments"
	    " WHERE inquiry_id = ?1",
	[ST_FILE_SIZE] = "UPDATE attachments SET size = ?3"
	    " WHERE inquiry_id = ?1 AND n = ?2",
	[ST_DROP_CHUNKS] = "DELETE FROM attachment_chunks"
	    " WHERE inquiry_id = ?1 AND n = ?2",
	/* A batch at a time, so another connection's commit never waits
	   behind one long erasure. */
	[ST_PURGE] = "DELETE FROM inquiries WHERE id IN (SELECT id FROM"
	    " inquiries WHERE received_at < ?1 LIMIT ?2)",
	[ST_STATS] = "SELECT count(*), total(size), min(received_at),"
	    " max(received_at) FROM inquiries",
	[ST_OUTBOX_STATS] = "SELECT state, count(*) FROM outbox GROUP BY state",
	[ST_BEGIN] = "BEGIN IMMEDIATE",
	[ST_BEGIN_READ] = "BEGIN",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
};

_Static_assert(ST_COUNT <= SQ_STMT_MAX, "SQ_STMT_MAX too small");

static const struct store_ops sqlite_ops;
static void	sq_close(struct store *);


int
sq_fail(struct sqlite_store *st, int rc)
{
	st->rc = rc;
	if ((rc & 0xff) == SQLITE_NOMEM)
		return ERR_NOMEM;
	return ERR_IO;
}

sqlite3_stmt *
sq_stmt(struct sqlite_store *st, sqlite3_stmt **slot, const char *sql)
{
	int	rc;

	if (*slot != NULL)
		return *slot;
	rc = sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT,
	    slot, NULL);
	if (rc != SQLITE_OK) {
		st->rc = rc;
		log_warnx("store: cannot prepare a statement: %s",
		    sqlite3_errmsg(st->db));
		return NULL;
	}
	return *slot;
}

/* The cached statement which of this file. */
static sqlite3_stmt *
stmt(struct sqlite_store *st, enum stmt which)
{
	return sq_stmt(st, &st->stmt[which], stmt_sql[which]);
}

void
sq_done(sqlite3_stmt *s)
{
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
}

/* Runs one of the statement-less commands (BEGIN, COMMIT, ROLLBACK). */
static int
run(struct sqlite_store *st, enum stmt which)
{
	sqlite3_stmt	*s;
	int		 rc;

	if ((s = stmt(st, which)) == NULL)
		return sq_fail(st, st->rc);
	rc = sqlite3_step(s);
	sq_done(s);
	return rc == SQLITE_DONE ? 0 : sq_fail(st, rc);
}

int
sq_begin(struct sqlite_store *st)
{
	return run(st, ST_BEGIN);
}

int
sq_commit(struct sqlite_store *st)
{
	return run(st, ST_COMMIT);
}

/* A failed COMMIT may or may not have closed the transaction already. */
void
sq_rollback(struct sqlite_store *st)
{
	if (!sqlite3_get_autocommit(st->db))
		run(st, ST_ROLLBACK);
}

/* Creates the missing directories of path's parent with mode 0700. */
static int
mkdir_parents(const char *path)
{
	char	 dir[PATH_MAX];
	char	*p, c;

	if (strlen(path) >= sizeof(dir))
		return ERR_INVAL;
	strcpy(dir, path);
	if ((p = strrchr(dir, '/')) == NULL || p == dir)
		return 0;
	*p = '\0';
	for (p = dir + 1; ; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		c = *p;
		*p = '\0';
		if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
			log_warn("store: mkdir %s", dir);
			return ERR_IO;
		}
		if ((*p = c) == '\0')
			return 0;
	}
}

/*
 * Creates path 0600 before SQLite sees it: SQLite gives the -wal and -shm
 * files the mode of the database file, so they are 0600 too, with no
 * process-wide umask dance. An existing file with group/other access is
 * tightened.
 */
static int
precreate(const char *path)
{
	struct stat	sb;
	int		fd;

	fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd == -1) {
		log_warn("store: %s", path);
		return ERR_IO;
	}
	if (fstat(fd, &sb) == 0 && (sb.st_mode & 077) != 0 &&
	    fchmod(fd, 0600) == -1)
		log_warn("store: chmod 0600 %s", path);
	close(fd);
	return 0;
}

/* Reads PRAGMA user_version. */
static int
user_version(struct sqlite_store *st, int *v)
{
	sqlite3_stmt	*s;
	int		 rc;

	rc = sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &s, NULL);
	if (rc != SQLITE_OK)
		return sq_fail(st, rc);
	if ((rc = sqlite3_step(s)) == SQLITE_ROW)
		*v = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	return rc == SQLITE_ROW ? 0 : sq_fail(st, rc);
}

static int
exec(struct sqlite_store *st, const char *sql)
{
	int	rc;

	if ((rc = sqlite3_exec(st->db, sql, NULL, NULL, NULL)) != SQLITE_OK) {
		log_warnx("store: %s", sqlite3_errmsg(st->db));
		return sq_fail(st, rc);
	}
	return 0;
}

/* Applies migrations from the database's version up to SCHEMA_VERSION,
   all in one transaction, so a crash leaves the old version whole. */
static int
apply_migrations(struct sqlite_store *st, int from)
{
	char	sql[64];
	int	r, v;

	if ((r = run(st, ST_BEGIN)) != 0)
		return r;
	/* Another process may have migrated while we waited for the lock. */
	if ((r = user_version(st, &from)) != 0)
		goto out;
	if (from > SCHEMA_VERSION) {
		r = ERR_VERSION;
		goto out;
	}
	for (v = from; v < SCHEMA_VERSION; v++)
		if ((r = exec(st, migrations[v])) != 0)
			goto out;
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", SCHEMA_VERSION);
	if ((r = exec(st, sql)) != 0)
		goto out;
	r = run(st, ST_COMMIT);
	if (r == 0 && from == 0)
		log_info("store: schema created (version %d)", SCHEMA_VERSION);
	else if (r == 0 && from != SCHEMA_VERSION)
		log_info("store: schema migrated from version %d to %d", from,
		    SCHEMA_VERSION);
out:
	if (r != 0)
		sq_rollback(st);
	return r;
}

/* Checks the schema version; migrates a writable database. */
static int
migrate(struct sqlite_store *st)
{
	int	r, v;

	if ((r = user_version(st, &v)) != 0)
		return r;
	if (v > SCHEMA_VERSION)
		return ERR_VERSION;
	if (v == SCHEMA_VERSION)
		return 0;
	if (st->flags & STORE_RDONLY)
		return ERR_VERSION;
	return apply_migrations(st, v);
}

/* Connection settings: durability first, then hygiene. */
static int
configure(struct sqlite_store *st)
{
	sqlite3_stmt	*s;
	int		 rc, wal;

	sqlite3_extended_result_codes(st->db, 1);
	sqlite3_busy_timeout(st->db, BUSY_TIMEOUT_MS);
	if (st->flags & STORE_RDONLY)
		return 0;
	rc = sqlite3_prepare_v2(st->db, "PRAGMA journal_mode = WAL", -1, &s,
	    NULL);
	if (rc != SQLITE_OK)
		return sq_fail(st, rc);
	rc = sqlite3_step(s);
	wal = rc == SQLITE_ROW &&
	    strcmp((const char *)sqlite3_column_text(s, 0), "wal") == 0;
	sqlite3_finalize(s);
	if (!wal) {
		log_warnx("store: cannot switch to WAL: %s",
		    sqlite3_errstr(rc));
		return sq_fail(st, rc == SQLITE_ROW ? SQLITE_ERROR : rc);
	}
	return exec(st, "PRAGMA synchronous = FULL;"
	    "PRAGMA foreign_keys = ON;"
	    "PRAGMA secure_delete = ON;");
}

/*
 * Opens the database at path. STORE_CREATE makes the parent directories
 * (0700) and the file (0600) if missing; STORE_RDONLY opens read-only
 * (which works while the daemon writes, thanks to WAL). A writable
 * database is migrated to the current schema. Returns 0 with *out
 * owned by the caller (store_close), ERR_NOTFOUND when the file does
 * not exist (errno set), ERR_VERSION, ERR_IO or ERR_NOMEM.
 */
int
store_sqlite_open(const char *path, int flags, struct store **out)
{
	struct sqlite_store	*st;
	struct stat	 sb;
	int		 r, oflags;

	*out = NULL;
	if (path == NULL || *path == '\0' ||
	    (flags & (STORE_RDONLY | STORE_CREATE)) ==
	    (STORE_RDONLY | STORE_CREATE))
		return ERR_INVAL;
	if (flags & STORE_CREATE) {
		if ((r = mkdir_parents(path)) != 0 ||
		    (r = precreate(path)) != 0)
			return r;
	} else if (stat(path, &sb) == -1)
		return errno == ENOENT ? ERR_NOTFOUND : ERR_IO;
	if ((st = calloc(1, sizeof(*st))) == NULL)
		return ERR_NOMEM;
	st->base.ops = &sqlite_ops;
	st->flags = flags;
	oflags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW |
	    ((flags & STORE_RDONLY) ? SQLITE_OPEN_READONLY :
	    SQLITE_OPEN_READWRITE);
	r = sqlite3_open_v2(path, &st->db, oflags, NULL);
	if (r != SQLITE_OK) {
		r = sq_fail(st, r);
		log_warnx("store: cannot open %s: %s", path,
		    sqlite3_errstr(st->rc));
	} else if ((r = configure(st)) == 0)
		r = migrate(st);
	if (r != 0) {
		sq_close(&st->base);
		return r;
	}
	*out = &st->base;
	return 0;
}

static void
sq_close(struct store *base)
{
	struct sqlite_store	*st = sq(base);
	size_t			 i;

	for (i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(st->stmt[i]);
	for (i = 0; i < OST_COUNT; i++)
		sqlite3_finalize(st->ostmt[i]);
	for (i = 0; i < IST_COUNT; i++)
		sqlite3_finalize(st->istmt[i]);
	if (sqlite3_close(st->db) != SQLITE_OK)
		log_warnx("store: close: %s", sqlite3_errmsg(st->db));
	free(st->chunk);
	free(st);
}


static int
insert_outbox(struct sqlite_store *st, const struct store_job *j,
    const struct store_outbox *o)
{
	sqlite3_stmt	*s;
	int		 rc;

	if ((s = stmt(st, ST_INSERT_OUTBOX)) == NULL)
		return sq_fail(st, st->rc);
	sqlite3_bind_text(s, 1, j->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, o->kind, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, j->received_at_ms);
	if (o->msg != NULL)
		sqlite3_bind_blob64(s, 4, o->msg, o->msglen, SQLITE_STATIC);
	rc = sqlite3_step(s);
	sq_done(s);
	return rc == SQLITE_DONE ? 0 : sq_fail(st, rc);
}

/* One chunk row of attachment n. */
static int
insert_chunk(struct sqlite_store *st, const char *id, size_t n,
    int64_t seq, const void *p, size_t len)
{
	sqlite3_stmt	*s;
	int		 rc;

	if ((s = stmt(st, ST_INSERT_CHUNK)) == NULL)
		return sq_fail(st, st->rc);
	sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, (sqlite3_int64)n);
	sqlite3_bind_int64(s, 3, seq);
	sqlite3_bind_blob64(s, 4, p, len, SQLITE_STATIC);
	rc = sqlite3_step(s);
	sq_done(s);
	return rc == SQLITE_DONE ? 0 : sq_fail(st, rc);
}

/*
 * Copies attachment n (the age file staged in f->fd) into rows of
 * CHUNK_ROW bytes inside the open transaction. The staged file is read
 * with pread, so the stager's offset does not matter; a short file is an
 * I/O error, never a silently truncated attachment.
 */
static int
insert_file(struct sqlite_store *st, const struct store_job *j, size_t n,
    const struct store_file *f)
{
	sqlite3_stmt			*s;
	uint64_t			 off = 0;
	int64_t				 seq = 0;
	ssize_t				 got;
	size_t				 want;
	int				 rc, r;

	if (st->chunk == NULL && (st->chunk = malloc(CHUNK_ROW)) == NULL)
		return ERR_NOMEM;
	if ((s = stmt(st, ST_INSERT_ATTACHMENT)) == NULL)
		return sq_fail(st, st->rc);
	sqlite3_bind_text(s, 1, j->id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, (sqlite3_int64)n);
	sqlite3_bind_int64(s, 3, (sqlite3_int64)f->size);
	rc = sqlite3_step(s);
	sq_done(s);
	if (rc != SQLITE_DONE)
		return sq_fail(st, rc);
	while (off < f->size) {
		want = f->size - off < CHUNK_ROW ? (size_t)(f->size - off) :
		    CHUNK_ROW;
		got = pread(f->fd, st->chunk, want, (off_t)off);
		if (got <= 0 || (size_t)got != want) {
			log_warn("store: inquiry %s: staged attachment %zu",
			    j->id, n);
			return ERR_IO;
		}
		if ((r = insert_chunk(st, j->id, n, seq++, st->chunk, want)) != 0)
			return r;
		off += want;
	}
	return 0;
}

/*
 * Spends j's challenge. One spent already is ERR_REPLAYED, and the
 * inquiry row just inserted goes again, so nothing of the job is left.
 */
static int
insert_spent(struct sqlite_store *st, const struct store_job *j)
{
	sqlite3_stmt	*s;
	int		 rc;

	if ((s = stmt(st, ST_INSERT_SPENT)) == NULL)
		return sq_fail(st, st->rc);
	sqlite3_bind_blob(s, 1, j->spend, STORE_SPEND_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, j->spend_expires_ms);
	rc = sqlite3_step(s);
	sq_done(s);
	if (rc == SQLITE_DONE)
		return 0;
	if (rc != SQLITE_CONSTRAINT_PRIMARYKEY)
		return sq_fail(st, rc);
	if ((s = stmt(st, ST_DELETE)) == NULL)
		return sq_fail(st, st->rc);
	sqlite3_bind_text(s, 1, j->id, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	sq_done(s);
	return rc == SQLITE_DONE ? ERR_REPLAYED : sq_fail(st, rc);
}

/*
 * Inserts one job and its outbox rows inside the open transaction.
 * ERR_INVAL is the job's own fault (invalid, or its id exists) and
 * leaves nothing of it behind; any other error dooms the transaction.
 */
static int
insert_job(struct sqlite_store *st, const struct store_job *j)
{
	sqlite3_stmt	*s;
	size_t		 i;
	int		 rc, r;

	if (!store_job_valid(j))
		return ERR_INVAL;
	if ((s = stmt(st, ST_INSERT)) == NULL)
		return sq_fail(st, st->rc);
	sqlite3_bind_text(s, 1, j->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, j->form, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, j->received_at_ms);
	sqlite3_bind_int64(s, 4, (sqlite3_int64)j->ctlen);
	sqlite3_bind_blob64(s, 5, j->ct, j->ctlen, SQLITE_STATIC);
	rc = sqlite3_step(s);
	sq_done(s);
	if (rc == SQLITE_CONSTRAINT_PRIMARYKEY) {
		st->rc = rc;
		return ERR_INVAL;
	}
	if (rc != SQLITE_DONE)
		return sq_fail(st, rc);
	if (j->spend != NULL && (r = insert_spent(st, j)) != 0)
		return r;
	for (i = 0; i < j->noutbox; i++)
		if ((r = insert_outbox(st, j, &j->outbox[i])) != 0)
			return r;
	for (i = 0; i < j->nfiles; i++)
		if ((r = insert_file(st, j, i + 1, &j->files[i])) != 0)
			return r;
	return 0;
}

/*
 * Inserts the jobs in one transaction. A job that is invalid or whose id
 * already exists is skipped (its result field says ERR_INVAL) and the
 * others commit; then the first such result is returned. Any other
 * failure rolls everything back and is returned.
 */
static int
sq_insert(struct store *base, struct store_job *const *jobs, size_t n)
{
	struct sqlite_store	*st = sq(base);
	size_t			 i;
	int			 r, first = 0;

	if ((r = run(st, ST_BEGIN)) != 0)
		goto fail;
	for (i = 0; i < n; i++) {
		st->rc = 0;
		r = jobs[i]->result = insert_job(st, jobs[i]);
		if (r == ERR_INVAL || r == ERR_REPLAYED) {
			log_warnx("store: inquiry %s refused: %s", jobs[i]->id,
			    r == ERR_REPLAYED ? "its proof of work was spent "
			    "already" : st->rc ? sqlite3_errstr(st->rc) :
			    "invalid job");
			if (first == 0)
				first = r;
		} else if (r != 0)
			goto fail;
	}
	if ((r = run(st, ST_COMMIT)) == 0)
		return first;
fail:
	log_warnx("store: commit of %zu inquir%s failed: %s", n,
	    n == 1 ? "y" : "ies", sqlite3_errstr(st->rc));
	sq_rollback(st);
	/* Nothing was kept: no job may still say it was. */
	for (i = 0; i < n; i++)
		jobs[i]->result = r;
	return r;
}

/* Fills m from the first eight columns of ST_LIST / ST_GET. */
static void
row_meta(sqlite3_stmt *s, struct store_meta *m)
{
	const unsigned char	*t;

	memset(m, 0, sizeof(*m));
	if ((t = sqlite3_column_text(s, 0)) != NULL)
		snprintf(m->id, sizeof(m->id), "%s", (const char *)t);
	if ((t = sqlite3_column_text(s, 1)) != NULL)
		snprintf(m->form, sizeof(m->form), "%s", (const char *)t);
	m->received_at_ms = sqlite3_column_int64(s, 2);
	m->size = (uint64_t)sqlite3_column_int64(s, 3);
	m->outbox_queued = (unsigned)sqlite3_column_int64(s, 4);
	m->outbox_failed = (unsigned)sqlite3_column_int64(s, 5);
	m->outbox_sent = (unsigned)sqlite3_column_int64(s, 6);
	m->attachments = (unsigned)sqlite3_column_int64(s, 7);
	if ((t = sqlite3_column_text(s, 8)) != NULL)
		snprintf(m->status, sizeof(m->status), "%s", (const char *)t);
}

/*
 * Calls cb for each inquiry matching f (NULL: all), newest first; a
 * non-zero return from cb stops the walk (still 0). cb must not
 * call store_list on the same store.
 */
static int
sq_list(struct store *base, const struct store_filter *f,
    int (*cb)(void *, const struct store_meta *), void *arg)
{
	struct sqlite_store	*st = sq(base);
	struct store_meta	 m;
	sqlite3_stmt		*s;
	int			 rc;

	if ((s = stmt(st, ST_LIST)) == NULL)
		return sq_fail(st, st->rc);
	sqlite3_bind_int64(s, 1, f && f->since_ms ? f->since_ms : INT64_MIN);
	sqlite3_bind_int64(s, 2, f && f->until_ms ? f->until_ms : INT64_MAX);
	if (f && f->form)
		sqlite3_bind_text(s, 3, f->form, -1, SQLITE_STATIC);
	if (f && f->before_id)
		sqlite3_bind_text(s, 5, f->before_id, -1, SQLITE_STATIC);
	if (f && f->limit && f->limit <= INT64_MAX)
		sqlite3_bind_int64(s, 4, (sqlite3_int64)f->limit);
	else
		sqlite3_bind_int64(s, 4, -1);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		row_meta(s, &m);
		if (cb(arg, &m) != 0) {
			rc = SQLITE_DONE;
			break;
		}
	}
	sq_done(s);
	return rc == SQLITE_DONE ? 0 : sq_fail(st, rc);
}

/*
 * Looks up one inquiry: its metadata into *m (if m) and its age file
 * appended to ct (if ct). ERR_NOTFOUND when there is no such id.
 */
static int
sq_get(struct store *base, const char *id, struct store_meta *m,
    struct buf *ct)
{
	struct sqlite_store	*st = sq(base);
	struct store_meta	 tmp;
	sqlite3_stmt		*s;
	int			 rc, r = 0;

	if (id == NULL)
		return ERR_INVAL;
	if ((s = stmt(st, ST_GET)) == NULL)
		return sq_fail(st, st->rc);
	sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		row_meta(s, m ? m : &tmp);
		if (ct != NULL && buf_append(ct, sqlite3_column_blob(s, 9),
		    (size_t)sqlite3_column_bytes(s, 9)) != 0)
			r = ERR_NOMEM;
	} else if (rc == SQLITE_DONE)
		r = ERR_NOTFOUND;
	else
		r = sq_fail(st, rc);
	sq_done(s);
	return r;
}

/* Moves the WAL's copies of erased pages into the (zeroed) database and
   truncates the WAL. Best effort: a busy reader just delays it. */
static void
scrub_wal(struct sqlite_store *st)
{
	int	rc;

	rc = sqlite3_wal_checkpoint_v2(st->db, NULL,
	    SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
	if (rc != SQLITE_OK)
		log_debug("store: checkpoint after erasure: %s",
		    sqlite3_errstr(rc));
}

/* Runs a DELETE statement with id (or ms and a batch size) bound;
   *changes gets the number of inquiries removed (outbox rows cascade). */
static int
erase(struct sqlite_store *st, enum stmt which, const char *id, int64_t ms,
    uint64_t *changes)
{
	sqlite3_stmt	*s;
	int		 rc;

	if ((s = stmt(st, which)) == NULL)
		return sq_fail(st, st->rc);
	if (id != NULL)
		sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
	else {
		sqlite3_bind_int64(s, 1, ms);
		sqlite3_bind_int(s, 2, PURGE_BATCH);
	}
	rc = sqlite3_step(s);
	sq_done(s);
	if (rc != SQLITE_DONE)
		return sq_fail(st, rc);
	*changes = (uint64_t)sqlite3_changes64(st->db);
	return 0;
}

/* Erases one inquiry (its rows cascade) and audits it in one
   transaction. ERR_NOTFOUND if absent. */
static int
sq_del(struct store *base, const char *id, const struct audit_event *ev)
{
	struct sqlite_store	*st = sq(base);
	uint64_t		 n = 0;
	int			 r;

	if ((r = sq_begin(st)) != 0)
		return r;
	if ((r = erase(st, ST_DELETE, id, 0, &n)) == 0 && n == 0)
		r = ERR_NOTFOUND;
	if (r == 0 && ev != NULL)
		r = sq_audit_insert(st, ev);
	if (r == 0 && (r = sq_commit(st)) == 0) {
		scrub_wal(st);
		return 0;
	}
	sq_rollback(st);
	return r;
}

/* Each batch is its own transaction: the write lock is released between
   batches, so the writer's group commits go on. The audit entry goes
   with the last batch. */
static int
sq_purge(struct store *base, int64_t before_ms, uint64_t *removed,
    const struct audit_event *ev)
{
	struct sqlite_store	*st = sq(base);
	struct audit_event	 e;
	uint64_t		 n, total = 0;
	char			 detail[64];
	int			 r;

	do {
		if ((r = sq_begin(st)) != 0)
			break;
		n = 0;
		r = erase(st, ST_PURGE, NULL, before_ms, &n);
		total += n;
		if (r == 0 && n < PURGE_BATCH && total > 0 && ev != NULL) {
			e = *ev;
			snprintf(detail, sizeof(detail), "%llu inquiries",
			    (unsigned long long)total);
			e.detail = detail;
			r = sq_audit_insert(st, &e);
		}
		if (r == 0)
			r = sq_commit(st);
		if (r != 0) {
			sq_rollback(st);
			total -= n;
		}
	} while (r == 0 && n == PURGE_BATCH);
	if (total > 0)
		scrub_wal(st);
	if (removed != NULL)
		*removed = total;
	return r;
}

static int
sq_set_status(struct store *base, const char *id, const char *status,
    const struct audit_event *ev)
{
	struct sqlite_store	*st = sq(base);
	sqlite3_stmt		*s;
	int			 r, rc;

	if ((r = sq_begin(st)) != 0)
		return r;
	if ((s = stmt(st, ST_SET_STATUS)) == NULL) {
		r = sq_fail(st, st->rc);
		goto out;
	}
	sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, status, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	sq_done(s);
	if (rc != SQLITE_DONE)
		r = sq_fail(st, rc);
	else if (sqlite3_changes(st->db) == 0)
		r = ERR_NOTFOUND;
	else if (ev != NULL)
		r = sq_audit_insert(st, ev);
	if (r == 0 && (r = sq_commit(st)) == 0)
		return 0;
out:
	sq_rollback(st);
	return r;
}

/* Runs statement which on (id, n, v): an UPDATE or DELETE of one row set;
   *changes gets how many rows it touched. */
static int
run_idn(struct sqlite_store *st, enum stmt which, const char *id, int64_t n,
    int64_t v, int *changes)
{
	sqlite3_stmt	*s;
	int		 rc;

	if ((s = stmt(st, which)) == NULL)
		return sq_fail(st, st->rc);
	sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, n);
	sqlite3_bind_int64(s, 3, v);
	rc = sqlite3_step(s);
	sq_done(s);
	if (rc != SQLITE_DONE)
		return sq_fail(st, rc);
	*changes = sqlite3_changes(st->db);
	return 0;
}

/* Attachment n of id replaced by the age file b, in rows of CHUNK_ROW. */
static int
rekey_file(struct sqlite_store *st, const char *id, size_t n,
    const struct store_blob *b)
{
	size_t	off, len;
	int64_t	seq = 0;
	int	r, changed;

	if ((r = run_idn(st, ST_DROP_CHUNKS, id, (int64_t)n, 0, &changed)) ||
	    (r = run_idn(st, ST_FILE_SIZE, id, (int64_t)n, (int64_t)b->len,
	    &changed)))
		return r;
	if (changed != 1)
		return ERR_NOTFOUND;
	for (off = 0; off < b->len; off += len) {
		len = b->len - off < CHUNK_ROW ? b->len - off : CHUNK_ROW;
		if ((r = insert_chunk(st, id, n, seq++, b->p + off, len)) != 0)
			return r;
	}
	return 0;
}

/* One inquiry's new age files, inside the open transaction. */
static int
rekey_one(struct sqlite_store *st, const struct store_rekey *rk)
{
	sqlite3_stmt	*s;
	size_t		 i;
	int		 rc, r;

	if ((s = stmt(st, ST_FILE_COUNT)) == NULL)
		return sq_fail(st, st->rc);
	sqlite3_bind_text(s, 1, rk->id, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	r = rc == SQLITE_ROW && sqlite3_column_int64(s, 0) ==
	    (sqlite3_int64)rk->nfiles ? 0 : ERR_NOTFOUND;
	sq_done(s);
	if (rc != SQLITE_ROW)
		return sq_fail(st, rc);
	if (r != 0)
		return r;
	if ((s = stmt(st, ST_REKEY)) == NULL)
		return sq_fail(st, st->rc);
	sqlite3_bind_text(s, 1, rk->id, -1, SQLITE_STATIC);
	sqlite3_bind_blob64(s, 2, rk->record.p, rk->record.len, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, (sqlite3_int64)rk->record.len);
	rc = sqlite3_step(s);
	sq_done(s);
	if (rc != SQLITE_DONE)
		return sq_fail(st, rc);
	if (sqlite3_changes(st->db) != 1)
		return ERR_NOTFOUND;
	for (i = 0; i < rk->nfiles; i++)
		if ((r = rekey_file(st, rk->id, i + 1, &rk->files[i])) != 0)
			return r;
	return 0;
}

static int
sq_rekey(struct store *base, const struct store_rekey *rk, size_t n,
    const struct audit_event *ev)
{
	struct sqlite_store	*st = sq(base);
	struct audit_event	 e = *ev;
	size_t			 i;
	int			 r;

	if ((r = sq_begin(st)) != 0)
		return r;
	for (i = 0; i < n && r == 0; i++) {
		e.inquiry_id = rk[i].id;
		if ((r = rekey_one(st, &rk[i])) == 0)
			r = sq_audit_insert(st, &e);
	}
	if (r == 0 && (r = sq_commit(st)) == 0) {
		/* The old files open with the old key: off the disk too. */
		scrub_wal(st);
		return 0;
	}
	sq_rollback(st);
	return r;
}

/* Streams attachment n of inquiry id to cb, chunk by chunk. Inside one
   read transaction, so a concurrent delete cannot cut it in the middle. */
static int
sq_attachment(struct store *base, const char *id, unsigned n,
    int (*cb)(void *, const void *, size_t), void *arg)
{
	struct sqlite_store	*st = sq(base);
	sqlite3_stmt		*s;
	int			 rc, r = 0, any = 0, own;

	if ((own = sqlite3_get_autocommit(st->db)) &&
	    (r = run(st, ST_BEGIN_READ)) != 0)
		return r;
	if ((s = stmt(st, ST_CHUNKS)) == NULL) {
		r = sq_fail(st, st->rc);
		goto out;
	}
	sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, n);
	while (r == 0 && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		any = 1;
		r = cb(arg, sqlite3_column_blob(s, 0),
		    (size_t)sqlite3_column_bytes(s, 0));
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = sq_fail(st, rc);
	sq_done(s);
	if (r == 0 && !any)
		r = ERR_NOTFOUND;
out:
	if (own)
		sq_rollback(st);
	return r;
}

/* A deferred read transaction: its snapshot is taken by the first read. */
static int
sq_read_begin(struct store *base)
{
	return run(sq(base), ST_BEGIN_READ);
}

static void
sq_read_end(struct store *base)
{
	sq_rollback(sq(base));
}

static int
outbox_stats(struct sqlite_store *st, struct store_stats *out)
{
	sqlite3_stmt	*s;
	const char	*state;
	uint64_t	 n;
	int		 rc;

	if ((s = stmt(st, ST_OUTBOX_STATS)) == NULL)
		return sq_fail(st, st->rc);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		state = (const char *)sqlite3_column_text(s, 0);
		n = (uint64_t)sqlite3_column_int64(s, 1);
		if (state == NULL)
			continue;
		if (strcmp(state, "queued") == 0)
			out->outbox_queued = n;
		else if (strcmp(state, "sent") == 0)
			out->outbox_sent = n;
		else if (strcmp(state, "failed") == 0)
			out->outbox_failed = n;
	}
	sq_done(s);
	return rc == SQLITE_DONE ? 0 : sq_fail(st, rc);
}

/* Counts and extremes; oldest/newest are 0 when the store is empty. */
static int
sq_stats(struct store *base, struct store_stats *out)
{
	struct sqlite_store	*st = sq(base);
	sqlite3_stmt	*s;
	int		 rc;

	memset(out, 0, sizeof(*out));
	if ((s = stmt(st, ST_STATS)) == NULL)
		return sq_fail(st, st->rc);
	if ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		out->inquiries = (uint64_t)sqlite3_column_int64(s, 0);
		out->bytes = (uint64_t)sqlite3_column_double(s, 1);
		out->oldest_ms = sqlite3_column_int64(s, 2);
		out->newest_ms = sqlite3_column_int64(s, 3);
	}
	sq_done(s);
	if (rc != SQLITE_ROW)
		return sq_fail(st, rc);
	return outbox_stats(st, out);
}

static int
sq_integrity(struct store *base)
{
	struct sqlite_store	*st = sq(base);
	sqlite3_stmt	*s;
	const char	*t;
	int		 rc, ok = 0;

	rc = sqlite3_prepare_v2(st->db, "PRAGMA integrity_check", -1, &s,
	    NULL);
	if (rc != SQLITE_OK)
		return sq_fail(st, rc);
	if ((rc = sqlite3_step(s)) == SQLITE_ROW &&
	    (t = (const char *)sqlite3_column_text(s, 0)) != NULL)
		ok = strcmp(t, "ok") == 0;
	sqlite3_finalize(s);
	if (rc != SQLITE_ROW)
		return sq_fail(st, rc);
	return ok ? 0 : ERR_IO;
}

static const struct store_ops sqlite_ops = {
	.name = "sqlite",
	.close = sq_close,
	.insert = sq_insert,
	.list = sq_list,
	.get = sq_get,
	.del = sq_del,
	.purge = sq_purge,
	.set_status = sq_set_status,
	.rekey = sq_rekey,
	.stats = sq_stats,
	.integrity = sq_integrity,
	.attachment = sq_attachment,
	.read_begin = sq_read_begin,
	.read_end = sq_read_end,
	.outbox_due = sq_outbox_due,
	.outbox_record = sq_outbox_record,
	.outbox_list = sq_outbox_list,
	.outbox_retry = sq_outbox_retry,
	.audit_append = sq_audit_append,
	.audit_list = sq_audit_list,
	.challenge_put = sq_challenge_put,
	.challenge_take = sq_challenge_take,
	.session_put = sq_session_put,
	.session_get = sq_session_get,
	.session_touch = sq_session_touch,
	.session_del = sq_session_del,
	.session_gc = sq_session_gc,
};
