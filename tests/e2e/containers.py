"""Container fixtures for the end-to-end tests: real runtimes (Debian's containerd,
runc and busybox-static), on private roots, sockets and state directories, stopped
and cleaned after each use even when the test fails.

- busybox_rootfs(dir): a root filesystem of busybox-static (sh, cat, true, sleep, ...).
- Containerd: a containerd daemon of its own (minimal config, no CRI plugin) and
  `ctr run --rootfs --cgroup --annotation` against it; .state is its state directory
  (task bundles: <state>/io.containerd.runtime.v2.task/<ns>/<id>/config.json).
- Runc: runc with OCI bundles whose cgroupsPath has a given shape
  (docker_cgroup(), crio_cgroup(), podman_cgroup(), kubepods_cgroup()).

Specs set no rlimits: root lacks CAP_SYS_RESOURCE on the test host.
"""
import json
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
import uuid

import pytest

BUSYBOX = "/bin/busybox"
APPLETS = ("sh", "cat", "true", "sleep", "ls", "echo", "id", "nc", "wget", "head")


def need(*tools):
    """Skips (outside CI) when a runtime is not installed; fails in CI."""
    for t in tools:
        if not shutil.which(t) and not os.path.exists(t):
            if os.environ.get("CI") == "true":
                pytest.fail("%s not installed (scripts/deps.sh installs it)" % t)
            pytest.skip("%s not installed" % t)


def new_id():
    """A 64-hex container id, as docker, containerd's CRI, CRI-O and podman make."""
    return secrets.token_hex(32)


