"""Fixtures for end-to-end tests: they run the real saker binary as root
against real syscalls. Every saker started here is stopped at teardown,
and every test checks that no saker BPF program is left attached."""
import atexit
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.path.join(ROOT, "build")
SAKER = os.environ.get("SAKER_BIN", os.path.join(BUILD, "saker"))
SAKER_ASAN = os.path.join(BUILD, "asan", "saker")
HELPERS = os.path.join(BUILD, "helpers")
# The date every log line starts with (local "%a %b %d %H:%M:%S %Y"), then ": ".
LOG_DATE = r"[A-Z][a-z]{2} [A-Z][a-z]{2} \d{2} \d{2}:\d{2}:\d{2} \d{4}"


_PUBLIC_DIR = []


def public_copy(path):
    """A copy of the executable at path that every uid can run. Tests run some
    helpers (and saker) as uid 65534, which cannot enter a checkout below a 0700
    home (/root, where root's `git clone` lands): the copy lives in a 0755 directory
    under /tmp, removed when the session ends, and keeps its name (comm)."""
    if not _PUBLIC_DIR:
        d = tempfile.mkdtemp(prefix="saker-e2e-bin-")
        os.chmod(d, 0o755)
        atexit.register(shutil.rmtree, d, True)
        _PUBLIC_DIR.append(d)
    dst = os.path.join(_PUBLIC_DIR[0], os.path.basename(path))
    st = os.stat(path)
    try:
        cur = os.stat(dst)
        fresh = cur.st_size == st.st_size and cur.st_mtime_ns == st.st_mtime_ns
    except FileNotFoundError:
        fresh = False
    if not fresh:
        tmp = dst + ".new"
        shutil.copy2(path, tmp)
        os.chmod(tmp, 0o755)
        os.replace(tmp, dst)
    return dst


def require_reference(path, what):
    """Skips a test whose reference file outside the repo (../shared) is absent,
    except in CI (CI=true), where that file is laid beside the clone: there a
    missing file fails the test instead of hiding it."""
    if os.path.exists(path):
        return
    if os.environ.get("CI") == "true":
        pytest.fail("%s absent with CI=true: %s cannot be checked" % (path, what))
    pytest.skip("%s absent (%s is not part of the repo)" % (path, what))


def _prog_holders():
    """prog id -> pids holding it through a prog or link fd (from fdinfo; this
    bpftool build cannot name the pids itself)."""
    holders = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        d = "/proc/%s/fdinfo" % pid
        try:
            fds = os.listdir(d)
        except OSError:
            continue
        for fd in fds:
            try:
                with open(os.path.join(d, fd)) as f:
                    for line in f:
                        if line.startswith("prog_id:"):
                            holders.setdefault(int(line.split()[1]), set()).add(int(pid))
            except (OSError, ValueError):
                continue
    return holders


def bpf_progs_loaded(our_pids=None):
    """saker BPF programs still loaded that this test could have left: held by
    one of our_pids, or held by no process at all (pinned or orphaned links).
    Programs of a saker someone else runs on the host are not ours."""
    out = subprocess.run(["bpftool", "prog", "show", "--json"], capture_output=True,
                         text=True).stdout
    holders = _prog_holders()
    left = []
    for p in json.loads(out or "[]"):
        name = p.get("name", "")
        if not name.startswith("saker_"):
            continue
        pids = holders.get(p.get("id"), set())
        if not pids or (our_pids and pids & set(our_pids)):
            left.append("%s id=%s pids=%s" % (name, p.get("id"), sorted(pids)))
    return left


