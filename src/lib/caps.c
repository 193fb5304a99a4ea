#include "lib/caps.h"

#include <errno.h>
#include <linux/capability.h>
#include <sys/syscall.h>
#include <unistd.h>

int saker_caps_keep(uint64_t keep)
{
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
	struct __user_cap_data_struct d[2];
	uint64_t prm;

	if (syscall(SYS_capget, &h, d))
		return -errno;
	prm = ((uint64_t)d[0].permitted | (uint64_t)d[1].permitted << 32) & keep;
	for (int i = 0; i < 2; i++) {
		d[i].permitted = (uint32_t)(prm >> (32 * i));
		d[i].effective = d[i].permitted;
		d[i].inheritable = 0;
	}
	if (syscall(SYS_capset, &h, d))
		return -errno;
	return 0;
}
