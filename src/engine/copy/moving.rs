//! `--move`: the source of an entry goes only once its copy is complete
//! under its final name and on the device, and only if it is still the file
//! that was copied. A batch's copies are flushed with one `syncfs` of the
//! destination before any of its sources is removed, so a power cut leaves
//! every file whole in one place at least; a cancel, a kill or a fault
//! leaves the source, and the next run finishes the move. Folders go last,
//! deepest first, once empty and once their copy has its metadata.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustix::fs::AtFlags;
use rustix::io::Errno;

use super::copier::Copier;
use crate::engine::data::same_bytes::{Relation, relate_named};
use crate::engine::meta::attrs::SrcMeta;
use crate::engine::os::sys;
use crate::engine::plan::deferred::{DeferredLink, Named};
use crate::engine::plan::item::Item;
use crate::engine::plan::node::DirNode;
use crate::engine::read::Source;
use crate::engine::shared::Shared;
use crate::engine::write::Dest;
use crate::error::{CopyError, Op};
use crate::event::{Event, Notice};

/// Removes the sources of `moved` (entries of `dir` copied or found up to
/// date in this batch), after their copies are on the device.
pub(crate) fn remove_sources(c: &mut Copier<'_>, dir: &DirNode, moved: &[&Item]) {
    let sh = c.sh;
    if moved.is_empty() || sh.dry_run || sh.control.is_cancelled() {
        return;
    }
    if !on_device(sh, sh.root().display(&dir.rel), "sources") {
        return;
    }
    let src = match c.source_dir(dir) {
        Ok(fd) => fd,
        Err(e) => {
            let path = sh.source.display(&dir.rel);
            return not_moved(sh, CopyError::new(path, Op::RemoveSource, e));
        }
    };
    // The source folder keeps its times while it empties: a run stopped
    // half-way leaves it as it was for the next run to copy from. (One
    // removal at a time, so no batch puts back another's changed times.)
    let _one = sh
        .removing
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let failed = keeping_times(sh, src.as_fd(), &dir.rel, || {
        moved
            .iter()
            .filter_map(|item| {
                let name = item.source_name();
                let e = remove_if_unchanged(src.as_fd(), name, &item.meta, true).err()?;
                Some(CopyError::new(
                    sh.source.display(&dir.rel).join(name),
                    Op::RemoveSource,
                    e,
                ))
            })
            .collect::<Vec<_>>()
    });
    for e in failed {
        not_moved(sh, e);
    }
}

/// `--move --verify`: removes the sources of the copies the copier's last
/// rounds read back the same, one folder's at a time.
pub(crate) fn remove_verified(c: &mut Copier<'_>) {
    let mut verified = std::mem::take(&mut c.verified);
    verified.sort_by(|a, b| a.0.rel.cmp(&b.0.rel));
    for group in verified.chunk_by(|a, b| Arc::ptr_eq(&a.0, &b.0)) {
        let items: Vec<&Item> = group.iter().map(|(_, item)| item).collect();
        remove_sources(c, &group[0].0, &items);
    }
}

/// `--move --verify`: a destination file up to date by size and time lets
/// its source go only if both read the same (nothing was copied to check);
/// one that differs keeps its source, said.
pub(crate) fn same_bytes(
    c: &mut Copier<'_>,
    dir_fd: Option<BorrowedFd<'_>>,
    dir: &DirNode,
    item: &Item,
) -> bool {
    let sh = c.sh;
    let Some(dest) = dir_fd.filter(|_| !sh.dry_run) else {
        return true;
    };
    let compared = c.source_dir(dir).and_then(|src| {
        let related = relate_named((src.as_fd(), item.source_name()), (dest, &item.name))?;
        Ok(related == Relation::Same)
    });
    let why = match compared {
        Ok(true) => return true,
        Ok(false) => io::Error::other(
            "its copy is up to date by size and time but reads differently: kept in the \
             source (--verify)",
        ),
        Err(e) => e,
    };
    let path = sh.source.display(&dir.rel).join(item.source_name());
    not_moved(sh, CopyError::new(path, Op::RemoveSource, why));
    false
}

