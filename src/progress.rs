//! The one source of truth for totals and state: a pure reducer that folds engine
//! events. The batch reporter, the JSON stream and the TUI all read from it.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::event::{
    EntryKind, Event, KeptPartial, Lost, Notice, Outcome, PrunePlan, RelPath, WorkerId,
};
use crate::exit::ExitCode;

/// Rates are measured over this window, so the ETA follows changes in the
/// workload (small files, then a big one) without jumping at every file.
const RATE_WINDOW: Duration = Duration::from_secs(5);
const SAMPLE_EVERY: Duration = Duration::from_millis(200);

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scan {
    pub files: u64,
    pub bytes: u64,
    pub dirs: u64,
    pub complete: bool,
}

/// What one worker is doing (its lane).
#[derive(Debug, Clone, Default)]
pub struct Lane {
    /// The file being copied (large files only) with its size and bytes done.
    pub current: Option<(RelPath, u64, u64)>,
    /// The last entry this worker finished.
    pub last: Option<RelPath>,
    pub finished: u64,
    /// When this lane last changed, in events applied: recent lanes sort first.
    pub touched: u64,
    /// The worker it shows.
    pub worker: WorkerId,
    /// The number of the file on this lane (from its `Started`), so a skip
    /// names the very file the person saw.
    pub started: u64,
    /// `--verify`: files (and their bytes) it is reading back.
    pub verifying: Option<(u64, u64)>,
}

#[derive(Debug, Clone)]
pub struct Problem {
    /// The path that failed (source or destination side), for people.
    pub path: PathBuf,
    /// The entry's path relative to the source, for retrying it.
    pub rel: PathBuf,
    pub reason: String,
}

/// The wait for the device at the end of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flush {
    /// Bytes still to be written, about.
    pub left: u64,
    /// Bytes that were when the wait began.
    pub from: u64,
}

#[derive(Debug, Clone)]
pub struct Progress {
    pub started: Instant,
    pub now: Instant,
    pub scan: Scan,
    /// Non-folder entries resolved in any way, and the source bytes they account for.
    pub files_done: u64,
    pub bytes_done: u64,
    /// Bytes actually written, including files still in flight (for throughput).
    pub bytes_written: u64,
    pub files_copied: u64,
    pub bytes_copied: u64,
    pub up_to_date: u64,
    pub skipped: u64,
    /// Of `skipped`, those that leave the user's intent unmet (exit code 1).
    pub conflicts: u64,
    pub failed: u64,
    pub dirs: u64,
    pub symlinks: u64,
    pub hard_links: u64,
    /// FIFOs, sockets and device nodes made.
    pub specials: u64,
    /// Files read back from the destination the same (`--verify`).
    pub verified: u64,
    /// Files in flight when the run was cancelled (not copied).
    pub files_cancelled: u64,
    /// Partial copies of big files kept for the next run to continue.
    pub kept_partials: Vec<KeptPartial>,
    /// `--mirror`: what it deletes once the copy is complete.
    pub prune_plan: Option<PrunePlan>,
    /// Entries a mirror deleted (or moved into its backup folder), counting
    /// what folders held, and their files' bytes.
    pub pruned: u64,
    pub pruned_bytes: u64,
    /// Entries of the plan that could not be deleted.
    pub prune_failed: u64,
    pub failures: Vec<Problem>,
    pub skips: Vec<Problem>,
    pub notices: Vec<String>,
    /// Notices that leave the destination other than promised (exit code 1).
    pub problems: Vec<String>,
    /// What the destination could not keep (exit code unchanged).
    pub not_kept: Vec<Lost>,
    /// How closely the destination keeps times, when not exactly (ns).
    pub time_window_ns: Option<u64>,
    pub fatal: Option<String>,
    /// While the run waits for the device: about how many bytes are still to
    /// be written (never more than this run wrote), and how many were when
    /// the wait began.
    pub flushing: Option<Flush>,
    /// The bandwidth limit in force (bytes a second), as its owner set it.
    pub bwlimit: Option<u64>,
    pub lanes: Vec<Lane>,
    pub done: bool,
    pub cancelled: bool,
    /// Events applied so far.
    pub seq: u64,
    samples: VecDeque<(Instant, u64, u64)>,
}

