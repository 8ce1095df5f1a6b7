/* wrapper.h - system calls done in full.
 *
 * write_in_full writes all of buf, retrying short writes and EINTR; it
 * returns 0, or -1 with errno set (a write() that makes no progress is EIO).
 */
#ifndef RUNBOOK_WRAPPER_H
#define RUNBOOK_WRAPPER_H

#include <stddef.h>

int write_in_full(int fd, const void *buf, size_t len);

#endif
