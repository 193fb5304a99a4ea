"""Issue 9 item 8: `make install` into a DESTDIR; the systemd unit passes
`systemd-analyze verify` without a warning, and saker(8) renders without a
warning and documents every option `saker --help` lists. No BPF is loaded."""
import os
import re
import shutil
import subprocess
import tempfile

import pytest

from conftest import ROOT, SAKER

PREFIX = "/usr/local"


@pytest.fixture(scope="module")
def dest():
    d = tempfile.mkdtemp(prefix="saker-install-")
    r = subprocess.run(["make", "-s", "--no-print-directory", "install", "DESTDIR=" + d],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    yield d
    shutil.rmtree(d, ignore_errors=True)


def p(dest, path):
    return os.path.join(dest, path.lstrip("/"))


def test_files_and_modes(dest):
    want = {PREFIX + "/sbin/saker": 0o755, "/etc/saker/saker.yaml": 0o644,
            PREFIX + "/lib/systemd/system/saker.service": 0o644,
            PREFIX + "/share/man/man8/saker.8": 0o644,
            "/etc/saker/rules.d/saker_rules.yaml": 0o644}
    for path, mode in want.items():
        st = os.stat(p(dest, path))
        assert st.st_mode & 0o777 == mode, (path, oct(st.st_mode))
    with open(p(dest, "/etc/saker/saker.yaml")) as a, open(os.path.join(ROOT, "etc/saker.yaml")) as b:
        assert a.read() == b.read()
    r = subprocess.run([p(dest, PREFIX + "/sbin/saker"), "--version"], capture_output=True,
                       text=True)
    assert r.returncode == 0 and r.stdout.startswith("saker ")
    # the shipped default ruleset is the embedded one
    rules = p(dest, "/etc/saker/rules.d/saker_rules.yaml")
    with open(rules) as a, open(os.path.join(ROOT, "etc/rules/saker_rules.yaml")) as b:
        assert a.read() == b.read()
    listed = []
    for args in (["-L"], ["-r", p(dest, "/etc/saker/rules.d"), "-L"]):
        r = subprocess.run([p(dest, PREFIX + "/sbin/saker")] + args, capture_output=True,
                           text=True)
        assert r.returncode == 0, r.stderr
        listed.append([l.split("\t")[0] for l in r.stdout.splitlines()])
    assert listed[0] == listed[1] and len(listed[0]) >= 10


def unit_keys(dest):
    keys = {}
    with open(p(dest, PREFIX + "/lib/systemd/system/saker.service")) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith(("#", "[")):
                k, _, v = line.partition("=")
                keys[k] = v
    return keys


def test_unit_sandbox(dest):
    k = unit_keys(dest)
    assert k["ExecStart"] == PREFIX + "/sbin/saker -c /etc/saker/saker.yaml"
    assert k["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert k["Restart"] == "on-failure"
    assert set(k["CapabilityBoundingSet"].split()) == {
        "CAP_BPF", "CAP_PERFMON", "CAP_SYS_RESOURCE", "CAP_SYS_NICE", "CAP_DAC_READ_SEARCH",
        "CAP_SYS_PTRACE",
        "CAP_SETUID", "CAP_SETGID", "CAP_SETPCAP"}
    for key, val in (("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"),
                     ("PrivateTmp", "yes"), ("ProtectHome", "read-only"),
                     ("LogsDirectory", "saker")):
        assert k[key] == val, key
    assert "@" not in "".join(k.values()), "an unsubstituted @PLACEHOLDER@"


def verify_copy(dest):
    """The unit with its paths pointed into DESTDIR (verify checks that ExecStart exists)."""
    with open(p(dest, PREFIX + "/lib/systemd/system/saker.service")) as f:
        text = f.read()
    text = text.replace("ExecStart=" + PREFIX, "ExecStart=" + p(dest, PREFIX))
    text = text.replace("-c /etc/saker/", "-c " + p(dest, "/etc/saker/"))
    path = os.path.join(dest, "verify", "saker.service")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    return path


def test_systemd_analyze_verify(dest):
    assert shutil.which("systemd-analyze"), "systemd-analyze missing: run `make deps`"
    unit = verify_copy(dest)
    env = dict(os.environ, MANPATH=p(dest, PREFIX + "/share/man"))
    r = subprocess.run(["systemd-analyze", "verify", unit], capture_output=True, text=True,
                       env=env, timeout=60)
    assert r.returncode == 0 and r.stderr.strip() == "", r.stderr
    # the check can fail: Documentation=man:saker(8) must be found
    env["MANPATH"] = os.path.join(dest, "nonexistent")
    r = subprocess.run(["systemd-analyze", "verify", unit], capture_output=True, text=True,
                       env=env, timeout=60)
    assert r.returncode != 0 and "saker(8)" in r.stderr
    r = subprocess.run(["systemd-analyze", "security", "--offline=yes", unit],
                       capture_output=True, text=True, timeout=60)
    m = re.search(r"Overall exposure level for saker.service: ([0-9.]+)", r.stdout + r.stderr)
    assert m, r.stdout + r.stderr
    assert float(m.group(1)) <= 5.0, m.group(0)


def test_man_page_renders_and_documents_the_options(dest):
    page = p(dest, PREFIX + "/share/man/man8/saker.8")
    r = subprocess.run(["man", "--warnings", "-l", page], capture_output=True, text=True,
                       env=dict(os.environ, MANWIDTH="80", MAN_KEEP_FORMATTING="0"), timeout=60)
    assert r.returncode == 0 and r.stderr.strip() == "", r.stderr
    text = re.sub(r".\x08", "", r.stdout)
    for section in ("NAME", "SYNOPSIS", "OPTIONS", "CONFIGURATION", "SIGNALS", "EXIT STATUS"):
        assert re.search(r"^%s$" % section, text, re.M), section
    help_text = subprocess.run([SAKER, "--help"], capture_output=True, text=True).stdout
    opts = set(re.findall(r"(?<![\w-])(--?[A-Za-z][\w-]*)", help_text))
    assert {"-c", "-o", "--dry-run", "--dump", "-U", "--help", "--version"} <= opts
    for o in opts:
        assert o in text, "saker(8) does not document %s" % o
    for sig in ("SIGINT", "SIGTERM", "SIGHUP", "SIGUSR1"):
        assert sig in text
    for status in ("0", "1", "3"):
        assert re.search(r"^\s+%s\s+\S" % status, text[text.index("EXIT STATUS"):], re.M), \
            "exit status %s" % status


def man_source(section=None):
    """man/saker.8 as plain words: fonts and escapes removed (a section's text when named)."""
    with open(os.path.join(ROOT, "man", "saker.8")) as f:
        src = f.read()
    if section:
        src = src[src.index(".SH " + section + "\n"):]
        src = src[:src.index("\n.SH ", 1)]
    src = "\n".join(l for l in src.split("\n") if not l.startswith('.\\"'))  # comments
    src = re.sub(r"\\f[BIRP]", "", src)
    return src.replace("\\-", "-").replace("\\(dq", '"').replace("\\ ", " ")


def doc_keys(path, heading):
    """The keys in the first column of the table after `heading` in a docs/ file."""
    with open(os.path.join(ROOT, "docs", path)) as f:
        text = f.read()
    keys = []
    for line in text[text.index(heading + "\n"):].split("\n")[1:]:
        if line.startswith("| `"):
            keys += re.findall(r"`([a-z0-9_.]+)`", line.split("|")[1])
        elif keys and not line.startswith("|"):
            break
    return keys


def test_man_page_has_every_documented_key():
    keys = doc_keys("config.md", "## Keys") + doc_keys("metrics.md", "## Configuration")
    assert len(keys) > 80 and "webserver.enabled" in keys and "rules_files" in keys
    words = set(re.findall(r"[a-z0-9_.]+", man_source()))
    missing = [k for k in keys if k not in words]
    assert not missing, "saker(8) lacks keys of docs/config.md, docs/metrics.md: %s" % missing
    # the page stands alone: the docs are not installed
    assert "docs/" not in man_source()
    # and its key reference is the one the tables give
    r = subprocess.run([os.path.join(ROOT, "scripts", "gen_man_keys.py"), "--check"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_man_synopsis_has_every_option_main_accepts():
    with open(os.path.join(ROOT, "src", "app", "main.c")) as f:
        main_c = f.read()
    short = re.search(r'getopt_long\(argc, argv, "([^"]+)"', main_c).group(1)
    opts = ["-" + c for c in short.replace(":", "")]
    opts += ["--" + n for n in re.findall(r'\{"([a-z-]+)", (?:no|required|optional)_argument',
                                           main_c)]
    assert {"-c", "-r", "-L", "-V", "--list", "--dry-run"} <= set(opts), opts
    synopsis = man_source("SYNOPSIS")
    missing = [o for o in opts if not re.search(r"(?<![\w-])%s(?![\w-])" % re.escape(o),
                                                synopsis)]
    assert not missing, "saker(8) SYNOPSIS lacks %s" % missing


def test_edited_configuration_is_kept(dest):
    conf = p(dest, "/etc/saker/saker.yaml")
    rules = p(dest, "/etc/saker/rules.d/saker_rules.yaml")
    for path in (conf, rules):
        with open(path, "a") as f:
            f.write("# edited\n")
    r = subprocess.run(["make", "-s", "--no-print-directory", "install", "DESTDIR=" + dest],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    for path in (conf, rules):
        with open(path) as f:
            assert f.read().endswith("# edited\n")
        assert os.path.exists(path + ".new")
    # the .new copy is not a rules file: the directory still loads each rule once
    r = subprocess.run([p(dest, PREFIX + "/sbin/saker"), "-r", p(dest, "/etc/saker/rules.d"),
                        "-L"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    names = [l.split("\t")[0] for l in r.stdout.splitlines()]
    assert len(names) >= 10 and len(names) == len(set(names))
    assert all(".new" not in l for l in r.stdout.splitlines())


def with_etc(layer, args):
    """saker with `layer` laid over /etc in a private mount namespace (the host's /etc is
    untouched, so other sessions do not see /etc/saker)."""
    cmd = "mount -t overlay overlay -o lowerdir=%s:/etc /etc && exec %s %s" % (
        layer, SAKER, " ".join(args))
    return subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", cmd],
                          capture_output=True, text=True, timeout=60)


def test_installed_rules_dir_is_read_by_default(tmp_path):
    d = tmp_path / "saker" / "rules.d"
    d.mkdir(parents=True)
    (d / "local.yaml").write_text("- rule: Local Only\n  desc: d\n  condition: evt.type = open\n"
                                  "  output: local\n  priority: WARNING\n")
    (d / "local.yaml.new").write_text("- rule: Not Read\n")
    r = with_etc(str(tmp_path), ["-L"])
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["Local Only\tWarning\t/etc/saker/rules.d/local.yaml:1"]
    # configured rules replace it, as -r does
    other = tmp_path / "other.yaml"
    other.write_text("- rule: Other\n  desc: d\n  condition: evt.type = open\n  output: o\n"
                     "  priority: ERROR\n")
    for args in (["-r", str(other), "-L"], ["-o", "rules_files=[%s]" % other, "-L"]):
        r = with_etc(str(tmp_path), args)
        assert r.returncode == 0, r.stderr
        assert [l.split("\t")[0] for l in r.stdout.splitlines()] == ["Other"], args
    # without the directory: the embedded ruleset
    if not os.path.isdir("/etc/saker/rules.d"):
        r = subprocess.run([SAKER, "-L"], capture_output=True, text=True)
        assert "<embedded saker_rules.yaml>" in r.stdout
