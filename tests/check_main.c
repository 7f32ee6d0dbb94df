/* The main of every unit-test binary: tests/check_NAME.c provides NAME_suite(),
   the Makefile passes its name as SUITE_FN. Fork mode isolates each test. */
#include <stdlib.h>

#include <check.h>

Suite	*SUITE_FN(void);

int
main(void)
{
	SRunner	*sr;
	int	 failed;

	sr = srunner_create(SUITE_FN());
	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
