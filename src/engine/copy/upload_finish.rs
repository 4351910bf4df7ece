//! The end of a copy to another machine over SFTP, after the workers: second
//! names of hard-linked files (`hardlink@openssh.com`), then each folder's
//! mode and times, deepest first, then what was not kept, said once per kind.

use std::io;

use crate::config::ConflictPolicy;
use crate::engine::control::decide::Decision;
use crate::engine::plan::deferred::{DeferredLink, Planned};
use crate::engine::read::source::SourceRoot;
use crate::engine::sftp::dest::{Naming, SftpDest};
use crate::engine::shared::Shared;
use crate::engine::write::Dest;
use crate::error::{CopyError, Op};
use crate::event::{Event, Notice, Outcome, SkipReason};
use rustix::io::Errno;

type Remote = Shared<SourceRoot, SftpDest>;

/// Writing into a folder changes its time: folders go last, deepest first.
/// After a lost connection nothing can be set: the run has said why it
/// stopped, and its rerun gives the folders their metadata.
pub(crate) fn finish(sh: &Remote, planned: Planned) {
    if sh.root.as_ref().is_some_and(|r| r.session.is_lost()) {
        sh.say_counted();
        return;
    }
    if !sh.control.is_cancelled() {
        for link in &planned.links {
            let outcome = if sh.dry_run {
                Outcome::Copied
            } else {
                hard_link(sh, link)
            };
            sh.link_done(link, outcome);
        }
    }
    // Partials no copy of this run took up belong to sources that changed or
    // went: a run that finished its folders removes them.
    if !sh.control.is_cancelled() && !sh.dry_run {
        sweep_partials(sh, &planned);
    }
    // Even after a cancel: folders must not stay private (0700) and misdated.
    // Setting one folder's metadata changes no other's, so all are sent at
    // once, after every entry is in place.
    let dirs: Vec<_> = planned
        .dirs
        .iter()
        .rev()
        .filter(|(dir, _)| !(dir.is_root() && sh.dest_keeps_own_metadata))
        .collect();
    // A folder that could not be made says so with its own reason; the
    // others get their metadata.
    let made: Vec<io::Result<Option<_>>> = dirs
        .iter()
        .map(|(dir, _)| match sh.dry_run {
            true => Ok(None),
            false => sh.root().open_node(dir).map(Some),
        })
        .collect();
    let paths = dirs.iter().zip(&made).filter_map(|((_, meta), m)| match m {
        Ok(Some(path)) => Some((path.clone(), *meta)),
        _ => None,
    });
    let paths: Vec<_> = paths.collect();
    let mut set = match paths.is_empty() {
        true => Vec::new(),
        false => sh.root().set_all(paths, sh.meta.owner),
    }
    .into_iter();
    for ((dir, _), made) in dirs.into_iter().zip(made) {
        let failed = |op, e| Outcome::Failed(CopyError::new(sh.root().display(&dir.rel), op, e));
        let outcome = match made {
            Err(e) => failed(Op::CreateDir, e),
            Ok(None) => Outcome::Copied,
            Ok(Some(_)) => match set.next() {
                Some(Ok(())) => Outcome::Copied,
                Some(Err(e)) => failed(Op::SetMetadata, e),
                None => failed(Op::SetMetadata, io::Error::other("not set")),
            },
        };
        sh.folder_done(dir, outcome);
    }
    for (path, e) in sh.root.as_ref().map(|r| r.left.take()).unwrap_or_default() {
        let mut at = std::ffi::OsString::from(format!("{}:", sh.root().session.host));
        at.push(path.as_os_str());
        let e = CopyError::new(std::path::PathBuf::from(at), Op::RemoveTemp, e);
        sh.send(Event::Notice(Notice::LeftBehind(e)));
    }
    sh.say_counted();
}

/// Removes the partials left in the folders where the walk found some.
fn sweep_partials(sh: &Remote, planned: &Planned) {
    use std::sync::atomic::Ordering;
    let root = sh.root();
    for (dir, _) in planned
        .dirs
        .iter()
        .filter(|(d, _)| d.partials.load(Ordering::Relaxed))
    {
        let Ok(path) = root.open_node(dir) else {
            continue;
        };
        let Ok(listing) = root.list_now(&path) else {
            continue;
        };
        for name in listing
            .keys()
            .filter(|n| crate::engine::write::resume::is_partial(n))
        {
            if let Err(e) = root.remove_at(&path, name) {
                let at = root.display(&dir.rel.join(name));
                sh.send(Event::Notice(Notice::Sweep(CopyError::new(
                    at,
                    Op::RemoveTemp,
                    e.into(),
                ))));
            }
        }
    }
}

/// The second name of a hard-linked file: a link to its first name, which
/// must hold this file as the source has it. SFTP tells no inode, so a name
/// that is taken is replaced by the link only where the policy lets it.
fn hard_link(sh: &Remote, link: &DeferredLink) -> Outcome {
    let root = sh.root();
    let (tdir, tname) = (&link.target.0, &link.target.1);
    let (ldir, lname) = (&link.link.0, &link.link.1);
    let fail = |op, e: io::Error| {
        Outcome::Failed(CopyError::new(root.display(&ldir.rel).join(lname), op, e))
    };
    let (Ok(tpath), Ok(lpath)) = (root.open_node(tdir), root.open_node(ldir)) else {
        return fail(Op::OpenDir, Errno::NOENT.into());
    };
    match root.stat_at(&tpath, tname) {
        Ok(Some(st)) if sh.same_content(&st, &link.meta) => {}
        Ok(_) => {
            let why = "its first name was not copied";
            return fail(Op::HardLink, io::Error::other(why));
        }
        Err(e) => return fail(Op::Stat, e),
    }
    let policy = match sh.policy {
        ConflictPolicy::Ask => ConflictPolicy::Skip,
        p => p,
    };
    if root.naming != Naming::Link {
        return super::finish::separate_copy(sh, link, &lpath, policy, |c, item, replace| {
            super::upload::file(c, Some(&lpath), ldir, item, replace).0
        });
    }
    match root.link_at((&tpath, tname), (&lpath, lname)) {
        Ok(()) => return Outcome::Copied,
        Err(Errno::EXIST) => {}
        Err(e) => return fail(Op::HardLink, e.into()),
    }
    let existing = match root.stat_at(&lpath, lname) {
        Ok(Some(st)) => st,
        Ok(None) => return fail(Op::Stat, Errno::NOENT.into()),
        Err(e) => return fail(Op::Stat, e),
    };
    match sh.decide(&link.meta, Some(&existing), policy) {
        // The same content under the name: up to date (whether it is the
        // same file SFTP cannot tell).
        Decision::UpToDate => Outcome::UpToDate,
        Decision::Copy { .. } => {
            let temp = root.temps.next();
            if let Err(e) = root.link_at((&tpath, tname), (&lpath, &temp)) {
                return fail(Op::HardLink, e.into());
            }
            match root.commit(&lpath, &temp, lname, true) {
                Ok(()) => Outcome::Copied,
                Err(e) => {
                    root.discard(&lpath, &temp);
                    fail(Op::Rename, e)
                }
            }
        }
        Decision::Skip(r) => Outcome::Skipped(r),
        Decision::Ask => Outcome::Skipped(SkipReason::Conflict),
    }
}
