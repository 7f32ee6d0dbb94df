#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <sodium.h>

#include "altcha.h"
#include "drain.h"
#include "filetype.h"
#include "intake.h"
#include "log.h"
#include "metrics.h"
#include "page.h"
#include "pool.h"
#include "proof.h"
#include "multipart.h"
#include "ratelimit.h"
#include "upload.h"
#include "utf8.h"
#include "uuid.h"

#define ALTCHA_FIELD	PAGE_TOKEN_FIELD
#define CLIENT_STR_MAX	512	/* user agent, referer kept in the record */
#define BODY_MULTIPART	100	/* beside enum form_ctype: streamed */
#define MAX_HDRS	8

enum route_kind {
	R_NONE,
	R_FORM,		/* /forms/NAME */
	R_SCHEMA,	/* /forms/NAME/schema */
	R_THANKS,	/* /forms/NAME/thanks */
	R_ALTCHA,	/* /forms/NAME/altcha: a proof-of-work challenge */
	R_WIDGET,	/* /forms/altcha.js: the widget that solves it */
	R_HEALTH,
};

struct route {
	enum route_kind	 kind;
	int		 form;		/* index into the snapshot's forms */
};

/* Extra answer headers, built per answer. */
struct hdrs {
	struct http_hdr	h[MAX_HDRS];
	size_t		n;
	char		retry[16];
};

struct intake {
	uv_loop_t		*loop;
	struct snapshot		*snap;
	struct store_writer	*writer;
	struct mailer		*mailer;
	struct http_server	*http;
	struct ratelimit	*rl;
	struct proof		*proof;		/* the forms' proof of work */
	struct metrics		 m;
	struct http_handler	 handler;
	const char		*stage_dir;
	struct drain		 inflight;	/* submissions and uploads */
};

/* A submission on its way from the request to the commit. */
struct submission {
	uv_work_t		 work;
	struct store_job	 job;
	struct intake		*in;
	struct snapshot		*snap;		/* the one it was validated with */
	struct http_req		*req;
	int			 form;
	int			 json;		/* answer in JSON */
	json_t			*fields;
	char			*plain;		/* record JSON; wiped */
	size_t			 plainlen;
	int			 ack;
	struct buf		 ct;
	struct store_outbox	*outbox;
	size_t			 noutbox;
	int			 rc;
	struct hdrs		 hdrs;
	struct upload		*upload;	/* its files, or NULL */
	struct store_file	*files;
	size_t			 nfiles;
	struct altcha_spend	 spend;		/* with fc->altcha */
};

/*
 * A multipart submission while its body arrives: the upload splits it,
 * the threadpool stages its files. Owned through the request's user
 * pointer until it becomes a submission, is answered, or is aborted; an
 * aborted one with work in flight is freed when the work returns.
 */
struct inflow {
	uv_work_t		 work;
	struct intake		*in;
	struct snapshot		*snap;
	struct http_req		*req;
	int			 form;
	int			 json;
	struct upload		*u;
	struct upload_field	*fields;
	int			 working, finishing, aborted;
	struct hdrs		 hdrs;
};

static void
hdr_add(struct hdrs *h, const char *name, const char *value)
{
	if (h->n < MAX_HDRS) {
		h->h[h->n].name = name;
		h->h[h->n].value = value;
		h->n++;
	}
}

static void
hdr_retry(struct hdrs *h, unsigned seconds)
{
	snprintf(h->retry, sizeof(h->retry), "%u", seconds);
	hdr_add(h, "Retry-After", h->retry);
}

/* ---- answers ---- */

static void
respond(struct intake *in, struct http_req *req, int status,
    const char *ctype, const struct hdrs *h, const void *body, size_t len)
{
	metrics_response(&in->m, status);
	http_respond(req, status, ctype, h ? h->h : NULL, h ? h->n : 0, body,
	    len);
}

/* One submission's outcome, counted under its form's name. */
static void
count(struct intake *in, const struct snapshot *s, int form,
    enum metric_sub what)
{
	metrics_submission(&in->m, form >= 0 && (size_t)form < s->cfg->nforms ?
	    s->cfg->forms[form].name : "none", what);
}

static void
respond_json(struct intake *in, struct http_req *req, int status,
    const struct hdrs *h, json_t *doc)
{
	char	*s;

	s = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	if (s == NULL) {
		respond(in, req, 503, "text/plain; charset=utf-8", NULL,
		    "out of memory\n", 14);
		return;
	}
	respond(in, req, status, "application/json", h, s, strlen(s));
	free(s);
}

/*
 * JSON clients: a request body in JSON, or an Accept that asks for JSON and
 * not HTML (fetch() with urlencoded bodies). Everyone else gets HTML.
 */
static int
wants_json(const struct http_req *req)
{
	const char	*ct = http_req_header(req, "content-type");
	const char	*acc = http_req_header(req, "accept");

	if (ct && strncasecmp(ct, "application/json", 16) == 0)
		return 1;
	return acc && strstr(acc, "application/json") &&
	    !strstr(acc, "text/html");
}

/* The JSON client's list of problems, by field name. */
static json_t *
errors_json(const struct form_error *errs, size_t n)
{
	json_t	*arr = json_array();
	size_t	 i;

	for (i = 0; arr && i < n; i++)
		json_array_append_new(arr, json_pack("{s:s, s:s, s:s}",
		    "field", errs[i].field, "code", errs[i].code,
		    "message", errs[i].message));
	return arr;
}

static void
respond_html(struct intake *in, struct http_req *req, int status,
    const struct hdrs *h, const struct tmpl *t, json_t *ctx)
{
	struct buf	out;

	buf_init(&out, 1 << 20);
	if (template_render(t, ctx, &out) != 0)
		respond(in, req, 503, "text/plain; charset=utf-8", NULL,
		    "cannot render page\n", 19);
	else
		respond(in, req, status, "text/html; charset=utf-8", h,
		    out.data, out.len);
	json_decref(ctx);
	buf_free(&out);
}

