/*
 * intakectl rekey: key rotation. Every record and attachment that the old
 * identities open is encrypted again to the configuration's current
 * recipients, in batches, each batch one transaction with an audit entry
 * per inquiry. Plaintext exists only in memory (wiped) between the two.
 * Resumable: a record already moved to the new recipients no longer opens
 * with a retired key and is passed over, so an interrupted run is simply
 * run again.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "audit.h"
#include "ctl.h"
#include "snapshot.h"

#define BATCH_INQUIRIES	20
#define BATCH_BYTES	(32u << 20)	/* of new age files held at once */

struct rekey {
	struct store		*st;
	const struct keys	*k;
	struct age_recipient	*rcpts;
	size_t			 nrcpts;
	struct store_rekey	 batch[BATCH_INQUIRIES];
	struct buf		 rec[BATCH_INQUIRIES];
	struct buf		*files[BATCH_INQUIRIES];
	struct store_blob	*blobs[BATCH_INQUIRIES];
	size_t			 n, bytes;
	uint64_t		 done, nfiles, closed;
};

/* ct, which one of the old identities opens, again to the recipients.
   ERR_NOKEY when none opens it. */
static int
reencrypt(const struct rekey *rk, const void *ct, size_t len,
    struct buf *out)
{
	struct buf	pt;
	int		r;

	buf_init(&pt, 0);
	if ((r = age_decrypt(rk->k->ids, rk->k->nids, ct, len, &pt)) == 0)
		r = age_encrypt(rk->rcpts, rk->nrcpts, pt.data, pt.len, out);
	buf_wipe(&pt);
	return r;
}

static void
batch_free(struct rekey *rk)
{
	size_t	i, j;

	for (i = 0; i < rk->n; i++) {
		buf_free(&rk->rec[i]);
		for (j = 0; j < rk->batch[i].nfiles; j++)
			buf_free(&rk->files[i][j]);
		free(rk->files[i]);
		free(rk->blobs[i]);
	}
	rk->n = rk->bytes = 0;
}

/* Commits the batch (one transaction, audited) and starts the next. */
static int
flush(struct rekey *rk)
{
	struct audit_event	 ev;
	char			 actor[AUDIT_ACTOR_MAX + 1], detail[48];
	size_t			 i;
	int			 r;

	if (rk->n == 0)
		return EXIT_OK;
	ctl_audit_as(&ev, actor, sizeof(actor), "rekey", NULL);
	snprintf(detail, sizeof(detail), "to %zu recipient%s", rk->nrcpts,
	    rk->nrcpts == 1 ? "" : "s");
	ev.detail = detail;
	r = store_rekey(rk->st, rk->batch, rk->n, &ev);
	for (i = 0; r == 0 && i < rk->n; i++)
		rk->nfiles += rk->batch[i].nfiles;
	if (r == 0)
		rk->done += rk->n;
	batch_free(rk);
	if (r != 0)
		return ctl_fail(EXIT_FAIL, "cannot store a batch: %s (%" PRIu64
		    " inquiries done; run rekey again to go on)", err_str(r),
		    rk->done);
	return EXIT_OK;
}

/* Inquiry id and its files, re-encrypted into the batch; passed over
   (counted) when the old identities do not open it. */
static int
add(struct rekey *rk, const char *id)
{
	struct store_meta	 m;
	struct buf		 ct;
	struct store_rekey	*e = &rk->batch[rk->n];
	size_t			 i, k = rk->n;
	int			 r;

	buf_init(&ct, 0);
	buf_init(&rk->rec[k], 0);
	if ((r = store_get(rk->st, id, &m, &ct)) == ERR_NOTFOUND) {
		buf_free(&ct);
		return 0;	/* erased meanwhile */
	}
	if (r == 0)
		r = reencrypt(rk, ct.data, ct.len, &rk->rec[k]);
	buf_free(&ct);
	if (r == ERR_NOKEY) {
		buf_free(&rk->rec[k]);
		rk->closed++;
		return 0;
	}
	memset(e, 0, sizeof(*e));
	rk->files[k] = calloc(m.attachments + 1, sizeof(*rk->files[k]));
	rk->blobs[k] = calloc(m.attachments + 1, sizeof(*rk->blobs[k]));
	rk->n++;	/* from here batch_free owns it */
	if (r != 0 || rk->files[k] == NULL || rk->blobs[k] == NULL)
		return r ? r : ERR_NOMEM;
	e->id = id;	/* the list's copy outlives the batch */
	for (i = 0; i < m.attachments; i++) {
		buf_init(&ct, 0);
		buf_init(&rk->files[k][i], 0);
		e->nfiles = i + 1;
		if ((r = store_attachment(rk->st, id, (unsigned)i + 1,
		    ctl_to_buf, &ct)) == 0)
			r = reencrypt(rk, ct.data, ct.len, &rk->files[k][i]);
		buf_free(&ct);
		if (r != 0)
			return r;
		rk->blobs[k][i].p = (const unsigned char *)rk->files[k][i].data;
		rk->blobs[k][i].len = rk->files[k][i].len;
		rk->bytes += rk->files[k][i].len;
	}
	e->record.p = (const unsigned char *)rk->rec[k].data;
	e->record.len = rk->rec[k].len;
	e->files = rk->blobs[k];
	rk->bytes += e->record.len;
	return 0;
}

