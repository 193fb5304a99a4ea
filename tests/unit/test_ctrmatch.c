#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/ctrmatch.h"

#define ID_A "3f4e9b0c2d1a8e7f6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a"
#define ID_B "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define UID  "0c5e5fa6-4b3a-4d0e-9c84-6b7c1e2f9a10"
#define UID_ "0c5e5fa6_4b3a_4d0e_9c84_6b7c1e2f9a10"

struct row_case {
	const char *path;
	enum saker_ctr_type type;
	const char *full_id; /* NULL: host */
	const char *pod_uid;
	enum saker_k8s_qos qos;
	const char *row;
};

/* Paths as the runtimes make them (docs/containers.md), one or more per row. */
static const struct row_case cases[] = {
    /* docker, systemd driver and cgroupfs driver */
    {"/system.slice/docker-" ID_A ".scope", SAKER_CTR_DOCKER, ID_A, "", 0, "docker-scope"},
    {"/docker/" ID_A, SAKER_CTR_DOCKER, ID_A, "", 0, "docker-dir"},
    /* a cgroup the container made below its own is still the container */
    {"/docker/" ID_A "/init.scope", SAKER_CTR_DOCKER, ID_A, "", 0, "docker-dir"},
    /* nested (docker in docker): the innermost */
    {"/docker/" ID_A "/docker/" ID_B, SAKER_CTR_DOCKER, ID_B, "", 0, "docker-dir"},
    /* containerd CRI, cgroupfs driver: burstable, besteffort, guaranteed */
    {"/kubepods/burstable/pod" UID "/" ID_A, SAKER_CTR_CONTAINERD, ID_A, UID, SAKER_QOS_BURSTABLE,
     "kubepods-dir"},
    {"/kubepods/besteffort/pod" UID "/" ID_B, SAKER_CTR_CONTAINERD, ID_B, UID, SAKER_QOS_BESTEFFORT,
     "kubepods-dir"},
    {"/kubepods/pod" UID "/" ID_A, SAKER_CTR_CONTAINERD, ID_A, UID, SAKER_QOS_GUARANTEED,
     "kubepods-dir"},
    /* containerd CRI, systemd driver */
    {"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID_
     ".slice/cri-containerd-" ID_A ".scope",
     SAKER_CTR_CONTAINERD, ID_A, UID, SAKER_QOS_BURSTABLE, "cri-containerd-scope"},
    {"/kubepods.slice/kubepods-pod" UID_ ".slice/cri-containerd-" ID_B ".scope",
     SAKER_CTR_CONTAINERD, ID_B, UID, SAKER_QOS_GUARANTEED, "cri-containerd-scope"},
    /* containerd CRI's systemd-style cgroupsPath taken literally by cgroupfs */
    {"/kubepods-besteffort-pod" UID_ ".slice:cri-containerd:" ID_A, SAKER_CTR_CONTAINERD, ID_A, UID,
     SAKER_QOS_BESTEFFORT, "cri-containerd-colon"},
    {"/system.slice/containerd.service/kubepods-burstable-pod" UID_ ".slice:cri-containerd:" ID_B,
     SAKER_CTR_CONTAINERD, ID_B, UID, SAKER_QOS_BURSTABLE, "cri-containerd-colon"},
    /* CRI-O: systemd driver, cgroupfs in a pod, cgroupfs alone */
    {"/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" UID_ ".slice/crio-" ID_A
     ".scope",
     SAKER_CTR_CRIO, ID_A, UID, SAKER_QOS_BESTEFFORT, "crio"},
    {"/kubepods/burstable/pod" UID "/crio-" ID_B, SAKER_CTR_CRIO, ID_B, UID, SAKER_QOS_BURSTABLE,
     "crio"},
    {"/crio-" ID_A, SAKER_CTR_CRIO, ID_A, "", 0, "crio"},
    /* podman: systemd (root and rootless, payload in "container"), cgroupfs */
    {"/machine.slice/libpod-" ID_A ".scope/container", SAKER_CTR_PODMAN, ID_A, "", 0, "podman"},
    {"/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" ID_B ".scope",
     SAKER_CTR_PODMAN, ID_B, "", 0, "podman"},
    {"/libpod_parent/libpod-" ID_A, SAKER_CTR_PODMAN, ID_A, "", 0, "podman"},
    /* plain containerd (ctr run): named ids in known namespaces, 64 hex anywhere */
    {"/default/redis", SAKER_CTR_CONTAINERD, "redis", "", 0, "containerd-plain"},
    {"/k8s.io/" ID_A, SAKER_CTR_CONTAINERD, ID_A, "", 0, "containerd-plain"},
    {"/buildkit/x2k4l7m9n0p1q3r5", SAKER_CTR_CONTAINERD, "x2k4l7m9n0p1q3r5", "", 0,
     "containerd-plain"},
    {"/myns/" ID_B, SAKER_CTR_CONTAINERD, ID_B, "", 0, "containerd-plain"},
    /* systemd-machined: nspawn, libvirt's LXC */
    {"/machine.slice/machine-debian\\x2dtest.scope/payload/system.slice/cron.service",
     SAKER_CTR_NSPAWN, "debian-test", "", 0, "machine"},
    {"/machine.slice/machine-web.scope", SAKER_CTR_NSPAWN, "web", "", 0, "machine"},
    {"/machine.slice/machine-lxc\\x2d2201\\x2dweb.scope", SAKER_CTR_LIBVIRT_LXC, "lxc-2201-web", "",
     0, "machine"},
    /* LXC 4+, LXC 4.0.x, LXC 1-3 */
    {"/lxc.payload.web1/system.slice/ssh.service", SAKER_CTR_LXC, "web1", "", 0, "lxc"},
    {"/lxc.payload/web1", SAKER_CTR_LXC, "web1", "", 0, "lxc"},
    {"/lxc/web1/init.scope", SAKER_CTR_LXC, "web1", "", 0, "lxc"},
    /* any other 64-hex component: docker's shape */
    {"/actions_job/sub/" ID_A, SAKER_CTR_DOCKER, ID_A, "", 0, "bare-id"},

    /* ---- the host ---- */
    {"/", SAKER_CTR_HOST, NULL, "", 0, NULL},
    {"", SAKER_CTR_HOST, NULL, "", 0, NULL},
    {"/init.scope", SAKER_CTR_HOST, NULL, "", 0, NULL},
    {"/system.slice/containerd.service", SAKER_CTR_HOST, NULL, "", 0, NULL},
    {"/user.slice/user-1000.slice/session-3.scope", SAKER_CTR_HOST, NULL, "", 0, NULL},
    {"/user.slice/user-0.slice", SAKER_CTR_HOST, NULL, "", 0, NULL},
    /* a job runner's two levels of names are not a containerd namespace */
    {"/process_api/41f9df3248f202a63d4aff7a0b8efe1b", SAKER_CTR_HOST, NULL, "", 0, NULL},
    /* the runtimes' monitors run beside their containers */
    {"/kubepods.slice/kubepods-burstable.slice/crio-conmon-" ID_A ".scope", SAKER_CTR_HOST, NULL,
     "", 0, NULL},
    {"/machine.slice/libpod-conmon-" ID_A ".scope", SAKER_CTR_HOST, NULL, "", 0, NULL},
    {"/machine.slice/machine-debian.scope/supervisor", SAKER_CTR_HOST, NULL, "", 0, NULL},
    {"/lxc.monitor.web1", SAKER_CTR_HOST, NULL, "", 0, NULL},
    /* a VM's processes are the host's */
    {"/machine.slice/machine-qemu\\x2d1\\x2dvm.scope/emulator", SAKER_CTR_HOST, NULL, "", 0, NULL},
    /* ids of the wrong length or case */
    {"/docker/" ID_A "0", SAKER_CTR_HOST, NULL, "", 0, NULL},
    {"/docker/3F4E9B0C2D1A8E7F6B5C4D3E2F1A0B9C8D7E6F5A4B3C2D1E0F9A8B7C6D5E4F3A", SAKER_CTR_HOST,
     NULL, "", 0, NULL},
    {"/system.slice/docker-" ID_A ".service", SAKER_CTR_HOST, NULL, "", 0, NULL},
    /* a pod's own slice or folder, outside its containers: host, with the pod */
    {"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID_ ".slice",
     SAKER_CTR_HOST, NULL, UID, SAKER_QOS_BURSTABLE, NULL},
    {"/kubepods/besteffort/pod" UID, SAKER_CTR_HOST, NULL, UID, SAKER_QOS_BESTEFFORT, NULL},

    /* ---- suffixes (the probe's last components) ---- */
    {"burstable/pod" UID "/" ID_A, SAKER_CTR_CONTAINERD, ID_A, UID, SAKER_QOS_BURSTABLE,
     "kubepods-dir"},
    /* the QoS folder cut off: the uid without the class */
    {"pod" UID "/" ID_A, SAKER_CTR_CONTAINERD, ID_A, UID, SAKER_QOS_NONE, "kubepods-dir"},
    {"kubepods-burstable-pod" UID_ ".slice/cri-containerd-" ID_A ".scope", SAKER_CTR_CONTAINERD,
     ID_A, UID, SAKER_QOS_BURSTABLE, "cri-containerd-scope"},
    {"libpod-" ID_A ".scope/container", SAKER_CTR_PODMAN, ID_A, "", 0, "podman"},
    /* a suffix cannot tell "/default/redis" from something deeper */
    {"default/redis", SAKER_CTR_HOST, NULL, "", 0, NULL},
};

