//! Folders made ahead of their answer: the walker sends a folder's `mkdir` and
//! goes on (a round trip per folder would pace the whole walk); the server
//! answers requests in the order they were sent, so the files sent into it
//! later find it made. A worker about to write into a folder waits for its
//! answer first, so a folder that could not be made fails its files with its
//! own reason instead of "no such file".

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, PoisonError};

/// An answer not yet come: the error's kind, its errno and words.
type Answer = Option<Result<(), (io::ErrorKind, Option<i32>, String)>>;

#[derive(Default)]
pub(crate) struct Waiting {
    answer: Mutex<Answer>,
    came: Condvar,
}

impl Waiting {
    pub fn answer(&self, r: io::Result<()>) {
        let r = r.map_err(|e| (e.kind(), e.raw_os_error(), e.to_string()));
        *self.answer.lock().unwrap_or_else(PoisonError::into_inner) = Some(r);
        self.came.notify_all();
    }

    fn wait(&self) -> io::Result<()> {
        let mut a = self.answer.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            match &*a {
                Some(Ok(())) => return Ok(()),
                Some(Err((_, Some(errno), _))) => return Err(io::Error::from_raw_os_error(*errno)),
                Some(Err((kind, None, why))) => return Err(io::Error::new(*kind, why.clone())),
                None => a = self.came.wait(a).unwrap_or_else(PoisonError::into_inner),
            }
        }
    }
}

/// The folders whose `mkdir` is on its way, by path.
#[derive(Default)]
pub(crate) struct Made(Mutex<HashMap<PathBuf, Arc<Waiting>>>);

impl Made {
    /// A folder sent to be made at `path`: its answer, to give once it comes.
    pub fn sent(&self, path: PathBuf) -> Arc<Waiting> {
        let w = Arc::new(Waiting::default());
        let mut m = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        m.insert(path, Arc::clone(&w));
        w
    }

    /// Waits for the answer about the folder at `path`, if it was sent to be
    /// made; a folder made (or not sent) is ready.
    pub fn ready(&self, path: &Path) -> io::Result<()> {
        let w = {
            let m = self.0.lock().unwrap_or_else(PoisonError::into_inner);
            m.get(path).cloned()
        };
        match w {
            Some(w) => w.wait(),
            None => Ok(()),
        }
    }
}
