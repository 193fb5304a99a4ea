#include "capture/capture_int.h"

#include <string.h>

#include "saker_syscalls.h" /* types of the skeleton's saker_specs */
#include "saker.skel.h"

int saker_capture_set_syscalls(struct saker_capture *cap, const uint8_t *sc_table)
{
	/* .bss is mmap-ed: byte stores are seen by the probe without reload. */
	for (int i = 0; i < SAKER_SYSCALL_MAX; i++)
		__atomic_store_n(&cap->skel->bss->sc_table[i], sc_table[i], __ATOMIC_RELAXED);
	memcpy(cap->sc_set, sc_table, SAKER_SYSCALL_MAX);
	return 0;
}

static void store_budget(struct saker_lane_budget *dst, const struct saker_lane_budget *b)
{
	__atomic_store_n(&dst->proc_burst_ns, b->proc_burst_ns, __ATOMIC_RELAXED);
	__atomic_store_n(&dst->uid_interval_ns, b->uid_interval_ns, __ATOMIC_RELAXED);
	__atomic_store_n(&dst->uid_burst_ns, b->uid_burst_ns, __ATOMIC_RELAXED);
	__atomic_store_n(&dst->cgroup_interval_ns, b->cgroup_interval_ns, __ATOMIC_RELAXED);
	__atomic_store_n(&dst->cgroup_burst_ns, b->cgroup_burst_ns, __ATOMIC_RELAXED);
	__atomic_store_n(&dst->proc_interval_ns, b->proc_interval_ns, __ATOMIC_RELAXED);
}

void saker_capture_check_settings(struct saker_capture *cap, bool restore,
				  struct saker_capture_tamper *t)
{
	struct saker_lane_budget *b = &cap->skel->bss->lane_budget;
	uint32_t gen;

	memset(t, 0, sizeof(*t));
	t->first_id = -1;
	/* 512 bytes and a few words of the mmap-ed .bss: no syscall. */
	for (int i = 0; i < SAKER_SYSCALL_MAX; i++) {
		uint8_t now = __atomic_load_n(&cap->skel->bss->sc_table[i], __ATOMIC_RELAXED);
		uint8_t set = cap->sc_set[i];

		if (now == set)
			continue;
		t->changed++;
		if (t->first_id < 0)
			t->first_id = i;
		if ((set & SAKER_SC_SELECTED) && !(now & SAKER_SC_SELECTED))
			t->deselected++;
		else if (!(set & SAKER_SC_SELECTED) && (now & SAKER_SC_SELECTED))
			t->added++;
		if (restore)
			__atomic_store_n(&cap->skel->bss->sc_table[i], set, __ATOMIC_RELAXED);
	}
	t->budget =
	    __atomic_load_n(&b->proc_interval_ns, __ATOMIC_RELAXED) !=
		cap->budget_set.proc_interval_ns ||
	    __atomic_load_n(&b->proc_burst_ns, __ATOMIC_RELAXED) != cap->budget_set.proc_burst_ns ||
	    __atomic_load_n(&b->uid_interval_ns, __ATOMIC_RELAXED) !=
		cap->budget_set.uid_interval_ns ||
	    __atomic_load_n(&b->uid_burst_ns, __ATOMIC_RELAXED) != cap->budget_set.uid_burst_ns ||
	    __atomic_load_n(&b->cgroup_interval_ns, __ATOMIC_RELAXED) !=
		cap->budget_set.cgroup_interval_ns ||
	    __atomic_load_n(&b->cgroup_burst_ns, __ATOMIC_RELAXED) !=
		cap->budget_set.cgroup_burst_ns;
	if (t->budget && restore)
		store_budget(b, &cap->budget_set);
	gen = __atomic_load_n(&cap->skel->bss->loss_gen, __ATOMIC_RELAXED);
	t->loss_gen = gen != cap->loss_gen_set;
	if (t->loss_gen && restore)
		__atomic_store_n(&cap->skel->bss->loss_gen, cap->loss_gen_set, __ATOMIC_SEQ_CST);
	t->restored = restore && (t->changed || t->budget || t->loss_gen);
}

void saker_capture_set_lane_budget(struct saker_capture *cap, uint64_t rate, uint64_t burst,
				   uint64_t uid_rate, uint64_t uid_burst, uint64_t cgroup_rate,
				   uint64_t cgroup_burst)
{
	struct saker_lane_budget bb, *b = &bb;

	saker_lane_budget_from_rate(b, rate, burst, uid_rate, uid_burst, cgroup_rate, cgroup_burst);
	/*
	 * .bss is mmap-ed; the probe reads each field once per event, so a
	 * change seen half-way only mixes old and new limits for a moment.
	 */
	store_budget(&cap->skel->bss->lane_budget, b);
	cap->budget_set = *b;
}

void saker_lane_budget_from_rate(struct saker_lane_budget *b, uint64_t rate, uint64_t burst,
				 uint64_t uid_rate, uint64_t uid_burst, uint64_t cgroup_rate,
				 uint64_t cgroup_burst)
{
	memset(b, 0, sizeof(*b));
	if (rate) {
		b->proc_interval_ns = 1000000000ull / rate;
		if (!b->proc_interval_ns)
			b->proc_interval_ns = 1;
		b->proc_burst_ns = b->proc_interval_ns * burst;
	}
	if (rate && uid_rate) {
		b->uid_interval_ns = 1000000000ull / uid_rate;
		if (!b->uid_interval_ns)
			b->uid_interval_ns = 1;
		b->uid_burst_ns = b->uid_interval_ns * uid_burst;
	}
	if (rate && cgroup_rate) {
		b->cgroup_interval_ns = 1000000000ull / cgroup_rate;
		if (!b->cgroup_interval_ns)
			b->cgroup_interval_ns = 1;
		b->cgroup_burst_ns = b->cgroup_interval_ns * cgroup_burst;
	}
}

enum saker_guard_news saker_capture_guard_check(struct saker_capture *cap,
						struct saker_selection_guard *g, uint64_t now_ns)
{
	struct saker_capture_tamper t;

	/*
	 * Restored at once: what saker set is the configuration, and a table
	 * left as the attacker wrote it keeps capture blind to every syscall it
	 * dropped. An attacker who writes it again is found again a second
	 * later (same episode, counted), so blindness lasts at most a check.
	 */
	saker_capture_check_settings(cap, true, &t);
	if (t.changed || t.budget || t.loss_gen) {
		g->n_changes++;
		g->last = t;
		g->last_ns = now_ns;
		if (g->changed)
			return SAKER_GUARD_QUIET;
		g->changed = true;
		g->since_ns = now_ns;
		g->n_episodes++;
		return SAKER_GUARD_CHANGED;
	}
	if (g->changed && now_ns - g->last_ns >= SAKER_SELECTION_HOLD_NS) {
		g->changed = false;
		return SAKER_GUARD_HELD;
	}
	return SAKER_GUARD_QUIET;
}
