//! What the walk learns of the server's folders, kept a little while: a
//! folder is listed once (by the sweep of dead runs' temporaries), and that
//! listing answers the walk's questions about its entries (what is at a name,
//! whether it is a folder) and the conflict check of its first batch; the
//! listings of its subfolders are asked for all at once, ahead of the walk.
//! A rerun's walk would otherwise pay several round trips a folder, one
//! folder after the other. A listing a moment old is safe: what appeared
//! since is found when a file is named (never over what is there, unless the
//! policy replaces it).

use std::collections::{HashMap, VecDeque};
use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, PoisonError};

use super::attrs::meta_of;
use super::errors;
use super::session::Session;
use crate::engine::meta::attrs::SrcMeta;

pub(crate) type Listing = HashMap<OsString, SrcMeta>;

/// Listings kept for the walk at most (the walk goes deep first: the
/// folders it is in, and their latest children).
const KEPT: usize = 256;
/// Listings asked for ahead and not yet taken, at most.
const AHEAD: usize = 1024;

type Answer = Option<Result<Arc<Listing>, (io::ErrorKind, Option<i32>, String)>>;

/// A listing asked for ahead.
#[derive(Default)]
pub(crate) struct Coming {
    answer: Mutex<Answer>,
    came: Condvar,
}

impl Coming {
    pub fn answer(&self, r: io::Result<Listing>) {
        let r = r
            .map(Arc::new)
            .map_err(|e| (e.kind(), e.raw_os_error(), e.to_string()));
        *self.answer.lock().unwrap_or_else(PoisonError::into_inner) = Some(r);
        self.came.notify_all();
    }

    fn wait(&self) -> io::Result<Arc<Listing>> {
        let mut a = self.answer.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            match &*a {
                Some(Ok(l)) => return Ok(Arc::clone(l)),
                Some(Err((_, Some(errno), _))) => return Err(io::Error::from_raw_os_error(*errno)),
                Some(Err((kind, None, why))) => return Err(io::Error::new(*kind, why.clone())),
                None => a = self.came.wait(a).unwrap_or_else(PoisonError::into_inner),
            }
        }
    }
}

#[derive(Default)]
pub(crate) struct Listings {
    known: Mutex<VecDeque<(PathBuf, Arc<Listing>)>>,
    coming: Mutex<HashMap<PathBuf, Arc<Coming>>>,
}

impl Listings {
    /// The listing of `dir` kept for the walk.
    pub fn known(&self, dir: &Path) -> Option<Arc<Listing>> {
        let k = self.known.lock().unwrap_or_else(PoisonError::into_inner);
        k.iter()
            .rev()
            .find(|(p, _)| p == dir)
            .map(|(_, l)| Arc::clone(l))
    }

    pub fn remember(&self, dir: &Path, listing: Arc<Listing>) {
        let mut k = self.known.lock().unwrap_or_else(PoisonError::into_inner);
        k.retain(|(p, _)| p != dir);
        if k.len() >= KEPT {
            k.pop_front();
        }
        k.push_back((dir.to_path_buf(), listing));
    }

    /// A listing of `dir` to ask for ahead: its slot, or `None` when
    /// enough are on their way (or this one is).
    pub fn expect(&self, dir: PathBuf) -> Option<Arc<Coming>> {
        let mut c = self.coming.lock().unwrap_or_else(PoisonError::into_inner);
        if c.len() >= AHEAD || c.contains_key(&dir) {
            return None;
        }
        let slot = Arc::new(Coming::default());
        c.insert(dir, Arc::clone(&slot));
        Some(slot)
    }

    /// Asks for the listings of the subfolders of `dir` in `listing` that
    /// `wanted` names, all at once, for a walk about to enter them.
    pub fn ask_ahead(
        &self,
        session: &Arc<Session>,
        dir: &Path,
        listing: &Listing,
        wanted: impl Fn(&std::ffi::OsStr) -> bool,
    ) {
        for (name, meta) in listing {
            if !meta.is_dir() || !wanted(name) {
                continue;
            }
            let path = dir.join(name);
            let Some(slot) = self.expect(path.clone()) else {
                continue;
            };
            let session = Arc::clone(session);
            session.clone().spawn(async move {
                let listed = list_at(&session, &path).await;
                slot.answer(listed.map_err(|e| session.lost_why(e)));
            });
        }
    }

    /// The listing of `dir` asked for ahead, waited for; `None` if it was not.
    pub fn take_coming(&self, dir: &Path) -> Option<io::Result<Arc<Listing>>> {
        let slot = {
            let mut c = self.coming.lock().unwrap_or_else(PoisonError::into_inner);
            c.remove(dir)
        };
        slot.map(|s| s.wait())
    }
}

/// Lists the folder `dir` on the server (without `.` and `..`).
///
/// OpenSSH's server answers a read error in the middle of a folder as its
/// end (`process_readdir` cannot tell them apart), so a listing may come
/// short with no error. Where the server's filesystem counts a folder's
/// subfolders in its link count (ext4, XFS; not btrfs), that count (in the
/// `.` entry's long name, `ls -l`'s second column) shows a listing that
/// lacks some of them: it is an error, never a folder copied as emptier
/// than it is. A listing short only of files cannot be seen (the README
/// says so).
pub(crate) async fn list_at(session: &Session, dir: &Path) -> io::Result<Listing> {
    let listed = async {
        let mut fs = session.sftp().fs();
        let d = fs.open_dir(dir).await?;
        let mut names = Listing::new();
        let mut links = None;
        let entries = d.read_dir();
        let mut entries = std::pin::pin!(entries);
        while let Some(e) =
            std::future::poll_fn(|cx| futures_core::Stream::poll_next(entries.as_mut(), cx)).await
        {
            let e = e?;
            let name = e.filename().as_os_str();
            if name == "." {
                links = Some(link_count(e.longname()).unwrap_or(0));
            } else if name != ".." {
                names.insert(name.to_os_string(), meta_of(&e.metadata()));
            }
        }
        Ok::<_, openssh_sftp_client::Error>((names, links))
    };
    let (names, links) = listed.await.map_err(errors::to_io)?;
    let folders = names.values().filter(|m| m.is_dir()).count() as u64;
    let short = |why: String| {
        Err(io::Error::other(format!(
            "{why} (the server ends a listing at a read error without saying so)"
        )))
    };
    match links {
        Some(n) if n > 2 && folders < n - 2 => short(format!(
            "the server listed {folders} of the {} folders it holds",
            n - 2
        )),
        Some(_) => {
            session.lists_dots();
            Ok(names)
        }
        // A server that lists `.` in every folder (OpenSSH's, as readdir
        // gives it) left it out: it stopped before its first entry.
        None if session.listed_dots() => short("the server's listing came short".into()),
        None => Ok(names),
    }
}

/// The link count in a long name as `ls -l` writes it (`drwxr-xr-x 5 …`).
fn link_count(longname: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(longname).ok()?;
    let mut words = text.split_whitespace();
    let mode = words.next()?;
    if !mode.starts_with('d') {
        return None;
    }
    words.next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::link_count;

    #[test]
    fn the_link_count_is_read_from_a_folder_s_long_name_only() {
        assert_eq!(
            link_count(b"drwxr-xr-x    5 root     root         4096 Dec  7 21:00 ."),
            Some(5)
        );
        assert_eq!(
            link_count(b"-rw-r--r--    1 root     root            3 Dec  7 21:00 f"),
            None
        );
        assert_eq!(link_count(b""), None);
        assert_eq!(link_count(b"drwxr-xr-x ? x"), None);
    }
}
