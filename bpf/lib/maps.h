/* SPDX-License-Identifier: GPL-2.0 */
/* The probe's maps and the globals user space sets. */
#ifndef SAKER_BPF_MAPS_H
#define SAKER_BPF_MAPS_H

/* Set by user space before load. */
const volatile __u32 self_tgid = 0;
/* Ring of each CPU within a lane (cpus_for_each_buffer grouping). */
const volatile __u32 cpu_ring[SAKER_MAX_CPUS] = {};
/* Wake the consumer only once a ring holds this many bytes (see submit_flags), per lane. */
const volatile __u64 wakeup_bytes[SAKER_LANE_MAX] = {};

/*
 * One byte per syscall id (SAKER_SC_SELECTED | category). Lives in mmap-able
 * global data so user space can change the selection while attached.
 */
__u8 sc_table[SAKER_SYSCALL_MAX] = {};

/* Lane-1 admission budget (lane.h); user space may change it while attached. */
struct saker_lane_budget lane_budget = {};
/*
 * The generation the probe counts into: counters[loss_gen] and
 * proc_loss<loss_gen> (attrib.h), read once per program run
 * (counters_get). User space flips it once per drop check, waits for the
 * runs that read the old value (drain), then reads the old generation's
 * counters and per-process map together.
 */
__u32 loss_gen = 0;
/* Events lost on each CPU, ever (struct saker_loss_seq): user space polls it. */
struct saker_loss_seq loss_seq[SAKER_MAX_CPUS] = {};

/* One set of counters per generation (loss_gen); each only grows. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct saker_kcounters);
} counters SEC(".maps");

/*
 * No program uses these. An update of a map-of-maps returns only after
 * every non-sleepable BPF program that was running has finished (the
 * kernel's maybe_wait_bpf_programs(): synchronize_rcu(), which waits for
 * preempted readers too): user space writes drain[0] after flipping
 * loss_gen, so no run still holds the old generation when it reads it.
 */
struct drain_inner {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
};
struct drain_inner drain_token SEC(".maps");
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct drain_inner);
} drain SEC(".maps") = {
    .values = {[0] = &drain_token},
};

struct scratch {
	__u8 b[SAKER_SCRATCH_SIZE];
	__u64 busy; /* in-use mark (guard.h) */
	/*
	 * The event's write offset (event.h). Kept here, in map memory, and not
	 * on the stack: a value read back from a map is unknown to the verifier,
	 * so the states after one parameter no longer differ by the exact offset
	 * each earlier branch left, and they prune. On the stack, the offsets of
	 * every combination of parameter kinds were verified apart (about 1.7 s
	 * of CPU at each start). Every use masks it, so safety needs no range.
	 */
	__u32 off;
	__u32 pad;
};

/*
 * Where variable-size events are assembled before one copy into the ring.
 * SAKER_SCRATCH_SLOTS slots per CPU, slot k of CPU c at c * SLOTS + k (a
 * PERCPU_ARRAY value cannot exceed 32 KiB). User space sizes it to the
 * number of possible CPUs times the slots.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} scratch_map SEC(".maps");

/* Per-CPU staging of generic records (see struct saker_stage); indexed by CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct saker_stage);
} stage_map SEC(".maps");

/*
 * Lane-1 buckets (lane.h): the GCRA "theoretical arrival time" of each
 * process, (cgroup, uid) pair and cgroup. LRU: an evicted bucket comes back full, which is why the
 * per-uid bucket exists (a fork-many attacker cannot refill by eviction).
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SAKER_BUDGET_PROCS);
	__type(key, struct saker_proc_key);
	__type(value, __u64);
} proc_buckets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SAKER_BUDGET_UIDS);
	__type(key, struct saker_uid_key);
	__type(value, __u64);
} uid_buckets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SAKER_BUDGET_CGROUPS);
	__type(key, __u64);
	__type(value, __u64);
} cgroup_buckets SEC(".maps");

/*
 * Per-process loss, one map per loss_gen (attrib.h). A plain hash, not an
 * LRU: an LRU would evict silently and its counts would vanish; a full map
 * refuses the insert and the loss is counted as unattributed instead.
 */
struct proc_loss_map {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, SAKER_PROC_LOSS_ENTRIES);
	__type(key, struct saker_proc_key);
	__type(value, struct saker_proc_loss);
};
struct proc_loss_map proc_loss0 SEC(".maps");
struct proc_loss_map proc_loss1 SEC(".maps");

/* Inner map template; user space installs its own rings (see capture.c). */
struct ring_map {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, SAKER_MAX_RINGS);
	__type(key, __u32);
	__array(values, struct ring_map);
} rings SEC(".maps");

#endif
