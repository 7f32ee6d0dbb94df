#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "altcha.h"
#include "secret.h"

#define HASH_LEN	crypto_hash_sha256_BYTES
#define HEX_LEN		(2 * HASH_LEN)
#define NONCE_LEN	16		/* random bytes of a salt we make */
#define SALT_HEX_MIN	16		/* what a salt we take may carry */
#define SALT_HEX_MAX	64
#define EXPIRES_DIGITS	12		/* Unix times to the year 33658 */
#define EXPIRES_MAX	INT64_C(999999999999)
#define SALT_MAX	(SALT_HEX_MAX + 9 + EXPIRES_DIGITS + 1)
#define NUMBER_DIGITS	20
#define EXPIRES_TAG	"?expires="
#define NIL		UINT32_MAX	/* end of a chain in the replay set */

/*
 * The replay set: accepted challenges (the hash itself, which names salt
 * and number both) with their expiry, chained from buckets picked by the
 * hash's first bytes. Only challenges we signed get in, so nobody can aim
 * them at one bucket. Entries are handed out from e[] in order and reused
 * through a free list, so memory is touched only as the set fills.
 */
struct spent {
	unsigned char	h[HASH_LEN];
	int64_t		expires;
	uint32_t	next;
};

struct replay {
	struct spent	*e;
	uint32_t	*bucket;
	uint32_t	 nbucket;	/* a power of two */
	uint32_t	 used;		/* e[0..used) were handed out */
	uint32_t	 free;		/* free list through next, or NIL */
	uint32_t	 n, max;
	int64_t		 oldest;	/* no entry expires before */
};

struct altcha {
	unsigned char	key[ALTCHA_KEY_LEN];
	struct replay	rs;
};

/* What a payload said, with the strings still owned by its JSON. */
struct solution {
	const char	*challenge;
	const char	*salt;
	size_t		 saltlen;
	const char	*signature;
	uint64_t	 number;
	int64_t		 expires;
};

static int
replay_init(struct replay *rs, size_t max)
{
	uint32_t	nb = 1;

	while (nb < max)
		nb <<= 1;
	rs->e = calloc(max, sizeof(*rs->e));
	rs->bucket = malloc(nb * sizeof(*rs->bucket));
	if (rs->e == NULL || rs->bucket == NULL)
		return ERR_NOMEM;
	memset(rs->bucket, 0xff, nb * sizeof(*rs->bucket));	/* NIL */
	rs->nbucket = nb;
	rs->used = rs->n = 0;
	rs->free = NIL;
	rs->max = (uint32_t)max;
	rs->oldest = INT64_MAX;
	return 0;
}

static uint32_t *
bucket_of(struct replay *rs, const unsigned char h[HASH_LEN])
{
	uint32_t	v;

	memcpy(&v, h, sizeof(v));
	return &rs->bucket[v & (rs->nbucket - 1)];
}

static int
replay_has(struct replay *rs, const unsigned char h[HASH_LEN])
{
	uint32_t	i;

	for (i = *bucket_of(rs, h); i != NIL; i = rs->e[i].next)
		if (memcmp(rs->e[i].h, h, HASH_LEN) == 0)
			return 1;
	return 0;
}

/*
 * Drops every entry expired at now and recomputes the oldest expiry.
 * Called only when the set is full and something in it has expired, so
 * each sweep frees at least one entry.
 */
static void
replay_sweep(struct replay *rs, int64_t now)
{
	uint32_t	b, *link, i;

	rs->oldest = INT64_MAX;
	for (b = 0; b < rs->nbucket; b++) {
		link = &rs->bucket[b];
		while ((i = *link) != NIL) {
			if (rs->e[i].expires < now) {
				*link = rs->e[i].next;
				rs->e[i].next = rs->free;
				rs->free = i;
				rs->n--;
				continue;
			}
			if (rs->e[i].expires < rs->oldest)
				rs->oldest = rs->e[i].expires;
			link = &rs->e[i].next;
		}
	}
}

