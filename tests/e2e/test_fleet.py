"""saker fleet: the fleet's coverage read back from NATS JetStream (docs/fleet.md).
A real nats-server on a random loopback port with a private store, always stopped;
saker fleet runs as uid 65534 (no privileges, no probe)."""
import json
import os
import signal
import subprocess
import time

import pytest

from conftest import SAKER, public_copy
from natslite import Client, NatsServer

NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
SEC = 1_000_000_000


@pytest.fixture
def nats():
    server = NatsServer()
    client = None
    try:
        client = Client(server.port)
        client.create_stream("SAKER", ["saker.>"])
        yield server, client
    finally:
        if client:
            client.close()
        server.stop()


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
