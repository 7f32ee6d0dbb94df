/*
 * The staff inbox's SQL for the SQLite backend: the hash-chained audit
 * log, login challenges and sessions. Tokens are kept only as digests
 * (session.c), so reading this database logs nobody in.
 */
#include <stdio.h>
#include <string.h>

#include "audit.h"
#include "clock.h"
#include "session.h"
#include "store_sqlite.h"

static const char *const ist_sql[IST_COUNT] = {
	[IST_AUDIT_LAST] = "SELECT seq, hash FROM audit ORDER BY seq DESC"
	    " LIMIT 1",
	[IST_AUDIT_INSERT] = "INSERT INTO audit(seq, at, actor, action,"
	    " inquiry_id, client, detail, prev, hash)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
	[IST_AUDIT_LIST] = "SELECT seq, at, actor, action, inquiry_id, client,"
	    " detail, prev, hash FROM audit WHERE at >= ?1 ORDER BY seq",
	[IST_CHALLENGE_PUT] = "INSERT INTO challenges(digest, recipient,"
	    " expires) VALUES (?1, ?2, ?3)",
	/* One use: the row goes whether or not it was still good. */
	[IST_CHALLENGE_TAKE] = "DELETE FROM challenges WHERE digest = ?1"
	    " RETURNING recipient, expires",
	[IST_SESSION_PUT] = "INSERT INTO sessions(digest, recipient, created,"
	    " seen) VALUES (?1, ?2, ?3, ?3)",
	[IST_SESSION_GET] = "SELECT recipient, created, seen FROM sessions"
	    " WHERE digest = ?1",
	[IST_SESSION_TOUCH] = "UPDATE sessions SET seen = ?2 WHERE digest = ?1",
	[IST_SESSION_DEL] = "DELETE FROM sessions WHERE digest = ?1",
	[IST_GC_CHALLENGES] = "DELETE FROM challenges WHERE expires < ?1",
	[IST_GC_SPENT] = "DELETE FROM spent WHERE expires < ?1",
	[IST_GC_SESSIONS] = "DELETE FROM sessions WHERE seen < ?1"
	    " OR created < ?2",
};

static sqlite3_stmt *
istmt(struct sqlite_store *st, enum inbox_stmt which)
{
	return sq_stmt(st, &st->istmt[which], ist_sql[which]);
}

/* Runs a statement that returns no row; 0 or ERR_*. */
static int
step_done(struct sqlite_store *st, sqlite3_stmt *q)
{
	int	rc = sqlite3_step(q);

	sq_done(q);
	return rc == SQLITE_DONE ? 0 : sq_fail(st, rc);
}

static void
copy_col(char *dst, size_t len, sqlite3_stmt *q, int col)
{
	const unsigned char	*t = sqlite3_column_text(q, col);

	snprintf(dst, len, "%s", t ? (const char *)t : "");
}

static void
copy_hash(unsigned char *dst, sqlite3_stmt *q, int col)
{
	memset(dst, 0, AUDIT_HASH_LEN);
	if (sqlite3_column_bytes(q, col) == AUDIT_HASH_LEN)
		memcpy(dst, sqlite3_column_blob(q, col), AUDIT_HASH_LEN);
}

int
sq_audit_insert(struct sqlite_store *st, const struct audit_event *ev)
{
	struct audit_entry	 e;
	sqlite3_stmt		*q;
	int			 rc;

	audit_fill(&e, ev, clock_now_ms());
	if ((q = istmt(st, IST_AUDIT_LAST)) == NULL)
		return sq_fail(st, st->rc);
	if ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		e.seq = sqlite3_column_int64(q, 0) + 1;
		copy_hash(e.prev, q, 1);
	} else
		e.seq = 1;
	sq_done(q);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return sq_fail(st, rc);
	audit_hash(&e, e.hash);
	if ((q = istmt(st, IST_AUDIT_INSERT)) == NULL)
		return sq_fail(st, st->rc);
	sqlite3_bind_int64(q, 1, e.seq);
	sqlite3_bind_int64(q, 2, e.at_ms);
	sqlite3_bind_text(q, 3, e.actor, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 4, e.action, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 5, e.inquiry_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 6, e.client, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 7, e.detail, -1, SQLITE_STATIC);
	sqlite3_bind_blob(q, 8, e.prev, AUDIT_HASH_LEN, SQLITE_STATIC);
	sqlite3_bind_blob(q, 9, e.hash, AUDIT_HASH_LEN, SQLITE_STATIC);
	return step_done(st, q);
}

int
sq_audit_append(struct store *base, const struct audit_event *ev)
{
	struct sqlite_store	*st = sq(base);
	int			 r;

	if ((r = sq_begin(st)) != 0)
		return r;
	if ((r = sq_audit_insert(st, ev)) == 0 && (r = sq_commit(st)) == 0)
		return 0;
	sq_rollback(st);
	return r;
}

