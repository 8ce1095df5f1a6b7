/* xalloc.h - allocation that never returns NULL.
 *
 * Every function here either succeeds or prints "runbook: out of memory" and
 * aborts the process: callers never check for NULL.  The returned memory is
 * owned by the caller and released with free().
 */
#ifndef RUNBOOK_XALLOC_H
#define RUNBOOK_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *ptr, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* xmemdupz copies n bytes and adds a terminating NUL. */
char *xmemdupz(const void *data, size_t n);
/* xasprintf formats into a freshly allocated string. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ALLOC_GROW(array, needed, alloc) makes room for `needed` elements. */
#define ALLOC_GROW(x, nr, alloc)                                                   \
	do {                                                                       \
		if ((nr) > (alloc)) {                                              \
			(alloc) = (alloc) < 8 ? 8 : (alloc) * 2;                   \
			if ((alloc) < (nr))                                        \
				(alloc) = (nr);                                    \
			(x) = xrealloc((x), (alloc) * sizeof(*(x)));               \
		}                                                                  \
	} while (0)

#endif