static void check(const struct row_case *c, const struct saker_ctr_match *m, bool found)
{
	char want_id[SAKER_CTR_SHORT_ID_LEN + 1];

	if (found != (c->full_id != NULL))
		fail_msg("%s: found %d", c->path, found);
	if (m->type != c->type)
		fail_msg("%s: type %s, want %s", c->path, saker_ctr_type_name(m->type),
			 saker_ctr_type_name(c->type));
	snprintf(want_id, sizeof(want_id), "%s", c->full_id ? c->full_id : "host");
	if (strcmp(m->id, want_id))
		fail_msg("%s: id %s, want %s", c->path, m->id, want_id);
	if (strcmp(m->full_id, c->full_id ? c->full_id : ""))
		fail_msg("%s: full id %s", c->path, m->full_id);
	if (strcmp(m->pod_uid, c->pod_uid))
		fail_msg("%s: pod uid %s, want %s", c->path, m->pod_uid, c->pod_uid);
	if (m->qos != c->qos)
		fail_msg("%s: qos %s, want %s", c->path, saker_k8s_qos_name(m->qos),
			 saker_k8s_qos_name(c->qos));
	if ((m->row == NULL) != (c->row == NULL) || (m->row && strcmp(m->row, c->row)))
		fail_msg("%s: row %s, want %s", c->path, m->row ? m->row : "(none)",
			 c->row ? c->row : "(none)");
}

