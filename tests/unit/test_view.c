#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "event/event.h"
#include "evbuild.h"
#include "state/view.h"

static struct evb B;

struct fixture {
	struct saker_view *v;
	char root[64]; /* an empty proc_root: nothing is seeded behind the tests' back */
};

static int setup_n(void **state, size_t max_procs)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct saker_view_opts o = {.max_procs = max_procs};

	if (!f)
		return -1;
	snprintf(f->root, sizeof(f->root), "/tmp/saker-view-XXXXXX");
	if (!mkdtemp(f->root))
		return -1;
	o.proc_root = f->root;
	if (saker_view_new_opts(&f->v, &o))
		return -1;
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return setup_n(state, 0);
}

static int setup_small(void **state)
{
	return setup_n(state, 16);
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	saker_view_free(f->v);
	rmdir(f->root);
	free(f);
	return 0;
}

static int apply(struct saker_view *v)
{
	evb_end(&B);
	return saker_view_handle_event(v, evb_hdr(&B), B.len);
}

/* A sched_process_exec record as the probe sends it. */
static void exec_evt(uint32_t pid, uint64_t ts, const char *exe, const char *const *argv,
		     const char *cwd, uint64_t uid, uint32_t ppid)
{
	evb_begin(&B, SAKER_EVT_PROC_EXEC, SAKER_SYSCALL_NONE, pid, pid, 0, ts);
	evb_str(&B, SAKER_PN_EXE, exe);
	evb_strlist(&B, SAKER_PN_ARGS, argv);
	evb_str(&B, SAKER_PN_CWD, cwd);
	evb_u64(&B, SAKER_PN_UID, uid);
	evb_u64(&B, SAKER_PN_GID, uid);
	evb_u64(&B, SAKER_PN_EUID, uid);
	evb_u64(&B, SAKER_PN_LOGINUID, 1000);
	evb_s64(&B, SAKER_PN_PPID, ppid);
	evb_str(&B, SAKER_PN_COMM, strrchr(exe, '/') ? strrchr(exe, '/') + 1 : exe);
	evb_u64(&B, SAKER_PN_TTY, (136ull << 20) | 3);
	evb_u64(&B, SAKER_PN_CGROUP_ID, 0);
	evb_u64(&B, SAKER_PN_START_TS, ts);
}

static void fork_evt(uint32_t child, uint32_t child_pid, uint32_t parent, uint32_t parent_pid,
		     uint64_t ts)
{
	evb_begin(&B, SAKER_EVT_PROC_FORK, SAKER_SYSCALL_NONE, child, child_pid, 0, ts);
	evb_s64(&B, SAKER_PN_PID, parent);
	evb_s64(&B, SAKER_PN_PPID, parent_pid);
	evb_str(&B, SAKER_PN_COMM, "cat");
}

static void exit_evt(uint32_t tid, uint32_t pid, uint64_t ts)
{
	evb_begin(&B, SAKER_EVT_PROC_EXIT, SAKER_SYSCALL_NONE, tid, pid, 0, ts);
	evb_s64(&B, SAKER_PN_EXIT_CODE, 0);
}

static void open_evt(uint32_t pid, int64_t ret, int64_t dirfd, const char *path, uint64_t flags)
{
	evb_sc(&B, "openat", pid, pid, ret, 10);
	evb_s64(&B, SAKER_PN_DIRFD, dirfd);
	evb_str(&B, SAKER_PN_PATH, path);
	evb_u64(&B, SAKER_PN_FLAGS, flags);
	evb_u64(&B, SAKER_PN_MODE, 0);
}

static void fd_evt(const char *sc, uint32_t pid, int64_t ret, int64_t fd)
{
	evb_sc(&B, sc, pid, pid, ret, 10);
	evb_s64(&B, SAKER_PN_FD, fd);
}

static const char *const CAT_ARGV[] = {"cat", "-n", "my file", NULL};

static void exec_cat(struct saker_view *v, uint32_t pid)
{
	exec_evt(pid, 100, "/usr/bin/cat", CAT_ARGV, "/home/u", 1000, 1);
	assert_int_equal(apply(v), 0);
}

static void test_exec_sets_process(void **state)
{
	struct fixture *f = *state;
	const struct saker_proc *p;
	char args[64];

	exec_cat(f->v, 1000);
	p = saker_view_proc(f->v, 1000);
	assert_non_null(p);
	assert_int_equal(p->pid, 1000);
	assert_int_equal(p->ppid, 1);
	assert_string_equal(p->exe, "/usr/bin/cat");
	assert_string_equal(p->comm, "cat");
	assert_string_equal(p->cwd, "/home/u");
	assert_int_equal(p->argc, 3);
	saker_proc_args_join(p, 0, args, sizeof(args));
	assert_string_equal(args, "cat -n my file");
	assert_int_equal(p->uid, 1000);
	assert_int_equal(p->euid, 1000);
	assert_int_equal(p->egid, 1000);
	assert_int_equal(p->loginuid, 1000);
	assert_int_equal(p->tty, (136 << 8) | 3);
	/* a memfd's executable is its name, as the probe sends it: not joined with the cwd */
	exec_evt(1000, 200, "memfd:payload", CAT_ARGV, "/home/u", 1000, 1);
	assert_int_equal(apply(f->v), 0);
	assert_string_equal(saker_view_proc(f->v, 1000)->exe, "memfd:payload");
	p = saker_view_proc(f->v, 1000);
	assert_true(p->flags & SAKER_PROC_EXEC_SEEN);
}

