#ifndef INTAKE_SESSION_H
#define INTAKE_SESSION_H

#include "err.h"

#include <stddef.h>
#include <stdint.h>

#include "store.h"

/*
 * Staff inbox logins and sessions, kept in the store so that every daemon
 * of a group honours them (a load balancer may send each request to any
 * daemon). The store keeps only SHA-256 digests of the tokens: reading the
 * database does not let anyone log in or ride a session.
 *
 * Login proves possession of a staff key: a challenge is a random token
 * encrypted to the staff member's recipient alone; whoever sends the
 * token back holds the identity. A challenge is good once and for
 * SESSION_CHALLENGE_MS. A session ends after the idle limit without a
 * request, at its absolute limit, or at logout. The CSRF token is derived
 * from the session token, so any daemon can check it and no one without
 * the cookie can compute it.
 */

#define SESSION_TOKEN_LEN	32		/* random bytes */
#define SESSION_TOKEN_STRLEN	43		/* base64url, unpadded */
#define SESSION_CHALLENGE_MS	60000
#define SESSION_RECIPIENT_MAX	62

struct session {
	char		recipient[SESSION_RECIPIENT_MAX + 1];
	int64_t		created_ms;
	int64_t		seen_ms;
};

/* A new random token in text form (out: SESSION_TOKEN_STRLEN + 1). */
void	session_token(char *out);
/* The digest the store keeps for a token. */
void	session_digest(const char *token, unsigned char out[32]);
/* The CSRF value of a session token (out: SESSION_TOKEN_STRLEN + 1). */
void	session_csrf(const char *token, char *out);
/* 1 if csrf is the one of token, in constant time. */
int	session_csrf_ok(const char *token, const char *csrf);

/* Records a login challenge for recipient, good until expires_ms. */
int	session_challenge_put(struct store *, const char *token,
	    const char *recipient, int64_t expires_ms);
/* Takes (deletes) the challenge of token: 0 when it existed, was for
   recipient and had not expired at now_ms; ERR_NOTFOUND otherwise. */
int	session_challenge_take(struct store *, const char *token,
	    const char *recipient, int64_t now_ms);
/* Starts a session for recipient. */
int	session_put(struct store *, const char *token, const char *recipient,
	    int64_t now_ms);
/*
 * Looks the session of token up: 0 and *s filled (seen refreshed to now)
 * when it lives under the limits idle_ms and max_ms; ERR_NOTFOUND when it
 * never existed or has ended (an ended one is removed).
 */
int	session_get(struct store *, const char *token, int64_t now_ms,
	    int64_t idle_ms, int64_t max_ms, struct session *s);
int	session_del(struct store *, const char *token);
/* Removes challenges and sessions that ended before now_ms. */
int	session_gc(struct store *, int64_t now_ms, int64_t idle_ms,
	    int64_t max_ms);

#endif
