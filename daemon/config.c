/*
 * The configuration file: INI read with libinih, interpreted by one table of
 * keys (section, name, type, bounds, default, target field). The same table
 * parses values, checks bounds, applies defaults and frees the snapshot, so
 * adding a key is adding one row (and documenting it in config/intaked.conf).
 *
 * libinih does the key/value splitting and comment stripping. We feed it the
 * file one physical line at a time through our own reader, which lets us
 * know the line of every key (Debian builds inih without
 * INI_HANDLER_LINENO), see empty sections, refuse over-long lines instead
 * of having them split, and report every syntax error instead of the first.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <arpa/inet.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ini.h>

#include "addr.h"
#include "age.h"
#include "altcha.h"
#include "config.h"
#include "filetype.h"
#include "fsutil.h"
#include "log.h"
#include "secret.h"
#include "store_pg.h"

/* Where `make install` puts the templates; the Makefile passes its PREFIX. */
#ifndef INTAKE_DATADIR
#define INTAKE_DATADIR "/usr/local/share/intaked"
#endif

#define LIST_MAX	256	/* values one list key may collect */
#define FORMS_MAX	256

#define FIELD_NAME_MAX	64
#define KEYCHARS	"abcdefghijklmnopqrstuvwxyz" \
			"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-"
#define LISTSEP		" \t,"

/* Durations are kept in milliseconds while parsing. */
#define SEC		1000ULL
#define MIN		(60 * SEC)
#define HOUR		(60 * MIN)
#define DAY		(24 * HOUR)
#define KIB		1024ULL
#define MIB		(1024 * KIB)

enum sect {
	S_NONE,		/* before the first section header */
	S_SERVER,
	S_LIMITS,
	S_STORAGE,
	S_CRYPTO,
	S_MAIL,
	S_ADMIN,
	S_FORM,
	S_BAD,		/* after a header we refused: its keys are skipped */
};

static const char *const sectnames[] = {
	[S_SERVER] = "server",
	[S_LIMITS] = "limits",
	[S_STORAGE] = "storage",
	[S_CRYPTO] = "crypto",
	[S_MAIL] = "mail",
	[S_ADMIN] = "admin",
	[S_FORM] = "form",
};

enum ktype {
	T_STR,		/* char * */
	T_PATH,		/* char *, made absolute against the config dir */
	T_BOOL,		/* int, 0 or 1 */
	T_UINT,		/* unsigned */
	T_SIZE,		/* size_t, bytes; k and M suffixes */
	T_MS,		/* unsigned, a duration kept in milliseconds */
	T_SEC,		/* uint64_t, a duration kept in seconds */
	T_ENUM,		/* int (or an enum), from a set of names */
	T_LIST,		/* char ** and a size_t count: values are appended */
	T_CIDRS,	/* struct cidr * and a size_t count */
};

struct enumval {
	const char	*name;
	int		 value;
};

struct parser;
struct key;

/*
 * Extra validation of one string value (or one list item). *v is a malloc'd
 * copy the check may rewrite or replace. Returns 0, or -1 after reporting
 * the problem (or after setting p->err on lack of memory).
 */
typedef int	(*check_fn)(struct parser *, const struct key *, char **v);

struct key {
	enum sect		 sect;
	const char		*name;
	enum ktype		 type;
	uint64_t		 min, max;	/* numbers; bytes; ms; list: items */
	const char		*def;	/* written as in the file; NULL: none */
	size_t			 off;	/* target in struct config/form_conf */
	size_t			 noff;	/* list count */
	const struct enumval	*enums;
	check_fn		 check;
};

/* What the parser knows of one key of the file (or of one form). */
struct keystate {
	int	line;		/* where it was set, 0 if not */
	bool	bad;		/* a value of it was refused */
};

struct parser {
	struct config	 *cf;
	struct diag	 *d;
	FILE		 *fp;
	int		  line;		/* line being parsed; 0 after EOF */
	enum sect	  sect;		/* section of that line */
	size_t		  formi;	/* its form when sect == S_FORM */
	int		  sectline[S_FORM];	/* first header of each */
	struct keystate	 *ks;		/* one per keys[] */
	struct keystate	 *fks;		/* NFORMKEYS per form */
	unsigned	  nerr;
	int		  err;		/* ERR_NOMEM once memory ran out */
};

static int	check_listen(struct parser *, const struct key *, char **);
static int	check_recipient(struct parser *, const struct key *, char **);
static int	check_recipients_file(struct parser *, const struct key *,
		    char **);
static int	check_url(struct parser *, const struct key *, char **);
static int	check_public_url(struct parser *, const struct key *, char **);
static int	check_secret(struct parser *, const struct key *, char **);
static int	check_address(struct parser *, const struct key *, char **);
static int	check_redirect(struct parser *, const struct key *, char **);
static int	check_canonical(struct parser *, const struct key *, char **);
static int	check_field(struct parser *, const struct key *, char **);
static int	check_attachments(struct parser *, const struct key *,
		    char **);
static int	check_origin(struct parser *, const struct key *, char **);

static const struct enumval log_levels[] = {
	{ "error", LOG_LVL_ERR },
	{ "warning", LOG_LVL_WARN },
	{ "notice", LOG_LVL_NOTICE },
	{ "info", LOG_LVL_INFO },
	{ "debug", LOG_LVL_DEBUG },
	{ NULL, 0 }
};

static const struct enumval backends[] = {
	{ "sqlite", BACKEND_SQLITE },
	{ "postgresql", BACKEND_POSTGRESQL },
	{ NULL, 0 }
};

static const struct enumval transports[] = {
	{ "smtp", MAIL_SMTP },
	{ "maildir", MAIL_MAILDIR },
	{ NULL, 0 }
};

static const struct enumval tls_modes[] = {
	{ "required", TLS_REQUIRED },
	{ "opportunistic", TLS_OPPORTUNISTIC },
	{ "off", TLS_OFF },
	{ NULL, 0 }
};

static const struct enumval contents[] = {
	{ "full", CONTENT_FULL },
	{ "summary", CONTENT_SUMMARY },
	{ "sealed", CONTENT_SEALED },
	{ NULL, 0 }
};

/* T_ENUM targets are written through an int *. */
_Static_assert(sizeof(enum mail_transport) == sizeof(int), "enum size");
_Static_assert(sizeof(enum mail_tls) == sizeof(int), "enum size");
_Static_assert(sizeof(enum mail_content) == sizeof(int), "enum size");