static void test_fork_copies_and_exit_removes(void **state)
{
	struct fixture *f = *state;
	const struct saker_proc *p;
	struct saker_view_stats st;

	exec_cat(f->v, 1000);
	open_evt(1000, 3, AT_FDCWD, "/etc/passwd", O_RDONLY);
	assert_int_equal(apply(f->v), 0);

	fork_evt(1001, 1001, 1000, 1000, 200);
	assert_int_equal(apply(f->v), 0);
	p = saker_view_proc(f->v, 1001);
	assert_non_null(p);
	assert_int_equal(p->pid, 1001);
	assert_int_equal(p->ppid, 1000);
	assert_string_equal(p->exe, "/usr/bin/cat");
	assert_string_equal(p->cwd, "/home/u");
	assert_int_equal(p->uid, 1000);
	assert_true(p->flags & SAKER_PROC_FORKED);
	/* the child inherits the descriptors */
	assert_non_null(saker_view_fd(f->v, 1001, 3));
	assert_string_equal(saker_view_fd(f->v, 1001, 3)->name, "/etc/passwd");

	/* a thread: same thread group as its creator, so it is one without clone flags */
	fork_evt(1002, 1000, 1000, 1000, 210);
	assert_int_equal(apply(f->v), 0);
	p = saker_view_proc(f->v, 1002);
	assert_non_null(p);
	assert_int_equal(p->pid, 1000);
	assert_int_equal(p->ppid, 1);

	/* a thread exits (the probe says the group lives on), then the leader's exit */
	exit_evt(1002, 1000, 250);
	evb_u64(&B, SAKER_PN_FLAGS, SAKER_EXIT_GROUP_ALIVE);
	assert_int_equal(apply(f->v), 0);
	assert_null(saker_view_proc(f->v, 1002));
	assert_non_null(saker_view_proc(f->v, 1000));

	/* the child exits: entry and descriptors go; the parent stays */
	exit_evt(1001, 1001, 300);
	evb_u64(&B, SAKER_PN_FLAGS, SAKER_EXIT_GROUP_DEAD);
	assert_int_equal(apply(f->v), 0);
	assert_null(saker_view_proc(f->v, 1001));
	assert_null(saker_view_fd(f->v, 1001, 3));
	assert_non_null(saker_view_proc(f->v, 1000));
	saker_view_get_stats(f->v, &st);
	assert_int_equal(st.procs.entries, 1);
	assert_int_equal(st.malformed, 0);
	assert_int_equal(st.late_forks, 0);
}

static void test_open_close_dup(void **state)
{
	struct fixture *f = *state;
	const struct saker_fd *fd;
	struct saker_view_stats st;

	exec_cat(f->v, 1000);
	/* relative to the cwd, folded */
	open_evt(1000, 3, AT_FDCWD, "./x/../f.txt", O_RDONLY);
	assert_int_equal(apply(f->v), 0);
	fd = saker_view_fd(f->v, 1000, 3);
	assert_non_null(fd);
	assert_int_equal(fd->type, SAKER_FD_FILE);
	assert_string_equal(fd->name, "/home/u/f.txt");

	/* a directory fd, then a path relative to it */
	open_evt(1000, 4, AT_FDCWD, "/var/log", O_RDONLY | O_DIRECTORY);
	assert_int_equal(apply(f->v), 0);
	open_evt(1000, 5, 4, "syslog", O_RDONLY | O_CLOEXEC);
	assert_int_equal(apply(f->v), 0);
	fd = saker_view_fd(f->v, 1000, 5);
	assert_non_null(fd);
	assert_string_equal(fd->name, "/var/log/syslog");
	assert_true(fd->open_flags & O_CLOEXEC);

	/* creat() has no flags parameter: the kernel's are implied */
	evb_sc(&B, "creat", 1000, 1000, 6, 10);
	evb_str(&B, SAKER_PN_PATH, "/tmp/new");
	evb_u64(&B, SAKER_PN_MODE, 0644);
	assert_int_equal(apply(f->v), 0);
	fd = saker_view_fd(f->v, 1000, 6);
	assert_non_null(fd);
	assert_int_equal(fd->open_flags, O_CREAT | O_WRONLY | O_TRUNC);

	/* a failed open changes nothing */
	open_evt(1000, -ENOENT, AT_FDCWD, "/nope", O_RDONLY);
	assert_int_equal(apply(f->v), 0);
	saker_view_get_stats(f->v, &st);
	assert_int_equal(st.fds.entries, 4);

	/* dup2(3, 10), dup3(3, 11, O_CLOEXEC), dup(3) = 12 */
	evb_sc(&B, "dup2", 1000, 1000, 10, 10);
	evb_s64(&B, SAKER_PN_FD, 3);
	evb_s64(&B, SAKER_PN_NEWFD, 10);
	assert_int_equal(apply(f->v), 0);
	evb_sc(&B, "dup3", 1000, 1000, 11, 10);
	evb_s64(&B, SAKER_PN_FD, 3);
	evb_s64(&B, SAKER_PN_NEWFD, 11);
	evb_u64(&B, SAKER_PN_FLAGS, O_CLOEXEC);
	assert_int_equal(apply(f->v), 0);
	fd_evt("dup", 1000, 12, 3);
	assert_int_equal(apply(f->v), 0);
	assert_string_equal(saker_view_fd(f->v, 1000, 10)->name, "/home/u/f.txt");
	assert_false(saker_view_fd(f->v, 1000, 10)->open_flags & O_CLOEXEC);
	assert_true(saker_view_fd(f->v, 1000, 11)->open_flags & O_CLOEXEC);
	assert_string_equal(saker_view_fd(f->v, 1000, 12)->name, "/home/u/f.txt");
	/* a failed dup: nothing */
	fd_evt("dup", 1000, -EMFILE, 3);
	assert_int_equal(apply(f->v), 0);

	/* close: gone; close(EBADF) of a known fd: kept (it was not ours to close) */
	fd_evt("close", 1000, 0, 3);
	assert_int_equal(apply(f->v), 0);
	assert_null(saker_view_fd(f->v, 1000, 3));
	fd_evt("close", 1000, -EBADF, 10);
	assert_int_equal(apply(f->v), 0);
	assert_non_null(saker_view_fd(f->v, 1000, 10));
	/* close reporting EINTR still released the descriptor */
	fd_evt("close", 1000, -EINTR, 10);
	assert_int_equal(apply(f->v), 0);
	assert_null(saker_view_fd(f->v, 1000, 10));
	saker_view_get_stats(f->v, &st);
	assert_int_equal(st.fds.entries, 5); /* 4 5 6 11 12 */

	/* exec drops O_CLOEXEC descriptors */
	exec_cat(f->v, 1000);
	assert_null(saker_view_fd(f->v, 1000, 5));
	assert_null(saker_view_fd(f->v, 1000, 11));
	assert_non_null(saker_view_fd(f->v, 1000, 4));
}