/// Within one filesystem a file is moved by renaming it (no byte copied,
/// every attribute kept, atomic: it is in one place at every moment), when
/// nothing is in the way at the destination. `None`: copy it instead.
pub(crate) fn rename_within(
    c: &mut Copier<'_>,
    dir_fd: Option<BorrowedFd<'_>>,
    dir: &DirNode,
    item: &Item,
    replace: bool,
) -> Option<super::copier::Done> {
    let sh = c.sh;
    let dir_fd = dir_fd.filter(|_| sh.moving && !sh.dry_run && !replace)?;
    // A renamed file keeps its inode, so its other names (renamed with
    // their folders, or linked to it at the end) stay one file.
    if Some(item.meta.dev) != sh.dest_dev {
        return None;
    }
    let src = c.source_dir(dir).ok()?;
    let flags = rustix::fs::RenameFlags::NOREPLACE;
    let to = item.name.as_os_str();
    // The source folder keeps its times, as for a removal.
    let _one = sh
        .removing
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let renamed = keeping_times(sh, src.as_fd(), &dir.rel, || {
        sys::renameat_with(src.as_fd(), item.source_name(), dir_fd, to, flags)
    });
    match renamed {
        Ok(()) => Some((crate::event::Outcome::Copied, 0)),
        // A hard-linked file copied instead would part from its names that
        // moved whole with their folders: it stays, for the next run.
        Err(e) if item.meta.nlink > 1 && e != Errno::XDEV => {
            Some(c.fail(dir, item, Op::Rename, e.into(), true))
        }
        // Another filesystem after all (a mount inside), or no such rename
        // here: copied the ordinary way, which reports its own failures.
        Err(_) => None,
    }
}

/// `--move` within one filesystem: renames the source folder `name` of
/// `parent` whole to its place in the open destination folder `dest`, when
/// nothing is there; `false`: it is to be made and filled as a copy's.
pub(crate) fn rename_folder<S: Source, D: Dest>(
    sh: &Shared<S, D>,
    parent: &DirNode,
    name: &OsStr,
    meta: &SrcMeta,
    dest: BorrowedFd<'_>,
) -> bool {
    if !sh.whole_folders || sh.dry_run || Some(meta.dev) != sh.dest_dev {
        return false;
    }
    let Ok(src) = sh.source.open_dir(&parent.rel) else {
        return false;
    };
    let Some(src) = S::local_fd(&src) else {
        return false;
    };
    let _one = sh
        .removing
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let flags = rustix::fs::RenameFlags::NOREPLACE;
    keeping_times(sh, src, &parent.rel, || {
        sys::renameat_with(src, name, dest, name, flags)
    })
    .is_ok()
}

