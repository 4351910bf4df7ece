//! `--compare`: how DEST differs from SOURCE, read-only. What a file-system
//! test suite checks after a copy and what a person runs on an old backup:
//! entries only on one side, another type, other content (by size, or with
//! `checksum` by the BLAKE3 digest of both sides, read in parallel), and the
//! metadata convoy keeps — mode, owner, mtime, extended attributes, ACLs,
//! symlink targets, hard-link grouping.

use std::collections::{BTreeMap, HashMap};
use std::ffi::{CString, OsStr, OsString};
use std::fmt;
use std::fs;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::copy::Failure;
use crate::engine::PathFilter as Filter;
use crate::error::InputError;
use crate::exit::ExitCode;
use crate::format::DisplayPath;
use crate::retry::interrupted as retry;

/// A comparison of a destination folder with its source folder.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let t = tempfile::tempdir()?;
/// # let (src, dst) = (t.path().join("src"), t.path().join("dst"));
/// # std::fs::create_dir_all(&src)?;
/// std::fs::write(src.join("a.txt"), "hello")?;
/// convoy::CopyTree::new(&src, &dst).run()?;
/// assert!(convoy::Compare::new(&src, &dst).checksum(true).run()?.is_same());
///
/// std::fs::write(dst.join("extra.txt"), "not in the source")?;
/// let found = convoy::Compare::new(&src, &dst).run()?;
/// let extra = found.differences.iter().find(|d| d.path.ends_with("extra.txt")).unwrap();
/// assert_eq!(extra.what, convoy::Differs::OnlyInDest);
/// assert_eq!(found.exit_code(), convoy::ExitCode::Partial);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Compare {
    source: PathBuf,
    dest: PathBuf,
    checksum: bool,
    excludes: Vec<String>,
    jobs: usize,
}

/// How one entry differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Differs {
    /// In the source, not in the destination.
    OnlyInSource,
    /// In the destination, not in the source.
    OnlyInDest,
    /// A file on one side, a folder or a symlink on the other.
    Type,
    /// Another size, or (with `checksum`) other bytes.
    Content,
    /// Another symlink target.
    LinkTarget,
    /// Other permission bits.
    Mode,
    /// Another owner or group.
    Owner,
    /// Another modification time (beyond what the destination keeps).
    Mtime,
    /// Other extended attributes (ACLs apart).
    Xattrs,
    /// Other POSIX ACLs.
    Acls,
    /// Linked with other names than in the source (or not linked).
    HardLinks,
    /// Another device number (device nodes).
    Device,
}

impl Differs {
    /// A stable name for scripts (the JSON `what`).
    pub fn code(self) -> &'static str {
        match self {
            Differs::OnlyInSource => "only_in_source",
            Differs::OnlyInDest => "only_in_dest",
            Differs::Type => "type",
            Differs::Content => "content",
            Differs::LinkTarget => "link_target",
            Differs::Mode => "mode",
            Differs::Owner => "owner",
            Differs::Mtime => "mtime",
            Differs::Xattrs => "xattrs",
            Differs::Acls => "acls",
            Differs::HardLinks => "hard_links",
            Differs::Device => "device",
        }
    }

    fn words(self) -> &'static str {
        match self {
            Differs::OnlyInSource => "only in source",
            Differs::OnlyInDest => "only in destination",
            Differs::Type => "type differs",
            Differs::Content => "content differs",
            Differs::LinkTarget => "link target differs",
            Differs::Mode => "mode differs",
            Differs::Owner => "owner differs",
            Differs::Mtime => "mtime differs",
            Differs::Xattrs => "attributes differ",
            Differs::Acls => "ACLs differ",
            Differs::HardLinks => "hard links differ",
            Differs::Device => "device differs",
        }
    }
}

/// One difference: the entry (relative to both roots, "" for the roots
/// themselves), what differs, and each side's value in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    /// The entry, relative to both roots.
    pub path: PathBuf,
    /// What differs.
    pub what: Differs,
    /// The source's side, in words (empty where there is nothing to show).
    pub source: String,
    /// The destination's side, in words.
    pub dest: String,
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = if self.path.as_os_str().is_empty() {
            Path::new(".")
        } else {
            &self.path
        };
        write!(
            f,
            "{:<22}{}",
            format!("{}:", self.what.words()),
            DisplayPath(path)
        )?;
        if !(self.source.is_empty() && self.dest.is_empty()) {
            write!(f, " ({} → {})", self.source, self.dest)?;
        }
        Ok(())
    }
}

