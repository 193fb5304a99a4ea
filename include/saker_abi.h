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
 * Ring lanes. Lane 0 is the normal (bulk) lane. Lane 1 is the protected lane:
 * its own rings, for the syscall table's CRITICAL rows (SAKER_SC_CRITICAL)
 * and the process lifecycle records, so that a flood in lane 0 cannot evict
 * them. The outer ring map is indexed by lane * SAKER_MAX_RINGS_PER_LANE +
 * ring. A process over its lane-1 admission budget (struct
 * saker_lane_budget) has its critical events demoted to lane 0, counted.
 */
enum saker_lane {
	SAKER_LANE_NORMAL = 0,
	SAKER_LANE_CRITICAL = 1,
	SAKER_LANE_MAX = 2,
};
#define SAKER_MAX_RINGS_PER_LANE SAKER_MAX_CPUS
#define SAKER_MAX_RINGS		 (SAKER_LANE_MAX * SAKER_MAX_RINGS_PER_LANE)

/*
 * Falco's drop categories (n_drops_buffer_<cat>_exit), one row each: the
 * enum and the name every output uses. Each selected syscall is tagged with
 * one in the syscall table so a failed reservation is counted where Falco
 * users expect it. OTHER (selected, not of interest) stays first (0).
 */
/* clang-format off */
#define SAKER_CATEGORIES(X)                                                                        \
	X(OTHER, "other") X(CLONE_FORK, "clone_fork") X(EXECVE, "execve") X(CONNECT, "connect")   \
	X(OPEN, "open") X(DIR_FILE, "dir_file") X(OTHER_INTEREST, "other_interest")              \
	X(CLOSE, "close") X(PROC, "proc")
/* clang-format on */
#define SAKER_CAT_ENUM_(id, name) SAKER_CAT_##id,
enum saker_category { SAKER_CATEGORIES(SAKER_CAT_ENUM_) SAKER_CAT_MAX };
#undef SAKER_CAT_ENUM_

/*
 * Syscall table entry (one byte per syscall id, filled by user space in
 * mmap-able global data, so SIGHUP can change the selection without
 * reloading): bit 7 = captured, bit 6 = critical lane (the syscall table's
 * lane column, plus protected_lane.syscalls), bits 0-3 = enum
 * saker_category.
 */
#define SAKER_SC_SELECTED 0x80
#define SAKER_SC_CRITICAL 0x40
#define SAKER_SC_CAT_MASK 0x0f

/*
 * Why an event is lost: one row per cause, the one place a cause is named
 * and said where its count comes from (adding a cause is a row here).
 * X(id, ring, label, field, summary, help, normal, critical)
 *   id       SAKER_LOSS_<id> (drops/loss.h); ring rows (1) come first and are
 *            also the probe's ring-write causes, SAKER_CAUSE_<id> below
 *   label    the cause label of saker_drops_total and the ledger's key
 *   field    the drop alert's field with the cause's count (Falco's name where
 *            it has one), or "" for none
 *   summary  the exit summary's "dropped, <summary>" line, or "" for none
 *   help     what it means (the metric's help)
 *   normal, critical   where its count in lane 0 and lane 1 comes from, as
 *            SAKER_<x>: SRC_RING the ring-write counters (cause x lane x
 *            category; ring rows), SRC_USER user space's own count, SRC_NONE
 *            no such series, or CNT_<name> the kernel counter SAKER_CNT_<name>
 *            (a cause without a category). drops/loss.c reads nothing else.
 */
/* clang-format off */
#define SAKER_LOSS_CAUSES(X)                                                                       \
	X(RING_FULL, 1, "ring_full", "n_drops_buffer_total", "buffer full",                        \
	  "ring reservation failed, Falco's n_drops_buffer_<category>_exit",                       \
	  SRC_RING, SRC_RING)                                                                      \
	X(NO_RING, 1, "no_ring", "", "", "no ring for the lane and CPU", SRC_RING, SRC_RING)       \
	X(MAX_EVENT_SIZE, 0, "max_event_size", "n_drops_max_event_size", "oversized",              \
	  "larger than a ring record", CNT_DROPS_MAX_EVENT_SIZE, SRC_NONE)                         \
	X(SCRATCH_MAP, 0, "scratch_map", "", "", "no per-CPU assembly area free",                  \
	  CNT_DROPS_SCRATCH_MAP, CNT_DROPS_SCRATCH_MAP_CRITICAL)                                   \
	X(USER_SPACE, 0, "user_space", "n_drops_user", "user space",                               \
	  "consumed but lost in user space", SRC_USER, SRC_NONE)
