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
use std::sync::{Arc, PoisonError, RwLock};

use rustix::fs::{self as rfs, AtFlags, Gid, Mode, OFlags, Uid};
use rustix::io::Errno;

use super::caps::{Learned, probe_file_meta, probe_symlinks};
use super::names::NameRules;
use super::sweep::{remove_tree, sweep_dead_temps};
use super::temp_entry::{Around, Kind, LeftBehind, TempEntry, rename_noreplace};
use super::temp_name::TempNames;
use super::{Dest, TakenAway};
use crate::engine::meta::attrs::{FileMeta, SrcMeta, SymlinkMeta, keeping_times};
use crate::engine::os::beneath::{Beneath, DIR_FLAGS};
use crate::engine::os::sys;
use crate::engine::plan::node::DirNode;
use crate::error::{CopyError, Op};
use crate::format::DisplayPath;

pub(crate) struct DestRoot {
    dirs: Beneath,
    path: PathBuf,
    /// What the destination refuses, learned at its first refusal.
    pub learned: Arc<Learned>,
    /// Set the first time `linkat(AT_EMPTY_PATH)` is refused (it needs
    /// CAP_DAC_READ_SEARCH): link through /proc/self/fd instead.
    link_by_proc: AtomicBool,
    temps: TempNames,
    /// Held to find a folder by its current names (read) or to rename a staged
    /// folder into place (write), so no lookup sees a name change half way.
    places: RwLock<()>,
    names: NameRules,
    left: Arc<LeftBehind>,
    /// `--fsync`: a staged folder's entries are flushed before it is placed.
    pub durable: bool,
    /// `--backup-dir`: where what is replaced goes.
    pub backup: Option<Arc<super::backup::Backup>>,
    /// Big files are written past the page cache (`--direct`, see
    /// `direct::wanted`).
    pub direct_writes: bool,
}

impl DestRoot {
    /// Opens the destination folder the user named (following symlinks in the
    /// path they typed: that is their choice; nothing beneath it is followed).
    pub fn open(path: &Path) -> io::Result<Self> {
        let fd = sys::open(path, DIR_FLAGS.difference(OFlags::NOFOLLOW), Mode::empty())?;
        let pid = rustix::process::getpid().as_raw_nonzero().get() as u32;
        Ok(DestRoot {
            dirs: Beneath::new(fd, false),
            path: path.to_path_buf(),
            learned: Arc::default(),
            link_by_proc: AtomicBool::new(false),
            temps: TempNames::new(pid),
            names: NameRules::default(),
            left: Arc::default(),
            durable: false,
            backup: None,
            direct_writes: false,
            places: RwLock::new(()),
        })
    }