/* Every key of the fixed sections; documented in config/intaked.conf. */
static const struct key keys[] = {
	{ .sect = S_SERVER, .name = "listen", .type = T_LIST,
	  .def = "127.0.0.1:8080", .check = check_listen,
	  .off = offsetof(struct config, listen),
	  .noff = offsetof(struct config, nlisten) },
	{ .sect = S_SERVER, .name = "trusted_proxies", .type = T_CIDRS,
	  .off = offsetof(struct config, trusted_proxies),
	  .noff = offsetof(struct config, ntrusted_proxies) },
	{ .sect = S_SERVER, .name = "templates", .type = T_PATH,
	  .def = INTAKE_DATADIR "/templates",
	  .off = offsetof(struct config, templates) },
	{ .sect = S_SERVER, .name = "public_files", .type = T_PATH,
	  .def = INTAKE_DATADIR "/public",
	  .off = offsetof(struct config, public_files) },
	{ .sect = S_SERVER, .name = "log_level", .type = T_ENUM,
	  .def = "info", .enums = log_levels,
	  .off = offsetof(struct config, log_level) },

	{ .sect = S_LIMITS, .name = "connections", .type = T_UINT,
	  .min = 1, .max = 100000, .def = "1024",
	  .off = offsetof(struct config, max_connections) },
	{ .sect = S_LIMITS, .name = "connections_per_ip", .type = T_UINT,
	  .min = 0, .max = 100000, .def = "32",
	  .off = offsetof(struct config, max_conns_per_ip) },
	{ .sect = S_LIMITS, .name = "memory_budget", .type = T_SIZE,
	  .min = MIB, .max = 65536 * MIB, .def = "64M",
	  .off = offsetof(struct config, memory_budget) },
	{ .sect = S_LIMITS, .name = "header_timeout", .type = T_MS,
	  .min = 100, .max = HOUR, .def = "10s",
	  .off = offsetof(struct config, header_timeout_ms) },
	{ .sect = S_LIMITS, .name = "body_timeout", .type = T_MS,
	  .min = 100, .max = HOUR, .def = "30s",
	  .off = offsetof(struct config, body_timeout_ms) },
	{ .sect = S_LIMITS, .name = "idle_timeout", .type = T_MS,
	  .min = 100, .max = HOUR, .def = "60s",
	  .off = offsetof(struct config, idle_timeout_ms) },
	{ .sect = S_LIMITS, .name = "shutdown_timeout", .type = T_MS,
	  .min = 0, .max = HOUR, .def = "10s",
	  .off = offsetof(struct config, shutdown_timeout_ms) },
	{ .sect = S_LIMITS, .name = "header_bytes", .type = T_SIZE,
	  .min = KIB, .max = MIB, .def = "16k",
	  .off = offsetof(struct config, max_header_bytes) },
	{ .sect = S_LIMITS, .name = "body_bytes", .type = T_SIZE,
	  .min = KIB, .max = 64 * MIB, .def = "1M",
	  .off = offsetof(struct config, max_body_bytes) },
	{ .sect = S_LIMITS, .name = "upload_bytes", .type = T_SIZE,
	  .min = KIB, .max = 1024 * MIB, .def = "25M",
	  .off = offsetof(struct config, max_upload_bytes) },
	{ .sect = S_LIMITS, .name = "fields", .type = T_UINT,
	  .min = 1, .max = 1000, .def = "64",
	  .off = offsetof(struct config, max_fields) },
	{ .sect = S_LIMITS, .name = "field_bytes", .type = T_SIZE,
	  .min = 16, .max = MIB, .def = "32k",
	  .off = offsetof(struct config, max_field_bytes) },
	{ .sect = S_LIMITS, .name = "json_depth", .type = T_UINT,
	  .min = 1, .max = 32, .def = "4",
	  .off = offsetof(struct config, max_json_depth) },
	{ .sect = S_LIMITS, .name = "pending_writes", .type = T_UINT,
	  .min = 1, .max = 100000, .def = "1024",
	  .off = offsetof(struct config, max_pending_writes) },
	{ .sect = S_LIMITS, .name = "rate", .type = T_UINT,
	  .min = 0, .max = 100000, .def = "30",
	  .off = offsetof(struct config, rate_per_minute) },
	{ .sect = S_LIMITS, .name = "rate_burst", .type = T_UINT,
	  .min = 1, .max = 10000, .def = "10",
	  .off = offsetof(struct config, rate_burst) },

	{ .sect = S_STORAGE, .name = "backend", .type = T_ENUM,
	  .def = "sqlite", .enums = backends,
	  .off = offsetof(struct config, backend) },
	{ .sect = S_STORAGE, .name = "path", .type = T_PATH,
	  .def = "/var/lib/intaked/intake.db",
	  .off = offsetof(struct config, db_path) },
	{ .sect = S_STORAGE, .name = "url", .type = T_STR,
	  .off = offsetof(struct config, db_url) },
	{ .sect = S_STORAGE, .name = "password_file", .type = T_PATH,
	  .off = offsetof(struct config, db_password_file) },
	{ .sect = S_STORAGE, .name = "spool_key", .type = T_PATH,
	  .off = offsetof(struct config, spool_key) },
	{ .sect = S_STORAGE, .name = "altcha_key", .type = T_PATH,
	  .off = offsetof(struct config, altcha_key) },
	{ .sect = S_STORAGE, .name = "retention", .type = T_SEC,
	  .min = HOUR, .max = 36500 * DAY,
	  .off = offsetof(struct config, retention_s) },

	{ .sect = S_CRYPTO, .name = "recipients", .type = T_LIST,
	  .check = check_recipient,
	  .off = offsetof(struct config, recipients),
	  .noff = offsetof(struct config, nrecipients) },
	{ .sect = S_CRYPTO, .name = "recipients_file", .type = T_PATH,
	  .check = check_recipients_file,
	  .off = offsetof(struct config, recipients_file) },

	{ .sect = S_MAIL, .name = "transport", .type = T_ENUM,
	  .def = "smtp", .enums = transports,
	  .off = offsetof(struct config, transport) },
	{ .sect = S_MAIL, .name = "maildir", .type = T_PATH,
	  .off = offsetof(struct config, maildir) },
	{ .sect = S_MAIL, .name = "url", .type = T_STR,
	  .def = "smtp://127.0.0.1:25", .check = check_url,
	  .off = offsetof(struct config, url) },
	{ .sect = S_MAIL, .name = "tls", .type = T_ENUM,
	  .def = "required", .enums = tls_modes,
	  .off = offsetof(struct config, tls) },
	{ .sect = S_MAIL, .name = "ca_file", .type = T_PATH,
	  .off = offsetof(struct config, ca_file) },
	{ .sect = S_MAIL, .name = "username", .type = T_STR,
	  .off = offsetof(struct config, username) },
	{ .sect = S_MAIL, .name = "password_file", .type = T_PATH,
	  .check = check_secret,
	  .off = offsetof(struct config, password_file) },
	{ .sect = S_MAIL, .name = "from", .type = T_STR,
	  .def = "intaked@localhost", .check = check_address,
	  .off = offsetof(struct config, from) },
	/* max: the envelope recipients one message can carry. */
	{ .sect = S_MAIL, .name = "to", .type = T_LIST, .max = 32,
	  .check = check_address,
	  .off = offsetof(struct config, to),
	  .noff = offsetof(struct config, nto) },
	{ .sect = S_MAIL, .name = "content", .type = T_ENUM,
	  .def = "summary", .enums = contents,
	  .off = offsetof(struct config, content) },
	{ .sect = S_MAIL, .name = "parallel", .type = T_UINT,
	  .min = 1, .max = 64, .def = "2",
	  .off = offsetof(struct config, mail_parallel) },
	/* Sealed mails carry the encrypted files up to this total: with
	   base64 the message stays under MESSAGE_MAX. */
	{ .sect = S_MAIL, .name = "max_attachment_bytes", .type = T_SIZE,
	  .min = 0, .max = 25 * MIB, .def = "10M",
	  .off = offsetof(struct config, mail_max_attach) },
	{ .sect = S_MAIL, .name = "timeout", .type = T_MS,
	  .min = SEC, .max = HOUR, .def = "30s",
	  .off = offsetof(struct config, mail_timeout_ms) },
	{ .sect = S_ADMIN, .name = "listen", .type = T_LIST,
	  .def = "unix:/run/intaked/admin.sock", .check = check_listen,
	  .off = offsetof(struct config, admin_listen),
	  .noff = offsetof(struct config, nadmin_listen) },
	{ .sect = S_ADMIN, .name = "public_url", .type = T_STR,
	  .check = check_public_url,
	  .off = offsetof(struct config, admin_public_url) },
	{ .sect = S_ADMIN, .name = "root", .type = T_PATH,
	  .def = INTAKE_DATADIR "/inbox",
	  .off = offsetof(struct config, admin_root) },
	{ .sect = S_ADMIN, .name = "connections", .type = T_UINT,
	  .min = 1, .max = 10000, .def = "64",
	  .off = offsetof(struct config, admin_max_connections) },
	{ .sect = S_ADMIN, .name = "connections_per_ip", .type = T_UINT,
	  .min = 0, .max = 10000, .def = "0",
	  .off = offsetof(struct config, admin_max_conns_per_ip) },
	{ .sect = S_ADMIN, .name = "body_bytes", .type = T_SIZE,
	  .min = KIB, .max = MIB, .def = "16k",
	  .off = offsetof(struct config, admin_body_bytes) },
	{ .sect = S_ADMIN, .name = "login_rate", .type = T_UINT,
	  .min = 0, .max = 10000, .def = "10",
	  .off = offsetof(struct config, admin_login_rate) },
	{ .sect = S_ADMIN, .name = "login_burst", .type = T_UINT,
	  .min = 1, .max = 1000, .def = "5",
	  .off = offsetof(struct config, admin_login_burst) },
	{ .sect = S_ADMIN, .name = "session_idle", .type = T_MS,
	  .min = MIN, .max = DAY, .def = "30m",
	  .off = offsetof(struct config, session_idle_ms) },
	{ .sect = S_ADMIN, .name = "session_max", .type = T_MS,
	  .min = MIN, .max = 7 * DAY, .def = "12h",
	  .off = offsetof(struct config, session_max_ms) },

	{ .sect = S_MAIL, .name = "give_up_after", .type = T_SEC,
	  .min = MIN, .max = 365 * DAY, .def = "3d",
	  .off = offsetof(struct config, give_up_after_s) },
};

