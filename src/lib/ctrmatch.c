#include "lib/ctrmatch.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Deeper paths are cut: only their innermost components are looked at. */
#define MAX_COMPS 64

struct comp {
	const char *s;
	size_t n;
};

struct comps {
	struct comp c[MAX_COMPS];
	size_t n;
	/* c[0] is the path's first component below the root ("/a/b"), not a suffix's */
	bool rooted;
};

/* ---- small helpers ---- */

static bool is_lower_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static bool all_hex64(const char *s, size_t n)
{
	if (n != 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_lower_hex(s[i]))
			return false;
	return true;
}

static bool eq(const struct comp *c, const char *lit)
{
	size_t n = strlen(lit);

	return c->n == n && !memcmp(c->s, lit, n);
}

static bool has_prefix(const char *s, size_t n, const char *lit)
{
	size_t k = strlen(lit);

	return n >= k && !memcmp(s, lit, k);
}

static bool has_suffix(const char *s, size_t n, const char *lit)
{
	size_t k = strlen(lit);

	return n >= k && !memcmp(s + n - k, lit, k);
}

/* "<prefix><64 hex><suffix>": the id's offset, or NULL. */
static const char *framed_id(const struct comp *c, const char *prefix, const char *suffix)
{
	size_t p = strlen(prefix), s = strlen(suffix);

	if (c->n != p + 64 + s || !has_prefix(c->s, c->n, prefix) ||
	    !has_suffix(c->s, c->n, suffix) || !all_hex64(c->s + p, 64))
		return NULL;
	return c->s + p;
}

static const struct comp *at(const struct comps *cs, size_t i, int delta)
{
	if (delta < 0 && i < (size_t)-delta)
		return NULL;
	if (delta > 0 && i + (size_t)delta >= cs->n)
		return NULL;
	return &cs->c[(size_t)((ptrdiff_t)i + delta)];
}

static void set_id(struct saker_ctr_match *m, enum saker_ctr_type type, const char *id, size_t n)
{
	if (n > SAKER_CTR_FULL_ID_MAX)
		n = SAKER_CTR_FULL_ID_MAX;
	m->type = type;
	memcpy(m->full_id, id, n);
	m->full_id[n] = '\0';
	snprintf(m->id, sizeof(m->id), "%.*s",
		 (int)(n < SAKER_CTR_SHORT_ID_LEN ? n : SAKER_CTR_SHORT_ID_LEN), id);
}

/* A pod uid as the kubelet names cgroups: UUID (or a static pod's hash), '_' for '-' in slices. */
static bool set_pod_uid(struct saker_ctr_match *m, const char *s, size_t n)
{
	if (!n || n > SAKER_CTR_POD_UID_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_lower_hex(s[i]) && s[i] != '-' && s[i] != '_')
			return false;
	for (size_t i = 0; i < n; i++)
		m->pod_uid[i] = s[i] == '_' ? '-' : s[i];
	m->pod_uid[n] = '\0';
	return true;
}

static enum saker_k8s_qos qos_of(const char *s, size_t n)
{
	if (n == 9 && !memcmp(s, "burstable", 9))
		return SAKER_QOS_BURSTABLE;
	if (n == 10 && !memcmp(s, "besteffort", 10))
		return SAKER_QOS_BESTEFFORT;
	return SAKER_QOS_NONE;
}

/*
 * "kubepods-<qos>-pod<uid_with_underscores>.slice" or, for a guaranteed
 * pod, "kubepods-pod<uid>.slice" (systemd cgroup driver). s/n may also be
 * the part before ":cri-containerd:" of a cgroupfs path.
 */
static bool pod_slice(const char *s, size_t n, struct saker_ctr_match *m)
{
	const char *p;
	enum saker_k8s_qos q = SAKER_QOS_GUARANTEED;

	if (n < 15 || !has_prefix(s, n, "kubepods-") || !has_suffix(s, n, ".slice"))
		return false;
	s += 9;
	n -= 9 + 6;
	if (!has_prefix(s, n, "pod")) {
		p = memchr(s, '-', n);
		if (!p)
			return false;
		q = qos_of(s, (size_t)(p - s));
		if (q == SAKER_QOS_NONE)
			return false;
		n -= (size_t)(p + 1 - s);
		s = p + 1;
		if (!has_prefix(s, n, "pod"))
			return false;
	}
	if (!set_pod_uid(m, s + 3, n - 3))
		return false;
	m->qos = q;
	return true;
}

