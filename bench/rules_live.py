#!/usr/bin/python3
"""Rules in a live run (issue 11's benchmark): the capture overhead and the drops
under a flood with no rules, the default ruleset and Falco's stable ruleset.

Per round and ruleset (interleaved, so load changes hit every variant alike):
  - an open+close loop (bench/sysloop openclose, pinned to CPU 1, minimum of its
    runs, CPU time of the thread) with saker running, minus the same loop measured
    without saker in that round: what a selected pair with a path costs;
  - two `openat` flood processes for 3 s against saker at its default 8 MiB rings:
    events seen and dropped (the summary), and saker's CPU time (ticks of /proc/PID/stat,
    from start to the end of the flood) per event seen in the run.
Prints one table; writes build/bench/rules_live.json. Root; loopback only; every
process it starts is stopped, even on error.

  bench/rules_live.py [ROUNDS]     (default 3)
"""
import json
import os
import re
import signal
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, "build")
SAKER = os.path.join(BUILD, "saker")
SYSLOOP = os.path.join(BUILD, "bench", "sysloop")
FLOOD = os.path.join(BUILD, "helpers", "flood")
FALCO = os.path.join(os.path.dirname(ROOT), "shared", "reference", "falco_rules.yaml")
NO_RULES = os.path.join(ROOT, "tests", "e2e", "no_rules.yaml")
TICK = os.sysconf("SC_CLK_TCK")


def variants():
    v = [("no rules", ["-r", NO_RULES]), ("default rules", [])]
    if os.path.isfile(FALCO):
        v.append(("Falco stable", ["-r", FALCO]))
    else:
        print("rules_live: %s absent: Falco's ruleset skipped" % FALCO)
    return v


def loop_ns():
    out = subprocess.run(["taskset", "-c", "1", SYSLOOP, "200000", "5", "openclose"],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    for line in out.splitlines():
        if line.startswith("cpu_ns"):
            return min(float(x) for x in line.split()[1:])
    raise RuntimeError("sysloop printed no cpu_ns: " + out)


def cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        rest = f.read().rsplit(")", 1)[1].split()
    return (int(rest[11]) + int(rest[12])) / TICK


class Saker:
    def __init__(self, args):
        self.p = subprocess.Popen([SAKER] + args, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, text=True)
        self.err = []
        deadline = time.monotonic() + 60
        for line in self.p.stderr:
            self.err.append(line)
            if " started: " in line:
                return
            if time.monotonic() > deadline:
                break
        self.stop()
        raise RuntimeError("saker did not start:\n" + "".join(self.err))

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
        try:
            rest = self.p.communicate(timeout=60)[1]
        except subprocess.TimeoutExpired:
            self.p.kill()
            rest = self.p.communicate()[1]
        self.err.append(rest or "")
        return "".join(self.err)


def summary(text):
    vals = {}
    for k in ("events seen", "events dropped"):
        m = re.search(r"^\s+%s: (\d+)" % k, text, re.M)
        vals[k] = int(m.group(1)) if m else None
    return vals


def one(args):
    s = Saker(args)
    try:
        # CPU from here on: the loop's events and the flood's, as "events seen" counts them
        c0 = cpu_s(s.p.pid)
        pair = loop_ns()
        fl = [subprocess.Popen([FLOOD, "openat", "4000000000", "3"], stdout=subprocess.DEVNULL)
              for _ in range(2)]
        for p in fl:
            p.wait(timeout=60)
        time.sleep(0.5)
        c1 = cpu_s(s.p.pid)
    finally:
        text = s.stop()
    st = summary(text)
    return {"pair_ns": pair, "cpu_s": c1 - c0, **st}


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    if os.geteuid() != 0:
        sys.exit("rules_live: must run as root (it loads BPF programs)")
    for p in (SAKER, SYSLOOP, FLOOD):
        if not os.access(p, os.X_OK):
            sys.exit("rules_live: %s missing (make all tests-helpers; make -C bench)" % p)
    vs = variants()
    res = {name: [] for name, _ in vs}
    base = []
    for r in range(rounds):
        base.append(loop_ns())
        for name, args in vs:
            d = one(args)
            d["added_ns"] = d["pair_ns"] - base[-1]
            res[name].append(d)
            print("round %d %-14s open+close +%.0f ns, seen %s, dropped %s, saker %.2f s CPU"
                  % (r + 1, name, d["added_ns"], d["events seen"], d["events dropped"],
                     d["cpu_s"]), flush=True)
    print("\n| ruleset | open+close added ns, median [min-max] | dropped / seen under 2 "
          "openat floods | saker CPU ns per event seen |")
    print("|---|---|---|---|")
    for name, _ in vs:
        rs = res[name]
        added = sorted(d["added_ns"] for d in rs)
        drop = ", ".join("%.2f %%" % (100.0 * d["events dropped"] / max(1, d["events seen"]))
                         for d in rs)
        per = sorted(1e9 * d["cpu_s"] / max(1, d["events seen"]) for d in rs)
        print("| %s | +%.0f [+%.0f..+%.0f] | %s | %.0f [%.0f-%.0f] |" % (
            name, added[len(added) // 2], added[0], added[-1], drop, per[len(per) // 2],
            per[0], per[-1]))
    os.makedirs(os.path.join(BUILD, "bench"), exist_ok=True)
    with open(os.path.join(BUILD, "bench", "rules_live.json"), "w") as f:
        json.dump({"baseline_pair_ns": base, "runs": res}, f, indent=1)


if __name__ == "__main__":
    main()
