//! A source folder on another machine, over SFTP. It answers the walk's and
//! the copy's questions (`read::Source`) by path: a folder is its path from
//! the root the user named. Each folder is listed once, its entries' metadata
//! coming with the listing (OpenSSH's server gives `lstat`'s), and the
//! listings of its subfolders are asked for all at once, ahead of the walk:
//! a walk that waited for each folder in turn would pay several round trips
//! a folder. Small files are read many at once (`read_many`), a big one with
//! many reads in flight (`receive`).

use std::ffi::OsString;
use std::io;
use std::os::fd::BorrowedFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use openssh_sftp_client::file::File;
use rustix::fs::FileType;

use super::attrs::meta_of;
use super::listings::Listings;
use super::session::Session;
use super::spread::Spread;
use crate::engine::data::bytes::CopyFail;
use crate::engine::meta::attrs::SrcMeta;
use crate::engine::read::{Fresh, Source};

pub(crate) struct SftpSource {
    pub session: Arc<Session>,
    /// The source folder's path on the server, as the server resolved it.
    root: PathBuf,
    /// `host:path` as the user wrote it, for messages.
    named: PathBuf,
    listings: Listings,
}

use super::reads::{self, Read};

impl SftpSource {
    /// What `path` on the server is (a symlink the user names is followed).
    pub fn look(session: &Session, path: &Path) -> io::Result<SrcMeta> {
        let path = if path.as_os_str().is_empty() {
            Path::new(".")
        } else {
            path
        };
        let mut fs = session.sftp().fs();
        Ok(meta_of(&session.run(fs.metadata(path))?))
    }

    /// The folder `path` on the connected server (a symlink the user names
    /// is followed, as locally), with its metadata; `named` is how the user
    /// wrote it.
    pub fn open(
        session: Arc<Session>,
        path: &Path,
        named: PathBuf,
    ) -> io::Result<(SftpSource, SrcMeta)> {
        let path = if path.as_os_str().is_empty() {
            Path::new(".")
        } else {
            path
        };
        let mut fs = session.sftp().fs();
        // Whether the server lists `.` (see `listings::list_at`), learned
        // from the top of its tree (a short listing, nothing asked of it)
        // beside the first requests: the copy's first listing can then be
        // told short too.
        let learned = session.spawn_answer({
            let session = Arc::clone(&session);
            async move { super::listings::list_at(&session, Path::new("/")).await }
        });
        let meta = meta_of(&session.run(fs.metadata(path))?);
        if !meta.is_dir() {
            return Err(io::Error::other("it is not a folder"));
        }
        let root = session.run(fs.canonicalize(path))?;
        let _ = session.block_on(learned);
        let source = SftpSource {
            session,
            root,
            named,
            listings: Listings::default(),
        };
        Ok((source, meta))
    }

    /// Whether the connection was found gone.
    pub fn is_lost(&self) -> bool {
        self.session.is_lost()
    }

    /// The folder at `rel` in the tree, as a path on the server.
    pub fn folder(&self, rel: &Path) -> PathBuf {
        if rel.as_os_str().is_empty() {
            self.root.clone()
        } else {
            self.root.join(rel)
        }
    }

    /// Reads the small files `files` of the folder `dir` whole, all at once
    /// (see [`reads::read_many`]).
    pub fn read_many(&self, dir: &Path, files: Vec<(OsString, u64)>) -> Vec<Read> {
        reads::read_many(&self.session, dir, files)
    }

