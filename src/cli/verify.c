/* cli_verify.c - `runbook verify`: is this journal intact, signed, complete,
 * and what does it record. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "sign/sign.h"
#include "audit/verify.h"
#include "base/xalloc.h"

/* put appends s with every control character shown as \xNN (and a newline
 * as \n), so that a journal cannot drive the terminal. */
static void put(struct strbuf *out, const char *s)
{
	if (!s) {
		strbuf_addch(out, '-');
		return;
	}
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '\n')
			strbuf_addstr(out, "\\n");
		else if (c < 0x20 || c == 0x7f)
			strbuf_addf(out, "\\x%02x", c);
		else
			strbuf_addch(out, (char)c);
	}
}

/* put_block appends multi-line text, each line indented, control
 * characters other than newlines escaped. */
static void put_block(struct strbuf *out, const char *s, const char *indent)
{
	while (s && *s) {
		const char *eol = strchr(s, '\n');
		size_t len = eol ? (size_t)(eol - s) : strlen(s);
		char *line = xstrndup(s, len);
		strbuf_addstr(out, indent);
		put(out, line);
		strbuf_addch(out, '\n');
		free(line);
		s += len + (eol ? 1 : 0);
	}
}

static void field(struct strbuf *out, const char *name)
{
	strbuf_addf(out, "  %-11s ", name);
}

static void print_verdict(const struct verify_result *res, struct strbuf *out)
{
	struct strbuf head = STRBUF_INIT;

	verify_headline(res, &head);
	put(out, head.buf);
	strbuf_addch(out, '\n');
	strbuf_release(&head);
	field(out, "journal");
	put(out, res->path);
	strbuf_addf(out, ": %zu lines, %llu bytes, sha256 %s\n", res->lines, (unsigned long long)res->bytes,
		    res->file_sha256);
	field(out, "chain");
	if (res->verdict == VERIFY_BROKEN && res->chained_lines == 0)
		strbuf_addstr(out, "broken at line 1\n");
	else if (res->verdict == VERIFY_BROKEN && res->chained_lines < res->lines)
		strbuf_addf(out, "intact over lines 1-%zu, broken at line %zu\n", res->chained_lines,
			    res->chained_lines + 1);
	else
		strbuf_addf(out, "intact over %zu lines\n", res->chained_lines);
	field(out, "signatures");
	if (!res->is_signed) {
		strbuf_addstr(out, "none: the journal is not signed\n");
	} else {
		strbuf_addf(out, "%zu checkpoint%s verified", res->checkpoints, res->checkpoints == 1 ? "" : "s");
		if (res->logsig == LOGSIG_VALID)
			strbuf_addstr(out, ", LOG.sig verified over the whole file");
		else if (res->logsig == LOGSIG_ABSENT)
			strbuf_addstr(out, ", no LOG.sig");
		else
			strbuf_addstr(out, ", LOG.sig does NOT verify");
		if (res->covered_lines)
			strbuf_addf(out, "; lines 1-%zu proven\n", res->covered_lines);
		else
			strbuf_addstr(out, "; no line proven\n");
		for (size_t i = 0; i < res->nsigners; i++) {
			field(out, i ? "" : "signed by");
			strbuf_addstr(out, res->signers[i].fingerprint);
			if (res->signers[i].principal) {
				strbuf_addstr(out, ", allowed for ");
				put(out, res->signers[i].principal);
			}
			strbuf_addch(out, '\n');
		}
		if (!res->signers_checked) {
			field(out, "");
			strbuf_addstr(out, "who signed is not checked: give --signers allowed_signers\n");
		}
	}
	if (res->verdict == VERIFY_INCOMPLETE && res->reason) {
		field(out, "why");
		put(out, res->reason);
		strbuf_addch(out, '\n');
	}
	if (res->logsig == LOGSIG_INVALID && res->verdict != VERIFY_BROKEN) {
		field(out, "LOG.sig");
		put(out, res->logsig_reason);
		strbuf_addch(out, '\n');
	}
	for (size_t i = 0; i < res->nnotes; i++) {
		field(out, "note");
		put(out, res->notes[i]);
		strbuf_addch(out, '\n');
	}
}

