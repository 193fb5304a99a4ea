"""Issue 8, user-space half, end to end: real probe, real floods. The drop
alert names the flooder; the loss ledger records every lossy window (those
whose alert the token bucket suppressed too) and the end of loss; `resync`
repairs the process table after lost fork/exec records; the dump marks what
the loss may have made stale (view_degraded)."""
import json
import os
import re
import signal
import subprocess
import time

from conftest import HELPERS, LOG_DATE, SAKER, flood, summary

FLOOD = os.path.join(HELPERS, "flood")


def ledger_lines(path):
    """Every line, each one JSON object (json.loads fails on anything else)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return []
    assert data == b"" or data.endswith(b"\n"), "partial line in %s" % path
    docs = [json.loads(l) for l in data.decode("utf-8").splitlines()]
    assert all(isinstance(d, dict) for d in docs)
    return docs


def check_loss_line(d):
    assert d["type"] == "loss"
    assert d["lost"] > 0
    assert d["lost"] == sum(d["lost_by_cause"].values())
    assert d["seen"] >= d["lost"]
    assert d["start_boot_ns"] < d["end_boot_ns"]
    assert d["start"] < d["end"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z", d["start"])
    ring = d["lost_by_cause"]["ring_full"] + d["lost_by_cause"]["no_ring"]
    assert sum(d["lost_by_lane"].values()) == ring
    assert sum(d["lost_by_category"].values()) == ring
    # the probe counts loss per process: the top ones' losses are part of the window's
    assert d["attribution"] == "kernel"
    for p in d["top"]:
        assert isinstance(p["pid"], int) and p["produced"] > 0
        assert 0 <= p["lost"] <= p["produced"] and p["demoted"] >= 0
    # per-process counts and the window's counters are one generation of the probe's, read
    # once no run held it (docs/drops.md): the processes' losses are part of the window's
    assert sum(p["lost"] for p in d["top"]) <= d["lost"]
    assert isinstance(d["suppressed"], bool) and isinstance(d["fired"], bool)


def test_ledger_one_line_per_lossy_window_suppressed_ones_too(saker, tmp_path):
    path = str(tmp_path / "ledger.jsonl")
    # one token only: after the first alert every lossy window is suppressed
    s = saker("-o", "engine.modern_ebpf.buf_size=32768", "-o", "syscall_event_drops.ledger=" + path,
              "-o", "syscall_event_drops.max_burst=1", "-o", "syscall_event_drops.rate=0.0001",
              "-o", "syscall_event_drops.actions=[alert]")
    flood(seconds=2.5, count=200_000_000)
    # logrotate: move the file away, SIGUSR1, and the rest goes to a new one
    rotated = path + ".1"
    os.rename(path, rotated)
    s.signal(signal.SIGUSR1)
    s.wait_for(r"SIGUSR1: reopening outputs")
    flood(seconds=2.5, count=200_000_000)
    time.sleep(1.5)
    assert s.stop() == 0
    old, new = ledger_lines(rotated), ledger_lines(path)
    assert old and new
    lines = old + new
    loss = [d for d in lines if d["type"] == "loss"]
    for d in loss:
        check_loss_line(d)
    st = summary(s.lines())
    # threshold 0: every lossy window fired, and each has its line, granted or not
    assert len(loss) == st["event drop detected"], (len(loss), st)
    assert st["suppressed by rate limit"] >= 1
    assert len([d for d in loss if d["suppressed"]]) == st["suppressed by rate limit"]
    assert len([d for d in loss if not d["suppressed"]]) == st["num times actions taken"] == 1
    assert sum(d["lost"] for d in loss) <= st["events dropped"]
    # the flooder produced most of what was received in its windows
    assert any(p["comm"] == "flood" for d in loss for p in d["top"][:1])
    # windows are in order and do not overlap
    ends = [(d["start_boot_ns"], d["end_boot_ns"]) for d in lines]
    assert all(a[1] <= b[0] for a, b in zip(ends, ends[1:])), ends
    for d in lines:
        if d["type"] == "loss_end":
            assert d["lost"] == 0 and d["episode_windows"] >= 1
    assert st["ledger lines"] == len(lines)
    assert st["ledger write errors"] == 0


def test_ledger_end_line_when_loss_ends(saker, tmp_path):
    path = str(tmp_path / "ledger.jsonl")
    # a ring that holds what the machine does at rest, not a flood through --dump
    with open(os.devnull, "w") as null:
        s = saker("-o", "engine.modern_ebpf.buf_size=262144", "-o",
                  "syscall_event_drops.ledger=" + path, "-o", "syscall_event_drops.actions=[]",
                  "--dump", "-o", "json_output=true", stdout=null)
        procs = [subprocess.Popen([FLOOD, "openat", "200000000", "2.5"],
                                  stdout=subprocess.DEVNULL) for _ in range(2)]
        for p in procs:
            assert p.wait(timeout=30) == 0
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if any(d["type"] == "loss_end" for d in ledger_lines(path)):
                break
            time.sleep(0.2)
        assert s.stop() == 0
    lines = ledger_lines(path)
    ends = [i for i, d in enumerate(lines) if d["type"] == "loss_end"]
    assert ends, lines[-3:]
    i = ends[0]
    episode = lines[:i]
    assert episode and all(d["type"] == "loss" for d in episode)
    end = lines[i]
    assert end["episode_windows"] == len(episode)
    assert end["episode_lost"] == sum(d["lost"] for d in episode)
    assert end["episode_seen"] == sum(d["seen"] for d in episode)
    assert end["episode_start_boot_ns"] == episode[0]["start_boot_ns"]
    assert end["episode_end_boot_ns"] == episode[-1]["end_boot_ns"]
    assert end["start_boot_ns"] == episode[-1]["end_boot_ns"]


def test_ledger_refuses_a_symlink(tmp_path):
    target = tmp_path / "elsewhere"
    link = tmp_path / "ledger.jsonl"
    link.symlink_to(target)
    r = subprocess.run([SAKER, "-o", "syscall_event_drops.ledger=%s" % link], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 1
    assert re.search(r"^" + LOG_DATE + r": Error: syscall_event_drops\.ledger: .*symbolic link", r.stderr, re.M), \
        r.stderr
    assert not target.exists()


def test_drop_alert_names_the_flooder(saker):
    # two flooders, no boost: saker falls behind a 32 KiB ring whatever the machine's load
    s = saker("-o", "engine.modern_ebpf.buf_size=32768", "-o", "json_output=true",
              "-o", "priority_boost=0", "-o", "syscall_event_drops.max_burst=100")
    ps = [subprocess.Popen([FLOOD, "close", "200000000", "3"], stdout=subprocess.DEVNULL)
          for _ in range(2)]
    pids = "(?:%d|%d)" % (ps[0].pid, ps[1].pid)
    try:
        m = s.wait_for(r"^\{.*\"top\.0\.pid\":%s[,}].*\}$" % pids, which="out", timeout=30)
        # the probe counts the loss per process: the line says how much of it was the flooder's
        log = s.wait_for(r"Saker internal: syscall event drop\. \d+ system calls dropped in last"
                         r" second\. Top: pid %s \(flood\), [\d.]+[kMG]? events, [\d.]+[kMG]? lost\."
                         r"(?: Ring .*)?$" % pids)
        assert log
    finally:
        for p in ps:
            assert p.wait(timeout=30) == 0
    assert s.stop() == 0
    doc = json.loads(m.group(0))
    f = doc["output_fields"]
    assert f["top.0.pid"] in (ps[0].pid, ps[1].pid)
    assert f["top.0.comm"] == "flood"
    assert f["top.0.exe"] == os.path.realpath(FLOOD)
    assert f["top.0.uid"] == os.getuid()
    assert f["top.0.produced"] > 0
    assert f["top.attribution"] == "kernel"
    assert f["top.processes"] >= 1
    # exact per-process loss: the flooder's lost events are part of what it produced
    assert 0 < f["top.0.lost"] <= f["top.0.produced"]
    assert f["top.0.lost"] <= f["top.lost_sum"] <= f["n_drops"]
    assert "top.lost_previous_window" not in f
    assert f["top.0.demoted"] == 0
    # the alert's output is Falco's sentence alone: who is in the fields
    assert doc["output"] == ("Saker internal: syscall event drop. %d system calls dropped in last"
                             " second." % f["n_drops"])
    # Falco's flat counters are still there
    assert f["n_drops"] > 0 and f["ebpf_enabled"] == 1


def test_resync_restores_processes_started_during_the_loss(saker, tmp_path):
    out = tmp_path / "markers.jsonl"
    sh = os.path.realpath("/bin/sh")
    tag = "saker-resync-marker-%d" % os.getpid()
    with open(out, "w") as outf:
        # only the marker lines of the dump are kept (a flood dumped whole is GBs)
        grep = subprocess.Popen(["grep", "--line-buffered", tag], stdin=subprocess.PIPE,
                                stdout=outf)
        try:
            # The protected lane keeps lifecycle records through a bulk flood: a budget of
            # one event per second demotes them to the flooded bulk lane, where they are lost.
            s = saker("-o", "engine.modern_ebpf.buf_size=65536",
                      "-o", "protected_lane.rate=1", "-o", "protected_lane.burst=1",
                      "-o", "protected_lane.uid_rate=1", "-o", "protected_lane.uid_burst=1",
                      "-o", "priority_boost=0",
                      "-o", "syscall_event_drops.actions=[log, resync]",
                      "--dump", "-o", "json_output=true", stdout=grep.stdin)
            floods = [subprocess.Popen([FLOOD, "openat", "400000000", "3"],
                                       stdout=subprocess.DEVNULL) for _ in range(2)]
            time.sleep(0.7)
            # started while the rings overflow: saker is stopped meanwhile, so the flood fills
            # the bulk ring whatever the box's speed, and the markers' fork and exec records
            # beyond the lane's budget of one are lost; each opens its marker later, after the
            # flood, as the shell it is (no new exec)
            markers = []
            s.signal(signal.SIGSTOP)
            try:
                time.sleep(0.5)
                for i in range(6):
                    # `true`, a regular builtin: a failed redirection does not end the shell
                    script = "sleep 6; for n in 1 2 3; do true < /nonexistent/%s-%d; " \
                        "sleep 0.3; done" % (tag, i)
                    markers.append((subprocess.Popen([sh, "-c", script],
                                                     stderr=subprocess.DEVNULL), script))
                    time.sleep(0.25)
            finally:
                s.signal(signal.SIGCONT)
            for p in floods:
                assert p.wait(timeout=30) == 0
            for p, _ in markers:
                p.wait(timeout=30)
            time.sleep(1.0)
            assert s.stop() == 0
        finally:
            grep.stdin.close()
            grep.wait(timeout=30)
    docs = [json.loads(l) for l in open(out)]
    st = summary(s.lines())
    assert st["resync requests"] >= 1, st
    # targeted (each process seen after the loss) or full (a heavy loss): either reloads
    assert st["resync processes reloaded"] >= len(markers), st
    assert any("resync: lifecycle events were lost" in l for l in s.lines())
    execs_seen = 0
    for i, (p, script) in enumerate(markers):
        mine = [d for d in docs if d["pid"] == p.pid]
        exec_seen = any(d["event"] == "sched_process_exec" for d in mine)
        execs_seen += exec_seen
        opens = [d for d in mine if d["event"] == "openat" and
                 d["params"].get("path", "").endswith("%s-%d" % (tag, i))]
        assert opens, "marker %d (pid %d): no open in the dump" % (i, p.pid)
        # the first line after a loss may show the old state; the reload follows it
        assert len(opens) >= 2, opens
        last = opens[-1]
        # the table knows the shell with its image and argv, repaired from /proc
        assert last["exe"] == sh, last
        assert last["proc"]["args"] == [sh, "-c", script], last
        assert last["comm"] == os.path.basename(sh)[:15], last
        # its exec record was lost, and the probe counted that loss to it: its view is
        # marked possibly stale within the degraded window
        if not exec_seen:
            assert last.get("view_degraded") is True, last
    # the repair was needed: the loss took some of the markers' exec records
    assert execs_seen < len(markers), "no exec record was lost: nothing to repair"
