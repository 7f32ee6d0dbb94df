/*
 * The ALTCHA proof of work: challenges as the widget wants them, every
 * reason a payload is turned away (missing, malformed, bad, expired,
 * replayed, the replay set full), a vector made by altcha-lib/v1, and the
 * key file beside the database. The solver here is the widget's
 * algorithm: numbers from 0 up until SHA-256(salt || number) matches.
 * tests/integration/test_altcha_interop.py checks against altcha-lib
 * itself.
 */
#include <sys/stat.h>

#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <jansson.h>
#include <sodium.h>

#include "altcha.h"
#include "testutil.h"

#define NOW	INT64_C(1700000000)
#define TTL	600u
#define EASY	2000ul		/* maxnumber: solved in a few ms */

/* A vector from altcha-lib 2.8.0's v1 createChallenge, with this key
   (32 ASCII bytes, so that its string key and our byte key agree). */
#define LIB_KEY		"intaked-altcha-test-key-32-bytes"
#define LIB_SALT	"0123456789abcdef0123456789abcdef?expires=2000000000&"
#define LIB_NUMBER	4242
#define LIB_CHALLENGE	"755420bc6fe1ec6dbb9b0c45c76f29e0" \
			"203a003cc0623cd8b486331dab8fc3b5"
#define LIB_SIGNATURE	"2b7e6a9fd1ce18e8390071cfb891f86d" \
			"0fd97668ac3b3865758a6619f4989df4"
#define LIB_PAYLOAD	"eyJhbGdvcml0aG0iOiJTSEEtMjU2IiwiY2hhbGxlbmdlIjoi" \
	"NzU1NDIwYmM2ZmUxZWM2ZGJiOWIwYzQ1Yzc2ZjI5ZTAyMDNhMDAzY2MwNjIzY2Q4YjQ4" \
	"NjMzMWRhYjhmYzNiNSIsIm51bWJlciI6NDI0Miwic2FsdCI6IjAxMjM0NTY3ODlhYmNk" \
	"ZWYwMTIzNDU2Nzg5YWJjZGVmP2V4cGlyZXM9MjAwMDAwMDAwMCYiLCJzaWduYXR1cmUi" \
	"OiIyYjdlNmE5ZmQxY2UxOGU4MzkwMDcxY2ZiODkxZjg2ZDBmZDk3NjY4YWMzYjM4NjU3" \
	"NThhNjYxOWY0OTg5ZGY0In0="

static const unsigned char	key[ALTCHA_KEY_LEN] = LIB_KEY;

/* A challenge as handed out, and the number that solves it. */
struct chal {
	char		challenge[65];
	char		salt[128];
	char		signature[65];
	unsigned long	maxnumber;
	unsigned long	number;
};

static struct altcha *
new_altcha(size_t replay_max)
{
	struct altcha	*a;

	ck_assert_int_eq(altcha_new(key, replay_max, &a), 0);
	return a;
}

static void
copy_member(json_t *o, const char *name, char *out, size_t len)
{
	const char	*s = json_string_value(json_object_get(o, name));

	ck_assert_ptr_nonnull(s);
	ck_assert_uint_lt(strlen(s), len);
	snprintf(out, len, "%s", s);
}

static void
sha256_hex(const char *s, char out[65])
{
	unsigned char	h[crypto_hash_sha256_BYTES];

	crypto_hash_sha256(h, (const unsigned char *)s, strlen(s));
	sodium_bin2hex(out, 65, h, sizeof(h));
}

/* The widget's search: 0, 1, 2, ... until the hash matches. */
static void
solve(struct chal *c)
{
	char	text[192], hex[65];

	for (c->number = 0; c->number <= c->maxnumber; c->number++) {
		snprintf(text, sizeof(text), "%s%lu", c->salt, c->number);
		sha256_hex(text, hex);
		if (strcmp(hex, c->challenge) == 0)
			return;
	}
	ck_abort_msg("no number up to maxnumber solves the challenge");
}

