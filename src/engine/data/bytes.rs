//! Moving bytes between two open descriptors. Small files are moved by the
//! kernel in one call (`kernel_copy`), except the first of a batch, which goes
//! through one `read`/`write` into the worker's buffer so its first read can
//! ask whether the batch is in memory; larger ones through `copy_file_range`
//! in steps, so pause, cancel and progress stay live; sparse ones data segment
//! by data segment, so holes stay holes. Where source and destination can
//! share data (XFS, btrfs), a file is cloned whole instead; big files are
//! written past the page cache where filling it is costly (`direct`).

use std::io;
use std::os::fd::BorrowedFd;

use rustix::fs::SeekFrom;
use rustix::io::Errno;

use super::kernel_copy::{Call, KernelCopy, refused};
use crate::engine::control::handle::{Cancelled, Control};
use crate::engine::os::sys;

/// Files up to this size are copied in one call each way.
pub(crate) const SMALL_FILE: u64 = 256 * 1024;
/// Bytes per `copy_file_range` call: the granularity of pause, cancel and progress.
pub(crate) const STEP: u64 = 8 * 1024 * 1024;

/// How far ahead of a big file's copy its source is asked for (`WILLNEED`):
/// a cold source's reads then queue at the device while the copy writes,
/// instead of one read-ahead window at a time. One 4 GiB file, cold, fresh
/// ext4 each copy, reporting paused: 3.78–3.95 s without, 3.26–3.51 s four
/// steps ahead, 2.73–2.91 s eight, 2.52–2.66 s sixteen (`cp -a` 3.60–3.96 s;
/// `dd` reads it in 2.53–2.63 s). At most a 64th of the memory, so a few
/// workers' read-ahead on a small machine does not push itself out.
pub(crate) fn read_ahead_bytes() -> u64 {
    static AHEAD: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *AHEAD.get_or_init(|| {
        let ram = rustix::system::sysinfo();
        let total = ram.totalram as u64 * u64::from(ram.mem_unit.max(1));
        (total / 64).clamp(STEP, 16 * STEP) / STEP * STEP
    })
}

/// Asks for `src` from `hinted` up to `upto` (one `WILLNEED`; past its end
/// it asks for nothing) and moves `hinted` there. A refusal costs only the
/// head start.
pub(crate) fn ask_ahead(src: BorrowedFd<'_>, hinted: &mut u64, upto: u64) {
    if *hinted < upto {
        let _ = sys::will_need_at(src, *hinted, upto - *hinted);
        *hinted = upto;
    }
}

/// Which side failed matters to the user: "cannot read" names the source,
/// "cannot write" names the destination.
#[derive(Debug)]
pub(crate) enum CopyFail {
    Read(io::Error),
    Write(io::Error),
    /// The file could not share its source's data, and must (`--reflink=always`).
    Clone(io::Error),
    Cancelled,
    /// A person skipped it from its lane.
    Skipped,
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

/// How bytes move: by the kernel where it can (`offload`: `copy_file_range`,
/// which may clone, or `sendfile`), or through the worker's buffer, hashed on
/// the way when the copy is to be verified (the kernel's copy would hide them).
pub(crate) struct Mover<'a> {
    pub buf: &'a mut Vec<u8>,
    /// The lane the file shows on (worker, its number there), so a person
    /// can skip it.
    pub lane: Option<(usize, u64)>,
    pub offload: Option<&'a KernelCopy>,
    /// The destination descriptor is shared by the chunks of one file: its
    /// position means nothing, so the kernel copies with `copy_file_range`
    /// only (`sendfile` writes at the position).
    pub out_shared: bool,
    pub hash: Option<&'a mut blake3::Hasher>,
    pub cache: Cache,
}

/// Whether a small file's data was in memory, for the worker to read ahead on
/// a cold cache (see `files::batch`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cache {
    /// Not asked: read as usual.
    Unasked,
    /// The first read asks (`RWF_NOWAIT`, as cheap as a plain read).
    Ask,
    /// It was: the rest of the batch is copied by the kernel.
    Hit,
    /// It was not: the data came from the device.
    Missed,
}