/// What a comparison found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Comparison {
    /// Entries looked at on either side (the roots included).
    pub entries: u64,
    /// Every difference, in path order.
    pub differences: Vec<Difference>,
    /// What could not be read, with why: the comparison is incomplete.
    pub unreadable: Vec<Failure>,
}

impl Comparison {
    /// Nothing differs and everything could be read.
    pub fn is_same(&self) -> bool {
        self.differences.is_empty() && self.unreadable.is_empty()
    }

    /// 0 the same, 1 they differ, 2 something could not be read.
    pub fn exit_code(&self) -> ExitCode {
        match (self.unreadable.is_empty(), self.differences.is_empty()) {
            (false, _) => ExitCode::Usage,
            (true, false) => ExitCode::Partial,
            (true, true) => ExitCode::Success,
        }
    }
}

/// One side's entry, as `lstat` and the attribute calls see it.
#[derive(Debug, Clone)]
struct Seen {
    meta: fs::Metadata,
    target: Option<OsString>,
    xattrs: BTreeMap<Vec<u8>, Vec<u8>>,
}

impl Compare {
    /// Compares `dest` with `source`, both folders.
    pub fn new(source: impl AsRef<Path>, dest: impl AsRef<Path>) -> Compare {
        Compare {
            source: source.as_ref().to_path_buf(),
            dest: dest.as_ref().to_path_buf(),
            checksum: false,
            excludes: Vec::new(),
            jobs: crate::config::default_jobs(),
        }
    }

    /// Compares files of the same size by the BLAKE3 digests of their bytes,
    /// both sides read in parallel (without it, by size only).
    pub fn checksum(mut self, yes: bool) -> Compare {
        self.checksum = yes;
        self
    }

    /// Leaves out paths matching `glob` on both sides, as a copy with the
    /// same `--exclude` does.
    pub fn exclude(mut self, glob: impl Into<String>) -> Compare {
        self.excludes.push(glob.into());
        self
    }

    /// Threads that read files for `checksum`.
    pub fn jobs(mut self, n: usize) -> Compare {
        self.jobs = n.max(1);
        self
    }

    /// Reads both trees and reports how they differ. An error (a side that
    /// is missing or not a folder, a bad glob) means nothing was compared.
    pub fn run(self) -> Result<Comparison, InputError> {
        for path in [&self.source, &self.dest] {
            if let crate::location::Location::Remote(r) = crate::config::place(path)? {
                return Err(InputError::Other(format!(
                    "{r}: comparing with another machine is not available yet"
                )));
            }
        }
        for (side, path) in [("source", &self.source), ("destination", &self.dest)] {
            match retry(|| fs::metadata(path)) {
                Ok(m) if m.is_dir() => {}
                Ok(_) => {
                    return Err(InputError::Other(format!(
                        "{}: {side} is not a folder",
                        DisplayPath(path)
                    )));
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    return Err(InputError::Other(format!(
                        "{}: {side} does not exist",
                        DisplayPath(path)
                    )));
                }
                Err(e) => {
                    return Err(InputError::Other(format!(
                        "{}: cannot read {side}: {e}",
                        DisplayPath(path)
                    )));
                }
            }
        }
        let filter = Filter::new(&self.excludes, None)?;
        let mut run = Run {
            cmp: &self,
            filter,
            found: Comparison::default(),
            same_size: Vec::new(),
            src_links: HashMap::new(),
            dest_links: HashMap::new(),
        };
        run.folder(Path::new(""));
        run.hashes();
        run.found
            .differences
            .sort_by(|a, b| (&a.path, a.what).cmp(&(&b.path, b.what)));
        Ok(run.found)
    }
}

/// A file's device and inode: which names are one file.
type Inode = (u64, u64);

struct Run<'a> {
    cmp: &'a Compare,
    filter: Filter,
    found: Comparison,
    /// Files whose bytes are to be compared (`checksum`).
    same_size: Vec<PathBuf>,
    /// Multiply-linked source files: the first path met of each and the
    /// destination file it was found as.
    src_links: HashMap<Inode, (PathBuf, Inode)>,
    /// Multiply-linked destination files: the first path met of each.
    dest_links: HashMap<Inode, PathBuf>,
}