/* A new challenge from a, parsed and solved. */
static void
get_challenge(struct altcha *a, unsigned long maxnumber, int64_t now,
    unsigned ttl, struct chal *c)
{
	struct buf	b;
	json_t		*o;
	json_error_t	 e;

	buf_init(&b, 4096);
	ck_assert_int_eq(altcha_challenge(a, maxnumber, now, ttl, &b), 0);
	o = json_loadb(b.data, b.len, 0, &e);
	ck_assert_msg(o != NULL, "not JSON: %s", b.data);
	copy_member(o, "challenge", c->challenge, sizeof(c->challenge));
	copy_member(o, "salt", c->salt, sizeof(c->salt));
	copy_member(o, "signature", c->signature, sizeof(c->signature));
	c->maxnumber = (unsigned long)json_integer_value(json_object_get(o,
	    "maxnumber"));
	json_decref(o);
	buf_free(&b);
	solve(c);
}

/* base64 of text, as the widget's btoa() writes it; caller frees. */
static char *
b64(const char *text)
{
	size_t	n = strlen(text);
	size_t	len = sodium_base64_ENCODED_LEN(n,
		    sodium_base64_VARIANT_ORIGINAL);
	char	*out = malloc(len);

	ck_assert_ptr_nonnull(out);
	sodium_bin2base64(out, len, (const unsigned char *)text, n,
	    sodium_base64_VARIANT_ORIGINAL);
	return out;
}

/* The payload of c as JSON, with the number written as given. */
static void
payload_json(const struct chal *c, const char *number, const char *extra,
    char *out, size_t len)
{
	int	n;

	n = snprintf(out, len, "{\"algorithm\":\"SHA-256\",\"challenge\":"
	    "\"%s\",\"number\":%s,\"salt\":\"%s\",\"signature\":\"%s\"%s}",
	    c->challenge, number, c->salt, c->signature, extra);
	ck_assert(n > 0 && (size_t)n < len);
}

/* altcha_verify on base64 of text. */
static int
verify_text(struct altcha *a, const char *text, int64_t now)
{
	char	*p = b64(text);
	int	 r = altcha_verify(a, p, strlen(p), now);

	free(p);
	return r;
}

/* altcha_verify on c's solution, with extra members appended. */
static int
verify_sol(struct altcha *a, const struct chal *c, const char *extra,
    int64_t now)
{
	char	num[24], text[512];

	snprintf(num, sizeof(num), "%lu", c->number);
	payload_json(c, num, extra, text, sizeof(text));
	return verify_text(a, text, now);
}

START_TEST(test_challenge_format)
{
	struct altcha	*a = new_altcha(16);
	struct buf	 b;
	json_t		*o;
	json_error_t	 e;
	unsigned char	 mac[crypto_auth_hmacsha256_BYTES];
	char		 want[65], expires[32], first[128];
	const char	*salt, *chal;

	buf_init(&b, 0);
	ck_assert_int_eq(altcha_challenge(a, 50000, NOW, TTL, &b), 0);
	/* The contract's members in the contract's order, nothing else. */
	ck_assert_msg(strncmp(b.data, "{\"algorithm\":\"SHA-256\","
	    "\"challenge\":\"", 36) == 0, "%s", b.data);
	o = json_loadb(b.data, b.len, JSON_REJECT_DUPLICATES, &e);
	ck_assert_ptr_nonnull(o);
	ck_assert_uint_eq(json_object_size(o), 5);
	ck_assert_int_eq(json_integer_value(json_object_get(o, "maxnumber")),
	    50000);
	salt = json_string_value(json_object_get(o, "salt"));
	chal = json_string_value(json_object_get(o, "challenge"));
	ck_assert_ptr_nonnull(salt);
	ck_assert_ptr_nonnull(chal);
	/* Random hex, then the expiry the widget reads. */
	snprintf(expires, sizeof(expires), "?expires=%" PRId64 "&", NOW + TTL);
	ck_assert_uint_eq(strspn(salt, "0123456789abcdef"), 32);
	ck_assert_str_eq(salt + 32, expires);
	ck_assert_uint_eq(strlen(chal), 64);
	ck_assert_uint_eq(strspn(chal, "0123456789abcdef"), 64);
	/* signature = hex(HMAC-SHA-256(key, the challenge's hex)). */
	crypto_auth_hmacsha256(mac, (const unsigned char *)chal, 64, key);
	sodium_bin2hex(want, sizeof(want), mac, sizeof(mac));
	ck_assert_str_eq(json_string_value(json_object_get(o, "signature")),
	    want);
	snprintf(first, sizeof(first), "%.32s", salt);
	json_decref(o);
	/* Two challenges never share a salt. */
	buf_reset(&b);
	ck_assert_int_eq(altcha_challenge(a, 50000, NOW, TTL, &b), 0);
	ck_assert_ptr_null(strstr(b.data, first));
	buf_free(&b);
	altcha_free(a);
}
END_TEST

