//! Writing beneath the destination without ever following a symlink that is in it.
//! Every folder is opened from the destination root with `openat2` and
//! `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS`. A file appears under its name only
//! when complete: written nameless (`O_TMPFILE`) or as a fixed-length temporary
//! and then linked or renamed into place, or written in place inside a folder that
//! is itself still under a temporary name (see `stage`).

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{PoisonError, RwLock};

use rustix::fs::{self as rfs, AtFlags, Mode, OFlags, RenameFlags};
use rustix::io::Errno;

use super::beneath::{Beneath, DIR_FLAGS};
use super::node::DirNode;
use super::sweep::{remove_tree, sweep_dead_temps};
use super::temp_name::TempNames;

pub(crate) struct DestRoot {
    dirs: Beneath,
    path: PathBuf,
    /// Cleared the first time the filesystem refuses O_TMPFILE.
    has_tmpfile: AtomicBool,
    /// Set the first time `linkat(AT_EMPTY_PATH)` is refused (it needs
    /// CAP_DAC_READ_SEARCH): link through /proc/self/fd instead.
    link_by_proc: AtomicBool,
    temps: TempNames,
    /// Held to find a folder by its current names (read) or to rename a staged
    /// folder into place (write), so no lookup sees a name change half way.
    places: RwLock<()>,
}

impl DestRoot {
    /// Opens the destination folder the user named (following symlinks in the
    /// path they typed: that is their choice; nothing beneath it is followed).
    pub fn open(path: &Path) -> io::Result<Self> {
        let fd = rfs::open(path, DIR_FLAGS.difference(OFlags::NOFOLLOW), Mode::empty())?;
        let pid = rustix::process::getpid().as_raw_nonzero().get() as u32;
        Ok(DestRoot {
            dirs: Beneath::new(fd, false),
            path: path.to_path_buf(),
            has_tmpfile: AtomicBool::new(true),
            link_by_proc: AtomicBool::new(false),
            temps: TempNames::new(pid),
            places: RwLock::new(()),
        })
    }

    /// The destination path of `rel`, for messages.
    pub fn display(&self, rel: &Path) -> PathBuf {
        if rel.as_os_str().is_empty() {
            self.path.clone()
        } else {
            self.path.join(rel)
        }
    }

