/* fuzz_failure_rows.c - failure-table Error cells ranked against a failure's output.
 *
 * Input: CELLS NUL STDOUT NUL STDERR.  CELLS holds one Error cell per line;
 * a line "SQLSTATE=CODE" gives the error's SQLSTATE instead of a cell.
 * STDERR is the rest of the input and may hold NUL bytes. */
#include <stdlib.h>

#include "fuzz.h"
#include "match/match.h"
#include "base/xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_span rest = { (const char *)data, size }, cells, out, err, line;
	char **rows = NULL, *sqlstate = NULL;
	size_t n = 0, alloc = 0;

	fuzz_cut(&rest, '\0', &cells);
	fuzz_cut(&rest, '\0', &out);
	err = rest;
	while (cells.len) {
		fuzz_cut(&cells, '\n', &line);
		if (line.len >= 9 && !memcmp(line.p, "SQLSTATE=", 9)) {
			free(sqlstate);
			sqlstate = xmemdupz(line.p + 9, line.len - 9);
			continue;
		}
		ALLOC_GROW(rows, n + 1, alloc);
		rows[n++] = xmemdupz(line.p, line.len);
	}

	struct failure_matcher *fm = failure_matcher_new((const char *const *)rows, n);
	struct failure_hit *hits = NULL;
	size_t nhits = failure_matcher_rank(fm, out.len ? out.p : NULL, out.len,
					    err.len ? err.p : NULL, err.len, sqlstate, &hits);
	if (nhits > n || (nhits && !hits))
		abort();
	for (size_t i = 0; i < nhits; i++) {
		/* documented: row indexes the cells, score lies in [0, 1], why is set */
		if (hits[i].row >= n || !(hits[i].score >= 0 && hits[i].score <= 1) || !hits[i].why)
			abort();
		for (size_t j = 0; j < i; j++)
			if (hits[j].row == hits[i].row)
				abort();
	}
	failure_hits_free(hits, nhits);
	failure_matcher_free(fm);

	for (size_t i = 0; i < n; i++)
		free(rows[i]);
	free(rows);
	free(sqlstate);
	return 0;
}
