//! The control handle: cancel, pause/resume and the number of active workers, all
//! through one counting gate that every worker passes before it takes a job;
//! and the bandwidth limit, which workers obey between steps of a copy.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};

use super::limit::RateLimit;

/// A worker waiting on the bandwidth limit looks at cancel at least this often.
const THROTTLE_SLICE: Duration = Duration::from_millis(100);

/// A person's answer to a conflict held under the `Ask` policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    Overwrite,
    Skip,
    /// Copy beside it as `name (1).ext`.
    KeepBoth,
    OverwriteIfNewer,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answer {
    /// The conflict's id from [`crate::event::Conflict`].
    pub id: u64,
    pub choice: Choice,
    /// Also for every conflict still waiting and every one still to come.
    pub for_all: bool,
}

#[derive(Debug)]
struct Gate {
    /// Workers allowed to hold a job at once.
    limit: usize,
    running: usize,
    paused: bool,
}

#[derive(Debug)]
struct Inner {
    gate: Mutex<Gate>,
    wake: Condvar,
    /// Mirrors of the gate's flags so copy loops can check them without locking.
    cancelled: AtomicBool,
    paused: AtomicBool,
    /// Mirrors of `Gate::running` and `Gate::limit` for the between-jobs check.
    running: AtomicUsize,
    limit: AtomicUsize,
    /// Lowered once if fewer worker threads could start than asked.
    max_workers: AtomicUsize,
    bwlimit: RateLimit,
    /// Per worker: files started on its lane, and the one of them a person
    /// asked to skip (0: none).
    lane_started: Box<[AtomicU64]>,
    lane_skip: Box<[AtomicU64]>,
    answers: Sender<Answer>,
    answers_rx: Mutex<Option<Receiver<Answer>>>,
    /// A person's word on a mirror's deletions.
    consent: Sender<bool>,
    consent_rx: Receiver<bool>,
}

/// Cheap to clone; every clone controls the same run.
#[derive(Debug, Clone)]
pub struct Control {
    inner: Arc<Inner>,
}

/// Returned by a checkpoint when the run was cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cancelled;

impl Control {
    pub fn new(workers: usize, max_workers: usize) -> Self {
        let max_workers = max_workers.max(1);
        let (answers, answers_rx) = crossbeam_channel::unbounded();
        let (consent, consent_rx) = crossbeam_channel::bounded(1);
        Control {
            inner: Arc::new(Inner {
                gate: Mutex::new(Gate {
                    limit: workers.clamp(1, max_workers),
                    running: 0,
                    paused: false,
                }),
                wake: Condvar::new(),
                cancelled: AtomicBool::new(false),
                paused: AtomicBool::new(false),
                running: AtomicUsize::new(0),
                limit: AtomicUsize::new(workers.clamp(1, max_workers)),
                max_workers: AtomicUsize::new(max_workers),
                bwlimit: RateLimit::default(),
                lane_started: (0..max_workers).map(|_| AtomicU64::new(0)).collect(),
                lane_skip: (0..max_workers).map(|_| AtomicU64::new(0)).collect(),
                answers,
                answers_rx: Mutex::new(Some(answers_rx)),
                consent,
                consent_rx,
            }),
        }
    }

    fn gate(&self) -> MutexGuard<'_, Gate> {
        // A worker that panicked while holding the lock left consistent counters.
        self.inner.gate.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn cancel(&self) {
        self.inner.cancelled.store(true, Ordering::SeqCst);
        let _g = self.gate();
        self.inner.wake.notify_all();
    }

    pub fn is_cancelled(&self) -> bool {
        self.inner.cancelled.load(Ordering::Relaxed)
    }

    pub fn set_paused(&self, paused: bool) {
        let mut g = self.gate();
        g.paused = paused;
        self.inner.paused.store(paused, Ordering::SeqCst);
        self.inner.wake.notify_all();
    }

    pub fn is_paused(&self) -> bool {
        self.inner.paused.load(Ordering::Relaxed)
    }

    /// Changes how many workers may copy at once; returns the value now in force.
    pub fn set_workers(&self, n: usize) -> usize {
        let mut g = self.gate();
        g.limit = n.clamp(1, self.max_workers());
        self.inner.limit.store(g.limit, Ordering::SeqCst);
        self.inner.wake.notify_all();
        g.limit
    }

