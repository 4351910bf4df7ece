//! Big files written past the page cache (`O_DIRECT`, `--direct`).
//!
//! On a virtual machine that hands its free memory back to its host (free
//! page reporting), every fresh page of the page cache costs the host a fault,
//! and filling the cache with the copy is what a big copy waits for: one
//! 4 GiB file took 5.6 s of kernel time through `copy_file_range` (`cp -a`)
//! and 2.3–2.9 s read into a buffer and written with `O_DIRECT`. Where memory
//! is not handed back (the reporting paused on that same machine), the cache
//! is the faster road: 1.6 s through it, 1.9–2.8 s past it. So by default
//! (`auto`) big files are written so only where the cache is costly, and only
//! onto local disk filesystems (where the kernel's own copy is a plain copy
//! through the cache, and a clone was not possible or not wanted; anywhere
//! else `copy_file_range` may do better: a server-side copy). `--direct`
//! asks for it wherever the filesystem takes it: a big copy that must not
//! push what is in memory out of it.
//!
//! A big file's steps are read (buffered: a warm source comes from memory, a
//! cold one with the kernel's read-ahead, asked for a few steps further) into
//! one of two aligned buffers while the other is written by a second thread:
//! reading and writing overlap, and the data is on the device when the copy
//! says done.

use std::os::fd::BorrowedFd;
use std::sync::OnceLock;

use rustix::fs::OFlags;
use rustix::io::Errno;

use super::bytes::{self, CopyFail, Mover};
use crate::config::Direct;
use crate::engine::control::handle::Control;
use crate::engine::os::sys;

/// Files at least this large are written so.
pub(crate) const FROM: u64 = 32 * 1024 * 1024;
/// Bytes per step: what one buffer holds, and the granularity of pause,
/// cancel and progress.
const STEP: usize = 8 * 1024 * 1024;
/// What `O_DIRECT` asks of buffers, offsets and lengths on any device (a
/// multiple of every logical block size).
const ALIGN: usize = 4096;
/// Steps of the source asked for ahead of the one being read (a cold source
/// then has several reads queued at the device: one 4 GiB file cold in
/// 5.7–6.5 s against 8.1–8.4 s without).
const AHEAD: u64 = 4;

/// Whether big files onto the filesystem of `dest` are written past the
/// page cache.
pub(crate) fn wanted(choice: Direct, dest: BorrowedFd<'_>) -> bool {
    match choice {
        Direct::Always => true,
        Direct::Never => false,
        Direct::Auto => page_cache_is_costly() && local_disk(dest),
    }
}

/// Whether the filesystem of `fd` is a local disk filesystem, whose
/// `copy_file_range` is a copy through the page cache.
fn local_disk(fd: BorrowedFd<'_>) -> bool {
    const EXT4: i64 = 0xEF53;
    const XFS: i64 = 0x5846_5342;
    const BTRFS: i64 = 0x9123_683E;
    const F2FS: i64 = 0xF2F5_2010;
    rustix::fs::fstatfs(fd).is_ok_and(|s| {
        #[allow(clippy::unnecessary_cast)] // (its type differs between targets)
        let kind = s.f_type as i64;
        matches!(kind, EXT4 | XFS | BTRFS | F2FS)
    })
}

/// Whether this machine hands its free memory back to a hypervisor (free
/// page reporting on): then every page the copy adds to the cache is first
/// faulted in by the host. Read once per process.
pub fn page_cache_is_costly() -> bool {
    static COSTLY: OnceLock<bool> = OnceLock::new();
    *COSTLY.get_or_init(|| {
        let order =
            std::fs::read_to_string("/sys/module/page_reporting/parameters/page_reporting_order");
        let buddy = std::fs::read_to_string("/proc/buddyinfo");
        match (order, buddy) {
            (Ok(order), Ok(buddy)) => reporting(&order, &buddy),
            _ => false,
        }
    })
}

/// Whether free memory is reported, from the reporting order (the smallest
/// free block handed back; it stays at its "unset" value, 2³² − 1, until a
/// balloon driver registers, and a benchmark pauses reporting by raising it)
/// and `/proc/buddyinfo` (one column per order the kernel keeps).
fn reporting(order: &str, buddyinfo: &str) -> bool {
    let Ok(order) = order.trim().parse::<u64>() else {
        return false;
    };
    let orders = buddyinfo
        .lines()
        .next()
        .map_or(0, |l| l.split_whitespace().skip(4).count() as u64);
    order < orders
}

/// A buffer whose slice starts on an `ALIGN` boundary.
struct Aligned {
    mem: Vec<u8>,
    at: usize,
}

impl Aligned {
    fn new() -> Self {
        let mem = vec![0u8; STEP + ALIGN];
        let at = mem.as_ptr().align_offset(ALIGN);
        Aligned { mem, at }
    }

