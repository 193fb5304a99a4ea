#include "lib/procid.h"

#include <stddef.h>

bool saker_procid_parse(const char *s, uint32_t *out)
{
	uint64_t v = 0;

	if (!s || !*s || (s[0] == '0' && s[1]))
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		v = v * 10 + (uint64_t)(*s - '0');
		/* checked per digit: v stays below 2^35, far from wrapping */
		if (v > SAKER_PROCID_MAX)
			return false;
	}
	*out = (uint32_t)v;
	return true;
}
