#include "drops/canary_child.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "capture/stats.h"
#include "event/event.h"
#include "lib/child.h"
#include "lib/clock.h"
#include "lib/sctable.h"

/* uid and gid of the child: the kernel's overflow id, which owns nothing. */
#define CANARY_ID 65534
/* The child must answer within this long (or two intervals) before it is called stuck. */
#define ACK_TIMEOUT_NS (5ull * 1000 * 1000 * 1000)
/* How long exit waits for the child to go (milliseconds). */
#define STOP_WAIT_MS 1000

struct ack {
	uint64_t seq;
	uint64_t mono_ns; /* after the marked syscall returned */
};

const char *saker_canary_status_name(enum saker_canary_status s)
{
	switch (s) {
	case SAKER_CANARY_OK:
		return "ok";
	case SAKER_CANARY_PAUSED:
		return "paused";
	case SAKER_CANARY_IS_BLIND:
		return "blind";
	case SAKER_CANARY_FAILED:
		return "failed";
	default:
		return "off";
	}
}

/*
 * The child. Everything here is async-signal-safe or runs on memory no
 * other thread can hold (saker has one thread when it forks). It exits on
 * any surprise: a canary that cannot do its one job must look dead.
 */
__attribute__((noreturn)) static void child_main(int req, int ack, uint64_t nonce, pid_t parent)
{
	char path[SAKER_CANARY_MAX_LEN];
	sigset_t none;
	int null;

	/* saker's signal mask (INT, TERM, HUP, USR1 blocked for its signalfd) is not ours. */
	sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);
	/* Dies with saker; and saker may have died before the request was made. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) || getppid() != parent)
		_exit(1);
	(void)prctl(PR_SET_NAME, "saker-canary", 0, 0, 0);
	null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null < 0 || dup2(req, 0) < 0 || dup2(ack, 1) < 0 || dup2(null, 2) < 0)
		_exit(1);
	/* No fd of saker's (BPF objects, rings, outputs) stays open here. */
	if (syscall(SYS_close_range, 3u, ~0u, 0u))
		for (int fd = 3; fd < 1024; fd++)
			(void)close(fd);
	/* Nothing to do with root: no groups, the overflow ids, no capabilities left. */
	if (geteuid() == 0 && (setgroups(0, NULL) || setresgid(CANARY_ID, CANARY_ID, CANARY_ID) ||
			       setresuid(CANARY_ID, CANARY_ID, CANARY_ID)))
		_exit(1);
	/* Not traceable by another process of the overflow uid; never gains privileges. */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		_exit(1);
	for (;;) {
		struct ack a;
		ssize_t n = read(0, &a.seq, sizeof(a.seq));
		struct timespec ts;

		if (n == 0)
			_exit(0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n != (ssize_t)sizeof(a.seq))
			_exit(1);
		(void)saker_canary_marker(path, sizeof(path), nonce, a.seq);
		/* openat itself (glibc's open may be either): the syscall the selection must keep.
		 */
		n = syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
		if (n >= 0)
			(void)close((int)n);
		(void)clock_gettime(CLOCK_MONOTONIC, &ts);
		a.mono_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
		if (write(1, &a, sizeof(a)) != (ssize_t)sizeof(a))
			_exit(1);
	}
}

int saker_canary_start(struct saker_canary_run *r, uint64_t interval_ms, char *err, size_t errlen)
{
	int req[2] = {-1, -1}, ack[2] = {-1, -1};
	pid_t parent = getpid(), pid;

	memset(r, 0, sizeof(*r));
	r->req_fd = r->ack_fd = -1;
	saker_canary_init(&r->v);
	if (!interval_ms)
		return 0;
	if (getrandom(&r->nonce, sizeof(r->nonce), GRND_NONBLOCK) != (ssize_t)sizeof(r->nonce))
		r->nonce = saker_clock_ns(CLOCK_MONOTONIC) ^ ((uint64_t)parent << 32);
	if (pipe2(req, O_CLOEXEC) || pipe2(ack, O_CLOEXEC)) {
		int e = errno;

		snprintf(err, errlen, "capture_canary: cannot create its pipes: %s", strerror(e));
		if (req[0] >= 0) {
			close(req[0]);
			close(req[1]);
		}
		return -e;
	}
	pid = fork();
	if (pid == 0)
		child_main(req[0], ack[1], r->nonce, parent);
	close(req[0]);
	close(ack[1]);
	if (pid < 0) {
		int e = errno;

		close(req[1]);
		close(ack[0]);
		snprintf(err, errlen, "capture_canary: cannot fork its process: %s", strerror(e));
		return -e;
	}
	/* Neither side may block the loop: a full pipe or a silent child is a verdict, not a wait.
	 */
	(void)fcntl(req[1], F_SETFL, O_NONBLOCK);
	(void)fcntl(ack[0], F_SETFL, O_NONBLOCK);
	r->pid = pid;
	r->req_fd = req[1];
	r->ack_fd = ack[0];
	r->interval_ns = interval_ms * 1000000ull;
	r->selected = true;
	r->status = SAKER_CANARY_OK;
	return 0;
}

