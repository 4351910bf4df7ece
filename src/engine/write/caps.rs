//! What a destination can do, learned by trying instead of trusting a table of
//! filesystem names: whether it takes a no-replace rename, a nameless file, a
//! hard link, a symlink (learned at the first refusal), and whether a
//! symlink's own times and owner can be set (probed once: over SFTP, sshfs,
//! setting them changes the file the link points to, and a dangling link
//! fails; there convoy leaves them alone and says so).

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};

use rustix::fs::{AtFlags, Gid, Mode, OFlags, RenameFlags, Timespec, Timestamps, Uid};
use rustix::io::Errno;

use super::temp_name::TempNames;
use crate::engine::data::kernel_copy::KernelCopy;
use crate::engine::meta::attrs::{FileMeta, SymlinkMeta, TimeWindow};
use crate::engine::meta::kept::Why;
use crate::engine::meta::xattrs::{Held, PROBE_ACL, holds};
use crate::engine::os::beneath::DIR_FLAGS;
use crate::engine::os::sys;

/// What the destination can do, in one record (rclone's `Features` and
/// `Precision`, OpenDAL's `Capability`): what its probe found at the start
/// (`keeps`, with the window its times are kept within) and what the run
/// learns as it goes (`learned` at a first refusal, the in-kernel copy the two
/// filesystems take, whether a symlink's own metadata can be set). Every part
/// of the copy asks this, never a filesystem's name.
pub(crate) struct Caps {
    pub keeps: FileMeta,
    /// Shared with the destination, which learns most of it.
    pub learned: Arc<Learned>,
    pub kernel: KernelCopy,
    symlinks: OnceLock<SymlinkMeta>,
}

impl Caps {
    pub fn new(keeps: FileMeta, learned: Arc<Learned>) -> Self {
        Caps {
            keeps,
            learned,
            kernel: KernelCopy::default(),
            symlinks: OnceLock::new(),
        }
    }

    /// How closely the destination keeps times.
    pub fn window(&self) -> TimeWindow {
        self.keeps.window
    }

    /// Whether a symlink's own times and owner can be set, from `probe` the
    /// first time it is asked (other workers wait for that answer).
    pub fn symlinks(&self, probe: impl FnOnce() -> SymlinkMeta) -> SymlinkMeta {
        *self.symlinks.get_or_init(probe)
    }
}

/// What this run learned its destination refuses, so it is asked once: a
/// `RENAME_NOREPLACE` and a nameless (`O_TMPFILE`) file (cleared at the first
/// "not supported" answer: falling back is as safe, only slower); hard links
/// and symlinks (cleared only by [`probe_file_meta`]: a failure to make one
/// in mid-copy is a failure); clones (cleared at the first "cannot share
/// data": the file is then copied, which loses nothing).
pub(crate) struct Learned {
    noreplace: AtomicBool,
    tmpfile: AtomicBool,
    hardlinks: AtomicBool,
    symlinks: AtomicBool,
    clones: AtomicBool,
    /// Whether a symlink that is absolute or climbs out (`..`) can be read
    /// back: sshfs's `contain_symlinks` makes such links and then answers
    /// EPERM to `readlink`. One of [`LINKS_UNKNOWN`], `_READABLE`, `_HIDDEN`;
    /// learned from the first such link the run makes.
    escaping_links: AtomicU8,
}

const LINKS_UNKNOWN: u8 = 0;
const LINKS_READABLE: u8 = 1;
const LINKS_HIDDEN: u8 = 2;

/// Whether a symlink target is one a mount may hide: absolute, or with a
/// `..` in it.
pub(crate) fn escapes(target: &std::path::Path) -> bool {
    target.is_absolute()
        || target
            .components()
            .any(|c| c == std::path::Component::ParentDir)
}

/// A `readlink` answer that means "this mount will not show the target",
/// not that the link is missing or broken.
pub(crate) fn hidden_link(e: Errno) -> bool {
    matches!(e, Errno::PERM | Errno::ACCESS)
}

impl Default for Learned {
    fn default() -> Self {
        Learned {
            noreplace: AtomicBool::new(true),
            tmpfile: AtomicBool::new(true),
            hardlinks: AtomicBool::new(true),
            symlinks: AtomicBool::new(true),
            clones: AtomicBool::new(true),
            escaping_links: AtomicU8::new(LINKS_UNKNOWN),
        }
    }
}

