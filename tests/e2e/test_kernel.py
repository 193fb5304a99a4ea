"""The probe's own accounting, read from outside: the live per-CPU counters
map (named through the object's BTF, so the test carries no copy of
saker_abi.h) and the shutdown summary."""
import json
import os
import re
import subprocess

from conftest import BUILD, flood, summary

BPF_OBJ = os.path.join(BUILD, "saker.bpf.o")


def counter_indexes():
    """enum saker_counter from the compiled object's BTF: name -> index."""
    out = subprocess.run(["bpftool", "btf", "dump", "file", BPF_OBJ], capture_output=True,
                         text=True, check=True).stdout
    m = re.search(r"ENUM 'saker_counter'[^\n]*\n((?:\t'[A-Z0-9_]+' val=\d+\n)+)", out)
    assert m, "enum saker_counter is not in the object's BTF"
    return {n: int(v) for n, v in re.findall(r"'([A-Z0-9_]+)' val=(\d+)", m.group(1))}


def map_ids(pid):
    ids = set()
    d = "/proc/%d/fdinfo" % pid
    for fd in os.listdir(d):
        try:
            with open(os.path.join(d, fd)) as f:
                for line in f:
                    if line.startswith("map_id:"):
                        ids.add(int(line.split()[1]))
        except OSError:
            continue
    return ids


def live_counters(pid):
    """The counters map of the saker with this pid, summed over CPUs."""
    for mid in sorted(map_ids(pid)):
        info = json.loads(subprocess.run(["bpftool", "map", "show", "id", str(mid), "-j"],
                                         capture_output=True, text=True, check=True).stdout)
        if info.get("name") != "counters":
            continue
        dump = json.loads(subprocess.run(["bpftool", "map", "dump", "id", str(mid), "-j"],
                                         capture_output=True, text=True, check=True).stdout)
        total = None
        for entry in dump:
            f = entry.get("formatted", entry)
            for v in f["values"]:
                val = v["value"]
                if isinstance(val, dict):
                    c = [int(x) for x in val["c"]]
                else:  # raw bytes, little-endian u64s
                    raw = bytes(int(b, 16) for b in val)
                    c = [int.from_bytes(raw[i:i + 8], "little") for i in range(0, len(raw), 8)]
                total = c if total is None else [a + b for a, b in zip(total, c)]
        return total
    raise AssertionError("saker (pid %d) holds no counters map" % pid)


def test_scratch_map_drops_counted_and_zero_in_a_normal_run(saker):
    idx = counter_indexes()
    for name in ("SAKER_CNT_EVTS", "SAKER_CNT_DROPS_SCRATCH_MAP", "SAKER_CNT_MAX"):
        assert name in idx, idx
    s = saker()
    # exec and fork (lifecycle records share the scratch slots), paths, opens
    for _ in range(20):
        subprocess.run(["/bin/true"], check=True)
    n = flood("openat", 20000, 2.0, procs=1)
    c = live_counters(s.proc.pid)
    assert len(c) == idx["SAKER_CNT_MAX"]
    assert c[idx["SAKER_CNT_EVTS"]] >= n
    # This kernel does not preempt the probe: no area is ever found in use.
    assert c[idx["SAKER_CNT_DROPS_SCRATCH_MAP"]] == 0
    assert s.stop() == 0
    st = summary(s.lines())
    assert st["events seen"] == st["events delivered"] + st["events dropped"]
    # Every loss cause the summary names adds up to the total: nothing else lost.
    assert st["events dropped"] == st["dropped, buffer full"] + st["dropped, oversized"] + \
        st["dropped, user space"]


def test_exec_paths_from_the_dentry_walk_are_whole(saker, tmp_path):
    # exe and cwd of an exec come from the probe's dentry walk: from a deep
    # directory they arrive whole, with no NUL left by a component read
    d = tmp_path
    for i in range(12):
        d = d / ("d%02d" % i)
    d.mkdir(parents=True)
    exe = d / "true"
    exe.write_bytes(open("/bin/true", "rb").read())
    exe.chmod(0o755)
    s = saker("--dump", "-o", "json_output=true")
    subprocess.run([str(exe)], cwd=str(d), check=True)
    assert s.stop() == 0
    execs = []
    for line in s.lines("out"):
        try:
            e = json.loads(line)
        except ValueError:
            continue
        if e.get("event") == "sched_process_exec":
            execs.append(e)
    want = os.path.realpath(str(exe))
    ours = [e for e in execs if e["params"].get("exe") == want]
    assert ours, [e["params"].get("exe") for e in execs][-5:]
    for e in ours:
        assert e["params"]["cwd"] == os.path.realpath(str(d))
        assert "\x00" not in e["params"]["exe"] + e["params"]["cwd"]
