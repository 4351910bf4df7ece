//! The walker: streams the source tree (walkdir) into jobs on the bounded queue,
//! creating destination folders ahead of their files and counting scan totals as
//! they grow. It blocks when the queue is full, so it never runs far ahead.

use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex};

use crossbeam_channel::Sender;
use globset::GlobSet;
use rustix::fs::{self as rfs, AtFlags, FileType, Mode};
use rustix::io::Errno;
use walkdir::WalkDir;

use super::Shared;
use super::job::{Batch, BigFile, BigState, DirNode, Item, ItemKind, Job};
use super::meta::SrcMeta;
use super::stage::Stage;
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

/// What the walk does after planning an entry.
enum Visit {
    /// A folder to walk into, with its destination.
    Enter(Arc<DirNode>),
    Next,
    /// A folder not to walk into.
    Skip,
    /// The workers are gone.
    Stop,
}

/// One open folder of a walk below PATH_MAX: its names, read up front so its
/// handle can be closed while deeper levels are walked.
struct Level {
    node: Arc<DirNode>,
    fd: Option<Arc<OwnedFd>>,
    names: std::vec::IntoIter<OsString>,
    id: (u64, u64),
}

impl Level {
    fn read(
        node: Arc<DirNode>,
        fd: OwnedFd,
        id: (u64, u64),
    ) -> Result<Self, (Arc<DirNode>, io::Error)> {
        let mut names = Vec::new();
        let dir = match rfs::Dir::read_from(&fd) {
            Ok(d) => d,
            Err(e) => return Err((node, e.into())),
        };
        for entry in dir {
            match entry {
                Ok(e) => {
                    let n = e.file_name().to_bytes();
                    if n != b"." && n != b".." {
                        names.push(OsString::from_vec(n.to_vec()));
                    }
                }
                Err(e) => return Err((node, e.into())),
            }
        }
        names.sort_unstable();
        Ok(Level {
            node,
            fd: Some(Arc::new(fd)),
            names: names.into_iter(),
            id,
        })
    }
}

fn loop_error(ancestor: &Path) -> io::Error {
    io::Error::other(format!(
        "symlink loop back to {}",
        crate::format::DisplayPath(ancestor)
    ))
}

/// A walkdir error that only means "too long a path": the depth and path of
/// the folder it could not open.
fn too_deep(err: &walkdir::Error) -> Option<(usize, PathBuf)> {
    let io = err.io_error()?;
    (io.raw_os_error() == Some(Errno::NAMETOOLONG.raw_os_error()) && err.loop_ancestor().is_none())
        .then(|| Some((err.depth(), err.path()?.to_path_buf())))
        .flatten()
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
    /// Entries seen by the handle-relative walk, for scan updates.
    seen_deep: u64,
}

fn is_special(ft: FileType) -> Option<&'static str> {
    match ft {
        FileType::Fifo => Some("FIFO"),
        FileType::Socket => Some("socket"),
        FileType::BlockDevice => Some("block device"),
        FileType::CharacterDevice => Some("character device"),
        _ => None,
    }
}

