//! The resolver thread of the `Ask` policy: takes a person's answers and copies
//! (or skips) the entries they settle, while the workers go on with the rest.

use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, BorrowedFd};

use crossbeam_channel::{Receiver, select};

use super::copier::Copier;
use super::files;
use crate::engine::control::ask::Parked;
use crate::engine::control::decide::keep_both_name;
use crate::engine::control::handle::{Answer, Choice};
use crate::engine::plan::item::ItemKind;
use crate::engine::shared::Shared;
use crate::engine::write::Dest;
use crate::engine::write::dest::DestRoot;
use crate::error::Op;
use crate::event::{Outcome, SkipReason};

/// Runs until `stop` disconnects: the run drops it once nothing is parked any
/// more or the run is cancelled. A disconnect wakes it at once: the run ends
/// with it, so a poll would add up to its period to every run that could ask.
pub(crate) fn resolve_loop(sh: &Shared, answers: Receiver<Answer>, stop: Receiver<()>) {
    let mut c = Copier::new(None, sh);
    loop {
        select! {
            recv(answers) -> a => {
                let Ok(a) = a else { return };
                for p in sh.ask.take(a) {
                    if sh.control.is_cancelled() {
                        return;
                    }
                    resolve(&mut c, p, a.choice);
                }
                super::moving::remove_verified(&mut c);
            }
            recv(stop) -> _ => return,
        }
    }
}

fn resolve(c: &mut Copier<'_>, p: Parked, choice: Choice) {
    let Parked {
        dir,
        mut item,
        dest,
    } = p;
    let dir_fd = match c.sh.root().open_node(&dir) {
        Ok(fd) => fd,
        Err(e) => {
            let done = c.fail(&dir, &item, Op::OpenDir, e, true);
            c.finish_entry(&dir, &item, done);
            return;
        }
    };
    let replace = match choice {
        Choice::Overwrite => true,
        Choice::OverwriteIfNewer if c.sh.window().later(item.meta.mtime, dest.mtime) => true,
        Choice::OverwriteIfNewer => {
            c.finish_entry(&dir, &item, (Outcome::Skipped(SkipReason::NotNewer), 0));
            return;
        }
        Choice::Skip => {
            c.finish_entry(&dir, &item, (Outcome::Skipped(SkipReason::Conflict), 0));
            return;
        }
        Choice::KeepBoth => {
            let new_name = free_name(c.sh.root(), dir_fd.as_fd(), &item.name);
            item.from = Some(std::mem::replace(&mut item.name, new_name));
            false
        }
    };
    let fd = Some(dir_fd.as_fd());
    let done = match item.kind {
        ItemKind::File => files::copy_file_as_it_stands(c, fd, &dir, &item, replace, false),
        ItemKind::Symlink => files::copy_symlink(c, fd, &dir, &item, (replace, false), None),
        ItemKind::Special => super::special::copy_special(c, fd, &dir, &item, replace),
    };
    c.finish_entry(&dir, &item, done);
}

/// The first `name (N).ext` not taken in the folder.
fn free_name(root: &DestRoot, dir: BorrowedFd<'_>, name: &OsStr) -> OsString {
    (1..)
        .map(|n| keep_both_name(name, n))
        .find(|c| !matches!(root.stat_at(dir, c), Ok(Some(_))))
        .expect("some number is free")
}