/* Remembers h until expires; ERR_BUSY when full of unexpired entries. */
static int
replay_add(struct replay *rs, const unsigned char h[HASH_LEN],
    int64_t expires, int64_t now)
{
	uint32_t	i, *head;

	if (rs->n == rs->max && rs->oldest < now)
		replay_sweep(rs, now);
	if (rs->n == rs->max)
		return ERR_BUSY;
	if (rs->free != NIL) {
		i = rs->free;
		rs->free = rs->e[i].next;
	} else
		i = rs->used++;
	head = bucket_of(rs, h);
	memcpy(rs->e[i].h, h, HASH_LEN);
	rs->e[i].expires = expires;
	rs->e[i].next = *head;
	*head = i;
	rs->n++;
	if (expires < rs->oldest)
		rs->oldest = expires;
	return 0;
}

int
altcha_new(const unsigned char key[ALTCHA_KEY_LEN], size_t replay_max,
    struct altcha **out)
{
	struct altcha	*a;

	*out = NULL;
	if (replay_max == 0 || replay_max > ALTCHA_REPLAY_MAX)
		return ERR_INVAL;
	if (sodium_init() < 0 || (a = sodium_malloc(sizeof(*a))) == NULL)
		return ERR_NOMEM;
	memset(&a->rs, 0, sizeof(a->rs));
	if (replay_init(&a->rs, replay_max) != 0) {
		altcha_free(a);
		return ERR_NOMEM;
	}
	memcpy(a->key, key, ALTCHA_KEY_LEN);
	*out = a;
	return 0;
}

void
altcha_free(struct altcha *a)
{
	if (a == NULL)
		return;
	free(a->rs.e);
	free(a->rs.bucket);
	sodium_free(a);		/* wipes the key before unmapping */
}

size_t
altcha_spent(const struct altcha *a)
{
	return a->rs.n;
}

/* hex(SHA-256(salt || decimal(number))), NUL-terminated. */
static void
challenge_of(const char *salt, size_t saltlen, uint64_t number,
    unsigned char h[HASH_LEN], char hex[HEX_LEN + 1])
{
	crypto_hash_sha256_state	st;
	char				num[NUMBER_DIGITS + 1];
	int				n;

	n = snprintf(num, sizeof(num), "%" PRIu64, number);
	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, (const unsigned char *)salt, saltlen);
	crypto_hash_sha256_update(&st, (const unsigned char *)num, (size_t)n);
	crypto_hash_sha256_final(&st, h);
	sodium_bin2hex(hex, HEX_LEN + 1, h, HASH_LEN);
}

/* hex(HMAC-SHA-256(key, the challenge's hex)), NUL-terminated. */
static void
signature_of(const struct altcha *a, const char chal[HEX_LEN],
    char hex[HEX_LEN + 1])
{
	unsigned char	mac[crypto_auth_hmacsha256_BYTES];

	crypto_auth_hmacsha256(mac, (const unsigned char *)chal, HEX_LEN,
	    a->key);
	sodium_bin2hex(hex, HEX_LEN + 1, mac, sizeof(mac));
}

