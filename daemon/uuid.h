#ifndef INTAKE_UUID_H
#define INTAKE_UUID_H

#include <stdint.h>

#define UUID_STRLEN	36

/* Milliseconds since the epoch (CLOCK_REALTIME). */
int64_t	now_ms(void);
/*
 * A duration in milliseconds from environment variable name (decimal,
 * 1..max), else def. Only tests set these, to shorten timers they watch.
 */
int64_t	env_ms(const char *name, int64_t def, int64_t max);
/* Writes a UUIDv7 (RFC 9562) for unix time ms into out (UUID_STRLEN + 1). */
void	uuid_v7(int64_t ms, char *out);
/* 1 if s is a canonical lowercase UUID string. */
int	uuid_valid(const char *s);
/* Formats ms as RFC 3339 UTC with milliseconds, e.g. 2026-11-21T05:00:00.123Z
   (out: 25 bytes). */
void	rfc3339(int64_t ms, char *out);
/* Parses RFC 3339 ("2026-11-21", "2026-11-21T05:00:00Z", with optional
   fraction and offset). Returns 0 or -1. */
int	rfc3339_parse(const char *s, int64_t *ms);

#endif
