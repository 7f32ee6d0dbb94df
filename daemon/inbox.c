#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "age.h"
#include "audit.h"
#include "buf.h"
#include "clock.h"
#include "drain.h"
#include "inbox.h"
#include "log.h"
#include "pool.h"
#include "ratelimit.h"
#include "session.h"
#include "store.h"
#include "uuid.h"

#define COOKIE		"intaked_session"
#define FILES_MAX	256		/* the page's files, at most */
#define FILES_BYTES	(16u << 20)	/* and their bytes in all */
#define FILE_DEPTH	3
#define LIST_MAX	200		/* inquiries per page */
#define LIST_DEFAULT	50
#define HEAVY_MAX	4		/* age files being read at once */
#define DOWNLOAD_MAX	(256u << 20)	/* one age file we hand out */
#define MAX_HDRS	6

/* What every answer of the admin listener says about itself. */
static const struct http_hdr guard[] = {
	{ "Content-Security-Policy", "default-src 'self'; "
	    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'" },
	{ "Referrer-Policy", "no-referrer" },
	{ "X-Frame-Options", "DENY" },
	{ "Cross-Origin-Opener-Policy", "same-origin" },
};
#define NGUARD	(sizeof(guard) / sizeof(guard[0]))

struct file {
	char		*name;		/* relative to root, '/'-separated */
	char		*data;
	size_t		 len;
	const char	*ctype;
};

struct files {
	struct file	*f;
	size_t		 n, bytes;
};

struct inbox {
	uv_loop_t		*loop;
	struct snapshot		*snap;
	const char		*store;
	struct intake		*intake;
	struct ratelimit	*rl;
	struct files		 files;
	struct http_handler	 handler;
	struct drain		 inflight;	/* API calls */
	unsigned		 heavy;
};

enum op {
	OP_LOGIN,
	OP_VERIFY,
	OP_LOGOUT,
	OP_LIST,
	OP_RECORD,
	OP_ATTACHMENT,
	OP_STATUS,
	OP_DELETE,
	OP_METRICS,
};

/* One API request on its way through the threadpool. */
struct call {
	uv_work_t		 work;
	struct inbox		*in;
	struct snapshot		*snap;
	struct http_req		*req;
	enum op			 op;
	int			 need_session, need_csrf;
	char			 token[SESSION_TOKEN_STRLEN + 1];
	char			 csrf[SESSION_TOKEN_STRLEN + 1];
	char			 client[48];
	char			 recipient[SESSION_RECIPIENT_MAX + 1];
	char			 answer[SESSION_TOKEN_STRLEN + 1];
	char			 id[STORE_ID_LEN + 1];
	char			 before[STORE_ID_LEN + 1];
	char			 form[STORE_FORM_MAX + 1];
	char			 status[STORE_STATUS_MAX + 1];
	unsigned		 n, limit;
	int			 known;		/* login: a staff key */
	int			 secure;	/* cookie: Secure */
	int			 heavy;
	struct session		 sess;
	/* the answer */
	int			 code;
	const char		*ctype;
	struct buf		 body;
	char			 cookie[160];
	char			 newcsrf[SESSION_TOKEN_STRLEN + 1];
	struct store_stats	 stats;		/* metrics */
	int			 have_stats;
};

/* ---- answers ------------------------------------------------------------ */

static void
respond(struct http_req *req, int status, const char *ctype,
    const char *cookie, const void *body, size_t len)
{
	struct http_hdr	h[NGUARD + 1];
	size_t		i, n = 0;

	for (i = 0; i < NGUARD; i++)
		h[n++] = guard[i];
	if (cookie != NULL && *cookie != '\0') {
		h[n].name = "Set-Cookie";
		h[n++].value = cookie;
	}
	http_respond(req, status, ctype, h, n, body, len);
}

static void
respond_json(struct http_req *req, int status, const char *cookie,
    json_t *doc)
{
	char	*s = doc ? json_dumps(doc, JSON_COMPACT) : NULL;

	json_decref(doc);
	if (s == NULL) {
		respond(req, 503, "application/json", NULL,
		    "{\"error\":\"out of memory\"}", 25);
		return;
	}
	respond(req, status, "application/json", cookie, s, strlen(s));
	free(s);
}

static void
respond_error(struct http_req *req, int status, const char *message)
{
	respond_json(req, status, NULL, json_pack("{s:s}", "error", message));
}

/* ---- the page's files --------------------------------------------------- */

static const char *
ctype_of(const char *name)
{
	static const struct {
		const char	*ext, *type;
	} types[] = {
		{ ".html", "text/html; charset=utf-8" },
		{ ".js", "text/javascript; charset=utf-8" },
		{ ".mjs", "text/javascript; charset=utf-8" },
		{ ".css", "text/css; charset=utf-8" },
		{ ".json", "application/json" },
		{ ".svg", "image/svg+xml" },
		{ ".png", "image/png" },
		{ ".ico", "image/x-icon" },
		{ ".txt", "text/plain; charset=utf-8" },
	};
	const char	*dot = strrchr(name, '.');
	size_t		 i;

	for (i = 0; dot && i < sizeof(types) / sizeof(types[0]); i++)
		if (strcmp(dot, types[i].ext) == 0)
			return types[i].type;
	return NULL;
}

static void
files_free(struct files *fs)
{
	size_t	i;

	for (i = 0; i < fs->n; i++) {
		free(fs->f[i].name);
		free(fs->f[i].data);
	}
	free(fs->f);
	memset(fs, 0, sizeof(*fs));
}

/* Reads one file of the page into fs. */
static int
file_add(struct files *fs, const char *path, const char *name)
{
	struct stat	 st;
	struct file	*f, *grown;
	ssize_t		 n;
	int		 fd, r = ERR_IO;

	if (fs->n == FILES_MAX)
		return ERR_TOOBIG;
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1)
		return ERR_IO;
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    (uint64_t)st.st_size > FILES_BYTES - fs->bytes) {
		close(fd);
		return errno == 0 ? ERR_TOOBIG : ERR_IO;
	}
	if ((grown = reallocarray(fs->f, fs->n + 1, sizeof(*fs->f))) == NULL)
		goto out;
	fs->f = grown;
	f = &fs->f[fs->n];
	memset(f, 0, sizeof(*f));
	if ((f->name = strdup(name)) == NULL ||
	    (f->data = malloc((size_t)st.st_size + 1)) == NULL) {
		free(f->name);
		r = ERR_NOMEM;
		goto out;
	}
	n = read(fd, f->data, (size_t)st.st_size);
	if (n != st.st_size) {
		free(f->name);
		free(f->data);
		goto out;
	}
	f->len = (size_t)n;
	f->ctype = ctype_of(name);
	fs->bytes += f->len;
	fs->n++;
	r = 0;
