#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "log.h"
#include "metrics.h"
#include "pool.h"
#include "store.h"

/*
 * The writer. The loop thread submits jobs and calls into queues guarded
 * by mu; the writer thread takes everything waiting, commits the jobs
 * (one transaction for all of them with group commit), runs the calls,
 * moves both to the done queues and wakes the loop through async, whose
 * callback runs the done callbacks on the loop thread.
 *
 * Lifetime: store_writer_stop sets quit; the thread drains the queues,
 * closes its connection, sets exited and wakes the loop a last time; the
 * async callback then joins the thread and closes the handle, and the
 * close callback frees the writer and reports to the caller.
 */
struct store_writer {
	uv_loop_t		*loop;
	uv_async_t		 async;
	uv_thread_t		 thread;
	uv_mutex_t		 mu;
	uv_cond_t		 cond;

	/* read-only after start */
	char			*path;
	unsigned		 max_pending;
	int			 group_commit;

	/* owned by the writer thread */
	struct store		*st;
	struct store_job	**batch;	/* max_pending slots */

	/* guarded by mu */
	struct store_job	*jobs, **jobs_tail;
	struct store_call	*calls, **calls_tail;
	struct store_job	*jobs_done, **jobs_done_tail;
	struct store_call	*calls_done, **calls_done_tail;
	/* Jobs submitted whose done has not run yet: changed under mu,
	   atomically so that store_writer_pending can read it without. */
	unsigned		 pending;
	int			 opened;	/* start handshake: 1 when known */
	int			 open_result;
	int			 quit;		/* stop requested */
	int			 exited;	/* thread is finishing */
	void			(*stop_cb)(void *);
	void			*stop_arg;

	int			 can_ping;	/* writer thread's */

	/* written by the writer thread, read anywhere */
	int			 healthy;
	struct metrics_store	 ms;
};

/* Commits list (linked by next) as one transaction; store_insert sets
   each job's result. A refused job (ERR_INVAL) does not make the store
   unhealthy; any other failure does, until a commit succeeds. */
static void
commit_batch(struct store_writer *w, struct store_job *list)
{
	struct store_job	*j;
	size_t			 n = 0;
	int			 r;

	uint64_t		 t0;

	for (j = list; j != NULL; j = j->next)
		w->batch[n++] = j;
	t0 = uv_hrtime();
	r = store_insert(w->st, w->batch, n);
	metrics_commit(&w->ms, (uv_hrtime() - t0) / 1000, n);
	__atomic_store_n(&w->healthy, r == 0 || r == ERR_INVAL ||
	    r == ERR_REPLAYED, __ATOMIC_RELEASE);
}

/* Hands finished work to the loop thread. */
static void
deliver(struct store_writer *w, struct store_job *jobs,
    struct store_job **jobs_last, struct store_call *calls,
    struct store_call **calls_last)
{
	uv_mutex_lock(&w->mu);
	if (jobs != NULL) {
		*w->jobs_done_tail = jobs;
		w->jobs_done_tail = jobs_last;
	}
	if (calls != NULL) {
		*w->calls_done_tail = calls;
		w->calls_done_tail = calls_last;
	}
	uv_mutex_unlock(&w->mu);
	uv_async_send(&w->async);
}

/* Commits the taken jobs, all at once or one by one. */
static void
write_jobs(struct store_writer *w, struct store_job *jobs,
    struct store_job **last)
{
	struct store_job	*j;

	if (w->group_commit) {
		commit_batch(w, jobs);
		deliver(w, jobs, last, NULL, NULL);
		return;
	}
	while ((j = jobs) != NULL) {
		jobs = j->next;
		j->next = NULL;
		commit_batch(w, j);
		deliver(w, j, &j->next, NULL, NULL);
	}
}

/* Runs the taken calls; each ends its own transaction. */
static void
run_calls(struct store_writer *w, struct store_call *calls,
    struct store_call **last)
{
	struct store_call	*c;

	for (c = calls; c != NULL; c = c->next)
		c->result = c->fn(w->st, c->arg);
	deliver(w, NULL, NULL, calls, last);
}

/* How often an idle writer asks a database server whether it is there:
   /healthz then says so without a submission having to fail first, and
   says it is back without one having to succeed. */
#define PING_NS		(UINT64_C(2000) * 1000 * 1000)
#define PROBE_NS	(UINT64_C(500) * 1000 * 1000)	/* while unhealthy */

/* Waits for work and takes all of it. Returns 0 when the thread should
   end: stop was requested and nothing is left. */
static int
take(struct store_writer *w, struct store_job **jobs,
    struct store_job ***jobs_last, struct store_call **calls,
    struct store_call ***calls_last)
{
	int	healthy, r;

