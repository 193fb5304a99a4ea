/*
 * The x86_64 syscall names by number, generated from the uapi header into
 * the build folder (scripts/gen_syscall_names.sh). Here, at the bottom, so
 * that the configuration can check base_syscalls names where they are
 * written, with their position.
 */
#ifndef SAKER_SYSNAMES_H
#define SAKER_SYSNAMES_H

#include "saker_abi.h"

extern const char *const saker_syscall_names[SAKER_SYSCALL_MAX];

/*
 * The one name-to-number lookup (every syscall, known to saker or not); the
 * rows saker knows are in lib/sctable.h. -ENOENT when there is none.
 */
int saker_syscall_id(const char *name);
/* NULL for ids with no name. */
const char *saker_syscall_name(unsigned id);

#endif
