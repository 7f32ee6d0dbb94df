#include <stdio.h>

#include <check.h>
#include <sodium.h>

#include "ratelimit.h"

START_TEST(burst_then_refill)
{
	struct ratelimit	*rl;
	const struct rate	 r = { 6, 60000, 2 };
	int64_t			 t = 1000000;

	ck_assert_int_ge(sodium_init(), 0);
	ck_assert_ptr_nonnull(rl = ratelimit_new());
	/* 6 a minute = one per 10 s; burst 2. */
	ck_assert_uint_eq(ratelimit_take(rl, "192.0.2.1", t, &r), 0);
	ck_assert_uint_eq(ratelimit_take(rl, "192.0.2.1", t, &r), 0);
	ck_assert_uint_eq(ratelimit_take(rl, "192.0.2.1", t, &r), 10);
	/* Another client is unaffected. */
	ck_assert_uint_eq(ratelimit_take(rl, "192.0.2.2", t, &r), 0);
	/* 5 s later: half a token, still refused, 5 s to wait. */
	ck_assert_uint_eq(ratelimit_take(rl, "192.0.2.1", t + 5000, &r), 5);
	/* 10 s after that: one token. */
	ck_assert_uint_eq(ratelimit_take(rl, "192.0.2.1", t + 15000, &r), 0);
	ck_assert_uint_ne(ratelimit_take(rl, "192.0.2.1", t + 15000, &r), 0);
	/* Refill never exceeds the burst. */
	ck_assert_uint_eq(ratelimit_take(rl, "192.0.2.1", t + 3600000, &r),
	    0);
	ck_assert_uint_eq(ratelimit_take(rl, "192.0.2.1", t + 3600000, &r),
	    0);
	ck_assert_uint_ne(ratelimit_take(rl, "192.0.2.1", t + 3600000, &r),
	    0);
	ratelimit_free(rl);
}
END_TEST

/* A refund gives back part of a token, never past the burst. */
START_TEST(refund_part_of_a_token)
{
	struct ratelimit	*rl;
	const struct rate	 r = { 6, 60000, 2 };
	int64_t			 t = 1000000;
	int			 i;

	ck_assert_int_ge(sodium_init(), 0);
	ck_assert_ptr_nonnull(rl = ratelimit_new());
	/* Takes refunded by three quarters cost a quarter each: a burst of
	   two allows five, since each needs a whole token at hand. */
	for (i = 0; i < 5; i++) {
		ck_assert_uint_eq(ratelimit_take(rl, "192.0.2.1", t, &r), 0);
		ratelimit_refund(rl, "192.0.2.1", t, &r, 0.75);
	}
	ck_assert_uint_ne(ratelimit_take(rl, "192.0.2.1", t, &r), 0);
	/* Refunds stop at the burst. */
	ratelimit_refund(rl, "192.0.2.3", t, &r, 5.0);
	ck_assert_uint_eq(ratelimit_take(rl, "192.0.2.3", t, &r), 0);
	ck_assert_uint_eq(ratelimit_take(rl, "192.0.2.3", t, &r), 0);
	ck_assert_uint_ne(ratelimit_take(rl, "192.0.2.3", t, &r), 0);
	ratelimit_free(rl);
}
END_TEST

START_TEST(zero_rate_allows_everything)
{
	struct ratelimit	*rl = ratelimit_new();
	const struct rate	 off = { 0, 60000, 1 };
	int			 i;

	for (i = 0; i < 1000; i++)
		ck_assert_uint_eq(ratelimit_take(rl, "192.0.2.1", 1, &off), 0);
	ratelimit_free(rl);
}
END_TEST

START_TEST(flood_of_addresses_is_bounded_and_never_blocks_new_ones)
{
	struct ratelimit	*rl = ratelimit_new();
	const struct rate	 r = { 1, 60000, 1 };
	char			 key[48];
	int			 i;

	/* Ten times the table size: memory is fixed, and every new address
	   gets its full burst (eviction only ever forgives). */
	for (i = 0; i < RATELIMIT_SLOTS * 10; i++) {
		snprintf(key, sizeof(key), "198.51.%d.%d", i / 256, i % 256);
		ck_assert_uint_eq(ratelimit_take(rl, key, 1000 + i, &r), 0);
	}
	ratelimit_free(rl);
}
END_TEST

/* An hourly rule (the acknowledgement limits) and a look that takes
   nothing. */
START_TEST(hourly_rule_and_wait_takes_nothing)
{
	struct ratelimit	*rl = ratelimit_new();
	const struct rate	 one_an_hour = { 1, 3600000, 1 };
	int64_t			 t = 5000000;

	ck_assert_uint_eq(ratelimit_wait(rl, "a@example.com", t,
	    &one_an_hour), 0);
	ck_assert_uint_eq(ratelimit_wait(rl, "a@example.com", t,
	    &one_an_hour), 0);
	ck_assert_uint_eq(ratelimit_take(rl, "a@example.com", t,
	    &one_an_hour), 0);
	ck_assert_uint_eq(ratelimit_wait(rl, "a@example.com", t + 1000,
	    &one_an_hour), 3599);
	ck_assert_uint_eq(ratelimit_take(rl, "a@example.com", t + 1000,
	    &one_an_hour), 3599);
	ck_assert_uint_eq(ratelimit_take(rl, "a@example.com", t + 3600000,
	    &one_an_hour), 0);
	ratelimit_free(rl);
}
END_TEST

Suite *
ratelimit_suite(void)
{
	Suite	*s = suite_create("ratelimit");
	TCase	*tc = tcase_create("ratelimit");

	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, burst_then_refill);
	tcase_add_test(tc, refund_part_of_a_token);
	tcase_add_test(tc, zero_rate_allows_everything);
	tcase_add_test(tc, hourly_rule_and_wait_takes_nothing);
	tcase_add_test(tc, flood_of_addresses_is_bounded_and_never_blocks_new_ones);
	suite_add_tcase(s, tc);
	return s;
}
