/*
 * The rules engine end to end in memory: rules files loaded from buffers,
 * synthetic events (evbuild.h) applied to a view, then matched.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "event/event.h"
#include "evbuild.h"
#include "rules/fields.h"
#include "rules/rules.h"
#include "state/view.h"

static struct evb B;

#define HOST_CG	     7
#define CONTAINER_CG 8
#define CONTAINER_ID "0123456789ab"

struct fixture {
	struct saker_view *v;
	char root[64];
	struct saker_event ev; /* the event under test, in B */
};

static void write_file(const char *root, const char *rel, const char *content)
{
	char path[PATH_MAX], dir[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	snprintf(dir, sizeof(dir), "%s", path);
	*strrchr(dir, '/') = '\0';
	(void)mkdir(dir, 0755);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(content, f);
	fclose(f);
}

/* A sched_process_exec record. */
static void exec_rec(uint32_t pid, uint32_t ppid, const char *exe, const char *comm,
		     const char *const *argv, const char *cwd, uint64_t uid, uint64_t tty,
		     uint64_t cg)
{
	evb_begin(&B, SAKER_EVT_PROC_EXEC, SAKER_SYSCALL_NONE, pid, pid, 0, 1000000000ull + pid);
	evb_str(&B, SAKER_PN_EXE, exe);
	evb_strlist(&B, SAKER_PN_ARGS, argv);
	evb_str(&B, SAKER_PN_CWD, cwd);
	evb_u64(&B, SAKER_PN_UID, uid);
	evb_u64(&B, SAKER_PN_GID, uid);
	evb_u64(&B, SAKER_PN_EUID, uid);
	evb_u64(&B, SAKER_PN_LOGINUID, uid ? uid : 0xffffffffu);
	evb_s64(&B, SAKER_PN_PPID, ppid);
	evb_str(&B, SAKER_PN_COMM, comm);
	evb_u64(&B, SAKER_PN_TTY, tty);
	evb_u64(&B, SAKER_PN_CGROUP_ID, cg);
	evb_u64(&B, SAKER_PN_START_TS, 1000000000ull + pid);
}

/* Applies the record in B to the view and parses it as the event under test. */
static void apply(struct fixture *f)
{
	evb_end(&B);
	assert_int_equal(saker_view_handle_event(f->v, evb_hdr(&B), B.len), 0);
	assert_int_equal(saker_event_parse(&f->ev, evb_hdr(&B), B.len), 0);
}

static void open_rec(uint32_t pid, int64_t ret, const char *path, uint64_t flags)
{
	evb_sc(&B, "openat", pid, pid, ret, 5000000000ull);
	evb_s64(&B, SAKER_PN_DIRFD, AT_FDCWD);
	evb_str(&B, SAKER_PN_PATH, path);
	evb_u64(&B, SAKER_PN_FLAGS, flags);
	evb_u64(&B, SAKER_PN_MODE, 0644);
}

static const char *const SYSTEMD_ARGV[] = {"/sbin/init", NULL};
static const char *const SSHD_ARGV[] = {"/usr/sbin/sshd", "-D", NULL};
static const char *const BASH_ARGV[] = {"-bash", NULL};
static const char *const CAT_ARGV[] = {"cat", "-n", "my file", NULL};
static const char *const RUNC_ARGV[] = {"runc", "init", NULL};
static const char *const SH_ARGV[] = {"sh", "-i", NULL};

/*
 * The process tree: systemd(1) -> sshd(50) -> bash(60) -> cat(100), all on
 * the host; runc(190) -> sh(200) in a container with a terminal.
 */
static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char cg[256];

	if (!f)
		return -1;
	snprintf(f->root, sizeof(f->root), "/tmp/saker-rules-XXXXXX");
	if (!mkdtemp(f->root))
		return -1;
	write_file(f->root, "etc/passwd",
		   "root:x:0:0:root:/root:/bin/bash\n# comment\nu:x:1000:1000:U:/home/u:/bin/sh\n");
	write_file(f->root, "etc/group", "root:x:0:\nusers:x:1000:u\n");
	snprintf(cg, sizeof(cg), "0::/system.slice/docker-%s%s.scope\n", CONTAINER_ID,
		 "cdef0123456789abcdef0123456789abcdef0123456789abcdef");
	write_file(f->root, "190/cgroup", cg);
	write_file(f->root, "200/cgroup", cg);
	for (int pid = 1; pid <= 100; pid++) {
		char rel[32];

		if (pid != 1 && pid != 50 && pid != 60 && pid != 100)
			continue;
		snprintf(rel, sizeof(rel), "%d/cgroup", pid);
		write_file(f->root, rel, "0::/user.slice/user-1000.slice\n");
	}
	if (saker_view_new(&f->v, 0, f->root))
		return -1;
	exec_rec(1, 0, "/usr/lib/systemd/systemd", "systemd", SYSTEMD_ARGV, "/", 0, 0, HOST_CG);
	apply(f);
	exec_rec(50, 1, "/usr/sbin/sshd", "sshd", SSHD_ARGV, "/", 0, 0, HOST_CG);
	apply(f);
	exec_rec(60, 50, "/usr/bin/bash", "bash", BASH_ARGV, "/home/u", 1000, (136ull << 20) | 3,
		 HOST_CG);
	apply(f);
	exec_rec(190, 1, "/usr/bin/runc", "runc:[1:CHILD]", RUNC_ARGV, "/", 0, 0, CONTAINER_CG);
	apply(f);
	exec_rec(200, 190, "/bin/sh", "sh", SH_ARGV, "/root", 0, (136ull << 20) | 4, CONTAINER_CG);
	apply(f);
	/* cat was forked (its start time comes from the fork), then exec'd */
	evb_begin(&B, SAKER_EVT_PROC_FORK, SAKER_SYSCALL_NONE, 100, 100, 0, 2000000000ull);
	evb_s64(&B, SAKER_PN_PID, 60);
	evb_s64(&B, SAKER_PN_PPID, 60);
	evb_str(&B, SAKER_PN_COMM, "bash");
	apply(f);
	exec_rec(100, 60, "/usr/bin/cat", "cat", CAT_ARGV, "/home/u", 1000, (136ull << 20) | 3,
		 HOST_CG);
	apply(f);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	saker_view_free(f->v);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->root);
	if (system(cmd))
		return -1;
	free(f);
	return 0;
}

/* ---- helpers -------------------------------------------------------------- */

static char last_err[1024];
static char warnings[16384];

static void collect_warn(void *ctx, enum saker_prio prio, const char *msg)
{
	size_t n = strlen(warnings);

	(void)ctx;
	assert_int_equal(prio, SAKER_PRIO_WARNING);
	snprintf(warnings + n, sizeof(warnings) - n, "%s\n", msg);
}

/* Loads and compiles yaml; NULL (last_err set) on failure. */
static struct saker_rules *load(struct fixture *f, const char *yaml)
{
	struct saker_rules *r;

	warnings[0] = '\0';
	last_err[0] = '\0';
	assert_int_equal(saker_rules_new(&r), 0);
	assert_int_equal(saker_rules_set_names_root(r, f ? f->root : NULL), 0);
	if (saker_rules_load_buffer(r, "t.yaml", yaml, strlen(yaml), last_err, sizeof(last_err),
				    collect_warn, NULL) ||
	    saker_rules_compile(r, last_err, sizeof(last_err), collect_warn, NULL)) {
		if (getenv("RULES_DEBUG"))
			fprintf(stderr, "load: %s\n", last_err);
		saker_rules_free(r);
		return NULL;
	}
	return r;
}

/* One rule with condition cond: matches of the event under test, -1 skipped, -2 error. */
static int M(struct fixture *f, const char *cond)
{
	char yaml[8192];
	struct saker_rules *r;
	int n;

	snprintf(yaml, sizeof(yaml),
		 "- rule: t\n  desc: d\n  condition: |\n    %s\n  output: o\n  priority: INFO\n",
		 cond);
	r = load(f, yaml);
	if (!r)
		return -2;
	if (saker_rules_get(r, 0)->state != SAKER_RULE_LOADED) {
		saker_rules_free(r);
		return -1;
	}
	n = saker_rules_match(r, &f->ev, f->v, NULL, NULL);
	saker_rules_free(r);
	return n;
}

#define YES(c)                                                                                     \
	do {                                                                                       \
		int _n = M(f, c);                                                                  \
		if (_n != 1)                                                                       \
			fail_msg("expected a match (%d): %s %s", _n, c, last_err);                 \
	} while (0)
#define NO(c)                                                                                      \
	do {                                                                                       \
		int _n = M(f, c);                                                                  \
		if (_n != 0)                                                                       \
			fail_msg("expected no match (%d): %s %s", _n, c, last_err);                \
	} while (0)

/* A condition that folds to false: the rule is skipped as never matching. */
#define NEVER(c)                                                                                   \
	do {                                                                                       \
		int _n = M(f, c);                                                                  \
		if (_n != -1)                                                                      \
			fail_msg("expected a skip (%d): %s %s", _n, c, last_err);                  \
	} while (0)

/* ---- operators and fields --------------------------------------------------- */

static void open_shadow(struct fixture *f)
{
	open_rec(100, 3, "/etc/shadow", O_RDONLY | O_CLOEXEC);
	apply(f);
}

static void test_string_operators(void **state)
{
	struct fixture *f = *state;

	open_shadow(f);
	YES("proc.name = cat");
	YES("proc.name == cat");
	NO("proc.name = ca");
	YES("proc.name != dog");
	NO("proc.name != cat");
	YES("fd.name contains shad");
	NO("fd.name contains SHAD");
	YES("fd.name icontains SHAD");
	YES("fd.name startswith /etc/");
	NO("fd.name startswith /usr");
	YES("fd.name endswith dow");
	YES("fd.name glob '/etc/*ow'");
	NO("fd.name glob '/etc/*x'");
	YES("fd.name iglob '/ETC/SH*'");
	YES("proc.name in (dog, cat, bird)");
	NO("proc.name in (dog, bird)");
	YES("proc.name in (a1, a2, a3, a4, a5, a6, cat)"); /* a hashed set */
	NO("proc.name in (a1, a2, a3, a4, a5, a6, ca)");
	YES("proc.name intersects (cat)");
	YES("fd.name pmatch (/usr, /etc)");
	YES("fd.name pmatch (/etc/)");
	NO("fd.name pmatch (/et)");
	YES("fd.name pmatch (/etc/shadow)");
	YES("proc.cmdline regex '^cat -n .*file$'");
	NO("proc.cmdline regex '^dog'");
	YES("proc.name bcontains 6174"); /* "at" */
	NO("proc.name bcontains 6175");
	YES("proc.name exists");
	/* as in Falco, < <= > >= take numbers only */
	assert_int_equal(M(f, "proc.name > cas"), -2);
	YES("proc.name in ()"
	    " or proc.name = cat");
	NEVER("proc.name in ()");
}

