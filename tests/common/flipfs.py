#!/usr/bin/env python3
"""A pass-through FUSE filesystem that returns every file whose name ends in
`.flip` with its first byte inverted when read: a disk that takes data and
gives back something else, for convoy's --verify tests. Once a file named
`.healed` exists at the top of BACKING, reads are left alone (the disk was
replaced): what a retry after a failed verification meets.

    flipfs.py BACKING MOUNTPOINT      (runs in the foreground)
"""

import errno
import os
import sys

from fuse import FUSE, FuseOSError, Operations


class FlipFs(Operations):
    def __init__(self, root):
        self.root = root

    def _p(self, path):
        return os.path.join(self.root, path.lstrip("/"))

    def _call(self, f, *args):
        try:
            return f(*args)
        except OSError as e:
            raise FuseOSError(e.errno)

    def access(self, path, mode):
        if not os.access(self._p(path), mode):
            raise FuseOSError(errno.EACCES)

    def getattr(self, path, fh=None):
        st = self._call(os.lstat, self._p(path))
        keys = ("st_atime", "st_ctime", "st_gid", "st_mode", "st_mtime",
                "st_nlink", "st_size", "st_uid", "st_ino", "st_blocks")
        return {k: getattr(st, k) for k in keys}

    def readdir(self, path, fh):
        return [".", ".."] + self._call(os.listdir, self._p(path))

    def readlink(self, path):
        return self._call(os.readlink, self._p(path))

    def mkdir(self, path, mode):
        return self._call(os.mkdir, self._p(path), mode)

    def rmdir(self, path):
        return self._call(os.rmdir, self._p(path))

    def unlink(self, path):
        return self._call(os.unlink, self._p(path))

    def symlink(self, name, target):
        return self._call(os.symlink, target, self._p(name))

    def link(self, target, name):
        return self._call(os.link, self._p(name), self._p(target))

    def rename(self, old, new):
        return self._call(os.rename, self._p(old), self._p(new))

    def chmod(self, path, mode):
        return self._call(os.chmod, self._p(path), mode)

    def chown(self, path, uid, gid):
        return self._call(os.lchown, self._p(path), uid, gid)

    def utimens(self, path, times=None):
        try:
            os.utime(self._p(path), times, follow_symlinks=False)
        except OSError as e:
            raise FuseOSError(e.errno)

    def truncate(self, path, length, fh=None):
        with open(self._p(path), "r+b") as f:
            f.truncate(length)

    def create(self, path, mode, fi=None):
        return self._call(os.open, self._p(path),
                          os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)

    def open(self, path, flags):
        return self._call(os.open, self._p(path), flags & ~os.O_CREAT)

    def read(self, path, size, offset, fh):
        data = self._call(os.pread, fh, size, offset)
        healed = os.path.exists(os.path.join(self.root, ".healed"))
        if path.endswith(".flip") and offset == 0 and data and not healed:
            data = bytes([data[0] ^ 0xFF]) + data[1:]
        return data

    def write(self, path, data, offset, fh):
        return self._call(os.pwrite, fh, data, offset)

    def flush(self, path, fh):
        return 0

    def release(self, path, fh):
        return self._call(os.close, fh)

    def fsync(self, path, datasync, fh):
        return self._call(os.fsync, fh)

    def statfs(self, path):
        st = os.statvfs(self._p(path))
        keys = ("f_bavail", "f_bfree", "f_blocks", "f_bsize", "f_favail",
                "f_ffree", "f_files", "f_flag", "f_frsize", "f_namemax")
        return {k: getattr(st, k) for k in keys}


if __name__ == "__main__":
    FUSE(FlipFs(sys.argv[1]), sys.argv[2], foreground=True, nothreads=True)
