//! The TUI's screens on ratatui's TestBackend, driven by recorded engine events
//! and key presses: what a person would see at 80×24 and on a wide terminal.

#[path = "common/app.rs"]
mod app_run;
mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{assert_same_tree, data, write};
use convoy::error::{CopyError, Op};
use convoy::event::{Conflict, EntryKind, Event, Outcome, RelPath};
use convoy::tui::app::{Action, App, Dialog, Screen};
use convoy::tui::input;
use convoy::tui::setup::{Field, Setup};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::style::Color;
use unicode_width::UnicodeWidthStr;

/// Renders the app and returns the screen as lines of text.
fn screen(app: &App, w: u16, h: u16) -> Vec<String> {
    let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
    term.draw(|f| f.render_widget(app, f.area())).unwrap();
    let buf = term.backend().buffer().clone();
    (0..h)
        .map(|y| {
            let mut line = String::new();
            let mut x = 0;
            while x < w {
                let sym = buf[(x, y)].symbol();
                line.push_str(sym);
                x += sym.width().max(1) as u16;
            }
            line
        })
        .collect()
}

fn text(lines: &[String]) -> String {
    lines.join("\n")
}

fn rel(dir: &str, name: &str) -> RelPath {
    RelPath {
        dir: Arc::from(Path::new(dir)),
        name: name.into(),
    }
}

fn key(app: &App, code: KeyCode) -> Option<Action> {
    input::key(app, KeyEvent::new(code, KeyModifiers::NONE))
}

fn setup_app(dir: &Path) -> App {
    App::new(Setup::new(None, dir.to_path_buf()), true)
}

/// The source folders' names of the copies that ran, in the order they ended.
fn finished_sources(app: &App) -> Vec<String> {
    let name = |f: &convoy::tui::queue::Finished| {
        f.source.file_name().unwrap().to_string_lossy().into_owned()
    };
    app.queue.finished.iter().map(name).collect()
}

/// An app on the copying screen with nothing copied yet (events fed by hand).
fn empty_copying_app(dir: &Path) -> App {
    let mut app = setup_app(dir);
    app.screen = Screen::Copying;
    app.workers = 2;
    app
}

/// An app on the copying screen fed a recorded run: scan, a big file in
/// progress on one lane, finished files, one failure.
fn copying_app(dir: &Path, lane_path: RelPath) -> App {
    let mut app = setup_app(dir);
    app.screen = Screen::Copying;
    app.workers = 2;
    app.source = "/data/source".into();
    app.dest = "/backup/dest".into();
    let t = Instant::now();
    let events = [
        Event::Scan {
            files: 10,
            bytes: 10_000_000,
            dirs: 2,
            complete: false,
        },
        Event::Started {
            worker: 0,
            path: lane_path,
            size: 8_000_000,
            number: 1,
        },
        Event::Progress {
            worker: 0,
            bytes: 4_000_000,
        },
        Event::Entry {
            worker: Some(1),
            path: rel("docs", "a.txt"),
            kind: EntryKind::File,
            bytes: 1000,
            progressed: 0,
            outcome: Outcome::Copied,
            digest: None,
        },
        Event::Entry {
            worker: Some(1),
            path: rel("docs", "locked.txt"),
            kind: EntryKind::File,
            bytes: 1000,
            progressed: 0,
            outcome: Outcome::Failed(CopyError::new(
                "/data/source/docs/locked.txt",
                Op::Open,
                std::io::Error::from_raw_os_error(13),
            )),
            digest: None,
        },
    ];
    for (i, e) in events.iter().enumerate() {
        app.on_event(e, t + Duration::from_millis(i as u64 * 300));
    }
    app
}

#[test]
fn setup_screen_shows_the_form_browser_options_and_start() {
    let t = tempfile::tempdir().unwrap();
    std::fs::create_dir(t.path().join("photos")).unwrap();
    let app = setup_app(t.path());
    let s = text(&screen(&app, 80, 24));
    for needle in [
        "New copy",
        "Source",
        "Destination",
        "photos/",
        "Options",
        "Conflicts  ◀ Ask ▶",
        "Start (F5)",
        "F5 start",
    ] {
        assert!(s.contains(needle), "setup screen lacks {needle:?}:\n{s}");
    }
    assert_eq!(
        app.setup.focus,
        Field::Source,
        "the form opens on the empty Source field"
    );
}

#[test]
fn a_missing_source_shows_an_inline_error_not_a_crash() {
    let t = tempfile::tempdir().unwrap();
    let mut app = setup_app(t.path());
    for c in "/no/such/folder".chars() {
        app.update(Action::Char(c));
    }
    app.update(Action::Start);
    assert_eq!(app.screen, Screen::Setup);
    let s = text(&screen(&app, 80, 24));
    assert!(s.contains("source does not exist"), "{s}");
}

#[test]
fn copying_screen_shows_gauges_lanes_log_and_errors_at_80x24() {
    let t = tempfile::tempdir().unwrap();
    let app = copying_app(t.path(), rel("videos", "holiday.mp4"));
    let lines = screen(&app, 80, 24);
    let s = text(&lines);
    for needle in [
        "Copying",
        "/data/source",
        "/backup/dest",
        "scanning…",
        "2 / 10+ scanning… files",
        "████░░░░  50% videos/holiday.mp4",
        "✓ docs/a.txt",
        "Errors (1)",
        "locked.txt: cannot open for reading: Permission denied",
        "Pause (p)",
        "Cancel (Esc)",
    ] {
        assert!(s.contains(needle), "copying screen lacks {needle:?}:\n{s}");
    }
    assert!(
        lines.iter().all(|l| l.width() == 80),
        "every row fills exactly 80 columns"
    );
}

#[test]
fn wide_terminal_and_cjk_paths_keep_columns_aligned() {
    let t = tempfile::tempdir().unwrap();
    let long = format!("{}/最后的文件名称.mp4", "文件夹".repeat(20));
    let app = copying_app(t.path(), rel("", &long));
    for (w, h) in [(80, 24), (160, 48)] {
        let lines = screen(&app, w, h);
        let lane = lines
            .iter()
            .find(|l| l.contains("最后的文件名称.mp4"))
            .unwrap_or_else(|| panic!("the lane shows the file name end:\n{}", text(&lines)));
        assert!(
            lane.contains('…'),
            "a long path is shortened in the middle: {lane}"
        );
        for l in &lines {
            assert_eq!(l.width(), w as usize, "row overflows: {l}");
        }
    }
}

