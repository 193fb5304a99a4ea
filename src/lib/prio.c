#include "lib/prio.h"

#include <errno.h>
#include <strings.h>

static const char *const prio_names[SAKER_PRIO_MAX] = {
    [SAKER_PRIO_EMERGENCY] = "Emergency", [SAKER_PRIO_ALERT] = "Alert",
    [SAKER_PRIO_CRITICAL] = "Critical",	  [SAKER_PRIO_ERROR] = "Error",
    [SAKER_PRIO_WARNING] = "Warning",	  [SAKER_PRIO_NOTICE] = "Notice",
    [SAKER_PRIO_INFO] = "Informational",  [SAKER_PRIO_DEBUG] = "Debug",
};

const char *saker_prio_name(enum saker_prio p)
{
	if ((unsigned)p >= SAKER_PRIO_MAX)
		return "Unknown";
	return prio_names[p];
}

int saker_prio_parse(const char *s, enum saker_prio *out)
{
	if (!s)
		return -EINVAL;
	for (int i = 0; i < SAKER_PRIO_MAX; i++) {
		if (strcasecmp(s, prio_names[i]) == 0) {
			*out = (enum saker_prio)i;
			return 0;
		}
	}
	if (strcasecmp(s, "info") == 0) {
		*out = SAKER_PRIO_INFO;
		return 0;
	}
	return -EINVAL;
}
