#ifndef INTAKE_STORE_H
#define INTAKE_STORE_H

#include "err.h"

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "buf.h"

/*
 * The durable store: encrypted inquiries (age files) next to metadata that
 * needs no key (id, form, received_at, size, notification state), and the
 * outbox of notifications, committed in the same transaction as their
 * inquiry. Every SQL statement of intaked is behind this API and outbox.h:
 * a backend implements struct store_ops (the SQLite one today,
 * store_sqlite.c), and store_open chooses it in one place.
 *
 * Two ways in:
 *  - struct store: a connection used by one thread at a time (intakectl,
 *    the writer thread, the mailer's outbox reads, retention). Plain
 *    blocking calls.
 *  - struct store_writer (store_writer.c): the daemon's commits. One
 *    writer thread owns a connection and does inserts and commits only;
 *    the libuv loop hands it jobs and is called back (through uv_async)
 *    after COMMIT. No database call ever runs on the loop thread.
 */

#define STORE_ID_LEN	36	/* UUID text, without NUL */
#define STORE_FORM_MAX	64
#define STORE_STATUS_MAX	15
#define STORE_SPEND_LEN		32	/* a spent proof of work's digest */

#define STORE_RDONLY	0x1	/* open read-only (intakectl list/show/cat) */
#define STORE_CREATE	0x2	/* create file and directories if missing */

struct store_meta {
	char		id[STORE_ID_LEN + 1];
	char		form[STORE_FORM_MAX + 1];
	int64_t		received_at_ms;
	uint64_t	size;		/* ciphertext bytes */
	unsigned	outbox_queued;	/* notifications still to send */
	unsigned	outbox_failed;
	unsigned	outbox_sent;
	unsigned	attachments;	/* files stored with it */
	char		status[STORE_STATUS_MAX + 1];	/* new, open, … */
};

struct store_filter {
	int64_t		since_ms;	/* 0 = no lower bound */
	int64_t		until_ms;	/* 0 = no upper bound */
	const char	*form;		/* NULL = any */
	const char	*before_id;	/* only older ids (paging); or NULL */
	uint64_t	limit;		/* 0 = no limit */
};

struct store_stats {
	uint64_t	inquiries;
	uint64_t	bytes;
	int64_t		oldest_ms, newest_ms;
	uint64_t	outbox_queued, outbox_sent, outbox_failed;
};

struct store;
struct audit_entry;
struct session;
struct outbox_due;
struct outbox_outcome;
struct outbox_row;

/*
 * What happened, for the audit log (audit.h): a change to the store carries
 * its entry and both commit together. The store adds the time, the
 * sequence and the hashes.
 */
struct audit_event {
	const char	*actor;		/* required */
	const char	*action;	/* login, login-failed, view, attachment,
					   status, export, delete, purge,
					   rekey, logout */
	const char	*inquiry_id;	/* or NULL */
	const char	*client;	/* address, or NULL */
	const char	*detail;	/* e.g. "open", "3 inquiries"; or NULL */
};

/* A notification queued with its inquiry. The mailer defines the blob. */
struct store_outbox {
	const char		*kind;		/* "notify", "ack" */
	const unsigned char	*msg;		/* spool-encrypted message */
	size_t			 msglen;
};

/* An attachment on its way to disk: its age file, staged in fd (read from
   offset 0 with pread), size bytes long. */
struct store_file {
	int		 fd;
	uint64_t	 size;
};

/* Bytes in memory: an age file, for store_rekey. */
struct store_blob {
	const unsigned char	*p;
	size_t			 len;
};

/* An inquiry re-encrypted to other recipients: its new age file, and the
   new age files of its attachments 1..nfiles (all of them). */
struct store_rekey {
	const char		*id;
	struct store_blob	 record;
	const struct store_blob	*files;
	size_t			 nfiles;
};

/*
 * An inquiry on its way to disk. The caller fills the first block and keeps
 * the job and everything it points to alive until done() runs. done() runs
 * on the loop thread with 0 only after COMMIT returned.
 */
struct store_job {
	char			 id[STORE_ID_LEN + 1];
	const char		*form;
	int64_t			 received_at_ms;
	const unsigned char	*ct;		/* age file */
	size_t			 ctlen;
	const struct store_outbox *outbox;
	size_t			 noutbox;
	const struct store_file	*files;		/* attachments 1..nfiles */
	size_t			 nfiles;
	/* The ALTCHA challenge it spends (STORE_SPEND_LEN bytes), or NULL:
	   a row every daemon sees, kept until expires_ms, committed with
	   the inquiry; a challenge spent already refuses the job with
	   ERR_REPLAYED. */
	const unsigned char	*spend;
	int64_t			 spend_expires_ms;
	void			(*done)(struct store_job *, int result);
	void			*arg;

