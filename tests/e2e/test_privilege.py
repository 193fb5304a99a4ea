"""Issue 9 item 5 end to end: once attached, saker keeps only the capabilities
it needs (docs/security.md), in every thread, with no_new_privs set, and still
works: events flow, SIGHUP reloads a new syscall selection, and the process
table reads another user's /proc/<pid>/fd with the reduced set."""
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import pytest

from conftest import ROOT, SAKER

CAP_KILL, CAP_SETGID, CAP_SETUID, CAP_DAC_READ_SEARCH, CAP_SYS_PTRACE, CAP_BPF = 5, 6, 7, 2, 19, 39
NOBODY = 65534


def expected_caps():
    keep = 1 << CAP_DAC_READ_SEARCH
    major, minor = (int(x) for x in platform.release().split(".")[:2])
    if (major, minor) < (6, 5):
        keep |= 1 << CAP_BPF
    # saker can keep only what it started with
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("CapPrm:"):
                keep &= int(line.split()[1], 16)
    return keep


def task_status(pid):
    out = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        st = {}
        with open("/proc/%d/task/%s/status" % (pid, tid)) as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
                    st[k] = int(v.strip(), 16)
                elif k in ("NoNewPrivs", "Seccomp"):
                    st[k] = int(v.strip())
        out[int(tid)] = st
    return out


def test_every_thread_has_the_reduced_sets(saker):
    s = saker("-o", "program_output.enabled=true", "-o", "program_output.program=cat > /dev/null")
    want = expected_caps()
    tasks = task_status(s.proc.pid)
    assert len(tasks) >= 2, "expected the loop and the output thread, got %s" % tasks
    for tid, st in tasks.items():
        assert st["CapEff"] == want, (tid, hex(st["CapEff"]), hex(want))
        assert st["CapPrm"] == want, (tid, hex(st["CapPrm"]))
        assert st["CapBnd"] == want, (tid, hex(st["CapBnd"]))
        assert st["CapInh"] == 0 and st["CapAmb"] == 0, (tid, st)
        assert st["NoNewPrivs"] == 1, (tid, st)
        assert st["Seccomp"] == 2, (tid, st)  # signals to itself only, no ptrace
    s.wait_for(r"capabilities dropped in \d+ thread\(s\): keeping "
               r"cap_dac_read_search;")
    assert s.stop() == 0


# Run as nobody: opens a file, says so, waits for "go", closes it, then a marker open.
HOLDER = r"""
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
print(fd, flush=True)
sys.stdin.readline()
os.close(fd)
os.getppid()
try:
    os.open("/dev/null/privtest-end-%d" % os.getpid(), os.O_RDONLY)
except OSError:
    pass
"""


def as_nobody():
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)


def dump_events(s, pid):
    out = []
    for line in s.lines("out"):
        if line.startswith("{"):
            doc = json.loads(line)
            if doc.get("pid") == pid and "params" in doc:
                out.append(doc)
    return out


def test_works_after_the_drop_proc_of_others_and_reload(saker):
    d = tempfile.mkdtemp(prefix="saker-priv-")
    try:
        os.chmod(d, 0o755)
        held = os.path.join(d, "held.txt")
        with open(held, "w") as f:
            f.write("x\n")
        os.chmod(held, 0o644)
        cfg = os.path.join(d, "saker.yaml")
        with open(cfg, "w") as f:
            f.write("json_output: true\nbase_syscalls:\n  custom_set: []\n")
        # Started before saker, as another user: its fd is known only from its /proc/<pid>/fd,
        # which saker reads after dropping privileges (0500 directory of uid nobody).
        p = subprocess.Popen([sys.executable, "-c", HOLDER, held], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True, preexec_fn=as_nobody, cwd="/")
        try:
            fd = int(p.stdout.readline())
            s = saker("-c", cfg, "--dump")
            # A new selection by SIGHUP: getppid is not in the default set (repair keeps
            # the state set, which custom_set alone replaces, as in Falco).
            with open(cfg, "w") as f:
                f.write("json_output: true\nbase_syscalls:\n  custom_set: [getppid]\n"
                        "  repair: true\n")
            s.signal(signal.SIGHUP)
            s.wait_for(r"configuration reloaded")
            p.stdin.write("go\n")
            p.stdin.flush()
            assert p.wait(timeout=20) == 0
            s.wait_for(r"privtest-end-%d" % p.pid, which="out", timeout=20)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        assert s.stop() == 0
        evs = dump_events(s, p.pid)
        closes = [e for e in evs if e["event"] == "close" and e["params"].get("fd") == fd]
        assert closes, "no close of fd %d in %s" % (fd, [e["event"] for e in evs])
        assert closes[0]["params"].get("fd_name") == held, closes[0]
        assert closes[0]["proc"]["uid"] == NOBODY
        # exe and cwd links of another user's process: from the task iterators (or, on a
        # kernel without them, the /proc helper), as saker keeps no CAP_SYS_PTRACE
        assert closes[0]["exe"] == os.path.realpath(sys.executable), closes[0]
        assert closes[0]["proc"]["cwd"] == "/", closes[0]
        assert [e for e in evs if e["event"] == "getppid"], "reloaded selection not applied"
    finally:
        shutil.rmtree(d, ignore_errors=True)


