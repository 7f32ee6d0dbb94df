/*
 * libFuzzer target for the HTTP layer: each input is the byte stream of one
 * client connection to a real http_server on a real libuv loop. It listens
 * on a Unix socket (a trusted peer, so X-Forwarded-For is read) passed in
 * as systemd would pass it; the socket is abstract, so nothing is left in
 * the file system however libFuzzer exits. The client sends the input in
 * two halves, half-closes, and reads until the server ends the connection.
 * Invariants, checked for every input, abort when broken:
 * - what arrives is exactly the answers the handler gave, in order, each
 *   "HTTP/1.1 NNN ..." with a Content-Length matching its body (interim
 *   100 Continue answers may come between);
 * - the server ends every connection and its connection count returns to 0,
 *   and so do the request bytes it counts against its memory budget;
 * - the client address handed to the handler is the peer's, or a whole
 *   X-Forwarded-For entry with only our own proxies right of it.
 * An input starting with '~' is sent without it and the client keeps its
 * write side open, so only the server's timers (408, idle) can end it.
 * Build: as tests/fuzz/run.sh does (all of daemon/ but the two mains).
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <arpa/inet.h>

#include <errno.h>
#include <stddef.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "buf.h"
#include "http.h"

#define MAX_SEND	65536
#define MAX_ANSWERS	(MAX_SEND / 8)	/* no request is shorter */
#define TIMEOUT_MS	100	/* never reached by a client that half-closes */
#define HOLD_TIMEOUT_MS	10	/* '~' inputs end by timer: keep them cheap */
#define DEADLINE_MS	5000	/* far beyond any timeout: a hang */
#define XFF_TAIL	511	/* http.c's window on X-Forwarded-For */

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

struct answer {
	int	status;
	int	head;		/* body left out */
	size_t	len;
};

struct fuzz {
	uv_loop_t		 loop;
	struct http_limits	 lim;
	struct http_limits	 hold_lim;	/* lim with HOLD_TIMEOUT_MS */
	struct cidr		 proxies[2];
	struct sockaddr_un	 addr;
	socklen_t		 addrlen;
	struct http_server	*srv;
	struct answer		 sent[MAX_ANSWERS];
	size_t			 nsent;
	struct buf		 got;
};

/* libFuzzer's entry point takes no context, so the server lives here. */
static struct fuzz	fz;

static _Noreturn void
die(const char *why)
{
	fprintf(stderr, "fuzz_http: %s\n", why);
	abort();
}

/* Records what is about to be sent, so the client side can check it. */
static void
answer(struct http_req *req, int status, const char *body, size_t len)
{
	static const struct http_hdr	hdr = { "X-Fuzz", "1" };

	if (fz.nsent == MAX_ANSWERS)
		die("more answers than the input has requests");
	fz.sent[fz.nsent].status = status;
	fz.sent[fz.nsent].head = http_req_method(req) == HTTP_METHOD_HEAD;
	fz.sent[fz.nsent].len = len;
	fz.nsent++;
	if (http_respond(req, status, "text/plain", &hdr, 1, body, len) !=
	    0)
		die("http_respond refused a valid answer");
}

/*
 * Reads the X-Forwarded-For entry at s by its first word, as http.c does:
 * returns 0 if it is no address, 1 if it is one, 2 if it is one of the
 * proxies start() trusts (127.0.0.0/8, fc00::/7).
 */
static int
entry_kind(const char *s)
{
	char		w[64];
	unsigned char	a[16];
	size_t		n;

	s += strspn(s, " \t");
	if ((n = strcspn(s, ", \t")) >= sizeof(w))
		return 0;
	memcpy(w, s, n);
	w[n] = '\0';
	if (inet_pton(AF_INET, w, a) == 1)
		return a[0] == 127 ? 2 : 1;
	if (inet_pton(AF_INET6, w, a) == 1)
		return (a[0] & 0xfe) == 0xfc ? 2 : 1;
	return 0;
}

/* 1 if every X-Forwarded-For entry after s is one of our proxies. */
static int
proxies_only(const char *s)
{
	while ((s = strchr(s, ',')) != NULL)
		if (entry_kind(++s) != 2)
			return 0;
	return 1;
}

/*
 * The contract of http.c's client_ip(): the peer's address ("unix") when
 * X-Forwarded-For is absent or its last entry is no address or starts
 * before the last XFF_TAIL bytes (all it reads of an over-long header);
 * otherwise an entry with only our own proxies right of it. Entries left
 * of those are the client's to write: it must not pick its address.
 */
