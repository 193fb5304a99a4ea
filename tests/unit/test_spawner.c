/*
 * The program spawner (outputs/spawner.h), as root: programs run as the
 * spawner's user, are children of the caller, can be signalled only when the
 * spawner started them, and end when the caller dies (even by SIGKILL). Each
 * case runs in a forked child: the spawner is one per process.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "outputs/spawner.h"

#define NOBODY 65534

static char dir[] = "/tmp/saker_test_spawner_XXXXXX";

static int setup(void **state)
{
	(void)state;
	if (geteuid() != 0) {
		fail_msg("the spawner switches users: run as root");
		return -1;
	}
	if (!mkdtemp(dir))
		return -1;
	return chmod(dir, 0777);
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static long read_num(const char *path, int wait_ms)
{
	for (int i = 0; i < wait_ms / 10; i++) {
		FILE *f = fopen(path, "re");
		long v = -1;

		if (f) {
			if (fscanf(f, "%ld", &v) != 1)
				v = -1;
			fclose(f);
		}
		if (v >= 0)
			return v;
		nanosleep(&(struct timespec){.tv_nsec = 10000000}, NULL);
	}
	return -1;
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

/* A program runs as nobody, as our child, reading the pipe we gave it. */
static int spawn_as_nobody(void)
{
	char cmd[256], out[128], err[256] = "";
	int pfd[2], st = 0;
	pid_t pid;

	if (saker_spawner_start("nobody", err, sizeof(err)))
		return 1;
	snprintf(out, sizeof(out), "%s/id", dir);
	snprintf(cmd, sizeof(cmd), "read l; echo \"$(id -u) $l\" > %s", out);
	if (pipe(pfd))
		return 2;
	pid = saker_spawner_spawn(cmd, pfd[0], err, sizeof(err));
	close(pfd[0]);
	if (pid <= 0)
		return 3;
	if (write(pfd[1], "42\n", 3) != 3)
		return 4;
	close(pfd[1]);
	/* Our child (CLONE_PARENT): we wait for it and see its status. */
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return 5;
	if (read_num(out, 1000) != NOBODY)
		return 6;
	/* Only programs it started: not pid 1, not a finished one. */
	if (saker_spawner_kill(1, 0) != -EPERM || saker_spawner_kill(pid, 0) != -ESRCH)
		return 7;
	/* A command that cannot run reports an error without leaving a child. */
	if (saker_spawner_spawn(NULL, -1, err, sizeof(err)) >= 0)
		return 8;
	saker_spawner_stop();
	if (saker_spawner_running())
		return 9;
	return 0;
}

static void test_spawn_as_nobody(void **state)
{
	(void)state;
	assert_int_equal(run_in_child(spawn_as_nobody), 0);
}

static int unknown_user(void)
{
	char err[256] = "";

	if (saker_spawner_start("no-such-user-saker", err, sizeof(err)) != -ENOENT)
		return 1;
	return strstr(err, "program_output.user no-such-user-saker: no such user") ? 0 : 2;
}

static void test_unknown_user(void **state)
{
	(void)state;
	assert_int_equal(run_in_child(unknown_user), 0);
}

/* Started, then its parent is killed (SIGKILL): the spawner ends the program. */
static int program_outlives_nothing(void)
{
	char cmd[256], pidf[128], err[256] = "";
	int pfd[2];

	snprintf(pidf, sizeof(pidf), "%s/pid", dir);
	if (saker_spawner_start("nobody", err, sizeof(err)) || pipe(pfd))
		_exit(1);
	snprintf(cmd, sizeof(cmd), "echo $$ > %s; exec sleep 1000", pidf);
	if (saker_spawner_spawn(cmd, pfd[0], err, sizeof(err)) <= 0)
		_exit(2);
	if (read_num(pidf, 5000) <= 0)
		_exit(3);
	raise(SIGKILL);
	return 4;
}

static void test_program_ends_with_its_parent(void **state)
{
	char pidf[128];
	long pid;
	int i;

	(void)state;
	assert_int_equal(run_in_child(program_outlives_nothing), 100 + SIGKILL);
	snprintf(pidf, sizeof(pidf), "%s/pid", dir);
	pid = read_num(pidf, 1000);
	assert_true(pid > 0);
	for (i = 0; i < 500 && kill((pid_t)pid, 0) == 0; i++) {
		char path[64], stat[256] = "";
		FILE *f;

		snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
		f = fopen(path, "re");
		if (f) {
			if (!fgets(stat, sizeof(stat), f))
				stat[0] = '\0';
			fclose(f);
		}
		if (strstr(stat, ") Z"))
			break;
		nanosleep(&(struct timespec){.tv_nsec = 10000000}, NULL);
	}
	if (i == 500)
		kill((pid_t)pid, SIGKILL);
	assert_true(i < 500);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_spawn_as_nobody),
	    cmocka_unit_test(test_unknown_user),
	    cmocka_unit_test(test_program_ends_with_its_parent),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
