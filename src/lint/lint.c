/* lint.c - structure rules for runbooks, and the SQL lint run over them. */
#include "lint/lint.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "match/match.h"
#include "lint/shscan.h"
#include "lint/sqllint.h"
#include "base/strbuf.h"
#include "base/xalloc.h"

static void add(struct runbook *rb, int line, int col, enum diag_severity sev, const char *rule,
		const char *msg)
{
	diag_add(&rb->diags, rb->path, line, col, sev, rule, "%s", msg);
}

static bool step_has_runnable(const struct rb_step *st)
{
	for (size_t i = 0; i < st->ncommands; i++)
		if (rb_block_runnable(st->commands[i].block))
			return true;
	return false;
}

static bool step_has_expectation(const struct rb_step *st)
{
	if (st->nverifications)
		return true;
	for (size_t i = 0; i < st->ncommands; i++)
		if (st->commands[i].expected || st->commands[i].block->kind == BLOCK_CONSOLE ||
		    rb_attr_has(st->commands[i].block, "exit"))
			return true;
	return false;
}

static void check_blocks(struct runbook *rb, const struct rb_step *st)
{
	const struct rb_command *lists[] = { st->commands, st->verifications, st->rollback };
	size_t counts[] = { st->ncommands, st->nverifications, st->nrollback };

	for (size_t l = 0; l < 3; l++) {
		for (size_t i = 0; i < counts[l]; i++) {
			const struct rb_block *b = lists[l][i].block;
			if (b->kind == BLOCK_OTHER) {
				diag_add(&rb->diags, rb->path, b->line, b->col, DIAG_WARNING, "block-not-run",
					 "```%s block is shown but never run (runnable: bash, sh, console, sql)",
					 b->lang);
			} else if (rb_block_runnable(b)) {
				const char *t = b->text;
				while (*t == ' ' || *t == '\n' || *t == '\t')
					t++;
				if (!*t)
					add(rb, b->line, b->col, DIAG_WARNING, "empty-block",
					    "code block is empty");
			}
		}
	}
}

static void check_steps(struct runbook *rb)
{
	if (!rb->nsteps) {
		add(rb, rb->title_line ? rb->title_line : 1, 1, DIAG_ERROR, "no-steps",
		    "no steps found: write them as '## Step 1: Title' headings");
		return;
	}
	int max_number = 0;
	for (size_t i = 0; i < rb->nsteps; i++) {
		const struct rb_step *st = &rb->steps[i];
		if (!step_has_runnable(st))
			diag_add(&rb->diags, rb->path, st->line, 1, DIAG_ERROR, "step-no-command",
				 "step %d (%s) has no command block to run", st->number, st->title);
		else if (!step_has_expectation(st))
			diag_add(&rb->diags, rb->path, st->line, 1, DIAG_WARNING, "step-no-expectation",
				 "step %d (%s) has neither expected output nor a verification", st->number,
				 st->title);
		/* a number above every one before cannot be a duplicate: runbooks
		 * number their steps upwards, so the scan below is rare and check
		 * stays linear in the number of steps */
		if (i == 0 || st->number > max_number)
			max_number = st->number;
		else
			for (size_t j = 0; j < i; j++) {
				if (rb->steps[j].number == st->number) {
					diag_add(&rb->diags, rb->path, st->line, 1, DIAG_ERROR,
						 "step-number-duplicate", "step number %d already used at line %d",
						 st->number, rb->steps[j].line);
					break;
				}
			}
		if (i > 0) {
			int prev = rb->steps[i - 1].number;
			if (st->number < prev)
				diag_add(&rb->diags, rb->path, st->line, 1, DIAG_ERROR, "step-number-order",
					 "step %d comes after step %d", st->number, prev);
			else if (st->number > prev + 1)
				diag_add(&rb->diags, rb->path, st->line, 1, DIAG_WARNING, "step-number-gap",
					 "step %d follows step %d: step %d is missing", st->number, prev,
					 prev + 1);
		} else if (st->number != 1) {
			diag_add(&rb->diags, rb->path, st->line, 1, DIAG_WARNING, "step-number-gap",
				 "the first step is numbered %d, not 1", st->number);
		}
		for (size_t f = 0; f < st->nfailures; f++) {
			const struct rb_failure_row *r = &st->failures[f];
			if (!*r->solution)
				add(rb, r->line, 1, DIAG_WARNING, "failure-row-no-solution",
				    "failure row has an empty Solution");
			if (!*r->error)
				add(rb, r->line, 1, DIAG_WARNING, "failure-row-no-error",
				    "failure row has an empty Error cell");
		}
		check_blocks(rb, st);
	}
}

