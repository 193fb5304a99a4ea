/*
 * The proc and thread field classes: the event's process from the view, its
 * parent and ancestors, its credentials' capabilities.
 */
#include <stdio.h>
#include <string.h>

#include "event/event.h"
#include "rules/fields_class.h"
#include "state/view.h"

#define NEV  SAKER_FF_NEVER
#define IDX  SAKER_FF_ARG_INDEX
#define MUL  SAKER_FF_MULTI
#define T(x) SAKER_FT_##x

static const char R_CAPS[] = "saker tracks only the effective set (thread.cap_effective)";
static const char R_INODE[] = "the probe does not report the executable's inode";
static const char R_SESSION[] = "the probe does not report sessions and process groups";

/* Which process a proc.* / proc.p* row reads. */
enum { SELF, PARENT };
/* What an ancestor row (proc.a*) reads. */
enum { A_NAME, A_PID, A_EXE, A_EXEPATH, A_CMDLINE };

static const struct saker_proc *who(struct saker_fctx *c, int sel)
{
	if (sel == SELF)
		return saker_fctx_proc(c);
	return saker_fctx_ancestors(c, 1) >= 2 ? c->anc[1] : NULL;
}

static int exe_of(const struct saker_proc *p, struct saker_fval *v)
{
	if (p->argc > 0 && p->args_len)
		return saker_fval_str(v, p->args, strnlen(p->args, p->args_len));
	return saker_fval_cstr(v, p->exe);
}

static int args_of(struct saker_fctx *c, const struct saker_proc *p, struct saker_fval *v)
{
	size_t room;
	char *out = saker_fctx_tail(c, &room);
	int n = saker_proc_args_join(p, 1, out, room);

	if (n < 0)
		return 0;
	if ((size_t)n >= room)
		n = (int)room - 1;
	return saker_fctx_keep_str(c, v, (size_t)n);
}

static int cmdline_of(struct saker_fctx *c, const struct saker_proc *p, struct saker_fval *v)
{
	size_t room, cl = strlen(p->comm);
	char *b = saker_fctx_tail(c, &room);
	int n;

	if (room < cl + 2)
		return 0;
	memcpy(b, p->comm, cl);
	b[cl] = '\0';
	if (p->argc > 1) {
		b[cl] = ' ';
		n = saker_proc_args_join(p, 1, b + cl + 1, room - cl - 1);
		if (n < 0)
			n = 0;
		if ((size_t)n >= room - cl - 1)
			n = (int)(room - cl - 2);
		cl += 1 + (size_t)n;
	}
	return saker_fctx_keep_str(c, v, cl);
}

static int proc_pid(struct saker_fctx *c, const struct saker_finst *fi, struct saker_fval *v)
{
	(void)fi;
	v->i = c->ev->hdr.tgid;
	return 1;
}

static int proc_ppid(struct saker_fctx *c, const struct saker_finst *fi, struct saker_fval *v)
{
	const struct saker_proc *p = saker_fctx_proc(c);

	(void)fi;
	if (!p || !p->ppid)
		return 0;
	v->i = p->ppid;
	return 1;
}

static int proc_name(struct saker_fctx *c, const struct saker_finst *fi, struct saker_fval *v)
{
	const struct saker_proc *p = who(c, fi->sel);

	return p ? saker_fval_cstr(v, p->comm) : 0;
}

static int proc_exe(struct saker_fctx *c, const struct saker_finst *fi, struct saker_fval *v)
{
	const struct saker_proc *p = who(c, fi->sel);

	return p ? exe_of(p, v) : 0;
}

static int proc_exepath(struct saker_fctx *c, const struct saker_finst *fi, struct saker_fval *v)
{
	const struct saker_proc *p = who(c, fi->sel);

	return p && *p->exe ? saker_fval_cstr(v, p->exe) : 0;
}

static int proc_cmdline(struct saker_fctx *c, const struct saker_finst *fi, struct saker_fval *v)
{
	const struct saker_proc *p = who(c, fi->sel);

	return p ? cmdline_of(c, p, v) : 0;
}

static int proc_args(struct saker_fctx *c, const struct saker_finst *fi, struct saker_fval *v)
{
	const struct saker_proc *p = saker_fctx_proc(c);

	(void)fi;
	return p ? args_of(c, p, v) : 0;
}

static int proc_cwd(struct saker_fctx *c, const struct saker_finst *fi, struct saker_fval *v)
{
	const struct saker_proc *p = saker_fctx_proc(c);
	size_t n;

	(void)fi;
	if (!p)
		return 0;
	n = strlen(p->cwd);
	if (!n)
		return 0;
	if (p->cwd[n - 1] == '/')
		return saker_fval_str(v, p->cwd, n);
	return saker_fctx_printf(c, v, "%s/", p->cwd);
}

static int proc_tty(struct saker_fctx *c, const struct saker_finst *fi, struct saker_fval *v)
{
	const struct saker_proc *p = saker_fctx_proc(c);

	(void)fi;
	if (!p)
		return 0;
	v->u = p->tty;
	return 1;
}

