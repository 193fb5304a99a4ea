/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * The one header shared by the BPF programs (bpf/) and user space (src/).
 * Every struct here crosses the kernel/user boundary: fixed-width types only,
 * explicit padding, and a _Static_assert on every size so that a change on one
 * side cannot silently disagree with the other.
 */
#ifndef SAKER_ABI_H
#define SAKER_ABI_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define SAKER_MAX_CPUS 256
/* Syscall ids on x86_64 stay below 512 (ia32 and x32 ids are not captured). */
#define SAKER_SYSCALL_MAX 512

/*
 * Ring lanes. Lane 0 is the normal lane every event uses today. Lane 1 is
 * reserved for a protected lane (exec, connect, privilege changes) that a
 * flood in lane 0 cannot evict; the outer ring map is indexed by
 * lane * SAKER_MAX_RINGS_PER_LANE + ring, so adding it changes no layout.
 */
enum saker_lane {
	SAKER_LANE_NORMAL = 0,
	SAKER_LANE_CRITICAL = 1,
	SAKER_LANE_MAX = 2,
};
#define SAKER_MAX_RINGS_PER_LANE SAKER_MAX_CPUS
#define SAKER_MAX_RINGS (SAKER_LANE_MAX * SAKER_MAX_RINGS_PER_LANE)

/*
 * Falco's drop categories (n_drops_buffer_<cat>_exit). Each selected syscall
 * is tagged with one in the syscall table so a failed reservation is counted
 * where Falco users expect it.
 */
enum saker_category {
	SAKER_CAT_OTHER = 0, /* selected, not of interest: counted as "other" */
	SAKER_CAT_CLONE_FORK,
	SAKER_CAT_EXECVE,
	SAKER_CAT_CONNECT,
	SAKER_CAT_OPEN,
	SAKER_CAT_DIR_FILE,
	SAKER_CAT_OTHER_INTEREST,
	SAKER_CAT_CLOSE,
	SAKER_CAT_PROC,
	SAKER_CAT_MAX,
};

/*
 * Syscall table entry (one byte per syscall id, filled by user space in
 * mmap-able global data, so SIGHUP can change the selection without
 * reloading): bit 7 = captured, bits 0-3 = enum saker_category.
 */
#define SAKER_SC_SELECTED 0x80
#define SAKER_SC_CAT_MASK 0x0f

/*
 * Per-CPU kernel counters. Semantics (user space relies on them):
 *  - EVTS counts every event the probe tried to emit, before reserving, so
 *    EVTS == delivered + every DROPS_* below, once the rings are drained.
 *  - DROPS_BUFFER_<cat> counts failed ring reservations (ring full) by
 *    category; their sum is n_drops_buffer_total.
 *  - DROPS_MAX_EVENT_SIZE counts events larger than a ring record may be.
 *  - PAGE_FAULTS counts user-memory reads that failed; the event is still
 *    delivered with the argument marked unreadable, so it is NOT a drop.
 */
enum saker_counter {
	SAKER_CNT_EVTS = 0,
	SAKER_CNT_DROPS_BUFFER_FIRST,
	SAKER_CNT_DROPS_BUFFER_LAST = SAKER_CNT_DROPS_BUFFER_FIRST + SAKER_CAT_MAX - 1,
	SAKER_CNT_DROPS_MAX_EVENT_SIZE,
	SAKER_CNT_PAGE_FAULTS,
	SAKER_CNT_MAX,
};

struct saker_kcounters {
	__u64 c[SAKER_CNT_MAX];
};
_Static_assert(sizeof(struct saker_kcounters) == 8 * SAKER_CNT_MAX, "kcounters layout");

enum saker_evt_type {
	SAKER_EVT_SYSCALL = 1, /* generic syscall exit */
	SAKER_EVT_TYPE_MAX,
};

/*
 * Header of every ring record. ts_ns is CLOCK_BOOTTIME-based
 * (bpf_ktime_get_boot_ns family) so suspend does not reorder events.
 */
struct saker_evt_hdr {
	__u64 ts_ns;
	__u32 tid;
	__u32 tgid;
	__s64 ret;
	__u16 type;	 /* enum saker_evt_type */
	__u16 syscall_id;
	__u16 len;	 /* whole record, header included */
	__u16 cpu;
};
_Static_assert(sizeof(struct saker_evt_hdr) == 32, "evt header layout");

/* Largest record the probe emits; bigger ones count as DROPS_MAX_EVENT_SIZE. */
#define SAKER_MAX_EVENT_SIZE 8192

#endif /* SAKER_ABI_H */
