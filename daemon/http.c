#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "http.h"
#include "log.h"
#include "net.h"

#define RBUF_SIZE	16384
#define LINGER_MS	2000

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
	http_parser		 parser;
	enum conn_state		 state;
	int			 handles;	/* open uv handles */
	int			 inflight;	/* handler owns req */
	int			 close_after;
	int			 trusted;	/* peer may set X-Forwarded-For */
	int			 got_bytes;
	unsigned		 nreq;		/* requests answered */
	char			 peer[48];
	struct buf		 out;
	char			 rbuf[RBUF_SIZE];
	size_t			 roff, rlen;
	struct http_req		 req;
	struct http_conn	*prev, *next;
};

struct http_server {
	uv_loop_t		*loop;
	const struct config	*cfg;
	struct http_handler	 h;
	struct listener		*listeners;
	int			 nlisteners;
	struct http_conn	*conns;
	unsigned		 nconns;
	unsigned		 nrejects;
	int			 draining;
	uv_timer_t		 drain_timer;
	void			(*done_cb)(void *);
	void			*done_arg;
};

static const http_parser_settings settings;
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
	case 503: return "Service Unavailable";
	default:  return "Unknown";
	}
}

/* ---- addresses ---- */

/* True if ip (text) is one of the configured trusted proxies. */
static bool
ip_trusted(const struct config *cfg, const char *ip)
{
	return net_cidr_match(cfg->trusted_proxies, cfg->ntrusted_proxies, ip);
}

static void
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
		return;
	}
	if (uv_tcp_getpeername(&c->h.tcp, (struct sockaddr *)&ss, &len) != 0)
		return;
	if (ss.ss_family == AF_INET)
		a = &((struct sockaddr_in *)&ss)->sin_addr;
	else
		a = &((struct sockaddr_in6 *)&ss)->sin6_addr;
	inet_ntop(ss.ss_family, a, c->peer, sizeof(c->peer));
	c->trusted = ip_trusted(c->srv->cfg, c->peer);
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
		if (!ip_trusted(c->srv->cfg, tok) || p == NULL)
			break;
		*p = '\0';
	}
	if (found[0])
		snprintf(c->req.client_ip, sizeof(c->req.client_ip), "%s",
		    found);
}

/* ---- requests ---- */

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

static void
req_reset(struct http_req *req, size_t max_header)
{
	struct http_conn *c = req->conn;

	buf_free(&req->hdrbuf);
	buf_free(&req->body);
	memset(req, 0, sizeof(*req));
	buf_init(&req->hdrbuf, max_header);
	req->conn = c;
}

static void
conn_free(struct http_conn *c)
{
	buf_free(&c->req.hdrbuf);
	buf_free(&c->req.body);
	buf_free(&c->out);
	free(c);
}

static void
timer_set(struct http_conn *c, unsigned ms)
{
	uv_timer_start(&c->timer, conn_timeout, ms, 0);
}

/* Server-detected errors are answered in the handler's format, then the
   connection closes: after a framing problem nothing more can be trusted. */
static void
fail(struct http_conn *c, int status, const char *msg)
{
	c->close_after = 1;
	c->state = CONN_HANDLING;
	uv_read_stop(&c->h.stream);
	uv_timer_stop(&c->timer);
	c->inflight = 1;
	if (c->srv->h.error)
		c->srv->h.error(&c->req, status, msg, c->srv->h.arg);
	else
		http_respond(&c->req, status, "text/plain; charset=utf-8",
		    NULL, 0, msg, strlen(msg));
}

static int
on_message_begin(http_parser *p)
{
	struct http_conn *c = p->data;

	req_reset(&c->req, c->srv->cfg->max_header_bytes);
	c->state = CONN_HEADERS;
	/* The first request's clock started at accept, so trickling bytes
	   cannot extend it; later ones start when their first byte comes. */
	if (c->nreq > 0)
		timer_set(c, c->srv->cfg->header_timeout_ms);
	return 0;
}

/*
 * Header bytes are kept in one capped buffer: the URL, then NUL-terminated
 * names (lowercased) and values. Pieces of one name or value may arrive in
 * several callbacks and are joined.
 */
