#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sd.h"

/* Parses a decimal env value; -1 when absent or malformed. */
static long long
env_num(const char *name)
{
	const char	*v = getenv(name);
	char		*end;
	long long	 n;

	if (v == NULL || *v == '\0')
		return -1;
	errno = 0;
	n = strtoll(v, &end, 10);
	if (errno || *end || n < 0)
		return -1;
	return n;
}

/* $LISTEN_FDNAMES: colon-separated, one per socket; absent or short
   lists leave "unknown". */
static void
fd_names(const char *v, char names[SD_MAX_FDS][SD_NAME_MAX + 1])
{
	size_t	i, len;

	for (i = 0; i < SD_MAX_FDS; i++)
		snprintf(names[i], SD_NAME_MAX + 1, "unknown");
	for (i = 0; v != NULL && i < SD_MAX_FDS; i++) {
		len = strcspn(v, ":");
		if (len > 0 && len <= SD_NAME_MAX)
			snprintf(names[i], SD_NAME_MAX + 1, "%.*s", (int)len, v);
		if (v[len] == '\0')
			break;
		v += len + 1;
	}
}

int
sd_listen_fds_named(char names[SD_MAX_FDS][SD_NAME_MAX + 1])
{
	long long	pid, n;
	int		fd;

	pid = env_num("LISTEN_PID");
	n = env_num("LISTEN_FDS");
	if (names != NULL)
		fd_names(getenv("LISTEN_FDNAMES"), names);
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	if (pid == -1 && n == -1)
		return 0;
	if (pid == -1 || n == -1 || n > SD_MAX_FDS)
		return -1;
	if ((pid_t)pid != getpid())
		return 0;
	for (fd = SD_LISTEN_FDS_START; fd < SD_LISTEN_FDS_START + n; fd++)
		if (fcntl(fd, F_SETFD, FD_CLOEXEC) == -1)
			return -1;
	return (int)n;
}

int
sd_listen_fds(void)
{
	return sd_listen_fds_named(NULL);
}

int
sd_notify(const char *state)
{
	const char		*path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un	 sun;
	socklen_t		 len;
	size_t			 plen;
	int			 fd, rc;

	if (path == NULL || *path == '\0')
		return 0;
	plen = strlen(path);
	if ((path[0] != '/' && path[0] != '@') || plen >= sizeof(sun.sun_path))
		return -1;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, plen);
	if (path[0] == '@')	/* abstract namespace */
		sun.sun_path[0] = '\0';
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen);
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	rc = sendto(fd, state, strlen(state), MSG_NOSIGNAL,
	    (struct sockaddr *)&sun, len) == -1 ? -1 : 1;
	close(fd);
	return rc;
}

uint64_t
sd_watchdog_usec(void)
{
	long long	usec = env_num("WATCHDOG_USEC");
	long long	pid = env_num("WATCHDOG_PID");

	if (usec <= 0)
		return 0;
	if (pid != -1 && (pid_t)pid != getpid())
		return 0;
	return (uint64_t)usec;
}
