/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * The one syscall table, shared by the probe (bpf/) and user space (src/).
 * The rows are in saker_syscalls.def (an X-macro, one row per syscall saker
 * knows); this header gives the columns their types and the one initializer
 * both sides compile a row into, so the probe's parameter table and user
 * space's view of it cannot disagree (tests/unit/test_sctable.c reads the
 * compiled BPF object to check it).
 *
 * A row: SC(name, category, lane, view_op, selection, flags, falco, params...)
 *   name       the x86_64 syscall; its number is __NR_<name> (asm/unistd_64.h)
 *   category   Falco's drop category, enum saker_category without SAKER_CAT_
 *   lane       NORMAL or CRITICAL (enum saker_lane): CRITICAL rows are what the
 *              protected lane must never lose (exec, connect, privilege, ...)
 *   view_op    what the syscall does to the process/fd view (SAKER_VOP_*)
 *   selection  DEFAULT (in the default base_syscalls set) or OPTIONAL
 *   flags      0 or SAKER_SCF_* below (a C expression)
 *   falco      Falco's arguments (evt.arg.<name>, evt.args), in Falco's order:
 *              FA(ret, args...), ret = RET_ERR ("res", 0 or -errno), RET_FD
 *              ("fd", a new descriptor) or RET(name, format); each arg
 *              A(name, param, format) shows parameter SAKER_PN_<param>;
 *              format is how Falco renders it (src/rules/fields.c, R_<format>)
 *   params     P(name, how, reg) / PX(name, how, reg, extra), x86_64 order,
 *              at most SAKER_SC_MAX_PARAMS; none = a record with no parameter
 */
#ifndef SAKER_SYSCALL_TABLE_H
#define SAKER_SYSCALL_TABLE_H

#include "saker_abi.h"

/* How the probe reads a parameter at syscall exit. */
enum saker_sc_how {
	SAKER_H_NONE = 0,   /* end of the parameter list */
	SAKER_H_U64,	    /* register value */
	SAKER_H_S32,	    /* register as a signed int (fds, pids, ids) */
	SAKER_H_USTR,	    /* user string at register */
	SAKER_H_USTR_FAIL,  /* user string, only if the syscall failed (execve: gone on success) */
	SAKER_H_SOCKADDR,   /* user sockaddr at register, length in register extra */
	SAKER_H_SOCKADDR_P, /* user sockaddr at register, length at user int * in register extra */
	SAKER_H_U64_AT,	    /* u64 at user pointer in register, + 8 * extra */
	SAKER_H_MAX,
};

/*
 * What a syscall exit does to the view (src/state/view.c). FORK, EXEC and
 * EXIT name the lifecycle a syscall starts; the view applies those from the
 * sched_process_* records, not from the syscall exit.
 */
enum saker_view_op {
	SAKER_VOP_NONE = 0,
	SAKER_VOP_OPEN,
	SAKER_VOP_CREAT,
	SAKER_VOP_CONNECT,
	SAKER_VOP_BIND,
	SAKER_VOP_LISTEN,
	SAKER_VOP_ACCEPT,
	SAKER_VOP_CLOSE,
	SAKER_VOP_DUP,
	SAKER_VOP_DUP3,
	SAKER_VOP_CHDIR,
	SAKER_VOP_FCHDIR,
	SAKER_VOP_SETUID,
	SAKER_VOP_SETREUID,
	SAKER_VOP_SETRESUID,
	SAKER_VOP_SETGID,
	SAKER_VOP_SETREGID,
	SAKER_VOP_SETRESGID,
	SAKER_VOP_FORK,
	SAKER_VOP_EXEC,
	SAKER_VOP_EXIT,
	SAKER_VOP_SOCKET,     /* ret = a new socket: its family, type and protocol (fd.l4proto) */
	SAKER_VOP_SOCKETPAIR, /* FDS = two connected unix sockets */
	SAKER_VOP_CAPSET,     /* the thread's capabilities changed to what saker cannot read */
	SAKER_VOP_MAX,
};

/* Row flags (struct saker_sc_spec.flags). */
#define SAKER_SCF_KNOWN	       0x01 /* set on every row: a zero spec is a syscall saker does not know */
#define SAKER_SCF_GENERIC      0x02 /* no parameter record: the staged generic record (ARG0..2) */
#define SAKER_SCF_PATH_IS_LINK 0x04 /* PATH is a link's content, not a file to resolve */
#define SAKER_SCF_DEFAULT      0x08 /* in the default selection */

#define SAKER_SCF_SEL_DEFAULT  SAKER_SCF_DEFAULT
#define SAKER_SCF_SEL_OPTIONAL 0

#define SAKER_SC_MAX_PARAMS 5

struct saker_sc_param {
	__u8 name;  /* enum saker_param_name */
	__u8 how;   /* enum saker_sc_how */
	__u8 arg;   /* argument register, 0-5 */
	__u8 extra; /* second register (lengths) or index (H_U64_AT) */
};
_Static_assert(sizeof(struct saker_sc_param) == 4, "sc param layout");

/* One row as the probe compiles it in (.rodata global saker_specs, by syscall id). */
struct saker_sc_spec {
	__u8 flags; /* SAKER_SCF_* */
	__u8 cat;   /* enum saker_category */
	__u8 lane;  /* enum saker_lane */
	__u8 op;    /* enum saker_view_op */
	struct saker_sc_param p[SAKER_SC_MAX_PARAMS];
};
_Static_assert(sizeof(struct saker_sc_spec) == 4 + 4 * SAKER_SC_MAX_PARAMS, "sc spec layout");

/* The one initializer of a row; both the probe and src/lib/sctable.c use it. */
#define SAKER_SC_SPEC_INIT(cat_, lane_, op_, sel_, flags_, ...)                                    \
	{                                                                                          \
		.flags = SAKER_SCF_KNOWN | SAKER_SCF_SEL_##sel_ | (flags_),                        \
		.cat = SAKER_CAT_##cat_, .lane = SAKER_LANE_##lane_, .op = SAKER_VOP_##op_,        \
		.p = {__VA_ARGS__},                                                                \
	}

#endif /* SAKER_SYSCALL_TABLE_H */
