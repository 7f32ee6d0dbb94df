#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <ctype.h>
#include <errno.h>
#include <malloc.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <llhttp.h>

#include "buf.h"
#include "clock.h"
#include "http.h"
#include "ipcount.h"
#include "log.h"
#include "net.h"

#define RBUF_SIZE	16384
#define MAX_HEADERS	64
#define LINGER_MS	2000
#define HEAD_FRAMING	(64 * 1024)	/* see head_too_long() */
#define RETRY_AFTER_S	5	/* on the server's own 503s */
#define HELD_FIRST	1024	/* first size of a budgeted buffer */

enum conn_state {
	CONN_IDLE,	/* between requests (or before the first) */
	CONN_HEADERS,	/* reading a request's headers */
	CONN_BODY,	/* reading its body */
	CONN_HANDLING,	/* the handler has it; not reading */
	CONN_WRITING,	/* answer being written */
	CONN_LINGER,	/* answered and shut down; draining what the peer
			   still sends so it reads our answer, not a reset */
	CONN_CLOSED,	/* uv_close called */
};

struct http_req {
	struct http_conn	*conn;
	enum http_method	 method;
	char			*path;		/* into hdrbuf, once complete */
	char			*query;		/* or NULL */
	char			 client_ip[48];
	struct buf		 body;
	unsigned		 retry_after;	/* seconds, on a 503 of ours */
	int			 expect_continue;
	int			 streaming;	/* body goes to h.body */
	int			 stream_done;	/* ended or aborted */
	int			 paused;	/* by h.body */
	size_t			 body_max;
	size_t			 body_seen;
	void			*user;		/* the handler's */
	struct buf		 hdrbuf;	/* url\0, then name\0value\0 pairs */
	size_t			 hdroff[MAX_HEADERS][2];
	size_t			 nhdr;
	int			 in_name;	/* a name is arriving */
};

/* Where the raw bytes of a head are, for head_scan(). */
struct headscan {
	int			 started;	/* past leading empty lines */
	int			 done;		/* the empty line was seen */
	int			 m;		/* bytes of CRLFCRLF matched */
	char			 prev;
};

struct listener {
	union {
		uv_tcp_t	tcp;
		uv_pipe_t	pipe;
		uv_handle_t	handle;
		uv_stream_t	stream;
	}			 h;
	struct http_server	*srv;
	int			 is_unix;
	struct listener		*next;
};

struct http_conn {
	union {
		uv_tcp_t	tcp;
		uv_pipe_t	pipe;
		uv_handle_t	handle;
		uv_stream_t	stream;
	}			 h;
	uv_timer_t		 timer;
	uv_write_t		 wreq;
	uv_write_t		 creq;		/* 100 Continue */
	uv_shutdown_t		 sreq;
	struct http_server	*srv;
	llhttp_t		 parser;
	enum conn_state		 state;
	int			 handles;	/* open uv handles */
	int			 inflight;	/* handler owns req */
	int			 close_after;
	int			 trusted;	/* peer may set X-Forwarded-For */
	int			 counted;	/* in srv->ips under ip */
	int			 rejected;	/* turned away: in nrejects */
	int			 no_linger;	/* no linger after the answer */
	int			 got_bytes;
	int			 perr;		/* a callback's refusal: status */
	const char		*perr_msg;	/* and message */
	size_t			 head_raw;	/* bytes of the head so far */
	struct headscan		 scan;
	size_t			 trailer_bytes;
	size_t			 held;		/* req's part of srv->held */
	char			 ver[4];	/* the version as sent, cut */
	size_t			 verlen;
	unsigned		 nreq;		/* requests answered */
	char			 peer[48];
	struct ipkey		 ip;		/* peer, for the per-IP cap */
	struct buf		 out;
	char			*rbuf;		/* RBUF_SIZE, at first read */
	size_t			 roff, rlen;
	struct http_req		 req;
	struct http_conn	*prev, *next;
};

struct http_server {
	uv_loop_t		*loop;
	struct http_limits	 lim;		/* lim.trusted_proxies is proxies */
	struct cidr		*proxies;	/* our copy */
	struct http_handler	 h;
	struct listener		*listeners;
	int			 nlisteners;
	struct http_conn	*conns;
	unsigned		 nconns;	/* served */
	unsigned		 nrejects;	/* turned away, still open */
	unsigned		 peak;		/* most open since a trim */
	int			 trimmed;	/* a storm is ending */
	struct ipcount		*ips;		/* served, by peer address */
	size_t			 held;		/* request bytes in memory */
	char			 discard[RBUF_SIZE];	/* linger reads */
	int			 draining;
	uv_timer_t		 drain_timer;
	void			(*done_cb)(void *);
	void			*done_arg;
};

static const llhttp_settings_t settings;
static void	conn_close(struct http_conn *);
static void	conn_process(struct http_conn *);
static void	conn_timeout(uv_timer_t *);

const char *
http_reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 200: return "OK";
	case 201: return "Created";
	case 204: return "No Content";
	case 303: return "See Other";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 415: return "Unsupported Media Type";
	case 417: return "Expectation Failed";
	case 422: return "Unprocessable Content";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	default:  return "Unknown";
	}
}

/* ---- addresses ---- */

/* True if ip (text) is one of the server's trusted proxies. */
static bool
ip_trusted(const struct http_server *s, const char *ip)
{
	return net_cidr_match(s->lim.trusted_proxies, s->lim.ntrusted_proxies,
	    ip);
}

/*
 * Who is at the other end. Returns 1 when the connection counts against
 * the per-IP cap (with c->ip set), 0 when it is exempt: a Unix socket
 * peer or a trusted proxy (all the clients of a proxy share its address;
 * the proxy limits them itself), or a peer whose address is unknown.
 */
static int
peer_name(struct http_conn *c, int is_unix)
{
	struct sockaddr_storage	ss;
	int			len = sizeof(ss);
	const void		*a;

	strcpy(c->peer, "unix");
	if (is_unix) {
		/* Only local processes with permission on the socket file can
		   connect: that is the reverse proxy's channel, so trust it. */
		c->trusted = 1;
		return 0;
	}
	if (uv_tcp_getpeername(&c->h.tcp, (struct sockaddr *)&ss, &len) != 0)
		return 0;
	if (ss.ss_family == AF_INET)
		a = &((struct sockaddr_in *)&ss)->sin_addr;
	else
		a = &((struct sockaddr_in6 *)&ss)->sin6_addr;
	inet_ntop(ss.ss_family, a, c->peer, sizeof(c->peer));
	c->trusted = ip_trusted(c->srv, c->peer);
	return !c->trusted && ipcount_key(ss.ss_family, a, &c->ip) == 0;
}

/*
 * The client address: the peer's, unless the peer is a trusted proxy, in
 * which case X-Forwarded-For is read from the right, skipping our own
 * proxies, so a client cannot choose its address by sending the header.
 */
static void
client_ip(struct http_conn *c)
{
	const char	*xff;
	char		 tmp[512], *p, *tok;
	char		 found[48] = "";
	size_t		 len;

	snprintf(c->req.client_ip, sizeof(c->req.client_ip), "%s", c->peer);
	if (!c->trusted || (xff = http_req_header(&c->req,
	    "x-forwarded-for")) == NULL)
		return;
	/* The entries we can trust are the last ones (our proxies append), so
	   an over-long header keeps its tail, never its head: a client must
	   not be able to push the real entry out of view. A token cut in two
	   at the front is dropped. */
	len = strlen(xff);
	if (len >= sizeof(tmp)) {
		xff += len - (sizeof(tmp) - 1);
		if ((xff = strchr(xff, ',')) == NULL)
			return;
		xff++;
	}
	snprintf(tmp, sizeof(tmp), "%s", xff);
	for (;;) {
		p = strrchr(tmp, ',');
		tok = p ? p + 1 : tmp;
		tok += strspn(tok, " \t");
		tok[strcspn(tok, " \t")] = '\0';
		if (!net_addr_valid(tok))
			break;
		snprintf(found, sizeof(found), "%s", tok);
		if (!ip_trusted(c->srv, tok) || p == NULL)
			break;
		*p = '\0';
	}
	if (found[0])
		snprintf(c->req.client_ip, sizeof(c->req.client_ip), "%s",
		    found);
}

