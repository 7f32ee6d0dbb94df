/*
 * http.c driven in-process: a real libuv loop, real sockets, handlers
 * that hold a request the way a submission waiting for its COMMIT does or
 * answer at once. Each test ends by proving the loop closed cleanly.
 */
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <uv.h>

#include "http.h"
#include "testutil.h"

struct fixture {
	uv_loop_t		 loop;
	struct http_limits	 lim;
	char			 dir[32], path[64], spec[80];
	char			*listen[1];
	struct http_server	*srv;
	struct http_req		*held;
	uv_timer_t		 kick, answer;
	int			 client;
	int			 stopped;
	unsigned		 answer_ms;	/* after the drain starts */
};

static struct fixture F;

static void
on_request(struct http_req *req, void *arg)
{
	(void)arg;
	F.held = req;
}

static void
on_stopped(void *arg)
{
	(void)arg;
	F.stopped = 1;
}

static void
answer(uv_timer_t *t)
{
	ck_assert_int_eq(http_respond(F.held, 201, "application/json", NULL,
	    0, "{}", 2), 0);
	uv_close((uv_handle_t *)t, NULL);
}

/* Once the request is held: SIGTERM's shutdown, and the late answer. */
static void
kick(uv_timer_t *t)
{
	if (F.held == NULL)
		return;
	uv_timer_stop(t);
	uv_close((uv_handle_t *)t, NULL);
	http_server_shutdown(F.srv, on_stopped, NULL);
	uv_timer_start(&F.answer, answer, F.answer_ms, 0);
}

static void
setup(void)
{
	struct sockaddr_un	sun = { .sun_family = AF_UNIX };
	struct http_handler	h = { .request = on_request };
	const char		*req = "GET /x HTTP/1.1\r\nHost: x\r\n\r\n";

	memset(&F, 0, sizeof(F));
	ck_assert_ptr_nonnull(tu_tmpdir(F.dir, sizeof(F.dir), "check_http"));
	snprintf(F.path, sizeof(F.path), "%s/s", F.dir);
	snprintf(F.spec, sizeof(F.spec), "unix:%s", F.path);
	F.listen[0] = F.spec;
	F.lim.max_connections = 8;
	F.lim.header_timeout_ms = F.lim.body_timeout_ms = 5000;
	F.lim.idle_timeout_ms = 5000;
	F.lim.shutdown_timeout_ms = 50;
	F.lim.max_header_bytes = 4096;
	F.lim.max_body_bytes = 4096;
	F.lim.memory_budget = 1 << 20;
	ck_assert_int_eq(uv_loop_init(&F.loop), 0);
	ck_assert_int_eq(http_server_start(&F.loop, F.listen, 1, NULL, 0,
	    &F.lim, &h, &F.srv), 0);
	F.client = socket(AF_UNIX, SOCK_STREAM, 0);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", F.path);
	ck_assert_int_eq(connect(F.client, (struct sockaddr *)&sun,
	    sizeof(sun)), 0);
	ck_assert_int_eq(write(F.client, req, strlen(req)),
	    (ssize_t)strlen(req));
	uv_timer_init(&F.loop, &F.kick);
	uv_timer_init(&F.loop, &F.answer);
	uv_timer_start(&F.kick, kick, 1, 1);
}

static void
teardown(void)
{
	close(F.client);
	tu_rmtree(F.dir);
}

static void
run_to_end(void)
{
	ck_assert_int_eq(uv_run(&F.loop, UV_RUN_DEFAULT), 0);
	ck_assert_int_eq(F.stopped, 1);
	ck_assert_int_eq(uv_loop_close(&F.loop), 0);
}

/*
 * The drain timer closes the held connection and the answer comes in the
 * same loop turn, before the close callbacks ran: the connection must be
 * freed exactly once, after both (this was a use-after-free).
 */
START_TEST(drain_close_and_answer_in_one_turn)
{
	F.answer_ms = 50;	/* due with the 50 ms drain timer */
	run_to_end();
}
END_TEST

/* The answer comes long after the connection was closed by the drain. */
START_TEST(answer_after_drain_closed_the_connection)
{
	F.answer_ms = 300;
	run_to_end();
}
END_TEST

/* The answer comes before the drain timer: the client gets it, with
   Connection: close, and the server stops without waiting for the timer. */
START_TEST(answer_before_drain_timer_reaches_the_client)
{
	char	buf[512];
	ssize_t	n;

	F.answer_ms = 1;
	F.lim.shutdown_timeout_ms = 5000;
	ck_assert_int_eq(http_server_set_limits(F.srv, &F.lim), 0);
	run_to_end();
	n = read(F.client, buf, sizeof(buf) - 1);
	ck_assert_int_gt(n, 0);
	buf[n] = '\0';
	ck_assert_ptr_nonnull(strstr(buf, "HTTP/1.1 201 Created\r\n"));
	ck_assert_ptr_nonnull(strstr(buf, "Connection: close\r\n"));
}
END_TEST

