//! The command line as a script sees it: refusals with exit code 2 that write
//! nothing, the default destination name, JSON events, unreadable entries,
//! Ctrl-C and a full disk.

mod common;

use std::ffi::OsStr;
use std::fs;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::{MetadataExt, symlink};
use std::path::Path;
use std::process::{Command, Stdio};

use common::*;

#[test]
fn missing_source_is_refused_with_exit_2() {
    let t = tempfile::tempdir().unwrap();
    let (src, dst) = (t.path().join("nope"), t.path().join("dst"));
    let o = batch(&[src.as_os_str(), dst.as_os_str()]);
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains("nope: source does not exist"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        stderr(&o).lines().count(),
        1,
        "one clear line: {}",
        stderr(&o)
    );
    assert!(!dst.exists(), "nothing written");
}

/// A file alone has no "(copy)" folder to go to: it needs a DEST.
#[test]
fn a_file_as_the_only_path_is_refused() {
    let t = tempfile::tempdir().unwrap();
    write(t.path().join("file"), b"x");
    let o = batch(&[t.path().join("file").as_os_str()]);
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains("source is not a folder"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn dest_inside_source_is_refused() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    write(src.join("f"), b"x");
    for dest in [src.join("inner"), src.join("a/../b"), src.clone()] {
        let o = batch(&[src.as_os_str(), dest.as_os_str()]);
        assert_eq!(code(&o), 2, "{dest:?}");
        assert!(stderr(&o).contains("destination"), "{}", stderr(&o));
    }
    symlink(&src, t.path().join("alias")).unwrap();
    let o = batch(&[src.as_os_str(), t.path().join("alias/inner").as_os_str()]);
    assert_eq!(code(&o), 2, "through a symlink too");
    assert_eq!(
        entries(&src),
        [Path::new("f")],
        "nothing was created in the source"
    );
}

#[test]
fn a_file_as_destination_is_refused() {
    let t = tempfile::tempdir().unwrap();
    write(t.path().join("src/f"), b"x");
    write(t.path().join("dst"), b"a file");
    let o = batch(&[
        t.path().join("src").as_os_str(),
        t.path().join("dst").as_os_str(),
    ]);
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains("destination exists and is not a folder"),
        "{}",
        stderr(&o)
    );
    assert_eq!(fs::read(t.path().join("dst")).unwrap(), b"a file");
}

#[test]
fn bad_usage_exits_2() {
    assert_eq!(
        code(&convoy().args(["--batch"]).output().unwrap()),
        2,
        "no source"
    );
    assert_eq!(
        code(
            &convoy()
                .args(["--batch", "--jobs", "0", "a"])
                .output()
                .unwrap()
        ),
        2
    );
    assert_eq!(
        code(
            &convoy()
                .args(["--batch", "--on-conflict", "maybe", "a"])
                .output()
                .unwrap()
        ),
        2
    );
    let t = tempfile::tempdir().unwrap();
    write(t.path().join("src/f"), b"x");
    let o = batch(&[
        t.path().join("src").as_os_str(),
        t.path().join("d").as_os_str(),
        os("--exclude=["),
    ]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("--exclude"), "{}", stderr(&o));
    assert!(!t.path().join("d").exists());
}

#[test]
fn help_has_examples_and_version_prints() {
    let o = convoy().arg("--help").output().unwrap();
    assert_eq!(code(&o), 0);
    assert!(stdout(&o).contains("Examples:") && stdout(&o).contains("--on-conflict"));
    let o = convoy().arg("--version").output().unwrap();
    assert!(stdout(&o).starts_with("convoy "), "{}", stdout(&o));
}

#[test]
fn default_dest_is_a_numbered_copy_beside_the_source() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("photos");
    write(src.join("a.jpg"), b"jpg");
    assert_eq!(code(&batch(&[src.as_os_str()])), 0);
    assert_eq!(
        fs::read(t.path().join("photos (copy)/a.jpg")).unwrap(),
        b"jpg"
    );
    assert_eq!(code(&batch(&[src.as_os_str()])), 0);
    assert_eq!(
        fs::read(t.path().join("photos (copy 2)/a.jpg")).unwrap(),
        b"jpg"
    );
}

