#include "capture/syscalls.h"

#include <errno.h>
#include <stdio.h>

#include "lib/sctable.h"

/*
 * Applies a list of "name" (set bit) and "!name" (clear bit) to the table;
 * what names the list in the error (NULL: skip unknown names, already refused).
 */
static int apply_names(const struct saker_strlist *names, uint8_t bit, const char *what,
		       uint8_t table[SAKER_SYSCALL_MAX], char *err, size_t errlen)
{
	for (size_t i = 0; i < names->n; i++) {
		const char *name = names->v[i];
		bool remove = name[0] == '!';
		int id = saker_syscall_id(remove ? name + 1 : name);

		if (id < 0) {
			if (!what)
				continue;
			snprintf(err, errlen, "%s: unknown syscall '%s'", what,
				 remove ? name + 1 : name);
			return -EINVAL;
		}
		if (remove)
			table[id] &= (uint8_t)~bit;
		else
			table[id] |= bit;
	}
	return 0;
}

int saker_syscalls_build_table(const struct saker_config *cfg, uint8_t table[SAKER_SYSCALL_MAX],
			       char *err, size_t errlen)
{
	int ret;

	/*
	 * Every id carries its category and lane, selected or not, so a SIGHUP
	 * that selects it needs nothing else; the default set is the table's.
	 */
	for (unsigned id = 0; id < SAKER_SYSCALL_MAX; id++) {
		const struct saker_sc_row *r = saker_sctable_by_id(id);
		uint8_t b = (uint8_t)SAKER_CAT_OTHER;

		if (r) {
			b = r->spec.cat & SAKER_SC_CAT_MASK;
			if (r->spec.lane == SAKER_LANE_CRITICAL)
				b |= SAKER_SC_CRITICAL;
			if (r->spec.flags & SAKER_SCF_DEFAULT)
				b |= SAKER_SC_SELECTED;
		}
		if (cfg->base_syscalls.all && saker_syscall_name(id))
			b |= SAKER_SC_SELECTED;
		table[id] = b;
	}
	ret = apply_names(&cfg->base_syscalls.custom_set, SAKER_SC_SELECTED,
			  "base_syscalls.custom_set", table, err, errlen);
	if (ret)
		return ret;
	/* The protected lane: the table's CRITICAL rows, plus or instead of the configured ones. */
	if (cfg->protected_lane.replace)
		for (unsigned id = 0; id < SAKER_SYSCALL_MAX; id++)
			table[id] &= (uint8_t)~SAKER_SC_CRITICAL;
	return apply_names(&cfg->protected_lane.syscalls, SAKER_SC_CRITICAL,
			   "protected_lane.syscalls", table, err, errlen);
}

int saker_syscalls_build_table_rules(const struct saker_config *cfg,
				     const uint8_t rules_sel[SAKER_SYSCALL_MAX], bool rules_all,
				     uint8_t table[SAKER_SYSCALL_MAX], char *err, size_t errlen)
{
	bool custom = false;
	int ret;

	ret = saker_syscalls_build_table(cfg, table, err, errlen);
	if (ret)
		return ret;
	for (size_t i = 0; i < cfg->base_syscalls.custom_set.n; i++)
		if (cfg->base_syscalls.custom_set.v[i][0] != '!')
			custom = true;
	for (unsigned id = 0; id < SAKER_SYSCALL_MAX; id++) {
		const struct saker_sc_row *r = saker_sctable_by_id(id);
		bool sel = cfg->base_syscalls.all || rules_sel[id] ||
			   (rules_all && saker_syscall_name(id));

		/*
		 * custom_set replaces the state set (Falco) unless repair asks for it
		 * back: saker's state set is its default selection.
		 */
		if (!sel && (!custom || cfg->base_syscalls.repair) && r &&
		    (r->spec.flags & SAKER_SCF_DEFAULT))
			sel = true;
		if (sel)
			table[id] |= SAKER_SC_SELECTED;
		else
			table[id] &= (uint8_t)~SAKER_SC_SELECTED;
	}
	/* custom_set: its names in, its "!names" out, last (they win over the rules). */
	return apply_names(&cfg->base_syscalls.custom_set, SAKER_SC_SELECTED, NULL, table, err,
			   errlen);
}
