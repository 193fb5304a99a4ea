#include "app/privilege.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "lib/caps.h"

/* Older uapi headers may lack the newest numbers; the kernel tells the last one. */
#ifndef CAP_PERFMON
#define CAP_PERFMON 38
#endif
#ifndef CAP_BPF
#define CAP_BPF 39
#endif
#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT		 47
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif

/* A thread has this long to run the handler (it only makes four kinds of syscall). */
#define THREAD_WAIT_MS 1000
/* Rounds of "signal the threads that do not match yet, then look again". */
#define MAX_ROUNDS 3

/* clang-format off */
static const char *const cap_names[] = {
	"cap_chown", "cap_dac_override", "cap_dac_read_search", "cap_fowner", "cap_fsetid",
	"cap_kill", "cap_setgid", "cap_setuid", "cap_setpcap", "cap_linux_immutable",
	"cap_net_bind_service", "cap_net_broadcast", "cap_net_admin", "cap_net_raw",
	"cap_ipc_lock", "cap_ipc_owner", "cap_sys_module", "cap_sys_rawio", "cap_sys_chroot",
	"cap_sys_ptrace", "cap_sys_pacct", "cap_sys_admin", "cap_sys_boot", "cap_sys_nice",
	"cap_sys_resource", "cap_sys_time", "cap_sys_tty_config", "cap_mknod", "cap_lease",
	"cap_audit_write", "cap_audit_control", "cap_setfcap", "cap_mac_override",
	"cap_mac_admin", "cap_syslog", "cap_wake_alarm", "cap_block_suspend", "cap_audit_read",
	"cap_perfmon", "cap_bpf", "cap_checkpoint_restore",
};
/* clang-format on */

void saker_privilege_names(uint64_t set, char *buf, size_t len)
{
	size_t o = 0;

	if (!len)
		return;
	buf[0] = '\0';
	for (unsigned c = 0; c < 64; c++) {
		char num[16];
		const char *name = num;
		int n;

		if (!(set & SAKER_CAP(c)))
			continue;
		if (c < sizeof(cap_names) / sizeof(cap_names[0]))
			name = cap_names[c];
		else
			snprintf(num, sizeof(num), "cap_%u", c);
		n = snprintf(buf + o, len - o, "%s%s", o ? "," : "", name);
		if (n < 0 || (size_t)n >= len - o)
			return;
		o += (size_t)n;
	}
	if (!o)
		snprintf(buf, len, "none");
}

/*
 * Before Linux 6.5 every bpf() command, map lookups on a descriptor saker
 * already holds included, needs CAP_BPF when unprivileged BPF is disabled
 * (Debian's default). From 6.5 on only creating maps and loading programs
 * do, and saker does neither after attaching.
 */
static bool bpf_lookups_need_cap(void)
{
	struct utsname u;
	unsigned major = 0, minor = 0;

	if (uname(&u) || sscanf(u.release, "%u.%u", &major, &minor) != 2)
		return true;
	return major < 6 || (major == 6 && minor < 5);
}

uint64_t saker_privilege_default_keep(void)
{
	/*
	 * Output programs are started and signalled by the spawner (outputs/spawner.h),
	 * /proc's exe, cwd and fd links of others read by the /proc helper (lib/privread.h).
	 */
	uint64_t keep = SAKER_CAP(CAP_DAC_READ_SEARCH);

	if (bpf_lookups_need_cap())
		keep |= SAKER_CAP(CAP_BPF);
	return keep;
}

static unsigned last_cap(void)
{
	char buf[16] = {0};
	int fd = open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC);
	unsigned v = 63;

	if (fd >= 0) {
		if (read(fd, buf, sizeof(buf) - 1) > 0 && sscanf(buf, "%u", &v) != 1)
			v = 63;
		close(fd);
	}
	return v > 63 ? 63 : v;
}

/*
 * The drop for the calling thread. Only raw syscalls: it also runs in a
 * signal handler. Returns 0 or a negative errno; *bnd_ok false when the
 * bounding set could not be reduced for lack of CAP_SETPCAP.
 */