/* ---- requests ---- */

enum http_method
http_req_method(const struct http_req *req)
{
	return req->method;
}

const char *
http_req_path(const struct http_req *req)
{
	return req->path;
}

const char *
http_req_query(const struct http_req *req)
{
	return req->query;
}

const char *
http_req_client_ip(const struct http_req *req)
{
	return req->client_ip;
}

int
http_req_https(const struct http_req *req)
{
	const char	*proto;

	if (!req->conn->trusted)
		return 0;
	proto = http_req_header(req, "x-forwarded-proto");
	return proto != NULL && strcasecmp(proto, "https") == 0;
}

/*
 * Cookie: a=1; b=2. The first cookie called name is copied into out;
 * names are compared exactly, as RFC 6265 has them.
 */
int
http_req_cookie(const struct http_req *req, const char *name, char *out,
    size_t outlen)
{
	const char	*h = http_req_header(req, "cookie"), *p, *end;
	size_t		 nl = strlen(name), vl;

	for (p = h; p != NULL && *p != '\0'; p = end) {
		p += strspn(p, " \t;");
		end = p + strcspn(p, ";");
		if ((size_t)(end - p) > nl && strncmp(p, name, nl) == 0 &&
		    p[nl] == '=') {
			vl = (size_t)(end - p) - nl - 1;
			if (vl >= outlen)
				return ERR_TOOBIG;
			memcpy(out, p + nl + 1, vl);
			out[vl] = '\0';
			return 0;
		}
	}
	return ERR_NOTFOUND;
}

const char *
http_req_body(const struct http_req *req)
{
	return req->body.data ? req->body.data : "";
}

size_t
http_req_body_len(const struct http_req *req)
{
	return req->body.len;
}

const char *
http_req_header(const struct http_req *req, const char *name)
{
	size_t	i;

	for (i = 0; i < req->nhdr; i++)
		if (strcasecmp(req->hdrbuf.data + req->hdroff[i][0],
		    name) == 0)
			return req->hdrbuf.data + req->hdroff[i][1];
	return NULL;
}

/* How many headers are called name, the first one's value in *value. */
static size_t
header_count(const struct http_req *req, const char *name,
    const char **value)
{
	size_t	i, n = 0;

	*value = NULL;
	for (i = 0; i < req->nhdr; i++)
		if (strcmp(req->hdrbuf.data + req->hdroff[i][0], name) == 0 &&
		    n++ == 0)
			*value = req->hdrbuf.data + req->hdroff[i][1];
	return n;
}

/* ---- the memory budget ---- */

/*
 * Each server keeps one account of the request bytes its connections
 * hold in memory: the buffers of the request being read or handled,
 * hdrbuf (the URL and headers) and body (a body not streamed). A buffer
 * grows only after its growth was taken from the account, so the account
 * is always exactly the sum of those buffers' capacities (c->held per
 * connection), and no mix of clients can take it past the budget. What a
 * connection holds goes back when its request is answered (the handler is
 * done with it), when the next request begins, and when it closes.
 * Streamed bodies are not counted: they never pile up here, they pass
 * through the fixed read buffer.
 */

/* Takes n bytes for c: 0, or ERR_BUSY when they do not fit. */
static int
held_take(struct http_conn *c, size_t n)
{
	struct http_server	*s = c->srv;
	size_t			 budget = s->lim.memory_budget;

	/* A reload may have lowered the budget below what is held. */
	if (c->state == CONN_CLOSED || s->held > budget ||
	    n > budget - s->held)
		return ERR_BUSY;
	s->held += n;
	c->held += n;
	return 0;
}

/* Gives back all c holds. The account may be gone once c is closed and
   has given back, so it is not touched when there is nothing to give. */
static void
held_settle(struct http_conn *c)
{
	if (c->held == 0)
		return;
	c->srv->held -= c->held;
	c->held = 0;
}

/*
 * Makes room in b, hdrbuf or body of c's request, for n more bytes (and
 * the NUL): exactly that much when exact, else by doubling, or exactly
 * when a doubling no longer fits the budget. Returns 0, ERR_TOOBIG past
 * b's own cap, ERR_BUSY past the budget, or ERR_NOMEM.
 */
static int
held_room(struct http_conn *c, struct buf *b, size_t n, int exact)
{
	size_t	want, cap, had = b->cap;
	int	rc;

	if (n > b->max - b->len)
		return ERR_TOOBIG;
	want = b->len + n + 1;
	if (want <= had)
		return 0;
	cap = had ? had * 2 : HELD_FIRST;
	if (cap > b->max + 1)
		cap = b->max + 1;
	if (exact || cap < want || held_take(c, cap - had) != 0) {
		cap = want;
		if ((rc = held_take(c, cap - had)) != 0)
			return rc;
	}
	if (buf_reserve(b, cap) != 0) {
		c->held -= cap - had;
		c->srv->held -= cap - had;
		return ERR_NOMEM;
	}
	return 0;
}

static int
held_append(struct http_conn *c, struct buf *b, const void *p, size_t n)
{
	int	rc;

	if ((rc = held_room(c, b, n, 0)) != 0)
		return rc;
	return buf_append(b, p, n);
}

/* Frees the request's buffers and gives their bytes back. */
static void
req_release(struct http_conn *c)
{
	buf_free(&c->req.hdrbuf);
	buf_free(&c->req.body);
	held_settle(c);
}

static void
req_reset(struct http_req *req, size_t max_header)
{
	struct http_conn *c = req->conn;

	req_release(c);
	memset(req, 0, sizeof(*req));
	buf_init(&req->hdrbuf, max_header);
	req->conn = c;
}

static void
conn_free(struct http_conn *c)
{
	buf_free(&c->req.hdrbuf);
	buf_free(&c->req.body);
	free(c->rbuf);
	buf_free(&c->out);
	free(c);
}

static void
timer_set(struct http_conn *c, unsigned ms)
{
	uv_timer_start(&c->timer, conn_timeout, ms, 0);
}

/* A streamed request that dies before its end: the handler's state for
   it goes first. */
static void
stream_abort(struct http_conn *c)
{
	struct http_req	*r = &c->req;

	if (!r->streaming || r->stream_done)
		return;
	r->stream_done = 1;
	if (c->srv->h.abort)
		c->srv->h.abort(r, c->srv->h.arg);
}

/* Server-detected errors are answered in the handler's format, then the
   connection closes: after a framing problem nothing more can be trusted. */
static void
fail(struct http_conn *c, int status, const char *msg)
{
	stream_abort(c);
	c->close_after = 1;
	c->state = CONN_HANDLING;
	uv_read_stop(&c->h.stream);
	uv_timer_stop(&c->timer);
	c->inflight = 1;
	/* Our 503s are all "busy": a cap, the budget, memory. */
	c->req.retry_after = status == 503 ? RETRY_AFTER_S : 0;
	if (c->srv->h.error)
		c->srv->h.error(&c->req, status, msg, c->srv->h.arg);
	else
		http_respond(&c->req, status, "text/plain; charset=utf-8",
		    NULL, 0, msg, strlen(msg));
}