static int proc_duration(struct saker_fctx *c, const struct saker_finst *fi, struct saker_fval *v)
{
	const struct saker_proc *p = saker_fctx_proc(c);

	(void)fi;
	if (!p || !p->start_ns || c->ev->hdr.ts_ns < p->start_ns)
		return 0;
	v->u = c->ev->hdr.ts_ns - p->start_ns;
	return 1;
}

static int proc_memfd(struct saker_fctx *c, const struct saker_finst *fi, struct saker_fval *v)
{
	const struct saker_proc *p = saker_fctx_proc(c);

	(void)fi;
	if (!p)
		return 0;
	v->u = !strncmp(p->exe, "/memfd:", 7) || !strncmp(p->exe, "memfd:", 6);
	return 1;
}

static int proc_cgroup(struct saker_fctx *c, const struct saker_finst *fi, struct saker_fval *v)
{
	const struct saker_proc *p = saker_fctx_proc(c);

	(void)fi;
	return p && *p->cgroup ? saker_fval_cstr(v, p->cgroup) : 0;
}

/* Ancestor-based fields: one value for [n], all ancestors from the parent without. */
static int proc_ancestors(struct saker_fctx *c, const struct saker_finst *fi,
			  struct saker_fval *out)
{
	unsigned first, last, n = 0;

	if (fi->idx >= 0) {
		if (fi->idx > SAKER_FIELD_MAX_VALUES)
			return 0;
		first = last = (unsigned)fi->idx;
	} else {
		first = 1;
		last = SAKER_FIELD_MAX_VALUES - 1;
	}
	if (saker_fctx_ancestors(c, last) <= first)
		return 0;
	for (unsigned i = first; i <= last && i < c->nanc; i++) {
		const struct saker_proc *p = c->anc[i];
		struct saker_fval *v = &out[n];
		int ok;

		switch (fi->sel) {
		case A_NAME:
			ok = saker_fval_cstr(v, p->comm);
			break;
		case A_PID:
			v->i = p->pid;
			ok = 1;
			break;
		case A_EXE:
			ok = exe_of(p, v);
			break;
		case A_EXEPATH:
			ok = *p->exe ? saker_fval_cstr(v, p->exe) : 0;
			break;
		default:
			ok = cmdline_of(c, p, v);
			break;
		}
		n += ok ? 1u : 0u;
	}
	return (int)n;
}

static int thread_tid(struct saker_fctx *c, const struct saker_finst *fi, struct saker_fval *v)
{
	(void)fi;
	v->i = c->ev->hdr.tid;
	return 1;
}

static int thread_main(struct saker_fctx *c, const struct saker_finst *fi, struct saker_fval *v)
{
	(void)fi;
	v->u = c->ev->hdr.tid == c->ev->hdr.tgid;
	return 1;
}

/* Capability names by number, as Falco renders them. */
static const char *const cap_names[] = {
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
};

/* thread.cap_effective: "CAP_CHOWN CAP_KILL ..." ("" for none); missing when unknown. */
static int thread_cap_effective(struct saker_fctx *c, const struct saker_finst *fi,
				struct saker_fval *v)
{
	const struct saker_proc *p = saker_fctx_proc(c);
	size_t room, n = 0;
	char *b = saker_fctx_tail(c, &room);

	(void)fi;
	if (!p || !(p->flags & SAKER_PROC_CAPS_KNOWN))
		return 0;
	for (unsigned i = 0; i < 64; i++) {
		const char *name =
		    i < sizeof(cap_names) / sizeof(cap_names[0]) ? cap_names[i] : NULL;
		char tmp[16];
		size_t l;

		if (!(p->cap_eff >> i & 1))
			continue;
		if (!name) {
			snprintf(tmp, sizeof(tmp), "CAP_%u", i);
			name = tmp;
		}
		l = strlen(name);
		if (n + l + 2 > room)
			return 0;
		if (n)
			b[n++] = ' ';
		memcpy(b + n, name, l);
		n += l;
	}
	if (room < 1)
		return 0;
	b[n] = '\0';
	return saker_fctx_keep_str(c, v, n);
}

