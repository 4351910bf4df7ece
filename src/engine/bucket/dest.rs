//! A bucket's prefix as a destination. A bucket has no folders: a folder here
//! is the beginning of its entries' keys (`prefix/sub/`), made by nothing and
//! holding no metadata; an object appears whole under its key when its upload
//! ends (S3 has no partial objects), so no temporary name is needed; and an
//! object's metadata goes with its upload, never after (`meta`).

use std::collections::HashMap;
use std::ffi::OsStr;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use object_store::path::Path as Key;
use object_store::{GetOptions, ObjectStore, ObjectStoreExt};
use rustix::fs::FileType;
use rustix::io::Errno;

use super::meta;
use super::store::Store;
use crate::engine::data::same_bytes::Relation;
use crate::engine::meta::attrs::SrcMeta;
use crate::engine::plan::node::DirNode;
use crate::engine::write::{Dest, TakenAway};
use crate::error::{CopyError, Op};

pub(crate) struct BucketDest {
    pub store: Arc<Store>,
    /// The store refused a conditional write once: the rest go plain, the
    /// listing before them being what keeps a rerun from replacing.
    pub unconditional: AtomicBool,
}

/// What a folder's listing holds: each object's size and upload time, by
/// the name it has in the folder.
pub(crate) type Listing = HashMap<String, SrcMeta>;

impl BucketDest {
    pub fn new(store: Arc<Store>) -> BucketDest {
        BucketDest {
            store,
            unconditional: AtomicBool::new(false),
        }
    }

    /// The key of the entry `name` in the folder `dir` (a key prefix, empty
    /// or ending in `/`); a name that is not text has none.
    pub fn key(dir: &str, name: &OsStr) -> io::Result<Key> {
        let name = name.to_str().ok_or_else(not_text)?;
        Key::parse(format!("{dir}{name}"))
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))
    }

    /// The prefix of the folder `rel` (relative to the destination).
    fn prefix_of(&self, rel: &Path) -> io::Result<String> {
        prefix_of(&self.store.bucket.prefix, rel)
    }

    /// The objects directly in the folder `dir`, by name.
    pub fn list(&self, dir: &str) -> io::Result<Listing> {
        let prefix = dir.strip_suffix('/').map(Key::from);
        let listed = self
            .store
            .run(self.store.s3.list_with_delimiter(prefix.as_ref()))
            .map_err(|e| self.io_error(&e))?;
        Ok(listed
            .objects
            .into_iter()
            .filter_map(|o| {
                let name = o.location.filename()?.to_string();
                Some((name, listed_meta(o.size, o.last_modified.timestamp())))
            })
            .collect())
    }

    /// What the object `key` holds, with the metadata it was given.
    pub async fn head(store: &Store, key: &Key) -> Result<Option<SrcMeta>, object_store::Error> {
        let opts = GetOptions {
            head: true,
            ..GetOptions::default()
        };
        match store.s3.get_opts(key, opts).await {
            Ok(got) => {
                let listed = listed_meta(got.meta.size, got.meta.last_modified.timestamp());
                Ok(Some(meta::read_back(&got.attributes, listed)))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// A failure of the store as an I/O error that says it.
    pub fn io_error(&self, e: &object_store::Error) -> io::Error {
        let kind = match e {
            object_store::Error::NotFound { .. } => io::ErrorKind::NotFound,
            object_store::Error::PermissionDenied { .. }
            | object_store::Error::Unauthenticated { .. } => io::ErrorKind::PermissionDenied,
            _ => io::ErrorKind::Other,
        };
        io::Error::new(kind, self.store.why(e))
    }
}

/// The prefix of the folder `rel` below `root` (a prefix without slashes
/// at its ends): empty, or ending in `/`.
pub(crate) fn prefix_of(root: &str, rel: &Path) -> io::Result<String> {
    let mut p = root.to_string();
    for part in rel.components() {
        let part = part.as_os_str().to_str().ok_or_else(not_text)?;
        if !p.is_empty() {
            p.push('/');
        }
        p.push_str(part);
    }
    if !p.is_empty() {
        p.push('/');
    }
    Ok(p)
}

fn not_text() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        "the name is not valid text, and an object's key must be",
    )
}

/// An object as a listing shows it: a regular file of its size, dated
/// when it was uploaded (its own time comes with a look at it).
pub(crate) fn listed_meta(size: u64, uploaded: i64) -> SrcMeta {
    SrcMeta {
        mode: FileType::RegularFile.as_raw_mode() | 0o644,
        size,
        mtime: (uploaded, 0),
        atime: (uploaded, 0),
        ctime: (uploaded, 0),
        nlink: 1,
        blocks: size.div_ceil(512),
        ..SrcMeta::default()
    }
}

impl Dest for BucketDest {
    type OpenDir = String;
    type Dir<'a> = &'a str;

