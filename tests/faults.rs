//! The fault-injection sweep, in the spirit of SQLite's I/O-error tests: every
//! system call convoy makes during a copy is made to fail (strace's `inject`)
//! with the errors it can really return, at the first, a middle and a late
//! call and from some call on, alone and together with a failing clean-up;
//! and the run is killed or interrupted at several calls. After every case:
//! no hang and no panic; the exit code says what happened; every failure names
//! its path, the operation and the real OS reason; every entry under a final
//! name is complete with its metadata; a clean rerun makes the copy exact and
//! leaves no temporaries. The harness shows it can fail: a careless copier
//! that writes in place does not pass it.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::{MetadataExt, symlink};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::*;

/// A run that takes longer than this has hung (a clean run takes well under
/// a second, under strace too).
const HANG: Duration = Duration::from_secs(60);

/// What each system call convoy makes can really fail with (EINTR: a signal,
/// or an interrupted network or FUSE request). Calls of the dynamic loader and
/// of the Rust runtime come before convoy's own on the main thread; the sweep
/// counts them and starts after them.
const SYSCALLS: &[(&str, &[&str])] = &[
    (
        "openat",
        &[
            "EIO", "EACCES", "ENOSPC", "EDQUOT", "EROFS", "EMFILE", "EINTR",
        ],
    ),
    ("open", &["EIO", "EACCES", "EINTR"]),
    ("openat2", &["EIO", "EACCES", "EAGAIN", "EINTR"]),
    ("statx", &["EIO", "EACCES", "EINTR"]),
    ("newfstatat", &["EIO", "EACCES", "EINTR"]),
    ("fstat", &["EIO"]),
    ("getdents64", &["EIO", "EINTR"]),
    ("read", &["EIO", "EINTR"]),
    ("pread64", &["EIO", "EINTR"]),
    // The first read of a small file, asking whether it is in memory.
    ("preadv2", &["EIO", "EAGAIN", "EOPNOTSUPP", "EINTR"]),
    // Read-ahead on a cold cache, and --verify's dropping of pages.
    ("fadvise64", &["EIO", "EINTR"]),
    // --verify's flush of a round, --flush's and --fsync's.
    ("syncfs", &["EIO", "ENOSPC", "EINTR"]),
    ("fsync", &["EIO", "ENOSPC", "EINTR"]),
    ("fdatasync", &["EIO", "ENOSPC", "EINTR"]),
    ("write", &["EIO", "ENOSPC", "EDQUOT", "EINTR"]),
    // The writes of a big file past the page cache, and of the copy under
    // --verify (which reads what it writes).
    ("pwrite64", &["EIO", "ENOSPC", "EDQUOT", "EINTR"]),
    // Turning O_DIRECT on and off for a big file.
    ("fcntl", &["EIO", "EINVAL", "EINTR"]),
    // What the destination's filesystem is.
    ("fstatfs", &["EIO", "EINTR"]),
    (
        "copy_file_range",
        &["EIO", "ENOSPC", "EDQUOT", "EXDEV", "EOPNOTSUPP", "EINTR"],
    ),
    // Small files copied in the kernel across filesystems.
    (
        "sendfile",
        &["EIO", "ENOSPC", "EDQUOT", "EINVAL", "EOPNOTSUPP", "EINTR"],
    ),
    ("lseek", &["EIO", "EINVAL"]),
    ("ftruncate", &["EIO", "EPERM", "EINTR"]),
    ("mkdir", &["EIO", "ENOSPC", "EACCES", "EROFS"]),
    (
        "mkdirat",
        &["EIO", "ENOSPC", "EDQUOT", "EACCES", "EROFS", "EINTR"],
    ),
    (
        "renameat2",
        &[
            "EIO", "EACCES", "EPERM", "EROFS", "ENOSPC", "EINVAL", "EINTR",
        ],
    ),
    ("linkat", &["EIO", "ENOSPC", "EPERM", "EMLINK", "EINTR"]),
    ("symlinkat", &["EIO", "ENOSPC", "EDQUOT", "EACCES", "EINTR"]),
    // FIFOs, sockets and devices made again, and their modes.
    (
        "mknodat",
        &["EIO", "ENOSPC", "EDQUOT", "EACCES", "EPERM", "EINTR"],
    ),
    ("fchmodat", &["EIO", "EPERM", "EROFS", "EINTR"]),
    (
        "unlinkat",
        &["EIO", "EACCES", "EPERM", "EROFS", "EBUSY", "EINTR"],
    ),
    ("fchmod", &["EIO", "EPERM", "EROFS", "EINTR"]),
    ("fchown", &["EIO", "EPERM", "EROFS", "EINTR"]),
    ("fchownat", &["EIO", "EPERM", "EROFS", "EINTR"]),
    ("utimensat", &["EIO", "EPERM", "EACCES", "EROFS", "EINTR"]),
    ("readlinkat", &["EIO", "EACCES", "EINTR"]),
    ("readlink", &["EIO", "EACCES"]),
    ("access", &["EIO", "EACCES"]),
    ("getcwd", &["EIO", "ENOENT"]),
    ("close", &["EIO", "EINTR"]),
    ("clone3", &["EAGAIN", "ENOMEM"]),
    // FICLONE (and the terminal checks of isatty).
    ("ioctl", &["EIO", "ENOSPC", "EXDEV", "EOPNOTSUPP", "EINTR"]),
    ("flistxattr", &["EIO", "ERANGE", "EINTR"]),
    ("llistxattr", &["EIO", "ERANGE", "EINTR"]),
    ("fgetxattr", &["EIO", "ERANGE", "EINTR"]),
    (
        "fsetxattr",
        &["EIO", "ENOSPC", "EDQUOT", "EOPNOTSUPP", "EPERM", "EINTR"],
    ),
];

/// Calls that are not file-system work (memory, threads' own bookkeeping,
/// signals, time, process identity): the sweep does not need to cover them.
const NOT_FILE_IO: &[&str] = &[
    "mmap",
    "munmap",
    "mprotect",
    "madvise",
    "brk",
    "mremap",
    "futex",
    "rt_sigaction",
    "rt_sigprocmask",
    "rt_sigreturn",
    "sigaltstack",
    "sched_getaffinity",
    "sched_yield",
    "getrandom",
    // The memory size, which bounds how far a big file is read ahead.
    "sysinfo",
    "prlimit64",
    "set_robust_list",
    "rseq",
    "arch_prctl",
    "set_tid_address",
    "clock_nanosleep",
    "nanosleep",
    "exit",
    "exit_group",
    "execve",
    "gettid",
    "getpid",
    "geteuid",
    "getegid",
    "getuid",
    "getgid",
    "umask",
    "poll",
    "prctl",
    "kill",
    "clock_gettime",
];

/// errno names and the words the OS uses for them (what a message must show).
fn strerror(errno: &str) -> &'static str {
    match errno {
        "EIO" => "Input/output error",
        "EACCES" => "Permission denied",
        "EPERM" => "Operation not permitted",
        "ENOSPC" => "No space left on device",
        "EDQUOT" => "Disk quota exceeded",
        "EROFS" => "Read-only file system",
        "EMFILE" => "Too many open files",
        "EINTR" => "Interrupted system call",
        "EAGAIN" => "Resource temporarily unavailable",
        "ENOMEM" => "Cannot allocate memory",
        "EXDEV" => "Invalid cross-device link",
        "EOPNOTSUPP" => "Operation not supported",
        "EINVAL" => "Invalid argument",
        "EMLINK" => "Too many links",
        "EBUSY" => "Device or resource busy",
        "ENOENT" => "No such file or directory",
        "ERANGE" => "Numerical result out of range",
        // Not an errno: a read-back that returns other bytes than were written.
        MISMATCH => "the destination reads back differently",
        other => panic!("no text for {other}"),
    }
}

/// The "errno" of a case whose read-back returns other bytes.
const MISMATCH: &str = "MISMATCH";

/// Faults convoy must absorb: the call is retried or another way taken, and
/// the copy ends exact with exit code 0.
fn absorbed(syscall: &str, errno: &str) -> bool {
    matches!(
        (syscall, errno),
        (_, "EINTR")
            | ("openat2", "EAGAIN")
            | ("copy_file_range", "EXDEV" | "EOPNOTSUPP")
            | ("sendfile", "EINVAL" | "EOPNOTSUPP")
            | ("renameat2", "EINVAL")
            | ("lseek", "EINVAL")
            | ("close", _)
            | ("fstatfs", _)
            | (_, "ERANGE")
    )
}

/// The source tree: files small and large, a sparse file, a private folder,
/// symlinks (relative, absolute, dangling), a hard-linked pair, an empty
/// folder, and a folder that already exists at the destination with one
/// file up to date in it. Every entry has its own mode and time.
struct Fixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
    src: PathBuf,
    /// Where the runs' destinations go (another filesystem: `across`).
    runs: PathBuf,
    _runs_dir: Option<tempfile::TempDir>,
}