/*
 * Two servers on one loop, as the public and the admin listener will be:
 * each on its own 127.0.0.1 socket (passed in as systemd would), with its
 * own handler and limits. A client thread makes the exchanges with
 * bounded waits, then wakes the loop to shut both down.
 */
#define NEX	8

struct exchange {
	int		 srv;		/* 0 or 1 */
	const char	*head;		/* the request's head */
	size_t		 body;		/* then this many 'x' bytes */
	const char	*status;	/* the answer expected: status line */
	const char	*text;		/* and body */
	char		 got[512];	/* the answer, as much as fits */
};

struct pair {
	uv_loop_t		 loop;
	struct http_limits	 lim[2];
	struct http_server	*srv[2];
	int			 port[2];
	uv_async_t		 wake;
	uv_timer_t		 resume;
	struct http_req		*paused;
	size_t			 streamed;
	struct exchange		 ex[NEX];
	size_t			 nex;
	unsigned		 stopped;
};

static struct pair P;

/* Answers with its own name and what it read, so a test sees who did. */
static void
pair_request(struct http_req *req, void *arg)
{
	char	b[64];
	int	n;

	n = snprintf(b, sizeof(b), "%s %s %zu", (const char *)arg,
	    http_req_path(req), P.paused == req ? P.streamed :
	    http_req_body_len(req));
	P.paused = NULL;
	ck_assert_int_eq(http_respond(req, 200, "text/plain", NULL, 0, b,
	    (size_t)n), 0);
}

/* Paths under /stream are streamed, every piece pausing the reading for
   a loop turn, as a staged upload does while the threadpool writes. */
static int
pair_headers(struct http_req *req, void *arg)
{
	(void)arg;
	if (strncmp(http_req_path(req), "/stream", 7) == 0) {
		P.streamed = 0;
		P.paused = req;
		http_req_stream(req, 1 << 20);
	}
	return 0;
}

static void
pair_resume(uv_timer_t *t)
{
	(void)t;
	http_req_resume(P.paused);
}

static int
pair_body(struct http_req *req, const char *p, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	ck_assert_ptr_eq(req, P.paused);
	ck_assert_uint_gt(n, 0);
	P.streamed += n;
	uv_timer_start(&P.resume, pair_resume, 0, 0);
	return HTTP_BODY_PAUSE;
}

static void
pair_stopped(void *arg)
{
	(void)arg;
	P.stopped++;
}

static void
pair_wake(uv_async_t *a)
{
	http_server_shutdown(P.srv[0], pair_stopped, NULL);
	http_server_shutdown(P.srv[1], pair_stopped, NULL);
	uv_close((uv_handle_t *)&P.resume, NULL);
	uv_close((uv_handle_t *)a, NULL);
}

static int
listen_local(int *port)
{
	struct sockaddr_in	sin = { .sin_family = AF_INET };
	socklen_t		len = sizeof(sin);
	int			fd;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(listen(fd, 16), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	*port = ntohs(sin.sin_port);
	return fd;
}

static void
pair_setup(void)
{
	static const char	*names[2] = { "public", "admin" };
	struct http_handler	 h = { .request = pair_request,
				    .headers = pair_headers,
				    .body = pair_body };
	size_t			 i;
	int			 fd;

	memset(&P, 0, sizeof(P));
	ck_assert_int_eq(uv_loop_init(&P.loop), 0);
	for (i = 0; i < 2; i++) {
		P.lim[i].max_connections = 8;
		P.lim[i].header_timeout_ms = P.lim[i].body_timeout_ms = 5000;
		P.lim[i].idle_timeout_ms = 5000;
		P.lim[i].shutdown_timeout_ms = 1000;
		P.lim[i].max_header_bytes = 4096;
		P.lim[i].memory_budget = 1 << 20;
	}
	P.lim[0].max_body_bytes = 1024;
	P.lim[1].max_body_bytes = 8192;
	for (i = 0; i < 2; i++) {
		fd = listen_local(&P.port[i]);
		h.arg = (void *)names[i];
		ck_assert_int_eq(http_server_start(&P.loop, NULL, 0, &fd, 1,
		    &P.lim[i], &h, &P.srv[i]), 0);
	}
	/* The servers copied their limits: changing ours must not matter. */
	P.lim[0].max_body_bytes = P.lim[1].max_body_bytes = 1;
	uv_async_init(&P.loop, &P.wake, pair_wake);
	uv_timer_init(&P.loop, &P.resume);
}

static void
pair_add(int srv, const char *head, size_t body, const char *status,
    const char *text)
{
	ck_assert_uint_lt(P.nex, NEX);
	P.ex[P.nex].srv = srv;
	P.ex[P.nex].head = head;
	P.ex[P.nex].body = body;
	P.ex[P.nex].status = status;
	P.ex[P.nex].text = text;
	P.nex++;
}

/* One request on a fresh connection; reads until the server closes. */
static void
client_exchange(struct exchange *e)
{
	struct sockaddr_in	sin = { .sin_family = AF_INET };
	struct timeval		tv = { 5, 0 };
	char			body[16384];
	size_t			off = 0;
	ssize_t			n;
	int			fd;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)P.port[e->srv]);
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	memset(body, 'x', sizeof(body));
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
	    send(fd, e->head, strlen(e->head), MSG_NOSIGNAL) > 0 &&
	    (e->body == 0 || send(fd, body, e->body, MSG_NOSIGNAL) > 0))
		while (off < sizeof(e->got) - 1 && (n = recv(fd, e->got + off,
		    sizeof(e->got) - 1 - off, 0)) > 0)
			off += (size_t)n;
	e->got[off] = '\0';
	close(fd);
}

