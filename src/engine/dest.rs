//! Writing beneath the destination without ever following a symlink that is in it.
//! Every folder is opened from the destination root with `openat2` and
//! `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS`; files are created as fixed-length
//! temporaries with `O_EXCL` in that folder and renamed into place when complete.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use rustix::fs::{self as rfs, AtFlags, Mode, OFlags, RenameFlags};
use rustix::io::Errno;

use super::beneath::Beneath;

const TEMP_PREFIX: &str = ".convoy-";
const TEMP_SUFFIX: &str = ".tmp";
/// `.convoy-` + 8 hex digits of pid + 8 of randomness + `.tmp`: always 28 bytes,
/// whatever the final name's length, so NAME_MAX is never at stake.
const TEMP_LEN: usize = TEMP_PREFIX.len() + 16 + TEMP_SUFFIX.len();

pub(crate) use super::beneath::DIR_FLAGS;

pub(crate) struct DestRoot {
    dirs: Beneath,
    path: PathBuf,
    /// Cleared the first time the filesystem refuses O_TMPFILE.
    has_tmpfile: AtomicBool,
    /// Set the first time `linkat(AT_EMPTY_PATH)` is refused (it needs
    /// CAP_DAC_READ_SEARCH): link through /proc/self/fd instead.
    link_by_proc: AtomicBool,
    temp_seq: AtomicU64,
    temp_seed: u64,
    pid: u32,
}

