/*
 * Opening a file saker appends to (file output, and later the loss ledger
 * and a --dump file) without being turned against the system by another
 * user, with the checks logrotate and systemd-tmpfiles make.
 *
 * Always: O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY,
 * created 0600, and the result must be a regular file (a FIFO, device,
 * socket or directory is refused; opening never blocks on a FIFO).
 *
 * As root (euid 0), also refused:
 *   - a file owned by another user, or one with several hard links in a
 *     directory that other users may write to;
 *   - a symlink anywhere on the path owned by a user other than root or us
 *     (the last component is never followed at all: O_NOFOLLOW);
 *   - a directory on the resolved chain, from / to the file's directory,
 *     that is owned by another non-root user, or that everyone may write to
 *     without the sticky bit.
 * Writable by a non-root group is accepted (Debian's /var/log is
 * root:syslog 0775); members of that group can only plant entries, which
 * the owner and link checks above refuse.
 */
#ifndef SAKER_SAFEFILE_H
#define SAKER_SAFEFILE_H

#include <stddef.h>
#include <sys/types.h>

/*
 * Returns an open fd (>= 0), or a negative errno with the reason in err:
 * -ELOOP for a symlink, -EINVAL for not a regular file, -EPERM for an
 * ownership or permission rule, else what open(2) said.
 */
int saker_safefile_open_append(const char *path, char *err, size_t errlen);

/*
 * The same checks without opening the file for writing and without creating
 * it (for --dry-run): the directory chain, then the file as it is now (not
 * followed), or, when it is missing, that the directory lets us create it.
 * 0, or the negative errno and reason saker_safefile_open_append would give.
 */
int saker_safefile_check_append(const char *path, char *err, size_t errlen);

/*
 * The chain check alone, for a directory (as root; 0 for everyone else).
 * uid is the user the checks are made for (normally geteuid()).
 */
int saker_safefile_check_dir(const char *dir, uid_t uid, char *err, size_t errlen);

#endif
