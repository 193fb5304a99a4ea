/*
 * The one syscall table: user space (src/lib/sctable.c, the probe's sc_table
 * bytes from src/capture/syscalls.c) and the compiled BPF object (the
 * skeleton's .rodata saker_specs) must say the same thing for every row:
 * id, category, lane, view op, flags, parameter list.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <asm/unistd_64.h>
#include <bpf/libbpf.h>

#include "saker_abi.h"
#include "saker_syscalls.h"
#include "lib/sctable.h"
#include "capture/syscalls.h"
#include "config/config.h"
#include "saker.skel.h"

/* The rows expanded here, independently of src/lib/sctable.c. */
struct expect {
	const char *name;
	unsigned id;
	struct saker_sc_spec spec;
};

/* clang-format off */
static const struct expect expected[] = {
#define SC(nm, cat, lane, op, sel, flags, fa, ...)                                                 \
	{#nm, __NR_##nm, SAKER_SC_SPEC_INIT(cat, lane, op, sel, flags, __VA_ARGS__)},
#include "saker_syscalls.def"
};
/* clang-format on */
#define N_EXPECTED (sizeof(expected) / sizeof(expected[0]))

static void test_rows_match_the_table(void **state)
{
	(void)state;
	assert_int_equal(saker_sctable_count(), N_EXPECTED);
	for (size_t i = 0; i < N_EXPECTED; i++) {
		const struct expect *e = &expected[i];
		const struct saker_sc_row *r = saker_sctable_by_id(e->id);

		assert_non_null(r);
		assert_string_equal(r->name, e->name);
		assert_int_equal(r->id, e->id);
		assert_memory_equal(&r->spec, &e->spec, sizeof(r->spec));
		assert_ptr_equal(saker_sctable_by_name(e->name), r);
		assert_ptr_equal(saker_sctable_at(i), r);
		/* The uapi's number for the name is the id the name table gives it. */
		assert_non_null(saker_syscall_name(e->id));
		assert_string_equal(saker_syscall_name(e->id), e->name);
		assert_int_equal(saker_sctable_category(e->id), e->spec.cat);
		assert_int_equal(saker_sctable_lane(e->id), e->spec.lane);
		assert_int_equal(saker_sctable_view_op(e->id), e->spec.op);
		assert_int_equal(saker_sctable_flags(e->id), e->spec.flags);
	}
	assert_null(saker_sctable_at(N_EXPECTED));
}

static void test_unknown_syscalls(void **state)
{
	(void)state;
	assert_null(saker_sctable_by_id(__NR_getppid));
	assert_null(saker_sctable_by_id(SAKER_SYSCALL_MAX));
	assert_null(saker_sctable_by_id(100000));
	assert_null(saker_sctable_by_name("getppid"));
	assert_null(saker_sctable_by_name(NULL));
	assert_int_equal(saker_sctable_category(__NR_getppid), SAKER_CAT_OTHER);
	assert_int_equal(saker_sctable_lane(__NR_getppid), SAKER_LANE_NORMAL);
	assert_int_equal(saker_sctable_view_op(__NR_getppid), SAKER_VOP_NONE);
	assert_int_equal(saker_sctable_flags(__NR_getppid), 0);
	assert_int_equal(saker_sctable_nparams(NULL), 0);
}

static int quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	(void)level;
	(void)fmt;
	(void)ap;
	return 0;
}

/* What the compiled probe carries, read from the object the binary embeds. */
static void test_kernel_table_matches_user_space(void **state)
{
	struct saker_bpf *skel;
	static const struct saker_sc_spec zero;
	size_t known = 0;

	(void)state;
	libbpf_set_print(quiet);
	skel = saker_bpf__open();
	assert_non_null(skel);
	assert_non_null(skel->rodata);
	for (unsigned id = 0; id < SAKER_SYSCALL_MAX; id++) {
		const struct saker_sc_spec *k = &skel->rodata->saker_specs[id];
		const struct saker_sc_row *r = saker_sctable_by_id(id);

		if (!r) {
			assert_memory_equal(k, &zero, sizeof(*k));
			continue;
		}
		known++;
		assert_int_equal(k->flags, r->spec.flags);
		assert_int_equal(k->cat, r->spec.cat);
		assert_int_equal(k->lane, r->spec.lane);
		assert_int_equal(k->op, r->spec.op);
		for (int i = 0; i < SAKER_SC_MAX_PARAMS; i++) {
			assert_int_equal(k->p[i].name, r->spec.p[i].name);
			assert_int_equal(k->p[i].how, r->spec.p[i].how);
			assert_int_equal(k->p[i].arg, r->spec.p[i].arg);
			assert_int_equal(k->p[i].extra, r->spec.p[i].extra);
		}
	}
	assert_int_equal(known, saker_sctable_count());
	/* The shared structs have the same size on both sides. */
	assert_int_equal(bpf_map__value_size(skel->maps.counters), sizeof(struct saker_kcounters));
	assert_int_equal(bpf_map__value_size(skel->maps.stage_map), sizeof(struct saker_stage));
	saker_bpf__destroy(skel);
}