/*
 * The keys of each [form NAME] section. schema has a default that depends
 * on NAME (forms/NAME.schema.json), set in form_add().
 */
static const struct key formkeys[] = {
	{ .sect = S_FORM, .name = "schema", .type = T_PATH,
	  .off = offsetof(struct form_conf, schema) },
	{ .sect = S_FORM, .name = "redirect", .type = T_STR,
	  .check = check_redirect,
	  .off = offsetof(struct form_conf, redirect) },
	{ .sect = S_FORM, .name = "honeypot", .type = T_STR,
	  .check = check_field,
	  .off = offsetof(struct form_conf, honeypot) },
	{ .sect = S_FORM, .name = "privacy_url", .type = T_STR,
	  .check = check_redirect,
	  .off = offsetof(struct form_conf, privacy_url) },
	{ .sect = S_FORM, .name = "fhir_questionnaire", .type = T_STR,
	  .check = check_canonical,
	  .off = offsetof(struct form_conf, fhir_questionnaire) },
	{ .sect = S_FORM, .name = "reply_to", .type = T_STR,
	  .check = check_field,
	  .off = offsetof(struct form_conf, reply_to) },
	{ .sect = S_FORM, .name = "subject", .type = T_STR,
	  .def = "New {{title}} inquiry {{id}}",
	  .off = offsetof(struct form_conf, subject) },
	{ .sect = S_FORM, .name = "ack", .type = T_BOOL, .def = "no",
	  .off = offsetof(struct form_conf, ack) },
	{ .sect = S_FORM, .name = "file_bytes", .type = T_SIZE,
	  .min = 1, .max = 1024 * MIB, .def = "10M",
	  .off = offsetof(struct form_conf, file_bytes) },
	{ .sect = S_FORM, .name = "files", .type = T_UINT,
	  .min = 0, .max = 64, .def = "5",
	  .off = offsetof(struct form_conf, files) },
	{ .sect = S_FORM, .name = "attachments", .type = T_STR,
	  .def = "none", .check = check_attachments,
	  .off = offsetof(struct form_conf, attachments) },
	{ .sect = S_FORM, .name = "cors_origins", .type = T_LIST,
	  .check = check_origin,
	  .off = offsetof(struct form_conf, cors_origins),
	  .noff = offsetof(struct form_conf, ncors_origins) },
	{ .sect = S_FORM, .name = "altcha", .type = T_BOOL, .def = "no",
	  .off = offsetof(struct form_conf, altcha) },
	/* About a second for a phone's browser: the widget tries numbers
	   from 0 up, half of maxnumber on average. */
	{ .sect = S_FORM, .name = "altcha_maxnumber", .type = T_UINT,
	  .min = 1000, .max = ALTCHA_MAXNUMBER_MAX, .def = "50000",
	  .off = offsetof(struct form_conf, altcha_maxnumber) },
	{ .sect = S_FORM, .name = "altcha_ttl", .type = T_SEC,
	  .min = 30 * SEC, .max = ALTCHA_TTL_MAX * SEC, .def = "10m",
	  .off = offsetof(struct form_conf, altcha_ttl_s) },
};

#define NKEYS		(sizeof(keys) / sizeof(keys[0]))
#define NFORMKEYS	(sizeof(formkeys) / sizeof(formkeys[0]))

static void	perr(struct parser *, const char *, ...) LOG_PRINTF(2, 3);
static void	perr_at(struct parser *, int, const char *, ...)
		    LOG_PRINTF(3, 4);

static void
vperr(struct parser *p, int line, const char *fmt, va_list ap)
{
	char	msg[512];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	p->nerr++;
	diag(p->d, p->cf->path, line, "%s", msg);
}

/* Reports a problem at the line being parsed. */
static void
perr(struct parser *p, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vperr(p, p->line, fmt, ap);
	va_end(ap);
}

/* Reports a problem at a given line (0: the file as a whole). */
static void
perr_at(struct parser *p, int line, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vperr(p, line, fmt, ap);
	va_end(ap);
}

static bool
isdig(char c)
{
	return c >= '0' && c <= '9';
}

static bool
has_ctrl(const char *s, bool tab_ok)
{
	for (; *s; s++)
		if (((unsigned char)*s < 0x20 || *s == 0x7f) &&
		    !(tab_ok && *s == '\t'))
			return true;
	return false;
}

static bool
only_chars(const char *s, const char *set, size_t maxlen)
{
	size_t	n = strlen(s);

	return n > 0 && n <= maxlen && strspn(s, set) == n;
}

/* Accumulates leading digits of *sp into *n; -1 on overflow or no digit. */
static int
scan_digits(const char **sp, uint64_t *n)
{
	const char	*s = *sp;
	uint64_t	 d;

	if (!isdig(*s))
		return -1;
	for (*n = 0; isdig(*s); s++) {
		d = (uint64_t)(*s - '0');
		if (*n > (UINT64_MAX - d) / 10)
			return -1;
		*n = *n * 10 + d;
	}
	*sp = s;
	return 0;
}

static int
parse_uint(const char *s, uint64_t *n)
{
	if (scan_digits(&s, n) == -1 || *s != '\0')
		return -1;
	return 0;
}

/* Bytes, or with a k/K (KiB) or M (MiB) suffix. */
static int
parse_size(const char *s, uint64_t *n)
{
	uint64_t	mult;

	if (scan_digits(&s, n) == -1)
		return -1;
	if (*s == '\0')
		mult = 1;
	else if (strcmp(s, "k") == 0 || strcmp(s, "K") == 0)
		mult = KIB;
	else if (strcmp(s, "M") == 0)
		mult = MIB;
	else
		return -1;
	if (*n > UINT64_MAX / mult)
		return -1;
	*n *= mult;
	return 0;
}

static uint64_t
duration_unit(const char **sp)
{
	static const struct {
		const char	*name;
		uint64_t	 ms;
	} units[] = {
		{ "ms", 1 }, { "s", SEC }, { "m", MIN }, { "h", HOUR },
		{ "d", DAY },
	};
	size_t	i, len;

	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		len = strlen(units[i].name);
		if (strncmp(*sp, units[i].name, len) == 0 &&
		    !((*sp)[len] >= 'a' && (*sp)[len] <= 'z')) {
			*sp += len;
			return units[i].ms;
		}
	}
	return 0;
}

