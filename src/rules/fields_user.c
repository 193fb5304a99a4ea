/*
 * The user and group field classes: the process's effective and login ids,
 * and their names, home and shell from the host's /etc/passwd and /etc/group
 * (read once per engine by saker_fctx_load_names, looked up by id).
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules/fields_class.h"
#include "state/view.h"

#define T(x) SAKER_FT_##x

struct idname {
	uint32_t id;
	char *name;
	char *home;
	char *shell;
};

struct saker_fctx_names {
	struct idname *users, *groups;
	size_t nusers, ngroups;
	char *blob_users, *blob_groups;
};

static int cmp_id(const void *a, const void *b)
{
	const struct idname *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

static char *read_small(const char *path, size_t max)
{
	FILE *f = fopen(path, "re");
	char *buf;
	size_t n;

	if (!f)
		return NULL;
	buf = malloc(max + 1);
	if (!buf) {
		fclose(f);
		return NULL;
	}
	n = fread(buf, 1, max, f);
	fclose(f);
	buf[n] = '\0';
	return buf;
}

/* name:x:id:... lines; passwd also gives fields 6 (home) and 7 (shell). */
static size_t parse_idfile(char *blob, struct idname **out, bool passwd)
{
	size_t cap = 0, n = 0;
	struct idname *v = NULL;

	for (char *line = blob, *next; line && *line; line = next) {
		char *f[7] = {0};
		int nf = 0;
		char *end;
		unsigned long id;

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		for (char *p = line; nf < 7; nf++) {
			f[nf] = p;
			p = strchr(p, ':');
			if (!p) {
				nf++;
				break;
			}
			*p++ = '\0';
		}
		if (nf < 3 || !*f[0] || f[0][0] == '#' || f[0][0] == '+' || f[0][0] == '-')
			continue;
		errno = 0;
		id = strtoul(f[2], &end, 10);
		if (errno || *end || end == f[2] || id > UINT32_MAX)
			continue;
		if (n == cap) {
			size_t nc = cap ? 2 * cap : 64;
			struct idname *nv = realloc(v, nc * sizeof(*nv));

			if (!nv)
				break;
			v = nv;
			cap = nc;
		}
		v[n].id = (uint32_t)id;
		v[n].name = f[0];
		v[n].home = passwd && nf > 5 ? f[5] : NULL;
		v[n].shell = passwd && nf > 6 ? f[6] : NULL;
		n++;
	}
	if (n)
		qsort(v, n, sizeof(*v), cmp_id);
	*out = v;
	return n;
}

void saker_fctx_names_free(struct saker_fctx_names *nm)
{
	if (!nm)
		return;
	free(nm->users);
	free(nm->groups);
	free(nm->blob_users);
	free(nm->blob_groups);
	free(nm);
}

int saker_fctx_load_names(struct saker_fctx *c, const char *root)
{
	struct saker_fctx_names *nm = calloc(1, sizeof(*nm));
	char path[PATH_MAX];

	if (!nm)
		return -ENOMEM;
	if (!root)
		root = "";
	snprintf(path, sizeof(path), "%s/etc/passwd", root);
	nm->blob_users = read_small(path, 8u << 20);
	snprintf(path, sizeof(path), "%s/etc/group", root);
	nm->blob_groups = read_small(path, 8u << 20);
	if (nm->blob_users)
		nm->nusers = parse_idfile(nm->blob_users, &nm->users, true);
	if (nm->blob_groups)
		nm->ngroups = parse_idfile(nm->blob_groups, &nm->groups, false);
	saker_fctx_names_free(c->names);
	c->names = nm;
	return 0;
}

static const struct idname *find_id(const struct idname *v, size_t n, uint32_t id)
{
	struct idname key = {.id = id};

	return n ? bsearch(&key, v, n, sizeof(*v), cmp_id) : NULL;
}

/* What a user.* row reads of the effective user's passwd entry. */
enum { U_NAME, U_HOME, U_SHELL };

static int user_uid(struct saker_fctx *c, const struct saker_finst *fi, struct saker_fval *v)
{
	const struct saker_proc *p = saker_fctx_proc(c);

	(void)fi;
	if (!p || p->euid == SAKER_UID_UNSET)
		return 0;
	v->u = p->euid;
	return 1;
}

static int user_entry(struct saker_fctx *c, const struct saker_finst *fi, struct saker_fval *v)
{
	const struct saker_proc *p = saker_fctx_proc(c);
	const struct idname *idn;

	if (!p)
		return 0;
	idn = c->names ? find_id(c->names->users, c->names->nusers, p->euid) : NULL;
	if (!idn)
		return 0;
	return saker_fval_cstr(v, fi->sel == U_NAME   ? idn->name
				  : fi->sel == U_HOME ? idn->home
						      : idn->shell);
}

static int user_loginuid(struct saker_fctx *c, const struct saker_finst *fi, struct saker_fval *v)
{
	const struct saker_proc *p = saker_fctx_proc(c);

	(void)fi;
	if (!p)
		return 0;
	v->i = p->loginuid == SAKER_UID_UNSET ? -1 : (int64_t)p->loginuid;
	return 1;
}

static int user_loginname(struct saker_fctx *c, const struct saker_finst *fi, struct saker_fval *v)
{
	const struct saker_proc *p = saker_fctx_proc(c);
	const struct idname *idn;

	(void)fi;
	if (!p || p->loginuid == SAKER_UID_UNSET)
		return 0;
	idn = c->names ? find_id(c->names->users, c->names->nusers, p->loginuid) : NULL;
	return idn ? saker_fval_cstr(v, idn->name) : 0;
}

static int group_gid(struct saker_fctx *c, const struct saker_finst *fi, struct saker_fval *v)
{
	const struct saker_proc *p = saker_fctx_proc(c);

	(void)fi;
	if (!p || p->egid == SAKER_UID_UNSET)
		return 0;
	v->u = p->egid;
	return 1;
}

static int group_name(struct saker_fctx *c, const struct saker_finst *fi, struct saker_fval *v)
{
	const struct saker_proc *p = saker_fctx_proc(c);
	const struct idname *idn;

	(void)fi;
	if (!p)
		return 0;
	idn = c->names ? find_id(c->names->groups, c->names->ngroups, p->egid) : NULL;
	return idn ? saker_fval_cstr(v, idn->name) : 0;
}

/* clang-format off */
static const struct saker_field_row rows[] = {
	{{"user.uid", T(U64), 0, "Effective user id", NULL}, user_uid, 0, 2},
	{{"user.name", T(STR), 0, "Effective user's name (host /etc/passwd)", NULL}, user_entry, U_NAME, 3},
	{{"user.loginuid", T(S64), 0, "Audit login uid, -1 when unset", NULL}, user_loginuid, 0, 2},
	{{"user.loginname", T(STR), 0, "Login user's name", NULL}, user_loginname, 0, 3},
	{{"user.homedir", T(STR), 0, "Effective user's home directory", NULL}, user_entry, U_HOME, 3},
	{{"user.shell", T(STR), 0, "Effective user's shell", NULL}, user_entry, U_SHELL, 3},
	{{"group.gid", T(U64), 0, "Effective group id", NULL}, group_gid, 0, 2},
	{{"group.name", T(STR), 0, "Effective group's name (host /etc/group)", NULL}, group_name, 0, 3},
};
/* clang-format on */

const struct saker_field_class saker_fclass_user = SAKER_FIELD_CLASS("user", rows);