out:
	close(fd);
	return r;
}

/* Names a page may have: letters, digits, - _ . with no leading dot. */
static int
name_ok(const char *s)
{
	return s[0] != '.' && s[0] != '\0' &&
	    strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789-_.") == strlen(s);
}

static int
dir_load(struct files *fs, const char *dir, const char *prefix, int depth)
{
	DIR		*d;
	struct dirent	*e;
	char		 path[PATH_MAX], name[PATH_MAX];
	int		 r = 0;

	if ((d = opendir(dir)) == NULL)
		return ERR_IO;
	while (r == 0 && (e = readdir(d)) != NULL) {
		if (!name_ok(e->d_name))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		snprintf(name, sizeof(name), "%s%s", prefix, e->d_name);
		if (e->d_type == DT_DIR && depth < FILE_DEPTH) {
			strncat(name, "/", sizeof(name) - strlen(name) - 1);
			r = dir_load(fs, path, name, depth + 1);
		} else if (e->d_type == DT_REG && ctype_of(e->d_name))
			r = file_add(fs, path, name);
	}
	closedir(d);
	return r;
}

/* Loads every servable file under root; the page must have index.html. */
static int
files_load(struct files *fs, const char *root)
{
	struct files	new = { NULL, 0, 0 };
	size_t		i;
	int		r, index = 0;

	if ((r = dir_load(&new, root, "", 1)) == 0) {
		for (i = 0; i < new.n; i++)
			index |= strcmp(new.f[i].name, "index.html") == 0;
		if (!index)
			r = ERR_NOTFOUND;
	}
	if (r != 0) {
		log_warnx("inbox: cannot load the page from %s: %s", root,
		    err_str(r));
		files_free(&new);
		return r;
	}
	files_free(fs);
	*fs = new;
	return 0;
}

static void
serve_file(struct inbox *in, struct http_req *req, const char *name)
{
	size_t	i;

	if (*name == '\0')
		name = "index.html";
	for (i = 0; i < in->files.n; i++)
		if (strcmp(in->files.f[i].name, name) == 0) {
			respond(req, 200, in->files.f[i].ctype, NULL,
			    in->files.f[i].data, in->files.f[i].len);
			return;
		}
	respond(req, 404, "text/plain; charset=utf-8", NULL, "not found\n",
	    10);
}

