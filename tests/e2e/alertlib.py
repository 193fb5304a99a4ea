"""The JSON alerts of a running saker (json_output=true), as the rules, replay and
container tests read them. Each alert is found by a unique token in its output and,
where given, its rule; a saker serving alerts is ready once an alert of a trigger's
own has come through, and it is stopped with its BPF programs checked gone."""
import contextlib
import json
import subprocess
import time
import uuid

from conftest import Saker, wait_detached


def token(prefix="saker-e2e-"):
    return prefix + uuid.uuid4().hex[:12]


def alerts_of(s):
    """The alerts saker s printed so far (a line that is not JSON is passed over)."""
    out = []
    for l in s.lines("out"):
        if l.startswith("{"):
            try:
                out.append(json.loads(l))
            except ValueError:
                pass
    return out


def find(s, tok, rule=None):
    return [a for a in alerts_of(s)
            if tok in a.get("output", "") and (rule is None or a["rule"] == rule)]


def wait_alert(s, tok, rule=None, timeout=30.0):
    """The first alert carrying tok (of rule, if given); fails after timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = find(s, tok, rule)
        if got:
            return got[0]
        assert s.proc.poll() is None, "\n".join(s.lines("err")[-20:])
        time.sleep(0.05)
    raise AssertionError("no alert %r for %s; alerts:\n%s\nstderr:\n%s" % (
        rule, tok, "\n".join(json.dumps(a) for a in alerts_of(s)[-10:]),
        "\n".join(s.lines("err")[-20:])))


class Alerts:
    """A module's running saker, as its tests ask it."""

    def __init__(self, s, rule=None):
        self.s = s
        self.rule = rule

    def all(self):
        return alerts_of(self.s)

    def find(self, tok, rule=None):
        return find(self.s, tok, rule)

    def wait(self, tok, rule=None, timeout=30.0):
        return wait_alert(self.s, tok, rule or self.rule, timeout)


def cat_shadow(tok):
    """Reads /etc/shadow with tok on the command line (Read Sensitive Credential File)."""
    subprocess.run(["/bin/cat", "/etc/shadow", "/" + tok], capture_output=True, timeout=30)


def wait_ready(s, trigger, timeout=60.0):
    """True once trigger(tok) has raised an alert carrying tok in saker s. log_level=warning
    keeps `started` out of the log, so an alert of our own is what says it is running."""
    deadline = time.monotonic() + timeout
    tok = token()
    while time.monotonic() < deadline:
        trigger(tok)
        if find(s, tok):
            return True
        assert s.proc.poll() is None, "\n".join(s.lines("err"))
        time.sleep(0.5)
    return False


def stop(s):
    """Stops saker s; (exit status, BPF programs of its still attached)."""
    rc = s.stop()
    return rc, wait_detached([s.proc.pid])


def start(args=(), trigger=cat_shadow):
    """A saker with JSON alerts, ready (see wait_ready); fails if it never alerts."""
    s = Saker(["-o", "json_output=true", "-o", "log_level=warning"] + list(args))
    if wait_ready(s, trigger):
        return s
    stop(s)
    raise AssertionError("saker did not alert: %s" % "\n".join(s.lines("err")[-20:]))


@contextlib.contextmanager
def serving(trigger=cat_shadow, rule=None):
    """Alerts of a saker running for the block (a module's tests share one: starting
    one costs seconds on a busy box); at the end it exits 0 and leaves no program."""
    s = Saker(["-o", "json_output=true", "-o", "log_level=warning"])
    try:
        wait_ready(s, trigger)
        yield Alerts(s, rule)
    finally:
        rc, left = stop(s)
    assert rc == 0, "\n".join(s.lines("err"))
    assert not left, left
