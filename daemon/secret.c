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

int
secret_mode_check(const struct stat *st)
{
	if (!S_ISREG(st->st_mode))
		return ERR_MALFORMED;
	if (st->st_mode & (S_IRWXG | S_IRWXO))
		return ERR_PERM;
	return 0;
}

/* Reads up to cap bytes; ERR_TOOBIG when the file holds more. */
static int
read_all(int fd, unsigned char *buf, size_t cap, size_t *len)
{
	unsigned char	extra;
	ssize_t		n;

	*len = 0;
	while (*len < cap) {
		n = read(fd, buf + *len, cap - *len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return ERR_IO;
		if (n == 0)
			return 0;
		*len += (size_t)n;
	}
	while ((n = read(fd, &extra, 1)) == -1 && errno == EINTR)
		;
	if (n == -1)
		return ERR_IO;
	return n == 0 ? 0 : ERR_TOOBIG;
}

int
secret_read(const char *path, const char *what, void *buf, size_t cap,
    size_t *len, struct diag *d)
{
	struct stat	st;
	int		fd, r;

	*len = 0;
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1) {
		if (errno == ENOENT)
			return ERR_NOTFOUND;
		diag(d, path, 0, "cannot open %s: %s", what, strerror(errno));
		return ERR_IO;
	}
	if (fstat(fd, &st) == -1)
		r = ERR_IO;
	else if ((r = secret_mode_check(&st)) == 0)
		r = read_all(fd, buf, cap, len);
	close(fd);
	if (r == ERR_MALFORMED)
		diag(d, path, 0, "%s is not a regular file", what);
	else if (r == ERR_PERM)
		diag(d, path, 0, "%s is " SECRET_MODE_HINT, what);
	else if (r == ERR_TOOBIG)
		diag(d, path, 0, "%s is longer than %zu bytes", what, cap);
	else if (r == ERR_IO)
		diag(d, path, 0, "cannot read %s: %s", what, strerror(errno));
	if (r != 0) {
		sodium_memzero(buf, cap);
		*len = 0;
	}
	return r;
}

/*
 * Creates the key file without ever exposing a partial key: the bytes go to
 * a temporary file (mkstemp: 0600) that is fsynced and then linked into
 * place. link() fails with EEXIST if another process won the race; that
 * key is then used. The random bytes pass through key, which the caller
 * reads the file back into. Returns 0 or ERR_IO (errno set).
 */
static int
create_key(const char *dir, const char *name, const char *path,
    unsigned char *key, size_t len)
{
	char	tmp[PATH_MAX];
	int	fd, r = ERR_IO, saved;

	if (snprintf(tmp, sizeof(tmp), "%s/.%s.XXXXXX", dir, name) >=
	    (int)sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return ERR_IO;
	}
	if ((fd = mkstemp(tmp)) == -1)
		return ERR_IO;
	randombytes_buf(key, len);
	if (fchmod(fd, S_IRUSR | S_IWUSR) == 0 &&
	    fs_write_all(fd, key, len) == 0 && fsync(fd) == 0 &&
	    (link(tmp, path) == 0 || errno == EEXIST))
		r = 0;
	saved = errno;
	sodium_memzero(key, len);
	close(fd);
	unlink(tmp);
	if (r == 0)
		(void)fs_fsync_dir(dir);
	errno = saved;
	return r;
}

/* Reads exactly len bytes of key from path (secret_read's rules). */
static int
read_key(const char *path, const char *what, unsigned char *key, size_t len,
    struct diag *d)
{
	size_t	got;
	int	r;

	r = secret_read(path, what, key, len, &got, d);
	if (r == 0 && got != len) {
		diag(d, path, 0, "%s is not %zu bytes", what, len);
		sodium_memzero(key, len);
		r = ERR_MALFORMED;
	}
	return r;
}

/*
 * The credential first: with LoadCredentialEncrypted= the key lives
 * encrypted on disk (TPM or the host key) and in clear only in the
 * service's private credentials directory, never beside the database,
 * so a copy of the state directory no longer carries the key to what it
 * seals. It is never created: a key made here would not outlive the
 * service. Returns ERR_NOTFOUND when there is no such credential.
 */
