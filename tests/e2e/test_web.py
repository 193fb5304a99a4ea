"""Issue 10 end to end: the web server (/metrics, /healthz, /versions) of the
real binary, checked by promtool and scraped by a real Prometheus server
started here; the metrics snapshot; counters at exit against the summary;
slow clients against the drop check. Loopback only; everything started
here is stopped here."""
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import http.client
import urllib.parse

import pytest

from conftest import HELPERS, flood, summary

SMALL = ["-o", "engine.modern_ebpf.buf_size=65536"]
WEB = ["-o", "webserver.enabled=true", "-o", "webserver.listen_port=0",
       "-o", "webserver.prometheus_metrics_enabled=true"]
PORT_RX = r"web server listening on 127\.0\.0\.1 port (\d+)"


def start_web(saker, *args, **kw):
    s = saker(*WEB, *args, **kw)
    port = int(s.wait_for(PORT_RX).group(1))
    return s, port


def get(port, path, method="GET", timeout=10.0, tls=False):
    if tls:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        c = http.client.HTTPSConnection("127.0.0.1", port, timeout=timeout, context=ctx)
    else:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request(method, path)
        r = c.getresponse()
        return r.status, dict(r.getheaders()), r.read().decode()
    finally:
        c.close()


def wait_healthy(port, timeout=10.0):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = get(port, "/healthz")
        if last[0] == 200:
            return last
        time.sleep(0.1)
    raise AssertionError("never healthy: %r" % (last,))


def promtool_check(text):
    r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                       text=True, timeout=60)
    return r.returncode, (r.stdout + r.stderr).strip()