/// Between two steps of a big file: waits while paused; stops once cancelled
/// or skipped from its lane.
pub(crate) fn between_steps(ctl: &Control, lane: Option<(usize, u64)>) -> Result<(), CopyFail> {
    ctl.checkpoint()?;
    match lane {
        Some(l) if ctl.skip_asked(l) => Err(CopyFail::Skipped),
        _ => Ok(()),
    }
}

impl Mover<'_> {
    /// `n` bytes of a hole, as a reader of the file sees them.
    fn hashed_zeros(&mut self, mut n: u64) {
        static ZEROS: [u8; 64 * 1024] = [0; 64 * 1024];
        if let Some(h) = self.hash.as_deref_mut() {
            while n > 0 {
                let step = n.min(ZEROS.len() as u64);
                h.update(&ZEROS[..step as usize]);
                n -= step;
            }
        }
    }
}

/// Reads `src` to its end and writes it all to `out`; returns the bytes copied.
/// `expected` sizes the first read so a small file takes one call each way.
/// Unless `checked`, `src` was not `fstat`ed after opening: a file that reads
/// longer than expected is checked to still be a regular file before going on
/// (a device swapped in could otherwise be read forever).
pub(crate) fn read_write(
    src: BorrowedFd<'_>,
    out: BorrowedFd<'_>,
    mv: &mut Mover<'_>,
    expected: u64,
    mut checked: bool,
    ctl: &Control,
) -> Result<u64, CopyFail> {
    let asks = mv.cache == Cache::Ask;
    if let Some(k) = mv
        .offload
        .filter(|_| mv.hash.is_none() && expected > 0 && !asks)
        && let Some(total) = kernel_small(src, out, k, expected, checked, ctl)?
    {
        return Ok(total);
    }
    let want = (expected as usize)
        .saturating_add(1)
        .clamp(4096, SMALL_FILE as usize + 1);
    if mv.buf.len() < want {
        mv.buf.resize(want, 0);
    }
    let mut total = 0u64;
    loop {
        let n = match mv.cache {
            Cache::Ask if total == 0 && expected > 0 => {
                match sys::read_cached(src, &mut mv.buf[..]) {
                    Ok(n) => {
                        mv.cache = Cache::Hit;
                        Ok(n)
                    }
                    Err(Errno::AGAIN) => {
                        mv.cache = Cache::Missed;
                        sys::read(src, &mut mv.buf[..])
                    }
                    // A filesystem that cannot say reads as usual.
                    Err(Errno::OPNOTSUPP | Errno::INVAL) => {
                        mv.cache = Cache::Unasked;
                        sys::read(src, &mut mv.buf[..])
                    }
                    Err(e) => Err(e),
                }
            }
            _ => sys::read(src, &mut mv.buf[..]),
        }
        .map_err(read_err)?;
        if n == 0 {
            return Ok(total);
        }
        check_growth(src, &mut checked, total + n as u64 > expected)?;
        write_all(out, &mv.buf[..n])?;
        if let Some(h) = mv.hash.as_deref_mut() {
            h.update(&mv.buf[..n]);
        }
        total += n as u64;
        if step_ends(ctl, n as u64, mv.buf.len() as u64, (total, expected))? {
            return Ok(total);
        }
    }
}

/// `read_write` by the kernel: each call asks for more than the walk saw is
/// left, so a file that grew since is noticed (and checked to be a regular
/// file, as there) and one that did not takes one call. `None`: the two
/// filesystems take no in-kernel copy; nothing was written.
fn kernel_small(
    src: BorrowedFd<'_>,
    out: BorrowedFd<'_>,
    k: &KernelCopy,
    expected: u64,
    mut checked: bool,
    ctl: &Control,
) -> Result<Option<u64>, CopyFail> {
    let mut call: Option<Call> = None;
    let mut total = 0u64;
    loop {
        let want = (expected.saturating_sub(total) as usize).clamp(4096, SMALL_FILE as usize) + 1;
        let n = match k.copy(src, out, (total, want), &mut call, true) {
            Ok(n) => n as u64,
            Err(e) if total == 0 && refused(e) => return Ok(None),
            Err(e) => return Err(offload_err(e)),
        };
        if n == 0 {
            return Ok(Some(total));
        }
        check_growth(src, &mut checked, total + n > expected)?;
        total += n;
        if step_ends(ctl, n, want as u64, (total, expected))? {
            return Ok(Some(total));
        }
    }
}

