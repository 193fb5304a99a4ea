#!/usr/bin/env python3
"""saker benchmark (make bench). One run measures, against a baseline taken in
the same run, on a shared and noisy machine:

 1. the per-syscall cost of a getppid loop pinned to one CPU with nothing
    attached, with the two floor programs (bench/floor.bpf.c) and with saker
    (default syscall set: getppid is outside it; and base_syscalls.all);
 2. the highest getppid event rate saker drains without drops, at 1 MiB and
    8 MiB ring buffers;
 3. saker's peak RSS (VmHWM) at both sizes.

Variants are interleaved in rounds (rotated order), each round has its own
baseline, and figures are medians over rounds with their spread. Every
process started here is stopped on exit, and the run ends by checking that
none of the BPF programs it loaded is still loaded. See docs/bench.md.
"""
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
BUILD = os.path.join(ROOT, "build")
OUT = os.path.join(BUILD, "bench")
LOGS = os.path.join(OUT, "logs")
SAKER = os.path.join(BUILD, "saker")
FLOOR = os.path.join(OUT, "floor")
SYSLOOP = os.path.join(OUT, "sysloop")
RATEGEN = os.path.join(OUT, "rategen")

# The loop and the generator own CPU 1; saker and the floor driver run on CPU 0.
CPU_LOOP = os.environ.get("BENCH_CPU_LOOP", "1")
CPU_AUX = os.environ.get("BENCH_CPU_AUX", "0")
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "11"))
LOOP_CALLS = int(os.environ.get("BENCH_LOOP_CALLS", "300000"))
LOOP_REPS = int(os.environ.get("BENCH_LOOP_REPS", "5"))
# "openclose": the loop times open+close pairs of /dev/null instead of getppid calls.
LOOP_SYSCALL = os.environ.get("BENCH_LOOP_SYSCALL", "getppid")
RATE_SECONDS = float(os.environ.get("BENCH_RATE_SECONDS", "2"))
# Everything measured must end within this many seconds (make bench: ~10 min).
BUDGET = float(os.environ.get("BENCH_BUDGET", "480"))
# Waiting for other users' BPF programs to go away, in total.
QUIET_BUDGET = float(os.environ.get("BENCH_QUIET_BUDGET", "90"))

# Program types that can hook syscalls: another one loaded changes the baseline.
HOOK_TYPES = {"tracing", "raw_tracepoint", "tracepoint", "kprobe", "perf_event"}

VARIANTS = [
    # name, command (None: nothing attached), ready pattern, ready stream, label
    ("base", None, None, None, "nothing attached"),
    ("floor_empty", [FLOOR, "empty"], r"^attached", "out", "floor 1: empty tp_btf/sys_exit"),
    ("floor_ring", [FLOOR, "ring"], r"^attached", "out",
     "floor 2: 32-byte ringbuf record per syscall"),
    ("floor_ring_wakeup", [FLOOR, "ring-wakeup"], r"^attached", "out",
     "(info) floor 2 with adaptive wakeup"),
    ("saker_default", [SAKER], r"saker .* started", "err",
     "saker, default set (getppid not selected)"),
    ("saker_all", [SAKER, "-o", "base_syscalls.all=true"], r"saker .* started", "err",
     "saker, base_syscalls.all=true"),
]

# A second saker binary (BENCH_SAKER_B, e.g. a build of the previous commit) measured in
# the same rounds: before/after figures that share baselines.
SAKER_B = os.environ.get("BENCH_SAKER_B")
if SAKER_B:
    VARIANTS += [
        ("saker_b_default", [SAKER_B], r"saker .* started", "err", "saker B, default set"),
        ("saker_b_all", [SAKER_B, "-o", "base_syscalls.all=true"], r"saker .* started", "err",
         "saker B, base_syscalls.all=true"),
    ]
# BENCH_RATE=0 skips the drain-rate phase.
RATE_ON = os.environ.get("BENCH_RATE", "1") != "0"


class BenchError(Exception):
    pass


