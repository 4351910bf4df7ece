//! Extended attributes, copied after the owner and the mode (a change of owner
//! clears `security.capability`) and before the times. POSIX ACLs are the
//! `system.posix_acl_access` and `…_default` attributes, file capabilities
//! `security.capability`, SELinux labels `security.selinux`: one mechanism
//! copies them all. Regular files and folders go through their descriptors;
//! a symlink has none, so its attributes go by name through its folder's
//! descriptor (`/proc/self/fd/N/name`, the final link not followed). What the
//! destination cannot keep, or the process may not set, is counted by kind
//! (see `kept`), not failed file by file.

use std::ffi::{CStr, OsStr, OsString};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use rustix::fs::{self as rfs, XattrFlags};
use rustix::io::Errno;

use super::kept::{NotKept, What, Why};
use crate::engine::os::sys;

/// Which attributes a run copies (`--no-preserve`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Wanted {
    /// Every attribute but ACLs: user, trusted, security (capabilities, labels).
    pub xattrs: bool,
    pub acls: bool,
    /// What the destination holds (probed: NTFS-3G takes an ACL and drops
    /// it): what it does not is counted as not kept without trying.
    pub held: Held,
}

/// Which attributes a destination keeps once set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Held {
    pub user: bool,
    pub acls: bool,
}

impl Held {
    pub const ALL: Held = Held {
        user: true,
        acls: true,
    };
}

/// An access ACL that grants user 65534 read: `u::rw-,u:65534:r--,g::r--,m::r--,o::r--`
/// in the kernel's `system.posix_acl_access` form.
pub(crate) const PROBE_ACL: [u8; 44] = [
    2, 0, 0, 0, // version
    0x01, 0, 6, 0, 0xff, 0xff, 0xff, 0xff, // user::rw-
    0x02, 0, 4, 0, 0xfe, 0xff, 0, 0, // user:65534:r--
    0x04, 0, 4, 0, 0xff, 0xff, 0xff, 0xff, // group::r--
    0x10, 0, 4, 0, 0xff, 0xff, 0xff, 0xff, // mask::r--
    0x20, 0, 4, 0, 0xff, 0xff, 0xff, 0xff, // other::r--
];

/// Whether attribute `name` set to `value` on `fd` reads back the same:
/// `None` when it could not be tried for another reason than "not supported".
pub(crate) fn holds(fd: BorrowedFd<'_>, name: &CStr, value: &[u8]) -> Option<bool> {
    match sys::retry(|| rfs::fsetxattr(fd, name, value, XattrFlags::empty())) {
        Ok(()) => {}
        Err(Errno::OPNOTSUPP | Errno::NOSYS) => return Some(false),
        Err(_) => return None,
    }
    let mut back = vec![0u8; value.len() + 64];
    match sys::retry(|| rfs::fgetxattr(fd, name, &mut back[..])) {
        Ok(n) => Some(back[..n] == *value),
        Err(Errno::NODATA) => Some(false),
        Err(_) => None,
    }
}

/// Where an entry's attributes are read or written.
#[derive(Clone, Copy)]
pub(crate) enum At<'a> {
    Fd(BorrowedFd<'a>),
    /// A symlink, by name in the open folder.
    Link(BorrowedFd<'a>, &'a OsStr),
    /// Any other entry by name in the open folder, the final name not
    /// followed (a rerun looks at files it does not open).
    Entry(BorrowedFd<'a>, &'a OsStr),
}

/// Buffers for names and values, reused by one worker for every entry.
#[derive(Default)]
pub(crate) struct XattrBuf {
    names: Vec<u8>,
    value: Vec<u8>,
}

/// What an attribute is, by its name, for what a person is told.
fn what(name: &[u8]) -> What {
    if name.starts_with(b"system.posix_acl_") {
        What::Acls
    } else if name == b"security.capability" {
        What::Capabilities
    } else if name.starts_with(b"security.") {
        What::SecurityLabels
    } else if name.starts_with(b"trusted.") {
        What::TrustedXattrs
    } else {
        What::Xattrs
    }
}

/// An attribute's name as the calls take it.
fn c_name(name: &[u8]) -> io::Result<std::ffi::CString> {
    std::ffi::CString::new(name).map_err(io::Error::other)
}

fn proc_path(dir: BorrowedFd<'_>, name: &OsStr) -> OsString {
    let mut p = format!("/proc/self/fd/{}/", dir.as_raw_fd()).into_bytes();
    p.extend_from_slice(name.as_bytes());
    OsString::from_vec(p)
}

