#include <string.h>

#include <check.h>

#include "addr.h"

static int
ok(const char *s, int flags)
{
	return addr_valid_str(s, flags);
}

START_TEST(the_one_rule)
{
	ck_assert_int_eq(ok("a@example.com", 0), 1);
	ck_assert_int_eq(ok("first.last+tag@sub.example.org", 0), 1);
	ck_assert_int_eq(ok("o'brien!#$%&*/=?^_`{|}~-@example.com", 0), 1);
	ck_assert_int_eq(ok("x@localhost", 0), 1);
	/* What could bend a header or an SMTP command. */
	ck_assert_int_eq(ok("a\r\n@example.com", 0), 0);
	ck_assert_int_eq(ok("a@example.com\n", 0), 0);
	ck_assert_int_eq(ok("a@example.com>", 0), 0);
	ck_assert_int_eq(ok("\"q\"@example.com", 0), 0);
	ck_assert_int_eq(ok("a b@example.com", 0), 0);
	ck_assert_int_eq(ok("a@[127.0.0.1]", 0), 0);
	ck_assert_int_eq(ok("a@b@example.com", 0), 0);
	/* Dots and labels. */
	ck_assert_int_eq(ok(".a@example.com", 0), 0);
	ck_assert_int_eq(ok("a.@example.com", 0), 0);
	ck_assert_int_eq(ok("a..b@example.com", 0), 0);
	ck_assert_int_eq(ok("a@exa_mple.com", 0), 0);
	ck_assert_int_eq(ok("a@example-.com", 0), 0);
	ck_assert_int_eq(ok("a@-example.com", 0), 0);
	ck_assert_int_eq(ok("a@example..com", 0), 0);
	ck_assert_int_eq(ok("@example.com", 0), 0);
	ck_assert_int_eq(ok("a@", 0), 0);
	ck_assert_int_eq(ok("", 0), 0);
	ck_assert_int_eq(ok(NULL, 0), 0);
	/* Non-ASCII is refused rather than half-supported. */
	ck_assert_int_eq(ok("\xc3\xbc@example.com", 0), 0);
}
END_TEST

START_TEST(lengths)
{
	char	s[300];

	memset(s, 'a', 64);
	strcpy(s + 64, "@example.com");
	ck_assert_int_eq(ok(s, 0), 1);
	memset(s, 'a', 65);
	strcpy(s + 65, "@example.com");
	ck_assert_int_eq(ok(s, 0), 0);
	/* 254 bytes in all at most. */
	memset(s, 'b', sizeof(s));
	memcpy(s, "a@", 2);
	s[2 + 63] = '.';
	s[2 + 63 + 1 + 63] = '.';
	s[2 + 63 + 1 + 63 + 1 + 63] = '.';
	s[254] = '\0';
	ck_assert_int_eq(ok(s, 0), 1);
	s[254] = 'b';
	s[255] = '\0';
	ck_assert_int_eq(ok(s, 0), 0);
	/* A NUL inside the counted bytes is not an address. */
	ck_assert_int_eq(addr_valid("a@ex\0ample.com", 14, 0), 0);
}
END_TEST

/* A patient's address must have a public-looking domain; staff may use
   a local one. */
START_TEST(public_names)
{
	ck_assert_int_eq(ok("x@localhost", ADDR_PUBLIC), 0);
	ck_assert_int_eq(ok("x@example.com", ADDR_PUBLIC), 1);
	ck_assert_int_eq(ok("x@10.0.0.1", ADDR_PUBLIC), 0);
	ck_assert_int_eq(ok("x@10.0.0.1", 0), 1);
	ck_assert_int_eq(addr_host_valid("www.example.com", 15, ADDR_PUBLIC),
	    1);
	ck_assert_int_eq(addr_host_valid("localhost", 9, ADDR_PUBLIC), 0);
	ck_assert_int_eq(addr_host_valid("exa_mple.com", 12, 0), 0);
}
END_TEST

Suite *
addr_suite(void)
{
	Suite	*s = suite_create("addr");
	TCase	*tc = tcase_create("addr");

	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, the_one_rule);
	tcase_add_test(tc, lengths);
	tcase_add_test(tc, public_names);
	suite_add_tcase(s, tc);
	return s;
}