#[test]
fn json_events_parse_and_their_counts_match_the_tree() {
    let t = tempfile::tempdir().unwrap();
    let (src, dst) = (t.path().join("src"), t.path().join("dst"));
    for i in 0..40 {
        write(
            src.join(format!("d{}/f{i}.bin", i % 4)),
            &data(i, (i as usize) * 100),
        );
    }
    fs::create_dir_all(src.join("empty")).unwrap();
    symlink("d0/f0.bin", src.join("link")).unwrap();
    write(src.join(name(b"bad-\xff")), b"x");
    let o = batch(&[src.as_os_str(), dst.as_os_str(), os("--json")]);
    assert_eq!(code(&o), 0, "stderr: {}", stderr(&o));
    let (entries_json, summary) = json_lines(&o);
    let count = |kind: &str| {
        entries_json
            .iter()
            .filter(|e| e["kind"] == kind && e["outcome"] == "copied")
            .count()
    };
    assert_eq!(count("file"), 41);
    assert_eq!(count("dir"), 5);
    assert_eq!(count("symlink"), 1);
    assert_eq!(summary["files_copied"], 41);
    assert_eq!(summary["dirs"], 5);
    assert_eq!(summary["symlinks"], 1);
    assert_eq!(summary["failed"], 0);
    assert_eq!(summary["exit_code"], 0);
    let bytes: u64 = (0..40).map(|i| i * 100).sum::<u64>() + 1;
    assert_eq!(summary["bytes_copied"], bytes);
    let odd = entries_json
        .iter()
        .find(|e| e["path_bytes"].is_array())
        .expect("non-UTF-8 path has bytes");
    assert_eq!(odd["path_bytes"], serde_json::json!(b"bad-\xff".to_vec()));
}

#[test]
fn quiet_prints_no_summary() {
    let t = tempfile::tempdir().unwrap();
    write(t.path().join("src/f"), b"x");
    let o = batch(&[
        t.path().join("src").as_os_str(),
        t.path().join("d").as_os_str(),
        os("-q"),
    ]);
    assert_eq!(code(&o), 0);
    assert!(o.stdout.is_empty() && o.stderr.is_empty());
}

#[test]
fn unreadable_entries_are_reported_and_the_rest_is_copied() {
    need_root("switch to an unprivileged user");
    let t = shared_tempdir();
    let (src, dst) = (t.path().join("src"), t.path().join("dst"));
    write(src.join("ok.txt"), b"readable");
    write(src.join("secret.txt"), b"hidden");
    chmod(src.join("secret.txt"), 0o000);
    write(src.join("closed/inside.txt"), b"hidden too");
    chmod(src.join("closed"), 0o000);
    write(src.join("sub/fine.txt"), b"fine");
    let o = as_nobody(&[src.as_os_str(), dst.as_os_str()]);
    assert_eq!(code(&o), 1, "stdout: {} stderr: {}", stdout(&o), stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("secret.txt: cannot open for reading: Permission denied"),
        "{err}"
    );
    assert!(
        err.contains("closed: cannot read folder: Permission denied"),
        "{err}"
    );
    assert_eq!(fs::read(dst.join("ok.txt")).unwrap(), b"readable");
    assert_eq!(fs::read(dst.join("sub/fine.txt")).unwrap(), b"fine");
    assert!(
        !dst.join("secret.txt").exists(),
        "no partial file under the final name"
    );
    assert!(leftover_temps(&dst).is_empty());
    assert!(stdout(&o).contains("Failed: 2"), "{}", stdout(&o));
}