/*
 * Records why a parser callback refuses the request and returns the value
 * that makes llhttp stop. llhttp reports every span callback's refusal as
 * the same HPE_USER, so the status (414 for the URL, 431 for headers, 413
 * for the body) travels here and conn_process() answers with it.
 */
static int
refuse(struct http_conn *c, int status, const char *msg)
{
	c->perr = status;
	c->perr_msg = msg;
	return -1;
}

/* refuse() for a budgeted buffer that could not grow: with status when
   it is over its own cap, 503 when the budget or memory ran out. */
static int
refuse_held(struct http_conn *c, int rc, int status, const char *msg)
{
	if (rc == ERR_TOOBIG)
		return refuse(c, status, msg);
	if (rc == ERR_BUSY)
		return refuse(c, 503, "the server is busy; try again later");
	return refuse(c, 503, "out of memory");
}

static int
on_message_begin(llhttp_t *p)
{
	struct http_conn *c = p->data;

	req_reset(&c->req, c->srv->lim.max_header_bytes);
	c->state = CONN_HEADERS;
	c->perr = 0;
	c->head_raw = c->trailer_bytes = 0;
	c->verlen = 0;
	/* The first request's clock started at accept, so trickling bytes
	   cannot extend it; later ones start when their first byte comes. */
	if (c->nreq > 0)
		timer_set(c, c->srv->lim.header_timeout_ms);
	return 0;
}

/*
 * Header bytes are kept in one capped buffer: the URL, then for each
 * header its name (lowercased) and its value, each NUL-terminated. A name
 * or value may arrive in several pieces; the *_complete callbacks end it.
 */
static int
on_url(llhttp_t *p, const char *at, size_t len)
{
	struct http_conn	*c = p->data;
	int			 rc;

	if ((rc = held_append(c, &c->req.hdrbuf, at, len)) != 0)
		return refuse_held(c, rc, 414, "request URI too long");
	return 0;
}

static int
on_url_complete(llhttp_t *p)
{
	struct http_conn	*c = p->data;
	int			 rc;

	if ((rc = held_append(c, &c->req.hdrbuf, "", 1)) != 0)
		return refuse_held(c, rc, 414, "request URI too long");
	return 0;
}

/* The version as sent, for telling a version we do not speak (505) from
   one that is not a version (400) when llhttp refuses it. */
static int
on_version(llhttp_t *p, const char *at, size_t len)
{
	struct http_conn	*c = p->data;
	size_t			 n = sizeof(c->ver) - c->verlen;

	memcpy(c->ver + c->verlen, at, len < n ? len : n);
	c->verlen += len < n ? len : n;
	return 0;
}

/* llhttp itself refuses only some of the versions that are not 1.x. */
static int
on_version_complete(llhttp_t *p)
{
	struct http_conn *c = p->data;

	if (p->http_major != 1 || p->http_minor > 1)
		return refuse(c, 505, "HTTP version not supported");
	return 0;
}

/* A well-formed version (DIGIT "." DIGIT) that is not 1.0 or 1.1. */
static int
version_unsupported(const struct http_conn *c)
{
	return c->verlen == 3 && isdigit((unsigned char)c->ver[0]) &&
	    c->ver[1] == '.' && isdigit((unsigned char)c->ver[2]) &&
	    !(c->ver[0] == '1' && (c->ver[2] == '0' || c->ver[2] == '1'));
}

/*
 * Chunked trailers come through the header callbacks too, after path and
 * query already point into hdrbuf: growing it then would move it under
 * them. Trailers carry nothing we use, so they are only counted, against
 * the same cap as the headers (llhttp itself caps nothing).
 */
static int
trailer_piece(struct http_conn *c, size_t len)
{
	c->trailer_bytes += len;
	if (c->trailer_bytes > c->srv->lim.max_header_bytes)
		return refuse(c, 431, "request header fields too large");
	return 0;
}

static int
on_header_field(llhttp_t *p, const char *at, size_t len)
{
	struct http_conn	*c = p->data;
	struct http_req		*r = &c->req;
	int			 rc;

	if (c->state != CONN_HEADERS)
		return trailer_piece(c, len);
	if (!r->in_name) {
		if (r->nhdr == MAX_HEADERS)
			return refuse(c, 431,
			    "request header fields too large");
		r->hdroff[r->nhdr][0] = r->hdrbuf.len;
		r->hdroff[r->nhdr][1] = 0;
		r->nhdr++;
		r->in_name = 1;
	}
	if ((rc = held_append(c, &r->hdrbuf, at, len)) != 0)
		return refuse_held(c, rc, 431,
		    "request header fields too large");
	return 0;
}

