//! After the workers: second names of hard-linked files, then folder modes and
//! times, deepest first, since writing into a folder changes its mtime.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use rustix::io::Errno;

use super::copier::Copier;
use super::files;
use crate::config::ConflictPolicy;
use crate::engine::control::decide::Decision;
use crate::engine::meta::attrs::{Attrs, SrcMeta};
use crate::engine::meta::kept::{What, Why};
use crate::engine::meta::xattrs::{At, Wanted, XattrBuf};
use crate::engine::plan::deferred::{DeferredLink, Planned};
use crate::engine::plan::item::{Item, ItemKind};
use crate::engine::plan::node::DirNode;
use crate::engine::read::Source;
use crate::engine::shared::Shared;
use crate::engine::write::Dest;
use crate::engine::write::dest::DestRoot;
use crate::engine::write::resume;
use crate::error::{CopyError, Op};
use crate::event::{Event, Notice, Outcome, SkipReason, Unplaced};

pub(crate) fn finish(sh: &Shared, planned: Planned) {
    place_staged(sh, &planned);
    if !sh.control.is_cancelled() {
        let mut moved = Vec::new();
        for link in &planned.links {
            let outcome = if sh.dry_run {
                Outcome::Copied
            } else {
                hard_link(sh, link)
            };
            if sh.moving {
                moved.push((link, matches!(outcome, Outcome::Copied | Outcome::UpToDate)));
            }
            sh.link_done(link, outcome);
        }
        super::moving::remove_linked(sh, &planned.first_names, &moved);
    }
    let finished = folders(sh, &planned);
    if sh.moving {
        // Deepest first; the source folder itself only when its contents
        // were what was moved (never the parent of several sources, which
        // is not in `finished`).
        let root = sh.source.display(std::path::Path::new(""));
        super::moving::remove_folders(sh, &root, finished.into_iter());
    }
    end(sh);
}

/// The finish of a copy from a source that shows no hard links and moves
/// nothing (another machine's): staged folders placed, folders given their
/// metadata, what is left said.
pub(crate) fn finish_from<S: Source>(sh: &Shared<S, DestRoot>, planned: Planned) {
    place_staged(sh, &planned);
    folders(sh, &planned);
    end(sh);
}

fn place_staged<S: Source>(sh: &Shared<S, DestRoot>, planned: &Planned) {
    // Folders still under a temporary name: cancelled (or stopped by a fatal
    // error) before their last file. What they hold is complete, so it goes in
    // place like everything else that was copied.
    if let Some(root) = &sh.root {
        for (dir, _) in &planned.dirs {
            if dir.stage.as_ref().is_some_and(|s| !s.is_placed()) {
                root.place(dir);
            }
        }
    }
}

/// Partials swept, then every folder's metadata, deepest first: the folders
/// that got theirs.
fn folders<'p, S: Source>(sh: &Shared<S, DestRoot>, planned: &'p Planned) -> Vec<&'p DirNode> {
    // Partials no copy of this run took up belong to sources that changed or
    // went: a run that finished its folders removes them (a cancelled one
    // may not have reached their files).
    if !sh.control.is_cancelled()
        && let Some(root) = &sh.root
    {
        for (dir, _) in planned
            .dirs
            .iter()
            .filter(|(d, _)| d.partials.load(Ordering::Relaxed))
        {
            let removed = root
                .open_node(dir)
                .and_then(|fd| resume::remove_stale(fd.as_fd()));
            let failed = match removed {
                Ok(failed) => failed,
                Err(e) => vec![(OsString::new(), e)],
            };
            for (name, e) in failed {
                let path = root.display(&dir.rel.join(&name));
                sh.send(Event::Notice(Notice::Sweep(CopyError::new(
                    path,
                    Op::RemoveTemp,
                    e,
                ))));
            }
        }
    }
    // Even after a cancel: folders must not stay private (0700) and misdated.
    let mut buf = XattrBuf::default();
    // Folders whose copies have their metadata: a move may take their
    // sources away once empty.
    let mut finished: Vec<&DirNode> = Vec::new();
    for (dir, meta) in planned.dirs.iter().rev() {
        if dir.is_root() && sh.dest_keeps_own_metadata {
            continue;
        }
        let outcome = if sh.dry_run {
            Outcome::Copied
        } else {
            let root = sh.root();
            let display = || root.display(&dir.rel);
            match dir
                .stage
                .as_ref()
                .and_then(|s| s.take_failure().map(|e| (s, e)))
            {
                Some((stage, e)) => {
                    // What was reported copied into it is not there after all.
                    let (files, bytes, symlinks) = stage.written();
                    if files + symlinks > 0 {
                        let path = display();
                        let gone = Unplaced {
                            path,
                            files,
                            bytes,
                            symlinks,
                        };
                        sh.send(Event::Notice(Notice::Unplaced(gone)));
                    }
                    let name = dir.rel.file_name().unwrap_or_default();
                    Outcome::Failed(root.name_error(display(), name, Op::Rename, e))
                }
                None => match finish_dir(sh, dir, meta, &mut buf) {
                    Ok(()) => {
                        sh.count_unkept();
                        Outcome::Copied
                    }
                    Err((op, e)) => Outcome::Failed(CopyError::new(display(), op, e)),
                },
            }
        };
        if matches!(outcome, Outcome::Copied) {
            finished.push(dir);
        }
        sh.folder_done(dir, outcome);
    }
    finished
}

