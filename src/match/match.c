/* match.c - expected-output matching and failure-row ranking with PCRE2. */
#define _GNU_SOURCE
#define PCRE2_CODE_UNIT_WIDTH 8
#include "match/match.h"

#include <ctype.h>
#include <pcre2.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "match/sqlstate.h"
#include "base/xalloc.h"

/*
 * Limits applied to every pcre2_match() call.  The match limit bounds the
 * backtracking work of one call (JIT and interpreter alike), the depth and
 * heap limits the interpreter's memory, the JIT stack the JIT's.  Per-line
 * matches get a smaller match limit because a block may try one pattern
 * against many lines; a wall-clock budget per expectation_match() stops the
 * sum of many slow-but-legal matches.
 */
#define MATCH_LIMIT_WHOLE 10000000u
#define MATCH_LIMIT_LINE 1000000u
#define DEPTH_LIMIT 100000u
#define HEAP_LIMIT_KIB 16384u
#define JIT_STACK_MIN ((size_t)32 << 10)
#define JIT_STACK_MAX ((size_t)4 << 20)
#define TIME_BUDGET_SEC 20.0
/* JIT-compiling thousands of one-line patterns costs more than it saves. */
#define JIT_MAX_LINE_PATTERNS 256

#define UTF_OPTS (PCRE2_UTF | PCRE2_MATCH_INVALID_UTF)

/* Diff shape: context lines around a change, lines shown at most, lines of
 * one change run shown before the rest of it is summarised, bytes of a line. */
#define DIFF_CONTEXT 3
#define DIFF_MAX_LINES 300
#define DIFF_RUN_HEAD 40
#define DIFF_RUN_TAIL 5
#define DIFF_LINE_MAX 400
/* How far the diff looks ahead to re-synchronise after a change, and how
 * many line comparisons it may spend on that in all. */
#define SYNC_WINDOW 2000
#define SYNC_WINDOW_LINES 100
#define SYNC_BUDGET 400000
#define MAX_NOTES 20
#define QUOTE_MAX 100

/* ---- small helpers ---- */

static void *need(void *p)
{
	if (!p) {
		fputs("runbook: out of memory\n", stderr);
		abort();
	}
	return p;
}

