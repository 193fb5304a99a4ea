/*
 * A configuration as a value: defaults, copy, comparison and free, all
 * driven by the key table (config_keys.c), and the checks that span keys.
 * Loads are atomic: a document is applied to a copy that replaces the
 * caller's configuration only when the whole document was accepted, so a bad
 * SIGHUP reload leaves the running configuration untouched.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "config/config_int.h"
#include "lib/errbuf.h"

static const char *const action_names[] = {
    [SAKER_DROP_ACT_IGNORE] = "ignore", [SAKER_DROP_ACT_LOG] = "log",
    [SAKER_DROP_ACT_ALERT] = "alert",	[SAKER_DROP_ACT_EXIT] = "exit",
    [SAKER_DROP_ACT_RESYNC] = "resync",
};
_Static_assert(sizeof(action_names) / sizeof(action_names[0]) == CFG_N_ACTIONS,
	       "one name per drop action");

const char *saker_drop_action_name(enum saker_drop_action a)
{
	if ((unsigned)a >= sizeof(action_names) / sizeof(action_names[0]))
		return "unknown";
	return action_names[a];
}

int cfg_action_parse(const char *s, enum saker_drop_action *out)
{
	for (size_t i = 0; i < sizeof(action_names) / sizeof(action_names[0]); i++) {
		if (strcmp(s, action_names[i]) == 0) {
			*out = (enum saker_drop_action)i;
			return 0;
		}
	}
	return -EINVAL;
}

void cfg_strlist_clear(struct saker_strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

int cfg_strlist_push(struct saker_strlist *l, const char *s)
{
	char *dup = strdup(s);
	char **v;

	if (!dup)
		return -ENOMEM;
	/* The capacity is implicit: the array doubles whenever n reaches a power of two. */
	if ((l->n & (l->n - 1)) == 0) {
		v = realloc(l->v, (l->n ? 2 * l->n : 1) * sizeof(*v));
		if (!v) {
			free(dup);
			return -ENOMEM;
		}
		l->v = v;
	}
	l->v[l->n++] = dup;
	return 0;
}

void cfg_actions_add(struct saker_drops_config *d, enum saker_drop_action a)
{
	if (a == SAKER_DROP_ACT_IGNORE)
		return; /* an empty list already means ignore */
	for (size_t i = 0; i < d->n_actions; i++) {
		if (d->actions[i] == a)
			return;
	}
	if (d->n_actions < SAKER_MAX_DROP_ACTIONS)
		d->actions[d->n_actions++] = a;
}

void cfg_rulesel_clear(void *p)
{
	rulesel_list *l = p;

	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].rule);
		free(l->v[i].tag);
	}
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

void cfg_append_fields_clear(struct saker_append *a)
{
	for (size_t j = 0; j < a->n_fields; j++) {
		free(a->fields[j].key);
		free(a->fields[j].value);
	}
	free(a->fields);
	a->fields = NULL;
	a->n_fields = 0;
}

void cfg_append_entry_free(struct saker_append *a)
{
	free(a->source);
	free(a->rule);
	free(a->extra_output);
	cfg_strlist_clear(&a->tags);
	cfg_append_fields_clear(a);
	memset(a, 0, sizeof(*a));
}

