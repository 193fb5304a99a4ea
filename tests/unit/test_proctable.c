#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
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

#include "state/proctable.h"

#define DOCKER_ID "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789"
#define CRI_ID	  "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static int g_argc;
static char **g_argv;

/* ---- a fake /proc ---- */

static void mkdirs(const char *root, const char *rel)
{
	char path[2 * PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	for (char *p = path + strlen(root) + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		mkdir(path, 0755);
		*p = '/';
	}
	mkdir(path, 0755);
}

static void put(const char *root, const char *rel, const char *content, size_t len)
{
	char path[2 * PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(content, 1, len, f), len);
	fclose(f);
}

static void puts_(const char *root, const char *rel, const char *content)
{
	put(root, rel, content, strlen(content));
}

static void link_(const char *root, const char *rel, const char *target)
{
	char path[2 * PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	assert_int_equal(symlink(target, path), 0);
}

static void stat_line(char *buf, size_t len, unsigned tid, const char *comm, unsigned ppid, int tty,
		      unsigned long long start)
{
	snprintf(buf, len,
		 "%u (%s) S %u %u %u %d -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 %llu 1000 10 "
		 "18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 3 0 0 0 0 0\n",
		 tid, comm, ppid, tid, tid, tty, start);
}

struct fake_thread {
	unsigned tid;
	const char *comm;
	unsigned uid, euid, gid, egid;
};

static void fake_proc(const char *root, unsigned pid, unsigned ppid, const char *cmdline,
		      size_t cmdlen, const char *exe, const char *cwd, const char *cgroup,
		      const char *loginuid, const struct fake_thread *th, size_t nth)
{
	char rel[256], buf[1024];

	snprintf(rel, sizeof(rel), "%u", pid);
	mkdirs(root, rel);
	snprintf(rel, sizeof(rel), "%u/cmdline", pid);
	put(root, rel, cmdline, cmdlen);
	if (exe) {
		snprintf(rel, sizeof(rel), "%u/exe", pid);
		link_(root, rel, exe);
	}
	if (cwd) {
		snprintf(rel, sizeof(rel), "%u/cwd", pid);
		link_(root, rel, cwd);
	}
	snprintf(rel, sizeof(rel), "%u/cgroup", pid);
	puts_(root, rel, cgroup);
	if (loginuid) {
		snprintf(rel, sizeof(rel), "%u/loginuid", pid);
		puts_(root, rel, loginuid);
	}
	for (size_t i = 0; i < nth; i++) {
		snprintf(rel, sizeof(rel), "%u/task/%u", pid, th[i].tid);
		mkdirs(root, rel);
		snprintf(rel, sizeof(rel), "%u/task/%u/stat", pid, th[i].tid);
		/* tty 34817 = pts/1 as stat encodes it; start 12345 ticks */
		stat_line(buf, sizeof(buf), th[i].tid, th[i].comm, ppid, 34817, 12345);
		puts_(root, rel, buf);
		snprintf(rel, sizeof(rel), "%u/task/%u/status", pid, th[i].tid);
		snprintf(buf, sizeof(buf),
			 "Name:\tx\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t%u\nPid:\t%u\n"
			 "PPid:\t%u\nUid:\t%u\t%u\t%u\t%u\nGid:\t%u\t%u\t%u\t%u\n",
			 pid, th[i].tid, ppid, th[i].uid, th[i].euid, th[i].euid, th[i].euid,
			 th[i].gid, th[i].egid, th[i].egid, th[i].egid);
		puts_(root, rel, buf);
	}
}

struct fixture {
	char root[64];
	struct saker_proctable *tbl;
};

static int fake_root_setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	char big[SAKER_PROC_ARGS_MAX + 100];

	strcpy(fx->root, "/tmp/saker-proctest-XXXXXX");
	if (!mkdtemp(fx->root))
		return -1;
	const struct fake_thread init_th[] = {{1, "systemd", 0, 0, 0, 0}};
	fake_proc(fx->root, 1, 0, "/sbin/init\0splash\0", 18, "/usr/lib/systemd/systemd", "/",
		  "0::/init.scope\n", "4294967295", init_th, 1);

	/* Docker (systemd driver), two threads, a comm with ") (" in it. */
	const struct fake_thread py_th[] = {{100, "my) (x", 1000, 1001, 100, 101},
					    {101, "worker", 1000, 0, 100, 101}};
	fake_proc(fx->root, 100, 1, "python3\0-c\0print(1)\0", 20, "/usr/bin/python3.11", "/home/u",
		  "0::/system.slice/docker-" DOCKER_ID ".scope\n", "1000", py_th, 2);
	mkdirs(fx->root, "100/fd");
	link_(fx->root, "100/fd/0", "/dev/pts/1");
	link_(fx->root, "100/fd/3", "socket:[777]");

	/* cgroup v1 lines, kubernetes with containerd; cmdline with no final NUL. */
	const struct fake_thread k_th[] = {{200, "nginx", 101, 101, 101, 101}};
	fake_proc(fx->root, 200, 100, "nginx: master process", 21, "/usr/sbin/nginx", "/srv",
		  "12:pids:/kubepods/besteffort/pod1f2e-3d4c/" CRI_ID "\n"
		  "11:memory:/kubepods/besteffort/pod1f2e-3d4c/" CRI_ID "\n0::/\n",
		  NULL, k_th, 1);

	/* Vanished between readdir and open: a directory with nothing in it. */
	mkdirs(fx->root, "300");
	/* Garbage stat. */
	fake_proc(fx->root, 400, 1, "", 0, NULL, NULL, "", NULL, NULL, 0);
	mkdirs(fx->root, "400/task/400");
	puts_(fx->root, "400/task/400/stat", "400 no parentheses here 1 2 3\n");

	/* A kernel thread: no cmdline, exe or cwd; no task directory either. */
	fake_proc(fx->root, 2, 0, "", 0, NULL, NULL, "0::/\n", NULL, NULL, 0);
	stat_line(big, sizeof(big), 2, "kthreadd", 0, 0, 3);
	puts_(fx->root, "2/stat", big);
	puts_(fx->root, "2/status",
	      "Name:\tkthreadd\nUid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nCapInh:\t0000000000000000\n"
	      "CapEff:\t000001ffffffffff\n");

	/* argv longer than the bound. */
	memset(big, 'A', sizeof(big));
	const struct fake_thread long_th[] = {{500, "long", 0, 0, 0, 0}};
	fake_proc(fx->root, 500, 1, big, sizeof(big), "/bin/long", "/", "0::/user.slice\n", NULL,
		  long_th, 1);

	/* Not processes. */
	mkdirs(fx->root, "self");
	mkdirs(fx->root, "12x");
	puts_(fx->root, "uptime", "1.0 1.0\n");

	*state = fx;
	return 0;
}

static int fake_root_teardown(void **state)
{
	struct fixture *fx = *state;
	char cmd[128];

	saker_proctable_free(fx->tbl);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx->root);
	if (system(cmd) != 0)
		return -1;
	free(fx);
	return 0;
}

