#include "capture/syscalls.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

struct sc_class {
	const char *name;
	enum saker_category cat;
};

/*
 * Falco's drop categories, and the default selection: the syscalls a
 * security rule or the process/file view needs. read/write and other hot,
 * uninteresting syscalls are left out unless base_syscalls asks for them.
 */
/* clang-format off */
static const struct sc_class classes[] = {
	{"clone", SAKER_CAT_CLONE_FORK},
	{"clone3", SAKER_CAT_CLONE_FORK},
	{"fork", SAKER_CAT_CLONE_FORK},
	{"vfork", SAKER_CAT_CLONE_FORK},
	{"execve", SAKER_CAT_EXECVE},
	{"execveat", SAKER_CAT_EXECVE},
	{"connect", SAKER_CAT_CONNECT},
	{"open", SAKER_CAT_OPEN},
	{"openat", SAKER_CAT_OPEN},
	{"openat2", SAKER_CAT_OPEN},
	{"creat", SAKER_CAT_OPEN},
	{"open_by_handle_at", SAKER_CAT_OPEN},
	{"unlink", SAKER_CAT_DIR_FILE},
	{"unlinkat", SAKER_CAT_DIR_FILE},
	{"rename", SAKER_CAT_DIR_FILE},
	{"renameat", SAKER_CAT_DIR_FILE},
	{"renameat2", SAKER_CAT_DIR_FILE},
	{"mkdir", SAKER_CAT_DIR_FILE},
	{"mkdirat", SAKER_CAT_DIR_FILE},
	{"rmdir", SAKER_CAT_DIR_FILE},
	{"symlink", SAKER_CAT_DIR_FILE},
	{"symlinkat", SAKER_CAT_DIR_FILE},
	{"link", SAKER_CAT_DIR_FILE},
	{"linkat", SAKER_CAT_DIR_FILE},
	{"chmod", SAKER_CAT_DIR_FILE},
	{"fchmod", SAKER_CAT_DIR_FILE},
	{"fchmodat", SAKER_CAT_DIR_FILE},
	{"chown", SAKER_CAT_DIR_FILE},
	{"fchown", SAKER_CAT_DIR_FILE},
	{"lchown", SAKER_CAT_DIR_FILE},
	{"fchownat", SAKER_CAT_DIR_FILE},
	{"chdir", SAKER_CAT_DIR_FILE},
	{"fchdir", SAKER_CAT_DIR_FILE},
	{"close", SAKER_CAT_CLOSE},
	{"exit", SAKER_CAT_PROC},
	{"exit_group", SAKER_CAT_PROC},
	{"accept", SAKER_CAT_OTHER_INTEREST},
	{"accept4", SAKER_CAT_OTHER_INTEREST},
	{"bind", SAKER_CAT_OTHER_INTEREST},
	{"listen", SAKER_CAT_OTHER_INTEREST},
	{"socket", SAKER_CAT_OTHER_INTEREST},
	{"dup", SAKER_CAT_OTHER_INTEREST},
	{"dup2", SAKER_CAT_OTHER_INTEREST},
	{"dup3", SAKER_CAT_OTHER_INTEREST},
	{"setuid", SAKER_CAT_OTHER_INTEREST},
	{"setgid", SAKER_CAT_OTHER_INTEREST},
	{"setreuid", SAKER_CAT_OTHER_INTEREST},
	{"setregid", SAKER_CAT_OTHER_INTEREST},
	{"setresuid", SAKER_CAT_OTHER_INTEREST},
	{"setresgid", SAKER_CAT_OTHER_INTEREST},
	{"setfsuid", SAKER_CAT_OTHER_INTEREST},
	{"setfsgid", SAKER_CAT_OTHER_INTEREST},
	{"capset", SAKER_CAT_OTHER_INTEREST},
	{"ptrace", SAKER_CAT_OTHER_INTEREST},
	{"bpf", SAKER_CAT_OTHER_INTEREST},
	{"mount", SAKER_CAT_OTHER_INTEREST},
	{"umount2", SAKER_CAT_OTHER_INTEREST},
	{"setns", SAKER_CAT_OTHER_INTEREST},
	{"unshare", SAKER_CAT_OTHER_INTEREST},
	{"init_module", SAKER_CAT_OTHER_INTEREST},
	{"finit_module", SAKER_CAT_OTHER_INTEREST},
	{"delete_module", SAKER_CAT_OTHER_INTEREST},
	{"memfd_create", SAKER_CAT_OTHER_INTEREST},
	{"kill", SAKER_CAT_OTHER_INTEREST},
	{"tgkill", SAKER_CAT_OTHER_INTEREST},
	{"prctl", SAKER_CAT_OTHER_INTEREST},
};
/* clang-format on */

const char *saker_syscall_name(unsigned id)
{
	return id < SAKER_SYSCALL_MAX ? saker_syscall_names[id] : NULL;
}

int saker_syscall_id(const char *name)
{
	for (int i = 0; i < SAKER_SYSCALL_MAX; i++)
		if (saker_syscall_names[i] && strcmp(saker_syscall_names[i], name) == 0)
			return i;
	return -ENOENT;
}

enum saker_category saker_syscall_category(unsigned id)
{
	const char *name = saker_syscall_name(id);

	if (!name)
		return SAKER_CAT_OTHER;
	for (size_t i = 0; i < sizeof(classes) / sizeof(classes[0]); i++)
		if (strcmp(classes[i].name, name) == 0)
			return classes[i].cat;
	return SAKER_CAT_OTHER;
}

int saker_syscalls_build_table(const struct saker_config *cfg, uint8_t table[SAKER_SYSCALL_MAX],
			       char *err, size_t errlen)
{
	for (unsigned id = 0; id < SAKER_SYSCALL_MAX; id++)
		table[id] = (uint8_t)saker_syscall_category(id);

	for (unsigned id = 0; id < SAKER_SYSCALL_MAX; id++) {
		if (!saker_syscall_names[id])
			continue;
		if (cfg->base_syscalls.all || saker_syscall_category(id) != SAKER_CAT_OTHER)
			table[id] |= SAKER_SC_SELECTED;
	}
	for (size_t i = 0; i < cfg->base_syscalls.custom_set.n; i++) {
		const char *name = cfg->base_syscalls.custom_set.v[i];
		bool remove = name[0] == '!';
		int id = saker_syscall_id(remove ? name + 1 : name);

		if (id < 0) {
			snprintf(err, errlen, "base_syscalls.custom_set: unknown syscall '%s'",
				 remove ? name + 1 : name);
			return -EINVAL;
		}
		if (remove)
			table[id] &= (uint8_t)~SAKER_SC_SELECTED;
		else
			table[id] |= SAKER_SC_SELECTED;
	}
	return 0;
}
