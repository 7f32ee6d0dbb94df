/*
 * The SMTP transport: libcurl's multi interface on a mail thread of its
 * own.
 *
 * libcurl 7.88 waits for the reply to the end of DATA (and to QUIT) with
 * a blocking poll even in multi mode, so no transfer may run on the loop:
 * a slow relay would freeze HTTP and the systemd watchdog. One mail
 * thread owns the multi handle (its connection cache gives reuse, at
 * most parallel connections) and makes every curl call on a transfer:
 *
 *   loop: easy handle set up ──todo + curl_multi_wakeup──▶ mail thread:
 *   add, perform, info_read ──done + uv_async_send──▶ loop: classify,
 *   mail_done, as for any transport.
 *
 * From enqueue until the loop takes it off the done queue a transfer
 * belongs to the mail thread. The queues, the socket list and quit are
 * shared under mu. The sockets are listed so that stopping can shut them
 * down: a server that never answers then cannot hold the thread (nor the
 * stop).
 */
#include <sys/socket.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "libcurl.h"
#include <sodium.h>
#include <uv.h>

#include "addr.h"
#include "mail_transport.h"
#include "secret.h"

#define THREAD_POLL_MS	1000		/* mail thread's longest nap */

/* How the mail thread hands a transfer back to the loop. */
enum handback {
	HB_DONE,		/* finished: rc and code tell how */
	HB_NOSTART,		/* the multi refused it */
	HB_ABANDONED,		/* stopping: dropped */
};

struct smtp;

/* A socket curl opened (mail thread), listed so stopping can cut it. */
struct msock {
	curl_socket_t	 fd;
	struct msock	*next;
};

/* One message on its way. */
struct xfer {
	struct smtp		*sm;
	struct mail_send	*s;
	CURL			*easy;
	struct curl_slist	*rcpt;
	size_t			 pos;		/* upload position in body */
	struct xfer		*qnext;		/* todo / done queue */
	struct xfer		*tnext;		/* mail thread: in flight */
	CURLcode		 rc;		/* mail thread: the result */
	long			 code;		/* and the server's last code */
	enum handback		 handback;
};

/* A FIFO of transfers between the loop and the mail thread (under mu). */
struct xqueue {
	struct xfer	*head, **tail;
};

struct smtp {
	uv_loop_t		*loop;
	const struct config	*cfg;
	char			*password;
	int			 curl_inited;
	CURLM			*multi;		/* the mail thread's */
	uv_thread_t		 thread;
	int			 thread_started, joining;
	uv_mutex_t		 mu;
	int			 mu_inited;
	uv_async_t		 async;		/* thread -> loop */
	int			 async_open;
	uv_work_t		 join;
	/* Under mu: the loop <-> mail thread hand-over. */
	struct xqueue		 todo, done;
	struct msock		*msocks;
	int			 quit;
	/* Mail thread only: the transfers in the multi. */
	struct xfer		*inflight;
	int			 stopping;
	void			(*stop_cb)(void *);
	void			*stop_arg;
};

/* ---- the password ------------------------------------------------------ */

/* password_file, else the systemd credential smtp-password if present. */
static int
load_password(const struct config *cfg, char **out, struct diag *d)
{
	int	r;

	r = secret_password(cfg->password_file, "smtp-password", out, d);
	/* Not twice for one problem: a refused file is reported already. */
	if (r == 0 && cfg->username && *out == NULL) {
		diag(d, cfg->path ? cfg->path : "config", 0, "[mail] username "
		    "is set but there is no password_file or smtp-password "
		    "credential");
		r = ERR_CONFIG;
	}
	return r;
}

static int
smtp_check(const struct config *cfg, struct diag *d)
{
	const char	*why;
	char		*pw;
	int		 r;

	if ((why = libcurl_open()) != NULL) {
		diag(d, cfg->path ? cfg->path : "config", 0, "%s", why);
		return ERR_CONFIG;
	}
	r = load_password(cfg, &pw, d);
	secret_free(pw);
	return r;
}

/* ---- the hand-over queues ------------------------------------------------ */

