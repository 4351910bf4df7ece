//! `--mirror` through the real binary: DEST comes out identical to SOURCE,
//! and every rule that guards its deletions holds (nothing after a failure,
//! a cap, an empty source, a dry run, a backup folder, never through a
//! symlink or into another mount). rsync's delete tests, in our own words.

mod common;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

/// A source and a destination that is an older, drifted copy of it: files
/// that differ, entries the source no longer has (a folder of them too), a
/// folder where the source has a file and a file where it has a folder, a
/// symlink to a folder outside, and an entry an exclude protects.
struct Drifted {
    _t: tempfile::TempDir,
    root: PathBuf,
    src: PathBuf,
    dst: PathBuf,
}

fn drifted() -> Drifted {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().to_path_buf();
    let (src, dst) = (root.join("src"), root.join("dst"));
    write(src.join("keep.txt"), b"same");
    write(src.join("changed.txt"), b"new contents");
    write(src.join("sub/a.txt"), &data(1, 3000));
    write(src.join("was-folder"), b"a file now");
    write(src.join("was-file/inner.txt"), b"a folder now");
    fs::create_dir_all(src.join("empty")).unwrap();
    // The destination: a copy, then drift.
    cp_a(&src, &dst);
    write(dst.join("changed.txt"), b"old");
    write(dst.join("stale.txt"), b"gone from the source");
    write(dst.join("old/deep/er.txt"), &data(2, 5000));
    write(dst.join("sub/stale.bin"), b"x");
    fs::remove_file(dst.join("was-folder")).unwrap();
    write(dst.join("was-folder/in.txt"), b"in the way");
    fs::remove_dir_all(dst.join("was-file")).unwrap();
    write(dst.join("was-file"), b"in the way");
    write(dst.join("notes.keep"), b"excluded: left alone");
    let outside = root.join("outside");
    write(outside.join("precious.txt"), b"not under DEST");
    symlink(&outside, dst.join("link-out")).unwrap();
    Drifted {
        _t: t,
        root,
        src,
        dst,
    }
}

/// The drifted pair again, in a folder user nobody can enter, owned by
/// nobody: for runs that must fail on what only root may read.
fn drifted_for_nobody(d: &Drifted) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let t = shared_tempdir();
    let (src, dst) = (t.path().join("src"), t.path().join("dst"));
    for (from, to) in [(&d.src, &src), (&d.dst, &dst)] {
        cp_a(from, to);
        let ok = Command::new("chown")
            .args(["-R", "-h", "65534:65534"])
            .arg(to)
            .status()
            .unwrap();
        assert!(ok.success());
    }
    (t, src, dst)
}

fn mirror(args: &[&str], src: &Path, dst: &Path) -> std::process::Output {
    convoy()
        .args(["--batch", "--mirror"])
        .args(args)
        .arg(src)
        .arg(dst)
        .output()
        .unwrap()
}

#[test]
fn a_mirror_makes_dest_identical_and_deletes_only_what_the_source_lacks() {
    let d = drifted();
    let o = mirror(&["--exclude", "*.keep"], &d.src, &d.dst);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("Deleted: 8 entries"),
        "the count, folders' contents included: {out}"
    );
    for line in [
        "link-out (symlink)",
        "old/ (folder, 3 entries",
        "stale.txt (20 B)",
    ] {
        assert!(out.contains(line), "{line:?} listed: {out}");
    }
    assert_eq!(
        fs::read(d.dst.join("notes.keep")).unwrap(),
        b"excluded: left alone"
    );
    assert_eq!(
        fs::read(d.root.join("outside/precious.txt")).unwrap(),
        b"not under DEST",
        "a symlink is removed, never followed"
    );
    let cmp = convoy()
        .args(["--batch", "--compare", "--exclude", "*.keep"])
        .arg(&d.src)
        .arg(&d.dst)
        .output()
        .unwrap();
    assert_eq!(code(&cmp), 0, "identical: {}", stdout(&cmp));
    // A rerun has nothing to do and changes nothing.
    let before = stat_all(&d.dst);
    let o = mirror(&["--exclude", "*.keep"], &d.src, &d.dst);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stdout(&o).contains("Mirror: nothing to delete"),
        "{}",
        stdout(&o)
    );
    assert_unchanged(&before, &stat_all(&d.dst), "a rerun of a mirror");
}