fn list(at: At<'_>, buf: &mut [u8]) -> rustix::io::Result<usize> {
    match at {
        At::Fd(fd) => sys::retry(|| rfs::flistxattr(fd, &mut buf[..])),
        At::Link(dir, name) | At::Entry(dir, name) => {
            let path = proc_path(dir, name);
            sys::retry(|| rfs::llistxattr(path.as_os_str(), &mut buf[..]))
        }
    }
}

fn get(at: At<'_>, name: &CStr, buf: &mut [u8]) -> rustix::io::Result<usize> {
    match at {
        At::Fd(fd) => sys::retry(|| rfs::fgetxattr(fd, name, &mut buf[..])),
        At::Link(dir, link) | At::Entry(dir, link) => {
            let path = proc_path(dir, link);
            sys::retry(|| rfs::lgetxattr(path.as_os_str(), name, &mut buf[..]))
        }
    }
}

fn set(at: At<'_>, name: &CStr, value: &[u8]) -> rustix::io::Result<()> {
    match at {
        At::Fd(fd) => sys::retry(|| rfs::fsetxattr(fd, name, value, XattrFlags::empty())),
        At::Link(dir, link) | At::Entry(dir, link) => {
            let path = proc_path(dir, link);
            sys::retry(|| rfs::lsetxattr(path.as_os_str(), name, value, XattrFlags::empty()))
        }
    }
}

/// Fills `buf` by `call`, growing it while the answer does not fit (an
/// attribute can grow between asking its size and reading it).
fn read_into(
    buf: &mut Vec<u8>,
    mut call: impl FnMut(&mut Vec<u8>) -> rustix::io::Result<usize>,
) -> rustix::io::Result<usize> {
    if buf.len() < 256 {
        buf.resize(256, 0);
    }
    loop {
        match call(buf) {
            Err(Errno::RANGE) if buf.len() < 1 << 24 => {
                let bigger = buf.len() * 4;
                buf.resize(bigger, 0);
            }
            r => return r,
        }
    }
}