static struct saker_proctable_stats pstats(const struct saker_proctable *t)
{
	struct saker_proctable_stats st;

	saker_proctable_get_stats(t, &st);
	return st;
}

static const struct saker_proc *must(struct saker_proctable *t, uint32_t tid)
{
	const struct saker_proc *p = saker_proctable_lookup(t, tid);

	assert_non_null(p);
	return p;
}

/* ---- scan ---- */

static void test_scan_fake(void **state)
{
	struct fixture *fx = *state;
	const struct saker_proc *p;
	char buf[256];

	assert_int_equal(saker_proctable_new(&fx->tbl, 0, fx->root), 0);
	assert_int_equal(saker_proctable_scan(fx->tbl), 0);
	struct saker_proctable_stats st = pstats(fx->tbl);
	/* 1, 100, 101, 200, 2, 500; 300 and 400 skipped */
	assert_int_equal(st.entries, 6);
	assert_int_equal(st.scanned, 6);
	assert_int_equal(st.scan_skipped, 2);
	/* One image per process, shared by its threads. */
	assert_int_equal(st.images, 5);

	p = must(fx->tbl, 100);
	assert_int_equal(p->pid, 100);
	assert_int_equal(p->ppid, 1);
	assert_string_equal(p->comm, "my) (x");
	assert_string_equal(p->exe, "/usr/bin/python3.11");
	assert_string_equal(p->cwd, "/home/u");
	assert_int_equal(p->argc, 3);
	assert_int_equal(p->args_len, 20);
	assert_int_equal(saker_proc_args_join(p, 0, buf, sizeof(buf)), 19);
	assert_string_equal(buf, "python3 -c print(1)");
	saker_proc_args_join(p, 1, buf, sizeof(buf));
	assert_string_equal(buf, "-c print(1)");
	assert_int_equal(p->uid, 1000);
	assert_int_equal(p->euid, 1001);
	assert_int_equal(p->gid, 100);
	assert_int_equal(p->egid, 101);
	assert_int_equal(p->loginuid, 1000);
	assert_int_equal(p->tty, 34817);
	/* 12345 ticks at the system's tick rate */
	assert_int_equal(p->start_ns, 12345ull * 1000000000ull / (uint64_t)sysconf(_SC_CLK_TCK));
	assert_string_equal(p->container_id, "abcdef012345");
	assert_string_equal(p->cgroup, "/system.slice/docker-" DOCKER_ID ".scope");
	assert_int_equal(p->flags, SAKER_PROC_FROM_SCAN);

	/* The thread has its own comm and ids, its process's image. */
	p = must(fx->tbl, 101);
	assert_int_equal(p->tid, 101);
	assert_int_equal(p->pid, 100);
	assert_int_equal(p->ppid, 1);
	assert_string_equal(p->comm, "worker");
	assert_int_equal(p->euid, 0);
	assert_string_equal(p->exe, "/usr/bin/python3.11");
	assert_ptr_equal(p->args, must(fx->tbl, 100)->args);
	assert_string_equal(p->container_id, "abcdef012345");

	p = must(fx->tbl, 200);
	assert_int_equal(p->ppid, 100);
	assert_string_equal(p->container_id, "0123456789ab");
	/* The v2 line is the one shown, though the id came from a v1 line. */
	assert_string_equal(p->cgroup, "/");
	assert_int_equal(p->argc, 1);
	assert_string_equal(p->args, "nginx: master process");
	assert_int_equal(p->loginuid, SAKER_UID_UNSET);

	p = must(fx->tbl, 1);
	assert_int_equal(p->ppid, 0);
	assert_string_equal(p->container_id, "host");
	assert_string_equal(p->cgroup, "/init.scope");
	assert_int_equal(p->loginuid, SAKER_UID_UNSET);

	assert_false(p->flags & SAKER_PROC_CAPS_KNOWN); /* no CapEff line */

	p = must(fx->tbl, 2);
	assert_string_equal(p->comm, "kthreadd");
	assert_true(p->flags & SAKER_PROC_CAPS_KNOWN);
	assert_int_equal(p->cap_eff, 0x1ffffffffffull);
	assert_string_equal(p->exe, "");
	assert_int_equal(p->argc, 0);
	assert_string_equal(p->args, "");
	assert_int_equal(saker_proc_args_join(p, 0, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "");

	p = must(fx->tbl, 500);
	assert_true(p->flags & SAKER_PROC_ARGS_TRUNCATED);
	assert_int_equal(p->args_len, SAKER_PROC_ARGS_MAX);
	assert_int_equal(p->argc, 1);
	assert_int_equal(strlen(p->args), SAKER_PROC_ARGS_MAX - 1);
	assert_string_equal(p->container_id, "host");

	assert_null(saker_proctable_lookup(fx->tbl, 300));
	assert_null(saker_proctable_lookup(fx->tbl, 400));

	/* Descriptors came along. */
	struct saker_fdtable *fds = saker_proctable_fds(fx->tbl);
	const struct saker_fd *f = saker_fdtable_lookup(fds, 100, 0);
	assert_non_null(f);
	assert_string_equal(f->name, "/dev/pts/1");
	f = saker_fdtable_lookup(fds, 100, 3);
	assert_non_null(f);
	assert_string_equal(f->name, "socket:[777]");

	/* A second scan refreshes, it does not duplicate. */
	assert_int_equal(saker_proctable_scan(fx->tbl), 0);
	assert_int_equal(pstats(fx->tbl).entries, 6);
	assert_int_equal(pstats(fx->tbl).images, 5);
	assert_int_equal(pstats(fx->tbl).evictions, 0);

	assert_int_equal(saker_proctable_load(fx->tbl, 999), -ENOENT);
	assert_int_equal(saker_proctable_load(fx->tbl, 200), 0);
}

static void test_scan_bad_root(void **state)
{
	struct saker_proctable *t;

	(void)state;
	assert_int_equal(saker_proctable_new(&t, 0, "/nonexistent/proc"), 0);
	assert_int_equal(saker_proctable_scan(t), -ENOENT);
	assert_int_equal(saker_proctable_load(t, 1), -ENOENT);
	saker_proctable_free(t);
	saker_proctable_free(NULL);
	assert_int_equal(saker_proctable_new(&t, 1, NULL), -EINVAL);
	assert_null(t);
}

static void test_container_ids(void **state)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
	    {"0::/system.slice/docker-" DOCKER_ID ".scope", "abcdef012345"},
	    {"/docker/" DOCKER_ID, "abcdef012345"},
	    {"0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1a2b_3c4d."
	     "slice/cri-containerd-" CRI_ID ".scope",
	     "0123456789ab"},
	    {"0::/kubepods.slice/kubepods-burstable.slice/crio-" CRI_ID ".scope", "0123456789ab"},
	    {"0::/machine.slice/libpod-" DOCKER_ID ".scope/container", "abcdef012345"},
	    {"0::/system.slice/containerd.service/kubepods-pod1.slice:cri-containerd:" CRI_ID,
	     "0123456789ab"},
	    /* nested: the innermost */
	    {"0::/docker/" DOCKER_ID "/docker/" CRI_ID, "0123456789ab"},
	    /* cri-o's monitor is not in the container */
	    {"0::/kubepods.slice/crio-conmon-" CRI_ID ".scope", "host"},
	    {"0::/user.slice/user-1000.slice/session-2.scope", "host"},
	    {"0::/", "host"},
	    {"", "host"},
	    {"garbage without colons or ids", "host"},
	    {"0::/docker/" DOCKER_ID "0", "host"}, /* 65 digits */
	    {"0::/docker/ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789",
	     "host"}, /* not lowercase */
	    {"0::/docker/" DOCKER_ID "\n", "abcdef012345"},
	    {"5:cpu::::\n0::/docker/" DOCKER_ID, "abcdef012345"},
	    /* a bare path with colons after the id */
	    {"/docker/" DOCKER_ID "/a:b:c", "abcdef012345"},
	    {"0::/docker/" DOCKER_ID "/a:b:c", "abcdef012345"},
	};
	char out[SAKER_CONTAINER_ID_LEN + 1];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(out, 'X', sizeof(out));
		saker_container_id_from_cgroup(cases[i].in, strlen(cases[i].in), out);
		if (strcmp(out, cases[i].want))
			fail_msg("case %zu: %s -> %s, want %s", i, cases[i].in, out, cases[i].want);
	}
	saker_container_id_from_cgroup(NULL, 10, out);
	assert_string_equal(out, "host");
	/* len bounds the read: the id past it is not seen. */
	saker_container_id_from_cgroup("0::/docker/" DOCKER_ID, 20, out);
	assert_string_equal(out, "host");
}

