//! The one contract between the engine and its faces. The engine sends these; the
//! batch reporter, the TUI and tests fold them with [`crate::progress::Progress`].
//! Payloads stay small: a path is sent once per entry, never per progress tick.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::CopyError;
use crate::format::DisplayPath;

/// Index of the worker that produced an event: events of one worker form a lane.
pub type WorkerId = usize;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    File,
    Dir,
    Symlink,
    HardLink,
    Special,
}

impl EntryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::File => "file",
            EntryKind::Dir => "dir",
            EntryKind::Symlink => "symlink",
            EntryKind::HardLink => "hardlink",
            EntryKind::Special => "special",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// The destination exists and differs; the policy kept it.
    Conflict,
    /// `--on-conflict newer` and the destination is not older.
    NotNewer,
    /// A folder is in the way of a file or symlink; folders are never replaced.
    DestIsDir,
    /// FIFOs, sockets and devices are not copied (a FIFO would hang the reader).
    Special(&'static str),
    /// The destination cannot hold this kind of entry (symlinks on exFAT).
    NotHeld(&'static str),
    /// A person skipped it while it was being copied (its partial removed).
    ByUser,
}

impl SkipReason {
    /// Skips that leave the user's intent unmet and so make the exit code 1.
    pub fn is_conflict(self) -> bool {
        !matches!(self, SkipReason::Special(_) | SkipReason::NotHeld(_))
    }

    pub fn describe(self) -> String {
        match self {
            SkipReason::Conflict => "destination exists and differs".into(),
            SkipReason::NotNewer => "destination is not older than the source".into(),
            SkipReason::DestIsDir => "a folder is in the way at the destination".into(),
            SkipReason::Special(kind) => format!("{kind} not copied"),
            SkipReason::NotHeld(kind) => format!("the destination cannot hold {kind}s"),
            SkipReason::ByUser => "skipped by you while it was copied".into(),
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            SkipReason::Conflict => "conflict",
            SkipReason::NotNewer => "not_newer",
            SkipReason::DestIsDir => "dest_is_dir",
            SkipReason::Special(_) => "special_file",
            SkipReason::NotHeld(_) => "not_supported",
            SkipReason::ByUser => "by_user",
        }
    }
}

#[derive(Debug)]
pub enum Outcome {
    /// Written (or, in a dry run, would be written).
    Copied,
    UpToDate,
    Skipped(SkipReason),
    Failed(CopyError),
    /// In flight when the run was cancelled; its temporary was removed.
    Cancelled,
}

/// A path relative to the source (and to the destination), split so the hot path
/// shares the folder part instead of allocating a joined path per file.
#[derive(Debug, Clone)]
pub struct RelPath {
    pub dir: Arc<Path>,
    pub name: OsString,
}

impl RelPath {
    pub fn join(&self) -> PathBuf {
        self.dir.join(&self.name)
    }
}

/// A destination entry that exists and differs, waiting for a person (policy Ask).
#[derive(Debug, Clone)]
pub struct Conflict {
    pub id: u64,
    pub path: RelPath,
    pub src_size: u64,
    pub src_mtime: (i64, i64),
    pub dest_size: u64,
    pub dest_mtime: (i64, i64),
}

/// Why a whole run stopped before its end.
#[derive(Debug)]
pub enum Fatal {
    /// The destination takes nothing more; `error` is the first failure that
    /// said so. Every further file would fail the same way.
    Destination {
        fault: DestinationFault,
        error: CopyError,
    },
    /// A thread of the engine died on a bug.
    Internal { thread: String, message: String },
    /// A thread the run needs could not be started (too many threads, no memory).
    Start {
        what: &'static str,
        error: std::io::Error,
    },
    /// The engine's thread ended without saying the run was over.
    EngineLost,
    /// The connection to a source on another machine is gone; `error` is
    /// the first failure that said so.
    SourceLost { error: CopyError },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DestinationFault {
    Full,
    Quota,
    ReadOnly,
    /// The connection to it is gone (ssh exited, the server went away).
    Lost,
}

impl Fatal {
    /// A fatal stop when `e` means the destination takes nothing more.
    pub fn of_copy_error(e: &CopyError) -> Option<Fatal> {
        use rustix::io::Errno;
        if e.source.kind() == std::io::ErrorKind::ConnectionAborted {
            return Some(Fatal::Destination {
                fault: DestinationFault::Lost,
                error: e.clone(),
            });
        }
        let fault = match Errno::from_io_error(&e.source)? {
            Errno::NOSPC => DestinationFault::Full,
            Errno::DQUOT => DestinationFault::Quota,
            Errno::ROFS => DestinationFault::ReadOnly,
            _ => return None,
        };
        Some(Fatal::Destination {
            fault,
            error: e.clone(),
        })
    }

    /// A stable name for scripts (the JSON `reason`).
    pub fn code(&self) -> &'static str {
        match self {
            Fatal::Destination { fault, .. } => match fault {
                DestinationFault::Full => "dest_full",
                DestinationFault::Quota => "dest_quota",
                DestinationFault::Lost => "dest_lost",
                DestinationFault::ReadOnly => "dest_read_only",
            },
            Fatal::Internal { .. } => "internal",
            Fatal::Start { .. } => "thread_start",
            Fatal::EngineLost => "engine_lost",
            Fatal::SourceLost { .. } => "source_lost",
        }
    }
}

impl fmt::Display for Fatal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fatal::Destination { fault, error } => {
                let why = match fault {
                    DestinationFault::Full => "the destination is full",
                    DestinationFault::Quota => "the destination's disk quota is used up",
                    DestinationFault::Lost => "the connection to the destination was lost",
                    DestinationFault::ReadOnly => "the destination is read-only",
                };
                write!(f, "{why} ({error})")
            }
            Fatal::Internal { thread, message } => {
                write!(
                    f,
                    "internal error in {thread}, the copy was stopped: {message}"
                )
            }
            Fatal::Start { what, error } => write!(f, "cannot start {what}: {error}"),
            Fatal::EngineLost => f.write_str("the copy stopped without finishing"),
            Fatal::SourceLost { error } => {
                write!(f, "the connection to the source was lost ({error})")
            }
        }
    }
}

