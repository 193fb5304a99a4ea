/*
 * Capture engine: loads the embedded BPF skeleton, creates the ring buffers
 * (one per group of cpus_for_each_buffer CPUs in each lane: lane 0 bulk,
 * lane 1 protected), attaches, and hands every record to a callback. Stats
 * sum the per-CPU kernel counters and add what user space delivered.
 */
#ifndef SAKER_CAPTURE_H
#define SAKER_CAPTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "saker_abi.h"
#include "capture/stats.h"
#include "lib/report.h"

struct saker_capture;

/*
 * Called for every well-formed record; len >= sizeof(struct saker_evt_hdr).
 * Returns 0 when the record was taken, or a negative errno when the consumer
 * rejected it (its decoder found it malformed): the record is then counted
 * as lost in user space, not delivered, so seen == delivered + dropped holds.
 */
typedef int (*saker_event_fn)(void *ctx, const struct saker_evt_hdr *evt, size_t len);

/* Lane-1 ring size when the options leave it 0 (protected_lane.buf_size's default). */
#define SAKER_CAPTURE_CRITICAL_BYTES (256u * 1024)

struct saker_capture_opts {
	uint64_t ring_bytes;	      /* power of two, >= page size */
	uint64_t critical_ring_bytes; /* lane 1; 0 = SAKER_CAPTURE_CRITICAL_BYTES */
	/* Lane-1 admission: events per second and burst per process, and per uid (0 = none). */
	uint64_t lane_rate, lane_burst, lane_uid_rate, lane_uid_burst;
	uint64_t lane_cgroup_rate, lane_cgroup_burst; /* 0 rate = no per-cgroup bucket */
	unsigned cpus_for_each_buffer;		      /* 0 = one ring for all CPUs */
	const uint8_t *sc_table;		      /* SAKER_SYSCALL_MAX entries */
	pid_t self_tgid;			      /* never captured */
	saker_event_fn on_event;
	void *ctx;
	/*
	 * What libbpf says (warnings, info; its debug lines at debug), a line
	 * each, until close. NULL: nothing.
	 */
	saker_report_fn report;
	void *report_ctx;
};

/* Opens, loads and attaches. On failure writes a one-line reason into err. */
int saker_capture_open(struct saker_capture **out, const struct saker_capture_opts *opts, char *err,
		       size_t errlen);
/* Detaches everything and frees. NULL ok. */
void saker_capture_close(struct saker_capture *cap);

/* Rings of both lanes: 0 .. n/2-1 are lane 0 (bulk), n/2 .. n-1 lane 1 (protected). */
unsigned saker_capture_nr_rings(const struct saker_capture *cap);
/* Epoll fd of ring i (readable when the probe forced a wake-up). */
int saker_capture_ring_fd(const struct saker_capture *cap, unsigned ring);
/*
 * Lane 1 first and until empty, then about budget events from each bulk ring
 * and at most ~50 ms of bulk work per call (budget 0 = until empty, no time
 * bound; a batch is taken whole and counts the events it
 * carries), in slices with lane 1 drained again before each. Bounded so a
 * flood cannot starve the event loop's timers; what the budget leaves in a
 * bulk ring is shed by the probe if the ring fills (counted). Returns events
 * consumed or a negative errno.
 */
long saker_capture_drain(struct saker_capture *cap, unsigned long budget);
/*
 * The bulk lane's watermark (boot ns, monotonic): every bulk ring has been
 * drained past it (a record newer delivered, or the ring found empty later),
 * less a slack for records written out of time order. Lane-1 records go
 * ahead of the bulk lane by up to the hold time; what they replace in the
 * view is kept until this passes them (state/view.h).
 */
uint64_t saker_capture_bulk_watermark(struct saker_capture *cap);
/*
 * Events the probe lost so far, all causes (struct saker_loss_seq): a change
 * between two polls means a loss in between. No syscall.
 */
uint64_t saker_capture_loss_seq(const struct saker_capture *cap);

/* CLOCK_MONOTONIC ns of the last drain that read every ring without error (0: none yet). */
uint64_t saker_capture_last_drain_ns(const struct saker_capture *cap);
/*
 * CLOCK_MONOTONIC ns at the start of the last drain that left every ring
 * empty (0: none yet): every record committed before it has been handed on
 * (the capture canary's proof that a missing record is not merely queued).
 */