static void test_numeric_and_other_types(void **state)
{
	struct fixture *f = *state;

	open_shadow(f);
	YES("fd.num = 3 and fd.num >= 0 and fd.num > 2 and fd.num < 4 and fd.num <= 3");
	YES("fd.num in (1, 2, 3)");
	NO("fd.num in (1, 2)");
	YES("evt.rawres = 3 and evt.res = SUCCESS");
	YES("proc.pid = 100 and proc.ppid = 60 and thread.tid = 0x64");
	YES("user.uid = 1000 and user.uid < 1001 and user.name = u and group.gid = 1000");
	YES("group.name = users and user.homedir = /home/u and user.shell = /bin/sh");
	YES("user.loginuid = 1000 and user.loginname = u");
	YES("proc.tty != 0");
	YES("evt.is_open_read = true and evt.is_open_write = false");
	NO("evt.is_open_write = true");
	YES("evt.dir = <");
	NEVER("evt.dir = >");
	YES("evt.num > 0");
	YES("not evt.num = 0");
	YES("evt.source = syscall and evt.hostname exists and evt.time exists");
	/* a value that does not fit its field is an error, not a skip */
	assert_int_equal(M(f, "fd.num = abc"), -2);
	assert_non_null(strstr(last_err, "not a valid"));
	assert_int_equal(M(f, "evt.is_open_read = maybe"), -2);
	/* a string operator on a number is unsupported: skipped */
	assert_int_equal(M(f, "fd.num contains 3"), -1);
	assert_non_null(strstr(warnings, "'contains' is not supported"));
}

static void test_process_fields(void **state)
{
	struct fixture *f = *state;

	open_shadow(f);
	YES("proc.name = cat and proc.exe = cat and proc.exepath = /usr/bin/cat");
	YES("proc.cmdline = \"cat -n my file\" and proc.args = \"-n my file\"");
	YES("proc.cwd = /home/u/");
	YES("proc.pname = bash and proc.pexe = -bash and proc.pexepath = /usr/bin/bash");
	YES("proc.pcmdline = bash");
	YES("proc.aname[0] = cat and proc.aname[1] = bash and proc.aname[2] = sshd");
	YES("proc.aname[3] = systemd");
	NO("proc.aname[4] exists");
	YES("proc.aname = sshd and proc.aname in (systemd)");
	NO("proc.aname = cat"); /* ancestors exclude the process */
	YES("proc.apid[2] = 50 and proc.aexepath[2] = /usr/sbin/sshd");
	YES("proc.aexe[2] = /usr/sbin/sshd and proc.acmdline[2] = \"sshd -D\"");
	YES("proc.duration = 3000000000");
	YES("container.id = host and container.name = host");
	YES("proc.is_exe_from_memfd = false");
	/* fields saker never has: a check is false, its negation true */
	NEVER("thread.cap_permitted contains sys_admin");
	NEVER("thread.cap_permitted exists");
	YES("not thread.cap_permitted contains sys_admin");
	/* no capabilities in the exec record: unknown, so missing (not "none") */
	NO("thread.cap_effective exists");
	YES("not thread.cap_effective icontains sys_admin");
	YES("not container.image.repository in (a, b)");
}

static void test_fd_fields(void **state)
{
	struct fixture *f = *state;

	open_shadow(f);
	YES("fd.typechar = f and fd.type = file and fd.directory = /etc and fd.filename = shadow");
	YES("fd.nameraw = /etc/shadow");
	NO("fd.l4proto exists");
	YES("evt.arg.flags contains O_CLOEXEC and evt.arg.flags contains O_RDONLY");
	YES("evt.arg.name = /etc/shadow and evt.arg.dirfd = \"-100(AT_FDCWD)\"");
	YES("evt.arg.mode = 0644 and evt.rawarg.mode = 420");
	YES("evt.rawarg.flags > 0 and evt.arg[2] = /etc/shadow");
	YES("evt.args contains \"name=/etc/shadow\"");

	/* a failed relative open: fd.num -1, the path resolved against the cwd */
	open_rec(100, -ENOENT, "../u/./.ssh/../../../etc/passwd", O_WRONLY | O_CREAT | O_TRUNC);
	apply(f);
	YES("fd.num = -1 and fd.typechar = f and evt.res startswith E and evt.res = ENOENT");
	YES("fd.name = /etc/passwd and fd.nameraw glob '*../*../*'");
	YES("evt.is_open_write = true and evt.is_open_read = false");
	YES("evt.arg.flags contains O_TRUNC and evt.arg.flags contains O_WRONLY");
	YES("evt.rawres = -2 and evt.arg.fd = \"-2(ENOENT)\"");

	/* a socket */
	evb_sc(&B, "connect", 100, 100, 0, 6000000000ull);
	evb_s64(&B, SAKER_PN_FD, 4);
	evb_sin(&B, SAKER_PN_ADDR, "93.184.216.34", 443);
	apply(f);
	YES("evt.type = connect and fd.typechar = 4 and fd.type = ipv4 and fd.num = 4");
	YES("fd.sip = 93.184.216.34 and fd.sport = 443 and fd.rport = 443");
	YES("fd.rip = \"93.184.216.34\" and fd.connected = true and fd.is_server = false");
	YES("fd.snet = \"93.184.0.0/16\" and not fd.snet in (\"10.0.0.0/8\", \"192.168.0.0/16\")");
	YES("fd.ip = 93.184.216.34 and fd.port = 443 and fd.net = \"93.0.0.0/8\"");
	YES("fd.ip != \"0.0.0.0\" and fd.net != \"127.0.0.0/8\"");
	YES("fd.name endswith \"->93.184.216.34:443\"");
	YES("evt.arg.addr = \"93.184.216.34:443\" and evt.arg.fd startswith \"4(<4>\"");
	NO("fd.sip = 93.184.216.35");
	assert_int_equal(M(f, "fd.sip = nonsense"), -2);
	/* connect()'s socket was not seen being made: the transport is unknown */
	NO("fd.l4proto exists");

	/* socket() first: the transport, as Falco's stable rules test it */
	evb_sc(&B, "socket", 100, 100, 6, 6000000000ull);
	evb_u64(&B, SAKER_PN_DOMAIN, AF_INET);
	evb_u64(&B, SAKER_PN_TYPE, SOCK_STREAM | SOCK_NONBLOCK);
	evb_u64(&B, SAKER_PN_PROTO, 0);
	apply(f);
	YES("evt.type = socket and fd.num = 6 and fd.type = ipv4 and fd.typechar = 4");
	YES("fd.l4proto = tcp and fd.connected = false and fd.sockfamily = ip");
	evb_sc(&B, "connect", 100, 100, 0, 6000000001ull);
	evb_s64(&B, SAKER_PN_FD, 6);
	evb_sin(&B, SAKER_PN_ADDR, "192.0.2.10", 2222);
	apply(f);
	YES("fd.l4proto = tcp and fd.sport in (22, 2222)");
	YES("fd.connected = true and fd.rport = 2222 and fd.sip = 192.0.2.10");
	YES("(fd.typechar = 4 or fd.typechar = 6) and fd.ip != \"0.0.0.0\" and "
	    "fd.net != \"127.0.0.0/8\" and not fd.snet in (\"10.0.0.0/8\", \"172.16.0.0/12\", "
	    "\"192.168.0.0/16\")");
	/* Falco's "Unexpected UDP Traffic" shape: a UDP socket, connected or not */
	evb_sc(&B, "socket", 100, 100, 7, 6000000002ull);
	evb_u64(&B, SAKER_PN_DOMAIN, AF_INET6);
	evb_u64(&B, SAKER_PN_TYPE, SOCK_DGRAM);
	evb_u64(&B, SAKER_PN_PROTO, IPPROTO_UDP);
	apply(f);
	YES("fd.l4proto = udp and fd.type = ipv6 and fd.typechar = 6 and fd.connected = false");
	NO("fd.l4proto != udp");
	/* a listening TCP server and the socket accept() made */
	evb_sc(&B, "socket", 100, 100, 8, 6000000003ull);
	evb_u64(&B, SAKER_PN_DOMAIN, AF_INET);
	evb_u64(&B, SAKER_PN_TYPE, SOCK_STREAM);
	evb_u64(&B, SAKER_PN_PROTO, IPPROTO_TCP);
	apply(f);
	evb_sc(&B, "bind", 100, 100, 0, 6000000004ull);
	evb_s64(&B, SAKER_PN_FD, 8);
	evb_sin(&B, SAKER_PN_ADDR, "0.0.0.0", 8443);
	apply(f);
	YES("evt.type = bind and fd.l4proto = tcp and fd.lport = 8443 and fd.is_server = true");
	evb_sc(&B, "listen", 100, 100, 0, 6000000005ull);
	evb_s64(&B, SAKER_PN_FD, 8);
	evb_s64(&B, SAKER_PN_BACKLOG, 16);
	apply(f);
	YES("evt.type = listen and fd.l4proto = tcp and fd.sport = 8443");
	evb_sc(&B, "accept4", 100, 100, 9, 6000000006ull);
	evb_s64(&B, SAKER_PN_FD, 8);
	evb_sin(&B, SAKER_PN_ADDR, "203.0.113.5", 41000);
	evb_u64(&B, SAKER_PN_FLAGS, 0);
	apply(f);
	YES("evt.type = accept4 and fd.num = 9 and fd.l4proto = tcp and fd.connected = true");
	YES("fd.sport = 8443 and fd.cport = 41000 and fd.cip = 203.0.113.5 and fd.lport = 8443");
	YES("fd.rport = 41000 and fd.is_server = true");
	/* unix and raw */
	evb_sc(&B, "socket", 100, 100, 10, 6000000007ull);
	evb_u64(&B, SAKER_PN_DOMAIN, AF_UNIX);
	evb_u64(&B, SAKER_PN_TYPE, SOCK_STREAM);
	evb_u64(&B, SAKER_PN_PROTO, 0);
	apply(f);
	YES("fd.type = unix and fd.typechar = u and not fd.l4proto exists");
	evb_sc(&B, "socket", 100, 100, 11, 6000000008ull);
	evb_u64(&B, SAKER_PN_DOMAIN, AF_INET);
	evb_u64(&B, SAKER_PN_TYPE, SOCK_RAW);
	evb_u64(&B, SAKER_PN_PROTO, IPPROTO_ICMP);
	apply(f);
	YES("fd.l4proto = raw");
	evb_sc(&B, "socket", 100, 100, 12, 6000000009ull);
	evb_u64(&B, SAKER_PN_DOMAIN, AF_INET);
	evb_u64(&B, SAKER_PN_TYPE, SOCK_DGRAM);
	evb_u64(&B, SAKER_PN_PROTO, IPPROTO_ICMP);
	apply(f);
	YES("fd.l4proto = icmp");
	evb_sc(&B, "socket", 100, 100, 13, 6000000010ull);
	evb_u64(&B, SAKER_PN_DOMAIN, AF_NETLINK);
	evb_u64(&B, SAKER_PN_TYPE, SOCK_RAW);
	evb_u64(&B, SAKER_PN_PROTO, 0);
	apply(f);
	YES("fd.type = netlink and fd.typechar = n");
}

