/*
 * age v1 (age-encryption.org/v1, C2SP age.md) with X25519 recipients, built
 * on libsodium 1.0.18: X25519, ChaCha20-Poly1305 (IETF), HMAC-SHA-256 and an
 * HKDF-SHA-256 made from the HMAC (1.0.18 has no HKDF of its own).
 *
 * Decryption follows the reference implementation's order of checks, so a
 * file fails here exactly where it fails in `age -d`: header syntax, then
 * the stanzas (an X25519 stanza that is malformed is a header failure, one
 * that is merely not ours is skipped), then the header MAC, then the
 * payload nonce, then STREAM.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "age.h"
#include "clock.h"
#include "fsutil.h"
#include "utf8.h"

#define INTRO		"age-encryption.org/v1"
#define X25519_INFO	"age-encryption.org/v1/X25519"
#define FILE_KEY_LEN	16
#define NONCE_LEN	16	/* payload nonce, the HKDF salt */
#define TAG_LEN		crypto_aead_chacha20poly1305_ietf_ABYTES
#define ENC_CHUNK	(AGE_CHUNK + TAG_LEN)
#define MAC_LEN		crypto_auth_hmacsha256_BYTES
#define LINE_COLS	64	/* base64 columns of a full body line */
#define LINE_BYTES	48	/* bytes in a full body line */
#define B64_32_LEN	43	/* unpadded base64 of 32 bytes */
#define B64_32_SIZE	sodium_base64_ENCODED_LEN(32, B64_VARIANT)
#define B64_VARIANT	sodium_base64_VARIANT_ORIGINAL_NO_PADDING
#define KEYFILE_MAX	(1024 * 1024)

#define RECIPIENT_HRP	"age"
#define IDENTITY_HRP	"age-secret-key-"
#define BECH32_DATA	52	/* 5-bit groups carrying 32 bytes */
#define BECH32_CHECK	6

#define MIN(a, b)	((a) < (b) ? (a) : (b))

struct stanza {
	const char	*args;		/* "type arg…", after "-> " */
	size_t		 argslen;
	size_t		 nargs;		/* including the type */
	unsigned char	 body[32];	/* the first bytes of the body */
	size_t		 bodylen;	/* the whole decoded body length */
};

struct header {
	struct stanza	 st[AGE_MAX_STANZAS];
	size_t		 nst;
	size_t		 maclen;	/* bytes covered by the MAC ("---" incl.) */
	size_t		 len;		/* header bytes, MAC line included */
	unsigned char	 mac[MAC_LEN];
};

struct line_reader {
	const unsigned char	*p;
	size_t			 len;	/* bytes we may look at */
	size_t			 off;	/* start of the next line */
};

struct stream {
	unsigned char	 key[crypto_aead_chacha20poly1305_ietf_KEYBYTES];
	uint64_t	 ctr;
};

struct age_enc {
	struct stream	 s;
	size_t		 have;		/* plaintext bytes buffered in pt */
	unsigned char	 pt[AGE_CHUNK];
	unsigned char	 ct[ENC_CHUNK];
};


/* Wipes b past len (plaintext may be there) and shortens it to len. */
static void
truncate_buf(struct buf *b, size_t len)
{
	if (b->data == NULL || len >= b->len)
		return;
	sodium_memzero(b->data + len, b->len - len);
	b->len = len;
	b->data[len] = '\0';
}

/*
 * HKDF-SHA-256 (RFC 5869) with one 32-byte output block: Extract with salt
 * (an empty salt is the HMAC zero key, as the RFC says), then Expand.
 */
static void
hkdf(unsigned char out[32], const unsigned char *salt, size_t saltlen,
    const unsigned char *ikm, size_t ikmlen, const char *info)
{
	crypto_auth_hmacsha256_state	 st;
	unsigned char			 prk[32];
	const unsigned char		 one = 1, nokey = 0;

	crypto_auth_hmacsha256_init(&st, saltlen ? salt : &nokey, saltlen);
	crypto_auth_hmacsha256_update(&st, ikm, ikmlen);
	crypto_auth_hmacsha256_final(&st, prk);
	crypto_auth_hmacsha256_init(&st, prk, sizeof(prk));
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)info,
	    strlen(info));
	crypto_auth_hmacsha256_update(&st, &one, 1);
	crypto_auth_hmacsha256_final(&st, out);
	sodium_memzero(&st, sizeof(st));
	sodium_memzero(prk, sizeof(prk));
}

/*
 * Decodes canonical unpadded base64 into at most max bytes: 0 or -1.
 * libsodium 1.0.18 classifies characters through a signed char and takes
 * every byte >= 0x80 for a base64 digit, so the alphabet is checked here.
 */
static int
b64_decode(unsigned char *bin, size_t max, const char *s, size_t n,
    size_t *got)
{
	size_t	len = 0, i;

	for (i = 0; i < n; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '+' || s[i] == '/'))
			return -1;
	if (sodium_base642bin(bin, max, s, n, NULL, &len, NULL,
	    B64_VARIANT) != 0)
		return -1;
	*got = len;
	return 0;
}

