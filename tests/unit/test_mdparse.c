/* test_mdparse.c - the parser on a runbook of seed 001's structure and on
 * variants covering the tolerance list. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lint/lint.h"
#include "model/mdparse.h"

static struct runbook *load(const char *rel)
{
	char path[1024];
	struct strbuf err = STRBUF_INIT;
	snprintf(path, sizeof(path), "%s/fixtures/%s", TESTS_DIR, rel);
	struct runbook *rb = runbook_load(path, &err, NULL);
	if (!rb)
		fail_msg("cannot load %s: %s", path, err.buf);
	strbuf_release(&err);
	return rb;
}

static bool has_diag(const struct runbook *rb, const char *rule, int line)
{
	for (size_t i = 0; i < rb->diags.nr; i++)
		if (!strcmp(rb->diags.items[i].rule, rule) && (line == 0 || rb->diags.items[i].line == line))
			return true;
	return false;
}

/* ---- the guide: seed 001's structure, field by field ---- */

static void guide_metadata(void **state)
{
	(void)state;
	struct runbook *rb = load("guide.md");
	assert_string_equal(rb->title, "Orders Archive Flag - Manual Execution Guide");
	assert_int_equal(rb->title_line, 1);
	assert_int_equal(rb->nmeta, 4);
	assert_string_equal(rb->meta[0].key, "Date");
	assert_string_equal(rb->meta[0].value, "2026-03-14");
	assert_int_equal(rb->meta[0].line, 3);
	assert_string_equal(rb->meta[1].key, "Estimated Time");
	assert_string_equal(rb->meta[1].value, "20 minutes");
	assert_string_equal(rb->meta[2].key, "Difficulty");
	assert_string_equal(rb->meta[2].value, "Easy");
	assert_string_equal(rb->meta[3].key, "Ticket");
	assert_string_equal(rb->meta[3].value, "`OPS-4127`");
	runbook_free(rb);
}

static void guide_prerequisites(void **state)
{
	(void)state;
	struct runbook *rb = load("guide.md");
	assert_int_equal(rb->nprereqs, 4);
	assert_string_equal(rb->prereqs[0].text, "PostgreSQL 14+ is installed and running");
	assert_false(rb->prereqs[0].checked);
	assert_true(rb->prereqs[0].is_task);
	assert_int_equal(rb->prereqs[0].line, 14);
	assert_true(rb->prereqs[1].checked);
	assert_string_equal(rb->prereqs[3].text,
			    "No long-running transactions hold locks on `orders`");
	runbook_free(rb);
}

static void guide_setup(void **state)
{
	(void)state;
	struct runbook *rb = load("guide.md");
	assert_int_equal(rb->setup.line, 19);
	assert_int_equal(rb->setup.role, STEP_SETUP);
	assert_int_equal(rb->setup.ncommands, 1);
	const struct rb_command *c = &rb->setup.commands[0];
	assert_int_equal(c->block->kind, BLOCK_SHELL);
	assert_string_equal(c->block->lang, "bash");
	assert_int_equal(c->block->line, 21);
	assert_non_null(strstr(c->block->text, "export DATABASE_URL="));
	assert_non_null(c->expected);
	assert_int_equal(c->expected->line, 30);
	assert_int_equal(c->expected->kind, BLOCK_OUTPUT);
	assert_non_null(strstr(c->expected->text, "current_database"));
	runbook_free(rb);
}

