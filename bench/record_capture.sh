#!/usr/bin/env bash
# Records the capture `make rules-bench` replays (docs/bench.md, docs/replay.md):
# saker -w FILE with the embedded configuration while a short, bounded
# workload runs: file opens and reads, loopback TCP connects and accepts,
# execs of short-lived programs, and a few reads of /etc/shadow so rules
# fire. Root (it loads the probe). Loopback only; every process it starts
# is stopped before it returns.
#   bench/record_capture.sh [FILE]     (default build/bench/rules.cap)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-build/bench/rules.cap}
saker=${SAKER:-build/saker}
if [[ $(id -u) -ne 0 ]]; then
	echo "record_capture: must run as root (it loads BPF programs)" >&2
	exit 1
fi
mkdir -p "$(dirname "$out")"
log=$(mktemp /tmp/saker-record-XXXXXX.log)
"$saker" -w "$out" -o log_level=info >/dev/null 2>"$log" &
pid=$!
stop() {
	kill -TERM "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}
trap stop EXIT
for _ in $(seq 1 600); do
	grep -q "started:" "$log" && break
	kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; exit 1; }
	sleep 0.1
done
grep -q "started:" "$log" || { cat "$log" >&2; exit 1; }

/usr/bin/python3 - <<'PY'
import os, socket, subprocess, threading
# files: opens, reads, stats and closes of ordinary files
for i in range(20000):
    with open("/etc/hosts") as f:
        f.read()
    os.stat("/etc/passwd")
# loopback TCP: a server thread accepting, a client connecting and sending
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(64)
port = srv.getsockname()[1]
def serve(n):
    for _ in range(n):
        c, _ = srv.accept()
        c.recv(64)
        c.close()
t = threading.Thread(target=serve, args=(2000,))
t.start()
for _ in range(2000):
    c = socket.create_connection(("127.0.0.1", port))
    c.sendall(b"x" * 32)
    c.close()
t.join()
srv.close()
# execs, and a few alerts
for i in range(200):
    subprocess.run(["/bin/true"], check=True)
    if i % 50 == 0:
        subprocess.run(["/bin/sh", "-c", "cat /etc/shadow > /dev/null"], check=True)
PY
sleep 1
trap - EXIT
stop
grep -E "events seen|capture file records" "$log" || true
echo "record_capture: wrote $out ($(stat -c %s "$out") bytes)"
rm -f "$log"
