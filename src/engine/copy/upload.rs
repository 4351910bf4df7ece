//! Files and symlinks to a folder on another machine over SFTP: the same rules
//! as the local copy's (`files`): the conflict check, a file written complete
//! under a temporary name with its mode and times, only then given its own
//! name, never replacing what the policy keeps; a source that changed while
//! it was read is read again. What SFTP cannot hold (special files) is
//! skipped and said once.

use std::ffi::OsStr;
use std::os::fd::AsFd;
use std::path::Path;
use std::sync::Arc;

use super::copier::{Copier, Done, Verdict, as_it_stands, each_piece};
use super::job::Batch;
use crate::engine::data::bytes::CopyFail;
use crate::engine::data::bytes::SMALL_FILE;
use crate::engine::meta::attrs::SrcMeta;
use crate::engine::meta::kept::{What, Why};
use crate::engine::os::sys;
use crate::engine::plan::item::{Item, ItemKind};
use crate::engine::plan::node::DirNode;
use crate::engine::read::Source;
use crate::engine::read::source::SourceRoot;
use crate::engine::sftp::dest::{Put, SftpDest, Small};
use crate::engine::write::Dest;
use crate::engine::write::resume;
use crate::error::Op;
use crate::event::{Digest, Outcome, SkipReason};

type Uploader<'a> = Copier<'a, SourceRoot, SftpDest>;

pub(crate) fn batch(c: &mut Uploader<'_>, b: Batch) {
    let Ok(dir) = c.open_batch_dir(&b.dir, &b.items) else {
        return;
    };
    let dir_path = dir.as_deref();
    // What the folder holds, from one listing: a request per name would
    // cost a round trip per file. A folder this run made holds nothing.
    let listing = match dir_path.filter(|_| !b.dir.fresh) {
        Some(d) => Some(c.sh.root().list(d)),
        None => None,
    };
    let found = |name: &OsStr| match &listing {
        None => Ok(None),
        Some(Ok(l)) => Ok(l.get(name).copied()),
        Some(Err(e)) => Err(crate::error::clone_io(e)),
    };
    // Small files to write all at once, once the batch has been looked at.
    let mut small: Vec<(&Item, Small)> = Vec::new();
    // Under --verify, each small file's digest, as it was read.
    let mut digests: Vec<Option<Digest>> = Vec::new();
    for item in &b.items {
        if c.sh.control.checkpoint().is_err() {
            return;
        }
        let done = match item.kind {
            ItemKind::File => {
                match c.check_found(dir_path, &b.dir, item, found(&item.name), |_, _| false) {
                    Verdict::Write { replace } => match dir_path.filter(|_| !c.sh.dry_run) {
                        Some(d) if item.meta.size <= SMALL_FILE => {
                            match read_small(c, d, &b.dir, item, replace) {
                                // `--bwlimit` paces the reading: the bytes
                                // leave with the batch.
                                Ok(s) => match c.sh.control.throttle(s.data.len() as u64) {
                                    Ok(()) => {
                                        let digest =
                                            c.sh.verify.then(|| *blake3::hash(&s.data).as_bytes());
                                        digests.push(digest);
                                        small.push((item, s));
                                        None
                                    }
                                    Err(_) => return,
                                },
                                Err(done) => Some(done),
                            }
                        }
                        _ => Some(file(c, dir_path, &b.dir, item, replace)),
                    },
                    Verdict::Done(done) => Some(done),
                    Verdict::Parked => None,
                }
            }
            ItemKind::Symlink => symlink(c, dir_path, &b.dir, item, found(&item.name)),
            ItemKind::Special => {
                c.sh.kept.add(What::SpecialFiles, Why::Unsupported);
                Some((Outcome::Skipped(SkipReason::NotHeld("special file")), 0))
            }
        };
        // None: written below, or parked for a person to decide.
        if let Some(done) = done {
            report(c, &b.dir, item, done);
        }
    }
    if small.is_empty() || c.sh.control.is_cancelled() {
        return;
    }
    let (items, files): (Vec<&Item>, Vec<Small>) = small.into_iter().unzip();
    let replaces: Vec<bool> = files.iter().map(|f| f.replace).collect();
    let sh = c.sh;
    let puts = sh.root().put_many(files, sh.meta.owner, sh.fsync);
    // Copies to read back (`--verify`), all at once once the batch is in.
    let mut held: Vec<(&Item, Digest)> = Vec::new();
    for (((item, put), replace), digest) in items.into_iter().zip(puts).zip(replaces).zip(digests) {
        let done = match put {
            Put::Done => (Outcome::Copied, 0),
            Put::Taken => (Outcome::Skipped(SkipReason::Conflict), 0),
            // Another run's name: the one-at-a-time way picks another.
            Put::TempTaken => file(c, dir_path, &b.dir, item, replace),
            Put::Failed(op, e) => {
                let e = match dir_path {
                    Some(d) => sh.root().explain(e, d),
                    None => e,
                };
                c.fail(&b.dir, item, op, e, true)
            }
        };
        // A file written the one-at-a-time way holds its own digest.
        match (&done.0, digest) {
            (Outcome::Copied, Some(d)) if c.written.is_none() => held.push((item, d)),
            _ => report(c, &b.dir, item, done),
        }
    }
    if let (Some(dir), false) = (dir_path, held.is_empty()) {
        read_back_batch(c, dir, &b.dir, held);
    }
}

