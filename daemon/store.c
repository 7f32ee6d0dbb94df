/*
 * The store API: each call goes to the backend the connection was opened
 * with. store_open is the one place a backend is chosen.
 */
#include <stddef.h>
#include <string.h>

#include "audit.h"

#include "outbox.h"
#include "store.h"
#include "store_pg.h"
#include "store_sqlite.h"
#include "uuid.h"

int
store_open(const char *path, int flags, struct store **out)
{
	*out = NULL;
	if (path == NULL || *path == '\0')
		return ERR_INVAL;
	if (store_pg_target(path))
		return store_pg_open(path, flags, out);
	return store_sqlite_open(path, flags, out);
}

int
store_job_valid(const struct store_job *j)
{
	size_t	i;

	if (!uuid_valid(j->id) || j->form == NULL || *j->form == '\0' ||
	    strlen(j->form) > STORE_FORM_MAX || j->ct == NULL ||
	    (j->noutbox > 0 && j->outbox == NULL) ||
	    (j->nfiles > 0 && j->files == NULL))
		return 0;
	for (i = 0; i < j->noutbox; i++)
		if (j->outbox[i].kind == NULL)
			return 0;
	for (i = 0; i < j->nfiles; i++)
		if (j->files[i].fd < 0)
			return 0;
	return 1;
}

int
store_ping(struct store *st)
{
	return st->ops->ping != NULL ? st->ops->ping(st) : ERR_NOTFOUND;
}

void
store_close(struct store *st)
{
	if (st != NULL)
		st->ops->close(st);
}

int
store_insert(struct store *st, struct store_job *const *jobs, size_t n)
{
	return st->ops->insert(st, jobs, n);
}

int
store_list(struct store *st, const struct store_filter *f,
    int (*cb)(void *, const struct store_meta *), void *arg)
{
	return st->ops->list(st, f, cb, arg);
}

int
store_get(struct store *st, const char *id, struct store_meta *m,
    struct buf *ct)
{
	return st->ops->get(st, id, m, ct);
}

int
store_delete(struct store *st, const char *id, const struct audit_event *ev)
{
	if (id == NULL || (ev != NULL && audit_event_check(ev) != 0))
		return ERR_INVAL;
	return st->ops->del(st, id, ev);
}

int
store_purge(struct store *st, int64_t before_ms, uint64_t *removed,
    const struct audit_event *ev)
{
	if (ev != NULL && audit_event_check(ev) != 0)
		return ERR_INVAL;
	return st->ops->purge(st, before_ms, removed, ev);
}

int
store_status_valid(const char *s)
{
	static const char *const ok[] = { "new", "open", "answered",
	    "closed" };
	size_t	i;

	for (i = 0; s != NULL && i < sizeof(ok) / sizeof(ok[0]); i++)
		if (strcmp(s, ok[i]) == 0)
			return 1;
	return 0;
}

int
store_set_status(struct store *st, const char *id, const char *status,
    const struct audit_event *ev)
{
	if (id == NULL || !store_status_valid(status) ||
	    (ev != NULL && audit_event_check(ev) != 0))
		return ERR_INVAL;
	return st->ops->set_status(st, id, status, ev);
}

int
store_rekey(struct store *st, const struct store_rekey *rk, size_t n,
    const struct audit_event *ev)
{
	size_t	i;

	if (rk == NULL || ev == NULL || audit_event_check(ev) != 0)
		return ERR_INVAL;
	for (i = 0; i < n; i++)
		if (rk[i].id == NULL || rk[i].record.p == NULL ||
		    (rk[i].nfiles > 0 && rk[i].files == NULL))
			return ERR_INVAL;
	return st->ops->rekey(st, rk, n, ev);
}

int
store_stats(struct store *st, struct store_stats *out)
{
	return st->ops->stats(st, out);
}

int
store_integrity(struct store *st)
{
	return st->ops->integrity(st);
}

int
store_attachment(struct store *st, const char *id, unsigned n,
    int (*cb)(void *, const void *, size_t), void *arg)
{
	return st->ops->attachment(st, id, n, cb, arg);
}

int
store_read_begin(struct store *st)
{
	return st->ops->read_begin(st);
}

void
store_read_end(struct store *st)
{
	st->ops->read_end(st);
}

int
outbox_due(struct store *st, int64_t now_ms, unsigned want,
    const int64_t *skip, size_t nskip,
    int (*cb)(void *, const struct outbox_due *), void *arg,
    int64_t *next_due)
{
	return st->ops->outbox_due(st, now_ms, want, skip, nskip, cb, arg,
	    next_due);
}

int
outbox_record(struct store *st, const struct outbox_outcome *o, size_t n)
{
	return st->ops->outbox_record(st, o, n);
}

int
outbox_list(struct store *st, int all,
    int (*cb)(void *, const struct outbox_row *), void *arg)
{
	return st->ops->outbox_list(st, all, cb, arg);
}

int
outbox_retry(struct store *st, const char *inquiry_id, unsigned *requeued)
{
	return st->ops->outbox_retry(st, inquiry_id, requeued);
}