    fn get(&self) -> &[u8] {
        &self.mem[self.at..self.at + STEP]
    }

    fn get_mut(&mut self) -> &mut [u8] {
        &mut self.mem[self.at..self.at + STEP]
    }
}

/// Copies `src` from `start` to its end into `out`, calling `progress` as
/// steps reach the device. `None` when `out` cannot be written so (the
/// caller copies as usual; nothing was written).
pub(crate) fn copy(
    src: BorrowedFd<'_>,
    out: BorrowedFd<'_>,
    (start, len): (u64, u64),
    mv: &mut Mover<'_>,
    ctl: &Control,
    progress: &mut dyn FnMut(u64),
) -> Option<Result<u64, CopyFail>> {
    if !start.is_multiple_of(ALIGN as u64) {
        return None;
    }
    let flags = sys::get_flags(out).ok()?;
    sys::set_flags(out, flags | OFlags::DIRECT).ok()?;
    let _ = sys::advise_sequential(src);
    let copied = pipeline(src, out, flags, (start, start + len), mv, ctl, progress);
    // What comes after (the ordinary copy, metadata) sees an ordinary file.
    let cleared = sys::set_flags(out, flags);
    match (copied?, cleared) {
        (Ok(_), Err(e)) => Some(Err(CopyFail::Write(e.into()))),
        (r, _) => Some(r),
    }
}

/// What the writer gives back: the buffer and the bytes it wrote, or why it
/// could not.
type Written = Result<(Aligned, usize), Errno>;

/// Reads steps from `start` to `end` and hands them to a writer thread;
/// `None` when that thread cannot start (nothing was written: the caller
/// copies as usual).
fn pipeline(
    src: BorrowedFd<'_>,
    out: BorrowedFd<'_>,
    flags: OFlags,
    (start, end): (u64, u64),
    mv: &mut Mover<'_>,
    ctl: &Control,
    progress: &mut dyn FnMut(u64),
) -> Option<Result<u64, CopyFail>> {
    let (to_write, steps) = crossbeam_channel::bounded::<(Aligned, u64, usize)>(2);
    let (written_tx, written) = crossbeam_channel::bounded::<Written>(2);
    std::thread::scope(|s| {
        let writer = std::thread::Builder::new()
            .name("convoy-writer".into())
            .spawn_scoped(s, move || write_steps(out, flags, steps, written_tx));
        writer.ok()?;
        let mut free = vec![Aligned::new(), Aligned::new()];
        let mut in_flight = 0usize;
        let mut done = 0u64;
        let mut failed: Option<CopyFail> = None;
        let mut take_back = |free: &mut Vec<Aligned>, done: &mut u64| match written.recv() {
            Ok(Ok((buf, n))) => {
                free.push(buf);
                *done += n as u64;
                progress(n as u64);
                Ok(())
            }
            Ok(Err(e)) => Err(CopyFail::Write(e.into())),
            Err(_) => Err(CopyFail::Write(Errno::IO.into())),
        };
        let (mut pos, mut hinted) = (start, start);
        loop {
            bytes::ask_ahead(src, &mut hinted, pos + AHEAD * STEP as u64);
            if free.is_empty() {
                in_flight -= 1;
                if let Err(f) = take_back(&mut free, &mut done) {
                    failed = Some(f);
                    break;
                }
            }
            let mut buf = free.pop().expect("a buffer is free");
            let want = ctl.step(STEP as u64).min(end.saturating_sub(pos)) as usize;
            if want == 0 {
                free.push(buf);
                break;
            }
            let n = match sys::pread_full(src, &mut buf.get_mut()[..want], pos) {
                Ok(n) => n,
                Err(e) => {
                    failed = Some(CopyFail::Read(e.into()));
                    break;
                }
            };
            if let Some(h) = mv.hash.as_deref_mut() {
                h.update(&buf.get()[..n]);
            }
            if n > 0 {
                if to_write.send((buf, pos, n)).is_err() {
                    failed = Some(CopyFail::Write(Errno::IO.into()));
                    break;
                }
                in_flight += 1;
                pos += n as u64;
            }
            if n < want {
                break; // its end
            }
            let next = ctl.throttle(n as u64).map_err(CopyFail::from);
            if let Err(f) = next.and_then(|()| bytes::between_steps(ctl, mv.lane)) {
                failed = Some(f);
                break;
            }
        }
        drop(to_write);
        while in_flight > 0 {
            in_flight -= 1;
            if let Err(f) = take_back(&mut free, &mut done) {
                failed.get_or_insert(f);
            }
        }
        Some(match failed {
            Some(f) => Err(f),
            None => Ok(done),
        })
    })
}

