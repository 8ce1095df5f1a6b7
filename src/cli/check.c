/* cli_check.c - `runbook check`: lint runbooks in compiler format. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "lint/lint.h"
#include "model/mdparse.h"
#include "model/modeljson.h"

int cli_check(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool json = false, quiet = false;
	struct diag_list all = DIAG_LIST_INIT;
	size_t errors = 0, warnings = 0, invalid = 0;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "jqh", opts, NULL)) != -1) {
		switch (c) {
		case 'j': json = true; break;
		case 'q': quiet = true; break;
		case 'h':
			printf("usage: runbook check FILE... [--json] [--quiet]\n");
			return EXIT_OK;
		default:
			return cli_usage_error("check", "unknown option");
		}
	}
	if (optind >= argc)
		return cli_usage_error("check", "expected at least one FILE");

	for (int i = optind; i < argc; i++) {
		struct strbuf err = STRBUF_INIT;
		enum load_error why;
		struct runbook *rb = runbook_load(argv[i], &err, &why);
		if (!rb) {
			/* the message already names the file (and line) */
			if (json)
				diag_add(&all, argv[i], 0, 0, DIAG_ERROR, "unreadable", "%s",
					 strchr(err.buf, ' ') ? strchr(err.buf, ' ') + 1 : err.buf);
			else
				fprintf(stderr, "runbook: %s\n", err.buf);
			invalid++;
			strbuf_release(&err);
			continue;
		}
		lint_runbook(rb);
		errors += diag_count(&rb->diags, DIAG_ERROR);
		warnings += diag_count(&rb->diags, DIAG_WARNING);
		for (size_t k = 0; k < rb->diags.nr; k++) {
			const struct diag *d = &rb->diags.items[k];
			diag_add(&all, d->file, d->line, d->col, d->severity, d->rule, "%s", d->message);
		}
		runbook_free(rb);
		strbuf_release(&err);
	}
	if (json) {
		struct strbuf out = STRBUF_INIT;
		diags_json(&all, &out);
		fwrite(out.buf, 1, out.len, stdout);
		strbuf_release(&out);
	} else {
		diag_print(&all, stdout);
		/* the summary follows the diagnostics even when both streams share a pipe */
		fflush(stdout);
		if (!quiet && (size_t)(argc - optind) > invalid)
			fprintf(stderr, "%d file%s checked: %zu error%s, %zu warning%s%s\n",
				argc - optind, argc - optind == 1 ? "" : "s", errors,
				errors == 1 ? "" : "s", warnings, warnings == 1 ? "" : "s",
				invalid ? ", some files could not be read" : "");
	}
	diag_list_release(&all);
	if (invalid)
		return EXIT_INVALID;
	return errors ? EXIT_FAIL : EXIT_OK;
}
