#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "attach.h"
#include "buf.h"
#include "log.h"
#include "multipart.h"
#include "upload.h"

#define CHUNK		AGE_CHUNK	/* plaintext staged at a time */
#define PROBLEMS_MAX	16

struct ufile {
	char			 field[MULTIPART_NAME_MAX + 1];
	char			 filename[MULTIPART_FILENAME_MAX + 1];
	enum filetype		 type;
	int			 sniffed, rejected, ended, finished;
	struct buf		 pending;	/* plaintext not yet staged */
	uint64_t		 size;
	struct attach		*a;
	struct upload_file	 pub;
};

struct upload {
	struct multipart		*mp;
	struct upload_policy		 pol;
	const struct upload_field	*fields;
	size_t				 nfields;
	char				*stage_dir;
	struct age_recipient		*rcpts;
	size_t				 nrcpts;
	struct buf			 text;		/* urlencoded */
	char				 name[MULTIPART_NAME_MAX + 1];
	struct buf			 value;		/* the text part */
	int				 in_text, skipping;
	struct ufile			*files[UPLOAD_FILES_MAX];
	size_t				 nfiles;
	struct ufile			*cur;
	uint64_t			 total;		/* file bytes */
	struct upload_problem		 problems[PROBLEMS_MAX];
	size_t				 nproblems;
	const char			*why;
	int				 work_rc;
};

/* ---- problems ---------------------------------------------------------- */

static void
problem(struct upload *u, const char *field, const char *code,
    const char *message)
{
	size_t	i;

	/* One of a kind per field is enough to say what to fix. */
	for (i = 0; i < u->nproblems; i++)
		if (strcmp(u->problems[i].code, code) == 0 &&
		    strcmp(u->problems[i].field, field) == 0)
			return;
	if (u->nproblems == PROBLEMS_MAX)
		return;
	/* field points into a part that will be gone: keep a copy. */
	u->problems[u->nproblems].field = strdup(field);
	if (u->problems[u->nproblems].field == NULL)
		u->problems[u->nproblems].field = "";
	u->problems[u->nproblems].code = code;
	u->problems[u->nproblems].message = message;
	u->nproblems++;
}

static const struct upload_field *
file_field(const struct upload *u, const char *name)
{
	size_t	i;

	for (i = 0; i < u->nfields; i++)
		if (strcmp(u->fields[i].name, name) == 0)
			return &u->fields[i];
	return NULL;
}

static unsigned
files_of(const struct upload *u, const char *field)
{
	size_t		i;
	unsigned	n = 0;

	for (i = 0; i < u->nfiles; i++)
		n += strcmp(u->files[i]->field, field) == 0;
	return n;
}

static int
stop(struct upload *u, int err, const char *why)
{
	u->why = why;
	return err;
}

/* ---- text parts --------------------------------------------------------- */

/* Appends s[0..n) percent-encoded as application/x-www-form-urlencoded. */
static int
put_encoded(struct buf *b, const char *s, size_t n)
{
	static const char	hex[] = "0123456789ABCDEF";
	size_t			i;
	unsigned char		c;
	int			rc = 0;

	for (i = 0; i < n && rc == 0; i++) {
		c = (unsigned char)s[i];
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || strchr("-._~", c) != NULL)
			rc = buf_putc(b, (char)c);
		else
			rc = buf_printf(b, "%%%c%c", hex[c >> 4], hex[c & 15]);
	}
	return rc;
}

static int
text_end(struct upload *u)
{
	if (u->text.len > 0 && buf_putc(&u->text, '&') != 0)
		return stop(u, ERR_NOMEM, "out of memory");
	if (put_encoded(&u->text, u->name, strlen(u->name)) != 0 ||
	    buf_putc(&u->text, '=') != 0 ||
	    put_encoded(&u->text, u->value.data ? u->value.data : "",
	    u->value.len) != 0)
		return stop(u, ERR_TOOBIG, "the form's text is too long");
	buf_wipe(&u->value);
	return 0;
}

/* ---- file parts --------------------------------------------------------- */

/* The first bytes decide: a type the form does not take is dropped. */
static void
sniff(struct upload *u, struct ufile *f)
{
	f->sniffed = 1;
	f->type = filetype_sniff(f->pending.data, f->pending.len);
	if (f->type == FILETYPE_UNKNOWN && f->pending.len <
	    FILETYPE_SNIFF_BYTES && filetype_prefix_allowed(f->pending.data,
	    f->pending.len, u->pol.allowed, &f->type))
		return;	/* a file too short to be anything else */
	if (f->type != FILETYPE_UNKNOWN && (u->pol.allowed & (1u << f->type)))
		return;
	problem(u, f->field, "fileType", "is not a file type this form "
	    "takes");
	buf_wipe(&f->pending);
	f->rejected = 1;
	u->skipping = 1;
}

