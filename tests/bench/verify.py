#!/usr/bin/env python3
"""Compares a copy with its source the way the tests do, so a fast but wrong copy
shows: content, permission bits, mtimes (ns) of files/folders/symlinks, link
targets, and missing entries. Usage: verify.py SRC DST -> one summary line."""
import filecmp
import os
import stat
import sys


def main(src, dst):
    bad = {"missing": 0, "content": 0, "mode": 0, "mtime": 0, "link": 0}
    total = 0
    for dirpath, dirnames, filenames in os.walk(src):
        for name in dirnames + filenames + ([""] if dirpath == src else []):
            s = os.path.join(dirpath, name) if name else dirpath
            rel = os.path.relpath(s, src)
            d = os.path.join(dst, rel) if rel != "." else dst
            total += 1
            try:
                sm, dm = os.lstat(s), os.lstat(d)
            except FileNotFoundError:
                bad["missing"] += 1
                continue
            if stat.S_ISLNK(sm.st_mode):
                if not stat.S_ISLNK(dm.st_mode) or os.readlink(s) != os.readlink(d):
                    bad["link"] += 1
            elif stat.S_ISREG(sm.st_mode):
                if not stat.S_ISREG(dm.st_mode) or not filecmp.cmp(s, d, shallow=False):
                    bad["content"] += 1
            if not stat.S_ISLNK(sm.st_mode) and stat.S_IMODE(sm.st_mode) != stat.S_IMODE(dm.st_mode):
                bad["mode"] += 1
            if sm.st_mtime_ns != dm.st_mtime_ns:
                bad["mtime"] += 1
    wrong = [f"{k} {v}" for k, v in bad.items() if v]
    print("exact" if not wrong else "differs: " + ", ".join(wrong) + f" (of {total})")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
