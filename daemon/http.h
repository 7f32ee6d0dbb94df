#ifndef INTAKE_HTTP_H
#define INTAKE_HTTP_H

#include "err.h"

#include <stddef.h>

#include <uv.h>

#include "net.h"

/*
 * The HTTP/1.1 server: listeners (TCP v4/v6, Unix sockets, or sockets passed
 * by systemd), connections, request parsing with llhttp, limits and
 * timeouts, and response writing. It knows nothing about forms or the
 * configuration file: the caller says what to listen on, what is allowed
 * (struct http_limits) and who answers (struct http_handler), so several
 * servers, each with its own routes and limits, can share one loop. A
 * request is handed to the handler, which answers with http_respond() now
 * or later.
 *
 * One request per connection is handled at a time: while a request waits for
 * its answer the connection stops reading, so pipelined requests queue in
 * the kernel, not in our memory, and answers go out in order.
 */

struct http_server;
struct http_req;		/* one request; see the accessors below */

/* The methods a handler tells apart; any other is HTTP_METHOD_OTHER. */
enum http_method {
	HTTP_METHOD_OTHER,
	HTTP_METHOD_GET,
	HTTP_METHOD_HEAD,
	HTTP_METHOD_POST,
	HTTP_METHOD_PUT,
	HTTP_METHOD_DELETE,
	HTTP_METHOD_OPTIONS,
	HTTP_METHOD_PATCH,
};

struct http_hdr {
	const char	*name;
	const char	*value;
};

struct http_handler {
	/*
	 * Called when the headers are complete, before any body byte is read.
	 * Returns 0 to read the body, or answers with http_respond() and
	 * returns non-zero: the body is then never read and the connection
	 * closes after the answer (so a 404/413/415 costs no body bytes).
	 */
	int	(*headers)(struct http_req *, void *arg);
	/* Called with the complete request; must lead to exactly one
	   http_respond(), now or later (e.g. after the store commits). */
	void	(*request)(struct http_req *, void *arg);
	/* Renders an error the server itself detects (400, 408, 411, 413,
	   414, 417, 431, 501, 505, or 503 over a connection cap, over the
	   memory budget or out of memory) in the handler's format; calls
	   http_respond(), which adds Retry-After to a 503 unless the
	   handler gives its own. */
	void	(*error)(struct http_req *, int status, const char *message,
		    void *arg);
	/*
	 * Only for requests whose headers callback chose http_req_stream():
	 * each piece of the body as it arrives, in order, never buffered
	 * whole. Returns HTTP_BODY_MORE to go on, HTTP_BODY_PAUSE to stop
	 * reading until http_req_resume() (the piece was taken), or
	 * HTTP_BODY_ANSWERED after answering with http_respond(): reading
	 * stops and the connection closes after the answer.
	 */
	int	(*body)(struct http_req *, const char *p, size_t n, void *arg);
	/*
	 * A streamed request ended before its body did (the client went
	 * away, a timeout, a framing error, shutdown) and before any answer
	 * of the handler's: the handler drops what it made for it. For the
	 * errors the error callback runs right after, on the same request;
	 * otherwise req must not be used once abort returns.
	 */
	void	(*abort)(struct http_req *, void *arg);
	void	*arg;
};

enum { HTTP_BODY_MORE = 0, HTTP_BODY_PAUSE = 1, HTTP_BODY_ANSWERED = -1 };

/*
 * What one server allows. The caller fills it in; the server keeps a copy
 * (trusted_proxies included), so the caller's may be freed or reused as
 * soon as the call that took it returns.
 *
 * Over max_connections, or over max_conns_per_ip open connections from
 * one peer address (0: no such cap; Unix socket peers and trusted proxies
 * are not counted), a new connection is answered 503 with Retry-After at
 * once, then what it sends is read and dropped for a moment before it
 * closes, so the client reads the answer and not a reset. Turned-away
 * connections do not count against max_connections; up to as many of
 * them linger so, more are closed right after the answer.
 *
 * memory_budget caps the request bytes the server holds in memory across
 * all its connections: headers being read and bodies buffered whole (not
 * streamed ones). A request whose Content-Length does not fit what is
 * left gets 503 before its body is read; one whose headers or chunked
 * body outgrow it gets 503 then. Each connection has a 16 KiB read
 * buffer besides, once it has sent a byte.
 *
 * The header timeout runs to the end of the headers, the body timeout to
 * the end of the body (408 for either); the idle timeout between requests
 * and while an answer is written; the shutdown timeout is the drain's
 * grace. Header bytes cap the URL (414) and the headers (431), body bytes
 * the body (413); neither may be 0, nor may the budget. A peer in
 * trusted_proxies may say who the client is with X-Forwarded-For.
 */
struct http_limits {
	unsigned		 max_connections;
	unsigned		 max_conns_per_ip;
	unsigned		 header_timeout_ms;
	unsigned		 body_timeout_ms;
	unsigned		 idle_timeout_ms;
	unsigned		 shutdown_timeout_ms;
	size_t			 max_header_bytes;
	size_t			 max_body_bytes;
	size_t			 memory_budget;
	const struct cidr	*trusted_proxies;
	size_t			 ntrusted_proxies;
};

