#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

static const char	*prog = "intaked";
static int		 maxlevel = LOG_LVL_INFO;
static int		 journald;

static const char *const lvlname[] = {
	"emerg", "alert", "crit", "error", "warning", "notice", "info", "debug"
};

void
log_init(const char *progname, int level)
{
	prog = progname;
	maxlevel = level;
	journald = getenv("JOURNAL_STREAM") != NULL;
}

void
log_setlevel(int level)
{
	maxlevel = level;
}

/* One write per line so concurrent threads never interleave within a line. */
static void
vlog(int level, const char *errstr, const char *fmt, va_list ap)
{
	char	msg[1024], line[1200];

	if (level > maxlevel)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (journald)
		snprintf(line, sizeof(line), "<%d>%s%s%s\n", level, msg,
		    errstr ? ": " : "", errstr ? errstr : "");
	else
		snprintf(line, sizeof(line), "%s: %s: %s%s%s\n", prog,
		    lvlname[level], msg, errstr ? ": " : "",
		    errstr ? errstr : "");
	fputs(line, stderr);
}

void
log_warn(const char *fmt, ...)
{
	va_list	ap;
	int	saved = errno;

	va_start(ap, fmt);
	vlog(LOG_LVL_WARN, strerror(saved), fmt, ap);
	va_end(ap);
	errno = saved;
}

void
log_warnx(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vlog(LOG_LVL_WARN, NULL, fmt, ap);
	va_end(ap);
}

void
log_notice(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vlog(LOG_LVL_NOTICE, NULL, fmt, ap);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vlog(LOG_LVL_INFO, NULL, fmt, ap);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vlog(LOG_LVL_DEBUG, NULL, fmt, ap);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	va_list	ap;
	int	saved = errno;

	va_start(ap, fmt);
	vlog(LOG_LVL_ERR, strerror(saved), fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vlog(LOG_LVL_ERR, NULL, fmt, ap);
	va_end(ap);
	exit(1);
}

void
diag(struct diag *d, const char *file, int line, const char *fmt, ...)
{
	char	msg[512], out[1024];
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (line > 0)
		snprintf(out, sizeof(out), "%s:%d: %s", file, line, msg);
	else
		snprintf(out, sizeof(out), "%s: %s", file, msg);
	d->count++;
	if (d->emit)
		d->emit(d, out);
	else
		fprintf(stderr, "%s\n", out);
}
