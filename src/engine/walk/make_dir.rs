//! Making the destination of each source folder as the walk meets it, ahead of
//! its files: a folder this run creates is staged (made under a temporary name,
//! placed once filled); an existing one is merged into, after sweeping what a
//! dead run left in it.

use std::ffi::{OsStr, OsString};
use std::io;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::engine::control::decide::{DirDecision, decide_dir};
use crate::engine::meta::attrs::SrcMeta;
use crate::engine::plan::node::DirNode;
use crate::engine::plan::stage::Stage;
use crate::engine::read::Source;
use crate::engine::shared::Shared;
use crate::engine::write::Dest;
use crate::engine::write::dest::DestRoot;
use crate::error::{CopyError, Op};
use crate::event::{Event, Notice, SkipReason};

/// What became of a source folder at the destination.
pub(super) enum Made {
    /// It exists (or will, or would in a dry run): walk into it.
    Enter(Arc<DirNode>),
    /// `--move` within one filesystem: renamed into place whole, with all
    /// it holds; nothing to walk.
    Moved,
    Skipped(SkipReason),
    Failed(CopyError),
}

/// Lets this run write into a folder of the destination that it owns but that
/// a copy of a read-only source folder left read-only (not run as root, the
/// permission would refuse the update). Its mode is the source's again when
/// the copy is done (see `finish`), as rsync does.
pub(super) fn make_writable<S: Source, D: Dest>(
    sh: &Shared<S, D>,
    fd: D::Dir<'_>,
    existing: &SrcMeta,
) {
    let m = &sh.meta;
    if !m.owner && existing.uid == m.euid && existing.mode & 0o300 != 0o300 {
        let _ = sh.root().set_mode(fd, existing.mode & 0o7777 | 0o700);
    }
}

/// Keeps the one destination folder the walker has open, to create folders in.
pub(super) struct DirMaker<D: Dest = DestRoot> {
    open: Option<(Arc<DirNode>, D::OpenDir)>,
}

impl<D: Dest> Default for DirMaker<D> {
    fn default() -> Self {
        DirMaker { open: None }
    }
}

/// What the decision about an existing entry came to, before it is a node.
enum Found {
    /// An existing folder, swept; it may hold partials to resume.
    Merged {
        partials: bool,
    },
    Staged(OsString),
    /// Made under its own name, by this run (nothing in it is in the way).
    Made,
    /// Moved there whole (`--move` within one filesystem).
    Moved,
    DryRun,
}

impl<D: Dest> DirMaker<D> {
    /// Creates (or finds) the destination of the source folder `name` in `parent`.
    pub fn make<S: Source>(
        &mut self,
        sh: &Shared<S, D>,
        parent: &Arc<DirNode>,
        name: &OsStr,
        meta: &SrcMeta,
    ) -> Made {
        if parent.fresh && sh.dry_run {
            return Made::Enter(DirNode::child(parent, name, true, None));
        }
        match self.decide(sh, parent, name, meta) {
            Ok(Ok(Found::Merged { partials })) => {
                let node = DirNode::child(parent, name, false, None);
                node.partials.store(partials, Ordering::Relaxed);
                Made::Enter(node)
            }
            Ok(Ok(Found::DryRun | Found::Made)) => {
                Made::Enter(DirNode::child(parent, name, true, None))
            }
            Ok(Ok(Found::Moved)) => Made::Moved,
            Ok(Ok(Found::Staged(temp))) => {
                Made::Enter(DirNode::child(parent, name, true, Some(Stage::new(temp))))
            }
            Ok(Err(reason)) => Made::Skipped(reason),
            Err((op, e)) => {
                let path = sh.root().display(&parent.rel.join(name));
                // A folder it was to be made in that went (not put in
                // place) is the reason, not the call that found it gone.
                let e = sh.root().unplaced(parent).unwrap_or(e);
                Made::Failed(CopyError::new(path, op, e))
            }
        }
    }