    /// Reads the open remote file `src` from `from` on into the local file
    /// `out` at the same offsets, many reads in flight (up to [`IN_FLIGHT`] bytes), `step` told of
    /// each piece written (it stops the copy when it fails). What was read
    /// passes through `hash`. The bytes written: fewer than `size` when the
    /// file shrank (the check after the copy finds it changed).
    pub fn receive(
        &self,
        (src, path): (&File, &Path),
        (out, from): (BorrowedFd<'_>, u64),
        meta: &SrcMeta,
        mut hash: Option<&mut blake3::Hasher>,
        mut step: impl FnMut(u64) -> Result<(), CopyFail>,
    ) -> Result<u64, CopyFail> {
        // A big file comes over several connections where the round trip is
        // long, each opening it by its path: one that finds another file
        // there now (replaced since) is left out.
        let over = Spread::over(
            &self.session,
            src,
            (path, meta.size.saturating_sub(from), false),
            |on, f| {
                on.run(f.metadata())
                    .is_ok_and(|now| !meta.changed_since(&meta_of(&now)))
            },
        );
        let mut done = from;
        let read = reads::spread(&over, (from, meta.size), |data| {
            if let Some(h) = hash.as_deref_mut() {
                h.update(data);
            }
            write_all_at(out, data, done).map_err(CopyFail::Write)?;
            done += data.len() as u64;
            step(data.len() as u64)
        });
        let closed = over.close_helpers();
        read?;
        closed.map_err(CopyFail::Read)?;
        Ok(done)
    }
}

impl SftpSource {
    /// Where writing an earlier run's local partial `part`, `found` bytes
    /// long, of the remote file `src` continues: past its last whole MiB
    /// when that MiB reads as the source reads there, or at 0. The partial
    /// is cut to it.
    pub fn resume_at(
        &self,
        src: &File,
        part: BorrowedFd<'_>,
        found: u64,
        size: u64,
    ) -> io::Result<u64> {
        let start = reads::resume_point(&self.session, src, part, (found, size))?;
        rustix::fs::ftruncate(part, start)?;
        Ok(start)
    }
}

/// Writes all of `data` at `at` in the local file `out` (at an offset, as
/// every write of a file here is: a plain `write` is left to pipes).
pub(crate) fn write_all_at(out: BorrowedFd<'_>, mut data: &[u8], mut at: u64) -> io::Result<()> {
    while !data.is_empty() {
        match rustix::io::pwrite(out, data, at) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                data = &data[n..];
                at += n as u64;
            }
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

impl Source for SftpSource {
    type OpenDir = PathBuf;
    type Dir<'a> = &'a Path;
    type File = File;

    fn dir(open: &PathBuf) -> &Path {
        open
    }

    fn local_fd(_: &PathBuf) -> Option<BorrowedFd<'_>> {
        None
    }

    fn display(&self, rel: &Path) -> PathBuf {
        if rel.as_os_str().is_empty() {
            self.named.clone()
        } else {
            self.named.join(rel)
        }
    }

    /// A folder is its path: the walk's listing said it is one (SFTP holds
    /// no folder open; what that cannot promise the README says).
    fn open_dir(&self, rel: &Path) -> io::Result<PathBuf> {
        Ok(self.folder(rel))
    }

    fn open_child_dir(&self, dir: &Path, name: &std::ffi::OsStr) -> io::Result<PathBuf> {
        Ok(dir.join(name))
    }

    fn stat_at(&self, dir: &Path, name: &std::ffi::OsStr) -> io::Result<SrcMeta> {
        let mut fs = self.session.sftp().fs();
        let m = self.session.run(fs.symlink_metadata(dir.join(name)))?;
        Ok(meta_of(&m))
    }

    fn open_file(
        &self,
        dir: &Path,
        name: &std::ffi::OsStr,
        walked: &SrcMeta,
        trust_walk: bool,
    ) -> io::Result<(File, SrcMeta, Fresh)> {
        let path = dir.join(name);
        let session = &self.session;
        let mut f = session.run(session.sftp().open(&path))?;
        if trust_walk {
            return Ok((f, *walked, Fresh::Walked));
        }
        let m = meta_of(&session.run(f.metadata())?);
        if !m.is_file() {
            return Err(io::Error::other("it is no longer a regular file"));
        }
        Ok((f, m, Fresh::Checked))
    }

    fn read_link(&self, dir: &Path, name: &std::ffi::OsStr) -> io::Result<PathBuf> {
        let mut fs = self.session.sftp().fs();
        self.session.run(fs.read_link(dir.join(name)))
    }

    fn list(
        &self,
        dir: &Path,
        mut each: impl FnMut(OsString, io::Result<SrcMeta>, FileType) -> bool,
    ) -> io::Result<()> {
        let listing = match self.listings.take_coming(dir) {
            Some(coming) => coming?,
            None => {
                let listed = self
                    .session
                    .block_on(super::listings::list_at(&self.session, dir));
                Arc::new(listed.map_err(|e| self.session.lost_why(e))?)
            }
        };
        self.listings
            .ask_ahead(&self.session, dir, &listing, |_| true);
        for (name, meta) in listing.iter() {
            if !each(name.clone(), Ok(*meta), meta.file_type()) {
                break;
            }
        }
        Ok(())
    }
}