static void test_event_types(void **state)
{
	struct fixture *f = *state;
	uint8_t sel[SAKER_SYSCALL_MAX];
	struct saker_rules *r;
	bool all;

	evb_sc(&B, "ptrace", 100, 100, 0, 7000000000ull);
	evb_u64(&B, SAKER_PN_REQUEST, 16);
	evb_s64(&B, SAKER_PN_PID, 60);
	apply(f);
	YES("evt.type = ptrace and evt.arg.request = PTRACE_ATTACH and evt.arg.pid = 60");
	YES("evt.type in (open, ptrace) and evt.rawarg.request = 16");
	YES("evt.type != open");
	NO("evt.type = open");
	NO("evt.type != ptrace");
	YES("not evt.type = open");
	YES("evt.type startswith ptr"); /* not an index check: a string compare */

	/* the exec record is Falco's execve */
	exec_rec(100, 60, "/usr/bin/cat", "cat", CAT_ARGV, "/home/u", 1000, 0, HOST_CG);
	apply(f);
	YES("evt.type = execve and evt.dir = < and evt.res = SUCCESS");
	YES("evt.type in (execve, execveat) and evt.arg.exe = cat");
	YES("evt.arg.args = \"-n my file\" and evt.arg.trusted_exepath = /usr/bin/cat");
	NO("evt.type = execveat");
	/* a successful execve syscall exit is not the exec event (the record above is) */
	evb_sc(&B, "execve", 100, 100, 0, 8000000000ull);
	evb_str(&B, SAKER_PN_PATH, "/usr/bin/cat");
	apply(f);
	NO("evt.type = execve");
	evb_sc(&B, "execve", 100, 100, -ENOENT, 8000000001ull);
	evb_str(&B, SAKER_PN_PATH, "/nope");
	apply(f);
	YES("evt.type = execve and evt.res = ENOENT and evt.arg.filename = /nope");

	/* the syscalls the rules need */
	r = load(
	    f, "- rule: a\n  desc: d\n  condition: evt.type in (openat, connect) and proc.name=x\n"
	       "  output: o\n  priority: INFO\n"
	       "- rule: b\n  desc: d\n  condition: evt.type = ptrace or (evt.type=kill and "
	       "proc.name=x)\n  output: o\n  priority: INFO\n");
	assert_non_null(r);
	saker_rules_syscalls(r, sel, &all);
	assert_false(all);
	assert_int_equal(sel[saker_syscall_id("openat")], 1);
	assert_int_equal(sel[saker_syscall_id("connect")], 1);
	assert_int_equal(sel[saker_syscall_id("ptrace")], 1);
	assert_int_equal(sel[saker_syscall_id("kill")], 1);
	assert_int_equal(sel[saker_syscall_id("read")], 0);
	assert_false(saker_rules_get(r, 0)->catchall);
	saker_rules_free(r);

	/* no event type: a catch-all, with a warning */
	r = load(
	    f, "- rule: a\n  desc: d\n  condition: proc.name = x\n  output: o\n  priority: INFO\n");
	assert_non_null(r);
	saker_rules_syscalls(r, sel, &all);
	assert_true(all);
	assert_true(saker_rules_get(r, 0)->catchall);
	assert_non_null(strstr(warnings, "no event-type restriction"));
	saker_rules_free(r);

	/* an event type saker does not have */
	assert_int_equal(M(f, "evt.type = nosuchsyscall"), -1);
	assert_non_null(strstr(warnings, "no event type"));
}

static void test_precedence(void **state)
{
	struct fixture *f = *state;

	open_shadow(f);
	/* T = proc.name=cat, F = proc.name=dog */
	YES("proc.name=dog and proc.name=dog or proc.name=cat");  /* (F and F) or T */
	NO("proc.name=dog and (proc.name=dog or proc.name=cat)"); /* F and (F or T) */
	YES("proc.name=cat or proc.name=dog and proc.name=dog");  /* T or (F and F) */
	YES("not proc.name=dog and proc.name=cat");		  /* (not F) and T */
	NO("not (proc.name=dog or proc.name=cat)");		  /* not (F or T) */
	YES("not proc.name=cat or proc.name=cat");		  /* (not T) or T */
	NO("not not proc.name=dog");				  /* not not F */
	YES("not not not proc.name=dog");			  /* not not not F */
	NO("not(proc.name=cat)");
	YES("proc.name=dog or(proc.name=cat)");
	YES("((proc.name=cat) and (((proc.name!=dog))))");
}

static void test_macros_and_lists(void **state)
{
	struct fixture *f = *state;
	struct saker_rules *r;
	int n;

	open_shadow(f);
	/* forward references, nested macros, lists of lists, list names in values */
	r = load(f,
		 "- rule: r\n  desc: d\n  condition: is_cat and sensitive\n  output: o\n"
		 "  priority: INFO\n"
		 "- macro: is_cat\n  condition: proc.name in (animals) and not dogs\n"
		 "- macro: dogs\n  condition: proc.name in (dog_names)\n"
		 "- macro: sensitive\n  condition: fd.name in (secret_files) and evt.type=openat\n"
		 "- list: dog_names\n  items: [rex, fido]\n"
		 "- list: cats\n  items: [cat, tom]\n"
		 "- list: animals\n  items: [cats, dog_names, 'bird']\n"
		 "- list: secret_files\n  items: ['\"/etc/shadow\"', /etc/sudoers]\n");
	assert_non_null(r);
	assert_int_equal(saker_rules_loaded(r), 1);
	assert_int_equal(saker_rules_macros(r), 3);
	assert_int_equal(saker_rules_lists(r), 4);
	n = saker_rules_match(r, &f->ev, f->v, NULL, NULL);
	assert_int_equal(n, 1);
	saker_rules_free(r);

	NO("proc.name in (cats, dog)"); /* no such list here: literals */
	NO("proc.name in (\"cats\")");

	/* an undefined macro is an error with its position */
	assert_null(load(f, "- rule: r\n  desc: d\n  condition: evt.type=open and nosuch\n"
			    "  output: o\n  priority: INFO\n"));
	assert_non_null(strstr(last_err, "t.yaml:3:32: rule 'r': undefined macro 'nosuch'"));

	/* a cycle of macros is an error, not a crash */
	assert_null(load(f, "- rule: r\n  desc: d\n  condition: a\n  output: o\n  priority: INFO\n"
			    "- macro: a\n  condition: b and proc.name=x\n"
			    "- macro: b\n  condition: evt.type=open or a\n"));
	assert_non_null(strstr(last_err, "refers to itself"));
	assert_non_null(strstr(last_err, "t.yaml:9:31: rule 'r': macro 'a' refers to itself"));

	/* a list cycle too */
	assert_null(load(f, "- list: a\n  items: [b]\n- list: b\n  items: [a]\n"));
	assert_non_null(strstr(last_err, "refers to itself"));

	/* macros and lists that double at each level are bounded, not expanded forever */
	{
		char yaml[8192];
		size_t len = 0;

		len += (size_t)snprintf(yaml + len, sizeof(yaml) - len,
					"- macro: m0\n  condition: proc.name = a\n");
		for (int i = 1; i < 40; i++)
			len += (size_t)snprintf(yaml + len, sizeof(yaml) - len,
						"- macro: m%d\n  condition: m%d or m%d\n", i, i - 1,
						i - 1);
		snprintf(yaml + len, sizeof(yaml) - len,
			 "- rule: r\n  desc: d\n  condition: evt.type=openat and m39\n"
			 "  output: o\n  priority: INFO\n");
		assert_null(load(f, yaml));
		assert_non_null(strstr(last_err, "condition too large"));
		len = (size_t)snprintf(yaml, sizeof(yaml), "- list: l0\n  items: [a, b]\n");
		for (int i = 1; i < 40; i++)
			len +=
			    (size_t)snprintf(yaml + len, sizeof(yaml) - len,
					     "- list: l%d\n  items: [l%d, l%d]\n", i, i - 1, i - 1);
		assert_null(load(f, yaml));
		assert_non_null(strstr(last_err, "items once expanded"));
	}

	/* a macro used by no rule is still parsed */
	assert_null(load(f, "- macro: m\n  condition: proc.name = (\n"));
	assert_non_null(strstr(last_err, "t.yaml:2:"));
	assert_non_null(strstr(last_err, "macro 'm'"));
}

static void test_quoting(void **state)
{
	struct fixture *f = *state;

	open_shadow(f);
	YES("proc.cmdline = 'cat -n my file'");
	YES("proc.cmdline = \"cat -n my file\"");
	YES("proc.cmdline startswith \"cat \\\"\" or proc.name = cat");
	YES("proc.args contains 'my file'");
	YES("proc.args contains \"my\\ file\"");
	assert_int_equal(M(f, "proc.cmdline = cat -n"), -2);
	YES("proc.name in ('cat', \"dog\")");
	YES("proc.pname in (runc:[0:PARENT], bash)");
	YES("proc.name in (\"a,b\", cat)");
	/* list items quoted as Falco's own lists quote them */
	{
		struct saker_rules *r =
		    load(f, "- list: cmds\n  items: ['\"cat -n my file\"', '\"sh -c \\\"x\\\"\"']\n"
			    "- rule: r\n  desc: d\n  condition: evt.type=openat and proc.cmdline "
			    "in (cmds)\n"
			    "  output: o\n  priority: INFO\n");

		assert_non_null(r);
		assert_int_equal(saker_rules_match(r, &f->ev, f->v, NULL, NULL), 1);
		saker_rules_free(r);
	}
}

/* ---- loader -------------------------------------------------------------------- */