/* Bech32 (BIP 173) checksum: one step of the BCH polymod. */
static uint32_t
polymod_step(uint32_t chk, unsigned v)
{
	static const uint32_t	gen[5] = { 0x3b6a57b2, 0x26508e6d,
	    0x1ea119fa, 0x3d4233dd, 0x2a1462b3 };
	uint32_t		b = chk >> 25;
	int			i;

	chk = ((chk & 0x1ffffff) << 5) ^ v;
	for (i = 0; i < 5; i++)
		if ((b >> i) & 1)
			chk ^= gen[i];
	return chk;
}

/* The checksum state after the (lowercase) human-readable part. */
static uint32_t
polymod_hrp(const char *hrp)
{
	uint32_t	chk = 1;
	size_t		i, n = strlen(hrp);

	for (i = 0; i < n; i++)
		chk = polymod_step(chk, (unsigned char)hrp[i] >> 5);
	chk = polymod_step(chk, 0);
	for (i = 0; i < n; i++)
		chk = polymod_step(chk, (unsigned char)hrp[i] & 31);
	return chk;
}

static const char	bech32_chars[] = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";

static char
ascii_upper(char c)
{
	return c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
}

static char
ascii_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/*
 * Writes hrp "1" and the Bech32 encoding of 32 bytes to out (which needs
 * strlen(hrp) + 60 bytes), in upper case if upper is set.
 */
static void
bech32_encode(const char *hrp, const unsigned char key[32], int upper,
    char *out)
{
	unsigned	v[BECH32_DATA];
	uint32_t	acc = 0, chk;
	size_t		i, nv = 0, o;
	int		bits = 0;

	for (i = 0; i < 32; i++) {
		acc = (acc << 8) | key[i];
		for (bits += 8; bits >= 5; bits -= 5)
			v[nv++] = (acc >> (bits - 5)) & 31;
	}
	v[nv++] = (acc << (5 - bits)) & 31;	/* zero padding bits */
	chk = polymod_hrp(hrp);
	for (i = 0; i < nv; i++)
		chk = polymod_step(chk, v[i]);
	for (i = 0; i < BECH32_CHECK; i++)
		chk = polymod_step(chk, 0);
	chk ^= 1;
	o = strlen(hrp);
	memcpy(out, hrp, o);
	out[o++] = '1';
	for (i = 0; i < nv; i++)
		out[o++] = bech32_chars[v[i]];
	for (i = 0; i < BECH32_CHECK; i++)
		out[o++] = bech32_chars[(chk >> (5 * (5 - i))) & 31];
	out[o] = '\0';
	for (i = 0; upper && i < o; i++)
		out[i] = ascii_upper(out[i]);
}

/*
 * Lowercases s into lc (checking length, printable ASCII and that s is all
 * in the expected case) and checks the "hrp1" prefix: 0 or -1.
 */
static int
bech32_prepare(const char *s, const char *hrp, int upper, char *lc,
    size_t want)
{
	size_t	i, hl = strlen(hrp);

	if (strnlen(s, want + 1) != want)
		return -1;
	for (i = 0; i < want; i++) {
		if (s[i] < 33 || s[i] > 126)
			return -1;
		if (upper ? (s[i] >= 'a' && s[i] <= 'z') :
		    (s[i] >= 'A' && s[i] <= 'Z'))
			return -1;
		lc[i] = ascii_lower(s[i]);
	}
	lc[want] = '\0';
	if (memcmp(lc, hrp, hl) != 0 || lc[hl] != '1')
		return -1;
	return 0;
}

/*
 * Strict Bech32 decoding of exactly 32 bytes under hrp: exact length, one
 * case (upper or lower as asked), the charset, the checksum, and padding
 * bits that are fewer than 5 and all zero. Returns 0 or ERR_INVAL.
 */
static int
bech32_decode(const char *s, const char *hrp, int upper,
    unsigned char key[32])
{
	char		 lc[AGE_IDENTITY_STRLEN + 1];
	unsigned char	 tmp[32];
	const char	*d, *pos;
	uint32_t	 acc = 0, chk;
	size_t		 i, o = 0, hl = strlen(hrp);
	int		 bits = 0, r = ERR_INVAL;

	if (bech32_prepare(s, hrp, upper, lc, hl + 1 + BECH32_DATA +
	    BECH32_CHECK) == -1)
		goto out;
	d = lc + hl + 1;
	chk = polymod_hrp(hrp);
	for (i = 0; i < BECH32_DATA + BECH32_CHECK; i++) {
		if ((pos = strchr(bech32_chars, d[i])) == NULL)
			goto out;
		chk = polymod_step(chk, (unsigned)(pos - bech32_chars));
		if (i >= BECH32_DATA)
			continue;
		acc = ((acc << 5) | (unsigned)(pos - bech32_chars)) & 0xfff;
		if ((bits += 5) >= 8) {
			bits -= 8;
			tmp[o++] = (unsigned char)(acc >> bits);
		}
	}
	if (chk == 1 && bits < 5 && (acc & ((1u << bits) - 1)) == 0) {
		memcpy(key, tmp, sizeof(tmp));
		r = 0;
	}
out:
	sodium_memzero(tmp, sizeof(tmp));
	sodium_memzero(lc, sizeof(lc));
	return r;
}

int
age_identity_generate(struct age_identity *id)
{
	if (sodium_init() < 0)
		return ERR_NOMEM;
	do
		randombytes_buf(id->sk, sizeof(id->sk));
	while (crypto_scalarmult_base(id->pk, id->sk) != 0);
	return 0;
}

