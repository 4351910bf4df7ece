//! Turning the user's SOURCE and DEST into checked paths before anything is
//! written: the default `(copy)` name, and refusing a copy into itself.

use std::ffi::OsString;
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::error::InputError;
use crate::retry::interrupted as retry;

/// `<name> (copy)` beside the source, or `(copy 2)`, `(copy 3)` … if taken.
pub fn default_dest(source: &Path, mut exists: impl FnMut(&Path) -> bool) -> PathBuf {
    let name = source
        .file_name()
        .map_or_else(|| OsString::from("root"), OsString::from);
    let parent = source.parent().unwrap_or(Path::new("/"));
    let mut n = 1u64;
    loop {
        let mut candidate = name.clone();
        if n == 1 {
            candidate.push(" (copy)");
        } else {
            candidate.push(format!(" (copy {n})"));
        }
        let path = parent.join(candidate);
        if !exists(&path) {
            return path;
        }
        n += 1;
    }
}

fn id(m: &fs::Metadata) -> (u64, u64) {
    (m.dev(), m.ino())
}

/// Whether `p` can be listed: opened as a folder and its first entry read
/// (through rustix: the standard library's folder iterator panics when closing
/// the folder fails).
fn listable(p: &Path) -> io::Result<()> {
    use rustix::fs::{Dir, Mode, OFlags};
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let fd = retry(|| rustix::fs::open(p, flags, Mode::empty()).map_err(io::Error::from))?;
    match Dir::new(fd)?.read() {
        Some(Err(e)) => Err(e.into()),
        _ => Ok(()),
    }
}