/* ---- the threadpool's side ---------------------------------------------- */

static int
append_cb(void *arg, const void *p, size_t n)
{
	return buf_append(arg, p, n);
}

/* The staff recipient whose key text is, or NULL. */
static const struct age_recipient *
staff_find(const struct snapshot *s, const char *text)
{
	struct age_recipient	r;
	size_t			i;

	if (age_recipient_parse(text, &r) != 0)
		return NULL;
	for (i = 0; i < s->nrcpts; i++)
		if (sodium_memcmp(s->rcpts[i].pk, r.pk, AGE_KEY_LEN) == 0)
			return &s->rcpts[i];
	return NULL;
}

/* "staff age1… (label)": the key says who, the label says it for people. */
static void
audit_for(const struct call *c, struct audit_event *ev, char *actor,
    size_t len, const char *action, const char *detail)
{
	const char			*who = c->recipient[0] ? c->recipient :
					    c->sess.recipient;
	const struct age_recipient	*r = staff_find(c->snap, who);

	if (r != NULL && r->label[0] != '\0')
		snprintf(actor, len, "staff %s (%s)", who, r->label);
	else
		snprintf(actor, len, "staff %s", who);
	memset(ev, 0, sizeof(*ev));
	ev->actor = actor;
	ev->action = action;
	ev->inquiry_id = c->id[0] ? c->id : NULL;
	ev->client = c->client;
	ev->detail = detail;
}

/* Encrypts a fresh token to the recipient alone. An unknown recipient
   gets the same work against a throw-away key, so the answer's timing
   does not tell which keys are staff keys. */
static void
do_login(struct call *c, struct store *st)
{
	struct age_recipient	 r;
	struct age_identity	 fake;
	struct buf		 ct;
	char			*b64;
	size_t			 n;
	int			 rc;

	session_token(c->answer);
	if (!c->known || age_recipient_parse(c->recipient, &r) != 0) {
		age_identity_generate(&fake);
		age_identity_recipient(&fake, &r);
		age_identities_wipe(&fake, 1);
	}
	buf_init(&ct, 0);
	rc = age_encrypt(&r, 1, c->answer, strlen(c->answer), &ct);
	if (rc == 0 && c->known)
		rc = session_challenge_put(st, c->answer, c->recipient,
		    clock_now_ms() + SESSION_CHALLENGE_MS);
	sodium_memzero(c->answer, sizeof(c->answer));
	if (rc != 0) {
		c->code = 503;
		buf_free(&ct);
		return;
	}
	n = sodium_base64_ENCODED_LEN(ct.len, sodium_base64_VARIANT_ORIGINAL);
	if ((b64 = malloc(n)) == NULL) {
		c->code = 503;
		buf_free(&ct);
		return;
	}
	sodium_bin2base64(b64, n, (unsigned char *)ct.data, ct.len,
	    sodium_base64_VARIANT_ORIGINAL);
	buf_free(&ct);
	c->code = c->known ? 200 : 403;
	if (c->known)
		buf_printf(&c->body, "{\"challenge\":\"%s\"}", b64);
	else
		buf_puts(&c->body, "{\"error\":\"not a staff key\"}");
	free(b64);
}

static void
do_verify(struct call *c, struct store *st)
{
	struct audit_event		 ev;
	const struct age_recipient	*r;
	json_t				*doc;
	char				 actor[AUDIT_ACTOR_MAX + 1], token[64];
	char				*text;
	int64_t				 now = clock_now_ms();

	if (session_challenge_take(st, c->answer, c->recipient, now) != 0) {
		audit_for(c, &ev, actor, sizeof(actor), "login-failed", NULL);
		if (!c->known)
			ev.actor = "unknown key";
		(void)audit_append(st, &ev);
		c->code = 401;
		buf_puts(&c->body, "{\"error\":\"the answer does not match "
		    "a challenge (wrong key, used, or too late)\"}");
		return;
	}
	session_token(token);
	audit_for(c, &ev, actor, sizeof(actor), "login", NULL);
	if (session_put(st, token, c->recipient, now) != 0 ||
	    audit_append(st, &ev) != 0) {
		c->code = 503;
		return;
	}
	session_csrf(token, c->newcsrf);
	snprintf(c->cookie, sizeof(c->cookie), COOKIE "=%s; Path=/inbox; "
	    "HttpOnly; SameSite=Strict; Max-Age=%u%s", token,
	    c->snap->cfg->session_max_ms / 1000, c->secure ? "; Secure" : "");
	sodium_memzero(token, sizeof(token));
	c->code = 200;
	r = staff_find(c->snap, c->recipient);
	/* The label comes from the admin's file: json_dumps escapes it. */
	doc = json_pack("{s:s, s:s, s:s}", "csrf", c->newcsrf, "recipient",
	    c->recipient, "label", r != NULL ? r->label : "");
	if (doc == NULL || (text = json_dumps(doc, JSON_COMPACT)) == NULL) {
		json_decref(doc);
		c->code = 503;
		return;
	}
	buf_puts(&c->body, text);
	free(text);
	json_decref(doc);
}