fn set_times(p: &Path, secs: i64) {
    set_mtime(p, secs, 123_456_789);
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        let src = root.join("src");
        let files: &[(&str, usize, u32)] = &[
            ("top.txt", 3000, 0o644),
            ("big.bin", 400 * 1024, 0o640),
            ("docs/a.txt", 10, 0o644),
            ("docs/b.txt", 7000, 0o600),
            ("docs/c.md", 0, 0o644),
            ("docs/sub/deep.txt", 500, 0o644),
            ("private/secret.txt", 100, 0o600),
            ("existing/new.txt", 2000, 0o644),
            ("existing/old.txt", 1500, 0o644),
            ("hard1", 4000, 0o644),
        ];
        for (i, (rel, len, mode)) in files.iter().enumerate() {
            write(src.join(rel), &data(i as u64 + 1, *len));
            chmod(src.join(rel), *mode);
        }
        fs::hard_link(src.join("hard1"), src.join("docs/hard2")).unwrap();
        let sparse = fs::File::create(src.join("sparse.img")).unwrap();
        sparse.set_len(3 * 1024 * 1024).unwrap();
        std::os::unix::fs::FileExt::write_all_at(&sparse, &data(99, 64 * 1024), 1024 * 1024)
            .unwrap();
        drop(sparse);
        fs::create_dir_all(src.join("links")).unwrap();
        fs::create_dir_all(src.join("empty")).unwrap();
        // Extended attributes on a file and a folder, and an ACL.
        for (rel, value) in [("docs/a.txt", "a note"), ("docs", "folder note")] {
            rustix::fs::setxattr(
                src.join(rel),
                "user.comment",
                value.as_bytes(),
                rustix::fs::XattrFlags::empty(),
            )
            .expect("the test filesystem keeps user attributes");
        }
        need("setfacl", "acl");
        let acl = Command::new("setfacl")
            .args(["-m", "u:nobody:r"])
            .arg(src.join("top.txt"))
            .status()
            .expect("setfacl runs");
        assert!(acl.success());
        symlink("../top.txt", src.join("links/rel")).unwrap();
        symlink("/etc/hostname", src.join("links/abs")).unwrap();
        symlink("nowhere/at/all", src.join("links/dangling")).unwrap();
        // A FIFO (never opened) and a device node, made again by name.
        let (fifo, null) = (
            rustix::fs::FileType::Fifo,
            rustix::fs::FileType::CharacterDevice,
        );
        rustix::fs::mknodat(
            rustix::fs::CWD,
            src.join("docs/pipe"),
            fifo,
            0o640.into(),
            0,
        )
        .unwrap();
        let dev = rustix::fs::makedev(1, 3);
        rustix::fs::mknodat(
            rustix::fs::CWD,
            src.join("links/null"),
            null,
            0o666.into(),
            dev,
        )
        .unwrap();
        let mut t = 1_600_000_000;
        for rel in entries(&src).iter().rev() {
            t += 1000;
            set_times(&src.join(rel), t);
        }
        chmod(src.join("private"), 0o700);
        chmod(src.join("docs/sub"), 0o750);
        set_times(&src.join("private"), 1_500_000_000);
        set_times(&src.join("docs/sub"), 1_500_000_100);
        set_times(&src.join("docs"), 1_500_000_200);
        set_times(&src, 1_500_000_300);
        Fixture {
            _dir: dir,
            runs: root.join("runs"),
            root,
            src,
            _runs_dir: None,
        }
    }

    /// The same, copied to another filesystem (tmpfs in `/dev/shm`), where
    /// the kernel cannot copy with `copy_file_range` and small files go by
    /// `sendfile`.
    fn across() -> Fixture {
        let mut fx = Fixture::new();
        let runs = tempfile::tempdir_in("/dev/shm").expect("the sweep needs /dev/shm (tmpfs)");
        let dev = |p: &Path| fs::metadata(p).unwrap().dev();
        assert_ne!(
            dev(runs.path()),
            dev(&fx.root),
            "/dev/shm must be another filesystem than the temporary folder"
        );
        fx.runs = runs.path().to_path_buf();
        fx._runs_dir = Some(runs);
        fx
    }

    /// The same with a file big enough to be written past the page cache
    /// (its last bytes not a whole block, so written through the cache).
    fn with_big_file() -> Fixture {
        let fx = Fixture::new();
        let huge = fx.src.join("huge.bin");
        write(&huge, &data(77, 33 * 1024 * 1024 + 100));
        set_times(&huge, 1_600_100_000);
        set_times(&fx.src, 1_500_000_300);
        fx
    }

    /// A destination in its state before a run: the folder `existing` with an
    /// up-to-date copy of `existing/old.txt` in it.
    fn fresh_dst(&self, name: &str) -> PathBuf {
        let dst = self.runs.join(name);
        fs::create_dir_all(dst.join("existing")).unwrap();
        fs::copy(
            self.src.join("existing/old.txt"),
            dst.join("existing/old.txt"),
        )
        .unwrap();
        let m = fs::metadata(self.src.join("existing/old.txt")).unwrap();
        chmod(dst.join("existing/old.txt"), m.mode() & 0o7777);
        set_mtime(dst.join("existing/old.txt"), m.mtime(), m.mtime_nsec());
        dst
    }
}

/// One entry as a user would check it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Snap {
    kind: char,
    mode: u32,
    mtime: (i64, i64),
    owner: (u32, u32),
    content: Vec<u8>,
    ino: u64,
    blocks: u64,
    xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

fn snap(p: &Path) -> Snap {
    let m = fs::symlink_metadata(p).unwrap();
    let t = m.file_type();
    let (kind, content) = if t.is_symlink() {
        (
            'l',
            fs::read_link(p)
                .unwrap()
                .into_os_string()
                .into_encoded_bytes(),
        )
    } else if t.is_dir() {
        ('d', Vec::new())
    } else if !t.is_file() {
        // A FIFO would block a read: a node is its kind and its device.
        ('n', m.rdev().to_le_bytes().to_vec())
    } else {
        ('f', fs::read(p).unwrap_or_default())
    };
    Snap {
        kind,
        mode: m.mode() & 0o7777,
        mtime: (m.mtime(), m.mtime_nsec()),
        owner: (m.uid(), m.gid()),
        content,
        ino: m.ino(),
        blocks: m.blocks(),
        xattrs: xattrs(p),
    }
}

/// Every entry below `root` and the root itself (as ""), temporaries apart.
fn snapshot(root: &Path) -> BTreeMap<PathBuf, Snap> {
    let mut out = BTreeMap::new();
    out.insert(PathBuf::new(), snap(root));
    for rel in entries(root) {
        if !in_temporary(&rel) {
            out.insert(rel.clone(), snap(&root.join(rel)));
        }
    }
    out
}

/// `got` differs from `want` in what convoy promises to keep (attributes
/// aside when the destination refused them).
fn differs_but(want: &Snap, got: &Snap, attrs_refused: bool) -> Option<String> {
    let got = Snap {
        xattrs: if attrs_refused {
            want.xattrs.clone()
        } else {
            got.xattrs.clone()
        },
        ..got.clone()
    };
    differs(want, &got)
}

/// `got` differs from `want` in what convoy promises to keep.
fn differs(want: &Snap, got: &Snap) -> Option<String> {
    let mut d = Vec::new();
    if want.kind != got.kind {
        d.push("type");
    }
    if want.content != got.content {
        d.push(if want.kind == 'l' {
            "target"
        } else {
            "content"
        });
    }
    if want.kind != 'l' && want.mode != got.mode {
        d.push("mode");
    }
    if want.mtime != got.mtime {
        d.push("mtime");
    }
    if is_root() && want.owner != got.owner {
        d.push("owner");
    }
    if want.xattrs != got.xattrs {
        d.push("extended attributes");
    }
    (!d.is_empty()).then(|| d.join(", "))
}

/// What a copier is asked to do, and how it tells what happened.
#[derive(Clone, Copy)]
enum Copier {
    /// convoy with these options besides `--batch --json` (and `-j2` unless
    /// they say how many workers).
    Convoy(&'static [&'static str]),
    /// GNU `cp -a`, which writes each file in place: the harness must catch it.
    Careless,
}

impl Copier {
    fn command(self, src: &Path, dst: &Path) -> Vec<String> {
        let (s, d) = (src.display().to_string(), dst.display().to_string());
        match self {
            Copier::Convoy(options) => {
                // FAULT_BIN=path sweeps another build (an older one, say).
                let bin = std::env::var("FAULT_BIN").unwrap_or_else(|_| BIN.into());
                let mut argv = vec![bin, "--batch".into(), "--json".into()];
                if !options.iter().any(|o| o.starts_with("-j")) {
                    argv.push("-j2".into());
                }
                argv.extend(options.iter().map(|o| o.to_string()));
                argv.extend([s, d]);
                argv
            }
            Copier::Careless => vec!["cp".into(), "-a".into(), format!("{s}/."), d],
        }
    }
}

/// One case of the sweep: the faults strace injects.
#[derive(Debug, Clone)]
struct Case {
    /// `-e inject=…` expressions.
    inject: Vec<String>,
    /// The main fault's errno (or signal), for expectations.
    errno: &'static str,
    /// A single interruption that convoy must absorb.
    absorbed: bool,
    /// An attribute the destination refuses: the copy is complete without it
    /// and the summary says what was not kept.
    not_kept: bool,
    signal: Option<&'static str>,
    /// Only the calls on this entry of the destination are touched.
    on: Option<&'static str>,
    /// The run must say it failed (exit 1).
    must_fail: bool,
}

impl Case {
    fn name(&self) -> String {
        self.inject.join(" + ")
    }
}

struct Ran {
    output: Output,
    /// Killed by the harness after `HANG`.
    hung: bool,
}

fn run_traced(inject: &[String], argv: &[String], on: Option<&Path>) -> Ran {
    let mut cmd = Command::new("strace");
    let log = std::env::var("FAULT_LOG").unwrap_or_else(|_| "/dev/null".into());
    cmd.args(["-f", "-qq", "-o", &log]);
    // Under seccomp-bpf, strace (6.1) lets a signal injected into a call
    // filtered by path pass once the thread made that call on another path:
    // those runs are traced the slow way.
    if on.is_none() || !inject.iter().any(|i| i.contains(":signal=")) {
        cmd.arg("--seccomp-bpf");
    }
    if let Some(p) = on {
        // The path, for the calls through a descriptor of it; its name, for
        // removing or renaming it from its folder.
        cmd.arg("-P").arg(p).arg("-P").arg(p.file_name().unwrap());
    }
    let calls: BTreeSet<&str> = inject
        .iter()
        .map(|i| i.split(':').next().unwrap())
        .collect();
    cmd.arg("-e").arg(format!(
        "trace={}",
        calls.into_iter().collect::<Vec<_>>().join(",")
    ));
    for i in inject {
        cmd.arg("-e").arg(format!("inject={i}"));
    }
    cmd.arg("--").args(argv);
    run_with_timeout(cmd)
}