static void test_rows(void **state)
{
	struct saker_ctr_match m;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&m, 'X', sizeof(m));
		check(&cases[i], &m,
		      saker_ctr_match_path(cases[i].path, strlen(cases[i].path), &m));
	}
}

/* Every row of the table has a case above. */
static void test_every_row_covered(void **state)
{
	static const char *const names[] = {"docker-scope",
					    "docker-dir",
					    "cri-containerd-scope",
					    "cri-containerd-colon",
					    "crio",
					    "podman",
					    "kubepods-dir",
					    "containerd-plain",
					    "lxc",
					    "machine",
					    "bare-id"};
	struct saker_ctr_match m;

	(void)state;
	for (size_t r = 0; r < sizeof(names) / sizeof(names[0]); r++) {
		bool seen = false;

		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
			if (saker_ctr_match_path(cases[i].path, strlen(cases[i].path), &m) &&
			    !strcmp(m.row, names[r]))
				seen = true;
		if (!seen)
			fail_msg("row %s has no case", names[r]);
	}
}

static void test_plain_containerd_id_names(void **state)
{
	struct saker_ctr_match m;
	const char *p = "/default/a-very-long-container-name.v2";

	(void)state;
	assert_true(saker_ctr_match_path(p, strlen(p), &m));
	assert_string_equal(m.id, "a-very-long-");
	assert_string_equal(m.full_id, "a-very-long-container-name.v2");
	assert_string_equal(m.ns, "default");
	assert_string_equal(saker_ctr_type_name(m.type), "containerd");
	/* containerd's identifier syntax: no leading, trailing or doubled separator */
	p = "/default/-bad";
	assert_false(saker_ctr_match_path(p, strlen(p), &m));
	p = "/default/bad..name";
	assert_false(saker_ctr_match_path(p, strlen(p), &m));
	/* deeper than two levels is not the plain layout */
	p = "/default/redis/sub";
	assert_false(saker_ctr_match_path(p, strlen(p), &m));
	assert_string_equal(m.id, "host");
}

