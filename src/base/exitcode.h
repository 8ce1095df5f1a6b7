/* exitcode.h - the program's exit codes, one enum for every command.
 *
 * They are stable: scripts, CI systems and job runners key on them
 * (docs/events.md).  Only main.c and src/cli/ end the process; the
 * execution layer returns one of these as the result of a run.
 */
#ifndef RUNBOOK_EXITCODE_H
#define RUNBOOK_EXITCODE_H

enum exit_code {
	EXIT_OK = 0,
	EXIT_FAIL = 1,          /* a step failed or deviated, lint errors, log does not verify */
	EXIT_USAGE = 2,         /* bad command line */
	EXIT_INVALID = 3,       /* the runbook cannot be read or parsed */
	EXIT_ENV = 4,           /* database unreachable, missing tool, bad key */
	EXIT_ABORTED = 5,       /* the operator quit */
	EXIT_INTERRUPTED = 130, /* Ctrl-C; resumable */
};

#endif
