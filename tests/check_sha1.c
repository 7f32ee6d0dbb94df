/* SHA-1 against FIPS 180 examples, and split updates against whole ones. */
#include <stdio.h>
#include <string.h>

#include <check.h>

#include "sha1.h"

static void
hex(const unsigned char *d, char *out)
{
	size_t	i;

	for (i = 0; i < SHA1_LEN; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static void
digest(const char *msg, size_t len, char *out)
{
	struct sha1	s;
	unsigned char	d[SHA1_LEN];

	sha1_init(&s);
	sha1_update(&s, msg, len);
	sha1_final(&s, d);
	hex(d, out);
}

START_TEST(known_vectors)
{
	char	out[2 * SHA1_LEN + 1];

	digest("", 0, out);
	ck_assert_str_eq(out, "da39a3ee5e6b4b0d3255bfef95601890afd80709");
	digest("abc", 3, out);
	ck_assert_str_eq(out, "a9993e364706816aba3e25717850c26c9cd0d89d");
	digest("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56,
	    out);
	ck_assert_str_eq(out, "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
}
END_TEST

/* A million 'a's, fed in uneven pieces, as a file arrives. */
START_TEST(million_a_in_pieces)
{
	static char	a[1000];
	struct sha1	s;
	unsigned char	d[SHA1_LEN];
	char		out[2 * SHA1_LEN + 1];
	size_t		fed = 0, n = 1;

	memset(a, 'a', sizeof(a));
	sha1_init(&s);
	while (fed < 1000000) {
		n = (n * 7 + 3) % sizeof(a) + 1;
		if (n > 1000000 - fed)
			n = 1000000 - fed;
		sha1_update(&s, a, n);
		fed += n;
	}
	sha1_final(&s, d);
	hex(d, out);
	ck_assert_str_eq(out, "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
}
END_TEST

Suite *
sha1_suite(void)
{
	Suite	*s = suite_create("sha1");
	TCase	*tc = tcase_create("sha1");

	tcase_add_test(tc, known_vectors);
	tcase_add_test(tc, million_a_in_pieces);
	suite_add_tcase(s, tc);
	return s;
}
