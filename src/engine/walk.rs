//! The walker: streams the source tree (walkdir) into jobs on the bounded queue,
//! creating destination folders ahead of their files and counting scan totals as
//! they grow. It blocks when the queue is full, so it never runs far ahead.

use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex};

use crossbeam_channel::Sender;
use globset::GlobSet;
use rustix::fs::{self as rfs, AtFlags, Mode};
use rustix::io::Errno;
use walkdir::WalkDir;

use super::Shared;
use super::job::{Batch, BigFile, BigState, DirNode, Item, ItemKind, Job};
use super::meta::SrcMeta;
use crate::decide::{DirDecision, decide_dir};
use crate::error::{CopyError, Op};
use crate::event::{EntryKind, Event, Outcome, SkipReason};

/// A batch closes at this many entries or bytes: large enough to spare the queue
/// a message per tiny file, small enough that workers stay balanced.
const BATCH_ENTRIES: usize = 64;
const BATCH_BYTES: u64 = 1024 * 1024;
/// Scan totals are sent after this many entries (and when the walk ends).
const SCAN_EVERY: u64 = 512;

/// A second name of a file copied elsewhere in the tree: linked after the copy.
pub(crate) struct DeferredLink {
    pub target: (Arc<DirNode>, OsString),
    pub link: (Arc<DirNode>, OsString),
    pub meta: SrcMeta,
}

/// Which source entries the walk takes.
pub(crate) struct Filter {
    pub excludes: GlobSet,
    pub only: Option<HashSet<PathBuf>>,
}

#[derive(PartialEq, Eq)]
enum Want {
    Yes,
    /// A folder on the way to a wanted path: created, but its files are not.
    OnTheWay,
    No,
}

impl Filter {
    fn want(&self, rel: &Path, on_the_way: &HashSet<PathBuf>) -> Want {
        if self.excludes.is_match(rel) {
            return Want::No;
        }
        let Some(only) = &self.only else {
            return Want::Yes;
        };
        if rel.ancestors().any(|a| only.contains(a)) {
            Want::Yes
        } else if on_the_way.contains(rel) {
            Want::OnTheWay
        } else {
            Want::No
        }
    }
}

/// What the walk leaves for the finish phase.
#[derive(Default)]
pub(crate) struct Planned {
    /// Every folder created or merged, parents before children.
    pub dirs: Vec<(Arc<DirNode>, SrcMeta)>,
    pub links: Vec<DeferredLink>,
}

pub(crate) struct Walker<'a> {
    sh: &'a Shared,
    source: PathBuf,
    filter: Filter,
    /// With `only`: every folder that leads to a wanted path.
    on_the_way: HashSet<PathBuf>,
    max_open: usize,
    planned: Planned,
    root: Arc<DirNode>,
    /// The one destination folder the walker holds open, to create folders in.
    open: Option<(Arc<DirNode>, OwnedFd)>,
    batch: Option<Batch>,
    batch_bytes: u64,
    first_names: HashMap<(u64, u64), (Arc<DirNode>, OsString)>,
    files: u64,
    bytes: u64,
    dirs: u64,
}

fn is_special(ft: std::fs::FileType) -> Option<&'static str> {
    use std::os::unix::fs::FileTypeExt;
    if ft.is_fifo() {
        Some("FIFO")
    } else if ft.is_socket() {
        Some("socket")
    } else if ft.is_block_device() {
        Some("block device")
    } else if ft.is_char_device() {
        Some("character device")
    } else {
        None
    }
}

impl<'a> Walker<'a> {
    pub fn new(
        sh: &'a Shared,
        source: &Path,
        src_meta: SrcMeta,
        dest_fresh: bool,
        filter: Filter,
        max_open: usize,
    ) -> Self {
        let on_the_way = filter
            .only
            .iter()
            .flatten()
            .flat_map(|p| p.ancestors().skip(1).map(Path::to_path_buf))
            .collect();
        let root = Arc::new(DirNode {
            rel: Arc::from(Path::new("")),
            fresh: dest_fresh,
        });
        Walker {
            sh,
            source: source.to_path_buf(),
            filter,
            on_the_way,
            max_open,
            planned: Planned {
                dirs: vec![(Arc::clone(&root), src_meta)],
                links: Vec::new(),
            },
            root,
            open: None,
            batch: None,
            batch_bytes: 0,
            first_names: HashMap::new(),
            files: 0,
            bytes: 0,
            dirs: 1,
        }
    }

    fn report(&self, dir: &Arc<DirNode>, name: OsString, kind: EntryKind, outcome: Outcome) {
        self.sh.send(Event::Entry {
            worker: None,
            path: dir.rel_path(&name),
            kind,
            bytes: 0,
            progressed: 0,
            outcome,
        });
    }

    fn send_scan(&self, complete: bool) {
        self.sh.send(Event::Scan {
            files: self.files,
            bytes: self.bytes,
            dirs: self.dirs,
            complete,
        });
    }

