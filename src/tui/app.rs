//! The TUI's whole state and the one `update` that changes it. It steers the
//! engine through its control handle and folds engine events into the same
//! [`Progress`] the batch reporter uses; it never touches the terminal.

use std::collections::{HashSet, VecDeque};
use std::path::PathBuf;
use std::time::{Duration, Instant};

pub use super::action::{Action, Dialog, Screen};
use super::queue::{self, Queue};
use super::setup::{Field, Setup};
use crate::compare::{Compare, Comparison};
use crate::config::{Config, ConflictPolicy};
use crate::engine::{self, Answer, Choice, Running};
use crate::event::{Conflict, Event, Outcome, RelPath};
use crate::exit::ExitCode;
use crate::log::RunLog;
use crate::progress::Progress;

/// Recently finished entries shown in the log pane.
const LOG_LINES: usize = 200;
/// One throughput sample per this interval for the sparkline.
const HISTORY_EVERY: Duration = Duration::from_millis(500);
const HISTORY_LEN: usize = 240;

/// A copy running beside the one on screen: it touches none of its devices.
pub struct Beside {
    pub config: Config,
    pub running: Running,
    pub progress: Progress,
    /// Its conflicts, answered once it is on screen.
    pub conflicts: VecDeque<Conflict>,
}

/// Events folded per copy beside, per frame.
const BESIDE_EVENTS_PER_TURN: usize = 10_000;

pub struct App {
    /// `--log`: every run of the session recorded, one after the other.
    pub run_log: Option<RunLog>,
    pub screen: Screen,
    pub dialog: Option<Dialog>,
    pub setup: Setup,
    /// Every setting from the command line; the form overrides what it edits.
    pub base: Config,
    /// Lists other machines' folders for the form (started when first
    /// needed), and the folders asked for and not yet answered.
    remote: Option<super::remote::RemoteLister>,
    remote_asked: std::collections::HashSet<(String, PathBuf)>,
    /// Copies to or from another machine being started on threads of their
    /// own (see `connect_aside`), and where each one's answer comes.
    connecting: Vec<(Config, Starting)>,
    pub running: Option<Running>,
    pub progress: Progress,
    pub source: PathBuf,
    pub dest: PathBuf,
    pub config: Option<Config>,
    pub log: VecDeque<(char, RelPath)>,
    pub conflicts: VecDeque<Conflict>,
    pub for_all: bool,
    pub paused: bool,
    pub workers: usize,
    /// The worker whose lane `SkipFile` acts on.
    pub chosen_lane: Option<usize>,
    /// Copies waiting behind the running one, and those that ran.
    pub queue: Queue,
    /// Where recent folders are remembered (`None`: not remembered).
    pub recent_file: Option<PathBuf>,
    /// Copies started in this session: a new one means a new event stream.
    pub runs: u64,
    /// Copies running beside the one on screen (on other devices).
    pub beside: Vec<Beside>,
    pub history: VecDeque<u64>,
    last_sample: (Instant, u64),
    pub scroll: usize,
    /// What became of the partial copies a cancelled run kept, once a person
    /// asked to remove them.
    pub discarded: Option<String>,
    /// A comparison under way (the form's Compare only), and its result.
    pub comparing: Option<crossbeam_channel::Receiver<Result<Comparison, String>>>,
    pub comparison: Option<Result<Comparison, String>>,
    /// How far the help dialog is scrolled.
    pub help_scroll: usize,
    pub quit: bool,
    pub colors: bool,
    /// Quit when the copy ends, without waiting on the summary (benchmarks).
    pub quit_when_done: bool,
}

/// A mirror started here shows its deletions for a person to confirm.
fn confirming(mut cfg: Config) -> Config {
    if let Some(m) = &mut cfg.mirror {
        m.confirm = true;
    }
    cfg
}

/// The steps of the speed limit the keys move through (MiB/s).
const LIMIT_STEPS: [u64; 12] = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000];

/// A step below `now`; without a limit, the step below the speed seen.
fn slower(now: Option<u64>, speed: f64) -> Option<u64> {
    let mib = |s: u64| s << 20;
    let below = now.map_or(speed, |r| r as f64);
    let step = LIMIT_STEPS
        .iter()
        .rev()
        .map(|s| mib(*s))
        .find(|s| (*s as f64) < below)
        .unwrap_or(mib(LIMIT_STEPS[0]));
    Some(step)
}

