#ifndef INTAKE_CLOCK_H
#define INTAKE_CLOCK_H

#include <stddef.h>
#include <stdint.h>

#define CLOCK_RFC3339_LEN	25	/* 2026-11-21T05:00:00.123Z + NUL */
#define CLOCK_DATE_LEN		32	/* Sat, 21 Nov 2026 05:00:00 +0000 + NUL */

/* Milliseconds since the epoch (CLOCK_REALTIME). */
int64_t	clock_now_ms(void);
/*
 * A duration in milliseconds from environment variable name (decimal,
 * 1..max), else def. Only tests set these, to shorten timers they watch.
 */
int64_t	clock_env_ms(const char *name, int64_t def, int64_t max);

/* RFC 3339 UTC with milliseconds: 2026-11-21T05:00:00.123Z. Times outside
   years 1970..9999 are clamped. */
void	clock_rfc3339(int64_t ms, char out[CLOCK_RFC3339_LEN]);
/* The same to the second: 2026-11-21T05:00:00Z (age-keygen's comment). */
void	clock_rfc3339_s(int64_t ms, char out[CLOCK_RFC3339_LEN]);
/* HTTP's IMF-fixdate: Sat, 21 Nov 2026 05:00:00 GMT. */
void	clock_http_date(int64_t ms, char out[CLOCK_DATE_LEN]);
/* RFC 5322 date-time in UTC: Sat, 21 Nov 2026 05:00:00 +0000. */
void	clock_mail_date(int64_t ms, char out[CLOCK_DATE_LEN]);
/* For a person at this machine: 2026-11-21 10:30 IST, in the local zone
   (TZ). Only intakectl uses it; the daemon speaks UTC. */
void	clock_local(int64_t ms, char out[CLOCK_DATE_LEN]);

/*
 * Parses an RFC 3339 full-date ("2026-11-21", midnight UTC) or date-time
 * ("2026-11-21T05:00:00.5+05:30"; the offset is required, as in RFC 3339).
 * Returns 0 and sets *ms, or -1 leaving *ms alone.
 */
int	clock_rfc3339_parse(const char *s, int64_t *ms);
/* 1 if s[0..len) is an RFC 3339 full-date of a day that exists. */
int	clock_date_valid(const char *s, size_t len);

#endif