/// Reports an entry; a failure that means the destination takes nothing
/// more (the connection lost, the disk full) stops the run. A file copied
/// under `--verify` is read back first (see [`read_back`]).
pub(crate) fn report(c: &mut Uploader<'_>, dir: &Arc<DirNode>, item: &Item, done: Done) {
    let (done, digest) = match (done, c.written.take()) {
        ((Outcome::Copied, p), Some((digest, _))) => {
            let path = c.sh.root().open_node(dir);
            let back = path.and_then(|d| c.sh.root().hash_back(&d, &item.name, item.meta.size));
            read_back(c, dir, item, (back, digest), p)
        }
        (done, _) => (done, None),
    };
    if let (Outcome::Failed(e), _) = &done {
        c.stop_if_fatal(e);
    }
    c.send_entry(dir, item, done, digest);
}

/// Reads back the small files of one batch all at once and reports them.
fn read_back_batch(
    c: &mut Uploader<'_>,
    dir: &Path,
    node: &Arc<DirNode>,
    held: Vec<(&Item, Digest)>,
) {
    let wanted = held
        .iter()
        .map(|(i, _)| (i.name.clone(), i.meta.size))
        .collect();
    let backs = c.sh.root().hash_back_many(dir, wanted);
    for ((item, digest), back) in held.into_iter().zip(backs) {
        let (done, digest) = read_back(c, node, item, (back, digest), 0);
        if let (Outcome::Failed(e), _) = &done {
            c.stop_if_fatal(e);
        }
        c.send_entry(node, item, done, digest);
    }
}

/// What reading a copy back said: its digest where it reads back as it was
/// sent; a copy that reads back differently is this run's own and known
/// bad, so it is removed and reported, for the next run to copy again.
fn read_back(
    c: &Uploader<'_>,
    node: &Arc<DirNode>,
    item: &Item,
    (back, sent): (std::io::Result<Digest>, Digest),
    progressed: u64,
) -> (Done, Option<Digest>) {
    let why = match back {
        Ok(d) if d == sent => return ((Outcome::Copied, progressed), Some(sent)),
        Ok(_) => {
            let root = c.sh.root();
            let removed = root
                .open_node(node)
                .and_then(|d| root.remove_at(&d, &item.name).map_err(Into::into));
            std::io::Error::other(match removed {
                Ok(()) => "the destination reads back differently (the copy was removed)".into(),
                Err(e) => format!(
                    "the destination reads back differently (the copy could not be removed: {e})"
                ),
            })
        }
        Err(e) => std::io::Error::other(format!("cannot read it back ({e})")),
    };
    let failed = c.fail(node, item, Op::Verify, why, true).0;
    ((failed, progressed), None)
}

/// The bytes of a small file, read whole, with the metadata they were read
/// under (a file that changed while read is left to the one-at-a-time way,
/// which reads it again).
fn read_small(
    c: &mut Uploader<'_>,
    dir: &Path,
    node: &Arc<DirNode>,
    item: &Item,
    replace: bool,
) -> Result<Small, Done> {
    let (data, meta) = match c.read_whole(node, item) {
        Ok(x) => x,
        Err(Some(failed)) => return Err(failed),
        Err(None) => return Err(file(c, Some(dir), node, item, replace)),
    };
    Ok(Small {
        dir: dir.to_path_buf(),
        name: item.name.clone(),
        data,
        meta,
        replace,
    })
}

/// A file written on its own: a big one, with its progress on the lane,
/// or one that could not go with the batch. Read again while it changes.
pub(crate) fn file(
    c: &mut Uploader<'_>,
    dir: Option<&Path>,
    node: &Arc<DirNode>,
    item: &Item,
    replace: bool,
) -> Done {
    as_it_stands(|| send_file(c, dir, node, item, replace))
}

