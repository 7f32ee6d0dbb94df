#include <stdio.h>
#include <string.h>

#include <sqlite3.h>

#include "outbox.h"
#include "store.h"
#include "uuid.h"

/*
 * The outbox as intakectl sees it. The mailer's own queries (fetch due
 * rows, record outcomes) live in mailer.c and run on the writer thread;
 * these run on whatever connection the caller owns.
 */

static void
copy_text(char *dst, size_t len, sqlite3_stmt *q, int col)
{
	const unsigned char	*t = sqlite3_column_text(q, col);

	snprintf(dst, len, "%s", t ? (const char *)t : "");
}

static void
read_row(sqlite3_stmt *q, struct outbox_row *r)
{
	memset(r, 0, sizeof(*r));
	r->id = sqlite3_column_int64(q, 0);
	copy_text(r->inquiry_id, sizeof(r->inquiry_id), q, 1);
	copy_text(r->kind, sizeof(r->kind), q, 2);
	copy_text(r->state, sizeof(r->state), q, 3);
	r->attempts = (unsigned)sqlite3_column_int64(q, 4);
	r->created_ms = sqlite3_column_int64(q, 5);
	r->next_try_ms = sqlite3_column_int64(q, 6);
	copy_text(r->last_error, sizeof(r->last_error), q, 7);
}

/*
 * Calls cb for each row (queued and failed; with all, sent ones too),
 * oldest first; a non-zero return from cb stops the walk and is not an
 * error. Returns 0 or ERR_IO.
 */
int
outbox_list(struct store *st, int all,
    int (*cb)(void *, const struct outbox_row *), void *arg)
{
	sqlite3_stmt		*q;
	struct outbox_row	 row;
	int			 rc;

	if (sqlite3_prepare_v2(store_db(st), "SELECT id, inquiry_id, kind,"
	    " state, attempts, created_at, next_try, last_error FROM outbox"
	    " WHERE ?1 OR state != 'sent' ORDER BY created_at, id", -1, &q,
	    NULL) != SQLITE_OK)
		return ERR_IO;
	sqlite3_bind_int(q, 1, all != 0);
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		read_row(q, &row);
		if (cb(arg, &row) != 0) {
			rc = SQLITE_DONE;
			break;
		}
	}
	sqlite3_finalize(q);
	return rc == SQLITE_DONE ? 0 : ERR_IO;
}

/*
 * Puts the failed rows of inquiry_id back in the queue, due now, with
 * their attempts and error cleared and the give-up clock (created_at)
 * restarted: a manual retry gets the full give_up_after again. The sealed
 * message of a failed row is still there (only delivery deletes it).
 * *requeued (may be NULL) gets the count; ERR_NOTFOUND when it is 0.
 */
int
outbox_retry(struct store *st, const char *inquiry_id, unsigned *requeued)
{
	sqlite3_stmt	*q;
	int64_t		 now = now_ms();
	int		 rc, n;

	if (requeued)
		*requeued = 0;
	if (sqlite3_prepare_v2(store_db(st), "UPDATE outbox SET state ="
	    " 'queued', attempts = 0, last_error = NULL, created_at = ?2,"
	    " next_try = ?2 WHERE inquiry_id = ?1 AND state = 'failed'"
	    " AND message IS NOT NULL", -1, &q, NULL) != SQLITE_OK)
		return ERR_IO;
	sqlite3_bind_text(q, 1, inquiry_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 2, now);
	rc = sqlite3_step(q);
	sqlite3_finalize(q);
	if (rc != SQLITE_DONE)
		return ERR_IO;
	n = sqlite3_changes(store_db(st));
	if (requeued)
		*requeued = (unsigned)n;
	return n > 0 ? 0 : ERR_NOTFOUND;
}
