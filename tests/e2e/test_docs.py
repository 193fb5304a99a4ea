"""The documentation against the binary: every metric family /metrics exposes is in
docs/metrics.md and every family documented there is exposed."""
import os
import re
import shutil
import subprocess
import time
import http.client

from conftest import ROOT

DOCS = os.path.join(ROOT, "docs")


def _expand(span):
    """`saker_a_{b,c}_total` -> [saker_a_b_total, saker_a_c_total] (identifier lists only)."""
    m = re.search(r"\{([a-z0-9_]+(?:,[a-z0-9_]+)+)\}", span)
    if not m:
        return [span]
    out = []
    for alt in m.group(1).split(","):
        out += _expand(span[:m.start()] + alt + span[m.end():])
    return out


def documented_families():
    with open(os.path.join(DOCS, "metrics.md")) as f:
        text = f.read()
    ref = text[text.index("## Metric reference"):text.index("## Metrics snapshot")]
    names = set()
    for span in re.findall(r"`([^`\n]+)`", ref):
        for s in _expand(span):
            names.update(re.findall(r"\bsaker_[a-z0-9_]*[a-z0-9]\b", s))
    return names


def scrape(port):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request("GET", "/metrics")
        r = c.getresponse()
        assert r.status == 200
        return r.read().decode()
    finally:
        c.close()


def test_metrics_doc_matches_endpoint(saker, tmp_path):
    # Every optional family on: per-CPU counters, --dump, -w, nats_output.
    with open(os.devnull, "w") as devnull:
        s = saker("-o", "webserver.enabled=true", "-o", "webserver.listen_port=0",
                  "-o", "webserver.prometheus_metrics_enabled=true",
                  "-o", "metrics.kernel_event_counters_per_cpu_enabled=true",
                  # nats_output's families: no server there, the messages are spooled
                  "-o", "nats_output.enabled=true",
                  "-o", "nats_output.servers=[nats://127.0.0.1:9]",
                  "-o", "nats_output.spool_dir=" + str(tmp_path / "spool"),
                  "--dump", "-w", str(tmp_path / "cap"), stdout=devnull)
        port = int(s.wait_for(r"web server listening on 127\.0\.0\.1 port (\d+)").group(1))
        # The ring high-water families come after the first whole drop-check window.
        deadline = time.monotonic() + 30
        while True:
            text = scrape(port)
            if "saker_ring_high_water_bytes" in text or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert s.stop() == 0
    exposed = set(re.findall(r"^# TYPE (saker_[a-z0-9_]+) ", text, re.M))
    documented = documented_families()
    assert len(exposed) > 50, text[:2000]
    assert exposed - documented == set(), "exposed by /metrics but not in docs/metrics.md"
    assert documented - exposed == set(), "in docs/metrics.md but not exposed by /metrics"
    if shutil.which("promtool"):
        r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr
