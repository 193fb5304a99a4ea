/*
 * Container metadata from the runtimes' files (containers.h): the readers,
 * one per runtime, and the search for a short id's full one. The files are
 * small JSON documents on tmpfs (containerd, cri-o) or disk (docker,
 * podman); json-c parses them.
 */
#include "state/containers_int.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "lib/readfile.h"

static const char *keep(struct entry *e, const char *s)
{
	char *d;

	if (!s || e->nown == MAX_OWNED)
		return NULL;
	d = strdup(s);
	if (d)
		e->own[e->nown++] = d;
	return d;
}

static struct json_object *read_json(const char *path, int *err)
{
	char *buf = NULL;
	size_t len = 0;
	struct json_object *j;
	int rc = saker_readfile(path, SAKER_CTR_FILE_MAX, &buf, &len);

	*err = rc;
	if (rc < 0)
		return NULL;
	j = json_tokener_parse(buf);
	free(buf);
	if (!j || !json_object_is_type(j, json_type_object)) {
		json_object_put(j);
		*err = -EBADMSG;
		return NULL;
	}
	return j;
}

static struct json_object *jget(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;

	if (!o || !json_object_is_type(o, json_type_object))
		return NULL;
	return json_object_object_get_ex(o, key, &v) ? v : NULL;
}