impl Progress {
    pub fn new(now: Instant) -> Self {
        Progress {
            started: now,
            now,
            scan: Scan::default(),
            files_done: 0,
            bytes_done: 0,
            bytes_written: 0,
            files_copied: 0,
            bytes_copied: 0,
            up_to_date: 0,
            skipped: 0,
            conflicts: 0,
            failed: 0,
            dirs: 0,
            symlinks: 0,
            hard_links: 0,
            specials: 0,
            verified: 0,
            files_cancelled: 0,
            kept_partials: Vec::new(),
            prune_plan: None,
            pruned: 0,
            pruned_bytes: 0,
            prune_failed: 0,
            failures: Vec::new(),
            skips: Vec::new(),
            notices: Vec::new(),
            problems: Vec::new(),
            not_kept: Vec::new(),
            time_window_ns: None,
            fatal: None,
            flushing: None,
            bwlimit: None,
            lanes: Vec::new(),
            done: false,
            cancelled: false,
            seq: 0,
            samples: VecDeque::from([(now, 0, 0)]),
        }
    }

    fn lane(&mut self, w: WorkerId) -> &mut Lane {
        if self.lanes.len() <= w {
            let from = self.lanes.len();
            self.lanes.extend((from..=w).map(|worker| Lane {
                worker,
                ..Lane::default()
            }));
        }
        let lane = &mut self.lanes[w];
        lane.touched = self.seq;
        lane
    }

    /// Files being read back (`--verify`) and their bytes, all lanes.
    pub fn verifying(&self) -> (u64, u64) {
        let lanes = self.lanes.iter().filter_map(|l| l.verifying);
        lanes.fold((0, 0), |(f, b), (lf, lb)| (f + lf, b + lb))
    }

    /// Lanes for display: busy ones first, then the most recently active.
    pub fn lanes_by_activity(&self) -> Vec<&Lane> {
        let mut v: Vec<&Lane> = self.lanes.iter().filter(|l| l.touched > 0).collect();
        let idle = |l: &Lane| l.current.is_none() && l.verifying.is_none();
        v.sort_by_key(|l| (idle(l), std::cmp::Reverse(l.touched)));
        v
    }