/*
 * "pod<uid>" (cgroupfs driver), below "kubepods/<qos>" or, guaranteed,
 * right below "kubepods". A suffix that stops before the QoS folder leaves
 * the class unknown (NONE) but still gives the uid.
 */
static bool pod_dir(const struct comps *cs, size_t i, struct saker_ctr_match *m)
{
	const struct comp *c = &cs->c[i], *up = at(cs, i, -1);

	if (!has_prefix(c->s, c->n, "pod") || !set_pod_uid(m, c->s + 3, c->n - 3))
		return false;
	m->qos = SAKER_QOS_NONE;
	if (up && (eq(up, "kubepods") || eq(up, "kubepods.slice")))
		m->qos = SAKER_QOS_GUARANTEED;
	else if (up)
		m->qos = qos_of(up->s, up->n);
	return true;
}

/* The pod of the container at i, from the component above it (either driver's shape). */
static void pod_above(const struct comps *cs, size_t i, struct saker_ctr_match *m)
{
	const struct comp *up = at(cs, i, -1);

	if (up && !pod_slice(up->s, up->n, m))
		pod_dir(cs, i - 1, m);
}

/* ---- rows ---- */

typedef bool (*row_fn)(const struct comps *cs, size_t i, struct saker_ctr_match *m);

/* docker, systemd driver: /system.slice/docker-<id>.scope */
static bool row_docker_scope(const struct comps *cs, size_t i, struct saker_ctr_match *m)
{
	const char *id = framed_id(&cs->c[i], "docker-", ".scope");

	if (!id)
		return false;
	set_id(m, SAKER_CTR_DOCKER, id, 64);
	pod_above(cs, i, m); /* dockershim with the systemd driver */
	return true;
}

/* docker, cgroupfs driver: /docker/<id> */
static bool row_docker_dir(const struct comps *cs, size_t i, struct saker_ctr_match *m)
{
	const struct comp *up = at(cs, i, -1);

	if (!up || !eq(up, "docker") || !all_hex64(cs->c[i].s, cs->c[i].n))
		return false;
	set_id(m, SAKER_CTR_DOCKER, cs->c[i].s, 64);
	return true;
}

/* containerd's CRI plugin, systemd driver:
 * .../kubepods-<qos>-pod<uid>.slice/cri-containerd-<id>.scope */
static bool row_cri_containerd_scope(const struct comps *cs, size_t i, struct saker_ctr_match *m)
{
	const char *id = framed_id(&cs->c[i], "cri-containerd-", ".scope");

	if (!id)
		return false;
	set_id(m, SAKER_CTR_CONTAINERD, id, 64);
	pod_above(cs, i, m);
	return true;
}

/*
 * containerd's CRI plugin given a systemd-style cgroupsPath
 * ("<slice>:cri-containerd:<id>") that a cgroupfs manager took literally.
 */
static bool row_cri_containerd_colon(const struct comps *cs, size_t i, struct saker_ctr_match *m)
{
	static const char mid[] = ":cri-containerd:";
	const struct comp *c = &cs->c[i];
	size_t k = sizeof(mid) - 1;

	if (c->n < k + 64 || !all_hex64(c->s + c->n - 64, 64) ||
	    memcmp(c->s + c->n - 64 - k, mid, k))
		return false;
	set_id(m, SAKER_CTR_CONTAINERD, c->s + c->n - 64, 64);
	if (!pod_slice(c->s, c->n - 64 - k, m))
		pod_above(cs, i, m);
	return true;
}

/* CRI-O: crio-<id>.scope (systemd) or crio-<id> (cgroupfs); its conmon is on the host. */
static bool row_crio(const struct comps *cs, size_t i, struct saker_ctr_match *m)
{
	const char *id = framed_id(&cs->c[i], "crio-", ".scope");

	if (!id)
		id = framed_id(&cs->c[i], "crio-", "");
	if (!id)
		return false;
	set_id(m, SAKER_CTR_CRIO, id, 64);
	pod_above(cs, i, m);
	return true;
}

