#include "state/view_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include "event/event.h"
#include "lib/ctrmatch.h"
#include "lib/sctable.h"

/*
 * The cgroup path the probe sent (exec, or a fork into another cgroup):
 * NULL when it sent none (an older capture: the /proc reread decides).
 */
static const char *cgroup_from_event(const struct saker_event *ev, char *buf, size_t size)
{
	struct saker_param names;
	const char *val = NULL;
	size_t len = 0;
	uint64_t level;

	if (saker_event_get_u64(ev, SAKER_PN_CGROUP_LEVEL, &level))
		return NULL;
	if (!saker_event_get(ev, SAKER_PN_CGROUP, &names) && names.kind == SAKER_PK_STRLIST &&
	    !(names.flags & SAKER_PF_UNREADABLE)) {
		val = (const char *)names.val;
		len = names.len;
	} else if ((uint32_t)level) {
		return NULL;
	}
	saker_ctr_path_from_names(val, len, (uint32_t)level, buf, size);
	return buf;
}

static void pending_put(struct saker_view *v, uint32_t tid, uint64_t ts)
{
	if (v->pending.n >= PENDING_MAX) {
		saker_idmap_free(&v->pending);
		saker_idmap_init(&v->pending);
	}
	/* The time itself is the value: no allocation per hint. */
	(void)saker_idmap_put(&v->pending, tid, (void *)(uintptr_t)(ts | 1));
}

/* Whether a fork record at ts for tid is older than an exec or exit already applied. */
static bool pending_take(struct saker_view *v, uint32_t tid, uint64_t ts)
{
	void *val = saker_idmap_del(&v->pending, tid);

	return val && ts <= (uint64_t)(uintptr_t)val;
}

static uint64_t get_u64_or(const struct saker_event *ev, unsigned name, uint64_t dflt)
{
	uint64_t val;

	return saker_event_get_u64(ev, name, &val) ? dflt : val;
}

static int on_proc_fork(struct saker_view *v, const struct saker_event *ev)
{
	uint32_t child = ev->hdr.tid, child_pid = ev->hdr.tgid;
	uint64_t parent, parent_pid, flags;
	const char *cg;
	int err;

	if (pending_take(v, child, ev->hdr.ts_ns)) {
		v->late_forks++;
		return 0;
	}
	if (saker_event_get_u64(ev, SAKER_PN_PID, &parent) ||
	    saker_event_get_u64(ev, SAKER_PN_PPID, &parent_pid))
		return 0;
	flags = get_u64_or(ev, SAKER_PN_FLAGS, 0);
	/* Without clone flags, a child in its parent's thread group is a thread. */
	if (child != child_pid && child_pid == (uint32_t)parent_pid)
		flags |= CLONE_THREAD;
	v->applied++;
	err = saker_proctable_on_fork(v->procs, (uint32_t)parent, child, child_pid, flags,
				      ev->hdr.ts_ns);
	/* Born in another cgroup than its parent's (clone3 CLONE_INTO_CGROUP). */
	cg = err ? NULL : cgroup_from_event(ev, v->cgroup, sizeof(v->cgroup));
	if (cg)
		err = saker_proctable_set_cgroup(v->procs, child,
						 get_u64_or(ev, SAKER_PN_CGROUP_ID, 0), cg);
	return err;
}

/* A STR parameter into buf; NULL when absent or unreadable. */
static const char *str_or_null(const struct saker_event *ev, unsigned name, char *buf, size_t size)
{
	int err = saker_event_get_str(ev, name, buf, size);

	return err && err != -ENAMETOOLONG ? NULL : buf;
}

