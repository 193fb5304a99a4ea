#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "state/containers.h"

#define CID "4f7a1c2b3d4e5f60718293a4b5c6d7e8f90112233445566778899aabbccddeef"
#define SID "9e8d7c6b5a49382716051f2e3d4c5b6a79881726354453627180918273645566"
#define DID "aa11bb22cc33dd44ee55ff6677889900aa11bb22cc33dd44ee55ff6677889900"
#define PID "bb11bb22cc33dd44ee55ff6677889900aa11bb22cc33dd44ee55ff6677889900"

static char tmpl[] = "/tmp/saker-ctr-XXXXXX";
static char *base;

static void mkdirs(const char *path)
{
	char buf[4096];

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = buf + 1; *p; p++) {
		if (*p == '/') {
			*p = '\0';
			mkdir(buf, 0755);
			*p = '/';
		}
	}
	mkdir(buf, 0755);
}

static void put(const char *rel, const char *text)
{
	char path[4096], dir[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", base, rel);
	snprintf(dir, sizeof(dir), "%s", path);
	*strrchr(dir, '/') = '\0';
	mkdirs(dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static char *root_of(const char *rel)
{
	static char bufs[4][4096];
	static int i;
	char *b = bufs[i++ % 4];

	snprintf(b, 4096, "%s/%s", base, rel);
	return b;
}

static int setup(void **state)
{
	(void)state;
	base = mkdtemp(tmpl);
	return base ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[4200];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
	return system(cmd) == 0 ? 0 : -1;
}

static struct saker_containers *open_roots(size_t max)
{
	struct saker_containers_opts o = {.max = max, .cap_last = 40};
	struct saker_containers *c = NULL;

	o.root[SAKER_CTR_RT_CONTAINERD] = root_of("containerd");
	o.root[SAKER_CTR_RT_CRIO] = root_of("crio");
	o.root[SAKER_CTR_RT_DOCKER] = root_of("docker");
	o.root[SAKER_CTR_RT_PODMAN] = root_of("podman");
	assert_int_equal(saker_containers_new(&c, &o), 0);
	return c;
}

/* An OCI spec as containerd's CRI plugin writes it into the task bundle (trimmed). */
static const char containerd_cri[] =
    "{\"ociVersion\":\"1.1.0\",\"process\":{\"user\":{\"uid\":0,\"gid\":0},"
    "\"args\":[\"/bin/sh\"],\"cwd\":\"/\",\"capabilities\":{\"bounding\":[\"CAP_CHOWN\","
    "\"CAP_NET_RAW\"],\"effective\":[\"CAP_CHOWN\"]}},\"root\":{\"path\":\"rootfs\"},"
    "\"annotations\":{\"io.kubernetes.cri.container-name\":\"web\","
    "\"io.kubernetes.cri.container-type\":\"container\","
    "\"io.kubernetes.cri.image-name\":\"registry.example:5000/team/nginx:1.25.3\","
    "\"io.kubernetes.cri.sandbox-id\":\"" SID "\","
    "\"io.kubernetes.cri.sandbox-name\":\"web-7d9f\","
    "\"io.kubernetes.cri.sandbox-namespace\":\"shop\","
    "\"io.kubernetes.cri.sandbox-uid\":\"0b1c2d3e-aaaa-bbbb-cccc-123456789abc\"},"
    "\"linux\":{\"cgroupsPath\":\"/kubepods/besteffort/pod0b1c2d3e-aaaa-bbbb-cccc-123456789abc/" CID
    "\",\"seccomp\":{\"defaultAction\":\"SCMP_ACT_ERRNO\"}}}";

static void test_containerd_cri(void **state)
{
	struct saker_containers *c;
	const struct saker_container *m;
	struct saker_containers_stats st;
	int err;

	(void)state;
	put("containerd/k8s.io/" CID "/config.json", containerd_cri);
	c = open_roots(0);
	/* namespace given, and not given (every namespace directory is looked in) */
	m = saker_containers_learn(c, SAKER_CTR_RT_CONTAINERD, "k8s.io", CID, &err);
	assert_non_null(m);
	assert_int_equal(err, 0);
	assert_true(m->found);
	assert_int_equal(m->runtime, SAKER_CTR_RT_CONTAINERD);
	assert_string_equal(m->id, "4f7a1c2b3d4e");
	assert_string_equal(m->full_id, CID);
	assert_string_equal(m->name, "web");
	assert_string_equal(m->image, "registry.example:5000/team/nginx:1.25.3");
	assert_string_equal(m->image_repo, "registry.example:5000/team/nginx");
	assert_string_equal(m->image_tag, "1.25.3");
	assert_null(m->image_digest);
	assert_string_equal(m->pod_name, "web-7d9f");
	assert_string_equal(m->pod_ns, "shop");
	assert_string_equal(m->pod_uid, "0b1c2d3e-aaaa-bbbb-cccc-123456789abc");
	assert_string_equal(m->sandbox_id, SID);
	assert_string_equal(m->ns, "k8s.io");
	assert_false(m->sandbox);
	assert_int_equal(m->privileged, 0);
	assert_true(m->start_ns > 0);
	/* cached: by full and short id, nothing read again */
	assert_ptr_equal(saker_containers_get(c, CID), m);
	assert_ptr_equal(saker_containers_get(c, "4f7a1c2b3d4e"), m);
	assert_ptr_equal(saker_containers_learn(c, SAKER_CTR_RT_UNKNOWN, NULL, CID, NULL), m);
	saker_containers_get_stats(c, &st);
	assert_int_equal(st.reads, 1);
	assert_int_equal(st.entries, 1);
	assert_int_equal(saker_containers_forget(c, CID), 0);
	/* unknown runtime and namespace: found by looking */
	m = saker_containers_learn(c, SAKER_CTR_RT_UNKNOWN, NULL, CID, &err);
	assert_non_null(m);
	assert_true(m->found);
	assert_int_equal(m->runtime, SAKER_CTR_RT_CONTAINERD);
	assert_string_equal(m->ns, "k8s.io");
	assert_string_equal(m->pod_name, "web-7d9f");
	saker_containers_free(c);
}

static void test_privileged_oci(void **state)
{
	struct saker_containers *c;
	const struct saker_container *m;
	char spec[8192];
	size_t n;

	(void)state;
	n = (size_t)snprintf(spec, sizeof(spec), "{\"process\":{\"capabilities\":{\"bounding\":[");
	for (int i = 0; i <= 40; i++)
		n += (size_t)snprintf(spec + n, sizeof(spec) - n, "%s\"CAP_%d\"", i ? "," : "", i);
	snprintf(spec + n, sizeof(spec) - n, "]}},\"annotations\":{}}");
	put("containerd/default/priv1/config.json", spec);
	/* the same spec with a seccomp profile is not privileged */
	spec[strlen(spec) - 1] = '\0';
	strcat(spec, ",\"linux\":{\"seccomp\":{}}}");
	put("containerd/default/priv2/config.json", spec);
	put("containerd/default/nocaps/config.json", "{\"process\":{}}");
	c = open_roots(0);
	m = saker_containers_learn(c, SAKER_CTR_RT_CONTAINERD, NULL, "priv1", NULL);
	assert_int_equal(m->privileged, 1);
	assert_null(m->name);
	assert_null(m->pod_name);
	assert_string_equal(m->id, "priv1");
	m = saker_containers_learn(c, SAKER_CTR_RT_CONTAINERD, "default", "priv2", NULL);
	assert_int_equal(m->privileged, 0);
	m = saker_containers_learn(c, SAKER_CTR_RT_CONTAINERD, "default", "nocaps", NULL);
	assert_true(m->found);
	assert_int_equal(m->privileged, -1);
	saker_containers_free(c);
}

static void test_crio(void **state)
{
	struct saker_containers *c;
	const struct saker_container *m;

	(void)state;
	put("crio/" SID "/userdata/config.json",
	    "{\"annotations\":{\"io.kubernetes.cri-o.ContainerType\":\"sandbox\","
	    "\"io.kubernetes.pod.name\":\"api-0\",\"io.kubernetes.pod.namespace\":\"prod\","
	    "\"io.kubernetes.pod.uid\":\"1111-2222\",\"io.kubernetes.cri-o.Labels\":"
	    "\"{\\\"app\\\":\\\"api\\\",\\\"tier\\\":\\\"backend\\\",\\\"io.kubernetes.pod."
	    "name\\\":"
	    "\\\"api-0\\\"}\"}}");
	put("crio/" CID "/userdata/config.json",
	    "{\"process\":{\"capabilities\":{\"bounding\":[\"CAP_CHOWN\"]}},"
	    "\"annotations\":{\"io.kubernetes.cri-o.ContainerType\":\"container\","
	    "\"io.kubernetes.container.name\":\"api\",\"io.kubernetes.pod.name\":\"api-0\","
	    "\"io.kubernetes.pod.namespace\":\"prod\",\"io.kubernetes.pod.uid\":\"1111-2222\","
	    "\"io.kubernetes.cri-o.ImageName\":\"quay.io/acme/api@sha256:0123abcd\","
	    "\"io.kubernetes.cri-o.ImageRef\":\"sha256:feedface\","
	    "\"io.kubernetes.cri-o.Created\":\"2024-05-01T10:00:00.5+02:00\","
	    "\"io.kubernetes.cri-o.SandboxID\":\"" SID "\"}}");
	c = open_roots(0);
	m = saker_containers_learn(c, SAKER_CTR_RT_CRIO, NULL, CID, NULL);
	assert_true(m->found);
	assert_int_equal(m->runtime, SAKER_CTR_RT_CRIO);
	assert_string_equal(m->name, "api");
	assert_string_equal(m->pod_name, "api-0");
	assert_string_equal(m->pod_ns, "prod");
	assert_string_equal(m->pod_uid, "1111-2222");
	assert_string_equal(m->image_repo, "quay.io/acme/api");
	assert_null(m->image_tag);
	assert_string_equal(m->image_digest, "sha256:0123abcd");
	assert_string_equal(m->image_id, "feedface");
	assert_string_equal(m->sandbox_id, SID);
	/* 2024-05-01T08:00:00.5Z */
	assert_true(m->start_ns == 1714550400ull * 1000000000ull + 500000000ull);
	/* pod labels come from the sandbox's file, sorted */
	assert_int_equal(m->nlabels, 3);
	assert_string_equal(m->labels[0].key, "app");
	assert_string_equal(m->labels[0].value, "api");
	assert_string_equal(m->labels[2].key, "tier");
	assert_string_equal(m->labels_str, "app:api, io.kubernetes.pod.name:api-0, tier:backend");
	assert_int_equal(m->privileged, 0);
	/* unknown runtime: containerd has no such id (any more), cri-o has */
	{
		char p[4096];

		snprintf(p, sizeof(p), "%s/containerd/k8s.io/" CID "/config.json", base);
		unlink(p);
	}
	assert_int_equal(saker_containers_forget(c, CID), 0);
	m = saker_containers_learn(c, SAKER_CTR_RT_UNKNOWN, NULL, CID, NULL);
	assert_int_equal(m->runtime, SAKER_CTR_RT_CRIO);
	saker_containers_free(c);
}

static void test_docker_and_podman(void **state)
{
	struct saker_containers *c;
	const struct saker_container *m;

	(void)state;
	put("docker/" DID "/config.v2.json",
	    "{\"ID\":\"" DID "\",\"Created\":\"2025-01-02T03:04:05.000000006Z\","
	    "\"Name\":\"/happy_turing\",\"Image\":\"sha256:abcdef0123\","
	    "\"State\":{\"Running\":true,\"StartedAt\":\"2025-01-02T03:04:06Z\"},"
	    "\"Config\":{\"Image\":\"busybox\",\"Labels\":{}}}");
	put("docker/" DID "/hostconfig.json", "{\"Privileged\":true,\"NetworkMode\":\"default\"}");
	put("podman/" PID "/userdata/config.json",
	    "{\"process\":{\"capabilities\":{\"bounding\":[\"CAP_CHOWN\"]}},"
	    "\"annotations\":{\"io.container.manager\":\"libpod\"}}");
	put("podman/containers.json", "[{\"id\":\"" PID "\",\"names\":[\"pm1\"],\"image\":\"77aa\","
				      "\"metadata\":\"{\\\"image-name\\\":\\\"docker.io/library/"
				      "alpine:3.19\\\",\\\"name\\\":\\\"pm1\\\"}\","
				      "\"created\":\"2025-02-03T04:05:06Z\"}]");
	c = open_roots(0);
	m = saker_containers_learn(c, SAKER_CTR_RT_DOCKER, NULL, DID, NULL);
	assert_true(m->found);
	assert_string_equal(m->name, "happy_turing");
	assert_string_equal(m->image, "busybox");
	assert_string_equal(m->image_repo, "busybox");
	assert_string_equal(m->image_tag, "latest");
	assert_string_equal(m->image_id, "abcdef0123");
	assert_int_equal(m->privileged, 1);
	assert_true(m->start_ns == 1735787045ull * 1000000000ull + 6);
	assert_null(m->pod_name);
	m = saker_containers_learn(c, SAKER_CTR_RT_UNKNOWN, NULL, PID, NULL);
	assert_true(m->found);
	assert_int_equal(m->runtime, SAKER_CTR_RT_PODMAN);
	assert_string_equal(m->name, "pm1");
	assert_string_equal(m->image_repo, "docker.io/library/alpine");
	assert_string_equal(m->image_tag, "3.19");
	assert_string_equal(m->image_id, "77aa");
	assert_int_equal(m->privileged, 0);
	saker_containers_free(c);
}

static void test_not_found_bad_and_gone(void **state)
{
	struct saker_containers *c;
	const struct saker_container *m;
	struct saker_containers_stats st;
	int err;

	(void)state;
	put("docker/badjson/config.v2.json", "{\"ID\": ");
	put("docker/gone1/config.v2.json", "{\"Name\":\"/g\"}");
	c = open_roots(0);
	m = saker_containers_learn(c, SAKER_CTR_RT_UNKNOWN, NULL, "nosuch", &err);
	assert_non_null(m);
	assert_false(m->found);
	assert_null(m->name);
	assert_int_equal(m->privileged, -1);
	m = saker_containers_learn(c, SAKER_CTR_RT_DOCKER, NULL, "badjson", &err);
	assert_false(m->found);
	assert_null(saker_containers_learn(c, SAKER_CTR_RT_DOCKER, NULL, "../etc", &err));
	assert_int_equal(err, -EINVAL);
	assert_null(saker_containers_learn(c, SAKER_CTR_RT_DOCKER, NULL, "", &err));
	m = saker_containers_learn(c, SAKER_CTR_RT_DOCKER, NULL, "gone1", &err);
	assert_string_equal(m->name, "g");
	saker_containers_get_stats(c, &st);
	assert_int_equal(st.not_found, 1);
	assert_int_equal(st.read_errors, 1);
	/* the container is removed: the sweep forgets it; not-found ones get one more look */
	{
		char p[4096];

		snprintf(p, sizeof(p), "%s/docker/gone1/config.v2.json", base);
		assert_int_equal(unlink(p), 0);
	}
	assert_int_equal(saker_containers_sweep(c), 1);
	assert_null(saker_containers_peek(c, "gone1"));
	assert_non_null(saker_containers_peek(c, "nosuch"));
	assert_int_equal(saker_containers_sweep(c), 2);
	assert_null(saker_containers_peek(c, "nosuch"));
	saker_containers_get_stats(c, &st);
	assert_int_equal(st.forgotten, 3);
	assert_int_equal(st.entries, 0);
	saker_containers_free(c);
	saker_containers_free(NULL);
}

static void test_lru_bound_and_refresh(void **state)
{
	struct saker_containers *c;
	const struct saker_container *m;
	struct saker_containers_stats st;
	char id[32];

	(void)state;
	put("docker/r1/config.v2.json", "{\"Name\":\"/before\"}");
	c = open_roots(4);
	for (int i = 0; i < 10; i++) {
		snprintf(id, sizeof(id), "c%d", i);
		assert_non_null(saker_containers_learn(c, SAKER_CTR_RT_DOCKER, NULL, id, NULL));
		/* c0 is used all along: it stays */
		assert_non_null(saker_containers_get(c, "c0"));
	}
	saker_containers_get_stats(c, &st);
	assert_int_equal(st.entries, 4);
	assert_int_equal(st.evictions, 6);
	assert_non_null(saker_containers_peek(c, "c0"));
	assert_null(saker_containers_peek(c, "c1"));
	assert_non_null(saker_containers_peek(c, "c9"));
	m = saker_containers_learn(c, SAKER_CTR_RT_DOCKER, NULL, "r1", NULL);
	assert_string_equal(m->name, "before");
	put("docker/r1/config.v2.json", "{\"Name\":\"/after\"}");
	assert_int_equal(saker_containers_refresh(c, "r1"), 0);
	assert_string_equal(saker_containers_peek(c, "r1")->name, "after");
	assert_int_equal(saker_containers_refresh(c, "zz"), -ENOENT);
	saker_containers_free(c);
}

static void test_short_id_and_cgroup_hints(void **state)
{
	struct saker_containers *c;
	const struct saker_container *m;

	(void)state;
	put("docker/" DID "/config.v2.json", "{\"Name\":\"/short\"}");
	put("containerd/k8s.io/" PID "/config.json",
	    "{\"annotations\":{\"io.kubernetes.cri.container-name\":\"viabundle\"}}");
	c = open_roots(0);
	/* a short id: the one directory it begins is the full id */
	m = saker_containers_learn_as(c, SAKER_CTR_RT_UNKNOWN, NULL, "aa11bb22cc33", NULL, NULL,
				      NULL);
	assert_true(m->found);
	assert_string_equal(m->full_id, DID);
	assert_string_equal(m->name, "short");
	assert_string_equal(m->type, "docker");
	m = saker_containers_learn_as(c, SAKER_CTR_RT_UNKNOWN, NULL, "bb11bb22cc33", NULL, NULL,
				      NULL);
	assert_string_equal(m->full_id, PID);
	assert_string_equal(m->type, "containerd");
	assert_string_equal(m->name, "viabundle");
	/* the cgroup said cri-o (kubepods folders) but containerd has the files: theirs */
	assert_int_equal(saker_containers_forget(c, PID), 0);
	m = saker_containers_learn_as(c, SAKER_CTR_RT_CRIO, NULL, PID, "cri-o", "pod-9", NULL);
	assert_int_equal(m->runtime, SAKER_CTR_RT_CONTAINERD);
	assert_string_equal(m->pod_uid, "pod-9");
	/* no runtime's files: what the cgroup told stays */
	m = saker_containers_learn_as(c, SAKER_CTR_RT_UNKNOWN, NULL, "lxcbox", "lxc", "", NULL);
	assert_false(m->found);
	assert_string_equal(m->type, "lxc");
	assert_null(m->pod_uid);
	saker_containers_free(c);
}

static void test_image_split_and_names(void **state)
{
	char a[] = "nginx", b[] = "localhost:5000/x/y:v1@sha256:00", d[] = "a/b@sha256:11";
	const char *r, *t, *g;

	(void)state;
	saker_ctr_image_split(a, &r, &t, &g);
	assert_string_equal(r, "nginx");
	assert_null(t);
	assert_null(g);
	saker_ctr_image_split(b, &r, &t, &g);
	assert_string_equal(r, "localhost:5000/x/y");
	assert_string_equal(t, "v1");
	assert_string_equal(g, "sha256:00");
	saker_ctr_image_split(d, &r, &t, &g);
	assert_string_equal(r, "a/b");
	assert_null(t);
	assert_string_equal(saker_ctr_runtime_name(SAKER_CTR_RT_CRIO), "cri-o");
	assert_int_equal(saker_ctr_runtime_parse("crio"), SAKER_CTR_RT_CRIO);
	assert_int_equal(saker_ctr_runtime_parse("containerd"), SAKER_CTR_RT_CONTAINERD);
	assert_int_equal(saker_ctr_runtime_parse("lxc"), SAKER_CTR_RT_UNKNOWN);
	assert_null(saker_ctr_runtime_name(SAKER_CTR_RT_UNKNOWN));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_containerd_cri),
	    cmocka_unit_test(test_privileged_oci),
	    cmocka_unit_test(test_crio),
	    cmocka_unit_test(test_docker_and_podman),
	    cmocka_unit_test(test_not_found_bad_and_gone),
	    cmocka_unit_test(test_lru_bound_and_refresh),
	    cmocka_unit_test(test_short_id_and_cgroup_hints),
	    cmocka_unit_test(test_image_split_and_names),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
