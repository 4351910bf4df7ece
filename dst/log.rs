//! `--log FILE`: a record of the run in the JSON Lines schema of `--json`
//! (entries, notices, a fatal stop, a progress line a second, the summary),
//! written by either face, so what failed in an interactive copy can be read
//! later. Appended to, as a log is: runs of one TUI session, retries
//! included, follow one another. A log that cannot be written never stops the
//! copy; it makes the exit code 1, as a lost report does.

use std::fs::{File, OpenOptions};
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::InputError;
use crate::event::Event;
use crate::exit::ExitCode;
use crate::format::DisplayPath;
use crate::json;
use crate::progress::Progress;
use crate::sink::Sink;

const PROGRESS_EVERY: Duration = Duration::from_secs(1);

pub struct RunLog {
    sink: Sink<BufWriter<File>>,
    path: PathBuf,
    last_progress: Option<Instant>,
}

impl RunLog {
    /// Opens (creates, or appends to) the log at `path`.
    pub fn open(path: &Path) -> Result<RunLog, InputError> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| InputError::Log(path.to_path_buf(), e))?;
        Ok(RunLog {
            sink: Sink::new(BufWriter::new(file)),
            path: path.to_path_buf(),
            last_progress: None,
        })
    }

    /// Records an event (`p`: the totals with it folded in), and a progress
    /// line when a second has passed since the last.
    pub fn event(&mut self, ev: &Event, p: &Progress) {
        if let Some(v) = json::event(ev, p) {
            self.sink.write(&format!("{v}\n"));
        }
        if p.elapsed() >= PROGRESS_EVERY
            && self
                .last_progress
                .is_none_or(|t| p.now.duration_since(t) >= PROGRESS_EVERY)
        {
            self.last_progress = Some(p.now);
            self.sink.write(&format!("{}\n", json::progress(p)));
            // Once a second the log is brought up to date (`tail -f`).
            self.sink.flush();
        }
    }

    /// Records a line that is no engine event (a queue's `job`).
    pub fn line(&mut self, v: &serde_json::Value) {
        self.sink.write(&format!("{v}\n"));
    }

    /// Records the summary and writes everything out; the message to give
    /// if the log could not be written.
    pub fn finish(&mut self, p: &Progress, dry_run: bool, code: ExitCode) -> Option<String> {
        self.sink
            .write(&format!("{}\n", json::summary(p, dry_run, code)));
        self.sink.flush();
        self.last_progress = None;
        self.sink
            .failure()
            .map(|e| format!("write error: log {}: {e}", DisplayPath(&self.path)))
    }
}
