/*
 * Reading a whole input file (the configuration, a rules file, a PEM) into
 * memory, bounded: a file larger than the caller's limit is refused, not
 * truncated, and a regular file that says it is too large is refused before
 * anything is read. Pipes and character devices (/dev/stdin) are read to
 * their end, up to the limit.
 */
#ifndef SAKER_READFILE_H
#define SAKER_READFILE_H

#include <stddef.h>

/*
 * 0 with *out (NUL-terminated, free() it; the NUL is not counted in *len);
 * -EISDIR for a directory, -EFBIG for more than max bytes, -ENOMEM,
 * -EINVAL for a max of SIZE_MAX / 4 or more, or what open(2) or read(2)
 * said. *out is NULL on failure.
 */
int saker_readfile(const char *path, size_t max, char **out, size_t *len);

#endif