START_TEST(test_bad_arguments)
{
	struct altcha	*a;
	struct buf	 b;

	ck_assert_int_eq(altcha_new(key, 0, &a), ERR_INVAL);
	ck_assert_ptr_null(a);
	ck_assert_int_eq(altcha_new(key, ALTCHA_REPLAY_MAX + 1, &a),
	    ERR_INVAL);
	a = new_altcha(1);
	buf_init(&b, 0);
	ck_assert_int_eq(altcha_challenge(a, 0, NOW, TTL, &b), ERR_INVAL);
	ck_assert_int_eq(altcha_challenge(a, ALTCHA_MAXNUMBER_MAX + 1, NOW,
	    TTL, &b), ERR_INVAL);
	ck_assert_int_eq(altcha_challenge(a, EASY, NOW, 0, &b), ERR_INVAL);
	ck_assert_int_eq(altcha_challenge(a, EASY, NOW, ALTCHA_TTL_MAX + 1,
	    &b), ERR_INVAL);
	ck_assert_int_eq(altcha_challenge(a, EASY, -1, TTL, &b), ERR_INVAL);
	ck_assert_uint_eq(b.len, 0);
	/* A full buffer is said, and left as it was. */
	buf_init(&b, 100);
	ck_assert_int_eq(altcha_challenge(a, EASY, NOW, TTL, &b), ERR_TOOBIG);
	ck_assert_uint_eq(b.len, 0);
	buf_free(&b);
	altcha_free(a);
	altcha_free(NULL);
}
END_TEST

/* The number is drawn from [0, maxnumber], all of it. */
START_TEST(test_number_range)
{
	struct altcha	*a = new_altcha(1);
	struct chal	 c;
	int		 seen[4] = { 0 }, i;

	for (i = 0; i < 200; i++) {
		get_challenge(a, 3, NOW, TTL, &c);
		ck_assert_uint_le(c.number, 3);
		seen[c.number] = 1;
	}
	ck_assert(seen[0] && seen[1] && seen[2] && seen[3]);
	altcha_free(a);
}
END_TEST

START_TEST(test_valid_once)
{
	struct altcha	*a = new_altcha(16);
	struct chal	 c;

	get_challenge(a, EASY, NOW, TTL, &c);
	ck_assert_int_eq(verify_sol(a, &c, "", NOW + 1), 0);
	ck_assert_uint_eq(altcha_spent(a), 1);
	ck_assert_int_eq(verify_sol(a, &c, "", NOW + 2), ERR_REPLAYED);
	/* Not as another spelling of the same solution either. */
	ck_assert_int_eq(verify_sol(a, &c, ",\"took\":5", NOW + 2),
	    ERR_REPLAYED);
	ck_assert_uint_eq(altcha_spent(a), 1);
	altcha_free(a);
}
END_TEST

/* What altcha 3.x's widget sends for a v1 challenge has "took" too, its
   solving time in milliseconds, a fraction. */
START_TEST(test_widget_payload)
{
	struct altcha	*a = new_altcha(16);
	struct chal	 c;

	get_challenge(a, EASY, NOW, TTL, &c);
	ck_assert_int_eq(verify_sol(a, &c, ",\"took\":812.3", NOW), 0);
	get_challenge(a, EASY, NOW, TTL, &c);
	ck_assert_int_eq(verify_sol(a, &c, ",\"took\":0", NOW), 0);
	get_challenge(a, EASY, NOW, TTL, &c);
	ck_assert_int_eq(verify_sol(a, &c, ",\"took\":\"5\"", NOW),
	    ERR_MALFORMED);
	altcha_free(a);
}
END_TEST