static void guide_steps(void **state)
{
	(void)state;
	static const char *const titles[] = { "Snapshot Orders", "Add Column", "Create Index" };
	static const int lines[] = { 52, 94, 137 };
	struct runbook *rb = load("guide.md");

	assert_int_equal(rb->nsteps, 3);
	for (size_t i = 0; i < 3; i++) {
		const struct rb_step *st = &rb->steps[i];
		assert_int_equal(st->number, (int)i + 1);
		assert_string_equal(st->title, titles[i]);
		assert_int_equal(st->line, lines[i]);
		assert_true(strlen(st->why) > 10);
		assert_int_equal(st->ncommands, 1);
		assert_non_null(st->commands[0].expected);
		assert_int_equal(st->nverifications, 1);
		assert_non_null(st->verifications[0].expected);
		assert_int_equal(st->nfailures, 3);
	}
	const struct rb_step *s1 = &rb->steps[0];
	assert_string_equal(s1->why, "A copy of the table lets us restore the data if the change goes wrong.");
	assert_int_equal(s1->commands[0].block->line, 59);
	assert_string_equal(s1->commands[0].expected->text,
			    "Snapshot written: orders_snapshot_20260314_091500.sql\n");
	assert_int_equal(s1->commands[0].expected->line, 68);
	assert_int_equal(s1->verifications[0].block->line, 74);
	assert_int_equal(s1->verifications[0].expected->line, 80);
	runbook_free(rb);
}

static void guide_failure_rows(void **state)
{
	(void)state;
	struct runbook *rb = load("guide.md");
	const struct rb_step *s1 = &rb->steps[0];

	assert_int_equal(s1->failure_table_line, 86);
	assert_string_equal(s1->failures[0].error, "`connection refused`");
	assert_string_equal(s1->failures[0].cause, "Server is down");
	assert_string_equal(s1->failures[0].fix, "sudo systemctl start postgresql");
	assert_int_equal(s1->failures[0].line, 88);
	/* an SQL span is not a shell fix */
	assert_null(s1->failures[1].fix);
	assert_int_equal(s1->failures[1].ncode_spans, 1);
	assert_string_equal(s1->failures[2].fix, "apt-get install -y postgresql-client");

	const struct rb_step *s2 = &rb->steps[1];
	assert_string_equal(s2->failures[0].solution, "Safe to proceed - the column is there");
	assert_null(s2->failures[0].fix);

	const struct rb_step *s3 = &rb->steps[2];
	/* "`psql -c \"...\"`" has an ellipsis: not runnable */
	assert_null(s3->failures[0].fix);
	/* "`indisvalid = t`" is a condition, not a command */
	assert_null(s3->failures[1].fix);
	runbook_free(rb);
}

static void guide_final_and_rollback(void **state)
{
	(void)state;
	struct runbook *rb = load("guide.md");

	assert_int_equal(rb->final.line, 178);
	assert_int_equal(rb->final.ncommands, 1);
	assert_int_equal(rb->nfinal_rows, 2);
	assert_string_equal(rb->final_rows[0].metric, "column_exists");
	assert_string_equal(rb->final_rows[0].expected, "1");
	assert_string_equal(rb->final_rows[1].metric, "index_exists");
	assert_string_equal(rb->final_rows[1].expected, "1");

	assert_int_equal(rb->rollback.ncommands, 3);
	assert_string_equal(rb->rollback.commands[0].block->comment, "Drop the index");
	assert_int_equal(rb->rollback.commands[0].block->text_line, 209);
	assert_string_equal(rb->rollback.commands[1].block->comment, "Drop the column");
	assert_string_equal(rb->rollback.commands[2].block->comment,
			    "Only if data was damaged: reload the snapshot");
	assert_non_null(strstr(rb->rollback.commands[2].block->text, "orders_snapshot_"));

	assert_int_equal(rb->nnext_steps, 4);
	assert_string_equal(rb->next_steps[3].text,
			    "Remove the snapshot after 14 days: `rm orders_snapshot_*.sql`");
	runbook_free(rb);
}

