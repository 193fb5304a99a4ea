#include "lib/safeopen.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int saker_safe_open_append(const char *path, char *err, size_t errlen)
{
	struct stat st;
	int fd, flags, e;

	if (!path || !path[0]) {
		snprintf(err, errlen, "empty path");
		return -EINVAL;
	}
	/* O_NONBLOCK: opening a FIFO nobody reads fails (ENXIO) instead of blocking. */
	fd = open(path,
		  O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK,
		  0600);
	if (fd < 0) {
		e = errno;
		snprintf(err, errlen, "cannot open %s: %s", path,
			 e == ELOOP ? "it is a symbolic link" : strerror(e));
		return -e;
	}
	if (fstat(fd, &st)) {
		e = errno;
		close(fd);
		snprintf(err, errlen, "cannot stat %s: %s", path, strerror(e));
		return -e;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		snprintf(err, errlen, "cannot use %s: not a regular file", path);
		return -EINVAL;
	}
	/* Writes to a regular file do not block anyway; keep the descriptor ordinary. */
	flags = fcntl(fd, F_GETFL);
	if (flags >= 0)
		(void)fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
	return fd;
}
