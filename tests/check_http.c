/*
 * http.c driven in-process: a real libuv loop, a real Unix socket, a
 * handler that holds the request the way a submission waiting for its
 * COMMIT does. Each test ends by proving the loop closed cleanly.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <uv.h>

#include "config.h"
#include "http.h"

struct fixture {
	uv_loop_t		 loop;
	struct config		 cfg;
	char			 dir[32], path[64], spec[80];
	char			*listen[1];
	struct http_server	*srv;
	struct http_req		*held;
	uv_timer_t		 kick, answer;
	int			 client;
	int			 stopped;
	unsigned		 answer_ms;	/* after the drain starts */
};

static struct fixture F;

static void
on_request(struct http_req *req, void *arg)
{
	(void)arg;
	F.held = req;
}

static void
on_stopped(void *arg)
{
	(void)arg;
	F.stopped = 1;
}

static void
answer(uv_timer_t *t)
{
	ck_assert_int_eq(http_respond(F.held, 201, "application/json", NULL,
	    0, "{}", 2), 0);
	uv_close((uv_handle_t *)t, NULL);
}

/* Once the request is held: SIGTERM's shutdown, and the late answer. */
static void
kick(uv_timer_t *t)
{
	if (F.held == NULL)
		return;
	uv_timer_stop(t);
	uv_close((uv_handle_t *)t, NULL);
	http_server_shutdown(F.srv, on_stopped, NULL);
	uv_timer_start(&F.answer, answer, F.answer_ms, 0);
}

static void
setup(void)
{
	struct sockaddr_un	sun = { .sun_family = AF_UNIX };
	struct http_handler	h = { NULL, on_request, NULL, NULL };
	const char		*req = "GET /x HTTP/1.1\r\nHost: x\r\n\r\n";

	memset(&F, 0, sizeof(F));
	strcpy(F.dir, "/tmp/intaked-http-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(F.dir));
	snprintf(F.path, sizeof(F.path), "%s/s", F.dir);
	snprintf(F.spec, sizeof(F.spec), "unix:%s", F.path);
	F.listen[0] = F.spec;
	F.cfg.listen = F.listen;
	F.cfg.nlisten = 1;
	F.cfg.max_connections = 8;
	F.cfg.header_timeout_ms = F.cfg.body_timeout_ms = 5000;
	F.cfg.idle_timeout_ms = 5000;
	F.cfg.shutdown_timeout_ms = 50;
	F.cfg.max_header_bytes = 4096;
	F.cfg.max_body_bytes = 4096;
	ck_assert_int_eq(uv_loop_init(&F.loop), 0);
	ck_assert_int_eq(http_server_start(&F.loop, &F.cfg, &h, NULL, 0,
	    &F.srv), 0);
	F.client = socket(AF_UNIX, SOCK_STREAM, 0);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", F.path);
	ck_assert_int_eq(connect(F.client, (struct sockaddr *)&sun,
	    sizeof(sun)), 0);
	ck_assert_int_eq(write(F.client, req, strlen(req)),
	    (ssize_t)strlen(req));
	uv_timer_init(&F.loop, &F.kick);
	uv_timer_init(&F.loop, &F.answer);
	uv_timer_start(&F.kick, kick, 1, 1);
}

static void
teardown(void)
{
	close(F.client);
	unlink(F.path);
	rmdir(F.dir);
}

static void
run_to_end(void)
{
	ck_assert_int_eq(uv_run(&F.loop, UV_RUN_DEFAULT), 0);
	ck_assert_int_eq(F.stopped, 1);
	ck_assert_int_eq(uv_loop_close(&F.loop), 0);
}

/*
 * The drain timer closes the held connection and the answer comes in the
 * same loop turn, before the close callbacks ran: the connection must be
 * freed exactly once, after both (this was a use-after-free).
 */
START_TEST(drain_close_and_answer_in_one_turn)
{
	F.answer_ms = 50;	/* due with the 50 ms drain timer */
	run_to_end();
}
END_TEST

/* The answer comes long after the connection was closed by the drain. */
START_TEST(answer_after_drain_closed_the_connection)
{
	F.answer_ms = 300;
	run_to_end();
}
END_TEST

/* The answer comes before the drain timer: the client gets it, with
   Connection: close, and the server stops without waiting for the timer. */
START_TEST(answer_before_drain_timer_reaches_the_client)
{
	char	buf[512];
	ssize_t	n;

	F.answer_ms = 1;
	F.cfg.shutdown_timeout_ms = 5000;
	run_to_end();
	n = read(F.client, buf, sizeof(buf) - 1);
	ck_assert_int_gt(n, 0);
	buf[n] = '\0';
	ck_assert_ptr_nonnull(strstr(buf, "HTTP/1.1 201 Created\r\n"));
	ck_assert_ptr_nonnull(strstr(buf, "Connection: close\r\n"));
}
END_TEST

Suite *
http_suite(void)
{
	Suite	*s = suite_create("http");
	TCase	*tc = tcase_create("drain");

	tcase_set_timeout(tc, 20);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, drain_close_and_answer_in_one_turn);
	tcase_add_test(tc, answer_after_drain_closed_the_connection);
	tcase_add_test(tc, answer_before_drain_timer_reaches_the_client);
	suite_add_tcase(s, tc);
	return s;
}
