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
#include "version.h"

/*
 * The commands: how each is called, one line on what it does, and what
 * `intakectl help CMD` adds. The overview is made from the same table, so
 * the two never disagree.
 */
static const struct command {
	const char	*name;
	int		(*fn)(struct ctl *, int, char **);
	const char	*usage;
	const char	*summary;
	const char	*more;
} commands[] = {
	{ "keygen", cmd_keygen, "keygen [-o FILE]",
	  "make an age identity; print its recipient",
	  "Run it on a staff member's own machine, never on the server. The\n"
	  "file is written 0600 and never overwritten; its recipient (age1...)\n"
	  "goes into the server's [crypto] recipients or recipients_file.\n" },
	{ "list", cmd_list, "list [--since T] [--until T] [--form F] "
	  "[--limit N] [--json]",
	  "inquiries, newest first (no key needed)",
	  "Shows id, time, form, size, files, status and the notification's\n"
	  "state; nothing that needs a key.\n" },
	{ "show", cmd_show, "show ID -i IDENTITY [-i IDENTITY ...] [--json]",
	  "decrypt and print one inquiry",
	  "Audited as a view. Control characters print as '?' and characters\n"
	  "that hide or reorder text as marks like [U+202E].\n" },
	{ "cat", cmd_cat, "cat ID [--attachment N]",
	  "the raw age file, for `age -d -i KEY`",
	  "Refuses to write to a terminal. Audited (the sealed file).\n" },
	{ "attachment", cmd_attachment,
	  "attachment ID N -i IDENTITY [-o FILE]",
	  "decrypt attachment N (from 1, as show lists)",
	  "Checked against the SHA-256 in the record; -o never overwrites;\n"
	  "to standard output only when it is not a terminal. Audited.\n" },
	{ "export", cmd_export, "export -i IDENTITY [--format ndjson|csv|fhir "
	  "[--with-files]] [--since T] [--until T] [--form F]",
	  "decrypt inquiries, oldest first",
	  "fhir: FHIR R4 QuestionnaireResponses as NDJSON, files described\n"
	  "(their bytes too with --with-files). Audited once, with the count.\n"
	  "CSV neutralises formulas. What no\n"
	  "identity given opens is left out: the rest is exported, the count\n"
	  "goes to standard error and the exit status is 1.\n" },
	{ "delete", cmd_delete, "delete ID [--yes]",
	  "erase an inquiry, its files and its notifications",
	  "On a terminal it asks first; scripts say --yes (without a terminal\n"
	  "it refuses). Audited; with SQLite also overwritten on disk (with\n"
	  "PostgreSQL the bytes stay until VACUUM reuses them).\n" },
	{ "purge", cmd_purge, "purge --older-than DURATION [--dry-run] [--yes]",
	  "erase inquiries older than DURATION (e.g. 90d)",
	  "--dry-run lists what would go and erases nothing. Otherwise it asks\n"
	  "on a terminal, or needs --yes. [storage] retention runs the same\n"
	  "purge daily inside intaked.\n" },
	{ "stats", cmd_stats, "stats", "counts, sizes, notification states",
	  NULL },
	{ "queue", cmd_queue, "queue [--all]",
	  "notifications not yet sent (--all: all)", NULL },
	{ "retry", cmd_retry, "retry ID",
	  "send an inquiry's failed or waiting notifications now",
	  "Failed ones are queued again with a fresh give-up clock; queued\n"
	  "ones are made due. intaked looks at the queue every 30 s.\n" },
	{ "rekey", cmd_rekey, "rekey -i OLD_IDENTITY [-i ...] [--since T]",
	  "encrypt again to the current recipients what the old keys open",
	  "For key rotation: put the new recipients in the configuration,\n"
	  "then run this with the retiring identity. Records and attachments\n"
	  "are re-encrypted in batches, one transaction each, audited per\n"
	  "inquiry; with SQLite the old ciphertext is scrubbed from the file.\n"
	  "Interrupted, it is run again: what is done no longer opens with the\n"
	  "old key and is passed over.\n" },
	{ "migrate", cmd_migrate, "migrate --to postgresql://...",
	  "copy this SQLite store into an empty PostgreSQL database",
	  "Inquiries, files, notifications, the audit log, sessions and spent\n"
	  "challenges, in one transaction that commits only when every table's\n"
	  "row count and SHA-256 read back equal. The SQLite file is only\n"
	  "read; stop intaked first, or what it stores meanwhile stays behind.\n" },
	{ "audit", cmd_audit, "audit [--since T] [--json] | audit --verify",
	  "who read or changed what, oldest first; --verify checks the "
	  "hash chain", NULL },
	{ "help", NULL, "help [COMMAND]", "this overview, or one command's",
	  NULL },
};

#define NCOMMANDS	(sizeof(commands) / sizeof(commands[0]))

