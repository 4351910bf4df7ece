//! `--mirror`: once the copy is complete, what DEST holds that SOURCE does
//! not goes, and so do folders in the way of the source's files (their
//! files are copied after). The deletion is the one step a copy cannot take
//! back, so it is guarded more than anything else:
//!
//! - nothing goes if anything went wrong before (an entry failed or was
//!   left, a folder could not be read, a fatal error, an interrupt), nor if
//!   the plan could not be made whole (a destination folder that cannot be
//!   listed): the reason is said, the exit code is 1;
//! - the whole plan is made before the first deletion, so `--max-delete`,
//!   an empty source, a dry run and a person's confirmation all see it;
//! - every step goes through folder handles without following a symlink,
//!   and nothing on another filesystem (a mount point) is entered or
//!   removed;
//! - `--backup-dir` renames instead of deleting, so the run can be undone;
//! - entries matched by `--exclude` and convoy's own temporaries stay.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode};
use rustix::io::Errno;

use super::copier::Copier;
use super::files;
use crate::engine::control::ask::Parked;
use crate::engine::meta::attrs::keeping_times;
use crate::engine::os::beneath::DIR_FLAGS;
use crate::engine::os::sys;
use crate::engine::plan::filter::Filter;
use crate::engine::plan::item::ItemKind;
use crate::engine::read::Source;
use crate::engine::shared::Shared;
use crate::engine::write::Dest;
use crate::error::{CopyError, Op};
use crate::event::{Doomed, EntryKind, Event, Notice, Outcome, PrunePlan, SkipReason};

/// The deletion phase of a mirror, after the copy and its folders' metadata.
pub(crate) fn prune(sh: &Shared, filter: &Filter, max_delete: Option<u64>, confirm: bool) {
    let in_the_way = sh.in_the_way.take();
    let held = |why: String| {
        sh.send(Event::Notice(Notice::MirrorHeld(why)));
        leave(sh, &in_the_way);
    };
    if sh.control.is_cancelled() {
        return held("the run was interrupted".into());
    }
    if let Some(why) = sh.trouble.first() {
        return held(format!("something went wrong before: {why}"));
    }
    let Some(root) = &sh.root else {
        // A dry run into a destination that does not exist: nothing to delete.
        return;
    };
    let mut planner = Planner {
        sh,
        filter,
        dev: match sys::fstat(root.root_fd()) {
            Ok(st) => st.st_dev,
            Err(e) => {
                return held(format!(
                    "cannot read the destination: {}",
                    io::Error::from(e)
                ));
            }
        },
        doomed: Vec::new(),
        not_crossed: Vec::new(),
        keep: sh.backup_rel.clone(),
    };
    let mut planned = planner.walk(root.root_fd(), Path::new(""));
    for p in &in_the_way {
        let rel = p.dir.rel.join(&p.item.name);
        let found = root
            .open_node(&p.dir)
            .and_then(|fd| planner.doom(fd.as_fd(), &p.item.name, &rel));
        if let Err(e) = found {
            planned = Err((rel, e));
        }
    }
    let Planner {
        mut doomed,
        not_crossed,
        ..
    } = planner;
    doomed.sort_by(|a, b| a.path.cmp(&b.path));
    if let Err((path, e)) = planned {
        return held(format!(
            "{}: cannot list it: {e}",
            root.display(&path).display()
        ));
    }
    for path in not_crossed {
        sh.send(Event::Notice(Notice::NotCrossed(root.display(&path))));
    }
    let entries: u64 = doomed.iter().map(|d| d.entries).sum();
    let bytes: u64 = doomed.iter().map(|d| d.bytes).sum();
    if let Some(max) = max_delete.filter(|max| entries > *max) {
        return held(format!(
            "{entries} entries would be deleted, more than --max-delete {max}"
        ));
    }
    if max_delete.is_none() && entries > 0 && source_is_empty(sh, filter) {
        return held(format!(
            "the source lists empty and {entries} entries would be deleted; if that is \
             meant, give --max-delete {entries}"
        ));
    }
    let plan = PrunePlan {
        doomed: doomed
            .iter()
            .map(|d| Doomed {
                path: root.display(&d.path),
                ..d.clone()
            })
            .collect(),
        entries,
        bytes,
        backup: sh.backup.as_ref().map(|b| b.path().to_path_buf()),
        awaiting: confirm && entries > 0 && !sh.dry_run,
    };
    let awaiting = plan.awaiting;
    sh.send(Event::Prune(plan));
    if sh.dry_run {
        let mut c = Copier::new(None, sh);
        for p in &in_the_way {
            c.finish_entry(&p.dir, &p.item, (Outcome::Copied, 0));
        }
        return;
    }
    if awaiting {
        match sh.control.wait_for_consent() {
            Some(true) => {}
            Some(false) => return held("you chose to keep them".into()),
            None => return held("the run was interrupted".into()),
        }
    }
    let mut gone = std::collections::HashSet::new();
    for d in doomed {
        if sh.control.is_cancelled() {
            break;
        }
        let (backup, error) = match delete(sh, &d.path) {
            Ok(backup) => {
                gone.insert(d.path.clone());
                (backup, None)
            }
            Err((op, e)) => (None, Some(CopyError::new(root.display(&d.path), op, e))),
        };
        sh.send(Event::Pruned {
            doomed: Doomed {
                path: root.display(&d.path),
                ..d
            },
            backup,
            error,
        });
    }
    let mut c = Copier::new(None, sh);
    for p in in_the_way {
        let rel = p.dir.rel.join(&p.item.name);
        if !gone.contains(&rel) || sh.control.is_cancelled() {
            c.finish_entry(
                &p.dir,
                &p.item,
                (Outcome::Skipped(SkipReason::DestIsDir), 0),
            );
            continue;
        }
        let done = match root.open_node(&p.dir) {
            Ok(fd) => keeping_times(fd.as_fd(), || copy(&mut c, fd.as_fd(), &p)).0,
            Err(e) => c.fail(&p.dir, &p.item, Op::OpenDir, e, true),
        };
        c.finish_entry(&p.dir, &p.item, done);
    }
    c.verify_round();
}

