"""Container and pod metadata from the runtimes' files (docs/containers.md), with real
runtimes: a private containerd (`ctr run` with a kubepods cgroup and the CRI plugin's
annotations) and runc bundles whose metadata files have the docker, CRI-O and podman
shapes under test roots. A rule alert names the container and pod; a 16-thread flood in
a container makes the drop alert name that container and pod; Falco's `container` macro
is true inside and false outside. Fixtures in containers.py."""
import json
import os
import shutil
import signal
import subprocess
import time

import pytest

import alertlib as A
from conftest import ROOT
import containers as C
from containers import containerd, runc  # noqa: F401 (fixtures)

FALCO_RULES = os.path.join(ROOT, "..", "shared", "reference", "falco_rules.yaml")
SHADOW = {"etc/shadow": "root:*:19000:0:99999:7:::\n"}
FIELDS = ("container.id", "container.full_id", "container.name", "container.type",
          "container.image", "container.image.repository", "container.image.tag",
          "container.image.id", "container.privileged", "k8s.pod.name", "k8s.ns.name",
          "k8s.pod.uid", "k8s.pod.sandbox_id", "k8s.pod.labels")
RULES = """
- rule: ctrmeta shadow
  desc: a read of /etc/shadow, with every container field
  condition: evt.type in (open, openat, openat2) and fd.name = /etc/shadow
  output: "shadow read %proc.cmdline {fields}"
  priority: WARNING
""".format(fields=" ".join("%" + f for f in FIELDS))


def token():
    return A.token("skm-")


def start(tmp_path, extra_args=(), rules=RULES):
    path = tmp_path / "rules.yaml"
    path.write_text(rules)
    return A.start(["-r", str(path)] + list(extra_args))


def stop(s):
    rc, left = A.stop(s)
    assert not left, left
    return rc


def fields_of(s, tok):
    return A.wait_alert(s, tok)["output_fields"]


def test_containerd_cri_fields(containerd, tmp_path):  # noqa: F811
    """The issue's case: ctr run with a kubepods cgroup and the CRI annotations."""
    root = os.path.join(containerd.state, "io.containerd.runtime.v2.task")
    s = start(tmp_path, ["-o", "container_engines.containerd.root=" + root])
    try:
        rootfs = C.busybox_rootfs(str(tmp_path / "rootfs"), SHADOW)
        cid, uid, sb, tok = C.new_id(), C.pod_uid(), C.new_id(), token()
        r = containerd.run(cid, rootfs, ["/bin/cat", "/etc/shadow", "/" + tok],
                           cgroup=C.kubepods_cgroup(cid, uid),
                           annotations=C.cri_annotations(
                               "web-7d9f", "shop", uid, "nginx",
                               "registry.example:5000/team/nginx:1.25.3", sandbox_id=sb))
        assert "root:*" in r.stdout, (r.returncode, r.stdout, r.stderr)
        f = fields_of(s, tok)
        assert f["container.id"] == cid[:12], f
        assert f["container.full_id"] == cid, f
        assert f["container.name"] == "nginx", f
        assert f["container.type"] == "containerd", f
        assert f["container.image"] == "registry.example:5000/team/nginx:1.25.3", f
        assert f["container.image.repository"] == "registry.example:5000/team/nginx", f
        assert f["container.image.tag"] == "1.25.3", f
        assert f["k8s.pod.name"] == "web-7d9f", f
        assert f["k8s.ns.name"] == "shop", f
        assert f["k8s.pod.uid"] == uid, f
        assert f["k8s.pod.sandbox_id"] == sb[:12], f
        # ctr's default spec: a bounded capability set and no privileged flag
        assert f["container.privileged"] is False, f
        # containerd's files carry no image id and no pod labels: no value, not a wrong one
        assert f["container.image.id"] is None and f["k8s.pod.labels"] is None, f
        # the same on the host
        tok = token()
        subprocess.run(["/bin/cat", "/etc/shadow", "/" + tok], capture_output=True, timeout=30)
        f = fields_of(s, tok)
        assert f["container.id"] == "host" and f["container.name"] == "host", f
        assert f["k8s.pod.name"] is None, f
    finally:
        assert stop(s) == 0


def write_json(path, obj):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(obj, f)