    fn dir(open: &String) -> &str {
        open
    }

    fn display(&self, rel: &Path) -> PathBuf {
        let mut shown = self.store.bucket.to_string();
        if !rel.as_os_str().is_empty() {
            shown.push('/');
            shown.push_str(&rel.to_string_lossy());
        }
        PathBuf::from(shown)
    }

    fn name_error(&self, path: PathBuf, _name: &OsStr, op: Op, e: io::Error) -> CopyError {
        CopyError::new(path, op, e)
    }

    fn open_node(&self, node: &DirNode) -> io::Result<String> {
        self.prefix_of(&node.rel)
    }

    fn open_child_node(&self, _parent: &str, node: &DirNode) -> io::Result<String> {
        self.prefix_of(&node.rel)
    }

    fn open_child_dir(&self, dir: &str, name: &OsStr) -> io::Result<String> {
        let name = name.to_str().ok_or_else(not_text)?;
        Ok(format!("{dir}{name}/"))
    }

    fn stat_at(&self, dir: &str, name: &OsStr) -> io::Result<Option<SrcMeta>> {
        let key = Self::key(dir, name)?;
        self.store
            .run(Self::head(&self.store, &key))
            .map_err(|e| self.io_error(&e))
    }

    /// The walk asks about folders: one is there where keys begin with its
    /// prefix (its files are then looked at before any is written); an
    /// object of the folder's own name is never in its way.
    fn stat_child(&self, dir: &str, name: &OsStr) -> io::Result<Option<SrcMeta>> {
        let prefix = Self::key(dir, name)?;
        let listed = self
            .store
            .run(self.store.s3.list_with_delimiter(Some(&prefix)))
            .map_err(|e| self.io_error(&e))?;
        match listed.objects.is_empty() && listed.common_prefixes.is_empty() {
            true => Ok(None),
            false => self.dir_meta(dir).map(Some),
        }
    }

    fn dir_meta(&self, _dir: &str) -> io::Result<SrcMeta> {
        Ok(SrcMeta {
            mode: FileType::Directory.as_raw_mode() | 0o755,
            nlink: 2,
            ..SrcMeta::default()
        })
    }

    // An object's metadata goes with its upload; a folder has none.
    fn set_owner_at(&self, _: &str, _: &OsStr, _: &SrcMeta) -> io::Result<()> {
        Ok(())
    }

    fn set_mode_at(&self, _: &str, _: &OsStr, _: &SrcMeta) -> io::Result<()> {
        Ok(())
    }

    fn set_times_at(&self, _: &str, _: &OsStr, _: &SrcMeta) -> io::Result<()> {
        Ok(())
    }

    fn set_mode(&self, _: &str, _: u32) -> io::Result<()> {
        Ok(())
    }

    fn read_link_at(&self, _: &str, _: &OsStr) -> Result<Vec<u8>, Errno> {
        Err(Errno::INVAL)
    }

    fn symlink_at(&self, _: &str, _: &Path, _: &OsStr) -> Result<(), Errno> {
        Err(Errno::OPNOTSUPP)
    }

    fn link_at(&self, _: (&str, &OsStr), _: (&str, &OsStr)) -> Result<(), Errno> {
        Err(Errno::OPNOTSUPP)
    }

    fn remove_at(&self, dir: &str, name: &OsStr) -> Result<(), Errno> {
        let key = Self::key(dir, name).map_err(|_| Errno::ILSEQ)?;
        match self.store.run(self.store.s3.delete(&key)) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(object_store::Error::PermissionDenied { .. }) => Err(Errno::ACCESS),
            Err(_) => Err(Errno::IO),
        }
    }

    fn make_dir_at(&self, _: &str, _: &OsStr) -> io::Result<()> {
        Ok(())
    }

    /// A bucket holds no temporaries: an upload a run did not finish is no
    /// object (its parts are aborted: `uploads`).
    fn sweep_temps(&self, _: &str, _: &Path) -> (Vec<CopyError>, bool) {
        (Vec::new(), false)
    }

    fn relate_named(
        &self,
        _src: (std::os::fd::BorrowedFd<'_>, &OsStr),
        _dest: (&str, &OsStr),
    ) -> io::Result<Relation> {
        Ok(Relation::Differ)
    }

    fn take_away(&self, dir: &str, name: &OsStr) -> io::Result<TakenAway> {
        self.remove_at(dir, name)?;
        Ok(TakenAway::Removed)
    }
}

/// Whether the store took `If-None-Match` (see [`BucketDest::unconditional`]).
pub(crate) fn refuses_conditions(e: &object_store::Error) -> bool {
    matches!(e, object_store::Error::NotImplemented { .. }) || e.to_string().contains("501")
}

impl BucketDest {
    pub fn conditional(&self) -> bool {
        !self.unconditional.load(Ordering::Relaxed)
    }
}
