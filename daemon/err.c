#include "err.h"

const char *
err_str(int code)
{
	static const char *const str[] = {
		[0] = "success",
		[-ERR_NOMEM] = "out of memory",
		[-ERR_IO] = "I/O error",
		[-ERR_INVAL] = "invalid argument",
		[-ERR_CONFIG] = "invalid configuration",
		[-ERR_NOTFOUND] = "not found",
		[-ERR_EXIST] = "already exists",
		[-ERR_TOOBIG] = "too large",
		[-ERR_BUSY] = "too much work waiting",
		[-ERR_CLOSED] = "shutting down",
		[-ERR_PERM] = "readable by group or others",
		[-ERR_VERSION] = "unsupported version (from a newer intaked?)",
		[-ERR_MALFORMED] = "malformed data",
		[-ERR_REJECTED] = "does not satisfy the rules",
		[-ERR_AUTH] = "does not verify",
		[-ERR_NOKEY] = "no identity matches",
		[-ERR_PAYLOAD] = "encrypted payload is corrupt or truncated",
		[-ERR_EXPIRED] = "expired",
		[-ERR_REPLAYED] = "already used",
	};

	if (code > 0 || code < ERR_MIN)
		return "unknown error";
	return str[-code];
}
