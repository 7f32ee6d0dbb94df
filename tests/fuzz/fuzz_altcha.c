/*
 * libFuzzer target for altcha_verify. An input is up to MAX_LINES lines,
 * each one payload (what a submission's altcha field holds), verified in
 * turn by one struct altcha with room for REPLAY_MAX solutions, line i at
 * NOW + STEP * i, with a fixed key. A line starting with '{' is JSON,
 * which the target encodes first (canonical base64, as the widget's
 * btoa), so that mutations reach the JSON and its strings as well as
 * the base64 layer. A model of the replay set is kept
 * beside it, and a lax decoder of our own says which lines are genuine
 * (the number solves the challenge, the signature is ours). Invariants,
 * checked for every line, abort when broken:
 * - every result is one altcha.h documents, ERR_NOTFOUND exactly for an
 *   empty line;
 * - a line is accepted only if it is genuine, unexpired, not accepted
 *   before, and the set had room once the expired entries were dropped;
 * - expired, replayed and busy are said only of genuine lines, and are
 *   the truth about them; bad (ERR_AUTH) never of a genuine one.
 * The seeds (tests/fuzz/corpus/fuzz_altcha/) are genuine payloads for
 * KEY and near misses; the genuine ones are what altcha-lib's v1
 * createChallenge makes for a given salt and number.
 * Build: as tests/fuzz/run.sh does (all of daemon/ but the two mains).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "altcha.h"

#define KEY		"intaked-altcha-test-key-32-bytes"
#define NOW		INT64_C(1700000000)
#define STEP		100
#define MAX_LINES	8
#define REPLAY_MAX	2

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

struct spent {
	unsigned char	h[32];
	int64_t		expires;
};

/* The lax decoder's view of one line. */
struct view {
	int		genuine;
	unsigned char	h[32];
	int64_t		expires;
};

static _Noreturn void
die(const char *why)
{
	fprintf(stderr, "fuzz_altcha: %s\n", why);
	abort();
}

static int
hex_eq(const unsigned char *bin, size_t n, const char *hex)
{
	char	want[2 * 32 + 1];

	sodium_bin2hex(want, sizeof(want), bin, n);
	return hex != NULL && strcmp(want, hex) == 0;
}

/* Whether salt and number make the challenge chal, signed with KEY as sig;
   h gets the hash either way. */
static int
solves(const char *salt, json_int_t number, const char *chal,
    const char *sig, unsigned char h[32])
{
	crypto_hash_sha256_state	st;
	unsigned char			mac[32];
	char				num[32], hex[65];

	snprintf(num, sizeof(num), "%lld", (long long)number);
	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, (const unsigned char *)salt,
	    strlen(salt));
	crypto_hash_sha256_update(&st, (const unsigned char *)num,
	    strlen(num));
	crypto_hash_sha256_final(&st, h);
	sodium_bin2hex(hex, sizeof(hex), h, 32);
	crypto_auth_hmacsha256(mac, (const unsigned char *)hex, 64,
	    (const unsigned char *)KEY);
	return hex_eq(h, 32, chal) && hex_eq(mac, 32, sig);
}

/*
 * Whether p decodes, leniently, to a solution we signed: base64 (any
 * trailing bits), a JSON object holding salt, number, challenge and
 * signature, whatever else it holds. Our verifier is stricter, never
 * laxer, so what is not genuine here must not pass there.
 */
static void
inspect(const char *p, size_t len, struct view *v)
{
	unsigned char	 raw[ALTCHA_PAYLOAD_MAX];
	const char	*salt, *exp;
	size_t		 rawlen;
	json_t		*o;

	memset(v, 0, sizeof(*v));
	if (len > ALTCHA_PAYLOAD_MAX || sodium_base642bin(raw, sizeof(raw), p,
	    len, NULL, &rawlen, NULL, sodium_base64_VARIANT_ORIGINAL) != 0)
		return;
	if ((o = json_loadb((char *)raw, rawlen, 0, NULL)) == NULL)
		return;
	salt = json_string_value(json_object_get(o, "salt"));
	if (salt != NULL && (exp = strstr(salt, "?expires=")) != NULL) {
		v->genuine = solves(salt, json_integer_value(json_object_get(o,
		    "number")), json_string_value(json_object_get(o,
		    "challenge")), json_string_value(json_object_get(o,
		    "signature")), v->h);
		v->expires = strtoll(exp + 9, NULL, 10);
	}
	json_decref(o);
}