static void test_sockets(void **state)
{
	struct fixture *f = *state;
	const struct saker_fd *fd;
	char name[128];

	exec_cat(f->v, 1000);
	/* connect 4 to 127.0.0.1:80 */
	fd_evt("connect", 1000, 0, 4);
	evb_sin(&B, SAKER_PN_ADDR, "127.0.0.1", 80);
	assert_int_equal(apply(f->v), 0);
	fd = saker_view_fd(f->v, 1000, 4);
	assert_non_null(fd);
	assert_int_equal(fd->type, SAKER_FD_IPV4);
	assert_true(fd->flags & SAKER_FD_F_CONNECTED);
	saker_fd_format_name(fd, name, sizeof(name));
	assert_string_equal(name, "0.0.0.0:0->127.0.0.1:80");

	/* non-blocking: EINPROGRESS is a connection under way; the local end from bind */
	fd_evt("bind", 1000, 0, 5);
	evb_sin6(&B, SAKER_PN_ADDR, "::1", 40000);
	assert_int_equal(apply(f->v), 0);
	fd_evt("connect", 1000, -EINPROGRESS, 5);
	evb_sin6(&B, SAKER_PN_ADDR, "::1", 443);
	assert_int_equal(apply(f->v), 0);
	fd = saker_view_fd(f->v, 1000, 5);
	assert_non_null(fd);
	assert_int_equal(fd->type, SAKER_FD_IPV6);
	saker_fd_format_name(fd, name, sizeof(name));
	assert_string_equal(name, "::1:40000->::1:443");

	/* refused: nothing */
	fd_evt("connect", 1000, -ECONNREFUSED, 6);
	evb_sin(&B, SAKER_PN_ADDR, "127.0.0.1", 81);
	assert_int_equal(apply(f->v), 0);
	assert_null(saker_view_fd(f->v, 1000, 6));

	/* server: bind 0.0.0.0:8080, listen, accept4 -> 8 from 10.0.0.2:5555 */
	fd_evt("bind", 1000, 0, 7);
	evb_sin(&B, SAKER_PN_ADDR, "0.0.0.0", 8080);
	assert_int_equal(apply(f->v), 0);
	fd_evt("listen", 1000, 0, 7);
	evb_s64(&B, SAKER_PN_BACKLOG, 128);
	assert_int_equal(apply(f->v), 0);
	assert_true(saker_view_fd(f->v, 1000, 7)->flags & SAKER_FD_F_LISTENING);
	fd_evt("accept4", 1000, 8, 7);
	evb_sin(&B, SAKER_PN_ADDR, "10.0.0.2", 5555);
	evb_u64(&B, SAKER_PN_FLAGS, 0);
	assert_int_equal(apply(f->v), 0);
	fd = saker_view_fd(f->v, 1000, 8);
	assert_non_null(fd);
	assert_true(fd->flags & SAKER_FD_F_ACCEPTED);
	saker_fd_format_name(fd, name, sizeof(name));
	assert_string_equal(name, "10.0.0.2:5555->0.0.0.0:8080");

	/* unix: connect by path; accept of an unnamed peer takes the listener's path */
	fd_evt("connect", 1000, 0, 9);
	evb_sun(&B, SAKER_PN_ADDR, "/run/x.sock", 11);
	assert_int_equal(apply(f->v), 0);
	fd = saker_view_fd(f->v, 1000, 9);
	assert_int_equal(fd->type, SAKER_FD_UNIX);
	assert_string_equal(fd->name, "/run/x.sock");
	fd_evt("bind", 1000, 0, 10);
	evb_sun(&B, SAKER_PN_ADDR, "\0abstract", 9);
	assert_int_equal(apply(f->v), 0);
	assert_string_equal(saker_view_fd(f->v, 1000, 10)->name, "@abstract");
	fd_evt("accept", 1000, 11, 10);
	evb_sun(&B, SAKER_PN_ADDR, "", 0);
	assert_int_equal(apply(f->v), 0);
	assert_string_equal(saker_view_fd(f->v, 1000, 11)->name, "@abstract");
	/* accept(fd, NULL, NULL): no address, the listener's family */
	fd_evt("accept", 1000, 12, 7);
	assert_int_equal(apply(f->v), 0);
	assert_int_equal(saker_view_fd(f->v, 1000, 12)->type, SAKER_FD_IPV4);
}

static void socket_evt(uint32_t pid, int64_t ret, uint64_t domain, uint64_t type, uint64_t proto)
{
	evb_sc(&B, "socket", pid, pid, ret, 10);
	evb_u64(&B, SAKER_PN_DOMAIN, domain);
	evb_u64(&B, SAKER_PN_TYPE, type);
	evb_u64(&B, SAKER_PN_PROTO, proto);
}