def test_runc_docker_crio_podman_files(runc, tmp_path):  # noqa: F811
    """runc runs the container; its metadata files are the shapes docker, CRI-O and podman
    write, under test roots."""
    roots = {k: str(tmp_path / k) for k in ("docker", "crio", "podman")}
    ids = {k: C.new_id() for k in roots}
    pod = C.pod_uid()
    sandbox = C.new_id()
    write_json(os.path.join(roots["docker"], ids["docker"], "config.v2.json"), {
        "ID": ids["docker"], "Name": "/happy_turing", "Image": "sha256:" + "ab" * 32,
        "Created": "2026-12-07T10:00:00.000000001Z",
        "Config": {"Image": "busybox:1.36", "Labels": {}}})
    write_json(os.path.join(roots["docker"], ids["docker"], "hostconfig.json"),
               {"Privileged": True})
    write_json(os.path.join(roots["crio"], sandbox, "userdata", "config.json"), {
        "annotations": {"io.kubernetes.cri-o.ContainerType": "sandbox",
                        "io.kubernetes.pod.name": "api-0",
                        "io.kubernetes.pod.namespace": "prod",
                        "io.kubernetes.pod.uid": pod,
                        "io.kubernetes.cri-o.Labels": json.dumps(
                            {"app": "api", "tier": "backend"})}})
    write_json(os.path.join(roots["crio"], ids["crio"], "userdata", "config.json"), {
        "annotations": {"io.kubernetes.cri-o.ContainerType": "container",
                        "io.kubernetes.container.name": "api",
                        "io.kubernetes.pod.name": "api-0",
                        "io.kubernetes.pod.namespace": "prod",
                        "io.kubernetes.pod.uid": pod,
                        "io.kubernetes.cri-o.ImageName": "quay.io/acme/api:v2",
                        "io.kubernetes.cri-o.ImageRef": "sha256:" + "cd" * 32,
                        "io.kubernetes.cri-o.SandboxID": sandbox}})
    write_json(os.path.join(roots["podman"], ids["podman"], "userdata", "config.json"), {
        "process": {"capabilities": {"bounding": ["CAP_CHOWN"]}},
        "annotations": {"io.container.manager": "libpod"}})
    write_json(os.path.join(roots["podman"], "containers.json"), [{
        "id": ids["podman"], "names": ["pm1"], "image": "ef" * 32,
        "metadata": json.dumps({"image-name": "docker.io/library/alpine:3.19", "name": "pm1"}),
        "created": "2026-12-07T10:00:00Z"}])
    s = start(tmp_path, ["-o", "container_engines.docker.root=" + roots["docker"],
                         "-o", "container_engines.cri.root=" + roots["crio"],
                         "-o", "container_engines.podman.root=" + roots["podman"]])
    try:
        cgroups = {"docker": C.docker_cgroup(ids["docker"]),
                   "crio": C.crio_cgroup(ids["crio"], pod),
                   "podman": C.podman_cgroup(ids["podman"])}
        got = {}
        for k, cid in ids.items():
            tok = token()
            b = runc.bundle(cid, ["/bin/cat", "/etc/shadow", "/" + tok], cgroups[k],
                            files=SHADOW)
            rc, out, err = runc.run(cid, b)
            assert "root:*" in out, (k, rc, out, err)
            got[k] = fields_of(s, tok)
        d, c, p = got["docker"], got["crio"], got["podman"]
        assert d["container.id"] == ids["docker"][:12] and d["container.type"] == "docker", d
        assert d["container.name"] == "happy_turing", d
        assert d["container.image.repository"] == "busybox", d
        assert d["container.image.tag"] == "1.36", d
        assert d["container.image.id"] == "ab" * 32, d
        assert d["container.privileged"] is True, d
        assert c["container.type"] == "cri-o" and c["container.name"] == "api", c
        assert c["k8s.pod.name"] == "api-0" and c["k8s.ns.name"] == "prod", c
        assert c["k8s.pod.uid"] == pod and c["k8s.pod.sandbox_id"] == sandbox[:12], c
        assert c["container.image.repository"] == "quay.io/acme/api", c
        assert c["container.image.id"] == "cd" * 32, c
        assert c["k8s.pod.labels"] == "app:api, tier:backend", c
        assert p["container.type"] == "podman" and p["container.name"] == "pm1", p
        assert p["container.image.repository"] == "docker.io/library/alpine", p
        assert p["container.privileged"] is False, p
    finally:
        assert stop(s) == 0


