/* run.h - `runbook run` and `runbook rollback` for the other commands.
 *
 * cli_run_file() loads a runbook, checks it, and runs it with the given
 * options through the execution layer (src/exec/), rendering its events
 * on the terminal (run_ui_terminal, term_ui.c) or as JSON Lines
 * (run_ui_json, events_json.c).  Errors about the runbook itself are
 * printed on stderr.  Returns the exit code.
 */
#ifndef RUNBOOK_CLI_RUN_H
#define RUNBOOK_CLI_RUN_H

#include <stdbool.h>

#include "exec/events.h"
#include "exec/exec.h"

enum run_output {
	OUTPUT_TERMINAL, /* what a person reads (colours when stdout is a terminal) */
	OUTPUT_JSON,     /* --events=json: one JSON object per line on stdout */
};

/* cli_run_file: *captures (when non-NULL) gets the variables captured
 * during the run (free names, values and array). */
int cli_run_file(struct exec_opts *o, enum run_output output, bool no_color, const char *path,
		 struct run_var **captures, size_t *ncaptures);

/* The terminal UI (term_ui.c).  opts: the run's options (kept, not owned). */
struct term_ui;
struct term_ui *term_ui_new(const struct exec_opts *opts, struct run_ui *ui);
void term_ui_free(struct term_ui *t);

/* The JSON Lines UI (events_json.c): events on stdout, answers read from
 * stdin (docs/events.md). */
struct json_ui;
struct json_ui *json_ui_new(struct run_ui *ui);
void json_ui_free(struct json_ui *j);

#endif