/* Random bytes in every file /proc gives: no crash, no leak, whatever is kept is bounded. */
static void test_scan_garbage(void **state)
{
	static const char alphabet[] = "()  )(0123456789-\n\0:/abcdefXYZ\t";
	char root[] = "/tmp/saker-procfuzz-XXXXXX", rel[64], buf[6000], cmd[128];
	static const char *const files[] = {"stat", "status", "cmdline", "cgroup", "loginuid"};
	struct saker_proctable *t;
	unsigned seed = 7;

	(void)state;
	memset(buf, 0, sizeof(buf));
	assert_non_null(mkdtemp(root));
	for (unsigned pid = 1; pid <= 60; pid++) {
		snprintf(rel, sizeof(rel), "%u/task/%u", pid, pid);
		mkdirs(root, rel);
		for (size_t f = 0; f < sizeof(files) / sizeof(files[0]); f++) {
			size_t len = (size_t)rand_r(&seed) % sizeof(buf);

			for (size_t i = 0; i < len; i++)
				buf[i] = rand_r(&seed) % 4
					     ? alphabet[rand_r(&seed) % (sizeof(alphabet) - 1)]
					     : (char)rand_r(&seed);
			/* Half the stat files look almost right. */
			if (f == 0 && pid % 2) {
				char comm[40];

				memcpy(comm, buf, sizeof(comm));
				comm[len % sizeof(comm)] = '\0';
				if (pid % 3) {
					len = (size_t)snprintf(buf, sizeof(buf), "%u (%s) S %d",
							       pid, comm, rand_r(&seed));
				} else {
					stat_line(buf, sizeof(buf), pid, comm, 1, 0, 5);
					len = strlen(buf);
				}
			}
			snprintf(rel, sizeof(rel), "%u/%s", pid, files[f]);
			put(root, rel, buf, len);
			snprintf(rel, sizeof(rel), "%u/task/%u/%s", pid, pid, files[f]);
			put(root, rel, buf, len);
		}
	}
	assert_int_equal(saker_proctable_new(&t, 0, root), 0);
	assert_int_equal(saker_proctable_scan(t), 0);
	/* The stat files built to parse (every sixth pid) do, whatever the comm. */
	assert_true(pstats(t).entries >= 10);
	for (unsigned pid = 1; pid <= 60; pid++) {
		const struct saker_proc *p = saker_proctable_lookup(t, pid);

		if (!p)
			continue;
		assert_true(strlen(p->comm) < SAKER_PROC_COMM_LEN);
		assert_true(p->args_len <= SAKER_PROC_ARGS_MAX);
		assert_true(p->args_len == 0 || p->args[p->args_len - 1] == '\0');
		assert_true(strlen(p->container_id) <= SAKER_CONTAINER_ID_LEN);
	}
	saker_proctable_free(t);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	assert_int_equal(system(cmd), 0);

	/* And the container id parser on its own. */
	for (int i = 0; i < 20000; i++) {
		char out[SAKER_CONTAINER_ID_LEN + 1];
		size_t len = (size_t)rand_r(&seed) % 200;

		for (size_t k = 0; k < len; k++)
			buf[k] = rand_r(&seed) % 8 ? "0123456789abcdef/:-.\n"[rand_r(&seed) % 21]
						   : (char)rand_r(&seed);
		saker_container_id_from_cgroup(buf, len, out);
		assert_true(strlen(out) <= SAKER_CONTAINER_ID_LEN);
	}
}

