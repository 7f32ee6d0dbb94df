/*
 * Staff notifications delivered per second to a local aiosmtpd (plain
 * SMTP on loopback, content = summary), and the time from the commit of
 * an inquiry to its message file appearing in the server's Maildir
 * (inotify on new/). Two runs on the same machine: a burst of COUNT
 * inquiries committed as fast as the store takes them (throughput, and
 * the median latency while queued behind the burst), then SAMPLES
 * inquiries one at a time on an idle mailer (median latency alone).
 *
 * usage: bench_mail [COUNT [SAMPLES [PARALLEL]]]   (defaults 500, 30, 4)
 */
#include <sys/inotify.h>

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>
#include <uv.h>

#include "age.h"
#include "buf.h"
#include "config.h"
#include "log.h"
#include "mailer.h"
#include "store.h"
#include "testutil.h"
#include "uuid.h"

#define INFLIGHT	64

struct item {
	struct store_job	 job;
	struct store_outbox	*ob;
	size_t			 nob;
	uint64_t		 committed, landed;	/* uv_hrtime ns */
	struct bench		*b;
};

struct bench {
	uv_loop_t		 loop;
	uv_poll_t		 inotify;
	uv_timer_t		 guard;
	int			 ifd;
	char			 dir[64], out[256], db[256], url[64];
	int			 port;
	pid_t			 server;
	struct store_writer	*sw;
	struct mailer		*m;
	struct config		 cfg;
	struct form_conf	 fc;
	struct message_templates tpl;
	struct age_recipient	 rcpt;
	struct buf		 record;
	json_t			*fields;
	struct item		*items;
	unsigned		 n, submitted, committed, landed, failed;
	unsigned		 want;		/* stop the loop at this many */
	int			 stopped;
};

/* The item whose Message-ID is in the file name'd in new/, or NULL. */
static struct item *
item_of_file(struct bench *b, const char *name)
{
	char	 path[PATH_MAX], head[8192], *p;
	ssize_t	 n;
	size_t	 i;
	int	 fd;

	snprintf(path, sizeof(path), "%s/new/%s", b->out, name);
	if ((fd = open(path, O_RDONLY)) == -1)
		return NULL;
	n = read(fd, head, sizeof(head) - 1);
	close(fd);
	if (n <= 0)
		return NULL;
	head[n] = '\0';
	if ((p = strstr(head, "Message-ID: <")) == NULL)
		return NULL;
	p += 13;
	for (i = 0; i < b->submitted; i++)
		if (strncmp(p, b->items[i].job.id, STORE_ID_LEN) == 0)
			return &b->items[i];
	return NULL;
}

static void
on_inotify(uv_poll_t *h, int status, int events)
{
	struct bench			*b = h->data;
	char				 ev[16384]
					    __attribute__((aligned(8)));
	const struct inotify_event	*e;
	struct item			*it;
	uint64_t			 now = uv_hrtime();
	ssize_t				 n, off;

	(void)status;
	(void)events;
	while ((n = read(b->ifd, ev, sizeof(ev))) > 0) {
		for (off = 0; off < n; off += (ssize_t)sizeof(*e) + e->len) {
			e = (const struct inotify_event *)(ev + off);
			if (e->len == 0 || e->name[0] == '.')
				continue;
			if ((it = item_of_file(b, e->name)) != NULL &&
			    it->landed == 0) {
				it->landed = now;
				b->landed++;
			}
		}
	}
	if (b->landed >= b->want)
		uv_stop(&b->loop);
}

static void	submit_next(struct bench *);

static void
job_done(struct store_job *j, int result)
{
	struct item	*it = j->arg;
	struct bench	*b = it->b;

	if (result != 0)
		b->failed++;
	it->committed = uv_hrtime();
	b->committed++;
	mailer_kick(b->m);
	submit_next(b);
}

/* Composes and submits inquiries while fewer than INFLIGHT wait and the
   current run wants more. */