	uv_mutex_lock(&w->mu);
	while (w->jobs == NULL && w->calls == NULL && !w->quit) {
		healthy = __atomic_load_n(&w->healthy, __ATOMIC_ACQUIRE);
		if (!w->can_ping) {
			uv_cond_wait(&w->cond, &w->mu);
			continue;
		}
		if (uv_cond_timedwait(&w->cond, &w->mu, healthy ? PING_NS :
		    PROBE_NS) != UV_ETIMEDOUT)
			continue;
		uv_mutex_unlock(&w->mu);
		r = store_ping(w->st);
		if (r == ERR_NOTFOUND)
			w->can_ping = 0;	/* SQLite: commits tell */
		else
			__atomic_store_n(&w->healthy, r == 0,
			    __ATOMIC_RELEASE);
		uv_mutex_lock(&w->mu);
	}
	*jobs = w->jobs;
	*jobs_last = w->jobs_tail;
	*calls = w->calls;
	*calls_last = w->calls_tail;
	w->jobs = NULL;
	w->jobs_tail = &w->jobs;
	w->calls = NULL;
	w->calls_tail = &w->calls;
	uv_mutex_unlock(&w->mu);
	return *jobs != NULL || *calls != NULL;
}

static void
writer_main(void *arg)
{
	struct store_writer	 *w = arg;
	struct store_job	 *jobs, **jobs_last;
	struct store_call	 *calls, **calls_last;
	int			  r;

	r = store_open(w->path, STORE_CREATE, &w->st);
	uv_mutex_lock(&w->mu);
	w->open_result = r;
	w->opened = 1;
	uv_cond_broadcast(&w->cond);
	uv_mutex_unlock(&w->mu);
	if (r != 0)
		return;
	while (take(w, &jobs, &jobs_last, &calls, &calls_last)) {
		if (jobs != NULL)
			write_jobs(w, jobs, jobs_last);
		if (calls != NULL)
			run_calls(w, calls, calls_last);
	}
	store_close(w->st);
	w->st = NULL;
	uv_mutex_lock(&w->mu);
	w->exited = 1;
	uv_mutex_unlock(&w->mu);
	uv_async_send(&w->async);
}

static void
writer_free(struct store_writer *w)
{
	uv_mutex_destroy(&w->mu);
	uv_cond_destroy(&w->cond);
	free(w->batch);
	free(w->path);
	free(w);
}

static void
writer_closed(uv_handle_t *h)
{
	struct store_writer	*w = h->data;
	void			(*cb)(void *) = w->stop_cb;
	void			*arg = w->stop_arg;

	writer_free(w);
	if (cb != NULL)
		cb(arg);
}

/* On the loop thread: runs the done callbacks of finished work, and
   finishes the stop once the thread has ended. */
static void
writer_wakeup(uv_async_t *a)
{
	struct store_writer	*w = a->data;
	struct store_job	*j, *jnext;
	struct store_call	*c, *cnext;
	unsigned		 n = 0;
	int			 exited;

	uv_mutex_lock(&w->mu);
	j = w->jobs_done;
	c = w->calls_done;
	w->jobs_done = NULL;
	w->jobs_done_tail = &w->jobs_done;
	w->calls_done = NULL;
	w->calls_done_tail = &w->calls_done;
	for (jnext = j; jnext != NULL; jnext = jnext->next)
		n++;
	__atomic_sub_fetch(&w->pending, n, __ATOMIC_RELEASE);
	exited = w->exited;
	uv_mutex_unlock(&w->mu);
	for (; j != NULL; j = jnext) {
		jnext = j->next;
		j->done(j, j->result);
	}
	for (; c != NULL; c = cnext) {
		cnext = c->next;
		if (c->done != NULL)
			c->done(c, c->result);
	}
	if (exited) {
		uv_thread_join(&w->thread);
		uv_close((uv_handle_t *)&w->async, writer_closed);
	}
}

/* Starts the thread and waits until it has opened (and migrated) the
   database, so that open errors are reported here. */
static int
writer_spawn(struct store_writer *w)
{
	int	r;

	if (uv_thread_create(&w->thread, writer_main, w) != 0)
		return ERR_NOMEM;
	uv_mutex_lock(&w->mu);
	while (!w->opened)
		uv_cond_wait(&w->cond, &w->mu);
	r = w->open_result;
	uv_mutex_unlock(&w->mu);
	if (r != 0)
		uv_thread_join(&w->thread);
	return r;
}

/* A writer with its queues and locks, not yet running; NULL without
   memory. */
