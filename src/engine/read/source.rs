//! Reading the source through folder handles: a worker opens a batch's folder once
//! and each file relative to it, so no full path is resolved per file, no path is
//! too long to reach, and (without `-L`) no symlink swapped into the source after
//! the walk redirects a read.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags};

use super::{Fresh, Source};
use crate::engine::meta::attrs::{SrcMeta, regular_meta};
use crate::engine::os::beneath::{Beneath, DIR_FLAGS};
use crate::engine::os::sys;

pub(crate) struct SourceRoot {
    dirs: Beneath,
    path: PathBuf,
}

impl SourceRoot {
    /// Opens the source folder the user named, following symlinks in the path
    /// they typed; beneath it symlinks are followed only with `-L`.
    pub fn open(path: &Path, follow: bool) -> io::Result<Self> {
        let fd = sys::open(path, DIR_FLAGS.difference(OFlags::NOFOLLOW), Mode::empty())?;
        Ok(SourceRoot {
            dirs: Beneath::new(fd, follow),
            path: path.to_path_buf(),
        })
    }
}

impl Source for SourceRoot {
    type OpenDir = OwnedFd;
    type Dir<'a> = BorrowedFd<'a>;
    type File = OwnedFd;

    fn dir(open: &OwnedFd) -> BorrowedFd<'_> {
        open.as_fd()
    }

    fn local_fd(open: &OwnedFd) -> Option<BorrowedFd<'_>> {
        Some(open.as_fd())
    }

    fn display(&self, rel: &Path) -> PathBuf {
        if rel.as_os_str().is_empty() {
            self.path.clone()
        } else {
            self.path.join(rel)
        }
    }

    fn open_dir(&self, rel: &Path) -> io::Result<Self::OpenDir> {
        self.dirs.open_dir(rel)
    }

    fn open_child_dir(&self, dir: Self::Dir<'_>, name: &OsStr) -> io::Result<Self::OpenDir> {
        self.dirs.open_by_components(dir, Path::new(name))
    }

    fn stat_at(&self, dir: Self::Dir<'_>, name: &OsStr) -> io::Result<SrcMeta> {
        let flags = if self.dirs.follow {
            AtFlags::empty()
        } else {
            AtFlags::SYMLINK_NOFOLLOW
        };
        Ok((&sys::statat(dir, name, flags)?).into())
    }

    /// Trusting the walk saves one `fstat` per small file; the copy re-checks
    /// when what it reads disagrees (see `Fresh`).
    fn open_file(
        &self,
        dir: Self::Dir<'_>,
        name: &OsStr,
        walked: &SrcMeta,
        trust_walk: bool,
    ) -> io::Result<(Self::File, SrcMeta, Fresh)> {
        // NONBLOCK: a FIFO swapped in after the walk must not hang the open.
        let mut flags = OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NONBLOCK;
        if !self.dirs.follow {
            flags |= OFlags::NOFOLLOW;
        }
        let fd = sys::openat(dir, name, flags, Mode::empty())?;
        if trust_walk {
            return Ok((fd, *walked, Fresh::Walked));
        }
        let meta = regular_meta(fd.as_fd())?;
        Ok((fd, meta, Fresh::Checked))
    }

    fn read_link(&self, dir: Self::Dir<'_>, name: &OsStr) -> io::Result<PathBuf> {
        let target = sys::readlinkat(dir, name)?;
        Ok(PathBuf::from(OsString::from_vec(target.into_bytes())))
    }

    fn list(
        &self,
        dir: BorrowedFd<'_>,
        mut each: impl FnMut(OsString, io::Result<SrcMeta>, FileType) -> bool,
    ) -> io::Result<()> {
        for entry in sys::read_dir(dir)? {
            // What could not be listed is the caller's to report; what was
            // listed is copied.
            let entry = entry?;
            let name = entry.file_name().to_bytes();
            if name == b"." || name == b".." {
                continue;
            }
            let name = OsString::from_vec(name.to_vec());
            let meta = self.stat_at(dir, &name);
            if !each(name, meta, entry.file_type()) {
                break;
            }
        }
        Ok(())
    }
}
