/*
 * How fast age_encrypt seals a typical record (a 2 KiB inquiry to one
 * recipient), next to what one X25519 key agreement costs in the same run:
 * age does one ephemeral keygen plus one agreement per recipient, so the
 * ratio shows how much of a record's cost is that unavoidable step.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "age.h"
#include "buf.h"
#include "testutil.h"

#define RECORD		2048
#define ROUNDS		12	/* alternating rounds of each measurement */
#define ROUND_SECONDS	0.15

/* Microseconds per record over one round; exits on any error. */
static double
round_encrypt(const struct age_recipient *r, struct buf *out)
{
	unsigned char	pt[RECORD];
	double		t0, t;
	long		n = 0;

	memset(pt, 'x', sizeof(pt));
	t0 = tu_now();
	do {
		buf_reset(out);
		if (age_encrypt(r, 1, pt, sizeof(pt), out) != 0) {
			fprintf(stderr, "age: encrypt failed\n");
			exit(1);
		}
		n++;
	} while ((t = tu_now() - t0) < ROUND_SECONDS);
	return t / (double)n * 1e6;
}

/* Microseconds for one ephemeral keygen plus one agreement. */
static double
round_x25519(const struct age_recipient *r)
{
	unsigned char	e[32], share[32], shared[32];
	double		t0, t;
	long		n = 0;

	t0 = tu_now();
	do {
		randombytes_buf(e, sizeof(e));
		if (crypto_scalarmult_base(share, e) != 0 ||
		    crypto_scalarmult(shared, e, r->pk) != 0) {
			fprintf(stderr, "age: x25519 failed\n");
			exit(1);
		}
		n++;
	} while ((t = tu_now() - t0) < ROUND_SECONDS);
	return t / (double)n * 1e6;
}

/*
 * The two measurements alternate in short rounds and each keeps its best
 * round, so load from other processes does not skew one against the other.
 */
int
main(void)
{
	struct age_identity	id;
	struct age_recipient	r;
	struct buf		out;
	double			us = 1e9, x = 1e9, t;
	int			i;

	if (sodium_init() < 0 || age_identity_generate(&id) != 0) {
		fprintf(stderr, "age: cannot initialise libsodium\n");
		return 1;
	}
	age_identity_recipient(&id, &r);
	age_identities_wipe(&id, 1);
	buf_init(&out, 0);
	for (i = 0; i < ROUNDS; i++) {
		if ((t = round_encrypt(&r, &out)) < us)
			us = t;
		if ((t = round_x25519(&r)) < x)
			x = t;
	}
	buf_free(&out);
	printf("age: encrypt 2KiB x1 recipient: %.0f rec/s (%.1f us/rec)\n",
	    1e6 / us, us);
	printf("age: x25519 keygen+agreement: %.1f us\n", x);
	printf("age: ratio: %.2f\n", us / x);
	return 0;
}
