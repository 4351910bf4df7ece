//! The bandwidth limit (`--bwlimit`, raised, lowered or lifted live from the
//! TUI): one budget for all workers. Each worker charges the bytes it has just
//! written and waits until the budget has paid for them, so the workers share
//! the rate among themselves without a thread of its own or a lock held while
//! anyone waits. The clock is a virtual one (the time by which everything
//! charged so far is paid for at the rate): a worker that charges while
//! others wait is scheduled after them, and unused time is not banked, so a
//! lifted pause or an idle moment does not turn into a burst.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Steps of copying under a limit are at most this long at the rate, so the
/// rate holds over a fraction of a second and a change takes effect at once.
const STEPS_PER_SECOND: u64 = 8;
/// And at least this large (a call per few bytes would cost more than it
/// limits).
const MIN_STEP: u64 = 64 * 1024;

#[derive(Debug, Default)]
pub(crate) struct RateLimit {
    /// Bytes per second; 0: no limit.
    rate: AtomicU64,
    /// Changed with each new rate: a worker waiting under the old one stops.
    generation: AtomicU64,
    /// When what was charged so far is paid for.
    paid_until: Mutex<Option<Instant>>,
}

impl RateLimit {
    pub fn set(&self, rate: Option<u64>) {
        let mut paid = self
            .paid_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        self.rate.store(rate.unwrap_or(0), Ordering::SeqCst);
        self.generation.fetch_add(1, Ordering::SeqCst);
        *paid = None;
    }

    pub fn get(&self) -> Option<u64> {
        Some(self.rate.load(Ordering::Relaxed)).filter(|r| *r > 0)
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Relaxed)
    }

    /// Charges `n` bytes just moved; how long the caller is to wait before
    /// it moves more.
    pub fn charge(&self, n: u64) -> Duration {
        let Some(rate) = self.get() else {
            return Duration::ZERO;
        };
        let now = Instant::now();
        let mut paid = self
            .paid_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let from = paid.map_or(now, |t| t.max(now));
        let until = from + Duration::from_secs_f64(n as f64 / rate as f64);
        *paid = Some(until);
        until.saturating_duration_since(now)
    }

    /// How many bytes a step of copying may move: `default` without a limit,
    /// an eighth of a second's worth under one (a multiple of 64 KiB).
    pub fn step(&self, default: u64) -> u64 {
        match self.get() {
            None => default,
            Some(rate) => {
                let step = (rate / STEPS_PER_SECOND) / MIN_STEP * MIN_STEP;
                step.clamp(MIN_STEP, default.max(MIN_STEP))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charges_queue_behind_each_other_at_the_rate() {
        let l = RateLimit::default();
        assert_eq!(l.charge(1 << 30), Duration::ZERO, "no limit, no wait");
        l.set(Some(1024 * 1024));
        let a = l.charge(512 * 1024);
        let b = l.charge(512 * 1024);
        assert!(a <= Duration::from_millis(500) && a > Duration::from_millis(400));
        assert!(b > Duration::from_millis(900) && b <= Duration::from_secs(1));
        // A new rate starts a new schedule.
        l.set(Some(2 * 1024 * 1024));
        let c = l.charge(1024 * 1024);
        assert!(c <= Duration::from_millis(500) && c > Duration::from_millis(400));
        l.set(None);
        assert_eq!(l.charge(1 << 30), Duration::ZERO);
    }

    #[test]
    fn steps_shrink_under_a_limit_but_not_below_64_kib() {
        let l = RateLimit::default();
        assert_eq!(l.step(8 << 20), 8 << 20);
        l.set(Some(16 << 20));
        assert_eq!(l.step(8 << 20), 2 << 20);
        l.set(Some(1000));
        assert_eq!(l.step(8 << 20), 64 << 10);
        l.set(Some(1 << 40));
        assert_eq!(l.step(8 << 20), 8 << 20);
    }
}
