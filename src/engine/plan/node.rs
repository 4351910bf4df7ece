//! A destination folder as the walker, the workers and the finish see it: a place
//! beneath the destination root (never a descriptor, so queued jobs hold no files
//! open), with its staging state when this run creates it.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use super::stage::Stage;
use crate::event::RelPath;

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
    /// It holds partial copies of big files left by earlier runs (see
    /// `resume`): those no copy of this run took up are removed at its end.
    pub partials: AtomicBool,
}

impl DirNode {
    pub fn root(fresh: bool) -> Arc<Self> {
        Arc::new(DirNode {
            rel: Arc::from(Path::new("")),
            fresh,
            parent: None,
            stage: None,
            partials: AtomicBool::new(false),
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
            partials: AtomicBool::new(false),
        })
    }

    pub fn rel_path(&self, name: &OsString) -> RelPath {
        RelPath {
            dir: Arc::clone(&self.rel),
            name: name.clone(),
        }
    }

    /// Its own path as an entry of its parent (the root: an empty name).
    pub fn as_entry(&self) -> RelPath {
        RelPath {
            dir: self.rel.parent().unwrap_or(&self.rel).into(),
            name: self.name().to_os_string(),
        }
    }

    /// Its own name (empty for the root).
    pub fn name(&self) -> &OsStr {
        self.rel.file_name().unwrap_or_default()
    }

    pub fn is_root(&self) -> bool {
        self.parent.is_none()
    }

    /// Whether files planned now in it are written under their own names: it
    /// is staged and the walker has not yet let go of it (see `stage`).
    pub fn takes_files_in_place(&self) -> bool {
        self.stage.as_ref().is_some_and(Stage::open_for_files)
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