static void test_error_positions(void **state)
{
	struct fixture *f = *state;

	/* in a folded block: the line and column of the bad token in the file */
	assert_null(load(f, "- rule: bad\n  desc: d\n  condition: >\n    proc.name = cat and\n"
			    "    proc.name ( x\n  output: o\n  priority: INFO\n"));
	assert_non_null(strstr(last_err, "t.yaml:5:15: rule 'bad':"));
	/* in a plain scalar */
	assert_null(load(f, "- rule: bad\n  desc: d\n  condition: proc.name = cat and or\n"
			    "  output: o\n  priority: INFO\n"));
	assert_non_null(strstr(last_err, "t.yaml:3:"));
	/* in a macro appended to later: the position is in the appended text */
	assert_null(load(f,
			 "- macro: m\n  condition: proc.name = cat\n"
			 "- macro: m\n  condition: and (\n  append: true\n"
			 "- rule: r\n  desc: d\n  condition: m\n  output: o\n  priority: INFO\n"));
	assert_non_null(strstr(last_err, "t.yaml:4:19: macro 'm': unexpected end"));
	/* YAML syntax */
	assert_null(load(f, "- rule: [unclosed\n"));
	assert_non_null(strstr(last_err, "t.yaml:2:1: did not find expected ',' or ']' "
					 "(while parsing a flow sequence at line 1)"));
	/* bad UTF-8: a line and column, not a byte offset (lib/yamlguard.h, as the config's) */
	assert_null(load(f, "- list: l\n  items: [\xff]\n"));
	assert_non_null(strstr(last_err, "t.yaml:2:11: "));
	/* a '!' value: the same hint as the configuration's */
	assert_null(load(f, "- list: l\n  items: [read, !]\n"));
	assert_non_null(strstr(last_err, "a value starting with '!' is a YAML tag"));
	/* schema */
	assert_null(load(f, "- rule: r\n  desc: d\n  output: o\n  priority: INFO\n"));
	assert_non_null(strstr(last_err, "t.yaml:1:3: rule 'r' has no 'condition'"));
	assert_null(load(f, "- rule: r\n  desc: d\n  condition: evt.type=open\n  output: o\n"
			    "  priority: LOUD\n"));
	assert_non_null(strstr(last_err, "t.yaml:5:13: rule 'r': unknown priority 'LOUD'"));
	assert_null(load(f, "rule: r\n"));
	assert_non_null(strstr(last_err, "sequence"));
	assert_null(load(f, "- just a string\n"));
	assert_non_null(strstr(last_err, "t.yaml:1:3:"));
	/* deep nesting is refused before libyaml builds it */
	{
		char deep[4096];

		memset(deep, '[', 3000);
		deep[3000] = '\0';
		assert_null(load(f, deep));
		assert_non_null(strstr(last_err, "nesting deeper"));
	}
	/* an empty file is fine */
	{
		struct saker_rules *r = load(f, "# nothing\n");

		assert_non_null(r);
		assert_int_equal(saker_rules_count(r), 0);
		saker_rules_free(r);
	}
	/* unknown items and keys warn */
	{
		struct saker_rules *r =
		    load(f, "- something: else\n- rule: r\n  desc: d\n  condition: evt.type=open\n"
			    "  output: o\n  priority: INFO\n  colour: red\n");

		assert_non_null(r);
		assert_non_null(strstr(warnings, "t.yaml:1:3: unknown item"));
		assert_non_null(strstr(warnings, "unknown key 'colour'"));
		saker_rules_free(r);
	}
}

static void test_load_file(void **state)
{
	struct fixture *f = *state;
	struct saker_rules *r;
	char path[PATH_MAX], err[512];

	assert_int_equal(saker_rules_new(&r), 0);
	assert_int_equal(
	    saker_rules_load_file(r, "/nonexistent/x.yaml", err, sizeof(err), NULL, NULL), -ENOENT);
	assert_non_null(strstr(err, "/nonexistent/x.yaml: "));
	/* worded as the configuration's (lib/readfile.h) */
	assert_int_equal(saker_rules_load_file(r, f->root, err, sizeof(err), NULL, NULL), -EISDIR);
	assert_non_null(strstr(err, ": cannot read: Is a directory"));
	write_file(f->root, "r.yaml",
		   "- rule: r\n  desc: d\n  condition: evt.type=openat and bad(\n  output: o\n"
		   "  priority: INFO\n");
	snprintf(path, sizeof(path), "%s/r.yaml", f->root);
	assert_int_equal(saker_rules_load_file(r, path, err, sizeof(err), NULL, NULL), 0);
	assert_int_equal(saker_rules_compile(r, err, sizeof(err), NULL, NULL), -EINVAL);
	/* the position names the file as it was given */
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, ":3:"));
	/* loading after the compile is refused */
	assert_int_equal(saker_rules_load_file(r, path, err, sizeof(err), NULL, NULL), -EBUSY);
	saker_rules_free(r);
}

static int count_matches(struct saker_rules *r, struct fixture *f)
{
	return saker_rules_match(r, &f->ev, f->v, NULL, NULL);
}

/* The ruleset printf makes, loaded: fails the test when it does not load. */
__attribute__((format(printf, 2, 3))) static struct saker_rules *loadf(struct fixture *f,
								       const char *fmt, ...)
{
	char yaml[4096];
	struct saker_rules *r;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(yaml, sizeof(yaml), fmt, ap);
	va_end(ap);
	r = load(f, yaml);
	assert_non_null(r);
	return r;
}

/* How many rules of the ruleset printf makes match the fixture's event. */
__attribute__((format(printf, 2, 3))) static int matches_of(struct fixture *f, const char *fmt, ...)
{
	char yaml[4096];
	struct saker_rules *r;
	va_list ap;
	int n;

	va_start(ap, fmt);
	vsnprintf(yaml, sizeof(yaml), fmt, ap);
	va_end(ap);
	r = load(f, yaml);
	assert_non_null(r);
	n = count_matches(r, f);
	saker_rules_free(r);
	return n;
}

static const char BASE[] = "- list: names\n  items: [dog]\n"
			   "- macro: m\n  condition: proc.name in (names)\n"
			   "- rule: r\n  desc: first\n  condition: evt.type=openat and m\n"
			   "  output: o\n  priority: INFO\n  tags: [a]\n";

static void test_append_and_override(void **state)
{
	struct fixture *f = *state;
	struct saker_rules *r;
	char yaml[4096];

	open_shadow(f);
	assert_int_equal(matches_of(f, "%s", BASE), 0);

	/* list items appended, old style and new */
	assert_int_equal(matches_of(f, "%s- list: names\n  items: [cat]\n  append: true\n", BASE),
			 1);
	assert_int_equal(
	    matches_of(f, "%s- list: names\n  items: [cat]\n  override:\n    items: append\n",
		       BASE),
	    1);
	/* replaced: dog is gone */
	r = loadf(
	    f,
	    "%s- list: names\n  items: [cat]\n  override:\n    items: replace\n"
	    "- rule: r\n  condition: or proc.name = dog\n  override:\n    condition: append\n",
	    BASE);
	assert_int_equal(count_matches(r, f), 1);
	assert_non_null(strstr(saker_rules_get(r, 0)->condition, "or proc.name = dog"));
	saker_rules_free(r);

	/* macro condition appended */
	assert_int_equal(
	    matches_of(f, "%s- macro: m\n  condition: or proc.name = cat\n  append: true\n", BASE),
	    1);

	/* rule condition appended (old style), priority and tags replaced, output appended */
	r = loadf(f,
		  "%s- rule: r\n  condition: or proc.name = cat\n  append: true\n"
		  "- rule: r\n  priority: CRITICAL\n  tags: [b, c]\n  output: more\n  override:\n"
		  "    priority: replace\n    tags: replace\n    output: append\n",
		  BASE);
	assert_int_equal(count_matches(r, f), 1);
	assert_int_equal(saker_rules_get(r, 0)->priority, SAKER_PRIO_CRITICAL);
	assert_int_equal(saker_rules_get(r, 0)->n_tags, 2);
	assert_string_equal(saker_rules_get(r, 0)->tags[1], "c");
	assert_string_equal(saker_rules_get(r, 0)->output, "o more");
	assert_string_equal(saker_rules_get(r, 0)->desc, "first");
	saker_rules_free(r);

	/* a redefinition replaces the rule; enabled-only toggles it */
	r = loadf(f,
		  "%s- rule: r\n  desc: second\n  condition: evt.type=openat\n  output: o2\n"
		  "  priority: INFO\n- rule: r\n  enabled: false\n",
		  BASE);
	assert_int_equal(saker_rules_count(r), 1);
	assert_string_equal(saker_rules_get(r, 0)->desc, "second");
	assert_int_equal(saker_rules_get(r, 0)->state, SAKER_RULE_DISABLED);
	assert_int_equal(saker_rules_loaded(r), 0);
	assert_int_equal(count_matches(r, f), 0);
	saker_rules_free(r);
	r = loadf(f,
		  "%s- rule: r\n  enabled: false\n- rule: r\n  enabled: true\n  override:\n"
		  "    enabled: replace\n- rule: r\n  condition: or proc.name=cat\n  override:\n"
		  "    condition: append\n",
		  BASE);
	assert_int_equal(saker_rules_get(r, 0)->state, SAKER_RULE_LOADED);
	assert_int_equal(count_matches(r, f), 1);
	saker_rules_free(r);

	/* errors: override of nothing, append and override together, bad override */
	assert_null(load(f, "- rule: x\n  condition: a\n  override:\n    condition: append\n"));
	assert_non_null(strstr(last_err, "t.yaml:1:9: rule 'x': override or append of a rule that "
					 "is not defined"));
	assert_null(load(f, "- list: x\n  items: [a]\n  append: true\n"));
	assert_non_null(strstr(last_err, "not defined"));
	snprintf(
	    yaml, sizeof(yaml),
	    "%s- rule: r\n  condition: x\n  append: true\n  override:\n    condition: append\n",
	    BASE);
	assert_null(load(f, yaml));
	assert_non_null(strstr(last_err, "cannot be used together"));
	snprintf(yaml, sizeof(yaml),
		 "%s- rule: r\n  priority: INFO\n  override:\n    priority: append\n", BASE);
	assert_null(load(f, yaml));
	assert_non_null(strstr(last_err, "'priority' cannot be overridden with append"));
}

