/*
 * libFuzzer harness: `-o key=value` overrides. The input is split at newlines
 * into up to 8 overrides applied in order to the defaults, as repeated -o
 * options are. Every message is one line; the result dumps and loads back.
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct saker_config cfg, back;
	char err[512], *text = malloc(size + 1), *save = NULL, *buf = NULL;
	size_t len = 0;
	int n = 0;
	FILE *m;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	saker_config_init(&cfg);
	for (char *ov = strtok_r(text, "\n", &save); ov && n < 8;
	     ov = strtok_r(NULL, "\n", &save)) {
		err[0] = '\0';
		if (saker_config_override(&cfg, ov, err, sizeof(err), one_line, NULL) &&
		    (!err[0] || strchr(err, '\n')))
			abort();
		n++;
	}
	m = open_memstream(&buf, &len);
	if (m) {
		int ret = saker_config_dump(&cfg, m);

		fclose(m);
		if (ret == 0) {
			saker_config_init(&back);
			if (saker_config_load_buffer(&back, "dump", buf, len, err, sizeof(err),
						     NULL, NULL) ||
			    !saker_config_equal(&cfg, &back)) {
				fprintf(stderr, "override result does not round-trip: %s\n%s", err,
					buf);
				abort();
			}
			saker_config_free(&back);
		}
		free(buf);
	}
	saker_config_free(&cfg);
	free(text);
	return 0;
}
