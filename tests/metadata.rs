//! Metadata as cp -a keeps it, and the corner cases where a careless copy
//! grants, leaks or loses something: holes in small files, set-id bits a copy
//! cannot rightly keep, a destination that is private while it is filled, a
//! set-gid destination folder, an update inside a read-only folder, and one
//! file reached twice through -L.

mod common;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::Path;
use std::process::Command;

use common::*;

#[test]
fn small_sparse_files_keep_their_holes() {
    let t = tempfile::tempdir().unwrap();
    let (src, dst) = (t.path().join("src"), t.path().join("dst"));
    fs::create_dir_all(&src).unwrap();
    fs::File::create(src.join("all-hole"))
        .unwrap()
        .set_len(200 * 1024)
        .unwrap();
    let one = fs::File::create(src.join("one-byte")).unwrap();
    one.set_len(128 * 1024).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&one, b"x", 100_000).unwrap();
    drop(one);
    let o = batch(&[src.as_os_str(), dst.as_os_str()]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_same_tree(&src, &dst);
    assert_eq!(
        fs::metadata(dst.join("all-hole")).unwrap().blocks(),
        0,
        "all hole stays all hole"
    );
    assert!(
        fs::metadata(dst.join("one-byte")).unwrap().blocks() <= 8,
        "one byte of data takes one block, not 128 KiB"
    );
}