static void test_exceptions(void **state)
{
	struct fixture *f = *state;
	struct saker_rules *r;
	static const char RULE[] =
	    "- list: ok_files\n  items: [/etc/shadow]\n"
	    "- rule: r\n  desc: d\n  condition: evt.type=openat\n  output: o\n  priority: INFO\n"
	    "  exceptions:\n";
	char yaml[4096];

	open_shadow(f);
	/* a tuple that matches the event suppresses it */
	r = loadf(f,
		  "%s  - name: e1\n    fields: [proc.name, fd.directory]\n    values:\n"
		  "      - [dog, /etc]\n      - [cat, /etc]\n",
		  RULE);
	assert_int_equal(count_matches(r, f), 0);
	assert_non_null(strstr(saker_rules_get(r, 0)->condition, "and not ("));
	saker_rules_free(r);
	/* near miss: the tuple does not match as a whole */
	assert_int_equal(
	    matches_of(f,
		       "%s  - name: e1\n    fields: [proc.name, fd.directory]\n    values:\n"
		       "      - [cat, /usr]\n",
		       RULE),
	    1);
	/* comps, list values, list names */
	assert_int_equal(
	    matches_of(f,
		       "%s  - name: e1\n    fields: [proc.name, fd.name]\n    comps: [in, in]\n"
		       "    values:\n      - [[dog, cat], ok_files]\n",
		       RULE),
	    0);
	/* one field, values a list; startswith comps */
	assert_int_equal(
	    matches_of(f,
		       "%s  - name: e1\n    fields: proc.name\n    values: [dog, cat]\n"
		       "  - name: e2\n    fields: [fd.name]\n    comps: [startswith]\n"
		       "    values:\n      - [/nope]\n",
		       RULE),
	    0);
	/* an exception without values is only a definition; override adds values */
	assert_int_equal(
	    matches_of(f,
		       "%s  - name: e1\n    fields: [proc.name]\n"
		       "- rule: r\n  exceptions:\n  - name: e1\n    values:\n      - [cat]\n"
		       "  override:\n    exceptions: append\n",
		       RULE),
	    0);
	assert_int_equal(matches_of(f, "%s  - name: e1\n    fields: [proc.name]\n", RULE), 1);
	/* values of the wrong width */
	snprintf(yaml, sizeof(yaml),
		 "%s  - name: e1\n    fields: [proc.name, fd.name]\n    values:\n      - [cat]\n",
		 RULE);
	assert_null(load(f, yaml));
	assert_non_null(strstr(last_err, "t.yaml:12:9:"));
	/* an unknown field in an exception skips the rule, naming it */
	r = loadf(f, "%s  - name: e1\n    fields: [ka.user.name]\n    values:\n      - [x]\n",
		  RULE);
	assert_int_equal(saker_rules_get(r, 0)->state, SAKER_RULE_SKIPPED);
	assert_non_null(strstr(saker_rules_get(r, 0)->reason, "ka.user.name"));
	saker_rules_free(r);
}

static void test_skipped_rules(void **state)
{
	struct fixture *f = *state;
	struct saker_rules *r;
	const struct saker_rule_info *in;

	r = load(
	    f, "- required_engine_version: 0.99.0\n"
	       "- required_plugin_versions:\n  - name: k8saudit\n    version: 0.1.0\n"
	       "- rule: unknown\n  desc: d\n  condition: evt.type=open and proc.vpid=1\n"
	       "  output: o\n  priority: INFO\n"
	       "- rule: plugin\n  desc: d\n  condition: ka.user.name = x\n  output: o\n"
	       "  priority: INFO\n"
	       "- rule: transformer\n  desc: d\n  condition: evt.type=open and tolower(proc.name) "
	       "= x\n  output: o\n  priority: INFO\n"
	       "- rule: never\n  desc: d\n  condition: evt.type=open and thread.cap_permitted "
	       "contains x\n  output: o\n  priority: INFO\n"
	       "- rule: notnever\n  desc: d\n  condition: evt.type=open and not "
	       "thread.cap_permitted contains x\n  output: o %thread.cap_permitted\n  priority: "
	       "INFO\n"
	       "- rule: badoutput\n  desc: d\n  condition: evt.type=open\n  output: o %proc.env\n"
	       "  priority: INFO\n"
	       "- rule: source\n  desc: d\n  condition: ka.verb=x\n  output: o\n  priority: INFO\n"
	       "  source: k8s_audit\n"
	       "- rule: quiet\n  desc: d\n  condition: evt.type=open\n  output: o\n"
	       "  priority: DEBUG\n"
	       "- rule: noarg\n  desc: d\n  condition: evt.type=open and evt.arg.nosucharg = 1\n"
	       "  output: o\n  priority: INFO\n");
	assert_non_null(r);
	assert_non_null(strstr(warnings, "t.yaml:1:28: requires engine version 0.99.0"));
	assert_non_null(strstr(warnings, "requires plugin 'k8saudit'"));
	assert_int_equal(saker_rules_count(r), 9);
	in = saker_rules_get(r, 0);
	assert_int_equal(in->state, SAKER_RULE_SKIPPED);
	assert_non_null(strstr(in->reason, "field 'proc.vpid' is not supported by saker"));
	assert_non_null(strstr(in->reason, "(at t.yaml:7:32)"));
	assert_non_null(strstr(warnings, "t.yaml:5:9: rule 'unknown' skipped: field 'proc.vpid' "
					 "is not supported by saker"));
	in = saker_rules_get(r, 1);
	assert_int_equal(in->state, SAKER_RULE_SKIPPED);
	assert_non_null(strstr(in->reason, "from a plugin"));
	in = saker_rules_get(r, 2);
	assert_non_null(strstr(in->reason, "tolower"));
	in = saker_rules_get(r, 3);
	assert_int_equal(in->state, SAKER_RULE_SKIPPED);
	assert_non_null(strstr(in->reason, "thread.cap_permitted"));
	assert_non_null(strstr(in->reason, "effective set"));
	assert_int_equal(saker_rules_get(r, 4)->state, SAKER_RULE_LOADED);
	in = saker_rules_get(r, 5);
	assert_int_equal(in->state, SAKER_RULE_SKIPPED);
	assert_non_null(strstr(in->reason, "output: field 'proc.env' is not supported by saker"));
	in = saker_rules_get(r, 6);
	assert_non_null(strstr(in->reason, "source 'k8s_audit'"));
	assert_int_equal(saker_rules_get(r, 7)->state, SAKER_RULE_LOADED);
	in = saker_rules_get(r, 8);
	assert_non_null(strstr(in->reason, "nosucharg"));
	assert_int_equal(saker_rules_loaded(r), 2);
	saker_rules_free(r);

	/* the minimum priority */
	{
		struct saker_rules *q;
		const char *y =
		    "- rule: quiet\n  desc: d\n  condition: evt.type=open\n  output: o\n"
		    "  priority: DEBUG\n";

		assert_int_equal(saker_rules_new(&q), 0);
		saker_rules_set_min_priority(q, SAKER_PRIO_NOTICE);
		assert_int_equal(saker_rules_load_buffer(q, "q", y, strlen(y), NULL, 0, NULL, NULL),
				 0);
		assert_int_equal(saker_rules_compile(q, NULL, 0, NULL, NULL), 0);
		assert_int_equal(saker_rules_get(q, 0)->state, SAKER_RULE_SKIPPED);
		assert_non_null(strstr(saker_rules_get(q, 0)->reason, "below the minimum"));
		saker_rules_free(q);
	}
}

/* ---- outputs --------------------------------------------------------------- */

struct got {
	int n;
	char output[1024];
	char rule[128];
	struct saker_alert a;
	char fields[16][256];
	int types[16];
	int64_t nums[16];
	size_t nf;
	enum saker_prio prio;
};

static void on_match(void *ctx, const struct saker_rule_info *rule, const struct saker_alert *a)
{
	struct got *g = ctx;

	g->n++;
	snprintf(g->output, sizeof(g->output), "%s", a->output);
	snprintf(g->rule, sizeof(g->rule), "%s", rule->name);
	g->a = *a;
	g->prio = a->priority;
	g->nf = a->n_fields < 16 ? a->n_fields : 16;
	for (size_t i = 0; i < g->nf; i++) {
		const struct saker_field *fl = &a->fields[i];

		g->types[i] = fl->type;
		if (fl->type == SAKER_FIELD_STR)
			snprintf(g->fields[i], sizeof(g->fields[i]), "%s=%s", fl->name,
				 fl->str ? fl->str : "(null)");
		else
			snprintf(g->fields[i], sizeof(g->fields[i]), "%s", fl->name);
		g->nums[i] = fl->type == SAKER_FIELD_S64 ? fl->s64 : (int64_t)fl->u64;
	}
}

static int field_idx(const struct got *g, const char *name)
{
	for (size_t i = 0; i < g->nf; i++)
		if (!strncmp(g->fields[i], name, strlen(name)) &&
		    (g->fields[i][strlen(name)] == '=' || !g->fields[i][strlen(name)]))
			return (int)i;
	return -1;
}

static void test_output_format(void **state)
{
	struct fixture *f = *state;
	struct saker_rules *r;
	struct got g = {0};
	int i;

	open_shadow(f);
	r = load(f,
		 "- rule: out\n  desc: d\n  condition: evt.type=openat\n  output: \"file=%fd.name "
		 "p=%proc.name gp=%proc.aname[2] g5=%proc.aname[5] uid=%user.uid pid=%proc.pid "
		 "read=%evt.is_open_read sip=%fd.sip 100%% done. cap=%thread.cap_effective "
		 "%evt.type.\"\n  priority: WARNING\n  tags: [t1, t2]\n");
	assert_non_null(r);
	saker_rules_set_boot_offset(r, 1000000000ull);
	assert_int_equal(saker_rules_match(r, &f->ev, f->v, on_match, &g), 1);
	assert_int_equal(g.n, 1);
	assert_string_equal(g.output, "file=/etc/shadow p=cat gp=sshd g5=<NA> uid=1000 pid=100 "
				      "read=true sip=<NA> 100% done. cap=<NA> openat.");
	assert_string_equal(g.rule, "out");
	assert_int_equal(g.prio, SAKER_PRIO_WARNING);
	assert_string_equal(g.a.source, "syscall");
	assert_int_equal(g.a.n_tags, 2);
	assert_int_equal(g.a.time_ns, 5000000000ull + 1000000000ull);
	assert_int_equal(g.nf, 10);
	i = field_idx(&g, "fd.name");
	assert_true(i >= 0);
	assert_string_equal(g.fields[i], "fd.name=/etc/shadow");
	i = field_idx(&g, "proc.aname[2]");
	assert_true(i >= 0);
	assert_string_equal(g.fields[i], "proc.aname[2]=sshd");
	i = field_idx(&g, "proc.aname[5]");
	assert_true(i >= 0);
	assert_string_equal(g.fields[i], "proc.aname[5]=(null)");
	i = field_idx(&g, "user.uid");
	assert_int_equal(g.types[i], SAKER_FIELD_U64);
	assert_int_equal(g.nums[i], 1000);
	i = field_idx(&g, "proc.pid");
	assert_int_equal(g.types[i], SAKER_FIELD_S64);
	assert_int_equal(g.nums[i], 100);
	i = field_idx(&g, "evt.is_open_read");
	assert_int_equal(g.types[i], SAKER_FIELD_BOOL);
	assert_true(field_idx(&g, "evt.type") >= 0);
	saker_rules_free(r);
}