static int
file_begin(struct upload *u, const struct multipart_part *p)
{
	const struct upload_field	*ff = file_field(u, p->name);
	struct ufile			*f;

	if (ff == NULL) {
		problem(u, p->name, "notAFile", "does not take a file");
		u->skipping = 1;
		return 0;
	}
	if (files_of(u, p->name) >= ff->max) {
		problem(u, p->name, "maxItems", "has too many files");
		u->skipping = 1;
		return 0;
	}
	if (u->nfiles >= u->pol.files || u->nfiles == UPLOAD_FILES_MAX) {
		problem(u, p->name, "tooMany", "one file too many for this "
		    "form");
		u->skipping = 1;
		return 0;
	}
	if ((f = calloc(1, sizeof(*f))) == NULL)
		return stop(u, ERR_NOMEM, "out of memory");
	snprintf(f->field, sizeof(f->field), "%s", p->name);
	snprintf(f->filename, sizeof(f->filename), "%s", p->filename);
	/* A chunk short of full, and one feed more. */
	buf_init(&f->pending, CHUNK + UPLOAD_FEED_MAX);
	f->pub.fd = -1;
	u->files[u->nfiles++] = f;
	u->cur = f;
	return 0;
}

static int
file_data(struct upload *u, struct ufile *f, const void *p, size_t n)
{
	if (n > u->pol.file_bytes - f->size)
		return stop(u, ERR_TOOBIG, "a file is over the size limit");
	if (n > u->pol.upload_bytes - u->total)
		return stop(u, ERR_TOOBIG, "the files are over the size limit");
	f->size += n;
	u->total += n;
	if (u->skipping)
		return 0;
	if (buf_append(&f->pending, p, n) != 0)
		return stop(u, ERR_NOMEM, "out of memory");
	if (!f->sniffed && f->pending.len >= FILETYPE_SNIFF_BYTES)
		sniff(u, f);
	return 0;
}

/* ---- the parser's callbacks ---------------------------------------------- */

static int
on_begin(const struct multipart_part *p, void *arg)
{
	struct upload	*u = arg;

	u->skipping = 0;
	u->cur = NULL;
	u->in_text = 0;
	if (p->filename == NULL) {
		if (file_field(u, p->name) != NULL) {
			problem(u, p->name, "notAFile", "must be sent as a "
			    "file");
			u->skipping = 1;
			return 0;
		}
		snprintf(u->name, sizeof(u->name), "%s", p->name);
		u->in_text = 1;
		return 0;
	}
	if (*p->filename == '\0') {	/* a file input left empty */
		u->skipping = 1;
		return 0;
	}
	return file_begin(u, p);
}

static int
on_data(const void *p, size_t n, void *arg)
{
	struct upload	*u = arg;

	if (u->in_text) {
		/* A little over the cap, so that the form's own check says
		   tooLong for the field instead of this being cut. */
		if (u->value.len + n > u->pol.field_bytes + 8)
			n = u->pol.field_bytes + 8 - u->value.len;
		if (u->text.len + u->value.len + n > u->pol.text_bytes)
			return stop(u, ERR_TOOBIG, "the form's text is too "
			    "long");
		if (buf_append(&u->value, p, n) != 0)
			return stop(u, ERR_NOMEM, "out of memory");
		return 0;
	}
	if (u->cur != NULL)
		return file_data(u, u->cur, p, n);
	return 0;
}

static int
on_end(const struct multipart_part *p, void *arg)
{
	struct upload	*u = arg;
	struct ufile	*f = u->cur;

	(void)p;
	if (u->in_text) {
		u->in_text = 0;
		return text_end(u);
	}
	if (f == NULL)
		return 0;
	if (!f->sniffed && !u->skipping)
		sniff(u, f);
	f->ended = 1;
	u->cur = NULL;
	return 0;
}

static const struct multipart_cb callbacks = {
	.part_begin = on_begin,
	.part_data = on_data,
	.part_end = on_end,
};

/* ---- feeding --------------------------------------------------------------- */

/* Whether a file has something for the threadpool to stage. */
static int
due(const struct ufile *f)
{
	if (f->rejected || f->finished)
		return 0;
	return f->pending.len >= CHUNK || f->ended;
}

static int
work_due(const struct upload *u)
{
	size_t	i;

	for (i = 0; i < u->nfiles; i++)
		if (due(u->files[i]))
			return 1;
	return 0;
}

int
upload_feed(struct upload *u, const void *p, size_t n)
{
	int	r;

	if (n > UPLOAD_FEED_MAX)
		return ERR_INVAL;
	if ((r = multipart_feed(u->mp, p, n)) != 0) {
		if (u->why == NULL)
			u->why = multipart_error(u->mp);
		return r;
	}
	return work_due(u) ? UPLOAD_WORK : UPLOAD_MORE;
}

int
upload_finish(struct upload *u)
{
	int	r;

	if ((r = multipart_finish(u->mp)) != 0) {
		if (u->why == NULL)
			u->why = multipart_error(u->mp);
		return r;
	}
	return work_due(u) ? UPLOAD_WORK : 0;
}

