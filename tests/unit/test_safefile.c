/*
 * saker_safefile_open_append: the checks an appending root process needs
 * against files and directories other users control. Runs as root (the
 * rules that matter are root's); "another user" is uid 65534.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <unistd.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "lib/safefile.h"

#define OTHER 65534

struct fx {
	char dir[64];
	char err[512];
};

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	if (geteuid() != 0) {
		fail_msg("these checks are root's: run as root");
		return -1;
	}
	strcpy(f->dir, "/tmp/saker-safefile-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	nftw(f->dir, rm_cb, 8, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static void path(char *buf, size_t len, const struct fx *f, const char *rel)
{
	snprintf(buf, len, "%s/%s", f->dir, rel);
}

static void mkdir_mode(const char *p, mode_t mode, uid_t uid)
{
	assert_int_equal(mkdir(p, 0700), 0);
	assert_int_equal(chmod(p, mode), 0);
	assert_int_equal(chown(p, uid, uid), 0);
}

static void test_creates_0600_regular_file(void **state)
{
	struct fx *f = *state;
	char p[200];
	struct stat st;
	int fd, fl;

	path(p, sizeof(p), f, "alerts.json");
	fd = saker_safefile_open_append(p, f->err, sizeof(f->err));
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	fl = fcntl(fd, F_GETFL);
	assert_true(fl & O_APPEND);
	assert_false(fl & O_NONBLOCK);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	assert_int_equal(write(fd, "a\n", 2), 2);
	close(fd);
	/* Appends to what is there, keeps the mode a user chose. */
	assert_int_equal(chmod(p, 0640), 0);
	fd = saker_safefile_open_append(p, f->err, sizeof(f->err));
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "b\n", 2), 2);
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_size, 4);
	assert_int_equal(st.st_mode & 07777, 0640);
	close(fd);
	/* A relative name works from the current directory. */
	char cwd[256];
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(f->dir), 0);
	fd = saker_safefile_open_append("rel.json", f->err, sizeof(f->err));
	assert_int_equal(chdir(cwd), 0);
	assert_true(fd >= 0);
	close(fd);
}

static void test_refuses_symlink_and_non_regular(void **state)
{
	struct fx *f = *state;
	char p[200], target[200];

	path(target, sizeof(target), f, "target");
	path(p, sizeof(p), f, "link");
	assert_int_equal(symlink(target, p), 0);
	/* Dangling or not, a symlink as the last component is never followed. */
	assert_int_equal(saker_safefile_open_append(p, f->err, sizeof(f->err)), -ELOOP);
	assert_non_null(strstr(f->err, "is a symbolic link"));
	assert_int_not_equal(access(target, F_OK), 0);

	/* A FIFO: refused at once, without waiting for a reader. */
	path(p, sizeof(p), f, "fifo");
	assert_int_equal(mkfifo(p, 0600), 0);
	assert_int_equal(saker_safefile_open_append(p, f->err, sizeof(f->err)), -EINVAL);
	assert_non_null(strstr(f->err, "not a regular file"));
	assert_int_equal(saker_safefile_open_append("/dev/null", f->err, sizeof(f->err)), -EINVAL);
	path(p, sizeof(p), f, "d");
	assert_int_equal(mkdir(p, 0700), 0);
	assert_true(saker_safefile_open_append(p, f->err, sizeof(f->err)) < 0);
	assert_int_equal(saker_safefile_open_append("", f->err, sizeof(f->err)), -EINVAL);
	assert_int_equal(saker_safefile_open_append(NULL, f->err, sizeof(f->err)), -EINVAL);
}

static void test_refuses_file_of_another_user(void **state)
{
	struct fx *f = *state;
	char p[200];
	int fd;

	path(p, sizeof(p), f, "theirs");
	fd = open(p, O_WRONLY | O_CREAT, 0666);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(chown(p, OTHER, OTHER), 0);
	assert_int_equal(saker_safefile_open_append(p, f->err, sizeof(f->err)), -EPERM);
	assert_non_null(strstr(f->err, "is owned by uid 65534"));
}

static void test_world_writable_directories(void **state)
{
	struct fx *f = *state;
	char d[200], p[300], t[240];
	int fd;

	/* Without the sticky bit: anyone can swap the file, so refused. */
	path(d, sizeof(d), f, "open");
	mkdir_mode(d, 0777, 0);
	snprintf(p, sizeof(p), "%s/x", d);
	assert_int_equal(saker_safefile_open_append(p, f->err, sizeof(f->err)), -EPERM);
	assert_non_null(strstr(f->err, "writable by everyone and not sticky"));
	/* Also further up the chain. */
	snprintf(p, sizeof(p), "%s/sub", d);
	mkdir_mode(p, 0755, 0);
	snprintf(p, sizeof(p), "%s/sub/x", d);
	assert_int_equal(saker_safefile_open_append(p, f->err, sizeof(f->err)), -EPERM);

	/* Sticky (like /tmp): fine for our own file ... */
	path(d, sizeof(d), f, "tmp");
	mkdir_mode(d, 01777, 0);
	snprintf(p, sizeof(p), "%s/ours", d);
	fd = saker_safefile_open_append(p, f->err, sizeof(f->err));
	assert_true(fd >= 0);
	close(fd);
	/* ... but not for a symlink another user planted there ... */
	snprintf(p, sizeof(p), "%s/planted", d);
	snprintf(t, sizeof(t), "%s/tmp/ours", f->dir);
	assert_int_equal(symlink(t, p), 0);
	assert_int_equal(lchown(p, OTHER, OTHER), 0);
	assert_int_equal(saker_safefile_open_append(p, f->err, sizeof(f->err)), -ELOOP);
	/* ... nor for a hard link to one of our files. */
	snprintf(p, sizeof(p), "%s/hard", d);
	assert_int_equal(link(t, p), 0);
	assert_int_equal(saker_safefile_open_append(p, f->err, sizeof(f->err)), -EPERM);
	assert_non_null(strstr(f->err, "several hard links"));
}

