//! The fault sweep for copies to and from another machine: every system call
//! OpenSSH's SFTP server makes while convoy copies a tree through it, and
//! every call convoy makes itself (its files here, its pipes to ssh), is made
//! to fail (strace's `inject`, on the server started by the `-e` command)
//! with the errors it can really return, at each call (the first, a middle
//! and the last of a call made often) and from the middle on; the server's reading of its requests failing
//! is the connection lost. After every case: no hang and no panic; exit 0
//! only with the copy exact; a failure names the path on the host; every
//! file under its final name is whole, with its mode and time; a clean rerun
//! makes the copy exact and leaves no temporary on either side.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::strace::*;
use common::*;

/// What the server's calls can really fail with. EEXIST and ENOENT are left
/// out: they are answers about names (a name taken, a name gone) that the
/// copy asks for and acts on, not faults.
const SYSCALLS: &[(&str, &[&str])] = &[
    ("openat", &["EIO", "EACCES", "ENOSPC", "EDQUOT"]),
    ("read", &["EIO"]),
    ("write", &["EIO", "ENOSPC"]),
    ("pwrite64", &["EIO", "ENOSPC", "EDQUOT"]),
    ("pread64", &["EIO"]),
    ("lseek", &["EIO"]),
    ("close", &["EIO"]),
    ("fsync", &["EIO", "ENOSPC"]),
    ("newfstatat", &["EIO", "EACCES"]),
    ("fstat", &["EIO"]),
    ("statfs", &["EIO"]),
    ("fstatfs", &["EIO"]),
    ("getdents64", &["EIO"]),
    ("mkdir", &["EIO", "ENOSPC", "EACCES"]),
    ("link", &["EIO", "ENOSPC", "EMLINK"]),
    ("rename", &["EIO", "ENOSPC"]),
    ("unlink", &["EIO", "EACCES"]),
    ("rmdir", &["EIO"]),
    ("symlink", &["EIO", "ENOSPC"]),
    ("readlink", &["EIO"]),
    ("chmod", &["EIO", "EPERM"]),
    ("fchmod", &["EIO", "EPERM"]),
    ("chown", &["EIO", "EPERM"]),
    ("fchown", &["EIO", "EPERM"]),
    ("lchown", &["EIO", "EPERM"]),
    ("utimes", &["EIO", "EPERM"]),
    ("futimesat", &["EIO", "EPERM"]),
    ("utimensat", &["EIO", "EPERM"]),
    ("truncate", &["EIO"]),
    ("ftruncate", &["EIO"]),
];

/// The tree copied: files small and of several pieces, a symlink, a hard
/// link, nested and empty folders, modes and times of their own.
fn tree(src: &Path) {
    write(src.join("top"), b"top");
    write(src.join("a/f1"), b"one");
    chmod(src.join("a/f1"), 0o640);
    set_mtime(src.join("a/f1"), 1_600_000_000, 0);
    write(src.join("a/f2"), &data(2, 3_000_000));
    set_mtime(src.join("a/f2"), 1_600_000_100, 0);
    std::os::unix::fs::symlink("f1", src.join("a/link")).unwrap();
    fs::hard_link(src.join("a/f1"), src.join("a/hard")).unwrap();
    for i in 0..20 {
        write(src.join(format!("b/c/f{i}")), &data(i, 100 * i as usize));
    }
    fs::create_dir_all(src.join("empty")).unwrap();
    set_mtime(src.join("b/c"), 1_450_000_000, 0);
    chmod(src.join("a"), 0o750);
    set_mtime(src.join("a"), 1_500_000_000, 0);
}