static int apply_self(uint64_t keep, unsigned last, bool *bnd_ok)
{
	*bnd_ok = true;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return -errno;
	/* The bounding set first: dropping from it needs CAP_SETPCAP, which goes next. */
	for (unsigned c = 0; c <= last; c++) {
		if ((keep & SAKER_CAP(c)) || prctl(PR_CAPBSET_READ, c, 0, 0, 0) != 1)
			continue;
		if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0)) {
			if (errno != EPERM)
				return -errno;
			*bnd_ok = false;
		}
	}
	/* EINVAL: a kernel before 4.3 has no ambient set to clear. */
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) && errno != EINVAL)
		return -errno;
	return saker_caps_keep(keep);
}

/*
 * A signal handler has no context argument, so the one request lives here.
 * Only saker_privilege_drop writes keep/last (before any signal is sent);
 * handlers only add to the counters.
 */
static struct {
	uint64_t keep;
	unsigned last;
	atomic_uint done, failed;
} req;

static void on_drop_signal(int sig)
{
	int saved = errno;
	bool bnd_ok;

	(void)sig;
	if (apply_self(req.keep, req.last, &bnd_ok))
		atomic_fetch_add(&req.failed, 1);
	atomic_fetch_add(&req.done, 1);
	errno = saved;
}

struct task_caps {
	uint64_t inh, prm, eff, bnd, amb;
	int nnp;
};

static int read_task_caps(pid_t tid, struct task_caps *tc)
{
	char path[64], line[256];
	unsigned found = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/task/%d/status", (int)tid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	memset(tc, 0, sizeof(*tc));
	tc->nnp = -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long v;

		if (sscanf(line, "CapInh: %llx", &v) == 1)
			tc->inh = v, found |= 1;
		else if (sscanf(line, "CapPrm: %llx", &v) == 1)
			tc->prm = v, found |= 2;
		else if (sscanf(line, "CapEff: %llx", &v) == 1)
			tc->eff = v, found |= 4;
		else if (sscanf(line, "CapBnd: %llx", &v) == 1)
			tc->bnd = v, found |= 8;
		else if (sscanf(line, "CapAmb: %llx", &v) == 1)
			tc->amb = v, found |= 16;
		else if (sscanf(line, "NoNewPrivs: %d", &tc->nnp) == 1)
			found |= 32;
	}
	fclose(f);
	return found == 63 ? 0 : -EPROTO;
}