/// A kind of metadata (or of entry) a destination may not hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum What {
    Xattrs,
    Acls,
    Capabilities,
    SecurityLabels,
    TrustedXattrs,
    Owners,
    Modes,
    SymlinkTimes,
    SymlinkOwners,
    Symlinks,
    HardLinks,
    /// Sparse files' holes (written as zeros).
    Holes,
    /// What a symlink points to, read back through the destination: sshfs
    /// (`contain_symlinks`) hides targets that are absolute or climb out of
    /// the mount. The links are made; they cannot be read back.
    LinkTargets,
    /// FIFOs, sockets and device nodes (exFAT, FAT: none).
    SpecialFiles,
    /// Folders with nothing in them (a bucket keeps only objects).
    EmptyFolders,
}

impl What {
    /// A stable name for scripts (the JSON `what`).
    pub fn code(self) -> &'static str {
        match self {
            What::Xattrs => "xattrs",
            What::Acls => "acls",
            What::Capabilities => "capabilities",
            What::SecurityLabels => "security_labels",
            What::TrustedXattrs => "trusted_xattrs",
            What::Owners => "owners",
            What::Modes => "modes",
            What::SymlinkTimes => "symlink_times",
            What::SymlinkOwners => "symlink_owners",
            What::Symlinks => "symlinks",
            What::HardLinks => "hard_links",
            What::Holes => "holes",
            What::LinkTargets => "link_targets",
            What::SpecialFiles => "special_files",
            What::EmptyFolders => "empty_folders",
        }
    }

    fn words(self) -> &'static str {
        match self {
            What::Xattrs => "extended attributes",
            What::Acls => "ACLs",
            What::Capabilities => "file capabilities",
            What::SecurityLabels => "security labels",
            What::TrustedXattrs => "trusted attributes",
            What::Owners => "owners",
            What::Modes => "permission bits",
            What::SymlinkTimes => "symlink times",
            What::SymlinkOwners => "symlink owners",
            What::Symlinks => "symlinks",
            What::HardLinks => "hard links",
            What::Holes => "holes",
            What::LinkTargets => "link targets",
            What::SpecialFiles => "FIFOs, sockets and devices",
            What::EmptyFolders => "empty folders",
        }
    }

    /// What a count of it is counted in.
    fn counted_on(self) -> &'static str {
        match self {
            What::Symlinks | What::SymlinkTimes | What::SymlinkOwners | What::LinkTargets => {
                "symlinks"
            }
            What::HardLinks => "files (copied as separate files)",
            What::EmptyFolders => "folders",
            What::Holes => "sparse files (written as zeros)",
            _ => "entries",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Why {
    /// The destination's filesystem does not hold it.
    Unsupported,
    /// The process may not set it (not root, or not its own).
    NotPermitted,
    /// Setting it would change what a symlink points to (sshfs).
    FollowsLinks,
    /// The destination hides it from being read back (sshfs's
    /// `contain_symlinks`).
    Hidden,
}

impl Why {
    pub fn code(self) -> &'static str {
        match self {
            Why::Unsupported => "unsupported",
            Why::NotPermitted => "not_permitted",
            Why::FollowsLinks => "follows_links",
            Why::Hidden => "hidden",
        }
    }

    fn words(self) -> &'static str {
        match self {
            Why::Unsupported => "the destination does not support them",
            Why::NotPermitted => "this process may not set them (run as root to keep them)",
            Why::FollowsLinks => {
                "the destination would set them on what the links point to instead"
            }
            Why::Hidden => {
                "this mount hides links that are absolute or climb out of it (sshfs's \
                 contain_symlinks); they are made, and a rerun compares their length"
            }
        }
    }
}