void cfg_append_clear(void *p)
{
	append_list *l = p;

	for (size_t i = 0; i < l->n; i++)
		cfg_append_entry_free(&l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

/* strdup that keeps NULL; false on ENOMEM. */
static bool dup_or_null(char **dst, const char *s)
{
	*dst = s ? strdup(s) : NULL;
	return !s || *dst;
}

/*
 * n items of size bytes from src into a new array (*dst) through copy; on
 * failure *dn counts the items to free, the one that failed included.
 */
static int copy_items(void **dst, size_t *dn, const void *src, size_t n, size_t size,
		      int (*copy)(void *o, const void *i))
{
	char *v;

	*dst = NULL;
	*dn = 0;
	if (!n)
		return 0;
	v = calloc(n, size);
	if (!v)
		return -ENOMEM;
	*dst = v;
	for (; *dn < n; (*dn)++) {
		if (copy(v + *dn * size, (const char *)src + *dn * size)) {
			(*dn)++;
			return -ENOMEM;
		}
	}
	return 0;
}

static int rulesel_entry_copy(void *op, const void *ip)
{
	struct saker_rule_sel *o = op;
	const struct saker_rule_sel *i = ip;

	o->enable = i->enable;
	if (!dup_or_null(&o->rule, i->rule) || !dup_or_null(&o->tag, i->tag))
		return -ENOMEM;
	return 0;
}

static int rulesel_copy(void *dp, const void *sp)
{
	rulesel_list *d = dp;
	const rulesel_list *src = sp;
	void *v;
	int ret = copy_items(&v, &d->n, src->v, src->n, sizeof(*src->v), rulesel_entry_copy);

	d->v = v;
	return ret;
}

int cfg_append_entry_copy(struct saker_append *o, const struct saker_append *i)
{
	memset(o, 0, sizeof(*o));
	o->suggested_output = i->suggested_output;
	if (!dup_or_null(&o->source, i->source) || !dup_or_null(&o->rule, i->rule) ||
	    !dup_or_null(&o->extra_output, i->extra_output))
		return -ENOMEM;
	for (size_t j = 0; j < i->tags.n; j++)
		if (cfg_strlist_push(&o->tags, i->tags.v[j]))
			return -ENOMEM;
	if (i->n_fields && !(o->fields = calloc(i->n_fields, sizeof(*o->fields))))
		return -ENOMEM;
	for (; o->n_fields < i->n_fields; o->n_fields++) {
		struct saker_append_field *f = &o->fields[o->n_fields];

		if (!dup_or_null(&f->key, i->fields[o->n_fields].key) ||
		    !dup_or_null(&f->value, i->fields[o->n_fields].value)) {
			o->n_fields++;
			return -ENOMEM;
		}
	}
	return 0;
}

static int append_item_copy(void *o, const void *i)
{
	return cfg_append_entry_copy(o, i);
}

static int append_copy(void *dp, const void *sp)
{
	append_list *d = dp;
	const append_list *src = sp;
	void *v;
	int ret = copy_items(&v, &d->n, src->v, src->n, sizeof(*src->v), append_item_copy);

	d->v = v;
	return ret;
}

static bool str_eq(const char *a, const char *b);

static bool strlist_eq(const struct saker_strlist *a, const struct saker_strlist *b)
{
	if (a->n != b->n)
		return false;
	for (size_t j = 0; j < a->n; j++)
		if (!str_eq(a->v[j], b->v[j]))
			return false;
	return true;
}

static bool rulesel_eq(const void *pa, const void *pb)
{
	const rulesel_list *a = pa, *b = pb;

	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (a->v[i].enable != b->v[i].enable || !str_eq(a->v[i].rule, b->v[i].rule) ||
		    !str_eq(a->v[i].tag, b->v[i].tag))
			return false;
	return true;
}

static bool append_eq(const void *pa, const void *pb)
{
	const append_list *a = pa, *b = pb;

	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++) {
		const struct saker_append *x = &a->v[i], *y = &b->v[i];

		if (!str_eq(x->source, y->source) || !str_eq(x->rule, y->rule) ||
		    !str_eq(x->extra_output, y->extra_output) || !strlist_eq(&x->tags, &y->tags) ||
		    x->n_fields != y->n_fields || x->suggested_output != y->suggested_output)
			return false;
		for (size_t j = 0; j < x->n_fields; j++)
			if (!str_eq(x->fields[j].key, y->fields[j].key) ||
			    !str_eq(x->fields[j].value, y->fields[j].value))
				return false;
	}
	return true;
}

int saker_config_set_strlist(struct saker_strlist *l, char *const *v, size_t n)
{
	struct saker_strlist nl = {0};

	for (size_t i = 0; i < n; i++)
		if (cfg_strlist_push(&nl, v[i])) {
			cfg_strlist_clear(&nl);
			return -ENOMEM;
		}
	cfg_strlist_clear(l);
	*l = nl;
	return 0;
}

void saker_config_free(struct saker_config *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < cfg_n_opts; i++) {
		const struct opt *o = &cfg_opts[i];

		if (o->type == OPT_STRING) {
			char **s = slot(cfg, o);

			free(*s);
			*s = NULL;
		} else if (o->type == OPT_STRLIST) {
			cfg_strlist_clear(slot(cfg, o));
		} else if (o->type == OPT_RULESEL) {
			cfg_rulesel_clear(slot(cfg, o));
		} else if (o->type == OPT_APPEND) {
			cfg_append_clear(slot(cfg, o));
		}
	}
}

void saker_config_init(struct saker_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	for (size_t i = 0; i < cfg_n_opts; i++) {
		const struct opt *o = &cfg_opts[i];
		void *p = slot(cfg, o);

		switch (o->type) {
		case OPT_BOOL:
			*(bool *)p = o->def_b;
			break;
		case OPT_U64:
			*(uint64_t *)p = o->def_u;
			break;
		case OPT_DOUBLE:
			*(double *)p = o->def_d;
			break;
		case OPT_PRIO:
			*(enum saker_prio *)p = (enum saker_prio)o->def_u;
			break;
		case OPT_STRING:
			/* An allocation failure leaves NULL, which validate reports for
			 * engine.kind. */
			*(char **)p = o->def_s ? strdup(o->def_s) : NULL;
			break;
		case OPT_ACTIONS: {
			struct saker_drops_config *d = p;
			char buf[64];
			char *save = NULL;

			snprintf(buf, sizeof(buf), "%s", o->def_s);
			for (char *t = strtok_r(buf, ",", &save); t;
			     t = strtok_r(NULL, ",", &save)) {
				enum saker_drop_action a;

				if (cfg_action_parse(t, &a) == 0)
					cfg_actions_add(d, a);
			}
			break;
		}
		case OPT_STRLIST:
		case OPT_RULESEL:
		case OPT_APPEND:
		case OPT_UNSUPPORTED:
			break;
		}
	}
}

