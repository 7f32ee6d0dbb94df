#ifndef INTAKE_CTL_H
#define INTAKE_CTL_H

/*
 * intakectl's modules: intakectl.c (options, help, dispatch), ctl_util.c
 * (what the commands share), ctl_read.c (list, show, cat, attachment),
 * ctl_export.c (export), ctl_admin.c (keygen, delete, purge, stats, queue,
 * retry, audit). Every command exits 0 on success, 1 on failure and 2 on a
 * usage error, with exactly one "intakectl: …" line on stderr when it
 * fails (ctl_fail).
 */

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "age.h"
#include "buf.h"
#include "config.h"
#include "log.h"
#include "store.h"

#define DEFAULT_CONFIG	"/etc/intaked/intaked.conf"
#define MAX_IDENTITY_FILES 16
#define MAX_CSV_COLUMNS	1024
#define DIAG_LINE	512

enum exit_code { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

/* What the global options say, and what was loaded because of them. */
struct ctl {
	const char	*config_path;
	const char	*db_override;
	struct config	*cfg;
	const char	*cmd;
};

/* The identities of every -i file, for decrypting. */
struct keys {
	const char		*paths[MAX_IDENTITY_FILES];
	size_t			 npaths;
	struct age_identity	*ids;
	size_t			 nids;
	/* When set, a record no identity opens is counted here and skipped
	   (CTL_SKIPPED) instead of failing the command. */
	size_t			*skipped;
};

#define CTL_SKIPPED	(-1)	/* beside enum exit_code: go on without it */

/* Prints the one error line and returns code. */
int LOG_PRINTF(2, 3) ctl_fail(int code, const char *fmt, ...);
/* jansson's free: every block it releases is wiped first. */
void	ctl_wipe_free(void *);
void	ctl_keep_first(struct diag *, const char *line);
/* The configuration (unless -d made it unnecessary), the database path,
   and the database opened with store_open's flags. */
int	ctl_load_config(struct ctl *);
const char *ctl_db_path(struct ctl *);
int	ctl_open_db(struct ctl *, int flags, struct store **);
/* Parsing and checking what a command was given. */
int	ctl_parse_when(const char *, int64_t *ms);
int	ctl_parse_count(const char *, uint64_t *);
int	ctl_bad_option(struct ctl *, int ch, char **argv);
int	ctl_one_id(struct ctl *, int argc, char **argv, const char **id);
int	ctl_no_options(struct ctl *, int argc, char **argv);
int	ctl_no_args(struct ctl *, int argc, char **argv);
/* --since, --until, --form, --limit into f. */
int	ctl_filter_opt(int ch, const char *arg, struct store_filter *f);
/* Flushes stdout; a failed write (full disk, closed pipe) is a failure. */
int	ctl_finish(void);
/* s for a person: controls as '?', hidden characters as ⟦U+XXXX⟧. */
void	ctl_print_clean(FILE *, const char *s, const char *indent);
/* Identities from -i files. */
int	ctl_keys_add(struct keys *, const char *path);
int	ctl_keys_load(struct ctl *, struct keys *);
void	ctl_keys_free(struct keys *);
/* Inquiry id decrypted into pt (the caller wipes it), or parsed into *rec
   (checked to name id). */
int	ctl_decrypt(struct store *, const struct keys *, const char *id,
	    struct buf *pt);
int	ctl_load_record(struct store *, const struct keys *, const char *id,
	    json_t **rec);
/* Attachment n (from 1) of id, decrypted and checked against meta, its
   entry in the record's "attachments". */
int	ctl_file_plain(struct store *, const struct keys *, const char *id,
	    unsigned n, const json_t *meta, struct buf *pt);
/* A value as text (caller frees); a member's string or dflt. */
char	*ctl_value_text(const json_t *);
const char *ctl_str_or(const json_t *, const char *key, const char *dflt);
/* The audit entry of intakectl's action, and of a read before it shows
   anything (a read the log cannot record does not happen). */
void	ctl_audit_as(struct audit_event *, char *actor, size_t len,
	    const char *action, const char *id);
int	ctl_audit_read(struct ctl *, const char *action, const char *id,
	    const char *detail);
/* Ids collected from store_list (newest first, as it lists them). */
struct ctl_ids {
	char	(*id)[STORE_ID_LEN + 1];
	size_t	  n, cap;
	int	  oom;
};
int	ctl_collect_id(void *arg, const struct store_meta *);
/* Calls fn with each record of l that k opens, oldest first (the record
   is freed after); skips, and counts, what no identity opens. Stops at
   the first result other than EXIT_OK and returns it. */
int	ctl_each_record(struct store *, const struct keys *,
	    const struct ctl_ids *l,
	    int (*fn)(void *arg, const char *id, json_t *rec), void *arg);
/* A store_attachment callback appending to a struct buf. */
int	ctl_to_buf(void *arg, const void *p, size_t n);
/* A new file (0600, never an existing one), and writing it whole. */
int	ctl_open_new(const char *path, int *fd);
int	ctl_write_new(const char *path, int fd, const void *p, size_t n);

/* The commands: argv[0] is the command's name. */
int	cmd_keygen(struct ctl *, int, char **);
int	cmd_list(struct ctl *, int, char **);
int	cmd_show(struct ctl *, int, char **);
int	cmd_cat(struct ctl *, int, char **);
int	cmd_attachment(struct ctl *, int, char **);
int	cmd_export(struct ctl *, int, char **);
int	cmd_delete(struct ctl *, int, char **);
int	cmd_purge(struct ctl *, int, char **);
int	cmd_stats(struct ctl *, int, char **);
int	cmd_queue(struct ctl *, int, char **);
int	cmd_retry(struct ctl *, int, char **);
int	cmd_audit(struct ctl *, int, char **);
int	cmd_rekey(struct ctl *, int, char **);
int	cmd_migrate(struct ctl *, int, char **);
/* export --format fhir: l's records as FHIR R4 QuestionnaireResponses. */
int	ctl_export_fhir(struct ctl *, struct store *, const struct keys *,
	    const struct ctl_ids *, int with_files);

#endif
