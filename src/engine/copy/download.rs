//! Files and symlinks from a folder on another machine over SFTP, into a local
//! folder: the same rules as the local copy's (`files`): the conflict check, a
//! file written complete (nameless or under a temporary name) with its mode,
//! owner and times, only then given its own name, never replacing what the
//! policy keeps; a source that changed while it was read is read again. A
//! batch's small files are read all at once; a big one with many reads in
//! flight. What SFTP cannot show is said: a device node's numbers (it is
//! not made), hard links (each name comes as a file of its own).

use std::os::fd::{AsFd, BorrowedFd};
use std::sync::Arc;

use super::copier::{Copier, Done, Verdict, as_it_stands, each_piece};
use super::job::Batch;
use crate::engine::data::bytes::{CopyFail, SMALL_FILE};
use crate::engine::meta::attrs::{SrcMeta, special_kind};
use crate::engine::plan::item::{Item, ItemKind};
use crate::engine::plan::node::DirNode;
use crate::engine::read::Source;
use crate::engine::sftp::source::SftpSource;
use crate::engine::write::Dest;
use crate::engine::write::dest::DestRoot;
use crate::engine::write::resume;
use crate::error::Op;
use crate::event::{Event, Fatal, Outcome, SkipReason};

type Downloader<'a> = Copier<'a, SftpSource, DestRoot>;

pub(crate) fn batch(c: &mut Downloader<'_>, b: Batch) {
    let Ok(dir_fd) = c.open_batch_dir(&b.dir, &b.items) else {
        return;
    };
    let fd = dir_fd.as_ref().map(|f| f.as_fd());
    // Small files to read all at once, once the batch has been looked at.
    let mut small: Vec<(&Item, bool)> = Vec::new();
    for item in &b.items {
        if c.sh.control.checkpoint().is_err() {
            return;
        }
        let done = match item.kind {
            ItemKind::File => match c.check_dest(fd, &b.dir, item, |_, _| false) {
                Verdict::Write { replace } => match fd.filter(|_| !c.sh.dry_run) {
                    Some(_) if item.meta.size <= SMALL_FILE => {
                        small.push((item, replace));
                        None
                    }
                    _ => Some(file(c, fd, &b.dir, item, replace, b.in_place)),
                },
                Verdict::Done(done) => Some(done),
                Verdict::Parked => None,
            },
            ItemKind::Symlink => super::files::symlink(c, fd, &b.dir, item, b.in_place),
            ItemKind::Special => special(c, fd, &b.dir, item),
        };
        // None: read below, or parked for a person to decide.
        if let Some(done) = done {
            report_in(c, &b, item, done);
        }
    }
    let Some(fd) = fd.filter(|_| !small.is_empty() && !c.sh.control.is_cancelled()) else {
        return;
    };
    let sh = c.sh;
    let src_dir = sh.source.folder(&b.dir.rel);
    let wanted = small
        .iter()
        .map(|(i, _)| (i.source_name().to_os_string(), i.meta.size))
        .collect();
    let reads = sh.source.read_many(&src_dir, wanted);
    for ((item, replace), read) in small.into_iter().zip(reads) {
        let done = match read {
            // The walk's metadata stamps what reads as long as the walk saw
            // it (as a local copy trusts the walk for small files); another
            // length is a file that changed: read again, on its own.
            Ok(data) if data.len() as u64 == item.meta.size => {
                match sh.control.throttle(item.meta.size) {
                    Ok(()) => write_small(
                        c,
                        (fd, &b.dir),
                        item,
                        (&data, &item.meta),
                        (replace, b.in_place),
                    ),
                    Err(_) => return,
                }
            }
            Ok(_) => file(c, Some(fd), &b.dir, item, replace, b.in_place),
            Err(e) => c.fail(&b.dir, item, Op::Read, e, false),
        };
        report_in(c, &b, item, done);
    }
}

/// FIFOs and sockets are made here from their metadata; a device node is
/// not: SFTP does not tell which device it is.
fn special(
    c: &mut Downloader<'_>,
    dir_fd: Option<BorrowedFd<'_>>,
    dir: &Arc<DirNode>,
    item: &Item,
) -> Option<Done> {
    let kind = special_kind(item.meta.file_type()).unwrap_or("special file");
    if super::special::is_device(kind) {
        let why = format!("a {kind}: SFTP does not tell which device it is");
        return Some(c.fail(dir, item, Op::Open, std::io::Error::other(why), false));
    }
    super::special::special(c, dir_fd, dir, item)
}