    pub fn apply(&mut self, ev: &Event, now: Instant) {
        self.now = now;
        self.seq += 1;
        match ev {
            Event::Scan {
                files,
                bytes,
                dirs,
                complete,
            } => {
                self.scan = Scan {
                    files: *files,
                    bytes: *bytes,
                    dirs: *dirs,
                    complete: *complete,
                }
            }
            Event::Started {
                worker,
                path,
                size,
                number,
            } => {
                let lane = self.lane(*worker);
                lane.current = Some((path.clone(), *size, 0));
                lane.started = *number;
            }
            Event::Progress { worker, bytes } => {
                self.bytes_done += bytes;
                self.bytes_written += bytes;
                let lane = self.lane(*worker);
                if let Some(cur) = &mut lane.current {
                    cur.2 += bytes;
                    // A finished chunk of a big file has no entry of its own.
                    if cur.2 >= cur.1 {
                        lane.last = lane.current.take().map(|c| c.0);
                    }
                }
            }
            Event::Verifying {
                worker,
                files,
                bytes,
            } => {
                let lane = self.lane(*worker);
                lane.current = None;
                lane.verifying = Some((*files, *bytes));
            }
            Event::Entry {
                worker,
                path,
                kind,
                bytes,
                progressed,
                outcome,
                digest,
            } => {
                self.verified += u64::from(digest.is_some());
                // A round's entries come once it is read back, one each.
                if let Some(lane) = worker.and_then(|w| self.lanes.get_mut(w))
                    && let Some((files, left)) = &mut lane.verifying
                {
                    *files = files.saturating_sub(1);
                    *left = left.saturating_sub(*bytes);
                    if *files == 0 {
                        lane.verifying = None;
                    }
                }
                self.entry(*worker, path, *kind, *bytes, *progressed, outcome)
            }
            // Waiting conflicts are the asking face's state; they settle as entries.
            Event::Conflict(_) => {}
            Event::Fatal(e) => {
                self.fatal.get_or_insert_with(|| e.to_string());
            }
            Event::Notice(Notice::NotKept(lost)) => self.not_kept.push(lost.clone()),
            Event::Notice(Notice::KeptForResume(k)) => self.kept_partials.push(k.clone()),
            Event::Notice(n @ Notice::TimeWindow(ns)) => {
                self.time_window_ns = Some(*ns);
                self.notices.push(n.to_string());
            }
            // Counted as copied when written, gone with their folder.
            Event::Notice(n @ Notice::Unplaced(u)) => {
                self.files_copied = self.files_copied.saturating_sub(u.files);
                self.bytes_copied = self.bytes_copied.saturating_sub(u.bytes);
                self.symlinks = self.symlinks.saturating_sub(u.symlinks);
                self.problems.push(n.to_string());
            }
            Event::Notice(n) if n.is_problem() => self.problems.push(n.to_string()),
            Event::Notice(n) => self.notices.push(n.to_string()),
            Event::Flushing { left } => {
                let left = (*left).min(self.bytes_written);
                let from = self.flushing.map_or(left, |f| f.from.max(left));
                self.flushing = Some(Flush { left, from });
                for lane in &mut self.lanes {
                    lane.current = None;
                }
            }
            Event::Prune(plan) => self.prune_plan = Some(plan.clone()),
            Event::Pruned {
                doomed,
                error: None,
                ..
            } => {
                self.pruned += doomed.entries;
                self.pruned_bytes += doomed.bytes;
                if let Some(plan) = &mut self.prune_plan {
                    plan.awaiting = false;
                }
            }
            Event::Pruned {
                doomed,
                error: Some(e),
                ..
            } => {
                self.prune_failed += 1;
                self.failures.push(Problem {
                    path: e.path.clone(),
                    rel: doomed.path.clone(),
                    reason: e.reason(),
                });
            }
            Event::Done { cancelled } => {
                if let Some(plan) = &mut self.prune_plan {
                    plan.awaiting = false;
                }
                self.flushing = None;
                self.done = true;
                self.cancelled = *cancelled;
                for lane in &mut self.lanes {
                    lane.current = None;
                }
            }
        }
        self.sample();
    }

    fn entry(
        &mut self,
        worker: Option<WorkerId>,
        path: &RelPath,
        kind: EntryKind,
        bytes: u64,
        progressed: u64,
        outcome: &Outcome,
    ) {
        let rest = bytes.saturating_sub(progressed);
        if kind != EntryKind::Dir {
            self.files_done += 1;
            self.bytes_done += rest;
        }
        match outcome {
            Outcome::Copied => match kind {
                EntryKind::File => {
                    self.files_copied += 1;
                    self.bytes_copied += bytes;
                    self.bytes_written += rest;
                }
                EntryKind::Dir => self.dirs += 1,
                EntryKind::Symlink => self.symlinks += 1,
                EntryKind::HardLink => self.hard_links += 1,
                EntryKind::Special => self.specials += 1,
            },
            Outcome::UpToDate => self.up_to_date += 1,
            Outcome::Skipped(reason) => {
                self.skipped += 1;
                if reason.is_conflict() {
                    self.conflicts += 1;
                }
                self.skips.push(Problem {
                    path: path.join(),
                    rel: path.join(),
                    reason: reason.describe(),
                });
            }
            Outcome::Failed(e) => {
                self.failed += 1;
                self.failures.push(Problem {
                    path: e.path.clone(),
                    rel: path.join(),
                    reason: e.reason(),
                });
            }
            Outcome::Cancelled if kind != EntryKind::Dir => self.files_cancelled += 1,
            Outcome::Cancelled => {}
        }
        if let Some(w) = worker {
            let lane = self.lane(w);
            lane.current = None;
            lane.last = Some(path.clone());
            lane.finished += 1;
        }
    }

