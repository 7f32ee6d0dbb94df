#ifndef INTAKE_METRICS_H
#define INTAKE_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* What GET /metrics on the admin listener says (Prometheus text format
   0.0.4). struct metrics is the loop thread's alone, so plain integers
   suffice there; the store's histograms are written by the writer thread
   and read with atomics. */

enum metric_sub {
	SUB_ACCEPTED,	/* committed and answered with success */
	SUB_INVALID,	/* 422 */
	SUB_MALFORMED,	/* 400 */
	SUB_SPAM,	/* honeypot: success answer, nothing stored */
	SUB_UNAVAILABLE,	/* 503: store busy or failing */
	SUB_LIMITED,	/* 429 */
	SUB_MAX
};

/* Forms are counted by name so that a reload that renames or adds one
   keeps every series honest; beyond this many, counts go to "other". */
#define METRICS_FORMS	32
#define METRICS_NAME_MAX	64

struct metrics_form {
	char		name[METRICS_NAME_MAX + 1];
	uint64_t	sub[SUB_MAX];
};

struct metrics {
	uint64_t		responses[6];	/* by status class; [0] other */
	struct metrics_form	form[METRICS_FORMS];
	size_t			nform;
};

#define HIST_BUCKETS	14

/* A histogram of integer observations (microseconds, counts). */
struct metrics_hist {
	uint64_t	bucket[HIST_BUCKETS + 1];	/* last: above all */
	uint64_t	count, sum;
};

/* Kept by the store writer: one observation per committed batch. */
struct metrics_store {
	struct metrics_hist	commit_us;	/* BEGIN to COMMIT returned */
	struct metrics_hist	batch;		/* inquiries per commit */
};

/* Sampled when /metrics is asked for. */
struct metrics_gauges {
	unsigned	 connections;
	size_t		 memory, memory_budget;	/* request bytes held */
	unsigned	 store_pending;
	int		 store_healthy;
	const struct metrics_store *store;
	int		 have_outbox;	/* the counts below could be read */
	uint64_t	 inquiries, outbox_queued, outbox_failed;
	const char	*transport;
	uint64_t	 mail_sent, mail_failed, mail_retried, acks_limited;
};

void	metrics_response(struct metrics *, int status);
void	metrics_submission(struct metrics *, const char *form,
	    enum metric_sub);
/* Safe on any thread, for the writer's one observation per batch. */
void	metrics_commit(struct metrics_store *, uint64_t usec, size_t n);
int	metrics_render(const struct metrics *, const struct metrics_gauges *,
	    struct buf *out);

#endif
