//! What travels from the walker to the workers: batches of small entries of one
//! folder, and chunks of big files, in one queue so idle workers take whatever
//! is next and one huge file balances against thousands of small ones.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex};

use std::os::fd::OwnedFd;

use super::dest::TempEntry;
use super::meta::SrcMeta;
use super::stage::Stage;
use crate::error::CopyError;
use crate::event::RelPath;

/// A destination folder as jobs see it: a place beneath the root, never a
/// descriptor, so queued jobs hold no files open.
#[derive(Debug)]
pub(crate) struct DirNode {
    /// Its path relative to the source root, and to the destination root once
    /// it is in place.
    pub rel: Arc<Path>,
    /// Created by this run (or would be, in a dry run): nothing in it can exist
    /// yet, so its entries need no conflict check.
    pub fresh: bool,
    /// The folder it is in; `None` for the root.
    pub parent: Option<Arc<DirNode>>,
    /// Set when this run creates the folder: it is filled under a temporary name.
    pub stage: Option<Stage>,
}

impl DirNode {
    pub fn root(fresh: bool) -> Arc<Self> {
        Arc::new(DirNode {
            rel: Arc::from(Path::new("")),
            fresh,
            parent: None,
            stage: None,
        })
    }

    pub fn child(
        parent: &Arc<DirNode>,
        name: &OsStr,
        fresh: bool,
        stage: Option<Stage>,
    ) -> Arc<Self> {
        Arc::new(DirNode {
            rel: Arc::from(parent.rel.join(name)),
            fresh,
            parent: Some(Arc::clone(parent)),
            stage,
        })
    }

    pub fn rel_path(&self, name: &OsString) -> RelPath {
        RelPath {
            dir: Arc::clone(&self.rel),
            name: name.clone(),
        }
    }

    /// Its own name (empty for the root).
    pub fn name(&self) -> &OsStr {
        self.rel.file_name().unwrap_or_default()
    }

    /// Its name in its parent right now: the temporary one until it is placed.
    /// Only stable under the destination's placement lock.
    pub fn current_name(&self) -> &OsStr {
        match &self.stage {
            Some(s) if !s.is_placed() => &s.temp,
            _ => self.name(),
        }
    }

    /// Where it is right now relative to the destination root, temporary names
    /// of its own or of its ancestors included. Only stable under the
    /// destination's placement lock.
    pub fn current(&self) -> PathBuf {
        let mut names = Vec::new();
        let mut node = self;
        while let Some(parent) = &node.parent {
            names.push(node.current_name());
            node = parent;
        }
        names.iter().rev().collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ItemKind {
    File,
    Symlink,
}

#[derive(Debug, Clone)]
pub(crate) struct Item {
    /// The name at the destination.
    pub name: OsString,
    /// The name in the source, when it differs ("Keep both" renames the copy).
    pub from: Option<OsString>,
    pub kind: ItemKind,
    pub meta: SrcMeta,
}

impl Item {
    pub fn source_name(&self) -> &std::ffi::OsStr {
        self.from.as_deref().unwrap_or(&self.name)
    }
}

#[derive(Debug)]
pub(crate) struct Batch {
    pub dir: Arc<DirNode>,
    pub items: Vec<Item>,
    /// Written under their own names: the folder is staged and waits for them.
    pub in_place: bool,
}

pub(crate) enum Job {
    Batch(Batch),
    Chunk(Arc<BigFile>, u64),
}

/// A file split into chunks. The first chunk to start opens both ends; whoever
/// finishes the last chunk applies metadata and renames it into place. Dropped
/// unfinished (cancel), the temporary removes itself.
pub(crate) struct BigFile {
    pub dir: Arc<DirNode>,
    pub item: Item,
    /// As for a [`Batch`].
    pub in_place: bool,
    pub chunk_size: u64,
    pub remaining: AtomicU64,
    pub failed: AtomicBool,
    pub state: Mutex<BigState>,
}

pub(crate) enum BigState {
    NotStarted,
    Open(Arc<OpenBig>),
    /// Decided without copying (up to date, skipped, failed to open): the other
    /// chunks have nothing to do.
    Settled,
}

pub(crate) struct OpenBig {
    pub src: OwnedFd,
    pub out: OwnedFd,
    pub entry: Mutex<Option<TempEntry<OwnedFd>>>,
    pub replace: bool,
    /// Fresh source metadata (from fstat), applied at the end.
    pub meta: SrcMeta,
    pub error: Mutex<Option<CopyError>>,
    pub progressed: AtomicU64,
}