class Proc:
    """A background process with stdout and stderr in log files."""

    def __init__(self, name, argv, cpu=None):
        os.makedirs(LOGS, exist_ok=True)
        self.name = name
        self.out_path = os.path.join(LOGS, name + ".out")
        self.err_path = os.path.join(LOGS, name + ".err")
        self.argv = (["taskset", "-c", cpu] if cpu is not None else []) + list(argv)
        with open(self.out_path, "w") as o, open(self.err_path, "w") as e:
            self.p = subprocess.Popen(self.argv, stdout=o, stderr=e, stdin=subprocess.DEVNULL)
        self.pid = self.p.pid
        self.prog_ids = set()

    def text(self, which):
        with open(self.out_path if which == "out" else self.err_path, errors="replace") as f:
            return f.read()

    def wait_ready(self, pattern, which, timeout=30.0):
        rx = re.compile(pattern, re.M)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if rx.search(self.text(which)):
                self.prog_ids |= prog_ids_of(self.pid)
                return
            if self.p.poll() is not None:
                break
            time.sleep(0.02)
        raise BenchError("%s not ready (rc=%s):\n%s" % (
            " ".join(self.argv), self.p.poll(), self.text("err")[-2000:]))

    def vm_hwm_kib(self):
        try:
            with open("/proc/%d/status" % self.pid) as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1])
        except OSError:
            pass
        return None

    def cpu_ns(self):
        """CPU time used so far by all threads (schedstat), or None."""
        total = 0
        try:
            for tid in os.listdir("/proc/%d/task" % self.pid):
                with open("/proc/%d/task/%s/schedstat" % (self.pid, tid)) as f:
                    total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        return total

    def stop(self, timeout=20.0):
        """SIGTERM, then SIGKILL if it does not end; returns the exit status."""
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(5)
        return self.p.returncode


STARTED = []  # every Proc, so that cleanup can stop whatever is left
MY_PROG_IDS = set()


def start(name, argv, cpu):
    p = Proc(name, argv, cpu)
    STARTED.append(p)
    return p


def cleanup():
    for p in STARTED:
        if p.p.poll() is None:
            p.stop(timeout=10.0)


def prog_ids_of(pid):
    """BPF program ids held by a process (from its fds' fdinfo)."""
    ids = set()
    fd_dir = "/proc/%d/fdinfo" % pid
    try:
        for fd in os.listdir(fd_dir):
            try:
                with open(os.path.join(fd_dir, fd)) as f:
                    for line in f:
                        if line.startswith("prog_id:"):
                            ids.add(int(line.split()[1]))
            except OSError:
                pass
    except OSError:
        pass
    MY_PROG_IDS.update(ids)
    return ids


def hook_progs():
    """Loaded BPF programs of a type that can hook syscalls: {id: name}."""
    r = subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, text=True,
                       timeout=30)
    if r.returncode != 0:
        raise BenchError("bpftool prog show failed: " + r.stderr.strip())
    return {p["id"]: p.get("name", "?") for p in json.loads(r.stdout or "[]")
            if p.get("type") in HOOK_TYPES}


def foreign_progs():
    return {i: n for i, n in hook_progs().items() if i not in MY_PROG_IDS}


class Clock:
    def __init__(self):
        self.t0 = time.monotonic()
        self.quiet_spent = 0.0

    def left(self):
        return BUDGET - (time.monotonic() - self.t0)


def wait_quiet(clock, max_wait=30.0):
    """Waits (bounded) until no other user's hook program is loaded."""
    t0 = time.monotonic()
    while True:
        f = foreign_progs()
        spent = time.monotonic() - t0
        if not f or spent >= max_wait or clock.quiet_spent + spent >= QUIET_BUDGET:
            clock.quiet_spent += spent
            return f
        time.sleep(0.5)


def run_checked(argv, timeout):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise BenchError("%s failed (rc=%d): %s" % (" ".join(argv), r.returncode,
                                                      r.stderr.strip()))
    return r.stdout


def sysloop():
    argv = ["taskset", "-c", CPU_LOOP, SYSLOOP, str(LOOP_CALLS), str(LOOP_REPS)]
    if LOOP_SYSCALL == "openclose":
        argv.append("openclose")
    out = run_checked(argv, timeout=120)
    vals = {}
    for line in out.splitlines():
        parts = line.split()
        if parts and parts[0] in ("cpu_ns", "wall_ns"):
            vals[parts[0]] = [float(x) for x in parts[1:]]
    if "cpu_ns" not in vals or "wall_ns" not in vals:
        raise BenchError("sysloop printed nothing usable: " + out)
    return vals


SUMMARY_RX = {
    "seen": re.compile(r"^\s*events seen: (\d+)", re.M),
    "delivered": re.compile(r"^\s*events delivered: (\d+)", re.M),
    "dropped": re.compile(r"^\s*events dropped: (\d+)", re.M),
}
DROP_LOG_RX = re.compile(r"syscall event drop\. (\d+) system calls dropped")


