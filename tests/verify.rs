//! `--verify`: digests a person can check with `b3sum`, and a destination that
//! gives back other bytes than it took (a FUSE filesystem in the test that
//! inverts the first byte of `*.flip` files when they are read) caught, the
//! bad copy removed, the rest kept.

#[path = "common/app.rs"]
mod app_run;
mod common;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use common::*;

/// `b3sum`'s digest of a file.
fn b3sum(path: &Path) -> String {
    need("b3sum", "b3sum");
    let o = Command::new("b3sum")
        .arg("--no-names")
        .arg(path)
        .output()
        .unwrap();
    assert!(o.status.success());
    String::from_utf8(o.stdout).unwrap().trim().to_string()
}

/// `tests/common/flipfs.py` mounted over `backing` at `mnt`; unmounted when
/// dropped.
struct FlipFs {
    child: Child,
    mnt: PathBuf,
}

impl FlipFs {
    fn mount(backing: &Path, mnt: &Path) -> FlipFs {
        need_root("mount a FUSE filesystem");
        need_python("fuse", "fusepy", &["libfuse2"]);
        fs::create_dir_all(backing).unwrap();
        fs::create_dir_all(mnt).unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/common/flipfs.py");
        let child = Command::new("python3")
            .arg(script)
            .arg(backing)
            .arg(mnt)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let guard = FlipFs {
            child,
            mnt: mnt.to_path_buf(),
        };
        let target = mnt.canonicalize().unwrap();
        for _ in 0..100 {
            let mounts = fs::read_to_string("/proc/self/mounts").unwrap();
            if mounts
                .lines()
                .any(|l| l.split(' ').nth(1) == target.to_str())
            {
                return guard;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("flipfs did not mount");
    }
}

impl Drop for FlipFs {
    fn drop(&mut self) {
        let _ = Command::new("fusermount").arg("-u").arg(&self.mnt).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tree(src: &Path) {
    write(src.join("a.txt"), b"hello\n");
    write(src.join("b.flip"), &data(1, 100_000));
    write(src.join("sub/c.bin"), &data(2, 500_000));
    write(src.join("sub/big.flip"), &data(3, 3_000_000));
}

#[test]
fn verify_catches_a_destination_that_reads_back_differently() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    tree(&src);
    let backing = t.path().join("backing");
    let _fs = FlipFs::mount(&backing, &t.path().join("mnt"));
    let mnt = t.path().join("mnt");

    // Without --verify the corruption goes unseen: that is what it is for.
    let plain = batch(&[src.as_os_str(), mnt.join("plain").as_os_str()]);
    assert_eq!(code(&plain), 0, "{}{}", stdout(&plain), stderr(&plain));
    assert_ne!(
        fs::read(mnt.join("plain/b.flip")).unwrap(),
        fs::read(src.join("b.flip")).unwrap(),
        "the test filesystem really gives back other bytes"
    );

    let dst = mnt.join("checked");
    let o = batch(&[
        src.as_os_str(),
        dst.as_os_str(),
        os("--verify"),
        os("--json"),
    ]);
    assert_eq!(code(&o), 1, "{}{}", stdout(&o), stderr(&o));
    let (lines, summary) = json_lines(&o);
    for bad in ["b.flip", "sub/big.flip"] {
        let l = lines
            .iter()
            .find(|l| l["path"] == bad)
            .unwrap_or_else(|| panic!("{bad} reported"));
        assert_eq!(l["outcome"], "failed", "{l}");
        assert!(
            l["error"]
                .as_str()
                .unwrap()
                .starts_with("verification failed: the destination reads back differently"),
            "{l}"
        );
        assert!(
            !backing.join("checked").join(bad).exists(),
            "a copy that reads back wrong is removed: {bad}"
        );
        assert!(
            stderr(&o).contains(&format!("{bad}: verification failed")),
            "{}",
            stderr(&o)
        );
    }
    for good in ["a.txt", "sub/c.bin"] {
        let l = lines.iter().find(|l| l["path"] == good).unwrap();
        assert_eq!(l["outcome"], "copied", "{l}");
        assert_eq!(l["blake3"], b3sum(&src.join(good)), "{l}");
        assert_eq!(
            fs::read(backing.join("checked").join(good)).unwrap(),
            fs::read(src.join(good)).unwrap()
        );
    }
    assert_eq!(summary["verified"], 2, "{summary}");
    assert_eq!(summary["failed"], 2, "{summary}");
    assert_eq!(summary["files_copied"], 2, "{summary}");
    assert!(leftover_temps(&backing).is_empty());
}

#[test]
fn verify_on_an_intact_tree_gives_the_digests_b3sum_gives() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    write(src.join("empty"), b"");
    write(src.join("small.txt"), b"a small file\n");
    write(src.join("d/medium.bin"), &data(4, 200_000));
    write(src.join("d/large.bin"), &data(5, 5_000_000));
    let f = fs::File::create(src.join("sparse.img")).unwrap();
    f.set_len(20 << 20).unwrap();
    std::os::unix::fs::FileExt::write_at(&f, b"data in the middle", 7 << 20).unwrap();
    fs::hard_link(src.join("d/medium.bin"), src.join("d/again.bin")).unwrap();
    let dst = t.path().join("dst");
    let o = batch(&[
        src.as_os_str(),
        dst.as_os_str(),
        os("--verify"),
        os("--json"),
    ]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    let (lines, summary) = json_lines(&o);
    let files = [
        "empty",
        "small.txt",
        "d/medium.bin",
        "d/large.bin",
        "sparse.img",
    ];
    for f in files {
        let l = lines.iter().find(|l| l["path"] == f).unwrap();
        assert_eq!(l["blake3"], b3sum(&src.join(f)), "{f}: {l}");
        assert_eq!(b3sum(&dst.join(f)), b3sum(&src.join(f)), "{f}");
    }
    assert_eq!(summary["verified"], files.len(), "{summary}");
    assert_same_tree(&src, &dst);
    let human = batch(&[
        src.as_os_str(),
        t.path().join("dst2").as_os_str(),
        os("--verify"),
    ]);
    assert!(
        stdout(&human).contains(&format!("Verified: {}", files.len())),
        "{}",
        stdout(&human)
    );
    // Big files are read back past the page cache altogether (O_DIRECT),
    // small ones after their pages are dropped.
    need("strace", "strace");
    let log = t.path().join("trace");
    let traced = std::process::Command::new("strace")
        .args(["-f", "-qq", "-e", "trace=openat,fadvise64", "-o"])
        .arg(&log)
        .args([BIN, "--batch", "--verify"])
        .arg(&src)
        .arg(t.path().join("dst3"))
        .output()
        .unwrap();
    assert_eq!(code(&traced), 0, "{}", stderr(&traced));
    let log = fs::read_to_string(&log).unwrap();
    let direct = |name: &str| {
        log.lines()
            .any(|l| l.contains(&format!("\"{name}\"")) && l.contains("O_DIRECT"))
    };
    assert!(direct("large.bin") && direct("sparse.img"), "{log}");
    assert!(!direct("small.txt"), "{log}");
    assert_same_tree(&src, &t.path().join("dst3"));
}

#[test]
fn the_tui_retries_a_copy_that_failed_verification() {
    use convoy::config::Config;
    use convoy::tui::app::{App, Screen};
    use convoy::tui::setup::Setup;

    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    tree(&src);
    let backing = t.path().join("backing");
    let mnt = t.path().join("mnt");
    let _fs = FlipFs::mount(&backing, &mnt);
    let dst = mnt.join("dst");
    let mut cfg = Config::new(&src, &dst);
    cfg.verify = true;

    let mut app = App::new(Setup::new(None, t.path().to_path_buf()), true);
    app.start(cfg);
    app_run::run_to_end(&mut app);
    let failed: Vec<String> = app
        .progress
        .failures
        .iter()
        .map(|f| format!("{} {}", f.rel.display(), f.reason))
        .collect();
    assert_eq!(failed.len(), 2, "{failed:?}");
    assert!(
        failed.iter().all(|f| f.contains("verification failed")),
        "{failed:?}"
    );
    assert!(!backing.join("dst/b.flip").exists());

    // The disk is replaced; "Retry failed" copies the two again, and only them.
    fs::write(backing.join(".healed"), b"").unwrap();
    app.update(convoy::tui::app::Action::Retry);
    assert_eq!(app.screen, Screen::Copying);
    app_run::run_to_end(&mut app);
    assert!(
        app.progress.failures.is_empty(),
        "{:?}",
        app.progress.failures
    );
    assert_eq!(app.progress.files_copied, 2);
    assert_eq!(app.progress.verified, 2);
    for f in ["a.txt", "b.flip", "sub/c.bin", "sub/big.flip"] {
        assert_eq!(
            fs::read(backing.join("dst").join(f)).unwrap(),
            fs::read(src.join(f)).unwrap(),
            "{f}"
        );
    }
}

/// `--move --verify`: a source goes only once its copy read back the same;
/// the copies that read back differently keep their sources (and the next
/// run, onto a sound disk, finishes the move). A copy up to date by size and
/// time is compared byte for byte with its source before the source goes.
#[test]
fn a_move_with_verify_keeps_every_source_whose_copy_reads_back_differently() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    tree(&src);
    let pristine = t.path().join("pristine");
    cp_a(&src, &pristine);
    let backing = t.path().join("backing");
    let _fs = FlipFs::mount(&backing, &t.path().join("mnt"));
    let dst = t.path().join("mnt/moved");
    let o = batch(&[
        os("--move"),
        os("--verify"),
        src.as_os_str(),
        dst.as_os_str(),
    ]);
    assert_eq!(code(&o), 1, "{}{}", stdout(&o), stderr(&o));
    for good in ["a.txt", "sub/c.bin"] {
        assert!(
            !src.join(good).exists(),
            "{good}: read back the same, so moved"
        );
        assert_eq!(
            fs::read(backing.join("moved").join(good)).unwrap(),
            fs::read(pristine.join(good)).unwrap()
        );
    }
    for bad in ["b.flip", "sub/big.flip"] {
        assert_eq!(
            fs::read(src.join(bad)).unwrap(),
            fs::read(pristine.join(bad)).unwrap(),
            "{bad}: its copy read back differently, so its source stays"
        );
        assert!(!backing.join("moved").join(bad).exists());
    }
    // Onto the same disk, where the flip does not happen: the rest moves.
    let safe = t.path().join("safe");
    let o = batch(&[
        os("--move"),
        os("--verify"),
        src.as_os_str(),
        safe.as_os_str(),
    ]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert!(!src.exists());
    // Up to date by size and time, but not the same bytes: the source stays.
    let (a, b) = (t.path().join("a"), t.path().join("b"));
    write(a.join("same-size.txt"), b"source");
    write(b.join("same-size.txt"), b"SOURCE");
    let m = fs::metadata(a.join("same-size.txt")).unwrap();
    set_mtime(b.join("same-size.txt"), m.mtime(), m.mtime_nsec());
    let o = batch(&[os("--move"), os("--verify"), a.as_os_str(), b.as_os_str()]);
    assert_eq!(code(&o), 1, "{}{}", stdout(&o), stderr(&o));
    assert!(
        stderr(&o).contains("up to date by size and time but reads differently"),
        "{}",
        stderr(&o)
    );
    assert_eq!(fs::read(a.join("same-size.txt")).unwrap(), b"source");
    // The same for one file moved to another name beside it: its copy is
    // the other name, never the source read against itself.
    let (one, other) = (t.path().join("one.txt"), t.path().join("other.txt"));
    write(&one, b"source");
    write(&other, b"SOURCE");
    let m = fs::metadata(&one).unwrap();
    set_mtime(&other, m.mtime(), m.mtime_nsec());
    let o = batch(&[
        os("--move"),
        os("--verify"),
        one.as_os_str(),
        other.as_os_str(),
    ]);
    assert_eq!(code(&o), 1, "{}{}", stdout(&o), stderr(&o));
    assert_eq!(fs::read(&one).unwrap(), b"source");
    // Without --verify the same move trusts size and time, as cp -u would.
    let o = batch(&[os("--move"), a.as_os_str(), b.as_os_str()]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(!a.join("same-size.txt").exists());
}

#[test]
fn verify_over_sftp_reads_every_copy_back_both_ways_and_removes_what_reads_back_wrong() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    tree(&src);
    let backing = t.path().join("backing");
    let _fs = FlipFs::mount(&backing, &t.path().join("mnt"));
    let mnt = t.path().join("mnt");
    let ssh = fake_ssh(t.path());

    // To the server, whose disk gives back other bytes for *.flip.
    let to = format!("otherhost:{}", mnt.join("up").display());
    let o = batch(&[
        os("-e"),
        ssh.as_os_str(),
        src.as_os_str(),
        os(&to),
        os("--verify"),
        os("--json"),
    ]);
    assert_eq!(code(&o), 1, "{}{}", stdout(&o), stderr(&o));
    let (lines, summary) = json_lines(&o);
    for bad in ["b.flip", "sub/big.flip"] {
        let l = lines.iter().find(|l| l["path"] == bad).unwrap();
        assert_eq!(l["outcome"], "failed", "{l}");
        let error = l["error"].as_str().unwrap();
        assert!(
            error.starts_with("verification failed: the destination reads back differently"),
            "{l}"
        );
        assert!(!backing.join("up").join(bad).exists(), "removed: {bad}");
    }
    for good in ["a.txt", "sub/c.bin"] {
        let l = lines.iter().find(|l| l["path"] == good).unwrap();
        assert_eq!(l["outcome"], "copied", "{l}");
        assert_eq!(l["blake3"], b3sum(&src.join(good)), "{l}");
    }
    assert_eq!(summary["verified"], 2, "{summary}");
    assert!(leftover_temps(&backing).is_empty());

    // From the server: every copy here read back and its digest given.
    let from = format!("otherhost:{}", src.display());
    let back = t.path().join("back");
    let o = batch(&[
        os("-e"),
        ssh.as_os_str(),
        os(&from),
        back.as_os_str(),
        os("--verify"),
        os("--json"),
    ]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    let (lines, summary) = json_lines(&o);
    for f in ["a.txt", "b.flip", "sub/c.bin", "sub/big.flip"] {
        let l = lines.iter().find(|l| l["path"] == f).unwrap();
        assert_eq!(l["blake3"], b3sum(&src.join(f)), "{l}");
    }
    assert_eq!(summary["verified"], 4, "{summary}");
}