/*
 * Every error answer: JSON {"error": message} or, for 422, {"errors":
 * [...]}; HTML through error.html. Nothing from the request is echoed.
 */
static void
respond_error(struct intake *in, const struct snapshot *s,
    struct http_req *req, int json, int form, int status, const char *message,
    const struct form_error *errs, size_t nerrs, const struct hdrs *h)
{
	json_t			*doc;

	if (json) {
		if (nerrs)
			doc = json_pack("{s:o}", "errors",
			    errors_json(errs, nerrs));
		else
			doc = json_pack("{s:s}", "error", message);
		respond_json(in, req, status, h, doc);
		return;
	}
	respond_html(in, req, status, h, s->error, page_error_context(s,
	    form, status, message));
}

/* The per-IP rule for submissions ([limits] rate, rate_burst). */
static void
submit_rate(const struct snapshot *s, struct rate *r)
{
	r->count = s->cfg->rate_per_minute;
	r->period_ms = 60000;
	r->burst = s->cfg->rate_burst;
}

/*
 * A submission that needs correcting costs a quarter of an accepted one:
 * a patient fixing a phone number four times has spent one try, so at the
 * defaults (30 a minute, bursts of 10) ten quick corrections never lock
 * anyone out. The whole token was taken at the headers; the rest is given
 * back here.
 */
#define INVALID_COST	0.25

static void
refund_invalid(struct intake *in, struct http_req *req)
{
	struct rate	rate;

	submit_rate(in->snap, &rate);
	ratelimit_refund(in->rl, http_req_client_ip(req), clock_now_ms(), &rate,
	    1.0 - INVALID_COST);
}

/* ---- routing ---- */

static int
name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
	    c == '_';
}

static struct route
route(const struct intake *in, const char *path)
{
	struct route	 r = { R_NONE, -1 };
	const char	*name, *end;

	if (path == NULL)
		return r;
	if (strcmp(path, "/healthz") == 0)
		r.kind = R_HEALTH;
	else if (strcmp(path, "/forms/altcha.js") == 0)
		r.kind = R_WIDGET;
	if (r.kind != R_NONE || strncmp(path, "/forms/", 7) != 0)
		return r;
	name = path + 7;
	for (end = name; name_char(*end); end++)
		;
	if (end == name || (r.form = snapshot_form(in->snap, name,
	    (size_t)(end - name))) == -1)
		return r;
	if (*end == '\0')
		r.kind = R_FORM;
	else if (strcmp(end, "/schema") == 0)
		r.kind = R_SCHEMA;
	else if (strcmp(end, "/thanks") == 0)
		r.kind = R_THANKS;
	else if (strcmp(end, "/altcha") == 0)
		r.kind = R_ALTCHA;
	return r;
}

static const char *
allowed_methods(enum route_kind k)
{
	return k == R_FORM ? "GET, HEAD, POST, OPTIONS" : "GET, HEAD";
}

static int
method_ok(enum route_kind k, enum http_method m)
{
	if (m == HTTP_METHOD_GET || m == HTTP_METHOD_HEAD)
		return 1;
	return k == R_FORM && (m == HTTP_METHOD_POST || m == HTTP_METHOD_OPTIONS);
}

/* Adds CORS headers when the request's Origin is one the form allows. */
static void
cors(const struct snapshot *s, int form, const struct http_req *req,
    struct hdrs *h)
{
	const struct form_conf	*fc;
	const char		*origin = http_req_header(req, "origin");
	size_t			 i;

	if (origin == NULL || form < 0)
		return;
	fc = &s->cfg->forms[form];
	for (i = 0; i < fc->ncors_origins; i++)
		if (strcmp(fc->cors_origins[i], origin) == 0) {
			hdr_add(h, "Access-Control-Allow-Origin",
			    fc->cors_origins[i]);
			hdr_add(h, "Vary", "Origin");
			return;
		}
}

/* The body's type, from Content-Type; -1 when unsupported (415). */
static int
body_type(const char *ct, const char **why)
{
	char		 media[64];
	const char	*params;
	size_t		 n;

	*why = "Content-Type must be application/x-www-form-urlencoded, "
	    "multipart/form-data or application/json";
	if (ct == NULL)
		return -1;
	n = strcspn(ct, "; \t");
	if (n >= sizeof(media))
		return -1;
	memcpy(media, ct, n);
	media[n] = '\0';
	params = ct + n;
	/* Bodies are read as UTF-8; any other declared charset is refused
	   rather than misread. */
	if (strcasestr(params, "charset=") && !strcasestr(params,
	    "charset=utf-8") && !strcasestr(params, "charset=\"utf-8\""))
		return (*why = "only the utf-8 charset is accepted"), -1;
	if (strcasecmp(media, "application/x-www-form-urlencoded") == 0)
		return FORM_URLENCODED;
	if (strcasecmp(media, "application/json") == 0)
		return FORM_JSON;
	if (strcasecmp(media, "multipart/form-data") == 0)
		return BODY_MULTIPART;
	*why = "Content-Type must be application/x-www-form-urlencoded, "
	    "multipart/form-data or application/json";
	return -1;
}

static void	respond_unavailable(struct intake *, const struct snapshot *,
		    struct http_req *, int, int, struct hdrs *);
static void	refuse_proof(struct intake *, struct http_req *, int, int,
		    int, const struct form_result *, const struct upload *,
		    struct hdrs *);
static int	inflow_start(struct intake *, struct http_req *, int, int,
		    const struct hdrs *);

/*
 * Before the body is read: unknown forms, wrong methods, unsupported types
 * and rate-limited clients of a POST are answered without reading a byte
 * of the body.
 */
