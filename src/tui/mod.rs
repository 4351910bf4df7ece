//! The interactive face: a full-screen terminal application over the same engine
//! events as batch mode. One loop selects over terminal input and a frame tick,
//! folding engine events once a frame; it draws at most 30 times a second, never once per event.

pub mod action;
pub mod app;
pub mod hits;
pub mod input;
pub mod keys;
pub mod queue;
pub mod recent;
pub mod remote;
pub mod setup;
pub mod view;

use std::io::{self, Stdout};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{TryRecvError, select, tick};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::event::{
    self as cevent, DisableMouseCapture, EnableMouseCapture, Event as TermEvent,
};
use ratatui::crossterm::execute;
use ratatui::crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};

use crate::cli::{Args, Face};
use crate::error::InputError;
use crate::exit::ExitCode;
use crate::log::RunLog;
use app::App;
use hits::Hits;
use setup::Setup;

/// Why the interface could not run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{0}")]
    Input(#[from] InputError),
    #[error("cannot run the terminal interface: {0}")]
    Terminal(#[from] io::Error),
}

const FRAME: Duration = Duration::from_millis(33);
/// Engine events folded per frame at most, so input is never starved.
const EVENTS_PER_TURN: usize = 100_000;

/// Builds the app from the command line: the setup form filled from it (`run`
/// starts the copy at once when both SOURCE and DEST are given).
pub fn app_from_args(args: &Args, colors: bool) -> Result<App, InputError> {
    let base = args.base_config(Face::Tui)?;
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
    let mut app = App::new(Setup::from_config(&base, cwd), colors);
    app.base = base;
    app.quit_when_done = args.quit_when_done;
    app.recent_file = recent::file();
    if let Some(f) = &app.recent_file {
        app.setup.recent = recent::load(f);
    }
    // With both paths the copy starts at once: the form is read only if it
    // is shown (a queued copy, a start that failed).
    if !args.starts_at_once() {
        app.setup.refresh();
    }
    if let Some(path) = &args.log {
        app.run_log = Some(RunLog::open(path)?);
    }
    Ok(app)
}

fn restore_terminal() {
    let _ = disable_raw_mode();
    let _ = execute!(
        io::stdout(),
        LeaveAlternateScreen,
        DisableMouseCapture,
        ratatui::crossterm::cursor::Show
    );
}

/// Restores the terminal when dropped: on return, on error and on panic.
struct TerminalGuard;

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore_terminal();
    }
}

fn open_terminal() -> io::Result<(TerminalGuard, Terminal<CrosstermBackend<Stdout>>)> {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        // The engine catches its threads' panics and reports a stopped run;
        // printing one here would garble the screen the interface still owns.
        let engine = std::thread::current()
            .name()
            .is_some_and(|n| n.starts_with(crate::engine::THREAD_PREFIX));
        if !engine {
            restore_terminal();
            previous(info);
        }
    }));
    enable_raw_mode()?;
    let guard = TerminalGuard;
    execute!(
        io::stdout(),
        EnterAlternateScreen,
        EnableMouseCapture,
        ratatui::crossterm::cursor::Hide
    )?;
    let terminal = Terminal::new(CrosstermBackend::new(io::stdout()))?;
    Ok((guard, terminal))
}

/// The terminal can no longer be written (closed, hung up): a copy in
/// progress is stopped cleanly, as on Ctrl-C, since nobody can watch or steer
/// it; its exit code says so.
fn lost_terminal(mut app: App, e: io::Error) -> Result<ExitCode, RunError> {
    app.cancel_beside();
    let Some(running) = app.running.take() else {
        return Err(e.into());
    };
    running.control.cancel();
    for ev in running.events.iter() {
        app.progress.apply(&ev, Instant::now());
    }
    app.progress.engine_lost();
    running.join();
    Ok(app.progress.exit_code())
}

