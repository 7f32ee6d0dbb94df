#include <string.h>

#include <check.h>

#include "clock.h"

#define T	1790000000123LL		/* Mon, 21 Sep 2026 14:13:20.123 UTC */

/* Every format intaked writes, from one breakdown of the time. */
START_TEST(formats_agree)
{
	char	r[CLOCK_RFC3339_LEN], d[CLOCK_DATE_LEN];

	clock_rfc3339(T, r);
	ck_assert_str_eq(r, "2026-09-21T14:13:20.123Z");
	clock_rfc3339(T - 118, r);
	ck_assert_str_eq(r, "2026-09-21T14:13:20.005Z");
	clock_rfc3339_s(T, r);
	ck_assert_str_eq(r, "2026-09-21T14:13:20Z");
	clock_http_date(T, d);
	ck_assert_str_eq(d, "Mon, 21 Sep 2026 14:13:20 GMT");
	clock_mail_date(T, d);
	ck_assert_str_eq(d, "Mon, 21 Sep 2026 14:13:20 +0000");
	clock_mail_date(0, d);
	ck_assert_str_eq(d, "Thu, 01 Jan 1970 00:00:00 +0000");
	/* A leap day, and a weekday across a century. */
	clock_http_date(4107542400000LL, d);	/* 2100-03-01 */
	ck_assert_str_eq(d, "Mon, 01 Mar 2100 00:00:00 GMT");
	clock_http_date(951782400000LL, d);	/* 2000-02-29 */
	ck_assert_str_eq(d, "Tue, 29 Feb 2000 00:00:00 GMT");
}
END_TEST

START_TEST(clamped_to_what_fits)
{
	char	r[CLOCK_RFC3339_LEN];

	clock_rfc3339(-5, r);
	ck_assert_str_eq(r, "1970-01-01T00:00:00.000Z");
	clock_rfc3339(INT64_MAX, r);
	ck_assert_str_eq(r, "9999-12-31T23:59:59.999Z");
}
END_TEST

START_TEST(date_valid)
{
	ck_assert_int_eq(clock_date_valid("2024-02-29", 10), 1);
	ck_assert_int_eq(clock_date_valid("2023-02-29", 10), 0);
	ck_assert_int_eq(clock_date_valid("2100-02-29", 10), 0);
	ck_assert_int_eq(clock_date_valid("2000-02-29", 10), 1);
	ck_assert_int_eq(clock_date_valid("2026-13-01", 10), 0);
	ck_assert_int_eq(clock_date_valid("2026-1-01x", 10), 0);
	ck_assert_int_eq(clock_date_valid("2026-01-01T", 11), 0);
	ck_assert_int_eq(clock_date_valid("2026-01-0", 9), 0);
}
END_TEST

Suite *
clock_suite(void)
{
	Suite	*s = suite_create("clock");
	TCase	*tc = tcase_create("clock");

	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, formats_agree);
	tcase_add_test(tc, clamped_to_what_fits);
	tcase_add_test(tc, date_valid);
	suite_add_tcase(s, tc);
	return s;
}