static void *
client_main(void *arg)
{
	size_t	i;

	(void)arg;
	for (i = 0; i < P.nex; i++)
		client_exchange(&P.ex[i]);
	uv_async_send(&P.wake);
	return NULL;
}

/* Makes the exchanges, stops both servers, and checks every answer. */
static void
pair_run(void)
{
	const struct exchange	*e;
	const char		*eoh;
	pthread_t		 t;
	size_t			 i;

	ck_assert_int_eq(pthread_create(&t, NULL, client_main, NULL), 0);
	ck_assert_int_eq(uv_run(&P.loop, UV_RUN_DEFAULT), 0);
	pthread_join(t, NULL);
	ck_assert_uint_eq(P.stopped, 2);
	ck_assert_int_eq(uv_loop_close(&P.loop), 0);
	for (i = 0; i < P.nex; i++) {
		e = &P.ex[i];
		eoh = strstr(e->got, "\r\n\r\n");
		ck_assert_msg(strncmp(e->got, e->status, strlen(e->status)) ==
		    0 && eoh && strcmp(eoh + 4, e->text) == 0,
		    "exchange %zu: %s", i, e->got);
	}
}

#define POST(path, len) "POST " path " HTTP/1.1\r\nHost: example.com\r\n" \
	"Connection: close\r\nContent-Length: " #len "\r\n\r\n"

#define OK	"HTTP/1.1 200 "
#define BAD	"HTTP/1.1 400 ", "malformed request"
#define TOOBIG	"HTTP/1.1 413 ", "request body too large"

START_TEST(two_servers_keep_their_own_limits_and_handlers)
{
	pair_add(0, POST("/f", 2000), 2000, TOOBIG);
	pair_add(1, POST("/f", 2000), 2000, OK, "admin /f 2000");
	pair_add(0, POST("/g", 500), 500, OK, "public /g 500");
	pair_add(1, POST("/inbox", 8000), 8000, OK, "admin /inbox 8000");
	pair_add(1, POST("/inbox", 9000), 9000, TOOBIG);
	pair_run();
}
END_TEST

/* A reload's new limits reach one server and leave the other alone. */
START_TEST(set_limits_changes_one_server_only)
{
	P.lim[0].max_body_bytes = 16384;
	ck_assert_int_eq(http_server_set_limits(P.srv[0], &P.lim[0]), 0);
	P.lim[0].max_body_bytes = 0;
	ck_assert_int_eq(http_server_set_limits(P.srv[0], &P.lim[0]),
	    ERR_INVAL);
	pair_add(0, POST("/f", 9000), 9000, OK, "public /f 9000");
	pair_add(1, POST("/f", 9000), 9000, TOOBIG);
	pair_run();
}
END_TEST

/* llhttp refuses what http-parser let through: these get 400 now. */
START_TEST(whitespace_before_a_colon_is_400)
{
	pair_add(0, "GET /a HTTP/1.1\r\nHost : example.com\r\n\r\n", 0, BAD);
	pair_add(1, "GET /b HTTP/1.1\r\nHost: example.com\r\n"
	    "X-A\t: 1\r\n\r\n", 0, BAD);
	pair_add(0, "GET /c HTTP/1.1\nHost: example.com\n\n", 0, BAD);
	pair_add(1, "GET /d HTTP/1.1\r\n: example.com\r\n\r\n", 0, BAD);
	pair_add(0, "GET /e HTTP/1.1\r\nHost: example.com\r\n"
	    "Connection: close\r\n\r\n", 0, OK, "public /e 0");
	pair_run();
}
END_TEST

