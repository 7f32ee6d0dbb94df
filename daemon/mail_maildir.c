/*
 * The Maildir transport: each message becomes a file in a Maildir
 * (tmp/ then new/, fsynced), for trying intaked out and for sites that
 * read mail locally. The file I/O runs on the libuv threadpool, never on
 * the loop nor on the store writer, so a slow disk under the mail
 * directory delays no commit of an inquiry.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>
#include <uv.h>

#include "fsutil.h"
#include "mail_transport.h"
#include "pool.h"

struct maildir {
	uv_loop_t		*loop;
	const char		*dir;
	char			 host[64];
	unsigned		 nworks;	/* writes on the threadpool */
	int			 stopping;
	void			(*stop_cb)(void *);
	void			*stop_arg;
};

/* One file on its way. */
struct mdjob {
	uv_work_t		 work;
	struct maildir		*md;
	struct mail_send	*s;
	char			 name[128];	/* unique file name */
	int			 err;		/* errno of the failed step */
	const char		*step;
};

static int
mkdir_0700(const char *path)
{
	return mkdir(path, S_IRWXU) == 0 || errno == EEXIST ? 0 : -1;
}

/* dir and its cur, new and tmp (0700). 0 or -1 with errno set. */
static int
make_maildir(const char *dir)
{
	static const char *const	 sub[] = { "cur", "new", "tmp" };
	char				 p[PATH_MAX];
	size_t				 i;

	if (mkdir_0700(dir) == -1)
		return -1;
	for (i = 0; i < 3; i++) {
		if (snprintf(p, sizeof(p), "%s/%s", dir, sub[i]) >=
		    (int)sizeof(p)) {
			errno = ENAMETOOLONG;
			return -1;
		}
		if (mkdir_0700(p) == -1)
			return -1;
	}
	return 0;
}

/* Maildir files use LF line ends: drop the CR of each CRLF in place. */
static size_t
crlf_to_lf(char *p, size_t len)
{
	size_t	i, o = 0;

	for (i = 0; i < len; i++)
		if (!(p[i] == '\r' && i + 1 < len && p[i + 1] == '\n'))
			p[o++] = p[i];
	return o;
}

/* Writes the file tmp fully to disk and closes it. 0 or -1 (errno,
   j->step). */
static int
write_tmp(struct mdjob *j, const char *tmp)
{
	char	*body = (char *)j->s->body;	/* the send's own copy */
	size_t	 len;
	int	 fd, saved;

	len = crlf_to_lf(body, j->s->bodylen);
	j->step = "open";
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd == -1 && errno == ENOENT && make_maildir(j->md->dir) == 0)
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd == -1)
		return -1;
	j->step = "write";
	if (fs_write_all(fd, body, len) == 0) {
		j->step = "fsync";
		if (fsync(fd) == 0) {
			j->step = "close";
			return close(fd);
		}
	}
	saved = errno;
	close(fd);
	errno = saved;
	return -1;
}

/*
 * Threadpool: tmp/NAME (fsync), rename into new/, fsync new/. Sets
 * j->err to 0 or the errno of the failed step named by j->step; a failed
 * delivery leaves nothing behind in tmp/.
 */
static void
maildir_work(uv_work_t *w)
{
	struct mdjob	*j = w->data;
	const char	*dir = j->md->dir;
	char		 tmp[PATH_MAX], dst[PATH_MAX], newdir[PATH_MAX];

	pool_background();
	j->err = 0;
	j->step = "path";
	if (snprintf(tmp, sizeof(tmp), "%s/tmp/%s", dir, j->name) >=
	    (int)sizeof(tmp) || snprintf(dst, sizeof(dst), "%s/new/%s", dir,
	    j->name) >= (int)sizeof(dst) || snprintf(newdir, sizeof(newdir),
	    "%s/new", dir) >= (int)sizeof(newdir)) {
		j->err = ENAMETOOLONG;
		return;
	}
	if (write_tmp(j, tmp) == -1) {
		j->err = errno;
		unlink(tmp);
		return;
	}
	j->step = "rename";
	if (rename(tmp, dst) == -1) {
		j->err = errno;
		unlink(tmp);
		return;
	}
	j->step = "fsync";
	if (fs_fsync_dir(newdir) == -1)
		j->err = errno;
}

