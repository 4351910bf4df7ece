//! The batch face: folds engine events into [`Progress`] and prints a progress
//! line (stderr), failures as they happen (stderr), JSON Lines (stdout, with
//! `--json`) and a summary (stdout). Decides the exit code from the same state,
//! and from whether its own output could be written.

pub mod compare;

use std::io::{self, IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::TryRecvError;

use crate::engine::Running;
use crate::event::{Event, Outcome};
use crate::exit::ExitCode;
use crate::format::{self, DisplayPath};
use crate::json;
use crate::log::RunLog;
use crate::progress::Progress;
use crate::sink::Sink;
use crate::summary::{self, Eta};

#[derive(Debug, Clone, Copy, Default)]
pub struct BatchOptions {
    pub json: bool,
    pub quiet: bool,
    pub dry_run: bool,
}

/// Quick copies stay quiet: progress appears once a run has gone on this long.
const QUIET_START: Duration = Duration::from_secs(1);
const TTY_EVERY: Duration = Duration::from_millis(200);
const PLAIN_EVERY: Duration = Duration::from_secs(5);
const JSON_EVERY: Duration = Duration::from_secs(1);
/// How often queued events are folded; 16 K events fit in the queue, more than
/// the engine produces in this time.
const TICK: Duration = Duration::from_millis(20);
/// Skipped entries listed in the human summary (failures are always all listed).
const SKIPS_LISTED: usize = 20;

struct Reporter {
    opts: BatchOptions,
    progress: Progress,
    stdout: Sink<io::BufWriter<io::Stdout>>,
    stderr: Sink<io::Stderr>,
    /// A message meant for stderr (a failure, a notice) could not be written.
    lost_message: bool,
    /// `--log`.
    log: Option<RunLog>,
    tty: bool,
    line_shown: bool,
    last_report: Option<Instant>,
}

/// Runs a started copy to its end and returns the exit code. `interrupted` is
/// set by the signal handlers; it turns into a clean cancel.
/// `log`: where `--log` records the run, opened by the caller (and kept for
/// the next copy of a queue).
pub fn run(
    running: Running,
    opts: BatchOptions,
    log: &mut Option<RunLog>,
    interrupted: &AtomicBool,
) -> ExitCode {
    let start = Instant::now();
    let mut r = Reporter {
        opts,
        progress: Progress::new(start),
        stdout: Sink::new(io::BufWriter::new(io::stdout())),
        stderr: Sink::new(io::stderr()),
        lost_message: false,
        log: log.take(),
        tty: io::stderr().is_terminal(),
        line_shown: false,
        last_report: None,
    };
    let log_slot = log;
    r.progress.bwlimit = running.control.bwlimit();
    let ended = running.ended();
    loop {
        // Poll on a tick rather than block on the channel: a receiver that is
        // never parked costs the workers no wake-up per event (measured: ~90,000
        // futex calls for 50,000 files when blocking). The end of the run wakes
        // it at once: a tick late on each of a test suite's many small copies
        // adds up.
        let _ = ended.recv_timeout(TICK);
        let mut disconnected = false;
        loop {
            match running.events.try_recv() {
                Ok(ev) => r.event(&ev),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    disconnected = true;
                    break;
                }
            }
        }
        r.progress.now = Instant::now();
        if disconnected && !r.progress.done {
            r.progress.engine_lost();
            break;
        }
        if interrupted.load(Ordering::Relaxed) && !running.control.is_cancelled() {
            running.control.cancel();
        }
        if r.progress.done {
            break;
        }
        r.tick();
    }
    running.join();
    let (code, log) = r.finish();
    *log_slot = log;
    code
}