void saker_canary_stop(struct saker_canary_run *r)
{
	if (r->req_fd >= 0)
		close(r->req_fd);
	if (r->ack_fd >= 0)
		close(r->ack_fd);
	r->req_fd = r->ack_fd = -1;
	if (r->pid <= 0)
		return;
	/*
	 * The closed pipe ends it (its read sees EOF). After the capability drop
	 * saker has no CAP_KILL for a uid-65534 child, so the kill may fail: the
	 * wait is bounded, and a child stopped by someone dies with saker anyway
	 * (PR_SET_PDEATHSIG).
	 */
	(void)kill(r->pid, SIGKILL);
	saker_child_reap(r->pid, STOP_WAIT_MS);
	r->pid = 0;
}

void saker_canary_set_table(struct saker_canary_run *r, const uint8_t *sc_table)
{
	r->selected = (sc_table[__NR_openat] & SAKER_SC_SELECTED) != 0;
}

int saker_canary_on_event(void *ctx, const struct saker_event *ev)
{
	struct saker_canary_run *r = ctx;
	struct saker_param p;
	uint64_t seq;

	r->n_events++;
	if (ev->hdr.type != SAKER_EVT_SYSCALL || ev->hdr.syscall_id != __NR_openat ||
	    saker_event_get(ev, SAKER_PN_PATH, &p))
		return 0;
	/* An unreadable name still proves that the probe saw the syscall. */
	if (p.flags & SAKER_PF_UNREADABLE)
		saker_canary_arrived(&r->v, r->v.seq);
	else if (saker_canary_parse((const char *)p.val, strnlen((const char *)p.val, p.len),
				    r->nonce, &seq))
		saker_canary_arrived(&r->v, seq);
	return 0;
}

void saker_canary_proc_loss(struct saker_canary_run *r, uint32_t tgid, uint64_t lost)
{
	if (r->pid > 0 && tgid == (uint32_t)r->pid) {
		r->own_lost_total += lost;
		r->read_own += lost;
	}
}

void saker_canary_loss_read(struct saker_canary_run *r, uint64_t now_ns, bool read_ok,
			    const struct saker_capture_stats *st)
{
	bool complete = read_ok && st;

	/* Losses no process carries: unattributed in the probe, in user space, runs it skipped. */
	if (st && r->prev_known)
		complete =
		    complete && st->k[SAKER_CNT_DROPS_UNATTRIBUTED] == r->prev_unattributed &&
		    st->user_drops == r->prev_user_drops && st->prog_misses == r->prev_misses;
	if (st) {
		r->prev_unattributed = st->k[SAKER_CNT_DROPS_UNATTRIBUTED];
		r->prev_user_drops = st->user_drops;
		r->prev_misses = st->prog_misses;
		r->prev_known = true;
	}
	saker_canary_losses(&r->v, now_ns, r->read_own, complete);
	r->read_own = 0;
}

/* The caller's callback and context for one tick. */
struct tick {
	struct saker_canary_run *r;
	struct saker_capture *cap;
	saker_canary_news_fn news;
	void *ctx;
	uint64_t now_ns;
};

static void fail(const struct tick *t, const char *why)
{
	struct saker_canary_run *r = t->r;

	if (r->status == SAKER_CANARY_FAILED)
		return;
	r->status = SAKER_CANARY_FAILED;
	snprintf(r->failed_why, sizeof(r->failed_why), "%s", why);
	t->news(t->ctx, r, SAKER_CANARY_NEWS_FAILED, t->now_ns);
}