/// Copies an entry a folder was in the way of, now that it is gone.
fn copy(c: &mut Copier<'_>, fd: BorrowedFd<'_>, p: &Parked) -> super::copier::Done {
    let fd = Some(fd);
    match p.item.kind {
        ItemKind::File => files::copy_file_as_it_stands(c, fd, &p.dir, &p.item, false, false),
        ItemKind::Symlink => files::copy_symlink(c, fd, &p.dir, &p.item, (false, false), None),
        ItemKind::Special => super::special::copy_special(c, fd, &p.dir, &p.item, false),
    }
}

/// Entries a folder was in the way of, left as they are: said as skipped.
fn leave(sh: &Shared, in_the_way: &[Parked]) {
    let mut c = Copier::new(None, sh);
    for p in in_the_way {
        c.finish_entry(
            &p.dir,
            &p.item,
            (Outcome::Skipped(SkipReason::DestIsDir), 0),
        );
    }
}

/// Whether the source (as filtered) has no entry at all: a mirror of it
/// would empty DEST, the mark of a wrong path or an unmounted disk.
fn source_is_empty(sh: &Shared, filter: &Filter) -> bool {
    let Ok(fd) = sh.source.open_dir(Path::new("")) else {
        return false;
    };
    let Ok(dir) = sys::read_dir(&fd) else {
        return false;
    };
    for entry in dir {
        let Ok(entry) = entry else { return false };
        let name = entry.file_name().to_bytes();
        if name == b"." || name == b".." {
            continue;
        }
        let is_dir = entry.file_type() == FileType::Directory;
        if filter.takes(Path::new(OsStr::from_bytes(name)), is_dir) {
            return false;
        }
    }
    true
}

/// Finds what goes: entries of DEST the source does not have.
struct Planner<'a> {
    sh: &'a Shared,
    filter: &'a Filter,
    /// DEST's filesystem: nothing on another is entered or removed.
    dev: u64,
    doomed: Vec<Doomed>,
    not_crossed: Vec<PathBuf>,
    /// The backup folder, when it is inside DEST (relative to it).
    keep: Option<PathBuf>,
}

type Failed = (PathBuf, io::Error);

