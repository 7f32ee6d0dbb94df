#ifndef INTAKE_CONFIG_H
#define INTAKE_CONFIG_H

#include "err.h"

#include <stddef.h>
#include <stdint.h>

#include "log.h"
#include "net.h"

/*
 * The configuration snapshot. Loaded whole from an INI file by config_load();
 * a reload builds a new snapshot and swaps it in only if it is entirely
 * valid. Every key is described once in the table in config.c (name, type,
 * bounds, default, target), which drives parsing, validation and the
 * defaults documented in config/intaked.conf.
 *
 * Paths in the file are resolved against the config file's directory, so
 * every char * path below is usable as is.
 */

enum mail_transport { MAIL_SMTP, MAIL_MAILDIR };
enum store_backend { BACKEND_SQLITE, BACKEND_POSTGRESQL };
enum mail_tls { TLS_REQUIRED, TLS_OPPORTUNISTIC, TLS_OFF };
enum mail_content { CONTENT_FULL, CONTENT_SUMMARY, CONTENT_SEALED };

#define CONFIG_FORM_NAME_MAX	64	/* bytes of a [form NAME] name */

struct form_conf {
	char		 *name;
	int		  line;		/* line of the [form NAME] header */
	char		 *schema;	/* path to NAME.schema.json */
	char		 *redirect;	/* 303 target for HTML clients, or NULL */
	char		 *privacy_url;	/* linked beside the consent, or NULL */
	char		 *fhir_questionnaire;	/* export's canonical, or NULL */
	char		 *honeypot;	/* field name, or NULL */
	char		 *reply_to;	/* field name holding the patient's email */
	char		 *subject;	/* mail subject template */
	int		  ack;		/* auto-reply to the patient */
	char		 *attachments;	/* "none" or the MIME types taken */
	unsigned	  attach_types;	/* the same, 1u << enum filetype */
	size_t		  file_bytes;	/* one file, at most */
	unsigned	  files;	/* files in one submission, at most */
	char		**cors_origins;
	size_t		  ncors_origins;
	int		  altcha;	/* a proof of work is required */
	unsigned	  altcha_maxnumber;	/* its difficulty */
	uint64_t	  altcha_ttl_s;	/* a challenge's lifetime */
};

struct config {
	char		 *path;		/* the file as given */
	char		 *dir;		/* its directory, absolute */

	/* [server] */
	char		**listen;	/* "host:port", "[v6]:port", "unix:/path" */
	size_t		  nlisten;
	struct cidr	 *trusted_proxies;
	size_t		  ntrusted_proxies;
	char		 *templates;	/* directory */
	char		 *public_files;	/* the widget the form pages load */
	int		  log_level;	/* LOG_LVL_* */

	/* [limits] */
	unsigned	  max_connections;
	unsigned	  max_conns_per_ip;	/* 0 = no cap */
	size_t		  memory_budget;	/* request bytes in memory */
	unsigned	  header_timeout_ms;
	unsigned	  body_timeout_ms;
	unsigned	  idle_timeout_ms;
	unsigned	  shutdown_timeout_ms;
	size_t		  max_header_bytes;
	size_t		  max_body_bytes;
	size_t		  max_upload_bytes;	/* files of one submission */
	unsigned	  max_fields;
	size_t		  max_field_bytes;
	unsigned	  max_json_depth;
	unsigned	  max_pending_writes;
	unsigned	  rate_per_minute;	/* per client IP; 0 = off */
	unsigned	  rate_burst;

	/* [storage] */
	enum store_backend backend;
	char		 *db_path;	/* SQLite file; its directory holds
					   staged uploads with either backend */
	int		  db_line;	/* where path was set; 0: the default */
	char		 *db_url;	/* PostgreSQL: URI or conninfo */
	char		 *db_password_file;
	char		 *spool_key;	/* key file; NULL: none (credential) */
	char		 *altcha_key;
	const char	 *store;	/* what store_open gets: db_path or
					   db_url */
	uint64_t	  retention_s;		/* 0 = keep forever */

	/* [crypto] */
	char		**recipients;		/* age1… strings, as written */
	size_t		  nrecipients;
	char		 *recipients_file;	/* age -R format, or NULL */

	/* [mail] */
	enum mail_transport transport;
	char		 *maildir;
	char		 *url;
	enum mail_tls	  tls;
	char		 *ca_file;
	char		 *username;
	char		 *password_file;
	char		 *from;
	char		**to;
	size_t		  nto;
	enum mail_content content;
	unsigned	  mail_parallel;
	unsigned	  mail_timeout_ms;
	size_t		  mail_max_attach;	/* content=sealed: files attached */
	uint64_t	  give_up_after_s;

	/* [admin]: the staff inbox and /metrics */
	char		**admin_listen;
	size_t		  nadmin_listen;
	char		 *admin_public_url;	/* or NULL */
	char		 *admin_root;		/* the inbox's files */
	unsigned	  admin_max_connections;
	unsigned	  admin_max_conns_per_ip;	/* 0 = no cap */
	size_t		  admin_body_bytes;
	unsigned	  admin_login_rate;	/* per minute per IP; 0 = off */
	unsigned	  admin_login_burst;
	unsigned	  session_idle_ms;
	unsigned	  session_max_ms;

	struct form_conf *forms;
	size_t		  nforms;
};


/*
 * Parses path into a new snapshot. Every problem (unknown section or key,
 * bad value, missing required key, duplicate form) is reported through d
 * as "file:line: reason"; all problems are reported, not just the first.
 * On success *out owns a snapshot the caller frees with config_free().
 * On failure *out is NULL.
 */
int			 config_load(const char *path, struct config **out,
			    struct diag *d);
void			 config_free(struct config *);
const struct form_conf	*config_form(const struct config *, const char *name);

/*
 * Parses a duration such as "90d", "12h", "30m", "45s", "1500ms" or "1h30m"
 * into milliseconds (a bare number has no unit and is refused). Returns 0
 * or ERR_CONFIG, leaving *ms alone. Shared with intakectl purge.
 */
int			 config_parse_duration(const char *, uint64_t *ms);

#endif
