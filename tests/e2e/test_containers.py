"""Containers with real runtimes (containerd's daemon of our own, runc): the process
in a container is attributed to it (container.id), the same on the host says `host`.
Fixtures in containers.py."""
import json
import os
import re
import subprocess
import time

import pytest

import alertlib as A
from conftest import ROOT
import containers as C
from containers import containerd, runc  # noqa: F401 (fixtures)

RULE = "Read Sensitive Credential File"
SHADOW = {"etc/shadow": "root:*:19000:0:99999:7:::\n"}


def token():
    return A.token("skc-")


@pytest.fixture(scope="module")
def alerts():
    with A.serving(rule=RULE) as a:
        yield a


def host_says_host(alerts):
    tok = token()
    subprocess.run(["/bin/cat", "/etc/shadow", "/" + tok], capture_output=True, timeout=30)
    a = alerts.wait(tok)
    assert a["output_fields"]["container.id"] == "host", a


def test_containerd_kubepods(alerts, containerd, tmp_path):  # noqa: F811
    rootfs = C.busybox_rootfs(str(tmp_path / "rootfs"), SHADOW)
    cid, uid, tok = C.new_id(), C.pod_uid(), token()
    r = containerd.run(cid, rootfs, ["/bin/cat", "/etc/shadow", "/" + tok],
                       cgroup=C.kubepods_cgroup(cid, uid),
                       annotations=C.cri_annotations("web-1", "prod", uid, "nginx",
                                                     "docker.io/library/nginx:1.25"))
    assert "root:*" in r.stdout, (r.returncode, r.stdout, r.stderr)
    a = alerts.wait(tok)
    assert a["output_fields"]["container.id"] == cid[:12], a
    host_says_host(alerts)


def test_containerd_plain(alerts, containerd, tmp_path):  # noqa: F811
    rootfs = C.busybox_rootfs(str(tmp_path / "rootfs"), SHADOW)
    tok = token()
    r = containerd.run("web-plain", rootfs, ["/bin/cat", "/etc/shadow", "/" + tok])
    assert "root:*" in r.stdout, (r.returncode, r.stdout, r.stderr)
    a = alerts.wait(tok)
    assert a["output_fields"]["container.id"] == "web-plain", a


@pytest.mark.parametrize("shape", ["docker", "docker-scope", "crio", "crio-pod", "podman"])
def test_runc_shapes(alerts, runc, shape):  # noqa: F811
    cid, tok = C.new_id(), token()
    cg = {"docker": C.docker_cgroup(cid),
          "docker-scope": C.docker_cgroup(cid, systemd_shape=True),
          "crio": C.crio_cgroup(cid),
          "crio-pod": C.crio_cgroup(cid, C.pod_uid()),
          "podman": C.podman_cgroup(cid)}[shape]
    b = runc.bundle(cid, ["/bin/cat", "/etc/shadow", "/" + tok], cg, files=SHADOW)
    rc, out, err = runc.run(cid, b)
    assert "root:*" in out, (rc, out, err)
    a = alerts.wait(tok)
    assert a["output_fields"]["container.id"] == cid[:12], (shape, a)


def test_short_lived_containers(alerts, runc):  # noqa: F811
    """Containers whose one process execs and exits at once (cat: about a millisecond),
    twenty in a row: each is attributed from the probe's exec record. Before the probe
    sent the cgroup, the /proc reread found the process gone and said `host`."""
    toks = []
    for _ in range(20):
        cid, tok = C.new_id(), token()
        b = runc.bundle(cid, ["/bin/cat", "/etc/shadow", "/" + tok], C.docker_cgroup(cid),
                        files=SHADOW)
        t0 = time.monotonic()
        rc, out, err = runc.run(cid, b)
        assert "root:*" in out, (rc, out, err)
        toks.append((cid, tok, time.monotonic() - t0))
    for cid, tok, _ in toks:
        a = alerts.wait(tok)
        assert a["output_fields"]["container.id"] == cid[:12], a


# The demotion warning, with the container it names (none for a host process).
DEMOTED_RX = re.compile(
    r"Saker internal: protected lane: (\d+) critical events demoted in last \d+ "
    r"second\(s\) \(over budget\); top: pid (\d+) \((\S*)\) uid (\d+)"
    r"(?: container (\S+)(?: \((.*)\))?)?: (\d+) demoted")


