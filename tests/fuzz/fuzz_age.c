/*
 * libFuzzer target for the age decoder: arbitrary bytes go to age_decrypt
 * with a fixed identity (the one of the CCTV test vectors, so a corpus seeded
 * from ../shared/testdata/age reaches the MAC and STREAM code), and, as a
 * string, to the recipient and identity parsers.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address -Idaemon -o fuzz_age \
 *       tests/fuzz/fuzz_age.c daemon/age.c daemon/buf.c daemon/log.c \
 *       $(pkg-config --cflags --libs libsodium)
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "age.h"
#include "buf.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
parse_as_strings(const uint8_t *data, size_t size)
{
	struct age_recipient	r;
	struct age_identity	id;
	char			s[AGE_IDENTITY_STRLEN + 8];

	if (size >= sizeof(s))
		size = sizeof(s) - 1;
	memcpy(s, data, size);
	s[size] = '\0';
	age_recipient_parse(s, &r);
	age_identity_parse(s, &id);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct age_identity	id;
	static int			ready;
	struct buf			out;
	int				r;

	/* Parsed once: a scalar multiplication per input would halve speed. */
	if (!ready && age_identity_parse("AGE-SECRET-KEY-1EGTZVFFV20835NWYV627"
	    "0LXYVK2VKNX2MMDKWYKLMGR48UAWX40Q2P2LM0", &id) != 0)
		abort();
	ready = 1;
	/* A cap well above one chunk keeps huge inputs from exhausting RSS. */
	buf_init(&out, 4 * AGE_CHUNK);
	r = age_decrypt(&id, 1, data, size, &out);
	if (r != 0 && r != ERR_PAYLOAD && out.len != 0)
		abort();	/* only verified plaintext may be released */
	if (r > 0 || r < ERR_MIN)
		abort();
	buf_wipe(&out);
	parse_as_strings(data, size);
	return 0;
}