/// One line of what was not kept: so many entries of one kind, for one reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lost {
    pub what: What,
    pub why: Why,
    pub count: u64,
}

impl fmt::Display for Lost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.what == What::LinkTargets {
            return write!(
                f,
                "{} symlinks cannot be read back through this mount: {}",
                self.count,
                self.why.words()
            );
        }
        write!(
            f,
            "{} not kept on {} {}: {}",
            self.what.words(),
            self.count,
            self.what.counted_on(),
            self.why.words()
        )
    }
}

/// A remark about the run as a whole, not about one entry.
#[derive(Debug)]
pub enum Notice {
    /// The open-file limit allows fewer workers than were asked for.
    FdLimit { allowed: usize, asked: usize },
    /// Fewer threads could start than the run wanted (EAGAIN, ENOMEM): it
    /// goes on with those that did, as said here.
    FewerThreads(String),
    /// The server has no way to give a file its name without possibly
    /// replacing one made there at the same moment (no working
    /// `hardlink@openssh.com`, and a rename that replaces): each name is
    /// looked at first, then given.
    LookThenRename,
    /// A temporary left by a dead run could not be removed.
    Sweep(CopyError),
    /// A temporary of this run could not be removed (the next run sweeps it).
    LeftBehind(CopyError),
    /// The destination folder itself could not be given the source's mode,
    /// owner or times.
    RootMetadata(CopyError),
    /// Something the destination could not keep, on so many entries.
    NotKept(Lost),
    /// Modification times are copied only to this many nanoseconds (the
    /// destination keeps no finer, or the source tells no finer); times are
    /// compared within it.
    TimeWindow(u64),
    /// Writing the copy to the device failed at the end (`--flush`): some
    /// of it may not be there.
    Flush(CopyError),
    /// A big file continues what an earlier run wrote of it: from `at` of
    /// `of` bytes.
    Resumed { path: PathBuf, at: u64, of: u64 },
    /// A new folder could not be put in place: what was reported copied into
    /// it is not in the destination (its own failure says why).
    Unplaced(Unplaced),
    /// `--move`: an entry was copied but its source stays (it changed since,
    /// or could not be removed): it is in both places.
    NotMoved(CopyError),
    /// Files whose bytes were up to date and whose owner or mode was not the
    /// source's: set in place.
    Repaired(u64),
    /// Destination files holding exactly the first bytes of their source,
    /// and no later: a copy from before the source grew, brought up to date
    /// whatever the conflict policy (none of its bytes is lost).
    Grown(u64),
    /// Device nodes of one kind this process may not make (only root may):
    /// so many were not copied.
    NotMade { kind: &'static str, count: u64 },
    /// A cancelled big file's partial copy is kept in the destination, as
    /// `partial`, for the next run of the same copy to continue: `written`
    /// of `of` bytes of `path`.
    KeptForResume(KeptPartial),
    /// `--mirror`: nothing was deleted, for this reason (something went
    /// wrong before, a limit, or a person said no).
    MirrorHeld(String),
    /// `--mirror`: an entry the source does not have is, or holds, a mount
    /// point: a mirror does not cross into another filesystem, so it stays.
    NotCrossed(PathBuf),
}

/// An entry a mirror deletes, or moves into the backup folder, with what it
/// holds counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Doomed {
    /// In the destination.
    pub path: PathBuf,
    pub kind: EntryKind,
    /// Entries that go with it, itself included.
    pub entries: u64,
    /// Bytes of the files among them.
    pub bytes: u64,
}

