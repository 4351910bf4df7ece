//! What a user checks after a copy: the tree is byte-for-byte the same, with modes,
//! times, owners and links; reruns change nothing; policies do what they say.

mod common;

use std::fs;
use std::os::unix::fs::{MetadataExt, symlink};
use std::path::Path;

use common::*;

/// A tree with everything a real folder can hold.
fn rich_tree(src: &Path) {
    write(src.join("top.txt"), b"top level\n");
    write(src.join(".hidden"), b"dot file");
    write(src.join("empty-file"), b"");
    write(src.join("a/b/c/deep.bin"), &data(1, 100_000));
    write(src.join("a/b/mid.txt"), b"middle");
    write(src.join("a/small.txt"), &data(2, 4096));
    fs::create_dir_all(src.join("empty/nested-empty")).unwrap();
    write(src.join("文件夹/ファイル.txt"), "中文 日本語".as_bytes());
    write(src.join(name(b"not-utf8-\xff\xfe")), b"odd name");
    write(src.join("line\nbreak"), b"newline in name");
    write(src.join("-leading-dash"), b"dash");
    write(src.join("glob[*]?.txt"), b"glob chars");
    write(src.join("x".repeat(255)), b"longest name");
    write(src.join("exec.sh"), b"#!/bin/sh\n");
    chmod(src.join("exec.sh"), 0o755);
    write(src.join("private"), b"secret");
    chmod(src.join("private"), 0o600);
    write(src.join("readonly"), b"ro");
    chmod(src.join("readonly"), 0o444);
    symlink("a/b/mid.txt", src.join("rel-link")).unwrap();
    symlink("/etc/hostname", src.join("abs-link")).unwrap();
    symlink("does/not/exist", src.join("dangling")).unwrap();
    symlink("../..", src.join("a/b/up-link")).unwrap();
    write(src.join("locked/inside.txt"), b"in a read-only folder");
    for (i, rel) in entries(src).iter().enumerate() {
        set_mtime(
            src.join(rel),
            1_000_000_000 + i as i64 * 1000,
            (i as i64 * 7_919) % 1_000_000_000,
        );
    }
    chmod(src.join("locked"), 0o555);
    chmod(src.join("a/b"), 0o750);
    set_mtime(src.join("locked"), 1_234_567_890, 123_456_789);
    set_mtime(src, 1_111_111_111, 1);
}

#[test]
fn copies_a_rich_tree_exactly() {
    let t = tempfile::tempdir().unwrap();
    let (src, dst) = (t.path().join("src"), t.path().join("dst"));
    rich_tree(&src);
    let o = batch(&[src.as_os_str(), dst.as_os_str()]);
    assert_eq!(code(&o), 0, "stderr: {}", stderr(&o));
    assert_same_tree(&src, &dst);
    assert!(
        stdout(&o).contains("Copied"),
        "a summary is printed: {}",
        stdout(&o)
    );
}

#[test]
fn dest_is_created_with_its_parents_and_merged_into_when_it_exists() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    write(src.join("new.txt"), b"new");
    let dst = t.path().join("x/y/z");
    assert_eq!(code(&batch(&[src.as_os_str(), dst.as_os_str()])), 0);
    assert_eq!(fs::read(dst.join("new.txt")).unwrap(), b"new");

    let existing = t.path().join("existing");
    write(existing.join("keep.txt"), b"user's file");
    assert_eq!(code(&batch(&[src.as_os_str(), existing.as_os_str()])), 0);
    assert_eq!(
        fs::read(existing.join("keep.txt")).unwrap(),
        b"user's file",
        "merge keeps other files"
    );
    assert_eq!(fs::read(existing.join("new.txt")).unwrap(), b"new");
}

