/* fuzz_redact.c - secrets masked in text.
 *
 * Input: VALUES NUL TEXT.  VALUES holds one known secret per line (lines
 * "NAME=VALUE" are also offered as an environment); TEXT, the rest of the
 * input, may hold NUL bytes.  The text is masked into a new buffer and in
 * place; both must agree, and no known secret may be left in the result
 * (unless it contains the mask's '*', which masking itself can re-form). */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "base/redact.h"
#include "base/strbuf.h"
#include "base/xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_span rest = { (const char *)data, size }, values, text, line;
	struct redactor red = REDACTOR_INIT;
	struct strbuf out = STRBUF_INIT, again = STRBUF_INIT;
	char **env = NULL;
	size_t nenv = 0, alloc = 0;

	fuzz_cut(&rest, '\0', &values);
	text = rest;
	while (values.len) {
		fuzz_cut(&values, '\n', &line);
		char *v = xmemdupz(line.p, line.len);
		redactor_add_value(&red, v);
		ALLOC_GROW(env, nenv + 1, alloc);
		env[nenv++] = v;
	}
	ALLOC_GROW(env, nenv + 1, alloc);
	env[nenv] = NULL;
	redactor_add_environ(&red, env);

	redact(&red, text.p, text.len, &out);
	strbuf_add(&again, text.p, text.len);
	redact_inplace(&red, &again);
	if (again.len != out.len || memcmp(again.buf, out.buf, out.len))
		abort(); /* both ways mask the same */
	for (size_t i = 0; i < red.nvalues; i++)
		if (!strchr(red.values[i], '*') &&
		    memmem(out.buf, out.len, red.values[i], strlen(red.values[i])))
			abort(); /* redact.h: every occurrence of a known secret is masked */

	for (size_t i = 0; i < nenv; i++)
		free(env[i]);
	free(env);
	strbuf_release(&out);
	strbuf_release(&again);
	redactor_release(&red);
	return 0;
}
