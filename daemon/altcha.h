#ifndef INTAKE_ALTCHA_H
#define INTAKE_ALTCHA_H

#include "err.h"

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "log.h"

/*
 * Self-hosted proof of work, compatible with the ALTCHA widget's v1
 * challenge (npm altcha 3.x solves it; altcha-lib/v1 makes and checks the
 * same). A challenge is
 *   {"algorithm":"SHA-256","challenge":C,"maxnumber":M,"salt":S,
 *    "signature":G}
 * where S is random hex ending in "?expires=UNIX&", N a secret number in
 * [0, M], C = hex(SHA-256(S || decimal(N))) and G = hex(HMAC-SHA-256(key,
 * C)). The browser finds N by trying numbers; the submission carries
 * base64 of {"algorithm","challenge","number","salt","signature"} (the
 * widget adds "took", its solving time, which is ignored).
 *
 * Nothing is stored per challenge handed out: the signature makes it
 * self-verifying. Only solutions accepted are remembered, in a replay set
 * of at most replay_max entries, each until its challenge expires, so
 * each challenge is accepted once. When the set is full of unexpired
 * entries, new solutions are refused (ERR_BUSY) rather than an unexpired
 * entry forgotten, which would let its solution be replayed: a flood of
 * solved challenges costs the flooder one proof of work each, and then
 * costs everyone a 503 until the oldest expire (at most the lifetime).
 *
 * A challenge is good for every form using the same struct altcha; forms
 * with different difficulties (maxnumber) should not share one, or the
 * cheapest one's challenges pass for all.
 *
 * Not thread-safe: used from the loop only. Times are Unix seconds of the
 * wall clock, as the salt's "expires" is.
 */

#define ALTCHA_KEY_LEN		32
#define ALTCHA_KEY_FILE		"altcha.key"
#define ALTCHA_PAYLOAD_MAX	1024	/* base64 bytes; a real one is ~350 */
#define ALTCHA_MAXNUMBER_MAX	10000000ul
#define ALTCHA_TTL_MAX		86400u
#define ALTCHA_REPLAY_MAX	(1u << 22)	/* replay_max's bound */
/* What a caller should pass as replay_max without a better idea: about
   5 MiB when full, 100000 solved challenges per challenge lifetime. */
#define ALTCHA_REPLAY_DEFAULT	100000u

struct altcha;

/*
 * Makes a verifier signing with key (copied; the caller may wipe its own)
 * that remembers up to replay_max accepted solutions (1 to
 * ALTCHA_REPLAY_MAX). Returns 0 with *out owned by the caller (free with
 * altcha_free), ERR_INVAL or ERR_NOMEM.
 */
int	altcha_new(const unsigned char key[ALTCHA_KEY_LEN], size_t replay_max,
	    struct altcha **out);
/* Wipes the key and frees everything; NULL is fine. */
void	altcha_free(struct altcha *);

/*
 * Appends a new challenge as JSON to json_out: a secret number in [0,
 * maxnumber] (1 to ALTCHA_MAXNUMBER_MAX), expiring ttl_s seconds (1 to
 * ALTCHA_TTL_MAX) after now_s. Returns 0, ERR_INVAL, or ERR_NOMEM /
 * ERR_TOOBIG from the buffer (json_out then holds what it held before).
 * The answer must not be cached (a cache would hand one challenge to
 * many clients, and only the first would get through).
 */
int	altcha_challenge(const struct altcha *, unsigned long maxnumber,
	    int64_t now_s, unsigned ttl_s, struct buf *json_out);

/*
 * Checks a submission's altcha value (payload, len bytes, not necessarily
 * NUL-terminated) at now_s and, when it is good, spends its challenge.
 * Returns 0 for a solution accepted now, and otherwise says why:
 *   ERR_NOTFOUND   missing (NULL or empty);
 *   ERR_MALFORMED  not what the widget sends: longer than
 *                  ALTCHA_PAYLOAD_MAX, not canonical padded base64, not a
 *                  JSON object of exactly those members and types, another
 *                  algorithm, hex that is not 64 lowercase digits, a number
 *                  out of range, a salt not of the form hex?expires=N&;
 *   ERR_AUTH       decoded, but the number does not solve the challenge
 *                  or the signature is not ours (forged, or another key);
 *   ERR_EXPIRED    genuine, but past its salt's expiry;
 *   ERR_REPLAYED   genuine, but already accepted once;
 *   ERR_BUSY       genuine and new, but the replay set is full of
 *                  unexpired entries (answer 503; nothing was spent);
 *   ERR_NOMEM.
 * Comparisons of what the client sent with what it should be are
 * constant-time. Expiry and replay are decided only for a payload that
 * verified, so they never tell anything about a forged one.
 */
int	altcha_verify(struct altcha *, const char *payload, size_t len,
	    int64_t now_s);

/* What an accepted solution spent: its challenge's digest, and until
   when a replay must be refused (the challenge's expiry). */
struct altcha_spend {
	unsigned char	digest[32];
	int64_t		expires_s;
};

/* altcha_verify, and on 0 what was spent into *out (may be NULL), for
   a store that several daemons share to spend it once among them. */
int	altcha_check(struct altcha *, const char *payload, size_t len,
	    int64_t now_s, struct altcha_spend *out);

/* Accepted solutions remembered now (expired ones may linger until the
   set needs their room). */
size_t	altcha_spent(const struct altcha *);

/*
 * Loads the HMAC key: the altcha-key credential, else the file path
 * ([storage] altcha_key; NULL when it has none): 32 bytes, mode 0600,
 * created when missing and create != 0, refused when
 * group or others may read it (the spool key's rules, secret.h). Returns
 * secret_key_load's codes, problems reported via d; on failure key is
 * wiped.
 */
int	altcha_key_load(const char *path, int create,
	    unsigned char key[ALTCHA_KEY_LEN], struct diag *d);

#endif