int saker_config_copy(struct saker_config *dst, const struct saker_config *src)
{
	int ret = 0;

	memcpy(dst, src, sizeof(*dst));
	/* First detach every pointer from src so that a failure can free dst safely. */
	for (size_t i = 0; i < cfg_n_opts; i++) {
		const struct opt *o = &cfg_opts[i];

		if (o->type == OPT_STRING) {
			*(char **)slot(dst, o) = NULL;
		} else if (o->type == OPT_STRLIST) {
			struct saker_strlist *l = slot(dst, o);

			l->v = NULL;
			l->n = 0;
		} else if (o->type == OPT_RULESEL) {
			memset(slot(dst, o), 0, sizeof(rulesel_list));
		} else if (o->type == OPT_APPEND) {
			memset(slot(dst, o), 0, sizeof(append_list));
		}
	}
	for (size_t i = 0; i < cfg_n_opts && !ret; i++) {
		const struct opt *o = &cfg_opts[i];

		if (o->type == OPT_STRING) {
			const char *s = *(char *const *)cslot(src, o);

			if (s) {
				*(char **)slot(dst, o) = strdup(s);
				if (!*(char **)slot(dst, o))
					ret = -ENOMEM;
			}
		} else if (o->type == OPT_STRLIST) {
			const struct saker_strlist *from = cslot(src, o);

			for (size_t j = 0; j < from->n && !ret; j++)
				ret = cfg_strlist_push(slot(dst, o), from->v[j]);
		} else if (o->type == OPT_RULESEL) {
			ret = rulesel_copy(slot(dst, o), cslot(src, o));
		} else if (o->type == OPT_APPEND) {
			ret = append_copy(slot(dst, o), cslot(src, o));
		}
	}
	if (ret)
		saker_config_free(dst);
	return ret;
}

static bool str_eq(const char *a, const char *b)
{
	if (!a || !b)
		return !a && !b;
	return strcmp(a, b) == 0;
}

static bool opt_equal(const struct opt *o, const struct saker_config *a,
		      const struct saker_config *b)
{
	const void *pa = cslot(a, o), *pb = cslot(b, o);

	switch (o->type) {
	case OPT_BOOL:
		return *(const bool *)pa == *(const bool *)pb;
	case OPT_U64:
		return *(const uint64_t *)pa == *(const uint64_t *)pb;
	case OPT_DOUBLE:
		return *(const double *)pa == *(const double *)pb;
	case OPT_PRIO:
		return *(const enum saker_prio *)pa == *(const enum saker_prio *)pb;
	case OPT_STRING:
		return str_eq(*(char *const *)pa, *(char *const *)pb);
	case OPT_ACTIONS: {
		const struct saker_drops_config *da = pa, *db = pb;

		if (da->n_actions != db->n_actions)
			return false;
		for (size_t j = 0; j < da->n_actions; j++) {
			if (da->actions[j] != db->actions[j])
				return false;
		}
		return true;
	}
	case OPT_STRLIST: {
		const struct saker_strlist *la = pa, *lb = pb;

		if (la->n != lb->n)
			return false;
		for (size_t j = 0; j < la->n; j++) {
			if (!str_eq(la->v[j], lb->v[j]))
				return false;
		}
		return true;
	}
	case OPT_RULESEL:
		return rulesel_eq(pa, pb);
	case OPT_APPEND:
		return append_eq(pa, pb);
	case OPT_UNSUPPORTED:
		return true;
	}
	return true;
}

bool saker_config_equal(const struct saker_config *a, const struct saker_config *b)
{
	for (size_t i = 0; i < cfg_n_opts; i++)
		if (!opt_equal(&cfg_opts[i], a, b))
			return false;
	return true;
}

size_t saker_config_diff(const struct saker_config *a, const struct saker_config *b,
			 saker_config_diff_fn fn, void *ctx)
{
	size_t n = 0;

	for (size_t i = 0; i < cfg_n_opts; i++) {
		if (opt_equal(&cfg_opts[i], a, b))
			continue;
		n++;
		if (fn)
			fn(ctx, cfg_opts[i].key, cfg_opts[i].apply);
	}
	return n;
}