#[test]
fn conflicts_open_a_dialog_that_answers_without_stopping_anything() {
    let t = tempfile::tempdir().unwrap();
    let mut app = copying_app(t.path(), rel("", "big.iso"));
    for id in 0..3 {
        let c = Conflict {
            id,
            path: rel("docs", &format!("report{id}.txt")),
            src_size: 2048,
            src_mtime: (1_700_000_000, 0),
            dest_size: 100,
            dest_mtime: (1_600_000_000, 0),
        };
        app.on_event(&Event::Conflict(c), Instant::now());
    }
    assert_eq!(app.dialog, Some(Dialog::Conflict));
    let s = text(&screen(&app, 80, 24));
    assert!(
        s.contains("Conflict 1 of 3") && s.contains("docs/report0.txt"),
        "{s}"
    );
    assert!(
        s.contains("2.0 KiB") && s.contains("(newer)"),
        "both sides shown:\n{s}"
    );
    assert!(s.contains("Keep both (k)"), "{s}");
    app.update(key(&app, KeyCode::Esc).unwrap());
    let s = text(&screen(&app, 80, 24));
    assert!(
        s.contains("⚑ 3 conflicts") && s.contains("[ Conflicts (c) ]"),
        "Esc answers later; a badge waits:\n{s}"
    );
    app.update(key(&app, KeyCode::Char('c')).unwrap());
    assert_eq!(app.dialog, Some(Dialog::Conflict));
    app.update(key(&app, KeyCode::Char('s')).unwrap());
    assert_eq!(app.conflicts.len(), 2, "one answered");
    app.update(key(&app, KeyCode::Char('a')).unwrap());
    app.update(key(&app, KeyCode::Char('o')).unwrap());
    assert!(app.conflicts.is_empty(), "for all remaining");
    assert_eq!(app.dialog, None);
}

#[test]
fn cancel_asks_first_then_the_summary_says_cancelled() {
    let t = tempfile::tempdir().unwrap();
    let mut app = copying_app(t.path(), rel("", "big.iso"));
    app.update(key(&app, KeyCode::Esc).unwrap());
    assert_eq!(app.dialog, Some(Dialog::ConfirmCancel));
    assert!(text(&screen(&app, 80, 24)).contains("Cancel copy?"));
    app.update(key(&app, KeyCode::Char('n')).unwrap());
    assert_eq!(app.dialog, None, "n keeps copying");
    app.update(key(&app, KeyCode::Char('q')).unwrap());
    app.update(key(&app, KeyCode::Char('y')).unwrap());
    app.on_event(&Event::Done { cancelled: true }, Instant::now());
    assert_eq!(app.screen, Screen::Summary);
    let s = text(&screen(&app, 80, 24));
    assert!(s.contains("Cancelled — 1 files copied"), "{s}");
    assert!(
        !s.contains("Done"),
        "'Done' appears on no other screen:\n{s}"
    );
    assert_eq!(app.exit_code(), convoy::exit::ExitCode::Interrupted);
}

#[test]
fn summary_lists_failures_offers_retry_and_quits_with_the_batch_exit_code() {
    let t = tempfile::tempdir().unwrap();
    let mut app = copying_app(t.path(), rel("", "big.iso"));
    app.on_event(&Event::Done { cancelled: false }, Instant::now());
    let s = text(&screen(&app, 100, 30));
    assert!(s.contains("Done — 1 files copied"), "{s}");
    assert!(s.contains("Failed (1)") && s.contains("locked.txt"), "{s}");
    assert!(s.contains("Retry failed (r)"), "{s}");
    assert_eq!(app.exit_code(), convoy::exit::ExitCode::Partial);
    app.update(key(&app, KeyCode::Char('q')).unwrap());
    assert!(app.quit);
}

#[test]
fn help_is_everywhere_but_question_marks_type_in_path_fields() {
    let t = tempfile::tempdir().unwrap();
    let mut app = setup_app(t.path());
    assert_eq!(
        key(&app, KeyCode::Char('?')),
        Some(Action::Char('?')),
        "typing in Source"
    );
    app.update(Action::Focus(Field::Browser));
    assert_eq!(key(&app, KeyCode::Char('?')), Some(Action::Help));
    assert_eq!(key(&app, KeyCode::F(1)), Some(Action::Help));
    app.update(Action::Help);
    assert!(text(&screen(&app, 80, 24)).contains("pause / resume"));
    let copying = copying_app(t.path(), rel("", "x"));
    assert_eq!(key(&copying, KeyCode::Char('?')), Some(Action::Help));
    assert_eq!(key(&copying, KeyCode::Char(' ')), Some(Action::TogglePause));
    assert_eq!(key(&copying, KeyCode::Char('+')), Some(Action::MoreWorkers));
}

#[test]
fn mouse_clicks_hit_the_buttons_that_were_drawn() {
    use ratatui::crossterm::event::{MouseButton, MouseEvent, MouseEventKind};
    let t = tempfile::tempdir().unwrap();
    let app = copying_app(t.path(), rel("", "x"));
    let lines = screen(&app, 80, 24);
    // The click targets of that same frame.
    let mut hits = convoy::tui::hits::Hits::default();
    let mut buf = ratatui::buffer::Buffer::empty(ratatui::layout::Rect::new(0, 0, 80, 24));
    convoy::tui::view::draw(&app, buf.area, &mut buf, &mut hits);
    let (row, line) = lines
        .iter()
        .enumerate()
        .find(|(_, l)| l.contains("[ Cancel (Esc) ]"))
        .unwrap();
    let col = line[..line.find("[ Cancel").unwrap()].width() as u16 + 2;
    let click = MouseEvent {
        kind: MouseEventKind::Down(MouseButton::Left),
        column: col,
        row: row as u16,
        modifiers: KeyModifiers::NONE,
    };
    assert_eq!(input::mouse(&hits, click), Some(Action::AskCancel));
}

#[test]
fn no_color_draws_without_colours() {
    let t = tempfile::tempdir().unwrap();
    let mut app = copying_app(t.path(), rel("", "x"));
    app.colors = false;
    let mut term = Terminal::new(TestBackend::new(80, 24)).unwrap();
    term.draw(|f| f.render_widget(&app, f.area())).unwrap();
    let buf = term.backend().buffer();
    assert!(
        buf.content()
            .iter()
            .all(|c| c.fg == Color::Reset && c.bg == Color::Reset),
        "a colour was used"
    );
    app.colors = true;
    term.draw(|f| f.render_widget(&app, f.area())).unwrap();
    assert!(
        term.backend()
            .buffer()
            .content()
            .iter()
            .any(|c| c.fg != Color::Reset),
        "colours when allowed"
    );
}