/* clang-format off */
static const struct saker_field_row rows[] = {
	{{"proc.pid", T(S64), 0, "Process id", NULL}, proc_pid, 0, 1},
	{{"proc.ppid", T(S64), 0, "Parent process id", NULL}, proc_ppid, 0, 2},
	{{"proc.name", T(STR), 0, "Process name (comm)", NULL}, proc_name, SELF, 2},
	{{"proc.exe", T(STR), 0, "First command-line argument (argv[0])", NULL}, proc_exe, SELF, 2},
	{{"proc.exepath", T(STR), 0, "Full path of the executable", NULL}, proc_exepath, SELF, 2},
	{{"proc.cmdline", T(STR), 0, "Name and arguments: proc.name proc.args", NULL}, proc_cmdline, SELF, 4},
	{{"proc.args", T(STR), 0, "Arguments (argv[1..]) joined with spaces", NULL}, proc_args, 0, 4},
	{{"proc.cwd", T(STR), 0, "Working directory, with a trailing /", NULL}, proc_cwd, 0, 3},
	{{"proc.tty", T(U64), 0, "Controlling terminal (tty_nr), 0 = none", NULL}, proc_tty, 0, 2},
	{{"proc.duration", T(RELTIME), 0, "ns since the thread started", NULL}, proc_duration, 0, 2},
	{{"proc.pname", T(STR), 0, "Parent's name", NULL}, proc_name, PARENT, 4},
	{{"proc.pexe", T(STR), 0, "Parent's argv[0]", NULL}, proc_exe, PARENT, 4},
	{{"proc.pexepath", T(STR), 0, "Parent's executable path", NULL}, proc_exepath, PARENT, 4},
	{{"proc.pcmdline", T(STR), 0, "Parent's command line", NULL}, proc_cmdline, PARENT, 6},
	{{"proc.aname", T(STR), IDX | MUL, "Ancestor's name: [0] self, [1] parent...; no index = any ancestor", NULL}, proc_ancestors, A_NAME, SAKER_FCOST_WALK},
	{{"proc.apid", T(S64), IDX | MUL, "Ancestor's pid; no index = any ancestor", NULL}, proc_ancestors, A_PID, SAKER_FCOST_WALK},
	{{"proc.aexe", T(STR), IDX | MUL, "Ancestor's argv[0]; no index = any ancestor", NULL}, proc_ancestors, A_EXE, SAKER_FCOST_WALK},
	{{"proc.aexepath", T(STR), IDX | MUL, "Ancestor's executable path; no index = any ancestor", NULL}, proc_ancestors, A_EXEPATH, SAKER_FCOST_WALK},
	{{"proc.acmdline", T(STR), IDX | MUL, "Ancestor's command line; no index = any ancestor", NULL}, proc_ancestors, A_CMDLINE, SAKER_FCOST_WALK},
	{{"proc.is_exe_from_memfd", T(BOOL), 0, "The executable is a memfd (its path starts with /memfd:)", NULL}, proc_memfd, 0, 2},
	{{"proc.cgroup", T(STR), 0, "cgroup path (saker's own field)", NULL}, proc_cgroup, 0, 4},
	{{"proc.is_exe_upper_layer", T(BOOL), NEV, "Executable in an overlayfs upper layer", R_INODE}, NULL, 0, 1},
	{{"proc.is_exe_writable", T(BOOL), NEV, "Executable writable by the process", R_INODE}, NULL, 0, 1},
	{{"proc.is_exe_lower_layer", T(BOOL), NEV, "Executable in an overlayfs lower layer", R_INODE}, NULL, 0, 1},
	{{"proc.exe_ino", T(U64), NEV, "Executable's inode", R_INODE}, NULL, 0, 1},
	{{"proc.exe_ino.ctime", T(ABSTIME), NEV, "Executable's inode ctime", R_INODE}, NULL, 0, 1},
	{{"proc.exe_ino.mtime", T(ABSTIME), NEV, "Executable's inode mtime", R_INODE}, NULL, 0, 1},
	{{"proc.exe_ino.ctime_duration_proc_start", T(RELTIME), NEV, "Process start minus inode ctime", R_INODE}, NULL, 0, 1},
	{{"proc.exe_ino.ctime_duration_pidns_start", T(RELTIME), NEV, "Pid namespace start minus inode ctime", R_INODE}, NULL, 0, 1},
	{{"proc.sname", T(STR), NEV, "Session leader's name", R_SESSION}, NULL, 0, 1},
	{{"proc.sid", T(S64), NEV, "Session id", R_SESSION}, NULL, 0, 1},
	{{"proc.vpgid", T(S64), NEV, "Process group id", R_SESSION}, NULL, 0, 1},
	{{"proc.vpgid.name", T(STR), NEV, "Process group leader's name", R_SESSION}, NULL, 0, 1},
	{{"proc.vpgid.exe", T(STR), NEV, "Process group leader's argv[0]", R_SESSION}, NULL, 0, 1},
	{{"proc.is_vpgid_leader", T(BOOL), NEV, "The process leads its process group", R_SESSION}, NULL, 0, 1},
	{{"proc.is_sid_leader", T(BOOL), NEV, "The process leads its session", R_SESSION}, NULL, 0, 1},
	{{"proc.loginshellid", T(S64), NEV, "pid of the login shell", R_SESSION}, NULL, 0, 1},
	{{"thread.tid", T(S64), 0, "Thread id", NULL}, thread_tid, 0, 1},
	{{"thread.is_main_thread", T(BOOL), 0, "The thread is its process's leader", NULL}, thread_main, 0, 1},
	{{"thread.cap_effective", T(STR), 0, "Effective capabilities: CAP_* names, space-separated (from exec, /proc, fork; unknown after capset)", NULL}, thread_cap_effective, 0, 2},
	{{"thread.cap_permitted", T(STR), NEV, "Permitted capabilities", R_CAPS}, NULL, 0, 1},
	{{"thread.cap_inheritable", T(STR), NEV, "Inheritable capabilities", R_CAPS}, NULL, 0, 1},
};
/* clang-format on */

const struct saker_field_class saker_fclass_proc = SAKER_FIELD_CLASS("proc", rows);