fn run_with_timeout(mut cmd: Command) -> Ran {
    // cargo's library path makes the dynamic loader probe dozens of folders
    // first; without it the loader's calls are few and always the same.
    let mut child = cmd
        .env_remove("NO_COLOR")
        .env_remove("LD_LIBRARY_PATH")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .expect("the command starts");
    let pid = child.id() as i32;
    let readers = [
        drain(child.stdout.take().unwrap()),
        drain(child.stderr.take().unwrap()),
    ];
    let deadline = Instant::now() + HANG;
    let mut hung = false;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            hung = true;
            let _ = Command::new("kill")
                .args(["-KILL", &format!("-{pid}")])
                .status();
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let [stdout, stderr] = readers.map(|t| t.join().unwrap());
    Ran {
        output: Output {
            status,
            stdout,
            stderr,
        },
        hung,
    }
}

fn drain<R: std::io::Read + Send + 'static>(mut r: R) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        buf
    })
}

/// How many times each call is made in each thread of a clean run, and how
/// many of the main thread's come before convoy's own code (the dynamic
/// loader's and the Rust runtime's).
struct Census {
    /// The highest call number (per thread, as strace counts) of a call
    /// convoy's code makes.
    last: BTreeMap<String, usize>,
    /// Calls of the main thread before convoy's first.
    before_main: BTreeMap<String, usize>,
    /// Every call seen, for the coverage check.
    seen: BTreeSet<String>,
    /// The numbers of the calls a thread makes after its first `syncfs`:
    /// under `--verify`, the read-back of what it wrote (those past the
    /// main thread's count while loading).
    after_sync: BTreeMap<String, BTreeSet<usize>>,
}

fn census(fx: &Fixture, copier: Copier) -> Census {
    let dst = fx.fresh_dst("census");
    let log = fx.root.join("census.log");
    let ok = Command::new("strace")
        .env_remove("LD_LIBRARY_PATH")
        .args(["-f", "-qq", "-o"])
        .arg(&log)
        .args(copier.command(&fx.src, &dst))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(ok.success(), "a clean run under strace succeeds");
    // (The next census copies into an empty destination again.)
    fs::remove_dir_all(&dst).unwrap();
    let text = fs::read_to_string(&log).unwrap();
    let src = fx.src.display().to_string();
    let mut main = None;
    let mut main_started = false;
    let mut counts: BTreeMap<(u32, String), usize> = BTreeMap::new();
    let mut synced: BTreeSet<u32> = BTreeSet::new();
    let mut c = Census {
        last: BTreeMap::new(),
        before_main: BTreeMap::new(),
        seen: BTreeSet::new(),
        after_sync: BTreeMap::new(),
    };
    for line in text.lines() {
        let Some((pid, rest)) = line.split_once(' ') else {
            continue;
        };
        let pid: u32 = pid.trim().parse().unwrap();
        let rest = rest.trim_start();
        let main_pid = *main.get_or_insert(pid);
        if rest.starts_with("<...") || rest.starts_with("+++") || rest.starts_with("---") {
            continue;
        }
        let Some(name) = rest.split('(').next().filter(|n| !n.contains(' ')) else {
            continue;
        };
        // strace could not read which call a thread was in (`???`: seen
        // under load when the process ended with a thread inside a call);
        // no call to count or fail.
        if name == "???" {
            continue;
        }
        let n = counts.entry((pid, name.to_string())).or_insert(0);
        *n += 1;
        if pid == main_pid && !main_started {
            main_started = !rest.starts_with("execve") && rest.contains(&src);
            if !main_started {
                *c.before_main.entry(name.to_string()).or_insert(0) += 1;
                continue;
            }
        }
        c.seen.insert(name.to_string());
        // (A count the main thread reaches while loading would fail the
        // dynamic loader's call, not convoy's.)
        let loading = c.before_main.get(name).copied().unwrap_or(0);
        if synced.contains(&pid) && *n > loading {
            c.after_sync.entry(name.to_string()).or_default().insert(*n);
        }
        if name == "syncfs" {
            synced.insert(pid);
        }
        let last = c.last.entry(name.to_string()).or_insert(0);
        *last = (*last).max(*n);
    }
    c
}

/// The calls at which a fault is injected: the first of convoy's own, one in
/// the middle, the last; and from the middle on (a disk that keeps failing).
struct Whens {
    first: usize,
    middle: usize,
    last: usize,
}

fn whens(c: &Census, call: &str) -> Option<Whens> {
    let last = *c.last.get(call)?;
    let first = c.before_main.get(call).copied().unwrap_or(0) + 1;
    (first <= last).then_some(())?;
    Some(Whens {
        first,
        middle: (first + last).div_ceil(2),
        last,
    })
}

fn cases(c: &Census) -> Vec<Case> {
    let mut out = Vec::new();
    let case = |inject: Vec<String>,
                syscall: &'static str,
                errno: &'static str,
                signal: Option<&'static str>| Case {
        absorbed: signal.is_none() && absorbed(syscall, errno),
        not_kept: syscall == "fsetxattr" && matches!(errno, "EOPNOTSUPP" | "EPERM"),
        inject,
        errno,
        signal,
        on: None,
        must_fail: false,
    };
    for (call, errnos) in SYSCALLS {
        let Some(w) = whens(c, call) else {
            continue;
        };
        for errno in *errnos {
            let at: Vec<String> = match *errno {
                "EIO" => vec![
                    w.first.to_string(),
                    w.middle.to_string(),
                    w.last.to_string(),
                    format!("{}+", w.middle),
                ],
                // An interruption happens once; it never keeps happening.
                "EINTR" => vec![
                    w.first.to_string(),
                    w.middle.to_string(),
                    w.last.to_string(),
                ],
                "ENOSPC" | "EDQUOT" => vec![w.first.to_string(), format!("{}+", w.middle)],
                _ => vec![w.first.to_string(), w.middle.to_string()],
            };
            let mut at: Vec<String> = at
                .into_iter()
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            at.sort();
            for when in at {
                let inject = vec![format!("{call}:error={errno}:when={when}")];
                out.push(case(inject, call, errno, None));
            }
        }
    }
    // A fault together with a clean-up that fails too: the partial copy
    // cannot be removed (and, for some, not moved aside either).
    let unlink = "unlinkat:error=EIO:when=1+".to_string();
    for call in [
        "write",
        "pwrite64",
        "read",
        "copy_file_range",
        "ftruncate",
        "lseek",
        "fchmod",
        "fchown",
        "fchownat",
        "utimensat",
        "linkat",
        "renameat2",
        "symlinkat",
        "openat",
    ] {
        let Some(w) = whens(c, call) else {
            continue;
        };
        for when in [w.first, w.middle] {
            let main = format!("{call}:error=EIO:when={when}");
            out.push(case(vec![main.clone(), unlink.clone()], call, "EIO", None));
            if matches!(call, "write" | "utimensat" | "fchmod") {
                let aside = "renameat2:error=EIO:when=1+".to_string();
                out.push(case(vec![main, unlink.clone(), aside], call, "EIO", None));
            }
        }
    }
    // Killed at a call (in every thread that reaches it).
    for call in [
        "openat",
        "write",
        "pwrite64",
        "mkdirat",
        "renameat2",
        "utimensat",
        "linkat",
        "getdents64",
    ] {
        let Some(w) = whens(c, call) else {
            continue;
        };
        for when in [w.first, w.middle, w.last] {
            let inject = vec![format!("{call}:signal=SIGKILL:when={when}")];
            out.push(case(inject, call, "SIGKILL", Some("SIGKILL")));
        }
    }
    // Interrupted once (Ctrl-C, a kill, a closed terminal): the main thread
    // alone sleeps between its looks at the engine, so the signal comes once,
    // at 20, 40, 60 ms … into the copy.
    for sig in ["SIGINT", "SIGTERM", "SIGHUP"] {
        for when in 1..=4 {
            let inject = vec![format!("clock_nanosleep:signal={sig}:when={when}")];
            out.push(case(inject, "clock_nanosleep", sig, Some(sig)));
        }
    }
    out
}

/// What the run reported, from its JSON Lines (convoy) and stderr.
#[derive(Default)]
struct Report {
    /// Every message a person could read: failures, fatal, notices, stderr.
    text: String,
    failed_dirs: BTreeSet<PathBuf>,
    problems: Vec<String>,
    not_kept: Vec<String>,
    malformed: Vec<String>,
}

fn report(o: &Output) -> Report {
    let mut r = Report {
        text: stderr(o),
        ..Report::default()
    };
    for line in stdout(o).lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            r.malformed.push(format!("not JSON on stdout: {line:?}"));
            continue;
        };
        match v["type"].as_str() {
            Some("entry") if v["outcome"] == "failed" => {
                let (err, at) = (v["error"].as_str().unwrap_or(""), v["error_path"].as_str());
                if !err.contains(": ") || at.is_none_or(str::is_empty) {
                    r.malformed
                        .push(format!("a failure without operation, reason or path: {v}"));
                }
                r.text.push_str(err);
                r.text.push('\n');
                if v["kind"] == "dir" {
                    r.failed_dirs
                        .insert(PathBuf::from(v["path"].as_str().unwrap_or("")));
                }
            }
            Some("fatal" | "notice") => {
                r.text.push_str(v["message"].as_str().unwrap_or(""));
                r.text.push('\n');
            }
            Some("summary") => {
                for p in v["problems"].as_array().into_iter().flatten() {
                    r.problems.push(p.as_str().unwrap_or("").to_string());
                }
                for l in v["not_kept"].as_array().into_iter().flatten() {
                    r.not_kept
                        .push(l["message"].as_str().unwrap_or("").to_string());
                }
            }
            _ => {}
        }
    }
    r
}

