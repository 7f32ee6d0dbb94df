#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "uuid.h"

#define MS_PER_DAY	86400000LL
/* 9999-12-31T23:59:59.999Z: the last instant RFC 3339 can write. */
#define MS_MAX		253402300799999LL
#define SEQ_MAX		0xfffu

/*
 * The one piece of process state in this module: the last timestamp and
 * the 12-bit sequence in rand_a. It makes ids monotonic within the process
 * even when several are made in the same millisecond, on any thread, or
 * when the clock steps backwards (RFC 9562, section 6.2, method 1).
 */
static pthread_mutex_t	seq_lock = PTHREAD_MUTEX_INITIALIZER;
static int64_t		seq_ms = -1;
static unsigned		seq;

int64_t
now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
env_ms(const char *name, int64_t def, int64_t max)
{
	const char		*s = getenv(name);
	char			*end;
	unsigned long long	 v;

	if (s == NULL || *s == '\0')
		return def;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v == 0 || v > (unsigned long long)max)
		return def;
	return (int64_t)v;
}

/* A random start for a new millisecond's sequence. Only 11 bits, so at
   least 2048 more ids fit in the same millisecond before it overflows. */
static unsigned
seq_seed(void)
{
	return randombytes_uniform(SEQ_MAX / 2 + 1);
}

/* Picks the (timestamp, sequence) pair for the next id. */
static void
next_stamp(int64_t ms, int64_t *out_ms, unsigned *out_seq)
{
	pthread_mutex_lock(&seq_lock);
	if (ms > seq_ms) {
		seq_ms = ms;
		seq = seq_seed();
	} else if (++seq > SEQ_MAX) {
		/* Out of sequence numbers: borrow the next millisecond. */
		seq_ms++;
		seq = seq_seed();
	}
	*out_ms = seq_ms;
	*out_seq = seq;
	pthread_mutex_unlock(&seq_lock);
}

/*
 * Writes a UUIDv7 for ms into out (UUID_STRLEN + 1 bytes): 48-bit big-endian
 * milliseconds, version 7, a 12-bit monotonic sequence in rand_a, variant
 * 0b10, and 62 random bits. libsodium must have been initialised.
 */
void
uuid_v7(int64_t ms, char *out)
{
	static const char	hex[] = "0123456789abcdef";
	unsigned char		b[16];
	int64_t			t;
	unsigned		s;
	size_t			i, o;

	if (ms < 0)
		ms = 0;
	next_stamp(ms & 0xffffffffffffLL, &t, &s);
	for (i = 0; i < 6; i++)
		b[i] = (unsigned char)(t >> (40 - 8 * i));
	b[6] = (unsigned char)(0x70 | ((s >> 8) & 0x0f));
	b[7] = (unsigned char)(s & 0xff);
	randombytes_buf(b + 8, 8);
	b[8] = (unsigned char)(0x80 | (b[8] & 0x3f));
	for (i = 0, o = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = hex[b[i] >> 4];
		out[o++] = hex[b[i] & 0x0f];
	}
	out[o] = '\0';
}

int
uuid_valid(const char *s)
{
	size_t	i;

	if (s == NULL || strlen(s) != UUID_STRLEN)
		return 0;
	for (i = 0; i < UUID_STRLEN; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return 0;
		} else if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	}
	return 1;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
   days_from_civil); m is 1..12. */
static int64_t
days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t		era;
	unsigned	yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

/* The inverse of days_from_civil. */
static void
civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	int64_t		era;
	unsigned	doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = (unsigned)(z - era * 146097);
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

/* Formats ms as 2026-11-21T05:00:00.123Z; times outside years 1970..9999
   are clamped so the output always fits in 25 bytes. */
