/*
 * Numbers as /proc names them: the entries of /proc (pids), of
 * /proc/<pid>/task (tids) and of /proc/<pid>/fd (fds). The kernel writes
 * them as plain decimals and finds an entry only by that spelling (its
 * name_to_int refuses a leading zero), so anything else in a directory
 * listing ("self", "thread-self", a test tree's stray file) is not an id.
 */
#ifndef SAKER_PROCID_H
#define SAKER_PROCID_H

#include <stdbool.h>
#include <stdint.h>

/* The largest id: pid_t and fds are ints. */
#define SAKER_PROCID_MAX INT32_MAX

/*
 * true and *out when s is decimal digits only, without a sign or a leading
 * zero ("0" itself is fd 0), at most SAKER_PROCID_MAX; false otherwise
 * (empty, NULL, "007", "12a", "-1", " 1", too large). *out is untouched
 * on false.
 */
bool saker_procid_parse(const char *s, uint32_t *out);

#endif