#[test]
fn ctrl_c_stops_cleanly_with_exit_130() {
    let t = tempfile::tempdir().unwrap();
    let (src, dst) = (t.path().join("src"), t.path().join("dst"));
    // Enough entries that the copy is still running when the signal arrives.
    for d in 0..100 {
        for f in 0..400 {
            write(src.join(format!("{d}/{f}")), b"");
        }
    }
    write(src.join("zz-big.bin"), &data(9, 8 * 1024 * 1024));
    let mut child = convoy()
        .args([
            OsStr::new("--batch"),
            OsStr::new("--json"),
            OsStr::new("-j1"),
        ])
        .args([src.as_os_str(), dst.as_os_str()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    for _ in 0..100 {
        lines.next().expect("events keep coming").unwrap();
    }
    rustix::process::kill_process(
        rustix::process::Pid::from_child(&child),
        rustix::process::Signal::INT,
    )
    .unwrap();
    let rest: Vec<String> = lines.map(Result::unwrap).collect();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    let summary: serde_json::Value = serde_json::from_str(rest.last().expect("a summary")).unwrap();
    assert_eq!(summary["cancelled"], true, "{summary}");
    let copied = summary["files_copied"].as_u64().unwrap();
    assert!(copied < 40_001, "stopped before the end: {copied}");
    assert!(leftover_temps(&dst).is_empty(), "temporaries removed");
    for rel in entries(&dst) {
        let (s, d) = (src.join(&rel), dst.join(&rel));
        if d.is_file() {
            assert_eq!(
                fs::read(&s).unwrap(),
                fs::read(&d).unwrap(),
                "{rel:?} is complete"
            );
        }
    }
}

#[test]
fn a_full_disk_stops_the_run_and_keeps_completed_files_whole() {
    need_root("mount a tiny tmpfs");
    let t = tempfile::tempdir().unwrap();
    let (src, mnt) = (t.path().join("src"), t.path().join("mnt"));
    fs::create_dir(&mnt).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=2m", "tmpfs"])
        .arg(&mnt)
        .status()
        .is_ok_and(|s| s.success());
    assert!(mounted, "a tmpfs mounts at {}", mnt.display());
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(self.0).status();
        }
    }
    let _guard = Unmount(&mnt);
    // Two in the destination's root (copied first), ten in a folder the copy
    // creates and fills under a temporary name.
    for i in 0..12 {
        let dir = if i < 2 { "" } else { "sub/" };
        write(src.join(format!("{dir}f{i:02}.bin")), &data(i, 300 * 1024));
    }
    let dst = mnt.join("dst");
    let o = batch(&[src.as_os_str(), dst.as_os_str(), os("-j1")]);
    assert_eq!(code(&o), 1, "stdout: {} stderr: {}", stdout(&o), stderr(&o));
    assert!(
        stderr(&o).contains("No space left on device"),
        "{}",
        stderr(&o)
    );
    assert!(stdout(&o).contains("Stopped"), "{}", stdout(&o));
    assert!(
        leftover_temps(&dst).is_empty(),
        "the partial file was removed"
    );
    let done: Vec<_> = entries(&dst)
        .into_iter()
        .filter(|rel| dst.join(rel).is_file())
        .collect();
    assert!(!done.is_empty() && done.len() < 12, "{done:?}");
    assert!(
        done.iter().any(|rel| rel.starts_with("sub")),
        "the files finished in the new folder are in place: {done:?}"
    );
    for rel in done {
        assert_eq!(
            fs::read(src.join(&rel)).unwrap(),
            fs::read(dst.join(&rel)).unwrap(),
            "{rel:?} complete"
        );
    }
}

#[test]
fn planted_dest_symlink_is_not_followed() {
    let t = tempfile::tempdir().unwrap();
    let (src, dst, outside) = (
        t.path().join("src"),
        t.path().join("dst"),
        t.path().join("outside"),
    );
    write(src.join("sub/file.txt"), b"from source");
    write(src.join("top.txt"), b"from source");
    write(outside.join("file.txt"), b"outside, untouched");
    write(outside.join("target.txt"), b"outside target, untouched");
    fs::create_dir(&dst).unwrap();
    symlink(&outside, dst.join("sub")).unwrap();
    symlink(outside.join("target.txt"), dst.join("top.txt")).unwrap();
    for policy in ["skip", "overwrite"] {
        let o = batch(&[
            src.as_os_str(),
            dst.as_os_str(),
            os("--on-conflict"),
            os(policy),
        ]);
        assert_eq!(
            fs::read(outside.join("file.txt")).unwrap(),
            b"outside, untouched",
            "{policy}"
        );
        assert_eq!(
            fs::read(outside.join("target.txt")).unwrap(),
            b"outside target, untouched",
            "{policy}"
        );
        assert_eq!(entries(&outside).len(), 2, "{policy}: nothing new outside");
        if policy == "skip" {
            assert_eq!(code(&o), 1, "the planted links are conflicts");
        } else {
            assert_eq!(code(&o), 0, "stderr: {}", stderr(&o));
            assert!(
                fs::symlink_metadata(dst.join("sub")).unwrap().is_dir(),
                "link replaced by a folder"
            );
            assert_eq!(fs::read(dst.join("top.txt")).unwrap(), b"from source");
        }
    }
}

