//! Moving bytes between two open descriptors. Small files go through one
//! `read`/`write` into the worker's buffer (half the kernel time of
//! `copy_file_range` for files of a few KiB on this kind of machine); larger ones
//! through `copy_file_range` in steps, so pause, cancel and progress stay live;
//! sparse ones data segment by data segment, so holes stay holes. Where source
//! and destination can share data (XFS, btrfs), a file is cloned whole instead.

use std::io;
use std::os::fd::BorrowedFd;

use rustix::fs::SeekFrom;
use rustix::io::Errno;

use super::control::{Cancelled, Control};
use super::sys;

/// Files up to this size are copied with plain read/write.
pub(crate) const SMALL_FILE: u64 = 256 * 1024;
/// Bytes per `copy_file_range` call: the granularity of pause, cancel and progress.
pub(crate) const STEP: u64 = 8 * 1024 * 1024;

/// Which side failed matters to the user: "cannot read" names the source,
/// "cannot write" names the destination.
#[derive(Debug)]
pub(crate) enum CopyFail {
    Read(io::Error),
    Write(io::Error),
    /// The file could not share its source's data, and must (`--reflink=always`).
    Clone(io::Error),
    Cancelled,
}

impl From<Cancelled> for CopyFail {
    fn from(_: Cancelled) -> Self {
        CopyFail::Cancelled
    }
}

fn read_err(e: Errno) -> CopyFail {
    CopyFail::Read(e.into())
}

fn write_err(e: Errno) -> CopyFail {
    CopyFail::Write(e.into())
}

/// Reads `src` to its end and writes it all to `out`; returns the bytes copied.
/// `expected` sizes the first read so a small file takes one call each way.
/// Unless `checked`, `src` was not `fstat`ed after opening: a file that reads
/// longer than expected is checked to still be a regular file before going on
/// (a device swapped in could otherwise be read forever).
pub(crate) fn read_write(
    src: BorrowedFd<'_>,
    out: BorrowedFd<'_>,
    buf: &mut Vec<u8>,
    expected: u64,
    mut checked: bool,
    ctl: &Control,
) -> Result<u64, CopyFail> {
    let want = (expected as usize)
        .saturating_add(1)
        .clamp(4096, SMALL_FILE as usize + 1);
    if buf.len() < want {
        buf.resize(want, 0);
    }
    let mut total = 0u64;
    loop {
        let n = sys::read(src, &mut buf[..]).map_err(read_err)?;
        if n == 0 {
            return Ok(total);
        }
        if !checked && total + n as u64 > expected {
            super::meta::regular_meta(src).map_err(CopyFail::Read)?;
            checked = true;
        }
        write_all(out, &buf[..n])?;
        total += n as u64;
        // A short read of a regular file is its end; skip the call that says so.
        if n < buf.len() && total == expected {
            return Ok(total);
        }
        ctl.checkpoint()?;
    }
}

fn write_all(out: BorrowedFd<'_>, mut data: &[u8]) -> Result<(), CopyFail> {
    while !data.is_empty() {
        match sys::write(out, data) {
            Ok(0) => return Err(write_err(Errno::NOSPC)),
            Ok(n) => data = &data[n..],
            Err(e) => return Err(write_err(e)),
        }
    }
    Ok(())
}

/// How a clone went.
pub(crate) enum Cloned {
    Done,
    /// These two cannot share data (another filesystem, one without clones):
    /// the bytes are to be copied.
    CannotShare(Errno),
    Failed(CopyFail),
}

/// Gives `out` the data of `src` by sharing its extents (`FICLONE`): the
/// whole file at once, holes included.
pub(crate) fn clone_whole(src: BorrowedFd<'_>, out: BorrowedFd<'_>) -> Cloned {
    match sys::ficlone(out, src) {
        Ok(()) => Cloned::Done,
        Err(e @ (Errno::XDEV | Errno::OPNOTSUPP | Errno::INVAL | Errno::NOTTY | Errno::NOSYS)) => {
            Cloned::CannotShare(e)
        }
        Err(e) => Cloned::Failed(offload_err(e)),
    }
}

/// A call that moves data inside the kernel cannot say which side failed;
/// these are the writer's.
fn offload_err(e: Errno) -> CopyFail {
    match e {
        Errno::NOSPC | Errno::DQUOT | Errno::FBIG | Errno::ROFS => write_err(e),
        e => read_err(e),
    }
}

/// Copies `len` bytes at `offset` (or to the end of the source when `len` is
/// `None`), calling `progress` after each step. The kernel moves the bytes
/// (`copy_file_range`) when `offload`; pread/pwrite where it is not, or the
/// kernel or filesystem has no `copy_file_range`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn copy_range(
    src: BorrowedFd<'_>,
    out: BorrowedFd<'_>,
    offset: u64,
    len: Option<u64>,
    offload: bool,
    buf: &mut Vec<u8>,
    ctl: &Control,
    progress: &mut dyn FnMut(u64),
) -> Result<u64, CopyFail> {
    let mut offload = offload;
    let mut done = 0u64;
    loop {
        let step = match len {
            Some(l) if done >= l => return Ok(done),
            Some(l) => (l - done).min(STEP),
            None => STEP,
        };
        let at = offset + done;
        let offloaded = match offload {
            true => sys::copy_file_range(src, at, out, at, step as usize),
            false => Err(Errno::NOSYS),
        };
        let n = match offloaded {
            Ok(n) => n as u64,
            Err(Errno::XDEV | Errno::INVAL | Errno::NOSYS | Errno::OPNOTSUPP) => {
                offload = false;
                pread_pwrite(src, out, at, step, buf)?
            }
            Err(e) => return Err(offload_err(e)),
        };
        if n == 0 {
            return Ok(done);
        }
        done += n;
        progress(n);
        ctl.checkpoint()?;
    }
}

