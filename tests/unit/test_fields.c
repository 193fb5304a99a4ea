/*
 * The field table on its own: classes and their rows (rules/fields_class.h),
 * instances, costs. Extraction over real events is in test_rules.c.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "event/event.h"
#include "rules/fields.h"
#include "rules/fields_class.h"

/* Every listed field is one row: names unique, flags and extractor agree. */
static void test_rows_are_consistent(void **state)
{
	size_t n = saker_fields_count();

	(void)state;
	assert_true(n > 100);
	assert_null(saker_fields_at(n));
	for (size_t i = 0; i < n; i++) {
		const struct saker_field_info *a = saker_fields_at(i);
		struct saker_finst fi;
		char why[256];

		assert_non_null(a);
		for (size_t j = i + 1; j < n; j++)
			assert_string_not_equal(a->name, saker_fields_at(j)->name);
		if (a->flags & SAKER_FF_ARG_REQUIRED)
			continue;
		assert_int_equal(saker_finst_init(&fi, a->name, NULL, why, sizeof(why)), 0);
		assert_ptr_equal(fi.info, a);
		/* a row without an extractor is one saker never has a value for */
		assert_true(fi.row->extract != NULL || (a->flags & SAKER_FF_NEVER));
		assert_true((a->flags & SAKER_FF_NEVER) ? fi.row->extract == NULL : 1);
		assert_true(a->flags & SAKER_FF_NEVER ? a->never_reason != NULL : 1);
		saker_finst_clear(&fi);
	}
	/* --list order: the classes in turn, evt first, k8s last */
	assert_string_equal(saker_fields_at(0)->name, "evt.type");
	assert_memory_equal(saker_fields_at(n - 1)->name, "k8s.", 4);
}

/* The container class's rows are those of its file, with its extractors. */
static void test_container_class(void **state)
{
	const struct saker_field_class *k = &saker_fclass_container;
	struct saker_finst fi;
	char why[256];
	bool seen_id = false;

	(void)state;
	assert_string_equal(k->name, "container");
	for (size_t i = 0; i < k->nrows; i++) {
		const char *name = k->rows[i].info.name;

		assert_true(!strncmp(name, "container.", 10) || !strncmp(name, "k8s.", 4));
		seen_id |= !strcmp(name, "container.id");
	}
	assert_true(seen_id);
	assert_int_equal(saker_finst_init(&fi, "container.id", NULL, why, sizeof(why)), 0);
	assert_true(fi.row >= k->rows && fi.row < k->rows + k->nrows);
	assert_int_equal(saker_finst_cost(&fi), 2);
	saker_finst_clear(&fi);
	assert_int_equal(saker_finst_init(&fi, "k8s.pod.ip", NULL, why, sizeof(why)), 0);
	assert_true(fi.info->flags & SAKER_FF_PLUGIN);
	assert_true(fi.info->flags & SAKER_FF_NEVER);
	saker_finst_clear(&fi);
	/* from the runtime's files (state/containers.h): valued */
	assert_int_equal(saker_finst_init(&fi, "k8s.pod.name", NULL, why, sizeof(why)), 0);
	assert_false(fi.info->flags & SAKER_FF_NEVER);
	saker_finst_clear(&fi);
	/* a name of the class that is no row: a plugin's field, not a typo */
	assert_int_equal(saker_finst_init(&fi, "container.nosuch", NULL, why, sizeof(why)),
			 -ENOENT);
	assert_non_null(strstr(why, "container plugin"));
	saker_finst_clear(&fi);
}

/* Each class file holds the rows of its prefixes, and the classes hold every row. */
static void test_classes_hold_their_prefixes(void **state)
{
	static const struct {
		const struct saker_field_class *k;
		const char *pfx[2];
	} want[] = {
	    {&saker_fclass_evt, {"evt.", NULL}},
	    {&saker_fclass_proc, {"proc.", "thread."}},
	    {&saker_fclass_user, {"user.", "group."}},
	    {&saker_fclass_fd, {"fd.", NULL}},
	    {&saker_fclass_container, {"container.", "k8s."}},
	};
	size_t total = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		assert_true(want[i].k->nrows > 0);
		for (size_t r = 0; r < want[i].k->nrows; r++) {
			const char *name = want[i].k->rows[r].info.name;
			bool ok = false;

			for (size_t p = 0; p < 2 && want[i].pfx[p]; p++)
				ok |= !strncmp(name, want[i].pfx[p], strlen(want[i].pfx[p]));
			if (!ok)
				fail_msg("%s is in class %s", name, want[i].k->name);
		}
		total += want[i].k->nrows;
	}
	assert_int_equal(total, saker_fields_count());
}

/* Without a view, process-derived fields are missing, header fields are not. */
static void test_extract_without_view(void **state)
{
	struct saker_fctx *c = calloc(1, sizeof(*c));
	struct saker_event ev;
	struct saker_finst cid, tid;
	const struct saker_fval *v;
	char why[256];

	(void)state;
	assert_non_null(c);
	memset(&ev, 0, sizeof(ev));
	ev.hdr.type = SAKER_EVT_SYSCALL;
	ev.hdr.syscall_id = SAKER_SYSCALL_NONE;
	ev.hdr.tid = 42;
	ev.hdr.tgid = 41;
	assert_int_equal(saker_finst_init(&cid, "container.id", NULL, why, sizeof(why)), 0);
	assert_int_equal(saker_finst_init(&tid, "thread.tid", NULL, why, sizeof(why)), 0);
	cid.id = 0;
	tid.id = 1;
	assert_int_equal(saker_fctx_init(c, 2), 0);
	saker_fctx_begin(c, &ev, NULL);
	assert_int_equal(saker_fields_extract(c, &cid, &v), 0);
	assert_int_equal(saker_fields_extract(c, &tid, &v), 1);
	assert_int_equal(v->i, 42);
	saker_finst_clear(&cid);
	saker_finst_clear(&tid);
	saker_fctx_destroy(c);
	free(c);
}

/* Ancestor walks cost by depth; other rows their table cost. */
static void test_costs(void **state)
{
	struct saker_finst fi;
	char why[256];

	(void)state;
	assert_int_equal(saker_finst_init(&fi, "proc.aname", "2", why, sizeof(why)), 0);
	assert_int_equal(saker_finst_cost(&fi), 6);
	saker_finst_clear(&fi);
	assert_int_equal(saker_finst_init(&fi, "proc.aname", NULL, why, sizeof(why)), 0);
	assert_int_equal(saker_finst_cost(&fi), 40);
	saker_finst_clear(&fi);
	assert_int_equal(saker_finst_init(&fi, "evt.type", NULL, why, sizeof(why)), 0);
	assert_int_equal(saker_finst_cost(&fi), 1);
	saker_finst_clear(&fi);
	assert_int_equal(saker_finst_init(&fi, "proc.pcmdline", NULL, why, sizeof(why)), 0);
	assert_int_equal(saker_finst_cost(&fi), 6);
	saker_finst_clear(&fi);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rows_are_consistent),
	    cmocka_unit_test(test_container_class),
	    cmocka_unit_test(test_classes_hold_their_prefixes),
	    cmocka_unit_test(test_extract_without_view),
	    cmocka_unit_test(test_costs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