struct listing {
	json_t		*items;
	unsigned	 want, got;
	char		 last[STORE_ID_LEN + 1];
	int		 more;
};

static int
list_item(void *arg, const struct store_meta *m)
{
	struct listing	*l = arg;
	char		 when[CLOCK_RFC3339_LEN];

	if (l->got == l->want) {
		l->more = 1;
		return 1;
	}
	clock_rfc3339(m->received_at_ms, when);
	if (json_array_append_new(l->items, json_pack("{s:s, s:s, s:s, s:I, "
	    "s:i, s:s, s:{s:i, s:i, s:i}}", "id", m->id, "form", m->form,
	    "received_at", when, "size", (json_int_t)m->size,
	    "attachments", (int)m->attachments, "status", m->status,
	    "mail", "queued", (int)m->outbox_queued,
	    "failed", (int)m->outbox_failed, "sent", (int)m->outbox_sent)) !=
	    0)
		return -1;
	snprintf(l->last, sizeof(l->last), "%s", m->id);
	l->got++;
	return 0;
}

static void
do_list(struct call *c, struct store *st)
{
	struct store_filter	 f;
	struct listing		 l;
	json_t			*doc;
	char			*s;

	memset(&f, 0, sizeof(f));
	memset(&l, 0, sizeof(l));
	f.form = c->form[0] ? c->form : NULL;
	f.before_id = c->before[0] ? c->before : NULL;
	f.limit = (uint64_t)c->limit + 1;
	l.want = c->limit;
	if ((l.items = json_array()) == NULL) {
		c->code = 503;
		return;
	}
	if (store_list(st, &f, list_item, &l) != 0) {
		json_decref(l.items);
		c->code = 503;
		return;
	}
	doc = json_pack("{s:o, s:s?}", "items", l.items, "next",
	    l.more ? l.last : NULL);
	if (doc == NULL || (s = json_dumps(doc, JSON_COMPACT)) == NULL) {
		json_decref(doc);
		c->code = 503;
		return;
	}
	json_decref(doc);
	buf_puts(&c->body, s);
	free(s);
	c->code = 200;
}

/* Audits first: a read that cannot be audited is not served. */
static void
do_read(struct call *c, struct store *st)
{
	struct audit_event	ev;
	struct store_meta	m;
	char			actor[AUDIT_ACTOR_MAX + 1], detail[16];
	int			r;

	if ((r = store_get(st, c->id, &m, NULL)) != 0 ||
	    (c->op == OP_ATTACHMENT && c->n > m.attachments)) {
		c->code = r == 0 || r == ERR_NOTFOUND ? 404 : 503;
		buf_puts(&c->body, "{\"error\":\"no such inquiry or "
		    "attachment\"}");
		return;
	}
	snprintf(detail, sizeof(detail), "%u", c->n);
	audit_for(c, &ev, actor, sizeof(actor), c->op == OP_RECORD ? "view" :
	    "attachment", c->op == OP_RECORD ? NULL : detail);
	if (audit_append(st, &ev) != 0) {
		c->code = 503;
		return;
	}
	if (c->op == OP_RECORD)
		r = store_get(st, c->id, NULL, &c->body);
	else
		r = store_attachment(st, c->id, c->n, append_cb, &c->body);
	if (r != 0) {
		buf_reset(&c->body);
		c->code = r == ERR_NOTFOUND ? 404 : 503;
		return;
	}
	c->code = 200;
	c->ctype = "application/octet-stream";
}

