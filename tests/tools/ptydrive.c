/* ptydrive.c - drive a program through a real pseudo-terminal, for tests.
 *
 *   ptydrive [-t SECONDS] [-o TRANSCRIPT] -- COMMAND [ARGS...]  < SCRIPT
 *
 * SCRIPT lines:
 *   expect REGEX   wait until the output (escape sequences removed) matches
 *                  REGEX (POSIX extended) after the previous match
 *   send TEXT      type TEXT; \n, \r, \t, \\ and \xHH are understood
 *   sleep MS       pause
 *   hangup         close the terminal (the program sees a hangup)
 *   # ...          comment
 * At the end it waits for the program and exits with its exit status.  A
 * failed expect prints what was seen and exits 99; the transcript is written
 * to TRANSCRIPT when -o is given.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char *seen;      /* output so far, escape sequences removed */
static size_t seen_len, seen_cap, match_pos;
static int esc_state;
static FILE *transcript;

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void add_seen(const char *buf, size_t n)
{
	if (transcript)
		fwrite(buf, 1, n, transcript);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)buf[i];
		if (esc_state == 1) {
			esc_state = c == '[' ? 2 : 0;
			continue;
		}
		if (esc_state == 2) {
			if (c >= 0x40 && c <= 0x7e)
				esc_state = 0;
			continue;
		}
		if (c == 0x1b) {
			esc_state = 1;
			continue;
		}
		if (c == '\r')
			continue;
		if (seen_len + 2 > seen_cap) {
			seen_cap = seen_cap ? seen_cap * 2 : 65536;
			seen = realloc(seen, seen_cap);
			if (!seen)
				abort();
		}
		seen[seen_len++] = (char)c;
		seen[seen_len] = '\0';
	}
}

/* pump reads what the program printed, waiting at most ms; returns -1 at EOF */
static int pump(int fd, int ms)
{
	struct pollfd p = { fd, POLLIN, 0 };
	int r = poll(&p, 1, ms);
	if (r <= 0)
		return 0;
	char buf[4096];
	ssize_t n = read(fd, buf, sizeof(buf));
	if (n <= 0)
		return -1;
	add_seen(buf, (size_t)n);
	return 1;
}

static void unescape(const char *s, char *out, size_t *len)
{
	size_t n = 0;
	for (; *s; s++) {
		if (*s == '\\' && s[1]) {
			s++;
			switch (*s) {
			case 'n': out[n++] = '\n'; break;
			case 'r': out[n++] = '\r'; break;
			case 't': out[n++] = '\t'; break;
			case 'x': {
				char hex[3] = { s[1], s[1] ? s[2] : 0, 0 };
				out[n++] = (char)strtol(hex, NULL, 16);
				s += 2;
				break;
			}
			default: out[n++] = *s; break;
			}
		} else {
			out[n++] = *s;
		}
	}
	*len = n;
}

int main(int argc, char **argv)
{
	int timeout = 15, opt, master;
	const char *tpath = NULL;
	char line[8192];

	while ((opt = getopt(argc, argv, "+t:o:")) != -1) {
		if (opt == 't')
			timeout = atoi(optarg);
		else if (opt == 'o')
			tpath = optarg;
		else
			return 2;
	}
	if (optind < argc && !strcmp(argv[optind], "--"))
		optind++;
	if (optind >= argc) {
		fprintf(stderr, "usage: ptydrive [-t SECONDS] [-o FILE] -- COMMAND [ARGS...] < SCRIPT\n");
		return 2;
	}
	if (tpath && !(transcript = fopen(tpath, "w"))) {
		perror(tpath);
		return 2;
	}
	struct winsize ws = { .ws_row = 40, .ws_col = 120 };
	pid_t pid = forkpty(&master, NULL, NULL, &ws);
	if (pid < 0) {
		perror("forkpty");
		return 2;
	}
	if (pid == 0) {
		execvp(argv[optind], argv + optind);
		perror(argv[optind]);
		_exit(127);
	}
	while (fgets(line, sizeof(line), stdin)) {
		line[strcspn(line, "\n")] = '\0';
		if (!line[0] || line[0] == '#')
			continue;
		if (!strncmp(line, "expect ", 7)) {
			regex_t re;
			regmatch_t m;
			if (regcomp(&re, line + 7, REG_EXTENDED | REG_NEWLINE)) {
				fprintf(stderr, "ptydrive: bad regex: %s\n", line + 7);
				return 2;
			}
			long deadline = now_ms() + timeout * 1000L;
			int found = 0;
			for (;;) {
				if (seen && regexec(&re, seen + match_pos, 1, &m, 0) == 0) {
					match_pos += (size_t)m.rm_eo;
					found = 1;
					break;
				}
				if (now_ms() > deadline)
					break;
				if (pump(master, 100) < 0) {
					if (seen && regexec(&re, seen + match_pos, 1, &m, 0) == 0) {
						match_pos += (size_t)m.rm_eo;
						found = 1;
					}
					break;
				}
			}
			regfree(&re);
			if (!found) {
				fprintf(stderr, "ptydrive: expected /%s/ but saw:\n%s\n", line + 7,
					seen ? seen + match_pos : "");
				kill(pid, SIGKILL);
				return 99;
			}
		} else if (!strncmp(line, "send ", 5)) {
			char out[8192];
			size_t n;
			unescape(line + 5, out, &n);
			if (write(master, out, n) != (ssize_t)n)
				perror("write");
		} else if (!strcmp(line, "hangup")) {
			close(master);
			master = -1;
			break;
		} else if (!strncmp(line, "sleep ", 6)) {
			long until = now_ms() + atol(line + 6);
			while (now_ms() < until)
				pump(master, (int)(until - now_ms()));
		} else {
			fprintf(stderr, "ptydrive: unknown script line: %s\n", line);
			return 2;
		}
	}
	/* drain until the program ends */
	long deadline = now_ms() + timeout * 1000L;
	int status = 0;
	for (;;) {
		pid_t w = waitpid(pid, &status, WNOHANG);
		if (w == pid)
			break;
		if (now_ms() > deadline) {
			fprintf(stderr, "ptydrive: program did not exit; output:\n%s\n", seen ? seen + match_pos : "");
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return 99;
		}
		if (master >= 0)
			pump(master, 50);
		else
			usleep(50000);
	}
	while (master >= 0 && pump(master, 50) > 0)
		;
	if (transcript)
		fclose(transcript);
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + WTERMSIG(status);
}
