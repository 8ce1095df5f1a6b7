/* term.c - colours and terminal facts. */
#include "term.h"

#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "proc.h"

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

/* ---- prompts ---- */

bool term_can_prompt(void)
{
	return isatty(STDIN_FILENO);
}

/* wait_input waits until stdin is readable; TERM_INTERRUPTED on a signal
 * that should stop the program. */
static int wait_input(void)
{
	int sigfd = proc_signals_install();
	for (;;) {
		struct pollfd pfd[2] = { { STDIN_FILENO, POLLIN, 0 }, { sigfd, POLLIN, 0 } };
		int r = poll(pfd, sigfd >= 0 ? 2 : 1, -1);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return TERM_EOF;
		}
		if (sigfd >= 0 && (pfd[1].revents & POLLIN)) {
			int sig;
			while ((sig = proc_take_signal()))
				if (sig == SIGINT || sig == SIGTERM || sig == SIGHUP || sig == SIGQUIT)
					return TERM_INTERRUPTED;
		}
		if (pfd[0].revents & (POLLIN | POLLHUP | POLLERR))
			return 0;
	}
}

int term_read_key(const char *keys)
{
	struct termios old, raw;
	int ret = TERM_EOF;
	bool restore = tcgetattr(STDIN_FILENO, &old) == 0;

	if (restore) {
		raw = old;
		raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
		raw.c_cc[VMIN] = 1;
		raw.c_cc[VTIME] = 0;
		tcsetattr(STDIN_FILENO, TCSANOW, &raw);
	}
	for (;;) {
		int w = wait_input();
		if (w) {
			ret = w;
			break;
		}
		char c;
		ssize_t n = read(STDIN_FILENO, &c, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			ret = TERM_EOF;
			break;
		}
		if (c == '\r')
			c = '\n';
		c = (char)tolower((unsigned char)c);
		if (c && strchr(keys, c)) {
			ret = c;
			break;
		}
		if (c == 3) { /* ^C without ISIG */
			ret = TERM_INTERRUPTED;
			break;
		}
		fputc('\a', stdout);
		fflush(stdout);
	}
	if (restore)
		tcsetattr(STDIN_FILENO, TCSANOW, &old);
	return ret;
}

int term_read_line(struct strbuf *out)
{
	strbuf_reset(out);
	for (;;) {
		int w = wait_input();
		if (w)
			return w;
		char c;
		ssize_t n = read(STDIN_FILENO, &c, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return out->len ? 0 : TERM_EOF;
		if (c == '\n' || c == '\r')
			return 0;
		strbuf_addch(out, c);
	}
}