void
rfc3339(int64_t ms, char *out)
{
	int64_t		days, y;
	unsigned	m, d, rem;

	if (ms < 0)
		ms = 0;
	if (ms > MS_MAX)
		ms = MS_MAX;
	days = ms / MS_PER_DAY;
	rem = (unsigned)(ms % MS_PER_DAY);
	civil_from_days(days, &y, &m, &d);
	snprintf(out, 25, "%04u-%02u-%02uT%02u:%02u:%02u.%03uZ",
	    (unsigned)y % 10000, m % 100, d % 100, rem / 3600000 % 100,
	    rem / 60000 % 60, rem / 1000 % 60, rem % 1000);
}

/* Reads exactly n decimal digits at *s, advancing it. 0 or -1. */
static int
digits(const char **s, int n, unsigned *v)
{
	*v = 0;
	while (n-- > 0) {
		if (**s < '0' || **s > '9')
			return -1;
		*v = *v * 10 + (unsigned)(**s - '0');
		(*s)++;
	}
	return 0;
}

static unsigned
days_in_month(unsigned y, unsigned m)
{
	static const unsigned char	mdays[12] = {
		31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31
	};

	if (m == 2 && y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))
		return 29;
	return mdays[m - 1];
}

/* "YYYY-MM-DD" into days since the epoch. */
static int
parse_date(const char **s, int64_t *days)
{
	unsigned	y, m, d;

	if (digits(s, 4, &y) || *(*s)++ != '-' || digits(s, 2, &m) ||
	    *(*s)++ != '-' || digits(s, 2, &d))
		return -1;
	if (m < 1 || m > 12 || d < 1 || d > days_in_month(y, m))
		return -1;
	*days = days_from_civil(y, m, d);
	return 0;
}

/* "HH:MM:SS[.fraction]" into milliseconds of the day (a leap second 60
   counts as the next minute's first second). Extra fraction digits are
   truncated. */
static int
parse_time(const char **s, int64_t *ms)
{
	unsigned	h, mi, sec, frac = 0, scale = 100;

	if (digits(s, 2, &h) || *(*s)++ != ':' || digits(s, 2, &mi) ||
	    *(*s)++ != ':' || digits(s, 2, &sec))
		return -1;
	if (h > 23 || mi > 59 || sec > 60)
		return -1;
	if (**s == '.') {
		(*s)++;
		if (**s < '0' || **s > '9')
			return -1;
		for (; **s >= '0' && **s <= '9'; (*s)++) {
			frac += (unsigned)(**s - '0') * scale;
			scale /= 10;
		}
	}
	*ms = (((int64_t)h * 60 + mi) * 60 + sec) * 1000 + frac;
	return 0;
}

/* "Z" or "+hh:mm" / "-hh:mm" into the offset from UTC in ms. */
static int
parse_offset(const char **s, int64_t *off)
{
	unsigned	h, m;
	char		sign = **s;

	if (sign == 'Z' || sign == 'z') {
		(*s)++;
		*off = 0;
		return 0;
	}
	if (sign != '+' && sign != '-')
		return -1;
	(*s)++;
	if (digits(s, 2, &h) || *(*s)++ != ':' || digits(s, 2, &m) ||
	    h > 23 || m > 59)
		return -1;
	*off = ((int64_t)h * 60 + m) * 60000;
	if (sign == '-')
		*off = -*off;
	return 0;
}

/*
 * Parses an RFC 3339 full-date ("2026-11-21", midnight UTC) or date-time
 * ("2026-11-21T05:00:00.5+05:30"; the offset is required, as in RFC 3339).
 * Returns 0 and sets *ms, or -1 leaving *ms alone.
 */
int
rfc3339_parse(const char *s, int64_t *ms)
{
	int64_t	days, tod = 0, off = 0;

	if (s == NULL || parse_date(&s, &days))
		return -1;
	if (*s == 'T' || *s == 't') {
		s++;
		if (parse_time(&s, &tod) || parse_offset(&s, &off))
			return -1;
	}
	if (*s != '\0')
		return -1;
	*ms = days * MS_PER_DAY + tod - off;
	return 0;
}
