#include "lib/readfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

/* Unknown sizes (pipes, devices) start here and double. */
#define FIRST_CHUNK 8192

/* hint: the first allocation (a regular file's size and one byte, to see its end). */
static int read_fd(int fd, size_t max, size_t hint, char **out, size_t *len)
{
	size_t cap = 0, n = 0;
	char *buf = NULL;

	for (;;) {
		ssize_t r;

		if (n == cap) {
			size_t next = cap ? 2 * cap : hint;
			char *bigger;

			/* one byte past max tells "exactly max" from "more" */
			if (cap == max + 1)
				break;
			if (next > max + 1)
				next = max + 1;
			bigger = realloc(buf, next + 1);
			if (!bigger) {
				free(buf);
				return -ENOMEM;
			}
			buf = bigger;
			cap = next;
		}
		r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;

			free(buf);
			return -e;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (n > max) {
		free(buf);
		return -EFBIG;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
}

int saker_readfile(const char *path, size_t max, char **out, size_t *len)
{
	struct stat st;
	size_t hint = FIRST_CHUNK;
	int fd, ret;

	*out = NULL;
	*len = 0;
	if (max >= SIZE_MAX / 4)
		return -EINVAL;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) == 0) {
		if (S_ISDIR(st.st_mode)) {
			close(fd);
			return -EISDIR;
		}
		if (S_ISREG(st.st_mode)) {
			if ((unsigned long long)st.st_size > max) {
				close(fd);
				return -EFBIG;
			}
			/* its size and one byte more, to see the end without a realloc */
			hint = (size_t)st.st_size + 1;
		}
	}
	ret = read_fd(fd, max, hint, out, len);
	close(fd);
	return ret;
}
