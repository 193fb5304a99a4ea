"""Issue 17 end to end: nats_output into real nats-servers (loopback, random
ports, private stores under tmp, always stopped): one node, a three-node
cluster losing its stream leader, a whole-cluster outage across a saker
restart, a torn spool, a full spool, credentials. Markers are execs of
/bin/echo with this test's token; the rule below turns each into an alert."""
import json
import os
import re
import signal
import socket
import subprocess
import time

import pytest

from conftest import SAKER
from natsutil import Cluster, any_url_messages, stream_info

NO_STDOUT = ["-o", "stdout_output.enabled=false"]
QUIET_DROPS = ["-o", "syscall_event_drops.actions=[log]"]
HOST = re.sub(r"[.*> ]", "_", socket.gethostname())

RULE = """- rule: nats marker
  desc: an exec carrying this test's marker
  condition: evt.type in (execve, execveat) and evt.res = SUCCESS and proc.args contains {tok}
  output: nats marker {pad}%proc.cmdline
  priority: WARNING
"""


@pytest.fixture
def cluster():
    made = []

    def make(n=1, auth=None, tls=None):
        c = Cluster(n, auth=auth, tls=tls).start()
        made.append(c)
        return c

    yield make
    for c in made:
        c.stop()


def rules(tmp_path, tok, pad=""):
    p = tmp_path / "nats_rules.yaml"
    p.write_text(RULE.format(tok=tok, pad=pad))
    return ["-r", str(p)]


def nats_args(urls, spool, *extra):
    return ["-o", "nats_output.enabled=true",
            "-o", "nats_output.servers=[%s]" % ",".join(urls),
            "-o", "nats_output.spool_dir=" + str(spool)] + list(extra)


def marker(tok, i):
    subprocess.run(["/bin/echo", "%s-%d" % (tok, i)], stdout=subprocess.DEVNULL, timeout=30,
                   check=True)


def markers_in(msgs, tok):
    """marker number -> how many times it is in the stream."""
    seen = {}
    for subj, data, _ in msgs:
        if not subj.endswith(".alerts"):
            continue
        m = re.search(r"%s-(\d+)" % tok, json.loads(data)["output"])
        if m:
            seen[int(m.group(1))] = seen.get(int(m.group(1)), 0) + 1
    return seen


def wait_markers(urls, tok, n, timeout=45.0, **auth):
    deadline = time.monotonic() + timeout
    seen = {}
    while time.monotonic() < deadline:
        seen = markers_in(any_url_messages(urls, "SAKER", **auth), tok)
        if len(seen) >= n:
            return seen
        time.sleep(0.5)
    missing = sorted(set(range(n)) - set(seen))
    raise AssertionError("%d of %d markers in the stream; missing %s" % (
        len(seen), n, missing[:20]))


def nats_line(lines):
    for l in lines:
        m = re.match(r"NATS: offered (\d+), recovered from the spool (\d+), acknowledged (\d+) "
                     r"\(duplicates (\d+), resent (\d+)\), pending in the spool (\d+), lost: "
                     r"queue full (\d+), spool full (\d+), write error (\d+), corrupt (\d+)", l)
        if m:
            keys = ["offered", "recovered", "acked", "dedup", "resent", "pending", "queue_full",
                    "spool_full", "write_error", "corrupt"]
            return dict(zip(keys, map(int, m.groups())))
    raise AssertionError("no NATS summary line in:\n" + "\n".join(lines[-30:]))


def balanced(n):
    lost = n["queue_full"] + n["spool_full"] + n["write_error"] + n["corrupt"]
    assert n["offered"] + n["recovered"] == n["acked"] + n["pending"] + lost, n


def test_one_node_alerts_subjects_and_json(saker, cluster, tmp_path):
    c = cluster(1)
    tok = "natsone%d" % os.getpid()
    s = saker(*rules(tmp_path, tok), *NO_STDOUT, *QUIET_DROPS,
              *nats_args(c.urls(), tmp_path / "spool"))
    s.wait_for(r"nats_output: created stream SAKER \(subjects saker\.>, replicas 1\)")
    for i in range(5):
        marker(tok, i)
    seen = wait_markers(c.urls(), tok, 5)
    assert s.stop() == 0
    msgs = any_url_messages(c.urls(), "SAKER")
    mine = [(subj, json.loads(d), h) for subj, d, h in msgs if tok.encode() in d]
    assert seen == {i: 1 for i in range(5)}
    ids = set()
    for subj, doc, hdr in mine:
        assert subj == "saker.%s.alerts" % HOST
        assert doc["rule"] == "nats marker" and doc["priority"] == "Warning"
        assert doc["hostname"] == socket.gethostname()
        assert set(doc) >= {"output", "output_fields", "priority", "rule", "source", "time"}
        m = re.search(rb"Nats-Msg-Id: (\S+)", hdr)
        assert m and re.fullmatch(r"%s-[0-9a-f]{16}-\d+" % re.escape(HOST), m.group(1).decode())
        ids.add(m.group(1))
    assert len(ids) == len(mine)
    n = nats_line(s.lines())
    balanced(n)
    assert n["pending"] == 0 and n["acked"] == n["offered"] >= 5
    assert any(re.match(r"\s+- nats: delivered \d+, failed 0, lost in queue 0, undelivered at "
                        r"exit 0", l) for l in s.lines())


