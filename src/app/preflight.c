#include "app/preflight.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lib/safefile.h"

int saker_preflight_append(const char *path, char *err, size_t errlen)
{
	/* The live start's checks and refusals, minus the open for writing (lib/safefile.h). */
	int ret = saker_safefile_check_append(path, err, errlen);

	return ret > 0 ? 0 : ret;
}

int saker_preflight_read(const char *path, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	int ret;

	if (fd >= 0) {
		close(fd);
		return 0;
	}
	ret = -errno;
	snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
	return ret;
}

int saker_preflight_files(const struct saker_config *cfg, char *err, size_t errlen)
{
	const char *reads[] = {cfg->http_output.ca_cert, cfg->http_output.ca_bundle,
			       cfg->http_output.mtls ? cfg->http_output.client_cert : NULL,
			       cfg->http_output.mtls ? cfg->http_output.client_key : NULL};
	const char *what[] = {"http_output.ca_cert", "http_output.ca_bundle",
			      "http_output.client_cert", "http_output.client_key"};
	char why[512];
	int ret;

	if (cfg->file_output.enabled && cfg->file_output.filename) {
		ret = saker_preflight_append(cfg->file_output.filename, why, sizeof(why));
		if (ret) {
			snprintf(err, errlen, "file_output.filename: %s", why);
			return ret;
		}
	}
	if (cfg->drops_ledger) {
		ret = saker_preflight_append(cfg->drops_ledger, why, sizeof(why));
		if (ret) {
			snprintf(err, errlen, "syscall_event_drops.ledger: %s", why);
			return ret;
		}
	}
	for (size_t i = 0; cfg->http_output.enabled && i < sizeof(reads) / sizeof(reads[0]); i++) {
		if (!reads[i])
			continue;
		ret = saker_preflight_read(reads[i], why, sizeof(why));
		if (ret) {
			snprintf(err, errlen, "%s: %s", what[i], why);
			return ret;
		}
	}
	return 0;
}