int
cmd_rekey(struct ctl *c, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "identity", required_argument, NULL, 'i' },
		{ "since", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 }
	};
	struct keys		 k = { .npaths = 0 };
	struct store_filter	 f = { 0 };
	struct ctl_ids		 ids = { NULL, 0, 0, 0 };
	struct rekey		 rk;
	struct diag		 d = { 0, NULL, NULL };
	size_t			 i;
	int			 ch, rc, r;

	memset(&rk, 0, sizeof(rk));
	while ((ch = getopt_long(argc, argv, ":i:s:", longopts, NULL)) != -1) {
		if (ch == 'i')
			rc = ctl_keys_add(&k, optarg);
		else if (ch == 's')
			rc = ctl_filter_opt(ch, optarg, &f);
		else
			rc = ctl_bad_option(c, ch, argv);
		if (rc != EXIT_OK)
			return rc;
	}
	if ((rc = ctl_no_args(c, argc, argv)) != EXIT_OK)
		return rc;
	if (k.npaths == 0)
		return ctl_fail(EXIT_USAGE, "rekey needs -i OLD_IDENTITY");
	if ((rc = ctl_load_config(c)) != EXIT_OK || (rc = ctl_keys_load(c,
	    &k)) != EXIT_OK)
		goto out;
	if (c->cfg == NULL || snapshot_recipients(c->cfg, &rk.rcpts,
	    &rk.nrcpts, &d) != 0) {
		rc = ctl_fail(EXIT_FAIL, "rekey needs the configuration's "
		    "recipients (-c CONFIG, not -d)");
		goto out;
	}
	rk.k = &k;
	if ((rc = ctl_open_db(c, 0, &rk.st)) != EXIT_OK)
		goto out;
	if ((r = store_list(rk.st, &f, ctl_collect_id, &ids)) != 0 ||
	    ids.oom) {
		rc = ctl_fail(EXIT_FAIL, "cannot list: %s",
		    err_str(ids.oom ? ERR_NOMEM : r));
		goto out;
	}
	/* Oldest first, so that a run cut short has done a prefix. */
	for (i = ids.n; i-- > 0 && rc == EXIT_OK; ) {
		if ((r = add(&rk, ids.id[i])) != 0) {
			rc = ctl_fail(EXIT_FAIL, "inquiry %s: %s", ids.id[i],
			    err_str(r));
			break;
		}
		if (rk.n == BATCH_INQUIRIES || rk.bytes >= BATCH_BYTES)
			rc = flush(&rk);
	}
	if (rc == EXIT_OK)
		rc = flush(&rk);
	batch_free(&rk);
	if (rc == EXIT_OK) {
		printf("rekeyed %" PRIu64 " inquiries and %" PRIu64 " files to "
		    "%zu recipient%s", rk.done, rk.nfiles, rk.nrcpts,
		    rk.nrcpts == 1 ? "" : "s");
		if (rk.closed)
			printf("; %" PRIu64 " did not open with the identities "
			    "given (already rekeyed, or not theirs)", rk.closed);
		printf("\n");
		rc = ctl_finish();
	}
out:
	store_close(rk.st);
	free(rk.rcpts);
	free(ids.id);
	ctl_keys_free(&k);
	return rc;
}
