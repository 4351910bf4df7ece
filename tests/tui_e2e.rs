//! The real binary in a real terminal: tmux runs it, send-keys types, and
//! capture-pane reads the screen, as a person would see it.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

struct Tmux {
    socket: String,
    exit_file: PathBuf,
}

impl Tmux {
    /// Starts `convoy ARGS` in a detached 100×30 session; `None` without tmux.
    fn start(dir: &Path, args: &str, tag: &str) -> Option<Tmux> {
        Tmux::start_with(dir, args, tag, &[])
    }

    /// The same, with `env` set for convoy (tmux's server, new on its own
    /// socket, passes its environment on).
    fn start_with(dir: &Path, args: &str, tag: &str, env: &[(&str, String)]) -> Option<Tmux> {
        need("tmux", "tmux");
        let socket = format!("convoy-test-{}-{tag}", std::process::id());
        let exit_file = dir.join("exit-code");
        let cmd = format!(
            "'{BIN}' {args}; echo $? > '{}'; sleep 30",
            exit_file.display()
        );
        let ok = Command::new("tmux")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .args([
                "-L",
                &socket,
                "new-session",
                "-d",
                "-x",
                "100",
                "-y",
                "30",
                "-c",
            ])
            .arg(dir)
            .arg(cmd)
            .status()
            .unwrap()
            .success();
        assert!(ok, "tmux starts");
        Some(Tmux { socket, exit_file })
    }

    fn keys(&self, keys: &[&str]) {
        let ok = Command::new("tmux")
            .args(["-L", &self.socket, "send-keys", "-t", "0"])
            .args(keys)
            .status()
            .unwrap();
        assert!(ok.success());
    }

    fn type_text(&self, text: &str) {
        let ok = Command::new("tmux")
            .args(["-L", &self.socket, "send-keys", "-t", "0", "-l", text])
            .status()
            .unwrap();
        assert!(ok.success());
    }