/// Runs the interface to its end. Bad options are an `InputError` (exit 2),
/// a terminal that cannot be driven an `io::Error`.
pub fn run(args: &Args, interrupted: &AtomicBool) -> Result<ExitCode, RunError> {
    let colors = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let mut app = app_from_args(args, colors)?;
    // Checked before the screen is taken: a bad pair is one line, exit 2.
    let queued = args.queued_configs(Face::Tui)?;
    // One folder into DEST goes through the form (which shows what is wrong
    // with it); several sources, or a file, are planned as batch mode plans
    // them and run one after the other.
    let one_folder =
        args.paths.len() == 2 && args.source().is_some_and(|s| !s.exists() || s.is_dir());
    let planned = match args.starts_at_once() && !one_folder {
        true => args.path_configs(Face::Tui)?,
        false => Vec::new(),
    };
    let (_guard, mut terminal) = open_terminal()?;
    if args.starts_at_once() {
        let mut planned = planned.into_iter();
        match planned.next() {
            Some(first) => app.start(first),
            None => app.start_from_setup(),
        }
        for cfg in planned.chain(queued) {
            app.queue.push(cfg);
        }
    }

    let (input_tx, input_rx) = crossbeam_channel::unbounded();
    std::thread::Builder::new()
        .name("convoy-input".into())
        .spawn(move || {
            while let Ok(ev) = cevent::read() {
                if input_tx.send(ev).is_err() {
                    break;
                }
            }
        })?;
    let frames = tick(FRAME);
    let mut dirty = true;
    let mut hits = Hits::default();
    let mut input_rx = input_rx;
    let mut input_gone = false;
    loop {
        // The end of a copy is drawn (or, with --quit-when-done, left) at once,
        // not at the next frame: up to 33 ms on a copy of a second.
        let ended = app
            .running
            .as_ref()
            .map_or_else(crossbeam_channel::never, |r| r.ended());
        let turn = select! {
            recv(input_rx) -> ev => {
                let action = match ev {
                    Ok(TermEvent::Key(k)) => input::key(&app, k),
                    Ok(TermEvent::Mouse(m)) => input::mouse(&hits, m),
                    Ok(TermEvent::Resize(..)) => { dirty = true; None }
                    Ok(_) => None,
                    // The terminal stopped giving input: nobody can steer the
                    // copy any more, so it stops as on Ctrl-C.
                    Err(_) => {
                        input_gone = true;
                        input_rx = crossbeam_channel::never();
                        None
                    }
                };
                if let Some(a) = action {
                    app.update(a);
                    dirty = true;
                }
                false
            }
            recv(frames) -> _ => true,
            recv(ended) -> _ => true,
        };
        if turn {
            // Engine events are folded once a frame, not waited on: a receiver
            // that never parks costs the workers no wake-up per event.
            if let Some(engine) = app.running.as_ref().map(|r| r.events.clone()) {
                let now = Instant::now();
                let run = app.runs;
                for _ in 0..EVENTS_PER_TURN {
                    match engine.try_recv() {
                        Ok(ev) => app.on_event(&ev, now),
                        Err(TryRecvError::Empty) => break,
                        Err(TryRecvError::Disconnected) => {
                            app.engine_lost();
                            break;
                        }
                    }
                    dirty = true;
                    // The copy ended and the next of the queue started:
                    // its events come from its own engine, next frame.
                    if app.runs != run {
                        break;
                    }
                }
            }
            dirty |= app.fold_beside(Instant::now());
            if input_gone || interrupted.load(Ordering::Relaxed) {
                for b in &app.beside {
                    b.running.control.cancel();
                }
                match app.running.as_ref() {
                    Some(r) => r.control.cancel(),
                    None => app.quit = true,
                }
            }
            dirty |= app.poll_remote();
            dirty |= app.poll_connecting();
            app.tick(Instant::now());
            if dirty || app.running.is_some() {
                let drawn =
                    terminal.draw(|f| view::draw(&app, f.area(), f.buffer_mut(), &mut hits));
                if let Err(e) = drawn {
                    return lost_terminal(app, e);
                }
                dirty = false;
            }
        }
        if app.quit {
            break;
        }
    }
    if let Some(r) = app.running.take() {
        r.control.cancel();
        r.join();
    }
    app.cancel_beside();
    Ok(app.exit_code())
}