/* Parses age1…; r is written only on success, without a label. */
int
age_recipient_parse(const char *s, struct age_recipient *r)
{
	unsigned char	pk[AGE_KEY_LEN];

	if (s == NULL || bech32_decode(s, RECIPIENT_HRP, 0, pk) != 0)
		return ERR_INVAL;
	memcpy(r->pk, pk, sizeof(r->pk));
	r->label[0] = '\0';
	return 0;
}

int
age_is_secret_key(const char *s)
{
	return s != NULL && strncasecmp(s, "AGE-SECRET-KEY-", 15) == 0;
}

int
age_recipient_format(const struct age_recipient *r, char *out)
{
	bech32_encode(RECIPIENT_HRP, r->pk, 0, out);
	return 0;
}

/*
 * Parses AGE-SECRET-KEY-1… and derives the public key; id is written only
 * on success.
 */
int
age_identity_parse(const char *s, struct age_identity *id)
{
	struct age_identity	t;
	int			r = ERR_INVAL;

	if (s != NULL && bech32_decode(s, IDENTITY_HRP, 1, t.sk) == 0 &&
	    crypto_scalarmult_base(t.pk, t.sk) == 0) {
		*id = t;
		r = 0;
	}
	sodium_memzero(&t, sizeof(t));
	return r;
}

int
age_identity_format(const struct age_identity *id, char *out)
{
	bech32_encode(IDENTITY_HRP, id->sk, 1, out);
	return 0;
}

void
age_identity_recipient(const struct age_identity *id,
    struct age_recipient *r)
{
	memcpy(r->pk, id->pk, sizeof(r->pk));
	r->label[0] = '\0';
}

void
age_identities_wipe(struct age_identity *ids, size_t n)
{
	if (ids != NULL && n > 0)
		sodium_memzero(ids, n * sizeof(*ids));
}

/*
 * Header parsing. Every line must end in LF within the first
 * AGE_MAX_HEADER bytes; anything else is a header failure.
 */

/* Sets *line / *n to the next line without its LF: 0, or -1 if none. */
static int
read_line(struct line_reader *lr, const char **line, size_t *n)
{
	const unsigned char	*start, *nl;

	if (lr->off >= lr->len)
		return -1;
	start = lr->p + lr->off;
	if ((nl = memchr(start, '\n', lr->len - lr->off)) == NULL)
		return -1;
	*line = (const char *)start;
	*n = (size_t)(nl - start);
	lr->off += *n + 1;
	return 0;
}

/*
 * Counts the arguments of a stanza line (type included): single spaces
 * between non-empty arguments of printable ASCII. Returns 0 if malformed.
 */
static size_t
count_args(const char *a, size_t n)
{
	size_t	i, count = 1;

	if (n == 0)
		return 0;
	for (i = 0; i < n; i++) {
		if (a[i] == ' ') {
			if (i == 0 || i + 1 == n || a[i - 1] == ' ')
				return 0;
			count++;
		} else if (a[i] < 33 || a[i] > 126)
			return 0;
	}
	return count;
}

/*
 * Reads a stanza body: full 64-column lines ended by exactly one shorter
 * (possibly empty) line, each canonical unpadded base64. Keeps the first
 * bytes and the total length in s.
 */
static int
read_body(struct line_reader *lr, struct stanza *s)
{
	unsigned char	 tmp[LINE_BYTES];
	const char	*line;
	size_t		 n, got;

	s->bodylen = 0;
	for (;;) {
		if (read_line(lr, &line, &n) == -1 || n > LINE_COLS)
			return ERR_MALFORMED;
		if (b64_decode(tmp, sizeof(tmp), line, n, &got) == -1)
			return ERR_MALFORMED;
		if (s->bodylen < sizeof(s->body))
			memcpy(s->body + s->bodylen, tmp,
			    MIN(got, sizeof(s->body) - s->bodylen));
		s->bodylen += got;
		if (n < LINE_COLS)
			return 0;
	}
}

static int
parse_stanza(struct line_reader *lr, const char *line, size_t n,
    struct stanza *s)
{
	if (n < 3 || memcmp(line, "-> ", 3) != 0)
		return ERR_MALFORMED;
	s->args = line + 3;
	s->argslen = n - 3;
	if ((s->nargs = count_args(s->args, s->argslen)) == 0)
		return ERR_MALFORMED;
	return read_body(lr, s);
}

/* The footer: "---", one space, the canonical base64 of the 32-byte MAC. */
static int
parse_mac(const char *line, size_t n, unsigned char mac[MAC_LEN])
{
	size_t	got;

	if (n != 4 + B64_32_LEN || memcmp(line, "--- ", 4) != 0)
		return ERR_MALFORMED;
	if (b64_decode(mac, MAC_LEN, line + 4, B64_32_LEN, &got) == -1 ||
	    got != MAC_LEN)
		return ERR_MALFORMED;
	return 0;
}

/*
 * Parses the header at the start of ct into h (which points into ct).
 * Because every part must be canonical, the raw bytes are exactly the
 * canonical serialisation the MAC is computed over.
 */