static void
do_change(struct call *c, struct store *st)
{
	struct audit_event	ev;
	char			actor[AUDIT_ACTOR_MAX + 1];
	int			r;

	audit_for(c, &ev, actor, sizeof(actor), c->op == OP_STATUS ?
	    "status" : "delete", c->op == OP_STATUS ? c->status : NULL);
	if (c->op == OP_STATUS)
		r = store_set_status(st, c->id, c->status, &ev);
	else
		r = store_delete(st, c->id, &ev);
	if (r == ERR_NOTFOUND) {
		c->code = 404;
		buf_puts(&c->body, "{\"error\":\"no such inquiry\"}");
	} else if (r != 0)
		c->code = 503;
	else if (c->op == OP_STATUS) {
		c->code = 200;
		buf_printf(&c->body, "{\"id\":\"%s\",\"status\":\"%s\"}", c->id,
		    c->status);
	} else
		c->code = 204;
}

static void
do_logout(struct call *c, struct store *st)
{
	struct audit_event	ev;
	char			actor[AUDIT_ACTOR_MAX + 1];

	audit_for(c, &ev, actor, sizeof(actor), "logout", NULL);
	(void)audit_append(st, &ev);
	session_del(st, c->token);
	snprintf(c->cookie, sizeof(c->cookie), COOKIE "=; Path=/inbox; "
	    "HttpOnly; SameSite=Strict; Max-Age=0%s",
	    c->secure ? "; Secure" : "");
	c->code = 204;
}

/* The session in the cookie, and for a change the CSRF header too. */
static int
authorise(struct call *c, struct store *st)
{
	const struct config	*cfg = c->snap->cfg;

	if (session_get(st, c->token, clock_now_ms(), cfg->session_idle_ms,
	    cfg->session_max_ms, &c->sess) != 0) {
		c->code = 401;
		buf_puts(&c->body, "{\"error\":\"log in first\"}");
		return -1;
	}
	if (c->need_csrf && !session_csrf_ok(c->token, c->csrf)) {
		c->code = 403;
		buf_puts(&c->body, "{\"error\":\"missing or wrong "
		    "X-CSRF-Token\"}");
		return -1;
	}
	return 0;
}

static void
call_work(uv_work_t *w)
{
	struct call	*c = w->data;
	struct store	*st;

	pool_background();
	c->code = 503;
	if (store_open(c->in->store, 0, &st) != 0)
		return;

	if (!c->need_session || authorise(c, st) == 0) {
		switch (c->op) {
		case OP_LOGIN:		do_login(c, st); break;
		case OP_VERIFY:		do_verify(c, st); break;
		case OP_LOGOUT:		do_logout(c, st); break;
		case OP_LIST:		do_list(c, st); break;
		case OP_RECORD:
		case OP_ATTACHMENT:	do_read(c, st); break;
		case OP_STATUS:
		case OP_DELETE:		do_change(c, st); break;
		case OP_METRICS:
			c->have_stats = store_stats(st, &c->stats) == 0;
			break;
		}
	}
	store_close(st);
}

static void
call_free(struct call *c)
{
	struct inbox	*in = c->in;

	if (c->heavy)
		in->heavy--;
	sodium_memzero(c->token, sizeof(c->token));
	sodium_memzero(c->answer, sizeof(c->answer));
	buf_free(&c->body);
	snapshot_unref(c->snap);
	free(c);
	drain_end(&in->inflight);
}

static void
metrics_done(struct call *c, int status)
{
	buf_reset(&c->body);
	if (intake_metrics(c->in->intake, status == 0 && c->have_stats ?
	    &c->stats : NULL, &c->body) == 0)
		respond(c->req, 200, "text/plain; version=0.0.4", NULL,
		    c->body.data, c->body.len);
	else
		respond(c->req, 503, "text/plain", NULL, "", 0);
	call_free(c);
}

static void
call_done(uv_work_t *w, int status)
{
	struct call	*c = w->data;

	if (c->op == OP_METRICS) {
		metrics_done(c, status);
		return;
	}
	if (status != 0)
		c->code = 503;
	if (c->code == 503 && c->body.len == 0)
		buf_puts(&c->body, "{\"error\":\"the store cannot answer "
		    "right now\"}");
	if (c->code == 204)
		respond(c->req, 204, NULL, c->cookie, "", 0);
	else
		respond(c->req, c->code, c->ctype ? c->ctype :
		    "application/json", c->cookie, c->body.data ? c->body.data :
		    "", c->body.len);
	call_free(c);
}

/* ---- the loop's side ---------------------------------------------------- */