/// Reports an entry of the batch `b`: a file written in a staged folder is
/// counted there; a failure that means nothing more can be read (the
/// connection lost) or written (the disk full) stops the run.
fn report_in(c: &mut Downloader<'_>, b: &Batch, item: &Item, done: Done) {
    if let (true, Outcome::Copied, Some(stage)) = (b.in_place, &done.0, &b.dir.stage) {
        stage.wrote(item.kind == ItemKind::File, item.meta.size);
    }
    report(c, &b.dir, item, done);
}

/// Reports an entry, or (a file copied under `--verify`) holds it to be read
/// back (see `Copier::finish_entry`).
pub(crate) fn report(c: &mut Downloader<'_>, dir: &Arc<DirNode>, item: &Item, done: Done) {
    if let (Outcome::Failed(e), _) = &done {
        // Every further read would fail the same way.
        if c.sh.source.is_lost() && !c.sh.control.is_cancelled() {
            c.sh.send(Event::Fatal(Fatal::SourceLost { error: e.clone() }));
            c.sh.control.cancel();
        } else {
            c.stop_if_fatal(e);
        }
    }
    c.finish_entry(dir, item, done);
}

/// A small file read already: written whole into a new file, sealed with
/// `meta` (what it was read under) and given its name.
pub(crate) fn write_small<S: Source>(
    c: &mut Copier<'_, S, DestRoot>,
    (dir_fd, dir): (BorrowedFd<'_>, &Arc<DirNode>),
    item: &Item,
    (data, meta): (&[u8], &SrcMeta),
    (replace, in_place): (bool, bool),
) -> Done {
    let sh = c.sh;
    let in_place = in_place.then_some(item.name.as_os_str());
    let new = match sh.root().create_file(dir_fd, dir, meta.mode, in_place) {
        Ok(new) => new,
        Err(e) => return c.fail(dir, item, Op::Create, e, true),
    };
    let out = new.fd();
    if let Err(e) = crate::engine::sftp::source::write_all_at(out, data, 0) {
        return c.fail(dir, item, Op::Write, e, true);
    }
    let new_gid = c.new_file_gid(dir, dir_fd);
    if let Err(failed) = c.seal((out, out), (dir, item, meta), new_gid) {
        return (failed, 0);
    }
    let put = new.commit(&item.name, replace);
    let outcome = c.put_in_place(put, (in_place.is_none(), Some(dir_fd)), (dir, item, meta));
    if matches!(outcome, Outcome::Copied) && sh.verify {
        c.written = Some((*blake3::hash(data).as_bytes(), *meta));
    }
    (outcome, 0)
}

/// A file read on its own: a big one, with its progress on the lane, or one
/// that could not go with the batch. Read again while it changes.
fn file(
    c: &mut Downloader<'_>,
    dir_fd: Option<BorrowedFd<'_>>,
    dir: &Arc<DirNode>,
    item: &Item,
    replace: bool,
    in_place: bool,
) -> Done {
    as_it_stands(|| receive_file(c, dir_fd, dir, item, replace, in_place))
}

fn receive_file(
    c: &mut Downloader<'_>,
    dir_fd: Option<BorrowedFd<'_>>,
    dir: &Arc<DirNode>,
    item: &Item,
    replace: bool,
    in_place: bool,
) -> Done {
    let Some(dir_fd) = dir_fd.filter(|_| !c.sh.dry_run) else {
        return (Outcome::Copied, 0);
    };
    let sh = c.sh;
    let opened = c.source_dir(dir).and_then(|d| {
        let path = d.join(item.source_name());
        sh.source
            .open_file(&d, item.source_name(), &item.meta, false)
            .map(|o| (o, path))
    });
    let ((src, meta, _), path) = match opened {
        Ok(x) => x,
        Err(e) => return c.fail(dir, item, Op::Open, e, false),
    };
    let in_place = in_place.then_some(item.name.as_os_str());
    let session = &sh.source.session;
    let close = |f: openssh_sftp_client::file::File| {
        let _ = session.block_on(f.close());
    };
    // A big file goes into a partial that outlives a cancel or a kill, and
    // continues one an earlier run left (see `write::resume`); under
    // `--verify` from its start, since its hash must be of the source.
    let resumable = in_place.is_none() && resume::resumable(&meta);
    let partial = match resumable {
        true => super::files::partial(sh, (dir_fd, dir), &item.name, &meta),
        false => Ok(None),
    };
    let (new, found) = match partial {
        Ok(Some(p)) => p,
        Ok(None) => match sh.root().create_file(dir_fd, dir, meta.mode, in_place) {
            Ok(new) => (new, None),
            Err(e) => {
                close(src);
                return c.fail(dir, item, Op::Create, e, true);
            }
        },
        Err(e) => {
            close(src);
            return c.fail(dir, item, Op::Create, e, true);
        }
    };
    let out = new.fd();
    let start = match found.filter(|_| !sh.verify) {
        Some(found) => match sh.source.resume_at(&src, out, found, meta.size) {
            Ok(start) => start,
            Err(e) => {
                close(src);
                return c.fail(dir, item, Op::Write, e, true);
            }
        },
        None if found.is_some() => match rustix::fs::ftruncate(out, 0) {
            Ok(()) => 0,
            Err(e) => {
                close(src);
                return c.fail(dir, item, Op::Write, e.into(), true);
            }
        },
        None => 0,
    };
    if start > 0 {
        sh.send(Event::Notice(crate::event::Notice::Resumed {
            path: sh.root().display(&dir.rel.join(&item.name)),
            at: start,
            of: meta.size,
        }));
    }
    let lane = c.lane_for(dir, item, meta.size);
    let mut progressed = 0;
    let step = each_piece(sh, lane, &mut progressed);
    let mut hash = sh.verify.then(blake3::Hasher::new);
    let got = sh
        .source
        .receive((&src, &path), (out, start), &meta, hash.as_mut(), step);
    let got = match got {
        Ok(n) => n,
        Err(f) => {
            close(src);
            return match f {
                CopyFail::Cancelled => {
                    // What was received is kept for the next run to continue,
                    // and said, so nobody wonders where the space went.
                    if resumable {
                        let written = rustix::fs::fstat(out).map_or(0, |st| st.st_size as u64);
                        if let Some(name) = new.keep() {
                            let root = sh.root();
                            let kept = crate::event::KeptPartial {
                                path: root.display(&dir.rel.join(&item.name)),
                                partial: root.display(&dir.rel.join(name)),
                                written,
                                of: meta.size,
                            };
                            sh.send(Event::Notice(crate::event::Notice::KeptForResume(kept)));
                        }
                    }
                    (Outcome::Cancelled, progressed)
                }
                CopyFail::Skipped => (Outcome::Skipped(SkipReason::ByUser), progressed),
                CopyFail::Read(e) => (c.fail(dir, item, Op::Read, e, false).0, progressed),
                CopyFail::Write(e) | CopyFail::Clone(e) => {
                    (c.fail(dir, item, Op::Write, e, true).0, progressed)
                }
            };
        }
    };
    // What was read must be the file as it stood through the read.
    let mut f = src.clone();
    let now = session.run(f.metadata());
    close(src);
    match now.map(|m| crate::engine::sftp::attrs::meta_of(&m)) {
        Ok(now) if got != meta.size || meta.changed_since(&now) => {
            return c.changing(dir, item, progressed);
        }
        Ok(_) => {}
        Err(e) => return (c.fail(dir, item, Op::Stat, e, false).0, progressed),
    }
    let new_gid = c.new_file_gid(dir, dir_fd);
    if let Err(failed) = c.seal((out, out), (dir, item, &meta), new_gid) {
        return (failed, progressed);
    }
    let put = new.commit(&item.name, replace);
    let outcome = c.put_in_place(put, (in_place.is_none(), Some(dir_fd)), (dir, item, &meta));
    if let (Outcome::Copied, Some(h)) = (&outcome, hash) {
        c.written = Some((*h.finalize().as_bytes(), meta));
    }
    (outcome, progressed)
}

/// An entry whose fate a person decided (`--on-conflict ask`): written,
/// over what is there if `replace`.
pub(crate) fn copy_decided(
    c: &mut Downloader<'_>,
    dir: BorrowedFd<'_>,
    node: &Arc<DirNode>,
    item: &Item,
    replace: bool,
) -> Done {
    match item.kind {
        ItemKind::File => file(c, Some(dir), node, item, replace, false),
        ItemKind::Symlink => {
            super::files::copy_symlink(c, Some(dir), node, item, (replace, false), None)
        }
        ItemKind::Special => super::special::copy_special(c, Some(dir), node, item, replace),
    }
}