def samples(text):
    """name{labels} -> value, from the exposition text."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            k, v = line.rsplit(" ", 1)
            out[k] = float(v)
    return out


def family_sum(smp, name):
    return sum(v for k, v in smp.items() if k == name or k.startswith(name + "{"))


def test_metrics_pass_promtool_idle_and_after_flood(saker):
    s, port = start_web(saker, *SMALL)
    wait_healthy(port)
    status, hdr, idle = get(port, "/metrics")
    assert status == 200
    assert hdr["Content-Type"].startswith("text/plain; version=0.0.4")
    rc, out = promtool_check(idle)
    assert rc == 0 and out == "", out
    smp = samples(idle)
    for name in ("saker_events_total", "saker_events_delivered_total", "saker_drop_checks_total",
                 "saker_drop_ratio", "saker_process_cpu_seconds_total",
                 "saker_process_resident_memory_bytes", "saker_process_start_time_seconds",
                 'saker_build_info{version="0.1.0"}', "saker_proc_table_entries",
                 "saker_fd_table_entries", "saker_bpf_stats_enabled"):
        assert name in smp, name
    assert smp['saker_build_info{version="0.1.0"}'] == 1
    assert smp["saker_proc_table_entries"] > 0
    # the seed read exe, cwd and descriptors through the task iterators (this kernel has them)
    assert smp["saker_proc_table_iter_procs_total"] > 0
    assert smp["saker_proc_table_iter_fds_total"] > 0
    assert "saker_proc_table_iter_errors_total" in smp
    assert abs(smp["saker_process_start_time_seconds"] - time.time()) < 120
    assert 'saker_bpf_program_runs_total{program="saker_sys_exit"}' in smp
    assert 'saker_ring_size_bytes{ring="0",lane="normal"}' in smp

    n = flood(seconds=2.0)
    assert n > 10000
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        status, _, text = get(port, "/metrics")
        smp = samples(text)
        if family_sum(smp, "saker_drops_total") > 0 and smp["saker_drop_checks_fired_total"] > 0:
            break
        time.sleep(0.3)
    rc, out = promtool_check(text)
    assert rc == 0 and out == "", out
    assert family_sum(smp, "saker_drops_total") > 0
    assert smp['saker_drops_total{cause="ring_full",lane="normal",category="close"}'] > 0
    assert family_sum(smp, "saker_ring_drops_total") > 0
    # high water of a 64 KiB ring, as bytes in use, never more than the ring
    hw = [v for k, v in smp.items() if k.startswith("saker_ring_high_water_bytes")]
    assert hw and all(0 <= v <= 65536 for v in hw)
    assert s.stop() == 0


def test_ring_events_are_counted_to_the_ring_they_came_from(saker):
    """Lane-1 records are held and handed on from within a bulk drain: they are counted to
    their own (critical) ring, not to the bulk ring that was being drained then."""
    s, port = start_web(saker)
    wait_healthy(port)
    for _ in range(50):
        subprocess.run(["/bin/true"], check=True)
    deadline = time.monotonic() + 20
    crit = bulk = 0
    while time.monotonic() < deadline:
        smp = samples(get(port, "/metrics")[2])
        crit = sum(v for k, v in smp.items()
                   if k.startswith("saker_ring_events_total{") and 'lane="critical"' in k)
        bulk = sum(v for k, v in smp.items()
                   if k.startswith("saker_ring_events_total{") and 'lane="normal"' in k)
        # each exec of true is a fork, an exec and an exit in lane 1
        if crit >= 150:
            break
        time.sleep(0.3)
    assert crit >= 150, (crit, bulk)
    assert bulk > 0
    # every event taken from a ring is delivered, lost in user space, or still held
    assert crit + bulk >= smp["saker_events_delivered_total"]
    assert s.stop() == 0


def test_metrics_has_the_dump_and_pipeline_samples(saker, tmp_path):
    """One collection per tick feeds /metrics and the snapshot: with --dump, /metrics shows
    the dump sink's and the pipeline's samples, and the last snapshot line at exit holds the
    figures the summary prints."""
    out = tmp_path / "metrics.jsonl"
    with open(tmp_path / "dump.txt", "w") as dump:
        s, port = start_web(saker, *SMALL, "--dump", "-o", "metrics.enabled=true",
                            "-o", "metrics.interval=1h", "-o", "metrics.output_file=%s" % out,
                            stdout=dump)
        wait_healthy(port)
        deadline = time.monotonic() + 20
        smp = {}
        while time.monotonic() < deadline:
            for _ in range(50):
                with open("/etc/hostname"):
                    pass
            status, _, text = get(port, "/metrics")
            assert status == 200
            smp = samples(text)
            if smp.get("saker_dump_lines_written_total", 0) > 0:
                break
            time.sleep(0.3)
        rc, msg = promtool_check(text)
        assert rc == 0 and msg == "", msg
        # the dump sink and the pipeline (only the app's part of the collection had them)
        assert smp["saker_dump_lines_written_total"] > 0
        assert "saker_dump_lines_lost_total" in smp
        assert "saker_state_apply_failures_total" in smp
        # the rules and the repair, likewise
        assert smp["saker_rules_loaded"] > 0
        assert "saker_rules_matches_total" in smp
        assert "saker_resync_requests_total" in smp
        # exact accounting only in the collection after the final drain
        assert smp["saker_accounting_exact"] == 0
        # zero values stay on /metrics (include_empty_values is for the snapshot only) ...
        assert smp["saker_rules_errors_total"] == 0
        # ... and per-CPU counters are off by default, as in the snapshot
        assert not [k for k in smp if k.startswith("saker_cpu_")]
        assert s.stop() == 0
    lines = out.read_text().splitlines()
    assert len(lines) == 1, lines  # interval 1h: the line at exit
    m = json.loads(lines[0])["metrics"]
    st = summary(s.lines())
    assert m["dump_lines_written_total"] == st["dump lines written"] > 0
    assert m["accounting_exact"] == 1


def test_metrics_switches_select_families_on_metrics_too(saker):
    """Falco's metrics.* switches select the families of /metrics, not only the snapshot's
    (docs/metrics.md), even without metrics.enabled."""
    # log_level debug: the summary then shows the state tables
    s, port = start_web(saker, *SMALL, "-o", "log_level=debug",
                        "-o", "metrics.kernel_event_counters_per_cpu_enabled=true",
                        "-o", "metrics.libbpf_stats_enabled=false",
                        "-o", "metrics.rules_counters_enabled=false",
                        "-o", "metrics.state_counters_enabled=false")
    wait_healthy(port)
    status, _, text = get(port, "/metrics")
    assert status == 200
    rc, msg = promtool_check(text)
    assert rc == 0 and msg == "", msg
    smp = samples(text)
    names = {k.split("{")[0] for k in smp}
    assert "saker_cpu_events_total" in names
    assert not [n for n in names if n.startswith(("saker_bpf_", "saker_rules_", "saker_proc_table_",
                                                  "saker_fd_table_", "saker_state_"))], names
    # what no switch names stays
    for n in ("saker_events_total", "saker_drop_checks_total", "saker_process_cpu_seconds_total",
              "saker_build_info", "saker_web_publishes_total"):
        assert n in names, n
    assert s.stop() == 0
    # the summary keeps every family (the debug summary prints the state tables)
    st = summary(s.lines())
    assert "process table entries" in st


def test_versions_and_methods(saker):
    s, port = start_web(saker)
    status, hdr, body = get(port, "/versions")
    assert status == 200 and hdr["Content-Type"] == "application/json"
    v = json.loads(body)
    assert v["saker_version"] == "0.1.0"
    assert v["kernel_release"] == os.uname().release
    assert re.fullmatch(r"v?\d+\.\d+(\.\d+)?", v["libbpf_version"])
    assert re.fullmatch(r"[0-9a-f]{16}", v["config_hash"])
    status, hdr, _ = get(port, "/metrics", method="POST")
    assert status == 405 and hdr["Allow"] == "GET"
    assert get(port, "/nothing")[0] == 404
    assert s.stop() == 0
    # another configuration, another hash
    s2, port2 = start_web(saker, "-o", "syscall_event_drops.rate=1")
    assert json.loads(get(port2, "/versions")[2])["config_hash"] != v["config_hash"]
    assert s2.stop() == 0


def test_healthz_fails_when_the_loop_is_stopped(saker):
    s, port = start_web(saker)
    status, _, body = wait_healthy(port)
    assert json.loads(body) == {"status": "ok"}
    s.signal(signal.SIGSTOP)
    try:
        time.sleep(2.6)
        # The request waits in the accept queue; the answer comes once saker runs again.
        c = socket.create_connection(("127.0.0.1", port), timeout=10)
        c.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
        time.sleep(0.2)
    finally:
        s.signal(signal.SIGCONT)
    data = b""
    while True:
        chunk = c.recv(4096)
        if not chunk:
            break
        data += chunk
    c.close()
    head, _, body = data.decode().partition("\r\n\r\n")
    assert head.startswith("HTTP/1.1 503") or head.startswith("HTTP/1.0 503"), head
    doc = json.loads(body)
    assert doc["status"] == "unhealthy"
    # a stopped loop neither ticks nor drains: either reason says so
    assert "stalled" in doc["reason"] or "not drained" in doc["reason"], doc
    # and healthy again once it ticks on time
    wait_healthy(port, timeout=5.0)
    assert s.stop() == 0


def test_not_reachable_on_a_non_loopback_address(saker):
    out = subprocess.run(["ip", "-4", "-o", "addr", "show"], capture_output=True,
                         text=True).stdout
    addrs = [m.group(1) for m in re.finditer(r"inet (\d+\.\d+\.\d+\.\d+)/", out)
             if not m.group(1).startswith("127.")]
    assert addrs, "this host has no non-loopback IPv4 address to test with:\n" + out
    s = saker("-o", "webserver.enabled=true", "-o", "webserver.prometheus_metrics_enabled=true")
    # the default: loopback, port 8765
    port = int(s.wait_for(PORT_RX).group(1))
    assert port == 8765
    wait_healthy(port)
    for a in addrs:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((a, port), timeout=5).close()
    assert s.stop() == 0


def test_counters_at_exit_agree_with_the_summary(saker, tmp_path):
    out = tmp_path / "metrics.jsonl"
    # log_level debug: the summary then shows the table internals compared below
    s, port = start_web(saker, *SMALL, "-o", "log_level=debug", "-o", "metrics.enabled=true",
                        "-o", "metrics.interval=1h", "-o", "metrics.output_file=%s" % out,
                        "-o", "metrics.include_empty_values=true",
                        "-o", "metrics.kernel_event_counters_per_cpu_enabled=true")
    # two flooders: one alone may not outrun saker on an idle machine
    procs = [subprocess.Popen([os.path.join(HELPERS, "flood"), "close", "3000000", "2.0"],
                              stdout=subprocess.DEVNULL) for _ in range(2)]
    for p in procs:
        assert p.wait(timeout=40) == 0
    s.wait_for(r"Saker internal: syscall event drop")
    assert s.stop() == 0
    lines = out.read_text().splitlines()
    assert len(lines) == 1, lines  # interval 1h: only the line written at exit
    doc = json.loads(lines[0])
    assert doc["rule"] == "Saker internal: metrics snapshot"
    m = doc["metrics"]
    st = summary(s.lines())
    fam = lambda name: sum(v for k, v in m.items() if k == name or k.startswith(name + "{"))
    assert m["events_total"] == st["events seen"]
    assert m["events_delivered_total"] == st["events delivered"]
    assert fam("drops_total") == st["events dropped"] > 0
    assert fam("cpu_events_total") == st["events seen"]
    assert m["drop_checks_total"] == st["drop checks"]
    assert m["drop_checks_fired_total"] == st["event drop detected"]
    assert m["drop_actions_taken_total"] == st["num times actions taken"]
    assert m["drop_checks_suppressed_total"] == st["suppressed by rate limit"]
    assert m["proc_table_entries"] == st["process table entries"]
    assert m["fd_table_failed_lookups_total"] == st["fd table failed lookups"]
    al = [l for l in s.lines() if l.startswith("Alerts: emitted")][0]
    assert m["alerts_emitted_total"] == int(re.search(r"emitted (\d+)", al).group(1))
    ch = [l for l in s.lines() if re.match(r"\s+- stdout: delivered", l)][0]
    assert m['alerts_delivered_total{channel="stdout"}'] == int(
        re.search(r"delivered (\d+)", ch).group(1))


def test_metrics_snapshot_alert_and_file(saker, tmp_path):
    out = tmp_path / "m.jsonl"
    s = saker("-o", "json_output=true", "-o", "metrics.enabled=true",
              "-o", "metrics.interval=1s", "-o", "metrics.output_file=%s" % out)
    # Some events of our own, so the counters have something to count on an idle machine
    # (the snapshot leaves zero values out).
    for _ in range(50):
        with open("/etc/hostname"):
            pass
    m = s.wait_for(r'^(?=.*"events_total")\{.*"rule":"Saker internal: metrics snapshot".*\}$',
                   which="out", timeout=10)
    doc = json.loads(m.group(0))
    assert doc["priority"] == "Informational"
    assert doc["source"] == "internal"
    assert doc["output"] == "Saker internal: metrics snapshot"
    f = doc["output_fields"]
    assert isinstance(f["events_total"], int) and f["events_total"] > 0
    # per-CPU counters are off by default in the snapshot (Falco's default) ...
    assert not [k for k in f if k.startswith("cpu_")]
    time.sleep(2.5)
    assert s.stop() == 0
    lines = out.read_text().splitlines()
    assert len(lines) >= 3  # at least two intervals and the line at exit
    docs = [json.loads(l) for l in lines]
    assert all(d["rule"] == "Saker internal: metrics snapshot" for d in docs)
    seen = [d["metrics"]["events_total"] for d in docs]
    assert seen == sorted(seen) and seen[-1] > 0
    # ... and zero values are left out unless include_empty_values
    assert all(v != 0 for d in docs for v in d["metrics"].values())


def test_slow_clients_do_not_delay_the_drop_check(saker):
    s, port = start_web(saker, "-o", "syscall_event_drops.simulate_drops=true",
                        "-o", "syscall_event_drops.actions=[log]",
                        "-o", "syscall_event_drops.rate=100",
                        "-o", "syscall_event_drops.max_burst=100")
    rx = re.compile(r"syscall event drop\. \d+ system calls dropped")
    s.wait_for(rx.pattern)
    socks = []
    try:
        # Half-open requests (never finished) and readers that never read.
        for i in range(60):
            try:
                c = socket.create_connection(("127.0.0.1", port), timeout=2)
            except OSError:
                continue
            if i % 4 == 0:
                c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
                c.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n" * 20)
            else:
                c.sendall(b"GET /metrics HTTP/1.1\r\nHo")
            socks.append(c)
        seen, times = len([l for l in s.lines() if rx.search(l)]), []
        t_end = time.monotonic() + 6.0
        while time.monotonic() < t_end:
            n = len([l for l in s.lines() if rx.search(l)])
            if n > seen:
                times.append(time.monotonic())
                seen = n
            time.sleep(0.02)
    finally:
        for c in socks:
            c.close()
    assert len(times) >= 4, times
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert max(gaps) < 1.6, gaps
    assert s.stop() == 0


def test_tls(saker, tmp_path):
    key, crt, pem = tmp_path / "k.pem", tmp_path / "c.pem", tmp_path / "saker.pem"
    r = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                        str(key), "-out", str(crt), "-days", "1", "-subj", "/CN=localhost"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    pem.write_text(key.read_text() + crt.read_text())
    s, port = start_web(saker, "-o", "webserver.ssl_enabled=true",
                        "-o", "webserver.ssl_certificate=%s" % pem)
    deadline = time.monotonic() + 10
    while get(port, "/healthz", tls=True)[0] != 200 and time.monotonic() < deadline:
        time.sleep(0.1)
    status, _, body = get(port, "/metrics", tls=True)
    assert status == 200 and "saker_events_total" in body
    # plain HTTP to the TLS port gets no HTTP answer
    with pytest.raises((http.client.HTTPException, ConnectionError, OSError)):
        st = get(port, "/healthz", timeout=3)
        assert st[0] != 200
        raise http.client.HTTPException("answered in plain text")
    assert s.stop() == 0


def free_port():
    with socket.socket() as so:
        so.bind(("127.0.0.1", 0))
        return so.getsockname()[1]


def prom_query(port, q):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request("GET", "/api/v1/query?" + urllib.parse.urlencode({"query": q}))
        r = c.getresponse()
        doc = json.loads(r.read().decode())
    finally:
        c.close()
    assert doc["status"] == "success", doc
    return [float(x["value"][1]) for x in doc["data"]["result"]]


def test_a_real_prometheus_scrapes_saker(saker):
    prom = shutil.which("prometheus")
    assert prom, "prometheus missing: scripts/deps.sh installs it"
    s, port = start_web(saker, *SMALL)
    wait_healthy(port)
    tmp = tempfile.mkdtemp(prefix="saker-prom-")
    pport = free_port()
    cfg = os.path.join(tmp, "prometheus.yml")
    with open(cfg, "w") as f:
        f.write("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                "scrape_configs:\n  - job_name: saker\n    static_configs:\n"
                "      - targets: ['127.0.0.1:%d']\n" % port)
    log = open(os.path.join(tmp, "prometheus.log"), "w")
    p = subprocess.Popen([prom, "--config.file=" + cfg, "--storage.tsdb.path=" + tmp + "/data",
                          "--web.listen-address=127.0.0.1:%d" % pport],
                         stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        up = []
        while time.monotonic() < deadline:
            try:
                up = prom_query(pport, 'up{job="saker"}')
                if up == [1.0]:
                    break
            except (OSError, http.client.HTTPException, ValueError):
                pass
            time.sleep(0.5)
        assert up == [1.0], "prometheus never scraped saker: %r" % up
        assert prom_query(pport, "saker_events_total")[0] > 0
        flood(seconds=2.0)
        drops = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            drops = prom_query(pport, "sum(saker_drops_total)")
            if drops and drops[0] > 0:
                break
            time.sleep(0.5)
        assert drops and drops[0] > 0, drops
        assert prom_query(pport, "saker_events_total")[0] > drops[0]
    finally:
        p.terminate()
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)
    assert s.stop() == 0


def test_drop_log_line_gives_sizing_advice(saker):
    s = saker(*SMALL)
    flood(seconds=2.0)
    m = s.wait_for(r"dropped in last second\..*? Ring high water (\d+) of 65536 bytes(.*)$")
    assert 0 < int(m.group(1)) <= 65536
    advice = m.group(2)
    # either a preset that would have held the window, or why none would
    a = re.search(r"peak demand about (\d+) bytes: buf_size_preset (\d+) \((\d+) MiB per ring\)"
                  r" would have held it\.$", advice)
    if a:
        assert int(a.group(1)) > 65536  # it dropped, so it needed more than the ring
        assert 1 <= int(a.group(2)) <= 10
        assert int(a.group(3)) * 1024 * 1024 >= int(a.group(1))
    else:
        assert re.search(r"no buffer size would have held this window|no buf_size_preset would",
                         advice), advice
    assert s.stop() == 0


def test_healthz_before_the_first_drain_counts_from_start(saker):
    # Polled from the moment the port is known: a "not drained" reason never names more
    # time than saker has been running (it used to count from boot).
    t0 = time.monotonic()
    s, port = start_web(saker, *SMALL)
    reasons = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        code, _, body = get(port, "/healthz")
        if code == 200:
            break
        reasons.append((time.monotonic() - t0, json.loads(body)["reason"]))
        time.sleep(0.02)
    assert code == 200, reasons
    for elapsed, reason in reasons:
        m = re.match(r"ring buffers not drained for ([0-9.]+) s", reason)
        assert not m or float(m.group(1)) <= elapsed, reasons
    assert s.stop() == 0