/* thread.cap_effective: from the exec record, inherited at fork, cleared by leaving euid 0. */
static void test_capabilities(void **state)
{
	struct fixture *f = *state;
	struct saker_rules *r;
	struct got g = {0};

	exec_rec(400, 1, "/usr/bin/cat", "cat", CAT_ARGV, "/", 0, 0, HOST_CG);
	evb_u64(&B, SAKER_PN_CAP_EFF,
		1ull << 0 | 1ull << 16 | 1ull << 21 | 1ull << 40 | 1ull << 45);
	apply(f);
	YES("thread.cap_effective icontains sys_module and thread.cap_effective contains "
	    "CAP_CHOWN");
	YES("thread.cap_effective = \"CAP_CHOWN CAP_SYS_MODULE CAP_SYS_ADMIN "
	    "CAP_CHECKPOINT_RESTORE CAP_45\"");
	NO("thread.cap_effective contains CAP_NET_ADMIN");
	r = load(f, "- rule: out\n  desc: d\n  condition: evt.type = execve or proc.name = cat\n"
		    "  output: caps=%thread.cap_effective\n  priority: WARNING\n");
	assert_non_null(r);
	assert_int_equal(saker_rules_match(r, &f->ev, f->v, on_match, &g), 1);
	assert_non_null(strstr(g.output, "caps=CAP_CHOWN CAP_SYS_MODULE CAP_SYS_ADMIN"));
	saker_rules_free(r);
	/* a child inherits them */
	evb_begin(&B, SAKER_EVT_PROC_FORK, SAKER_SYSCALL_NONE, 401, 401, 0, 5000000000ull);
	evb_s64(&B, SAKER_PN_PID, 400);
	evb_s64(&B, SAKER_PN_PPID, 400);
	evb_str(&B, SAKER_PN_COMM, "cat");
	apply(f);
	open_rec(401, 3, "/etc/hosts", O_RDONLY);
	apply(f);
	YES("thread.cap_effective icontains sys_admin");
	/* setuid(1000) from root: the kernel clears the effective set */
	evb_sc(&B, "setuid", 401, 401, 0, 5100000000ull);
	evb_s64(&B, SAKER_PN_UID, 1000);
	apply(f);
	open_rec(401, 4, "/etc/hosts", O_RDONLY);
	evb_hdr(&B)->ts_ns = 5150000000ull; /* after the setuid: records see their own time */
	apply(f);
	YES("thread.cap_effective = \"\" and thread.cap_effective exists");
	NO("thread.cap_effective icontains sys_admin");
	/* capset: saker cannot read the new set: unknown */
	evb_sc(&B, "capset", 400, 400, 0, 5200000000ull);
	evb_u64(&B, SAKER_PN_ARG0, 0x1000);
	evb_u64(&B, SAKER_PN_ARG1, 0x2000);
	apply(f);
	open_rec(400, 5, "/etc/hosts", O_RDONLY);
	apply(f);
	NO("thread.cap_effective exists");
}

/* An alert on a process whose events may have been lost carries view_degraded. */
static void test_degraded_flag(void **state)
{
	struct fixture *f = *state;
	struct saker_rules *r;
	struct got g = {0};

	open_shadow(f); /* pid 100 at 5 s */
	r = load(f, "- rule: out\n  desc: d\n  condition: evt.type=openat\n  output: o "
		    "%proc.name\n  priority: WARNING\n");
	assert_non_null(r);
	/* clean: no field, no flag */
	assert_int_equal(saker_rules_match(r, &f->ev, f->v, on_match, &g), 1);
	assert_false(g.a.view_degraded);
	assert_int_equal(field_idx(&g, "view_degraded"), -1);
	assert_int_equal(g.nf, 1);
	/* another process's loss, or one that ended before the event: still clean */
	saker_view_mark_degraded(f->v, 101, 4000000000ull, 6000000000ull);
	saker_view_mark_degraded(f->v, 100, 1000000000ull, 4999999999ull);
	memset(&g, 0, sizeof(g));
	assert_int_equal(saker_rules_match(r, &f->ev, f->v, on_match, &g), 1);
	assert_false(g.a.view_degraded);
	assert_int_equal(field_idx(&g, "view_degraded"), -1);
	/* this process's loss around the event: flagged, a typed bool field */
	saker_view_mark_degraded(f->v, 100, 4000000000ull, 6000000000ull);
	memset(&g, 0, sizeof(g));
	assert_int_equal(saker_rules_match(r, &f->ev, f->v, on_match, &g), 1);
	assert_true(g.a.view_degraded);
	assert_int_equal(g.nf, 2);
	assert_true(field_idx(&g, "view_degraded") >= 0);
	assert_int_equal(g.types[field_idx(&g, "view_degraded")], SAKER_FIELD_BOOL);
	/* appended to the output, where append_output appends */
	assert_string_equal(g.output, "o cat view_degraded=true");
	saker_rules_free(r);

	/* a loss nobody can attribute marks every process (pid 102 had no loss of its own) */
	open_rec(102, 4, "/etc/hosts", O_RDONLY);
	apply(f);
	r = load(f, "- rule: out\n  desc: d\n  condition: evt.type=openat\n  output: o\n"
		    "  priority: WARNING\n");
	assert_non_null(r);
	memset(&g, 0, sizeof(g));
	assert_int_equal(saker_rules_match(r, &f->ev, f->v, on_match, &g), 1);
	assert_false(g.a.view_degraded);
	memset(&g, 0, sizeof(g));
	saker_view_mark_degraded(f->v, 0, 4500000000ull, 5500000000ull);
	assert_int_equal(saker_rules_match(r, &f->ev, f->v, on_match, &g), 1);
	assert_true(g.a.view_degraded);
	/* no view: nothing to be stale */
	memset(&g, 0, sizeof(g));
	assert_int_equal(saker_rules_match(r, &f->ev, NULL, on_match, &g), 1);
	assert_false(g.a.view_degraded);
	saker_rules_free(r);
}

/* Outputs are trimmed (output: > leaves a newline) and append_output adds to the matching rules. */
static void test_output_trim_and_append(void **state)
{
	static const char *const tags[] = {"t1"};
	static const char *const keys[] = {"evt.type", "who", "fixed"};
	static const char *const vals[] = {NULL, "%proc.name/%proc.pid", "x"};
	struct fixture *f = *state;
	struct saker_rules *r;
	struct got g = {0};
	const char *yaml = "- rule: out\n  desc: d\n  condition: evt.type=openat\n  output: >\n"
			   "    o %proc.name\n    (file=%fd.name)\n  priority: WARNING\n"
			   "  tags: [t1, t2]\n";

	open_shadow(f);
	r = load(f, yaml);
	assert_non_null(r);
	assert_int_equal(saker_rules_match(r, &f->ev, f->v, on_match, &g), 1);
	assert_string_equal(g.output, "o cat (file=/etc/shadow)");
	assert_string_equal(saker_rules_get(r, 0)->output, "o %proc.name (file=%fd.name)");
	saker_rules_free(r);

	/* entries apply in order, each where all its conditions hold */
	assert_int_equal(saker_rules_new(&r), 0);
	assert_int_equal(saker_rules_set_names_root(r, f->root), 0);
	{
		const struct saker_rules_append a1 = {.source = "syscall",
						      .tags = tags,
						      .n_tags = 1,
						      .extra_output = "uid=%user.uid",
						      .field_keys = keys,
						      .field_values = vals,
						      .n_fields = 3};
		const struct saker_rules_append a2 = {.rule = "other", .extra_output = "NO"};
		const struct saker_rules_append a3 = {.extra_output = "end"};

		assert_int_equal(saker_rules_add_append(r, &a1), 0);
		assert_int_equal(saker_rules_add_append(r, &a2), 0);
		assert_int_equal(saker_rules_add_append(r, &a3), 0);
	}
	assert_int_equal(saker_rules_load_buffer(r, "t.yaml", yaml, strlen(yaml), last_err,
						 sizeof(last_err), collect_warn, NULL),
			 0);
	assert_int_equal(saker_rules_compile(r, last_err, sizeof(last_err), collect_warn, NULL), 0);
	memset(&g, 0, sizeof(g));
	assert_int_equal(saker_rules_match(r, &f->ev, f->v, on_match, &g), 1);
	assert_string_equal(g.output, "o cat (file=/etc/shadow) uid=1000 end");
	assert_true(field_idx(&g, "user.uid") >= 0);
	assert_true(field_idx(&g, "evt.type") >= 0);
	assert_string_equal(g.fields[field_idx(&g, "who")], "who=cat/100");
	assert_string_equal(g.fields[field_idx(&g, "fixed")], "fixed=x");
	saker_rules_free(r);

	/* a field saker does not have in an entry fails the compile, naming the entry */
	assert_int_equal(saker_rules_new(&r), 0);
	{
		const struct saker_rules_append bad = {.extra_output = "x=%proc.nmae"};

		assert_int_equal(saker_rules_add_append(r, &bad), 0);
	}
	assert_int_equal(saker_rules_load_buffer(r, "t.yaml", yaml, strlen(yaml), last_err,
						 sizeof(last_err), collect_warn, NULL),
			 0);
	assert_int_not_equal(saker_rules_compile(r, last_err, sizeof(last_err), collect_warn, NULL),
			     0);
	assert_non_null(strstr(last_err, "append_output[0]"));
	saker_rules_free(r);
}

/* ---- Falco's stable ruleset ------------------------------------------------------ */

/* ../shared/reference/falco_rules.yaml next to the repository the test binary was built in. */
static bool falco_rules_path(char *out, size_t len)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (n <= 0)
		return false;
	exe[n] = '\0';
	for (char *slash = strrchr(exe, '/'); slash; slash = strrchr(exe, '/')) {
		char probe[PATH_MAX + 32];

		*slash = '\0';
		snprintf(probe, sizeof(probe), "%s/src/rules/rules.c", exe);
		if (!access(probe, F_OK)) {
			snprintf(out, len, "%s/../shared/reference/falco_rules.yaml", exe);
			return !access(out, R_OK);
		}
	}
	return false;
}

static struct saker_rules *load_falco(struct fixture *f)
{
	char path[PATH_MAX + 64];
	struct saker_rules *r;

	if (!falco_rules_path(path, sizeof(path))) {
		print_message("falco_rules.yaml not found next to the repository: skipped\n");
		return NULL;
	}
	warnings[0] = '\0';
	assert_int_equal(saker_rules_new(&r), 0);
	assert_int_equal(saker_rules_set_names_root(r, f->root), 0);
	if (saker_rules_load_file(r, path, last_err, sizeof(last_err), collect_warn, NULL) ||
	    saker_rules_compile(r, last_err, sizeof(last_err), collect_warn, NULL))
		fail_msg("falco_rules.yaml: %s", last_err);
	return r;
}

static const struct saker_rule_info *rule_named(struct saker_rules *r, const char *name)
{
	for (size_t i = 0; i < saker_rules_count(r); i++)
		if (!strcmp(saker_rules_get(r, i)->name, name))
			return saker_rules_get(r, i);
	fail_msg("no rule '%s'", name);
	return NULL;
}

