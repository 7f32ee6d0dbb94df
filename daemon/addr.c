#include <string.h>

#include "addr.h"

#define LOCAL_MAX	64
#define HOST_MAX	253
#define LABEL_MAX	63

static int
alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9');
}

int
addr_atext(char c)
{
	return alnum(c) ||
	    (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

static int
local_valid(const char *s, size_t n)
{
	size_t	i;

	if (n == 0 || n > LOCAL_MAX || s[0] == '.' || s[n - 1] == '.')
		return 0;
	for (i = 0; i < n; i++) {
		if (s[i] == '.' && i + 1 < n && s[i + 1] == '.')
			return 0;
		if (s[i] != '.' && !addr_atext(s[i]))
			return 0;
	}
	return 1;
}

int
addr_host_valid(const char *s, size_t n, int flags)
{
	size_t	i, label = 0, labels = 0;
	int	alpha = 0;

	if (n == 0 || n > HOST_MAX)
		return 0;
	for (i = 0; i <= n; i++) {
		if (i == n || s[i] == '.') {
			if (label == 0 || label > LABEL_MAX || s[i - 1] == '-')
				return 0;
			labels++;
			if (i < n)
				alpha = 0;
			label = 0;
			continue;
		}
		if (!alnum(s[i]) && !(s[i] == '-' && label > 0))
			return 0;
		alpha |= !(s[i] >= '0' && s[i] <= '9');
		label++;
	}
	if (flags & ADDR_PUBLIC)
		return labels >= 2 && alpha;
	return 1;
}

int
addr_valid(const char *s, size_t len, int flags)
{
	const char	*at;
	size_t		 llen;

	if (s == NULL || len == 0 || len > ADDR_MAX ||
	    memchr(s, '\0', len) != NULL ||
	    (at = memchr(s, '@', len)) == NULL)
		return 0;
	llen = (size_t)(at - s);
	if (memchr(at + 1, '@', len - llen - 1) != NULL)
		return 0;
	return local_valid(s, llen) && addr_host_valid(at + 1, len - llen - 1,
	    flags);
}

int
addr_valid_str(const char *s, int flags)
{
	return s != NULL && addr_valid(s, strlen(s), flags);
}
