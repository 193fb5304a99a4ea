"""saker fleet: the fleet's coverage read back from NATS JetStream (docs/fleet.md).
A real nats-server on a random loopback port with a private store, always stopped;
saker fleet runs as uid 65534 (no privileges, no probe)."""
import json
import os
import signal
import subprocess
import time

import pytest

from conftest import HELPERS, SAKER, public_copy, summary
from natsutil import Client, Cluster, stream_messages

NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
SEC = 1_000_000_000


@pytest.fixture
def nats():
    cluster = Cluster()
    client = None
    try:
        server = cluster.start().servers[0]
        client = Client(server.url, timeout=10.0)
        client.create_stream("SAKER", ["saker.>"])
        yield server, client
    finally:
        if client:
            client.close()
        cluster.stop()


def coverage(host, seq, end_ns, seen, lost, critical=0, top=None, run="run-1", healthy=True):
    """A coverage record as saker publishes it (the fields saker fleet reads)."""
    return {
        "type": "coverage", "version": 1, "host": host, "run_id": run, "seq": seq,
        "start_real_ns": end_ns - SEC, "end_real_ns": end_ns, "window_s": 1,
        "seen": seen, "delivered": seen - lost, "lost": lost,
        "lost_by_cause": {"ring_full": lost}, "lost_by_lane": {"normal": lost - critical,
                                                               "critical": critical},
        "demoted": 0, "attribution": "kernel", "processes": 1, "top": top or [],
        "health": {"healthy": healthy, "problem": "" if healthy else "capture blind"},
    }


def fleet(server, *args, timeout=60):
    """saker fleet as uid 65534; the completed process."""
    return subprocess.run(NOBODY + [public_copy(SAKER), "fleet", "--servers", server.url] +
                          list(args), capture_output=True, text=True, timeout=timeout)


def rows(out):
    doc = json.loads(out)
    return {h["host"]: h for h in doc["hosts"]}


def test_fleet_reads_hosts_counts_and_silence(nats):
    server, c = nats
    now = time.time_ns()
    flood = [{"pid": 4242, "comm": "flood", "exe": "/usr/bin/flood", "uid": 0,
              "received": 10, "produced": 30, "lost": 20, "demoted": 0}]
    # web-1: five windows up to now, 80 of 5000 events lost, 3 in the protected lane
    for i in range(5):
        lost = 20 if i % 2 == 0 else 10
        c.publish("saker.web-1.coverage",
                  coverage("web-1", i + 1, now - (4 - i) * SEC, 1000, lost,
                           critical=1 if i < 3 else 0, top=flood))
    for _ in range(3):
        c.publish("saker.web-1.alerts", {"rule": "r", "output": "x"})
    # db-2: its last record 40 s ago, none since: silent
    c.publish("saker.db-2.coverage", coverage("db-2", 7, now - 40 * SEC, 500, 0))
    # old-3: its last record two hours ago, older than the window: a silent row still
    c.publish("saker.old-3.coverage", coverage("old-3", 1, now - 7200 * SEC, 9, 0))

    p = fleet(server, "--json", "--stale", "10s", "--since", "15m")
    assert p.returncode == 0, p.stderr
    r = rows(p.stdout)
    assert set(r) == {"web-1", "db-2", "old-3"}
    w = r["web-1"]
    assert (w["state"], w["silent"], w["windows"], w["seen"], w["lost"], w["lost_critical"],
            w["alerts"], w["last_seq"], w["missing"]) == ("ok", False, 5, 5000, 80, 3, 3, 5, 0)
    assert w["coverage_pct"] == pytest.approx(98.4)
    assert w["top_flooder"] == {"pid": 4242, "comm": "flood", "exe": "/usr/bin/flood",
                                "lost": 100}
    assert r["db-2"]["silent"] and r["db-2"]["state"] == "silent"
    assert r["db-2"]["seen"] == 500 and r["db-2"]["last_seen_age_s"] >= 40
    assert r["old-3"]["silent"] and r["old-3"]["windows"] == 0
    assert r["old-3"]["last_seen_age_s"] >= 7200

    # the table says the same
    p = fleet(server, "--stale", "10s", "--since", "15m")
    assert p.returncode == 0, p.stderr
    lines = {l.split()[0]: l for l in p.stdout.splitlines()[1:-1]}
    assert lines["web-1"].split()[1] == "ok" and "98.40%" in lines["web-1"]
    assert "flood(4242) 100" in lines["web-1"]
    assert lines["db-2"].split()[1] == "silent"
    assert p.stdout.splitlines()[-1].startswith("3 host(s), 2 silent")


