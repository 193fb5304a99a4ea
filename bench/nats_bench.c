/*
 * nats_output alone (no probe, no root): bench/nats_bench.py starts a
 * nats-server and runs this against it.
 *
 *   nats_bench URL SPOOL_DIR throughput N   N alerts as fast as the queue takes
 *                                           them: alerts/s until every one is
 *                                           acknowledged, CPU per alert
 *   nats_bench URL SPOOL_DIR latency N      one alert at a time: publish-to-ack
 *                                           p50/p99 (spool append, publish, ack)
 *   nats_bench URL SPOOL_DIR spool N        URL is dead: alerts/s into the spool
 *                                           (queue drained, synced at shutdown)
 * One line of JSON on stdout.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "lib/clock.h"
#include "outputs/output_nats.h"

static uint64_t mono(void)
{
	return saker_clock_ns(CLOCK_MONOTONIC);
}

static double cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* An alert of the usual size (a rule alert with its output_fields is ~600 bytes). */
static size_t make_alert(char *buf, size_t len, uint64_t i)
{
	int n = snprintf(buf, len,
			 "{\"hostname\":\"bench\",\"output\":\"12:00:00.000000000: Warning "
			 "Sensitive file opened for reading by non-trusted program (file=/etc/shadow "
			 "gparent=systemd ggparent=<NA> gggparent=<NA> evt_type=openat user=root "
			 "user_uid=0 user_loginuid=-1 process=cat proc_exepath=/usr/bin/cat "
			 "parent=bash command=cat /etc/shadow seq=%" PRIu64 ")\",\"output_fields\":"
			 "{\"evt.time\":1700000000000000000,\"fd.name\":\"/etc/shadow\",\"proc.cmdline\":"
			 "\"cat /etc/shadow\",\"proc.name\":\"cat\",\"proc.pid\":1234,\"user.name\":"
			 "\"root\",\"seq\":%" PRIu64 "},\"priority\":\"Warning\",\"rule\":\"Read "
			 "sensitive file untrusted\",\"source\":\"syscall\",\"tags\":[\"filesystem\","
			 "\"mitre_credential_access\"],\"time\":\"2026-12-07T12:00:00.000000000Z\"}",
			 i, i);

	return n > 0 ? (size_t)n : 0;
}

static void wait_acked(struct saker_nats *n, uint64_t want)
{
	struct saker_nats_stats st;

	for (;;) {
		saker_nats_get_stats(n, &st);
		if (st.acked >= want)
			return;
		nanosleep(&(struct timespec){.tv_nsec = 20000}, NULL);
	}
}

int main(int argc, char **argv)
{
	char *servers[1];
	struct saker_nats_cfg cfg = {0};
	struct saker_nats_stats st;
	struct saker_nats *n = NULL;
	char err[512] = "", alert[2048];
	uint64_t count, t0, t1;
	double c0, c1;
	int rc;

	if (argc != 5) {
		fprintf(stderr, "usage: %s URL SPOOL_DIR throughput|latency|spool N\n", argv[0]);
		return 2;
	}
	count = strtoull(argv[4], NULL, 10);
	servers[0] = argv[1];
	cfg.servers = servers;
	cfg.n_servers = 1;
	cfg.subject_prefix = "bench";
	cfg.hostname = "bench";
	cfg.stream = "BENCH";
	cfg.replicas = 1;
	cfg.spool_dir = argv[2];
	cfg.spool_max_bytes = 1ULL << 30;
	cfg.queue_cap = (size_t)count + 16;
	rc = saker_nats_new(&n, &cfg, NULL, NULL, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "nats_bench: %s\n", err);
		return 1;
	}
	if (strcmp(argv[3], "spool") != 0) {
		/* connected, stream in place */
		for (int i = 0; i < 2000; i++) {
			saker_nats_get_stats(n, &st);
			if (st.connected)
				break;
			usleep(10000);
		}
		if (!st.connected) {
			fprintf(stderr, "nats_bench: not connected to %s\n", argv[1]);
			return 1;
		}
	}
	if (strcmp(argv[3], "latency") == 0) {
		uint64_t *lat = calloc(count, sizeof(*lat));

		if (!lat)
			return 1;
		for (uint64_t i = 0; i < count; i++) {
			size_t len = make_alert(alert, sizeof(alert), i);

			t0 = mono();
			if (saker_nats_publish(n, "alerts", alert, len) < 0)
				return 1;
			wait_acked(n, i + 1);
			lat[i] = mono() - t0;
		}
		qsort(lat, count, sizeof(*lat), cmp_u64);
		printf("{\"mode\":\"latency\",\"alerts\":%" PRIu64 ",\"p50_us\":%.1f,\"p99_us\":%.1f,"
		       "\"max_us\":%.1f}\n",
		       count, (double)lat[count / 2] / 1e3, (double)lat[count * 99 / 100] / 1e3,
		       (double)lat[count - 1] / 1e3);
		free(lat);
		saker_nats_free(n);
		return 0;
	}
	c0 = cpu_s();
	t0 = mono();
	for (uint64_t i = 0; i < count; i++) {
		size_t len = make_alert(alert, sizeof(alert), i);

		if (saker_nats_publish(n, "alerts", alert, len) < 0) {
			fprintf(stderr, "nats_bench: queue full at %" PRIu64 "\n", i);
			return 1;
		}
	}
	if (strcmp(argv[3], "spool") == 0)
		saker_nats_shutdown(n, 60000);
	else
		wait_acked(n, count);
	t1 = mono();
	c1 = cpu_s();
	saker_nats_get_stats(n, &st);
	printf("{\"mode\":\"%s\",\"alerts\":%" PRIu64 ",\"seconds\":%.3f,\"alerts_per_s\":%.0f,"
	       "\"cpu_us_per_alert\":%.2f,\"acked\":%" PRIu64 ",\"pending\":%" PRIu64
	       ",\"lost\":%" PRIu64 ",\"spool_bytes\":%" PRIu64 "}\n",
	       argv[3], count, (double)(t1 - t0) / 1e9, (double)count * 1e9 / (double)(t1 - t0),
	       (c1 - c0) * 1e6 / (double)count, st.acked, st.pending,
	       st.lost_queue + st.lost_spool_full + st.lost_write + st.lost_corrupt, st.spool_bytes);
	saker_nats_free(n);
	return 0;
}
