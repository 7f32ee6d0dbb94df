#ifndef INTAKE_METRICS_H
#define INTAKE_METRICS_H

#include <stdint.h>

#include "buf.h"

/* Counters for GET /metrics (Prometheus text format 0.0.4). Updated on
   the loop thread only, so plain integers suffice. */

enum metric_sub {
	SUB_ACCEPTED,	/* committed and answered with success */
	SUB_INVALID,	/* 422 */
	SUB_MALFORMED,	/* 400 */
	SUB_SPAM,	/* honeypot: success answer, nothing stored */
	SUB_UNAVAILABLE,	/* 503: store busy or failing */
	SUB_LIMITED,	/* 429 */
	SUB_MAX
};

struct metrics {
	uint64_t	responses[6];	/* by status class 1xx..5xx; [0] other */
	uint64_t	submissions[SUB_MAX];
};

/* Values sampled at render time. */
struct metrics_gauges {
	unsigned	connections;
	unsigned	store_pending;
	int		store_healthy;
	uint64_t	mail_sent, mail_failed, mail_retried;
};

void	metrics_response(struct metrics *, int status);
int	metrics_render(const struct metrics *, const struct metrics_gauges *,
	    struct buf *out);

#endif