def unit_bounding_set():
    with open(os.path.join(ROOT, "etc", "saker.service")) as f:
        for line in f:
            if line.startswith("CapabilityBoundingSet="):
                return line.split("=", 1)[1].split()
    raise AssertionError("etc/saker.service has no CapabilityBoundingSet")


def shipped_priority_boost():
    with open(os.path.join(ROOT, "etc", "saker.yaml")) as f:
        for line in f:
            if line.startswith("priority_boost:"):
                return int(line.split(":")[1])
    raise AssertionError("etc/saker.yaml sets no priority_boost")


def test_the_units_capabilities_suffice_for_the_shipped_config(saker):
    """Issue 18 item 8: under the unit's bounding set, the shipped configuration
    starts with no warning, its priority_boost is applied, and the drop still
    leaves only the kept set (CAP_SYS_NICE is used once, at start)."""
    boost = shipped_priority_boost()
    assert boost > 0, "the check needs the shipped config to ask for a boost"
    caps = unit_bounding_set()
    assert "CAP_SYS_NICE" in caps
    bset = "-all," + ",".join("+" + c[len("CAP_"):].lower() for c in caps)
    # The program output makes a spawner that cannot switch to its user fatal, not silent.
    s = saker("--bounding-set", bset, SAKER, "-c", os.path.join(ROOT, "etc", "saker.yaml"),
              "-o", "program_output.enabled=true", "-o", "program_output.program=cat > /dev/null",
              binary="setpriv")
    with open("/proc/%d/stat" % s.proc.pid) as f:
        nice = int(f.read().rsplit(")", 1)[1].split()[16])
    assert nice == -boost, nice
    st = task_status(s.proc.pid)
    for tid, t in st.items():
        assert not t["CapEff"] & (1 << 23), (tid, hex(t["CapEff"]))  # CAP_SYS_NICE dropped
        assert not t["CapBnd"] & (1 << 23), (tid, hex(t["CapBnd"]))
    assert s.stop() == 0
    warnings = [l for l in s.lines("err") if "Warning:" in l or "Error:" in l]
    assert warnings == [], warnings


# Runs with the credentials of another process (argv[1]: pid): its uids and gids, its bounding,
# permitted and effective capability sets; then tries argv[2] against pid argv[3].
AS_SAKER = r"""
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
st = {}
with open("/proc/%s/status" % sys.argv[1]) as f:
    for line in f:
        k, _, v = line.partition(":")
        st[k] = v.split()
eff, prm, bnd = (int(st[k][0], 16) for k in ("CapEff", "CapPrm", "CapBnd"))
for c in range(64):
    if not bnd & (1 << c):
        libc.prctl(24, c, 0, 0, 0)  # PR_CAPBSET_DROP
os.setgroups([])
libc.prctl(8, 1, 0, 0, 0)  # PR_SET_KEEPCAPS: a switch to a non-root uid keeps the sets
os.setresgid(*(int(x) for x in st["Gid"][:3]))
os.setresuid(*(int(x) for x in st["Uid"][:3]))
class Hdr(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]
class Data(ctypes.Structure):
    _fields_ = [("eff", ctypes.c_uint32), ("prm", ctypes.c_uint32), ("inh", ctypes.c_uint32)]
d = (Data * 2)(Data(eff & 0xffffffff, prm & 0xffffffff, 0), Data(eff >> 32, prm >> 32, 0))
assert libc.capset(ctypes.byref(Hdr(0x20080522, 0)), d) == 0, ctypes.get_errno()
with open("/proc/self/status") as f:
    mine = {l.split(":")[0]: l.split()[1] for l in f if l.startswith("Cap")}
assert int(mine["CapEff"], 16) == eff and int(mine["CapBnd"], 16) == bnd, mine
what, target = sys.argv[2], int(sys.argv[3])
try:
    if what == "kill":
        os.kill(target, 0)
    elif what == "setuid":
        os.setuid(target)
    elif what == "ptrace":
        libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
        if libc.ptrace(16, target, None, None) != 0:  # PTRACE_ATTACH
            raise PermissionError(ctypes.get_errno(), "ptrace")
        libc.ptrace(17, target, None, None)  # PTRACE_DETACH
    print("allowed")
except PermissionError:
    print("refused")
"""


