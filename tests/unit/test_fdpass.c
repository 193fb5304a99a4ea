#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/fdpass.h"

/* A message and its descriptor arrive together; the descriptor is the pipe's. */
static void test_message_with_fd(void **state)
{
	int sv[2], p[2], fd = -2;
	char buf[16] = "";
	const char a[] = "ab", b[] = "cd";
	const struct iovec iov[2] = {{.iov_base = (void *)a, .iov_len = 2},
				     {.iov_base = (void *)b, .iov_len = 2}};

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	assert_int_equal(pipe(p), 0);
	assert_int_equal(saker_fdpass_send(sv[0], iov, 2, p[1]), 4);
	assert_int_equal(saker_fdpass_recv(sv[1], buf, sizeof(buf), &fd), 4);
	assert_memory_equal(buf, "abcd", 4);
	assert_true(fd >= 0 && fd != p[1]);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	assert_int_equal(write(fd, "x", 1), 1);
	assert_int_equal(read(p[0], buf, 1), 1);
	assert_int_equal(buf[0], 'x');
	close(fd);
	close(p[0]);
	close(p[1]);
	close(sv[0]);
	close(sv[1]);
}

/* No descriptor: -1; a closed peer: 0; a send to a closed peer: -EPIPE, no SIGPIPE. */
static void test_no_fd_and_closed_peer(void **state)
{
	int sv[2], fd = -2;
	char buf[8];
	const struct iovec iov = {.iov_base = "z", .iov_len = 1};

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	assert_int_equal(saker_fdpass_send(sv[0], &iov, 1, -1), 1);
	assert_int_equal(saker_fdpass_recv(sv[1], buf, sizeof(buf), &fd), 1);
	assert_int_equal(fd, -1);
	close(sv[0]);
	assert_int_equal(saker_fdpass_recv(sv[1], buf, sizeof(buf), &fd), 0);
	assert_int_equal(saker_fdpass_send(sv[1], &iov, 1, -1), -EPIPE);
	close(sv[1]);
}

/* The helper pair: the child answers on its end; saker's end ends when the child does. */
static void test_fork(void **state)
{
	char err[128] = "", buf[8] = "";
	int sock = -1, fd, st = 0;
	pid_t pid;

	(void)state;
	pid = saker_fdpass_fork(&sock, 5, err, sizeof(err));
	if (pid == 0) {
		ssize_t n = saker_fdpass_recv(sock, buf, sizeof(buf), &fd);
		const struct iovec iov = {.iov_base = buf, .iov_len = n > 0 ? (size_t)n : 0};

		_exit(n == 2 && saker_fdpass_send(sock, &iov, 1, -1) == 2 ? 0 : 1);
	}
	assert_true(pid > 0);
	assert_int_equal(
	    saker_fdpass_send(sock, &(struct iovec){.iov_base = "ok", .iov_len = 2}, 1, -1), 2);
	assert_int_equal(saker_fdpass_recv(sock, buf, sizeof(buf), &fd), 2);
	assert_memory_equal(buf, "ok", 2);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_int_equal(saker_fdpass_recv(sock, buf, sizeof(buf), &fd), 0);
	close(sock);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_message_with_fd),
	    cmocka_unit_test(test_no_fd_and_closed_peer),
	    cmocka_unit_test(test_fork),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
