/* arena.h - one region that owns every allocation of a parsed runbook.
 *
 * Allocate with arena_alloc()/arena_strdup(); nothing is freed one by one:
 * arena_release() frees everything at once.  Allocation failure aborts.
 * Memory returned is zeroed and aligned for any type.
 */
#ifndef RUNBOOK_ARENA_H
#define RUNBOOK_ARENA_H

#include <stddef.h>

struct arena_chunk;

struct arena {
	struct arena_chunk *head; /* newest chunk first; NULL when empty */
	size_t total;             /* bytes handed out, for diagnostics */
};

#define ARENA_INIT { NULL, 0 }

void *arena_alloc(struct arena *a, size_t size);
char *arena_strdup(struct arena *a, const char *s);
char *arena_memdupz(struct arena *a, const void *data, size_t len);
/* arena_grow returns a copy of `old` (old_count elements) with room for
 * new_count elements; the old copy stays in the arena until release. */
void *arena_grow(struct arena *a, void *old, size_t old_count, size_t new_count, size_t elem);
void arena_release(struct arena *a);

/* ARENA_PUSH(arena, array, count, alloc) makes room for one more element and
 * evaluates to a pointer to it (zeroed). */
#define ARENA_PUSH(ar, x, nr, alloc)                                                 \
	(((nr) >= (alloc)                                                            \
		  ? ((x) = arena_grow((ar), (x), (nr), (alloc) = (alloc) ? (alloc) * 2 : 4, \
				      sizeof(*(x))))                                 \
		  : (x)),                                                            \
	 &(x)[(nr)++])

#endif
