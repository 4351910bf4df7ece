//! The queue of copies: copies asked for while one runs wait here and start,
//! in their order, when the one before them ends; each finished copy keeps
//! its outcome for the final list. Copies that share a device wait for each
//! other (two streams onto one disk are slower than one after the other);
//! one whose source and destination are on devices no running copy touches
//! starts at once, beside the others.

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use crate::config::Config;
use crate::exit::ExitCode;
use crate::progress::{Problem, Progress};
use crate::summary;

/// A copy waiting its turn.
#[derive(Debug, Clone)]
pub struct Waiting {
    pub config: Config,
    /// Held by the person: passed over until released.
    pub held: bool,
}

/// A copy that ran, as the final list shows it.
#[derive(Debug, Clone)]
pub struct Finished {
    pub source: PathBuf,
    pub dest: PathBuf,
    pub code: ExitCode,
    /// Its headline ("Done — 120 files copied…").
    pub headline: String,
    /// What failed in it, each with its reason: every copy keeps its own.
    pub failures: Vec<Problem>,
}

/// The devices a copy reads from and writes to (for a destination not made
/// yet, the device of the folder it will be made in).
pub fn devices(cfg: &Config) -> Option<[u64; 2]> {
    // Copies to or from one host share its link and its disks: one device.
    let host = |r: &crate::config::Remote| {
        let host = r.host.rsplit('@').next().unwrap_or(&r.host);
        let h = blake3::hash(host.as_bytes());
        u64::from_le_bytes(h.as_bytes()[..8].try_into().expect("8 bytes"))
    };
    let source = match &cfg.remote_source {
        Some(r) => host(r),
        None => std::fs::metadata(&cfg.source).ok()?.dev(),
    };
    if let Some(r) = &cfg.remote {
        return Some([source, host(r)]);
    }
    // A bucket's store is one device, as a host is.
    if let Some(b) = &cfg.bucket {
        let h = blake3::hash(format!("s3://{}", b.bucket).as_bytes());
        return Some([
            source,
            u64::from_le_bytes(h.as_bytes()[..8].try_into().ok()?),
        ]);
    }
    let mut at = cfg.dest.as_path();
    let dest = loop {
        match std::fs::metadata(at) {
            Ok(m) => break m.dev(),
            Err(_) => at = at.parent()?,
        }
    };
    Some([source, dest])
}

/// Whether two copies touch no device in common (not known: they may).
pub fn apart(a: &Config, b: &Config) -> bool {
    match (devices(a), devices(b)) {
        (Some(x), Some(y)) => !x.iter().any(|d| y.contains(d)),
        _ => false,
    }
}

#[derive(Debug, Default)]
pub struct Queue {
    pub waiting: Vec<Waiting>,
    pub finished: Vec<Finished>,
    /// The waiting copy the keys act on.
    pub selected: usize,
}

impl Queue {
    pub fn push(&mut self, config: Config) {
        self.waiting.push(Waiting {
            config,
            held: false,
        });
    }

    /// Takes the first copy not held, to start it.
    pub fn take_next(&mut self) -> Option<Config> {
        self.take_first(|_| true)
    }

    /// Takes the first copy not held that `may_start` allows.
    pub fn take_first(&mut self, may_start: impl Fn(&Config) -> bool) -> Option<Config> {
        let i = self
            .waiting
            .iter()
            .position(|w| !w.held && may_start(&w.config))?;
        let w = self.waiting.remove(i);
        self.clamp();
        Some(w.config)
    }

    /// Records how a copy ended.
    pub fn finish(&mut self, config: &Config, p: &Progress) {
        self.finished.push(Finished {
            source: config.source_named(),
            dest: config.dest_named(),
            code: p.exit_code(),
            headline: summary::headline(p, config.dry_run),
            failures: p.failures.clone(),
        });
    }

    /// Whether this session queued anything: the final screen lists them all.
    pub fn used(&self) -> bool {
        self.finished.len() > 1 || !self.waiting.is_empty()
    }

    /// The worst exit code of the copies that ran.
    pub fn worst(&self) -> ExitCode {
        self.finished
            .iter()
            .fold(ExitCode::Success, |c, f| c.worst(f.code))
    }

    pub fn select_next(&mut self) {
        if !self.waiting.is_empty() {
            self.selected = (self.selected + 1) % self.waiting.len();
        }
    }

    /// Moves the selected copy one place earlier (`-1`) or later (`1`).
    pub fn move_selected(&mut self, by: isize) {
        let to = self.selected as isize + by;
        if self.selected < self.waiting.len() && (0..self.waiting.len() as isize).contains(&to) {
            self.waiting.swap(self.selected, to as usize);
            self.selected = to as usize;
        }
    }

    pub fn toggle_hold(&mut self) {
        if let Some(w) = self.waiting.get_mut(self.selected) {
            w.held = !w.held;
        }
    }

    pub fn remove_selected(&mut self) {
        if self.selected < self.waiting.len() {
            self.waiting.remove(self.selected);
            self.clamp();
        }
    }

    fn clamp(&mut self) {
        self.selected = self.selected.min(self.waiting.len().saturating_sub(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(q: &Queue) -> Vec<String> {
        let name = |w: &Waiting| w.config.source_named().display().to_string();
        q.waiting.iter().map(name).collect()
    }

    #[test]
    fn copies_start_in_order_held_ones_wait_and_the_order_can_change() {
        let mut q = Queue::default();
        for s in ["a", "b", "c"] {
            q.push(Config::new(s, format!("{s}-copy")));
        }
        q.select_next();
        q.move_selected(1);
        assert_eq!(names(&q), ["a", "c", "b"]);
        assert_eq!(q.selected, 2, "the selection moves with the copy");
        q.move_selected(1);
        assert_eq!(names(&q), ["a", "c", "b"], "nothing past the end");
        q.selected = 0;
        q.toggle_hold();
        assert_eq!(
            q.take_next().unwrap().source.to_str(),
            Some("c"),
            "a is held"
        );
        q.remove_selected();
        assert_eq!(names(&q), ["b"]);
        assert_eq!(q.take_next().unwrap().source.to_str(), Some("b"));
        assert!(q.take_next().is_none());
    }
}
