/* fuzz.h - what the libFuzzer targets in tests/fuzz share.
 *
 * Each tests/fuzz/fuzz_NAME.c defines LLVMFuzzerTestOneInput() and nothing
 * else that is public.  It is linked two ways (see the Makefile and
 * docs/fuzzing.md): with clang's libFuzzer into build-fuzz/fuzz_NAME, and
 * with the ordinary compiler and tests/fuzz/replay.c into
 * $(O)/tests/fuzz/replay_NAME, which runs saved inputs once each so that
 * every regression file is replayed by `make check` and `make asan` too.
 *
 * A target must not leak, print or keep state between inputs beyond what it
 * sets up once (a fixed key list, a fixed digest): libFuzzer reports a leak
 * or a difference between runs as a bug.
 */
#ifndef RUNBOOK_FUZZ_H
#define RUNBOOK_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A piece of the input: not NUL-terminated, may contain NUL bytes. */
struct fuzz_span {
	const char *p;
	size_t len;
};

/* fuzz_cut splits *rest at the first byte sep: the bytes before it become
 * *piece and *rest moves past it.  When sep is absent, *piece is all of
 * *rest, *rest becomes empty and the result is false. */
static inline bool fuzz_cut(struct fuzz_span *rest, char sep, struct fuzz_span *piece)
{
	const char *hit = rest->len ? memchr(rest->p, sep, rest->len) : NULL;

	piece->p = rest->p;
	if (!hit) {
		piece->len = rest->len;
		rest->p += rest->len;
		rest->len = 0;
		return false;
	}
	piece->len = (size_t)(hit - rest->p);
	rest->len -= piece->len + 1;
	rest->p = hit + 1;
	return true;
}

#endif
