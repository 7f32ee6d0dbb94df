#ifndef INTAKE_STORE_SQLITE_H
#define INTAKE_STORE_SQLITE_H

/*
 * The SQLite backend of the store, private to store_sqlite.c (inquiries,
 * schema, connection) and outbox.c (the outbox's statements). Nothing
 * else includes this file or sqlite3.h.
 */

#include <sqlite3.h>

#include "outbox.h"
#include "store.h"

/* Statements of the inbox (audit, logins, sessions), cached likewise. */
enum inbox_stmt {
	IST_AUDIT_LAST,
	IST_AUDIT_INSERT,
	IST_AUDIT_LIST,
	IST_CHALLENGE_PUT,
	IST_CHALLENGE_TAKE,
	IST_SESSION_PUT,
	IST_SESSION_GET,
	IST_SESSION_TOUCH,
	IST_SESSION_DEL,
	IST_GC_CHALLENGES,
	IST_GC_SESSIONS,
	IST_GC_SPENT,
	IST_COUNT
};

/* Statements of the outbox, cached per connection like the others. */
enum outbox_stmt {
	OST_DUE,
	OST_NEXT_DUE,
	OST_RECORD,
	OST_LIST,
	OST_RETRY,
	OST_COUNT
};

#define SQ_STMT_MAX	24
#define SQ_SCHEMA_VERSION	5	/* the migrations store_sqlite.c has */	/* cached statements of store_sqlite.c */

struct sqlite_store {
	struct store	 base;		/* first: the store API casts */
	sqlite3		*db;
	int		 flags;
	int		 rc;		/* last SQLite failure, for logs */
	sqlite3_stmt	*stmt[SQ_STMT_MAX];
	sqlite3_stmt	*ostmt[OST_COUNT];
	sqlite3_stmt	*istmt[IST_COUNT];
	unsigned char	*chunk;		/* copying attachments in */
};

/* The backend's connection behind a struct store of its own. */
static inline struct sqlite_store *
sq(struct store *st)
{
	return (struct sqlite_store *)(void *)st;
}

/* Opens a SQLite store; the contract of store_open. */
int	store_sqlite_open(const char *path, int flags, struct store **out);

/* Records a failed SQLite call rc and maps it to ERR_NOMEM or ERR_IO. */
int	sq_fail(struct sqlite_store *, int rc);
/* The statement cached in *slot, prepared from sql on first use; NULL
   (logged, st->rc set) when it cannot be prepared. */
sqlite3_stmt *sq_stmt(struct sqlite_store *, sqlite3_stmt **slot,
	    const char *sql);
/* Resets and unbinds a cached statement after use. */
void	sq_done(sqlite3_stmt *);
/* BEGIN IMMEDIATE / COMMIT on the connection; 0 or ERR_*. */
int	sq_begin(struct sqlite_store *);
int	sq_commit(struct sqlite_store *);
/* Rolls back whatever transaction is open, if any. */
void	sq_rollback(struct sqlite_store *);

/* The outbox operations (outbox.c), for the ops table. */
int	sq_outbox_due(struct store *, int64_t, unsigned, const int64_t *,
	    size_t, int (*)(void *, const struct outbox_due *), void *,
	    int64_t *);
int	sq_outbox_record(struct store *, const struct outbox_outcome *,
	    size_t);
int	sq_outbox_list(struct store *, int,
	    int (*)(void *, const struct outbox_row *), void *);
int	sq_outbox_retry(struct store *, const char *, unsigned *);

/* The inbox operations (store_sqlite_inbox.c). sq_audit_insert appends
   inside the caller's open transaction. */
int	sq_audit_insert(struct sqlite_store *, const struct audit_event *);
int	sq_audit_append(struct store *, const struct audit_event *);
int	sq_audit_list(struct store *, int64_t,
	    int (*)(void *, const struct audit_entry *), void *);
int	sq_challenge_put(struct store *, const unsigned char *, const char *,
	    int64_t);
int	sq_challenge_take(struct store *, const unsigned char *, const char *,
	    int64_t);
int	sq_session_put(struct store *, const unsigned char *, const char *,
	    int64_t);
int	sq_session_get(struct store *, const unsigned char *,
	    struct session *);
int	sq_session_touch(struct store *, const unsigned char *, int64_t);
int	sq_session_del(struct store *, const unsigned char *);
int	sq_session_gc(struct store *, int64_t, int64_t, int64_t);

#endif