static int
parse_header(const unsigned char *ct, size_t ctlen, struct header *h)
{
	struct line_reader	 lr = { ct, MIN(ctlen, AGE_MAX_HEADER), 0 };
	const char		*line;
	size_t			 n, start;
	int			 r;

	if (read_line(&lr, &line, &n) == -1 || n != strlen(INTRO) ||
	    memcmp(line, INTRO, n) != 0)
		return ERR_MALFORMED;
	for (h->nst = 0;; h->nst++) {
		start = lr.off;
		if (read_line(&lr, &line, &n) == -1)
			return ERR_MALFORMED;
		if (n >= 3 && memcmp(line, "---", 3) == 0) {
			h->maclen = start + 3;
			h->len = lr.off;
			return parse_mac(line, n, h->mac);
		}
		if (h->nst == AGE_MAX_STANZAS)
			return ERR_MALFORMED;
		if ((r = parse_stanza(&lr, line, n, &h->st[h->nst])) != 0)
			return r;
	}
}

/*
 * Tries one identity on one stanza. Returns 1 with the file key if it
 * unwraps, 0 if the stanza is not for this identity (another type, or the
 * AEAD fails), ERR_MALFORMED if it is an X25519 stanza that is malformed or
 * yields the all-zero shared secret.
 */
static int
unwrap_x25519(const struct age_identity *id, const struct stanza *s,
    unsigned char fk[FILE_KEY_LEN])
{
	static const unsigned char	zero_nonce[12];
	unsigned char			share[32], shared[32], salt[64];
	unsigned char			key[32];
	size_t				got;
	int				r = ERR_MALFORMED;

	if (s->argslen < 6 || memcmp(s->args, "X25519", 6) != 0 ||
	    (s->argslen > 6 && s->args[6] != ' '))
		return 0;
	if (s->nargs != 2 || s->bodylen != FILE_KEY_LEN + TAG_LEN ||
	    b64_decode(share, sizeof(share), s->args + 7, s->argslen - 7,
	    &got) == -1 || got != sizeof(share))
		return ERR_MALFORMED;
	if (crypto_scalarmult(shared, id->sk, share) != 0)
		goto out;
	memcpy(salt, share, 32);
	memcpy(salt + 32, id->pk, 32);
	hkdf(key, salt, sizeof(salt), shared, sizeof(shared), X25519_INFO);
	r = crypto_aead_chacha20poly1305_ietf_decrypt(fk, NULL, NULL,
	    s->body, FILE_KEY_LEN + TAG_LEN, NULL, 0, zero_nonce, key) == 0;
out:
	sodium_memzero(shared, sizeof(shared));
	sodium_memzero(key, sizeof(key));
	return r;
}

/* Each identity in turn against every stanza, as the reference does. */
static int
find_file_key(const struct age_identity *ids, size_t nids,
    const struct header *h, unsigned char fk[FILE_KEY_LEN])
{
	size_t	i, j;
	int	r;

	for (i = 0; i < nids; i++)
		for (j = 0; j < h->nst; j++)
			if ((r = unwrap_x25519(&ids[i], &h->st[j], fk)) != 0)
				return r < 0 ? r : 0;
	return ERR_NOKEY;
}

/* Compares the header MAC in constant time. */
static int
check_mac(const unsigned char fk[FILE_KEY_LEN], const unsigned char *ct,
    const struct header *h)
{
	unsigned char	key[32], mac[MAC_LEN];
	int		r;

	hkdf(key, NULL, 0, fk, FILE_KEY_LEN, "header");
	crypto_auth_hmacsha256(mac, ct, h->maclen, key);
	r = crypto_verify_32(mac, h->mac) == 0 ? 0 : ERR_AUTH;
	sodium_memzero(key, sizeof(key));
	return r;
}

/* STREAM nonce: 11-byte big-endian counter, then the last-chunk flag. */
static void
stream_nonce(unsigned char nonce[12], uint64_t ctr, int last)
{
	int	i;

	memset(nonce, 0, 12);
	for (i = 0; i < 8; i++)
		nonce[10 - i] = (unsigned char)(ctr >> (8 * i));
	nonce[11] = last ? 1 : 0;
}

/*
 * Opens one chunk c (n >= TAG_LEN bytes) and appends its plaintext to out.
 * Returns 0, ERR_PAYLOAD (out unchanged) or ERR_NOMEM.
 */
static int
open_chunk(const struct stream *s, int last, const unsigned char *c,
    size_t n, struct buf *out)
{
	unsigned char	nonce[12];
	size_t		off = out->len, ptlen = n - TAG_LEN;

	/* Reserve room: the ciphertext is overwritten by the plaintext. */
	if (buf_append(out, c, ptlen) != 0)
		return ERR_NOMEM;
	stream_nonce(nonce, s->ctr, last);
	if (crypto_aead_chacha20poly1305_ietf_decrypt_detached(
	    (unsigned char *)out->data + off, NULL, c, ptlen, c + ptlen,
	    NULL, 0, nonce, s->key) != 0) {
		truncate_buf(out, off);
		return ERR_PAYLOAD;
	}
	return 0;
}

/*
 * Decrypts the STREAM payload p (after the nonce). A short chunk is the
 * last one; a full chunk is tried as a middle chunk and then as the last.
 * The last chunk may be empty only if it is the only one, and nothing may
 * follow it. Verified plaintext is appended to out as it is opened.
 */
static int
stream_open(struct stream *s, const unsigned char *p, size_t len,
    struct buf *out)
{
	size_t	n;
	int	last, r;