int
sq_audit_list(struct store *base, int64_t since_ms,
    int (*cb)(void *, const struct audit_entry *), void *arg)
{
	struct sqlite_store	*st = sq(base);
	struct audit_entry	 e;
	sqlite3_stmt		*q;
	int			 rc;

	if ((q = istmt(st, IST_AUDIT_LIST)) == NULL)
		return sq_fail(st, st->rc);
	sqlite3_bind_int64(q, 1, since_ms);
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		memset(&e, 0, sizeof(e));
		e.seq = sqlite3_column_int64(q, 0);
		e.at_ms = sqlite3_column_int64(q, 1);
		copy_col(e.actor, sizeof(e.actor), q, 2);
		copy_col(e.action, sizeof(e.action), q, 3);
		copy_col(e.inquiry_id, sizeof(e.inquiry_id), q, 4);
		copy_col(e.client, sizeof(e.client), q, 5);
		copy_col(e.detail, sizeof(e.detail), q, 6);
		copy_hash(e.prev, q, 7);
		copy_hash(e.hash, q, 8);
		if (cb(arg, &e) != 0) {
			rc = SQLITE_DONE;
			break;
		}
	}
	sq_done(q);
	return rc == SQLITE_DONE ? 0 : sq_fail(st, rc);
}

/* A challenge or a session: a token's digest, whose it is, and a time. */
static int
put_digest(struct store *base, enum inbox_stmt which,
    const unsigned char *digest,
    const char *recipient, int64_t ms)
{
	struct sqlite_store	*st = sq(base);
	sqlite3_stmt		*q;

	if ((q = istmt(st, which)) == NULL)
		return sq_fail(st, st->rc);
	sqlite3_bind_blob(q, 1, digest, 32, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, recipient, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 3, ms);
	return step_done(st, q);
}

int
sq_challenge_put(struct store *base, const unsigned char *digest,
    const char *recipient, int64_t expires_ms)
{
	return put_digest(base, IST_CHALLENGE_PUT, digest, recipient,
	    expires_ms);
}

int
sq_challenge_take(struct store *base, const unsigned char *digest,
    const char *recipient, int64_t now_ms)
{
	struct sqlite_store	*st = sq(base);
	sqlite3_stmt		*q;
	const unsigned char	*t;
	int			 rc, ok = 0;

	if ((q = istmt(st, IST_CHALLENGE_TAKE)) == NULL)
		return sq_fail(st, st->rc);
	sqlite3_bind_blob(q, 1, digest, 32, SQLITE_STATIC);
	if ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		t = sqlite3_column_text(q, 0);
		ok = t != NULL && strcmp((const char *)t, recipient) == 0 &&
		    sqlite3_column_int64(q, 1) >= now_ms;
		rc = sqlite3_step(q);
	}
	sq_done(q);
	if (rc != SQLITE_DONE)
		return sq_fail(st, rc);
	return ok ? 0 : ERR_NOTFOUND;
}

int
sq_session_put(struct store *base, const unsigned char *digest,
    const char *recipient, int64_t now_ms)
{
	return put_digest(base, IST_SESSION_PUT, digest, recipient, now_ms);
}

int
sq_session_get(struct store *base, const unsigned char *digest,
    struct session *s)
{
	struct sqlite_store	*st = sq(base);
	sqlite3_stmt		*q;
	int			 rc;

	if ((q = istmt(st, IST_SESSION_GET)) == NULL)
		return sq_fail(st, st->rc);
	sqlite3_bind_blob(q, 1, digest, 32, SQLITE_STATIC);
	if ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		copy_col(s->recipient, sizeof(s->recipient), q, 0);
		s->created_ms = sqlite3_column_int64(q, 1);
		s->seen_ms = sqlite3_column_int64(q, 2);
	}
	sq_done(q);
	if (rc == SQLITE_ROW)
		return 0;
	return rc == SQLITE_DONE ? ERR_NOTFOUND : sq_fail(st, rc);
}

int
sq_session_touch(struct store *base, const unsigned char *digest,
    int64_t now_ms)
{
	struct sqlite_store	*st = sq(base);
	sqlite3_stmt		*q;

	if ((q = istmt(st, IST_SESSION_TOUCH)) == NULL)
		return sq_fail(st, st->rc);
	sqlite3_bind_blob(q, 1, digest, 32, SQLITE_STATIC);
	sqlite3_bind_int64(q, 2, now_ms);
	return step_done(st, q);
}

int
sq_session_del(struct store *base, const unsigned char *digest)
{
	struct sqlite_store	*st = sq(base);
	sqlite3_stmt		*q;

	if ((q = istmt(st, IST_SESSION_DEL)) == NULL)
		return sq_fail(st, st->rc);
	sqlite3_bind_blob(q, 1, digest, 32, SQLITE_STATIC);
	return step_done(st, q);
}

int
sq_session_gc(struct store *base, int64_t now_ms, int64_t seen_before,
    int64_t created_before)
{
	struct sqlite_store	*st = sq(base);
	sqlite3_stmt		*q;
	int			 r;

	if ((q = istmt(st, IST_GC_CHALLENGES)) == NULL)
		return sq_fail(st, st->rc);
	sqlite3_bind_int64(q, 1, now_ms);
	if ((r = step_done(st, q)) != 0)
		return r;
	if ((q = istmt(st, IST_GC_SPENT)) == NULL)
		return sq_fail(st, st->rc);
	sqlite3_bind_int64(q, 1, now_ms);
	if ((r = step_done(st, q)) != 0)
		return r;
	if ((q = istmt(st, IST_GC_SESSIONS)) == NULL)
		return sq_fail(st, st->rc);
	sqlite3_bind_int64(q, 1, seen_before);
	sqlite3_bind_int64(q, 2, created_before);
	return step_done(st, q);
}