/// A stand-in for ssh that runs OpenSSH's SFTP server under strace, with
/// `inject` (none: the count of every call it makes, into `log`).
fn server(dir: &Path, name: &str, inject: &[String], log: Option<&Path>) -> PathBuf {
    need("strace", "strace");
    need(SFTP_SERVER, "openssh-sftp-server");
    let mut args = vec!["-f".to_string(), "-qq".to_string()];
    match log {
        Some(log) => args.extend(["-o".into(), log.display().to_string()]),
        None => args.extend(["-o".into(), "/dev/null".into()]),
    }
    if !inject.is_empty() {
        let calls: Vec<&str> = inject
            .iter()
            .map(|i| i.split(':').next().unwrap())
            .collect();
        args.extend(["-e".into(), format!("trace={}", calls.join(","))]);
    }
    for i in inject {
        args.extend(["-e".into(), format!("inject={i}")]);
    }
    let script = dir.join(name);
    // Nothing to fail or count: the server alone (under a traced convoy,
    // a strace of its own could not trace it).
    let run = match inject.is_empty() && log.is_none() {
        true => SFTP_SERVER.to_string(),
        false => format!("strace {} {SFTP_SERVER}", args.join(" ")),
    };
    fs::write(&script, format!("#!/bin/sh\nexec {run}\n")).unwrap();
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    script
}

#[derive(Clone, Copy, PartialEq)]
enum Way {
    Up,
    Down,
}

/// Runs `convoy --batch -e RSH` one way between `src` and `dst` (the server's
/// side named `otherhost:`), killed if it hangs.
fn run(rsh: &Path, way: Way, src: &Path, dst: &Path, extra: &[&str]) -> (Output, bool) {
    run_as(convoy(), rsh, way, (src, dst), extra)
}

/// [`run`] with convoy started by `c` (under strace, say).
fn run_as(
    mut c: Command,
    rsh: &Path,
    way: Way,
    (src, dst): (&Path, &Path),
    extra: &[&str],
) -> (Output, bool) {
    let (from, to) = match way {
        Way::Up => (
            src.display().to_string(),
            format!("otherhost:{}", dst.display()),
        ),
        Way::Down => (
            format!("otherhost:{}", src.display()),
            dst.display().to_string(),
        ),
    };
    c.arg("--batch")
        .arg("-e")
        .arg(rsh)
        .args(extra)
        .args([&from, &to]);
    within(c)
}

/// Whose calls fail: the SFTP server's, or convoy's own (its reads of the
/// files it sends, its writes of those it receives, its pipes to ssh).
#[derive(Clone, Copy, PartialEq)]
enum Side {
    Server,
    Client,
}

/// What convoy's own calls can really fail with, here.
const CLIENT_SYSCALLS: &[(&str, &[&str])] = &[
    ("openat", &["EIO", "EACCES", "ENOSPC", "EMFILE", "EINTR"]),
    // Its reads of the pipe from ssh (a failure there is the connection's);
    // no `write`: every write of a file goes at an offset (`pwrite64`), and
    // the rest are pipes and the runtime's own wake-ups, which cannot fail
    // this way.
    ("read", &["EIO", "EINTR"]),
    ("pread64", &["EIO", "EINTR"]),
    ("pwrite64", &["EIO", "ENOSPC", "EDQUOT", "EINTR"]),
    ("statx", &["EIO", "EACCES"]),
    ("newfstatat", &["EIO", "EACCES"]),
    ("fstat", &["EIO"]),
    ("getdents64", &["EIO", "EINTR"]),
    ("readlinkat", &["EIO"]),
    ("fsync", &["EIO", "ENOSPC"]),
    ("fdatasync", &["EIO", "ENOSPC"]),
    ("mkdirat", &["EIO", "ENOSPC", "EACCES"]),
    ("renameat2", &["EIO", "ENOSPC"]),
    ("linkat", &["EIO", "ENOSPC"]),
    ("unlinkat", &["EIO", "EACCES"]),
    ("symlinkat", &["EIO", "ENOSPC"]),
    ("mknodat", &["EIO", "ENOSPC"]),
    ("fchmod", &["EIO", "EPERM"]),
    ("fchmodat", &["EIO", "EPERM"]),
    ("fchown", &["EIO", "EPERM"]),
    ("fchownat", &["EIO", "EPERM"]),
    ("utimensat", &["EIO", "EPERM"]),
    ("fsetxattr", &["EIO", "ENOSPC"]),
    ("ftruncate", &["EIO"]),
    ("fstatfs", &["EIO"]),
];

