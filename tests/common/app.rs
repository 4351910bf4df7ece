//! For tests of the TUI's state with a real engine behind it (needs the
//! `tui` feature, so kept apart from `common`).

use std::time::{Duration, Instant};

use convoy::tui::app::{App, Screen};

/// Feeds the running copy's events to `app` until it leaves the copying
/// screen; a run that goes quiet for a minute or lasts longer fails.
pub fn run_to_end(app: &mut App) {
    let limit = Duration::from_secs(60);
    let deadline = Instant::now() + limit;
    while app.screen == Screen::Copying {
        let events = &app.running.as_ref().expect("a running copy").events;
        let ev = events.recv_timeout(limit).expect("the engine's events");
        app.on_event(&ev, Instant::now());
        assert!(Instant::now() < deadline, "the copy did not end");
    }
}