/// A step above `now`; none above the top step (and none stays none).
fn faster(now: Option<u64>) -> Option<u64> {
    let now = now?;
    LIMIT_STEPS.iter().map(|s| s << 20).find(|s| *s > now)
}

impl App {
    pub fn new(setup: Setup, colors: bool) -> Self {
        let now = Instant::now();
        App {
            run_log: None,
            screen: Screen::Setup,
            dialog: None,
            setup,
            base: Config {
                policy: ConflictPolicy::Ask,
                ..Config::new("", "")
            },
            remote: None,
            remote_asked: Default::default(),
            connecting: Vec::new(),
            running: None,
            progress: Progress::new(now),
            source: PathBuf::new(),
            dest: PathBuf::new(),
            config: None,
            log: VecDeque::new(),
            conflicts: VecDeque::new(),
            for_all: false,
            paused: false,
            workers: 0,
            chosen_lane: None,
            queue: Queue::default(),
            recent_file: None,
            runs: 0,
            beside: Vec::new(),
            history: VecDeque::new(),
            last_sample: (now, 0),
            scroll: 0,
            discarded: None,
            comparing: None,
            comparison: None,
            help_scroll: 0,
            quit: false,
            colors,
            quit_when_done: false,
        }
    }

    /// The worst of the copies of this session (none ran: success).
    pub fn exit_code(&self) -> ExitCode {
        // A session that ended on a comparison says how it came out.
        if self.screen == Screen::Compared {
            return self.compare_exit_code().unwrap_or(ExitCode::Interrupted);
        }
        let unrecorded = self.queue.finished.is_empty() && self.screen != Screen::Setup;
        let now = match self.running.is_some() || unrecorded {
            true => self.progress.exit_code(),
            false => ExitCode::Success,
        };
        self.queue.worst().worst(now)
    }

    /// Starts a copy from the setup form over the command line's settings;
    /// errors stay on the form.
    pub fn start_from_setup(&mut self) {
        // One copy starts at a time; the form says which is on its way.
        if self.running.is_none() && !self.connecting.is_empty() {
            return;
        }
        if self.setup.source.is_empty() && self.setup.picked.is_empty() {
            self.setup.error = Some("choose a source folder first".into());
            self.setup.set_focus(Field::Source);
            self.show_setup();
            return;
        }
        let mut cfg = self.base.clone();
        self.setup.apply(&mut cfg);
        if self.setup.compare {
            return self.start_compare(&cfg);
        }
        if !self.setup.picked.is_empty() {
            return self.start_picked(cfg);
        }
        match cfg.resolved() {
            // It waits its turn, unless no running copy touches its devices.
            Ok(cfg) if self.running.is_some() => {
                self.queue.push(cfg);
                self.screen = Screen::Copying;
                self.start_apart();
            }
            Ok(cfg) => self.start(cfg),
            Err(e) => {
                self.setup.error = Some(e.to_string());
                self.show_setup();
            }
        }
    }

    /// Several sources picked in the browser: planned as batch mode plans
    /// `convoy a b c DEST` (checked first), the runs one after the other.
    fn start_picked(&mut self, cfg: Config) {
        if self.setup.dest.is_empty() {
            self.setup.error = Some("choose the folder the picked sources go into".into());
            self.setup.set_focus(Field::Dest);
            return self.show_setup();
        }
        let dest = PathBuf::from(&self.setup.dest);
        match crate::sources::plan(&cfg, &self.setup.picked, &dest) {
            Ok(runs) => {
                let mut runs = runs.into_iter();
                if self.running.is_some() {
                    runs.for_each(|r| self.queue.push(r));
                    self.screen = Screen::Copying;
                    return self.start_apart();
                }
                if let Some(first) = runs.next() {
                    self.start(first);
                }
                runs.for_each(|r| self.queue.push(r));
            }
            Err(e) => {
                self.setup.error = Some(e.to_string());
                self.show_setup();
            }
        }
    }

    /// Compares the form's source and destination on a thread of its own;
    /// the Compared screen shows it once done (`poll_compare`).
    pub fn start_compare(&mut self, cfg: &Config) {
        if cfg.dest.as_os_str().is_empty() || !self.setup.picked.is_empty() {
            self.setup.error = Some("compare takes one source folder and a destination".into());
            return self.show_setup();
        }
        let mut cmp = Compare::new(&cfg.source, &cfg.dest).jobs(cfg.jobs);
        for g in &cfg.excludes {
            cmp = cmp.exclude(g.clone());
        }
        let (tx, rx) = crossbeam_channel::bounded(1);
        let started = std::thread::Builder::new()
            .name("convoy-compare".into())
            .spawn(move || {
                let _ = tx.send(cmp.run().map_err(|e| e.to_string()));
            });
        if let Err(e) = started {
            self.setup.error = Some(format!("cannot start the comparison: {e}"));
            return self.show_setup();
        }
        self.source = cfg.source_named();
        self.dest = cfg.dest_named();
        self.config = Some(cfg.clone());
        self.comparing = Some(rx);
        self.comparison = None;
        self.scroll = 0;
        self.dialog = None;
        self.screen = Screen::Compared;
    }

