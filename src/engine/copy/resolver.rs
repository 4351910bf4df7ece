//! The resolver thread of the `Ask` policy: takes a person's answers and copies
//! (or skips) the entries they settle, while the workers go on with the rest.

use std::ffi::{OsStr, OsString};

use crossbeam_channel::{Receiver, select};

use super::copier::Copier;
use super::pair::Writes;
use crate::engine::control::ask::Parked;
use crate::engine::control::decide::keep_both_name;
use crate::engine::control::handle::{Answer, Choice};
use crate::engine::read::Source;
use crate::engine::shared::Shared;
use crate::engine::write::Dest;
use crate::error::Op;
use crate::event::{Outcome, SkipReason};

/// Runs until `stop` disconnects: the run drops it once nothing is parked any
/// more or the run is cancelled. A disconnect wakes it at once: the run ends
/// with it, so a poll would add up to its period to every run that could ask.
pub(crate) fn resolve_loop<S: Source, D: Writes<S>>(
    sh: &Shared<S, D>,
    answers: Receiver<Answer>,
    stop: Receiver<()>,
) {
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
                D::catch_up(&mut c);
            }
            recv(stop) -> _ => return,
        }
    }
}

fn resolve<S: Source, D: Writes<S>>(c: &mut Copier<'_, S, D>, p: Parked, choice: Choice) {
    let Parked {
        dir,
        mut item,
        dest,
    } = p;
    let dir_fd = match c.sh.root().open_node(&dir) {
        Ok(fd) => fd,
        Err(e) => {
            let done = c.fail(&dir, &item, Op::OpenDir, e, true);
            D::report(c, &dir, &item, done);
            return;
        }
    };
    let replace = match choice {
        Choice::Overwrite => true,
        Choice::OverwriteIfNewer if c.sh.window().later(item.meta.mtime, dest.mtime) => true,
        Choice::OverwriteIfNewer => {
            D::report(c, &dir, &item, (Outcome::Skipped(SkipReason::NotNewer), 0));
            return;
        }
        Choice::Skip => {
            D::report(c, &dir, &item, (Outcome::Skipped(SkipReason::Conflict), 0));
            return;
        }
        Choice::KeepBoth => {
            let new_name = free_name(c.sh.root(), D::dir(&dir_fd), &item.name);
            item.from = Some(std::mem::replace(&mut item.name, new_name));
            false
        }
    };
    let done = D::copy_decided(c, D::dir(&dir_fd), &dir, &item, replace);
    D::report(c, &dir, &item, done);
}

/// The first `name (N).ext` not taken in the folder.
fn free_name<D: Dest>(root: &D, dir: D::Dir<'_>, name: &OsStr) -> OsString {
    (1..)
        .map(|n| keep_both_name(name, n))
        .find(|c| !matches!(root.stat_at(dir, c), Ok(Some(_))))
        .expect("some number is free")
}