static int
hdr_piece(struct http_conn *c, const char *at, size_t len, int is_value)
{
	struct http_req	*r = &c->req;

	/* Chunked trailers come through these callbacks too, after path and
	   query already point into hdrbuf: growing it then would move it under
	   them. Trailers carry nothing we use; http_parser still caps them. */
	if (c->state != CONN_HEADERS)
		return 0;
	if (is_value != r->last_was_value || r->nhdr == 0) {
		if (!is_value) {
			if (r->nhdr == HTTP_MAX_HEADERS)
				return -1;
			if (buf_putc(&r->hdrbuf, '\0') != 0)
				return -1;
			r->hdroff[r->nhdr][0] = r->hdrbuf.len;
			r->hdroff[r->nhdr][1] = 0;
			r->nhdr++;
		} else {
			if (r->nhdr == 0 || buf_putc(&r->hdrbuf, '\0') != 0)
				return -1;
			r->hdroff[r->nhdr - 1][1] = r->hdrbuf.len;
		}
	}
	r->last_was_value = is_value;
	return buf_append(&r->hdrbuf, at, len) == 0 ? 0 : -1;
}

static int
on_url(http_parser *p, const char *at, size_t len)
{
	struct http_conn *c = p->data;

	if (buf_append(&c->req.hdrbuf, at, len) != 0)
		return -1;
	c->req.url_len += len;
	return 0;
}

static int
on_header_field(http_parser *p, const char *at, size_t len)
{
	return hdr_piece(p->data, at, len, 0);
}

static int
on_header_value(http_parser *p, const char *at, size_t len)
{
	return hdr_piece(p->data, at, len, 1);
}

/* Splits the URL into path and query and lowercases header names. */
static int
req_finish_headers(struct http_req *r)
{
	char	*q, *s;
	size_t	 i;

	if (buf_putc(&r->hdrbuf, '\0') != 0)
		return -1;
	for (i = 0; i < r->nhdr; i++) {
		if (r->hdroff[i][1] == 0)	/* name without value */
			r->hdroff[i][1] = r->hdroff[i][0] +
			    strlen(r->hdrbuf.data + r->hdroff[i][0]);
		for (s = r->hdrbuf.data + r->hdroff[i][0]; *s; s++)
			if (*s >= 'A' && *s <= 'Z')
				*s = (char)(*s - 'A' + 'a');
	}
	r->path = r->hdrbuf.data;
	r->path[r->url_len] = '\0';
	if ((q = strchr(r->path, '?')) != NULL) {
		*q = '\0';
		r->query = q + 1;
	}
	if ((q = strchr(r->path, '#')) != NULL)
		*q = '\0';
	return 0;
}

static void
continue_written(uv_write_t *w, int status)
{
	(void)w;
	(void)status;
}

static int
on_headers_complete(http_parser *p)
{
	struct http_conn	*c = p->data;
	struct http_req		*r = &c->req;
	const struct config	*cfg = c->srv->cfg;
	const char		*expect;
	static uv_buf_t		 cont = { "HTTP/1.1 100 Continue\r\n\r\n", 25 };

	if (req_finish_headers(r) == -1) {
		fail(c, 431, "request header fields too large");
		return -1;
	}
	r->method = (enum http_method)p->method;
	client_ip(c);
	if ((expect = http_req_header(r, "expect")) != NULL) {
		if (strcasecmp(expect, "100-continue") != 0) {
			fail(c, 417, "only 100-continue is supported");
			return -1;
		}
		r->expect_continue = 1;
	}
	if (r->method == HTTP_POST && !(p->flags & F_CHUNKED) &&
	    !(p->flags & F_CONTENTLENGTH)) {
		fail(c, 411, "Content-Length or chunked body required");
		return -1;
	}
	if ((p->flags & F_CONTENTLENGTH) &&
	    p->content_length > cfg->max_body_bytes) {
		fail(c, 413, "request body too large");
		return -1;
	}
	buf_init(&r->body, cfg->max_body_bytes);
	if (c->srv->h.headers) {
		int	was = c->close_after;

		c->inflight = 1;
		c->state = CONN_HANDLING;
		c->close_after = 1;	/* in case it answers now */
		if (c->srv->h.headers(r, c->srv->h.arg)) {
			/* Answered; the body is never read. Stop reading as
			   fail() does: the parser is dead, so bytes would pile
			   up in rbuf until ENOBUFS closed the connection under
			   the answer. The linger drain discards them instead. */
			uv_read_stop(&c->h.stream);
			return -1;
		}
		c->close_after = was;
		c->inflight = 0;
	}
	c->state = CONN_BODY;
	timer_set(c, cfg->body_timeout_ms);
	if (r->expect_continue)
		uv_write(&c->creq, &c->h.stream, &cont, 1, continue_written);
	return 0;
}