static void check_sections(struct runbook *rb)
{
	if (!rb->title_line)
		add(rb, 1, 1, DIAG_WARNING, "no-title", "no title: start the runbook with '# Title'");
	if (!rb->rollback.line)
		add(rb, rb->title_line ? rb->title_line : 1, 1, DIAG_WARNING, "no-rollback",
		    "no rollback section: add '## Rollback Procedure'");
	else if (!rb->rollback.ncommands)
		add(rb, rb->rollback.line, 1, DIAG_WARNING, "rollback-no-command",
		    "rollback section has no command block");
	if (rb->nfinal_rows && (!rb->final.line || !rb->final.ncommands))
		add(rb, rb->final_rows_line, 1, DIAG_WARNING, "final-state-no-query",
		    "expected final state has no verification query to check it against");
	if (rb->setup.line)
		check_blocks(rb, &rb->setup);
	if (rb->final.line)
		check_blocks(rb, &rb->final);
	if (rb->rollback.line)
		check_blocks(rb, &rb->rollback);
}

/* ---- expected output patterns ---- */

static void compile_one(struct runbook *rb, const char *text, const char *mode_attr, int first_line,
			int col_base)
{
	enum match_mode mode;
	struct match_error me;

	if (match_mode_parse(mode_attr, &mode) < 0)
		return; /* bad-attribute already reported */
	memset(&me, 0, sizeof(me));
	struct expectation *e = expectation_compile(text, mode, &me);
	if (!e) {
		diag_add(&rb->diags, rb->path, first_line + (me.line > 0 ? me.line - 1 : 0),
			 me.col > 0 ? me.col + col_base : 1, DIAG_ERROR, "invalid-pattern",
			 "expected output: %s", me.msg);
		return;
	}
	expectation_free(e);
}

static int compile_expected(const struct rb_step *st, const struct rb_command *cmd, bool v, void *data)
{
	struct runbook *rb = data;
	(void)st;
	(void)v;
	if (cmd->expected)
		compile_one(rb, cmd->expected->text, rb_attr_get(cmd->expected, "match"),
			    cmd->expected->text_line, cmd->expected->col - 1);
	if (cmd->block->kind == BLOCK_CONSOLE) {
		struct rb_console_cmd *cc;
		size_t n = rb_console_split(cmd->block, &cc);
		for (size_t i = 0; i < n; i++)
			if (*cc[i].expected)
				compile_one(rb, cc[i].expected, NULL, cc[i].expected_line, cmd->block->col - 1);
		rb_console_free(cc, n);
	}
	return 0;
}

/* ---- characters a reviewer cannot see ---- */

/* hidden_char finds the first control character (but tab, newline and a
 * carriage return before a newline), C1 control or bidirectional override in
 * text; returns its length in bytes (0 if none) and where it is. */
static size_t hidden_char(const char *text, size_t *at, unsigned *cp)
{
	const unsigned char *u = (const unsigned char *)text;
	for (size_t i = 0; u[i]; i++) {
		if ((u[i] < 0x20 && u[i] != '\t' && u[i] != '\n' && !(u[i] == '\r' && u[i + 1] == '\n')) ||
		    u[i] == 0x7f) {
			*at = i;
			*cp = u[i];
			return 1;
		}
		if (u[i] == 0xc2 && u[i + 1] >= 0x80 && u[i + 1] <= 0x9f) {
			*at = i;
			*cp = u[i + 1];
			return 2;
		}
		if (u[i] == 0xe2 && u[i + 1] && u[i + 2] &&
		    ((u[i + 1] == 0x80 && u[i + 2] >= 0xaa && u[i + 2] <= 0xae) ||
		     (u[i + 1] == 0x81 && u[i + 2] >= 0xa6 && u[i + 2] <= 0xa9))) {
			*at = i;
			*cp = ((u[i] & 0x0fu) << 12) | ((u[i + 1] & 0x3fu) << 6) | (u[i + 2] & 0x3fu);
			return 3;
		}
	}
	return 0;
}

/* ---- SQL lock safety ---- */

static bool is_rollback(const struct rb_step *st, const struct rb_command *cmd)
{
	return st->role == STEP_ROLLBACK ||
	       (st->nrollback && cmd >= st->rollback && cmd < st->rollback + st->nrollback);
}