static void
check_client(const struct http_req *req)
{
	const char	*xff, *p;
	size_t		 n = strlen(http_req_client_ip(req));

	xff = http_req_header(req, "x-forwarded-for");
	if (strcmp(http_req_client_ip(req), "unix") == 0) {
		if (xff == NULL)
			return;
		p = (p = strrchr(xff, ',')) ? p + 1 : xff;
		if (entry_kind(p) != 0 && (strlen(xff) <= XFF_TAIL ||
		    strlen(p) < XFF_TAIL))
			die("X-Forwarded-For ignored");
		return;
	}
	if (xff == NULL)
		die("client address without X-Forwarded-For");
	for (p = xff; (p = strstr(p, http_req_client_ip(req))) != NULL; p++)
		if ((p == xff || strchr(", \t", p[-1]) != NULL) &&
		    strchr(", \t", p[n]) != NULL && proxies_only(p + n))
			return;
	die("client address is not the rightmost entry our proxies did "
	    "not add");
}

/* Answers the early-answer path intake uses for 404/413/415. */
static int
on_headers(struct http_req *req, void *arg)
{
	(void)arg;
	if (strncmp(http_req_path(req), "/early", 6) != 0)
		return 0;
	answer(req, 404, "early\n", 6);
	return 1;
}

/* Reads everything a handler may read, so ASan sees stale pointers. */
static void
on_request(struct http_req *req, void *arg)
{
	const char	*host = http_req_header(req, "host");
	const char	*ctype = http_req_header(req, "content-type");
	char		 body[512];
	int		 n;

	(void)arg;
	check_client(req);
	if (http_req_body_len(req) > fz.lim.max_body_bytes)
		die("body over the limit");
	if (http_req_query(req) != NULL && strcmp(http_req_query(req), "close") == 0)
		http_req_close_after(req);
	n = snprintf(body, sizeof(body), "%s %s %s %s %zu\n", http_req_path(req),
	    http_req_client_ip(req), host ? host : "-", ctype ? ctype : "-",
	    http_req_body_len(req));
	answer(req, 200, body, n < (int)sizeof(body) ? (size_t)n :
	    sizeof(body) - 1);
}

static void
on_error(struct http_req *req, int status, const char *msg, void *arg)
{
	(void)arg;
	if (status != 400 && status != 408 && status != 411 &&
	    status != 413 && status != 414 && status != 417 &&
	    status != 431 && status != 501 && status != 503 &&
	    status != 505)
		die("error status outside the documented set");
	answer(req, status, msg, strlen(msg));
}

static void
start(void)
{
	static const struct http_handler	h = { .headers = on_headers,
	    .request = on_request, .error = on_error };
	struct http_limits	*c = &fz.lim;
	int			 fd, n;

	fz.addr.sun_family = AF_UNIX;
	n = snprintf(fz.addr.sun_path + 1, sizeof(fz.addr.sun_path) - 1,
	    "intaked-fuzz-http-%ld", (long)getpid());
	fz.addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
	    1 + (size_t)n);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1 || bind(fd, (struct sockaddr *)&fz.addr,
	    fz.addrlen) == -1 || listen(fd, 16) == -1 ||
	    uv_loop_init(&fz.loop) != 0)
		die("cannot set up");
	/* A whole-byte and a partial-byte prefix, both code paths. */
	fz.proxies[0] = (struct cidr){ AF_INET, { 127 }, 8 };
	fz.proxies[1] = (struct cidr){ AF_INET6, { 0xfc }, 7 };
	c->trusted_proxies = fz.proxies;
	c->ntrusted_proxies = 2;
	c->max_connections = 64;
	c->header_timeout_ms = c->body_timeout_ms = TIMEOUT_MS;
	c->idle_timeout_ms = TIMEOUT_MS;
	c->shutdown_timeout_ms = 100;
	c->max_header_bytes = 4096;
	c->max_body_bytes = 8192;
	c->memory_budget = 1 << 20;
	fz.hold_lim = *c;
	fz.hold_lim.header_timeout_ms = fz.hold_lim.body_timeout_ms =
	    fz.hold_lim.idle_timeout_ms = HOLD_TIMEOUT_MS;
	buf_init(&fz.got, 16 << 20);
	if (http_server_start(&fz.loop, NULL, 0, &fd, 1, c, &h, &fz.srv) != 0)
		die("cannot start the server");
}

static int
client_connect(void)
{
	int	fd;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1 || connect(fd, (struct sockaddr *)&fz.addr,
	    fz.addrlen) == -1)
		die("cannot connect");
	return fd;
}

