#include "app/reload.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drops/ledger.h"
#include "app/run.h"
#include "capture/capture.h"
#include "outputs/outputs.h"
#include "app/ruleset.h"
#include "rules/rules.h"

int saker_reload_load_config(const struct saker_app_opts *opts, const struct saker_log *log,
			     struct saker_config *cfg, uint8_t table[SAKER_SYSCALL_MAX], char *err,
			     size_t errlen)
{
	int ret;

	saker_config_init(cfg);
	if (opts->config_path)
		ret = saker_config_load_file(cfg, opts->config_path, err, errlen, saker_log_report,
					     (void *)log);
	else
		ret = saker_config_load_buffer(
		    cfg, "<embedded saker.yaml>", saker_default_config_yaml,
		    strlen(saker_default_config_yaml), err, errlen, saker_log_report, (void *)log);
	for (size_t i = 0; !ret && i < opts->n_overrides; i++)
		ret = saker_config_override(cfg, opts->overrides[i], err, errlen, saker_log_report,
					    (void *)log);
	if (!ret && opts->unbuffered)
		cfg->buffered_outputs = false;
	if (!ret)
		ret = saker_config_validate(cfg, err, errlen);
	if (!ret)
		ret = saker_syscalls_build_table(cfg, table, err, errlen);
	if (ret)
		saker_config_free(cfg);
	return ret;
}

struct restart_list {
	char *buf;
	size_t len, used;
	size_t n;
};

static void add_restart_key(void *ctx, const char *key, enum saker_config_apply when)
{
	struct restart_list *l = ctx;
	int w;

	if (when != SAKER_CONFIG_RESTART)
		return;
	w = snprintf(l->buf + l->used, l->len - l->used, "%s%s", l->n ? ", " : "", key);
	if (w > 0)
		l->used += (size_t)w < l->len - l->used ? (size_t)w : l->len - l->used - 1;
	l->n++;
}

size_t saker_reload_restart_warning(const struct saker_config *running,
				    const struct saker_config *next, char *buf, size_t len)
{
	static const char head[] = "SIGHUP: changed keys that take effect at the next start: ";
	struct restart_list l;

	if (!buf || len < sizeof(head) + 1)
		return 0;
	memcpy(buf, head, sizeof(head));
	l.buf = buf;
	l.len = len;
	l.used = sizeof(head) - 1;
	l.n = 0;
	(void)saker_config_diff(running, next, add_restart_key, &l);
	if (!l.n)
		buf[0] = '\0';
	return l.n;
}

/* The rules a reload compiles: -r as given at start, else the new configuration's files. */
static int load_rules(const struct saker_app *app, const struct saker_config *cfg,
		      struct saker_ruleset *next, char *err, size_t errlen)
{
	char *const *paths = app->opts.rules_paths;
	size_t n = app->opts.n_rules_paths;
	unsigned flags = 0;

	if (!n) {
		saker_ruleset_config_paths(cfg, &paths, &n);
		flags = SAKER_RULESET_SKIP_MISSING;
	}
	return saker_ruleset_load(next, cfg, paths, n, flags, &app->log, err, errlen);
}

/*
 * The engine of next goes into the pipeline's rules slot. SIGHUP is read by
 * the loop between drains, so no record is inside the engine now: every
 * record is matched by exactly one rule set, and alerts hold copies (the
 * outputs format at emit), so freeing the old engine leaves nothing dangling.
 */
static void swap_rules(struct saker_ruleset *running, struct saker_ruleset *next)
{
	struct saker_rules *old = running->rules;
	char **old_used = running->used;
	size_t old_n = running->n_used;

	running->rules = next->rules;
	running->default_rules = next->default_rules;
	running->used = next->used;
	running->n_used = next->n_used;
	next->rules = NULL;
	next->used = old_used;
	next->n_used = old_n;
	running->reloads++;
	saker_rules_free(old);
	/* the old list of files goes with next's fini */
	saker_ruleset_fini(next);
}

/*
 * Reads the configuration and compiles the rules and the syscall table
 * SIGHUP asks for, whole, before anything running changes: a broken file
 * keeps the running rules. 0, or a negative errno, logged, nothing kept.
 */
static int reload_prepare(struct saker_app *app, struct saker_config *cfg,
			  struct saker_ruleset *next, uint8_t *table, uint8_t *sel, bool *all)
{
	char err[1024];
	int ret;

