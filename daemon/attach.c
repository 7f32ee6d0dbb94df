#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "attach.h"
#include "buf.h"
#include "fsutil.h"
#include "log.h"

#define STAGE_PREFIX	".stage-"

/*
 * The plaintext's SHA-256, which the inbox checks after decrypting, is
 * computed with OpenSSL's libcrypto, not libsodium: libsodium's SHA-256
 * is portable C (445 MB/s here), libcrypto's uses the CPU's SHA
 * instructions (2,047 MB/s), and at upload sizes the hash was a quarter
 * of the CPU per MiB. A hash of data the patient sent holds no secret;
 * every keyed operation stays with libsodium.
 */
struct attach {
	struct age_enc			*enc;
	EVP_MD_CTX			*sha;
	unsigned char			 digest[ATTACH_SHA256_LEN];
	struct buf			 ct;	/* ciphertext not yet written */
	int				 fd;
	uint64_t			 size, staged;
	int				 done;
};

/*
 * An anonymous file in dir: O_TMPFILE where the file system has it, else
 * a unique name unlinked at once (attach_sweep removes one a crash left
 * between the two calls).
 */
static int
stage_open(const char *dir)
{
	char	path[PATH_MAX];
	int	fd;

	if (mkdir(dir, 0700) == -1 && errno != EEXIST)
		return -1;
	fd = open(dir, O_TMPFILE | O_RDWR | O_EXCL | O_CLOEXEC, 0600);
	if (fd != -1 || (errno != EOPNOTSUPP && errno != EISDIR &&
	    errno != EINVAL))
		return fd;
	if (snprintf(path, sizeof(path), "%s/" STAGE_PREFIX "XXXXXX", dir) >=
	    (int)sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if ((fd = mkostemp(path, O_CLOEXEC)) == -1)
		return -1;
	unlink(path);
	return fd;
}

/* Writes the ciphertext gathered in a->ct to the staging file. */
static int
flush_ct(struct attach *a)
{
	if (a->ct.len == 0)
		return 0;
	if (fs_write_all(a->fd, a->ct.data, a->ct.len) == -1) {
		log_warn("attachment: staging");
		return ERR_IO;
	}
	a->staged += a->ct.len;
	buf_reset(&a->ct);
	return 0;
}

int
attach_begin(const char *dir, const struct age_recipient *r, size_t nr,
    struct attach **out)
{
	struct attach	*a;
	int		 rc;

	*out = NULL;
	if ((a = calloc(1, sizeof(*a))) == NULL)
		return ERR_NOMEM;
	buf_init(&a->ct, 0);
	if ((a->sha = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(a->sha, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(a->sha);
		free(a);
		return ERR_NOMEM;
	}
	if ((a->fd = stage_open(dir)) == -1) {
		log_warn("attachment: staging file in %s", dir);
		EVP_MD_CTX_free(a->sha);
		free(a);
		return ERR_IO;
	}
	if ((rc = age_enc_begin(&a->enc, r, nr, &a->ct)) != 0 ||
	    (rc = flush_ct(a)) != 0) {
		attach_free(a);
		return rc;
	}
	*out = a;
	return 0;
}

int
attach_write(struct attach *a, const void *p, size_t n)
{
	int	rc;

	if (a->done || a->enc == NULL)
		return ERR_INVAL;
	if (EVP_DigestUpdate(a->sha, p, n) != 1)
		return ERR_NOMEM;
	a->size += n;
	if ((rc = age_enc_update(a->enc, p, n, &a->ct)) != 0)
		return rc;
	return flush_ct(a);
}

int
attach_finish(struct attach *a)
{
	int	rc;

	if (a->done || a->enc == NULL)
		return ERR_INVAL;
	rc = age_enc_finish(a->enc, &a->ct);	/* frees the state */
	a->enc = NULL;
	if (rc == 0)
		rc = flush_ct(a);
	if (EVP_DigestFinal_ex(a->sha, a->digest, NULL) != 1 && rc == 0)
		rc = ERR_NOMEM;
	a->done = rc == 0;
	return rc;
}

int
attach_fd(const struct attach *a)
{
	return a->fd;
}

uint64_t
attach_staged_size(const struct attach *a)
{
	return a->staged;
}

uint64_t
attach_size(const struct attach *a)
{
	return a->size;
}

const unsigned char *
attach_sha256(const struct attach *a)
{
	return a->done ? a->digest : NULL;
}

void
attach_free(struct attach *a)
{
	if (a == NULL)
		return;
	if (a->enc)
		age_enc_abort(a->enc);
	if (a->fd >= 0)
		close(a->fd);
	buf_wipe(&a->ct);
	EVP_MD_CTX_free(a->sha);	/* cleanses the state: file bytes */
	free(a);
}

int
attach_sweep(const char *dir)
{
	DIR		*d;
	struct dirent	*e;
	int		 n = 0;

	if ((d = opendir(dir)) == NULL)
		return errno == ENOENT ? 0 : -1;
	while ((e = readdir(d)) != NULL)
		if (strncmp(e->d_name, STAGE_PREFIX, strlen(STAGE_PREFIX)) ==
		    0 && unlinkat(dirfd(d), e->d_name, 0) == 0)
			n++;
	closedir(d);
	return n;
}