#[test]
fn a_mirror_reports_its_plan_and_each_deletion_as_json() {
    let d = drifted();
    let o = mirror(&["--json", "--exclude", "*.keep"], &d.src, &d.dst);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let lines: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let plan = lines
        .iter()
        .find(|v| v["type"] == "mirror_plan")
        .expect("a plan line");
    assert_eq!(plan["entries"], 8);
    let deleted: Vec<&serde_json::Value> =
        lines.iter().filter(|v| v["type"] == "deleted").collect();
    assert_eq!(deleted.len(), plan["doomed"].as_array().unwrap().len());
    assert!(deleted.iter().all(|v| v["outcome"] == "deleted"));
    let old = deleted
        .iter()
        .find(|v| v["path"].as_str().unwrap().ends_with("/old"))
        .unwrap();
    assert_eq!(
        (old["kind"].as_str(), old["entries"].as_u64()),
        (Some("dir"), Some(3))
    );
    let summary = lines.last().unwrap();
    assert_eq!(
        (summary["type"].as_str(), summary["deleted"].as_u64()),
        (Some("summary"), Some(8))
    );
    // The file the folder was in the way of comes after the folder went.
    let plan_at = lines
        .iter()
        .position(|v| v["type"] == "mirror_plan")
        .unwrap();
    let was_folder = lines
        .iter()
        .position(|v| v["type"] == "entry" && v["path"] == "was-folder")
        .expect("an entry for the file a folder was in the way of");
    assert!(was_folder > plan_at);
    assert_eq!(lines[was_folder]["outcome"], "copied");
}

#[test]
fn a_dry_run_lists_every_deletion_and_changes_nothing() {
    let d = drifted();
    let before = stat_all(&d.dst);
    let o = mirror(&["--dry-run"], &d.src, &d.dst);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("Would delete: 9 entries"), "{out}");
    for line in [
        "link-out (symlink)",
        "notes.keep (20 B)",
        "old/ (folder, 3 entries",
        "stale.txt (20 B)",
        "sub/stale.bin (1 B)",
        "was-folder/ (folder, 2 entries",
    ] {
        assert!(out.contains(line), "{line:?} listed: {out}");
    }
    assert_unchanged(&before, &stat_all(&d.dst), "a dry run");
}