def saker_summary(p):
    err = p.text("err")
    s = {}
    for k, rx in SUMMARY_RX.items():
        m = rx.search(err)
        s[k] = int(m.group(1)) if m else None
    s["drop_log_lines"] = len(DROP_LOG_RX.findall(err))
    s["exact"] = "accounting: exact" in err
    return s


# ---- 1. per-syscall overhead ----------------------------------------------


def measure_variant(variant, rnd, clock):
    name, argv, ready, stream, _ = variant
    p = None
    res = {"round": rnd}
    if argv:
        p = start("%s.r%d" % (name, rnd), argv, CPU_AUX)
        p.wait_ready(ready, stream)
        time.sleep(0.2)  # let saker's start-up work (the /proc scan) settle
    before = foreign_progs()
    try:
        v = sysloop()
    finally:
        after = foreign_progs()
        if p:
            if name.startswith("saker"):
                res["vm_hwm_kib"] = p.vm_hwm_kib()
            rc = p.stop()
            res["rc"] = rc
            if rc != 0:
                raise BenchError("%s exited with %s:\n%s" % (p.name, rc, p.text("err")[-2000:]))
            if name.startswith("saker"):
                res["summary"] = saker_summary(p)
            else:
                m = re.search(r"records (\d+) ring_full (\d+)", p.text("err"))
                res["floor"] = {"records": int(m.group(1)), "ring_full": int(m.group(2))} \
                    if m else None
    res["cpu_ns"] = min(v["cpu_ns"])
    res["wall_ns"] = min(v["wall_ns"])
    res["cpu_runs"] = v["cpu_ns"]
    res["foreign"] = sorted(set(before.values()) | set(after.values()))
    return res


def spread(xs):
    xs = [x for x in xs if x is not None]
    if not xs:
        return None
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "n": len(xs)}


def overhead_phase(clock, log):
    rounds = []
    for r in range(ROUNDS):
        if clock.left() < 200 and r >= 3:
            log("overhead: stopping after %d rounds to stay within the time budget" % r)
            break
        f = wait_quiet(clock)
        if f:
            log("overhead: other hook programs loaded (%s); measuring anyway, round flagged"
                % ", ".join(sorted(set(f.values()))))
        # base, v1, base, v2, ..., base: each variant is judged against the mean of
        # the two baselines around it, which cancels slow drift of the machine.
        attached = VARIANTS[1:]
        k = r % len(attached)
        order = attached[k:] + attached[:k]
        res = {}
        bases = [measure_variant(VARIANTS[0], r, clock)]
        for v in order:
            res[v[0]] = measure_variant(v, r, clock)
            bases.append(measure_variant(VARIANTS[0], r, clock))
            res[v[0]]["added"] = res[v[0]]["cpu_ns"] - (bases[-2]["cpu_ns"] +
                                                        bases[-1]["cpu_ns"]) / 2
        res["base"] = {"cpu_ns": statistics.median(b["cpu_ns"] for b in bases),
                       "wall_ns": statistics.median(b["wall_ns"] for b in bases),
                       "runs": bases,
                       "foreign": sorted(set(x for b in bases for x in b["foreign"]))}
        res["clean"] = not any(res[v[0]]["foreign"] for v in VARIANTS)
        rounds.append(res)
        log("overhead round %d%s: %s" % (
            r + 1, "" if res["clean"] else " (other hooks loaded)",
            "  ".join("%s %.0f" % (v[0], res[v[0]]["cpu_ns"]) for v in VARIANTS)))
    clean = [r for r in rounds if r["clean"]]
    used = clean if len(clean) >= 3 else rounds
    out = {"rounds_total": len(rounds), "rounds_clean": len(clean), "rounds_used": len(used),
           "used_only_clean": used is clean, "loop_calls": LOOP_CALLS, "loop_reps": LOOP_REPS,
           "variants": {}, "raw": rounds}
    for name, _, _, _, label in VARIANTS:
        cpu = [r[name]["cpu_ns"] for r in used]
        wall = [r[name]["wall_ns"] for r in used]
        added = [r[name].get("added") for r in used]
        out["variants"][name] = {"label": label, "ns_per_call": spread(cpu),
                                 "wall_ns_per_call": spread(wall),
                                 "added_ns": spread(added) if name != "base" else None}
    hwm = [r["saker_all"].get("vm_hwm_kib") for r in used] + \
          [r["saker_default"].get("vm_hwm_kib") for r in used]
    out["saker_vm_hwm_kib_8mib"] = max([h for h in hwm if h] or [0]) or None
    out["saker_all_drops"] = sum((r["saker_all"]["summary"]["dropped"] or 0) for r in used)
    out["saker_all_seen"] = sum((r["saker_all"]["summary"]["seen"] or 0) for r in used)
    out["floor_ring_full"] = sum((r[v]["floor"] or {}).get("ring_full", 0) for r in used
                                 for v in ("floor_ring", "floor_ring_wakeup"))

    def ratio(num, den):
        per_round = []
        for r in used:
            if r[den]["added"] > 0:
                per_round.append(r[num]["added"] / r[den]["added"])
        n = out["variants"][num]["added_ns"]["median"]
        d = out["variants"][den]["added_ns"]["median"]
        return {"ratio_of_medians": n / d if d > 0 else None, "per_round": spread(per_round)}

    out["ratios"] = {
        "default_vs_empty_hook": dict(ratio("saker_default", "floor_empty"), target=1.05),
        "all_vs_ring_floor": dict(ratio("saker_all", "floor_ring"), target=0.8),
        "all_vs_ring_wakeup_floor": dict(ratio("saker_all", "floor_ring_wakeup"), target=None),
    }
    return out