    /// Takes a finished comparison's result.
    pub fn poll_compare(&mut self) {
        let Some(rx) = &self.comparing else { return };
        match rx.try_recv() {
            Ok(found) => {
                self.comparison = Some(found);
                self.comparing = None;
            }
            Err(crossbeam_channel::TryRecvError::Empty) => {}
            Err(crossbeam_channel::TryRecvError::Disconnected) => {
                self.comparison = Some(Err("the comparison stopped without a result".into()));
                self.comparing = None;
            }
        }
    }

    /// The exit code of the session's comparison: 0 the same, 1 they
    /// differ, 2 something could not be read.
    pub fn compare_exit_code(&self) -> Option<ExitCode> {
        self.comparison.as_ref().map(|c| match c {
            Ok(found) => found.exit_code(),
            Err(_) => ExitCode::Usage,
        })
    }

    pub fn start(&mut self, cfg: Config) {
        let cfg = confirming(cfg);
        if let Some(starting) = connect_aside(&cfg) {
            if let Some(r) = cfg.remote.as_ref().or(cfg.remote_source.as_ref()) {
                self.setup.error = Some(format!("connecting to {}…", r.host));
            }
            self.connecting.push((cfg, starting));
            return;
        }
        let started = engine::start(cfg.clone());
        self.started(cfg, started);
    }

    /// Copies started (or not) on other threads: the first brought on
    /// screen, the others beside it. Whether any came.
    pub fn poll_connecting(&mut self) -> bool {
        let mut came = Vec::new();
        let mut i = 0;
        while i < self.connecting.len() {
            let started = match self.connecting[i].1.try_recv() {
                Ok(r) => r,
                Err(crossbeam_channel::TryRecvError::Empty) => {
                    i += 1;
                    continue;
                }
                Err(crossbeam_channel::TryRecvError::Disconnected) => {
                    Err(engine::StartError::Thread(std::io::Error::other(
                        "the thread starting the copy ended",
                    )))
                }
            };
            came.push((self.connecting.remove(i).0, started));
        }
        if came.is_empty() {
            return false;
        }
        for (cfg, started) in came {
            if self.running.is_none() {
                self.setup.error = None;
                self.started(cfg, started);
            } else {
                self.beside_started(cfg, started);
            }
        }
        self.start_apart();
        true
    }

    fn started(&mut self, cfg: Config, started: Result<Running, engine::StartError>) {
        match started {
            Ok(r) => {
                self.runs += 1;
                // A convenience: a state folder that cannot be written costs
                // nothing but the list.
                if let Some(f) = &self.recent_file
                    && let Ok(recent) =
                        super::recent::remember(f, &cfg.source_named(), &cfg.dest_named())
                {
                    self.setup.recent = recent;
                }
                let now = Instant::now();
                self.workers = r.control.workers();
                let bwlimit = r.control.bwlimit();
                self.source = cfg.source_named();
                self.dest = cfg.dest_named();
                self.config = Some(cfg);
                self.running = Some(r);
                self.progress = Progress::new(now);
                self.progress.bwlimit = bwlimit;
                self.discarded = None;
                self.log.clear();
                self.conflicts.clear();
                self.history.clear();
                self.last_sample = (now, 0);
                self.paused = false;
                self.for_all = false;
                self.scroll = 0;
                self.dialog = None;
                self.screen = Screen::Copying;
            }
            Err(e) => {
                self.setup.error = Some(e.to_string());
                self.show_setup();
            }
        }
    }

