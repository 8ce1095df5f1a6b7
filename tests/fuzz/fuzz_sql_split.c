/* fuzz_sql_split.c - a ```sql block split into statements as psql would send them.
 *
 * Input: the block's text; it ends at the first NUL byte, as a C string does. */
#include <stdlib.h>

#include "fuzz.h"
#include "pg/pg.h"
#include "base/strbuf.h"
#include "base/xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = xmemdupz(data, size);
	struct strbuf err = STRBUF_INIT;
	struct sql_stmt *stmts = NULL;
	size_t n = 99;
	int err_line = -1;

	if (sql_split(text, &stmts, &n, &err_line, &err) < 0) {
		/* documented: no statements, a message and the line it concerns */
		if (stmts || !err.len || err_line < 1)
			abort();
	} else {
		if (err.len || (n && !stmts))
			abort();
		for (size_t i = 0; i < n; i++) {
			/* each statement is text of the block and starts where it says */
			if (!stmts[i].text[0] || !stmts[i].keywords || stmts[i].line < 1 ||
			    stmts[i].column < 1 || !strstr(text, stmts[i].text))
				abort();
		}
	}
	sql_stmts_free(stmts, n);
	strbuf_release(&err);
	free(text);
	return 0;
}
