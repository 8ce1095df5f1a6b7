/* term.h - colours, prompts and progress on the operator's terminal.
 *
 * term_init() decides once whether colour is used: only when stdout is a
 * terminal, NO_COLOR is unset or empty, TERM is not "dumb", and the caller
 * did not ask for --no-color.  The colour helpers return "" when colour is
 * off, so they can always be interpolated.
 */
#ifndef RUNBOOK_TERM_H
#define RUNBOOK_TERM_H

#include <stdbool.h>
#include <stdio.h>

#include "base/strbuf.h"

enum term_colour {
	TC_RESET,
	TC_BOLD,
	TC_DIM,
	TC_RED,
	TC_GREEN,
	TC_YELLOW,
	TC_BLUE,
	TC_MAGENTA,
	TC_CYAN,
};

void term_init(bool no_color);
bool term_colour_on(void);
bool term_is_tty(void);
const char *term_c(enum term_colour c);
/* term_visible appends len bytes of s with everything that could drive a
 * terminal shown as text instead: control characters but newline and tab
 * as \xNN (ESC, carriage return and backspace could hide or overwrite what
 * is shown), C1 controls and the bidirectional overrides as \uNNNN.  Our
 * own colour codes (term_c) pass, only when colour is on.  Everything
 * `runbook` prints from a runbook goes through it, so that a reviewer sees
 * every character of every command. */
void term_visible(const char *s, size_t len, struct strbuf *out);
/* term_width returns the terminal's columns, or 80. */
int term_width(void);

/* Prompts read from stdin, which must be a terminal (term_can_prompt).
 * A SIGINT (or SIGTERM, SIGHUP) while waiting ends the read with
 * TERM_INTERRUPTED; the signal stays counted in proc_sigint_count(). */
#define TERM_EOF (-1)
#define TERM_INTERRUPTED (-2)
bool term_can_prompt(void);
/* term_read_key waits for one key among `keys` ('\n' stands for Enter)
 * and returns it (lower case), TERM_EOF or TERM_INTERRUPTED.  Other keys
 * ring the bell. */
int term_read_key(const char *keys);
/* term_read_line reads one line (without its newline) into out; returns 0,
 * TERM_EOF or TERM_INTERRUPTED. */
int term_read_line(struct strbuf *out);

#endif