def wait_detached(pids, timeout=5.0):
    """The BPF programs pids (stopped sakers) still hold after up to timeout seconds:
    the kernel frees detached programs asynchronously."""
    deadline = time.monotonic() + timeout
    while bpf_progs_loaded(pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    return bpf_progs_loaded(pids)


class Saker:
    """A running saker: collects stdout and stderr lines in threads."""

    def __init__(self, args, binary=SAKER, env=None, stdout=None):
        """stdout: a file to send standard output to instead of collecting it."""
        self.args = [binary] + list(args)
        e = dict(os.environ)
        e.update(env or {})
        self.proc = subprocess.Popen(self.args, stdout=stdout or subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, errors="replace", env=e)
        self.out, self.err = [], []
        # arrival time (monotonic) of each line, in step with out/err
        self.out_t, self.err_t = [], []
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._pump,
                                          args=(self.proc.stderr, self.err, self.err_t),
                                          daemon=True)]
        if not stdout:
            self._threads.append(threading.Thread(target=self._pump,
                                                  args=(self.proc.stdout, self.out, self.out_t),
                                                  daemon=True))
        for t in self._threads:
            t.start()

    def _pump(self, stream, sink, times):
        for line in stream:
            with self._lock:
                sink.append(line.rstrip("\n"))
                times.append(time.monotonic())

    def timed_lines(self, which="err"):
        """(arrival time, line) pairs."""
        with self._lock:
            if which == "err":
                return list(zip(self.err_t, self.err))
            return list(zip(self.out_t, self.out))

    def lines(self, which="err"):
        with self._lock:
            return list(self.err if which == "err" else self.out)

    def wait_for(self, pattern, which="err", timeout=20.0):
        """Waits for a line matching pattern; returns the match or fails."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for l in self.lines(which):
                m = rx.search(l)
                if m:
                    return m
            if self.proc.poll() is not None:
                time.sleep(0.2)  # let the pumps catch the last lines
                for l in self.lines(which):
                    m = rx.search(l)
                    if m:
                        return m
                break
            time.sleep(0.05)
        raise AssertionError("no line matching %r in %s (rc=%s):\nstdout:\n%s\nstderr:\n%s" % (
            pattern, which, self.proc.poll(), "\n".join(self.lines("out")[-30:]),
            "\n".join(self.lines("err")[-30:])))

    def wait_started(self, timeout=30.0):
        return self.wait_for(r"saker .* started", timeout=timeout)

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, timeout=20.0):
        """SIGTERM and wait; returns the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
            raise AssertionError("saker did not stop within %ss" % timeout)
        for t in self._threads:
            t.join(timeout=5)
        return rc

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class Summary(dict):
    """name -> int; the short summary prints only counters that are not zero (the
    accounting lines always), so a counter it left out reads 0."""

    def __missing__(self, key):
        return 0


def summary(lines):
    """Parses the shutdown summary into a dict of name -> int."""
    vals = Summary()
    for l in lines:
        m = re.match(r"\s+(?:- )?([a-z_ ,()]+?): (\d+)", l)
        if m:
            vals[m.group(1).strip()] = int(m.group(2))
        m = re.match(r"\s+- event drop detected: (\d+) occurrences", l)
        if m:
            vals["event drop detected"] = int(m.group(1))
    return vals


def flood(syscall="close", count=3_000_000, seconds=3.0, procs=2):
    """Runs the bounded flood helper in `procs` processes at once; returns the calls made.
    Two by default: one flooder alone may not outrun saker on an idle machine, and the
    drop tests need a 32 KiB ring to overflow every time."""
    ps = [subprocess.Popen([os.path.join(HELPERS, "flood"), syscall, str(count), str(seconds)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
          for _ in range(procs)]
    total = 0
    for p in ps:
        out, err = p.communicate(timeout=seconds + 30)
        assert p.returncode == 0, err
        total += int(out.strip())
    return total


@pytest.fixture(scope="session", autouse=True)
def _root_and_build():
    if os.geteuid() != 0:
        pytest.fail("end-to-end tests load BPF programs and must run as root")
    for p in (SAKER, os.path.join(HELPERS, "flood")):
        assert os.access(p, os.X_OK), "%s missing: run `make test`" % p


@pytest.fixture
def saker():
    """Factory: saker(args...) starts one; all are stopped at teardown."""
    started = []

    def start(*args, binary=SAKER, env=None, wait=True, stdout=None):
        s = Saker(args, binary=binary, env=env, stdout=stdout)
        started.append(s)
        if wait:
            s.wait_started()
        return s

    yield start
    for s in started:
        s.kill()
    # Detaching must not depend on the test passing.
    left = wait_detached([s.proc.pid for s in started])
    assert not left, "BPF programs left attached: %s" % left
