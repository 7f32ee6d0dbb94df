#include <inttypes.h>

#include "metrics.h"

static const char *const subname[SUB_MAX] = {
	"accepted", "invalid", "malformed", "spam", "unavailable", "limited"
};

void
metrics_response(struct metrics *m, int status)
{
	int	class = status / 100;

	m->responses[class >= 1 && class <= 5 ? class : 0]++;
}

int
metrics_render(const struct metrics *m, const struct metrics_gauges *g,
    struct buf *out)
{
	int	rc = 0, i;

	rc |= buf_puts(out, "# HELP intaked_responses_total HTTP answers by "
	    "status class.\n# TYPE intaked_responses_total counter\n");
	for (i = 1; i <= 5; i++)
		rc |= buf_printf(out, "intaked_responses_total{class=\"%dxx\"} "
		    "%" PRIu64 "\n", i, m->responses[i]);
	rc |= buf_puts(out, "# HELP intaked_submissions_total Form "
	    "submissions by outcome.\n"
	    "# TYPE intaked_submissions_total counter\n");
	for (i = 0; i < SUB_MAX; i++)
		rc |= buf_printf(out, "intaked_submissions_total{result=\"%s\"} "
		    "%" PRIu64 "\n", subname[i], m->submissions[i]);
	rc |= buf_printf(out,
	    "# TYPE intaked_connections gauge\nintaked_connections %u\n"
	    "# TYPE intaked_store_pending gauge\nintaked_store_pending %u\n"
	    "# TYPE intaked_store_healthy gauge\nintaked_store_healthy %d\n"
	    "# TYPE intaked_mail_sent_total counter\n"
	    "intaked_mail_sent_total %" PRIu64 "\n"
	    "# TYPE intaked_mail_failed_total counter\n"
	    "intaked_mail_failed_total %" PRIu64 "\n"
	    "# TYPE intaked_mail_retried_total counter\n"
	    "intaked_mail_retried_total %" PRIu64 "\n",
	    g->connections, g->store_pending, g->store_healthy, g->mail_sent,
	    g->mail_failed, g->mail_retried);
	return rc ? -1 : 0;
}
