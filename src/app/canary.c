#include "app/canary.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "app/run.h"
#include "capture/capture.h"
#include "capture/stats.h"
#include "event/event.h"
#include "lib/clock.h"
#include "lib/sctable.h"
#include "outputs/outputs.h"

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

void saker_canary_problem(const struct saker_canary_run *r, uint64_t now_mono_ns, char *buf,
			  size_t len)
{
	size_t n = 0;

	if (!len)
		return;
	buf[0] = '\0';
	if (r && r->sel_changed)
		n = (size_t)snprintf(
		    buf, len, "selection changed from outside saker %.0f s ago (restored)%s",
		    (double)(now_mono_ns - r->sel_last_ns) / 1e9,
		    r->status == SAKER_CANARY_IS_BLIND || r->status == SAKER_CANARY_FAILED ? "; "
											   : "");
	if (n >= len)
		n = len - 1;
	if (r && r->status == SAKER_CANARY_IS_BLIND)
		snprintf(buf + n, len - n,
			 "capture blind: the canary's marker %llu was not captured and no "
			 "drop was counted",
			 (unsigned long long)r->v.seq);
	else if (r && r->status == SAKER_CANARY_FAILED)
		snprintf(buf + n, len - n, "capture canary failed: %s", r->failed_why);
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
	for (int i = 0; i < STOP_WAIT_MS; i++) {
		pid_t w = waitpid(r->pid, NULL, WNOHANG);

		if (w == r->pid || (w < 0 && errno != EINTR))
			break;
		usleep(1000);
	}
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

static void fail(struct saker_app *app, const char *why)
{
	struct saker_canary_run *r = &app->canary;

	if (r->status == SAKER_CANARY_FAILED)
		return;
	r->status = SAKER_CANARY_FAILED;
	snprintf(r->failed_why, sizeof(r->failed_why), "%s", why);
	saker_log(&app->log, SAKER_PRIO_ERROR,
		  "capture canary: %s; whether capture still sees can no longer be proven", why);
}

/* The child's answers; false when it is gone. */
static bool read_acks(struct saker_app *app)
{
	struct saker_canary_run *r = &app->canary;
	struct ack a;
	ssize_t n;

	while ((n = read(r->ack_fd, &a, sizeof(a))) == (ssize_t)sizeof(a))
		saker_canary_ack(&r->v, a.seq, a.mono_ns);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR) || n > 0) {
		fail(app, n == 0 ? "its process exited" : "its answer could not be read");
		return false;
	}
	return true;
}

static uint64_t counted(struct saker_app *app, bool *ok)
{
	struct saker_capture_stats st;

	*ok = saker_capture_stats(app->cap, &st) == 0;
	return *ok ? saker_stats_drops(&st) + st.prog_misses : 0;
}

/* An internal alert at CRITICAL: logged, and to the outputs like a rule's. */
static void internal_alert(struct saker_app *app, const char *rule, const char *msg,
			   const struct saker_field *fields, size_t n_fields)
{
	const struct saker_alert alert = {
	    .time_ns = saker_clock_ns(CLOCK_REALTIME),
	    .priority = SAKER_PRIO_CRITICAL,
	    .rule = rule,
	    .source = "internal",
	    .output = msg,
	    .fields = fields,
	    .n_fields = n_fields,
	};

	saker_log(&app->log, SAKER_PRIO_CRITICAL, "%s", msg);
	/* A refused alert is counted by the outputs. */
	(void)saker_outputs_emit(app->outputs, &alert);
}

static void blind(struct saker_app *app, uint64_t now_ns)
{
	struct saker_canary_run *r = &app->canary;
	char msg[256];
	const struct saker_field fields[] = {
	    {.name = "canary_pid", .type = SAKER_FIELD_U64, .u64 = (uint64_t)r->pid},
	    {.name = "canary_seq", .type = SAKER_FIELD_U64, .u64 = r->v.seq},
	    {.name = "markers_seen", .type = SAKER_FIELD_U64, .u64 = r->v.n_seen},
	    {.name = "markers_blind", .type = SAKER_FIELD_U64, .u64 = r->v.n_blind},
	    {.name = "last_seen_s_ago",
	     .type = SAKER_FIELD_U64,
	     .u64 = r->v.last_seen_ns ? (now_ns - r->v.last_seen_ns) / 1000000000ull : 0},
	};

	r->status = SAKER_CANARY_IS_BLIND;
	snprintf(msg, sizeof(msg),
		 "Saker internal: capture blind. The canary's syscall (openat, marker %" PRIu64
		 ") was not captured and no drop was counted.",
		 r->v.seq);
	internal_alert(app, SAKER_CANARY_RULE, msg, fields, sizeof(fields) / sizeof(fields[0]));
}