static const char *jstr(struct json_object *o, const char *key)
{
	struct json_object *v = jget(o, key);

	if (!v || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* RFC 3339 ("2024-05-01T10:00:00.123456789Z", "...+02:00") to ns since the epoch; 0 = not one. */
static uint64_t parse_rfc3339(const char *s)
{
	struct tm tm = {0};
	int n = 0;
	uint64_t frac = 0, scale = 1000000000ull;
	long off = 0;
	time_t t;

	if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
			 &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6)
		return 0;
	s += n;
	if (*s == '.') {
		for (s++; *s >= '0' && *s <= '9'; s++) {
			if (scale > 1) {
				scale /= 10;
				frac += (uint64_t)(*s - '0') * scale;
			}
		}
	}
	if (*s == '+' || *s == '-') {
		int hh = 0, mm = 0;

		if (sscanf(s + 1, "%2d:%2d", &hh, &mm) != 2)
			return 0;
		off = (hh * 3600L + mm * 60L) * (*s == '-' ? -1 : 1);
	} else if (*s != 'Z' && *s != 'z') {
		return 0;
	}
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	t = timegm(&tm);
	if (t == (time_t)-1 || t - off <= 0)
		return 0;
	return (uint64_t)(t - off) * 1000000000ull + frac;
}

static uint64_t file_mtime_ns(const char *path)
{
	struct stat sb;

	if (stat(path, &sb) < 0)
		return 0;
	return (uint64_t)sb.st_mtim.tv_sec * 1000000000ull + (uint64_t)sb.st_mtim.tv_nsec;
}

void saker_ctr_image_split(char *image, const char **repo, const char **tag, const char **digest)
{
	char *at, *slash, *colon;

	*repo = image;
	*tag = NULL;
	*digest = NULL;
	if (!image)
		return;
	at = strchr(image, '@');
	if (at) {
		*at = '\0';
		*digest = at + 1;
	}
	slash = strrchr(image, '/');
	colon = strrchr(image, ':');
	if (colon && (!slash || colon > slash)) {
		*colon = '\0';
		*tag = colon + 1;
	}
}

static void set_image(struct entry *e, const char *image)
{
	char *copy;
	const char *repo, *tag, *digest;

	if (!image || !*image)
		return;
	e->pub.image = keep(e, image);
	copy = strdup(image);
	if (!copy)
		return;
	saker_ctr_image_split(copy, &repo, &tag, &digest);
	e->pub.image_repo = *repo ? keep(e, repo) : NULL;
	/* Falco's docker engine: an image named without a tag or digest is ":latest" */
	e->pub.image_tag = tag ? keep(e, tag) : !digest ? "latest" : NULL;
	e->pub.image_digest = digest ? keep(e, digest) : NULL;
	free(copy);
}

static void set_image_id(struct entry *e, const char *id)
{
	if (!id || !*id)
		return;
	if (!strncmp(id, "sha256:", 7))
		id += 7;
	e->pub.image_id = keep(e, id);
}

static int label_cmp(const void *a, const void *b)
{
	const struct saker_ctr_label *x = a, *y = b;

	return strcmp(x->key, y->key);
}

/* Pod labels from a JSON object of strings (bounded), and their "k:v, k:v" form. */
static void set_labels(struct entry *e, struct json_object *obj)
{
	size_t n = 0, len = 1;
	char *s, *p;

	if (!obj || !json_object_is_type(obj, json_type_object) || e->labels)
		return;
	if (e->nown + 1 >= MAX_OWNED)
		return;
	e->labels = calloc(SAKER_CTR_LABELS_MAX, sizeof(*e->labels));
	if (!e->labels)
		return;
	json_object_object_foreach(obj, k, v)
	{
		if (n == SAKER_CTR_LABELS_MAX || !json_object_is_type(v, json_type_string))
			continue;
		e->labels[n].key = k;
		e->labels[n].value = json_object_get_string(v);
		len += strlen(k) + strlen(e->labels[n].value) + 3;
		n++;
	}
	qsort(e->labels, n, sizeof(*e->labels), label_cmp);
	/* keys and values point into obj: copy them into one block with the joined form */
	s = malloc(len * 2);
	if (!s) {
		free(e->labels);
		e->labels = NULL;
		return;
	}
	e->own[e->nown++] = s;
	p = s;
	for (size_t i = 0; i < n; i++) {
		size_t kl = strlen(e->labels[i].key), vl = strlen(e->labels[i].value);

		memcpy(p, e->labels[i].key, kl + 1);
		e->labels[i].key = p;
		p += kl + 1;
		memcpy(p, e->labels[i].value, vl + 1);
		e->labels[i].value = p;
		p += vl + 1;
	}
	e->pub.labels_str = p;
	*p = '\0';
	for (size_t i = 0; i < n; i++)
		p += sprintf(p, "%s%s:%s", i ? ", " : "", e->labels[i].key, e->labels[i].value);
	e->pub.labels = e->labels;
	e->pub.nlabels = n;
}

/* An OCI spec's privileged-ness: every capability in the bounding set and no seccomp. */
static int oci_privileged(const struct saker_containers *c, struct json_object *spec)
{
	struct json_object *caps = jget(jget(jget(spec, "process"), "capabilities"), "bounding");
	size_t n = 0;

	if (!caps || !json_object_is_type(caps, json_type_array))
		return -1;
	for (size_t i = 0; i < json_object_array_length(caps); i++) {
		const char *s = json_object_get_string(json_object_array_get_idx(caps, i));

		if (s && !strncmp(s, "CAP_", 4))
			n++;
	}
	return n >= (size_t)c->cap_last + 1 && !jget(jget(spec, "linux"), "seccomp");
}

static int read_containerd(struct saker_containers *c, struct entry *e, const char *ns)
{
	char path[PATH_MAX];
	char nsbuf[NAME_MAX + 1];
	struct json_object *spec = NULL, *ann;
	int err = -ENOENT;

	if (ns) {
		snprintf(path, sizeof(path), "%s/%s/%s/config.json",
			 c->root[SAKER_CTR_RT_CONTAINERD], ns, e->pub.full_id);
		spec = read_json(path, &err);
	} else {
		DIR *d = opendir(c->root[SAKER_CTR_RT_CONTAINERD]);
		struct dirent *de;

		while (d && !spec && (de = readdir(d))) {
			if (de->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%s/%s/config.json",
				 c->root[SAKER_CTR_RT_CONTAINERD], de->d_name, e->pub.full_id);
			if (access(path, F_OK) < 0)
				continue;
			spec = read_json(path, &err);
			if (spec) {
				snprintf(nsbuf, sizeof(nsbuf), "%s", de->d_name);
				ns = nsbuf;
			}
		}
		if (d)
			closedir(d);
	}
	if (!spec)
		return err;
	e->pub.ns = keep(e, ns);
	e->pub.source = keep(e, path);
	e->pub.start_ns = file_mtime_ns(path);
	e->pub.privileged = oci_privileged(c, spec);
	ann = jget(spec, "annotations");
	e->pub.name = keep(e, jstr(ann, "io.kubernetes.cri.container-name"));
	e->pub.pod_name = keep(e, jstr(ann, "io.kubernetes.cri.sandbox-name"));
	e->pub.pod_ns = keep(e, jstr(ann, "io.kubernetes.cri.sandbox-namespace"));
	e->pub.pod_uid = keep(e, jstr(ann, "io.kubernetes.cri.sandbox-uid"));
	e->pub.sandbox_id = keep(e, jstr(ann, "io.kubernetes.cri.sandbox-id"));
	set_image(e, jstr(ann, "io.kubernetes.cri.image-name"));
	{
		const char *ct = jstr(ann, "io.kubernetes.cri.container-type");

		e->pub.sandbox = ct && !strcmp(ct, "sandbox");
		if (e->pub.sandbox && !e->pub.sandbox_id)
			e->pub.sandbox_id = e->pub.full_id;
	}
	json_object_put(spec);
	return 0;
}

/* cri-o and podman keep their files in containers/storage: <root>/<id>/userdata/config.json. */
static struct json_object *read_userdata(struct saker_containers *c, enum saker_ctr_runtime rt,
					 const char *id, char *path, size_t size, int *err)
{
	snprintf(path, size, "%s/%s/userdata/config.json", c->root[rt], id);
	return read_json(path, err);
}

static void crio_pod_labels(struct saker_containers *c, struct entry *e, const char *sandbox)
{
	char path[PATH_MAX];
	int err;
	struct json_object *spec, *lj;
	const char *ls;

	if (!sandbox || !*sandbox)
		return;
	spec = read_userdata(c, SAKER_CTR_RT_CRIO, sandbox, path, sizeof(path), &err);
	ls = jstr(jget(spec, "annotations"), "io.kubernetes.cri-o.Labels");
	lj = ls ? json_tokener_parse(ls) : NULL;
	set_labels(e, lj);
	json_object_put(lj);
	json_object_put(spec);
}

static int read_crio(struct saker_containers *c, struct entry *e)
{
	char path[PATH_MAX];
	int err;
	struct json_object *spec, *ann;
	const char *ct, *sb, *created;

	spec = read_userdata(c, SAKER_CTR_RT_CRIO, e->pub.full_id, path, sizeof(path), &err);
	if (!spec)
		return err;
	ann = jget(spec, "annotations");
	/* podman's files have the same shape; cri-o's say they are cri-o's */
	if (!jget(ann, "io.kubernetes.cri-o.ContainerType") &&
	    !jget(ann, "io.kubernetes.pod.name")) {
		json_object_put(spec);
		return -ENOENT;
	}
	e->pub.source = keep(e, path);
	e->pub.privileged = oci_privileged(c, spec);
	e->pub.name = keep(e, jstr(ann, "io.kubernetes.container.name"));
	e->pub.pod_name = keep(e, jstr(ann, "io.kubernetes.pod.name"));
	e->pub.pod_ns = keep(e, jstr(ann, "io.kubernetes.pod.namespace"));
	e->pub.pod_uid = keep(e, jstr(ann, "io.kubernetes.pod.uid"));
	set_image(e, jstr(ann, "io.kubernetes.cri-o.ImageName"));
	set_image_id(e, jstr(ann, "io.kubernetes.cri-o.ImageRef"));
	created = jstr(ann, "io.kubernetes.cri-o.Created");
	e->pub.start_ns = created ? parse_rfc3339(created) : 0;
	if (!e->pub.start_ns)
		e->pub.start_ns = file_mtime_ns(path);
	ct = jstr(ann, "io.kubernetes.cri-o.ContainerType");
	e->pub.sandbox = ct && !strcmp(ct, "sandbox");
	sb = jstr(ann, "io.kubernetes.cri-o.SandboxID");
	if (e->pub.sandbox && !sb)
		sb = e->pub.full_id;
	e->pub.sandbox_id = keep(e, sb);
	if (e->pub.sandbox) {
		const char *ls = jstr(ann, "io.kubernetes.cri-o.Labels");
		struct json_object *lj = ls ? json_tokener_parse(ls) : NULL;

		set_labels(e, lj);
		json_object_put(lj);
	} else {
		crio_pod_labels(c, e, e->pub.sandbox_id);
	}
	json_object_put(spec);
	return 0;
}

static int read_docker(struct saker_containers *c, struct entry *e)
{
	char path[PATH_MAX], hpath[PATH_MAX];
	int err, herr;
	struct json_object *cfg, *host, *conf, *labels;
	const char *name, *started;

	snprintf(path, sizeof(path), "%s/%s/config.v2.json", c->root[SAKER_CTR_RT_DOCKER],
		 e->pub.full_id);
	cfg = read_json(path, &err);
	if (!cfg)
		return err;
	e->pub.source = keep(e, path);
	conf = jget(cfg, "Config");
	name = jstr(cfg, "Name");
	if (name && *name == '/')
		name++;
	e->pub.name = keep(e, name);
	set_image(e, jstr(conf, "Image"));
	set_image_id(e, jstr(cfg, "Image"));
	started = jstr(jget(cfg, "State"), "StartedAt");
	e->pub.start_ns = parse_rfc3339(jstr(cfg, "Created"));
	if (!e->pub.start_ns)
		e->pub.start_ns = parse_rfc3339(started);
	/* dockershim and cri-dockerd label pod containers as the kubelet does */
	labels = jget(conf, "Labels");
	if (jstr(labels, "io.kubernetes.pod.name")) {
		e->pub.pod_name = keep(e, jstr(labels, "io.kubernetes.pod.name"));
		e->pub.pod_ns = keep(e, jstr(labels, "io.kubernetes.pod.namespace"));
		e->pub.pod_uid = keep(e, jstr(labels, "io.kubernetes.pod.uid"));
		e->pub.sandbox_id = keep(e, jstr(labels, "io.kubernetes.sandbox.id"));
		if (jstr(labels, "io.kubernetes.container.name"))
			e->pub.name = keep(e, jstr(labels, "io.kubernetes.container.name"));
	}
	snprintf(hpath, sizeof(hpath), "%s/%s/hostconfig.json", c->root[SAKER_CTR_RT_DOCKER],
		 e->pub.full_id);
	host = read_json(hpath, &herr);
	if (host) {
		struct json_object *p = jget(host, "Privileged");

		if (p && json_object_is_type(p, json_type_boolean))
			e->pub.privileged = json_object_get_boolean(p) ? 1 : 0;
		json_object_put(host);
	}
	json_object_put(cfg);
	return 0;
}

/* podman's container store: <root>/containers.json, an array of {id, names, metadata, ...}. */
static void podman_store(struct saker_containers *c, struct entry *e)
{
	char path[PATH_MAX];
	char *buf = NULL;
	size_t len = 0;
	struct json_object *arr, *meta = NULL;

	snprintf(path, sizeof(path), "%s/containers.json", c->root[SAKER_CTR_RT_PODMAN]);
	if (saker_readfile(path, 8 * SAKER_CTR_FILE_MAX, &buf, &len) < 0)
		return;
	arr = json_tokener_parse(buf);
	free(buf);
	if (!arr || !json_object_is_type(arr, json_type_array)) {
		json_object_put(arr);
		return;
	}
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		struct json_object *it = json_object_array_get_idx(arr, i), *names;
		const char *id = jstr(it, "id"), *ms;

		if (!id || strcmp(id, e->pub.full_id))
			continue;
		names = jget(it, "names");
		if (!e->pub.name && names && json_object_is_type(names, json_type_array) &&
		    json_object_array_length(names) > 0)
			e->pub.name =
			    keep(e, json_object_get_string(json_object_array_get_idx(names, 0)));
		set_image_id(e, jstr(it, "image"));
		ms = jstr(it, "metadata");
		meta = ms ? json_tokener_parse(ms) : NULL;
		if (!e->pub.image)
			set_image(e, jstr(meta, "image-name"));
		if (!e->pub.name)
			e->pub.name = keep(e, jstr(meta, "name"));
		if (!e->pub.start_ns)
			e->pub.start_ns = parse_rfc3339(jstr(it, "created"));
		json_object_put(meta);
		break;
	}
	json_object_put(arr);
}

