/* SPDX-License-Identifier: GPL-2.0 */
/*
 * In-use marks on the per-CPU areas (scratch slots, staging areas).
 *
 * Why: the areas are indexed by CPU on the assumption that nothing else
 * touches a CPU's area while a program writes it. BPF programs run with
 * migration disabled (or preemption disabled), never migrated mid-run, but
 * on kernels where syscall tracepoints are preemptible (faultable syscall
 * tracepoints since 6.13, with full or lazy preemption) a program can be
 * preempted mid-event; another task then runs on the same CPU and its
 * programs find the same area (falcosecurity/libs#2719: Falco's auxmap,
 * corrupted events, crashes on 7.0). The kernel's per-program recursion
 * check (if present) only keeps the same program from running twice on a
 * CPU; the sched_process_* programs and the sched_switch flush still
 * interleave with a preempted sys_exit.
 *
 * How: an area is taken with an atomic exchange of its mark (one
 * instruction on the CPU, so a preemption falls before or after it, never
 * inside) and released by a plain store once the program is done with it. A
 * program that finds the mark set does not wait (the holder cannot run until
 * we are done): it takes another slot, or counts its event in
 * n_drops_scratch_map (already counted in n_evts, so seen = delivered +
 * dropped stays exact). The exchange is 64-bit: the default BPF target has
 * no 32-bit xchg.
 */
#ifndef SAKER_BPF_GUARD_H
#define SAKER_BPF_GUARD_H

static __always_inline bool area_take(__u64 *busy)
{
	return __sync_lock_test_and_set(busy, 1) == 0;
}

static __always_inline void area_release(__u64 *busy)
{
	/* Every write to the area is done before the mark drops. */
	asm volatile("" ::: "memory");
	*(volatile __u64 *)busy = 0;
}

#endif
