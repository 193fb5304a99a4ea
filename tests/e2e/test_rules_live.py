"""Rules in a running saker: SIGHUP recompiles them and swaps them in (a broken
file keeps the running set and names its position); alerts raised on a view
that may be stale carry view_degraded; socket state (fd.l4proto, the tuple)
as connect/accept/bind rules see it live."""
import os
import re
import signal
import socket
import subprocess
import time

import pytest

from alertlib import find, token, wait_alert
from conftest import HELPERS

PY = "/usr/bin/python3"


def run_marker(*args):
    r = subprocess.run(["/bin/echo"] + list(args), capture_output=True, timeout=30)
    assert r.returncode == 0


RULE = """- rule: {name}
  desc: a reload test rule
  condition: evt.type in (execve, execveat) and evt.res = SUCCESS and proc.args contains {marker}
  output: {name} %proc.cmdline
  priority: WARNING
"""

GETPPID_RULE = """- rule: reload getppid
  desc: getppid is not in the default selection; only these rules ask for it
  condition: evt.type = getppid and proc.args contains {marker}
  output: reload getppid %proc.cmdline
  priority: WARNING
"""


def count_reloads(s):
    return len([l for l in s.lines("err") if "rules reloaded:" in l])


def test_sighup_reloads_rules_live(saker, tmp_path):
    f = tmp_path / "live.yaml"
    f.write_text(RULE.format(name="reload old", marker="reload-marker-a"))
    s = saker("-r", str(f), "-o", "json_output=true", "-o", "log_level=info")
    t1 = token()
    run_marker("reload-marker-a", t1)
    a = wait_alert(s, t1, "reload old")
    assert a["output"].startswith("reload old ")

    # the new file: another rule on the same trigger, and one on a syscall the
    # running selection does not have (getppid): SIGHUP must select it
    f.write_text(RULE.format(name="reload new", marker="reload-marker-a")
                 + GETPPID_RULE.format(marker="reload-marker-b"))
    s.signal(signal.SIGHUP)
    s.wait_for(r"rules reloaded: 2 loaded, 0 not loaded")
    s.wait_for(r"configuration reloaded")
    t2 = token()
    run_marker("reload-marker-a", t2)
    a = wait_alert(s, t2, "reload new")
    assert find(s, t2, "reload old") == [], find(s, t2)
    t3 = token()
    r = subprocess.run([PY, "-c", "import os; [os.getppid() for _ in range(3)]",
                        "reload-marker-b", t3], timeout=30)
    assert r.returncode == 0
    wait_alert(s, t3, "reload getppid")

    # a broken file: the error names file:line:col, the running rules stay
    f.write_text(RULE.format(name="reload broken", marker="reload-marker-a")
                 + "- rule: half\n  desc: d\n  condition: evt.type = open and (\n"
                 "  output: o\n  priority: INFO\n")
    n = count_reloads(s)
    s.signal(signal.SIGHUP)
    m = s.wait_for(r"Error: rules reload failed, keeping the running rules and "
                   r"configuration: (.*)")
    assert re.match(re.escape(str(f)) + r":\d+:\d+: ", m.group(1)), m.group(0)
    errors = [l for l in s.lines("err") if "Error:" in l]
    assert len(errors) == 1, errors
    t4 = token()
    run_marker("reload-marker-a", t4)
    wait_alert(s, t4, "reload new")
    assert find(s, t4, "reload broken") == []
    assert count_reloads(s) == n
    # a missing file is an error too, and changes nothing
    os.unlink(f)
    s.signal(signal.SIGHUP)
    s.wait_for(r"Error: rules reload failed.*live\.yaml")
    t5 = token()
    run_marker("reload-marker-a", t5)
    wait_alert(s, t5, "reload new")
    assert s.stop() == 0


# ---- view_degraded on rule alerts ----

EXEC_RULE = """- rule: degraded probe
  desc: an exec carrying a marker
  condition: evt.type in (execve, execveat) and evt.res = SUCCESS and proc.args contains degraded-marker
  output: degraded probe %proc.cmdline
  priority: WARNING
"""


