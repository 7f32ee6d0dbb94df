#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "buf.h"

START_TEST(append_and_terminate)
{
	struct buf	b;

	buf_init(&b, 0);
	ck_assert_int_eq(buf_append(&b, "abc", 3), 0);
	ck_assert_int_eq(buf_putc(&b, 'd'), 0);
	ck_assert_int_eq(buf_printf(&b, "-%d-", 42), 0);
	ck_assert_int_eq(buf_puts(&b, "x"), 0);
	ck_assert_uint_eq(b.len, 9);
	ck_assert_str_eq(b.data, "abcd-42-x");
	buf_reset(&b);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_str_eq(b.data, "");
	buf_free(&b);
	ck_assert_ptr_null(b.data);
}
END_TEST

START_TEST(cap_is_hard_and_leaves_buffer_unchanged)
{
	struct buf	b;
	char		big[100];

	memset(big, 'a', sizeof(big));
	buf_init(&b, 10);
	ck_assert_int_eq(buf_append(&b, big, 10), 0);
	ck_assert_int_eq(buf_append(&b, big, 1), ERR_TOOBIG);
	ck_assert_int_eq(buf_printf(&b, "%s", "z"), ERR_TOOBIG);
	ck_assert_uint_eq(b.len, 10);
	ck_assert_int_eq(b.data[10], '\0');
	buf_free(&b);
	buf_init(&b, 5);
	ck_assert_int_eq(buf_append(&b, big, 6), ERR_TOOBIG);
	ck_assert_uint_eq(b.len, 0);
	buf_free(&b);
}
END_TEST

START_TEST(grows_across_many_appends)
{
	struct buf	b;
	size_t		i;

	buf_init(&b, 0);
	for (i = 0; i < 100000; i++)
		ck_assert_int_eq(buf_putc(&b, (char)('a' + i % 26)), 0);
	ck_assert_uint_eq(b.len, 100000);
	ck_assert_int_eq(b.data[99999], 'a' + 99999 % 26);
	ck_assert_int_eq(b.data[100000], '\0');
	buf_wipe(&b);
	ck_assert_ptr_null(b.data);
}
END_TEST

/* Reserved storage is exactly what was asked, never less than held, and
   appends that fit in it do not move the data. */
START_TEST(reserve_sizes_the_storage_exactly)
{
	struct buf	 b;
	char		*p;
	int		 i;

	buf_init(&b, 0);
	ck_assert_int_eq(buf_reserve(&b, 100), 0);
	ck_assert_uint_eq(b.cap, 100);
	ck_assert_str_eq(b.data, "");
	p = b.data;
	ck_assert_int_eq(buf_append(&b, "x", 1), 0);
	for (i = 1; i < 99; i++)
		ck_assert_int_eq(buf_putc(&b, 'y'), 0);
	ck_assert_uint_eq(b.len, 99);
	ck_assert_uint_eq(b.cap, 100);
	ck_assert_ptr_eq(b.data, p);
	ck_assert_int_eq(buf_reserve(&b, 10), 0);
	ck_assert_uint_eq(b.cap, 100);
	ck_assert_int_eq(buf_reserve(&b, 150), 0);
	ck_assert_uint_eq(b.cap, 150);
	ck_assert_uint_eq(b.len, 99);
	ck_assert_int_eq(b.data[0], 'x');
	buf_free(&b);
}
END_TEST

START_TEST(steal_transfers_ownership)
{
	struct buf	 b;
	size_t		 len;
	char		*p;

	buf_init(&b, 0);
	p = buf_steal(&b, &len);	/* empty: still a valid string */
	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq(len, 0);
	ck_assert_str_eq(p, "");
	free(p);
	buf_puts(&b, "hello");
	p = buf_steal(&b, &len);
	ck_assert_str_eq(p, "hello");
	ck_assert_uint_eq(len, 5);
	ck_assert_ptr_null(b.data);
	ck_assert_uint_eq(b.len, 0);
	free(p);
}
END_TEST

Suite *
buf_suite(void)
{
	Suite	*s = suite_create("buf");
	TCase	*tc = tcase_create("buf");

	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, append_and_terminate);
	tcase_add_test(tc, cap_is_hard_and_leaves_buffer_unchanged);
	tcase_add_test(tc, grows_across_many_appends);
	tcase_add_test(tc, steal_transfers_ownership);
	tcase_add_test(tc, reserve_sizes_the_storage_exactly);
	suite_add_tcase(s, tc);
	return s;
}
