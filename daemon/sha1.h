#ifndef INTAKE_SHA1_H
#define INTAKE_SHA1_H

#include <stddef.h>
#include <stdint.h>

/*
 * SHA-1 (FIPS 180-4), for one thing only: FHIR R4's Attachment.hash is
 * defined as the base64 SHA-1 of the data, and clinical systems compare
 * it. Never used for anything that needs collision resistance; intaked's
 * own integrity checks use SHA-256.
 */

#define SHA1_LEN	20

struct sha1 {
	uint32_t	h[5];
	uint64_t	len;		/* bytes hashed */
	unsigned char	block[64];
	size_t		n;		/* bytes in block */
};

void	sha1_init(struct sha1 *);
void	sha1_update(struct sha1 *, const void *, size_t);
void	sha1_final(struct sha1 *, unsigned char out[SHA1_LEN]);

#endif
