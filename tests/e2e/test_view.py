"""Issue 3 end to end: real syscalls, the probe's parameters, the process and
fd tables, and what `saker --dump` prints of them (docs/dump.md).

A helper (tests/helpers/viewprog.c) performs known syscalls; every mode ends
with a failing open of /dev/null/viewprog-end-<pid>, so the test knows when
the dump has caught up with it. Loopback only; every process is waited for."""
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile

import pytest

from conftest import HELPERS, summary

VIEWPROG = os.path.join(HELPERS, "viewprog")
JSON = ["--dump", "-o", "json_output=true"]
# What the helper names its evil file: a newline, a would-be dump line, an escape sequence, quotes.
EVIL = "evil\n10:00:00.000000000 0 forged(1) 1 openat ret=0\x1b[31m\"q\".txt"


@pytest.fixture(autouse=True)
def _helper_built():
    assert os.access(VIEWPROG, os.X_OK), "%s missing: run `make tests-helpers`" % VIEWPROG


@pytest.fixture
def tmpdir_real():
    d = os.path.realpath(tempfile.mkdtemp(prefix="saker-view-"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


def expected_container_id():
    """What saker should call the cgroup this test (and its children) runs in."""
    with open("/proc/self/cgroup") as f:
        content = f.read()
    ids = re.findall(r"(?<![0-9a-f])([0-9a-f]{64})(?![0-9a-f])", content)
    return ids[-1][:12] if ids else "host"


def events(s):
    """The dump's JSON event lines (alerts, which share stdout, are left out)."""
    out = []
    for line in s.lines("out"):
        if not line.startswith("{"):
            continue
        doc = json.loads(line)
        if "event" in doc and "params" in doc:
            out.append(doc)
    return out


def wait_marker(s, pid, timeout=20.0):
    s.wait_for(r"viewprog-end-%d\b" % pid, which="out", timeout=timeout)


def one(evts, pred, what):
    found = [e for e in evts if pred(e)]
    assert found, "no event: %s" % what
    return found[0]


def test_dump_shows_known_syscalls_with_process_fields(saker, tmpdir_real):
    # log level debug: the summary then has the state counters read at the end
    s = saker(*JSON, "-o", "log_level=debug")
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    port = listener.getsockname()[1]
    d = tmpdir_real
    try:
        argv = [VIEWPROG, "actions", d, str(port)]
        r = subprocess.run(argv, capture_output=True, text=True, timeout=30, cwd="/")
        assert r.returncode == 0, r.stderr
        pid = int(r.stdout.split()[0])
        wait_marker(s, pid)
    finally:
        listener.close()
    assert s.stop() == 0
    evts = events(s)
    mine = [e for e in evts if e["pid"] == pid]
    exe = os.path.realpath(VIEWPROG)
    cid = expected_container_id()

    # the exec of the helper: the probe's view of the new image
    ex = one(mine, lambda e: e["event"] == "sched_process_exec", "exec of the helper")
    p = ex["params"]
    assert p["exe"] == exe
    assert p["args"] == argv
    assert p["cwd"] == "/"
    assert p["ppid"] == os.getpid()
    assert p["uid"] == os.getuid() and p["euid"] == os.geteuid() and p["gid"] == os.getgid()
    assert p["comm"] == "viewprog"
    assert ex["ret"] is None

    # chdir, then a relative open: the process table fields and the resolved path
    # (the first chdir, to "/", is Python's, between fork and exec)
    cd = one(mine, lambda e: e["event"] == "chdir" and e["params"]["path"] == d, "chdir")
    assert cd["ret"] == 0
    op = one(mine, lambda e: e["event"] in ("open", "openat") and
             e["params"].get("path") == "rel.txt", "open of rel.txt")
    assert op["ret"] >= 0
    assert op["params"]["path_abs"] == d + "/rel.txt"
    assert op["params"]["flags"] & os.O_CREAT
    assert op["params"]["mode"] == 0o640
    assert op["comm"] == "viewprog" and op["exe"] == exe
    proc = op["proc"]
    assert proc["ppid"] == os.getpid()
    assert proc["args"] == argv
    assert proc["cwd"] == d
    assert proc["uid"] == os.getuid() and proc["euid"] == os.geteuid()
    assert proc["container_id"] == cid
    # its close names the file from the fd table
    cl = one(mine, lambda e: e["event"] == "close" and
             e["params"].get("fd_name") == d + "/rel.txt", "close of rel.txt")
    assert cl["params"]["fd"] == op["ret"]

    # relative to a directory fd
    inner = one(mine, lambda e: e["event"] == "openat" and
                e["params"].get("path") == "inner.txt", "openat of inner.txt")
    assert inner["params"]["dirfd_name"] == d + "/sub"
    assert inner["params"]["path_abs"] == d + "/sub/inner.txt"
    one(mine, lambda e: e["event"] == "close" and
        e["params"].get("fd_name") == d + "/sub/inner.txt", "close of inner.txt")

    rn = one(mine, lambda e: e["event"] in ("rename", "renameat", "renameat2"), "rename")
    assert rn["ret"] == 0
    assert rn["params"]["path"] == "rel.txt" and rn["params"]["newpath"] == "renamed.txt"
    assert rn["params"]["path_abs"] == d + "/rel.txt"
    assert rn["params"]["newpath_abs"] == d + "/renamed.txt"

    # the evil name round-trips exactly through JSON escaping
    ev = one(mine, lambda e: e["event"] == "openat" and e["params"].get("path") == EVIL,
             "open of the evil name")
    assert ev["ret"] >= 0
    assert ev["params"]["path_abs"] == d + "/" + EVIL
    one(mine, lambda e: e["event"] == "unlinkat" and e["params"].get("path") == EVIL,
        "unlinkat of the evil name")

    # connect to the test's listener, and the fd table's name at close
    cn = one(mine, lambda e: e["event"] == "connect", "connect")
    assert cn["ret"] == 0
    assert cn["params"]["addr"] == "127.0.0.1:%d" % port
    sock_close = one(mine, lambda e: e["event"] == "close" and
                     e["params"]["fd"] == cn["params"]["fd"] and "fd_name" in e["params"] and
                     e["params"]["fd_name"].endswith("->127.0.0.1:%d" % port),
                     "close of the socket")
    assert sock_close["ret"] == 0

    su = one(mine, lambda e: e["event"] == "setuid", "setuid")
    assert su["ret"] == 0 and su["params"]["uid"] == os.getuid()
    sg = one(mine, lambda e: e["event"] == "setgid", "setgid")
    assert sg["ret"] == 0 and sg["params"]["gid"] == os.getgid()

    # fork + exec of echo: the child, its parent, its image
    forks = [e for e in evts if e["event"] == "sched_process_fork" and e["params"]["pid"] == pid]
    assert len(forks) >= 2
    echo = one(evts, lambda e: e["event"] == "sched_process_exec" and
               e["params"]["args"] == ["echo", "hello world"] and e["params"]["ppid"] == pid,
               "exec of echo")
    assert echo["params"]["exe"] == os.path.realpath("/bin/echo")
    assert echo["pid"] in [f["pid"] for f in forks]
    after = [e for e in evts if e["pid"] == echo["pid"] and e.get("proc") and
             e["proc"]["args"] == ["echo", "hello world"]]
    assert after, "no event of echo after its exec"
    assert after[0]["proc"]["ppid"] == pid
    assert after[0]["exe"] == os.path.realpath("/bin/echo")
    assert after[0]["proc"]["container_id"] == cid

    # the failed exec keeps its path
    bad = one(evts, lambda e: e["event"] == "execve" and e["ret"] == -2 and
              e["params"].get("path") == "/nonexistent/prog", "failed execve")
    assert bad["pid"] in [f["pid"] for f in forks]

    st = summary(s.lines())
    assert st["state events malformed"] == 0


def test_text_dump_escapes_evil_paths(saker, tmpdir_real):
    s = saker("--dump")
    r = subprocess.run([VIEWPROG, "evil", tmpdir_real], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0, r.stderr
    # the helper printed nothing; its pid is found through the marker line
    m = s.wait_for(r"\((\d+)\) \d+ open(at)? ret=-20\(ENOTDIR\) .*viewprog-end-", which="out")
    pid = int(m.group(1))
    assert s.stop() == 0
    lines = s.lines("out")
    want = ('path="evil\\n10:00:00.000000000 0 forged(1) 1 openat ret=0\\x1b[31m\\"q\\".txt"')
    mine = [l for l in lines if "viewprog(%d) " % pid in l]
    assert any(" openat ret=" in l and want in l for l in mine), "\n".join(mine)
    assert any(" unlinkat ret=0 " in l and want in l for l in mine), "\n".join(mine)
    # nothing the process chose became a line of its own or reached the terminal raw
    assert not [l for l in lines if l.startswith("10:00:00.000000000 0 forged")]
    assert not [l for l in lines if "\x1b" in l]
    # every line has the documented shape
    rx = re.compile(r"^\d\d:\d\d:\d\d\.\d{9} \d+ \S+\(\d+\) \d+ [a-z0-9_]+( |$)")
    dump = [l for l in lines if re.match(r"^\d\d:\d\d:\d\d\.\d{9} ", l)]
    assert dump and all(rx.match(l) for l in dump), [l for l in dump if not rx.match(l)][:3]


def test_process_started_before_saker_is_known_from_proc(saker):
    tag = "TAG-%d" % os.getpid()
    argv = [VIEWPROG, "wait", tag]
    p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, cwd="/",
                         text=True)
    try:
        s = saker(*JSON)
        p.stdin.write("go\n")
        p.stdin.flush()
        assert p.wait(timeout=20) == 0
        wait_marker(s, p.pid)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert s.stop() == 0
    mine = [e for e in events(s) if e["pid"] == p.pid]
    assert not [e for e in mine if e["event"] == "sched_process_exec"], "exec predates saker"
    op = one(mine, lambda e: e["event"] in ("open", "openat") and
             e["params"].get("path") == "/etc/hostname", "open of /etc/hostname")
    assert op["exe"] == os.path.realpath(VIEWPROG)
    assert op["comm"] == "viewprog"
    proc = op["proc"]
    assert proc["args"] == argv
    assert proc["ppid"] == os.getpid()
    assert proc["cwd"] == "/"
    assert proc["uid"] == os.getuid()
    assert proc["container_id"] == expected_container_id()


def test_fork_storm_bounded_table_counts_evictions(saker):
    bound = 64
    # table internals are in the summary at log level debug
    s = saker("-o", "state.max_procs=%d" % bound, "-o", "log_level=debug")
    r = subprocess.run([VIEWPROG, "forks", "2000"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert int(r.stdout.split()[0]) == 2000
    assert s.stop() == 0
    st = summary(s.lines())
    assert st["process table max entries"] == bound
    assert st["process table entries"] <= bound
    # 2000 children alive at once in a table of 64: nearly all of them pushed one out
    assert st["process table evictions"] >= 2000 - bound
    # bounded memory: entries and images of at most `bound` threads (generous per entry)
    assert st["process table bytes"] < bound * 64 * 1024
    assert st["state events malformed"] == 0
