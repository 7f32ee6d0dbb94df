#ifndef INTAKE_ERR_H
#define INTAKE_ERR_H

/*
 * One error convention for the whole daemon: a module call returns 0 on
 * success or one of these negative codes. The code says what kind of
 * failure it was, so a caller can act on it (503, 422, retry, give up);
 * what exactly went wrong is said by the diagnostic (file:line) or the log
 * line the callee wrote, never by a finer code. No two kinds share a value,
 * so a code can travel through any number of layers unchanged.
 */
enum {
	ERR_NOMEM = -1,		/* out of memory */
	ERR_IO = -2,		/* file, socket or database I/O; logged,
				   or errno is set */
	ERR_INVAL = -3,		/* bad argument: the caller's mistake, or a
				   key string that does not parse */
	ERR_CONFIG = -4,	/* a loaded file is wrong; every problem was
				   reported through the diag */
	ERR_NOTFOUND = -5,	/* no such row, file or key */
	ERR_EXIST = -6,		/* refusing to overwrite */
	ERR_TOOBIG = -7,	/* would exceed a cap; nothing was changed */
	ERR_BUSY = -8,		/* a queue is full: answer 503 now */
	ERR_CLOSED = -9,	/* shutting down */
	ERR_PERM = -10,		/* a secret readable by group or others */
	ERR_VERSION = -11,	/* data from a newer intaked */
	ERR_MALFORMED = -12,	/* bytes that cannot be decoded: a request
				   body, an age header, a key file */
	ERR_REJECTED = -13,	/* decoded, but fails the rules (422) */
	ERR_AUTH = -14,		/* a MAC or seal does not verify */
	ERR_NOKEY = -15,	/* no identity opens it */
	ERR_PAYLOAD = -16,	/* encrypted payload corrupt or truncated */
	ERR_EXPIRED = -17,	/* genuine, but used after its expiry */
	ERR_REPLAYED = -18,	/* genuine, but already used once */
};

#define ERR_MIN		(-18)

/* A short English description of code (0 included); never NULL. */
const char	*err_str(int code);

#endif