static void
submit_next(struct bench *b)
{
	struct message_inquiry	 inq;
	struct item		*it;

	while (b->submitted < b->want &&
	    b->submitted - b->committed < INFLIGHT) {
		it = &b->items[b->submitted++];
		it->b = b;
		it->job.received_at_ms = clock_now_ms();
		uuid_v7(it->job.received_at_ms, it->job.id);
		memset(&inq, 0, sizeof(inq));
		inq.id = it->job.id;
		inq.form = b->fc.name;
		inq.title = "Free consultation";
		inq.tpl = &b->tpl;
		inq.received_at_ms = it->job.received_at_ms;
		inq.fields = b->fields;
		inq.record = (const unsigned char *)b->record.data;
		inq.recordlen = b->record.len;
		if (mailer_compose(b->m, &inq, 0, &it->ob, &it->nob) != 0)
			fatalx("compose");
		it->job.form = "consultation";
		it->job.ct = inq.record;
		it->job.ctlen = inq.recordlen;
		it->job.outbox = it->ob;
		it->job.noutbox = it->nob;
		it->job.done = job_done;
		it->job.arg = it;
		if (store_writer_submit(b->sw, &it->job) != 0)
			fatalx("submit");
	}
}

static void
on_guard(uv_timer_t *t)
{
	struct bench	*b = t->data;

	fprintf(stderr, "bench_mail: timed out (%u of %u landed)\n",
	    b->landed, b->want);
	b->failed++;
	uv_stop(&b->loop);
}

