/* SPDX-License-Identifier: GPL-2.0 */
/* Event assembly in a per-CPU scratch slot, then one copy into the ring. */
#ifndef SAKER_BPF_EVENT_H
#define SAKER_BPF_EVENT_H

#include "maps.h"
#include "counters.h"
#include "guard.h"
#include "ring.h"
#include "stage.h"
#include "attrib.h"

#define EV_MASK	  (SAKER_MAX_EVENT_SIZE - 1)
#define PATH_MASK (SAKER_MAX_PATH - 1)

struct ev {
	__u8 *buf;
	struct scratch *slot; /* held (guard.h) from ev_begin to ev_submit */
	__u32 overflow;
	struct saker_kcounters *c;
	__u32 gen;  /* c's generation (counters_get) */
	__u64 seq;  /* this CPU's n_evts before this event */
	__u64 ts;   /* the event's clock reading (also the lane budget's) */
	__u32 tgid; /* of the current task (a fork record's header names the child) */
};

/* The write offset, in the slot (see struct scratch); volatile so clang keeps no copy. */
static __always_inline __u32 ev_off(const struct ev *x)
{
	return *(volatile __u32 *)&x->slot->off;
}

static __always_inline void ev_set_off(struct ev *x, __u32 off)
{
	*(volatile __u32 *)&x->slot->off = off;
}

/*
 * Every write starts at an offset masked below SAKER_MAX_EVENT_SIZE and is at
 * most SAKER_MAX_PATH + 4 long; the scratch is twice the event size, so the
 * verifier can prove each access in bounds. An event that grows past the
 * limit is flagged and later counted as an oversized drop.
 */
static __always_inline bool ev_room(struct ev *x)
{
	if (ev_off(x) >= SAKER_MAX_EVENT_SIZE) {
		x->overflow = 1;
		return false;
	}
	return true;
}

static __always_inline void put_hdr(struct ev *x, __u32 off, __u16 len, __u8 kind, __u8 name)
{
	struct saker_param_hdr *p = (void *)(x->buf + (off & EV_MASK));

	p->len = len;
	p->kind = kind;
	p->name = name;
}

static __always_inline void push_u64(struct ev *x, __u8 name, __u8 kind, __u64 v)
{
	__u32 off;

	if (!ev_room(x))
		return;
	off = ev_off(x) & EV_MASK;
	put_hdr(x, off, 8, kind, name);
	*(__u64 *)(x->buf + ((off + 4) & (2 * SAKER_MAX_EVENT_SIZE - 1))) = v;
	ev_set_off(x, off + 12);
}

static __always_inline void push_str(struct ev *x, __u8 name, const void *ptr, bool user)
{
	__u8 kind = SAKER_PK_STR;
	__u32 off, len = 0;
	long n;

	if (!ev_room(x))
		return;
	off = ev_off(x) & EV_MASK;
	if (user)
		n = bpf_probe_read_user_str(x->buf + off + 4, SAKER_MAX_PATH, ptr);
	else
		n = bpf_probe_read_kernel_str(x->buf + off + 4, SAKER_MAX_PATH, ptr);
	if (n <= 0) {
		kind |= SAKER_PF_UNREADABLE;
		/* A NULL pointer is the caller's choice, not a lost read. */
		if (user && ptr)
			count(x->c, SAKER_CNT_PAGE_FAULTS);
	} else {
		len = (__u32)(n - 1) & PATH_MASK;
		if (n >= SAKER_MAX_PATH)
			kind |= SAKER_PF_TRUNCATED;
	}
	put_hdr(x, off, (__u16)len, kind, name);
	ev_set_off(x, off + 4 + len);
}

static __always_inline void push_user_bytes(struct ev *x, __u8 name, __u8 kind, const void *ptr,
					    __u32 len, __u32 max)
{
	__u32 off;

	if (!ev_room(x))
		return;
	off = ev_off(x) & EV_MASK;
	if (len > max) {
		len = max;
		kind |= SAKER_PF_TRUNCATED;
	}
	/* The mask below would wrap a full SAKER_MAX_ARGS read to nothing. */
	if (len > PATH_MASK) {
		len = PATH_MASK;
		kind |= SAKER_PF_TRUNCATED;
	}
	/* Re-mask in asm: clang otherwise reuses an unbounded copy of len. */
	asm volatile("%[len] &= %[mask]" : [len] "+r"(len) : [mask] "i"(PATH_MASK));
	if (!ptr || !len || bpf_probe_read_user(x->buf + off + 4, len, ptr)) {
		if (ptr && len)
			count(x->c, SAKER_CNT_PAGE_FAULTS);
		kind |= SAKER_PF_UNREADABLE;
		len = 0;
	}
	put_hdr(x, off, (__u16)len, kind, name);
	ev_set_off(x, off + 4 + len);
}

/*
 * Takes a free scratch slot of this CPU (guard.h): the first one, or the next
 * if a preempted program holds it. NULL when every slot is held.
 */
static __always_inline struct scratch *scratch_take(__u32 cpu)
{
	for (__u32 i = 0; i < SAKER_SCRATCH_SLOTS; i++) {
		__u32 key = cpu * SAKER_SCRATCH_SLOTS + i;
		struct scratch *s = bpf_map_lookup_elem(&scratch_map, &key);

		if (!s)
			return NULL;
		if (area_take(&s->busy))
			return s;
	}
	return NULL;
}

/*
 * Starts an event in a scratch slot. NULL when no slot is free: the caller
 * counts the event (already seen) in n_drops_scratch_map. pid_tgid comes from
 * the caller, which needed it for the self filter already.
 */
static __always_inline struct saker_evt_hdr *ev_begin(struct ev *x, struct saker_kcounters *c,
						      __u32 gen, __u64 pid_tgid, __u16 type,
						      __u16 syscall_id, __s64 ret)
{
	__u32 cpu = bpf_get_smp_processor_id();
	struct saker_evt_hdr *h;
	struct scratch *s = scratch_take(cpu);

	if (!s)
		return NULL;
	x->slot = s;
	x->buf = s->b;
	ev_set_off(x, sizeof(*h));
	x->overflow = 0;
	x->c = c;
	x->gen = gen;
	h = (void *)x->buf;
	h->ts_ns = x->ts = bpf_ktime_get_boot_ns();
	x->tgid = (__u32)(pid_tgid >> 32);
	h->tid = (__u32)pid_tgid;
	h->tgid = (__u32)(pid_tgid >> 32);
	h->ret = ret;
	h->type = type;
	h->syscall_id = syscall_id;
	h->cpu = (__u16)cpu;
	return h;
}

/*
 * Copies the assembled event into the ring (counting the loss if it cannot)
 * and releases its scratch slot. Every ev_begin that succeeded ends here.
 */
static __always_inline void ev_submit(struct ev *x, __u32 lane, int cat)
{
	struct saker_evt_hdr *h = (void *)x->buf;
	__u32 len = ev_off(x);

	if (x->overflow || len > SAKER_MAX_EVENT_SIZE) {
		count(x->c, SAKER_CNT_DROPS_MAX_EVENT_SIZE);
		attrib_add(x->c, x->gen, h->tgid, 1, 0);
	} else {
		h->len = (__u16)len;
		stage_flush_cpu(x->c, x->gen, h->cpu, h->ts_ns);
		ring_write(x->c, x->gen, lane, h->cpu, x->buf, len & (2 * SAKER_MAX_EVENT_SIZE - 1),
			   x->seq, cat, NULL);
	}
	area_release(&x->slot->busy);
}

#endif
