//! Resuming a big file: a run killed (or cancelled) part-way through a big
//! file leaves a partial under a temporary name, and the next run of the same
//! copy continues it instead of starting over (measured: the bytes the second
//! run moves, traced), ends with the very same file, and starts over when the
//! source changed. The copy is slowed with strace's delay injection so the
//! kill lands where the test wants, not where the machine's speed puts it.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;

const BIG: usize = 160 * 1024 * 1024;

/// convoy under strace, each step of 8 MiB held 20 ms: written past the page
/// cache (`pwrite64`) on a local disk, by the kernel (`copy_file_range`)
/// elsewhere.
fn slowed(src: &Path, dst: &Path, extra: &[&str]) -> Child {
    need("strace", "strace");
    Command::new("strace")
        .args([
            "-f",
            "-qq",
            "-o",
            "/dev/null",
            "-e",
            "trace=copy_file_range,pwrite64",
        ])
        .args(["-e", "inject=copy_file_range:delay_exit=20000"])
        .args(["-e", "inject=pwrite64:delay_exit=20000"])
        .arg(BIN)
        .arg("--batch")
        .args(extra)
        .arg(src)
        .arg(dst)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// The copy's own process under `strace` (the child that runs convoy: strace
/// forks short-lived children of its own to test the kernel first).
fn traced_pid(strace: &Child) -> i32 {
    let children = format!("/proc/{0}/task/{0}/children", strace.id());
    for _ in 0..1000 {
        let found = fs::read_to_string(&children).unwrap_or_default();
        let convoy = found.split_whitespace().find(|pid| {
            fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "convoy")
        });
        if let Some(pid) = convoy {
            return pid.parse().unwrap();
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    panic!("convoy did not start under strace");
}

fn partials(dir: &Path) -> Vec<PathBuf> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(".convoy-resume-")
        })
        .collect()
}

/// Runs the slowed copy and stops it with `signal` once the partial holds
/// at least `fraction` of the big file; returns how much it held.
fn stop_at(src: &Path, dst: &Path, fraction: f64, signal: rustix::process::Signal) -> u64 {
    stop_with(src, dst, fraction, signal, &[]).0
}

/// [`stop_at`] with more options; also returns what the copy printed.
fn stop_with(
    src: &Path,
    dst: &Path,
    fraction: f64,
    signal: rustix::process::Signal,
    extra: &[&str],
) -> (u64, String) {
    let mut strace = slowed(src, dst, extra);
    let pid = rustix::process::Pid::from_raw(traced_pid(&strace)).unwrap();
    let want = (BIG as f64 * fraction) as u64;
    let held = loop {
        let len = partials(dst)
            .first()
            .and_then(|p| fs::metadata(p).ok())
            .map_or(0, |m| m.len());
        if len >= want {
            break len;
        }
        assert!(
            strace.try_wait().unwrap().is_none(),
            "the copy ended before it was stopped"
        );
        std::thread::sleep(Duration::from_millis(2));
    };
    rustix::process::kill_process(pid, signal).unwrap();
    let out = strace.wait_with_output().unwrap();
    (held, String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A second run, traced: its exit, its JSON lines, and the bytes it wrote
/// (`copy_file_range` and `pwrite64`: the small file goes through `write`).
fn rerun(src: &Path, dst: &Path, extra: &[&str], log: &Path) -> (i32, Vec<serde_json::Value>, u64) {
    need("strace", "strace");
    let o = Command::new("strace")
        .args(["-f", "-qq", "-e", "trace=copy_file_range,pwrite64", "-o"])
        .arg(log)
        .arg(BIN)
        .args(["--batch", "--json"])
        .args(extra)
        .arg(src)
        .arg(dst)
        .output()
        .unwrap();
    let lines = String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let moved = fs::read_to_string(log)
        .unwrap()
        .lines()
        .filter_map(|l| l.rsplit("= ").next()?.trim().parse::<u64>().ok())
        .sum();
    (o.status.code().unwrap_or(-1), lines, moved)
}

fn tree(src: &Path, seed: u64) {
    write(src.join("big.iso"), &data(seed, BIG));
    write(src.join("small.txt"), b"small");
}

#[test]
fn a_killed_copy_of_a_big_file_continues_where_it_stopped() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    tree(&src, 1);
    for fraction in [0.25, 0.5, 0.8] {
        let dst = t.path().join(format!("dst-{fraction}"));
        fs::create_dir_all(&dst).unwrap();
        let held = stop_at(&src, &dst, fraction, rustix::process::Signal::KILL);
        assert!(
            !dst.join("big.iso").exists(),
            "a partial never shows under its final name"
        );
        assert_eq!(partials(&dst).len(), 1, "the partial is kept");
        let (code, lines, moved) = rerun(&src, &dst, &[], &t.path().join("trace"));
        assert_eq!(code, 0, "{lines:?}");
        let resumed = lines
            .iter()
            .find(|l| l["reason"] == "resumed")
            .unwrap_or_else(|| panic!("no resumed notice at {fraction}: {lines:?}"));
        let at = resumed["at_bytes"].as_u64().unwrap();
        assert!(
            at + (1 << 20) >= held.min(BIG as u64) && at <= held,
            "kept {at} of the {held} written"
        );
        assert!(
            moved <= BIG as u64 - at + (8 << 20),
            "after a kill at {fraction}, the rerun moved {moved} bytes of {BIG}"
        );
        assert_eq!(
            fs::read(dst.join("big.iso")).unwrap(),
            fs::read(src.join("big.iso")).unwrap()
        );
        assert!(partials(&dst).is_empty());
        assert!(leftover_temps(&dst).is_empty());
    }
}

#[test]
fn a_cancelled_copy_keeps_its_partial_and_a_verified_rerun_checks_all_of_it() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    tree(&src, 2);
    let dst = t.path().join("dst");
    fs::create_dir_all(&dst).unwrap();
    stop_at(&src, &dst, 0.5, rustix::process::Signal::INT);
    assert!(!dst.join("big.iso").exists());
    assert_eq!(partials(&dst).len(), 1, "a cancel keeps the partial");
    let (code, lines, _) = rerun(&src, &dst, &["--verify"], &t.path().join("trace"));
    assert_eq!(code, 0, "{lines:?}");
    assert!(lines.iter().any(|l| l["reason"] == "resumed"), "{lines:?}");
    let entry = lines.iter().find(|l| l["path"] == "big.iso").unwrap();
    need("b3sum", "b3sum");
    let b3 = Command::new("b3sum")
        .arg("--no-names")
        .arg(src.join("big.iso"))
        .output();
    match b3 {
        Ok(o) if o.status.success() => {
            assert_eq!(entry["blake3"], String::from_utf8(o.stdout).unwrap().trim())
        }
        _ => panic!("b3sum runs"),
    }
    assert_eq!(
        fs::read(dst.join("big.iso")).unwrap(),
        fs::read(src.join("big.iso")).unwrap()
    );
    assert!(leftover_temps(&dst).is_empty());
}