impl Planner<'_> {
    /// Plans the folder `fd` of DEST at `rel`, whose source folder exists.
    fn walk(&mut self, fd: BorrowedFd<'_>, rel: &Path) -> Result<(), Failed> {
        let at = |e: io::Error| (rel.to_path_buf(), e);
        let source = self.source_entries(rel).map_err(at)?;
        let names = list(fd).map_err(at)?;
        for (name, ft) in names {
            let child = rel.join(&name);
            if crate::engine::write::temp_name::owner(&name).is_some()
                || crate::engine::write::resume::is_partial(&name)
                || self.keep.as_deref() == Some(child.as_path())
            {
                continue;
            }
            match source.get(&name) {
                // The copy went into it: so does the plan, if it may.
                Some(true) if ft == FileType::Directory && self.filter.takes(&child, true) => {
                    let sub = match sys::openat(fd, name.as_os_str(), DIR_FLAGS, Mode::empty()) {
                        Ok(sub) => sub,
                        // Gone or turned into something else since it was listed.
                        Err(Errno::NOENT | Errno::NOTDIR | Errno::LOOP) => continue,
                        Err(e) => return Err((child, e.into())),
                    };
                    let st = sys::fstat(&sub).map_err(|e| (child.clone(), e.into()))?;
                    if st.st_dev == self.dev {
                        self.walk(sub.as_fd(), &child)?;
                    }
                }
                // Replaced by the copy, or a folder in its way (`InTheWay`).
                Some(_) => {}
                None if self.filter.prunes(&child) => {
                    self.doom(fd, &name, &child)
                        .map_err(|e| (child.clone(), e))?;
                }
                None => {}
            }
        }
        Ok(())
    }

    /// The names in the source folder at `rel`, and whether each is a folder
    /// (what `-L` makes of a symlink counted).
    fn source_entries(&self, rel: &Path) -> io::Result<HashMap<OsString, bool>> {
        let fd = self.sh.source.open_dir(rel)?;
        let mut out = HashMap::new();
        for (name, ft) in list(fd.as_fd())? {
            let is_dir = match ft {
                FileType::Directory => true,
                FileType::Symlink if self.sh.dereference => self
                    .sh
                    .source
                    .stat_at(fd.as_fd(), &name)
                    .is_ok_and(|m| m.is_dir()),
                _ => false,
            };
            out.insert(name, is_dir);
        }
        Ok(out)
    }

    /// Puts `name` of `dir` (at `rel`) in the plan with what it holds, or
    /// among the mount points when it is or holds one; whether it is
    /// planned (`false`: gone meanwhile, or not crossed).
    fn doom(&mut self, dir: BorrowedFd<'_>, name: &OsStr, rel: &Path) -> io::Result<bool> {
        let st = match sys::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            Err(Errno::NOENT) => return Ok(false),
            Err(e) => return Err(e.into()),
        };
        let ft = FileType::from_raw_mode(st.st_mode);
        let mut d = Doomed {
            path: rel.to_path_buf(),
            kind: kind_of(ft),
            entries: 1,
            bytes: if ft == FileType::RegularFile {
                st.st_size as u64
            } else {
                0
            },
        };
        if ft == FileType::Directory {
            if st.st_dev != self.dev {
                self.not_crossed.push(rel.to_path_buf());
                return Ok(false);
            }
            let sub = sys::openat(dir, name, DIR_FLAGS, Mode::empty())?;
            if let Some(mount) = self.count(sub, rel, &mut d)? {
                self.not_crossed.push(mount);
                return Ok(false);
            }
        }
        self.doomed.push(d);
        Ok(true)
    }

    /// Counts what the folder `fd` at `rel` holds into `d`; the first mount
    /// point found in it, if any.
    fn count(&self, fd: OwnedFd, rel: &Path, d: &mut Doomed) -> io::Result<Option<PathBuf>> {
        for (name, ft) in list(fd.as_fd())? {
            d.entries += 1;
            let child = rel.join(&name);
            match ft {
                FileType::Directory => {
                    let sub = sys::openat(&fd, name.as_os_str(), DIR_FLAGS, Mode::empty())?;
                    if sys::fstat(&sub)?.st_dev != self.dev {
                        return Ok(Some(child));
                    }
                    if let Some(mount) = self.count(sub, &child, d)? {
                        return Ok(Some(mount));
                    }
                }
                FileType::RegularFile => {
                    let st = sys::statat(&fd, name.as_os_str(), AtFlags::SYMLINK_NOFOLLOW)?;
                    d.bytes += st.st_size as u64;
                }
                _ => {}
            }
        }
        Ok(None)
    }
}