static void
xq_init(struct xqueue *q)
{
	q->head = NULL;
	q->tail = &q->head;
}

static void
xq_push(struct xqueue *q, struct xfer *x)
{
	x->qnext = NULL;
	*q->tail = x;
	q->tail = &x->qnext;
}

/* Empties q; returns its transfers in order, linked by qnext. */
static struct xfer *
xq_take(struct xqueue *q)
{
	struct xfer	*l = q->head;

	xq_init(q);
	return l;
}

/* ---- the mail thread ----------------------------------------------------- */

/* Shuts down every socket curl holds. Caller holds sm->mu, which keeps
   each listed fd open (on_closesocket unlists it before closing). */
static void
cut_sockets_locked(struct smtp *sm)
{
	struct msock	*k;

	for (k = sm->msocks; k; k = k->next)
		shutdown(k->fd, SHUT_RDWR);
}

/* CURLOPT_OPENSOCKETFUNCTION (mail thread): a socket, listed; none once
   stopping, so no connection can outlive the cut. */
static curl_socket_t
on_opensocket(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
	struct smtp	*sm = arg;
	struct msock	*k;
	int		 fd, quit;

	(void)purpose;
	if ((k = malloc(sizeof(*k))) == NULL)
		return CURL_SOCKET_BAD;
	if ((fd = socket(a->family, a->socktype | SOCK_CLOEXEC,
	    a->protocol)) == -1) {
		free(k);
		return CURL_SOCKET_BAD;
	}
	k->fd = fd;
	uv_mutex_lock(&sm->mu);
	if (!(quit = sm->quit)) {
		k->next = sm->msocks;
		sm->msocks = k;
	}
	uv_mutex_unlock(&sm->mu);
	if (quit) {
		close(fd);
		free(k);
		return CURL_SOCKET_BAD;
	}
	return fd;
}

/* CURLOPT_CLOSESOCKETFUNCTION (mail thread): unlisted, then closed. */
static int
on_closesocket(void *arg, curl_socket_t fd)
{
	struct smtp	*sm = arg;
	struct msock	**pp, *k;

	uv_mutex_lock(&sm->mu);
	for (pp = &sm->msocks; *pp; pp = &(*pp)->next)
		if ((*pp)->fd == fd) {
			k = *pp;
			*pp = k->next;
			free(k);
			break;
		}
	uv_mutex_unlock(&sm->mu);
	return close(fd);
}

/* Frees the curl state of x (out of the multi already). */
static void
release_easy(struct xfer *x)
{
	if (x->easy)
		libcurl.easy_cleanup(x->easy);
	x->easy = NULL;
	libcurl.slist_free_all(x->rcpt);
	x->rcpt = NULL;
}

/* Mail thread: gives x back to the loop, which takes it in take_back. */
static void
hand_back(struct smtp *sm, struct xfer *x, enum handback how)
{
	x->handback = how;
	uv_mutex_lock(&sm->mu);
	xq_push(&sm->done, x);
	uv_mutex_unlock(&sm->mu);
	uv_async_send(&sm->async);
}

/* Mail thread: the transfers queued since the last look; *quit: stop. */
static struct xfer *
take_todo(struct smtp *sm, int *quit)
{
	struct xfer	*l;

	uv_mutex_lock(&sm->mu);
	l = xq_take(&sm->todo);
	*quit = sm->quit;
	uv_mutex_unlock(&sm->mu);
	return l;
}

/* Mail thread: puts the list l (linked by qnext) into the multi; what it
   refuses goes back at once. */
static void
add_new(struct smtp *sm, struct xfer *l)
{
	struct xfer	*x, *next;

	for (x = l; x; x = next) {
		next = x->qnext;
		if (libcurl.multi_add_handle(sm->multi, x->easy) != CURLM_OK) {
			release_easy(x);
			hand_back(sm, x, HB_NOSTART);
			continue;
		}
		x->tnext = sm->inflight;
		sm->inflight = x;
	}
}