static void print_summary(const struct verify_result *res, struct strbuf *out)
{
	const struct audit_summary *s = &res->summary;

	if (!s->have_start)
		return;
	if (res->verdict == VERIFY_BROKEN)
		strbuf_addf(out, "\nRun (what the lines before the break record)\n");
	else
		strbuf_addstr(out, "\nRun\n");
	field(out, "runbook");
	put(out, s->runbook_path);
	strbuf_addstr(out, "\n");
	field(out, "");
	strbuf_addch(out, '"');
	put(out, s->runbook_title);
	strbuf_addstr(out, "\", sha256 ");
	put(out, s->runbook_sha256);
	strbuf_addch(out, '\n');
	field(out, "operator");
	put(out, s->user);
	strbuf_addf(out, " (uid %lld) on ", (long long)s->uid);
	put(out, s->host);
	strbuf_addstr(out, s->interactive ? ", at a terminal\n" : ", unattended\n");
	field(out, "started");
	put(out, s->started);
	strbuf_addch(out, '\n');
	field(out, "ended");
	if (s->have_end) {
		put(out, s->ended);
		strbuf_addf(out, " (%lld ms)\n", (long long)s->duration_ms);
	} else {
		strbuf_addstr(out, "never (last record ");
		put(out, s->last_ts);
		strbuf_addstr(out, ")\n");
	}
	field(out, "target");
	if (s->target.present) {
		put(out, s->target.conninfo);
		strbuf_addstr(out, "\n");
		field(out, "");
		strbuf_addstr(out, "database ");
		put(out, s->target.database);
		strbuf_addstr(out, " as ");
		put(out, s->target.user);
		strbuf_addstr(out, ", PostgreSQL ");
		put(out, s->target.server_version);
		strbuf_addstr(out, ", system identifier ");
		put(out, s->target.system_identifier);
		strbuf_addstr(out, s->target.sandbox ? ", sandbox\n" : "\n");
	} else {
		strbuf_addstr(out, "no database\n");
	}
	field(out, "result");
	if (s->have_end) {
		put(out, s->result);
		strbuf_addf(out, " (exit %d)", s->exit_code);
		if (s->step_counts && *s->step_counts) {
			strbuf_addstr(out, ": ");
			put(out, s->step_counts);
		}
		if (s->rollback) {
			strbuf_addstr(out, "; rollback ");
			put(out, s->rollback);
		}
		strbuf_addch(out, '\n');
	} else {
		strbuf_addstr(out, "none recorded: the run did not finish\n");
	}
	if (s->options && *s->options) {
		field(out, "options");
		put(out, s->options);
		strbuf_addch(out, '\n');
	}
	for (size_t i = 0; i < s->nvars; i++) {
		field(out, i ? "" : "vars");
		put(out, s->vars[i].name);
		strbuf_addch(out, '=');
		put(out, s->vars[i].value);
		strbuf_addch(out, '\n');
	}
	if (s->resumes) {
		field(out, "sessions");
		strbuf_addf(out, "%zu (resumed %zu time%s)\n", s->resumes + 1, s->resumes, s->resumes == 1 ? "" : "s");
	}

	strbuf_addstr(out, "\nSteps\n");
	if (!s->nsteps)
		strbuf_addstr(out, "  none\n");
	for (size_t i = 0; i < s->nsteps; i++) {
		const struct audit_step *st = &s->steps[i];
		struct strbuf title = STRBUF_INIT, label = STRBUF_INIT;
		put(&title, st->title);
		put(&label, st->label);
		strbuf_addf(out, "  %-20s %-40s ", label.buf, title.buf);
		strbuf_release(&title);
		strbuf_release(&label);
		if (st->ended) {
			put(out, st->verdict);
			strbuf_addf(out, " %lld ms", (long long)st->duration_ms);
		} else {
			strbuf_addstr(out, "did not end");
		}
		if (st->note && *st->note) {
			strbuf_addstr(out, ": ");
			put(out, st->note);
		}
		strbuf_addch(out, '\n');
		for (size_t k = 0; k < st->nblocks; k++) {
			const struct audit_block *b = &st->blocks[k];
			if (b->ended || !b->command)
				continue;
			strbuf_addf(out, "  %-20s running when the journal stops (since ", "");
			put(out, b->started);
			strbuf_addstr(out, "):\n");
			put_block(out, b->command, "                         $ ");
		}
	}

	strbuf_addstr(out, "\nDeviations, failures, skips and decisions\n");
	size_t shown = 0;
	for (size_t i = 0; i < s->nevents; i++) {
		const struct audit_event *e = &s->events[i];
		if (e->kind == AUDIT_TARGET)
			continue;
		struct strbuf label = STRBUF_INIT;
		shown++;
		put(&label, e->step >= 0 ? s->steps[e->step].label : "");
		strbuf_addf(out, "  line %-5zu %-20s ", e->line, label.buf);
		strbuf_release(&label);
		switch (e->kind) {
		case AUDIT_DECISION:
			strbuf_addstr(out, "decision: ");
			put(out, e->what);
			if (e->reason && *e->reason) {
				strbuf_addstr(out, " - reason: ");
				put(out, e->reason);
			}
			strbuf_addstr(out, " (by ");
			put(out, e->by);
			strbuf_addch(out, ')');
			if (e->about && *e->about) {
				strbuf_addstr(out, "; about: ");
				put(out, e->about);
			}
			strbuf_addch(out, '\n');
			break;
		case AUDIT_DEVIATION:
		case AUDIT_FAILURE:
			put(out, e->what);
			strbuf_addstr(out, ": ");
			put(out, e->reason);
			strbuf_addch(out, '\n');
			if (e->detail)
				put_block(out, e->detail, "               | ");
			break;
		default:
			put(out, e->what);
			strbuf_addstr(out, ": ");
			put(out, e->reason);
			strbuf_addch(out, '\n');
			break;
		}
	}
	if (!shown)
		strbuf_addstr(out, "  none\n");
}