/* clang-format on */
/* The sources of a count that are not a kernel counter (the columns normal, critical). */
#define SAKER_SRC_RING (-1)
#define SAKER_SRC_USER (-2)
#define SAKER_SRC_NONE (-3)

/* Why a record did not reach its ring (the ring-write counters' cause dimension). */
#define SAKER_RING_CAUSE_1(id) SAKER_CAUSE_##id,
#define SAKER_RING_CAUSE_0(id)
#define SAKER_RING_CAUSE_(id, ring, ...) SAKER_RING_CAUSE_##ring(id)
enum saker_drop_cause { SAKER_LOSS_CAUSES(SAKER_RING_CAUSE_) SAKER_CAUSE_MAX };
#undef SAKER_RING_CAUSE_
#undef SAKER_RING_CAUSE_0
#undef SAKER_RING_CAUSE_1
_Static_assert(SAKER_CAUSE_RING_FULL == 0 && SAKER_CAUSE_NO_RING == 1, "ring causes: ABI values");

/*
 * Per-CPU kernel counters. Semantics (user space relies on them):
 *  - EVTS counts every event the probe tried to emit, before reserving, so
 *    EVTS == delivered + every DROPS_* below, once the rings are drained.
 *  - DROPS_RING_* count records that did not reach their ring, one counter
 *    per cause x lane x category (SAKER_CNT_DROP_RING(); every ring write
 *    goes through one function in bpf/lib/ring.h). The ring-full ones of
 *    lane 0 are Falco's n_drops_buffer_<cat>_exit and come first, so
 *    SAKER_CNT_DROPS_BUFFER_FIRST + cat is what it always was.
 *  - DROPS_MAX_EVENT_SIZE counts events larger than a ring record may be.
 *  - DROPS_SCRATCH_MAP counts events lost because no per-CPU assembly or
 *    staging area was free: on kernels where the probe can be preempted,
 *    another task on the same CPU holds it (bpf/lib/guard.h).
 *    DROPS_SCRATCH_MAP_CRITICAL is the same for events bound for lane 1
 *    (so that every lane-1 loss is in a lane-1 counter).
 *  - PAGE_FAULTS counts user-memory reads that failed; the event is still
 *    delivered with the argument marked unreadable, so it is NOT a drop.
 *  - DEMOTED counts critical events sent to lane 0 because their process
 *    (or its uid) was over its lane-1 budget: NOT a drop (the event goes on,
 *    best effort; if lane 0 then loses it, that is a lane-0 drop).
 *  - DROPS_UNATTRIBUTED counts lost events the per-process loss map could
 *    not take (full): their process is unknown. NOT a drop of its own (each
 *    is already in one of the drop counters above).
 */
#define SAKER_CNT_DROP_RING(cause, lane, cat)                                                      \
	(SAKER_CNT_DROPS_RING_FIRST + ((cause)*SAKER_LANE_MAX + (lane)) * SAKER_CAT_MAX + (cat))