/*
 * A duration is one or more NUMBER UNIT pairs ("90d", "1h30m", "1500ms"),
 * units ms, s, m, h, d. A bare number is refused: seconds or days would be
 * a guess. Stores milliseconds in *ms. Returns 0 or ERR_CONFIG.
 */
int
config_parse_duration(const char *s, uint64_t *ms)
{
	uint64_t	total = 0, n, mult;

	if (s == NULL || *s == '\0')
		return ERR_CONFIG;
	while (*s != '\0') {
		if (scan_digits(&s, &n) == -1)
			return ERR_CONFIG;
		if ((mult = duration_unit(&s)) == 0)
			return ERR_CONFIG;
		if (n > (UINT64_MAX - total) / mult)
			return ERR_CONFIG;
		total += n * mult;
	}
	*ms = total;
	return 0;
}

/* Writes v in the unit a person would use for key k, for messages. */
static void
fmt_value(const struct key *k, uint64_t v, char *out, size_t len)
{
	if (k->type == T_SIZE && v != 0 && v % MIB == 0)
		snprintf(out, len, "%lluM", (unsigned long long)(v / MIB));
	else if (k->type == T_SIZE && v != 0 && v % KIB == 0)
		snprintf(out, len, "%lluk", (unsigned long long)(v / KIB));
	else if ((k->type == T_MS || k->type == T_SEC) && v % SEC != 0)
		snprintf(out, len, "%llums", (unsigned long long)v);
	else if ((k->type == T_MS || k->type == T_SEC) && v % DAY == 0 &&
	    v != 0)
		snprintf(out, len, "%llud", (unsigned long long)(v / DAY));
	else if ((k->type == T_MS || k->type == T_SEC) && v % HOUR == 0 &&
	    v != 0)
		snprintf(out, len, "%lluh", (unsigned long long)(v / HOUR));
	else if ((k->type == T_MS || k->type == T_SEC) && v % MIN == 0 &&
	    v != 0)
		snprintf(out, len, "%llum", (unsigned long long)(v / MIN));
	else if (k->type == T_MS || k->type == T_SEC)
		snprintf(out, len, "%llus", (unsigned long long)(v / SEC));
	else
		snprintf(out, len, "%llu", (unsigned long long)v);
}

static const char *
number_hint(enum ktype t)
{
	switch (t) {
	case T_SIZE:
		return "not a size (bytes, or with k or M: 16k, 1M)";
	case T_MS:
	case T_SEC:
		return "not a duration (500ms, 30s, 5m, 12h, 90d)";
	default:
		return "not a whole number";
	}
}

static void
set_number(struct parser *p, const struct key *k, void *dst, const char *v)
{
	uint64_t	n;
	int		rc;
	char		lo[32], hi[32];

	if (k->type == T_UINT)
		rc = parse_uint(v, &n);
	else if (k->type == T_SIZE)
		rc = parse_size(v, &n);
	else
		rc = config_parse_duration(v, &n);
	if (rc != 0) {
		perr(p, "%s: '%s' is %s", k->name, v, number_hint(k->type));
		return;
	}
	if (n < k->min || n > k->max) {
		fmt_value(k, k->min, lo, sizeof(lo));
		fmt_value(k, k->max, hi, sizeof(hi));
		perr(p, "%s: %s is out of range (%s to %s)", k->name, v, lo, hi);
		return;
	}
	if (k->type == T_SIZE)
		*(size_t *)dst = (size_t)n;
	else if (k->type == T_SEC)
		*(uint64_t *)dst = n / SEC;
	else
		*(unsigned *)dst = (unsigned)n;
}

static void
set_bool(struct parser *p, const struct key *k, int *dst, const char *v)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };
	size_t	i;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(v, yes[i]) == 0) {
			*dst = 1;
			return;
		}
		if (strcasecmp(v, no[i]) == 0) {
			*dst = 0;
			return;
		}
	}
	perr(p, "%s: '%s' is not yes or no", k->name, v);
}

static void
set_enum(struct parser *p, const struct key *k, int *dst, const char *v)
{
	const struct enumval	*e;
	char			 names[128] = "";
	size_t			 len = 0;

	for (e = k->enums; e->name != NULL; e++) {
		if (strcmp(v, e->name) == 0) {
			*dst = e->value;
			return;
		}
	}
	for (e = k->enums; e->name != NULL && len < sizeof(names); e++)
		len += (size_t)snprintf(names + len, sizeof(names) - len, "%s%s",
		    e == k->enums ? "" : ", ", e->name);
	perr(p, "%s: '%s' is not one of %s", k->name, v, names);
}

/* Returns a malloc'd absolute form of v, or NULL without memory. */
static char *
resolve(struct parser *p, const char *v)
{
	char	*s;

	if (v[0] == '/')
		return strdup(v);
	if (asprintf(&s, "%s/%s", p->cf->dir, v) == -1)
		return NULL;
	return s;
}

static void
set_string(struct parser *p, const struct key *k, char **dst, const char *v)
{
	char	*s;

	s = k->type == T_PATH ? resolve(p, v) : strdup(v);
	if (s == NULL) {
		p->err = ERR_NOMEM;
		return;
	}
	if (k->check != NULL && k->check(p, k, &s) != 0) {
		free(s);
		return;
	}
	free(*dst);
	*dst = s;
}

/* Grows an array of n elements of size sz by one; -1 without memory. */
static int
grow(void *arrp, size_t n, size_t sz)
{
	void	*a;

	if ((a = reallocarray(*(void **)arrp, n + 1, sz)) == NULL)
		return -1;
	*(void **)arrp = a;
	return 0;
}

static void
list_add(struct parser *p, const struct key *k, char *base, const char *tok)
{
	char	***items = (char ***)(void *)(base + k->off);
	size_t	  *n = (size_t *)(void *)(base + k->noff);
	char	  *s;
	size_t	   lim = k->max ? (size_t)k->max : LIST_MAX;

	if (*n >= lim) {
		perr(p, "%s: too many values (at most %zu)", k->name, lim);
		return;
	}
	if ((s = strdup(tok)) == NULL) {
		p->err = ERR_NOMEM;
		return;
	}
	if (k->check != NULL && k->check(p, k, &s) != 0) {
		free(s);
		return;
	}
	if (grow(items, *n, sizeof(**items)) == -1) {
		free(s);
		p->err = ERR_NOMEM;
		return;
	}
	(*items)[(*n)++] = s;
}

static void
cidr_add(struct parser *p, const struct key *k, char *base, const char *tok)
{
	struct cidr	**items = (struct cidr **)(void *)(base + k->off);
	size_t		 *n = (size_t *)(void *)(base + k->noff);
	struct cidr	  c;
	const char	 *why;

	if (*n >= LIST_MAX) {
		perr(p, "%s: too many values (at most %d)", k->name, LIST_MAX);
		return;
	}
	if (net_parse_cidr(tok, &c, &why) != 0) {
		perr(p, "%s: '%s' %s", k->name, tok, why);
		return;
	}
	if (grow(items, *n, sizeof(**items)) == -1) {
		p->err = ERR_NOMEM;
		return;
	}
	(*items)[(*n)++] = c;
}

/* Appends every whitespace- or comma-separated value of v to list key k. */
static void
set_list(struct parser *p, const struct key *k, char *base, const char *v)
{
	char	*copy, *tok, *save;

	if ((copy = strdup(v)) == NULL) {
		p->err = ERR_NOMEM;
		return;
	}
	for (tok = strtok_r(copy, LISTSEP, &save); tok != NULL && !p->err;
	    tok = strtok_r(NULL, LISTSEP, &save)) {
		if (k->type == T_CIDRS)
			cidr_add(p, k, base, tok);
		else
			list_add(p, k, base, tok);
	}
	free(copy);
}