#[test]
fn nothing_is_deleted_after_an_entry_fails() {
    let d = drifted();
    // A file only root may read: the copy as nobody fails on it.
    let (_t, src, dst) = drifted_for_nobody(&d);
    write(src.join("secret.txt"), b"root only");
    chmod(src.join("secret.txt"), 0o600);
    std::os::unix::fs::chown(src.join("secret.txt"), Some(0), Some(0)).unwrap();
    let before = stat_all(&dst);
    let o = as_nobody(&[os("--mirror"), src.as_os_str(), dst.as_os_str()]);
    assert_eq!(code(&o), 1, "{}{}", stdout(&o), stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("mirror: nothing deleted, because something went wrong before:")
            && err.contains("secret.txt"),
        "the reason, naming what failed: {err}"
    );
    for extra in [
        "stale.txt",
        "old/deep/er.txt",
        "sub/stale.bin",
        "was-folder/in.txt",
    ] {
        assert!(dst.join(extra).exists(), "{extra} kept");
        assert_eq!(
            before.get(Path::new(extra)),
            stat_all(&dst).get(Path::new(extra))
        );
    }
    assert!(
        stdout(&o).contains("a folder is in the way at the destination"),
        "the file a folder is in the way of is said to be left: {}",
        stdout(&o)
    );
    // Once the source reads, the next run finishes the mirror.
    fs::remove_file(src.join("secret.txt")).unwrap();
    let o = as_nobody(&[os("--mirror"), src.as_os_str(), dst.as_os_str()]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert!(!dst.join("stale.txt").exists() && !dst.join("old").exists());
}

#[test]
fn nothing_is_deleted_when_a_source_folder_cannot_be_read() {
    let d = drifted();
    let (_t, src, dst) = drifted_for_nobody(&d);
    // The source's `sub` cannot be listed: its copy's extra file must stay,
    // and so must everything else.
    std::os::unix::fs::chown(src.join("sub"), Some(0), Some(0)).unwrap();
    chmod(src.join("sub"), 0o700);
    let o = as_nobody(&[os("--mirror"), src.as_os_str(), dst.as_os_str()]);
    assert_eq!(code(&o), 1, "{}{}", stdout(&o), stderr(&o));
    assert!(
        stderr(&o).contains("mirror: nothing deleted"),
        "{}",
        stderr(&o)
    );
    assert!(dst.join("sub/stale.bin").exists() && dst.join("sub/a.txt").exists());
    assert!(dst.join("stale.txt").exists() && dst.join("old/deep/er.txt").exists());
}

#[test]
fn more_than_max_delete_deletes_none_and_at_most_deletes_all() {
    let d = drifted();
    let o = mirror(&["--max-delete", "8"], &d.src, &d.dst);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(
        stderr(&o).contains(
            "mirror: nothing deleted, because 9 entries would be deleted, more than --max-delete 8"
        ),
        "{}",
        stderr(&o)
    );
    assert!(d.dst.join("stale.txt").exists() && d.dst.join("old/deep/er.txt").exists());
    assert!(
        d.dst.join("was-folder/in.txt").exists(),
        "nor the folder in the way"
    );
    let o = mirror(&["--max-delete", "9"], &d.src, &d.dst);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_same_tree(&d.src, &d.dst);
}

#[test]
fn a_source_that_lists_empty_does_not_empty_dest_unless_allowed() {
    let d = drifted();
    let empty = d.root.join("empty-src");
    fs::create_dir_all(&empty).unwrap();
    let before = stat_all(&d.dst);
    let o = mirror(&[], &empty, &d.dst);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("the source lists empty and 15 entries would be deleted; if that is meant, give --max-delete 15"),
        "{}",
        stderr(&o)
    );
    let after = stat_all(&d.dst);
    assert_eq!(before.len(), after.len(), "nothing deleted");
    let o = mirror(&["--max-delete", "15"], &empty, &d.dst);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(entries(&d.dst).is_empty());
    assert!(d.root.join("outside/precious.txt").exists());
}

#[test]
fn a_backup_folder_keeps_what_is_deleted_and_replaced_under_its_path() {
    let d = drifted();
    let keep = d.root.join("keep");
    let o = mirror(&["--backup-dir", keep.to_str().unwrap()], &d.src, &d.dst);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("Moved into the backup folder: 9 entries"),
        "{}",
        stdout(&o)
    );
    assert_same_tree(&d.src, &d.dst);
    for (rel, bytes) in [
        ("changed.txt", &b"old"[..]),
        ("stale.txt", b"gone from the source"),
        ("sub/stale.bin", b"x"),
        ("was-folder/in.txt", b"in the way"),
        ("was-file", b"in the way"),
        ("notes.keep", b"excluded: left alone"),
    ] {
        assert_eq!(
            fs::read(keep.join(rel)).unwrap(),
            bytes,
            "{rel} kept in the backup"
        );
    }
    assert_eq!(
        fs::read(keep.join("old/deep/er.txt")).unwrap(),
        data(2, 5000)
    );
    assert!(
        fs::symlink_metadata(keep.join("link-out"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    // A second drift and run: the earlier backups are never replaced.
    write(d.dst.join("stale.txt"), b"again");
    let o = mirror(&["--backup-dir", keep.to_str().unwrap()], &d.src, &d.dst);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        fs::read(keep.join("stale.txt")).unwrap(),
        b"gone from the source"
    );
    assert_eq!(fs::read(keep.join("stale.txt~1")).unwrap(), b"again");
}

#[test]
fn a_backup_folder_inside_dest_is_left_alone_and_one_elsewhere_is_refused() {
    let d = drifted();
    let inside = d.dst.join("backups");
    let o = mirror(&["--backup-dir", inside.to_str().unwrap()], &d.src, &d.dst);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        fs::read(inside.join("stale.txt")).unwrap(),
        b"gone from the source"
    );
    let o = mirror(&["--backup-dir", inside.to_str().unwrap()], &d.src, &d.dst);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        inside.join("stale.txt").exists(),
        "a rerun keeps the backups"
    );
    // Inside the source: the copy would take it.
    let o = mirror(
        &["--backup-dir", d.src.join("b").to_str().unwrap()],
        &d.src,
        &d.dst,
    );
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("cannot be the backup folder: it is inside the source"));
    // On another filesystem: it could not be renamed into.
    let shm = Path::new("/dev/shm");
    if shm.is_dir() && fs::metadata(shm).unwrap().dev() != fs::metadata(&d.dst).unwrap().dev() {
        let other = tempfile::tempdir_in(shm).unwrap();
        let before = stat_all(&d.dst);
        let o = mirror(
            &["--backup-dir", other.path().to_str().unwrap()],
            &d.src,
            &d.dst,
        );
        assert_eq!(code(&o), 2, "{}", stderr(&o));
        assert!(
            stderr(&o).contains("on another filesystem"),
            "{}",
            stderr(&o)
        );
        assert_unchanged(&before, &stat_all(&d.dst), "a refused run");
    }
}

