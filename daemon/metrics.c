#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "metrics.h"
#include "version.h"

static const char *const subname[SUB_MAX] = {
	"accepted", "invalid", "malformed", "spam", "unavailable", "limited"
};

/* Upper bounds, inclusive. A group commit on a local disk takes about a
   millisecond; seconds mean the disk or the database is in trouble. */
static const uint64_t commit_bounds[HIST_BUCKETS] = {
	100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000,
	250000, 500000, 1000000, 2500000
};
static const uint64_t batch_bounds[HIST_BUCKETS] = {
	1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192
};

void
metrics_response(struct metrics *m, int status)
{
	int	class = status / 100;

	m->responses[class >= 1 && class <= 5 ? class : 0]++;
}

void
metrics_submission(struct metrics *m, const char *form, enum metric_sub s)
{
	size_t	i;

	for (i = 0; i < m->nform; i++)
		if (strcmp(m->form[i].name, form) == 0)
			break;
	if (i == m->nform) {
		if (m->nform == METRICS_FORMS - 1)
			form = "other";
		if (m->nform < METRICS_FORMS)
			snprintf(m->form[m->nform++].name,
			    sizeof(m->form[0].name), "%s", form);
		else
			i = METRICS_FORMS - 1;
	}
	m->form[i].sub[s]++;
}

static void
observe(struct metrics_hist *h, const uint64_t *bounds, uint64_t v)
{
	size_t	i;

	for (i = 0; i < HIST_BUCKETS && v > bounds[i]; i++)
		continue;
	__atomic_add_fetch(&h->bucket[i], 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&h->sum, v, __ATOMIC_RELAXED);
	__atomic_add_fetch(&h->count, 1, __ATOMIC_RELAXED);
}

void
metrics_commit(struct metrics_store *ms, uint64_t usec, size_t n)
{
	observe(&ms->commit_us, commit_bounds, usec);
	observe(&ms->batch, batch_bounds, n);
}

/* Prints v / scale exactly enough for Prometheus (a float). */
static int
put_num(struct buf *out, uint64_t v, uint64_t scale)
{
	if (scale == 1)
		return buf_printf(out, "%" PRIu64, v);
	return buf_printf(out, "%.6g", (double)v / (double)scale);
}

/* The count may run ahead of the buckets while the writer observes: the
   +Inf bucket and _count are made from the buckets, so they agree. */
static int
render_hist(struct buf *out, const char *name, const char *help,
    const struct metrics_hist *h, const uint64_t *bounds, uint64_t scale)
{
	uint64_t	cum = 0;
	size_t		i;
	int		rc;

	rc = buf_printf(out, "# HELP %s %s\n# TYPE %s histogram\n", name, help,
	    name);
	for (i = 0; i <= HIST_BUCKETS; i++) {
		cum += __atomic_load_n(&h->bucket[i], __ATOMIC_RELAXED);
		rc |= buf_printf(out, "%s_bucket{le=\"", name);
		rc |= i < HIST_BUCKETS ? put_num(out, bounds[i], scale) :
		    buf_puts(out, "+Inf");
		rc |= buf_printf(out, "\"} %" PRIu64 "\n", cum);
	}
	rc |= buf_printf(out, "%s_sum ", name);
	rc |= put_num(out, __atomic_load_n(&h->sum, __ATOMIC_RELAXED), scale);
	rc |= buf_printf(out, "\n%s_count %" PRIu64 "\n", name, cum);
	return rc;
}

static int
gauge(struct buf *out, const char *name, const char *help, uint64_t v)
{
	return buf_printf(out, "# HELP %s %s\n# TYPE %s gauge\n%s %" PRIu64
	    "\n", name, help, name, name, v);
}

static int
counter(struct buf *out, const char *name, const char *label,
    const char *help, uint64_t v)
{
	return buf_printf(out, "# HELP %s %s\n# TYPE %s counter\n%s%s %" PRIu64
	    "\n", name, help, name, name, label, v);
}

int
metrics_render(const struct metrics *m, const struct metrics_gauges *g,
    struct buf *out)
{
	char	label[64];
	size_t	i;
	int	rc = 0, j;

	rc |= buf_printf(out, "# HELP intaked_build_info The running "
	    "version.\n# TYPE intaked_build_info gauge\n"
	    "intaked_build_info{version=\"" INTAKE_VERSION "\"} 1\n");
	rc |= buf_puts(out, "# HELP intaked_responses_total HTTP answers on "
	    "the public listener by status class.\n"
	    "# TYPE intaked_responses_total counter\n");
	for (j = 1; j <= 5; j++)
		rc |= buf_printf(out, "intaked_responses_total{class=\"%dxx\"} "
		    "%" PRIu64 "\n", j, m->responses[j]);
	rc |= buf_puts(out, "# HELP intaked_submissions_total Form "
	    "submissions by form and outcome.\n"
	    "# TYPE intaked_submissions_total counter\n");
	for (i = 0; i < m->nform; i++)
		for (j = 0; j < SUB_MAX; j++)
			rc |= buf_printf(out, "intaked_submissions_total{form="
			    "\"%s\",result=\"%s\"} %" PRIu64 "\n",
			    m->form[i].name, subname[j], m->form[i].sub[j]);
	rc |= gauge(out, "intaked_connections", "Open connections on the "
	    "public listener.", g->connections);
	rc |= gauge(out, "intaked_request_memory_bytes", "Request bytes held "
	    "in memory now.", g->memory);
	rc |= gauge(out, "intaked_request_memory_budget_bytes", "[limits] "
	    "memory_budget.", g->memory_budget);
	rc |= gauge(out, "intaked_store_pending", "Inquiries waiting for "
	    "their commit.", g->store_pending);
	rc |= gauge(out, "intaked_store_healthy", "1 while the last commit "
	    "succeeded.", (uint64_t)g->store_healthy);
	if (g->store != NULL) {
		rc |= render_hist(out, "intaked_store_commit_seconds", "Time "
		    "from BEGIN to COMMIT returned, per batch.",
		    &g->store->commit_us, commit_bounds, 1000000);
		rc |= render_hist(out, "intaked_store_batch_size", "Inquiries "
		    "committed in one transaction.", &g->store->batch,
		    batch_bounds, 1);
	}
	if (g->have_outbox) {
		rc |= gauge(out, "intaked_inquiries_stored", "Inquiries in "
		    "the store.", g->inquiries);
		rc |= gauge(out, "intaked_outbox_pending", "Notifications "
		    "queued, not yet delivered.", g->outbox_queued);
		rc |= gauge(out, "intaked_outbox_failed", "Notifications "
		    "given up on (intakectl retry sends them again).",
		    g->outbox_failed);
	}
	snprintf(label, sizeof(label), "{transport=\"%s\"}", g->transport);
	rc |= counter(out, "intaked_mail_sent_total", label, "Notifications "
	    "delivered.", g->mail_sent);
	rc |= counter(out, "intaked_mail_retried_total", label, "Delivery "
	    "attempts that will be tried again.", g->mail_retried);
	rc |= counter(out, "intaked_mail_failed_total", label, "Notifications "
	    "given up on.", g->mail_failed);
	rc |= counter(out, "intaked_acks_limited_total", "", "Patient "
	    "acknowledgements not sent because of their rate limit.",
	    g->acks_limited);
	return rc ? -1 : 0;
}
