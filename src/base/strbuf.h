/* strbuf.h - growable, always NUL-terminated byte buffers.
 *
 * Put a `struct strbuf` on the stack with STRBUF_INIT, append to it, read
 * `buf`/`len`, and release it with strbuf_release().  `buf` is never NULL and
 * always NUL-terminated, even when `len` is 0; it may contain NUL bytes.
 * Allocation failure aborts (see xalloc.h), so appends cannot fail.
 */
#ifndef RUNBOOK_STRBUF_H
#define RUNBOOK_STRBUF_H

#include <stdarg.h>
#include <stddef.h>

struct strbuf {
	size_t alloc; /* bytes allocated for buf, 0 while buf is the shared "" */
	size_t len;   /* bytes used, not counting the terminating NUL */
	char *buf;    /* the bytes; never NULL */
};

extern char strbuf_slopbuf[];
#define STRBUF_INIT { 0, 0, strbuf_slopbuf }

void strbuf_init(struct strbuf *sb, size_t hint);
/* strbuf_release frees the bytes and leaves sb empty and reusable. */
void strbuf_release(struct strbuf *sb);
/* strbuf_detach hands the bytes to the caller (free() them); sb is reset. */
char *strbuf_detach(struct strbuf *sb, size_t *len);
void strbuf_grow(struct strbuf *sb, size_t extra);
void strbuf_setlen(struct strbuf *sb, size_t len);
#define strbuf_reset(sb) strbuf_setlen((sb), 0)

void strbuf_add(struct strbuf *sb, const void *data, size_t len);
void strbuf_addstr(struct strbuf *sb, const char *s);
void strbuf_addch(struct strbuf *sb, int c);
void strbuf_addchars(struct strbuf *sb, int c, size_t n);
void strbuf_addf(struct strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void strbuf_vaddf(struct strbuf *sb, const char *fmt, va_list ap);
void strbuf_addbuf(struct strbuf *sb, const struct strbuf *other);
/* strbuf_add_json_string appends s as a JSON string literal with quotes. */
void strbuf_add_json_string(struct strbuf *sb, const char *s, size_t len);

void strbuf_trim(struct strbuf *sb);
void strbuf_rtrim(struct strbuf *sb);

/* strbuf_read_fd appends everything readable from fd until EOF.
 * Returns 0, or -1 with errno set (bytes read so far are kept). */
int strbuf_read_fd(struct strbuf *sb, int fd);

#endif