static int
on_headers(struct http_req *req, void *arg)
{
	struct intake	*in = arg;
	struct route	 r;
	struct hdrs	 h = { .n = 0 };
	struct rate	 rate;
	const char	*why;
	unsigned	 wait;
	int		 json = wants_json(req), type;

	if (http_req_method(req) != HTTP_METHOD_POST)
		return 0;
	r = route(in, http_req_path(req));
	if (r.kind == R_NONE) {
		respond_error(in, in->snap, req, json, -1, 404, "no such form", NULL, 0,
		    NULL);
		return 1;
	}
	cors(in->snap, r.form, req, &h);
	if (r.kind != R_FORM) {
		hdr_add(&h, "Allow", allowed_methods(r.kind));
		respond_error(in, in->snap, req, json, r.form, 405,
		    "method not allowed here", NULL, 0, &h);
		return 1;
	}
	if ((type = body_type(http_req_header(req, "content-type"),
	    &why)) == -1) {
		respond_error(in, in->snap, req, json, r.form, 415, why, NULL, 0,
		    &h);
		return 1;
	}
	submit_rate(in->snap, &rate);
	wait = ratelimit_take(in->rl, http_req_client_ip(req), clock_now_ms(), &rate);
	if (wait) {
		count(in, in->snap, r.form, SUB_LIMITED);
		hdr_retry(&h, wait);
		respond_error(in, in->snap, req, json, r.form, 429,
		    "too many submissions; please try again later", NULL, 0,
		    &h);
		return 1;
	}
	if (type == BODY_MULTIPART)
		return inflow_start(in, req, r.form, json, &h);
	return 0;
}

/* ---- GET endpoints ---- */

static void
get_health(struct intake *in, struct http_req *req)
{
	int	ok = store_writer_healthy(in->writer);

	respond_json(in, req, ok ? 200 : 503, NULL, json_pack("{s:s, s:s}",
	    "status", ok ? "ok" : "unhealthy", "store", ok ? "ok" :
	    "failing"));
}

int
intake_metrics(struct intake *in, const struct store_stats *st,
    struct buf *out)
{
	struct metrics_gauges	g = { 0 };
	struct mailer_counters	mc = { 0 };

	g.connections = in->http ? http_server_connections(in->http) : 0;
	g.memory = in->http ? http_server_memory(in->http) : 0;
	g.memory_budget = in->snap->cfg->memory_budget;
	g.store_pending = store_writer_pending(in->writer);
	g.store_healthy = store_writer_healthy(in->writer);
	g.store = store_writer_metrics(in->writer);
	if (st != NULL) {
		g.have_outbox = 1;
		g.inquiries = st->inquiries;
		g.outbox_queued = st->outbox_queued;
		g.outbox_failed = st->outbox_failed;
	}
	if (in->mailer)
		mailer_counters(in->mailer, &mc);
	g.transport = mc.transport ? mc.transport : "none";
	g.mail_sent = mc.sent;
	g.mail_failed = mc.failed;
	g.mail_retried = mc.retried;
	g.acks_limited = mc.acks_limited;
	return metrics_render(&in->m, &g, out) == 0 ? 0 : ERR_NOMEM;
}

static void
get_schema(struct intake *in, struct http_req *req, int form)
{
	struct hdrs	 h = { .n = 0 };
	const char	*text;
	size_t		 len;

	text = schema_text(in->snap->schemas[form], &len);
	cors(in->snap, form, req, &h);
	respond(in, req, 200, "application/schema+json", &h, text, len);
}

/* Whether the form asks for proof of work. */
static int
altcha_on(const struct snapshot *s, int form)
{
	return s->cfg->forms[form].altcha;
}

/* A fresh challenge for the widget; never cached (one per client). */
static void
get_altcha(struct intake *in, struct http_req *req, int form)
{
	const struct form_conf	*fc = &in->snap->cfg->forms[form];
	struct hdrs		 h = { .n = 0 };
	struct buf		 b;

	cors(in->snap, form, req, &h);
	if (!fc->altcha) {
		respond_error(in, in->snap, req, 1, form, 404, "this form asks "
		    "for no proof of work", NULL, 0, &h);
		return;
	}
	buf_init(&b, 4096);
	if (proof_challenge(in->proof, fc, &b) != 0)
		respond_unavailable(in, in->snap, req, 1, form, &h);
	else
		respond(in, req, 200, "application/json", &h, b.data, b.len);
	buf_free(&b);
}

/* The widget itself, from our own origin. */
static void
get_widget(struct intake *in, struct http_req *req)
{
	struct hdrs	h = { .n = 0 };

	if (in->snap->widget == NULL) {
		respond_error(in, in->snap, req, 0, -1, 404, "not found", NULL,
		    0, NULL);
		return;
	}
	hdr_add(&h, "Cross-Origin-Resource-Policy", "same-site");
	respond(in, req, 200, "text/javascript; charset=utf-8", &h,
	    in->snap->widget, in->snap->widgetlen);
}

/* The form page: fresh, or again with the answers and their errors. */
static void
form_page(struct intake *in, const struct snapshot *s, struct http_req *req,
    int status, int form, const struct form_result *res,
    const struct form_error *errs, size_t nerrs, int files_again,
    const struct hdrs *h)
{
	respond_html(in, req, status, h, s->form_page, page_form_context(s,
	    form, res ? res->answers : NULL, errs, nerrs, files_again,
	    altcha_on(s, form)));
}

static void
get_form_page(struct intake *in, struct http_req *req, int form)
{
	form_page(in, in->snap, req, 200, form, NULL, NULL, 0, 0, NULL);
}

/* The thank-you page a successful HTML post is sent to (303): a reload
   or Back shows it again and never posts twice. */
static void
get_thanks(struct intake *in, struct http_req *req, int form)
{
	const char	*q = http_req_query(req);
	char		 ref[UUID_STRLEN + 1] = "";

	/* Only an id is echoed, and only as one. */
	if (q && strncmp(q, "ref=", 4) == 0 && strlen(q + 4) == UUID_STRLEN) {
		memcpy(ref, q + 4, UUID_STRLEN + 1);
		if (!uuid_valid(ref))
			ref[0] = '\0';
	}
	respond_html(in, req, 200, NULL, in->snap->thanks,
	    page_thanks_context(in->snap, form, ref[0] ? ref : NULL));
}

