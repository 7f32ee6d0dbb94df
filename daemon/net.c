#include <sys/types.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <stdint.h>
#include <string.h>

#include "net.h"

/* Reports why through the caller's pointer, which may be NULL. */
static int
refuse(const char **why, const char *reason)
{
	if (why != NULL)
		*why = reason;
	return ERR_INVAL;
}

/* "0" to "max", decimal digits only: no sign, no space, no empty string. */
static int
parse_decimal(const char *s, unsigned max, unsigned *out)
{
	unsigned long	n = 0;

	if (*s == '\0')
		return ERR_INVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return ERR_INVAL;
		n = n * 10 + (unsigned long)(*s - '0');
		if (n > max)
			return ERR_INVAL;
	}
	*out = (unsigned)n;
	return 0;
}

int
net_parse_port(const char *s, unsigned *port)
{
	unsigned	n;

	if (parse_decimal(s, 65535, &n) != 0 || n == 0)
		return ERR_INVAL;
	*port = n;
	return 0;
}

/* The 4 or 16 bytes of an address in text; 0, or ERR_INVAL. */
static int
addr_parse(const char *ip, int *family, unsigned char out[16])
{
	if (inet_pton(AF_INET, ip, out) == 1) {
		*family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, ip, out) == 1) {
		*family = AF_INET6;
		return 0;
	}
	return ERR_INVAL;
}

static int
sockaddr_set(int family, const char *host, unsigned port,
    struct sockaddr_storage *ss)
{
	struct sockaddr_in	*sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		return inet_pton(AF_INET, host, &sin->sin_addr) == 1 ? 0 :
		    ERR_INVAL;
	}
	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = htons((uint16_t)port);
	return inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1 ? 0 :
	    ERR_INVAL;
}

int
net_parse_hostport(const char *spec, struct sockaddr_storage *out,
    const char **why)
{
	char		 host[INET6_ADDRSTRLEN];
	const char	*h = spec, *colon, *end;
	size_t		 hl;
	unsigned	 port;

	if (spec[0] == '[') {
		if ((end = strchr(spec, ']')) == NULL || end[1] != ':')
			return refuse(why, "is not [address]:port");
		h = spec + 1;
		hl = (size_t)(end - h);
		colon = end + 1;
	} else {
		/* The listen key also takes unix:path, hence the wording. */
		if ((colon = strrchr(spec, ':')) == NULL)
			return refuse(why, "is not host:port, [address]:port "
			    "or unix:path");
		hl = (size_t)(colon - spec);
		if (memchr(spec, ':', hl) != NULL)
			return refuse(why, "needs brackets around an IPv6 "
			    "address ([::1]:8080)");
	}
	if (net_parse_port(colon + 1, &port) != 0)
		return refuse(why, "has a bad port (1 to 65535)");
	if (hl == 0 || hl >= sizeof(host))
		return refuse(why, "has a bad host");
	memcpy(host, h, hl);
	host[hl] = '\0';
	if (spec[0] == '[')
		return sockaddr_set(AF_INET6, host, port, out) == 0 ? 0 :
		    refuse(why, "is not a valid IPv6 address");
	if (strcmp(host, "localhost") == 0)
		strcpy(host, "127.0.0.1");
	if (sockaddr_set(AF_INET, host, port, out) != 0)
		return refuse(why, "has a host that is not an IPv4 address "
		    "or localhost");
	return 0;
}

/* Zeroes the bits of c->addr past the prefix; true if any was set. */
static bool
cidr_clear_host(struct cidr *c)
{
	unsigned	i, keep;
	bool		dirty = false;
	unsigned char	mask;

	for (i = 0; i < sizeof(c->addr); i++) {
		keep = c->prefix > i * 8 ? c->prefix - i * 8 : 0;
		if (keep >= 8)
			mask = 0xff;
		else
			mask = (unsigned char)(0xff << (8 - keep));
		if (c->addr[i] & ~mask)
			dirty = true;
		c->addr[i] &= mask;
	}
	return dirty;
}

int
net_parse_cidr(const char *s, struct cidr *out, const char **why)
{
	char		 addr[INET6_ADDRSTRLEN];
	const char	*slash = strchr(s, '/');
	size_t		 len = slash ? (size_t)(slash - s) : strlen(s);
	unsigned	 maxbits;

	memset(out, 0, sizeof(*out));
	if (len == 0 || len >= sizeof(addr))
		return refuse(why, "is not an IP address or CIDR range");
	memcpy(addr, s, len);
	addr[len] = '\0';
	if (addr_parse(addr, &out->family, out->addr) != 0)
		return refuse(why, "is not an IP address or CIDR range");
	maxbits = out->family == AF_INET ? 32 : 128;
	out->prefix = maxbits;
	if (slash != NULL && parse_decimal(slash + 1, maxbits,
	    &out->prefix) != 0)
		return refuse(why, "has a bad prefix length");
	if (cidr_clear_host(out))
		return refuse(why, "has bits set past its prefix length");
	return 0;
}

bool
net_addr_valid(const char *ip)
{
	unsigned char	a[16];
	int		fam;

	return addr_parse(ip, &fam, a) == 0;
}

static bool
cidr_contains(const struct cidr *c, int family, const unsigned char *a)
{
	unsigned	full = c->prefix / 8, rest = c->prefix % 8;

	if (c->family != family || memcmp(a, c->addr, full) != 0)
		return false;
	return rest == 0 || ((a[full] ^ c->addr[full]) &
	    (unsigned char)(0xff << (8 - rest))) == 0;
}

bool
net_cidr_match(const struct cidr *list, size_t n, const char *ip)
{
	unsigned char	a[16];
	int		fam;
	size_t		i;

	if (addr_parse(ip, &fam, a) != 0)
		return false;
	for (i = 0; i < n; i++)
		if (cidr_contains(&list[i], fam, a))
			return true;
	return false;
}