def static_lanemark(path):
    """tests/helpers/lanemark built static, to run in a busybox rootfs."""
    src = os.path.join(ROOT, "tests", "helpers", "lanemark.c")
    subprocess.run(["cc", "-static", "-O2", "-Iinclude", "-o", path, src, "-lpthread"],
                   check=True, cwd=ROOT, capture_output=True)


def test_connect_flood_in_one_container_spares_another(saker, runc, tmp_path):  # noqa: F811
    """Two containers, both root: A floods connect() from 16 processes, B execs 200
    times. Budgets per (cgroup, uid) and per cgroup: B's execs all arrive, and the
    demotion warning names A, never B."""
    pattern = r"saker-mark|Saker internal"
    out = open(tmp_path / "dump.txt", "w")
    grep = subprocess.Popen(["grep", "--line-buffered", "-E", pattern], stdin=subprocess.PIPE,
                            stdout=out, preexec_fn=lambda: os.nice(-10))
    s = saker("--dump", "-o", "json_output=true", stdout=grep.stdin)
    a, b = C.new_id(), C.new_id()
    flood = " ".join(["/bin/lanemark connectflood 5 1 &"] * 16) + " wait"
    ba = runc.bundle(a, ["/bin/sh", "-c", flood], C.docker_cgroup(a))
    bb = runc.bundle(b, ["/bin/lanemark", "execs", "200"], C.crio_cgroup(b, C.pod_uid()))
    for bundle in (ba, bb):
        static_lanemark(os.path.join(bundle, "rootfs", "bin", "lanemark"))
    fa = runc.start(a, ba)
    try:
        time.sleep(1.0)
        rc, o, e = runc.run(b, bb, timeout=120)
        assert rc == 0, o + e
        assert fa.poll() is None, "the flood ended before the execs did"
        fa.communicate(timeout=60)
    finally:
        if fa.poll() is None:
            fa.kill()
            fa.wait()
    time.sleep(1.5)
    rc = s.stop(timeout=60)
    grep.stdin.close()
    grep.wait(timeout=60)
    out.close()
    assert rc == 0
    execs = set()
    with open(tmp_path / "dump.txt") as f:
        for l in f:
            try:
                d = json.loads(l)
            except ValueError:
                continue
            if d.get("event") == "sched_process_exec":
                args = d["params"].get("args") or []
                if len(args) == 2 and args[1].startswith("saker-mark-exec-"):
                    execs.add(int(args[1].rsplit("-", 1)[1]))
    err = s.lines()
    assert execs == set(range(200)), (len(execs), "\n".join(err[-20:]))
    named = [m for m in (DEMOTED_RX.search(l) for l in err) if m]
    assert named, "\n".join(err[-20:])
    ctrs = {m.group(5) for m in named}
    assert a[:12] in ctrs, "\n".join(m.group(0) for m in named)
    assert b[:12] not in ctrs, "\n".join(m.group(0) for m in named)


def test_demotion_names_container_by_name(saker, containerd, tmp_path):  # noqa: F811
    """The demotion warning names the flooding container by id and, from its runtime's
    files (containerd's task bundle with the CRI annotations), by name."""
    rootfs = C.busybox_rootfs(str(tmp_path / "rootfs"))
    static_lanemark(os.path.join(rootfs, "bin", "lanemark"))
    cid, uid = C.new_id(), C.pod_uid()
    root = os.path.join(containerd.state, "io.containerd.runtime.v2.task")
    s = saker("-o", "json_output=true", "-o", "container_engines.containerd.root=" + root)
    flood = " ".join(["/bin/lanemark connectflood 4 1 &"] * 8) + " wait"
    r = containerd.run(cid, rootfs, ["/bin/sh", "-c", flood], cgroup=C.kubepods_cgroup(cid, uid),
                       annotations=C.cri_annotations("web-1", "prod", uid, "flooder",
                                                     "docker.io/library/busybox:1.36"),
                       timeout=120)
    assert r.returncode == 0, (r.stdout, r.stderr)
    time.sleep(1.5)
    assert s.stop(timeout=60) == 0
    named = [m for m in (DEMOTED_RX.search(l) for l in s.lines()) if m]
    assert named, "\n".join(s.lines()[-20:])
    assert any(m.group(5) == cid[:12] and m.group(6) == "flooder" for m in named), \
        "\n".join(m.group(0) for m in named)
