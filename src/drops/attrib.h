/*
 * Loss attribution: who produced the events of a drop-check window, and
 * whose events were lost or demoted. User space counts what it receives
 * (saker_attrib_note() on the event path: one hash increment); the kernel
 * half feeds the exact per-process loss and demotion counts it keeps on its
 * loss path (saker_attrib_add_lost/_add_demoted, after
 * saker_attrib_set_kernel_loss(a, true)). Until it does, loss per process is
 * unknown and every window says so (attribution "produced_only").
 *
 * A process is its tgid; an exit of the group leader ends its entry, so a
 * pid reused within a window starts a new one. comm, exe, uid and start time
 * come from the view when the entry is made and again when the window
 * closes (the process may have exited by then). Bounded: past max_procs
 * entries, the smallest of a few sampled ones is evicted (counted), so a
 * flood of one-event processes cannot push a flooder out. Single-threaded.
 */
#ifndef SAKER_ATTRIB_H
#define SAKER_ATTRIB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "saker_abi.h"
#include "lib/metrics.h"
#include "state/proctable.h"

struct saker_view;
struct saker_attrib;

#define SAKER_ATTRIB_TOP	 3    /* processes named per window */
#define SAKER_ATTRIB_DEFAULT_MAX 4096 /* processes tracked per window */
#define SAKER_ATTRIB_EXE_LEN	 256  /* exe kept per entry, NUL included (cut beyond) */
#define SAKER_ATTRIB_NAME_LEN	 64   /* container, pod and namespace names kept (cut beyond) */
/* Containers /metrics names by their lost and demoted events; the others add to "other". */
#define SAKER_ATTRIB_METRIC_CONTAINERS 16
/* Distinct containers counted per window; past it, their processes count to "other". */
#define SAKER_ATTRIB_WINDOW_CONTAINERS 256

struct saker_attrib_proc {
	uint32_t pid;
	uint32_t uid;	   /* SAKER_UID_UNSET when unknown */
	uint64_t start_ns; /* boot time, 0 = unknown */
	char comm[SAKER_PROC_COMM_LEN];
	char exe[SAKER_ATTRIB_EXE_LEN]; /* "" = unknown */
	/* container.id ("host" on the host, "" unknown), its name and pod (each "" when unknown) */
	char container_id[SAKER_CONTAINER_ID_LEN + 1];
	char container_name[SAKER_ATTRIB_NAME_LEN];
	char pod_name[SAKER_ATTRIB_NAME_LEN];
	char pod_ns[SAKER_ATTRIB_NAME_LEN];
	uint64_t received; /* events user space received */
	uint64_t lost;	   /* as the kernel reported */
	uint64_t demoted;
	uint64_t produced; /* received + lost */
};

/* The events of one container's processes in a window (id "other": past the bound). */
struct saker_attrib_container {
	char id[SAKER_CONTAINER_ID_LEN + 1]; /* "host", "" = unknown (the view knew no container) */
	char name[SAKER_ATTRIB_NAME_LEN];
	char pod_name[SAKER_ATTRIB_NAME_LEN];
	char pod_ns[SAKER_ATTRIB_NAME_LEN];
	uint64_t processes, received, lost, demoted;
};

/* One closed window. */
struct saker_attrib_window {
	bool lost_known; /* the kernel reports loss per process (else produced only) */
	size_t n_top;
	struct saker_attrib_proc top[SAKER_ATTRIB_TOP]; /* by lost, then produced, descending */
	size_t n_procs;					/* processes counted in the window */
	uint64_t received, lost, demoted;		/* summed over them */
	uint64_t untracked;		      /* events not counted to any process (no memory) */
	uint64_t evictions;		      /* entries evicted in the window */
	struct saker_attrib_proc top_demoted; /* most demoted (pid 0: none was) */
	/* containers by lost (then demoted, produced) events, descending; those that lost or
	 * were demoted only when the kernel counts loss, else by events produced */
	size_t n_top_containers;
	struct saker_attrib_container top_containers[SAKER_ATTRIB_TOP];
};

struct saker_attrib_stats {
	uint64_t windows;
	uint64_t events; /* noted */
	uint64_t evictions;
	uint64_t untracked;
};

/* view may be NULL (no names). max_procs 0 = default. */
int saker_attrib_new(struct saker_attrib **out, size_t max_procs, struct saker_view *view);
void saker_attrib_free(struct saker_attrib *a);

/* The event path: one record user space received (after the view applied it). NULL a ok. */
void saker_attrib_note(struct saker_attrib *a, const struct saker_evt_hdr *e);
/* The kernel half: it counts loss (and demotion) per process from now on. */
void saker_attrib_set_kernel_loss(struct saker_attrib *a, bool on);
/* n events of process pid (start_ns 0 = whichever entry has that pid) lost / demoted. */
void saker_attrib_add_lost(struct saker_attrib *a, uint32_t pid, uint64_t start_ns, uint64_t n);
void saker_attrib_add_demoted(struct saker_attrib *a, uint32_t pid, uint64_t start_ns, uint64_t n);
/*
 * Both counts at once, as the probe keeps them, with the probe's uid and comm
 * of the process: used when the view does not know it (its fork lost, or
 * gone), so a flooder the view never saw is still named. comm may be NULL.
 */
void saker_attrib_add_kernel(struct saker_attrib *a, uint32_t pid, uint64_t start_ns, uint64_t lost,
			     uint64_t demoted, uint32_t uid, const char *comm);

/* Ends the window: its summary into w (NULL: discarded), and a new window starts. */
void saker_attrib_close(struct saker_attrib *a, struct saker_attrib_window *w);
/* The same, calling each_lost (may be NULL) for every process that lost events in it. */
typedef void (*saker_attrib_each_fn)(void *ctx, const struct saker_attrib_proc *p);
void saker_attrib_close_each(struct saker_attrib *a, struct saker_attrib_window *w,
			     saker_attrib_each_fn each_lost, void *ctx);

void saker_attrib_get_stats(const struct saker_attrib *a, struct saker_attrib_stats *st);
/*
 * attribution_evictions_total, attribution_untracked_total, and
 * container_events_lost_total / container_events_demoted_total by container
 * (labels container, pod): the first SAKER_ATTRIB_METRIC_CONTAINERS
 * containers that lost or had events demoted keep their label, the rest add
 * to container="other", so the label set is bounded.
 */
void saker_attrib_add_metrics(const struct saker_attrib *a, struct saker_metrics *m);

/* "4242", "12.3k", "1.2M", "3.4G": counts as the drop message shows them. */
void saker_attrib_human(uint64_t n, char *buf, size_t len);

#endif
