/*
 * Test scaffolding shared by the Check suites and the benchmarks; the
 * contracts are in testutil.h.
 */
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"
#include "log.h"
#include "testutil.h"

/* The interpreter that has aiosmtpd (python3-aiosmtpd); the one on the
   PATH may be another. */
#define PYTHON		"/usr/bin/python3"
#define SMTP_START_MS	10000
#define MAX_OPTS	16

char	*tu_staff[TU_NSTAFF] = { "staff@example.org", "desk@example.org" };

char *
tu_tmpdir(char *dir, size_t size, const char *tag)
{
	int	n;

	n = snprintf(dir, size, "/tmp/%s.XXXXXX", tag);
	if (n < 0 || (size_t)n >= size) {
		errno = ENAMETOOLONG;
		return NULL;
	}
	return mkdtemp(dir);
}

static int
rm_one(const char *path, const struct stat *sb, int type, struct FTW *f)
{
	(void)sb;
	(void)type;
	(void)f;
	return remove(path);
}

int
tu_rmtree(const char *dir)
{
	if (dir == NULL || strncmp(dir, "/tmp/", 5) != 0 ||
	    strstr(dir, "/..") != NULL) {
		errno = EINVAL;
		return -1;
	}
	if (getenv("KEEP_TMP") != NULL) {
		fprintf(stderr, "KEEP_TMP: left %s\n", dir);
		return 0;
	}
	return nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS) == 0 ? 0 : -1;
}

char *
tu_path(char *out, size_t size, const char *dir, const char *name)
{
	int	n;

	n = snprintf(out, size, "%s/%s", dir, name);
	if (n < 0 || (size_t)n >= size) {
		errno = ENAMETOOLONG;
		return NULL;
	}
	return out;
}

int
tu_write_file(const char *path, const void *data, size_t len, mode_t mode)
{
	const char	*p = data;
	ssize_t		 n;
	int		 fd, saved;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd == -1)
		return -1;
	if (fchmod(fd, mode) == -1)
		goto fail;
	while (len > 0) {
		if ((n = write(fd, p, len)) == -1) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		p += n;
		len -= (size_t)n;
	}
	return close(fd);
fail:
	saved = errno;
	close(fd);
	errno = saved;
	return -1;
}

void *
tu_read_file(const char *path, size_t *lenp)
{
	struct stat	 sb;
	char		*p = NULL;
	size_t		 len = 0, size;
	ssize_t		 n = 0;
	int		 fd, saved;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return NULL;
	if (fstat(fd, &sb) == -1)
		goto fail;
	size = (size_t)sb.st_size;
	if ((p = malloc(size + 1)) == NULL)
		goto fail;
	while (len < size && (n = read(fd, p + len, size - len)) != 0) {
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			goto fail;
		len += (size_t)n;
	}
	close(fd);
	p[len] = '\0';
	if (lenp != NULL)
		*lenp = len;
	return p;
fail:
	saved = errno;
	free(p);
	close(fd);
	errno = saved;
	return NULL;
}

int
tu_count_files(const char *dir)
{
	DIR		*d;
	struct dirent	*e;
	int		 n = 0;

	if ((d = opendir(dir)) == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

int
tu_maildir(const char *dir)
{
	static const char	*sub[] = { "new", "cur", "tmp" };
	char			 p[PATH_MAX];
	size_t			 i;

	if (mkdir(dir, 0700) == -1)
		return -1;
	for (i = 0; i < sizeof(sub) / sizeof(sub[0]); i++)
		if (tu_path(p, sizeof(p), dir, sub[i]) == NULL ||
		    mkdir(p, 0700) == -1)
			return -1;
	return 0;
}

static void
loopback(struct sockaddr_in *sa, int port)
{
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)port);
	sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
}