    /// Folds one engine event. Cheap: drawing happens at the frame rate.
    pub fn on_event(&mut self, ev: &Event, now: Instant) {
        self.progress.apply(ev, now);
        if let Some(log) = &mut self.run_log {
            log.event(ev, &self.progress);
        }
        match ev {
            Event::Entry { path, outcome, .. } => {
                let mark = match outcome {
                    Outcome::Copied => '✓',
                    Outcome::UpToDate => '=',
                    Outcome::Skipped(_) => '–',
                    Outcome::Failed(_) => '✗',
                    Outcome::Cancelled => '×',
                };
                if self.log.len() == LOG_LINES {
                    self.log.pop_front();
                }
                // Kept raw: only the few lines on screen are formatted, at draw time.
                self.log.push_back((mark, path.clone()));
            }
            Event::Prune(plan) if plan.awaiting => self.dialog = Some(Dialog::Deletions),
            Event::Conflict(c) => {
                self.conflicts.push_back(c.clone());
                if self.dialog.is_none() && self.conflicts.len() == 1 {
                    self.dialog = Some(Dialog::Conflict);
                }
            }
            Event::Done { cancelled } => {
                if let Some(r) = self.running.take() {
                    r.join();
                }
                self.conflicts.clear();
                self.dialog = None;
                self.log_summary();
                if let Some(cfg) = &self.config {
                    self.queue.finish(cfg, &self.progress);
                }
                // A copy beside comes on screen; the next waiting ones start
                // (a cancel, or Ctrl-C, stops the queue).
                let limit = self.progress.bwlimit;
                let promoted = self.promote();
                if !cancelled {
                    self.start_apart_with(limit);
                }
                if promoted || self.running.is_some() {
                    return;
                }
                // Someone filling in the next copy keeps the form (its Start
                // now starts at once).
                if self.screen != Screen::Setup {
                    self.screen = Screen::Summary;
                }
                self.quit |= self.quit_when_done;
            }
            _ => {}
        }
    }

    /// The run's summary in the `--log`; a log that could not be written is
    /// one of the run's problems (shown, and exit code 1).
    fn log_summary(&mut self) {
        let dry_run = self.config.as_ref().is_some_and(|c| c.dry_run);
        let code = self.progress.exit_code();
        if let Some(lost) = self
            .run_log
            .as_mut()
            .and_then(|l| l.finish(&self.progress, dry_run, code))
        {
            self.progress.problems.push(lost);
        }
    }

    /// The engine's events stopped without `Done`: the run is over, as a failure.
    pub fn engine_lost(&mut self) {
        self.progress.engine_lost();
        self.log_summary();
        if let Some(r) = self.running.take() {
            r.join();
        }
        self.conflicts.clear();
        self.dialog = None;
        self.screen = Screen::Summary;
    }

    /// Asks for the other machine's folders the form wants to complete with,
    /// and hands it those that came: whether any came (the form changed).
    pub fn poll_remote(&mut self) -> bool {
        for (host, dir) in std::mem::take(&mut self.setup.remote_wanted) {
            if !self.remote_asked.insert((host.clone(), dir.clone())) {
                continue;
            }
            let remote = crate::config::Remote {
                host,
                rsh: self.base.rsh.clone(),
                connections: Some(1),
            };
            self.remote
                .get_or_insert_with(super::remote::RemoteLister::start)
                .ask(remote, dir);
        }
        let Some(lister) = &self.remote else {
            return false;
        };
        let came: Vec<_> = lister.answers.try_iter().collect();
        let changed = !came.is_empty();
        for (asked, folders) in came {
            self.remote_asked.remove(&asked);
            self.setup.remote_listed(asked, folders);
        }
        changed
    }

    /// Called every frame: samples throughput for the history chart.
    pub fn tick(&mut self, now: Instant) {
        self.poll_compare();
        if self.screen != Screen::Copying {
            return;
        }
        // A mirror waits on its deletions: the question stays until answered
        // (help shown over it, a copy beside come on screen).
        if self.dialog.is_none()
            && self
                .progress
                .prune_plan
                .as_ref()
                .is_some_and(|p| p.awaiting)
        {
            self.dialog = Some(Dialog::Deletions);
        }
        self.progress.now = now;
        let (t, b) = self.last_sample;
        if now.duration_since(t) >= HISTORY_EVERY {
            let rate =
                (self.progress.bytes_written - b) as f64 / now.duration_since(t).as_secs_f64();
            if self.history.len() == HISTORY_LEN {
                self.history.pop_front();
            }
            self.history.push_back(rate as u64);
            self.last_sample = (now, self.progress.bytes_written);
        }
    }

    /// Starts every waiting copy that may start: the first one when nothing
    /// runs, then each whose devices no running copy touches (beside it).
    pub fn start_apart(&mut self) {
        self.start_apart_with(self.progress.bwlimit);
    }

