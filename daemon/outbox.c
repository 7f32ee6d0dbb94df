/*
 * The outbox's SQL for the SQLite backend: the rows the mailer delivers
 * (due rows, outcomes) and the ones intakectl shows and re-queues. The
 * rows are inserted with their inquiry by store_sqlite.c.
 */
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "store_sqlite.h"

static const char *const ost_sql[OST_COUNT] = {
	[OST_DUE] = "SELECT id, inquiry_id, kind, attempts, created_at,"
	    " message FROM outbox WHERE state = 'queued' AND next_try <= ?1"
	    " ORDER BY next_try, id LIMIT ?2",
	[OST_NEXT_DUE] = "SELECT min(next_try) FROM outbox"
	    " WHERE state = 'queued' AND next_try > ?1",
	/* Only a row still queued: one deleted or re-queued by hand since
	   it was fetched keeps what happened to it meanwhile. */
	[OST_RECORD] = "UPDATE outbox SET state = ?2,"
	    " attempts = attempts + 1, next_try = ?3, last_error = ?4,"
	    " message = CASE WHEN ?2 = 'sent' THEN NULL ELSE message END"
	    " WHERE id = ?1 AND state = 'queued'",
	[OST_LIST] = "SELECT id, inquiry_id, kind, state, attempts,"
	    " created_at, next_try, last_error FROM outbox"
	    " WHERE ?1 OR state != 'sent' ORDER BY created_at, id",
	/* A failed row is queued again and its give-up clock restarts (a
	   manual retry gets the full give_up_after again); a queued one
	   keeps its history and is only made due now. Only delivery
	   deletes a message, so a failed row still has its own. */
	[OST_RETRY] = "UPDATE outbox SET"
	    " attempts = CASE state WHEN 'failed' THEN 0 ELSE attempts END,"
	    " last_error = CASE state WHEN 'failed' THEN NULL"
	    " ELSE last_error END,"
	    " created_at = CASE state WHEN 'failed' THEN ?2"
	    " ELSE created_at END,"
	    " state = 'queued', next_try = ?2"
	    " WHERE inquiry_id = ?1 AND state IN ('failed', 'queued')"
	    " AND message IS NOT NULL",
};

static const char *const state_name[] = {
	[OUTBOX_QUEUED] = "queued",
	[OUTBOX_SENT] = "sent",
	[OUTBOX_FAILED] = "failed",
};

static sqlite3_stmt *
ostmt(struct sqlite_store *st, enum outbox_stmt which)
{
	return sq_stmt(st, &st->ostmt[which], ost_sql[which]);
}

static const char *
text(sqlite3_stmt *q, int col)
{
	const unsigned char	*t = sqlite3_column_text(q, col);

	return t ? (const char *)t : "";
}

static int
skipped(const int64_t *skip, size_t nskip, int64_t row)
{
	size_t	i;

	for (i = 0; i < nskip; i++)
		if (skip[i] == row)
			return 1;
	return 0;
}

static int64_t
next_due(struct sqlite_store *st, int64_t now)
{
	sqlite3_stmt	*q;
	int64_t		 t = 0;

	if ((q = ostmt(st, OST_NEXT_DUE)) == NULL)
		return 0;
	sqlite3_bind_int64(q, 1, now);
	if (sqlite3_step(q) == SQLITE_ROW)
		t = sqlite3_column_int64(q, 0);
	sq_done(q);
	return t;
}

int
sq_outbox_due(struct store *base, int64_t now, unsigned want,
    const int64_t *skip, size_t nskip,
    int (*cb)(void *, const struct outbox_due *), void *arg,
    int64_t *next)
{
	struct sqlite_store	*st = sq(base);
	struct outbox_due	 d;
	sqlite3_stmt		*q;
	unsigned		 n = 0;
	int			 rc = SQLITE_DONE, r = 0;

	if (next != NULL)
		*next = 0;
	if ((q = ostmt(st, OST_DUE)) == NULL)
		return sq_fail(st, st->rc);
	sqlite3_bind_int64(q, 1, now);
	sqlite3_bind_int64(q, 2, (sqlite3_int64)(want + nskip));
	while (n < want && r == 0 && (rc = sqlite3_step(q)) == SQLITE_ROW) {
		d.row = sqlite3_column_int64(q, 0);
		if (skipped(skip, nskip, d.row))
			continue;
		d.inquiry_id = text(q, 1);
		d.kind = text(q, 2);
		d.attempts = (unsigned)sqlite3_column_int64(q, 3);
		d.created_ms = sqlite3_column_int64(q, 4);
		d.msg = sqlite3_column_blob(q, 5);
		d.msglen = (size_t)sqlite3_column_bytes(q, 5);
		r = cb(arg, &d);
		n++;
	}
	sq_done(q);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return sq_fail(st, rc);
	if (next != NULL)
		*next = next_due(st, now);
	return r;
}