/* The byte per syscall the probe reads (sc_table) carries each row's columns. */
static void test_sc_table_bytes(void **state)
{
	struct saker_config cfg;
	uint8_t table[SAKER_SYSCALL_MAX];
	char err[256];

	(void)state;
	saker_config_init(&cfg);
	cfg.base_syscalls.all = false;
	assert_int_equal(saker_syscalls_build_table(&cfg, table, err, sizeof(err)), 0);
	for (unsigned id = 0; id < SAKER_SYSCALL_MAX; id++) {
		const struct saker_sc_row *r = saker_sctable_by_id(id);

		if (!r) {
			assert_int_equal(table[id], 0);
			continue;
		}
		assert_int_equal(table[id] & SAKER_SC_CAT_MASK, r->spec.cat);
		assert_int_equal(!!(table[id] & SAKER_SC_CRITICAL),
				 r->spec.lane == SAKER_LANE_CRITICAL);
		assert_int_equal(!!(table[id] & SAKER_SC_SELECTED),
				 !!(r->spec.flags & SAKER_SCF_DEFAULT));
	}
	cfg.base_syscalls.all = true;
	assert_int_equal(saker_syscalls_build_table(&cfg, table, err, sizeof(err)), 0);
	for (unsigned id = 0; id < SAKER_SYSCALL_MAX; id++)
		assert_int_equal(!!(table[id] & SAKER_SC_SELECTED), saker_syscall_name(id) != NULL);
	saker_config_free(&cfg);
}

/* protected_lane.syscalls sets the lane bit (appending, or replacing the table's column). */
static void test_protected_lane_selection(void **state)
{
	struct saker_config cfg;
	uint8_t table[SAKER_SYSCALL_MAX];
	char err[256];
	char *names[] = {"kill", "!bind", "ioctl"};
	int kill_id = saker_syscall_id("kill"), bind_id = saker_syscall_id("bind"),
	    ioctl_id = saker_syscall_id("ioctl"), exec_id = saker_syscall_id("execve");

	(void)state;
	saker_config_init(&cfg);
	cfg.protected_lane.syscalls.v = names;
	cfg.protected_lane.syscalls.n = 3;
	assert_int_equal(saker_syscalls_build_table(&cfg, table, err, sizeof(err)), 0);
	assert_true(table[kill_id] & SAKER_SC_CRITICAL);
	assert_false(table[bind_id] & SAKER_SC_CRITICAL);
	assert_true(table[exec_id] & SAKER_SC_CRITICAL);
	/* a syscall without a row: critical when selected (the probe sends it alone, not staged) */
	assert_true(table[ioctl_id] & SAKER_SC_CRITICAL);
	assert_false(table[ioctl_id] & SAKER_SC_SELECTED);
	assert_false(table[saker_syscall_id("openat")] & SAKER_SC_CRITICAL);
	cfg.protected_lane.replace = true;
	assert_int_equal(saker_syscalls_build_table(&cfg, table, err, sizeof(err)), 0);
	assert_true(table[kill_id] & SAKER_SC_CRITICAL);
	assert_false(table[exec_id] & SAKER_SC_CRITICAL);
	for (unsigned id = 0; id < SAKER_SYSCALL_MAX; id++)
		if ((int)id != kill_id && (int)id != ioctl_id)
			assert_false(table[id] & SAKER_SC_CRITICAL);
	char *bad[] = {"nosuchcall"};
	cfg.protected_lane.syscalls.v = bad;
	cfg.protected_lane.syscalls.n = 1;
	assert_int_equal(saker_syscalls_build_table(&cfg, table, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "protected_lane.syscalls"));
	cfg.protected_lane.syscalls.v = NULL;
	cfg.protected_lane.syscalls.n = 0;
	saker_config_free(&cfg);
}

