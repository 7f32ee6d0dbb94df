#ifndef INTAKE_INBOX_H
#define INTAKE_INBOX_H

#include "err.h"

#include <uv.h>

#include "http.h"
#include "intake.h"
#include "snapshot.h"

/*
 * The admin listener's routes: the staff inbox and /metrics. The server
 * never decrypts: the page (files under [admin] root) fetches age files
 * and decrypts them with the staff member's identity, which stays in the
 * page. Everything here answers only on the admin listener.
 *
 *   GET    /inbox/...                          the page and its scripts
 *   POST   /inbox/api/login                    {"recipient"} -> challenge
 *   POST   /inbox/api/login/verify             {"recipient","token"}
 *   POST   /inbox/api/logout
 *   GET    /inbox/api/forms                    names, titles, schemas
 *   GET    /inbox/api/inquiries?before=&limit=&form=
 *   GET    /inbox/api/inquiries/ID             the record's age file
 *   GET    /inbox/api/inquiries/ID/attachments/N
 *   PATCH  /inbox/api/inquiries/ID             {"status"}
 *   DELETE /inbox/api/inquiries/ID
 *   GET    /metrics
 *
 * Sessions and login challenges live in the store (session.h); every
 * read of an inquiry and every change is in the audit log (audit.h).
 * Database work runs on the threadpool, never on the loop.
 */

struct inbox;

/*
 * Takes a reference on snap; store (what store_open gets, the boot
 * config's) and intake (for /metrics) must outlive the inbox. Loads the page's files from the
 * snapshot's [admin] root. 0 or ERR_*; problems are logged.
 */
int	inbox_new(uv_loop_t *, struct snapshot *snap, const char *store,
	    struct intake *intake, struct inbox **out);
/* For intaked -t: the page's files under [admin] root can be loaded. */
int	inbox_check(const struct config *, struct diag *d);
/* SIGHUP: the new snapshot and the page's files from its root. */
int	inbox_set_snapshot(struct inbox *, struct snapshot *);
const struct http_handler *inbox_handler(struct inbox *);
/* Calls cb(arg) once no request is on the threadpool (at once if none). */
void	inbox_drain(struct inbox *, void (*cb)(void *), void *arg);
void	inbox_free(struct inbox *);

#endif
