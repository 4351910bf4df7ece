//! Planning one source entry at a time, for both walks (by path, and through
//! handles past PATH_MAX): the filter, the destination folder, batches and
//! chunks on the queue, hard links deferred to the finish, scan totals.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crossbeam_channel::Sender;
use rustix::fs::FileType;

use super::batching::Batcher;
use super::make_dir::{DirMaker, Made};
use crate::engine::copy::chunked;
use crate::engine::copy::job::{Batch, Job};
use crate::engine::meta::attrs::{SrcMeta, special_kind};
use crate::engine::plan::deferred::{DeferredLink, Named, Planned};
use crate::engine::plan::filter::Filter;
use crate::engine::plan::item::{Item, ItemKind};
use crate::engine::plan::node::DirNode;
use crate::engine::read::Source;
use crate::engine::shared::Shared;
use crate::engine::write::Dest;
use crate::engine::write::dest::DestRoot;
use crate::engine::write::names::CaseFold;
use crate::engine::write::resume;
use crate::error::{CopyError, Op};
use crate::event::{EntryKind, Event, Outcome, RelPath};

/// An entry by this name makes the walker panic (unit tests only).
#[cfg(test)]
pub(super) const PANIC_NAME: &str = "panic-in-walker.test";

/// Scan totals are sent after this many entries (and when the walk ends).
const SCAN_EVERY: u64 = 512;

/// What the walk does after planning an entry.
pub(super) enum Visit {
    /// A folder to walk into, with its destination.
    Enter(Arc<DirNode>),
    Next,
    /// A folder not to walk into.
    Skip,
    /// The workers are gone.
    Stop,
}

pub(super) struct Planner<'a, S: Source, D: Dest = DestRoot> {
    pub sh: &'a Shared<S, D>,
    /// The source root as the user named it, for messages.
    pub source: PathBuf,
    jobs: &'a Sender<Job>,
    filter: Filter,
    maker: DirMaker<D>,
    batcher: Batcher,
    planned: Planned,
    first_names: HashMap<(u64, u64), (Named, SrcMeta)>,
    files: u64,
    bytes: u64,
    dirs: u64,
    seen: u64,
}

impl<'a, S: Source, D: Dest> Planner<'a, S, D> {
    pub fn new(
        sh: &'a Shared<S, D>,
        source: &Path,
        jobs: &'a Sender<Job>,
        filter: Filter,
        root: &Arc<DirNode>,
        root_meta: SrcMeta,
    ) -> Self {
        Planner {
            sh,
            source: source.to_path_buf(),
            jobs,
            filter,
            maker: DirMaker::default(),
            batcher: Batcher::default(),
            planned: Planned {
                dirs: vec![(Arc::clone(root), root_meta)],
                links: Vec::new(),
                first_names: Vec::new(),
            },
            first_names: HashMap::new(),
            files: 0,
            bytes: 0,
            dirs: 1,
            seen: 0,
        }
    }

    pub fn report(&self, dir: &DirNode, name: OsString, kind: EntryKind, outcome: Outcome) {
        self.report_at(dir.rel_path(&name), kind, outcome);
    }

    pub fn report_at(&self, path: RelPath, kind: EntryKind, outcome: Outcome) {
        self.sh.send(Event::Entry {
            worker: None,
            path,
            kind,
            bytes: 0,
            progressed: 0,
            outcome,
            digest: None,
        });
    }

    /// A folder of the source that could not be read (its own entry).
    pub fn folder_failed(&self, node: &DirNode, e: io::Error) {
        let failure = CopyError::new(self.source.join(&*node.rel), Op::ReadDir, e);
        self.report_at(node.as_entry(), EntryKind::Dir, Outcome::Failed(failure));
    }

    fn send_scan(&self, complete: bool) {
        self.sh.send(Event::Scan {
            files: self.files,
            bytes: self.bytes,
            dirs: self.dirs,
            complete,
        });
    }

    /// Counts an entry met by a walk; scan totals go out every so often.
    pub fn met_one(&mut self) {
        self.seen += 1;
        if self.seen.is_multiple_of(SCAN_EVERY) {
            self.send_scan(false);
        }
    }

    /// Whether `name` in `node` is one name with an entry met before it on a
    /// destination that ignores case (`fold` holds the folder's names so
    /// far); if so it is reported, and not copied over the other.
    pub fn collides(
        &self,
        fold: &mut CaseFold,
        node: &DirNode,
        name: &OsStr,
        ft: FileType,
    ) -> bool {
        let is_dir = ft == FileType::Directory;
        if !self.filter.takes(&node.rel.join(name), is_dir) {
            return false;
        }
        let Some(e) = fold.collides(name) else {
            return false;
        };
        let path = self.sh.root().display(&node.rel.join(name));
        let kind = match ft {
            FileType::Directory => EntryKind::Dir,
            FileType::Symlink => EntryKind::Symlink,
            _ => EntryKind::File,
        };
        let failure = CopyError::new(path, Op::Name, e);
        self.report(node, name.to_os_string(), kind, Outcome::Failed(failure));
        true
    }