static int
on_header_field_complete(llhttp_t *p)
{
	struct http_conn	*c = p->data;
	struct http_req		*r = &c->req;
	char			*s;
	int			 rc;

	if (c->state != CONN_HEADERS)
		return 0;
	/* llhttp reports an empty name (": x") as a zero-length one. */
	if (!r->in_name || r->hdrbuf.len == r->hdroff[r->nhdr - 1][0])
		return refuse(c, 400, "malformed request");
	r->in_name = 0;
	for (s = r->hdrbuf.data + r->hdroff[r->nhdr - 1][0]; *s; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
	if ((rc = held_append(c, &r->hdrbuf, "", 1)) != 0)
		return refuse_held(c, rc, 431,
		    "request header fields too large");
	r->hdroff[r->nhdr - 1][1] = r->hdrbuf.len;
	return 0;
}

static int
on_header_value(llhttp_t *p, const char *at, size_t len)
{
	struct http_conn	*c = p->data;
	int			 rc;

	if (c->state != CONN_HEADERS)
		return trailer_piece(c, len);
	if ((rc = held_append(c, &c->req.hdrbuf, at, len)) != 0)
		return refuse_held(c, rc, 431,
		    "request header fields too large");
	return 0;
}

/* llhttp drops the whitespace before a value, not after it: the value
   is what lies between (RFC 9110 5.5), so "chunked " is chunked. */
static int
on_header_value_complete(llhttp_t *p)
{
	struct http_conn	*c = p->data;
	struct http_req		*r = &c->req;
	int			 rc;

	if (c->state != CONN_HEADERS)
		return 0;
	while (r->hdrbuf.len > r->hdroff[r->nhdr - 1][1] &&
	    (r->hdrbuf.data[r->hdrbuf.len - 1] == ' ' ||
	    r->hdrbuf.data[r->hdrbuf.len - 1] == '\t'))
		r->hdrbuf.len--;
	if ((rc = held_append(c, &r->hdrbuf, "", 1)) != 0)
		return refuse_held(c, rc, 431,
		    "request header fields too large");
	return 0;
}

/*
 * Where the path of an absolute-form target ("http://host/p?q", RFC 9112
 * 3.2.2: what clients send to proxies, and servers must take) begins: the
 * handlers route by the path alone, and the authority, not Host, names
 * the host. An empty path ("http://host?q") is "/", written over the last
 * byte of the authority. NULL for a target of no form we take: another
 * scheme, no authority, or user information in it.
 */
static char *
absolute_path(char *u)
{
	char	*auth;
	size_t	 len;

	if (strncasecmp(u, "http://", 7) == 0)
		auth = u + 7;
	else if (strncasecmp(u, "https://", 8) == 0)
		auth = u + 8;
	else
		return NULL;
	len = strcspn(auth, "/?#");
	if (len == 0 || memchr(auth, '@', len) != NULL)
		return NULL;
	if (auth[len] == '/')
		return auth + len;
	auth[len - 1] = '/';
	return auth + len - 1;
}

/*
 * Splits the URL (at offset 0, NUL-terminated) into path and query. Only
 * now, with hdrbuf grown for the last time, may pointers into it be kept.
 * The targets that are no path, "*" (OPTIONS) and an authority (CONNECT),
 * are left for the handler to refuse. Returns 0, or -1 for a target that
 * is not one of them.
 */
static int
req_finish_headers(struct http_req *r, int connect)
{
	char	*q;

	if ((r->path = r->hdrbuf.data) == NULL)
		return -1;
	if (r->path[0] != '/' && strcmp(r->path, "*") != 0 && !connect &&
	    (r->path = absolute_path(r->path)) == NULL)
		return -1;
	if ((q = strchr(r->path, '?')) != NULL) {
		*q = '\0';
		r->query = q + 1;
	}
	if ((q = strchr(r->path, '#')) != NULL)
		*q = '\0';
	return 0;
}

static enum http_method
method_of(uint8_t m)
{
	switch (m) {
	case HTTP_GET:		return HTTP_METHOD_GET;
	case HTTP_HEAD:		return HTTP_METHOD_HEAD;
	case HTTP_POST:		return HTTP_METHOD_POST;
	case HTTP_PUT:		return HTTP_METHOD_PUT;
	case HTTP_DELETE:	return HTTP_METHOD_DELETE;
	case HTTP_OPTIONS:	return HTTP_METHOD_OPTIONS;
	case HTTP_PATCH:	return HTTP_METHOD_PATCH;
	default:		return HTTP_METHOD_OTHER;
	}
}

static void
continue_written(uv_write_t *w, int status)
{
	(void)w;
	(void)status;
}

/* A Host value of the characters RFC 3986 allows in an authority; an
   empty one is allowed (a target without authority). */
static int
host_ok(const char *v)
{
	for (; *v; v++)
		if (!isalnum((unsigned char)*v) &&
		    strchr("-._~!$&'()*+,;=%:[]", *v) == NULL)
			return 0;
	return 1;
}

/*
 * What RFC 9112 asks of a request's head beyond what llhttp checks: one
 * Host, which an HTTP/1.1 request must have (3.2); chunked as the only
 * transfer coding, applied once (6.1: 501 for any other, as for a coding
 * we do not know), and none in HTTP/1.0, whose framing it would make
 * ambiguous. llhttp refuses Content-Length beside Transfer-Encoding, and
 * a repeated or malformed Content-Length, itself (400).
 */
static int
check_head(struct http_conn *c, const llhttp_t *p)
{
	const char	*v;
	size_t		 n;

	/* "GET /" alone is HTTP/0.9 to llhttp, with no version to check. */
	if (p->http_major != 1 || p->http_minor > 1)
		return refuse(c, 505, "HTTP version not supported");
	n = header_count(&c->req, "host", &v);
	if (n > 1 || (n == 0 && p->http_minor == 1))
		return refuse(c, 400, "one Host header is required");
	if (v != NULL && !host_ok(v))
		return refuse(c, 400, "malformed Host header");
	if ((n = header_count(&c->req, "transfer-encoding", &v)) == 0)
		return 0;
	if (p->http_minor == 0)
		return refuse(c, 400, "Transfer-Encoding in an HTTP/1.0 "
		    "request");
	if (n > 1 || strcasecmp(v, "chunked") != 0)
		return refuse(c, 501, "transfer coding not supported (only "
		    "chunked)");
	return 0;
}

/* What the headers alone decide: 417, 411 and 413 before any body byte. */
static int
check_framing(struct http_conn *c, const llhttp_t *p)
{
	struct http_req	*r = &c->req;
	const char	*expect;

	if ((expect = http_req_header(r, "expect")) != NULL) {
		if (strcasecmp(expect, "100-continue") != 0)
			return refuse(c, 417, "only 100-continue is supported");
		r->expect_continue = 1;
	}
	if (r->method == HTTP_METHOD_POST && !(p->flags & F_CHUNKED) &&
	    !(p->flags & F_CONTENT_LENGTH))
		return refuse(c, 411, "Content-Length or chunked body required");
	return 0;
}

/* After the handler's early look, which may have chosen a larger cap for
   a streamed body. */
static int
check_length(struct http_conn *c, const llhttp_t *p)
{
	if ((p->flags & F_CONTENT_LENGTH) &&
	    p->content_length > c->req.body_max) {
		stream_abort(c);
		return refuse(c, 413, "request body too large");
	}
	return 0;
}

/*
 * A body to be buffered whole takes its declared length from the budget
 * before any of it is read, so a client is told 503 at once rather than
 * after sending it; a chunked one takes its memory as it grows.
 */
static int
take_body(struct http_conn *c, const llhttp_t *p)
{
	struct http_req	*r = &c->req;
	int		 rc;

	if (r->streaming)
		return 0;
	buf_init(&r->body, r->body_max);
	if (!(p->flags & F_CONTENT_LENGTH))
		return 0;
	if ((rc = held_room(c, &r->body, (size_t)p->content_length, 1)) != 0)
		return refuse_held(c, rc, 413, "request body too large");
	return 0;
}

/*
 * Gives the handler its early look. Returns 0 to read the body, or -1 when
 * the handler answered: the body is then never read, and reading stops as
 * in fail(): the parser is dead, so bytes would pile up in rbuf until
 * ENOBUFS closed the connection under the answer. The linger drain
 * discards them instead.
 */
static int
early_answer(struct http_conn *c)
{
	int	was = c->close_after;

	if (c->srv->h.headers == NULL)
		return 0;
	c->inflight = 1;
	c->state = CONN_HANDLING;
	c->close_after = 1;	/* in case it answers now */
	if (c->srv->h.headers(&c->req, c->srv->h.arg)) {
		uv_read_stop(&c->h.stream);
		return -1;
	}
	c->close_after = was;
	c->inflight = 0;
	return 0;
}

static int
on_headers_complete(llhttp_t *p)
{
	struct http_conn	*c = p->data;
	struct http_req		*r = &c->req;
	static uv_buf_t		 cont = { "HTTP/1.1 100 Continue\r\n\r\n", 25 };

	r->method = method_of(llhttp_get_method(p));
	if (req_finish_headers(r, llhttp_get_method(p) == HTTP_CONNECT) != 0) {
		r->path = NULL;
		return refuse(c, 400, "malformed request target");
	}
	client_ip(c);
	r->body_max = c->srv->lim.max_body_bytes;
	if (check_head(c, p) != 0 || check_framing(c, p) != 0 ||
	    early_answer(c) != 0 || check_length(c, p) != 0 ||
	    take_body(c, p) != 0)
		return -1;
	c->state = CONN_BODY;
	timer_set(c, c->srv->lim.body_timeout_ms);
	if (r->expect_continue)
		uv_write(&c->creq, &c->h.stream, &cont, 1, continue_written);
	return 0;
}

/*
 * A piece of a streamed body goes to the handler. Pausing stops reading;
 * what is left in rbuf is parsed on http_req_resume(). A handler that
 * answered gets the connection closed after its answer, as for an early
 * answer from the headers callback.
 */
static int
stream_piece(struct http_conn *c, const char *at, size_t len)
{
	struct http_req	*r = &c->req;
	int		 was = c->close_after, rc;

	/* llhttp replays the span that paused as an empty one on resume. */
	if (len == 0)
		return 0;
	if (len > r->body_max - r->body_seen) {
		stream_abort(c);
		return refuse(c, 413, "request body too large");
	}
	r->body_seen += len;
	timer_set(c, c->srv->lim.body_timeout_ms);
	c->close_after = 1;	/* in case it answers now */
	c->inflight = 1;
	rc = c->srv->h.body(r, at, len, c->srv->h.arg);
	if (rc == HTTP_BODY_ANSWERED) {
		r->stream_done = 1;
		uv_read_stop(&c->h.stream);
		return -1;
	}
	c->inflight = 0;
	c->close_after = was;
	if (rc == HTTP_BODY_PAUSE) {
		r->paused = 1;
		uv_timer_stop(&c->timer);
		return HPE_PAUSED;
	}
	return 0;
}

static int
on_body(llhttp_t *p, const char *at, size_t len)
{
	struct http_conn *c = p->data;
	int		  rc;

	if (c->req.streaming)
		return stream_piece(c, at, len);
	if ((rc = held_append(c, &c->req.body, at, len)) != 0)
		return refuse_held(c, rc, 413, "request body too large");
	return 0;
}

/* Pauses the parser: the handler has the request until it answers. */
static int
on_message_complete(llhttp_t *p)
{
	struct http_conn *c = p->data;

	c->req.stream_done = 1;
	if (!llhttp_should_keep_alive(p) || c->srv->draining)
		c->close_after = 1;
	uv_timer_stop(&c->timer);
	c->state = CONN_HANDLING;
	c->inflight = 1;
	return HPE_PAUSED;
}

static const llhttp_settings_t settings = {
	.on_message_begin = on_message_begin,
	.on_url = on_url,
	.on_url_complete = on_url_complete,
	.on_version = on_version,
	.on_version_complete = on_version_complete,
	.on_header_field = on_header_field,
	.on_header_field_complete = on_header_field_complete,
	.on_header_value = on_header_value,
	.on_header_value_complete = on_header_value_complete,
	.on_headers_complete = on_headers_complete,
	.on_body = on_body,
	.on_message_complete = on_message_complete,
};

/*
 * llhttp stopped on an error. A refusal recorded by a callback is answered
 * with its status; of what llhttp itself rejects, a version it does not
 * take is a 505 and a Transfer-Encoding it cannot frame ("chunked, gzip",
 * chunked twice) a 501 as in check_head(), anything else a 400. Bad chunk
 * framing is llhttp's to find: in strict mode 8.1 refuses a bad size, an
 * extension with a bare LF or a bad character, and chunk data not ended
 * by CRLF (without strict mode it skips those two bytes unseen, as
 * before 9.1). Nothing is sent if the handler already answered from its
 * headers callback.
 */
static void
parse_failed(struct http_conn *c)
{
	if (c->inflight || c->state == CONN_WRITING || c->state == CONN_CLOSED)
		return;
	if (c->perr != 0)
		fail(c, c->perr, c->perr_msg);
	else if (llhttp_get_errno(&c->parser) == HPE_INVALID_VERSION &&
	    version_unsupported(c))
		fail(c, 505, "HTTP version not supported");
	else if (llhttp_get_errno(&c->parser) == HPE_INVALID_TRANSFER_ENCODING)
		fail(c, 501, "transfer coding not supported (only chunked)");
	else
		fail(c, 400, "malformed request");
}

/*
 * llhttp 8.1 takes obs-fold (a header line starting with SP or HTAB that
 * continues the one before), which RFC 9112 5.2 says a server must refuse
 * or replace; we refuse it. Its callbacks cannot tell a fold from a value
 * split between two reads, so the raw bytes of each head are looked at
 * before llhttp parses them: in strict mode every line of a head ends in
 * CRLF and the head ends at the first empty line, so a fold is an LF
 * followed by SP or HTAB before that. Empty lines before the request line
 * are allowed (RFC 9112 2.2), as llhttp allows them. Returns -1 on a fold.
 * Trailers are not looked at: they are read and dropped, whatever they
 * say.
 */
static int
head_scan(struct headscan *h, const char *p, size_t n)
{
	static const char	end[] = "\r\n\r\n";
	size_t			i;

	for (i = 0; i < n && !h->done; i++) {
		if (!h->started && (p[i] == '\r' || p[i] == '\n'))
			continue;
		h->started = 1;
		if (h->prev == '\n' && (p[i] == ' ' || p[i] == '\t'))
			return -1;
		h->m = p[i] == end[h->m] ? h->m + 1 : p[i] == '\r';
		h->done = h->m == 4;
		h->prev = p[i];
	}
	return 0;
}

/*
 * http-parser counted every byte of a head against 80 KiB; llhttp counts
 * none, and the header cap only sees what lands in hdrbuf, not the
 * whitespace and line ends around it. So the raw bytes of an unfinished
 * head are counted here, with HEAD_FRAMING of room for that framing (80
 * KiB in all at the default 16 KiB header cap, as before).
 */
static int
head_too_long(struct http_conn *c, size_t n)
{
	if (c->state != CONN_HEADERS)
		return 0;
	c->head_raw += n;
	return c->head_raw > c->srv->lim.max_header_bytes + HEAD_FRAMING;
}

/*
 * One llhttp_execute() over the buffered bytes (perhaps none). Returns 1
 * when the parser consumed everything and wants more, 0 when it stopped:
 * a request complete (handed to the handler; reading stops until it
 * answers), a streamed body paused, or an error answered.
 */
static int
conn_step(struct http_conn *c)
{
	/* No read buffer yet: a resume with nothing read. */
	const char	*at = c->rbuf ? c->rbuf + c->roff : "";
	size_t		 n = c->rlen - c->roff;
	llhttp_errno_t	 e;

	if (head_scan(&c->scan, at, n) != 0) {
		fail(c, 400, "folded header line (obs-fold)");
		return 0;
	}
	e = llhttp_execute(&c->parser, at, n);
	if (e == HPE_OK) {
		c->roff = c->rlen = 0;
		if (head_too_long(c, n))
			fail(c, 431, "request header fields too large");
		return 0;
	}
	if (e != HPE_PAUSED && e != HPE_PAUSED_UPGRADE) {
		parse_failed(c);
		return 0;
	}
	c->roff = (size_t)(llhttp_get_error_pos(&c->parser) - c->rbuf);
	if (e == HPE_PAUSED && c->req.paused) {
		uv_read_stop(&c->h.stream);
		return 0;
	}
	if (e == HPE_PAUSED) {
		uv_read_stop(&c->h.stream);
		c->srv->h.request(&c->req, c->srv->h.arg);
		return 0;
	}
	/* CONNECT or Upgrade, answered like any request: we switch to no
	   other protocol, so what follows is read as HTTP again. */
	llhttp_resume_after_upgrade(&c->parser);
	return 1;
}

/* Feeds buffered bytes to the parser until they run out or it stops. */
static void
conn_process(struct http_conn *c)
{
	while (c->roff < c->rlen && c->state != CONN_CLOSED)
		if (!conn_step(c))
			return;
	c->roff = c->rlen = 0;
}

static void
alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	struct http_conn *c = h->data;

	(void)hint;
	/* Taken at the first byte, not at accept: a connection that sends
	   nothing costs no read buffer. Without one, read_cb gets ENOBUFS. */
	if (c->rbuf == NULL && (c->rbuf = malloc(RBUF_SIZE)) == NULL) {
		*b = uv_buf_init(NULL, 0);
		return;
	}
	if (c->roff == c->rlen)
		c->roff = c->rlen = 0;
	b->base = c->rbuf + c->rlen;
	b->len = RBUF_SIZE - c->rlen;
}

