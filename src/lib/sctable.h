/*
 * The syscalls saker knows, as data: the rows of include/saker_syscalls.def
 * (name, x86_64 id, Falco drop category, lane, view operation, flags and the
 * parameters the probe reads), looked up by id or name. Pure data, no state:
 * the lowest layer, so capture, event, state, outputs and rules read the same
 * rows the probe was compiled from. Names of every syscall (known or not) are
 * in lib/sysnames.h.
 */
#ifndef SAKER_SCTABLE_H
#define SAKER_SCTABLE_H

#include <stddef.h>
#include <stdint.h>

#include "saker_abi.h"
#include "saker_syscalls.h"

struct saker_sc_row {
	const char *name;
	uint16_t id;		   /* x86_64 syscall number */
	struct saker_sc_spec spec; /* byte for byte what the probe compiles in for id */
};

/* Rows in table order; i < saker_sctable_count(), else NULL. */
size_t saker_sctable_count(void);
const struct saker_sc_row *saker_sctable_at(size_t i);

/* NULL when saker does not know the syscall. */
const struct saker_sc_row *saker_sctable_by_id(unsigned id);
const struct saker_sc_row *saker_sctable_by_name(const char *name);

/* Column lookups by id; an unknown id is OTHER, NORMAL, NONE, 0. */
enum saker_category saker_sctable_category(unsigned id);
enum saker_lane saker_sctable_lane(unsigned id);
enum saker_view_op saker_sctable_view_op(unsigned id);
unsigned saker_sctable_flags(unsigned id);

/* Parameters of a row (they end at the first SAKER_H_NONE). */
size_t saker_sctable_nparams(const struct saker_sc_row *row);

#endif