static void test_falco_ruleset_loads(void **state)
{
	struct fixture *f = *state;
	struct saker_rules *r = load_falco(f);
	size_t skipped = 0;

	if (!r) {
		skip();
		return;
	}
	assert_int_equal(saker_rules_count(r), 25);
	assert_int_equal(saker_rules_macros(r), 87);
	assert_int_equal(saker_rules_lists(r), 49);
	assert_int_equal(saker_rules_loaded(r), 23);
	for (size_t i = 0; i < saker_rules_count(r); i++) {
		const struct saker_rule_info *in = saker_rules_get(r, i);

		if (in->state == SAKER_RULE_LOADED) {
			assert_false(in->catchall);
			continue;
		}
		skipped++;
		assert_int_equal(in->state, SAKER_RULE_SKIPPED);
		/* only for a field documented as having no value in saker */
		if (!strstr(in->reason, "it can never match: it needs '"))
			fail_msg("'%s' skipped for another reason: %s", in->name, in->reason);
	}
	assert_int_equal(skipped, 2);
	/* thread.cap_effective: the two rules that test it load */
	assert_int_equal(rule_named(r, "Linux Kernel Module Injection Detected")->state,
			 SAKER_RULE_LOADED);
	assert_int_equal(rule_named(r, "Detect release_agent File Container Escapes")->state,
			 SAKER_RULE_LOADED);
	assert_int_equal(rule_named(r, "Terminal shell in container")->state, SAKER_RULE_LOADED);
	assert_int_equal(rule_named(r, "Read sensitive file untrusted")->state, SAKER_RULE_LOADED);
	assert_int_equal(rule_named(r, "Run shell untrusted")->state, SAKER_RULE_LOADED);
	assert_int_equal(rule_named(r, "Fileless execution via memfd_create")->state,
			 SAKER_RULE_LOADED);
	assert_non_null(
	    strstr(rule_named(r, "Contact K8S API Server From Container")->reason, "fd.sip.name"));
	/* container.privileged has a value (the runtime's files): the rule loads */
	assert_int_equal(rule_named(r, "Debugfs Launched in Privileged Container")->state,
			 SAKER_RULE_LOADED);
	/* the built-in container fields satisfy required_plugin_versions: container */
	assert_null(strstr(warnings, "requires plugin 'container'"));
	assert_null(strstr(warnings, "no event-type restriction"));
	saker_rules_free(r);
}

/* The names of the rules the event under test matches, comma-separated. */
static const char *falco_matches(struct saker_rules *r, struct fixture *f, struct got *g)
{
	static char names[1024];
	size_t before[32], n = saker_rules_count(r);

	for (size_t i = 0; i < n && i < 32; i++)
		before[i] = saker_rules_get(r, i)->matches;
	memset(g, 0, sizeof(*g));
	(void)saker_rules_match(r, &f->ev, f->v, on_match, g);
	names[0] = '\0';
	for (size_t i = 0; i < n && i < 32; i++)
		if (saker_rules_get(r, i)->matches != before[i]) {
			size_t l = strlen(names);

			snprintf(names + l, sizeof(names) - l, "%s%s", l ? "," : "",
				 saker_rules_get(r, i)->name);
		}
	return names;
}

static void test_falco_ruleset_matches(void **state)
{
	struct fixture *f = *state;
	struct saker_rules *r = load_falco(f);
	struct got g;
	static const char *const FIND_ARGV[] = {"find", "/", "-name", "id_rsa", NULL};
	static const char *const SH_C_ARGV[] = {"sh", "-c", "ls", NULL};
	static const char *const SSH_ARGV[] = {"ssh", "-p", "443", "u@example.com", NULL};

	if (!r) {
		skip();
		return;
	}
	/* cat reads /etc/shadow */
	open_shadow(f);
	assert_string_equal(falco_matches(r, f, &g), "Read sensitive file untrusted");
	assert_non_null(strstr(g.output, "Sensitive file opened for reading by non-trusted program "
					 "| file=/etc/shadow gparent=sshd ggparent=systemd "
					 "gggparent=<NA> evt_type=openat user=u user_uid=1000 "
					 "user_loginuid=1000 process=cat proc_exepath=/usr/bin/cat "
					 "parent=bash command=cat -n my file terminal=34819"));
	/* near misses: another file, written not read, a trusted reader */
	open_rec(100, 4, "/etc/hostname", O_RDONLY);
	apply(f);
	assert_string_equal(falco_matches(r, f, &g), "");
	open_rec(100, 4, "/etc/shadow", O_WRONLY);
	apply(f);
	assert_string_equal(falco_matches(r, f, &g), "");
	open_rec(50, 4, "/etc/shadow", O_RDONLY);
	apply(f);
	assert_string_equal(falco_matches(r, f, &g), "");
	/* a traversal to /etc/shadow that failed */
	open_rec(190, -EACCES, "../../../etc/shadow", O_RDONLY);
	apply(f);
	assert_string_equal(falco_matches(r, f, &g), "Directory traversal monitored file read");
	assert_non_null(strstr(g.output, "file=/etc/shadow fileraw=../../../etc/shadow"));
	/* near miss: the same from a shell's child */
	open_rec(100, -EACCES, "../../../etc/shadow", O_RDONLY);
	apply(f);
	assert_string_equal(falco_matches(r, f, &g), "");

	/* a shell with a terminal in a container, started by runc */
	exec_rec(200, 190, "/bin/sh", "sh", SH_ARGV, "/root", 0, (136ull << 20) | 4, CONTAINER_CG);
	apply(f);
	assert_string_equal(falco_matches(r, f, &g), "Terminal shell in container");
	assert_non_null(strstr(g.output, "A shell was spawned in a container with an attached "
					 "terminal | evt_type=execve user=root user_uid=0"));
	/* near misses: no terminal; on the host */
	exec_rec(200, 190, "/bin/sh", "sh", SH_C_ARGV, "/root", 0, 0, CONTAINER_CG);
	apply(f);
	assert_string_equal(falco_matches(r, f, &g), "");
	exec_rec(100, 60, "/bin/sh", "sh", SH_ARGV, "/home/u", 1000, (136ull << 20) | 3, HOST_CG);
	apply(f);
	assert_string_equal(falco_matches(r, f, &g), "");

	/* ptrace */
	evb_sc(&B, "ptrace", 100, 100, 0, 7000000000ull);
	evb_u64(&B, SAKER_PN_REQUEST, 16);
	evb_s64(&B, SAKER_PN_PID, 60);
	apply(f);
	assert_string_equal(falco_matches(r, f, &g), "PTRACE attached to process");
	evb_sc(&B, "ptrace", 100, 100, 0, 7000000001ull);
	evb_u64(&B, SAKER_PN_REQUEST, 0);
	evb_s64(&B, SAKER_PN_PID, 0);
	apply(f);
	assert_string_equal(falco_matches(r, f, &g), "PTRACE anti-debug attempt");
	evb_sc(&B, "ptrace", 100, 100, 0, 7000000002ull);
	evb_u64(&B, SAKER_PN_REQUEST, 1); /* PEEKTEXT */
	evb_s64(&B, SAKER_PN_PID, 60);
	apply(f);
	assert_string_equal(falco_matches(r, f, &g), "");

	/* find looking for private keys */
	exec_rec(100, 60, "/usr/bin/find", "find", FIND_ARGV, "/home/u", 1000, 0, HOST_CG);
	apply(f);
	assert_string_equal(falco_matches(r, f, &g), "Search Private Keys or Passwords");

	/* a symlink over /etc/shadow, and one over something else */
	evb_sc(&B, "symlinkat", 100, 100, 0, 9000000000ull);
	evb_str(&B, SAKER_PN_PATH, "/etc/shadow");
	evb_s64(&B, SAKER_PN_NEWDIRFD, AT_FDCWD);
	evb_str(&B, SAKER_PN_NEWPATH, "/tmp/x");
	apply(f);
	assert_string_equal(falco_matches(r, f, &g), "Create Symlink Over Sensitive Files");
	assert_non_null(strstr(g.output, "target=/etc/shadow linkpath=/tmp/x"));
	evb_sc(&B, "symlinkat", 100, 100, 0, 9000000001ull);
	evb_str(&B, SAKER_PN_PATH, "/etc/motd");
	evb_s64(&B, SAKER_PN_NEWDIRFD, AT_FDCWD);
	evb_str(&B, SAKER_PN_NEWPATH, "/tmp/y");
	apply(f);
	assert_string_equal(falco_matches(r, f, &g), "");

	/* a log truncated, and one only appended to */
	open_rec(100, 5, "/var/log/syslog", O_WRONLY | O_TRUNC);
	apply(f);
	assert_string_equal(falco_matches(r, f, &g), "Clear Log Activities");
	open_rec(100, 5, "/var/log/syslog", O_WRONLY | O_APPEND);
	apply(f);
	assert_string_equal(falco_matches(r, f, &g), "");

	/* a module loaded from a container by a process with CAP_SYS_MODULE; near miss without */
	for (int with = 1; with >= 0; with--) {
		exec_rec(200, 190, "/usr/sbin/insmod", "insmod", SH_C_ARGV, "/", 0, 0,
			 CONTAINER_CG);
		evb_u64(&B, SAKER_PN_CAP_EFF, with ? (1ull << 16 | 1ull << 21) : 1ull << 21);
		apply(f);
		(void)falco_matches(r, f, &g);
		evb_sc(&B, "finit_module", 200, 200, 0, 9400000000ull);
		evb_s64(&B, SAKER_PN_FD, 3);
		evb_u64(&B, SAKER_PN_FLAGS, 0);
		apply(f);
		assert_string_equal(falco_matches(r, f, &g),
				    with ? "Linux Kernel Module Injection Detected" : "");
	}

	/* ssh connecting out to port 443 over TCP (socket() names the transport) */
	exec_rec(300, 100, "/usr/bin/ssh", "ssh", SSH_ARGV, "/home/u", 1000, 0, HOST_CG);
	apply(f);
	(void)falco_matches(r, f, &g);
	for (int proto = 0; proto < 2; proto++) {
		evb_sc(&B, "socket", 300, 300, 3, 9500000000ull);
		evb_u64(&B, SAKER_PN_DOMAIN, AF_INET);
		evb_u64(&B, SAKER_PN_TYPE, proto ? SOCK_DGRAM : SOCK_STREAM);
		evb_u64(&B, SAKER_PN_PROTO, 0);
		apply(f);
		assert_string_equal(falco_matches(r, f, &g), "");
		evb_sc(&B, "connect", 300, 300, -EINPROGRESS, 9500000001ull);
		evb_s64(&B, SAKER_PN_FD, 3);
		evb_sin(&B, SAKER_PN_ADDR, "93.184.216.34", 443);
		apply(f);
		/* near miss: the same connect over UDP */
		assert_string_equal(falco_matches(r, f, &g),
				    proto ? "" : "Disallowed SSH Connection Non Standard Port");
	}
	assert_string_equal(falco_matches(r, f, &g), "");
	/* near misses: a private address; port 22 */
	evb_sc(&B, "socket", 300, 300, 4, 9500000002ull);
	evb_u64(&B, SAKER_PN_DOMAIN, AF_INET);
	evb_u64(&B, SAKER_PN_TYPE, SOCK_STREAM);
	evb_u64(&B, SAKER_PN_PROTO, 0);
	apply(f);
	evb_sc(&B, "connect", 300, 300, 0, 9500000003ull);
	evb_s64(&B, SAKER_PN_FD, 4);
	evb_sin(&B, SAKER_PN_ADDR, "10.1.2.3", 443);
	apply(f);
	assert_string_equal(falco_matches(r, f, &g), "");
	evb_sc(&B, "connect", 300, 300, 0, 9500000004ull);
	evb_s64(&B, SAKER_PN_FD, 4);
	evb_sin(&B, SAKER_PN_ADDR, "93.184.216.34", 22);
	apply(f);
	assert_string_equal(falco_matches(r, f, &g), "");

	/* events no rule is about */
	evb_sc(&B, "read", 100, 100, 10, 9900000000ull);
	apply(f);
	assert_string_equal(falco_matches(r, f, &g), "");
	saker_rules_free(r);
}

