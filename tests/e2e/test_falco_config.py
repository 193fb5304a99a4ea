"""Issue 18: what a Falco user meets first. A configuration shaped like
Falco's stock falco.yaml (tests/e2e/falco_like.yaml) starts on a host without
/etc/falco (the embedded rules run) and loads Falco's rules once they are in
place; rule outputs carry no trailing newline; --dry-run's output reads back
with -c; rules: and -D/-T/-t select rules as Falco's documentation says."""
import json
import os
import re
import shutil
import subprocess
import time

import pytest

from conftest import LOG_DATE, ROOT, SAKER

FIXTURE = os.path.join(ROOT, "tests", "e2e", "falco_like.yaml")
FALCO_RULES = os.path.abspath(os.path.join(ROOT, "..", "shared", "reference",
                                           "falco_rules.yaml"))
# the live runs must not collide with other sessions' web servers, nor listen on 0.0.0.0
WEB = ["-o", "webserver.listen_port=0", "-o", "webserver.listen_address=127.0.0.1"]


def run(*args, timeout=60):
    return subprocess.run([SAKER] + list(args), capture_output=True, text=True,
                          timeout=timeout)


def no_etc_falco():
    if os.path.exists("/etc/falco"):
        pytest.skip("/etc/falco exists on this host")


def falco_tree(tmp_path):
    """The fixture with /etc/falco moved below tmp_path, Falco's rules file in place."""
    if not os.path.exists(FALCO_RULES):
        pytest.skip("%s absent" % FALCO_RULES)
    etc = tmp_path / "etc-falco"
    (etc / "rules.d").mkdir(parents=True)
    shutil.copy(FALCO_RULES, etc / "falco_rules.yaml")
    cfg = tmp_path / "falco.yaml"
    with open(FIXTURE) as f:
        cfg.write_text(f.read().replace("/etc/falco/", str(etc) + "/"))
    return cfg, etc


def test_stock_falco_yaml_starts_without_etc_falco(tmp_path):
    no_etc_falco()
    r = run("-c", FIXTURE, "--dry-run")
    assert r.returncode == 0, r.stderr
    assert "none of the configured files exists (/etc/falco/falco_rules.yaml, " \
        "/etc/falco/falco_rules.local.yaml, /etc/falco/rules.d); running the embedded " \
        "default ruleset instead" in r.stderr
    # every key is known to saker or named as a Falco key it does not implement
    assert "unknown key" not in r.stderr, r.stderr
    assert "key 'buffer_format_base64' is not supported by saker" in r.stderr
    assert "key 'metrics.kernel_iter_event_counters_enabled' is not supported by saker" \
        in r.stderr
    assert "disable_iterators" not in r.stderr, r.stderr  # implemented (0.44's key)
    # it shows what it watches
    assert re.search(r"^# rules: 11 loaded, 0 not loaded .*the embedded default ruleset$",
                     r.stdout, re.M), r.stdout
    assert re.search(r"^# syscalls: .*\bopenat\b", r.stdout, re.M)
    # what it printed is what it runs: no rules files
    assert re.search(r"^rules_files: \[\]$", r.stdout, re.M)
    back = tmp_path / "back.yaml"
    back.write_text(r.stdout)
    r2 = run("-c", str(back), "--dry-run")
    assert r2.returncode == 0, r2.stderr
    assert r2.stdout == r.stdout