/// Whether `p` exists: `false` only when the OS says so, never for a failure
/// to look.
fn exists(p: &Path) -> io::Result<bool> {
    match retry(|| fs::symlink_metadata(p)) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// Checks SOURCE, fills in DEST when omitted and refuses a destination that is the
/// source or inside it (through symlinks and `..` too: device and inode of each of
/// the destination's existing ancestors are compared with the source's).
pub fn resolve(source: &Path, dest: Option<&Path>) -> Result<(PathBuf, PathBuf), InputError> {
    let (src_meta, src_canon) = resolve_source(source)?;
    let unreadable = |e| InputError::SourceUnreadable(source.into(), e);

    let dest = match dest {
        Some(d) => d.to_path_buf(),
        None => {
            let mut failed = None;
            let d = default_dest(&src_canon, |p| {
                exists(p).unwrap_or_else(|e| {
                    failed.get_or_insert(e);
                    true
                })
            });
            if let Some(e) = failed {
                return Err(InputError::DestCreate(d, e));
            }
            d
        }
    };
    let cannot = |e| InputError::DestCreate(dest.clone(), e);
    let dest_abs = retry(|| std::path::absolute(&dest)).map_err(cannot)?;

    // The nearest part of DEST that exists, and what is still to be created below it.
    let mut existing = dest_abs.as_path();
    let mut missing = Vec::new();
    let existing_meta = loop {
        match retry(|| fs::metadata(existing)) {
            Ok(m) => break m,
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(cannot(e)),
            Err(e) => match (existing.parent(), existing.file_name()) {
                (Some(parent), Some(name)) => {
                    missing.push(name.to_os_string());
                    existing = parent;
                }
                // `..` spelled in a missing part: step over it lexically.
                (Some(parent), None) => existing = parent,
                (None, _) => return Err(cannot(e)),
            },
        }
    };
    if missing.is_empty() && !existing_meta.is_dir() {
        return Err(InputError::DestNotDir(dest));
    }
    let existing_canon = retry(|| fs::canonicalize(existing)).map_err(cannot)?;
    for ancestor in existing_canon.ancestors() {
        let m = retry(|| fs::metadata(ancestor)).map_err(cannot)?;
        if id(&m) == id(&src_meta) {
            return Err(if ancestor == existing_canon && missing.is_empty() {
                InputError::DestIsSource(dest)
            } else {
                InputError::DestInsideSource(dest, source.into())
            });
        }
    }

    // SOURCE inside DEST is fine (`convoy /x/a /x` flattens) unless some entry of
    // the source would land on the source itself: SOURCE = DEST/p and SOURCE/p exists.
    let mut dest_full = existing_canon.clone();
    dest_full.extend(missing.iter().rev());
    if let Ok(p) = src_canon.strip_prefix(&dest_full)
        && exists(&src_canon.join(p)).map_err(unreadable)?
    {
        return Err(InputError::SourceInsideDest(source.into(), dest));
    }

    let writable =
        || rustix::fs::access(existing, rustix::fs::Access::WRITE_OK).map_err(io::Error::from);
    if let Err(e) = retry(writable) {
        return Err(InputError::DestNotWritable(existing.into(), e));
    }
    Ok((source.to_path_buf(), dest))
}

/// SOURCE checked: a folder that exists and can be listed; its metadata and
/// its canonical path.
pub fn resolve_source(source: &Path) -> Result<(fs::Metadata, PathBuf), InputError> {
    let src_meta = match retry(|| fs::metadata(source)) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(InputError::SourceMissing(source.into()));
        }
        Err(e) => return Err(InputError::SourceUnreadable(source.into(), e)),
    };
    if !src_meta.is_dir() {
        return Err(InputError::SourceNotDir(source.into()));
    }
    let unreadable = |e| InputError::SourceUnreadable(source.into(), e);
    let src_canon = retry(|| fs::canonicalize(source)).map_err(unreadable)?;
    listable(&src_canon).map_err(unreadable)?;
    Ok((src_meta, src_canon))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn default_dest_is_a_numbered_sibling() {
        let taken: HashSet<PathBuf> = ["/data/photos (copy)", "/data/photos (copy 2)"]
            .iter()
            .map(PathBuf::from)
            .collect();
        assert_eq!(
            default_dest(Path::new("/data/photos"), |_| false),
            Path::new("/data/photos (copy)")
        );
        assert_eq!(
            default_dest(Path::new("/data/photos"), |p| taken.contains(p)),
            Path::new("/data/photos (copy 3)")
        );
    }

    #[test]
    fn dest_inside_source_is_refused_even_through_dotdot() {
        let t = tempfile::tempdir().unwrap();
        let src = t.path().join("src");
        fs::create_dir_all(src.join("sub")).unwrap();
        for d in [
            src.join("sub/new"),
            src.join("sub/../x"),
            src.join("new/../../src/y"),
        ] {
            assert!(
                matches!(
                    resolve(&src, Some(&d)),
                    Err(InputError::DestInsideSource(..))
                ),
                "{d:?} should be refused"
            );
        }
        assert!(matches!(
            resolve(&src, Some(&src)),
            Err(InputError::DestIsSource(_))
        ));
        assert!(resolve(&src, Some(&t.path().join("out"))).is_ok());
    }

    #[test]
    fn dest_through_a_symlink_into_the_source_is_refused() {
        let t = tempfile::tempdir().unwrap();
        let src = t.path().join("src");
        fs::create_dir(&src).unwrap();
        std::os::unix::fs::symlink(&src, t.path().join("alias")).unwrap();
        let d = t.path().join("alias/copy");
        assert!(matches!(
            resolve(&src, Some(&d)),
            Err(InputError::DestInsideSource(..))
        ));
    }

    #[test]
    fn source_inside_dest_is_refused_only_when_it_would_write_into_itself() {
        let t = tempfile::tempdir().unwrap();
        let src = t.path().join("a");
        fs::create_dir(&src).unwrap();
        assert!(
            resolve(&src, Some(t.path())).is_ok(),
            "flattening a/* into its parent is fine"
        );
        fs::create_dir(src.join("a")).unwrap();
        assert!(matches!(
            resolve(&src, Some(t.path())),
            Err(InputError::SourceInsideDest(..))
        ));
    }
}
