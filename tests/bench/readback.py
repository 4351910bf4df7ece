#!/usr/bin/env python3
"""The floor under --verify: read every file of a finished, synced copy back from
the device (its cached pages dropped first), on as many threads as convoy has
workers. `readback.py FOLDER [THREADS]`"""

import os
import sys
import threading


def files(root):
    stack = [root]
    while stack:
        with os.scandir(stack.pop()) as it:
            for e in it:
                if e.is_dir(follow_symlinks=False):
                    stack.append(e.path)
                elif e.is_file(follow_symlinks=False):
                    yield e.path


def read_back(paths):
    for p in paths:
        fd = os.open(p, os.O_RDONLY | os.O_NOFOLLOW)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            while os.read(fd, 1 << 20):
                pass
        finally:
            os.close(fd)


if __name__ == "__main__":
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 2 * os.cpu_count()
    paths = list(files(sys.argv[1]))
    threads = [threading.Thread(target=read_back, args=(paths[i::n],)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