static void
read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct http_conn *c = s->data;

	(void)b;
	if (n == 0)
		return;
	if (n < 0) {
		/* A half request at EOF is a client that gave up. */
		conn_close(c);
		return;
	}
	c->got_bytes = 1;
	c->rlen += (size_t)n;
	conn_process(c);
}

/* Resumes a connection after its answer was written. */
static void
conn_resume(struct http_conn *c)
{
	c->state = CONN_IDLE;
	req_reset(&c->req, c->srv->lim.max_header_bytes);
	memset(&c->scan, 0, sizeof(c->scan));
	llhttp_resume(&c->parser);
	timer_set(c, c->srv->lim.idle_timeout_ms);
	conn_process(c);
	/* An idle keep-alive connection holds no read buffer: thousands of
	   them would otherwise hold 16 KiB each, for nothing. */
	if (c->state == CONN_IDLE && c->rlen == 0) {
		free(c->rbuf);
		c->rbuf = NULL;
	}
	if (c->state == CONN_IDLE || c->state == CONN_HEADERS ||
	    c->state == CONN_BODY)
		uv_read_start(&c->h.stream, alloc_cb, read_cb);
}

/* What a lingering connection reads is dropped: one buffer serves all. */
static void
linger_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	struct http_conn *c = h->data;

	(void)hint;
	*b = uv_buf_init(c->srv->discard, sizeof(c->srv->discard));
}

