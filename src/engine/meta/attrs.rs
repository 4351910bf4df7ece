//! Source metadata as the walk saw it, and applying it to the copy: on the open
//! temporary's descriptor where there is one (no path lookups, and the final name
//! appears with its metadata already set). File types are rustix's `FileType`
//! throughout the engine.

use std::ffi::OsStr;
use std::fs::Metadata;
use std::io;
use std::os::fd::BorrowedFd;
use std::os::unix::fs::MetadataExt;

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, Timespec, Timestamps};
use rustix::process::{Gid, Uid};

use super::kept::{NotKept, What, Why};
use super::xattrs::{self, At, Held, Wanted, XattrBuf};
use crate::config::Preserve;
use crate::engine::os::sys;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SrcMeta {
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    pub atime: (i64, i64),
    pub mtime: (i64, i64),
    /// When its metadata or content last changed: a write that keeps the
    /// size and puts the time back still moves it.
    pub ctime: (i64, i64),
    pub dev: u64,
    pub ino: u64,
    pub nlink: u64,
    /// 512-byte blocks allocated: fewer than the size needs means holes.
    pub blocks: u64,
    /// The device a device node stands for.
    pub rdev: u64,
}

impl From<&Metadata> for SrcMeta {
    fn from(m: &Metadata) -> Self {
        SrcMeta {
            mode: m.mode(),
            uid: m.uid(),
            gid: m.gid(),
            size: m.size(),
            atime: (m.atime(), m.atime_nsec()),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
            dev: m.dev(),
            ino: m.ino(),
            nlink: m.nlink(),
            blocks: m.blocks(),
            rdev: m.rdev(),
        }
    }
}

impl From<&rfs::Stat> for SrcMeta {
    fn from(s: &rfs::Stat) -> Self {
        SrcMeta {
            mode: s.st_mode,
            uid: s.st_uid,
            gid: s.st_gid,
            size: s.st_size as u64,
            atime: (s.st_atime, s.st_atime_nsec as i64),
            mtime: (s.st_mtime, s.st_mtime_nsec as i64),
            ctime: (s.st_ctime, s.st_ctime_nsec as i64),
            dev: s.st_dev,
            ino: s.st_ino,
            nlink: s.st_nlink,
            blocks: s.st_blocks as u64,
            rdev: s.st_rdev,
        }
    }
}

impl SrcMeta {
    pub fn file_type(&self) -> FileType {
        FileType::from_raw_mode(self.mode)
    }

    pub fn is_dir(&self) -> bool {
        self.file_type() == FileType::Directory
    }

    pub fn is_file(&self) -> bool {
        self.file_type() == FileType::RegularFile
    }

    /// Whether the file `now` describes is not the one this was read from
    /// any more: another size, time or change time.
    pub fn changed_since(&self, now: &SrcMeta) -> bool {
        (self.size, self.mtime, self.ctime) != (now.size, now.mtime, now.ctime)
    }

    pub fn is_sparse(&self) -> bool {
        self.blocks.saturating_mul(512) < self.size
    }

    pub fn timestamps(&self) -> Timestamps {
        let ts = |(s, ns): (i64, i64)| Timespec {
            tv_sec: s,
            tv_nsec: ns,
        };
        Timestamps {
            last_access: ts(self.atime),
            last_modification: ts(self.mtime),
        }
    }
}

#[cfg(test)]
impl SrcMeta {
    /// A regular file for unit tests: mode 0644, all its blocks allocated.
    pub fn test_file(size: u64, mtime: i64) -> SrcMeta {
        SrcMeta {
            mode: 0o100644,
            uid: 0,
            gid: 0,
            size,
            atime: (0, 0),
            mtime: (mtime, 0),
            ctime: (mtime, 0),
            dev: 1,
            ino: 1,
            nlink: 1,
            blocks: size.div_ceil(512),
            rdev: 0,
        }
    }
}

/// How closely the destination keeps modification times, in nanoseconds: 1
/// where it keeps them exactly, 100 on NTFS, 10 ms on exFAT, 1 s over SFTP, 2 s
/// on FAT. Times are the same when they differ by less than this.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TimeWindow(pub u64);

impl TimeWindow {
    pub const EXACT: TimeWindow = TimeWindow(1);

    fn nanos((s, ns): (i64, i64)) -> i128 {
        i128::from(s) * 1_000_000_000 + i128::from(ns)
    }

    pub fn same(self, a: (i64, i64), b: (i64, i64)) -> bool {
        (Self::nanos(a) - Self::nanos(b)).unsigned_abs() < u128::from(self.0)
    }

