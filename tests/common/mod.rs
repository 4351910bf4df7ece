//! Helpers for the integration tests: run the real binary, build trees, and compare
//! a copy with its source the way a user would (bytes, modes, times, links).
#![allow(dead_code)]

pub mod s3;
pub mod sshd;
pub mod strace;

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use rustix::fs::{AtFlags, CWD, Timespec, Timestamps};

pub const BIN: &str = env!("CARGO_BIN_EXE_convoy");

pub fn convoy() -> Command {
    let mut c = Command::new(BIN);
    c.env_remove("NO_COLOR");
    c
}

/// Runs `convoy --batch ARGS` and returns its output.
pub fn batch(args: &[&OsStr]) -> Output {
    convoy()
        .arg("--batch")
        .args(args)
        .output()
        .expect("convoy runs")
}

pub fn os(s: &str) -> &OsStr {
    OsStr::new(s)
}

pub fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Parses `--json` output and returns (entry events, the summary).
pub fn json_lines(o: &Output) -> (Vec<serde_json::Value>, serde_json::Value) {
    let mut entries = Vec::new();
    let mut summary = None;
    for line in stdout(o).lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON: {line:?}: {e}"));
        match v["type"].as_str() {
            Some("entry") => entries.push(v),
            Some("summary") => summary = Some(v),
            _ => {}
        }
    }
    (entries, summary.expect("a summary line"))
}

pub fn write(path: impl AsRef<Path>, data: &[u8]) {
    let path = path.as_ref();
    if let Some(p) = path.parent() {
        fs::create_dir_all(p).unwrap();
    }
    fs::write(path, data).unwrap();
}

pub fn chmod(path: impl AsRef<Path>, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// Sets the mtime (and atime) of `path` itself, not of a symlink's target.
pub fn set_mtime(path: impl AsRef<Path>, secs: i64, nanos: i64) {
    let ts = Timespec {
        tv_sec: secs,
        tv_nsec: nanos,
    };
    let times = Timestamps {
        last_access: ts,
        last_modification: ts,
    };
    rustix::fs::utimensat(CWD, path.as_ref(), &times, AtFlags::SYMLINK_NOFOLLOW).unwrap();
}

/// Deterministic bytes that differ from file to file.
pub fn data(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

pub fn name(bytes: &[u8]) -> PathBuf {
    PathBuf::from(OsStr::from_bytes(bytes))
}

/// Every entry below `root` (relative paths, sorted), excluding `root` itself.
pub fn entries(root: &Path) -> Vec<PathBuf> {
    walkdir::WalkDir::new(root)
        .min_depth(1)
        .sort_by_file_name()
        .into_iter()
        .map(|e| e.unwrap().path().strip_prefix(root).unwrap().to_path_buf())
        .collect()
}

/// Every extended attribute of `p` itself (a symlink's own), sorted: ACLs,
/// capabilities and labels included.
pub fn xattrs(p: &Path) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut names = vec![0u8; 64 * 1024];
    let n = match rustix::fs::llistxattr(p, &mut names[..]) {
        Ok(n) => n,
        Err(_) => return Vec::new(),
    };
    let mut out: Vec<(Vec<u8>, Vec<u8>)> = names[..n]
        .split(|&b| b == 0)
        .filter(|n| !n.is_empty())
        .map(|name| {
            let mut value = vec![0u8; 64 * 1024];
            let c = std::ffi::CString::new(name).unwrap();
            let len = rustix::fs::lgetxattr(p, c.as_c_str(), &mut value[..]).unwrap_or(0);
            value.truncate(len);
            (name.to_vec(), value)
        })
        .collect();
    out.sort();
    out
}

/// Asserts `dst` is an exact copy of `src`: same entries, types, bytes, permission
/// bits, mtimes (to the nanosecond), owners, extended attributes (ACLs and
/// capabilities too), symlink targets and the devices device nodes stand for;
/// folders included, the roots too.
pub fn assert_same_tree(src: &Path, dst: &Path) {
    let mut expected = vec![PathBuf::new()];
    expected.extend(entries(src));
    let mut actual = vec![PathBuf::new()];
    actual.extend(entries(dst));
    assert_eq!(
        actual, expected,
        "the copy has exactly the source's entries"
    );
    for rel in &expected {
        let (s, d) = (src.join(rel), dst.join(rel));
        let (sm, dm) = (
            fs::symlink_metadata(&s).unwrap(),
            fs::symlink_metadata(&d).unwrap(),
        );
        assert_eq!(sm.file_type(), dm.file_type(), "{rel:?}: type");
        assert_eq!(sm.rdev(), dm.rdev(), "{rel:?}: the device it stands for");
        if sm.is_file() {
            assert!(
                fs::read(&s).unwrap() == fs::read(&d).unwrap(),
                "{rel:?}: content differs"
            );
        }
        if sm.file_type().is_symlink() {
            assert_eq!(
                fs::read_link(&s).unwrap(),
                fs::read_link(&d).unwrap(),
                "{rel:?}: link target"
            );
        } else {
            assert_eq!(
                sm.mode() & 0o7777,
                dm.mode() & 0o7777,
                "{rel:?}: permission bits"
            );
        }
        assert_eq!(
            (sm.mtime(), sm.mtime_nsec()),
            (dm.mtime(), dm.mtime_nsec()),
            "{rel:?}: mtime"
        );
        assert_eq!((sm.uid(), sm.gid()), (dm.uid(), dm.gid()), "{rel:?}: owner");
        assert_eq!(xattrs(&s), xattrs(&d), "{rel:?}: extended attributes");
    }
}

/// Whether `rel` is a temporary or inside one (a folder still being filled).
pub fn in_temporary(rel: &Path) -> bool {
    rel.iter().any(|c| {
        let n = c.as_bytes();
        n.starts_with(b".convoy-") && n.ends_with(b".tmp")
    })
}

/// Temporaries convoy left anywhere below `root`.
pub fn leftover_temps(root: &Path) -> Vec<PathBuf> {
    entries(root)
        .into_iter()
        .filter(|p| {
            let n = p.file_name().unwrap().as_bytes();
            n.starts_with(b".convoy-") && n.ends_with(b".tmp")
        })
        .collect()
}

/// The partials of big files kept for a next run (`.convoy-resume-*.part`).
pub fn partials(root: &Path) -> Vec<PathBuf> {
    entries(root)
        .into_iter()
        .filter(|p| {
            let n = p.file_name().unwrap().as_bytes();
            n.starts_with(b".convoy-resume-") && n.ends_with(b".part")
        })
        .collect()
}

/// `cp -a FROM TO`: an exact copy made by another tool, to start a test
/// from (a pristine tree to compare with, a destination to drift).
pub fn cp_a(from: &Path, to: &Path) {
    let ok = Command::new("cp").arg("-a").arg(from).arg(to).status();
    assert!(ok.is_ok_and(|s| s.success()), "cp -a {from:?} {to:?}");
}

pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Runs `convoy --batch ARGS` as user `nobody` (the tests run as root, who
/// can read and make anything).
pub fn as_nobody(args: &[&OsStr]) -> Output {
    need_root("switch to another user");
    Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            BIN,
            "--batch",
        ])
        .args(args)
        .output()
        .expect("setpriv runs")
}