static int lint_sql(const struct rb_step *st, const struct rb_command *cmd, bool v, void *data)
{
	struct sqllint *l = data;
	const struct rb_block *b = cmd->block;
	unsigned flags = is_rollback(st, cmd) ? SQLLINT_ROLLBACK : 0;
	(void)v;
	if (b->kind == BLOCK_SQL) {
		sqllint_sql(l, b->text, b->text_line, b->col, flags);
	} else if (b->kind == BLOCK_SHELL) {
		sqllint_shell(l, b->text, b->text_line, b->col, flags);
	} else if (b->kind == BLOCK_CONSOLE) {
		struct rb_console_cmd *cc;
		size_t n = rb_console_split(b, &cc);
		for (size_t i = 0; i < n; i++)
			sqllint_shell(l, cc[i].cmd, cc[i].line, b->col + 2, flags);
		rb_console_free(cc, n);
	}
	return 0;
}

static int check_hidden(const struct rb_step *st, const struct rb_command *cmd, bool v, void *data)
{
	struct runbook *rb = data;
	const struct rb_block *b = cmd->block;
	size_t at;
	unsigned cp;
	(void)st;
	(void)v;
	if (!hidden_char(b->text, &at, &cp))
		return 0;
	int line = b->text_line;
	for (size_t i = 0; i < at; i++)
		line += b->text[i] == '\n';
	diag_add(&rb->diags, rb->path, line, 1, DIAG_WARNING, "hidden-character",
		 "command contains U+%04X, which a terminal would not show as it is: runbook "
		 "prints it as an escape; make sure the command is what it seems",
		 cp);
	return 0;
}

/* ---- captured variables used before they are captured ----
 *
 * Blocks (and each command of a console block) are "units" numbered in the
 * order they run.  A capture `{{NAME:regex}}` in a unit's expected output
 * sets $NAME once that unit has run; a use of $NAME in that unit or an
 * earlier one sees nothing, unless the shell set NAME itself before. */

struct capture {
	char *name;
	int line, col;
	size_t unit;
};

struct capture_scan {
	struct runbook *rb;
	struct capture *caps;
	size_t ncaps, caps_alloc;
	size_t unit;
	struct strbuf defined; /* "\nNAME\n" entries */
};

static bool name_start(int c)
{
	return isalpha(c) || c == '_';
}

static bool name_char(int c)
{
	return isalnum(c) || c == '_';
}

static void add_capture(struct capture_scan *cs, const char *name, size_t len, int line, int col)
{
	ALLOC_GROW(cs->caps, cs->ncaps + 1, cs->caps_alloc);
	cs->caps[cs->ncaps].name = xmemdupz(name, len);
	cs->caps[cs->ncaps].line = line;
	cs->caps[cs->ncaps].col = col;
	cs->caps[cs->ncaps].unit = cs->unit;
	cs->ncaps++;
}

/* find_captures collects `{{NAME:` (or, in regex mode, `(?<NAME>`) in an
 * expected output whose first character is at file line:col. */
static void find_captures(struct capture_scan *cs, const char *text, const char *mode, int line,
			  int col)
{
	bool regex = mode && !strcmp(mode, "regex");
	int l = line, c = col;
	if (mode && (!strcmp(mode, "contains") || !strcmp(mode, "none")))
		return;
	for (const char *p = text; *p; p++) {
		const char *name = NULL;
		if (!regex && p[0] == '{' && p[1] == '{')
			name = p + 2;
		else if (regex && !strncmp(p, "(?<", 3) && p[3] != '=' && p[3] != '!')
			name = p + 3;
		else if (regex && (!strncmp(p, "(?P<", 4) || !strncmp(p, "(?'", 3)))
			name = p + (p[2] == 'P' ? 4 : 3);
		if (name && name_start((unsigned char)*name)) {
			const char *e = name;
			while (name_char((unsigned char)*e))
				e++;
			char close = regex ? (name[-1] == '\'' ? '\'' : '>') : ':';
			if (*e == close)
				add_capture(cs, name, (size_t)(e - name), l, c);
		}
		if (*p == '\n') {
			l++;
			c = col;
		} else if (((unsigned char)*p & 0xC0) != 0x80) {
			c++;
		}
	}
}