	for (s->ctr = 0;; s->ctr++) {
		n = MIN(len, (size_t)ENC_CHUNK);
		last = n < ENC_CHUNK;
		if (n < TAG_LEN || (last && n == TAG_LEN && s->ctr > 0))
			return ERR_PAYLOAD;
		r = open_chunk(s, last, p, n, out);
		if (r == ERR_PAYLOAD && !last) {
			last = 1;
			r = open_chunk(s, last, p, n, out);
		}
		if (r != 0)
			return r;
		p += n;
		len -= n;
		if (last)
			return len == 0 ? 0 : ERR_PAYLOAD;
	}
}

int
age_decrypt(const struct age_identity *ids, size_t nids, const void *ct,
    size_t ctlen, struct buf *out)
{
	const unsigned char	*c = ct;
	struct header		*h;
	struct stream		 s;
	unsigned char		 fk[FILE_KEY_LEN];
	size_t			 off;
	int			 r;

	if (ids == NULL || nids == 0 || out == NULL || (ct == NULL && ctlen))
		return ERR_INVAL;
	off = out->len;
	if (sodium_init() < 0 || (h = malloc(sizeof(*h))) == NULL)
		return ERR_NOMEM;
	if (ctlen == 0 || (r = parse_header(c, ctlen, h)) != 0) {
		r = ERR_MALFORMED;
		goto out;
	}
	if ((r = find_file_key(ids, nids, h, fk)) != 0 ||
	    (r = check_mac(fk, c, h)) != 0)
		goto out;
	if (ctlen - h->len < NONCE_LEN) {
		r = ERR_MALFORMED;
		goto out;
	}
	hkdf(s.key, c + h->len, NONCE_LEN, fk, FILE_KEY_LEN, "payload");
	r = stream_open(&s, c + h->len + NONCE_LEN,
	    ctlen - h->len - NONCE_LEN, out);
	if (r == ERR_NOMEM)
		truncate_buf(out, off);
out:
	sodium_memzero(fk, sizeof(fk));
	sodium_memzero(&s, sizeof(s));
	free(h);
	return r;
}

/*
 * Encryption.
 */

/* Appends one X25519 stanza wrapping fk to r, with a fresh ephemeral key. */
static int
wrap_x25519(const struct age_recipient *r, const unsigned char *fk,
    struct buf *out)
{
	static const unsigned char	zero_nonce[12];
	unsigned char			e[32], share[32], shared[32], salt[64];
	unsigned char			key[32], body[FILE_KEY_LEN + TAG_LEN];
	char				share64[B64_32_SIZE], body64[B64_32_SIZE];
	int				rc = ERR_INVAL;

	randombytes_buf(e, sizeof(e));
	/* A low-order recipient key would give the all-zero secret. */
	if (crypto_scalarmult_base(share, e) != 0 ||
	    crypto_scalarmult(shared, e, r->pk) != 0)
		goto out;
	memcpy(salt, share, 32);
	memcpy(salt + 32, r->pk, 32);
	hkdf(key, salt, sizeof(salt), shared, sizeof(shared), X25519_INFO);
	crypto_aead_chacha20poly1305_ietf_encrypt(body, NULL, fk,
	    FILE_KEY_LEN, NULL, 0, NULL, zero_nonce, key);
	sodium_bin2base64(share64, sizeof(share64), share, sizeof(share),
	    B64_VARIANT);
	sodium_bin2base64(body64, sizeof(body64), body, sizeof(body),
	    B64_VARIANT);
	rc = buf_printf(out, "-> X25519 %s\n%s\n", share64, body64) ==
	    0 ? 0 : ERR_NOMEM;
out:
	sodium_memzero(e, sizeof(e));
	sodium_memzero(shared, sizeof(shared));
	sodium_memzero(key, sizeof(key));
	return rc;
}

/* Appends the canonical header (one stanza per recipient) and its MAC. */
static int
write_header(const struct age_recipient *r, size_t nr,
    const unsigned char *fk, struct buf *out)
{
	unsigned char	key[32], mac[MAC_LEN];
	char		mac64[B64_32_SIZE];
	size_t		i, off = out->len;
	int		rc;

	if (buf_puts(out, INTRO "\n") != 0)
		return ERR_NOMEM;
	for (i = 0; i < nr; i++)
		if ((rc = wrap_x25519(&r[i], fk, out)) != 0)
			return rc;
	if (buf_puts(out, "---") != 0)
		return ERR_NOMEM;
	hkdf(key, NULL, 0, fk, FILE_KEY_LEN, "header");
	crypto_auth_hmacsha256(mac, (const unsigned char *)out->data + off,
	    out->len - off, key);
	sodium_memzero(key, sizeof(key));
	sodium_bin2base64(mac64, sizeof(mac64), mac, sizeof(mac),
	    B64_VARIANT);
	if (buf_printf(out, " %s\n", mac64) != 0)
		return ERR_NOMEM;
	return 0;
}

/*
 * Starts an age file: a fresh file key, the header, the payload nonce,
 * and the payload key in s. On failure out may hold a partial header.
 */
static int
begin_file(const struct age_recipient *r, size_t nr, struct stream *s,
    struct buf *out)
{
	unsigned char	fk[FILE_KEY_LEN], nonce[NONCE_LEN];
	int		rc;