static void
options_form(struct intake *in, struct http_req *req, int form)
{
	struct hdrs	h = { .n = 0 };

	cors(in->snap, form, req, &h);
	if (h.n == 0) {
		respond_error(in, in->snap, req, 1, form, 403,
		    "origin not allowed", NULL, 0, NULL);
		return;
	}
	hdr_add(&h, "Access-Control-Allow-Methods", "POST");
	hdr_add(&h, "Access-Control-Allow-Headers", "Content-Type, Accept");
	hdr_add(&h, "Access-Control-Max-Age", "600");
	respond(in, req, 204, NULL, &h, "", 0);
}

/* ---- submissions ---- */

static void
sub_free(struct submission *sub)
{
	if (sub->plain) {
		sodium_memzero(sub->plain, sub->plainlen);
		free(sub->plain);
	}
	json_decref(sub->fields);
	buf_free(&sub->ct);
	upload_free(sub->upload);
	free(sub->files);
	if (sub->outbox)
		mailer_outbox_free(sub->outbox, sub->noutbox);
	snapshot_unref(sub->snap);
	free(sub);
}

static void
sub_finish(struct submission *sub)
{
	struct intake	*in = sub->in;

	sub_free(sub);
	drain_end(&in->inflight);
}

/* The success answer: 201 JSON, or 303 to the configured page or ours. */
static void
respond_success(struct intake *in, struct http_req *req, int json,
    struct snapshot *s, int form, const char *id, struct hdrs *h)
{
	const struct form_conf	*fc = &s->cfg->forms[form];
	char			 where[192];

	if (json) {
		respond_json(in, req, 201, h, json_pack("{s:s}", "id", id));
	} else {
		/* Post/Redirect/Get: a reload of what follows never posts. */
		if (fc->redirect == NULL)
			snprintf(where, sizeof(where), "/forms/%s/thanks?ref=%s",
			    fc->name, id);
		hdr_add(h, "Location", fc->redirect ? fc->redirect : where);
		respond(in, req, 303, "text/plain; charset=utf-8", h,
		    "See Other\n", 10);
	}
}

static void
respond_unavailable(struct intake *in, const struct snapshot *s,
    struct http_req *req, int json, int form, struct hdrs *h)
{
	count(in, s, form, SUB_UNAVAILABLE);
	hdr_retry(h, 30);
	respond_error(in, s, req, json, form, 503, "the inquiry could not be "
	    "stored right now; please try again shortly", NULL, 0, h);
}

static void
committed(struct store_job *job, int result)
{
	struct submission	*sub = job->arg;
	struct intake		*in = sub->in;

	if (result == ERR_REPLAYED)	/* spent on another daemon first */
		refuse_proof(in, sub->req, sub->form, sub->json, result, NULL,
		    NULL, &sub->hdrs);
	else if (result != 0) {
		log_warnx("inquiry %s not stored: %s", job->id,
		    err_str(result));
		respond_unavailable(in, sub->snap, sub->req, sub->json, sub->form,
		    &sub->hdrs);
	} else {
		log_info("inquiry %s stored (form %s)", job->id, job->form);
		count(in, sub->snap, sub->form, SUB_ACCEPTED);
		respond_success(in, sub->req, sub->json, sub->snap, sub->form,
		    job->id, &sub->hdrs);
		if (in->mailer && sub->noutbox)
			mailer_kick(in->mailer);
	}
	sub_finish(sub);
}

_Static_assert(UPLOAD_FILES_MAX <= MESSAGE_FILES_MAX, "files in a mail");

/* The inquiry as its mails see it, from the snapshot it was accepted
   with: a reload never mixes old and new settings in one inquiry. files
   has room for UPLOAD_FILES_MAX. */
static void
mail_view(const struct submission *sub, struct message_inquiry *inq,
    struct message_file *files)
{
	const struct snapshot		*s = sub->snap;
	const struct form_conf		*fc = &s->cfg->forms[sub->form];
	const struct upload_file	*f;
	size_t				 i;

	memset(inq, 0, sizeof(*inq));
	for (i = 0; sub->upload && i < upload_nfiles(sub->upload); i++) {
		f = upload_file(sub->upload, i);
		files[i].filename = f->filename;
		files[i].type = f->content_type;
		files[i].size = f->size;
		files[i].staged = f->staged;
	}
	inq->files = files;
	inq->nfiles = i;
	inq->inbox_url = s->cfg->admin_public_url;
	inq->id = sub->job.id;
	inq->form = fc->name;
	inq->title = snapshot_form_title(s, sub->form);
	inq->received_at_ms = sub->job.received_at_ms;
	inq->fields = sub->fields;
	inq->labels = schema_fields(s->schemas[sub->form], &inq->nlabels);
	inq->reply_to_field = fc->reply_to;
	inq->record = (const unsigned char *)sub->ct.data;
	inq->recordlen = sub->ct.len;
	inq->tpl = &s->mail;
	inq->subject = s->subjects[sub->form];
}

/* Threadpool: the X25519 work and the mail rendering, off the loop. */
static void
work_encrypt(uv_work_t *w)
{
	struct submission	*sub = w->data;
	struct message_inquiry	 inq;
	struct message_file	 files[UPLOAD_FILES_MAX];
	int			 rc;

	pool_background();
	rc = age_encrypt(sub->snap->rcpts, sub->snap->nrcpts, sub->plain,
	    sub->plainlen, &sub->ct);
	if (rc != 0) {
		sub->rc = rc;
		return;
	}
	if (sub->in->mailer == NULL)
		return;
	mail_view(sub, &inq, files);
	sub->rc = mailer_compose(sub->in->mailer, &inq, sub->ack,
	    &sub->outbox, &sub->noutbox);
}