/* ---- events ---- */

static struct saker_proctable *new_tbl(size_t max)
{
	struct saker_proctable *t;

	assert_int_equal(saker_proctable_new(&t, max, "/nonexistent"), 0);
	return t;
}

static void exec_(struct saker_proctable *t, uint32_t tid, uint32_t pid, const char *exe,
		  const char *args, size_t args_len, const char *cgroup)
{
	struct saker_exec_info in = {
	    .tid = tid,
	    .pid = pid,
	    .ppid = 0,
	    .exe = exe,
	    .args = args,
	    .args_len = args_len,
	    .cwd = "/work",
	    .cgroup = cgroup,
	    .uid = 1000,
	    .gid = 1000,
	    .euid = 1000,
	    .egid = 1000,
	    .loginuid = 1000,
	    .tty = 34816,
	};

	assert_int_equal(saker_proctable_on_exec(t, &in), 0);
}

static void test_fork_exec_exit(void **state)
{
	struct saker_proctable *t = new_tbl(0);
	struct saker_fdtable *fds = saker_proctable_fds(t);
	const struct saker_proc *p, *c;
	char buf[128];

	(void)state;
	/* An exec for a process we never saw: it is created, the miss counted. */
	exec_(t, 1000, 1000, "/bin/bash", "bash\0-l\0", 8, "0::/user.slice");
	assert_int_equal(pstats(t).failed_lookups, 1);
	p = must(t, 1000);
	assert_string_equal(p->comm, "bash");
	assert_string_equal(p->container_id, "host");
	assert_int_equal(p->flags, SAKER_PROC_EXEC_SEEN);
	assert_int_equal(p->ppid, 0);
	assert_int_equal(saker_fdtable_on_open(fds, 1000, 3, "/etc/profile", 0), 0);
	assert_int_equal(saker_fdtable_on_open(fds, 1000, 4, "/secret", O_CLOEXEC), 0);

	/* fork: the child is a copy. */
	assert_int_equal(saker_proctable_on_fork(t, 1000, 1001, 1001, 0x11 /* SIGCHLD */, 777), 0);
	p = must(t, 1000);
	c = must(t, 1001);
	assert_int_equal(c->pid, 1001);
	assert_int_equal(c->ppid, 1000);
	assert_int_equal(c->start_ns, 777);
	assert_string_equal(c->exe, "/bin/bash");
	assert_ptr_equal(c->args, p->args);
	assert_string_equal(c->cwd, "/work");
	assert_int_equal(c->uid, 1000);
	assert_int_equal(c->loginuid, 1000);
	assert_int_equal(c->tty, 34816);
	assert_string_equal(c->comm, "bash");
	assert_int_equal(c->flags, SAKER_PROC_FORKED | SAKER_PROC_EXEC_SEEN);
	assert_string_equal(saker_fdtable_lookup(fds, 1001, 3)->name, "/etc/profile");
	assert_non_null(saker_fdtable_lookup(fds, 1001, 4));
	assert_int_equal(pstats(t).images, 1);

	/* exec in the child: new image, close-on-exec descriptors gone, parent untouched. */
	exec_(t, 1001, 1001, "/usr/bin/curl", "curl\0-s\0http://x\0", 17, NULL);
	c = must(t, 1001);
	assert_string_equal(c->exe, "/usr/bin/curl");
	assert_string_equal(c->comm, "curl");
	saker_proc_args_join(c, 0, buf, sizeof(buf));
	assert_string_equal(buf, "curl -s http://x");
	assert_int_equal(c->ppid, 1000);
	assert_int_equal(c->start_ns, 777);
	/* cgroup kept from before the exec */
	assert_string_equal(c->container_id, "host");
	assert_int_equal(c->flags, SAKER_PROC_EXEC_SEEN | SAKER_PROC_FORKED);
	assert_null(saker_fdtable_lookup(fds, 1001, 4));
	assert_non_null(saker_fdtable_lookup(fds, 1001, 3));
	assert_non_null(saker_fdtable_lookup(fds, 1000, 4));
	assert_string_equal(must(t, 1000)->exe, "/bin/bash");
	assert_int_equal(pstats(t).images, 2);

	/* exit: entry and descriptors gone. */
	assert_int_equal(saker_proctable_on_exit(t, 1001, 0), 0);
	assert_null(saker_proctable_lookup(t, 1001));
	assert_null(saker_fdtable_lookup(fds, 1001, 3));
	assert_int_equal(pstats(t).images, 1);
	assert_int_equal(saker_proctable_on_exit(t, 1001, 0), -ENOENT);
	assert_int_equal(saker_proctable_on_exit(t, 1000, SAKER_EXIT_GROUP_DEAD), 0);
	assert_int_equal(pstats(t).entries, 0);
	assert_int_equal(pstats(t).images, 0);
	struct saker_fdtable_stats fst;
	saker_fdtable_get_stats(fds, &fst);
	assert_int_equal(fst.entries, 0);
	saker_proctable_free(t);
}