static int read_podman(struct saker_containers *c, struct entry *e)
{
	char path[PATH_MAX];
	int err;
	struct json_object *spec, *ann;

	spec = read_userdata(c, SAKER_CTR_RT_PODMAN, e->pub.full_id, path, sizeof(path), &err);
	if (!spec)
		return err;
	ann = jget(spec, "annotations");
	e->pub.source = keep(e, path);
	e->pub.privileged = oci_privileged(c, spec);
	e->pub.name = keep(e, jstr(ann, "io.podman.annotations.name"));
	podman_store(c, e);
	if (!e->pub.start_ns)
		e->pub.start_ns = file_mtime_ns(path);
	json_object_put(spec);
	return 0;
}

int ctr_read_rt(struct saker_containers *c, struct entry *e, enum saker_ctr_runtime rt,
		const char *ns)
{
	if (c->disabled[rt])
		return -ENOENT;
	switch (rt) {
	case SAKER_CTR_RT_CONTAINERD:
		return read_containerd(c, e, ns);
	case SAKER_CTR_RT_CRIO:
		return read_crio(c, e);
	case SAKER_CTR_RT_DOCKER:
		return read_docker(c, e);
	case SAKER_CTR_RT_PODMAN:
		return read_podman(c, e);
	default:
		return -ENOENT;
	}
}

