#ifndef INTAKE_LOG_H
#define INTAKE_LOG_H

#include <stdarg.h>

/*
 * Logging to stderr. Under journald (JOURNAL_STREAM set) each line carries a
 * "<N>" syslog priority prefix; otherwise "progname: level: ". Log lines name
 * an inquiry by id and never contain a field value.
 */

#define LOG_LVL_ERR	3
#define LOG_LVL_WARN	4
#define LOG_LVL_NOTICE	5
#define LOG_LVL_INFO	6
#define LOG_LVL_DEBUG	7

#define LOG_PRINTF(a, b) __attribute__((format(printf, a, b)))

void	log_init(const char *progname, int level);
void	log_setlevel(int level);
void	log_warn(const char *, ...) LOG_PRINTF(1, 2);	/* adds strerror(errno) */
void	log_warnx(const char *, ...) LOG_PRINTF(1, 2);
void	log_notice(const char *, ...) LOG_PRINTF(1, 2);
void	log_info(const char *, ...) LOG_PRINTF(1, 2);
void	log_debug(const char *, ...) LOG_PRINTF(1, 2);
_Noreturn void	fatal(const char *, ...) LOG_PRINTF(1, 2);
_Noreturn void	fatalx(const char *, ...) LOG_PRINTF(1, 2);

/*
 * Diagnostics from loaders (config, schemas, templates, recipients): each
 * problem is one "file:line: reason" line. The default sink (emit == NULL)
 * writes the line to stderr unadorned so that `intaked -t` output can be read
 * by people and by tests; count tells the caller whether anything failed.
 */
struct diag {
	unsigned	 count;
	void		(*emit)(struct diag *, const char *line);
	void		*arg;
};

void	diag(struct diag *, const char *file, int line, const char *fmt, ...)
	    LOG_PRINTF(4, 5);

#endif