/// What a mirror will delete once the copy is complete.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PrunePlan {
    pub doomed: Vec<Doomed>,
    /// Entries in all, and bytes of their files.
    pub entries: u64,
    pub bytes: u64,
    /// Moved into this folder rather than deleted (`--backup-dir`).
    pub backup: Option<PathBuf>,
    /// The run waits for [`crate::engine::Control::confirm_deletions`].
    pub awaiting: bool,
}

/// What a folder that could not be put in place took with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unplaced {
    /// The folder, in the destination.
    pub path: PathBuf,
    pub files: u64,
    pub bytes: u64,
    pub symlinks: u64,
}

/// A partial copy a cancelled run kept for the next run to continue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptPartial {
    /// The file it becomes, in the destination.
    pub path: PathBuf,
    /// The hidden file it is kept as, beside it.
    pub partial: PathBuf,
    pub written: u64,
    pub of: u64,
}

impl fmt::Display for KeptPartial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} of {} kept as {} for the next run to continue",
            DisplayPath(&self.path),
            crate::format::bytes(self.written),
            crate::format::bytes(self.of),
            DisplayPath(&self.partial),
        )
    }
}

impl Notice {
    /// A stable name for scripts (the JSON `reason`).
    pub fn code(&self) -> &'static str {
        match self {
            Notice::FdLimit { .. } => "fd_limit",
            Notice::FewerThreads(_) => "fewer_threads",
            Notice::LookThenRename => "look_then_rename",
            Notice::Sweep(_) => "sweep_failed",
            Notice::LeftBehind(_) => "temporary_left",
            Notice::RootMetadata(_) => "root_metadata",
            Notice::NotKept(_) => "not_kept",
            Notice::TimeWindow(_) => "time_window",
            Notice::Flush(_) => "flush_failed",
            Notice::Resumed { .. } => "resumed",
            Notice::KeptForResume(_) => "kept_for_resume",
            Notice::NotMade { .. } => "not_made",
            Notice::Repaired(_) => "metadata_repaired",
            Notice::Grown(_) => "grown_copy_updated",
            Notice::Unplaced(_) => "unplaced",
            Notice::NotMoved(_) => "not_moved",
            Notice::MirrorHeld(_) => "mirror_held",
            Notice::NotCrossed(_) => "not_crossed",
        }
    }

    /// Whether it leaves the destination other than promised (exit code 1),
    /// rather than only informing.
    pub fn is_problem(&self) -> bool {
        !matches!(
            self,
            Notice::FdLimit { .. }
                | Notice::FewerThreads(_)
                | Notice::LookThenRename
                | Notice::NotKept(_)
                | Notice::TimeWindow(_)
                | Notice::Resumed { .. }
                | Notice::KeptForResume(_)
                | Notice::Repaired(_)
                | Notice::Grown(_)
        )
    }
}

/// `100 ns`, `10 ms`, `2 s`.
fn window_words(ns: u64) -> String {
    match ns {
        n if n >= 1_000_000_000 => format!("{} s", n / 1_000_000_000),
        n if n >= 1_000_000 => format!("{} ms", n / 1_000_000),
        n if n >= 1_000 => format!("{} µs", n / 1_000),
        n => format!("{n} ns"),
    }
}