int
tu_free_port(void)
{
	struct sockaddr_in	sa;
	socklen_t		len = sizeof(sa);
	int			fd, port = -1;

	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	loopback(&sa, 0);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
		port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

/* 1 if something accepts connections on 127.0.0.1:port. */
static int
port_open(int port)
{
	struct sockaddr_in	sa;
	int			fd, ok;

	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return 0;
	loopback(&sa, port);
	ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return ok;
}

static int64_t
mono_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits until pid listens on port: 0; 1 if it exited (it is reaped);
   -1 if it is still silent after ms. */
static int
wait_listening(pid_t pid, int port, int64_t ms)
{
	const struct timespec	step = { 0, 20 * 1000 * 1000 };
	int64_t			deadline = mono_ms() + ms;

	while (!port_open(port)) {
		if (waitpid(pid, NULL, WNOHANG) != 0)
			return 1;
		if (mono_ms() > deadline)
			return -1;
		nanosleep(&step, NULL);
	}
	return 0;
}

/* In the child: output to log (or nowhere), then exec argv. */
static _Noreturn void
exec_server(const char *const argv[], const char *log, pid_t parent)
{
	int	fd;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)	/* died before prctl took effect */
		_exit(127);
	fd = log ? open(log, O_WRONLY | O_CREAT | O_APPEND, 0600) :
	    open("/dev/null", O_WRONLY);
	if (fd >= 0) {
		dup2(fd, 1);
		dup2(fd, 2);
	}
	execv(argv[0], (char *const *)argv);
	_exit(127);
}

pid_t
tu_aiosmtpd_start(int port, const char *maildir, const char *const opts[],
    const char *log)
{
	const char	*argv[MAX_OPTS + 16];
	char		 listen[32];
	size_t		 n = 0, i;
	pid_t		 pid, parent = getpid();

	snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
	argv[n++] = PYTHON;
	argv[n++] = "-m";
	argv[n++] = "aiosmtpd";
	argv[n++] = "-n";
	argv[n++] = "-l";
	argv[n++] = listen;
	for (i = 0; opts != NULL && opts[i] != NULL; i++) {
		if (i == MAX_OPTS) {
			errno = E2BIG;
			return -1;
		}
		argv[n++] = opts[i];
	}
	argv[n++] = "-c";
	argv[n++] = "aiosmtpd.handlers.Mailbox";
	argv[n++] = maildir;
	argv[n] = NULL;
	if ((pid = fork()) == -1)
		return -1;
	if (pid == 0)
		exec_server(argv, log, parent);
	switch (wait_listening(pid, port, SMTP_START_MS)) {
	case 0:
		return pid;
	case -1:
		tu_aiosmtpd_stop(pid);
		break;
	}
	errno = ETIMEDOUT;
	return -1;
}

void
tu_aiosmtpd_stop(pid_t pid)
{
	if (pid <= 0)
		return;
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
}

void
tu_diag_quiet(struct diag *d, const char *line)
{
	(void)d;
	if (getenv("SHOW_DIAG") != NULL)
		fprintf(stderr, "diag: %s\n", line);
}

void
tu_diag_buf(struct diag *d, const char *line)
{
	if (buf_printf(d->arg, "%s\n", line) != 0)
		abort();
}

void
tu_mail_config(struct config *cfg, struct form_conf *fc, char *db,
    char *url)
{
	/* One config at a time in these tests: one key path will do. */
	static char	 key[PATH_MAX];
	char		*tpl = getenv("INTAKE_TEMPLATES"), *slash;

	memset(cfg, 0, sizeof(*cfg));
	snprintf(key, sizeof(key), "%s", db);
	slash = strrchr(key, '/');
	snprintf(slash ? slash + 1 : key, sizeof(key) - (size_t)(slash ?
	    slash + 1 - key : 0), "spool.key");
	memset(fc, 0, sizeof(*fc));
	fc->name = "consultation";
	fc->reply_to = "email";
	cfg->templates = tpl ? tpl : "templates";
	cfg->db_path = db;
	cfg->store = db;
	cfg->spool_key = key;
	cfg->transport = MAIL_SMTP;
	cfg->url = url;
	cfg->from = "intake@example.org";
	cfg->to = tu_staff;
	cfg->nto = TU_NSTAFF;
	cfg->give_up_after_s = 86400;
	cfg->forms = fc;
	cfg->nforms = 1;
}

double
tu_now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