/* altcha-lib/v1 made this one; its payload verifies here as it is. */
START_TEST(test_altcha_lib_vector)
{
	struct altcha	*a = new_altcha(16);
	struct chal	 c;
	const char	*p = LIB_PAYLOAD;

	snprintf(c.salt, sizeof(c.salt), "%s", LIB_SALT);
	snprintf(c.challenge, sizeof(c.challenge), "%s", LIB_CHALLENGE);
	snprintf(c.signature, sizeof(c.signature), "%s", LIB_SIGNATURE);
	c.number = LIB_NUMBER;
	ck_assert_int_eq(altcha_verify(a, p, strlen(p), 2000000001),
	    ERR_EXPIRED);
	ck_assert_int_eq(verify_sol(a, &c, "", 2000000000), 0);
	ck_assert_int_eq(altcha_verify(a, p, strlen(p), 1999999999),
	    ERR_REPLAYED);
	altcha_free(a);
}
END_TEST

START_TEST(test_expired)
{
	struct altcha	*a = new_altcha(16);
	struct chal	 c;

	get_challenge(a, EASY, NOW, TTL, &c);
	ck_assert_int_eq(verify_sol(a, &c, "", NOW + TTL + 1), ERR_EXPIRED);
	ck_assert_uint_eq(altcha_spent(a), 0);
	/* Good through its last second. */
	ck_assert_int_eq(verify_sol(a, &c, "", NOW + TTL), 0);
	ck_assert_int_eq(verify_sol(a, &c, "", NOW + TTL + 1), ERR_EXPIRED);
	altcha_free(a);
}
END_TEST

START_TEST(test_forged)
{
	struct altcha	*a = new_altcha(16), *other;
	unsigned char	 key2[ALTCHA_KEY_LEN];
	struct chal	 c, f;
	char		 text[512], hex[65];

	get_challenge(a, EASY, NOW, TTL, &c);
	/* A flipped digit of the signature. */
	f = c;
	f.signature[10] = f.signature[10] == '0' ? '1' : '0';
	ck_assert_int_eq(verify_sol(a, &f, "", NOW), ERR_AUTH);
	/* Another key's challenge. */
	memset(key2, 'k', sizeof(key2));
	ck_assert_int_eq(altcha_new(key2, 4, &other), 0);
	ck_assert_int_eq(verify_sol(other, &c, "", NOW), ERR_AUTH);
	altcha_free(other);
	/* A salt of one's own (a later expiry) with its own hash: the
	   signature no longer matches. */
	f = c;
	snprintf(f.salt, sizeof(f.salt), "%.32s?expires=%" PRId64 "&",
	    c.salt, NOW + 100 * TTL);
	snprintf(text, sizeof(text), "%s%lu", f.salt, f.number);
	sha256_hex(text, hex);
	memcpy(f.challenge, hex, sizeof(hex));
	ck_assert_int_eq(verify_sol(a, &f, "", NOW), ERR_AUTH);
	/* Not decided on expiry or replay before it verified. */
	ck_assert_int_eq(verify_sol(a, &f, "", NOW + 10 * TTL), ERR_AUTH);
	ck_assert_uint_eq(altcha_spent(a), 0);
	/* The genuine one is still good. */
	ck_assert_int_eq(verify_sol(a, &c, "", NOW), 0);
	altcha_free(a);
}
END_TEST

START_TEST(test_wrong_number)
{
	struct altcha	*a = new_altcha(16);
	struct chal	 c, w;

	get_challenge(a, EASY, NOW, TTL, &c);
	w = c;
	w.number = c.number + 1;
	ck_assert_int_eq(verify_sol(a, &w, "", NOW), ERR_AUTH);
	w.number = c.number ? c.number - 1 : EASY;
	ck_assert_int_eq(verify_sol(a, &w, "", NOW), ERR_AUTH);
	ck_assert_uint_eq(altcha_spent(a), 0);
	/* Failed attempts spend nothing: the right one still passes. */
	ck_assert_int_eq(verify_sol(a, &c, "", NOW), 0);
	altcha_free(a);
}
END_TEST

START_TEST(test_missing)
{
	struct altcha	*a = new_altcha(16);

	ck_assert_int_eq(altcha_verify(a, NULL, 0, NOW), ERR_NOTFOUND);
	ck_assert_int_eq(altcha_verify(a, "", 0, NOW), ERR_NOTFOUND);
	ck_assert_int_eq(altcha_verify(a, "eyJ9", 0, NOW), ERR_NOTFOUND);
	altcha_free(a);
}
END_TEST