/*
 * A streamed body whose last piece pauses the reading: the request must
 * still complete on resume, though no byte is left to parse (it hung until
 * the body timeout, and every small upload with it).
 */
START_TEST(streamed_body_paused_on_its_last_byte_completes)
{
	pair_add(0, POST("/stream", 1), 1, OK, "public /stream 1");
	pair_add(0, POST("/stream", 3000), 3000, OK, "public /stream 3000");
	pair_add(0, POST("/stream", 16384), 16384, OK,
	    "public /stream 16384");
	pair_add(0, POST("/f", 10), 10, OK, "public /f 10");
	pair_run();
}
END_TEST

/*
 * The per-IP cap and the memory budget, driven from this thread: the
 * clients are non-blocking sockets from several loopback addresses, and
 * the loop turns (UV_RUN_NOWAIT) until what a test waits for is true, for
 * at most 5 s, so every count can be checked at the moment it matters.
 */
struct lfix {
	uv_loop_t		 loop;
	struct http_limits	 lim;
	struct cidr		 proxy;
	struct http_server	*srv;
	int			 port;
	struct http_req		*held[4];
	size_t			 nheld;
	int			 stopped;
};

static struct lfix L;

/* /hold* is kept for the test to answer, /stream* streamed, else "ok". */
static void
lim_request(struct http_req *req, void *arg)
{
	(void)arg;
	if (strncmp(http_req_path(req), "/hold", 5) == 0) {
		ck_assert_uint_lt(L.nheld, 4);
		L.held[L.nheld++] = req;
		return;
	}
	ck_assert_int_eq(http_respond(req, 200, "text/plain", NULL, 0, "ok",
	    2), 0);
}

static int
lim_headers(struct http_req *req, void *arg)
{
	(void)arg;
	if (strncmp(http_req_path(req), "/stream", 7) == 0)
		http_req_stream(req, 1 << 20);
	return 0;
}

static int
lim_body(struct http_req *req, const char *p, size_t n, void *arg)
{
	(void)req;
	(void)p;
	(void)n;
	(void)arg;
	return HTTP_BODY_MORE;
}

static void
lim_stopped(void *arg)
{
	(void)arg;
	L.stopped = 1;
}

static void
lim_start(void)
{
	struct http_handler	h = { .request = lim_request,
				    .headers = lim_headers, .body = lim_body };
	int			fd;

	fd = listen_local(&L.port);
	ck_assert_int_eq(http_server_start(&L.loop, NULL, 0, &fd, 1, &L.lim,
	    &h, &L.srv), 0);
}

static void
lim_setup(void)
{
	memset(&L, 0, sizeof(L));
	ck_assert_int_eq(uv_loop_init(&L.loop), 0);
	L.lim.max_connections = 8;
	L.lim.max_conns_per_ip = 2;
	L.lim.header_timeout_ms = L.lim.body_timeout_ms = 5000;
	L.lim.idle_timeout_ms = 5000;
	L.lim.shutdown_timeout_ms = 100;
	L.lim.max_header_bytes = 4096;
	L.lim.max_body_bytes = 8192;
	L.lim.memory_budget = 1 << 20;
}

static uint64_t
now_ms(void)
{
	return uv_hrtime() / 1000000;
}

/* Turns the loop until cond holds; fails the test after 5 s. */
#define SPIN(cond) do {							\
	uint64_t end_ = now_ms() + 5000;				\
	while (!(cond)) {						\
		ck_assert_msg(now_ms() < end_, "timed out: %s", #cond);	\
		uv_run(&L.loop, UV_RUN_NOWAIT);				\
		usleep(500);						\
	}								\
} while (0)

/* The server stops; every count it kept must be back to nothing. */
static void
lim_end(void)
{
	SPIN(http_server_connections(L.srv) == 0);
	ck_assert_uint_eq(http_server_memory(L.srv), 0);
	http_server_shutdown(L.srv, lim_stopped, NULL);
	ck_assert_int_eq(uv_run(&L.loop, UV_RUN_DEFAULT), 0);
	ck_assert_int_eq(L.stopped, 1);
	ck_assert_int_eq(uv_loop_close(&L.loop), 0);
}

/* A client from src (127.0.0.x), connected, non-blocking. */
static int
cl_connect(const char *src)
{
	struct sockaddr_in	sin = { .sin_family = AF_INET };
	int			fd;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	inet_pton(AF_INET, src, &sin.sin_addr);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)L.port);
	/* Blocking: the kernel completes it from the backlog. */
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
	return fd;
}

