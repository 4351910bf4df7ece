//! How far the walker may run ahead of the workers, counted in entries, not
//! jobs: a job of small files holds one folder's few entries, one of a big
//! folder 256, and memory follows the entries.
//!
//! Why ahead at all: the walker makes each folder as it meets it, so the
//! further it leads, the earlier a folder exists before its files are
//! created. On ext4 that decides where the files' inodes go. Folders made in
//! step with their files (64 jobs ahead: 64 folders of a tree of small ones)
//! keep the files packed into the few block groups where the folders went;
//! just after a big deletion those groups are full of inodes freed in the
//! last minutes, which ext4 scans past on every create (`recently_deleted`),
//! and a copy of 50,000 small files took twice the kernel time of one whose
//! folders were all made first (measured in `tests/bench/RESULTS.md`).
//! Folders made hundreds ahead spread their files over many groups, as the
//! peers' do.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, PoisonError};
use std::time::Duration;

/// Entries queued at most (about 110 bytes each while queued): 16,384 lets
/// the walker make the next 650 folders of a tree of small files ahead of the
/// workers, and holds a big folder to 64 jobs of 256.
pub(crate) const ENTRIES: usize = 16 * 1024;

#[derive(Default)]
pub(crate) struct Backlog {
    queued: Mutex<usize>,
    room: Condvar,
    /// Threads taking jobs: with none (not started, or all gone) nobody
    /// would make room, so the walker does not wait.
    takers: AtomicUsize,
}

impl Backlog {
    /// Waits until `n` more entries fit (one job always fits), then counts them.
    pub fn reserve(&self, n: usize) {
        let mut queued = self.queued.lock().unwrap_or_else(PoisonError::into_inner);
        while *queued > 0 && *queued + n > ENTRIES && self.takers.load(Ordering::Acquire) > 0 {
            // The timeout re-reads `takers`: a worker that dies makes no room.
            queued = self
                .room
                .wait_timeout(queued, Duration::from_millis(50))
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        *queued += n;
    }

    /// A taker took a job of `n` entries off the queue.
    pub fn release(&self, n: usize) {
        let mut queued = self.queued.lock().unwrap_or_else(PoisonError::into_inner);
        *queued = queued.saturating_sub(n);
        drop(queued);
        self.room.notify_one();
    }

    /// Counts the calling thread as a taker until the guard drops.
    pub fn taker(&self) -> Taker<'_> {
        self.takers.fetch_add(1, Ordering::AcqRel);
        Taker(self)
    }
}

pub(crate) struct Taker<'a>(&'a Backlog);

impl Drop for Taker<'_> {
    fn drop(&mut self) {
        self.0.takers.fetch_sub(1, Ordering::AcqRel);
        self.0.room.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn the_walker_waits_for_room_only_while_someone_takes() {
        let b = Arc::new(Backlog::default());
        // Nobody takes yet: no waiting, whatever the count.
        b.reserve(ENTRIES);
        b.reserve(ENTRIES);
        let taker = b.taker();
        let walker = {
            let b = Arc::clone(&b);
            std::thread::spawn(move || b.reserve(10))
        };
        std::thread::sleep(Duration::from_millis(100));
        assert!(!walker.is_finished(), "over the budget, it waits");
        b.release(2 * ENTRIES);
        walker.join().unwrap();
        // A taker that goes frees a waiting walker too.
        b.release(10);
        b.reserve(ENTRIES);
        let walker = {
            let b = Arc::clone(&b);
            std::thread::spawn(move || b.reserve(10))
        };
        std::thread::sleep(Duration::from_millis(100));
        assert!(!walker.is_finished());
        drop(taker);
        walker.join().unwrap();
    }
}