int saker_config_key_apply(const char *key, enum saker_config_apply *when)
{
	for (size_t i = 0; i < cfg_n_opts; i++) {
		if (strcmp(cfg_opts[i].key, key) == 0) {
			*when = cfg_opts[i].apply;
			return 0;
		}
	}
	return -ENOENT;
}

/* The value of the OPT_F_OUTPUT_ON row of key's channel (its first component). */
static bool output_on(const struct saker_config *cfg, const char *key)
{
	size_t n = strcspn(key, ".");

	for (size_t i = 0; i < cfg_n_opts; i++)
		if ((cfg_opts[i].flags & OPT_F_OUTPUT_ON) &&
		    strncmp(cfg_opts[i].key, key, n) == 0 && cfg_opts[i].key[n] == '.')
			return *(const bool *)((const char *)cfg + cfg_opts[i].off);
	return false;
}

/* At least one output channel, and what each enabled one needs. */
static int validate_outputs(const struct saker_config *cfg, char *err, size_t errlen)
{
	char names[512] = "";
	size_t len = 0, k = 0, n_on = 0;
	bool any = false;

	for (size_t i = 0; i < cfg_n_opts; i++)
		n_on += (cfg_opts[i].flags & OPT_F_OUTPUT_ON) != 0;
	for (size_t i = 0; i < cfg_n_opts; i++) {
		if (!(cfg_opts[i].flags & OPT_F_OUTPUT_ON))
			continue;
		any |= *(const bool *)((const char *)cfg + cfg_opts[i].off);
		k++;
		if (len < sizeof(names))
			len +=
			    (size_t)snprintf(names + len, sizeof(names) - len, "%s%.*s",
					     k == 1	 ? ""
					     : k == n_on ? " or "
							 : ", ",
					     (int)strcspn(cfg_opts[i].key, "."), cfg_opts[i].key);
	}
	if (!any) {
		saker_set_err(err, errlen, "no output enabled (enable %s)", names);
		return -EINVAL;
	}
	for (size_t i = 0; i < cfg_n_opts; i++) {
		const char *v;

		if (!(cfg_opts[i].flags & OPT_F_OUTPUT_NEEDS))
			continue;
		v = *(char *const *)((const char *)cfg + cfg_opts[i].off);
		if ((v && v[0]) || !output_on(cfg, cfg_opts[i].key))
			continue;
		saker_set_err(err, errlen, "%.*s is enabled but %s is empty",
			      (int)strcspn(cfg_opts[i].key, "."), cfg_opts[i].key, cfg_opts[i].key);
		return -EINVAL;
	}
	return 0;
}

int saker_config_validate(const struct saker_config *cfg, char *err, size_t errlen)
{
	if (cfg->rules_files.n && cfg->rules_file.n) {
		/* Falco refuses this too: which list wins would be a guess */
		saker_set_err(
		    err, errlen,
		    "both rules_files and rules_file are set; keep rules_files (rules_file is "
		    "its older name)");
		return -EINVAL;
	}
	if (validate_outputs(cfg, err, errlen) < 0)
		return -EINVAL;
	if (cfg->nats_output.enabled && !cfg->nats_output.cert_file != !cfg->nats_output.key_file) {
		saker_set_err(
		    err, errlen,
		    "nats_output: cert_file and key_file go together (one is set, not the other)");
		return -EINVAL;
	}
	if (!cfg->engine.kind || (strcmp(cfg->engine.kind, "modern_ebpf") != 0 &&
				  strcmp(cfg->engine.kind, "replay") != 0)) {
		saker_set_err(err, errlen,
			      "engine.kind: only modern_ebpf and replay are supported");
		return -EINVAL;
	}
	if (strcmp(cfg->engine.kind, "replay") == 0 &&
	    !(cfg->engine.replay.capture_file && cfg->engine.replay.capture_file[0])) {
		saker_set_err(err, errlen,
			      "engine.kind is replay but engine.replay.capture_file is empty");
		return -EINVAL;
	}
	if (cfg->webserver.enabled && cfg->webserver.ssl_enabled &&
	    !(cfg->webserver.ssl_certificate && cfg->webserver.ssl_certificate[0])) {
		saker_set_err(err, errlen,
			      "webserver.ssl_enabled is on but webserver.ssl_certificate is empty");
		return -EINVAL;
	}
	return 0;
}

uint64_t saker_config_preset_bytes(uint64_t preset)
{
	if (preset < 1)
		preset = 1;
	if (preset > 10)
		preset = 10;
	return MIB << (preset - 1);
}

uint64_t saker_config_ring_bytes(const struct saker_config *cfg)
{
	if (cfg->engine.modern_ebpf.buf_size)
		return cfg->engine.modern_ebpf.buf_size;
	return saker_config_preset_bytes(cfg->engine.modern_ebpf.buf_size_preset);
}
