#include "lib/idmap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- saker_idmap ---- */

#define IDMAP_MIN_CAP 16

static size_t idmap_hash(uint64_t key, size_t cap)
{
	/* Ids are dense and sequential: mix them so neighbours do not cluster. */
	key ^= key >> 33;
	key *= 0xff51afd7ed558ccdull;
	key ^= key >> 33;
	key *= 0xc4ceb9fe1a85ec53ull;
	key ^= key >> 33;
	return (size_t)key & (cap - 1);
}

void saker_idmap_init(struct saker_idmap *m)
{
	m->slots = NULL;
	m->cap = 0;
	m->n = 0;
}

void saker_idmap_free(struct saker_idmap *m)
{
	if (!m)
		return;
	free(m->slots);
	saker_idmap_init(m);
}

static struct saker_idmap_slot *idmap_find(const struct saker_idmap *m, uint64_t key)
{
	if (!m->cap)
		return NULL;
	for (size_t i = idmap_hash(key, m->cap);; i = (i + 1) & (m->cap - 1)) {
		struct saker_idmap_slot *s = &m->slots[i];

		if (!s->val)
			return NULL;
		if (s->key == key)
			return s;
	}
}

void *saker_idmap_get(const struct saker_idmap *m, uint64_t key)
{
	struct saker_idmap_slot *s = idmap_find(m, key);

	return s ? s->val : NULL;
}

static void idmap_place(struct saker_idmap_slot *slots, size_t cap, uint64_t key, void *val)
{
	size_t i = idmap_hash(key, cap);

	while (slots[i].val)
		i = (i + 1) & (cap - 1);
	slots[i].key = key;
	slots[i].val = val;
}

static int idmap_grow(struct saker_idmap *m)
{
	size_t cap = m->cap ? m->cap * 2 : IDMAP_MIN_CAP;
	struct saker_idmap_slot *slots;

	if (cap < m->cap || cap > SIZE_MAX / sizeof(*slots))
		return -ENOMEM;
	slots = calloc(cap, sizeof(*slots));
	if (!slots)
		return -ENOMEM;
	for (size_t i = 0; i < m->cap; i++)
		if (m->slots[i].val)
			idmap_place(slots, cap, m->slots[i].key, m->slots[i].val);
	free(m->slots);
	m->slots = slots;
	m->cap = cap;
	return 0;
}

int saker_idmap_put(struct saker_idmap *m, uint64_t key, void *val)
{
	struct saker_idmap_slot *s;
	int err;

	if (!val)
		return -EINVAL;
	s = idmap_find(m, key);
	if (s) {
		s->val = val;
		return 0;
	}
	/* Load at most 1/2: probes stay short with linear probing. */
	if ((m->n + 1) * 2 > m->cap) {
		err = idmap_grow(m);
		if (err)
			return err;
	}
	idmap_place(m->slots, m->cap, key, val);
	m->n++;
	return 0;
}

void *saker_idmap_del(struct saker_idmap *m, uint64_t key)
{
	struct saker_idmap_slot *s = idmap_find(m, key);
	size_t mask = m->cap - 1, hole, i;
	void *val;

	if (!s)
		return NULL;
	val = s->val;
	hole = (size_t)(s - m->slots);
	/*
	 * Backward shift: move later members of the probe run into the hole
	 * when their home slot is not between the hole and where they sit.
	 */
	for (i = (hole + 1) & mask; m->slots[i].val; i = (i + 1) & mask) {
		size_t home = idmap_hash(m->slots[i].key, m->cap);

		if (((i - home) & mask) >= ((i - hole) & mask)) {
			m->slots[hole] = m->slots[i];
			hole = i;
		}
	}
	m->slots[hole].val = NULL;
	m->slots[hole].key = 0;
	m->n--;
	return val;
}

size_t saker_idmap_bytes(const struct saker_idmap *m)
{
	return m->cap * sizeof(*m->slots);
}
