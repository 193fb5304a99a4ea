#include "state/degraded.h"

#include <stdlib.h>

struct mark {
	uint64_t since, until;
};

void saker_degraded_init(struct saker_degraded *d, size_t max_procs)
{
	d->all_since = d->all_until = 0;
	saker_idmap_init(&d->procs);
	d->max_procs = max_procs ? max_procs : SAKER_DEGRADED_DEFAULT_MAX;
	d->marks = d->overflows = 0;
}

static void free_marks(struct saker_degraded *d)
{
	for (size_t i = 0; i < d->procs.cap; i++)
		free(d->procs.slots[i].val);
	saker_idmap_free(&d->procs);
	saker_idmap_init(&d->procs);
}

void saker_degraded_fini(struct saker_degraded *d)
{
	if (!d)
		return;
	free_marks(d);
}

/*
 * Two intervals that touch become one; a new one after a gap replaces the
 * old. The gap is not worth remembering: an event older than the old until
 * arriving after a later loss was detected would have to sit in a ring for
 * longer than the degraded window.
 */
static void merge(uint64_t *since, uint64_t *until, uint64_t s, uint64_t u)
{
	if (*until == 0 || s > *until) {
		*since = s;
		*until = u;
		return;
	}
	if (s < *since)
		*since = s;
	if (u > *until)
		*until = u;
}

/* Drops the marks that ended before now (now = the newest mark's since). */
static void reclaim(struct saker_degraded *d, uint64_t now)
{
	struct saker_idmap keep;

	saker_idmap_init(&keep);
	for (size_t i = 0; i < d->procs.cap; i++) {
		struct mark *m = d->procs.slots[i].val;

		if (!m)
			continue;
		if (m->until >= now && !saker_idmap_put(&keep, d->procs.slots[i].key, m))
			continue;
		free(m);
	}
	saker_idmap_free(&d->procs);
	d->procs = keep;
}

void saker_degraded_mark(struct saker_degraded *d, uint32_t pid, uint64_t since_ns,
			 uint64_t until_ns)
{
	struct mark *m;

	if (since_ns > until_ns || until_ns == 0)
		return;
	d->marks++;
	if (pid == 0)
		goto all;
	m = saker_idmap_get(&d->procs, pid);
	if (m) {
		merge(&m->since, &m->until, since_ns, until_ns);
		return;
	}
	if (d->procs.n >= d->max_procs)
		reclaim(d, since_ns);
	if (d->procs.n >= d->max_procs)
		goto overflow;
	m = malloc(sizeof(*m));
	if (!m)
		goto overflow;
	m->since = since_ns;
	m->until = until_ns;
	if (!saker_idmap_put(&d->procs, pid, m))
		return;
	free(m);
overflow:
	d->overflows++;
all:
	merge(&d->all_since, &d->all_until, since_ns, until_ns);
}

bool saker_degraded_check(const struct saker_degraded *d, uint32_t pid, uint64_t ts_ns)
{
	const struct mark *m;

	if (d->all_until && ts_ns >= d->all_since && ts_ns <= d->all_until)
		return true;
	if (!d->procs.n)
		return false;
	m = saker_idmap_get(&d->procs, pid);
	return m && ts_ns >= m->since && ts_ns <= m->until;
}
