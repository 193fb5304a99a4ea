#!/usr/bin/env bash
# make bench: builds the benchmark programs (bench/Makefile) and runs
# bench/bench.py, which writes build/bench/results.{txt,json}. The top-level
# Makefile has already built build/saker. See docs/bench.md.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ $(id -u) -ne 0 ]]; then
	echo "bench: must run as root (it loads BPF programs)" >&2
	exit 1
fi
make --no-print-directory -C bench

# bench.py stops everything it starts, even when interrupted; forward a
# SIGTERM or SIGINT sent to this script to it and wait for its clean-up.
pid=
forward() {
	[[ -n "$pid" ]] && kill -TERM "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	exit 130
}
trap forward INT TERM
timeout -s TERM -k 30 900 /usr/bin/python3 bench/bench.py &
pid=$!
wait "$pid"

# User-space cost per event (decode, state, dump) without the kernel: no root
# needed, one core, synthetic records (bench/replay.c).
if [[ -x build/bench/replay ]]; then
	echo "== user space per event (build/bench/replay)"
	build/bench/replay | tee build/bench/replay.txt
fi