/*
 * podman: libpod-<id>.scope (systemd; the payload may sit in its
 * "container" child, which is below and so already passed over) or
 * libpod_parent/libpod-<id> (cgroupfs). Its conmon (libpod-conmon-<id>) is
 * on the host.
 */
static bool row_podman(const struct comps *cs, size_t i, struct saker_ctr_match *m)
{
	const char *id = framed_id(&cs->c[i], "libpod-", ".scope");

	if (!id)
		id = framed_id(&cs->c[i], "libpod-", "");
	if (!id)
		return false;
	set_id(m, SAKER_CTR_PODMAN, id, 64);
	return true;
}

/* The kubelet's cgroupfs layout: /kubepods[/<qos>]/pod<uid>/<id> (containerd, or dockershim). */
static bool row_kubepods_dir(const struct comps *cs, size_t i, struct saker_ctr_match *m)
{
	const struct comp *c = &cs->c[i];

	if (!i || !all_hex64(c->s, c->n) || !pod_dir(cs, i - 1, m))
		return false;
	set_id(m, SAKER_CTR_CONTAINERD, c->s, 64);
	return true;
}

/* A systemd unit is not a containerd namespace or id. */
static bool systemd_unit(const struct comp *c)
{
	static const char *const units[] = {".slice",  ".scope", ".service", ".socket", ".mount",
					    ".target", ".swap",	 ".device",  ".path",	".timer"};

	for (size_t k = 0; k < sizeof(units) / sizeof(units[0]); k++)
		if (has_suffix(c->s, c->n, units[k]))
			return true;
	return false;
}

/* containerd's identifier syntax: alphanumerics joined by single '.', '_' or '-'. */
static bool containerd_ident(const struct comp *c, size_t max)
{
	bool sep = true;

	if (!c->n || c->n > max)
		return false;
	for (size_t k = 0; k < c->n; k++) {
		char ch = c->s[k];
		bool alnum = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			     (ch >= '0' && ch <= '9');

		if (alnum) {
			sep = false;
			continue;
		}
		if (sep || (ch != '.' && ch != '_' && ch != '-'))
			return false;
		sep = true;
	}
	return !sep;
}

/*
 * Plain containerd (ctr, nerdctl, buildkit): "/<namespace>/<id>", exactly
 * two levels from the root, neither a systemd unit nor another runtime's
 * folder. Two levels of names are a common shape for other things too (a
 * job runner's "/process_api/<hash>"), so the namespace must be one
 * containerd's clients use, or the id docker's 64 hex digits. Needs the
 * whole path: a suffix cannot tell the depth.
 */
static bool row_containerd_plain(const struct comps *cs, size_t i, struct saker_ctr_match *m)
{
	static const char *const known[] = {"default", "k8s.io", "moby", "buildkit", "nerdctl"};
	static const char *const taken[] = {"docker",	   "kubepods",	    "lxc",
					    "lxc.payload", "libpod_parent", "machine",
					    "user",	   "system",	    "lxc.monitor"};
	const struct comp *ns = &cs->c[0], *id = &cs->c[1];
	bool ok = false;

	if (!cs->rooted || cs->n != 2 || i != 1 || systemd_unit(ns) || systemd_unit(id) ||
	    !containerd_ident(ns, 76) || !containerd_ident(id, 76))
		return false;
	for (size_t k = 0; k < sizeof(known) / sizeof(known[0]); k++)
		ok |= eq(ns, known[k]);
	for (size_t k = 0; k < sizeof(taken) / sizeof(taken[0]); k++)
		if (eq(ns, taken[k]))
			return false;
	if (!ok && !all_hex64(id->s, id->n))
		return false;
	set_id(m, SAKER_CTR_CONTAINERD, id->s, id->n);
	snprintf(m->ns, sizeof(m->ns), "%.*s", (int)ns->n, ns->s);
	return true;
}

/* LXC 4+: lxc.payload.<name>; LXC 4.0.x: lxc.payload/<name>; LXC 1-3: lxc/<name>. */
static bool row_lxc(const struct comps *cs, size_t i, struct saker_ctr_match *m)
{
	const struct comp *c = &cs->c[i], *up = at(cs, i, -1);

	if (has_prefix(c->s, c->n, "lxc.payload.") && c->n > 12) {
		set_id(m, SAKER_CTR_LXC, c->s + 12, c->n - 12);
		return true;
	}
	if (up && (eq(up, "lxc.payload") || eq(up, "lxc")) && c->n && !systemd_unit(c)) {
		set_id(m, SAKER_CTR_LXC, c->s, c->n);
		return true;
	}
	return false;
}

