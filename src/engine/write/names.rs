//! Names a destination will not take, said in words a person understands:
//! characters that exFAT, FAT, NTFS in Windows mode and SMB shares refuse
//! (each suspect is tried alone on the destination before it is blamed, so no
//! table of filesystem names decides), and names that are one on a
//! destination that ignores case.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::os::fd::BorrowedFd;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::sync::{Mutex, OnceLock, PoisonError};

use rustix::fs::{AtFlags, Mode, OFlags};
use rustix::io::Errno;

use super::temp_name::TempNames;
use crate::engine::os::sys;
use crate::format::DisplayPath;

/// The characters such filesystems refuse besides `/` and NUL.
const SUSPECTS: &str = "\"*:<>?\\|";

/// Something in a name that a destination may refuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Suspect {
    Char(char),
    /// A control character (bytes 1 to 31).
    Control(u8),
    /// Bytes that are not UTF-8 (filesystems that store UTF-16 names).
    NotUtf8,
}

impl Suspect {
    /// What a probe name carries to try it.
    fn sample(self) -> Vec<u8> {
        match self {
            Suspect::Char(c) => c.to_string().into_bytes(),
            Suspect::Control(b) => vec![b],
            Suspect::NotUtf8 => vec![0xff],
        }
    }

    fn describe(self) -> String {
        match self {
            Suspect::Char(c) => format!("'{c}' in names"),
            Suspect::Control(b) => format!("control characters (here 0x{b:02x}) in names"),
            Suspect::NotUtf8 => "names that are not valid UTF-8".into(),
        }
    }
}

fn suspects(name: &OsStr) -> Vec<Suspect> {
    let mut found = Vec::new();
    let mut add = |s| {
        if !found.contains(&s) {
            found.push(s);
        }
    };
    match name.to_str() {
        Some(text) => {
            for c in text.chars() {
                if SUSPECTS.contains(c) {
                    add(Suspect::Char(c));
                } else if (c as u32) < 0x20 {
                    add(Suspect::Control(c as u8));
                }
            }
        }
        None => add(Suspect::NotUtf8),
    }
    found
}

/// The answers a filesystem gives to a name it will not take (exFAT through
/// FUSE: ENOENT; others EINVAL or EILSEQ; FUSE renames: EPERM).
fn refusal(e: &io::Error) -> bool {
    matches!(
        Errno::from_io_error(e),
        Some(Errno::NOENT | Errno::INVAL | Errno::ILSEQ | Errno::PERM | Errno::ACCESS)
    )
}

/// What this run learned about the names its destination takes.
#[derive(Default)]
pub(crate) struct NameRules {
    tried: Mutex<HashMap<Suspect, bool>>,
    filesystem: OnceLock<String>,
}

impl NameRules {
    /// Why the destination (whose root is `dir`) would not take `name`, when
    /// `e` is the answer of a filesystem refusing it and a suspect in the
    /// name, tried alone there, is refused too. `None`: `e` says it best.
    pub fn explain(
        &self,
        dir: BorrowedFd<'_>,
        temps: &TempNames,
        name: &OsStr,
        e: &io::Error,
    ) -> Option<io::Error> {
        if !refusal(e) {
            return None;
        }
        let culprit = suspects(name).into_iter().find(|&s| {
            let mut tried = self.tried.lock().unwrap_or_else(PoisonError::into_inner);
            *tried.entry(s).or_insert_with(|| refused(dir, temps, s))
        })?;
        let fs = self.filesystem.get_or_init(|| filesystem_name(dir));
        Some(io::Error::other(format!(
            "the destination ({fs}) does not accept {}",
            culprit.describe()
        )))
    }
}

/// Tries a temporary name carrying `s` in `dir`: refused as a name is.
fn refused(dir: BorrowedFd<'_>, temps: &TempNames, s: Suspect) -> bool {
    let mut probe = temps.next().into_vec();
    probe.extend(s.sample());
    let probe = OsString::from_vec(probe);
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    match sys::openat(dir, &probe, flags, Mode::from_raw_mode(0o600)) {
        Ok(fd) => {
            drop(fd);
            // Not a name convoy's sweep knows: removed now or never.
            let _ = sys::unlinkat(dir, &probe, AtFlags::empty());
            false
        }
        Err(e) => refusal(&e.into()),
    }
}

