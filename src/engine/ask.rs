//! The `Ask` policy: a conflicting entry is parked (the workers go on with the
//! rest), announced as an event, and copied by a resolver thread once a person
//! answers. An answer "for all" becomes the standing choice for later conflicts.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use rustix::fs::{self as rfs, AtFlags};

use super::Shared;
use super::control::{Answer, Choice, Control};
use super::job::{DirNode, Item, ItemKind};
use super::meta::SrcMeta;
use super::worker::Worker;
use crate::decide::keep_both_name;
use crate::error::{CopyError, Op};
use crate::event::{Conflict, Event, Outcome, SkipReason};

pub(crate) struct Parked {
    dir: Arc<DirNode>,
    item: Item,
    dest: SrcMeta,
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

    fn take(&self, a: Answer) -> Vec<Parked> {
        let mut inner = self.lock();
        if a.for_all {
            inner.standing = Some(a.choice);
            inner.parked.drain().map(|(_, p)| p).collect()
        } else {
            inner.parked.remove(&a.id).into_iter().collect()
        }
    }
}

/// Runs until `stop` is set (nothing is parked any more) or the run is cancelled.
pub(crate) fn resolve_loop(sh: &Shared, answers: Receiver<Answer>, stop: &AtomicBool) {
    let mut w = Worker {
        id: None,
        sh,
        buf: Vec::new(),
        src_dir: None,
    };
    loop {
        match answers.recv_timeout(Duration::from_millis(50)) {
            Ok(a) => {
                for p in sh.ask.take(a) {
                    if sh.control.is_cancelled() {
                        return;
                    }
                    resolve(&mut w, p, a.choice);
                }
            }
            Err(RecvTimeoutError::Timeout) => {
                if stop.load(Ordering::Acquire) || sh.control.is_cancelled() {
                    return;
                }
            }
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

fn resolve(w: &mut Worker<'_>, p: Parked, choice: Choice) {
    let Parked {
        dir,
        mut item,
        dest,
    } = p;
    let root = w.sh.root();
    let dir_fd = match root.open_node(&dir) {
        Ok(fd) => fd,
        Err(e) => {
            let err = CopyError::new(root.display(&dir.rel).join(&item.name), Op::OpenDir, e);
            return w.finish_entry(&dir, &item, (Outcome::Failed(err), 0));
        }
    };
    let replace = match choice {
        Choice::Overwrite => true,
        Choice::OverwriteIfNewer if item.meta.mtime > dest.mtime => true,
        Choice::OverwriteIfNewer => {
            return w.finish_entry(&dir, &item, (Outcome::Skipped(SkipReason::NotNewer), 0));
        }
        Choice::Skip => {
            return w.finish_entry(&dir, &item, (Outcome::Skipped(SkipReason::Conflict), 0));
        }
        Choice::KeepBoth => {
            let new_name = free_name(dir_fd.as_fd(), &item.name);
            item.from = Some(std::mem::replace(&mut item.name, new_name));
            false
        }
    };
    let fd = Some(dir_fd.as_fd());
    let done = match item.kind {
        ItemKind::File => w.write_file(fd, &dir, &item, replace, false),
        ItemKind::Symlink => w.write_symlink(fd, &dir, &item, replace, None),
    };
    w.finish_entry(&dir, &item, done);
}

/// The first `name (N).ext` not taken in the folder.
fn free_name(dir: std::os::fd::BorrowedFd<'_>, name: &OsStr) -> OsString {
    (1..)
        .map(|n| keep_both_name(name, n))
        .find(|c| rfs::statat(dir, c, AtFlags::SYMLINK_NOFOLLOW).is_err())
        .expect("some number is free")
}