impl Run<'_> {
    fn differ(&mut self, path: &Path, what: Differs, source: String, dest: String) {
        self.found.differences.push(Difference {
            path: path.to_path_buf(),
            what,
            source,
            dest,
        });
    }

    fn unreadable(&mut self, path: PathBuf, e: io::Error) {
        self.found.unreadable.push(Failure {
            reason: format!("cannot read: {e}"),
            path,
        });
    }

    fn seen(&mut self, root: &Path, rel: &Path) -> Option<Seen> {
        let path = root.join(rel);
        let meta = match retry(|| fs::symlink_metadata(&path)) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return None,
            Err(e) => {
                self.unreadable(path, e);
                return None;
            }
        };
        let target = if meta.file_type().is_symlink() {
            match retry(|| fs::read_link(&path)) {
                Ok(t) => Some(t.into_os_string()),
                Err(e) => {
                    self.unreadable(path, e);
                    return None;
                }
            }
        } else {
            None
        };
        let xattrs = xattrs(&path).unwrap_or_default();
        Some(Seen {
            meta,
            target,
            xattrs,
        })
    }

    /// Compares the folder `rel` of both sides, and everything below it.
    fn folder(&mut self, rel: &Path) {
        let (src, dst) = (self.cmp.source.join(rel), self.cmp.dest.join(rel));
        let s = self.seen(&self.cmp.source.clone(), rel);
        let d = self.seen(&self.cmp.dest.clone(), rel);
        let (Some(s), Some(d)) = (s, d) else {
            return;
        };
        self.found.entries += 1;
        self.entry(rel, &s, &d);
        if !(s.meta.is_dir() && d.meta.is_dir()) {
            return;
        }
        let (names_s, names_d) = match (names(&src), names(&dst)) {
            (Ok(a), Ok(b)) => (a, b),
            (Err(e), _) => return self.unreadable(src, e),
            (_, Err(e)) => return self.unreadable(dst, e),
        };
        let mut all: Vec<&(OsString, Option<bool>)> = names_s.iter().chain(&names_d).collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all.dedup_by(|a, b| a.0 == b.0);
        let find = |list: &[(OsString, Option<bool>)], name: &OsString| {
            list.binary_search_by(|(n, _)| n.cmp(name)).ok()
        };
        for (name, _) in all {
            let child = rel.join(name);
            let in_s = find(&names_s, name);
            let in_d = find(&names_d, name);
            // The listing's own word on the type (the source's where it has
            // the entry); a look only where the filesystem gives none.
            let (side, listed) = match in_s {
                Some(i) => (&self.cmp.source, names_s[i].1),
                None => (&self.cmp.dest, in_d.and_then(|i| names_d[i].1)),
            };
            let is_dir = listed.unwrap_or_else(|| {
                retry(|| fs::symlink_metadata(side.join(&child))).is_ok_and(|m| m.is_dir())
            });
            let (in_s, in_d) = (in_s.is_some(), in_d.is_some());
            if !self.filter.takes(&child, is_dir) {
                continue;
            }
            match (in_s, in_d) {
                (true, true) if is_dir => self.folder(&child),
                (true, true) => self.leaf(&child),
                (true, false) => {
                    self.found.entries += 1;
                    self.differ(&child, Differs::OnlyInSource, String::new(), String::new())
                }
                (false, _) => {
                    self.found.entries += 1;
                    self.differ(&child, Differs::OnlyInDest, String::new(), String::new())
                }
            }
        }
    }

    fn leaf(&mut self, rel: &Path) {
        let s = self.seen(&self.cmp.source.clone(), rel);
        let d = self.seen(&self.cmp.dest.clone(), rel);
        self.found.entries += 1;
        match (s, d) {
            (Some(s), Some(d)) => self.entry(rel, &s, &d),
            (Some(_), None) => {
                self.differ(rel, Differs::OnlyInSource, String::new(), String::new())
            }
            (None, Some(_)) => self.differ(rel, Differs::OnlyInDest, String::new(), String::new()),
            (None, None) => {}
        }
    }

    /// One entry present on both sides.
    fn entry(&mut self, rel: &Path, s: &Seen, d: &Seen) {
        let (sm, dm) = (&s.meta, &d.meta);
        let (st, dt) = (kind(sm), kind(dm));
        if st != dt {
            return self.differ(rel, Differs::Type, st.into(), dt.into());
        }
        if sm.is_file() {
            if sm.size() != dm.size() {
                let (a, b) = (sm.size().to_string(), dm.size().to_string());
                self.differ(
                    rel,
                    Differs::Content,
                    format!("{a} bytes"),
                    format!("{b} bytes"),
                );
            } else if self.cmp.checksum && sm.size() > 0 {
                self.same_size.push(rel.to_path_buf());
            }
            self.links(rel, sm, dm);
        }
        if s.target != d.target {
            let show = |t: &Option<OsString>| {
                DisplayPath(Path::new(t.as_deref().unwrap_or_default())).to_string()
            };
            self.differ(rel, Differs::LinkTarget, show(&s.target), show(&d.target));
        }
        let special = sm.file_type().is_char_device() || sm.file_type().is_block_device();
        if special && sm.rdev() != dm.rdev() {
            self.differ(
                rel,
                Differs::Device,
                sm.rdev().to_string(),
                dm.rdev().to_string(),
            );
        }
        if !sm.file_type().is_symlink() && sm.mode() & 0o7777 != dm.mode() & 0o7777 {
            let m = |x: &fs::Metadata| format!("{:04o}", x.mode() & 0o7777);
            self.differ(rel, Differs::Mode, m(sm), m(dm));
        }
        if (sm.uid(), sm.gid()) != (dm.uid(), dm.gid()) {
            let o = |x: &fs::Metadata| format!("{}:{}", x.uid(), x.gid());
            self.differ(rel, Differs::Owner, o(sm), o(dm));
        }
        let (a, b) = ((sm.mtime(), sm.mtime_nsec()), (dm.mtime(), dm.mtime_nsec()));
        if !times_agree(a, b) {
            let t = |(s, ns): (i64, i64)| format!("{s}.{ns:09}");
            self.differ(rel, Differs::Mtime, t(a), t(b));
        }
        let split = |x: &BTreeMap<Vec<u8>, Vec<u8>>, acl: bool| -> BTreeMap<Vec<u8>, Vec<u8>> {
            x.iter()
                .filter(|(k, _)| k.starts_with(b"system.posix_acl_") == acl)
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        };
        let names = |x: &BTreeMap<Vec<u8>, Vec<u8>>| {
            x.keys()
                .map(|k| String::from_utf8_lossy(k).into_owned())
                .collect::<Vec<_>>()
                .join(", ")
        };
        for (acl, what) in [(false, Differs::Xattrs), (true, Differs::Acls)] {
            let (a, b) = (split(&s.xattrs, acl), split(&d.xattrs, acl));
            if a != b {
                self.differ(rel, what, names(&a), names(&b));
            }
        }
    }

    /// Hard-link grouping: names of one source file are names of one
    /// destination file, and no other.
    fn links(&mut self, rel: &Path, sm: &fs::Metadata, dm: &fs::Metadata) {
        let (sid, did) = ((sm.dev(), sm.ino()), (dm.dev(), dm.ino()));
        if sm.nlink() > 1 {
            match self.src_links.get(&sid) {
                Some((first, first_dest)) if *first_dest != did => {
                    let first = DisplayPath(first).to_string();
                    let what = format!("one file with {first}");
                    self.differ(rel, Differs::HardLinks, what, "a separate file".into());
                }
                Some(_) => {}
                None => {
                    self.src_links.insert(sid, (rel.to_path_buf(), did));
                }
            }
        }
        if dm.nlink() > 1 {
            match self.dest_links.get(&did) {
                Some(first) if self.src_links.get(&sid).is_none_or(|(p, _)| p != first) => {
                    let first = DisplayPath(first).to_string();
                    self.differ(
                        rel,
                        Differs::HardLinks,
                        "a separate file".into(),
                        format!("one file with {first}"),
                    );
                }
                Some(_) => {}
                None => {
                    self.dest_links.insert(did, rel.to_path_buf());
                }
            }
        }
    }

    /// The digests of files of the same size, both sides at once.
    fn hashes(&mut self) {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(self.cmp.jobs)
            .build();
        let (src, dst) = (&self.cmp.source, &self.cmp.dest);
        let work = |rel: &PathBuf| {
            let (a, b) = rayon::join(|| digest(&src.join(rel)), || digest(&dst.join(rel)));
            (rel.clone(), a, b)
        };
        let done: Vec<_> = match &pool {
            Ok(pool) => pool.install(|| self.same_size.par_iter().map(work).collect()),
            Err(_) => self.same_size.iter().map(work).collect(),
        };
        for (rel, a, b) in done {
            match (a, b) {
                (Ok(a), Ok(b)) if a != b => {
                    let hex = |h: blake3::Hash| h.to_hex()[..16].to_string();
                    self.differ(
                        &rel,
                        Differs::Content,
                        format!("BLAKE3 {}…", hex(a)),
                        format!("BLAKE3 {}…", hex(b)),
                    );
                }
                (Ok(_), Ok(_)) => {}
                (Err(e), _) => self.unreadable(src.join(&rel), e),
                (_, Err(e)) => self.unreadable(dst.join(&rel), e),
            }
        }
    }
}

