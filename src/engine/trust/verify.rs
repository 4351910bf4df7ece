//! `--verify`: every file is hashed (BLAKE3) as it is read for the copy, then
//! read back from the destination past the page cache and hashed again. A
//! worker collects the files it wrote into a round; a round is made to reach
//! the device with one `syncfs` (one journal commit for many files, not one
//! flush each), then each file's cached pages are dropped and it is read back
//! from the device. A file that reads back differently is removed (it is this
//! run's own, known bad) and reported; the next run copies it again.
//!
//! BLAKE3 because it is as fast as the disk on one core (SIMD), its digests can
//! be trusted as the content's identity in a log, and `b3sum` checks them.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;

use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;

use crate::engine::meta::attrs::SrcMeta;
use crate::engine::os::sys;
use crate::engine::plan::item::Item;
use crate::engine::plan::node::DirNode;
use crate::engine::read::Source;
use crate::engine::shared::Shared;
use crate::engine::write::Dest;
use crate::engine::write::TakenAway;
use crate::engine::write::dest::DestRoot;
use crate::error::{CopyError, Op};
use crate::event::Digest;

/// A round is read back once it holds this many files or bytes: what a
/// worker has written but not yet reported stays small.
const ROUND_FILES: usize = 4096;
const ROUND_BYTES: u64 = 256 * 1024 * 1024;

/// A file copied and in place, waiting to be read back.
pub(crate) struct Written {
    pub dir: Arc<DirNode>,
    pub item: Item,
    pub progressed: u64,
    pub digest: Digest,
    /// The size and time it was given, so a file replaced meanwhile is not
    /// judged (or removed) in its place. (Not its inode: FUSE may number a
    /// file anew under its final name.)
    pub stamped: SrcMeta,
}

/// The files one worker wrote since its last round.
#[derive(Default)]
pub(crate) struct Round {
    files: Vec<Written>,
    bytes: u64,
}

impl Round {
    /// Adds a file; `true` when the round is due.
    pub fn push(&mut self, w: Written) -> bool {
        self.bytes += w.item.meta.size;
        self.files.push(w);
        self.files.len() >= ROUND_FILES || self.bytes >= ROUND_BYTES
    }

    pub fn take(&mut self) -> Vec<Written> {
        self.bytes = 0;
        std::mem::take(&mut self.files)
    }
}

/// Hashes `fd` from where it stands to its end.
pub(crate) fn hash_rest(fd: impl AsFd, buf: &mut Vec<u8>) -> io::Result<blake3::Hasher> {
    if buf.len() < 1024 * 1024 {
        buf.resize(1024 * 1024, 0);
    }
    let mut h = blake3::Hasher::new();
    loop {
        match sys::read(fd.as_fd(), &mut buf[..])? {
            0 => return Ok(h),
            n => {
                h.update(&buf[..n]);
            }
        }
    }
}

/// Files this large are read back with `O_DIRECT` where the filesystem
/// allows it: straight from the device into the worker's buffer, with no
/// page cache filled and dropped again (which on a virtual machine whose
/// fresh pages cost a host fault is most of a read-back's time).
const DIRECT_FROM: u64 = 1024 * 1024;
/// What `O_DIRECT` asks of buffers and offsets on any device (a multiple of
/// every logical block size).
const ALIGN: usize = 4096;
const DIRECT_CHUNK: usize = 1024 * 1024;

/// Hashes the `size` bytes of `fd` (opened with `O_DIRECT`); `None` when
/// the filesystem will not read it so (the caller reads it buffered).
fn hash_direct(
    fd: BorrowedFd<'_>,
    size: u64,
    buf: &mut Vec<u8>,
) -> Option<io::Result<blake3::Hasher>> {
    if buf.len() < DIRECT_CHUNK + ALIGN {
        buf.resize(DIRECT_CHUNK + ALIGN, 0);
    }
    let start = buf.as_ptr().align_offset(ALIGN);
    let chunk = &mut buf[start..start + DIRECT_CHUNK];
    let mut h = blake3::Hasher::new();
    let mut pos = 0u64;
    loop {
        match sys::pread(fd, chunk, pos) {
            Ok(0) => return Some(Ok(h)),
            Ok(n) => {
                h.update(&chunk[..n]);
                pos += n as u64;
                // A short read is the end; before the size the file had, the
                // next offset would not be aligned: read it buffered.
                if n < DIRECT_CHUNK {
                    return (pos >= size).then_some(Ok(h));
                }
            }
            Err(Errno::INVAL) => return None,
            Err(e) => return Some(Err(e.into())),
        }
    }
}