#[test]
fn set_id_bits_that_would_grant_the_copier_s_identity_are_dropped() {
    let t = shared_tempdir();
    let (src, dst) = (t.path().join("src"), t.path().join("dst"));
    write(src.join("roots-tool"), b"#!/bin/sh\n");
    chmod(src.join("roots-tool"), 0o6755);
    write(src.join("own-tool"), b"#!/bin/sh\n");
    std::os::unix::fs::chown(src.join("own-tool"), Some(65534), Some(65534)).unwrap();
    chmod(src.join("own-tool"), 0o6755);
    chmod(&src, 0o755);
    let o = as_nobody(&[src.as_os_str(), dst.as_os_str()]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let mode = |n: &str| fs::metadata(dst.join(n)).unwrap().mode() & 0o7777;
    assert_eq!(
        mode("roots-tool"),
        0o755,
        "root's set-id tool copied by nobody is nobody's: no set-id bits"
    );
    assert_eq!(
        mode("own-tool"),
        0o6755,
        "nobody's own set-id tool keeps them"
    );
}

#[test]
fn the_destination_is_private_while_it_is_filled() {
    let t = tempfile::tempdir().unwrap();
    let (src, dst) = (t.path().join("src"), t.path().join("dst"));
    write(src.join("secret/names.txt"), b"private");
    chmod(&src, 0o700);
    // Killed at its first folder, right after the destination was made.
    let o = Command::new("strace")
        .args(["-f", "-qq", "-o", "/dev/null", "-e", "trace=mkdirat"])
        .args([
            "-e",
            "inject=mkdirat:signal=SIGKILL:when=1",
            "--",
            BIN,
            "--batch",
        ])
        .args([&src, &dst])
        .output()
        .expect("strace runs (apt-get install strace)");
    assert!(!o.status.success());
    let mode = fs::metadata(&dst).unwrap().mode() & 0o777;
    assert_eq!(mode & 0o077, 0, "made private first, not {mode:o}");
    let o = batch(&[src.as_os_str(), dst.as_os_str()]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_same_tree(&src, &dst);
}

#[test]
fn a_set_gid_destination_folder_does_not_change_the_copies_group() {
    need_root("own files as other groups");
    let t = tempfile::tempdir().unwrap();
    let (src, dst) = (t.path().join("src"), t.path().join("dst"));
    write(src.join("f.txt"), b"root's");
    write(src.join("sub/g.txt"), b"root's too");
    fs::create_dir_all(&dst).unwrap();
    std::os::unix::fs::chown(&dst, None, Some(100)).unwrap();
    fs::set_permissions(&dst, fs::Permissions::from_mode(0o2775)).unwrap();
    let o = batch(&[src.as_os_str(), dst.as_os_str()]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_same_tree(&src, &dst);
    assert_eq!(fs::metadata(dst.join("f.txt")).unwrap().gid(), 0);
}

#[test]
fn an_update_inside_a_read_only_folder_goes_through_and_the_folder_stays_read_only() {
    let t = shared_tempdir();
    let (src, dst) = (t.path().join("src"), t.path().join("dst"));
    write(src.join("locked/f.txt"), b"version 1");
    for p in [&src, &src.join("locked")] {
        std::os::unix::fs::chown(p, Some(65534), Some(65534)).unwrap();
    }
    std::os::unix::fs::chown(src.join("locked/f.txt"), Some(65534), Some(65534)).unwrap();
    chmod(src.join("locked"), 0o500);
    let o = as_nobody(&[src.as_os_str(), dst.as_os_str()]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    chmod(src.join("locked"), 0o700);
    write(src.join("locked/f.txt"), b"version 2, longer");
    chmod(src.join("locked"), 0o500);
    let o = as_nobody(&[
        src.as_os_str(),
        dst.as_os_str(),
        os("--on-conflict=overwrite"),
    ]);
    assert_eq!(code(&o), 0, "the update goes through: {}", stderr(&o));
    assert_eq!(
        fs::read(dst.join("locked/f.txt")).unwrap(),
        b"version 2, longer"
    );
    assert_eq!(
        fs::metadata(dst.join("locked")).unwrap().mode() & 0o777,
        0o500,
        "and the folder is read-only again"
    );
}

#[test]
fn with_dereference_a_symlink_and_its_file_stay_one_file() {
    let t = tempfile::tempdir().unwrap();
    let (src, dst) = (t.path().join("src"), t.path().join("dst"));
    write(src.join("real.txt"), &data(1, 5000));
    symlink("real.txt", src.join("alias")).unwrap();
    let o = batch(&[src.as_os_str(), dst.as_os_str(), os("-L")]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let (a, b) = (
        fs::symlink_metadata(dst.join("real.txt")).unwrap(),
        fs::symlink_metadata(dst.join("alias")).unwrap(),
    );
    assert!(b.is_file(), "the link is followed");
    assert_eq!(
        a.ino(),
        b.ino(),
        "one file under two names, as cp -a -L makes it"
    );
    assert_eq!(fs::read(dst.join("alias")).unwrap(), data(1, 5000));
    let _ = Path::new("");
}

/// A rerun finds files whose bytes are up to date but whose owner or mode is
/// not the source's (left out then, or changed since) and sets them in place,
/// copying nothing; the next rerun has nothing to do.
#[test]
fn a_rerun_repairs_owners_and_modes_without_copying() {
    need_root("give files to other owners");
    let t = tempfile::tempdir().unwrap();
    let (src, dst) = (t.path().join("src"), t.path().join("dst"));
    write(src.join("a.txt"), b"a");
    write(src.join("sub/b.txt"), b"b");
    chmod(src.join("a.txt"), 0o640);
    rustix::fs::chown(
        src.join("sub/b.txt"),
        Some(rustix::fs::Uid::from_raw(65534)),
        Some(rustix::fs::Gid::from_raw(65534)),
    )
    .unwrap();
    // The first copy leaves owners out; then someone changes a mode.
    let o = convoy()
        .args(["--batch", "--no-preserve", "owner"])
        .arg(&src)
        .arg(&dst)
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(fs::metadata(dst.join("sub/b.txt")).unwrap().uid(), 0);
    chmod(dst.join("a.txt"), 0o666);
    let o = convoy()
        .args(["--batch", "--json"])
        .arg(&src)
        .arg(&dst)
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let (_, summary) = json_lines(&o);
    assert_eq!(
        summary["files_copied"], 0,
        "nothing copied again: {summary}"
    );
    assert!(
        stderr(&o).contains("2 files up to date had another owner, mode or attributes"),
        "{}",
        stderr(&o)
    );
    assert_same_tree(&src, &dst);
    let o = batch(&[src.as_os_str(), dst.as_os_str()]);
    assert_eq!(code(&o), 0);
    assert!(!stderr(&o).contains("set in place"), "{}", stderr(&o));
}

/// A rerun makes the extended attributes and ACLs of files whose bytes are
/// up to date the source's: one the first copy left out is added, one
/// changed since is set back, one the source does not have is removed;
/// nothing is copied again, and the next rerun has nothing to do.
#[test]
fn a_rerun_repairs_extended_attributes_and_acls_without_copying() {
    need("setfacl", "acl");
    let t = tempfile::tempdir().unwrap();
    let (src, dst) = (t.path().join("src"), t.path().join("dst"));
    write(src.join("a.txt"), b"a");
    write(src.join("b.txt"), b"b");
    write(src.join("c.txt"), b"c");
    let setx = |p: &Path, name: &str, value: &[u8]| {
        rustix::fs::setxattr(p, name, value, rustix::fs::XattrFlags::empty()).unwrap()
    };
    setx(&src.join("a.txt"), "user.comment", b"from the source");
    setx(&src.join("b.txt"), "user.kept", b"yes");
    let acl = Command::new("setfacl")
        .args(["-m", "u:65534:r"])
        .arg(src.join("c.txt"))
        .status()
        .unwrap();
    assert!(acl.success());
    // The first copy leaves attributes and ACLs out; then someone adds one.
    let o = convoy()
        .args(["--batch", "--no-preserve", "xattr,acl"])
        .arg(&src)
        .arg(&dst)
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    setx(&dst.join("b.txt"), "user.stray", b"not in the source");
    let o = convoy()
        .args(["--batch", "--json"])
        .arg(&src)
        .arg(&dst)
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let (_, summary) = json_lines(&o);
    assert_eq!(
        summary["files_copied"], 0,
        "nothing copied again: {summary}"
    );
    assert!(
        stderr(&o).contains("3 files up to date had another owner, mode or attributes"),
        "{}",
        stderr(&o)
    );
    assert_same_tree(&src, &dst);
    let o = batch(&[src.as_os_str(), dst.as_os_str()]);
    assert_eq!(code(&o), 0);
    assert!(!stderr(&o).contains("set in place"), "{}", stderr(&o));
}
