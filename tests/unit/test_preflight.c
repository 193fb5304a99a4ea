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
#include <unistd.h>

#include <cmocka.h>

#include "app/preflight.h"

static char dir[] = "/tmp/saker_test_preflight_XXXXXX";

static int setup(void **state)
{
	(void)state;
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* A missing file is not created: the directory is only checked. */
static void test_append_missing_file(void **state)
{
	char path[256], err[512] = "";
	struct stat st;

	(void)state;
	snprintf(path, sizeof(path), "%s/new.log", dir);
	assert_int_equal(saker_preflight_append(path, err, sizeof(err)), 0);
	assert_int_equal(stat(path, &st), -1);
	assert_int_equal(errno, ENOENT);
}

/* An existing file is not written, truncated or removed. */
static void test_append_existing_file(void **state)
{
	char path[256], err[512] = "";
	struct stat st;
	FILE *f;

	(void)state;
	snprintf(path, sizeof(path), "%s/old.log", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("kept\n", f);
	fclose(f);
	assert_int_equal(saker_preflight_append(path, err, sizeof(err)), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 5);
}

static void test_append_failures(void **state)
{
	char path[256], target[256], err[512] = "";

	(void)state;
	snprintf(path, sizeof(path), "%s/no/such/dir.log", dir);
	assert_int_equal(saker_preflight_append(path, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "No such file or directory"));
	assert_int_equal(saker_preflight_append(dir, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "is not a regular file: refused"));
	/* a FIFO is refused as the run refuses it, without waiting for a reader */
	snprintf(path, sizeof(path), "%s/fifo", dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	assert_int_equal(saker_preflight_append(path, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "fifo is not a regular file: refused"));
	/* a symlink is never followed, even to a file the run could append to */
	snprintf(target, sizeof(target), "%s/old.log", dir);
	snprintf(path, sizeof(path), "%s/link.log", dir);
	assert_int_equal(symlink(target, path), 0);
	assert_int_equal(saker_preflight_append(path, err, sizeof(err)), -ELOOP);
	assert_non_null(strstr(err, "link.log is a symbolic link: refused"));
}

static void test_files_of_a_config(void **state)
{
	struct saker_config cfg;
	char path[256], err[512] = "";

	(void)state;
	saker_config_init(&cfg);
	/* nothing enabled that uses a file */
	assert_int_equal(saker_preflight_files(&cfg, err, sizeof(err)), 0);
	snprintf(path, sizeof(path), "file_output={enabled: true, filename: '%s/x/y.log'}", dir);
	assert_int_equal(saker_config_override(&cfg, path, err, sizeof(err), NULL, NULL), 0);
	assert_int_equal(saker_preflight_files(&cfg, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "file_output.filename: "));
	assert_non_null(strstr(err, "/x: No such file or directory"));
	snprintf(path, sizeof(path), "file_output.filename=%s/y.log", dir);
	assert_int_equal(saker_config_override(&cfg, path, err, sizeof(err), NULL, NULL), 0);
	assert_int_equal(saker_preflight_files(&cfg, err, sizeof(err)), 0);
	/* HTTP certificates must be readable when HTTP is on */
	snprintf(path, sizeof(path),
		 "http_output={enabled: true, url: 'http://127.0.0.1:1/', "
		 "ca_cert: '/nonexistent/ca.pem'}");
	assert_int_equal(saker_config_override(&cfg, path, err, sizeof(err), NULL, NULL), 0);
	assert_int_equal(saker_preflight_files(&cfg, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "http_output.ca_cert: /nonexistent/ca.pem: cannot read"));
	saker_config_free(&cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_append_missing_file),
	    cmocka_unit_test(test_append_existing_file),
	    cmocka_unit_test(test_append_failures),
	    cmocka_unit_test(test_files_of_a_config),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
