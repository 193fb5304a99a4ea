/*
 * Falco's event arguments: per event class (syscall, exec, exit), the
 * arguments by Falco's name (evt.arg.flags, evt.arg[0], evt.rawarg.*,
 * evt.args), from the falco column of include/saker_syscalls.def, and their
 * rendering as Falco shows them (flag names, fd(<f>path), addresses).
 * The event slots rules are indexed by are here too.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <asm/unistd_64.h>

#include "saker_syscalls.h"
#include "capture/syscalls.h"
#include "event/event.h"
#include "rules/fields_class.h"
#include "state/view.h"

/* ---- event classes and Falco's argument names ------------------------- */

/* Event classes for argument tables: syscall ids, then lifecycle records. */
#define CLASS_EXEC  (SAKER_SYSCALL_MAX + 0)
#define CLASS_EXIT  (SAKER_SYSCALL_MAX + 1)
#define CLASS_FORK  (SAKER_SYSCALL_MAX + 2)
#define NCLASSES    (SAKER_SYSCALL_MAX + 3)
#define MAX_ARGSPEC 7

enum render {
	R_DEC,
	R_UDEC,
	R_HEX,
	R_OCT,
	R_STR,
	R_FD,
	R_RES,
	R_OFLAGS,
	R_DIRFD,
	R_SOCKADDR,
	R_DOMAIN,
	R_SOCKTYPE,
	R_PTRACE,
	R_SIG,
	R_CLONE,
	R_NS,
	R_MOUNT,
	R_BPF,
	R_PRCTL,
	R_MFD,
	R_AT,
	R_TUPLE,
};

/* Sources other than a parameter name. */
#define S_RES	  200
#define S_TID	  201
#define S_PID	  202
#define S_ARGV0	  203
#define S_ARGTAIL 204

struct aspec {
	const char *name;
	uint8_t src;
	uint8_t r;
};

#define P(n) SAKER_PN_##n
#define RES_ERR                                                                                    \
	{                                                                                          \
		"res", S_RES, R_RES                                                                \
	}
#define RES_FD                                                                                     \
	{                                                                                          \
		"fd", S_RES, R_FD                                                                  \
	}

/* clang-format off */
/*
 * Falco's argument names by syscall: the falco column of
 * include/saker_syscalls.def, with what its view operation makes the syscall
 * (open, creat, exec) and whether it returns a new descriptor.
 */
#define RET_ERR		   RES_ERR
#define RET_FD		   RES_FD
#define RET(n, r)	   {#n, S_RES, R_##r}
#define A(n, p, r)	   {#n, SAKER_PN_##p, R_##r}
#define FA(...)		   __VA_ARGS__
#define RETFD_FA(ret, ...) RETFD_##ret
#define RETFD_RET_ERR	   0
#define RETFD_RET_FD	   CF_RETFD
#define RETFD_RET(n, r)	   0
#define OP_FLAGS(op)                                                                               \
	((op) == SAKER_VOP_OPEN	   ? CF_OPEN                                                       \
	 : (op) == SAKER_VOP_CREAT ? CF_OPEN | CF_CREAT                                            \
	 : (op) == SAKER_VOP_EXEC  ? CF_EXEC                                                       \
				   : 0)
