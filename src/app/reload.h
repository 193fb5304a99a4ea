/*
 * Configuration as the command line gives it, at start and on SIGHUP. A
 * reload applies the keys the configuration table marks live (outputs,
 * syscall selection, drop settings, logging, the dump's format, the rules:
 * recompiled whole, then swapped into the pipeline's slot) and logs one
 * warning naming every changed key that takes effect only at the next start
 * (engine.*, state.*). A reload that fails changes nothing.
 */
#ifndef SAKER_RELOAD_H
#define SAKER_RELOAD_H

#include <stddef.h>
#include <stdint.h>

#include "capture/syscalls.h"
#include "config/config.h"
#include "lib/log.h"

struct saker_app;
struct saker_app_opts;

/*
 * Loads the file (or the embedded default), the -o overrides, -U; validates;
 * builds the probe's syscall table (which also checks base_syscalls). Warnings
 * (unknown keys) go to log. cfg is freed on error, with the reason in err.
 */
int saker_reload_load_config(const struct saker_app_opts *opts, const struct saker_log *log,
			     struct saker_config *cfg, uint8_t table[SAKER_SYSCALL_MAX], char *err,
			     size_t errlen);

/*
 * The warning for restart-only keys whose value differs between the running
 * (start) configuration and the new one, into buf: "... take effect at the
 * next start: k1, k2". Returns how many keys it names (0: buf is empty).
 */
size_t saker_reload_restart_warning(const struct saker_config *running,
				    const struct saker_config *next, char *buf, size_t len);

/* SIGHUP. */
void saker_reload_run(struct saker_app *app);

#endif