fn end<S: Source>(sh: &Shared<S, DestRoot>) {
    if let Some(root) = &sh.root {
        for e in root.take_left_behind() {
            sh.send(Event::Notice(Notice::LeftBehind(e)));
        }
    }
    sh.say_counted();
}

/// A folder's owner, mode, attributes (from its source) and times; with
/// `--fsync`, its entries flushed to the device.
fn finish_dir<S: Source>(
    sh: &Shared<S, DestRoot>,
    dir: &DirNode,
    meta: &SrcMeta,
    buf: &mut XattrBuf,
) -> Result<(), (Op, io::Error)> {
    let fd = sh.root().open_node(dir).map_err(|e| (Op::SetMetadata, e))?;
    // A source folder gone since the walk still gives its mode and times.
    let src = sh.source.open_dir(&dir.rel);
    let mut policy = sh.meta;
    if src.as_ref().map_or(true, |s| S::local_fd(s).is_none()) {
        policy.attrs = Wanted {
            xattrs: false,
            acls: false,
            ..policy.attrs
        };
    }
    let from = src
        .as_ref()
        .ok()
        .and_then(S::local_fd)
        .unwrap_or(fd.as_fd());
    let attrs = Attrs {
        from: At::Fd(from),
        buf,
        lost: &sh.kept,
    };
    policy
        .apply_dir(fd.as_fd(), meta, attrs)
        .map_err(|e| (Op::SetMetadata, e))?;
    if sh.fsync {
        sh.root().sync(fd.as_fd()).map_err(|e| (Op::Flush, e))?;
    }
    Ok(())
}

