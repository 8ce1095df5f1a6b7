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
/* term_width returns the terminal's columns, or 80. */
int term_width(void);

#endif
