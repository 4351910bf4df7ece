//! The `Ask` policy's waiting room: a conflicting entry is parked (the workers
//! go on with the rest) and announced as an event; `resolver` copies it once an
//! answer arrives. An answer "for all" becomes the standing choice for later
//! conflicts.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use crossbeam_channel::Sender;

use super::handle::{Answer, Choice, Control};
use crate::engine::meta::attrs::SrcMeta;
use crate::engine::plan::item::Item;
use crate::engine::plan::node::DirNode;
use crate::event::{Conflict, Event};

/// An entry waiting for an answer, with the destination as it was found.
pub(crate) struct Parked {
    pub dir: Arc<DirNode>,
    pub item: Item,
    pub dest: SrcMeta,
}

#[derive(Default)]
struct Inner {
    parked: HashMap<u64, Parked>,
    next: u64,
    standing: Option<Choice>,
}

pub(crate) struct Ask {
    inner: Mutex<Inner>,
    control: Control,
}

impl Ask {
    pub fn new(control: Control) -> Self {
        Ask {
            inner: Mutex::default(),
            control,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Holds an entry; with a standing choice it is queued for the resolver at
    /// once, under the same lock, so no conflict slips between the two.
    pub fn park(&self, events: &Sender<Event>, dir: &Arc<DirNode>, item: &Item, dest: &SrcMeta) {
        let mut inner = self.lock();
        let id = inner.next;
        inner.next += 1;
        inner.parked.insert(
            id,
            Parked {
                dir: Arc::clone(dir),
                item: item.clone(),
                dest: *dest,
            },
        );
        match inner.standing {
            Some(choice) => self.control.answer(Answer {
                id,
                choice,
                for_all: false,
            }),
            None => {
                let _ = events.send(Event::Conflict(Conflict {
                    id,
                    path: dir.rel_path(&item.name),
                    src_size: item.meta.size,
                    src_mtime: item.meta.mtime,
                    dest_size: dest.size,
                    dest_mtime: dest.mtime,
                }));
            }
        }
    }

    pub fn pending(&self) -> usize {
        self.lock().parked.len()
    }

    /// The entries an answer settles: one, or with `for_all` every one waiting.
    pub fn take(&self, a: Answer) -> Vec<Parked> {
        let mut inner = self.lock();
        if a.for_all {
            inner.standing = Some(a.choice);
            inner.parked.drain().map(|(_, p)| p).collect()
        } else {
            inner.parked.remove(&a.id).into_iter().collect()
        }
    }
}