static bool caps_match(const struct task_caps *a, const struct task_caps *want)
{
	return a->inh == 0 && a->amb == 0 && a->nnp == 1 && a->prm == want->prm &&
	       a->eff == want->eff && a->bnd == want->bnd;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/*
 * One look at every thread: those whose sets differ from want are signalled
 * and waited for. *mismatched counts them (0: every thread matches); *bad is
 * one of them.
 */
static int scan_threads(int sig, const struct task_caps *want, pid_t self, unsigned *threads,
			unsigned *mismatched, pid_t *bad, char *err, size_t errlen)
{
	unsigned sent = 0;
	struct dirent *de;
	DIR *dir;

	*threads = 0;
	*mismatched = 0;
	atomic_store(&req.done, 0);
	dir = opendir("/proc/self/task");
	if (!dir) {
		int ret = -errno;

		snprintf(err, errlen, "cannot list /proc/self/task: %s", strerror(-ret));
		return ret;
	}
	while ((de = readdir(dir))) {
		pid_t tid = (pid_t)atoi(de->d_name);
		struct task_caps tc;

		if (tid <= 0)
			continue;
		if (read_task_caps(tid, &tc) == -ENOENT)
			continue; /* a thread that just ended needs nothing */
		(*threads)++;
		if (caps_match(&tc, want))
			continue;
		(*mismatched)++;
		*bad = tid;
		if (tid != self && syscall(SYS_tgkill, getpid(), tid, sig) == 0)
			sent++;
	}
	closedir(dir);
	for (long waited = 0; atomic_load(&req.done) < sent && waited < THREAD_WAIT_MS; waited++)
		sleep_ms(1);
	return 0;
}

int saker_privilege_drop(uint64_t keep, struct saker_privilege_result *res, char *err,
			 size_t errlen)
{
	struct sigaction sa = {.sa_handler = on_drop_signal, .sa_flags = SA_RESTART}, old;
	int sig = SIGRTMIN;
	struct task_caps want;
	pid_t self = (pid_t)syscall(SYS_gettid), bad = 0;
	unsigned threads = 1;
	bool bnd_ok, all_done = false;
	int ret;

	memset(res, 0, sizeof(*res));
	req.keep = keep;
	req.last = last_cap();
	atomic_store(&req.failed, 0);
	ret = apply_self(keep, req.last, &bnd_ok);
	if (ret) {
		snprintf(err, errlen, "cannot drop capabilities: %s", strerror(-ret));
		return ret;
	}
	ret = read_task_caps(self, &want);
	if (ret) {
		snprintf(err, errlen, "cannot read /proc/self/task/%d/status: %s", (int)self,
			 strerror(-ret));
		return ret;
	}
	sigfillset(&sa.sa_mask);
	if (sigaction(sig, &sa, &old)) {
		ret = -errno;
		snprintf(err, errlen, "cannot install the drop handler: %s", strerror(errno));
		return ret;
	}
	/* The first round signals the other threads, the next finds them all matching. */
	for (int round = 0; round <= MAX_ROUNDS && !all_done; round++) {
		unsigned mismatched;

		ret = scan_threads(sig, &want, self, &threads, &mismatched, &bad, err, errlen);
		if (ret)
			break;
		all_done = mismatched == 0;
	}
	/*
	 * A handler still pending would, under the default action, end saker:
	 * restore the old action only when every thread answered.
	 */
	if (all_done)
		(void)sigaction(sig, &old, NULL);
	else
		(void)signal(sig, SIG_IGN);
	if (ret)
		return ret;
	if (!all_done) {
		snprintf(err, errlen,
			 "thread %d of saker did not drop its capabilities (%u handler failures)",
			 (int)(bad ? bad : self), atomic_load(&req.failed));
		return -EPERM;
	}
	res->kept = want.eff;
	res->threads = threads;
	res->bounding_reduced = bnd_ok;
	return 0;
}

#if defined(__x86_64__)
#define NATIVE_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define NATIVE_ARCH AUDIT_ARCH_AARCH64
#endif

/*
 * The sanitizer build (tests only) lets ptrace through: LeakSanitizer stops
 * saker's threads with it at exit, from a task of saker's own. What refuses
 * other processes there is the capability drop alone (no CAP_SYS_PTRACE: a
 * root process's permitted set is never a subset of saker's).
 */
#if defined(__SANITIZE_ADDRESS__)
#define NR_PTRACE_REFUSED 0xffffffffu
#else
#define NR_PTRACE_REFUSED __NR_ptrace
#endif

#define DENY  (SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA))
#define ALLOW SECCOMP_RET_ALLOW
/* arg0's low 32 bits (a pid_t): little-endian, the first half of the u64. */
#define ARG0_LO offsetof(struct seccomp_data, args[0])

int saker_privilege_confine(pid_t self, char *err, size_t errlen)
{
#ifdef NATIVE_ARCH
	struct sock_filter f[] = {
	    /* Another ABI (x32, int 0x80) would have other numbers: refused whole. */
	    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NATIVE_ARCH, 1, 0),
	    BPF_STMT(BPF_RET | BPF_K, DENY),
	    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
	    /* Signals only to saker itself (its threads: tgkill with its own tgid). */
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_kill, 9, 0),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_tgkill, 8, 0),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_rt_sigqueueinfo, 7, 0),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_rt_tgsigqueueinfo, 6, 0),
	    /* Never: another process's memory or descriptors, a signal by tid or pidfd. */
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NR_PTRACE_REFUSED, 8, 0),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_process_vm_readv, 7, 0),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_process_vm_writev, 6, 0),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_tkill, 5, 0),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_pidfd_send_signal, 4, 0),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_pidfd_getfd, 3, 2),
	    /* kill, tgkill, rt_(tg)sigqueueinfo: the target (arg 0) must be saker. */
	    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ARG0_LO),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)self, 0, 1),
	    BPF_STMT(BPF_RET | BPF_K, ALLOW),
	    BPF_STMT(BPF_RET | BPF_K, DENY),
	};
	struct sock_fprog prog = {.len = sizeof(f) / sizeof(f[0]), .filter = f};

	/* TSYNC: every thread, also those started before (the outputs worker). */
	long r = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &prog);

	/* TSYNC answers with the id of a thread it could not bring along. */
	if (r > 0) {
		snprintf(err, errlen, "cannot install the seccomp filter in thread %ld", r);
		return -EAGAIN;
	}
	if (r < 0) {
		int ret = -errno;

		snprintf(err, errlen, "cannot install the seccomp filter: %s", strerror(-ret));
		return ret;
	}
	return 0;
