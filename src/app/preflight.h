/*
 * --dry-run's look at the files a run would use: each is opened the way the
 * run opens it, without writing anything, and a file created only for the
 * look is removed again.
 */
#ifndef SAKER_PREFLIGHT_H
#define SAKER_PREFLIGHT_H

#include <stddef.h>

#include "config/config.h"

/*
 * Checks that a file can be opened for appending (created 0600 when
 * missing, then removed). 0, or a negative errno with "path: why" in err.
 */
int saker_preflight_append(const char *path, char *err, size_t errlen);
/* Checks that a file can be read. */
int saker_preflight_read(const char *path, char *err, size_t errlen);

/* Every file the enabled outputs of cfg would open; the first failure is reported. */
int saker_preflight_files(const struct saker_config *cfg, char *err, size_t errlen);

#endif