uint64_t saker_capture_caught_up_ns(const struct saker_capture *cap);

/*
 * The lane-1 budget as the probe keeps it (struct saker_lane_budget), from
 * rates in events per second (rate 0 = no budget, uid_rate 0 = no per-uid
 * bucket) and bursts in events.
 */
void saker_lane_budget_from_rate(struct saker_lane_budget *b, uint64_t rate, uint64_t burst,
				 uint64_t uid_rate, uint64_t uid_burst, uint64_t cgroup_rate,
				 uint64_t cgroup_burst);
/* Changes the lane-1 budget while attached (SIGHUP); arguments as above. */
void saker_capture_set_lane_budget(struct saker_capture *cap, uint64_t rate, uint64_t burst,
				   uint64_t uid_rate, uint64_t uid_burst, uint64_t cgroup_rate,
				   uint64_t cgroup_burst);

/*
 * Per-process loss, exactly as the probe counted it on its loss paths
 * (bpf/lib/attrib.h), in windows, with the counters of the same window: the
 * probe counts events, losses and per-process losses in one generation per
 * program run (loss_gen). saker_capture_cut_proc_losses() closes the current
 * window: it switches the generation, waits until no program run still
 * holds the old one (bpf/lib/maps.h, a synchronize_rcu of ~10 ms), and
 * returns it. saker_capture_read_proc_losses() then calls cb once per
 * process with events lost (any cause) or demoted from lane 1 in that
 * window, and empties it; saker_capture_cut_stats() reads that generation's
 * counters. Nothing writes the old generation between the cut and the next
 * one, so the per-process losses of a window never sum to more than its
 * drop counters (less when some loss had no process: the map full,
 * SAKER_CNT_DROPS_UNATTRIBUTED). When the wait failed
 * (saker_capture_drain_error() < 0) a run may still add to the old
 * generation after it was read: the window's per-process losses are not
 * exact then. start_ns is the process's boot-time start (0 when the loss
 * was counted from another task, e.g. a fork record). Once per drop check.
 * The read returns the number of processes or a negative errno.
 */
typedef void (*saker_proc_loss_fn)(void *ctx, uint32_t tgid, uint64_t start_ns,
				   const struct saker_proc_loss *loss);
typedef long (*saker_capture_meanwhile_fn)(void *ctx, uint64_t deadline_ns);
unsigned saker_capture_cut_proc_losses(struct saker_capture *cap, saker_capture_meanwhile_fn fn,
				       void *ctx);
int saker_capture_read_proc_losses(struct saker_capture *cap, unsigned cut, saker_proc_loss_fn cb,
				   void *ctx);
int saker_capture_drain_error(const struct saker_capture *cap);
/*
 * The wait runs in a thread of its own; meanwhile the cut calls fn (when
 * not NULL) again and again with a deadline 1 ms ahead (CLOCK_MONOTONIC), so
 * the caller keeps draining the rings: a stall of ~10-25 ms a second fills a
 * small ring under a flood. fn returns what it drained (0: nothing, the cut
 * naps 0.2 ms).
 */

/* Changes the syscall selection while attached. */
int saker_capture_set_syscalls(struct saker_capture *cap, const uint8_t *sc_table);

/*
 * The probe's writable settings (.bss: the selection table, the lane-1
 * budget, the loss map generation) against what saker last wrote there. A
 * process with CAP_BPF can map .bss and change them, e.g. deselect every
 * syscall but the one the capture canary makes; nothing counts what is then
 * not captured. .rodata is frozen at load: the kernel refuses writes to it.
 * restore: write back what saker set. Cheap (no syscall): once per drop check.
 */
struct saker_capture_tamper {
	unsigned changed;    /* selection table entries that differ */
	unsigned deselected; /* ... of them, selected by saker and no longer */
	unsigned added;	     /* ... selected now, and not by saker */
	int first_id;	     /* the first differing syscall id, -1: none */
	bool budget;	     /* the lane-1 budget differs */
	bool loss_gen;	     /* the per-process loss map generation differs */
	bool restored;
};
void saker_capture_check_settings(struct saker_capture *cap, bool restore,
				  struct saker_capture_tamper *t);

