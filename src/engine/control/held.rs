//! What a run holds back until the copy is over: entries a destination
//! folder is in the way of (a mirror copies them once it is gone), and the
//! first thing that went wrong (after which a mirror deletes nothing).

use std::sync::{Arc, Mutex, PoisonError};

use super::ask::Parked;
use crate::engine::meta::attrs::SrcMeta;
use crate::engine::plan::item::Item;
use crate::engine::plan::node::DirNode;

/// Entries of the source a destination folder is in the way of: copied
/// once that folder is gone, in the deletion phase.
#[derive(Default)]
pub(crate) struct InTheWay(Mutex<Vec<Parked>>);

impl InTheWay {
    pub fn add(&self, dir: &Arc<DirNode>, item: &Item, dest: &SrcMeta) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Parked {
                dir: Arc::clone(dir),
                item: item.clone(),
                dest: *dest,
            });
    }

    pub fn take(&self) -> Vec<Parked> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// The first thing that went wrong in the run, as it was said: a mirror
/// deletes nothing after one.
#[derive(Default)]
pub(crate) struct Trouble(Mutex<Option<String>>);

impl Trouble {
    pub fn note(&self, what: impl FnOnce() -> String) {
        let mut t = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if t.is_none() {
            *t = Some(what());
        }
    }

    pub fn first(&self) -> Option<String> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}