#[test]
fn retry_failed_copies_only_the_entries_that_failed() {
    use convoy::config::Config;
    let t = tempfile::tempdir().unwrap();
    let (src, dst) = (t.path().join("src"), t.path().join("dst"));
    write(src.join("ok.txt"), b"fine");
    write(src.join("sub/failed.txt"), b"retry me");
    let mut app = setup_app(t.path());
    app.screen = Screen::Summary;
    app.config = Some(Config::new(&src, &dst));
    // A recorded first run in which one entry failed.
    app.on_event(
        &Event::Entry {
            worker: Some(0),
            path: rel("sub", "failed.txt"),
            kind: EntryKind::File,
            bytes: 8,
            progressed: 0,
            outcome: Outcome::Failed(CopyError::new(
                src.join("sub/failed.txt"),
                Op::Open,
                std::io::Error::from_raw_os_error(5),
            )),
            digest: None,
        },
        Instant::now(),
    );
    app.update(key(&app, KeyCode::Char('r')).unwrap());
    assert_eq!(app.screen, Screen::Copying);
    app_run::run_to_end(&mut app);
    assert_eq!(
        std::fs::read(dst.join("sub/failed.txt")).unwrap(),
        b"retry me"
    );
    assert!(
        !dst.join("ok.txt").exists(),
        "entries that did not fail are not copied again"
    );
    assert_eq!(app.progress.files_copied, 1);
    assert!(text(&screen(&app, 80, 24)).contains("Done — 1 files copied"));
}

#[test]
fn gauges_never_claim_more_than_is_known_while_the_scan_runs() {
    let t = tempfile::tempdir().unwrap();
    let mut app = empty_copying_app(t.path());
    let now = Instant::now();
    // The walker said 10 files so far; the workers have already finished 12.
    app.on_event(
        &Event::Scan {
            files: 10,
            bytes: 10_000,
            dirs: 1,
            complete: false,
        },
        now,
    );
    for i in 0..12 {
        app.on_event(
            &Event::Entry {
                worker: Some(0),
                path: rel("d", &format!("f{i}")),
                kind: EntryKind::File,
                bytes: 1000,
                progressed: 0,
                outcome: Outcome::Copied,
                digest: None,
            },
            now,
        );
    }
    let lines = screen(&app, 80, 24);
    let files = lines
        .iter()
        .find(|l| l.contains("Files"))
        .expect("a files gauge");
    assert!(
        files.contains("12 / 12+ scanning… files"),
        "never more done than found: {files}"
    );
    for gauge in lines
        .iter()
        .filter(|l| l.contains("Files") || l.contains("Bytes"))
    {
        assert!(
            !gauge.contains('█'),
            "no share of the work is claimed while the total is unknown: {gauge}"
        );
    }
    app.on_event(
        &Event::Scan {
            files: 20,
            bytes: 20_000,
            dirs: 1,
            complete: true,
        },
        now,
    );
    let lines = screen(&app, 80, 24);
    let files = lines.iter().find(|l| l.contains("Files")).unwrap();
    assert!(
        files.contains("12 / 20 files") && files.contains('█'),
        "{files}"
    );
}

#[test]
fn the_summary_names_what_the_destination_could_not_keep() {
    use convoy::event::{Lost, Notice, What, Why};
    let t = tempfile::tempdir().unwrap();
    let mut app = copying_app(t.path(), rel("", "big.iso"));
    let now = Instant::now();
    app.on_event(&Event::Notice(Notice::TimeWindow(1_000_000_000)), now);
    for (what, count) in [(What::Modes, 1204), (What::Symlinks, 3)] {
        let lost = Lost {
            what,
            why: Why::Unsupported,
            count,
        };
        app.on_event(&Event::Notice(Notice::NotKept(lost)), now);
    }
    app.on_event(&Event::Done { cancelled: false }, now);
    let s = text(&screen(&app, 120, 30));
    for line in [
        "Not kept (the copy is otherwise complete):",
        "permission bits not kept on 1204 entries: the destination does not support them",
        "symlinks not kept on 3 symlinks: the destination does not support them",
        "modification times are copied to 1 s; times are compared within that",
    ] {
        assert!(s.contains(line), "'{line}' on the summary:\n{s}");
    }
    assert!(s.contains("locked.txt"), "failures still listed:\n{s}");
    // At 80×24 the failures keep their window.
    let small = text(&screen(&app, 80, 24));
    assert!(
        small.contains("Failed (1)") && small.contains("Not kept"),
        "{small}"
    );
}

#[test]
fn a_cancelled_summary_names_the_partial_it_kept_and_removes_it_when_asked() {
    use convoy::event::{KeptPartial, Notice};
    let t = tempfile::tempdir().unwrap();
    let partial = t.path().join("dst/.convoy-resume-0123456789abcdef.part");
    write(&partial, &data(1, 4096));
    let mut app = copying_app(t.path(), rel("", "big.iso"));
    let now = Instant::now();
    let kept = KeptPartial {
        path: t.path().join("dst/big.iso"),
        partial: partial.clone(),
        written: 600 << 20,
        of: 1536 << 20,
    };
    app.on_event(&Event::Notice(Notice::KeptForResume(kept)), now);
    app.on_event(&Event::Done { cancelled: true }, now);
    let s = text(&screen(&app, 120, 30));
    assert!(s.contains("Kept for resuming"), "{s}");
    assert!(s.contains("600.0 MiB of 1.5 GiB kept as"), "{s}");
    assert!(s.contains("Remove partials"), "a button offers it:\n{s}");
    assert_eq!(key(&app, KeyCode::Char('d')), Some(Action::DiscardPartials));
    app.update(Action::DiscardPartials);
    assert!(!partial.exists(), "the partial is removed");
    let s = text(&screen(&app, 120, 30));
    assert!(
        s.contains("Removed 1 partial copies (600.0 MiB)"),
        "the summary says so:\n{s}"
    );
    assert!(!s.contains("Remove partials"), "{s}");
}

