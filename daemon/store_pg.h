#ifndef INTAKE_STORE_PG_H
#define INTAKE_STORE_PG_H

/*
 * The PostgreSQL backend of the store (store_pg.c), for several intaked
 * on one database. Nothing else includes libpq-fe.h.
 */
/* No store.h here: config.c asks store_pg_target without libuv. */
#include <stdint.h>

struct diag;
struct store;

/* 1 when target names a PostgreSQL database rather than a SQLite file:
   a postgres:// or postgresql:// URI, or a libpq keyword/value string
   ("host=… dbname=…"). */
int	store_pg_target(const char *target);
/*
 * The password every later connection sends: the first line of file
 * ([storage] password_file), else of the pg-password credential; with
 * neither, what the URI or ~/.pgpass gives. Call before any thread
 * opens a store. 0, or secret_password's codes (reported via d).
 */
int	store_pg_password(const char *file, struct diag *d);
/* The longest one delivery may take ([mail] timeout): a claimed outbox
   row's lease is longer, so a live daemon never loses one it is still
   sending. Call before any thread opens a store. */
void	store_pg_send_time(int64_t ms);
/* The connection under a PostgreSQL store, for intakectl migrate's raw
   copy (store_migrate.c); NULL for another backend's store. */
typedef struct pg_conn PGconn;
PGconn	*store_pg_conn(struct store *);
/* Opens a PostgreSQL store; the contract of store_open. */
int	store_pg_open(const char *target, int flags, struct store **out);

#endif
