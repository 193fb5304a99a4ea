#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "web/web.h"

#define MS 1000000ull

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int dial(uint16_t port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
	struct timeval tv = {.tv_sec = 5};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/* Sends a raw request, reads the whole reply (the server closes HTTP/1.0). Caller frees. */
static char *http(uint16_t port, const char *req, int *status)
{
	int fd = dial(port);
	size_t cap = 1 << 16, len = 0;
	char *buf = malloc(cap + 1);
	ssize_t n;

	assert_non_null(buf);
	assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
	while ((n = read(fd, buf + len, cap - len)) > 0) {
		len += (size_t)n;
		if (len == cap) {
			cap *= 2;
			buf = realloc(buf, cap + 1);
			assert_non_null(buf);
		}
	}
	close(fd);
	buf[len] = '\0';
	*status = 0;
	if (sscanf(buf, "HTTP/1.%*d %d", status) != 1)
		*status = -1;
	return buf;
}

static char *get(uint16_t port, const char *path, int *status)
{
	char req[256];

	snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: x\r\n\r\n", path);
	return http(port, req, status);
}

static const char *body(const char *reply)
{
	const char *p = strstr(reply, "\r\n\r\n");

	assert_non_null(p);
	return p + 4;
}

static void test_judge(void **state)
{
	const uint64_t stale = 2000 * MS;
	struct saker_web_health h = {.now_mono_ns = 10000 * MS, .drain_mono_ns = 10000 * MS};
	char why[160];

	(void)state;
	assert_int_equal(saker_web_judge(false, &h, 0, 0, 10000 * MS, stale, why, sizeof(why)),
			 503);
	assert_non_null(strstr(why, "starting"));
	assert_int_equal(saker_web_judge(true, &h, 0, 0, 11900 * MS, stale, why, sizeof(why)), 200);
	assert_string_equal(why, "");
	/* No publish for more than the bound: the loop is stuck (or stopped). */
	assert_int_equal(saker_web_judge(true, &h, 0, 0, 12100 * MS, stale, why, sizeof(why)), 503);
	assert_non_null(strstr(why, "event loop stalled: no tick for 2.1 s"));
	/* Ticks on time but no drain: the rings are not being read. */
	h.drain_mono_ns = 9000 * MS;
	assert_int_equal(saker_web_judge(true, &h, 0, 0, 11100 * MS, stale, why, sizeof(why)), 503);
	assert_non_null(strstr(why, "ring buffers not drained for 2.1 s"));
	h.drain_mono_ns = 10000 * MS;
	/* Just back from a 3 s stall: still unhealthy for half the bound, then healthy. */
	assert_int_equal(
	    saker_web_judge(true, &h, 3000 * MS, 10000 * MS, 10500 * MS, stale, why, sizeof(why)),
	    503);
	assert_non_null(strstr(why, "was stalled for 3.0 s"));
	assert_int_equal(
	    saker_web_judge(true, &h, 3000 * MS, 10000 * MS, 11001 * MS, stale, why, sizeof(why)),
	    200);
	/* A short gap is no stall. */
	assert_int_equal(
	    saker_web_judge(true, &h, 1500 * MS, 10000 * MS, 10100 * MS, stale, why, sizeof(why)),
	    200);
	/* On time and drained, but the loop reports a problem (the capture canary: blind). */
	snprintf(h.problem, sizeof(h.problem), "capture blind: marker 7");
	assert_int_equal(saker_web_judge(true, &h, 0, 0, 10100 * MS, stale, why, sizeof(why)), 503);
	assert_string_equal(why, "capture blind: marker 7");
	h.problem[0] = '\0';
	assert_int_equal(saker_web_judge(true, &h, 0, 0, 10100 * MS, stale, why, sizeof(why)), 200);
}

static struct saker_web *start(const struct saker_web_opts *o)
{
	struct saker_web *w = NULL;
	char err[256] = "";
	int ret = saker_web_start(&w, o, err, sizeof(err));

	if (ret)
		fail_msg("saker_web_start: %d %s", ret, err);
	assert_true(saker_web_port(w) > 0);
	return w;
}

static void publish(struct saker_web *w, uint64_t events, uint64_t now, uint64_t drain)
{
	struct saker_metrics m;
	const struct saker_web_health h = {.now_mono_ns = now, .drain_mono_ns = drain};

	saker_metrics_init(&m);
	assert_int_equal(saker_metrics_add_u64(&m, "events_total", "Events.", SAKER_METRIC_COUNTER,
					       0, events, NULL, 0),
			 0);
	assert_int_equal(saker_web_publish(w, &m, &h), 0);
	saker_metrics_free(&m);
}

static void test_endpoints(void **state)
{
	const struct saker_web_opts o = {
	    .listen_address = "127.0.0.1",
	    .healthz_path = "/healthz",
	    .metrics_enabled = true,
	    .stale_ns = 300 * MS,
	    .versions_json = "{\"saker_version\": \"t\"}\n",
	};
	struct saker_web *w = start(&o);
	uint16_t port = saker_web_port(w);
	struct saker_web_stats st;
	int status;
	char *r;

	(void)state;
	/* Before the loop published anything: unhealthy, the reason says why. */
	r = get(port, "/healthz", &status);
	assert_int_equal(status, 503);
	assert_non_null(strstr(body(r), "\"status\": \"unhealthy\""));
	assert_non_null(strstr(body(r), "starting"));
	free(r);

	publish(w, 42, mono_ns(), mono_ns());
	r = get(port, "/metrics", &status);
	assert_int_equal(status, 200);
	assert_non_null(strstr(r, "Content-Type: text/plain; version=0.0.4"));
	assert_non_null(
	    strstr(body(r), "# TYPE saker_events_total counter\nsaker_events_total 42\n"));
	/* the server's own counters follow the snapshot */
	assert_non_null(strstr(body(r), "saker_web_publishes_total 1\n"));
	free(r);
	/* A new publish replaces the snapshot. */
	publish(w, 43, mono_ns(), mono_ns());
	r = get(port, "/metrics", &status);
	assert_non_null(strstr(body(r), "saker_events_total 43\n"));
	assert_null(strstr(body(r), "saker_events_total 42\n"));
	free(r);

	r = get(port, "/healthz", &status);
	assert_int_equal(status, 200);
	assert_string_equal(body(r), "{\"status\": \"ok\"}\n");
	assert_non_null(strstr(r, "Content-Type: application/json"));
	free(r);
	r = get(port, "/versions", &status);
	assert_int_equal(status, 200);
	assert_string_equal(body(r), "{\"saker_version\": \"t\"}\n");
	free(r);
	r = get(port, "/nope", &status);
	assert_int_equal(status, 404);
	free(r);
	r = http(port, "POST /metrics HTTP/1.0\r\nContent-Length: 3\r\n\r\nabc", &status);
	assert_int_equal(status, 405);
	assert_non_null(strstr(r, "Allow: GET"));
	free(r);
	r = http(port, "HEAD /metrics HTTP/1.0\r\n\r\n", &status);
	assert_int_equal(status, 405);
	free(r);

	/* No publish for longer than stale_ns: the web thread itself turns it 503. */
	usleep(400 * 1000);
	r = get(port, "/healthz", &status);
	assert_int_equal(status, 503);
	assert_non_null(strstr(body(r), "event loop stalled"));
	free(r);
	/* Back: the first publish after the gap still reports the stall it ended. */
	publish(w, 44, mono_ns(), mono_ns());
	r = get(port, "/healthz", &status);
	assert_int_equal(status, 503);
	assert_non_null(strstr(body(r), "was stalled"));
	free(r);
	usleep(200 * 1000);
	publish(w, 45, mono_ns(), mono_ns());
	r = get(port, "/healthz", &status);
	assert_int_equal(status, 200);
	free(r);

	saker_web_get_stats(w, &st);
	assert_int_equal(st.not_allowed, 2);
	assert_int_equal(st.not_found, 1);
	assert_true(st.unhealthy >= 3);
	assert_int_equal(st.publishes, 4);
	saker_web_stop(w);
	saker_web_stop(NULL);
}

static void test_metrics_off_and_custom_health_path(void **state)
{
	const struct saker_web_opts o = {.listen_address = "127.0.0.1", .healthz_path = "/live"};
	struct saker_web *w = start(&o);
	int status;
	char *r;

	(void)state;
	publish(w, 1, mono_ns(), mono_ns());
	r = get(saker_web_port(w), "/metrics", &status);
	assert_int_equal(status, 404);
	free(r);
	r = get(saker_web_port(w), "/healthz", &status);
	assert_int_equal(status, 404);
	free(r);
	r = get(saker_web_port(w), "/live", &status);
	assert_int_equal(status, 200);
	free(r);
	saker_web_stop(w);
}

static void test_bounds(void **state)
{
	const struct saker_web_opts o = {
	    .listen_address = "127.0.0.1",
	    .healthz_path = "/healthz",
	    .metrics_enabled = true,
	    .max_connections = 8,
	    .max_per_ip = 8,
	    .timeout_s = 1,
	    .max_request_bytes = 4096,
	};
	struct saker_web *w = start(&o);
	uint16_t port = saker_web_port(w);
	int idle[8], status;
	char *big, *r;
	uint64_t t0, worst = 0;

	(void)state;
	publish(w, 1, mono_ns(), mono_ns());
	/* Headers past the request bound are refused by the server, which goes on. */
	big = malloc(16384);
	assert_non_null(big);
	memcpy(big, "GET /metrics HTTP/1.0\r\nX-Big: ", 30);
	memset(big + 30, 'a', 16000);
	memcpy(big + 16030, "\r\n\r\n", 5);
	r = http(port, big, &status);
	assert_true(status >= 400 || status == -1);
	free(r);
	free(big);

	/* Every slot taken by clients that never send: publishing is not slowed. */
	for (int i = 0; i < 8; i++)
		idle[i] = dial(port);
	usleep(100 * 1000);
	for (int i = 0; i < 20; i++) {
		uint64_t dt;

		t0 = mono_ns();
		publish(w, (uint64_t)i, mono_ns(), mono_ns());
		dt = mono_ns() - t0;
		worst = dt > worst ? dt : worst;
	}
	assert_true(worst < 50 * MS);
	/* The idle ones time out (1 s) and the server serves again. */
	usleep(2500 * 1000);
	r = get(port, "/metrics", &status);
	assert_int_equal(status, 200);
	free(r);
	for (int i = 0; i < 8; i++)
		close(idle[i]);
	saker_web_stop(w);
}

static void test_start_errors(void **state)
{
	struct saker_web *w = NULL, *w2 = NULL;
	struct saker_web_opts o = {.listen_address = "localhost"};
	char err[256];

	(void)state;
	assert_int_equal(saker_web_start(&w, &o, err, sizeof(err)), -EINVAL);
	assert_null(w);
	assert_non_null(strstr(err, "'localhost' is not an IPv4 or IPv6 address"));
	o.listen_address = "127.0.0.1";
	w = start(&o);
	o.port = saker_web_port(w);
	assert_true(saker_web_start(&w2, &o, err, sizeof(err)) < 0);
	assert_null(w2);
	assert_non_null(strstr(err, "cannot listen on 127.0.0.1 port"));
	saker_web_stop(w);
	/* IPv6 loopback works where the host has it; the address is taken as given. */
	o.listen_address = "::1";
	o.port = 0;
	if (saker_web_start(&w2, &o, err, sizeof(err)) == 0) {
		assert_true(saker_web_port(w2) > 0);
		saker_web_stop(w2);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_judge),
	    cmocka_unit_test(test_endpoints),
	    cmocka_unit_test(test_metrics_off_and_custom_health_path),
	    cmocka_unit_test(test_bounds),
	    cmocka_unit_test(test_start_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