    /// Plans one source entry; says whether the walk goes into it.
    pub fn visit(
        &mut self,
        parent: &Arc<DirNode>,
        name: OsString,
        rel: &Path,
        ft: FileType,
        meta: io::Result<SrcMeta>,
    ) -> Visit {
        #[cfg(test)]
        if name == PANIC_NAME {
            panic!("injected by a test");
        }
        let is_dir = ft == FileType::Directory;
        let skip = if is_dir { Visit::Skip } else { Visit::Next };
        if !self.filter.takes(rel, is_dir) {
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
            return match self.maker.make(self.sh, parent, &name, &meta) {
                Made::Enter(node) => {
                    self.planned.dirs.push((Arc::clone(&node), meta));
                    Visit::Enter(node)
                }
                Made::Moved => {
                    self.report(parent, name, EntryKind::Dir, Outcome::Copied);
                    Visit::Skip
                }
                Made::Skipped(reason) => {
                    self.report(parent, name, EntryKind::Dir, Outcome::Skipped(reason));
                    Visit::Skip
                }
                Made::Failed(e) => {
                    self.report(parent, name, EntryKind::Dir, Outcome::Failed(e));
                    Visit::Skip
                }
            };
        }
        self.files += 1;
        let kind = if special_kind(ft).is_some() {
            ItemKind::Special
        } else if ft == FileType::Symlink {
            ItemKind::Symlink
        } else {
            ItemKind::File
        };
        // A file copied to a new name takes it at the top.
        let (name, from) = match &self.sh.rename {
            Some((from, to)) if parent.is_root() && *from == name => (to.clone(), Some(name)),
            _ => (name, None),
        };
        let item = Item {
            name,
            from,
            kind,
            meta,
        };
        if kind == ItemKind::File {
            self.bytes += meta.size;
            // With -L a symlink and the file it points to are one file (as
            // `cp -a -L` keeps them), whatever the file's link count.
            if (meta.nlink > 1 || self.sh.dereference) && self.defer_hard_link(parent, &item) {
                return Visit::Next;
            }
        }
        // A file that can be cloned is cloned whole, at once; one that is
        // verified is hashed in order, by one worker.
        let sent = match chunked::chunk_count(&meta, self.sh.chunking, self.sh.dry_run)
            .filter(|_| kind == ItemKind::File && !self.sh.cloning() && !self.sh.verify)
        {
            Some(count) => self.send_chunks(parent, item, count),
            None => {
                // A big file goes through a partial that can be resumed,
                // which a folder still being filled would take with it.
                let in_place = parent.takes_files_in_place() && !resume::resumable(&item.meta);
                let ready = self.batcher.add(parent, in_place, item);
                ready.into_iter().all(|b| self.send_batch(b))
            }
        };
        if sent { Visit::Next } else { Visit::Stop }
    }

    /// No more files of `node` are planned to be written in place: the walk met
    /// a subfolder in it (the walk goes deeper first) or left it. Files met later
    /// are written as in a visible folder, so the folder can be placed as soon as
    /// those already planned are written.
    pub fn end_in_place(&mut self, node: &Arc<DirNode>) {
        if !node.takes_files_in_place() {
            return;
        }
        // Its last in-place batch is counted (queued) before the walker lets go,
        // or the folder could be placed with files still to be written in it.
        if let Some(b) = self.batcher.take_for(node) {
            // A failed send means the workers are gone; the finish places it.
            let _ = self.send_batch(b);
        }
        if let Some(root) = &self.sh.root {
            root.walker_done(node);
        }
    }

    fn defer_hard_link(&mut self, parent: &Arc<DirNode>, item: &Item) -> bool {
        let key = (item.meta.dev, item.meta.ino);
        if let Some((first, _)) = self.first_names.get(&key) {
            self.planned.links.push(DeferredLink {
                target: first.clone(),
                link: (Arc::clone(parent), item.name.clone()),
                meta: item.meta,
            });
            return true;
        }
        let first = (Arc::clone(parent), item.name.clone());
        self.first_names.insert(key, (first, item.meta));
        false
    }

    /// Queues a batch; `false` when the workers are gone.
    fn send_batch(&self, b: Batch) -> bool {
        if let Some(stage) = b.dir.stage.as_ref().filter(|_| b.in_place) {
            stage.add_job();
        }
        let job = Job::Batch(b);
        self.sh.backlog.reserve(job.weight());
        self.jobs.send(job).is_ok()
    }

    fn send_chunks(&mut self, parent: &Arc<DirNode>, item: Item, count: u64) -> bool {
        let in_place = parent.takes_files_in_place();
        chunked::chunks(parent, item, in_place, self.sh.chunking, count).all(|chunk| {
            if let Some(stage) = parent.stage.as_ref().filter(|_| in_place) {
                stage.add_job();
            }
            let job = Job::Chunk(chunk);
            self.sh.backlog.reserve(job.weight());
            self.jobs.send(job).is_ok()
        })
    }

    /// Sends what is still open and the final scan totals.
    pub fn finish(mut self) -> Planned {
        if let Some(b) = self.batcher.take() {
            let _ = self.send_batch(b);
        }
        self.send_scan(true);
        if self.sh.moving {
            self.planned.first_names = self.first_names.into_values().collect();
        }
        self.planned
    }
}
