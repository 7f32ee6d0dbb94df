#include <string.h>

#include <sodium.h>

#include "session.h"

void
session_token(char *out)
{
	unsigned char	r[SESSION_TOKEN_LEN];

	randombytes_buf(r, sizeof(r));
	sodium_bin2base64(out, SESSION_TOKEN_STRLEN + 1, r, sizeof(r),
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_memzero(r, sizeof(r));
}

void
session_digest(const char *token, unsigned char out[32])
{
	crypto_hash_sha256(out, (const unsigned char *)token, strlen(token));
}

void
session_csrf(const char *token, char *out)
{
	crypto_hash_sha256_state	h;
	unsigned char			d[32];

	crypto_hash_sha256_init(&h);
	crypto_hash_sha256_update(&h, (const unsigned char *)"intaked-csrf",
	    12);
	crypto_hash_sha256_update(&h, (const unsigned char *)token,
	    strlen(token));
	crypto_hash_sha256_final(&h, d);
	sodium_bin2base64(out, SESSION_TOKEN_STRLEN + 1, d, sizeof(d),
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

int
session_csrf_ok(const char *token, const char *csrf)
{
	char	want[SESSION_TOKEN_STRLEN + 1];

	if (token == NULL || csrf == NULL ||
	    strlen(csrf) != SESSION_TOKEN_STRLEN)
		return 0;
	session_csrf(token, want);
	return sodium_memcmp(want, csrf, SESSION_TOKEN_STRLEN) == 0;
}

int
session_challenge_put(struct store *st, const char *token,
    const char *recipient, int64_t expires_ms)
{
	unsigned char	d[32];

	session_digest(token, d);
	return st->ops->challenge_put(st, d, recipient, expires_ms);
}

int
session_challenge_take(struct store *st, const char *token,
    const char *recipient, int64_t now_ms)
{
	unsigned char	d[32];

	if (token == NULL || strlen(token) != SESSION_TOKEN_STRLEN)
		return ERR_NOTFOUND;
	session_digest(token, d);
	return st->ops->challenge_take(st, d, recipient, now_ms);
}

int
session_put(struct store *st, const char *token, const char *recipient,
    int64_t now_ms)
{
	unsigned char	d[32];

	session_digest(token, d);
	return st->ops->session_put(st, d, recipient, now_ms);
}

int
session_get(struct store *st, const char *token, int64_t now_ms,
    int64_t idle_ms, int64_t max_ms, struct session *s)
{
	unsigned char	d[32];
	int		r;

	if (token == NULL || strlen(token) != SESSION_TOKEN_STRLEN)
		return ERR_NOTFOUND;
	session_digest(token, d);
	if ((r = st->ops->session_get(st, d, s)) != 0)
		return r;
	if (now_ms - s->seen_ms > idle_ms || now_ms - s->created_ms > max_ms) {
		st->ops->session_del(st, d);
		return ERR_NOTFOUND;
	}
	s->seen_ms = now_ms;
	return st->ops->session_touch(st, d, now_ms);
}

int
session_del(struct store *st, const char *token)
{
	unsigned char	d[32];

	if (token == NULL)
		return ERR_NOTFOUND;
	session_digest(token, d);
	return st->ops->session_del(st, d);
}

int
session_gc(struct store *st, int64_t now_ms, int64_t idle_ms, int64_t max_ms)
{
	return st->ops->session_gc(st, now_ms, now_ms - idle_ms,
	    now_ms - max_ms);
}
