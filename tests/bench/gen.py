#!/usr/bin/env python3
"""Generates the benchmark's deterministic trees (same bytes, names and times
on every machine): `small`, `large`, `huge` and `million`. Usage:
gen.py small|large|huge|million DIR"""
import os
import random
import sys

MTIME = 1_600_000_000  # fixed times, so mtime checks compare like with like


def small(root):
    """~50,000 files of 1-16 KiB in 2,000 nested folders, symlinks, empty folders."""
    rng = random.Random(42)
    n = 0
    for a in range(20):
        for b in range(10):
            for c in range(10):
                d = os.path.join(root, f"a{a:02d}", f"b{b}", f"c{c}")
                os.makedirs(d, exist_ok=True)
                for i in range(25):
                    p = os.path.join(d, f"f{n:05d}.dat")
                    with open(p, "wb") as f:
                        f.write(rng.randbytes(rng.randint(1024, 16384)))
                    os.utime(p, ns=(MTIME * 10**9 + n, MTIME * 10**9 + n))
                    n += 1
    for i in range(20):
        os.symlink(f"b0/c0/f{i:05d}.dat", os.path.join(root, f"a{i:02d}", f"link{i}"))
    for i in range(10):
        os.makedirs(os.path.join(root, "empty", f"e{i}"))
    return n


def large(root):
    """4 files of 1 GiB of (pseudo-)random data."""
    rng = random.Random(7)
    os.makedirs(root, exist_ok=True)
    for i in range(4):
        p = os.path.join(root, f"big{i}.bin")
        with open(p, "wb") as f:
            for _ in range(16):
                f.write(rng.randbytes(64 * 1024 * 1024))
        os.utime(p, (MTIME, MTIME))
    return 4


def huge(root):
    """One file of 4 GiB of (pseudo-)random data: only chunking can split it."""
    rng = random.Random(9)
    os.makedirs(root, exist_ok=True)
    p = os.path.join(root, "huge.bin")
    with open(p, "wb") as f:
        for _ in range(64):
            f.write(rng.randbytes(64 * 1024 * 1024))
    os.utime(p, (MTIME, MTIME))
    return 1


def million(root):
    """1,000,000 files in 10,000 folders (100 x 100): every other file empty,
    the rest 1 KiB. What a file count, not bytes, costs."""
    data = bytes(random.Random(11).randbytes(1024))
    n = 0
    for a in range(100):
        for b in range(100):
            d = os.path.join(root, f"a{a:02d}", f"b{b:02d}")
            os.makedirs(d, exist_ok=True)
            for i in range(100):
                p = os.path.join(d, f"f{i:02d}")
                with open(p, "wb") as f:
                    if n % 2:
                        f.write(data)
                os.utime(p, ns=(MTIME * 10**9 + n, MTIME * 10**9 + n))
                n += 1
    return n


if __name__ == "__main__":
    kind, root = sys.argv[1], sys.argv[2]
    tmp = root + ".partial"
    os.makedirs(tmp, exist_ok=True)
    count = {"small": small, "large": large, "huge": huge, "million": million}[kind](tmp)
    os.rename(tmp, root)
    print(f"{kind}: {count} files in {root}")