struct model {
	struct spent	e[MAX_LINES];
	size_t		n;
};

static int
model_has(const struct model *m, const unsigned char h[32])
{
	size_t	i;

	for (i = 0; i < m->n; i++)
		if (memcmp(m->e[i].h, h, 32) == 0)
			return 1;
	return 0;
}

/* Entries the verifier must still hold at now: those not yet expired. */
static size_t
model_live(const struct model *m, int64_t now)
{
	size_t	i, live = 0;

	for (i = 0; i < m->n; i++)
		live += m->e[i].expires >= now;
	return live;
}

static void
check(struct model *m, int r, const struct view *v, size_t len, int64_t now)
{
	int	expired = v->expires < now, seen = model_has(m, v->h);
	int	full = model_live(m, now) >= REPLAY_MAX;

	if ((r == ERR_NOTFOUND) != (len == 0))
		die("missing is said of exactly the empty payload");
	switch (r) {
	case 0:
		if (!v->genuine || expired || seen || full)
			die("accepted what must not pass");
		m->e[m->n].expires = v->expires;
		memcpy(m->e[m->n++].h, v->h, 32);
		return;
	case ERR_EXPIRED:
		if (!v->genuine || !expired)
			die("expired said of a payload that is not");
		return;
	case ERR_REPLAYED:
		if (!v->genuine || expired || !seen)
			die("replayed said of a payload never accepted");
		return;
	case ERR_BUSY:
		if (!v->genuine || expired || seen || !full)
			die("busy with room in the replay set");
		return;
	case ERR_AUTH:
		if (v->genuine)
			die("a genuine payload called bad");
		return;
	case ERR_MALFORMED:
	case ERR_NOTFOUND:
		return;
	default:
		die("a result altcha.h does not document");
	}
}

/* Verifies one line at now, checks the result against the model. */
static void
line(struct altcha *a, struct model *m, const char *p, size_t len,
    int64_t now)
{
	char		b64[sodium_base64_ENCODED_LEN(ALTCHA_PAYLOAD_MAX,
			    sodium_base64_VARIANT_ORIGINAL)];
	struct view	v;
	int		r;

	if (len > 0 && p[0] == '{' && len <= ALTCHA_PAYLOAD_MAX) {
		sodium_bin2base64(b64, sizeof(b64), (const unsigned char *)p,
		    len, sodium_base64_VARIANT_ORIGINAL);
		p = b64;
		len = strlen(b64);
	}
	r = altcha_verify(a, len ? p : NULL, len, now);
	inspect(p, len, &v);
	check(m, r, &v, len, now);
	if (altcha_spent(a) > REPLAY_MAX)
		die("the replay set outgrew its bound");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned char	 key[ALTCHA_KEY_LEN] = KEY;
	const char			*p = (const char *)data;
	const char			*end = p + size, *nl;
	struct altcha			*a;
	struct model			 m = { .n = 0 };
	size_t				 i, len;

	if (altcha_new(key, REPLAY_MAX, &a) != 0)
		die("cannot make a verifier");
	for (i = 0; i < MAX_LINES && p <= end; i++, p += len + 1) {
		nl = memchr(p, '\n', (size_t)(end - p));
		len = nl ? (size_t)(nl - p) : (size_t)(end - p);
		line(a, &m, p, len, NOW + STEP * (int64_t)i);
		if (nl == NULL)
			break;
	}
	altcha_free(a);
	return 0;
}