#else
	(void)self;
	snprintf(err, errlen, "no seccomp filter for this architecture");
	return -ENOTSUP;
#endif
}

/*
 * Every thread to user's uid and gid, no supplementary groups. PR_SET_KEEPCAPS
 * keeps the calling thread's permitted set across the switch, and it is made
 * effective again so that the drop that follows can reduce the bounding set;
 * another thread (none runs yet) loses its set, and the drop's check then
 * refuses to run.
 */
int saker_privilege_switch_user(const char *user, uid_t *uid, char *err, size_t errlen)
{
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
	struct __user_cap_data_struct d[2];
	struct passwd pw, *res = NULL;
	char buf[4096];
	uid_t r, e, s;
	int rc;

	rc = getpwnam_r(user, &pw, buf, sizeof(buf), &res);
	if (rc || !res) {
		snprintf(err, errlen, "run_as_user: no user '%s'%s%s", user, rc ? ": " : "",
			 rc ? strerror(rc) : "");
		return rc ? -rc : -ENOENT;
	}
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) || setgroups(0, NULL) ||
	    setresgid(pw.pw_gid, pw.pw_gid, pw.pw_gid) ||
	    setresuid(pw.pw_uid, pw.pw_uid, pw.pw_uid)) {
		rc = -errno;
		snprintf(err, errlen, "run_as_user: cannot switch to '%s': %s", user,
			 strerror(-rc));
		return rc;
	}
	(void)prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
	if (getresuid(&r, &e, &s) || r != pw.pw_uid || e != pw.pw_uid || s != pw.pw_uid) {
		snprintf(err, errlen, "run_as_user: '%s' did not take", user);
		return -EPERM;
	}
	if (syscall(SYS_capget, &h, d) == 0) {
		d[0].effective = d[0].permitted;
		d[1].effective = d[1].permitted;
		(void)syscall(SYS_capset, &h, d);
	}
	*uid = pw.pw_uid;
	return 0;
}

int saker_privilege_apply(const struct saker_log *log, const char *user, char *err, size_t errlen)
{
	struct saker_privilege_result res;
	char names[512];
	uid_t uid = 0;
	int ret = 0;

	if (user && *user)
		ret = saker_privilege_switch_user(user, &uid, err, errlen);
	if (!ret)
		ret = saker_privilege_drop(saker_privilege_default_keep(), &res, err, errlen);
	if (ret)
		return ret;
	ret = saker_privilege_confine(getpid(), err, errlen);
	if (ret == -ENOTSUP)
		saker_log(log, SAKER_PRIO_WARNING, "%s", err);
	else if (ret)
		return ret;
	saker_privilege_names(res.kept, names, sizeof(names));
	saker_log(log, SAKER_PRIO_INFO,
		  "capabilities dropped in %u thread(s): keeping %s; no_new_privs set; "
		  "signals to saker only, no ptrace (seccomp)",
		  res.threads, names);
	if (!res.bounding_reduced)
		saker_log(log, SAKER_PRIO_WARNING,
			  "no CAP_SETPCAP: the capability bounding set could not be reduced");
	if (user && *user)
		saker_log(log, SAKER_PRIO_INFO,
			  "running as user %s (uid %u), no supplementary groups", user,
			  (unsigned)uid);
	return 0;
}