static struct call *
call_new(struct inbox *in, struct http_req *req, enum op op)
{
	struct call	*c;
	const char	*csrf;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->in = in;
	c->snap = snapshot_ref(in->snap);
	c->req = req;
	c->op = op;
	c->secure = http_req_https(req);
	buf_init(&c->body, DOWNLOAD_MAX);
	snprintf(c->client, sizeof(c->client), "%s", http_req_client_ip(req));
	(void)http_req_cookie(req, COOKIE, c->token, sizeof(c->token));
	csrf = http_req_header(req, "x-csrf-token");
	snprintf(c->csrf, sizeof(c->csrf), "%s", csrf ? csrf : "");
	drain_begin(&in->inflight);
	return c;
}

static void
call_start(struct call *c)
{
	c->work.data = c;
	if (uv_queue_work(c->in->loop, &c->work, call_work, call_done) != 0) {
		respond_error(c->req, 503, "busy");
		call_free(c);
	}
}

/* A JSON object body, or NULL after answering 400. */
static json_t *
body_json(struct http_req *req)
{
	json_t	*doc;

	doc = json_loadb(http_req_body(req), http_req_body_len(req),
	    JSON_REJECT_DUPLICATES, NULL);
	if (doc == NULL || !json_is_object(doc)) {
		json_decref(doc);
		respond_error(req, 400, "the body must be a JSON object");
		return NULL;
	}
	return doc;
}

/* Copies the string member key of doc into out; -1 when it is missing,
   not a string or too long. */
static int
member(const json_t *doc, const char *key, char *out, size_t len)
{
	const char	*s = json_string_value(json_object_get(doc, key));

	if (s == NULL || strlen(s) >= len)
		return -1;
	memcpy(out, s, strlen(s) + 1);
	return 0;
}


static void
post_login(struct inbox *in, struct http_req *req, int verify)
{
	const struct config	*cfg = in->snap->cfg;
	struct rate		 rate = { cfg->admin_login_rate, 60000,
				    cfg->admin_login_burst };
	struct age_recipient	 r;
	struct call		*c;
	json_t			*doc;
	unsigned		 wait;
	char			 retry[16];

	if ((wait = ratelimit_take(in->rl, http_req_client_ip(req),
	    clock_now_ms(), &rate)) != 0) {
		struct http_hdr h = { "Retry-After", retry };

		snprintf(retry, sizeof(retry), "%u", wait);
		http_respond(req, 429, "application/json", &h, 1,
		    "{\"error\":\"too many attempts\"}", 29);
		return;
	}
	if ((doc = body_json(req)) == NULL)
		return;
	if ((c = call_new(in, req, verify ? OP_VERIFY : OP_LOGIN)) == NULL) {
		json_decref(doc);
		respond_error(req, 503, "out of memory");
		return;
	}
	if (member(doc, "recipient", c->recipient, sizeof(c->recipient)) ||
	    (verify && member(doc, "token", c->answer, sizeof(c->answer)))) {
		json_decref(doc);
		respond_error(req, 400, verify ? "recipient and token are "
		    "needed" : "recipient (age1…) is needed");
		call_free(c);
		return;
	}
	json_decref(doc);
	c->known = staff_find(in->snap, c->recipient) != NULL;
	if (!c->known && age_recipient_parse(c->recipient, &r) != 0)
		c->recipient[0] = '\0';	/* never audit arbitrary text */
	call_start(c);
}

static void
get_forms(struct inbox *in, struct http_req *req)
{
	const struct snapshot	*s = in->snap;
	json_t			*forms = json_array(), *schema;
	const char		*text, *title;
	size_t			 i, len;

	for (i = 0; forms && i < s->cfg->nforms; i++) {
		text = schema_text(s->schemas[i], &len);
		schema = json_loadb(text, len, 0, NULL);
		title = schema_title(s->schemas[i]);
		json_array_append_new(forms, json_pack("{s:s, s:s, s:o*}",
		    "name", s->cfg->forms[i].name, "title", title ? title :
		    s->cfg->forms[i].name, "schema", schema));
	}
	respond_json(req, 200, NULL, json_pack("{s:o*}", "forms", forms));
}

/* The query parameter key's value into out; 0 when absent. */
static int
query_param(const char *q, const char *key, char *out, size_t len)
{
	size_t	kl = strlen(key), vl;

	out[0] = '\0';
	for (; q != NULL && *q; q += strcspn(q, "&"), q += *q == '&') {
		if (strncmp(q, key, kl) != 0 || q[kl] != '=')
			continue;
		vl = strcspn(q + kl + 1, "&");
		if (vl >= len)
			return -1;
		memcpy(out, q + kl + 1, vl);
		out[vl] = '\0';
		return 1;
	}
	return 0;
}