enum saker_counter {
	SAKER_CNT_EVTS = 0,
	SAKER_CNT_DROPS_RING_FIRST,
	SAKER_CNT_DROPS_RING_LAST =
	    SAKER_CNT_DROPS_RING_FIRST + SAKER_CAUSE_MAX * SAKER_LANE_MAX * SAKER_CAT_MAX - 1,
	SAKER_CNT_DROPS_MAX_EVENT_SIZE,
	SAKER_CNT_PAGE_FAULTS,
	SAKER_CNT_DROPS_SCRATCH_MAP,
	SAKER_CNT_DROPS_SCRATCH_MAP_CRITICAL,
	SAKER_CNT_DEMOTED,
	SAKER_CNT_DROPS_UNATTRIBUTED,
	/*
	 * Lane-1 buckets made (LRU maps: a bucket made again after an eviction
	 * counts again); user space counts evictions as made - held.
	 */
	SAKER_CNT_LANE_UID_BUCKETS,
	SAKER_CNT_LANE_CGROUP_BUCKETS,
	SAKER_CNT_MAX,
	/* Lane 0, ring full: Falco's n_drops_buffer_<cat>_exit. */
	SAKER_CNT_DROPS_BUFFER_FIRST = SAKER_CNT_DROPS_RING_FIRST,
	SAKER_CNT_DROPS_BUFFER_LAST = SAKER_CNT_DROPS_RING_FIRST + SAKER_CAT_MAX - 1,
};

struct saker_kcounters {
	__u64 c[SAKER_CNT_MAX];
};
_Static_assert(sizeof(struct saker_kcounters) == 8 * SAKER_CNT_MAX, "kcounters layout");

enum saker_evt_type {
	SAKER_EVT_SYSCALL = 1, /* a syscall exit; syscall_id says which */
	SAKER_EVT_PROC_FORK,   /* sched_process_fork: tid/tgid are the CHILD's */
	SAKER_EVT_PROC_EXEC,   /* sched_process_exec: the new image */
	SAKER_EVT_PROC_EXIT,   /* sched_process_exit */
	SAKER_EVT_BATCH,       /* ring only, never passed on: generic records staged on one CPU */
	SAKER_EVT_TYPE_MAX,
};
/* syscall_id of events that are not syscall exits. */
#define SAKER_SYSCALL_NONE 0xffff

/*
 * Header of every ring record. ts_ns is CLOCK_BOOTTIME-based
 * (bpf_ktime_get_boot_ns) so suspend does not reorder events.
 */
struct saker_evt_hdr {
	__u64 ts_ns;
	__u32 tid;
	__u32 tgid;
	__s64 ret;
	__u16 type; /* enum saker_evt_type */
	__u16 syscall_id;
	__u16 len; /* whole record, header and params included */
	__u16 cpu;
};
_Static_assert(sizeof(struct saker_evt_hdr) == 32, "evt header layout");

/*
 * Parameters follow the header back to back, each a 4-byte header then len
 * bytes (no alignment: user space reads them with memcpy). They are
 * self-describing (kind + name), so user space needs no per-syscall table
 * and the probe can add parameters without breaking older decoders.
 */
struct saker_param_hdr {
	__u16 len; /* payload bytes */
	__u8 kind; /* enum saker_param_kind | SAKER_PF_* flags */
	__u8 name; /* enum saker_param_name */
};
_Static_assert(sizeof(struct saker_param_hdr) == 4, "param header layout");

enum saker_param_kind {
	SAKER_PK_U64 = 1,  /* 8 bytes */
	SAKER_PK_S64,	   /* 8 bytes */
	SAKER_PK_STR,	   /* bytes, no NUL */
	SAKER_PK_STRLIST,  /* NUL-separated strings (argv) */
	SAKER_PK_SOCKADDR, /* raw struct sockaddr_* as the process passed it */
	SAKER_PK_MAX,
};
#define SAKER_PK_MASK 0x0f
/* The user memory could not be read (fault): the event is kept, the value is not. */
#define SAKER_PF_UNREADABLE 0x10
/* The value was cut at its bound. */
#define SAKER_PF_TRUNCATED 0x20