static void test_threads(void **state)
{
	struct saker_proctable *t = new_tbl(0);
	struct saker_fdtable *fds = saker_proctable_fds(t);
	const struct saker_proc *p;

	(void)state;
	exec_(t, 50, 50, "/usr/bin/java", "java\0-jar\0app.jar\0", 18, "0::/docker/" DOCKER_ID);
	assert_int_equal(saker_proctable_on_fork(t, 1, 50, 50, 0, 5), 0); /* parent unknown */
	p = must(t, 50);
	assert_true(p->flags & SAKER_PROC_INCOMPLETE);
	/* Unknown parent: nothing is known, not even "host". */
	assert_string_equal(p->container_id, "");
	assert_string_equal(p->exe, "");
	exec_(t, 50, 50, "/usr/bin/java", "java\0-jar\0app.jar\0", 18, "0::/docker/" DOCKER_ID);
	p = must(t, 50);
	assert_false(p->flags & SAKER_PROC_INCOMPLETE);
	assert_int_equal(p->start_ns, 5);
	assert_string_equal(p->container_id, "abcdef012345");
	assert_int_equal(saker_proctable_on_setids(t, 50, SAKER_ID_KEEP, 0, SAKER_ID_KEEP, 0), 0);

	/* Threads: same process, same parent, same image; own tid. */
	assert_int_equal(saker_proctable_on_fork(t, 50, 51, 50, CLONE_VM | CLONE_THREAD, 9), 0);
	assert_int_equal(saker_proctable_on_fork(t, 51, 52, 50, CLONE_VM | CLONE_THREAD, 9), 0);
	p = must(t, 52);
	assert_int_equal(p->pid, 50);
	assert_int_equal(p->ppid, must(t, 50)->ppid);
	assert_string_equal(p->exe, "/usr/bin/java");
	assert_string_equal(p->container_id, "abcdef012345");
	assert_int_equal(p->uid, 1000);
	assert_int_equal(p->euid, 0);
	/* Descriptors are the process's: a thread's open is seen by all. */
	assert_int_equal(saker_fdtable_on_open(fds, 50, 7, "/app/log", 0), 0);

	/* The leader exits first: kept, flagged, while threads run. */
	assert_int_equal(saker_proctable_on_exit(t, 50, 0), 0);
	p = must(t, 50);
	assert_true(p->flags & SAKER_PROC_EXITED);
	assert_int_equal(saker_proctable_on_exit(t, 51, 0), 0);
	assert_non_null(saker_proctable_lookup(t, 50));
	assert_non_null(saker_fdtable_lookup(fds, 50, 7));
	/* The last thread takes the process with it. */
	assert_int_equal(saker_proctable_on_exit(t, 52, 0), 0);
	assert_null(saker_proctable_lookup(t, 50));
	assert_null(saker_fdtable_lookup(fds, 50, 7));
	assert_int_equal(pstats(t).entries, 0);

	/* exec from a non-leader thread: it becomes the leader, its old tid is gone. */
	exec_(t, 60, 60, "/bin/sh", "sh\0", 3, NULL);
	assert_int_equal(saker_proctable_on_fork(t, 60, 61, 60, CLONE_THREAD, 1), 0);
	assert_int_equal(saker_proctable_on_fork(t, 60, 62, 60, CLONE_THREAD, 1), 0);
	assert_int_equal(saker_proctable_on_exit(t, 62, SAKER_EXIT_GROUP_ALIVE), 0);
	exec_(t, 61, 60, "/bin/true", "true\0", 5, NULL);
	assert_null(saker_proctable_lookup(t, 61));
	p = must(t, 60);
	assert_int_equal(p->tid, 60);
	assert_string_equal(p->exe, "/bin/true");
	assert_int_equal(pstats(t).entries, 1);

	/* The probe says the group is alive or dead: it overrides our count. */
	assert_int_equal(saker_proctable_on_exit(t, 60, SAKER_EXIT_GROUP_ALIVE), 0);
	assert_true(must(t, 60)->flags & SAKER_PROC_EXITED);
	assert_int_equal(saker_proctable_on_fork(t, 60, 63, 60, CLONE_THREAD, 1), 0);
	assert_int_equal(saker_proctable_on_exit(t, 63, SAKER_EXIT_GROUP_DEAD), 0);
	assert_null(saker_proctable_lookup(t, 60));
	saker_proctable_free(t);
}

