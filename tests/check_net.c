/*
 * net.c: listen addresses, address ranges and matching, with the reasons
 * `intaked -t` prints for what it refuses.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <string.h>

#include <check.h>

#include "net.h"

static void
hostport_ok(const char *spec, int family, const char *addr, unsigned port)
{
	struct sockaddr_storage	 ss;
	char			 text[INET6_ADDRSTRLEN];
	const char		*why = NULL;
	const void		*a;
	unsigned		 p;

	ck_assert_msg(net_parse_hostport(spec, &ss, &why) == 0, "%s: %s",
	    spec, why);
	ck_assert_int_eq(ss.ss_family, family);
	if (family == AF_INET) {
		a = &((struct sockaddr_in *)&ss)->sin_addr;
		p = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	} else {
		a = &((struct sockaddr_in6 *)&ss)->sin6_addr;
		p = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	}
	ck_assert_ptr_nonnull(inet_ntop(family, a, text, sizeof(text)));
	ck_assert_str_eq(text, addr);
	ck_assert_uint_eq(p, port);
}

static void
hostport_bad(const char *spec, const char *reason)
{
	struct sockaddr_storage	 ss;
	const char		*why = NULL;

	ck_assert_msg(net_parse_hostport(spec, &ss, &why) == ERR_INVAL,
	    "%s accepted", spec);
	ck_assert_ptr_nonnull(why);
	ck_assert_str_eq(why, reason);
	/* why is optional. */
	ck_assert_int_eq(net_parse_hostport(spec, &ss, NULL), ERR_INVAL);
}

START_TEST(hostport_good)
{
	hostport_ok("127.0.0.1:8080", AF_INET, "127.0.0.1", 8080);
	hostport_ok("localhost:9000", AF_INET, "127.0.0.1", 9000);
	hostport_ok("0.0.0.0:65535", AF_INET, "0.0.0.0", 65535);
	hostport_ok("192.0.2.1:0080", AF_INET, "192.0.2.1", 80);
	hostport_ok("[::1]:8081", AF_INET6, "::1", 8081);
	hostport_ok("[2001:db8::7]:1", AF_INET6, "2001:db8::7", 1);
}
END_TEST

START_TEST(hostport_refused_with_a_reason)
{
	const char	*port = "has a bad port (1 to 65535)";

	hostport_bad("127.0.0.1", "is not host:port, [address]:port or "
	    "unix:path");
	hostport_bad("127.0.0.1:0", port);
	hostport_bad("127.0.0.1:65536", port);
	hostport_bad("127.0.0.1:http", port);
	hostport_bad("127.0.0.1:+80", port);
	hostport_bad("127.0.0.1: 80", port);
	hostport_bad("127.0.0.1:", port);
	hostport_bad("127.0.0.1:99999999999999999999999", port);
	hostport_bad(":8080", "has a bad host");
	hostport_bad("[]:8080", "has a bad host");
	hostport_bad("::1:80", "needs brackets around an IPv6 address "
	    "([::1]:8080)");
	hostport_bad("[::1]80", "is not [address]:port");
	hostport_bad("[::1", "is not [address]:port");
	hostport_bad("[zz]:80", "is not a valid IPv6 address");
	hostport_bad("[127.0.0.1]:80", "is not a valid IPv6 address");
	hostport_bad("www.example.com:80", "has a host that is not an IPv4 "
	    "address or localhost");
	hostport_bad("127.0.0.256:80", "has a host that is not an IPv4 "
	    "address or localhost");
}
END_TEST

START_TEST(port)
{
	unsigned	p = 7;

	ck_assert_int_eq(net_parse_port("1", &p), 0);
	ck_assert_uint_eq(p, 1);
	ck_assert_int_eq(net_parse_port("65535", &p), 0);
	ck_assert_uint_eq(p, 65535);
	p = 7;
	ck_assert_int_eq(net_parse_port("0", &p), ERR_INVAL);
	ck_assert_int_eq(net_parse_port("65536", &p), ERR_INVAL);
	ck_assert_int_eq(net_parse_port("", &p), ERR_INVAL);
	ck_assert_int_eq(net_parse_port("-1", &p), ERR_INVAL);
	ck_assert_int_eq(net_parse_port("80 ", &p), ERR_INVAL);
	ck_assert_uint_eq(p, 7);	/* left alone on failure */
}
END_TEST

static void
cidr_ok(const char *s, int family, unsigned prefix)
{
	struct cidr	 c;
	const char	*why = NULL;

	ck_assert_msg(net_parse_cidr(s, &c, &why) == 0, "%s: %s", s, why);
	ck_assert_int_eq(c.family, family);
	ck_assert_uint_eq(c.prefix, prefix);
}