static int collect_captures(const struct rb_step *st, const struct rb_command *cmd, bool v,
			    void *data)
{
	struct capture_scan *cs = data;
	const struct rb_block *b = cmd->block;
	(void)st;
	(void)v;
	if (b->kind == BLOCK_CONSOLE) {
		struct rb_console_cmd *cc;
		size_t n = rb_console_split(b, &cc);
		for (size_t i = 0; i < n; i++, cs->unit++)
			find_captures(cs, cc[i].expected, NULL, cc[i].expected_line, b->col);
		rb_console_free(cc, n);
		return 0;
	}
	if (cmd->expected)
		find_captures(cs, cmd->expected->text, rb_attr_get(cmd->expected, "match"),
			      cmd->expected->text_line, cmd->expected->col);
	cs->unit++;
	return 0;
}

static bool is_defined(const struct capture_scan *cs, const char *name)
{
	static const char *const environment[] = {
		"HOME", "PATH", "USER", "LOGNAME", "SHELL", "PWD", "OLDPWD", "TMPDIR", "TERM",
		"LANG", "LC_ALL", "HOSTNAME", "UID", "EUID", "PPID", "RANDOM", "SECONDS",
		"LINENO", "DATABASE_URL", "EDITOR", "PAGER", "CI", NULL,
	};
	for (size_t k = 0; environment[k]; k++)
		if (!strcmp(name, environment[k]))
			return true;
	if (!strncmp(name, "PG", 2) || !strncmp(name, "BASH", 4) || !strncmp(name, "RUNBOOK", 7))
		return true;
	char *key = xasprintf("\n%s\n", name);
	bool found = strstr(cs->defined.buf, key) != NULL;
	free(key);
	return found;
}

static void define(struct capture_scan *cs, const char *name)
{
	if (!cs->defined.len)
		strbuf_addch(&cs->defined, '\n');
	strbuf_addf(&cs->defined, "%s\n", name);
}

