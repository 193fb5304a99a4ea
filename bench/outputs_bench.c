/*
 * Alert throughput through the outputs (no BPF, no root): N alerts emitted
 * into the file channel (a file in $TMPDIR), unbuffered and with
 * buffered_outputs + keep_alive, and into stdout (run it with stdout on
 * /dev/null). The emitting side waits for the channel past half a queue, as
 * replay does, so nothing is lost; every alert must be delivered. Prints
 * alerts per second, the best of 3 passes, per case.
 * Build: make outputs-bench; run: build/bench/outputs_bench [N] > /dev/null
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config/config.h"
#include "lib/clock.h"
#include "outputs/outputs.h"

static double run(const struct saker_config *cfg, unsigned n, enum saker_channel ch)
{
	static const struct saker_field fields[] = {
	    {.name = "proc.name", .type = SAKER_FIELD_STR, .str = "bash"},
	    {.name = "fd.name", .type = SAKER_FIELD_STR, .str = "/etc/shadow"},
	    {.name = "proc.pid", .type = SAKER_FIELD_U64, .u64 = 4242},
	};
	static const char *const tags[] = {"filesystem", "mitre_credential_access"};
	struct saker_alert a = {
	    .priority = SAKER_PRIO_WARNING,
	    .rule = "Read sensitive file untrusted",
	    .source = "syscall",
	    .output = "Sensitive file opened for reading by non-trusted program (file=/etc/shadow "
		      "process=bash user=root)",
	    .fields = fields,
	    .n_fields = 3,
	    .tags = tags,
	    .n_tags = 2,
	};
	struct saker_outputs_stats st;
	struct saker_outputs *o;
	char err[256];
	uint64_t t0, t1;

	if (saker_outputs_new(&o, cfg, NULL, err, sizeof(err)) < 0) {
		fprintf(stderr, "outputs: %s\n", err);
		exit(1);
	}
	t0 = saker_clock_ns(CLOCK_MONOTONIC);
	for (unsigned i = 0; i < n; i++) {
		a.time_ns = t0 + i;
		if ((i & 255) == 0) {
			saker_outputs_get_stats(o, &st);
			if (st.queued * 2 >= SAKER_OUTPUTS_DEFAULT_QUEUE)
				(void)saker_outputs_flush(o, 10000);
		}
		if (saker_outputs_emit(o, &a) < 0) {
			fprintf(stderr, "emit refused at %u\n", i);
			exit(1);
		}
	}
	(void)saker_outputs_flush(o, 60000);
	t1 = saker_clock_ns(CLOCK_MONOTONIC);
	saker_outputs_get_stats(o, &st);
	if (st.delivered[ch] != n || st.lost[ch] || st.failed[ch]) {
		fprintf(stderr, "delivered %llu of %u\n", (unsigned long long)st.delivered[ch], n);
		exit(1);
	}
	saker_outputs_free(o);
	return (double)n / ((double)(t1 - t0) / 1e9);
}

static void bench(const char *name, const struct saker_config *cfg, unsigned n,
		  enum saker_channel ch)
{
	double best = 0;

	for (int pass = 0; pass < 3; pass++) {
		double r = run(cfg, n, ch);

		if (r > best)
			best = r;
	}
	fprintf(stderr, "%-28s %10.0f alerts/s\n", name, best);
}

int main(int argc, char **argv)
{
	unsigned n = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 200000;
	char path[] = "/tmp/saker-outputs-bench-XXXXXX";
	struct saker_config cfg;
	int fd = mkstemp(path);

	if (fd < 0)
		return 1;
	close(fd);
	saker_config_init(&cfg);
	cfg.stdout_output.enabled = false;
	cfg.file_output.enabled = true;
	cfg.file_output.filename = path;
	cfg.json_output = true;
	bench("file json per-alert open", &cfg, n / 10, SAKER_CH_FILE);
	cfg.file_output.keep_alive = true;
	bench("file json keep_alive", &cfg, n, SAKER_CH_FILE);
	cfg.buffered_outputs = true;
	bench("file json keep_alive buffered", &cfg, n, SAKER_CH_FILE);
	cfg.file_output.enabled = false;
	cfg.stdout_output.enabled = true;
	cfg.json_output = false;
	cfg.buffered_outputs = false;
	bench("stdout text", &cfg, n, SAKER_CH_STDOUT);
	unlink(path);
	cfg.file_output.filename = NULL;
	saker_config_free(&cfg);
	return 0;
}