# Floods close(-1) through libc for a while, then execs /bin/echo with the marker: the
# same process (tgid) whose events were lost raises the alert.
LOSSY_EXEC = """
import ctypes, os, sys, time
close = ctypes.CDLL(None).close
end = time.monotonic() + float(sys.argv[1])
while time.monotonic() < end:
    for _ in range(10000):
        close(-1)
# the marker is joined here: this process's own args must not match the rule
os.execv("/bin/echo", ["echo", sys.argv[2] + "-" + sys.argv[3], sys.argv[4]])
"""


def test_alert_after_loss_is_flagged_view_degraded(saker, tmp_path):
    f = tmp_path / "degraded.yaml"
    f.write_text(EXEC_RULE)
    # a 32 KiB ring that two flooders overflow, without the priority boost; the probe
    # counts the loss per process, so the view of each process that lost is degraded
    s = saker("-r", str(f), "-o", "json_output=true", "-o", "engine.modern_ebpf.buf_size=32768",
              "-o", "priority_boost=0", "-o", "syscall_event_drops.degraded_window=30",
              "-o", "syscall_event_drops.actions=[log]")
    floods = [subprocess.Popen([os.path.join(HELPERS, "flood"), "close", "400000000", "4"],
                               stdout=subprocess.DEVNULL) for _ in range(2)]
    tok, clean = token(), token()
    try:
        time.sleep(0.5)
        r = subprocess.run(["/usr/bin/python3", "-c", LOSSY_EXEC, "2.5", "degraded", "marker", tok],
                           capture_output=True, timeout=60)
        assert r.returncode == 0, r.stderr
    finally:
        for p in floods:
            assert p.wait(timeout=60) == 0
    s.wait_for(r"syscall event drop", timeout=30)
    a = wait_alert(s, tok, "degraded probe")
    assert a["output_fields"].get("view_degraded") is True, a
    # appended where Falco's append_output appends: the output string says so too
    assert a["output"].endswith(" view_degraded=true"), a
    # a process that lost nothing, after the loss: its view is not stale once a drop check
    # has named who lost (until then every process is, pending attribution: issue 14)
    time.sleep(2.5)
    run_marker("degraded-marker", clean)
    b = wait_alert(s, clean, "degraded probe")
    assert "view_degraded" not in b["output_fields"], b
    assert s.stop() == 0
    st = {}
    for l in s.lines():
        m = re.match(r"\s+(?:- )?([a-z_ ,()]+?): (\d+)", l)
        if m:
            st[m.group(1).strip()] = int(m.group(2))
    assert any("drop" in k and v > 0 for k, v in st.items()), st


def test_clean_run_has_no_view_degraded(saker, tmp_path):
    f = tmp_path / "clean.yaml"
    f.write_text(EXEC_RULE)
    s = saker("-r", str(f), "-o", "json_output=true")
    toks = [token() for _ in range(3)]
    for t in toks:
        run_marker("degraded-marker", t)
    got = [wait_alert(s, t, "degraded probe") for t in toks]
    assert s.stop() == 0
    # nothing was lost, so no alert may say its view is stale
    assert not [l for l in s.lines() if "syscall event drop" in l]
    for a in got:
        assert "view_degraded" not in a["output_fields"], a
        assert "view_degraded" not in a["output"], a


# ---- sockets as connect/accept/bind rules see them ----

SOCK_RULES = """- rule: tcp connect
  desc: d
  condition: evt.type = connect and fd.l4proto = tcp and fd.typechar = 4 and fd.connected = true and proc.args contains sock-marker
  output: tcp connect %fd.name proto=%fd.l4proto sport=%fd.sport rport=%fd.rport sip=%fd.sip args=%proc.args
  priority: WARNING
- rule: udp connect
  desc: d
  condition: evt.type = connect and fd.l4proto = udp and fd.type = ipv6 and proc.args contains sock-marker
  output: udp connect proto=%fd.l4proto rport=%fd.rport args=%proc.args
  priority: WARNING
- rule: tcp accept
  desc: d
  condition: evt.type in (accept, accept4) and fd.l4proto = tcp and fd.is_server = true and proc.args contains sock-marker
  output: tcp accept proto=%fd.l4proto lport=%fd.lport cip=%fd.cip args=%proc.args
  priority: WARNING
- rule: tcp listen
  desc: d
  condition: evt.type = listen and fd.l4proto = tcp and fd.net = "127.0.0.0/8" and proc.args contains sock-marker
  output: tcp listen proto=%fd.l4proto lport=%fd.lport args=%proc.args
  priority: WARNING
"""