# ---- 2. and 3. drain rate and peak RSS ---------------------------------------


def rate_trial(buf, rate, threads, idx):
    args = [SAKER, "-o", "engine.modern_ebpf.buf_size=%d" % buf, "-o", "base_syscalls.all=true",
            "-o", "syscall_event_drops.actions=[log]"]
    p = start("rate.%dk.%d" % (buf >> 10, idx), args, CPU_AUX)
    gen_cpus = CPU_LOOP if threads == 1 else "%s,%s" % (CPU_LOOP, CPU_AUX)
    try:
        p.wait_ready(r"saker .* started", "err")
        time.sleep(0.3)
        cpu0 = p.cpu_ns()
        out = run_checked(["taskset", "-c", gen_cpus, RATEGEN, str(int(rate)),
                           str(RATE_SECONDS), str(threads)], timeout=RATE_SECONDS + 30)
        time.sleep(0.5)  # the drain of what is left, and one drop check
        cpu1 = p.cpu_ns()
        hwm = p.vm_hwm_kib()
    finally:
        rc = p.stop()
    if rc != 0:
        raise BenchError("%s exited with %s:\n%s" % (p.name, rc, p.text("err")[-2000:]))
    m = re.search(r"calls (\d+) seconds ([\d.]+) rate (\d+)", out)
    if not m:
        raise BenchError("rategen printed nothing usable: " + out)
    s = saker_summary(p)
    if s["dropped"] is None:
        raise BenchError("no shutdown summary from %s:\n%s" % (p.name, p.text("err")[-2000:]))
    achieved = int(m.group(3))
    # saker's own CPU time per event in the window: what its drain costs.
    ns_ev = (cpu1 - cpu0) / s["seen"] if cpu0 is not None and cpu1 and s["seen"] else None
    return {"target": int(rate), "threads": threads, "achieved": achieved,
            "saker_cpu_ns_per_event": ns_ev,
            "calls": int(m.group(1)), "seen": s["seen"], "dropped": s["dropped"],
            "drop_log_lines": s["drop_log_lines"], "vm_hwm_kib": hwm,
            "no_drops": s["dropped"] == 0 and s["drop_log_lines"] == 0,
            "saturated": achieved < 0.97 * rate}