static void
linger_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	(void)b;
	if (n < 0)
		conn_close(s->data);
}

static void
shutdown_cb(uv_shutdown_t *s, int status)
{
	struct http_conn *c = s->data;

	if (status < 0 || c->state == CONN_CLOSED) {
		conn_close(c);
		return;
	}
	c->state = CONN_LINGER;
	c->roff = c->rlen = 0;
	free(c->rbuf);		/* lingering reads go to srv->discard */
	c->rbuf = NULL;
	timer_set(c, LINGER_MS);
	if (uv_read_start(&c->h.stream, linger_alloc, linger_read) != 0)
		conn_close(c);
}

static void
write_cb(uv_write_t *w, int status)
{
	struct http_conn *c = w->data;

	buf_free(&c->out);
	if (c->state == CONN_CLOSED)
		return;
	c->nreq++;
	if (status < 0 || c->close_after) {
		c->sreq.data = c;
		if (status < 0 || c->no_linger || uv_shutdown(&c->sreq,
		    &c->h.stream, shutdown_cb) != 0)
			conn_close(c);
		return;
	}
	conn_resume(c);
}

static int
value_ok(const char *v)
{
	return strpbrk(v, "\r\n") == NULL;
}

static int
format_head(struct http_conn *c, int status, const char *ctype,
    const struct http_hdr *hdrs, size_t nhdrs, size_t len)
{
	char		date[CLOCK_DATE_LEN];
	size_t		i;
	int		rc = 0, retry = c->req.retry_after > 0;

	clock_http_date(clock_now_ms(), date);
	rc |= buf_printf(&c->out, "HTTP/1.1 %d %s\r\nDate: %s\r\n"
	    "Content-Length: %zu\r\nConnection: %s\r\n"
	    "X-Content-Type-Options: nosniff\r\n"
	    "Cache-Control: no-store\r\n", status, http_reason(status), date,
	    len, c->close_after ? "close" : "keep-alive");
	if (ctype)
		rc |= buf_printf(&c->out, "Content-Type: %s\r\n", ctype);
	for (i = 0; i < nhdrs; i++) {
		rc |= buf_printf(&c->out, "%s: %s\r\n", hdrs[i].name,
		    hdrs[i].value);
		if (strcasecmp(hdrs[i].name, "retry-after") == 0)
			retry = 0;
	}
	/* On a 503 of ours, unless the handler said when itself. */
	if (retry)
		rc |= buf_printf(&c->out, "Retry-After: %u\r\n",
		    c->req.retry_after);
	rc |= buf_puts(&c->out, "\r\n");
	return rc ? -1 : 0;
}

int
http_respond(struct http_req *req, int status, const char *ctype,
    const struct http_hdr *hdrs, size_t nhdrs, const void *body, size_t len)
{
	struct http_conn	*c = req->conn;
	uv_buf_t		 b;
	size_t			 i;

	for (i = 0; i < nhdrs; i++)
		if (!value_ok(hdrs[i].value) || !value_ok(hdrs[i].name))
			return ERR_INVAL;
	c->inflight = 0;
	/* An answer ends a stream for the handler: no abort after it. */
	req->stream_done = 1;
	if (c->state == CONN_CLOSED) {
		/* Closed while the handler had the request (shutdown's drain
		   timer). If the close callbacks already ran they left c to
		   us; if they are still pending, conn_closed frees c now
		   that inflight is 0. */
		if (c->handles == 0)
			conn_free(c);
		return 0;
	}
	if (c->srv->draining)
		c->close_after = 1;
	buf_init(&c->out, 0);
	if (format_head(c, status, ctype, hdrs, nhdrs, len) == -1 ||
	    (req->method != HTTP_METHOD_HEAD &&
	    buf_append(&c->out, body, len) != 0)) {
		buf_free(&c->out);
		conn_close(c);
		return ERR_NOMEM;
	}
	/* The handler is done with the request: its bytes go back to the
	   budget now, not when a slow reader has taken the answer. */
	req_release(c);
	c->state = CONN_WRITING;
	timer_set(c, c->srv->lim.idle_timeout_ms);
	b = uv_buf_init(c->out.data, (unsigned)c->out.len);
	c->wreq.data = c;
	if (uv_write(&c->wreq, &c->h.stream, &b, 1, write_cb) != 0) {
		buf_free(&c->out);
		conn_close(c);
	}
	return 0;
}

void
http_req_close_after(struct http_req *req)
{
	req->conn->close_after = 1;
}

void
http_req_stream(struct http_req *req, size_t max_bytes)
{
	req->streaming = 1;
	req->body_max = max_bytes;
}

void
http_req_set_user(struct http_req *req, void *p)
{
	req->user = p;
}

void *
http_req_user(const struct http_req *req)
{
	return req->user;
}

void
http_req_resume(struct http_req *req)
{
	struct http_conn	*c = req->conn;

	if (!req->paused || c->state == CONN_CLOSED)
		return;
	req->paused = 0;
	llhttp_resume(&c->parser);
	timer_set(c, c->srv->lim.body_timeout_ms);
	/* A pause on the body's last byte leaves on_message_complete owed,
	   and only a call to the parser pays it, even with nothing to read. */
	if (conn_step(c))
		conn_process(c);
	if (c->state == CONN_BODY && !req->paused)
		uv_read_start(&c->h.stream, alloc_cb, read_cb);
}

/* ---- connection lifetime ---- */

static void
server_free(uv_handle_t *h)
{
	struct http_server	*s = h->data;
	void			(*cb)(void *) = s->done_cb;
	void			*arg = s->done_arg;

	if (s->held != 0 || ipcount_addresses(s->ips) != 0)
		log_warnx("http: stopped holding %zu request bytes and %zu "
		    "addresses: an accounting bug", s->held,
		    ipcount_addresses(s->ips));
	ipcount_free(s->ips);
	free(s->proxies);
	free(s);
	if (cb)
		cb(arg);
}

/* Once draining and every handle is gone, the server frees itself. */
static void
server_maybe_done(struct http_server *s)
{
	if (!s->draining || s->nconns || s->nrejects || s->nlisteners ||
	    uv_is_closing((uv_handle_t *)&s->drain_timer))
		return;
	uv_close((uv_handle_t *)&s->drain_timer, server_free);
}

