"""Issue 11 item 6 end to end: `saker -w FILE` records a live run during which
default rules fire for real; `engine.kind: replay` plays the file through the
same pipeline and must raise the same alerts (same rules, same output text,
process names included, same times, same count) and, with --dump, print the
same event lines. One rule's trigger is a process that was running before
saker started, so its name reaches the replay only through the file's /proc
snapshot. A garbage or truncated file is refused with FILE:offset."""
import json
import os
import shutil
import subprocess
import tempfile
import time
import uuid

import pytest

from conftest import SAKER, Saker, public_copy, summary, wait_detached

PY = "/usr/bin/python3"


def token():
    return "saker-replay-" + uuid.uuid4().hex[:12]


def split_stdout(path):
    """(alerts, dump lines) of a JSON-output run's stdout: alerts carry a rule."""
    alerts, dump = [], []
    with open(path, errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            obj = json.loads(line)
            (alerts if "rule" in obj else dump).append(line)
    return alerts, dump


def alert_key(line):
    a = json.loads(line)
    return (a["rule"], a["priority"], a["time"], a["output"],
            json.dumps(a.get("output_fields", {}), sort_keys=True))


def wait_file(path, pred, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            got = split_stdout(path)
        except (OSError, ValueError):
            got = None  # a line being written
        if got and pred(got):
            return got
        time.sleep(0.1)
    raise AssertionError("timed out waiting on %s" % path)


def replay(cap, *extra, stdout=None, timeout=120):
    args = [SAKER, "-o", "engine.kind=replay", "-o", "engine.replay.capture_file=" + cap,
            "-o", "json_output=true"] + list(extra)
    return subprocess.run(args, stdout=stdout or subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, errors="replace", timeout=timeout)


@pytest.fixture(scope="module")
def recorded():
    """One live run with -w and --dump, stdout to a file, triggers inside it."""
    d = tempfile.mkdtemp(prefix="saker-e2e-replay-", dir="/run")
    cap = os.path.join(d, "live.cap")
    out_path = os.path.join(d, "live.out")
    nginx = os.path.join(d, "nginx")
    os.symlink(PY, nginx)  # comm is the name exec was given: nginx
    tok_shell, tok_shadow = token(), token()
    # The network service runs before saker starts: the replay knows it from the snapshot.
    svc = subprocess.Popen([nginx, "-c", "import subprocess,sys; sys.stdin.readline(); "
                            "subprocess.run(['/bin/sh', '-c', 'true ' + sys.argv[1]], "
                            "check=True)", tok_shell],
                           stdin=subprocess.PIPE, text=True)
    time.sleep(0.5)
    s = None
    try:
        with open(out_path, "w") as out:
            s = Saker(["-w", cap, "--dump", "-o", "json_output=true"], stdout=out)
            s.wait_started(timeout=60)
            subprocess.run([PY, "-c", "open('/etc/shadow').read()", tok_shadow], check=True,
                           timeout=60)
            svc.stdin.write("go\n")
            svc.stdin.flush()
            assert svc.wait(timeout=60) == 0
            wait_file(out_path, lambda got: any(tok_shell in a for a in got[0]) and
                      any(tok_shadow in a for a in got[0]))
            rc = s.stop()
        left = wait_detached([s.proc.pid])
        assert rc == 0, "\n".join(s.lines("err"))
        assert not left, left
        yield {"dir": d, "cap": cap, "out": out_path, "err": s.lines("err"),
               "tok_shell": tok_shell, "tok_shadow": tok_shadow}
    finally:
        if svc.poll() is None:
            svc.kill()
            svc.wait()
        if s:
            s.kill()
        shutil.rmtree(d, ignore_errors=True)


def test_live_run_recorded(recorded):
    st = summary(recorded["err"])
    assert st["capture file records written"] > 0, recorded["err"]
    assert st["capture file records not written"] == 0, recorded["err"]
    # every event the pipeline was handed went to the file
    assert st["capture file records written"] == st["events delivered"] + \
        st["dropped, user space"], recorded["err"]
    mode = os.stat(recorded["cap"]).st_mode & 0o777
    assert mode == 0o600


def test_replay_same_alerts_and_dump(recorded):
    out_path = os.path.join(recorded["dir"], "replay.out")
    with open(out_path, "w") as out:
        r = replay(recorded["cap"], "--dump", stdout=out)
    assert r.returncode == 0, r.stderr
    live_alerts, live_dump = split_stdout(recorded["out"])
    rep_alerts, rep_dump = split_stdout(out_path)

    # the alerts: same rules, texts, times and fields, as many of each
    assert live_alerts, "the live run raised no alert"
    assert sorted(map(alert_key, rep_alerts)) == sorted(map(alert_key, live_alerts))
    shell = [json.loads(a) for a in rep_alerts if recorded["tok_shell"] in a]
    assert len(shell) == 1
    assert shell[0]["rule"] == "Shell Spawned by a Network Service"
    assert shell[0]["output_fields"]["proc.name"] == "sh"
    assert shell[0]["output_fields"]["proc.pname"] == "nginx"
    shadow = [json.loads(a) for a in rep_alerts if recorded["tok_shadow"] in a]
    assert len(shadow) == 1
    assert shadow[0]["rule"] == "Read Sensitive Credential File"
    assert shadow[0]["output_fields"]["proc.name"] == "python3"

    # the dump: the same lines in the same order (the live one lost none to stdout)
    live_st = summary(recorded["err"])
    assert live_st["dump lines lost"] == 0
    assert len(live_dump) == live_st["dump lines written"]
    assert rep_dump == live_dump

    # the replay's accounting: every record seen, delivered or lost, nothing else
    st = summary(r.stderr.splitlines())
    assert st["events seen"] == live_st["capture file records written"]
    assert st["events seen"] == st["events delivered"] + st["events dropped"]
    assert st["dump lines written"] == len(rep_dump)
    assert st["dump lines lost"] == 0
    assert "replaying " + recorded["cap"] in r.stderr


def test_replay_needs_no_privileges(recorded):
    """Replay loads no BPF and reads no /proc: it runs as nobody, with no capability."""
    cap = os.path.join(recorded["dir"], "nobody.cap")
    os.chmod(recorded["dir"], 0o755)
    shutil.copyfile(recorded["cap"], cap)
    os.chmod(cap, 0o644)
    r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                        "--inh-caps=-all", "--bounding-set=-all", public_copy(SAKER),
                        "-o", "engine.kind=replay", "-o", "engine.replay.capture_file=" + cap,
                        "-o", "json_output=true"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    alerts = [l for l in r.stdout.splitlines() if l.startswith("{")]
    assert any(recorded["tok_shadow"] in a for a in alerts), r.stdout
    assert any(recorded["tok_shell"] in a for a in alerts), r.stdout


def test_replay_truncated_file(recorded, tmp_path):
    cut = str(tmp_path / "cut.cap")
    size = os.path.getsize(recorded["cap"])
    with open(recorded["cap"], "rb") as f, open(cut, "wb") as g:
        g.write(f.read(size - 5))
    r = replay(cut)
    assert r.returncode == 1, r.stderr
    assert "Error: %s:" % cut in r.stderr
    assert ": truncated: a block of" in r.stderr
    off = int(r.stderr.split("Error: %s:" % cut)[1].split(":")[0])
    assert 0 < off < size - 5
    # the records before the cut were played and counted
    st = summary(r.stderr.splitlines())
    assert st["events seen"] > 0
    assert st["events seen"] == st["events delivered"] + st["events dropped"]


def test_replay_garbage_file(tmp_path):
    bad = str(tmp_path / "garbage.cap")
    with open(bad, "wb") as f:
        f.write(os.urandom(4096))
    r = replay(bad)
    assert r.returncode == 1, r.stderr
    assert "Error: %s:0: not a saker capture file (bad magic)" % bad in r.stderr
    assert "Traceback" not in r.stderr and "Sanitizer" not in r.stderr
    missing = str(tmp_path / "none.cap")
    r = replay(missing)
    assert r.returncode == 1
    assert "%s: cannot open: No such file or directory" % missing in r.stderr


def test_replay_needs_a_file():
    r = subprocess.run([SAKER, "-o", "engine.kind=replay"], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 1
    assert "engine.replay.capture_file is empty" in r.stderr


def test_write_refuses_a_symlink(tmp_path):
    link = str(tmp_path / "link.cap")
    os.symlink(str(tmp_path / "target"), link)
    r = subprocess.run([SAKER, "-w", link], capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    assert "-w %s" % link in r.stderr
    assert not os.path.exists(str(tmp_path / "target"))