#[test]
fn progress_appears_on_stderr_after_a_second_as_plain_lines_when_not_a_terminal() {
    let t = tempfile::tempdir().unwrap();
    let (src, dst) = (t.path().join("src"), t.path().join("dst"));
    for d in 0..50 {
        for f in 0..400 {
            write(src.join(format!("{d}/{f}")), b"x");
        }
    }
    let child = convoy()
        .args([
            OsStr::new("--batch"),
            OsStr::new("-j1"),
            src.as_os_str(),
            dst.as_os_str(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Stopped as soon as it writes (its clock is running by then) and resumed
    // after 1.5 s: the run is then older than the quiet first second but still
    // has most of its 20,000 files to copy.
    let pid = rustix::process::Pid::from_child(&child);
    // (Its own temporaries come first: the probe of what the destination
    // keeps runs before the reporter's clock starts.)
    let copied = |d: fs::ReadDir| {
        d.flatten()
            .any(|e| !e.file_name().to_string_lossy().starts_with(".convoy-"))
    };
    while !fs::read_dir(&dst).is_ok_and(copied) {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    rustix::process::kill_process(pid, rustix::process::Signal::STOP).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    rustix::process::kill_process(pid, rustix::process::Signal::CONT).unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(code(&o), 0, "stderr: {}", stderr(&o));
    let err = stderr(&o);
    let line = err
        .lines()
        .find(|l| l.contains(" files "))
        .unwrap_or_else(|| panic!("no progress line: {err:?}"));
    // "done/total files  bytes/total  pct  rate  ETA", with "+" while still scanning.
    let counts = line.split(" files").next().unwrap();
    let (done, total) = counts.split_once('/').expect("done/total");
    assert!(done.trim().parse::<u64>().is_ok(), "{line}");
    assert!(
        total.trim_end_matches('+').parse::<u64>().unwrap() <= 20_000,
        "{line}"
    );
    assert!(line.contains("B/s"), "{line}");
    assert!(
        !err.contains('\r'),
        "no in-place rewriting when stderr is not a terminal"
    );
    assert!(stdout(&o).contains("Copied 20000 files"), "{}", stdout(&o));
}

#[test]
fn a_destination_that_cannot_be_written_is_refused_before_anything_happens() {
    need_root("switch to an unprivileged user");
    let t = shared_tempdir();
    let src = t.path().join("src");
    write(src.join("f"), b"x");
    chmod(&src, 0o755);
    chmod(src.join("f"), 0o644);
    let locked = t.path().join("locked");
    fs::create_dir(&locked).unwrap();
    chmod(&locked, 0o755);
    let o = as_nobody(&[src.as_os_str(), locked.join("dst").as_os_str()]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("locked: destination is not writable: Permission denied"),
        "{}",
        stderr(&o)
    );
    assert!(!locked.join("dst").exists());
}

#[test]
fn exclude_from_reads_one_glob_a_line_and_adds_them_to_exclude() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    for f in [
        "keep.txt",
        "a.tmp",
        "build/x.o",
        "with space.log",
        "old.bak",
        "d/#1.txt",
    ] {
        write(src.join(f), b"x");
    }
    let list = t.path().join("excludes");
    std::fs::write(
        &list,
        "# build output\n\n*.tmp\nbuild\nwith space.log\r\n  \n",
    )
    .unwrap();
    let dst = t.path().join("dst");
    let o = batch(&[
        src.as_os_str(),
        dst.as_os_str(),
        os("--exclude-from"),
        list.as_os_str(),
        os("--exclude"),
        os("*.bak"),
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let copied = entries(&dst);
    assert_eq!(
        copied,
        ["d", "d/#1.txt", "keep.txt"].map(std::path::PathBuf::from),
        "a '#' starts a comment only at the start of a line"
    );

    // A file that cannot be read, or a line that is not a glob, is bad input:
    // said with the file (and line), nothing written.
    let missing = t.path().join("no-such-list");
    let o = batch(&[
        src.as_os_str(),
        t.path().join("d2").as_os_str(),
        os("--exclude-from"),
        missing.as_os_str(),
    ]);
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains(&format!("{}: cannot read exclude file", missing.display())),
        "{}",
        stderr(&o)
    );
    std::fs::write(&list, "*.tmp\n[\n").unwrap();
    let o = batch(&[
        src.as_os_str(),
        t.path().join("d3").as_os_str(),
        os("--exclude-from"),
        list.as_os_str(),
    ]);
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains(&format!("{}:2: invalid pattern \"[\"", list.display())),
        "{}",
        stderr(&o)
    );
    assert!(!t.path().join("d2").exists() && !t.path().join("d3").exists());
}

/// The JSON lines of a `--log` file.
fn log_lines(path: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[test]
fn log_records_each_run_as_json_lines_after_the_last() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    write(src.join("a.txt"), b"first");
    write(src.join("sub/b.txt"), b"second");
    let dst = t.path().join("dst");
    write(dst.join("a.txt"), b"different, kept");
    let log = t.path().join("copy.log");
    let o = batch(&[
        src.as_os_str(),
        dst.as_os_str(),
        os("--log"),
        log.as_os_str(),
    ]);
    assert_eq!(code(&o), 1, "a conflict was skipped: {}", stderr(&o));
    assert!(
        stdout(&o).contains("Skipped"),
        "the summary is still printed"
    );
    let lines = log_lines(&log);
    let entry = |path: &str| lines.iter().find(|l| l["path"] == path).cloned();
    assert_eq!(entry("sub/b.txt").unwrap()["outcome"], "copied");
    assert_eq!(entry("a.txt").unwrap()["reason"], "conflict");
    let last = lines.last().unwrap();
    assert_eq!(last["type"], "summary");
    assert_eq!(last["exit_code"], 1);
    // A second run is added after the first.
    let o = batch(&[
        src.as_os_str(),
        dst.as_os_str(),
        os("--log"),
        log.as_os_str(),
    ]);
    assert_eq!(code(&o), 1);
    let again = log_lines(&log);
    let summaries: Vec<_> = again.iter().filter(|l| l["type"] == "summary").collect();
    assert_eq!(summaries.len(), 2, "{again:?}");
    assert_eq!(summaries[1]["up_to_date"], 1, "{again:?}");
    assert_eq!(summaries[1]["skipped"], 1, "{again:?}");
}

#[test]
fn a_log_that_cannot_be_opened_or_written_is_said_and_never_passes() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    write(src.join("a.txt"), b"data");
    let nowhere = t.path().join("no/such/folder/copy.log");
    let o = batch(&[
        src.as_os_str(),
        t.path().join("d1").as_os_str(),
        os("--log"),
        nowhere.as_os_str(),
    ]);
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains(&format!("{}: cannot open the log", nowhere.display())),
        "{}",
        stderr(&o)
    );
    assert!(!t.path().join("d1").exists(), "nothing copied");
    // A full disk under the log: the copy is done, the run says the log is lost.
    let o = batch(&[
        src.as_os_str(),
        t.path().join("d2").as_os_str(),
        os("--log"),
        os("/dev/full"),
    ]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("write error: log /dev/full"),
        "{}",
        stderr(&o)
    );
    assert_eq!(std::fs::read(t.path().join("d2/a.txt")).unwrap(), b"data");
}

#[test]
fn completions_and_the_man_page_come_from_the_options_themselves() {
    let t = tempfile::tempdir().unwrap();
    let o = convoy().args(["--completions", "bash"]).output().unwrap();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let script = t.path().join("convoy.bash");
    std::fs::write(&script, &o.stdout).unwrap();
    need("bash", "bash");
    let check = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "set -e; bash -n '{0}'; source '{0}'; complete -p convoy",
            script.display()
        ))
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "bash takes the script and registers it: {}",
        stderr(&check)
    );
    for opt in ["--exclude-from", "--verify", "--log", "--on-conflict"] {
        assert!(stdout(&o).contains(opt), "bash completes {opt}");
    }
    for shell in ["zsh", "fish"] {
        let o = convoy().args(["--completions", shell]).output().unwrap();
        assert_eq!(code(&o), 0);
        assert!(
            stdout(&o).contains("exclude-from"),
            "{shell}: {}",
            stdout(&o)
        );
    }

    let o = convoy().arg("--man-page").output().unwrap();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let page = t.path().join("convoy.1");
    std::fs::write(&page, &o.stdout).unwrap();
    need("man", "man-db");
    let shown = std::process::Command::new("man")
        .arg("-l")
        .arg(&page)
        .env("MANPAGER", "cat")
        .env("MANWIDTH", "80")
        .output()
        .unwrap();
    assert!(shown.status.success(), "{}", stderr(&shown));
    // (man justifies lines: spaces between words vary with the page.)
    let text = stdout(&shown)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    for part in ["SYNOPSIS", "--exclude-from", "--reflink", "Exit codes"] {
        assert!(text.contains(part), "the page shows {part}: {text}");
    }
    // They are things to print, not options of a copy.
    let o = convoy()
        .args(["--completions", "bash", "--batch", "a", "b"])
        .output()
        .unwrap();
    assert_eq!(code(&o), 2);
}