/*
 * After a storm of connections, malloc keeps the freed memory in its
 * heap, where the last allocations pin the top: RSS stayed at the storm's
 * peak. When the open connections fall to a quarter of the peak since
 * the last trim (of at least TRIM_PEAK), and again when the last of
 * them closes, malloc_trim() gives the free pages back: a few trims per
 * storm, each a walk of the heap.
 */
#define TRIM_PEAK	256

static void
maybe_trim(struct http_server *s)
{
	unsigned	open = s->nconns + s->nrejects;

	if (s->peak >= TRIM_PEAK && open <= s->peak / 4) {
		s->peak = open;
		s->trimmed = 1;
	} else if (open == 0 && s->trimmed)	/* the storm's last ones */
		s->trimmed = 0;
	else
		return;
	(void)malloc_trim(0);
}

static void
conn_closed(uv_handle_t *h)
{
	struct http_conn	*c = h->data;
	struct http_server	*s = c->srv;

	if (--c->handles > 0)
		return;
	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	if (c->rejected)
		s->nrejects--;
	else
		s->nconns--;
	/* A request in the handler's hands is freed by http_respond(). */
	if (!c->inflight)
		conn_free(c);
	maybe_trim(s);
	server_maybe_done(s);
}

/*
 * Everything c counts for ends here, at once: its place under its peer's
 * cap, and its bytes in the budget. A request the handler still has keeps
 * its memory until the answer (only the shutdown's drain closes such a
 * connection, and it admits nobody new); it is no longer the server's to
 * count, as the server may be gone by then.
 */
static void
conn_close(struct http_conn *c)
{
	if (c->state == CONN_CLOSED)
		return;
	stream_abort(c);
	c->state = CONN_CLOSED;
	held_settle(c);
	if (c->counted)
		ipcount_drop(c->srv->ips, &c->ip);
	c->counted = 0;
	uv_close(&c->h.handle, conn_closed);
	uv_close((uv_handle_t *)&c->timer, conn_closed);
}

static void
conn_timeout(uv_timer_t *t)
{
	struct http_conn *c = t->data;

	switch (c->state) {
	case CONN_HEADERS:
	case CONN_BODY:
		fail(c, 408, "request timed out");
		break;
	case CONN_IDLE:
		if (c->got_bytes && c->rlen > c->roff) {
			fail(c, 408, "request timed out");
			break;
		}
		conn_close(c);
		break;
	case CONN_WRITING:	/* the client does not read its answers */
	case CONN_LINGER:
		conn_close(c);
		break;
	default:
		break;
	}
}

static void
reject_closed(uv_handle_t *h)
{
	struct http_server *s = h->data;

	free(h);
	s->nrejects--;
	server_maybe_done(s);
}

static void
reject_written(uv_write_t *w, int status)
{
	(void)status;
	uv_close((uv_handle_t *)w->handle, reject_closed);
	free(w->data);
}

/*
 * The last resort, when even turning away would cost too much (see
 * conn_turn_away) or memory ran out: accept, say 503 in one small write
 * with no handler involved, close without a linger. The socket is not
 * left in the backlog where it would hold a client forever.
 */
static void
conn_reject(struct listener *l)
{
	static const char	 text[] = "too many connections\n";
	struct reject {
		uv_write_t	w;
		char		msg[320];
	}			*rj;
	char			 date[CLOCK_DATE_LEN];
	uv_stream_t		*st;
	uv_buf_t		 b;

	st = malloc(l->is_unix ? sizeof(uv_pipe_t) : sizeof(uv_tcp_t));
	if (st == NULL)
		return;
	if (l->is_unix)
		uv_pipe_init(l->srv->loop, (uv_pipe_t *)st, 0);
	else
		uv_tcp_init(l->srv->loop, (uv_tcp_t *)st);
	st->data = l->srv;
	l->srv->nrejects++;
	if (uv_accept(&l->h.stream, st) != 0 ||
	    (rj = malloc(sizeof(*rj))) == NULL) {
		uv_close((uv_handle_t *)st, reject_closed);
		return;
	}
	clock_http_date(clock_now_ms(), date);
	b = uv_buf_init(rj->msg, (unsigned)snprintf(rj->msg, sizeof(rj->msg),
	    "HTTP/1.1 503 Service Unavailable\r\nDate: %s\r\n"
	    "Retry-After: %d\r\nContent-Length: %zu\r\nConnection: close\r\n"
	    "X-Content-Type-Options: nosniff\r\nCache-Control: no-store\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n\r\n%s", date,
	    RETRY_AFTER_S, sizeof(text) - 1, text));
	rj->w.data = rj;
	if (uv_write(&rj->w, st, &b, 1, reject_written) != 0) {
		free(rj);
		uv_close((uv_handle_t *)st, reject_closed);
	}
}

/*
 * A connection over a cap is answered 503 at once, in the handler's
 * format, and closed the way a refused request is: the answer first, then
 * a linger that reads and drops what the client sends meanwhile, so that
 * it reads the answer rather than a reset. Turned-away connections are
 * counted apart from the served ones, whose places they must not take;
 * past max_connections of them lingering, one more closes right after
 * its answer.
 */
static void
conn_turn_away(struct http_conn *c, const char *why)
{
	struct http_server	*s = c->srv;

	if (!c->rejected) {
		s->nconns--;
		s->nrejects++;
		c->rejected = 1;
	}
	c->no_linger = s->nrejects > s->lim.max_connections;
	fail(c, 503, why);
}

/* A new connection, counted as served (nconns) or turned away. */
static struct http_conn *
conn_new(struct listener *l, int rejected)
{
	struct http_server	*s = l->srv;
	struct http_conn	*c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->srv = s;
	if (l->is_unix)
		uv_pipe_init(s->loop, &c->h.pipe, 0);
	else
		uv_tcp_init(s->loop, &c->h.tcp);
	uv_timer_init(s->loop, &c->timer);
	c->h.handle.data = c->timer.data = c;
	c->handles = 2;
	c->next = s->conns;
	if (s->conns)
		s->conns->prev = c;
	s->conns = c;
	c->rejected = rejected;
	if (rejected)
		s->nrejects++;
	else
		s->nconns++;
	if (s->nconns + s->nrejects > s->peak)
		s->peak = s->nconns + s->nrejects;
	llhttp_init(&c->parser, HTTP_REQUEST, &settings);
	c->parser.data = c;
	c->req.conn = c;
	req_reset(&c->req, s->lim.max_header_bytes);
	return c;
}

static void
on_connection(uv_stream_t *ls, int status)
{
	struct listener		*l = ls->data;
	struct http_server	*s = l->srv;
	struct http_conn	*c;
	int			 full, rc;

	if (status < 0 || s->draining)
		return;
	full = s->nconns >= s->lim.max_connections;
	if (full && s->nrejects >= s->lim.max_connections) {
		conn_reject(l);
		return;
	}
	if ((c = conn_new(l, full)) == NULL) {
		log_warnx("http: out of memory accepting a connection");
		/* It must be accepted: libuv stops the listener until it is. */
		conn_reject(l);
		return;
	}
	if (uv_accept(ls, &c->h.stream) != 0) {
		conn_close(c);
		return;
	}
	if (!l->is_unix)
		uv_tcp_nodelay(&c->h.tcp, 1);
	c->state = CONN_IDLE;
	if (peer_name(c, l->is_unix) && !full) {
		rc = ipcount_take(s->ips, &c->ip, s->lim.max_conns_per_ip);
		if (rc != 0) {
			conn_turn_away(c, rc == ERR_BUSY ? "too many "
			    "connections from this address; try again later" :
			    "out of memory");
			return;
		}
		c->counted = 1;
	}
	if (full) {
		conn_turn_away(c, "too many connections; try again later");
		return;
	}
	uv_timer_start(&c->timer, conn_timeout, s->lim.header_timeout_ms, 0);
	uv_read_start(&c->h.stream, alloc_cb, read_cb);
}

