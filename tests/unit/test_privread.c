/*
 * The /proc helper (lib/privread.h), as root: after the caller gives up
 * CAP_SYS_PTRACE it still reads another user's exe, cwd, fd/<n> and
 * fdinfo/<n> through the helper, the helper answers nothing else, and
 * without the helper the caller's own refusal is what it gets. Each case runs
 * in a forked child: the helper is one per process and the drop is for good.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/privread.h"

#define NOBODY 65534

static pid_t other = -1;

/* A process of another user that holds /dev/null as its fd 0, and sits in / . */
static int setup(void **state)
{
	int ready[2];
	char c;

	(void)state;
	if (geteuid() != 0) {
		fail_msg("reading another user's /proc needs root: run as root");
		return -1;
	}
	if (pipe(ready))
		return -1;
	other = fork();
	if (other == 0) {
		int null = open("/dev/null", O_RDONLY);

		if (null < 0 || dup2(null, 0) < 0 || chdir("/") || setgid(NOBODY) ||
		    setuid(NOBODY) || write(ready[1], "x", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	close(ready[1]);
	if (other < 0 || read(ready[0], &c, 1) != 1)
		return -1;
	close(ready[0]);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	if (other > 0) {
		kill(other, SIGKILL);
		waitpid(other, NULL, 0);
	}
	return 0;
}

static int drop_ptrace(void)
{
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
	struct __user_cap_data_struct d[2];

	if (syscall(SYS_capget, &h, d))
		return -1;
	d[0].effective &= ~(1u << CAP_SYS_PTRACE);
	d[0].permitted &= ~(1u << CAP_SYS_PTRACE);
	return (int)syscall(SYS_capset, &h, d);
}

static int reads(bool with_helper)
{
	char path[64], buf[4096], err[256] = "";
	int dir;

	if (with_helper && saker_privread_start(err, sizeof(err)))
		return 1;
	if (drop_ptrace())
		return 2;
	snprintf(path, sizeof(path), "/proc/%d", (int)other);
	dir = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0)
		return 3;
	if (!with_helper) {
		/* Not ours to read without CAP_SYS_PTRACE: the refusal comes back as is. */
		if (saker_privread_link(dir, "exe", buf, sizeof(buf)) != -EACCES || buf[0])
			return 4;
		return 0;
	}
	if (saker_privread_link(dir, "cwd", buf, sizeof(buf)) != 1 || strcmp(buf, "/"))
		return 5;
	if (saker_privread_link(dir, "exe", buf, sizeof(buf)) <= 0 || buf[0] != '/')
		return 6;
	if (saker_privread_link(dir, "fd/0", buf, sizeof(buf)) <= 0 || strcmp(buf, "/dev/null"))
		return 7;
	if (saker_privread_file(dir, "fdinfo/0", buf, sizeof(buf)) <= 0 || !strstr(buf, "flags:"))
		return 8;
	/* Nothing but those names: not a link elsewhere, not another file. */
	if (saker_privread_link(dir, "root", buf, sizeof(buf)) != -EACCES)
		return 9;
	if (saker_privread_file(dir, "fdinfo/x", buf, sizeof(buf)) >= 0)
		return 10;
	if (saker_privread_link(dir, "fd/0/..", buf, sizeof(buf)) >= 0)
		return 11;
	/* A directory outside procfs is refused by the helper too. */
	close(dir);
	dir = open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0 || symlinkat("/etc/shadow", dir, "saker-privread-test") < 0)
		return 12;
	if (saker_privread_link(dir, "saker-privread-test", buf, sizeof(buf)) <= 0)
		return 13; /* readable by the caller itself: no helper involved */
	(void)unlinkat(dir, "saker-privread-test", 0);
	close(dir);
	if (saker_privread_pid() <= 0)
		return 14;
	saker_privread_stop();
	return saker_privread_pid() == 0 ? 0 : 15;
}

static int with_helper(void)
{
	return reads(true);
}

static int without_helper(void)
{
	return reads(false);
}

static int run_in_child(int (*fn)(void))
{
	int st = 0;
	pid_t pid = fork();

	if (pid == 0)
		_exit(fn());
	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 100 + WTERMSIG(st);
}

static void test_reads_through_the_helper(void **state)
{
	(void)state;
	assert_int_equal(run_in_child(with_helper), 0);
}

static void test_without_helper_the_refusal_stays(void **state)
{
	(void)state;
	assert_int_equal(run_in_child(without_helper), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_reads_through_the_helper),
	    cmocka_unit_test(test_without_helper_the_refusal_stays),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
