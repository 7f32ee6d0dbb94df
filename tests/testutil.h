#ifndef INTAKE_TESTUTIL_H
#define INTAKE_TESTUTIL_H

#include <sys/types.h>

#include <stddef.h>

/*
 * Scaffolding shared by the Check suites (tests/check_NAME.c) and the
 * benchmarks (tests/bench/NAME.c). Nothing here uses Check, so that the
 * benchmarks link it too: a helper reports failure by its return value
 * (-1 or NULL, with errno set), and a suite wraps the call in ck_assert, a
 * benchmark in fatal(). Only the diag sinks, which return nothing, abort.
 */

struct diag;

/*
 * Makes a fresh private directory /tmp/TAG.XXXXXX and writes its path into
 * dir (size bytes). Returns dir, or NULL (ENAMETOOLONG when the path does
 * not fit). Always under /tmp, never $TMPDIR: tests bind Unix sockets in
 * it, and sun_path holds only 108 bytes.
 */
char	*tu_tmpdir(char *dir, size_t size, const char *tag);

/*
 * Removes dir and everything below it, without following links. Refuses
 * (EINVAL) a path not under /tmp/, so that a test's bug cannot delete
 * anything else. With KEEP_TMP set in the environment it removes nothing
 * and says where the files are, to look at what a test left. Returns 0,
 * or -1 if something could not be removed.
 */
int	 tu_rmtree(const char *dir);

/* Seconds on the monotonic clock, for the benchmarks' timed loops. */
double	 tu_now(void);

/* Writes dir/name into out (size bytes). Returns out, or NULL if it does
   not fit: a truncated path would name some other file. */
char	*tu_path(char *out, size_t size, const char *dir, const char *name);

/*
 * Creates or truncates path and writes len bytes of data to it. The file
 * gets exactly mode whatever the umask or its old mode, since tests check
 * how the code under test treats a mode. Returns 0 or -1.
 */
int	 tu_write_file(const char *path, const void *data, size_t len,
	    mode_t mode);

/*
 * Reads the whole file at path. Returns its bytes with a NUL added (so a
 * text file is a C string), and their number in *len (when len != NULL);
 * the caller frees the result. NULL if it cannot be read.
 */
void	*tu_read_file(const char *path, size_t *len);

/* The number of entries in dir whose names do not start with '.' (what a
   Maildir counts as a message), or -1 if dir cannot be read. */
int	 tu_count_files(const char *dir);

/* Creates the Maildir dir with its new/, cur/ and tmp/ (0700); dir must
   not exist yet. Returns 0 or -1. */
int	 tu_maildir(const char *dir);

/* A TCP port on 127.0.0.1 that was free a moment ago, or -1. */
int	 tu_free_port(void);

/*
 * Starts a real SMTP server: aiosmtpd from the system interpreter on
 * 127.0.0.1:port, delivering into the Maildir at maildir (see tu_maildir).
 * opts (NULL-terminated, or NULL) are added to its command line, e.g.
 * "--tlscert", C, "--tlskey", K or "-s", SIZE. Its output is appended to
 * log (NULL: discarded). It is killed if the caller dies first. Waits, at
 * most 10 s, until it accepts connections; returns its pid, or -1 (it
 * exited or did not listen in time, and is gone).
 */
pid_t	 tu_aiosmtpd_start(int port, const char *maildir,
	    const char *const opts[], const char *log);

/* Stops a server from tu_aiosmtpd_start (SIGTERM) and reaps it; a pid
   <= 0 (never started, or stopped already) is a no-op. */
void	 tu_aiosmtpd_stop(pid_t pid);

/* A diag sink that drops every line; with SHOW_DIAG set in the
   environment it prints them to stderr, to see why a load failed. */
void	 tu_diag_quiet(struct diag *d, const char *line);

/*
 * A diag sink that appends each line and a newline to the struct buf at
 * d->arg. Aborts if the buf refuses: a lost line would make a test that
 * looks for it fail, or pass, for the wrong reason.
 */
void	 tu_diag_buf(struct diag *d, const char *line);

/* The staff addresses that mail tests send notifications to: two, so
   that the To: list is exercised (config's to, nto). */
#define TU_NSTAFF	2
extern char	*tu_staff[TU_NSTAFF];

struct config;
struct form_conf;

/*
 * Fills *cfg and *fc (zeroed first) with the mailer configuration the mail
 * tests and benchmarks share: one form "consultation" with reply_to email,
 * the shipped templates (INTAKE_TEMPLATES overrides the directory), the
 * database at db, SMTP to url from intake@example.org to tu_staff, given up
 * after a day. The caller sets what it tests or measures: tls, content,
 * the form's subject, mail_parallel, mail_timeout_ms. cfg points into fc
 * and at db and url, which must outlive it.
 */
void	 tu_mail_config(struct config *cfg, struct form_conf *fc,
	    char *db, char *url);

#endif
