//! A host's folders, for the TUI's form: what completes a `host:path` a person
//! is typing. One connection per host, kept while the form is used.

use std::io;
use std::path::Path;

use super::listings::list_at;
use super::session::{ConnectError, Remote, Session};

pub struct FolderLister {
    session: Session,
}

impl FolderLister {
    /// Connects to the host as a copy would (the user's ssh, asking nothing).
    pub fn connect(remote: &Remote) -> Result<FolderLister, ConnectError> {
        Ok(FolderLister {
            session: Session::connect(remote)?,
        })
    }

    /// The names of the folders in `dir` (the login folder when empty),
    /// sorted; names that are not UTF-8 are left out (a field holds text).
    pub fn folders(&self, dir: &Path) -> io::Result<Vec<String>> {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        let listed = self.session.block_on(list_at(&self.session, dir))?;
        let mut names: Vec<String> = listed
            .into_iter()
            .filter(|(_, m)| m.is_dir())
            .filter_map(|(n, _)| n.into_string().ok())
            .collect();
        names.sort();
        Ok(names)
    }
}