def rate_phase(buf, clock, log, max_trials=10, bisect=3):
    """Doubles the rate from 250k/s until saker drops or the generator saturates,
    then bisects (geometrically) between the last good and the first bad rate.
    One generator thread first (on the loop CPU, saker alone on the other);
    if that thread saturates without a drop, two threads, one per CPU, so the
    second one shares saker's CPU."""
    trials, good, bad = [], None, None
    rate, threads = 250000.0, 1
    while len(trials) < max_trials and clock.left() > 20:
        t = rate_trial(buf, rate, threads, len(trials))
        trials.append(t)
        log("rate %4d KiB: %d thread(s) target %8d/s achieved %8d/s seen %9d dropped %d%s" % (
            buf >> 10, threads, t["target"], t["achieved"], t["seen"], t["dropped"],
            "  (generator saturated)" if t["saturated"] else ""))
        if t["no_drops"]:
            if good is None or t["achieved"] > good["achieved"]:
                good = t
            if t["saturated"]:
                if threads == 1 and bad is None:
                    threads, rate = 2, t["achieved"] * 2.0
                    continue
                break
            if bad is None:
                rate *= 2
                continue
        elif bad is None or t["achieved"] < bad["achieved"]:
            bad = t
        if bisect == 0:
            break
        bisect -= 1
        lo = good["achieved"] if good else 0.0
        rate = (lo * bad["achieved"]) ** 0.5 if lo else bad["achieved"] / 2.0
    return {"buf_size": buf, "trials": trials, "seconds_per_trial": RATE_SECONDS,
            "max_no_drop_rate": good["achieved"] if good else None,
            "max_no_drop_threads": good["threads"] if good else None,
            "first_drop_rate": bad["achieved"] if bad else None,
            "generator_limited": bool(good and good["saturated"] and bad is None),
            "vm_hwm_kib_max": max([t["vm_hwm_kib"] or 0 for t in trials] or [0]) or None,
            "vm_hwm_kib_at_max_rate": good["vm_hwm_kib"] if good else None,
            "saker_cpu_ns_per_event": spread([t["saker_cpu_ns_per_event"] for t in trials
                                              if t["achieved"] >= 400000])}


# ---- report ------------------------------------------------------------------


def fmt(x, f="%.0f"):
    return "-" if x is None else f % x


def report(results):
    L = []
    o = results.get("overhead")
    L.append("saker benchmark  %s  host %s  %d CPUs  kernel %s  commit %s" % (
        results["date"], results["host"], results["cpus"], results["kernel"],
        results.get("commit") or "?"))
    if o:
        L.append("")
        L.append("1. getppid loop pinned to CPU %s, ns/call = min of %d runs x %d calls "
                 "(thread CPU time), median [min-max] over %d of %d rounds%s" % (
                     CPU_LOOP, LOOP_REPS, LOOP_CALLS, o["rounds_used"], o["rounds_total"],
                     "" if o["used_only_clean"] else " (some with other users' hooks loaded)"))
        L.append("   added = variant - mean of the baselines measured just before and after it")
        L.append("   %-44s %18s %20s %10s" % ("variant", "ns/call", "added ns", "wall ns"))
        for name, _, _, _, label in VARIANTS:
            v = o["variants"][name]
            n, a, w = v["ns_per_call"], v["added_ns"], v["wall_ns_per_call"]
            L.append("   %-44s %6s [%4s-%4s] %20s %10s" % (
                label, fmt(n["median"]), fmt(n["min"]), fmt(n["max"]),
                "-" if a is None else "%+6.0f [%+.0f..%+.0f]" % (a["median"], a["min"],
                                                                  a["max"]),
                fmt(w["median"])))
        for key, label in (("default_vs_empty_hook", "saker default / empty hook (added)"),
                           ("all_vs_ring_floor", "saker all / ringbuf floor (added)"),
                           ("all_vs_ring_wakeup_floor", "(info) saker all / wakeup floor")):
            r = o["ratios"][key]
            pr = r["per_round"]
            L.append("   %-44s %6s   per round [%s-%s]%s" % (
                label, fmt(r["ratio_of_medians"], "%.2f"), fmt(pr and pr["min"], "%.2f"),
                fmt(pr and pr["max"], "%.2f"),
                "   target <= %.2f" % r["target"] if r["target"] else ""))
        L.append("   saker all during the loop: %d events seen, %d dropped (8 MiB ring); "
                 "floor 2 ring full: %d times" % (o["saker_all_seen"], o["saker_all_drops"],
                                                  o["floor_ring_full"]))
    for key in ("rate_1mib", "rate_8mib"):
        r = results.get(key)
        if not r:
            continue
        L.append("")
        L.append("2. drain rate, %d KiB ring, base_syscalls.all, saker on CPU %s, generator "
                 "thread 1 on CPU %s (thread 2 on CPU %s), %.1f s per trial" % (
                     r["buf_size"] >> 10, CPU_AUX, CPU_LOOP, CPU_AUX, r["seconds_per_trial"]))
        for t in r["trials"]:
            L.append("   %d thr target %8d/s achieved %8d/s  seen %9d  dropped %8d  "
                     "saker %4s ns/evt  VmHWM %6s KiB%s" % (
                         t["threads"], t["target"], t["achieved"], t["seen"], t["dropped"],
                         fmt(t["saker_cpu_ns_per_event"]), fmt(t["vm_hwm_kib"]),
                         "  saturated" if t["saturated"] else ""))
        c = r["saker_cpu_ns_per_event"]
        if c:
            L.append("   saker CPU per event (trials >= 400k/s): median %.0f ns [%.0f-%.0f], "
                     "i.e. ~%.1f M events/s on one dedicated CPU" % (
                         c["median"], c["min"], c["max"], 1e3 / c["median"]))
        L.append("   highest rate without drops: %s/s (%s thread(s))%s; first rate with drops: "
                 "%s/s" % (
            fmt(r["max_no_drop_rate"]), fmt(r["max_no_drop_threads"], "%d"),
            " (the generator's limit: saker kept up)" if r["generator_limited"] else "",
            fmt(r["first_drop_rate"])))
    L.append("")
    L.append("3. saker peak RSS (VmHWM): 1 MiB ring %s KiB, 8 MiB ring %s KiB "
             "(max over the drain trials)" % (
                 fmt(results.get("rate_1mib", {}).get("vm_hwm_kib_max")),
                 fmt(results.get("rate_8mib", {}).get("vm_hwm_kib_max"))))
    if o:
        L.append("   saker in the overhead rounds (8 MiB default ring): %s KiB" %
                 fmt(o["saker_vm_hwm_kib_8mib"]))
    L.append("")
    L.append("BPF programs of this run left loaded: %s" % (
        ", ".join(map(str, results.get("bpf_left", []))) or "none"))
    if results.get("error"):
        L.append("ERROR: " + results["error"])
    return "\n".join(L) + "\n"