    /// The same, with the speed limit set live (it holds for the copies after).
    fn start_apart_with(&mut self, limit: Option<u64>) {
        loop {
            let mut busy: Vec<Config> = self.beside.iter().map(|b| b.config.clone()).collect();
            if self.running.is_some() {
                busy.extend(self.config.clone());
            }
            busy.extend(self.connecting.iter().map(|(c, _)| c.clone()));
            let may_start = |c: &Config| busy.iter().all(|b| queue::apart(b, c));
            let Some(mut cfg) = self.queue.take_first(may_start) else {
                return;
            };
            cfg.bwlimit = limit;
            if self.running.is_none() && self.connecting.is_empty() {
                self.start(cfg);
                continue;
            }
            let cfg = confirming(cfg);
            if let Some(starting) = connect_aside(&cfg) {
                self.connecting.push((cfg, starting));
                continue;
            }
            let started = engine::start(cfg.clone());
            self.beside_started(cfg, started);
        }
    }

    /// A copy started beside the one on screen (or why it could not).
    fn beside_started(&mut self, cfg: Config, started: Result<Running, engine::StartError>) {
        match started {
            Ok(running) => {
                let mut progress = Progress::new(Instant::now());
                progress.bwlimit = running.control.bwlimit();
                self.beside.push(Beside {
                    config: cfg,
                    running,
                    progress,
                    conflicts: VecDeque::new(),
                });
            }
            Err(e) => {
                let mut p = Progress::new(Instant::now());
                p.fatal = Some(e.to_string());
                p.done = true;
                self.queue.finish(&cfg, &p);
            }
        }
    }

    /// Brings the first copy beside on screen (the one there has ended).
    fn promote(&mut self) -> bool {
        if self.beside.is_empty() {
            return false;
        }
        let b = self.beside.remove(0);
        let now = Instant::now();
        self.runs += 1;
        self.source = b.config.source_named();
        self.dest = b.config.dest_named();
        self.workers = b.running.control.workers();
        self.config = Some(b.config);
        self.running = Some(b.running);
        self.last_sample = (now, b.progress.bytes_written);
        self.progress = b.progress;
        self.log.clear();
        self.history.clear();
        self.paused = false;
        self.scroll = 0;
        self.conflicts = b.conflicts;
        self.dialog = (!self.conflicts.is_empty()).then_some(Dialog::Conflict);
        self.screen = Screen::Copying;
        true
    }

    /// Folds the events of the copies beside; records and lets go of those
    /// that ended, and starts what may start then. Whether anything changed.
    pub fn fold_beside(&mut self, now: Instant) -> bool {
        let mut ended = Vec::new();
        let mut changed = false;
        for (i, b) in self.beside.iter_mut().enumerate() {
            for _ in 0..BESIDE_EVENTS_PER_TURN {
                match b.running.events.try_recv() {
                    Ok(ev) => {
                        changed = true;
                        b.progress.apply(&ev, now);
                        match ev {
                            Event::Conflict(c) => b.conflicts.push_back(c),
                            Event::Done { .. } => {
                                ended.push(i);
                                break;
                            }
                            _ => {}
                        }
                    }
                    Err(crossbeam_channel::TryRecvError::Empty) => break,
                    Err(crossbeam_channel::TryRecvError::Disconnected) => {
                        b.progress.engine_lost();
                        ended.push(i);
                        break;
                    }
                }
            }
        }
        for i in ended.iter().rev() {
            let b = self.beside.remove(*i);
            self.queue.finish(&b.config, &b.progress);
            b.running.join();
        }
        if !ended.is_empty() {
            self.start_apart();
        }
        changed
    }

    /// Stops the copies beside (quitting, Ctrl-C) and records how they ended.
    pub fn cancel_beside(&mut self) {
        for b in &self.beside {
            b.running.control.cancel();
        }
        for mut b in std::mem::take(&mut self.beside) {
            for ev in b.running.events.iter() {
                b.progress.apply(&ev, Instant::now());
            }
            self.queue.finish(&b.config, &b.progress);
            b.running.join();
        }
    }

    /// The workers copying a file on their lane, in the order shown.
    pub fn busy_lanes(&self) -> Vec<usize> {
        let lanes = self.progress.lanes_by_activity();
        let busy = lanes.iter().filter(|l| l.current.is_some());
        busy.map(|l| l.worker).collect()
    }

    /// Asks the engine to skip the file `worker` copies now (the one the
    /// person sees: named by its number on the lane).
    fn skip_lane(&mut self, worker: usize) {
        let Some(lane) = self.progress.lanes.get(worker) else {
            return;
        };
        if lane.current.is_some()
            && let Some(c) = self.control()
        {
            c.skip_file(worker, lane.started);
        }
    }

