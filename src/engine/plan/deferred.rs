//! What the walk leaves for the finish phase: every folder to give its mode and
//! times once its contents are written, and the second names of hard-linked
//! files, to be linked once their first name exists.

use std::ffi::OsString;
use std::sync::Arc;

use super::node::DirNode;
use crate::engine::meta::attrs::SrcMeta;

/// A second name of a file copied elsewhere in the tree.
pub(crate) struct DeferredLink {
    /// The first name met, which the copy creates.
    pub target: (Arc<DirNode>, OsString),
    pub link: (Arc<DirNode>, OsString),
    pub meta: SrcMeta,
}

#[derive(Default)]
pub(crate) struct Planned {
    /// Every folder created or merged, parents before children.
    pub dirs: Vec<(Arc<DirNode>, SrcMeta)>,
    pub links: Vec<DeferredLink>,
    /// `--move`: the first name of every multiply-linked file, with its
    /// metadata. Its source goes only with the rest of its names, once all
    /// are linked in the destination (a name removed early would make the
    /// next run copy the others as separate files).
    pub first_names: Vec<(Named, SrcMeta)>,
}

/// A name in a destination folder: the folder and the entry's name.
pub(crate) type Named = (Arc<DirNode>, OsString);
