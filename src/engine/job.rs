//! What travels from the walker to the workers: batches of small entries of one
//! folder, and chunks of big files, in one queue so idle workers take whatever
//! is next and one huge file balances against thousands of small ones.

use std::ffi::OsString;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex};

use std::os::fd::OwnedFd;

use super::dest::TempEntry;
use super::meta::SrcMeta;
use crate::error::CopyError;
use crate::event::RelPath;

/// A destination folder as jobs see it: a path beneath the root, never a
/// descriptor, so queued jobs hold no files open.
#[derive(Debug)]
pub(crate) struct DirNode {
    pub rel: Arc<Path>,
    /// Created by this run (or would be, in a dry run): nothing in it can exist
    /// yet, so its entries need no conflict check.
    pub fresh: bool,
}

impl DirNode {
    pub fn rel_path(&self, name: &OsString) -> RelPath {
        RelPath {
            dir: Arc::clone(&self.rel),
            name: name.clone(),
        }
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