    fn control(&self) -> Option<&engine::Control> {
        self.running.as_ref().map(|r| &r.control)
    }

    /// Shows the setup form, reading its folders if they never were.
    fn show_setup(&mut self) {
        self.setup.show();
        self.screen = Screen::Setup;
    }

    pub fn update(&mut self, a: Action) {
        // Dialogs take their keys first.
        match (self.dialog, a) {
            (Some(_), Action::Quit) if self.dialog == Some(Dialog::Help) => {
                self.dialog = None;
                return;
            }
            (_, Action::Help) => {
                self.dialog = if self.dialog == Some(Dialog::Help) {
                    None
                } else {
                    self.help_scroll = 0;
                    Some(Dialog::Help)
                };
                return;
            }
            (Some(Dialog::Help), Action::ScrollDown) => {
                self.help_scroll += 1;
                return;
            }
            (Some(Dialog::Help), Action::ScrollUp) => {
                self.help_scroll = self.help_scroll.saturating_sub(1);
                return;
            }
            (Some(_), Action::CloseDialog) => {
                self.dialog = None;
                return;
            }
            (Some(Dialog::ConfirmCancel), Action::ConfirmCancel) => {
                if let Some(c) = self.control() {
                    c.cancel();
                }
                self.dialog = None;
                return;
            }
            (Some(Dialog::Conflict), Action::Answer(choice)) => {
                self.answer(choice);
                return;
            }
            (Some(Dialog::Deletions), Action::ConfirmDeletions | Action::KeepDeletions) => {
                if let Some(c) = self.control() {
                    c.confirm_deletions(a == Action::ConfirmDeletions);
                }
                if let Some(plan) = &mut self.progress.prune_plan {
                    plan.awaiting = false;
                }
                self.dialog = None;
                return;
            }
            (Some(Dialog::Conflict), Action::ToggleForAll) => {
                self.for_all = !self.for_all;
                return;
            }
            (Some(Dialog::Help), _) => return,
            (Some(_), Action::AskCancel) => {
                self.dialog = None;
                return;
            }
            _ => {}
        }
        match self.screen {
            Screen::Setup => self.update_setup(a),
            Screen::Copying => self.update_copying(a),
            Screen::Summary => self.update_summary(a),
            Screen::Compared => self.update_compared(a),
        }
    }

    fn answer(&mut self, choice: Choice) {
        let Some(c) = self.conflicts.pop_front() else {
            self.dialog = None;
            return;
        };
        if let Some(ctl) = self.control() {
            ctl.answer(Answer {
                id: c.id,
                choice,
                for_all: self.for_all,
            });
        }
        if self.for_all {
            self.conflicts.clear();
        }
        if self.conflicts.is_empty() {
            self.dialog = None;
        }
    }

