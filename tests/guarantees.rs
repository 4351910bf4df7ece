//! The promises in the README's "Guarantees" section, each built as a real
//! hostile situation: kill -9 mid-copy, a symlink swapped into the destination
//! while it is written, a tiny descriptor limit, trees deeper than PATH_MAX,
//! files changing under the copy, and a memory ceiling.

mod common;

use std::fs;
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, symlink};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::*;

#[test]
fn kill_during_copy_keeps_old_version_or_complete_new_one() {
    let t = tempfile::tempdir().unwrap();
    let (src, dst) = (t.path().join("src"), t.path().join("dst"));
    // 288 MiB: big files (chunked and not), and many small ones.
    let big = |i: u64| data(100 + i, 64 * 1024 * 1024);
    for i in 0..4 {
        write(src.join(format!("big{i}.bin")), &big(i));
    }
    write(src.join("medium.bin"), &data(7, 32 * 1024 * 1024));
    for i in 0..2000 {
        write(
            src.join(format!("small/{}/{i}.txt", i % 20)),
            &data(i, 3000),
        );
    }
    // Earlier versions at the destination that the copy replaces.
    let old = |i: u64| data(900 + i, 1000);
    for i in 0..4 {
        write(dst.join(format!("big{i}.bin")), &old(i));
    }
    write(dst.join("small/0/0.txt"), b"old small");
    for (n, delay_ms) in [5u64, 30, 80, 160, 300, 600].into_iter().enumerate() {
        // Every other run flushes each file and reads it back: the promise
        // holds with --fsync and --verify too.
        let careful: &[&str] = if n % 2 == 1 {
            &["--fsync", "--verify"]
        } else {
            &[]
        };
        let mut child = convoy()
            .args([
                os("--batch"),
                os("-q"),
                os("-j4"),
                os("--on-conflict=overwrite"),
            ])
            .args(careful)
            .args(["--chunk-threshold=16777216", "--chunk-size=4194304"])
            .args([src.as_os_str(), dst.as_os_str()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill(); // SIGKILL: no handler runs, nothing is cleaned up
        child.wait().unwrap();
        eprintln!(
            "killed at {delay_ms} ms: {} temporaries left",
            leftover_temps(&dst).len()
        );
        for i in 0..4 {
            let got = fs::read(dst.join(format!("big{i}.bin"))).unwrap();
            assert!(
                got == old(i) || got == big(i),
                "big{i}.bin after kill at {delay_ms} ms is neither old nor new"
            );
        }
        if let Ok(got) = fs::read(dst.join("medium.bin")) {
            assert!(
                got == data(7, 32 * 1024 * 1024),
                "medium.bin is partial after kill at {delay_ms} ms"
            );
        }
        for rel in entries(&dst) {
            let p = dst.join(&rel);
            if p.is_file()
                && !in_temporary(&rel)
                && rel.starts_with("small")
                && rel != Path::new("small/0/0.txt")
            {
                assert_eq!(
                    fs::read(&p).unwrap(),
                    fs::read(src.join(&rel)).unwrap(),
                    "{rel:?} partial"
                );
            }
        }
    }
    // The next run removes what the killed runs left and completes the copy.
    let o = batch(&[
        src.as_os_str(),
        dst.as_os_str(),
        os("--on-conflict=overwrite"),
    ]);
    assert_eq!(code(&o), 0, "stderr: {}", stderr(&o));
    assert!(
        leftover_temps(&dst).is_empty(),
        "{:?}",
        leftover_temps(&dst)
    );
    assert_same_tree(&src, &dst);
}

#[test]
fn kill_while_new_folders_are_filled_leaves_only_complete_files_under_final_names() {
    let t = tempfile::tempdir().unwrap();
    let (src, dst) = (t.path().join("src"), t.path().join("dst"));
    // New folders are filled under a temporary name, their files written in
    // place: a kill must leave partial files only inside such a folder.
    for d in 0..120 {
        for f in 0..40 {
            let seed = d * 1000 + f;
            write(
                src.join(format!("d{d:03}/sub/f{f}.bin")),
                &data(seed, 8192 + f as usize * 997),
            );
        }
        write(src.join(format!("d{d:03}/top.txt")), &data(d, 5000));
    }
    let mut staged_seen = 0;
    for extra_ms in [0u64, 5, 40] {
        let mut child = convoy()
            .args([os("--batch"), os("-q"), os("-j4")])
            .args([src.as_os_str(), dst.as_os_str()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Killed while a folder is still under its temporary name.
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while !fs::read_dir(&dst).is_ok_and(|d| {
            d.flatten()
                .any(|e| in_temporary(Path::new(&e.file_name())) && e.path().is_dir())
        }) {
            assert!(
                std::time::Instant::now() < deadline,
                "no staged folder appeared"
            );
            if child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        std::thread::sleep(Duration::from_millis(extra_ms));
        let _ = child.kill();
        child.wait().unwrap();
        let mut finals = 0;
        for rel in entries(&dst) {
            if in_temporary(&rel) {
                staged_seen += 1;
                continue;
            }
            let p = dst.join(&rel);
            if p.is_file() {
                finals += 1;
                assert_eq!(
                    fs::read(&p).unwrap(),
                    fs::read(src.join(&rel)).unwrap(),
                    "{rel:?} is under its final name but not complete (kill after {extra_ms} ms)"
                );
            }
        }
        eprintln!("killed {extra_ms} ms after a staged folder appeared: {finals} complete files");
    }
    assert!(staged_seen > 0, "no kill landed while a folder was staged");
    let o = batch(&[src.as_os_str(), dst.as_os_str()]);
    assert_eq!(code(&o), 0, "stderr: {}", stderr(&o));
    assert!(
        leftover_temps(&dst).is_empty(),
        "the rerun removes staged folders of dead runs: {:?}",
        leftover_temps(&dst)
    );
    assert_same_tree(&src, &dst);
}

#[test]
fn symlink_swapped_into_the_destination_during_the_copy_is_not_followed() {
    let t = tempfile::tempdir().unwrap();
    let (src, dst, outside) = (
        t.path().join("src"),
        t.path().join("dst"),
        t.path().join("outside"),
    );
    for i in 0..3000 {
        write(src.join(format!("sub/{}/f{i}", i % 30)), &data(i, 500));
    }
    fs::create_dir_all(&outside).unwrap();
    for d in 0..30 {
        fs::create_dir_all(outside.join(d.to_string())).unwrap();
    }
    fs::create_dir_all(dst.join("sub")).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let attacker = {
        let (dst, outside, stop) = (dst.clone(), outside.clone(), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                // Swap the folder being written for a symlink to the outside, then back.
                let (real, moved) = (dst.join("sub"), dst.join(format!("moved-{n}")));
                if fs::rename(&real, &moved).is_ok() {
                    let _ = symlink(&outside, &real);
                    std::thread::sleep(Duration::from_micros(200));
                    let _ = fs::remove_file(&real);
                    let _ = fs::rename(&moved, &real);
                }
                n += 1;
            }
        })
    };
    for _ in 0..3 {
        let o = batch(&[src.as_os_str(), dst.as_os_str(), os("-j4")]);
        assert!(matches!(code(&o), 0 | 1), "stderr: {}", stderr(&o));
    }
    stop.store(true, Ordering::Relaxed);
    attacker.join().unwrap();
    let escaped: Vec<_> = entries(&outside)
        .into_iter()
        .filter(|p| p.components().count() > 1)
        .collect();
    assert!(
        escaped.is_empty(),
        "files were written outside the destination: {escaped:?}"
    );
}

#[test]
fn symlink_swapped_into_the_source_during_the_copy_is_not_read_through() {
    let t = tempfile::tempdir().unwrap();
    let (src, secret) = (t.path().join("src"), t.path().join("secret"));
    for i in 0..3000 {
        let rel = format!("sub/{}/f{i}", i % 30);
        write(src.join(&rel), b"public");
        // The same names outside the source, with what must never be copied.
        write(secret.join(rel.trim_start_matches("sub/")), b"SECRET");
    }
    for run in 0..3 {
        let dst = t.path().join(format!("dst{run}"));
        let stop = Arc::new(AtomicBool::new(false));
        // Once the walk has gone into `sub` (its copy exists), swap it for a
        // symlink to the secret folder and back, again and again.
        let attacker = {
            let (src, secret, dst, stop) =
                (src.clone(), secret.clone(), dst.clone(), Arc::clone(&stop));
            std::thread::spawn(move || {
                while !dst.join("sub").exists() && !stop.load(Ordering::Relaxed) {
                    std::thread::yield_now();
                }
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let (real, moved) = (src.join("sub"), src.join(format!("moved-{run}-{n}")));
                    if fs::rename(&real, &moved).is_ok() {
                        let _ = symlink(&secret, &real);
                        std::thread::sleep(Duration::from_micros(500));
                        let _ = fs::remove_file(&real);
                        let _ = fs::rename(&moved, &real);
                    }
                    n += 1;
                }
            })
        };
        let o = batch(&[src.as_os_str(), dst.as_os_str(), os("-j4")]);
        assert!(matches!(code(&o), 0 | 1), "stderr: {}", stderr(&o));
        stop.store(true, Ordering::Relaxed);
        attacker.join().unwrap();
    }
    for run in 0..3 {
        let dst = t.path().join(format!("dst{run}"));
        let leaked: Vec<_> = entries(&dst)
            .into_iter()
            .filter(|p| fs::read(dst.join(p)).is_ok_and(|b| b == b"SECRET"))
            .collect();
        assert!(
            leaked.is_empty(),
            "read through a swapped symlink: {leaked:?}"
        );
    }
}

/// Runs on two machines copying into one shared folder (NFS, SMB, sshfs)
/// never remove each other's live temporaries: a pid says whether a run is
/// alive only on its own machine, so another machine's temporary goes only
/// once it has lain untouched for a day. (The machine in these names is not
/// this one, except with odds of one in four billion.)
#[test]
fn another_machines_live_temporary_in_a_shared_folder_is_left_alone() {
    let t = tempfile::tempdir().unwrap();
    let (src, dst) = (t.path().join("src"), t.path().join("dst"));
    write(src.join("d/a.txt"), b"a");
    fs::create_dir_all(dst.join("d")).unwrap();
    let live = dst.join("d/.convoy-000000017fffffff00000001.tmp");
    let left = dst.join("d/.convoy-000000017fffffff00000002.tmp");
    write(&live, b"being written elsewhere");
    write(&left, b"left two days ago");
    let two_days_ago = std::time::SystemTime::now() - Duration::from_secs(2 * 24 * 3600);
    fs::File::options()
        .write(true)
        .open(&left)
        .unwrap()
        .set_modified(two_days_ago)
        .unwrap();
    let o = batch(&[src.as_os_str(), dst.as_os_str()]);
    assert_eq!(code(&o), 0, "stderr: {}", stderr(&o));
    assert_eq!(fs::read(dst.join("d/a.txt")).unwrap(), b"a");
    assert_eq!(
        fs::read(&live).unwrap(),
        b"being written elsewhere",
        "another machine's live temporary is left alone"
    );
    assert!(!left.exists(), "one untouched for two days is swept");
}

#[test]
fn same_file_through_a_hard_link_is_left_intact() {
    let t = tempfile::tempdir().unwrap();
    let (src, dst) = (t.path().join("src"), t.path().join("dst"));
    write(src.join("f.txt"), b"precious");
    fs::create_dir(&dst).unwrap();
    fs::hard_link(src.join("f.txt"), dst.join("f.txt")).unwrap();
    let o = batch(&[
        src.as_os_str(),
        dst.as_os_str(),
        os("--on-conflict=overwrite"),
    ]);
    assert_eq!(code(&o), 0, "stderr: {}", stderr(&o));
    assert_eq!(fs::read(src.join("f.txt")).unwrap(), b"precious");
    assert_eq!(fs::read(dst.join("f.txt")).unwrap(), b"precious");
}

#[test]
fn forty_levels_copy_under_ulimit_32_with_8_workers() {
    let t = tempfile::tempdir().unwrap();
    let (src, dst) = (t.path().join("src"), t.path().join("dst"));
    let mut p = src.clone();
    for level in 0..40 {
        p = p.join(format!("level{level}"));
        for f in 0..5 {
            write(p.join(format!("file{f}.txt")), &data(level * 10 + f, 2000));
        }
    }
    write(src.join("big.bin"), &data(1, 3 * 1024 * 1024));
    let script = format!(
        "ulimit -n 32 && exec '{BIN}' --batch -j 8 --chunk-threshold=1048576 --chunk-size=262144 \"$0\" \"$1\""
    );
    let o = Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg(&src)
        .arg(&dst)
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "stdout: {} stderr: {}", stdout(&o), stderr(&o));
    assert_same_tree(&src, &dst);
}

/// Builds `depth` nested folders of 200-byte names relative to open handles,
/// since the full path is longer than the kernel will resolve. Every level holds
/// a file (own mode and mtime), a symlink, and every fifth level a side folder.
fn deep_tree(root: &Path, depth: usize) {
    use rustix::fs::{Mode, OFlags, Timespec, Timestamps, futimens, mkdirat, openat, symlinkat};
    fs::create_dir_all(root).unwrap();
    let open_dir = |at: &dyn AsFd, name: &str| {
        openat(
            at.as_fd(),
            name,
            OFlags::DIRECTORY | OFlags::RDONLY,
            Mode::empty(),
        )
        .unwrap()
    };
    let mut dir = openat(
        rustix::fs::CWD,
        root,
        OFlags::DIRECTORY | OFlags::RDONLY,
        Mode::empty(),
    )
    .unwrap();
    let name = "d".repeat(200);
    for i in 0..depth {
        mkdirat(&dir, name.as_str(), Mode::from_raw_mode(0o755)).unwrap();
        let f = openat(
            &dir,
            format!("f{i}").as_str(),
            OFlags::CREATE | OFlags::WRONLY,
            Mode::from_raw_mode(0o600 + (i as u32 % 8) * 0o10),
        )
        .unwrap();
        rustix::io::write(&f, format!("deep {i}").as_bytes()).unwrap();
        let t = Timespec {
            tv_sec: 1_500_000_000 + i as i64,
            tv_nsec: 123_456_789,
        };
        futimens(
            &f,
            &Timestamps {
                last_access: t,
                last_modification: t,
            },
        )
        .unwrap();
        symlinkat(format!("f{i}").as_str(), &dir, format!("l{i}").as_str()).unwrap();
        if i % 5 == 4 {
            mkdirat(&dir, "side", Mode::from_raw_mode(0o750)).unwrap();
            let side = open_dir(&dir, "side");
            let g = openat(
                &side,
                "g",
                OFlags::CREATE | OFlags::WRONLY,
                Mode::from_raw_mode(0o644),
            )
            .unwrap();
            rustix::io::write(&g, &data(i as u64, 70_000)).unwrap();
        }
        dir = open_dir(&dir, name.as_str());
    }
}

/// Compares two trees through folder handles (paths would be too long): names,
/// types, bytes, modes, mtimes and symlink targets. Returns the entries compared.
fn assert_same_tree_by_handles(src: &dyn AsFd, dst: &dyn AsFd, at: &str) -> usize {
    use rustix::fs::{AtFlags, Dir, FileType, Mode, OFlags, openat, readlinkat, statat};
    let names = |fd: &dyn AsFd| {
        let mut v: Vec<Vec<u8>> = Dir::read_from(fd.as_fd())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_bytes().to_vec())
            .filter(|n| n != b"." && n != b"..")
            .collect();
        v.sort();
        v
    };
    let (sn, dn) = (names(src), names(dst));
    assert_eq!(sn, dn, "entries of {at}");
    let mut count = 0;
    for n in &sn {
        let n = std::ffi::OsStr::from_bytes(n);
        let (s, d) = (
            statat(src.as_fd(), n, AtFlags::SYMLINK_NOFOLLOW).unwrap(),
            statat(dst.as_fd(), n, AtFlags::SYMLINK_NOFOLLOW).unwrap(),
        );
        let what = format!("{at}/{}", n.to_string_lossy());
        assert_eq!(s.st_mode, d.st_mode, "mode of {what}");
        let ft = FileType::from_raw_mode(s.st_mode);
        if ft != FileType::Symlink {
            assert_eq!(
                (s.st_mtime, s.st_mtime_nsec),
                (d.st_mtime, d.st_mtime_nsec),
                "mtime of {what}"
            );
        }
        count += 1;
        match ft {
            FileType::Directory => {
                let open = |fd: &dyn AsFd| {
                    openat(
                        fd.as_fd(),
                        n,
                        OFlags::DIRECTORY | OFlags::RDONLY,
                        Mode::empty(),
                    )
                    .unwrap()
                };
                count += assert_same_tree_by_handles(&open(src), &open(dst), &what);
            }
            FileType::Symlink => assert_eq!(
                readlinkat(src.as_fd(), n, Vec::new()).unwrap(),
                readlinkat(dst.as_fd(), n, Vec::new()).unwrap(),
                "target of {what}"
            ),
            _ => {
                let read = |fd: &dyn AsFd| {
                    let f = openat(fd.as_fd(), n, OFlags::RDONLY, Mode::empty()).unwrap();
                    let mut out = Vec::new();
                    let mut buf = vec![0u8; 65536];
                    loop {
                        let k = rustix::io::read(&f, &mut buf).unwrap();
                        if k == 0 {
                            break out;
                        }
                        out.extend_from_slice(&buf[..k]);
                    }
                };
                assert!(read(src) == read(dst), "bytes of {what}");
            }
        }
    }
    count
}