static int
form_name_ok(const char *s)
{
	size_t	n = strlen(s);

	return n <= STORE_FORM_MAX &&
	    strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_-") == n;
}

static void
get_list(struct inbox *in, struct http_req *req)
{
	const char	*q = http_req_query(req);
	char		 limit[8];
	struct call	*c;
	char		*end;
	long		 n = LIST_DEFAULT;

	if ((c = call_new(in, req, OP_LIST)) == NULL) {
		respond_error(req, 503, "out of memory");
		return;
	}
	if (query_param(q, "before", c->before, sizeof(c->before)) < 0 ||
	    (c->before[0] && !uuid_valid(c->before)) ||
	    query_param(q, "form", c->form, sizeof(c->form)) < 0 ||
	    !form_name_ok(c->form) ||
	    query_param(q, "limit", limit, sizeof(limit)) < 0 ||
	    (limit[0] && ((n = strtol(limit, &end, 10)) < 1 || *end ||
	    n > LIST_MAX))) {
		respond_error(req, 400, "bad before, form or limit (1 to 200)");
		call_free(c);
		return;
	}
	c->limit = (unsigned)n;
	c->need_session = 1;
	call_start(c);
}

/* /inbox/api/inquiries/ID[/attachments/N]: the id and the rest. */
static const char *
split_id(const char *path, char *id)
{
	const char	*p = path + strlen("/inbox/api/inquiries/");
	size_t		 n = strcspn(p, "/");

	if (n != STORE_ID_LEN)
		return NULL;
	memcpy(id, p, n);
	id[n] = '\0';
	return uuid_valid(id) ? p + n : NULL;
}

static void
inquiry(struct inbox *in, struct http_req *req, enum http_method m)
{
	const char	*rest;
	struct call	*c;
	json_t		*doc = NULL;
	char		*end;
	unsigned long	 n = 0;
	enum op		 op;

	if ((c = call_new(in, req, OP_RECORD)) == NULL) {
		respond_error(req, 503, "out of memory");
		return;
	}
	if ((rest = split_id(http_req_path(req), c->id)) == NULL) {
		respond_error(req, 404, "no such inquiry");
		call_free(c);
		return;
	}
	if (*rest == '\0' && m == HTTP_METHOD_GET)
		op = OP_RECORD;
	else if (*rest == '\0' && m == HTTP_METHOD_PATCH)
		op = OP_STATUS;
	else if (*rest == '\0' && m == HTTP_METHOD_DELETE)
		op = OP_DELETE;
	else if (strncmp(rest, "/attachments/", 13) == 0 &&
	    m == HTTP_METHOD_GET && (n = strtoul(rest + 13, &end, 10)) >= 1 &&
	    *end == '\0' && n < 1000)
		op = OP_ATTACHMENT;
	else {
		respond_error(req, *rest ? 404 : 405, *rest ? "not found" :
		    "GET, PATCH or DELETE");
		call_free(c);
		return;
	}
	c->op = op;
	c->n = (unsigned)n;
	if (op == OP_STATUS) {
		if ((doc = body_json(req)) == NULL) {
			call_free(c);
			return;
		}
		if (member(doc, "status", c->status, sizeof(c->status)) ||
		    !store_status_valid(c->status)) {
			json_decref(doc);
			respond_error(req, 400, "status must be new, open, "
			    "answered or closed");
			call_free(c);
			return;
		}
		json_decref(doc);
	}
	if ((op == OP_RECORD || op == OP_ATTACHMENT) &&
	    in->heavy >= HEAVY_MAX) {
		respond_error(req, 503, "too many downloads at once");
		call_free(c);
		return;
	}
	if (op == OP_RECORD || op == OP_ATTACHMENT) {
		c->heavy = 1;
		in->heavy++;
	}
	c->need_session = 1;
	c->need_csrf = op == OP_STATUS || op == OP_DELETE;
	call_start(c);
}

static void
post_logout(struct inbox *in, struct http_req *req)
{
	struct call	*c;

	if ((c = call_new(in, req, OP_LOGOUT)) == NULL) {
		respond_error(req, 503, "out of memory");
		return;
	}
	c->need_session = 1;
	c->need_csrf = 1;
	call_start(c);
}

/* The counts come from the database, off the loop; the rest is the
   loop's own. Without the counts (the store cannot be read) the other
   series are still worth serving: they say what is wrong. */
