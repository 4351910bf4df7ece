//! Turning the user's SOURCE and DEST into checked paths before anything is
//! written: the default `(copy)` name, and refusing a copy into itself.

use std::ffi::OsString;
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::error::InputError;

/// `<name> (copy)` beside the source, or `(copy 2)`, `(copy 3)` … if taken.
pub fn default_dest(source: &Path, exists: impl Fn(&Path) -> bool) -> PathBuf {
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

/// Checks SOURCE, fills in DEST when omitted and refuses a destination that is the
/// source or inside it (through symlinks and `..` too: device and inode of each of
/// the destination's existing ancestors are compared with the source's).
pub fn resolve(source: &Path, dest: Option<&Path>) -> Result<(PathBuf, PathBuf), InputError> {
    let src_meta = match fs::metadata(source) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(InputError::SourceMissing(source.into()));
        }
        Err(e) => return Err(InputError::SourceUnreadable(source.into(), e)),
    };
    if !src_meta.is_dir() {
        return Err(InputError::SourceNotDir(source.into()));
    }
    let src_canon =
        fs::canonicalize(source).map_err(|e| InputError::SourceUnreadable(source.into(), e))?;
    fs::read_dir(&src_canon).map_err(|e| InputError::SourceUnreadable(source.into(), e))?;

    let dest = match dest {
        Some(d) => d.to_path_buf(),
        None => default_dest(&src_canon, |p| fs::symlink_metadata(p).is_ok()),
    };
    let dest_abs =
        std::path::absolute(&dest).map_err(|e| InputError::DestCreate(dest.clone(), e))?;

    // The nearest part of DEST that exists, and what is still to be created below it.
    let mut existing = dest_abs.as_path();
    let mut missing = Vec::new();
    while fs::metadata(existing).is_err() {
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                missing.push(name.to_os_string());
                existing = parent;
            }
            // `..` spelled in a missing part: step over it lexically.
            (Some(parent), None) => existing = parent,
            (None, _) => break,
        }
    }
    let existing_meta =
        fs::metadata(existing).map_err(|e| InputError::DestCreate(dest.clone(), e))?;
    if missing.is_empty() && !existing_meta.is_dir() {
        return Err(InputError::DestNotDir(dest));
    }
    let existing_canon =
        fs::canonicalize(existing).map_err(|e| InputError::DestCreate(dest.clone(), e))?;
    for ancestor in existing_canon.ancestors() {
        let Ok(m) = fs::metadata(ancestor) else {
            continue;
        };
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
        && fs::symlink_metadata(src_canon.join(p)).is_ok()
    {
        return Err(InputError::SourceInsideDest(source.into(), dest));
    }

    if let Err(e) = rustix::fs::access(existing, rustix::fs::Access::WRITE_OK) {
        return Err(InputError::DestNotWritable(existing.into(), e.into()));
    }
    Ok((source.to_path_buf(), dest))
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