static void
inflight_remove(struct smtp *sm, struct xfer *x)
{
	struct xfer	**pp;

	for (pp = &sm->inflight; *pp; pp = &(*pp)->tnext)
		if (*pp == x) {
			*pp = x->tnext;
			return;
		}
}

/* Mail thread: hands back each finished transfer with its result. */
static void
reap(struct smtp *sm)
{
	CURLMsg		*msg;
	struct xfer	*x;
	int		 left;

	while ((msg = libcurl.multi_info_read(sm->multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		x = NULL;
		libcurl.easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &x);
		x->rc = msg->data.result;	/* msg dies with the removal */
		x->code = 0;
		libcurl.easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE,
		    &x->code);
		libcurl.multi_remove_handle(sm->multi, x->easy);
		release_easy(x);
		inflight_remove(sm, x);
		hand_back(sm, x, HB_DONE);
	}
}

/* Mail thread: gives back the list l (linked by qnext) unstarted. */
static void
abandon_list(struct smtp *sm, struct xfer *l)
{
	struct xfer	*x, *next;

	for (x = l; x; x = next) {
		next = x->qnext;
		release_easy(x);
		hand_back(sm, x, HB_ABANDONED);
	}
}

/*
 * Mail thread, stopping: drops the transfers in flight and frees the
 * multi without waiting on any server. The sockets are cut first:
 * removing a transfer runs curl's SMTP done phase, which could send the
 * final "." of a partial message and wait for the reply, and the cleanup
 * sends QUIT on cached connections and waits (up to 120 s) for it.
 */
static void
thread_shutdown(struct smtp *sm)
{
	struct xfer	*x;

	uv_mutex_lock(&sm->mu);
	cut_sockets_locked(sm);
	uv_mutex_unlock(&sm->mu);
	while ((x = sm->inflight) != NULL) {
		sm->inflight = x->tnext;
		libcurl.multi_remove_handle(sm->multi, x->easy);
		release_easy(x);
		hand_back(sm, x, HB_ABANDONED);
	}
	libcurl.multi_cleanup(sm->multi);
}

/* The mail thread: runs the transfers until stop sets quit. */
static void
mail_thread(void *arg)
{
	struct smtp	*sm = arg;
	struct xfer	*l;
	int		 quit, running;

	for (;;) {
		l = take_todo(sm, &quit);
		if (quit) {
			abandon_list(sm, l);
			break;
		}
		add_new(sm, l);
		libcurl.multi_perform(sm->multi, &running);
		reap(sm);
		/* curl's own timeouts shorten the wait; the loop's
		   curl_multi_wakeup ends it. */
		if (libcurl.multi_poll(sm->multi, NULL, 0, THREAD_POLL_MS,
		    NULL) != CURLM_OK)
			uv_sleep(THREAD_POLL_MS);	/* never spin on an error */
	}
	thread_shutdown(sm);
}

/* ---- the loop's side ----------------------------------------------------- */

/* A reason for last_error: the server's code or curl's class of error,
   never the server's text (it may echo an address). */
static const char *
curl_reason(CURLcode rc, long code, char *b, size_t len)
{
	/* Before the code: 535 alone would not say what to fix. */
	if (rc == CURLE_LOGIN_DENIED)
		return "login denied; check username and password";
	if (code >= 400 && code < 600) {
		snprintf(b, len, "%ld from server", code);
		return b;
	}
	switch (rc) {
	case CURLE_USE_SSL_FAILED:
		return "TLS required but server offers no STARTTLS";
	case CURLE_COULDNT_CONNECT:
		return "cannot connect to server";
	case CURLE_COULDNT_RESOLVE_HOST:
		return "cannot resolve server name";
	case CURLE_OPERATION_TIMEDOUT:
		return "timed out";
	case CURLE_PEER_FAILED_VERIFICATION:
		return "server certificate not trusted";
	case CURLE_SSL_CONNECT_ERROR:
		return "TLS handshake failed";
	default:
		return libcurl.easy_strerror(rc);
	}
}

/* 5xx is permanent (except a refused login: that is our configuration,
   and retrying after the fix delivers); everything else is temporary. */