int
secret_credential_path(const char *name, char *path, size_t len)
{
	const char	*dir = getenv("CREDENTIALS_DIRECTORY");

	if (dir == NULL || *dir == '\0')
		return ERR_NOTFOUND;
	if (snprintf(path, len, "%s/%s", dir, name) >= (int)len)
		return ERR_INVAL;
	return 0;
}

static int
read_credential(const char *cred, const char *what, unsigned char *key,
    size_t len, struct diag *d)
{
	char	path[PATH_MAX];
	int	r;

	if (cred == NULL)
		return ERR_NOTFOUND;
	if ((r = secret_credential_path(cred, path, sizeof(path))) ==
	    ERR_INVAL)
		diag(d, cred, 0, "path too long for the %s credential", what);
	if (r != 0)
		return r;
	return read_key(path, what, key, len, d);
}

int
secret_key_load(const char *path, const char *cred, const char *what,
    int create, unsigned char *key, size_t len, struct diag *d)
{
	char		 dir[PATH_MAX], key_name[32], *p;
	const char	*name;
	int		 r;

	if ((r = read_credential(cred, what, key, len, d)) != ERR_NOTFOUND)
		return r;
	if (path == NULL) {
		/* The config key is the credential's name with '_'. */
		snprintf(key_name, sizeof(key_name), "%s", cred ? cred : "");
		for (p = key_name; (p = strchr(p, '-')) != NULL; )
			*p = '_';
		diag(d, "config", 0, "no %s: with [storage] backend = "
		    "postgresql it has no default; set [storage] %s to the "
		    "file every daemon shares, or give the %s credential",
		    what, key_name, cred ? cred : "");
		return ERR_CONFIG;
	}
	name = (name = strrchr(path, '/')) != NULL ? name + 1 : path;
	if (fs_dirname(path, dir, sizeof(dir)) == -1) {
		diag(d, path, 0, "path too long for the %s", what);
		return ERR_INVAL;
	}
	r = read_key(path, what, key, len, d);
	if (r == ERR_NOTFOUND && create) {
		if (create_key(dir, name, path, key, len) != 0) {
			diag(d, path, 0, "cannot create %s: %s", what,
			    strerror(errno));
			return ERR_IO;
		}
		r = read_key(path, what, key, len, d);
	}
	return r;
}

/* One line of a secret file, at most SECRET_PASSWORD_MAX bytes (a
   trailing newline dropped), malloc'd into *out. */
static int
read_password(const char *path, char **out, struct diag *d)
{
	char	b[SECRET_PASSWORD_MAX + 2];
	size_t	n;
	int	r;

	*out = NULL;
	r = secret_read(path, "password file", b, sizeof(b) - 1, &n, d);
	if (r == ERR_NOTFOUND) {
		diag(d, path, 0, "cannot open password file: %s",
		    strerror(ENOENT));
		return ERR_IO;
	}
	if (r != 0)
		return r;
	b[n] = '\0';
	b[strcspn(b, "\r\n")] = '\0';
	if (b[0] == '\0' || n > SECRET_PASSWORD_MAX) {
		diag(d, path, 0, "password file is empty or too long");
		r = ERR_CONFIG;
	} else if ((*out = strdup(b)) == NULL)
		r = ERR_NOMEM;
	sodium_memzero(b, sizeof(b));
	return r;
}

int
secret_password(const char *file, const char *cred, char **out,
    struct diag *d)
{
	char	path[PATH_MAX];

	*out = NULL;
	if (file != NULL)
		return read_password(file, out, d);
	if (secret_credential_path(cred, path, sizeof(path)) != 0 ||
	    access(path, F_OK) != 0)
		return 0;
	return read_password(path, out, d);
}

void
secret_free(char *s)
{
	if (s != NULL) {
		sodium_memzero(s, strlen(s));
		free(s);
	}
}
