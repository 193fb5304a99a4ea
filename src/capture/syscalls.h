/*
 * Syscall selection: the one-byte-per-syscall table the probe reads
 * (SAKER_SC_SELECTED | SAKER_SC_CRITICAL | category, see saker_abi.h), built
 * from the rows of the one syscall table (lib/sctable.h) and base_syscalls.
 * Names and numbers: lib/sysnames.h.
 */
#ifndef SAKER_SYSCALLS_H
#define SAKER_SYSCALLS_H

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

#include "saker_abi.h"
#include "config/config.h"
#include "lib/sysnames.h"

/*
 * Builds the probe's table from base_syscalls: the table's default set (or all),
 * plus custom_set names, minus "!name". Unknown names fail with a message.
 */
int saker_syscalls_build_table(const struct saker_config *cfg, uint8_t table[SAKER_SYSCALL_MAX],
			       char *err, size_t errlen);

/*
 * Falco's base_syscalls with rules loaded: the syscalls the rules need
 * (rules_sel[id] != 0; rules_all: a rule needs every syscall), plus
 * custom_set when it names any syscall, else the default (state) set (with
 * custom_set too when base_syscalls.repair); then "!name" removes;
 * base_syscalls.all selects everything.
 */
int saker_syscalls_build_table_rules(const struct saker_config *cfg,
				     const uint8_t rules_sel[SAKER_SYSCALL_MAX], bool rules_all,
				     uint8_t table[SAKER_SYSCALL_MAX], char *err, size_t errlen);

#endif