/// Brings the files of a round to the device and reads each back: `Ok` with
/// its digest when it reads back as it was written, else the failure.
pub(crate) fn check<S: Source>(
    sh: &Shared<S, DestRoot>,
    files: &[Written],
    buf: &mut Vec<u8>,
) -> Vec<Result<Digest, CopyError>> {
    let root = sh.root();
    // One flush for the round; if the filesystem reports a failure to write
    // back, each file's own flush says which.
    let synced = sys::syncfs(root.root_fd()).is_ok();
    let mut open: Option<(Arc<DirNode>, OwnedFd)> = None;
    files
        .iter()
        .map(|w| {
            let fail = |e: io::Error| {
                CopyError::new(root.display(&w.dir.rel.join(&w.item.name)), Op::Verify, e)
            };
            let reuse = matches!(&open, Some((d, _)) if Arc::ptr_eq(d, &w.dir));
            if !reuse {
                open = Some((Arc::clone(&w.dir), root.open_node(&w.dir).map_err(fail)?));
            }
            let (_, dir_fd) = open.as_ref().expect("opened above");
            read_back(sh, dir_fd, w, synced, buf).map_err(fail)
        })
        .collect()
}

fn read_back<S: Source>(
    sh: &Shared<S, DestRoot>,
    dir: &OwnedFd,
    w: &Written,
    synced: bool,
    buf: &mut Vec<u8>,
) -> io::Result<Digest> {
    let name = w.item.name.as_os_str();
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = sys::openat(dir, name, flags, Mode::empty())
        .map_err(|e| io::Error::other(format!("cannot open it again ({})", io::Error::from(e))))?;
    let now = SrcMeta::from(&sys::fstat(&fd)?);
    if !sh.same_content(&w.stamped, &now) {
        return Err(io::Error::other(
            "it was replaced by something else after it was written",
        ));
    }
    if !synced {
        sys::fdatasync(fd.as_fd()).map_err(|e| {
            io::Error::other(format!(
                "cannot write it to the device ({})",
                io::Error::from(e)
            ))
        })?;
    }
    // Clean now, so dropped: what follows is read from the device.
    let _ = sys::drop_cached(fd.as_fd());
    let direct = match now.size >= DIRECT_FROM {
        true => sys::openat(dir, name, flags | OFlags::DIRECT, Mode::empty()).ok(),
        false => None,
    };
    let got = direct
        .and_then(|d| hash_direct(d.as_fd(), now.size, buf))
        .unwrap_or_else(|| hash_rest(&fd, buf))
        .map_err(|e| io::Error::other(format!("cannot read it back ({e})")))?
        .finalize();
    if *got.as_bytes() == w.digest {
        return Ok(w.digest);
    }
    Err(io::Error::other(format!(
        "the destination reads back differently ({})",
        take_away(sh, dir, name)
    )))
}

/// Takes a copy known bad away from its final name (see
/// [`Dest::take_away`]);
/// says how, or why it stays.
fn take_away<S: Source>(sh: &Shared<S, DestRoot>, dir: &OwnedFd, name: &std::ffi::OsStr) -> String {
    match sh.root().take_away(dir.as_fd(), name) {
        Ok(TakenAway::Removed) => "the copy was removed".into(),
        Ok(TakenAway::SetAside { name, why }) => format!(
            "the copy could not be removed ({why}), so it was renamed to {}",
            name.to_string_lossy()
        ),
        Err(why) => format!("the copy could not be removed: {why}"),
    }
}