#[test]
fn a_file_above_the_chunk_threshold_is_identical() {
    let t = tempfile::tempdir().unwrap();
    let (src, dst) = (t.path().join("src"), t.path().join("dst"));
    // 5 MiB + a tail, in 256 KiB chunks: 21 chunks, the last one short.
    write(src.join("big.bin"), &data(7, 5 * 1024 * 1024 + 12_345));
    write(src.join("small.txt"), b"beside it");
    chmod(src.join("big.bin"), 0o640);
    set_mtime(src.join("big.bin"), 1_500_000_000, 987_654_321);
    let o = batch(&[
        src.as_os_str(),
        dst.as_os_str(),
        os("--chunk-threshold=1048576"),
        os("--chunk-size=262144"),
        os("-j4"),
    ]);
    assert_eq!(code(&o), 0, "stderr: {}", stderr(&o));
    assert_same_tree(&src, &dst);
}

#[test]
fn rerun_changes_nothing() {
    let t = tempfile::tempdir().unwrap();
    let (src, dst) = (t.path().join("src"), t.path().join("dst"));
    rich_tree(&src);
    assert_eq!(code(&batch(&[src.as_os_str(), dst.as_os_str()])), 0);
    let inodes: Vec<u64> = entries(&dst)
        .iter()
        .map(|r| fs::symlink_metadata(dst.join(r)).unwrap().ino())
        .collect();

    let o = batch(&[src.as_os_str(), dst.as_os_str(), os("--json")]);
    assert_eq!(code(&o), 0, "stderr: {}", stderr(&o));
    let (_, summary) = json_lines(&o);
    assert_eq!(
        summary["files_copied"], 0,
        "nothing is copied again: {summary}"
    );
    assert_eq!(summary["symlinks"], 0, "no symlink is recreated: {summary}");
    assert!(summary["up_to_date"].as_u64().unwrap() >= 15, "{summary}");
    let after: Vec<u64> = entries(&dst)
        .iter()
        .map(|r| fs::symlink_metadata(dst.join(r)).unwrap().ino())
        .collect();
    assert_eq!(inodes, after, "no entry was replaced");
    assert_same_tree(&src, &dst);
}

fn conflict_setup(t: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let (src, dst) = (t.join("src"), t.join("dst"));
    write(src.join("older-in-dest.txt"), b"new source");
    set_mtime(src.join("older-in-dest.txt"), 2_000_000_000, 0);
    write(src.join("newer-in-dest.txt"), b"old source");
    set_mtime(src.join("newer-in-dest.txt"), 1_000_000_000, 0);
    write(src.join("fresh.txt"), b"only in source");
    write(dst.join("older-in-dest.txt"), b"old dest");
    set_mtime(dst.join("older-in-dest.txt"), 1_500_000_000, 0);
    write(dst.join("newer-in-dest.txt"), b"new dest");
    set_mtime(dst.join("newer-in-dest.txt"), 1_500_000_000, 0);
    (src, dst)
}