def iterators_loaded(s):
    """Whether saker loaded the task iterators: it warns once when it cannot."""
    return not [l for l in s.lines("err") if "task iterators" in l and "Warning:" in l]


def with_saker_credentials(pid, what, target):
    r = subprocess.run([sys.executable, "-c", AS_SAKER, str(pid), what, str(target)],
                       capture_output=True, text=True, timeout=30, cwd="/")
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def test_saker_credentials_cannot_attach_signal_or_become_another_user(saker):
    """Issue 14 item 4: with saker's credentials (read from /proc/<pid>/status)
    a process cannot PTRACE_ATTACH a root process, signal another user's
    process (the spawner, running as nobody) nor switch to another uid. The same
    helper with root's full set can: the check is not vacuous. With the task
    iterators no /proc helper runs; without them (a kernel that cannot load
    them) the helper that keeps CAP_SYS_PTRACE keeps nothing else."""
    s = saker("-o", "program_output.enabled=true", "-o", "program_output.program=cat > /dev/null")
    kids = subprocess.run(["ps", "-o", "pid=,uid=,comm=", "--ppid", str(s.proc.pid)],
                          capture_output=True, text=True).stdout.split()
    kids = [(int(kids[i]), int(kids[i + 1]), kids[i + 2]) for i in range(0, len(kids), 3)]
    nobody = [p for p, u, _ in kids if u == NOBODY]
    assert nobody, "no spawner running as nobody among saker's children: %s" % kids
    helper = [p for p, _, c in kids if c == "saker-procread"]
    if iterators_loaded(s):
        assert not helper, kids
    else:
        assert len(helper) == 1, kids
        st = task_status(helper[0])[helper[0]]
        assert st["CapEff"] == st["CapPrm"] == st["CapBnd"] == \
            (1 << CAP_SYS_PTRACE) | (1 << CAP_DAC_READ_SEARCH), st
        assert st["NoNewPrivs"] == 1
    victim = subprocess.Popen(["sleep", "60"])  # root, full capabilities
    try:
        assert with_saker_credentials(s.proc.pid, "ptrace", victim.pid) == "refused"
        assert with_saker_credentials(s.proc.pid, "kill", nobody[0]) == "refused"
        assert with_saker_credentials(s.proc.pid, "setuid", NOBODY) == "refused"
        assert with_saker_credentials(os.getpid(), "ptrace", victim.pid) == "allowed"
        assert with_saker_credentials(os.getpid(), "kill", nobody[0]) == "allowed"
        assert with_saker_credentials(os.getpid(), "setuid", NOBODY) == "allowed"
    finally:
        victim.kill()
        victim.wait()
    assert s.stop() == 0