#[test]
fn a_tree_deeper_than_path_max_is_copied_whole() {
    use rustix::fs::{Mode, OFlags, openat};
    let t = tempfile::tempdir().unwrap();
    let (src, dst) = (t.path().join("src"), t.path().join("dst"));
    let depth = 40; // 40 × 201 bytes: twice PATH_MAX (4096)
    deep_tree(&src, depth);
    let o = batch(&[src.as_os_str(), dst.as_os_str()]);
    assert_eq!(code(&o), 0, "stdout: {} stderr: {}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("Copied 48 files") && stdout(&o).contains("40 symlinks"),
        "{}",
        stdout(&o)
    );
    let open = |p: &Path| {
        openat(
            rustix::fs::CWD,
            p,
            OFlags::DIRECTORY | OFlags::RDONLY,
            Mode::empty(),
        )
        .unwrap()
    };
    let compared = assert_same_tree_by_handles(&open(&src), &open(&dst), "");
    // Per level: folder, file, symlink; every fifth level a side folder and its file.
    assert_eq!(compared, depth * 3 + depth / 5 * 2);
    // Re-running finds everything up to date, however deep.
    let again = batch(&[src.as_os_str(), dst.as_os_str(), os("--json")]);
    assert_eq!(code(&again), 0, "stderr: {}", stderr(&again));
    let (_, summary) = json_lines(&again);
    assert_eq!(summary["files_copied"], 0, "{summary}");
    assert_eq!(summary["failed"], 0, "{summary}");
    // Removing a tree this deep needs handles too; the temp dir's remover copes.
}

