/* cli_keygen.c - `runbook keygen`: an Ed25519 signing key in OpenSSH format. */
#include <getopt.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "sign/sign.h"
#include "base/xalloc.h"

int cli_keygen(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "file", required_argument, NULL, 'f' },
		{ "comment", required_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = NULL, *comment = NULL;
	char *def = NULL, *def_comment = NULL;
	struct strbuf err = STRBUF_INIT, pub = STRBUF_INIT;
	int c, code = EXIT_OK;

	optind = 1;
	while ((c = getopt_long(argc, argv, "f:C:h", opts, NULL)) != -1) {
		switch (c) {
		case 'f': path = optarg; break;
		case 'C': comment = optarg; break;
		case 'h':
			printf("usage: runbook keygen [-f FILE] [-C COMMENT]\n"
			       "  writes an unencrypted OpenSSH ed25519 key (FILE, mode 0600) and FILE.pub;\n"
			       "  never overwrites.  Default FILE: ~/.config/runbook/signing_key\n");
			return EXIT_OK;
		default:
			return cli_usage_error("keygen", "unknown option");
		}
	}
	if (optind != argc)
		return cli_usage_error("keygen", "unexpected argument '%s'", argv[optind]);
	if (!path) {
		const char *home = getenv("HOME");
		if (!home || !*home)
			return cli_usage_error("keygen", "no HOME: give -f FILE");
		char *dir = xasprintf("%s/.config", home);
		{
			char *d2 = xasprintf("%s/runbook", dir);
			if (access(dir, F_OK) != 0 && mkdir(dir, 0700) < 0) {
				fprintf(stderr, "runbook: cannot create %s\n", dir);
				free(d2);
				free(dir);
				return EXIT_ENV;
			}
			if (access(d2, F_OK) != 0 && mkdir(d2, 0700) < 0) {
				fprintf(stderr, "runbook: cannot create %s\n", d2);
				free(d2);
				free(dir);
				return EXIT_ENV;
			}
			def = xasprintf("%s/signing_key", d2);
			free(d2);
		}
		free(dir);
		path = def;
	}
	if (!comment) {
		struct passwd *pw = getpwuid(getuid());
		char host[256] = "";
		gethostname(host, sizeof(host) - 1);
		def_comment = xasprintf("%s@%s", pw ? pw->pw_name : "runbook", host);
		comment = def_comment;
	}
	if (sign_keygen(path, comment, &err) < 0) {
		fprintf(stderr, "runbook: %s\n", err.buf);
		code = EXIT_ENV;
		goto out;
	}
	char *pubpath = xasprintf("%s.pub", path);
	if (sign_read_pubkey_file(pubpath, &pub, &err) == 0)
		printf("wrote %s (private, 0600) and %s\n%s\n\n"
		       "sign runs with:   runbook run --sign %s FILE   (or RUNBOOK_SIGNING_KEY=%s)\n"
		       "auditors add this line to their allowed_signers file:\n  %s %s\n",
		       path, pubpath, pub.buf, path, path, comment, pub.buf);
	free(pubpath);
out:
	free(def);
	free(def_comment);
	strbuf_release(&err);
	strbuf_release(&pub);
	return code;
}