#[test]
fn waiting_for_the_device_is_a_phase_with_its_own_gauge() {
    let t = tempfile::tempdir().unwrap();
    let mut app = copying_app(t.path(), rel("", "big.iso"));
    let now = Instant::now();
    app.on_event(&Event::Flushing { left: 600 }, now);
    app.on_event(&Event::Flushing { left: 300 }, now);
    let s = text(&screen(&app, 80, 24));
    assert!(s.contains("Writing to device"), "{s}");
    assert!(s.contains("writing to device: 300 B left"), "{s}");
    assert!(s.contains("Device"), "{s}");
    assert_eq!(
        app.screen,
        Screen::Copying,
        "not done while the device writes"
    );
    app.on_event(&Event::Flushing { left: 0 }, now);
    app.on_event(&Event::Done { cancelled: false }, now);
    assert_eq!(app.screen, Screen::Summary);
}

#[test]
fn the_tui_records_its_runs_in_the_log() {
    use convoy::config::Config;
    use convoy::log::RunLog;
    let t = tempfile::tempdir().unwrap();
    let (src, dst) = (t.path().join("src"), t.path().join("dst"));
    write(src.join("a.txt"), b"one");
    write(src.join("d/b.txt"), b"two");
    let log = t.path().join("tui.log");
    let mut app = setup_app(t.path());
    app.run_log = Some(RunLog::open(&log).unwrap());
    app.start(Config::new(&src, &dst));
    app_run::run_to_end(&mut app);
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for f in ["a.txt", "d/b.txt"] {
        let e = lines.iter().find(|l| l["path"] == f).expect(f);
        assert_eq!(e["outcome"], "copied", "{e}");
    }
    let last = lines.last().unwrap();
    assert_eq!(last["type"], "summary", "{last}");
    assert_eq!(last["files_copied"], 2, "{last}");
    assert_eq!(last["exit_code"], 0, "{last}");
}

/// The speed limit from the keyboard while a real copy runs: `[` a step
/// down, `]` a step up, `l` lifts it; the window's title says what is in
/// force, and the engine holds to it (its handle says so).
#[test]
fn the_speed_limit_is_lowered_raised_and_lifted_live() {
    use convoy::config::Config;
    let t = tempfile::tempdir().unwrap();
    let (src, dst) = (t.path().join("src"), t.path().join("dst"));
    for i in 0..8 {
        write(src.join(format!("f{i}.bin")), &data(i, 1 << 20));
    }
    let mut app = setup_app(t.path());
    let mut cfg = Config::new(&src, &dst);
    cfg.bwlimit = Some(2 << 20);
    app.start(cfg);
    assert_eq!(app.screen, Screen::Copying);
    let limit = |app: &App| app.running.as_ref().unwrap().control.bwlimit();
    assert_eq!(limit(&app), Some(2 << 20));
    let s = text(&screen(&app, 80, 24));
    assert!(s.contains("Copying · limit 2.0 MiB/s"), "{s}");
    app.update(key(&app, KeyCode::Char('[')).unwrap());
    assert_eq!(limit(&app), Some(1 << 20), "a step down");
    assert!(text(&screen(&app, 80, 24)).contains("limit 1.0 MiB/s"));
    app.update(key(&app, KeyCode::Char(']')).unwrap());
    app.update(key(&app, KeyCode::Char(']')).unwrap());
    assert_eq!(limit(&app), Some(5 << 20), "two steps up");
    let s = text(&screen(&app, 200, 60));
    assert!(
        s.contains("limit 5.0 MiB/s") && s.contains("No limit (l)"),
        "{s}"
    );
    app.update(key(&app, KeyCode::Char('l')).unwrap());
    assert_eq!(limit(&app), None, "lifted");
    let s = text(&screen(&app, 100, 30));
    assert!(!s.contains("· limit"), "{s}");
    assert!(s.contains("Slower ([)"), "a button sets one again: {s}");
    app_run::run_to_end(&mut app);
    assert_eq!(app.progress.files_copied, 8);
    assert_same_tree(&src, &dst);
}

/// A dialog over lanes with wide (CJK) names: at every width from 60 to 120
/// columns and at 200×60, no wide character just left of the dialog runs
/// over its border (the terminal would draw it there), and every row of
/// the dialog has both borders where the frame says.
#[test]
fn dialogs_clear_wide_characters_under_their_edges() {
    let t = tempfile::tempdir().unwrap();
    let long = format!("{}/最后的文件名称.mp4", "旅行京都文件夹".repeat(12));
    let mut app = copying_app(t.path(), rel("", &long));
    let c = Conflict {
        id: 0,
        path: rel("旅行", "京都の写真.jpg"),
        src_size: 2048,
        src_mtime: (1_700_000_000, 0),
        dest_size: 100,
        dest_mtime: (1_600_000_000, 0),
    };
    app.on_event(&Event::Conflict(c), Instant::now());
    assert_eq!(app.dialog, Some(Dialog::Conflict));
    let sizes = (60..=120).map(|w| (w, 24)).chain([(80, 24), (200, 60)]);
    for (w, h) in sizes {
        let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
        term.draw(|f| f.render_widget(&app, f.area())).unwrap();
        let buf = term.backend().buffer().clone();
        let corner = (0..h)
            .flat_map(|y| (0..w).map(move |x| (x, y)))
            .find(|&(x, y)| buf[(x, y)].symbol() == "╔")
            .expect("the dialog is drawn");
        let right = (corner.0..w)
            .find(|&x| buf[(x, corner.1)].symbol() == "╗")
            .unwrap();
        let bottom = (corner.1..h)
            .find(|&y| buf[(corner.0, y)].symbol() == "╚")
            .unwrap();
        for y in corner.1 + 1..bottom {
            if corner.0 > 0 {
                let before = buf[(corner.0 - 1, y)].symbol();
                assert!(
                    before.width() <= 1,
                    "{w}x{h}: {before:?} runs over the dialog's left border on row {y}"
                );
            }
            assert_eq!(buf[(corner.0, y)].symbol(), "║", "{w}x{h} row {y}");
            assert_eq!(buf[(right, y)].symbol(), "║", "{w}x{h} row {y}");
        }
    }
}