/* socket() records family and transport; connect, bind, listen, accept keep them. */
static void test_socket_l4proto(void **state)
{
	struct fixture *f = *state;
	const struct saker_fd *fd;
	char name[128];

	exec_cat(f->v, 1000);
	/* TCP client: socket, then connect: the tuple and the transport */
	socket_evt(1000, 3, AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(apply(f->v), 0);
	fd = saker_view_fd(f->v, 1000, 3);
	assert_non_null(fd);
	assert_int_equal(fd->type, SAKER_FD_IPV4);
	assert_int_equal(fd->tuple.l4proto, IPPROTO_TCP);
	assert_int_equal(fd->open_flags & O_CLOEXEC, O_CLOEXEC);
	assert_false(fd->flags & SAKER_FD_F_CONNECTED);
	fd_evt("connect", 1000, 0, 3);
	evb_sin(&B, SAKER_PN_ADDR, "192.0.2.7", 22);
	assert_int_equal(apply(f->v), 0);
	fd = saker_view_fd(f->v, 1000, 3);
	assert_int_equal(fd->tuple.l4proto, IPPROTO_TCP);
	assert_true(fd->flags & SAKER_FD_F_CONNECTED);
	assert_int_equal(fd->open_flags & O_CLOEXEC, O_CLOEXEC);
	saker_fd_format_name(fd, name, sizeof(name));
	assert_string_equal(name, "0.0.0.0:0->192.0.2.7:22");

	/* UDP, IPv6; the protocol named explicitly */
	socket_evt(1000, 4, AF_INET6, SOCK_DGRAM, IPPROTO_UDP);
	assert_int_equal(apply(f->v), 0);
	assert_int_equal(saker_view_fd(f->v, 1000, 4)->type, SAKER_FD_IPV6);
	assert_int_equal(saker_view_fd(f->v, 1000, 4)->tuple.l4proto, IPPROTO_UDP);
	/* raw and ICMP as Falco derives them */
	socket_evt(1000, 5, AF_INET, SOCK_RAW, IPPROTO_ICMP);
	assert_int_equal(apply(f->v), 0);
	assert_int_equal(saker_view_fd(f->v, 1000, 5)->tuple.l4proto, IPPROTO_RAW);
	socket_evt(1000, 6, AF_INET, SOCK_DGRAM, IPPROTO_ICMP);
	assert_int_equal(apply(f->v), 0);
	assert_int_equal(saker_view_fd(f->v, 1000, 6)->tuple.l4proto, IPPROTO_ICMP);
	socket_evt(1000, 7, AF_INET, SOCK_RAW, IPPROTO_TCP);
	assert_int_equal(apply(f->v), 0);
	assert_int_equal(saker_view_fd(f->v, 1000, 7)->tuple.l4proto, IPPROTO_RAW);

	/* server: bind, listen, accept: the accepted socket inherits TCP */
	socket_evt(1000, 8, AF_INET, SOCK_STREAM, IPPROTO_TCP);
	assert_int_equal(apply(f->v), 0);
	fd_evt("bind", 1000, 0, 8);
	evb_sin(&B, SAKER_PN_ADDR, "0.0.0.0", 2222);
	assert_int_equal(apply(f->v), 0);
	assert_int_equal(saker_view_fd(f->v, 1000, 8)->tuple.l4proto, IPPROTO_TCP);
	fd_evt("listen", 1000, 0, 8);
	evb_s64(&B, SAKER_PN_BACKLOG, 8);
	assert_int_equal(apply(f->v), 0);
	fd = saker_view_fd(f->v, 1000, 8);
	assert_true(fd->flags & SAKER_FD_F_LISTENING);
	assert_true(fd->flags & SAKER_FD_F_BOUND);
	assert_int_equal(fd->tuple.lport, 2222);
	fd_evt("accept", 1000, 9, 8);
	evb_sin(&B, SAKER_PN_ADDR, "198.51.100.1", 50000);
	assert_int_equal(apply(f->v), 0);
	fd = saker_view_fd(f->v, 1000, 9);
	assert_int_equal(fd->tuple.l4proto, IPPROTO_TCP);
	assert_true(fd->flags & SAKER_FD_F_ACCEPTED);
	assert_int_equal(fd->tuple.lport, 2222);
	assert_int_equal(fd->tuple.rport, 50000);

	/* unix and netlink; a failed socket() changes nothing; a reused fd is replaced */
	socket_evt(1000, 10, AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(apply(f->v), 0);
	assert_int_equal(saker_view_fd(f->v, 1000, 10)->type, SAKER_FD_UNIX);
	socket_evt(1000, 11, AF_NETLINK, SOCK_RAW, 0);
	assert_int_equal(apply(f->v), 0);
	assert_int_equal(saker_view_fd(f->v, 1000, 11)->type, SAKER_FD_OTHER);
	assert_string_equal(saker_view_fd(f->v, 1000, 11)->name, "netlink");
	socket_evt(1000, -EMFILE, AF_INET, SOCK_STREAM, 0);
	assert_int_equal(apply(f->v), 0);
	open_evt(1000, 12, AT_FDCWD, "/etc/hosts", O_RDONLY);
	assert_int_equal(apply(f->v), 0);
	socket_evt(1000, 12, AF_INET, SOCK_DGRAM, 0);
	assert_int_equal(apply(f->v), 0);
	assert_int_equal(saker_view_fd(f->v, 1000, 12)->type, SAKER_FD_IPV4);
	assert_int_equal(saker_view_fd(f->v, 1000, 12)->tuple.l4proto, IPPROTO_UDP);

	/* socketpair: both ends, unix, O_CLOEXEC from SOCK_CLOEXEC */
	evb_sc(&B, "socketpair", 1000, 1000, 0, 10);
	evb_u64(&B, SAKER_PN_DOMAIN, AF_UNIX);
	evb_u64(&B, SAKER_PN_TYPE, SOCK_STREAM | SOCK_CLOEXEC);
	evb_u64(&B, SAKER_PN_PROTO, 0);
	evb_u64(&B, SAKER_PN_FDS, (uint64_t)21 << 32 | 20);
	assert_int_equal(apply(f->v), 0);
	assert_int_equal(saker_view_fd(f->v, 1000, 20)->type, SAKER_FD_UNIX);
	assert_int_equal(saker_view_fd(f->v, 1000, 21)->type, SAKER_FD_UNIX);
	assert_int_equal(saker_view_fd(f->v, 1000, 21)->open_flags & O_CLOEXEC, O_CLOEXEC);
	/* failed: nothing */
	evb_sc(&B, "socketpair", 1000, 1000, -EFAULT, 10);
	evb_u64(&B, SAKER_PN_DOMAIN, AF_UNIX);
	evb_u64(&B, SAKER_PN_TYPE, SOCK_STREAM);
	evb_u64(&B, SAKER_PN_PROTO, 0);
	evb_u64(&B, SAKER_PN_FDS, (uint64_t)31 << 32 | 30);
	assert_int_equal(apply(f->v), 0);
	assert_null(saker_view_fd(f->v, 1000, 30));
	assert_null(saker_view_fd(f->v, 1000, 31));
}

static void test_chdir_and_ids(void **state)
{
	struct fixture *f = *state;
	const struct saker_proc *p;

	exec_cat(f->v, 1000);
	evb_sc(&B, "chdir", 1000, 1000, 0, 10);
	evb_str(&B, SAKER_PN_PATH, "sub/dir/..");
	assert_int_equal(apply(f->v), 0);
	assert_string_equal(saker_view_proc(f->v, 1000)->cwd, "/home/u/sub");
	/* failed: nothing */
	evb_sc(&B, "chdir", 1000, 1000, -ENOENT, 10);
	evb_str(&B, SAKER_PN_PATH, "/nope");
	assert_int_equal(apply(f->v), 0);
	assert_string_equal(saker_view_proc(f->v, 1000)->cwd, "/home/u/sub");
	/* fchdir to an open directory */
	open_evt(1000, 3, AT_FDCWD, "/srv", O_RDONLY | O_DIRECTORY);
	assert_int_equal(apply(f->v), 0);
	fd_evt("fchdir", 1000, 0, 3);
	assert_int_equal(apply(f->v), 0);
	assert_string_equal(saker_view_proc(f->v, 1000)->cwd, "/srv");

	/* unprivileged setuid (to its saved id) changes the effective id only */
	evb_sc(&B, "setuid", 1000, 1000, 0, 10);
	evb_s64(&B, SAKER_PN_UID, 2000);
	assert_int_equal(apply(f->v), 0);
	p = saker_view_proc(f->v, 1000);
	assert_int_equal(p->uid, 1000);
	assert_int_equal(p->euid, 2000);

	/* root: real and effective */
	exec_evt(2000, 100, "/usr/sbin/sshd", CAT_ARGV, "/", 0, 1);
	assert_int_equal(apply(f->v), 0);
	evb_sc(&B, "setuid", 2000, 2000, 0, 10);
	evb_s64(&B, SAKER_PN_UID, 33);
	assert_int_equal(apply(f->v), 0);
	p = saker_view_proc(f->v, 2000);
	assert_int_equal(p->uid, 33);
	assert_int_equal(p->euid, 33);
	/* failed: nothing */
	evb_sc(&B, "setresuid", 2000, 2000, -EPERM, 10);
	evb_s64(&B, SAKER_PN_UID, 0);
	evb_s64(&B, SAKER_PN_EUID, 0);
	evb_s64(&B, SAKER_PN_SUID, 0);
	assert_int_equal(apply(f->v), 0);
	p = saker_view_proc(f->v, 2000);
	assert_int_equal(p->uid, 33);
	assert_int_equal(p->euid, 33);
	/* setresuid(-1, 7, -1): -1 keeps */
	evb_sc(&B, "setresuid", 2000, 2000, 0, 10);
	evb_s64(&B, SAKER_PN_UID, -1);
	evb_s64(&B, SAKER_PN_EUID, 7);
	evb_s64(&B, SAKER_PN_SUID, -1);
	assert_int_equal(apply(f->v), 0);
	p = saker_view_proc(f->v, 2000);
	assert_int_equal(p->uid, 33);
	assert_int_equal(p->euid, 7);
	/* setregid(5, -1) */
	evb_sc(&B, "setregid", 2000, 2000, 0, 10);
	evb_s64(&B, SAKER_PN_GID, 5);
	evb_s64(&B, SAKER_PN_EGID, -1);
	assert_int_equal(apply(f->v), 0);
	p = saker_view_proc(f->v, 2000);
	assert_int_equal(p->gid, 5);
	assert_int_equal(p->egid, 0);
}

/* Records of a child drained before its parent's fork record (another ring). */
static void test_late_fork(void **state)
{
	struct fixture *f = *state;
	const struct saker_proc *p;
	struct saker_view_stats st;

	exec_cat(f->v, 1000);
	/* the child's exec (t=150) comes before the fork (t=120) */
	exec_evt(1500, 150, "/usr/bin/id", CAT_ARGV, "/", 1000, 1000);
	assert_int_equal(apply(f->v), 0);
	fork_evt(1500, 1500, 1000, 1000, 120);
	assert_int_equal(apply(f->v), 0);
	p = saker_view_proc(f->v, 1500);
	assert_non_null(p);
	assert_string_equal(p->exe, "/usr/bin/id");

	/* exit before fork: the fork must not revive it */
	exit_evt(1600, 1600, 150);
	assert_int_equal(apply(f->v), 0);
	fork_evt(1600, 1600, 1000, 1000, 120);
	assert_int_equal(apply(f->v), 0);
	assert_null(saker_view_proc(f->v, 1600));
	saker_view_get_stats(f->v, &st);
	assert_int_equal(st.late_forks, 2);

	/* a later fork of a reused tid is a new process */
	exit_evt(1700, 1700, 150);
	assert_int_equal(apply(f->v), 0);
	fork_evt(1700, 1700, 1000, 1000, 400);
	assert_int_equal(apply(f->v), 0);
	assert_non_null(saker_view_proc(f->v, 1700));
	saker_view_get_stats(f->v, &st);
	assert_int_equal(st.late_forks, 2);
}

/*
 * The container from the probe's cgroup names, with no /proc to read (the
 * fixture's proc root is empty): an exec into a container, a fork born in
 * another cgroup, and the root (host).
 */
static void test_container_from_probe(void **state)
{
	static const char kube[] =
	    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	    "\0pod1a2b3c4d-0000-1111-2222-333344445555\0burstable\0kubepods";
	static const char scope[] =
	    "docker-fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210.scope"
	    "\0system.slice";
	struct fixture *f = *state;
	const struct saker_proc *p;

	exec_cat(f->v, 1000);
	assert_string_equal(saker_view_proc(f->v, 1000)->container_id, "");
	/* a process moved into a kubepods container, then exec: 4 of its 4 levels */
	exec_evt(1000, 150, "/bin/cat", CAT_ARGV, "/", 0, 1);
	evb_raw(&B, SAKER_PN_CGROUP, SAKER_PK_STRLIST, kube, sizeof(kube));
	evb_u64(&B, SAKER_PN_CGROUP_LEVEL, 4);
	assert_int_equal(apply(f->v), 0);
	p = saker_view_proc(f->v, 1000);
	assert_string_equal(p->container_id, "0123456789ab");
	assert_string_equal(p->cgroup,
			    "/kubepods/burstable/pod1a2b3c4d-0000-1111-2222-333344445555/"
			    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
	/* its children inherit it */
	fork_evt(1001, 1001, 1000, 1000, 200);
	assert_int_equal(apply(f->v), 0);
	assert_string_equal(saker_view_proc(f->v, 1001)->container_id, "0123456789ab");
	/* a child born elsewhere (clone3 CLONE_INTO_CGROUP), deeper than the names sent */
	fork_evt(1002, 1002, 1000, 1000, 210);
	evb_u64(&B, SAKER_PN_CGROUP_ID, 77);
	evb_raw(&B, SAKER_PN_CGROUP, SAKER_PK_STRLIST, scope, sizeof(scope));
	evb_u64(&B, SAKER_PN_CGROUP_LEVEL, 2);
	assert_int_equal(apply(f->v), 0);
	p = saker_view_proc(f->v, 1002);
	assert_string_equal(p->container_id, "fedcba987654");
	assert_int_equal(p->cgroup_id, 77);
	assert_string_equal(p->exe, "/bin/cat");
	/* an exec at the root: the host, with no /proc read */
	exec_evt(1001, 300, "/bin/cat", CAT_ARGV, "/", 0, 1000);
	evb_u64(&B, SAKER_PN_CGROUP_LEVEL, 0);
	assert_int_equal(apply(f->v), 0);
	assert_string_equal(saker_view_proc(f->v, 1001)->container_id, "host");
	assert_string_equal(saker_view_proc(f->v, 1001)->cgroup, "/");
	/* names the probe could not read at level > 0: nothing said, the known one kept */
	exec_evt(1002, 400, "/bin/cat", CAT_ARGV, "/", 0, 1000);
	evb_raw(&B, SAKER_PN_CGROUP, SAKER_PK_STRLIST | SAKER_PF_UNREADABLE, "", 0);
	evb_u64(&B, SAKER_PN_CGROUP_LEVEL, 3);
	assert_int_equal(apply(f->v), 0);
	assert_string_equal(saker_view_proc(f->v, 1002)->container_id, "fedcba987654");
}

static void test_malformed_rejected(void **state)
{
	struct fixture *f = *state;
	struct saker_view_stats st;
	unsigned seed = 77;

	fd_evt("close", 1000, 0, 3);
	evb_end(&B);
	assert_int_equal(saker_view_handle_event(f->v, evb_hdr(&B), 20), -EBADMSG);
	B.buf[32] = 0xff; /* param length past the end */
	B.buf[33] = 0xff;
	assert_int_equal(saker_view_handle_event(f->v, evb_hdr(&B), B.len), -EBADMSG);
	/* random bytes: refused or applied, never a crash */
	for (int i = 0; i < 5000; i++) {
		uint8_t rec[128];
		uint16_t len = (uint16_t)(32 + rand_r(&seed) % 97);
		uint16_t type = (uint16_t)(1 + rand_r(&seed) % 4);
		uint16_t sc = (uint16_t)(type == SAKER_EVT_SYSCALL ? rand_r(&seed) % 340
								   : SAKER_SYSCALL_NONE);

		for (size_t k = 0; k < sizeof(rec); k++)
			rec[k] = (uint8_t)rand_r(&seed);
		memcpy(rec + offsetof(struct saker_evt_hdr, len), &len, 2);
		memcpy(rec + offsetof(struct saker_evt_hdr, type), &type, 2);
		memcpy(rec + offsetof(struct saker_evt_hdr, syscall_id), &sc, 2);
		if (i % 3 == 0) {
			/* one plausible param so that handlers run */
			struct saker_param_hdr ph = {.len = 8,
						     .kind = SAKER_PK_S64,
						     .name =
							 (uint8_t)(rand_r(&seed) % SAKER_PN_MAX)};

			memcpy(rec + 32, &ph, sizeof(ph));
			len = 44;
			memcpy(rec + offsetof(struct saker_evt_hdr, len), &len, 2);
		}
		int err = saker_view_handle_event(f->v, (const void *)rec, len);

		assert_true(err == 0 || err == -EBADMSG);
	}
	saker_view_get_stats(f->v, &st);
	assert_int_equal(st.events, 5002);
	assert_true(st.malformed >= 2);
}

/* A fork storm against a small table: bounded, evictions counted. */
static void test_fork_storm_bounded(void **state)
{
	struct fixture *f = *state;
	struct saker_view_stats st;

	exec_cat(f->v, 1000);
	for (uint32_t i = 0; i < 2000; i++) {
		fork_evt(5000 + i, 5000 + i, 1000, 1000, 200 + i);
		assert_int_equal(apply(f->v), 0);
		/* half of them exit, the others linger (their exit lost) */
		if (i % 2) {
			exit_evt(5000 + i, 5000 + i, 200 + i);
			assert_int_equal(apply(f->v), 0);
		}
		saker_view_get_stats(f->v, &st);
		assert_true(st.procs.entries <= 16);
	}
	saker_view_get_stats(f->v, &st);
	assert_int_equal(st.procs.max_entries, 16);
	assert_true(st.procs.evictions >= 1000 - 16);
}

static void test_path_join(void **state)
{
	char out[16];

	(void)state;
	assert_int_equal(saker_path_join("/a/b", "../c", out, sizeof(out)), 0);
	assert_string_equal(out, "/a/c");
	assert_int_equal(saker_path_join("/", "..", out, sizeof(out)), 0);
	assert_string_equal(out, "/");
	assert_int_equal(saker_path_join("/a//b/", "./x/", out, sizeof(out)), 0);
	assert_string_equal(out, "/a/b/x");
	assert_int_equal(saker_path_join("/ignored", "/abs/./p", out, sizeof(out)), 0);
	assert_string_equal(out, "/abs/p");
	assert_int_equal(saker_path_join("/a", "0123456789abcdef", out, sizeof(out)),
			 -ENAMETOOLONG);
	assert_string_equal(out, "");
	assert_int_equal(saker_path_join("/a", "b", out, 1), -ENAMETOOLONG);
}

static void test_resolve(void **state)
{
	struct fixture *f = *state;
	char out[PATH_MAX];

	exec_cat(f->v, 1000);
	assert_int_equal(saker_view_resolve(f->v, 1000, 1000, AT_FDCWD, "a", out, sizeof(out)), 0);
	assert_string_equal(out, "/home/u/a");
	/* unknown process or fd: unresolved */
	assert_int_equal(saker_view_resolve(f->v, 9, 9, AT_FDCWD, "a", out, sizeof(out)), -ENOENT);
	assert_int_equal(saker_view_resolve(f->v, 1000, 1000, 42, "a", out, sizeof(out)), -ENOENT);
	/* absolute paths need nothing known */
	assert_int_equal(saker_view_resolve(f->v, 9, 9, 42, "/x/../y", out, sizeof(out)), 0);
	assert_string_equal(out, "/y");
	/* a socket is no directory */
	fd_evt("connect", 1000, 0, 4);
	evb_sin(&B, SAKER_PN_ADDR, "127.0.0.1", 80);
	assert_int_equal(apply(f->v), 0);
	assert_int_equal(saker_view_resolve(f->v, 1000, 1000, 4, "a", out, sizeof(out)), -ENOENT);
}

static void test_tty_nr(void **state)
{
	(void)state;
	assert_int_equal(saker_dev_to_tty_nr(0), 0);
	assert_int_equal(saker_dev_to_tty_nr((4ull << 20) | 1), 0x401);		   /* tty1 */
	assert_int_equal(saker_dev_to_tty_nr((136ull << 20) | 3), (136 << 8) | 3); /* pts/3 */
	assert_int_equal(saker_dev_to_tty_nr((136ull << 20) | 300),
			 (300 & 0xff) | (136 << 8) | ((300 & ~0xff) << 12));
}

/* Seeding from the real /proc: this very process is known with its args and parent. */
static void test_scan_real_proc(void **state)
{
	struct saker_view *v = NULL;
	const struct saker_proc *p;
	char *buf = NULL;
	size_t len = 0;
	FILE *mem;

	(void)state;
	assert_int_equal(saker_view_new(&v, 0, NULL), 0);
	assert_int_equal(saker_view_scan(v), 0);
	p = saker_view_proc(v, (uint32_t)getpid());
	assert_non_null(p);
	assert_int_equal(p->ppid, (uint32_t)getppid());
	assert_non_null(strstr(p->args, "test_view"));
	assert_string_equal(p->container_id[0] ? "set" : "", "set");
	mem = open_memstream(&buf, &len);
	assert_non_null(mem);
	saker_view_print_stats(v, mem);
	fclose(mem);
	assert_non_null(strstr(buf, "   process table entries: "));
	assert_non_null(strstr(buf, "   fd table evictions: "));
	free(buf);
	saker_view_free(v);
	saker_view_free(NULL);
}

/* The record in B, decoded, through saker_view_context(). */
static int context_of(struct saker_view *v)
{
	struct saker_event ev;

	evb_end(&B);
	assert_int_equal(saker_event_parse(&ev, evb_hdr(&B), B.len), 0);
	return saker_view_context(v, &ev);
}

static void open_at(uint32_t pid, uint64_t ts)
{
	evb_sc(&B, "openat", pid, pid, 3, ts);
	evb_s64(&B, SAKER_PN_DIRFD, AT_FDCWD);
	evb_str(&B, SAKER_PN_PATH, "/etc/shadow");
	evb_u64(&B, SAKER_PN_FLAGS, O_RDONLY);
	evb_u64(&B, SAKER_PN_MODE, 0);
}

#define MS 1000000ull

/*
 * Lane-1 records (exec, exit) are applied ahead of older bulk records: an
 * exit leaves a tombstone, an exec the old image, for records older than
 * them, until the bulk lane's watermark passes; what is not known is counted
 * and degraded.
 */
static void test_lanes_out_of_order(void **state)
{
	struct fixture *f = *state;
	const struct saker_proc *p;
	struct saker_view_stats st;

	/* cat runs, exits at 200 ms (lane 1), its open at 150 ms comes after (bulk) */
	exec_evt(2000, 100 * MS, "/usr/bin/cat", CAT_ARGV, "/", 0, 1);
	assert_int_equal(apply(f->v), 0);
	exit_evt(2000, 2000, 200 * MS);
	evb_u64(&B, SAKER_PN_FLAGS, SAKER_EXIT_GROUP_DEAD);
	assert_int_equal(apply(f->v), 0);
	assert_null(saker_view_proc(f->v, 2000));
	open_at(2000, 150 * MS);
	assert_int_equal(context_of(f->v), SAKER_PROC_CTX_HISTORY);
	p = saker_view_proc_at(f->v, 2000, 150 * MS);
	assert_non_null(p);
	assert_string_equal(p->comm, "cat");
	assert_string_equal(p->exe, "/usr/bin/cat");
	assert_false(saker_view_degraded(f->v, 2000, 150 * MS));

	/* an exec at 300 ms: records before it see the old image, after it the new one */
	exec_evt(2100, 100 * MS, "/bin/sh", CAT_ARGV, "/", 0, 1);
	assert_int_equal(apply(f->v), 0);
	exec_evt(2100, 300 * MS, "/usr/bin/cat", CAT_ARGV, "/", 0, 1);
	assert_int_equal(apply(f->v), 0);
	assert_string_equal(saker_view_proc_at(f->v, 2100, 250 * MS)->comm, "sh");
	assert_string_equal(saker_view_proc_at(f->v, 2100, 350 * MS)->comm, "cat");
	assert_string_equal(saker_view_proc(f->v, 2100)->comm, "cat");

	/* pid 2000 reused at 400 ms: the new process from then, the tombstone before */
	fork_evt(2000, 2000, 2100, 2100, 400 * MS);
	assert_int_equal(apply(f->v), 0);
	assert_int_equal(saker_view_proc_at(f->v, 2000, 450 * MS)->start_ns, 400 * MS);
	assert_string_equal(saker_view_proc_at(f->v, 2000, 150 * MS)->exe, "/usr/bin/cat");
	assert_int_equal(saker_view_proc_at(f->v, 2000, 150 * MS)->start_ns, 0);

	/* between the exit and the fork nobody was 2000: counted, and degraded */
	open_at(2000, 250 * MS);
	assert_int_equal(context_of(f->v), SAKER_PROC_CTX_UNKNOWN);
	assert_true(saker_view_degraded(f->v, 2000, 250 * MS));
	/* only that record: the next one with its process known is not */
	open_at(2000, 450 * MS);
	assert_int_equal(context_of(f->v), SAKER_PROC_CTX_LIVE);
	assert_false(saker_view_degraded(f->v, 2000, 250 * MS));

	/* the bulk lane passed 301 ms: the tombstone and the old image go */
	saker_view_set_watermark(f->v, 301 * MS);
	saker_view_get_stats(f->v, &st);
	assert_int_equal(st.procs.history, 0);
	assert_int_equal(st.procs.history_expired, 2);
	assert_int_equal(st.procs.history_evicted, 0);
	/* a straggler older than the watermark: counted late, degraded */
	open_at(2000, 150 * MS);
	assert_int_equal(context_of(f->v), SAKER_PROC_CTX_LATE);
	assert_true(saker_view_degraded(f->v, 2000, 150 * MS));
	saker_view_get_stats(f->v, &st);
	assert_int_equal(st.procs.ctx_missing[SAKER_PROC_CTX_UNKNOWN], 1);
	assert_int_equal(st.procs.ctx_missing[SAKER_PROC_CTX_LATE], 1);
	assert_int_equal(st.procs.ctx_missing[SAKER_PROC_CTX_EVICTED], 0);
	assert_true(st.procs.history_hits >= 1);
}

/* Bounded: past max_history the oldest version goes, and a record that needed it is counted. */
static void test_history_bounded(void **state)
{
	struct saker_view_opts o = {.max_history = 2, .proc_root = "/nonexistent"};
	struct saker_view_stats st;
	struct saker_view *v;

	(void)state;
	assert_int_equal(saker_view_new_opts(&v, &o), 0);
	for (uint32_t pid = 3000; pid < 3003; pid++) {
		exec_evt(pid, 10 * MS, "/usr/bin/cat", CAT_ARGV, "/", 0, 1);
		assert_int_equal(apply(v), 0);
		exit_evt(pid, pid, (100 + pid - 3000) * MS);
		evb_u64(&B, SAKER_PN_FLAGS, SAKER_EXIT_GROUP_DEAD);
		assert_int_equal(apply(v), 0);
	}
	saker_view_get_stats(v, &st);
	assert_int_equal(st.procs.history, 2);
	assert_int_equal(st.procs.history_evicted, 1);
	open_at(3000, 50 * MS);
	assert_int_equal(context_of(v), SAKER_PROC_CTX_EVICTED);
	assert_true(saker_view_degraded(v, 3000, 50 * MS));
	open_at(3002, 50 * MS);
	assert_int_equal(context_of(v), SAKER_PROC_CTX_HISTORY);
	assert_false(saker_view_degraded(v, 3002, 50 * MS));
	saker_view_get_stats(v, &st);
	assert_int_equal(st.procs.ctx_missing[SAKER_PROC_CTX_EVICTED], 1);
	saker_view_free(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_exec_sets_process, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_fork_copies_and_exit_removes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_open_close_dup, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sockets, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_socket_l4proto, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_chdir_and_ids, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_late_fork, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_malformed_rejected, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_fork_storm_bounded, setup_small, teardown),
	    cmocka_unit_test(test_path_join),
	    cmocka_unit_test_setup_teardown(test_resolve, setup, teardown),
	    cmocka_unit_test(test_tty_nr),
	    cmocka_unit_test(test_scan_real_proc),
	    cmocka_unit_test_setup_teardown(test_container_from_probe, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_lanes_out_of_order, setup, teardown),
	    cmocka_unit_test(test_history_bounded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
