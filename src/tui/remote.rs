//! Completing `host:path` and `s3://bucket/prefix` in the form: another
//! machine's folders and a bucket's are listed on a thread of their own (a
//! connection can take as long as ssh's connect timeout), one connection per
//! host or bucket kept while the TUI runs; the form asks
//! (`Setup::remote_wanted`) and is told when the answer comes.

use std::collections::HashMap;
use std::path::PathBuf;

use crossbeam_channel::{Receiver, Sender, unbounded};

use crate::config::Remote;
use crate::engine::{BucketLister, FolderLister};

/// What lists one place's folders: a host over SFTP, or a bucket (its
/// "host" written `s3://bucket`).
enum Lister {
    Host(Box<FolderLister>),
    Bucket(BucketLister),
}

impl Lister {
    fn open(remote: &Remote) -> Result<Lister, String> {
        match remote.host.strip_prefix("s3://") {
            Some(bucket) => BucketLister::open(bucket)
                .map(Lister::Bucket)
                .map_err(|e| e.to_string()),
            None => FolderLister::connect(remote)
                .map(|l| Lister::Host(Box::new(l)))
                .map_err(|e| e.to_string()),
        }
    }

    fn folders(&self, dir: &std::path::Path) -> std::io::Result<Vec<String>> {
        match self {
            Lister::Host(l) => l.folders(dir),
            Lister::Bucket(l) => l.folders(dir),
        }
    }
}

/// A folder's subfolders, or why they could not be listed.
pub type Folders = Result<Vec<String>, String>;

pub struct RemoteLister {
    ask: Sender<(Remote, PathBuf)>,
    pub answers: Receiver<((String, PathBuf), Folders)>,
}

impl RemoteLister {
    pub fn start() -> RemoteLister {
        let (ask, asked) = unbounded::<(Remote, PathBuf)>();
        let (tell, answers) = unbounded();
        // A thread that cannot start completes nothing remote; the copy
        // itself still reaches the host.
        let _ = std::thread::Builder::new()
            .name("convoy-tui-remote".into())
            .spawn(move || {
                let mut hosts: HashMap<String, Lister> = HashMap::new();
                for (remote, dir) in asked {
                    let host = remote.host.clone();
                    if !hosts.contains_key(&host) {
                        match Lister::open(&remote) {
                            Ok(l) => {
                                hosts.insert(host.clone(), l);
                            }
                            Err(e) => {
                                if tell.send(((host, dir), Err(e))).is_err() {
                                    return;
                                }
                                continue;
                            }
                        }
                    }
                    let folders = hosts[&host]
                        .folders(&dir)
                        .map_err(|e| format!("{host}: {e}"));
                    // A connection that failed is made anew next time.
                    if folders.is_err() {
                        hosts.remove(&host);
                    }
                    if tell.send(((host, dir), folders)).is_err() {
                        return;
                    }
                }
            });
        RemoteLister { ask, answers }
    }

    /// Asks for the folders of `dir` on `remote`; the answer comes on
    /// `answers`.
    pub fn ask(&self, remote: Remote, dir: PathBuf) {
        let _ = self.ask.send((remote, dir));
    }
}
