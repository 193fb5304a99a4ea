/*
 * Container and pod metadata without a runtime socket: what the runtimes
 * write on disk, read once per container (at its first exec, never on the
 * per-event path), cached, bounded and forgotten when the container is gone.
 *
 *   containerd  <root>/<namespace>/<id>/config.json: the task bundle's OCI
 *               spec; the CRI plugin's annotations io.kubernetes.cri.*
 *               (container-name, sandbox-name, sandbox-namespace,
 *               sandbox-uid, sandbox-id, image-name, container-type)
 *   cri-o       <root>/<id>/userdata/config.json: io.kubernetes.pod.*,
 *               io.kubernetes.container.name, io.kubernetes.cri-o.*
 *               (ImageName, ImageRef, Labels, Created, SandboxID,
 *               ContainerType); pod labels from the sandbox's own file
 *   docker      <root>/<id>/config.v2.json and hostconfig.json
 *   podman      <root>/<id>/userdata/config.json and <root>/containers.json
 *               (name, image)
 *
 * container.privileged: docker's HostConfig.Privileged; for an OCI spec
 * (containerd, cri-o, podman) true when the process's bounding set holds
 * every capability the kernel has and linux.seccomp is absent, false
 * otherwise, unknown when the spec has no process.capabilities.
 *
 * Single-threaded, like the view that owns it.
 */
#ifndef SAKER_CONTAINERS_H
#define SAKER_CONTAINERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SAKER_CTR_ID_MAX       128 /* a full id (64 hex, or a containerd name) */
#define SAKER_CTR_DEFAULT_MAX  4096
#define SAKER_CTR_LABELS_MAX   64 /* pod labels kept per container */
#define SAKER_CTR_FILE_MAX     (4u << 20)
#define SAKER_CTR_SHORT_ID_LEN 12

enum saker_ctr_runtime {
	SAKER_CTR_RT_UNKNOWN = 0, /* look in every runtime's root */
	SAKER_CTR_RT_DOCKER,
	SAKER_CTR_RT_CONTAINERD,
	SAKER_CTR_RT_CRIO,
	SAKER_CTR_RT_PODMAN,
	SAKER_CTR_RT_COUNT,
};

/* Falco's container.type for a runtime ("docker", "containerd", "cri-o", "podman"); NULL unknown.
 */
const char *saker_ctr_runtime_name(enum saker_ctr_runtime rt);
/* The reverse ("crio" too); SAKER_CTR_RT_UNKNOWN for anything else. */
enum saker_ctr_runtime saker_ctr_runtime_parse(const char *name);

struct saker_ctr_label {
	const char *key, *value;
};

/* What is not known is NULL (strings), -1 (privileged) or 0 (start_ns). */
struct saker_container {
	char full_id[SAKER_CTR_ID_MAX + 1];
	char id[SAKER_CTR_SHORT_ID_LEN + 1];
	enum saker_ctr_runtime runtime; /* where the files were found; UNKNOWN when not found */
	bool found;			/* a metadata file was read */
	bool sandbox;			/* a pod's sandbox (pause) container */
	int privileged;			/* 1, 0, -1 unknown */
	uint64_t start_ns;		/* creation, ns since the epoch */
	const char *name;
	const char *image; /* as the runtime names it: repo[:tag][@digest] */
	const char *image_repo, *image_tag, *image_digest;
	const char *image_id; /* without "sha256:" as Falco shows it */
	const char *pod_name, *pod_ns, *pod_uid, *sandbox_id;
	const char *ns;			      /* containerd namespace */
	const struct saker_ctr_label *labels; /* pod labels, sorted by key */
	size_t nlabels;
	const char *labels_str; /* "k:v, k:v" (Falco's k8s.pod.labels) */
	const char *source;	/* the file read, NULL when nothing found */
	const char *type;	/* Falco's container.type: the runtime's, else the cgroup's */
};

struct saker_containers_opts {
	size_t max;			      /* 0 = SAKER_CTR_DEFAULT_MAX; at least 1 */
	const char *root[SAKER_CTR_RT_COUNT]; /* NULL = the runtime's default root */
	bool disabled[SAKER_CTR_RT_COUNT];    /* a runtime not looked at */
	unsigned cap_last;		      /* 0 = /proc/sys/kernel/cap_last_cap (else 40) */
};

/* The default root of each runtime's files. */
const char *saker_ctr_default_root(enum saker_ctr_runtime rt);

struct saker_containers_stats {
	uint64_t entries;
	uint64_t max_entries;
	uint64_t reads;	      /* containers whose files were read (learn, refresh) */
	uint64_t not_found;   /* of which no runtime had files for */
	uint64_t read_errors; /* files present but unreadable or not JSON */
	uint64_t evictions;   /* LRU, past max */
	uint64_t forgotten;   /* gone: their files removed (sweep) or forget() */
	uint64_t lookups, misses;
};

struct saker_containers;

int saker_containers_new(struct saker_containers **out, const struct saker_containers_opts *o);
void saker_containers_free(struct saker_containers *c);

/*
 * The cached entry of a container (its full id, or the 12-character short
 * id), marked most recently used; NULL when never learned. No file is read.
 */
const struct saker_container *saker_containers_get(struct saker_containers *c, const char *id);
/* The same without reordering or counting. */
const struct saker_container *saker_containers_peek(const struct saker_containers *c,
						    const char *id);
/*
 * The entry for full_id, read from the runtime's files the first time
 * (runtime UNKNOWN: every enabled runtime is tried; ns: containerd's
 * namespace or NULL for any). An id no runtime has files for is cached as
 * not found (found false) until refreshed. NULL only on -ENOMEM or an
 * empty/oversized id (*err, when not NULL, says which).
 */
const struct saker_container *saker_containers_learn(struct saker_containers *c,
						     enum saker_ctr_runtime rt, const char *ns,
						     const char *full_id, int *err);
/*
 * The same with what the cgroup told (lib/ctrmatch.h): type (Falco's
 * container.type, kept when no runtime's files are found) and the pod uid
 * (when the files give none); either may be NULL. A full_id of exactly 12
 * characters that no runtime has a directory for is taken as a short id:
 * the roots are searched for the one full id it begins (docker, cri-o,
 * podman: <root>/<full id>; containerd: <root>/<ns>/<full id>).
 */
const struct saker_container *saker_containers_learn_as(struct saker_containers *c,
							enum saker_ctr_runtime rt, const char *ns,
							const char *full_id, const char *type,
							const char *pod_uid, int *err);
/* Reads the files again (resync after a loss). 0, -ENOENT when not cached, -ENOMEM. */
int saker_containers_refresh(struct saker_containers *c, const char *id);
/* Drops the entry (its container is gone). 0 or -ENOENT. */
int saker_containers_forget(struct saker_containers *c, const char *id);
/*
 * Forgets every entry whose metadata file is gone (off the event path:
 * one stat per entry); not-found entries are retried once. How many were forgotten.
 */
size_t saker_containers_sweep(struct saker_containers *c);
void saker_containers_get_stats(const struct saker_containers *c,
				struct saker_containers_stats *st);

/* Splits an image reference into repository, tag and digest, as Falco does (in place: NULs). */
void saker_ctr_image_split(char *image, const char **repo, const char **tag, const char **digest);

#endif