int cli_verify_journal(const char *cmd, int argc, char **argv, const char *signers_path,
		       struct verify_opts *vo, struct allowed_signers **as, struct verify_result *res)
{
	struct strbuf err = STRBUF_INIT;

	if (optind >= argc)
		return cli_usage_error(cmd, "expected the journal: runbook %s LOG", cmd);
	if (optind + 1 < argc)
		return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind + 1]);
	if (vo->principal && !signers_path)
		return cli_usage_error(cmd, "--principal needs --signers allowed_signers");
	if (signers_path) {
		*as = allowed_signers_load(signers_path, &err);
		if (!*as) {
			fprintf(stderr, "runbook: %s\n", err.buf);
			strbuf_release(&err);
			return EXIT_INVALID;
		}
		vo->signers = *as;
	}
	if (verify_file(argv[optind], vo, res, &err) < 0) {
		fprintf(stderr, "runbook: %s\n", err.buf);
		strbuf_release(&err);
		return EXIT_INVALID;
	}
	strbuf_release(&err);
	return EXIT_OK;
}

int cli_verify(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "signers", required_argument, NULL, 's' },
		{ "principal", required_argument, NULL, 'I' },
		{ "sig", required_argument, NULL, 'S' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct verify_opts vo = VERIFY_OPTS_INIT;
	struct verify_result res = { 0 };
	struct allowed_signers *as = NULL;
	struct strbuf err = STRBUF_INIT, out = STRBUF_INIT;
	const char *signers_path = NULL;
	bool json = false;
	int c, code;

	optind = 1;
	while ((c = getopt_long(argc, argv, "s:I:jh", opts, NULL)) != -1) {
		switch (c) {
		case 's': signers_path = optarg; break;
		case 'I': vo.principal = optarg; break;
		case 'S': vo.sig_path = optarg; break;
		case 'j': json = true; break;
		case 'h':
			printf("usage: runbook verify LOG [--signers allowed_signers] [--principal NAME] [--json]\n"
			       "  checks the hash chain line by line, every checkpoint signature and LOG.sig\n"
			       "  (LOG + \".sig\", or --sig FILE), who signed against allowed_signers\n"
			       "  (ssh-keygen's format), and that the run reached its end.\n"
			       "  exit 0: verified complete; 1: incomplete, unsigned or BROKEN;\n"
			       "  2: usage; 3: the journal or allowed_signers cannot be read\n");
			return EXIT_OK;
		default:
			return cli_usage_error("verify", "unknown option");
		}
	}
	code = cli_verify_journal("verify", argc, argv, signers_path, &vo, &as, &res);
	if (code != EXIT_OK)
		goto out;
	if (json) {
		verify_result_json(&res, &out);
	} else {
		print_verdict(&res, &out);
		print_summary(&res, &out);
	}
	fwrite(out.buf, 1, out.len, stdout);
	code = res.verdict == VERIFY_COMPLETE ? EXIT_OK : EXIT_FAIL;
out:
	verify_result_release(&res);
	allowed_signers_free(as);
	strbuf_release(&err);
	strbuf_release(&out);
	return code;
}