static void
after_encrypt(uv_work_t *w, int status)
{
	struct submission	*sub = w->data;
	struct intake		*in = sub->in;
	int			 rc;

	sodium_memzero(sub->plain, sub->plainlen);
	if (status != 0 || sub->rc != 0) {
		log_warnx("inquiry %s not encrypted", sub->job.id);
		respond_unavailable(in, sub->snap, sub->req, sub->json, sub->form,
		    &sub->hdrs);
		sub_finish(sub);
		return;
	}
	sub->job.ct = (const unsigned char *)sub->ct.data;
	sub->job.ctlen = sub->ct.len;
	sub->job.outbox = sub->outbox;
	sub->job.noutbox = sub->noutbox;
	sub->job.files = sub->files;
	sub->job.nfiles = sub->nfiles;
	if ((rc = store_writer_submit(in->writer, &sub->job)) != 0) {
		log_warnx("inquiry %s not queued: %s", sub->job.id,
		    err_str(rc));
		respond_unavailable(in, sub->snap, sub->req, sub->json, sub->form,
		    &sub->hdrs);
		sub_finish(sub);
	}
}

static json_t *
client_str(const char *s)
{
	size_t	n;

	if (s == NULL)
		return json_null();
	n = strnlen(s, CLIENT_STR_MAX);
	while (n > 0 && !utf8_valid(s, n))	/* cut inside a sequence */
		n--;
	return json_stringn(s, n);
}

/* What the record says of each file, in the order they are stored. */
static json_t *
attachments_json(const struct upload *u)
{
	const struct upload_file	*f;
	json_t				*list = json_array();
	size_t				 i;

	for (i = 0; list && u && i < upload_nfiles(u); i++) {
		f = upload_file(u, i);
		if (json_array_append_new(list, json_pack("{s:s, s:s, s:s, "
		    "s:I, s:s}", "field", f->field, "filename", f->filename,
		    "content_type", f->content_type, "size",
		    (json_int_t)f->size, "sha256", f->sha256)) != 0) {
			json_decref(list);
			return NULL;
		}
	}
	return list;
}

/*
 * What the patient agreed to, as the page showed it, and when (GDPR Art.
 * 7(1): the clinic must be able to show it): each consent field (a boolean
 * the schema requires to be true) with its title. The record then holds
 * the words even after the schema changes.
 */
static json_t *
consents_json(const struct submission *sub, const char *received)
{
	const struct form_field	*f;
	json_t			*list = json_array();
	size_t			 i, n;

	f = schema_fields(sub->snap->schemas[sub->form], &n);
	for (i = 0; list && i < n; i++)
		if (f[i].consent && json_is_true(json_object_get(sub->fields,
		    f[i].name)) && json_array_append_new(list, json_pack(
		    "{s:s, s:s, s:s}", "field", f[i].name, "text", f[i].title ?
		    f[i].title : f[i].name, "at", received)) != 0) {
			json_decref(list);
			return NULL;
		}
	return list;
}

/* The plaintext record (DESIGN.md "Records and crypto"). */
static char *
record_json(struct submission *sub, const char *received)
{
	const struct http_req	*req = sub->req;
	json_t			*doc;
	char			*s;

	doc = json_pack("{s:i, s:s, s:s, s:s, s:O, s:{s:s, s:o, s:o}, s:o, "
	    "s:o}",
	    "v", 1, "id", sub->job.id, "form", sub->job.form,
	    "received_at", received, "fields", sub->fields,
	    "client", "ip", http_req_client_ip(req),
	    "user_agent", client_str(http_req_header(req, "user-agent")),
	    "referer", client_str(http_req_header(req, "referer")),
	    "attachments", attachments_json(sub->upload),
	    "consents", consents_json(sub, received));
	if (doc == NULL)
		return NULL;
	s = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	return s;
}

/* The patient gets an acknowledgement only when the form asks for one and
   the per-address and per-IP limits allow it. */
static int
want_ack(struct intake *in, const struct form_conf *fc, json_t *fields,
    const char *ip)
{
	const char	*addr;

	if (!fc->ack || fc->reply_to == NULL || in->mailer == NULL)
		return 0;
	addr = json_string_value(json_object_get(fields, fc->reply_to));
	return addr && mailer_ack_allowed(in->mailer, addr, ip);
}

/* The staged files as the store takes them; 0 or ERR_NOMEM. */
static int
store_files(struct submission *sub)
{
	const struct upload_file	*f;
	size_t				 i, n;

	if (sub->upload == NULL || (n = upload_nfiles(sub->upload)) == 0)
		return 0;
	if ((sub->files = calloc(n, sizeof(*sub->files))) == NULL)
		return ERR_NOMEM;
	for (i = 0; i < n; i++) {
		f = upload_file(sub->upload, i);
		sub->files[i].fd = f->fd;
		sub->files[i].size = f->staged;
	}
	sub->nfiles = n;
	return 0;
}

/* Takes fields and u (its files; may be NULL) whatever happens. */
static void
submit(struct intake *in, struct http_req *req, int form, int json,
    json_t *fields, struct upload *u, const struct altcha_spend *spend,
    struct hdrs *h)
{
	struct submission	*sub;
	char			 received[32];

