//! Resuming a big file that a cancelled or killed run left part-way. A file
//! of [`RESUMABLE_FROM`] bytes or more is written to a temporary whose name
//! says which source it copies (a hash of the final name and the source's
//! device, inode, size and modification time): `.convoy-resume-<hash>.part`.
//! A cancelled run keeps it (a killed one cannot remove it); the next run of
//! the same copy finds it under the same name, keeps what was written up to a
//! whole MiB after comparing the last MiB of it with the source (all of it,
//! hashed, under `--verify`), and writes the rest. A source that changed has
//! another name: its old partial is stale, and a run that finishes the folder
//! without being cancelled removes it. The partial is locked while written,
//! so two runs never write one partial; it gets its final name only whole.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use rustix::fs::{AtFlags, FileType, FlockOperation, Mode, OFlags};
use rustix::io::Errno;

use crate::engine::meta::attrs::SrcMeta;
use crate::engine::os::sys;
use crate::format;

/// Files at least this large are resumable.
pub(crate) const RESUMABLE_FROM: u64 = 64 * 1024 * 1024;

const PREFIX: &str = ".convoy-resume-";
const SUFFIX: &str = ".part";

/// What is kept of a partial is a whole number of these, and the last one is
/// compared with the source before anything is kept.
const STEP: u64 = 1024 * 1024;

/// Whether a file of this metadata is written resumably.
pub(crate) fn resumable(meta: &SrcMeta) -> bool {
    meta.is_file() && meta.size >= RESUMABLE_FROM && !meta.is_sparse()
}

/// The partial's name for the final name `name` copied from `src`.
pub(crate) fn partial_name(name: &OsStr, src: &SrcMeta) -> OsString {
    let mut h = blake3::Hasher::new();
    h.update(name.as_bytes());
    for n in [src.dev, src.ino, src.size] {
        h.update(&n.to_le_bytes());
    }
    h.update(&src.mtime.0.to_le_bytes());
    h.update(&src.mtime.1.to_le_bytes());
    let hex = format::hex(&h.finalize().as_bytes()[..8]);
    OsString::from(format!("{PREFIX}{hex}{SUFFIX}"))
}

/// Removes a partial a cancelled run kept (`KeptPartial::partial`), when a
/// person would rather start over: only a regular file with a partial's name
/// is removed, never through a symlink.
pub fn discard(path: &std::path::Path) -> io::Result<()> {
    let named = path.file_name().is_some_and(is_partial);
    let st = sys::statat(rustix::fs::CWD, path, AtFlags::SYMLINK_NOFOLLOW)?;
    if !named || FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
        return Err(io::Error::other(format!(
            "{}: not a partial copy of convoy's",
            format::display_path(path)
        )));
    }
    std::fs::remove_file(path)
}

/// Whether `name` is one of convoy's partials.
pub(crate) fn is_partial(name: &OsStr) -> bool {
    let b = name.as_bytes();
    b.starts_with(PREFIX.as_bytes()) && b.ends_with(SUFFIX.as_bytes())
}

/// A partial opened for writing (and locked): `found` is how long it already
/// was when it belonged to an earlier run.
pub(crate) struct Partial {
    pub fd: OwnedFd,
    pub found: Option<u64>,
}

/// Opens the partial `name` in `dir` (when `look`), or creates it with the
/// permission bits of `mode`. `None` when another run holds it, or it is in
/// the way (the copy then goes the ordinary way).
pub(crate) fn open(
    dir: BorrowedFd<'_>,
    name: &OsStr,
    look: bool,
    mode: u32,
) -> io::Result<Option<Partial>> {
    let flags = OFlags::RDWR | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let (fd, found) = match look.then(|| sys::openat(dir, name, flags, Mode::empty())) {
        Some(Ok(fd)) => {
            let st = sys::fstat(&fd)?;
            if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile || st.st_nlink != 1 {
                return Ok(None);
            }
            (fd, Some(st.st_size as u64))
        }
        Some(Err(e)) if e != Errno::NOENT => return Err(e.into()),
        _ => {
            let create = flags | OFlags::CREATE | OFlags::EXCL;
            match sys::openat(dir, name, create, Mode::from_raw_mode(mode & 0o777)) {
                Ok(fd) => (fd, None),
                // Another run made it just now.
                Err(Errno::EXIST) => return Ok(None),
                Err(e) => return Err(e.into()),
            }
        }
    };
    match lock(fd.as_fd()) {
        Ok(true) => Ok(Some(Partial { fd, found })),
        Ok(false) => Ok(None),
        Err(e) => Err(e),
    }
}