static int on_proc_exec(struct saker_view *v, const struct saker_event *ev)
{
	struct saker_exec_info in = {.tid = ev->hdr.tid, .pid = ev->hdr.tgid};
	struct saker_proctable_stats before, after;
	struct saker_param args, caps;
	char comm[SAKER_PROC_COMM_LEN];
	const char *exe;
	int err;

	exe = str_or_null(ev, SAKER_PN_EXE, v->path, sizeof(v->path));
	in.cwd = str_or_null(ev, SAKER_PN_CWD, v->cwd, sizeof(v->cwd));
	/* "memfd:NAME" is what the probe sends for a memfd: a name, not a relative path. */
	if (exe && exe[0] != '/' && strncmp(exe, "memfd:", 6) && in.cwd &&
	    !saker_path_join(in.cwd, exe, v->path2, sizeof(v->path2)))
		exe = v->path2;
	in.exe = exe;
	in.comm = str_or_null(ev, SAKER_PN_COMM, comm, sizeof(comm));
	if (!saker_event_get(ev, SAKER_PN_ARGS, &args) && args.kind == SAKER_PK_STRLIST &&
	    !(args.flags & SAKER_PF_UNREADABLE)) {
		in.args = (const char *)args.val;
		in.args_len = args.len;
	}
	in.ppid = (uint32_t)get_u64_or(ev, SAKER_PN_PPID, 0);
	in.uid = (uint32_t)get_u64_or(ev, SAKER_PN_UID, SAKER_UID_UNSET);
	in.gid = (uint32_t)get_u64_or(ev, SAKER_PN_GID, SAKER_UID_UNSET);
	in.euid = (uint32_t)get_u64_or(ev, SAKER_PN_EUID, in.uid);
	in.egid = (uint32_t)get_u64_or(ev, SAKER_PN_EGID, in.gid);
	in.loginuid = (uint32_t)get_u64_or(ev, SAKER_PN_LOGINUID, SAKER_UID_UNSET);
	in.tty = saker_dev_to_tty_nr(get_u64_or(ev, SAKER_PN_TTY, 0));
	in.caps_known =
	    !saker_event_get(ev, SAKER_PN_CAP_EFF, &caps) && !saker_param_u64(&caps, &in.cap_eff);
	in.cgroup_id = get_u64_or(ev, SAKER_PN_CGROUP_ID, 0);
	in.cgroup = cgroup_from_event(ev, v->cgroup, sizeof(v->cgroup));
	in.ts_ns = ev->hdr.ts_ns;
	saker_proctable_get_stats(v->procs, &before);
	err = saker_proctable_on_exec(v->procs, &in);
	saker_proctable_get_stats(v->procs, &after);
	/* a container's first exec reads its runtime's files (once: then it is cached) */
	if (!err && v->ctrs)
		saker_view_learn_container(v, saker_proctable_peek(v->procs, in.pid));
	/* Nothing known of the process: its fork record may still be on its way. */
	if (!err && after.failed_lookups != before.failed_lookups)
		pending_put(v, in.pid, ev->hdr.ts_ns);
	v->applied++;
	return err;
}

static int on_proc_exit(struct saker_view *v, const struct saker_event *ev)
{
	/* The probe tells whether the thread group died; without it the table infers. */
	uint64_t flags =
	    get_u64_or(ev, SAKER_PN_FLAGS, 0) & (SAKER_EXIT_GROUP_DEAD | SAKER_EXIT_GROUP_ALIVE);
	int err = saker_proctable_on_exit_at(v->procs, ev->hdr.tid, (unsigned)flags, ev->hdr.ts_ns);

	v->applied++;
	if (err == -ENOENT) {
		pending_put(v, ev->hdr.tid, ev->hdr.ts_ns);
		return 0;
	}
	return err;
}

static enum saker_fd_type sockaddr_fd(const struct saker_sockaddr *sa, struct saker_fd_tuple *t,
				      bool local)
{
	if (sa->family == AF_INET || sa->family == AF_INET6) {
		memcpy(local ? t->laddr : t->raddr, sa->addr, 16);
		if (local)
			t->lport = sa->port;
		else
			t->rport = sa->port;
		return sa->family == AF_INET ? SAKER_FD_IPV4 : SAKER_FD_IPV6;
	}
	return sa->family == AF_UNIX ? SAKER_FD_UNIX : SAKER_FD_OTHER;
}

/* A unix socket's name as the fd table keeps it: abstract ones as "@name". */
static const char *unix_name(const struct saker_sockaddr *sa, char *buf, size_t size)
{
	if (sa->family != AF_UNIX)
		return NULL;
	snprintf(buf, size, "%s%s", sa->abstract ? "@" : "", sa->path);
	return buf;
}