/*
 * Sets key k of the struct at base from the text v (a value in the file or
 * a default). Problems are reported at p->line and leave the field as it
 * was. An empty value means "not set", which only keys without a default
 * accept.
 */
static void
set_value(struct parser *p, const struct key *k, char *base, const char *v)
{
	void	*dst = base + k->off;
	bool	 list = k->type == T_LIST || k->type == T_CIDRS;

	/* Tabs separate list values; anywhere else they are a mistake. */
	if (has_ctrl(v, list)) {
		perr(p, "%s: control character in value", k->name);
		return;
	}
	if (*v == '\0') {
		if (k->def != NULL)
			perr(p, "%s: empty value (default: %s)", k->name,
			    k->def);
		return;
	}
	switch (k->type) {
	case T_STR:
	case T_PATH:
		set_string(p, k, dst, v);
		break;
	case T_BOOL:
		set_bool(p, k, dst, v);
		break;
	case T_ENUM:
		set_enum(p, k, dst, v);
		break;
	case T_LIST:
	case T_CIDRS:
		set_list(p, k, base, v);
		break;
	default:
		set_number(p, k, dst, v);
		break;
	}
}

/*
 * Sets every key of tab that has a default, before the file is read: a
 * value the file gets wrong leaves the default in place, so rules that span
 * keys do not add confusing errors on top.
 */
static void
apply_defaults(struct parser *p, const struct key *tab, size_t n, char *base)
{
	int	line = p->line;
	size_t	i;

	p->line = 0;
	for (i = 0; i < n && !p->err; i++)
		if (tab[i].def != NULL)
			set_value(p, &tab[i], base, tab[i].def);
	p->line = line;
}

/* "PORT" must be 1..65535 with nothing else around it. */
static bool
valid_port(const char *s)
{
	unsigned	port;

	return net_parse_port(s, &port) == 0;
}

/* "unix:PATH": PATH is made absolute and must fit a sockaddr_un. */
static int
listen_unix(struct parser *p, const struct key *k, char **v)
{
	struct sockaddr_un	 sun;
	char			*path, *s;

	if ((*v)[5] == '\0') {
		perr(p, "%s: 'unix:' needs a socket path", k->name);
		return -1;
	}
	if ((path = resolve(p, *v + 5)) == NULL) {
		p->err = ERR_NOMEM;
		return -1;
	}
	if (strlen(path) >= sizeof(sun.sun_path)) {
		perr(p, "%s: socket path %s is too long (at most %zu bytes)",
		    k->name, path, sizeof(sun.sun_path) - 1);
		free(path);
		return -1;
	}
	if (asprintf(&s, "unix:%s", path) == -1) {
		free(path);
		p->err = ERR_NOMEM;
		return -1;
	}
	free(path);
	free(*v);
	*v = s;
	return 0;
}

static int
check_listen(struct parser *p, const struct key *k, char **v)
{
	struct sockaddr_storage	 ss;
	const char		*why;

	if (strncmp(*v, "unix:", 5) == 0)
		return listen_unix(p, k, v);
	if (net_parse_hostport(*v, &ss, &why) != 0) {
		perr(p, "%s: '%s' %s", k->name, *v, why);
		return -1;
	}
	return 0;
}

/* A secret key where a recipient belongs is named as such and never
   echoed: diagnostics go to logs and terminals. */
static int
check_recipient(struct parser *p, const struct key *k, char **v)
{
	struct age_recipient	r;

	if (age_recipient_parse(*v, &r) == 0)
		return 0;
	if (age_is_secret_key(*v))
		perr(p, "%s: %s", k->name, AGE_SECRET_HERE);
	else if (strncasecmp(*v, "age1", 4) == 0 && strlen(*v) <= 80)
		perr(p, "%s: '%s' is not an age recipient (a typo?)", k->name,
		    *v);
	else
		perr(p, "%s: a value is not an age recipient (age1...)",
		    k->name);
	return -1;
}

/* The recipients file's own problems, each said once, as a problem of
   the key that names it: "conf:LINE: recipients_file: file:LINE: why". */
struct file_diag {
	struct diag	 d;
	struct parser	*p;
	const char	*key;
};

static void
file_problem(struct diag *d, const char *line)
{
	struct file_diag	*fd = (struct file_diag *)d;

	perr(fd->p, "%s: %s", fd->key, line);
}

/*
 * Reads the recipients file now, so that a bad one fails the load (and a
 * reload keeps the old configuration) instead of the first inquiry.
 */
static int
check_recipients_file(struct parser *p, const struct key *k, char **v)
{
	struct file_diag	 fd = { { 0, file_problem, NULL }, p, k->name };
	struct age_recipient	*r = NULL;
	size_t			 n = 0;
	int			 rc;

	rc = age_recipients_file_read(*v, &r, &n, &fd.d);
	free(r);
	if (rc == ERR_NOMEM) {
		p->err = ERR_NOMEM;
		return -1;
	}
	if (rc != 0) {
		if (fd.d.count == 0)
			perr(p, "%s: %s: %s", k->name, *v, err_str(rc));
		return -1;
	}
	if (n == 0) {
		perr(p, "%s: %s holds no recipient", k->name, *v);
		return -1;
	}
	return 0;
}

static int
check_url(struct parser *p, const struct key *k, char **v)
{
	const char	*host;

	if (strncmp(*v, "smtp://", 7) == 0)
		host = *v + 7;
	else if (strncmp(*v, "smtps://", 8) == 0)
		host = *v + 8;
	else {
		perr(p, "%s: '%s' must start with smtp:// or smtps://",
		    k->name, *v);
		return -1;
	}
	if (*host == '\0' || *host == '/' || strpbrk(*v, " \t") != NULL) {
		perr(p, "%s: '%s' is not a valid SMTP URL", k->name, *v);
		return -1;
	}
	return 0;
}

/* Where staff reach the inbox, for the link in notifications: an https://
   URL (or http:// for a local trial), no query or fragment. */
static int
check_public_url(struct parser *p, const struct key *k, char **v)
{
	const char	*s = *v;
	size_t		 n;

	if (strncmp(s, "https://", 8) == 0)
		s += 8;
	else if (strncmp(s, "http://", 7) == 0)
		s += 7;
	else
		s = NULL;
	if (s == NULL || *s == '\0' || *s == '/' ||
	    strpbrk(*v, " \t?#\"'<>") != NULL) {
		perr(p, "%s: '%s' is not an http(s):// URL without a query",
		    k->name, *v);
		return -1;
	}
	/* The inbox path is appended: drop a trailing slash. */
	n = strlen(*v);
	if ((*v)[n - 1] == '/')
		(*v)[n - 1] = '\0';
	return 0;
}

/*
 * The SMTP password file must pass the secret-file rule (secret.h). A
 * file that does not exist yet is accepted: systemd may pass the password
 * as the smtp-password credential instead.
 */
static int
check_secret(struct parser *p, const struct key *k, char **v)
{
	struct stat	st;
	int		r;

	if (stat(*v, &st) == -1)
		return 0;
	if ((r = secret_mode_check(&st)) == ERR_PERM) {
		perr(p, "%s: %s is " SECRET_MODE_HINT, k->name, *v);
		return -1;
	}
	if (r != 0) {
		perr(p, "%s: %s is not a regular file", k->name, *v);
		return -1;
	}
	return 0;
}

