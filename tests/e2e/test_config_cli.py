"""Issue 9 item 6 through the binary (no BPF is loaded): the README's -o
example as written there, Falco's -o forms, and --dry-run opening the files
a run would use."""
import os
import re
import select
import shlex
import subprocess
import tempfile

from conftest import ROOT, SAKER


def run(*args):
    return subprocess.run([SAKER] + list(args), capture_output=True, text=True, timeout=30)


def test_readme_custom_set_example_works_literally():
    with open(os.path.join(ROOT, "README.md")) as f:
        readme = f.read()
    m = re.search(r"`(-o '[^`]*base_syscalls\.custom_set=[^`]*')`", readme)
    assert m, "README lost its base_syscalls.custom_set example"
    argv = shlex.split(m.group(1))
    assert argv == ["-o", "base_syscalls.custom_set=[read, !close]"]
    r = run("--dry-run", *argv)
    assert r.returncode == 0, r.stderr
    assert 'custom_set: ["read", "!close"]' in r.stdout


def test_falco_override_forms():
    r = run("--dry-run", "-o", "base_syscalls.custom_set[0]=read",
            "-o", "base_syscalls.custom_set[1]=!close",
            "-o", "engine={kind: kmod, modern_ebpf: {buf_size_preset: 3}}")
    assert r.returncode == 0, r.stderr
    assert 'custom_set: ["read", "!close"]' in r.stdout
    assert "buf_size_preset: 3" in r.stdout
    assert 'kind: "modern_ebpf"' in r.stdout
    assert "engine.kind 'kmod': saker has no kernel module driver, using modern_ebpf" in r.stderr


def test_bad_name_and_small_ring_are_refused_with_position():
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        f.write("base_syscalls:\n  custom_set: [read, nosuch]\n")
        path = f.name
    try:
        r = run("--dry-run", "-c", path)
        assert r.returncode == 1
        assert "Error: %s:2:22: base_syscalls.custom_set: unknown syscall 'nosuch'" % path \
            in r.stderr
    finally:
        os.unlink(path)
    r = run("--dry-run", "-o", "engine.modern_ebpf.buf_size=4096")
    assert r.returncode == 1
    assert "cannot hold the largest record" in r.stderr


def test_dry_run_opens_the_file_output_without_leaving_anything():
    d = tempfile.mkdtemp(prefix="saker-dry-")
    try:
        bad = os.path.join(d, "missing", "events.log")
        r = run("--dry-run", "-o", "file_output.enabled=true", "-o", "file_output.filename=" + bad)
        assert r.returncode == 1
        assert "Error: file_output.filename: %s: No such file or directory" % os.path.dirname(bad) \
            in r.stderr
        assert r.stdout == ""
        good = os.path.join(d, "events.log")
        r = run("--dry-run", "-o", "file_output.enabled=true", "-o", "file_output.filename=" + good)
        assert r.returncode == 0, r.stderr
        assert not os.path.exists(good), "--dry-run left the file it checked"
        assert os.listdir(d) == []
    finally:
        for root, dirs, files in os.walk(d, topdown=False):
            for n in files:
                os.unlink(os.path.join(root, n))
            for n in dirs:
                os.rmdir(os.path.join(root, n))
        os.rmdir(d)


def test_dry_run_refuses_a_planted_symlink_without_opening_it():
    """Issue 14 item 5: the live start refuses a symlink as the file output
    (O_NOFOLLOW, lib/safefile.c); --dry-run must refuse it too and never open
    its target. The target is a FIFO with a reader: a writer that opened it
    and went away leaves POLLHUP behind, so even an open without a write is
    seen. A regular target keeps its content and size."""
    d = tempfile.mkdtemp(prefix="saker-dry-")
    fifo = os.path.join(d, "target.fifo")
    reg = os.path.join(d, "target.txt")
    link = os.path.join(d, "events.log")
    os.mkfifo(fifo, 0o600)
    rfd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        with open(reg, "w") as f:
            f.write("kept\n")
        for target in (fifo, reg):
            os.symlink(target, link)
            r = run("--dry-run", "-o", "file_output.enabled=true",
                    "-o", "file_output.filename=" + link)
            assert r.returncode == 1, (r.stdout, r.stderr)
            assert "Error: file_output.filename: %s is a symbolic link: refused" % link \
                in r.stderr
            assert r.stdout == ""
            os.unlink(link)
        p = select.poll()
        p.register(rfd, select.POLLIN)
        assert p.poll(0) == [], "--dry-run opened the symlink's target (a FIFO) for writing"
        with open(reg) as f:
            assert f.read() == "kept\n"
        # The ledger is a file the run appends to as well: the same refusal.
        os.symlink(reg, link)
        r = run("--dry-run", "-o", "syscall_event_drops.ledger=" + link)
        assert r.returncode == 1, (r.stdout, r.stderr)
        assert "Error: syscall_event_drops.ledger: %s is a symbolic link: refused" % link \
            in r.stderr
    finally:
        os.close(rfd)
        for n in os.listdir(d):
            os.unlink(os.path.join(d, n))
        os.rmdir(d)