use std::os::unix::fs::MetadataExt;

#[test]
fn a_mount_point_under_dest_is_never_crossed() {
    need_root("mount a tmpfs under the destination");
    let d = drifted();
    let mounts = [d.dst.join("old/deep"), d.dst.join("mounted")];
    fs::create_dir_all(&mounts[1]).unwrap();
    for m in &mounts {
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "tmpfs"])
            .arg(m)
            .status()
            .unwrap();
        assert!(ok.success());
        write(m.join("on-the-mount.txt"), b"another filesystem");
    }
    let o = mirror(&[], &d.src, &d.dst);
    for m in &mounts {
        let _ = Command::new("umount").arg(m).status();
    }
    assert_eq!(code(&o), 1, "{}{}", stdout(&o), stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("old/deep: not deleted: it is or holds a mount point")
            && err.contains("mounted: not deleted"),
        "{err}"
    );
    assert!(!d.dst.join("stale.txt").exists(), "the rest is deleted");
}

#[test]
fn a_mirror_refuses_a_source_inside_its_destination() {
    let t = tempfile::tempdir().unwrap();
    write(t.path().join("dst/src/a.txt"), b"a");
    write(t.path().join("dst/other.txt"), b"o");
    let o = mirror(&[], &t.path().join("dst/src"), &t.path().join("dst"));
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("the source is inside the destination"),
        "{}",
        stderr(&o)
    );
    assert!(t.path().join("dst/other.txt").exists() && t.path().join("dst/src/a.txt").exists());
}

#[test]
fn a_mirror_of_several_sources_deletes_only_inside_each() {
    let t = tempfile::tempdir().unwrap();
    write(t.path().join("a/x.txt"), b"x");
    write(t.path().join("b/y.txt"), b"y");
    let dst = t.path().join("dst");
    write(dst.join("a/stale.txt"), b"s");
    write(dst.join("beside.txt"), b"not part of the mirror");
    let o = convoy()
        .args(["--batch", "--mirror"])
        .arg(t.path().join("a"))
        .arg(t.path().join("b"))
        .arg(&dst)
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(!dst.join("a/stale.txt").exists());
    assert!(
        dst.join("beside.txt").exists(),
        "DEST holds the sources, it is not their mirror"
    );
    assert_eq!(fs::read(dst.join("b/y.txt")).unwrap(), b"y");
}

#[test]
fn mirror_options_that_contradict_are_refused() {
    let t = tempfile::tempdir().unwrap();
    write(t.path().join("s/a"), b"a");
    for args in [
        &["--mirror", "--move"][..],
        &["--mirror", "--on-conflict", "skip"],
        &["--max-delete", "3"],
    ] {
        let o = convoy()
            .arg("--batch")
            .args(args)
            .arg(t.path().join("s"))
            .arg(t.path().join("d"))
            .output()
            .unwrap();
        assert_eq!(code(&o), 2, "{args:?}: {}", stderr(&o));
        assert!(!t.path().join("d").exists());
    }
}

