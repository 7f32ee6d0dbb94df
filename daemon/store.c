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

#include "log.h"
#include "store.h"
#include "uuid.h"

/*
 * The SQLite store. A struct store is one connection with its prepared
 * statements; it is used by one thread at a time. The writer (further
 * down) gives the daemon's connection to a thread of its own.
 */

#define BUSY_TIMEOUT_MS	5000

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
};
#define SCHEMA_VERSION	((int)(sizeof(migrations) / sizeof(migrations[0])))

enum stmt {
	ST_INSERT,
	ST_INSERT_OUTBOX,
	ST_LIST,
	ST_GET,
	ST_DELETE,
	ST_PURGE,
	ST_STATS,
	ST_OUTBOX_STATS,
	ST_BEGIN,
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
	"   AND o.state = 'sent')"

static const char *const stmt_sql[ST_COUNT] = {
	[ST_INSERT] = "INSERT INTO inquiries(id, form, received_at, size,"
	    " record) VALUES (?1, ?2, ?3, ?4, ?5)",
	[ST_INSERT_OUTBOX] = "INSERT INTO outbox(inquiry_id, kind, created_at,"
	    " next_try, message) VALUES (?1, ?2, ?3, ?3, ?4)",
	/* A range scan of inquiries_received, newest first. */
	[ST_LIST] = "SELECT i.id, i.form, i.received_at, i.size, "
	    OUTBOX_COUNTS " FROM inquiries i"
	    " WHERE i.received_at >= ?1 AND i.received_at <= ?2"
	    " AND (?3 IS NULL OR i.form = ?3)"
	    " ORDER BY i.received_at DESC LIMIT ?4",
	[ST_GET] = "SELECT i.id, i.form, i.received_at, i.size, "
	    OUTBOX_COUNTS ", i.record FROM inquiries i WHERE i.id = ?1",
	[ST_DELETE] = "DELETE FROM inquiries WHERE id = ?1",
	[ST_PURGE] = "DELETE FROM inquiries WHERE received_at < ?1",
	[ST_STATS] = "SELECT count(*), total(size), min(received_at),"
	    " max(received_at) FROM inquiries",
	[ST_OUTBOX_STATS] = "SELECT state, count(*) FROM outbox GROUP BY state",
	[ST_BEGIN] = "BEGIN IMMEDIATE",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
};

struct store {
	sqlite3		*db;
	int		 flags;
	int		 rc;		/* last SQLite failure, for logs */
	sqlite3_stmt	*stmt[ST_COUNT];
};


/* Records a failed SQLite call and maps it to a store code. */
static int
fail(struct store *st, int rc)
{
	st->rc = rc;
	if ((rc & 0xff) == SQLITE_NOMEM)
		return ERR_NOMEM;
	return ERR_IO;
}

/* The cached statement for which, prepared on first use; reset and
   unbound by the caller via done(). NULL when it cannot be prepared. */
static sqlite3_stmt *
stmt(struct store *st, enum stmt which)
{
	int	rc;

	if (st->stmt[which] != NULL)
		return st->stmt[which];
	rc = sqlite3_prepare_v3(st->db, stmt_sql[which], -1,
	    SQLITE_PREPARE_PERSISTENT, &st->stmt[which], NULL);
	if (rc != SQLITE_OK) {
		st->rc = rc;
		log_warnx("store: cannot prepare statement %d: %s", which,
		    sqlite3_errmsg(st->db));
		return NULL;
	}
	return st->stmt[which];
}

static void
done(sqlite3_stmt *s)
{
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
}

/* Runs one of the statement-less commands (BEGIN, COMMIT, ROLLBACK). */
static int
run(struct store *st, enum stmt which)
{
	sqlite3_stmt	*s;
	int		 rc;

	if ((s = stmt(st, which)) == NULL)
		return fail(st, st->rc);
	rc = sqlite3_step(s);
	done(s);
	return rc == SQLITE_DONE ? 0 : fail(st, rc);
}

/* Rolls back whatever transaction is open, if any (a failed COMMIT may
   or may not have closed it already). */
static void
rollback(struct store *st)
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
user_version(struct store *st, int *v)
{
	sqlite3_stmt	*s;
	int		 rc;

	rc = sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &s, NULL);
	if (rc != SQLITE_OK)
		return fail(st, rc);
	if ((rc = sqlite3_step(s)) == SQLITE_ROW)
		*v = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	return rc == SQLITE_ROW ? 0 : fail(st, rc);
}

