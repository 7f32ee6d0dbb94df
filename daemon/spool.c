#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "fsutil.h"
#include "secret.h"
#include "spool.h"

#define KEY_FILE	"spool.key"
#define AD_MAX		128

struct spool_key {
	unsigned char	k[SPOOL_KEY_LEN];
};


/* Writes the directory of db_path (or ".") into dir. 0 or -1 if too long. */
static int
key_dir(const char *db_path, char *dir, size_t len)
{
	const char	*slash = strrchr(db_path, '/');
	int		 n;

	if (slash == NULL)
		n = snprintf(dir, len, ".");
	else if (slash == db_path)
		n = snprintf(dir, len, "/");
	else
		n = snprintf(dir, len, "%.*s", (int)(slash - db_path), db_path);
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

/*
 * Creates the key file without ever exposing a partial key: the bytes go to
 * a temporary file (mkstemp: 0600) that is fsynced and then linked into
 * place. link() fails with EEXIST if another process won the race; that
 * key is then used. Returns 0 or ERR_IO (errno set).
 */
static int
create_key(const char *dir, const char *path)
{
	char		 tmp[PATH_MAX];
	unsigned char	 k[SPOOL_KEY_LEN];
	int		 fd, r = ERR_IO, saved;

	if (snprintf(tmp, sizeof(tmp), "%s/.spool.key.XXXXXX", dir) >=
	    (int)sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return ERR_IO;
	}
	if ((fd = mkstemp(tmp)) == -1)
		return ERR_IO;
	randombytes_buf(k, sizeof(k));
	if (fchmod(fd, S_IRUSR | S_IWUSR) == 0 &&
	    fs_write_all(fd, k, sizeof(k)) == 0 && fsync(fd) == 0 &&
	    (link(tmp, path) == 0 || errno == EEXIST))
		r = 0;
	saved = errno;
	sodium_memzero(k, sizeof(k));
	close(fd);
	unlink(tmp);
	if (r == 0)
		(void)fs_fsync_dir(dir);
	errno = saved;
	return r;
}

/* Reads the key at path into key: exactly SPOOL_KEY_LEN bytes from a
   file only its owner can read (secret.h). */
static int
read_key(const char *path, struct spool_key *key, struct diag *d)
{
	size_t	len;
	int	r;

	r = secret_read(path, "spool key", key->k, SPOOL_KEY_LEN, &len, d);
	if (r == 0 && len != SPOOL_KEY_LEN) {
		diag(d, path, 0, "spool key is not %d bytes", SPOOL_KEY_LEN);
		sodium_memzero(key->k, sizeof(key->k));
		r = ERR_MALFORMED;
	}
	return r;
}

int
spool_key_load(const char *db_path, int create, struct spool_key **out,
    struct diag *d)
{
	char			 dir[PATH_MAX], path[PATH_MAX];
	struct spool_key	*key;
	int			 r;

	*out = NULL;
	if (sodium_init() < 0)
		return ERR_NOMEM;
	if (key_dir(db_path, dir, sizeof(dir)) == -1 ||
	    snprintf(path, sizeof(path), "%s/" KEY_FILE, dir) >=
	    (int)sizeof(path)) {
		diag(d, db_path, 0, "path too long for the spool key");
		return ERR_INVAL;
	}
	if ((key = sodium_malloc(sizeof(*key))) == NULL)
		return ERR_NOMEM;
	r = read_key(path, key, d);
	if (r == ERR_NOTFOUND && create) {
		if (create_key(dir, path) != 0) {
			diag(d, path, 0, "cannot create spool key: %s",
			    strerror(errno));
			sodium_free(key);
			return ERR_IO;
		}
		r = read_key(path, key, d);
	}
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