/// Skipping the file in progress from its lane, on a real copy: the big file
/// shows on a lane with a ✕ (a click target for that lane), `x` skips it;
/// it is reported as skipped by you, its partial (kept for resuming on a
/// cancel) is removed, and everything else is copied.
#[test]
fn the_file_in_progress_is_skipped_from_its_lane() {
    use convoy::config::Config;
    use ratatui::crossterm::event::{MouseButton, MouseEvent, MouseEventKind};
    let t = tempfile::tempdir().unwrap();
    let (src, dst) = (t.path().join("src"), t.path().join("dst"));
    write(src.join("big.iso"), &data(5, 80 << 20));
    for i in 0..20 {
        write(src.join(format!("small/{i}.txt")), &data(i, 3000));
    }
    let mut app = setup_app(t.path());
    let mut cfg = Config::new(&src, &dst);
    cfg.jobs = 2;
    // Slow enough that the big file is still on its lane when skipped.
    cfg.bwlimit = Some(8 << 20);
    app.start(cfg);
    let deadline = Instant::now() + Duration::from_secs(60);
    while app.busy_lanes().is_empty() {
        let events = &app.running.as_ref().unwrap().events;
        let ev = events.recv_timeout(Duration::from_secs(60)).unwrap();
        app.on_event(&ev, Instant::now());
        assert!(Instant::now() < deadline, "the big file never showed");
    }
    let worker = app.busy_lanes()[0];
    // Its ✕ is drawn where a click skips it.
    let mut hits = convoy::tui::hits::Hits::default();
    let mut buf = ratatui::buffer::Buffer::empty(ratatui::layout::Rect::new(0, 0, 80, 24));
    convoy::tui::view::draw(&app, buf.area, &mut buf, &mut hits);
    let at = (0..24u16)
        .flat_map(|y| (0..80u16).map(move |x| (x, y)))
        .find(|&(x, y)| buf[(x, y)].symbol() == "✕")
        .expect("a busy lane has its ✕");
    let click = MouseEvent {
        kind: MouseEventKind::Down(MouseButton::Left),
        column: at.0,
        row: at.1,
        modifiers: KeyModifiers::NONE,
    };
    assert_eq!(input::mouse(&hits, click), Some(Action::SkipLane(worker)));
    app.update(key(&app, KeyCode::Char('x')).unwrap());
    app.update(key(&app, KeyCode::Char('l')).unwrap());
    app_run::run_to_end(&mut app);
    assert_eq!(app.progress.skipped, 1, "{:?}", app.progress.skips);
    assert_eq!(app.progress.files_copied, 20);
    assert!(
        !dst.join("big.iso").exists(),
        "a skipped file is not placed"
    );
    let left: Vec<_> = common::entries(&dst)
        .into_iter()
        .filter(|p| p.to_string_lossy().contains(".convoy-"))
        .collect();
    assert!(left.is_empty(), "its partial is removed: {left:?}");
    for i in 0..20 {
        let rel = format!("small/{i}.txt");
        assert_eq!(
            std::fs::read(dst.join(&rel)).unwrap(),
            std::fs::read(src.join(&rel)).unwrap()
        );
    }
    let s = text(&screen(&app, 100, 30));
    assert!(s.contains("skipped by you"), "{s}");
}

/// `--verify`'s read-back is a phase of its own: while a worker reads back
/// its round, its lane says so and, with nothing left to copy, the title
/// says Verifying; the files count as done only as their entries come.
#[test]
fn reading_back_is_a_phase_on_screen() {
    let t = tempfile::tempdir().unwrap();
    let mut app = empty_copying_app(t.path());
    let now = Instant::now();
    app.on_event(
        &Event::Scan {
            files: 3,
            bytes: 3000,
            dirs: 1,
            complete: true,
        },
        now,
    );
    app.on_event(
        &Event::Verifying {
            worker: 1,
            files: 3,
            bytes: 3000,
        },
        now,
    );
    let s = text(&screen(&app, 80, 24));
    assert!(s.contains("convoy — Verifying"), "{s}");
    assert!(s.contains("reading back 3 files (2.9 KiB)"), "{s}");
    assert!(s.contains("0 / 3 files"), "not done before read back: {s}");
    for i in 0..3 {
        let entry = Event::Entry {
            worker: Some(1),
            path: rel("", &format!("f{i}")),
            kind: EntryKind::File,
            bytes: 1000,
            progressed: 0,
            outcome: Outcome::Copied,
            digest: Some([i as u8; 32]),
        };
        app.on_event(&entry, now);
    }
    let s = text(&screen(&app, 80, 24));
    assert!(
        !s.contains("reading back") && !s.contains("Verifying"),
        "{s}"
    );
    assert!(s.contains("3 / 3 files"), "{s}");
    assert_eq!(app.progress.verified, 3);
}

/// The queue, on real copies: while the first runs, `n` opens the form, whose
/// Start adds to the queue; the Jobs panel shows the running copy and the
/// waiting ones, which can be reordered, held and removed; each starts when
/// the one before ends (with the speed limit set live); the final screen
/// lists every copy with how it ended, a held one as not started.
#[test]
fn copies_queue_behind_the_running_one_and_the_summary_lists_them_all() {
    use convoy::config::Config;
    let t = tempfile::tempdir().unwrap();
    let p = |n: &str| t.path().join(n);
    for tree in ["a", "b", "c", "d"] {
        for i in 0..4 {
            write(p(&format!("{tree}/{i}.bin")), &data(i, 512 * 1024));
        }
    }
    let mut app = setup_app(t.path());
    let mut cfg = Config::new(p("a"), p("a-copy"));
    cfg.bwlimit = Some(1 << 20);
    app.start(cfg);
    for tree in ["b", "c", "d"] {
        app.update(key(&app, KeyCode::Char('n')).unwrap());
        assert_eq!(app.screen, Screen::Setup);
        let s = text(&screen(&app, 100, 30));
        assert!(s.contains("Add to queue (F5)"), "{s}");
        app.setup.source = p(tree).display().to_string();
        app.setup.dest = p(&format!("{tree}-copy")).display().to_string();
        app.update(key(&app, KeyCode::F(5)).unwrap());
        assert_eq!(app.screen, Screen::Copying, "back to the copy running");
    }
    let s = text(&screen(&app, 120, 30));
    assert!(s.contains("Jobs (3 waiting)"), "{s}");
    assert!(
        s.contains("▶ a → a-copy") && s.contains("1 b → b-copy"),
        "{s}"
    );
    // d before c, then b held: the order is a, d, c; b never starts.
    app.update(key(&app, KeyCode::Char('j')).unwrap());
    app.update(key(&app, KeyCode::Char('j')).unwrap());
    app.update(key(&app, KeyCode::Char('K')).unwrap());
    app.update(key(&app, KeyCode::Char('j')).unwrap());
    app.update(key(&app, KeyCode::Char('j')).unwrap());
    app.update(key(&app, KeyCode::Char('h')).unwrap());
    let s = text(&screen(&app, 120, 30));
    assert!(
        s.contains("1 ⏸ b → b-copy") && s.contains("2 d → d-copy"),
        "{s}"
    );
    app.update(key(&app, KeyCode::Char(']')).unwrap());
    app_run::run_to_end(&mut app);
    assert_eq!(app.screen, Screen::Summary);
    let order = finished_sources(&app);
    assert_eq!(order, ["a", "d", "c"]);
    for tree in ["a", "c", "d"] {
        assert_same_tree(&p(tree), &p(&format!("{tree}-copy")));
    }
    assert!(!p("b-copy").exists(), "a held copy does not start");
    let s = text(&screen(&app, 120, 30));
    assert!(s.contains("Copies (3)") && s.contains("not started"), "{s}");
    assert_eq!(app.exit_code(), convoy::exit::ExitCode::Success);
    // The limit raised live held for the copies after the first.
    assert_eq!(app.progress.bwlimit, Some(2 << 20));
}