/// Copies the attributes of `from` that `wanted` asks for onto `to`. Reading
/// them from a source that has none (or whose filesystem keeps none) is
/// nothing to copy; a failure to read or write one for another reason than
/// "not supported" or "not permitted" fails the entry.
pub(crate) fn copy(
    from: At<'_>,
    to: At<'_>,
    wanted: Wanted,
    buf: &mut XattrBuf,
    lost: &NotKept,
) -> io::Result<()> {
    if !wanted.xattrs && !wanted.acls {
        return Ok(());
    }
    let XattrBuf { names, value } = buf;
    let len = match read_into(names, |b| list(from, b)) {
        Ok(n) => n,
        Err(Errno::OPNOTSUPP | Errno::NOSYS) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    if len == 0 {
        return Ok(());
    }
    let symlink = matches!(from, At::Link(..));
    for name in names[..len].split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let kind = what(name);
        let take = if kind == What::Acls {
            wanted.acls
        } else {
            wanted.xattrs
        };
        // The kernel allows no user.* attributes on symlinks.
        if !take || (symlink && name.starts_with(b"user.")) {
            continue;
        }
        let held = match kind {
            What::Acls => wanted.held.acls,
            What::Xattrs => wanted.held.user,
            _ => true,
        };
        if !held {
            lost.add(kind, Why::Unsupported);
            continue;
        }
        let name = c_name(name)?;
        let n = match read_into(value, |b| get(from, &name, b)) {
            Ok(n) => n,
            // Removed since it was listed.
            Err(Errno::NODATA) => continue,
            Err(e) => return Err(e.into()),
        };
        match set(to, &name, &value[..n]) {
            Ok(()) => {}
            Err(Errno::OPNOTSUPP | Errno::NOSYS) => lost.add(kind, Why::Unsupported),
            Err(Errno::PERM | Errno::ACCESS) => lost.add(kind, Why::NotPermitted),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// The attributes of `at` that `wanted` asks for, sorted, with their
/// values; none where the filesystem keeps none.
fn wanted_of(
    at: At<'_>,
    wanted: Wanted,
    buf: &mut XattrBuf,
) -> io::Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let XattrBuf { names, value } = buf;
    let len = match read_into(names, |b| list(at, b)) {
        Ok(n) => n,
        Err(Errno::OPNOTSUPP | Errno::NOSYS) => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    let mut out = Vec::new();
    for name in names[..len].split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let take = match what(name) {
            What::Acls => wanted.acls && wanted.held.acls,
            What::Xattrs => wanted.xattrs && wanted.held.user,
            _ => wanted.xattrs,
        };
        if !take {
            continue;
        }
        let c = c_name(name)?;
        match read_into(value, |b| get(at, &c, b)) {
            Ok(n) => out.push((name.to_vec(), value[..n].to_vec())),
            Err(Errno::NODATA) => {}
            Err(e) => return Err(e.into()),
        }
    }
    out.sort();
    Ok(out)
}

/// Makes the attributes `wanted` asks for on `to` those of `from`: a rerun
/// repairing a copy whose bytes are up to date. Whether anything changed.
pub(crate) fn repair(
    from: At<'_>,
    to: At<'_>,
    wanted: Wanted,
    buf: &mut XattrBuf,
    lost: &NotKept,
) -> io::Result<bool> {
    if !wanted.xattrs && !wanted.acls {
        return Ok(false);
    }
    let want = wanted_of(from, wanted, buf)?;
    let have = wanted_of(to, wanted, buf)?;
    if want == have {
        return Ok(false);
    }
    for (name, _) in have
        .iter()
        .filter(|(n, _)| !want.iter().any(|(w, _)| w == n))
    {
        let c = c_name(name)?;
        match remove(to, &c) {
            Ok(()) | Err(Errno::NODATA) => {}
            Err(Errno::OPNOTSUPP | Errno::NOSYS) => lost.add(what(name), Why::Unsupported),
            Err(Errno::PERM | Errno::ACCESS) => lost.add(what(name), Why::NotPermitted),
            Err(e) => return Err(e.into()),
        }
    }
    copy(from, to, wanted, buf, lost)?;
    Ok(true)
}

fn remove(at: At<'_>, name: &CStr) -> rustix::io::Result<()> {
    match at {
        At::Fd(fd) => sys::retry(|| rfs::fremovexattr(fd, name)),
        At::Link(dir, link) | At::Entry(dir, link) => {
            let path = proc_path(dir, link);
            sys::retry(|| rfs::lremovexattr(path.as_os_str(), name))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn attributes_are_told_apart_by_their_names() {
        assert_eq!(what(b"system.posix_acl_access"), What::Acls);
        assert_eq!(what(b"system.posix_acl_default"), What::Acls);
        assert_eq!(what(b"security.capability"), What::Capabilities);
        assert_eq!(what(b"security.selinux"), What::SecurityLabels);
        assert_eq!(what(b"trusted.overlay.opaque"), What::TrustedXattrs);
        assert_eq!(what(b"user.comment"), What::Xattrs);
    }

    #[test]
    fn user_attributes_and_acls_are_copied_unless_left_out() {
        let t = tempfile::tempdir().unwrap();
        let (a, b, c) = (t.path().join("a"), t.path().join("b"), t.path().join("c"));
        for p in [&a, &b, &c] {
            std::fs::write(p, b"x").unwrap();
        }
        let a_fd = std::fs::File::open(&a).unwrap();
        if rfs::fsetxattr(&a_fd, "user.comment", b"hello", XattrFlags::empty()).is_err() {
            panic!("the test's filesystem keeps no user attributes");
        }
        let lost = NotKept::default();
        let all = Wanted {
            xattrs: true,
            acls: true,
            held: Held::ALL,
        };
        let mut buf = XattrBuf::default();
        let b_fd = std::fs::File::open(&b).unwrap();
        copy(
            At::Fd(a_fd.as_fd()),
            At::Fd(b_fd.as_fd()),
            all,
            &mut buf,
            &lost,
        )
        .unwrap();
        let mut got = [0u8; 64];
        let n = rfs::fgetxattr(&b_fd, "user.comment", &mut got[..]).unwrap();
        assert_eq!(&got[..n], b"hello");
        let none = Wanted {
            xattrs: false,
            acls: true,
            held: Held::ALL,
        };
        let c_fd = std::fs::File::open(&c).unwrap();
        copy(
            At::Fd(a_fd.as_fd()),
            At::Fd(c_fd.as_fd()),
            none,
            &mut buf,
            &lost,
        )
        .unwrap();
        assert!(rfs::fgetxattr(&c_fd, "user.comment", &mut got[..]).is_err());
        assert!(lost.take().is_empty());
    }
}
