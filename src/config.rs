//! The validated configuration the engine runs from. The CLI (and the TUI's setup
//! form) resolve raw input into this once; the engine never re-interprets flags.

use std::collections::HashSet;
use std::ffi::OsString;
use std::path::PathBuf;

use crate::error::InputError;
use crate::paths;

/// What to do with a destination file that exists and differs from its source.
/// (A destination with the source's size and mtime is up to date and always kept.)
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let t = tempfile::tempdir()?;
/// # let (src, dst) = (t.path().join("src"), t.path().join("dst"));
/// # std::fs::create_dir_all(src.join("sub"))?;
/// # std::fs::write(src.join("sub/a.txt"), "hello")?;
/// let update = convoy::CopyTree::new(&src, &dst).on_conflict(convoy::ConflictPolicy::Newer);
/// assert!(update.run()?.is_success());
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConflictPolicy {
    /// Keep the destination: nothing is lost unless asked.
    Skip,
    /// Replace the destination file (atomically: the old one stays whole
    /// until the new one is complete).
    Overwrite,
    /// Overwrite only when the source's mtime is later than the destination's.
    Newer,
    /// Hold the entry for a person to decide while the rest is copied (needs a
    /// face that can ask).
    Ask,
}

/// Which metadata beyond bytes, mode and times a run keeps (`--no-preserve`).
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let t = tempfile::tempdir()?;
/// # let (src, dst) = (t.path().join("src"), t.path().join("dst"));
/// # std::fs::create_dir_all(src.join("sub"))?;
/// # std::fs::write(src.join("sub/a.txt"), "hello")?;
/// let no_owners = convoy::Preserve { owner: false, ..convoy::Preserve::default() };
/// assert!(convoy::CopyTree::new(&src, &dst).preserve(no_owners).run()?.is_success());
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Preserve {
    /// Extended attributes but ACLs: user, trusted and security ones (file
    /// capabilities, SELinux labels).
    pub xattrs: bool,
    /// POSIX ACLs, access and default.
    pub acls: bool,
    /// Owner and group (only root can give files away).
    pub owner: bool,
}

impl Default for Preserve {
    fn default() -> Self {
        Preserve {
            xattrs: true,
            acls: true,
            owner: true,
        }
    }
}

/// Whether files share their data with the source where the filesystem can
/// (`--reflink`, as cp has it): a clone costs no space and no time.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let t = tempfile::tempdir()?;
/// # let (src, dst) = (t.path().join("src"), t.path().join("dst"));
/// # std::fs::create_dir_all(src.join("sub"))?;
/// # std::fs::write(src.join("sub/a.txt"), "hello")?;
/// assert!(convoy::CopyTree::new(&src, &dst).reflink(convoy::Reflink::Auto).run()?.is_success());
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Reflink {
    /// Clone where source and destination can share data; copy elsewhere.
    #[default]
    Auto,
    /// Clone or fail the file: a copy that must cost no space.
    Always,
    /// Really copy the bytes, neither cloned nor offloaded to the filesystem
    /// (`copy_file_range` may clone on XFS and btrfs): a copy that must not
    /// share blocks with its source.
    Never,
}

/// Whether big files are written past the page cache (`--direct`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direct {
    /// Onto local disk filesystems (ext4, XFS, btrfs, F2FS) where filling
    /// the page cache costs more than writing the disk: a virtual machine
    /// that hands its free memory back to its host.
    #[default]
    Auto,
    /// Wherever the destination's filesystem takes `O_DIRECT`: a big copy
    /// that must not push what is in memory out of it.
    Always,
    /// Never: every byte goes through the page cache, as `cp` writes.
    Never,
}

/// Splitting big files into chunks copied by several workers at once: off by
/// default (see [`DEFAULT_CHUNK_THRESHOLD`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chunking {
    /// Files at least this large are split.
    pub threshold: u64,
    /// Bytes per chunk.
    pub size: u64,
}