static int cmp_var(const void *a, const void *b)
{
	const struct sh_var *x = a, *y = b;
	return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* check_uses checks one unit: shell text whose first character is at file
 * line:col. */
static void check_uses(struct capture_scan *cs, const char *text, int line, int col)
{
	struct sh_script s = SH_SCRIPT_INIT;
	size_t d = 0;

	shscan(text, strlen(text), &s);
	if (s.nuses > 1)
		qsort(s.uses, s.nuses, sizeof(*s.uses), cmp_var);
	if (s.ndefs > 1)
		qsort(s.defs, s.ndefs, sizeof(*s.defs), cmp_var);
	for (size_t u = 0; u < s.nuses; u++) {
		const struct sh_var *use = &s.uses[u];
		for (; d < s.ndefs && s.defs[d].offset < use->offset; d++)
			define(cs, s.defs[d].name);
		const struct capture *cap = NULL;
		for (size_t k = 0; k < cs->ncaps && !cap; k++)
			if (!strcmp(cs->caps[k].name, use->name) && cs->caps[k].unit >= cs->unit)
				cap = &cs->caps[k];
		if (!cap || is_defined(cs, use->name))
			continue;
		int l = line, c = col;
		for (size_t k = 0; k < use->offset; k++) {
			if (text[k] == '\n') {
				l++;
				c = col;
			} else if (((unsigned char)text[k] & 0xC0) != 0x80) {
				c++;
			}
		}
		if (cap->unit == cs->unit)
			diag_add(&cs->rb->diags, cs->rb->path, l, c, DIAG_ERROR,
				 "capture-used-before-defined",
				 "$%s is used before it is captured: the expected output at line %d sets "
				 "it only after this command has run",
				 use->name, cap->line);
		else
			diag_add(&cs->rb->diags, cs->rb->path, l, c, DIAG_ERROR,
				 "capture-used-before-defined",
				 "$%s is used before it is captured by the expected output at line %d",
				 use->name, cap->line);
		define(cs, use->name); /* once per variable */
	}
	for (; d < s.ndefs; d++)
		define(cs, s.defs[d].name);
	sh_script_release(&s);
}

static void define_unit_captures(struct capture_scan *cs)
{
	for (size_t k = 0; k < cs->ncaps; k++)
		if (cs->caps[k].unit == cs->unit)
			define(cs, cs->caps[k].name);
	cs->unit++;
}

static int check_captures(const struct rb_step *st, const struct rb_command *cmd, bool v,
			  void *data)
{
	struct capture_scan *cs = data;
	const struct rb_block *b = cmd->block;
	(void)st;
	(void)v;
	if (b->kind == BLOCK_CONSOLE) {
		struct rb_console_cmd *cc;
		size_t n = rb_console_split(b, &cc);
		for (size_t i = 0; i < n; i++) {
			check_uses(cs, cc[i].cmd, cc[i].line, b->col + 2);
			define_unit_captures(cs);
		}
		rb_console_free(cc, n);
		return 0;
	}
	if (b->kind == BLOCK_SHELL)
		check_uses(cs, b->text, b->text_line, b->col);
	define_unit_captures(cs);
	return 0;
}

static void check_captures_order(struct runbook *rb)
{
	struct capture_scan cs;
	memset(&cs, 0, sizeof(cs));
	cs.rb = rb;
	strbuf_init(&cs.defined, 0);
	rb_for_each_command(rb, collect_captures, &cs);
	if (cs.ncaps) {
		cs.unit = 0;
		rb_for_each_command(rb, check_captures, &cs);
	}
	for (size_t k = 0; k < cs.ncaps; k++)
		free(cs.caps[k].name);
	free(cs.caps);
	strbuf_release(&cs.defined);
}

/* ---- switching rules off ---- */

struct block_span {
	int from, to;
	const struct rb_block *block;
};

static int collect_block(const struct rb_step *st, const struct rb_command *cmd, bool v, void *data)
{
	struct { struct block_span *spans; size_t nr, alloc; } *acc = data;
	(void)st;
	(void)v;
	const struct rb_block *bs[2] = { cmd->block, cmd->expected };
	for (int i = 0; i < 2; i++) {
		/* only blocks that switch a rule off matter: every diagnostic is
		 * compared with every span collected, so collecting all blocks
		 * would make check quadratic in the size of the runbook */
		if (!bs[i] || !rb_attr_get(bs[i], "check"))
			continue;
		ALLOC_GROW(acc->spans, acc->nr + 1, acc->alloc);
		acc->spans[acc->nr].from = bs[i]->line;
		acc->spans[acc->nr].to = bs[i]->end_line;
		acc->spans[acc->nr].block = bs[i];
		acc->nr++;
	}
	return 0;
}

static bool block_disables(const struct rb_block *b, const char *rule)
{
	for (size_t i = 0; i < b->nattrs; i++)
		if (!strcmp(b->attrs[i].key, "check") && !strncmp(b->attrs[i].value, "off:", 4)) {
			/* check=off:rule-a,rule-b */
			const char *s = b->attrs[i].value + 4;
			size_t n = strlen(rule);
			while (*s) {
				const char *e = strchr(s, ',');
				size_t len = e ? (size_t)(e - s) : strlen(s);
				if ((len == n && !strncmp(s, rule, n)) || (len == 3 && !strncmp(s, "all", 3)))
					return true;
				s += len + (e ? 1 : 0);
			}
		}
	return false;
}

static bool pragma_disables(const struct runbook *rb, const char *rule, int line)
{
	/* pragmas are stored in file order; the last one at or before the
	 * line decides (off ... on pairs are written as "off"/"on" keys) */
	bool off = false;
	for (size_t i = 0; i < rb->npragmas; i++) {
		const struct rb_attr *a = &rb->pragmas[i];
		if (a->col > line)
			break;
		if (!strcmp(a->key, rule) || !strcmp(a->key, "all"))
			off = strcmp(a->value, "on") != 0;
	}
	return off;
}

static void apply_switches(struct runbook *rb)
{
	struct { struct block_span *spans; size_t nr, alloc; } acc = { NULL, 0, 0 };
	size_t keep = 0;

	rb_for_each_command(rb, collect_block, &acc);
	for (size_t i = 0; i < rb->diags.nr; i++) {
		struct diag *d = &rb->diags.items[i];
		bool off = pragma_disables(rb, d->rule, d->line);
		for (size_t s = 0; s < acc.nr && !off; s++)
			if (d->line >= acc.spans[s].from && d->line <= acc.spans[s].to &&
			    block_disables(acc.spans[s].block, d->rule))
				off = true;
		if (off) {
			free(d->file);
			free(d->rule);
			free(d->message);
			continue;
		}
		rb->diags.items[keep++] = *d;
	}
	rb->diags.nr = keep;
	free(acc.spans);
}

void lint_runbook(struct runbook *rb)
{
	check_sections(rb);
	check_steps(rb);
	rb_for_each_command(rb, compile_expected, rb);
	rb_for_each_command(rb, check_hidden, rb);
	check_captures_order(rb);
	struct sqllint *sql = sqllint_new(rb->path, &rb->diags);
	rb_for_each_command(rb, lint_sql, sql);
	sqllint_free(sql);
	apply_switches(rb);
	diag_sort(&rb->diags);
}
