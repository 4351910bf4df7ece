//! The file-system calls the engine makes, in one place, each tried again when
//! interrupted. A signal, or a network or FUSE filesystem whose request was
//! interrupted, makes a call fail with EINTR although nothing is wrong; failing
//! the entry for it would be a false alarm. The retries are bounded, so a call
//! that keeps failing this way ends as an error instead of a hang. (Reading a
//! folder's entries goes through rustix's `Dir`, which retries by itself.)

use std::ffi::CString;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::fs::{
    self as rfs, AtFlags, Gid, Mode, OFlags, RenameFlags, ResolveFlags, SeekFrom, Stat, Timestamps,
    Uid,
};
use rustix::io::{Errno, Result};
use rustix::path::Arg;

use crate::retry::RETRIES;

pub(crate) fn retry<T>(mut call: impl FnMut() -> Result<T>) -> Result<T> {
    let mut left = RETRIES;
    loop {
        match call() {
            Err(Errno::INTR) if left > 0 => left -= 1,
            r => return r,
        }
    }
}

pub(crate) fn open<P: Arg + Copy>(path: P, flags: OFlags, mode: Mode) -> Result<OwnedFd> {
    retry(|| rfs::open(path, flags, mode))
}

pub(crate) fn openat<D: AsFd, P: Arg + Copy>(
    dir: D,
    path: P,
    flags: OFlags,
    mode: Mode,
) -> Result<OwnedFd> {
    retry(|| rfs::openat(dir.as_fd(), path, flags, mode))
}

pub(crate) fn openat2<D: AsFd, P: Arg + Copy>(
    dir: D,
    path: P,
    flags: OFlags,
    mode: Mode,
    resolve: ResolveFlags,
) -> Result<OwnedFd> {
    retry(|| rfs::openat2(dir.as_fd(), path, flags, mode, resolve))
}

/// A folder's entries, read through its own handle (rustix's `Dir::read_from`
/// would reopen the folder without retrying; reading retries by itself).
pub(crate) fn read_dir<D: AsFd>(dir: D) -> Result<rfs::Dir> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    rfs::Dir::new(openat(dir, ".", flags, Mode::empty())?)
}

pub(crate) fn statat<D: AsFd, P: Arg + Copy>(dir: D, path: P, flags: AtFlags) -> Result<Stat> {
    retry(|| rfs::statat(dir.as_fd(), path, flags))
}

pub(crate) fn fstat<D: AsFd>(fd: D) -> Result<Stat> {
    retry(|| rfs::fstat(fd.as_fd()))
}

pub(crate) fn mkdirat<D: AsFd, P: Arg + Copy>(dir: D, path: P, mode: Mode) -> Result<()> {
    retry(|| rfs::mkdirat(dir.as_fd(), path, mode))
}

pub(crate) fn unlinkat<D: AsFd, P: Arg + Copy>(dir: D, path: P, flags: AtFlags) -> Result<()> {
    retry(|| rfs::unlinkat(dir.as_fd(), path, flags))
}

pub(crate) fn renameat<D: AsFd, P: Arg + Copy, Q: Arg + Copy>(
    dir: D,
    from: P,
    to_dir: D,
    to: Q,
) -> Result<()> {
    retry(|| rfs::renameat(dir.as_fd(), from, to_dir.as_fd(), to))
}

pub(crate) fn renameat_with<D: AsFd, P: Arg + Copy, Q: Arg + Copy>(
    dir: D,
    from: P,
    to_dir: D,
    to: Q,
    flags: RenameFlags,
) -> Result<()> {
    retry(|| rfs::renameat_with(dir.as_fd(), from, to_dir.as_fd(), to, flags))
}

/// Renames without ever replacing what is at `to`: `RENAME_NOREPLACE`, or
/// where the filesystem refuses the flag (FUSE), a look first and then a
/// plain rename. The look leaves a moment in which a new entry could be
/// replaced, so this is for names nobody else writes (a temporary of this run,
/// a name in the backup folder); a copy's final names go through
/// `temp_entry::rename_noreplace`, which prefers a hard link there.
pub(crate) fn rename_noreplace_or_look<P: Arg + Copy, Q: Arg + Copy>(
    dir: BorrowedFd<'_>,
    from: P,
    to_dir: BorrowedFd<'_>,
    to: Q,
) -> Result<()> {
    match renameat_with(dir, from, to_dir, to, RenameFlags::NOREPLACE) {
        Err(Errno::INVAL | Errno::NOSYS | Errno::OPNOTSUPP) => {
            match statat(to_dir, to, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(_) => Err(Errno::EXIST),
                Err(Errno::NOENT) => renameat(dir, from, to_dir, to),
                Err(e) => Err(e),
            }
        }
        r => r,
    }
}