static int on_socket_op(struct saker_view *v, const struct saker_event *ev, enum saker_view_op op)
{
	uint32_t pid = ev->hdr.tgid;
	struct saker_fd_tuple t = {0};
	struct saker_sockaddr sa = {0};
	const struct saker_fd *known;
	enum saker_fd_type type;
	struct saker_param p;
	const char *uname;
	int64_t fd;
	bool have_addr;

	if (saker_event_get_s64(ev, SAKER_PN_FD, &fd) || fd < 0 || fd > INT_MAX)
		return 0;
	if (op == SAKER_VOP_LISTEN)
		return saker_fdtable_on_listen(v->fds, pid, (int)fd) == -ENOMEM ? -ENOMEM : 0;
	have_addr = !saker_event_get(ev, SAKER_PN_ADDR, &p) && !saker_sockaddr_decode(&p, &sa);
	/* What bind told of this socket (connect) or of the listening one (accept). */
	known = saker_fdtable_lookup(v->fds, pid, (int)fd);
	if (known && (known->type == SAKER_FD_IPV4 || known->type == SAKER_FD_IPV6)) {
		memcpy(t.laddr, known->tuple.laddr, sizeof(t.laddr));
		t.lport = known->tuple.lport;
		t.l4proto = known->tuple.l4proto;
	}
	if (!have_addr) {
		if (op != SAKER_VOP_ACCEPT || !known)
			return 0;
		/* accept(fd, NULL, NULL): the peer is unknown, the family is the listener's. */
		type = known->type;
		uname = known->type == SAKER_FD_UNIX ? known->name : NULL;
	} else {
		type = sockaddr_fd(&sa, &t, op == SAKER_VOP_BIND);
		uname = unix_name(&sa, v->path, sizeof(v->path));
		/* An accepted unix peer is usually unnamed: the listener's path names it. */
		if (op == SAKER_VOP_ACCEPT && type == SAKER_FD_UNIX && !sa.path_len && known &&
		    known->type == SAKER_FD_UNIX)
			uname = known->name;
	}
	if (type == SAKER_FD_OTHER)
		return 0;
	/* known may point into the table: copy before the table changes. */
	if (uname && uname != v->path) {
		snprintf(v->path2, sizeof(v->path2), "%s", uname);
		uname = v->path2;
	}
	v->applied++;
	switch (op) {
	case SAKER_VOP_CONNECT:
		return saker_fdtable_on_connect(v->fds, pid, (int)fd, type, &t, uname);
	case SAKER_VOP_BIND:
		return saker_fdtable_on_bind(v->fds, pid, (int)fd, type, &t, uname);
	case SAKER_VOP_ACCEPT:
		if (ev->hdr.ret > INT_MAX)
			return 0;
		return saker_fdtable_on_accept(v->fds, pid, (int)ev->hdr.ret, type, &t, uname);
	default:
		return 0;
	}
}

/*
 * The transport a socket uses, as Falco's parser derives it from socket()'s
 * type and protocol: IPPROTO_TCP/UDP/ICMP, IPPROTO_RAW for raw sockets, 0
 * unknown. type may carry SOCK_NONBLOCK | SOCK_CLOEXEC.
 */
static uint8_t sock_l4proto(uint64_t type, uint64_t proto)
{
	uint64_t t = type & 0xf;

	switch (proto) {
	case IPPROTO_TCP:
		return t == SOCK_RAW ? IPPROTO_RAW : IPPROTO_TCP;
	case IPPROTO_UDP:
		return t == SOCK_RAW ? IPPROTO_RAW : IPPROTO_UDP;
	case IPPROTO_IP:
		return t == SOCK_STREAM ? IPPROTO_TCP : t == SOCK_DGRAM ? IPPROTO_UDP : 0;
	case IPPROTO_ICMP:
		return t == SOCK_RAW ? IPPROTO_RAW : IPPROTO_ICMP;
	case IPPROTO_RAW:
		return IPPROTO_RAW;
	default:
		return 0;
	}
}