/*
 * Starts a server on loop. It listens on the nfds sockets in fds (passed
 * by systemd) when there are any, else on each of the nlisten addresses in
 * listen ("host:port", "[v6]:port" or "unix:/path"; not kept). lim is
 * copied; h is copied, and h->arg must outlive the server. Returns 0 with
 * *out set, ERR_INVAL (bad address or limits), ERR_IO (cannot listen; the
 * reason is logged) or ERR_NOMEM; on failure *out is NULL and whatever was
 * opened closes on the loop's next turns.
 */
int	 http_server_start(uv_loop_t *loop, char *const *listen,
	    size_t nlisten, const int *fds, size_t nfds,
	    const struct http_limits *lim, const struct http_handler *h,
	    struct http_server **out);
/*
 * Replaces the limits (SIGHUP). Connections accepted and requests begun
 * from now on get the new ones; a request already under way keeps the caps
 * it started with. Returns 0, or ERR_INVAL/ERR_NOMEM with the old limits
 * still in force.
 */
int	 http_server_set_limits(struct http_server *,
	    const struct http_limits *lim);
/*
 * Graceful stop: listeners close, idle connections close, busy ones finish
 * their current request and close; after shutdown_timeout_ms the rest is
 * closed. cb(arg) runs once every handle is closed; the server is freed.
 */
void	 http_server_shutdown(struct http_server *, void (*cb)(void *),
	    void *arg);
/* Connections being served (not those turned away). */
unsigned http_server_connections(const struct http_server *);
/* Of those, the ones counted under the peer address ip (text). */
unsigned http_server_connections_from(const struct http_server *,
	    const char *ip);
/* Request bytes held in memory now, against the memory budget. */
size_t	 http_server_memory(const struct http_server *);

/*
 * What a handler may read of a request, valid until it answers. The
 * strings belong to the request. Before its headers were complete (an
 * error callback for 400, 408, 414, 431, 505 or a 503 over a cap) a
 * request has no path yet: http_req_path() is then NULL and the method
 * HTTP_METHOD_OTHER.
 */
enum http_method http_req_method(const struct http_req *);
/* The path as sent, without query and fragment; of an absolute-form
   target (http://host/path) only the path. NULL, see above. */
const char	*http_req_path(const struct http_req *);
/* What followed the '?', or NULL. */
const char	*http_req_query(const struct http_req *);
/* The peer's address, or the client's from X-Forwarded-For when the peer
   is a trusted proxy; "unix" for a Unix socket peer without that header. */
const char	*http_req_client_ip(const struct http_req *);
/* 1 when a trusted proxy says the client came over https
   (X-Forwarded-Proto), so a cookie may be marked Secure. */
int		 http_req_https(const struct http_req *);
/* The value of the cookie called name into out (outlen bytes): 0,
   ERR_NOTFOUND, or ERR_TOOBIG when it does not fit. */
int		 http_req_cookie(const struct http_req *, const char *name,
		    char *out, size_t outlen);
/* The body, NUL-terminated (the NUL is not counted in the length); empty
   in the headers callback, which runs before any body byte is read. */
const char	*http_req_body(const struct http_req *);
size_t		 http_req_body_len(const struct http_req *);
/* Case-insensitive header lookup; NULL when absent. */
const char	*http_req_header(const struct http_req *, const char *name);

/*
 * From the headers callback: the body of this request goes to the
 * handler's body callback piece by piece instead of being buffered, and
 * may be up to max_bytes long (413 beyond, as soon as it is crossed, or at
 * once from Content-Length). While a streamed body arrives, the body
 * timeout is the longest pause between two pieces from the client (time
 * the handler keeps reading paused does not count), so a large upload
 * over a slow link is not cut off while it makes progress.
 */
void		 http_req_stream(struct http_req *, size_t max_bytes);
/* The handler's own pointer for this request (NULL until set). */
void		 http_req_set_user(struct http_req *, void *);
void		*http_req_user(const struct http_req *);
/* Reading resumes after a body callback returned HTTP_BODY_PAUSE. */
void		 http_req_resume(struct http_req *);

/*
 * Sends the answer to req: status line, Date, Content-Length, Connection,
 * X-Content-Type-Options: nosniff, Cache-Control: no-store, Content-Type
 * (when ctype != NULL), then hdrs, then body (omitted for HEAD). Header
 * values containing CR or LF are refused (ERR_INVAL, nothing sent: the
 * caller's bug). If the connection went away meanwhile, the answer is
 * dropped and the request's memory released. req is invalid afterwards.
 */
int	 http_respond(struct http_req *, int status, const char *ctype,
	    const struct http_hdr *hdrs, size_t nhdrs, const void *body,
	    size_t len);
/* As above, but the connection closes after this answer. */
void	 http_req_close_after(struct http_req *);

const char *http_reason(int status);

#endif
