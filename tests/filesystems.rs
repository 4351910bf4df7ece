//! Destinations that are not ext4, mounted for real: what convoy keeps there,
//! what it cannot, and that it says so. A filesystem the machine cannot mount
//! fails the test with what to install; it never passes silently.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::{MetadataExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;

use common::*;

/// A private sshd on 127.0.0.1 and an sshfs mount of a folder through it;
/// both go away when dropped (the mount first).
struct Sshfs {
    mnt: PathBuf,
    _sshd: common::sshd::Sshd,
}

impl Sshfs {
    /// `options` are sshfs's own, added to the connection's.
    fn mount(dir: &Path, remote: &Path, mnt: &Path, options: &str) -> Sshfs {
        need("sshfs", "sshfs");
        assert!(Path::new("/dev/fuse").exists(), "this test needs /dev/fuse");
        let sshd = common::sshd::Sshd::start(dir);
        fs::create_dir_all(mnt).unwrap();
        let options = format!("{}{options}", sshd.options().join(","));
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
            mnt: mnt.to_path_buf(),
            _sshd: sshd,
        };
        assert!(mounted, "sshfs could not mount through the private sshd");
        guard
    }
}

impl Drop for Sshfs {
    fn drop(&mut self) {
        let _ = Command::new("fusermount").arg("-u").arg(&self.mnt).status();
    }
}

/// A copy onto sshfs and its rerun. Debian's sshfs hides the targets of
/// links that are absolute or hold `..` (`contain_symlinks`, on by default):
/// the links are made, said once, and a rerun finds them up to date.
fn over_sshfs(contained: bool) {
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
    // SFTP keeps whole seconds: the rerun compares times within that.
    set_mtime(src.join("sub/inner.bin"), 1_500_000_100, 999_999_999);
    let links = [
        ("absolute", outside.to_str().unwrap()),
        ("climbing", "sub/../target.txt"),
        ("relative", "target.txt"),
        ("dangling", "nowhere/at/all"),
    ];
    for (link, to) in links {
        symlink(to, src.join(link)).unwrap();
        set_mtime(src.join(link), 1_200_000_000, 0);
    }
    // SFTP has no FIFOs: passed over, said once.
    let fifo = rustix::fs::FileType::Fifo;
    rustix::fs::mknodat(rustix::fs::CWD, src.join("sub/pipe"), fifo, 0o644.into(), 0).unwrap();
    set_mtime(src.join("sub"), 1_400_000_000, 0);
    set_mtime(&src, 1_400_000_001, 0);
    let options = if contained {
        ""
    } else {
        ",no_contain_symlinks"
    };
    let _mount = Sshfs::mount(t.path(), &remote, &mnt, options);
    let (dst, on_server) = (mnt.join("dst"), remote.join("dst"));
    let before = fs::metadata(&outside).unwrap();
    let o = batch(&[src.as_os_str(), dst.as_os_str()]);
    assert_eq!(code(&o), 0, "stdout: {} stderr: {}", stdout(&o), stderr(&o));
    for what in ["symlink times", "symlink owners"] {
        // (Through sshfs's attribute cache the probe sees no change on either
        // side, so the reason given is "does not support them".)
        let line = format!("{what} not kept on 4 symlinks: the destination");
        assert!(
            stdout(&o).contains(&line),
            "what is not kept is said once: {}",
            stdout(&o)
        );
    }
    let hidden = "2 symlinks cannot be read back through this mount";
    assert_eq!(
        stdout(&o).contains(hidden),
        contained,
        "hidden links are said once, where they are hidden: {}",
        stdout(&o)
    );
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
    for (link, to) in links {
        // On the server, every link is there with its target.
        assert_eq!(
            fs::read_link(on_server.join(link)).unwrap(),
            Path::new(to),
            "{link}"
        );
    }
    // The rerun finds everything up to date (symlink times are not compared
    // where the destination cannot keep them) and changes nothing.
    let unchanged = stat_all(&on_server);
    let again = batch(&[src.as_os_str(), dst.as_os_str(), os("--json")]);
    assert_eq!(code(&again), 0, "{}{}", stdout(&again), stderr(&again));
    assert_unchanged(&unchanged, &stat_all(&on_server), "the copy, by a rerun");
    let (lines, summary) = json_lines(&again);
    for field in ["files_copied", "symlinks", "failed", "specials"] {
        assert_eq!(summary[field], 0, "{field}: {summary} {lines:?}");
    }
    let pipe = lines
        .iter()
        .find(|l| l["path"] == "sub/pipe")
        .expect("the FIFO's entry");
    assert_eq!(
        (&pipe["outcome"], &pipe["reason"]),
        (&"skipped".into(), &"not_supported".into()),
        "{pipe}"
    );
    assert_eq!(summary["skipped"], 1, "{summary}");
    assert_eq!(summary["up_to_date"], 6, "{summary}");
    assert_eq!(summary["time_window_ns"], 1_000_000_000, "{summary}");
    let said_hidden = summary["not_kept"]
        .as_array()
        .unwrap()
        .iter()
        .any(|k| k["what"] == "link_targets" && k["count"] == 2);
    assert_eq!(said_hidden, contained, "{summary}");
}

#[test]
fn over_sshfs_hidden_link_targets_are_said_once_and_a_rerun_is_up_to_date() {
    over_sshfs(true);
}

#[test]
fn over_sshfs_with_every_link_readable_symlink_metadata_is_left_alone() {
    over_sshfs(false);
}