impl Learned {
    pub fn noreplace(&self) -> bool {
        self.noreplace.load(Ordering::Relaxed)
    }

    pub fn no_noreplace(&self) {
        self.noreplace.store(false, Ordering::Relaxed);
    }

    pub fn tmpfile(&self) -> bool {
        self.tmpfile.load(Ordering::Relaxed)
    }

    pub fn no_tmpfile(&self) {
        self.tmpfile.store(false, Ordering::Relaxed);
    }

    pub fn hardlinks(&self) -> bool {
        self.hardlinks.load(Ordering::Relaxed)
    }

    pub fn no_hardlinks(&self) {
        self.hardlinks.store(false, Ordering::Relaxed);
    }

    pub fn symlinks(&self) -> bool {
        self.symlinks.load(Ordering::Relaxed)
    }

    pub fn no_symlinks(&self) {
        self.symlinks.store(false, Ordering::Relaxed);
    }

    pub fn clones(&self) -> bool {
        self.clones.load(Ordering::Relaxed)
    }

    pub fn no_clones(&self) {
        self.clones.store(false, Ordering::Relaxed);
    }

    /// Whether the link just made as `name` in `dir`, to `target`, can be
    /// read back: asked of the first escaping link only, then known.
    pub fn link_hidden(&self, dir: BorrowedFd<'_>, name: &OsStr, target: &std::path::Path) -> bool {
        if !escapes(target) {
            return false;
        }
        match self.escaping_links.load(Ordering::Relaxed) {
            LINKS_READABLE => false,
            LINKS_HIDDEN => true,
            _ => match sys::readlinkat(dir, name) {
                Ok(_) => {
                    self.escaping_links.store(LINKS_READABLE, Ordering::Relaxed);
                    false
                }
                Err(e) if hidden_link(e) => {
                    self.links_hidden();
                    true
                }
                Err(_) => false,
            },
        }
    }

    /// A link's target was refused to be read back (see [`hidden_link`]).
    pub fn links_hidden(&self) {
        self.escaping_links.store(LINKS_HIDDEN, Ordering::Relaxed);
    }
}

/// A `linkat` answer that means "this filesystem has no hard links" (exFAT:
/// EPERM; others: EOPNOTSUPP or ENOSYS), not a failure of the moment.
pub(crate) fn no_hard_links(e: Errno) -> bool {
    matches!(e, Errno::PERM | Errno::OPNOTSUPP | Errno::NOSYS)
}

/// A `symlinkat` answer that means "this filesystem has no symlinks".
pub(crate) fn no_symlinks(e: Errno) -> bool {
    matches!(e, Errno::PERM | Errno::OPNOTSUPP | Errno::NOSYS)
}

const ORIGINAL: i64 = 1_000_000_000;
const PROBE: i64 = 1_200_000_000;

fn at(secs: i64) -> Timestamps {
    let t = Timespec {
        tv_sec: secs,
        tv_nsec: 0,
    };
    Timestamps {
        last_access: t,
        last_modification: t,
    }
}

/// Tries, in `dir`, to set the times (and with `owner`, the owner) of a
/// temporary symlink to a temporary file, and looks at both: the link must
/// show the change (a network filesystem may show the file's cached state,
/// not its new one) and the file must not. A probe that
/// cannot even be set up, or that fails for another reason than "not
/// supported", says "yes": each symlink then reports its own error. Also
/// returns the probe's temporaries that could not be removed.
pub(crate) fn probe_symlinks(
    dir: BorrowedFd<'_>,
    names: &TempNames,
    owner: bool,
) -> (SymlinkMeta, Vec<(OsString, io::Error)>) {
    let yes = SymlinkMeta {
        times: Ok(()),
        owner: Ok(()),
    };
    let mut left = Vec::new();
    let mut remove = |name: OsString| {
        if let Err(e) = sys::unlinkat(dir, name.as_os_str(), AtFlags::empty()) {
            left.push((name, e.into()));
        }
    };
    let (file, link) = (names.next(), names.next());
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let Ok(fd) = sys::openat(dir, file.as_os_str(), flags, Mode::from_raw_mode(0o600)) else {
        return (yes, left);
    };
    let before = sys::futimens(&fd, &at(ORIGINAL)).and_then(|()| sys::fstat(&fd));
    drop(fd);
    let result = match before {
        Ok(before) if sys::symlinkat(file.as_os_str(), dir, link.as_os_str()).is_ok() => {
            let r = probe(dir, &file, &link, &before, owner);
            remove(link);
            r
        }
        _ => yes,
    };
    remove(file);
    (result, left)
}

