/*
 * The container and k8s field classes. saker knows a process's container id
 * from its cgroup; everything Falco's container and k8s plugins add (image,
 * labels, pods) is known here but has no value yet (SAKER_FF_PLUGIN rows).
 */
#include <string.h>

#include "rules/fields_class.h"
#include "state/view.h"

#define REQ  SAKER_FF_ARG_REQUIRED
#define IDX  SAKER_FF_ARG_INDEX
#define PLG  (SAKER_FF_PLUGIN | SAKER_FF_NEVER)
#define T(x) SAKER_FT_##x

static const char R_PLUGIN[] = "Falco's container plugin provides it; saker has no plugins";
static const char R_K8S[] = "Falco's container/k8s plugins provide it; saker has no plugins";

static int container_id(struct saker_fctx *c, const struct saker_finst *fi, struct saker_fval *v)
{
	const struct saker_proc *p = saker_fctx_proc(c);

	(void)fi;
	return p && *p->container_id ? saker_fval_cstr(v, p->container_id) : 0;
}

/* Falco's container.name is the plugin's; only the host's is known without one. */
static int container_name(struct saker_fctx *c, const struct saker_finst *fi, struct saker_fval *v)
{
	const struct saker_proc *p = saker_fctx_proc(c);

	(void)fi;
	return p && !strcmp(p->container_id, "host") ? saker_fval_str(v, "host", 4) : 0;
}

/* clang-format off */
static const struct saker_field_row rows[] = {
	{{"container.id", T(STR), 0, "Container id (12 hex digits) from the cgroup, host on the host", NULL}, container_id, 0, 2},
	{{"container.name", T(STR), 0, "host on the host; missing in containers (plugin field)", NULL}, container_name, 0, 2},
	{{"container.image", T(STR), PLG, "Container image", R_PLUGIN}, NULL, 0, 1},
	{{"container.image.id", T(STR), PLG, "Container image id", R_PLUGIN}, NULL, 0, 1},
	{{"container.image.repository", T(STR), PLG, "Container image repository", R_PLUGIN}, NULL, 0, 1},
	{{"container.image.tag", T(STR), PLG, "Container image tag", R_PLUGIN}, NULL, 0, 1},
	{{"container.image.digest", T(STR), PLG, "Container image digest", R_PLUGIN}, NULL, 0, 1},
	{{"container.type", T(STR), PLG, "Container runtime", R_PLUGIN}, NULL, 0, 1},
	{{"container.privileged", T(BOOL), PLG, "Privileged container", R_PLUGIN}, NULL, 0, 1},
	{{"container.start_ts", T(ABSTIME), PLG, "Container start time", R_PLUGIN}, NULL, 0, 1},
	{{"container.duration", T(RELTIME), PLG, "Time since the container started", R_PLUGIN}, NULL, 0, 1},
	{{"container.mounts", T(STR), PLG, "Container mounts", R_PLUGIN}, NULL, 0, 1},
	{{"container.mount", T(STR), PLG | IDX, "A container mount", R_PLUGIN}, NULL, 0, 1},
	{{"container.label", T(STR), PLG | REQ, "A container label", R_PLUGIN}, NULL, 0, 1},
	{{"container.labels", T(STR), PLG, "Container labels", R_PLUGIN}, NULL, 0, 1},
	{{"container.healthcheck", T(STR), PLG, "Container health check", R_PLUGIN}, NULL, 0, 1},
	{{"container.liveness_probe", T(STR), PLG, "Container liveness probe", R_PLUGIN}, NULL, 0, 1},
	{{"container.readiness_probe", T(STR), PLG, "Container readiness probe", R_PLUGIN}, NULL, 0, 1},
	{{"container.ip", T(STR), PLG, "Container IP", R_PLUGIN}, NULL, 0, 1},
	{{"container.cni.json", T(STR), PLG, "Container CNI result", R_PLUGIN}, NULL, 0, 1},
	{{"k8s.ns.name", T(STR), PLG, "Kubernetes namespace", R_K8S}, NULL, 0, 1},
	{{"k8s.pod.name", T(STR), PLG, "Kubernetes pod name", R_K8S}, NULL, 0, 1},
	{{"k8s.pod.id", T(STR), PLG, "Kubernetes pod uid", R_K8S}, NULL, 0, 1},
	{{"k8s.pod.uid", T(STR), PLG, "Kubernetes pod uid", R_K8S}, NULL, 0, 1},
	{{"k8s.pod.sandbox_id", T(STR), PLG, "Kubernetes pod sandbox id", R_K8S}, NULL, 0, 1},
	{{"k8s.pod.full_sandbox_id", T(STR), PLG, "Kubernetes pod sandbox id", R_K8S}, NULL, 0, 1},
	{{"k8s.pod.label", T(STR), PLG | REQ, "A Kubernetes pod label", R_K8S}, NULL, 0, 1},
	{{"k8s.pod.labels", T(STR), PLG, "Kubernetes pod labels", R_K8S}, NULL, 0, 1},
	{{"k8s.pod.ip", T(STR), PLG, "Kubernetes pod IP", R_K8S}, NULL, 0, 1},
	{{"k8s.pod.cni.json", T(STR), PLG, "Kubernetes pod CNI result", R_K8S}, NULL, 0, 1},
};
/* clang-format on */

const struct saker_field_class saker_fclass_container = SAKER_FIELD_CLASS("container", rows);
