//! The floor of a folder copy on this machine, for the benchmark (`FLOOR=1
//! tests/bench/run.sh`): the least any copier has to do, with convoy's
//! parallelism and nothing else. One thread walks (`readdir`, the type from
//! the entry, no `stat`) and makes each folder before handing out its files;
//! workers open the source, create the copy, move the bytes in the kernel
//! (`copy_file_range`) and close both. No temporaries, no conflict checks, no
//! progress, no error reporting beyond the first one.
//!
//! `--exact` adds what an exact copy cannot skip: each file's mode and times
//! (one `fstat`, `fchmod`, `futimens`); folders keep the time their filling
//! gave them. A copier slower than `floor --exact` does work beyond the
//! minimum; a target below `floor` is past what the machine allows.
//!
//!     floor [--exact] [-j N] SOURCE DEST
use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

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

fn copy_tree(source: &Path, dest: &Path, exact: bool, jobs: usize) -> std::io::Result<()> {
    let (tx, rx) = crossbeam_channel::bounded::<(PathBuf, PathBuf)>(4096);
    let workers: Vec<_> = (0..jobs)
        .map(|_| {
            let rx = rx.clone();
            std::thread::spawn(move || rx.iter().try_for_each(|(s, d)| copy_file(&s, &d, exact)))
        })
        .collect();
    drop(rx);
    let walked = (|| {
        for entry in walkdir::WalkDir::new(source) {
            let entry = entry?;
            let to = dest.join(entry.path().strip_prefix(source).unwrap_or(entry.path()));
            let kind = entry.file_type();
            if kind.is_dir() {
                fs::DirBuilder::new().mode(0o755).create(&to)?;
            } else if kind.is_symlink() {
                std::os::unix::fs::symlink(fs::read_link(entry.path())?, &to)?;
            } else if kind.is_file() && tx.send((entry.into_path(), to)).is_err() {
                break; // a worker failed: its error is the one to tell
            }
        }
        Ok::<_, std::io::Error>(())
    })();
    drop(tx);
    for worker in workers {
        worker.join().expect("a floor worker panicked")?;
    }
    walked
}

fn copy_file(source: &Path, dest: &Path, exact: bool) -> std::io::Result<()> {
    let from = File::open(source)?;
    let to = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(dest)?;
    while rustix::fs::copy_file_range(&from, None, &to, None, 1 << 30)? > 0 {}
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
