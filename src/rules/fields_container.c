/*
 * The container and k8s field classes, with Falco's container plugin's
 * names and formats. container.id comes from the cgroup (lib/ctrmatch.h);
 * the rest from the runtime's files (state/containers.h), read once per
 * container at its first exec: extraction is a cache lookup, never a file
 * read. What a runtime's files do not hold has no value (docs/containers.md).
 */
#include <string.h>

#include "event/event.h"
#include "rules/fields_class.h"
#include "state/view.h"

#define REQ  SAKER_FF_ARG_REQUIRED
#define IDX  SAKER_FF_ARG_INDEX
#define PLG  (SAKER_FF_PLUGIN | SAKER_FF_NEVER)
#define T(x) SAKER_FT_##x

static const char R_PLUGIN[] = "Falco's container plugin asks the runtime's socket; saker reads "
			       "the runtime's files, which do not hold it";
static const char R_K8S[] = "Falco's k8s metadata; the runtime's files do not hold it";

enum {
	S_FULL_ID = 0,
	S_NAME,
	S_IMAGE,
	S_IMAGE_ID,
	S_IMAGE_REPO,
	S_IMAGE_TAG,
	S_IMAGE_DIGEST,
	S_TYPE,
	S_PRIVILEGED,
	S_START_TS,
	S_DURATION,
	S_POD_NAME,
	S_POD_NS,
	S_POD_UID,
	S_SANDBOX_ID,
	S_FULL_SANDBOX_ID,
	S_POD_LABEL,
	S_POD_LABELS,
};

static bool on_host(const struct saker_proc *p)
{
	return !strcmp(p->container_id, "host");
}

static int container_id(struct saker_fctx *c, const struct saker_finst *fi, struct saker_fval *v)
{
	const struct saker_proc *p = saker_fctx_proc(c);

	(void)fi;
	return p && *p->container_id ? saker_fval_cstr(v, p->container_id) : 0;
}

static int pod_label(const struct saker_container *m, const char *key, struct saker_fval *v)
{
	for (size_t i = 0; key && i < m->nlabels; i++)
		if (!strcmp(m->labels[i].key, key))
			return saker_fval_cstr(v, m->labels[i].value);
	return 0;
}

/* Every field of the container's metadata (fi->sel says which). */
static int ctr_field(struct saker_fctx *c, const struct saker_finst *fi, struct saker_fval *v)
{
	const struct saker_proc *p = saker_fctx_proc(c);
	const struct saker_container *m;

	if (!p || !*p->container_id)
		return 0;
	if (on_host(p)) {
		/* the plugin's host entry: these three say host, the rest have no value */
		if (fi->sel == S_FULL_ID || fi->sel == S_NAME || fi->sel == S_TYPE)
			return saker_fval_str(v, "host", 4);
		return 0;
	}
	m = saker_view_container(c->view, p);
	if (!m)
		return 0;
	switch (fi->sel) {
	case S_FULL_ID:
		return saker_fval_cstr(v, m->full_id);
	case S_NAME:
		return saker_fval_cstr(v, m->name);
	case S_IMAGE:
		return saker_fval_cstr(v, m->image);
	case S_IMAGE_ID:
		return saker_fval_cstr(v, m->image_id);
	case S_IMAGE_REPO:
		return saker_fval_cstr(v, m->image_repo);
	case S_IMAGE_TAG:
		return saker_fval_cstr(v, m->image_tag);
	case S_IMAGE_DIGEST:
		return saker_fval_cstr(v, m->image_digest);
	case S_TYPE:
		return saker_fval_cstr(v, m->type);
	case S_PRIVILEGED:
		if (m->privileged < 0)
			return 0;
		v->u = (uint64_t)m->privileged;
		return 1;
	case S_START_TS:
		if (!m->start_ns)
			return 0;
		v->u = m->start_ns;
		return 1;
	case S_DURATION: {
		uint64_t now = c->ev->hdr.ts_ns + c->boot_offset_ns;

		if (!m->start_ns || now < m->start_ns)
			return 0;
		v->u = now - m->start_ns;
		return 1;
	}
	case S_POD_NAME:
		return saker_fval_cstr(v, m->pod_name);
	case S_POD_NS:
		return saker_fval_cstr(v, m->pod_ns);
	case S_POD_UID:
		return saker_fval_cstr(v, m->pod_uid);
	case S_SANDBOX_ID:
		/* Falco's 12 characters */
		if (!m->sandbox_id)
			return 0;
		return saker_fval_str(v, m->sandbox_id, strnlen(m->sandbox_id, 12));
	case S_FULL_SANDBOX_ID:
		return saker_fval_cstr(v, m->sandbox_id);
	case S_POD_LABEL:
		return pod_label(m, fi->arg, v);
	case S_POD_LABELS:
		return m->nlabels ? saker_fval_cstr(v, m->labels_str) : 0;
	default:
		return 0;
	}
}

