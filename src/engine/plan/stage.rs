//! Folders this run creates are made under a temporary name and renamed to their
//! own name once the files the walk met in them before their first subfolder are
//! written (for most folders: all their files). Such a file needs no temporary of
//! its own: it is created under its final name, one call instead of a nameless
//! create plus a link (about a tenth of the kernel time of a tree of small files).
//! Files met later are written as in any visible folder. After a crash every final
//! name in the destination still holds a complete file; what was being written in
//! place sits in a temporary folder the next run removes.

use std::ffi::OsString;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

/// The staging state of a folder this run creates.
#[derive(Debug)]
pub(crate) struct Stage {
    /// Its name in its parent until it is placed.
    pub temp: OsString,
    /// In-place jobs of the folder not yet finished, plus one while the walker
    /// may still plan more of them.
    pending: AtomicUsize,
    walker_done: AtomicBool,
    /// Read and written under the destination's placement lock.
    placed: AtomicBool,
    /// Set once placing it failed: it is not tried again (a retry would only
    /// report its own error, not the cause).
    settled: AtomicBool,
    /// Why it could not be renamed into place, reported with the folder.
    failed: Mutex<Option<io::Error>>,
    /// Entries written in place whose failed copy could not be removed: they
    /// must not go into place with the folder (see `DestRoot::place`).
    tainted: Mutex<Vec<OsString>>,
    /// What was reported copied into it, in place: (files, their bytes,
    /// symlinks). If the folder is not put in place, none of it is there.
    written: Mutex<(u64, u64, u64)>,
}

impl Stage {
    pub fn new(temp: OsString) -> Self {
        Stage {
            temp,
            pending: AtomicUsize::new(1),
            walker_done: AtomicBool::new(false),
            placed: AtomicBool::new(false),
            settled: AtomicBool::new(false),
            failed: Mutex::new(None),
            tainted: Mutex::new(Vec::new()),
            written: Mutex::new((0, 0, 0)),
        }
    }

    /// A file (of `bytes`) or a symlink was copied into it, in place.
    pub fn wrote(&self, file: bool, bytes: u64) {
        let mut w = self.written.lock().unwrap_or_else(PoisonError::into_inner);
        match file {
            true => (w.0, w.1) = (w.0 + 1, w.1 + bytes),
            false => w.2 += 1,
        }
    }

    /// (files, bytes, symlinks) copied into it in place.
    pub fn written(&self) -> (u64, u64, u64) {
        *self.written.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether the walker still plans files of this folder to be written in place.
    pub fn open_for_files(&self) -> bool {
        !self.walker_done.load(Ordering::Acquire)
    }

    /// An in-place job for this folder is about to be queued.
    pub fn add_job(&self) {
        self.pending.fetch_add(1, Ordering::AcqRel);
    }

    /// A job is finished; `true` when nothing is left to write in the folder.
    pub fn job_done(&self) -> bool {
        self.pending.fetch_sub(1, Ordering::AcqRel) == 1
    }

    /// The walker plans no more in-place files here (it met a subfolder or left
    /// the folder); `true` when nothing is left to write in place.
    pub fn walker_done(&self) -> bool {
        !self.walker_done.swap(true, Ordering::AcqRel) && self.job_done()
    }

    pub fn is_placed(&self) -> bool {
        self.placed.load(Ordering::Acquire)
    }

    pub fn set_placed(&self) {
        self.placed.store(true, Ordering::Release);
        self.settled.store(true, Ordering::Release);
    }

    /// Placed, or failed to be: nothing more to try.
    pub fn is_settled(&self) -> bool {
        self.settled.load(Ordering::Acquire)
    }

    /// Why placing it failed, for what it holds (the error itself stays to
    /// be reported with the folder).
    pub fn failure(&self) -> Option<(io::ErrorKind, String)> {
        let failed = self.failed.lock().unwrap_or_else(PoisonError::into_inner);
        failed.as_ref().map(|e| (e.kind(), e.to_string()))
    }

    pub fn set_failed(&self, e: io::Error) {
        *self.failed.lock().unwrap_or_else(PoisonError::into_inner) = Some(e);
        self.settled.store(true, Ordering::Release);
    }

    /// `name` in this folder holds a failed copy that could not be removed.
    pub fn taint(&self, name: OsString) {
        self.tainted
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(name);
    }

    pub fn take_tainted(&self) -> Vec<OsString> {
        std::mem::take(&mut *self.tainted.lock().unwrap_or_else(PoisonError::into_inner))
    }

    pub fn take_failure(&self) -> Option<io::Error> {
        self.failed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_is_done_once_the_walker_lets_go_and_every_job_is_finished() {
        let s = Stage::new(".convoy-x.tmp".into());
        s.add_job();
        s.add_job();
        assert!(!s.job_done());
        assert!(s.open_for_files());
        assert!(!s.walker_done());
        assert!(!s.walker_done(), "the walker lets go once");
        assert!(!s.open_for_files());
        assert!(s.job_done());
        let empty = Stage::new(".convoy-y.tmp".into());
        assert!(
            empty.walker_done(),
            "a folder without in-place files is done when the walker lets go"
        );
    }
}