static int
on_body(http_parser *p, const char *at, size_t len)
{
	struct http_conn *c = p->data;
	int		  rc;

	if ((rc = buf_append(&c->req.body, at, len)) != 0) {
		fail(c, rc == ERR_TOOBIG ? 413 : 503,
		    rc == ERR_TOOBIG ? "request body too large" :
		    "out of memory");
		return -1;
	}
	return 0;
}

static int
on_message_complete(http_parser *p)
{
	struct http_conn *c = p->data;

	if (buf_append(&c->req.body, "", 0) != 0) {
		fail(c, 503, "out of memory");
		return -1;
	}
	if (!http_should_keep_alive(p) || c->srv->draining)
		c->close_after = 1;
	uv_timer_stop(&c->timer);
	c->state = CONN_HANDLING;
	c->inflight = 1;
	http_parser_pause(p, 1);
	return 0;
}

static const http_parser_settings settings = {
	.on_message_begin = on_message_begin,
	.on_url = on_url,
	.on_header_field = on_header_field,
	.on_header_value = on_header_value,
	.on_headers_complete = on_headers_complete,
	.on_body = on_body,
	.on_message_complete = on_message_complete,
};

static int
parse_error_status(enum http_errno e)
{
	if (e == HPE_CB_url)
		return 414;
	if (e == HPE_HEADER_OVERFLOW || e == HPE_CB_header_field ||
	    e == HPE_CB_header_value)
		return 431;
	return 400;
}

static const char *
parse_error_message(int status)
{
	switch (status) {
	case 414: return "request URI too long";
	case 431: return "request header fields too large";
	default:  return "malformed request";
	}
}

/*
 * Feeds buffered bytes to the parser until they run out, a request is
 * complete (handed to the handler; reading stops until it answers) or an
 * error is answered.
 */
static void
conn_process(struct http_conn *c)
{
	size_t		nparsed;
	enum http_errno	e;

	while (c->roff < c->rlen && c->state != CONN_CLOSED) {
		nparsed = http_parser_execute(&c->parser, &settings,
		    c->rbuf + c->roff, c->rlen - c->roff);
		c->roff += nparsed;
		e = HTTP_PARSER_ERRNO(&c->parser);
		if (e == HPE_PAUSED) {
			uv_read_stop(&c->h.stream);
			c->srv->h.request(&c->req, c->srv->h.arg);
			return;
		}
		if (e != HPE_OK) {
			/* Callback errors were answered by the callback. */
			if (!c->inflight && c->state != CONN_WRITING &&
			    c->state != CONN_CLOSED)
				fail(c, parse_error_status(e),
				    parse_error_message(parse_error_status(e)));
			return;
		}
	}
	c->roff = c->rlen = 0;
}

static void
alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	struct http_conn *c = h->data;

	(void)hint;
	if (c->roff == c->rlen)
		c->roff = c->rlen = 0;
	b->base = c->rbuf + c->rlen;
	b->len = sizeof(c->rbuf) - c->rlen;
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
	req_reset(&c->req, c->srv->cfg->max_header_bytes);
	http_parser_pause(&c->parser, 0);
	timer_set(c, c->srv->cfg->idle_timeout_ms);
	conn_process(c);
	if (c->state == CONN_IDLE || c->state == CONN_HEADERS ||
	    c->state == CONN_BODY)
		uv_read_start(&c->h.stream, alloc_cb, read_cb);
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
	timer_set(c, LINGER_MS);
	if (uv_read_start(&c->h.stream, alloc_cb, linger_read) != 0)
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
		if (status < 0 || uv_shutdown(&c->sreq, &c->h.stream,
		    shutdown_cb) != 0)
			conn_close(c);
		return;
	}
	conn_resume(c);
}

/* The current time as an HTTP Date (IMF-fixdate). */
static void
http_date(char *out, size_t len)
{
	time_t		now = time(NULL);
	struct tm	tm;

	gmtime_r(&now, &tm);
	strftime(out, len, "%a, %d %b %Y %H:%M:%S GMT", &tm);
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
	char		date[64];
	size_t		i;
	int		rc = 0;

	http_date(date, sizeof(date));
	rc |= buf_printf(&c->out, "HTTP/1.1 %d %s\r\nDate: %s\r\n"
	    "Content-Length: %zu\r\nConnection: %s\r\n"
	    "X-Content-Type-Options: nosniff\r\n"
	    "Cache-Control: no-store\r\n", status, http_reason(status), date,
	    len, c->close_after ? "close" : "keep-alive");
	if (ctype)
		rc |= buf_printf(&c->out, "Content-Type: %s\r\n", ctype);
	for (i = 0; i < nhdrs; i++)
		rc |= buf_printf(&c->out, "%s: %s\r\n", hdrs[i].name,
		    hdrs[i].value);
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
	    (req->method != HTTP_HEAD &&
	    buf_append(&c->out, body, len) != 0)) {
		buf_free(&c->out);
		conn_close(c);
		return ERR_NOMEM;
	}
	c->state = CONN_WRITING;
	timer_set(c, c->srv->cfg->idle_timeout_ms);
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