static void guide_notes_and_clean_lint(void **state)
{
	(void)state;
	struct runbook *rb = load("guide.md");
	assert_int_equal(rb->nnotes, 2);
	assert_string_equal(rb->notes[0].heading, "Overview");
	assert_non_null(strstr(rb->notes[0].text, "What You'll Do"));
	assert_string_equal(rb->notes[1].heading, "Summary");
	lint_runbook(rb);
	assert_int_equal(diag_count(&rb->diags, DIAG_ERROR), 0);
	/* only the SQL lint's honest warnings: two ALTER TABLEs through psql
	 * without a lock_timeout (step 2 and the rollback) */
	assert_int_equal(diag_count(&rb->diags, DIAG_WARNING), 2);
	assert_true(has_diag(rb, "require-lock-timeout", 103));
	assert_true(has_diag(rb, "require-lock-timeout", 212));
	/* every runnable block is numbered in document order */
	assert_int_equal(rb->nblocks, 1 + 3 * 2 + 1 + 3);
	assert_int_equal(rb->setup.commands[0].block->index, 0);
	assert_int_equal(rb->steps[0].commands[0].block->index, 1);
	assert_int_equal(rb->steps[0].verifications[0].block->index, 2);
	runbook_free(rb);
}

/* ---- variants ---- */

static void v01_heading_levels(void **state)
{
	(void)state;
	struct runbook *rb = load("variants/01-heading-levels.md");
	assert_int_equal(rb->nsteps, 2);
	assert_int_equal(rb->steps[0].level, 3);
	assert_string_equal(rb->steps[0].title, "Create table");
	assert_non_null(rb->steps[0].commands[0].expected);
	assert_int_equal(rb->steps[1].nverifications, 1);
	assert_string_equal(rb->steps[1].verifications[0].expected->text, "verified\n");
	assert_int_equal(rb->rollback.ncommands, 1);
	runbook_free(rb);
}

static void v02_case_separators(void **state)
{
	(void)state;
	static const char *const titles[] = { "Backup", "Add column", "Create index", "Analyze", "",
					      "Vacuum" };
	struct runbook *rb = load("variants/02-case-separators.md");
	assert_int_equal(rb->nsteps, 6);
	for (int i = 0; i < 6; i++) {
		assert_int_equal(rb->steps[i].number, i + 1);
		assert_string_equal(rb->steps[i].title, titles[i]);
		assert_int_equal(rb->steps[i].ncommands, 1);
	}
	assert_true(rb->rollback.line > 0);
	runbook_free(rb);
}

static void v03_synonyms(void **state)
{
	(void)state;
	static const char *const out[] = { "alpha\n", "beta\n", "gamma\n" };
	struct runbook *rb = load("variants/03-synonyms.md");
	assert_int_equal(rb->nsteps, 3);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(rb->steps[i].ncommands, 1);
		assert_non_null(rb->steps[i].commands[0].expected);
		assert_string_equal(rb->steps[i].commands[0].expected->text, out[i]);
	}
	assert_int_equal(rb->steps[2].nverifications, 1);
	assert_string_equal(rb->steps[2].verifications[0].expected->text, "ok\n");
	runbook_free(rb);
}

static void v04_paragraph_labels(void **state)
{
	(void)state;
	struct runbook *rb = load("variants/04-paragraph-labels.md");
	assert_int_equal(rb->nsteps, 3);
	assert_string_equal(rb->steps[0].commands[0].expected->text, "labelled\n");
	assert_int_equal(rb->steps[0].nverifications, 1);
	assert_string_equal(rb->steps[0].verifications[0].expected->text, "checked\n");
	assert_string_equal(rb->steps[1].why, "Just a sentence explaining why.");
	assert_string_equal(rb->steps[1].commands[0].expected->text, "bare\n");
	assert_string_equal(rb->steps[2].commands[0].expected->text, "direct\n");
	lint_runbook(rb);
	assert_int_equal(rb->diags.nr, 0);
	runbook_free(rb);
}

static void v05_failure_synonyms(void **state)
{
	(void)state;
	struct runbook *rb = load("variants/05-failure-synonyms.md");
	assert_int_equal(rb->steps[0].nfailures, 1);
	assert_string_equal(rb->steps[0].failures[0].error, "`disk full`");
	assert_string_equal(rb->steps[0].failures[0].cause, "No space left");
	assert_string_equal(rb->steps[0].failures[0].fix, "df -h /var/lib/postgresql");
	assert_int_equal(rb->steps[1].nfailures, 2);
	assert_string_equal(rb->steps[1].failures[0].solution,
			    "`export PGOPTIONS=\"-c search_path=app\"`");
	assert_string_equal(rb->steps[1].failures[0].fix, "export PGOPTIONS=\"-c search_path=app\"");
	assert_null(rb->steps[1].failures[1].fix);
	/* a table with Error | Action and no Cause column */
	assert_int_equal(rb->steps[2].nfailures, 1);
	assert_string_equal(rb->steps[2].failures[0].cause, "");
	assert_string_equal(rb->steps[2].failures[0].solution, "Lower `maintenance_work_mem`");
	runbook_free(rb);
}