static void test_clone_parent_setids_chdir(void **state)
{
	struct saker_proctable *t = new_tbl(0);
	const struct saker_proc *p;

	(void)state;
	exec_(t, 10, 10, "/sbin/init", "init\0", 5, NULL);
	assert_int_equal(saker_proctable_on_fork(t, 10, 20, 20, 0, 1), 0);
	/* CLONE_PARENT: the child is its parent's sibling. */
	assert_int_equal(saker_proctable_on_fork(t, 20, 30, 30, CLONE_PARENT, 2), 0);
	assert_int_equal(must(t, 30)->ppid, 10);
	assert_int_equal(must(t, 20)->ppid, 10);

	assert_int_equal(saker_proctable_on_setids(t, 20, 0, SAKER_ID_KEEP, 5, SAKER_ID_KEEP), 0);
	p = must(t, 20);
	assert_int_equal(p->uid, 0);
	assert_int_equal(p->euid, 1000);
	assert_int_equal(p->gid, 5);
	assert_int_equal(p->egid, 1000);
	assert_int_equal(must(t, 30)->uid, 1000);
	assert_int_equal(saker_proctable_on_setids(t, 99, 0, 0, 0, 0), -ENOENT);

	/* chdir: the thread and its leader move, a forked sibling does not. */
	assert_int_equal(saker_proctable_on_fork(t, 20, 21, 20, CLONE_THREAD, 3), 0);
	assert_int_equal(saker_proctable_on_chdir(t, 21, "/tmp"), 0);
	assert_string_equal(must(t, 21)->cwd, "/tmp");
	assert_string_equal(must(t, 20)->cwd, "/tmp");
	assert_string_equal(must(t, 20)->exe, "/sbin/init");
	assert_string_equal(must(t, 30)->cwd, "/work");
	assert_string_equal(must(t, 10)->cwd, "/work");
	assert_int_equal(saker_proctable_on_chdir(t, 99, "/"), -ENOENT);
	assert_int_equal(saker_proctable_on_exec(t, NULL), -EINVAL);
	saker_proctable_free(t);
}

static void test_exec_cgroup_reread(void **state)
{
	struct fixture *fx = *state;
	struct saker_proctable *t;
	struct saker_exec_info in = {.tid = 100,
				     .pid = 100,
				     .exe = "/usr/bin/python3.11",
				     .args = "python3\0",
				     .args_len = 8,
				     .cgroup_id = 4242};

	assert_int_equal(saker_proctable_new(&t, 0, fx->root), 0);
	/* Known from before as a host process... */
	exec_(t, 100, 100, "/usr/bin/runc", "runc\0init\0", 10, "0::/system.slice/x.scope");
	assert_string_equal(must(t, 100)->container_id, "host");
	/* ...the exec reports a new cgroup id and no path: /proc tells where it went. */
	assert_int_equal(saker_proctable_on_exec(t, &in), 0);
	assert_string_equal(must(t, 100)->container_id, "abcdef012345");
	assert_int_equal(must(t, 100)->cgroup_id, 4242);
	assert_string_equal(must(t, 100)->cwd, "/work");
	/* Same id again: no reread needed, nothing changes. */
	assert_int_equal(saker_proctable_on_exec(t, &in), 0);
	assert_string_equal(must(t, 100)->container_id, "abcdef012345");
	/* A new id for a process /proc does not have: the known cgroup stays. */
	in.tid = in.pid = 777;
	exec_(t, 777, 777, "/x", "x\0", 2, "0::/docker/" CRI_ID);
	in.cgroup_id = 1;
	assert_int_equal(saker_proctable_on_exec(t, &in), 0);
	assert_string_equal(must(t, 777)->container_id, "0123456789ab");
	saker_proctable_free(t);
}