#[test]
fn files_that_change_during_the_copy_never_hang_or_panic() {
    let t = tempfile::tempdir().unwrap();
    let (src, dst) = (t.path().join("src"), t.path().join("dst"));
    write(src.join("growing.log"), &data(1, 8 * 1024 * 1024));
    write(src.join("shrinking.bin"), &data(2, 8 * 1024 * 1024));
    for i in 0..500 {
        write(src.join(format!("vanish/{i}")), b"here now");
    }
    let stop = Arc::new(AtomicBool::new(false));
    let churn = {
        let (src, stop) = (src.clone(), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                use std::io::Write;
                if let Ok(mut f) = fs::OpenOptions::new()
                    .append(true)
                    .open(src.join("growing.log"))
                {
                    let _ = f.write_all(&[b'x'; 4096]);
                }
                if let Ok(f) = fs::OpenOptions::new()
                    .write(true)
                    .open(src.join("shrinking.bin"))
                {
                    let _ = f.set_len(8 * 1024 * 1024 - (i % 64) * 65_536);
                }
                let _ = fs::remove_file(src.join(format!("vanish/{}", i % 500)));
                i += 1;
            }
        })
    };
    for _ in 0..3 {
        let o = batch(&[
            src.as_os_str(),
            dst.as_os_str(),
            os("--on-conflict=overwrite"),
        ]);
        assert!(matches!(code(&o), 0 | 1), "stderr: {}", stderr(&o));
        assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
        assert!(leftover_temps(&dst).is_empty());
    }
    stop.store(true, Ordering::Relaxed);
    churn.join().unwrap();
}