enum saker_param_name {
	SAKER_PN_ARG0 = 0, /* generic events: the first raw arguments */
	SAKER_PN_ARG1,
	SAKER_PN_ARG2,
	SAKER_PN_FD,
	SAKER_PN_NEWFD,
	SAKER_PN_DIRFD,
	SAKER_PN_PATH,
	SAKER_PN_NEWDIRFD,
	SAKER_PN_NEWPATH, /* rename/link target, symlink link path */
	SAKER_PN_FLAGS,
	SAKER_PN_MODE,
	SAKER_PN_ADDR,
	SAKER_PN_UID,
	SAKER_PN_GID,
	SAKER_PN_EUID,
	SAKER_PN_EGID,
	SAKER_PN_SUID,
	SAKER_PN_SGID,
	SAKER_PN_PID, /* target pid (kill, ptrace, setns), parent (fork) */
	SAKER_PN_SIG,
	SAKER_PN_REQUEST, /* ptrace request, bpf cmd, prctl option */
	SAKER_PN_SOURCE,
	SAKER_PN_FSTYPE,
	SAKER_PN_NAME,
	SAKER_PN_EXE,
	SAKER_PN_ARGS,
	SAKER_PN_CWD,
	SAKER_PN_COMM,
	SAKER_PN_PPID,
	SAKER_PN_LOGINUID,
	SAKER_PN_TTY,
	SAKER_PN_CGROUP_ID,
	SAKER_PN_DOMAIN,
	SAKER_PN_TYPE,
	SAKER_PN_PROTO,
	SAKER_PN_BACKLOG,
	SAKER_PN_EXIT_CODE,
	SAKER_PN_START_TS, /* process start, boot-time ns */
	/*
	 * open/openat/openat2/creat that succeeded with a relative path: the
	 * path of the file the returned fd holds, walked from the kernel's
	 * struct file (not the cwd joined with PATH in user space).
	 */
	SAKER_PN_PATH_ABS,
	SAKER_PN_FDS,	  /* socketpair: the two fds (int[2] read as one u64, fd 0 low) */
	SAKER_PN_CAP_EFF, /* exec: the new image's effective capabilities (bit n = capability n) */
	/*
	 * exec, and fork when the child is in another cgroup than its parent
	 * (clone3 CLONE_INTO_CGROUP): the last SAKER_CGROUP_NAMES components
	 * of the cgroup that tells the process's container (kernfs names),
	 * innermost first, each NUL-terminated (a STRLIST). The cgroup is the
	 * task's cgroup v2 one, or, when that is the v2 root (v1 and hybrid
	 * hosts), its v1 memory controller's. Absent for a root cgroup.
	 */
	SAKER_PN_CGROUP,
	/* wherever SAKER_PN_CGROUP may be: the cgroup's depth (0 = root) | SAKER_CGROUP_V1 */
	SAKER_PN_CGROUP_LEVEL,
	SAKER_PN_MAX,
};

#define SAKER_CGROUP_NAMES    4		   /* components sent: enough for every runtime's layout */
#define SAKER_CGROUP_NAME_MAX 256	   /* bytes of one, NUL included; longer ones are cut */
#define SAKER_CGROUP_V1	      (1ull << 32) /* SAKER_PN_CGROUP_LEVEL: a v1 hierarchy's cgroup */

/* FLAGS of SAKER_EVT_PROC_EXIT; the process table takes them as they are. */
#define SAKER_EXIT_GROUP_DEAD  1u /* last thread of its process */
#define SAKER_EXIT_GROUP_ALIVE 2u /* other threads remain */

/*
 * Generic syscall records (no parameter row) are staged per CPU and sent as
 * one SAKER_EVT_BATCH ring record (header: ret = number of records, len =
 * whole batch), because a ring reservation per event costs more than the
 * event. Records inside a batch start at 8-byte boundaries. A batch is sent
 * when full, when its first record is SAKER_STAGE_MAX_AGE_NS old, before any
 * other record of the same CPU (order is kept), and on every context switch.
 * At shutdown user space reads what is still staged.
 *
 * Timestamps of generic records reuse the CPU's last clock reading while the
 * jiffy is unchanged (re-read every 8 records): they are at most one tick
 * (4 ms at HZ=250) and 8 records behind, and never go backwards on a CPU.
 * Records with parameters and lifecycle records carry exact timestamps.
 */
#define SAKER_STAGE_BYTES      4096
#define SAKER_STAGE_MAX_AGE_NS 1000000ull