static void v06_fence_languages(void **state)
{
	(void)state;
	struct runbook *rb = load("variants/06-fence-languages.md");
	const struct rb_step *s = rb->steps;
	assert_int_equal(s[0].ncommands, 4);
	for (int i = 0; i < 4; i++)
		assert_int_equal(s[0].commands[i].block->kind, BLOCK_SHELL);
	assert_string_equal(s[0].commands[3].block->lang, "");
	assert_int_equal(s[1].commands[0].block->kind, BLOCK_CONSOLE);
	assert_int_equal(s[2].ncommands, 2);
	assert_int_equal(s[2].commands[0].block->kind, BLOCK_SQL);
	assert_int_equal(s[2].commands[1].block->kind, BLOCK_SQL);
	assert_string_equal(s[2].commands[1].block->lang, "psql");
	assert_int_equal(s[3].commands[1].block->kind, BLOCK_OTHER);
	assert_false(rb_block_runnable(s[3].commands[1].block));
	assert_int_equal(rb->rollback.commands[0].block->kind, BLOCK_SQL);
	runbook_free(rb);
}

static void v07_attributes(void **state)
{
	(void)state;
	struct runbook *rb = load("variants/07-attributes.md");
	const struct rb_step *s = rb->steps;
	const struct rb_block *b = s[0].commands[0].block;
	assert_string_equal(b->lang, "bash");
	assert_string_equal(rb_attr_get(b, "timeout"), "600");
	assert_true(rb_attr_has(b, "allow-fail"));
	assert_string_equal(rb_attr_get(b, "allow-fail"), "");
	assert_int_equal(b->attrs[0].col, 9);
	assert_string_equal(rb_attr_get(s[0].commands[0].expected, "match"), "regex");
	assert_string_equal(rb_attr_get(s[0].commands[1].block, "statement_timeout"), "5s");
	assert_string_equal(rb_attr_get(s[0].commands[2].block, "id"), "say hello");
	assert_string_equal(rb_attr_get(s[0].commands[2].block, "exit"), "3");
	assert_true(rb_attr_has(rb->rollback.commands[0].block, "interactive"));
	lint_runbook(rb);
	assert_int_equal(diag_count(&rb->diags, DIAG_ERROR), 0);
	runbook_free(rb);
}

static void v08_notes_front_matter(void **state)
{
	(void)state;
	struct runbook *rb = load("variants/08-notes-front-matter.md");
	assert_string_equal(rb->title, "Notes and front matter");
	assert_int_equal(rb->title_line, 6);
	assert_int_equal(rb->nmeta, 4);
	assert_string_equal(rb->meta[1].key, "owner");
	assert_string_equal(rb->meta[1].value, "platform-team");
	assert_string_equal(rb->meta[3].key, "Service");
	assert_int_equal(rb->nnotes, 2);
	assert_string_equal(rb->notes[0].heading, "Background");
	assert_non_null(strstr(rb->notes[0].text, "Still part of the note."));
	assert_string_equal(rb->notes[1].heading, "Appendix");
	assert_int_equal(rb->nsteps, 1);
	assert_non_null(rb->troubleshooting);
	assert_non_null(strstr(rb->troubleshooting, "General advice"));
	assert_int_equal(rb->ngeneral_failures, 1);
	assert_string_equal(rb->general_failures[0].error, "`could not connect`");
	runbook_free(rb);
}

