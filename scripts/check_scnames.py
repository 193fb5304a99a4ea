#!/usr/bin/env python3
"""The one syscall table: no C file spells a syscall's name.

include/saker_syscalls.def names the syscalls saker knows; everything else
gets a name or a number from it (lib/sctable.h) or from the uapi's list
(lib/sysnames.h). A string literal equal to one of those names in a .c or .h
of src/, bpf/ or include/ is a second table in the making: this check fails
on it, with file:line:col. Tests are not checked (they spell names to check
the table). Comments are skipped.

Usage: check_scnames.py [ROOT]     exit 1 and one line per violation
       check_scnames.py --selftest plants a violation in a copy, expects it found
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

DIRS = ("src", "bpf", "include")
DEF = "include/saker_syscalls.def"

# (literal, pattern of its line, why): words that are also syscall names but
# mean something else there. Keyed by the line, not the file, so that moving
# code does not break the check; an entry that matches nothing is an error.
ALLOW = (
    ("open", r'X\(OPEN, "open"\)', "Falco's drop category names"),
    ("close", r'X\(CLOSE, "close"\)', "Falco's drop category names"),
    ("execve", r'X\(EXECVE, "execve"\)', "Falco's drop category names"),
    ("connect", r'X\(CONNECT, "connect"\)', "Falco's drop category names"),
    ("bpf", r'\{"anon_inode:bpf", "bpf",', "fd.type of a bpf object descriptor"),
    ("socket", r'\{"socket:", "socket",', "fd.type of a socket"),
    ("exit", r'SAKER_DROP_ACT_EXIT\] = "exit"', "the drop action 'exit'"),
)


def allowed(s, line):
    for i, (lit, pat, _) in enumerate(ALLOW):
        if s == lit and re.search(pat, line):
            return i
    return None


def table_names(root):
    """The .def's row names, through the preprocessor (layout-proof)."""
    out = subprocess.run(
        ["cc", "-E", "-P", "-x", "c", "-I", os.path.join(root, "include"),
         "-DSC(nm,...)=@nm@", os.path.join(root, DEF)],
        check=True, capture_output=True, text=True).stdout
    names = set(re.findall(r"@(\w+)@", out))
    if len(names) < 10:
        sys.exit(f"check_scnames: only {len(names)} names read from {DEF}")
    return names


def literals(text):
    """(line, col, content) of each string literal, comments skipped."""
    i, n, line, bol = 0, len(text), 1, 0
    while i < n:
        c = text[i]
        if c == "\n":
            line, bol = line + 1, i + 1
            i += 1
        elif text.startswith("//", i):
            while i < n and text[i] != "\n":
                i += 1
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            end = n if end < 0 else end + 2
            line += text.count("\n", i, end)
            if "\n" in text[i:end]:
                bol = text.rfind("\n", i, end) + 1
            i = end
        elif c in "\"'":
            start, j = i, i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            if c == '"':
                yield line, start - bol + 1, text[start + 1:j]
            i = j + 1
        else:
            i += 1


def check(root):
    names, bad, used = table_names(root), [], set()
    for d in DIRS:
        for dirpath, _, files in os.walk(os.path.join(root, d)):
            for f in sorted(files):
                if not f.endswith((".c", ".h")):
                    continue
                path = os.path.join(dirpath, f)
                rel = os.path.relpath(path, root)
                with open(path, encoding="utf-8", errors="replace") as fh:
                    text = fh.read()
                lines = text.splitlines()
                for line, col, s in literals(text):
                    if s not in names:
                        continue
                    a = allowed(s, lines[line - 1])
                    if a is not None:
                        used.add(a)
                    else:
                        bad.append(f'{rel}:{line}:{col}: syscall name "{s}" spelled '
                                   f"outside {DEF} (use lib/sctable.h or lib/sysnames.h)")
    bad += [f"scripts/check_scnames.py: allow-list entry \"{ALLOW[i][0]}\" matches nothing "
            "(remove it)" for i in range(len(ALLOW)) if i not in used]
    return bad


def selftest(root):
    with tempfile.TemporaryDirectory() as tmp:
        for d in DIRS:
            shutil.copytree(os.path.join(root, d), os.path.join(tmp, d))
        clean = check(tmp)
        planted = os.path.join(tmp, "src", "lib", "planted.c")
        with open(planted, "w") as fh:
            fh.write('/* "openat" in a comment is fine */\n'
                     'static const char *s = "not a name \\" openat";\n'
                     'static const char c = \'"\';\n'
                     'int f(void) { return g("openat"); }\n')
        found = check(tmp)
    want = 'src/lib/planted.c:4:24: syscall name "openat"'
    if clean or len(found) != 1 or not found[0].startswith(want):
        print("check_scnames selftest FAILED:", clean, found, file=sys.stderr)
        return 1
    return 0


def main(argv):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if argv[1:2] == ["--selftest"]:
        return selftest(root)
    bad = check(argv[1] if len(argv) > 1 else root)
    for b in bad:
        print(b)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