	/* private to the store */
	int			 result;
	struct store_job	*next;
};

/*
 * A function to run on the writer thread with its connection (the
 * mailer's outcome updates, which are commits too). done runs on the loop
 * thread.
 */
struct store_call {
	int			(*fn)(struct store *, void *arg);
	void			(*done)(struct store_call *, int result);
	void			*arg;

	/* private */
	int			 result;
	struct store_call	*next;
};


/*
 * What a backend provides. Every operation has the contract of the
 * store_* or outbox_* function of the same name; a backend's connection
 * struct begins with a struct store whose ops point here.
 */
struct store_ops {
	const char	*name;
	void	(*close)(struct store *);
	int	(*insert)(struct store *, struct store_job *const *, size_t);
	int	(*list)(struct store *, const struct store_filter *,
		    int (*)(void *, const struct store_meta *), void *);
	int	(*get)(struct store *, const char *, struct store_meta *,
		    struct buf *);
	int	(*del)(struct store *, const char *, const struct audit_event *);
	int	(*purge)(struct store *, int64_t, uint64_t *,
		    const struct audit_event *);
	int	(*set_status)(struct store *, const char *, const char *,
		    const struct audit_event *);
	int	(*rekey)(struct store *, const struct store_rekey *, size_t,
		    const struct audit_event *);
	int	(*stats)(struct store *, struct store_stats *);
	int	(*integrity)(struct store *);
	int	(*attachment)(struct store *, const char *, unsigned,
		    int (*)(void *, const void *, size_t), void *);
	int	(*read_begin)(struct store *);
	void	(*read_end)(struct store *);
	int	(*outbox_due)(struct store *, int64_t, unsigned,
		    const int64_t *, size_t,
		    int (*)(void *, const struct outbox_due *), void *,
		    int64_t *);
	int	(*outbox_record)(struct store *, const struct outbox_outcome *,
		    size_t);
	int	(*outbox_list)(struct store *, int,
		    int (*)(void *, const struct outbox_row *), void *);
	int	(*outbox_retry)(struct store *, const char *, unsigned *);
	int	(*audit_append)(struct store *, const struct audit_event *);
	int	(*audit_list)(struct store *, int64_t,
		    int (*)(void *, const struct audit_entry *), void *);
	int	(*challenge_put)(struct store *, const unsigned char *,
		    const char *, int64_t);
	int	(*challenge_take)(struct store *, const unsigned char *,
		    const char *, int64_t);
	int	(*session_put)(struct store *, const unsigned char *,
		    const char *, int64_t);
	int	(*session_get)(struct store *, const unsigned char *,
		    struct session *);
	int	(*session_touch)(struct store *, const unsigned char *, int64_t);
	int	(*session_del)(struct store *, const unsigned char *);
	int	(*session_gc)(struct store *, int64_t, int64_t, int64_t);
	int	(*ping)(struct store *);	/* may be NULL */
};

struct store {
	const struct store_ops	*ops;
};

/*
 * Opens (STORE_CREATE: creates, migrates) the database at path: a SQLite
 * file, or a PostgreSQL database when path is a libpq URI or conninfo
 * (store_pg.h).
 * ERR_NOTFOUND when it is missing and STORE_CREATE is not given;
 * ERR_VERSION when its schema is newer than ours (or older, read-only).
 * *out is owned by the caller (store_close).
 */
int	store_open(const char *path, int flags, struct store **out);
void	store_close(struct store *);
/*
 * Inserts every job (its outbox rows, attachments and spent challenge
 * too) in one transaction. A job that is invalid or whose id exists is
 * skipped with result ERR_INVAL, one whose challenge was spent with
 * ERR_REPLAYED, and the rest commit (then the first such result is
 * returned); any other error rolls all of them back and every job's
 * result says so.
 */
int	store_insert(struct store *, struct store_job *const *jobs, size_t n);
/* Calls cb for each match, newest first; a non-zero return from cb stops
   (still 0). cb must not call store_list itself. */
int	store_list(struct store *, const struct store_filter *,
	    int (*cb)(void *, const struct store_meta *), void *arg);
/* One inquiry: metadata into *m (if m), its age file appended to ct (if
   ct). ERR_NOTFOUND when there is no such id. */
int	store_get(struct store *, const char *id, struct store_meta *,
	    struct buf *ct);
