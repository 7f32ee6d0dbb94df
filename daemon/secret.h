#ifndef INTAKE_SECRET_H
#define INTAKE_SECRET_H

#include <sys/stat.h>

#include <stddef.h>

#include "err.h"
#include "log.h"

/*
 * The one rule for files that hold a secret (the SMTP password, the spool
 * key, and any other credential a file names): a regular file that
 * neither its group nor others may access in any way (chmod 600 or 400).
 * The config check, the mailer and the spool key all apply it through
 * here, so a file one of them accepts is never refused by another.
 */

#define SECRET_MODE_HINT	"accessible by group or others (chmod 600 it)"

/* 0 if st describes a file fit to hold a secret; ERR_MALFORMED when it is
   not a regular file, ERR_PERM when group or others have any access. */
int	secret_mode_check(const struct stat *st);

/*
 * Reads the whole secret file path into buf (at most cap bytes) and sets
 * *len. Links are not followed. Problems are reported through d naming
 * the file and what it holds (what, e.g. "password file"); returns 0,
 * ERR_NOTFOUND (missing; not reported), ERR_IO, ERR_PERM, ERR_MALFORMED
 * or ERR_TOOBIG. On any failure buf has been wiped.
 */
int	secret_read(const char *path, const char *what, void *buf, size_t cap,
	    size_t *len, struct diag *d);

/* $CREDENTIALS_DIRECTORY/name (a systemd credential) into path: 0,
   ERR_NOTFOUND without a credentials directory, ERR_INVAL if too long.
   Whether the credential exists is the caller's to find out. */
int	secret_credential_path(const char *name, char *path, size_t len);

/*
 * Loads a key of exactly len random bytes: from the systemd credential
 * cred (e.g. "spool-key", $CREDENTIALS_DIRECTORY/cred) when there is one,
 * else from the file path; cred may be NULL, and so may path when there
 * is no default (PostgreSQL: every daemon must use the same key, which
 * a default beside each one's state would not be; then ERR_CONFIG, and
 * d says what to set). When the file is missing and create != 0 it is
 * made first, atomically (temporary file, fsync, link), so no process
 * ever reads a partial key and two starting at once end up with the
 * same one. The file obeys the rules above. Problems are reported
 * through d naming the file and what it holds; returns 0, ERR_NOTFOUND
 * (missing, create == 0; not reported), ERR_INVAL (path too long),
 * ERR_IO, ERR_PERM, ERR_TOOBIG or ERR_MALFORMED (shorter than len, or
 * not a regular file). On failure key has been wiped.
 */
int	secret_key_load(const char *path, const char *cred, const char *what,
	    int create, unsigned char *key, size_t len, struct diag *d);

#define SECRET_PASSWORD_MAX	1024

/*
 * A password: the first line of file, else of the systemd credential
 * cred if there is one. *out is malloc'd (free it with secret_free), or
 * NULL when neither is there. secret_read's rules and reports.
 */
int	secret_password(const char *file, const char *cred, char **out,
	    struct diag *d);
/* Wipes and frees a password; NULL is fine. */
void	secret_free(char *);

#endif