    fn screen(&self) -> String {
        let o = Command::new("tmux")
            .args(["-L", &self.socket, "capture-pane", "-p", "-t", "0"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Waits until a screen that no longer changes shows `text` (a final
    /// screen): a capture taken while a frame is being written can hold
    /// half of it.
    fn wait_for_still(&self, text: &str) -> String {
        loop {
            let s = self.wait_for(text);
            std::thread::sleep(Duration::from_millis(100));
            if self.screen() == s {
                return s;
            }
        }
    }

    /// Waits until the screen shows `text` (generous: CI machines are slow).
    fn wait_for(&self, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let s = self.screen();
            if s.contains(text) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "never showed {text:?}; screen:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn exit_code(&self) -> i32 {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(s) = fs::read_to_string(&self.exit_file)
                && !s.trim().is_empty()
            {
                return s.trim().parse().unwrap();
            }
            assert!(
                Instant::now() < deadline,
                "convoy did not exit; screen:\n{}",
                self.screen()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .status();
    }
}

#[test]
fn setup_form_drives_a_real_copy_to_the_summary() {
    let t = tempfile::tempdir().unwrap();
    let (src, dst) = (t.path().join("photos"), t.path().join("backup"));
    for i in 0..200 {
        write(
            src.join(format!("album{}/img{i}.jpg", i % 5)),
            &data(i, 3000),
        );
    }
    write(src.join("文件夹/中文.txt"), "你好".as_bytes());
    let Some(tmux) = Tmux::start(t.path(), "", "setup") else {
        return;
    };
    tmux.wait_for("New copy");
    tmux.type_text(&src.display().to_string());
    tmux.keys(&["Tab"]);
    let s = tmux.wait_for("photos (copy)");
    assert!(
        s.contains("Destination"),
        "the destination default follows the source:\n{s}"
    );
    tmux.keys(&["C-u"]);
    tmux.type_text(&dst.display().to_string());
    tmux.keys(&["F5"]);
    let s = tmux.wait_for_still("Done —");
    assert!(s.contains("Done — 201 files copied"), "{s}");
    assert!(s.contains("No failures."), "{s}");
    assert_same_tree(&src, &dst);
    tmux.keys(&["q"]);
    assert_eq!(tmux.exit_code(), 0);
}

#[test]
fn pause_then_confirmed_cancel_ends_in_the_cancelled_summary() {
    let t = tempfile::tempdir().unwrap();
    let (src, dst) = (t.path().join("src"), t.path().join("dst"));
    for d in 0..100 {
        for f in 0..300 {
            write(src.join(format!("{d}/{f}")), b"");
        }
    }
    let args = format!("-j1 '{}' '{}'", src.display(), dst.display());
    let Some(tmux) = Tmux::start(t.path(), &args, "cancel") else {
        return;
    };
    tmux.wait_for("Copying");
    tmux.keys(&["p"]);
    tmux.wait_for("Paused");
    tmux.wait_for("Resume (p)");
    tmux.keys(&["Escape"]);
    tmux.wait_for("Cancel copy?");
    tmux.keys(&["y"]);
    let s = tmux.wait_for_still("Cancelled —");
    assert!(s.contains("files not copied"), "{s}");
    assert!(!s.contains("Done"), "{s}");
    assert!(leftover_temps(&dst).is_empty());
    tmux.keys(&["q"]);
    assert_eq!(tmux.exit_code(), 130);
}

#[test]
fn closing_the_terminal_stops_the_copy_cleanly() {
    let t = tempfile::tempdir().unwrap();
    let (src, dst) = (t.path().join("src"), t.path().join("dst"));
    for d in 0..50 {
        for f in 0..200 {
            write(src.join(format!("{d}/{f}")), &data(f, 3000));
        }
    }
    need("tmux", "tmux");
    // The copy runs with its pid noted, so its end can be seen once the
    // terminal (and the shell in it) is gone.
    let pid_file = t.path().join("pid");
    let socket = format!("convoy-test-{}-hangup", std::process::id());
    let ok = Command::new("tmux")
        .args(["-L", &socket, "new-session", "-d", "-x", "100", "-y", "30"])
        .arg(format!(
            "sh -c 'echo $$ > \"{}\"; exec \"{BIN}\" -j1 \"{}\" \"{}\"'",
            pid_file.display(),
            src.display(),
            dst.display()
        ))
        .status()
        .unwrap();
    assert!(ok.success());
    let deadline = Instant::now() + Duration::from_secs(60);
    let pid: u32 = loop {
        if let Ok(s) = fs::read_to_string(&pid_file)
            && let Ok(p) = s.trim().parse()
        {
            break p;
        }
        assert!(Instant::now() < deadline, "convoy never started");
        std::thread::sleep(Duration::from_millis(20));
    };
    // Once it is writing, the terminal goes away (tmux sends SIGHUP).
    while fs::read_dir(&dst).map_or(true, |mut d| d.next().is_none()) {
        assert!(Instant::now() < deadline, "the copy never started");
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = Command::new("tmux")
        .args(["-L", &socket, "kill-server"])
        .status();
    while Path::new(&format!("/proc/{pid}")).exists() {
        assert!(
            Instant::now() < deadline,
            "convoy is still running after its terminal closed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        leftover_temps(&dst).is_empty(),
        "a clean stop removes its temporaries: {:?}",
        leftover_temps(&dst)
    );
    for rel in entries(&dst) {
        if dst.join(&rel).is_file() {
            assert_eq!(
                fs::read(src.join(&rel)).unwrap(),
                fs::read(dst.join(&rel)).unwrap(),
                "{rel:?} is partial"
            );
        }
    }
    let again = batch(&[src.as_os_str(), dst.as_os_str()]);
    assert_eq!(code(&again), 0, "{}", stderr(&again));
    assert_same_tree(&src, &dst);
}

/// Two copies queued (the second with `--and`), the speed limit lowered with
/// `[` while the first runs: the first copy's rate, as its own progress
/// events in the `--log` measure it, drops to the new limit; the second runs
/// when the first ends, and the summary lists both.
#[test]
fn a_queued_copy_follows_and_a_lowered_limit_slows_the_first() {
    let t = tempfile::tempdir().unwrap();
    let p = |n: &str| t.path().join(n);
    for i in 0..64 {
        write(p(&format!("a/{}/{i}.bin", i % 4)), &data(i, 1 << 20));
    }
    for i in 0..10 {
        write(p(&format!("b/{i}.txt")), &data(100 + i, 50_000));
    }
    let log = p("run.log");
    let args = format!(
        "--bwlimit 8M --log '{}' '{}' '{}' --and '{}' '{}'",
        log.display(),
        p("a").display(),
        p("a-copy").display(),
        p("b").display(),
        p("b-copy").display()
    );
    let Some(tmux) = Tmux::start(t.path(), &args, "queue") else {
        return;
    };
    let s = tmux.wait_for("Jobs (1 waiting)");
    assert!(
        s.contains("limit 8.0 MiB/s") && s.contains("1 b → b-copy"),
        "{s}"
    );
    // Two seconds at 8 MiB/s, then a step down.
    let progress = |log: &Path| -> Vec<serde_json::Value> {
        fs::read_to_string(log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["type"] == "progress")
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while progress(&log).len() < 2 {
        assert!(Instant::now() < deadline, "no progress in the log");
        std::thread::sleep(Duration::from_millis(100));
    }
    tmux.keys(&["["]);
    tmux.wait_for("limit 5.0 MiB/s");
    let s = tmux.wait_for_still("Copies (2)");
    assert!(s.contains("a-copy") && s.contains("b-copy"), "{s}");
    assert_same_tree(&p("a"), &p("a-copy"));
    assert_same_tree(&p("b"), &p("b-copy"));
    // The first copy's rate under each limit, from its own events.
    let ticks = progress(&log);
    let rate = |limit: u64| {
        let under: Vec<(f64, f64)> = ticks
            .iter()
            .filter(|v| v["bwlimit"] == limit && v["bytes_done"].as_u64() < Some(64 << 20))
            .map(|v| {
                let (t, b) = (v["elapsed_secs"].as_f64(), v["bytes_done"].as_f64());
                (t.unwrap(), b.unwrap())
            })
            .collect();
        assert!(under.len() >= 2, "events under {limit}: {ticks:?}");
        let ((t0, b0), (t1, b1)) = (under[0], under[under.len() - 1]);
        (b1 - b0) / (t1 - t0)
    };
    let (fast, slow) = (rate(8 << 20), rate(5 << 20));
    assert!(
        slow < fast * 0.8,
        "lowering the limit slows the copy: {fast:.0} then {slow:.0} B/s"
    );
    assert!(
        (0.85..=1.15).contains(&(slow / (5 << 20) as f64)),
        "{slow:.0} B/s under 5 MiB/s"
    );
    tmux.keys(&["q"]);
    assert_eq!(tmux.exit_code(), 0);
}

#[test]
fn a_copy_to_another_machine_typed_in_the_form_asks_about_a_conflict_and_names_the_host() {
    let t = tempfile::tempdir().unwrap();
    let (src, dst) = (t.path().join("src"), t.path().join("remote"));
    write(src.join("notes.txt"), b"new notes");
    set_mtime(src.join("notes.txt"), 1_700_000_000, 0);
    write(src.join("more/a.txt"), b"a");
    write(dst.join("notes.txt"), b"old");
    set_mtime(dst.join("notes.txt"), 1_600_000_000, 0);
    // A stand-in for ssh: OpenSSH's SFTP server, here.
    need("/usr/lib/openssh/sftp-server", "openssh-sftp-server");
    let ssh = t.path().join("fake-ssh");
    fs::write(&ssh, "#!/bin/sh\nexec /usr/lib/openssh/sftp-server\n").unwrap();
    chmod(&ssh, 0o755);
    let args = format!("-e '{}'", ssh.display());
    let Some(tmux) = Tmux::start(t.path(), &args, "remote") else {
        return;
    };
    tmux.wait_for("New copy");
    tmux.type_text(&src.display().to_string());
    tmux.keys(&["Tab"]);
    tmux.wait_for("(copy)");
    tmux.keys(&["C-u"]);
    tmux.type_text(&format!("nas:{}", dst.display()));
    tmux.keys(&["F5"]);
    let s = tmux.wait_for_still("Conflict 1 of 1");
    assert!(
        s.contains(&format!("nas:{}", dst.display())),
        "the host is named:\n{s}"
    );
    tmux.keys(&["o"]);
    let s = tmux.wait_for_still("Done —");
    assert!(s.contains("Done — 2 files copied"), "{s}");
    assert_eq!(fs::read(dst.join("notes.txt")).unwrap(), b"new notes");
    assert_eq!(fs::read(dst.join("more/a.txt")).unwrap(), b"a");
    tmux.keys(&["q"]);
    assert_eq!(tmux.exit_code(), 0);
}

#[test]
fn a_copy_from_another_machine_typed_in_the_form_arrives_whole() {
    let t = tempfile::tempdir().unwrap();
    let (src, dst) = (t.path().join("remote"), t.path().join("here"));
    write(src.join("notes.txt"), b"notes");
    set_mtime(src.join("notes.txt"), 1_700_000_000, 0);
    write(src.join("more/a.txt"), b"a");
    need("/usr/lib/openssh/sftp-server", "openssh-sftp-server");
    let ssh = t.path().join("fake-ssh");
    fs::write(&ssh, "#!/bin/sh\nexec /usr/lib/openssh/sftp-server\n").unwrap();
    chmod(&ssh, 0o755);
    let args = format!("-e '{}'", ssh.display());
    let Some(tmux) = Tmux::start(t.path(), &args, "remote-source") else {
        return;
    };
    tmux.wait_for("New copy");
    // The other machine's folders complete what is typed, as local ones do.
    tmux.type_text(&format!("nas:{}/rem", t.path().display()));
    tmux.wait_for(&format!("nas:{}/", src.display()));
    tmux.keys(&["Right"]);
    // The browser follows to the folder there, listing its folders (the
    // suggestions cover its title).
    tmux.wait_for("▸ more/");
    tmux.keys(&["Tab"]);
    tmux.type_text(&dst.display().to_string());
    tmux.keys(&["F5"]);
    let s = tmux.wait_for_still("Done —");
    assert!(s.contains("Done — 2 files copied"), "{s}");
    assert!(s.contains("copied to 1 s"), "the window is said:\n{s}");
    assert_eq!(fs::read(dst.join("notes.txt")).unwrap(), b"notes");
    let m = fs::metadata(dst.join("notes.txt")).unwrap();
    assert_eq!(std::os::unix::fs::MetadataExt::mtime(&m), 1_700_000_000);
    assert_eq!(fs::read(dst.join("more/a.txt")).unwrap(), b"a");
    tmux.keys(&["q"]);
    assert_eq!(tmux.exit_code(), 0);
}

#[test]
fn while_another_machine_is_reached_the_screen_says_so_and_still_answers() {
    let t = tempfile::tempdir().unwrap();
    let (src, dst) = (t.path().join("src"), t.path().join("remote"));
    write(src.join("notes.txt"), b"notes");
    need("/usr/lib/openssh/sftp-server", "openssh-sftp-server");
    // An ssh that takes three seconds to log in.
    let ssh = t.path().join("slow-ssh");
    fs::write(
        &ssh,
        "#!/bin/sh\nsleep 3\nexec /usr/lib/openssh/sftp-server\n",
    )
    .unwrap();
    chmod(&ssh, 0o755);
    let args = format!("-e '{}'", ssh.display());
    let Some(tmux) = Tmux::start(t.path(), &args, "slow-remote") else {
        return;
    };
    tmux.wait_for("New copy");
    tmux.type_text(&src.display().to_string());
    tmux.keys(&["Tab"]);
    tmux.keys(&["C-u"]);
    tmux.type_text(&format!("nas:{}", dst.display()));
    tmux.keys(&["F5"]);
    tmux.wait_for("connecting to nas");
    // The form still answers: the help opens and closes.
    tmux.keys(&["F1"]);
    tmux.wait_for("Help");
    tmux.keys(&["Escape"]);
    let s = tmux.wait_for_still("Done —");
    assert!(s.contains("Done — 1 files copied"), "{s}");
    assert_eq!(fs::read(dst.join("notes.txt")).unwrap(), b"notes");
    tmux.keys(&["q"]);
    assert_eq!(tmux.exit_code(), 0);
}

#[test]
fn a_bucket_typed_in_the_form_is_browsed_and_copied_from() {
    let t = tempfile::tempdir().unwrap();
    let s3 = common::s3::Server::start(&t.path().join("store"), &["bkt"]);
    write(s3.root.join("bkt/photos/2024/a.jpg"), b"jpeg");
    write(s3.root.join("bkt/photos/b.jpg"), b"jpeg too");
    let here = t.path().join("here");
    let env = [
        ("HOME", t.path().join("home").display().to_string()),
        ("AWS_ACCESS_KEY_ID", common::s3::KEY.to_string()),
        ("AWS_SECRET_ACCESS_KEY", common::s3::SECRET.to_string()),
        ("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{}", s3.port)),
    ];
    let Some(tmux) = Tmux::start_with(t.path(), "", "bucket", &env) else {
        return;
    };
    tmux.wait_for("New copy");
    tmux.type_text("s3://bkt/photos/");
    // The browser lists the prefix's folders, as the server answers.
    let s = tmux.wait_for("2024/");
    assert!(
        s.contains("s3://bkt/photos/"),
        "the browser is in the bucket:\n{s}"
    );
    tmux.keys(&["Tab"]);
    tmux.keys(&["C-u"]);
    tmux.type_text(&here.display().to_string());
    tmux.keys(&["F5"]);
    let s = tmux.wait_for_still("Done —");
    assert!(s.contains("Done — 2 files copied"), "{s}");
    assert_eq!(fs::read(here.join("2024/a.jpg")).unwrap(), b"jpeg");
    assert_eq!(fs::read(here.join("b.jpg")).unwrap(), b"jpeg too");
    tmux.keys(&["q"]);
    assert_eq!(tmux.exit_code(), 0);
}