/*
 * systemd-machined: machine.slice/machine-<escaped name>.scope, for
 * systemd-nspawn and libvirt's LXC driver ("lxc-<id>-<name>"). Its
 * "supervisor" child is nspawn itself, on the host; qemu machines are VMs
 * whose processes are on the host.
 */
static bool row_machine(const struct comps *cs, size_t i, struct saker_ctr_match *m)
{
	const struct comp *c = &cs->c[i], *down = at(cs, i, 1);
	char name[SAKER_CTR_FULL_ID_MAX + 1];
	size_t n = 0;

	if (c->n <= 14 || !has_prefix(c->s, c->n, "machine-") || !has_suffix(c->s, c->n, ".scope"))
		return false;
	if (down && eq(down, "supervisor"))
		return false;
	/* systemd escapes '-' in unit names as "\x2d". */
	for (size_t k = 8; k < c->n - 6 && n < sizeof(name) - 1; k++) {
		if (c->s[k] == '\\' && k + 4 <= c->n - 6 && !memcmp(c->s + k, "\\x2d", 4)) {
			name[n++] = '-';
			k += 3;
		} else {
			name[n++] = c->s[k];
		}
	}
	name[n] = '\0';
	if (has_prefix(name, n, "qemu-"))
		return false;
	set_id(m, has_prefix(name, n, "lxc-") ? SAKER_CTR_LIBVIRT_LXC : SAKER_CTR_NSPAWN, name, n);
	return true;
}

/* Any other component of exactly 64 hex digits: docker's shape (Falco's default too). */
static bool row_bare_id(const struct comps *cs, size_t i, struct saker_ctr_match *m)
{
	const struct comp *c = &cs->c[i];

	if (!all_hex64(c->s, c->n))
		return false;
	set_id(m, SAKER_CTR_DOCKER, c->s, 64);
	return true;
}

static const struct {
	const char *name;
	row_fn fn;
} rows[] = {
    {"docker-scope", row_docker_scope},
    {"docker-dir", row_docker_dir},
    {"cri-containerd-scope", row_cri_containerd_scope},
    {"cri-containerd-colon", row_cri_containerd_colon},
    {"crio", row_crio},
    {"podman", row_podman},
    {"kubepods-dir", row_kubepods_dir},
    {"containerd-plain", row_containerd_plain},
    {"lxc", row_lxc},
    {"machine", row_machine},
    {"bare-id", row_bare_id},
};

/* ---- paths ---- */

static void host(struct saker_ctr_match *m)
{
	memset(m, 0, sizeof(*m));
	strcpy(m->id, "host");
}

static void split(const char *path, size_t len, struct comps *cs)
{
	size_t i = 0;

	cs->n = 0;
	cs->rooted = len && path[0] == '/';
	while (i < len) {
		size_t j = i;

		while (j < len && path[j] != '/')
			j++;
		if (j > i) {
			/* Past MAX_COMPS the outermost go: the innermost are what tell. */
			if (cs->n == MAX_COMPS) {
				memmove(cs->c, cs->c + 1, sizeof(cs->c[0]) * (MAX_COMPS - 1));
				cs->n--;
				cs->rooted = false;
			}
			cs->c[cs->n].s = path + i;
			cs->c[cs->n].n = j - i;
			cs->n++;
		}
		i = j + 1;
	}
}

bool saker_ctr_match_path(const char *path, size_t len, struct saker_ctr_match *m)
{
	struct comps cs;

	host(m);
	if (!path)
		return false;
	len = strnlen(path, len);
	split(path, len, &cs);
	for (size_t i = cs.n; i-- > 0;) {
		for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
			struct saker_ctr_match t;

			host(&t);
			if (rows[r].fn(&cs, i, &t)) {
				t.row = rows[r].name;
				*m = t;
				return true;
			}
		}
	}
	/* No container: still say which pod's slice or folder it is in, if any. */
	for (size_t i = cs.n; i-- > 0;)
		if (pod_slice(cs.c[i].s, cs.c[i].n, m) || pod_dir(&cs, i, m))
			return false;
	host(m);
	return false;
}