/// rsync's delete test: a dry run's list of deletions is the real run's.
#[test]
fn a_dry_run_names_exactly_what_the_real_run_deletes() {
    let d = drifted();
    let all = |o: &std::process::Output| -> Vec<serde_json::Value> {
        stdout(o)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let plan = |o: &std::process::Output| -> Vec<String> {
        let lines = all(o);
        let plan = lines
            .iter()
            .find(|v| v["type"] == "mirror_plan")
            .expect("a plan line");
        let mut doomed: Vec<String> = plan["doomed"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["path"].as_str().unwrap().to_string())
            .collect();
        doomed.sort();
        doomed
    };
    let o = mirror(&["--json", "--dry-run"], &d.src, &d.dst);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let would = plan(&o);
    let o = mirror(&["--json"], &d.src, &d.dst);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let mut deleted: Vec<String> = all(&o)
        .iter()
        .filter(|v| v["type"] == "deleted")
        .map(|v| v["path"].as_str().unwrap().to_string())
        .collect();
    deleted.sort();
    assert_eq!(would, plan(&o));
    assert_eq!(would, deleted, "the dry run named what the run deleted");
    assert_eq!(would.len(), 6, "top-level entries: {would:?}");
}

/// rsync's delete-deep test: extras deep in the tree go, every file the
/// source has stays byte for byte.
#[test]
fn deep_extras_go_and_everything_the_source_has_stays() {
    let t = tempfile::tempdir().unwrap();
    let (src, dst) = (t.path().join("src"), t.path().join("dst"));
    let mut files = Vec::new();
    for a in 0..3 {
        for b in 0..3 {
            for c in 0..3 {
                let rel = format!("d{a}/d{b}/d{c}/f{a}{b}{c}");
                write(src.join(&rel), &data((a * 9 + b * 3 + c) as u64, 700));
                files.push(rel);
            }
        }
    }
    cp_a(&src, &dst);
    write(dst.join("d1/d2/extra/junk"), b"x");
    write(dst.join("d1/d2/orphan"), b"y");
    write(dst.join("d2/d0/d1/orphan"), b"z");
    let o = mirror(&[], &src, &dst);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    for gone in ["d1/d2/extra", "d1/d2/orphan", "d2/d0/d1/orphan"] {
        assert!(fs::symlink_metadata(dst.join(gone)).is_err(), "{gone}");
    }
    for rel in &files {
        assert_eq!(
            fs::read(dst.join(rel)).unwrap(),
            fs::read(src.join(rel)).unwrap()
        );
    }
    assert_same_tree(&src, &dst);
}

/// rsync's backup-dir symlink tests: a symlink planted inside the backup
/// folder, pointing outside, is never written through; what it would have
/// kept is not replaced, and nothing is deleted.
#[test]
fn a_symlink_planted_in_the_backup_folder_is_never_followed() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path();
    let (src, dst, bak, outside) = (
        root.join("src"),
        root.join("dst"),
        root.join("bak"),
        root.join("outside"),
    );
    for i in 0..3 {
        write(src.join(format!("sub/f{i}")), b"new contents");
        write(dst.join(format!("sub/f{i}")), b"old");
        write(outside.join(format!("f{i}")), b"do not touch");
    }
    write(dst.join("sub/extra"), b"extra");
    fs::create_dir_all(&bak).unwrap();
    symlink(&outside, bak.join("sub")).unwrap();
    let before = stat_all(&outside);
    let o = mirror(&["--backup-dir", bak.to_str().unwrap()], &src, &dst);
    assert_eq!(code(&o), 1, "{}{}", stdout(&o), stderr(&o));
    assert!(
        stderr(&o).contains("mirror: nothing deleted"),
        "{}",
        stderr(&o)
    );
    assert_unchanged(&before, &stat_all(&outside), "outside the backup folder");
    for i in 0..3 {
        assert_eq!(fs::read(dst.join(format!("sub/f{i}"))).unwrap(), b"old");
    }
    assert_eq!(fs::read(dst.join("sub/extra")).unwrap(), b"extra");
}