/// An exclusive lock, or `false` when another holds it. A filesystem without
/// locks (some FUSE ones) gives none, and the copy goes on.
fn lock(fd: BorrowedFd<'_>) -> io::Result<bool> {
    match sys::retry(|| rustix::fs::flock(fd, FlockOperation::NonBlockingLockExclusive)) {
        Ok(()) => Ok(true),
        Err(Errno::WOULDBLOCK) => Ok(false),
        Err(Errno::NOSYS | Errno::OPNOTSUPP | Errno::INVAL | Errno::NOLCK) => Ok(true),
        Err(e) => Err(e.into()),
    }
}

/// How much of a partial `found` bytes long can be kept: down to a whole
/// step, if its last step reads as the source's (else nothing). With `hash`,
/// every step is compared and hashed, and what is kept ends at the first that
/// differs. Reads from `src` and `part` at their offsets.
pub(crate) fn valid_prefix(
    src: BorrowedFd<'_>,
    part: BorrowedFd<'_>,
    found: u64,
    hash: Option<&mut blake3::Hasher>,
    buf: &mut Vec<u8>,
) -> io::Result<u64> {
    let whole = found / STEP * STEP;
    if whole == 0 {
        return Ok(0);
    }
    if buf.len() < 2 * STEP as usize {
        buf.resize(2 * STEP as usize, 0);
    }
    let (a, b) = buf.split_at_mut(STEP as usize);
    let Some(h) = hash else {
        let last = same_step(src, part, (a, b), whole - STEP)?;
        return Ok(if last { whole } else { 0 });
    };
    let mut kept = 0;
    while kept < whole && same_step(src, part, (a, b), kept)? {
        h.update(a);
        kept += STEP;
    }
    Ok(kept)
}

/// Whether the step at `at` reads the same from both (read into `a`, `b`).
fn same_step(
    src: BorrowedFd<'_>,
    part: BorrowedFd<'_>,
    (a, b): (&mut [u8], &mut [u8]),
    at: u64,
) -> io::Result<bool> {
    let n = sys::pread_full(src, a, at)?;
    let m = sys::pread_full(part, b, at)?;
    Ok(n == a.len() && m == n && a == b)
}

/// Removes the partials in `dir` that no copy of this run took up (their
/// source changed or is gone), except those another run is writing.
pub(crate) fn remove_stale(dir: BorrowedFd<'_>) -> io::Result<Vec<(OsString, io::Error)>> {
    let mut failed = Vec::new();
    for entry in sys::read_dir(dir)? {
        let entry = entry?;
        let name = OsStr::from_bytes(entry.file_name().to_bytes());
        if !is_partial(name) {
            continue;
        }
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let Ok(fd) = sys::openat(dir, name, flags, Mode::empty()) else {
            continue;
        };
        if !lock(fd.as_fd()).unwrap_or(false) {
            continue;
        }
        match sys::unlinkat(dir, name, AtFlags::empty()) {
            Ok(()) | Err(Errno::NOENT) => {}
            Err(e) => failed.push((name.to_os_string(), e.into())),
        }
    }
    Ok(failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(size: u64, mtime: i64) -> SrcMeta {
        SrcMeta {
            mode: 0o100644,
            size,
            mtime: (mtime, 0),
            atime: (mtime, 0),
            ctime: (mtime, 0),
            uid: 0,
            gid: 0,
            dev: 1,
            ino: 2,
            nlink: 1,
            blocks: size / 512,
            rdev: 0,
        }
    }

    #[test]
    fn the_partial_s_name_changes_with_the_source() {
        let a = partial_name(OsStr::new("big.iso"), &meta(1 << 30, 100));
        assert!(is_partial(&a), "{a:?}");
        assert_eq!(a, partial_name(OsStr::new("big.iso"), &meta(1 << 30, 100)));
        assert_ne!(a, partial_name(OsStr::new("big.iso"), &meta(1 << 30, 101)));
        assert_ne!(
            a,
            partial_name(OsStr::new("big.iso"), &meta((1 << 30) + 1, 100))
        );
        assert_ne!(
            a,
            partial_name(OsStr::new("other.iso"), &meta(1 << 30, 100))
        );
        assert!(
            crate::engine::write::temp_name::owner(&a).is_none(),
            "the sweep leaves it"
        );
    }
}