pub(crate) fn linkat<D: AsFd, E: AsFd, P: Arg + Copy, Q: Arg + Copy>(
    dir: D,
    from: P,
    to_dir: E,
    to: Q,
    flags: AtFlags,
) -> Result<()> {
    retry(|| rfs::linkat(dir.as_fd(), from, to_dir.as_fd(), to, flags))
}

pub(crate) fn symlinkat<P: Arg + Copy, D: AsFd, Q: Arg + Copy>(
    target: P,
    dir: D,
    name: Q,
) -> Result<()> {
    retry(|| rfs::symlinkat(target, dir.as_fd(), name))
}

pub(crate) fn readlinkat<D: AsFd, P: Arg + Copy>(dir: D, path: P) -> Result<CString> {
    retry(|| rfs::readlinkat(dir.as_fd(), path, Vec::new()))
}

pub(crate) fn fchmod<D: AsFd>(fd: D, mode: Mode) -> Result<()> {
    retry(|| rfs::fchmod(fd.as_fd(), mode))
}

pub(crate) fn fchown<D: AsFd>(fd: D, uid: Uid, gid: Gid) -> Result<()> {
    retry(|| rfs::fchown(fd.as_fd(), Some(uid), Some(gid)))
}

pub(crate) fn chownat<D: AsFd, P: Arg + Copy>(
    dir: D,
    path: P,
    uid: Uid,
    gid: Gid,
    flags: AtFlags,
) -> Result<()> {
    retry(|| rfs::chownat(dir.as_fd(), path, Some(uid), Some(gid), flags))
}

/// The permission bits of the entry `path` in `dir` (a node that cannot be
/// opened: a FIFO, a socket, a device).
pub(crate) fn chmodat<D: AsFd, P: Arg + Copy>(dir: D, path: P, mode: Mode) -> Result<()> {
    retry(|| rfs::chmodat(dir.as_fd(), path, mode, AtFlags::empty()))
}

/// Makes a FIFO, socket or device node `path` in `dir`.
pub(crate) fn mknodat<D: AsFd, P: Arg + Copy>(
    dir: D,
    path: P,
    kind: rfs::FileType,
    mode: Mode,
    dev: u64,
) -> Result<()> {
    retry(|| rfs::mknodat(dir.as_fd(), path, kind, mode, dev))
}

pub(crate) fn futimens<D: AsFd>(fd: D, times: &Timestamps) -> Result<()> {
    retry(|| rfs::futimens(fd.as_fd(), times))
}

pub(crate) fn utimensat<D: AsFd, P: Arg + Copy>(
    dir: D,
    path: P,
    times: &Timestamps,
    flags: AtFlags,
) -> Result<()> {
    retry(|| rfs::utimensat(dir.as_fd(), path, times, flags))
}

pub(crate) fn ftruncate<D: AsFd>(fd: D, len: u64) -> Result<()> {
    retry(|| rfs::ftruncate(fd.as_fd(), len))
}

pub(crate) fn seek<D: AsFd>(fd: D, pos: SeekFrom) -> Result<u64> {
    retry(|| rfs::seek(fd.as_fd(), pos))
}

pub(crate) fn read(fd: BorrowedFd<'_>, buf: &mut [u8]) -> Result<usize> {
    retry(|| rustix::io::read(fd, &mut *buf))
}

/// Reads at the file's position only what memory holds already: EAGAIN when
/// the data would have to come from the device (`RWF_NOWAIT`).
pub(crate) fn read_cached(fd: BorrowedFd<'_>, buf: &mut [u8]) -> Result<usize> {
    retry(|| {
        let mut bufs = [std::io::IoSliceMut::new(&mut *buf)];
        // u64::MAX: at (and moving) the file's position, as `read` does.
        rustix::io::preadv2(fd, &mut bufs, u64::MAX, rustix::io::ReadWriteFlags::NOWAIT)
    })
}

/// Asks the kernel to start reading the first `len` bytes of the file into
/// memory now, without waiting for them.
pub(crate) fn will_need(fd: BorrowedFd<'_>, len: u64) -> Result<()> {
    retry(|| rfs::fadvise(fd, 0, std::num::NonZeroU64::new(len), rfs::Advice::WillNeed))
}

/// Asks for `len` bytes of `fd` from `offset` to be read into memory.
pub(crate) fn will_need_at(fd: BorrowedFd<'_>, offset: u64, len: u64) -> Result<()> {
    let len = std::num::NonZeroU64::new(len);
    retry(|| rfs::fadvise(fd, offset, len, rfs::Advice::WillNeed))
}