/* Threadpool: one file's pending plaintext, and its end. */
static int
stage(struct upload *u, struct ufile *f)
{
	int	r;

	if (f->a == NULL && (r = attach_begin(u->stage_dir, u->rcpts,
	    u->nrcpts, &f->a)) != 0)
		return r;
	if (f->pending.len > 0) {
		if ((r = attach_write(f->a, f->pending.data,
		    f->pending.len)) != 0)
			return r;
		buf_wipe(&f->pending);
	}
	if (!f->ended)
		return 0;
	if ((r = attach_finish(f->a)) != 0)
		return r;
	f->finished = 1;
	return 0;
}

void
upload_work(struct upload *u)
{
	size_t	i;

	u->work_rc = 0;
	for (i = 0; i < u->nfiles && u->work_rc == 0; i++)
		if (due(u->files[i]))
			u->work_rc = stage(u, u->files[i]);
}

/* The record's view of a staged file. */
static void
publish(struct ufile *f)
{
	const unsigned char	*d = attach_sha256(f->a);

	f->pub.field = f->field;
	f->pub.filename = f->filename;
	f->pub.content_type = filetype_mime(f->type);
	f->pub.size = attach_size(f->a);
	sodium_bin2hex(f->pub.sha256, sizeof(f->pub.sha256), d, 32);
	f->pub.fd = attach_fd(f->a);
	f->pub.staged = attach_staged_size(f->a);
}

int
upload_work_done(struct upload *u)
{
	size_t	i;

	if (u->work_rc != 0) {
		log_warnx("upload: staging failed: %s", err_str(u->work_rc));
		u->why = "the files could not be staged";
		return u->work_rc;
	}
	for (i = 0; i < u->nfiles; i++)
		if (u->files[i]->finished && u->files[i]->pub.field == NULL)
			publish(u->files[i]);
	return 0;
}

const char *
upload_error(const struct upload *u)
{
	return u->why ? u->why : "malformed multipart body";
}

/* ---- results ------------------------------------------------------------- */

/* A file the form took: sniffed to an allowed type and staged whole. */
static int
kept(const struct ufile *f)
{
	return f->finished && f->pub.field != NULL;
}

const char *
upload_text(const struct upload *u, size_t *len)
{
	*len = u->text.len;
	return u->text.data ? u->text.data : "";
}

size_t
upload_nfiles(const struct upload *u)
{
	size_t	i, n = 0;

	for (i = 0; i < u->nfiles; i++)
		n += kept(u->files[i]);
	return n;
}

const struct upload_file *
upload_file(const struct upload *u, size_t want)
{
	size_t	i, n = 0;

	for (i = 0; i < u->nfiles; i++)
		if (kept(u->files[i]) && n++ == want)
			return &u->files[i]->pub;
	return NULL;
}

const struct upload_problem *
upload_problems(const struct upload *u, size_t *n)
{
	*n = u->nproblems;
	return u->problems;
}

/* ---- lifetime ------------------------------------------------------------ */

int
upload_new(const char *boundary, const struct upload_policy *pol,
    const struct upload_field *fields, size_t nfields, const char *stage_dir,
    const struct age_recipient *r, size_t nr, struct upload **out)
{
	struct multipart_limits	 lim = { 0, 0 };
	struct upload		*u;
	int			 rc;

	*out = NULL;
	if ((u = calloc(1, sizeof(*u))) == NULL)
		return ERR_NOMEM;
	u->pol = *pol;
	u->fields = fields;
	u->nfields = nfields;
	buf_init(&u->text, pol->text_bytes * 3 + 16);
	buf_init(&u->value, pol->field_bytes + 16);
	lim.max_parts = pol->max_parts;
	if ((u->stage_dir = strdup(stage_dir)) == NULL ||
	    (u->rcpts = calloc(nr, sizeof(*r))) == NULL) {
		upload_free(u);
		return ERR_NOMEM;
	}
	memcpy(u->rcpts, r, nr * sizeof(*r));
	u->nrcpts = nr;
	if ((rc = multipart_new(boundary, &lim, &callbacks, u, &u->mp)) != 0) {
		upload_free(u);
		return rc;
	}
	*out = u;
	return 0;
}

void
upload_free(struct upload *u)
{
	size_t	i;

	if (u == NULL)
		return;
	multipart_free(u->mp);
	for (i = 0; i < u->nfiles; i++) {
		attach_free(u->files[i]->a);
		buf_wipe(&u->files[i]->pending);
		free(u->files[i]);
	}
	for (i = 0; i < u->nproblems; i++)
		if (*u->problems[i].field != '\0')
			free((char *)u->problems[i].field);
	buf_wipe(&u->text);
	buf_wipe(&u->value);
	free(u->stage_dir);
	free(u->rcpts);
	free(u);
}