static void v09_numbered_steps(void **state)
{
	(void)state;
	struct runbook *rb = load("variants/09-numbered-steps.md");
	assert_int_equal(rb->nsteps, 3);
	assert_int_equal(rb->steps[0].number, 1);
	assert_string_equal(rb->steps[0].title, "Backup");
	assert_int_equal(rb->steps[1].number, 2);
	assert_string_equal(rb->steps[1].title, "Migrate");
	assert_int_equal(rb->steps[2].number, 3);
	assert_string_equal(rb->steps[2].title, "Verify everything");
	runbook_free(rb);
}

static void v10_rollback_split(void **state)
{
	(void)state;
	struct runbook *rb = load("variants/10-rollback-split.md");
	assert_int_equal(rb->steps[0].nrollback, 1);
	assert_string_equal(rb->steps[0].rollback[0].block->comment, "undo step 1");
	assert_int_equal(rb->rollback.ncommands, 5);
	assert_string_equal(rb->rollback.commands[0].block->comment, "First, remove the trigger");
	assert_string_equal(rb->rollback.commands[1].block->comment, "Then restore data");
	/* the here-document stays whole, blank line and '#' line included */
	assert_non_null(strstr(rb->rollback.commands[1].block->text, "INSERT INTO x VALUES (2);\nEOF\n"));
	assert_int_equal(rb->rollback.commands[1].block->text_line, 23);
	assert_string_equal(rb->rollback.commands[2].block->comment, "Finally, drop the table");
	assert_string_equal(rb->rollback.commands[3].block->comment, "drop the view");
	assert_string_equal(rb->rollback.commands[3].block->text, "DROP VIEW IF EXISTS v;\n");
	assert_string_equal(rb->rollback.commands[4].block->comment, "drop the function");
	runbook_free(rb);
}

/* A here-document never closed runs to the end of the block, which ends
 * the command (this used to loop forever, found by fuzz_mdparse). */
static void rollback_unterminated_heredoc(void **state)
{
	(void)state;
	static const char text[] = "# T\n\n## Step 1: Load\n\n```bash\necho load\n```\n\n"
				   "## Rollback Procedure\n\n```bash\n# restore\npsql <<EOF\n"
				   "DELETE FROM t;\n\n# still data\n```\n";
	struct runbook *rb = mdparse_buffer("t.md", text, strlen(text));
	assert_int_equal(rb->rollback.ncommands, 1);
	assert_string_equal(rb->rollback.commands[0].block->comment, "restore");
	assert_string_equal(rb->rollback.commands[0].block->text,
			    "psql <<EOF\nDELETE FROM t;\n\n# still data\n");
	runbook_free(rb);
}

/* A carriage return on its own ends a line, for cmark and so for the line
 * numbers: fences are found closed and diagnostics point at them (found by
 * fuzz_mdparse, with diagnostics past the end of the file). */
static void lone_cr_line_endings(void **state)
{
	(void)state;
	static const char text[] = "# T\r\r## Step 1: A\r\r```bash\recho a\r```\r\r"
				   "Expected:\r```\ra\r```\r";
	struct runbook *rb = mdparse_buffer("t.md", text, strlen(text));
	lint_runbook(rb);
	assert_int_equal(rb->nsteps, 1);
	assert_int_equal(rb->steps[0].line, 3);
	assert_int_equal(rb->steps[0].ncommands, 1);
	assert_int_equal(rb->steps[0].commands[0].block->line, 5);
	assert_false(rb->steps[0].commands[0].block->unclosed);
	assert_non_null(rb->steps[0].commands[0].expected);
	assert_int_equal(rb->steps[0].commands[0].expected->line, 10);
	assert_false(has_diag(rb, "unclosed-fence", 0));
	runbook_free(rb);
}

static void v11_crlf_bom(void **state)
{
	(void)state;
	struct runbook *rb = load("variants/11-crlf-bom.md");
	assert_string_equal(rb->title, "CRLF and BOM");
	assert_int_equal(rb->nsteps, 1);
	assert_string_equal(rb->steps[0].title, "Windows line endings");
	assert_string_equal(rb->steps[0].commands[0].block->text, "echo crlf\n");
	assert_string_equal(rb->steps[0].commands[0].expected->text, "crlf\n");
	assert_int_equal(rb->steps[0].commands[0].block->line, 5);
	lint_runbook(rb);
	assert_int_equal(rb->diags.nr, 0);
	runbook_free(rb);
}

