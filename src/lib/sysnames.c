#include "lib/sysnames.h"

#include <errno.h>
#include <string.h>

int saker_syscall_id(const char *name)
{
	if (!name)
		return -ENOENT;
	for (int i = 0; i < SAKER_SYSCALL_MAX; i++)
		if (saker_syscall_names[i] && strcmp(saker_syscall_names[i], name) == 0)
			return i;
	return -ENOENT;
}

const char *saker_syscall_name(unsigned id)
{
	return id < SAKER_SYSCALL_MAX ? saker_syscall_names[id] : NULL;
}