static int on_socket(struct saker_view *v, const struct saker_event *ev, enum saker_view_op op)
{
	uint64_t domain = get_u64_or(ev, SAKER_PN_DOMAIN, 0),
		 type = get_u64_or(ev, SAKER_PN_TYPE, 0);
	uint64_t proto = get_u64_or(ev, SAKER_PN_PROTO, 0), fds;
	uint32_t oflags = (type & SOCK_CLOEXEC) ? O_CLOEXEC : 0;
	enum saker_fd_type ft;
	const char *name = NULL;
	int fd[2], n = 1, err = 0;
	uint8_t l4 = 0;

	switch (domain) {
	case AF_INET:
	case AF_INET6:
		ft = domain == AF_INET ? SAKER_FD_IPV4 : SAKER_FD_IPV6;
		l4 = sock_l4proto(type, proto);
		break;
	case AF_UNIX:
		ft = SAKER_FD_UNIX;
		break;
	case AF_NETLINK:
		ft = SAKER_FD_OTHER;
		name = "netlink";
		break;
	default:
		ft = SAKER_FD_OTHER;
		name = "socket:";
		break;
	}
	if (op == SAKER_VOP_SOCKET) {
		if (ev->hdr.ret > INT_MAX)
			return 0;
		fd[0] = (int)ev->hdr.ret;
	} else {
		struct saker_param p;

		/* The fds are read from user memory at exit: unreadable means unknown. */
		if (saker_event_get(ev, SAKER_PN_FDS, &p) || p.flags & SAKER_PF_UNREADABLE ||
		    saker_param_u64(&p, &fds))
			return 0;
		fd[0] = (int)(uint32_t)fds;
		fd[1] = (int)(uint32_t)(fds >> 32);
		n = 2;
	}
	v->applied++;
	for (int i = 0; i < n && !err; i++)
		if (fd[i] >= 0)
			err = saker_fdtable_on_socket(v->fds, ev->hdr.tgid, fd[i], ft, l4, oflags,
						      name);
	return err == -ENOMEM ? err : 0;
}

static int on_open(struct saker_view *v, const struct saker_event *ev, enum saker_view_op op)
{
	const char *path = str_or_null(ev, SAKER_PN_PATH, v->path, sizeof(v->path));
	struct saker_param kp;
	const char *abs;
	int64_t dirfd;
	uint64_t flags;

	if (ev->hdr.ret > INT_MAX)
		return 0;
	if (saker_event_get_s64(ev, SAKER_PN_DIRFD, &dirfd))
		dirfd = AT_FDCWD;
	flags = op == SAKER_VOP_CREAT ? O_CREAT | O_WRONLY | O_TRUNC
				      : get_u64_or(ev, SAKER_PN_FLAGS, 0);
	/* The path the kernel opened (the fd's file) beats joining a cwd we may not know. */
	abs = NULL;
	if (!saker_event_get(ev, SAKER_PN_PATH_ABS, &kp) && !(kp.flags & SAKER_PF_TRUNCATED))
		abs = str_or_null(ev, SAKER_PN_PATH_ABS, v->path2, sizeof(v->path2));
	if (abs && abs[0] == '/')
		path = abs;
	else if (path && !saker_view_resolve(v, ev->hdr.tid, ev->hdr.tgid, dirfd, path, v->path2,
					     sizeof(v->path2)))
		path = v->path2;
	v->applied++;
	return saker_fdtable_on_open(v->fds, ev->hdr.tgid, (int)ev->hdr.ret, path ? path : "",
				     (uint32_t)flags);
}

static int on_chdir(struct saker_view *v, const struct saker_event *ev, enum saker_view_op op)
{
	const char *path = NULL;

	if (op == SAKER_VOP_CHDIR) {
		const char *rel = str_or_null(ev, SAKER_PN_PATH, v->path, sizeof(v->path));

		if (rel && !saker_view_resolve(v, ev->hdr.tid, ev->hdr.tgid, AT_FDCWD, rel,
					       v->path2, sizeof(v->path2)))
			path = v->path2;
	} else {
		const struct saker_fd *f;
		int64_t fd;

		if (!saker_event_get_s64(ev, SAKER_PN_FD, &fd) && fd >= 0 && fd <= INT_MAX) {
			f = saker_fdtable_lookup(v->fds, ev->hdr.tgid, (int)fd);
			if (f && f->type == SAKER_FD_FILE) {
				snprintf(v->path2, sizeof(v->path2), "%s", f->name);
				path = v->path2;
			}
		}
	}
	/* A cwd we cannot tell is better unknown than wrong. */
	if (!path)
		path = "";
	v->applied++;
	return saker_proctable_on_chdir(v->procs, ev->hdr.tid, path) == -ENOMEM ? -ENOMEM : 0;
}

