/* UUIDv7 ids and RFC 3339 times (daemon/uuid.c). */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <sodium.h>

#include "uuid.h"

static void
setup(void)
{
	ck_assert_int_ge(sodium_init(), 0);
}

/* The 48-bit timestamp of a UUID string. */
static int64_t
id_ms(const char *id)
{
	char	hex[13];

	memcpy(hex, id, 8);
	memcpy(hex + 8, id + 9, 4);
	hex[12] = '\0';
	return strtoll(hex, NULL, 16);
}

START_TEST(test_v7_layout)
{
	char	id[UUID_STRLEN + 1];
	int64_t	base = clock_now_ms() + 100000;
	int	i;

	for (i = 0; i < 1000; i++) {
		uuid_v7(base + i, id);
		ck_assert_uint_eq(strlen(id), UUID_STRLEN);
		ck_assert_int_eq(uuid_valid(id), 1);
		ck_assert_int_eq(id[14], '7');
		ck_assert_ptr_nonnull(strchr("89ab", id[19]));
		ck_assert_int_eq(id_ms(id), base + i);
	}
}
END_TEST

START_TEST(test_v7_monotonic)
{
	char	prev[UUID_STRLEN + 1], id[UUID_STRLEN + 1];
	int64_t	t = clock_now_ms() + 200000;
	int	i;

	uuid_v7(t, prev);
	/* Same millisecond, many times: the sequence (then the borrowed
	   next millisecond) keeps the order. */
	for (i = 0; i < 10000; i++) {
		uuid_v7(t, id);
		ck_assert_msg(strcmp(prev, id) < 0, "%s !< %s", prev, id);
		ck_assert_int_ge(id_ms(id), t);
		memcpy(prev, id, sizeof(id));
	}
	/* The clock stepping back does not break the order either. */
	uuid_v7(t - 60000, id);
	ck_assert_str_gt(id, prev);
	ck_assert_int_eq(uuid_valid(id), 1);
	ck_assert_int_eq(id[14], '7');
}
END_TEST

START_TEST(test_v7_now_order)
{
	char	prev[UUID_STRLEN + 1], id[UUID_STRLEN + 1];
	int	i;

	uuid_v7(clock_now_ms(), prev);
	for (i = 0; i < 10000; i++) {
		uuid_v7(clock_now_ms(), id);
		ck_assert_str_lt(prev, id);
		memcpy(prev, id, sizeof(id));
	}
}
END_TEST

#define NTHREADS	4
#define PER_THREAD	2000

static void *
make_ids(void *arg)
{
	char	*out = arg;
	int	 i;

	for (i = 0; i < PER_THREAD; i++)
		uuid_v7(clock_now_ms(), out + i * (UUID_STRLEN + 1));
	return NULL;
}

static int
cmp_id(const void *a, const void *b)
{
	return strcmp(a, b);
}

START_TEST(test_v7_threads_unique)
{
	pthread_t	 t[NTHREADS];
	char		*ids;
	size_t		 n = NTHREADS * PER_THREAD, i;

	ids = calloc(n, UUID_STRLEN + 1);
	ck_assert_ptr_nonnull(ids);
	for (i = 0; i < NTHREADS; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, make_ids,
		    ids + i * PER_THREAD * (UUID_STRLEN + 1)), 0);
	for (i = 0; i < NTHREADS; i++)
		pthread_join(t[i], NULL);
	qsort(ids, n, UUID_STRLEN + 1, cmp_id);
	for (i = 1; i < n; i++)
		ck_assert_str_lt(ids + (i - 1) * (UUID_STRLEN + 1),
		    ids + i * (UUID_STRLEN + 1));
	free(ids);
}
END_TEST

START_TEST(test_valid)
{
	ck_assert_int_eq(uuid_valid("0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"), 1);
	ck_assert_int_eq(uuid_valid("0190A1B2-C3D4-7E5F-8A9B-0C1D2E3F4A5B"), 0);
	ck_assert_int_eq(uuid_valid("0190a1b2c3d4-7e5f-8a9b-0c1d2e3f4a5b-"), 0);
	ck_assert_int_eq(uuid_valid("0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5"), 0);
	ck_assert_int_eq(uuid_valid("0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b0"), 0);
	ck_assert_int_eq(uuid_valid("0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5g"), 0);
	ck_assert_int_eq(uuid_valid("../../etc/passwd"), 0);
	ck_assert_int_eq(uuid_valid(""), 0);
	ck_assert_int_eq(uuid_valid(NULL), 0);
}
END_TEST

