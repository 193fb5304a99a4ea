/*
 * --dry-run's look at the files a run would use: each gets the checks and
 * refusals of the run's own open, and none is opened for writing or created
 * (a dry run never does more than the live start).
 */
#ifndef SAKER_PREFLIGHT_H
#define SAKER_PREFLIGHT_H

#include <stddef.h>

#include "config/config.h"

/*
 * Checks that the run could open a file for appending, with the safe-file
 * rules of lib/safefile.h; nothing is created or opened for writing.
 * 0, or a negative errno with the reason in err.
 */
int saker_preflight_append(const char *path, char *err, size_t errlen);
/* Checks that a file can be read. */
int saker_preflight_read(const char *path, char *err, size_t errlen);

/* Every file the enabled outputs of cfg would open; the first failure is reported. */
int saker_preflight_files(const struct saker_config *cfg, char *err, size_t errlen);

#endif
