#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "uuid.h"

#define SEQ_MAX		0xfffu

/*
 * The one piece of process state in this module: the last timestamp and
 * the 12-bit sequence in rand_a. It makes ids monotonic within the process
 * even when several are made in the same millisecond, on any thread, or
 * when the clock steps backwards (RFC 9562, section 6.2, method 1).
 */
static pthread_mutex_t	seq_lock = PTHREAD_MUTEX_INITIALIZER;
static int64_t		seq_ms = -1;
static unsigned		seq;

/* A random start for a new millisecond's sequence. Only 11 bits, so at
   least 2048 more ids fit in the same millisecond before it overflows. */
static unsigned
seq_seed(void)
{
	return randombytes_uniform(SEQ_MAX / 2 + 1);
}

/* Picks the (timestamp, sequence) pair for the next id. */
static void
next_stamp(int64_t ms, int64_t *out_ms, unsigned *out_seq)
{
	pthread_mutex_lock(&seq_lock);
	if (ms > seq_ms) {
		seq_ms = ms;
		seq = seq_seed();
	} else if (++seq > SEQ_MAX) {
		/* Out of sequence numbers: borrow the next millisecond. */
		seq_ms++;
		seq = seq_seed();
	}
	*out_ms = seq_ms;
	*out_seq = seq;
	pthread_mutex_unlock(&seq_lock);
}

/*
 * Writes a UUIDv7 for ms into out (UUID_STRLEN + 1 bytes): 48-bit big-endian
 * milliseconds, version 7, a 12-bit monotonic sequence in rand_a, variant
 * 0b10, and 62 random bits. libsodium must have been initialised.
 */
void
uuid_v7(int64_t ms, char *out)
{
	static const char	hex[] = "0123456789abcdef";
	unsigned char		b[16];
	int64_t			t;
	unsigned		s;
	size_t			i, o;

	if (ms < 0)
		ms = 0;
	next_stamp(ms & 0xffffffffffffLL, &t, &s);
	for (i = 0; i < 6; i++)
		b[i] = (unsigned char)(t >> (40 - 8 * i));
	b[6] = (unsigned char)(0x70 | ((s >> 8) & 0x0f));
	b[7] = (unsigned char)(s & 0xff);
	randombytes_buf(b + 8, 8);
	b[8] = (unsigned char)(0x80 | (b[8] & 0x3f));
	for (i = 0, o = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = hex[b[i] >> 4];
		out[o++] = hex[b[i] & 0x0f];
	}
	out[o] = '\0';
}

int
uuid_valid(const char *s)
{
	size_t	i;

	if (s == NULL || strlen(s) != UUID_STRLEN)
		return 0;
	for (i = 0; i < UUID_STRLEN; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return 0;
		} else if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	}
	return 1;
}
