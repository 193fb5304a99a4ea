/*
 * Runtime matchers: from a cgroup path to the container a process runs in.
 *
 * One table, one row per layout a runtime gives its containers' cgroups
 * (docs/containers.md lists them with real paths): docker, containerd
 * (CRI and plain), CRI-O, podman, LXC, systemd-nspawn/libvirt-lxc, and the
 * kubepods slices and folders that carry a pod's uid and QoS class. The
 * components of the path are tried innermost first; the first component a
 * row claims is the container (so a container nested in another is the
 * inner one, and a cgroup a container made below its own still belongs to
 * it). Nothing claimed: the host.
 *
 * The path may be whole ("/kubepods/burstable/pod<uid>/<id>") or only its
 * last components, as the probe sends them: a path that does not start
 * with '/' is such a suffix, and rows that need to know the depth (plain
 * containerd's "/<namespace>/<id>") do not match it. Pure functions, no
 * allocation, no I/O.
 */
#ifndef SAKER_CTRMATCH_H
#define SAKER_CTRMATCH_H

#include <stdbool.h>
#include <stddef.h>

#define SAKER_CTR_SHORT_ID_LEN 12  /* container.id: Falco's 12 characters */
#define SAKER_CTR_FULL_ID_MAX  128 /* container.full_id: 64 hex digits, or a name */
#define SAKER_CTR_POD_UID_MAX  64  /* k8s.pod.uid as the kubelet writes it (dashes) */

enum saker_ctr_type {
	SAKER_CTR_HOST = 0,
	SAKER_CTR_DOCKER,
	SAKER_CTR_CONTAINERD, /* CRI (kubepods) or plain ("/<namespace>/<id>") */
	SAKER_CTR_CRIO,
	SAKER_CTR_PODMAN,
	SAKER_CTR_LXC,
	SAKER_CTR_LIBVIRT_LXC,
	SAKER_CTR_NSPAWN,
	SAKER_CTR_TYPES,
};

enum saker_k8s_qos {
	SAKER_QOS_NONE = 0, /* not in a pod */
	SAKER_QOS_GUARANTEED,
	SAKER_QOS_BURSTABLE,
	SAKER_QOS_BESTEFFORT,
};

struct saker_ctr_match {
	enum saker_ctr_type type;
	enum saker_k8s_qos qos;
	/* "host" on the host; the first 12 characters of full_id in a container */
	char id[SAKER_CTR_SHORT_ID_LEN + 1];
	char full_id[SAKER_CTR_FULL_ID_MAX + 1]; /* "" on the host */
	char pod_uid[SAKER_CTR_POD_UID_MAX + 1]; /* "" outside a pod */
	char ns[SAKER_CTR_FULL_ID_MAX + 1];	 /* plain containerd's namespace, else "" */
	const char *row; /* the table row that matched (tests, --dump), NULL on the host */
};

/*
 * Matches one cgroup path (not NUL-terminated: len bounds it). Always fills
 * *m; returns true when a container was found. A process of a pod that is
 * in no container's cgroup (the pod's own slice) stays on the host but gets
 * pod_uid and qos.
 */
bool saker_ctr_match_path(const char *path, size_t len, struct saker_ctr_match *m);

/* The path part of a /proc/<pid>/cgroup line ("<id>:controllers:path"), or the whole
 * line when it does not start with a hierarchy id. */
void saker_ctr_line_path(const char *line, size_t len, const char **path, size_t *plen);

/*
 * The content of /proc/<pid>/cgroup ("hierarchy:controllers:path" lines):
 * the cgroup v2 line ("0::") first, then the v1 lines in file order; the
 * first line that names a container wins. len bounds content.
 */
bool saker_ctr_match_proc(const char *content, size_t len, struct saker_ctr_match *m);

/*
 * The cgroup path from the names the probe sends (SAKER_PN_CGROUP: kernfs
 * names innermost first, each NUL-terminated, len bytes) and the cgroup's
 * level: "/a/b/c" when the names reach the root (level <= their number),
 * else the suffix "b/c" (no leading '/'), as saker_ctr_match_path() takes
 * it; "/" for level 0. snprintf semantics; -EINVAL on NULL out.
 */
int saker_ctr_path_from_names(const char *names, size_t len, unsigned level, char *out,
			      size_t size);

/* Falco's container.type ("host", "docker", "containerd", "cri-o", "podman", "lxc", ...). */
const char *saker_ctr_type_name(enum saker_ctr_type t);
/* "guaranteed", "burstable", "besteffort", or "" */
const char *saker_k8s_qos_name(enum saker_k8s_qos q);

#endif
