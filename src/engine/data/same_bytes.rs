//! Reading two files side by side: whether a destination holds its source's
//! bytes, all of them or only their beginning.

use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};

use rustix::fs::{Mode, OFlags};

use crate::engine::os::sys;

/// How a destination file's bytes stand to its source's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Relation {
    Same,
    /// The destination is the source's first bytes and nothing else: a copy
    /// of the source from before it grew.
    Prefix,
    Differ,
}

/// Reads both from their current offsets to the end.
pub(crate) fn relate(src: BorrowedFd<'_>, dest: BorrowedFd<'_>) -> io::Result<Relation> {
    relate_to(src, |buf| read_full(dest, buf))
}

/// Reads `src` from its offset to the end beside a destination read by
/// `dest_full` (which fills its buffer, or stops short only at the end).
pub(crate) fn relate_to(
    src: BorrowedFd<'_>,
    mut dest_full: impl FnMut(&mut [u8]) -> io::Result<usize>,
) -> io::Result<Relation> {
    let (mut a, mut b) = (vec![0u8; 1 << 16], vec![0u8; 1 << 16]);
    loop {
        let n = read_full(src, &mut a)?;
        let m = dest_full(&mut b)?;
        if a[..n.min(m)] != b[..n.min(m)] || m > n {
            return Ok(Relation::Differ);
        }
        if m < n {
            // `read_full` stops short only at the end.
            return Ok(Relation::Prefix);
        }
        if n == 0 {
            return Ok(Relation::Same);
        }
    }
}

/// Opens `src_name` in `src_dir` and `dest_name` in `dest_dir` (never
/// through a symlink) and reads them side by side.
pub(crate) fn relate_named(
    (src_dir, src_name): (BorrowedFd<'_>, &OsStr),
    (dest_dir, dest_name): (BorrowedFd<'_>, &OsStr),
) -> io::Result<Relation> {
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let a = sys::openat(src_dir, src_name, flags, Mode::empty())?;
    let b = sys::openat(dest_dir, dest_name, flags, Mode::empty())?;
    relate(a.as_fd(), b.as_fd())
}

/// Reads until `buf` is full or the file ends.
fn read_full(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match sys::read(fd, &mut buf[n..])? {
            0 => break,
            got => n += got,
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Seek, Write};

    fn file(bytes: &[u8]) -> std::fs::File {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(bytes).unwrap();
        f.rewind().unwrap();
        f
    }

    #[test]
    fn tells_same_prefix_and_different_apart() {
        let long: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        for (dest, want) in [
            (&long[..], Relation::Same),
            (&long[..70_000], Relation::Prefix),
            (&long[..0], Relation::Prefix),
            (&long[..65_536], Relation::Prefix),
        ] {
            let (s, d) = (file(&long), file(dest));
            assert_eq!(
                relate(s.as_fd(), d.as_fd()).unwrap(),
                want,
                "{}",
                dest.len()
            );
        }
        let mut changed = long[..70_000].to_vec();
        changed[69_999] ^= 1;
        let mut longer = long.clone();
        longer.push(0);
        for dest in [&changed[..], &longer[..]] {
            let (s, d) = (file(&long), file(dest));
            assert_eq!(relate(s.as_fd(), d.as_fd()).unwrap(), Relation::Differ);
        }
        let (s, d) = (file(b""), file(b""));
        assert_eq!(relate(s.as_fd(), d.as_fd()).unwrap(), Relation::Same);
    }
}