def leader(urls):
    for u in urls:
        try:
            info = stream_info(u, "SAKER")
            if "cluster" in info and info["cluster"].get("leader"):
                return info["cluster"]["leader"]
        except (OSError, ConnectionError, ValueError):
            continue
    return None


def test_cluster_stream_leader_killed(saker, cluster, tmp_path):
    c = cluster(3)
    tok = "natsleader%d" % os.getpid()
    s = saker(*rules(tmp_path, tok), *NO_STDOUT, *QUIET_DROPS,
              *nats_args(c.urls(), tmp_path / "spool", "-o", "nats_output.stream_replicas=3"))
    s.wait_for(r"nats_output: created stream SAKER .*replicas 3", timeout=30)
    killed = None
    for i in range(300):
        if i == 100:
            name = leader(c.urls())
            assert name, "no stream leader"
            killed = next(x for x in c.servers if x.name == name)
            killed.kill()
        marker(tok, i)
        time.sleep(0.02)
    live = [x.url for x in c.servers if x.alive()]
    seen = wait_markers(live, tok, 300, timeout=50)
    assert s.stop() == 0
    dups = {k: v for k, v in seen.items() if v != 1}
    assert not dups, "markers more than once: %s" % dups
    assert killed is not None
    n = nats_line(s.lines())
    print("leader %s killed at marker 100:" % killed.name, n)
    balanced(n)
    assert n["pending"] == 0
    # the election refused publishes for a while: those were sent again
    assert n["resent"] > 0


def test_whole_cluster_outage_across_restart(saker, cluster, tmp_path):
    c = cluster(3)
    tok = "natsoutage%d" % os.getpid()
    spool = tmp_path / "spool"
    args = [*rules(tmp_path, tok), *NO_STDOUT, *QUIET_DROPS,
            *nats_args(c.urls(), spool, "-o", "nats_output.stream_replicas=3")]
    s = saker(*args)
    s.wait_for(r"nats_output: created stream SAKER", timeout=30)
    for i in range(150):
        if i == 50:
            for x in c.servers:
                x.kill()
        marker(tok, i)
        time.sleep(0.02)
    time.sleep(1)  # the loop sees the last execs
    t0 = time.monotonic()
    assert s.stop() == 0
    assert time.monotonic() - t0 < 10, "SIGTERM with the cluster down took too long"
    first = nats_line(s.lines())
    balanced(first)
    assert first["pending"] > 0
    assert first["queue_full"] == first["spool_full"] == first["corrupt"] == 0
    assert any("kept in the spool for the next start" in l for l in s.lines())

    c.start()
    s2 = saker(*args)
    s2.wait_for(r"nats_output: spool .*: \d+ message\(s\) from an earlier run to send")
    seen = wait_markers(c.urls(), tok, 150, timeout=50)
    assert s2.stop() == 0
    dups = {k: v for k, v in seen.items() if v != 1}
    assert not dups, "markers more than once: %s" % dups
    second = nats_line(s2.lines())
    print("outage: first run", first, "second run", second)
    balanced(second)
    assert second["recovered"] == first["pending"]
    assert second["pending"] == 0


def segments(spool):
    return sorted(p for p in os.listdir(spool) if p.endswith(".spool"))