#[test]
fn conflict_skip_keeps_the_destination_and_exits_1() {
    let t = tempfile::tempdir().unwrap();
    let (src, dst) = conflict_setup(t.path());
    let o = batch(&[src.as_os_str(), dst.as_os_str()]);
    assert_eq!(code(&o), 1, "conflicts skipped make exit code 1");
    assert_eq!(
        fs::read(dst.join("older-in-dest.txt")).unwrap(),
        b"old dest"
    );
    assert_eq!(
        fs::read(dst.join("newer-in-dest.txt")).unwrap(),
        b"new dest"
    );
    assert_eq!(fs::read(dst.join("fresh.txt")).unwrap(), b"only in source");
    assert!(
        stdout(&o).contains("older-in-dest.txt: destination exists and differs"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn conflict_overwrite_replaces_and_exits_0() {
    let t = tempfile::tempdir().unwrap();
    let (src, dst) = conflict_setup(t.path());
    let o = batch(&[
        src.as_os_str(),
        dst.as_os_str(),
        os("--on-conflict=overwrite"),
    ]);
    assert_eq!(code(&o), 0, "stderr: {}", stderr(&o));
    assert_same_tree(&src, &dst);
}

#[test]
fn conflict_newer_replaces_only_older_destinations() {
    let t = tempfile::tempdir().unwrap();
    let (src, dst) = conflict_setup(t.path());
    let o = batch(&[
        src.as_os_str(),
        dst.as_os_str(),
        os("--on-conflict"),
        os("newer"),
    ]);
    assert_eq!(
        code(&o),
        1,
        "the kept newer destination is a skipped conflict"
    );
    assert_eq!(
        fs::read(dst.join("older-in-dest.txt")).unwrap(),
        b"new source"
    );
    assert_eq!(
        fs::read(dst.join("newer-in-dest.txt")).unwrap(),
        b"new dest"
    );
}

#[test]
fn a_folder_in_the_way_of_a_file_is_never_deleted() {
    let t = tempfile::tempdir().unwrap();
    let (src, dst) = (t.path().join("src"), t.path().join("dst"));
    write(src.join("thing"), b"a file in the source");
    write(dst.join("thing/precious.txt"), b"user data");
    let o = batch(&[
        src.as_os_str(),
        dst.as_os_str(),
        os("--on-conflict=overwrite"),
    ]);
    assert_eq!(code(&o), 1);
    assert_eq!(
        fs::read(dst.join("thing/precious.txt")).unwrap(),
        b"user data"
    );
}

#[test]
fn excluded_paths_are_not_copied() {
    let t = tempfile::tempdir().unwrap();
    let (src, dst) = (t.path().join("src"), t.path().join("dst"));
    write(src.join("keep.txt"), b"k");
    write(src.join("debug.log"), b"l");
    write(src.join("sub/trace.log"), b"l");
    write(src.join("target/build/out.o"), b"o");
    write(src.join("sub/keep.rs"), b"k");
    let o = batch(&[
        src.as_os_str(),
        dst.as_os_str(),
        os("--exclude=*.log"),
        os("--exclude"),
        os("target"),
    ]);
    assert_eq!(code(&o), 0, "stderr: {}", stderr(&o));
    let got: Vec<String> = entries(&dst)
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    assert_eq!(got, ["keep.txt", "sub", "sub/keep.rs"]);
}

#[test]
fn dry_run_writes_nothing_and_reports_what_it_would_do() {
    let t = tempfile::tempdir().unwrap();
    let (src, dst) = conflict_setup(t.path());
    let before = entries(&dst);
    let o = batch(&[
        src.as_os_str(),
        dst.as_os_str(),
        os("--dry-run"),
        os("--json"),
    ]);
    assert_eq!(code(&o), 1, "a dry run reports the conflicts it would skip");
    let (entries_json, summary) = json_lines(&o);
    assert_eq!(summary["files_copied"], 1, "{summary}");
    assert_eq!(summary["skipped"], 2, "{summary}");
    assert_eq!(summary["dry_run"], true);
    assert_eq!(entries_json.len(), 3);
    assert_eq!(entries(&dst), before, "nothing written");
    assert_eq!(
        fs::read(dst.join("older-in-dest.txt")).unwrap(),
        b"old dest"
    );

    let fresh = t.path().join("never-created");
    let o = batch(&[src.as_os_str(), fresh.as_os_str(), os("--dry-run")]);
    assert_eq!(code(&o), 0);
    assert!(
        !fresh.exists(),
        "a dry run does not even create the destination"
    );
    assert!(stdout(&o).contains("Would copy 3 files"), "{}", stdout(&o));
}

#[test]
fn symlinks_are_followed_with_dereference() {
    let t = tempfile::tempdir().unwrap();
    let (src, dst) = (t.path().join("src"), t.path().join("dst"));
    write(t.path().join("outside/target.txt"), b"pointed at");
    write(src.join("real.txt"), b"real");
    symlink(t.path().join("outside/target.txt"), src.join("link.txt")).unwrap();
    symlink(t.path().join("outside"), src.join("linked-dir")).unwrap();
    let o = batch(&[src.as_os_str(), dst.as_os_str(), os("-L")]);
    assert_eq!(code(&o), 0, "stderr: {}", stderr(&o));
    assert!(
        fs::symlink_metadata(dst.join("link.txt"))
            .unwrap()
            .is_file()
    );
    assert_eq!(fs::read(dst.join("link.txt")).unwrap(), b"pointed at");
    assert!(
        fs::symlink_metadata(dst.join("linked-dir"))
            .unwrap()
            .is_dir()
    );
    assert_eq!(
        fs::read(dst.join("linked-dir/target.txt")).unwrap(),
        b"pointed at"
    );
}

#[test]
fn a_symlink_loop_with_dereference_is_reported_and_the_rest_copied() {
    let t = tempfile::tempdir().unwrap();
    let (src, dst) = (t.path().join("src"), t.path().join("dst"));
    write(src.join("sub/file.txt"), b"f");
    symlink("..", src.join("sub/loop")).unwrap();
    let o = batch(&[src.as_os_str(), dst.as_os_str(), os("-L")]);
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("symlink loop"), "{}", stderr(&o));
    assert_eq!(fs::read(dst.join("sub/file.txt")).unwrap(), b"f");
}

/// A tree with a FIFO, a socket (bound by a listener), a character and a
/// block device, each with its own mode and time.
fn special_tree(src: &Path) {
    use rustix::fs::{CWD, FileType, mknodat};
    write(src.join("file.txt"), b"f");
    fs::create_dir_all(src.join("dev")).unwrap();
    mknodat(CWD, src.join("pipe"), FileType::Fifo, 0o640.into(), 0).unwrap();
    let listener = std::os::unix::net::UnixListener::bind(src.join("socket")).unwrap();
    drop(listener);
    let null = rustix::fs::makedev(1, 3);
    mknodat(
        CWD,
        src.join("dev/null"),
        FileType::CharacterDevice,
        0o666.into(),
        null,
    )
    .unwrap();
    let loop7 = rustix::fs::makedev(7, 200);
    mknodat(
        CWD,
        src.join("dev/loop200"),
        FileType::BlockDevice,
        0o660.into(),
        loop7,
    )
    .unwrap();
    for (i, p) in ["pipe", "socket", "dev/null", "dev/loop200", "dev"]
        .iter()
        .enumerate()
    {
        set_mtime(src.join(p), 1_500_000_000 + i as i64, 123);
    }
}

/// FIFOs, sockets and devices come out as `cp -a` makes them: the same kind
/// of node, for the same device, with its mode, owner and time; a FIFO is
/// never opened (the copy would hang); a rerun finds them up to date.
#[test]
fn special_files_are_made_again_with_their_metadata_and_never_opened() {
    need_root("make device nodes");
    let t = tempfile::tempdir().unwrap();
    let (src, dst) = (t.path().join("src"), t.path().join("dst"));
    special_tree(&src);
    rustix::fs::chownat(
        rustix::fs::CWD,
        src.join("pipe"),
        Some(rustix::fs::Uid::from_raw(65534)),
        Some(rustix::fs::Gid::from_raw(65534)),
        rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
    )
    .unwrap();
    let o = batch(&[src.as_os_str(), dst.as_os_str(), os("--json")]);
    assert_eq!(code(&o), 0, "stderr: {}", stderr(&o));
    let (_, summary) = json_lines(&o);
    assert_eq!(summary["specials"], 4, "{summary}");
    assert_same_tree(&src, &dst);
    let again = batch(&[src.as_os_str(), dst.as_os_str(), os("--json")]);
    assert_eq!(code(&again), 0, "{}", stderr(&again));
    let (_, summary) = json_lines(&again);
    assert_eq!(summary["specials"], 0, "{summary}");
    assert_eq!(summary["up_to_date"], 5, "{summary}");
}

/// Not root, the device nodes cannot be made: said once per kind, exit 1;
/// the FIFO and the socket are made.
#[test]
fn devices_that_cannot_be_made_are_said_once_per_kind() {
    need_root("make the device nodes of the source");
    let t = shared_tempdir();
    let (src, dst) = (t.path().join("src"), t.path().join("dst"));
    special_tree(&src);
    for d in 1..=2 {
        let at = src.join(format!("dev/more{d}"));
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &at,
            rustix::fs::FileType::CharacterDevice,
            0o666.into(),
            rustix::fs::makedev(1, 5),
        )
        .unwrap();
    }
    let o = as_nobody(&[src.as_os_str(), dst.as_os_str()]);
    assert_eq!(code(&o), 1, "{}{}", stdout(&o), stderr(&o));
    let said = stderr(&o);
    assert_eq!(
        said.matches("character devices not copied").count(),
        1,
        "{said}"
    );
    assert!(
        said.contains("3 character devices not copied: making device nodes takes root"),
        "{said}"
    );
    assert!(said.contains("1 block devices not copied"), "{said}");
    let ft = |p: &str| fs::symlink_metadata(dst.join(p)).unwrap().file_type();
    use std::os::unix::fs::FileTypeExt;
    assert!(ft("pipe").is_fifo() && ft("socket").is_socket());
    assert!(!dst.join("dev/null").exists() && !dst.join("dev/loop200").exists());
}

#[test]
fn hard_links_stay_hard_links() {
    let t = tempfile::tempdir().unwrap();
    let (src, dst) = (t.path().join("src"), t.path().join("dst"));
    write(src.join("one.txt"), b"shared");
    fs::hard_link(src.join("one.txt"), src.join("two.txt")).unwrap();
    write(src.join("sub/x"), b"");
    fs::hard_link(src.join("one.txt"), src.join("sub/three.txt")).unwrap();
    let o = batch(&[src.as_os_str(), dst.as_os_str()]);
    assert_eq!(code(&o), 0, "stderr: {}", stderr(&o));
    let ino = |p: &str| fs::metadata(dst.join(p)).unwrap().ino();
    assert_eq!(ino("one.txt"), ino("two.txt"));
    assert_eq!(ino("one.txt"), ino("sub/three.txt"));
    assert_eq!(fs::metadata(dst.join("one.txt")).unwrap().nlink(), 3);
    assert_same_tree(&src, &dst);
}

#[test]
fn sparse_files_stay_sparse() {
    let t = tempfile::tempdir().unwrap();
    let (src, dst) = (t.path().join("src"), t.path().join("dst"));
    fs::create_dir(&src).unwrap();
    let f = fs::File::create(src.join("sparse.img")).unwrap();
    f.set_len(100 * 1024 * 1024).unwrap();
    rustix::io::pwrite(&f, &data(3, 4096), 50 * 1024 * 1024).unwrap();
    drop(f);
    let o = batch(&[src.as_os_str(), dst.as_os_str()]);
    assert_eq!(code(&o), 0, "stderr: {}", stderr(&o));
    assert_same_tree(&src, &dst);
    let blocks = fs::metadata(dst.join("sparse.img")).unwrap().blocks() * 512;
    assert!(
        blocks <= 1024 * 1024,
        "the copy allocates {blocks} bytes for 4 KiB of data"
    );
}

#[test]
fn ownership_is_kept_when_run_as_root() {
    need_root("give files away");
    let t = tempfile::tempdir().unwrap();
    let (src, dst) = (t.path().join("src"), t.path().join("dst"));
    write(src.join("sub/owned.txt"), b"o");
    symlink("owned.txt", src.join("sub/link")).unwrap();
    std::os::unix::fs::lchown(src.join("sub/owned.txt"), Some(1234), Some(5678)).unwrap();
    std::os::unix::fs::lchown(src.join("sub/link"), Some(4321), Some(8765)).unwrap();
    std::os::unix::fs::lchown(src.join("sub"), Some(1111), Some(2222)).unwrap();
    write(src.join("setuid"), b"s");
    std::os::unix::fs::lchown(src.join("setuid"), Some(1000), Some(1000)).unwrap();
    chmod(src.join("setuid"), 0o4755);
    let o = batch(&[src.as_os_str(), dst.as_os_str()]);
    assert_eq!(code(&o), 0, "stderr: {}", stderr(&o));
    assert_same_tree(&src, &dst);
}