    pub fn root_fd(&self) -> BorrowedFd<'_> {
        self.dirs.fd.as_fd()
    }

    /// Whether symlinks' own times and owner can be set here (`owner`: whether
    /// owners are kept at all), tried in `dir` (see `Caps::symlinks`).
    pub fn probe_symlink_meta(
        &self,
        dir: BorrowedFd<'_>,
        at: &Arc<DirNode>,
        owner: bool,
    ) -> SymlinkMeta {
        let (m, left) = keeping_times(dir, || probe_symlinks(dir, &self.temps, owner)).0;
        for (name, e) in left {
            self.left.add(at, name, e);
        }
        m
    }

    /// What this destination keeps of a file's metadata (`owner`: whether
    /// owners are kept at all), tried in its root.
    pub fn probe_file_meta(&self, owner: bool) -> FileMeta {
        let root = self.root_fd();
        let (m, left) = keeping_times(root, || probe_file_meta(root, &self.temps, owner)).0;
        for (name, e) in left {
            self.left.add(&DirNode::root(false), name, e);
        }
        if !m.hard_links {
            self.learned.no_hardlinks();
        }
        if !m.symlinks {
            self.learned.no_symlinks();
        }
        m
    }

    /// The temporaries this run could not remove, as failures to report.
    pub fn take_left_behind(&self) -> Vec<CopyError> {
        self.left
            .take()
            .into_iter()
            .map(|(at, name, e)| {
                CopyError::new(self.display(&at.rel).join(name), Op::RemoveTemp, e)
            })
            .collect()
    }

    fn entry<D: AsFd>(
        &self,
        dir: D,
        at: &Arc<DirNode>,
        name: OsString,
        staged: bool,
    ) -> TempEntry<D> {
        let around = Around {
            at: Arc::clone(at),
            learned: Arc::clone(&self.learned),
            left: Arc::clone(&self.left),
            backup: self.backup.clone(),
        };
        TempEntry::new(dir, name, around, staged)
    }

    /// The open file or folder `fd`, data and metadata, on the device.
    pub fn sync(&self, fd: BorrowedFd<'_>) -> io::Result<()> {
        Ok(sys::fsync(fd)?)
    }

    /// Opens the folder at `rel` beneath the root, never through a symlink.
    pub fn open_dir(&self, rel: &Path) -> io::Result<OwnedFd> {
        self.dirs.open_dir(rel)
    }

    /// Why nothing can be made in `node`: it (or a folder above it) could not
    /// be put in place, with that folder's reason.
    pub fn unplaced(&self, node: &DirNode) -> Option<io::Error> {
        unplaced_ancestor(node)
    }

    /// Creates a staged folder in `dir`: under a fresh temporary name, private
    /// until its metadata is applied at the end.
    pub fn make_staged_dir(&self, dir: BorrowedFd<'_>) -> io::Result<OsString> {
        let made = self.under_temp_name(|name| make_private_dir(dir, name));
        made.map(|(name, ())| name)
    }

    /// Makes something under a fresh temporary name with `make`, trying
    /// another name when one is taken: the name and what `make` gave.
    fn under_temp_name<T>(
        &self,
        mut make: impl FnMut(&OsStr) -> Result<T, Errno>,
    ) -> io::Result<(OsString, T)> {
        for _ in 0..16 {
            let name = self.temp_name();
            match make(&name) {
                Ok(made) => return Ok((name, made)),
                Err(Errno::EXIST) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(io::Error::from(Errno::EXIST))
    }

    /// Renames a staged folder to its own name, never over an entry that
    /// appeared there meanwhile. A failed copy written in it that could not be
    /// removed then is removed now or moved out of the way under a temporary
    /// name; if neither works the folder is not placed, so no partial file ever
    /// comes into view. If placing fails the folder and what it holds are
    /// removed, and the reason is kept to be reported with the folder.
    pub fn place(&self, node: &DirNode) {
        let (Some(stage), Some(parent)) = (&node.stage, &node.parent) else {
            return;
        };
        let _held = self.places.write().unwrap_or_else(PoisonError::into_inner);
        if stage.is_settled() {
            return;
        }
        if let Some(e) = unplaced_ancestor(node) {
            return stage.set_failed(e);
        }
        let parent_fd = match self.dirs.open_dir(&parent.current()) {
            Ok(fd) => fd,
            Err(e) => return stage.set_failed(e),
        };
        for name in stage.take_tainted() {
            if let Err(e) = self.clear_failed_copy(parent_fd.as_fd(), node, &stage.temp, &name) {
                let why = format!(
                    "{} in it holds a partial copy that cannot be removed ({e})",
                    DisplayPath(Path::new(&name))
                );
                return stage.set_failed(io::Error::new(e.kind(), why));
            }
        }
        // Its names reach the device before it is seen under its own.
        if self.durable
            && let Err(e) = sys::openat(parent_fd.as_fd(), &stage.temp, DIR_FLAGS, Mode::empty())
                .and_then(|d| sys::fsync(d.as_fd()))
        {
            let _ = remove_tree(parent_fd.as_fd(), &stage.temp);
            return stage.set_failed(e.into());
        }
        let placed = rename_noreplace(
            parent_fd.as_fd(),
            &stage.temp,
            node.name(),
            Kind::Folder,
            &self.learned,
        );
        match placed {
            Ok(_) => stage.set_placed(),
            Err(e) => {
                // What cannot be removed now is a dead run's leftover next time.
                let _ = remove_tree(parent_fd.as_fd(), &stage.temp);
                stage.set_failed(e);
            }
        }
    }

    /// Removes the failed copy `name` from the staged folder `temp`, or moves
    /// it to a temporary name (the next run's sweep removes it).
    fn clear_failed_copy(
        &self,
        parent: BorrowedFd<'_>,
        node: &DirNode,
        temp: &OsStr,
        name: &OsStr,
    ) -> io::Result<()> {
        let dir = sys::openat(parent, temp, DIR_FLAGS, Mode::empty())?;
        if let TakenAway::SetAside { name: aside, why } = self.take_away(dir.as_fd(), name)? {
            let folder = DirNode::child(
                node.parent.as_ref().expect("a staged folder has a parent"),
                node.name(),
                true,
                None,
            );
            self.left.add(&folder, aside, why);
        }
        Ok(())
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

    pub fn temp_name(&self) -> OsString {
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
        at: &Arc<DirNode>,
        mode: u32,
        in_place: Option<&OsStr>,
    ) -> io::Result<NewFile<'_, D>> {
        if in_place.is_none() && self.learned.tmpfile() {
            let flags = OFlags::TMPFILE | OFlags::WRONLY | OFlags::CLOEXEC;
            match sys::openat(&dir, ".", flags, Mode::from_raw_mode(mode & 0o777)) {
                Ok(fd) => {
                    return Ok(NewFile::Nameless {
                        root: self,
                        dir,
                        at: Arc::clone(at),
                        fd,
                    });
                }
                Err(Errno::OPNOTSUPP | Errno::ISDIR | Errno::INVAL | Errno::NOENT) => {
                    self.learned.no_tmpfile();
                }
                Err(e) => return Err(e.into()),
            }
        }
        let (entry, fd) = self.create_temp(dir, at, mode, in_place)?;
        Ok(NewFile::Named { entry, fd })
    }

    /// Gives the nameless file `fd` the name `name` in `dir`; EEXIST if taken.
    fn link_nameless(
        &self,
        fd: BorrowedFd<'_>,
        dir: BorrowedFd<'_>,
        name: &OsStr,
    ) -> Result<(), Errno> {
        if !self.link_by_proc.load(Ordering::Relaxed) {
            match sys::linkat(fd, "", dir, name, AtFlags::EMPTY_PATH) {
                Err(Errno::NOENT | Errno::PERM) => self.link_by_proc.store(true, Ordering::Relaxed),
                r => return r,
            }
        }
        let proc = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&fd));
        sys::linkat(rfs::CWD, proc.as_str(), dir, name, AtFlags::SYMLINK_FOLLOW)
    }

    /// Creates a new, empty file in `dir`: named `in_place`, or a temporary
    /// (retrying on a name clash). The guard removes it again unless committed.
    pub fn create_temp<D: AsFd>(
        &self,
        dir: D,
        at: &Arc<DirNode>,
        mode: u32,
        in_place: Option<&OsStr>,
    ) -> io::Result<(TempEntry<D>, OwnedFd)> {
        let flags =
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let mode = Mode::from_raw_mode(mode & 0o777);
        if let Some(name) = in_place {
            let fd = sys::openat(&dir, name, flags, mode)?;
            return Ok((self.entry(dir, at, name.to_os_string(), true), fd));
        }
        let (name, fd) = self.under_temp_name(|name| sys::openat(&dir, name, flags, mode))?;
        Ok((self.entry(dir, at, name, false), fd))
    }

    /// Creates a symlink under a temporary name, for replacing an existing entry.
    pub fn temp_symlink<D: AsFd>(
        &self,
        dir: D,
        at: &Arc<DirNode>,
        target: &Path,
    ) -> io::Result<TempEntry<D>> {
        let (name, ()) = self.under_temp_name(|name| sys::symlinkat(target, &dir, name))?;
        Ok(self.entry(dir, at, name, false))
    }

    /// Makes a FIFO, socket or device node like `meta` under a temporary name
    /// (private until its metadata is set), to be committed under its own.
    pub fn temp_node<D: AsFd>(
        &self,
        dir: D,
        at: &Arc<DirNode>,
        meta: &SrcMeta,
    ) -> io::Result<TempEntry<D>> {
        let (kind, mode) = (meta.file_type(), Mode::from_raw_mode(0o600));
        let (name, ()) = self.under_temp_name(|name| {
            sys::mknodat(&dir, name, kind, mode, meta.rdev).inspect_err(|&e| {
                // A filesystem may make something and then fail: the name
                // is ours, whatever it holds (else the next run sweeps it).
                if e != Errno::EXIST {
                    let _ = sys::unlinkat(&dir, name, AtFlags::empty());
                }
            })
        })?;
        Ok(self.entry(dir, at, name, false))
    }

    /// Hard-links `target_name` under a temporary name, for replacing an entry.
    pub fn temp_link<D: AsFd>(
        &self,
        target_dir: BorrowedFd<'_>,
        target_name: &OsStr,
        dir: D,
        at: &Arc<DirNode>,
    ) -> io::Result<TempEntry<D>> {
        let link =
            |name: &OsStr| sys::linkat(target_dir, target_name, &dir, name, AtFlags::empty());
        let (name, ()) = self.under_temp_name(link)?;
        Ok(self.entry(dir, at, name, false))
    }

    /// Removes temporaries left by convoy runs that are no longer alive (a
    /// `kill -9`, a power cut) from `dir`, the folder at `rel`: files, and
    /// staged folders with all they hold. A live run's temporaries are left
    /// alone. Returns what could not be removed.
    /// The new file of a resumable copy: the partial `name`, open as `fd`.
    pub fn partial_file<D: AsFd>(
        &self,
        dir: D,
        at: &Arc<DirNode>,
        name: OsString,
        fd: OwnedFd,
    ) -> NewFile<'_, D> {
        NewFile::Named {
            entry: self.entry(dir, at, name, false),
            fd,
        }
    }
}

