#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <sys/stat.h>

#include <cmocka.h>

#include "drops/attrib.h"
#include "state/view.h"
#include "fakeproc.h"

struct fx {
	char root[64];
	struct saker_view *view;
	struct saker_attrib *a;
};

static int setup(void **state)
{
	struct fx *f = test_calloc(1, sizeof(*f));

	fp_make_root(f->root, sizeof(f->root));
	fp_add(f->root, 100, "flood", "/usr/bin/flood", "flood\0-x\0", 9, 65534);
	fp_add(f->root, 200, "sshd", "/usr/sbin/sshd", "sshd\0", 5, 0);
	assert_int_equal(saker_view_new(&f->view, 0, f->root), 0);
	assert_int_equal(saker_view_scan(f->view), 0);
	assert_int_equal(saker_attrib_new(&f->a, 0, f->view), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	saker_attrib_free(f->a);
	saker_view_free(f->view);
	fp_remove_root(f->root);
	test_free(f);
	return 0;
}

static void note(struct saker_attrib *a, uint32_t tid, uint32_t tgid, uint16_t type, int times)
{
	struct saker_evt_hdr h = {.tid = tid, .tgid = tgid, .type = type};

	for (int i = 0; i < times; i++)
		saker_attrib_note(a, &h);
}

static void test_top_by_produced(void **state)
{
	struct fx *f = *state;
	struct saker_attrib_window w;
	struct saker_attrib_stats st;

	note(f->a, 200, 200, SAKER_EVT_SYSCALL, 10);
	note(f->a, 100, 100, SAKER_EVT_SYSCALL, 1000);
	note(f->a, 101, 100, SAKER_EVT_SYSCALL, 500); /* a thread counts to its process */
	note(f->a, 300, 300, SAKER_EVT_SYSCALL, 3);   /* unknown to the view */
	note(f->a, 400, 400, SAKER_EVT_SYSCALL, 1);
	saker_attrib_close(f->a, &w);
	assert_false(w.lost_known);
	assert_int_equal(w.n_procs, 4);
	assert_int_equal(w.received, 1514);
	assert_int_equal(w.n_top, SAKER_ATTRIB_TOP);
	assert_int_equal(w.top[0].pid, 100);
	assert_int_equal(w.top[0].produced, 1500);
	assert_int_equal(w.top[0].received, 1500);
	assert_string_equal(w.top[0].comm, "flood");
	assert_string_equal(w.top[0].exe, "/usr/bin/flood");
	assert_int_equal(w.top[0].uid, 65534);
	assert_int_equal(w.top[1].pid, 200);
	assert_string_equal(w.top[1].comm, "sshd");
	assert_int_equal(w.top[1].uid, 0);
	assert_int_equal(w.top[2].pid, 300);
	assert_string_equal(w.top[2].comm, "");
	assert_string_equal(w.top[2].exe, "");
	assert_int_equal(w.top[2].uid, SAKER_UID_UNSET);

	/* each close starts a new window */
	saker_attrib_close(f->a, &w);
	assert_int_equal(w.n_procs, 0);
	assert_int_equal(w.n_top, 0);
	saker_attrib_close(f->a, NULL);
	saker_attrib_get_stats(f->a, &st);
	assert_int_equal(st.windows, 3);
	assert_int_equal(st.events, 1514);
}

static void test_kernel_loss_ranks_first(void **state)
{
	struct fx *f = *state;
	struct saker_attrib_window w;

	saker_attrib_set_kernel_loss(f->a, true);
	note(f->a, 200, 200, SAKER_EVT_SYSCALL, 5000);
	note(f->a, 100, 100, SAKER_EVT_SYSCALL, 10);
	saker_attrib_add_lost(f->a, 100, 0, 990000);
	saker_attrib_add_demoted(f->a, 100, 0, 7);
	/* a process user space never heard of this window: named by the kernel's count alone */
	saker_attrib_add_lost(f->a, 500, 12345, 3);
	saker_attrib_add_lost(f->a, 500, 12345, 0);
	saker_attrib_close(f->a, &w);
	assert_true(w.lost_known);
	assert_int_equal(w.n_procs, 3);
	assert_int_equal(w.top[0].pid, 100);
	assert_int_equal(w.top[0].lost, 990000);
	assert_int_equal(w.top[0].demoted, 7);
	assert_int_equal(w.top[0].produced, 990010);
	assert_int_equal(w.top[1].pid, 500);
	assert_int_equal(w.top[1].lost, 3);
	assert_int_equal(w.top[1].start_ns, 12345);
	assert_int_equal(w.top[2].pid, 200);
	assert_int_equal(w.lost, 990003);
	assert_int_equal(w.demoted, 7);
}

/*
 * The probe knows a process's start in ns, the view (from /proc) in clock
 * ticks: the same process either way, one entry, named from the view.
 * A start far away is another process that had the pid.
 */
static void test_kernel_entry_joins_the_view_entry(void **state)
{
	struct fx *f = *state;
	struct saker_attrib_window w;
	const struct saker_proc *v = saker_view_proc(f->view, 100);
	uint64_t start;

	assert_non_null(v);
	start = v->start_ns;
	assert_true(start > 0);
	saker_attrib_set_kernel_loss(f->a, true);
	note(f->a, 100, 100, SAKER_EVT_SYSCALL, 1000);
	saker_attrib_add_kernel(f->a, 100, start + 7000000, 4000, 2, 65534, "flood");
	saker_attrib_close(f->a, &w);
	assert_int_equal(w.n_procs, 1);
	assert_int_equal(w.top[0].pid, 100);
	assert_int_equal(w.top[0].received, 1000);
	assert_int_equal(w.top[0].lost, 4000);
	assert_int_equal(w.top[0].produced, 5000);
	assert_string_equal(w.top[0].exe, "/usr/bin/flood");
	assert_int_equal(w.top_demoted.pid, 100);
	assert_int_equal(w.top_demoted.demoted, 2);

	note(f->a, 100, 100, SAKER_EVT_SYSCALL, 10);
	saker_attrib_add_kernel(f->a, 100, start + 5000000000ull, 30, 0, 1, "other");
	saker_attrib_close(f->a, &w);
	assert_int_equal(w.n_procs, 2);
	assert_int_equal(w.top[0].lost, 30);
	assert_string_equal(w.top[0].comm, "other");
	assert_int_equal(w.top[0].uid, 1);
	assert_int_equal(w.top_demoted.pid, 0);
}

static void test_pid_reuse_after_exit(void **state)
{
	struct fx *f = *state;
	struct saker_attrib_window w;

	note(f->a, 300, 300, SAKER_EVT_SYSCALL, 5);
	note(f->a, 300, 300, SAKER_EVT_PROC_EXIT, 1);
	/* the next process with that pid is another entry */
	note(f->a, 300, 300, SAKER_EVT_SYSCALL, 2);
	/* a thread's exit does not end its process */
	note(f->a, 301, 200, SAKER_EVT_PROC_EXIT, 1);
	note(f->a, 200, 200, SAKER_EVT_SYSCALL, 1);
	saker_attrib_close(f->a, &w);
	assert_int_equal(w.n_procs, 3);
	assert_int_equal(w.top[0].pid, 300);
	assert_int_equal(w.top[0].received, 6);
	/* equal counts: the lower pid first */
	assert_int_equal(w.top[1].pid, 200);
	assert_int_equal(w.top[1].received, 2);
	assert_int_equal(w.top[2].pid, 300);
	assert_int_equal(w.top[2].received, 2);
}

static void test_bounded_flooder_survives(void **state)
{
	struct fx *f = *state;
	struct saker_attrib_window w;
	struct saker_attrib *a;

	(void)f;
	assert_int_equal(saker_attrib_new(&a, 64, NULL), 0);
	/* the table filled with one-event processes, then a flooder arrives */
	for (uint32_t pid = 1000; pid < 1064; pid++)
		note(a, pid, pid, SAKER_EVT_SYSCALL, 1);
	for (int i = 0; i < 100000; i++) {
		note(a, 7, 7, SAKER_EVT_SYSCALL, 1);
		/* and a stream of new small ones keeps evicting */
		if (i % 100 == 0)
			note(a, 2000 + (uint32_t)i, 2000 + (uint32_t)i, SAKER_EVT_SYSCALL, 1);
	}
	saker_attrib_close(a, &w);
	assert_int_equal(w.n_procs, 64);
	assert_true(w.evictions >= 1000);
	{
		struct saker_metrics m;

		saker_metrics_init(&m);
		saker_attrib_add_metrics(a, &m);
		assert_true(saker_metrics_sum(&m, "attribution_evictions_total") ==
			    (double)w.evictions);
		saker_metrics_free(&m);
	}
	assert_int_equal(w.top[0].pid, 7);
	assert_int_equal(w.top[0].received, 100000);
	assert_string_equal(w.top[0].comm, ""); /* no view */
	saker_attrib_free(a);
	saker_attrib_free(NULL);
	saker_attrib_note(NULL, NULL);
	saker_attrib_add_lost(NULL, 1, 0, 1);
	saker_attrib_close(NULL, &w);
}

/* Losses summed by container: the top list names container and pod, /metrics is bounded. */
static void test_containers(void **state)
{
	static const char id[] = "c0ffee0123456789c0ffee0123456789c0ffee0123456789c0ffee0123456789";
	char root[64], path[PATH_MAX], rel[256], dockroot[256];
	struct saker_containers_opts co = {.cap_last = 40};
	struct saker_view_opts vo = {.containers = &co};
	struct saker_view *view;
	struct saker_attrib *a;
	struct saker_attrib_window w;
	struct saker_metrics m;
	const struct saker_metric *s;
	struct saker_metric_label l[2] = {{"container", "c0ffee012345"}, {"pod", "shop/web-0"}};
	FILE *fp;

	(void)state;
	fp_make_root(root, sizeof(root));
	fp_add(root, 100, "hostflood", "/usr/bin/flood", "flood\0", 6, 0);
	fp_add(root, 300, "ctrflood", "/bin/flood", "flood\0", 6, 0);
	fp_add(root, 301, "ctrflood", "/bin/flood", "flood\0", 6, 0);
	snprintf(rel, sizeof(rel), "0::/docker/%s\n", id);
	fp_write(root, "300/cgroup", rel, strlen(rel));
	fp_write(root, "301/cgroup", rel, strlen(rel));
	/* docker's files under the fake root */
	snprintf(dockroot, sizeof(dockroot), "%s/docker", root);
	mkdir(dockroot, 0755);
	snprintf(path, sizeof(path), "%s/%s", dockroot, id);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/%s/config.v2.json", dockroot, id);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("{\"Name\":\"/k8s_web\",\"Config\":{\"Image\":\"nginx\",\"Labels\":{"
	      "\"io.kubernetes.pod.name\":\"web-0\",\"io.kubernetes.pod.namespace\":\"shop\","
	      "\"io.kubernetes.container.name\":\"web\"}}}",
	      fp);
	fclose(fp);
	co.root[SAKER_CTR_RT_DOCKER] = dockroot;
	vo.proc_root = root;
	assert_int_equal(saker_view_new_opts(&view, &vo), 0);
	assert_int_equal(saker_view_scan(view), 0);
	assert_int_equal(saker_attrib_new(&a, 0, view), 0);
	saker_attrib_set_kernel_loss(a, true);
	saker_attrib_add_kernel(a, 100, 0, 100, 0, 0, "hostflood");
	saker_attrib_add_kernel(a, 300, 0, 400, 7, 0, "ctrflood");
	saker_attrib_add_kernel(a, 301, 0, 300, 0, 0, "ctrflood");
	saker_attrib_close(a, &w);
	assert_int_equal(w.n_top, 3);
	assert_int_equal(w.top[0].pid, 300);
	assert_string_equal(w.top[0].container_id, "c0ffee012345");
	assert_string_equal(w.top[0].container_name, "web");
	assert_string_equal(w.top[0].pod_name, "web-0");
	assert_string_equal(w.top[0].pod_ns, "shop");
	assert_string_equal(w.top[2].container_id, "host");
	assert_string_equal(w.top[2].pod_name, "");
	/* by container: both processes summed, then the host */
	assert_int_equal(w.n_top_containers, 2);
	assert_string_equal(w.top_containers[0].id, "c0ffee012345");
	assert_int_equal(w.top_containers[0].lost, 700);
	assert_int_equal(w.top_containers[0].demoted, 7);
	assert_int_equal(w.top_containers[0].processes, 2);
	assert_string_equal(w.top_containers[0].name, "web");
	assert_string_equal(w.top_containers[0].pod_name, "web-0");
	assert_string_equal(w.top_containers[1].id, "host");
	assert_int_equal(w.top_containers[1].lost, 100);
	/* /metrics: by container, cumulative, "other" always there */
	saker_attrib_add_kernel(a, 300, 0, 50, 0, 0, "ctrflood");
	saker_attrib_close(a, &w);
	saker_metrics_init(&m);
	saker_attrib_add_metrics(a, &m);
	s = saker_metrics_find(&m, "container_events_lost_total", l, 2);
	assert_non_null(s);
	assert_true(saker_metric_value(s) == 750);
	s = saker_metrics_find(&m, "container_events_demoted_total", l, 2);
	assert_non_null(s);
	assert_true(saker_metric_value(s) == 7);
	l[0].value = "host";
	l[1].value = "";
	assert_non_null(saker_metrics_find(&m, "container_events_lost_total", l, 2));
	l[0].value = "other";
	s = saker_metrics_find(&m, "container_events_lost_total", l, 2);
	assert_non_null(s);
	assert_true(saker_metric_value(s) == 0);
	saker_metrics_free(&m);
	saker_attrib_free(a);
	saker_view_free(view);
	fp_remove_root(root);
}

/* Past SAKER_ATTRIB_METRIC_CONTAINERS containers, the rest add to "other". */
static void test_container_metrics_bounded(void **state)
{
	char root[64], rel[256], cg[128];
	struct saker_view_opts vo = {0};
	struct saker_view *view;
	struct saker_attrib *a;
	struct saker_metrics m;
	struct saker_metric_label l[2] = {{"container", "other"}, {"pod", ""}};
	const struct saker_metric *s;
	const unsigned n = SAKER_ATTRIB_METRIC_CONTAINERS + 4;

	(void)state;
	fp_make_root(root, sizeof(root));
	for (unsigned i = 0; i < n; i++) {
		fp_add(root, 1000 + i, "p", "/bin/p", "p\0", 2, 0);
		snprintf(cg, sizeof(cg), "0::/docker/%012x%052x\n", i + 1, 0);
		snprintf(rel, sizeof(rel), "%u/cgroup", 1000 + i);
		fp_write(root, rel, cg, strlen(cg));
	}
	vo.proc_root = root;
	assert_int_equal(saker_view_new_opts(&view, &vo), 0);
	assert_int_equal(saker_view_scan(view), 0);
	assert_int_equal(saker_attrib_new(&a, 0, view), 0);
	saker_attrib_set_kernel_loss(a, true);
	for (unsigned i = 0; i < n; i++)
		saker_attrib_add_kernel(a, 1000 + i, 0, 10, 0, 0, "p");
	saker_attrib_close(a, NULL);
	saker_metrics_init(&m);
	saker_attrib_add_metrics(a, &m);
	s = saker_metrics_find(&m, "container_events_lost_total", l, 2);
	assert_non_null(s);
	assert_true(saker_metric_value(s) == 40);
	assert_true(saker_metrics_sum(&m, "container_events_lost_total") == 10.0 * n);
	saker_metrics_free(&m);
	saker_attrib_free(a);
	saker_view_free(view);
	fp_remove_root(root);
}

static void test_human(void **state)
{
	static const struct {
		uint64_t n;
		const char *s;
	} cases[] = {
	    {0, "0"},
	    {999, "999"},
	    {1000, "1.0k"},
	    {1234, "1.2k"},
	    {12345, "12.3k"},
	    {99949, "99.9k"},
	    {99950, "100k"},
	    {990000, "990k"},
	    {999499, "999k"},
	    {999500, "1.0M"},
	    {1200000, "1.2M"},
	    {3400000000ull, "3.4G"},
	    {UINT64_MAX, "18.4E"},
	};
	char buf[16];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		saker_attrib_human(cases[i].n, buf, sizeof(buf));
		assert_string_equal(buf, cases[i].s);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_top_by_produced, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_kernel_loss_ranks_first, setup, teardown),
	    cmocka_unit_test(test_containers),
	    cmocka_unit_test(test_container_metrics_bounded),
	    cmocka_unit_test_setup_teardown(test_kernel_entry_joins_the_view_entry, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_pid_reuse_after_exit, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bounded_flooder_survives, setup, teardown),
	    cmocka_unit_test(test_human),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