/* clang-format off */
static const struct saker_field_row rows[] = {
	{{"container.id", T(STR), 0, "Container id (first 12 characters), from the cgroup; host on the host", NULL}, container_id, 0, 2},
	{{"container.full_id", T(STR), 0, "Container id, whole; host on the host", NULL}, ctr_field, S_FULL_ID, 3},
	{{"container.name", T(STR), 0, "Container name (the runtime's; a pod container's from its CRI annotation); host on the host", NULL}, ctr_field, S_NAME, 3},
	{{"container.image", T(STR), 0, "Image as the runtime names it (repository[:tag][@digest])", NULL}, ctr_field, S_IMAGE, 3},
	{{"container.image.id", T(STR), 0, "Image id without sha256: (docker, CRI-O, podman)", NULL}, ctr_field, S_IMAGE_ID, 3},
	{{"container.image.repository", T(STR), 0, "Image repository", NULL}, ctr_field, S_IMAGE_REPO, 3},
	{{"container.image.tag", T(STR), 0, "Image tag (latest when the image is named without tag or digest)", NULL}, ctr_field, S_IMAGE_TAG, 3},
	{{"container.image.digest", T(STR), 0, "Image digest, when the image is named by one", NULL}, ctr_field, S_IMAGE_DIGEST, 3},
	{{"container.type", T(STR), 0, "Runtime: docker, containerd, cri-o, podman, lxc, ...; host on the host", NULL}, ctr_field, S_TYPE, 3},
	{{"container.privileged", T(BOOL), 0, "Privileged container (docker: HostConfig.Privileged; OCI spec: every capability and no seccomp)", NULL}, ctr_field, S_PRIVILEGED, 3},
	{{"container.start_ts", T(ABSTIME), 0, "Container creation time", NULL}, ctr_field, S_START_TS, 3},
	{{"container.duration", T(RELTIME), 0, "Time since the container was created", NULL}, ctr_field, S_DURATION, 3},
	{{"container.mounts", T(STR), PLG, "Container mounts", R_PLUGIN}, NULL, 0, 1},
	{{"container.mount", T(STR), PLG | IDX, "A container mount", R_PLUGIN}, NULL, 0, 1},
	{{"container.label", T(STR), PLG | REQ, "A container label", R_PLUGIN}, NULL, 0, 1},
	{{"container.labels", T(STR), PLG, "Container labels", R_PLUGIN}, NULL, 0, 1},
	{{"container.healthcheck", T(STR), PLG, "Container health check", R_PLUGIN}, NULL, 0, 1},
	{{"container.liveness_probe", T(STR), PLG, "Container liveness probe", R_PLUGIN}, NULL, 0, 1},
	{{"container.readiness_probe", T(STR), PLG, "Container readiness probe", R_PLUGIN}, NULL, 0, 1},
	{{"container.ip", T(STR), PLG, "Container IP", R_PLUGIN}, NULL, 0, 1},
	{{"container.cni.json", T(STR), PLG, "Container CNI result", R_PLUGIN}, NULL, 0, 1},
	{{"k8s.ns.name", T(STR), 0, "Kubernetes namespace of the pod", NULL}, ctr_field, S_POD_NS, 3},
	{{"k8s.pod.name", T(STR), 0, "Kubernetes pod name", NULL}, ctr_field, S_POD_NAME, 3},
	{{"k8s.pod.id", T(STR), 0, "Kubernetes pod uid (legacy name)", NULL}, ctr_field, S_POD_UID, 3},
	{{"k8s.pod.uid", T(STR), 0, "Kubernetes pod uid", NULL}, ctr_field, S_POD_UID, 3},
	{{"k8s.pod.sandbox_id", T(STR), 0, "Pod sandbox id (first 12 characters)", NULL}, ctr_field, S_SANDBOX_ID, 3},
	{{"k8s.pod.full_sandbox_id", T(STR), 0, "Pod sandbox id", NULL}, ctr_field, S_FULL_SANDBOX_ID, 3},
	{{"k8s.pod.label", T(STR), REQ, "A pod label (CRI-O: its sandbox's labels; not in containerd's or docker's files)", NULL}, ctr_field, S_POD_LABEL, 3},
	{{"k8s.pod.labels", T(STR), 0, "Pod labels, key:value, comma separated (CRI-O)", NULL}, ctr_field, S_POD_LABELS, 3},
	{{"k8s.pod.ip", T(STR), PLG, "Kubernetes pod IP", R_K8S}, NULL, 0, 1},
	{{"k8s.pod.cni.json", T(STR), PLG, "Kubernetes pod CNI result", R_K8S}, NULL, 0, 1},
};
/* clang-format on */

const struct saker_field_class saker_fclass_container = SAKER_FIELD_CLASS("container", rows);