struct saker_stage {
	__u32 len;   /* bytes used in buf, batch header included; 0 = empty */
	__u32 count; /* records staged */
	__u64 first_ts;
	__u32 cat_count[SAKER_CAT_MAX]; /* per category, for loss accounting */
	__u32 pad;
	__u64 clock_ts;	     /* last precise clock reading on this CPU */
	__u64 clock_jiffies; /* jiffies when it was taken */
	__u64 busy;	     /* in-use mark (bpf/lib/guard.h): 0 whenever no program is inside */
	/* Twice the use, so masked writes are provably in bounds. */
	__u8 buf[2 * SAKER_STAGE_BYTES];
};
_Static_assert(sizeof(struct saker_stage) == 80 + 2 * SAKER_STAGE_BYTES, "stage layout");

/* Bounds on what one event may carry. */
#define SAKER_MAX_PATH	   4096
#define SAKER_MAX_ARGS	   4096
#define SAKER_MAX_SOCKADDR 128
/* Largest record; a bigger one is counted in DROPS_MAX_EVENT_SIZE. */
#define SAKER_MAX_EVENT_SIZE 16384
/* Per-CPU scratch: the event being built, then room to build a path backwards. */
#define SAKER_SCRATCH_SIZE (2 * SAKER_MAX_EVENT_SIZE + 2 * SAKER_MAX_PATH)
/*
 * Scratch areas per CPU: a program preempted mid-event keeps one, so a task
 * that runs on its CPU meanwhile takes the next (bpf/lib/guard.h). User space
 * sizes scratch_map to possible CPUs * SAKER_SCRATCH_SLOTS.
 */
#define SAKER_SCRATCH_SLOTS 2

/*
 * Lane-1 admission budget (.bss global lane_budget, set by user space, may
 * change while attached). GCRA token buckets: a process (tgid + start time)
 * may send one event per interval on average and burst_ns / interval
 * events at once; its uid within its container (cgroup, uid) shares an
 * aggregate bucket, so a process that forks many children gains nothing,
 * and its container (cgroup) shares one more, so that root in pod A and
 * root in pod B spend separate budgets and one container cannot spend a
 * whole node's. proc_interval_ns 0 = no budget.
 */
struct saker_lane_budget {
	__u64 proc_interval_ns; /* 1e9 / rate */
	__u64 proc_burst_ns;	/* burst * interval */
	__u64 uid_interval_ns;	/* 0 = no per-(cgroup, uid) bucket */
	__u64 uid_burst_ns;
	__u64 cgroup_interval_ns; /* 0 = no per-cgroup bucket */
	__u64 cgroup_burst_ns;
};
_Static_assert(sizeof(struct saker_lane_budget) == 48, "lane budget layout");

/*
 * A container's key for the lane budgets: the kernfs id of the cgroup that
 * tells the task's container (bpf/lib/cgroup.h: v2, else v1 memory, whose
 * ids carry SAKER_CGROUP_KEY_V1), and a uid within it.
 */
#define SAKER_CGROUP_KEY_V1 (1ull << 63)
struct saker_uid_key {
	__u64 cgroup;
	__u32 uid;
	__u32 pad;
};
_Static_assert(sizeof(struct saker_uid_key) == 16, "uid key layout");

/* A process: its tgid and the boot-time start of its group leader. */
struct saker_proc_key {
	__u32 tgid;
	__u32 pad;
	__u64 start_ns;
};
_Static_assert(sizeof(struct saker_proc_key) == 16, "proc key layout");

/*
 * Loss known at once (bpf/lib/attrib.h, state/view.h): every loss path adds
 * what it lost to its CPU's slot of loss_seq[] (the probe's .bss, mmap-ed,
 * so user space reads it with plain loads, no syscall, as often as every few
 * records). One cache line per CPU: flooding CPUs do not bounce a shared line.
 *
 * Why not a sequence number in every record: numbering in the probe races
 * with preemption (a program preempted between taking its number and
 * reserving ring space commits after a later number: a false gap, or a
 * hole that a late record fills after the consumer gave up on it), records
 * of one CPU go to two lanes drained at different times, and the 32-byte
 * header has no room left. A monotonic count added at the loss site has no
 * such race: only a real loss moves it (no false gap), and it moves in the
 * very program run that lost the event, after the per-CPU counters (so a
 * drop check that reads the counters after seeing it move has counted the
 * loss), before that run ends (no hidden loss).
 */
