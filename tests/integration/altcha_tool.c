/*
 * A driver of daemon/altcha.c for the integration tests, so that another
 * implementation (altcha-lib, the widget) can be put against ours over
 * pipes. Built only for the tests (make check-integration).
 *
 *   altcha_tool KEY_PATH
 *
 * loads (or creates) the key file KEY_PATH, then answers one
 * line per command line read from stdin, with one struct altcha for all,
 * so that a solution verified twice is seen as replayed:
 *   challenge MAXNUMBER TTL [NOW]  ->  the challenge's JSON
 *   verify PAYLOAD [NOW]           ->  CODE TEXT (0 success, err.h codes)
 *   spent                          ->  solutions remembered
 * NOW defaults to the clock. Exits 0 at end of input, 1 when the key
 * cannot be loaded, 2 on a command it does not know.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "altcha.h"

#define REPLAY_MAX	1024

static int64_t
now_or(const char *s)
{
	return s ? strtoll(s, NULL, 10) : (int64_t)time(NULL);
}

static int
run(struct altcha *a, char *line)
{
	char		*cmd = strtok(line, " \n"), *arg1, *arg2, *arg3;
	struct buf	 b;
	int		 r;

	arg1 = strtok(NULL, " \n");
	arg2 = strtok(NULL, " \n");
	arg3 = strtok(NULL, " \n");
	if (cmd && strcmp(cmd, "challenge") == 0 && arg2) {
		buf_init(&b, 0);
		r = altcha_challenge(a, strtoul(arg1, NULL, 10), now_or(arg3),
		    (unsigned)strtoul(arg2, NULL, 10), &b);
		printf("%s\n", r == 0 ? b.data : err_str(r));
		buf_free(&b);
	} else if (cmd && strcmp(cmd, "verify") == 0) {
		r = altcha_verify(a, arg1, arg1 ? strlen(arg1) : 0,
		    now_or(arg2));
		printf("%d %s\n", r, err_str(r));
	} else if (cmd && strcmp(cmd, "spent") == 0)
		printf("%zu\n", altcha_spent(a));
	else
		return -1;
	fflush(stdout);
	return 0;
}

int
main(int argc, char **argv)
{
	struct diag	 d = { 0, NULL, NULL };
	unsigned char	 key[ALTCHA_KEY_LEN];
	struct altcha	*a;
	char		*line = NULL;
	size_t		 cap = 0;
	int		 status = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: altcha_tool KEY_PATH\n");
		return 2;
	}
	if (altcha_key_load(argv[1], 1, key, &d) != 0 ||
	    altcha_new(key, REPLAY_MAX, &a) != 0)
		return 1;
	sodium_memzero(key, sizeof(key));
	while (status == 0 && getline(&line, &cap, stdin) != -1)
		if (run(a, line) != 0) {
			fprintf(stderr, "altcha_tool: unknown command\n");
			status = 2;
		}
	free(line);
	altcha_free(a);
	return status;
}