/// The kind of filesystem `dir` is on, as a person knows it: the type the
/// kernel mounted, and for a FUSE block device (exfat-fuse, ntfs-3g) what
/// its boot sector says it is, when it can be read.
fn filesystem_name(dir: BorrowedFd<'_>) -> String {
    let Ok(st) = sys::fstat(dir) else {
        return "its filesystem".into();
    };
    let dev = (
        rustix::fs::major(st.st_dev as _),
        rustix::fs::minor(st.st_dev as _),
    );
    let Some((fstype, source)) = mount_of(dev) else {
        return "its filesystem".into();
    };
    if fstype == "fuseblk"
        && let Some(kind) = boot_sector_kind(&source)
    {
        return format!("{kind} through FUSE");
    }
    fstype
}

/// The filesystem type and source of the mount of device `dev`.
fn mount_of(dev: (u32, u32)) -> Option<(String, String)> {
    let file = File::open("/proc/self/mountinfo").ok()?;
    let want = format!("{}:{}", dev.0, dev.1);
    BufReader::new(file)
        .lines()
        .map_while(Result::ok)
        .find_map(|line| {
            // id parent major:minor root mount-point options [optional...] - type source super
            let mut fields = line.split(' ');
            if fields.nth(2)? != want {
                return None;
            }
            let mut after = line.split(" - ").nth(1)?.split(' ');
            Some((after.next()?.to_string(), after.next()?.to_string()))
        })
}

/// exFAT, NTFS or FAT, from the first sector of `device`.
fn boot_sector_kind(device: &str) -> Option<&'static str> {
    let mut sector = [0u8; 512];
    File::open(device).ok()?.read_exact(&mut sector).ok()?;
    match (&sector[3..11], &sector[54..59], &sector[82..87]) {
        (b"EXFAT   ", _, _) => Some("exFAT"),
        (b"NTFS    ", _, _) => Some("NTFS"),
        (_, b"FAT12" | b"FAT16", _) | (_, _, b"FAT32") => Some("FAT"),
        _ => None,
    }
}

/// A name as a destination that ignores case sees it.
fn folded(name: &OsStr) -> Vec<u8> {
    match name.to_str() {
        Some(text) => text.to_lowercase().into_bytes(),
        None => name.as_bytes().to_ascii_lowercase(),
    }
}

/// The names of one source folder met so far, as a destination that ignores
/// case sees them.
#[derive(Default)]
pub(crate) struct CaseFold(HashMap<Vec<u8>, OsString>);

impl CaseFold {
    /// `Some(error)` when `name` is one name with an earlier one there.
    pub fn collides(&mut self, name: &OsStr) -> Option<io::Error> {
        match self.0.entry(folded(name)) {
            std::collections::hash_map::Entry::Occupied(first) => Some(io::Error::other(format!(
                "the destination ignores case, and {} already has this name there",
                DisplayPath(std::path::Path::new(first.get()))
            ))),
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(name.to_os_string());
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn a_name_with_a_character_the_destination_takes_is_not_explained() {
        let t = tempfile::tempdir().unwrap();
        let dir = File::open(t.path()).unwrap();
        let temps = TempNames::new(std::process::id());
        let rules = NameRules::default();
        let e = io::Error::from(Errno::NOENT);
        assert!(
            rules
                .explain(dir.as_fd(), &temps, OsStr::new("what?.txt"), &e)
                .is_none()
        );
        assert_eq!(std::fs::read_dir(t.path()).unwrap().count(), 0);
    }

    #[test]
    fn suspects_are_found_once_each() {
        assert_eq!(
            suspects(OsStr::new("a?b?c:d\u{1}")),
            vec![Suspect::Char('?'), Suspect::Char(':'), Suspect::Control(1)]
        );
        assert_eq!(
            suspects(OsStr::from_bytes(b"caf\xe9")),
            vec![Suspect::NotUtf8]
        );
        assert!(suspects(OsStr::new("plain name.txt")).is_empty());
    }

    #[test]
    fn names_that_differ_only_in_case_collide() {
        let mut fold = CaseFold::default();
        assert!(fold.collides(OsStr::new("README.txt")).is_none());
        assert!(fold.collides(OsStr::new("Ärger")).is_none());
        let e = fold.collides(OsStr::new("readme.TXT")).unwrap();
        assert!(e.to_string().contains("README.txt"), "{e}");
        assert!(fold.collides(OsStr::new("ärger")).is_some());
        assert!(fold.collides(OsStr::new("other")).is_none());
    }
}