/// `file`, `folder`, `symlink`, `FIFO` …: what an entry is.
fn kind(m: &fs::Metadata) -> &'static str {
    let t = m.file_type();
    if t.is_file() {
        "file"
    } else if t.is_dir() {
        "folder"
    } else if t.is_symlink() {
        "symlink"
    } else if t.is_fifo() {
        "FIFO"
    } else if t.is_socket() {
        "socket"
    } else if t.is_char_device() {
        "character device"
    } else {
        "block device"
    }
}

/// Whether two modification times are the same as far as the destination's
/// time `b` can say: a filesystem that keeps whole seconds (SFTP, exFAT
/// through FUSE) shows no nanoseconds, FAT even seconds only, NTFS hundreds
/// of nanoseconds. Read-only, so learned from the time itself, not probed.
fn times_agree(a: (i64, i64), b: (i64, i64)) -> bool {
    if a == b {
        return true;
    }
    let ns = |(s, n): (i64, i64)| i128::from(s) * 1_000_000_000 + i128::from(n);
    let (a_ns, b_ns) = (ns(a), ns(b));
    let window: i128 = match b.1 {
        0 if b.0 % 2 == 0 => 2_000_000_000,
        0 => 1_000_000_000,
        n if n % 100 == 0 => 100,
        _ => 1,
    };
    // The destination keeps the source's time cut down (or rounded up, FAT)
    // to its step: within one step either way.
    (a_ns - b_ns).abs() < window
}