#[test]
fn a_source_that_changed_starts_over_and_its_old_partial_goes() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    tree(&src, 3);
    let dst = t.path().join("dst");
    fs::create_dir_all(&dst).unwrap();
    stop_at(&src, &dst, 0.5, rustix::process::Signal::KILL);
    let old = partials(&dst);
    assert_eq!(old.len(), 1);
    // Same size, other bytes, another time: a different file.
    write(src.join("big.iso"), &data(4, BIG));
    set_mtime(src.join("big.iso"), 1_700_000_000, 0);
    let (code, lines, moved) = rerun(&src, &dst, &[], &t.path().join("trace"));
    assert_eq!(code, 0, "{lines:?}");
    assert!(
        !lines.iter().any(|l| l["reason"] == "resumed"),
        "nothing of another source is kept: {lines:?}"
    );
    assert!(moved >= BIG as u64, "copied whole: {moved}");
    assert_eq!(
        fs::read(dst.join("big.iso")).unwrap(),
        fs::read(src.join("big.iso")).unwrap()
    );
    assert!(!old[0].exists(), "the stale partial is removed");
    assert!(leftover_temps(&dst).is_empty());
}

#[test]
fn the_cancelled_summary_counts_what_was_not_copied_and_names_the_partial_it_keeps() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    write(src.join("a.iso"), &data(3, BIG));
    write(src.join("b.iso"), &data(4, BIG));
    let dst = t.path().join("dst");
    fs::create_dir_all(&dst).unwrap();
    // One worker: the first file is in flight, the second not begun.
    let (_, said) = stop_with(&src, &dst, 0.25, rustix::process::Signal::INT, &["-j", "1"]);
    assert!(
        said.contains("Cancelled; 2 files not copied"),
        "both files are counted: {said}"
    );
    let kept = partials(&dst);
    assert_eq!(kept.len(), 1, "{kept:?}");
    let len = fs::metadata(&kept[0]).unwrap().len();
    assert!(said.contains("Kept for resuming"), "{said}");
    let line = format!("kept as {} for the next run to continue", kept[0].display());
    assert!(said.contains(&line), "the partial is named: {said}");
    assert!(
        said.contains(&format!("to remove it: rm -- {}", kept[0].display())),
        "{said}"
    );
    // In JSON: the same, with its size, in the summary.
    let (_, said) = stop_with(
        &src,
        &dst,
        0.5,
        rustix::process::Signal::INT,
        &["-j", "1", "--json"],
    );
    let summary: serde_json::Value = said
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|v| v["type"] == "summary")
        .unwrap_or_else(|| panic!("a summary: {said}"));
    assert_eq!(summary["cancelled"], true, "{summary}");
    let kept_json = summary["kept_for_resume"].as_array().unwrap();
    assert_eq!(kept_json.len(), 1, "{summary}");
    let partial = PathBuf::from(kept_json[0]["partial"].as_str().unwrap());
    assert_eq!(partial, kept[0], "the same partial, continued: {summary}");
    let written = kept_json[0]["written_bytes"].as_u64().unwrap();
    assert_eq!(written, fs::metadata(&partial).unwrap().len(), "{summary}");
    assert!(
        written > len,
        "the second run continued the first's partial"
    );
    assert_eq!(kept_json[0]["of_bytes"], BIG as u64, "{summary}");
    assert_eq!(
        PathBuf::from(kept_json[0]["path"].as_str().unwrap()),
        dst.join("a.iso")
    );
}