static void
maybe_stopped(struct maildir *md)
{
	void	(*cb)(void *) = md->stop_cb;

	if (!md->stopping || md->nworks || cb == NULL)
		return;
	md->stop_cb = NULL;
	cb(md->stop_arg);
}

static void
maildir_after(uv_work_t *w, int status)
{
	struct mdjob		*j = w->data;
	struct maildir		*md = j->md;
	struct mail_send	*s = j->s;
	char			 why[128];

	md->nworks--;
	if (status == UV_ECANCELED)
		mail_done(s, MAIL_TEMPFAIL, "delivery cancelled");
	else if (j->err == 0)
		mail_done(s, MAIL_SENT, NULL);
	else {
		snprintf(why, sizeof(why), "maildir %s: %s", j->step,
		    strerror(j->err));
		mail_done(s, MAIL_TEMPFAIL, why);
	}
	free(j);
	maybe_stopped(md);
}

/* A unique Maildir name: time, pid, 64 random bits, host. */
static void
maildir_name(struct mdjob *j)
{
	struct timespec	ts;
	unsigned char	r[8];
	char		hex[sizeof(r) * 2 + 1];

	clock_gettime(CLOCK_REALTIME, &ts);
	randombytes_buf(r, sizeof(r));
	sodium_bin2hex(hex, sizeof(hex), r, sizeof(r));
	snprintf(j->name, sizeof(j->name), "%lld.M%06ldP%dR%s.%s",
	    (long long)ts.tv_sec, ts.tv_nsec / 1000, (int)getpid(), hex,
	    j->md->host);
}

static void
maildir_send(void *state, struct mail_send *s)
{
	struct maildir	*md = state;
	struct mdjob	*j;

	if ((j = calloc(1, sizeof(*j))) == NULL) {
		mail_done(s, MAIL_TEMPFAIL, "out of memory");
		return;
	}
	j->md = md;
	j->s = s;
	maildir_name(j);
	j->work.data = j;
	if (uv_queue_work(md->loop, &j->work, maildir_work,
	    maildir_after) != 0) {
		free(j);
		mail_done(s, MAIL_TEMPFAIL, "cannot queue the maildir write");
		return;
	}
	md->nworks++;
}

/* The host part of Maildir names, with '/' and ':' replaced. */
static void
set_host(struct maildir *md)
{
	size_t	i;

	if (gethostname(md->host, sizeof(md->host)) != 0)
		snprintf(md->host, sizeof(md->host), "localhost");
	md->host[sizeof(md->host) - 1] = '\0';
	for (i = 0; md->host[i]; i++)
		if (md->host[i] == '/' || md->host[i] == ':')
			md->host[i] = '_';
}

static int
maildir_check(const struct config *cfg, struct diag *d)
{
	(void)cfg;
	(void)d;
	return 0;	/* config_load checked that maildir is set */
}

static int
maildir_start(uv_loop_t *loop, struct mailer *m, const struct config *cfg,
    void **state, struct diag *d)
{
	struct maildir	*md;

	(void)m;
	*state = NULL;
	if (make_maildir(cfg->maildir) == -1) {
		diag(d, cfg->maildir, 0, "cannot create maildir: %s",
		    strerror(errno));
		return ERR_IO;
	}
	if ((md = calloc(1, sizeof(*md))) == NULL)
		return ERR_NOMEM;
	md->loop = loop;
	md->dir = cfg->maildir;
	set_host(md);
	*state = md;
	return 0;
}

/* A write on the threadpool cannot be cut short; it is only waited for. */
static void
maildir_stop(void *state, void (*done)(void *), void *arg)
{
	struct maildir	*md = state;

	md->stopping = 1;
	md->stop_cb = done;
	md->stop_arg = arg;
	maybe_stopped(md);
}

static void
maildir_free(void *state)
{
	free(state);
}

const struct mail_tx mail_maildir = {
	.name = "maildir",
	.check = maildir_check,
	.start = maildir_start,
	.send = maildir_send,
	.stop = maildir_stop,
	.free = maildir_free,
};