/// Removes `name` from the source folder `dir` if it is still the entry the
/// copy was made from: the same inode, size, mtime and (with `ctime`) ctime.
/// A second name of a hard-linked file is not held to its ctime: removing
/// the first name (this run's own doing) moved it.
fn remove_if_unchanged(
    dir: std::os::fd::BorrowedFd<'_>,
    name: &OsStr,
    was: &SrcMeta,
    ctime: bool,
) -> io::Result<()> {
    let now = match sys::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => SrcMeta::from(&st),
        // Renamed into place already (`rename_within`).
        Err(Errno::NOENT) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let changed = match ctime {
        true => was.changed_since(&now),
        false => (was.size, was.mtime) != (now.size, now.mtime),
    };
    if now.ino != was.ino || changed {
        return Err(io::Error::other(
            "changed since it was copied: kept in the source (the next run copies it again)",
        ));
    }
    match sys::unlinkat(dir, name, AtFlags::empty()) {
        Ok(()) | Err(Errno::NOENT) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Removes the names of multiply-linked files: each file's names go
/// together, once all are linked in the destination (`links`: each deferred
/// link with whether it was made or found) and the first holds the file
/// there, and once that is on the device. A file with a name that failed
/// keeps all its names, so the next run links them as one file again.
pub(crate) fn remove_linked(
    sh: &Shared,
    firsts: &[(Named, SrcMeta)],
    links: &[(&DeferredLink, bool)],
) {
    if firsts.is_empty() || sh.dry_run || sh.control.is_cancelled() {
        return;
    }
    if !on_device(sh, sh.root().display(Path::new("")), "sources") {
        return;
    }
    let key = |(dir, name): &(Arc<DirNode>, OsString)| (dir.rel.to_path_buf(), name.clone());
    let mut groups: HashMap<_, Vec<(&DeferredLink, bool)>> = HashMap::new();
    for (link, ok) in links {
        groups
            .entry(key(&link.target))
            .or_default()
            .push((link, *ok));
    }
    let _one = sh
        .removing
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    for (first, meta) in firsts {
        let group = groups.remove(&key(first)).unwrap_or_default();
        let (dir, name) = (&first.0, first.1.as_os_str());
        let in_place = sh
            .root()
            .open_node(dir)
            .and_then(|fd| Ok(sys::statat(&fd, name, AtFlags::SYMLINK_NOFOLLOW)?))
            .is_ok_and(|st| sh.same_content(&SrcMeta::from(&st), meta));
        // Names the run did not reach (a folder that failed) would be
        // copied as separate files next time: all stay. In a clean run the
        // missing names are outside what was copied, as for `mv`.
        let unreached = (1 + group.len() as u64) < meta.nlink
            && sh
                .something_failed
                .load(std::sync::atomic::Ordering::Relaxed);
        if !in_place || unreached || group.iter().any(|(_, ok)| !ok) {
            continue;
        }
        let mut names = vec![(dir, name, meta, true)];
        names.extend(
            group
                .iter()
                .map(|(l, _)| (&l.link.0, l.link.1.as_os_str(), &l.meta, false)),
        );
        for (dir, name, was, ctime) in names {
            let removed = sh.source.open_dir(&dir.rel).and_then(|fd| {
                keeping_times(sh, fd.as_fd(), &dir.rel, || {
                    remove_if_unchanged(fd.as_fd(), name, was, ctime)
                })
            });
            if let Err(e) = removed {
                let path = sh.source.display(&dir.rel).join(name);
                not_moved(sh, CopyError::new(path, Op::RemoveSource, e));
                // The rest of its names stay with it.
                break;
            }
        }
    }
}

/// Removes the source folders whose entries all went, deepest first, once
/// the folders' copies (with their metadata) are on the device; a folder
/// that still holds something (a failure, an excluded entry) stays.
pub(crate) fn remove_folders<'a>(
    sh: &Shared,
    source: &Path,
    dirs: impl Iterator<Item = &'a DirNode>,
) {
    if sh.dry_run || sh.control.is_cancelled() {
        return;
    }
    if !on_device(sh, sh.root().display(Path::new("")), "source folders") {
        return;
    }
    for dir in dirs {
        let removed = match (dir.rel.parent(), dir.rel.file_name()) {
            (Some(parent), Some(name)) => sh.source.open_dir(parent).and_then(|fd| {
                keeping_times(sh, fd.as_fd(), parent, || {
                    sys::unlinkat(&fd, name, AtFlags::REMOVEDIR)
                })
                .map_err(Into::into)
            }),
            // The source folder itself, as `mv` takes it away.
            _ => crate::retry::interrupted(|| std::fs::remove_dir(source)),
        };
        match removed {
            Ok(()) => {}
            Err(e) if matches!(e.raw_os_error(), Some(n) if n == Errno::NOTEMPTY.raw_os_error() || n == Errno::EXIST.raw_os_error() || n == Errno::NOENT.raw_os_error()) =>
                {}
            Err(e) => not_moved(
                sh,
                CopyError::new(sh.source.display(&dir.rel), Op::RemoveSource, e),
            ),
        }
    }
}

/// Runs a removal in the source folder `dir` (`rel`) and puts the folder's
/// times back; one that cannot be put back is said (the next run would copy
/// the folder with the time the removal gave it).
fn keeping_times<T, S: Source, D: Dest>(
    sh: &Shared<S, D>,
    dir: BorrowedFd<'_>,
    rel: &Path,
    remove: impl FnOnce() -> T,
) -> T {
    let (done, put_back) = crate::engine::meta::attrs::keeping_times(dir, remove);
    if let Err(e) = put_back {
        let why = io::Error::other(format!(
            "the source folder's times could not be put back: {e}"
        ));
        not_moved(
            sh,
            CopyError::new(sh.source.display(rel), Op::RemoveSource, why),
        );
    }
    done
}

/// Whether what this run copied is on the device (one `syncfs` of the
/// destination); if not, says that the sources of `what` at `path` stay.
fn on_device(sh: &Shared, path: PathBuf, what: &str) -> bool {
    match sys::syncfs(sh.root().root_fd()) {
        Ok(()) => true,
        Err(e) => {
            let why = format!("the copies are not on the device ({e}): the {what} are kept");
            not_moved(
                sh,
                CopyError::new(path, Op::RemoveSource, io::Error::other(why)),
            );
            false
        }
    }
}

fn not_moved<S: Source, D: Dest>(sh: &Shared<S, D>, e: CopyError) {
    sh.send(Event::Notice(Notice::NotMoved(e)));
}
