//! The multipart uploads a run has open, each recorded in a small file on
//! this machine (`$XDG_STATE_HOME/convoy/uploads/`, else
//! `~/.local/state/convoy/uploads/`) from its start until it ends. A run
//! killed meanwhile leaves its parts in the store, where they cost storage
//! and show in no listing; the next run to the same bucket aborts the ones
//! whose run is gone. object_store cannot list a bucket's open uploads, so
//! this is what finds them (uploads left by another machine or another
//! tool are the store's to expire: the README says how).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use object_store::multipart::MultipartStore;
use object_store::path::Path as Key;

use super::store::Store;

/// One open upload's record; dropped without [`Upload::ended`] or
/// [`Upload::abort`], it stays for the next run.
pub(crate) struct Upload {
    record: std::cell::Cell<Option<PathBuf>>,
    key: Key,
    id: String,
}

fn folder() -> Option<PathBuf> {
    let state = std::env::var_os("XDG_STATE_HOME")
        .filter(|s| !s.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))?;
    Some(state.join("convoy/uploads"))
}

/// Where the upload is: store, bucket, key and id, a line each.
fn describe(store: &Store, key: &Key, id: &str) -> String {
    format!("{}\n{}\n{key}\n{id}\n", store.endpoint, store.bucket.bucket)
}

impl Upload {
    pub fn started(store: &Store, key: &Key, id: &str) -> Upload {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let record = folder().and_then(|dir| {
            std::fs::create_dir_all(&dir).ok()?;
            let name = format!(
                "{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            );
            // Whole or not there: written aside, then named (a run killed
            // while writing it leaves a `.tmp` the next run removes).
            let path = dir.join(&name);
            let aside = dir.join(format!("{name}.tmp"));
            std::fs::write(&aside, describe(store, key, id)).ok()?;
            std::fs::rename(&aside, &path).ok()?;
            Some(path)
        });
        Upload {
            record: std::cell::Cell::new(record),
            key: key.clone(),
            id: id.to_string(),
        }
    }

    /// The upload became an object.
    pub fn ended(&self) {
        if let Some(r) = self.record.take() {
            let _ = std::fs::remove_file(r);
        }
    }

    /// Throws the upload's parts away; its record goes once the store
    /// said so (else the next run tries again).
    pub fn abort(&self, store: &Store) {
        if store
            .run(store.s3.abort_multipart(&self.key, &self.id))
            .is_ok()
            && let Some(r) = self.record.take()
        {
            let _ = std::fs::remove_file(r);
        }
    }
}

/// Aborts the uploads to `store`'s bucket that runs no longer alive left:
/// how many were aborted.
pub(crate) fn sweep(store: &Store) -> usize {
    let Some(dir) = folder() else {
        return 0;
    };
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return 0;
    };
    let mut aborted = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let pid = name
            .to_str()
            .and_then(|n| n.split('-').next())
            .and_then(|p| p.parse::<i32>().ok());
        let alive = pid
            .and_then(rustix::process::Pid::from_raw)
            .is_none_or(|p| rustix::process::test_kill_process(p).is_ok());
        if alive {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(entry.path()) else {
            continue;
        };
        let lines: Vec<&str> = text.lines().collect();
        let [endpoint, bucket, key, id] = lines[..] else {
            // Half a record of a dead run: nothing it names can be aborted.
            let _ = std::fs::remove_file(entry.path());
            continue;
        };
        if endpoint != store.endpoint || bucket != store.bucket.bucket {
            continue;
        }
        let key = Key::from(key);
        match store.run(store.s3.abort_multipart(&key, &id.to_string())) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {
                let _ = std::fs::remove_file(entry.path());
                aborted += 1;
            }
            Err(_) => {}
        }
    }
    aborted
}