/* A bare addr-spec under the one address rule (addr.h). */
static int
check_address(struct parser *p, const struct key *k, char **v)
{
	if (!addr_valid_str(*v, 0)) {
		perr(p, "%s: '%s' is not a mail address (name@example.com)",
		    k->name, *v);
		return -1;
	}
	return 0;
}

/*
 * A redirect is ours to choose, never the request's: a local path, or an
 * https:// URL. "//host" and "/\host" are refused, browsers treat them as
 * another host.
 */
static int
check_redirect(struct parser *p, const struct key *k, char **v)
{
	const char	*s = *v;
	bool		 ok;

	if (s[0] == '/')
		ok = s[1] != '/' && s[1] != '\\';
	else
		ok = strncmp(s, "https://", 8) == 0 && s[8] != '\0' &&
		    s[8] != '/';
	if (!ok || strpbrk(s, " \t") != NULL) {
		perr(p, "%s: '%s' must be a path starting with / or an "
		    "https:// URL", k->name, s);
		return -1;
	}
	return 0;
}

/* A FHIR canonical URL: an absolute URI (scheme:rest), no spaces, no
   fragment (the export adds one per field for its codings). */
static int
check_canonical(struct parser *p, const struct key *k, char **v)
{
	const char	*s = *v;
	size_t		 n = strspn(s, "abcdefghijklmnopqrstuvwxyz"
			    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-");

	if (n == 0 || s[n] != ':' || s[n + 1] == '\0' ||
	    strpbrk(s, " \t#\"<>") != NULL || strlen(s) > 400) {
		perr(p, "%s: '%s' is not an absolute URI such as "
		    "https://clinic.example/fhir/Questionnaire/consultation",
		    k->name, s);
		return -1;
	}
	return 0;
}

static int
check_field(struct parser *p, const struct key *k, char **v)
{
	if (!only_chars(*v, KEYCHARS, FIELD_NAME_MAX)) {
		perr(p, "%s: '%s' is not a field name (letters, digits, _ . -)",
		    k->name, *v);
		return -1;
	}
	return 0;
}

/* "none", or the accepted MIME types: "application/pdf image/png". */
static int
check_attachments(struct parser *p, const struct key *k, char **v)
{
	char		*copy, *tok, *save;
	enum filetype	 t;
	bool		 ok = true;

	if (strcmp(*v, "none") == 0)
		return 0;
	if ((copy = strdup(*v)) == NULL) {
		p->err = ERR_NOMEM;
		return -1;
	}
	for (tok = strtok_r(copy, LISTSEP, &save); tok != NULL && ok;
	    tok = strtok_r(NULL, LISTSEP, &save))
		ok = filetype_from_mime(tok, &t) == 0;
	free(copy);
	if (!ok) {
		perr(p, "%s: '%s' is not none or a list of the types intaked "
		    "recognises by their bytes (application/pdf image/jpeg "
		    "image/png image/heic application/dicom)", k->name, *v);
		return -1;
	}
	return 0;
}

/* The attachments list as a set of file types, for the upload policy. */
static unsigned
attachment_types(const char *list)
{
	char		 copy[512], *tok, *save;
	enum filetype	 t;
	unsigned	 set = 0;

	if (list == NULL || strcmp(list, "none") == 0)
		return 0;
	snprintf(copy, sizeof(copy), "%s", list);
	for (tok = strtok_r(copy, LISTSEP, &save); tok != NULL;
	    tok = strtok_r(NULL, LISTSEP, &save))
		if (filetype_from_mime(tok, &t) == 0)
			set |= 1u << t;
	return set;
}

/* Checks the host[:port] part of an origin. */
static bool
valid_origin_host(const char *s)
{
	char		 host[INET6_ADDRSTRLEN];
	unsigned char	 a[16];
	const char	*end;
	size_t		 len;

	if (s[0] == '[') {
		if ((end = strchr(s, ']')) == NULL)
			return false;
		len = (size_t)(end - s - 1);
		if (len == 0 || len >= sizeof(host))
			return false;
		memcpy(host, s + 1, len);
		host[len] = '\0';
		if (inet_pton(AF_INET6, host, a) != 1)
			return false;
		end++;
	} else {
		len = strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789.-");
		if (len == 0 || s[0] == '.' || s[0] == '-')
			return false;
		end = s + len;
	}
	if (*end == '\0')
		return true;
	return *end == ':' && valid_port(end + 1);
}

/*
 * A CORS origin as browsers send it: scheme://host[:port], no path. Stored
 * lower-cased, which is how browsers serialise it.
 */
static int
check_origin(struct parser *p, const struct key *k, char **v)
{
	char	*s;
	bool	 ok;

	for (s = *v; *s; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
	s = *v;
	if (strncmp(s, "https://", 8) == 0)
		ok = valid_origin_host(s + 8);
	else if (strncmp(s, "http://", 7) == 0)
		ok = valid_origin_host(s + 7);
	else
		ok = false;
	if (!ok) {
		perr(p, "%s: '%s' is not an origin (https://host[:port], "
		    "no path)", k->name, s);
		return -1;
	}
	return 0;
}

static const struct key *
key_find(const struct key *tab, size_t n, enum sect sect, const char *name)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if (tab[i].sect == sect && strcmp(tab[i].name, name) == 0)
			return &tab[i];
	return NULL;
}

/* The line a key was set on, else its section's header line, else 0. */
static int
line_of(const struct parser *p, enum sect sect, const char *name)
{
	const struct key	*k = key_find(keys, NKEYS, sect, name);

	if (k != NULL && p->ks[k - keys].line != 0)
		return p->ks[k - keys].line;
	return p->sectline[sect];
}

/* Whether a value of key name was refused (and so already reported). */
static bool
key_bad(const struct parser *p, enum sect sect, const char *name)
{
	const struct key	*k = key_find(keys, NKEYS, sect, name);

	return k != NULL && p->ks[k - keys].bad;
}

static struct form_conf *
form_find(const struct config *cf, const char *name)
{
	size_t	i;

	for (i = 0; i < cf->nforms; i++)
		if (strcmp(cf->forms[i].name, name) == 0)
			return &cf->forms[i];
	return NULL;
}

/* Adds an empty form named name with its defaults; 0 or -1 (no memory). */
static int
form_add(struct parser *p, const char *name)
{
	struct config		*cf = p->cf;
	struct form_conf	*f;
	struct keystate		*ks;
	char			*rel;

	if (grow(&cf->forms, cf->nforms, sizeof(*cf->forms)) == -1 ||
	    grow(&p->fks, cf->nforms, NFORMKEYS * sizeof(*p->fks)) == -1)
		return -1;
	f = &cf->forms[cf->nforms];
	ks = p->fks + cf->nforms * NFORMKEYS;
	memset(f, 0, sizeof(*f));
	memset(ks, 0, NFORMKEYS * sizeof(*ks));
	if ((f->name = strdup(name)) == NULL)
		return -1;
	f->line = p->line;
	p->formi = cf->nforms++;
	apply_defaults(p, formkeys, NFORMKEYS, (char *)f);
	if (p->err)
		return -1;
	if (asprintf(&rel, "forms/%s.schema.json", name) == -1)
		return -1;
	f->schema = resolve(p, rel);
	free(rel);
	return f->schema == NULL ? -1 : 0;
}

/* Opens a [form NAME] section; p->sect stays S_BAD if it is refused. */
static void
form_begin(struct parser *p, const char *name)
{
	struct form_conf	*f;

	if (*name == '\0') {
		perr(p, "a form section needs a name: [form NAME]");
		return;
	}
	if (!only_chars(name, "abcdefghijklmnopqrstuvwxyz0123456789_-",
	    CONFIG_FORM_NAME_MAX)) {
		perr(p, "form name '%s' must be 1 to %d of a-z, 0-9, _ and -",
		    name, CONFIG_FORM_NAME_MAX);
		return;
	}
	if ((f = form_find(p->cf, name)) != NULL) {
		perr(p, "duplicate form '%s' (first at line %d)", name,
		    f->line);
		return;
	}
	if (p->cf->nforms >= FORMS_MAX) {
		perr(p, "too many forms (at most %d)", FORMS_MAX);
		return;
	}
	if (form_add(p, name) == -1) {
		p->err = ERR_NOMEM;
		return;
	}
	p->sect = S_FORM;
}

static void
section_begin(struct parser *p, const char *name)
{
	int	i;

	p->sect = S_BAD;
	for (i = S_SERVER; i < S_FORM; i++) {
		if (strcmp(name, sectnames[i]) == 0) {
			p->sect = (enum sect)i;
			if (p->sectline[i] == 0)
				p->sectline[i] = p->line;
			return;
		}
	}
	if (strncmp(name, "form", 4) == 0 &&
	    (name[4] == '\0' || name[4] == ' ' || name[4] == '\t')) {
		form_begin(p, name + 4 + strspn(name + 4, " \t"));
		return;
	}
	perr(p, "unknown section [%s]", name);
}

/* Handles a "[...]" line (s is left-trimmed and may be modified). */
static void
section_line(struct parser *p, char *s)
{
	char	*end, *after, *name;
	size_t	 len;

	p->sect = S_BAD;
	if ((end = strchr(s, ']')) == NULL) {
		perr(p, "section header without ']'");
		return;
	}
	after = end + 1 + strspn(end + 1, " \t");
	if (*after != '\0' && *after != ';' && *after != '#') {
		perr(p, "unexpected text after the section header");
		return;
	}
	*end = '\0';
	name = s + 1 + strspn(s + 1, " \t");
	for (len = strlen(name); len > 0 &&
	    (name[len - 1] == ' ' || name[len - 1] == '\t'); len--)
		name[len - 1] = '\0';
	section_begin(p, name);
}

/* A key line must be "name = value"; 0 if it is, else -1 (reported). */
static int
key_line(struct parser *p, const char *s)
{
	size_t	n = strspn(s, KEYCHARS);

	if (n == 0) {
		perr(p, "expected 'key = value'");
		return -1;
	}
	s += n;
	s += strspn(s, " \t");
	if (*s != '=') {
		perr(p, "expected '=' after the key name");
		return -1;
	}
	return 0;
}

/*
 * Reads one physical line into s (size bytes), leaving room for inih's
 * bookkeeping. Returns its length, -1 at end of file, or -2 if the line was
 * too long or held a NUL byte (the rest of it is consumed).
 */
static int
get_line(FILE *fp, char *s, size_t size)
{
	size_t	len = 0;
	int	c, bad = 0;

	while ((c = getc(fp)) != EOF && c != '\n') {
		if (c == '\0' || len + 3 >= size)
			bad = 1;
		else
			s[len++] = (char)c;
	}
	s[len] = '\0';
	if (c == EOF && len == 0 && !bad)
		return -1;
	if (bad)
		return -2;
	return (int)len;
}

/*
 * inih's fgets-like reader. Hands inih exactly one line of the file per
 * call (so p->line is the line of whatever the handler is called for),
 * with leading blanks removed (inih would otherwise take an indented line
 * as the continuation of the previous value). Section headers are handled
 * here, so that even an empty [form NAME] is seen; inih gets an empty line
 * in their place, as it does for any line we found wrong and reported.
 */
static char *
read_line(char *str, int num, void *arg)
{
	struct parser	*p = arg;
	char		*s = str;
	int		 len;

	if (num < 4 || (len = get_line(p->fp, str, (size_t)num)) == -1)
		return NULL;
	p->line++;
	if (len == -2) {
		perr(p, "line too long (at most %d characters) or has a NUL "
		    "byte", num - 3);
		str[0] = '\0';
		return str;
	}
	if (p->line == 1 && strncmp(s, "\xef\xbb\xbf", 3) == 0)
		s += 3;
	s += strspn(s, " \t");
	len = (int)strlen(s);
	if (len > 0 && s[len - 1] == '\r')
		s[--len] = '\0';
	memmove(str, s, (size_t)len + 1);
	if (str[0] == '[') {
		section_line(p, str);
		str[0] = '\0';
	} else if (str[0] != '\0' && str[0] != ';' && str[0] != '#' &&
	    key_line(p, str) == -1)
		str[0] = '\0';
	return str;
}

/* Empties list key k of the struct at base (dropping its default). */
static void
list_clear(const struct key *k, char *base)
{
	void	**items = (void **)(void *)(base + k->off);
	size_t	 *n = (size_t *)(void *)(base + k->noff);
	size_t	  i;

	if (k->type == T_LIST)
		for (i = 0; i < *n; i++)
			free(((char **)*items)[i]);
	free(*items);
	*items = NULL;
	*n = 0;
}

/*
 * Sets key k from a line of the file. A scalar may be set once; a list
 * key's first line replaces its default and later lines append.
 */
static void
set_key(struct parser *p, const struct key *k, struct keystate *ks,
    char *base, const char *value)
{
	bool		list = k->type == T_LIST || k->type == T_CIDRS;
	unsigned	nerr = p->nerr;

	if (ks->line != 0 && !list) {
		perr(p, "%s: already set at line %d", k->name, ks->line);
		return;
	}
	if (ks->line == 0) {
		ks->line = p->line;
		if (list)
			list_clear(k, base);
	}
	set_value(p, k, base, value);
	if (p->nerr != nerr)
		ks->bad = true;
}

/* inih's handler, called for each "name = value" of the line just read. */
static int
on_key(void *arg, const char *section, const char *name, const char *value)
{
	struct parser		*p = arg;
	const struct key	*k;

	(void)section;
	if (p->err != 0 || p->sect == S_BAD)
		return 1;
	if (p->sect == S_NONE) {
		perr(p, "'%s' is outside any [section]", name);
		return 1;
	}
	if (p->sect == S_FORM)
		k = key_find(formkeys, NFORMKEYS, S_FORM, name);
	else
		k = key_find(keys, NKEYS, p->sect, name);
	if (k == NULL && p->sect == S_FORM)
		perr(p, "unknown key '%s' in [form %s]", name,
		    p->cf->forms[p->formi].name);
	else if (k == NULL)
		perr(p, "unknown key '%s' in [%s]", name, sectnames[p->sect]);
	else if (p->sect == S_FORM)
		set_key(p, k, &p->fks[p->formi * NFORMKEYS + (k - formkeys)],
		    (char *)&p->cf->forms[p->formi], value);
	else
		set_key(p, k, &p->ks[k - keys], (char *)p->cf, value);
	return 1;
}

static void
finish_form(struct parser *p, struct form_conf *f)
{
	f->attach_types = attachment_types(f->attachments);
	if (f->honeypot && f->reply_to && strcmp(f->honeypot, f->reply_to) == 0)
		perr_at(p, f->line, "form %s: honeypot and reply_to name the "
		    "same field", f->name);
}

/*
 * Rules that span keys, checked once every key has its final value. A rule
 * about a key whose value was refused stays quiet: that is reported.
 */
static void
check_mail(struct parser *p)
{
	struct config	*cf = p->cf;

	if (cf->nto == 0 && !key_bad(p, S_MAIL, "to"))
		perr_at(p, line_of(p, S_MAIL, "to"),
		    "[mail] needs at least one 'to' address");
	if (cf->transport == MAIL_MAILDIR && cf->maildir == NULL &&
	    !key_bad(p, S_MAIL, "maildir"))
		perr_at(p, line_of(p, S_MAIL, "transport"),
		    "transport = maildir needs a 'maildir' directory");
	if (cf->transport != MAIL_SMTP)
		return;
	if (cf->content == CONTENT_FULL && cf->tls != TLS_REQUIRED)
		perr_at(p, line_of(p, S_MAIL, "content"),
		    "content = full needs tls = required: inquiries must not "
		    "travel in clear");
	if (cf->tls == TLS_OFF && strncmp(cf->url, "smtps://", 8) == 0)
		perr_at(p, line_of(p, S_MAIL, "tls"),
		    "tls = off contradicts an smtps:// url");
}

/* A budget that cannot hold one largest request would refuse it always. */
static void
check_limits(struct parser *p)
{
	struct config	*cf = p->cf;

	if (key_bad(p, S_LIMITS, "memory_budget") ||
	    key_bad(p, S_LIMITS, "body_bytes") ||
	    key_bad(p, S_LIMITS, "header_bytes"))
		return;
	if (cf->memory_budget < cf->max_body_bytes + cf->max_header_bytes)
		perr_at(p, line_of(p, S_LIMITS, "memory_budget"),
		    "memory_budget (%zu bytes) is smaller than body_bytes "
		    "and header_bytes together (%zu): no such request could "
		    "be taken", cf->memory_budget,
		    cf->max_body_bytes + cf->max_header_bytes);
}

/* The key file name beside the SQLite database, into *dst. */
static void
key_beside(struct parser *p, char **dst, const char *name)
{
	char	dir[PATH_MAX];
	size_t	len;

	if (*dst != NULL || fs_dirname(p->cf->db_path, dir, sizeof(dir)) == -1)
		return;
	len = strlen(dir) + strlen(name) + 2;
	if ((*dst = malloc(len)) == NULL) {
		p->err = ERR_NOMEM;
		return;
	}
	snprintf(*dst, len, "%s/%s", dir, name);
}

/*
 * The store: the SQLite file, or a PostgreSQL database that several
 * daemons share. Then the keys they must share have no default: one
 * beside each daemon's state would differ from daemon to daemon, and
 * one could not open what another sealed.
 */
static void
check_storage(struct parser *p)
{
	struct config	*cf = p->cf;
	int		 line = p->sectline[S_STORAGE];

	if (cf->backend == BACKEND_SQLITE) {
		if (cf->db_url != NULL)
			perr_at(p, line, "[storage] url is for backend = "
			    "postgresql; SQLite takes path");
		key_beside(p, &cf->spool_key, "spool.key");
		key_beside(p, &cf->altcha_key, "altcha.key");
		cf->store = cf->db_path;
		return;
	}
	if (cf->db_url == NULL)
		perr_at(p, line, "[storage] backend = postgresql needs url "
		    "(postgresql://... or a libpq conninfo)");
	else if (!store_pg_target(cf->db_url))
		perr_at(p, line, "[storage] url: not a postgresql:// URI nor "
		    "a libpq conninfo (host=... dbname=...)");
	cf->store = cf->db_url;
}

static void
finish(struct parser *p)
{
	struct config	*cf = p->cf;
	size_t		 i;

	p->line = 0;
	cf->db_line = p->ks[key_find(keys, NKEYS, S_STORAGE, "path") -
	    keys].line;
	for (i = 0; i < cf->nforms; i++)
		finish_form(p, &cf->forms[i]);
	if (cf->nrecipients == 0 && cf->recipients_file == NULL &&
	    !key_bad(p, S_CRYPTO, "recipients") &&
	    !key_bad(p, S_CRYPTO, "recipients_file"))
		perr_at(p, p->sectline[S_CRYPTO], "no staff recipients yet: "
		    "on a staff member's own machine run `intakectl keygen -o "
		    "staff.key` and put the age1... line it prints under "
		    "[crypto] recipients (the key file stays on that machine)");
	check_storage(p);
	check_mail(p);
	check_limits(p);
	if (cf->nforms == 0)
		perr_at(p, 0, "no [form NAME] section: at least one form is "
		    "required");
}

/* Sets cf->path and cf->dir (absolute, so a later chdir does no harm). */
static int
set_paths(struct parser *p, const char *path)
{
	char	*copy;

	if ((p->cf->path = strdup(path)) == NULL ||
	    (copy = strdup(path)) == NULL)
		return ERR_NOMEM;
	p->cf->dir = realpath(dirname(copy), NULL);
	free(copy);
	if (p->cf->dir == NULL) {
		if (errno == ENOMEM)
			return ERR_NOMEM;
		perr_at(p, 0, "cannot resolve its directory: %s",
		    strerror(errno));
		return ERR_IO;
	}
	return 0;
}

static int
parse(struct parser *p)
{
	int	rc;

	if ((p->fp = fopen(p->cf->path, "r")) == NULL) {
		perr_at(p, 0, "cannot open: %s", strerror(errno));
		return ERR_IO;
	}
	rc = ini_parse_stream(read_line, p, on_key, p);
	if (ferror(p->fp)) {
		perr_at(p, 0, "read error after line %d", p->line);
		return ERR_IO;
	}
	if (rc == -2 || p->err)
		return ERR_NOMEM;
	/* Our reader hands inih only lines it accepts; this is a backstop. */
	if (rc > 0)
		perr_at(p, rc, "syntax error");
	return 0;
}

/*
 * Loads path into a new snapshot; see config.h. Every problem is reported
 * through d, then ERR_CONFIG is returned; ERR_IO when the file
 * cannot be read at all, ERR_NOMEM without memory.
 */
int
config_load(const char *path, struct config **out, struct diag *d)
{
	struct parser	p;
	int		rc;

	*out = NULL;
	memset(&p, 0, sizeof(p));
	p.d = d;
	if ((p.cf = calloc(1, sizeof(*p.cf))) == NULL ||
	    (p.ks = calloc(NKEYS, sizeof(*p.ks))) == NULL) {
		rc = ERR_NOMEM;
		goto out;
	}
	if ((rc = set_paths(&p, path)) != 0)
		goto out;
	apply_defaults(&p, keys, NKEYS, (char *)p.cf);
	if (!p.err && (rc = parse(&p)) != 0)
		goto out;
	if (!p.err)
		finish(&p);
	if (p.err)
		rc = p.err;
	else if (p.nerr > 0)
		rc = ERR_CONFIG;
out:
	if (p.fp != NULL)
		fclose(p.fp);
	free(p.ks);
	free(p.fks);
	if (rc == 0)
		*out = p.cf;
	else
		config_free(p.cf);
	return rc;
}

/* Frees every value the key table points at in the struct at base. */
static void
free_values(const struct key *tab, size_t n, char *base)
{
	char	**list;
	size_t	  i, j, count;

	for (i = 0; i < n; i++) {
		void	*dst = base + tab[i].off;

		switch (tab[i].type) {
		case T_STR:
		case T_PATH:
		case T_CIDRS:
			free(*(void **)dst);
			break;
		case T_LIST:
			list = *(char ***)dst;
			count = *(size_t *)(void *)(base + tab[i].noff);
			for (j = 0; j < count; j++)
				free(list[j]);
			free(list);
			break;
		default:
			break;
		}
	}
}

void
config_free(struct config *cf)
{
	size_t	i;

	if (cf == NULL)
		return;
	for (i = 0; i < cf->nforms; i++) {
		free_values(formkeys, NFORMKEYS, (char *)&cf->forms[i]);
		free(cf->forms[i].name);
	}
	free(cf->forms);
	free_values(keys, NKEYS, (char *)cf);
	free(cf->path);
	free(cf->dir);
	free(cf);
}

const struct form_conf *
config_form(const struct config *cf, const char *name)
{
	return form_find(cf, name);
}