def busybox_rootfs(path, files=None):
    """A root filesystem at path made of busybox-static; files: {relpath: content}
    written in it (e.g. {"etc/shadow": "..."}). Returns path."""
    for d in ("bin", "proc", "dev", "sys", "etc", "tmp", "run"):
        os.makedirs(os.path.join(path, d), exist_ok=True)
    shutil.copy2(BUSYBOX, os.path.join(path, "bin", "busybox"))
    for a in APPLETS:
        link = os.path.join(path, "bin", a)
        if not os.path.lexists(link):
            os.symlink("busybox", link)
    base = {"etc/passwd": "root:x:0:0:root:/:/bin/sh\n", "etc/group": "root:x:0:\n"}
    base.update(files or {})
    for rel, content in base.items():
        p = os.path.join(path, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w") as f:
            f.write(content)
    return path


# ---- cgroup path shapes (cgroupfs driver: the path is taken as written) ----

def docker_cgroup(cid, systemd_shape=False):
    return "/system.slice/docker-%s.scope" % cid if systemd_shape else "/docker/%s" % cid


def crio_cgroup(cid, pod_uid=None, qos="besteffort"):
    if pod_uid:
        return "/kubepods/%s/pod%s/crio-%s" % (qos, pod_uid, cid)
    return "/crio-%s" % cid


def podman_cgroup(cid):
    return "/machine.slice/libpod-%s.scope/container" % cid


def kubepods_cgroup(cid, pod_uid, qos="burstable"):
    """The kubelet's cgroupfs layout containerd's CRI plugin uses."""
    if qos == "guaranteed":
        return "/kubepods/pod%s/%s" % (pod_uid, cid)
    return "/kubepods/%s/pod%s/%s" % (qos, pod_uid, cid)


def kubepods_slice_cgroup(cid, pod_uid, qos="burstable"):
    """The systemd driver's shape, made by hand with cgroupfs."""
    u = pod_uid.replace("-", "_")
    return "/kubepods.slice/kubepods-%s.slice/kubepods-%s-pod%s.slice/cri-containerd-%s.scope" % (
        qos, qos, u, cid)


def cri_annotations(pod_name, pod_ns, pod_uid, container_name, image, sandbox_id=None):
    """The annotations containerd's CRI plugin writes into a container's spec."""
    return {
        "io.kubernetes.cri.container-type": "container",
        "io.kubernetes.cri.container-name": container_name,
        "io.kubernetes.cri.sandbox-name": pod_name,
        "io.kubernetes.cri.sandbox-namespace": pod_ns,
        "io.kubernetes.cri.sandbox-uid": pod_uid,
        "io.kubernetes.cri.sandbox-id": sandbox_id or new_id(),
        "io.kubernetes.cri.image-name": image,
    }


def remove_cgroup(path):
    """Removes a cgroup directory runc/containerd left, in every hierarchy, deepest first.
    Best effort: a cgroup with processes cannot go."""
    for h in os.listdir("/sys/fs/cgroup"):
        d = os.path.join("/sys/fs/cgroup", h, path.lstrip("/"))
        parts = path.strip("/").split("/")
        for k in range(len(parts), 0, -1):
            d = os.path.join("/sys/fs/cgroup", h, *parts[:k])
            try:
                os.rmdir(d)
            except OSError:
                pass


class Runc:
    """runc with a private state root. bundle() makes an OCI bundle; run() runs it in the
    foreground (the container's stdout is returned); start()/kill() for long ones."""

    def __init__(self, tmp=None):
        need("runc", BUSYBOX)
        self.dir = tempfile.mkdtemp(prefix="sk-runc-", dir=tmp)
        self.root = os.path.join(self.dir, "state")
        self.ids = []
        self.cgroups = []

    def bundle(self, cid, args, cgroups_path, annotations=None, files=None, env=None,
               uid=0):
        b = os.path.join(self.dir, cid[:20])
        busybox_rootfs(os.path.join(b, "rootfs"), files)
        subprocess.run(["runc", "spec"], cwd=b, check=True, capture_output=True)
        with open(os.path.join(b, "config.json")) as f:
            spec = json.load(f)
        p = spec["process"]
        p["terminal"] = False
        p["args"] = list(args)
        p.pop("rlimits", None)
        p["user"] = {"uid": uid, "gid": uid}
        p["env"] = ["PATH=/bin"] + list(env or [])
        spec["root"]["readonly"] = False
        spec["linux"]["cgroupsPath"] = cgroups_path
        if annotations:
            spec["annotations"] = dict(annotations)
        with open(os.path.join(b, "config.json"), "w") as f:
            json.dump(spec, f)
        self.cgroups.append(cgroups_path)
        return b

    def run(self, cid, bundle, timeout=60):
        """Runs to completion; returns (rc, stdout, stderr)."""
        self.ids.append(cid)
        p = subprocess.run(["runc", "--root", self.root, "run", "--bundle", bundle, cid],
                           capture_output=True, text=True, timeout=timeout,
                           stdin=subprocess.DEVNULL)
        return p.returncode, p.stdout, p.stderr

    def start(self, cid, bundle):
        """Runs in the background (runc stays the container's parent); returns the Popen."""
        self.ids.append(cid)
        return subprocess.Popen(["runc", "--root", self.root, "run", "--bundle", bundle, cid],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                stdin=subprocess.DEVNULL)

    def close(self):
        for cid in self.ids:
            subprocess.run(["runc", "--root", self.root, "kill", cid, "KILL"],
                           capture_output=True)
            subprocess.run(["runc", "--root", self.root, "delete", "--force", cid],
                           capture_output=True)
        for cg in self.cgroups:
            remove_cgroup(cg)
        shutil.rmtree(self.dir, ignore_errors=True)


_CONFIG = """version = 2
root = "{root}"
state = "{state}"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.aufs", "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing"]
[grpc]
  address = "{sock}"
[ttrpc]
  address = "{sock}.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
"""


class Containerd:
    """A containerd daemon of its own: config, root, state and socket in a private
    directory. stop() ends it (and every task it runs) and removes the directory."""

    def __init__(self, namespace="default"):
        need("containerd", "ctr", "containerd-shim-runc-v2", BUSYBOX)
        # Short: the socket path must fit sun_path.
        self.dir = tempfile.mkdtemp(prefix="skc-", dir="/tmp")
        self.root = os.path.join(self.dir, "root")
        self.state = os.path.join(self.dir, "state")
        self.sock = os.path.join(self.dir, "c.sock")
        self.ns = namespace
        self.cgroups = []
        cfg = os.path.join(self.dir, "config.toml")
        with open(cfg, "w") as f:
            f.write(_CONFIG.format(root=self.root, state=self.state, sock=self.sock))
        self.log = open(os.path.join(self.dir, "containerd.log"), "w")
        self.proc = subprocess.Popen(["containerd", "--config", cfg], stdout=self.log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            if os.path.exists(self.sock) and self.ctr("version", check=False).returncode == 0:
                return
            time.sleep(0.2)
        self.stop()
        raise AssertionError("containerd did not start: %s" % self.log_tail())

    def log_tail(self, n=30):
        try:
            with open(os.path.join(self.dir, "containerd.log")) as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def ctr(self, *args, check=True, timeout=60, input=None):
        p = subprocess.run(["ctr", "--address", self.sock, "--namespace", self.ns] + list(args),
                           capture_output=True, text=True, timeout=timeout,
                           stdin=None if input is not None else subprocess.DEVNULL, input=input)
        if check and p.returncode != 0:
            raise AssertionError("ctr %s: rc=%d %s %s\n%s" % (
                " ".join(args), p.returncode, p.stdout, p.stderr, self.log_tail()))
        return p

    def run_args(self, cid, rootfs, args, cgroup=None, annotations=None, user=None):
        a = ["run", "--rm", "--rootfs"]
        if cgroup:
            a += ["--cgroup", cgroup]
            self.cgroups.append(cgroup)
        else:
            self.cgroups.append("/%s/%s" % (self.ns, cid))
        for k, v in (annotations or {}).items():
            a += ["--annotation", "%s=%s" % (k, v)]
        if user is not None:
            a += ["--user", str(user)]
        return a + [rootfs, cid] + list(args)

    def run(self, cid, rootfs, args, cgroup=None, annotations=None, timeout=60, user=None):
        """ctr run --rm --rootfs in the foreground; returns the CompletedProcess."""
        return self.ctr(*self.run_args(cid, rootfs, args, cgroup, annotations, user),
                        check=False, timeout=timeout)

    def start(self, cid, rootfs, args, cgroup=None, annotations=None, user=None):
        """ctr run in the background; returns the Popen (ctr exits with the task)."""
        return subprocess.Popen(
            ["ctr", "--address", self.sock, "--namespace", self.ns]
            + self.run_args(cid, rootfs, args, cgroup, annotations, user),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            stdin=subprocess.DEVNULL)

    def bundle_config(self, cid):
        """The task bundle's OCI spec as the shim wrote it (while the task runs)."""
        return os.path.join(self.state, "io.containerd.runtime.v2.task", self.ns, cid,
                            "config.json")

    def stop(self):
        if self.proc.poll() is None:
            # Tasks first: their shims outlive the daemon otherwise.
            try:
                out = self.ctr("tasks", "ls", "-q", check=False, timeout=20).stdout.split()
                for cid in out:
                    self.ctr("tasks", "kill", "-s", "KILL", cid, check=False, timeout=20)
                for cid in out:
                    self.ctr("tasks", "delete", "-f", cid, check=False, timeout=20)
                for cid in self.ctr("containers", "ls", "-q", check=False,
                                    timeout=20).stdout.split():
                    self.ctr("containers", "delete", cid, check=False, timeout=20)
            except subprocess.TimeoutExpired:
                pass
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()
        # Shims of ours still running (a task the daemon lost): by their -address argument.
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open("/proc/%s/cmdline" % pid, "rb") as f:
                    cmd = f.read().split(b"\0")
            except OSError:
                continue
            if cmd and cmd[0].endswith(b"containerd-shim-runc-v2") and \
                    self.sock.encode() in cmd:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except OSError:
                    pass
        for cg in self.cgroups:
            remove_cgroup(cg)
        subprocess.run(["umount", "-R", self.state], capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def containerd():
    """A private containerd for one test, stopped after it whatever happens."""
    c = Containerd()
    try:
        yield c
    finally:
        c.stop()


@pytest.fixture
def runc(tmp_path):
    r = Runc()
    try:
        yield r
    finally:
        r.close()


def pod_uid():
    return str(uuid.uuid4())
