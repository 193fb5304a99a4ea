#include "lib/child.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/caps.h"

int saker_child_setup(int s, int fd)
{
	struct sigaction dfl = {.sa_handler = SIG_DFL};
	sigset_t none;

	for (int sig = 1; sig < NSIG; sig++)
		(void)sigaction(sig, &dfl, NULL);
	sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);
	/* Only stdio and the socket: nothing of the probe or the outputs leaks in. */
	if (s != fd && dup3(s, fd, O_CLOEXEC) < 0)
		return -errno;
	if (syscall(SYS_close_range, fd + 1, ~0U, 0) < 0)
		for (int i = fd + 1; i < 4096; i++)
			(void)close(i);
	return 0;
}

int saker_child_confine(uint64_t keep)
{
	for (int c = 0; c < 64; c++)
		if (!(keep & (1ULL << c)))
			(void)prctl(PR_CAPBSET_DROP, c, 0, 0, 0);
	(void)prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	return saker_caps_keep(keep);
}

void saker_child_reap(pid_t pid, unsigned wait_ms)
{
	for (unsigned i = 0; pid > 0 && i < wait_ms; i++) {
		pid_t r = waitpid(pid, NULL, WNOHANG);

		if (r == pid || (r < 0 && errno != EINTR))
			break;
		nanosleep(&(struct timespec){.tv_nsec = 1000000}, NULL);
	}
}