/// The writer's thread: each step written at its offset and given back.
/// After a failure the rest is given back unwritten, with it.
fn write_steps(
    out: BorrowedFd<'_>,
    flags: OFlags,
    steps: crossbeam_channel::Receiver<(Aligned, u64, usize)>,
    written: crossbeam_channel::Sender<Written>,
) {
    let mut direct = true;
    let mut failed = None;
    for (buf, pos, n) in steps {
        let r = match failed {
            Some(e) => Err(e),
            None => write_step(out, flags, &mut direct, &buf.get()[..n], pos),
        };
        failed = r.err();
        if written.send(r.map(|()| (buf, n))).is_err() {
            return;
        }
    }
}

/// Writes `data` at `pos`: its aligned part with `O_DIRECT` while `direct`,
/// the rest (a file's last bytes, or all where the filesystem refuses a
/// direct write) through the page cache, `O_DIRECT` cleared for good.
fn write_step(
    out: BorrowedFd<'_>,
    flags: OFlags,
    direct: &mut bool,
    data: &[u8],
    pos: u64,
) -> rustix::io::Result<()> {
    let mut off = 0;
    if *direct {
        let aligned = data.len() / ALIGN * ALIGN;
        while off < aligned {
            match sys::pwrite(out, &data[off..aligned], pos + off as u64) {
                Ok(0) => return Err(Errno::NOSPC),
                Ok(n) => off += n,
                // Not this file, not here: the rest goes through the cache.
                Err(Errno::INVAL) => break,
                Err(e) => return Err(e),
            }
        }
    }
    if off < data.len() {
        if *direct {
            sys::set_flags(out, flags)?;
            *direct = false;
        }
        sys::pwrite_all(out, &data[off..], pos + off as u64)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    fn copied(len: usize, start: u64) -> (Vec<u8>, Vec<u8>, Vec<u64>) {
        let dir = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..len).map(|i| (i * 7 + i / 4096) as u8).collect();
        std::fs::write(dir.path().join("src"), &data).unwrap();
        let src = std::fs::File::open(dir.path().join("src")).unwrap();
        let out = std::fs::File::create(dir.path().join("out")).unwrap();
        let mut buf = Vec::new();
        let mut h = blake3::Hasher::new();
        let mut mv = Mover {
            buf: &mut buf,
            lane: None,
            offload: None,
            out_shared: false,
            hash: Some(&mut h),
            cache: crate::engine::data::bytes::Cache::Unasked,
        };
        let mut steps = Vec::new();
        let r = copy(
            src.as_fd(),
            out.as_fd(),
            (start, len as u64 - start),
            &mut mv,
            &Control::new(1, 1),
            &mut |n| steps.push(n),
        );
        // (tmpfs, where the tests may run, has no O_DIRECT on older kernels.)
        if let Some(r) = r {
            assert_eq!(r.unwrap(), len as u64 - start);
            assert_eq!(
                h.finalize(),
                blake3::hash(&data[start as usize..]),
                "hashed as read"
            );
        } else {
            std::fs::copy(dir.path().join("src"), dir.path().join("out")).unwrap();
        }
        let got = std::fs::read(dir.path().join("out")).unwrap();
        (data, got, steps)
    }

    #[test]
    fn every_byte_arrives_whatever_the_length_and_the_tail_goes_through_the_cache() {
        for len in [
            0,
            1,
            ALIGN - 1,
            ALIGN,
            STEP,
            STEP + 1,
            2 * STEP + ALIGN + 17,
        ] {
            let (want, got, steps) = copied(len, 0);
            assert_eq!(got.len(), want.len(), "length of {len}");
            assert!(got == want, "content of {len}");
            assert_eq!(steps.iter().sum::<u64>(), len as u64, "progress of {len}");
        }
    }

    #[test]
    fn a_copy_continued_at_an_aligned_offset_writes_only_the_rest() {
        let (want, got, steps) = copied(STEP + 5000, 2 * ALIGN as u64);
        assert_eq!(steps.iter().sum::<u64>(), (STEP + 5000 - 2 * ALIGN) as u64);
        assert_eq!(&got[2 * ALIGN..], &want[2 * ALIGN..]);
    }
}

#[cfg(test)]
mod cost_tests {
    use super::reporting;

    const BUDDY: &str = "Node 0, zone      DMA      0      0      0      0      0      0      0      0      1      1      3 \n\
                         Node 0, zone   Normal   9227   7088   2531    458    157     92    147     76     37     28   1941 \n";

    #[test]
    fn free_memory_is_reported_only_at_an_order_the_kernel_keeps() {
        assert!(reporting("9\n", BUDDY), "a balloon reporting 2 MiB blocks");
        assert!(reporting("10\n", BUDDY), "the largest order kept");
        assert!(!reporting("11\n", BUDDY), "paused past the largest order");
        assert!(!reporting("4294967295\n", BUDDY), "no balloon registered");
        assert!(!reporting("", BUDDY));
        assert!(!reporting("9", ""), "no orders read");
    }
}