	if (r == NULL || nr == 0 || nr > AGE_MAX_STANZAS)
		return ERR_INVAL;
	if (sodium_init() < 0)
		return ERR_NOMEM;
	randombytes_buf(fk, sizeof(fk));
	randombytes_buf(nonce, sizeof(nonce));
	rc = write_header(r, nr, fk, out);
	if (rc == 0 && buf_append(out, nonce, sizeof(nonce)) != 0)
		rc = ERR_NOMEM;
	hkdf(s->key, nonce, sizeof(nonce), fk, sizeof(fk), "payload");
	s->ctr = 0;
	sodium_memzero(fk, sizeof(fk));
	return rc;
}

/*
 * Seals n bytes of pt as the next chunk through scratch (n + TAG_LEN
 * bytes) and appends it to out, so plaintext never lands in out.
 */
static int
seal_chunk(struct stream *s, int last, const unsigned char *pt, size_t n,
    unsigned char *scratch, struct buf *out)
{
	unsigned char	nonce[12];

	stream_nonce(nonce, s->ctr, last);
	crypto_aead_chacha20poly1305_ietf_encrypt(scratch, NULL, pt, n, NULL,
	    0, NULL, nonce, s->key);
	if (buf_append(out, scratch, n + TAG_LEN) != 0)
		return ERR_NOMEM;
	s->ctr++;
	return 0;
}

int
age_encrypt(const struct age_recipient *r, size_t nr, const void *pt,
    size_t ptlen, struct buf *out)
{
	const unsigned char	*p = ptlen ? pt : (const unsigned char *)"";
	unsigned char		*scratch;
	struct stream		 s;
	size_t			 off, n;
	int			 rc;

	if (out == NULL || (pt == NULL && ptlen))
		return ERR_INVAL;
	if ((scratch = malloc(MIN(ptlen, AGE_CHUNK) + TAG_LEN)) == NULL)
		return ERR_NOMEM;
	off = out->len;
	if ((rc = begin_file(r, nr, &s, out)) != 0)
		goto out;
	do {
		n = MIN(ptlen, AGE_CHUNK);
		rc = seal_chunk(&s, n == ptlen, p, n, scratch, out);
		p += n;
		ptlen -= n;
	} while (rc == 0 && ptlen > 0);
out:
	if (rc != 0)
		truncate_buf(out, off);
	sodium_memzero(&s, sizeof(s));
	free(scratch);
	return rc;
}

static void
enc_free(struct age_enc *e)
{
	if (e == NULL)
		return;
	sodium_memzero(&e->s, sizeof(e->s));
	sodium_memzero(e->pt, sizeof(e->pt));
	free(e);
}

/* Allocates the state (the caller owns it) and appends the header. */
int
age_enc_begin(struct age_enc **ep, const struct age_recipient *r,
    size_t nr, struct buf *out)
{
	struct age_enc	*e;
	size_t		 off;
	int		 rc;

	if (ep == NULL || out == NULL)
		return ERR_INVAL;
	*ep = NULL;
	if ((e = malloc(sizeof(*e))) == NULL)
		return ERR_NOMEM;
	e->have = 0;
	off = out->len;
	if ((rc = begin_file(r, nr, &e->s, out)) != 0) {
		truncate_buf(out, off);
		enc_free(e);
		return rc;
	}
	*ep = e;
	return 0;
}

/*
 * Buffers p and appends every chunk known not to be the last one: a full
 * chunk is sealed only once more input arrives, since a plaintext that is
 * an exact multiple of 64 KiB ends with a full final chunk.
 */
int
age_enc_update(struct age_enc *e, const void *p, size_t len, struct buf *out)
{
	const unsigned char	*in = p;
	size_t			 n;
	int			 rc;

	if (e == NULL || out == NULL || (p == NULL && len))
		return ERR_INVAL;
	while (len > 0) {
		if (e->have == AGE_CHUNK) {
			rc = seal_chunk(&e->s, 0, e->pt, AGE_CHUNK, e->ct, out);
			if (rc != 0)
				return rc;
			e->have = 0;
		}
		n = MIN(len, AGE_CHUNK - e->have);
		if (e->have == 0 && len > AGE_CHUNK) {
			/* Skip the copy: more input follows this chunk. */
			if ((rc = seal_chunk(&e->s, 0, in, n, e->ct, out)) !=
			    0)
				return rc;
		} else {
			memcpy(e->pt + e->have, in, n);
			e->have += n;
		}
		in += n;
		len -= n;
	}
	return 0;
}

int
age_enc_finish(struct age_enc *e, struct buf *out)
{
	int	rc;

	if (e == NULL)
		return ERR_INVAL;
	if (out == NULL)
		rc = ERR_INVAL;
	else
		rc = seal_chunk(&e->s, 1, e->pt, e->have, e->ct, out);
	enc_free(e);
	return rc;
}

void
age_enc_abort(struct age_enc *e)
{
	enc_free(e);
}

/*
 * Key files.
 */

struct keyfile {
	const char	*path;
	char		*text;		/* the whole file, NUL-terminated */
	size_t		 len;
	size_t		 off;		/* start of the next line */
	int		 lineno;
	struct diag	*d;
	const char	*label;		/* "# label:" just above, or NULL */
};

#define LABEL_TAG	"# label:"

/* Reports a problem with errno kept intact for the caller. */
static int
keyfile_err(struct keyfile *kf, int rc, int line, const char *msg)
{
	int	saved = errno;

	diag(kf->d, kf->path, line, "%s", msg);
	errno = saved;
	return rc;
}

