//! What travels from the walker to the workers: batches of one folder's small
//! entries, and pieces of big files (see `chunked`), in one queue so idle workers
//! take whatever is next.

use std::sync::Arc;

use super::chunked::Chunk;
use crate::engine::plan::item::Item;
use crate::engine::plan::node::DirNode;

/// Entries of one folder, copied one after another by one worker.
#[derive(Debug)]
pub(crate) struct Batch {
    pub dir: Arc<DirNode>,
    pub items: Vec<Item>,
    /// Written under their own names: the folder is staged and waits for them.
    pub in_place: bool,
}

pub(crate) enum Job {
    Batch(Batch),
    Chunk(Chunk),
}

impl Job {
    /// What it weighs in the walker's backlog, in entries. A piece of a big
    /// file counts as so many that 64 are queued at most (each holds its
    /// file open at the worker, not memory).
    pub fn weight(&self) -> usize {
        match self {
            Job::Batch(b) => b.items.len().max(1),
            Job::Chunk(_) => crate::engine::plan::backlog::ENTRIES / 64,
        }
    }

    /// The folder the job writes in, and whether it writes there in place.
    pub fn dir(&self) -> (&Arc<DirNode>, bool) {
        match self {
            Job::Batch(b) => (&b.dir, b.in_place),
            Job::Chunk(c) => (&c.file.dir, c.file.in_place),
        }
    }
}