/*
 * The path part of a /proc/<pid>/cgroup line ("<hierarchy id>:controllers:path"),
 * or the line itself when it does not start with a hierarchy id: a bare path
 * may hold colons of its own.
 */
void saker_ctr_line_path(const char *line, size_t len, const char **path, size_t *plen)
{
	const char *c1, *c2 = NULL;
	size_t digits = 0;

	while (digits < len && line[digits] >= '0' && line[digits] <= '9')
		digits++;
	c1 = digits && digits < len && line[digits] == ':' ? line + digits : NULL;
	if (c1)
		c2 = memchr(c1 + 1, ':', len - (size_t)(c1 + 1 - line));
	if (!c2) {
		*path = line;
		*plen = len;
		return;
	}
	*path = c2 + 1;
	*plen = len - (size_t)(c2 + 1 - line);
}

bool saker_ctr_match_proc(const char *content, size_t len, struct saker_ctr_match *m)
{
	struct saker_ctr_match pod;
	bool have_pod = false;

	host(m);
	if (!content)
		return false;
	len = strnlen(content, len);
	/* Pass 0: the v2 line; pass 1: the others. */
	for (int pass = 0; pass < 2; pass++) {
		size_t i = 0;

		while (i < len) {
			const char *nl = memchr(content + i, '\n', len - i);
			size_t end = nl ? (size_t)(nl - content) : len;
			bool v2 = end - i >= 3 && !memcmp(content + i, "0::", 3);
			const char *path;
			size_t plen;

			if (v2 == (pass == 0)) {
				saker_ctr_line_path(content + i, end - i, &path, &plen);
				if (saker_ctr_match_path(path, plen, m))
					return true;
				if (!have_pod && m->pod_uid[0]) {
					pod = *m;
					have_pod = true;
				}
			}
			i = end + 1;
		}
	}
	if (have_pod)
		*m = pod;
	else
		host(m);
	return false;
}

int saker_ctr_path_from_names(const char *names, size_t len, unsigned level, char *out, size_t size)
{
	const char *c[MAX_COMPS];
	size_t cn[MAX_COMPS], n = 0, i = 0, w = 0;

	if (!out || !size)
		return -EINVAL;
	while (names && i < len && n < MAX_COMPS) {
		const char *start = names + i, *z;
		size_t l;

		if (!*start) { /* an empty name: nothing to join */
			i++;
			continue;
		}
		z = memchr(start, '\0', len - i);
		l = z ? (size_t)(z - start) : len - i;
		c[n] = start;
		cn[n++] = l;
		i += l + 1;
	}
	if (!level || !n)
		return snprintf(out, size, "/");
	out[0] = '\0';
	for (size_t k = n; k-- > 0;) {
		int r = snprintf(out + (w < size ? w : size - 1), w < size ? size - w : 1, "%s%.*s",
				 k == n - 1 && level > n ? "" : "/", (int)cn[k], c[k]);

		if (r < 0)
			return -EINVAL;
		w += (size_t)r;
	}
	return (int)w;
}

const char *saker_ctr_type_name(enum saker_ctr_type t)
{
	static const char *const names[SAKER_CTR_TYPES] = {
	    [SAKER_CTR_HOST] = "host",
	    [SAKER_CTR_DOCKER] = "docker",
	    [SAKER_CTR_CONTAINERD] = "containerd",
	    [SAKER_CTR_CRIO] = "cri-o",
	    [SAKER_CTR_PODMAN] = "podman",
	    [SAKER_CTR_LXC] = "lxc",
	    [SAKER_CTR_LIBVIRT_LXC] = "libvirt-lxc",
	    [SAKER_CTR_NSPAWN] = "systemd-nspawn",
	};

	return (unsigned)t < SAKER_CTR_TYPES ? names[t] : "host";
}

const char *saker_k8s_qos_name(enum saker_k8s_qos q)
{
	switch (q) {
	case SAKER_QOS_GUARANTEED:
		return "guaranteed";
	case SAKER_QOS_BURSTABLE:
		return "burstable";
	case SAKER_QOS_BESTEFFORT:
		return "besteffort";
	default:
		return "";
	}
}