/// The temporary a file is written into: removed unless it took its name.
struct Temp<'a> {
    root: &'a SftpDest,
    dir: &'a Path,
    name: std::ffi::OsString,
    placed: bool,
}

impl Drop for Temp<'_> {
    fn drop(&mut self) {
        if !self.placed {
            self.root.discard(self.dir, &self.name);
        }
    }
}

fn send_file(
    c: &mut Uploader<'_>,
    dir: Option<&Path>,
    node: &Arc<DirNode>,
    item: &Item,
    replace: bool,
) -> Done {
    let Some(dir) = dir.filter(|_| !c.sh.dry_run) else {
        return (Outcome::Copied, 0);
    };
    let opened = c.source_dir(node).and_then(|d| {
        c.sh.source
            .open_file(d.as_fd(), item.source_name(), &item.meta, false)
    });
    let (src, meta, _) = match opened {
        Ok(x) => x,
        Err(e) => return c.fail(node, item, Op::Open, e, false),
    };
    let sh = c.sh;
    let root = sh.root();
    // A big file goes into a partial that outlives a cancel or a kill, and
    // continues one an earlier run left (see `write::resume`).
    let resumable = resume::resumable(&meta);
    let opened = match resumable {
        true => partial(c, dir, node, item, (src.as_fd(), &meta)),
        false => root.create_temp(dir).map(|(name, out)| (name, out, 0)),
    };
    let (name, out, start) = match opened {
        Ok(x) => x,
        Err(e) => return c.fail(node, item, Op::Create, root.explain(e, dir), true),
    };
    let mut temp = Temp {
        root,
        dir,
        name,
        placed: false,
    };
    let lane = c.lane_for(node, item, meta.size);
    let mut progressed = 0;
    let step = each_piece(sh, lane, &mut progressed);
    let mut hash = sh.verify.then(blake3::Hasher::new);
    // What is kept of the partial is read back with the rest: here it is
    // only hashed, from the source.
    if let (Some(h), true) = (hash.as_mut(), start > 0)
        && let Err(e) = hash_prefix(src.as_fd(), start, h, &mut c.buf)
    {
        return c.fail(node, item, Op::Read, e, false);
    }
    let path = dir.join(&temp.name);
    let sent = root.send(
        (&out, &path),
        src.as_fd(),
        (start, meta.size),
        hash.as_mut(),
        step,
    );
    match sent {
        Ok(_) => {}
        Err(CopyFail::Cancelled) => {
            // What was sent is kept for the next run to continue, and said.
            if resumable {
                temp.placed = true;
                let written = start + progressed;
                let kept = crate::event::KeptPartial {
                    path: root.display(&node.rel.join(&item.name)),
                    partial: root.display(&node.rel.join(&temp.name)),
                    written,
                    of: meta.size,
                };
                sh.send(crate::event::Event::Notice(
                    crate::event::Notice::KeptForResume(kept),
                ));
            }
            return (Outcome::Cancelled, progressed);
        }
        Err(CopyFail::Skipped) => return (Outcome::Skipped(SkipReason::ByUser), progressed),
        Err(CopyFail::Read(e)) => return (c.fail(node, item, Op::Read, e, false).0, progressed),
        Err(CopyFail::Write(e) | CopyFail::Clone(e)) => {
            let e = root.explain(e, dir);
            return (c.fail(node, item, Op::Write, e, true).0, progressed);
        }
    }
    // What was sent must be the file as it stood through the read.
    match sys::fstat(src.as_fd()) {
        Ok(now) if meta.changed_since(&SrcMeta::from(&now)) => {
            return c.changing(node, item, progressed);
        }
        Ok(_) => {}
        Err(e) => return (c.fail(node, item, Op::Stat, e.into(), false).0, progressed),
    }
    if let Err(e) = root.seal(out, &meta, sh.meta.owner, sh.fsync) {
        let op = if sh.fsync { Op::Flush } else { Op::SetMetadata };
        let e = root.explain(e, dir);
        return (c.fail(node, item, op, e, true).0, progressed);
    }
    let put = root.commit(dir, &temp.name, &item.name, replace);
    temp.placed = put.is_ok();
    let outcome = c.placed(put, node, item);
    if let (Outcome::Copied, Some(h)) = (&outcome, hash) {
        c.written = Some((*h.finalize().as_bytes(), meta));
    }
    (outcome, progressed)
}