/// What the filesystem of `dir` keeps, tried on a temporary file: a time with
/// odd seconds and all nine digits of nanoseconds comes back as it is kept
/// (1 ns exact, 100 ns NTFS, 10 ms exFAT, 1 s SFTP, 2 s FAT); a mode and (with
/// `owner`) an owner are kept or not; a hard link and a symlink can be made or
/// not; whether names that differ in case are one. Each is learned here, once, and never from a failure in the middle of
/// a copy: a dying disk may answer EPERM to one call, and that must fail the
/// file it hits, not quietly change how the rest is copied. A probe that
/// cannot be made says "all kept". Also returns its temporaries that could
/// not be removed.
pub(crate) fn probe_file_meta(
    dir: BorrowedFd<'_>,
    names: &TempNames,
    owner: bool,
) -> (FileMeta, Vec<(OsString, io::Error)>) {
    let mut left = Vec::new();
    let name = names.next();
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let Ok(fd) = sys::openat(dir, name.as_os_str(), flags, Mode::from_raw_mode(0o600)) else {
        return (FileMeta::EXACT, left);
    };
    let mut kept = FileMeta::EXACT;
    probe_modes_and_owner(fd.as_fd(), owner, &mut kept);
    // Refused, or taken and dropped (NTFS-3G without its `acl` option):
    // not held. (After the mode was tried: an ACL changes the mode.)
    kept.attrs = Held {
        user: holds(fd.as_fd(), c"user.convoy.probe", b"1") != Some(false),
        acls: holds(fd.as_fd(), c"system.posix_acl_access", &PROBE_ACL) != Some(false),
    };
    // The temporary's name has lower-case letters and random ones: found in
    // capitals, it is the same file (FUSE may give it another inode number
    // under another name, so that is not compared).
    let upper = OsString::from_vec(name.as_bytes().to_ascii_uppercase());
    kept.ignores_case = sys::statat(dir, &upper, AtFlags::SYMLINK_NOFOLLOW).is_ok();
    let set = Timespec {
        tv_sec: 1_234_567_891,
        tv_nsec: 987_654_321,
    };
    let times = Timestamps {
        last_access: set,
        last_modification: set,
    };
    let got = sys::futimens(&fd, &times).and_then(|()| sys::fstat(&fd));
    if let Ok(st) = &got {
        kept.window = window_of(set, mtime(st));
    }
    // Renamed, it must keep that time (fusefat stamps it with the rename's).
    let second = names.next();
    let plain = RenameFlags::empty();
    let name = match sys::renameat_with(dir, name.as_os_str(), dir, second.as_os_str(), plain) {
        Ok(()) => {
            if let (Ok(before), Ok(after)) = (&got, sys::statat(dir, &second, AtFlags::empty())) {
                kept.rename_keeps_times = mtime(before) == mtime(&after);
            }
            second
        }
        Err(_) => name,
    };
    // Asked twice: only two "not supported" answers in a row say so.
    let refused = |try_once: &mut dyn FnMut() -> bool| !try_once() && !try_once();
    kept.holes = !refused(&mut || leaves_a_hole(fd.as_fd()));
    drop(fd);
    let mut remove = |name: OsString| {
        if let Err(e) = sys::unlinkat(dir, name.as_os_str(), AtFlags::empty()) {
            left.push((name, e.into()));
        }
    };
    kept.hard_links = !refused(&mut || {
        let second = names.next();
        match sys::linkat(dir, &name, dir, &second, AtFlags::empty()) {
            Ok(()) => {
                remove(second);
                true
            }
            Err(e) => !no_hard_links(e),
        }
    });
    kept.symlinks = !refused(&mut || {
        let link = names.next();
        match sys::symlinkat(name.as_os_str(), dir, link.as_os_str()) {
            Ok(()) => {
                remove(link);
                true
            }
            Err(e) => !no_symlinks(e),
        }
    });
    // A FIFO stands for every kind of node (a device needs a right the
    // filesystem has nothing to do with).
    kept.nodes = !refused(&mut || {
        let node = names.next();
        let fifo = rustix::fs::FileType::Fifo;
        match sys::mknodat(dir, node.as_os_str(), fifo, Mode::from_raw_mode(0o600), 0) {
            Ok(()) => {
                remove(node);
                true
            }
            Err(Errno::EXIST) => false,
            // exfat-fuse makes a regular file, then fails: nothing may stay.
            Err(_) => {
                if sys::statat(dir, node.as_os_str(), AtFlags::SYMLINK_NOFOLLOW).is_ok() {
                    remove(node);
                }
                false
            }
        }
    });
    remove(name);
    kept.renames_keep_handles = renames_keep_handles(dir, names, &mut left);
    (kept, left)
}