static void
classify(struct mail_send *s, CURLcode rc, long code)
{
	char	b[64];

	if (rc == CURLE_OK) {
		mail_done(s, MAIL_SENT, NULL);
		return;
	}
	mail_done(s, code >= 500 && code < 600 && rc != CURLE_LOGIN_DENIED ?
	    MAIL_PERMFAIL : MAIL_TEMPFAIL, curl_reason(rc, code, b,
	    sizeof(b)));
}

/* Loop: a transfer back from the mail thread ends its send. */
static void
take_in(struct xfer *x)
{
	struct mail_send	*s = x->s;
	enum handback		 how = x->handback;
	CURLcode		 rc = x->rc;
	long			 code = x->code;

	free(x);
	switch (how) {
	case HB_ABANDONED:
		mail_done(s, MAIL_ABANDONED, NULL);
		break;
	case HB_NOSTART:
		mail_done(s, MAIL_TEMPFAIL, "cannot set up the SMTP transfer");
		break;
	case HB_DONE:
		classify(s, rc, code);
		break;
	}
}

/* Loop: takes in what the mail thread handed back. */
static void
take_back(struct smtp *sm)
{
	struct xfer	*x, *next;

	uv_mutex_lock(&sm->mu);
	x = xq_take(&sm->done);
	uv_mutex_unlock(&sm->mu);
	for (; x; x = next) {
		next = x->qnext;
		take_in(x);
	}
}

static void
on_mail_done(uv_async_t *a)
{
	take_back(a->data);
}

static size_t
on_read(char *dst, size_t size, size_t nmemb, void *arg)
{
	struct xfer	*x = arg;
	size_t		 n = size * nmemb, left = x->s->bodylen - x->pos;

	if (n > left)
		n = left;
	memcpy(dst, x->s->body + x->pos, n);
	x->pos += n;
	return n;
}

static long
use_ssl(enum mail_tls tls)
{
	switch (tls) {
	case TLS_OPPORTUNISTIC:	return (long)CURLUSESSL_TRY;
	case TLS_OFF:		return (long)CURLUSESSL_NONE;
	default:		return (long)CURLUSESSL_ALL;
	}
}

/* The socket callbacks that list e's sockets for a stop to cut. Curl
   keeps them with the connection, so a cached one is covered too.
   Nonzero on failure. */
static int
set_sockets(CURL *e, struct smtp *sm)
{
	int	bad = 0;

	bad |= libcurl.easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION,
	    on_opensocket);
	bad |= libcurl.easy_setopt(e, CURLOPT_OPENSOCKETDATA, sm);
	bad |= libcurl.easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION,
	    on_closesocket);
	bad |= libcurl.easy_setopt(e, CURLOPT_CLOSESOCKETDATA, sm);
	return bad;
}

/* The easy handle of one message. 0 or -1. */
static int
setup_easy(struct xfer *x)
{
	const struct config	*cfg = x->sm->cfg;
	CURL			*e = x->easy;
	char			 from[ADDR_MAX + 3];
	long			 timeout = cfg->mail_timeout_ms ?
				    (long)cfg->mail_timeout_ms : 60000L;
	int			 bad = 0;

	snprintf(from, sizeof(from), "<%s>", cfg->from);
	bad |= libcurl.easy_setopt(e, CURLOPT_URL, cfg->url);
	bad |= libcurl.easy_setopt(e, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
	bad |= libcurl.easy_setopt(e, CURLOPT_USE_SSL, use_ssl(cfg->tls));
	if (cfg->ca_file)
		bad |= libcurl.easy_setopt(e, CURLOPT_CAINFO, cfg->ca_file);
	if (cfg->username && x->sm->password) {
		bad |= libcurl.easy_setopt(e, CURLOPT_USERNAME, cfg->username);
		bad |= libcurl.easy_setopt(e, CURLOPT_PASSWORD,
		    x->sm->password);
	}
	bad |= libcurl.easy_setopt(e, CURLOPT_MAIL_FROM, from);
	bad |= libcurl.easy_setopt(e, CURLOPT_MAIL_RCPT, x->rcpt);
	/* One refused staff address must not keep the others from it. */
	bad |= libcurl.easy_setopt(e, CURLOPT_MAIL_RCPT_ALLLOWFAILS, 1L);
	bad |= libcurl.easy_setopt(e, CURLOPT_UPLOAD, 1L);
	bad |= libcurl.easy_setopt(e, CURLOPT_INFILESIZE_LARGE,
	    (curl_off_t)x->s->bodylen);
	bad |= libcurl.easy_setopt(e, CURLOPT_READFUNCTION, on_read);
	bad |= libcurl.easy_setopt(e, CURLOPT_READDATA, x);
	bad |= libcurl.easy_setopt(e, CURLOPT_PRIVATE, x);
	bad |= libcurl.easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	/* A timed-out or removed transfer must not join a resolver thread
	   stuck in getaddrinfo (on the mail thread, which a stop joins):
	   detach it instead. */
	(void)libcurl.easy_setopt(e, CURLOPT_QUICK_EXIT, 1L);	/* 7.87+ */
	/* mail_timeout_ms bounds the whole SMTP transaction. */
	bad |= libcurl.easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, timeout);
	bad |= libcurl.easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout);
	return bad || set_sockets(e, x->sm) ? -1 : 0;
}