/*
 * Lets the loop run once, sleeping at most wait ms for the server's sockets
 * and timers, then takes what the server sent. Returns 1 once the server
 * has ended its side (EOF or reset), 0 otherwise; fd -1 just runs the loop.
 */
static int
pump(int fd, int wait)
{
	struct pollfd	pfd[2] = { { fd, POLLIN, 0 },
			    { uv_backend_fd(&fz.loop), POLLIN, 0 } };
	char		b[16384];
	ssize_t		n;
	int		t = uv_backend_timeout(&fz.loop);

	poll(pfd, 2, t < 0 || t > wait ? wait : t);
	uv_run(&fz.loop, UV_RUN_NOWAIT);
	while ((n = read(fd, b, sizeof(b))) > 0)
		if (buf_append(&fz.got, b, (size_t)n) != 0)
			die("answers larger than any input can ask for");
	return n == 0 || errno != EAGAIN;
}

static void
check_deadline(uint64_t end, const char *why)
{
	if (uv_hrtime() / 1000000 > end)
		die(why);
}

/* Returns 1 if the server ended the connection while we were sending. */
static int
send_all(int fd, const uint8_t *data, size_t size, uint64_t end)
{
	size_t	off = 0;
	ssize_t	n;

	while (off < size) {
		n = send(fd, data + off, size - off, MSG_NOSIGNAL);
		if (n > 0)
			off += (size_t)n;
		else if (errno != EAGAIN)
			return 1;	/* answered early and gone */
		else if (pump(fd, 10))
			return 1;
		check_deadline(end, "the server stopped reading");
	}
	return 0;
}

static size_t
content_length(const char *head, size_t len)
{
	const char	*p;

	p = memmem(head, len, "\r\nContent-Length: ", 18);
	if (p == NULL)
		die("an answer without Content-Length");
	return strtoul(p + 18, NULL, 10);
}

/* The bytes received must be exactly the recorded answers, in order. */
static void
check_answers(void)
{
	const char	*p = fz.got.data ? fz.got.data : "", *eoh;
	const char	*end = p + fz.got.len;
	struct answer	*a;
	size_t		 i = 0;
	int		 status;

	while (p < end) {
		if (end - p < 13 || memcmp(p, "HTTP/1.1 ", 9) != 0 ||
		    strspn(p + 9, "0123456789") != 3 || p[9] == '0' ||
		    p[12] != ' ')
			die("an answer does not start with a status line");
		status = atoi(p + 9);
		if ((eoh = memmem(p, end - p, "\r\n\r\n", 4)) == NULL)
			die("an answer's head is cut short");
		eoh += 4;
		if (status == 100) {
			p = eoh;
			continue;
		}
		if (i == fz.nsent)
			die("an answer the handler never gave");
		a = &fz.sent[i++];
		if (status != a->status ||
		    content_length(p, eoh - p) != a->len)
			die("an answer differs from what the handler gave");
		if (!a->head && (size_t)(end - eoh) < a->len)
			die("an answer's body is cut short");
		p = eoh + (a->head ? 0 : a->len);
	}
	if (i != fz.nsent)
		die("an answer the handler gave never arrived");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t	end = uv_hrtime() / 1000000 + DEADLINE_MS;
	size_t		half;
	int		fd, i, ended, hold = size > 0 && data[0] == '~';

	if (fz.srv == NULL)
		start();
	if (hold) {
		data++;
		size--;
	}
	if (http_server_set_limits(fz.srv, hold ? &fz.hold_lim : &fz.lim) != 0)
		die("cannot set the limits");
	if (size > MAX_SEND)
		size = MAX_SEND;
	fz.nsent = 0;
	buf_reset(&fz.got);
	fd = client_connect();
	/* Two halves, the first read before the second is sent, so names,
	   values and URLs also arrive in pieces (the input's length says
	   where the cut falls). */
	half = size / 2;
	ended = send_all(fd, data, half, end);
	for (i = 0; i < 3 && !ended; i++)	/* accept, then read */
		ended = pump(fd, 0);
	if (!ended)
		ended = send_all(fd, data + half, size - half, end);
	if (!hold)
		shutdown(fd, SHUT_WR);
	while (!ended) {
		ended = pump(fd, 10);
		check_deadline(end, "the server never ended a connection");
	}
	close(fd);
	while (http_server_connections(fz.srv) > 0) {
		pump(-1, 10);
		check_deadline(end, "a connection outlived its client");
	}
	if (http_server_memory(fz.srv) != 0)
		die("request bytes still counted with no connection");
	check_answers();
	return 0;
}