/// convoy under strace with every 8 MiB step of a big file held 150 ms, so
/// the source can be changed while it is read.
fn slowed_copy(src: &Path, dst: &Path) -> std::process::Child {
    need("strace", "strace");
    Command::new("strace")
        .args(["-f", "-qq", "-o", "/dev/null"])
        .args(["-e", "trace=copy_file_range,pwrite64,sendfile"])
        .args(["-e", "inject=copy_file_range:delay_exit=150000"])
        .args(["-e", "inject=pwrite64:delay_exit=150000"])
        .args([BIN, "--batch", "--json"])
        .arg(src)
        .arg(dst)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn append(path: &Path, bytes: &[u8]) {
    use std::io::Write;
    let mut f = fs::OpenOptions::new().append(true).open(path).unwrap();
    f.write_all(bytes).unwrap();
}

/// A file that grows while it is read is read again: the copy is the file
/// as it stood through one whole read, with that file's own time.
#[test]
fn a_file_that_grows_while_it_is_copied_is_copied_again_whole() {
    let t = tempfile::tempdir().unwrap();
    let (src, dst) = (t.path().join("src"), t.path().join("dst"));
    write(src.join("download.iso"), &data(5, 48 << 20));
    let copy = slowed_copy(&src, &dst);
    // Mid-copy: six steps of 150 ms, and more for the writes.
    std::thread::sleep(Duration::from_millis(400));
    append(&src.join("download.iso"), &data(6, 700 * 1024));
    let o = copy.wait_with_output().unwrap();
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert_same_tree(&src, &dst);
    let again = batch(&[src.as_os_str(), dst.as_os_str()]);
    assert_eq!(
        code(&again),
        0,
        "a rerun finds it up to date: {}",
        stdout(&again)
    );
}

/// A file that never stops changing (a log written to all the time) is
/// reported, exit 1, and nothing claiming to be complete takes its name.
#[test]
fn a_file_that_keeps_changing_is_reported_and_never_named_complete() {
    let t = tempfile::tempdir().unwrap();
    let (src, dst) = (t.path().join("src"), t.path().join("dst"));
    write(src.join("busy.log"), &data(7, 24 << 20));
    write(src.join("calm.txt"), b"calm");
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (log, stop) = (src.join("busy.log"), Arc::clone(&stop));
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                append(&log, b"another line\n");
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let o = slowed_copy(&src, &dst).wait_with_output().unwrap();
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    assert_eq!(code(&o), 1, "{}{}", stdout(&o), stderr(&o));
    assert!(
        stderr(&o).contains("busy.log: changed while being copied"),
        "{}",
        stderr(&o)
    );
    assert!(
        !dst.join("busy.log").exists(),
        "no final name for a copy of no one state"
    );
    assert_eq!(fs::read(dst.join("calm.txt")).unwrap(), b"calm");
    assert!(
        leftover_temps(&dst).is_empty(),
        "{:?}",
        leftover_temps(&dst)
    );
    // Once it is calm, a rerun (the default policy, which keeps other
    // people's files that differ) brings it up to date: nothing of it was
    // left to mistake for one.
    let again = batch(&[src.as_os_str(), dst.as_os_str()]);
    assert_eq!(code(&again), 0, "{}{}", stdout(&again), stderr(&again));
    assert_same_tree(&src, &dst);
}

/// What an older build left of a file that grew while it copied it — the
/// first 400 KiB of 700 KiB, stamped with the time the source had then — is
/// brought up to date by a rerun under the default policy: it holds nothing
/// the source does not. A file that is not the source's beginning, or is
/// later than it, is someone else's and stays.
#[test]
fn an_older_shorter_copy_of_a_grown_file_is_brought_up_to_date() {
    let t = tempfile::tempdir().unwrap();
    let (src, dst) = (t.path().join("src"), t.path().join("dst"));
    let whole = data(8, 700 * 1024);
    for name in ["grown.log", "edited.log", "newer.log", "big.iso"] {
        write(src.join(name), &whole);
        set_mtime(src.join(name), 1_700_000_100, 0);
    }
    write(src.join("big.iso"), &data(9, 40 << 20));
    set_mtime(src.join("big.iso"), 1_700_000_100, 0);
    write(dst.join("grown.log"), &whole[..400 * 1024]);
    set_mtime(dst.join("grown.log"), 1_700_000_000, 0);
    let mut edited = whole[..400 * 1024].to_vec();
    edited[1000] ^= 0xff;
    write(dst.join("edited.log"), &edited);
    set_mtime(dst.join("edited.log"), 1_700_000_000, 0);
    write(dst.join("newer.log"), &whole[..400 * 1024]);
    set_mtime(dst.join("newer.log"), 1_700_000_200, 0);
    // A big file goes in chunks by another path; the same rule holds there.
    write(dst.join("big.iso"), &data(9, 40 << 20)[..(24 << 20)]);
    set_mtime(dst.join("big.iso"), 1_700_000_000, 0);
    let o = batch(&[src.as_os_str(), dst.as_os_str()]);
    assert_eq!(
        code(&o),
        1,
        "two conflicts kept: {}{}",
        stdout(&o),
        stderr(&o)
    );
    assert_eq!(fs::read(dst.join("grown.log")).unwrap(), whole);
    assert_eq!(
        fs::metadata(dst.join("grown.log")).unwrap().mtime(),
        1_700_000_100
    );
    assert_eq!(fs::read(dst.join("big.iso")).unwrap(), data(9, 40 << 20));
    assert_eq!(fs::read(dst.join("edited.log")).unwrap(), edited);
    assert_eq!(
        fs::read(dst.join("newer.log")).unwrap(),
        &whole[..400 * 1024]
    );
    assert!(
        stderr(&o).contains("2 files were an older, shorter copy of their source"),
        "{}",
        stderr(&o)
    );
    assert!(stdout(&o).contains("Skipped: 2"), "{}", stdout(&o));
}

#[test]
fn memory_stays_under_budget_for_200k_files() {
    let t = tempfile::tempdir().unwrap();
    let (src, dst) = (t.path().join("src"), t.path().join("dst"));
    // 50,000 files in 500 folders, and 150,000 in one folder: memory must not
    // grow with the size of a folder either (a sorted walk holds a whole
    // folder's entries at once: about 110 bytes each).
    for d in 0..500 {
        let dir = src.join(format!("{d:04}"));
        fs::create_dir_all(&dir).unwrap();
        for f in 0..100 {
            fs::File::create(dir.join(f.to_string())).unwrap();
        }
    }
    let flat = src.join("flat");
    fs::create_dir_all(&flat).unwrap();
    for f in 0..150_000 {
        fs::File::create(flat.join(format!("file-{f:06}"))).unwrap();
    }
    let mut run = Command::new(BIN)
        .args([os("--batch"), os("-q"), src.as_os_str(), dst.as_os_str()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // What grows with a tree is the heap (and stacks): the program's own
    // code pages are the same for any tree, and differ between builds.
    let status = format!("/proc/{}/status", run.id());
    let mut kib = 0;
    while run.try_wait().unwrap().is_none() {
        let anon = fs::read_to_string(&status).ok().and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("RssAnon:"))?;
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        });
        kib = kib.max(anon.unwrap_or(0));
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let o = run.wait_with_output().unwrap();
    assert_eq!(code(&o), 0, "stderr: {}", stderr(&o));
    eprintln!("peak anonymous memory for 200,000 files: {kib} KiB");
    assert!(kib > 0, "the run was sampled");
    assert!(
        kib < MEMORY_BUDGET_KIB,
        "peak anonymous memory {kib} KiB for 200,000 files"
    );
    assert_eq!(entries(&dst).len(), 200_501);
}

/// The README's stated budget for 200,000 files, heap and stacks (measured:
/// about 10 MiB; a walk that held the big folder's entries at once would
/// need about 25 more).
const MEMORY_BUDGET_KIB: u64 = 20 * 1024;

#[test]
fn a_symlink_loop_deeper_than_path_max_is_reported_with_dereference() {
    use rustix::fs::{Mode, OFlags, openat, symlinkat};
    let t = tempfile::tempdir().unwrap();
    let (src, dst) = (t.path().join("src"), t.path().join("dst"));
    deep_tree(&src, 25);
    // At the bottom: a link back to a folder above the PATH_MAX boundary.
    let mut dir = openat(
        rustix::fs::CWD,
        &src,
        OFlags::DIRECTORY | OFlags::RDONLY,
        Mode::empty(),
    )
    .unwrap();
    for _ in 0..25 {
        dir = openat(
            &dir,
            "d".repeat(200).as_str(),
            OFlags::DIRECTORY | OFlags::RDONLY,
            Mode::empty(),
        )
        .unwrap();
    }
    symlinkat("../".repeat(20).as_str(), &dir, "up").unwrap();
    let o = batch(&[src.as_os_str(), dst.as_os_str(), os("-L")]);
    assert_eq!(code(&o), 1, "stdout: {} stderr: {}", stdout(&o), stderr(&o));
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "{err}");
    let looped_to = src.join(vec!["d".repeat(200); 5].join("/"));
    assert!(
        err.trim_end().ends_with(&format!(
            "/up: cannot read folder: symlink loop back to {}",
            looped_to.display()
        )),
        "{err}"
    );
    // Every file (and, with -L, what each symlink points to) is still copied;
    // a symlink to a file of the tree becomes a second name of that file.
    assert!(
        stdout(&o).contains("Copied 30 files") && stdout(&o).contains("25 hard links"),
        "{}",
        stdout(&o)
    );
}