int
sq_outbox_record(struct store *base, const struct outbox_outcome *o,
    size_t n)
{
	struct sqlite_store	*st = sq(base);
	sqlite3_stmt		*q;
	size_t			 i;
	int			 r, rc = SQLITE_DONE;

	if ((r = sq_begin(st)) != 0)
		return r;
	if ((q = ostmt(st, OST_RECORD)) == NULL) {
		sq_rollback(st);
		return sq_fail(st, st->rc);
	}
	for (i = 0; i < n && rc == SQLITE_DONE; i++) {
		sqlite3_bind_int64(q, 1, o[i].row);
		sqlite3_bind_text(q, 2, state_name[o[i].state], -1,
		    SQLITE_STATIC);
		sqlite3_bind_int64(q, 3, o[i].next_try_ms);
		if (o[i].error == NULL)
			sqlite3_bind_null(q, 4);
		else
			sqlite3_bind_text(q, 4, o[i].error, -1, SQLITE_STATIC);
		rc = sqlite3_step(q);
		sq_done(q);
	}
	if (rc == SQLITE_DONE && (r = sq_commit(st)) == 0)
		return 0;
	if (rc != SQLITE_DONE)
		r = sq_fail(st, rc);
	sq_rollback(st);
	return r;
}

static void
read_row(sqlite3_stmt *q, struct outbox_row *r)
{
	memset(r, 0, sizeof(*r));
	r->id = sqlite3_column_int64(q, 0);
	snprintf(r->inquiry_id, sizeof(r->inquiry_id), "%s", text(q, 1));
	snprintf(r->kind, sizeof(r->kind), "%s", text(q, 2));
	snprintf(r->state, sizeof(r->state), "%s", text(q, 3));
	r->attempts = (unsigned)sqlite3_column_int64(q, 4);
	r->created_ms = sqlite3_column_int64(q, 5);
	r->next_try_ms = sqlite3_column_int64(q, 6);
	snprintf(r->last_error, sizeof(r->last_error), "%s", text(q, 7));
}

int
sq_outbox_list(struct store *base, int all,
    int (*cb)(void *, const struct outbox_row *), void *arg)
{
	struct sqlite_store	*st = sq(base);
	struct outbox_row	 row;
	sqlite3_stmt		*q;
	int			 rc;

	if ((q = ostmt(st, OST_LIST)) == NULL)
		return sq_fail(st, st->rc);
	sqlite3_bind_int(q, 1, all != 0);
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		read_row(q, &row);
		if (cb(arg, &row) != 0) {
			rc = SQLITE_DONE;
			break;
		}
	}
	sq_done(q);
	return rc == SQLITE_DONE ? 0 : sq_fail(st, rc);
}

int
sq_outbox_retry(struct store *base, const char *inquiry_id,
    unsigned *requeued)
{
	struct sqlite_store	*st = sq(base);
	sqlite3_stmt		*q;
	int			 rc, n;

	if (requeued)
		*requeued = 0;
	if ((q = ostmt(st, OST_RETRY)) == NULL)
		return sq_fail(st, st->rc);
	sqlite3_bind_text(q, 1, inquiry_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 2, clock_now_ms());
	rc = sqlite3_step(q);
	sq_done(q);
	if (rc != SQLITE_DONE)
		return sq_fail(st, rc);
	n = sqlite3_changes(st->db);
	if (requeued)
		*requeued = (unsigned)n;
	return n > 0 ? 0 : ERR_NOTFOUND;
}