static void test_bad_input_never_crashes(void **state)
{
	static const char *const inputs[] = {
	    "",
	    "-",
	    "- ~\n",
	    "- rule:\n",
	    "- rule: ''\n  condition: a\n",
	    "- rule: r\n  condition: [a]\n  output: o\n  priority: INFO\n",
	    "- rule: r\n  condition: a\n  output: o\n  priority: INFO\n  exceptions: 3\n",
	    "- rule: r\n  condition: a\n  output: o\n  priority: INFO\n  exceptions:\n  - 3\n",
	    "- rule: r\n  condition: a\n  output: o\n  priority: INFO\n  exceptions:\n  - name: e\n"
	    "    fields: [a]\n    values: 3\n",
	    "- rule: r\n  condition: a\n  output: o\n  priority: INFO\n  tags: {a: b}\n",
	    "- macro: m\n",
	    "- list: l\n  items: {a: b}\n",
	    "- list: l\n  items: [[a]]\n",
	    "- required_plugin_versions: 3\n",
	    "- required_plugin_versions:\n  - 3\n",
	    "- required_engine_version: [1]\n",
	    "- rule: r\n  condition: a\n  output: o\n  priority: INFO\n  override: 3\n",
	    "- rule: r\n  condition: a\n  output: o\n  priority: INFO\n  append: maybe\n",
	    "- &a [*a]\n",
	    "- rule: r\n  desc: d\n  condition: \"proc.name = '\\x01\\x02\"\n  output: o\n"
	    "  priority: INFO\n",
	    "- rule: r\n  desc: d\n  condition: evt.type=open\n  output: '%'\n  priority: INFO\n",
	    "- rule: r\n  desc: d\n  condition: evt.type=open\n  output: '%proc.aname['\n"
	    "  priority: INFO\n",
	    "- rule: r\n  desc: d\n  condition: proc.aname[x] = 1\n  output: o\n  priority: INFO\n",
	    "- rule: r\n  desc: d\n  condition: proc.name[1] = 1\n  output: o\n  priority: INFO\n",
	    "- rule: r\n  desc: d\n  condition: fd.name regex '('\n  output: o\n  priority: INFO\n",
	    "- rule: r\n  desc: d\n  condition: proc.name in\n  output: o\n  priority: INFO\n",
	    "- rule: r\n  desc: d\n  condition: proc.name = \n  output: o\n  priority: INFO\n",
	    "- rule: r\n  desc: d\n  condition: proc.name pmatch x\n  output: o\n  priority: "
	    "INFO\n",
	    "- rule: r\n  desc: d\n  condition: proc.name contains (a)\n  output: o\n  priority: "
	    "INFO\n",
	};
	struct fixture *f = *state;

	for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
		struct saker_rules *r = load(f, inputs[i]);

		/* whatever the result, an error names the file */
		if (!r)
			assert_non_null(strstr(last_err, "t.yaml"));
		saker_rules_free(r);
	}
}

/*
 * Falco fails the load on a field or operator it does not know
 * (LOAD_ERR_COMPILE_CONDITION) unless the rule says skip-if-unknown-filter;
 * a field Falco has and saker lacks only skips the rule.
 */
static void test_typos_fail_the_load(void **state)
{
	static const char *const bad[][2] = {
	    {"condition: evt.type=open and proc.nmae = a\n  output: o",
	     "t.yaml:3:32: rule 'r': unknown field 'proc.nmae'"},
	    {"condition: evt.type=open and proc.name equals a\n  output: o",
	     "t.yaml:3:42: rule 'r': unknown operator 'equals'"},
	    {"condition: evt.type=open\n  output: o %proc.nmae",
	     "t.yaml:1:9: rule 'r': output: unknown field 'proc.nmae'"},
	};
	struct fixture *f = *state;
	struct saker_rules *r;
	char y[512];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(y, sizeof(y), "- rule: r\n  desc: d\n  %s\n  priority: INFO\n", bad[i][0]);
		assert_null(load(f, y));
		if (strcmp(last_err, bad[i][1]))
			fail_msg("got \"%s\", want \"%s\"", last_err, bad[i][1]);
	}
	/* skip-if-unknown-filter: the rule is skipped, quietly, the others load */
	snprintf(y, sizeof(y),
		 "- rule: r\n  desc: d\n  %s\n  priority: INFO\n  skip-if-unknown-filter: true\n"
		 "- rule: ok\n  desc: d\n  condition: evt.type=open\n  output: o\n"
		 "  priority: INFO\n",
		 bad[0][0]);
	r = load(f, y);
	assert_non_null(r);
	assert_int_equal(saker_rules_get(r, 0)->state, SAKER_RULE_SKIPPED);
	assert_non_null(strstr(saker_rules_get(r, 0)->reason, "unknown field 'proc.nmae'"));
	assert_int_equal(saker_rules_loaded(r), 1);
	assert_string_equal(warnings, "");
	saker_rules_free(r);
	assert_true(saker_fields_falco_has("proc.vpid"));
	assert_true(saker_fields_falco_has("evt.buffer"));
	assert_false(saker_fields_falco_has("proc.nmae"));
	assert_false(saker_fields_falco_has("proc.name")); /* saker has it */

	/* loaded rules that compare a field saker never has: one warning for all */
	r = load(f, "- rule: a\n  desc: d\n  condition: evt.type=open and not "
		    "container.ip = x\n  output: o\n  priority: INFO\n"
		    "- rule: b\n  desc: d\n  condition: evt.type=openat and not "
		    "container.ip in (x)\n  output: o\n  priority: INFO\n");
	assert_non_null(r);
	assert_int_equal(saker_rules_loaded(r), 2);
	assert_non_null(strstr(warnings, "2 loaded rules use a field saker never has a value for"));
	assert_non_null(strstr(warnings, "container.ip (2)"));
	saker_rules_free(r);
}

/* Falco's rule_matching: first by default, all on request; warn_evttypes; skip-if-unknown-filter.
 */
static void test_rule_matching(void **state)
{
	struct fixture *f = *state;
	static const char Y[] =
	    "- rule: one\n  desc: d\n  condition: evt.type=openat\n  output: 1\n"
	    "  priority: INFO\n"
	    "- rule: two\n  desc: d\n  condition: fd.name=/etc/shadow\n  output: 2\n"
	    "  priority: INFO\n  warn_evttypes: false\n"
	    "- rule: three\n  desc: d\n  condition: proc.nosuch=1\n  output: 3\n"
	    "  priority: INFO\n  skip-if-unknown-filter: true\n";
	struct saker_rules *r;
	struct got g = {0};

	open_shadow(f);
	r = load(f, Y);
	assert_non_null(r);
	/* no warning for two (warn_evttypes: false) nor for three (skipped quietly) */
	assert_string_equal(warnings, "");
	assert_int_equal(saker_rules_get(r, 2)->state, SAKER_RULE_SKIPPED);
	assert_true(saker_rules_get(r, 1)->catchall);
	assert_int_equal(saker_rules_match(r, &f->ev, f->v, on_match, &g), 1);
	assert_int_equal(g.n, 1);
	assert_string_equal(g.rule, "one");
	saker_rules_set_match_all(r, true);
	memset(&g, 0, sizeof(g));
	assert_int_equal(saker_rules_match(r, &f->ev, f->v, on_match, &g), 2);
	assert_int_equal(g.n, 2);
	assert_string_equal(g.rule, "two");
	assert_string_equal(g.output, "2");
	saker_rules_free(r);
}

/* Many items: names are indexed, arrays grow geometrically (this used to be quadratic). */
static void test_many_items(void **state)
{
	struct fixture *f = *state;
	size_t cap = 8u << 20, n = 0;
	char *yaml = malloc(cap);
	struct saker_rules *r;

	assert_non_null(yaml);
	for (int i = 0; i < 5000; i++)
		n += (size_t)snprintf(
		    yaml + n, cap - n,
		    "- list: l%d\n  items: [a%d]\n- macro: m%d\n  condition: "
		    "proc.name in (l%d)\n- rule: r%d\n  desc: d\n  condition: "
		    "evt.type=openat and m%d\n  output: o %%proc.aname[%d]\n  priority: "
		    "INFO\n",
		    i, i, i, i, i, i, i % 40);
	/* and every rule once more, replaced in place */
	for (int i = 0; i < 5000; i++)
		n += (size_t)snprintf(yaml + n, cap - n,
				      "- rule: r%d\n  desc: d2\n  condition: evt.type=openat and "
				      "m%d\n  output: o\n  priority: INFO\n",
				      i, i);
	r = load(f, yaml);
	free(yaml);
	assert_non_null(r);
	assert_int_equal(saker_rules_count(r), 5000);
	assert_int_equal(saker_rules_loaded(r), 5000);
	assert_int_equal(saker_rules_macros(r), 5000);
	assert_string_equal(saker_rules_get(r, 4999)->desc, "d2");
	open_shadow(f);
	assert_int_equal(saker_rules_match(r, &f->ev, f->v, NULL, NULL), 0);
	saker_rules_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_string_operators, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_numeric_and_other_types, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_process_fields, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_fd_fields, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_event_types, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_precedence, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_macros_and_lists, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_quoting, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_error_positions, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_load_file, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_append_and_override, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_exceptions, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_skipped_rules, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_output_format, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_degraded_flag, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_output_trim_and_append, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_typos_fail_the_load, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_capabilities, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_falco_ruleset_loads, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_falco_ruleset_matches, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_input_never_crashes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rule_matching, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_many_items, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
