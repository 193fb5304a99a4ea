/*
 * Test helper: a cmocka fixture owning a fresh directory under /tmp,
 * removed with its files (one level: what the tests under it create) at
 * teardown. Include after <cmocka.h>. The test's state is a struct tmpdir.
 */
#ifndef SAKER_TEST_TMPDIR_H
#define SAKER_TEST_TMPDIR_H

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

struct tmpdir {
	char dir[64];
};

static inline int tmpdir_setup(void **state)
{
	struct tmpdir *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/saker-test-XXXXXX");
	if (!mkdtemp(f->dir)) {
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static inline int tmpdir_teardown(void **state)
{
	struct tmpdir *f = *state;
	DIR *d = opendir(f->dir);
	struct dirent *de;

	while (d && (de = readdir(d))) {
		if (de->d_name[0] != '.')
			unlinkat(dirfd(d), de->d_name, 0);
	}
	if (d)
		closedir(d);
	rmdir(f->dir);
	free(f);
	return 0;
}

#endif
