//! `--compare`: how a destination differs from its source, read-only, with
//! the exit code a script or a test suite branches on.

mod common;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::Command;

use common::*;

/// A tree with one of everything convoy keeps.
fn rich(src: &Path) {
    write(src.join("docs/a.txt"), &data(1, 5000));
    write(src.join("docs/b.txt"), &data(2, 5000));
    write(src.join("big.bin"), &data(3, 300_000));
    fs::hard_link(src.join("docs/a.txt"), src.join("a-again.txt")).unwrap();
    symlink("docs/a.txt", src.join("link")).unwrap();
    let fifo = rustix::fs::FileType::Fifo;
    rustix::fs::mknodat(rustix::fs::CWD, src.join("pipe"), fifo, 0o640.into(), 0).unwrap();
    rustix::fs::setxattr(
        src.join("docs/b.txt"),
        "user.note",
        b"kept",
        rustix::fs::XattrFlags::empty(),
    )
    .unwrap();
    set_mtime(src.join("docs/b.txt"), 1_600_000_000, 123_456_789);
}

fn compare(args: &[&Path], extra: &[&str]) -> std::process::Output {
    convoy()
        .args(["--batch", "--compare"])
        .args(extra)
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn a_copy_compares_the_same_and_so_does_cp_a() {
    let t = tempfile::tempdir().unwrap();
    let (src, dst, cp) = (
        t.path().join("src"),
        t.path().join("dst"),
        t.path().join("cp"),
    );
    rich(&src);
    let o = batch(&[src.as_os_str(), dst.as_os_str()]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let o = compare(&[&src, &dst], &["--checksum"]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).starts_with("Same: 8 entries compared"),
        "{}",
        stdout(&o)
    );
    // The same judge agrees with cp -a (as root it keeps all of it).
    if is_root() {
        let ok = Command::new("cp")
            .arg("-a")
            .arg(&src)
            .arg(&cp)
            .status()
            .unwrap();
        assert!(ok.success());
        let o = compare(&[&src, &cp], &["--checksum"]);
        assert_eq!(code(&o), 0, "{}", stdout(&o));
    }
}

/// Every kind of difference is found, named with its path, and the exit
/// code is 1; JSON gives one object per difference.
#[test]
fn each_kind_of_difference_is_found_and_said() {
    let t = tempfile::tempdir().unwrap();
    let (src, dst) = (t.path().join("src"), t.path().join("dst"));
    rich(&src);
    let o = batch(&[src.as_os_str(), dst.as_os_str()]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    // Same size, other bytes: found only by the digests.
    let mut bytes = fs::read(dst.join("big.bin")).unwrap();
    bytes[1000] ^= 1;
    let m = fs::metadata(dst.join("big.bin")).unwrap();
    fs::write(dst.join("big.bin"), &bytes).unwrap();
    use std::os::unix::fs::MetadataExt;
    set_mtime(dst.join("big.bin"), m.mtime(), m.mtime_nsec());
    write(dst.join("extra.txt"), b"only here");
    fs::remove_file(dst.join("docs/a.txt")).unwrap();
    write(dst.join("docs/a.txt"), &data(1, 5000));
    fs::remove_file(dst.join("pipe")).unwrap();
    fs::create_dir(dst.join("pipe")).unwrap();
    chmod(dst.join("docs/b.txt"), 0o600);
    set_mtime(dst.join("docs/b.txt"), 1_600_000_100, 5);
    rustix::fs::setxattr(
        dst.join("docs/b.txt"),
        "user.note",
        b"changed",
        rustix::fs::XattrFlags::empty(),
    )
    .unwrap();
    fs::remove_file(dst.join("link")).unwrap();
    symlink("docs/b.txt", dst.join("link")).unwrap();
    let o = compare(&[&src, &dst], &["--checksum", "--json"]);
    assert_eq!(code(&o), 1, "{}{}", stdout(&o), stderr(&o));
    let found: Vec<(String, String)> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["type"] == "difference")
        .map(|v| {
            (
                v["path"].as_str().unwrap().into(),
                v["what"].as_str().unwrap().into(),
            )
        })
        .collect();
    for (path, what) in [
        ("big.bin", "content"),
        ("extra.txt", "only_in_dest"),
        ("pipe", "type"),
        ("docs/b.txt", "mode"),
        ("docs/b.txt", "mtime"),
        ("docs/b.txt", "xattrs"),
        ("link", "link_target"),
        ("docs/a.txt", "hard_links"),
    ] {
        assert!(
            found.contains(&(path.into(), what.into())),
            "{path}: {what} not found in {found:?}"
        );
    }
    // Without the digests, same-size bytes are not looked at.
    let o = compare(&[&src, &dst], &[]);
    assert!(
        !stdout(&o).contains("content differs:     big.bin"),
        "{}",
        stdout(&o)
    );
    assert!(
        stdout(&o).contains("only in destination:  extra.txt"),
        "{}",
        stdout(&o)
    );
    // Missing on the other side: the other way round.
    let o = compare(&[&dst, &src], &[]);
    assert!(
        stdout(&o).contains("only in source:       extra.txt"),
        "{}",
        stdout(&o)
    );
}

/// What cannot be read makes the exit code 2, whatever else was found.
#[test]
fn an_unreadable_folder_makes_the_comparison_incomplete() {
    need_root("switch to an unprivileged user");
    let t = shared_tempdir();
    let (src, dst) = (t.path().join("src"), t.path().join("dst"));
    write(src.join("open/a"), b"a");
    write(src.join("closed/b"), b"b");
    let o = batch(&[src.as_os_str(), dst.as_os_str()]);
    assert_eq!(code(&o), 0);
    chmod(dst.join("closed"), 0o700);
    let o = as_nobody(&[os("--compare"), src.as_os_str(), dst.as_os_str()]);
    assert_eq!(code(&o), 2, "{}{}", stdout(&o), stderr(&o));
    assert!(
        stderr(&o).contains("closed: cannot read: Permission denied"),
        "{}",
        stderr(&o)
    );
    assert!(
        stdout(&o).contains("Incomplete: 1 entries could not be read"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn compare_refuses_what_is_not_two_folders() {
    let t = tempfile::tempdir().unwrap();
    write(t.path().join("f"), b"x");
    let o = compare(&[&t.path().join("f"), t.path()], &[]);
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains("f: source is not a folder"),
        "{}",
        stderr(&o)
    );
    let o = compare(&[t.path(), &t.path().join("nope")], &[]);
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains("nope: destination does not exist"),
        "{}",
        stderr(&o)
    );
}