/// The names in a folder, sorted, each with whether it is a folder where
/// the listing says (`None`: it does not).
fn names(dir: &Path) -> io::Result<Vec<(OsString, Option<bool>)>> {
    use rustix::fs::{Dir, Mode, OFlags};
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = retry(|| rustix::fs::open(dir, flags, Mode::empty()).map_err(io::Error::from))?;
    let mut out = Vec::new();
    let mut d = Dir::new(fd)?;
    while let Some(e) = d.read() {
        let e = e?;
        let name = e.file_name().to_bytes();
        if name != b"." && name != b".." {
            let is_dir = match e.file_type() {
                rustix::fs::FileType::Unknown => None,
                t => Some(t == rustix::fs::FileType::Directory),
            };
            out.push((OsStr::from_bytes(name).to_os_string(), is_dir));
        }
    }
    out.sort();
    Ok(out)
}

/// Every extended attribute of `p` itself (a symlink's own).
fn xattrs(p: &Path) -> io::Result<BTreeMap<Vec<u8>, Vec<u8>>> {
    let mut names = vec![0u8; 64 * 1024];
    let n = match rustix::fs::llistxattr(p, &mut names[..]) {
        Ok(n) => n,
        // A filesystem without attributes has none to differ.
        Err(rustix::io::Errno::OPNOTSUPP) => return Ok(BTreeMap::new()),
        Err(e) => return Err(e.into()),
    };
    let mut out = BTreeMap::new();
    for name in names[..n].split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let mut value = vec![0u8; 64 * 1024];
        let c = CString::new(name).map_err(io::Error::other)?;
        let len = rustix::fs::lgetxattr(p, c.as_c_str(), &mut value[..])?;
        value.truncate(len);
        out.insert(name.to_vec(), value);
    }
    Ok(out)
}

/// The BLAKE3 digest of a file's bytes.
fn digest(p: &Path) -> io::Result<blake3::Hash> {
    let mut f = retry(|| fs::File::open(p))?;
    let mut h = blake3::Hasher::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        match f.read(&mut buf) {
            Ok(0) => return Ok(h.finalize()),
            Ok(n) => {
                h.update(&buf[..n]);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_agree_within_what_the_destination_keeps() {
        let exact = (1_700_000_001, 123_456_789);
        assert!(times_agree(exact, exact));
        assert!(
            !times_agree(exact, (1_700_000_001, 123_456_788)),
            "to the ns"
        );
        assert!(
            times_agree(exact, (1_700_000_001, 123_456_700)),
            "NTFS: 100 ns"
        );
        assert!(
            times_agree(exact, (1_700_000_001, 0)),
            "SFTP: whole seconds"
        );
        assert!(!times_agree(exact, (1_700_000_003, 0)));
        assert!(times_agree(exact, (1_700_000_002, 0)), "FAT: even seconds");
    }
}
