//! The engine as a library: the control handle any face can use while a copy
//! runs (pause, resume, live worker count, cancel), checked through its events.

mod common;

use std::time::{Duration, Instant};

use common::*;
use convoy::config::Config;
use convoy::engine::{self, Running};
use convoy::event::Event;
use convoy::progress::Progress;

fn tree(files: usize) -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    for i in 0..files {
        write(
            t.path().join(format!("src/{}/{i}.txt", i % 20)),
            &data(i as u64, 2000),
        );
    }
    t
}

/// Folds events until none has arrived for `quiet` (or the run is done).
fn drain_until_quiet(r: &Running, p: &mut Progress, quiet: Duration) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        match r.events.recv_timeout(quiet) {
            Ok(ev) => p.apply(&ev, Instant::now()),
            Err(_) => return,
        }
    }
    panic!("the engine never went quiet");
}

fn run_to_end(r: &Running, p: &mut Progress) {
    while !p.done {
        let ev = r
            .events
            .recv_timeout(Duration::from_secs(30))
            .expect("engine finishes");
        p.apply(&ev, Instant::now());
    }
}

#[test]
fn pause_stops_the_work_and_resume_finishes_it() {
    let t = tree(3000);
    let mut cfg = Config::new(t.path().join("src"), t.path().join("dst"));
    cfg.jobs = 2;
    let r = engine::start(cfg).unwrap();
    r.control.set_paused(true);
    let mut p = Progress::new(Instant::now());
    drain_until_quiet(&r, &mut p, Duration::from_millis(300));
    let frozen = p.files_done;
    assert!(frozen < 3000, "paused before the end ({frozen} done)");
    std::thread::sleep(Duration::from_millis(300));
    while let Ok(ev) = r.events.try_recv() {
        assert!(
            !matches!(ev, Event::Entry { .. }),
            "no entry finishes while paused: {ev:?}"
        );
        p.apply(&ev, Instant::now());
    }
    r.control.set_paused(false);
    run_to_end(&r, &mut p);
    assert_eq!(p.files_copied, 3000);
    assert!(!p.cancelled);
    r.join();
    assert_same_tree(&t.path().join("src"), &t.path().join("dst"));
}

#[test]
fn worker_count_changes_live_and_only_that_many_lanes_work() {
    let t = tree(2000);
    let mut cfg = Config::new(t.path().join("src"), t.path().join("dst"));
    cfg.jobs = 4;
    let r = engine::start(cfg).unwrap();
    assert_eq!(r.control.workers(), 4);
    assert_eq!(r.control.set_workers(1), 1);
    let mut p = Progress::new(Instant::now());
    // One worker at a time takes a job, so once the batches already in flight
    // are done, entries come lane by lane in whole batches (one folder's 100
    // files are two batches): the lane changes at most once per batch. Four
    // workers interleave and change lanes at nearly every entry.
    let (mut seen, mut switches, mut last) = (0, 0, None);
    while !p.done {
        let ev = r
            .events
            .recv_timeout(Duration::from_secs(30))
            .expect("engine finishes");
        if let Event::Entry {
            worker: Some(w), ..
        } = &ev
        {
            seen += 1;
            if seen > 400 && last.is_some_and(|l| l != *w) {
                switches += 1;
            }
            last = Some(*w);
        }
        p.apply(&ev, Instant::now());
    }
    r.join();
    assert_eq!(p.files_copied, 2000);
    assert!(
        switches <= 40,
        "entries interleaved across lanes {switches} times"
    );
}

#[test]
fn cancel_ends_the_run_and_leaves_no_temporaries() {
    let t = tree(3000);
    let dst = t.path().join("dst");
    let mut cfg = Config::new(t.path().join("src"), &dst);
    cfg.jobs = 2;
    let r = engine::start(cfg).unwrap();
    r.control.set_paused(true);
    r.control.cancel();
    let mut p = Progress::new(Instant::now());
    run_to_end(&r, &mut p);
    r.join();
    assert!(p.cancelled);
    assert!(p.files_copied < 3000);
    assert!(leftover_temps(&dst).is_empty());
    assert_eq!(p.exit_code(), convoy::exit::ExitCode::Interrupted);
}

#[test]
fn ask_parks_conflicts_while_the_rest_is_copied_and_answers_settle_them() {
    use convoy::config::ConflictPolicy;
    use convoy::engine::{Answer, Choice};
    let t = tree(500);
    let (src, dst) = (t.path().join("src"), t.path().join("dst"));
    for name in ["a.txt", "b.txt", "c.txt"] {
        write(src.join("0").join(name), b"source version");
        write(dst.join("0").join(name), b"dest version");
    }
    let mut cfg = Config::new(&src, &dst);
    cfg.policy = ConflictPolicy::Ask;
    let r = engine::start(cfg).unwrap();
    let mut p = Progress::new(Instant::now());
    let mut conflicts = Vec::new();
    // Everything but the three conflicts gets copied without anyone answering.
    while p.files_done < 500 {
        let ev = r
            .events
            .recv_timeout(Duration::from_secs(30))
            .expect("copy goes on");
        if let Event::Conflict(c) = &ev {
            conflicts.push(c.clone());
        }
        p.apply(&ev, Instant::now());
    }
    drain_until_quiet(&r, &mut p, Duration::from_millis(200));
    assert!(!p.done, "open conflicts keep the run open");
    assert_eq!(conflicts.len(), 3);
    assert_eq!(conflicts[0].dest_size, 12);
    let by_name = |n: &str| conflicts.iter().find(|c| c.path.name == n).unwrap().id;
    r.control.answer(Answer {
        id: by_name("a.txt"),
        choice: Choice::KeepBoth,
        for_all: false,
    });
    r.control.answer(Answer {
        id: by_name("b.txt"),
        choice: Choice::Overwrite,
        for_all: true,
    });
    run_to_end(&r, &mut p);
    r.join();
    let read = |n: &str| std::fs::read(dst.join("0").join(n)).unwrap();
    assert_eq!(read("a.txt"), b"dest version");
    assert_eq!(read("a (1).txt"), b"source version", "kept both");
    assert_eq!(read("b.txt"), b"source version");
    assert_eq!(
        read("c.txt"),
        b"source version",
        "the for-all answer settled the rest"
    );
    assert_eq!(p.exit_code(), convoy::exit::ExitCode::Success);
}