    /// Walks the whole source; returns early only when the run is cancelled or
    /// the workers are gone.
    pub fn run(mut self, jobs: &Sender<Job>) -> Planned {
        if let Some(root) = self.sh.root.as_ref().filter(|_| !self.root.fresh)
            && let Err(e) = root.sweep_temps(root.root_fd())
        {
            self.sh
                .send(Event::Notice(format!("cannot clean old temporaries: {e}")));
        }
        let mut it = WalkDir::new(&self.source)
            .follow_links(self.sh.dereference)
            .max_open(self.max_open)
            .min_depth(1)
            .into_iter();
        // stack[d] is the destination folder for entries at depth d + 1.
        let mut stack: Vec<Arc<DirNode>> = vec![Arc::clone(&self.root)];
        let mut seen = 0u64;
        while let Some(next) = it.next() {
            if self.sh.control.is_cancelled() {
                break;
            }
            seen += 1;
            if seen.is_multiple_of(SCAN_EVERY) {
                self.send_scan(false);
            }
            let entry = match next {
                Ok(e) => e,
                Err(err) => {
                    self.walk_error(&stack, err);
                    continue;
                }
            };
            stack.truncate(entry.depth());
            let parent = Arc::clone(&stack[entry.depth() - 1]);
            let name = entry.file_name().to_os_string();
            let rel = entry
                .path()
                .strip_prefix(&self.source)
                .unwrap_or(entry.path());
            let want = self.filter.want(rel, &self.on_the_way);
            if want == Want::No || (want == Want::OnTheWay && !entry.file_type().is_dir()) {
                if entry.file_type().is_dir() {
                    it.skip_current_dir();
                }
                continue;
            }
            let ft = entry.file_type();
            let meta = match entry.metadata() {
                Ok(m) => SrcMeta::from(&m),
                Err(e) => {
                    let err = e
                        .into_io_error()
                        .unwrap_or_else(|| io::Error::other("cannot stat"));
                    let kind = if ft.is_dir() {
                        EntryKind::Dir
                    } else {
                        EntryKind::File
                    };
                    let failure = CopyError::new(entry.path(), Op::Stat, err);
                    self.report(&parent, name, kind, Outcome::Failed(failure));
                    if ft.is_dir() {
                        it.skip_current_dir();
                    }
                    continue;
                }
            };
            if ft.is_dir() {
                self.dirs += 1;
                match self.make_dir(&parent, name, meta) {
                    Some(node) => {
                        self.planned.dirs.push((Arc::clone(&node), meta));
                        stack.push(node);
                    }
                    None => it.skip_current_dir(),
                }
                continue;
            }
            self.files += 1;
            if let Some(kind) = is_special(ft) {
                self.report(
                    &parent,
                    name,
                    EntryKind::Special,
                    Outcome::Skipped(SkipReason::Special(kind)),
                );
                continue;
            }
            let kind = if ft.is_symlink() {
                ItemKind::Symlink
            } else {
                ItemKind::File
            };
            let item = Item {
                name,
                src: entry.into_path(),
                kind,
                meta,
            };
            if kind == ItemKind::File {
                self.bytes += meta.size;
                if meta.nlink > 1 && self.defer_hard_link(&parent, &item) {
                    continue;
                }
            }
            let ok = if kind == ItemKind::File
                && meta.size >= self.sh.chunk_threshold
                && !meta.is_sparse()
                && !self.sh.dry_run
            {
                self.send_chunks(jobs, &parent, item)
            } else {
                self.add_to_batch(jobs, &parent, item)
            };
            if !ok {
                break;
            }
        }
        self.flush(jobs);
        self.send_scan(true);
        self.planned
    }