static void v12_prereq_setup_inline(void **state)
{
	(void)state;
	struct runbook *rb = load("variants/12-prereq-setup-inline.md");
	assert_int_equal(rb->nprereqs, 3);
	assert_true(rb->prereqs[1].checked);
	assert_false(rb->prereqs[2].is_task);
	/* code right under the prerequisites is the setup */
	assert_int_equal(rb->setup.ncommands, 1);
	assert_non_null(strstr(rb->setup.commands[0].block->text, "APP_ENV=staging"));
	assert_int_equal(rb->final.ncommands, 1);
	assert_int_equal(rb->nfinal_rows, 1);
	assert_string_equal(rb->final_rows[0].metric, "rows");
	assert_string_equal(rb->final_rows[0].expected, "10");
	assert_int_equal(rb->rollback.ncommands, 1);
	assert_int_equal(rb->nnext_steps, 2);
	runbook_free(rb);
}

/* ---- malformed input ---- */

static void malformed_lines(void **state)
{
	(void)state;
	struct runbook *rb = load("malformed/unclosed-fence.md");
	lint_runbook(rb);
	assert_true(has_diag(rb, "unclosed-fence", 16));
	assert_true(rb->steps[1].commands[0].block->unclosed);
	runbook_free(rb);

	rb = load("malformed/step-numbers.md");
	lint_runbook(rb);
	assert_true(has_diag(rb, "step-number-duplicate", 15));
	assert_true(has_diag(rb, "step-number-order", 21));
	assert_true(has_diag(rb, "step-number-gap", 9));
	runbook_free(rb);

	rb = load("malformed/orphan-expected.md");
	lint_runbook(rb);
	assert_true(has_diag(rb, "orphan-expected", 6));
	assert_true(has_diag(rb, "extra-expected", 26));
	runbook_free(rb);

	rb = load("malformed/switched-off.md");
	lint_runbook(rb);
	assert_false(has_diag(rb, "step-no-expectation", 5));
	assert_true(has_diag(rb, "step-no-expectation", 13));
	assert_false(has_diag(rb, "unknown-attribute", 0));
	runbook_free(rb);
}

static void bad_input(void **state)
{
	(void)state;
	struct strbuf err = STRBUF_INIT;
	enum load_error why;
	char path[] = "/tmp/runbook-test-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);

	assert_null(runbook_load("/nonexistent/guide.md", &err, &why));
	assert_int_equal(why, LOAD_NOT_FOUND);
	assert_string_equal(err.buf, "/nonexistent/guide.md: no such file");
	strbuf_reset(&err);

	assert_null(runbook_load("/tmp", &err, &why));
	assert_int_equal(why, LOAD_NOT_FILE);
	strbuf_reset(&err);

	assert_null(runbook_load(path, &err, &why));
	assert_int_equal(why, LOAD_EMPTY);
	strbuf_reset(&err);

	assert_int_equal(write(fd, "# T\n\nok \xff\xfe\n", 11), 11);
	assert_null(runbook_load(path, &err, &why));
	assert_int_equal(why, LOAD_BAD_UTF8);
	assert_non_null(strstr(err.buf, ":3: invalid UTF-8"));
	strbuf_reset(&err);

	assert_int_equal(ftruncate(fd, 0), 0);
	assert_int_equal(pwrite(fd, "# T\n\0\1\2", 7, 0), 7);
	assert_null(runbook_load(path, &err, &why));
	assert_int_equal(why, LOAD_BINARY);
	strbuf_reset(&err);

	assert_int_equal(ftruncate(fd, (off_t)RUNBOOK_MAX_SIZE + 1), 0);
	assert_null(runbook_load(path, &err, &why));
	assert_int_equal(why, LOAD_TOO_BIG);
	strbuf_reset(&err);

	close(fd);
	unlink(path);
	strbuf_release(&err);
}