/// `--bwlimit` holds the rate it is given, as the run's own progress events
/// measure it (bytes done against the run's elapsed time between the first
/// and the last event, not the test's clock): within 15 % of it. A bad rate
/// is one line and exit 2.
#[test]
fn bwlimit_holds_the_rate_it_is_given() {
    let t = tempfile::tempdir().unwrap();
    let (src, dst) = (t.path().join("src"), t.path().join("dst"));
    for i in 0..80 {
        write(src.join(format!("d{}/f{i}", i % 4)), &data(i, 256 * 1024));
    }
    let rate = 4u64 << 20;
    let o = batch(&[
        src.as_os_str(),
        dst.as_os_str(),
        os("--json"),
        os("--bwlimit=4M"),
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_same_tree(&src, &dst);
    let ticks: Vec<(f64, f64)> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["type"] == "progress")
        .inspect(|v| assert_eq!(v["bwlimit"], rate, "{v}"))
        .map(|v| {
            let at = v["elapsed_secs"].as_f64().unwrap();
            (at, v["bytes_done"].as_f64().unwrap())
        })
        .collect();
    assert!(ticks.len() >= 3, "a progress event a second: {ticks:?}");
    let ((t0, b0), (t1, b1)) = (ticks[0], ticks[ticks.len() - 1]);
    let measured = (b1 - b0) / (t1 - t0);
    let off = measured / rate as f64;
    assert!(
        (0.85..=1.15).contains(&off),
        "{measured:.0} B/s under a limit of {rate}: {off:.2}x ({ticks:?})"
    );
    let bad = batch(&[src.as_os_str(), dst.as_os_str(), os("--bwlimit=fast")]);
    assert_eq!(code(&bad), 2);
    assert!(stderr(&bad).contains("not a rate"), "{}", stderr(&bad));
}

/// `--and SRC DEST` queues more copies with the same options: run in turn,
/// one summary each (a `job` event before each with `--json`), the worst
/// exit code; bad input in any pair stops all before anything is written.
#[test]
fn copies_queued_with_and_run_in_turn_with_the_worst_exit_code() {
    let t = tempfile::tempdir().unwrap();
    let p = |n: &str| t.path().join(n);
    write(p("a/one.txt"), b"first tree");
    write(p("b/two.txt"), b"second tree");
    write(p("c/three.txt"), b"third tree");
    // The second copy meets a file that differs: skipped, exit 1.
    write(p("b-copy/two.txt"), b"already here");
    let o = batch(&[
        p("a").as_os_str(),
        p("a-copy").as_os_str(),
        os("--and"),
        p("b").as_os_str(),
        p("b-copy").as_os_str(),
        os("--and"),
        p("c").as_os_str(),
        p("c-copy").as_os_str(),
    ]);
    assert_eq!(code(&o), 1, "the worst of 0, 1, 0: {}", stderr(&o));
    let out = stdout(&o);
    assert_eq!(out.matches("Copy ").count(), 3, "{out}");
    assert!(out.contains("Copy 2 of 3: "), "{out}");
    assert_eq!(
        out.matches("Up to date:").count(),
        3,
        "a summary each: {out}"
    );
    assert_eq!(fs::read(p("a-copy/one.txt")).unwrap(), b"first tree");
    assert_eq!(fs::read(p("b-copy/two.txt")).unwrap(), b"already here");
    assert_eq!(fs::read(p("c-copy/three.txt")).unwrap(), b"third tree");
    // JSON: a job event, then that copy's events and summary.
    let o = batch(&[
        p("a").as_os_str(),
        p("a-json").as_os_str(),
        os("--json"),
        os("--and"),
        p("c").as_os_str(),
        p("c-json").as_os_str(),
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let kinds: Vec<String> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| matches!(v["type"].as_str(), Some("job" | "summary")))
        .map(|v| format!("{}{}", v["type"].as_str().unwrap(), v["index"]))
        .collect();
    assert_eq!(kinds, ["job1", "summarynull", "job2", "summarynull"]);
    // A bad pair: nothing at all is copied.
    let o = batch(&[
        p("a").as_os_str(),
        p("a-never").as_os_str(),
        os("--and"),
        p("missing").as_os_str(),
        p("x").as_os_str(),
    ]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("missing"), "{}", stderr(&o));
    assert!(!p("a-never").exists(), "nothing written before the check");
}

/// `convoy a b notes.txt DEST` as `cp -a a b notes.txt DEST/` makes it: each
/// source under its own name, exact; DEST made with the usual mode and never
/// given a source's; a rerun changes nothing.
#[test]
fn several_sources_go_into_dest_under_their_own_names() {
    let t = tempfile::tempdir().unwrap();
    let (a, b, note) = (
        t.path().join("a"),
        t.path().join("b"),
        t.path().join("notes.txt"),
    );
    write(a.join("sub/x.txt"), &data(1, 3000));
    write(b.join("y.bin"), &data(2, 70_000));
    write(&note, b"a note");
    symlink("notes.txt", t.path().join("link")).unwrap();
    chmod(&a, 0o750);
    set_mtime(&a, 1_500_000_000, 5);
    set_mtime(&note, 1_400_000_000, 7);
    let dest = t.path().join("out/DEST");
    let link = t.path().join("link");
    let args = [&a, &b, &note, &link, &dest].map(|p| p.as_os_str());
    let o = batch(&args);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert_same_tree(&a, &dest.join("a"));
    assert_same_tree(&b, &dest.join("b"));
    assert_eq!(fs::read(dest.join("notes.txt")).unwrap(), b"a note");
    let m = fs::metadata(dest.join("notes.txt")).unwrap();
    assert_eq!((m.mtime(), m.mtime_nsec()), (1_400_000_000, 7));
    assert_eq!(
        fs::read_link(dest.join("link")).unwrap(),
        Path::new("notes.txt")
    );
    assert_eq!(
        entries(&dest).len(),
        entries(&a).len() + entries(&b).len() + 4,
        "nothing else: {:?}",
        entries(&dest)
    );
    let own = fs::metadata(&dest).unwrap();
    assert_ne!(
        own.mode() & 0o777,
        0o750,
        "DEST is not given a source's mode"
    );
    assert_ne!(own.mode() & 0o777, 0o700, "DEST is not left private");
    let before = stat_all(&dest);
    let again = batch(&[&args[..], &[os("--json")]].concat());
    assert_eq!(code(&again), 0, "{}", stderr(&again));
    let (_, summary) = json_lines(&again);
    assert_eq!(summary["files_copied"], 0, "{summary}");
    assert_eq!(summary["up_to_date"], 4, "{summary}");
    assert_unchanged(&before, &stat_all(&dest), "DEST, by a rerun");
}

#[test]
fn a_single_file_goes_to_a_new_name_or_into_a_folder() {
    let t = tempfile::tempdir().unwrap();
    let note = t.path().join("notes.txt");
    write(&note, &data(3, 5000));
    chmod(&note, 0o640);
    set_mtime(&note, 1_300_000_000, 1);
    // To a name that does not exist (its folder made).
    let named = t.path().join("backup/notes-2026.txt");
    let o = batch(&[note.as_os_str(), named.as_os_str()]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert_eq!(fs::read(&named).unwrap(), fs::read(&note).unwrap());
    let m = fs::metadata(&named).unwrap();
    assert_eq!(
        (m.mode() & 0o777, m.mtime(), m.mtime_nsec()),
        (0o640, 1_300_000_000, 1)
    );
    assert_eq!(entries(&t.path().join("backup")).len(), 1, "nothing else");
    // Into an existing folder, under its own name.
    let folder = t.path().join("folder");
    fs::create_dir(&folder).unwrap();
    let o = batch(&[note.as_os_str(), folder.as_os_str()]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        fs::read(folder.join("notes.txt")).unwrap(),
        fs::read(&note).unwrap()
    );
    // Over a file that differs: a conflict, kept by default.
    write(t.path().join("old.txt"), b"old");
    let o = batch(&[note.as_os_str(), t.path().join("old.txt").as_os_str()]);
    assert_eq!(code(&o), 1, "{}", stdout(&o));
    assert_eq!(fs::read(t.path().join("old.txt")).unwrap(), b"old");
    // Onto itself: refused.
    let o = batch(&[note.as_os_str(), note.as_os_str()]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("destination is the source itself"),
        "{}",
        stderr(&o)
    );
}

/// Bad input among several sources is found before anything is written.
#[test]
fn every_source_is_checked_before_anything_is_written() {
    let t = tempfile::tempdir().unwrap();
    let (a, b) = (t.path().join("a"), t.path().join("b"));
    write(a.join("f"), b"1");
    write(b.join("a/g"), b"2");
    write(t.path().join("file"), b"3");
    let dest = t.path().join("DEST");
    let cases: [(&[&Path], &str); 4] = [
        (
            &[&a, &t.path().join("missing"), &dest],
            "missing: source does not exist",
        ),
        (&[&a, &b.join("a"), &dest], "two sources are named a"),
        (
            &[&a, &b, &a.join("inside")],
            "destination is inside the source",
        ),
        (
            &[&a, &b, &t.path().join("file")],
            "destination exists and is not a folder",
        ),
    ];
    for (paths, said) in cases {
        let args: Vec<&OsStr> = paths.iter().map(|p| p.as_os_str()).collect();
        let o = batch(&args);
        assert_eq!(code(&o), 2, "{paths:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(said), "{paths:?}: {}", stderr(&o));
        assert!(
            !dest.exists() && !a.join("inside").exists(),
            "nothing written"
        );
    }
    // A queue after several sources keeps working.
    let second = t.path().join("second");
    let o = batch(&[
        a.as_os_str(),
        b.as_os_str(),
        dest.as_os_str(),
        os("--and"),
        a.as_os_str(),
        second.as_os_str(),
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_same_tree(&a, &dest.join("a"));
    assert_same_tree(&b, &dest.join("b"));
    assert_same_tree(&a, &second);
}

/// `--move`: everything arrives exactly as it was, hard links and folder
/// times included, and the source is gone; with several sources, each goes
/// and their parent stays.
#[test]
fn move_takes_everything_over_and_leaves_no_source() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    write(src.join("a.txt"), &data(1, 4000));
    write(src.join("sub/deep/big.bin"), &data(2, 2 << 20));
    fs::hard_link(src.join("a.txt"), src.join("sub/a-again.txt")).unwrap();
    symlink("a.txt", src.join("link")).unwrap();
    fs::create_dir_all(src.join("empty")).unwrap();
    set_mtime(src.join("sub"), 1_500_000_000, 1);
    let pristine = t.path().join("pristine");
    assert!(
        Command::new("cp")
            .arg("-a")
            .arg(&src)
            .arg(&pristine)
            .status()
            .unwrap()
            .success()
    );
    let dst = t.path().join("dst");
    let ino = fs::metadata(src.join("sub/deep/big.bin")).unwrap().ino();
    let folder_ino = fs::metadata(src.join("sub")).unwrap().ino();
    let o = batch(&[os("--move"), src.as_os_str(), dst.as_os_str()]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert!(!src.exists(), "the source is gone: {:?}", entries(&src));
    assert_same_tree(&pristine, &dst);
    assert_eq!(
        fs::metadata(dst.join("sub/deep/big.bin")).unwrap().ino(),
        ino,
        "within one filesystem a file is renamed, not copied"
    );
    assert_eq!(
        fs::metadata(dst.join("sub")).unwrap().ino(),
        folder_ino,
        "and a folder nothing is in the way of is renamed whole"
    );
    let cmp = convoy()
        .args(["--batch", "--compare"])
        .arg(&pristine)
        .arg(&dst)
        .output()
        .unwrap();
    assert_eq!(code(&cmp), 0, "hard links kept too: {}", stdout(&cmp));
    // Several sources: each goes, the folder they were in stays.
    let box_ = t.path().join("box");
    write(box_.join("x/y.txt"), b"y");
    write(box_.join("n.txt"), b"n");
    write(box_.join("stays.txt"), b"s");
    let into = t.path().join("into");
    let o = batch(&[
        os("--move"),
        box_.join("x").as_os_str(),
        box_.join("n.txt").as_os_str(),
        into.as_os_str(),
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(entries(&box_), [Path::new("stays.txt")]);
    assert_eq!(fs::read(into.join("x/y.txt")).unwrap(), b"y");
    assert_eq!(fs::read(into.join("n.txt")).unwrap(), b"n");
    // Onto itself or inside itself: refused, nothing moved.
    let o = batch(&[os("--move"), box_.as_os_str(), box_.join("in").as_os_str()]);
    assert_eq!(code(&o), 2);
    assert!(box_.join("stays.txt").exists());
}