START_TEST(test_malformed_base64)
{
	static const char *const bad[] = {
		"!!!!",
		"eyJ9",			/* fine base64 of "{}": bad JSON */
		"eyJhIjoxfQ",		/* unpadded */
		"eyJhIjoxfQ=",		/* padding short */
		"eyJhIjoxfQ===",
		"eyJhIjoxfR==",		/* non-canonical trailing bits */
		"eyJh Ijox fQ==",
		"eyJhIjoxfQ==\n",
		"eyJhIj\xc0xfQ==",	/* libsodium 1.0.18 takes it for '/' */
		"eyJh-joxfQ==",		/* URL-safe alphabet */
		"eyJh=joxfQ==",
		"====",
	};
	struct altcha	*a = new_altcha(16);
	size_t		 i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(altcha_verify(a, bad[i], strlen(bad[i]), NOW) ==
		    ERR_MALFORMED, "accepted '%s'", bad[i]);
	/* A NUL inside the given length. */
	ck_assert_int_eq(altcha_verify(a, "eyJh\0joxfQ==", 12, NOW),
	    ERR_MALFORMED);
	altcha_free(a);
}
END_TEST

START_TEST(test_malformed_json)
{
	struct altcha	*a = new_altcha(16);
	struct chal	 c;
	char		 text[600], num[24];
	const char	*member;
	size_t		 i;

	get_challenge(a, EASY, NOW, TTL, &c);
	snprintf(num, sizeof(num), "%lu", c.number);
	ck_assert_int_eq(verify_text(a, "{", NOW), ERR_MALFORMED);
	ck_assert_int_eq(verify_text(a, "[]", NOW), ERR_MALFORMED);
	ck_assert_int_eq(verify_text(a, "\"x\"", NOW), ERR_MALFORMED);
	/* Trailing bytes after the object. */
	payload_json(&c, num, "", text, sizeof(text));
	strcat(text, " {}");
	ck_assert_int_eq(verify_text(a, text, NOW), ERR_MALFORMED);
	/* A member more, or twice. */
	payload_json(&c, num, ",\"test\":true", text, sizeof(text));
	ck_assert_int_eq(verify_text(a, text, NOW), ERR_MALFORMED);
	payload_json(&c, num, ",\"number\":1", text, sizeof(text));
	ck_assert_int_eq(verify_text(a, text, NOW), ERR_MALFORMED);
	/* A member missing. */
	for (i = 0; i < 5; i++) {
		member = (const char *[]){ "algorithm", "challenge", "number",
		    "salt", "signature" }[i];
		payload_json(&c, num, "", text, sizeof(text));
		*strstr(text, member) = 'X';
		ck_assert_msg(verify_text(a, text, NOW) == ERR_MALFORMED,
		    "accepted without %s", member);
	}
	/* The number as anything but a whole number in range. */
	payload_json(&c, "\"5\"", "", text, sizeof(text));
	ck_assert_int_eq(verify_text(a, text, NOW), ERR_MALFORMED);
	payload_json(&c, "1.0", "", text, sizeof(text));
	ck_assert_int_eq(verify_text(a, text, NOW), ERR_MALFORMED);
	payload_json(&c, "-1", "", text, sizeof(text));
	ck_assert_int_eq(verify_text(a, text, NOW), ERR_MALFORMED);
	payload_json(&c, "10000001", "", text, sizeof(text));
	ck_assert_int_eq(verify_text(a, text, NOW), ERR_MALFORMED);
	payload_json(&c, "99999999999999999999999", "", text, sizeof(text));
	ck_assert_int_eq(verify_text(a, text, NOW), ERR_MALFORMED);
	payload_json(&c, "null", "", text, sizeof(text));
	ck_assert_int_eq(verify_text(a, text, NOW), ERR_MALFORMED);
	/* Nothing of it was spent. */
	ck_assert_int_eq(verify_sol(a, &c, "", NOW), 0);
	altcha_free(a);
}
END_TEST