/*
 * The selection guard: once per drop check, saker_capture_check_settings()
 * with the write-back, and the episodes of changes found. An episode ends
 * after SAKER_SELECTION_HOLD_NS without another change. A reload sets the
 * table through the capture, which keeps the copy: no false alarm.
 */
#define SAKER_SELECTION_HOLD_NS (10ull * 1000 * 1000 * 1000)
struct saker_selection_guard {
	bool changed;	     /* an episode: until SAKER_SELECTION_HOLD_NS without a change */
	uint64_t since_ns;   /* monotonic, the episode's first change found */
	uint64_t last_ns;    /* monotonic, the last change found */
	uint64_t n_changes;  /* drop checks that found a change (each restored) */
	uint64_t n_episodes; /* episodes begun (alerts raised) */
	struct saker_capture_tamper last; /* what the last change was */
};
enum saker_guard_news {
	SAKER_GUARD_QUIET = 0, /* nothing new to say */
	SAKER_GUARD_CHANGED,   /* an episode began: g->last says what changed */
	SAKER_GUARD_HELD,      /* the episode ended: the settings held for the hold time */
};
enum saker_guard_news saker_capture_guard_check(struct saker_capture *cap,
						struct saker_selection_guard *g, uint64_t now_ns);

/* Everything counted so far, both generations (live: for metrics and the summary). */
int saker_capture_stats(struct saker_capture *cap, struct saker_capture_stats *st);
/*
 * The counters as of the cuts: generation cut read now (after
 * saker_capture_cut_proc_losses() returned it), the other as its last cut
 * read it, summed; SAKER_CAPTURE_CUT_ALL reads both now (at start, and at
 * shutdown after the detach, when nothing runs). Cumulative like
 * saker_capture_stats(), so the drop check's deltas between two cuts are
 * exactly one window's generation: n_drops and its causes cover the same
 * program runs as the per-process losses read with the cut, and every
 * event is in exactly one window (seen = delivered + lost over the run).
 */
#define SAKER_CAPTURE_CUT_ALL 2u
int saker_capture_cut_stats(struct saker_capture *cap, unsigned cut,
			    struct saker_capture_stats *st);

/* Possible CPUs (the length of the per-CPU counters). */
unsigned saker_capture_nr_cpus(const struct saker_capture *cap);
/*
 * The kernel counters of each CPU (not summed) into percpu[0..max), and the
 * ring each CPU writes to into cpu_ring (may be NULL). Returns the number of
 * CPUs filled or a negative errno.
 */
int saker_capture_cpu_stats(struct saker_capture *cap, struct saker_kcounters *percpu,
			    unsigned *cpu_ring, unsigned max);

struct saker_capture_ring_stats {
	unsigned lane; /* enum saker_lane */
	uint64_t size_bytes;
	/* taken from the ring (a batch counts its events): delivered or user drops */
	uint64_t events;
	uint64_t bytes; /* ring bytes consumed, the kernel's 8-byte record headers included */
	/* most bytes in use seen before a drain in the last window (only when has_high_water) */
	bool has_high_water;
	uint64_t high_water_bytes;
	/* every drain of the last window stopped at its budget: the ring was never emptied */
	bool saturated;
};
int saker_capture_ring_stats(const struct saker_capture *cap, unsigned ring,
			     struct saker_capture_ring_stats *st);
/*
 * Ends the occupancy window of every ring (call once per drop check): the
 * high-water mark and saturation of the window just ended are what
 * saker_capture_ring_stats reports until the next call.
 */
void saker_capture_ring_window(struct saker_capture *cap);

/* One BPF program's kernel statistics (zero unless the kernel's bpf_stats are on). */
struct saker_capture_prog_stats {
	char name[64];
	uint64_t run_cnt;
	uint64_t run_time_ns;
};
/* Fills up to max programs; returns how many or a negative errno. */
int saker_capture_prog_stats(const struct saker_capture *cap, struct saker_capture_prog_stats *out,
			     unsigned max);
/* 1 when the kernel counts BPF program runs (kernel.bpf_stats_enabled), 0 if not, or -errno. */
int saker_capture_bpf_stats_enabled(void);

/*
 * Shutdown: detaches the programs, then drains until the counters stop
 * moving, so that afterwards n_evts == delivered + drops holds exactly.
 */
int saker_capture_detach_and_drain(struct saker_capture *cap);

#endif