/// Tells the kernel `fd` is read from start to end (a larger read-ahead).
pub(crate) fn advise_sequential(fd: BorrowedFd<'_>) -> Result<()> {
    retry(|| rfs::fadvise(fd, 0, None, rfs::Advice::Sequential))
}

pub(crate) fn get_flags(fd: BorrowedFd<'_>) -> Result<OFlags> {
    retry(|| rfs::fcntl_getfl(fd))
}

pub(crate) fn set_flags(fd: BorrowedFd<'_>, flags: OFlags) -> Result<()> {
    retry(|| rfs::fcntl_setfl(fd, flags))
}

pub(crate) fn write(fd: BorrowedFd<'_>, buf: &[u8]) -> Result<usize> {
    retry(|| rustix::io::write(fd, buf))
}

pub(crate) fn pread(fd: BorrowedFd<'_>, buf: &mut [u8], offset: u64) -> Result<usize> {
    retry(|| rustix::io::pread(fd, &mut *buf, offset))
}

/// Reads from `offset` until `buf` is full or the file ends: how much it read.
pub(crate) fn pread_full(fd: BorrowedFd<'_>, buf: &mut [u8], offset: u64) -> Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match pread(fd, &mut buf[got..], offset + got as u64)? {
            0 => break,
            n => got += n,
        }
    }
    Ok(got)
}

pub(crate) fn pwrite(fd: BorrowedFd<'_>, buf: &[u8], offset: u64) -> Result<usize> {
    retry(|| rustix::io::pwrite(fd, buf, offset))
}

/// Writes all of `data` at `offset` (a write of nothing: the disk is full).
pub(crate) fn pwrite_all(fd: BorrowedFd<'_>, data: &[u8], offset: u64) -> Result<()> {
    let mut written = 0;
    while written < data.len() {
        match pwrite(fd, &data[written..], offset + written as u64)? {
            0 => return Err(Errno::NOSPC),
            n => written += n,
        }
    }
    Ok(())
}

pub(crate) fn copy_file_range(
    from: BorrowedFd<'_>,
    from_offset: u64,
    to: BorrowedFd<'_>,
    to_offset: u64,
    len: usize,
) -> Result<usize> {
    retry(|| {
        let (mut off_in, mut off_out) = (from_offset, to_offset);
        rfs::copy_file_range(from, Some(&mut off_in), to, Some(&mut off_out), len)
    })
}

/// Copies up to `len` bytes from `from` at `from_offset` to `to` at its
/// position (which moves; `from`'s does not).
pub(crate) fn sendfile(
    to: BorrowedFd<'_>,
    from: BorrowedFd<'_>,
    from_offset: u64,
    len: usize,
) -> Result<usize> {
    retry(|| {
        let mut off = from_offset;
        rfs::sendfile(to, from, Some(&mut off), len)
    })
}

/// Writes back everything dirty on the filesystem of `fd`.
pub(crate) fn syncfs(fd: BorrowedFd<'_>) -> Result<()> {
    retry(|| rfs::syncfs(fd))
}

pub(crate) fn fdatasync(fd: BorrowedFd<'_>) -> Result<()> {
    retry(|| rfs::fdatasync(fd))
}

pub(crate) fn fsync(fd: BorrowedFd<'_>) -> Result<()> {
    retry(|| rfs::fsync(fd))
}

/// Drops the file's clean pages from the page cache, so the next read comes
/// from the device.
pub(crate) fn drop_cached(fd: BorrowedFd<'_>) -> Result<()> {
    retry(|| rfs::fadvise(fd, 0, None, rfs::Advice::DontNeed))
}

/// `FICLONE`: `to` shares all of `from`'s data.
pub(crate) fn ficlone(to: BorrowedFd<'_>, from: BorrowedFd<'_>) -> Result<()> {
    retry(|| rfs::ioctl_ficlone(to, from))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_interrupted_call_is_tried_again_but_not_forever() {
        let mut calls = 0;
        let r = retry(|| {
            calls += 1;
            if calls < 3 {
                Err(Errno::INTR)
            } else {
                Ok(calls)
            }
        });
        assert_eq!(r, Ok(3));
        let mut calls = 0;
        let r: Result<()> = retry(|| {
            calls += 1;
            Err(Errno::INTR)
        });
        assert_eq!(r, Err(Errno::INTR));
        assert_eq!(calls, RETRIES + 1);
        let r: Result<()> = retry(|| Err(Errno::IO));
        assert_eq!(r, Err(Errno::IO), "other errors are not retried");
    }
}
