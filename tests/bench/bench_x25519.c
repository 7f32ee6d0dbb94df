/*
 * The two X25519 operations age_encrypt does per record and recipient,
 * each timed alone: the ephemeral key (crypto_scalarmult_base) and the
 * agreement with the recipient's key (crypto_scalarmult). Their sum is
 * the CPU floor under every durable submission, so bench.py runs this
 * once per round to put the ceiling beside the measured rate.
 *
 * Each operation is timed in short slices that alternate, and the best
 * slice is kept: other jobs on the machine can only make a slice slower.
 *
 * usage: bench_x25519 [SECONDS]   (default 1: the time over all slices)
 */
#include <stdio.h>
#include <stdlib.h>

#include <sodium.h>

#include "testutil.h"

#define SLICES	10

/* Microseconds per operation over one slice of len seconds. */
static double
slice(int agree, const unsigned char *pk, double len)
{
	unsigned char	e[32], out[32];
	double		t0, t;
	long		n = 0;

	randombytes_buf(e, sizeof(e));
	t0 = tu_now();
	do {
		/*
		 * Feeding the output back as the next scalar keeps the
		 * compiler from hoisting the call and varies the input the
		 * way fresh ephemeral keys do.
		 */
		if ((agree ? crypto_scalarmult(out, e, pk) :
		    crypto_scalarmult_base(out, e)) != 0) {
			fprintf(stderr, "x25519: operation failed\n");
			exit(1);
		}
		e[0] ^= out[0];
		n++;
	} while ((t = tu_now() - t0) < len);
	return t / (double)n * 1e6;
}

int
main(int argc, char **argv)
{
	unsigned char	sk[32], pk[32];
	double		seconds = 1, len, base = 1e9, agree = 1e9, t;
	int		i;

	if (argc > 1)
		seconds = strtod(argv[1], NULL);
	if (argc > 2 || !(seconds > 0 && seconds < 600)) {
		fprintf(stderr, "usage: bench_x25519 [SECONDS]\n");
		return 2;
	}
	if (sodium_init() < 0) {
		fprintf(stderr, "x25519: cannot initialise libsodium\n");
		return 1;
	}
	randombytes_buf(sk, sizeof(sk));
	if (crypto_scalarmult_base(pk, sk) != 0)
		return 1;
	len = seconds / (2 * SLICES);
	for (i = 0; i < SLICES; i++) {
		if ((t = slice(0, pk, len)) < base)
			base = t;
		if ((t = slice(1, pk, len)) < agree)
			agree = t;
	}
	printf("x25519: ephemeral key %.1f us, agreement %.1f us\n", base,
	    agree);
	return 0;
}