/// Recent folders: a copy started from the TUI is remembered in the state
/// file (not in either tree); the next session's empty Source field offers
/// it, and → takes it.
#[test]
fn recent_folders_are_remembered_outside_the_trees_and_offered() {
    use convoy::config::Config;
    use convoy::tui::recent;
    let t = tempfile::tempdir().unwrap();
    let (src, dst) = (t.path().join("photos"), t.path().join("backup"));
    write(src.join("a.jpg"), b"jpeg");
    let state = t.path().join("state/convoy/recent");
    let mut app = setup_app(t.path());
    app.recent_file = Some(state.clone());
    app.start(Config::new(&src, &dst));
    app_run::run_to_end(&mut app);
    assert_same_tree(&src, &dst);
    let remembered = recent::load(&state);
    assert_eq!(remembered.sources, [src.display().to_string()]);
    assert_eq!(remembered.dests, [dst.display().to_string()]);
    let mut next = App::new(Setup::new(None, t.path().to_path_buf()), true);
    next.setup.recent = remembered;
    next.setup.set_focus(Field::Source);
    let s = text(&screen(&next, 100, 30));
    assert!(s.contains(&src.display().to_string()), "offered:\n{s}");
    next.update(key(&next, KeyCode::Right).unwrap());
    assert_eq!(next.setup.source, src.display().to_string());
}

/// Every screen and dialog at 80×24 and at 200×60: each row exactly the
/// terminal's width (no wide character pushing a border out), and what
/// matters on it still there.
#[test]
fn every_screen_fits_80x24_and_200x60() {
    use convoy::config::Config;
    let t = tempfile::tempdir().unwrap();
    let lane = rel("文件夹", "最后的文件名称.mp4");
    let mut screens: Vec<(&str, App, &[&str])> = Vec::new();
    screens.push(("setup", setup_app(t.path()), &["Source", "Start"]));
    let mut copying = copying_app(t.path(), lane.clone());
    copying
        .queue
        .push(Config::new("/data/music", "/backup/music"));
    copying.progress.bwlimit = Some(20 << 20);
    screens.push(("copying", copying, &["Copying · limit 20.0 MiB/s", "Jobs"]));
    let mut help = copying_app(t.path(), lane.clone());
    help.update(key(&help, KeyCode::Char('?')).unwrap());
    screens.push(("help", help, &["help"]));
    let mut cancel = copying_app(t.path(), lane.clone());
    cancel.update(key(&cancel, KeyCode::Esc).unwrap());
    screens.push(("cancel", cancel, &["Cancel copy?"]));
    let mut conflict = copying_app(t.path(), lane.clone());
    conflict.on_event(
        &Event::Conflict(Conflict {
            id: 0,
            path: rel("旅行", "京都.jpg"),
            src_size: 2048,
            src_mtime: (1_700_000_000, 0),
            dest_size: 100,
            dest_mtime: (1_600_000_000, 0),
        }),
        Instant::now(),
    );
    screens.push(("conflict", conflict, &["Conflict 1 of 1"]));
    let mut summary = copying_app(t.path(), lane);
    summary.on_event(&Event::Done { cancelled: false }, Instant::now());
    screens.push(("summary", summary, &["Done —", "Failed (1)"]));
    for (name, app, wants) in &screens {
        for (w, h) in [(80, 24), (200, 60)] {
            let lines = screen(app, w, h);
            for l in &lines {
                assert_eq!(l.width(), w as usize, "{name} at {w}x{h}: {l}");
            }
            let s = text(&lines);
            for want in *wants {
                assert!(s.contains(want), "{name} at {w}x{h} lacks {want:?}:\n{s}");
            }
        }
    }
}

/// Copies on devices apart run at once: with one copy running on this disk,
/// a copy between two other filesystems (tmpfs mounts) starts beside it at
/// once and shows in the Jobs panel, while a copy onto the same disk waits
/// for the first to end. Every tree arrives exact.
#[test]
fn copies_on_other_devices_run_beside_and_copies_on_the_same_one_wait() {
    use convoy::config::Config;
    use std::process::Command;
    common::need_root("mount a tmpfs");
    let t = tempfile::tempdir().unwrap();
    let p = |n: &str| t.path().join(n);
    let (m1, m2) = (p("dev1"), p("dev2"));
    for m in [&m1, &m2] {
        std::fs::create_dir_all(m).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=64m", "tmpfs"])
            .arg(m)
            .status()
            .unwrap();
        assert!(ok.success(), "tmpfs mounts");
    }
    struct Unmount(Vec<std::path::PathBuf>);
    impl Drop for Unmount {
        fn drop(&mut self) {
            for m in &self.0 {
                let _ = Command::new("umount").arg(m).status();
            }
        }
    }
    let _unmount = Unmount(vec![m1.clone(), m2.clone()]);
    for i in 0..6 {
        write(p(&format!("a/{i}.bin")), &data(i, 512 * 1024));
        write(m1.join(format!("b/{i}.bin")), &data(10 + i, 512 * 1024));
        write(p(&format!("c/{i}.bin")), &data(20 + i, 512 * 1024));
    }
    let mut app = setup_app(t.path());
    let mut first = Config::new(p("a"), p("a-copy"));
    first.bwlimit = Some(1 << 20);
    app.start(first);
    let queue = |app: &mut App, src: &Path, dst: &Path| {
        app.update(key(app, KeyCode::Char('n')).unwrap());
        app.setup.source = src.display().to_string();
        app.setup.dest = dst.display().to_string();
        app.update(key(app, KeyCode::F(5)).unwrap());
    };
    queue(&mut app, &m1.join("b"), &m2.join("b-copy"));
    assert_eq!(
        app.beside.len(),
        1,
        "another pair of devices: it starts now"
    );
    queue(&mut app, &p("c"), &p("c-copy"));
    assert_eq!(app.queue.waiting.len(), 1, "the same disk: it waits");
    let s = text(&screen(&app, 120, 30));
    assert!(
        s.contains("▶ b → b-copy") && s.contains("1 c → c-copy"),
        "{s}"
    );
    app.update(key(&app, KeyCode::Char('l')).unwrap());
    app_run::run_to_end(&mut app);
    let order = finished_sources(&app);
    let at = |n: &str| order.iter().position(|o| o == n).unwrap();
    assert!(at("c") > at("a"), "c waited for a: {order:?}");
    assert_eq!(order.len(), 3);
    assert_same_tree(&p("a"), &p("a-copy"));
    assert_same_tree(&m1.join("b"), &m2.join("b-copy"));
    assert_same_tree(&p("c"), &p("c-copy"));
    assert_eq!(app.exit_code(), convoy::exit::ExitCode::Success);
}

