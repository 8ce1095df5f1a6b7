/* cli_report.c - `runbook report`: the auditor's report of a journal, HTML
 * or Markdown, on stdout or in a file. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "audit/report.h"
#include "sign/sign.h"
#include "audit/verify.h"
#include "base/wrapper.h"


int cli_report(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "format", required_argument, NULL, 'f' },
		{ "signers", required_argument, NULL, 's' },
		{ "principal", required_argument, NULL, 'I' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct verify_opts vo = VERIFY_OPTS_INIT;
	struct verify_result res = { 0 };
	struct allowed_signers *as = NULL;
	struct strbuf err = STRBUF_INIT, page = STRBUF_INIT;
	const char *output = NULL, *signers_path = NULL;
	enum report_format fmt = REPORT_HTML;
	int c, code;

	optind = 1;
	while ((c = getopt_long(argc, argv, "o:f:s:I:h", opts, NULL)) != -1) {
		switch (c) {
		case 'o': output = optarg; break;
		case 'f':
			if (report_format_parse(optarg, &fmt) < 0)
				return cli_usage_error("report", "--format is html or md, not '%s'", optarg);
			break;
		case 's': signers_path = optarg; break;
		case 'I': vo.principal = optarg; break;
		case 'h':
			printf("usage: runbook report LOG [-o FILE] [--format html|md] [--signers allowed_signers]\n"
			       "                          [--principal NAME]\n"
			       "  writes the auditor's report (default: HTML on stdout): the verdict of\n"
			       "  `runbook verify` first, then who ran what, when and where, every step,\n"
			       "  deviation, skip, decision and suggested fix, a timeline and the outputs.\n"
			       "  exit 0: written, journal verified complete; 1: written, but the journal\n"
			       "  does not verify complete; 2: usage; 3: unreadable input or output\n");
			return EXIT_OK;
		default:
			return cli_usage_error("report", "unknown option");
		}
	}
	code = cli_verify_journal("report", argc, argv, signers_path, &vo, &as, &res);
	if (code != EXIT_OK)
		goto out;
	report_render(&res, fmt, &page);
	if (output) {
		int fd = open(output, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0 || write_in_full(fd, page.buf, page.len) < 0 || close(fd) < 0) {
			fprintf(stderr, "runbook: cannot write %s: %s\n", output, strerror(errno));
			code = EXIT_INVALID;
			goto out;
		}
	} else if (write_in_full(STDOUT_FILENO, page.buf, page.len) < 0) {
		fprintf(stderr, "runbook: cannot write the report: %s\n", strerror(errno));
		code = EXIT_INVALID;
		goto out;
	}
	code = res.verdict == VERIFY_COMPLETE ? EXIT_OK : EXIT_FAIL;
out:
	verify_result_release(&res);
	allowed_signers_free(as);
	strbuf_release(&err);
	strbuf_release(&page);
	return code;
}