impl Default for Chunking {
    fn default() -> Self {
        Chunking {
            threshold: DEFAULT_CHUNK_THRESHOLD,
            size: DEFAULT_CHUNK_SIZE,
        }
    }
}

/// Size above which a file is split into chunks copied by several workers at once:
/// off by default. Buffered writes to one file take its inode lock exclusively, so
/// two workers on one file mostly wait for each other: on ext4 one 4 GiB file took
/// 1.74 s in 16 MiB chunks on two workers and 1.45 s whole (a profile of the
/// chunked copy spends 35 % in `rwsem_spin_on_owner`), and 4 × 1 GiB 1.38 s
/// against 0.74 s. Kept behind `--chunk-threshold` for filesystems where it pays.
pub const DEFAULT_CHUNK_THRESHOLD: u64 = u64::MAX;
pub const DEFAULT_CHUNK_SIZE: u64 = 16 * 1024 * 1024;

#[derive(Debug, Clone)]
pub struct Config {
    pub source: PathBuf,
    /// The folder that receives the *contents* of `source`.
    pub dest: PathBuf,
    /// Workers copying at the start; the control handle can change it live.
    pub jobs: usize,
    pub policy: ConflictPolicy,
    /// Follow symlinks in the source instead of copying them as links.
    pub dereference: bool,
    /// Globs matched against the path relative to `source`.
    pub excludes: Vec<String>,
    pub dry_run: bool,
    pub preserve: Preserve,
    pub reflink: Reflink,
    pub direct: Direct,
    /// Hash every file as it is read and read the copy back from the device
    /// to compare (see `engine::verify`).
    pub verify: bool,
    /// Flush every file before it gets its name and every folder after its
    /// entries (as rsync --fsync), and wait for the device at the end.
    pub fsync: bool,
    /// Wait at the end until everything is written to the device.
    pub flush: bool,
    /// Bytes a second all workers together may write (`None`: no limit);
    /// the control handle changes it live.
    pub bwlimit: Option<u64>,
    pub chunking: Chunking,
    /// Copy only these paths (relative to `source`; a folder with all it holds):
    /// how failed entries are retried, and how named sources are picked out
    /// of their parent folder (`sources`).
    pub only: Option<HashSet<PathBuf>>,
    /// DEST receives entries rather than being the copy of `source`: it is
    /// made with the usual mode when missing and its own mode, owner and
    /// times are left as they are (several sources, a file into a folder).
    pub dest_keeps_own_metadata: bool,
    /// An entry at the top of `source` that takes another name in DEST (a
    /// file copied to a new name): (its name, the name it gets).
    pub rename: Option<(OsString, OsString)>,
    /// Where one side is on another machine, what `sources` could not look
    /// at before connecting (see [`Placing`]).
    pub placing: Placing,
    /// `--move`: each source entry goes once its copy is complete and on
    /// the device (see `engine::moving`).
    pub move_sources: bool,
    /// `--mirror`: DEST is made identical to SOURCE (see `engine::mirror`).
    pub mirror: Option<Mirror>,
    /// `--backup-dir`: what a run replaces or a mirror deletes is moved
    /// there instead, under its path relative to DEST.
    pub backup_dir: Option<PathBuf>,
    /// DEST is a folder on another machine, reached over SSH (`host:path`):
    /// `dest` is its path there. Set by [`Config::resolved`].
    pub remote: Option<Remote>,
    /// SOURCE is a folder on another machine, reached over SSH
    /// (`host:path`): `source` is its path there. Set by [`Config::resolved`].
    pub remote_source: Option<Remote>,
    /// DEST is a prefix in a bucket (`s3://bucket/prefix`): `dest` is the
    /// prefix. Set by [`Config::resolved`].
    pub bucket: Option<crate::location::Bucket>,
    /// SOURCE is a prefix in a bucket: `source` is the prefix. Set by
    /// [`Config::resolved`].
    pub bucket_source: Option<crate::location::Bucket>,
    /// `-e, --rsh`: the command that runs ssh for a `host:path` DEST.
    pub rsh: Option<String>,
    /// `--connections`: connections a big file goes over to or from a host.
    pub connections: Option<usize>,
}