/// Entries under their final names that are not the source's (nor, for the
/// entries that were there before, what was there).
fn broken_final_names(
    fx: &Fixture,
    dst: &Path,
    pre: &BTreeMap<PathBuf, Snap>,
    rep: &Report,
    killed: bool,
    attrs_refused: bool,
) -> Vec<String> {
    let want = snapshot(&fx.src);
    let mut bad = Vec::new();
    for (rel, got) in snapshot(dst) {
        let shown = if rel.as_os_str().is_empty() {
            Path::new(".")
        } else {
            &rel
        };
        match want.get(&rel) {
            Some(w) => {
                let Some(how) = differs_but(w, &got, attrs_refused) else {
                    continue;
                };
                if pre.get(&rel) == Some(&got) {
                    continue; // what was there before, untouched
                }
                // Folders get their mode and times last, once what is in them
                // is written: a killed run cannot, and the rerun does.
                if killed && got.kind == 'd' && w.kind == 'd' {
                    continue;
                }
                // A folder's metadata is applied last; a failure there is
                // reported with the folder (the destination root as a problem).
                let reported = if rel.as_os_str().is_empty() {
                    rep.problems
                        .iter()
                        .any(|p| p.contains(&dst.display().to_string()))
                } else {
                    rep.failed_dirs.contains(&rel)
                };
                if got.kind == 'd' && w.kind == 'd' && reported {
                    continue;
                }
                bad.push(format!(
                    "{} under its final name differs: {how}",
                    shown.display()
                ));
            }
            None if pre.contains_key(&rel) => {}
            None => bad.push(format!("{} is not in the source", shown.display())),
        }
    }
    bad
}

/// The destination is the source's exact copy: every entry with its bytes,
/// mode, time and owner, hard links linked, holes kept, no temporaries.
fn inexact(fx: &Fixture, dst: &Path) -> Vec<String> {
    inexact_but(fx, dst, false, false)
}

/// [`inexact`], with attributes the destination refused left aside, and
/// (`nodes_unheld`: the run said the destination holds no FIFOs or devices)
/// the nodes it could not hold.
fn inexact_but(fx: &Fixture, dst: &Path, attrs_refused: bool, nodes_unheld: bool) -> Vec<String> {
    let want = snapshot(&fx.src);
    let got = snapshot(dst);
    let mut bad = Vec::new();
    for (rel, w) in &want {
        match got.get(rel) {
            None if nodes_unheld && w.kind == 'n' => {}
            None => bad.push(format!("{} is missing", rel.display())),
            Some(g) => {
                if let Some(how) = differs_but(w, g, attrs_refused) {
                    bad.push(format!("{} differs: {how}", rel.display()));
                }
            }
        }
    }
    for rel in got.keys().filter(|r| !want.contains_key(*r)) {
        bad.push(format!("{} is not in the source", rel.display()));
    }
    if let (Some(a), Some(b)) = (
        got.get(Path::new("hard1")),
        got.get(Path::new("docs/hard2")),
    ) && a.ino != b.ino
    {
        bad.push("hard1 and docs/hard2 are two files, not one linked twice".into());
    }
    if got
        .get(Path::new("sparse.img"))
        .is_some_and(|s| s.blocks * 512 > 1024 * 1024)
    {
        bad.push("sparse.img lost its holes".into());
    }
    for t in leftover_temps(dst) {
        bad.push(format!("temporary left: {}", t.display()));
    }
    bad
}

/// Runs one case against `copier` and returns what went wrong (nothing: passed).
fn check_case(fx: &Fixture, copier: Copier, case: &Case, n: usize) -> Vec<String> {
    let dst = fx.fresh_dst(&format!("case-{n}"));
    let pre = snapshot(&dst);
    let on = case.on.map(|rel| dst.join(rel));
    let ran = run_traced(&case.inject, &copier.command(&fx.src, &dst), on.as_deref());
    let o = &ran.output;
    let code = o.status.code();
    let err = stderr(o);
    let mut bad = Vec::new();
    if ran.hung {
        bad.push("it hung".to_string());
    }
    if code == Some(101) || err.contains("panicked") {
        bad.push(format!("it panicked: {err}"));
    }
    // The standard library's folder iterator panics when closing a folder
    // fails; the run must then stop as a failure, which it does.
    if err.contains("internal error") && !err.contains("closedir") {
        bad.push(format!("a thread died: {err}"));
    }
    let rep = report(o);
    if std::env::var_os("FAULT_ONLY").is_some() {
        eprintln!("{}: {:?}\n{}{}", case.name(), o.status, stdout(o), err);
    }
    if matches!(copier, Copier::Convoy(_)) {
        bad.extend(rep.malformed.iter().cloned());
    }
    match (case.signal, code) {
        (Some("SIGKILL"), None) if o.status.signal() == Some(9) => {}
        (Some(_), Some(130)) => {
            if !leftover_temps(&dst).is_empty() {
                bad.push(format!(
                    "interrupted, but temporaries left: {:?}",
                    leftover_temps(&dst)
                ));
            }
        }
        // The signal came too late to matter (or its call was not reached).
        (Some(_), Some(0)) => bad.extend(
            inexact(fx, &dst)
                .into_iter()
                .map(|d| format!("exit 0, but {d}")),
        ),
        (Some(_), _) => bad.push(format!("exit {:?} after {}", o.status, case.errno)),
        (None, _) if ran.hung => {}
        (None, Some(0)) => {
            let unheld = rep
                .not_kept
                .iter()
                .any(|m| m.starts_with("FIFOs, sockets and devices not kept"));
            let off = inexact_but(fx, &dst, case.not_kept, unheld);
            bad.extend(off.into_iter().map(|d| format!("exit 0, but {d}")));
            // (Counted per thread, the refusal may not have come at all.)
            if case.not_kept && rep.not_kept.is_empty() && !inexact(fx, &dst).is_empty() {
                bad.push("a refused attribute is not said to be not kept".into());
            }
        }
        (None, Some(2)) => {
            if snapshot(&dst) != pre {
                bad.push("exit 2 (nothing done), but the destination changed".into());
            }
        }
        (None, Some(1)) if matches!(copier, Copier::Convoy(_)) => {
            // glibc reports every failed thread creation as EAGAIN.
            let errno = if case.inject[0].starts_with("clone3") {
                "EAGAIN"
            } else {
                case.errno
            };
            if !rep.text.contains(strerror(errno)) {
                bad.push(format!(
                    "exit 1 without the reason {:?} in any message: {}",
                    strerror(errno),
                    rep.text.trim()
                ));
            }
        }
        (None, Some(1)) => {}
        (None, other) => bad.push(format!("exit {other:?}: {err}")),
    }
    if case.errno == MISMATCH {
        // Taken away from its final name: removed, else renamed aside, else
        // said to stay.
        let how = match case.inject.len() {
            1 => "(the copy was removed)",
            2 => {
                "(the copy could not be removed (Input/output error (os error 5)), so it was renamed to .convoy-"
            }
            _ => "(the copy could not be removed: Input/output error (os error 5))",
        };
        if code != Some(1) || !rep.text.contains(how) {
            bad.push(format!(
                "a copy that reads back differently: exit {code:?}, and not {how:?} in {}",
                rep.text.trim()
            ));
        }
    }
    if case.must_fail && code != Some(1) {
        bad.push(format!(
            "exit {code:?} where the run failed: {}",
            rep.text.trim()
        ));
    }
    if case.absorbed && code != Some(0) {
        bad.push(format!(
            "a fault to absorb failed the run (exit {code:?}): {}",
            rep.text.trim()
        ));
    }
    let killed = case.signal == Some("SIGKILL");
    bad.extend(broken_final_names(
        fx,
        &dst,
        &pre,
        &rep,
        killed,
        case.not_kept,
    ));
    // The same command again, with nothing injected, repairs everything.
    let again = run_with_timeout({
        let argv = copier.command(&fx.src, &dst);
        let mut c = Command::new(&argv[0]);
        c.args(&argv[1..]);
        c
    });
    if again.output.status.code() != Some(0) {
        bad.push(format!(
            "the rerun exits {:?}: {}",
            again.output.status.code(),
            report(&again.output).text.trim()
        ));
    }
    // A rerun does not try again what the destination refused (it would
    // refuse it again): a copy up to date by size and time stays as it is.
    let off = inexact_but(fx, &dst, case.not_kept, false);
    bad.extend(off.into_iter().map(|d| format!("after the rerun {d}")));
    let _ = fs::remove_dir_all(&dst);
    bad
}

/// Runs `cases` on two threads; returns the failed ones with what went wrong.
fn sweep(fx: &Fixture, copier: Copier, cases: &[Case]) -> Vec<(String, Vec<String>)> {
    let next = Mutex::new(0usize);
    let failed = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                loop {
                    let i = {
                        let mut n = next.lock().unwrap();
                        *n += 1;
                        *n - 1
                    };
                    let Some(case) = cases.get(i) else {
                        return;
                    };
                    let bad = check_case(fx, copier, case, i);
                    if !bad.is_empty() {
                        failed.lock().unwrap().push((case.name(), bad));
                    }
                }
            });
        }
    });
    let mut failed = failed.into_inner().unwrap();
    failed.sort();
    failed
}

fn have_strace() -> bool {
    need("strace", "strace");
    true
}

