/*
 * The capability drop, in forked children (it cannot be undone): every thread
 * ends with the kept set, the bounding set and no_new_privs, threads started
 * before the drop included; a thread that blocks the drop signal is named.
 */
#include <dirent.h>
#include <errno.h>
#include <linux/capability.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "app/privilege.h"

static uint64_t status_field(const char *path, const char *name)
{
	char line[256];
	unsigned long long v = ~0ULL;
	size_t n = strlen(name);
	FILE *f = fopen(path, "re");

	if (!f)
		return ~0ULL;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, name, n) == 0 && line[n] == ':')
			v = strtoull(line + n + 1, NULL, 16);
	fclose(f);
	return v;
}

static int stop_fd[2];
static int ready_fd[2];

/*
 * Waits until told to end; blocked signals as given. It says when its mask is
 * in place: a sleep instead raced on a loaded box (the drop's signal reached
 * the thread before it blocked it, so nothing was refused).
 */
static void *idle_thread(void *arg)
{
	sigset_t *mask = arg;
	char c = 'r';

	if (mask)
		pthread_sigmask(SIG_BLOCK, mask, NULL);
	if (write(ready_fd[1], &c, 1) != 1)
		return NULL;
	while (read(stop_fd[0], &c, 1) < 0 && errno == EINTR)
		;
	return NULL;
}

/* Child: starts a thread, drops to keep, checks every task; exits 0 when all match. */
static int child_drop(bool block_all)
{
	struct saker_privilege_result res;
	sigset_t all;
	pthread_t t;
	char err[256] = "";
	struct dirent *de;
	DIR *dir;
	uint64_t keep = SAKER_CAP(CAP_KILL) | SAKER_CAP(CAP_SYS_PTRACE);
	uint64_t had = status_field("/proc/self/status", "CapPrm");
	int ret;
	char c;

	sigfillset(&all);
	if (pipe(stop_fd) || pipe(ready_fd) ||
	    pthread_create(&t, NULL, idle_thread, block_all ? &all : NULL))
		return 10;
	while (read(ready_fd[0], &c, 1) < 0 && errno == EINTR)
		;
	ret = saker_privilege_drop(keep, &res, err, sizeof(err));
	if (block_all) {
		/* the blocked thread is named, the caller still dropped */
		if (ret != -EPERM || !strstr(err, "did not drop its capabilities"))
			return 11;
		if (status_field("/proc/self/status", "CapEff") != (had & keep))
			return 12;
		return 0;
	}
	if (ret)
		return 20;
	if (res.kept != (had & keep) || res.threads != 2)
		return 21;
	dir = opendir("/proc/self/task");
	if (!dir)
		return 22;
	while ((de = readdir(dir))) {
		char st[320];

		if (de->d_name[0] == '.')
			continue;
		snprintf(st, sizeof(st), "/proc/self/task/%s/status", de->d_name);
		if (status_field(st, "CapEff") != (had & keep) ||
		    status_field(st, "CapPrm") != (had & keep) || status_field(st, "CapInh") != 0 ||
		    status_field(st, "CapAmb") != 0 || status_field(st, "NoNewPrivs") != 1) {
			closedir(dir);
			return 23;
		}
		/* with CAP_SETPCAP at the start the bounding set is the kept set too */
		if (res.bounding_reduced && status_field(st, "CapBnd") != (had & keep)) {
			closedir(dir);
			return 24;
		}
	}
	closedir(dir);
	if ((had & SAKER_CAP(CAP_SETPCAP)) && !res.bounding_reduced)
		return 25;
	/* no_new_privs cannot be cleared, and what was dropped cannot come back */
	if (prctl(PR_SET_NO_NEW_PRIVS, 0, 0, 0, 0) == 0)
		return 26;
	return 0;
}

