/* verify.h - check a journal (docs/log-format.md) and read what it records.
 *
 * verify_file() reads a journal as bytes and checks, line by line, that
 * each line is a JSON object with "v":1, the next seq, a known type and the
 * SHA-256 of the previous line's bytes in "prev"; that every "sig"
 * checkpoint covers exactly the bytes before it and is a valid SSHSIG
 * (namespace runbook-log) by the key the journal declares; that LOG.sig
 * (the journal's path + ".sig") verifies over the whole file; and, with an
 * allowed_signers file, that the key may sign for a principal.  It never
 * parses and re-serialises a line to hash it.
 *
 * Alongside the verdict it builds a summary of the run from the lines that
 * verify: who, when, which runbook, which database, every step and command
 * with its verdict, outputs, deviations, suggestions and decisions.  A
 * journal that breaks is summarised only up to the line before the break.
 *
 *	struct verify_opts opts = VERIFY_OPTS_INIT;
 *	struct verify_result res;
 *	opts.signers = as;                    (optional)
 *	if (verify_file("run.jsonl", &opts, &res, &err) < 0)
 *		... err.buf says why the journal could not be read ...
 *	else if (res.verdict == VERIFY_COMPLETE) ...
 *	verify_result_release(&res);
 *
 * Nothing here prints or exits.  Every string in the result lives in its
 * arena and is released with it; strings from the journal are untrusted and
 * are given as they are (escape them before showing them).
 */
#ifndef RUNBOOK_VERIFY_H
#define RUNBOOK_VERIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/strbuf.h"

struct allowed_signers;

enum verify_verdict {
	VERIFY_COMPLETE,   /* chain intact, every line signed, run.end present */
	VERIFY_INCOMPLETE, /* intact as far as it goes, but not all of a finished run
			      is proven: a crash (no run.end), or LOG.sig missing */
	VERIFY_UNSIGNED,   /* chain intact and complete, but nothing signed it */
	VERIFY_BROKEN,     /* not a journal, or changed: see broken_line, reason */
};

/* State of LOG.sig. */
enum verify_logsig {
	LOGSIG_ABSENT,
	LOGSIG_VALID,
	LOGSIG_INVALID,
};

struct verify_opts {
	/* Who may sign; NULL: signatures are checked against the key the
	 * journal declares only, and the signer's identity is not checked. */
	const struct allowed_signers *signers;
	/* With signers: the principal the key must be allowed for; NULL: any. */
	const char *principal;
	/* The detached signature of the whole file; NULL: the journal's path
	 * followed by ".sig". */
	const char *sig_path;
};

#define VERIFY_OPTS_INIT { NULL, NULL, NULL }

/* ---- the summary ---- */

/* One captured stream of a command (block.end "stdout" / "stderr"). */
struct audit_stream {
	bool present;
	int64_t bytes;        /* as the command printed them */
	const char *sha256;   /* of those bytes */
	const char *text;     /* kept text (capped by the writer), or NULL */
	bool truncated;
};

/* One command: a block.start and, when it finished, its block.end. */
struct audit_block {
	size_t line;          /* journal line of the block.start (1-based) */
	int index;            /* the block's index in the runbook */
	int source_line;      /* its line in the runbook */
	int attempt;
	const char *kind;     /* shell, console, sql */
	const char *command;
	const char *comment;  /* rollback commands */
	bool ended;           /* false: it was running when the journal stops */
	const char *started, *ended_at;
	int64_t duration_ms;
	int exit_code, signal;
	const char *verdict, *reason, *sqlstate, *diff;
	struct audit_stream out, err;
	const char *captures; /* "NAME=value" lines, or NULL */
};

/* One documented fix shown after a failure (a "suggestions" row). */
struct audit_suggestion {
	int block;
	int source_line;
	const char *error, *cause, *solution, *why;
	bool pattern_hit;
	int score_pct;
};

/* One step as run: a step.start up to its step.end.  A step started again
 * (after a resume) appears again. */
struct audit_step {
	const char *role;     /* setup, step, final, rollback */
	int number;           /* role "step" only */
	const char *title;
	const char *label;    /* "step 2", "setup", "final", "rollback" */
	int source_line;
	size_t line;          /* journal line where it starts */
	size_t end_line;      /* journal line of its step.end, 0 while running */
	const char *started, *ended_at; /* timestamps of step.start / step.end */
	bool ended;
	bool inferred;        /* no step.end in a finished run (a run's rollback
				 writes none): ended, verdict and duration are
				 taken from its commands */
	const char *verdict;  /* NULL until it ended */
	const char *note;     /* reason of a skip or acceptance */
	int64_t duration_ms;
	struct audit_block *blocks;
	size_t nblocks, blocks_alloc;
	struct audit_suggestion *suggestions;
	size_t nsuggestions, suggestions_alloc;
	bool none_matched;    /* a failure for which no documented fix matched */
	size_t ndecisions;    /* decisions taken in this step */
};

enum audit_event_kind {
	AUDIT_DEVIATION, /* a command's output differed from the expected output */
	AUDIT_FAILURE,   /* a command failed, timed out or was interrupted */
	AUDIT_SKIP,      /* a step ended skipped */
	AUDIT_ACCEPT,    /* a step ended accepted despite a deviation or failure */
	AUDIT_DECISION,  /* a "decision" record */
	AUDIT_RESUME,    /* a later session continued the journal */
	AUDIT_TARGET,    /* the target database became known or changed */
	AUDIT_MONITOR,   /* the lock monitor saw blocked sessions */
};