    pub fn workers(&self) -> usize {
        self.gate().limit
    }

    pub fn max_workers(&self) -> usize {
        self.inner.max_workers.load(Ordering::Relaxed)
    }

    /// Only `n` worker threads could start: no more may copy at once, ever.
    pub(crate) fn cap_workers(&self, n: usize) {
        let mut g = self.gate();
        self.inner.max_workers.store(n.max(1), Ordering::Relaxed);
        g.limit = g.limit.clamp(1, n.max(1));
        self.inner.limit.store(g.limit, Ordering::SeqCst);
        self.inner.wake.notify_all();
    }

    /// Limits what all workers together write to `rate` bytes a second
    /// (`None`: no limit), from their next step on.
    pub fn set_bwlimit(&self, rate: Option<u64>) -> Option<u64> {
        self.inner.bwlimit.set(rate.filter(|r| *r > 0));
        let _g = self.gate();
        self.inner.wake.notify_all();
        self.bwlimit()
    }

    pub fn bwlimit(&self) -> Option<u64> {
        self.inner.bwlimit.get()
    }

    /// How many bytes one step of a copy moves: `default`, or less under a
    /// bandwidth limit (see `limit`).
    pub(crate) fn step(&self, default: u64) -> u64 {
        self.inner.bwlimit.step(default)
    }

    /// Charges `n` bytes just written to the bandwidth limit and waits until
    /// they are paid for; a new limit or a cancel ends the wait at once.
    pub(crate) fn throttle(&self, n: u64) -> Result<(), Cancelled> {
        let wait = self.inner.bwlimit.charge(n);
        if wait.is_zero() {
            return Ok(());
        }
        let generation = self.inner.bwlimit.generation();
        let until = Instant::now() + wait;
        let mut g = self.gate();
        loop {
            if self.is_cancelled() {
                return Err(Cancelled);
            }
            let now = Instant::now();
            if now >= until || self.inner.bwlimit.generation() != generation {
                return Ok(());
            }
            let slice = (until - now).min(THROTTLE_SLICE);
            g = match self.inner.wake.wait_timeout(g, slice) {
                Ok((g, _)) => g,
                Err(e) => e.into_inner().0,
            };
        }
    }

    /// Skips the file `worker` is copying, if it is still its `started`th
    /// (as counted from its `Started` events): it is reported as skipped by
    /// the user and its partial removed; the rest goes on.
    pub fn skip_file(&self, worker: usize, started: u64) {
        if let Some(s) = self.inner.lane_skip.get(worker) {
            s.store(started, Ordering::SeqCst);
        }
    }

    /// A worker starts a file on its lane; its number there.
    pub(crate) fn lane_started(&self, worker: usize) -> u64 {
        self.inner
            .lane_started
            .get(worker)
            .map_or(0, |n| n.fetch_add(1, Ordering::SeqCst) + 1)
    }

    /// Whether a person asked to skip this file of `worker`'s.
    pub(crate) fn skip_asked(&self, (worker, started): (usize, u64)) -> bool {
        self.inner
            .lane_skip
            .get(worker)
            .is_some_and(|s| s.load(Ordering::Relaxed) == started)
    }

    /// Settles a parked conflict ([`crate::event::Event::Conflict`]) with a
    /// person's answer.
    /// A mirror waiting on its deletions (`Event::Prune` with `awaiting`):
    /// `true` deletes them, `false` keeps every one.
    pub fn confirm_deletions(&self, yes: bool) {
        let _ = self.inner.consent.try_send(yes);
    }

    /// Waits for [`Control::confirm_deletions`]; `None` once cancelled.
    pub(crate) fn wait_for_consent(&self) -> Option<bool> {
        loop {
            if self.is_cancelled() {
                return None;
            }
            if let Ok(yes) = self.inner.consent_rx.recv_timeout(THROTTLE_SLICE) {
                return Some(yes);
            }
        }
    }

    pub fn answer(&self, a: Answer) {
        let _ = self.inner.answers.send(a);
    }

    pub(crate) fn take_answers(&self) -> Option<Receiver<Answer>> {
        self.inner
            .answers_rx
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }

