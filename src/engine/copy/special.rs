//! FIFOs, sockets and device nodes, made again at the destination with their
//! mode, owner and times, as `cp -a` and `rsync -aD` make them. None is ever
//! opened (a FIFO would block the reader): everything is done by name,
//! relative to the destination folder's handle, under a temporary name that
//! takes the node's own only once its metadata is set.

use std::os::fd::BorrowedFd;
use std::sync::Arc;

use rustix::io::Errno;

use super::copier::{Copier, Done, Verdict};
use crate::engine::meta::attrs::special_kind;
use crate::engine::meta::kept::{What, Why};
use crate::engine::plan::item::Item;
use crate::engine::plan::node::DirNode;
use crate::engine::read::Source;
use crate::engine::write::Dest;
use crate::engine::write::dest::DestRoot;
use crate::error::Op;
use crate::event::{Outcome, SkipReason};

/// Copies the special entry `item` of `dir`, or finds it up to date (the
/// same kind of node, for the same device, with the same time).
pub(crate) fn special<S: Source>(
    c: &mut Copier<'_, S, DestRoot>,
    dir_fd: Option<BorrowedFd<'_>>,
    dir: &Arc<DirNode>,
    item: &Item,
) -> Option<Done> {
    let window = c.sh.window();
    let same = |_: BorrowedFd<'_>, d: &crate::engine::meta::attrs::SrcMeta| {
        window.same_content(&item.meta, d)
    };
    let replace = match c.check_dest(dir_fd, dir, item, same) {
        Verdict::Write { replace } => replace,
        Verdict::Done(done) => return Some(done),
        Verdict::Parked => return None,
    };
    Some(copy_special(c, dir_fd, dir, item, replace))
}

/// Makes the node of `item` in `dir`, replacing what is there if `replace`.
pub(crate) fn copy_special<S: Source>(
    c: &mut Copier<'_, S, DestRoot>,
    dir_fd: Option<BorrowedFd<'_>>,
    dir: &Arc<DirNode>,
    item: &Item,
    replace: bool,
) -> Done {
    let Some(dir_fd) = dir_fd.filter(|_| !c.sh.dry_run) else {
        return (Outcome::Copied, 0);
    };
    let sh = c.sh;
    let kind = special_kind(item.meta.file_type()).unwrap_or("special file");
    // A filesystem with no such nodes (exFAT, FAT; probed at the start)
    // holds none of them: said once, as for symlinks there.
    if !sh.caps.keeps.nodes {
        sh.kept.add(What::SpecialFiles, Why::Unsupported);
        return (Outcome::Skipped(SkipReason::NotHeld(kind)), 0);
    }
    let entry = match sh.root().temp_node(dir_fd, dir, &item.meta) {
        Ok(entry) => entry,
        // Making device nodes takes a right (root, with CAP_MKNOD): counted
        // and said once a kind; the copy is not complete (exit code 1).
        Err(e) if e.raw_os_error() == Some(Errno::PERM.raw_os_error()) && is_device(kind) => {
            sh.not_made.add(kind);
            return (Outcome::Skipped(SkipReason::Special(kind)), 0);
        }
        Err(e) => return c.fail(dir, item, Op::Create, e, true),
    };
    let (m, root) = (&item.meta, sh.root());
    // Owner first (a change of owner clears set-id bits), then the mode, then
    // the times.
    let owner = || match sh.meta.owner {
        true => root.set_owner_at(dir_fd, entry.name(), m),
        false => Ok(()),
    };
    let set = owner()
        .and_then(|()| root.set_mode_at(dir_fd, entry.name(), m))
        .and_then(|()| root.set_times_at(dir_fd, entry.name(), m));
    if let Err(e) = set {
        return c.fail(dir, item, Op::SetMetadata, e, true);
    }
    (c.placed(entry.commit(&item.name, replace), dir, item), 0)
}

pub(crate) fn is_device(kind: &str) -> bool {
    kind.ends_with("device")
}