/// Each copy of a queue keeps its own failures: after two copies, the first
/// of which failed on one file, the summary's Copies list marks it and its
/// failure is still listed, though the second copy failed nothing.
#[test]
fn every_copy_of_a_queue_keeps_its_failures_for_the_summary() {
    use convoy::config::Config;
    let t = tempfile::tempdir().unwrap();
    let mut app = empty_copying_app(t.path());
    app.config = Some(Config::new("/data/photos", "/backup/photos"));
    let failed = Event::Entry {
        worker: Some(0),
        path: rel("2024", "broken.jpg"),
        kind: EntryKind::File,
        bytes: 10,
        progressed: 0,
        outcome: Outcome::Failed(CopyError::new(
            "/data/photos/2024/broken.jpg",
            Op::Read,
            std::io::Error::from_raw_os_error(5),
        )),
        digest: None,
    };
    app.on_event(&failed, Instant::now());
    app.on_event(&Event::Done { cancelled: false }, Instant::now());
    // The second copy of the queue, which fails nothing.
    app.config = Some(Config::new("/data/music", "/backup/music"));
    app.progress = convoy::progress::Progress::new(Instant::now());
    app.screen = Screen::Copying;
    app.on_event(&Event::Done { cancelled: false }, Instant::now());
    let s = text(&screen(&app, 120, 30));
    assert!(s.contains("Copies (2)"), "{s}");
    assert!(s.contains("Failed (1)") && s.contains("broken.jpg"), "{s}");
    assert_eq!(app.exit_code(), convoy::exit::ExitCode::Partial);
}

#[test]
fn a_copy_started_from_the_command_line_reads_the_form_only_when_it_is_shown() {
    use clap::Parser;
    let t = tempfile::tempdir().unwrap();
    let (missing, dest) = (t.path().join("missing"), t.path().join("out"));
    let args =
        convoy::cli::Args::parse_from(["convoy".as_ref(), missing.as_os_str(), dest.as_os_str()]);
    let mut app = convoy::tui::app_from_args(&args, false).unwrap();
    assert!(
        !app.setup.is_listed() && app.setup.browse_entries.is_empty(),
        "both paths given: the working folder is not read before the copy starts"
    );
    // The start fails (no such source): the form is shown, read, and says why.
    app.start_from_setup();
    assert_eq!(app.screen, Screen::Setup);
    assert!(app.setup.is_listed());
    let cwd = std::env::current_dir().unwrap();
    assert_eq!(app.setup.browse_dir, cwd);
    assert!(
        app.setup.browse_entries.iter().any(|e| e == "src"),
        "{:?}",
        app.setup.browse_entries
    );
    let shown = text(&screen(&app, 100, 30));
    assert!(shown.contains("missing"), "{shown}");

    // Only one path: the form is the first screen, read at once.
    let args = convoy::cli::Args::parse_from(["convoy".as_ref(), t.path().as_os_str()]);
    let app = convoy::tui::app_from_args(&args, false).unwrap();
    assert!(app.setup.is_listed() && app.setup.browse_entries.iter().any(|e| e == "src"));
}

/// The browser picks several sources, files too (Space); the Source field
/// lists them; Start copies each into the destination under its own name.
#[test]
fn the_browser_picks_several_sources_and_the_copy_takes_each_by_name() {
    let t = tempfile::tempdir().unwrap();
    write(t.path().join("photos/a.jpg"), &data(1, 3000));
    write(t.path().join("music/b.flac"), &data(2, 5000));
    write(t.path().join("notes.txt"), b"a note");
    let mut app = setup_app(t.path());
    app.update(Action::Focus(Field::Browser));
    let at = |app: &App, name: &str| {
        app.setup
            .browse_entries
            .iter()
            .position(|e| e == name)
            .unwrap_or_else(|| panic!("{name} in {:?}", app.setup.browse_entries))
    };
    for name in ["photos", "notes.txt", "music"] {
        app.setup.browse_selected = at(&app, name);
        assert_eq!(key(&app, KeyCode::Char(' ')), Some(Action::Pick));
        app.update(Action::Pick);
    }
    let s = text(&screen(&app, 100, 30));
    assert!(s.contains("3 picked: photos, notes.txt, music"), "{s}");
    assert!(s.contains("✓ notes.txt") && s.contains("✓ photos/"), "{s}");
    // Picked twice: let go.
    app.setup.browse_selected = at(&app, "music");
    app.update(Action::Pick);
    assert_eq!(app.setup.picked.len(), 2);
    let dest = t.path().join("backup");
    app.setup.dest = dest.display().to_string();
    app.update(Action::Start);
    app_run::run_to_end(&mut app);
    assert_eq!(app.screen, Screen::Summary, "{:?}", app.setup.error);
    assert_same_tree(&t.path().join("photos"), &dest.join("photos"));
    assert_eq!(fs_read(&dest.join("notes.txt")), b"a note");
    assert!(!dest.join("music").exists(), "let go, not copied");
}

fn fs_read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap()
}

/// The form's Move option moves: the copy arrives and the source is gone.
#[test]
fn the_move_option_of_the_form_removes_the_source_once_copied() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    write(src.join("a/b.txt"), b"moved");
    let mut app = setup_app(t.path());
    app.setup.source = src.display().to_string();
    app.setup.dest = t.path().join("dst").display().to_string();
    app.setup.dest_auto = false;
    app.update(Action::Focus(Field::Move));
    app.update(Action::Pick);
    assert!(app.setup.move_sources, "Space ticks it");
    let s = text(&screen(&app, 100, 30));
    assert!(s.contains("[x] Move: remove sources"), "{s}");
    app.update(Action::Start);
    app_run::run_to_end(&mut app);
    assert_eq!(app.screen, Screen::Summary, "{:?}", app.setup.error);
    assert_eq!(fs_read(&t.path().join("dst/a/b.txt")), b"moved");
    assert!(!src.exists(), "the source is gone");
}