/// walkdir's file type in the terms of the handle-relative walk.
fn kind_of(ft: std::fs::FileType) -> FileType {
    use std::os::unix::fs::FileTypeExt;
    if ft.is_dir() {
        FileType::Directory
    } else if ft.is_symlink() {
        FileType::Symlink
    } else if ft.is_fifo() {
        FileType::Fifo
    } else if ft.is_socket() {
        FileType::Socket
    } else if ft.is_block_device() {
        FileType::BlockDevice
    } else if ft.is_char_device() {
        FileType::CharacterDevice
    } else {
        FileType::RegularFile
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
        let root = DirNode::root(dest_fresh);
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
            seen_deep: 0,
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
        // Unsorted: sorting makes walkdir hold a whole folder's entries at once
        // (119 MiB for a folder of 1,000,000 files, 7.5 MiB unsorted).
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
                    if let Some((depth, path)) = too_deep(&err) {
                        // Past PATH_MAX: walkdir cannot open it by path; handles can.
                        let parent = Arc::clone(&stack[depth.clamp(1, stack.len()) - 1]);
                        // Mostly walkdir yielded the folder (and it was made)
                        // before failing to read it.
                        let made = stack
                            .get(depth)
                            .filter(|n| path.strip_prefix(&self.source).is_ok_and(|r| *n.rel == *r))
                            .cloned();
                        if !self.deep_dir(jobs, &parent, &path, made) {
                            break;
                        }
                    } else {
                        self.walk_error(&stack, err);
                    }
                    continue;
                }
            };
            for left in stack.drain(entry.depth()..) {
                self.end_in_place(jobs, &left);
            }
            let parent = Arc::clone(&stack[entry.depth() - 1]);
            if entry.file_type().is_dir() {
                self.end_in_place(jobs, &parent);
            }
            let rel = entry
                .path()
                .strip_prefix(&self.source)
                .unwrap_or(entry.path());
            let meta = entry.metadata().map(|m| SrcMeta::from(&m)).or_else(|e| {
                let err = e
                    .into_io_error()
                    .unwrap_or_else(|| io::Error::other("cannot stat"));
                match err.raw_os_error() {
                    // The full path is too long to stat; its folder's handle is not.
                    Some(code) if code == Errno::NAMETOOLONG.raw_os_error() => {
                        self.sh.source.stat(rel)
                    }
                    _ => Err(err),
                }
            });
            let name = entry.file_name().to_os_string();
            match self.visit(jobs, &parent, name, rel, kind_of(entry.file_type()), meta) {
                Visit::Enter(node) => stack.push(node),
                Visit::Next => {}
                Visit::Skip => it.skip_current_dir(),
                Visit::Stop => break,
            }
        }
        self.flush(jobs);
        for left in stack.drain(..) {
            self.end_in_place(jobs, &left);
        }
        self.send_scan(true);
        self.planned
    }

    /// No more files of `node` are planned to be written in place: the walk met
    /// a subfolder in it (the walk goes deeper first) or left it. Files met later
    /// are written as in a visible folder, so the folder can be placed as soon as
    /// those already planned are written.
    fn end_in_place(&mut self, jobs: &Sender<Job>, node: &Arc<DirNode>) {
        if !in_place(node) {
            return;
        }
        // Its last in-place batch is counted (queued) before the walker lets go,
        // or the folder could be placed with files still to be written in it.
        if self
            .batch
            .as_ref()
            .is_some_and(|b| Arc::ptr_eq(&b.dir, node))
        {
            // A failed send means the workers are gone; the finish places it.
            let _ = self.flush(jobs);
        }
        if let Some(root) = &self.sh.root {
            root.walker_done(node);
        }
    }

    /// Plans one source entry; says whether the walk goes into it.
    fn visit(
        &mut self,
        jobs: &Sender<Job>,
        parent: &Arc<DirNode>,
        name: OsString,
        rel: &Path,
        ft: FileType,
        meta: io::Result<SrcMeta>,
    ) -> Visit {
        let is_dir = ft == FileType::Directory;
        let skip = if is_dir { Visit::Skip } else { Visit::Next };
        let want = self.filter.want(rel, &self.on_the_way);
        if want == Want::No || (want == Want::OnTheWay && !is_dir) {
            return skip;
        }
        let meta = match meta {
            Ok(m) => m,
            Err(err) => {
                let kind = if is_dir {
                    EntryKind::Dir
                } else {
                    EntryKind::File
                };
                let failure = CopyError::new(self.source.join(rel), Op::Stat, err);
                self.report(parent, name, kind, Outcome::Failed(failure));
                return skip;
            }
        };
        if is_dir {
            self.dirs += 1;
            return match self.make_dir(parent, name, meta) {
                Some(node) => {
                    self.planned.dirs.push((Arc::clone(&node), meta));
                    Visit::Enter(node)
                }
                None => Visit::Skip,
            };
        }
        self.files += 1;
        if let Some(kind) = is_special(ft) {
            self.report(
                parent,
                name,
                EntryKind::Special,
                Outcome::Skipped(SkipReason::Special(kind)),
            );
            return Visit::Next;
        }
        let kind = if ft == FileType::Symlink {
            ItemKind::Symlink
        } else {
            ItemKind::File
        };
        let item = Item {
            name,
            from: None,
            kind,
            meta,
        };
        if kind == ItemKind::File {
            self.bytes += meta.size;
            if meta.nlink > 1 && self.defer_hard_link(parent, &item) {
                return Visit::Next;
            }
        }
        let ok = if kind == ItemKind::File
            && meta.size >= self.sh.chunk_threshold
            && !meta.is_sparse()
            && !self.sh.dry_run
        {
            self.send_chunks(jobs, parent, item)
        } else {
            self.add_to_batch(jobs, parent, item)
        };
        if ok { Visit::Next } else { Visit::Stop }
    }

    /// A folder deeper than PATH_MAX and everything beneath it, walked through
    /// folder handles (at most `max_open` held at once). `false`: stop the walk.
    fn deep_dir(
        &mut self,
        jobs: &Sender<Job>,
        parent: &Arc<DirNode>,
        path: &Path,
        made: Option<Arc<DirNode>>,
    ) -> bool {
        let rel = path
            .strip_prefix(&self.source)
            .unwrap_or(path)
            .to_path_buf();
        let name = rel.file_name().map(OsString::from).unwrap_or_default();
        let meta = self.sh.source.stat(&rel);
        let opened = meta
            .as_ref()
            .map_err(|e| io::Error::new(e.kind(), e.to_string()))
            .and_then(|_| self.sh.source.open_dir(&rel));
        let fd = match opened {
            Ok(fd) => fd,
            Err(e) => {
                let failure = CopyError::new(path, Op::ReadDir, e);
                self.report(parent, name, EntryKind::Dir, Outcome::Failed(failure));
                return true;
            }
        };
        let id = meta.as_ref().map_or((0, 0), |m| (m.dev, m.ino));
        // With -L, a symlink may lead back above where this walk starts.
        let outer = if self.sh.dereference {
            match self
                .sh
                .source
                .ids_on_the_way(rel.parent().unwrap_or(Path::new("")))
            {
                Ok(ids) => ids,
                Err(e) => {
                    let failure = CopyError::new(path, Op::ReadDir, e);
                    self.report(parent, name, EntryKind::Dir, Outcome::Failed(failure));
                    return true;
                }
            }
        } else {
            Vec::new()
        };
        // Paired with their paths: the root, then one more component each.
        let mut on_the_way = PathBuf::new();
        let outer: Vec<((u64, u64), PathBuf)> = outer
            .into_iter()
            .zip(std::iter::once(None).chain(rel.iter().map(Some)))
            .map(|(id, comp)| {
                on_the_way.extend(comp);
                (id, on_the_way.clone())
            })
            .collect();
        if let Some((_, anc)) = outer.iter().find(|(i, _)| *i == id) {
            let e = loop_error(&self.source.join(anc));
            let failure = CopyError::new(path, Op::ReadDir, e);
            self.report(parent, name, EntryKind::Dir, Outcome::Failed(failure));
            return true;
        }
        let visited = match made {
            Some(node) => Visit::Enter(node),
            None => self.visit(jobs, parent, name, &rel, FileType::Directory, meta),
        };
        let node = match visited {
            Visit::Enter(node) => node,
            Visit::Stop => return false,
            Visit::Next | Visit::Skip => return true,
        };
        let mut levels = match Level::read(node, fd, id) {
            Ok(l) => vec![l],
            Err((node, e)) => {
                self.read_dir_failed(&node, e);
                self.end_in_place(jobs, &node);
                return true;
            }
        };
        while let Some(top) = levels.last_mut() {
            if self.sh.control.is_cancelled() {
                return false;
            }
            let Some(name) = top.names.next() else {
                let node = Arc::clone(&top.node);
                levels.pop();
                self.end_in_place(jobs, &node);
                continue;
            };
            self.seen_deep += 1;
            if self.seen_deep.is_multiple_of(SCAN_EVERY) {
                self.send_scan(false);
            }
            let parent = Arc::clone(&top.node);
            let dir = match self.level_fd(&mut levels) {
                Ok(fd) => fd,
                Err(e) => {
                    self.read_dir_failed(&parent, e);
                    levels.pop();
                    self.end_in_place(jobs, &parent);
                    continue;
                }
            };
            let rel = parent.rel.join(&name);
            let meta = self.sh.source.stat_at(dir.as_fd(), &name);
            let ft = meta
                .as_ref()
                .map_or(FileType::RegularFile, |m| FileType::from_raw_mode(m.mode));
            let mut child = None;
            if ft == FileType::Directory {
                let id = meta.as_ref().map_or((0, 0), |m| (m.dev, m.ino));
                let ancestor = outer
                    .iter()
                    .find(|(i, _)| *i == id)
                    .map(|(_, p)| p.as_path())
                    .or_else(|| levels.iter().find(|l| l.id == id).map(|l| &*l.node.rel));
                let opened = if let Some(anc) = ancestor {
                    Err(loop_error(&self.source.join(anc)))
                } else {
                    self.sh.source.open_child_dir(dir.as_fd(), &name)
                };
                match opened {
                    Ok(fd) => child = Some((fd, id)),
                    Err(e) => {
                        let failure = CopyError::new(self.source.join(&rel), Op::ReadDir, e);
                        self.report(&parent, name, EntryKind::Dir, Outcome::Failed(failure));
                        continue;
                    }
                }
            }
            match self.visit(jobs, &parent, name, &rel, ft, meta) {
                Visit::Enter(node) => {
                    let (fd, id) = child.expect("a folder was opened");
                    match Level::read(node, fd, id) {
                        Ok(l) => levels.push(l),
                        Err((node, e)) => {
                            self.read_dir_failed(&node, e);
                            self.end_in_place(jobs, &node);
                        }
                    }
                    self.limit_open(&mut levels);
                }
                Visit::Next | Visit::Skip => {}
                Visit::Stop => return false,
            }
        }
        true
    }

    fn read_dir_failed(&self, node: &DirNode, e: io::Error) {
        let name = node.rel.file_name().map(OsString::from).unwrap_or_default();
        let parent = match &node.parent {
            Some(p) => Arc::clone(p),
            None => DirNode::root(false),
        };
        let failure = CopyError::new(self.source.join(&*node.rel), Op::ReadDir, e);
        self.report(&parent, name, EntryKind::Dir, Outcome::Failed(failure));
    }

    /// The open handle of the deepest level, reopened if it was closed to stay
    /// within the descriptor budget.
    fn level_fd(&self, levels: &mut [Level]) -> io::Result<Arc<OwnedFd>> {
        let last = levels.len() - 1;
        if let Some(fd) = &levels[last].fd {
            return Ok(Arc::clone(fd));
        }
        // From the nearest level still open, one component at a time.
        let from = levels[..last].iter().rposition(|l| l.fd.is_some());
        let fd = match from {
            Some(i) => {
                let base = Arc::clone(levels[i].fd.as_ref().expect("open"));
                let suffix = levels[last]
                    .node
                    .rel
                    .strip_prefix(&*levels[i].node.rel)
                    .map_err(|_| io::Error::other("not beneath"))?
                    .to_path_buf();
                self.sh
                    .source
                    .open_child_dir(base.as_fd(), suffix.as_os_str())?
            }
            None => self.sh.source.open_dir(&levels[last].node.rel)?,
        };
        let fd = Arc::new(fd);
        levels[last].fd = Some(Arc::clone(&fd));
        self.limit_open(levels);
        Ok(fd)
    }

    /// Closes the shallowest handles beyond the walker's share of descriptors.
    fn limit_open(&self, levels: &mut [Level]) {
        let mut open = levels.iter().filter(|l| l.fd.is_some()).count();
        for l in levels.iter_mut() {
            if open <= self.max_open {
                break;
            }
            if l.fd.take().is_some() {
                open -= 1;
            }
        }
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
            Some(anc) => loop_error(anc),
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
            in_place: in_place(parent),
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
            Some(b) => {
                if let Some(stage) = b.dir.stage.as_ref().filter(|_| b.in_place) {
                    stage.add_job();
                }
                jobs.send(Job::Batch(b)).is_ok()
            }
            None => true,
        }
    }

    fn send_chunks(&mut self, jobs: &Sender<Job>, parent: &Arc<DirNode>, item: Item) -> bool {
        let size = self.sh.chunk_size;
        let chunks = item.meta.size.div_ceil(size).max(1);
        let in_place = in_place(parent);
        let big = Arc::new(BigFile {
            dir: Arc::clone(parent),
            item,
            in_place,
            chunk_size: size,
            remaining: AtomicU64::new(chunks),
            failed: AtomicBool::new(false),
            state: Mutex::new(BigState::NotStarted),
        });
        (0..chunks).all(|i| {
            if let Some(stage) = parent.stage.as_ref().filter(|_| in_place) {
                stage.add_job();
            }
            jobs.send(Job::Chunk(Arc::clone(&big), i)).is_ok()
        })
    }

    /// The walker's open folder, reopened from the root when it moved elsewhere.
    fn dir_fd(&mut self, node: &Arc<DirNode>) -> io::Result<&OwnedFd> {
        let cached = self
            .open
            .as_ref()
            .is_some_and(|(n, _)| Arc::ptr_eq(n, node));
        if !cached {
            let root = self.sh.root();
            // Mostly the folder just made in the open one: one step, not a path.
            let fd = match (&self.open, &node.parent) {
                (Some((open, fd)), Some(parent)) if Arc::ptr_eq(open, parent) => {
                    root.open_child_node(fd.as_fd(), node)?
                }
                _ => root.open_node(node)?,
            };
            self.open = Some((Arc::clone(node), fd));
        }
        Ok(&self.open.as_ref().expect("just opened").1)
    }

    /// Creates (or finds) the destination of a source folder. `None` means its
    /// contents are not to be walked: skipped by policy, or it failed. A folder
    /// it creates is staged: made under a temporary name, placed once filled.
    fn make_dir(
        &mut self,
        parent: &Arc<DirNode>,
        name: OsString,
        meta: SrcMeta,
    ) -> Option<Arc<DirNode>> {
        if parent.fresh && self.sh.dry_run {
            return Some(DirNode::child(parent, &name, true, None));
        }
        let dry_run = self.sh.dry_run;
        let policy = self.sh.policy;
        let made = (|| -> Result<Result<Made, SkipReason>, (Op, io::Error)> {
            let root = self.sh.root();
            let fd = self.dir_fd(parent).map_err(|e| (Op::OpenDir, e))?.as_fd();
            let create = || {
                root.make_staged_dir(fd)
                    .map(|temp| Ok(Made::Staged(temp)))
                    .map_err(|e| (Op::CreateDir, e))
            };
            // In a folder this run created, nothing can be in the way.
            if parent.fresh {
                return create();
            }
            let existing = match rfs::statat(fd, &name, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) => Some(SrcMeta::from(&st)),
                Err(Errno::NOENT) => None,
                Err(e) => return Err((Op::Stat, e.into())),
            };
            match decide_dir(&meta, existing.as_ref(), policy) {
                DirDecision::Merge if dry_run => Ok(Ok(Made::Merged)),
                DirDecision::Create | DirDecision::Replace if dry_run => Ok(Ok(Made::DryRun)),
                DirDecision::Merge => {
                    let sub = rfs::openat(fd, &name, super::dest::DIR_FLAGS, Mode::empty())
                        .map_err(|e| (Op::OpenDir, e.into()))?;
                    // Leftovers of a killed run; a failure here is not the copy's.
                    let _ = root.sweep_temps(sub.as_fd());
                    Ok(Ok(Made::Merged))
                }
                DirDecision::Replace => {
                    rfs::unlinkat(fd, &name, AtFlags::empty())
                        .map_err(|e| (Op::CreateDir, e.into()))?;
                    create()
                }
                DirDecision::Create => create(),
                DirDecision::Skip(r) => Ok(Err(r)),
            }
        })();
        match made {
            Ok(Ok(Made::Merged)) => Some(DirNode::child(parent, &name, false, None)),
            Ok(Ok(Made::DryRun)) => Some(DirNode::child(parent, &name, true, None)),
            Ok(Ok(Made::Staged(temp))) => {
                Some(DirNode::child(parent, &name, true, Some(Stage::new(temp))))
            }
            Ok(Err(reason)) => {
                self.report(parent, name, EntryKind::Dir, Outcome::Skipped(reason));
                None
            }
            Err((op, e)) => {
                let path = self.sh.root().display(&parent.rel.join(&name));
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

/// Whether files planned now in `dir` are written in place (see `stage`).
fn in_place(dir: &DirNode) -> bool {
    dir.stage.as_ref().is_some_and(|s| s.open_for_files())
}

/// What became of a source folder at the destination.
enum Made {
    /// It exists: its entries are merged into it.
    Merged,
    /// Created under this temporary name.
    Staged(OsString),
    /// Would be created.
    DryRun,
}