def static_flood(dest):
    """tests/helpers/flood.c linked statically: the container has no libc."""
    if not shutil.which("gcc"):
        pytest.skip("gcc not installed")
    r = subprocess.run(["gcc", "-static", "-O2", "-pthread", "-I", os.path.join(ROOT, "include"),
                        "-o", dest, os.path.join(ROOT, "tests", "helpers", "flood.c")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return dest


def test_flood_in_container_names_it(containerd, tmp_path):  # noqa: F811
    """A 16-thread bulk flood inside a pod's container: the drop alert names the container
    and the pod (top.<i>.container.*, top_containers.*). The loss is forced: saker is
    stopped (SIGSTOP) for a second while the flood runs, as a consumer that cannot keep up
    would be."""
    root = os.path.join(containerd.state, "io.containerd.runtime.v2.task")
    rootfs = C.busybox_rootfs(str(tmp_path / "rootfs"), SHADOW)
    static_flood(os.path.join(rootfs, "bin", "flood"))
    s = start(tmp_path, ["-o", "container_engines.containerd.root=" + root,
                         "-o", "engine.modern_ebpf.buf_size_preset=1"])
    fl = None
    try:
        cid, uid = C.new_id(), C.pod_uid()
        fl = containerd.start(cid, rootfs, ["/bin/flood", "openfail", "400000000", "8", "16"],
                              cgroup=C.kubepods_cgroup(cid, uid),
                              annotations=C.cri_annotations("flooder-0", "batch", uid,
                                                            "flood", "flood:1"))
        time.sleep(2)
        assert fl.poll() is None, fl.communicate()
        s.signal(signal.SIGSTOP)
        time.sleep(1)
        s.signal(signal.SIGCONT)
        deadline = time.monotonic() + 60
        named = None
        while time.monotonic() < deadline and named is None:
            for a in A.alerts_of(s):
                if a.get("rule") != "Saker internal: syscall event drop":
                    continue
                f = a["output_fields"]
                tops = [i for i in range(3) if f.get("top.%d.container.id" % i) == cid[:12]]
                ctrs = [i for i in range(3) if f.get("top_containers.%d.id" % i) == cid[:12]]
                if tops and ctrs:
                    named = (f, tops[0], ctrs[0])
                    break
            time.sleep(0.2)
        assert named, "no drop alert named the container:\n%s" % "\n".join(
            json.dumps(a["output_fields"]) for a in A.alerts_of(s)
            if a.get("rule") == "Saker internal: syscall event drop")
        f, i, k = named
        assert f["top.%d.container.name" % i] == "flood", f
        assert f["top.%d.k8s.pod.name" % i] == "flooder-0", f
        assert f["top.%d.k8s.ns.name" % i] == "batch", f
        assert f["top_containers.%d.k8s.pod.name" % k] == "flooder-0", f
        assert f["top_containers.%d.name" % k] == "flood", f
        assert f["top_containers.%d.lost" % k] > 0, f
        # its 16 threads are one process: the container's loss is at least the process's
        assert f["top_containers.%d.lost" % k] >= f["top.%d.lost" % i], f
        # the log line says it too
        assert [l for l in s.lines("err") if "in container %s (flood, pod batch/flooder-0)"
                % cid[:12] in l], "\n".join(s.lines("err")[-20:])
    finally:
        if fl is not None and fl.poll() is None:
            containerd.ctr("tasks", "kill", "-s", "KILL", cid, check=False)
            try:
                fl.wait(timeout=30)
            except subprocess.TimeoutExpired:
                fl.kill()
        assert stop(s) == 0


def test_falco_container_macro(runc, tmp_path):  # noqa: F811
    """Falco's stable ruleset loads without the plugin warning; its `container` macro is
    true in a container and false on the host."""
    if not os.path.exists(FALCO_RULES):
        pytest.skip("Falco's stable ruleset is not there (../shared/reference)")
    mine = tmp_path / "macro.yaml"
    mine.write_text("""
- rule: ctrmeta in container
  desc: d
  condition: evt.type in (open, openat, openat2) and fd.name = /etc/shadow and container
  output: "inside %proc.cmdline %container.id"
  priority: WARNING
- rule: ctrmeta on host
  desc: d
  condition: evt.type in (open, openat, openat2) and fd.name = /etc/shadow and not container
  output: "outside %proc.cmdline %container.id"
  priority: WARNING
""")
    s = A.start(["-r", FALCO_RULES, "-r", str(mine), "-o", "rule_matching=all"])
    try:
        tok = token()
        A.cat_shadow(tok)
        A.wait_alert(s, tok, "ctrmeta on host")
        assert not [l for l in s.lines("err") if "requires plugin" in l], s.lines("err")
        host = [a["rule"] for a in A.alerts_of(s) if tok in a.get("output", "")]
        assert "ctrmeta on host" in host and "ctrmeta in container" not in host, host
        cid, tok2 = C.new_id(), token()
        b = runc.bundle(cid, ["/bin/cat", "/etc/shadow", "/" + tok2], C.docker_cgroup(cid),
                        files=SHADOW)
        rc, out, err = runc.run(cid, b)
        assert "root:*" in out, (rc, out, err)
        deadline = time.monotonic() + 30
        inside = []
        while time.monotonic() < deadline and not inside:
            inside = [a["rule"] for a in A.alerts_of(s) if tok2 in a.get("output", "")]
            time.sleep(0.1)
        time.sleep(0.5)
        inside = [a["rule"] for a in A.alerts_of(s) if tok2 in a.get("output", "")]
        assert "ctrmeta in container" in inside and "ctrmeta on host" not in inside, inside
    finally:
        assert stop(s) == 0
