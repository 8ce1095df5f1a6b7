/* cli.h - the subcommands and the program's exit codes.
 *
 * Only main.c and the cli_*.c files print to the terminal and choose exit
 * codes; every other module returns errors to them.
 */
#ifndef RUNBOOK_CLI_H
#define RUNBOOK_CLI_H

#include "base/exitcode.h"
#include "base/version.h"

int cli_show(int argc, char **argv);
int cli_check(int argc, char **argv);
int cli_run(int argc, char **argv);
int cli_rollback(int argc, char **argv);
int cli_rehearse(int argc, char **argv);
int cli_keygen(int argc, char **argv);
int cli_new(int argc, char **argv);
int cli_verify(int argc, char **argv);
int cli_report(int argc, char **argv);

struct verify_opts;
struct verify_result;
struct allowed_signers;
/* cli_verify_journal is what `verify` and `report` share after their options:
 * exactly one LOG, --principal only with --signers, allowed_signers loaded
 * into *as (the caller frees it), LOG verified into *res (the caller
 * releases it).  Returns EXIT_OK, or the exit code, the error printed. */
int cli_verify_journal(const char *cmd, int argc, char **argv, const char *signers_path,
		       struct verify_opts *vo, struct allowed_signers **as, struct verify_result *res);

/* cli_usage_error prints "runbook CMD: message" and a hint, returns EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