    fn sample(&mut self) {
        let last = self.samples.back().map_or(self.started, |s| s.0);
        if self.now.duration_since(last) >= SAMPLE_EVERY {
            self.samples
                .push_back((self.now, self.bytes_written, self.files_done));
            while self
                .samples
                .front()
                .is_some_and(|s| self.now.duration_since(s.0) > RATE_WINDOW)
                && self.samples.len() > 2
            {
                self.samples.pop_front();
            }
        }
    }

    /// The event stream ended without `Done`: the engine is gone, and what it
    /// had not reported is not known to be copied.
    pub fn engine_lost(&mut self) {
        if !self.done {
            self.fatal
                .get_or_insert_with(|| crate::event::Fatal::EngineLost.to_string());
            self.done = true;
            self.cancelled = true;
        }
    }

    /// Totals as far as they are known: never fewer than what is already done
    /// (workers can finish entries the walker has not yet counted aloud).
    pub fn known_totals(&self) -> (u64, u64) {
        (
            self.scan.files.max(self.files_done),
            self.scan.bytes.max(self.bytes_done),
        )
    }

    pub fn elapsed(&self) -> Duration {
        self.now.duration_since(self.started)
    }

    /// Recent bytes/s and files/s over the rate window.
    pub fn rates(&self) -> (f64, f64) {
        let Some(&(t0, b0, f0)) = self.samples.front() else {
            return (0.0, 0.0);
        };
        let dt = self.now.duration_since(t0).as_secs_f64();
        if dt <= 0.0 {
            return (0.0, 0.0);
        }
        (
            self.bytes_written.saturating_sub(b0) as f64 / dt,
            self.files_done.saturating_sub(f0) as f64 / dt,
        )
    }

    /// Average write speed over the whole run.
    pub fn average_rate(&self) -> f64 {
        let s = self.elapsed().as_secs_f64();
        if s > 0.0 {
            self.bytes_written as f64 / s
        } else {
            0.0
        }
    }

    /// Time left for what is really left (skips and up-to-date entries are
    /// already off it), bound by bytes or by file count, whichever is slower.
    /// `None` while there is no rate to go by.
    pub fn eta(&self) -> Option<Duration> {
        let (bps, fps) = self.rates();
        let bytes_left = self.scan.bytes.saturating_sub(self.bytes_done) as f64;
        let files_left = self.scan.files.saturating_sub(self.files_done) as f64;
        if files_left == 0.0 && bytes_left == 0.0 {
            return Some(Duration::ZERO);
        }
        let by_bytes = if bytes_left > 0.0 {
            (bps > 0.0).then(|| bytes_left / bps)
        } else {
            Some(0.0)
        };
        let by_files = if files_left > 0.0 {
            (fps > 0.0).then(|| files_left / fps)
        } else {
            Some(0.0)
        };
        let secs = by_bytes?.max(by_files?);
        secs.is_finite().then(|| Duration::from_secs_f64(secs))
    }