static struct store_writer *
writer_new(uv_loop_t *loop, const char *path, unsigned max_pending,
    int group_commit)
{
	struct store_writer	*w;

	if ((w = calloc(1, sizeof(*w))) == NULL)
		return NULL;
	if ((w->path = strdup(path)) == NULL ||
	    (w->batch = calloc(max_pending, sizeof(*w->batch))) == NULL)
		goto fail;
	if (uv_mutex_init(&w->mu) != 0)
		goto fail;
	if (uv_cond_init(&w->cond) != 0) {
		uv_mutex_destroy(&w->mu);
		goto fail;
	}
	w->loop = loop;
	w->max_pending = max_pending;
	w->group_commit = group_commit;
	w->healthy = 1;
	w->can_ping = 1;
	w->jobs_tail = &w->jobs;
	w->calls_tail = &w->calls;
	w->jobs_done_tail = &w->jobs_done;
	w->calls_done_tail = &w->calls_done;
	return w;
fail:
	free(w->batch);
	free(w->path);
	free(w);
	return NULL;
}

/*
 * Opens path (creating it) on a new writer thread and returns the writer
 * in *out; store_writer_stop frees it. Blocks until the database is open,
 * which is fine at start-up. Returns 0 or the store_open error; on
 * error the half-made writer's handle is being closed and its memory is
 * released by the loop's next iteration.
 */
int
store_writer_start(uv_loop_t *loop, const char *path, unsigned max_pending,
    int group_commit, struct store_writer **out)
{
	struct store_writer	*w;
	int			 r;

	*out = NULL;
	if (max_pending == 0 || path == NULL)
		return ERR_INVAL;
	if ((w = writer_new(loop, path, max_pending, group_commit)) == NULL)
		return ERR_NOMEM;
	/* Before the thread exists: it sends on the handle. */
	if (uv_async_init(loop, &w->async, writer_wakeup) != 0) {
		writer_free(w);
		return ERR_NOMEM;
	}
	w->async.data = w;
	if ((r = writer_spawn(w)) != 0) {
		uv_close((uv_handle_t *)&w->async, writer_closed);
		return r;
	}
	*out = w;
	return 0;
}

/*
 * Queues j. 0 means j->done will run on the loop thread after the
 * commit (or its failure); any error means it never will: ERR_BUSY
 * when max_pending jobs are already in flight, ERR_CLOSED once stop
 * began, ERR_INVAL without a done callback.
 */
int
store_writer_submit(struct store_writer *w, struct store_job *j)
{
	int	r = 0;

	if (j == NULL || j->done == NULL)
		return ERR_INVAL;
	uv_mutex_lock(&w->mu);
	if (w->quit)
		r = ERR_CLOSED;
	else if (w->pending >= w->max_pending)
		r = ERR_BUSY;
	else {
		j->next = NULL;
		j->result = 0;
		*w->jobs_tail = j;
		w->jobs_tail = &j->next;
		__atomic_add_fetch(&w->pending, 1, __ATOMIC_RELEASE);
		uv_cond_signal(&w->cond);
	}
	uv_mutex_unlock(&w->mu);
	return r;
}

/* Queues c to run on the writer thread (not counted in max_pending: its
   callers bound their own calls). Same result contract as submit. */
int
store_writer_call(struct store_writer *w, struct store_call *c)
{
	int	r = 0;

	if (c == NULL || c->fn == NULL)
		return ERR_INVAL;
	uv_mutex_lock(&w->mu);
	if (w->quit)
		r = ERR_CLOSED;
	else {
		c->next = NULL;
		c->result = 0;
		*w->calls_tail = c;
		w->calls_tail = &c->next;
		uv_cond_signal(&w->cond);
	}
	uv_mutex_unlock(&w->mu);
	return r;
}

int
store_writer_healthy(const struct store_writer *w)
{
	return __atomic_load_n(&w->healthy, __ATOMIC_ACQUIRE);
}

const struct metrics_store *
store_writer_metrics(const struct store_writer *w)
{
	return &w->ms;
}

unsigned
store_writer_pending(const struct store_writer *w)
{
	return __atomic_load_n(&w->pending, __ATOMIC_ACQUIRE);
}

void
store_writer_stop(struct store_writer *w, void (*cb)(void *), void *arg)
{
	uv_mutex_lock(&w->mu);
	w->quit = 1;
	w->stop_cb = cb;
	w->stop_arg = arg;
	uv_cond_signal(&w->cond);
	uv_mutex_unlock(&w->mu);
}

static void
purge_work(uv_work_t *w)
{
	struct store_purge_job	*j = w->data;
	struct store		*st;

	pool_background();
	j->removed = 0;
	if ((j->result = store_open(j->path, 0, &st)) != 0)
		return;
	j->result = store_purge(st, j->before_ms, &j->removed, &j->audit);
	store_close(st);
}

static void
purge_after(uv_work_t *w, int status)
{
	struct store_purge_job	*j = w->data;

	if (status != 0)
		j->result = ERR_CLOSED;
	j->done(j);
}

int
store_purge_queue(uv_loop_t *loop, struct store_purge_job *j)
{
	j->work.data = j;
	if (uv_queue_work(loop, &j->work, purge_work, purge_after) != 0)
		return ERR_IO;
	return 0;
}
