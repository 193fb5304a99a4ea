/*
 * Observe: what the loop does once per tick for the outside world. It
 * closes the rings' occupancy window (high-water marks, sizing advice for
 * the drop check), collects the metrics, publishes them to the web server
 * (webserver.*), and at every metrics.interval emits the "Saker internal:
 * metrics snapshot" alert and/or appends one JSON line to
 * metrics.output_file. Everything here is bounded and never blocks on a
 * client: the web server only reads the published snapshot.
 *
 * Called from the loop's one-second timer, in this order:
 *   saker_observe_window(o, cap, &drops);   before saker_drops_check
 *   saker_drops_check(...);
 *   saker_observe_tick(o, &src);            after it
 */
#ifndef SAKER_OBSERVE_H
#define SAKER_OBSERVE_H

#include <stddef.h>
#include <stdint.h>

#include "capture/capture.h"
#include "config/config.h"
#include "drops/drops.h"
#include "lib/log.h"
#include "lib/metrics.h"
#include "outputs/outputs.h"
#include "state/view.h"

struct saker_observe;

/* Starts the web server when webserver.enabled. 0, or a negative errno and a reason in err. */
int saker_observe_start(struct saker_observe **out, const struct saker_config *cfg,
			const char *version, const struct saker_log *log, char *err, size_t errlen);
/* The web server's port (0 when it does not run). */
uint16_t saker_observe_web_port(const struct saker_observe *o);

/* Ends the rings' occupancy window and hands it to the drop check. */
void saker_observe_window(struct saker_observe *o, struct saker_capture *cap,
			  struct saker_drops *drops);

struct saker_observe_src {
	struct saker_capture *cap;
	const struct saker_drops *drops;
	const struct saker_view *view;
	struct saker_outputs *outputs;
	uint64_t now_mono_ns;
	uint64_t now_real_ns;
};
/* Collects and publishes; emits the metrics snapshot when its interval has come. */
void saker_observe_tick(struct saker_observe *o, const struct saker_observe_src *src);

/*
 * Fills m (reset first) with every metric of src, as the web server and the
 * snapshot see them. 0 or a negative errno.
 */
int saker_observe_collect(struct saker_observe *o, const struct saker_observe_src *src,
			  struct saker_metrics *m);

/* At shutdown, after the last drain: one last line to metrics.output_file (if set). */
void saker_observe_final(struct saker_observe *o, const struct saker_observe_src *src);

/* Stops the web server, closes the metrics file, frees. NULL ok. */
void saker_observe_stop(struct saker_observe *o);

#endif