	ret = saker_reload_load_config(&app->opts, &app->log, cfg, table, err, sizeof(err));
	if (ret) {
		saker_log(&app->log, SAKER_PRIO_ERROR,
			  "configuration reload failed, keeping the running one: %s", err);
		return ret;
	}
	ret = load_rules(app, cfg, next, err, sizeof(err));
	if (ret) {
		app->rules.reload_failures++;
		saker_log(&app->log, SAKER_PRIO_ERROR,
			  "rules reload failed, keeping the running rules and configuration: %s",
			  err);
		saker_config_free(cfg);
		return ret;
	}
	saker_ruleset_syscalls(next, sel, all);
	ret = saker_syscalls_build_table_rules(cfg, sel, *all, table, err, sizeof(err));
	if (ret) {
		saker_ruleset_fini(next);
		saker_config_free(cfg);
		saker_log(&app->log, SAKER_PRIO_ERROR,
			  "configuration reload failed, keeping the running one: %s", err);
	}
	return ret;
}

/*
 * The parts that may refuse, outputs first, then the probe's selection: if
 * either refuses, nothing has changed yet. 0, or a negative errno, logged.
 */
static int reload_switch(struct saker_app *app, const struct saker_config *cfg,
			 const uint8_t *table)
{
	char err[1024];
	int ret;

	ret = saker_outputs_reconfigure(app->outputs, cfg, err, sizeof(err));
	if (ret) {
		saker_log(&app->log, SAKER_PRIO_ERROR,
			  "configuration reload failed, keeping the running one: outputs: %s", err);
		return ret;
	}
	ret = saker_capture_set_syscalls(app->cap, table);
	if (ret) {
		saker_log(&app->log, SAKER_PRIO_ERROR,
			  "configuration reload failed, keeping the running one: %s",
			  strerror(-ret));
		return ret;
	}
	saker_pipeline_set_critical(&app->pipe, table);
	saker_canary_set_table(&app->canary, table);
	saker_capture_set_lane_budget(app->cap, cfg->protected_lane.rate, cfg->protected_lane.burst,
				      cfg->protected_lane.uid_rate, cfg->protected_lane.uid_burst,
				      cfg->protected_lane.cgroup_rate,
				      cfg->protected_lane.cgroup_burst);
	return 0;
}

/* A new ledger path: the new file, or (it cannot be opened) the old one kept in cfg. */
static void reload_ledger(struct saker_app *app, struct saker_config *cfg)
{
	struct saker_ledger *l;
	char err[1024];

	if (cfg->drops_ledger && app->live_cfg.drops_ledger &&
	    !strcmp(cfg->drops_ledger, app->live_cfg.drops_ledger))
		return;
	if (!saker_app_open_ledger(cfg->drops_ledger, &l, err, sizeof(err))) {
		saker_ledger_close(app->ledger);
		app->ledger = l;
		return;
	}
	saker_log(&app->log, SAKER_PRIO_ERROR, "%s; keeping the previous ledger", err);
	free(cfg->drops_ledger);
	cfg->drops_ledger = app->live_cfg.drops_ledger ? strdup(app->live_cfg.drops_ledger) : NULL;
}

void saker_reload_run(struct saker_app *app)
{
	struct saker_config cfg;
	struct saker_ruleset next;
	uint8_t table[SAKER_SYSCALL_MAX], sel[SAKER_SYSCALL_MAX];
	char warn[1024];
	bool all;

	saker_log(&app->log, SAKER_PRIO_INFO, "SIGHUP: reloading configuration and rules");
	if (reload_prepare(app, &cfg, &next, table, sel, &all))
		return;
	if (reload_switch(app, &cfg, table)) {
		saker_ruleset_fini(&next);
		saker_config_free(&cfg);
		return;
	}
	/* The selection is live (the probe reads it per event): the new rules' syscalls are in. */
	memcpy(app->rules_sel, sel, sizeof(sel));
	app->rules_all = all;
	swap_rules(&app->rules, &next);
	if (saker_ruleset_excluded(sel, all, table, warn, sizeof(warn)))
		saker_log(&app->log, SAKER_PRIO_WARNING, "%s", warn);
	saker_log(&app->log, SAKER_PRIO_INFO, "rules reloaded: %zu loaded, %zu not loaded",
		  saker_rules_loaded(app->rules.rules),
		  saker_rules_count(app->rules.rules) - saker_rules_loaded(app->rules.rules));
	/* Restart-only keys keep their start values; say once which ones wait. */
	if (saker_reload_restart_warning(&app->cfg, &cfg, warn, sizeof(warn)))
		saker_log(&app->log, SAKER_PRIO_WARNING, "%s", warn);
	saker_drops_reconfigure(&app->drops, &cfg.drops, saker_loop_now_ns());
	reload_ledger(app, &cfg);
	saker_drops_set_parts(&app->drops, app->attrib, app->ledger, app->view);
	saker_dump_set_format(&app->dump, cfg.json_output, cfg.time_format_iso_8601);
	saker_app_log_from_config(&app->log, &cfg);
	saker_config_free(&app->live_cfg);
	app->live_cfg = cfg;
	saker_log(&app->log, SAKER_PRIO_INFO, "configuration reloaded");
}