static void unterminated_heredoc_at_end(void **state)
{
	(void)state;
	/* a rollback block whose here-document never ends, no final newline:
	 * once looped forever */
	static const char text[] = "## Rollback Procedure\n\n```bash\ncat <<O";
	struct runbook *rb = mdparse_buffer("hang.md", text, sizeof(text) - 1);
	assert_non_null(rb);
	assert_int_equal(rb->rollback.ncommands, 1);
	assert_string_equal(rb->rollback.commands[0].block->text, "cat <<O\n");
	runbook_free(rb);
}

static void utf8_validation(void **state)
{
	(void)state;
	assert_int_equal(utf8_check("plain", 5), 0);
	assert_int_equal(utf8_check("caf\xc3\xa9", 5), 0);
	assert_int_equal(utf8_check("\xe2\x80\x94", 3), 0);
	assert_int_equal(utf8_check("\xf0\x9f\x98\x80", 4), 0);
	assert_int_equal(utf8_check("ab\xc3", 3), 3);        /* truncated */
	assert_int_equal(utf8_check("\xc0\xaf", 2), 1);      /* overlong */
	assert_int_equal(utf8_check("\xed\xa0\x80", 3), 1);  /* surrogate */
	assert_int_equal(utf8_check("x\x80", 2), 2);         /* stray continuation */
}

/* 200,000 nested block quotes inside a step: the walk stops at its depth
 * limit with a warning instead of running out of stack; the step's own
 * command before them is still read. */
static void deep_nesting(void **state)
{
	(void)state;
	struct strbuf md = STRBUF_INIT;
	strbuf_addstr(&md, "# Deep\n\n## Step 1: One\n\n```bash\necho one\n```\n\n");
	for (int i = 0; i < 200000; i++)
		strbuf_addch(&md, '>');
	strbuf_addstr(&md, " ```bash\n\n");
	for (int i = 0; i < 100000; i++)
		strbuf_addstr(&md, "*_");
	strbuf_addstr(&md, "x\n\n## Rollback Procedure\n\n```bash\ntrue\n```\n");
	struct runbook *rb = mdparse_buffer("deep.md", md.buf, md.len);
	assert_non_null(rb);
	assert_int_equal(rb->nsteps, 1);
	assert_int_equal(rb->steps[0].ncommands, 1);
	assert_string_equal(rb->steps[0].commands[0].block->text, "echo one\n");
	assert_true(has_diag(rb, "nesting-too-deep", 9));
	runbook_free(rb);
	strbuf_release(&md);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(guide_metadata),
		cmocka_unit_test(guide_prerequisites),
		cmocka_unit_test(guide_setup),
		cmocka_unit_test(guide_steps),
		cmocka_unit_test(guide_failure_rows),
		cmocka_unit_test(guide_final_and_rollback),
		cmocka_unit_test(guide_notes_and_clean_lint),
		cmocka_unit_test(v01_heading_levels),
		cmocka_unit_test(v02_case_separators),
		cmocka_unit_test(v03_synonyms),
		cmocka_unit_test(v04_paragraph_labels),
		cmocka_unit_test(v05_failure_synonyms),
		cmocka_unit_test(v06_fence_languages),
		cmocka_unit_test(v07_attributes),
		cmocka_unit_test(v08_notes_front_matter),
		cmocka_unit_test(v09_numbered_steps),
		cmocka_unit_test(v10_rollback_split),
		cmocka_unit_test(rollback_unterminated_heredoc),
		cmocka_unit_test(v11_crlf_bom),
		cmocka_unit_test(lone_cr_line_endings),
		cmocka_unit_test(v12_prereq_setup_inline),
		cmocka_unit_test(malformed_lines),
		cmocka_unit_test(deep_nesting),
		cmocka_unit_test(bad_input),
		cmocka_unit_test(unterminated_heredoc_at_end),
		cmocka_unit_test(utf8_validation),
	};
	return cmocka_run_group_tests_name("mdparse", tests, NULL, NULL);
}