static uint32_t id_param(const struct saker_event *ev, unsigned name)
{
	/* -1 (sign-extended or not) is "unchanged", which is SAKER_ID_KEEP once truncated. */
	return (uint32_t)get_u64_or(ev, name, SAKER_ID_KEEP);
}

static int on_setids(struct saker_view *v, const struct saker_event *ev, enum saker_view_op op)
{
	uint32_t uid = SAKER_ID_KEEP, euid = SAKER_ID_KEEP, gid = SAKER_ID_KEEP,
		 egid = SAKER_ID_KEEP;
	const struct saker_proc *p;

	switch (op) {
	case SAKER_VOP_SETUID:
	case SAKER_VOP_SETGID:
		p = saker_proctable_lookup_at(v->procs, ev->hdr.tid, ev->hdr.ts_ns, NULL);
		if (!p)
			return 0;
		/* Privileged (taken as euid 0): real and effective; else only effective. */
		if (op == SAKER_VOP_SETUID) {
			euid = id_param(ev, SAKER_PN_UID);
			uid = p->euid == 0 ? euid : SAKER_ID_KEEP;
		} else {
			egid = id_param(ev, SAKER_PN_GID);
			gid = p->euid == 0 ? egid : SAKER_ID_KEEP;
		}
		break;
	case SAKER_VOP_SETREUID:
	case SAKER_VOP_SETRESUID:
		uid = id_param(ev, SAKER_PN_UID);
		euid = id_param(ev, SAKER_PN_EUID);
		break;
	case SAKER_VOP_SETREGID:
	case SAKER_VOP_SETRESGID:
		gid = id_param(ev, SAKER_PN_GID);
		egid = id_param(ev, SAKER_PN_EGID);
		break;
	default:
		return 0;
	}
	v->applied++;
	saker_proctable_on_setids_at(v->procs, ev->hdr.tid, uid, euid, gid, egid, ev->hdr.ts_ns);
	return 0;
}

static int on_syscall(struct saker_view *v, const struct saker_event *ev)
{
	/* What the syscall does to the tables: the syscall table's view-op column. */
	enum saker_view_op op = saker_sctable_view_op(ev->hdr.syscall_id);
	int64_t ret = ev->hdr.ret, fd;
	uint64_t flags;
	int err;

	switch (op) {
	case SAKER_VOP_CONNECT:
		/* A non-blocking connect goes on in the background. */
		if (ret != 0 && ret != -EINPROGRESS)
			return 0;
		return on_socket_op(v, ev, op);
	case SAKER_VOP_BIND:
	case SAKER_VOP_LISTEN:
		return ret == 0 ? on_socket_op(v, ev, op) : 0;
	case SAKER_VOP_ACCEPT:
		return ret >= 0 ? on_socket_op(v, ev, op) : 0;
	case SAKER_VOP_SOCKET:
		return ret >= 0 ? on_socket(v, ev, op) : 0;
	case SAKER_VOP_CAPSET:
		if (ret == 0) {
			v->applied++;
			(void)saker_proctable_caps_unknown(v->procs, ev->hdr.tid);
		}
		return 0;
	case SAKER_VOP_SOCKETPAIR:
		return ret == 0 ? on_socket(v, ev, op) : 0;
	case SAKER_VOP_OPEN:
	case SAKER_VOP_CREAT:
		return ret >= 0 ? on_open(v, ev, op) : 0;
	case SAKER_VOP_CLOSE:
		/* The descriptor is released even when close() reports an error, but EBADF. */
		if (ret == -EBADF || saker_event_get_s64(ev, SAKER_PN_FD, &fd) || fd < 0 ||
		    fd > INT_MAX)
			return 0;
		v->applied++;
		saker_fdtable_on_close(v->fds, ev->hdr.tgid, (int)fd);
		return 0;
	case SAKER_VOP_DUP:
	case SAKER_VOP_DUP3:
		if (ret < 0 || ret > INT_MAX || saker_event_get_s64(ev, SAKER_PN_FD, &fd) ||
		    fd < 0 || fd > INT_MAX)
			return 0;
		flags = op == SAKER_VOP_DUP3 ? get_u64_or(ev, SAKER_PN_FLAGS, 0) & O_CLOEXEC : 0;
		v->applied++;
		err =
		    saker_fdtable_on_dup(v->fds, ev->hdr.tgid, (int)fd, (int)ret, (uint32_t)flags);
		return err == -ENOMEM ? err : 0;
	case SAKER_VOP_CHDIR:
	case SAKER_VOP_FCHDIR:
		return ret == 0 ? on_chdir(v, ev, op) : 0;
	case SAKER_VOP_SETUID:
	case SAKER_VOP_SETREUID:
	case SAKER_VOP_SETRESUID:
	case SAKER_VOP_SETGID:
	case SAKER_VOP_SETREGID:
	case SAKER_VOP_SETRESGID:
		return ret == 0 ? on_setids(v, ev, op) : 0;
	default:
		return 0;
	}
}