SOCK_CODE = """
import socket, sys
# a port named in bind() (the probe reports bind's argument, not the port the kernel picks)
p = socket.socket()
p.bind(('127.0.0.1', 0))
port = p.getsockname()[1]
p.close()
srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(('127.0.0.1', port))
srv.listen(4)
c = socket.socket(socket.AF_INET, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
c.connect(('127.0.0.1', port))
a, _ = srv.accept()
u = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
u.connect(('::1', 9))
print(port)
"""


def test_socket_fields_live(saker, tmp_path):
    f = tmp_path / "sock.yaml"
    f.write_text(SOCK_RULES)
    s = saker("-r", str(f), "-o", "json_output=true")
    tok = token()
    r = subprocess.run([PY, "-c", SOCK_CODE, "sock-marker", tok], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    port = int(r.stdout.strip())
    a = wait_alert(s, tok, "tcp connect")
    of = a["output_fields"]
    assert of["fd.l4proto"] == "tcp", a
    assert of["fd.sport"] == port and of["fd.rport"] == port, a
    assert of["fd.sip"] == "127.0.0.1", a
    assert of["fd.name"].endswith("->127.0.0.1:%d" % port), a
    a = wait_alert(s, tok, "tcp listen")
    assert a["output_fields"]["fd.lport"] == port, a
    a = wait_alert(s, tok, "tcp accept")
    assert a["output_fields"]["fd.lport"] == port, a
    assert a["output_fields"]["fd.cip"] == "127.0.0.1", a
    a = wait_alert(s, tok, "udp connect")
    assert a["output_fields"]["fd.l4proto"] == "udp" and a["output_fields"]["fd.rport"] == 9, a
    assert s.stop() == 0


# ---- thread.cap_effective ----

CAP_RULE = """- rule: caps probe
  desc: d
  condition: evt.type in (execve, execveat) and evt.res = SUCCESS and proc.args contains cap-marker and thread.cap_effective icontains sys_admin
  output: caps probe caps=%thread.cap_effective args=%proc.args
  priority: WARNING
- rule: no caps probe
  desc: d
  condition: evt.type in (execve, execveat) and evt.res = SUCCESS and proc.args contains cap-marker and thread.cap_effective = ""
  output: no caps probe uid=%user.uid args=%proc.args
  priority: WARNING
"""


def test_cap_effective_live(saker, tmp_path):
    f = tmp_path / "caps.yaml"
    f.write_text(CAP_RULE)
    s = saker("-r", str(f), "-o", "json_output=true")
    tok = token()
    run_marker("cap-marker", tok)  # root: the full set
    a = wait_alert(s, tok, "caps probe")
    caps = a["output_fields"]["thread.cap_effective"].split()
    assert "CAP_SYS_ADMIN" in caps and "CAP_SYS_MODULE" in caps and "CAP_CHOWN" in caps, a
    # nobody: an empty effective set after exec
    tok2 = token()
    r = subprocess.run([PY, "-c", "import os, sys; os.setgroups([]); os.setgid(65534); "
                        "os.setuid(65534); os.execv('/bin/echo', ['echo'] + sys.argv[1:])",
                        "cap-marker", tok2], capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    a = wait_alert(s, tok2, "no caps probe")
    assert a["output_fields"]["user.uid"] == 65534, a
    # the python that dropped to nobody was root when it started (its own exec has the
    # set); the echo it became has none
    assert all("import os" in x["output"] for x in find(s, tok2, "caps probe"))
    assert "import os" not in a["output"], a
    assert s.stop() == 0


def test_rules_syscalls_removed_by_custom_set_warn(saker, tmp_path):
    f = tmp_path / "sel.yaml"
    f.write_text(GETPPID_RULE.format(marker="sel-marker"))
    s = saker("-r", str(f), "-o", "base_syscalls.custom_set=[!getppid]")
    m = s.wait_for(r"Warning: rules need syscalls that base_syscalls.custom_set removes "
                   r"from the capture selection \(their rules cannot match\): (.*)$")
    assert m.group(1) == "getppid", m.group(0)
    # the same after a SIGHUP
    n = len([l for l in s.lines() if "custom_set removes" in l])
    s.signal(signal.SIGHUP)
    s.wait_for(r"configuration reloaded")
    assert len([l for l in s.lines() if "custom_set removes" in l]) == n + 1
    assert s.stop() == 0