static int run_child(bool block_all)
{
	int st;
	pid_t pid = fork();

	if (pid == 0)
		_exit(child_drop(block_all));
	if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

static void test_every_thread_drops(void **state)
{
	(void)state;
	assert_int_equal(run_child(false), 0);
}

static void test_thread_blocking_the_signal_is_reported(void **state)
{
	(void)state;
	assert_int_equal(run_child(true), 0);
}

static void test_names(void **state)
{
	char buf[256];

	(void)state;
	saker_privilege_names(SAKER_CAP(CAP_DAC_READ_SEARCH) | SAKER_CAP(CAP_SYS_PTRACE), buf,
			      sizeof(buf));
	assert_string_equal(buf, "cap_dac_read_search,cap_sys_ptrace");
	saker_privilege_names(0, buf, sizeof(buf));
	assert_string_equal(buf, "none");
	saker_privilege_names(SAKER_CAP(63), buf, sizeof(buf));
	assert_string_equal(buf, "cap_63");
	/* the default keeps what reading other users' /proc needs, and no more than 6 */
	/* /proc's links of others are read by the /proc helper (lib/privread.h). */
	assert_false(saker_privilege_default_keep() & SAKER_CAP(CAP_SYS_PTRACE));
	assert_true(saker_privilege_default_keep() & SAKER_CAP(CAP_DAC_READ_SEARCH));
	assert_false(saker_privilege_default_keep() & SAKER_CAP(CAP_SYS_ADMIN));
	assert_false(saker_privilege_default_keep() & SAKER_CAP(CAP_DAC_OVERRIDE));
	/* Output programs are the spawner's: nothing to impersonate or signal others with. */
	assert_false(saker_privilege_default_keep() & SAKER_CAP(CAP_SETUID));
	assert_false(saker_privilege_default_keep() & SAKER_CAP(CAP_SETGID));
	assert_false(saker_privilege_default_keep() & SAKER_CAP(CAP_KILL));
	assert_true(__builtin_popcountll(saker_privilege_default_keep()) <= 6);
}

/*
 * Child: a thread started first, then the filter. Signals reach saker's own
 * threads only; kill of another (root) process and ptrace fail with EPERM
 * whatever the capabilities (the child keeps all of root's here).
 */
static int child_confine(pid_t victim)
{
	char err[256] = "";
	pthread_t t;
	int rc = 0;

	if (pipe(stop_fd) || pipe(ready_fd) || pthread_create(&t, NULL, idle_thread, NULL))
		return 10;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
	    saker_privilege_confine(getpid(), err, sizeof(err)))
		rc = 11;
	else if (kill(victim, 0) == 0 || errno != EPERM)
		rc = 12;
	else if (kill(-victim, SIGKILL) == 0 || errno != EPERM)
		rc = 13;
#if !defined(__SANITIZE_ADDRESS__) /* the sanitizer build lets ptrace through (LeakSanitizer) */
	else if (ptrace(PTRACE_ATTACH, victim, NULL, NULL) == 0 || errno != EPERM)
		rc = 14;
#endif
	else if (kill(getpid(), 0) != 0 || pthread_kill(t, 0) != 0)
		rc = 15;
	else if (status_field("/proc/self/status", "Seccomp") != 2)
		rc = 16;
	if (write(stop_fd[1], "x", 1) != 1 || pthread_join(t, NULL))
		rc = rc ? rc : 17;
	return rc;
}

static void test_confine(void **state)
{
	int st = 0;
	pid_t pid, victim;

	(void)state;
	victim = fork();
	if (victim == 0) {
		pause();
		_exit(0);
	}
	assert_true(victim > 0);
	pid = fork();
	if (pid == 0)
		_exit(child_confine(victim));
	assert_int_equal(waitpid(pid, &st, 0), pid);
	kill(victim, SIGKILL);
	waitpid(victim, NULL, 0);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_thread_drops),
	    cmocka_unit_test(test_thread_blocking_the_signal_is_reported),
	    cmocka_unit_test(test_names),
	    cmocka_unit_test(test_confine),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
