/*
 * ipcount.c: exact per-address connection counts for the per-IP cap.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <stdio.h>
#include <string.h>

#include <check.h>

#include "ipcount.h"

static struct ipkey
key(const char *ip)
{
	struct ipkey	k;

	ck_assert_int_eq(ipcount_key_text(ip, &k), 0);
	return k;
}

START_TEST(take_up_to_the_cap_and_drop)
{
	struct ipcount	*t;
	struct ipkey	 a = key("192.0.2.1"), b = key("2001:db8::1");
	unsigned	 i;

	ck_assert_int_eq(ipcount_new(&t), 0);
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(ipcount_take(t, &a, 3), 0);
	ck_assert_int_eq(ipcount_take(t, &a, 3), ERR_BUSY);
	ck_assert_uint_eq(ipcount_get(t, &a), 3);
	/* Another address has its own count. */
	ck_assert_int_eq(ipcount_take(t, &b, 3), 0);
	ck_assert_uint_eq(ipcount_get(t, &b), 1);
	ck_assert_uint_eq(ipcount_addresses(t), 2);
	ipcount_drop(t, &a);
	ck_assert_int_eq(ipcount_take(t, &a, 3), 0);
	/* No cap: max 0. */
	ck_assert_int_eq(ipcount_take(t, &a, 0), 0);
	ck_assert_uint_eq(ipcount_get(t, &a), 4);
	for (i = 0; i < 4; i++)
		ipcount_drop(t, &a);
	ipcount_drop(t, &b);
	/* Forgotten at zero: the table holds only open connections. */
	ck_assert_uint_eq(ipcount_get(t, &a), 0);
	ck_assert_uint_eq(ipcount_addresses(t), 0);
	ipcount_free(t);
}
END_TEST

/* A client on a dual-stack socket is the same client as over IPv4. */
START_TEST(mapped_ipv4_is_ipv4)
{
	struct ipkey	a = key("198.51.100.7"), m = key("::ffff:198.51.100.7");
	struct ipkey	other = key("::198.51.100.7");

	ck_assert_int_eq(memcmp(&a, &m, sizeof(a)), 0);
	ck_assert_int_ne(memcmp(&a, &other, sizeof(a)), 0);
	ck_assert_int_eq(ipcount_key(AF_UNIX, "x", &a), ERR_INVAL);
	ck_assert_int_eq(ipcount_key_text("not an address", &a), ERR_INVAL);
}
END_TEST

/* Many addresses: the buckets grow, every count stays exact. */
START_TEST(many_addresses)
{
	struct ipcount	*t;
	struct ipkey	 k;
	char		 ip[32];
	unsigned	 i;

	ck_assert_int_eq(ipcount_new(&t), 0);
	for (i = 0; i < 5000; i++) {
		snprintf(ip, sizeof(ip), "10.%u.%u.1", i / 256, i % 256);
		k = key(ip);
		ck_assert_int_eq(ipcount_take(t, &k, 2), 0);
		ck_assert_int_eq(ipcount_take(t, &k, 2), 0);
	}
	ck_assert_uint_eq(ipcount_addresses(t), 5000);
	for (i = 0; i < 5000; i++) {
		snprintf(ip, sizeof(ip), "10.%u.%u.1", i / 256, i % 256);
		k = key(ip);
		ck_assert_int_eq(ipcount_take(t, &k, 2), ERR_BUSY);
		ck_assert_uint_eq(ipcount_get(t, &k), 2);
		ipcount_drop(t, &k);
		ipcount_drop(t, &k);
	}
	ck_assert_uint_eq(ipcount_addresses(t), 0);
	ipcount_free(t);
}
END_TEST

Suite *
ipcount_suite(void)
{
	Suite	*s = suite_create("ipcount");
	TCase	*tc = tcase_create("ipcount");

	tcase_add_test(tc, take_up_to_the_cap_and_drop);
	tcase_add_test(tc, mapped_ipv4_is_ipv4);
	tcase_add_test(tc, many_addresses);
	suite_add_tcase(s, tc);
	return s;
}