    pub fn exit_code(&self) -> ExitCode {
        if self.cancelled && self.fatal.is_none() {
            ExitCode::Interrupted
        } else if self.failed > 0
            || self.prune_failed > 0
            || self.conflicts > 0
            || self.fatal.is_some()
            || !self.problems.is_empty()
        {
            ExitCode::Partial
        } else {
            ExitCode::Success
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{CopyError, Op};
    use crate::event::SkipReason;
    use std::path::Path;
    use std::sync::Arc;

    fn rel(name: &str) -> RelPath {
        RelPath {
            dir: Arc::from(Path::new("d")),
            name: name.into(),
        }
    }

    fn entry(name: &str, bytes: u64, outcome: Outcome) -> Event {
        Event::Entry {
            worker: Some(0),
            path: rel(name),
            kind: EntryKind::File,
            bytes,
            progressed: 0,
            outcome,
            digest: None,
        }
    }

    #[test]
    fn totals_follow_the_events() {
        let t = Instant::now();
        let mut p = Progress::new(t);
        p.apply(
            &Event::Scan {
                files: 4,
                bytes: 400,
                dirs: 1,
                complete: true,
            },
            t,
        );
        p.apply(&entry("a", 100, Outcome::Copied), t);
        p.apply(&entry("b", 100, Outcome::UpToDate), t);
        p.apply(&entry("c", 100, Outcome::Skipped(SkipReason::Conflict)), t);
        let err = CopyError::new("/src/d/e", Op::Open, std::io::Error::from_raw_os_error(13));
        p.apply(&entry("e", 100, Outcome::Failed(err)), t);
        p.apply(&Event::Done { cancelled: false }, t);
        assert_eq!(
            (p.files_copied, p.up_to_date, p.skipped, p.failed),
            (1, 1, 1, 1)
        );
        assert_eq!(p.files_done, 4);
        assert_eq!(
            p.bytes_done, 400,
            "skips and failures leave the remaining work"
        );
        assert_eq!(p.bytes_copied, 100);
        assert_eq!(p.failures[0].path, Path::new("/src/d/e"));
        assert!(p.failures[0].reason.contains("cannot open for reading"));
        assert_eq!(p.exit_code(), ExitCode::Partial);
    }

    #[test]
    fn progress_of_a_big_file_is_not_counted_twice() {
        let t = Instant::now();
        let mut p = Progress::new(t);
        p.apply(
            &Event::Started {
                worker: 1,
                path: rel("big"),
                size: 1000,
                number: 1,
            },
            t,
        );
        p.apply(
            &Event::Progress {
                worker: 1,
                bytes: 600,
            },
            t,
        );
        assert_eq!(p.lanes[1].current.as_ref().map(|c| c.2), Some(600));
        p.apply(
            &Event::Entry {
                worker: Some(1),
                path: rel("big"),
                kind: EntryKind::File,
                bytes: 1000,
                progressed: 600,
                outcome: Outcome::Copied,
                digest: None,
            },
            t,
        );
        assert_eq!(
            (p.bytes_done, p.bytes_written, p.bytes_copied),
            (1000, 1000, 1000)
        );
        assert!(p.lanes[1].current.is_none());
    }

    #[test]
    fn eta_comes_from_the_recent_rate_of_what_is_left() {
        let t = Instant::now();
        let mut p = Progress::new(t);
        p.apply(
            &Event::Scan {
                files: 10,
                bytes: 1000,
                dirs: 1,
                complete: true,
            },
            t,
        );
        assert_eq!(p.eta(), None, "no rate yet");
        for i in 0..5 {
            p.apply(
                &entry(&format!("f{i}"), 100, Outcome::Copied),
                t + Duration::from_secs(i + 1),
            );
        }
        // 500 bytes and 5 files in 5 s: 500 bytes and 5 files left take 5 s.
        let eta = p.eta().unwrap().as_secs_f64();
        assert!((4.0..=6.5).contains(&eta), "eta {eta}");
    }

    #[test]
    fn cancel_gives_exit_130_and_clean_success_gives_0() {
        let t = Instant::now();
        let mut p = Progress::new(t);
        p.apply(&entry("a", 1, Outcome::Copied), t);
        assert_eq!(p.exit_code(), ExitCode::Success);
        p.apply(&Event::Done { cancelled: true }, t);
        assert_eq!(p.exit_code(), ExitCode::Interrupted);
    }

    #[test]
    fn special_files_are_skipped_without_failing_the_run() {
        let t = Instant::now();
        let mut p = Progress::new(t);
        p.apply(
            &entry("fifo", 0, Outcome::Skipped(SkipReason::Special("FIFO"))),
            t,
        );
        assert_eq!((p.skipped, p.conflicts), (1, 0));
        assert_eq!(p.exit_code(), ExitCode::Success);
    }
}