def git_commit():
    """The commit saker was built from (with -dirty when the tree has changes)."""
    try:
        r = subprocess.run(["git", "-C", ROOT, "describe", "--always", "--dirty"],
                           capture_output=True, text=True, timeout=10)
        return r.stdout.strip() or None
    except (OSError, subprocess.TimeoutExpired):
        return None


def main():
    if os.geteuid() != 0:
        print("bench: must run as root (BPF)", file=sys.stderr)
        return 1
    for b in (SAKER, FLOOR, SYSLOOP, RATEGEN):
        if not os.access(b, os.X_OK):
            print("bench: missing %s (make bench builds it)" % b, file=sys.stderr)
            return 1
    if (os.cpu_count() or 1) < 2:
        print("bench: needs 2 CPUs (loop on one, saker on the other)", file=sys.stderr)
        return 1

    def on_term(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)

    def log(msg):
        print("bench: " + msg, flush=True)

    clock = Clock()
    results = {"date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "host": os.uname().nodename,
               "cpus": os.cpu_count(), "kernel": os.uname().release, "commit": git_commit()}
    rc = 0
    try:
        f = foreign_progs()
        if f:
            log("other users' hook programs are loaded now: %s" % ", ".join(
                "%s(%d)" % (n, i) for i, n in sorted(f.items())))
        results["overhead"] = overhead_phase(clock, log)
        for key, buf in (("rate_1mib", 1 << 20), ("rate_8mib", 8 << 20)):
            if not RATE_ON:
                continue
            if clock.left() < 30:
                log("skipping %s: time budget spent" % key)
                continue
            results[key] = rate_phase(buf, clock, log)
    except (BenchError, subprocess.TimeoutExpired) as e:
        results["error"] = str(e)
        rc = 1
    except KeyboardInterrupt:
        results["error"] = "interrupted"
        rc = 130
    finally:
        cleanup()
    # Program teardown is deferred in the kernel (RCU): give it a moment.
    left = []
    for _ in range(30):
        loaded = hook_progs()
        left = sorted(i for i in MY_PROG_IDS if i in loaded) + \
            sorted(i for i, n in loaded.items() if n.startswith("floor_"))
        if not left:
            break
        time.sleep(0.2)
    results["bpf_left"] = sorted(set(left))
    results["my_prog_ids"] = sorted(MY_PROG_IDS)
    results["elapsed_s"] = round(time.monotonic() - clock.t0, 1)
    if left:
        rc = rc or 1
    text = report(results)
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "results.txt"), "w") as f:
        f.write(text)
    with open(os.path.join(OUT, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    print()
    print(text, end="")
    print("bench: wrote %s and %s (%.0f s)" % (os.path.join(OUT, "results.txt"),
                                             os.path.join(OUT, "results.json"),
                                             results["elapsed_s"]))
    return rc


if __name__ == "__main__":
    sys.exit(main())
