/*
 * Replays inputs through a libFuzzer target without libFuzzer, so that
 * make check (and check-asan, with the sanitizers) runs every committed
 * corpus on every build: link it with one tests/fuzz/fuzz_NAME.c.
 *
 *   replay DIR|FILE ...
 *
 * Runs LLVMFuzzerTestOneInput on a few built-in inputs (empty, one byte,
 * line ends, a long run), then on every regular file of each directory,
 * in name order so that a failure is reproducible, and on each file given.
 * A target reports a broken invariant by aborting, so reaching the end
 * means every input passed. Exits 0, or 1 if an input cannot be read.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static size_t	ninputs;

static void
replay(const void *p, size_t n)
{
	LLVMFuzzerTestOneInput(p, n);
	ninputs++;
}

static void
builtins(void)
{
	static uint8_t	run[4096];

	replay("", 0);
	replay("\0", 1);
	replay("\r\n\r\n", 4);
	replay("\n\n", 2);
	memset(run, 'A', sizeof(run));
	replay(run, sizeof(run));
}

/* Returns 0, or -1 if path cannot be read. */
static int
replay_file(const char *path)
{
	uint8_t	*p, *exact;
	size_t	 n;

	if ((p = tu_read_file(path, &n)) == NULL)
		return -1;
	/* Without tu_read_file's NUL past the end, so ASan sees overreads. */
	if ((exact = malloc(n ? n : 1)) == NULL) {
		free(p);
		return -1;
	}
	memcpy(exact, p, n);
	free(p);
	replay(exact, n);
	free(exact);
	return 0;
}

static int
by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int
replay_dir(const char *dir)
{
	struct dirent	**ents;
	struct stat	  st;
	char		  path[4096];
	int		  n, i, r = 0;

	if ((n = scandir(dir, &ents, NULL, by_name)) < 0)
		return -1;
	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, ents[i]->d_name);
		if (ents[i]->d_name[0] != '.' && stat(path, &st) == 0 &&
		    S_ISREG(st.st_mode) && replay_file(path) != 0) {
			fprintf(stderr, "replay: cannot read %s\n", path);
			r = -1;
		}
		free(ents[i]);
	}
	free(ents);
	return r;
}

int
main(int argc, char **argv)
{
	struct stat	st;
	int		i, status = 0;

	builtins();
	for (i = 1; i < argc; i++) {
		if (stat(argv[i], &st) != 0 || (S_ISDIR(st.st_mode) ?
		    replay_dir(argv[i]) : replay_file(argv[i])) != 0) {
			fprintf(stderr, "replay: cannot read %s\n", argv[i]);
			status = 1;
		}
	}
	printf("replay: %s: %zu inputs passed\n", argv[0], ninputs);
	return status;
}