int
altcha_challenge(const struct altcha *a, unsigned long maxnumber,
    int64_t now_s, unsigned ttl_s, struct buf *json_out)
{
	unsigned char	nonce[NONCE_LEN], h[HASH_LEN];
	char		salt[SALT_MAX + 1], chal[HEX_LEN + 1];
	char		sig[HEX_LEN + 1];
	uint64_t	number;
	int		n;

	if (maxnumber == 0 || maxnumber > ALTCHA_MAXNUMBER_MAX ||
	    ttl_s == 0 || ttl_s > ALTCHA_TTL_MAX || now_s < 0 ||
	    now_s > EXPIRES_MAX - ttl_s)
		return ERR_INVAL;
	randombytes_buf(nonce, sizeof(nonce));
	sodium_bin2hex(salt, sizeof(salt), nonce, sizeof(nonce));
	n = snprintf(salt + 2 * NONCE_LEN, sizeof(salt) - 2 * NONCE_LEN,
	    EXPIRES_TAG "%" PRId64 "&", now_s + (int64_t)ttl_s);
	number = randombytes_uniform((uint32_t)maxnumber + 1);
	challenge_of(salt, 2 * NONCE_LEN + (size_t)n, number, h, chal);
	signature_of(a, chal, sig);
	return buf_printf(json_out, "{\"algorithm\":\"SHA-256\","
	    "\"challenge\":\"%s\",\"maxnumber\":%lu,\"salt\":\"%s\","
	    "\"signature\":\"%s\"}", chal, maxnumber, salt, sig);
}

/* 1 if s is n lowercase hex digits. */
static int
is_hex(const char *s, size_t n)
{
	return strspn(s, "0123456789abcdef") == n && s[n] == '\0';
}

/*
 * Parses a decimal without sign or leading zeros, of at most max digits,
 * from s up to the first non-digit; returns the digits read, 0 if none
 * or too many.
 */
static size_t
scan_decimal(const char *s, size_t max, int64_t *v)
{
	size_t	i;

	*v = 0;
	for (i = 0; s[i] >= '0' && s[i] <= '9'; i++) {
		if (i == max || (i == 1 && s[0] == '0'))
			return 0;
		*v = *v * 10 + (s[i] - '0');
	}
	return i;
}

/* A salt as we make them: hex, "?expires=", the time, "&", nothing more. */
static int
parse_salt(const char *s, size_t len, int64_t *expires)
{
	size_t	hex = strspn(s, "0123456789abcdef"), d;

	if (len > SALT_MAX || hex < SALT_HEX_MIN || hex > SALT_HEX_MAX ||
	    hex % 2 != 0 || strncmp(s + hex, EXPIRES_TAG, 9) != 0)
		return ERR_MALFORMED;
	d = scan_decimal(s + hex + 9, EXPIRES_DIGITS, expires);
	if (d == 0 || hex + 9 + d + 1 != len || s[hex + 9 + d] != '&')
		return ERR_MALFORMED;
	return 0;
}

/* A member's value as a string of the JSON object, or NULL. */
static const char *
member_str(json_t *o, const char *name, size_t *len)
{
	json_t	*v = json_object_get(o, name);

	if (!json_is_string(v))
		return NULL;
	if (len)
		*len = json_string_length(v);
	return json_string_value(v);
}

/*
 * Reads the payload's object into s: exactly the members the widget
 * sends, each of its type, the strings canonical. took is the widget's
 * solving time in milliseconds, unchecked but for its type.
 */
static int
parse_object(json_t *o, struct solution *s)
{
	json_t		*num = json_object_get(o, "number");
	json_t		*took = json_object_get(o, "took");
	const char	*alg;
	json_int_t	 n;

	if (!json_is_object(o) ||
	    json_object_size(o) != (took != NULL ? 6u : 5u) ||
	    (took != NULL && !json_is_number(took)))
		return ERR_MALFORMED;
	alg = member_str(o, "algorithm", NULL);
	s->challenge = member_str(o, "challenge", NULL);
	s->signature = member_str(o, "signature", NULL);
	s->salt = member_str(o, "salt", &s->saltlen);
	if (alg == NULL || strcmp(alg, "SHA-256") != 0 ||
	    s->challenge == NULL || !is_hex(s->challenge, HEX_LEN) ||
	    s->signature == NULL || !is_hex(s->signature, HEX_LEN) ||
	    s->salt == NULL || !json_is_integer(num))
		return ERR_MALFORMED;
	n = json_integer_value(num);
	if (n < 0 || (unsigned long long)n > ALTCHA_MAXNUMBER_MAX)
		return ERR_MALFORMED;
	s->number = (uint64_t)n;
	return parse_salt(s->salt, s->saltlen, &s->expires);
}

