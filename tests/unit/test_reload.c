/* Reload rules: what a SIGHUP says about keys that take effect only at the next start. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "app/app.h"
#include "app/ruleset.h"
#include "app/reload.h"

static void load(struct saker_config *cfg, const char *const *ov, size_t n)
{
	char *v[8];
	struct saker_app_opts o = {.overrides = v, .n_overrides = n};
	uint8_t table[SAKER_SYSCALL_MAX];
	char err[256];

	assert_true(n <= 8);
	for (size_t i = 0; i < n; i++)
		v[i] = (char *)ov[i];
	assert_int_equal(saker_reload_load_config(&o, NULL, cfg, table, err, sizeof(err)), 0);
}

/* A SIGHUP that changes state.max_procs names it, once, in one warning with the others. */
static void test_restart_only_keys_named(void **state)
{
	static const char *const next_ov[] = {
	    "state.max_procs=77",
	    "syscall_event_drops.rate=2",
	    "engine.modern_ebpf.cpus_for_each_buffer=1",
	    "log_level=debug",
	};
	struct saker_config running, next;
	char warn[512];

	(void)state;
	load(&running, NULL, 0);
	load(&next, next_ov, 4);
	assert_int_equal(saker_reload_restart_warning(&running, &next, warn, sizeof(warn)), 2);
	assert_string_equal(warn, "SIGHUP: changed keys that take effect at the next start: "
				  "engine.modern_ebpf.cpus_for_each_buffer, state.max_procs");
	/* live keys are applied, never named */
	assert_null(strstr(warn, "rate"));
	assert_null(strstr(warn, "log_level"));
	saker_config_free(&next);
	saker_config_free(&running);
}

static void test_only_live_changes_no_warning(void **state)
{
	static const char *const next_ov[] = {"syscall_event_drops.threshold=0.5"};
	struct saker_config running, next;
	char warn[512] = "x";

	(void)state;
	load(&running, NULL, 0);
	load(&next, next_ov, 1);
	assert_int_equal(saker_reload_restart_warning(&running, &next, warn, sizeof(warn)), 0);
	assert_string_equal(warn, "");
	/* too small a buffer: nothing, no overflow */
	assert_int_equal(saker_reload_restart_warning(&running, &next, warn, 4), 0);
	saker_config_free(&next);
	saker_config_free(&running);
}

/* A long list is cut, still NUL-terminated, and every key still counted. */
static void test_warning_truncated_safely(void **state)
{
	static const char *const next_ov[] = {
	    "state.max_procs=77",
	    "state.max_fds=78",
	    "state.max_fds_per_proc=79",
	    "engine.modern_ebpf.buf_size=65536",
	};
	struct saker_config running, next;
	char warn[80];

	(void)state;
	load(&running, NULL, 0);
	load(&next, next_ov, 4);
	assert_int_equal(saker_reload_restart_warning(&running, &next, warn, sizeof(warn)), 4);
	assert_true(strlen(warn) < sizeof(warn));
	saker_config_free(&next);
	saker_config_free(&running);
}

/* Syscalls the rules need that the selection leaves out: one warning naming them. */
static void test_rules_syscalls_excluded(void **state)
{
	uint8_t sel[SAKER_SYSCALL_MAX] = {0}, table[SAKER_SYSCALL_MAX] = {0};
	char buf[1024], tiny[8];
	int ptrace_id = saker_syscall_id("ptrace"), getppid_id = saker_syscall_id("getppid");

	(void)state;
	assert_true(ptrace_id >= 0 && getppid_id >= 0);
	sel[ptrace_id] = sel[getppid_id] = 1;
	table[ptrace_id] = SAKER_SC_SELECTED;
	/* getppid is needed and not selected */
	assert_int_equal(saker_ruleset_excluded(sel, false, table, buf, sizeof(buf)), 1);
	assert_non_null(strstr(buf, "base_syscalls.custom_set"));
	assert_non_null(strstr(buf, ": getppid"));
	assert_null(strstr(buf, "ptrace"));
	/* all selected: nothing to say */
	table[getppid_id] = SAKER_SC_SELECTED;
	assert_int_equal(saker_ruleset_excluded(sel, false, table, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "");
	/* a buffer too small for the head says nothing rather than half */
	assert_int_equal(saker_ruleset_excluded(sel, true, table, tiny, sizeof(tiny)), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_restart_only_keys_named),
	    cmocka_unit_test(test_only_live_changes_no_warning),
	    cmocka_unit_test(test_warning_truncated_safely),
	    cmocka_unit_test(test_rules_syscalls_excluded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
