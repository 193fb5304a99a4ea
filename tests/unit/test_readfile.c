#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/readfile.h"

struct fixture {
	char dir[64];
	char path[128];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/saker-test-readfile-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/f", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	(void)unlink(f->path);
	(void)rmdir(f->dir);
	free(f);
	return 0;
}

static void put(const struct fixture *f, const char *s, size_t n)
{
	FILE *fp = fopen(f->path, "w");

	assert_non_null(fp);
	assert_int_equal(fwrite(s, 1, n, fp), n);
	assert_int_equal(fclose(fp), 0);
}

static void test_whole_file(void **state)
{
	struct fixture *f = *state;
	char *buf;
	size_t len;

	put(f, "a: 1\nb: \0x\n", 11); /* a NUL inside is kept; the length says where it ends */
	assert_int_equal(saker_readfile(f->path, 1024, &buf, &len), 0);
	assert_int_equal(len, 11);
	assert_memory_equal(buf, "a: 1\nb: \0x\n", 11);
	assert_int_equal(buf[len], '\0');
	free(buf);
	/* empty: a buffer all the same */
	put(f, "", 0);
	assert_int_equal(saker_readfile(f->path, 1024, &buf, &len), 0);
	assert_int_equal(len, 0);
	assert_string_equal(buf, "");
	free(buf);
}

static void test_limit(void **state)
{
	struct fixture *f = *state;
	size_t n = 100000, len = 7;
	char *big = malloc(n), *buf = (char *)1;

	assert_non_null(big);
	memset(big, 'x', n);
	put(f, big, n);
	/* exactly the limit is fine, one byte less is refused */
	assert_int_equal(saker_readfile(f->path, n, &buf, &len), 0);
	assert_int_equal(len, n);
	assert_memory_equal(buf, big, n);
	free(buf);
	assert_int_equal(saker_readfile(f->path, n - 1, &buf, &len), -EFBIG);
	assert_null(buf);
	assert_int_equal(len, 0);
	assert_int_equal(saker_readfile(f->path, 0, &buf, &len), -EFBIG);
	assert_int_equal(saker_readfile(f->path, SIZE_MAX, &buf, &len), -EINVAL);
	free(big);
}

static void test_errors(void **state)
{
	struct fixture *f = *state;
	char *buf;
	size_t len;

	assert_int_equal(saker_readfile("/nonexistent/x", 10, &buf, &len), -ENOENT);
	assert_null(buf);
	assert_int_equal(saker_readfile(f->dir, 10, &buf, &len), -EISDIR);
	assert_null(buf);
	/* a character device reads to its end */
	assert_int_equal(saker_readfile("/dev/null", 10, &buf, &len), 0);
	assert_int_equal(len, 0);
	free(buf);
}

/* A pipe has no size: read to its end, in chunks, up to the limit. */
static void test_pipe(void **state)
{
	struct fixture *f = *state;
	size_t n = 50000, len;
	char *buf, *data = malloc(n);
	int st;

	assert_non_null(data);
	for (size_t i = 0; i < n; i++)
		data[i] = (char)('a' + i % 26);
	assert_int_equal(mkfifo(f->path, 0600), 0);
	for (int round = 0; round < 2; round++) {
		pid_t pid = fork();

		assert_true(pid >= 0);
		if (pid == 0) {
			int fd = open(f->path, O_WRONLY);
			size_t off = 0;

			while (fd >= 0 && off < n) {
				ssize_t w = write(fd, data + off, n - off > 3000 ? 3000 : n - off);

				if (w <= 0)
					break;
				off += (size_t)w;
			}
			_exit(off == n ? 0 : 1);
		}
		if (round == 0) {
			assert_int_equal(saker_readfile(f->path, n, &buf, &len), 0);
			assert_int_equal(len, n);
			assert_memory_equal(buf, data, n);
			free(buf);
		} else {
			assert_int_equal(saker_readfile(f->path, n - 1, &buf, &len), -EFBIG);
		}
		assert_int_equal(waitpid(pid, &st, 0), pid);
		/* the writer of the refused round may see the pipe close early */
		if (round == 0)
			assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	free(data);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_whole_file, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_limit, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pipe, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
