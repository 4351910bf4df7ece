//! What the faces say about a run, in one wording: the ETA (or that the scan
//! is still going), the headline, the counts of what was copied and why a run
//! stopped early. The batch reporter and the TUI both read it off [`Progress`].

use std::fmt;
use std::time::Duration;

use crate::event::Notice;
use crate::format;
use crate::progress::Progress;

/// Time left, as far as it is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Eta {
    /// The walk is still finding work: any figure would be too low.
    Scanning,
    /// No rate to go by yet.
    Unknown,
    Left(Duration),
}

impl Eta {
    pub fn of(p: &Progress) -> Eta {
        match (p.scan.complete, p.eta()) {
            (false, _) => Eta::Scanning,
            (true, Some(d)) => Eta::Left(d),
            (true, None) => Eta::Unknown,
        }
    }
}

impl fmt::Display for Eta {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Eta::Scanning => f.write_str("scanning…"),
            Eta::Unknown => f.write_str("–"),
            Eta::Left(d) => f.write_str(&format::duration(*d)),
        }
    }
}

/// `Done — 12 files copied`, `Cancelled — …`, `… would be copied` in a dry run.
pub fn headline(p: &Progress, dry_run: bool) -> String {
    let state = if p.cancelled && p.fatal.is_none() {
        "Cancelled"
    } else {
        "Done"
    };
    let verb = if dry_run { "would be copied" } else { "copied" };
    format!("{state} — {} files {verb}", p.files_copied)
}

/// `12 files (3.0 MiB), 2 folders, 1 symlinks, 0 hard links` (and `, 2
/// special files` when FIFOs, sockets or devices were made).
pub fn copied_counts(p: &Progress) -> String {
    let mut s = format!(
        "{} files ({}), {} folders, {} symlinks, {} hard links",
        p.files_copied,
        format::bytes(p.bytes_copied),
        p.dirs,
        p.symlinks,
        p.hard_links
    );
    if p.specials > 0 {
        s.push_str(&format!(", {} special files", p.specials));
    }
    s
}

/// `Up to date: 3  Skipped: 0  Failed: 1` (and `Verified: 12` when files
/// were read back).
pub fn outcome_counts(p: &Progress) -> String {
    let mut s = format!(
        "Up to date: {}  Skipped: {}  Failed: {}",
        p.up_to_date, p.skipped, p.failed
    );
    if p.verified > 0 {
        s.push_str(&format!("  Verified: {}", p.verified));
    }
    s
}

/// Why the run ended before copying everything, with what is left; `None`
/// when it ran to its end.
pub fn stopped_line(p: &Progress) -> Option<String> {
    // Files in flight when it stopped are done with, but not copied.
    let left = p.scan.files.saturating_sub(p.files_done) + p.files_cancelled;
    match (&p.fatal, p.cancelled) {
        (Some(f), _) => Some(format!("Stopped: {f}; {left} files not copied")),
        (None, true) => Some(format!("Cancelled; {left} files not copied")),
        (None, false) => None,
    }
}

/// The heading of the partial copies a cancelled run kept.
pub const KEPT_FOR_RESUME: &str =
    "Kept for resuming (the next run of this copy continues each; remove one to start it over):";

/// What a cancelled run kept for the next one, one line each.
pub fn kept_lines(p: &Progress) -> Vec<String> {
    p.kept_partials.iter().map(ToString::to_string).collect()
}

/// The phase after the copy when the run waits for the device.
pub fn flushing_line(left: u64) -> String {
    format!("writing to device: {} left", format::bytes(left))
}

/// Entries of a mirror's plan listed in a summary (a dry run lists all).
const DOOMED_LISTED: usize = 20;

/// What a mirror deleted (or would, in a dry run), a heading line and the
/// entries: empty when the run is not a mirror or deleted nothing.
pub fn mirror_lines(p: &Progress, dry_run: bool) -> Vec<String> {
    let Some(plan) = &p.prune_plan else {
        return Vec::new();
    };
    if plan.doomed.is_empty() {
        return vec!["Mirror: nothing to delete".into()];
    }
    let (verb, count, bytes) = match (dry_run, &plan.backup) {
        (true, None) => ("Would delete", plan.entries, plan.bytes),
        (true, Some(_)) => (
            "Would move into the backup folder",
            plan.entries,
            plan.bytes,
        ),
        (false, None) => ("Deleted", p.pruned, p.pruned_bytes),
        (false, Some(_)) => ("Moved into the backup folder", p.pruned, p.pruned_bytes),
    };
    let mut lines = vec![format!(
        "{verb}: {count} entries ({}){}",
        format::bytes(bytes),
        match &plan.backup {
            Some(b) => format!(" — {}", crate::format::DisplayPath(b)),
            None => String::new(),
        }
    )];
    let listed = if dry_run { usize::MAX } else { DOOMED_LISTED };
    for d in plan.doomed.iter().take(listed) {
        lines.push(format!("  {}", doomed_line(d)));
    }
    if plan.doomed.len() > listed {
        lines.push(format!("  … and {} more", plan.doomed.len() - listed));
    }
    lines
}

/// `old/ (folder, 12 entries, 3.0 MiB)`, `notes.txt (12 B)`.
pub fn doomed_line(d: &crate::event::Doomed) -> String {
    use crate::event::EntryKind;
    let path = crate::format::DisplayPath(&d.path);
    match d.kind {
        EntryKind::Dir => format!(
            "{path}/ (folder, {} entries, {})",
            d.entries,
            format::bytes(d.bytes)
        ),
        EntryKind::File => format!("{path} ({})", format::bytes(d.bytes)),
        kind => format!("{path} ({})", kind.as_str()),
    }
}

/// The heading of what the destination could not keep.
pub const NOT_KEPT: &str = "Not kept (the copy is otherwise complete):";

/// What the destination could not keep, one line per kind, and how closely
/// it keeps times when that is not to the nanosecond: empty when it kept all.
pub fn not_kept_lines(p: &Progress) -> Vec<String> {
    let mut lines: Vec<String> = p.not_kept.iter().map(ToString::to_string).collect();
    if let Some(ns) = p.time_window_ns {
        lines.push(Notice::TimeWindow(ns).to_string());
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Event;
    use std::time::Instant;

    #[test]
    fn the_eta_says_scanning_until_the_walk_is_complete() {
        let t = Instant::now();
        let mut p = Progress::new(t);
        let scan = |complete| Event::Scan {
            files: 10,
            bytes: 100,
            dirs: 1,
            complete,
        };
        p.apply(&scan(false), t);
        assert_eq!(Eta::of(&p).to_string(), "scanning…");
        p.apply(&scan(true), t);
        assert_eq!(Eta::of(&p), Eta::Unknown, "no rate yet");
    }

    #[test]
    fn a_cancelled_run_says_so_and_what_is_left() {
        let t = Instant::now();
        let mut p = Progress::new(t);
        p.apply(
            &Event::Scan {
                files: 5,
                bytes: 0,
                dirs: 1,
                complete: true,
            },
            t,
        );
        assert_eq!(stopped_line(&p), None);
        p.apply(&Event::Done { cancelled: true }, t);
        assert_eq!(stopped_line(&p).unwrap(), "Cancelled; 5 files not copied");
        assert_eq!(headline(&p, false), "Cancelled — 0 files copied");
        assert_eq!(headline(&p, true), "Cancelled — 0 files would be copied");
    }
}