/// How many times convoy makes each call in a clean copy one way, at most
/// in any one of its threads (strace counts a fault's `when` per thread),
/// and how many its main thread makes before its first thread starts (the
/// dynamic loader's and the runtime's, not convoy's: the sweep starts past
/// them).
fn client_census(dir: &Path, way: Way, src: &Path) -> (Counts, Counts) {
    let log = dir.join("client-census.log");
    let rsh = server(dir, "client-census-ssh", &[], None);
    let dst = dir.join("client-census-dst");
    let (o, hung) = run_as(traced(None, Some(&log)), &rsh, way, (src, &dst), &[]);
    assert!(
        !hung && code(&o) == 0,
        "a clean run under strace: {}{}",
        stdout(&o),
        stderr(&o)
    );
    fs::remove_dir_all(&dst).unwrap();
    counts(&log)
}

/// How many times the server makes each call in a clean copy one way.
fn census(dir: &Path, way: Way, src: &Path) -> BTreeMap<String, usize> {
    let log = dir.join("census.log");
    let rsh = server(dir, "census-ssh", &[], Some(&log));
    let dst = dir.join("census-dst");
    let (o, hung) = run(&rsh, way, src, &dst, &[]);
    assert!(
        !hung && code(&o) == 0,
        "a clean run under strace: {}{}",
        stdout(&o),
        stderr(&o)
    );
    fs::remove_dir_all(&dst).unwrap();
    let mut counts = BTreeMap::new();
    for line in fs::read_to_string(&log).unwrap().lines() {
        let rest = line.split_once(' ').map_or(line, |(_, r)| r).trim_start();
        if let Some(name) = rest
            .split('(')
            .next()
            .filter(|n| !n.contains(' ') && !n.is_empty())
        {
            *counts.entry(name.to_string()).or_insert(0) += 1;
        }
    }
    counts
}

/// Every file under its final name in `dst` that is not whole, or lacks
/// its mode or time (to the second, as SFTP carries it); with `exact`, every
/// way `dst` differs from `src` at all.
fn broken(src: &Path, dst: &Path, exact: bool) -> Vec<String> {
    let mut out = Vec::new();
    if !dst.exists() {
        if exact {
            out.push("nothing was copied".into());
        }
        return out;
    }
    for rel in entries(src) {
        let (s, d) = (src.join(&rel), dst.join(&rel));
        let sm = fs::symlink_metadata(&s).unwrap();
        let Ok(dm) = fs::symlink_metadata(&d) else {
            if exact {
                out.push(format!("{}: missing", rel.display()));
            }
            continue;
        };
        if sm.file_type() != dm.file_type() {
            out.push(format!("{}: another type", rel.display()));
            continue;
        }
        let what = if sm.is_file() {
            if fs::read(&s).unwrap() != fs::read(&d).unwrap() {
                Some("not whole")
            } else if sm.mode() & 0o7777 != dm.mode() & 0o7777 {
                Some("its mode")
            } else if sm.mtime() != dm.mtime() {
                Some("its time")
            } else {
                None
            }
        } else if sm.file_type().is_symlink() {
            (fs::read_link(&s).unwrap() != fs::read_link(&d).unwrap()).then_some("its target")
        } else if exact && sm.mode() & 0o7777 != dm.mode() & 0o7777 {
            Some("its mode")
        } else if exact && sm.mtime() != dm.mtime() {
            Some("its time")
        } else {
            None
        };
        if let Some(what) = what {
            out.push(format!("{}: {what}", rel.display()));
        }
    }
    if exact {
        let extra: Vec<_> = entries(dst)
            .into_iter()
            .filter(|r| !src.join(r).exists() && fs::symlink_metadata(src.join(r)).is_err())
            .collect();
        if !extra.is_empty() {
            out.push(format!("not in the source: {extra:?}"));
        }
    }
    out
}

