//! A bucket's folders (the prefixes its keys share), for the TUI's form: what
//! completes an `s3://bucket/prefix` a person is typing. One client per
//! bucket, kept while the form is used.

use std::io;
use std::path::Path;

use object_store::ObjectStore;
use object_store::path::Path as Key;

use super::store::{BucketError, Store};
use crate::location::Bucket;

pub struct BucketLister {
    store: Store,
}

impl BucketLister {
    /// Opens the bucket as a copy would (the same credentials), and asks
    /// for its first listing: a bucket that is not there is said now.
    pub fn open(bucket: &str) -> Result<BucketLister, BucketError> {
        let bucket = Bucket {
            bucket: bucket.to_string(),
            prefix: String::new(),
        };
        let store = Store::open(&bucket)?;
        store.check()?;
        Ok(BucketLister { store })
    }

    /// The names of the folders in `dir` (`""` or a prefix ending in `/`),
    /// sorted.
    pub fn folders(&self, dir: &Path) -> io::Result<Vec<String>> {
        let dir = dir.to_string_lossy();
        let prefix = dir.trim_end_matches('/');
        let prefix = (!prefix.is_empty()).then(|| Key::from(prefix));
        let listed = self
            .store
            .run(self.store.s3.list_with_delimiter(prefix.as_ref()))
            .map_err(|e| io::Error::other(self.store.why(&e)))?;
        let mut names: Vec<String> = listed
            .common_prefixes
            .iter()
            .filter_map(|p| p.filename().map(str::to_string))
            .collect();
        names.sort();
        Ok(names)
    }
}