	if (in->inflight.n >= in->snap->cfg->max_pending_writes ||
	    (sub = calloc(1, sizeof(*sub))) == NULL) {
		json_decref(fields);
		upload_free(u);
		respond_unavailable(in, in->snap, req, json, form, h);
		return;
	}
	sub->upload = u;
	sub->in = in;
	sub->snap = snapshot_ref(in->snap);
	sub->req = req;
	sub->form = form;
	sub->json = json;
	sub->fields = fields;
	sub->hdrs = *h;
	buf_init(&sub->ct, 0);
	sub->job.received_at_ms = clock_now_ms();
	uuid_v7(sub->job.received_at_ms, sub->job.id);
	sub->job.form = sub->snap->cfg->forms[form].name;
	sub->job.done = committed;
	sub->job.arg = sub;
	if (spend != NULL) {
		/* Spent in the database too: another daemon that saw it
		   first refuses this one (ERR_REPLAYED). */
		sub->spend = *spend;
		sub->job.spend = sub->spend.digest;
		sub->job.spend_expires_ms = spend->expires_s * 1000;
	}
	sub->work.data = sub;
	clock_rfc3339(sub->job.received_at_ms, received);
	drain_begin(&in->inflight);
	sub->ack = want_ack(in, &sub->snap->cfg->forms[form], fields,
	    http_req_client_ip(req));
	if (store_files(sub) != 0 ||
	    (sub->plain = record_json(sub, received)) == NULL) {
		respond_unavailable(in, sub->snap, req, json, form, &sub->hdrs);
		sub_finish(sub);
		return;
	}
	/* Complete before queueing: the work may start at once elsewhere. */
	sub->plainlen = strlen(sub->plain);
	if (uv_queue_work(in->loop, &sub->work, work_encrypt,
	    after_encrypt) != 0) {
		respond_unavailable(in, sub->snap, req, json, form, &sub->hdrs);
		sub_finish(sub);
	}
}

/* How many files of field the upload (arg) brought. */
static unsigned
files_of(void *arg, const char *field)
{
	const struct upload	*u = arg;
	size_t			 i;
	unsigned		 n = 0;

	for (i = 0; u != NULL && i < upload_nfiles(u); i++)
		n += strcmp(upload_file(u, i)->field, field) == 0;
	return n;
}

/* The 422's list: the fields' problems, then the files'. NULL without
   memory (the caller answers 503). */
static struct form_error *
all_errors(const struct form_result *res, const struct upload *u, size_t *n)
{
	const struct upload_problem	*pr = NULL;
	struct form_error		*all;
	size_t				 i, np = 0;

	if (u != NULL)
		pr = upload_problems(u, &np);
	*n = res->nerrors + np;
	if ((all = calloc(*n + 1, sizeof(*all))) == NULL)
		return NULL;
	for (i = 0; i < res->nerrors; i++)
		all[i] = res->errors[i];
	for (i = 0; i < np; i++) {
		all[res->nerrors + i].field = (char *)pr[i].field;
		all[res->nerrors + i].code = (char *)pr[i].code;
		all[res->nerrors + i].message = (char *)pr[i].message;
	}
	return all;
}

/*
 * The answers are right but the proof of work is not: 422 naming altcha
 * (the form again, answers kept, a fresh widget), or 503 when the
 * verifier cannot take more just now. The proof is checked only once the
 * answers are right, so a correction never costs a second one.
 */
static void
refuse_proof(struct intake *in, struct http_req *req, int form, int json,
    int pr, const struct form_result *res, const struct upload *u,
    struct hdrs *h)
{
	struct form_error	e = { ALTCHA_FIELD, "altcha", NULL };

	if (pr == ERR_BUSY || pr == ERR_NOMEM || pr == ERR_IO) {
		respond_unavailable(in, in->snap, req, json, form, h);
		return;
	}
	count(in, in->snap, form, SUB_INVALID);
	refund_invalid(in, req);
	e.message = (char *)proof_message(pr);
	/* Without res (refused at the commit, the answers gone): the error
	   page, as for JSON clients. */
	if (json || res == NULL)
		respond_error(in, in->snap, req, json, form, 422, "Some "
		    "answers need correcting:", &e, 1, h);
	else
		form_page(in, in->snap, req, 422, form, res, &e, 1,
		    u != NULL && upload_nfiles(u) > 0, h);
}

/*
 * Validates a body against the form (a multipart one's text, with u's
 * files counted) and answers or submits. Takes u.
 */
static void
validate(struct intake *in, struct http_req *req, int form, int json,
    int type, const char *body, size_t len, struct upload *u,
    struct hdrs *h)
{
	const struct config	*cfg = in->snap->cfg;
	const struct form_conf	*fc = &cfg->forms[form];
	struct form_opts	 opts = { 0 };
	struct form_result	 res = { 0 };
	struct form_error	*errs;
	struct altcha_spend	 spend;
	char			 id[UUID_STRLEN + 1];
	size_t			 nerrs, np = 0;
	int			 rc, pr;

	opts.honeypot = fc->honeypot;
	opts.max_fields = cfg->max_fields;
	opts.max_field_bytes = cfg->max_field_bytes;
	opts.max_json_depth = cfg->max_json_depth;
	opts.files = u ? files_of : NULL;
	opts.files_arg = u;
	if (fc->altcha) {
		opts.token_field = ALTCHA_FIELD;
		opts.keep_answers = 1;
	}
	rc = form_parse(in->snap->schemas[form], (enum form_ctype)type, body,
	    len, &opts, &res);
	if (u != NULL)
		(void)upload_problems(u, &np);
	if (rc == 0 && np > 0)
		rc = ERR_REJECTED;
	if (res.honeypot) {
		/* Bots learn nothing: the same answer, a fresh id, no record. */
		count(in, in->snap, form, SUB_SPAM);
		log_info("form %s: honeypot submission dropped", fc->name);
		uuid_v7(clock_now_ms(), id);
		respond_success(in, req, json, in->snap, form, id, h);
	} else if (rc == 0 && fc->altcha && (pr = proof_verify(in->proof, fc,
	    res.token, res.tokenlen, &spend)) != 0) {
		refuse_proof(in, req, form, json, pr, &res, u, h);
	} else if (rc == 0) {
		submit(in, req, form, json, res.fields, u, fc->altcha ? &spend :
		    NULL, h);
		res.fields = NULL;
		u = NULL;
	} else if (rc == ERR_REJECTED &&
	    (errs = all_errors(&res, u, &nerrs)) != NULL) {
		count(in, in->snap, form, SUB_INVALID);
		refund_invalid(in, req);
		if (json)
			respond_error(in, in->snap, req, json, form, 422, "Some "
			    "answers need correcting:", errs, nerrs, h);
		else
			form_page(in, in->snap, req, 422, form, &res, errs,
			    nerrs, u != NULL && upload_nfiles(u) > 0, h);
		free(errs);
	} else if (rc == ERR_MALFORMED) {
		count(in, in->snap, form, SUB_MALFORMED);
		respond_error(in, in->snap, req, json, form, 400, res.nerrors ?
		    res.errors[0].message : "malformed body", NULL, 0, h);
	} else
		respond_unavailable(in, in->snap, req, json, form, h);
	upload_free(u);
	form_result_free(&res);
}

