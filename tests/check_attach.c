#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <sodium.h>

#include "age.h"
#include "attach.h"
#include "buf.h"
#include "testutil.h"

static char			dir[64], stagedir[128];
static struct age_identity	id;
static struct age_recipient	rcpt;

static void
setup(void)
{
	ck_assert_int_ge(sodium_init(), 0);
	ck_assert_ptr_nonnull(tu_tmpdir(dir, sizeof(dir), "check_attach"));
	ck_assert_ptr_nonnull(tu_path(stagedir, sizeof(stagedir), dir,
	    "staging"));
	ck_assert_int_eq(age_identity_generate(&id), 0);
	age_identity_recipient(&id, &rcpt);
}

static void
teardown(void)
{
	tu_rmtree(dir);
}

/* Reads the whole staged age file back with pread. */
static void
read_staged(const struct attach *a, struct buf *out)
{
	uint64_t	n = attach_staged_size(a);
	char		b[4096];
	ssize_t		got;
	off_t		off = 0;

	buf_init(out, 0);
	while ((uint64_t)off < n) {
		got = pread(attach_fd(a), b, sizeof(b), off);
		ck_assert_int_gt(got, 0);
		ck_assert_int_eq(buf_append(out, b, (size_t)got), 0);
		off += got;
	}
	ck_assert_uint_eq(out->len, n);
}

/* Plaintext in pieces of odd sizes, through the stage, back with the
   identity: the same bytes and the same digest. */
static void
round_trip(size_t len)
{
	struct attach	*a;
	unsigned char	*pt, want[crypto_hash_sha256_BYTES];
	struct buf	 ct, back;
	size_t		 i, step;

	ck_assert_ptr_nonnull(pt = malloc(len + 1));
	for (i = 0; i < len; i++)
		pt[i] = (unsigned char)(i * 7 + i / 251);
	ck_assert_int_eq(attach_begin(stagedir, &rcpt, 1, &a), 0);
	for (i = 0; i < len; i += step) {
		step = 1 + (i % 7919) * 3;
		if (step > len - i)
			step = len - i;
		ck_assert_int_eq(attach_write(a, pt + i, step), 0);
	}
	ck_assert_int_eq(attach_finish(a), 0);
	ck_assert_uint_eq(attach_size(a), len);
	crypto_hash_sha256(want, pt, len);
	ck_assert_mem_eq(attach_sha256(a), want, sizeof(want));
	read_staged(a, &ct);
	buf_init(&back, 0);
	ck_assert_int_eq(age_decrypt(&id, 1, ct.data, ct.len, &back), 0);
	ck_assert_uint_eq(back.len, len);
	if (len)
		ck_assert_mem_eq(back.data, pt, len);
	/* Only ciphertext was staged. */
	if (len >= 64)
		ck_assert_ptr_null(memmem(ct.data, ct.len, pt, 64));
	buf_free(&ct);
	buf_free(&back);
	attach_free(a);
	free(pt);
}

START_TEST(sizes_around_the_chunk)
{
	static const size_t	sizes[] = { 0, 1, 65535, 65536, 65537,
				    131072, 300001 };
	size_t			i;

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		round_trip(sizes[i]);
}
END_TEST

/* The staging file has no name: the directory stays empty while the
   upload is under way and after it. */
START_TEST(staging_file_has_no_name)
{
	struct attach	*a;

	ck_assert_int_eq(attach_begin(stagedir, &rcpt, 1, &a), 0);
	ck_assert_int_eq(attach_write(a, "report", 6), 0);
	ck_assert_int_eq(tu_count_files(stagedir), 0);
	attach_free(a);
	ck_assert_int_eq(tu_count_files(stagedir), 0);
}
END_TEST

START_TEST(sweep_removes_leftovers_only)
{
	char	p[256];

	ck_assert_int_eq(mkdir(stagedir, 0700), 0);
	ck_assert_ptr_nonnull(tu_path(p, sizeof(p), stagedir, ".stage-abc"));
	ck_assert_int_eq(tu_write_file(p, "x", 1, 0600), 0);
	ck_assert_ptr_nonnull(tu_path(p, sizeof(p), stagedir, "keep"));
	ck_assert_int_eq(tu_write_file(p, "y", 1, 0600), 0);
	ck_assert_int_eq(attach_sweep(stagedir), 1);
	ck_assert_int_eq(access(p, F_OK), 0);
	ck_assert_int_eq(attach_sweep("/nonexistent/x"), 0);
}
END_TEST

Suite *
attach_suite(void)
{
	Suite	*s = suite_create("attach");
	TCase	*tc = tcase_create("attach");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, sizes_around_the_chunk);
	tcase_add_test(tc, staging_file_has_no_name);
	tcase_add_test(tc, sweep_removes_leftovers_only);
	suite_add_tcase(s, tc);
	return s;
}