def test_torn_spool_tail_is_skipped_and_reported(saker, cluster, tmp_path):
    tok = "natstorn%d" % os.getpid()
    spool = tmp_path / "spool"
    dead = ["nats://127.0.0.1:9"]
    s = saker(*rules(tmp_path, tok), *NO_STDOUT, *QUIET_DROPS, *nats_args(dead, spool))
    for i in range(10):
        marker(tok, i)
    time.sleep(1)
    assert s.stop() == 0
    first = nats_line(s.lines())
    assert first["pending"] >= 10
    last = os.path.join(spool, segments(spool)[-1])
    with open(last, "rb") as f:
        data = f.read()
    # the last record written is torn: marker 9, or a coverage record or ledger line published
    # after it (nats_output carries the fleet's records too, one per drop-check window)
    after = max(data.rfind(b"run_totals"), data.rfind(b'"type"'))
    torn_marker = data.rfind(("%s-9" % tok).encode()) > after
    os.truncate(last, len(data) - 7)  # mid-record, as a crash during write(2) leaves it

    c = cluster(1)
    s2 = saker(*rules(tmp_path, tok), *NO_STDOUT, *QUIET_DROPS, *nats_args(c.urls(), spool))
    s2.wait_for(r"nats_output: spool .*: 1 damaged record\(s\), \d+ bytes, skipped \(1 torn "
                r"tail\); never resent")
    seen = wait_markers(c.urls(), tok, 9 if torn_marker else 10)
    time.sleep(1)
    assert s2.stop() == 0
    second = nats_line(s2.lines())
    print("outage: first run", first, "second run", second)
    balanced(second)
    assert second["corrupt"] == 1
    assert second["recovered"] == first["pending"]
    # the torn one was the last written: every earlier marker arrived once, it did not
    assert all(v == 1 for v in seen.values())
    assert (9 not in seen) == torn_marker, (torn_marker, seen)
    assert len(seen) == (9 if torn_marker else 10), seen
    msgs = any_url_messages(c.urls(), "SAKER")
    for _, d, _ in msgs:
        json.loads(d)  # no garbage was sent


def test_spool_at_its_limit_counts_drops(saker, tmp_path):
    tok = "natsfull%d" % os.getpid()
    spool = tmp_path / "spool"
    # ~2 KiB per alert: a 64 KiB spool holds about 30
    s = saker(*rules(tmp_path, tok, pad="x" * 2000 + " "), *NO_STDOUT, *QUIET_DROPS,
              *nats_args(["nats://127.0.0.1:9"], spool, "-o", "nats_output.spool_max_bytes=65536"))
    for i in range(60):
        marker(tok, i)
    time.sleep(1.5)
    assert s.stop() == 0
    n = nats_line(s.lines())
    balanced(n)
    assert n["spool_full"] > 0
    assert n["acked"] == 0 and n["pending"] > 0
    assert n["offered"] >= 60
    assert sum(os.path.getsize(os.path.join(spool, p)) for p in segments(spool)) <= 65536
    assert any("full (65536 bytes): newest message dropped" in l for l in s.lines())


@pytest.mark.parametrize("kind", ["user", "token"])
def test_credentials(saker, cluster, tmp_path, kind):
    auth = {"user": "saker", "password": "s3cret"} if kind == "user" else {"token": "t0ken"}
    c = cluster(1, auth=auth)
    port = c.servers[0].port
    good = ("nats://saker:s3cret@127.0.0.1:%d" if kind == "user"
            else "nats://t0ken@127.0.0.1:%d") % port
    bad = ("nats://saker:wrong@127.0.0.1:%d" if kind == "user"
           else "nats://nope@127.0.0.1:%d") % port
    tok = "natscred%s%d" % (kind, os.getpid())
    client_auth = ({"user": "saker", "password": "s3cret"} if kind == "user"
                   else {"token": "t0ken"})

    # wrong: refused with a clear reason, the alerts stay in the spool
    s = saker(*rules(tmp_path, tok), *NO_STDOUT, *QUIET_DROPS,
              *nats_args([bad], tmp_path / "spool-bad"))
    s.wait_for(r"nats_output: .*[Aa]uthorization [Vv]iolation.*messages are spooled", timeout=30)
    for i in range(3):
        marker(tok, i)
    time.sleep(1)
    assert s.stop() == 0
    n = nats_line(s.lines())
    balanced(n)
    assert n["acked"] == 0 and n["pending"] >= 3
    assert n["queue_full"] + n["spool_full"] + n["write_error"] + n["corrupt"] == 0

    # right: accepted, and the spooled ones follow once the next run has the right creds
    s2 = saker(*rules(tmp_path, tok), *NO_STDOUT, *QUIET_DROPS,
               *nats_args([good], tmp_path / "spool-bad"))
    s2.wait_for(r"nats_output: created stream SAKER")
    for i in range(3, 5):
        marker(tok, i)
    seen = wait_markers([c.servers[0].url], tok, 5, **client_auth)
    assert s2.stop() == 0
    assert seen == {i: 1 for i in range(5)}