static void test_directories_of_another_user(void **state)
{
	struct fx *f = *state;
	char d[200], p[300], l[240];

	/* Its owner can rename entries whatever the mode: refused. */
	path(d, sizeof(d), f, "theirs");
	mkdir_mode(d, 0755, OTHER);
	snprintf(p, sizeof(p), "%s/x", d);
	assert_int_equal(saker_safefile_open_append(p, f->err, sizeof(f->err)), -EPERM);
	assert_non_null(strstr(f->err, "is owned by uid 65534"));

	/* A symlinked directory on the way: only root's (or ours) is followed. */
	path(d, sizeof(d), f, "real");
	mkdir_mode(d, 0755, 0);
	path(l, sizeof(l), f, "via");
	assert_int_equal(symlink(d, l), 0);
	snprintf(p, sizeof(p), "%s/x", l);
	int fd = saker_safefile_open_append(p, f->err, sizeof(f->err));
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(lchown(l, OTHER, OTHER), 0);
	assert_int_equal(saker_safefile_open_append(p, f->err, sizeof(f->err)), -ELOOP);
	assert_non_null(strstr(f->err, "symlink"));
	assert_non_null(strstr(f->err, "owned by uid 65534"));

	/* The check alone, for a directory. */
	assert_int_equal(saker_safefile_check_dir(d, 0, f->err, sizeof(f->err)), 0);
	assert_int_equal(saker_safefile_check_dir(l, 0, f->err, sizeof(f->err)), -ELOOP);
	/* For that other user, their own link is fine. */
	assert_int_equal(saker_safefile_check_dir(l, OTHER, f->err, sizeof(f->err)), 0);
	assert_int_equal(saker_safefile_check_dir("/nonexistent-saker", 0, f->err, sizeof(f->err)),
			 -ENOENT);
}

/*
 * The check alone (--dry-run) refuses what the open refuses, with the same
 * errno, and creates or opens nothing itself.
 */
static void check_then_open(const char *p, int want, char *err, size_t errlen)
{
	struct stat before, after;
	int had = lstat(p, &before) == 0;
	int fd;

	assert_int_equal(saker_safefile_check_append(p, err, errlen), want);
	if (!had)
		assert_int_equal(lstat(p, &after), -1);
	else {
		assert_int_equal(lstat(p, &after), 0);
		assert_int_equal(after.st_size, before.st_size);
	}
	fd = saker_safefile_open_append(p, err, errlen);
	if (want == 0) {
		assert_true(fd >= 0);
		close(fd);
	} else {
		assert_int_equal(fd, want);
	}
}

static void test_check_agrees_with_open(void **state)
{
	struct fx *f = *state;
	char p[200], t[240], d[200];
	int fd;

	path(p, sizeof(p), f, "new.json");
	check_then_open(p, 0, f->err, sizeof(f->err));
	/* existing and ours */
	check_then_open(p, 0, f->err, sizeof(f->err));
	path(t, sizeof(t), f, "link");
	assert_int_equal(symlink(p, t), 0);
	check_then_open(t, -ELOOP, f->err, sizeof(f->err));
	assert_non_null(strstr(f->err, "is a symbolic link: refused"));
	path(p, sizeof(p), f, "fifo");
	assert_int_equal(mkfifo(p, 0600), 0);
	check_then_open(p, -EINVAL, f->err, sizeof(f->err));
	path(p, sizeof(p), f, "theirs");
	fd = open(p, O_WRONLY | O_CREAT, 0666);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(chown(p, OTHER, OTHER), 0);
	check_then_open(p, -EPERM, f->err, sizeof(f->err));
	path(d, sizeof(d), f, "open");
	mkdir_mode(d, 0777, 0);
	snprintf(t, sizeof(t), "%s/x", d);
	check_then_open(t, -EPERM, f->err, sizeof(f->err));
	path(p, sizeof(p), f, "missing/x");
	check_then_open(p, -ENOENT, f->err, sizeof(f->err));
	assert_int_equal(saker_safefile_check_append("", f->err, sizeof(f->err)), -EINVAL);
	assert_int_equal(saker_safefile_check_append(NULL, f->err, sizeof(f->err)), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_creates_0600_regular_file, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refuses_symlink_and_non_regular, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refuses_file_of_another_user, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_world_writable_directories, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_directories_of_another_user, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_check_agrees_with_open, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
