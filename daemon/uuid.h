#ifndef INTAKE_UUID_H
#define INTAKE_UUID_H

#include <stdint.h>

#include "clock.h"

#define UUID_STRLEN	36

/* Writes a UUIDv7 (RFC 9562) for unix time ms into out (UUID_STRLEN + 1). */
void	uuid_v7(int64_t ms, char *out);
/* 1 if s is a canonical lowercase UUID string. */
int	uuid_valid(const char *s);

#endif
