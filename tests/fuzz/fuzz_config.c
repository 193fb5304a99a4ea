/*
 * libFuzzer harness: the configuration loader on arbitrary bytes. Besides
 * not crashing: every message is one line, and an accepted document dumps
 * to YAML that loads back to an equal configuration (--dry-run's promise).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void one_line(void *ctx, enum saker_prio prio, const char *msg)
{
	(void)ctx;
	(void)prio;
	if (strchr(msg, '\n'))
		abort();
}

/* Dumps cfg and loads the dump into defaults: the two must be equal. */
static void round_trip(const struct saker_config *cfg)
{
	struct saker_config back;
	char err[512], *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	int ret;

	if (!m)
		return;
	ret = saker_config_dump(cfg, m);
	fclose(m);
	if (ret == 0) {
		saker_config_init(&back);
		if (saker_config_load_buffer(&back, "dump", buf, len, err, sizeof(err), NULL,
					     NULL) != 0) {
			fprintf(stderr, "dump does not load back: %s\n%s", err, buf);
			abort();
		}
		if (!saker_config_equal(cfg, &back)) {
			fprintf(stderr, "dump loads back different:\n%s", buf);
			abort();
		}
		saker_config_free(&back);
	}
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct saker_config cfg;
	char err[512] = "";

	saker_config_init(&cfg);
	if (saker_config_load_buffer(&cfg, "fuzz.yaml", (const char *)data, size, err, sizeof(err),
				     one_line, NULL) == 0) {
		round_trip(&cfg);
		(void)saker_config_validate(&cfg, err, sizeof(err));
	} else if (!err[0] || strchr(err, '\n')) {
		abort(); /* a refusal always says why, on one line */
	}
	saker_config_free(&cfg);
	return 0;
}