/// The partial a big file is written into, and where writing continues:
/// past what an earlier run left of it that reads as the source, or at 0.
fn partial(
    c: &Uploader<'_>,
    dir: &Path,
    node: &DirNode,
    item: &Item,
    (src, meta): (std::os::fd::BorrowedFd<'_>, &SrcMeta),
) -> std::io::Result<(std::ffi::OsString, openssh_sftp_client::file::File, u64)> {
    let root = c.sh.root();
    let name = resume::partial_name(&item.name, meta);
    let (out, found) = root.open_partial(dir, &name)?;
    let start = match found {
        0 => 0,
        found => root.resume_at(&out, src, found, meta.size)?,
    };
    if start > 0 {
        c.sh.send(crate::event::Event::Notice(crate::event::Notice::Resumed {
            path: root.display(&node.rel.join(&item.name)),
            at: start,
            of: meta.size,
        }));
    }
    Ok((name, out, start))
}

/// Hashes the first `len` bytes of `src` into `h`.
fn hash_prefix(
    src: std::os::fd::BorrowedFd<'_>,
    len: u64,
    h: &mut blake3::Hasher,
    buf: &mut Vec<u8>,
) -> std::io::Result<()> {
    buf.resize(buf.len().max(1024 * 1024), 0);
    let mut at = 0;
    while at < len {
        let want = (len - at).min(buf.len() as u64) as usize;
        match rustix::io::pread(src, &mut buf[..want], at)? {
            0 => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            n => {
                h.update(&buf[..n]);
                at += n as u64;
            }
        }
    }
    Ok(())
}

fn symlink(
    c: &mut Uploader<'_>,
    dir: Option<&Path>,
    node: &Arc<DirNode>,
    item: &Item,
    found: std::io::Result<Option<SrcMeta>>,
) -> Option<Done> {
    let target = match c
        .source_dir(node)
        .and_then(|d| c.sh.source.read_link(d.as_fd(), item.source_name()))
    {
        Ok(t) => t,
        Err(e) => return Some(c.fail(node, item, Op::ReadLink, e, false)),
    };
    // A symlink's own times cannot be set over SFTP (SETSTAT follows it):
    // the same target is up to date.
    let want = target.as_os_str().as_encoded_bytes().to_vec();
    let root = c.sh.root();
    let same_link = |d: &Path, m: &SrcMeta| {
        m.file_type() == rustix::fs::FileType::Symlink
            && root.read_link_at(d, &item.name).is_ok_and(|t| t == want)
    };
    let replace = match c.check_found(dir, node, item, found, same_link) {
        Verdict::Write { replace } => replace,
        Verdict::Done(done) => return Some(done),
        Verdict::Parked => return None,
    };
    let Some(dir) = dir.filter(|_| !c.sh.dry_run) else {
        return Some((Outcome::Copied, 0));
    };
    c.sh.kept.add(What::SymlinkTimes, Why::Unsupported);
    Some(place_symlink(c, dir, node, item, &target, replace))
}

/// An entry whose fate a person decided (`--on-conflict ask`): written,
/// over what is there if `replace`.
pub(crate) fn copy_decided(
    c: &mut Uploader<'_>,
    dir: &Path,
    node: &Arc<DirNode>,
    item: &Item,
    replace: bool,
) -> Done {
    match item.kind {
        ItemKind::File => file(c, Some(dir), node, item, replace),
        ItemKind::Symlink => {
            let target = c
                .source_dir(node)
                .and_then(|d| c.sh.source.read_link(d.as_fd(), item.source_name()));
            match target {
                Ok(t) => place_symlink(c, dir, node, item, &t, replace),
                Err(e) => c.fail(node, item, Op::ReadLink, e, false),
            }
        }
        ItemKind::Special => (Outcome::Skipped(SkipReason::NotHeld("special file")), 0),
    }
}

/// Makes the symlink under a temporary name, then gives it its own: a name
/// never shows a half-made entry, nor replaces what the policy keeps.
fn place_symlink(
    c: &Uploader<'_>,
    dir: &Path,
    node: &Arc<DirNode>,
    item: &Item,
    target: &Path,
    replace: bool,
) -> Done {
    let root = c.sh.root();
    if !replace {
        return match root.symlink_at(dir, target, &item.name) {
            Ok(()) => (Outcome::Copied, 0),
            Err(rustix::io::Errno::EXIST) => (Outcome::Skipped(SkipReason::Conflict), 0),
            Err(e) => c.fail(node, item, Op::Symlink, e.into(), true),
        };
    }
    let name = root.temps.next();
    if let Err(e) = root.symlink_at(dir, target, &name) {
        return c.fail(node, item, Op::Symlink, e.into(), true);
    }
    let mut temp = Temp {
        root,
        dir,
        name,
        placed: false,
    };
    let put = root.commit(dir, &temp.name, &item.name, true);
    temp.placed = put.is_ok();
    (c.placed(put, node, item), 0)
}
