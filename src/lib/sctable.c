#include "lib/sctable.h"

#include <asm/unistd_64.h>

#include "lib/sysnames.h"

/* clang-format off */
static const struct saker_sc_row rows[] = {
#define SC(nm, cat, lane, op, sel, flags, fa, ...)                                                 \
	{.name = #nm, .id = __NR_##nm, .spec = SAKER_SC_SPEC_INIT(cat, lane, op, sel, flags, __VA_ARGS__)},
#include "saker_syscalls.def"
};

/* Row index + 1 by id (0 = unknown), built by the compiler from the same rows. */
enum {
#define SC(nm, ...) ROW_##nm,
#include "saker_syscalls.def"
	ROW_COUNT,
};
static const uint8_t row_of_id[SAKER_SYSCALL_MAX] = {
#define SC(nm, ...) [__NR_##nm] = ROW_##nm + 1,
#include "saker_syscalls.def"
};
/* clang-format on */

_Static_assert(ROW_COUNT == sizeof(rows) / sizeof(rows[0]), "one index per row");
_Static_assert(ROW_COUNT < 255, "row_of_id holds row + 1 in a byte");

#define SC(nm, ...) _Static_assert(__NR_##nm < SAKER_SYSCALL_MAX, #nm " is beyond the sc_table");
#include "saker_syscalls.def"

size_t saker_sctable_count(void)
{
	return ROW_COUNT;
}

const struct saker_sc_row *saker_sctable_at(size_t i)
{
	return i < ROW_COUNT ? &rows[i] : NULL;
}

const struct saker_sc_row *saker_sctable_by_id(unsigned id)
{
	if (id >= SAKER_SYSCALL_MAX || !row_of_id[id])
		return NULL;
	return &rows[row_of_id[id] - 1];
}

const struct saker_sc_row *saker_sctable_by_name(const char *name)
{
	int id = saker_syscall_id(name);

	return id < 0 ? NULL : saker_sctable_by_id((unsigned)id);
}

enum saker_category saker_sctable_category(unsigned id)
{
	const struct saker_sc_row *r = saker_sctable_by_id(id);

	return r ? (enum saker_category)r->spec.cat : SAKER_CAT_OTHER;
}

enum saker_lane saker_sctable_lane(unsigned id)
{
	const struct saker_sc_row *r = saker_sctable_by_id(id);

	return r ? (enum saker_lane)r->spec.lane : SAKER_LANE_NORMAL;
}

enum saker_view_op saker_sctable_view_op(unsigned id)
{
	const struct saker_sc_row *r = saker_sctable_by_id(id);

	return r ? (enum saker_view_op)r->spec.op : SAKER_VOP_NONE;
}

unsigned saker_sctable_flags(unsigned id)
{
	const struct saker_sc_row *r = saker_sctable_by_id(id);

	return r ? r->spec.flags : 0;
}

size_t saker_sctable_nparams(const struct saker_sc_row *row)
{
	size_t n = 0;

	while (row && n < SAKER_SC_MAX_PARAMS && row->spec.p[n].how != SAKER_H_NONE)
		n++;
	return n;
}
