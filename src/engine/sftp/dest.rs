//! A destination folder on another machine, over SFTP. It answers the copy's
//! questions (`write::Dest`) with one request each, by path: SFTP has no folder
//! handles, so a folder is its path from the root, and each one the copy
//! enters is looked at with `lstat` first (never through a symlink as far as
//! that look can tell; what it cannot promise the README says). A file is
//! written under a temporary name and given its own only complete: a second
//! name made with `hardlink@openssh.com` and the temporary removed, which
//! never replaces what is there; `posix-rename@openssh.com` where replacing
//! is meant.

use std::ffi::{OsStr, OsString};
use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use openssh_sftp_client::UnixTimeStamp;
use openssh_sftp_client::file::File;
use openssh_sftp_client::metadata::{MetaData, MetaDataBuilder, Permissions};
use rustix::io::Errno;

use super::attrs::{WINDOW, meta_of};
use super::errors::{self, errno};
use super::listings::{Listing, Listings, list_at};
use super::pending::Made;
use super::reads;
use super::session::Session;
use super::spread::Spread;
use crate::engine::data::bytes::CopyFail;
use crate::engine::data::same_bytes::{Relation, relate_to};
use crate::engine::meta::attrs::{FileMeta, SrcMeta};
use crate::engine::meta::xattrs::Held;
use crate::engine::plan::node::DirNode;
use crate::engine::write::caps::Learned;
use crate::engine::write::temp_name::TempNames;
use crate::engine::write::{Dest, TakenAway};
use crate::error::{CopyError, Op};
use crate::event::Digest;

/// How a complete temporary takes a name that must not replace another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Naming {
    /// `hardlink@openssh.com`, then the temporary removed: never replaces.
    Link,
    /// SFTP's plain RENAME, which the protocol has fail where the name is
    /// taken (the client sends it where the server has no posix-rename).
    Rename,
    /// The name looked at, then `posix-rename@openssh.com`: what appears
    /// between the two is replaced (said once, see `Notice::LookThenRename`).
    LookThenRename,
}

pub(crate) struct SftpDest {
    pub session: Arc<Session>,
    pub naming: Naming,
    /// The destination folder's path on the server, as the server resolved it.
    root: PathBuf,
    pub temps: TempNames,
    pub learned: Arc<Learned>,
    /// Folders sent to be made, whose answer a worker waits for.
    made: Made,
    /// Folders' listings, kept for the walk and asked for ahead.
    listings: Listings,
    /// Temporaries of this run the server would not remove (see [`Left`]).
    pub left: Left,
}

/// Temporaries of this run the server would not remove, by path: the
/// destination holds more than it should until the next run's sweep, so
/// the run says so (and exits 1).
#[derive(Clone, Default)]
pub(crate) struct Left(Arc<std::sync::Mutex<Vec<(PathBuf, io::Error)>>>);

impl Left {
    /// Notes the removal of the temporary at `path` that ended `removed`.
    fn note(&self, path: &Path, removed: Result<(), openssh_sftp_client::Error>) {
        let Err(e) = removed.map_err(errors::to_io) else {
            return;
        };
        if e.raw_os_error() == Some(Errno::NOENT.raw_os_error()) {
            return;
        }
        let mut left = self.0.lock().unwrap_or_else(|p| p.into_inner());
        left.push((path.to_path_buf(), e));
    }

    pub fn take(&self) -> Vec<(PathBuf, io::Error)> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// A time as SFTP carries it: whole seconds, within what 32 bits hold.
fn stamp((s, _): (i64, i64)) -> UnixTimeStamp {
    let s = s.clamp(0, i64::from(u32::MAX)) as u64;
    UnixTimeStamp::new(UNIX_EPOCH + Duration::from_secs(s)).expect("within 32 bits")
}

/// The attributes that give an entry `meta`'s mode and times, and with
/// `owner` its owner.
fn mode_and_times(meta: &SrcMeta, owner: bool) -> MetaData {
    let mut b = MetaDataBuilder::new();
    b.permissions(Permissions::from((meta.mode & 0o7777) as u16));
    b.time(stamp(meta.atime), stamp(meta.mtime));
    if owner {
        b.id((meta.uid, meta.gid));
    }
    b.create()
}

/// The attributes that give an entry `meta`'s owner.
fn owner_of(meta: &SrcMeta) -> MetaData {
    let mut b = MetaDataBuilder::new();
    b.id((meta.uid, meta.gid));
    b.create()
}

/// `meta`'s owner (with `owner`), mode and times, in as few requests as
/// keep them: OpenSSH's server sets an owner after the mode within one
/// request, and a change of owner clears set-id bits, so a mode with them
/// goes in a request of its own, after the owner; any other, with it (one
/// request a file fewer: the server's work a file is what bounds a copy of
/// small files, `tests/bench/RESULTS.md`).
pub(crate) fn attrs_of(meta: &SrcMeta, owner: bool) -> impl Iterator<Item = MetaData> {
    let set_id = meta.mode & 0o6000 != 0;
    (owner && set_id)
        .then(|| owner_of(meta))
        .into_iter()
        .chain([mode_and_times(meta, owner && !set_id)])
}

impl SftpDest {
    /// The destination `path` on the connected server, made (with its
    /// parents) when missing unless `dry_run`; whether this run made it.
    /// `None` in a dry run into a folder that does not exist.
    pub fn open(
        session: Arc<Session>,
        path: &Path,
        dry_run: bool,
    ) -> io::Result<(Option<SftpDest>, bool)> {
        let path = if path.as_os_str().is_empty() {
            Path::new(".")
        } else {
            path
        };
        let sftp = session.sftp();
        // What it is and where it resolves, asked together (one round trip
        // where it exists).
        let (mut look, mut resolve) = (sftp.fs(), sftp.fs());
        let (found, resolved) = session.block_on(both(
            look.symlink_metadata(path),
            resolve.canonicalize(path),
        ));
        let found = found.map_err(|e| session.lost_why(errors::to_io(e)));
        let made = match found {
            Ok(m) if m.file_type().is_some_and(|t| t.is_dir()) => false,
            Ok(_) => return Err(io::Error::from(Errno::NOTDIR)),
            Err(e) if e.raw_os_error() == Some(Errno::NOENT.raw_os_error()) => {
                if dry_run {
                    return Ok((None, true));
                }
                make_all(&session, path)?;
                true
            }
            Err(e) => return Err(e),
        };
        let root = match (made, resolved) {
            (false, Ok(root)) => root,
            _ => session.run(sftp.fs().canonicalize(path))?,
        };
        let dest = SftpDest {
            naming: Naming::Link,
            session,
            root,
            temps: TempNames::new(std::process::id()),
            learned: Arc::new(Learned::default()),
            made: Made::default(),
            listings: Listings::default(),
            left: Left::default(),
        };
        Ok((Some(dest), made))
    }