static void
cl_send(int fd, const void *p, size_t n)
{
	const char	*s = p;
	ssize_t		 w;

	while (n > 0) {
		SPIN((w = send(fd, s, n, MSG_NOSIGNAL)) > 0 ||
		    (errno != EAGAIN && errno != EINTR));
		ck_assert_int_gt(w, 0);
		s += w;
		n -= (size_t)w;
	}
}

static void
cl_puts(int fd, const char *s)
{
	cl_send(fd, s, strlen(s));
}

/* Reads what has come; 1 at EOF, -errno on an error (a reset). */
static int
cl_read(int fd, char *buf, size_t len, size_t *off)
{
	ssize_t	n = recv(fd, buf + *off, len - 1 - *off, 0);

	if (n > 0) {
		*off += (size_t)n;
		buf[*off] = '\0';
		return 0;
	}
	if (n == 0)
		return 1;
	return errno == EAGAIN ? 0 : -errno;
}

/* Whether buf holds a whole answer (framed by Content-Length). */
static int
answer_done(const char *buf, size_t len)
{
	const char	*eoh = strstr(buf, "\r\n\r\n"), *cl;

	if (eoh == NULL || (cl = strstr(buf, "Content-Length: ")) == NULL)
		return 0;
	return (size_t)(eoh + 4 - buf) + strtoul(cl + 16, NULL, 10) <= len;
}

/* One whole answer into buf; it must come without an error. */
static void
cl_answer(int fd, char *buf, size_t len)
{
	size_t	off = 0;
	int	rc = 0;

	buf[0] = '\0';
	SPIN((rc = cl_read(fd, buf, len, &off)) != 0 ||
	    answer_done(buf, off));
	ck_assert_msg(rc >= 0, "read: %s", strerror(-rc));
	ck_assert_msg(answer_done(buf, off), "no whole answer: %s", buf);
}

/* The server closes: EOF, not a reset. */
static void
cl_eof(int fd)
{
	char	buf[512];
	size_t	off = 0;
	int	rc = 0;

	SPIN((off = 0, rc = cl_read(fd, buf, sizeof(buf), &off)) != 0);
	ck_assert_msg(rc == 1, "not an EOF: %s", strerror(-rc));
}

static void
cl_get_ok(int fd)
{
	char	buf[1024];

	cl_puts(fd, "GET /x HTTP/1.1\r\nHost: x\r\n\r\n");
	cl_answer(fd, buf, sizeof(buf));
	ck_assert_msg(strncmp(buf, "HTTP/1.1 200 ", 13) == 0, "%s", buf);
}

/* A 503 of ours: Retry-After, a short body, and the connection closes. */
static void
assert_busy(const char *buf, const char *text)
{
	ck_assert_msg(strncmp(buf, "HTTP/1.1 503 ", 13) == 0, "%s", buf);
	ck_assert_ptr_nonnull(strstr(buf, "\r\nRetry-After: 5\r\n"));
	ck_assert_ptr_nonnull(strstr(buf, "\r\nConnection: close\r\n"));
	ck_assert_ptr_nonnull(strstr(buf, text));
}

START_TEST(per_ip_cap_counts_the_peer_address_exactly)
{
	char	buf[1024];
	int	a, b, c, d, e;

	lim_start();
	a = cl_connect("127.0.0.1");
	b = cl_connect("127.0.0.1");
	cl_get_ok(a);
	cl_get_ok(b);
	ck_assert_uint_eq(http_server_connections_from(L.srv, "127.0.0.1"),
	    2);
	/* The third from that address is turned away, and does not count. */
	c = cl_connect("127.0.0.1");
	cl_answer(c, buf, sizeof(buf));
	assert_busy(buf, "too many connections from this address");
	cl_eof(c);
	ck_assert_uint_eq(http_server_connections_from(L.srv, "127.0.0.1"),
	    2);
	ck_assert_uint_eq(http_server_connections(L.srv), 2);
	/* Another address has its own count. */
	d = cl_connect("127.0.0.2");
	cl_get_ok(d);
	ck_assert_uint_eq(http_server_connections_from(L.srv, "127.0.0.2"),
	    1);
	/* A place freed is a place taken again. */
	close(a);
	SPIN(http_server_connections_from(L.srv, "127.0.0.1") == 1);
	e = cl_connect("127.0.0.1");
	cl_get_ok(e);
	ck_assert_uint_eq(http_server_connections_from(L.srv, "127.0.0.1"),
	    2);
	close(b);
	close(c);
	close(d);
	close(e);
	SPIN(http_server_connections_from(L.srv, "127.0.0.1") == 0);
	ck_assert_uint_eq(http_server_connections_from(L.srv, "127.0.0.2"),
	    0);
	lim_end();
}
END_TEST

