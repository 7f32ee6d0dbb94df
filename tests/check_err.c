#include <string.h>

#include <check.h>

#include "err.h"

/* Every code has its own words: a log line must tell the kinds apart. */
START_TEST(each_code_has_distinct_text)
{
	int	a, b;

	ck_assert_str_eq(err_str(0), "success");
	for (a = ERR_MIN; a < 0; a++) {
		ck_assert_str_ne(err_str(a), "unknown error");
		for (b = ERR_MIN; b < a; b++)
			ck_assert_str_ne(err_str(a), err_str(b));
	}
}
END_TEST

START_TEST(out_of_range_is_unknown)
{
	ck_assert_str_eq(err_str(1), "unknown error");
	ck_assert_str_eq(err_str(ERR_MIN - 1), "unknown error");
	ck_assert_str_eq(err_str(-12345), "unknown error");
}
END_TEST

Suite *
err_suite(void)
{
	Suite	*s = suite_create("err");
	TCase	*tc = tcase_create("err");

	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, each_code_has_distinct_text);
	tcase_add_test(tc, out_of_range_is_unknown);
	suite_add_tcase(s, tc);
	return s;
}
