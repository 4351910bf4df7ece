//! Destinations that are not ext4, mounted for real: what convoy keeps there,
//! what it cannot, and that it says so. A filesystem the machine cannot mount
//! fails the test with what to install; it never passes silently.

mod common;

use std::fs;
use std::os::unix::fs::{MetadataExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use common::*;

fn need(what: &str, install: &str) {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {what}"))
        .output()
        .is_ok_and(|o| o.status.success())
        || Path::new(what).exists();
    assert!(
        found,
        "this test needs {what}: apt-get install {install} (.ci/run installs it)"
    );
}

/// A private sshd on 127.0.0.1 and an sshfs mount of a folder through it;
/// both go away when dropped.
struct Sshfs {
    sshd: Child,
    mnt: PathBuf,
}

impl Sshfs {
    fn mount(dir: &Path, remote: &Path, mnt: &Path) -> Sshfs {
        assert!(is_root(), "sshfs tests run as root (to start sshd)");
        need("/usr/sbin/sshd", "openssh-server");
        need("sshfs", "sshfs");
        need("ssh-keygen", "openssh-client");
        assert!(Path::new("/dev/fuse").exists(), "this test needs /dev/fuse");
        for key in ["host_key", "user_key"] {
            let ok = Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                .arg(dir.join(key))
                .status()
                .unwrap();
            assert!(ok.success());
        }
        fs::copy(dir.join("user_key.pub"), dir.join("authorized_keys")).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config = dir.join("sshd_config");
        let d = dir.display();
        fs::write(
            &config,
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\n\
                 PidFile {d}/sshd.pid\nAuthorizedKeysFile {d}/authorized_keys\n\
                 PermitRootLogin prohibit-password\nPasswordAuthentication no\n\
                 StrictModes no\nUsePAM no\nSubsystem sftp internal-sftp\n"
            ),
        )
        .unwrap();
        fs::create_dir_all("/run/sshd").unwrap();
        let sshd = Command::new("/usr/sbin/sshd")
            .args(["-D", "-e", "-f"])
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        fs::create_dir_all(mnt).unwrap();
        let options = format!(
            "IdentityFile={d}/user_key,StrictHostKeyChecking=no,UserKnownHostsFile=/dev/null,port={port}"
        );
        let mut mounted = false;
        for _ in 0..50 {
            let o = Command::new("sshfs")
                .arg("-o")
                .arg(&options)
                .arg(format!("root@127.0.0.1:{}", remote.display()))
                .arg(mnt)
                .output()
                .unwrap();
            if o.status.success() {
                mounted = true;
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let guard = Sshfs {
            sshd,
            mnt: mnt.to_path_buf(),
        };
        assert!(mounted, "sshfs could not mount through the private sshd");
        guard
    }
}

impl Drop for Sshfs {
    fn drop(&mut self) {
        let _ = Command::new("fusermount").arg("-u").arg(&self.mnt).status();
        let _ = self.sshd.kill();
        let _ = self.sshd.wait();
    }
}

#[test]
fn over_sshfs_symlink_metadata_is_left_alone_and_nothing_outside_changes() {
    let t = tempfile::tempdir().unwrap();
    let (src, remote, mnt) = (
        t.path().join("src"),
        t.path().join("remote"),
        t.path().join("mnt"),
    );
    fs::create_dir_all(&remote).unwrap();
    let outside = t.path().join("outside.txt");
    write(&outside, b"not part of the copy");
    set_mtime(&outside, 1_300_000_000, 0);
    write(src.join("target.txt"), &data(1, 5000));
    set_mtime(src.join("target.txt"), 1_500_000_000, 0);
    write(src.join("sub/inner.bin"), &data(2, 300_000));
    // SFTP keeps whole seconds; comparing times within what a destination
    // keeps is the timestamp-granularity work of the filesystems issue.
    set_mtime(src.join("sub/inner.bin"), 1_500_000_100, 0);
    symlink(&outside, src.join("absolute")).unwrap();
    symlink("target.txt", src.join("relative")).unwrap();
    symlink("nowhere/at/all", src.join("dangling")).unwrap();
    for link in ["absolute", "relative", "dangling"] {
        set_mtime(src.join(link), 1_200_000_000, 0);
    }
    let _mount = Sshfs::mount(t.path(), &remote, &mnt);
    let dst = mnt.join("dst");
    let before = fs::metadata(&outside).unwrap();
    let o = batch(&[src.as_os_str(), dst.as_os_str()]);
    assert_eq!(code(&o), 0, "stdout: {} stderr: {}", stdout(&o), stderr(&o));
    for what in ["symlink times", "symlink owners"] {
        // (Through sshfs's attribute cache the probe sees no change on either
        // side, so the reason given is "does not support them".)
        let line = format!("{what} not kept on 3 symlinks: the destination");
        assert!(
            stdout(&o).contains(&line),
            "what is not kept is said once: {}",
            stdout(&o)
        );
    }
    let after = fs::metadata(&outside).unwrap();
    assert_eq!(
        (after.mtime(), after.uid(), after.len()),
        (before.mtime(), before.uid(), before.len()),
        "the file a symlink points to, outside the destination, is untouched"
    );
    for rel in ["target.txt", "sub/inner.bin"] {
        let (s, d) = (
            fs::metadata(src.join(rel)).unwrap(),
            fs::metadata(dst.join(rel)).unwrap(),
        );
        assert_eq!(
            fs::read(src.join(rel)).unwrap(),
            fs::read(dst.join(rel)).unwrap()
        );
        assert_eq!((s.mtime(), s.mode()), (d.mtime(), d.mode()), "{rel}");
    }
    for link in ["absolute", "relative", "dangling"] {
        assert_eq!(
            fs::read_link(src.join(link)).unwrap(),
            fs::read_link(dst.join(link)).unwrap(),
            "{link}"
        );
    }
    // The rerun finds everything up to date (symlink times are not compared
    // where the destination cannot keep them).
    let again = batch(&[src.as_os_str(), dst.as_os_str(), os("--json")]);
    assert_eq!(code(&again), 0, "{}{}", stdout(&again), stderr(&again));
    let (_, summary) = json_lines(&again);
    assert_eq!(summary["files_copied"], 0, "{summary}");
    assert_eq!(summary["symlinks"], 0, "{summary}");
}
