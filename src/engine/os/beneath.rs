//! Opening a folder beneath a root handle, whatever the length of the path: one
//! `openat2` call when the kernel has it and the path fits PATH_MAX, otherwise one
//! `openat` per component (which no path length can defeat).

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path};

use super::sys;
use std::sync::atomic::{AtomicBool, Ordering};

use rustix::fs::{Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

pub(crate) const DIR_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

/// A root folder handle and how folders beneath it may be reached.
pub(crate) struct Beneath {
    pub fd: OwnedFd,
    /// Follow symlinks on the way (`-L` on the source side); never beneath the
    /// destination.
    pub follow: bool,
    /// Cleared the first time the kernel answers ENOSYS to openat2.
    has_openat2: AtomicBool,
}

impl Beneath {
    pub fn new(fd: OwnedFd, follow: bool) -> Self {
        Beneath {
            fd,
            follow,
            has_openat2: AtomicBool::new(true),
        }
    }

    fn flags(&self) -> OFlags {
        if self.follow {
            DIR_FLAGS.difference(OFlags::NOFOLLOW)
        } else {
            DIR_FLAGS
        }
    }

    /// Opens the folder at `rel` beneath the root. Without `follow` it fails with
    /// ELOOP/EXDEV rather than follow a symlink or `..` anywhere on the way.
    pub fn open_dir(&self, rel: &Path) -> io::Result<OwnedFd> {
        let rel = if rel.as_os_str().is_empty() {
            Path::new(".")
        } else {
            rel
        };
        if self.has_openat2.load(Ordering::Relaxed) {
            let resolve = if self.follow {
                ResolveFlags::empty()
            } else {
                ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS
            };
            match sys::openat2(&self.fd, rel, self.flags(), Mode::empty(), resolve) {
                Err(Errno::NOSYS) => self.has_openat2.store(false, Ordering::Relaxed),
                // EAGAIN: a concurrent rename elsewhere; the kernel asks for a retry.
                // NAMETOOLONG: deeper than PATH_MAX, reachable one step at a time.
                Err(Errno::AGAIN | Errno::NAMETOOLONG) => {}
                r => return r.map_err(Into::into),
            }
        }
        self.open_by_components(self.fd.as_fd(), rel)
    }

    /// Opens `rel` beneath `from` (the root or a folder beneath it) one
    /// `openat` per component.
    pub fn open_by_components(&self, from: BorrowedFd<'_>, rel: &Path) -> io::Result<OwnedFd> {
        let mut fd = sys::openat(from, ".", DIR_FLAGS, Mode::empty())?;
        for comp in rel.components() {
            match comp {
                Component::Normal(name) => {
                    fd = sys::openat(&fd, name, self.flags(), Mode::empty())?;
                }
                Component::CurDir => {}
                _ => return Err(io::Error::from(Errno::XDEV)),
            }
        }
        Ok(fd)
    }
}