/* ---- connection lifetime ---- */

static void
server_free(uv_handle_t *h)
{
	struct http_server	*s = h->data;
	void			(*cb)(void *) = s->done_cb;
	void			*arg = s->done_arg;

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
	s->nconns--;
	/* A request in the handler's hands is freed by http_respond(). */
	if (!c->inflight)
		conn_free(c);
	server_maybe_done(s);
}

static void
conn_close(struct http_conn *c)
{
	if (c->state == CONN_CLOSED)
		return;
	c->state = CONN_CLOSED;
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
 * Over the connection cap: accept, say 503 in one small write, close. The
 * socket is not left in the backlog where it would hold a client forever.
 */
static void
conn_reject(struct listener *l)
{
	struct reject {
		uv_write_t	w;
		char		msg[256];
	}		*rj;
	char		 date[64];
	uv_stream_t	*st;
	uv_buf_t	 b;

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
	http_date(date, sizeof(date));
	b = uv_buf_init(rj->msg, (unsigned)snprintf(rj->msg, sizeof(rj->msg),
	    "HTTP/1.1 503 Service Unavailable\r\nDate: %s\r\n"
	    "Retry-After: 5\r\nContent-Length: 0\r\nConnection: close\r\n"
	    "X-Content-Type-Options: nosniff\r\nCache-Control: no-store\r\n"
	    "\r\n", date));
	rj->w.data = rj;
	if (uv_write(&rj->w, st, &b, 1, reject_written) != 0) {
		free(rj);
		uv_close((uv_handle_t *)st, reject_closed);
	}
}

static void
on_connection(uv_stream_t *ls, int status)
{
	struct listener		*l = ls->data;
	struct http_server	*s = l->srv;
	struct http_conn	*c;

	if (status < 0 || s->draining)
		return;
	if (s->nconns >= s->cfg->max_connections) {
		conn_reject(l);
		return;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		log_warnx("http: out of memory accepting a connection");
		/* It must be accepted: libuv stops the listener until it is. */
		conn_reject(l);
		return;
	}
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
	s->nconns++;
	if (uv_accept(ls, &c->h.stream) != 0) {
		conn_close(c);
		return;
	}
	if (!l->is_unix)
		uv_tcp_nodelay(&c->h.tcp, 1);
	peer_name(c, l->is_unix);
	http_parser_init(&c->parser, HTTP_REQUEST);
	c->parser.data = c;
	c->req.conn = c;
	req_reset(&c->req, s->cfg->max_header_bytes);
	c->state = CONN_IDLE;
	uv_timer_start(&c->timer, conn_timeout, s->cfg->header_timeout_ms, 0);
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
	/* The proxy runs as another user; the socket is as open as a
	   loopback port would be, and its directory decides who reaches it. */
	chmod(path, 0666);
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

int
http_server_start(uv_loop_t *loop, const struct config *cfg,
    const struct http_handler *h, const int *fds, size_t nfds,
    struct http_server **out)
{
	struct http_server	*s;
	size_t			 i;
	int			 rc = 0;

	*out = NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return ERR_NOMEM;
	s->loop = loop;
	s->cfg = cfg;
	s->h = *h;
	uv_timer_init(loop, &s->drain_timer);
	s->drain_timer.data = s;
	for (i = 0; rc == 0 && i < nfds; i++)
		rc = listen_fd(s, fds[i]);
	for (i = 0; rc == 0 && nfds == 0 && i < cfg->nlisten; i++) {
		if (strncmp(cfg->listen[i], "unix:", 5) == 0)
			rc = listen_unix(s, cfg->listen[i] + 5);
		else
			rc = listen_tcp(s, cfg->listen[i]);
	}
	if (rc != 0) {
		http_server_shutdown(s, NULL, NULL);
		return rc;
	}
	*out = s;
	return 0;
}

void
http_server_set_config(struct http_server *s, const struct config *cfg)
{
	s->cfg = cfg;
}

unsigned
http_server_connections(const struct http_server *s)
{
	return s->nconns;
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
	    s->cfg->shutdown_timeout_ms, 0);
	server_maybe_done(s);
}