static bool has_prefix_dir(const char *dir, const char *shortid, char *out, size_t size)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = strlen(shortid), hits = 0;

	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.' || strncmp(de->d_name, shortid, n) || !de->d_name[n])
			continue;
		if (strlen(de->d_name) >= size)
			continue;
		if (!hits++)
			memcpy(out, de->d_name, strlen(de->d_name) + 1);
	}
	if (d)
		closedir(d);
	/* two ids beginning alike: neither is taken */
	return hits == 1;
}

bool ctr_resolve_short(struct saker_containers *c, const char *shortid, char *out, size_t size)
{
	for (unsigned rt = 1; rt < SAKER_CTR_RT_COUNT; rt++) {
		if (c->disabled[rt])
			continue;
		if (rt != SAKER_CTR_RT_CONTAINERD) {
			if (has_prefix_dir(c->root[rt], shortid, out, size))
				return true;
			continue;
		}
		{
			DIR *d = opendir(c->root[rt]);
			struct dirent *de;
			bool ok = false;
			char sub[PATH_MAX];

			while (d && !ok && (de = readdir(d))) {
				if (de->d_name[0] == '.')
					continue;
				snprintf(sub, sizeof(sub), "%s/%s", c->root[rt], de->d_name);
				ok = has_prefix_dir(sub, shortid, out, size);
			}
			if (d)
				closedir(d);
			if (ok)
				return true;
		}
	}
	return false;
}
