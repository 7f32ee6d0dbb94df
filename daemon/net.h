#ifndef INTAKE_NET_H
#define INTAKE_NET_H

#include "err.h"

#include <sys/socket.h>

#include <stdbool.h>
#include <stddef.h>

/*
 * Address text: listen addresses ("host:port", "[v6]:port"), address
 * ranges ("ADDR[/PREFIX]") and matching an address against a list of
 * ranges. The config check and the listener use the same parser, so what
 * `intaked -t` accepts is exactly what the daemon binds. Nothing here
 * resolves names: a host is an IP address or localhost.
 *
 * The reasons handed back through why are static strings worded to follow
 * the quoted value ("'127.0.0.1:0' has a bad port (1 to 65535)"); they are
 * what `intaked -t` prints.
 */

/* An address range; the bits of addr past prefix are always zero. */
struct cidr {
	int		family;		/* AF_INET or AF_INET6 */
	unsigned char	addr[16];
	unsigned	prefix;
};

/*
 * Parses "PORT": decimal digits only, 1 to 65535. Returns 0 and sets *port,
 * or ERR_INVAL leaving *port alone.
 */
int	net_parse_port(const char *s, unsigned *port);

/*
 * Parses "host:port" or "[v6]:port" into *out. The host is an IPv4 address,
 * localhost (127.0.0.1), or an IPv6 address in brackets. Returns 0, or
 * ERR_INVAL with *why (when why != NULL) saying what is wrong.
 */
int	net_parse_hostport(const char *spec, struct sockaddr_storage *out,
	    const char **why);

/*
 * Parses "ADDR" (a single address) or "ADDR/PREFIX" into *out. A range
 * with bits set past its prefix (10.0.0.1/8) is refused: it is a typo more
 * often than not. Returns 0, or ERR_INVAL with *why set as above.
 */
int	net_parse_cidr(const char *s, struct cidr *out, const char **why);

/* True if ip is the text of an IPv4 or IPv6 address. */
bool	net_addr_valid(const char *ip);

/*
 * True if the address text ip lies inside one of the n ranges of list. An
 * address matches only ranges of its own family; text that is no address
 * matches nothing.
 */
bool	net_cidr_match(const struct cidr *list, size_t n, const char *ip);

#endif