@pytest.mark.parametrize("kv,why", [
    ("nats_output.servers=[http://127.0.0.1:4222]", "expected nats://"),
    ("nats_output.stream=A.B", "expected a stream name"),
    ("nats_output.subject_prefix=a.*", "expected NATS subject tokens"),
    ("nats_output.stream_replicas=7", "nats_output.stream_replicas"),
    ("nats_output.spool_max_bytes=100", "nats_output.spool_max_bytes"),
])
def test_bad_values_are_errors(kv, why):
    r = subprocess.run([SAKER, "--dry-run", "-o", kv], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode != 0
    assert why in r.stderr, r.stderr


def test_bad_value_in_file_names_its_position(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("stdout_output:\n  enabled: true\nnats_output:\n  enabled: true\n"
                 "  servers: [nats://127.0.0.1:4222, ftp://x]\n")
    r = subprocess.run([SAKER, "--dry-run", "-c", str(p)], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode != 0
    assert re.search(r"bad\.yaml:5:\d+: .*expected nats://", r.stderr), r.stderr


def test_servers_list_from_the_command_line(tmp_path):
    r = subprocess.run([SAKER, "--dry-run", "-o", "nats_output.servers=[nats://a:1,tls://b:2]"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert re.search(r'servers: \["nats://a:1", "tls://b:2"\]', r.stdout), r.stdout


def test_bad_value_on_reload_keeps_the_running_configuration(saker, cluster, tmp_path):
    c = cluster(1)
    tok = "natsreload%d" % os.getpid()
    conf = tmp_path / "saker.yaml"
    good = ("stdout_output:\n  enabled: false\nsyscall_event_drops:\n  actions: [log]\n"
            "nats_output:\n  enabled: true\n  servers: [%s]\n  spool_dir: %s\n" % (
                c.urls()[0], tmp_path / "spool"))
    conf.write_text(good)
    s = saker("-c", str(conf), *rules(tmp_path, tok))
    s.wait_for(r"nats_output: created stream SAKER")
    conf.write_text(good.replace("  servers: [", "  servers: [nats://:1/x, "))
    s.signal(signal.SIGHUP)
    s.wait_for(r"configuration reload failed, keeping the running one: .*saker\.yaml:7:\d+: "
               r".*expected nats://")
    marker(tok, 0)
    seen = wait_markers(c.urls(), tok, 1)
    assert s.stop() == 0
    assert seen == {0: 1}


def make_tls(d):
    """A CA and a server certificate for 127.0.0.1, with openssl."""
    def ossl(*a):
        subprocess.run(["openssl"] + list(a), check=True, capture_output=True, timeout=60)
    ca, cakey = str(d / "ca.pem"), str(d / "ca.key")
    cert, key, csr = str(d / "srv.pem"), str(d / "srv.key"), str(d / "srv.csr")
    ext = d / "ext.cnf"
    ext.write_text("subjectAltName=IP:127.0.0.1\n")
    ossl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", cakey, "-out", ca,
         "-days", "1", "-subj", "/CN=saker test CA")
    ossl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr,
         "-subj", "/CN=127.0.0.1")
    ossl("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", cakey, "-CAcreateserial",
         "-out", cert, "-days", "1", "-extfile", str(ext))
    return ca, cert, key


def test_tls_with_ca_file(saker, cluster, tmp_path):
    ca, cert, key = make_tls(tmp_path)
    c = cluster(1, tls={"cert": cert, "key": key})
    tok = "natstls%d" % os.getpid()
    url = "tls://127.0.0.1:%d" % c.servers[0].port
    s = saker(*rules(tmp_path, tok), *NO_STDOUT, *QUIET_DROPS,
              *nats_args([url], tmp_path / "spool", "-o", "nats_output.ca_file=" + ca))
    s.wait_for(r"nats_output: created stream SAKER")
    for i in range(3):
        marker(tok, i)
    time.sleep(1.5)  # the loop sees the execs
    # read back through saker's own counters (the test client speaks no TLS): shutdown waits
    # for the acks while the server is there
    assert s.stop() == 0
    n = nats_line(s.lines())
    balanced(n)
    assert n["acked"] >= 3 and n["pending"] == 0
    assert not [l for l in s.lines() if "nats_output" in l and "Error" in l]
    assert any(re.match(r"\s+- nats: delivered [1-9]\d*, failed 0, lost in queue 0, "
                        r"undelivered at exit 0", l) for l in s.lines())


def test_tls_without_the_ca_is_refused_and_spooled(saker, cluster, tmp_path):
    ca, cert, key = make_tls(tmp_path)
    c = cluster(1, tls={"cert": cert, "key": key})
    tok = "natsnotls%d" % os.getpid()
    url = "tls://127.0.0.1:%d" % c.servers[0].port
    s = saker(*rules(tmp_path, tok), *NO_STDOUT, *QUIET_DROPS, *nats_args([url], tmp_path / "sp"))
    s.wait_for(r"nats_output: .*messages are spooled", timeout=30)
    marker(tok, 0)
    time.sleep(1.5)
    assert s.stop() == 0
    n = nats_line(s.lines())
    balanced(n)
    assert n["acked"] == 0 and n["pending"] >= 1