/// How SOURCE lands in DEST when one of them is on another machine and
/// what it is (a folder or a file) is only known once connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Placing {
    /// A folder SOURCE is copied as DEST (its contents); a file SOURCE
    /// goes into DEST when DEST is a folder or is written `DEST/`, else it
    /// is copied to the name DEST.
    #[default]
    Contents,
    /// SOURCE goes into DEST under its own name (one of several sources).
    Into,
    /// The file SOURCE, copied into the folder DEST to the name `rename`
    /// gives, goes into DEST/that name instead if that is a folder on the
    /// other machine (`convoy f host:dir` where `dir` exists there).
    ToNameUnlessFolder,
}

/// How a mirror deletes what the source does not have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Mirror {
    /// `--max-delete`: more entries than this to delete, and none is.
    pub max_delete: Option<u64>,
    /// A person confirms the list before any is deleted (the TUI).
    pub confirm: bool,
}

impl Config {
    pub fn new(source: impl Into<PathBuf>, dest: impl Into<PathBuf>) -> Self {
        Config {
            source: source.into(),
            dest: dest.into(),
            jobs: default_jobs(),
            policy: ConflictPolicy::Skip,
            dereference: false,
            excludes: Vec::new(),
            dry_run: false,
            preserve: Preserve::default(),
            reflink: Reflink::default(),
            direct: Direct::default(),
            verify: false,
            fsync: false,
            flush: false,
            bwlimit: None,
            chunking: Chunking::default(),
            only: None,
            dest_keeps_own_metadata: false,
            rename: None,
            move_sources: false,
            mirror: None,
            backup_dir: None,
            remote: None,
            remote_source: None,
            bucket: None,
            bucket_source: None,
            rsh: None,
            connections: None,
            placing: Placing::Contents,
        }
    }
}

impl Config {
    /// DEST as the user named it: `host:path` for a folder on another
    /// machine (what faces show and remember).
    pub fn dest_named(&self) -> PathBuf {
        if let Some(b) = &self.bucket {
            return PathBuf::from(b.to_string());
        }
        named(self.remote.as_ref(), &self.dest)
    }

    /// SOURCE as the user named it: `host:path` for a folder on another
    /// machine.
    pub fn source_named(&self) -> PathBuf {
        if let Some(b) = &self.bucket_source {
            let mut b = b.clone();
            b.prefix = self.source.to_string_lossy().into_owned();
            return PathBuf::from(b.to_string());
        }
        named(self.remote_source.as_ref(), &self.source)
    }

    /// The same configuration with SOURCE checked and DEST filled in and
    /// checked (see [`paths::resolve`]): what the engine may be started with.
    /// A DEST written `[user@]host:path` is a folder on another machine: SOURCE
    /// is checked here, DEST once connected.
    pub fn resolved(mut self) -> Result<Config, InputError> {
        if self.remote.is_some()
            || self.remote_source.is_some()
            || self.bucket.is_some()
            || self.bucket_source.is_some()
        {
            return Ok(self);
        }
        match place(&self.source)? {
            crate::location::Location::Remote(r) => return self.resolved_from_remote(r),
            crate::location::Location::Bucket(b) => return self.resolved_from_bucket(b),
            crate::location::Location::Local(_) => {}
        }
        if let crate::location::Location::Bucket(b) = place(&self.dest)? {
            paths::resolve_source(&self.source)?;
            self.dest = PathBuf::from(&b.prefix);
            self.bucket = Some(b);
            return Ok(self);
        }
        if let crate::location::Location::Remote(r) = place(&self.dest)? {
            paths::resolve_source(&self.source)?;
            self.dest = r.path;
            self.remote = Some(Remote {
                host: r.host,
                rsh: self.rsh.clone(),
                connections: self.connections,
            });
            return Ok(self);
        }
        let dest = (!self.dest.as_os_str().is_empty()).then_some(self.dest.as_path());
        let (source, dest) = paths::resolve(&self.source, dest)?;
        self.source = source;
        self.dest = dest;
        Ok(self)
    }
}

