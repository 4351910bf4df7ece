//! What a destination can do, learned by trying once instead of trusting a
//! table of filesystem names. Today: whether a symlink's own times and owner
//! can be set. Over SFTP (sshfs) setting them changes the file the link points
//! to instead (the server follows the link), and a dangling link fails; there
//! convoy leaves symlink times and owners alone and says so once.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::BorrowedFd;

use rustix::fs::{AtFlags, Gid, Mode, OFlags, Timespec, Timestamps, Uid};
use rustix::io::Errno;

use super::kept::Why;
use super::sys;
use super::temp_name::TempNames;

/// Whether a symlink's own metadata can be set without touching its target,
/// and if not, why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SymlinkMeta {
    pub times: Result<(), Why>,
    pub owner: Result<(), Why>,
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