/*
 * A client turned away that had already sent a request with a body reads
 * the 503, then an EOF: what it sent was drained, so closing did not
 * reset the connection under the answer. The same for the global cap;
 * neither kind of refusal takes a served client's place.
 */
START_TEST(turned_away_clients_read_their_answer)
{
	char	big[6000], buf[1024];
	int	a, b, c, d;

	memset(big, 'x', sizeof(big));
	L.lim.max_connections = 2;
	L.lim.max_conns_per_ip = 1;
	lim_start();
	a = cl_connect("127.0.0.1");
	cl_get_ok(a);
	b = cl_connect("127.0.0.1");
	cl_puts(b, "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 6000\r\n"
	    "\r\n");
	cl_send(b, big, sizeof(big));
	cl_answer(b, buf, sizeof(buf));
	assert_busy(buf, "too many connections from this address");
	c = cl_connect("127.0.0.2");
	cl_get_ok(c);
	ck_assert_uint_eq(http_server_connections(L.srv), 2);
	d = cl_connect("127.0.0.3");
	cl_puts(d, "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 6000\r\n"
	    "\r\n");
	cl_send(d, big, sizeof(big));
	cl_answer(d, buf, sizeof(buf));
	assert_busy(buf, "too many connections;");
	cl_eof(b);
	cl_eof(d);
	ck_assert_uint_eq(http_server_connections(L.srv), 2);
	ck_assert_uint_eq(http_server_connections_from(L.srv, "127.0.0.3"),
	    0);
	close(a);
	close(b);
	close(c);
	close(d);
	lim_end();
}
END_TEST

/* A trusted proxy speaks for many clients: it is not capped, nor is a
   Unix socket peer (the proxy's channel). */
START_TEST(proxies_and_unix_peers_are_not_counted)
{
	struct sockaddr_un	 sun = { .sun_family = AF_UNIX };
	struct http_server	*usrv;
	struct http_handler	 h = { .request = lim_request };
	char			 dir[32], spec[80], *listen[1] = { spec };
	const char		*why;
	int			 fd[3], u[3], i;

	ck_assert_int_eq(net_parse_cidr("127.0.0.3", &L.proxy, &why), 0);
	L.lim.trusted_proxies = &L.proxy;
	L.lim.ntrusted_proxies = 1;
	L.lim.max_conns_per_ip = 1;
	lim_start();
	ck_assert_ptr_nonnull(tu_tmpdir(dir, sizeof(dir), "check_http"));
	snprintf(spec, sizeof(spec), "unix:%s/s", dir);
	ck_assert_int_eq(http_server_start(&L.loop, listen, 1, NULL, 0, &L.lim,
	    &h, &usrv), 0);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/s", dir);
	for (i = 0; i < 3; i++) {
		fd[i] = cl_connect("127.0.0.3");
		cl_get_ok(fd[i]);
		u[i] = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		ck_assert_int_eq(connect(u[i], (struct sockaddr *)&sun,
		    sizeof(sun)), 0);
		ck_assert_int_eq(fcntl(u[i], F_SETFL, O_NONBLOCK), 0);
		cl_get_ok(u[i]);
	}
	ck_assert_uint_eq(http_server_connections(L.srv), 3);
	ck_assert_uint_eq(http_server_connections(usrv), 3);
	ck_assert_uint_eq(http_server_connections_from(L.srv, "127.0.0.3"),
	    0);
	for (i = 0; i < 3; i++) {
		close(fd[i]);
		close(u[i]);
	}
	SPIN(http_server_connections(usrv) == 0);
	http_server_shutdown(usrv, NULL, NULL);
	lim_end();
	tu_rmtree(dir);
}
END_TEST

/* A connection leaves its peer's count and the budget however it ends:
   a timeout, a refused request, an answer with close, the client going
   away in the middle of a head or a body. */