/*
 * Streams attachment n (from 1) of inquiry id, its age file, to cb in
 * pieces; a non-zero return from cb stops and is returned. ERR_NOTFOUND
 * when there is no such attachment.
 */
int	store_attachment(struct store *, const char *id, unsigned n,
	    int (*cb)(void *, const void *, size_t), void *arg);
/*
 * Erasure: the inquiry, its attachments and outbox rows, overwritten on
 * disk, with the audit entry ev (may be NULL) in the same transaction.
 * ERR_NOTFOUND if absent.
 */
int	store_delete(struct store *, const char *id,
	    const struct audit_event *ev);
/*
 * Erases every inquiry received before before_ms, in short transactions
 * so that a writer on another connection is never held for long; *removed
 * (may be NULL) gets the count. ev (may be NULL) is audited once, with the
 * count as its detail, when anything went.
 */
int	store_purge(struct store *, int64_t before_ms, uint64_t *removed,
	    const struct audit_event *ev);
/* Sets an inquiry's status (new, open, answered, closed) with the audit
   entry ev in the same transaction. ERR_NOTFOUND, ERR_INVAL. */
int	store_set_status(struct store *, const char *id, const char *status,
	    const struct audit_event *ev);
/*
 * Replaces the age files of n inquiries (record and every attachment) in
 * one transaction, each with an audit entry like ev naming its inquiry,
 * then scrubs the WAL: the old ciphertext is gone from disk, not only
 * from the tables. ERR_NOTFOUND (nothing changed) when an inquiry or an
 * attachment is missing or the file count differs.
 */
int	store_rekey(struct store *, const struct store_rekey *, size_t n,
	    const struct audit_event *ev);
/* 1 unless the job is one a database would refuse for its own sake
   (not the disk's): a bad id, no form or record, a missing list. For
   backends. */
int	store_job_valid(const struct store_job *);
/* 0 when the database server answers now; ERR_NOTFOUND from a backend
   without a server (SQLite: only the next commit can tell). The writer
   asks while it is unhealthy, to become healthy again without waiting
   for a submission that /healthz's 503 keeps away. */
int	store_ping(struct store *);
/* 1 if s is one of the statuses an inquiry may have. */
int	store_status_valid(const char *s);
int	store_stats(struct store *, struct store_stats *);
/* 0 when the backend's integrity check says ok. */
int	store_integrity(struct store *);
/*
 * A consistent view for several reads: between store_read_begin and
 * store_read_end every call sees the same committed state, whatever other
 * connections commit meanwhile (an export while retention runs).
 */
int	store_read_begin(struct store *);
void	store_read_end(struct store *);

/*
 * Retention off the writer: store_purge on the libuv threadpool with a
 * connection of its own, so a purge of many rows never holds up the
 * writer's commits. The caller fills the first block and keeps the job
 * alive until done(job) runs on the loop with result and removed set.
 */
struct store_purge_job {
	const char	*path;
	int64_t		 before_ms;
	struct audit_event audit;	/* what the audit log says of it */
	void		(*done)(struct store_purge_job *);
	void		*arg;

	int		 result;
	uint64_t	 removed;
	uv_work_t	 work;		/* private */
};

/* 0 (done will run) or ERR_IO when it cannot be queued (it will not). */
int	store_purge_queue(uv_loop_t *, struct store_purge_job *);

struct store_writer;

/*
 * Opens path (creating it) and starts the writer thread. At most
 * max_pending (>= 1) jobs wait at once; beyond that submit fails with
 * ERR_BUSY. group_commit 0 commits each job in its own transaction
 * (for the bench). Blocks until the database is open; on failure the
 * loop's next iteration frees what was made.
 */
int	store_writer_start(uv_loop_t *, const char *path, unsigned max_pending,
	    int group_commit, struct store_writer **out);
/* Returns 0 (done will run) or an error (done will never run). */
int	store_writer_submit(struct store_writer *, struct store_job *);
int	store_writer_call(struct store_writer *, struct store_call *);
/* 0 after the last commit failed, until one succeeds again. */
int	store_writer_healthy(const struct store_writer *);
/* Number of jobs submitted whose done callback has not run yet. */
unsigned store_writer_pending(const struct store_writer *);
/* The commit-latency and batch-size histograms, for /metrics. */
struct metrics_store;
const struct metrics_store *store_writer_metrics(const struct store_writer *);
/*
 * Finishes every queued job and call (their done callbacks run), stops the
 * thread, closes the connection, and calls cb(arg) once its uv handles are
 * closed. Frees the writer. Call once; submits after it get ERR_CLOSED.
 */
void	store_writer_stop(struct store_writer *, void (*cb)(void *), void *arg);

#endif
