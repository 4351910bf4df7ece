//! A temporary entry of the destination until it gets its final name, and the
//! one way a name is taken without replacing what is there: `RENAME_NOREPLACE`
//! where the filesystem has it; else a hard link then an unlink (as safe);
//! else a look and a rename (FUSE filesystems such as exFAT and NTFS-3g,
//! network mounts): an entry that appears between the look and the rename is
//! replaced, a window of one system call, the best such filesystems allow.
//! What the destination refuses is learned once per run (see `caps`).

use std::ffi::OsStr;
use std::ffi::OsString;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::{Arc, Mutex, PoisonError};

use rustix::fs::{AtFlags, RenameFlags};
use rustix::io::Errno;

use super::backup::Backup;
use super::caps::Learned;
use crate::engine::os::sys;
use crate::engine::plan::node::DirNode;

/// Temporaries this run could not remove (a dying disk): reported at the end,
/// since the destination holds more than it should until the next run's sweep.
#[derive(Default)]
pub(crate) struct LeftBehind(Mutex<Vec<(Arc<DirNode>, OsString, io::Error)>>);

impl LeftBehind {
    pub fn add(&self, at: &Arc<DirNode>, name: OsString, e: io::Error) {
        let mut left = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        left.push((Arc::clone(at), name, e));
    }

    pub fn take(&self) -> Vec<(Arc<DirNode>, OsString, io::Error)> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// What a temporary needs besides its name: where it is and what the run
/// shares about the destination.
#[derive(Clone)]
pub(crate) struct Around {
    pub at: Arc<DirNode>,
    pub learned: Arc<Learned>,
    pub left: Arc<LeftBehind>,
    /// `--backup-dir`: what a commit replaces is kept there first.
    pub backup: Option<Arc<Backup>>,
}

/// The name of a temporary entry in a destination folder. Dropped without
/// [`commit`] it removes itself, so a failed or cancelled copy leaves nothing.
///
/// [`commit`]: TempEntry::commit
pub(crate) struct TempEntry<D: AsFd> {
    dir: D,
    name: OsString,
    around: Around,
    /// Already under its final name in a staged folder: committing keeps it,
    /// and a failed copy that cannot be removed keeps the folder out of view
    /// (see `Stage::taint`).
    staged: bool,
}

impl<D: AsFd> TempEntry<D> {
    pub fn new(dir: D, name: OsString, around: Around, staged: bool) -> Self {
        TempEntry {
            dir,
            name,
            around,
            staged,
        }
    }

    /// Moves the finished temporary to `name`. Without `replace` an entry that
    /// appeared meanwhile is never clobbered: the call fails with EEXIST.
    pub fn commit(mut self, name: &OsStr, replace: bool) -> io::Result<()> {
        if self.staged {
            self.name.clear();
            return Ok(());
        }
        let dir = self.dir.as_fd();
        if replace {
            if let Some(backup) = &self.around.backup {
                match backup.keep(dir, name, &self.around.at.rel.join(name)) {
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
            }
            sys::renameat(dir, self.name.as_os_str(), dir, name)?;
            self.name.clear();
            return Ok(());
        }
        match rename_noreplace(dir, &self.name, name, Kind::File, &self.around.learned)? {
            // The copy is in place; its temporary name stays (removed by the
            // guard, or reported and swept next time).
            Moved::Linked => {}
            Moved::Renamed => self.name.clear(),
        }
        Ok(())
    }

    /// Leaves it under its temporary name.
    pub fn keep(mut self) {
        self.name.clear();
    }

    /// Its current name in its folder (until committed).
    pub fn name(&self) -> &OsStr {
        &self.name
    }
}

impl<D: AsFd> Drop for TempEntry<D> {
    fn drop(&mut self) {
        if self.name.is_empty() {
            return;
        }
        match sys::unlinkat(self.dir.as_fd(), self.name.as_os_str(), AtFlags::empty()) {
            Ok(()) | Err(Errno::NOENT) => {}
            // A final name in a staged folder must not come into view; a
            // temporary name left behind is reported (the next run sweeps it).
            Err(e) => {
                let name = std::mem::take(&mut self.name);
                match self.around.at.stage.as_ref().filter(|_| self.staged) {
                    Some(stage) => stage.taint(name),
                    None => self.around.left.add(&self.around.at, name, e.into()),
                }
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    File,
    /// Folders cannot be hard-linked.
    Folder,
}

/// How a name was taken.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Moved {
    /// `from` is gone.
    Renamed,
    /// `to` is a second name of `from`, which is still there.
    Linked,
}

/// Gives `from` the name `to` in `dir` unless `to` exists (EEXIST then).
pub(crate) fn rename_noreplace(
    dir: BorrowedFd<'_>,
    from: &OsStr,
    to: &OsStr,
    kind: Kind,
    learned: &Learned,
) -> io::Result<Moved> {
    if learned.noreplace() {
        match sys::renameat_with(dir, from, dir, to, RenameFlags::NOREPLACE) {
            Err(Errno::INVAL | Errno::NOSYS | Errno::OPNOTSUPP) => learned.no_noreplace(),
            r => return r.map(|()| Moved::Renamed).map_err(Into::into),
        }
    }
    if kind == Kind::File && learned.hardlinks() {
        match sys::linkat(dir, from, dir, to, AtFlags::empty()) {
            Ok(()) => {
                return Ok(match sys::unlinkat(dir, from, AtFlags::empty()) {
                    Ok(()) => Moved::Renamed,
                    Err(_) => Moved::Linked,
                });
            }
            // Not learned here (see `caps`): the plain rename below still
            // works, checked first.
            Err(e) if super::caps::no_hard_links(e) => {}
            Err(e) => return Err(e.into()),
        }
    }
    match sys::statat(dir, to, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(_) => Err(io::Error::from(Errno::EXIST)),
        Err(Errno::NOENT) => {
            sys::renameat(dir, from, dir, to)?;
            Ok(Moved::Renamed)
        }
        Err(e) => Err(e.into()),
    }
}
