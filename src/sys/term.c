/* term.c - colours and terminal facts. */
#include "sys/term.h"

#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "sys/proc.h"

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

static const char *const codes[] = {
	[TC_RESET] = "\033[0m",  [TC_BOLD] = "\033[1m",    [TC_DIM] = "\033[2m",
	[TC_RED] = "\033[31m",   [TC_GREEN] = "\033[32m",  [TC_YELLOW] = "\033[33m",
	[TC_BLUE] = "\033[34m",  [TC_MAGENTA] = "\033[35m", [TC_CYAN] = "\033[36m",
};

const char *term_c(enum term_colour c)
{
	return colour_on ? codes[c] : "";
}

void term_visible(const char *s, size_t len, struct strbuf *out)
{
	size_t i = 0;
	while (i < len) {
		const unsigned char *u = (const unsigned char *)s + i;
		size_t left = len - i, k;
		if (*u == 0x1b && colour_on) {
			for (k = 0; k < sizeof(codes) / sizeof(codes[0]); k++) {
				size_t n = strlen(codes[k]);
				if (n <= left && !memcmp(u, codes[k], n))
					break;
			}
			if (k < sizeof(codes) / sizeof(codes[0])) {
				strbuf_addstr(out, codes[k]);
				i += strlen(codes[k]);
				continue;
			}
		}
		if ((*u < 0x20 && *u != '\n' && *u != '\t') || *u == 0x7f) {
			strbuf_addf(out, "\\x%02x", *u);
			i++;
			continue;
		}
		/* C1 controls (U+0080-U+009F: CSI is U+009B) and the bidirectional
		 * overrides and isolates (U+202A-U+202E, U+2066-U+2069) */
		if (left >= 2 && u[0] == 0xc2 && u[1] >= 0x80 && u[1] <= 0x9f) {
			strbuf_addf(out, "\\u%04x", u[1]);
			i += 2;
			continue;
		}
		if (left >= 3 && u[0] == 0xe2 &&
		    ((u[1] == 0x80 && u[2] >= 0xaa && u[2] <= 0xae) ||
		     (u[1] == 0x81 && u[2] >= 0xa6 && u[2] <= 0xa9))) {
			strbuf_addf(out, "\\u%04x", ((u[0] & 0x0f) << 12) | ((u[1] & 0x3f) << 6) | (u[2] & 0x3f));
			i += 3;
			continue;
		}
		strbuf_addch(out, (char)*u);
		i++;
	}
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