/* /proc/<pid>/cgroup: the v2 line first, then v1 lines in order (hybrid hosts). */
static void test_proc_content(void **state)
{
	struct saker_ctr_match m;
	const char *c;

	(void)state;
	/* This host's own shape: v2 at the root, a job runner's memory cgroup. */
	c = "9:name=systemd:/\n4:memory:/process_api/41f9df3248f202a63d4aff7a0b8efe1b\n"
	    "1:cpu:/\n0::/\n";
	assert_false(saker_ctr_match_proc(c, strlen(c), &m));
	assert_string_equal(m.id, "host");
	/* runc's cgroupfs manager on a hybrid host: every v1 controller and unified */
	c = "9:name=systemd:/default/web\n8:pids:/default/web\n4:memory:/default/web\n"
	    "0::/default/web\n";
	assert_true(saker_ctr_match_proc(c, strlen(c), &m));
	assert_string_equal(m.full_id, "web");
	/* v2 at the root, docker only in v1 */
	c = "12:cpu,cpuacct:/docker/" ID_A "\n0::/\n";
	assert_true(saker_ctr_match_proc(c, strlen(c), &m));
	assert_string_equal(m.id, "3f4e9b0c2d1a");
	assert_int_equal(m.type, SAKER_CTR_DOCKER);
	/* v2 wins over v1 when both name one */
	c = "4:memory:/docker/" ID_A "\n0::/system.slice/crio-" ID_B ".scope";
	assert_true(saker_ctr_match_proc(c, strlen(c), &m));
	assert_int_equal(m.type, SAKER_CTR_CRIO);
	assert_string_equal(m.id, "0123456789ab");
	/* a bare path, colons after the id */
	c = "/docker/" ID_A "/a:b:c";
	assert_true(saker_ctr_match_proc(c, strlen(c), &m));
	assert_string_equal(m.id, "3f4e9b0c2d1a");
	/* only a pod's slice: host, with the pod */
	c = "0::/kubepods.slice/kubepods-pod" UID_ ".slice\n";
	assert_false(saker_ctr_match_proc(c, strlen(c), &m));
	assert_string_equal(m.id, "host");
	assert_string_equal(m.pod_uid, UID);
	assert_int_equal(m.qos, SAKER_QOS_GUARANTEED);
	/* len bounds the read */
	c = "0::/docker/" ID_A;
	assert_false(saker_ctr_match_proc(c, 20, &m));
	assert_false(saker_ctr_match_proc(NULL, 5, &m));
	assert_string_equal(m.id, "host");
	assert_false(saker_ctr_match_path(NULL, 5, &m));
}

/* Deep paths keep their innermost components. */
static void test_deep(void **state)
{
	char p[4096];
	size_t n = 0;
	struct saker_ctr_match m;

	(void)state;
	for (int i = 0; i < 100; i++)
		n += (size_t)snprintf(p + n, sizeof(p) - n, "/d%d", i);
	n += (size_t)snprintf(p + n, sizeof(p) - n, "/docker/%s", ID_A);
	assert_true(saker_ctr_match_path(p, n, &m));
	assert_string_equal(m.id, "3f4e9b0c2d1a");
}