/* ---- bounds ---- */

static void test_fork_storm_bounded(void **state)
{
	enum { MAX = 64 };
	struct saker_proctable *t = new_tbl(MAX);
	struct saker_proctable_stats st;
	uint64_t bytes_full = 0;

	(void)state;
	exec_(t, 1, 1, "/bin/sh", "sh\0-c\0:\0", 8, NULL);
	assert_int_equal(saker_fdtable_on_open(saker_proctable_fds(t), 1, 0, "/dev/null", 0), 0);
	for (uint32_t child = 2; child < 2 + 10 * MAX; child++) {
		assert_int_equal(saker_proctable_on_fork(t, 1, child, child, 0, child), 0);
		st = pstats(t);
		assert_true(st.entries <= MAX);
		if (child == 2 * MAX)
			bytes_full = st.bytes;
		if (child > 2 * MAX)
			assert_true(st.bytes <= bytes_full);
	}
	st = pstats(t);
	assert_int_equal(st.entries, MAX);
	assert_int_equal(st.evictions, 10 * MAX + 1 - MAX);
	/* The parent forks all the time: used recently, never evicted. */
	assert_non_null(saker_proctable_lookup(t, 1));
	/* Children share the parent's image. */
	assert_int_equal(st.images, 1);
	assert_null(saker_proctable_lookup(t, 2));
	assert_non_null(saker_proctable_lookup(t, 10 * MAX + 1));
	assert_true(st.bytes < 64 * 1024);
	/* Evicted children's descriptors stay, under the fd table's own bound. */
	struct saker_fdtable_stats fst;
	saker_fdtable_get_stats(saker_proctable_fds(t), &fst);
	assert_true(fst.entries <= fst.max_entries);
	saker_proctable_free(t);
}

static void test_byte_bound(void **state)
{
	struct saker_proctable_opts o = {.max_procs = 100000, .max_bytes = 256 * 1024};
	struct saker_proctable *t;
	static char args[SAKER_PROC_ARGS_MAX * 2];
	struct saker_proctable_stats st;

	(void)state;
	assert_int_equal(saker_proctable_new_opts(&t, &o), 0);
	memset(args, 'a', sizeof(args));
	/* Distinct processes, each with argv at the bound: no sharing helps. */
	for (uint32_t pid = 1; pid <= 1000; pid++) {
		args[0] = (char)('a' + pid % 26);
		exec_(t, pid, pid, "/bin/x", args, sizeof(args), NULL);
		st = pstats(t);
		assert_true(st.bytes <= 256 * 1024 + 64 * 1024);
	}
	st = pstats(t);
	assert_true(st.entries < 100);
	assert_true(st.evictions > 900);
	assert_int_equal(st.entries + st.evictions, 1000);
	assert_true(must(t, 1000)->flags & SAKER_PROC_ARGS_TRUNCATED);
	saker_proctable_free(t);
}

static void test_lru(void **state)
{
	struct saker_proctable *t = new_tbl(4);

	(void)state;
	for (uint32_t pid = 1; pid <= 4; pid++)
		exec_(t, pid, pid, "/bin/x", "x\0", 2, NULL);
	/* 1 used again: 2 is the least recently used. */
	assert_non_null(saker_proctable_lookup(t, 1));
	exec_(t, 5, 5, "/bin/x", "x\0", 2, NULL);
	assert_null(saker_proctable_lookup(t, 2));
	assert_non_null(saker_proctable_lookup(t, 1));
	assert_non_null(saker_proctable_lookup(t, 3));
	struct saker_proctable_stats st = pstats(t);
	assert_int_equal(st.evictions, 1);
	assert_int_equal(st.entries, 4);
	assert_int_equal(st.max_entries, 4);
	assert_int_equal(st.lookups, 4);
	assert_int_equal(st.failed_lookups, 5 + 1); /* the five unknown execs, one lookup */
	saker_proctable_free(t);
}