/// A temporary folder others can enter, for tests that drop privileges.
pub fn shared_tempdir() -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    chmod(t.path(), 0o777);
    t
}

/// Makes sure the tool `what` (a command on the PATH, or a path) is there.
/// The tests run as root on Debian, as this project's machines and CI do, so a
/// missing tool is installed from Debian's `package` on first use (one test
/// at a time, whatever the binary); anywhere else the test fails naming the
/// package. A test never passes for want of a tool.
pub fn need(what: &str, package: &str) {
    if !have(what) {
        apt_install(package, &|| have(what));
    }
    assert!(
        have(what),
        "this test needs {what}: apt-get install {package}"
    );
}

/// Like [`need`], for a Python module from PyPI (and the Debian packages it
/// loads at run time).
pub fn need_python(module: &str, package: &str, debian: &[&str]) {
    for lib in debian {
        need_package(lib);
    }
    let check = |m: &str| {
        Command::new("python3")
            .args(["-c", &format!("import {m}")])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !check(module) {
        install(
            &["python3", "-m", "pip", "install", "-q", package],
            package,
            &|| check(module),
        );
    }
    assert!(
        check(module),
        "this test needs the Python module {module}: pip install {package}"
    );
}

/// Like [`need`], for a command that PyPI's `package` brings.
pub fn need_pip(what: &str, package: &str) {
    if !have(what) {
        let cmd = ["python3", "-m", "pip", "install", "-q", package];
        install(&cmd, package, &|| have(what));
    }
    assert!(have(what), "this test needs {what}: pip install {package}");
}

/// Like [`need`], for a Debian package that brings no command of its own (a
/// library).
pub fn need_package(package: &str) {
    let installed = |p: &str| {
        Command::new("dpkg-query")
            .args(["-W", "-f", "${Status}", p])
            .output()
            .is_ok_and(|o| o.stdout.ends_with(b"installed") && o.stdout.starts_with(b"install ok"))
    };
    if !installed(package) {
        apt_install(package, &|| installed(package));
    }
    assert!(
        installed(package),
        "this test needs {package}: apt-get install {package}"
    );
}

/// Fails the test unless it runs as root: the tests that mount images, start
/// sshd, give files away or switch users need it (see README, "Testing").
pub fn need_root(why: &str) {
    assert!(is_root(), "this test runs as root, to {why}");
}

fn apt_install(package: &str, there: &dyn Fn() -> bool) {
    let cmd = [
        "apt-get",
        "install",
        "-y",
        "-qq",
        "--no-install-recommends",
        package,
    ];
    install(&cmd, package, there);
}

fn have(what: &str) -> bool {
    Path::new(what).exists()
        || Command::new("sh")
            .arg("-c")
            .arg(format!("command -v {what}"))
            .output()
            .is_ok_and(|o| o.status.success())
}

/// Runs an install command under a lock shared by every test binary (apt and
/// pip cannot run twice at once), refreshing apt's lists first once an hour.
/// Says what it installs on the terminal, past the test harness's capture.
/// Nothing is done when `there` finds it installed meanwhile by another test.
fn install(cmd: &[&str], what: &str, there: &dyn Fn() -> bool) {
    use std::io::Write;
    if !is_root() {
        return;
    }
    let lock = fs::File::create(std::env::temp_dir().join("convoy-tests-install.lock"))
        .expect("the install lock opens");
    rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive).expect("the install lock");
    if there() {
        return;
    }
    let _ = writeln!(
        std::io::stderr(),
        "convoy tests: installing {what} (needed by a test)"
    );
    if cmd[0] == "apt-get" {
        let stamp = std::env::temp_dir().join("convoy-tests-apt-updated");
        let fresh = fs::metadata(&stamp)
            .and_then(|m| m.modified())
            .is_ok_and(|t| t.elapsed().is_ok_and(|e| e.as_secs() < 3600));
        if !fresh
            && Command::new("apt-get")
                .args(["update", "-qq"])
                .status()
                .is_ok_and(|s| s.success())
        {
            let _ = fs::write(&stamp, b"");
        }
    }
    let out = Command::new(cmd[0])
        .args(&cmd[1..])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .output();
    if let Ok(o) = out
        && !o.status.success()
    {
        let _ = writeln!(
            std::io::stderr(),
            "convoy tests: {} failed: {}",
            cmd.join(" "),
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

/// What `stat` says of every entry below `root` and of `root` itself: type,
/// permission bits, owner, size and mtime, by relative path. Two of these
/// taken around a rerun must be equal: a rerun of a finished copy changes
/// nothing, the destination folder included.
pub fn stat_all(root: &Path) -> std::collections::BTreeMap<PathBuf, String> {
    let mut out = std::collections::BTreeMap::new();
    for rel in std::iter::once(PathBuf::new()).chain(entries(root)) {
        let m = fs::symlink_metadata(root.join(&rel)).unwrap();
        out.insert(
            rel,
            format!(
                "{:o} {}:{} size {} mtime {}.{:09}",
                m.mode(),
                m.uid(),
                m.gid(),
                m.size(),
                m.mtime(),
                m.mtime_nsec()
            ),
        );
    }
    out
}

/// Asserts two [`stat_all`]s are the same, naming each entry that changed.
pub fn assert_unchanged(
    before: &std::collections::BTreeMap<PathBuf, String>,
    after: &std::collections::BTreeMap<PathBuf, String>,
    what: &str,
) {
    let changed: Vec<String> = before
        .iter()
        .filter(|(k, v)| after.get(*k) != Some(v))
        .map(|(k, v)| format!("{k:?}: {v} -> {:?}", after.get(k)))
        .chain(
            after
                .keys()
                .filter(|k| !before.contains_key(*k))
                .map(|k| format!("{k:?}: new")),
        )
        .collect();
    assert!(
        changed.is_empty(),
        "{what} changed:\n{}",
        changed.join("\n")
    );
}

/// OpenSSH's SFTP server (Debian's openssh-sftp-server).
pub const SFTP_SERVER: &str = "/usr/lib/openssh/sftp-server";

/// A stand-in for ssh in `dir`: runs OpenSSH's SFTP server here, whatever
/// the host, as ssh would run it on the other machine (its pid in
/// `dir/ssh.pid`, for a test that kills it).
pub fn fake_ssh(dir: &Path) -> PathBuf {
    need(SFTP_SERVER, "openssh-sftp-server");
    let script = dir.join("fake-ssh");
    fs::write(
        &script,
        format!(
            "#!/bin/sh\necho $$ > {}/ssh.pid\nexec {SFTP_SERVER}\n",
            dir.display()
        ),
    )
    .unwrap();
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    script
}
