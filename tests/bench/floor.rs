//! The floor of a folder copy on this machine, for the benchmark (`FLOOR=1
//! tests/bench/run.sh`): the least any copier has to do, with convoy's worker
//! count and nothing else. Each worker takes a folder from a shared queue,
//! reads it (the type from the entry, no `stat`), makes its subfolders and
//! queues them, and copies its files: open the source, create the copy, move
//! the bytes in the kernel (`copy_file_range`; `sendfile` from the first file
//! that says the two sides are on different filesystems, where Linux moves no
//! bytes with `copy_file_range`), close both. No temporaries, no
//! conflict checks, no progress, no read-ahead (a floor of the work, not of a
//! cold device's latency), no error reporting beyond the first one.
//!
//! `--exact` adds what an exact copy cannot skip: each file's mode and times
//! (one `fstat`, `fchmod`, `futimens`); folders keep the time their filling
//! gave them. A copier slower than `floor --exact` does work beyond the
//! minimum; a target below `floor` is past what the machine allows.
//!
//!     floor [--exact] [-j N] SOURCE DEST
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Source and destination are on different filesystems: `copy_file_range`
/// fails there (EXDEV), `sendfile` does the same in-kernel copy.
static CROSS: AtomicBool = AtomicBool::new(false);

fn main() -> ExitCode {
    let mut exact = false;
    let mut jobs = std::thread::available_parallelism().map_or(2, |n| 2 * n.get());
    let mut paths = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--exact" => exact = true,
            "-j" => jobs = args.next().and_then(|n| n.parse().ok()).unwrap_or(jobs),
            _ => paths.push(PathBuf::from(arg)),
        }
    }
    let [source, dest] = paths.as_slice() else {
        eprintln!("usage: floor [--exact] [-j N] SOURCE DEST");
        return ExitCode::from(2);
    };
    match copy_tree(source, dest, exact, jobs.max(1)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("floor: {e}");
            ExitCode::FAILURE
        }
    }
}

fn copy_tree(source: &Path, dest: &Path, exact: bool, jobs: usize) -> io::Result<()> {
    fs::DirBuilder::new().mode(0o755).create(dest)?;
    // `None` tells a worker the tree is done: every worker holds a sender, so
    // the queue never closes by itself.
    let (tx, rx) = crossbeam_channel::unbounded::<Option<(PathBuf, PathBuf)>>();
    let pending = AtomicUsize::new(1);
    let _ = tx.send(Some((source.to_path_buf(), dest.to_path_buf())));
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..jobs)
            .map(|_| {
                s.spawn(|| {
                    let mut first = Ok(());
                    while let Ok(Some((from, to))) = rx.recv() {
                        let queue = |sub| {
                            pending.fetch_add(1, Ordering::SeqCst);
                            let _ = tx.send(Some(sub));
                        };
                        let done = copy_folder(&from, &to, exact, queue);
                        first = first.and(done);
                        if pending.fetch_sub(1, Ordering::SeqCst) == 1 {
                            (0..jobs).for_each(|_| drop(tx.send(None)));
                        }
                    }
                    first
                })
            })
            .collect();
        workers
            .into_iter()
            .try_for_each(|w| w.join().expect("a floor worker panicked"))
    })
}

fn copy_folder(
    from: &Path,
    to: &Path,
    exact: bool,
    queue: impl Fn((PathBuf, PathBuf)),
) -> io::Result<()> {
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let (source, dest) = (entry.path(), to.join(entry.file_name()));
        if kind.is_dir() {
            fs::DirBuilder::new().mode(0o755).create(&dest)?;
            queue((source, dest));
        } else if kind.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(&source)?, &dest)?;
        } else if kind.is_file() {
            copy_file(&source, &dest, exact)?;
        }
    }
    Ok(())
}

fn copy_file(source: &Path, dest: &Path, exact: bool) -> io::Result<()> {
    let from = File::open(source)?;
    let to = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(dest)?;
    loop {
        let moved = if CROSS.load(Ordering::Relaxed) {
            rustix::fs::sendfile(&to, &from, None, 1 << 30)?
        } else {
            match rustix::fs::copy_file_range(&from, None, &to, None, 1 << 30) {
                Err(rustix::io::Errno::XDEV) => {
                    CROSS.store(true, Ordering::Relaxed);
                    continue;
                }
                moved => moved?,
            }
        };
        if moved == 0 {
            break;
        }
    }
    if exact {
        let meta = from.metadata()?;
        rustix::fs::fchmod(&to, rustix::fs::Mode::from_raw_mode(meta.mode()))?;
        let time = |sec, nsec| rustix::fs::Timespec {
            tv_sec: sec,
            tv_nsec: nsec,
        };
        let times = rustix::fs::Timestamps {
            last_access: time(meta.atime(), meta.atime_nsec()),
            last_modification: time(meta.mtime(), meta.mtime_nsec()),
        };
        rustix::fs::futimens(&to, &times)?;
    }
    Ok(())
}