/// Says which copy of a queue starts: a line on stdout ("Copy 2 of 3: SRC →
/// DEST"), or with `--json` a `job` event (in the log too).
pub fn announce(
    opts: &BatchOptions,
    log: &mut Option<RunLog>,
    (n, of): (usize, usize),
    cfg: &crate::config::Config,
) {
    // As the user named them: `host:path`, `s3://bucket/prefix`.
    let (source, dest) = (cfg.source_named(), cfg.dest_named());
    let v = json::job(n, of, &source, &dest);
    if let Some(l) = log {
        l.line(&v);
    }
    let mut out = io::stdout().lock();
    let _ = match (opts.json, opts.quiet) {
        (true, _) => writeln!(out, "{v}"),
        (false, false) => writeln!(
            out,
            "Copy {n} of {of}: {} → {}",
            DisplayPath(&source),
            DisplayPath(&dest)
        ),
        (false, true) => Ok(()),
    };
    let _ = out.flush();
}

impl Reporter {
    fn event(&mut self, ev: &Event) {
        self.progress.apply(ev, Instant::now());
        if let Some(log) = &mut self.log {
            log.event(ev, &self.progress);
        }
        if self.opts.json
            && let Some(v) = json::event(ev, &self.progress)
        {
            self.stdout.write(&format!("{v}\n"));
        }
        self.message(ev);
    }

    /// Failures, notices and a fatal stop go to stderr as they happen, in
    /// both output modes.
    fn message(&mut self, ev: &Event) {
        let line = match ev {
            Event::Entry {
                outcome: Outcome::Failed(e),
                ..
            } => format!("convoy: {e}\n"),
            Event::Notice(n) => format!("convoy: {n}\n"),
            Event::Fatal(m) => format!("convoy: stopped: {m}\n"),
            Event::Pruned { error: Some(e), .. } => format!("convoy: {e}\n"),
            _ => return,
        };
        self.clear_line();
        self.lost_message |= !self.stderr.write(&line);
    }

    fn clear_line(&mut self) {
        if self.line_shown {
            self.stderr.write("\r\x1b[K");
            self.line_shown = false;
        }
    }

    fn tick(&mut self) {
        let p = &self.progress;
        if self.opts.quiet || p.elapsed() < QUIET_START {
            return;
        }
        let every = match (self.opts.json, self.tty) {
            (true, _) => JSON_EVERY,
            (false, true) => TTY_EVERY,
            (false, false) => PLAIN_EVERY,
        };
        if self
            .last_report
            .is_some_and(|t| p.now.duration_since(t) < every)
        {
            return;
        }
        self.last_report = Some(p.now);
        if self.opts.json {
            let v = json::progress(p);
            self.stdout.write(&format!("{v}\n"));
            self.stdout.flush();
        } else if self.tty {
            let line = format!("\r\x1b[K{}", self.status_line());
            self.line_shown = self.stderr.write(&line);
        } else {
            let line = format!("{}\n", self.status_line());
            self.stderr.write(&line);
        }
    }

    fn status_line(&self) -> String {
        let p = &self.progress;
        if let Some(f) = p.flushing {
            return summary::flushing_line(f.left);
        }
        let (files_total, bytes_total) = p.known_totals();
        // While the walk is still finding work a percentage would claim more
        // than is known.
        let (more, pct) = if p.scan.complete {
            let pct = (p.bytes_done * 100)
                .checked_div(bytes_total)
                .map_or_else(String::new, |pct| format!(" {:>3}%", pct.min(100)));
            ("", pct)
        } else {
            ("+", String::new())
        };
        let eta = match Eta::of(p) {
            Eta::Scanning => Eta::Scanning.to_string(),
            eta => format!("ETA {eta}"),
        };
        let limit = p.bwlimit.map_or_else(String::new, |r| {
            format!(" (limit {})", format::rate(r as f64))
        });
        let verifying = match p.verifying() {
            (0, _) => String::new(),
            (files, bytes) => format!("  verifying {files} files ({})", format::bytes(bytes)),
        };
        format!(
            "{}/{files_total}{more} files  {}/{}{more}{pct}  {}{limit}{verifying}  {eta}",
            p.files_done,
            format::bytes(p.bytes_done),
            format::bytes(bytes_total),
            format::rate(p.rates().0),
        )
    }