static void
cidr_bad(const char *s, const char *reason)
{
	struct cidr	 c;
	const char	*why = NULL;

	ck_assert_msg(net_parse_cidr(s, &c, &why) == ERR_INVAL, "%s accepted",
	    s);
	ck_assert_str_eq(why, reason);
}

START_TEST(cidr_parsing)
{
	const char	*past = "has bits set past its prefix length";
	const char	*bad = "has a bad prefix length";
	const char	*noaddr = "is not an IP address or CIDR range";

	cidr_ok("127.0.0.1", AF_INET, 32);
	cidr_ok("10.0.0.0/8", AF_INET, 8);
	cidr_ok("10.128.0.0/9", AF_INET, 9);
	cidr_ok("0.0.0.0/0", AF_INET, 0);
	cidr_ok("::1", AF_INET6, 128);
	cidr_ok("fc00::/7", AF_INET6, 7);
	cidr_ok("fd00::/8", AF_INET6, 8);
	cidr_ok("fe00::/7", AF_INET6, 7);
	cidr_ok("2001:db8::/032", AF_INET6, 32);
	/* Bits past the prefix, in a whole byte and in a partial one. */
	cidr_bad("10.0.0.1/8", past);
	cidr_bad("10.64.0.0/9", past);
	cidr_bad("ff00::/7", past);
	cidr_bad("fd00::/7", past);
	cidr_bad("2001:db8::1/64", past);
	cidr_bad("1.2.3.4/33", bad);
	cidr_bad("::1/129", bad);
	cidr_bad("10.0.0.0/", bad);
	cidr_bad("10.0.0.0/x", bad);
	cidr_bad("10.0.0.0/-1", bad);
	cidr_bad("proxy.example.com", noaddr);
	cidr_bad("1.2.3", noaddr);
	cidr_bad("", noaddr);
	cidr_bad("/8", noaddr);
}
END_TEST

START_TEST(cidr_matching)
{
	struct cidr	list[4];
	const char	*s[] = { "127.0.0.0/8", "10.0.0.0/9", "fc00::/7",
			    "192.0.2.7" };
	size_t		i;

	for (i = 0; i < 4; i++)
		ck_assert_int_eq(net_parse_cidr(s[i], &list[i], NULL), 0);
	ck_assert(net_cidr_match(list, 4, "127.255.0.1"));
	ck_assert(!net_cidr_match(list, 4, "128.0.0.1"));
	ck_assert(net_cidr_match(list, 4, "10.127.255.255"));
	ck_assert(!net_cidr_match(list, 4, "10.128.0.0"));
	ck_assert(net_cidr_match(list, 4, "192.0.2.7"));
	ck_assert(!net_cidr_match(list, 4, "192.0.2.8"));
	ck_assert(net_cidr_match(list, 4, "fdff::1"));
	ck_assert(net_cidr_match(list, 4, "fc00::1"));
	ck_assert(!net_cidr_match(list, 4, "fe00::1"));
	/* A family matches only its own ranges: a mapped v4 address is v6. */
	ck_assert(!net_cidr_match(list, 4, "::ffff:127.0.0.1"));
	ck_assert(!net_cidr_match(list, 4, "::1"));
	ck_assert(!net_cidr_match(list, 4, "localhost"));
	ck_assert(!net_cidr_match(list, 4, ""));
	ck_assert(!net_cidr_match(list, 0, "127.0.0.1"));
	ck_assert_int_eq(net_parse_cidr("0.0.0.0/0", &list[0], NULL), 0);
	ck_assert(net_cidr_match(list, 1, "203.0.113.9"));
	ck_assert(!net_cidr_match(list, 1, "2001:db8::1"));
}
END_TEST

START_TEST(address_text)
{
	ck_assert(net_addr_valid("192.0.2.1"));
	ck_assert(net_addr_valid("2001:db8::1"));
	ck_assert(net_addr_valid("::ffff:192.0.2.1"));
	ck_assert(!net_addr_valid("192.0.2"));
	ck_assert(!net_addr_valid("192.0.2.1 "));
	ck_assert(!net_addr_valid("[::1]"));
	ck_assert(!net_addr_valid("example.com"));
	ck_assert(!net_addr_valid(""));
}
END_TEST

Suite *
net_suite(void)
{
	Suite	*s = suite_create("net");
	TCase	*tc = tcase_create("net");

	tcase_add_test(tc, hostport_good);
	tcase_add_test(tc, hostport_refused_with_a_reason);
	tcase_add_test(tc, port);
	tcase_add_test(tc, cidr_parsing);
	tcase_add_test(tc, cidr_matching);
	tcase_add_test(tc, address_text);
	suite_add_tcase(s, tc);
	return s;
}