    fn walk_error(&self, stack: &[Arc<DirNode>], err: walkdir::Error) {
        let path = err
            .path()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| self.source.clone());
        let depth = err.depth().max(1).min(stack.len());
        let parent = &stack[depth - 1];
        let name = path.file_name().map(OsString::from).unwrap_or_default();
        let io = match err.loop_ancestor() {
            Some(anc) => io::Error::other(format!(
                "symlink loop back to {}",
                crate::format::DisplayPath(anc)
            )),
            None => err
                .into_io_error()
                .unwrap_or_else(|| io::Error::other("walk failed")),
        };
        let failure = CopyError::new(path, Op::ReadDir, io);
        self.report(parent, name, EntryKind::Dir, Outcome::Failed(failure));
    }

    fn defer_hard_link(&mut self, parent: &Arc<DirNode>, item: &Item) -> bool {
        let key = (item.meta.dev, item.meta.ino);
        if let Some(first) = self.first_names.get(&key) {
            self.planned.links.push(DeferredLink {
                target: first.clone(),
                link: (Arc::clone(parent), item.name.clone()),
                meta: item.meta,
            });
            return true;
        }
        self.first_names
            .insert(key, (Arc::clone(parent), item.name.clone()));
        false
    }

    fn add_to_batch(&mut self, jobs: &Sender<Job>, parent: &Arc<DirNode>, item: Item) -> bool {
        let same_dir = self
            .batch
            .as_ref()
            .is_some_and(|b| Arc::ptr_eq(&b.dir, parent));
        if !same_dir && !self.flush(jobs) {
            return false;
        }
        self.batch_bytes += item.meta.size;
        let batch = self.batch.get_or_insert_with(|| Batch {
            dir: Arc::clone(parent),
            items: Vec::with_capacity(BATCH_ENTRIES),
        });
        batch.items.push(item);
        if batch.items.len() >= BATCH_ENTRIES || self.batch_bytes >= BATCH_BYTES {
            return self.flush(jobs);
        }
        true
    }

    /// Sends the open batch; `false` when the workers are gone.
    fn flush(&mut self, jobs: &Sender<Job>) -> bool {
        self.batch_bytes = 0;
        match self.batch.take() {
            Some(b) => jobs.send(Job::Batch(b)).is_ok(),
            None => true,
        }
    }

    fn send_chunks(&mut self, jobs: &Sender<Job>, parent: &Arc<DirNode>, item: Item) -> bool {
        let size = self.sh.chunk_size;
        let chunks = item.meta.size.div_ceil(size).max(1);
        let big = Arc::new(BigFile {
            dir: Arc::clone(parent),
            item,
            chunk_size: size,
            remaining: AtomicU64::new(chunks),
            failed: AtomicBool::new(false),
            state: Mutex::new(BigState::NotStarted),
        });
        (0..chunks).all(|i| jobs.send(Job::Chunk(Arc::clone(&big), i)).is_ok())
    }

    /// The walker's open folder, reopened from the root when it moved elsewhere.
    fn dir_fd(&mut self, node: &Arc<DirNode>) -> io::Result<&OwnedFd> {
        let cached = self
            .open
            .as_ref()
            .is_some_and(|(n, _)| Arc::ptr_eq(n, node));
        if !cached {
            self.open = None;
            let fd = self.sh.root().open_dir(&node.rel)?;
            self.open = Some((Arc::clone(node), fd));
        }
        Ok(&self.open.as_ref().expect("just opened").1)
    }

    /// Creates (or finds) the destination of a source folder. `None` means its
    /// contents are not to be walked: skipped by policy, or it failed.
    fn make_dir(
        &mut self,
        parent: &Arc<DirNode>,
        name: OsString,
        meta: SrcMeta,
    ) -> Option<Arc<DirNode>> {
        let rel: Arc<Path> = Arc::from(parent.rel.join(&name));
        let node = |fresh| {
            Some(Arc::new(DirNode {
                rel: Arc::clone(&rel),
                fresh,
            }))
        };
        if parent.fresh && self.sh.dry_run {
            return node(true);
        }
        let dry_run = self.sh.dry_run;
        let policy = self.sh.policy;
        let result = (|| -> Result<Result<bool, SkipReason>, (Op, io::Error)> {
            let fd = self.dir_fd(parent).map_err(|e| (Op::OpenDir, e))?.as_fd();
            // In a folder this run created, nothing can be in the way.
            if parent.fresh {
                match rfs::mkdirat(fd, &name, Mode::from_raw_mode(0o700)) {
                    Ok(()) => return Ok(Ok(true)),
                    Err(Errno::EXIST) => {}
                    Err(e) => return Err((Op::CreateDir, e.into())),
                }
            }
            let existing = match rfs::statat(fd, &name, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) => Some(SrcMeta::from(&st)),
                Err(Errno::NOENT) => None,
                Err(e) => return Err((Op::Stat, e.into())),
            };
            let decision = decide_dir(&meta, existing.as_ref(), policy);
            if dry_run {
                return Ok(match decision {
                    DirDecision::Merge => Ok(false),
                    DirDecision::Create | DirDecision::Replace => Ok(true),
                    DirDecision::Skip(r) => Err(r),
                });
            }
            match decision {
                DirDecision::Merge => {
                    let sub = rfs::openat(fd, &name, super::dest::DIR_FLAGS, Mode::empty())
                        .map_err(|e| (Op::OpenDir, e.into()))?;
                    // Leftovers of a killed run; a failure here is not the copy's.
                    let _ = self.sh.root().sweep_temps(sub.as_fd());
                    Ok(Ok(false))
                }
                DirDecision::Replace => {
                    rfs::unlinkat(fd, &name, AtFlags::empty())
                        .map_err(|e| (Op::CreateDir, e.into()))?;
                    rfs::mkdirat(fd, &name, Mode::from_raw_mode(0o700))
                        .map_err(|e| (Op::CreateDir, e.into()))?;
                    Ok(Ok(true))
                }
                DirDecision::Create => match rfs::mkdirat(fd, &name, Mode::from_raw_mode(0o700)) {
                    Ok(()) => Ok(Ok(true)),
                    Err(e) => Err((Op::CreateDir, e.into())),
                },
                DirDecision::Skip(r) => Ok(Err(r)),
            }
        })();
        match result {
            Ok(Ok(fresh)) => node(fresh),
            Ok(Err(reason)) => {
                self.report(parent, name, EntryKind::Dir, Outcome::Skipped(reason));
                None
            }
            Err((op, e)) => {
                let path = self.sh.root().display(&rel);
                self.report(
                    parent,
                    name,
                    EntryKind::Dir,
                    Outcome::Failed(CopyError::new(path, op, e)),
                );
                None
            }
        }
    }
}
