#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

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
