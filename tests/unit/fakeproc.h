/*
 * Test helper: a directory laid out like /proc with single-threaded
 * processes (stat, status, cmdline, exe and cwd links, an fd directory), for
 * tests of modules that read processes through the view.
 */
#ifndef SAKER_TEST_FAKEPROC_H
#define SAKER_TEST_FAKEPROC_H

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static inline void fp_write(const char *root, const char *rel, const char *s, size_t n)
{
	char path[2 * PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	f = fopen(path, "w");
	if (!f)
		abort();
	if (fwrite(s, 1, n, f) != n)
		abort();
	fclose(f);
}

/* Process pid (its only thread pid) of uid, running exe with argv "a\0b\0". */
static inline void fp_add(const char *root, unsigned pid, const char *comm, const char *exe,
			  const char *argv, size_t argv_len, unsigned uid)
{
	char rel[256], buf[1024], path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%u", root, pid);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/%u/task", root, pid);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/%u/task/%u", root, pid, pid);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/%u/fd", root, pid);
	mkdir(path, 0755);
	snprintf(rel, sizeof(rel), "%u/cmdline", pid);
	fp_write(root, rel, argv, argv_len);
	snprintf(path, sizeof(path), "%s/%u/exe", root, pid);
	if (symlink(exe, path))
		abort();
	snprintf(path, sizeof(path), "%s/%u/cwd", root, pid);
	if (symlink("/", path))
		abort();
	snprintf(rel, sizeof(rel), "%u/cgroup", pid);
	fp_write(root, rel, "0::/\n", 5);
	snprintf(rel, sizeof(rel), "%u/task/%u/stat", pid, pid);
	snprintf(buf, sizeof(buf),
		 "%u (%s) S 1 %u %u 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 500 1000 10 "
		 "18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 3 0 0 0 0 0\n",
		 pid, comm, pid, pid);
	fp_write(root, rel, buf, strlen(buf));
	snprintf(rel, sizeof(rel), "%u/task/%u/status", pid, pid);
	snprintf(buf, sizeof(buf), "Name:\t%s\nUid:\t%u\t%u\t%u\t%u\nGid:\t0\t0\t0\t0\n", comm, uid,
		 uid, uid, uid);
	fp_write(root, rel, buf, strlen(buf));
}

/*
 * Pid's only thread now in state (Z: exited, not reaped) with start time
 * start_ticks; a zombie's exe and cwd links and cmdline are gone, as /proc
 * shows them (unreadable, empty).
 */
static inline void fp_set_state(const char *root, unsigned pid, char state,
				unsigned long start_ticks)
{
	char rel[256], buf[1024], path[PATH_MAX];

	snprintf(rel, sizeof(rel), "%u/task/%u/stat", pid, pid);
	snprintf(buf, sizeof(buf),
		 "%u (x) %c 1 %u %u 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 %lu 1000 10 "
		 "18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 3 0 0 0 0 0\n",
		 pid, state, pid, pid, start_ticks);
	fp_write(root, rel, buf, strlen(buf));
	if (state != 'Z')
		return;
	snprintf(path, sizeof(path), "%s/%u/exe", root, pid);
	unlink(path);
	snprintf(path, sizeof(path), "%s/%u/cwd", root, pid);
	unlink(path);
	snprintf(rel, sizeof(rel), "%u/cmdline", pid);
	fp_write(root, rel, "", 0);
}

static inline void fp_remove(const char *root, unsigned pid)
{
	char cmd[PATH_MAX + 32];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s/%u'", root, pid);
	if (system(cmd))
		abort();
}

static inline void fp_make_root(char *root, size_t len)
{
	snprintf(root, len, "/tmp/saker-fakeproc-XXXXXX");
	if (!mkdtemp(root))
		abort();
}

static inline void fp_remove_root(const char *root)
{
	char cmd[PATH_MAX + 32];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	if (system(cmd))
		abort();
}

#endif
