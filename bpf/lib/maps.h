/* SPDX-License-Identifier: GPL-2.0 */
/* The probe's maps and the globals user space sets. */
#ifndef SAKER_BPF_MAPS_H
#define SAKER_BPF_MAPS_H

/* Set by user space before load. */
const volatile __u32 self_tgid = 0;
/* Ring of each CPU within a lane (cpus_for_each_buffer grouping). */
const volatile __u32 cpu_ring[SAKER_MAX_CPUS] = {};
/* Wake the consumer only once a ring holds this many bytes (see submit_flags). */
const volatile __u64 wakeup_bytes = 0;

/*
 * One byte per syscall id (SAKER_SC_SELECTED | category). Lives in mmap-able
 * global data so user space can change the selection while attached.
 */
__u8 sc_table[SAKER_SYSCALL_MAX] = {};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct saker_kcounters);
} counters SEC(".maps");

struct scratch {
	__u8 b[SAKER_SCRATCH_SIZE];
	__u64 busy; /* in-use mark (guard.h) */
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
