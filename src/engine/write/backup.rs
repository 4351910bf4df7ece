//! `--backup-dir`: what a run replaces, or a mirror deletes, is moved into a
//! folder on the destination's filesystem under its path relative to DEST,
//! instead of being removed. A rename: it costs nothing, keeps every byte and
//! attribute, and moving it back undoes the run. A name already taken there
//! (an earlier run's backup) gets `~1`, `~2` … after it, so no backup ever
//! replaces another.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use rustix::fs::{AtFlags, Mode, OFlags};
use rustix::io::Errno;

use crate::engine::os::beneath::DIR_FLAGS;
use crate::engine::os::sys;
use crate::error::InputError;

pub(crate) struct Backup {
    root: OwnedFd,
    path: PathBuf,
}

impl Backup {
    /// Opens (and makes, unless `dry_run`) the backup folder, which must be on
    /// the destination's filesystem (`dest`: DEST's open folder, `None` when
    /// a dry run's DEST does not exist yet), since what goes there is renamed.
    pub fn open(
        path: &Path,
        dest: Option<BorrowedFd<'_>>,
        dry_run: bool,
    ) -> Result<Option<Backup>, InputError> {
        let refuse = |why: String| InputError::BackupDir(path.to_path_buf(), why);
        if !dry_run {
            crate::retry::interrupted(|| std::fs::create_dir_all(path))
                .map_err(|e| refuse(e.to_string()))?;
        }
        let root = match sys::open(path, DIR_FLAGS.difference(OFlags::NOFOLLOW), Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::NOENT) if dry_run => return Ok(None),
            Err(e) => return Err(refuse(io::Error::from(e).to_string())),
        };
        if let Some(dest) = dest {
            let (a, b) = (sys::fstat(&root), sys::fstat(dest));
            let (a, b) = (
                a.map_err(|e| refuse(e.to_string()))?,
                b.map_err(|e| refuse(e.to_string()))?,
            );
            if a.st_dev != b.st_dev {
                return Err(refuse(
                    "it is on another filesystem than the destination (what is replaced or \
                     deleted is renamed into it, so it must be on the same one)"
                        .into(),
                ));
            }
        }
        Ok(Some(Backup {
            root,
            path: path.to_path_buf(),
        }))
    }

    /// Moves `name` of the open destination folder `dir`, which is `rel` in
    /// DEST, into the backup; where it went.
    pub fn take(&self, dir: BorrowedFd<'_>, name: &OsStr, rel: &Path) -> io::Result<PathBuf> {
        self.place(rel, |to_dir, to| {
            sys::rename_noreplace_or_look(dir, name, to_dir, to)
        })
    }

    /// Keeps `name` (not a folder) in the backup before a run replaces it: a
    /// second name, so the destination's name never goes missing; moved
    /// there where the filesystem has no hard links.
    pub fn keep(&self, dir: BorrowedFd<'_>, name: &OsStr, rel: &Path) -> io::Result<PathBuf> {
        let linked = self.place(rel, |to_dir, to| {
            sys::linkat(dir, name, to_dir, to, AtFlags::empty())
        });
        match linked {
            Err(e)
                if matches!(
                    Errno::from_io_error(&e),
                    Some(Errno::PERM | Errno::MLINK | Errno::OPNOTSUPP | Errno::NOSYS)
                ) =>
            {
                self.take(dir, name, rel)
            }
            r => r,
        }
    }

    /// Makes the folders of `rel`'s parent in the backup, then gives the
    /// entry the first free name of `name`, `name~1`, `name~2` … with `put`.
    fn place(
        &self,
        rel: &Path,
        put: impl Fn(BorrowedFd<'_>, &OsStr) -> rustix::io::Result<()>,
    ) -> io::Result<PathBuf> {
        let name = rel
            .file_name()
            .ok_or_else(|| io::Error::other("no name to back up"))?;
        let parent = rel.parent().unwrap_or(Path::new(""));
        let dir = self.folder(parent)?;
        let mut candidate = name.to_os_string();
        for n in 1..=10_000u32 {
            match put(dir.as_fd(), &candidate) {
                Ok(()) => return Ok(self.path.join(parent).join(&candidate)),
                Err(Errno::EXIST) => {
                    candidate = numbered(name, n);
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(Errno::EXIST.into())
    }

    /// The backup's folder at `rel`, made where missing; never through a
    /// symlink.
    fn folder(&self, rel: &Path) -> io::Result<OwnedFd> {
        let mut fd = sys::openat(&self.root, ".", DIR_FLAGS, Mode::empty())?;
        for c in rel.components() {
            let Component::Normal(part) = c else { continue };
            match sys::mkdirat(&fd, part, Mode::from_raw_mode(0o777)) {
                Ok(()) | Err(Errno::EXIST) => {}
                Err(e) => return Err(e.into()),
            }
            fd = sys::openat(&fd, part, DIR_FLAGS, Mode::empty())?;
        }
        Ok(fd)
    }

    /// Whether `path` (DEST's path, as resolved) is the backup folder or
    /// holds it: a mirror never deletes its own backups.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn numbered(name: &OsStr, n: u32) -> OsString {
    let mut s = name.to_os_string();
    s.push(format!("~{n}"));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backup_never_replaces_an_earlier_one() {
        let t = tempfile::tempdir().unwrap();
        let (dest, keep) = (t.path().join("dest"), t.path().join("keep"));
        std::fs::create_dir_all(dest.join("a/b")).unwrap();
        let d = std::fs::File::open(&dest).unwrap();
        let b = Backup::open(&keep, Some(d.as_fd()), false)
            .unwrap()
            .unwrap();
        let sub = std::fs::File::open(dest.join("a/b")).unwrap();
        for round in 0..3 {
            std::fs::write(dest.join("a/b/f"), format!("v{round}")).unwrap();
            let went = b
                .take(sub.as_fd(), OsStr::new("f"), Path::new("a/b/f"))
                .unwrap();
            let want = if round == 0 {
                "f".to_string()
            } else {
                format!("f~{round}")
            };
            assert_eq!(went, keep.join("a/b").join(want));
        }
        for (name, v) in [("f", "v0"), ("f~1", "v1"), ("f~2", "v2")] {
            assert_eq!(
                std::fs::read_to_string(keep.join("a/b").join(name)).unwrap(),
                v
            );
        }
        assert!(!dest.join("a/b/f").exists());
    }

    #[test]
    fn a_kept_file_stays_under_its_name_until_replaced() {
        let t = tempfile::tempdir().unwrap();
        let dest = t.path().join("dest");
        std::fs::create_dir_all(&dest).unwrap();
        std::fs::write(dest.join("f"), "old").unwrap();
        let d = std::fs::File::open(&dest).unwrap();
        let b = Backup::open(&t.path().join("keep"), Some(d.as_fd()), false)
            .unwrap()
            .unwrap();
        b.keep(d.as_fd(), OsStr::new("f"), Path::new("f")).unwrap();
        assert_eq!(std::fs::read_to_string(dest.join("f")).unwrap(), "old");
        assert_eq!(
            std::fs::read_to_string(t.path().join("keep/f")).unwrap(),
            "old"
        );
    }
}