static bool is_blank(int c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

static bool is_alnum(int c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_word(int c)
{
	return is_alnum(c) || c == '_';
}

/* utf8_len returns the length of the valid UTF-8 sequence at s, or 0 when the
 * byte at s does not start one (overlong forms and surrogates are invalid). */
static size_t utf8_len(const unsigned char *s, size_t len)
{
	unsigned char c = s[0];
	size_t n;
	uint32_t cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	if (len < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

/* add_display appends at most max bytes of s for a human: invalid UTF-8 bytes
 * and control characters escaped as \xNN (\r as \r, tab kept), then "..."
 * and the number of bytes left out when s is longer. */
static void add_display(struct strbuf *sb, const char *s, size_t len, size_t max)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0;

	while (i < len) {
		if (i >= max) {
			strbuf_addf(sb, "... (%zu more bytes)", len - i);
			return;
		}
		size_t n = utf8_len(u + i, len - i);
		if (n == 0) {
			strbuf_addf(sb, "\\x%02x", u[i]);
			i++;
		} else if (n == 1 && u[i] == '\r') {
			strbuf_addstr(sb, "\\r");
			i++;
		} else if (n == 1 && ((u[i] < 0x20 && u[i] != '\t') || u[i] == 0x7f)) {
			strbuf_addf(sb, "\\x%02x", u[i]);
			i++;
		} else {
			strbuf_add(sb, s + i, n);
			i += n;
		}
	}
}

/* add_quoted appends s trimmed of blanks and in double quotes, cut at max
 * bytes with "..." (a short form for one-line reasons). */
static void add_quoted(struct strbuf *sb, const char *s, size_t len, size_t max)
{
	while (len && is_blank((unsigned char)*s)) {
		s++;
		len--;
	}
	while (len && is_blank((unsigned char)s[len - 1]))
		len--;
	strbuf_addch(sb, '"');
	if (len > max) {
		size_t cut = max;
		while (cut > 0 && ((unsigned char)s[cut] & 0xc0) == 0x80)
			cut--;
		add_display(sb, s, cut, SIZE_MAX);
		strbuf_addstr(sb, "...");
	} else {
		add_display(sb, s, len, SIZE_MAX);
	}
	strbuf_addch(sb, '"');
}

/* add_regex_literal appends the bytes of s to a pattern so that they match
 * themselves: ASCII punctuation is backslash-escaped, letters, digits and
 * UTF-8 sequences are copied. */
static void add_regex_literal(struct strbuf *pat, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x80 && !is_alnum(c) && c != '_' && c > 0x20)
			strbuf_addch(pat, '\\');
		if (c == '\n') {
			strbuf_addstr(pat, "\\n");
			continue;
		}
		if (c < 0x20 || c == 0x7f) {
			strbuf_addf(pat, "\\x%02x", c);
			continue;
		}
		strbuf_addch(pat, (char)c);
	}
}

static double now_sec(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- PCRE2 plumbing ---- */

/* compile_pattern compiles with the options every pattern here shares and
 * JIT-compiles when asked; a JIT failure only means the interpreter runs. */
static pcre2_code *compile_pattern(const char *pat, size_t len, uint32_t opts, bool jit,
				   int *errcode, size_t *erroff)
{
	int ec = 0;
	PCRE2_SIZE eo = 0;
	pcre2_code *code = pcre2_compile((PCRE2_SPTR)pat, len, opts, &ec, &eo, NULL);
	if (!code) {
		if (errcode)
			*errcode = ec;
		if (erroff)
			*erroff = eo;
		return NULL;
	}
	if (jit)
		pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
	return code;
}

static void error_message(int errcode, char *buf, size_t size)
{
	if (pcre2_get_error_message(errcode, (PCRE2_UCHAR *)buf, size) < 0)
		snprintf(buf, size, "PCRE2 error %d", errcode);
}

static uint32_t capture_count(const pcre2_code *code)
{
	uint32_t n = 0;
	pcre2_pattern_info(code, PCRE2_INFO_CAPTURECOUNT, &n);
	return n;
}

enum run_status { RUN_NOMATCH = 0, RUN_MATCH = 1, RUN_LIMIT = -1, RUN_ERROR = -2 };

/* A runner holds what one judgement needs to call pcre2_match(): the match
 * context with its limits, a JIT stack and the match data.  It lives for one
 * expectation_match() or failure_matcher_rank() call, so that a compiled
 * expectation is never written to. */
struct runner {
	pcre2_match_context *whole; /* limits for one match over a whole output */
	pcre2_match_context *line;  /* smaller match limit for per-line matches */
	pcre2_jit_stack *stack;
	bool shared_stack;          /* stack is the process's shared one */
	pcre2_match_data *md;
	int error;       /* the PCRE2 error of a RUN_ERROR */
	double deadline; /* now_sec() value after which per-line scans stop */
};

static pcre2_match_context *limited_context(uint32_t match_limit, pcre2_jit_stack *stack)
{
	pcre2_match_context *mc = need(pcre2_match_context_create(NULL));
	pcre2_set_match_limit(mc, match_limit);
	pcre2_set_depth_limit(mc, DEPTH_LIMIT);
	pcre2_set_heap_limit(mc, HEAP_LIMIT_KIB);
	if (stack)
		pcre2_jit_stack_assign(mc, NULL, stack);
	return mc;
}

/* One JIT stack serves every runner in turn: creating one maps 4 MiB and
 * freeing it unmaps them, which cost a trivial step more than its match
 * (twice at load time, once per judged block).  A stack is only scratch
 * space during pcre2_match(); a runner started while another holds the
 * shared stack gets its own, as before. */
static pcre2_jit_stack *jit_stack_shared;
static bool jit_stack_busy;

static void runner_init(struct runner *rn, uint32_t ovector_pairs)
{
	if (!jit_stack_busy) {
		if (!jit_stack_shared)
			jit_stack_shared = pcre2_jit_stack_create(JIT_STACK_MIN, JIT_STACK_MAX, NULL);
		rn->stack = jit_stack_shared;
		rn->shared_stack = jit_stack_busy = true;
	} else {
		rn->stack = pcre2_jit_stack_create(JIT_STACK_MIN, JIT_STACK_MAX, NULL);
		rn->shared_stack = false;
	}
	rn->whole = limited_context(MATCH_LIMIT_WHOLE, rn->stack);
	rn->line = limited_context(MATCH_LIMIT_LINE, rn->stack);
	rn->md = need(pcre2_match_data_create(ovector_pairs ? ovector_pairs : 1, NULL));
	rn->error = 0;
	rn->deadline = now_sec() + TIME_BUDGET_SEC;
}

static void runner_release(struct runner *rn)
{
	pcre2_match_data_free(rn->md);
	pcre2_match_context_free(rn->whole);
	pcre2_match_context_free(rn->line);
	if (rn->shared_stack)
		jit_stack_busy = false;
	else
		pcre2_jit_stack_free(rn->stack);
}

static int run_with(struct runner *rn, pcre2_match_context *mc, const pcre2_code *code,
		    const char *subject, size_t len, size_t start)
{
	int rc = pcre2_match(code, (PCRE2_SPTR)subject, len, start, 0, rn->md, mc);
	if (rc >= 0)
		return RUN_MATCH;
	switch (rc) {
	case PCRE2_ERROR_NOMATCH:
	case PCRE2_ERROR_PARTIAL:
		return RUN_NOMATCH;
	case PCRE2_ERROR_MATCHLIMIT:
	case PCRE2_ERROR_DEPTHLIMIT:
	case PCRE2_ERROR_HEAPLIMIT:
	case PCRE2_ERROR_JIT_STACKLIMIT:
		return RUN_LIMIT;
	default:
		rn->error = rc;
		return RUN_ERROR;
	}
}

static int run_line(struct runner *rn, const pcre2_code *code, const char *subject, size_t len,
		    size_t start)
{
	return run_with(rn, rn->line, code, subject, len, start);
}

static int run_whole(struct runner *rn, const pcre2_code *code, const char *subject, size_t len,
		     size_t start)
{
	return run_with(rn, rn->whole, code, subject, len, start);
}

static PCRE2_SIZE *ovector(const struct runner *rn)
{
	return pcre2_get_ovector_pointer(rn->md);
}

/* ---- variable kinds ---- */

/*
 * Each kind has a recogniser, run on the expected text to find the values
 * an author copied from their own machine, and an acceptor, run on the actual
 * output where such a value stands.  Recognisers are strict (a hex id needs a
 * letter and a digit and 7 characters, a size needs a unit) and look at the
 * character before the value so that `x86_64` or `darwin21.6.0` stay words;
 * acceptors take any value of the kind.  Both are compiled anchored, since
 * they are run at a given position.
 */
enum var_kind { V_UUID, V_DATETIME, V_SIZE, V_DURATION, V_HEX, V_NUMBER, V_WORD, V_NONZERO, NKINDS };

#define HX "[0-9a-fA-F]"
#define MON                                                                                      \
	"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|"      \
	"Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\\.?(?![A-Za-z])"
#define DOW "(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]{0,6},?"
#define TIME "\\d{1,2}:\\d{2}(?::\\d{2}(?:[.,]\\d+)?)?(?:[ \\t]?[AaPp]\\.?[Mm]\\.?(?![A-Za-z]))?"
#define TZ                                                                                       \
	"(?:Z|[+-]\\d{2}(?::?\\d{2})?|(?:UTC|GMT)(?:[+-]\\d{1,2})?|[A-Z][A-Z]?[SD]T|CES?T|EES?T|" \
	"WES?T|MSK|JST|IST)(?![A-Za-z])"
#define ISO "\\d{4}-\\d{2}-\\d{2}(?:(?:T|[ \\t]+)" TIME "(?:[ \\t]?" TZ ")?)?"
#define COMPACT                                                                                  \
	"(?:19|20)\\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\\d|3[01])"                              \
	"(?:[_T-]?(?:[01]\\d|2[0-3])[0-5]\\d(?:[0-5]\\d)?Z?)?"
#define SLASHDATE "\\d{1,4}/\\d{1,2}/\\d{1,4}(?:[ \\t]+" TIME ")?"
#define MONTHDAY                                                                                 \
	"(?:" DOW "[ \\t]+)?" MON "[ \\t]+\\d{1,2}(?:st|nd|rd|th)?,?(?:[ \\t]+(?:" TIME          \
	"(?:[ \\t]+" TZ ")?(?:[ \\t]+\\d{4})?|\\d{4}(?![:\\d])(?:[ \\t]+" TIME ")?))?"
#define DAYMON "(?:" DOW "[ \\t]+)?\\d{1,2}[ \\t]+" MON "[ \\t]+\\d{4}(?:[ \\t]+" TIME "(?:[ \\t]+" TZ ")?)?"
#define DATETIME                                                                                 \
	"(?:" ISO "|" COMPACT "|" SLASHDATE "|" MONTHDAY "|" DAYMON "|" TIME "(?:[ \\t]?" TZ ")?)"
#define UNIT "(?:[ \\t]?(?:[kKMGTPE]i?B|[Bb]ytes?)|[kKMGTPE])"
/* a duration written with its unit attached: 0.3s, 250ms, 1m30s, 2h */
#define DURATION "(?:\\d+(?:\\.\\d+)?(?:ns|us|\xc2\xb5s|ms|s|secs?|m|mins?|h|hrs?|d))+"

struct kind_def {
	const char *what;      /* for reasons: "expected a number" */
	const char *name;      /* for notes: "number" */
	const char *recognise; /* NULL: never recognised in expected text */
	const char *accept;
};

static const struct kind_def kinds[NKINDS] = {
	[V_UUID] = { "a UUID", "UUID",
		     "(?<![A-Za-z0-9_-])" HX "{8}-" HX "{4}-" HX "{4}-" HX "{4}-" HX "{12}(?![A-Za-z0-9_-])",
		     HX "{8}-" HX "{4}-" HX "{4}-" HX "{4}-" HX "{12}(?![A-Za-z0-9_-])" },
	[V_DATETIME] = { "a date or time", "date/time", "(?<![A-Za-z0-9])" DATETIME "(?![A-Za-z0-9])",
			 DATETIME "(?![A-Za-z0-9])" },
	[V_SIZE] = { "a size", "size", "(?<![A-Za-z0-9_.])\\d+(?:[.,]\\d+)?" UNIT "(?![A-Za-z0-9_])",
		     "\\d+(?:[.,]\\d+)?(?:" UNIT "|B)?(?![A-Za-z0-9_])" },
	[V_DURATION] = { "a duration", "duration", "(?<![A-Za-z0-9_.])" DURATION "(?![A-Za-z0-9_])",
			 DURATION "(?![A-Za-z0-9_])" },
	[V_HEX] = { "a hex id", "hex id",
		    "(?<![A-Za-z0-9_])(?:0[xX]" HX "+|(?=" HX "*[a-fA-F])(?=" HX "*[0-9])" HX
		    "{7,})(?![A-Za-z0-9_])",
		    "(?:0[xX])?" HX "+(?![A-Za-z0-9_])" },
	[V_NUMBER] = { "a number", "number",
		       "(?<![A-Za-z0-9_.])[-+]?\\d+(?:\\.\\d+)*(?:[eE][-+]?\\d+)?(?![A-Za-z0-9_])",
		       "[-+]?\\d+(?:\\.\\d+)*(?:[eE][-+]?\\d+)?(?![A-Za-z0-9_])" },
	[V_WORD] = { "a name", "name", NULL, "[^ \\t|]+" },
	[V_NONZERO] = { "a non-zero count", "count", NULL, "0*[1-9]\\d*(?![A-Za-z0-9_])" },
};

/* `ls -l` lines: mode, links, owner, group, size (or device numbers), date. */
#define LS_PREFIX                                                                                \
	"[ \\t]*([-bcdlpsD][-rwxsStT]{9})([.+@]?)[ \\t]+(\\d+)[ \\t]+([^ \\t]+)[ \\t]+([^ \\t]+)"  \
	"[ \\t]+((?:\\d+,[ \\t]*)?\\d+(?:[.,]\\d+)?[kKMGTPE]?)[ \\t]+(" DATETIME ")[ \\t]+(?=[^ \\t])"

/* The compiled recognisers, used only while compiling tolerant text. */
struct recognisers {
	pcre2_code *kind[NKINDS];
	pcre2_code *ls;
};

/*
 * The recognisers and acceptors are the same for every expectation, and
 * compiling them (with the JIT) costs far more than compiling an expected
 * block itself: about 0.6 ms, which a 1,000-step runbook paid twice per
 * step (lint and run).  They are compiled once per process, on first use,
 * and shared: PCRE2 never modifies a compiled pattern while matching, so
 * one pattern may serve every expectation.  They live until the process
 * ends (reachable, so leak checkers do not report them).
 */
static struct builtin {
	bool tried;
	int errcode;               /* when a pattern failed to compile */
	pcre2_code *recognise[NKINDS];
	pcre2_code *ls;
	pcre2_code *accept[NKINDS];
} builtin;

static int builtin_init(char *msg, size_t msgsize)
{
	int ec = 0;
	size_t eo;

	if (!builtin.tried) {
		builtin.tried = true;
		for (int k = 0; k < NKINDS && !builtin.errcode; k++) {
			if (kinds[k].recognise) {
				builtin.recognise[k] = compile_pattern(kinds[k].recognise, PCRE2_ZERO_TERMINATED,
								       UTF_OPTS | PCRE2_ANCHORED, true, &ec, &eo);
				if (!builtin.recognise[k])
					builtin.errcode = ec;
			}
			builtin.accept[k] = compile_pattern(kinds[k].accept, PCRE2_ZERO_TERMINATED,
							    UTF_OPTS | PCRE2_ANCHORED, true, &ec, &eo);
			if (!builtin.accept[k] && !builtin.errcode)
				builtin.errcode = ec;
		}
		if (!builtin.errcode) {
			builtin.ls = compile_pattern(LS_PREFIX, PCRE2_ZERO_TERMINATED,
						     UTF_OPTS | PCRE2_ANCHORED, true, &ec, &eo);
			if (!builtin.ls)
				builtin.errcode = ec;
		}
	}
	if (builtin.errcode) {
		error_message(builtin.errcode, msg, msgsize);
		return -1;
	}
	return 0;
}

static int recognisers_init(struct recognisers *rc, char *msg, size_t msgsize)
{
	memset(rc, 0, sizeof(*rc));
	if (builtin_init(msg, msgsize) < 0)
		return -1;
	for (int k = 0; k < NKINDS; k++)
		rc->kind[k] = builtin.recognise[k];
	rc->ls = builtin.ls;
	return 0;
}

static void recognisers_release(struct recognisers *rc)
{
	/* shared: nothing to free */
	memset(rc, 0, sizeof(*rc));
}

/* ---- compiled expectations ---- */

enum tok_kind {
	T_LIT,      /* bytes that must appear as written (never contains blanks) */
	T_BLANK,    /* one or more blanks */
	T_PIPE,     /* a table cell border, blanks around it optional */
	T_VAR,      /* a value of kind `var` */
	T_RULE,     /* a run of 3+ `-` or `=`: any run of that character */
	T_LSMODE,   /* the mode of an `ls -l` line; an ACL mark after it is optional */
	T_ELLIPSIS, /* `...`: anything */
	T_CAPTURE,  /* `{{NAME:regex}}` or `{{regex}}` */
};

struct tok {
	uint8_t kind;
	uint8_t var;     /* T_VAR: enum var_kind */
	uint16_t groups; /* T_CAPTURE: capture groups inside the user's regex */
	uint32_t off;    /* where the token is in the expected text */
	uint32_t len;
};

enum line_kind {
	L_SKIP,     /* blank: ignored (tolerant mode) */
	L_ELLIPSIS, /* a line that is only `...`: any lines (tolerant mode) */
	L_TOKENS,   /* tolerant line judged token by token */
	L_REGEX,    /* a line turned into one PCRE2 pattern */
	L_FOOTER,   /* psql's `(N rows)` */
	L_SEP,      /* psql's `----+----` */
	L_LITERAL,  /* exact and lines modes: bytes as written */
};

struct exp_line {
	uint8_t kind;
	bool pooled;     /* L_LITERAL: the literal is in the pool (decoded `(esc)`) */
	uint32_t lineno; /* 1-based in the expected text */
	uint32_t off;    /* the line as written, without its newline */
	uint32_t len;
	uint32_t a, b;   /* L_TOKENS: first token and count; L_REGEX: regex index;
			  * L_FOOTER: row count; L_SEP: columns; pooled L_LITERAL:
			  * offset and length in the pool */
	uint32_t header; /* 1 + index of the line naming this table's columns */
};

struct line_regex {
	pcre2_code *code;
	uint32_t cap_first; /* its captures: caps[cap_first .. cap_first + ncap) */
	uint32_t ncap;
};

struct capdef {
	char *name;
	uint32_t group; /* capture group number in its pattern */
};

struct expectation {
	enum match_mode mode;
	char *text;      /* a copy of the expected text */
	size_t len;
	size_t body_len; /* len without trailing newlines */
	struct exp_line *lines;
	size_t nlines, lines_alloc;
	uint32_t *judged; /* indices of the lines that take part in matching */
	size_t njudged, judged_alloc;
	struct tok *toks;
	size_t ntoks, toks_alloc;
	struct line_regex *res;
	size_t nres, res_alloc;
	struct capdef *caps;
	size_t ncaps, caps_alloc;
	struct strbuf pool;
	const pcre2_code *accept[NKINDS]; /* tolerant mode: the shared acceptors */
	pcre2_code *whole;          /* regex and contains modes */
	uint32_t pairs;             /* ovector pairs the largest pattern needs */
};

struct tokvec {
	struct tok *v;
	size_t n, alloc;
};

struct compiler {
	struct expectation *e;
	struct recognisers rec;
	struct runner rn;
	struct match_error *err;
	struct tokvec tv;
};

static const char *mode_names[] = {
	[MATCH_TOLERANT] = "tolerant", [MATCH_EXACT] = "exact", [MATCH_REGEX] = "regex",
	[MATCH_LINES] = "lines",       [MATCH_CONTAINS] = "contains", [MATCH_NONE] = "none",
};

int match_mode_parse(const char *s, enum match_mode *mode)
{
	if (!s || !*s) {
		*mode = MATCH_TOLERANT;
		return 0;
	}
	for (size_t i = 0; i < sizeof(mode_names) / sizeof(mode_names[0]); i++) {
		if (!strcasecmp(s, mode_names[i])) {
			*mode = (enum match_mode)i;
			return 0;
		}
	}
	return -1;
}

const char *match_mode_name(enum match_mode mode)
{
	if ((size_t)mode < sizeof(mode_names) / sizeof(mode_names[0]))
		return mode_names[mode];
	return "unknown";
}

enum match_mode expectation_mode(const struct expectation *e)
{
	return e->mode;
}

/* set_error records where, in the expected text, compiling failed. */
static void set_error(struct compiler *c, size_t off, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void set_error(struct compiler *c, size_t off, const char *fmt, ...)
{
	const char *t = c->e->text;
	int line = 1, col = 1;
	va_list ap;

	if (!c->err)
		return;
	if (off > c->e->len)
		off = c->e->len;
	for (size_t i = 0; i < off; i++) {
		if (t[i] == '\n') {
			line++;
			col = 1;
		} else if (((unsigned char)t[i] & 0xc0) != 0x80) {
			col++;
		}
	}
	c->err->line = line;
	c->err->col = col;
	va_start(ap, fmt);
	vsnprintf(c->err->msg, sizeof(c->err->msg), fmt, ap);
	va_end(ap);
}

static void set_pcre_error(struct compiler *c, size_t off, int errcode)
{
	char msg[200];
	error_message(errcode, msg, sizeof(msg));
	set_error(c, off, "%s", msg);
}

static struct exp_line *add_line(struct expectation *e, enum line_kind kind, int lineno,
				 size_t off, size_t len)
{
	ALLOC_GROW(e->lines, e->nlines + 1, e->lines_alloc);
	struct exp_line *el = &e->lines[e->nlines++];
	memset(el, 0, sizeof(*el));
	el->kind = (uint8_t)kind;
	el->lineno = (uint32_t)lineno;
	el->off = (uint32_t)off;
	el->len = (uint32_t)len;
	return el;
}

static void add_judged(struct expectation *e, size_t index)
{
	ALLOC_GROW(e->judged, e->njudged + 1, e->judged_alloc);
	e->judged[e->njudged++] = (uint32_t)index;
}

static uint32_t add_regex(struct expectation *e, pcre2_code *code, uint32_t cap_first)
{
	ALLOC_GROW(e->res, e->nres + 1, e->res_alloc);
	struct line_regex *lr = &e->res[e->nres];
	lr->code = code;
	lr->cap_first = cap_first;
	lr->ncap = (uint32_t)e->ncaps - cap_first;
	return (uint32_t)e->nres++;
}

static void add_capdef(struct expectation *e, const char *name, size_t len, uint32_t group)
{
	ALLOC_GROW(e->caps, e->ncaps + 1, e->caps_alloc);
	e->caps[e->ncaps].name = xmemdupz(name, len);
	e->caps[e->ncaps].group = group;
	e->ncaps++;
}

static void need_pairs(struct expectation *e, uint32_t pairs)
{
	if (pairs > e->pairs)
		e->pairs = pairs;
}

static struct tok *tv_push(struct tokvec *tv, enum tok_kind kind, int var, size_t off, size_t len)
{
	ALLOC_GROW(tv->v, tv->n + 1, tv->alloc);
	struct tok *t = &tv->v[tv->n++];
	t->kind = (uint8_t)kind;
	t->var = (uint8_t)var;
	t->groups = 0;
	t->off = (uint32_t)off;
	t->len = (uint32_t)len;
	return t;
}

static void push_blank(struct tokvec *tv, size_t off, size_t len)
{
	if (!tv->n || tv->v[tv->n - 1].kind == T_BLANK || tv->v[tv->n - 1].kind == T_PIPE)
		return;
	tv_push(tv, T_BLANK, 0, off, len);
}

static void push_pipe(struct tokvec *tv, size_t off)
{
	if (tv->n && tv->v[tv->n - 1].kind == T_BLANK)
		tv->n--;
	tv_push(tv, T_PIPE, 0, off, 1);
}

static void push_lit(struct tokvec *tv, size_t off, size_t len)
{
	struct tok *last = tv->n ? &tv->v[tv->n - 1] : NULL;
	if (last && last->kind == T_LIT && last->off + last->len == off)
		last->len += (uint32_t)len;
	else
		tv_push(tv, T_LIT, 0, off, len);
}

static bool valid_name(const char *s, size_t len)
{
	if (!len || !(isalpha((unsigned char)s[0]) || s[0] == '_'))
		return false;
	for (size_t i = 1; i < len; i++)
		if (!is_word((unsigned char)s[i]))
			return false;
	return true;
}

/* split_capture finds the name (may be empty) and the regex of the
 * `{{...}}` whose text is [p, end). */
static void split_capture(const char *t, size_t p, size_t end, size_t *name_len, size_t *re_off,
			  size_t *re_len)
{
	size_t lo = p + 2, hi = end - 2;
	const char *colon = memchr(t + lo, ':', hi - lo);

	*name_len = 0;
	*re_off = lo;
	*re_len = hi - lo;
	if (colon && valid_name(t + lo, (size_t)(colon - (t + lo)))) {
		*name_len = (size_t)(colon - (t + lo));
		*re_off = (size_t)(colon - t) + 1;
		*re_len = hi - *re_off;
	}
}

/* parse_capture checks the `{{...}}` that starts at p: it must close on the
 * same line, and its regex must compile on its own, which is what lets an
 * error point at the column inside it.  The closing `}}` is the last two of
 * a run of braces, so `{{n:\d{3}}}` keeps its quantifier. */
static int parse_capture(struct compiler *c, size_t p, size_t hi, size_t *end, uint16_t *groups)
{
	const char *t = c->e->text;
	size_t k = p + 2, name_len, re_off, re_len;
	int ec;
	size_t eo;

	for (; k + 1 < hi; k++) {
		if (t[k] == '}' && t[k + 1] == '}') {
			while (k + 2 < hi && t[k + 2] == '}')
				k++;
			break;
		}
	}
	if (k + 1 >= hi) {
		set_error(c, p, "unterminated {{: no closing }} on this line");
		return -1;
	}
	*end = k + 2;
	split_capture(t, p, *end, &name_len, &re_off, &re_len);
	if (!re_len) {
		set_error(c, re_off, "empty pattern in {{...}}");
		return -1;
	}
	pcre2_code *code = compile_pattern(t + re_off, re_len, UTF_OPTS, false, &ec, &eo);
	if (!code) {
		set_pcre_error(c, re_off + eo, ec);
		return -1;
	}
	uint32_t n = capture_count(code);
	pcre2_code_free(code);
	if (n > 1000) {
		set_error(c, re_off, "too many groups in {{...}}");
		return -1;
	}
	*groups = (uint16_t)n;
	return 0;
}

/* recognise returns the kind of the value that starts at p in the expected
 * line [lo, hi) and sets *end, or returns -1.  Cheap tests on the first byte
 * keep the regexes off most positions. */
static int recognise(struct compiler *c, size_t lo, size_t p, size_t hi, size_t *end)
{
	static const int digit_order[] = { V_UUID, V_DATETIME, V_SIZE, V_DURATION, V_HEX, V_NUMBER, -1 };
	static const int hexletter_order[] = { V_UUID, V_DATETIME, V_HEX, -1 };
	static const int letter_order[] = { V_DATETIME, -1 };
	static const int sign_order[] = { V_NUMBER, -1 };
	const unsigned char *t = (const unsigned char *)c->e->text;
	unsigned char ch = t[p], prev = p > lo ? t[p - 1] : ' ';
	const int *order;

	if (is_alnum(prev))
		return -1;
	if (isdigit(ch))
		order = digit_order;
	else if ((ch == '-' || ch == '+') && p + 1 < hi && isdigit(t[p + 1]))
		order = sign_order;
	else if (isxdigit(ch))
		order = hexletter_order;
	else if (ch >= 'A' && ch <= 'Z')
		order = letter_order;
	else
		return -1;
	for (; *order >= 0; order++) {
		int rc = run_line(&c->rn, c->rec.kind[*order], c->e->text + lo, hi - lo, p - lo);
		if (rc == RUN_MATCH && lo + ovector(&c->rn)[1] > p) {
			*end = lo + ovector(&c->rn)[1];
			return *order;
		}
	}
	return -1;
}

/* ls_tokens turns the fields of an `ls -l` line that differ between machines
 * into variables and returns where the file name starts (lo if the line is
 * not an `ls -l` line). */
static size_t ls_tokens(struct compiler *c, size_t lo, size_t hi)
{
	static const int fields[] = { V_NUMBER, V_WORD, V_WORD, V_SIZE, V_DATETIME };
	struct tokvec *tv = &c->tv;

	if (run_line(&c->rn, c->rec.ls, c->e->text + lo, hi - lo, 0) != RUN_MATCH)
		return lo;
	PCRE2_SIZE *ov = ovector(&c->rn);
	tv_push(tv, T_LSMODE, 0, lo + ov[2], ov[3] - ov[2]);
	for (int i = 0; i < 5; i++) {
		size_t a = ov[2 * (i + 3)], b = ov[2 * (i + 3) + 1];
		tv_push(tv, T_BLANK, 0, lo + a, 0);
		tv_push(tv, T_VAR, fields[i], lo + a, b - a);
	}
	tv_push(tv, T_BLANK, 0, lo + ov[15], 0);
	return lo + ov[1];
}

/* rule_at says whether a rule starts at p (a run of three or more `-` or
 * `=`, or of `-` next to a `+` as in psql's `-[ RECORD 1 ]--+---`) and sets
 * *end after it. */
static bool rule_at(const char *t, size_t lo, size_t p, size_t hi, size_t *end)
{
	size_t q = p;
	while (q < hi && t[q] == t[p])
		q++;
	*end = q;
	if (q - p >= 3)
		return true;
	return t[p] == '-' && ((q < hi && t[q] == '+') || (p > lo && t[p - 1] == '+'));
}

/* tokenize splits the tolerant line [lo, hi) into c->tv. */
static int tokenize(struct compiler *c, size_t lo, size_t hi)
{
	const char *t = c->e->text;
	struct tokvec *tv = &c->tv;
	size_t p = ls_tokens(c, lo, hi), q, end;
	uint16_t groups;

	while (p < hi) {
		unsigned char ch = (unsigned char)t[p];
		if (is_blank(ch)) {
			for (q = p; q < hi && is_blank((unsigned char)t[q]); q++)
				;
			push_blank(tv, p, q - p);
			p = q;
		} else if (ch == '|') {
			push_pipe(tv, p++);
		} else if (ch == '{' && p + 1 < hi && t[p + 1] == '{') {
			if (parse_capture(c, p, hi, &end, &groups))
				return -1;
			tv_push(tv, T_CAPTURE, 0, p, end - p)->groups = groups;
			p = end;
		} else if (ch == '.' && p + 2 < hi && t[p + 1] == '.' && t[p + 2] == '.') {
			for (q = p; q < hi && t[q] == '.'; q++)
				;
			tv_push(tv, T_ELLIPSIS, 0, p, q - p);
			p = q;
		} else if (hi - p >= 3 && !memcmp(t + p, "\xe2\x80\xa6", 3)) {
			tv_push(tv, T_ELLIPSIS, 0, p, 3);
			p += 3;
		} else if ((ch == '-' || ch == '=') && rule_at(t, lo, p, hi, &q)) {
			tv_push(tv, T_RULE, 0, p, q - p);
			p = q;
		} else {
			int kind = recognise(c, lo, p, hi, &end);
			if (kind >= 0) {
				tv_push(tv, T_VAR, kind, p, end - p);
				p = end;
				continue;
			}
			size_t n = utf8_len((const unsigned char *)t + p, hi - p);
			push_lit(tv, p, n ? n : 1);
			p += n ? n : 1;
		}
	}
	if (tv->n && tv->v[tv->n - 1].kind == T_BLANK)
		tv->n--;
	return 0;
}

/* check_utf8 reports the first invalid UTF-8 byte of [lo, hi), which a
 * UTF-8 pattern cannot contain. */
static int check_utf8(struct compiler *c, size_t lo, size_t hi)
{
	const unsigned char *t = (const unsigned char *)c->e->text;
	for (size_t p = lo; p < hi;) {
		size_t n = utf8_len(t + p, hi - p);
		if (!n) {
			set_error(c, p, "invalid UTF-8 byte \\x%02x in a line with a pattern", t[p]);
			return -1;
		}
		p += n;
	}
	return 0;
}

/* add_capture_regex appends `(regex)` for the capture token tk and records
 * its name; *group counts the groups of the pattern so far. */
static void add_capture_regex(struct expectation *e, struct strbuf *pat, const struct tok *tk,
			      uint32_t *group)
{
	size_t name_len, re_off, re_len;
	split_capture(e->text, tk->off, tk->off + tk->len, &name_len, &re_off, &re_len);
	strbuf_addch(pat, '(');
	strbuf_add(pat, e->text + re_off, re_len);
	strbuf_addch(pat, ')');
	++*group;
	if (name_len)
		add_capdef(e, e->text + tk->off + 2, name_len, *group);
	*group += tk->groups;
}

static int compile_line_regex(struct compiler *c, struct exp_line *el, struct strbuf *pat,
			      uint32_t cap_first, uint32_t groups, uint32_t opts)
{
	int ec;
	size_t eo;
	pcre2_code *code = compile_pattern(pat->buf, pat->len, UTF_OPTS | opts, false, &ec, &eo);
	if (!code) {
		set_pcre_error(c, el->off, ec);
		return -1;
	}
	el->kind = L_REGEX;
	el->a = add_regex(c->e, code, cap_first);
	need_pairs(c->e, groups + 1);
	return 0;
}

/* tokens_to_regex turns a tolerant line that has captures or an inner `...`
 * into one pattern with the same meaning as its tokens. */
static int tokens_to_regex(struct compiler *c, struct exp_line *el)
{
	struct expectation *e = c->e;
	const struct tokvec *tv = &c->tv;
	struct strbuf pat = STRBUF_INIT;
	uint32_t cap_first = (uint32_t)e->ncaps, group = 0;
	int ret = -1;

	strbuf_addstr(&pat, "\\A[ \\t]*");
	for (size_t k = 0; k < tv->n; k++) {
		const struct tok *tk = &tv->v[k];
		bool near_ellipsis = (k > 0 && tv->v[k - 1].kind == T_ELLIPSIS) ||
				     (k + 1 < tv->n && tv->v[k + 1].kind == T_ELLIPSIS);
		switch ((enum tok_kind)tk->kind) {
		case T_LIT:
		case T_LSMODE:
			if (check_utf8(c, tk->off, tk->off + tk->len))
				goto out;
			add_regex_literal(&pat, e->text + tk->off, tk->len);
			if (tk->kind == T_LSMODE)
				strbuf_addstr(&pat, "[.+@]?");
			break;
		case T_BLANK:
			strbuf_addstr(&pat, near_ellipsis ? "[ \\t]*" : "[ \\t]+");
			break;
		case T_PIPE:
			strbuf_addstr(&pat, "[ \\t]*\\|[ \\t]*");
			break;
		case T_VAR:
			strbuf_addf(&pat, "(?:%s)", kinds[tk->var].accept);
			break;
		case T_RULE:
			strbuf_addstr(&pat, e->text[tk->off] == '-' ? "\\-+" : "=+");
			break;
		case T_ELLIPSIS:
			strbuf_addstr(&pat, k + 1 == tv->n ? ".*" : ".*?");
			break;
		case T_CAPTURE:
			add_capture_regex(e, &pat, tk, &group);
			break;
		}
	}
	strbuf_addstr(&pat, "[ \\t\\r]*\\z");
	ret = compile_line_regex(c, el, &pat, cap_first, group, 0);
out:
	strbuf_release(&pat);
	return ret;
}

/* command_tag_count adjusts the count of a psql command tag (`UPDATE 3`,
 * `INSERT 0 1000`, `DELETE 0`): the number of rows varies between databases,
 * but none against some is what an engineer looks for, so 0 stays literal
 * and any other count matches any count but 0. */
static void command_tag_count(const char *t, size_t a, size_t b, struct tokvec *tv)
{
	static const char *const tags[] = { "INSERT 0 ", "UPDATE ", "DELETE ", "COPY ",
					     "SELECT ", "MERGE ", "MOVE ", "FETCH " };
	struct tok *last = tv->n ? &tv->v[tv->n - 1] : NULL;
	bool tag = false;

	for (size_t i = 0; i < sizeof(tags) / sizeof(*tags); i++)
		if (b - a > strlen(tags[i]) && !strncmp(t + a, tags[i], strlen(tags[i])))
			tag = true;
	if (!tag || !last || last->kind != T_VAR || last->var != V_NUMBER ||
	    last->off + last->len != b || strspn(t + last->off, "0123456789") != last->len)
		return;
	if (strspn(t + last->off, "0") == last->len)
		last->kind = T_LIT;
	else
		last->var = V_NONZERO;
}

static bool parse_footer(const char *s, size_t len, uint32_t *count)
{
	size_t i = 1;
	unsigned long n = 0;

	if (len < 7 || s[0] != '(' || s[len - 1] != ')' || !isdigit((unsigned char)s[1]))
		return false;
	while (i < len && isdigit((unsigned char)s[i])) {
		n = n * 10 + (unsigned long)(s[i] - '0');
		if (n > UINT32_MAX)
			return false;
		i++;
	}
	if (len - i == 5 && !memcmp(s + i, " row)", 5))
		;
	else if (len - i == 6 && !memcmp(s + i, " rows)", 6))
		;
	else
		return false;
	*count = (uint32_t)n;
	return true;
}

static bool parse_separator(const char *s, size_t len, uint32_t *columns)
{
	uint32_t n = 1;

	if (len < 2 || s[0] != '-' || s[len - 1] != '-')
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '+') {
			if (s[i - 1] != '-')
				return false;
			n++;
		} else if (s[i] != '-') {
			return false;
		}
	}
	*columns = n;
	return true;
}

static void trim(const char *s, size_t *lo, size_t *hi)
{
	while (*lo < *hi && is_blank((unsigned char)s[*lo]))
		(*lo)++;
	while (*hi > *lo && is_blank((unsigned char)s[*hi - 1]))
		(*hi)--;
}

static bool is_ellipsis_line(const char *s, size_t len)
{
	return (len == 3 && !memcmp(s, "...", 3)) || (len == 3 && !memcmp(s, "\xe2\x80\xa6", 3));
}

static int compile_tolerant(struct compiler *c)
{
	struct expectation *e = c->e;
	const char *t = e->text;
	uint32_t header = 0;
	int lineno = 0;

	for (size_t lo = 0; lo < e->len;) {
		const char *nl = memchr(t + lo, '\n', e->len - lo);
		size_t hi = nl ? (size_t)(nl - t) : e->len, a = lo, b = hi;
		size_t index = e->nlines;
		struct exp_line *el = add_line(e, L_SKIP, ++lineno, lo, hi - lo);
		uint32_t n;

		trim(t, &a, &b);
		if (a == b) {
			header = 0;
		} else if (is_ellipsis_line(t + a, b - a)) {
			el->kind = L_ELLIPSIS;
		} else if (parse_footer(t + a, b - a, &n)) {
			el->kind = L_FOOTER;
			el->a = n;
			header = 0;
		} else if (parse_separator(t + a, b - a, &n)) {
			el->kind = L_SEP;
			el->b = n;
			header = 0;
			if (index > 0 && e->lines[index - 1].kind == L_TOKENS)
				header = (uint32_t)index;
		} else {
			bool needs_regex = false;
			c->tv.n = 0;
			if (tokenize(c, a, b))
				return -1;
			command_tag_count(t, a, b, &c->tv);
			for (size_t k = 0; k < c->tv.n; k++)
				if (c->tv.v[k].kind == T_CAPTURE ||
				    (c->tv.v[k].kind == T_ELLIPSIS && k + 1 < c->tv.n))
					needs_regex = true;
			el->header = header;
			if (needs_regex) {
				if (tokens_to_regex(c, el))
					return -1;
			} else {
				el->kind = L_TOKENS;
				el->a = (uint32_t)e->ntoks;
				el->b = (uint32_t)c->tv.n;
				ALLOC_GROW(e->toks, e->ntoks + c->tv.n, e->toks_alloc);
				memcpy(e->toks + e->ntoks, c->tv.v, c->tv.n * sizeof(*c->tv.v));
				e->ntoks += c->tv.n;
			}
		}
		if (el->kind != L_SKIP && el->kind != L_ELLIPSIS)
			add_judged(e, index);
		lo = nl ? hi + 1 : hi;
	}
	return 0;
}

/* exact_line_regex turns an exact or lines-mode line with `{{...}}` into a
 * pattern: everything else literal. */
static int exact_line_regex(struct compiler *c, struct exp_line *el, size_t lo, size_t hi)
{
	struct expectation *e = c->e;
	struct strbuf pat = STRBUF_INIT;
	uint32_t cap_first = (uint32_t)e->ncaps, group = 0;
	size_t p = lo, end;
	int ret = -1;

	while (p < hi) {
		const char *open = p + 1 < hi ? memmem(e->text + p, hi - p, "{{", 2) : NULL;
		size_t q = open ? (size_t)(open - e->text) : hi;
		if (check_utf8(c, p, q))
			goto out;
		add_regex_literal(&pat, e->text + p, q - p);
		if (!open)
			break;
		struct tok tk = { T_CAPTURE, 0, 0, (uint32_t)q, 0 };
		if (parse_capture(c, q, hi, &end, &tk.groups))
			goto out;
		tk.len = (uint32_t)(end - q);
		add_capture_regex(e, &pat, &tk, &group);
		p = end;
	}
	ret = compile_line_regex(c, el, &pat, cap_first, group, PCRE2_ANCHORED | PCRE2_ENDANCHORED);
out:
	strbuf_release(&pat);
	return ret;
}

static bool has_suffix(const char *s, size_t len, const char *suffix)
{
	size_t n = strlen(suffix);
	return len >= n && !memcmp(s + len - n, suffix, n);
}

/* glob_line compiles a cram ` (glob)` line: `*` any run, `?` any character,
 * a backslash quotes the next character. */
static int glob_line(struct compiler *c, struct exp_line *el, size_t lo, size_t hi)
{
	struct strbuf pat = STRBUF_INIT;
	const char *t = c->e->text;
	int ret = -1;

	if (check_utf8(c, lo, hi))
		goto out;
	for (size_t p = lo; p < hi; p++) {
		if (t[p] == '\\' && p + 1 < hi && (t[p + 1] == '*' || t[p + 1] == '?' || t[p + 1] == '\\'))
			add_regex_literal(&pat, t + ++p, 1);
		else if (t[p] == '*')
			strbuf_addstr(&pat, ".*");
		else if (t[p] == '?')
			strbuf_addch(&pat, '.');
		else
			add_regex_literal(&pat, t + p, 1);
	}
	ret = compile_line_regex(c, el, &pat, (uint32_t)c->e->ncaps, 0,
				 PCRE2_ANCHORED | PCRE2_ENDANCHORED);
out:
	strbuf_release(&pat);
	return ret;
}

static int hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* esc_line decodes a cram ` (esc)` line (\\ \t \r \n \xNN \NNN) into the pool. */
static void esc_line(struct expectation *e, struct exp_line *el, size_t lo, size_t hi)
{
	const char *t = e->text;
	size_t start = e->pool.len;

	for (size_t p = lo; p < hi; p++) {
		if (t[p] != '\\' || p + 1 >= hi) {
			strbuf_addch(&e->pool, t[p]);
			continue;
		}
		char n = t[++p];
		if (n == 't') {
			strbuf_addch(&e->pool, '\t');
		} else if (n == 'r') {
			strbuf_addch(&e->pool, '\r');
		} else if (n == 'n') {
			strbuf_addch(&e->pool, '\n');
		} else if (n == 'x' && p + 2 < hi && hexval(t[p + 1]) >= 0 && hexval(t[p + 2]) >= 0) {
			strbuf_addch(&e->pool, (char)(hexval(t[p + 1]) * 16 + hexval(t[p + 2])));
			p += 2;
		} else if (n >= '0' && n <= '7') {
			int v = 0, k = 0;
			for (; k < 3 && p < hi && t[p] >= '0' && t[p] <= '7'; k++, p++)
				v = v * 8 + (t[p] - '0');
			p--;
			strbuf_addch(&e->pool, (char)v);
		} else {
			strbuf_addch(&e->pool, n);
		}
	}
	el->pooled = true;
	el->a = (uint32_t)start;
	el->b = (uint32_t)(e->pool.len - start);
}

/* compile_lines compiles exact and lines modes (and lists the lines of the
 * other modes for diffs): one expected line per actual line. */
static int compile_lines(struct compiler *c, bool judge)
{
	struct expectation *e = c->e;
	const char *t = e->text;
	int lineno = 0;

	for (size_t lo = 0; lo < e->body_len;) {
		const char *nl = memchr(t + lo, '\n', e->body_len - lo);
		size_t hi = nl ? (size_t)(nl - t) : e->body_len;
		struct exp_line *el = add_line(e, L_LITERAL, ++lineno, lo, hi - lo);
		int ec;
		size_t eo;

		if (!judge) {
			;
		} else if (e->mode == MATCH_LINES && has_suffix(t + lo, hi - lo, " (re)")) {
			pcre2_code *code = compile_pattern(t + lo, hi - lo - 5,
							   UTF_OPTS | PCRE2_ANCHORED | PCRE2_ENDANCHORED,
							   false, &ec, &eo);
			if (!code) {
				set_pcre_error(c, lo + eo, ec);
				return -1;
			}
			el->kind = L_REGEX;
			el->a = add_regex(e, code, (uint32_t)e->ncaps);
			need_pairs(e, capture_count(code) + 1);
		} else if (e->mode == MATCH_LINES && has_suffix(t + lo, hi - lo, " (glob)")) {
			if (glob_line(c, el, lo, hi - 7))
				return -1;
		} else if (e->mode == MATCH_LINES && has_suffix(t + lo, hi - lo, " (esc)")) {
			esc_line(e, el, lo, hi - 6);
		} else if (memmem(t + lo, hi - lo, "{{", 2)) {
			if (exact_line_regex(c, el, lo, hi))
				return -1;
		}
		add_judged(e, e->nlines - 1);
		lo = nl ? hi + 1 : hi;
	}
	return 0;
}

/* contains_pattern appends a byte-mode pattern for the text [lo, hi): blank
 * runs match any blanks, line breaks any line breaks (and blank lines). */
static void contains_pattern(struct strbuf *pat, const char *t, size_t lo, size_t hi)
{
	trim(t, &lo, &hi);
	while (lo < hi && (t[lo] == '\n' || is_blank((unsigned char)t[lo])))
		lo++;
	while (hi > lo && (t[hi - 1] == '\n' || is_blank((unsigned char)t[hi - 1])))
		hi--;
	for (size_t p = lo; p < hi;) {
		if (t[p] == '\n' || is_blank((unsigned char)t[p])) {
			bool newline = false;
			for (; p < hi && (t[p] == '\n' || is_blank((unsigned char)t[p])); p++)
				newline |= t[p] == '\n';
			strbuf_addstr(pat, newline ? "[ \\t\\r]*\\n\\s*" : "[ \\t]+");
			continue;
		}
		unsigned char ch = (unsigned char)t[p++];
		if (ch >= 0x80)
			strbuf_addf(pat, "\\x%02x", ch);
		else
			add_regex_literal(pat, (const char *)&ch, 1);
	}
}

static int compile_regex_mode(struct compiler *c)
{
	struct expectation *e = c->e;
	int ec;
	size_t eo;
	uint32_t count = 0, size = 0;
	PCRE2_SPTR table = NULL;

	e->whole = compile_pattern(e->text, e->body_len, UTF_OPTS | PCRE2_MULTILINE, true, &ec, &eo);
	if (!e->whole) {
		set_pcre_error(c, eo, ec);
		return -1;
	}
	need_pairs(e, capture_count(e->whole) + 1);
	pcre2_pattern_info(e->whole, PCRE2_INFO_NAMECOUNT, &count);
	pcre2_pattern_info(e->whole, PCRE2_INFO_NAMEENTRYSIZE, &size);
	pcre2_pattern_info(e->whole, PCRE2_INFO_NAMETABLE, &table);
	/* The name table is sorted by name; captures are reported in group order. */
	for (uint32_t g = 1; g <= capture_count(e->whole); g++) {
		for (uint32_t i = 0; i < count; i++) {
			const unsigned char *entry = table + (size_t)i * size;
			if ((uint32_t)((entry[0] << 8) | entry[1]) == g)
				add_capdef(e, (const char *)entry + 2, strlen((const char *)entry + 2), g);
		}
	}
	return compile_lines(c, false);
}

static int compile_contains_mode(struct compiler *c)
{
	struct expectation *e = c->e;
	struct strbuf pat = STRBUF_INIT;
	int ec;
	size_t eo;

	contains_pattern(&pat, e->text, 0, e->len);
	e->whole = compile_pattern(pat.buf, pat.len, 0, true, &ec, &eo);
	strbuf_release(&pat);
	if (!e->whole) {
		set_pcre_error(c, 0, ec);
		return -1;
	}
	return compile_lines(c, false);
}

static int compile_accept(struct compiler *c)
{
	char msg[200];
	if (builtin_init(msg, sizeof(msg)) < 0) {
		set_error(c, 0, "internal pattern: %s", msg);
		return -1;
	}
	for (int k = 0; k < NKINDS; k++)
		c->e->accept[k] = builtin.accept[k];
	return 0;
}

struct expectation *expectation_compile(const char *expected_text, enum match_mode mode,
					struct match_error *err)
{
	struct expectation *e = xcalloc(1, sizeof(*e));
	struct compiler c = { .e = e, .err = err };
	int ret = 0;

	e->mode = mode;
	e->len = strlen(expected_text);
	e->text = xmemdupz(expected_text, e->len);
	e->body_len = e->len;
	while (e->body_len && e->text[e->body_len - 1] == '\n')
		e->body_len--;
	strbuf_init(&e->pool, 0);
	e->pairs = 1;
	if (err)
		memset(err, 0, sizeof(*err));
	if (e->len > UINT32_MAX) {
		set_error(&c, 0, "expected text too large");
		expectation_free(e);
		return NULL;
	}

	switch (mode) {
	case MATCH_TOLERANT: {
		char msg[200];
		if (recognisers_init(&c.rec, msg, sizeof(msg))) {
			set_error(&c, 0, "internal pattern: %s", msg);
			ret = -1;
			break;
		}
		runner_init(&c.rn, 16);
		ret = compile_accept(&c);
		if (!ret)
			ret = compile_tolerant(&c);
		runner_release(&c.rn);
		break;
	}
	case MATCH_EXACT:
	case MATCH_LINES:
		ret = compile_lines(&c, true);
		break;
	case MATCH_REGEX:
		ret = compile_regex_mode(&c);
		break;
	case MATCH_CONTAINS:
		ret = compile_contains_mode(&c);
		break;
	case MATCH_NONE:
		ret = compile_lines(&c, false);
		break;
	default:
		set_error(&c, 0, "unknown match mode");
		ret = -1;
	}
	recognisers_release(&c.rec);
	free(c.tv.v);
	if (ret) {
		expectation_free(e);
		return NULL;
	}
	if (e->nres <= JIT_MAX_LINE_PATTERNS)
		for (size_t i = 0; i < e->nres; i++)
			pcre2_jit_compile(e->res[i].code, PCRE2_JIT_COMPLETE);
	return e;
}

void expectation_free(struct expectation *e)
{
	if (!e)
		return;
	for (size_t i = 0; i < e->nres; i++)
		pcre2_code_free(e->res[i].code);
	for (size_t i = 0; i < e->ncaps; i++)
		free(e->caps[i].name);
	/* e->accept[] are the shared built-in acceptors */
	pcre2_code_free(e->whole);
	strbuf_release(&e->pool);
	free(e->res);
	free(e->caps);
	free(e->toks);
	free(e->lines);
	free(e->judged);
	free(e->text);
	free(e);
}

/* ---- judging ---- */

/* The lines of an output, found once; nothing is copied. */
struct lines {
	const char *text;
	size_t *start; /* n + 1 entries: line i is text[start[i], start[i + 1] - 1) */
	size_t n;
	bool dropped_partial; /* the unterminated last line of a truncated output */
};

static void lines_split(struct lines *l, const char *text, size_t len, bool drop_partial)
{
	size_t n = 0, k = 0;
	const char *p = text, *end = text + len, *nl;

	while (p < end && (nl = memchr(p, '\n', (size_t)(end - p)))) {
		n++;
		p = nl + 1;
	}
	bool partial = p < end;
	l->text = text;
	l->n = n + partial;
	l->start = xmalloc((l->n + 1) * sizeof(*l->start));
	l->start[0] = 0;
	for (p = text; p < end && (nl = memchr(p, '\n', (size_t)(end - p))); p = nl + 1)
		l->start[++k] = (size_t)(nl - text) + 1;
	if (partial)
		l->start[++k] = len + 1;
	l->dropped_partial = false;
	if (partial && drop_partial) {
		l->n--;
		l->dropped_partial = true;
	}
}

static const char *line_at(const struct lines *l, size_t i)
{
	return l->text + l->start[i];
}

static size_t line_len(const struct lines *l, size_t i)
{
	return l->start[i + 1] - 1 - l->start[i];
}

static bool blank_line(const struct lines *l, size_t i)
{
	const char *s = line_at(l, i);
	for (size_t k = 0, n = line_len(l, i); k < n; k++)
		if (!is_blank((unsigned char)s[k]))
			return false;
	return true;
}

static const struct exp_line *judged_line(const struct expectation *e, size_t i)
{
	return &e->lines[e->judged[i]];
}

static const char *exp_text(const struct expectation *e, const struct exp_line *el)
{
	return e->text + el->off;
}

#define WALK_VARS 8

/* How far a line got: the token it stopped at, where in the actual line,
 * and how many literal or variable tokens matched before. */
struct walk {
	size_t tok;
	size_t pos;
	size_t progress;
	size_t nvars;
	struct {
		uint32_t tok;
		size_t a, b;
	} vars[WALK_VARS]; /* variables whose actual value differs from the text */
};

static size_t skip_blanks(const char *s, size_t p, size_t end)
{
	while (p < end && is_blank((unsigned char)s[p]))
		p++;
	return p;
}

static bool looks_like_mode(const char *s, size_t len)
{
	if (len < 10 || !s[0] || !strchr("-bcdlpsD", s[0]))
		return false;
	for (size_t i = 1; i < 10; i++)
		if (!s[i] || !strchr("-rwxsStT", s[i]))
			return false;
	return true;
}

static int walk_tokens(const struct expectation *e, struct runner *rn, const struct exp_line *el,
		       const char *s, size_t len, struct walk *w)
{
	const struct tok *tk = e->toks + el->a;
	size_t n = el->b, p = skip_blanks(s, 0, len), end = len;

	while (end > p && is_blank((unsigned char)s[end - 1]))
		end--;
	for (size_t k = 0; k < n; k++) {
		const struct tok *t = &tk[k];
		const char *x = e->text + t->off;
		w->tok = k;
		w->pos = p;
		switch ((enum tok_kind)t->kind) {
		case T_LIT:
			if (end - p < t->len || memcmp(s + p, x, t->len))
				return RUN_NOMATCH;
			p += t->len;
			w->progress++;
			break;
		case T_BLANK:
			if (k + 1 < n && tk[k + 1].kind == T_ELLIPSIS) {
				p = skip_blanks(s, p, end);
				break;
			}
			if (p >= end || !is_blank((unsigned char)s[p]))
				return RUN_NOMATCH;
			p = skip_blanks(s, p, end);
			break;
		case T_PIPE:
			p = skip_blanks(s, p, end);
			if (p >= end || s[p] != '|')
				return RUN_NOMATCH;
			p = skip_blanks(s, p + 1, end);
			break;
		case T_VAR: {
			int rc = run_line(rn, e->accept[t->var], s, end, p);
			if (rc != RUN_MATCH)
				return rc;
			size_t q = ovector(rn)[1];
			if (q <= p)
				return RUN_NOMATCH;
			if ((q - p != t->len || memcmp(s + p, x, t->len)) && w->nvars < WALK_VARS) {
				w->vars[w->nvars].tok = (uint32_t)k;
				w->vars[w->nvars].a = p;
				w->vars[w->nvars].b = q;
				w->nvars++;
			}
			p = q;
			w->progress++;
			break;
		}
		case T_RULE:
			if (p >= end || s[p] != x[0])
				return RUN_NOMATCH;
			while (p < end && s[p] == x[0])
				p++;
			w->progress++;
			break;
		case T_LSMODE:
			if (end - p < t->len || memcmp(s + p, x, t->len)) {
				/* another mode still says this is the line to explain */
				w->progress = looks_like_mode(s + p, end - p);
				return RUN_NOMATCH;
			}
			p += t->len;
			if (p < end && (s[p] == '.' || s[p] == '+' || s[p] == '@'))
				p++;
			w->progress++;
			break;
		case T_ELLIPSIS:
			w->tok = n;
			w->pos = end;
			return RUN_MATCH;
		case T_CAPTURE:
			return RUN_NOMATCH;
		}
	}
	w->tok = n;
	w->pos = p;
	return p == end ? RUN_MATCH : RUN_NOMATCH;
}

static int match_line(const struct expectation *e, struct runner *rn, const struct exp_line *el,
		      const char *s, size_t len, struct walk *w)
{
	size_t a = 0, b = len;
	uint32_t n;

	w->tok = w->pos = w->progress = w->nvars = 0;
	switch ((enum line_kind)el->kind) {
	case L_TOKENS:
		return walk_tokens(e, rn, el, s, len, w);
	case L_REGEX:
		return run_line(rn, e->res[el->a].code, s, len, 0);
	case L_FOOTER:
		trim(s, &a, &b);
		if (!parse_footer(s + a, b - a, &n))
			return RUN_NOMATCH;
		w->progress = 1;
		return n == el->a ? RUN_MATCH : RUN_NOMATCH;
	case L_SEP:
		trim(s, &a, &b);
		if (!parse_separator(s + a, b - a, &n))
			return RUN_NOMATCH;
		w->progress = 1;
		return n == el->b ? RUN_MATCH : RUN_NOMATCH;
	case L_LITERAL: {
		const char *lit = el->pooled ? e->pool.buf + el->a : exp_text(e, el);
		size_t n_lit = el->pooled ? el->b : el->len;
		return len == n_lit && !memcmp(s, lit, n_lit) ? RUN_MATCH : RUN_NOMATCH;
	}
	case L_SKIP:
	case L_ELLIPSIS:
		return RUN_MATCH;
	}
	return RUN_NOMATCH;
}

/* What one call of expectation_match() works with. */
struct judge {
	const struct expectation *e;
	struct runner rn;
	struct lines al;
	const char *actual;
	size_t len;
	bool truncated;
	struct match_result *r;
	struct {
		uint32_t cap;
		size_t a, b; /* offsets in actual; a == SIZE_MAX: the group is unset */
	} *spans;
	size_t nspans, spans_alloc;
	size_t nnotes;
	size_t steps;
};

static void note(struct judge *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(struct judge *j, const char *fmt, ...)
{
	va_list ap;
	if (j->nnotes++ >= MAX_NOTES)
		return;
	va_start(ap, fmt);
	strbuf_vaddf(&j->r->notes, fmt, ap);
	va_end(ap);
	strbuf_addch(&j->r->notes, '\n');
}

/* out_of_time is checked in loops over output lines: the sum of many
 * matches, each within its limit, must still end. */
static bool out_of_time(struct judge *j)
{
	return (++j->steps & 15) == 0 && now_sec() > j->rn.deadline;
}

static void add_spans(struct judge *j, const struct line_regex *lr, size_t base)
{
	PCRE2_SIZE *ov = ovector(&j->rn);
	uint32_t pairs = pcre2_get_ovector_count(j->rn.md);
	for (uint32_t i = 0; i < lr->ncap; i++) {
		const struct capdef *cd = &j->e->caps[lr->cap_first + i];
		ALLOC_GROW(j->spans, j->nspans + 1, j->spans_alloc);
		j->spans[j->nspans].cap = lr->cap_first + i;
		if (cd->group < pairs && ov[2 * cd->group] != PCRE2_UNSET) {
			j->spans[j->nspans].a = base + ov[2 * cd->group];
			j->spans[j->nspans].b = base + ov[2 * cd->group + 1];
		} else {
			j->spans[j->nspans].a = SIZE_MAX;
		}
		j->nspans++;
	}
}

static void set_captures(struct judge *j)
{
	struct match_result *r = j->r;
	if (!j->nspans)
		return;
	r->captures = xcalloc(j->nspans, sizeof(*r->captures));
	for (size_t i = 0; i < j->nspans; i++) {
		r->captures[i].name = xstrdup(j->e->caps[j->spans[i].cap].name);
		if (j->spans[i].a == SIZE_MAX)
			r->captures[i].value = xstrdup("");
		else
			r->captures[i].value = xmemdupz(j->actual + j->spans[i].a,
							j->spans[i].b - j->spans[i].a);
	}
	r->ncaptures = j->nspans;
}

static void var_notes(struct judge *j, const struct exp_line *el, const struct walk *w,
		      const char *s)
{
	if (j->nnotes >= MAX_NOTES) {
		j->nnotes += w->nvars;
		return;
	}
	for (size_t v = 0; v < w->nvars; v++) {
		const struct tok *t = &j->e->toks[el->a + w->vars[v].tok];
		struct strbuf sb = STRBUF_INIT;
		add_display(&sb, j->e->text + t->off, t->len, QUOTE_MAX);
		strbuf_addstr(&sb, " -> ");
		add_display(&sb, s + w->vars[v].a, w->vars[v].b - w->vars[v].a, QUOTE_MAX);
		note(j, "line %u: %s (%s)", el->lineno, sb.buf, kinds[t->var].name);
		strbuf_release(&sb);
	}
}

static size_t count_nonblank(const struct lines *al, size_t from, size_t to)
{
	size_t n = 0;
	for (size_t i = from; i < to; i++)
		n += !blank_line(al, i);
	return n;
}

static void truncation_words(struct judge *j, struct strbuf *sb)
{
	strbuf_addf(sb, "the output was truncated to its first %zu bytes", j->len);
	if (j->al.dropped_partial)
		strbuf_addstr(sb, " (its last, partial line was not judged)");
}

/* ---- diffs ---- */

enum op_kind { OP_EQ, OP_DEL, OP_ADD };

/* A run of n diff lines: expected (judged index) e.. and actual a.. */
struct op {
	uint8_t kind;
	size_t e, a, n;
};

struct ops {
	struct op *v;
	size_t n, alloc;
	size_t changes;
	size_t mark;  /* the run with the first mismatch; SIZE_MAX: the first change */
	bool cut;     /* aligning stopped early */
	size_t left_e, left_a; /* lines not compared when cut */
};

#define DIFF_MAX_CHANGES 60

static void op_add(struct ops *o, enum op_kind kind, size_t e, size_t a, size_t n)
{
	struct op *last = o->n ? &o->v[o->n - 1] : NULL;

	if (!n)
		return;
	if (last && last->kind == kind && (kind == OP_ADD || last->e + last->n == e) &&
	    (kind == OP_DEL || last->a + last->n == a)) {
		last->n += n;
		return;
	}
	ALLOC_GROW(o->v, o->n + 1, o->alloc);
	o->v[o->n].kind = (uint8_t)kind;
	o->v[o->n].e = e;
	o->v[o->n].a = a;
	o->v[o->n].n = n;
	o->n++;
	if (kind != OP_EQ)
		o->changes++;
}

struct diff_writer {
	const struct expectation *e;
	const struct lines *al;
	struct strbuf *out;
	struct strbuf body;
	bool open, marked;
	size_t e_start, e_count, a_start, a_count;
	size_t shown;
};

static size_t exp_lineno(const struct expectation *e, size_t i)
{
	if (i < e->njudged)
		return judged_line(e, i)->lineno;
	return e->njudged ? judged_line(e, e->njudged - 1)->lineno + 1 : 1;
}

static void dw_text(struct diff_writer *d, char prefix, const char *s, size_t len)
{
	strbuf_addch(&d->body, prefix);
	add_display(&d->body, s, len, DIFF_LINE_MAX);
	strbuf_addch(&d->body, '\n');
	d->shown++;
}

static void dw_exp(struct diff_writer *d, size_t i)
{
	const struct exp_line *el = judged_line(d->e, i);
	dw_text(d, '-', exp_text(d->e, el), el->len);
	d->e_count++;
}

static void dw_act(struct diff_writer *d, char prefix, size_t i)
{
	dw_text(d, prefix, line_at(d->al, i), line_len(d->al, i));
	d->a_count++;
}

/* dw_context writes n lines that match: the actual text is shown. */
static void dw_context(struct diff_writer *d, size_t a, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		dw_act(d, ' ', a + k);
		d->e_count++;
	}
}

static void dw_open(struct diff_writer *d, size_t e, size_t a)
{
	d->open = true;
	d->marked = false;
	d->e_start = exp_lineno(d->e, e);
	d->a_start = a + 1;
	d->e_count = d->a_count = 0;
	strbuf_reset(&d->body);
}

static void dw_close(struct diff_writer *d)
{
	strbuf_addf(d->out, "@@ -%zu,%zu +%zu,%zu @@%s\n", d->e_start, d->e_count, d->a_start,
		    d->a_count, d->marked ? " first mismatch" : "");
	strbuf_addbuf(d->out, &d->body);
	d->open = false;
}

/* dw_change writes a run of removed or added lines, the middle of a long
 * run summarised. */
static void dw_change(struct diff_writer *d, const struct op *op)
{
	size_t head = op->n > DIFF_RUN_HEAD + DIFF_RUN_TAIL + 1 ? DIFF_RUN_HEAD : op->n;
	for (size_t k = 0; k < op->n; k++) {
		if (k == head) {
			size_t skip = op->n - head - DIFF_RUN_TAIL;
			strbuf_addf(&d->body, "... %zu lines omitted\n", skip);
			if (op->kind == OP_DEL)
				d->e_count += skip;
			else
				d->a_count += skip;
			k += skip - 1;
			continue;
		}
		if (op->kind == OP_DEL)
			dw_exp(d, op->e + k);
		else
			dw_act(d, '+', op->a + k);
	}
}

static void write_diff(struct strbuf *out, const struct expectation *e, const struct lines *al,
		       const struct ops *o)
{
	struct diff_writer d = { .e = e, .al = al, .out = out };
	size_t mark = o->mark, r;

	if (mark == SIZE_MAX)
		for (mark = 0; mark < o->n && o->v[mark].kind == OP_EQ; mark++)
			;
	strbuf_init(&d.body, 0);
	strbuf_addstr(out, "--- expected\n+++ actual\n");
	for (r = 0; r < o->n && d.shown < DIFF_MAX_LINES; r++) {
		const struct op *op = &o->v[r];
		if (op->kind == OP_EQ) {
			if (!d.open)
				continue;
			if (r + 1 < o->n && op->n <= 2 * DIFF_CONTEXT) {
				dw_context(&d, op->a, op->n);
				continue;
			}
			dw_context(&d, op->a, op->n < DIFF_CONTEXT ? op->n : DIFF_CONTEXT);
			dw_close(&d);
			continue;
		}
		if (!d.open) {
			const struct op *prev = r ? &o->v[r - 1] : NULL;
			if (prev && prev->kind == OP_EQ) {
				size_t lead = prev->n < DIFF_CONTEXT ? prev->n : DIFF_CONTEXT;
				dw_open(&d, prev->e + prev->n - lead, prev->a + prev->n - lead);
				dw_context(&d, prev->a + prev->n - lead, lead);
			} else {
				dw_open(&d, op->e, op->a);
			}
		}
		if (r == mark)
			d.marked = true;
		dw_change(&d, op);
	}
	if (d.open)
		dw_close(&d);
	if (r < o->n) {
		size_t rest = 0;
		for (; r < o->n; r++)
			if (o->v[r].kind != OP_EQ)
				rest += o->v[r].n;
		strbuf_addf(out, "... diff cut after %zu lines: %zu more changed lines not shown\n",
			    d.shown, rest);
	}
	if (o->cut)
		strbuf_addf(out, "... %zu expected and %zu actual lines after this were not compared\n",
			    o->left_e, o->left_a);
	strbuf_release(&d.body);
}

/* whole_ops is the diff of modes without a line-by-line judgement: all of
 * the expected text against all of the output. */
static void whole_ops(const struct expectation *e, const struct lines *al, struct ops *o)
{
	op_add(o, OP_DEL, 0, 0, e->njudged);
	op_add(o, OP_ADD, e->njudged, 0, al->n);
}

static bool line_eq(struct judge *j, size_t i, size_t a)
{
	struct walk w;
	return match_line(j->e, &j->rn, judged_line(j->e, i), line_at(&j->al, a), line_len(&j->al, a),
			  &w) == RUN_MATCH;
}

/* tolerant_ops aligns for the diff: the lines matched before the first
 * failure as they were, then, for later expected lines, the first match
 * within a window. */
static void tolerant_ops(struct judge *j, const size_t *match_at, size_t f, struct ops *o)
{
	const struct expectation *e = j->e;
	size_t cur = 0, budget = SYNC_BUDGET, i;

	o->mark = SIZE_MAX;
	for (i = 0; i < e->njudged; i++) {
		size_t m = SIZE_MAX;
		if (i < f) {
			m = match_at[i];
		} else if (i > f) {
			size_t lim = j->al.n - cur > SYNC_WINDOW ? cur + SYNC_WINDOW : j->al.n;
			for (size_t a = cur; a < lim && budget; a++, budget--) {
				if (out_of_time(j))
					budget = 0;
				else if (line_eq(j, i, a)) {
					m = a;
					break;
				}
			}
			if (!budget) {
				o->cut = true;
				break;
			}
		}
		if (m != SIZE_MAX) {
			op_add(o, OP_ADD, i, cur, m - cur);
			op_add(o, OP_EQ, i, m, 1);
			cur = m + 1;
		} else {
			op_add(o, OP_DEL, i, cur, 1);
			if (i == f)
				o->mark = o->n - 1;
		}
		if (o->changes > DIFF_MAX_CHANGES) {
			o->cut = ++i < e->njudged || cur < j->al.n;
			break;
		}
	}
	if (!o->cut)
		op_add(o, OP_ADD, i, cur, j->al.n - cur);
	o->left_e = e->njudged - i;
	o->left_a = j->al.n - cur;
}

/* lines_ops is a line diff for exact and lines modes: equal lines pair up,
 * and after a difference the nearest pair of equal lines (fewest skipped
 * lines, within a window) resynchronises. */
static void lines_ops(struct judge *j, struct ops *o)
{
	size_t i = 0, a = 0, ne = j->e->njudged, na = j->al.n, budget = SYNC_BUDGET;

	o->mark = SIZE_MAX;
	while (i < ne || a < na) {
		if (i < ne && a < na && line_eq(j, i, a)) {
			op_add(o, OP_EQ, i, a, 1);
			i++;
			a++;
			continue;
		}
		if (i == ne || a == na) {
			op_add(o, OP_DEL, i, a, ne - i);
			op_add(o, OP_ADD, ne, a, na - a);
			i = ne;
			a = na;
			break;
		}
		size_t skip_e = 1, skip_a = 1;
		bool found = false;
		for (size_t dist = 1; dist <= SYNC_WINDOW_LINES && !found && budget; dist++) {
			for (size_t x = 0; x <= dist && budget; x++) {
				size_t ii = i + x, aa = a + dist - x;
				if (ii >= ne || aa >= na)
					continue;
				budget = out_of_time(j) ? 0 : budget - 1;
				if (line_eq(j, ii, aa)) {
					skip_e = x;
					skip_a = dist - x;
					found = true;
					break;
				}
			}
		}
		op_add(o, OP_DEL, i, a, skip_e);
		op_add(o, OP_ADD, i + skip_e, a, skip_a);
		i += skip_e;
		a += skip_a;
		if (o->changes > DIFF_MAX_CHANGES || !budget || out_of_time(j)) {
			o->cut = i < ne || a < na;
			break;
		}
	}
	o->left_e = ne - i;
	o->left_a = na - a;
}

static void finish_diff(struct judge *j, struct ops *o)
{
	write_diff(&j->r->diff, j->e, &j->al, o);
	free(o->v);
}

/* ---- reasons ---- */

static void quote_exp_line(struct strbuf *sb, const struct expectation *e, const struct exp_line *el)
{
	add_quoted(sb, exp_text(e, el), el->len, QUOTE_MAX);
}

/* cell_span finds the table cell around offset p of s: between the nearest
 * `|` before and after it. */
static void cell_span(const char *s, size_t len, size_t p, size_t *a, size_t *b)
{
	size_t x = p, y = p;
	while (x > 0 && s[x - 1] != '|')
		x--;
	while (y < len && s[y] != '|')
		y++;
	*a = x;
	*b = y;
}

/* column_name returns, in sb, the name of column `col` (0-based) from the
 * header line of el's table; false when there is none. */
static bool column_name(const struct expectation *e, const struct exp_line *el, size_t col,
			struct strbuf *sb)
{
	if (!el->header)
		return false;
	const struct exp_line *h = &e->lines[el->header - 1];
	const char *s = exp_text(e, h);
	size_t a = 0, n = 0;
	for (size_t p = 0; p <= h->len; p++) {
		if (p == h->len || s[p] == '|') {
			if (n++ == col) {
				add_quoted(sb, s + a, p - a, QUOTE_MAX);
				return true;
			}
			a = p + 1;
		}
	}
	return false;
}

static void describe_tokens(struct strbuf *sb, const struct expectation *e,
			    const struct exp_line *el, const char *s, size_t len, const struct walk *w)
{
	const struct tok *tk = e->toks + el->a;
	size_t n = el->b, k = w->tok, p = w->pos, end = len, pipes = 0;
	bool table = false;

	while (end > p && is_blank((unsigned char)s[end - 1]))
		end--;
	for (size_t i = 0; i < n; i++)
		if (tk[i].kind == T_PIPE) {
			table = true;
			if (i < k)
				pipes++;
		}
	strbuf_addf(sb, "line %u", el->lineno);
	if (table && k < n && tk[k].kind != T_PIPE) {
		/* One cell differs: name the column and show both cells. */
		size_t ka = k, kb = k, ea, eb, aa, ab;
		while (ka > 0 && tk[ka - 1].kind != T_PIPE)
			ka--;
		while (kb + 1 < n && tk[kb + 1].kind != T_PIPE)
			kb++;
		ea = tk[ka].off;
		eb = tk[kb].off + tk[kb].len;
		cell_span(s, end, p, &aa, &ab);
		strbuf_addstr(sb, ", column ");
		if (!column_name(e, el, pipes, sb))
			strbuf_addf(sb, "%zu", pipes + 1);
		if (tk[k].kind == T_VAR)
			strbuf_addf(sb, ": expected %s, got ", kinds[tk[k].var].what);
		else {
			strbuf_addstr(sb, ": expected ");
			add_quoted(sb, e->text + ea, eb - ea, QUOTE_MAX);
			strbuf_addstr(sb, ", got ");
		}
		add_quoted(sb, s + aa, ab - aa, QUOTE_MAX);
		return;
	}
	if (k == n) {
		strbuf_addstr(sb, ": unexpected ");
		add_quoted(sb, s + p, end - p, QUOTE_MAX);
		strbuf_addstr(sb, " at the end of the line");
		return;
	}
	strbuf_addstr(sb, ": ");
	if (p > 0) {
		size_t from = p > 40 ? p - 40 : 0;
		while (from > 0 && from < p && ((unsigned char)s[from] & 0xc0) == 0x80)
			from++;
		strbuf_addstr(sb, "after ");
		if (from > 0) {
			strbuf_addstr(sb, "\"...");
			add_display(sb, s + from, p - from, SIZE_MAX);
			while (sb->len && sb->buf[sb->len - 1] == ' ')
				strbuf_setlen(sb, sb->len - 1);
			strbuf_addch(sb, '"');
		} else {
			add_quoted(sb, s, p, QUOTE_MAX);
		}
		strbuf_addstr(sb, ", ");
	}
	if (tk[k].kind == T_VAR) {
		size_t q = p;
		while (q < end && !is_blank((unsigned char)s[q]) && s[q] != '|')
			q++;
		strbuf_addf(sb, "expected %s, got ", kinds[tk[k].var].what);
		if (q == p)
			strbuf_addstr(sb, "end of line");
		else
			add_quoted(sb, s + p, q - p, QUOTE_MAX);
		return;
	}
	strbuf_addstr(sb, "expected ");
	if (tk[k].kind == T_BLANK && p < end)
		strbuf_addstr(sb, "a blank");
	else
		add_quoted(sb, e->text + tk[k].off, el->off + el->len - tk[k].off, QUOTE_MAX);
	strbuf_addstr(sb, ", got ");
	if (p >= end)
		strbuf_addstr(sb, "end of line");
	else
		add_quoted(sb, s + p, end - p, QUOTE_MAX);
}

/* describe writes why expected line el does not match the actual line s. */
static void describe(struct strbuf *sb, const struct expectation *e, const struct exp_line *el,
		     const char *s, size_t len, const struct walk *w)
{
	size_t a = 0, b = len;

	switch ((enum line_kind)el->kind) {
	case L_TOKENS:
		describe_tokens(sb, e, el, s, len, w);
		return;
	case L_FOOTER:
	case L_SEP:
		trim(s, &a, &b);
		strbuf_addf(sb, "line %u: expected ", el->lineno);
		if (el->kind == L_SEP) {
			uint32_t cols = 0;
			parse_separator(s + a, b - a, &cols);
			strbuf_addf(sb, "a table of %u column%s, got %u", el->b, el->b == 1 ? "" : "s",
				    cols);
			return;
		}
		quote_exp_line(sb, e, el);
		strbuf_addstr(sb, ", got ");
		add_quoted(sb, s + a, b - a, QUOTE_MAX);
		return;
	default:
		strbuf_addf(sb, "line %u: expected ", el->lineno);
		quote_exp_line(sb, e, el);
		strbuf_addstr(sb, ", got ");
		add_quoted(sb, s, len, QUOTE_MAX);
		return;
	}
}

static void limit_reason(struct judge *j, const struct exp_line *el)
{
	if (el) {
		strbuf_addf(&j->r->reason, "line %u: ", el->lineno);
		j->r->expected_line = (int)el->lineno;
	}
	strbuf_addstr(&j->r->reason, "match limit exceeded: the pattern backtracks too much on this output");
}

/* ---- the modes ---- */

static bool has_word(const char *s, size_t len, const char *w, size_t n)
{
	for (const char *p = s; (p = memmem(p, len - (size_t)(p - s), w, n)); p++) {
		bool start = p == s || !is_alnum((unsigned char)p[-1]);
		bool end = p + n == s + len || !is_alnum((unsigned char)p[n]);
		if (start && end)
			return true;
	}
	return false;
}

/* similar_line picks the actual line to explain a failing expected line
 * with when none got past its first token: the first line from `from` that
 * has at least half of the expected line's words, or else, when `positional`
 * (the line before matched), the next non-blank line, which is what stands
 * where the expected line should be.  SIZE_MAX when there is none. */
static size_t similar_line(struct judge *j, const struct exp_line *el, size_t from, bool positional)
{
	const char *t = exp_text(j->e, el);
	for (size_t a = from; a < j->al.n && !out_of_time(j); a++) {
		const char *s = line_at(&j->al, a);
		size_t len = line_len(&j->al, a), words = 0, found = 0;
		for (size_t p = 0; p < el->len;) {
			size_t q = p;
			while (q < el->len && is_alnum((unsigned char)t[q]))
				q++;
			if (q - p >= 2) {
				words++;
				found += has_word(s, len, t + p, q - p);
			}
			p = q + (q == p);
		}
		if (words && 2 * found >= words)
			return a;
	}
	if (positional)
		for (size_t a = from; a < j->al.n; a++)
			if (!blank_line(&j->al, a))
				return a;
	return SIZE_MAX;
}

static int judge_tolerant(struct judge *j)
{
	const struct expectation *e = j->e;
	struct match_result *r = j->r;
	size_t *match_at = xmalloc((e->njudged ? e->njudged : 1) * sizeof(*match_at));
	size_t a = 0, f = SIZE_MAX, prev_line = 0;
	struct walk w;
	int ret = 0;

	for (size_t i = 0; i < e->njudged && f == SIZE_MAX; i++) {
		const struct exp_line *el = judged_line(e, i);
		size_t from = a;
		int rc = RUN_NOMATCH;
		for (; a < j->al.n; a++) {
			rc = out_of_time(j) ? RUN_LIMIT
					    : match_line(e, &j->rn, el, line_at(&j->al, a),
							 line_len(&j->al, a), &w);
			if (rc != RUN_NOMATCH)
				break;
		}
		if (rc == RUN_LIMIT) {
			limit_reason(j, el);
			struct ops o = { .mark = SIZE_MAX };
			whole_ops(e, &j->al, &o);
			finish_diff(j, &o);
			goto out;
		}
		if (rc == RUN_ERROR) {
			strbuf_addf(&r->reason, "line %u: PCRE2 error %d", el->lineno, j->rn.error);
			ret = -1;
			goto out;
		}
		if (rc != RUN_MATCH) {
			f = i;
			a = from;
			break;
		}
		match_at[i] = a;
		if (el->kind == L_REGEX)
			add_spans(j, &e->res[el->a], j->al.start[a]);
		else if (el->kind == L_TOKENS)
			var_notes(j, el, &w, line_at(&j->al, a));
		size_t extra = count_nonblank(&j->al, from, a);
		if (extra && i == 0)
			note(j, "%zu extra actual line%s skipped before expected line %u", extra,
			     extra == 1 ? "" : "s", el->lineno);
		else if (extra)
			note(j, "%zu extra actual line%s skipped between expected lines %zu and %u",
			     extra, extra == 1 ? "" : "s", prev_line, el->lineno);
		prev_line = el->lineno;
		a++;
	}
	if (f == SIZE_MAX) {
		size_t extra = count_nonblank(&j->al, a, j->al.n);
		if (extra && e->njudged)
			note(j, "%zu extra actual line%s after expected line %zu", extra,
			     extra == 1 ? "" : "s", prev_line);
		r->ok = true;
		set_captures(j);
		goto out;
	}

	/* Deviation: explain with the actual line that came closest. */
	const struct exp_line *el = judged_line(e, f);
	size_t best = SIZE_MAX, best_progress = 0;
	struct walk best_walk = { 0 };
	for (size_t b = a; b < j->al.n && !out_of_time(j); b++) {
		if (match_line(e, &j->rn, el, line_at(&j->al, b), line_len(&j->al, b), &w) ==
			    RUN_NOMATCH &&
		    w.progress > best_progress) {
			best = b;
			best_progress = w.progress;
			best_walk = w;
		}
	}
	if (best == SIZE_MAX) {
		best = similar_line(j, el, a, f > 0);
		/* A line that the next expected line matches is not in the way:
		 * the expected line is missing. */
		if (best != SIZE_MAX && f + 1 < e->njudged && line_eq(j, f + 1, best))
			best = SIZE_MAX;
		if (best != SIZE_MAX)
			match_line(e, &j->rn, el, line_at(&j->al, best), line_len(&j->al, best),
				   &best_walk);
	}
	r->expected_line = (int)el->lineno;
	if (best != SIZE_MAX) {
		describe(&r->reason, e, el, line_at(&j->al, best), line_len(&j->al, best), &best_walk);
		strbuf_addf(&r->reason, " (actual line %zu)", best + 1);
		if (j->truncated) {
			strbuf_addstr(&r->reason, "; ");
			truncation_words(j, &r->reason);
		}
	} else {
		strbuf_addf(&r->reason, "expected line %u ", el->lineno);
		quote_exp_line(&r->reason, e, el);
		if (a > 0)
			strbuf_addf(&r->reason, " not found after actual line %zu", a);
		else if (j->al.n)
			strbuf_addstr(&r->reason, " not found in the output");
		else
			strbuf_addstr(&r->reason, " not found: the output is empty");
		if (j->truncated) {
			strbuf_addstr(&r->reason, "; ");
			truncation_words(j, &r->reason);
		}
	}
	struct ops o = { .mark = SIZE_MAX };
	tolerant_ops(j, match_at, f, &o);
	finish_diff(j, &o);
out:
	free(match_at);
	return ret;
}

static void lines_reason(struct judge *j, const struct ops *o)
{
	const struct expectation *e = j->e;
	struct strbuf *sb = &j->r->reason;
	size_t m = 0;

	while (m < o->n && o->v[m].kind == OP_EQ)
		m++;
	if (m == o->n)
		return;
	const struct op *op = &o->v[m], *next = m + 1 < o->n ? &o->v[m + 1] : NULL;
	j->r->expected_line = (int)exp_lineno(e, op->e);
	if (op->kind == OP_DEL && next && next->kind == OP_ADD && op->n == 1 && next->n == 1) {
		const struct exp_line *el = judged_line(e, op->e);
		const char *s = line_at(&j->al, next->a);
		size_t len = line_len(&j->al, next->a);
		strbuf_addf(sb, "line %u: expected ", el->lineno);
		quote_exp_line(sb, e, el);
		strbuf_addstr(sb, ", got ");
		add_quoted(sb, s, len, QUOTE_MAX);
		if (next->a != op->e)
			strbuf_addf(sb, " (actual line %zu)", next->a + 1);
		if (el->kind == L_LITERAL && !el->pooled) {
			size_t x = 0, y = 0;
			const char *t = exp_text(e, el);
			while (x < el->len || y < len) {
				x = skip_blanks(t, x, el->len);
				y = skip_blanks(s, y, len);
				if (x == el->len || y == len || t[x] != s[y])
					break;
				x++;
				y++;
			}
			if (x == el->len && y == len)
				strbuf_addstr(sb, ": they differ only in blanks");
		}
	} else if (op->kind == OP_DEL) {
		const struct exp_line *el = judged_line(e, op->e);
		if (op->a >= j->al.n) {
			strbuf_addf(sb, "the output ends after %zu line%s; expected line %u ", j->al.n,
				    j->al.n == 1 ? "" : "s", el->lineno);
			quote_exp_line(sb, e, el);
			strbuf_addstr(sb, " is missing");
		} else {
			strbuf_addf(sb, "expected line %u ", el->lineno);
			quote_exp_line(sb, e, el);
			strbuf_addf(sb, " is missing before actual line %zu", op->a + 1);
		}
	} else {
		strbuf_addf(sb, "unexpected line %zu ", op->a + 1);
		add_quoted(sb, line_at(&j->al, op->a), line_len(&j->al, op->a), QUOTE_MAX);
		if (op->e >= e->njudged)
			strbuf_addf(sb, " after the expected output ends (%zu extra line%s)", op->n,
				    op->n == 1 ? "" : "s");
		else
			strbuf_addf(sb, " before expected line %u", judged_line(e, op->e)->lineno);
	}
	if (j->truncated) {
		strbuf_addstr(sb, "; ");
		truncation_words(j, sb);
	}
}

static int judge_lines(struct judge *j)
{
	const struct expectation *e = j->e;
	size_t ne = e->njudged, na = j->al.n, k;
	struct walk w;

	if (e->mode == MATCH_EXACT && !e->nres && !j->truncated) {
		size_t n = j->len;
		while (n && j->actual[n - 1] == '\n')
			n--;
		if (n == e->body_len && !memcmp(j->actual, e->text, n)) {
			j->r->ok = true;
			return 0;
		}
	}
	for (k = 0; k < ne && k < na; k++) {
		const struct exp_line *el = judged_line(e, k);
		int rc = match_line(e, &j->rn, el, line_at(&j->al, k), line_len(&j->al, k), &w);
		if (rc == RUN_LIMIT) {
			limit_reason(j, el);
			struct ops o = { .mark = SIZE_MAX };
			whole_ops(e, &j->al, &o);
			finish_diff(j, &o);
			return 0;
		}
		if (rc == RUN_ERROR) {
			strbuf_addf(&j->r->reason, "line %u: PCRE2 error %d", el->lineno, j->rn.error);
			return -1;
		}
		if (rc != RUN_MATCH)
			break;
		if (el->kind == L_REGEX)
			add_spans(j, &e->res[el->a], j->al.start[k]);
	}
	if (k == ne && k == na && !j->truncated) {
		j->r->ok = true;
		set_captures(j);
		return 0;
	}
	struct ops o = { .mark = SIZE_MAX };
	lines_ops(j, &o);
	lines_reason(j, &o);
	if (!j->r->reason.len) {
		strbuf_addstr(&j->r->reason, "the output is incomplete: ");
		truncation_words(j, &j->r->reason);
	}
	finish_diff(j, &o);
	return 0;
}

static int judge_regex(struct judge *j)
{
	const struct expectation *e = j->e;
	int rc = run_whole(&j->rn, e->whole, j->actual, j->len, 0);

	if (rc == RUN_ERROR) {
		strbuf_addf(&j->r->reason, "PCRE2 error %d", j->rn.error);
		return -1;
	}
	if (rc == RUN_MATCH) {
		struct line_regex lr = { e->whole, 0, (uint32_t)e->ncaps };
		add_spans(j, &lr, 0);
		j->r->ok = true;
		set_captures(j);
		return 0;
	}
	if (rc == RUN_LIMIT)
		limit_reason(j, NULL);
	else
		strbuf_addstr(&j->r->reason, "the output does not match the pattern");
	if (j->truncated) {
		strbuf_addstr(&j->r->reason, "; ");
		truncation_words(j, &j->r->reason);
	}
	struct ops o = { .mark = SIZE_MAX };
	whole_ops(e, &j->al, &o);
	finish_diff(j, &o);
	return 0;
}

/* contains_prefix says whether the first k non-blank expected lines occur in
 * the output, and where the occurrence ends. */
static int contains_prefix(struct judge *j, const size_t *content, size_t k, size_t *start,
			   size_t *end)
{
	const struct expectation *e = j->e;
	const struct exp_line *last = &e->lines[content[k - 1]];
	struct strbuf pat = STRBUF_INIT;
	pcre2_code *code;
	int rc = RUN_NOMATCH;

	contains_pattern(&pat, e->text, 0, last->off + last->len);
	code = compile_pattern(pat.buf, pat.len, 0, false, NULL, NULL);
	strbuf_release(&pat);
	if (!code)
		return RUN_ERROR;
	rc = run_whole(&j->rn, code, j->actual, j->len, 0);
	if (rc == RUN_MATCH) {
		*start = ovector(&j->rn)[0];
		*end = ovector(&j->rn)[1];
	}
	pcre2_code_free(code);
	return rc;
}

static size_t line_of_offset(const struct lines *al, size_t off)
{
	size_t lo = 0, hi = al->n;
	while (lo + 1 < hi) {
		size_t mid = (lo + hi) / 2;
		if (al->start[mid] <= off)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

static int judge_contains(struct judge *j)
{
	const struct expectation *e = j->e;
	struct strbuf *sb = &j->r->reason;
	int rc = run_whole(&j->rn, e->whole, j->actual, j->len, 0);

	if (rc == RUN_ERROR) {
		strbuf_addf(sb, "PCRE2 error %d", j->rn.error);
		return -1;
	}
	if (rc == RUN_MATCH) {
		j->r->ok = true;
		return 0;
	}
	if (rc == RUN_LIMIT) {
		limit_reason(j, NULL);
	} else {
		/* Find how many leading lines of the text do occur (binary search:
		 * if k lines occur, so do k - 1) to say where it stops matching. */
		size_t *content = xmalloc((e->nlines + 1) * sizeof(*content)), nc = 0;
		size_t lo = 0, hi, s0 = 0, s1 = 0;
		for (size_t i = 0; i < e->nlines; i++) {
			size_t a = e->lines[i].off, b = a + e->lines[i].len;
			trim(e->text, &a, &b);
			if (a < b)
				content[nc++] = i;
		}
		hi = nc;
		while (lo < hi) {
			size_t mid = (lo + hi + 1) / 2, x, y;
			if (contains_prefix(j, content, mid, &x, &y) == RUN_MATCH) {
				lo = mid;
				s0 = x;
				s1 = y;
			} else {
				hi = mid - 1;
			}
		}
		if (lo == 0 || lo >= nc) {
			const struct exp_line *first = &e->lines[nc ? content[0] : 0];
			strbuf_addstr(sb, "expected text ");
			if (nc)
				quote_exp_line(sb, e, first);
			strbuf_addstr(sb, " not found in the output");
			j->r->expected_line = (int)first->lineno;
		} else {
			const struct exp_line *el = &e->lines[content[lo]];
			size_t p = s1;
			while (p < j->len && is_blank((unsigned char)j->actual[p]))
				p++;
			if (p < j->len && j->actual[p] == '\n')
				p++;
			size_t q = p;
			while (q < j->len && j->actual[q] != '\n')
				q++;
			strbuf_addf(sb, "line %u: expected ", el->lineno);
			quote_exp_line(sb, e, el);
			strbuf_addstr(sb, ", got ");
			if (p >= j->len)
				strbuf_addstr(sb, "end of output");
			else
				add_quoted(sb, j->actual + p, q - p, QUOTE_MAX);
			strbuf_addf(sb, " (the lines before it match from actual line %zu)",
				    line_of_offset(&j->al, s0) + 1);
			j->r->expected_line = (int)el->lineno;
		}
		free(content);
	}
	if (j->truncated) {
		strbuf_addstr(sb, "; ");
		truncation_words(j, sb);
	}
	struct ops o = { .mark = SIZE_MAX };
	whole_ops(e, &j->al, &o);
	finish_diff(j, &o);
	return 0;
}

void match_result_init(struct match_result *r)
{
	r->ok = false;
	strbuf_init(&r->reason, 0);
	strbuf_init(&r->diff, 0);
	strbuf_init(&r->notes, 0);
	r->captures = NULL;
	r->ncaptures = 0;
	r->expected_line = 0;
}

void match_result_release(struct match_result *r)
{
	strbuf_release(&r->reason);
	strbuf_release(&r->diff);
	strbuf_release(&r->notes);
	for (size_t i = 0; i < r->ncaptures; i++) {
		free(r->captures[i].name);
		free(r->captures[i].value);
	}
	free(r->captures);
	match_result_init(r);
}

static int match_once(const struct expectation *e, const char *actual, size_t len, bool truncated,
		      struct match_result *r)
{
	struct judge j = { .e = e, .actual = actual ? actual : "", .len = actual ? len : 0,
			   .truncated = truncated, .r = r };
	int ret = 0;

	match_result_release(r);
	if (e->mode == MATCH_NONE) {
		r->ok = true;
		return 0;
	}
	runner_init(&j.rn, e->pairs);
	if (e->mode == MATCH_EXACT || e->mode == MATCH_LINES) {
		size_t n = j.len;
		while (n && j.actual[n - 1] == '\n' && !truncated)
			n--;
		lines_split(&j.al, j.actual, n, truncated);
	} else {
		lines_split(&j.al, j.actual, j.len, truncated);
	}
	switch (e->mode) {
	case MATCH_TOLERANT:
		ret = judge_tolerant(&j);
		break;
	case MATCH_EXACT:
	case MATCH_LINES:
		ret = judge_lines(&j);
		break;
	case MATCH_REGEX:
		ret = judge_regex(&j);
		break;
	case MATCH_CONTAINS:
		ret = judge_contains(&j);
		break;
	case MATCH_NONE:
		break;
	}
	if (r->ok && truncated) {
		struct strbuf sb = STRBUF_INIT;
		truncation_words(&j, &sb);
		note(&j, "%s; the part kept matches", sb.buf);
		strbuf_release(&sb);
	}
	if (j.nnotes > MAX_NOTES)
		strbuf_addf(&r->notes, "... and %zu more notes\n", j.nnotes - MAX_NOTES);
	if (r->ok) {
		strbuf_reset(&r->reason);
		strbuf_reset(&r->diff);
		r->expected_line = 0;
	}
	free(j.spans);
	free(j.al.start);
	runner_release(&j.rn);
	return ret;
}

/* An invalid UTF-8 byte in the output is a barrier to PCRE2 (expected text
 * cannot hold one): a tolerant or contains judgement that fails on such an
 * output is made again with each invalid byte read as U+FFFD, so that `...`
 * and the line's other tokens match across it.  The first judgement, whose
 * diff shows the bytes as \xNN, stands when the second fails too. */
int expectation_match(const struct expectation *e, const char *actual, size_t len,
		      bool truncated, struct match_result *r)
{
	int ret = match_once(e, actual, len, truncated, r);
	if (ret < 0 || r->ok || !actual || (e->mode != MATCH_TOLERANT && e->mode != MATCH_CONTAINS))
		return ret;
	const unsigned char *u = (const unsigned char *)actual;
	size_t i = 0, n;
	while (i < len && (n = utf8_len(u + i, len - i)))
		i += n;
	if (i == len)
		return ret;
	struct strbuf clean = STRBUF_INIT;
	strbuf_add(&clean, actual, i);
	while (i < len) {
		n = utf8_len(u + i, len - i);
		if (n) {
			strbuf_add(&clean, actual + i, n);
			i += n;
		} else {
			strbuf_addstr(&clean, "\xef\xbf\xbd");
			i++;
		}
	}
	struct match_result again;
	match_result_init(&again);
	if (match_once(e, clean.buf, clean.len, truncated, &again) == 0 && again.ok) {
		match_result_release(r);
		*r = again;
		strbuf_addstr(&r->notes, "the output's invalid UTF-8 bytes were read as U+FFFD\n");
	} else {
		match_result_release(&again);
	}
	strbuf_release(&clean);
	return ret;
}

/* ---- failure rows ---- */

#define WORD_MAX 64

/* Words that say nothing about which error it is. */
static const char *const stop_words[] = {
	"a",    "an",   "and",  "are", "as",   "at",   "be",  "by",   "for",  "from",
	"has",  "have", "in",   "into", "is",  "it",   "its", "of",   "on",   "or",
	"than", "that", "the",  "then", "there", "this", "to", "was", "were", "with",
};

/* Words every error message has; they count, but little. */
static const char *const generic_words[] = {
	"bash",  "context", "could", "detail", "error", "fail", "failed", "failure", "fatal",
	"hint",  "line",    "no",    "not",    "notice", "psql", "sh",    "statement", "warning",
};

/* Well-known phrasings of psql, PostgreSQL and the shell, and the words a
 * runbook author uses for the same failure. */
static const struct {
	const char *pattern;
	const char *words;
} phrases[] = {
	{ "no such file or directory", "not found missing" },
	{ "command not found", "missing" },
	{ "is the server running|could not connect to server", "connection refused" },
	{ "does not exist", "missing" },
	{ "already exists|duplicate key value", "already exist duplicate" },
	{ "lock timeout|could not obtain lock", "lock timeout locked" },
	{ "deadlock detected", "deadlock lock" },
	{ "statement timeout", "timeout" },
	{ "permission denied|must be owner of|insufficient privilege", "permission denied privilege" },
	{ "password authentication failed|no password supplied", "authentication password" },
	{ "cannot run inside a transaction block|cannot be executed inside a transaction",
	  "transaction block" },
	{ "no space left on device|could not extend file", "disk space full" },
	{ "too many connections|remaining connection slots", "connection limit" },
};

#define NPHRASES (sizeof(phrases) / sizeof(phrases[0]))

struct row_word {
	char *word;
	double weight;
	size_t id; /* in the matcher's word table */
};

struct failure_row {
	pcre2_code *pattern; /* NULL when the cell has nothing to match literally */
	struct row_word *words;
	size_t nwords, words_alloc;
	double total;
	char **names; /* SQLSTATE codes and condition names the cell mentions */
	size_t nnames, names_alloc;
};

struct failure_matcher {
	struct failure_row *rows;
	size_t n;
	pcre2_code *phrase[NPHRASES];
	size_t *phrase_words; /* word ids per phrase, SIZE_MAX-terminated lists */
	char **table;         /* every distinct word of every row, by id */
	size_t ntable, table_alloc;
	size_t *slots; /* open addressing over table: id + 1, 0 empty */
	size_t nslots;
};

static bool in_list(const char *const *list, size_t n, const char *w)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(list[i], w))
			return true;
	return false;
}

typedef void (*word_fn)(const char *word, size_t len, void *data);

/* each_word calls fn with every word of s: an ASCII run of letters, digits
 * and `_`, lower-cased, a plural `s` removed, stop words and one-letter words
 * left out. */
static void each_word(const char *s, size_t len, word_fn fn, void *data)
{
	char buf[WORD_MAX + 1];

	for (size_t p = 0; p < len;) {
		if (!is_word((unsigned char)s[p])) {
			p++;
			continue;
		}
		size_t q = p;
		while (q < len && is_word((unsigned char)s[q]))
			q++;
		size_t n = q - p;
		if (n >= 2 && n <= WORD_MAX) {
			for (size_t i = 0; i < n; i++)
				buf[i] = (char)tolower((unsigned char)s[p + i]);
			if (n > 3 && buf[n - 1] == 's' && !strchr("siu", buf[n - 2]))
				n--;
			buf[n] = '\0';
			if (!in_list(stop_words, sizeof(stop_words) / sizeof(*stop_words), buf))
				fn(buf, n, data);
		}
		p = q;
	}
}

static size_t hash_word(const char *w)
{
	size_t h = 1469598103934665603u;
	for (; *w; w++)
		h = (h ^ (unsigned char)*w) * 1099511628211u;
	return h;
}

static size_t *table_slot(const struct failure_matcher *fm, const char *w)
{
	size_t mask = fm->nslots - 1, i = hash_word(w) & mask;
	while (fm->slots[i] && strcmp(fm->table[fm->slots[i] - 1], w))
		i = (i + 1) & mask;
	return &fm->slots[i];
}

static void table_rehash(struct failure_matcher *fm)
{
	free(fm->slots);
	fm->nslots = 16;
	while (fm->nslots < 2 * fm->ntable + 2)
		fm->nslots *= 2;
	fm->slots = xcalloc(fm->nslots, sizeof(*fm->slots));
	for (size_t id = 0; id < fm->ntable; id++)
		*table_slot(fm, fm->table[id]) = id + 1;
}

/* word_id returns the id of w, adding it to the table when add is set;
 * SIZE_MAX when it is absent. */
static size_t word_id(struct failure_matcher *fm, const char *w, bool add)
{
	if (fm->nslots) {
		size_t *slot = table_slot(fm, w);
		if (*slot)
			return *slot - 1;
	}
	if (!add)
		return SIZE_MAX;
	ALLOC_GROW(fm->table, fm->ntable + 1, fm->table_alloc);
	fm->table[fm->ntable++] = xstrdup(w);
	if (2 * fm->ntable + 2 > fm->nslots)
		table_rehash(fm);
	else
		*table_slot(fm, w) = fm->ntable;
	return fm->ntable - 1;
}

static double word_weight(const char *w)
{
	for (const char *p = w; *p; p++)
		if (*p == '_' || isdigit((unsigned char)*p))
			return 2.0;
	if (in_list(generic_words, sizeof(generic_words) / sizeof(*generic_words), w))
		return 0.5;
	return 1.0;
}

struct row_builder {
	struct failure_matcher *fm;
	struct failure_row *row;
};

static void add_row_word(const char *w, size_t len, void *data)
{
	struct row_builder *rb = data;
	struct failure_row *row = rb->row;
	size_t id = word_id(rb->fm, w, true);

	(void)len;
	for (size_t i = 0; i < row->nwords; i++)
		if (row->words[i].id == id)
			return;
	ALLOC_GROW(row->words, row->nwords + 1, row->words_alloc);
	row->words[row->nwords].word = rb->fm->table[id];
	row->words[row->nwords].weight = word_weight(w);
	row->words[row->nwords].id = id;
	row->total += row->words[row->nwords].weight;
	row->nwords++;
}

/* add_names keeps the words of the cell that are SQLSTATE codes (as
 * written, upper case) or condition names. */
static void add_names(struct failure_row *row, const char *s, size_t len)
{
	for (size_t p = 0; p < len;) {
		size_t q = p;
		while (q < len && is_word((unsigned char)s[q]))
			q++;
		if (q > p && (sqlstate_known(s + p, q - p) || sqlstate_is_name(s + p, q - p))) {
			ALLOC_GROW(row->names, row->nnames + 1, row->names_alloc);
			row->names[row->nnames++] = xmemdupz(s + p, q - p);
		}
		p = q < len ? q + 1 : q;
	}
}

/* add_cell_pattern appends the tolerant pattern of one piece of a cell:
 * blanks flexible, quotes interchangeable, `...` a wildcard, the rest
 * literal.  Returns whether it has anything to match. */
static bool add_cell_pattern(struct strbuf *pat, const char *s, size_t len)
{
	static const char *const quotes[] = { "\"", "'", "`", "\xe2\x80\x98", "\xe2\x80\x99",
					      "\xe2\x80\x9c", "\xe2\x80\x9d" };
	bool literal = false;
	size_t a = 0, b = len;

	trim(s, &a, &b);
	for (size_t p = a; p < b;) {
		size_t n = utf8_len((const unsigned char *)s + p, b - p), qn = 0;
		if (!n)
			return false;
		for (size_t i = 0; i < sizeof(quotes) / sizeof(*quotes); i++)
			if (!strncmp(s + p, quotes[i], strlen(quotes[i])))
				qn = strlen(quotes[i]);
		if (is_blank((unsigned char)s[p]) || s[p] == '\n') {
			while (p < b && (is_blank((unsigned char)s[p]) || s[p] == '\n'))
				p++;
			strbuf_addstr(pat, "\\s+");
		} else if (qn) {
			strbuf_addstr(pat, "[\"'`\xe2\x80\x98\xe2\x80\x99\xe2\x80\x9c\xe2\x80\x9d]");
			p += qn;
		} else if (b - p >= 3 && (!memcmp(s + p, "...", 3) || !memcmp(s + p, "\xe2\x80\xa6", 3))) {
			while (p < b && s[p] == '.')
				p++;
			if (b - p >= 3 && !memcmp(s + p, "\xe2\x80\xa6", 3))
				p += 3;
			strbuf_addstr(pat, ".*?");
		} else {
			add_regex_literal(pat, s + p, n);
			literal = true;
			p += n;
		}
	}
	return literal;
}

static void compile_row(struct failure_matcher *fm, struct failure_row *row, const char *cell)
{
	struct row_builder rb = { fm, row };
	struct strbuf pat = STRBUF_INIT, words = STRBUF_INIT;
	size_t len = strlen(cell), pieces = 0;
	const char *p = cell, *open;

	while ((open = strchr(p, '`'))) {
		const char *close = strchr(open + 1, '`');
		if (!close)
			break;
		size_t mark = pat.len;
		strbuf_addstr(&pat, pieces ? "|(?:" : "(?:");
		if (add_cell_pattern(&pat, open + 1, (size_t)(close - open - 1))) {
			strbuf_addch(&pat, ')');
			pieces++;
		} else {
			strbuf_setlen(&pat, mark);
		}
		strbuf_add(&words, open + 1, (size_t)(close - open - 1));
		strbuf_addch(&words, ' ');
		p = close + 1;
	}
	if (!words.len) {
		/* No code span: the cell as a whole, without Markdown emphasis. */
		struct strbuf plain = STRBUF_INIT;
		for (size_t i = 0; i < len; i++)
			if (cell[i] != '*')
				strbuf_addch(&plain, cell[i]);
		if (add_cell_pattern(&pat, plain.buf, plain.len))
			pieces++;
		strbuf_addbuf(&words, &plain);
		strbuf_release(&plain);
	}
	if (pieces)
		row->pattern = compile_pattern(pat.buf, pat.len, UTF_OPTS | PCRE2_CASELESS, true, NULL,
					       NULL);
	each_word(words.buf, words.len, add_row_word, &rb);
	add_names(row, cell, len);
	strbuf_release(&pat);
	strbuf_release(&words);
}

struct failure_matcher *failure_matcher_new(const char *const *error_cells, size_t n)
{
	struct failure_matcher *fm = xcalloc(1, sizeof(*fm));
	size_t nids = 0, alloc = 0;

	fm->n = n;
	fm->rows = xcalloc(n ? n : 1, sizeof(*fm->rows));
	for (size_t i = 0; i < n; i++)
		compile_row(fm, &fm->rows[i], error_cells[i] ? error_cells[i] : "");
	for (size_t k = 0; k < NPHRASES; k++) {
		fm->phrase[k] = compile_pattern(phrases[k].pattern, PCRE2_ZERO_TERMINATED,
						UTF_OPTS | PCRE2_CASELESS, true, NULL, NULL);
		const char *w = phrases[k].words;
		while (*w) {
			size_t len = strcspn(w, " ");
			char buf[WORD_MAX + 1];
			snprintf(buf, sizeof(buf), "%.*s", (int)len, w);
			ALLOC_GROW(fm->phrase_words, nids + 1, alloc);
			fm->phrase_words[nids++] = word_id(fm, buf, false);
			w += len + (w[len] == ' ');
		}
		ALLOC_GROW(fm->phrase_words, nids + 1, alloc);
		fm->phrase_words[nids++] = SIZE_MAX - 1;
	}
	return fm;
}

void failure_matcher_free(struct failure_matcher *fm)
{
	if (!fm)
		return;
	for (size_t i = 0; i < fm->n; i++) {
		struct failure_row *row = &fm->rows[i];
		pcre2_code_free(row->pattern);
		free(row->words);
		for (size_t k = 0; k < row->nnames; k++)
			free(row->names[k]);
		free(row->names);
	}
	for (size_t k = 0; k < NPHRASES; k++)
		pcre2_code_free(fm->phrase[k]);
	for (size_t i = 0; i < fm->ntable; i++)
		free(fm->table[i]);
	free(fm->table);
	free(fm->slots);
	free(fm->phrase_words);
	free(fm->rows);
	free(fm);
}

struct presence {
	const struct failure_matcher *fm;
	bool *seen;
};

static void mark_word(const char *w, size_t len, void *data)
{
	struct presence *pr = data;
	(void)len;
	if (!pr->fm->nslots)
		return;
	size_t id = *table_slot(pr->fm, w);
	if (id)
		pr->seen[id - 1] = true;
}

/* find_in searches code in the output streams; on a hit, *why gets the
 * matched text. */
static bool find_in(struct runner *rn, const pcre2_code *code, const char *const *texts,
		    const size_t *lens, char **why)
{
	for (int t = 0; t < 2; t++) {
		if (!texts[t] || run_whole(rn, code, texts[t], lens[t], 0) != RUN_MATCH)
			continue;
		if (why) {
			PCRE2_SIZE *ov = ovector(rn);
			struct strbuf sb = STRBUF_INIT;
			add_display(&sb, texts[t] + ov[0], ov[1] - ov[0], 160);
			*why = strbuf_detach(&sb, NULL);
		}
		return true;
	}
	return false;
}

/* A hit and its tier: 2 named the SQLSTATE, 1 a pattern hit, 0 words. */
struct ranked {
	struct failure_hit hit;
	int tier;
};

static int compare_hits(const void *pa, const void *pb)
{
	const struct ranked *ra = pa, *rb = pb;
	const struct failure_hit *a = &ra->hit, *b = &rb->hit;
	if (ra->tier != rb->tier)
		return ra->tier > rb->tier ? -1 : 1;
	if (a->score != b->score)
		return a->score > b->score ? -1 : 1;
	return a->row < b->row ? -1 : a->row > b->row;
}

size_t failure_matcher_rank(const struct failure_matcher *fm, const char *out, size_t out_len,
			    const char *err, size_t err_len, const char *sqlstate,
			    struct failure_hit **hits)
{
	const char *texts[2] = { err, out };
	size_t lens[2] = { err ? err_len : 0, out ? out_len : 0 };
	struct presence pr = { fm, xcalloc(fm->ntable + 1, sizeof(bool)) };
	struct failure_hit *v = NULL;
	int *tier = NULL;
	size_t nv = 0, alloc = 0, tier_alloc = 0;
	struct runner rn;

	runner_init(&rn, 1);
	*hits = NULL;
	for (int t = 0; t < 2; t++)
		if (texts[t])
			each_word(texts[t], lens[t], mark_word, &pr);
	const size_t *ids = fm->phrase_words;
	for (size_t k = 0; k < NPHRASES; k++) {
		bool found = fm->phrase[k] && find_in(&rn, fm->phrase[k], texts, lens, NULL);
		for (; *ids != SIZE_MAX - 1; ids++)
			if (found && *ids != SIZE_MAX)
				pr.seen[*ids] = true;
		ids++;
	}
	for (size_t i = 0; i < fm->n; i++) {
		const struct failure_row *row = &fm->rows[i];
		struct failure_hit hit = { .row = i };
		bool by_sqlstate = false;
		struct strbuf shared = STRBUF_INIT;
		double got = 0;
		bool strong = false;

		for (size_t k = 0; k < row->nwords; k++) {
			if (!pr.seen[row->words[k].id])
				continue;
			got += row->words[k].weight;
			strong |= row->words[k].weight == 1.0;
			strbuf_addstr(&shared, shared.len ? ", " : "shared words: ");
			strbuf_addstr(&shared, row->words[k].word);
		}
		hit.score = row->total > 0 ? got / row->total : 0;
		for (size_t k = 0; sqlstate && k < row->nnames && !hit.pattern_hit; k++) {
			const char *name = row->names[k];
			if (!strcasecmp(name, sqlstate) || sqlstate_name_is(name, strlen(name), sqlstate)) {
				const char *cond = sqlstate_name(sqlstate);
				hit.pattern_hit = by_sqlstate = true;
				hit.why = cond ? xasprintf("SQLSTATE %s (%s)", sqlstate, cond)
					       : xasprintf("SQLSTATE %s", sqlstate);
			}
		}
		if (!hit.pattern_hit && row->pattern)
			hit.pattern_hit = find_in(&rn, row->pattern, texts, lens, &hit.why);
		if (hit.pattern_hit || (hit.score > FAILURE_SCORE_THRESHOLD && strong)) {
			if (!hit.why)
				hit.why = strbuf_detach(&shared, NULL);
			ALLOC_GROW(v, nv + 1, alloc);
			ALLOC_GROW(tier, nv + 1, tier_alloc);
			tier[nv] = by_sqlstate ? 2 : hit.pattern_hit;
			v[nv++] = hit;
		}
		strbuf_release(&shared);
	}
	if (nv) {
		struct ranked *rk = xmalloc(nv * sizeof(*rk));
		for (size_t i = 0; i < nv; i++) {
			rk[i].hit = v[i];
			rk[i].tier = tier[i];
		}
		qsort(rk, nv, sizeof(*rk), compare_hits);
		for (size_t i = 0; i < nv; i++)
			v[i] = rk[i].hit;
		free(rk);
	}
	free(tier);
	*hits = v;
	free(pr.seen);
	runner_release(&rn);
	return nv;
}

void failure_hits_free(struct failure_hit *hits, size_t n)
{
	for (size_t i = 0; hits && i < n; i++)
		free(hits[i].why);
	free(hits);
}
