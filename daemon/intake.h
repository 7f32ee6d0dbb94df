#ifndef INTAKE_INTAKE_H
#define INTAKE_INTAKE_H

#include <uv.h>

#include "http.h"
#include "mailer.h"
#include "snapshot.h"
#include "store.h"

/*
 * The application: routes HTTP requests to forms, validates submissions,
 * encrypts the record on the threadpool, hands it to the store writer and
 * answers only after the commit. Also the small GET endpoints (demo page,
 * schema, health, metrics) and CORS preflight.
 *
 *   POST    /forms/NAME          submit (urlencoded, JSON or multipart
 *                                with files)
 *   GET     /forms/NAME          demo HTML form
 *   GET     /forms/NAME/schema   the form's JSON Schema
 *   OPTIONS /forms/NAME          CORS preflight
 *   GET     /healthz
 *
 * /metrics is the admin listener's (inbox.c), never the public one's.
 */

struct intake;

/* Takes a reference on snap. writer and stage_dir (where uploads are
   staged, encrypted) must outlive the intake; mailer may be NULL (no
   notifications are queued then). */
int	intake_new(uv_loop_t *, struct snapshot *snap, struct store_writer *,
	    struct mailer *, const char *stage_dir, struct intake **out);
/* Swaps in a newly loaded snapshot (SIGHUP); requests in flight keep theirs. */
void	intake_set_snapshot(struct intake *, struct snapshot *);
void	intake_set_http(struct intake *, struct http_server *);
const struct http_handler *intake_handler(struct intake *);
/* Calls cb(arg) once no submission is in flight (at once if none is). */
void	intake_drain(struct intake *, void (*cb)(void *), void *arg);
void	intake_free(struct intake *);
/* Appends the Prometheus text of the counters and gauges to out (served
   on the admin listener only), with the store's counts when st is not
   NULL. 0 or ERR_NOMEM. */
struct store_stats;
int	intake_metrics(struct intake *, const struct store_stats *st,
	    struct buf *out);

#endif