impl DestRoot {
    /// Opens the destination folder the user named (following symlinks in the
    /// path they typed: that is their choice; nothing beneath it is followed).
    pub fn open(path: &Path) -> io::Result<Self> {
        let fd = rfs::open(path, DIR_FLAGS.difference(OFlags::NOFOLLOW), Mode::empty())?;
        let pid = rustix::process::getpid().as_raw_nonzero().get() as u32;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Ok(DestRoot {
            dirs: Beneath::new(fd, false),
            path: path.to_path_buf(),
            has_tmpfile: AtomicBool::new(true),
            link_by_proc: AtomicBool::new(false),
            temp_seq: AtomicU64::new(0),
            temp_seed: nanos ^ (u64::from(pid) << 32),
            pid,
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

    /// Opens the folder at `rel` beneath the root; fails with ELOOP/EXDEV rather
    /// than follow a symlink or `..` anywhere on the way.
    pub fn open_dir(&self, rel: &Path) -> io::Result<OwnedFd> {
        self.dirs.open_dir(rel)
    }

    fn temp_name(&self) -> OsString {
        let n = self.temp_seq.fetch_add(1, Ordering::Relaxed);
        let r = splitmix64(self.temp_seed.wrapping_add(n)) as u32;
        OsString::from(format!("{TEMP_PREFIX}{:08x}{r:08x}{TEMP_SUFFIX}", self.pid))
    }

    /// Creates the file a copy is written into: nameless (O_TMPFILE) where the
    /// filesystem allows, so it needs no name until it is complete and vanishes
    /// by itself if the process dies; a named temporary otherwise.
    pub fn create_file<D: AsFd>(&self, dir: D, mode: u32) -> io::Result<NewFile<'_, D>> {
        if self.has_tmpfile.load(Ordering::Relaxed) {
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
        let (entry, fd) = self.create_temp(dir, mode)?;
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

    /// Creates a new, empty temporary file in `dir`, retrying on a name clash.
    /// The guard removes it again unless it is committed.
    pub fn create_temp<D: AsFd>(&self, dir: D, mode: u32) -> io::Result<(TempEntry<D>, OwnedFd)> {
        let flags =
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        for _ in 0..16 {
            let name = self.temp_name();
            match rfs::openat(&dir, &name, flags, Mode::from_raw_mode(mode & 0o777)) {
                Ok(fd) => return Ok((TempEntry { dir, name }, fd)),
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
                Ok(()) => return Ok(TempEntry { dir, name }),
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
                Ok(()) => return Ok(TempEntry { dir, name }),
                Err(Errno::EXIST) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(io::Error::from(Errno::EXIST))
    }

    /// Removes temporaries left by convoy runs that are no longer alive (a
    /// `kill -9`, a power cut). A live run's temporaries are left alone.
    pub fn sweep_temps(&self, dir: BorrowedFd<'_>) -> io::Result<usize> {
        let fd = rfs::openat(dir, ".", DIR_FLAGS, Mode::empty())?;
        let mut removed = 0;
        for entry in rfs::Dir::read_from(&fd)? {
            let entry = entry?;
            let name = OsStr::from_bytes(entry.file_name().to_bytes());
            let Some(pid) = temp_owner(name) else {
                continue;
            };
            if pid != self.pid && !process_alive(pid) {
                match rfs::unlinkat(dir, name, AtFlags::empty()) {
                    Ok(()) => removed += 1,
                    Err(Errno::NOENT) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Ok(removed)
    }
}

/// The pid that made a temporary, if `name` is one of convoy's.
pub(crate) fn temp_owner(name: &OsStr) -> Option<u32> {
    let b = name.as_bytes();
    if b.len() != TEMP_LEN
        || !b.starts_with(TEMP_PREFIX.as_bytes())
        || !b.ends_with(TEMP_SUFFIX.as_bytes())
    {
        return None;
    }
    let hex = &b[TEMP_PREFIX.len()..TEMP_PREFIX.len() + 16];
    if !hex.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    u32::from_str_radix(std::str::from_utf8(&hex[..8]).ok()?, 16).ok()
}

fn process_alive(pid: u32) -> bool {
    let Some(pid) = rustix::process::Pid::from_raw(pid as i32) else {
        return false;
    };
    // EPERM means it exists but belongs to someone else.
    !matches!(rustix::process::test_kill_process(pid), Err(Errno::SRCH))
}

fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
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
                        Ok(()) => {
                            let entry = TempEntry { dir, name: temp };
                            return entry.commit(name, true);
                        }
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
}

impl<D: AsFd> TempEntry<D> {
    /// Moves the finished temporary to `name`. Without `replace` an entry that
    /// appeared meanwhile is never clobbered: the call fails with EEXIST.
    pub fn commit(mut self, name: &OsStr, replace: bool) -> io::Result<()> {
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
    fn temp_names_have_a_fixed_length_and_are_recognised() {
        let dir = tempfile::tempdir().unwrap();
        let root = DestRoot::open(dir.path()).unwrap();
        let a = root.temp_name();
        let b = root.temp_name();
        assert_ne!(a, b);
        assert_eq!(a.len(), TEMP_LEN);
        assert_eq!(temp_owner(&a), Some(root.pid));
        assert_eq!(temp_owner(OsStr::new(".convoy-notatemp.tmp")), None);
        assert_eq!(temp_owner(OsStr::new("report.tmp")), None);
    }

    #[test]
    fn open_dir_refuses_a_symlink_on_the_way() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("real")).unwrap();
        std::os::unix::fs::symlink("real", dir.path().join("link")).unwrap();
        let root = DestRoot::open(dir.path()).unwrap();
        assert!(root.open_dir(Path::new("real")).is_ok());
        assert!(root.open_dir(Path::new("link")).is_err());
        assert!(
            root.dirs
                .open_by_components(root.root_fd(), Path::new("link"))
                .is_err()
        );
        assert!(root.open_dir(Path::new("../")).is_err());
    }

    #[test]
    fn dropped_temp_is_removed_and_commit_does_not_clobber() {
        let dir = tempfile::tempdir().unwrap();
        let root = DestRoot::open(dir.path()).unwrap();
        let fd = root.open_dir(Path::new("")).unwrap();
        drop(root.create_temp(fd.as_fd(), 0o644).unwrap());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        std::fs::write(dir.path().join("x"), b"old").unwrap();
        let (t, _fd) = root.create_temp(fd.as_fd(), 0o644).unwrap();
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
            let fd = root.open_dir(Path::new("")).unwrap();
            let listed = || std::fs::read_dir(dir.path()).unwrap().count();
            let f = root.create_file(fd.as_fd(), 0o644).unwrap();
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
            let f = root.create_file(fd.as_fd(), 0o644).unwrap();
            rustix::io::write(f.fd(), b"newer").unwrap();
            assert!(f.commit(OsStr::new("a"), false).is_err());
            assert_eq!(std::fs::read(dir.path().join("a")).unwrap(), b"new");
            // Replacing: the new version takes the name in one step.
            let f = root.create_file(fd.as_fd(), 0o644).unwrap();
            rustix::io::write(f.fd(), b"newest").unwrap();
            f.commit(OsStr::new("a"), true).unwrap();
            assert_eq!(std::fs::read(dir.path().join("a")).unwrap(), b"newest");
            assert_eq!(listed(), 1, "no temporary left");
        }
    }
}