fn hard_link(sh: &Shared, link: &DeferredLink) -> Outcome {
    let root = sh.root();
    let (tdir, tname) = (&link.target.0, &link.target.1);
    let (ldir, lname) = (&link.link.0, &link.link.1);
    let fail = |op, e: io::Error| {
        let path = root.display(&ldir.rel).join(lname);
        Outcome::Failed(root.name_error(path, lname, op, e))
    };
    let (tfd, lfd) = match (root.open_node(tdir), root.open_node(ldir)) {
        (Ok(t), Ok(l)) => (t, l),
        (Err(e), _) | (_, Err(e)) => return fail(Op::OpenDir, e),
    };
    // The first name must hold this file as the source has it (copied by
    // this run or up to date): linking to anything else there, such as an
    // old version the copy failed to replace, would give the second name
    // the wrong content.
    let target = match root.stat_at(tfd.as_fd(), tname) {
        Ok(Some(st)) if sh.same_content(&st, &link.meta) => st,
        Ok(None) => {
            let why = "its first name was not copied (it is not there)";
            return fail(Op::HardLink, io::Error::other(why));
        }
        Ok(Some(_)) => {
            let why = "its first name was not copied";
            return fail(Op::HardLink, io::Error::other(why));
        }
        Err(e) => {
            let why = format!("its first name was not copied ({e})");
            return fail(Op::HardLink, io::Error::other(why));
        }
    };
    let policy = match sh.policy {
        ConflictPolicy::Ask => ConflictPolicy::Skip,
        p => p,
    };
    if !sh.caps.learned.hardlinks() {
        let ldir = &link.link.0;
        return separate_copy(sh, link, lfd.as_fd(), policy, |c, item, replace| {
            let done =
                files::copy_file_as_it_stands(c, Some(lfd.as_fd()), ldir, item, replace, false);
            c.verified_now(ldir, item, done.0)
        });
    }
    match root.link_at((tfd.as_fd(), tname), (lfd.as_fd(), lname)) {
        Ok(()) => return Outcome::Copied,
        Err(Errno::EXIST) => {}
        Err(e) => return fail(Op::HardLink, e.into()),
    }
    let existing = match root.stat_at(lfd.as_fd(), lname) {
        Ok(Some(st)) => st,
        Ok(None) => return fail(Op::Stat, io::Error::from(Errno::NOENT)),
        Err(e) => return fail(Op::Stat, e),
    };
    if (existing.dev, existing.ino) == (target.dev, target.ino) {
        return Outcome::UpToDate;
    }
    // A separate file with the same size and time is the same content, but
    // not the hard link the copy promises: it becomes one (nothing is lost).
    match sh.decide(&link.meta, Some(&existing), policy) {
        Decision::UpToDate | Decision::Copy { .. } => {
            relink_with(sh, (&tfd, tname), (&lfd, ldir, lname), fail)
        }
        Decision::Skip(r) => Outcome::Skipped(r),
        Decision::Ask => Outcome::Skipped(SkipReason::Conflict),
    }
}

/// Replaces the entry `lname` with a link to `tname`, atomically.
fn relink_with(
    sh: &Shared,
    (tfd, tname): (&OwnedFd, &OsStr),
    (lfd, ldir, lname): (&OwnedFd, &Arc<DirNode>, &OsStr),
    fail: impl Fn(Op, io::Error) -> Outcome,
) -> Outcome {
    let root = sh.root();
    match root.temp_link(tfd.as_fd(), tname, lfd.as_fd(), ldir) {
        Ok(entry) => match entry.commit(lname, true) {
            Ok(()) => Outcome::Copied,
            Err(e) => fail(Op::Rename, e),
        },
        Err(e) => fail(Op::HardLink, e),
    }
}

/// The second name of a hard-linked file copied as a file of its own, where
/// the destination makes no hard link: under the policy like any file (in
/// `dir`, by `copy`: whether to replace what is there), and said once.
pub(crate) fn separate_copy<S: Source, D: Dest>(
    sh: &Shared<S, D>,
    link: &DeferredLink,
    dir: D::Dir<'_>,
    policy: ConflictPolicy,
    copy: impl FnOnce(&mut Copier<'_, S, D>, &Item, bool) -> Outcome,
) -> Outcome {
    let (ldir, lname) = (&link.link.0, &link.link.1);
    let item = Item {
        name: lname.clone(),
        from: None,
        kind: ItemKind::File,
        meta: link.meta,
    };
    let mut c = Copier::new(None, sh);
    let existing = match sh.root().stat_at(dir, lname) {
        Ok(existing) => existing,
        Err(e) => return c.fail(ldir, &item, Op::Stat, e, true).0,
    };
    let outcome = match sh.decide(&link.meta, existing.as_ref(), policy) {
        Decision::UpToDate => Outcome::UpToDate,
        Decision::Skip(r) => return Outcome::Skipped(r),
        Decision::Ask => return Outcome::Skipped(SkipReason::Conflict),
        Decision::Copy { replace } => copy(&mut c, &item, replace),
    };
    if matches!(outcome, Outcome::Copied | Outcome::UpToDate) {
        sh.kept.add(What::HardLinks, Why::Unsupported);
    }
    outcome
}