/// A file that reads `past` the size the walk saw, and was not `checked`
/// since, must still be a regular file (a device swapped in could be read
/// forever).
fn check_growth(src: BorrowedFd<'_>, checked: &mut bool, past: bool) -> Result<(), CopyFail> {
    if past && !*checked {
        crate::engine::meta::attrs::regular_meta(src).map_err(CopyFail::Read)?;
        *checked = true;
    }
    Ok(())
}

/// After a step that moved `n` of the `asked` bytes (`total` of the
/// `expected` so far): throttled, and whether that was the file's end. A
/// short step of a regular file that reached the walk's size is its end: the
/// call that would say so is skipped. Otherwise waits out a pause.
fn step_ends(
    ctl: &Control,
    n: u64,
    asked: u64,
    (total, expected): (u64, u64),
) -> Result<bool, CopyFail> {
    ctl.throttle(n)?;
    if n < asked && total == expected {
        return Ok(true);
    }
    ctl.checkpoint()?;
    Ok(false)
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
/// (`copy_file_range`) when the mover allows it; pread/pwrite where it does
/// not, or the kernel or filesystem has no `copy_file_range`.
pub(crate) fn copy_range(
    src: BorrowedFd<'_>,
    out: BorrowedFd<'_>,
    (offset, len): (u64, Option<u64>),
    mv: &mut Mover<'_>,
    ctl: &Control,
    progress: &mut dyn FnMut(u64),
) -> Result<u64, CopyFail> {
    let mut offload = mv.offload.filter(|_| mv.hash.is_none());
    // `sendfile` writes at the destination's position: only once it is here
    // (a seek that fails leaves `copy_file_range` or the buffer).
    let may_send =
        !mv.out_shared && offload.is_some() && sys::seek(out, SeekFrom::Start(offset)).is_ok();
    let mut call = None;
    let mut done = 0u64;
    let mut hinted = offset;
    let end = len.map_or(u64::MAX, |l| offset + l);
    loop {
        // Bytes that pass through this machine are asked for ahead; not for
        // `copy_file_range`, which may clone, or copy on a server, reading
        // nothing here.
        let through_here = match (call, offload) {
            (Some(c), Some(_)) => c == Call::Send,
            (None, Some(k)) => may_send && k.sends(),
            (_, None) => true,
        };
        if through_here {
            ask_ahead(
                src,
                &mut hinted,
                (offset + done + read_ahead_bytes()).min(end),
            );
        }
        let step = ctl.step(STEP);
        let step = match len {
            Some(l) if done >= l => return Ok(done),
            Some(l) => (l - done).min(step),
            None => step,
        };
        let at = offset + done;
        let offloaded = match offload {
            Some(k) => k.copy(src, out, (at, step as usize), &mut call, may_send),
            None => Err(Errno::NOSYS),
        };
        let n = match offloaded {
            Ok(n) => n as u64,
            Err(e) if refused(e) => {
                offload = None;
                pread_pwrite(src, out, at, step, mv)?
            }
            Err(e) => return Err(offload_err(e)),
        };
        if n == 0 {
            return Ok(done);
        }
        done += n;
        progress(n);
        ctl.throttle(n)?;
        between_steps(ctl, mv.lane)?;
    }
}

fn pread_pwrite(
    src: BorrowedFd<'_>,
    out: BorrowedFd<'_>,
    offset: u64,
    len: u64,
    mv: &mut Mover<'_>,
) -> Result<u64, CopyFail> {
    let want = (len as usize).min(1024 * 1024);
    if mv.buf.len() < want {
        mv.buf.resize(want, 0);
    }
    let n = sys::pread(src, &mut mv.buf[..want], offset).map_err(read_err)?;
    pwrite_all(out, &mv.buf[..n], offset)?;
    if let Some(h) = mv.hash.as_deref_mut() {
        h.update(&mv.buf[..n]);
    }
    Ok(n as u64)
}

/// Copies only the data segments of a sparse file and sets the length, so the
/// holes are not written as zeros. Returns the bytes of data copied.
pub(crate) fn copy_sparse(
    src: BorrowedFd<'_>,
    out: BorrowedFd<'_>,
    size: u64,
    mv: &mut Mover<'_>,
    ctl: &Control,
    progress: &mut dyn FnMut(u64),
) -> Result<u64, CopyFail> {
    let mut pos = 0u64;
    let mut copied = 0u64;
    // No SEEK_DATA here: the rest is copied block by block, zeros skipped.
    let unsupported = |e| matches!(e, Errno::INVAL | Errno::OPNOTSUPP);
    while pos < size {
        let data = match sys::seek(src, SeekFrom::Data(pos)) {
            Ok(d) => d.min(size),
            Err(Errno::NXIO) => break, // only a hole remains
            Err(e) if unsupported(e) => {
                copied += copy_skipping_zeros(src, out, (pos, size), mv, ctl, progress)?;
                pos = size;
                break;
            }
            Err(e) => return Err(read_err(e)),
        };
        mv.hashed_zeros(data - pos);
        pos = data;
        let hole = match sys::seek(src, SeekFrom::Hole(data)) {
            Ok(h) => h.min(size),
            Err(e) if unsupported(e) => {
                copied += copy_skipping_zeros(src, out, (data, size), mv, ctl, progress)?;
                pos = size;
                break;
            }
            Err(e) => return Err(read_err(e)),
        };
        if hole > data {
            let n = copy_range(src, out, (data, Some(hole - data)), mv, ctl, progress)?;
            copied += n;
            pos = data + n;
            if n < hole - data {
                break; // the file shrank under us
            }
        }
        pos = pos.max(hole);
    }
    // The length as it was when read: a file that shrank meanwhile is not padded.
    let now = sys::fstat(src).map_or(size, |s| s.st_size as u64);
    let len = size.min(now);
    mv.hashed_zeros(len.saturating_sub(pos));
    sys::ftruncate(out, len).map_err(write_err)?;
    Ok(copied)
}

/// Where the filesystem cannot say where data is: reads from `from` to `size`
/// and writes only the blocks that are not all zeros, so holes stay holes
/// wherever the destination has them.
fn copy_skipping_zeros(
    src: BorrowedFd<'_>,
    out: BorrowedFd<'_>,
    (from, size): (u64, u64),
    mv: &mut Mover<'_>,
    ctl: &Control,
    progress: &mut dyn FnMut(u64),
) -> Result<u64, CopyFail> {
    const BLOCK: usize = 64 * 1024;
    if mv.buf.len() < BLOCK {
        mv.buf.resize(BLOCK, 0);
    }
    let mut pos = from;
    while pos < size {
        let want = (size - pos).min(BLOCK as u64) as usize;
        let n = sys::pread(src, &mut mv.buf[..want], pos).map_err(read_err)?;
        if n == 0 {
            break;
        }
        if mv.buf[..n].iter().any(|&b| b != 0) {
            pwrite_all(out, &mv.buf[..n], pos)?;
        }
        if let Some(h) = mv.hash.as_deref_mut() {
            h.update(&mv.buf[..n]);
        }
        pos += n as u64;
        progress(n as u64);
        ctl.throttle(n as u64)?;
        between_steps(ctl, mv.lane)?;
    }
    Ok(pos - from)
}

fn pwrite_all(out: BorrowedFd<'_>, data: &[u8], offset: u64) -> Result<(), CopyFail> {
    sys::pwrite_all(out, data, offset).map_err(write_err)
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
        let mut mv = Mover {
            buf: &mut buf,
            lane: None,
            offload: Some(&KernelCopy::default()),
            out_shared: false,
            hash: None,
            cache: Cache::Unasked,
        };
        let r = read_write(zero.as_fd(), out.as_fd(), &mut mv, 10, false, &ctl);
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
        let r = read_write(src.as_fd(), out.as_fd(), &mut mv, 100, false, &ctl);
        assert_eq!(r.unwrap(), 9000);
    }
}
