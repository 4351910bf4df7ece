//! What every thread of one run shares: both roots, the policy, the control
//! handle, the parked conflicts and the event sender.

use crossbeam_channel::Sender;

use super::ask::Ask;
use super::control::Control;
use super::dest::DestRoot;
use super::meta::MetaPolicy;
use super::source::SourceRoot;
use crate::config::{Chunking, ConflictPolicy};
use crate::event::Event;

pub(crate) struct Shared {
    /// `None` only in a dry run into a destination that does not exist.
    pub root: Option<DestRoot>,
    pub source: SourceRoot,
    pub meta: MetaPolicy,
    pub control: Control,
    pub events: Sender<Event>,
    pub policy: ConflictPolicy,
    pub dry_run: bool,
    pub dereference: bool,
    pub chunking: Chunking,
    pub ask: Ask,
}

impl Shared {
    pub fn send(&self, e: Event) {
        // A consumer that has gone away cannot be told anything; the run goes on
        // so temporaries are still cleaned up.
        let _ = self.events.send(e);
    }

    pub fn root(&self) -> &DestRoot {
        self.root
            .as_ref()
            .expect("a destination root exists whenever something is written")
    }
}