/* Random strings of the table's own vocabulary: bounded output, no crash. */
static void test_garbage(void **state)
{
	static const char *const words[] = {"/",
					    "docker",
					    "docker-",
					    ".scope",
					    ".slice",
					    "kubepods",
					    "kubepods-",
					    "pod",
					    "burstable",
					    "besteffort-",
					    ":cri-containerd:",
					    "crio-",
					    "libpod-",
					    "machine-",
					    "\\x2d",
					    "lxc.payload",
					    ".",
					    "lxc",
					    "_",
					    "-",
					    ID_A,
					    "0123",
					    "default"};
	unsigned seed = 11;
	char buf[600];
	struct saker_ctr_match m;

	(void)state;
	for (int it = 0; it < 50000; it++) {
		size_t n = 0;
		int k = rand_r(&seed) % 12;

		for (int w = 0; w < k; w++) {
			const char *s = words[rand_r(&seed) % (sizeof(words) / sizeof(words[0]))];
			size_t l = strlen(s);

			if (n + l >= sizeof(buf))
				break;
			memcpy(buf + n, s, l);
			n += l;
		}
		saker_ctr_match_path(buf, n, &m);
		assert_true(strlen(m.id) <= SAKER_CTR_SHORT_ID_LEN);
		assert_true(strlen(m.full_id) <= SAKER_CTR_FULL_ID_MAX);
		assert_true(strlen(m.pod_uid) <= SAKER_CTR_POD_UID_MAX);
		assert_true((unsigned)m.type < SAKER_CTR_TYPES);
		assert_true(m.type == SAKER_CTR_HOST ? !strcmp(m.id, "host") : m.full_id[0] != 0);
	}
}

/* What the probe sends, made into what the matcher takes. */
static void test_path_from_names(void **state)
{
	static const char names[] = ID_A "\0pod" UID "\0burstable\0kubepods";
	struct saker_ctr_match m;
	char out[512];

	(void)state;
	/* four names, level 4: the whole path */
	assert_int_equal(saker_ctr_path_from_names(names, sizeof(names), 4, out, sizeof(out)),
			 (int)strlen("/kubepods/burstable/pod" UID "/" ID_A));
	assert_string_equal(out, "/kubepods/burstable/pod" UID "/" ID_A);
	/* deeper than what was sent: a suffix */
	saker_ctr_path_from_names(names, sizeof(names), 6, out, sizeof(out));
	assert_string_equal(out, "kubepods/burstable/pod" UID "/" ID_A);
	assert_true(saker_ctr_match_path(out, strlen(out), &m));
	assert_int_equal(m.qos, SAKER_QOS_BURSTABLE);
	assert_string_equal(m.pod_uid, UID);
	/* the root */
	saker_ctr_path_from_names(NULL, 0, 0, out, sizeof(out));
	assert_string_equal(out, "/");
	saker_ctr_path_from_names(names, sizeof(names), 0, out, sizeof(out));
	assert_string_equal(out, "/");
	/* plain containerd's two levels, then too small a buffer */
	saker_ctr_path_from_names("web\0default", 12, 2, out, sizeof(out));
	assert_string_equal(out, "/default/web");
	assert_true(saker_ctr_match_path(out, strlen(out), &m));
	assert_string_equal(m.full_id, "web");
	assert_int_equal(saker_ctr_path_from_names("web\0default", 12, 2, out, 5), 12);
	assert_string_equal(out, "/def");
	assert_int_equal(saker_ctr_path_from_names("x", 1, 1, NULL, 0), -EINVAL);
}

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(saker_ctr_type_name(SAKER_CTR_HOST), "host");
	assert_string_equal(saker_ctr_type_name(SAKER_CTR_CRIO), "cri-o");
	assert_string_equal(saker_ctr_type_name(SAKER_CTR_TYPES), "host");
	assert_string_equal(saker_k8s_qos_name(SAKER_QOS_BESTEFFORT), "besteffort");
	assert_string_equal(saker_k8s_qos_name(SAKER_QOS_NONE), "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rows),
	    cmocka_unit_test(test_every_row_covered),
	    cmocka_unit_test(test_plain_containerd_id_names),
	    cmocka_unit_test(test_proc_content),
	    cmocka_unit_test(test_deep),
	    cmocka_unit_test(test_garbage),
	    cmocka_unit_test(test_names),
	    cmocka_unit_test(test_path_from_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