static int
exec(struct store *st, const char *sql)
{
	int	rc;

	if ((rc = sqlite3_exec(st->db, sql, NULL, NULL, NULL)) != SQLITE_OK) {
		log_warnx("store: %s", sqlite3_errmsg(st->db));
		return fail(st, rc);
	}
	return 0;
}

/* Applies migrations from the database's version up to SCHEMA_VERSION,
   all in one transaction, so a crash leaves the old version whole. */
static int
apply_migrations(struct store *st, int from)
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
		rollback(st);
	return r;
}

/* Checks the schema version; migrates a writable database. */
static int
migrate(struct store *st)
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
configure(struct store *st)
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
		return fail(st, rc);
	rc = sqlite3_step(s);
	wal = rc == SQLITE_ROW &&
	    strcmp((const char *)sqlite3_column_text(s, 0), "wal") == 0;
	sqlite3_finalize(s);
	if (!wal) {
		log_warnx("store: cannot switch to WAL: %s",
		    sqlite3_errstr(rc));
		return fail(st, rc == SQLITE_ROW ? SQLITE_ERROR : rc);
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
store_open(const char *path, int flags, struct store **out)
{
	struct store	*st;
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
	st->flags = flags;
	oflags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW |
	    ((flags & STORE_RDONLY) ? SQLITE_OPEN_READONLY :
	    SQLITE_OPEN_READWRITE);
	r = sqlite3_open_v2(path, &st->db, oflags, NULL);
	if (r != SQLITE_OK) {
		r = fail(st, r);
		log_warnx("store: cannot open %s: %s", path,
		    sqlite3_errstr(st->rc));
	} else if ((r = configure(st)) == 0)
		r = migrate(st);
	if (r != 0) {
		store_close(st);
		return r;
	}
	*out = st;
	return 0;
}

void
store_close(struct store *st)
{
	size_t	i;

	if (st == NULL)
		return;
	for (i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(st->stmt[i]);
	if (sqlite3_close(st->db) != SQLITE_OK)
		log_warnx("store: close: %s", sqlite3_errmsg(st->db));
	free(st);
}

struct sqlite3 *
store_db(struct store *st)
{
	return st->db;
}

/* A job the database would refuse for its own sake, not the disk's. */
static int
job_valid(const struct store_job *j)
{
	size_t	i;

	if (!uuid_valid(j->id) || j->form == NULL || *j->form == '\0' ||
	    strlen(j->form) > STORE_FORM_MAX || j->ct == NULL ||
	    (j->noutbox > 0 && j->outbox == NULL))
		return 0;
	for (i = 0; i < j->noutbox; i++)
		if (j->outbox[i].kind == NULL)
			return 0;
	return 1;
}

static int
insert_outbox(struct store *st, const struct store_job *j,
    const struct store_outbox *o)
{
	sqlite3_stmt	*s;
	int		 rc;

	if ((s = stmt(st, ST_INSERT_OUTBOX)) == NULL)
		return fail(st, st->rc);
	sqlite3_bind_text(s, 1, j->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, o->kind, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, j->received_at_ms);
	if (o->msg != NULL)
		sqlite3_bind_blob64(s, 4, o->msg, o->msglen, SQLITE_STATIC);
	rc = sqlite3_step(s);
	done(s);
	return rc == SQLITE_DONE ? 0 : fail(st, rc);
}

/*
 * Inserts one job and its outbox rows inside the open transaction.
 * ERR_INVAL is the job's own fault (invalid, or its id exists) and
 * leaves nothing of it behind; any other error dooms the transaction.
 */
static int
insert_job(struct store *st, const struct store_job *j)
{
	sqlite3_stmt	*s;
	size_t		 i;
	int		 rc, r;

	if (!job_valid(j))
		return ERR_INVAL;
	if ((s = stmt(st, ST_INSERT)) == NULL)
		return fail(st, st->rc);
	sqlite3_bind_text(s, 1, j->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, j->form, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, j->received_at_ms);
	sqlite3_bind_int64(s, 4, (sqlite3_int64)j->ctlen);
	sqlite3_bind_blob64(s, 5, j->ct, j->ctlen, SQLITE_STATIC);
	rc = sqlite3_step(s);
	done(s);
	if (rc == SQLITE_CONSTRAINT_PRIMARYKEY) {
		st->rc = rc;
		return ERR_INVAL;
	}
	if (rc != SQLITE_DONE)
		return fail(st, rc);
	for (i = 0; i < j->noutbox; i++)
		if ((r = insert_outbox(st, j, &j->outbox[i])) != 0)
			return r;
	return 0;
}

/*
 * Inserts the jobs in one transaction. A job that is invalid or whose id
 * already exists is skipped (its result field says ERR_INVAL) and the
 * others commit; then the first such result is returned. Any other
 * failure rolls everything back and is returned.
 */
int
store_insert(struct store *st, struct store_job *const *jobs, size_t n)
{
	size_t	i;
	int	r, first = 0;

	if ((r = run(st, ST_BEGIN)) != 0)
		return r;
	for (i = 0; i < n; i++) {
		r = jobs[i]->result = insert_job(st, jobs[i]);
		if (r == ERR_INVAL && first == 0)
			first = r;
		else if (r != 0 && r != ERR_INVAL)
			goto fail;
	}
	if ((r = run(st, ST_COMMIT)) == 0)
		return first;
fail:
	rollback(st);
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
}

/*
 * Calls cb for each inquiry matching f (NULL: all), newest first; a
 * non-zero return from cb stops the walk (still 0). cb must not
 * call store_list on the same store.
 */
int
store_list(struct store *st, const struct store_filter *f,
    int (*cb)(void *, const struct store_meta *), void *arg)
{
	struct store_meta	 m;
	sqlite3_stmt		*s;
	int			 rc;

	if ((s = stmt(st, ST_LIST)) == NULL)
		return fail(st, st->rc);
	sqlite3_bind_int64(s, 1, f && f->since_ms ? f->since_ms : INT64_MIN);
	sqlite3_bind_int64(s, 2, f && f->until_ms ? f->until_ms : INT64_MAX);
	if (f && f->form)
		sqlite3_bind_text(s, 3, f->form, -1, SQLITE_STATIC);
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
	done(s);
	return rc == SQLITE_DONE ? 0 : fail(st, rc);
}

/*
 * Looks up one inquiry: its metadata into *m (if m) and its age file
 * appended to ct (if ct). ERR_NOTFOUND when there is no such id.
 */
int
store_get(struct store *st, const char *id, struct store_meta *m,
    struct buf *ct)
{
	struct store_meta	 tmp;
	sqlite3_stmt		*s;
	int			 rc, r = 0;

	if (id == NULL)
		return ERR_INVAL;
	if ((s = stmt(st, ST_GET)) == NULL)
		return fail(st, st->rc);
	sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		row_meta(s, m ? m : &tmp);
		if (ct != NULL && buf_append(ct, sqlite3_column_blob(s, 7),
		    (size_t)sqlite3_column_bytes(s, 7)) != 0)
			r = ERR_NOMEM;
	} else if (rc == SQLITE_DONE)
		r = ERR_NOTFOUND;
	else
		r = fail(st, rc);
	done(s);
	return r;
}

/* Moves the WAL's copies of erased pages into the (zeroed) database and
   truncates the WAL. Best effort: a busy reader just delays it. */
static void
scrub_wal(struct store *st)
{
	int	rc;

	rc = sqlite3_wal_checkpoint_v2(st->db, NULL,
	    SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
	if (rc != SQLITE_OK)
		log_debug("store: checkpoint after erasure: %s",
		    sqlite3_errstr(rc));
}

/* Runs a DELETE statement bound to one parameter; *changes gets the
   number of inquiries removed (outbox rows cascade). */
static int
erase(struct store *st, enum stmt which, const char *id, int64_t ms,
    uint64_t *changes)
{
	sqlite3_stmt	*s;
	int		 rc;

	if ((s = stmt(st, which)) == NULL)
		return fail(st, st->rc);
	if (id != NULL)
		sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
	else
		sqlite3_bind_int64(s, 1, ms);
	rc = sqlite3_step(s);
	done(s);
	if (rc != SQLITE_DONE)
		return fail(st, rc);
	*changes = (uint64_t)sqlite3_changes64(st->db);
	scrub_wal(st);
	return 0;
}

/* Erases one inquiry and its outbox rows. ERR_NOTFOUND if absent. */
int
store_delete(struct store *st, const char *id)
{
	uint64_t	n = 0;
	int		r;

	if (id == NULL)
		return ERR_INVAL;
	if ((r = erase(st, ST_DELETE, id, 0, &n)) != 0)
		return r;
	return n ? 0 : ERR_NOTFOUND;
}

/* Erases every inquiry received before before_ms; *removed gets the
   count (if removed is not NULL). */
int
store_purge(struct store *st, int64_t before_ms, uint64_t *removed)
{
	uint64_t	n = 0;
	int		r;

	r = erase(st, ST_PURGE, NULL, before_ms, &n);
	if (removed != NULL)
		*removed = n;
	return r;
}

static int
outbox_stats(struct store *st, struct store_stats *out)
{
	sqlite3_stmt	*s;
	const char	*state;
	uint64_t	 n;
	int		 rc;

	if ((s = stmt(st, ST_OUTBOX_STATS)) == NULL)
		return fail(st, st->rc);
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
	done(s);
	return rc == SQLITE_DONE ? 0 : fail(st, rc);
}

/* Counts and extremes; oldest/newest are 0 when the store is empty. */
int
store_stats(struct store *st, struct store_stats *out)
{
	sqlite3_stmt	*s;
	int		 rc;

	memset(out, 0, sizeof(*out));
	if ((s = stmt(st, ST_STATS)) == NULL)
		return fail(st, st->rc);
	if ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		out->inquiries = (uint64_t)sqlite3_column_int64(s, 0);
		out->bytes = (uint64_t)sqlite3_column_double(s, 1);
		out->oldest_ms = sqlite3_column_int64(s, 2);
		out->newest_ms = sqlite3_column_int64(s, 3);
	}
	done(s);
	if (rc != SQLITE_ROW)
		return fail(st, rc);
	return outbox_stats(st, out);
}

int
store_integrity(struct store *st)
{
	sqlite3_stmt	*s;
	const char	*t;
	int		 rc, ok = 0;

	rc = sqlite3_prepare_v2(st->db, "PRAGMA integrity_check", -1, &s,
	    NULL);
	if (rc != SQLITE_OK)
		return fail(st, rc);
	if ((rc = sqlite3_step(s)) == SQLITE_ROW &&
	    (t = (const char *)sqlite3_column_text(s, 0)) != NULL)
		ok = strcmp(t, "ok") == 0;
	sqlite3_finalize(s);
	if (rc != SQLITE_ROW)
		return fail(st, rc);
	return ok ? 0 : ERR_IO;
}

/*
 * The writer. The loop thread submits jobs and calls into queues guarded
 * by mu; the writer thread takes everything waiting, commits the jobs
 * (one transaction for all of them with group commit), runs the calls,
 * moves both to the done queues and wakes the loop through async, whose
 * callback runs the done callbacks on the loop thread.
 *
 * Lifetime: store_writer_stop sets quit; the thread drains the queues,
 * closes its connection, sets exited and wakes the loop a last time; the
 * async callback then joins the thread and closes the handle, and the
 * close callback frees the writer and reports to the caller.
 */
struct store_writer {
	uv_loop_t		*loop;
	uv_async_t		 async;
	uv_thread_t		 thread;
	uv_mutex_t		 mu;
	uv_cond_t		 cond;

	/* read-only after start */
	char			*path;
	unsigned		 max_pending;
	int			 group_commit;

	/* owned by the writer thread */
	struct store		*st;

	/* guarded by mu */
	struct store_job	*jobs, **jobs_tail;
	struct store_call	*calls, **calls_tail;
	struct store_job	*jobs_done, **jobs_done_tail;
	struct store_call	*calls_done, **calls_done_tail;
	/* Jobs submitted whose done has not run yet: changed under mu,
	   atomically so that store_writer_pending can read it without. */
	unsigned		 pending;
	int			 opened;	/* start handshake: 1 when known */
	int			 open_result;
	int			 quit;		/* stop requested */
	int			 exited;	/* thread is finishing */
	void			(*stop_cb)(void *);
	void			*stop_arg;

	/* written by the writer thread, read anywhere */
	int			 healthy;
};

/* Commits list (linked by next) as one transaction and sets each job's
   result. On failure every job of the batch gets ERR_IO. */
static void
commit_batch(struct store_writer *w, struct store_job *list)
{
	struct store	 *st = w->st;
	struct store_job *j;
	int		  r;

	r = run(st, ST_BEGIN);
	for (j = list; r == 0 && j != NULL; j = j->next) {
		j->result = insert_job(st, j);
		if (j->result == ERR_INVAL)
			log_warnx("store: inquiry %s refused: %s", j->id,
			    st->rc ? sqlite3_errstr(st->rc) : "invalid job");
		else if (j->result != 0)
			r = j->result;
		st->rc = 0;
	}
	if (r == 0)
		r = run(st, ST_COMMIT);
	if (r == 0) {
		__atomic_store_n(&w->healthy, 1, __ATOMIC_RELEASE);
		return;
	}
	rollback(st);
	__atomic_store_n(&w->healthy, 0, __ATOMIC_RELEASE);
	for (j = list; j != NULL; j = j->next) {
		j->result = ERR_IO;
		log_warnx("store: commit of %s failed: %s", j->id,
		    sqlite3_errstr(st->rc));
	}
	st->rc = 0;
}

/* Hands finished work to the loop thread. */
static void
deliver(struct store_writer *w, struct store_job *jobs,
    struct store_job **jobs_last, struct store_call *calls,
    struct store_call **calls_last)
{
	uv_mutex_lock(&w->mu);
	if (jobs != NULL) {
		*w->jobs_done_tail = jobs;
		w->jobs_done_tail = jobs_last;
	}
	if (calls != NULL) {
		*w->calls_done_tail = calls;
		w->calls_done_tail = calls_last;
	}
	uv_mutex_unlock(&w->mu);
	uv_async_send(&w->async);
}

/* Commits the taken jobs, all at once or one by one. */
static void
write_jobs(struct store_writer *w, struct store_job *jobs,
    struct store_job **last)
{
	struct store_job	*j;

	if (w->group_commit) {
		commit_batch(w, jobs);
		deliver(w, jobs, last, NULL, NULL);
		return;
	}
	while ((j = jobs) != NULL) {
		jobs = j->next;
		j->next = NULL;
		commit_batch(w, j);
		deliver(w, j, &j->next, NULL, NULL);
	}
}

/* Runs the taken calls; a call that left a transaction open is rolled
   back so the next batch can begin. */
static void
run_calls(struct store_writer *w, struct store_call *calls,
    struct store_call **last)
{
	struct store_call	*c;

	for (c = calls; c != NULL; c = c->next) {
		c->result = c->fn(w->st, c->arg);
		if (!sqlite3_get_autocommit(w->st->db)) {
			log_warnx("store: a call left a transaction open");
			rollback(w->st);
		}
	}
	deliver(w, NULL, NULL, calls, last);
}

/* Waits for work and takes all of it. Returns 0 when the thread should
   end: stop was requested and nothing is left. */
static int
take(struct store_writer *w, struct store_job **jobs,
    struct store_job ***jobs_last, struct store_call **calls,
    struct store_call ***calls_last)
{
	uv_mutex_lock(&w->mu);
	while (w->jobs == NULL && w->calls == NULL && !w->quit)
		uv_cond_wait(&w->cond, &w->mu);
	*jobs = w->jobs;
	*jobs_last = w->jobs_tail;
	*calls = w->calls;
	*calls_last = w->calls_tail;
	w->jobs = NULL;
	w->jobs_tail = &w->jobs;
	w->calls = NULL;
	w->calls_tail = &w->calls;
	uv_mutex_unlock(&w->mu);
	return *jobs != NULL || *calls != NULL;
}

static void
writer_main(void *arg)
{
	struct store_writer	 *w = arg;
	struct store_job	 *jobs, **jobs_last;
	struct store_call	 *calls, **calls_last;
	int			  r;

	r = store_open(w->path, STORE_CREATE, &w->st);
	uv_mutex_lock(&w->mu);
	w->open_result = r;
	w->opened = 1;
	uv_cond_broadcast(&w->cond);
	uv_mutex_unlock(&w->mu);
	if (r != 0)
		return;
	while (take(w, &jobs, &jobs_last, &calls, &calls_last)) {
		if (jobs != NULL)
			write_jobs(w, jobs, jobs_last);
		if (calls != NULL)
			run_calls(w, calls, calls_last);
	}
	store_close(w->st);
	w->st = NULL;
	uv_mutex_lock(&w->mu);
	w->exited = 1;
	uv_mutex_unlock(&w->mu);
	uv_async_send(&w->async);
}

static void
writer_free(struct store_writer *w)
{
	uv_mutex_destroy(&w->mu);
	uv_cond_destroy(&w->cond);
	free(w->path);
	free(w);
}

static void
writer_closed(uv_handle_t *h)
{
	struct store_writer	*w = h->data;
	void			(*cb)(void *) = w->stop_cb;
	void			*arg = w->stop_arg;

	writer_free(w);
	if (cb != NULL)
		cb(arg);
}

/* On the loop thread: runs the done callbacks of finished work, and
   finishes the stop once the thread has ended. */
static void
writer_wakeup(uv_async_t *a)
{
	struct store_writer	*w = a->data;
	struct store_job	*j, *jnext;
	struct store_call	*c, *cnext;
	unsigned		 n = 0;
	int			 exited;

	uv_mutex_lock(&w->mu);
	j = w->jobs_done;
	c = w->calls_done;
	w->jobs_done = NULL;
	w->jobs_done_tail = &w->jobs_done;
	w->calls_done = NULL;
	w->calls_done_tail = &w->calls_done;
	for (jnext = j; jnext != NULL; jnext = jnext->next)
		n++;
	__atomic_sub_fetch(&w->pending, n, __ATOMIC_RELEASE);
	exited = w->exited;
	uv_mutex_unlock(&w->mu);
	for (; j != NULL; j = jnext) {
		jnext = j->next;
		j->done(j, j->result);
	}
	for (; c != NULL; c = cnext) {
		cnext = c->next;
		if (c->done != NULL)
			c->done(c, c->result);
	}
	if (exited) {
		uv_thread_join(&w->thread);
		uv_close((uv_handle_t *)&w->async, writer_closed);
	}
}

/* Starts the thread and waits until it has opened (and migrated) the
   database, so that open errors are reported here. */
static int
writer_spawn(struct store_writer *w)
{
	int	r;

	if (uv_thread_create(&w->thread, writer_main, w) != 0)
		return ERR_NOMEM;
	uv_mutex_lock(&w->mu);
	while (!w->opened)
		uv_cond_wait(&w->cond, &w->mu);
	r = w->open_result;
	uv_mutex_unlock(&w->mu);
	if (r != 0)
		uv_thread_join(&w->thread);
	return r;
}

/* A writer with its queues and locks, not yet running; NULL without
   memory. */
static struct store_writer *
writer_new(uv_loop_t *loop, const char *path, unsigned max_pending,
    int group_commit)
{
	struct store_writer	*w;

	if ((w = calloc(1, sizeof(*w))) == NULL)
		return NULL;
	if ((w->path = strdup(path)) == NULL)
		goto fail;
	if (uv_mutex_init(&w->mu) != 0)
		goto fail;
	if (uv_cond_init(&w->cond) != 0) {
		uv_mutex_destroy(&w->mu);
		goto fail;
	}
	w->loop = loop;
	w->max_pending = max_pending;
	w->group_commit = group_commit;
	w->healthy = 1;
	w->jobs_tail = &w->jobs;
	w->calls_tail = &w->calls;
	w->jobs_done_tail = &w->jobs_done;
	w->calls_done_tail = &w->calls_done;
	return w;
fail:
	free(w->path);
	free(w);
	return NULL;
}

/*
 * Opens path (creating it) on a new writer thread and returns the writer
 * in *out; store_writer_stop frees it. Blocks until the database is open,
 * which is fine at start-up. Returns 0 or the store_open error; on
 * error the half-made writer's handle is being closed and its memory is
 * released by the loop's next iteration.
 */
int
store_writer_start(uv_loop_t *loop, const char *path, unsigned max_pending,
    int group_commit, struct store_writer **out)
{
	struct store_writer	*w;
	int			 r;

	*out = NULL;
	if (max_pending == 0 || path == NULL)
		return ERR_INVAL;
	if ((w = writer_new(loop, path, max_pending, group_commit)) == NULL)
		return ERR_NOMEM;
	/* Before the thread exists: it sends on the handle. */
	if (uv_async_init(loop, &w->async, writer_wakeup) != 0) {
		writer_free(w);
		return ERR_NOMEM;
	}
	w->async.data = w;
	if ((r = writer_spawn(w)) != 0) {
		uv_close((uv_handle_t *)&w->async, writer_closed);
		return r;
	}
	*out = w;
	return 0;
}

/*
 * Queues j. 0 means j->done will run on the loop thread after the
 * commit (or its failure); any error means it never will: ERR_BUSY
 * when max_pending jobs are already in flight, ERR_CLOSED once stop
 * began, ERR_INVAL without a done callback.
 */
int
store_writer_submit(struct store_writer *w, struct store_job *j)
{
	int	r = 0;

	if (j == NULL || j->done == NULL)
		return ERR_INVAL;
	uv_mutex_lock(&w->mu);
	if (w->quit)
		r = ERR_CLOSED;
	else if (w->pending >= w->max_pending)
		r = ERR_BUSY;
	else {
		j->next = NULL;
		j->result = 0;
		*w->jobs_tail = j;
		w->jobs_tail = &j->next;
		__atomic_add_fetch(&w->pending, 1, __ATOMIC_RELEASE);
		uv_cond_signal(&w->cond);
	}
	uv_mutex_unlock(&w->mu);
	return r;
}

/* Queues c to run on the writer thread (not counted in max_pending: its
   callers bound their own calls). Same result contract as submit. */
int
store_writer_call(struct store_writer *w, struct store_call *c)
{
	int	r = 0;

	if (c == NULL || c->fn == NULL)
		return ERR_INVAL;
	uv_mutex_lock(&w->mu);
	if (w->quit)
		r = ERR_CLOSED;
	else {
		c->next = NULL;
		c->result = 0;
		*w->calls_tail = c;
		w->calls_tail = &c->next;
		uv_cond_signal(&w->cond);
	}
	uv_mutex_unlock(&w->mu);
	return r;
}

int
store_writer_healthy(const struct store_writer *w)
{
	return __atomic_load_n(&w->healthy, __ATOMIC_ACQUIRE);
}

unsigned
store_writer_pending(const struct store_writer *w)
{
	return __atomic_load_n(&w->pending, __ATOMIC_ACQUIRE);
}

void
store_writer_stop(struct store_writer *w, void (*cb)(void *), void *arg)
{
	uv_mutex_lock(&w->mu);
	w->quit = 1;
	w->stop_cb = cb;
	w->stop_arg = arg;
	uv_cond_signal(&w->cond);
	uv_mutex_unlock(&w->mu);
}
