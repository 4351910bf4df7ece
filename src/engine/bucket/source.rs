//! A bucket's prefix as a source. Its folders are the prefixes its keys share
//! (`prefix/sub/`); its files are objects, whose own time, mode and owner are
//! in their metadata (`meta`), looked at for each object of a folder at once
//! when the folder is listed (a listing tells only size and upload time).
//! rclone's folder markers (zero-byte `name/` objects) are folders, not files.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::BorrowedFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use object_store::ObjectStore;
use object_store::path::Path as Key;
use rustix::fs::FileType;

use super::dest::{BucketDest, listed_meta, prefix_of};
use super::store::Store;
use crate::engine::meta::attrs::SrcMeta;
use crate::engine::read::{Fresh, Source};

pub(crate) struct BucketSource {
    pub store: Arc<Store>,
    /// What a folder is said to be: a bucket keeps no folder of its own, so
    /// each is dated when the run started.
    folder: SrcMeta,
}

impl BucketSource {
    pub fn new(store: Arc<Store>) -> BucketSource {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let now = (now.as_secs() as i64, i64::from(now.subsec_nanos()));
        BucketSource {
            store,
            folder: SrcMeta {
                mode: FileType::Directory.as_raw_mode() | 0o755,
                mtime: now,
                atime: now,
                ctime: now,
                nlink: 2,
                ..SrcMeta::default()
            },
        }
    }

    pub fn folder_meta(&self) -> SrcMeta {
        self.folder
    }

    /// The prefix of the folder `rel` of the source.
    pub fn prefix(&self, rel: &Path) -> io::Result<String> {
        prefix_of(&self.store.bucket.prefix, rel)
    }

    /// What the source names: a folder (keys begin with it), an object, or
    /// nothing (`None`).
    pub fn look(&self) -> io::Result<Option<SrcMeta>> {
        let prefix = &self.store.bucket.prefix;
        if prefix.is_empty() {
            return Ok(Some(self.folder));
        }
        let key = Key::from(prefix.as_str());
        let store = &self.store;
        let (object, inside) = store.run(async {
            let object = BucketDest::head(store, &key).await;
            let inside = store.s3.list_with_delimiter(Some(&key)).await;
            (object, inside)
        });
        let inside = inside.map_err(|e| io_error(store, &e))?;
        if !inside.objects.is_empty() || !inside.common_prefixes.is_empty() {
            return Ok(Some(self.folder));
        }
        object.map_err(|e| io_error(store, &e))
    }

    /// The whole object `key`: its bytes and its metadata over `listed`
    /// (what the listing said of it).
    pub async fn get(
        store: &Store,
        key: &Key,
        listed: SrcMeta,
    ) -> object_store::Result<(bytes::Bytes, SrcMeta)> {
        let got = store.s3.get_opts(key, Default::default()).await?;
        let meta = super::meta::read_back(&got.attributes, listed);
        Ok((got.bytes().await?, meta))
    }
}

fn io_error(store: &Store, e: &object_store::Error) -> io::Error {
    let kind = match e {
        object_store::Error::NotFound { .. } => io::ErrorKind::NotFound,
        _ => io::ErrorKind::Other,
    };
    io::Error::new(kind, store.why(e))
}

impl Source for BucketSource {
    type OpenDir = String;
    type Dir<'a> = &'a str;
    type File = Key;

    fn dir(open: &String) -> &str {
        open
    }

    fn local_fd(_: &String) -> Option<BorrowedFd<'_>> {
        None
    }

    fn display(&self, rel: &Path) -> PathBuf {
        let mut shown = self.store.bucket.to_string();
        if !rel.as_os_str().is_empty() {
            shown.push('/');
            shown.push_str(&rel.to_string_lossy());
        }
        PathBuf::from(shown)
    }

    fn open_dir(&self, rel: &Path) -> io::Result<String> {
        self.prefix(rel)
    }

    fn open_child_dir(&self, dir: &str, name: &OsStr) -> io::Result<String> {
        let name = name
            .to_str()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "a key is always text"))?;
        Ok(format!("{dir}{name}/"))
    }

    fn stat_at(&self, dir: &str, name: &OsStr) -> io::Result<SrcMeta> {
        let key = BucketDest::key(dir, name)?;
        let store = &self.store;
        match store.run(BucketDest::head(store, &key)) {
            Ok(Some(m)) => Ok(m),
            Ok(None) => Ok(self.folder),
            Err(e) => Err(io_error(store, &e)),
        }
    }

    fn open_file(
        &self,
        dir: &str,
        name: &OsStr,
        walked: &SrcMeta,
        trust_walk: bool,
    ) -> io::Result<(Key, SrcMeta, Fresh)> {
        let key = BucketDest::key(dir, name)?;
        if trust_walk {
            return Ok((key, *walked, Fresh::Walked));
        }
        let store = &self.store;
        match store.run(BucketDest::head(store, &key)) {
            Ok(Some(m)) => Ok((key, m, Fresh::Checked)),
            Ok(None) => Err(io::ErrorKind::NotFound.into()),
            Err(e) => Err(io_error(store, &e)),
        }
    }

    fn read_link(&self, _: &str, _: &OsStr) -> io::Result<PathBuf> {
        Err(io::ErrorKind::Unsupported.into())
    }

    fn list(
        &self,
        dir: &str,
        mut each: impl FnMut(OsString, io::Result<SrcMeta>, FileType) -> bool,
    ) -> io::Result<()> {
        let store = &self.store;
        let prefix = dir.strip_suffix('/').map(Key::from);
        let listed = store
            .run(store.s3.list_with_delimiter(prefix.as_ref()))
            .map_err(|e| io_error(store, &e))?;
        for p in &listed.common_prefixes {
            if let Some(name) = p.filename()
                && !each(name.into(), Ok(self.folder), FileType::Directory)
            {
                return Ok(());
            }
        }
        // A listing tells each object's size and upload time, not its own
        // time and mode: those come with its bytes, or with a look at it
        // where a copy here must be compared (`from_bucket`).
        for o in listed.objects {
            // A folder's marker lists as an object named as the folder.
            if Some(&o.location) == prefix.as_ref() {
                continue;
            }
            let Some(name) = o.location.filename() else {
                continue;
            };
            let meta = listed_meta(o.size, o.last_modified.timestamp());
            if !each(name.into(), Ok(meta), FileType::RegularFile) {
                break;
            }
        }
        Ok(())
    }
}
