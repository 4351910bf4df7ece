//! For tests of the TUI's state with a real engine behind it (needs the
//! `tui` feature, so kept apart from `common`).

use std::time::{Duration, Instant};

use convoy::tui::app::{App, Screen};

/// Feeds the running copies' events to `app` (the one on screen and those
/// beside it) until it leaves the copying screen; a run that lasts longer
/// than a minute fails.
pub fn run_to_end(app: &mut App) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while app.screen == Screen::Copying {
        app.fold_beside(Instant::now());
        let events = &app.running.as_ref().expect("a running copy").events;
        match events.recv_timeout(Duration::from_millis(20)) {
            Ok(ev) => app.on_event(&ev, Instant::now()),
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
            Err(e) => panic!("the engine's events: {e}"),
        }
        assert!(Instant::now() < deadline, "the copy did not end");
    }
}
