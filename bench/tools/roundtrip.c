/* roundtrip.c - the floor of runbook's way of running shell blocks: one
 * long-lived bash, each block written to a file that bash sources from a
 * control file, one short line down bash's stdin and one status line back
 * (src/shell.c does this, plus timeouts, restarts and capture).  No
 * journal, no matching, no terminal output.
 *
 *   roundtrip N DIR     runs `echo step I` for I = 1..N, files in DIR;
 *                       prints nothing, exits 0 when every block passed.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void put(int fd, const char *s, size_t len)
{
	while (len) {
		ssize_t n = write(fd, s, len);
		if (n <= 0)
			exit(2);
		s += n;
		len -= (size_t)n;
	}
}

static void rewrite(int fd, const char *s, size_t len)
{
	if (pwrite(fd, s, len, 0) != (ssize_t)len || ftruncate(fd, (off_t)len) < 0)
		exit(2);
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: roundtrip N DIR\n");
		return 2;
	}
	int n = atoi(argv[1]);
	const char *dir = argv[2];
	int in[2], out[2], st[2];
	if (pipe(in) < 0 || pipe(out) < 0 || pipe(st) < 0)
		return 2;
	pid_t pid = fork();
	if (pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		dup2(out[1], 2);
		dup2(st[1], 62);
		for (int fd = 3; fd < 62; fd++)
			close(fd);
		execlp("bash", "bash", "--noprofile", "--norc", (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	close(st[1]);
	fcntl(out[0], F_SETFL, O_NONBLOCK);
	char ctl_path[4096], blk_path[4096], buf[65536], line[8192];
	snprintf(ctl_path, sizeof(ctl_path), "%s/control", dir);
	snprintf(blk_path, sizeof(blk_path), "%s/block", dir);
	int cfd = open(ctl_path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	int bfd = open(blk_path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (cfd < 0 || bfd < 0)
		return 2;
	int len = snprintf(line, sizeof(line),
			   "set +o history; set +e; set -o pipefail; __rb_pid=$BASHPID\n"
			   "__rb_trap='__rb_rc=$?; if [[ $BASHPID != \"$__rb_pid\" ]]; then exit $__rb_rc; fi; "
			   "if [[ ${#BASH_SOURCE[@]} -gt 1 ]]; then return $__rb_rc; fi'\n"
			   "__rb_c='%s'\n", ctl_path);
	put(in[1], line, (size_t)len);
	for (int i = 1; i <= n; i++) {
		len = snprintf(line, sizeof(line), "echo step %d\n", i);
		rewrite(bfd, line, (size_t)len);
		len = snprintf(line, sizeof(line),
			       "set +e; trap \"$__rb_trap\" ERR; set -E; source -- '%s' </dev/null 62>&- 61>&-; "
			       "__rb_rc=$?; trap - ERR; set +E; printf 'D %d %%s\\n' \"$__rb_rc\" >&62\n",
			       blk_path, i);
		rewrite(cfd, line, (size_t)len);
		put(in[1], ". \"$__rb_c\"\n", 12);
		for (;;) {
			struct pollfd p[2] = { { out[0], POLLIN, 0 }, { st[0], POLLIN, 0 } };
			if (poll(p, 2, -1) < 0)
				return 2;
			if (p[0].revents)
				while (read(out[0], buf, sizeof(buf)) > 0)
					;
			if (p[1].revents) {
				ssize_t k = read(st[0], buf, sizeof(buf) - 1);
				if (k <= 0)
					return 2;
				buf[k] = '\0';
				int seq, code;
				if (sscanf(buf, "D %d %d", &seq, &code) != 2 || seq != i || code != 0)
					return 1;
				while (read(out[0], buf, sizeof(buf)) > 0)
					;
				break;
			}
		}
	}
	close(in[1]);
	return 0;
}