/* Hex and salts exactly as we write them, or nothing. */
START_TEST(test_malformed_fields)
{
	static const char *const salts[] = {
		"",
		"0123456789abcdef",			/* no expiry */
		"0123456789abcdef?expires=2000000000",	/* no '&' */
		"0123456789abcdef?expires=2000000000&x=1&",
		"0123456789abcdef?x=1&expires=2000000000&",
		"0123456789abcdef?expires=02000000000&",
		"0123456789abcdef?expires=&",
		"0123456789abcdef?expires=-1&",
		"0123456789abcdef?expires=1000000000000&",
		"0123456789ABCDEF?expires=2000000000&",
		"0123456789abcde?expires=2000000000&",	/* odd */
		"0123456789abcd?expires=2000000000&",	/* too short */
		"?expires=2000000000&",
		"0123456789abcdef?EXPIRES=2000000000&",
	};
	struct altcha	*a = new_altcha(16);
	struct chal	 c, f;
	size_t		 i;

	get_challenge(a, EASY, NOW, TTL, &c);
	f = c;
	f.challenge[0] = (char)(c.challenge[0] >= 'a' ? 'A' : 'F');
	ck_assert_int_eq(verify_sol(a, &f, "", NOW), ERR_MALFORMED);
	f = c;
	f.signature[63] = '\0';
	ck_assert_int_eq(verify_sol(a, &f, "", NOW), ERR_MALFORMED);
	f = c;
	f.signature[63] = 'g';
	ck_assert_int_eq(verify_sol(a, &f, "", NOW), ERR_MALFORMED);
	for (i = 0; i < sizeof(salts) / sizeof(salts[0]); i++) {
		f = c;
		snprintf(f.salt, sizeof(f.salt), "%s", salts[i]);
		ck_assert_msg(verify_sol(a, &f, "", NOW) == ERR_MALFORMED,
		    "took salt '%s'", salts[i]);
	}
	altcha_free(a);
}
END_TEST

START_TEST(test_wrong_algorithm)
{
	struct altcha	*a = new_altcha(16);
	struct chal	 c;
	char		 text[512], num[24], *alg;

	get_challenge(a, EASY, NOW, TTL, &c);
	snprintf(num, sizeof(num), "%lu", c.number);
	payload_json(&c, num, "", text, sizeof(text));
	alg = strstr(text, "SHA-256");
	memcpy(alg, "SHA-512", 7);
	ck_assert_int_eq(verify_text(a, text, NOW), ERR_MALFORMED);
	memcpy(alg, "sha-256", 7);
	ck_assert_int_eq(verify_text(a, text, NOW), ERR_MALFORMED);
	memcpy(alg, "SHA-1\",", 7);
	ck_assert_int_eq(verify_text(a, text, NOW), ERR_MALFORMED);
	ck_assert_int_eq(verify_sol(a, &c, "", NOW), 0);
	altcha_free(a);
}
END_TEST

/* The cap is on the base64: 1024 bytes pass (JSON may have spaces), one
   group more does not. */
START_TEST(test_oversized)
{
	struct altcha	*a = new_altcha(16);
	struct chal	 c;
	char		 text[2 * ALTCHA_PAYLOAD_MAX], pad[ALTCHA_PAYLOAD_MAX];
	char		 num[24], *p;
	size_t		 base;

	get_challenge(a, EASY, NOW, TTL, &c);
	snprintf(num, sizeof(num), "%lu", c.number);
	payload_json(&c, num, "", text, sizeof(text));
	base = strlen(text);
	memset(pad, ' ', sizeof(pad));
	pad[ALTCHA_PAYLOAD_MAX / 4 * 3 - base + 1] = '\0';
	payload_json(&c, num, pad, text, sizeof(text));
	p = b64(text);
	ck_assert_uint_eq(strlen(p), ALTCHA_PAYLOAD_MAX + 4);
	ck_assert_int_eq(altcha_verify(a, p, strlen(p), NOW), ERR_MALFORMED);
	free(p);
	pad[ALTCHA_PAYLOAD_MAX / 4 * 3 - base] = '\0';
	payload_json(&c, num, pad, text, sizeof(text));
	p = b64(text);
	ck_assert_uint_eq(strlen(p), ALTCHA_PAYLOAD_MAX);
	ck_assert_int_eq(altcha_verify(a, p, strlen(p), NOW), 0);
	free(p);
	/* Long junk is refused before it is decoded. */
	p = malloc(64 * 1024);
	ck_assert_ptr_nonnull(p);
	memset(p, 'A', 64 * 1024);
	ck_assert_int_eq(altcha_verify(a, p, 64 * 1024, NOW), ERR_MALFORMED);
	free(p);
	altcha_free(a);
}
END_TEST

