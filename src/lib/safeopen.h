/*
 * Opening a file saker appends records to (the loss ledger) without being
 * tricked into writing elsewhere: the last component must not be a symlink,
 * the result must be a regular file, and a FIFO without a reader cannot
 * block the event loop. Minimal on purpose; the outputs rework may bring a
 * shared one that supersedes it.
 */
#ifndef SAKER_SAFEOPEN_H
#define SAKER_SAFEOPEN_H

#include <stddef.h>

/*
 * O_WRONLY|O_APPEND|O_CREAT|O_NOFOLLOW|O_CLOEXEC|O_NOCTTY, mode 0600 when
 * created. Returns the fd, or a negative errno with a reason in err:
 * -ELOOP (a symlink), -EINVAL (not a regular file), or open's error.
 */
int saker_safe_open_append(const char *path, char *err, size_t errlen);

#endif
