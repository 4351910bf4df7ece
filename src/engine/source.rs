//! Reading the source through folder handles: a worker opens a batch's folder once
//! and each file relative to it, so no full path is resolved per file, no path is
//! too long to reach, and (without `-L`) no symlink swapped into the source after
//! the walk redirects a read.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

use rustix::fs::{self as rfs, AtFlags, Mode, OFlags};
use rustix::io::Errno;

use super::beneath::{Beneath, DIR_FLAGS};
use super::meta::{SrcMeta, regular_meta};

/// Where an open source file's metadata comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fresh {
    /// `fstat` of the open file: type and size are known.
    Checked,
    /// The walk's `lstat`: to be checked if the file reads differently.
    Walked,
}

pub(crate) struct SourceRoot {
    dirs: Beneath,
    path: PathBuf,
}

impl SourceRoot {
    /// Opens the source folder the user named, following symlinks in the path
    /// they typed; beneath it symlinks are followed only with `-L`.
    pub fn open(path: &Path, follow: bool) -> io::Result<Self> {
        let fd = rfs::open(path, DIR_FLAGS.difference(OFlags::NOFOLLOW), Mode::empty())?;
        Ok(SourceRoot {
            dirs: Beneath::new(fd, follow),
            path: path.to_path_buf(),
        })
    }

    /// The source path of `rel`, for messages.
    pub fn display(&self, rel: &Path) -> PathBuf {
        if rel.as_os_str().is_empty() {
            self.path.clone()
        } else {
            self.path.join(rel)
        }
    }

    pub fn open_dir(&self, rel: &Path) -> io::Result<OwnedFd> {
        self.dirs.open_dir(rel)
    }

    /// Opens the folder `name` inside the open folder `dir`.
    pub fn open_child_dir(&self, dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<OwnedFd> {
        self.dirs.open_by_components(dir, Path::new(name))
    }

    /// Device and inode of the root and of every folder on the way to `rel`
    /// (itself included): the ancestors a followed symlink must not loop back to.
    pub fn ids_on_the_way(&self, rel: &Path) -> io::Result<Vec<(u64, u64)>> {
        let id = |fd: &OwnedFd| rfs::fstat(fd).map(|st| (st.st_dev, st.st_ino));
        let mut fd = rfs::openat(&self.dirs.fd, ".", DIR_FLAGS, Mode::empty())?;
        let mut ids = vec![id(&fd)?];
        for name in rel.iter() {
            fd = self.open_child_dir(fd.as_fd(), name)?;
            ids.push(id(&fd)?);
        }
        Ok(ids)
    }

    /// Metadata of `name` in `dir` (of what a symlink points to, with `-L`).
    pub fn stat_at(&self, dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<SrcMeta> {
        let flags = if self.dirs.follow {
            AtFlags::empty()
        } else {
            AtFlags::SYMLINK_NOFOLLOW
        };
        Ok((&rfs::statat(dir, name, flags)?).into())
    }

    /// Metadata of the entry at `rel`, however deep: for entries whose full path
    /// is longer than the kernel resolves.
    pub fn stat(&self, rel: &Path) -> io::Result<SrcMeta> {
        let (parent, name) = match (rel.parent(), rel.file_name()) {
            (Some(p), Some(n)) => (p, n),
            _ => return Err(io::Error::from(Errno::INVAL)),
        };
        let dir = self.open_dir(parent)?;
        self.stat_at(dir.as_fd(), name)
    }

    /// Opens the regular file `name` in `dir` for reading and returns its
    /// metadata: the walk's when the caller `trust_walk`s it (one `fstat` fewer
    /// per small file; the copy re-checks when what it reads disagrees, see
    /// `Fresh`), a fresh `fstat` otherwise.
    pub fn open_file(
        &self,
        dir: BorrowedFd<'_>,
        name: &OsStr,
        walked: &SrcMeta,
        trust_walk: bool,
    ) -> io::Result<(OwnedFd, SrcMeta, Fresh)> {
        // NONBLOCK: a FIFO swapped in after the walk must not hang the open.
        let mut flags = OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NONBLOCK;
        if !self.dirs.follow {
            flags |= OFlags::NOFOLLOW;
        }
        let fd = rfs::openat(dir, name, flags, Mode::empty())?;
        if trust_walk {
            return Ok((fd, *walked, Fresh::Walked));
        }
        let meta = regular_meta(fd.as_fd())?;
        Ok((fd, meta, Fresh::Checked))
    }

    pub fn read_link(&self, dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<PathBuf> {
        let target = rfs::readlinkat(dir, name, Vec::new())?;
        Ok(PathBuf::from(OsString::from_vec(target.into_bytes())))
    }
}