START_TEST(counts_come_back_on_every_path)
{
	char	buf[1024];
	int	fd;

	L.lim.header_timeout_ms = L.lim.idle_timeout_ms = 300;
	L.lim.body_timeout_ms = 300;
	lim_start();
	fd = cl_connect("127.0.0.1");		/* idle: timed out */
	SPIN(http_server_connections_from(L.srv, "127.0.0.1") == 1);
	cl_eof(fd);
	close(fd);
	fd = cl_connect("127.0.0.1");		/* a body timed out: 408 */
	cl_puts(fd, "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 3000\r\n"
	    "\r\nabc");
	SPIN(http_server_memory(L.srv) > 3000);
	cl_answer(fd, buf, sizeof(buf));
	ck_assert_msg(strncmp(buf, "HTTP/1.1 408 ", 13) == 0, "%s", buf);
	ck_assert_uint_eq(http_server_memory(L.srv), 0);
	close(fd);
	fd = cl_connect("127.0.0.1");		/* garbage: 400 */
	cl_puts(fd, "HELLO\r\n\r\n");
	cl_answer(fd, buf, sizeof(buf));
	ck_assert_msg(strncmp(buf, "HTTP/1.1 400 ", 13) == 0, "%s", buf);
	cl_eof(fd);
	close(fd);
	fd = cl_connect("127.0.0.1");		/* answered, then closed */
	cl_puts(fd, "POST /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
	    "Content-Length: 3\r\n\r\nabc");
	cl_answer(fd, buf, sizeof(buf));
	ck_assert_uint_eq(http_server_memory(L.srv), 0);
	cl_eof(fd);
	close(fd);
	fd = cl_connect("127.0.0.1");		/* gone in the head */
	cl_puts(fd, "GET /x HTTP/1.1\r\nHost: x\r\nX-A: ");
	SPIN(http_server_memory(L.srv) > 0);
	close(fd);
	SPIN(http_server_memory(L.srv) == 0);
	fd = cl_connect("127.0.0.1");		/* gone in the body */
	cl_puts(fd, "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 3000\r\n"
	    "\r\nabc");
	SPIN(http_server_memory(L.srv) > 3000);
	close(fd);
	SPIN(http_server_memory(L.srv) == 0);
	SPIN(http_server_connections_from(L.srv, "127.0.0.1") == 0);
	lim_end();
}
END_TEST

/*
 * The budget is exact: what the server holds is what the buffers hold
 * (a declared body exactly, the head from its first 1 KiB). A body that
 * does not fit what is left is refused before it is read; a chunked one
 * when it outgrows it; an answer gives the bytes back at once.
 */
START_TEST(memory_budget_is_exact_and_refuses_with_503)
{
	char	buf[1024], chunk[1100];
	int	a, b, c, d, i;

	L.lim.max_conns_per_ip = 0;
	L.lim.memory_budget = 12000;
	lim_start();
	a = cl_connect("127.0.0.1");
	cl_puts(a, "POST /hold HTTP/1.1\r\nHost: x\r\nContent-Length: 6000\r\n"
	    "\r\n");
	SPIN(http_server_memory(L.srv) == 1024 + 6001);
	memset(chunk, 'x', sizeof(chunk));
	cl_send(a, chunk, 1000);
	for (i = 0; i < 5; i++)
		cl_send(a, chunk, 1000);
	SPIN(L.nheld == 1);
	ck_assert_uint_eq(http_server_memory(L.srv), 1024 + 6001);
	/* 1024 + 4001 more do not fit in the 3951 left: 503, no body read. */
	b = cl_connect("127.0.0.1");
	cl_puts(b, "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 4000\r\n"
	    "Expect: 100-continue\r\n\r\n");
	cl_answer(b, buf, sizeof(buf));
	assert_busy(buf, "busy");
	ck_assert_uint_eq(http_server_memory(L.srv), 1024 + 6001);
	/* A chunked body grows until it would not fit. */
	c = cl_connect("127.0.0.1");
	cl_puts(c, "POST /x HTTP/1.1\r\nHost: x\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n");
	for (i = 0; i < 4; i++) {
		cl_puts(c, "3e8\r\n");
		cl_send(c, chunk, 1000);
		cl_puts(c, "\r\n");
	}
	cl_answer(c, buf, sizeof(buf));
	assert_busy(buf, "busy");
	ck_assert_uint_eq(http_server_memory(L.srv), 1024 + 6001);
	/* A streamed body is not counted, however large. */
	d = cl_connect("127.0.0.1");
	cl_puts(d, "POST /stream HTTP/1.1\r\nHost: x\r\n"
	    "Content-Length: 20000\r\n\r\n");
	for (i = 0; i < 20; i++)
		cl_send(d, chunk, 1000);
	cl_answer(d, buf, sizeof(buf));
	ck_assert_msg(strncmp(buf, "HTTP/1.1 200 ", 13) == 0, "%s", buf);
	ck_assert_uint_eq(http_server_memory(L.srv), 1024 + 6001);
	/* The answer gives the held request's bytes back. */
	ck_assert_int_eq(http_respond(L.held[0], 201, NULL, NULL, 0, "", 0),
	    0);
	ck_assert_uint_eq(http_server_memory(L.srv), 0);
	cl_answer(a, buf, sizeof(buf));
	ck_assert_msg(strncmp(buf, "HTTP/1.1 201 ", 13) == 0, "%s", buf);
	/* Now the refused body fits. */
	close(b);
	b = cl_connect("127.0.0.1");
	cl_puts(b, "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 4000\r\n"
	    "\r\n");
	for (i = 0; i < 4; i++)
		cl_send(b, chunk, 1000);
	cl_answer(b, buf, sizeof(buf));
	ck_assert_msg(strncmp(buf, "HTTP/1.1 200 ", 13) == 0, "%s", buf);
	close(a);
	close(b);
	close(c);
	close(d);
	lim_end();
}
END_TEST

