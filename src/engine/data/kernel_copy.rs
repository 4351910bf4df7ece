//! Copies inside the kernel, without the worker's buffer: for a small file
//! the data then crosses memory once (page cache to page cache) instead of
//! three times (into the buffer and out of it), which on a tree of small files
//! is the larger part of what a copier does beyond creating them.
//!
//! `copy_file_range` cannot cross filesystems (EXDEV since Linux 5.19), and a
//! copy to another disk is the common case; `sendfile` does the same in-kernel
//! copy there. Which call works is a property of the run's source and
//! destination, so it is learned once, from the first refusal, and shared by
//! the workers.

use std::os::fd::BorrowedFd;
use std::sync::atomic::{AtomicU8, Ordering};

use rustix::io::{Errno, Result};

use crate::engine::os::sys;

const RANGE: u8 = 0;
const SEND: u8 = 1;
const NEITHER: u8 = 2;

/// Which in-kernel copy this run's two filesystems take.
#[derive(Debug, Default)]
pub(crate) struct KernelCopy(AtomicU8);

/// The call one file's copy makes, fixed at its first call: `sendfile` writes
/// at the destination's position, `copy_file_range` at a given offset, so one
/// file must not switch between them once bytes are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Call {
    Range,
    Send,
}

/// What `copy_file_range` or `sendfile` answer when the two files cannot be
/// copied that way at all (as opposed to a fault of the disk).
pub(crate) fn refused(e: Errno) -> bool {
    matches!(
        e,
        Errno::XDEV | Errno::INVAL | Errno::NOSYS | Errno::OPNOTSUPP
    )
}

impl KernelCopy {
    /// Whether the run has learned that `sendfile` is its call (the two
    /// filesystems refused `copy_file_range`).
    pub fn sends(&self) -> bool {
        self.0.load(Ordering::Relaxed) == SEND
    }

    /// Copies up to `len` bytes at `at` of `src` to the same place of `out`,
    /// with the `call` this file started with (`None` before its first); at
    /// a file's first call `out`'s position must be `at`, as `sendfile`
    /// writes there. Without `may_send` (a descriptor shared by several
    /// copies, whose position means nothing) only `copy_file_range` is
    /// tried. A refusal at a file's first call moves the run on to the next
    /// call; `Err` with `refused` once none is left, and the caller copies
    /// through its buffer.
    pub fn copy(
        &self,
        src: BorrowedFd<'_>,
        out: BorrowedFd<'_>,
        (at, len): (u64, usize),
        call: &mut Option<Call>,
        may_send: bool,
    ) -> Result<usize> {
        let first = call.is_none();
        loop {
            let now = match *call {
                Some(c) => c,
                None => match self.0.load(Ordering::Relaxed) {
                    RANGE => Call::Range,
                    SEND if may_send => Call::Send,
                    _ => return Err(Errno::NOSYS),
                },
            };
            let r = match now {
                Call::Range => sys::copy_file_range(src, at, out, at, len),
                Call::Send => sys::sendfile(out, src, at, len),
            };
            match r {
                // Only at a file's first call: after it, the other call would
                // write at the wrong place.
                Err(e) if refused(e) && first => {
                    let next = match now {
                        Call::Range => SEND,
                        Call::Send => NEITHER,
                    };
                    // Only ever forward: a worker that learned less cannot undo it.
                    self.0.fetch_max(next, Ordering::Relaxed);
                    *call = None;
                    if next == NEITHER || !may_send {
                        return Err(e);
                    }
                }
                r => {
                    *call = Some(now);
                    return r;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn a_small_file_is_copied_whole_and_the_call_is_kept_for_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 31) as u8).collect();
        std::fs::write(dir.path().join("src"), &data).unwrap();
        let src = std::fs::File::open(dir.path().join("src")).unwrap();
        let out = std::fs::File::create(dir.path().join("out")).unwrap();
        let k = KernelCopy::default();
        let mut call = None;
        let n = k.copy(src.as_fd(), out.as_fd(), (0, 10_001), &mut call, true);
        assert_eq!(n, Ok(10_000));
        assert!(call.is_some());
        assert_eq!(std::fs::read(dir.path().join("out")).unwrap(), data);
    }

    #[test]
    fn across_filesystems_sendfile_takes_over_and_the_run_remembers() {
        // A temporary folder, and /dev/shm (tmpfs): two filesystems.
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir_in("/dev/shm").expect("this test needs /dev/shm");
        let dev = |p: &std::path::Path| {
            std::os::unix::fs::MetadataExt::dev(&std::fs::metadata(p).unwrap())
        };
        assert_ne!(
            dev(a.path()),
            dev(b.path()),
            "/dev/shm is another filesystem"
        );
        std::fs::write(a.path().join("src"), b"across").unwrap();
        let src = std::fs::File::open(a.path().join("src")).unwrap();
        let out = std::fs::File::create(b.path().join("out")).unwrap();
        let k = KernelCopy::default();
        let mut call = None;
        assert_eq!(
            k.copy(src.as_fd(), out.as_fd(), (0, 7), &mut call, true),
            Ok(6)
        );
        assert_eq!(call, Some(Call::Send));
        assert_eq!(
            k.0.load(Ordering::Relaxed),
            SEND,
            "the next file starts with it"
        );
        // A descriptor shared by several copies is not given to sendfile.
        let mut call = None;
        let e = k.copy(src.as_fd(), out.as_fd(), (0, 7), &mut call, false);
        assert_eq!(e, Err(Errno::NOSYS));
        assert_eq!(std::fs::read(b.path().join("out")).unwrap(), b"across");
    }

    #[test]
    fn once_neither_call_works_none_is_tried_and_nothing_is_written() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("src"), b"data").unwrap();
        let src = std::fs::File::open(dir.path().join("src")).unwrap();
        let out = std::fs::File::create(dir.path().join("out")).unwrap();
        let k = KernelCopy(AtomicU8::new(NEITHER));
        let mut call = None;
        let e = k
            .copy(src.as_fd(), out.as_fd(), (0, 5), &mut call, true)
            .unwrap_err();
        assert!(refused(e), "{e:?}: the caller copies through its buffer");
        assert_eq!(std::fs::read(dir.path().join("out")).unwrap(), b"");
    }
}
