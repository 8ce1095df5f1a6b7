/* term.c - colours and terminal facts. */
#include "term.h"

#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static bool colour_on;
static bool is_tty;

void term_init(bool no_color)
{
	const char *nc = getenv("NO_COLOR");
	const char *t = getenv("TERM");

	is_tty = isatty(STDOUT_FILENO);
	colour_on = is_tty && !no_color && !(nc && *nc) && !(t && !strcmp(t, "dumb"));
}

bool term_colour_on(void)
{
	return colour_on;
}

bool term_is_tty(void)
{
	return is_tty;
}

const char *term_c(enum term_colour c)
{
	static const char *const codes[] = {
		[TC_RESET] = "\033[0m",  [TC_BOLD] = "\033[1m",    [TC_DIM] = "\033[2m",
		[TC_RED] = "\033[31m",   [TC_GREEN] = "\033[32m",  [TC_YELLOW] = "\033[33m",
		[TC_BLUE] = "\033[34m",  [TC_MAGENTA] = "\033[35m", [TC_CYAN] = "\033[36m",
	};
	return colour_on ? codes[c] : "";
}

int term_width(void)
{
	struct winsize ws;
	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20)
		return ws.ws_col;
	return 80;
}