/// Runs a tool the test needs, which must succeed; returns its stdout.
fn run(cmd: &str, args: &[&OsStr]) -> String {
    let o = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{cmd}: {e}"));
    assert!(
        o.status.success(),
        "{cmd} {args:?}: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn p(path: &Path) -> &OsStr {
    path.as_os_str()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fs {
    Xfs,
    Btrfs,
    Exfat,
    Fat,
    Ntfs,
    Tmpfs,
}

/// Loop devices are handed out one at a time (two `losetup -f` at once can
/// pick the same one).
static MOUNTING: Mutex<()> = Mutex::new(());

/// A filesystem made for the test on a loop device over a sparse image (or a
/// tmpfs), mounted; unmounted and detached when dropped.
struct Mounted {
    fs: Fs,
    mnt: PathBuf,
    dev: Option<String>,
}

impl Mounted {
    fn new(fs: Fs, dir: &Path) -> Mounted {
        need_root("mount filesystem images");
        let _one = MOUNTING.lock().unwrap_or_else(|e| e.into_inner());
        let mnt = dir.join("mnt");
        fs::create_dir_all(&mnt).unwrap();
        if fs == Fs::Tmpfs {
            run(
                "mount",
                &[
                    os("-t"),
                    os("tmpfs"),
                    os("-o"),
                    os("size=128m"),
                    os("convoy-test"),
                    p(&mnt),
                ],
            );
            return Mounted { fs, mnt, dev: None };
        }
        let (mkfs, package, mib) = match fs {
            Fs::Xfs => ("mkfs.xfs", "xfsprogs", 320),
            Fs::Btrfs => ("mkfs.btrfs", "btrfs-progs", 256),
            Fs::Exfat => ("mkfs.exfat", "exfatprogs", 64),
            Fs::Fat => ("mkfs.vfat", "dosfstools", 64),
            Fs::Ntfs => ("mkntfs", "ntfs-3g", 64),
            Fs::Tmpfs => unreachable!(),
        };
        need(mkfs, package);
        need("losetup", "util-linux");
        let image = dir.join("image");
        fs::File::create(&image)
            .unwrap()
            .set_len(mib << 20)
            .unwrap();
        let dev = run("losetup", &[os("-f"), os("--show"), p(&image)])
            .trim()
            .to_string();
        let guard = Mounted {
            fs,
            mnt: mnt.clone(),
            dev: Some(dev.clone()),
        };
        let d = os(&dev);
        match fs {
            Fs::Xfs => run(mkfs, &[os("-q"), os("-f"), os("-m"), os("reflink=1"), d]),
            Fs::Btrfs => run(mkfs, &[os("-q"), os("-f"), d]),
            Fs::Exfat | Fs::Fat => run(mkfs, &[d]),
            Fs::Ntfs => run(mkfs, &[os("-Q"), os("-q"), os("-F"), d]),
            Fs::Tmpfs => unreachable!(),
        };
        match fs {
            Fs::Exfat => need("mount.exfat-fuse", "exfat-fuse"),
            Fs::Fat => need("fusefat", "fusefat"),
            Fs::Ntfs => need("ntfs-3g", "ntfs-3g"),
            _ => {}
        }
        guard.mount(d);
        guard
    }
}

impl Mounted {
    /// Unmounts and mounts again: nothing of it is left in memory.
    fn remount(&self) {
        let dev = self.dev.as_deref().expect("a device to mount again");
        unmount(&self.mnt);
        self.mount(os(dev));
    }

    fn mount(&self, d: &OsStr) {
        let mnt = p(&self.mnt);
        match self.fs {
            Fs::Exfat => run("mount.exfat-fuse", &[d, mnt]),
            Fs::Fat => run("fusefat", &[os("-o"), os("rw+"), d, mnt]),
            Fs::Ntfs => run("ntfs-3g", &[d, mnt]),
            _ => run("mount", &[d, mnt]),
        };
    }
}

/// Unmounts `mnt`; a FUSE daemon may hold the mount a moment after the last
/// close.
fn unmount(mnt: &Path) -> bool {
    for _ in 0..50 {
        let ok = Command::new("umount")
            .arg(mnt)
            .stderr(Stdio::null())
            .status();
        if ok.is_ok_and(|s| s.success()) {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    false
}

impl Drop for Mounted {
    fn drop(&mut self) {
        unmount(&self.mnt);
        if let Some(dev) = &self.dev {
            let _ = Command::new("losetup").args(["-d", dev]).status();
        }
    }
}

/// What a home folder holds that a copy can lose: attributes, an ACL (and a
/// default ACL on a folder), a capability, sparse files large and small,
/// hard links, symlinks of each kind, a private folder, nanosecond times.
fn home_tree(root: &Path) {
    for (tool, package) in [
        ("setfattr", "attr"),
        ("setfacl", "acl"),
        ("setcap", "libcap2-bin"),
    ] {
        need(tool, package);
    }
    write(root.join(".bashrc"), &data(1, 8192));
    write(
        root.join(".config/app/settings.json"),
        b"{\"theme\": \"dark\"}\n",
    );
    run(
        "setfattr",
        &[
            os("-n"),
            os("user.comment"),
            os("-v"),
            os("kept"),
            p(&root.join(".config/app/settings.json")),
        ],
    );
    write(root.join("Documents/report.txt"), &data(2, 20_000));
    run(
        "setfacl",
        &[
            os("-m"),
            os("u:nobody:r"),
            p(&root.join("Documents/report.txt")),
        ],
    );
    run(
        "setfacl",
        &[
            os("-d"),
            os("-m"),
            os("u:nobody:rx"),
            p(&root.join("Documents")),
        ],
    );
    write(root.join(".local/bin/tool"), &data(3, 150_000));
    chmod(root.join(".local/bin/tool"), 0o755);
    run(
        "setcap",
        &[os("cap_net_raw+ep"), p(&root.join(".local/bin/tool"))],
    );
    write(root.join("Pictures/photo.jpg"), &data(4, 3_000_000));
    for (name, size, at) in [("vm.img", 20 << 20, 10 << 20), ("onebyte", 128 << 10, 4096)] {
        let f = fs::File::create(root.join(name)).unwrap();
        f.set_len(size).unwrap();
        std::os::unix::fs::FileExt::write_at(&f, b"x", at).unwrap();
    }
    fs::File::create(root.join("hole200k"))
        .unwrap()
        .set_len(200 << 10)
        .unwrap();
    write(root.join("Music/song.ogg"), &data(5, 400_000));
    fs::hard_link(
        root.join("Music/song.ogg"),
        root.join("Music/same song.ogg"),
    )
    .unwrap();
    symlink("app/settings.json", root.join(".config/settings")).unwrap();
    symlink("/etc/hostname", root.join("hostname")).unwrap();
    symlink("gone/away", root.join("dangling")).unwrap();
    write(root.join("private/diary.txt"), b"dear diary\n");
    chmod(root.join("private/diary.txt"), 0o600);
    chmod(root.join("private"), 0o700);
    fs::create_dir_all(root.join("empty")).unwrap();
    // Times last, folders after what they hold.
    let all = entries(root);
    for (i, rel) in all.iter().enumerate() {
        if !root.join(rel).is_dir() || rel.as_os_str().is_empty() {
            set_mtime(
                root.join(rel),
                1_600_000_000 + i as i64,
                123_456_789 + i as i64,
            );
        }
    }
    for (i, rel) in all.iter().enumerate().rev() {
        if fs::symlink_metadata(root.join(rel)).unwrap().is_dir() {
            set_mtime(
                root.join(rel),
                1_650_000_000 + i as i64,
                987_654_321 - i as i64,
            );
        }
    }
}

/// Blocks separated by blank lines, sorted: tools list in folder order,
/// which is not the same on two filesystems.
fn blocks(text: &str) -> Vec<String> {
    let mut b: Vec<String> = text
        .split("\n\n")
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    b.sort();
    b
}

/// A tree as the tools a person checks with see it: every entry's type,
/// mode, owner, size, mtime to the nanosecond, bytes or target and which
/// names share an inode; then `getfattr`, `getfacl` and `getcap`.
fn described(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut inodes: HashMap<u64, String> = HashMap::new();
    for rel in entries(root) {
        let path = root.join(&rel);
        let m = fs::symlink_metadata(&path).unwrap();
        let key = rel.display().to_string();
        let what = if m.file_type().is_symlink() {
            format!("link -> {}", fs::read_link(&path).unwrap().display())
        } else if m.is_dir() {
            "dir".to_string()
        } else {
            let bytes = fs::read(&path).unwrap();
            let same = match inodes.get(&m.ino()) {
                Some(first) => format!(" same as {first}"),
                None => {
                    inodes.insert(m.ino(), key.clone());
                    String::new()
                }
            };
            format!("file {} bytes, hash {:x}{same}", bytes.len(), hash(&bytes))
        };
        let mode = if m.file_type().is_symlink() {
            0
        } else {
            m.mode() & 0o7777
        };
        out.insert(
            key,
            format!(
                "{what} mode {mode:o} owner {}:{} mtime {}.{:09}",
                m.uid(),
                m.gid(),
                m.mtime(),
                m.mtime_nsec()
            ),
        );
    }
    let in_root = |cmd: &str, args: &[&str]| {
        let o = Command::new(cmd)
            .args(args)
            .current_dir(root)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{cmd}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let xattrs = in_root(
        "getfattr",
        &["-R", "-P", "-h", "-d", "-m", "-", "-e", "hex", "."],
    );
    out.insert("(getfattr)".into(), blocks(&xattrs).join("\n\n"));
    let acls = in_root("getfacl", &["-R", "-P", "-n", "-p", "."]);
    out.insert("(getfacl)".into(), blocks(&acls).join("\n\n"));
    let mut caps: Vec<String> = in_root("getcap", &["-r", "."])
        .lines()
        .map(str::to_string)
        .collect();
    caps.sort();
    out.insert("(getcap)".into(), caps.join("\n"));
    out
}

fn hash(bytes: &[u8]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut h);
    h.finish()
}

fn assert_described_same(a: &BTreeMap<String, String>, b: &BTreeMap<String, String>, what: &str) {
    for key in a.keys().chain(b.keys()) {
        assert_eq!(a.get(key), b.get(key), "{what}: {key}");
    }
}

/// Allocated bytes of a file.
fn allocated(path: &Path) -> u64 {
    fs::metadata(path).unwrap().blocks() * 512
}

/// Whether every extent of `path` is shared with another file (`filefrag`).
fn shares_extents(path: &Path) -> bool {
    need("filefrag", "e2fsprogs");
    let out = run("filefrag", &[os("-v"), p(path)]);
    let extents: Vec<&str> = out
        .lines()
        .filter(|l| {
            l.trim_start()
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_digit())
                && l.contains(':')
        })
        .collect();
    !extents.is_empty() && extents.iter().all(|l| l.contains("shared"))
}

/// The home tree copied by convoy and by `cp -a` into the same filesystem
/// (`at`, holding `src`) must read the same to every tool; on XFS and btrfs
/// convoy's copy shares its data with the source.
fn like_cp_a(src: &Path, at: &Path, clones: bool, remount: &dyn Fn()) {
    home_tree(src);
    let (ours, theirs) = (at.join("convoy"), at.join("cp"));
    let o = batch(&[p(src), p(&ours)]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert!(
        !stdout(&o).contains("not kept"),
        "everything is kept here: {}",
        stdout(&o)
    );
    run("cp", &[os("-a"), p(src), p(&theirs)]);
    let (s, c, t) = (described(src), described(&ours), described(&theirs));
    assert_described_same(&s, &c, "convoy's copy against the source");
    assert_described_same(&t, &c, "convoy's copy against cp -a's");
    for sparse in ["vm.img", "onebyte", "hole200k"] {
        let (mine, cp) = (
            allocated(&ours.join(sparse)),
            allocated(&theirs.join(sparse)),
        );
        assert!(
            mine <= cp.max(allocated(&src.join(sparse))),
            "{sparse}: {mine} bytes allocated, cp -a {cp}"
        );
        assert!(
            mine < fs::metadata(src.join(sparse)).unwrap().len() / 4,
            "{sparse} keeps its holes: {mine}"
        );
    }
    if clones {
        for f in [
            ".bashrc",
            "Pictures/photo.jpg",
            "Documents/report.txt",
            "Music/song.ogg",
        ] {
            assert!(
                shares_extents(&ours.join(f)),
                "{f} is a clone: {}",
                run("filefrag", &[os("-v"), p(&ours.join(f))])
            );
        }
    }
    remount();
    let before = stat_all(&ours);
    let again = batch(&[p(src), p(&ours), os("--json")]);
    assert_eq!(code(&again), 0, "{}{}", stdout(&again), stderr(&again));
    remount();
    assert_unchanged(&before, &stat_all(&ours), "the copy, by a rerun");
    let (_, summary) = json_lines(&again);
    assert_eq!(
        summary["files_copied"], 0,
        "a rerun copies nothing: {summary}"
    );
    assert_eq!(
        summary["time_window_ns"],
        serde_json::Value::Null,
        "{summary}"
    );
}

#[test]
fn a_home_folder_comes_out_as_cp_a_makes_it_on_ext4() {
    need_root("set capabilities and owners");
    let t = tempfile::tempdir().unwrap();
    like_cp_a(&t.path().join("home"), t.path(), false, &|| {});
}

#[test]
fn a_home_folder_comes_out_as_cp_a_makes_it_on_xfs_sharing_its_data() {
    let t = tempfile::tempdir().unwrap();
    let m = Mounted::new(Fs::Xfs, t.path());
    like_cp_a(&m.mnt.join("home"), &m.mnt, true, &|| m.remount());
}

#[test]
fn a_home_folder_comes_out_as_cp_a_makes_it_on_btrfs_sharing_its_data() {
    let t = tempfile::tempdir().unwrap();
    let m = Mounted::new(Fs::Btrfs, t.path());
    like_cp_a(&m.mnt.join("home"), &m.mnt, true, &|| m.remount());
}

#[test]
fn onto_tmpfs_everything_is_kept() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("home");
    home_tree(&src);
    let m = Mounted::new(Fs::Tmpfs, &t.path().join("tmpfs"));
    let dst = m.mnt.join("copy");
    let o = batch(&[p(&src), p(&dst)]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert_described_same(
        &described(&src),
        &described(&dst),
        "tmpfs copy against the source",
    );
}

#[test]
fn reflink_never_shares_nothing_and_always_fails_across_filesystems() {
    let t = tempfile::tempdir().unwrap();
    let m = Mounted::new(Fs::Xfs, t.path());
    let src = m.mnt.join("src");
    write(src.join("a.bin"), &data(7, 100_000));
    write(src.join("big.bin"), &data(8, 2_000_000));
    let never = m.mnt.join("never");
    let o = batch(&[p(&src), p(&never), os("--reflink=never")]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    for f in ["a.bin", "big.bin"] {
        assert!(!shares_extents(&never.join(f)), "{f} is really copied");
        assert_eq!(
            fs::read(src.join(f)).unwrap(),
            fs::read(never.join(f)).unwrap()
        );
    }
    let always = m.mnt.join("always");
    let o = batch(&[p(&src), p(&always), os("--reflink")]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert!(shares_extents(&always.join("a.bin")));
    // From another filesystem a clone cannot be: each file says so.
    let elsewhere = t.path().join("elsewhere");
    write(elsewhere.join("x.txt"), b"x");
    let dst = m.mnt.join("cross");
    let o = batch(&[p(&elsewhere), p(&dst), os("--reflink=always")]);
    assert_eq!(code(&o), 1, "{}{}", stdout(&o), stderr(&o));
    assert!(
        stderr(&o).contains("x.txt: cannot clone: the source is on another filesystem"),
        "{}",
        stderr(&o)
    );
    assert!(
        !dst.join("x.txt").exists(),
        "nothing broken under the final name"
    );
}

/// Onto a FUSE USB-stick filesystem, into a new and an existing folder: the
/// first run copies what it can hold and names what it cannot, the second
/// finds everything up to date.
fn usb_stick(fs_kind: Fs, not_kept: &[&str], unheld_symlinks: usize) {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("home");
    home_tree(&src);
    let m = Mounted::new(fs_kind, &t.path().join("stick"));
    fs::create_dir_all(m.mnt.join("existing")).unwrap();
    for dst in [m.mnt.join("new"), m.mnt.join("existing")] {
        let o = batch(&[p(&src), p(&dst), os("--json")]);
        assert_eq!(
            code(&o),
            0,
            "{fs_kind:?} {}: {}{}",
            dst.display(),
            stdout(&o),
            stderr(&o)
        );
        let (_, summary) = json_lines(&o);
        let said: Vec<String> = summary["not_kept"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["what"].as_str().unwrap().to_string())
            .collect();
        for what in not_kept {
            assert!(
                said.iter().any(|s| s == what),
                "{fs_kind:?}: '{what}' is said not kept: {summary}"
            );
        }
        let window = summary["time_window_ns"].as_u64().unwrap_or(1);
        for rel in entries(&src) {
            let s = fs::symlink_metadata(src.join(&rel)).unwrap();
            if !s.is_file() {
                continue;
            }
            let d = dst.join(&rel);
            assert_eq!(
                fs::read(src.join(&rel)).unwrap(),
                fs::read(&d).unwrap(),
                "{}",
                rel.display()
            );
            let dm = fs::metadata(&d).unwrap();
            let ns = |m: &fs::Metadata| {
                i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec())
            };
            assert!(
                (ns(&s) - ns(&dm)).unsigned_abs() < u128::from(window),
                "{} keeps its time within {window} ns",
                rel.display()
            );
        }
        assert!(
            leftover_temps(&dst).is_empty(),
            "{:?}",
            leftover_temps(&dst)
        );
        m.remount();
        let before = stat_all(&dst);
        let again = batch(&[p(&src), p(&dst), os("--json")]);
        assert_eq!(code(&again), 0, "{}{}", stdout(&again), stderr(&again));
        m.remount();
        assert_unchanged(&before, &stat_all(&dst), "the copy, by a rerun");
        let (lines, summary) = json_lines(&again);
        for field in ["files_copied", "symlinks", "hard_links", "failed"] {
            assert_eq!(
                summary[field], 0,
                "{fs_kind:?}: the rerun has nothing to do: {summary}"
            );
        }
        // What it cannot hold is passed over again, and said why.
        let skipped: Vec<_> = lines.iter().filter(|l| l["outcome"] == "skipped").collect();
        assert_eq!(skipped.len(), unheld_symlinks, "{skipped:?}");
        for l in skipped {
            assert_eq!(l["kind"], "symlink", "{l}");
            assert_eq!(l["reason"], "not_supported", "{l}");
        }
    }
}

/// What the FAT family holds none of (the tree has one of each).
const FAT_FAMILY_KEEPS_NONE_OF: &[&str] = &[
    "xattrs",
    "acls",
    "capabilities",
    "owners",
    "modes",
    "symlinks",
    "hard_links",
    "holes",
];

#[test]
fn onto_exfat_through_fuse_what_cannot_be_held_is_named_and_a_rerun_is_up_to_date() {
    usb_stick(Fs::Exfat, FAT_FAMILY_KEEPS_NONE_OF, 3);
}

#[test]
fn onto_fat_through_fuse_what_cannot_be_held_is_named_and_a_rerun_is_up_to_date() {
    // fusefat refuses to grow a file with ftruncate and stamps a renamed
    // file with the time of the rename: both are probed and worked around.
    usb_stick(Fs::Fat, FAT_FAMILY_KEEPS_NONE_OF, 3);
}

#[test]
fn onto_ntfs_through_fuse_what_cannot_be_held_is_named_and_a_rerun_is_up_to_date() {
    usb_stick(Fs::Ntfs, &["acls", "owners", "modes"], 0);
}

#[test]
fn names_exfat_refuses_are_said_with_their_character_and_the_rest_is_copied() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    write(src.join("what?.txt"), b"1");
    write(src.join("sub/a:b"), b"2");
    write(src.join("README.txt"), b"3");
    write(src.join("readme.txt"), b"4");
    write(src.join("sub/fine.txt"), b"5");
    let m = Mounted::new(Fs::Exfat, &t.path().join("stick"));
    let dst = m.mnt.join("copy");
    let o = batch(&[p(&src), p(&dst)]);
    assert_eq!(code(&o), 1, "{}{}", stdout(&o), stderr(&o));
    let err = stderr(&o);
    for line in [
        "what?.txt: name refused: the destination (exFAT through FUSE) does not accept '?' in names",
        "a:b: name refused: the destination (exFAT through FUSE) does not accept ':' in names",
        "already has this name there",
    ] {
        assert!(err.contains(line), "'{line}' in: {err}");
    }
    assert_eq!(fs::read(dst.join("sub/fine.txt")).unwrap(), b"5");
    // One of the two names that are one there is copied, the other reported.
    let held = fs::read_dir(&dst)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.eq_ignore_ascii_case("readme.txt"))
        .collect::<Vec<_>>();
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(
        fs::read(dst.join(&held[0])).unwrap(),
        fs::read(src.join(&held[0])).unwrap()
    );
    assert!(leftover_temps(&dst).is_empty());
    // The rerun says the same and copies nothing again.
    let again = batch(&[p(&src), p(&dst), os("--json")]);
    assert_eq!(code(&again), 1);
    let (_, summary) = json_lines(&again);
    assert_eq!(summary["files_copied"], 0, "{summary}");
    assert_eq!(summary["failed"], 3, "{summary}");
}

/// `convoy --batch SRC DST` under strace: its output and how many files it
/// asked the kernel to read ahead.
fn read_ahead_count(src: &Path, dst: &Path, log: &Path) -> (std::process::Output, usize) {
    need("strace", "strace");
    let o = Command::new("strace")
        .args(["-f", "-qq", "-e", "trace=fadvise64", "-o"])
        .arg(log)
        .args([BIN, "--batch"])
        .arg(src)
        .arg(dst)
        .output()
        .unwrap();
    let log = fs::read_to_string(log).unwrap();
    // Calls made (a call of one thread can be split over two lines by
    // another's, its result on the second).
    let asked = log
        .lines()
        .filter(|l| l.contains("fadvise64(") && l.contains("POSIX_FADV_WILLNEED"))
        .count();
    (o, asked)
}

#[test]
fn a_cold_source_is_read_ahead_a_batch_at_a_time_and_a_warm_one_is_not() {
    let t = tempfile::tempdir().unwrap();
    let m = Mounted::new(Fs::Xfs, t.path());
    let src = m.mnt.join("src");
    for d in 0..4 {
        for f in 0..40 {
            let name = src.join(format!("d{d}/f{f}"));
            write(name, &data(d * 100 + f, 1000 + 300 * f as usize));
        }
    }
    m.remount();
    let (o, cold) = read_ahead_count(&src, &t.path().join("cold"), &t.path().join("log1"));
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert_same_tree(&src, &t.path().join("cold"));
    // Each folder's first file is read as it comes and found not in memory;
    // the rest of its batch is asked for at once.
    assert!(cold >= 4 * 30, "{cold} of 160 cold files read ahead");
    let (o, warm) = read_ahead_count(&src, &t.path().join("warm"), &t.path().join("log2"));
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert_same_tree(&src, &t.path().join("warm"));
    assert_eq!(warm, 0, "files in memory are read as they come");
}

/// `--verify` onto each kind of destination: every file read back from the
/// device (directly where the filesystem allows it) and found equal.
#[test]
fn verify_reads_every_copy_back_on_every_filesystem() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    write(src.join("small.txt"), b"a small file\n");
    write(src.join("d/medium.bin"), &data(21, 300_000));
    write(src.join("d/big.bin"), &data(22, 3_000_000 + 17));
    for fs_kind in [Fs::Xfs, Fs::Btrfs, Fs::Exfat, Fs::Ntfs, Fs::Tmpfs] {
        let m = Mounted::new(fs_kind, &t.path().join(format!("{fs_kind:?}")));
        let dst = m.mnt.join("copy");
        let o = batch(&[p(&src), p(&dst), os("--verify"), os("--json")]);
        assert_eq!(code(&o), 0, "{fs_kind:?}: {}{}", stdout(&o), stderr(&o));
        let (_, summary) = json_lines(&o);
        assert_eq!(summary["verified"], 3, "{fs_kind:?}: {summary}");
        for f in ["small.txt", "d/medium.bin", "d/big.bin"] {
            assert_eq!(
                fs::read(dst.join(f)).unwrap(),
                fs::read(src.join(f)).unwrap(),
                "{fs_kind:?}: {f}"
            );
        }
    }
}

/// The bytes of `path` in the page cache (`fincore`).
fn cached_bytes(path: &Path) -> u64 {
    need("fincore", "util-linux");
    let out = run(
        "fincore",
        &[
            os("--bytes"),
            os("--noheadings"),
            os("--output=RES"),
            p(path),
        ],
    );
    out.trim()
        .parse()
        .unwrap_or_else(|_| panic!("fincore said {out:?}"))
}

/// A big file whose bytes pass through this machine (`sendfile` to another
/// filesystem) has its source asked for ahead of the copy (`WILLNEED` over at
/// least one 8 MiB step, from its start), so a cold source's reads queue at
/// the device; one copied inside a filesystem by `copy_file_range`, which may
/// clone or copy on a server reading nothing here, is not. The bytes arrive
/// either way.
#[test]
fn a_big_file_passing_through_is_read_ahead_and_one_the_filesystem_copies_is_not() {
    need("strace", "strace");
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    write(src.join("big.bin"), &data(37, 40 * 1024 * 1024 + 5));
    let shm = tempfile::tempdir_in("/dev/shm").expect("this test needs /dev/shm (tmpfs)");
    let places = [
        ("to another filesystem", shm.path().join("copy"), true),
        ("inside the filesystem", t.path().join("copy"), false),
    ];
    for (what, dst, want_ahead) in places {
        let log = t.path().join("trace.log");
        let o = Command::new("strace")
            .args([
                "-f",
                "-qq",
                "-e",
                "trace=fadvise64,sendfile,copy_file_range",
                "-o",
            ])
            .arg(&log)
            .args([BIN, "--batch", "--direct=never"])
            .arg(&src)
            .arg(&dst)
            .output()
            .unwrap();
        assert_eq!(code(&o), 0, "{what}: {}{}", stdout(&o), stderr(&o));
        assert!(
            fs::read(dst.join("big.bin")).unwrap() == fs::read(src.join("big.bin")).unwrap(),
            "{what}: the bytes differ"
        );
        let trace = fs::read_to_string(&log).unwrap();
        let sent = trace
            .lines()
            .any(|l| l.contains("sendfile(") && !l.contains("= -1"));
        assert_eq!(sent, want_ahead, "{what}: sendfile used\n{trace}");
        // fadvise64(fd, 0, LEN, POSIX_FADV_WILLNEED)
        let ahead = trace.lines().any(|l| {
            let Some(args) = l.split("fadvise64(").nth(1) else {
                return false;
            };
            let args: Vec<&str> = args.split([',', ')']).map(str::trim).collect();
            args.len() > 3
                && args[1] == "0"
                && args[2].parse::<u64>().is_ok_and(|n| n >= 8 << 20)
                && args[3] == "POSIX_FADV_WILLNEED"
        });
        assert_eq!(ahead, want_ahead, "{what}: read ahead\n{trace}");
    }
}

/// Big files written past the page cache (`--direct`). By default onto a
/// local disk (ext4, XFS, btrfs) only, and only where this machine hands its
/// free memory back to its host; `--direct` wherever the filesystem takes it
/// and `--direct=never` nowhere. Past the cache means `O_DIRECT` turned on
/// (strace) and after the copy almost none of the file in memory (`fincore`:
/// at most 1 MiB of its 40; its last, unaligned bytes went through the
/// cache). The bytes are the source's everywhere, whichever way.
#[test]
fn big_files_are_written_past_the_page_cache_where_it_pays_or_is_asked() {
    need("strace", "strace");
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    write(src.join("big.bin"), &data(31, 40 * 1024 * 1024 + 123));
    write(src.join("small.txt"), b"small");
    let ext4 = t.path().join("ext4");
    fs::create_dir_all(&ext4).unwrap();
    let mut places = vec![(None, ext4)];
    for fs_kind in [Fs::Xfs, Fs::Btrfs, Fs::Exfat, Fs::Ntfs, Fs::Tmpfs] {
        let m = Mounted::new(fs_kind, &t.path().join(format!("{fs_kind:?}")));
        let mnt = m.mnt.clone();
        places.push((Some((fs_kind, m)), mnt));
    }
    let costly = convoy::engine::page_cache_is_costly();
    for (mounted, at) in &places {
        let kind = mounted.as_ref().map(|(k, _)| *k);
        let local = matches!(kind, None | Some(Fs::Xfs | Fs::Btrfs));
        for (choice, want) in [
            ("--direct=auto", Some(local && costly)),
            ("--direct", local.then_some(true)),
            ("--direct=never", Some(false)),
        ] {
            let dst = at.join(choice.trim_start_matches('-'));
            let log = t.path().join(format!("{kind:?}{choice}.log"));
            let o = Command::new("strace")
                .args(["-f", "-qq", "-e", "trace=fcntl", "-o"])
                .arg(&log)
                .args([BIN, "--batch", "--reflink=never", choice])
                .arg(&src)
                .arg(&dst)
                .output()
                .unwrap();
            assert_eq!(
                code(&o),
                0,
                "{kind:?} {choice}: {}{}",
                stdout(&o),
                stderr(&o)
            );
            // (Before reading it for the comparison.)
            let cached = cached_bytes(&dst.join("big.bin"));
            for f in ["big.bin", "small.txt"] {
                assert!(
                    fs::read(dst.join(f)).unwrap() == fs::read(src.join(f)).unwrap(),
                    "{kind:?} {choice}: {f} differs"
                );
            }
            let direct = fs::read_to_string(&log)
                .unwrap()
                .lines()
                .any(|l| l.contains("F_SETFL") && l.contains("O_DIRECT"));
            // (The USB-stick images hold one copy at a time.)
            fs::remove_dir_all(&dst).unwrap();
            // (Onto FUSE and tmpfs `--direct` is tried; whether the filesystem
            // takes it is its own: the bytes are what is checked there.)
            let Some(want) = want else { continue };
            assert_eq!(direct, want, "{kind:?} {choice}: O_DIRECT turned on");
            if direct {
                // A buffered copy leaves all 40 MiB in memory. Past the cache,
                // the unaligned tail goes through it, and btrfs writes a range
                // buffered when it cannot drop that range's cached pages (seen
                // under a loaded CI run: 108 KiB).
                assert!(
                    cached <= 1024 * 1024,
                    "{kind:?} {choice}: {cached} bytes in memory"
                );
            }
        }
    }
}

/// A filesystem without FIFOs or device nodes (exFAT) holds none of them:
/// each is passed over with its reason, said once as not kept, exit 0; the
/// rest is copied, and a rerun says the same.
#[test]
fn special_files_onto_exfat_are_said_once_and_the_rest_is_copied() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    write(src.join("file.txt"), b"kept");
    let fifo = rustix::fs::FileType::Fifo;
    rustix::fs::mknodat(rustix::fs::CWD, src.join("pipe"), fifo, 0o644.into(), 0).unwrap();
    let m = Mounted::new(Fs::Exfat, &t.path().join("stick"));
    let dst = m.mnt.join("copy");
    for run in ["first", "rerun"] {
        let o = batch(&[p(&src), p(&dst), os("--json")]);
        assert_eq!(code(&o), 0, "{run}: {}{}", stdout(&o), stderr(&o));
        let (lines, summary) = json_lines(&o);
        let pipe = lines
            .iter()
            .find(|l| l["path"] == "pipe")
            .expect("the FIFO's entry");
        assert_eq!(pipe["outcome"], "skipped", "{pipe}");
        assert_eq!(pipe["reason"], "not_supported", "{pipe}");
        let said = summary["not_kept"].as_array().unwrap();
        assert!(
            said.iter()
                .any(|k| k["what"] == "special_files" && k["count"] == 1),
            "{run}: {summary}"
        );
    }
    assert_eq!(fs::read(dst.join("file.txt")).unwrap(), b"kept");
    assert!(!dst.join("pipe").exists());
}

/// `--move` and `--mirror` onto each kind of filesystem (and a move within
/// it, which renames): every file arrives whole, a mirror's extras go (into
/// a backup folder on the same filesystem, when asked) and its rerun has
/// nothing to do, and a move leaves no source.
fn move_and_mirror_on(fs_kind: Fs) {
    let t = tempfile::tempdir().unwrap();
    let m = Mounted::new(fs_kind, t.path());
    assert_ne!(
        fs::metadata(&m.mnt).unwrap().dev(),
        fs::metadata(t.path()).unwrap().dev(),
        "{fs_kind:?} is mounted"
    );
    let src = t.path().join("src");
    for i in 0..20 {
        write(
            src.join(format!("d{}/f{i}.txt", i % 3)),
            &data(i, 3000 + i as usize),
        );
    }
    write(src.join("big.bin"), &data(99, 3 << 20));
    let files = |root: &Path| -> Vec<(PathBuf, Vec<u8>)> {
        entries(root)
            .into_iter()
            .filter(|r| root.join(r).is_file())
            .map(|r| {
                let b = fs::read(root.join(&r)).unwrap();
                (r, b)
            })
            .collect()
    };
    let want = files(&src);
    // A mirror onto a drifted copy there.
    let dst = m.mnt.join("mirror");
    let o = batch(&[src.as_os_str(), dst.as_os_str()]);
    assert_eq!(code(&o), 0, "{fs_kind:?}: {}", stderr(&o));
    write(dst.join("d0/f0.txt"), b"changed there");
    write(dst.join("stale/old.txt"), b"gone from the source");
    write(dst.join("d1/extra.txt"), b"extra");
    let keep = m.mnt.join("kept");
    let o = batch(&[
        os("--mirror"),
        os("--backup-dir"),
        keep.as_os_str(),
        src.as_os_str(),
        dst.as_os_str(),
    ]);
    assert_eq!(code(&o), 0, "{fs_kind:?}: {}{}", stdout(&o), stderr(&o));
    assert_eq!(
        files(&dst),
        want,
        "{fs_kind:?}: the mirror holds the source's files"
    );
    assert_eq!(
        fs::read(keep.join("stale/old.txt")).unwrap(),
        b"gone from the source"
    );
    assert_eq!(fs::read(keep.join("d0/f0.txt")).unwrap(), b"changed there");
    let o = batch(&[os("--mirror"), src.as_os_str(), dst.as_os_str()]);
    assert_eq!(code(&o), 0, "{fs_kind:?}: {}", stderr(&o));
    assert!(
        stdout(&o).contains("Mirror: nothing to delete"),
        "{}",
        stdout(&o)
    );
    // A move onto it (a copy, then the sources go), then within it (renames).
    let moving = t.path().join("moving");
    cp_a(&src, &moving);
    let there = m.mnt.join("moved");
    let o = batch(&[os("--move"), moving.as_os_str(), there.as_os_str()]);
    assert_eq!(code(&o), 0, "{fs_kind:?}: {}", stderr(&o));
    assert!(!moving.exists(), "{fs_kind:?}: the source is gone");
    assert_eq!(files(&there), want);
    let again = m.mnt.join("again");
    let o = batch(&[os("--move"), there.as_os_str(), again.as_os_str()]);
    assert_eq!(code(&o), 0, "{fs_kind:?}: {}", stderr(&o));
    assert!(!there.exists());
    assert_eq!(files(&again), want);
    drop(m);
}

#[test]
fn move_and_mirror_onto_xfs_btrfs_exfat_and_ntfs() {
    for fs_kind in [Fs::Xfs, Fs::Btrfs, Fs::Exfat, Fs::Ntfs] {
        move_and_mirror_on(fs_kind);
    }
}

/// What an older build left of a file that grew while it copied it (the
/// source's first bytes, stamped with the source's time then) is brought up
/// to date by a rerun on every filesystem, within what each keeps of times;
/// a file that is not the source's beginning stays.
#[test]
fn a_grown_copy_is_brought_up_to_date_on_xfs_btrfs_exfat_and_ntfs() {
    for fs_kind in [Fs::Xfs, Fs::Btrfs, Fs::Exfat, Fs::Ntfs] {
        let t = tempfile::tempdir().unwrap();
        let m = Mounted::new(fs_kind, t.path());
        let (src, dst) = (t.path().join("src"), m.mnt.join("dst"));
        let whole = data(5, 700 * 1024);
        for name in ["grown.log", "edited.log"] {
            write(src.join(name), &whole);
            set_mtime(src.join(name), 1_700_000_100, 0);
        }
        write(dst.join("grown.log"), &whole[..400 * 1024]);
        set_mtime(dst.join("grown.log"), 1_700_000_000, 0);
        let mut edited = whole[..400 * 1024].to_vec();
        edited[7] ^= 1;
        write(dst.join("edited.log"), &edited);
        set_mtime(dst.join("edited.log"), 1_700_000_000, 0);
        m.remount();
        let o = batch(&[p(&src), p(&dst)]);
        assert_eq!(code(&o), 1, "{fs_kind:?}: {}{}", stdout(&o), stderr(&o));
        m.remount();
        assert_eq!(
            fs::read(dst.join("grown.log")).unwrap(),
            whole,
            "{fs_kind:?}"
        );
        assert_eq!(
            fs::read(dst.join("edited.log")).unwrap(),
            edited,
            "{fs_kind:?}"
        );
        assert!(
            stderr(&o).contains("1 files were an older, shorter copy"),
            "{fs_kind:?}: {}",
            stderr(&o)
        );
    }
}