static void
post_form(struct intake *in, struct http_req *req, int form)
{
	struct hdrs	 h = { .n = 0 };
	const char	*why;
	int		 json = wants_json(req), type;

	cors(in->snap, form, req, &h);
	if ((type = body_type(http_req_header(req, "content-type"),
	    &why)) == -1 || type == BODY_MULTIPART) {
		/* multipart was streamed; it never comes this way. */
		respond_error(in, in->snap, req, json, form, 415, why, NULL, 0,
		    &h);
		return;
	}
	validate(in, req, form, json, type, http_req_body(req),
	    http_req_body_len(req), NULL, &h);
}

/* ---- multipart: streamed, files staged as they arrive ---- */

static void
inflow_free(struct inflow *fl)
{
	struct intake	*in = fl->in;

	upload_free(fl->u);
	free(fl->fields);
	snapshot_unref(fl->snap);
	free(fl);
	drain_end(&in->inflight);
}

/* An answer before the body's end ends the upload. */
static void
inflow_refuse(struct inflow *fl, int status, const char *why)
{
	struct intake	*in = fl->in;

	http_req_set_user(fl->req, NULL);
	http_req_close_after(fl->req);
	if (status == 400)
		count(in, fl->snap, fl->form, SUB_MALFORMED);
	if (status == 503)
		respond_unavailable(in, fl->snap, fl->req, fl->json, fl->form,
		    &fl->hdrs);
	else
		respond_error(in, fl->snap, fl->req, fl->json, fl->form, status,
		    why, NULL, 0, &fl->hdrs);
	inflow_free(fl);
}

/* The body is whole and every file staged: validate as any form. */
static void
inflow_complete(struct inflow *fl)
{
	struct upload	*u = fl->u;
	const char	*text;
	size_t		 len;

	http_req_set_user(fl->req, NULL);
	fl->u = NULL;
	text = upload_text(u, &len);
	/* Validated against the snapshot the upload began with: after a
	   reload meanwhile its form may have changed under it. */
	if (fl->snap != fl->in->snap) {
		upload_free(u);
		respond_unavailable(fl->in, fl->snap, fl->req, fl->json,
		    fl->form, &fl->hdrs);
	} else
		validate(fl->in, fl->req, fl->form, fl->json, FORM_URLENCODED,
		    text, len, u, &fl->hdrs);
	inflow_free(fl);
}

static void
stage_work(uv_work_t *w)
{
	pool_background();
	upload_work(((struct inflow *)w->data)->u);
}

static void
stage_done(uv_work_t *w, int status)
{
	struct inflow	*fl = w->data;

	fl->working = 0;
	if (fl->aborted) {
		inflow_free(fl);
		return;
	}
	if (status != 0 || upload_work_done(fl->u) != 0) {
		inflow_refuse(fl, 503, NULL);
		return;
	}
	if (fl->finishing)
		inflow_complete(fl);
	else
		http_req_resume(fl->req);
}

static int
stage(struct inflow *fl)
{
	fl->work.data = fl;
	if (uv_queue_work(fl->in->loop, &fl->work, stage_work,
	    stage_done) != 0)
		return -1;
	fl->working = 1;
	return 0;
}

static int
on_body(struct http_req *req, const char *p, size_t n, void *arg)
{
	struct inflow	*fl = http_req_user(req);
	int		 r;

	(void)arg;
	if (fl == NULL)
		return HTTP_BODY_MORE;
	r = upload_feed(fl->u, p, n);
	if (r == UPLOAD_MORE)
		return HTTP_BODY_MORE;
	if (r == UPLOAD_WORK && stage(fl) == 0)
		return HTTP_BODY_PAUSE;
	inflow_refuse(fl, r == ERR_TOOBIG ? 413 : r == ERR_MALFORMED ? 400 :
	    503, upload_error(fl->u));
	return HTTP_BODY_ANSWERED;
}

/* The client went away, or the body timed out or broke: nothing of the
   upload stays (the staging files have no name and close with it). */
static void
on_abort(struct http_req *req, void *arg)
{
	struct inflow	*fl = http_req_user(req);

	(void)arg;
	if (fl == NULL)
		return;
	http_req_set_user(req, NULL);
	if (fl->working)
		fl->aborted = 1;
	else
		inflow_free(fl);
}

/* The end of a multipart body (the request callback). */
static void
inflow_end(struct inflow *fl)
{
	int	r = upload_finish(fl->u);

	if (r == 0) {
		inflow_complete(fl);
		return;
	}
	if (r == UPLOAD_WORK) {
		fl->finishing = 1;
		if (stage(fl) == 0)
			return;
		r = ERR_NOMEM;
	}
	inflow_refuse(fl, r == ERR_TOOBIG ? 413 : r == ERR_MALFORMED ? 400 :
	    503, upload_error(fl->u));
}

/* The form's file fields and what it takes, for its upload. */
static int
upload_setup(const struct snapshot *s, int form, struct upload_policy *pol,
    struct upload_field **fields, size_t *nfields)
{
	const struct config	*cfg = s->cfg;
	const struct form_conf	*fc = &cfg->forms[form];
	const struct form_field	*f;
	size_t			 i, n;

