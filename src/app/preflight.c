#include "app/preflight.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int saker_preflight_append(const char *path, char *err, size_t errlen)
{
	/* O_NONBLOCK: a FIFO without a reader fails (ENXIO) instead of hanging the check. */
	int flags = O_WRONLY | O_APPEND | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
	struct stat st;
	int fd, ret = 0;

	/* O_EXCL first, so that only a file this check created is removed again. */
	fd = open(path, flags | O_CREAT | O_EXCL, 0600);
	if (fd >= 0) {
		close(fd);
		if (unlink(path) && errno != ENOENT) {
			ret = -errno;
			snprintf(err, errlen, "%s: created by the check, cannot remove it: %s",
				 path, strerror(errno));
		}
		return ret;
	}
	if (errno != EEXIST) {
		ret = -errno;
		snprintf(err, errlen, "%s: cannot create: %s", path, strerror(errno));
		return ret;
	}
	fd = open(path, flags);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "%s: cannot open for appending: %s", path, strerror(errno));
		return ret;
	}
	if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		ret = -EISDIR;
		snprintf(err, errlen, "%s: is a directory", path);
	}
	close(fd);
	return ret;
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