/// Every call convoy makes is in the sweep (or is no file-system work).
fn assert_covered(c: &Census) {
    let covered: BTreeSet<&str> = SYSCALLS.iter().map(|(s, _)| *s).collect();
    let missing: Vec<&String> = c
        .seen
        .iter()
        .filter(|s| !covered.contains(s.as_str()) && !NOT_FILE_IO.contains(&s.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "calls the sweep does not cover: {missing:?}"
    );
    if std::env::var_os("FAULT_ONLY").is_some() {
        eprintln!(
            "census: last {:?}\nbefore main {:?}\nafter syncfs {:?}",
            c.last, c.before_main, c.after_sync
        );
    }
}

/// Runs `all` against `copier` (FAULT_ONLY=text: only the cases whose
/// injection contains it, to look into one) and fails with every case that
/// went wrong.
fn assert_sweep_passes(fx: &Fixture, copier: Copier, what: &str, mut all: Vec<Case>) {
    if let Ok(only) = std::env::var("FAULT_ONLY") {
        all.retain(|case| case.name().contains(&only));
    }
    let started = Instant::now();
    let failed = sweep(fx, copier, &all);
    let passed = all.len() - failed.len();
    eprintln!(
        "{what}: {} cases, {passed} passed, in {:.0?}",
        all.len(),
        started.elapsed()
    );
    let listed: Vec<String> = failed
        .iter()
        .map(|(name, bad)| format!("{name}:\n    {}", bad.join("\n    ")))
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {} cases failed:\n{}",
        failed.len(),
        all.len(),
        listed.join("\n")
    );
}

#[test]
fn every_system_call_failing_leaves_nothing_broken_and_a_rerun_repairs_it() {
    have_strace();
    let fx = Fixture::new();
    let copier = Copier::Convoy(&[]);
    let c = census(&fx, copier);
    assert_covered(&c);
    assert_sweep_passes(&fx, copier, "fault sweep", cases(&c));
}

/// A copy to another filesystem: every call of its in-kernel copies
/// failing, `copy_file_range`'s (whose refusal moves the run to `sendfile`)
/// and `sendfile`'s.
#[test]
fn every_call_of_a_copy_to_another_filesystem_failing_leaves_nothing_broken() {
    have_strace();
    let fx = Fixture::across();
    let copier = Copier::Convoy(&[]);
    let c = census(&fx, copier);
    assert_covered(&c);
    assert!(c.last.contains_key("sendfile"), "no sendfile: {:?}", c.last);
    let mut all = cases(&c);
    all.retain(|case| {
        let call = case.inject[0].split(':').next().unwrap();
        ["sendfile", "copy_file_range"].contains(&call)
    });
    assert_sweep_passes(&fx, copier, "sweep across filesystems", all);
}

/// The calls of `--verify`'s read-back, and of `--flush` and `--fsync`,
/// failing: the flush of a round (`syncfs`, then each file's own flush when
/// it fails), reopening, the `O_DIRECT` reopen, dropping pages, each read,
/// at the first, a middle and the last call after the round's flush; a
/// read-back that returns other bytes, alone and with its removal failing
/// (and the rename aside too). One worker, so the read-back's calls are the
/// same ones in every run.
#[test]
fn every_call_of_verify_flush_and_fsync_failing_leaves_nothing_broken() {
    have_strace();
    let fx = Fixture::new();
    // The sweep's cases for the calls these options add to a plain run:
    // the copy reading what it writes (so `pread64` and `pwrite64`, not
    // `copy_file_range`), and the flushes.
    let added = |c: &Census| {
        let mut all = cases(c);
        all.retain(|case| {
            let call = case.inject[0].split(':').next().unwrap();
            ["pread64", "pwrite64", "syncfs", "fsync", "fdatasync"].contains(&call)
        });
        all
    };
    let verify = Copier::Convoy(&["--verify", "-j1"]);
    let c = census(&fx, verify);
    assert_covered(&c);
    assert!(
        c.after_sync.contains_key("read") && c.after_sync.contains_key("pread64"),
        "the read-back reads small files buffered and big ones O_DIRECT: {:?}",
        c.after_sync
    );
    let mut all = added(&c);
    let case = |inject: Vec<String>, errno: &'static str, absorbed: bool| Case {
        inject,
        errno,
        absorbed,
        not_kept: false,
        signal: None,
        on: None,
        must_fail: false,
    };
    for (call, at) in &c.after_sync {
        let Some((_, errnos)) = SYSCALLS.iter().find(|(s, _)| s == call) else {
            continue;
        };
        let at: Vec<usize> = at.iter().copied().collect();
        let (first, last) = (at[0], at[at.len() - 1]);
        let middle = at[at.len() / 2];
        for errno in errnos.iter().filter(|e| matches!(**e, "EIO" | "EINTR")) {
            let mut whens: BTreeSet<String> = [first, middle, last]
                .iter()
                .map(|n| n.to_string())
                .collect();
            if *errno == "EIO" {
                whens.insert(format!("{first}+"));
            }
            for when in whens {
                let inject = vec![format!("{call}:error={errno}:when={when}")];
                all.push(case(inject, errno, *errno == "EINTR"));
            }
        }
    }
    // The round's flush failing: each file is flushed on its own, and that
    // failing too is the file's failure.
    for when in ["1", "1+"] {
        all.push(case(
            vec![format!("syncfs:error=EIO:when={when}")],
            "EIO",
            true,
        ));
    }
    for (fdatasync, absorbed) in [
        ("EIO:when=1", false),
        ("EIO:when=1+", false),
        ("EINTR:when=1", true),
    ] {
        let inject = vec![
            "syncfs:error=EIO:when=1+".to_string(),
            format!("fdatasync:error={fdatasync}"),
        ];
        all.push(case(
            inject,
            if absorbed { "EINTR" } else { "EIO" },
            absorbed,
        ));
    }
    // A read-back that returns a byte that is not in the file (strace skips
    // the call and says it read one), at its first read and at its end: the
    // copy is taken away and failed. Only the calls on that one file are
    // touched (`-P`): the same fake in the copy would be a source that lies,
    // which no copier can see.
    let mismatch = |inject: &[&str], on: &'static str| Case {
        inject: inject.iter().map(|s| s.to_string()).collect(),
        on: Some(on),
        must_fail: true,
        ..case(Vec::new(), MISMATCH, false)
    };
    for bad in ["read:retval=1:when=1", "read:retval=1:when=2"] {
        let unlink = "unlinkat:error=EIO:when=1+";
        let rename = "renameat2:error=EIO:when=1+";
        all.push(mismatch(&[bad], "docs/b.txt"));
        all.push(mismatch(&[bad, unlink], "docs/b.txt"));
        all.push(mismatch(&[bad, unlink, rename], "docs/b.txt"));
    }
    // A short O_DIRECT read: the rest is read buffered.
    all.push(Case {
        on: Some("sparse.img"),
        ..case(vec!["pread64:retval=1:when=1".into()], "EIO", true)
    });
    assert_sweep_passes(&fx, verify, "--verify sweep", all);

    for options in [&["--flush", "-j1"][..], &["--fsync", "-j1"][..]] {
        let copier = Copier::Convoy(options);
        let c = census(&fx, copier);
        assert_covered(&c);
        let mut all = added(&c);
        assert!(!all.is_empty(), "{options:?} adds no calls: {:?}", c.last);
        // What did not reach the device is never success.
        for case in all.iter_mut().filter(|c| !c.absorbed && c.signal.is_none()) {
            case.must_fail = true;
        }
        assert_sweep_passes(&fx, copier, &format!("{} sweep", options[0]), all);
    }
}

/// A big file written past the page cache (`O_DIRECT` on, its steps read
/// and written by two threads, `O_DIRECT` off for its last bytes): each of
/// those calls failing, alone and with the clean-up failing, and the run
/// killed at its writes.
#[test]
fn every_call_of_a_big_file_written_past_the_page_cache_failing_leaves_nothing_broken() {
    have_strace();
    let fx = Fixture::with_big_file();
    // (Asked for: by default only where this machine's page cache is costly.)
    let copier = Copier::Convoy(&["-j1", "--direct"]);
    let c = census(&fx, copier);
    assert_covered(&c);
    for call in ["fcntl", "pwrite64", "pread64"] {
        assert!(c.last.contains_key(call), "{call} not made: {:?}", c.last);
    }
    let mut all = cases(&c);
    all.retain(|case| {
        let call = case.inject[0].split(':').next().unwrap();
        ["fcntl", "pwrite64", "pread64", "fstatfs"].contains(&call)
    });
    assert_sweep_passes(&fx, copier, "O_DIRECT sweep", all);
}

#[test]
fn the_sweep_catches_a_copier_that_writes_in_place() {
    have_strace();
    let fx = Fixture::new();
    let case = |inject: &str, errno| Case {
        inject: vec![inject.to_string()],
        errno,
        absorbed: false,
        not_kept: false,
        signal: None,
        on: None,
        must_fail: false,
    };
    let cases = [
        case("copy_file_range:error=EIO:when=2", "EIO"),
        case("utimensat:error=EIO:when=2", "EIO"),
        case("copy_file_range:signal=SIGKILL:when=2", "SIGKILL"),
    ];
    let failed = sweep(&fx, Copier::Careless, &cases);
    eprintln!("cp -a under the sweep: {failed:#?}");
    assert!(
        failed
            .iter()
            .any(|(_, bad)| bad.iter().any(|b| b.contains("under its final name"))),
        "the sweep must catch a partial file under its final name: {failed:#?}"
    );
}

/// A small tree for the named tests below.
fn small_tree(root: &Path) -> PathBuf {
    let src = root.join("src");
    for i in 0..30 {
        write(src.join(format!("d{}/f{i}.txt", i % 3)), &data(i, 5000));
    }
    symlink("d0/f0.txt", src.join("link")).unwrap();
    src
}