    /// Blocks until this worker may take a job. `Err` once cancelled.
    pub(crate) fn enter(&self) -> Result<(), Cancelled> {
        let mut g = self.gate();
        loop {
            if self.is_cancelled() {
                return Err(Cancelled);
            }
            if !g.paused && g.running < g.limit {
                g.running += 1;
                self.inner.running.store(g.running, Ordering::SeqCst);
                return Ok(());
            }
            g = self.inner.wake.wait(g).unwrap_or_else(|e| e.into_inner());
        }
    }

    pub(crate) fn leave(&self) {
        let mut g = self.gate();
        g.running -= 1;
        self.inner.running.store(g.running, Ordering::SeqCst);
        self.inner.wake.notify_all();
    }

    /// Between jobs: whether an admitted worker must give its permit back
    /// (paused, cancelled, or fewer workers wanted). Admitted workers otherwise
    /// keep their permit, so the gate's lock is touched only when something
    /// changes, not once per job (measured: a wake-up storm of idle threads).
    pub(crate) fn must_yield(&self) -> bool {
        self.is_paused()
            || self.is_cancelled()
            || self.inner.running.load(Ordering::Relaxed) > self.inner.limit.load(Ordering::Relaxed)
    }

    /// Called between blocks of a copy: waits while paused, fails once cancelled.
    /// Costs two relaxed loads when neither applies.
    pub(crate) fn checkpoint(&self) -> Result<(), Cancelled> {
        if self.is_paused() {
            let mut g = self.gate();
            while g.paused && !self.is_cancelled() {
                g = self.inner.wake.wait(g).unwrap_or_else(|e| e.into_inner());
            }
        }
        if self.is_cancelled() {
            Err(Cancelled)
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn gate_admits_only_the_limit() {
        let c = Control::new(2, 8);
        c.enter().unwrap();
        c.enter().unwrap();
        let c2 = c.clone();
        let t = std::thread::spawn(move || c2.enter());
        std::thread::sleep(Duration::from_millis(20));
        assert!(
            !t.is_finished(),
            "a third worker must wait at a limit of two"
        );
        c.leave();
        assert_eq!(t.join().unwrap(), Ok(()));
    }

    #[test]
    fn pause_blocks_and_cancel_releases() {
        let c = Control::new(1, 1);
        c.set_paused(true);
        let c2 = c.clone();
        let t = std::thread::spawn(move || c2.enter());
        std::thread::sleep(Duration::from_millis(20));
        assert!(!t.is_finished(), "a paused gate admits nobody");
        c.cancel();
        assert_eq!(t.join().unwrap(), Err(Cancelled));
        assert_eq!(c.checkpoint(), Err(Cancelled));
    }

    #[test]
    fn a_throttled_worker_waits_until_a_new_limit_or_a_cancel() {
        let c = Control::new(1, 1);
        assert_eq!(c.throttle(1 << 30), Ok(()), "no limit: no wait");
        assert_eq!(c.set_bwlimit(Some(1)), Some(1));
        let c2 = c.clone();
        // A gigabyte at a byte a second: waits until told otherwise.
        let t = std::thread::spawn(move || c2.throttle(1 << 30));
        std::thread::sleep(Duration::from_millis(50));
        assert!(!t.is_finished(), "it waits at the rate");
        c.set_bwlimit(None);
        assert_eq!(t.join().unwrap(), Ok(()), "lifting the limit ends the wait");
        c.set_bwlimit(Some(1));
        let c3 = c.clone();
        let t = std::thread::spawn(move || c3.throttle(1 << 30));
        std::thread::sleep(Duration::from_millis(50));
        c.cancel();
        assert_eq!(t.join().unwrap(), Err(Cancelled));
    }

    #[test]
    fn worker_count_is_clamped() {
        let c = Control::new(4, 8);
        assert_eq!(c.set_workers(0), 1);
        assert_eq!(c.set_workers(100), 8);
    }

    #[test]
    fn admitted_workers_keep_their_permit_until_something_changes() {
        let c = Control::new(2, 8);
        c.enter().unwrap();
        c.enter().unwrap();
        assert!(!c.must_yield(), "nothing changed: keep the permit");
        c.set_workers(1);
        assert!(c.must_yield(), "two running, one wanted");
        c.leave();
        assert!(!c.must_yield());
        c.set_paused(true);
        assert!(c.must_yield());
    }
}
