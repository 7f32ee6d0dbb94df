#ifndef INTAKE_PROOF_H
#define INTAKE_PROOF_H

#include "err.h"

#include <stddef.h>

#include "buf.h"
#include "config.h"

/*
 * The forms' proof of work ([form NAME] altcha = yes): one ALTCHA verifier
 * per form name, so that a cheap form's challenges never pass for a dear
 * one's, made on first use and kept across reloads, so that a reload never
 * forgets which solutions were spent (that would let them be replayed).
 * The HMAC key (the altcha-key credential, else the file [storage]
 * altcha_key) is read, or made, by proof_prepare when a form first asks
 * for proof of work: at start or at a reload, never while a request
 * waits. Loop thread only.
 */

struct proof;

struct proof	*proof_new(const char *key_path);
void		 proof_free(struct proof *);
/* Loads the key if a form of cfg has altcha = yes and it is not loaded
   yet; problems are logged. 0 or ERR_IO. */
int		 proof_prepare(struct proof *, const struct config *cfg);
/* Appends a fresh challenge for form fc as JSON. ERR_* on failure (no
   key, no memory). */
int	proof_challenge(struct proof *, const struct form_conf *fc,
	    struct buf *out);
/*
 * Checks and spends the submission's altcha value (token may be NULL);
 * on 0, *spend says what was spent, for the store to spend it too
 * (this verifier only remembers its own daemon's).
 * 0, or altcha_verify's codes: ERR_NOTFOUND, ERR_MALFORMED, ERR_AUTH,
 * ERR_EXPIRED, ERR_REPLAYED, ERR_BUSY (answer 503), ERR_NOMEM; ERR_IO
 * without a key.
 */
struct altcha_spend;
int	proof_verify(struct proof *, const struct form_conf *fc,
	    const char *token, size_t len, struct altcha_spend *spend);
/* What the patient reads for a proof verify refused. */
const char *proof_message(int r);

#endif