impl Dest for DestRoot {
    type OpenDir = OwnedFd;
    type Dir<'a> = BorrowedFd<'a>;

    fn dir(open: &OwnedFd) -> BorrowedFd<'_> {
        open.as_fd()
    }

    fn make_staged_dir(&self, dir: BorrowedFd<'_>) -> io::Result<OsString> {
        DestRoot::make_staged_dir(self, dir)
    }

    fn unplaced(&self, node: &DirNode) -> Option<io::Error> {
        DestRoot::unplaced(self, node)
    }

    fn walker_done(&self, node: &DirNode) {
        DestRoot::walker_done(self, node);
    }

    fn backup(&self) -> Option<&super::backup::Backup> {
        self.backup.as_deref()
    }

    fn local_dir<'a>(dir: BorrowedFd<'a>) -> Option<BorrowedFd<'a>>
    where
        Self: 'a,
    {
        Some(dir)
    }

    fn display(&self, rel: &Path) -> PathBuf {
        if rel.as_os_str().is_empty() {
            self.path.clone()
        } else {
            self.path.join(rel)
        }
    }

    fn name_error(&self, path: PathBuf, name: &OsStr, op: Op, e: io::Error) -> CopyError {
        let takes_name = matches!(op, Op::Create | Op::Rename | Op::Symlink | Op::HardLink);
        match takes_name
            .then(|| self.names.explain(self.root_fd(), &self.temps, name, &e))
            .flatten()
        {
            Some(why) => CopyError::new(path, Op::Name, why),
            None => CopyError::new(path, op, e),
        }
    }

    /// Opens the destination folder of `node` wherever it is now: under its own
    /// name, or under its or an ancestor's temporary name while staged. Fails
    /// with ELOOP/EXDEV rather than follow a symlink or `..` anywhere on the way.
    fn open_node(&self, node: &DirNode) -> io::Result<Self::OpenDir> {
        let _held = self.places.read().unwrap_or_else(PoisonError::into_inner);
        self.dirs
            .open_dir(&node.current())
            .map_err(|e| unplaced_ancestor(node).unwrap_or(e))
    }

    fn open_child_node(&self, parent: Self::Dir<'_>, node: &DirNode) -> io::Result<Self::OpenDir> {
        let _held = self.places.read().unwrap_or_else(PoisonError::into_inner);
        sys::openat(parent, node.current_name(), DIR_FLAGS, Mode::empty()).map_err(Into::into)
    }

    fn stat_at(&self, dir: Self::Dir<'_>, name: &OsStr) -> io::Result<Option<SrcMeta>> {
        match sys::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => Ok(Some((&st).into())),
            Err(Errno::NOENT) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn dir_meta(&self, dir: Self::Dir<'_>) -> io::Result<SrcMeta> {
        Ok((&sys::fstat(dir)?).into())
    }

    fn set_owner_at(&self, dir: Self::Dir<'_>, name: &OsStr, meta: &SrcMeta) -> io::Result<()> {
        let (uid, gid) = (Uid::from_raw(meta.uid), Gid::from_raw(meta.gid));
        Ok(sys::chownat(
            dir,
            name,
            uid,
            gid,
            AtFlags::SYMLINK_NOFOLLOW,
        )?)
    }

    fn set_mode_at(&self, dir: Self::Dir<'_>, name: &OsStr, meta: &SrcMeta) -> io::Result<()> {
        Ok(sys::chmodat(
            dir,
            name,
            Mode::from_raw_mode(meta.mode & 0o7777),
        )?)
    }

    fn set_times_at(&self, dir: Self::Dir<'_>, name: &OsStr, meta: &SrcMeta) -> io::Result<()> {
        let flags = AtFlags::SYMLINK_NOFOLLOW;
        Ok(sys::utimensat(dir, name, &meta.timestamps(), flags)?)
    }

    fn read_link_at(&self, dir: Self::Dir<'_>, name: &OsStr) -> Result<Vec<u8>, Errno> {
        sys::readlinkat(dir, name).map(|t| t.into_bytes())
    }

    fn symlink_at(&self, dir: Self::Dir<'_>, target: &Path, name: &OsStr) -> Result<(), Errno> {
        sys::symlinkat(target, dir, name)
    }

    fn link_at(
        &self,
        (tdir, tname): (Self::Dir<'_>, &OsStr),
        (ldir, lname): (Self::Dir<'_>, &OsStr),
    ) -> Result<(), Errno> {
        sys::linkat(tdir, tname, ldir, lname, AtFlags::empty())
    }

    fn set_mode(&self, dir: Self::Dir<'_>, mode: u32) -> io::Result<()> {
        Ok(sys::fchmod(dir, Mode::from_raw_mode(mode))?)
    }

    fn make_dir_at(&self, dir: Self::Dir<'_>, name: &OsStr) -> io::Result<()> {
        Ok(make_private_dir(dir, name)?)
    }

    fn open_child_dir(&self, dir: Self::Dir<'_>, name: &OsStr) -> io::Result<Self::OpenDir> {
        Ok(sys::openat(dir, name, DIR_FLAGS, Mode::empty())?)
    }

    fn remove_at(&self, dir: Self::Dir<'_>, name: &OsStr) -> Result<(), Errno> {
        sys::unlinkat(dir, name, AtFlags::empty())
    }

    fn sweep_temps(&self, dir: BorrowedFd<'_>, rel: &Path) -> (Vec<CopyError>, bool) {
        let at = self.display(rel);
        match sweep_dead_temps(dir, self.temps.pid()) {
            Ok(swept) => {
                let failed = swept.failed.into_iter();
                let failed =
                    failed.map(|(name, e)| CopyError::new(at.join(name), Op::RemoveTemp, e));
                (failed.collect(), swept.partials)
            }
            Err(e) => (vec![CopyError::new(at, Op::ReadDir, e)], false),
        }
    }

    fn relate_named(
        &self,
        src: (BorrowedFd<'_>, &OsStr),
        dest: (Self::Dir<'_>, &OsStr),
    ) -> io::Result<crate::engine::data::same_bytes::Relation> {
        crate::engine::data::same_bytes::relate_named(src, dest)
    }

    /// Set aside under a temporary of this run, which the next run's sweep
    /// removes.
    fn take_away(&self, dir: Self::Dir<'_>, name: &OsStr) -> io::Result<TakenAway> {
        let why = match sys::unlinkat(dir, name, AtFlags::empty()) {
            Ok(()) | Err(Errno::NOENT) => return Ok(TakenAway::Removed),
            Err(e) => io::Error::from(e),
        };
        let aside = self.temp_name();
        match sys::rename_noreplace_or_look(dir, name, dir, aside.as_os_str()) {
            Ok(()) => Ok(TakenAway::SetAside { name: aside, why }),
            Err(_) => Err(why),
        }
    }
}

/// A folder the copy makes stays private (0700) until its own mode is set at
/// the end, so nobody reads into it half filled.
fn make_private_dir(dir: BorrowedFd<'_>, name: &OsStr) -> Result<(), Errno> {
    sys::mkdirat(dir, name, Mode::from_raw_mode(0o700))
}

/// Why `node` cannot be reached: a folder above it (or it) could not be put
/// in place, with that folder's own reason.
fn unplaced_ancestor(node: &DirNode) -> Option<io::Error> {
    for p in std::iter::successors(Some(node), |n| n.parent.as_deref()) {
        if let Some(stage) = p
            .stage
            .as_ref()
            .filter(|s| s.is_settled() && !s.is_placed())
        {
            let (kind, reason) = stage
                .failure()
                .unwrap_or((io::ErrorKind::Other, String::new()));
            let why = format!(
                "the folder it is in ({}) could not be put in place: {reason}",
                DisplayPath(&p.rel)
            );
            return Some(io::Error::new(kind, why));
        }
    }
    None
}

/// The file a copy is written into, until it is complete.
pub(crate) enum NewFile<'r, D: AsFd> {
    Nameless {
        root: &'r DestRoot,
        dir: D,
        at: Arc<DirNode>,
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

    /// Leaves a named temporary where it is (a partial to resume); its name.
    pub fn keep(self) -> Option<OsString> {
        match self {
            NewFile::Named { entry, .. } => {
                let name = entry.name().to_os_string();
                entry.keep();
                Some(name)
            }
            NewFile::Nameless { .. } => None,
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
            NewFile::Nameless { root, dir, at, fd } => {
                if !replace {
                    return Ok(root.link_nameless(fd.as_fd(), dir.as_fd(), name)?);
                }
                let link = |temp: &OsStr| root.link_nameless(fd.as_fd(), dir.as_fd(), temp);
                let (temp, ()) = root.under_temp_name(link)?;
                root.entry(dir, &at, temp, false).commit(name, true)
            }
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
        let at = DirNode::root(false);
        drop(root.create_temp(fd.as_fd(), &at, 0o644, None).unwrap());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        std::fs::write(dir.path().join("x"), b"old").unwrap();
        let (t, _fd) = root.create_temp(fd.as_fd(), &at, 0o644, None).unwrap();
        assert!(t.commit(OsStr::new("x"), false).is_err());
        assert_eq!(std::fs::read(dir.path().join("x")).unwrap(), b"old");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn new_files_appear_only_complete_with_or_without_o_tmpfile() {
        for tmpfile in [true, false] {
            let dir = tempfile::tempdir().unwrap();
            let root = DestRoot::open(dir.path()).unwrap();
            if !tmpfile {
                root.learned.no_tmpfile();
            }
            let fd = root.dirs.open_dir(Path::new("")).unwrap();
            let at = DirNode::root(false);
            let listed = || std::fs::read_dir(dir.path()).unwrap().count();
            let f = root.create_file(fd.as_fd(), &at, 0o644, None).unwrap();
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
            let f = root.create_file(fd.as_fd(), &at, 0o644, None).unwrap();
            rustix::io::write(f.fd(), b"newer").unwrap();
            assert!(f.commit(OsStr::new("a"), false).is_err());
            assert_eq!(std::fs::read(dir.path().join("a")).unwrap(), b"new");
            // Replacing: the new version takes the name in one step.
            let f = root.create_file(fd.as_fd(), &at, 0o644, None).unwrap();
            rustix::io::write(f.fd(), b"newest").unwrap();
            f.commit(OsStr::new("a"), true).unwrap();
            assert_eq!(std::fs::read(dir.path().join("a")).unwrap(), b"newest");
            assert_eq!(listed(), 1, "no temporary left");
        }
    }
}