static const char usage_head[] =
"usage: intakectl [-c CONFIG] [-d DATABASE] [-v] COMMAND [ARGS]\n"
"       (-c, -d and --verbose may also follow the command)\n\n";
static const char usage_tail[] =
"\nT is an RFC 3339 date or time (2026-11-21, 2026-11-21T05:00:00Z) or a\n"
"duration back from now (7d, 12h). CONFIG defaults to " DEFAULT_CONFIG ";\n"
"-d names the database directly. Exit: 0 ok, 1 failed, 2 usage.\n";

static int
overview(void)
{
	size_t	i;

	fputs(usage_head, stdout);
	for (i = 0; i < NCOMMANDS; i++)
		printf("  %s\n      %s\n", commands[i].usage,
		    commands[i].summary);
	fputs(usage_tail, stdout);
	return ctl_finish();
}

static const struct command *
find_command(const char *name)
{
	size_t	i;

	for (i = 0; i < NCOMMANDS; i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

static int
command_help(const struct command *cmd)
{
	printf("usage: intakectl [-c CONFIG] [-d DATABASE] %s\n\n%s.\n",
	    cmd->usage, cmd->summary);
	if (cmd->more)
		printf("\n%s", cmd->more);
	fputs(usage_tail, stdout);
	return ctl_finish();
}

static int
help(int argc, char **argv)
{
	const struct command	*cmd;

	if (argc < 2)
		return overview();
	if ((cmd = find_command(argv[1])) == NULL)
		return ctl_fail(EXIT_USAGE, "unknown command '%s' (see intakectl "
		    "help)", argv[1]);
	return command_help(cmd);
}

/*
 * Takes the global options out of argv wherever they stand, before the
 * command or after it (`intakectl show ID -c FILE`), up to a "--". What is
 * left is the command and its own arguments, in order. Returns -1 to go
 * on, or the exit code (--version prints and succeeds).
 */
static int
global_opts(struct ctl *c, int *argc, char **argv)
{
	const char	*a, *v;
	int		 i, o = 1, end = 0, cmd = 0;

	for (i = 1; i < *argc; i++) {
		a = argv[i];
		if (end || a[0] != '-' || a[1] == '\0') {
			cmd = 1;
			argv[o++] = argv[i];
			continue;
		}
		if (strcmp(a, "--") == 0) {
			end = 1;
			argv[o++] = argv[i];
			continue;
		}
		/* After the command -v is the command's own (audit -v is
		   --verify); --verbose is global everywhere. */
		if ((!cmd && strcmp(a, "-v") == 0) ||
		    strcmp(a, "--verbose") == 0) {
			log_setlevel(LOG_LVL_DEBUG);
			continue;
		}
		if (strcmp(a, "--version") == 0 || strcmp(a, "-V") == 0) {
			printf("intakectl %s\n", INTAKE_VERSION);
			return ctl_finish();
		}
		v = NULL;
		if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0 ||
		    strcmp(a, "-d") == 0 || strcmp(a, "--database") == 0) {
			if (i + 1 >= *argc)
				return ctl_fail(EXIT_USAGE, "%s needs a value", a);
			v = argv[++i];
		} else if (strncmp(a, "--config=", 9) == 0 ||
		    strncmp(a, "--database=", 11) == 0)
			v = strchr(a, '=') + 1;
		else if ((a[1] == 'c' || a[1] == 'd') && a[2] != '\0' &&
		    a[1] != '-')
			v = a + 2;
		if (v == NULL) {
			argv[o++] = argv[i];
			continue;
		}
		if (a[1] == 'c' || strncmp(a, "--config", 8) == 0)
			c->config_path = v;
		else
			c->db_override = v;
	}
	argv[o] = NULL;
	*argc = o;
	return -1;
}

int
main(int argc, char **argv)
{
	struct ctl		 c = { DEFAULT_CONFIG, NULL, NULL, NULL };
	const struct command	*cmd;
	int			 rc, i;

	/* Store warnings would add lines to the one-line errors; -v. */
	log_init("intakectl", LOG_LVL_ERR);
	json_set_alloc_funcs(malloc, ctl_wipe_free);
	if (sodium_init() < 0)
		return ctl_fail(EXIT_FAIL, "cannot initialise libsodium");
	if ((rc = global_opts(&c, &argc, argv)) != -1)
		return rc;
	argc--;
	argv++;
	if (argc == 0)
		return ctl_fail(EXIT_USAGE, "no command given (see intakectl "
		    "help)");
	if (strcmp(argv[0], "-h") == 0 || strcmp(argv[0], "--help") == 0)
		return overview();
	if ((cmd = find_command(argv[0])) == NULL)
		return ctl_fail(EXIT_USAGE, "unknown command '%s' (see intakectl "
		    "help)", argv[0]);
	if (cmd->fn == NULL)
		return help(argc, argv);
	for (i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
			return command_help(cmd);
	c.cmd = cmd->name;
	optind = 0;	/* glibc: start over, on the command's own argv */
	rc = cmd->fn(&c, argc, argv);
	config_free(c.cfg);
	return rc;
}