/* The RCPT list from the spooled envelope. 0 or -1. */
static int
setup_rcpts(struct xfer *x)
{
	struct curl_slist	*l;
	char			 b[ADDR_MAX + 3];
	size_t			 i;

	for (i = 0; i < x->s->nrcpt; i++) {
		snprintf(b, sizeof(b), "<%s>", x->s->rcpt[i]);
		if ((l = libcurl.slist_append(x->rcpt, b)) == NULL)
			return -1;
		x->rcpt = l;
	}
	return 0;
}

/* Sets up the easy handle here (no I/O) and hands the transfer to the
   mail thread, which runs it and hands it back. */
static void
smtp_send(void *state, struct mail_send *s)
{
	struct smtp	*sm = state;
	struct xfer	*x;

	if ((x = calloc(1, sizeof(*x))) == NULL) {
		mail_done(s, MAIL_TEMPFAIL, "out of memory");
		return;
	}
	x->sm = sm;
	x->s = s;
	if ((x->easy = libcurl.easy_init()) == NULL || setup_rcpts(x) == -1 ||
	    setup_easy(x) == -1) {
		release_easy(x);
		free(x);
		mail_done(s, MAIL_TEMPFAIL, "cannot set up the SMTP transfer");
		return;
	}
	uv_mutex_lock(&sm->mu);
	xq_push(&sm->todo, x);
	/* Under mu: the thread frees the multi only after it saw quit
	   under mu, so the multi is alive here. */
	libcurl.multi_wakeup(sm->multi);
	uv_mutex_unlock(&sm->mu);
}

/* ---- start and stop ------------------------------------------------------ */

static void
smtp_free(void *state)
{
	struct smtp	*sm = state;
	struct msock	*k;

	if (sm->multi)		/* the mail thread never ran */
		libcurl.multi_cleanup(sm->multi);
	while ((k = sm->msocks) != NULL) {	/* none: curl closed them */
		sm->msocks = k->next;
		free(k);
	}
	if (sm->mu_inited)
		uv_mutex_destroy(&sm->mu);
	if (sm->curl_inited)
		libcurl.global_cleanup();
	secret_free(sm->password);
	free(sm);
}

/* Tells the mail thread to stop and wakes it. The cut sockets also end
   a wait inside curl (the reply to "." in its blocking done phase) at
   once, instead of after up to [mail] timeout. */
static void
tell_quit(struct smtp *sm)
{
	uv_mutex_lock(&sm->mu);
	sm->quit = 1;
	cut_sockets_locked(sm);
	libcurl.multi_wakeup(sm->multi);	/* alive: see smtp_send */
	uv_mutex_unlock(&sm->mu);
}

/*
 * The mutex, the mail thread and the async handle it wakes the loop
 * with. 0 or ERR_NOMEM; on failure no thread runs and no handle is open.
 */
