/*
 * intakectl: the staff and admin command line. It reads the daemon's
 * database (read-only except delete, purge and retry) and decrypts records
 * with identities the staff bring along (-i); the server itself never
 * needs a secret key. The commands live in ctl_*.c (see ctl.h).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "ctl.h"
#include "log.h"

#ifndef INTAKE_VERSION
#define INTAKE_VERSION	"0.1.0"
#endif
static const char usage_text[] =
"usage: intakectl [-c CONFIG] [-d DATABASE] [-v] COMMAND [ARGS]\n"
"\n"
"  keygen [-o FILE]            make an age identity; print its recipient\n"
"  list [--since T] [--until T] [--form F] [--limit N] [--json]\n"
"                              inquiries, newest first (no key needed)\n"
"  show ID -i IDENTITY [-i IDENTITY ...] [--json]\n"
"                              decrypt and print one inquiry\n"
"  cat ID [--attachment N]    the raw age file, for `age -d -i KEY`\n"
"  attachment ID N -i IDENTITY [-o FILE]\n"
"                              decrypt attachment N (from 1, as show lists)\n"
"  export -i IDENTITY [--format ndjson|csv] [--since T] [--until T]\n"
"         [--form F]           decrypt inquiries, oldest first\n"
"  delete ID                   erase an inquiry and its notifications\n"
"  purge --older-than DURATION erase inquiries older than DURATION (90d)\n"
"  stats                       counts, sizes, notification states\n"
"  queue [--all]               notifications not yet sent (--all: all)\n"
"  retry ID                    re-queue an inquiry's failed notifications\n"
"  audit [--since T] [--json]  who read or changed what, oldest first\n"
"  audit --verify              check the audit log's hash chain\n"
"\n"
"T is an RFC 3339 date or time (2026-11-21, 2026-11-21T05:00:00Z) or a\n"
"duration back from now (7d, 12h). CONFIG defaults to " DEFAULT_CONFIG ";\n"
"-d names the database directly. Exit: 0 ok, 1 failed, 2 usage.\n";

/* ---- main ----------------------------------------------------------- */

static const struct command {
	const char	*name;
	int		(*fn)(struct ctl *, int, char **);
} commands[] = {
	{ "keygen", cmd_keygen },
	{ "list", cmd_list },
	{ "show", cmd_show },
	{ "cat", cmd_cat },
	{ "attachment", cmd_attachment },
	{ "export", cmd_export },
	{ "delete", cmd_delete },
	{ "purge", cmd_purge },
	{ "stats", cmd_stats },
	{ "queue", cmd_queue },
	{ "retry", cmd_retry },
	{ "audit", cmd_audit },
};

/* Parses the global options. Returns -1 to go on with the command, or
   the exit code (help and version print and succeed). */
static int
global_opts(struct ctl *c, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "database", required_argument, NULL, 'd' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	int	ch;

	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+:c:d:vhV", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'c':
			c->config_path = optarg;
			break;
		case 'd':
			c->db_override = optarg;
			break;
		case 'v':
			log_setlevel(LOG_LVL_DEBUG);
			break;
		case 'h':
			fputs(usage_text, stdout);
			return ctl_finish();
		case 'V':
			printf("intakectl %s\n", INTAKE_VERSION);
			return ctl_finish();
		default:
			return ctl_bad_option(c, ch, argv);
		}
	}
	return -1;
}

static const struct command *
find_command(const char *name)
{
	size_t	i;

	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

int
main(int argc, char **argv)
{
	struct ctl		 c = { DEFAULT_CONFIG, NULL, NULL, NULL };
	const struct command	*cmd;
	int			 rc;

	/* Store warnings would add lines to the one-line errors; -v. */
	log_init("intakectl", LOG_LVL_ERR);
	json_set_alloc_funcs(malloc, ctl_wipe_free);
	if (sodium_init() < 0)
		return ctl_fail(EXIT_FAIL, "cannot initialise libsodium");
	if ((rc = global_opts(&c, argc, argv)) != -1)
		return rc;
	argc -= optind;
	argv += optind;
	if (argc == 0)
		return ctl_fail(EXIT_USAGE, "no command given (see intakectl "
		    "--help)");
	if ((cmd = find_command(argv[0])) == NULL)
		return ctl_fail(EXIT_USAGE, "unknown command '%s' (see intakectl "
		    "--help)", argv[0]);
	if (argc > 1 && (strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "--help") == 0)) {
		fputs(usage_text, stdout);
		return ctl_finish();
	}
	c.cmd = cmd->name;
	optind = 0;	/* glibc: start over, on the command's own argv */
	rc = cmd->fn(&c, argc, argv);
	config_free(c.cfg);
	return rc;
}
