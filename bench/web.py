#!/usr/bin/env python3
"""What serving /metrics costs under a flood (issue 10's benchmark).

saker runs with the web server on 127.0.0.1 (1 MiB ring, simulate_drops with
the log action and no rate limit, so every drop check writes one line whose
arrival the benchmark times). A close(-1) flood saturates it for SECONDS.
Variants, interleaved over ROUNDS rounds:
  off     web server disabled
  idle    web server on, nobody scrapes
  scrape  /metrics fetched every second (a Prometheus at 1 s)
  storm   /metrics fetched as fast as one client can (worst case)
Per run: the flood's call rate, events seen per second and the share
dropped (from saker's summary), saker's CPU seconds, the largest gap between
two drop checks, and scrapes answered. Figures are medians over rounds.
Usage: flock /tmp/saker-e2e.lock python3 bench/web.py  (root; writes build/bench/web.txt)
"""
import http.client
import os
import re
import signal
import statistics
import subprocess
import sys
import threading
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
SAKER = os.path.join(ROOT, "build", "saker")
FLOOD = os.path.join(ROOT, "build", "helpers", "flood")
OUT = os.path.join(ROOT, "build", "bench", "web.txt")
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "6"))
PORT = int(os.environ.get("BENCH_WEB_PORT", "18799"))

BASE = [SAKER, "-o", "engine.modern_ebpf.buf_size=1048576",
        "-o", "syscall_event_drops.simulate_drops=true",
        "-o", "syscall_event_drops.actions=[log]",
        "-o", "syscall_event_drops.rate=1000", "-o", "syscall_event_drops.max_burst=1000"]
WEB = ["-o", "webserver.enabled=true", "-o", "webserver.listen_port=%d" % PORT,
       "-o", "webserver.prometheus_metrics_enabled=true"]
VARIANTS = {"off": (False, None), "idle": (True, None), "scrape": (True, 1.0),
            "storm": (True, 0.0)}
CHECK_RX = re.compile(r"syscall event drop\. \d+ system calls dropped")


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def scraper(period, stop, count):
    while not stop.is_set():
        try:
            c = http.client.HTTPConnection("127.0.0.1", PORT, timeout=5)
            c.request("GET", "/metrics")
            r = c.getresponse()
            r.read()
            c.close()
            if r.status == 200:
                count[0] += 1
        except (OSError, http.client.HTTPException):
            pass
        if period:
            stop.wait(period)


def run(name):
    web, period = VARIANTS[name]
    p = subprocess.Popen(BASE + (WEB if web else []), stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True)
    times, lines = [], []

    def pump():
        for line in p.stderr:
            lines.append(line)
            if CHECK_RX.search(line):
                times.append(time.monotonic())

    t = threading.Thread(target=pump, daemon=True)
    t.start()
    stop, count, sc = threading.Event(), [0], None
    try:
        deadline = time.monotonic() + 30
        while not any("started" in l for l in lines):
            assert time.monotonic() < deadline and p.poll() is None, "".join(lines)
            time.sleep(0.05)
        time.sleep(1.0)
        if period is not None:
            sc = threading.Thread(target=scraper, args=(period, stop, count), daemon=True)
            sc.start()
        cpu0, t0 = cpu_seconds(p.pid), time.monotonic()
        f = subprocess.run([FLOOD, "close", "2000000000", str(SECONDS)], capture_output=True,
                           text=True, timeout=SECONDS + 30)
        t1, cpu1 = time.monotonic(), cpu_seconds(p.pid)
        calls = int(f.stdout.strip())
        during = [x for x in times if t0 <= x <= t1 + 0.5]
    finally:
        stop.set()
        if sc:
            sc.join(timeout=10)
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        t.join(timeout=5)
    summ = {}
    for l in lines:
        m = re.match(r"\s+([a-z ,]+): (\d+)$", l.rstrip("\n"))
        if m:
            summ[m.group(1)] = int(m.group(2))
    gaps = [b - a for a, b in zip(during, during[1:])]
    seen = summ.get("events seen", 0)
    return {
        "calls_per_s": calls / (t1 - t0),
        "drop_share": summ.get("events dropped", 0) / seen if seen else 0.0,
        "cpu_s": cpu1 - cpu0,
        "max_gap_s": max(gaps) if gaps else float("nan"),
        "checks": len(during),
        "scrapes": count[0],
    }


def main():
    if os.geteuid() != 0:
        sys.exit("bench/web.py: must run as root")
    res = {v: [] for v in VARIANTS}
    names = list(VARIANTS)
    for r in range(ROUNDS):
        for v in names[r % len(names):] + names[:r % len(names)]:
            res[v].append(run(v))
    out = ["web server cost under a close(-1) flood, 1 MiB ring, %d rounds of %.0f s (medians)"
           % (ROUNDS, SECONDS),
           "%-7s %14s %10s %12s %12s %8s %8s" % ("variant", "flood calls/s", "dropped",
                                              "saker CPU s", "max gap s", "checks", "scrapes")]
    for v in names:
        med = lambda k: statistics.median(x[k] for x in res[v])
        out.append("%-7s %14.0f %9.1f%% %12.2f %12.2f %8.0f %8.0f" % (
            v, med("calls_per_s"), 100 * med("drop_share"), med("cpu_s"), med("max_gap_s"),
            med("checks"), med("scrapes")))
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        f.write("\n".join(out) + "\n")
    print("\n".join(out))


if __name__ == "__main__":
    main()
