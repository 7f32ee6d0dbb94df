#ifndef INTAKE_AGE_H
#define INTAKE_AGE_H

#include "err.h"

#include <stddef.h>

#include "buf.h"
#include "log.h"

/*
 * age v1 (age-encryption.org/v1) with X25519 recipients, built on libsodium.
 * Files produced here decrypt with the reference `age -d -i`; files from
 * `age -r` decrypt here. Header parsing is strict per the spec.
 *
 * Errors are distinct so callers and tests can tell them apart.
 */

#define AGE_KEY_LEN		32
#define AGE_RECIPIENT_STRLEN	62	/* "age1" + 58, without NUL */
#define AGE_IDENTITY_STRLEN	74	/* "AGE-SECRET-KEY-1" + 58, without NUL */
#define AGE_CHUNK		65536
/* Caps on untrusted headers; also the most recipients age_encrypt takes. */
#define AGE_MAX_HEADER		65536	/* bytes, up to and including the MAC line */
#define AGE_MAX_STANZAS		256


#define AGE_LABEL_MAX		48	/* bytes of a recipient's label */

struct age_recipient {
	unsigned char	pk[AGE_KEY_LEN];
	char		label[AGE_LABEL_MAX + 1];	/* who; may be "" */
};

struct age_identity {
	unsigned char	sk[AGE_KEY_LEN];
	unsigned char	pk[AGE_KEY_LEN];	/* derived */
};


/* Keys. Strings are NUL-terminated; out buffers need STRLEN + 1 bytes. */
int	age_identity_generate(struct age_identity *);
int	age_recipient_parse(const char *, struct age_recipient *);
/* 1 if s is (or starts like) an age secret key, AGE-SECRET-KEY-1…, in
   any case: found where a recipient belongs, it must not be echoed. */
int	age_is_secret_key(const char *s);
#define AGE_SECRET_HERE	"this is a secret key; put its public recipient " \
	"(age1...) here; the secret key must stay off the server"
int	age_recipient_format(const struct age_recipient *, char *out);
int	age_identity_parse(const char *, struct age_identity *);
int	age_identity_format(const struct age_identity *, char *out);
void	age_identity_recipient(const struct age_identity *,
	    struct age_recipient *);
void	age_identities_wipe(struct age_identity *, size_t);

/*
 * Reads recipients in age's -R format (one age1… per line, '#' comments,
 * blank lines). Appends to *r / *n (realloc'd, caller frees). Problems are
 * reported via d as file:line and make the call fail. A comment
 * "# label: NAME" on the line just above a recipient names it (for the
 * audit log); the file stays one that `age -R` reads. Control and format
 * characters in NAME become '?', and it is cut to AGE_LABEL_MAX bytes on a
 * character boundary.
 */
int	age_recipients_file_read(const char *path, struct age_recipient **r,
	    size_t *n, struct diag *d);

/*
 * Reads identities in age-keygen's file format (comments, blank lines,
 * AGE-SECRET-KEY-1… lines). Appends to *ids / *n; the array is allocated
 * with sodium_malloc-like care: free it with age_identities_free(). *ids
 * must be NULL or an array from an earlier call; on failure *ids / *n are
 * left as they were.
 */
int	age_identities_file_read(const char *path, struct age_identity **ids,
	    size_t *n, struct diag *d);
void	age_identities_free(struct age_identity *, size_t);

/*
 * Writes an identity file in age-keygen's format ("# created: …",
 * "# public key: age1…", the key line), mode 0600, never overwriting
 * (ERR_EXIST). path "-" writes to stdout.
 */
int	age_identity_file_write(const char *path, const struct age_identity *);

/*
 * Encrypts pt to every recipient (1 <= nr <= AGE_MAX_STANZAS) and appends
 * the age file to out. Returns 0, ERR_NOMEM (also when out's cap is
 * reached; out is then left as it was), ERR_INVAL (bad argument, or a
 * recipient that is a low-order point).
 */
int	age_encrypt(const struct age_recipient *r, size_t nr,
	    const void *pt, size_t ptlen, struct buf *out);

/*
 * Decrypts an age file with any of ids and appends the plaintext to out.
 * On ERR_PAYLOAD, out holds the plaintext of the chunks that verified
 * before the failure (what a streaming reader would have released); on any
 * other error out is left as it was. ct must not point into out.
 */
int	age_decrypt(const struct age_identity *ids, size_t nids,
	    const void *ct, size_t ctlen, struct buf *out);

/*
 * Streaming encryption for large payloads (attachments): age_enc_begin
 * writes the header to out, age_enc_update appends full chunks as plaintext
 * accumulates, age_enc_finish writes the final chunk. The state holds at
 * most one chunk of plaintext. After an error from age_enc_update the
 * state can only be passed to age_enc_abort; age_enc_finish frees the state
 * whatever it returns.
 */
struct age_enc;
int	age_enc_begin(struct age_enc **, const struct age_recipient *r,
	    size_t nr, struct buf *out);
int	age_enc_update(struct age_enc *, const void *p, size_t len,
	    struct buf *out);
int	age_enc_finish(struct age_enc *, struct buf *out);	/* frees state */
void	age_enc_abort(struct age_enc *);

#endif
