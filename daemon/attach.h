#ifndef INTAKE_ATTACH_H
#define INTAKE_ATTACH_H

#include "err.h"

#include <stddef.h>
#include <stdint.h>

#include <sodium.h>

#include "age.h"

/*
 * An attachment on its way in. Its plaintext is encrypted as an age
 * stream of its own while it arrives, and only ciphertext is written: to
 * a staging file in the state directory that has no name (O_TMPFILE, or a
 * name removed the moment it is made), so nothing of a report ever touches
 * disk in plaintext and nothing of a dropped or interrupted upload remains
 * (close, SIGKILL and power loss all free it). The SHA-256 of the
 * plaintext is taken on the way. The store copies the staged ciphertext
 * into the database in the inquiry's own transaction.
 *
 * Memory is one age chunk of plaintext and one of ciphertext whatever the
 * file's size. An attach is used by one thread at a time: the loop hands
 * it to the threadpool for attach_write and attach_finish.
 */

struct attach;

/*
 * Starts an attachment staged in dir (created 0700 if missing) for the nr
 * recipients r (copied). Returns 0 with *out owned by the caller
 * (attach_free), ERR_IO (logged) or ERR_NOMEM.
 */
int	attach_begin(const char *dir, const struct age_recipient *r, size_t nr,
	    struct attach **out);
/* Encrypts and stages n more bytes of plaintext. 0, ERR_IO or ERR_NOMEM;
   after an error only attach_free is allowed. */
int	attach_write(struct attach *, const void *p, size_t n);
/* Ends the age stream and syncs nothing: the store's commit makes it
   durable. 0 or ERR_*; afterwards the getters below are valid. */
int	attach_finish(struct attach *);
/* The staged age file (read it with pread from offset 0) and its size. */
int	attach_fd(const struct attach *);
uint64_t attach_staged_size(const struct attach *);
/* Plaintext bytes so far, and (after finish) their SHA-256. */
uint64_t attach_size(const struct attach *);
#define ATTACH_SHA256_LEN	32
const unsigned char *attach_sha256(const struct attach *);
/* Closes the staging file (its blocks are freed) and wipes the state. */
void	attach_free(struct attach *);

/*
 * Removes what a crash may have left in dir: staging files of the named
 * fallback whose removal did not happen. Called at start, before any
 * upload. Returns how many were removed, or -1 (dir unreadable).
 */
int	attach_sweep(const char *dir);

#endif