struct saker_loss_seq {
	__u64 lost;
	__u64 pad[7];
};
_Static_assert(sizeof(struct saker_loss_seq) == 64, "loss_seq layout");

/*
 * Per-process loss, counted on the loss paths only (a PERCPU_HASH map per
 * generation; user space flips loss_gen and reads and deletes the other).
 */
struct saker_proc_loss {
	__u64 lost;    /* events of this process lost (any cause) */
	__u64 demoted; /* critical events sent to lane 0 over budget */
	__u32 uid;     /* of the task that first counted here */
	__u32 pad;
	char comm[16];
};
_Static_assert(sizeof(struct saker_proc_loss) == 40, "proc loss layout");

#define SAKER_PROC_LOSS_ENTRIES 4096 /* processes with losses per drop-check window */
#define SAKER_BUDGET_PROCS	8192 /* LRU: processes with a lane-1 bucket */
#define SAKER_BUDGET_UIDS	1024 /* LRU: (cgroup, uid) pairs with a lane-1 bucket */
#define SAKER_BUDGET_CGROUPS	1024 /* LRU: cgroups (containers) with a lane-1 bucket */

/*
 * Records of the task iterators (bpf/iter.bpf.c), read at start and on a
 * resync from links created before the privilege drop: what /proc shows only
 * to CAP_SYS_PTRACE (another user's exe, cwd and descriptors). Each record is
 * followed by its strings, back to back, without NUL (user space reads them
 * with memcpy); a string's length is 0 when the kernel had none or it could
 * not be resolved (then the record's flags say which).
 */
enum saker_iter_kind {
	SAKER_ITER_TASK = 1, /* struct saker_iter_task, then exe_len + cwd_len bytes */
	SAKER_ITER_FILE = 2, /* struct saker_iter_file, then path_len bytes */
};

#define SAKER_ITER_F_KTHREAD  0x01 /* a kernel thread: no exe, no cwd */
#define SAKER_ITER_F_NO_EXE   0x02 /* no mm or exe_file (exiting, a zombie) */
#define SAKER_ITER_F_NO_CWD   0x04 /* no fs (exiting, a zombie) */
#define SAKER_ITER_F_EXE_BAD  0x08 /* exe could not be resolved (too long, failed) */
#define SAKER_ITER_F_CWD_BAD  0x10 /* cwd could not be resolved */
#define SAKER_ITER_F_PATH_BAD 0x20 /* a file's path could not be resolved */

/* One task (every thread; exe and cwd on the thread-group leader only). */
struct saker_iter_task {
	__u16 kind;    /* SAKER_ITER_TASK */
	__u16 exe_len; /* bytes of exe after the record */
	__u16 cwd_len; /* bytes of cwd after exe */
	__u16 flags;   /* SAKER_ITER_F_* */
	__u32 tid;
	__u32 tgid;
	__u32 ppid; /* the real parent's tgid, as /proc's stat says */
	__u32 uid;
	__u32 gid;
	__u32 euid;
	__u32 egid;
	__u32 pad;
	__u64 start_ns; /* start_boottime: /proc's starttime, in ns */
	char comm[16];
};
_Static_assert(sizeof(struct saker_iter_task) == 64, "iter task layout");

/* One open descriptor of a process (threads sharing the table are visited once). */
struct saker_iter_file {
	__u16 kind;	/* SAKER_ITER_FILE */
	__u16 path_len; /* bytes of the path after the record, as readlink(fd/<n>) gives it */
	__u16 flags;	/* SAKER_ITER_F_PATH_BAD */
	__u16 pad;
	__u32 tgid;
	__u32 fd;
	__u32 f_flags;	/* the open flags, as fdinfo's flags: line (O_CLOEXEC from the fd table) */
	__u32 i_mode;	/* the inode's type and mode bits (S_IFSOCK, S_IFREG, ...) */
	__u64 start_ns; /* the process's start_boottime, to match /proc's */
};
_Static_assert(sizeof(struct saker_iter_file) == 32, "iter file layout");
#define SAKER_ITER_PATH_MAX 4096 /* bpf_d_path's bound, NUL included */

#endif /* SAKER_ABI_H */
