#!/usr/bin/env python3
"""Size gates: no .c file over MAX_FILE lines, no function over MAX_FUNC lines.

A function's length is its body, from the line with its opening '{' (column 0,
as clang-format writes every definition here) to its closing '}' inclusive.
Exceptions are listed in the allow-list, one per line, each with its reason:
    path            reason       (a file allowed over MAX_FILE lines)
    path:function   reason       (a function allowed over MAX_FUNC lines)
An entry that no longer exceeds its limit is reported so the list can shrink;
it does not fail the check (other work may shrink a file at any time).
Usage: check_size.py [--allow FILE] DIR...   (exit 1 and one line per violation)
"""
import os
import re
import sys

MAX_FILE = 900
MAX_FUNC = 80

NAME = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*\(")


def functions(lines):
    """(name, first body line, length) of every function definition."""
    sig = None
    start = None
    for i, line in enumerate(lines):
        if start is None:
            if line.startswith("{"):
                start = i
                continue
            if line and not line[0].isspace() and line[0] not in "#}/*":
                sig = line
        elif line.startswith("}"):
            if sig:
                text = re.sub(r"__attribute__\s*\(\(.*?\)\)\s*", "", sig)
                m = NAME.search(text)
                if m:
                    yield m.group(1), start + 1, i - start + 1
            start = sig = None


def read_allow(path):
    allow = {}
    bad = []
    if not path or not os.path.exists(path):
        return allow, bad
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            parts = line.split(None, 1)
            if len(parts) < 2:
                bad.append("%s:%d: '%s' gives no reason" % (path, n, parts[0]))
                continue
            allow[parts[0]] = n
    return allow, bad


def main(argv):
    allow_path = None
    if len(argv) > 2 and argv[1] == "--allow":
        allow_path = argv[2]
        argv = argv[2:]
    allow, errors = read_allow(allow_path)
    used = set()
    for top in argv[1:]:
        for dirpath, _, names in sorted(os.walk(top)):
            for name in sorted(names):
                if not name.endswith(".c"):
                    continue
                path = os.path.normpath(os.path.join(dirpath, name))
                with open(path, errors="replace") as f:
                    lines = f.read().split("\n")
                if lines and lines[-1] == "":
                    lines.pop()
                if len(lines) > MAX_FILE:
                    if path in allow:
                        used.add(path)
                    else:
                        errors.append("%s: %d lines (at most %d; split it or list it with "
                                      "a reason in %s)" % (path, len(lines), MAX_FILE,
                                                           allow_path))
                for fn, line, length in functions(lines):
                    if length <= MAX_FUNC:
                        continue
                    key = "%s:%s" % (path, fn)
                    if key in allow:
                        used.add(key)
                    else:
                        errors.append("%s:%d: %s() is %d lines (at most %d; split it or list "
                                      "it with a reason in %s)" % (path, line, fn, length,
                                                                   MAX_FUNC, allow_path))
    for key in sorted(set(allow) - used):
        print("%s:%d: note: %s is within its limit now: remove it from the list"
              % (allow_path, allow[key], key))
    for e in errors:
        print(e)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