    pub fn root_fd(&self) -> BorrowedFd<'_> {
        self.dirs.fd.as_fd()
    }

    /// Opens the destination folder of `node` wherever it is now: under its own
    /// name, or under its or an ancestor's temporary name while staged. Fails
    /// with ELOOP/EXDEV rather than follow a symlink or `..` anywhere on the way.
    pub fn open_node(&self, node: &DirNode) -> io::Result<OwnedFd> {
        let _held = self.places.read().unwrap_or_else(PoisonError::into_inner);
        self.dirs.open_dir(&node.current())
    }

    /// Opens `node` inside `parent`, the open folder of its parent.
    pub fn open_child_node(&self, parent: BorrowedFd<'_>, node: &DirNode) -> io::Result<OwnedFd> {
        let _held = self.places.read().unwrap_or_else(PoisonError::into_inner);
        rfs::openat(parent, node.current_name(), DIR_FLAGS, Mode::empty()).map_err(Into::into)
    }

    /// Creates a staged folder in `dir`: under a fresh temporary name, private
    /// until its metadata is applied at the end.
    pub fn make_staged_dir(&self, dir: BorrowedFd<'_>) -> io::Result<OsString> {
        for _ in 0..16 {
            let name = self.temp_name();
            match rfs::mkdirat(dir, &name, Mode::from_raw_mode(0o700)) {
                Ok(()) => return Ok(name),
                Err(Errno::EXIST) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(io::Error::from(Errno::EXIST))
    }

    /// Renames a staged folder to its own name, never over an entry that
    /// appeared there meanwhile. If that fails the folder and what it holds are
    /// removed, and the reason is kept to be reported with the folder.
    pub fn place(&self, node: &DirNode) {
        let (Some(stage), Some(parent)) = (&node.stage, &node.parent) else {
            return;
        };
        let _held = self.places.write().unwrap_or_else(PoisonError::into_inner);
        if stage.is_placed() {
            return;
        }
        let parent_fd = match self.dirs.open_dir(&parent.current()) {
            Ok(fd) => fd,
            Err(e) => return stage.set_failed(e),
        };
        match rename_noreplace(parent_fd.as_fd(), &stage.temp, node.name()) {
            Ok(()) => stage.set_placed(),
            Err(e) => {
                let _ = remove_tree(parent_fd.as_fd(), &stage.temp);
                stage.set_failed(e);
            }
        }
    }

    /// A job of `node` is finished: the folder is placed when it was the last.
    pub fn job_done(&self, node: &DirNode) {
        if node.stage.as_ref().is_some_and(|s| s.job_done()) {
            self.place(node);
        }
    }

    /// The walker plans no more in-place files in `node`.
    pub fn walker_done(&self, node: &DirNode) {
        if node.stage.as_ref().is_some_and(|s| s.walker_done()) {
            self.place(node);
        }
    }

    fn temp_name(&self) -> OsString {
        self.temps.next()
    }

    /// Creates the file a copy is written into: under its own name `in_place`
    /// (in a staged folder, where nobody sees it until it is complete); else
    /// nameless (O_TMPFILE) where the filesystem allows, so it needs no name until
    /// it is complete and vanishes by itself if the process dies; else a named
    /// temporary.
    pub fn create_file<D: AsFd>(
        &self,
        dir: D,
        mode: u32,
        in_place: Option<&OsStr>,
    ) -> io::Result<NewFile<'_, D>> {
        if in_place.is_none() && self.has_tmpfile.load(Ordering::Relaxed) {
            let flags = OFlags::TMPFILE | OFlags::WRONLY | OFlags::CLOEXEC;
            match rfs::openat(&dir, ".", flags, Mode::from_raw_mode(mode & 0o777)) {
                Ok(fd) => {
                    return Ok(NewFile::Nameless {
                        root: self,
                        dir,
                        fd,
                    });
                }
                Err(Errno::OPNOTSUPP | Errno::ISDIR | Errno::INVAL | Errno::NOENT) => {
                    self.has_tmpfile.store(false, Ordering::Relaxed);
                }
                Err(e) => return Err(e.into()),
            }
        }
        let (entry, fd) = self.create_temp(dir, mode, in_place)?;
        Ok(NewFile::Named { entry, fd })
    }

    /// Gives the nameless file `fd` the name `name` in `dir`; EEXIST if taken.
    fn link_nameless(
        &self,
        fd: BorrowedFd<'_>,
        dir: BorrowedFd<'_>,
        name: &OsStr,
    ) -> io::Result<()> {
        if !self.link_by_proc.load(Ordering::Relaxed) {
            match rfs::linkat(fd, "", dir, name, AtFlags::EMPTY_PATH) {
                Err(Errno::NOENT | Errno::PERM) => self.link_by_proc.store(true, Ordering::Relaxed),
                r => return r.map_err(Into::into),
            }
        }
        let proc = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&fd));
        rfs::linkat(rfs::CWD, proc.as_str(), dir, name, AtFlags::SYMLINK_FOLLOW).map_err(Into::into)
    }

    /// Creates a new, empty file in `dir`: named `in_place`, or a temporary
    /// (retrying on a name clash). The guard removes it again unless committed.
    pub fn create_temp<D: AsFd>(
        &self,
        dir: D,
        mode: u32,
        in_place: Option<&OsStr>,
    ) -> io::Result<(TempEntry<D>, OwnedFd)> {
        let flags =
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let mode = Mode::from_raw_mode(mode & 0o777);
        if let Some(name) = in_place {
            let fd = rfs::openat(&dir, name, flags, mode)?;
            let entry = TempEntry {
                dir,
                name: name.to_os_string(),
                in_place: true,
            };
            return Ok((entry, fd));
        }
        for _ in 0..16 {
            let name = self.temp_name();
            match rfs::openat(&dir, &name, flags, mode) {
                Ok(fd) => return Ok((TempEntry::new(dir, name), fd)),
                Err(Errno::EXIST) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(io::Error::from(Errno::EXIST))
    }

    /// Creates a symlink under a temporary name, for replacing an existing entry.
    pub fn temp_symlink<D: AsFd>(&self, dir: D, target: &Path) -> io::Result<TempEntry<D>> {
        for _ in 0..16 {
            let name = self.temp_name();
            match rfs::symlinkat(target, &dir, &name) {
                Ok(()) => return Ok(TempEntry::new(dir, name)),
                Err(Errno::EXIST) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(io::Error::from(Errno::EXIST))
    }

    /// Hard-links `target_name` under a temporary name, for replacing an entry.
    pub fn temp_link<D: AsFd>(
        &self,
        target_dir: BorrowedFd<'_>,
        target_name: &OsStr,
        dir: D,
    ) -> io::Result<TempEntry<D>> {
        for _ in 0..16 {
            let name = self.temp_name();
            match rfs::linkat(target_dir, target_name, &dir, &name, AtFlags::empty()) {
                Ok(()) => return Ok(TempEntry::new(dir, name)),
                Err(Errno::EXIST) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(io::Error::from(Errno::EXIST))
    }

    /// Removes temporaries left by convoy runs that are no longer alive (a
    /// `kill -9`, a power cut): files, and staged folders with all they hold.
    /// A live run's temporaries are left alone.
    pub fn sweep_temps(&self, dir: BorrowedFd<'_>) -> io::Result<usize> {
        sweep_dead_temps(dir, self.temps.pid())
    }
}

/// Renames `from` to `to` in `dir` unless `to` exists.
fn rename_noreplace(dir: BorrowedFd<'_>, from: &OsStr, to: &OsStr) -> io::Result<()> {
    match rfs::renameat_with(dir, from, dir, to, RenameFlags::NOREPLACE) {
        // Filesystems without RENAME_NOREPLACE: look first (a folder cannot be
        // linked, so this is the best there is).
        Err(Errno::INVAL | Errno::NOSYS) => match rfs::statat(dir, to, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(_) => Err(io::Error::from(Errno::EXIST)),
            Err(Errno::NOENT) => rfs::renameat(dir, from, dir, to).map_err(Into::into),
            Err(e) => Err(e.into()),
        },
        r => r.map_err(Into::into),
    }
}

/// The file a copy is written into, until it is complete.
pub(crate) enum NewFile<'r, D: AsFd> {
    Nameless {
        root: &'r DestRoot,
        dir: D,
        fd: OwnedFd,
    },
    Named {
        entry: TempEntry<D>,
        fd: OwnedFd,
    },
}

impl<D: AsFd> NewFile<'_, D> {
    pub fn fd(&self) -> BorrowedFd<'_> {
        match self {
            NewFile::Nameless { fd, .. } | NewFile::Named { fd, .. } => fd.as_fd(),
        }
    }

    /// Puts the complete file in place under `name`. Without `replace` an
    /// entry that appeared meanwhile is never clobbered: the call fails with
    /// EEXIST. Replacing goes through a temporary name and one rename, so the
    /// old version stays whole until the new one takes its place.
    pub fn commit(self, name: &OsStr, replace: bool) -> io::Result<()> {
        match self {
            NewFile::Named { entry, fd } => {
                drop(fd);
                entry.commit(name, replace)
            }
            NewFile::Nameless { root, dir, fd } => {
                if !replace {
                    return root.link_nameless(fd.as_fd(), dir.as_fd(), name);
                }
                let mut last = io::Error::from(Errno::EXIST);
                for _ in 0..16 {
                    let temp = root.temp_name();
                    match root.link_nameless(fd.as_fd(), dir.as_fd(), &temp) {
                        Ok(()) => return TempEntry::new(dir, temp).commit(name, true),
                        Err(e) if e.raw_os_error() == Some(Errno::EXIST.raw_os_error()) => last = e,
                        Err(e) => return Err(e),
                    }
                }
                Err(last)
            }
        }
    }
}

/// The name of a temporary entry in a destination folder. Dropped without
/// [`commit`] it removes itself, so a failed or cancelled copy leaves nothing.
///
/// [`commit`]: TempEntry::commit
pub(crate) struct TempEntry<D: AsFd> {
    dir: D,
    name: OsString,
    /// Already under its final name (in a staged folder): committing keeps it.
    in_place: bool,
}

impl<D: AsFd> TempEntry<D> {
    fn new(dir: D, name: OsString) -> Self {
        TempEntry {
            dir,
            name,
            in_place: false,
        }
    }

    /// Moves the finished temporary to `name`. Without `replace` an entry that
    /// appeared meanwhile is never clobbered: the call fails with EEXIST.
    pub fn commit(mut self, name: &OsStr, replace: bool) -> io::Result<()> {
        if self.in_place {
            self.name.clear();
            return Ok(());
        }
        let dir = self.dir.as_fd();
        let result = if replace {
            rfs::renameat(dir, &self.name, dir, name)
        } else {
            match rfs::renameat_with(dir, &self.name, dir, name, RenameFlags::NOREPLACE) {
                // Filesystems without RENAME_NOREPLACE: link then unlink is as safe.
                Err(Errno::INVAL | Errno::NOSYS) => {
                    rfs::linkat(dir, &self.name, dir, name, AtFlags::empty())
                        .and_then(|()| rfs::unlinkat(dir, &self.name, AtFlags::empty()))
                }
                r => r,
            }
        };
        if result.is_ok() {
            self.name.clear();
        }
        result.map_err(Into::into)
    }
}

impl<D: AsFd> Drop for TempEntry<D> {
    fn drop(&mut self) {
        if !self.name.is_empty() {
            let _ = rfs::unlinkat(self.dir.as_fd(), &self.name, AtFlags::empty());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_dir_refuses_a_symlink_on_the_way() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("real")).unwrap();
        std::os::unix::fs::symlink("real", dir.path().join("link")).unwrap();
        let root = DestRoot::open(dir.path()).unwrap();
        assert!(root.dirs.open_dir(Path::new("real")).is_ok());
        assert!(root.dirs.open_dir(Path::new("link")).is_err());
        assert!(
            root.dirs
                .open_by_components(root.root_fd(), Path::new("link"))
                .is_err()
        );
        assert!(root.dirs.open_dir(Path::new("../")).is_err());
    }

    #[test]
    fn dropped_temp_is_removed_and_commit_does_not_clobber() {
        let dir = tempfile::tempdir().unwrap();
        let root = DestRoot::open(dir.path()).unwrap();
        let fd = root.dirs.open_dir(Path::new("")).unwrap();
        drop(root.create_temp(fd.as_fd(), 0o644, None).unwrap());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        std::fs::write(dir.path().join("x"), b"old").unwrap();
        let (t, _fd) = root.create_temp(fd.as_fd(), 0o644, None).unwrap();
        assert!(t.commit(OsStr::new("x"), false).is_err());
        assert_eq!(std::fs::read(dir.path().join("x")).unwrap(), b"old");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn new_files_appear_only_complete_with_or_without_o_tmpfile() {
        for tmpfile in [true, false] {
            let dir = tempfile::tempdir().unwrap();
            let root = DestRoot::open(dir.path()).unwrap();
            root.has_tmpfile.store(tmpfile, Ordering::Relaxed);
            let fd = root.dirs.open_dir(Path::new("")).unwrap();
            let listed = || std::fs::read_dir(dir.path()).unwrap().count();
            let f = root.create_file(fd.as_fd(), 0o644, None).unwrap();
            assert_eq!(matches!(f, NewFile::Nameless { .. }), tmpfile);
            rustix::io::write(f.fd(), b"new").unwrap();
            assert_eq!(
                listed(),
                usize::from(!tmpfile),
                "only a named temporary shows"
            );
            f.commit(OsStr::new("a"), false).unwrap();
            assert_eq!(std::fs::read(dir.path().join("a")).unwrap(), b"new");
            // Not replacing: an existing name is kept and the copy discarded.
            let f = root.create_file(fd.as_fd(), 0o644, None).unwrap();
            rustix::io::write(f.fd(), b"newer").unwrap();
            assert!(f.commit(OsStr::new("a"), false).is_err());
            assert_eq!(std::fs::read(dir.path().join("a")).unwrap(), b"new");
            // Replacing: the new version takes the name in one step.
            let f = root.create_file(fd.as_fd(), 0o644, None).unwrap();
            rustix::io::write(f.fd(), b"newest").unwrap();
            f.commit(OsStr::new("a"), true).unwrap();
            assert_eq!(std::fs::read(dir.path().join("a")).unwrap(), b"newest");
            assert_eq!(listed(), 1, "no temporary left");
        }
    }
}