    fn finish(mut self) -> (ExitCode, Option<RunLog>) {
        self.clear_line();
        let mut code = self.progress.exit_code();
        if self.opts.json {
            let v = json::summary(&self.progress, self.opts.dry_run, code);
            self.stdout.write(&format!("{v}\n"));
        } else if !self.opts.quiet {
            let text = self.summary_text();
            self.stdout.write(&text);
        }
        self.stdout.flush();
        if let Some(lost) = self
            .log
            .as_mut()
            .and_then(|l| l.finish(&self.progress, self.opts.dry_run, code))
        {
            self.stderr.write(&format!("convoy: {lost}\n"));
            code = code.at_least(ExitCode::Partial);
        }
        // A report that did not reach its reader is a failure of the run, as
        // GNU tools make "write error" one: a script must not take the copy
        // for checked when nobody could check it.
        if let Some(e) = self.stdout.failure() {
            let line = format!("convoy: write error: standard output: {e}\n");
            self.stderr.write(&line);
            code = code.at_least(ExitCode::Partial);
        }
        if self.lost_message {
            code = code.at_least(ExitCode::Partial);
        }
        (code, self.log.take())
    }

    fn summary_text(&self) -> String {
        use std::fmt::Write as _;
        let p = &self.progress;
        let mut s = String::new();
        let verb = if self.opts.dry_run {
            "Would copy"
        } else {
            "Copied"
        };
        if let Some(line) = summary::stopped_line(p) {
            let _ = writeln!(s, "{line}");
        }
        let _ = writeln!(
            s,
            "{verb} {} in {} ({})",
            summary::copied_counts(p),
            format::duration(p.elapsed()),
            format::rate(p.average_rate()),
        );
        let _ = writeln!(s, "{}", summary::outcome_counts(p));
        for l in summary::mirror_lines(p, self.opts.dry_run) {
            let _ = writeln!(s, "{l}");
        }
        if !p.skips.is_empty() {
            let _ = writeln!(s, "Skipped:");
            for k in p.skips.iter().take(SKIPS_LISTED) {
                let _ = writeln!(s, "  {}: {}", DisplayPath(&k.path), k.reason);
            }
            if p.skips.len() > SKIPS_LISTED {
                let _ = writeln!(s, "  … and {} more", p.skips.len() - SKIPS_LISTED);
            }
        }
        if !p.failures.is_empty() {
            let _ = writeln!(s, "Failed:");
            for f in &p.failures {
                let _ = writeln!(s, "  {}: {}", DisplayPath(&f.path), f.reason);
            }
        }
        let kept = summary::kept_lines(p);
        if !kept.is_empty() {
            let _ = writeln!(s, "{}", summary::KEPT_FOR_RESUME);
            for (l, k) in kept.iter().zip(&p.kept_partials) {
                let _ = writeln!(s, "  {l}");
                // A partial on another machine is removed there.
                let _ = match crate::location::parse(k.partial.as_os_str()) {
                    Ok(crate::location::Location::Remote(r)) => writeln!(
                        s,
                        "    to remove it: ssh {} rm -- {}",
                        r.host,
                        format::shell_quoted(&r.path)
                    ),
                    _ => writeln!(
                        s,
                        "    to remove it: rm -- {}",
                        format::shell_quoted(&k.partial)
                    ),
                };
            }
        }
        let not_kept = summary::not_kept_lines(p);
        if !not_kept.is_empty() {
            let _ = writeln!(s, "{}", summary::NOT_KEPT);
            for l in &not_kept {
                let _ = writeln!(s, "  {l}");
            }
        }
        if !p.problems.is_empty() {
            let _ = writeln!(s, "Problems:");
            for m in &p.problems {
                let _ = writeln!(s, "  {m}");
            }
        }
        s
    }
}