def seed_root_holder(saker, during, engine="", args=()):
    """A root process (full capabilities: saker's reduced set may not read its exe, cwd or
    fd links in /proc) holds a file open from before saker starts; during(s) runs once
    saker has seeded; then the process closes it. Returns the close as saker dumped it."""
    d = tempfile.mkdtemp(prefix="saker-iter-")
    try:
        held = os.path.join(d, "held.txt")
        with open(held, "w") as f:
            f.write("x\n")
        cfg = os.path.join(d, "saker.yaml")
        with open(cfg, "w") as f:
            f.write("json_output: true\nbase_syscalls:\n  custom_set: []\n" + engine)
        p = subprocess.Popen([sys.executable, "-c", HOLDER, held], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True, cwd=d)
        try:
            fd = int(p.stdout.readline())
            s = saker("-c", cfg, "--dump", "-o", "log_level=debug", *args)
            during(s, p)
            p.stdin.write("go\n")
            p.stdin.flush()
            assert p.wait(timeout=20) == 0
            s.wait_for(r"privtest-end-%d" % p.pid, which="out", timeout=20)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        assert s.stop() == 0
        closes = [e for e in dump_events(s, p.pid)
                  if e["event"] == "close" and e["params"].get("fd") == fd]
        assert closes, "no close of fd %d" % fd
        assert closes[0]["params"].get("fd_name") == held, closes[0]
        assert closes[0]["proc"]["uid"] == 0
        assert closes[0]["exe"] == os.path.realpath(sys.executable), closes[0]
        assert closes[0]["proc"]["cwd"] == d, closes[0]
        return closes[0]
    finally:
        shutil.rmtree(d, ignore_errors=True)


SEEDED = (r"process table seeded: \d+ threads; (\d+) processes and (\d+) "
          r"descriptors from the task iterators(.*)$")


@pytest.mark.parametrize("iterators", [True, False])
def test_seeding_from_the_task_iterators_needs_no_ptrace(saker, iterators):
    """Issue 14 item 4: a root process started before saker is seeded with its exe,
    cwd and an open file from the task iterators, read after the drop; no saker
    process, thread or child holds CAP_SYS_PTRACE and no /proc helper runs. With
    engine.modern_ebpf.disable_iterators (as on a kernel that cannot load them) the
    same view comes from /proc through the helper."""

    def during(s, p):
        m = s.wait_for(SEEDED)
        kids = subprocess.run(["ps", "-o", "pid=,comm=", "--ppid", str(s.proc.pid)],
                              capture_output=True, text=True).stdout.split()
        if not iterators:
            assert m.group(3) == " (none loaded: /proc)", m.group(0)
            assert kids.count("saker-procread") == 1, kids
            return
        assert m.group(3) == "" and int(m.group(1)) > 0 and int(m.group(2)) > 0, m.group(0)
        assert "saker-procread" not in kids, kids
        # The children (canary, spawner) run as nobody with no_new_privs: their
        # bounding set gives them nothing; saker's own is reduced too.
        for pid in [s.proc.pid] + [int(k) for k in kids[::2]]:
            for tid, st in task_status(pid).items():
                for k in ("CapEff", "CapPrm") + (("CapBnd",) if pid == s.proc.pid else ()):
                    assert not st[k] & (1 << CAP_SYS_PTRACE), (pid, tid, k, hex(st[k]))

    seed_root_holder(saker, during, "engine:\n  modern_ebpf:\n    disable_iterators: %s\n"
                     % ("false" if iterators else "true"))


def test_run_as_user_cannot_signal_or_trace_root_by_credentials(saker):
    """Issue 14 item 4, run_as_user: saker's process switches to nobody after
    attaching and keeps CAP_DAC_READ_SEARCH only. With its credentials alone (no
    seccomp filter) both PTRACE_ATTACH and kill() of a root process fail, and the
    root process is still seeded with its exe, cwd and descriptors."""

    def during(s, p):
        s.wait_for(r"running as user nobody \(uid %d\), no supplementary groups" % NOBODY)
        m = s.wait_for(SEEDED)
        assert m.group(3) == "" and int(m.group(1)) > 0, m.group(0)
        with open("/proc/%d/status" % s.proc.pid) as f:
            st = {l.split(":")[0]: l.split()[1:] for l in f}
        assert st["Uid"] == [str(NOBODY)] * 4 and st["Groups"] == [], st
        for tid, t in task_status(s.proc.pid).items():
            assert t["CapEff"] == t["CapPrm"] == expected_caps(), (tid, t)
        assert with_saker_credentials(s.proc.pid, "ptrace", p.pid) == "refused"
        assert with_saker_credentials(s.proc.pid, "kill", p.pid) == "refused"
        assert with_saker_credentials(os.getpid(), "kill", p.pid) == "allowed"

    seed_root_holder(saker, during, args=("-o", "run_as_user=nobody"))
