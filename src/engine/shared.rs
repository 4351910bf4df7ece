//! What every thread of one run shares: both roots, the policy, the control
//! handle, the parked conflicts and the event sender.

use std::any::Any;
use std::sync::Arc;

use crossbeam_channel::Sender;

use crate::engine::control::ask::Ask;

use crate::config::{Chunking, ConflictPolicy, Reflink};
use crate::engine::control::decide::{self, Decision};
use crate::engine::control::handle::Control;
use crate::engine::data::kernel_copy::KernelCopy;
use crate::engine::meta::attrs::MetaPolicy;
use crate::engine::meta::attrs::{SrcMeta, TimeWindow};
use crate::engine::meta::kept::{NotKept, What, Why};
use crate::engine::read::Source;
use crate::engine::read::source::SourceRoot;
use crate::engine::write::Dest;
use crate::engine::write::caps::Caps;
use crate::engine::write::dest::DestRoot;
use crate::event::{Event, Fatal, Outcome};

/// Generic over where entries come from and go to (see `read::Source`,
/// `write::Dest`); the local ones by default.
pub(crate) struct Shared<S: Source = SourceRoot, D: Dest = DestRoot> {
    /// `None` only in a dry run into a destination that does not exist.
    pub root: Option<D>,
    pub source: S,
    pub meta: MetaPolicy,
    pub control: Control,
    pub events: Sender<Event>,
    pub policy: ConflictPolicy,
    pub dry_run: bool,
    pub dereference: bool,
    pub chunking: Chunking,
    pub reflink: Reflink,
    /// `--verify`: files are hashed and read back.
    pub verify: bool,
    /// `--fsync`: files and folders are flushed as they are finished.
    pub fsync: bool,
    /// Wait for the device at the end (`--flush`, implied by `--fsync`).
    pub flush: bool,
    pub ask: Ask,
    /// What the destination could not keep, said at the end.
    pub kept: NotKept,
    /// Files up to date in their bytes whose owner or mode a rerun repaired.
    pub repaired: std::sync::atomic::AtomicU64,
    /// Entries the walker has queued that no worker has taken yet.
    pub backlog: crate::engine::plan::backlog::Backlog,
    /// Destination files that were a copy of their source from before it
    /// grew, brought up to date whatever the policy.
    pub grown: std::sync::atomic::AtomicU64,
    /// Device nodes this process may not make, said at the end.
    pub not_made: crate::engine::meta::kept::NotMade,
    /// What the destination can do: probed at the start, learned as it goes.
    pub caps: Caps,
    /// The destination folder is not the copy of the source folder: its own
    /// mode, owner and times are left alone (`Config::dest_keeps_own_metadata`).
    pub dest_keeps_own_metadata: bool,
    /// `--move` (`Config::move_sources`).
    pub moving: bool,
    /// `--mirror` (`Config::mirror`).
    pub mirror: Option<crate::config::Mirror>,
    /// A move takes every entry of a folder (no `--exclude`, no path picked
    /// inside one): a folder can be renamed whole.
    pub whole_folders: bool,
    /// The destination's device: a move within it renames.
    pub dest_dev: Option<u64>,
    /// An entry failed: a move keeps what may have names it did not reach.
    pub something_failed: std::sync::atomic::AtomicBool,
    /// Held while sources are removed (see `moving`).
    pub removing: std::sync::Mutex<()>,
    /// `--mirror`: entries a destination folder is in the way of.
    pub in_the_way: crate::engine::control::held::InTheWay,
    /// The first thing that went wrong: a mirror deletes nothing after it.
    pub trouble: crate::engine::control::held::Trouble,
    /// `--backup-dir`, and where it is in DEST when it is inside.
    pub backup: Option<Arc<crate::engine::write::backup::Backup>>,
    pub backup_rel: Option<std::path::PathBuf>,
    /// An entry at the top that takes another name (`Config::rename`).
    pub rename: Option<(std::ffi::OsString, std::ffi::OsString)>,
}

