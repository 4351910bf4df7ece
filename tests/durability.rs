//! `--fsync` and `--flush`: the flushes a person can see convoy make (traced
//! with strace), the wait for the device as its own phase, and no flush at
//! all when none was asked for.

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;

use common::*;

/// The system calls of a whole batch run named in `calls`, one line each.
fn traced(calls: &str, args: &[&std::ffi::OsStr], log: &Path) -> (std::process::Output, String) {
    need("strace", "strace");
    let o = Command::new("strace")
        .args(["-f", "-qq", "-e"])
        .arg(format!("trace={calls}"))
        .arg("-o")
        .arg(log)
        .arg(BIN)
        .arg("--batch")
        .args(args)
        .env_remove("NO_COLOR")
        .output()
        .unwrap();
    (o, fs::read_to_string(log).unwrap())
}

fn count(log: &str, call: &str) -> usize {
    log.lines()
        .filter(|l| l.contains(&format!(" {call}(")) && !l.contains("= -1"))
        .count()
}

fn tree(src: &Path) {
    for i in 0..30 {
        write(src.join(format!("d{}/f{i}.txt", i % 3)), &data(i, 5000));
    }
    write(src.join("big.bin"), &data(99, 3_000_000));
    write(src.join("top.txt"), b"top");
}

#[test]
fn fsync_flushes_every_file_and_folder_and_waits_for_the_device() {
    let t = tempfile::tempdir().unwrap();
    let (src, dst) = (t.path().join("src"), t.path().join("dst"));
    tree(&src);
    let log = t.path().join("trace");
    let args = [src.as_os_str(), dst.as_os_str(), os("--fsync")];
    let (o, trace) = traced("fsync,syncfs", &args, &log);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert_same_tree(&src, &dst);
    let (files, folders) = (32, 3 + 1);
    assert!(
        count(&trace, "fsync") >= files + folders,
        "one flush a file and a folder at least: {} in\n{trace}",
        count(&trace, "fsync")
    );
    assert!(
        count(&trace, "syncfs") >= 1,
        "the wait for the device:\n{trace}"
    );

    // Nothing asked: nothing flushed (a copy must not pay for what it did
    // not ask).
    let plain = t.path().join("plain");
    let (o, trace) = traced("fsync,syncfs", &[src.as_os_str(), plain.as_os_str()], &log);
    assert_eq!(code(&o), 0);
    assert_eq!(
        count(&trace, "fsync") + count(&trace, "syncfs"),
        0,
        "{trace}"
    );
}

#[test]
fn flush_waits_for_the_device_as_a_phase_of_its_own_before_the_summary() {
    let t = tempfile::tempdir().unwrap();
    let (src, dst) = (t.path().join("src"), t.path().join("dst"));
    tree(&src);
    let log = t.path().join("trace");
    let args = [
        src.as_os_str(),
        dst.as_os_str(),
        os("--flush"),
        os("--json"),
    ];
    let (o, trace) = traced("fsync,syncfs", &args, &log);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert_eq!(count(&trace, "syncfs"), 1, "{trace}");
    assert_eq!(
        count(&trace, "fsync"),
        0,
        "--flush alone flushes no file: {trace}"
    );
    let text = stdout(&o);
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let flushing: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i]["type"] == "flushing")
        .collect();
    assert!(!flushing.is_empty(), "the wait is reported:\n{text}");
    let last = *flushing.last().unwrap();
    assert_eq!(lines[last]["left_bytes"], 0, "it ends with nothing left");
    let written = lines.last().unwrap()["bytes_copied"].as_u64().unwrap();
    for &i in &flushing {
        assert!(
            lines[i]["left_bytes"].as_u64().unwrap() <= written,
            "never more left than was written: {}",
            lines[i]
        );
    }
    let first_entry_after = lines[last..].iter().any(|l| l["type"] == "entry");
    assert!(!first_entry_after, "the wait comes after every entry");
    assert_eq!(lines.last().unwrap()["type"], "summary");
}