fn traced(inject: &[&str], args: &[&Path]) -> Ran {
    let inject: Vec<String> = inject.iter().map(|s| s.to_string()).collect();
    let mut argv = vec![BIN.to_string(), "--batch".into()];
    argv.extend(args.iter().map(|p| p.display().to_string()));
    run_traced(&inject, &argv, None)
}

#[test]
fn an_interrupted_folder_listing_is_read_again_and_a_failing_one_is_reported() {
    have_strace();
    let t = tempfile::tempdir().unwrap();
    let src = small_tree(t.path());
    for when in ["1", "2", "3"] {
        let dst = t.path().join(format!("dst-eintr-{when}"));
        let ran = traced(
            &[&format!("getdents64:error=EINTR:when={when}")],
            &[&src, &dst],
        );
        assert_eq!(ran.output.status.code(), Some(0), "{}", stderr(&ran.output));
        assert_same_tree(&src, &dst);
    }
    let dst = t.path().join("dst-eio");
    let ran = traced(&["getdents64:error=EIO:when=2"], &[&src, &dst]);
    let (o, err) = (&ran.output, stderr(&ran.output));
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("cannot read folder: Input/output error"),
        "{err}"
    );
    assert!(stdout(o).contains("Failed: 1"), "{}", stdout(o));
    let again = batch(&[src.as_os_str(), dst.as_os_str()]);
    assert_eq!(code(&again), 0, "{}", stderr(&again));
    assert_same_tree(&src, &dst);
}

#[test]
fn a_partial_copy_that_cannot_be_removed_never_comes_into_view() {
    have_strace();
    let t = tempfile::tempdir().unwrap();
    let src = small_tree(t.path());
    let dst = t.path().join("dst");
    // Writes fail in the new folders, and so does every removal: the partial
    // files cannot be cleaned up where they were written.
    let ran = traced(
        &["write:error=EIO:when=2", "unlinkat:error=EIO:when=1+"],
        &[&src, &dst],
    );
    let err = stderr(&ran.output);
    assert_eq!(ran.output.status.code(), Some(1), "{err}");
    for rel in entries(&dst).into_iter().filter(|r| !in_temporary(r)) {
        let (s, d) = (src.join(&rel), dst.join(&rel));
        if d.is_file() {
            assert_eq!(
                fs::read(&s).unwrap(),
                fs::read(&d).unwrap(),
                "{rel:?} is partial"
            );
        }
    }
    let again = batch(&[src.as_os_str(), dst.as_os_str()]);
    assert_eq!(code(&again), 0, "{}", stderr(&again));
    assert_same_tree(&src, &dst);
    assert!(leftover_temps(&dst).is_empty());
}

#[test]
fn a_dead_run_s_leftover_that_cannot_be_removed_is_reported_not_silent() {
    have_strace();
    let t = tempfile::tempdir().unwrap();
    let src = small_tree(t.path());
    let dst = t.path().join("dst");
    assert_eq!(code(&batch(&[src.as_os_str(), dst.as_os_str()])), 0);
    // What a killed run leaves: a staged folder with a partial file, in a
    // folder that already exists. pid 0x7fffffff cannot be alive.
    let staged = dst.join("d1/.convoy-7fffffff00000001.tmp");
    write(staged.join("partial.bin"), b"half");
    let ran = traced(&["unlinkat:error=EIO:when=1+"], &[&src, &dst]);
    let (o, err) = (&ran.output, stderr(&ran.output));
    assert_eq!(
        o.status.code(),
        Some(1),
        "a leftover that stays is not success: {err}"
    );
    assert!(
        err.contains(".convoy-7fffffff00000001.tmp") && err.contains("Input/output error"),
        "the message names the leftover and why: {err}"
    );
    assert!(stdout(o).contains("Problems:"), "{}", stdout(o));
    let again = batch(&[src.as_os_str(), dst.as_os_str()]);
    assert_eq!(code(&again), 0, "{}", stderr(&again));
    assert!(
        leftover_temps(&dst).is_empty(),
        "{:?}",
        leftover_temps(&dst)
    );
}

#[test]
fn reruns_restore_hard_links_and_symlink_times() {
    let t = tempfile::tempdir().unwrap();
    let (src, dst) = (t.path().join("src"), t.path().join("dst"));
    write(src.join("a/first"), &data(1, 3000));
    fs::create_dir_all(src.join("b")).unwrap();
    fs::hard_link(src.join("a/first"), src.join("b/second")).unwrap();
    symlink("../a/first", src.join("b/link")).unwrap();
    set_mtime(src.join("b/link"), 1_400_000_000, 5);
    assert_eq!(code(&batch(&[src.as_os_str(), dst.as_os_str()])), 0);
    // The second name became a separate file with the same bytes and time
    // (what an earlier failure, or a copier that keeps no links, leaves).
    fs::remove_file(dst.join("b/second")).unwrap();
    fs::copy(dst.join("a/first"), dst.join("b/second")).unwrap();
    let m = fs::metadata(src.join("a/first")).unwrap();
    set_mtime(dst.join("b/second"), m.mtime(), m.mtime_nsec());
    let o = batch(&[src.as_os_str(), dst.as_os_str()]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        fs::metadata(dst.join("a/first")).unwrap().ino(),
        fs::metadata(dst.join("b/second")).unwrap().ino(),
        "the rerun links the pair again"
    );
    // A symlink with the same target but another time is not up to date.
    set_mtime(dst.join("b/link"), 1_000_000_000, 0);
    let o = batch(&[
        src.as_os_str(),
        dst.as_os_str(),
        os("--on-conflict=overwrite"),
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_same_tree(&src, &dst);
}

#[test]
fn unwritable_output_never_stops_the_copy_and_makes_the_exit_code_say_so() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    // Enough entries that the JSON events overflow a pipe's buffer.
    for i in 0..3000 {
        write(src.join(format!("{}/{i}", i % 10)), &data(i, 100));
    }
    let bash = |script: &str, dst: &Path| {
        Command::new("bash")
            .arg("-c")
            .arg(script)
            .arg(BIN)
            .arg(&src)
            .arg(dst)
            .output()
            .unwrap()
    };
    // Summary to a full disk: the copy completes, the lost report is exit 1.
    let dst = t.path().join("full-stdout");
    let o = bash("\"$0\" --batch \"$1\" \"$2\" > /dev/full", &dst);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("write error: standard output: No space left"),
        "{}",
        stderr(&o)
    );
    assert_same_tree(&src, &dst);
    // JSON events to a full disk: the same.
    let dst = t.path().join("full-json");
    let o = bash("\"$0\" --batch --json \"$1\" \"$2\" > /dev/full", &dst);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert_same_tree(&src, &dst);
    // Messages to a full disk, summary fine: nothing was lost that mattered.
    let dst = t.path().join("full-stderr");
    let o = bash("\"$0\" --batch \"$1\" \"$2\" 2> /dev/full", &dst);
    assert_eq!(code(&o), 0, "{}", stdout(&o));
    assert!(stdout(&o).contains("Copied 3000 files"), "{}", stdout(&o));
    assert_same_tree(&src, &dst);
    // Everything into a pipe whose reader leaves after a few bytes.
    let dst = t.path().join("closed-pipe");
    let o = bash(
        "\"$0\" --batch --json \"$1\" \"$2\" 2>&1 | head -c 10 > /dev/null; exit ${PIPESTATUS[0]}",
        &dst,
    );
    assert_eq!(code(&o), 1, "the lost events are reported in the exit code");
    assert_same_tree(&src, &dst);
}