fn pread_pwrite(
    src: BorrowedFd<'_>,
    out: BorrowedFd<'_>,
    offset: u64,
    len: u64,
    buf: &mut Vec<u8>,
) -> Result<u64, CopyFail> {
    let want = (len as usize).min(1024 * 1024);
    if buf.len() < want {
        buf.resize(want, 0);
    }
    let n = sys::pread(src, &mut buf[..want], offset).map_err(read_err)?;
    pwrite_all(out, &buf[..n], offset)?;
    Ok(n as u64)
}

/// Copies only the data segments of a sparse file and sets the length, so the
/// holes are not written as zeros. Returns the bytes of data copied.
pub(crate) fn copy_sparse(
    src: BorrowedFd<'_>,
    out: BorrowedFd<'_>,
    size: u64,
    offload: bool,
    buf: &mut Vec<u8>,
    ctl: &Control,
    progress: &mut dyn FnMut(u64),
) -> Result<u64, CopyFail> {
    let mut pos = 0u64;
    let mut copied = 0u64;
    // No SEEK_DATA here: the rest is copied block by block, zeros skipped.
    let unsupported = |e| matches!(e, Errno::INVAL | Errno::OPNOTSUPP);
    while pos < size {
        let data = match sys::seek(src, SeekFrom::Data(pos)) {
            Ok(d) => d,
            Err(Errno::NXIO) => break, // only a hole remains
            Err(e) if unsupported(e) => {
                copied += copy_skipping_zeros(src, out, pos, size, buf, ctl, progress)?;
                break;
            }
            Err(e) => return Err(read_err(e)),
        };
        let hole = match sys::seek(src, SeekFrom::Hole(data)) {
            Ok(h) => h.min(size),
            Err(e) if unsupported(e) => {
                copied += copy_skipping_zeros(src, out, data, size, buf, ctl, progress)?;
                break;
            }
            Err(e) => return Err(read_err(e)),
        };
        if hole > data {
            let n = copy_range(
                src,
                out,
                data,
                Some(hole - data),
                offload,
                buf,
                ctl,
                progress,
            )?;
            copied += n;
            if n < hole - data {
                break; // the file shrank under us
            }
        }
        pos = hole;
    }
    // The length as it was when read: a file that shrank meanwhile is not padded.
    let now = sys::fstat(src).map_or(size, |s| s.st_size as u64);
    sys::ftruncate(out, size.min(now)).map_err(write_err)?;
    Ok(copied)
}

/// Where the filesystem cannot say where data is: reads from `from` to `size`
/// and writes only the blocks that are not all zeros, so holes stay holes
/// wherever the destination has them.
fn copy_skipping_zeros(
    src: BorrowedFd<'_>,
    out: BorrowedFd<'_>,
    from: u64,
    size: u64,
    buf: &mut Vec<u8>,
    ctl: &Control,
    progress: &mut dyn FnMut(u64),
) -> Result<u64, CopyFail> {
    const BLOCK: usize = 64 * 1024;
    if buf.len() < BLOCK {
        buf.resize(BLOCK, 0);
    }
    let mut pos = from;
    while pos < size {
        let want = (size - pos).min(BLOCK as u64) as usize;
        let n = sys::pread(src, &mut buf[..want], pos).map_err(read_err)?;
        if n == 0 {
            break;
        }
        if buf[..n].iter().any(|&b| b != 0) {
            pwrite_all(out, &buf[..n], pos)?;
        }
        pos += n as u64;
        progress(n as u64);
        ctl.checkpoint()?;
    }
    Ok(pos - from)
}

fn pwrite_all(out: BorrowedFd<'_>, data: &[u8], offset: u64) -> Result<(), CopyFail> {
    let mut written = 0;
    while written < data.len() {
        match sys::pwrite(out, &data[written..], offset + written as u64) {
            Ok(0) => return Err(write_err(Errno::NOSPC)),
            Ok(w) => written += w,
            Err(e) => return Err(write_err(e)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn an_unchecked_source_that_reads_past_its_size_must_be_a_regular_file() {
        let zero = std::fs::File::open("/dev/zero").unwrap();
        let out = tempfile::tempfile().unwrap();
        let ctl = Control::new(1, 1);
        let mut buf = Vec::new();
        let r = read_write(zero.as_fd(), out.as_fd(), &mut buf, 10, false, &ctl);
        assert!(matches!(r, Err(CopyFail::Read(_))), "{r:?}");
        // A regular file that grew since the walk is copied whole.
        let mut grown = tempfile::tempfile().unwrap();
        std::io::Write::write_all(&mut grown, &[7u8; 9000]).unwrap();
        let src = rustix::fs::openat(
            rustix::fs::CWD,
            format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&grown)).as_str(),
            rustix::fs::OFlags::RDONLY,
            rustix::fs::Mode::empty(),
        )
        .unwrap();
        let r = read_write(src.as_fd(), out.as_fd(), &mut buf, 100, false, &ctl);
        assert_eq!(r.unwrap(), 9000);
    }
}