/// `place` on another machine, or `path` here.
fn named(place: Option<&Remote>, path: &std::path::Path) -> PathBuf {
    match place {
        Some(r) => {
            let mut named = std::ffi::OsString::from(format!("{}:", r.host));
            named.push(path.as_os_str());
            PathBuf::from(named)
        }
        None => path.to_path_buf(),
    }
}

impl Config {
    /// A SOURCE on another machine: DEST must be given, here (a copy from
    /// one machine to another goes through this one in two runs); SOURCE is
    /// checked once connected.
    fn resolved_from_remote(mut self, r: crate::location::Remote) -> Result<Config, InputError> {
        let dest = match place(&self.dest)? {
            _ if self.dest.as_os_str().is_empty() => {
                return Err(InputError::Other(format!(
                    "{r}: a copy from another machine needs a DEST here"
                )));
            }
            crate::location::Location::Remote(d) => {
                return Err(InputError::Other(format!(
                    "{d}: SOURCE and DEST are both on other machines: copy to this one first"
                )));
            }
            crate::location::Location::Bucket(b) => {
                return Err(InputError::Other(format!(
                    "{b}: SOURCE is on another machine and DEST in a bucket: copy to this one first"
                )));
            }
            crate::location::Location::Local(d) => d,
        };
        match crate::retry::interrupted(|| std::fs::metadata(&dest)) {
            Ok(m) if !m.is_dir() => return Err(InputError::DestNotDir(dest)),
            _ => {}
        }
        self.source = r.path;
        self.dest = dest;
        self.remote_source = Some(Remote {
            host: r.host,
            rsh: self.rsh.clone(),
            connections: self.connections,
        });
        Ok(self)
    }
}

impl Config {
    /// A SOURCE in a bucket: DEST must be a folder here; SOURCE is looked
    /// at once the store is reached.
    fn resolved_from_bucket(mut self, b: crate::location::Bucket) -> Result<Config, InputError> {
        let dest = match place(&self.dest)? {
            _ if self.dest.as_os_str().is_empty() => {
                return Err(InputError::Other(format!(
                    "{b}: a copy from a bucket needs a DEST here"
                )));
            }
            crate::location::Location::Local(d) => d,
            _ => {
                return Err(InputError::Other(format!(
                    "{b}: a copy from a bucket goes to this machine: copy it here first"
                )));
            }
        };
        match crate::retry::interrupted(|| std::fs::metadata(&dest)) {
            Ok(m) if !m.is_dir() => return Err(InputError::DestNotDir(dest)),
            _ => {}
        }
        self.source = PathBuf::from(&b.prefix);
        self.dest = dest;
        self.bucket_source = Some(b);
        Ok(self)
    }
}

/// Where `p` is: here, or on another machine (`host:path`).
pub(crate) fn place(p: &std::path::Path) -> Result<crate::location::Location, InputError> {
    crate::location::parse(p.as_os_str())
        .map_err(|e| InputError::Other(format!("{}: {e}", crate::format::DisplayPath(p))))
}

/// Two workers per core: copying blocks in the kernel (page cache, inode locks), so
/// a second worker per core keeps it busy. Measured on 2 cores: 4 × 1 GiB 1.79 s
/// with 2 workers, 1.40 s with 4 (8 no better); 50,000 small files within noise.
pub fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(4, |n| n.get() * 2)
}

/// What the user wrote to reach the other machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remote {
    /// `host` or `user@host` as written (`[addr]` for an IPv6 address): ssh
    /// resolves it through `~/.ssh/config`.
    pub host: String,
    /// `-e, --rsh`: the command that runs ssh (`ssh` when `None`).
    pub rsh: Option<String>,
    /// `--connections`: how many connections a big file goes over (`None`:
    /// as many as the round trip needs, see `sftp::session`).
    pub connections: Option<usize>,
}