/*
 * Decodes canonical, padded standard base64 into out (outmax bytes).
 * The alphabet is checked first: libsodium 1.0.18 takes bytes >= 0x80
 * for '/'.
 */
static int
decode_base64(const char *p, size_t len, unsigned char *out, size_t outmax,
    size_t *outlen)
{
	static const char	alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789+/";
	const char		*end;
	size_t			 i, pad = 0;

	if (len % 4 != 0)
		return ERR_MALFORMED;
	while (pad < 2 && pad < len && p[len - 1 - pad] == '=')
		pad++;
	for (i = 0; i < len - pad; i++)
		if (p[i] == '\0' || strchr(alpha, p[i]) == NULL)
			return ERR_MALFORMED;
	if (sodium_base642bin(out, outmax, p, len, NULL, outlen, &end,
	    sodium_base64_VARIANT_ORIGINAL) != 0 || end != p + len)
		return ERR_MALFORMED;
	return 0;
}

/* Decodes the payload; *root then owns the strings in s. */
static int
decode(const char *p, size_t len, json_t **root, struct solution *s)
{
	unsigned char	raw[ALTCHA_PAYLOAD_MAX / 4 * 3];
	size_t		rawlen;
	json_error_t	jerr;
	int		r;

	*root = NULL;
	if (p == NULL || len == 0)
		return ERR_NOTFOUND;
	if (len > ALTCHA_PAYLOAD_MAX ||
	    decode_base64(p, len, raw, sizeof(raw), &rawlen) != 0)
		return ERR_MALFORMED;
	*root = json_loadb((const char *)raw, rawlen, JSON_REJECT_DUPLICATES,
	    &jerr);
	if (*root == NULL)
		return json_error_code(&jerr) == json_error_out_of_memory ?
		    ERR_NOMEM : ERR_MALFORMED;
	if ((r = parse_object(*root, s)) != 0) {
		json_decref(*root);
		*root = NULL;
	}
	return r;
}

int
altcha_verify(struct altcha *a, const char *payload, size_t len,
    int64_t now_s)
{
	return altcha_check(a, payload, len, now_s, NULL);
}

int
altcha_check(struct altcha *a, const char *payload, size_t len,
    int64_t now_s, struct altcha_spend *out)
{
	struct solution	s = { NULL, NULL, 0, NULL, 0, 0 };
	json_t		*root;
	unsigned char	 h[HASH_LEN];
	char		 chal[HEX_LEN + 1], sig[HEX_LEN + 1];
	int		 r;

	if ((r = decode(payload, len, &root, &s)) != 0)
		return r;
	challenge_of(s.salt, s.saltlen, s.number, h, chal);
	signature_of(a, chal, sig);
	/* Both compared, whatever the first says, in constant time. */
	r = sodium_memcmp(chal, s.challenge, HEX_LEN);
	r |= sodium_memcmp(sig, s.signature, HEX_LEN);
	json_decref(root);
	if (r != 0)
		return ERR_AUTH;
	if (s.expires < now_s)
		return ERR_EXPIRED;
	if (replay_has(&a->rs, h))
		return ERR_REPLAYED;
	if ((r = replay_add(&a->rs, h, s.expires, now_s)) == 0 && out) {
		_Static_assert(sizeof(out->digest) == HASH_LEN, "digest");
		memcpy(out->digest, h, HASH_LEN);
		out->expires_s = s.expires;
	}
	return r;
}

int
altcha_key_load(const char *path, int create,
    unsigned char key[ALTCHA_KEY_LEN], struct diag *d)
{
	if (sodium_init() < 0)
		return ERR_NOMEM;
	return secret_key_load(path, "altcha-key", "ALTCHA key", create, key,
	    ALTCHA_KEY_LEN, d);
}
