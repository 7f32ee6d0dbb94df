#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "secret.h"
#include "spool.h"

#define AD_MAX		128

struct spool_key {
	unsigned char	k[SPOOL_KEY_LEN];
};

int
spool_key_load(const char *path, int create, struct spool_key **out,
    struct diag *d)
{
	struct spool_key	*key;
	int			 r;

	*out = NULL;
	if (sodium_init() < 0)
		return ERR_NOMEM;
	if ((key = sodium_malloc(sizeof(*key))) == NULL)
		return ERR_NOMEM;
	r = secret_key_load(path, "spool-key", "spool key", create,
	    key->k, sizeof(key->k), d);
	if (r != 0) {
		sodium_free(key);
		return r;
	}
	*out = key;
	return 0;
}

void
spool_key_free(struct spool_key *key)
{
	if (key)
		sodium_free(key);	/* wipes before unmapping */
}

/* AD = id NUL kind: the separator keeps ("ab","c") apart from ("a","bc"). */
static int
make_ad(const char *id, const char *kind, unsigned char *ad, size_t *adlen)
{
	size_t	il = strlen(id), kl = strlen(kind);

	if (il + 1 + kl > AD_MAX)
		return ERR_INVAL;
	memcpy(ad, id, il);
	ad[il] = '\0';
	memcpy(ad + il + 1, kind, kl);
	*adlen = il + 1 + kl;
	return 0;
}

int
spool_seal(const struct spool_key *key, const char *id, const char *kind,
    const void *pt, size_t ptlen, unsigned char **out, size_t *outlen)
{
	unsigned char		 ad[AD_MAX], *blob;
	size_t			 adlen;
	unsigned long long	 clen;

	*out = NULL;
	*outlen = 0;
	if (ptlen > SPOOL_MAX || make_ad(id, kind, ad, &adlen) != 0)
		return ERR_INVAL;
	if ((blob = malloc(ptlen + SPOOL_OVERHEAD)) == NULL)
		return ERR_NOMEM;
	randombytes_buf(blob, SPOOL_NONCE_LEN);
	crypto_aead_chacha20poly1305_ietf_encrypt(blob + SPOOL_NONCE_LEN,
	    &clen, pt, ptlen, ad, adlen, NULL, blob, key->k);
	*out = blob;
	*outlen = SPOOL_NONCE_LEN + (size_t)clen;
	return 0;
}

int
spool_open(const struct spool_key *key, const char *id, const char *kind,
    const unsigned char *blob, size_t bloblen, struct buf *out)
{
	unsigned char		 ad[AD_MAX], *pt;
	size_t			 adlen, ptmax, oldlen = out->len;
	unsigned long long	 ptlen;

	if (make_ad(id, kind, ad, &adlen) != 0)
		return ERR_INVAL;
	if (bloblen < SPOOL_OVERHEAD || bloblen - SPOOL_OVERHEAD > SPOOL_MAX)
		return ERR_AUTH;
	ptmax = bloblen - SPOOL_OVERHEAD;
	/* Reserve room (the ciphertext is a placeholder), then decrypt
	   straight into the buffer: no second plaintext copy to wipe. */
	if (buf_append(out, blob + SPOOL_NONCE_LEN, ptmax) != 0)
		return ERR_NOMEM;
	pt = (unsigned char *)out->data + oldlen;
	if (crypto_aead_chacha20poly1305_ietf_decrypt(pt, &ptlen, NULL,
	    blob + SPOOL_NONCE_LEN, bloblen - SPOOL_NONCE_LEN, ad, adlen,
	    blob, key->k) != 0) {
		sodium_memzero(pt, ptmax);
		out->len = oldlen;
		out->data[oldlen] = '\0';
		return ERR_AUTH;
	}
	out->len = oldlen + (size_t)ptlen;
	out->data[out->len] = '\0';
	return 0;
}