impl<S: Source, D: Dest> Shared<S, D> {
    pub fn send(&self, e: Event) {
        match &e {
            Event::Entry {
                outcome: Outcome::Failed(err),
                ..
            } => {
                self.something_failed
                    .store(true, std::sync::atomic::Ordering::Relaxed);
                self.trouble.note(|| err.to_string());
            }
            Event::Entry {
                outcome: Outcome::Skipped(why),
                path,
                ..
            } if why.is_conflict() => self.trouble.note(|| {
                let path = self
                    .root
                    .as_ref()
                    .map_or(path.join(), |r| r.display(&path.join()));
                format!("{}: {}", crate::format::DisplayPath(&path), why.describe())
            }),
            Event::Fatal(f) => self.trouble.note(|| f.to_string()),
            Event::Notice(n) if n.is_problem() => self.trouble.note(|| n.to_string()),
            _ => {}
        }
        // A consumer that has gone away cannot be told anything; the run goes on
        // so temporaries are still cleaned up.
        let _ = self.events.send(e);
    }

    /// A thread of the run died on a bug: the run stops, saying where and why
    /// (a run that lost a thread must never end as a success).
    pub fn thread_died(&self, thread: impl Into<String>, panic: &(dyn Any + Send)) {
        let message = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        self.send(Event::Fatal(Fatal::Internal {
            thread: thread.into(),
            message,
        }));
        self.control.cancel();
    }

    /// Whether files are to be cloned (as far as this run knows).
    pub fn cloning(&self) -> bool {
        match self.reflink {
            Reflink::Never => false,
            Reflink::Always => true,
            Reflink::Auto => self.root.is_some() && self.caps.learned.clones(),
        }
    }

    /// Whether the kernel may move the bytes itself (`copy_file_range`,
    /// which on XFS and btrfs may clone them, or `sendfile`), and how.
    pub fn offload(&self) -> Option<&KernelCopy> {
        (self.reflink != Reflink::Never).then_some(&self.caps.kernel)
    }

    /// How closely the destination keeps times.
    pub fn window(&self) -> TimeWindow {
        self.caps.window()
    }

    /// Counts what the destination could not keep of a finished entry's
    /// mode and owner.
    pub fn count_unkept(&self) {
        let m = self.caps.keeps;
        if !m.modes {
            self.kept.add(What::Modes, Why::Unsupported);
        }
        if self.meta.wants_owner && !m.owners {
            self.kept.add(What::Owners, Why::Unsupported);
        }
    }

    /// What to do with `src` given `dest`, times compared within the window.
    pub fn decide(
        &self,
        src: &SrcMeta,
        dest: Option<&SrcMeta>,
        policy: ConflictPolicy,
    ) -> Decision {
        decide::decide(src, dest, policy, self.window())
    }

    /// A regular file of the same size and time (within the window).
    pub fn same_content(&self, a: &SrcMeta, b: &SrcMeta) -> bool {
        self.window().same_content(a, b)
    }

    /// Reports the second name of a hard-linked file.
    pub fn link_done(&self, link: &crate::engine::plan::deferred::DeferredLink, outcome: Outcome) {
        self.send(Event::Entry {
            worker: None,
            path: link.link.0.rel_path(&link.link.1),
            kind: crate::event::EntryKind::HardLink,
            bytes: link.meta.size,
            progressed: 0,
            outcome,
            digest: None,
        });
    }

    /// Reports a folder finished with its metadata; the root is the
    /// destination itself, not an entry of the tree: only its failure is said.
    pub fn folder_done(&self, dir: &crate::engine::plan::node::DirNode, outcome: Outcome) {
        if dir.is_root() {
            if let Outcome::Failed(e) = outcome {
                self.send(Event::Notice(crate::event::Notice::RootMetadata(e)));
            }
            return;
        }
        self.send(Event::Entry {
            worker: None,
            path: dir.as_entry(),
            kind: crate::event::EntryKind::Dir,
            bytes: 0,
            progressed: 0,
            outcome,
            digest: None,
        });
    }

    /// Says, once at the end, what was counted along the way: what the
    /// destination did not keep, files repaired or brought up to date after
    /// their source grew, device nodes not made.
    pub fn say_counted(&self) {
        use crate::event::Notice;
        use std::sync::atomic::Ordering;
        for lost in self.kept.take() {
            self.send(Event::Notice(Notice::NotKept(lost)));
        }
        let repaired = self.repaired.load(Ordering::Relaxed);
        if repaired > 0 {
            self.send(Event::Notice(Notice::Repaired(repaired)));
        }
        let grown = self.grown.load(Ordering::Relaxed);
        if grown > 0 {
            self.send(Event::Notice(Notice::Grown(grown)));
        }
        for (kind, count) in self.not_made.take() {
            self.send(Event::Notice(Notice::NotMade { kind, count }));
        }
    }

    pub fn root(&self) -> &D {
        self.root
            .as_ref()
            .expect("a destination root exists whenever something is written")
    }
}
