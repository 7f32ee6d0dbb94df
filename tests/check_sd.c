#include <sys/socket.h>
#include <sys/un.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "sd.h"
#include "testutil.h"

START_TEST(notify_without_socket_is_a_no_op)
{
	unsetenv("NOTIFY_SOCKET");
	ck_assert_int_eq(sd_notify("READY=1"), 0);
	setenv("NOTIFY_SOCKET", "relative/path", 1);
	ck_assert_int_eq(sd_notify("READY=1"), -1);
}
END_TEST

START_TEST(notify_reaches_a_real_socket)
{
	struct sockaddr_un	sun = { .sun_family = AF_UNIX };
	char			dir[64], msg[64];
	int			fd;
	ssize_t			n;

	ck_assert_ptr_nonnull(tu_tmpdir(dir, sizeof(dir), "check_sd"));
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/notify", dir);
	fd = socket(AF_UNIX, SOCK_DGRAM, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	setenv("NOTIFY_SOCKET", sun.sun_path, 1);
	ck_assert_int_eq(sd_notify("READY=1"), 1);
	n = recv(fd, msg, sizeof(msg) - 1, 0);
	ck_assert_int_eq(n, 7);
	msg[n] = '\0';
	ck_assert_str_eq(msg, "READY=1");
	close(fd);
	tu_rmtree(dir);
}
END_TEST

START_TEST(listen_fds_checks_pid_and_count)
{
	char	pid[32];
	int	saved, sock, moved, n;

	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	ck_assert_int_eq(sd_listen_fds(), 0);
	setenv("LISTEN_PID", "1", 1);	/* someone else's */
	setenv("LISTEN_FDS", "1", 1);
	ck_assert_int_eq(sd_listen_fds(), 0);
	ck_assert_ptr_null(getenv("LISTEN_FDS"));	/* unset for children */
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	setenv("LISTEN_PID", pid, 1);
	setenv("LISTEN_FDS", "x", 1);
	ck_assert_int_eq(sd_listen_fds(), -1);
	/* A real socket at fd 3, as systemd would pass it; Check's own pipe
	   may live there, so it is put back afterwards. */
	setenv("LISTEN_PID", pid, 1);
	setenv("LISTEN_FDS", "1", 1);
	saved = dup(3);		/* no assertion until fd 3 is restored */
	sock = socket(AF_INET, SOCK_STREAM, 0);
	moved = dup2(sock, 3);
	n = sd_listen_fds();
	if (saved != -1)
		dup2(saved, 3);
	ck_assert_int_eq(moved, 3);
	ck_assert_int_eq(n, 1);
}
END_TEST

/* FileDescriptorName values, one per socket; gaps and a short list are
   "unknown", as systemd has it. */
START_TEST(listen_fd_names)
{
	char	names[SD_MAX_FDS][SD_NAME_MAX + 1];

	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	setenv("LISTEN_FDNAMES", "public:admin", 1);
	ck_assert_int_eq(sd_listen_fds_named(names), 0);
	ck_assert_str_eq(names[0], "public");
	ck_assert_str_eq(names[1], "admin");
	ck_assert_str_eq(names[2], "unknown");
	ck_assert_ptr_null(getenv("LISTEN_FDNAMES"));
	setenv("LISTEN_FDNAMES", ":admin:", 1);
	sd_listen_fds_named(names);
	ck_assert_str_eq(names[0], "unknown");
	ck_assert_str_eq(names[1], "admin");
	ck_assert_str_eq(names[2], "unknown");
	sd_listen_fds_named(names);	/* unset: all unknown */
	ck_assert_str_eq(names[1], "unknown");
}
END_TEST

START_TEST(watchdog_interval)
{
	char	pid[32];

	unsetenv("WATCHDOG_USEC");
	ck_assert_uint_eq(sd_watchdog_usec(), 0);
	setenv("WATCHDOG_USEC", "30000000", 1);
	unsetenv("WATCHDOG_PID");
	ck_assert_uint_eq(sd_watchdog_usec(), 30000000);
	setenv("WATCHDOG_PID", "1", 1);
	ck_assert_uint_eq(sd_watchdog_usec(), 0);
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	setenv("WATCHDOG_PID", pid, 1);
	ck_assert_uint_eq(sd_watchdog_usec(), 30000000);
}
END_TEST

Suite *
sd_suite(void)
{
	Suite	*s = suite_create("sd");
	TCase	*tc = tcase_create("sd");

	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, notify_without_socket_is_a_no_op);
	tcase_add_test(tc, notify_reaches_a_real_socket);
	tcase_add_test(tc, listen_fds_checks_pid_and_count);
	tcase_add_test(tc, listen_fd_names);
	tcase_add_test(tc, watchdog_interval);
	suite_add_tcase(s, tc);
	return s;
}