/* Reads fd into kf->text (at most KEYFILE_MAX bytes). */
static int
keyfile_slurp(struct keyfile *kf, int fd)
{
	ssize_t	n;

	/* One allocation, so no realloc leaves key copies behind. */
	if ((kf->text = malloc(KEYFILE_MAX + 1)) == NULL)
		return keyfile_err(kf, ERR_NOMEM, 0, "out of memory");
	kf->len = 0;
	while (kf->len <= KEYFILE_MAX) {
		n = read(fd, kf->text + kf->len, KEYFILE_MAX + 1 - kf->len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return keyfile_err(kf, ERR_IO, 0, strerror(errno));
		if (n == 0)
			break;
		kf->len += (size_t)n;
	}
	if (kf->len > KEYFILE_MAX)
		return keyfile_err(kf, ERR_INVAL, 0, "file too large");
	kf->text[kf->len] = '\0';
	return 0;
}

static int
keyfile_open(struct keyfile *kf, const char *path, struct diag *d)
{
	int	fd, rc;

	memset(kf, 0, sizeof(*kf));
	kf->path = path;
	kf->d = d;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return keyfile_err(kf, ERR_IO, 0, strerror(errno));
	rc = keyfile_slurp(kf, fd);
	close(fd);
	return rc;
}

static void
keyfile_close(struct keyfile *kf)
{
	if (kf->text != NULL)
		sodium_memzero(kf->text, kf->len);
	free(kf->text);
	kf->text = NULL;
}

/*
 * Returns the next line that is neither blank nor a '#' comment, without
 * its LF (or CRLF), NUL-terminated in place; NULL at the end. A line with
 * a NUL byte in it is returned as "\1" so that it fails to parse.
 */
static const char *
keyfile_next(struct keyfile *kf)
{
	char		*line, *nl;
	size_t		 n;

	while (kf->off < kf->len) {
		line = kf->text + kf->off;
		nl = memchr(line, '\n', kf->len - kf->off);
		n = nl ? (size_t)(nl - line) : kf->len - kf->off;
		kf->off += n + (nl != NULL);
		kf->lineno++;
		line[n] = '\0';
		if (n > 0 && line[n - 1] == '\r')
			line[--n] = '\0';
		if (strlen(line) != n)
			return "\1";
		if (n > 0 && line[0] != '#')
			return line;
		/* A label names the key on the very next line only. */
		kf->label = strncmp(line, LABEL_TAG, strlen(LABEL_TAG)) == 0 ?
		    line + strlen(LABEL_TAG) : NULL;
	}
	return NULL;
}

/* The label text after "# label:", trimmed, hidden characters as '?',
   cut on a character boundary. */
static void
label_copy(const char *s, char *out)
{
	const unsigned char	*p = (const unsigned char *)s;
	size_t			 n = 0, len, left = strlen(s);
	uint32_t		 cp;

	while (left > 0 && (*p == ' ' || *p == '\t')) {
		p++;
		left--;
	}
	for (; left > 0; p += len, left -= len) {
		if ((len = utf8_decode(p, left, &cp)) == 0 || utf8_hidden(cp)) {
			len = len ? len : 1;
			if (n + 1 > AGE_LABEL_MAX)
				break;
			out[n++] = '?';
			continue;
		}
		if (n + len > AGE_LABEL_MAX)
			break;
		memcpy(out + n, p, len);
		n += len;
	}
	while (n > 0 && out[n - 1] == ' ')
		n--;
	out[n] = '\0';
}

/* Parses the recipient lines of kf into got (AGE_MAX_STANZAS entries). */
static int
recipients_parse(struct keyfile *kf, struct age_recipient *got,
    size_t *ngot)
{
	const char	*line;
	int		 rc = 0;

	*ngot = 0;
	while ((line = keyfile_next(kf)) != NULL) {
		if (*ngot == AGE_MAX_STANZAS)
			return keyfile_err(kf, ERR_INVAL, kf->lineno,
			    "too many recipients");
		if (age_recipient_parse(line, &got[*ngot]) == 0) {
			if (kf->label != NULL)
				label_copy(kf->label, got[*ngot].label);
			(*ngot)++;
		}
		else if (age_is_secret_key(line))
			rc = keyfile_err(kf, ERR_INVAL, kf->lineno,
			    AGE_SECRET_HERE);
		else
			rc = keyfile_err(kf, ERR_INVAL, kf->lineno,
			    "invalid recipient: expected an age1… public key");
		kf->label = NULL;
	}
	if (rc == 0 && *ngot == 0)
		rc = keyfile_err(kf, ERR_INVAL, 0, "no recipients");
	return rc;
}

/* Appends got to *r / *n, keeping the total within AGE_MAX_STANZAS. */
static int
recipients_append(struct keyfile *kf, struct age_recipient **r, size_t *n,
    const struct age_recipient *got, size_t ngot)
{
	struct age_recipient	*all;

	if (*n + ngot > AGE_MAX_STANZAS)
		return keyfile_err(kf, ERR_INVAL, 0, "too many recipients");
	if ((all = realloc(*r, (*n + ngot) * sizeof(*all))) == NULL)
		return keyfile_err(kf, ERR_NOMEM, 0, "out of memory");
	memcpy(all + *n, got, ngot * sizeof(*got));
	*r = all;
	*n += ngot;
	return 0;
}

int
age_recipients_file_read(const char *path, struct age_recipient **r,
    size_t *n, struct diag *d)
{
	struct diag		dummy = { 0, NULL, NULL };
	struct keyfile		kf;
	struct age_recipient	got[AGE_MAX_STANZAS];
	size_t			ngot;
	int			rc;

	if (path == NULL || r == NULL || n == NULL)
		return ERR_INVAL;
	if ((rc = keyfile_open(&kf, path, d ? d : &dummy)) == 0 &&
	    (rc = recipients_parse(&kf, got, &ngot)) == 0)
		rc = recipients_append(&kf, r, n, got, ngot);
	keyfile_close(&kf);
	return rc;
}

/* Replaces *ids with a guarded copy holding *n + ngot entries. */
static int
identities_append(struct age_identity **ids, size_t *n,
    const struct age_identity *got, size_t ngot)
{
	struct age_identity	*all;

	if (*n > SIZE_MAX / sizeof(*all) - ngot ||
	    (all = sodium_allocarray(*n + ngot, sizeof(*all))) == NULL)
		return ERR_NOMEM;
	if (*n > 0)
		memcpy(all, *ids, *n * sizeof(*all));
	memcpy(all + *n, got, ngot * sizeof(*all));
	age_identities_free(*ids, *n);
	*ids = all;
	*n += ngot;
	return 0;
}

/* Parses the identity lines of kf into got (AGE_MAX_STANZAS entries). */
static int
identities_parse(struct keyfile *kf, struct age_identity *got, size_t *ngot)
{
	const char	*line;
	int		 rc = 0;

	*ngot = 0;
	while ((line = keyfile_next(kf)) != NULL) {
		if (*ngot == AGE_MAX_STANZAS)
			return keyfile_err(kf, ERR_INVAL, kf->lineno,
			    "too many identities");
		if (age_identity_parse(line, &got[*ngot]) == 0)
			(*ngot)++;
		else
			rc = keyfile_err(kf, ERR_INVAL, kf->lineno,
			    "invalid identity: expected AGE-SECRET-KEY-1…");
	}
	if (rc == 0 && *ngot == 0)
		rc = keyfile_err(kf, ERR_INVAL, 0, "no identities");
	return rc;
}

int
age_identities_file_read(const char *path, struct age_identity **ids,
    size_t *n, struct diag *d)
{
	struct diag		 dummy = { 0, NULL, NULL };
	struct keyfile		 kf;
	struct age_identity	*got;
	size_t			 ngot = 0;
	int			 rc;

	if (path == NULL || ids == NULL || n == NULL)
		return ERR_INVAL;
	if (sodium_init() < 0)
		return ERR_NOMEM;
	got = sodium_allocarray(AGE_MAX_STANZAS, sizeof(*got));
	if (got == NULL)
		return ERR_NOMEM;
	if ((rc = keyfile_open(&kf, path, d ? d : &dummy)) == 0 &&
	    (rc = identities_parse(&kf, got, &ngot)) == 0 &&
	    (rc = identities_append(ids, n, got, ngot)) != 0)
		keyfile_err(&kf, rc, 0, "out of memory");
	keyfile_close(&kf);
	sodium_free(got);	/* wipes */
	return rc;
}

void
age_identities_free(struct age_identity *ids, size_t n)
{
	(void)n;	/* sodium_free wipes the whole allocation */
	if (ids != NULL)
		sodium_free(ids);
}

/* The age-keygen file text for id, into text (at most size bytes). */
static int
identity_text(const struct age_identity *id, char *text, size_t size)
{
	struct age_recipient	r;
	char			rs[AGE_RECIPIENT_STRLEN + 1];
	char			is[AGE_IDENTITY_STRLEN + 1];
	char			when[CLOCK_RFC3339_LEN];
	int			len;

	clock_rfc3339_s(clock_now_ms(), when);
	age_identity_recipient(id, &r);
	age_recipient_format(&r, rs);
	age_identity_format(id, is);
	len = snprintf(text, size, "# created: %s\n# public key: %s\n%s\n",
	    when, rs, is);
	sodium_memzero(is, sizeof(is));
	return len < 0 || (size_t)len >= size ? -1 : len;
}

/* Creates path (0600, never an existing file) holding text, synced. */
static int
write_new_file(const char *path, const char *text, size_t len)
{
	int	fd, saved;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd == -1)
		return errno == EEXIST ? ERR_EXIST : ERR_IO;
	if (fs_write_all(fd, text, len) == -1 || fsync(fd) == -1) {
		saved = errno;
		close(fd);
		unlink(path);
		errno = saved;
		return ERR_IO;
	}
	if (close(fd) == -1) {
		saved = errno;
		unlink(path);
		errno = saved;
		return ERR_IO;
	}
	return 0;
}

int
age_identity_file_write(const char *path, const struct age_identity *id)
{
	char	text[256];
	int	len, rc;

	if (path == NULL || id == NULL)
		return ERR_INVAL;
	if ((len = identity_text(id, text, sizeof(text))) < 0)
		return ERR_INVAL;
	if (strcmp(path, "-") == 0) {
		/* Keep order with anything the caller printed with stdio. */
		rc = fflush(stdout) == EOF ||
		    fs_write_all(STDOUT_FILENO, text, (size_t)len) == -1 ?
		    ERR_IO : 0;
	} else
		rc = write_new_file(path, text, (size_t)len);
	sodium_memzero(text, sizeof(text));
	return rc;
}
