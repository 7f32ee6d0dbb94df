#ifndef INTAKE_SPOOL_H
#define INTAKE_SPOOL_H

#include "err.h"

#include <stddef.h>

#include "buf.h"
#include "log.h"

/*
 * The spool key keeps queued notifications unreadable at rest: a message is
 * sealed when it is queued and opened only to be handed to the transport.
 * The key is 32 random bytes in "spool.key" beside the database, mode 0600,
 * created on first start and refused when group or world can read it.
 *
 * A sealed blob is nonce (12 bytes) || ChaCha20-Poly1305-IETF ciphertext and
 * tag. The additional data binds it to its outbox row (inquiry id, kind), so
 * a blob moved to another row does not open.
 */

#define SPOOL_KEY_LEN	32
#define SPOOL_NONCE_LEN	12
#define SPOOL_OVERHEAD	(SPOOL_NONCE_LEN + 16)
#define SPOOL_MAX	(64u << 20)	/* largest plaintext we seal */


struct spool_key;


/*
 * Loads the key: the spool-key credential, else the file path ([storage]
 * spool_key; NULL when it has none), creating the file (atomically:
 * temporary file, fsync, link) when missing and create != 0. Problems are
 * reported via d naming the key file. *out is owned by the caller
 * (spool_key_free wipes it).
 */
int	spool_key_load(const char *path, int create, struct spool_key **out,
	    struct diag *d);
void	spool_key_free(struct spool_key *);

/*
 * Seals pt for the outbox row (id, kind). On success *out is a malloc'd
 * blob of *outlen bytes owned by the caller. Thread-safe: the key is only
 * read.
 */
int	spool_seal(const struct spool_key *, const char *id, const char *kind,
	    const void *pt, size_t ptlen, unsigned char **out, size_t *outlen);
/*
 * Verifies and decrypts a blob of the row (id, kind), appending the
 * plaintext to out (which the caller should buf_wipe). ERR_AUTH when it
 * does not verify; out is then unchanged.
 */
int	spool_open(const struct spool_key *, const char *id, const char *kind,
	    const unsigned char *blob, size_t bloblen, struct buf *out);

#endif