    fn decide<S: Source>(
        &mut self,
        sh: &Shared<S, D>,
        parent: &Arc<DirNode>,
        name: &OsStr,
        meta: &SrcMeta,
    ) -> Result<Result<Found, SkipReason>, (Op, io::Error)> {
        let root = sh.root();
        let fd = D::dir(self.dir_fd(sh, parent).map_err(|e| (Op::OpenDir, e))?);
        let create = || {
            // Nothing is in the way: a move within one filesystem renames
            // the folder whole (else it is made, and filled, as a copy's).
            if let Some(dest) = D::local_dir(fd)
                && crate::engine::copy::moving::rename_folder(sh, parent, name, meta, dest)
            {
                return Ok(Ok(Found::Moved));
            }
            // Where renaming a folder breaks what is open beneath it, folders
            // are made under their own names (their files still appear only
            // complete, renamed from temporaries).
            // A move removes sources as their copies get their names: a
            // folder never placed would leave them in neither place.
            if !sh.caps.keeps.renames_keep_handles || sh.moving {
                return root
                    .make_dir_at(fd, name)
                    .map(|()| Ok(Found::Made))
                    .map_err(|e| (Op::CreateDir, e));
            }
            root.make_staged_dir(fd)
                .map(|temp| Ok(Found::Staged(temp)))
                .map_err(|e| (Op::CreateDir, e))
        };
        // In a folder this run created, nothing can be in the way.
        if parent.fresh {
            return create();
        }
        let existing = root.stat_child(fd, name).map_err(|e| (Op::Stat, e))?;
        match decide_dir(meta, existing.as_ref(), sh.policy) {
            DirDecision::Merge if sh.dry_run => Ok(Ok(Found::Merged { partials: false })),
            DirDecision::Create | DirDecision::Replace if sh.dry_run => Ok(Ok(Found::DryRun)),
            DirDecision::Merge => {
                let sub = root
                    .open_child_dir(fd, name)
                    .map_err(|e| (Op::OpenDir, e))?;
                if let Some(existing) = &existing {
                    make_writable(sh, D::dir(&sub), existing);
                }
                // Leftovers of a killed run: what cannot be removed is reported.
                let rel = parent.rel.join(name);
                let (failed, partials) = root.sweep_temps(D::dir(&sub), &rel);
                for e in failed {
                    sh.send(Event::Notice(Notice::Sweep(e)));
                }
                Ok(Ok(Found::Merged { partials }))
            }
            DirDecision::Replace => {
                match root.backup().zip(D::local_dir(fd)) {
                    Some((b, fd)) => b
                        .take(fd, name, &parent.rel.join(name))
                        .map(drop)
                        .map_err(|e| (Op::Backup, e))?,
                    None => root
                        .remove_at(fd, name)
                        .map_err(|e| (Op::CreateDir, e.into()))?,
                }
                create()
            }
            DirDecision::Create => create(),
            DirDecision::Skip(r) => Ok(Err(r)),
        }
    }

    /// The open folder of `node`, reopened from the root when it moved elsewhere.
    fn dir_fd<S: Source>(
        &mut self,
        sh: &Shared<S, D>,
        node: &Arc<DirNode>,
    ) -> io::Result<&D::OpenDir> {
        let cached = self
            .open
            .as_ref()
            .is_some_and(|(n, _)| Arc::ptr_eq(n, node));
        if !cached {
            let root = sh.root();
            // Mostly the folder just made in the open one: one step, not a path.
            let fd = match (&self.open, &node.parent) {
                (Some((open, fd)), Some(parent)) if Arc::ptr_eq(open, parent) => {
                    root.open_child_node(D::dir(fd), node)?
                }
                _ => root.open_node(node)?,
            };
            self.open = Some((Arc::clone(node), fd));
        }
        Ok(&self.open.as_ref().expect("just opened").1)
    }
}