/* A reload that lowers the budget below what is held refuses new bytes
   until enough came back, and never counts below zero. */
START_TEST(lowered_budget_refuses_until_bytes_come_back)
{
	char	buf[1024];
	int	a, b;

	L.lim.max_conns_per_ip = 0;
	lim_start();
	a = cl_connect("127.0.0.1");
	cl_puts(a, "POST /hold HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
	    "\r\nhello");
	SPIN(L.nheld == 1);
	L.lim.memory_budget = 100;
	ck_assert_int_eq(http_server_set_limits(L.srv, &L.lim), 0);
	b = cl_connect("127.0.0.1");
	cl_puts(b, "GET /x HTTP/1.1\r\nHost: x\r\n\r\n");
	cl_answer(b, buf, sizeof(buf));
	assert_busy(buf, "busy");
	ck_assert_int_eq(http_respond(L.held[0], 204, NULL, NULL, 0, "", 0),
	    0);
	ck_assert_uint_eq(http_server_memory(L.srv), 0);
	L.lim.memory_budget = 1 << 20;
	ck_assert_int_eq(http_server_set_limits(L.srv, &L.lim), 0);
	close(a);
	close(b);
	lim_end();
}
END_TEST

/* The shutdown's drain closes a connection whose request the handler
   still has: the budget and the count are settled then, and the late
   answer frees the rest. */
START_TEST(drain_settles_a_held_request)
{
	int	a;

	lim_start();
	a = cl_connect("127.0.0.1");
	cl_puts(a, "POST /hold HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
	    "\r\nhello");
	SPIN(L.nheld == 1);
	ck_assert_uint_gt(http_server_memory(L.srv), 0);
	http_server_shutdown(L.srv, lim_stopped, NULL);
	SPIN(http_server_connections(L.srv) == 0);
	ck_assert_uint_eq(http_server_memory(L.srv), 0);
	ck_assert_uint_eq(http_server_connections_from(L.srv, "127.0.0.1"),
	    0);
	SPIN(L.stopped);
	ck_assert_int_eq(http_respond(L.held[0], 201, NULL, NULL, 0, "", 0),
	    0);
	ck_assert_int_eq(uv_run(&L.loop, UV_RUN_DEFAULT), 0);
	ck_assert_int_eq(uv_loop_close(&L.loop), 0);
	close(a);
}
END_TEST

Suite *
http_suite(void)
{
	Suite	*s = suite_create("http");
	TCase	*tc = tcase_create("drain");

	tcase_set_timeout(tc, 20);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, drain_close_and_answer_in_one_turn);
	tcase_add_test(tc, answer_after_drain_closed_the_connection);
	tcase_add_test(tc, answer_before_drain_timer_reaches_the_client);
	suite_add_tcase(s, tc);
	tc = tcase_create("servers");
	tcase_set_timeout(tc, 20);
	tcase_add_checked_fixture(tc, pair_setup, NULL);
	tcase_add_test(tc, two_servers_keep_their_own_limits_and_handlers);
	tcase_add_test(tc, set_limits_changes_one_server_only);
	tcase_add_test(tc, whitespace_before_a_colon_is_400);
	tcase_add_test(tc, streamed_body_paused_on_its_last_byte_completes);
	suite_add_tcase(s, tc);
	tc = tcase_create("limits");
	tcase_set_timeout(tc, 20);
	tcase_add_checked_fixture(tc, lim_setup, NULL);
	tcase_add_test(tc, per_ip_cap_counts_the_peer_address_exactly);
	tcase_add_test(tc, turned_away_clients_read_their_answer);
	tcase_add_test(tc, proxies_and_unix_peers_are_not_counted);
	tcase_add_test(tc, counts_come_back_on_every_path);
	tcase_add_test(tc, memory_budget_is_exact_and_refuses_with_503);
	tcase_add_test(tc, lowered_budget_refuses_until_bytes_come_back);
	tcase_add_test(tc, drain_settles_a_held_request);
	suite_add_tcase(s, tc);
	return s;
}