static void decide(struct saker_app *app, uint64_t now_ns)
{
	struct saker_canary_run *r = &app->canary;
	struct saker_canary_now now = {
	    .now_ns = now_ns,
	    .caught_up_ns = saker_capture_caught_up_ns(app->cap),
	    .ack_timeout_ns =
		2 * r->interval_ns > ACK_TIMEOUT_NS ? 2 * r->interval_ns : ACK_TIMEOUT_NS,
	};
	bool ok = true;

	/* The counters only matter for a marker that did not arrive (read after the drain). */
	if (r->v.acked && !r->v.arrived)
		now.counted = counted(app, &ok);
	if (!ok)
		return;
	switch (saker_canary_decide(&r->v, &now)) {
	case SAKER_CANARY_BLIND:
		if (r->status != SAKER_CANARY_IS_BLIND)
			blind(app, now_ns);
		break;
	case SAKER_CANARY_SEEN:
		if (r->status == SAKER_CANARY_IS_BLIND)
			saker_log(&app->log, SAKER_PRIO_WARNING,
				  "capture canary: markers are captured again (blind for %.1f s)",
				  (double)(now_ns - r->v.blind_since_ns) / 1e9);
		r->status = SAKER_CANARY_OK;
		break;
	case SAKER_CANARY_STUCK:
		fail(app, "its process stopped answering");
		break;
	default:
		break;
	}
}

static void send_marker(struct saker_app *app, uint64_t now_ns)
{
	struct saker_canary_run *r = &app->canary;
	uint64_t seq, c;
	bool ok;
	ssize_t n;

	/* On the interval's grid; a late tick does not make a burst. */
	r->next_send_ns = r->next_send_ns + r->interval_ns > now_ns
			      ? r->next_send_ns + r->interval_ns
			      : now_ns + r->interval_ns;
	if (!r->selected) {
		if (r->status != SAKER_CANARY_PAUSED)
			saker_log(&app->log, SAKER_PRIO_WARNING,
				  "capture canary: openat is not in the syscall selection; nothing "
				  "proves that capture still sees");
		r->status = SAKER_CANARY_PAUSED;
		return;
	}
	if (r->status == SAKER_CANARY_PAUSED)
		r->status = SAKER_CANARY_OK;
	c = counted(app, &ok);
	if (!ok)
		return;
	seq = saker_canary_send(&r->v, now_ns, c);
	n = write(r->req_fd, &seq, sizeof(seq));
	if (n == (ssize_t)sizeof(seq) || (n < 0 && errno == EAGAIN))
		return; /* a child that does not read is caught as stuck */
	fail(app, n < 0 && errno == EPIPE ? "its process exited" : "it could not be asked");
}

void saker_canary_tick(void *ctx, uint64_t periods, uint64_t now_ns)
{
	struct saker_app *app = ctx;
	struct saker_canary_run *r = &app->canary;

	(void)periods;
	if (r->status == SAKER_CANARY_OFF || r->status == SAKER_CANARY_FAILED)
		return;
	if (!read_acks(app))
		return;
	decide(app, now_ns);
	if (r->status == SAKER_CANARY_FAILED)
		return;
	if (!r->v.outstanding && now_ns >= r->next_send_ns)
		send_marker(app, now_ns);
}

static void selection_alert(struct saker_app *app, const struct saker_capture_tamper *t)
{
	char msg[320];
	const struct saker_field fields[] = {
	    {.name = "entries_changed", .type = SAKER_FIELD_U64, .u64 = t->changed},
	    {.name = "deselected", .type = SAKER_FIELD_U64, .u64 = t->deselected},
	    {.name = "selected", .type = SAKER_FIELD_U64, .u64 = t->added},
	    {.name = "lane_budget_changed", .type = SAKER_FIELD_U64, .u64 = t->budget},
	    {.name = "loss_gen_changed", .type = SAKER_FIELD_U64, .u64 = t->loss_gen},
	    {.name = "restored", .type = SAKER_FIELD_U64, .u64 = t->restored},
	};

	snprintf(msg, sizeof(msg),
		 "Saker internal: selection changed. The probe's settings were changed from "
		 "outside saker: %u syscall table entries (%u deselected, %u selected)%s%s; %s.",
		 t->changed, t->deselected, t->added, t->budget ? ", the lane-1 budget" : "",
		 t->loss_gen ? ", the loss map generation" : "",
		 t->restored ? "restored" : "not restored");
	internal_alert(app, SAKER_SELECTION_RULE, msg, fields, sizeof(fields) / sizeof(fields[0]));
}

void saker_canary_check_selection(struct saker_app *app, uint64_t now_ns)
{
	struct saker_canary_run *r = &app->canary;
	struct saker_capture_tamper t;

	if (!app->cap)
		return;
	/*
	 * Restored at once: what saker set is the configuration, and a table
	 * left as the attacker wrote it keeps capture blind to every syscall it
	 * dropped. An attacker who writes it again is found again a second
	 * later (same episode, counted), so blindness lasts at most a check.
	 */
	saker_capture_check_settings(app->cap, true, &t);
	if (t.changed || t.budget || t.loss_gen) {
		r->n_sel_changes++;
		r->sel_last = t;
		r->sel_last_ns = now_ns;
		if (!r->sel_changed) {
			r->sel_changed = true;
			r->sel_since_ns = now_ns;
			r->n_sel_episodes++;
			selection_alert(app, &t);
		}
		return;
	}
	if (r->sel_changed && now_ns - r->sel_last_ns >= SAKER_SELECTION_HOLD_NS) {
		r->sel_changed = false;
		saker_log(
		    &app->log, SAKER_PRIO_WARNING,
		    "selection guard: the probe's settings stayed as saker set them for %.0f s "
		    "(checks that found them changed from outside: %" PRIu64 ", over %.1f s)",
		    (double)SAKER_SELECTION_HOLD_NS / 1e9, r->n_sel_changes,
		    (double)(r->sel_last_ns - r->sel_since_ns) / 1e9);
	}
}