/* Something an auditor looks at: every deviation, skip and decision. */
struct audit_event {
	enum audit_event_kind kind;
	size_t line;          /* journal line */
	const char *ts;
	long step;            /* index into summary.steps, or -1 */
	const char *what;     /* deviation/failure: the verdict; decision: the choice */
	const char *reason;   /* why (a command's reason, a decision's reason, a note) */
	const char *about;    /* decision: what it was about */
	const char *by;       /* decision: operator or policy */
	const char *detail;   /* deviation: the diff */
};

struct audit_prereq {
	const char *item, *status, *evidence;
	int source_line;
};

struct audit_final {
	const char *metric, *expected, *actual;
	bool ok;
};

struct audit_var {
	const char *name, *value;
};

struct audit_target {
	bool present;
	const char *conninfo, *database, *user, *server_version, *system_identifier;
	bool sandbox;
};

struct audit_summary {
	bool have_start;
	const char *tool_version, *mode;
	const char *runbook_path, *runbook_realpath, *runbook_sha256, *runbook_title;
	int64_t runbook_steps;
	const char *user, *host;
	int64_t uid;
	bool interactive;
	struct audit_target target; /* the last one recorded */
	const char *started;        /* run.start ts */
	const char *last_ts;        /* ts of the last line summarised */
	const char *signing_key, *signing_public; /* as declared; NULL: unsigned */
	const char *options;        /* the options that differ from the defaults, or "" */
	struct audit_var *vars;
	size_t nvars, vars_alloc;
	bool have_end;
	const char *ended, *result, *rollback;
	int exit_code;
	int64_t duration_ms;
	const char *step_counts;    /* run.end "steps", e.g. "passed 3, failed 1" */
	size_t resumes;
	struct audit_step *steps;
	size_t nsteps, steps_alloc;
	struct audit_event *events;
	size_t nevents, events_alloc;
	struct audit_prereq *prereqs;
	size_t nprereqs, prereqs_alloc;
	struct audit_final *finals;
	size_t nfinals, finals_alloc;
};

/* ---- the result ---- */

/* A key that signed part of the journal. */
struct verify_signer {
	const char *fingerprint;
	const char *principal;   /* with allowed_signers: who it is allowed for; else NULL */
	size_t signatures;       /* checkpoints and LOG.sig it made */
};

struct verify_result {
	struct arena arena;          /* owns every string below */
	const char *path, *sig_path;
	enum verify_verdict verdict;
	size_t broken_line;          /* VERIFY_BROKEN: 1-based line */
	const char *reason;          /* BROKEN: why; INCOMPLETE: what is missing; else NULL */
	size_t lines;                /* complete lines in the file */
	size_t chained_lines;        /* lines whose chain verifies */
	size_t summarised_lines;     /* lines the summary is made of */
	uint64_t bytes;              /* file size */
	uint64_t partial_bytes;      /* an incomplete last line (no newline), ignored */
	char file_sha256[65];        /* of the whole file */
	bool complete;               /* a run.end was reached */
	bool is_signed;              /* the journal declares a signing key or has signatures */
	bool signers_checked;        /* allowed_signers given */
	size_t checkpoints;          /* "sig" lines that verified */
	size_t covered_lines;        /* lines proven by a valid signature */
	enum verify_logsig logsig;
	const char *logsig_reason;   /* LOGSIG_INVALID: why */
	const char *up_to;           /* last step whose end is proven: "step 2", "setup", ...; NULL: none */
	int up_to_number;            /* role "step": its number, else 0 */
	struct verify_signer *signers;
	size_t nsigners, signers_alloc;
	const char **notes;          /* things the auditor should know, one line each */
	size_t nnotes, notes_alloc;
	struct audit_summary summary;
};

/* verify_file reads the journal at `path` (and its LOG.sig) and fills
 * `res`.  Returns 0 with a verdict, whatever it is, or -1 with "PATH: why"
 * in err when the journal (or an existing LOG.sig) cannot be read; `res`
 * must be released in both cases. */
int verify_file(const char *path, const struct verify_opts *opts, struct verify_result *res,
		struct strbuf *err);

/* verify_buffer is verify_file on bytes in memory: `logsig` is the armored
 * LOG.sig, or NULL when there is none.  `path` names the journal in the
 * result (may be NULL).  Always returns 0. */
int verify_buffer(const char *path, const char *data, size_t len, const char *logsig,
		  size_t logsig_len, const struct verify_opts *opts, struct verify_result *res);

/* verify_result_release frees everything the result holds; it may be
 * called on a result verify_file() failed to fill, and twice. */
void verify_result_release(struct verify_result *res);

/* verify_headline appends the one-line verdict: "verified complete",
 * "verified up to step 2 (incomplete)", "BROKEN at line 7 (prev does not
 * match ...)", "unsigned (chain intact, complete)". */
void verify_headline(const struct verify_result *res, struct strbuf *out);

/* verify_verdict_word is "verified", "incomplete", "broken" or "unsigned". */
const char *verify_verdict_word(enum verify_verdict v);

/* verify_result_json appends the verdict and the summary as one JSON
 * object (and a newline) to out. */
void verify_result_json(const struct verify_result *res, struct strbuf *out);

/* verify_parse_time turns "2026-11-21T13:49:50.412Z" into ms since the
 * epoch; -1 when it is not such a time. */
int64_t verify_parse_time(const char *ts);

/* verify_step_label appends how a step is named to people: "step 2",
 * "setup", "final verification", "rollback". */
void verify_step_label(const char *role, int number, struct strbuf *out);

#endif