enum { CF_OPEN = 1, CF_CREAT = 2, CF_RETFD = 4, CF_EXEC = 8 };
static const struct sctab {
	uint16_t id;
	uint8_t flags;
	struct aspec a[MAX_ARGSPEC];
} sctabs[] = {
#undef P /* the table's own */
#define SC(nm, cat, lane, op, sel, flags, fa, ...)                                                 \
	{__NR_##nm, RETFD_##fa | OP_FLAGS(SAKER_VOP_##op), {fa}},
#include "saker_syscalls.def"
#define P(n) SAKER_PN_##n
};

static const struct aspec exec_args[MAX_ARGSPEC] = {
	RES_ERR, {"exe", S_ARGV0, R_STR}, {"args", S_ARGTAIL, R_STR}, {"tid", S_TID, R_DEC},
	{"pid", S_PID, R_DEC}, {"ptid", P(PPID), R_DEC}, {"cwd", P(CWD), R_STR},
};
/* Falco names execve's exit arguments beyond the seven above as well. */
static const struct aspec exec_args2[] = {
	{"comm", P(COMM), R_STR}, {"tty", P(TTY), R_DEC}, {"loginuid", P(LOGINUID), R_DEC},
	{"uid", P(UID), R_DEC}, {"gid", P(GID), R_DEC}, {"trusted_exepath", P(EXE), R_STR},
};
static const struct aspec exit_args[MAX_ARGSPEC] = {{"status", P(EXIT_CODE), R_DEC}};
static const struct aspec res_only[MAX_ARGSPEC] = {RES_ERR};
/* clang-format on */

#define NSCTABS	   (sizeof(sctabs) / sizeof(sctabs[0]))
#define NEXEC2	   (sizeof(exec_args2) / sizeof(exec_args2[0]))
#define EXEC_NARGS (MAX_ARGSPEC + NEXEC2)

/* Built once: per class, its argument list and what kind of syscall it is. */
static const struct aspec *class_args[NCLASSES];
static uint8_t class_flags[NCLASSES];
static bool tables_ready;

void saker_fields_tables_init(void)
{
	if (tables_ready)
		return;
	for (size_t i = 0; i < NCLASSES; i++)
		class_args[i] = res_only;
	for (size_t i = 0; i < NSCTABS; i++) {
		class_args[sctabs[i].id] = sctabs[i].a;
		class_flags[sctabs[i].id] = sctabs[i].flags;
	}
	class_args[CLASS_EXEC] = exec_args;
	class_args[CLASS_EXIT] = exit_args;
	class_args[CLASS_FORK] = NULL;
	tables_ready = true;
}

/* The class's i-th argument (exec has two tables), or NULL. */
static const struct aspec *class_arg(unsigned cls, unsigned i)
{
	const struct aspec *a = cls < NCLASSES ? class_args[cls] : NULL;

	if (!a)
		return NULL;
	if (cls == CLASS_EXEC && i >= MAX_ARGSPEC)
		return i - MAX_ARGSPEC < NEXEC2 ? &exec_args2[i - MAX_ARGSPEC] : NULL;
	return i < MAX_ARGSPEC && a[i].name ? &a[i] : NULL;
}

static unsigned class_nargs(unsigned cls)
{
	unsigned n = 0;

	while (class_arg(cls, n))
		n++;
	return n;
}

static unsigned event_class(const struct saker_event *ev)
{
	switch (ev->hdr.type) {
	case SAKER_EVT_SYSCALL:
		return ev->hdr.syscall_id < SAKER_SYSCALL_MAX ? ev->hdr.syscall_id : NCLASSES;
	case SAKER_EVT_PROC_EXEC:
		return CLASS_EXEC;
	case SAKER_EVT_PROC_EXIT:
		return CLASS_EXIT;
	case SAKER_EVT_PROC_FORK:
		return CLASS_FORK;
	default:
		return NCLASSES;
	}
}

int saker_fields_evttype_slot(const char *name)
{
	int id;

	if (!strcmp(name, "procexit"))
		return SAKER_SLOT_PROCEXIT;
	id = saker_syscall_id(name);
	return id >= 0 && id < SAKER_SYSCALL_MAX ? id : -ENOENT;
}

const char *saker_fields_slot_name(unsigned slot)
{
	if (slot == SAKER_SLOT_PROCEXIT)
		return "procexit";
	return slot < SAKER_SYSCALL_MAX ? saker_syscall_name(slot) : NULL;
}

int saker_fields_event_slot(const struct saker_event *ev)
{
	if (!tables_ready)
		saker_fields_tables_init();
	switch (ev->hdr.type) {
	case SAKER_EVT_SYSCALL:
		if (ev->hdr.syscall_id >= SAKER_SYSCALL_MAX)
			return -1;
		if ((class_flags[ev->hdr.syscall_id] & CF_EXEC) && ev->hdr.ret == 0)
			return -1;
		return ev->hdr.syscall_id;
	case SAKER_EVT_PROC_EXEC:
		return __NR_execve; /* Falco's evt.type of a new program */
	case SAKER_EVT_PROC_EXIT:
		return SAKER_SLOT_PROCEXIT;
	default:
		return -1;
	}
}

static bool render_is_str(uint8_t r)
{
	return r == R_STR || r == R_SOCKADDR || r == R_TUPLE;
}

/* Resolves an argument's name (or position) per event class once. */
static int argmap_build(struct saker_finst *fi, char *why, size_t whylen)
{
	bool found = false, all_num = true;

	fi->argmap = calloc(NCLASSES, 1);
	if (!fi->argmap)
		return -ENOMEM;
	for (unsigned cls = 0; cls < NCLASSES; cls++) {
		unsigned n = class_nargs(cls);

		for (unsigned i = 0; i < n; i++) {
			const struct aspec *a = class_arg(cls, i);
			bool hit = fi->idx >= 0 ? (int64_t)i == fi->idx : !strcmp(a->name, fi->arg);

			if (!hit)
				continue;
			fi->argmap[cls] = (uint8_t)(i + 1);
			found = true;
			if (render_is_str(a->r))
				all_num = false;
			break;
		}
	}
	if (!found && fi->idx < 0) {
		snprintf(why, whylen, "no event saker decodes has an argument called '%s'",
			 fi->arg);
		return -ENOENT;
	}
	if (fi->info->flags & SAKER_FF_ARG_REQUIRED && !strcmp(fi->info->name, "evt.rawarg"))
		fi->type = all_num && found ? SAKER_FT_S64 : SAKER_FT_STR;
	return 0;
}

int saker_fields_evt_arg_init(struct saker_finst *fi, char *why, size_t whylen)
{
	char name[128];

	/* Written as Falco users write it: evt.arg.flags, evt.arg[0]. */
	if (fi->idx >= 0)
		snprintf(name, sizeof(name), "%s[%" PRId64 "]", fi->info->name, fi->idx);
	else
		snprintf(name, sizeof(name), "%s.%s", fi->info->name, fi->arg);
	fi->name = strdup(name);
	if (!fi->name)
		return -ENOMEM;
	return argmap_build(fi, why, whylen);
}

/* ---- flag renderings ---------------------------------------------------- */

/* The kernel's own bits: O_SYNC is __O_SYNC | O_DSYNC, O_TMPFILE is __O_TMPFILE | O_DIRECTORY. */
#define KO_SYNC	   04000000ull
#define KO_TMPFILE 020000000ull

struct flagname {
	uint64_t v;
	const char *n;
};

/* clang-format off */
static const struct flagname oflags[] = {
	{O_CREAT, "O_CREAT"}, {O_EXCL, "O_EXCL"}, {O_NOCTTY, "O_NOCTTY"}, {O_TRUNC, "O_TRUNC"},
	{O_APPEND, "O_APPEND"}, {O_NONBLOCK, "O_NONBLOCK"}, {O_DSYNC, "O_DSYNC"},
	{O_DIRECT, "O_DIRECT"}, {O_LARGEFILE, "O_LARGEFILE"}, {O_DIRECTORY, "O_DIRECTORY"},
	{O_NOFOLLOW, "O_NOFOLLOW"}, {O_NOATIME, "O_NOATIME"}, {O_CLOEXEC, "O_CLOEXEC"},
	{KO_SYNC, "O_SYNC"}, {O_PATH, "O_PATH"}, {KO_TMPFILE, "O_TMPFILE"}, {0, NULL}};
static const struct flagname ptrace_reqs[] = {
	{0, "PTRACE_TRACEME"}, {1, "PTRACE_PEEKTEXT"}, {2, "PTRACE_PEEKDATA"}, {3, "PTRACE_PEEKUSR"},
	{4, "PTRACE_POKETEXT"}, {5, "PTRACE_POKEDATA"}, {6, "PTRACE_POKEUSR"}, {7, "PTRACE_CONT"},
	{8, "PTRACE_KILL"}, {9, "PTRACE_SINGLESTEP"}, {12, "PTRACE_GETREGS"}, {13, "PTRACE_SETREGS"},
	{14, "PTRACE_GETFPREGS"}, {15, "PTRACE_SETFPREGS"}, {16, "PTRACE_ATTACH"},
	{17, "PTRACE_DETACH"}, {18, "PTRACE_GETFPXREGS"}, {19, "PTRACE_SETFPXREGS"},
	{24, "PTRACE_SYSCALL"}, {0x4200, "PTRACE_SETOPTIONS"}, {0x4201, "PTRACE_GETEVENTMSG"},
	{0x4202, "PTRACE_GETSIGINFO"}, {0x4203, "PTRACE_SETSIGINFO"}, {0x4204, "PTRACE_GETREGSET"},
	{0x4205, "PTRACE_SETREGSET"}, {0x4206, "PTRACE_SEIZE"}, {0x4207, "PTRACE_INTERRUPT"},
	{0x4208, "PTRACE_LISTEN"}, {0x4209, "PTRACE_PEEKSIGINFO"}, {0, NULL}};
static const struct flagname domains[] = {
	{1, "AF_UNIX"}, {2, "AF_INET"}, {3, "AF_AX25"}, {4, "AF_IPX"}, {5, "AF_APPLETALK"},
	{7, "AF_BRIDGE"}, {9, "AF_X25"}, {10, "AF_INET6"}, {15, "AF_KEY"}, {16, "AF_NETLINK"},
	{17, "AF_PACKET"}, {29, "AF_CAN"}, {31, "AF_BLUETOOTH"}, {38, "AF_ALG"}, {40, "AF_VSOCK"},
	{44, "AF_XDP"}, {0, NULL}};
static const struct flagname socktypes[] = {
	{1, "SOCK_STREAM"}, {2, "SOCK_DGRAM"}, {3, "SOCK_RAW"}, {4, "SOCK_RDM"},
	{5, "SOCK_SEQPACKET"}, {6, "SOCK_DCCP"}, {10, "SOCK_PACKET"}, {0, NULL}};
static const struct flagname cloneflags[] = {
	{0x100, "CLONE_VM"}, {0x200, "CLONE_FS"}, {0x400, "CLONE_FILES"}, {0x800, "CLONE_SIGHAND"},
	{0x1000, "CLONE_PIDFD"}, {0x2000, "CLONE_PTRACE"}, {0x4000, "CLONE_VFORK"},
	{0x8000, "CLONE_PARENT"}, {0x10000, "CLONE_THREAD"}, {0x20000, "CLONE_NEWNS"},
	{0x40000, "CLONE_SYSVSEM"}, {0x80000, "CLONE_SETTLS"}, {0x100000, "CLONE_PARENT_SETTID"},
	{0x200000, "CLONE_CHILD_CLEARTID"}, {0x400000, "CLONE_DETACHED"},
	{0x800000, "CLONE_UNTRACED"}, {0x1000000, "CLONE_CHILD_SETTID"},
	{0x2000000, "CLONE_NEWCGROUP"}, {0x4000000, "CLONE_NEWUTS"}, {0x8000000, "CLONE_NEWIPC"},
	{0x10000000, "CLONE_NEWUSER"}, {0x20000000, "CLONE_NEWPID"}, {0x40000000, "CLONE_NEWNET"},
	{0x80000000ull, "CLONE_IO"}, {0, NULL}};
static const struct flagname nsflags[] = {
	{0x80, "CLONE_NEWTIME"}, {0x200, "CLONE_FS"}, {0x400, "CLONE_FILES"},
	{0x20000, "CLONE_NEWNS"}, {0x40000, "CLONE_SYSVSEM"}, {0x2000000, "CLONE_NEWCGROUP"},
	{0x4000000, "CLONE_NEWUTS"}, {0x8000000, "CLONE_NEWIPC"}, {0x10000000, "CLONE_NEWUSER"},
	{0x20000000, "CLONE_NEWPID"}, {0x40000000, "CLONE_NEWNET"}, {0, NULL}};
static const struct flagname mountflags[] = {
	{1, "MS_RDONLY"}, {2, "MS_NOSUID"}, {4, "MS_NODEV"}, {8, "MS_NOEXEC"},
	{16, "MS_SYNCHRONOUS"}, {32, "MS_REMOUNT"}, {64, "MS_MANDLOCK"}, {128, "MS_DIRSYNC"},
	{1024, "MS_NOATIME"}, {2048, "MS_NODIRATIME"}, {4096, "MS_BIND"}, {8192, "MS_MOVE"},
	{16384, "MS_REC"}, {32768, "MS_SILENT"}, {1 << 16, "MS_POSIXACL"},
	{1 << 17, "MS_UNBINDABLE"}, {1 << 18, "MS_PRIVATE"}, {1 << 19, "MS_SLAVE"},
	{1 << 20, "MS_SHARED"}, {1 << 21, "MS_RELATIME"}, {1 << 22, "MS_KERNMOUNT"},
	{1 << 23, "MS_I_VERSION"}, {1 << 24, "MS_STRICTATIME"}, {1 << 25, "MS_LAZYTIME"},
	{0, NULL}};
static const struct flagname bpfcmds[] = {
	{0, "BPF_MAP_CREATE"}, {1, "BPF_MAP_LOOKUP_ELEM"}, {2, "BPF_MAP_UPDATE_ELEM"},
	{3, "BPF_MAP_DELETE_ELEM"}, {4, "BPF_MAP_GET_NEXT_KEY"}, {5, "BPF_PROG_LOAD"},
	{6, "BPF_OBJ_PIN"}, {7, "BPF_OBJ_GET"}, {8, "BPF_PROG_ATTACH"}, {9, "BPF_PROG_DETACH"},
	{10, "BPF_PROG_TEST_RUN"}, {11, "BPF_PROG_GET_NEXT_ID"}, {12, "BPF_MAP_GET_NEXT_ID"},
	{13, "BPF_PROG_GET_FD_BY_ID"}, {14, "BPF_MAP_GET_FD_BY_ID"},
	{15, "BPF_OBJ_GET_INFO_BY_FD"}, {16, "BPF_PROG_QUERY"}, {17, "BPF_RAW_TRACEPOINT_OPEN"},
	{18, "BPF_BTF_LOAD"}, {19, "BPF_BTF_GET_FD_BY_ID"}, {20, "BPF_TASK_FD_QUERY"},
	{21, "BPF_MAP_LOOKUP_AND_DELETE_ELEM"}, {22, "BPF_MAP_FREEZE"}, {23, "BPF_BTF_GET_NEXT_ID"},
	{28, "BPF_LINK_CREATE"}, {29, "BPF_LINK_UPDATE"}, {0, NULL}};
static const struct flagname prctlopts[] = {
	{1, "PR_SET_PDEATHSIG"}, {2, "PR_GET_PDEATHSIG"}, {3, "PR_GET_DUMPABLE"},
	{4, "PR_SET_DUMPABLE"}, {8, "PR_SET_KEEPCAPS"}, {15, "PR_SET_NAME"}, {16, "PR_GET_NAME"},
	{22, "PR_SET_SECCOMP"}, {23, "PR_CAPBSET_READ"}, {24, "PR_CAPBSET_DROP"},
	{28, "PR_SET_SECUREBITS"}, {36, "PR_SET_CHILD_SUBREAPER"}, {38, "PR_SET_NO_NEW_PRIVS"},
	{39, "PR_GET_NO_NEW_PRIVS"}, {47, "PR_CAP_AMBIENT"}, {0, NULL}};
static const struct flagname mfdflags[] = {
	{1, "MFD_CLOEXEC"}, {2, "MFD_ALLOW_SEALING"}, {4, "MFD_HUGETLB"}, {8, "MFD_NOEXEC_SEAL"},
	{16, "MFD_EXEC"}, {0, NULL}};
static const struct flagname atflags[] = {
	{0x100, "AT_SYMLINK_NOFOLLOW"}, {0x200, "AT_REMOVEDIR"}, {0x400, "AT_SYMLINK_FOLLOW"},
	{0x800, "AT_NO_AUTOMOUNT"}, {0x1000, "AT_EMPTY_PATH"}, {0, NULL}};
/* clang-format on */

static const char *enum_name(const struct flagname *t, uint64_t v)
{
	for (; t->n; t++)
		if (t->v == v)
			return t->n;
	return NULL;
}

/* "A|B|C" of the bits set, the rest as hex; "" for none. */
static int put_flags(char *b, size_t size, const struct flagname *t, uint64_t v, const char *first)
{
	size_t n = 0;

	b[0] = '\0';
	if (first)
		n += (size_t)snprintf(b, size, "%s", first);
	for (; t->n && n < size; t++) {
		if (!t->v || (v & t->v) != t->v)
			continue;
		n += (size_t)snprintf(b + n, size - n, "%s%s", n ? "|" : "", t->n);
		v &= ~t->v;
	}
	if (v && n < size)
		n += (size_t)snprintf(b + n, size - n, "%s0x%" PRIx64, n ? "|" : "", v);
	return (int)(n < size ? n : size - 1);
}

static int render_oflags(char *b, size_t size, uint64_t v)
{
	const char *acc = (v & O_ACCMODE) == O_WRONLY ? "O_WRONLY"
			  : (v & O_ACCMODE) == O_RDWR ? "O_RDWR"
						      : "O_RDONLY";
	uint64_t rest = v & ~(uint64_t)O_ACCMODE;

	/* O_SYNC includes O_DSYNC: name it once. */
	if ((rest & KO_SYNC) && (rest & O_DSYNC))
		rest &= ~(uint64_t)O_DSYNC;
	/* O_TMPFILE includes O_DIRECTORY. */
	if (rest & KO_TMPFILE)
		rest &= ~(uint64_t)O_DIRECTORY;
	return put_flags(b, size, oflags, rest, acc);
}

static const char *errno_name(int64_t e)
{
	return e > 0 && e < 4096 ? strerrorname_np((int)e) : NULL;
}

_Static_assert((int)CF_OPEN == (int)SAKER_SCF_OPEN && (int)CF_CREAT == (int)SAKER_SCF_CREAT &&
		   (int)CF_RETFD == (int)SAKER_SCF_RETFD,
	       "the class flags are the ones fields_class.h names");

unsigned saker_fields_sc_flags(const struct saker_event *ev)
{
	return ev->hdr.type == SAKER_EVT_SYSCALL && ev->hdr.syscall_id < SAKER_SYSCALL_MAX
		   ? class_flags[ev->hdr.syscall_id]
		   : 0;
}

/* ---- evt.arg ------------------------------------------------------------- */

/* proc's argv[0] (S_ARGV0) or the rest of its arguments joined with spaces (S_ARGTAIL). */
static int render_argv(struct saker_fctx *c, const struct aspec *a, struct saker_fval *v)
{
	struct saker_param p;
	size_t l0, n;
	char *b;

	if (saker_event_get(c->ev, SAKER_PN_ARGS, &p) || p.flags & SAKER_PF_UNREADABLE)
		return 0;
	l0 = strnlen((const char *)p.val, p.len);
	if (a->src == S_ARGV0)
		return saker_fval_str(v, (const char *)p.val, l0);
	if (l0 + 1 >= p.len)
		return saker_fval_str(v, "", 0);
	/* the rest, NULs as spaces */
	n = p.len - l0 - 1;
	b = saker_fctx_alloc(c, n + 1);
	if (!b)
		return 0;
	memcpy(b, p.val + l0 + 1, n);
	while (n && b[n - 1] == '\0')
		n--;
	for (size_t i = 0; i < n; i++)
		if (!b[i])
			b[i] = ' ';
	b[n] = '\0';
	return saker_fval_str(v, b, n);
}

/* A string or address argument. */
static int render_text(struct saker_fctx *c, const struct saker_param *p, struct saker_fval *v)
{
	struct saker_sockaddr sa;
	char ip[INET6_ADDRSTRLEN];

	if (p->kind == SAKER_PK_STR || p->kind == SAKER_PK_STRLIST)
		return saker_fval_str(v, (const char *)p->val,
				      strnlen((const char *)p->val, p->len));
	if (p->kind != SAKER_PK_SOCKADDR || saker_sockaddr_decode(p, &sa))
		return 0;
	if (sa.family == AF_INET || sa.family == AF_INET6) {
		if (!inet_ntop(sa.family, sa.addr, ip, sizeof(ip)))
			return 0;
		return saker_fctx_printf(c, v, "%s:%u", ip, sa.port);
	}
	if (sa.family == AF_UNIX)
		return saker_fctx_printf(c, v, "%s%s", sa.abstract ? "@" : "", sa.path);
	return saker_fctx_printf(c, v, "family %u", sa.family);
}

/* A result: the number, with the error's name when it is one. */
static int render_res(struct saker_fctx *c, int64_t r, struct saker_fval *v)
{
	const char *s = r < 0 ? errno_name(-r) : NULL;

	if (s)
		return saker_fctx_printf(c, v, "%" PRId64 "(%s)", r, s);
	return saker_fctx_printf(c, v, "%" PRId64, r);
}

/* A descriptor as Falco shows it: 3(<f>/etc/passwd); a tuple: the socket's addresses. */
static int render_fd(struct saker_fctx *c, const struct aspec *a, uint64_t u, struct saker_fval *v)
{
	const struct saker_fd *f = NULL;
	char buf[512], tc = '?';

	if ((int64_t)u < 0)
		return render_res(c, (int64_t)u, v);
	if (c->view && u <= INT_MAX)
		f = saker_view_fd(c->view, c->ev->hdr.tgid, (int)u);
	if (!f)
		return a->r == R_TUPLE ? 0 : saker_fctx_printf(c, v, "%" PRIu64, u);
	saker_fd_format_name(f, buf, sizeof(buf));
	if (a->r == R_TUPLE)
		return saker_fctx_printf(c, v, "%s", buf);
	(void)saker_fields_fd_type(f, &tc);
	return saker_fctx_printf(c, v, "%" PRIu64 "(<%c>%s)", u, tc, buf);
}

/* Numbers that are names (enums) or sets of flag names. */
static int render_named(struct saker_fctx *c, uint8_t r, uint64_t u, struct saker_fval *v)
{
	static const struct flagname sockflags[] = {
	    {04000, "SOCK_NONBLOCK"}, {02000000, "SOCK_CLOEXEC"}, {0, NULL}};
	const struct flagname *t = NULL;
	char buf[512];
	const char *s;

	switch (r) {
	case R_SOCKTYPE:
		put_flags(buf, sizeof(buf), sockflags, u & ~0xfull, enum_name(socktypes, u & 0xf));
		return saker_fctx_printf(c, v, "%s", buf);
	case R_DOMAIN:
		t = domains;
		break;
	case R_PTRACE:
		t = ptrace_reqs;
		break;
	case R_BPF:
		t = bpfcmds;
		break;
	case R_PRCTL:
		t = prctlopts;
		break;
	case R_CLONE:
	case R_NS:
	case R_MOUNT:
	case R_MFD:
	case R_AT:
		put_flags(buf, sizeof(buf),
			  r == R_CLONE	 ? cloneflags
			  : r == R_NS	 ? nsflags
			  : r == R_MOUNT ? mountflags
			  : r == R_MFD	 ? mfdflags
					 : atflags,
			  u, NULL);
		return saker_fctx_printf(c, v, "%s", buf);
	default:
		return saker_fctx_printf(c, v, "%" PRId64, (int64_t)u);
	}
	s = enum_name(t, u);
	return s ? saker_fctx_printf(c, v, "%s", s) : saker_fctx_printf(c, v, "%" PRIu64, u);
}

/* A numeric argument rendered as Falco renders its kind. */
static int render_num(struct saker_fctx *c, const struct aspec *a, uint64_t u, struct saker_fval *v)
{
	char buf[512];

	switch (a->r) {
	case R_UDEC:
		return saker_fctx_printf(c, v, "%" PRIu64, u);
	case R_HEX:
		return saker_fctx_printf(c, v, "0x%" PRIx64, u);
	case R_OCT:
		return saker_fctx_printf(c, v, "0%" PRIo64, u);
	case R_RES:
		return render_res(c, (int64_t)u, v);
	case R_FD:
	case R_TUPLE:
		return render_fd(c, a, u, v);
	case R_DIRFD:
		if ((int64_t)u == AT_FDCWD)
			return saker_fctx_printf(c, v, "%d(AT_FDCWD)", AT_FDCWD);
		return saker_fctx_printf(c, v, "%" PRId64, (int64_t)u);
	case R_OFLAGS:
		render_oflags(buf, sizeof(buf), u);
		return saker_fctx_printf(c, v, "%s", buf);
	case R_SIG: {
		const char *abbrev = (int64_t)u > 0 && u < 65 ? sigabbrev_np((int)u) : NULL;

		return abbrev ? saker_fctx_printf(c, v, "SIG%s", abbrev)
			      : saker_fctx_printf(c, v, "%" PRId64, (int64_t)u);
	}
	default:
		return render_named(c, a->r, u, v);
	}
}

/* One argument: raw (numbers as numbers, for evt.rawarg) or rendered. */
static int render_arg(struct saker_fctx *c, const struct aspec *a, bool raw, enum saker_ftype type,
		      struct saker_fval *v)
{
	const struct saker_event *ev = c->ev;
	struct saker_param p;
	uint64_t u = 0;
	bool have_num = true;

	switch (a->src) {
	case S_RES:
		u = (uint64_t)ev->hdr.ret;
		break;
	case S_TID:
		u = ev->hdr.tid;
		break;
	case S_PID:
		u = ev->hdr.tgid;
		break;
	case S_ARGV0:
	case S_ARGTAIL:
		return render_argv(c, a, v);
	default:
		if (saker_event_get(ev, a->src, &p) || p.flags & SAKER_PF_UNREADABLE)
			return 0;
		have_num = p.kind == SAKER_PK_U64 || p.kind == SAKER_PK_S64;
		if (have_num && saker_param_u64(&p, &u))
			return 0;
		break;
	}
	if (raw && type == SAKER_FT_S64) {
		if (!have_num)
			return 0;
		v->i = (int64_t)u;
		return 1;
	}
	if (!have_num)
		return render_text(c, &p, v);
	if (raw)
		return saker_fctx_printf(c, v, "%" PRId64, (int64_t)u);
	return render_num(c, a, u, v);
}

int saker_fields_evt_arg(struct saker_fctx *c, const struct saker_finst *fi, struct saker_fval *v)
{
	bool raw = fi->sel != 0;
	unsigned cls = event_class(c->ev);
	const struct aspec *a;

	if (cls >= NCLASSES || !fi->argmap[cls])
		return 0;
	a = class_arg(cls, fi->argmap[cls] - 1u);
	return a ? render_arg(c, a, raw, fi->type, v) : 0;
}

int saker_fields_evt_args(struct saker_fctx *c, const struct saker_finst *fi, struct saker_fval *v)
{
	unsigned cls = event_class(c->ev), n = cls < NCLASSES ? class_nargs(cls) : 0;
	size_t start = c->used, len = 0;
	char *out;

	/* Rendered one by one into the arena, then joined in a fresh stretch of it. */
	struct saker_fval vals[EXEC_NARGS];
	const char *names[EXEC_NARGS];
	unsigned k = 0;

	(void)fi;
	for (unsigned i = 0; i < n && k < EXEC_NARGS; i++) {
		const struct aspec *a = class_arg(cls, i);

		if (render_arg(c, a, false, SAKER_FT_STR, &vals[k])) {
			names[k] = a->name;
			len += strlen(a->name) + 2 + vals[k].s.n;
			k++;
		}
	}
	out = saker_fctx_alloc(c, len + 1);
	if (!out) {
		c->used = start;
		return 0;
	}
	len = 0;
	for (unsigned i = 0; i < k; i++) {
		size_t nl = strlen(names[i]);

		if (i)
			out[len++] = ' ';
		memcpy(out + len, names[i], nl);
		len += nl;
		out[len++] = '=';
		memcpy(out + len, vals[i].s.p, vals[i].s.n);
		len += vals[i].s.n;
	}
	out[len] = '\0';
	return saker_fval_str(v, out, len);
}
