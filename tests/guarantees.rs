//! The promises in the README's "Guarantees" section, each built as a real
//! hostile situation: kill -9 mid-copy, a symlink swapped into the destination
//! while it is written, a tiny descriptor limit, trees deeper than PATH_MAX,
//! files changing under the copy, and a memory ceiling.

mod common;

use std::fs;
use std::os::fd::AsFd;
use std::os::unix::fs::symlink;
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
    for delay_ms in [5u64, 30, 80, 160, 300, 600] {
        let mut child = convoy()
            .args([
                os("--batch"),
                os("-q"),
                os("-j4"),
                os("--on-conflict=overwrite"),
            ])
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
            let name = rel.file_name().unwrap().to_string_lossy();
            if p.is_file()
                && !name.starts_with(".convoy-")
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
/// since the full path is longer than the kernel will resolve.
fn deep_tree(root: &Path, depth: usize) {
    use rustix::fs::{Mode, OFlags, mkdirat, openat};
    fs::create_dir_all(root).unwrap();
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
            Mode::from_raw_mode(0o644),
        )
        .unwrap();
        rustix::io::write(&f, b"deep").unwrap();
        dir = openat(
            dir.as_fd(),
            name.as_str(),
            OFlags::DIRECTORY | OFlags::RDONLY,
            Mode::empty(),
        )
        .unwrap();
    }
}

#[test]
fn a_tree_deeper_than_path_max_is_reported_not_a_panic() {
    let t = tempfile::tempdir().unwrap();
    let (src, dst) = (t.path().join("src"), t.path().join("dst"));
    deep_tree(&src, 30); // 30 × 201 bytes: past PATH_MAX (4096)
    let o = batch(&[src.as_os_str(), dst.as_os_str()]);
    assert!(matches!(code(&o), 0 | 1), "stderr: {}", stderr(&o));
    eprintln!(
        "deep tree: exit {}, {} lines of errors",
        code(&o),
        stderr(&o).lines().count()
    );
    assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
    if code(&o) == 1 {
        assert!(
            stderr(&o).contains("File name too long"),
            "each lost entry is named: {}",
            stderr(&o)
        );
    }
    // Everything within reach was copied.
    assert_eq!(fs::read(dst.join("f0")).unwrap(), b"deep");
    assert_eq!(
        fs::read(dst.join("d".repeat(200)).join("f1")).unwrap(),
        b"deep"
    );
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

#[test]
fn memory_stays_under_budget_for_200k_files() {
    if Command::new("/usr/bin/time").arg("true").output().is_err() {
        eprintln!("skipped: /usr/bin/time is not installed (.ci/run installs it)");
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let (src, dst) = (t.path().join("src"), t.path().join("dst"));
    for d in 0..1000 {
        let dir = src.join(format!("{d:04}"));
        fs::create_dir_all(&dir).unwrap();
        for f in 0..200 {
            fs::File::create(dir.join(f.to_string())).unwrap();
        }
    }
    let rss_file = t.path().join("rss");
    let o = Command::new("/usr/bin/time")
        .args([
            os("-f"),
            os("%M"),
            os("-o"),
            rss_file.as_os_str(),
            os(BIN),
            os("--batch"),
            os("-q"),
        ])
        .args([src.as_os_str(), dst.as_os_str()])
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "stderr: {}", stderr(&o));
    let kib: u64 = fs::read_to_string(&rss_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    eprintln!("peak RSS for 200,000 files: {kib} KiB");
    assert!(
        kib < MEMORY_BUDGET_KIB,
        "peak RSS {kib} KiB for 200,000 files"
    );
    assert_eq!(entries(&dst).len(), 201_000);
}

/// The README's stated budget for 200,000 files.
const MEMORY_BUDGET_KIB: u64 = 32 * 1024;