/// Feeds the running mirror's events to `app` until it asks about its
/// deletions.
fn until_deletions_asked(app: &mut App) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while app.dialog != Some(Dialog::Deletions) {
        let events = &app.running.as_ref().expect("a running copy").events;
        let ev = events
            .recv_timeout(Duration::from_secs(5))
            .expect("the mirror's events");
        app.on_event(&ev, Instant::now());
        assert!(Instant::now() < deadline, "no question came");
    }
}

/// A mirror started in the TUI shows what it will delete (count, bytes,
/// the entries) and deletes nothing until a person says yes; "keep all"
/// keeps every one and the summary says why nothing went.
#[test]
fn a_mirror_asks_before_it_deletes_and_keep_all_keeps_everything() {
    use convoy::config::{Config, ConflictPolicy, Mirror};
    for yes in [false, true] {
        let t = tempfile::tempdir().unwrap();
        let (src, dst) = (t.path().join("src"), t.path().join("dst"));
        write(src.join("a.txt"), b"one");
        write(dst.join("a.txt"), b"older");
        write(dst.join("stale.txt"), b"gone from the source");
        write(dst.join("old/deep.bin"), &data(3, 2048));
        let mut app = setup_app(t.path());
        let mut cfg = Config::new(&src, &dst);
        cfg.mirror = Some(Mirror::default());
        cfg.policy = ConflictPolicy::Overwrite;
        app.start(cfg);
        until_deletions_asked(&mut app);
        let s = text(&screen(&app, 100, 30));
        assert!(s.contains("Mirror: delete?"), "{s}");
        assert!(
            s.contains("3 entries (2.0 KiB) in the destination are not in the source"),
            "{s}"
        );
        assert!(s.contains("  old/ (folder, 2 entries, 2.0 KiB)"), "{s}");
        assert!(s.contains("  stale.txt (20 B)"), "{s}");
        assert!(s.contains("They are deleted for good."), "{s}");
        assert!(
            s.contains("Delete them (y)") && s.contains("Keep all (n)"),
            "{s}"
        );
        // Help over it, then back: the question is still there.
        app.update(Action::Help);
        app.update(Action::CloseDialog);
        app.tick(Instant::now());
        assert_eq!(app.dialog, Some(Dialog::Deletions));
        std::thread::sleep(Duration::from_millis(200));
        assert!(dst.join("stale.txt").exists(), "nothing goes while it asks");
        let answer = if yes { 'y' } else { 'n' };
        app.update(key(&app, KeyCode::Char(answer)).unwrap());
        app_run::run_to_end(&mut app);
        assert_eq!(std::fs::read(dst.join("a.txt")).unwrap(), b"one");
        assert_eq!(dst.join("stale.txt").exists(), !yes);
        assert_eq!(dst.join("old/deep.bin").exists(), !yes);
        let s = text(&screen(&app, 100, 30));
        if yes {
            assert!(s.contains("Deleted: 3 entries (2.0 KiB)"), "{s}");
            assert_eq!(app.progress.exit_code(), convoy::ExitCode::Success);
        } else {
            assert!(
                app.progress
                    .problems
                    .iter()
                    .any(|p| p.contains("nothing deleted, because you chose to keep them")),
                "{:?}",
                app.progress.problems
            );
            assert_eq!(app.progress.exit_code(), convoy::ExitCode::Partial);
        }
    }
}

/// The form's *Compare only*: nothing is written, the result screen says
/// how the destination differs (every difference listed), the session's exit
/// code is compare's, and **m** mirrors the pair (its deletions asked first).
#[test]
fn compare_only_lists_the_differences_and_mirror_makes_them_the_same() {
    let t = tempfile::tempdir().unwrap();
    let (src, dst) = (t.path().join("src"), t.path().join("dst"));
    write(src.join("a.txt"), b"one");
    write(src.join("sub/b.txt"), b"two");
    write(dst.join("a.txt"), b"ONE!");
    write(dst.join("extra.txt"), b"only here");
    // Times set, so the differences do not depend on the clock's tick.
    common::set_mtime(src.join("a.txt"), 1_700_000_000, 0);
    common::set_mtime(dst.join("a.txt"), 1_700_000_000, 0);
    common::set_mtime(&src, 1_700_000_000, 0);
    common::set_mtime(&dst, 1_700_000_100, 0);
    let mut app = setup_app(t.path());
    app.setup.source = src.display().to_string();
    app.setup.dest = dst.display().to_string();
    app.setup.dest_auto = false;
    app.setup.set_focus(Field::Compare);
    app.update(Action::Enter);
    assert!(app.setup.compare, "Enter ticks it");
    let s = text(&screen(&app, 100, 30));
    assert!(s.contains("[x] Compare only: copy nothing"), "{s}");
    app.update(Action::Start);
    assert_eq!(app.screen, Screen::Compared);
    let deadline = Instant::now() + Duration::from_secs(30);
    while app.comparison.is_none() {
        app.tick(Instant::now());
        std::thread::sleep(Duration::from_millis(10));
        assert!(Instant::now() < deadline, "the comparison did not end");
    }
    let s = text(&screen(&app, 100, 30));
    assert!(s.contains("Differ: 4 differences in 4 entries"), "{s}");
    for what in ["a.txt", "extra.txt", "sub"] {
        assert!(s.contains(what), "{what} listed:\n{s}");
    }
    assert!(s.contains("Mirror (m)"), "{s}");
    assert_eq!(app.exit_code(), convoy::ExitCode::Partial);
    assert_eq!(
        std::fs::read(dst.join("a.txt")).unwrap(),
        b"ONE!",
        "nothing written"
    );
    // Mirror from here: the deletion is asked first, then made.
    app.update(key(&app, KeyCode::Char('m')).unwrap());
    assert_eq!(app.screen, Screen::Copying);
    until_deletions_asked(&mut app);
    app.update(key(&app, KeyCode::Char('y')).unwrap());
    app_run::run_to_end(&mut app);
    assert_eq!(app.progress.exit_code(), convoy::ExitCode::Success);
    assert_same_tree(&src, &dst);
}