#[test]
fn a_stopped_and_continued_copy_finishes_exact() {
    let t = tempfile::tempdir().unwrap();
    let (src, dst) = (t.path().join("src"), t.path().join("dst"));
    for i in 0..4000 {
        write(src.join(format!("{}/{i}", i % 40)), &data(i, 4000));
    }
    write(src.join("big.bin"), &data(7, 20 * 1024 * 1024));
    let child = convoy()
        .args([os("--batch"), os("-j2"), src.as_os_str(), dst.as_os_str()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = rustix::process::Pid::from_child(&child);
    // Stopped and continued at several points: as soon as it writes, and
    // again every 30 ms while it runs.
    while fs::read_dir(&dst).map_or(true, |mut d| d.next().is_none()) {
        std::thread::sleep(Duration::from_millis(1));
    }
    for _ in 0..5 {
        if rustix::process::kill_process(pid, rustix::process::Signal::STOP).is_err() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::CONT);
        std::thread::sleep(Duration::from_millis(30));
    }
    let o = child.wait_with_output().unwrap();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_same_tree(&src, &dst);
}

#[test]
fn what_is_inside_a_folder_that_could_not_be_put_in_place_says_that_folder_s_reason() {
    have_strace();
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    write(src.join("a/f1"), b"1");
    write(src.join("a/b/f2"), b"2");
    let dst = t.path().join("dst");
    // One worker: the first rename is that of `a`, the outer new folder.
    let inject = ["renameat2:error=EIO:when=1".to_string()];
    let argv = [BIN, "--batch", "-j", "1"]
        .iter()
        .map(|s| s.to_string())
        .chain([src.display().to_string(), dst.display().to_string()])
        .collect::<Vec<_>>();
    let ran = run_traced(&inject, &argv, None);
    let err = stderr(&ran.output);
    assert_eq!(ran.output.status.code(), Some(1), "{err}");
    assert!(
        err.contains("dst/a: cannot move into place: Input/output error"),
        "{err}"
    );
    // What was reported copied into it is taken back: nothing of it is there.
    let gone = "dst/a: 1 files (1 B) and 0 symlinks copied into it are not in the destination";
    assert!(err.contains(gone), "{err}");
    let said = stdout(&ran.output);
    assert!(said.starts_with("Copied 0 files"), "{said}");
    // (b is made after a failed, or fails to be put in a: either way
    // what is in a says a's reason.)
    let why = "the folder it is in (a) could not be put in place: Input/output error";
    let said = err
        .lines()
        .any(|l| l.contains("dst/a/b: cannot") && l.contains(why));
    assert!(said, "'dst/a/b: cannot …: {why}' in:\n{err}");
    // b's file, when b was made at all before a went, says it too.
    for l in err.lines().filter(|l| l.contains("dst/a/b/f2")) {
        assert!(l.contains(why), "{l}");
    }
    let again = batch(&[src.as_os_str(), dst.as_os_str()]);
    assert_eq!(code(&again), 0, "{}", stderr(&again));
    assert_same_tree(&src, &dst);
}

/// A thread that cannot start (a container at its `pids.max`: EAGAIN) makes
/// the run go on with those that did, down to the one it started on; it says
/// so once and the copy comes out exact. strace counts each thread's calls
/// apart: `when=1` fails the engine's thread (the first start of the main
/// thread), `when=2` the engine's second start (its first worker), `1+`
/// every start of every thread.
#[test]
fn threads_that_cannot_start_leave_the_copy_to_those_that_did() {
    have_strace();
    let t = tempfile::tempdir().unwrap();
    let src = small_tree(t.path());
    for when in ["1", "2", "3", "17", "1+", "2+", "3+"] {
        let dst = t.path().join(format!("dst-{when}"));
        let inject = [format!("clone3:error=EAGAIN:when={when}")];
        let argv = [BIN.to_string(), "--batch".into()]
            .into_iter()
            .chain([src.display().to_string(), dst.display().to_string()])
            .collect::<Vec<_>>();
        let ran = run_traced(&inject, &argv, None);
        let err = stderr(&ran.output);
        assert!(!ran.hung, "clone3 failing at {when}: the run hung");
        assert_eq!(
            ran.output.status.code(),
            Some(0),
            "clone3 failing at {when}: {err}"
        );
        assert_same_tree(&src, &dst);
        let said = err
            .lines()
            .filter(|l| l.contains("could start") || l.contains("cannot start"))
            .count();
        assert!(said >= 1, "fewer threads are said ({when}): {err}");
        assert!(said <= 2, "and said once each ({when}): {err}");
    }
}

/// Every regular file of `pristine` (relative paths and bytes).
fn files_of(pristine: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    entries(pristine)
        .into_iter()
        .filter(|r| fs::symlink_metadata(pristine.join(r)).unwrap().is_file())
        .map(|r| {
            let bytes = fs::read(pristine.join(&r)).unwrap();
            (r, bytes)
        })
        .collect()
}

/// `--move` with a call failing (or the process killed) at its first,
/// second, third or every use: every file stays whole in the source or at
/// its final name in the destination (never in neither, never broken), a
/// run that says 0 moved everything, and a clean rerun finishes the move.
#[test]
fn a_move_that_fails_anywhere_leaves_every_file_whole_in_one_place_and_a_rerun_finishes_it() {
    have_strace();
    let t = tempfile::tempdir().unwrap();
    let pristine = small_tree(t.path());
    write(pristine.join("d1/big.bin"), &data(77, 3 << 20));
    fs::hard_link(pristine.join("d0/f0.txt"), pristine.join("d2/again.txt")).unwrap();
    fs::create_dir_all(pristine.join("empty/inner")).unwrap();
    let files = files_of(&pristine);
    let mut cases: Vec<String> = Vec::new();
    for call in [
        "unlinkat",
        "syncfs",
        "newfstatat",
        "renameat2",
        "linkat",
        "openat",
        "mkdirat",
        "copy_file_range",
        "utimensat",
    ] {
        for when in ["1", "2", "3", "1+"] {
            cases.push(format!("{call}:error=EIO:when={when}"));
        }
    }
    for call in ["unlinkat", "syncfs", "linkat", "renameat2"] {
        for when in ["1", "2", "5"] {
            cases.push(format!("{call}:signal=KILL:when={when}"));
        }
    }
    // A full disk, interrupted calls (retried), and a fault whose clean-up
    // fails too.
    for call in ["unlinkat", "renameat2", "copy_file_range", "openat"] {
        for when in ["1", "3"] {
            cases.push(format!("{call}:error=ENOSPC:when={when}"));
        }
    }
    for call in ["unlinkat", "renameat2", "getdents64", "syncfs"] {
        for when in ["1", "3"] {
            cases.push(format!("{call}:error=EINTR:when={when}"));
        }
    }
    for two in [
        "copy_file_range:error=EIO:when=1 unlinkat:error=EIO:when=1+",
        "renameat2:error=EIO:when=2 unlinkat:error=EIO:when=1+",
        "syncfs:error=EIO:when=1 unlinkat:error=EIO:when=1+",
    ] {
        cases.push(two.to_string());
    }
    // A person's Ctrl-C, a service manager's TERM: a clean stop mid-move.
    for (call, signal) in [
        ("unlinkat", "INT"),
        ("syncfs", "TERM"),
        ("copy_file_range", "INT"),
        ("renameat2", "HUP"),
    ] {
        for when in ["1", "3"] {
            cases.push(format!("{call}:signal={signal}:when={when}"));
        }
    }
    let mut bad = Vec::new();
    for (n, inject) in cases.iter().enumerate() {
        let case = t.path().join(format!("case-{n}"));
        let (src, dst) = (case.join("src"), case.join("dst"));
        fs::create_dir_all(&case).unwrap();
        let ok = Command::new("cp")
            .arg("-a")
            .arg(&pristine)
            .arg(&src)
            .status()
            .unwrap();
        assert!(ok.success());
        let argv: Vec<String> = [BIN, "--batch", "--move"]
            .iter()
            .map(|s| s.to_string())
            .chain([src.display().to_string(), dst.display().to_string()])
            .collect();
        let injected: Vec<String> = inject.split(' ').map(String::from).collect();
        let ran = run_traced(&injected, &argv, None);
        let exit = ran.output.status.code();
        let mut why = Vec::new();
        if ran.hung {
            why.push("hung".to_string());
        }
        if stderr(&ran.output).contains("panicked") {
            why.push(format!("panicked: {}", stderr(&ran.output)));
        }
        for (rel, bytes) in &files {
            let (s, d) = (fs::read(src.join(rel)).ok(), fs::read(dst.join(rel)).ok());
            if d.as_ref().is_some_and(|d| d != bytes) {
                why.push(format!("{}: broken under its final name", rel.display()));
            }
            if s.as_ref() != Some(bytes) && d.as_ref() != Some(bytes) {
                why.push(format!("{}: in neither place", rel.display()));
            }
        }
        if exit == Some(0) && src.exists() {
            why.push(format!(
                "exit 0, but the source is still there: {:?}",
                entries(&src)
            ));
        }
        // What a first run that said 0 finished has nothing left to move.
        if src.exists() {
            let again = batch(&[os("--move"), src.as_os_str(), dst.as_os_str()]);
            if code(&again) != 0 {
                let (c, e) = (code(&again), stderr(&again));
                why.push(format!("the rerun exits {c}: {e}"));
            }
        }
        if src.exists() {
            why.push(format!(
                "after the rerun the source is still there: {:?}",
                entries(&src)
            ));
        }
        // A temporary a run could not remove is the next run's to sweep
        // (said); a move that took everything has no next run here.
        let left_said = stderr(&ran.output).contains("the next run removes it");
        let cmp = convoy()
            .args(["--batch", "--compare"])
            .args(if left_said {
                &["--exclude", ".convoy-*.tmp"][..]
            } else {
                &[][..]
            })
            .arg(&pristine)
            .arg(&dst)
            .output()
            .unwrap();
        // A source folder whose times could not be put back (said so) has
        // another time now, which the rerun copies: nothing else may differ.
        // So has one a signal stopped between a removal and putting the
        // folder's times back (a kill, or a second signal, ends the process
        // at once): the time is all that may differ.
        let stopped = inject.contains(":signal=");
        let times_said = stopped || stderr(&ran.output).contains("times could not be put back");
        let only_folder_times = stdout(&cmp)
            .lines()
            .filter(|l| !l.starts_with("Differ:"))
            .all(|l| l.starts_with("mtime differs:"));
        if code(&cmp) != 0 && !(times_said && only_folder_times) {
            let (o, e) = (stdout(&cmp), stderr(&cmp));
            why.push(format!("after the rerun the copy differs:\n{o}{e}"));
        }
        if !why.is_empty() {
            bad.push(format!(
                "{inject} (exit {exit:?}):\n    {}",
                why.join("\n    ")
            ));
        }
        let _ = fs::remove_dir_all(&case);
    }
    eprintln!(
        "move sweep: {} cases, {} passed",
        cases.len(),
        cases.len() - bad.len()
    );
    assert!(
        bad.is_empty(),
        "{} of {} cases failed:\n{}",
        bad.len(),
        cases.len(),
        bad.join("\n")
    );
}

/// One case of the mirror sweep: a call failing (or a signal) at a given
/// use, everywhere or only on calls that touch one path.
struct MirrorCase {
    /// One injection, or a fault and then its clean-up failing too.
    inject: Vec<String>,
    /// Relative to the case's folder.
    on: Option<&'static str>,
    backup: bool,
}

/// `--mirror` with a call failing (or the process stopped) at its first,
/// second, third or every use, anywhere or on what the deletion phase
/// touches: nothing is deleted once anything went wrong before the
/// deletions (the JSON stream shows no failure before the plan when a
/// deletion happened), a run that said "nothing deleted" kept every extra,
/// no file is broken under its name, with --backup-dir every old entry is
/// in DEST or in the backup, exit 0 means an exact mirror, and a clean
/// rerun makes one.
#[test]
fn a_mirror_that_fails_anywhere_deletes_nothing_it_should_not_and_a_rerun_finishes_it() {
    have_strace();
    let t = tempfile::tempdir().unwrap();
    let pristine = small_tree(t.path());
    write(pristine.join("d2/in-the-way.txt"), b"a file in the source");
    let old = t.path().join("old");
    cp_a(&pristine, &old);
    write(old.join("d0/f3.txt"), b"an older version");
    write(old.join("gone.txt"), b"only in the destination");
    write(old.join("x/y/z.txt"), &data(5, 3000));
    write(old.join("d1/extra.txt"), b"extra");
    fs::remove_file(old.join("d2/in-the-way.txt")).unwrap();
    write(
        old.join("d2/in-the-way.txt/inner.txt"),
        b"a folder in the way",
    );
    let extras = [
        "gone.txt",
        "x/y/z.txt",
        "d1/extra.txt",
        "d2/in-the-way.txt/inner.txt",
    ];
    let old_files = files_of(&old);
    let new_files = files_of(&pristine);
    let mut cases = Vec::new();
    let case = |inject: String, on, backup| MirrorCase {
        inject: inject.split(' ').map(String::from).collect(),
        on,
        backup,
    };
    for call in [
        "getdents64",
        "newfstatat",
        "openat",
        "unlinkat",
        "renameat2",
        "utimensat",
        "fchmod",
        "mkdirat",
    ] {
        for when in ["1", "2", "3", "1+"] {
            cases.push(case(format!("{call}:error=EIO:when={when}"), None, false));
        }
    }
    for on in [
        "dst/x",
        "dst/x/y",
        "dst/gone.txt",
        "dst/d1/extra.txt",
        "dst/d2/in-the-way.txt",
    ] {
        for call in ["unlinkat", "getdents64", "openat", "newfstatat"] {
            for when in ["1", "1+"] {
                cases.push(case(
                    format!("{call}:error=EIO:when={when}"),
                    Some(on),
                    false,
                ));
            }
        }
        cases.push(case("unlinkat:signal=KILL:when=1+".into(), Some(on), false));
        cases.push(case("unlinkat:signal=INT:when=1+".into(), Some(on), false));
    }
    // A full disk, an interrupted call (retried), and a fault whose
    // clean-up fails too (the temporary of a replaced file, a backup's
    // folder).
    for (call, errno) in [
        ("unlinkat", "ENOSPC"),
        ("renameat2", "ENOSPC"),
        ("getdents64", "EINTR"),
        ("unlinkat", "EINTR"),
        ("openat", "EINTR"),
    ] {
        for when in ["1", "3"] {
            cases.push(case(
                format!("{call}:error={errno}:when={when}"),
                None,
                false,
            ));
        }
    }
    for on in ["dst/x", "dst/gone.txt"] {
        cases.push(case("unlinkat:error=EINTR:when=1".into(), Some(on), false));
        cases.push(case("unlinkat:error=ENOSPC:when=1".into(), Some(on), false));
    }
    for two in [
        "renameat2:error=EIO:when=1 unlinkat:error=EIO:when=1+",
        "renameat2:error=EIO:when=2 unlinkat:error=EIO:when=1+",
        "linkat:error=EIO:when=1 unlinkat:error=EIO:when=1+",
    ] {
        cases.push(case(two.into(), None, false));
        cases.push(case(two.into(), None, true));
    }
    for call in ["renameat2", "linkat", "mkdirat", "openat"] {
        for when in ["1", "2", "1+"] {
            cases.push(case(format!("{call}:error=EIO:when={when}"), None, true));
        }
    }
    for on in ["dst/x", "dst/gone.txt", "dst/d0/f3.txt"] {
        cases.push(case("renameat2:error=EIO:when=1".into(), Some(on), true));
        cases.push(case("linkat:error=EIO:when=1".into(), Some(on), true));
        cases.push(case("renameat2:signal=KILL:when=1+".into(), Some(on), true));
        cases.push(case("linkat:signal=KILL:when=1+".into(), Some(on), true));
    }
    if let Ok(only) = std::env::var("FAULT_ONLY") {
        cases.retain(|c| format!("{} {:?}", c.inject.join(" "), c.on).contains(&only));
    }
    let mut bad = Vec::new();
    for (n, c) in cases.iter().enumerate() {
        let dir = t.path().join(format!("case-{n}"));
        let (src, dst, keep) = (dir.join("src"), dir.join("dst"), dir.join("keep"));
        fs::create_dir_all(&dir).unwrap();
        for (from, to) in [(&pristine, &src), (&old, &dst)] {
            let ok = Command::new("cp")
                .arg("-a")
                .arg(from)
                .arg(to)
                .status()
                .unwrap();
            assert!(ok.success());
        }
        let mut argv: Vec<String> = [BIN, "--batch", "--json", "--mirror"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        if c.backup {
            argv.extend(["--backup-dir".to_string(), keep.display().to_string()]);
        }
        argv.extend([src.display().to_string(), dst.display().to_string()]);
        let on = c.on.map(|p| dir.join(p));
        let ran = run_traced(&c.inject, &argv, on.as_deref());
        let (exit, err) = (ran.output.status.code(), stderr(&ran.output));
        let mut why = Vec::new();
        if ran.hung {
            why.push("hung".to_string());
        }
        if err.contains("panicked") {
            why.push(format!("panicked: {err}"));
        }
        // Never broken under a name: the old bytes or the new.
        for (rel, bytes) in new_files.iter().chain(&old_files) {
            if let Ok(d) = fs::read(dst.join(rel)) {
                let known = [bytes]
                    .into_iter()
                    .chain(old_files.iter().filter(|(r, _)| r == rel).map(|(_, b)| b))
                    .chain(new_files.iter().filter(|(r, _)| r == rel).map(|(_, b)| b));
                if !known.into_iter().any(|b| *b == d) {
                    why.push(format!("{}: broken under its name", rel.display()));
                }
            }
        }
        if err.contains("mirror: nothing deleted") {
            for e in extras {
                if !dst.join(e).exists() {
                    why.push(format!("said nothing was deleted, but {e} is gone"));
                }
            }
        }
        // The order of the JSON stream: a failure before the plan, and no
        // deletion may follow.
        let lines: Vec<serde_json::Value> = stdout(&ran.output)
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        let plan_at = lines.iter().position(|v| v["type"] == "mirror_plan");
        let trouble_at = lines.iter().position(|v| {
            v["outcome"] == "failed"
                || v["type"] == "fatal"
                || (v["type"] == "notice"
                    && !["time_window", "fewer_threads", "fd_limit", "not_kept"]
                        .contains(&v["reason"].as_str().unwrap_or("")))
        });
        let deleted = lines
            .iter()
            .any(|v| v["type"] == "deleted" && v["outcome"] != "failed");
        if deleted && trouble_at.is_some_and(|t| plan_at.is_none_or(|p| t < p)) {
            why.push(format!(
                "deleted after something went wrong: {}",
                lines[trouble_at.unwrap()]
            ));
        }
        // With a backup folder nothing old is lost: in DEST or kept.
        if c.backup {
            for (rel, bytes) in &old_files {
                let here = fs::read(dst.join(rel)).ok().as_ref() == Some(bytes);
                let kept = (0..4).any(|i| {
                    let name = match i {
                        0 => rel.clone(),
                        i => PathBuf::from(format!("{}~{i}", rel.display())),
                    };
                    fs::read(keep.join(name)).ok().as_ref() == Some(bytes)
                });
                let new = new_files.iter().any(|(r, b)| r == rel && b == bytes);
                if !here && !kept && !new {
                    why.push(format!(
                        "{}: neither in DEST nor in the backup",
                        rel.display()
                    ));
                }
            }
        }
        let compare = |dst: &Path, left: bool| {
            convoy()
                .args(["--batch", "--compare"])
                .args(if left {
                    &["--exclude", ".convoy-*.tmp"][..]
                } else {
                    &[][..]
                })
                .arg(&pristine)
                .arg(dst)
                .output()
                .unwrap()
        };
        let left = err.contains("the next run removes it");
        if exit == Some(0) && code(&compare(&dst, left)) != 0 {
            why.push(format!(
                "exit 0, but not a mirror: {}",
                stdout(&compare(&dst, left))
            ));
        }
        // A clean rerun makes the mirror.
        let mut again = convoy();
        again.args(["--batch", "--mirror"]);
        if c.backup {
            again.arg("--backup-dir").arg(&keep);
        }
        let again = again.arg(&src).arg(&dst).output().unwrap();
        if code(&again) != 0 {
            why.push(format!(
                "the rerun exits {}: {}",
                code(&again),
                stderr(&again)
            ));
        }
        let cmp = compare(&dst, left);
        if code(&cmp) != 0 {
            why.push(format!("after the rerun: {}{}", stdout(&cmp), stderr(&cmp)));
        }
        if !why.is_empty() {
            let on = c.on.map_or(String::new(), |p| format!(" on {p}"));
            let b = if c.backup { " --backup-dir" } else { "" };
            bad.push(format!(
                "{}{on}{b} (exit {exit:?}):\n    {}",
                c.inject.join(" "),
                why.join("\n    ")
            ));
        }
        let _ = fs::remove_dir_all(&dir);
    }
    eprintln!(
        "mirror sweep: {} cases, {} passed",
        cases.len(),
        cases.len() - bad.len()
    );
    assert!(
        bad.is_empty(),
        "{} of {} cases failed:\n{}",
        bad.len(),
        cases.len(),
        bad.join("\n")
    );
}
