#include "app/ruleset.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "capture/syscalls.h"
#include "outputs/outputs.h"
#include "rules/fields.h"
#include "rules/rules.h"

/* The container plugin's suggested output fields (Falco 0.41+), as Falco formats them. */
#define SAKER_SUGGESTED_OUTPUT "container_id=%container.id container_name=%container.name"

/*
 * Like Falco's /etc/falco/rules.d, the installed rules directory is read
 * without being configured: `make install` puts the default ruleset there, and
 * an edit to it (kept by the next install) must take effect.
 */
static char *const default_rules_dir[] = {SAKER_RULES_DIR};

void saker_ruleset_config_paths(const struct saker_config *cfg, char *const **paths, size_t *n)
{
	struct stat st;

	if (cfg->rules_files.n) {
		*paths = cfg->rules_files.v;
		*n = cfg->rules_files.n;
	} else if (cfg->rules_file.n) {
		*paths = cfg->rules_file.v;
		*n = cfg->rules_file.n;
	} else if (stat(SAKER_RULES_DIR, &st) == 0 && S_ISDIR(st.st_mode)) {
		*paths = default_rules_dir;
		*n = 1;
	} else {
		*paths = cfg->rules_files.v;
		*n = 0;
	}
}

static bool rules_name(const char *name)
{
	size_t n = strlen(name);

	if (name[0] == '.')
		return false;
	return (n > 5 && strcmp(name + n - 5, ".yaml") == 0) ||
	       (n > 4 && strcmp(name + n - 4, ".yml") == 0);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int load_path(struct saker_rules *r, const char *path, const struct saker_log *log,
		     char *err, size_t errlen);

/* A directory's *.yaml / *.yml, in sorted order (Falco's -r DIR); not recursive. */
static int load_dir(struct saker_rules *r, const char *path, const struct saker_log *log, char *err,
		    size_t errlen)
{
	DIR *d = opendir(path);
	struct dirent *de;
	char **names = NULL;
	size_t n = 0, cap = 0;
	int ret = 0;

	if (!d) {
		ret = -errno;
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(-ret));
		return ret;
	}
	while ((de = readdir(d)) != NULL) {
		if (!rules_name(de->d_name))
			continue;
		if (n == cap) {
			size_t nc = cap ? cap * 2 : 16;
			char **nv = realloc(names, nc * sizeof(*nv));

			if (!nv) {
				ret = -ENOMEM;
				break;
			}
			names = nv;
			cap = nc;
		}
		if (asprintf(&names[n], "%s/%s", path, de->d_name) < 0) {
			ret = -ENOMEM;
			break;
		}
		n++;
	}
	closedir(d);
	if (ret)
		snprintf(err, errlen, "%s: out of memory", path);
	if (!ret && n)
		qsort(names, n, sizeof(*names), cmp_str);
	for (size_t i = 0; !ret && i < n; i++) {
		struct stat st;

		/* Only regular files (a subdirectory named x.yaml is not a rules file). */
		if (stat(names[i], &st) == 0 && !S_ISREG(st.st_mode))
			continue;
		ret = load_path(r, names[i], log, err, errlen);
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return ret;
}

static int load_path(struct saker_rules *r, const char *path, const struct saker_log *log,
		     char *err, size_t errlen)
{
	struct stat st;

	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		return load_dir(r, path, log, err, errlen);
	return saker_rules_load_file(r, path, err, errlen, saker_log_report, (void *)log);
}

/* rs->used: the paths that exist (all of them without SKIP_MISSING); one warning for the rest. */
static int pick_paths(struct saker_ruleset *rs, char *const *paths, size_t n, unsigned flags,
		      const struct saker_log *log)
{
	char missing[1024];
	size_t nm = 0, used = 0;

	rs->used = calloc(n + 1, sizeof(*rs->used));
	if (!rs->used)
		return -ENOMEM;
	missing[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		struct stat st;

		if ((flags & SAKER_RULESET_SKIP_MISSING) && stat(paths[i], &st) &&
		    errno == ENOENT) {
			int w = snprintf(missing + used, sizeof(missing) - used, "%s%s",
					 nm ? ", " : "", paths[i]);

			if (w > 0)
				used += (size_t)w < sizeof(missing) - used
					    ? (size_t)w
					    : sizeof(missing) - used - 1;
			nm++;
			continue;
		}
		rs->used[rs->n_used] = strdup(paths[i]);
		if (!rs->used[rs->n_used])
			return -ENOMEM;
		rs->n_used++;
	}
	if (nm && rs->n_used)
		saker_log(log, SAKER_PRIO_WARNING,
			  "rules_files: skipping %zu that do not exist: %s", nm, missing);
	else if (nm)
		saker_log(log, SAKER_PRIO_WARNING,
			  "rules_files: none of the configured files exists (%s); running the "
			  "embedded default ruleset instead",
			  missing);
	return 0;
}

static void free_used(struct saker_ruleset *rs)
{
	for (size_t i = 0; rs->used && i < rs->n_used; i++)
		free(rs->used[i]);
	free(rs->used);
	rs->used = NULL;
	rs->n_used = 0;
}

int saker_ruleset_load(struct saker_ruleset *rs, const struct saker_config *cfg, char *const *paths,
		       size_t n_paths, unsigned flags, const struct saker_log *log, char *err,
		       size_t errlen)
{
	struct saker_rules *r;
	int ret;

	memset(rs, 0, sizeof(*rs));
	ret = pick_paths(rs, paths, n_paths, flags, log);
	if (ret) {
		free_used(rs);
		snprintf(err, errlen, "rules: %s", strerror(-ret));
		return ret;
	}
	paths = rs->used;
	n_paths = rs->n_used;
	ret = saker_rules_new(&r);
	if (ret) {
		free_used(rs);
		snprintf(err, errlen, "rules: %s", strerror(-ret));
		return ret;
	}
	saker_rules_set_min_priority(r, cfg->priority);
	saker_rules_set_match_all(r, cfg->rule_matching && strcmp(cfg->rule_matching, "all") == 0);
	for (size_t i = 0; !ret && i < cfg->append_output.n; i++) {
		const struct saker_append *ap = &cfg->append_output.v[i];
		const char *keys[64], *vals[64];
		struct saker_rules_append a = {
		    .source = ap->source,
		    .rule = ap->rule,
		    .tags = (const char *const *)ap->tags.v,
		    .n_tags = ap->tags.n,
		    .extra_output = ap->extra_output,
		    .field_keys = keys,
		    .field_values = vals,
		};

		char both[4096];

		/* Falco appends its container plugin's suggested fields as name=%field */
		if (ap->suggested_output) {
			snprintf(both, sizeof(both), "%s%s%s",
				 ap->extra_output ? ap->extra_output : "",
				 ap->extra_output ? " " : "", SAKER_SUGGESTED_OUTPUT);
			a.extra_output = both;
		}
		for (size_t j = 0; j < ap->n_fields && a.n_fields < 64; j++) {
			keys[a.n_fields] = ap->fields[j].key;
			vals[a.n_fields++] = ap->fields[j].value;
		}
		ret = saker_rules_add_append(r, &a);
		if (ret)
			snprintf(err, errlen, "append_output: %s", strerror(-ret));
	}
	if (!ret && !n_paths) {
		rs->default_rules = true;
		ret = saker_rules_load_buffer(r, SAKER_DEFAULT_RULES_NAME, saker_default_rules_yaml,
					      strlen(saker_default_rules_yaml), err, errlen,
					      saker_log_report, (void *)log);
	}
	for (size_t i = 0; !ret && i < n_paths; i++)
		ret = load_path(r, paths[i], log, err, errlen);
	for (size_t i = 0; !ret && i < cfg->rules.n; i++) {
		const struct saker_rule_sel *s = &cfg->rules.v[i];

		if (saker_rules_select(r, s->enable, s->rule, s->tag) == 0)
			saker_log(
			    log, SAKER_PRIO_WARNING, "rules[%zu]: %s %s%s%s%s%s matches no rule", i,
			    s->enable ? "enable" : "disable", s->rule ? "rule '" : "",
			    s->rule ? s->rule : "", s->rule ? "'" : "",
			    s->tag ? (s->rule ? " and tag " : "tag ") : "", s->tag ? s->tag : "");
	}
	if (!ret)
		ret = saker_rules_compile(r, err, errlen, saker_log_report, (void *)log);
	if (ret) {
		saker_rules_free(r);
		free_used(rs);
		return ret;
	}
	rs->rules = r;
	return 0;
}

void saker_ruleset_fini(struct saker_ruleset *rs)
{
	if (!rs)
		return;
	saker_rules_free(rs->rules);
	rs->rules = NULL;
	free_used(rs);
}

static void on_match(void *ctx, const struct saker_rule_info *rule, const struct saker_alert *a)
{
	struct saker_ruleset *rs = ctx;

	(void)rule;
	rs->matches++;
	/* The engine flags an alert raised on a possibly stale view (a->view_degraded). */
	if (a->view_degraded)
		rs->alerts_degraded++;
	if (!rs->outputs)
		return;
	/* A refused alert is counted by the outputs too (queue drops). */
	if (saker_outputs_emit(rs->outputs, a))
		rs->alerts_refused++;
	else
		rs->alerts++;
}

int saker_ruleset_on_event(void *ctx, const struct saker_event *ev)
{
	struct saker_ruleset *rs = ctx;
	int n;

	if (!rs->rules)
		return 0;
	n = saker_rules_match(rs->rules, ev, rs->view, on_match, rs);
	if (n < 0) {
		rs->errors++;
		return n;
	}
	return 0;
}

void saker_ruleset_syscalls(const struct saker_ruleset *rs, uint8_t sel[SAKER_SYSCALL_MAX],
			    bool *all)
{
	memset(sel, 0, SAKER_SYSCALL_MAX);
	*all = false;
	if (rs->rules)
		saker_rules_syscalls(rs->rules, sel, all);
}

size_t saker_ruleset_excluded(const uint8_t sel[SAKER_SYSCALL_MAX], bool all,
			      const uint8_t table[SAKER_SYSCALL_MAX], char *buf, size_t len)
{
	static const char head[] = "rules need syscalls that base_syscalls.custom_set removes "
				   "from the capture selection (their rules cannot match): ";
	size_t n = 0, used;

	if (!buf || len < sizeof(head) + 1)
		return 0;
	memcpy(buf, head, sizeof(head));
	used = sizeof(head) - 1;
	for (unsigned id = 0; id < SAKER_SYSCALL_MAX; id++) {
		const char *name = saker_syscall_name(id);
		int w;

		if (!name || !(sel[id] || all) || (table[id] & SAKER_SC_SELECTED))
			continue;
		w = snprintf(buf + used, len - used, "%s%s", n ? ", " : "", name);
		if (w > 0)
			used += (size_t)w < len - used ? (size_t)w : len - used - 1;
		n++;
	}
	if (!n)
		buf[0] = '\0';
	return n;
}

void saker_ruleset_print_loaded(const struct saker_ruleset *rs, FILE *f)
{
	size_t n = rs->rules ? saker_rules_count(rs->rules) : 0;

	for (size_t i = 0; i < n; i++) {
		const struct saker_rule_info *ri = saker_rules_get(rs->rules, i);

		if (ri->state != SAKER_RULE_LOADED)
			continue;
		fprintf(f, "%s\t%s\t%s:%u\n", ri->name, saker_prio_name(ri->priority),
			ri->file ? ri->file : "?", ri->line);
	}
}

static const char *state_word(enum saker_rule_state s)
{
	return s == SAKER_RULE_DISABLED ? "disabled" : "skipped";
}

void saker_ruleset_print_report(const struct saker_ruleset *rs,
				const uint8_t table[SAKER_SYSCALL_MAX], FILE *f)
{
	size_t n = rs->rules ? saker_rules_count(rs->rules) : 0;
	size_t loaded = rs->rules ? saker_rules_loaded(rs->rules) : 0, sel = 0;

	/* YAML comments: the configuration printed before them still reads back with -c */
	fprintf(f, "# rules: %zu loaded, %zu not loaded (%zu macros, %zu lists)%s\n", loaded,
		n - loaded, rs->rules ? saker_rules_macros(rs->rules) : 0,
		rs->rules ? saker_rules_lists(rs->rules) : 0,
		rs->default_rules ? ", the embedded default ruleset" : "");
	for (size_t i = 0; i < n; i++) {
		const struct saker_rule_info *ri = saker_rules_get(rs->rules, i);

		if (ri->state == SAKER_RULE_LOADED)
			continue;
		fprintf(f, "#   %s: %s:%u:%u: rule '%s': %s\n", state_word(ri->state),
			ri->file ? ri->file : "?", ri->line, ri->col, ri->name,
			ri->reason ? ri->reason : "");
	}
	fprintf(f, "# syscalls:");
	for (unsigned id = 0; id < SAKER_SYSCALL_MAX; id++) {
		const char *name = saker_syscall_name(id);

		if (!name || !(table[id] & SAKER_SC_SELECTED))
			continue;
		fprintf(f, " %s", name);
		sel++;
	}
	fprintf(f, "\n# syscalls selected: %zu\n", sel);
}

void saker_ruleset_print_fields(FILE *f)
{
	for (size_t i = 0; i < saker_fields_count(); i++) {
		const struct saker_field_info *fi = saker_fields_at(i);

		if (!fi)
			continue;
		fprintf(f, "%-40s %-10s %s", fi->name, saker_ftype_name(fi->type),
			fi->desc ? fi->desc : "");
		if (fi->flags & SAKER_FF_NEVER)
			fprintf(f, " [no value in saker: %s]",
				fi->never_reason ? fi->never_reason : "not available");
		fprintf(f, "\n");
	}
}

void saker_ruleset_collect_stats(const struct saker_ruleset *rs, struct saker_collect_rules *out)
{
	*out = (struct saker_collect_rules){0};
	if (rs->rules) {
		out->loaded = saker_rules_loaded(rs->rules);
		out->not_loaded = saker_rules_count(rs->rules) - out->loaded;
		saker_rules_stats(rs->rules, &out->events, &out->evals, &out->engine_matches);
	}
	out->matches = rs->matches;
	out->alerts = rs->alerts;
	out->alerts_refused = rs->alerts_refused;
	out->errors = rs->errors;
	out->alerts_degraded = rs->alerts_degraded;
	out->reloads = rs->reloads;
	out->reload_failures = rs->reload_failures;
}