def test_stock_falco_yaml_loads_falcos_rules_in_place(tmp_path):
    cfg, etc = falco_tree(tmp_path)
    r = run("-c", str(cfg), "--dry-run")
    assert r.returncode == 0, r.stderr
    # the missing local file is skipped with one warning naming it; the others load
    assert r.stderr.count("rules_files: skipping") == 1, r.stderr
    assert "skipping 1 that do not exist: %s/falco_rules.local.yaml" % etc in r.stderr
    m = re.search(r"^# rules: (\d+) loaded, (\d+) not loaded \(87 macros, 49 lists\)$",
                  r.stdout, re.M)
    assert m and int(m.group(1)) >= 22, r.stdout
    # the dump names the files used, and -c reads it back to the same run
    assert 'rules_files: ["%s/falco_rules.yaml", "%s/rules.d"]' % (etc, etc) in r.stdout
    back = tmp_path / "back.yaml"
    back.write_text(r.stdout)
    r2 = run("-c", str(back), "--dry-run")
    assert r2.returncode == 0, r2.stderr
    assert r2.stdout == r.stdout
    # -r replaces them; the dump says so (it used to print rules_files: [])
    r = run("-c", str(cfg), "-r", FALCO_RULES, "--dry-run")
    assert 'rules_files: ["%s"]' % FALCO_RULES in r.stdout


def test_rules_file_scalar_and_both_keys(tmp_path):
    if not os.path.exists(FALCO_RULES):
        pytest.skip("%s absent" % FALCO_RULES)
    c = tmp_path / "c.yaml"
    c.write_text("rules_file: %s\n" % FALCO_RULES)
    r = run("-c", str(c), "-L")
    assert r.returncode == 0, r.stderr
    assert len(r.stdout.splitlines()) >= 22
    r = run("-o", "rules_files=%s" % FALCO_RULES, "-L")
    assert r.returncode == 0, r.stderr
    assert len(r.stdout.splitlines()) >= 22
    r = run("-c", str(c), "-o", "rules_files=[%s]" % FALCO_RULES, "--dry-run")
    assert r.returncode == 1
    assert "both rules_files and rules_file are set" in r.stderr


def shadow_alert(s, tok):
    subprocess.run(["cat", "/etc/shadow", "/nonexistent-" + tok], capture_output=True)
    return s.wait_for(r"Sensitive credential file opened for reading.*%s" % tok, which="out",
                      timeout=30)


def test_stock_falco_yaml_live_3s_and_outputs_are_trimmed(saker):
    no_etc_falco()
    s = saker("-c", FIXTURE, *WEB)
    tok = "h18-%d" % os.getpid()
    t0 = time.monotonic()
    line = shadow_alert(s, tok).string
    # the embedded rules use output: > (a trailing newline Falco trims)
    assert not line.endswith("\\n") and not line.endswith(" "), line
    # suggested_output: true appends the container fields Falco's container plugin suggests
    assert line.endswith("container.id=host) container_id=host container_name=host"), line
    time.sleep(max(0.0, 3.0 - (time.monotonic() - t0)))
    assert s.proc.poll() is None, "\n".join(s.lines())
    assert s.stop() == 0
    # JSON, with append_output entries as a Falco user writes them
    s = saker("-c", FIXTURE, *WEB, "-o", "json_output=true",
              "-o", "append_output[]={match: {tags: [T1003], source: syscall}, "
              "extra_output: \"uid=%user.uid\", extra_fields: [proc.pid, {who: \"%proc.name!\"}]}",
              "-o", "append_output[]={match: {rule: Other}, extra_output: NOT-HERE}")
    tok = "h18j-%d" % os.getpid()
    a = json.loads(shadow_alert(s, tok).string)
    assert a["rule"] == "Read Sensitive Credential File"
    assert not a["output"].endswith("\n"), a
    assert a["output"].endswith("container.id=host) container_id=host container_name=host"
                                " uid=0"), a
    assert a["output_fields"]["who"] == "cat!", a
    assert isinstance(a["output_fields"]["proc.pid"], int), a
    assert a["output_fields"]["user.uid"] == 0, a
    assert "NOT-HERE" not in a["output"]
    assert s.stop() == 0


RULES = """\
- rule: shell a
  desc: d
  condition: evt.type = open
  output: o
  priority: INFO
  tags: [T1003, shell]
- rule: Shell b
  desc: d
  condition: evt.type = open
  output: o
  priority: INFO
  tags: [net]
- rule: other c
  desc: d
  condition: evt.type = open
  output: o
  priority: INFO
  enabled: false
  tags: [T1003]
"""