/// One case: the copy with `inject` on `side`, then a clean rerun.
fn check(dir: &Path, (way, side): (Way, Side), src: &Path, inject: &str, n: usize) -> Vec<String> {
    let mut bad = Vec::new();
    let dst = dir.join(format!("dst-{n}"));
    let (o, hung) = match side {
        Side::Server => {
            let rsh = server(dir, &format!("ssh-{n}"), &[inject.to_string()], None);
            run(&rsh, way, src, &dst, &["--verify"])
        }
        Side::Client => {
            let rsh = server(dir, &format!("ssh-{n}"), &[], None);
            let c = traced(Some(inject), None);
            run_as(c, &rsh, way, (src, &dst), &["--verify"])
        }
    };
    let said = stdout(&o) + &stderr(&o);
    if hung {
        bad.push("hung".into());
    }
    if said.contains("panicked") {
        bad.push(format!("panicked: {said}"));
    }
    let exact = code(&o) == 0;
    for b in broken(src, &dst, exact) {
        bad.push(format!("exit {}: {b}", code(&o)));
    }
    // A failure names its path: on the host, or here.
    let named = said.contains("otherhost") || said.contains(&*dir.to_string_lossy());
    if !exact && !hung && !named {
        bad.push(format!("exit {} without a path named: {said}", code(&o)));
    }
    // A clean rerun completes the copy and leaves nothing behind.
    let clean = server(dir, &format!("clean-{n}"), &[], None);
    let (o, hung) = run(&clean, way, src, &dst, &[]);
    if hung || code(&o) != 0 {
        bad.push(format!(
            "the rerun: exit {}: {}{}",
            code(&o),
            stdout(&o),
            stderr(&o)
        ));
    }
    for b in broken(src, &dst, true) {
        bad.push(format!("after the rerun: {b}"));
    }
    let left = [leftover_temps(&dst), partials(&dst)].concat();
    if !left.is_empty() {
        bad.push(format!("after the rerun, left: {left:?}"));
    }
    let _ = fs::remove_dir_all(&dst);
    bad.into_iter().map(|b| format!("{inject}: {b}")).collect()
}

/// Every call `side` makes one way, each failing with each of its errors
/// at each making (at its first, middle and last where it is made often),
/// and from the middle on.
fn sweep(way: Way, side: Side) {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    tree(&src);
    let (counts, before, calls) = match side {
        Side::Server => (census(t.path(), way, &src), Counts::new(), SYSCALLS),
        Side::Client => {
            let (counts, before) = client_census(t.path(), way, &src);
            (counts, before, CLIENT_SYSCALLS)
        }
    };
    let cases = cases(calls, &counts, &before);
    assert!(
        cases.len() > 50,
        "the calls the sweep fails are made: {counts:?}"
    );
    // Two at a time: each case is a server and a run of its own.
    let failures = two_at_a_time(cases, |n, case| check(t.path(), (way, side), &src, case, n));
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_call_of_the_server_failing_in_a_copy_to_it_leaves_nothing_broken() {
    sweep(Way::Up, Side::Server);
}

#[test]
fn every_call_of_the_server_failing_in_a_copy_from_it_leaves_nothing_broken() {
    sweep(Way::Down, Side::Server);
}

#[test]
fn every_call_of_convoy_failing_in_a_copy_to_another_machine_leaves_nothing_broken() {
    sweep(Way::Up, Side::Client);
}

#[test]
fn every_call_of_convoy_failing_in_a_copy_from_another_machine_leaves_nothing_broken() {
    sweep(Way::Down, Side::Client);
}

/// The sweep can fail: a file not whole under its final name is seen, and
/// so is one missing, and a folder's time, where the copy must be exact.
#[test]
fn the_sweep_sees_a_file_that_is_not_whole() {
    let t = tempfile::tempdir().unwrap();
    let (src, dst) = (t.path().join("src"), t.path().join("dst"));
    tree(&src);
    let (o, _) = run(&server(t.path(), "ok", &[], None), Way::Up, &src, &dst, &[]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert_eq!(broken(&src, &dst, true), Vec::<String>::new());
    fs::write(dst.join("a/f2"), b"short").unwrap();
    set_mtime(dst.join("a/f2"), 1_600_000_100, 0);
    assert_eq!(broken(&src, &dst, false), ["a/f2: not whole"]);
    fs::remove_file(dst.join("b/c/f3")).unwrap();
    assert_eq!(broken(&src, &dst, false), ["a/f2: not whole"]);
    assert_eq!(
        broken(&src, &dst, true),
        ["a/f2: not whole", "b/c: its time", "b/c/f3: missing"]
    );
}