def test_fleet_watch_sees_new_records_and_stops_on_sigterm(nats):
    server, c = nats
    c.publish("saker.a.coverage", coverage("a", 1, time.time_ns(), 100, 0))
    proc = subprocess.Popen(NOBODY + [public_copy(SAKER), "fleet", "--servers", server.url,
                                      "--json", "--watch", "--stale", "30s"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = json.loads(proc.stdout.readline())
        assert [h["host"] for h in first["hosts"]] == ["a"]
        # a second host appears as its own row at a later refresh
        c.publish("saker.b.coverage", coverage("b", 1, time.time_ns(), 50, 5))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            r = rows(proc.stdout.readline())
            if "b" in r:
                break
        assert r["b"]["lost"] == 5 and r["a"]["seen"] == 100
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_fleet_errors_are_clear(nats):
    server, _ = nats
    p = fleet(server, "--stream", "NOPE")
    assert p.returncode == 1
    assert "stream NOPE" in p.stderr
    p = subprocess.run(NOBODY + [public_copy(SAKER), "fleet", "--servers",
                                 "nats://127.0.0.1:1", "--timeout", "2s"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 1 and "cannot connect to NATS" in p.stderr
    p = fleet(server, "--since", "soon")
    assert p.returncode == 1 and "--since" in p.stderr


def stream_docs(server, kind):
    """Every document published on saker.*.<kind>, in stream order: [(subject, doc)]."""
    return [(subj, json.loads(data)) for subj, data, _ in stream_messages(server.url, "SAKER")
            if subj.endswith("." + kind)]


def wait_docs(server, kind, pred, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        docs = stream_docs(server, kind)
        if pred(docs):
            return docs
        time.sleep(0.3)
    raise AssertionError("stream never held the %s documents wanted: %s" % (
        kind, [d for _, d in stream_docs(server, kind)][-3:]))


def test_saker_publishes_coverage_and_ledger_fleet_matches_summary(saker, nats, tmp_path):
    """saker with nats_output: a coverage record every window and a ledger line for each lossy
    one (simulate_drops makes every window lossy); saker fleet shows the host with the windows'
    sums, its final record's totals equal the shutdown summary; a fake second host is its own
    row; once saker stopped the host turns silent."""
    server, c = nats
    host = "fleet-e2e-%d" % os.getpid()
    s = saker("-o", "stdout_output.enabled=false", "-o", "syscall_event_drops.actions=[log]",
              "-o", "syscall_event_drops.simulate_drops=true",
              "-o", "nats_output.enabled=true", "-o", "nats_output.servers=[%s]" % server.url,
              "-o", "nats_output.spool_dir=" + str(tmp_path / "spool"),
              env={"SAKER_HOSTNAME": host})
    subj = "saker.%s.coverage" % host
    wait_docs(server, "coverage", lambda d: sum(1 for x, _ in d if x == subj) >= 4)
    c.publish("saker.other-host.coverage", coverage("other-host", 1, time.time_ns(), 700, 7))

    p = fleet(server, "--json", "--stale", "30s")
    assert p.returncode == 0, p.stderr
    r = rows(p.stdout)
    assert set(r) == {host, "other-host"}
    assert r[host]["state"] == "ok" and r[host]["windows"] >= 4 and r[host]["seen"] > 0
    assert not r[host]["stopped"]
    assert (r["other-host"]["seen"], r["other-host"]["lost"]) == (700, 7)

    assert s.stop() == 0
    summ = summary(s.lines())
    docs = wait_docs(server, "coverage",
                     lambda d: any(x == subj and doc.get("final") for x, doc in d))
    mine = [doc for x, doc in docs if x == subj]
    # one run, every window once, in order, the last one final
    assert [d["seq"] for d in mine] == list(range(1, len(mine) + 1))
    assert len({d["run_id"] for d in mine}) == 1
    assert [d["final"] for d in mine] == [False] * (len(mine) - 1) + [True]
    # windows abut: each record's totals are the previous one's plus its window
    for a, b in zip(mine, mine[1:]):
        assert b["start_real_ns"] == a["end_real_ns"]
        assert b["totals"]["seen"] == a["totals"]["seen"] + b["seen"]
        assert b["totals"]["delivered"] == a["totals"]["delivered"] + b["delivered"]
        assert b["totals"]["lost"] == a["totals"]["lost"] + b["lost"] - b["simulated"]
    fin = mine[-1]["totals"]
    assert (fin["seen"], fin["delivered"], fin["lost"]) == (
        summ["events seen"], summ["events delivered"], summ["events dropped"])
    assert fin["simulated"] == sum(d["simulated"] for d in mine) == len(mine) - 1

    # a ledger line on .ledger for every window that has one, the same window
    ledger = [doc for x, doc in wait_docs(
        server, "ledger",
        lambda d: sum(1 for x, _ in d if x == "saker.%s.ledger" % host) >=
        sum(1 for m in mine if m["ledger_line"]))
        if x == "saker.%s.ledger" % host]
    lossy = [m for m in mine if m["ledger_line"]]
    assert len(lossy) >= len(mine) - 1
    assert [(l["type"], l["start_boot_ns"], l["seen"], l["lost"]) for l in ledger] == [
        ("loss", m["start_boot_ns"], m["seen"], m["lost"]) for m in lossy]

    p = fleet(server, "--json", "--stale", "30s")
    w = rows(p.stdout)[host]
    assert w["stopped"] and w["last_seq"] == len(mine)
    assert w["run_totals"] == {k: fin[k] for k in ("seen", "delivered", "lost")}
    assert w["windows"] == len(mine)
    assert w["seen"] == sum(d["seen"] for d in mine)
    assert w["lost"] == sum(d["lost"] for d in mine)
    # stopped: silent once the staleness passed
    time.sleep(2.5)
    p = fleet(server, "--json", "--stale", "2s")
    w = rows(p.stdout)[host]
    assert w["silent"] and w["state"] == "silent"


def test_fleet_names_the_flooder_of_a_real_loss(saker, nats, tmp_path):
    """A flood that loses events (saker stopped for a second while it runs): the host's
    coverage records count the loss by cause and lane, name the flooder in top, and
    saker fleet shows coverage below 100 % and the flooder."""
    server, _ = nats
    host = "fleet-flood-%d" % os.getpid()
    s = saker("-o", "stdout_output.enabled=false", "-o", "syscall_event_drops.actions=[log]",
              "-o", "engine.modern_ebpf.buf_size=1048576",
              "-o", "nats_output.enabled=true", "-o", "nats_output.servers=[%s]" % server.url,
              "-o", "nats_output.spool_dir=" + str(tmp_path / "spool"),
              env={"SAKER_HOSTNAME": host})
    procs = [subprocess.Popen([os.path.join(HELPERS, "flood"), "close", "4000000000", "4"],
                              stdout=subprocess.DEVNULL) for _ in range(2)]
    try:
        time.sleep(0.5)
        os.kill(s.proc.pid, signal.SIGSTOP)
        try:
            time.sleep(1.0)
        finally:
            os.kill(s.proc.pid, signal.SIGCONT)
    finally:
        for p in procs:
            assert p.wait(timeout=60) == 0
    assert s.stop() == 0
    summ = summary(s.lines())
    assert summ["events dropped"] > 0, summ
    subj = "saker.%s.coverage" % host
    docs = wait_docs(server, "coverage",
                     lambda d: any(x == subj and doc.get("final") for x, doc in d))
    mine = [doc for x, doc in docs if x == subj]
    lossy = [d for d in mine if d["lost"]]
    assert lossy
    for d in mine:
        assert d["lost"] == sum(d["lost_by_cause"].values())
        assert d["lost_by_cause"]["ring_full"] == sum(d["lost_by_lane"].values())
    assert sum(d["lost"] for d in mine) == summ["events dropped"] - (
        mine[0]["totals"]["lost"] - mine[0]["lost"])
    named = [t for d in lossy for t in d["top"] if t.get("lost")]
    assert any(t["comm"] == "flood" for t in named), named[:6]

    p = fleet(server, "--json", "--stale", "30s")
    assert p.returncode == 0, p.stderr
    w = rows(p.stdout)[host]
    assert w["lost"] == sum(d["lost"] for d in mine) > 0
    assert w["coverage_pct"] < 100
    assert w["top_flooder"] and w["top_flooder"]["lost"] > 0
    print("flood: %d windows, seen %d, lost %d (%.2f %% coverage), top flooder %s" % (
        w["windows"], w["seen"], w["lost"], w["coverage_pct"], w["top_flooder"]))