START_TEST(test_rfc3339_format)
{
	char	s[25];

	clock_rfc3339(0, s);
	ck_assert_str_eq(s, "1970-01-01T00:00:00.000Z");
	clock_rfc3339(1700000000123LL, s);
	ck_assert_str_eq(s, "2023-11-14T22:13:20.123Z");
	clock_rfc3339(1709208000000LL, s);
	ck_assert_str_eq(s, "2024-02-29T12:00:00.000Z");
	clock_rfc3339(253402300799999LL, s);
	ck_assert_str_eq(s, "9999-12-31T23:59:59.999Z");
	/* Clamped, never longer than 24 characters. */
	clock_rfc3339(INT64_MAX, s);
	ck_assert_str_eq(s, "9999-12-31T23:59:59.999Z");
	clock_rfc3339(-5, s);
	ck_assert_str_eq(s, "1970-01-01T00:00:00.000Z");
}
END_TEST

START_TEST(test_rfc3339_roundtrip)
{
	char		s[25];
	int64_t		ms, back;
	uint64_t	r;
	int		i;

	for (i = 0; i < 10000; i++) {
		randombytes_buf(&r, sizeof(r));
		ms = (int64_t)(r % 253402300800000ULL);
		clock_rfc3339(ms, s);
		ck_assert_int_eq(clock_rfc3339_parse(s, &back), 0);
		ck_assert_int_eq(back, ms);
	}
}
END_TEST

START_TEST(test_rfc3339_parse)
{
	int64_t	ms;

	ck_assert_int_eq(clock_rfc3339_parse("2026-11-21", &ms), 0);
	ck_assert_int_eq(ms, 1795219200000LL);
	ck_assert_int_eq(clock_rfc3339_parse("2026-11-21T00:00:00Z", &ms), 0);
	ck_assert_int_eq(ms, 1795219200000LL);
	ck_assert_int_eq(clock_rfc3339_parse("2026-11-21t05:30:00+05:30", &ms), 0);
	ck_assert_int_eq(ms, 1795219200000LL);
	ck_assert_int_eq(clock_rfc3339_parse("2026-11-20T23:00:00-01:00", &ms), 0);
	ck_assert_int_eq(ms, 1795219200000LL);
	ck_assert_int_eq(clock_rfc3339_parse("2026-11-21T00:00:00.5z", &ms), 0);
	ck_assert_int_eq(ms, 1795219200500LL);
	ck_assert_int_eq(clock_rfc3339_parse("2026-11-21T00:00:00.123456789Z", &ms),
	    0);
	ck_assert_int_eq(ms, 1795219200123LL);
	ck_assert_int_eq(clock_rfc3339_parse("2024-02-29", &ms), 0);
	ck_assert_int_eq(clock_rfc3339_parse("2000-02-29", &ms), 0);
	ck_assert_int_eq(clock_rfc3339_parse("1969-12-31T23:00:00Z", &ms), 0);
	ck_assert_int_eq(ms, -3600000);
}
END_TEST

START_TEST(test_rfc3339_reject)
{
	static const char *const bad[] = {
		"", "x", "2026", "2026-11", "2026-1-21", "2026-13-01",
		"2026-00-10", "2026-11-00", "2026-11-31", "2023-02-29",
		"1900-02-29", "2024-02-30", "2026-11-21T", "2026-11-21 ",
		"2026-11-21T05:00:00", "2026-11-21T05:00Z",
		"2026-11-21T24:00:00Z", "2026-11-21T05:60:00Z",
		"2026-11-21T05:00:61Z", "2026-11-21T05:00:00.Z",
		"2026-11-21T05:00:00+5:30", "2026-11-21T05:00:00+05:60",
		"2026-11-21T05:00:00+24:00", "2026-11-21T05:00:00Zjunk",
		"2026-11-21junk", " 2026-11-21", "+2026-11-21",
		"2026-11-21T05:00:00+05", "２026-11-21",
	};
	int64_t	ms = 42;
	size_t	i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(clock_rfc3339_parse(bad[i], &ms) == -1,
		    "accepted '%s'", bad[i]);
		ck_assert_int_eq(ms, 42);
	}
	ck_assert_int_eq(clock_rfc3339_parse(NULL, &ms), -1);
}
END_TEST

START_TEST(test_now_ms)
{
	int64_t	a, b;

	a = clock_now_ms();
	b = clock_now_ms();
	/* After 2023 and not going backwards within one test. */
	ck_assert_int_gt(a, 1700000000000LL);
	ck_assert_int_ge(b, a);
}
END_TEST

Suite *
uuid_suite(void)
{
	Suite	*s = suite_create("uuid");
	TCase	*tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_v7_layout);
	tcase_add_test(tc, test_v7_monotonic);
	tcase_add_test(tc, test_v7_now_order);
	tcase_add_test(tc, test_v7_threads_unique);
	tcase_add_test(tc, test_valid);
	tcase_add_test(tc, test_rfc3339_format);
	tcase_add_test(tc, test_rfc3339_roundtrip);
	tcase_add_test(tc, test_rfc3339_parse);
	tcase_add_test(tc, test_rfc3339_reject);
	tcase_add_test(tc, test_now_ms);
	suite_add_tcase(s, tc);
	return s;
}