    /// `a` is later than `b` by more than the destination could have lost.
    pub fn later(self, a: (i64, i64), b: (i64, i64)) -> bool {
        Self::nanos(a) - Self::nanos(b) >= i128::from(self.0)
    }

    /// A regular file of the same size and, within the window, the same time:
    /// what "up to date" means for a file.
    pub fn same_content(self, a: &SrcMeta, b: &SrcMeta) -> bool {
        let same_node = || {
            special_kind(a.file_type()).is_some()
                && a.file_type() == b.file_type()
                && a.rdev == b.rdev
        };
        (a.is_file() && b.is_file() && a.size == b.size || same_node())
            && self.same(a.mtime, b.mtime)
    }
}

/// What the filesystem of the destination keeps of a file's metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FileMeta {
    pub window: TimeWindow,
    /// Permission bits as set (exFAT and FAT show the mount's instead).
    pub modes: bool,
    /// Owners as set (asked only when owners are kept).
    pub owners: bool,
    /// A second name for a file (exFAT, FAT: none).
    pub hard_links: bool,
    /// Symlinks at all (exFAT, FAT: none).
    pub symlinks: bool,
    /// FIFOs, sockets and device nodes at all (exFAT, FAT: none).
    pub nodes: bool,
    /// `a` and `A` are one name (exFAT, FAT, NTFS in Windows mode, most
    /// SMB shares).
    pub ignores_case: bool,
    /// User attributes and ACLs as set.
    pub attrs: Held,
    /// A file grown by `ftruncate` stays a hole (exFAT: allocated; fusefat:
    /// refused).
    pub holes: bool,
    /// A rename keeps a file's modification time (fusefat: set to now).
    pub rename_keeps_times: bool,
    /// Handles beneath a renamed folder still work (fusefat: they go stale,
    /// so folders are made under their own names there, not staged).
    pub renames_keep_handles: bool,
}

impl FileMeta {
    pub const EXACT: FileMeta = FileMeta {
        window: TimeWindow::EXACT,
        modes: true,
        owners: true,
        hard_links: true,
        symlinks: true,
        nodes: true,
        ignores_case: false,
        attrs: Held::ALL,
        holes: true,
        rename_keeps_times: true,
        renames_keep_handles: true,
    };
}

/// Whether a symlink's own metadata can be set without touching its target,
/// and if not, why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SymlinkMeta {
    pub times: Result<(), Why>,
    pub owner: Result<(), Why>,
}

/// The metadata of an open file, which must (still) be a regular file.
pub(crate) fn regular_meta(fd: BorrowedFd<'_>) -> io::Result<SrcMeta> {
    let st = sys::fstat(fd)?;
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
        return Err(io::Error::other("no longer a regular file"));
    }
    Ok((&st).into())
}

/// Does `change` in the folder `dir` and puts the folder's times back, so
/// a probe's temporaries, or a move's removals, leave no trace on it; also
/// says whether the times could be put back.
pub(crate) fn keeping_times<T>(
    dir: BorrowedFd<'_>,
    change: impl FnOnce() -> T,
) -> (T, io::Result<()>) {
    let before = sys::fstat(dir);
    let done = change();
    // Times never read are not put back either.
    let put_back = match before {
        Ok(st) => sys::futimens(dir, &SrcMeta::from(&st).timestamps()).map_err(Into::into),
        Err(_) => Ok(()),
    };
    (done, put_back)
}

/// What a FIFO, socket or device is called in a message; `None` for the types
/// that are copied.
pub(crate) fn special_kind(ft: FileType) -> Option<&'static str> {
    match ft {
        FileType::Fifo => Some("FIFO"),
        FileType::Socket => Some("socket"),
        FileType::BlockDevice => Some("block device"),
        FileType::CharacterDevice => Some("character device"),
        _ => None,
    }
}

/// How much of the source's metadata this process can and should reproduce.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MetaPolicy {
    /// Owners are kept: run as root (only root may give files away), not
    /// left out, and held by the destination.
    pub owner: bool,
    /// Owners would be kept but the destination holds none (counted).
    pub wants_owner: bool,
    /// The destination holds permission bits (exFAT and FAT do not).
    pub modes: bool,
    /// The process umask: a file created with `mode & !umask == mode` needs no chmod.
    pub umask: u32,
    /// Who new files belong to anyway: chown only when the source differs.
    pub euid: u32,
    pub egid: u32,
    pub attrs: Wanted,
}

/// Where an entry's extended attributes come from, and the buffers to copy them.
pub(crate) struct Attrs<'a, 'b> {
    pub from: At<'a>,
    pub buf: &'b mut XattrBuf,
    pub lost: &'b NotKept,
}