/* The child's answers; false when it is gone. */
static bool read_acks(const struct tick *t)
{
	struct saker_canary_run *r = t->r;
	struct ack a;
	ssize_t n;

	while ((n = read(r->ack_fd, &a, sizeof(a))) == (ssize_t)sizeof(a))
		saker_canary_ack(&r->v, a.seq, a.mono_ns);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR) || n > 0) {
		fail(t, n == 0 ? "its process exited" : "its answer could not be read");
		return false;
	}
	return true;
}

static uint64_t counted(struct saker_capture *cap, bool *ok)
{
	struct saker_capture_stats st;

	*ok = saker_capture_stats(cap, &st) == 0;
	return *ok ? saker_stats_drops(&st) + st.prog_misses : 0;
}

/* False when the child failed. */
static bool decide(const struct tick *t)
{
	struct saker_canary_run *r = t->r;
	struct saker_canary_now now = {
	    .now_ns = t->now_ns,
	    .caught_up_ns = saker_capture_caught_up_ns(t->cap),
	    .ack_timeout_ns =
		2 * r->interval_ns > ACK_TIMEOUT_NS ? 2 * r->interval_ns : ACK_TIMEOUT_NS,
	};
	bool ok = true;

	/* The counters only matter for a marker that did not arrive (read after the drain). */
	if (r->v.acked && !r->v.arrived)
		now.counted = counted(t->cap, &ok);
	if (!ok)
		return true;
	switch (saker_canary_decide(&r->v, &now)) {
	case SAKER_CANARY_BLIND:
		if (r->status != SAKER_CANARY_IS_BLIND) {
			r->status = SAKER_CANARY_IS_BLIND;
			t->news(t->ctx, r, SAKER_CANARY_NEWS_BLIND, t->now_ns);
		}
		break;
	case SAKER_CANARY_SEEN:
		if (r->status == SAKER_CANARY_IS_BLIND)
			t->news(t->ctx, r, SAKER_CANARY_NEWS_SEEN, t->now_ns);
		r->status = SAKER_CANARY_OK;
		break;
	case SAKER_CANARY_STUCK:
		fail(t, "its process stopped answering");
		return false;
	default:
		break;
	}
	return true;
}

static void send_marker(const struct tick *t)
{
	struct saker_canary_run *r = t->r;
	uint64_t seq, c;
	bool ok;
	ssize_t n;

	/* On the interval's grid; a late tick does not make a burst. */
	r->next_send_ns = r->next_send_ns + r->interval_ns > t->now_ns
			      ? r->next_send_ns + r->interval_ns
			      : t->now_ns + r->interval_ns;
	if (!r->selected) {
		if (r->status != SAKER_CANARY_PAUSED)
			t->news(t->ctx, r, SAKER_CANARY_NEWS_PAUSED, t->now_ns);
		r->status = SAKER_CANARY_PAUSED;
		return;
	}
	if (r->status == SAKER_CANARY_PAUSED)
		r->status = SAKER_CANARY_OK;
	c = counted(t->cap, &ok);
	if (!ok)
		return;
	seq = saker_canary_send(&r->v, t->now_ns, c);
	n = write(r->req_fd, &seq, sizeof(seq));
	if (n == (ssize_t)sizeof(seq) || (n < 0 && errno == EAGAIN))
		return; /* a child that does not read is caught as stuck */
	fail(t, n < 0 && errno == EPIPE ? "its process exited" : "it could not be asked");
}

void saker_canary_run_tick(struct saker_canary_run *r, struct saker_capture *cap, uint64_t now_ns,
			   saker_canary_news_fn news, void *ctx)
{
	const struct tick t = {.r = r, .cap = cap, .news = news, .ctx = ctx, .now_ns = now_ns};

	if (r->status == SAKER_CANARY_OFF || r->status == SAKER_CANARY_FAILED)
		return;
	if (!read_acks(&t))
		return;
	if (!decide(&t))
		return;
	if (!r->v.outstanding && now_ns >= r->next_send_ns)
		send_marker(&t);
}
