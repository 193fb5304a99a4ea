#!/usr/bin/env python3
"""nats_output benchmark (docs/bench.md): a local nats-server with JetStream on a
loopback port and a private store under /tmp, build/bench/nats_bench against it
(throughput, publish-to-ack latency), then against a dead port (spool
throughput). Prints one JSON line per run; the server is always stopped."""
import json
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
from natsutil import Cluster, free_port  # noqa: E402

BIN = os.path.join(ROOT, "build", "bench", "nats_bench")
N = int(os.environ.get("NATS_BENCH_ALERTS", "50000"))
N_LAT = int(os.environ.get("NATS_BENCH_LATENCY_ALERTS", "2000"))


def run(url, mode, n):
    spool = tempfile.mkdtemp(prefix="saker-bench-spool-")
    try:
        r = subprocess.run([BIN, url, spool, mode, str(n)], capture_output=True, text=True,
                           timeout=600)
        if r.returncode != 0:
            raise SystemExit("nats_bench %s failed: %s" % (mode, r.stderr))
        return json.loads(r.stdout)
    finally:
        shutil.rmtree(spool, ignore_errors=True)


def main():
    c = Cluster(1).start()
    try:
        url = c.urls()[0]
        for mode, n in (("throughput", N), ("latency", N_LAT)):
            print(json.dumps(run(url, mode, n)), flush=True)
    finally:
        c.stop()
    print(json.dumps(run("nats://127.0.0.1:%d" % free_port(), "spool", N)), flush=True)


if __name__ == "__main__":
    main()