    fn update_setup(&mut self, a: Action) {
        let s = &mut self.setup;
        match a {
            // Queueing a copy: back to the one running.
            Action::Quit if self.running.is_some() => self.screen = Screen::Copying,
            Action::Quit => self.quit = true,
            Action::Start => self.start_from_setup(),
            Action::Pick if s.focus == Field::Browser => s.toggle_pick(s.browse_selected),
            Action::Pick => self.update_setup(Action::Char(' ')),
            Action::FocusNext => s.focus_step(1),
            Action::FocusPrev => s.focus_step(-1),
            Action::Focus(f) => s.set_focus(f),
            Action::Char(c) => match s.focus {
                Field::Source | Field::Dest => s.type_char(c),
                Field::Deref if c == ' ' => s.dereference = !s.dereference,
                Field::DryRun if c == ' ' => s.dry_run = !s.dry_run,
                Field::Verify if c == ' ' => s.verify = !s.verify,
                Field::Flush if c == ' ' => s.flush = !s.flush,
                Field::Move if c == ' ' => s.toggle_move(),
                Field::Mirror if c == ' ' => s.toggle_mirror(),
                Field::Compare if c == ' ' => s.compare = !s.compare,
                _ => {}
            },
            Action::ClearField => s.clear_focused(),
            Action::Backspace => match s.focus {
                Field::Source | Field::Dest => s.backspace(),
                Field::Browser => s.browse_up(),
                _ => {}
            },
            Action::Up | Action::Down => {
                let down = a == Action::Down;
                match s.focus {
                    Field::Source | Field::Dest if !s.suggestions.is_empty() => {
                        let n = s.suggestions.len();
                        s.suggestion = if down {
                            (s.suggestion + 1) % n
                        } else {
                            (s.suggestion + n - 1) % n
                        };
                    }
                    Field::Browser => {
                        let n = s.browse_entries.len().max(1);
                        s.browse_selected = if down {
                            (s.browse_selected + 1).min(n - 1)
                        } else {
                            s.browse_selected.saturating_sub(1)
                        };
                    }
                    _ => s.focus_step(if down { 1 } else { -1 }),
                }
            }
            Action::Right | Action::Left => {
                let right = a == Action::Right;
                match s.focus {
                    Field::Source | Field::Dest if right => {
                        s.accept_suggestion();
                    }
                    Field::Browser if right => {
                        s.browse_open(s.browse_selected.max(1).min(s.browse_entries.len() - 1))
                    }
                    Field::Browser => s.browse_up(),
                    Field::Jobs => {
                        s.jobs = if right {
                            (s.jobs + 1).min(64)
                        } else {
                            s.jobs.saturating_sub(1).max(1)
                        }
                    }
                    Field::Policy => s.cycle_policy(if right { 1 } else { -1 }),
                    _ => {}
                }
            }
            Action::Enter => match s.focus {
                Field::Source | Field::Dest if !s.suggestions.is_empty() => {
                    s.accept_suggestion();
                }
                Field::Source | Field::Dest => s.focus_step(1),
                Field::Browser => s.browse_open(s.browse_selected),
                Field::Deref => s.dereference = !s.dereference,
                Field::DryRun => s.dry_run = !s.dry_run,
                Field::Verify => s.verify = !s.verify,
                Field::Flush => s.flush = !s.flush,
                Field::Move => s.toggle_move(),
                Field::Mirror => s.toggle_mirror(),
                Field::Compare => s.compare = !s.compare,
                Field::Policy => s.cycle_policy(1),
                Field::Jobs => s.focus_step(1),
                Field::Start => self.start_from_setup(),
                Field::Quit => self.quit = true,
            },
            Action::BrowseClick(i) => {
                s.set_focus(Field::Browser);
                if s.browse_selected == i {
                    s.browse_open(i);
                } else {
                    s.browse_selected = i;
                }
            }
            Action::ScrollUp | Action::ScrollDown => {
                let n = s.browse_entries.len().max(1);
                s.browse_selected = if a == Action::ScrollDown {
                    (s.browse_selected + 1).min(n - 1)
                } else {
                    s.browse_selected.saturating_sub(1)
                };
            }
            _ => {}
        }
    }

    fn update_copying(&mut self, a: Action) {
        match a {
            Action::TogglePause => {
                self.paused = !self.paused;
                if let Some(c) = self.control() {
                    c.set_paused(self.paused);
                }
            }
            Action::MoreWorkers | Action::FewerWorkers => {
                let n = if a == Action::MoreWorkers {
                    self.workers + 1
                } else {
                    self.workers.saturating_sub(1)
                };
                if let Some(c) = self.control() {
                    self.workers = c.set_workers(n);
                }
            }
            Action::SlowerLimit | Action::FasterLimit | Action::LiftLimit => {
                let now = self.progress.bwlimit;
                let next = match a {
                    Action::SlowerLimit => slower(now, self.progress.rates().0),
                    Action::FasterLimit => faster(now),
                    _ => None,
                };
                if let Some(c) = self.control() {
                    self.progress.bwlimit = c.set_bwlimit(next);
                }
            }
            Action::QueueCopy => {
                self.setup.error = None;
                self.show_setup();
            }
            Action::NextJob => self.queue.select_next(),
            Action::JobEarlier => self.queue.move_selected(-1),
            Action::JobLater => self.queue.move_selected(1),
            Action::HoldJob => {
                self.queue.toggle_hold();
                self.start_apart();
            }
            Action::RemoveJob => self.queue.remove_selected(),
            Action::NextLane => {
                let busy: Vec<usize> = self.busy_lanes();
                let at = busy.iter().position(|w| Some(*w) == self.chosen_lane);
                self.chosen_lane = match at {
                    Some(i) => busy.get(i + 1).or(busy.first()).copied(),
                    None => busy.first().copied(),
                };
            }
            Action::SkipFile => {
                let busy = self.busy_lanes();
                let chosen = self.chosen_lane.filter(|w| busy.contains(w));
                if let Some(w) = chosen.or(busy.first().copied()) {
                    self.skip_lane(w);
                }
            }
            Action::SkipLane(w) => self.skip_lane(w),
            Action::AskCancel | Action::Quit => self.dialog = Some(Dialog::ConfirmCancel),
            Action::ShowConflicts if !self.conflicts.is_empty() => {
                self.dialog = Some(Dialog::Conflict)
            }
            Action::ScrollUp => self.scroll = self.scroll.saturating_add(1),
            Action::ScrollDown => self.scroll = self.scroll.saturating_sub(1),
            _ => {}
        }
    }