impl fmt::Display for Notice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Notice::FdLimit { allowed, asked } => write!(
                f,
                "the open-file limit allows {allowed} workers, not {asked}"
            ),
            Notice::Sweep(e) => write!(f, "{e} (a temporary left by an earlier run)"),
            Notice::LeftBehind(e) => {
                write!(f, "{e} (a temporary of this run; the next run removes it)")
            }
            Notice::RootMetadata(e) | Notice::Flush(e) | Notice::NotMoved(e) => write!(f, "{e}"),
            Notice::FewerThreads(why) => f.write_str(why),
            Notice::LookThenRename => f.write_str(
                "the server has no hard links (hardlink@openssh.com) and its rename replaces: \
                 each file's name is looked at just before it is given, so a file made there \
                 by someone else at that very moment could be replaced",
            ),
            Notice::Resumed { path, at, of } => write!(
                f,
                "{}: resumed at {} of {}, past what an interrupted run wrote",
                DisplayPath(path),
                crate::format::bytes(*at),
                crate::format::bytes(*of)
            ),
            Notice::NotKept(lost) => write!(f, "{lost}"),
            Notice::KeptForResume(k) => write!(f, "{k}"),
            Notice::Unplaced(u) => write!(
                f,
                "{}: {} files ({}) and {} symlinks copied into it are not in the destination, \
                 since the folder could not be put in place",
                DisplayPath(&u.path),
                u.files,
                crate::format::bytes(u.bytes),
                u.symlinks
            ),
            Notice::Repaired(n) => write!(
                f,
                "{n} files up to date had another owner, mode or attributes than the source: set in place"
            ),
            Notice::Grown(n) => write!(
                f,
                "{n} files were an older, shorter copy of their source (it grew since): \
                 brought up to date"
            ),
            Notice::NotMade { kind, count } => write!(
                f,
                "{count} {kind}s not copied: making device nodes takes root (CAP_MKNOD): \
                 Operation not permitted"
            ),
            Notice::TimeWindow(ns) => write!(
                f,
                "modification times are copied to {}; times are compared within that",
                window_words(*ns)
            ),
            Notice::MirrorHeld(why) => write!(f, "mirror: nothing deleted, because {why}"),
            Notice::NotCrossed(path) => write!(
                f,
                "{}: not deleted: it is or holds a mount point, and a mirror does not cross \
                 into another filesystem",
                DisplayPath(path)
            ),
        }
    }
}

/// A BLAKE3 hash of a file's content.
pub type Digest = [u8; 32];

#[derive(Debug)]
pub enum Event {
    /// Totals discovered so far; `complete` once the walk is over.
    Scan {
        files: u64,
        bytes: u64,
        dirs: u64,
        complete: bool,
    },
    /// A worker began a file large enough to show its own progress.
    Started {
        worker: WorkerId,
        path: RelPath,
        size: u64,
        /// Its number among the files started on this lane: a skip asked
        /// for names it (`Control::skip_file`).
        number: u64,
    },
    /// Bytes written since the last report for the file `worker` is copying.
    Progress { worker: WorkerId, bytes: u64 },
    /// `--verify`: a worker reads back the files it wrote in its last round;
    /// their entries follow once it has.
    Verifying {
        worker: WorkerId,
        files: u64,
        bytes: u64,
    },
    /// One entry is finished, whatever happened to it. `bytes` is the source size
    /// (the work it takes off what remains); `progressed` how much of it was
    /// already reported through `Progress` events.
    Entry {
        worker: Option<WorkerId>,
        path: RelPath,
        kind: EntryKind,
        bytes: u64,
        progressed: u64,
        outcome: Outcome,
        /// With `--verify`, a file copied and read back the same: the BLAKE3
        /// hash of its content.
        digest: Option<Digest>,
    },
    /// An entry is held until [`crate::engine::Control::answer`] decides it; the
    /// rest of the copy goes on meanwhile.
    Conflict(Conflict),
    /// Something stopped the whole run (disk full, read-only destination).
    Fatal(Fatal),
    /// A note for the user that is not about one entry.
    Notice(Notice),
    /// Waiting for the device (`--flush`): about this many bytes are still
    /// to be written (the system's dirty and in-writeback pages); 0 once the
    /// copy is on the device.
    Flushing { left: u64 },
    /// `--mirror`: the copy is complete and this is what goes; with
    /// `awaiting`, nothing goes until a person confirms.
    Prune(PrunePlan),
    /// `--mirror`: one entry of the plan deleted (or moved into `backup`),
    /// or not, for `error`.
    Pruned {
        doomed: Doomed,
        backup: Option<PathBuf>,
        error: Option<CopyError>,
    },
    /// The engine has finished: no event follows.
    Done { cancelled: bool },
}