/* Runs the loop until want messages landed, at most limit_ms. */
static void
run_to(struct bench *b, unsigned want, uint64_t limit_ms)
{
	b->want = want;
	uv_timer_start(&b->guard, on_guard, limit_ms, 0);
	submit_next(b);
	if (b->landed < want)
		uv_run(&b->loop, UV_RUN_DEFAULT);
	uv_timer_stop(&b->guard);
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t	x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Median commit-to-file time in ms of items [from, to). */
static double
median_ms(const struct bench *b, unsigned from, unsigned to)
{
	uint64_t	*d;
	unsigned	 i, n = 0;
	double		 med;

	if ((d = calloc(to - from, sizeof(*d))) == NULL)
		fatal("calloc");
	for (i = from; i < to; i++)
		if (b->items[i].landed > b->items[i].committed)
			d[n++] = b->items[i].landed - b->items[i].committed;
	qsort(d, n, sizeof(*d), cmp_u64);
	med = n ? (double)d[n / 2] / 1e6 : 0;
	free(d);
	return med;
}

static void
setup(struct bench *b, unsigned total, unsigned parallel)
{
	struct age_identity	 id;
	struct diag		 d = { 0, NULL, NULL };
	char			 p[PATH_MAX];

	if (tu_tmpdir(b->dir, sizeof(b->dir), "bench_mail") == NULL)
		fatal("mkdtemp");
	snprintf(b->out, sizeof(b->out), "%s/out", b->dir);
	snprintf(b->db, sizeof(b->db), "%s/intake.db", b->dir);
	if (tu_maildir(b->out) == -1)
		fatal("%s", b->out);
	if ((b->port = tu_free_port()) == -1)
		fatal("free port");
	snprintf(b->url, sizeof(b->url), "smtp://127.0.0.1:%d", b->port);
	if ((b->server = tu_aiosmtpd_start(b->port, b->out, NULL, NULL)) == -1)
		fatal("aiosmtpd did not start");

	tu_mail_config(&b->cfg, &b->fc, b->db, b->url);
	b->fc.subject = "New inquiry {{id}}";
	b->cfg.tls = TLS_OFF;
	b->cfg.nto = 1;		/* one message per inquiry, as before */
	b->cfg.content = CONTENT_SUMMARY;
	b->cfg.mail_parallel = parallel;
	b->cfg.mail_timeout_ms = 10000;
	if (message_templates_load(b->cfg.templates, &b->tpl, NULL) != 0)
		fatalx("templates");

	age_identity_generate(&id);
	age_identity_recipient(&id, &b->rcpt);
	buf_init(&b->record, 0);
	if (age_encrypt(&b->rcpt, 1, "{\"v\":1}", 7, &b->record) != 0)
		fatalx("age");
	b->fields = json_pack("{s:s, s:s, s:s}", "name", "Testy McTestface",
	    "email", "patient@example.com", "phone", "+91 00000 00000");
	if ((b->items = calloc(total, sizeof(*b->items))) == NULL)
		fatal("calloc");

	uv_loop_init(&b->loop);
	if (store_writer_start(&b->loop, b->db, 256, 1, &b->sw) != 0)
		fatalx("store_writer_start");
	if (mailer_start(&b->loop, &b->cfg, b->sw, &b->m, &d) != 0)
		fatalx("mailer_start");
	snprintf(p, sizeof(p), "%s/new", b->out);
	if ((b->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) == -1 ||
	    inotify_add_watch(b->ifd, p, IN_CREATE | IN_MOVED_TO) == -1)
		fatal("inotify");
	uv_poll_init(&b->loop, &b->inotify, b->ifd);
	b->inotify.data = b;
	uv_poll_start(&b->inotify, UV_READABLE, on_inotify);
	uv_timer_init(&b->loop, &b->guard);
	b->guard.data = b;
}

static void
writer_stopped(void *arg)
{
	((struct bench *)arg)->stopped = 1;
}

static void
mailer_stopped(void *arg)
{
	struct bench	*b = arg;

	store_writer_stop(b->sw, writer_stopped, b);
}

static void
teardown(struct bench *b)
{
	unsigned	i;

	uv_close((uv_handle_t *)&b->inotify, NULL);
	uv_close((uv_handle_t *)&b->guard, NULL);
	mailer_stop(b->m, mailer_stopped, b);
	while (!b->stopped)
		uv_run(&b->loop, UV_RUN_ONCE);
	uv_run(&b->loop, UV_RUN_DEFAULT);
	uv_loop_close(&b->loop);
	close(b->ifd);
	tu_aiosmtpd_stop(b->server);
	for (i = 0; i < b->submitted; i++)
		mailer_outbox_free(b->items[i].ob, b->items[i].nob);
	free(b->items);
	json_decref(b->fields);
	buf_free(&b->record);
	tu_rmtree(b->dir);
}

int
main(int argc, char **argv)
{
	struct bench	 b;
	unsigned	 count = 500, samples = 30, parallel = 4, i;
	uint64_t	 t0, t1;
	double		 burst_med, idle_med, rate;

	if (argc > 1)
		count = (unsigned)strtoul(argv[1], NULL, 10);
	if (argc > 2)
		samples = (unsigned)strtoul(argv[2], NULL, 10);
	if (argc > 3)
		parallel = (unsigned)strtoul(argv[3], NULL, 10);
	if (count == 0 || samples == 0 || parallel == 0 || argc > 4) {
		fprintf(stderr, "usage: bench_mail [COUNT [SAMPLES "
		    "[PARALLEL]]]\n");
		return 2;
	}
	log_init("bench_mail", LOG_LVL_WARN);
	if (sodium_init() < 0)
		fatalx("sodium_init");
	memset(&b, 0, sizeof(b));
	setup(&b, count + samples, parallel);

	t0 = uv_hrtime();
	run_to(&b, count, 120000);
	t1 = uv_hrtime();
	rate = count / ((double)(t1 - t0) / 1e9);
	burst_med = median_ms(&b, 0, count);
	for (i = 0; i < samples && !b.failed; i++)
		run_to(&b, count + i + 1, 10000);
	idle_med = median_ms(&b, count, count + samples);
	teardown(&b);
	if (b.failed) {
		fprintf(stderr, "bench_mail: a run failed\n");
		return 1;
	}
	printf("mail: %u notifications to a local aiosmtpd, %u in parallel\n",
	    count, parallel);
	printf("mail: burst: %.0f delivered/s, median commit-to-file "
	    "%.1f ms\n", rate, burst_med);
	printf("mail: idle: median commit-to-file %.1f ms (%u samples)\n",
	    idle_med, samples);
	return 0;
}