static void test_args_join_bounds(void **state)
{
	struct saker_proctable *t = new_tbl(0);
	const struct saker_proc *p;
	char buf[8];

	(void)state;
	exec_(t, 1, 1, "/x", "abc\0defgh\0ij", 12, NULL);
	p = must(t, 1);
	assert_int_equal(p->argc, 3);
	assert_int_equal(saker_proc_args_join(p, 0, buf, sizeof(buf)), 12);
	assert_string_equal(buf, "abc def");
	assert_int_equal(saker_proc_args_join(p, 2, buf, sizeof(buf)), 2);
	assert_string_equal(buf, "ij");
	assert_int_equal(saker_proc_args_join(p, 5, buf, sizeof(buf)), 0);
	assert_int_equal(saker_proc_args_join(p, 0, NULL, 0), 12);
	/* Empty arguments stay arguments. */
	exec_(t, 2, 2, "/x", "a\0\0b\0", 5, NULL);
	p = must(t, 2);
	assert_int_equal(p->argc, 3);
	assert_int_equal(saker_proc_args_join(p, 0, buf, sizeof(buf)), 4);
	assert_string_equal(buf, "a  b");
	/* An overlong comm from the probe is cut like the kernel's. */
	struct saker_exec_info in = {.tid = 3, .pid = 3, .comm = "a-very-long-command-name"};
	assert_int_equal(saker_proctable_on_exec(t, &in), 0);
	assert_string_equal(must(t, 3)->comm, "a-very-long-com");
	assert_string_equal(must(t, 3)->exe, "");
	saker_proctable_free(t);
}

/* ---- the real /proc ---- */

struct blocker {
	int fds[2];
	pid_t tid;
};

static void *blocked_thread(void *arg)
{
	struct blocker *b = arg;
	char c;

	__atomic_store_n(&b->tid, gettid(), __ATOMIC_SEQ_CST);
	/* Held until the test has scanned. */
	if (read(b->fds[0], &c, 1) < 0)
		return NULL;
	return NULL;
}

static void test_scan_real_proc(void **state)
{
	struct saker_proctable *t;
	const struct saker_proc *p;
	struct blocker b = {.tid = 0};
	char want[4096], got[4096], exe[PATH_MAX];
	pthread_t th;
	size_t off = 0;
	ssize_t n;
	int fd;

	(void)state;
	assert_int_equal(pipe(b.fds), 0);
	assert_int_equal(pthread_create(&th, NULL, blocked_thread, &b), 0);
	while (!__atomic_load_n(&b.tid, __ATOMIC_SEQ_CST))
		usleep(1000);
	fd = open("/etc/hostname", O_RDONLY);

	assert_int_equal(saker_proctable_new(&t, 0, NULL), 0);
	assert_int_equal(saker_proctable_scan(t), 0);
	p = saker_proctable_lookup(t, (uint32_t)getpid());
	assert_non_null(p);
	assert_int_equal(p->pid, getpid());
	assert_int_equal(p->ppid, getppid());
	for (int i = 0; i < g_argc; i++)
		off += (size_t)snprintf(want + off, sizeof(want) - off, "%s%s", i ? " " : "",
					g_argv[i]);
	saker_proc_args_join(p, 0, got, sizeof(got));
	assert_string_equal(got, want);
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	assert_true(n > 0);
	exe[n] = '\0';
	assert_string_equal(p->exe, exe);
	assert_true(getcwd(want, sizeof(want)) != NULL);
	assert_string_equal(p->cwd, want);
	assert_int_equal(p->uid, getuid());
	assert_int_equal(p->euid, geteuid());
	assert_true(p->start_ns > 0);
	assert_true(p->container_id[0] != '\0');

	/* Our thread, found as a thread of this process. */
	p = saker_proctable_lookup(t, (uint32_t)b.tid);
	assert_non_null(p);
	assert_int_equal(p->pid, getpid());
	assert_int_equal(p->ppid, getppid());
	assert_string_equal(p->exe, exe);

	/* Our descriptors. */
	if (fd >= 0) {
		const struct saker_fd *f =
		    saker_fdtable_lookup(saker_proctable_fds(t), (uint32_t)getpid(), fd);

		assert_non_null(f);
		assert_string_equal(f->name, "/etc/hostname");
		assert_int_equal(f->type, SAKER_FD_FILE);
		close(fd);
	}
	/* Our parent is known too. */
	assert_non_null(saker_proctable_lookup(t, (uint32_t)getppid()));
	/* pid 1 exists (in any pid namespace) and has the highest... no parent. */
	p = saker_proctable_lookup(t, 1);
	assert_non_null(p);
	assert_int_equal(p->ppid, 0);
	struct saker_proctable_stats st = pstats(t);
	assert_true(st.entries >= 3);
	assert_int_equal(st.evictions, 0);

	assert_int_equal(write(b.fds[1], "x", 1), 1);
	pthread_join(th, NULL);
	close(b.fds[0]);
	close(b.fds[1]);
	saker_proctable_free(t);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_scan_fake, fake_root_setup, fake_root_teardown),
	    cmocka_unit_test(test_scan_bad_root),
	    cmocka_unit_test(test_container_ids),
	    cmocka_unit_test(test_scan_garbage),
	    cmocka_unit_test(test_fork_exec_exit),
	    cmocka_unit_test(test_threads),
	    cmocka_unit_test(test_clone_parent_setids_chdir),
	    cmocka_unit_test_setup_teardown(test_exec_cgroup_reread, fake_root_setup,
					    fake_root_teardown),
	    cmocka_unit_test(test_fork_storm_bounded),
	    cmocka_unit_test(test_byte_bound),
	    cmocka_unit_test(test_lru),
	    cmocka_unit_test(test_args_join_bounds),
	    cmocka_unit_test(test_scan_real_proc),
	};

	g_argc = argc;
	g_argv = argv;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
