/* main.c - argv to subcommand; the exit code is chosen here and in cli_*.c. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *usage;
};

static const struct command commands[] = {
	{ "show", cli_show, "show FILE [--json]                          the plan a runbook describes" },
	{ "check", cli_check, "check FILE... [--json]                      lint: FILE:LINE:COL: error|warning: msg [rule]" },
	{ "run", cli_run, "run FILE [--yes] [--dry-run] [options]      execute (interactive on a terminal)" },
	{ "rollback", cli_rollback, "rollback FILE [--yes]                       run the Rollback Procedure" },
	{ "rehearse", cli_rehearse, "rehearse FILE [--seed SQL]                  throwaway database: forward, rollback, forward" },
	{ "verify", cli_verify, "verify LOG [--signers FILE]                 hash chain, signatures, completeness" },
	{ "report", cli_report, "report LOG [-o FILE] [--format html|md]     the auditor's report" },
	{ "keygen", cli_keygen, "keygen [-f FILE]                            Ed25519 signing key (OpenSSH format)" },
	{ "new", cli_new, "new TITLE [--template NAME] [-o FILE]       a runbook from a template (--list, --set)" },
};

static void usage(FILE *out)
{
	fprintf(out, "usage: runbook COMMAND [ARGS]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "  runbook %s\n", commands[i].usage);
	fprintf(out, "  runbook help [COMMAND] | --help | --version\n");
	fprintf(out, "\nexit codes: 0 ok, 1 failed/deviated/lint errors, 2 usage, 3 invalid runbook,\n"
		     "            4 environment, 5 aborted, 130 interrupted\n");
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "runbook %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n(see 'runbook %s --help')\n", cmd);
	return EXIT_USAGE;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	const char *name = argv[1];
	if (!strcmp(name, "--version") || !strcmp(name, "version")) {
		printf("runbook %s\n", RUNBOOK_VERSION);
		return EXIT_OK;
	}
	if (!strcmp(name, "--help") || !strcmp(name, "-h")) {
		usage(stdout);
		return EXIT_OK;
	}
	if (!strcmp(name, "help")) {
		if (argc > 2) {
			for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
				if (!strcmp(commands[i].name, argv[2])) {
					char *args[] = { argv[2], (char *)"--help", NULL };
					return commands[i].fn(2, args);
				}
			fprintf(stderr, "runbook: no such command '%s'\n", argv[2]);
			return EXIT_USAGE;
		}
		usage(stdout);
		return EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(commands[i].name, name))
			return commands[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "runbook: no such command '%s'\n", name);
	usage(stderr);
	return EXIT_USAGE;
}
