/*
 * Time: the clock and every date format intaked writes or reads, in one
 * place so that the HTTP Date header, mail Date headers, record times and
 * key-file comments cannot drift apart. All of it is UTC and independent
 * of the locale and time zone (no strftime, no localtime).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"

#define MS_PER_DAY	86400000LL
/* 9999-12-31T23:59:59.999Z: the last instant RFC 3339 can write. */
#define MS_MAX		253402300799999LL

int64_t
clock_now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
clock_env_ms(const char *name, int64_t def, int64_t max)
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

/* ms broken into its UTC calendar parts; clamped to years 1970..9999 so
   every formatter's output has a fixed width. */
struct civil {
	int64_t		y;
	unsigned	mon, day, hour, min, sec, msec, wday;
};

static void
civil(int64_t ms, struct civil *c)
{
	int64_t		days;
	unsigned	rem;

	if (ms < 0)
		ms = 0;
	if (ms > MS_MAX)
		ms = MS_MAX;
	days = ms / MS_PER_DAY;
	rem = (unsigned)(ms % MS_PER_DAY);
	civil_from_days(days, &c->y, &c->mon, &c->day);
	c->hour = rem / 3600000;
	c->min = rem / 60000 % 60;
	c->sec = rem / 1000 % 60;
	c->msec = rem % 1000;
	c->wday = (unsigned)((days + 4) % 7);	/* 1970-01-01 was a Thursday */
}

static const char *const wday_name[7] = {
	"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"
};
static const char *const mon_name[12] = {
	"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct",
	"Nov", "Dec"
};

/* Both RFC 3339 forms: with milliseconds, or to the second. */
static void
put_rfc3339(int64_t ms, char *out, int with_ms)
{
	struct civil	c;

	civil(ms, &c);
	snprintf(out, CLOCK_RFC3339_LEN, "%04u-%02u-%02uT%02u:%02u:%02u%s%.*uZ",
	    (unsigned)c.y % 10000, c.mon % 100, c.day % 100, c.hour % 100,
	    c.min, c.sec, with_ms ? "." : "", with_ms ? 3 : 0,
	    with_ms ? c.msec : 0);
}

void
clock_rfc3339(int64_t ms, char out[CLOCK_RFC3339_LEN])
{
	put_rfc3339(ms, out, 1);
}

void
clock_rfc3339_s(int64_t ms, char out[CLOCK_RFC3339_LEN])
{
	put_rfc3339(ms, out, 0);
}

/* IMF-fixdate and RFC 5322 differ only in how they name UTC. */
static void
put_date(int64_t ms, char *out, const char *zone)
{
	struct civil	c;

	civil(ms, &c);
	snprintf(out, CLOCK_DATE_LEN, "%s, %02u %s %04u %02u:%02u:%02u %s",
	    wday_name[c.wday], c.day % 100, mon_name[(c.mon - 1) % 12],
	    (unsigned)c.y % 10000, c.hour % 100, c.min, c.sec, zone);
}

void
clock_http_date(int64_t ms, char out[CLOCK_DATE_LEN])
{
	put_date(ms, out, "GMT");
}

void
clock_mail_date(int64_t ms, char out[CLOCK_DATE_LEN])
{
	put_date(ms, out, "+0000");
}

void
clock_local(int64_t ms, char out[CLOCK_DATE_LEN])
{
	time_t		t = (time_t)(ms / 1000);
	struct tm	tm;

	if (localtime_r(&t, &tm) == NULL ||
	    strftime(out, CLOCK_DATE_LEN, "%Y-%m-%d %H:%M %Z", &tm) == 0)
		snprintf(out, CLOCK_DATE_LEN, "-");
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

/* "YYYY-MM-DD" at *s into days since the epoch, advancing *s. */
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
clock_rfc3339_parse(const char *s, int64_t *ms)
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

int
clock_date_valid(const char *s, size_t len)
{
	char	b[11];
	const char *p = b;
	int64_t	days;

	if (len != 10)
		return 0;
	memcpy(b, s, 10);
	b[10] = '\0';
	return parse_date(&p, &days) == 0 && *p == '\0';
}