/// Whether what is open beneath a folder still works once the folder is
/// renamed: fusefat finds a file by its path, so a folder's handles go stale
/// when a folder above it is renamed (then no folder is staged there). An
/// experiment that cannot be set up says "yes"; its leftovers go to `left`.
fn renames_keep_handles(
    dir: BorrowedFd<'_>,
    names: &TempNames,
    left: &mut Vec<(OsString, io::Error)>,
) -> bool {
    let (outer, moved, inner, file) = (names.next(), names.next(), names.next(), names.next());
    let private = Mode::from_raw_mode(0o700);
    if sys::mkdirat(dir, &outer, private).is_err() {
        return true;
    }
    let opened = sys::openat(dir, &outer, DIR_FLAGS, Mode::empty()).and_then(|o| {
        sys::mkdirat(&o, &inner, private)?;
        sys::openat(&o, &inner, DIR_FLAGS, Mode::empty())
    });
    let mut top = outer;
    let mut keeps = true;
    // The first failure to clean up is the one worth telling.
    let mut first = None;
    let mut note = |r: rustix::io::Result<()>| match r {
        Err(e) if e != Errno::NOENT => {
            first.get_or_insert(e);
            false
        }
        _ => true,
    };
    if let Ok(in_fd) = opened
        && sys::renameat_with(dir, &top, dir, &moved, RenameFlags::empty()).is_ok()
    {
        top = moved;
        let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::CLOEXEC;
        match sys::openat(&in_fd, &file, flags, Mode::from_raw_mode(0o600)) {
            Ok(_) => {
                note(sys::unlinkat(&in_fd, &file, AtFlags::empty()));
            }
            Err(e) => keeps = e != Errno::NOENT,
        }
    }
    // Removed again by path from the top, the way that works everywhere.
    if let Ok(o) = sys::openat(dir, &top, DIR_FLAGS, Mode::empty()) {
        if let Ok(i) = sys::openat(&o, &inner, DIR_FLAGS, Mode::empty()) {
            note(sys::unlinkat(&i, &file, AtFlags::empty()));
        }
        note(sys::unlinkat(&o, &inner, AtFlags::REMOVEDIR));
    }
    if !note(sys::unlinkat(dir, &top, AtFlags::REMOVEDIR))
        && let Some(e) = first
    {
        left.push((top, e.into()));
    }
    keeps
}

fn mtime(st: &rustix::fs::Stat) -> (i64, i64) {
    (st.st_mtime, st.st_mtime_nsec as i64)
}

/// The coarsest of the usual resolutions that `got` is within of `set`: 1 ns
/// exact, 100 ns NTFS, 10 ms exFAT, 1 s SFTP, 2 s FAT.
fn window_of(set: Timespec, got: (i64, i64)) -> TimeWindow {
    const WINDOWS: [u64; 6] = [1, 100, 1_000, 10_000_000, 1_000_000_000, 2_000_000_000];
    let nanos = |(s, ns): (i64, i64)| i128::from(s) * 1_000_000_000 + i128::from(ns);
    let lost = (nanos((set.tv_sec, set.tv_nsec)) - nanos(got)).unsigned_abs();
    WINDOWS
        .into_iter()
        .find(|&w| lost < u128::from(w))
        .map_or(TimeWindow::EXACT, TimeWindow)
}

