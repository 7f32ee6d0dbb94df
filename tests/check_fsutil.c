/* fs_dirname: the directory of the database, its keys and staging. */
#include <check.h>

#include "fsutil.h"

START_TEST(dirname_of_paths)
{
	char	out[64];

	ck_assert_int_eq(fs_dirname("/var/lib/intaked/intake.db", out,
	    sizeof(out)), 0);
	ck_assert_str_eq(out, "/var/lib/intaked");
	ck_assert_int_eq(fs_dirname("/intake.db", out, sizeof(out)), 0);
	ck_assert_str_eq(out, "/");
	ck_assert_int_eq(fs_dirname("intake.db", out, sizeof(out)), 0);
	ck_assert_str_eq(out, ".");
	ck_assert_int_eq(fs_dirname("var/intake.db", out, sizeof(out)), 0);
	ck_assert_str_eq(out, "var");
}
END_TEST

START_TEST(dirname_that_does_not_fit)
{
	char	out[8];

	ck_assert_int_eq(fs_dirname("/var/lib/intaked/intake.db", out,
	    sizeof(out)), -1);
	ck_assert_int_eq(fs_dirname("/1234567/x", out, sizeof(out)), -1);
	ck_assert_int_eq(fs_dirname("/123456/x", out, sizeof(out)), 0);
	ck_assert_str_eq(out, "/123456");
}
END_TEST

Suite *
fsutil_suite(void)
{
	Suite	*s = suite_create("fsutil");
	TCase	*tc = tcase_create("dirname");

	tcase_add_test(tc, dirname_of_paths);
	tcase_add_test(tc, dirname_that_does_not_fit);
	suite_add_tcase(s, tc);
	return s;
}