static void test_rows_well_formed(void **state)
{
	(void)state;
	for (size_t i = 0; i < saker_sctable_count(); i++) {
		const struct saker_sc_row *r = saker_sctable_at(i);
		size_t n = saker_sctable_nparams(r);
		bool has_path = false;

		assert_true(r->spec.flags & SAKER_SCF_KNOWN);
		assert_in_range(r->spec.cat, 0, SAKER_CAT_MAX - 1);
		assert_true(r->spec.cat != SAKER_CAT_OTHER);
		assert_in_range(r->spec.lane, 0, SAKER_LANE_MAX - 1);
		assert_in_range(r->spec.op, 0, SAKER_VOP_MAX - 1);
		for (size_t p = 0; p < SAKER_SC_MAX_PARAMS; p++) {
			const struct saker_sc_param *sp = &r->spec.p[p];

			if (p >= n) {
				assert_int_equal(sp->how, SAKER_H_NONE);
				continue;
			}
			assert_in_range(sp->how, SAKER_H_NONE + 1, SAKER_H_MAX - 1);
			assert_in_range(sp->name, 0, SAKER_PN_MAX - 1);
			assert_in_range(sp->arg, 0, 5);
			if (sp->how == SAKER_H_SOCKADDR || sp->how == SAKER_H_SOCKADDR_P)
				assert_in_range(sp->extra, 0, 5);
			has_path |= sp->name == SAKER_PN_PATH;
			for (size_t q = 0; q < p; q++)
				assert_int_not_equal(r->spec.p[q].name, sp->name);
		}
		/* A generic record carries ARG0..2 only. */
		if (r->spec.flags & SAKER_SCF_GENERIC)
			assert_int_equal(n, 0);
		if (r->spec.flags & SAKER_SCF_PATH_IS_LINK)
			assert_true(has_path);
	}
}

/* Issue 8's never-lose list (plus the clone family) is the critical lane, no more. */
static void test_critical_lane(void **state)
{
	static const char *const critical[] = {
	    "execve",	   "execveat",	   "connect",	    "accept",	"accept4",  "bind",
	    "listen",	   "setuid",	   "setgid",	    "setreuid", "setregid", "setresuid",
	    "setresgid",   "setfsuid",	   "setfsgid",	    "capset",	"ptrace",   "bpf",
	    "init_module", "finit_module", "delete_module", "mount",	"umount2",  "setns",
	    "unshare",	   "memfd_create", "clone",	    "clone3",	"fork",	    "vfork",
	};
	size_t n_critical = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(critical) / sizeof(critical[0]); i++) {
		const struct saker_sc_row *r = saker_sctable_by_name(critical[i]);

		assert_non_null(r);
		assert_int_equal(r->spec.lane, SAKER_LANE_CRITICAL);
	}
	for (size_t i = 0; i < saker_sctable_count(); i++)
		n_critical += saker_sctable_at(i)->spec.lane == SAKER_LANE_CRITICAL;
	assert_int_equal(n_critical, sizeof(critical) / sizeof(critical[0]));
}

/* A few columns the view and the dump act on. */
static void test_columns(void **state)
{
	(void)state;
	assert_int_equal(saker_sctable_view_op(__NR_openat), SAKER_VOP_OPEN);
	assert_int_equal(saker_sctable_view_op(__NR_creat), SAKER_VOP_CREAT);
	assert_int_equal(saker_sctable_view_op(__NR_dup3), SAKER_VOP_DUP3);
	assert_int_equal(saker_sctable_view_op(__NR_setresgid), SAKER_VOP_SETRESGID);
	assert_int_equal(saker_sctable_view_op(__NR_unlink), SAKER_VOP_NONE);
	assert_true(saker_sctable_flags(__NR_symlinkat) & SAKER_SCF_PATH_IS_LINK);
	assert_false(saker_sctable_flags(__NR_linkat) & SAKER_SCF_PATH_IS_LINK);
	assert_true(saker_sctable_flags(__NR_exit_group) & SAKER_SCF_GENERIC);
	assert_int_equal(saker_sctable_category(__NR_accept4), SAKER_CAT_OTHER_INTEREST);
	assert_int_equal(saker_sctable_category(__NR_close), SAKER_CAT_CLOSE);
	assert_int_equal(saker_sctable_nparams(saker_sctable_by_id(__NR_renameat2)), 5);
	assert_int_equal(saker_sctable_nparams(saker_sctable_by_id(__NR_fork)), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rows_match_the_table),
	    cmocka_unit_test(test_unknown_syscalls),
	    cmocka_unit_test(test_kernel_table_matches_user_space),
	    cmocka_unit_test(test_sc_table_bytes),
	    cmocka_unit_test(test_protected_lane_selection),
	    cmocka_unit_test(test_rows_well_formed),
	    cmocka_unit_test(test_critical_lane),
	    cmocka_unit_test(test_columns),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
