/* fuzz_expect.c - expected-output patterns compiled in every mode and matched.
 *
 * Input: PATTERN NUL OUTPUT.  The pattern ends at the first NUL byte and the
 * output (which may hold NUL bytes) is the rest; without a NUL the input is
 * matched against itself.  Each mode compiles the pattern; each compiled
 * expectation judges the output as complete and as a truncated prefix. */
#include <stdlib.h>

#include "fuzz.h"
#include "match/match.h"
#include "base/xalloc.h"

static const enum match_mode modes[] = {
	MATCH_TOLERANT, MATCH_EXACT, MATCH_REGEX, MATCH_LINES, MATCH_CONTAINS, MATCH_NONE,
};

/* What match.h promises of a verdict. */
static void check_result(const struct match_result *r, enum match_mode mode)
{
	if (mode == MATCH_NONE && !r->ok)
		abort(); /* an illustration always matches */
	if (!r->ok && (!r->reason.len || memchr(r->reason.buf, '\n', r->reason.len)))
		abort(); /* a deviation says why, in one line */
	if (r->ok && (r->reason.len || r->expected_line))
		abort();
	if (!r->ok && r->ncaptures)
		abort(); /* captures only on a match */
	for (size_t i = 0; i < r->ncaptures; i++)
		if (!r->captures[i].name || !r->captures[i].value)
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_span rest = { (const char *)data, size }, pattern, output;

	if (fuzz_cut(&rest, '\0', &pattern))
		output = rest;
	else
		output = pattern;
	char *expected = xmemdupz(pattern.p, pattern.len);

	for (size_t m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
		struct match_error me;
		struct match_result r;

		memset(&me, 0, sizeof(me));
		struct expectation *e = expectation_compile(expected, modes[m], &me);
		if (!e) {
			if (me.msg[sizeof(me.msg) - 1] || !me.msg[0])
				abort(); /* an error must say why, in a terminated string */
			continue;
		}
		if (expectation_mode(e) != modes[m])
			abort();
		for (int truncated = 0; truncated <= 1; truncated++) {
			match_result_init(&r);
			if (expectation_match(e, output.p, output.len, truncated, &r) == 0)
				check_result(&r, modes[m]);
			match_result_release(&r);
		}
		expectation_free(e);
	}
	free(expected);
	return 0;
}
