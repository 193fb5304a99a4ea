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

int saker_safefile_open_append(const char *path, char *err, size_t errlen)
{
	const int flags = O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY;
	bool as_root = geteuid() == 0;
	const char *base;
	char *dir = NULL;
	struct stat dst, st;
	int dfd = -1, fd = -1, rc;

	if (!path || !*path)
		return fail(err, errlen, -EINVAL, "empty file name");
	base = strrchr(path, '/');
	if (base) {
		size_t dlen = (size_t)(base - path);

		dir = dlen ? strndup(path, dlen) : strdup("/");
		base++;
	} else {
		dir = strdup(".");
		base = path;
	}
	if (!dir)
		return fail(err, errlen, -ENOMEM, "%s: out of memory", path);
	if (!*base || strcmp(base, ".") == 0 || strcmp(base, "..") == 0) {
		rc = fail(err, errlen, -EINVAL, "%s: not a file name", path);
		goto out;
	}
	if (as_root) {
		rc = saker_safefile_check_dir(dir, geteuid(), err, errlen);
		if (rc < 0)
			goto out;
	}
	dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fstat(dfd, &dst) < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", dir, strerror(-rc));
		goto out;
	}
	/* The directory actually opened, so a swap after the walk is caught too. */
	if (as_root) {
		rc = check_dir_stat(dir, &dst, geteuid(), err, errlen);
		if (rc < 0)
			goto out;
	}
	/* O_NONBLOCK: opening a planted FIFO must not wait for a reader. */
	fd = openat(dfd, base, flags | O_NONBLOCK, 0600);
	if (fd < 0) {
		rc = -errno;
		/*
		 * Say what was refused: the kernel answers ENXIO for a FIFO without
		 * a reader and EACCES for a symlink it protects (protected_symlinks).
		 */
		if (fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0) {
			if (S_ISLNK(st.st_mode))
				rc = -ELOOP;
			else if (!S_ISREG(st.st_mode))
				rc = -EINVAL;
			/* Root without CAP_DAC_OVERRIDE (after the drop) meets another's file here.
			 */
			else if (as_root && st.st_uid != geteuid())
				rc = -EPERM;
		}
		if (rc == -EPERM)
			snprintf(err, errlen, "%s is owned by uid %llu: refused", path,
				 (unsigned long long)st.st_uid);
		else if (rc == -EINVAL)
			snprintf(err, errlen, "%s is not a regular file: refused", path);
		else if (rc == -ELOOP)
			snprintf(err, errlen, "%s is a symbolic link: refused", path);
		else
			snprintf(err, errlen, "cannot open %s: %s", path, strerror(-rc));
		goto out;
	}
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(-rc));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = fail(err, errlen, -EINVAL, "%s is not a regular file: refused", path);
		goto out;
	}
	if (as_root && st.st_uid != geteuid()) {
		rc = fail(err, errlen, -EPERM, "%s is owned by uid %llu: refused", path,
			  (unsigned long long)st.st_uid);
		goto out;
	}
	/* A hard link planted by another user to a file of ours elsewhere. */
	if (as_root && st.st_nlink > 1 && others_may_write(&dst)) {
		rc = fail(err, errlen, -EPERM,
			  "%s has several hard links in a directory others may write to: "
			  "refused",
			  path);
		goto out;
	}
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
