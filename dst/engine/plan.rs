//! What the walk leaves for the finish phase: every folder to give its mode and
//! times once its contents are written, and the second names of hard-linked
//! files, to be linked once their first name exists.

use std::ffi::OsString;
use std::sync::Arc;

use super::meta::SrcMeta;
use super::node::DirNode;

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
}