/* ---- listeners ---- */

static struct listener *
listener_new(struct http_server *s, int is_unix)
{
	struct listener	*l;

	if ((l = calloc(1, sizeof(*l))) == NULL)
		return NULL;
	l->srv = s;
	l->is_unix = is_unix;
	if (is_unix)
		uv_pipe_init(s->loop, &l->h.pipe, 0);
	else
		uv_tcp_init(s->loop, &l->h.tcp);
	l->h.handle.data = l;
	l->next = s->listeners;
	s->listeners = l;
	s->nlisteners++;
	return l;
}

static int
listen_unix(struct http_server *s, const char *path)
{
	struct listener	*l;
	struct stat	 st;
	int		 rc;

	/* Remove a stale socket from an earlier run, never another file. */
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(path);
	if ((l = listener_new(s, 1)) == NULL)
		return ERR_NOMEM;
	if ((rc = uv_pipe_bind(&l->h.pipe, path)) != 0 ||
	    (rc = uv_listen(&l->h.stream, 511, on_connection)) != 0) {
		log_warnx("http: listen on unix:%s: %s", path, uv_strerror(rc));
		return ERR_IO;
	}
	/* A peer on a Unix socket is trusted with X-Forwarded-For, so not
	   every local user may be one: owner and group only. A proxy that
	   runs as another user is put in intaked's group (or the socket
	   unit's SocketGroup= says whose it is). */
	chmod(path, 0660);
	return 0;
}

static int
listen_tcp(struct http_server *s, const char *spec)
{
	struct sockaddr_storage	 ss;
	struct listener		*l;
	const char		*why;
	int			 rc;

	if (net_parse_hostport(spec, &ss, &why) != 0) {
		log_warnx("http: listen address '%s' %s", spec, why);
		return ERR_INVAL;
	}
	if ((l = listener_new(s, 0)) == NULL)
		return ERR_NOMEM;
	rc = uv_tcp_bind(&l->h.tcp, (struct sockaddr *)&ss,
	    ss.ss_family == AF_INET6 ? UV_TCP_IPV6ONLY : 0);
	if (rc == 0)
		rc = uv_listen(&l->h.stream, 511, on_connection);
	if (rc != 0) {
		log_warnx("http: listen on %s: %s", spec, uv_strerror(rc));
		return ERR_IO;
	}
	return 0;
}

/* Adopts a listening socket passed by systemd (LISTEN_FDS). */
static int
listen_fd(struct http_server *s, int fd)
{
	struct sockaddr_storage	 ss;
	socklen_t		 len = sizeof(ss);
	struct listener		*l;
	int			 rc, is_unix;

	if (getsockname(fd, (struct sockaddr *)&ss, &len) == -1) {
		log_warn("http: socket %d", fd);
		return ERR_IO;
	}
	is_unix = ss.ss_family == AF_UNIX;
	if ((l = listener_new(s, is_unix)) == NULL)
		return ERR_NOMEM;
	rc = is_unix ? uv_pipe_open(&l->h.pipe, fd) :
	    uv_tcp_open(&l->h.tcp, fd);
	if (rc == 0)
		rc = uv_listen(&l->h.stream, 511, on_connection);
	if (rc != 0) {
		log_warnx("http: passed socket %d: %s", fd, uv_strerror(rc));
		return ERR_IO;
	}
	return 0;
}

static void
listener_closed(uv_handle_t *h)
{
	struct listener		*l = h->data;
	struct http_server	*s = l->srv;

	free(l);
	s->nlisteners--;
	server_maybe_done(s);
}

static void
listeners_close(struct http_server *s)
{
	struct listener	*l, *next;

	for (l = s->listeners; l; l = next) {
		next = l->next;
		uv_close(&l->h.handle, listener_closed);
	}
	s->listeners = NULL;
}

/*
 * Copies l into s, the proxy list included, so the caller's copy may go
 * at once. A zero byte cap would mean no cap at all to struct buf.
 */
static int
limits_copy(struct http_server *s, const struct http_limits *l)
{
	struct cidr	*p = NULL;
	size_t		 n = l->ntrusted_proxies;

	if (l->max_header_bytes == 0 || l->max_body_bytes == 0 ||
	    l->memory_budget == 0)
		return ERR_INVAL;
	if (n > 0) {
		if ((p = calloc(n, sizeof(*p))) == NULL)
			return ERR_NOMEM;
		memcpy(p, l->trusted_proxies, n * sizeof(*p));
	}
	free(s->proxies);
	s->proxies = p;
	s->lim = *l;
	s->lim.trusted_proxies = p;
	return 0;
}

static int
listen_all(struct http_server *s, char *const *listen, size_t nlisten,
    const int *fds, size_t nfds)
{
	size_t	i;
	int	rc = 0;

	for (i = 0; rc == 0 && i < nfds; i++)
		rc = listen_fd(s, fds[i]);
	for (i = 0; rc == 0 && nfds == 0 && i < nlisten; i++) {
		if (strncmp(listen[i], "unix:", 5) == 0)
			rc = listen_unix(s, listen[i] + 5);
		else
			rc = listen_tcp(s, listen[i]);
	}
	return rc;
}

int
http_server_start(uv_loop_t *loop, char *const *listen, size_t nlisten,
    const int *fds, size_t nfds, const struct http_limits *lim,
    const struct http_handler *h, struct http_server **out)
{
	struct http_server	*s;
	int			 rc;

	*out = NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return ERR_NOMEM;
	if ((rc = limits_copy(s, lim)) != 0 ||
	    (rc = ipcount_new(&s->ips)) != 0) {
		free(s->proxies);
		free(s);
		return rc;
	}
	s->loop = loop;
	s->h = *h;
	uv_timer_init(loop, &s->drain_timer);
	s->drain_timer.data = s;
	if ((rc = listen_all(s, listen, nlisten, fds, nfds)) != 0) {
		http_server_shutdown(s, NULL, NULL);
		return rc;
	}
	*out = s;
	return 0;
}

int
http_server_set_limits(struct http_server *s, const struct http_limits *lim)
{
	return limits_copy(s, lim);
}

unsigned
http_server_connections(const struct http_server *s)
{
	return s->nconns;
}

unsigned
http_server_connections_from(const struct http_server *s, const char *ip)
{
	struct ipkey	k;

	if (ipcount_key_text(ip, &k) != 0)
		return 0;
	return ipcount_get(s->ips, &k);
}

size_t
http_server_memory(const struct http_server *s)
{
	return s->held;
}

static void
drain_timeout(uv_timer_t *t)
{
	struct http_server	*s = t->data;
	struct http_conn	*c, *next;

	for (c = s->conns; c; c = next) {
		next = c->next;
		conn_close(c);
	}
}

void
http_server_shutdown(struct http_server *s, void (*cb)(void *), void *arg)
{
	struct http_conn	*c, *next;

	s->draining = 1;
	s->done_cb = cb;
	s->done_arg = arg;
	listeners_close(s);
	for (c = s->conns; c; c = next) {
		next = c->next;
		if (c->state == CONN_IDLE && c->roff == c->rlen)
			conn_close(c);
		else
			c->close_after = 1;
	}
	uv_timer_start(&s->drain_timer, drain_timeout,
	    s->lim.shutdown_timeout_ms, 0);
	server_maybe_done(s);
}