static int
start_thread(struct smtp *sm)
{
	if (uv_mutex_init(&sm->mu) != 0)
		return ERR_NOMEM;
	sm->mu_inited = 1;
	xq_init(&sm->todo);
	xq_init(&sm->done);
	/* The thread touches async only to hand back a transfer, and none
	   is queued before start returns. */
	if (uv_thread_create(&sm->thread, mail_thread, sm) != 0)
		return ERR_NOMEM;
	if (uv_async_init(sm->loop, &sm->async, on_mail_done) != 0) {
		tell_quit(sm);
		uv_thread_join(&sm->thread);
		sm->multi = NULL;	/* the thread freed it */
		return ERR_NOMEM;
	}
	sm->async.data = sm;
	sm->async_open = 1;
	sm->thread_started = 1;
	return 0;
}

static int
smtp_start(uv_loop_t *loop, struct mailer *m, const struct config *cfg,
    void **state, struct diag *d)
{
	struct smtp	*sm;
	const char	*why;
	long		 n = cfg->mail_parallel ? (long)cfg->mail_parallel : 1;
	int		 r;

	(void)m;
	*state = NULL;
	if ((sm = calloc(1, sizeof(*sm))) == NULL)
		return ERR_NOMEM;
	sm->loop = loop;
	sm->cfg = cfg;
	if ((r = load_password(cfg, &sm->password, d)) != 0)
		goto fail;
	if ((why = libcurl_open()) != NULL) {
		diag(d, cfg->path ? cfg->path : "config", 0, "%s", why);
		r = ERR_CONFIG;
		goto fail;
	}
	r = ERR_NOMEM;
	if (libcurl.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		goto fail;
	sm->curl_inited = 1;
	if ((sm->multi = libcurl.multi_init()) == NULL)
		goto fail;
	libcurl.multi_setopt(sm->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, n);
	libcurl.multi_setopt(sm->multi, CURLMOPT_MAXCONNECTS, n);
	if ((r = start_thread(sm)) != 0)
		goto fail;
	*state = sm;
	return 0;
fail:
	smtp_free(sm);
	return r;
}

/* The callback may free sm: nothing of sm is touched after it. */
static void
maybe_stopped(struct smtp *sm)
{
	void	(*cb)(void *) = sm->stop_cb;

	if (!sm->stopping || sm->joining || sm->async_open || cb == NULL)
		return;
	sm->stop_cb = NULL;
	cb(sm->stop_arg);
}

static void
async_closed(uv_handle_t *h)
{
	struct smtp	*sm = h->data;

	sm->async_open = 0;
	maybe_stopped(sm);
}

/* Threadpool: waits for the mail thread, so that even a slow curl
   cleanup never holds the loop. */
static void
join_work(uv_work_t *w)
{
	struct smtp	*sm = w->data;

	uv_thread_join(&sm->thread);
}

/* Loop: the mail thread is gone. Takes in its last transfers (abandoned,
   or finished just before the stop), then closes async. */
static void
join_after(uv_work_t *w, int status)
{
	struct smtp	*sm = w->data;

	(void)status;
	sm->joining = 0;
	sm->thread_started = 0;
	sm->multi = NULL;	/* the thread freed it */
	take_back(sm);
	uv_close((uv_handle_t *)&sm->async, async_closed);
}

static void
smtp_stop(void *state, void (*done)(void *), void *arg)
{
	struct smtp	*sm = state;

	sm->stopping = 1;
	sm->stop_cb = done;
	sm->stop_arg = arg;
	tell_quit(sm);
	sm->joining = 1;
	sm->join.data = sm;
	if (uv_queue_work(sm->loop, &sm->join, join_work, join_after) != 0) {
		join_work(&sm->join);	/* only if the loop is unusable */
		join_after(&sm->join, 0);
	}
}

const struct mail_tx mail_smtp = {
	.name = "smtp",
	.check = smtp_check,
	.start = smtp_start,
	.send = smtp_send,
	.stop = smtp_stop,
	.free = smtp_free,
};