	memset(pol, 0, sizeof(*pol));
	pol->allowed = fc->attach_types;
	pol->file_bytes = fc->file_bytes;
	pol->upload_bytes = cfg->max_upload_bytes;
	pol->files = fc->files;
	pol->field_bytes = cfg->max_field_bytes;
	pol->text_bytes = cfg->max_body_bytes;
	pol->max_parts = cfg->max_fields + fc->files + 8;
	f = schema_fields(s->schemas[form], &n);
	*nfields = 0;
	if ((*fields = calloc(n + 1, sizeof(**fields))) == NULL)
		return ERR_NOMEM;
	for (i = 0; i < n; i++)
		if (f[i].file) {
			(*fields)[*nfields].name = f[i].name;
			(*fields)[(*nfields)++].max = page_files_max(fc, &f[i]);
		}
	return 0;
}

/*
 * From the headers of a multipart POST: the body will be streamed through
 * an upload. Returns 0 to read it, or 1 after answering (a bad boundary,
 * no memory).
 */
static int
inflow_start(struct intake *in, struct http_req *req, int form, int json,
    const struct hdrs *h)
{
	const struct config	*cfg = in->snap->cfg;
	struct upload_policy	 pol;
	struct hdrs		 hd = *h;
	struct inflow		*fl;
	char			 boundary[MULTIPART_BOUNDARY_MAX + 1];
	size_t			 nfields;

	if (multipart_boundary(http_req_header(req, "content-type"), boundary,
	    sizeof(boundary)) != 0) {
		count(in, in->snap, form, SUB_MALFORMED);
		respond_error(in, in->snap, req, json, form, 400, "the "
		    "multipart body has no valid boundary", NULL, 0, &hd);
		return 1;
	}
	if ((fl = calloc(1, sizeof(*fl))) == NULL) {
		respond_unavailable(in, in->snap, req, json, form, &hd);
		return 1;
	}
	fl->in = in;
	fl->snap = snapshot_ref(in->snap);
	fl->req = req;
	fl->form = form;
	fl->json = json;
	fl->hdrs = *h;
	drain_begin(&in->inflight);
	if (upload_setup(fl->snap, form, &pol, &fl->fields, &nfields) != 0 ||
	    upload_new(boundary, &pol, fl->fields, nfields, in->stage_dir,
	    fl->snap->rcpts, fl->snap->nrcpts, &fl->u) != 0) {
		inflow_free(fl);
		respond_unavailable(in, in->snap, req, json, form, &hd);
		return 1;
	}
	http_req_set_user(req, fl);
	http_req_stream(req, cfg->max_upload_bytes + cfg->max_body_bytes);
	return 0;
}

static void
on_request(struct http_req *req, void *arg)
{
	struct intake	*in = arg;
	struct route	 r = route(in, http_req_path(req));
	struct hdrs	 h = { .n = 0 };
	int		 json = wants_json(req);

	if (r.kind == R_NONE) {
		respond_error(in, in->snap, req, json, -1, 404, "not found", NULL, 0,
		    NULL);
		return;
	}
	if (!method_ok(r.kind, http_req_method(req))) {
		hdr_add(&h, "Allow", allowed_methods(r.kind));
		respond_error(in, in->snap, req, json, r.form, 405,
		    "method not allowed here", NULL, 0, &h);
		return;
	}
	switch (r.kind) {
	case R_HEALTH:
		get_health(in, req);
		break;
	case R_SCHEMA:
		get_schema(in, req, r.form);
		break;
	case R_THANKS:
		get_thanks(in, req, r.form);
		break;
	case R_ALTCHA:
		get_altcha(in, req, r.form);
		break;
	case R_WIDGET:
		get_widget(in, req);
		break;
	case R_FORM:
		if (http_req_method(req) == HTTP_METHOD_POST &&
		    http_req_user(req) != NULL)
			inflow_end(http_req_user(req));
		else if (http_req_method(req) == HTTP_METHOD_POST)
			post_form(in, req, r.form);
		else if (http_req_method(req) == HTTP_METHOD_OPTIONS)
			options_form(in, req, r.form);
		else
			get_form_page(in, req, r.form);
		break;
	default:
		break;
	}
}

static void
on_error(struct http_req *req, int status, const char *message, void *arg)
{
	struct intake	*in = arg;

	respond_error(in, in->snap, req, http_req_path(req) ? wants_json(req) : 1, -1, status,
	    message, NULL, 0, NULL);
}

/* ---- lifetime ---- */

int
intake_new(uv_loop_t *loop, struct snapshot *snap, struct store_writer *w,
    struct mailer *mailer, const char *stage_dir, struct intake **out)
{
	struct intake	*in;

	*out = NULL;
	if ((in = calloc(1, sizeof(*in))) == NULL)
		return -1;
	if ((in->rl = ratelimit_new()) == NULL ||
	    (in->proof = proof_new(snap->cfg->altcha_key)) == NULL ||
	    proof_prepare(in->proof, snap->cfg) != 0) {
		proof_free(in->proof);
		ratelimit_free(in->rl);
		free(in);
		return -1;
	}
	in->loop = loop;
	in->snap = snapshot_ref(snap);
	in->writer = w;
	in->mailer = mailer;
	in->stage_dir = stage_dir;
	in->handler.headers = on_headers;
	in->handler.body = on_body;
	in->handler.abort = on_abort;
	in->handler.request = on_request;
	in->handler.error = on_error;
	in->handler.arg = in;
	*out = in;
	return 0;
}

void
intake_set_snapshot(struct intake *in, struct snapshot *snap)
{
	snapshot_unref(in->snap);
	in->snap = snapshot_ref(snap);
	/* A form that turned altcha on: until its key loads (logged), its
	   challenges answer 503. */
	(void)proof_prepare(in->proof, snap->cfg);
}

void
intake_set_http(struct intake *in, struct http_server *http)
{
	in->http = http;
}

const struct http_handler *
intake_handler(struct intake *in)
{
	return &in->handler;
}

void
intake_drain(struct intake *in, void (*cb)(void *), void *arg)
{
	drain_wait(&in->inflight, cb, arg);
}

void
intake_free(struct intake *in)
{
	if (in == NULL)
		return;
	snapshot_unref(in->snap);
	ratelimit_free(in->rl);
	proof_free(in->proof);
	free(in);
}