static void
get_metrics(struct inbox *in, struct http_req *req)
{
	struct call	*c;

	if ((c = call_new(in, req, OP_METRICS)) == NULL) {
		respond(req, 503, "text/plain", NULL, "", 0);
		return;
	}
	call_start(c);
}

static void
api(struct inbox *in, struct http_req *req, const char *path,
    enum http_method m)
{
	if (strcmp(path, "/inbox/api/login") == 0 && m == HTTP_METHOD_POST)
		post_login(in, req, 0);
	else if (strcmp(path, "/inbox/api/login/verify") == 0 &&
	    m == HTTP_METHOD_POST)
		post_login(in, req, 1);
	else if (strcmp(path, "/inbox/api/logout") == 0 &&
	    m == HTTP_METHOD_POST)
		post_logout(in, req);
	else if (strcmp(path, "/inbox/api/forms") == 0 &&
	    m == HTTP_METHOD_GET)
		get_forms(in, req);
	else if (strcmp(path, "/inbox/api/inquiries") == 0 &&
	    m == HTTP_METHOD_GET)
		get_list(in, req);
	else if (strncmp(path, "/inbox/api/inquiries/", 21) == 0)
		inquiry(in, req, m);
	else
		respond_error(req, 404, "no such call");
}

static void
on_request(struct http_req *req, void *arg)
{
	struct inbox		*in = arg;
	const char		*path = http_req_path(req);
	enum http_method	 m = http_req_method(req);

	if (strcmp(path, "/metrics") == 0 && m == HTTP_METHOD_GET) {
		get_metrics(in, req);
		return;
	}
	if (strncmp(path, "/inbox/api/", 11) == 0) {
		api(in, req, path, m);
		return;
	}
	if (strcmp(path, "/inbox") == 0) {
		struct http_hdr h = { "Location", "/inbox/" };

		http_respond(req, 308, "text/plain", &h, 1, "", 0);
		return;
	}
	if (strncmp(path, "/inbox/", 7) == 0 &&
	    (m == HTTP_METHOD_GET || m == HTTP_METHOD_HEAD)) {
		serve_file(in, req, path + 7);
		return;
	}
	respond(req, 404, "text/plain; charset=utf-8", NULL, "not found\n",
	    10);
}

static void
on_error(struct http_req *req, int status, const char *message, void *arg)
{
	(void)arg;
	respond_error(req, status, message);
}

/* ---- lifetime ------------------------------------------------------------ */

int
inbox_new(uv_loop_t *loop, struct snapshot *snap, const char *store,
    struct intake *intake, struct inbox **out)
{
	struct inbox	*in;
	int		 r;

	*out = NULL;
	if ((in = calloc(1, sizeof(*in))) == NULL)
		return ERR_NOMEM;
	if ((in->rl = ratelimit_new()) == NULL) {
		free(in);
		return ERR_NOMEM;
	}
	if ((r = files_load(&in->files, snap->cfg->admin_root)) != 0) {
		ratelimit_free(in->rl);
		free(in);
		return r;
	}
	in->loop = loop;
	in->snap = snapshot_ref(snap);
	in->store = store;
	in->intake = intake;
	in->handler.request = on_request;
	in->handler.error = on_error;
	in->handler.arg = in;
	*out = in;
	return 0;
}

int
inbox_check(const struct config *cfg, struct diag *d)
{
	struct files	fs = { NULL, 0, 0 };
	int		r;

	if ((r = files_load(&fs, cfg->admin_root)) != 0)
		diag(d, cfg->admin_root, 0, "[admin] root: the inbox page "
		    "cannot be loaded: %s", err_str(r));
	files_free(&fs);
	return r;
}

int
inbox_set_snapshot(struct inbox *in, struct snapshot *snap)
{
	int	r;

	if ((r = files_load(&in->files, snap->cfg->admin_root)) != 0)
		return r;
	snapshot_unref(in->snap);
	in->snap = snapshot_ref(snap);
	return 0;
}

const struct http_handler *
inbox_handler(struct inbox *in)
{
	return &in->handler;
}

void
inbox_drain(struct inbox *in, void (*cb)(void *), void *arg)
{
	drain_wait(&in->inflight, cb, arg);
}

void
inbox_free(struct inbox *in)
{
	if (in == NULL)
		return;
	files_free(&in->files);
	ratelimit_free(in->rl);
	snapshot_unref(in->snap);
	free(in);
}