    /// Finds out how files take their names here (see [`Naming`]) and,
    /// with `owners`, whether the server lets this login give files away
    /// (see [`SftpDest::gives_away`]): both at once, a round trip each step.
    pub fn probe(&mut self, owners: bool) -> bool {
        let (naming, gives) = std::thread::scope(|s| {
            let gives = s.spawn(|| owners && self.gives_away());
            (self.naming_here(), gives.join().unwrap_or(false))
        });
        self.naming = naming;
        gives
    }

    /// Whether the server lets this login give files away (it logs in as
    /// root): a file of its own is given to another owner and removed.
    fn gives_away(&self) -> bool {
        let Ok((name, file)) = self.create_temp(&self.root) else {
            return false;
        };
        drop(file);
        let mut b = MetaDataBuilder::new();
        b.id((1, 1));
        let mut fs = self.session.sftp().fs();
        let path = self.root.join(&name);
        let given = self.session.run(fs.set_metadata(&path, b.create()));
        let taken = self.session.run(fs.symlink_metadata(&path));
        self.discard(&self.root, &name);
        given.is_ok() && taken.is_ok_and(|m| m.uid() == Some(1) && m.gid() == Some(1))
    }

    /// How files take their names here: a server may offer
    /// `hardlink@openssh.com` and refuse it (OpenSSH's `sftp-server -P`), so
    /// a temporary is linked once to find out.
    fn naming_here(&self) -> Naming {
        let sftp = self.session.sftp();
        let links = sftp.support_hardlink()
            && self.create_temp(&self.root).is_ok_and(|(name, file)| {
                drop(file);
                let (from, to) = (self.root.join(&name), self.root.join(self.temps.next()));
                let (mut fs, mut rm, mut rm2) = (sftp.fs(), sftp.fs(), sftp.fs());
                let linked = self.session.run(fs.hard_link(&from, &to)).is_ok();
                // The server answers in order: both removals at once.
                let (a, b) = self
                    .session
                    .block_on(both(rm.remove_file(&to), rm2.remove_file(&from)));
                self.left.note(&to, a);
                self.left.note(&from, b);
                linked
            });
        match (links, sftp.support_posix_rename()) {
            (true, _) => Naming::Link,
            (false, false) => Naming::Rename,
            (false, true) => Naming::LookThenRename,
        }
    }

    /// What the server keeps: modes, times to the second, symlinks and (with
    /// a working `hardlink@openssh.com`) hard links; no special files, no attributes;
    /// owners only where `owner` (see [`SftpDest::probe`]).
    pub fn keeps(&self, owner: bool) -> FileMeta {
        FileMeta {
            window: WINDOW,
            modes: true,
            owners: owner,
            hard_links: self.naming == Naming::Link,
            symlinks: true,
            nodes: false,
            ignores_case: false,
            attrs: Held {
                user: false,
                acls: false,
            },
            holes: false,
            rename_keeps_times: true,
            // Folders are paths: one renamed under a worker would move its
            // files away from it. They are made under their own names.
            renames_keep_handles: false,
        }
    }

    /// Whether something is at `path` now (to tell "taken" from other
    /// refusals, which SFTP version 3 does not).
    fn taken(&self, path: &Path) -> bool {
        let fs = self.session.sftp().fs();
        self.session
            .run(async move {
                let mut fs = fs;
                fs.symlink_metadata(path).await
            })
            .is_ok()
    }

    /// A refusal to make `path`, as EEXIST when the name is taken.
    fn refused(&self, e: io::Error, path: &Path) -> io::Error {
        if e.raw_os_error().is_none() && !errors::is_lost(&e) && self.taken(path) {
            return Errno::EXIST.into();
        }
        e
    }

