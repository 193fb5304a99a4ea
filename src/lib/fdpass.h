/* A message over a Unix socket with at most one descriptor (SCM_RIGHTS). */
#ifndef SAKER_LIB_FDPASS_H
#define SAKER_LIB_FDPASS_H

#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

/*
 * Sends iov[0..iovcnt) in one message, with fd attached when fd >= 0. Retries
 * EINTR; never raises SIGPIPE. Returns the bytes sent or a negative errno.
 */
ssize_t saker_fdpass_send(int sock, const struct iovec *iov, size_t iovcnt, int fd);

/*
 * Receives one message of at most len bytes; *fd is the descriptor it carried
 * (close-on-exec) or -1. Any further descriptor is closed: a message carries
 * one. Retries EINTR. Returns the bytes received (0: the peer is gone) or a
 * negative errno.
 */
ssize_t saker_fdpass_recv(int sock, void *buf, size_t len, int *fd);

/*
 * A helper process that answers over a SOCK_SEQPACKET pair: socketpair + fork.
 * In the child returns 0 with *sock its end (saker's end closed); in saker the
 * child's pid with *sock saker's end, whose sends and receives time out after
 * timeout_s. A negative errno and err on failure (nothing left open).
 */
pid_t saker_fdpass_fork(int *sock, int timeout_s, char *err, size_t errlen);

#endif