/*
 * A set of two: a third solution waits until one of the two expires, and
 * an unexpired one is never forgotten to make room.
 */
START_TEST(test_replay_set_full)
{
	struct altcha	*a = new_altcha(2);
	struct chal	 c1, c2, c3;

	get_challenge(a, EASY, NOW, 60, &c1);	/* expires NOW + 60 */
	get_challenge(a, EASY, NOW, 120, &c2);	/* NOW + 120 */
	get_challenge(a, EASY, NOW, 600, &c3);
	ck_assert_int_eq(verify_sol(a, &c1, "", NOW), 0);
	ck_assert_int_eq(verify_sol(a, &c2, "", NOW), 0);
	ck_assert_int_eq(verify_sol(a, &c3, "", NOW + 60), ERR_BUSY);
	ck_assert_int_eq(verify_sol(a, &c1, "", NOW + 60), ERR_REPLAYED);
	ck_assert_int_eq(verify_sol(a, &c2, "", NOW + 60), ERR_REPLAYED);
	ck_assert_uint_eq(altcha_spent(a), 2);
	/* c1 has expired: its room goes to c3; c2 is still remembered. */
	ck_assert_int_eq(verify_sol(a, &c3, "", NOW + 61), 0);
	ck_assert_int_eq(verify_sol(a, &c1, "", NOW + 61), ERR_EXPIRED);
	ck_assert_int_eq(verify_sol(a, &c2, "", NOW + 61), ERR_REPLAYED);
	ck_assert_int_eq(verify_sol(a, &c3, "", NOW + 61), ERR_REPLAYED);
	ck_assert_uint_eq(altcha_spent(a), 2);
	altcha_free(a);
}
END_TEST

/* Many more solutions than room, over time: entries come and go, and
   every one is refused a second time while it lasts. */
START_TEST(test_replay_set_churn)
{
	struct altcha	*a = new_altcha(8);
	struct chal	 c[40];
	int64_t		 t;
	int		 i, busy = 0;

	for (i = 0; i < 40; i++) {
		t = NOW + i * 10;
		get_challenge(a, 200, t, 60, &c[i]);
		if (verify_sol(a, &c[i], "", t) == ERR_BUSY)
			busy++;
		else
			ck_assert_int_eq(verify_sol(a, &c[i], "", t),
			    ERR_REPLAYED);
		if (i > 0 && verify_sol(a, &c[i - 1], "", t) != ERR_EXPIRED)
			ck_assert_int_eq(verify_sol(a, &c[i - 1], "", t),
			    ERR_REPLAYED);
		ck_assert_uint_le(altcha_spent(a), 8);
	}
	/* Six live at a time (60 s at one per 10 s) fit in eight. */
	ck_assert_int_eq(busy, 0);
	altcha_free(a);
}
END_TEST

static void
db_path(char *dir, size_t dlen, char *db, size_t len)
{
	ck_assert_ptr_nonnull(tu_tmpdir(dir, dlen, "check_altcha"));
	ck_assert_ptr_nonnull(tu_path(db, len, dir, "intake.db"));
}

START_TEST(test_key_file)
{
	struct diag	 d = { 0, tu_diag_quiet, NULL };
	unsigned char	 k1[ALTCHA_KEY_LEN], k2[ALTCHA_KEY_LEN];
	char		 dir[64], db[PATH_MAX], path[PATH_MAX];
	struct stat	 st;

	db_path(dir, sizeof(dir), db, sizeof(db));
	ck_assert_ptr_nonnull(tu_path(path, sizeof(path), dir, "altcha.key"));
	ck_assert_int_eq(altcha_key_load(path, 0, k1, &d), ERR_NOTFOUND);
	ck_assert_int_eq(altcha_key_load(path, 1, k1, &d), 0);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 07777, 0600);
	ck_assert_int_eq(st.st_size, ALTCHA_KEY_LEN);
	/* The same key on the next start. */
	ck_assert_int_eq(altcha_key_load(path, 1, k2, &d), 0);
	ck_assert_int_eq(memcmp(k1, k2, sizeof(k1)), 0);
	ck_assert_uint_eq(d.count, 0);
	/* Another file is another key. */
	{
		char	dir2[64], db2[PATH_MAX], path2[PATH_MAX];

		db_path(dir2, sizeof(dir2), db2, sizeof(db2));
		ck_assert_ptr_nonnull(tu_path(path2, sizeof(path2), dir2,
		    "altcha.key"));
		ck_assert_int_eq(altcha_key_load(path2, 1, k2, &d), 0);
		ck_assert_int_ne(memcmp(k1, k2, sizeof(k1)), 0);
		ck_assert_int_eq(tu_rmtree(dir2), 0);
	}
	ck_assert_int_eq(tu_rmtree(dir), 0);
}
END_TEST