fn kind_of(ft: FileType) -> EntryKind {
    match ft {
        FileType::Directory => EntryKind::Dir,
        FileType::RegularFile => EntryKind::File,
        FileType::Symlink => EntryKind::Symlink,
        _ => EntryKind::Special,
    }
}

/// The entries of an open folder with their types (looked up where the
/// filesystem does not say).
fn list(fd: BorrowedFd<'_>) -> io::Result<Vec<(OsString, FileType)>> {
    let mut out = Vec::new();
    for entry in sys::read_dir(fd)? {
        let entry = entry?;
        let name = entry.file_name().to_bytes();
        if name == b"." || name == b".." {
            continue;
        }
        let name = OsStr::from_bytes(name).to_os_string();
        let ft = match entry.file_type() {
            FileType::Unknown => {
                let st = sys::statat(fd, name.as_os_str(), AtFlags::SYMLINK_NOFOLLOW)?;
                FileType::from_raw_mode(st.st_mode)
            }
            ft => ft,
        };
        out.push((name, ft));
    }
    Ok(out)
}

/// Deletes the planned entry at `rel` (or moves it into the backup folder),
/// its folder's times kept; where the backup went.
fn delete(sh: &Shared, rel: &Path) -> Result<Option<PathBuf>, (Op, io::Error)> {
    let root = sh.root();
    let name = rel.file_name().unwrap_or_default();
    let parent = root
        .open_dir(rel.parent().unwrap_or(Path::new("")))
        .map_err(|e| (Op::OpenDir, e))?;
    let dev = sys::fstat(root.root_fd())
        .map_err(|e| (Op::Stat, e.into()))?
        .st_dev;
    writable(parent.as_fd(), || match &sh.backup {
        Some(b) => b
            .take(parent.as_fd(), name, rel)
            .map(Some)
            .map_err(|e| (Op::Backup, e)),
        None => remove(parent.as_fd(), name, dev)
            .map(|()| None)
            .map_err(|e| (Op::Delete, e)),
    })
}

/// Does `change` in the folder `dir`, which may be read-only as its source
/// is (a mirror gives folders their source's mode), and puts its mode and
/// times back.
fn writable<T>(dir: BorrowedFd<'_>, change: impl FnOnce() -> T) -> T {
    let mode = sys::fstat(dir).ok().map(|st| st.st_mode & 0o7777);
    let opened = mode.filter(|m| m & 0o300 != 0o300);
    if let Some(m) = opened {
        let _ = sys::fchmod(dir, Mode::from_raw_mode(m | 0o300));
    }
    let done = keeping_times(dir, change).0;
    if let Some(m) = opened {
        let _ = sys::fchmod(dir, Mode::from_raw_mode(m));
    }
    done
}

/// Removes `name` of `dir` and all it holds, never through a symlink and
/// never into another filesystem than `dev`.
fn remove(dir: BorrowedFd<'_>, name: &OsStr, dev: u64) -> io::Result<()> {
    match sys::unlinkat(dir, name, AtFlags::empty()) {
        Ok(()) | Err(Errno::NOENT) => return Ok(()),
        Err(Errno::ISDIR | Errno::PERM) => {}
        Err(e) => return Err(e.into()),
    }
    let sub = match sys::openat(dir, name, DIR_FLAGS, Mode::empty()) {
        Ok(sub) => sub,
        Err(Errno::NOENT) => return Ok(()),
        // Not a folder after all: why the unlink was refused is the reason.
        Err(Errno::NOTDIR | Errno::LOOP) => {
            return sys::unlinkat(dir, name, AtFlags::empty()).map_err(Into::into);
        }
        Err(e) => return Err(e.into()),
    };
    let st = sys::fstat(&sub)?;
    if st.st_dev != dev {
        return Err(io::Error::other(
            "it is a mount point; a mirror does not cross it",
        ));
    }
    writable(sub.as_fd(), || -> io::Result<()> {
        for (child, _) in list(sub.as_fd())? {
            remove(sub.as_fd(), &child, dev)?;
        }
        Ok(())
    })?;
    match sys::unlinkat(dir, name, AtFlags::REMOVEDIR) {
        Ok(()) | Err(Errno::NOENT) => Ok(()),
        Err(e) => Err(e.into()),
    }
}
