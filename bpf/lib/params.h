/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Syscall parameters, read at exit from the saved user registers as the one
 * syscall table (include/saker_syscalls.def) says. The table is compiled in
 * as a .rodata global, so user space (and tests/unit/test_sctable.c) can read
 * what this object carries from the skeleton.
 */
#ifndef SAKER_BPF_PARAMS_H
#define SAKER_BPF_PARAMS_H

#include "event.h"

/* clang-format off */
const struct saker_sc_spec saker_specs[SAKER_SYSCALL_MAX] = {
#define SC(nm, cat, lane, op, sel, flags, fa, ...)                                                 \
	[__NR_##nm] = SAKER_SC_SPEC_INIT(cat, lane, op, sel, flags, __VA_ARGS__),
#include "saker_syscalls.def"
};
/* clang-format on */

/* Eight slots so that an index can be masked (& 7) for the verifier. */
struct sc_args {
	__u64 a[8];
};

static __always_inline void read_args(struct pt_regs *regs, struct sc_args *args)
{
	args->a[0] = regs->di;
	args->a[1] = regs->si;
	args->a[2] = regs->dx;
	args->a[3] = regs->r10;
	args->a[4] = regs->r8;
	args->a[5] = regs->r9;
	args->a[6] = 0;
	args->a[7] = 0;
}

static __always_inline void push_spec(struct ev *x, const struct saker_sc_param *ps,
				      const struct sc_args *args, long ret)
{
	__u64 v = args->a[ps->arg & 7];
	__u64 extra = args->a[ps->extra & 7];
	int n;

	switch (ps->how) {
	case SAKER_H_U64:
		push_u64(x, ps->name, SAKER_PK_U64, v);
		break;
	case SAKER_H_S32:
		push_u64(x, ps->name, SAKER_PK_S64, (__u64)(__s64)(int)v);
		break;
	case SAKER_H_USTR_FAIL:
		if (ret >= 0)
			break;
		/* fall through */
	case SAKER_H_USTR:
		push_str(x, ps->name, (const void *)v, true);
		break;
	case SAKER_H_SOCKADDR:
		push_user_bytes(x, ps->name, SAKER_PK_SOCKADDR, (const void *)v, (__u32)extra,
				SAKER_MAX_SOCKADDR);
		break;
	case SAKER_H_SOCKADDR_P:
		if (ret < 0 || !v)
			break;
		if (bpf_probe_read_user(&n, sizeof(n), (const void *)extra))
			n = 0;
		push_user_bytes(x, ps->name, SAKER_PK_SOCKADDR, (const void *)v, (__u32)n,
				SAKER_MAX_SOCKADDR);
		break;
	case SAKER_H_U64_AT:
		if (!v ||
		    bpf_probe_read_user(&extra, sizeof(extra), (const void *)(v + 8 * ps->extra))) {
			push_user_bytes(x, ps->name, SAKER_PK_U64, NULL, 0, 0);
			if (v)
				count(x->c, SAKER_CNT_PAGE_FAULTS);
			break;
		}
		push_u64(x, ps->name, SAKER_PK_U64, extra);
		break;
	default:
		break;
	}
}

static __always_inline long syscall_id(struct pt_regs *regs)
{
#if defined(__TARGET_ARCH_x86)
	return regs->orig_ax;
#else
#error "saker: only x86_64 syscall numbering is supported"
#endif
}

#endif