START_TEST(test_key_file_refused)
{
	struct buf	 out;
	struct diag	 d = { 0, tu_diag_buf, &out };
	unsigned char	 k[ALTCHA_KEY_LEN];
	char		 dir[64], db[PATH_MAX], path[PATH_MAX];

	buf_init(&out, 0);
	db_path(dir, sizeof(dir), db, sizeof(db));
	ck_assert_ptr_nonnull(tu_path(path, sizeof(path), dir, "altcha.key"));
	ck_assert_int_eq(tu_write_file(path, key, sizeof(key), 0640), 0);
	memset(k, 1, sizeof(k));
	ck_assert_int_eq(altcha_key_load(path, 1, k, &d), ERR_PERM);
	ck_assert_ptr_nonnull(strstr(out.data, "ALTCHA key"));
	ck_assert_ptr_nonnull(strstr(out.data, "chmod 600"));
	ck_assert_ptr_null(strstr(out.data, LIB_KEY));
	ck_assert_int_eq(tu_write_file(path, key, sizeof(key), 0604), 0);
	ck_assert_int_eq(altcha_key_load(path, 1, k, &d), ERR_PERM);
	/* Refused keys are wiped, never half-used. */
	ck_assert_int_eq(sodium_is_zero(k, sizeof(k)), 1);
	/* Short or long, it is no key. */
	ck_assert_int_eq(tu_write_file(path, key, sizeof(key) - 1, 0600), 0);
	ck_assert_int_eq(altcha_key_load(path, 1, k, &d), ERR_MALFORMED);
	ck_assert_int_eq(tu_write_file(path, "0123456789abcdef0123456789abcdef"
	    "x", 33, 0600), 0);
	ck_assert_int_eq(altcha_key_load(path, 1, k, &d), ERR_TOOBIG);
	/* A key file of 32 bytes, 0600 or 0400, is taken as it is. */
	ck_assert_int_eq(tu_write_file(path, key, sizeof(key), 0400), 0);
	ck_assert_int_eq(altcha_key_load(path, 1, k, &d), 0);
	ck_assert_int_eq(memcmp(k, key, sizeof(k)), 0);
	buf_free(&out);
	ck_assert_int_eq(tu_rmtree(dir), 0);
}
END_TEST

Suite *
altcha_suite(void)
{
	Suite	*s = suite_create("altcha");
	TCase	*tc = tcase_create("altcha");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_challenge_format);
	tcase_add_test(tc, test_bad_arguments);
	tcase_add_test(tc, test_number_range);
	tcase_add_test(tc, test_valid_once);
	tcase_add_test(tc, test_widget_payload);
	tcase_add_test(tc, test_altcha_lib_vector);
	tcase_add_test(tc, test_expired);
	tcase_add_test(tc, test_forged);
	tcase_add_test(tc, test_wrong_number);
	tcase_add_test(tc, test_missing);
	tcase_add_test(tc, test_malformed_base64);
	tcase_add_test(tc, test_malformed_json);
	tcase_add_test(tc, test_malformed_fields);
	tcase_add_test(tc, test_wrong_algorithm);
	tcase_add_test(tc, test_oversized);
	tcase_add_test(tc, test_replay_set_full);
	tcase_add_test(tc, test_replay_set_churn);
	tcase_add_test(tc, test_key_file);
	tcase_add_test(tc, test_key_file_refused);
	suite_add_tcase(s, tc);
	return s;
}