    /// A new empty file under a fresh temporary name in `dir`, private
    /// until it is complete.
    pub fn create_temp(&self, dir: &Path) -> io::Result<(OsString, File)> {
        loop {
            let name = self.temps.next();
            let path = dir.join(&name);
            let sftp = self.session.sftp();
            let opened = self.session.run(async {
                let mut b = MetaDataBuilder::new();
                b.permissions(Permissions::from(0o600));
                sftp.options()
                    .write(true)
                    .create_new(true)
                    .open(&path)
                    .await
            });
            match opened.map_err(|e| self.refused(e, &path)) {
                Ok(f) => return Ok((name, f)),
                // Another run's name: another one.
                Err(e) if e.raw_os_error() == Some(Errno::EXIST.raw_os_error()) => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Gives the complete temporary `temp` in `dir` its `name`: replacing
    /// what is there only when `replace`; EEXIST when the name is taken.
    pub fn commit(&self, dir: &Path, temp: &OsStr, name: &OsStr, replace: bool) -> io::Result<()> {
        let (from, to) = (dir.join(temp), dir.join(name));
        let sftp = self.session.sftp();
        if replace {
            if !sftp.support_posix_rename() {
                // A plain RENAME never replaces on OpenSSH: what is there goes
                // first (the copy is complete under its temporary name).
                match self.remove_at(dir, name) {
                    Ok(()) | Err(Errno::NOENT) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            let mut fs = sftp.fs();
            return self.session.run(fs.rename(&from, &to));
        }
        let named = self.session.block_on(name_new(
            &self.session,
            self.naming,
            (&from, &to),
            &self.left,
        ));
        named.map_err(|e| self.refused(self.session.lost_why(e), &to))
    }

    /// The partial `name` in `dir` a big file is written into (see
    /// `write::resume`), opened to be written, and how long an earlier run
    /// left it (0 for a new one). SFTP locks nothing: two runs of the same
    /// copy at once would write one partial (the README says so).
    pub fn open_partial(&self, dir: &Path, name: &OsStr) -> io::Result<(File, u64)> {
        let path = dir.join(name);
        let sftp = self.session.sftp();
        let mut f = self
            .session
            .run(
                sftp.options()
                    .write(true)
                    .read(true)
                    .create(true)
                    .open(&path),
            )
            .map_err(|e| self.refused(e, &path))?;
        let found = self.session.run(f.metadata())?.len().unwrap_or(0);
        Ok((f, found))
    }

    /// Where writing an earlier run's partial `out`, `found` bytes long,
    /// continues: past the last whole MiB of it whose last MiB reads as the
    /// source `src` reads there, or at 0. The partial is cut to it.
    pub fn resume_at(
        &self,
        out: &File,
        src: std::os::fd::BorrowedFd<'_>,
        found: u64,
        size: u64,
    ) -> io::Result<u64> {
        let start = reads::resume_point(&self.session, out, src, (found, size))?;
        let mut f = out.clone();
        self.session.run(f.set_len(start))?;
        Ok(start)
    }

    /// Writes `size` bytes of the local file `src` into the new file `out`,
    /// many write requests in flight (up to [`IN_FLIGHT`] bytes), `step`
    /// told of each piece sent (it stops the copy when it fails). What was
    /// read passes through `hash`. The bytes written.
    pub fn send(
        &self,
        (out, path): (&File, &Path),
        src: std::os::fd::BorrowedFd<'_>,
        (start, size): (u64, u64),
        mut hash: Option<&mut blake3::Hasher>,
        mut step: impl FnMut(u64) -> Result<(), CopyFail>,
    ) -> Result<u64, CopyFail> {
        let session = &*self.session;
        // A big file goes over several connections where the round trip is
        // long; each one opens the temporary, which only this run writes.
        let spread = Spread::over(session, out, (path, size - start, true), |_, _| true);
        // Each write on its own clone of the handle at its offset, its bytes
        // sent as they are: the client's buffered writer copies every byte
        // into its request one at a time (most of the copy's time, profiled).
        // What OpenSSH's server takes in one request (a server that takes
        // less gets each piece in several, one after the other).
        let piece = 255 * 1024;
        let depth = spread.depth(piece);
        let mut sent = std::collections::VecDeque::new();
        let wait = |(on, answer): (&Session, std::pin::Pin<Box<_>>)| -> Result<(), CopyFail> {
            session
                .block_on::<io::Result<()>>(answer)
                .map_err(|e| CopyFail::Write(spread.why(on, e)))
        };
        let mut done = start;
        let mut i = 0;
        while done < size {
            let want = (size - done).min(piece as u64) as usize;
            let mut buf = vec![0u8; want];
            let n = rustix::io::pread(src, &mut buf, done).map_err(|e| CopyFail::Read(e.into()))?;
            if n == 0 {
                // It shrank: the check after the copy finds it changed.
                break;
            }
            buf.truncate(n);
            if let Some(h) = hash.as_deref_mut() {
                h.update(&buf);
            }
            let ((on, mut f), at) = (spread.of(i), done);
            let mut data = [bytes::Bytes::from(buf)];
            let answer = on.spawn_answer(async move {
                use tokio::io::AsyncSeekExt;
                f.seek(io::SeekFrom::Start(at))
                    .await
                    .map_err(errors::from_writer)?;
                f.write_all_zero_copy(&mut data)
                    .await
                    .map_err(errors::to_io)
            });
            sent.push_back((on, Box::pin(answer)));
            done += n as u64;
            i += 1;
            if sent.len() >= depth
                && let Some(first) = sent.pop_front()
            {
                wait(first)?;
            }
            step(n as u64)?;
        }
        while let Some(first) = sent.pop_front() {
            wait(first)?;
        }
        spread.close_helpers().map_err(CopyFail::Write)?;
        Ok(done)
    }

    /// The last steps of a new file before it takes its name: `meta`'s
    /// mode, times (and owner, with `owner`), then with `fsync` its data on
    /// the server's device (`fsync@openssh.com`; a server without it is an
    /// error, never a copy said flushed that is not), then closed.
    pub fn seal(&self, mut out: File, meta: &SrcMeta, owner: bool, fsync: bool) -> io::Result<()> {
        let sftp = self.session.sftp();
        if fsync && !sftp.support_fsync() {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "the server cannot flush a file (no fsync@openssh.com): --fsync cannot be kept",
            ));
        }
        self.session.run(async {
            for attrs in attrs_of(meta, owner) {
                out.set_metadata(attrs).await?;
            }
            if fsync {
                out.sync_all().await?;
            }
            out.close().await
        })
    }

    /// What the folder `dir` holds, each entry's metadata as `lstat` gives
    /// it (one listing for a whole folder, not a request per name): the one
    /// asked for ahead or kept for the walk (see `listings`), else listed now.
    pub fn list(&self, dir: &Path) -> io::Result<Arc<Listing>> {
        if let Some(coming) = self.listings.take_coming(dir) {
            return coming;
        }
        if let Some(known) = self.listings.known(dir) {
            return Ok(known);
        }
        let listed = self.session.block_on(list_at(&self.session, dir));
        listed.map(Arc::new).map_err(|e| self.session.lost_why(e))
    }

    /// What the folder `dir` holds now, listed anew (not the walk's).
    pub fn list_now(&self, dir: &Path) -> io::Result<Listing> {
        let listed = self.session.block_on(list_at(&self.session, dir));
        listed.map_err(|e| self.session.lost_why(e))
    }

    /// Asks for the listings of `dir`'s subfolders in `listing`, all at once,
    /// for the walk that is about to enter them.
    fn list_ahead(&self, dir: &Path, listing: &Listing) {
        use crate::engine::write::temp_name;
        let theirs = |name: &std::ffi::OsStr| temp_name::owner(name).is_some();
        self.listings
            .ask_ahead(&self.session, dir, listing, |name| !theirs(name));
    }

    /// Writes many small files at once, each complete under a temporary
    /// name before it takes its own (see [`Small`]): every file's requests
    /// are in flight together on the connection, so a folder of small files
    /// costs a few round trips, not a few per file. Their outcomes, in order.
    pub fn put_many(&self, files: Vec<Small>, owner: bool, fsync: bool) -> Vec<Put> {
        let naming = self.naming;
        let tasks = files.into_iter().map(|f| {
            let (session, temp) = (Arc::clone(&self.session), self.temps.next());
            let left = self.left.clone();
            async move { put_one(&session, f, temp, (owner, fsync, naming), &left).await }
        });
        let out = self.session.all(tasks);
        out.into_iter()
            .map(|p| match p {
                Some(Put::Failed(op, e)) => Put::Failed(op, self.session.lost_why(e)),
                Some(p) => p,
                None => Put::Failed(Op::Write, io::Error::other("the upload task failed")),
            })
            .collect()
    }

    /// Gives each path its metadata (mode, times, and owner with `owner`),
    /// every request in flight at once; each one's outcome, in order.
    pub fn set_all(&self, paths: Vec<(PathBuf, SrcMeta)>, owner: bool) -> Vec<io::Result<()>> {
        let tasks = paths.into_iter().map(|(path, meta)| {
            let session = Arc::clone(&self.session);
            async move {
                let mut fs = session.sftp().fs();
                let mut r = Ok(());
                for attrs in attrs_of(&meta, owner) {
                    r = r.and(fs.set_metadata(&path, attrs).await);
                }
                r.map_err(errors::to_io)
            }
        });
        let out = self.session.all(tasks);
        out.into_iter()
            .map(|r| {
                r.unwrap_or_else(|| Err(io::Error::other("the request's task failed")))
                    .map_err(|e| self.session.lost_why(e))
            })
            .collect()
    }

    /// A refusal to write in `dir` said as what it is: SFTP version 3 has no
    /// "no space" code (OpenSSH's server answers "failure"), so the server's
    /// free space is asked (`statvfs@openssh.com`, where offered) and a full
    /// disk is said as one, which stops the run as it does locally.
    pub fn explain(&self, e: io::Error, dir: &Path) -> io::Error {
        let sftp = self.session.sftp();
        if e.raw_os_error().is_some() || errors::is_lost(&e) || !sftp.support_statvfs() {
            return e;
        }
        let mut fs = sftp.fs();
        match self.session.run(fs.statvfs(dir)) {
            Ok(v) if v.bavail == 0 || v.favail == 0 => Errno::NOSPC.into(),
            _ => e,
        }
    }

    /// The BLAKE3 of the file `name` in `dir` as the server reads it back
    /// (`--verify`): through the server's cache, which SFTP cannot pass.
    pub fn hash_back(&self, dir: &Path, name: &OsStr, size: u64) -> io::Result<Digest> {
        let path = dir.join(name);
        let f = self.session.run(self.session.sftp().open(&path))?;
        let mut h = blake3::Hasher::new();
        let mut got = 0u64;
        let read = reads::pipelined(&self.session, &f, (0, size.max(1)), |data| {
            h.update(data);
            got += data.len() as u64;
            Ok(())
        });
        let _ = self.session.run(f.close());
        match read {
            Ok(()) if got == size => Ok(*h.finalize().as_bytes()),
            Ok(()) => Err(io::Error::other(format!(
                "it is {got} bytes long, not {size}"
            ))),
            Err(CopyFail::Read(e) | CopyFail::Write(e) | CopyFail::Clone(e)) => Err(e),
            Err(CopyFail::Cancelled | CopyFail::Skipped) => Err(io::Error::other("stopped")),
        }
    }

    /// [`SftpDest::hash_back`] of many small files of `dir` at once.
    pub fn hash_back_many(
        &self,
        dir: &Path,
        files: Vec<(OsString, u64)>,
    ) -> Vec<io::Result<Digest>> {
        let sizes: Vec<u64> = files.iter().map(|(_, s)| *s).collect();
        reads::read_many(&self.session, dir, files)
            .into_iter()
            .zip(sizes)
            .map(|(r, size)| match r {
                Ok(data) if data.len() as u64 == size => Ok(*blake3::hash(&data).as_bytes()),
                Ok(data) => Err(io::Error::other(format!(
                    "it is {} bytes long, not {size}",
                    data.len()
                ))),
                Err(e) => Err(e),
            })
            .collect()
    }

    /// Removes the temporary `name` in `dir`: its copy failed (one the
    /// server keeps is said at the end).
    pub fn discard(&self, dir: &Path, name: &OsStr) {
        let path = dir.join(name);
        let mut fs = self.session.sftp().fs();
        let removed = self.session.block_on(fs.remove_file(&path));
        self.left.note(&path, removed);
    }
}

/// A small file to write whole: its bytes, read already, and its metadata.
pub(crate) struct Small {
    pub dir: PathBuf,
    pub name: OsString,
    pub data: Vec<u8>,
    pub meta: SrcMeta,
    /// Replace what is at `name` (the conflict policy said so).
    pub replace: bool,
}

/// How writing one [`Small`] ended.
pub(crate) enum Put {
    Done,
    /// Something took the name since it was looked at: kept.
    Taken,
    /// Its temporary name was taken (another run's): to be written the
    /// slow way, which picks another.
    TempTaken,
    Failed(Op, io::Error),
}

/// One small file: created under `temp`, written, given its mode and
/// times, flushed with `fsync`, closed, then named; the temporary removed
/// on any failure.
async fn put_one(
    session: &Session,
    f: Small,
    temp: OsString,
    how: (bool, bool, Naming),
    left: &Left,
) -> Put {
    let (owner, fsync, naming) = how;
    let Ok(_turn) = session.files.acquire().await else {
        return Put::Failed(Op::Write, errors::lost("the connection closed"));
    };
    let sftp = session.sftp();
    let (tpath, path) = (f.dir.join(&temp), f.dir.join(&f.name));
    let opened = sftp
        .options()
        .write(true)
        .create_new(true)
        .open(&tpath)
        .await;
    let file = match opened {
        Ok(file) => file,
        Err(e) => {
            let e = errors::to_io(e);
            let taken = e.raw_os_error().is_none()
                && !errors::is_lost(&e)
                && sftp.fs().symlink_metadata(&tpath).await.is_ok();
            return if taken {
                Put::TempTaken
            } else {
                Put::Failed(Op::Create, e)
            };
        }
    };
    // Three round trips a file: the open; the bytes (sent without waiting
    // for their answer) with the attributes, both answered before anything
    // else (the server answers in order); then the name, the close and the
    // temporary's removal together.
    let handle = file.clone();
    let written: Result<(), (Op, io::Error)> = async {
        // The bytes go as they are (no copy into the request), on a clone of
        // the handle, with the attributes behind them.
        let (mut data_f, mut meta_f) = (file.clone(), file);
        let mut data = [bytes::Bytes::from(f.data)];
        let attrs = async {
            for attrs in attrs_of(&f.meta, owner) {
                meta_f.set_metadata(attrs).await?;
            }
            Ok::<_, openssh_sftp_client::Error>(())
        };
        let (wrote, set) = both(data_f.write_all_zero_copy(&mut data), attrs).await;
        wrote.map_err(|e| (Op::Write, errors::to_io(e)))?;
        set.map_err(|e| (Op::SetMetadata, errors::to_io(e)))?;
        if fsync {
            let synced = meta_f.sync_all().await;
            synced.map_err(|e| (Op::Flush, errors::to_io(e)))?;
        }
        Ok(())
    }
    .await;
    let mut fs = sftp.fs();
    if let Err((op, e)) = written {
        let (_, removed) = both(handle.close(), fs.remove_file(&tpath)).await;
        left.note(&tpath, removed);
        return Put::Failed(op, e);
    }
    let (named, closed) = match (f.replace, naming) {
        (true, _) => {
            let (named, closed) = both(fs.rename(&tpath, &path), handle.close()).await;
            (named.map_err(errors::to_io), closed)
        }
        (false, Naming::Link) => {
            // Removing the temporary goes with them: after the link it is
            // the copy's second name; after a refusal, left over.
            let mut rm = sftp.fs();
            let (named, (closed, removed)) = both(
                fs.hard_link(&tpath, &path),
                both(handle.close(), rm.remove_file(&tpath)),
            )
            .await;
            left.note(&tpath, removed);
            (named.map_err(errors::to_io), closed)
        }
        (false, naming) => {
            let named = name_new(session, naming, (&tpath, &path), left);
            both(named, handle.close()).await
        }
    };
    match (named, closed) {
        (Ok(()), Ok(())) => Put::Done,
        // Named, but the server could not close it: what it holds is not
        // known good, so it goes.
        (Ok(()), Err(e)) => {
            let _ = fs.remove_file(&path).await;
            Put::Failed(Op::Write, errors::to_io(e))
        }
        (Err(e), _) => {
            let taken = !f.replace
                && (e.raw_os_error() == Some(Errno::EXIST.raw_os_error())
                    || (e.raw_os_error().is_none()
                        && !errors::is_lost(&e)
                        && fs.symlink_metadata(&path).await.is_ok()));
            if f.replace || naming != Naming::Link {
                left.note(&tpath, fs.remove_file(&tpath).await);
            }
            if taken {
                Put::Taken
            } else {
                Put::Failed(Op::Rename, e)
            }
        }
    }
}

/// Gives the complete temporary `from` the name `to` where nothing has it,
/// the way `naming` says; EEXIST (the temporary left) where it is taken.
async fn name_new(
    session: &Session,
    naming: Naming,
    (from, to): (&Path, &Path),
    left: &Left,
) -> io::Result<()> {
    let mut fs = session.sftp().fs();
    match naming {
        Naming::Link => {
            fs.hard_link(from, to).await.map_err(errors::to_io)?;
            // The copy has its name; a temporary the server keeps beside it
            // is said at the end, and swept by the next run.
            left.note(from, fs.remove_file(from).await);
            Ok(())
        }
        // The client sends a plain RENAME where the server has no
        // posix-rename: it fails where the name is taken.
        Naming::Rename => fs.rename(from, to).await.map_err(errors::to_io),
        Naming::LookThenRename => match fs.symlink_metadata(to).await {
            Ok(_) => Err(Errno::EXIST.into()),
            Err(_) => fs.rename(from, to).await.map_err(errors::to_io),
        },
    }
}

/// Both futures to their ends, polled together (their requests go out
/// together).
async fn both<A: Future, B: Future>(a: A, b: B) -> (A::Output, B::Output) {
    let (mut a, mut b) = (std::pin::pin!(a), std::pin::pin!(b));
    let (mut ra, mut rb) = (None, None);
    std::future::poll_fn(|cx| {
        if ra.is_none()
            && let std::task::Poll::Ready(x) = a.as_mut().poll(cx)
        {
            ra = Some(x);
        }
        if rb.is_none()
            && let std::task::Poll::Ready(x) = b.as_mut().poll(cx)
        {
            rb = Some(x);
        }
        match (ra.take(), rb.take()) {
            (Some(x), Some(y)) => std::task::Poll::Ready((x, y)),
            (x, y) => {
                ra = x;
                rb = y;
                std::task::Poll::Pending
            }
        }
    })
    .await
}

/// A future that says when it was first polled.
struct FirstPoll<F> {
    inner: std::pin::Pin<Box<F>>,
    sent: Option<std::sync::mpsc::SyncSender<()>>,
}

impl<F: Future<Output = ()>> Future for FirstPoll<F> {
    type Output = ();

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        let r = self.inner.as_mut().poll(cx);
        if let Some(sent) = self.sent.take() {
            let _ = sent.send(());
        }
        r
    }
}

/// Makes `path` and the folders above it that are missing.
fn make_all(session: &Session, path: &Path) -> io::Result<()> {
    let sftp = session.sftp();
    let mut at = PathBuf::new();
    let prefixes: Vec<PathBuf> = path
        .components()
        .map(|c| {
            at.push(c);
            at.clone()
        })
        .collect();
    // Every prefix looked at at once (one round trip, not one each), then
    // the missing ones made in order.
    let looks = prefixes.iter().map(|p| {
        let (session, p) = (session.sftp().fs(), p.clone());
        async move {
            let mut fs = session;
            fs.symlink_metadata(&p).await.map_err(errors::to_io)
        }
    });
    let found = session.all(looks);
    for (p, found) in prefixes.iter().zip(found) {
        match found.unwrap_or_else(|| Err(io::Error::other("the request's task failed"))) {
            Ok(_) => continue,
            Err(e) if e.raw_os_error() == Some(Errno::NOENT.raw_os_error()) => {}
            Err(e) => return Err(session.lost_why(e)),
        }
        let mut fs = sftp.fs();
        session.run(fs.create_dir(p))?;
    }
    Ok(())
}

impl Dest for SftpDest {
    type OpenDir = PathBuf;
    type Dir<'a> = &'a Path;

    fn dir(open: &PathBuf) -> &Path {
        open
    }

    fn display(&self, rel: &Path) -> PathBuf {
        let at = if rel.as_os_str().is_empty() {
            self.root.clone()
        } else {
            self.root.join(rel)
        };
        let mut s = OsString::from(format!("{}:", self.session.host));
        s.push(at.as_os_str());
        PathBuf::from(s)
    }

    fn name_error(&self, path: PathBuf, _name: &OsStr, op: Op, e: io::Error) -> CopyError {
        CopyError::new(path, op, e)
    }

    /// The folder was looked at when it was made or entered (by the walk),
    /// so its path is trusted from there.
    fn open_node(&self, node: &DirNode) -> io::Result<Self::OpenDir> {
        let path = self.root.join(&*node.rel);
        self.made.ready(&path)?;
        Ok(path)
    }

    fn open_child_node(&self, parent: Self::Dir<'_>, node: &DirNode) -> io::Result<Self::OpenDir> {
        Ok(parent.join(node.rel.file_name().unwrap_or_default()))
    }

    fn open_child_dir(&self, dir: Self::Dir<'_>, name: &OsStr) -> io::Result<Self::OpenDir> {
        let path = dir.join(name);
        match self.stat_child(dir, name)? {
            Some(m) if m.is_dir() => Ok(path),
            Some(_) => Err(Errno::NOTDIR.into()),
            None => Err(Errno::NOENT.into()),
        }
    }

    fn stat_at(&self, dir: Self::Dir<'_>, name: &OsStr) -> io::Result<Option<SrcMeta>> {
        let mut fs = self.session.sftp().fs();
        match self.session.run(fs.symlink_metadata(dir.join(name))) {
            Ok(m) => Ok(Some(meta_of(&m))),
            Err(e) if e.raw_os_error() == Some(Errno::NOENT.raw_os_error()) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn dir_meta(&self, dir: Self::Dir<'_>) -> io::Result<SrcMeta> {
        let mut fs = self.session.sftp().fs();
        self.session
            .run(fs.symlink_metadata(dir))
            .map(|m| meta_of(&m))
    }

    fn set_owner_at(&self, dir: Self::Dir<'_>, name: &OsStr, meta: &SrcMeta) -> io::Result<()> {
        let mut fs = self.session.sftp().fs();
        self.session
            .run(fs.set_metadata(dir.join(name), owner_of(meta)))
    }

    fn set_mode_at(&self, dir: Self::Dir<'_>, name: &OsStr, meta: &SrcMeta) -> io::Result<()> {
        let mut b = MetaDataBuilder::new();
        b.permissions(Permissions::from((meta.mode & 0o7777) as u16));
        let mut fs = self.session.sftp().fs();
        self.session
            .run(fs.set_metadata(dir.join(name), b.create()))
    }

    /// SETSTAT follows a symlink: the copy never asks it of one here (a
    /// symlink's own times are said not kept over SFTP).
    fn set_times_at(&self, dir: Self::Dir<'_>, name: &OsStr, meta: &SrcMeta) -> io::Result<()> {
        let mut b = MetaDataBuilder::new();
        b.time(stamp(meta.atime), stamp(meta.mtime));
        let mut fs = self.session.sftp().fs();
        self.session
            .run(fs.set_metadata(dir.join(name), b.create()))
    }

    fn set_mode(&self, dir: Self::Dir<'_>, mode: u32) -> io::Result<()> {
        let mut b = MetaDataBuilder::new();
        b.permissions(Permissions::from((mode & 0o7777) as u16));
        let mut fs = self.session.sftp().fs();
        self.session.run(fs.set_metadata(dir, b.create()))
    }

    fn read_link_at(&self, dir: Self::Dir<'_>, name: &OsStr) -> Result<Vec<u8>, Errno> {
        use std::os::unix::ffi::OsStringExt;
        let mut fs = self.session.sftp().fs();
        self.session
            .run(fs.read_link(dir.join(name)))
            .map(|t| t.into_os_string().into_vec())
            .map_err(|e| errno(&e))
    }

    fn symlink_at(&self, dir: Self::Dir<'_>, target: &Path, name: &OsStr) -> Result<(), Errno> {
        let path = dir.join(name);
        let mut fs = self.session.sftp().fs();
        self.session
            .run(fs.symlink(target, &path))
            .map_err(|e| errno(&self.refused(e, &path)))
    }

    fn link_at(
        &self,
        (tdir, tname): (Self::Dir<'_>, &OsStr),
        (ldir, lname): (Self::Dir<'_>, &OsStr),
    ) -> Result<(), Errno> {
        let link = ldir.join(lname);
        let mut fs = self.session.sftp().fs();
        self.session
            .run(fs.hard_link(tdir.join(tname), &link))
            .map_err(|e| errno(&self.refused(e, &link)))
    }

    fn remove_at(&self, dir: Self::Dir<'_>, name: &OsStr) -> Result<(), Errno> {
        let mut fs = self.session.sftp().fs();
        self.session
            .run(fs.remove_file(dir.join(name)))
            .map_err(|e| errno(&e))
    }

    /// Sent, not waited for (see `pending`): its answer comes to the first
    /// worker that writes into it.
    fn make_dir_at(&self, dir: Self::Dir<'_>, name: &OsStr) -> io::Result<()> {
        let path = dir.join(name);
        let waiting = self.made.sent(path.clone());
        let session = Arc::clone(&self.session);
        let made = async move {
            let mut fs = session.sftp().fs();
            let mut b = fs.dir_builder();
            b.permissions(Permissions::from(0o700));
            let r = b.create(&path).await.map_err(errors::to_io);
            let r = match r {
                Err(e) if e.raw_os_error().is_none() && !errors::is_lost(&e) => {
                    match fs.symlink_metadata(&path).await {
                        Ok(_) => Err(Errno::EXIST.into()),
                        Err(_) => Err(e),
                    }
                }
                r => r,
            };
            waiting.answer(r.map_err(|e| session.lost_why(e)));
        };
        // Once first polled, the request is in the connection's queue:
        // only then does the walk go on, so it goes before any file sent
        // into the folder.
        let (sent, queued) = std::sync::mpsc::sync_channel(1);
        self.session.spawn(FirstPoll {
            inner: Box::pin(made),
            sent: Some(sent),
        });
        let _ = queued.recv();
        Ok(())
    }

    /// Files only: this run makes no staged folders over SFTP, and a
    /// folder another kind of run left is reported, not walked into.
    fn sweep_temps(&self, dir: &Path, rel: &Path) -> (Vec<CopyError>, bool) {
        use crate::engine::write::{resume, sweep, temp_name};
        let at = self.display(rel);
        let listing = match self.list(dir) {
            Ok(l) => l,
            Err(e) => return (vec![CopyError::new(at, Op::ReadDir, e)], false),
        };
        let (mut failed, mut partials) = (Vec::new(), false);
        let mut gone = Vec::new();
        let now = std::time::SystemTime::now();
        for (name, meta) in listing.iter() {
            partials |= resume::is_partial(name);
            let Some(owner) = temp_name::owner(name) else {
                continue;
            };
            let untouched = || {
                let changed = UNIX_EPOCH + Duration::from_secs(meta.mtime.0.max(0) as u64);
                now.duration_since(changed)
                    .is_ok_and(|age| age > sweep::LEASE)
            };
            if !sweep::is_dead(owner, self.temps.pid(), untouched) {
                continue;
            }
            match self.remove_at(dir, name) {
                Ok(()) => gone.push(name.clone()),
                Err(e) => failed.push(CopyError::new(at.join(name), Op::RemoveTemp, e.into())),
            }
        }
        let listing = match gone.is_empty() {
            true => listing,
            false => {
                let mut l = (*listing).clone();
                for name in &gone {
                    l.remove(name);
                }
                Arc::new(l)
            }
        };
        self.list_ahead(dir, &listing);
        self.listings.remember(dir, listing);
        (failed, partials)
    }

    fn stat_child(&self, dir: &Path, name: &OsStr) -> io::Result<Option<SrcMeta>> {
        match self.listings.known(dir) {
            Some(l) => Ok(l.get(name).copied()),
            None => self.stat_at(dir, name),
        }
    }

    fn relate_named(
        &self,
        (src_dir, src_name): (std::os::fd::BorrowedFd<'_>, &OsStr),
        (dir, name): (Self::Dir<'_>, &OsStr),
    ) -> io::Result<Relation> {
        use rustix::fs::{Mode, OFlags};
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let src = rustix::fs::openat(src_dir, src_name, flags, Mode::empty())?;
        let sftp = self.session.sftp();
        let mut file = self.session.run(sftp.open(dir.join(name)))?;
        let related = relate_to(std::os::fd::AsFd::as_fd(&src), |buf| {
            let mut n = 0;
            while n < buf.len() {
                let want = (buf.len() - n) as u32;
                let got = self
                    .session
                    .run(file.read(want, bytes::BytesMut::with_capacity(want as usize)))?;
                match got {
                    Some(b) if !b.is_empty() => {
                        buf[n..n + b.len()].copy_from_slice(&b);
                        n += b.len();
                    }
                    _ => break,
                }
            }
            Ok(n)
        });
        let _ = self.session.run(file.close());
        related
    }

    fn take_away(&self, dir: Self::Dir<'_>, name: &OsStr) -> io::Result<TakenAway> {
        let why = match self.remove_at(dir, name) {
            Ok(()) | Err(Errno::NOENT) => return Ok(TakenAway::Removed),
            Err(e) => io::Error::from(e),
        };
        let aside = self.temps.next();
        let mut fs = self.session.sftp().fs();
        match self
            .session
            .run(fs.hard_link(dir.join(name), dir.join(&aside)))
        {
            Ok(()) => {
                let _ = self.remove_at(dir, name);
                Ok(TakenAway::SetAside { name: aside, why })
            }
            Err(_) => Err(why),
        }
    }
}