def names(r):
    assert r.returncode == 0, r.stderr
    return [l.split("\t")[0] for l in r.stdout.splitlines()]


def test_rules_selection_as_falco_documents_it(tmp_path):
    f = tmp_path / "r.yaml"
    f.write_text(RULES)
    R = ["-r", str(f), "-L"]
    assert names(run(*R)) == ["shell a", "Shell b"]
    # rules: in order; enabling overrides the file's enabled: false
    c = tmp_path / "c.yaml"
    c.write_text("rules:\n  - disable:\n      rule: \"*\"\n  - enable:\n      tag: T1003\n")
    assert names(run("-c", str(c), *R)) == ["shell a", "other c"]
    assert names(run(*R, "-o", "rules[0].disable.rule=*",
                     "-o", "rules[1].enable.rule=Shell ?")) == ["Shell b"]
    # -D: name contains (case matters), -T: tag, -t: only the tag
    assert names(run(*R, "-D", "hell")) == []
    assert names(run(*R, "-D", "Shell")) == ["shell a"]
    assert names(run(*R, "-T", "shell")) == ["Shell b"]
    assert names(run(*R, "-t", "T1003")) == ["shell a", "other c"]
    assert names(run(*R, "-t", "net", "-t", "shell")) == ["shell a", "Shell b"]
    r = run(*R, "-D", "x", "-t", "net")
    # an Error line through the logger (date and severity), as every other
    assert r.returncode == 1
    assert re.fullmatch(LOG_DATE + r": Error: -D/-T \(disable\) and -t \(run only\) cannot be "
                        r"combined\n", r.stderr), r.stderr
    # a selection that matches nothing is a warning; the dry run shows the items and why
    r = run(*R, "-T", "nosuch")
    assert "disable tag nosuch matches no rule" in r.stderr
    r = run("-r", str(f), "--dry-run", "-t", "net")
    assert "rules: [{disable: {rule: \"*\"}}, {enable: {tag: \"net\"}}]" in r.stdout
    assert "#   disabled: %s:1:9: rule 'shell a': disabled by the rules selection" % f \
        in r.stdout


def test_validate_fails_on_typos_and_names_falco_fields(tmp_path):
    typo = tmp_path / "typo.yaml"
    typo.write_text("- rule: t\n  desc: d\n  condition: evt.type = open and proc.nmae = a\n"
                    "  output: o\n  priority: INFO\n")
    r = run("-V", str(typo))
    assert r.returncode == 1
    assert "Error: %s:3:34: rule 't': unknown field 'proc.nmae'" % typo in r.stderr, r.stderr
    assert "%s: Invalid" % typo in r.stdout
    op = tmp_path / "op.yaml"
    op.write_text("- rule: t\n  desc: d\n  condition: evt.type = open and proc.name is a\n"
                  "  output: o\n  priority: INFO\n")
    r = run("-V", str(op))
    assert r.returncode == 1
    assert "rule 't': unknown operator 'is'" in r.stderr, r.stderr
    # skip-if-unknown-filter: true turns the failure into a skip, as in Falco
    op.write_text(op.read_text() + "  skip-if-unknown-filter: true\n")
    r = run("-V", str(op))
    assert r.returncode == 0, r.stderr
    assert "Ok (0 rules loaded, 1 not loaded)" in r.stdout
    # a field Falco has and saker lacks is named so, and only skips the rule
    falco = tmp_path / "falco.yaml"
    falco.write_text("- rule: f\n  desc: d\n  condition: evt.type = open and proc.vpid = 1\n"
                     "  output: o\n  priority: INFO\n"
                     "- rule: g\n  desc: d\n  condition: evt.type = open\n"
                     "  output: o %evt.buffer\n  priority: INFO\n")
    r = run("-V", str(falco))
    assert r.returncode == 0, r.stderr
    assert "field 'proc.vpid' is not supported by saker" in r.stderr
    assert "field 'evt.buffer' is not supported by saker" in r.stderr
    assert "unknown field" not in r.stderr
