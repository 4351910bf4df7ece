//! One file or symlink to copy, as the walk saw it: what jobs carry and what
//! parked conflicts hold.

use std::ffi::{OsStr, OsString};

use crate::engine::meta::attrs::SrcMeta;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ItemKind {
    File,
    Symlink,
    /// A FIFO, socket or device node: made again, never opened.
    Special,
}

/// A file or symlink to copy, with its metadata as the walk saw it.
#[derive(Debug, Clone)]
pub(crate) struct Item {
    /// The name at the destination.
    pub name: OsString,
    /// The name in the source, when it differs ("keep both" renames the copy).
    pub from: Option<OsString>,
    pub kind: ItemKind,
    pub meta: SrcMeta,
}

impl Item {
    pub fn source_name(&self) -> &OsStr {
        self.from.as_deref().unwrap_or(&self.name)
    }
}
