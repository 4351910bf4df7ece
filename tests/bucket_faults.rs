//! The fault sweep for copies into and out of a bucket: every call convoy
//! makes itself (its reads of the files it uploads, its writes of those it
//! downloads, its sockets to the store) is made to fail in turn (strace's
//! `inject`), with the errors it can really return, at its first, a middle
//! and its last making and from the middle on, against `rclone serve s3` on
//! 127.0.0.1. After every case: no hang and no panic; exit 0 only with the
//! copy exact; a failure names a path (in the bucket, or here); every object
//! or file under its final name is whole; a clean rerun makes the copy exact
//! and leaves no temporary, partial or open upload behind.

mod common;

use std::fs;
use std::path::Path;

use common::s3::*;
use common::strace::*;
use common::*;

/// What convoy's calls can really fail with, here: its files' (as the local
/// copy's sweep has them) and its sockets' (a connection refused, reset or
/// broken; an interruption once).
const CALLS: &[(&str, &[&str])] = &[
    ("openat", &["EIO", "EACCES", "EMFILE", "EINTR"]),
    ("pread64", &["EIO", "EINTR"]),
    ("pwrite64", &["EIO", "ENOSPC", "EINTR"]),
    ("statx", &["EIO", "EACCES"]),
    ("getdents64", &["EIO", "EINTR"]),
    ("mkdirat", &["EIO", "ENOSPC"]),
    ("renameat2", &["EIO", "ENOSPC"]),
    ("linkat", &["EIO", "ENOSPC"]),
    ("unlinkat", &["EIO"]),
    ("fchmod", &["EIO", "EPERM"]),
    ("utimensat", &["EIO", "EPERM"]),
    ("socket", &["EMFILE"]),
    ("connect", &["ECONNREFUSED"]),
    ("writev", &["ECONNRESET", "EPIPE"]),
    ("recvfrom", &["ECONNRESET", "EINTR"]),
];

#[derive(Clone, Copy)]
enum Way {
    Up,
    Down,
}

/// Small files in two folders and one of two parts.
fn tree(src: &Path) {
    for f in 0..6 {
        write(src.join(format!("a/f{f}")), &data(f, 3000 + f as usize));
    }
    write(src.join("b/c/note"), b"note");
    write(src.join("b/big"), &data(9, 17 * 1024 * 1024));
    set_mtime(src.join("b/big"), 1_700_000_000, 7);
}

/// Every file of `src` that is in `dst` but not whole, or (with `exact`)
/// missing there.
fn broken(src: &Path, dst: &Path, exact: bool) -> Vec<String> {
    let mut out = Vec::new();
    for rel in entries(src) {
        let s = src.join(&rel);
        if !s.is_file() {
            continue;
        }
        match fs::read(dst.join(&rel)) {
            Ok(d) if d != fs::read(&s).unwrap() => {
                out.push(format!("{}: not whole", rel.display()))
            }
            Ok(_) => {}
            Err(_) if exact => out.push(format!("{}: missing", rel.display())),
            Err(_) => {}
        }
    }
    out
}

/// convoy one way between `src` and the prefix `prefix` of the bucket,
/// started by `c`.
fn run(
    mut c: std::process::Command,
    s3: &Server,
    home: &Path,
    way: Way,
    (src, prefix): (&Path, &str),
) -> (std::process::Output, bool) {
    let bucket = format!("s3://bkt/{prefix}");
    let (from, to) = match way {
        Way::Up => (src.as_os_str().to_owned(), bucket.into()),
        Way::Down => (bucket.into(), src.as_os_str().to_owned()),
    };
    for var in [
        "AWS_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_REGION",
        "XDG_STATE_HOME",
    ] {
        c.env_remove(var);
    }
    c.env("HOME", home)
        .env("AWS_ACCESS_KEY_ID", KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET)
        .env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{}", s3.port))
        .env("CONVOY_S3_TIMEOUT", "10")
        .arg("--batch")
        .arg(from)
        .arg(to);
    within(c)
}

fn sweep(way: Way) {
    let t = tempfile::tempdir().unwrap();
    let (src, home) = (t.path().join("src"), t.path().join("home"));
    tree(&src);
    let s3 = Server::start(&t.path().join("store"), &["bkt"]);
    // Downloads come from objects convoy put there, with their metadata.
    if let Way::Down = way {
        let (o, _) = run(convoy(), &s3, &home, Way::Up, (&src, "from"));
        assert_eq!(code(&o), 0, "{}", stderr(&o));
    }
    let census = t.path().join("census.log");
    let (here, prefix) = (t.path().join("census-here"), "census");
    let target = match way {
        Way::Up => (src.as_path(), prefix),
        Way::Down => (here.as_path(), "from"),
    };
    let (o, hung) = run(traced(None, Some(&census)), &s3, &home, way, target);
    assert!(
        !hung && code(&o) == 0,
        "a clean run under strace: {}",
        stderr(&o)
    );
    let (counts, before) = counts(&census);
    let cases = cases(CALLS, &counts, &before);
    assert!(
        cases.len() > 40,
        "the calls the sweep fails are made: {counts:?}"
    );
    let failures = two_at_a_time(cases, |n, case| {
        let mut bad = Vec::new();
        let (here, prefix) = (t.path().join(format!("here-{n}")), format!("p{n}"));
        let target = match way {
            Way::Up => (src.as_path(), prefix.as_str()),
            Way::Down => (here.as_path(), "from"),
        };
        let (o, hung) = run(traced(Some(case), None), &s3, &home, way, target);
        let said = stdout(&o) + &stderr(&o);
        if hung {
            bad.push("hung".to_string());
        }
        if said.contains("panicked") {
            bad.push(format!("panicked: {said}"));
        }
        let exact = code(&o) == 0;
        // What is under final names: objects (the store keeps them as
        // files), or files here.
        let copy = match way {
            Way::Up => s3.root.join("bkt").join(&prefix),
            Way::Down => here.clone(),
        };
        for b in broken(&src, &copy, exact) {
            bad.push(format!("exit {}: {b}", code(&o)));
        }
        let named = said.contains("s3://bkt/") || said.contains(&*t.path().to_string_lossy());
        if !exact && !hung && !named {
            bad.push(format!("exit {} without a path named: {said}", code(&o)));
        }
        // A clean rerun completes the copy and leaves nothing behind.
        let (o, hung) = run(convoy(), &s3, &home, way, target);
        if hung || code(&o) != 0 {
            bad.push(format!(
                "the rerun: exit {}: {}{}",
                code(&o),
                stdout(&o),
                stderr(&o)
            ));
        }
        for b in broken(&src, &copy, true) {
            bad.push(format!("after the rerun: {b}"));
        }
        if let Way::Down = way {
            let left = [leftover_temps(&here), partials(&here)].concat();
            if !left.is_empty() {
                bad.push(format!("after the rerun, left: {left:?}"));
            }
        }
        bad.into_iter().map(|b| format!("{case}: {b}")).collect()
    });
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(
        records(&home).is_empty(),
        "open uploads left recorded: {:?}",
        records(&home)
    );
}

#[test]
fn every_call_of_convoy_failing_in_a_copy_into_a_bucket_leaves_nothing_broken() {
    sweep(Way::Up);
}

#[test]
fn every_call_of_convoy_failing_in_a_copy_from_a_bucket_leaves_nothing_broken() {
    sweep(Way::Down);
}