impl MetaPolicy {
    /// The policy for this process and a destination that keeps `kept`.
    pub fn current(preserve: Preserve, kept: FileMeta) -> Self {
        // umask can only be read by setting it; this runs before any worker starts.
        let old = rustix::process::umask(Mode::from_raw_mode(0o022));
        rustix::process::umask(old);
        let wants_owner = preserve.owner && rustix::process::geteuid().is_root();
        MetaPolicy {
            owner: wants_owner && kept.owners,
            wants_owner,
            modes: kept.modes,
            umask: old.as_raw_mode(),
            euid: rustix::process::geteuid().as_raw(),
            egid: rustix::process::getegid().as_raw(),
            attrs: Wanted {
                xattrs: preserve.xattrs,
                acls: preserve.acls,
                held: kept.attrs,
            },
        }
    }

    /// Applies owner, mode, extended attributes and times, in that order, to a
    /// file created with `mode & 0o777` in a folder whose new files get the
    /// group `new_gid` (a set-gid folder's).
    pub fn apply_fd(
        &self,
        fd: BorrowedFd<'_>,
        m: &SrcMeta,
        new_gid: u32,
        attrs: Attrs<'_, '_>,
    ) -> io::Result<()> {
        let mode = self.mode_for(m, new_gid);
        let mut chmod_needed = (mode & 0o777) & self.umask != 0 || mode & 0o7000 != 0;
        // chown clears set-id bits, so the mode follows it.
        if self.owner && (self.euid != m.uid || new_gid != m.gid) {
            sys::fchown(fd, Uid::from_raw(m.uid), Gid::from_raw(m.gid))?;
            chmod_needed |= mode & 0o7000 != 0;
        }
        if chmod_needed && self.modes {
            sys::fchmod(fd, Mode::from_raw_mode(mode))?;
        }
        xattrs::copy(attrs.from, At::Fd(fd), self.attrs, attrs.buf, attrs.lost)?;
        sys::futimens(fd, &m.timestamps())?;
        Ok(())
    }

    /// The mode a copy gets. A copy that cannot have its source's owner (not
    /// run as root) loses the set-user-id and set-group-id bits that would
    /// grant the copier's own identity instead, as cp does.
    pub fn mode_for(&self, m: &SrcMeta, new_gid: u32) -> u32 {
        let mut mode = m.mode & 0o7777;
        if !self.owner {
            if m.uid != self.euid {
                mode &= !0o4000;
            }
            if m.gid != new_gid {
                mode &= !0o2000;
            }
        }
        mode
    }

    /// Folders: always chmod, since they were created private while being filled.
    pub fn apply_dir(
        &self,
        fd: BorrowedFd<'_>,
        m: &SrcMeta,
        attrs: Attrs<'_, '_>,
    ) -> io::Result<()> {
        if self.owner {
            sys::fchown(fd, Uid::from_raw(m.uid), Gid::from_raw(m.gid))?;
        }
        if self.modes {
            sys::fchmod(fd, Mode::from_raw_mode(m.mode & 0o7777))?;
        }
        xattrs::copy(attrs.from, At::Fd(fd), self.attrs, attrs.buf, attrs.lost)?;
        sys::futimens(fd, &m.timestamps())?;
        Ok(())
    }

    /// Symlinks have no descriptor to use: owner, attributes and times by
    /// name, not followed, as far as the destination can set them (`can`);
    /// what it cannot is counted, not failed.
    pub fn apply_symlink(
        &self,
        dir: BorrowedFd<'_>,
        name: &OsStr,
        m: &SrcMeta,
        can: SymlinkMeta,
        attrs: Attrs<'_, '_>,
    ) -> io::Result<()> {
        if self.owner && can.owner.is_ok() {
            sys::chownat(
                dir,
                name,
                Uid::from_raw(m.uid),
                Gid::from_raw(m.gid),
                AtFlags::SYMLINK_NOFOLLOW,
            )?;
        } else if let (true, Err(why)) = (self.owner, can.owner) {
            attrs.lost.add(What::SymlinkOwners, why);
        }
        xattrs::copy(
            attrs.from,
            At::Link(dir, name),
            self.attrs,
            attrs.buf,
            attrs.lost,
        )?;
        match can.times {
            Ok(()) => sys::utimensat(dir, name, &m.timestamps(), AtFlags::SYMLINK_NOFOLLOW)?,
            Err(why) => attrs.lost.add(What::SymlinkTimes, why),
        }
        Ok(())
    }
}