/// Refused as unsupported, or accepted and not kept: not kept. Another
/// failure says nothing (each file then tries and reports).
fn probe_modes_and_owner(fd: BorrowedFd<'_>, owner: bool, kept: &mut FileMeta) {
    let before = sys::fstat(fd);
    kept.modes = match sys::fchmod(fd, Mode::from_raw_mode(0o640)) {
        Ok(()) => sys::fstat(fd).map_or(true, |st| st.st_mode & 0o777 == 0o640),
        Err(e) => !unsupported(e),
    };
    if let (true, Ok(before)) = (owner, &before) {
        let other = Uid::from_raw(before.st_uid ^ 1);
        // Root may give any file away: EPERM here is the filesystem's (exFAT).
        kept.owners = match sys::fchown(fd, other, Gid::from_raw(before.st_gid)) {
            Ok(()) => sys::fstat(fd).map_or(true, |st| st.st_uid == other.as_raw()),
            Err(e) => !unsupported(e) && e != Errno::PERM,
        };
    }
}

/// Whether a file grown by `ftruncate` stays a hole: refused (fusefat) or
/// allocated (exFAT has no sparse files), it does not. `true` when another
/// failure says nothing.
fn leaves_a_hole(fd: BorrowedFd<'_>) -> bool {
    const GROWN: u64 = 1 << 20;
    match sys::ftruncate(fd, GROWN) {
        Ok(()) => sys::fstat(fd).map_or(true, |st| (st.st_blocks as u64) * 512 < GROWN),
        Err(e) => !(unsupported(e) || e == Errno::PERM),
    }
}

/// Answers that mean "this filesystem does not do that" (as against a
/// failure of the moment).
fn unsupported(e: Errno) -> bool {
    matches!(e, Errno::OPNOTSUPP | Errno::NOSYS | Errno::INVAL)
}

fn probe(
    dir: BorrowedFd<'_>,
    file: &OsStr,
    link: &OsStr,
    before: &rustix::fs::Stat,
    owner: bool,
) -> SymlinkMeta {
    let target_moved = || {
        sys::statat(dir, file, AtFlags::SYMLINK_NOFOLLOW)
            .is_ok_and(|now| (now.st_mtime, now.st_uid) != (before.st_mtime, before.st_uid))
    };
    // The link must show the change and the file must not; a link that
    // cannot be looked at says nothing (each symlink then tries).
    let judge = |shows: Option<bool>| match (shows, target_moved()) {
        (_, true) => Err(Why::FollowsLinks),
        (Some(true) | None, false) => Ok(()),
        (Some(false), false) => Err(Why::Unsupported),
    };
    let own = || sys::statat(dir, link, AtFlags::SYMLINK_NOFOLLOW).ok();
    let times = match sys::utimensat(dir, link, &at(PROBE), AtFlags::SYMLINK_NOFOLLOW) {
        Ok(()) => judge(own().map(|s| s.st_mtime == PROBE)),
        Err(e) if unsupported(e) => Err(Why::Unsupported),
        Err(_) => Ok(()),
    };
    let owner = if owner {
        // Another owner for the link alone: the file must keep its own.
        let other = Uid::from_raw(before.st_uid ^ 1);
        let gid = Gid::from_raw(before.st_gid);
        match sys::chownat(dir, link, other, gid, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(()) => judge(own().map(|s| s.st_uid == other.as_raw())),
            Err(e) if unsupported(e) => Err(Why::Unsupported),
            Err(_) => Ok(()),
        }
    } else {
        Ok(())
    };
    SymlinkMeta { times, owner }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn a_local_filesystem_keeps_times_to_the_nanosecond() {
        let t = tempfile::tempdir().unwrap();
        let dir = std::fs::File::open(t.path()).unwrap();
        let names = TempNames::new(std::process::id());
        let owner = rustix::process::geteuid().is_root();
        let (kept, left) = probe_file_meta(dir.as_fd(), &names, owner);
        assert_eq!(kept, FileMeta::EXACT);
        assert!(left.is_empty());
        assert_eq!(std::fs::read_dir(t.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_local_filesystem_sets_a_symlink_s_own_times() {
        let t = tempfile::tempdir().unwrap();
        let dir = std::fs::File::open(t.path()).unwrap();
        let names = TempNames::new(std::process::id());
        let owner = rustix::process::geteuid().is_root();
        let (caps, left) = probe_symlinks(dir.as_fd(), &names, owner);
        assert_eq!(
            caps,
            SymlinkMeta {
                times: Ok(()),
                owner: Ok(())
            }
        );
        assert!(left.is_empty(), "{left:?}");
        assert_eq!(
            std::fs::read_dir(t.path()).unwrap().count(),
            0,
            "the probe leaves nothing behind"
        );
    }
}
