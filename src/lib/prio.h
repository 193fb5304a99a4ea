/* Syslog-style priorities, shared by logging, alerts and configuration. */
#ifndef SAKER_PRIO_H
#define SAKER_PRIO_H

enum saker_prio {
	SAKER_PRIO_EMERGENCY = 0,
	SAKER_PRIO_ALERT,
	SAKER_PRIO_CRITICAL,
	SAKER_PRIO_ERROR,
	SAKER_PRIO_WARNING,
	SAKER_PRIO_NOTICE,
	SAKER_PRIO_INFO,
	SAKER_PRIO_DEBUG,
	SAKER_PRIO_MAX,
};

/* "Critical", "Informational", ... as Falco prints them in alerts. */
const char *saker_prio_name(enum saker_prio p);
/* Case-insensitive; accepts Falco's names plus "info". 0 or -EINVAL. */
int saker_prio_parse(const char *s, enum saker_prio *out);

#endif
