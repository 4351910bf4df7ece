//! `--move` held to what coreutils' `tests/mv` asks of `mv`, in our own
//! words: into itself and a source named twice are refused, a file moved
//! onto its own hard link is never lost, symlinks move as links and a
//! destination symlink is replaced, never written through, hard links and
//! modes cross filesystems, a source that cannot be removed stays (said),
//! special files are made again, and many files cross on few descriptors.

mod common;

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

/// A tmpfs mounted in a temporary folder: another filesystem, so a move
/// copies and removes instead of renaming.
struct OtherFs {
    _t: tempfile::TempDir,
    mnt: PathBuf,
}

impl OtherFs {
    fn new() -> OtherFs {
        need_root("mount a tmpfs as another filesystem");
        let t = tempfile::tempdir().unwrap();
        let mnt = t.path().join("mnt");
        fs::create_dir_all(&mnt).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=64m", "convoy-mv-test"])
            .arg(&mnt)
            .status()
            .unwrap();
        assert!(ok.success());
        chmod(&mnt, 0o777);
        OtherFs { _t: t, mnt }
    }
}

impl Drop for OtherFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.mnt).status();
    }
}

fn moved(args: &[&Path]) -> std::process::Output {
    convoy()
        .args(["--batch", "--move"])
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn a_folder_is_never_moved_into_itself_nor_a_source_named_twice() {
    let t = tempfile::tempdir().unwrap();
    let a = t.path().join("a");
    write(a.join("f.txt"), b"f");
    write(t.path().join("b/f.txt"), b"other f");
    let before = stat_all(t.path());
    let o = moved(&[&a, &a.join("sub")]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("inside the source"), "{}", stderr(&o));
    let o = moved(&[
        &a.join("f.txt"),
        &t.path().join("b/f.txt"),
        &t.path().join("c"),
    ]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert_unchanged(&before, &stat_all(t.path()), "refused moves");
}

#[test]
fn a_file_moved_onto_its_own_hard_link_is_never_lost() {
    let t = tempfile::tempdir().unwrap();
    let (src, dst) = (t.path().join("src"), t.path().join("dst"));
    write(src.join("f.txt"), b"one file, two names");
    fs::create_dir_all(&dst).unwrap();
    fs::hard_link(src.join("f.txt"), dst.join("f.txt")).unwrap();
    let o = moved(&[&src, &dst]);
    let kept = [src.join("f.txt"), dst.join("f.txt")]
        .iter()
        .any(|p| fs::read(p).is_ok_and(|b| b == b"one file, two names"));
    assert!(kept, "exit {}: {}", code(&o), stderr(&o));
    assert_eq!(fs::read(dst.join("f.txt")).unwrap(), b"one file, two names");
    // Named as the file and its other name, as mv refuses "the same file".
    write(t.path().join("g.txt"), b"g");
    fs::hard_link(t.path().join("g.txt"), t.path().join("h.txt")).unwrap();
    let o = moved(&[&t.path().join("g.txt"), &t.path().join("h.txt")]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("destination is the source itself"),
        "{}",
        stderr(&o)
    );
    assert_eq!(fs::read(t.path().join("g.txt")).unwrap(), b"g");
}

#[test]
fn across_filesystems_links_modes_and_special_files_arrive_and_the_sources_go() {
    let other = OtherFs::new();
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    let outside = t.path().join("outside.txt");
    write(&outside, b"the link's target, not moved");
    write(src.join("private/notes.txt"), b"notes");
    chmod(src.join("private/notes.txt"), 0o640);
    chmod(src.join("private"), 0o750);
    write(src.join("a.txt"), &data(1, 9000));
    fs::hard_link(src.join("a.txt"), src.join("private/a-again.txt")).unwrap();
    symlink(&outside, src.join("link-out")).unwrap();
    symlink("a.txt", src.join("link-in")).unwrap();
    let ok = Command::new("mkfifo")
        .arg(src.join("pipe"))
        .status()
        .unwrap();
    assert!(ok.success());
    let pristine = t.path().join("pristine");
    cp_a(&src, &pristine);
    let dst = other.mnt.join("dst");
    let o = moved(&[&src, &dst]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert!(!src.exists(), "every source went: {:?}", entries(&src));
    assert_same_tree(&pristine, &dst);
    let (a, again) = (
        fs::metadata(dst.join("a.txt")).unwrap(),
        fs::metadata(dst.join("private/a-again.txt")).unwrap(),
    );
    assert_eq!(a.ino(), again.ino(), "hard links stay one file");
    assert!(
        fs::symlink_metadata(dst.join("pipe"))
            .unwrap()
            .file_type()
            .is_fifo()
    );
    assert_eq!(
        fs::read(&outside).unwrap(),
        b"the link's target, not moved",
        "a symlink moves as a link"
    );
}

#[test]
fn a_destination_symlink_is_replaced_never_written_through() {
    let t = tempfile::tempdir().unwrap();
    let (src, dst) = (t.path().join("src"), t.path().join("dst"));
    let elsewhere = t.path().join("elsewhere.txt");
    write(&elsewhere, b"must stay");
    write(src.join("f.txt"), b"moved here");
    fs::create_dir_all(&dst).unwrap();
    symlink(&elsewhere, dst.join("f.txt")).unwrap();
    let o = convoy()
        .args(["--batch", "--move", "--on-conflict", "overwrite"])
        .arg(&src)
        .arg(&dst)
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(fs::symlink_metadata(dst.join("f.txt")).unwrap().is_file());
    assert_eq!(fs::read(dst.join("f.txt")).unwrap(), b"moved here");
    assert_eq!(fs::read(&elsewhere).unwrap(), b"must stay");
}

#[test]
fn a_source_that_cannot_be_removed_stays_and_is_said() {
    let other = OtherFs::new();
    let t = shared_tempdir();
    let src = t.path().join("src");
    write(src.join("locked/f.txt"), b"cannot leave");
    write(src.join("free.txt"), b"can leave");
    let ok = Command::new("chown")
        .args(["-R", "65534:65534"])
        .arg(&src)
        .status()
        .unwrap();
    assert!(ok.success());
    // nobody may not remove what is in a folder root owns and keeps.
    std::os::unix::fs::chown(src.join("locked"), Some(0), Some(0)).unwrap();
    chmod(src.join("locked"), 0o755);
    let dst = other.mnt.join("dst");
    let o = as_nobody(&[os("--move"), src.as_os_str(), dst.as_os_str()]);
    assert_eq!(code(&o), 1, "{}{}", stdout(&o), stderr(&o));
    assert!(
        stderr(&o).contains("locked/f.txt: not moved: cannot remove the source"),
        "{}",
        stderr(&o)
    );
    assert_eq!(fs::read(src.join("locked/f.txt")).unwrap(), b"cannot leave");
    assert_eq!(fs::read(dst.join("locked/f.txt")).unwrap(), b"cannot leave");
    assert!(!src.join("free.txt").exists());
    assert_eq!(fs::read(dst.join("free.txt")).unwrap(), b"can leave");
}

#[test]
fn many_files_cross_filesystems_on_few_descriptors() {
    let other = OtherFs::new();
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    for d in 0..100 {
        for f in 0..20 {
            write(
                src.join(format!("d{d}/f{f}")),
                format!("{d}/{f}").as_bytes(),
            );
        }
    }
    let dst = other.mnt.join("dst");
    let o = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -n 40 && exec {BIN} --batch --move \"$0\" \"$1\""
        ))
        .arg(&src)
        .arg(&dst)
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert!(!src.exists());
    assert_eq!(entries(&dst).len(), 100 * 21);
    assert_eq!(fs::read(dst.join("d57/f13")).unwrap(), b"57/13");
}
