#include "lib/safefile.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

static bool others_may_write(const struct stat *st)
{
	return (st->st_mode & S_IWOTH) || ((st->st_mode & S_IWGRP) && st->st_gid != 0);
}

static int check_dir_stat(const char *name, const struct stat *st, uid_t uid, char *err,
			  size_t errlen)
{
	if (!S_ISDIR(st->st_mode))
		return fail(err, errlen, -ENOTDIR, "%s is not a directory", name);
	/* Its owner could rename entries in it, whatever the mode says. */
	if (st->st_uid != 0 && st->st_uid != uid)
		return fail(err, errlen, -EPERM, "directory %s is owned by uid %llu", name,
			    (unsigned long long)st->st_uid);
	if ((st->st_mode & S_IWOTH) && !(st->st_mode & S_ISVTX))
		return fail(err, errlen, -EPERM,
			    "directory %s is writable by everyone and not sticky", name);
	return 0;
}

/* Absolute form of path (malloc'd), without resolving anything. */
static char *absolute(const char *path)
{
	char cwd[PATH_MAX];
	char *s;

	if (path[0] == '/')
		return strdup(path);
	if (!getcwd(cwd, sizeof(cwd)))
		return NULL;
	if (asprintf(&s, "%s/%s", cwd, path) < 0)
		return NULL;
	return s;
}

/*
 * Calls fn on every prefix of an absolute path ("/", "/a", "/a/b"), the
 * whole path included; stops at the first non-zero return.
 */
static int each_prefix(char *p, int (*fn)(const char *prefix, void *ctx), void *ctx)
{
	size_t n = strlen(p);
	int rc = fn("/", ctx);

	for (size_t i = 1; rc == 0 && i <= n; i++) {
		if (i < n && p[i] != '/')
			continue;
		if (p[i - 1] == '/')
			continue; /* "//" or a trailing slash */
		char saved = p[i];

		p[i] = '\0';
		rc = fn(p, ctx);
		p[i] = saved;
	}
	return rc;
}

struct walk {
	uid_t uid;
	char *err;
	size_t errlen;
};

static int symlink_owner(const char *prefix, void *ctx)
{
	struct walk *w = ctx;
	struct stat st;

	if (lstat(prefix, &st) < 0) {
		int rc = -errno;

		return fail(w->err, w->errlen, rc, "%s: %s", prefix, strerror(-rc));
	}
	if (S_ISLNK(st.st_mode) && st.st_uid != 0 && st.st_uid != w->uid)
		return fail(w->err, w->errlen, -ELOOP, "symlink %s is owned by uid %llu", prefix,
			    (unsigned long long)st.st_uid);
	return 0;
}

static int dir_safe(const char *prefix, void *ctx)
{
	struct walk *w = ctx;
	struct stat st;

	if (stat(prefix, &st) < 0) {
		int rc = -errno;

		return fail(w->err, w->errlen, rc, "%s: %s", prefix, strerror(-rc));
	}
	return check_dir_stat(prefix, &st, w->uid, w->err, w->errlen);
}

int saker_safefile_check_dir(const char *dir, uid_t uid, char *err, size_t errlen)
{
	char dummy[1];
	struct walk w = {.uid = uid, .err = err ? err : dummy, .errlen = err ? errlen : 0};
	char *abs, *real;
	int rc;

	if (!dir || !*dir)
		return fail(err, errlen, -EINVAL, "empty directory name");
	abs = absolute(dir);
	if (!abs)
		return fail(err, errlen, -ENOMEM, "%s: out of memory", dir);
	/* Symlinks on the way as written: only root or we may have planted them. */
	rc = each_prefix(abs, symlink_owner, &w);
	free(abs);
	if (rc < 0)
		return rc;
	/* Then every directory the kernel will really pass through. */
	real = realpath(dir, NULL);
	if (!real) {
		rc = -errno;
		snprintf(w.err, w.errlen, "%s: %s", dir, strerror(-rc));
		return rc;
	}
	rc = each_prefix(real, dir_safe, &w);
	free(real);
	return rc;
}

/*
 * The part both entry points share: path split into its directory (opened
 * O_PATH, fd in *dfd, its stat in *dst) and last component (*base points
 * into path), with root's chain checks made. *dir is malloc'd for the caller.
 */
