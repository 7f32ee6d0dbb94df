/*
 * Durable submissions per second through the store writer: group commit
 * (one transaction for everything waiting) against one transaction per
 * request, in the same run on the same machine. Concurrency is simulated
 * the way the daemon sees it: INFLIGHT jobs are kept submitted from the
 * loop, each finished job is submitted again with a new id, as a busy
 * server with that many requests waiting on the disk would.
 *
 * usage: bench_store [COUNT [INFLIGHT]]   (defaults 3000 and 8)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <uv.h>

#include "log.h"
#include "store.h"
#include "testutil.h"
#include "uuid.h"

#define CT_LEN	2048

struct bench {
	uv_loop_t		 loop;
	struct store_writer	*w;
	struct store_job	*jobs;
	unsigned		 count, submitted, done, failed;
	unsigned char		 ct[CT_LEN];
	struct store_outbox	 outbox;
};

static void	job_done(struct store_job *, int);

/* Gives job j a fresh id and submits it, while there is work left. */
static void
submit(struct bench *b, struct store_job *j)
{
	if (b->submitted == b->count)
		return;
	j->received_at_ms = clock_now_ms();
	uuid_v7(j->received_at_ms, j->id);
	if (store_writer_submit(b->w, j) != 0) {
		b->failed++;
		return;
	}
	b->submitted++;
}

static void
job_done(struct store_job *j, int result)
{
	struct bench	*b = j->arg;

	b->done++;
	if (result != 0)
		b->failed++;
	submit(b, j);
}

static void
stopped(void *arg)
{
	(void)arg;
}

/* Runs count submissions with inflight in flight into a new database;
   returns submissions per second, or -1 on failure. */
static double
run(unsigned count, unsigned inflight, int group)
{
	struct bench	b;
	char		dir[64], path[128];
	uint64_t	t0, t1;
	unsigned	i;

	memset(&b, 0, sizeof(b));
	b.count = count;
	randombytes_buf(b.ct, sizeof(b.ct));
	b.outbox.kind = "notify";
	b.outbox.msg = b.ct;
	b.outbox.msglen = 512;
	if (tu_tmpdir(dir, sizeof(dir), "bench_store") == NULL ||
	    uv_loop_init(&b.loop) != 0)
		return -1;
	snprintf(path, sizeof(path), "%s/intake.db", dir);
	if (store_writer_start(&b.loop, path, inflight, group, &b.w) !=
	    0 || (b.jobs = calloc(inflight, sizeof(*b.jobs))) == NULL)
		return -1;
	t0 = uv_hrtime();
	for (i = 0; i < inflight; i++) {
		b.jobs[i].form = "consultation";
		b.jobs[i].ct = b.ct;
		b.jobs[i].ctlen = sizeof(b.ct);
		b.jobs[i].outbox = &b.outbox;
		b.jobs[i].noutbox = 1;
		b.jobs[i].done = job_done;
		b.jobs[i].arg = &b;
		submit(&b, &b.jobs[i]);
	}
	while (b.done < b.submitted)
		uv_run(&b.loop, UV_RUN_ONCE);
	t1 = uv_hrtime();
	store_writer_stop(b.w, stopped, NULL);
	uv_run(&b.loop, UV_RUN_DEFAULT);
	uv_loop_close(&b.loop);
	free(b.jobs);
	tu_rmtree(dir);
	if (b.failed || b.done != count)
		return -1;
	return count / ((double)(t1 - t0) / 1e9);
}

int
main(int argc, char **argv)
{
	unsigned	count = 3000, inflight = 8;
	double		group, single;

	if (argc > 1)
		count = (unsigned)strtoul(argv[1], NULL, 10);
	if (argc > 2)
		inflight = (unsigned)strtoul(argv[2], NULL, 10);
	if (count == 0 || inflight == 0 || sodium_init() < 0) {
		fprintf(stderr, "usage: bench_store [COUNT [INFLIGHT]]\n");
		return 2;
	}
	log_init("bench_store", LOG_LVL_WARN);
	if ((group = run(count, inflight, 1)) < 0 ||
	    (single = run(count, inflight, 0)) < 0) {
		fprintf(stderr, "bench_store: a run failed\n");
		return 1;
	}
	printf("store: %u submissions of %d bytes, %u in flight, "
	    "synchronous=FULL\n", count, CT_LEN, inflight);
	printf("store: group commit: %.0f sub/s\n", group);
	printf("store: per-request commit: %.0f sub/s\n", single);
	printf("store: ratio: %.1f\n", group / single);
	return 0;
}