bool saker_view_defers(const struct saker_view *v, const struct saker_event *ev)
{
	enum saker_view_op op;

	switch (ev->hdr.type) {
	case SAKER_EVT_PROC_EXEC:
	case SAKER_EVT_PROC_EXIT:
		return true;
	case SAKER_EVT_SYSCALL:
		break;
	default:
		return false;
	}
	(void)v;
	op = saker_sctable_view_op(ev->hdr.syscall_id);
	switch (op) {
	case SAKER_VOP_CLOSE:
	case SAKER_VOP_CONNECT:
	case SAKER_VOP_BIND:
	case SAKER_VOP_LISTEN:
	case SAKER_VOP_CHDIR:
	case SAKER_VOP_FCHDIR:
	case SAKER_VOP_SETUID:
	case SAKER_VOP_SETREUID:
	case SAKER_VOP_SETRESUID:
	case SAKER_VOP_SETGID:
	case SAKER_VOP_SETREGID:
	case SAKER_VOP_SETRESGID:
		return true;
	default:
		return false;
	}
}

bool saker_view_rules_see_result(const struct saker_view *v, const struct saker_event *ev)
{
	(void)v;
	if (ev->hdr.type == SAKER_EVT_PROC_EXEC)
		return true;
	if (ev->hdr.type != SAKER_EVT_SYSCALL)
		return false;
	switch (saker_sctable_view_op(ev->hdr.syscall_id)) {
	case SAKER_VOP_CONNECT:
	case SAKER_VOP_BIND:
	case SAKER_VOP_LISTEN:
		return true;
	default:
		return false;
	}
}

int saker_view_apply(struct saker_view *v, const struct saker_event *ev)
{
	int err;

	v->events++;
	v->cur_ts = ev->hdr.ts_ns;
	switch (ev->hdr.type) {
	case SAKER_EVT_PROC_FORK:
		err = on_proc_fork(v, ev);
		break;
	case SAKER_EVT_PROC_EXEC:
		err = on_proc_exec(v, ev);
		break;
	case SAKER_EVT_PROC_EXIT:
		err = on_proc_exit(v, ev);
		break;
	case SAKER_EVT_SYSCALL:
		err = on_syscall(v, ev);
		break;
	default:
		err = -EBADMSG;
		break;
	}
	v->cur_ts = 0;
	/* Only allocation failures matter to the caller; the rest is counted by the tables. */
	return err == -ENOMEM || err == -EBADMSG ? err : 0;
}

int saker_view_handle_event(struct saker_view *v, const struct saker_evt_hdr *e, size_t len)
{
	struct saker_event ev;
	int err;

	err = saker_event_parse(&ev, e, len);
	if (err) {
		saker_view_count_malformed(v);
		return err;
	}
	return saker_view_apply(v, &ev);
}