    fn update_compared(&mut self, a: Action) {
        match a {
            Action::Quit | Action::AskCancel => self.quit = true,
            Action::NewCopy => {
                self.setup.error = None;
                self.setup.set_focus(Field::Source);
                self.show_setup();
            }
            // The same pair again, as a mirror: its deletions are shown
            // for a yes first, as always in the TUI.
            Action::MirrorNow if self.comparing.is_none() => {
                let Some(mut cfg) = self.config.clone() else {
                    return;
                };
                cfg.mirror = Some(cfg.mirror.unwrap_or_default());
                cfg.policy = ConflictPolicy::Overwrite;
                cfg.move_sources = false;
                cfg.dry_run = false;
                match cfg.resolved() {
                    Ok(cfg) => self.start(cfg),
                    Err(e) => self.comparison = Some(Err(e.to_string())),
                }
            }
            Action::ScrollDown => {
                let n = self
                    .comparison
                    .as_ref()
                    .and_then(|c| c.as_ref().ok())
                    .map_or(0, |c| c.differences.len() + c.unreadable.len());
                self.scroll = (self.scroll + 1).min(n.saturating_sub(1));
            }
            Action::ScrollUp => self.scroll = self.scroll.saturating_sub(1),
            _ => {}
        }
    }

    fn update_summary(&mut self, a: Action) {
        match a {
            Action::Quit | Action::Enter | Action::AskCancel => self.quit = true,
            Action::Retry => self.retry_failed(),
            Action::DiscardPartials => self.discard_partials(),
            Action::NewCopy => {
                self.setup.error = None;
                self.setup.set_focus(Field::Source);
                self.show_setup();
            }
            Action::ScrollDown => {
                self.scroll = (self.scroll + 1).min(self.progress.failures.len().saturating_sub(1));
            }
            Action::ScrollUp => self.scroll = self.scroll.saturating_sub(1),
            _ => {}
        }
    }

    /// Removes what a cancelled run kept for resuming, and says how it went.
    pub fn discard_partials(&mut self) {
        if self.discarded.is_some() || self.progress.kept_partials.is_empty() {
            return;
        }
        let (mut removed, mut bytes, mut errors) = (0, 0, Vec::new());
        for k in &self.progress.kept_partials {
            match engine::discard_partial(&k.partial) {
                Ok(()) => {
                    removed += 1;
                    bytes += k.written;
                }
                Err(e) => errors.push(format!("{}: {e}", crate::format::display_path(&k.partial))),
            }
        }
        let mut said = format!(
            "Removed {removed} partial copies ({}): the next run starts them over",
            crate::format::bytes(bytes)
        );
        for e in errors {
            said.push_str(&format!("; cannot remove {e}"));
        }
        self.discarded = Some(said);
    }

    /// Copies only the entries that failed, with the same settings.
    pub fn retry_failed(&mut self) {
        let Some(mut cfg) = self.config.clone() else {
            return;
        };
        if self.progress.failures.is_empty() {
            return;
        }
        let only: HashSet<PathBuf> = self
            .progress
            .failures
            .iter()
            .map(|f| f.rel.clone())
            .collect();
        cfg.only = Some(only);
        self.start(cfg);
    }
}

/// Where a copy's start comes (see [`connect_aside`]).
type Starting = crossbeam_channel::Receiver<Result<Running, engine::StartError>>;

/// Starts a copy to or from another machine on a thread of its own: reaching
/// it can take as long as ssh's connect timeout, and the screen does not
/// wait. `None` for a copy here, or where no thread can start (it is then
/// started on this one).
fn connect_aside(cfg: &Config) -> Option<Starting> {
    cfg.remote.as_ref().or(cfg.remote_source.as_ref())?;
    let (tell, told) = crossbeam_channel::bounded(1);
    let c = cfg.clone();
    std::thread::Builder::new()
        .name("convoy-tui-connect".into())
        .spawn(move || {
            let _ = tell.send(engine::start(c));
        })
        .ok()?;
    Some(told)
}