static int open_parent(const char *path, char **dir, const char **base, int *dfd, struct stat *dst,
		       char *err, size_t errlen)
{
	bool as_root = geteuid() == 0;
	const char *slash;
	int rc;

	*dir = NULL;
	*dfd = -1;
	if (!path || !*path)
		return fail(err, errlen, -EINVAL, "empty file name");
	slash = strrchr(path, '/');
	if (slash) {
		size_t dlen = (size_t)(slash - path);

		*dir = dlen ? strndup(path, dlen) : strdup("/");
		*base = slash + 1;
	} else {
		*dir = strdup(".");
		*base = path;
	}
	if (!*dir)
		return fail(err, errlen, -ENOMEM, "%s: out of memory", path);
	if (!**base || strcmp(*base, ".") == 0 || strcmp(*base, "..") == 0)
		return fail(err, errlen, -EINVAL, "%s: not a file name", path);
	if (as_root) {
		rc = saker_safefile_check_dir(*dir, geteuid(), err, errlen);
		if (rc < 0)
			return rc;
	}
	*dfd = open(*dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (*dfd < 0 || fstat(*dfd, dst) < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", *dir, strerror(-rc));
		return rc;
	}
	/* The directory actually opened, so a swap after the walk is caught too. */
	if (as_root)
		return check_dir_stat(*dir, dst, geteuid(), err, errlen);
	return 0;
}

/* The rules on the file itself (st from fstat or a no-follow fstatat). */
static int check_file_stat(const char *path, const struct stat *st, const struct stat *dst,
			   char *err, size_t errlen)
{
	bool as_root = geteuid() == 0;

	if (S_ISLNK(st->st_mode))
		return fail(err, errlen, -ELOOP, "%s is a symbolic link: refused", path);
	if (!S_ISREG(st->st_mode))
		return fail(err, errlen, -EINVAL, "%s is not a regular file: refused", path);
	if (as_root && st->st_uid != geteuid())
		return fail(err, errlen, -EPERM, "%s is owned by uid %llu: refused", path,
			    (unsigned long long)st->st_uid);
	/* A hard link planted by another user to a file of ours elsewhere. */
	if (as_root && st->st_nlink > 1 && others_may_write(dst))
		return fail(err, errlen, -EPERM,
			    "%s has several hard links in a directory others may write to: "
			    "refused",
			    path);
	return 0;
}

int saker_safefile_open_append(const char *path, char *err, size_t errlen)
{
	const int flags = O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY;
	const char *base = NULL;
	char *dir = NULL;
	struct stat dst, st;
	int dfd = -1, fd = -1, rc;

	rc = open_parent(path, &dir, &base, &dfd, &dst, err, errlen);
	if (rc < 0)
		goto out;
	/* O_NONBLOCK: opening a planted FIFO must not wait for a reader. */
	fd = openat(dfd, base, flags | O_NONBLOCK, 0600);
	if (fd < 0) {
		rc = -errno;
		/*
		 * Say what was refused: the kernel answers ENXIO for a FIFO without
		 * a reader and EACCES for a symlink it protects (protected_symlinks).
		 * Root without CAP_DAC_OVERRIDE (after the drop) meets another's file.
		 */
		if (fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0) {
			int why = check_file_stat(path, &st, &dst, err, errlen);

			if (why < 0) {
				rc = why;
				goto out;
			}
		}
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(-rc));
		goto out;
	}
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(-rc));
		goto out;
	}
	rc = check_file_stat(path, &st, &dst, err, errlen);
	if (rc < 0)
		goto out;
	if (fcntl(fd, F_SETFL, O_WRONLY | O_APPEND) < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(-rc));
		goto out;
	}
	rc = fd;
	fd = -1;
out:
	if (fd >= 0)
		close(fd);
	if (dfd >= 0)
		close(dfd);
	free(dir);
	return rc;
}

int saker_safefile_check_append(const char *path, char *err, size_t errlen)
{
	const char *base = NULL;
	char *dir = NULL;
	struct stat dst, st;
	int dfd = -1, rc;

	rc = open_parent(path, &dir, &base, &dfd, &dst, err, errlen);
	if (rc < 0)
		goto out;
	if (fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		rc = -errno;
		if (rc != -ENOENT) {
			snprintf(err, errlen, "cannot open %s: %s", path, strerror(-rc));
			goto out;
		}
		/* The run would create it: the directory must let us (EROFS included). */
		rc = 0;
		if (faccessat(dfd, ".", W_OK | X_OK, AT_EACCESS) < 0) {
			rc = -errno;
			snprintf(err, errlen, "cannot create %s: %s", path, strerror(-rc));
		}
		goto out;
	}
	rc = check_file_stat(path, &st, &dst, err, errlen);
	if (rc < 0)
		goto out;
	if (faccessat(dfd, base, W_OK, AT_EACCESS | AT_SYMLINK_NOFOLLOW) < 0) {
		rc = -errno;
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(-rc));
	}
out:
	if (dfd >= 0)
		close(dfd);
	free(dir);
	return rc;
}
