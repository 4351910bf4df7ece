//! Copies to and from a folder on another machine over SFTP, checked against
//! OpenSSH's own server (`/usr/lib/openssh/sftp-server`, Debian's openssh-sftp-server)
//! on pipes: `-e` names a script that runs it, as ssh would run it on the
//! other machine. What the copy promises over SFTP is checked on the bytes the
//! server wrote: contents, modes, times to the second, symlinks, hard links,
//! no temporary left, nothing replaced that the policy keeps; and a copy
//! whose connection dies leaves nothing partial under a final name.

mod common;

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

const SERVER: &str = SFTP_SERVER;

/// A private sshd with its keys in `dir/keys`.
fn sshd_in(dir: &Path) -> common::sshd::Sshd {
    let keys = dir.join("keys");
    fs::create_dir_all(&keys).unwrap();
    common::sshd::Sshd::start(&keys)
}

/// Waits until a file is being written in `dst` (a temporary there, or a
/// big file's partial).
fn wait_for_a_temporary(dst: &Path) {
    for _ in 0..300 {
        if dst.exists() && leftover_temps(dst).len() + partials(dst).len() == 1 {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("no file was being written in {}", dst.display());
}

/// `convoy --batch --bwlimit 16M -e RSH FROM TO`, cancelled (SIGTERM) two
/// seconds after a file is being written in `dst`: what it said. It never
/// exits 0.
fn cancelled_mid_file(rsh: &Path, (from, to): (&str, &str), dst: &Path) -> String {
    let mut c = convoy();
    c.args(["--batch", "--bwlimit", "16M", "-e"])
        .arg(rsh)
        .args([from, to]);
    let run = c
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_a_temporary(dst);
    std::thread::sleep(std::time::Duration::from_secs(2));
    Command::new("kill")
        .args(["-TERM", &run.id().to_string()])
        .status()
        .unwrap();
    let out = run.wait_with_output().unwrap();
    assert_ne!(out.status.code(), Some(0), "a cancelled copy never exits 0");
    String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr)
}

fn upload(rsh: &Path, src: &Path, dst: &Path, extra: &[&str]) -> std::process::Output {
    copy_to(rsh, src, &format!("otherhost:{}", dst.display()), extra)
}

/// `convoy --batch -e RSH EXTRA... SRC TO`.
fn copy_to(
    rsh: impl AsRef<std::ffi::OsStr>,
    src: &Path,
    to: &str,
    extra: &[&str],
) -> std::process::Output {
    let mut c = convoy();
    c.arg("--batch")
        .arg("-e")
        .arg(rsh)
        .args(extra)
        .arg(src)
        .arg(to);
    c.output().unwrap()
}

fn tree(src: &Path) {
    fs::create_dir_all(src.join("a/empty")).unwrap();
    write(src.join("a/f.txt"), b"hello");
    chmod(src.join("a/f.txt"), 0o640);
    set_mtime(src.join("a/f.txt"), 1_600_000_000, 0);
    write(src.join("big"), &data(7, 3_000_000));
    std::os::unix::fs::symlink("f.txt", src.join("a/link")).unwrap();
    fs::hard_link(src.join("a/f.txt"), src.join("a/hard")).unwrap();
    chmod(src.join("a"), 0o750);
    set_mtime(src.join("a"), 1_500_000_000, 0);
}

#[test]
fn a_tree_goes_to_another_machine_whole_and_a_rerun_finds_it_up_to_date() {
    let t = tempfile::tempdir().unwrap();
    let (src, dst) = (t.path().join("src"), t.path().join("remote/dst"));
    tree(&src);
    let rsh = fake_ssh(t.path());
    let o = upload(&rsh, &src, &dst, &[]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert_eq!(fs::read(dst.join("big")).unwrap(), data(7, 3_000_000));
    let f = fs::metadata(dst.join("a/f.txt")).unwrap();
    assert_eq!(fs::read(dst.join("a/f.txt")).unwrap(), b"hello");
    assert_eq!(f.mode() & 0o7777, 0o640);
    assert_eq!(f.mtime(), 1_600_000_000);
    assert_eq!(
        fs::read_link(dst.join("a/link")).unwrap(),
        Path::new("f.txt")
    );
    let hard = fs::metadata(dst.join("a/hard")).unwrap();
    assert_eq!(
        (hard.ino(), hard.nlink()),
        (f.ino(), 2),
        "a hard link, not a copy"
    );
    let a = fs::metadata(dst.join("a")).unwrap();
    assert_eq!((a.mode() & 0o7777, a.mtime()), (0o750, 1_500_000_000));
    assert!(dst.join("a/empty").is_dir());
    assert_eq!(leftover_temps(&dst), Vec::<PathBuf>::new());
    assert!(
        stderr(&o).contains("1 s"),
        "the time window is said: {}",
        stderr(&o)
    );

    let o = upload(&rsh, &src, &dst, &[]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("Copied 0 files"), "{}", stdout(&o));
}

#[test]
fn a_file_already_there_is_kept_unless_the_policy_replaces_it() {
    let t = tempfile::tempdir().unwrap();
    let (src, dst) = (t.path().join("src"), t.path().join("dst"));
    write(src.join("f"), b"new");
    set_mtime(src.join("f"), 1_700_000_000, 0);
    write(dst.join("f"), b"theirs");
    set_mtime(dst.join("f"), 1_600_000_000, 0);
    let rsh = fake_ssh(t.path());
    let o = upload(&rsh, &src, &dst, &[]);
    assert_ne!(code(&o), 0, "a conflict skipped is not a complete copy");
    assert_eq!(fs::read(dst.join("f")).unwrap(), b"theirs");
    let o = upload(&rsh, &src, &dst, &["--on-conflict", "newer"]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert_eq!(fs::read(dst.join("f")).unwrap(), b"new");
    assert_eq!(leftover_temps(&dst), Vec::<PathBuf>::new());
}

#[test]
fn a_host_that_cannot_be_reached_is_one_clear_error_and_nothing_is_written() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    write(src.join("f"), b"x");
    let fails = t.path().join("no-ssh");
    fs::write(
        &fails,
        "#!/bin/sh\necho 'me@h: Permission denied (publickey).' >&2\nexit 255\n",
    )
    .unwrap();
    fs::set_permissions(&fails, fs::Permissions::from_mode(0o755)).unwrap();
    let o = upload(&fails, &src, &t.path().join("dst"), &[]);
    assert_eq!(code(&o), 2);
    let err = stderr(&o);
    assert!(
        err.contains("otherhost") && err.contains("Permission denied"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(!t.path().join("dst").exists());
}

#[test]
fn a_connection_killed_mid_copy_leaves_nothing_partial_and_a_rerun_completes() {
    let t = tempfile::tempdir().unwrap();
    let (src, dst) = (t.path().join("src"), t.path().join("dst"));
    write(src.join("big"), &data(3, 64 << 20));
    let rsh = fake_ssh(t.path());
    // Slowed so the kill lands while the file is being written.
    let mut c = convoy();
    c.args(["--batch", "--bwlimit", "8M", "-e"])
        .arg(&rsh)
        .arg(&src);
    c.arg(format!("otherhost:{}", dst.display()));
    let run = c
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid_file = t.path().join("ssh.pid");
    wait_for_a_temporary(&dst);
    let pid = fs::read_to_string(&pid_file).unwrap();
    Command::new("kill")
        .args(["-9", pid.trim()])
        .status()
        .unwrap();
    let out = run.wait_with_output().unwrap();
    assert_ne!(out.status.code(), Some(0), "a copy cut short never exits 0");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("stopped: the connection to the destination was lost"),
        "the run stops at once, saying why: {err}"
    );
    assert!(
        !dst.join("big").exists(),
        "nothing partial under its final name"
    );

    let o = upload(&rsh, &src, &dst, &[]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert_eq!(fs::read(dst.join("big")).unwrap(), data(3, 64 << 20));
    assert_eq!(
        leftover_temps(&dst),
        Vec::<PathBuf>::new(),
        "the dead run's temporary is swept"
    );
}

#[test]
fn what_a_remote_copy_cannot_do_yet_is_refused_before_anything_is_written() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    write(src.join("f"), b"x");
    let rsh = fake_ssh(t.path());
    let o = upload(&rsh, &src, &t.path().join("dst"), &["--mirror"]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("not available over SFTP yet"),
        "{}",
        stderr(&o)
    );
    assert!(!t.path().join("dst").exists());
}

#[test]
fn the_library_copies_to_another_machine_as_the_command_does() {
    let t = tempfile::tempdir().unwrap();
    let (src, dst) = (t.path().join("src"), t.path().join("dst"));
    tree(&src);
    let rsh = fake_ssh(t.path());
    let remote = format!("otherhost:{}", dst.display());
    let summary = convoy::CopyTree::new(&src, &remote)
        .rsh(rsh.display().to_string())
        .run()
        .unwrap();
    assert!(summary.is_success(), "{summary:?}");
    assert_eq!(summary.files_copied, 2);
    assert_eq!(fs::read(dst.join("a/f.txt")).unwrap(), b"hello");
    // And back again, from the other machine.
    let back = t.path().join("back");
    let summary = convoy::CopyTree::new(&remote, &back)
        .rsh(rsh.display().to_string())
        .run()
        .unwrap();
    assert!(summary.is_success(), "{summary:?}");
    assert_eq!(fs::read(back.join("a/f.txt")).unwrap(), b"hello");
    assert_eq!(fs::read(back.join("big")).unwrap(), data(7, 3_000_000));
}

#[test]
fn one_file_or_several_sources_go_to_and_from_another_machine_as_they_go_here() {
    let t = tempfile::tempdir().unwrap();
    let (src, there) = (t.path().join("src"), t.path().join("there"));
    write(src.join("one.txt"), b"one");
    chmod(src.join("one.txt"), 0o640);
    set_mtime(src.join("one.txt"), 1_600_000_000, 0);
    write(src.join("d/x"), b"in d");
    fs::create_dir_all(there.join("existing")).unwrap();
    let rsh = fake_ssh(t.path());
    let host = |p: &Path| format!("otherhost:{}", p.display());
    let run = |args: &[&std::ffi::OsStr]| {
        let o = convoy()
            .arg("--batch")
            .arg("-e")
            .arg(&rsh)
            .args(args)
            .output()
            .unwrap();
        assert_eq!(code(&o), 0, "{args:?}: {}{}", stdout(&o), stderr(&o));
    };
    let one = src.join("one.txt");
    let same = |p: &Path| {
        let m = fs::metadata(p).unwrap();
        assert_eq!(fs::read(p).unwrap(), b"one", "{}", p.display());
        assert_eq!((m.mode() & 0o7777, m.mtime()), (0o640, 1_600_000_000));
    };
    // To the other machine: to a new name, into a folder there (with or
    // without the slash), several into one folder.
    run(&[one.as_os_str(), host(&there.join("renamed.txt")).as_ref()]);
    same(&there.join("renamed.txt"));
    run(&[one.as_os_str(), host(&there.join("existing")).as_ref()]);
    same(&there.join("existing/one.txt"));
    let slash = format!("{}/", host(&there.join("new")));
    run(&[one.as_os_str(), slash.as_ref()]);
    same(&there.join("new/one.txt"));
    run(&[
        src.join("d").as_os_str(),
        one.as_os_str(),
        host(&there.join("several")).as_ref(),
    ]);
    same(&there.join("several/one.txt"));
    assert_eq!(fs::read(there.join("several/d/x")).unwrap(), b"in d");
    // And back: to a new name, into a folder here, several into one.
    let here = t.path().join("here");
    fs::create_dir_all(&here).unwrap();
    run(&[host(&one).as_ref(), here.join("back.txt").as_os_str()]);
    same(&here.join("back.txt"));
    run(&[host(&one).as_ref(), here.as_os_str()]);
    same(&here.join("one.txt"));
    run(&[
        host(&src.join("d")).as_ref(),
        host(&one).as_ref(),
        here.join("several").as_os_str(),
    ]);
    same(&here.join("several/one.txt"));
    assert_eq!(fs::read(here.join("several/d/x")).unwrap(), b"in d");
    assert_eq!(leftover_temps(&there), Vec::<PathBuf>::new());

    // Sources from two places, and a comparison, are refused.
    let o = convoy()
        .arg("--batch")
        .arg("-e")
        .arg(&rsh)
        .arg(host(&one))
        .arg(src.join("d"))
        .arg(t.path().join("mixed"))
        .output()
        .unwrap();
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("go in two runs"), "{}", stderr(&o));
    let o = convoy()
        .arg("--compare")
        .arg(&src)
        .arg(host(&t.path().join("dst")))
        .output()
        .unwrap();
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("another machine"), "{}", stderr(&o));
    assert!(!t.path().join("dst").exists() && !t.path().join("mixed").exists());
}

#[test]
fn through_a_real_sshd_a_tree_arrives_exact_and_a_login_that_would_ask_is_refused() {
    let t = tempfile::tempdir().unwrap();
    let sshd = sshd_in(t.path());
    let (src, dst) = (t.path().join("src"), t.path().join("remote/dst"));
    tree(&src);
    let to = format!("root@127.0.0.1:{}", dst.display());
    let o = copy_to(sshd.ssh(), &src, &to, &[]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert_eq!(fs::read(dst.join("big")).unwrap(), data(7, 3_000_000));
    let f = fs::metadata(dst.join("a/f.txt")).unwrap();
    assert_eq!((f.mode() & 0o7777, f.mtime()), (0o640, 1_600_000_000));
    assert_eq!(fs::metadata(dst.join("a/hard")).unwrap().ino(), f.ino());
    assert_eq!(
        fs::read_link(dst.join("a/link")).unwrap(),
        Path::new("f.txt")
    );
    assert_eq!(leftover_temps(&dst), Vec::<PathBuf>::new());
    // And back, from the other machine.
    let back = t.path().join("back");
    let from = format!("root@127.0.0.1:{}", dst.display());
    let o = convoy()
        .args(["--batch", "-e", &sshd.ssh(), &from])
        .arg(&back)
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert_eq!(fs::read(back.join("big")).unwrap(), data(7, 3_000_000));
    let f = fs::metadata(back.join("a/f.txt")).unwrap();
    assert_eq!((f.mode() & 0o7777, f.mtime()), (0o640, 1_600_000_000));
    assert_eq!(leftover_temps(&back), Vec::<PathBuf>::new());

    // The host's key is not known and nobody may be asked: one error that
    // says so and what to do, nothing written.
    let asks = format!(
        "ssh -o IdentityFile={}/user_key -o UserKnownHostsFile=/dev/null -o Port={}",
        sshd.dir.display(),
        sshd.port
    );
    let elsewhere = t.path().join("elsewhere");
    let to = format!("root@127.0.0.1:{}", elsewhere.display());
    let o = convoy()
        .args(["--batch", "-e", &asks])
        .arg(&src)
        .arg(&to)
        .output()
        .unwrap();
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("127.0.0.1") && err.contains("Host key verification failed"),
        "{err}"
    );
    assert!(err.contains("known_hosts"), "what to do is said: {err}");
    assert!(!elsewhere.exists());
}

#[test]
fn a_stalled_connection_ends_with_a_clear_message_and_a_rerun_completes() {
    let t = tempfile::tempdir().unwrap();
    let sshd = sshd_in(t.path());
    let (src, dst) = (t.path().join("src"), t.path().join("dst"));
    write(src.join("big"), &data(5, 64 << 20));
    let stall = t.path().join("stall");
    let relay = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bench/relay.py");
    // ssh gives up on a server that stops answering (the user's options
    // come first and win over convoy's, which wait a minute).
    let ssh = format!(
        "{} -o ServerAliveInterval=1 -o ServerAliveCountMax=2 \
         -o 'ProxyCommand=python3 {} --stall-file {} %h %p'",
        sshd.ssh(),
        relay.display(),
        stall.display()
    );
    let to = format!("root@127.0.0.1:{}", dst.display());
    let mut run = convoy()
        .args(["--batch", "--bwlimit", "8M", "-e", &ssh])
        .arg(&src)
        .arg(&to)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_a_temporary(&dst);
    fs::write(&stall, b"").unwrap();
    // A hang is the failure looked for; how soon it ends is ssh's to say.
    let mut ended = None;
    for _ in 0..1200 {
        if let Some(status) = run.try_wait().unwrap() {
            ended = Some(status);
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let Some(status) = ended else {
        let _ = run.kill();
        panic!("the copy hung on a stalled connection");
    };
    let err = String::from_utf8_lossy(&run.wait_with_output().unwrap().stderr).to_string();
    assert_ne!(status.code(), Some(0), "{err}");
    assert!(
        err.contains("connection") && err.contains("127.0.0.1"),
        "{err}"
    );
    assert!(
        !dst.join("big").exists(),
        "nothing partial under its final name"
    );

    fs::remove_file(&stall).unwrap();
    let o = copy_to(sshd.ssh(), &src, &to, &[]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert_eq!(fs::read(dst.join("big")).unwrap(), data(5, 64 << 20));
    assert_eq!(leftover_temps(&dst), Vec::<PathBuf>::new());
}

#[test]
fn many_small_files_in_many_folders_arrive_whole_with_their_times() {
    let t = tempfile::tempdir().unwrap();
    let (src, dst) = (t.path().join("src"), t.path().join("dst"));
    for d in 0..20 {
        for f in 0..60 {
            let p = src.join(format!("d{d}/sub/f{f}"));
            write(&p, &data((d * 100 + f) as u64, (f * 97) % 5000));
            set_mtime(&p, 1_600_000_000 + f as i64, 0);
        }
    }
    let rsh = fake_ssh(t.path());
    let o = upload(&rsh, &src, &dst, &[]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    for d in 0..20 {
        for f in 0..60 {
            let rel = format!("d{d}/sub/f{f}");
            assert_eq!(
                fs::read(dst.join(&rel)).unwrap(),
                fs::read(src.join(&rel)).unwrap()
            );
            let m = fs::metadata(dst.join(&rel)).unwrap();
            assert_eq!(m.mtime(), 1_600_000_000 + f as i64, "{rel}");
        }
    }
    assert_eq!(entries(&dst).len(), entries(&src).len());
    assert_eq!(leftover_temps(&dst), Vec::<PathBuf>::new());
}

#[test]
fn a_full_remote_disk_stops_the_run_saying_so_and_a_rerun_with_room_completes() {
    need_root("mount a small tmpfs as the server's disk");
    let t = tempfile::tempdir().unwrap();
    let (src, disk) = (t.path().join("src"), t.path().join("disk"));
    for f in 0..40 {
        write(src.join(format!("f{f}")), &data(f, 100_000));
    }
    write(src.join("big"), &data(99, 3_000_000));
    fs::create_dir_all(&disk).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
        .arg(&disk)
        .status()
        .unwrap();
    assert!(mounted.success(), "tmpfs mounts");
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(self.0).status();
        }
    }
    let _unmount = Unmount(&disk);
    let dst = disk.join("dst");
    let rsh = fake_ssh(t.path());
    let o = upload(&rsh, &src, &dst, &[]);
    assert_eq!(code(&o), 1, "{}{}", stdout(&o), stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("stopped") && err.contains("full"), "{err}");
    for f in 0..40 {
        let p = dst.join(format!("f{f}"));
        if let Ok(got) = fs::read(&p) {
            assert_eq!(got, data(f, 100_000), "nothing partial under a final name");
        }
    }
    assert!(fs::read(dst.join("big")).map_or(true, |b| b == data(99, 3_000_000)));

    let grown = Command::new("mount")
        .args(["-o", "remount,size=64m"])
        .arg(&disk)
        .status()
        .unwrap();
    assert!(grown.success());
    let o = upload(&rsh, &src, &dst, &[]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert_eq!(fs::read(dst.join("big")).unwrap(), data(99, 3_000_000));
    assert_eq!(leftover_temps(&dst), Vec::<PathBuf>::new());
}

#[test]
fn owners_are_kept_where_the_server_lets_its_login_give_files_away() {
    need_root("give files away");
    let t = tempfile::tempdir().unwrap();
    let (src, dst) = (t.path().join("src"), t.path().join("dst"));
    write(src.join("d/tool"), b"#!/bin/sh\n");
    write(src.join("d/big"), &data(4, 2_000_000));
    for p in [src.join("d/tool"), src.join("d/big"), src.join("d")] {
        std::os::unix::fs::chown(&p, Some(1234), Some(5678)).unwrap();
    }
    // Set after the owner, as a change of owner clears set-id bits.
    chmod(src.join("d/tool"), 0o4755);
    let rsh = fake_ssh(t.path());
    let o = upload(&rsh, &src, &dst, &[]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert!(!stderr(&o).contains("owners not kept"), "{}", stderr(&o));
    for rel in ["d/tool", "d/big", "d"] {
        let m = fs::metadata(dst.join(rel)).unwrap();
        assert_eq!((m.uid(), m.gid()), (1234, 5678), "{rel}");
    }
    let tool = fs::metadata(dst.join("d/tool")).unwrap();
    assert_eq!(
        tool.mode() & 0o7777,
        0o4755,
        "the set-id bit survives the owner"
    );
    // Owner, mode and time together in one request where no set-id bit is
    // in the way: all three kept.
    let (s, d) = (
        fs::metadata(src.join("d/big")).unwrap(),
        fs::metadata(dst.join("d/big")).unwrap(),
    );
    assert_eq!((d.mode(), d.mtime()), (s.mode(), s.mtime()));
    // Without them asked for, the login's own.
    let o = upload(
        &rsh,
        &src,
        &t.path().join("mine"),
        &["--no-preserve", "owner"],
    );
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert_eq!(fs::metadata(t.path().join("mine/d/tool")).unwrap().uid(), 0);
}

#[test]
fn a_rerun_into_folders_already_there_copies_only_what_changed_and_sweeps_dead_temporaries() {
    let t = tempfile::tempdir().unwrap();
    let (src, dst) = (t.path().join("src"), t.path().join("dst"));
    for d in 0..6 {
        for f in 0..20 {
            write(
                src.join(format!("d{d}/in/f{f}")),
                &data((d * 20 + f) as u64, 700),
            );
        }
    }
    let rsh = fake_ssh(t.path());
    let o = upload(&rsh, &src, &dst, &[]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    // A dead run's temporary deep inside, a changed file, a new folder.
    let dead = dst.join("d3/in/.convoy-7ffffff000000001.tmp");
    write(&dead, b"half");
    write(src.join("d4/in/f7"), b"changed");
    set_mtime(src.join("d4/in/f7"), 2_000_000_000, 0);
    write(src.join("d5/new/f"), b"new");
    let o = upload(&rsh, &src, &dst, &["--on-conflict", "newer"]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("Copied 2 files"), "{}", stdout(&o));
    assert_eq!(fs::read(dst.join("d4/in/f7")).unwrap(), b"changed");
    assert_eq!(fs::read(dst.join("d5/new/f")).unwrap(), b"new");
    assert!(!dead.exists(), "the dead run's temporary is swept");
    assert_eq!(entries(&dst).len(), entries(&src).len());
}

#[test]
fn a_server_that_refuses_permission_fails_each_file_with_its_path_and_a_rerun_completes() {
    need_root("run the server as nobody");
    need("setpriv", "util-linux");
    let t = tempfile::tempdir().unwrap();
    chmod(t.path(), 0o755);
    let (src, dst) = (t.path().join("src"), t.path().join("dst"));
    for f in 0..5 {
        write(src.join(format!("sub/f{f}")), &data(f, 3000));
    }
    write(src.join("big"), &data(9, 2_000_000));
    // The folder is there, the server's login may not write in it.
    fs::create_dir_all(&dst).unwrap();
    chmod(&dst, 0o755);
    need(SERVER, "openssh-sftp-server");
    let nobody = t.path().join("as-nobody");
    fs::write(
        &nobody,
        format!("#!/bin/sh\nexec setpriv --reuid=nobody --regid=nogroup --clear-groups {SERVER}\n"),
    )
    .unwrap();
    chmod(&nobody, 0o755);
    let o = upload(&nobody, &src, &dst, &[]);
    assert_eq!(code(&o), 1, "{}{}", stdout(&o), stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains(&format!("otherhost:{}", dst.display())) && err.contains("ermission denied"),
        "each refusal names the host, the path and why: {err}"
    );
    assert!(
        err.contains("sub: cannot create folder: Permission denied"),
        "a folder that could not be made says why, once: {err}"
    );
    assert_eq!(entries(&dst).len(), 0, "nothing written, nothing partial");

    let o = upload(&fake_ssh(t.path()), &src, &dst, &[]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert_eq!(fs::read(dst.join("big")).unwrap(), data(9, 2_000_000));
    assert_eq!(fs::read(dst.join("sub/f4")).unwrap(), data(4, 3000));
}

// From another machine.

/// `convoy --batch -e RSH EXTRA... otherhost:SRC DST`.
fn download(rsh: &Path, src: &Path, dst: &Path, extra: &[&str]) -> std::process::Output {
    let mut c = convoy();
    c.arg("--batch").arg("-e").arg(rsh).args(extra);
    c.arg(format!("otherhost:{}", src.display())).arg(dst);
    c.output().unwrap()
}

#[test]
fn a_tree_comes_from_another_machine_whole_and_a_rerun_finds_it_up_to_date() {
    let t = tempfile::tempdir().unwrap();
    let (src, dst) = (t.path().join("remote/src"), t.path().join("dst"));
    tree(&src);
    for f in 0..300 {
        write(src.join(format!("many/f{f}")), &data(f, 100 + f as usize));
    }
    let fifo = src.join("a/fifo");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    set_mtime(src.join("a"), 1_500_000_000, 0);
    let rsh = fake_ssh(t.path());
    let o = download(&rsh, &src, &dst, &[]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert_eq!(fs::read(dst.join("big")).unwrap(), data(7, 3_000_000));
    for f in [0, 150, 299] {
        let got = fs::read(dst.join(format!("many/f{f}"))).unwrap();
        assert_eq!(got, data(f, 100 + f as usize), "many/f{f}");
    }
    let f = fs::metadata(dst.join("a/f.txt")).unwrap();
    assert_eq!(fs::read(dst.join("a/f.txt")).unwrap(), b"hello");
    assert_eq!((f.mode() & 0o7777, f.mtime()), (0o640, 1_600_000_000));
    assert_eq!(
        fs::read_link(dst.join("a/link")).unwrap(),
        Path::new("f.txt")
    );
    // SFTP does not show hard links: the second name is a copy of its own.
    assert_eq!(fs::read(dst.join("a/hard")).unwrap(), b"hello");
    assert!(
        fs::symlink_metadata(dst.join("a/fifo"))
            .unwrap()
            .file_type()
            .is_fifo()
    );
    let a = fs::metadata(dst.join("a")).unwrap();
    assert_eq!((a.mode() & 0o7777, a.mtime()), (0o750, 1_500_000_000));
    assert!(dst.join("a/empty").is_dir());
    assert_eq!(leftover_temps(&dst), Vec::<PathBuf>::new());

    let o = download(&rsh, &src, &dst, &[]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("Copied 0 files"), "{}", stdout(&o));

    // A file changed there is kept here unless the policy replaces it.
    write(src.join("a/f.txt"), b"changed");
    let o = download(&rsh, &src, &dst, &[]);
    assert_eq!(code(&o), 1, "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("a/f.txt: destination exists and differs"),
        "{}",
        stdout(&o)
    );
    assert_eq!(fs::read(dst.join("a/f.txt")).unwrap(), b"hello");
    let o = download(&rsh, &src, &dst, &["--on-conflict", "overwrite"]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert_eq!(fs::read(dst.join("a/f.txt")).unwrap(), b"changed");
}

#[test]
fn a_download_cut_short_leaves_nothing_partial_and_a_rerun_completes() {
    let t = tempfile::tempdir().unwrap();
    let (src, dst) = (t.path().join("src"), t.path().join("dst"));
    write(src.join("big"), &data(3, 32 << 20));
    let rsh = fake_ssh(t.path());
    let mut c = convoy();
    c.args(["--batch", "--bwlimit", "4M", "-e"]).arg(&rsh);
    c.arg(format!("otherhost:{}", src.display())).arg(&dst);
    let run = c
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Once bytes are coming (the run is slowed to 4 MiB/s).
    std::thread::sleep(std::time::Duration::from_secs(2));
    let pid = fs::read_to_string(t.path().join("ssh.pid")).unwrap();
    Command::new("kill")
        .args(["-9", pid.trim()])
        .status()
        .unwrap();
    let out = run.wait_with_output().unwrap();
    assert_ne!(out.status.code(), Some(0), "a copy cut short never exits 0");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("the connection to the source was lost"),
        "the run stops at once, saying why: {err}"
    );
    assert!(!dst.join("big").exists(), "nothing partial under its name");
    assert_eq!(leftover_temps(&dst), Vec::<PathBuf>::new());

    let o = download(&rsh, &src, &dst, &[]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert_eq!(fs::read(dst.join("big")).unwrap(), data(3, 32 << 20));
}

#[test]
fn a_file_the_server_may_not_read_fails_with_its_path_and_the_rest_arrives() {
    need_root("run the server as nobody");
    need("setpriv", "util-linux");
    let t = tempfile::tempdir().unwrap();
    chmod(t.path(), 0o755);
    let (src, dst) = (t.path().join("src"), t.path().join("dst"));
    for f in 0..5 {
        write(src.join(format!("sub/f{f}")), &data(f, 3000));
        chmod(src.join(format!("sub/f{f}")), 0o644);
    }
    write(src.join("sub/secret"), b"not for nobody");
    chmod(src.join("sub/secret"), 0o600);
    chmod(&src, 0o755);
    chmod(src.join("sub"), 0o755);
    need(SERVER, "openssh-sftp-server");
    let nobody = t.path().join("as-nobody");
    fs::write(
        &nobody,
        format!("#!/bin/sh\nexec setpriv --reuid=nobody --regid=nogroup --clear-groups {SERVER}\n"),
    )
    .unwrap();
    chmod(&nobody, 0o755);
    let o = download(&nobody, &src, &dst, &[]);
    assert_eq!(code(&o), 1, "{}{}", stdout(&o), stderr(&o));
    let err = format!("{}{}", stdout(&o), stderr(&o));
    let named = format!("otherhost:{}", src.join("sub/secret").display());
    assert!(
        err.contains(&named) && err.contains("ermission denied"),
        "the refusal names the host, the path and why: {err}"
    );
    assert!(!dst.join("sub/secret").exists());
    assert_eq!(fs::read(dst.join("sub/f4")).unwrap(), data(4, 3000));
    assert_eq!(leftover_temps(&dst), Vec::<PathBuf>::new());
}

#[test]
fn what_a_copy_from_another_machine_cannot_do_yet_is_refused_before_anything_is_written() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    write(src.join("f"), b"x");
    let rsh = fake_ssh(t.path());
    let dst = t.path().join("dst");
    for extra in [&["--move"][..], &["--mirror"], &["-L"]] {
        let o = download(&rsh, &src, &dst, extra);
        assert_eq!(code(&o), 2, "{extra:?}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("not available from another machine yet"),
            "{}",
            stderr(&o)
        );
    }
    // A copy between two other machines.
    let o = copy_to(&rsh, Path::new("one:/x"), "two:/y", &[]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("both on other machines"),
        "{}",
        stderr(&o)
    );
    assert!(!dst.exists());
}

#[test]
fn a_server_that_refuses_hard_links_gets_names_looked_at_first_and_it_is_said() {
    let t = tempfile::tempdir().unwrap();
    let (src, dst) = (t.path().join("src"), t.path().join("dst"));
    tree(&src);
    write(dst.join("big"), b"someone else's");
    need(SERVER, "openssh-sftp-server");
    // OpenSSH's server offering hardlink@openssh.com and refusing it.
    let refuses = t.path().join("no-links");
    fs::write(&refuses, format!("#!/bin/sh\nexec {SERVER} -P hardlink\n")).unwrap();
    chmod(&refuses, 0o755);
    let o = upload(&refuses, &src, &dst, &[]);
    assert_eq!(code(&o), 1, "{}{}", stdout(&o), stderr(&o));
    assert_eq!(
        fs::read(dst.join("big")).unwrap(),
        b"someone else's",
        "what the policy keeps is kept"
    );
    let err = stderr(&o);
    assert!(err.contains("looked at just before it is given"), "{err}");
    assert!(err.contains("hard links not kept"), "{err}");
    let (f, hard) = (
        fs::metadata(dst.join("a/f.txt")).unwrap(),
        fs::metadata(dst.join("a/hard")).unwrap(),
    );
    assert_eq!(fs::read(dst.join("a/hard")).unwrap(), b"hello");
    assert_ne!(f.ino(), hard.ino(), "a copy of its own");
    assert_eq!(leftover_temps(&dst), Vec::<PathBuf>::new());
    let o = upload(&refuses, &src, &dst, &["--on-conflict", "overwrite"]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert_eq!(fs::read(dst.join("big")).unwrap(), data(7, 3_000_000));
}

#[test]
fn a_big_file_cut_short_continues_from_what_is_on_the_server() {
    let t = tempfile::tempdir().unwrap();
    let (src, dst) = (t.path().join("src"), t.path().join("dst"));
    let big = data(5, 96 << 20);
    write(src.join("big"), &big);
    let rsh = fake_ssh(t.path());
    let said = cancelled_mid_file(
        &rsh,
        (
            &src.display().to_string(),
            &format!("otherhost:{}", dst.display()),
        ),
        &dst,
    );
    assert!(said.contains("for the next run to continue"), "{said}");
    assert!(
        said.contains("to remove it: ssh otherhost rm -- "),
        "{said}"
    );
    assert!(!dst.join("big").exists(), "nothing partial under its name");
    let kept = partials(&dst);
    assert_eq!(kept.len(), 1, "the partial is kept: {kept:?}");
    let had = fs::metadata(dst.join(&kept[0])).unwrap().len();
    assert!(had >= 1 << 20, "some of it was written: {had}");

    let o = upload(&rsh, &src, &dst, &[]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert!(stderr(&o).contains("resumed at"), "{}", stderr(&o));
    assert_eq!(fs::read(dst.join("big")).unwrap(), big);
    assert_eq!(leftover_temps(&dst), Vec::<PathBuf>::new());
    assert_eq!(partials(&dst), Vec::<PathBuf>::new());
}

/// A stand-in for ssh that notes each start (its pid, a line each) in
/// `dir/started`: how many connections a copy made.
fn counting_ssh(dir: &Path) -> PathBuf {
    let script = dir.join("counting-ssh");
    fs::write(
        &script,
        format!(
            "#!/bin/sh\necho $$ >> {}/started\nexec {SERVER}\n",
            dir.display()
        ),
    )
    .unwrap();
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    script
}

fn started(dir: &Path) -> Vec<String> {
    fs::read_to_string(dir.join("started"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn a_big_file_goes_over_several_connections_both_ways_and_arrives_whole() {
    let t = tempfile::tempdir().unwrap();
    let (src, there, back) = (
        t.path().join("src"),
        t.path().join("there"),
        t.path().join("back"),
    );
    // Past the size a file is spread from, and not a whole number of pieces.
    let big = data(11, (70 << 20) + 12_345);
    write(src.join("big"), &big);
    write(src.join("small"), b"small");
    set_mtime(src.join("big"), 1_600_000_000, 0);
    let rsh = counting_ssh(t.path());
    let o = upload(&rsh, &src, &there, &["--connections", "3", "--verify"]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert_eq!(
        started(t.path()).len(),
        3,
        "the file went over three connections"
    );
    assert!(
        fs::read(there.join("big")).unwrap() == big,
        "the bytes differ"
    );
    assert_eq!(
        fs::metadata(there.join("big")).unwrap().mtime(),
        1_600_000_000
    );
    assert_eq!(leftover_temps(&there), Vec::<PathBuf>::new());
    assert_eq!(partials(&there), Vec::<PathBuf>::new());

    let o = download(&rsh, &there, &back, &["--connections", "3", "--verify"]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert_eq!(started(t.path()).len(), 6);
    assert!(
        fs::read(back.join("big")).unwrap() == big,
        "the bytes differ"
    );
    assert_eq!(fs::read(back.join("small")).unwrap(), b"small");
    assert_eq!(
        fs::metadata(back.join("big")).unwrap().mtime(),
        1_600_000_000
    );

    // Small files alone need no more than one.
    fs::remove_file(src.join("big")).unwrap();
    let o = upload(&rsh, &src, &t.path().join("again"), &["--connections", "3"]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert_eq!(started(t.path()).len(), 7);
}

#[test]
fn one_of_several_connections_killed_fails_the_file_and_a_rerun_completes() {
    let t = tempfile::tempdir().unwrap();
    let (src, dst) = (t.path().join("src"), t.path().join("dst"));
    let big = data(12, 96 << 20);
    write(src.join("big"), &big);
    let rsh = counting_ssh(t.path());
    let mut c = convoy();
    c.args(["--batch", "--connections", "3", "--bwlimit", "16M", "-e"])
        .arg(&rsh)
        .arg(&src)
        .arg(format!("otherhost:{}", dst.display()));
    let run = c
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_a_temporary(&dst);
    for _ in 0..100 {
        if started(t.path()).len() == 3 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    std::thread::sleep(std::time::Duration::from_millis(500));
    let helper = started(t.path())[2].clone();
    Command::new("kill")
        .args(["-KILL", &helper])
        .status()
        .unwrap();
    let out = run.wait_with_output().unwrap();
    let said =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{said}");
    // The file fails, said with its path; the run goes on over the others.
    assert!(
        said.contains("big: cannot write: one of its connections was lost"),
        "{said}"
    );
    assert!(!said.contains("Stopped"), "{said}");
    assert!(!dst.join("big").exists(), "nothing partial under its name");

    let o = upload(&rsh, &src, &dst, &[]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert!(
        fs::read(dst.join("big")).unwrap() == big,
        "the bytes differ"
    );
    assert_eq!(leftover_temps(&dst), Vec::<PathBuf>::new());
    assert_eq!(partials(&dst), Vec::<PathBuf>::new());
}

#[test]
fn a_big_file_from_another_machine_cut_short_continues_from_what_is_here() {
    let t = tempfile::tempdir().unwrap();
    let (src, dst) = (t.path().join("src"), t.path().join("dst"));
    let big = data(6, 96 << 20);
    write(src.join("big"), &big);
    let rsh = fake_ssh(t.path());
    let said = cancelled_mid_file(
        &rsh,
        (
            &format!("otherhost:{}", src.display()),
            &dst.display().to_string(),
        ),
        &dst,
    );
    assert!(said.contains("for the next run to continue"), "{said}");
    assert!(!dst.join("big").exists(), "nothing partial under its name");
    let kept = partials(&dst);
    assert_eq!(kept.len(), 1, "the partial is kept: {kept:?}");
    let had = fs::metadata(dst.join(&kept[0])).unwrap().len();
    assert!(had >= 1 << 20, "some of it was written: {had}");

    // A partial whose last whole MiB does not read as the source is
    // started over; one that does is continued.
    let saved = fs::read(dst.join(&kept[0])).unwrap();
    let mut bad = saved.clone();
    let last = (had / (1 << 20)) * (1 << 20) - 10;
    bad[last as usize] ^= 0xff;
    fs::write(dst.join(&kept[0]), &bad).unwrap();
    let o = download(&rsh, &src, &dst, &[]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert!(!stderr(&o).contains("resumed at"), "{}", stderr(&o));
    assert!(
        fs::read(dst.join("big")).unwrap() == big,
        "the bytes differ"
    );
    assert_eq!(partials(&dst), Vec::<PathBuf>::new());

    fs::remove_file(dst.join("big")).unwrap();
    fs::write(dst.join(&kept[0]), &saved).unwrap();
    let o = download(&rsh, &src, &dst, &[]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert!(stderr(&o).contains("resumed at"), "{}", stderr(&o));
    assert!(
        fs::read(dst.join("big")).unwrap() == big,
        "the bytes differ"
    );
    assert_eq!(leftover_temps(&dst), Vec::<PathBuf>::new());
    assert_eq!(partials(&dst), Vec::<PathBuf>::new());
}
