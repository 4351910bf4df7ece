//! Copying files and symlinks whole, the default path: a batch of one folder's
//! entries, each checked against the destination, written complete and only
//! then given its name.

use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use rustix::fs::{FileType, Mode};
use rustix::io::Errno;

use super::copier::{Copier, Done, SHOW_PROGRESS_FROM, Verdict, as_it_stands};
use super::job::Batch;
use crate::config::Reflink;
use crate::engine::data::bytes::{self, Cache, Cloned, CopyFail, Mover, SMALL_FILE};
use crate::engine::data::direct;
use crate::engine::meta::attrs::{Attrs, SrcMeta, SymlinkMeta, regular_meta};
use crate::engine::meta::kept::{What, Why};
use crate::engine::meta::xattrs::At;
use crate::engine::os::sys;
use crate::engine::plan::item::{Item, ItemKind};
use crate::engine::plan::node::DirNode;
use crate::engine::read::{Fresh, Source};
use crate::engine::shared::Shared;
use crate::engine::trust::verify;
use crate::engine::write::Dest;
use crate::engine::write::caps;
use crate::engine::write::dest::{DestRoot, NewFile};
use crate::engine::write::resume;
use crate::error::Op;
use crate::event::{Event, KeptPartial, Notice, Outcome, SkipReason, WorkerId};

/// A file by this name makes the copier copying it panic (unit tests only).
#[cfg(test)]
pub(crate) const PANIC_NAME: &str = "panic-in-worker.test";

pub(crate) fn batch(c: &mut Copier<'_>, b: Batch) {
    let Ok(dir_fd) = c.open_batch_dir(&b.dir, &b.items) else {
        return;
    };
    // The batch's first file with data asks whether it is in memory; if not,
    // the data of the rest is asked for at once. Either way the rest is
    // copied by the kernel (a batch is one folder's, read at once: one file
    // tells of its neighbours).
    c.cache = Cache::Ask;
    // Entries whose source goes once the batch's copies are on the device.
    let mut moved: Vec<&Item> = Vec::new();
    for (i, item) in b.items.iter().enumerate() {
        if c.sh.control.checkpoint().is_err() {
            return;
        }
        if c.cache == Cache::Missed {
            read_ahead(c, &b.dir, &b.items[i..]);
            c.cache = Cache::Unasked;
        }
        let dir_fd = dir_fd.as_ref().map(|f| f.as_fd());
        let done = match item.kind {
            ItemKind::File => file(c, dir_fd, &b.dir, item, b.in_place),
            ItemKind::Symlink => symlink(c, dir_fd, &b.dir, item, b.in_place),
            ItemKind::Special => super::special::special(c, dir_fd, &b.dir, item),
        };
        // None: parked for a person to decide; reported once decided.
        if let Some(done) = done {
            if let (true, Outcome::Copied, Some(stage)) = (b.in_place, &done.0, &b.dir.stage) {
                stage.wrote(item.kind == ItemKind::File, item.meta.size);
            }
            // A multiply-linked file's names go together, at the end.
            let linked = item.kind == ItemKind::File && item.meta.nlink > 1;
            let up_to_date = matches!(done.0, Outcome::UpToDate);
            let done_with = matches!(done.0, Outcome::Copied | Outcome::UpToDate);
            // A copy held to be read back (`--verify`) lets its source go
            // from the round, once it reads back the same.
            let held = c.finish_entry(&b.dir, item, done);
            let unread = c.sh.verify && up_to_date && item.kind == ItemKind::File;
            if c.sh.moving
                && !linked
                && done_with
                && !held
                && (!unread || super::moving::same_bytes(c, dir_fd, &b.dir, item))
            {
                moved.push(item);
            }
        }
    }
    super::moving::remove_sources(c, &b.dir, &moved);
    super::moving::remove_verified(c);
}

/// Starts reading the small files of `items` from the device, all at once
/// (`WILLNEED`), for a batch found not in memory: the copy then waits for
/// one read at a time no more, and the device sees many queued (a cold
/// cache's small files otherwise come one read per worker at a time).
fn read_ahead(c: &mut Copier<'_>, dir: &DirNode, items: &[Item]) {
    let Ok(d) = c.source_dir(dir) else {
        return;
    };
    let small = |i: &&Item| i.kind == ItemKind::File && (1..=SMALL_FILE).contains(&i.meta.size);
    for item in items.iter().filter(small) {
        // What fails here fails again, and is reported, when it is copied.
        if let Ok((fd, _, _)) =
            c.sh.source
                .open_file(d.as_fd(), item.source_name(), &item.meta, true)
        {
            let _ = sys::will_need(fd.as_fd(), item.meta.size);
        }
    }
}

fn file(
    c: &mut Copier<'_>,
    dir_fd: Option<BorrowedFd<'_>>,
    dir: &Arc<DirNode>,
    item: &Item,
    in_place: bool,
) -> Option<Done> {
    let replace = match c.check_dest(dir_fd, dir, item, |_, _| false) {
        Verdict::Write { replace } => replace,
        // Its bytes are up to date; its attributes are made so too.
        Verdict::Done((Outcome::UpToDate, p)) => {
            let repaired = dir_fd.map_or(Ok(()), |fd| c.repair_attrs(fd, dir, item));
            return Some(match repaired {
                Ok(()) => (Outcome::UpToDate, p),
                Err(e) => c.fail(dir, item, Op::SetMetadata, e, true),
            });
        }
        Verdict::Done(done) => return Some(done),
        Verdict::Parked => return None,
    };
    if let Some(done) = super::moving::rename_within(c, dir_fd, dir, item, replace) {
        return Some(done);
    }
    Some(copy_file_as_it_stands(
        c, dir_fd, dir, item, replace, in_place,
    ))
}

/// [`copy_file`], again while the source changes under the copy (a log
/// being written, a download finishing): what gets the final name is the
/// file as it stood through one whole read.
pub(crate) fn copy_file_as_it_stands(
    c: &mut Copier<'_>,
    dir_fd: Option<BorrowedFd<'_>>,
    dir: &Arc<DirNode>,
    item: &Item,
    replace: bool,
    in_place: bool,
) -> Done {
    as_it_stands(|| copy_file(c, dir_fd, dir, item, replace, in_place))
}

/// Copies a regular file whose fate is decided: `replace` an existing entry or
/// not; write it `in_place` under its own name (in a staged folder) or not.
fn copy_file(
    c: &mut Copier<'_>,
    dir_fd: Option<BorrowedFd<'_>>,
    dir: &Arc<DirNode>,
    item: &Item,
    replace: bool,
    in_place: bool,
) -> Done {
    let Some(dir_fd) = dir_fd.filter(|_| !c.sh.dry_run) else {
        return (Outcome::Copied, 0);
    };
    #[cfg(test)]
    if item.name == PANIC_NAME {
        panic!("injected by a test");
    }
    // Small files trust the walk's lstat: one fstat fewer per file. A clone
    // takes the file as it is now, so its times must be of now too.
    let cloning = c.sh.cloning() && item.meta.size > 0;
    let trust_walk = item.meta.size <= SMALL_FILE && !item.meta.is_sparse() && !cloning;
    let opened = c.source_dir(dir).and_then(|d| {
        c.sh.source
            .open_file(d.as_fd(), item.source_name(), &item.meta, trust_walk)
    });
    let (src, mut meta, fresh) = match opened {
        Ok(x) => x,
        Err(e) => return c.fail(dir, item, Op::Open, e, false),
    };
    let in_place = in_place.then_some(item.name.as_os_str());
    // Under --verify the bytes are hashed as they pass (so not left to the
    // kernel); a clone passes none, so its source is read for the hash.
    let mut hash = c.sh.verify.then(blake3::Hasher::new);
    // A big file goes into a partial that outlives a cancel or a kill, and
    // continues one an earlier run left.
    let resumable = in_place.is_none() && resume::resumable(&meta);
    let partial = match resumable {
        true => partial(c.sh, (dir_fd, dir), &item.name, &meta),
        false => Ok(None),
    };
    let (new, found) = match partial {
        Ok(Some(p)) => p,
        Ok(None) => match c.sh.root().create_file(dir_fd, dir, meta.mode, in_place) {
            Ok(new) => (new, None),
            Err(e) => return c.fail(dir, item, Op::Create, e, true),
        },
        Err(e) => return c.fail(dir, item, Op::Create, e, true),
    };
    let out = new.fd();
    let cloned = match cloning {
        true => clone_data(c.sh, src.as_fd(), out.as_fd()),
        false => None,
    };
    // Not cloned: what an earlier run wrote is kept where it is right.
    let start = match (found, &cloned) {
        (Some(found), None) => {
            let at = (dir, item.name.as_os_str());
            match resume_at(c, at, (src.as_fd(), out), (found, &meta), hash.as_mut()) {
                Ok(start) => start,
                Err(e) => return c.fail(dir, item, Op::Write, e, true),
            }
        }
        _ => 0,
    };
    // Where the destination keeps no holes, zeros are written like data.
    let sparse = meta.is_sparse() && c.sh.caps.keeps.holes;
    let sh = c.sh;
    let mut mv = Mover {
        buf: &mut c.buf,
        lane: None,
        offload: sh.offload(),
        out_shared: false,
        hash: hash.as_mut(),
        cache: c.cache,
    };
    let (result, progressed) = match cloned {
        Some(Ok(())) => match mv.hash.as_deref_mut() {
            Some(h) => (hash_source(src.as_fd(), h, mv.buf), 0),
            None => (Ok(meta.size), 0),
        },
        Some(Err(f)) => (Err(f), 0),
        // Holes stay holes whatever the size (a small file can be all hole).
        None if meta.size <= SMALL_FILE && !sparse => {
            let checked = fresh == Fresh::Checked;
            let r = bytes::read_write(
                src.as_fd(),
                out.as_fd(),
                &mut mv,
                meta.size,
                checked,
                &sh.control,
            );
            // It changed since the walk: stamp what was read with its own times.
            let r = match r {
                Ok(n) if fresh == Fresh::Walked && n != meta.size => regular_meta(src.as_fd())
                    .map(|m| {
                        meta = m;
                        n
                    })
                    .map_err(CopyFail::Read),
                r => r,
            };
            (r, 0)
        }
        None => {
            let lane = c.id.filter(|_| meta.size >= SHOW_PROGRESS_FROM);
            let what = (dir, item, meta.size, lane);
            copy_large(
                sh,
                (src.as_fd(), out.as_fd()),
                what,
                (sparse, start),
                &mut mv,
            )
        }
    };
    // Hit: the rest of the batch is in memory; Missed: it is read ahead;
    // Unasked: this filesystem cannot say.
    if c.cache == Cache::Ask {
        c.cache = mv.cache;
    }
    match result {
        Ok(_) => {}
        Err(CopyFail::Cancelled) => {
            // What was written is kept for the next run to continue, and
            // said, so nobody wonders where the space went.
            if resumable {
                let written = sys::fstat(out).map_or(0, |st| st.st_size as u64);
                if let Some(name) = new.keep() {
                    let root = sh.root();
                    let kept = KeptPartial {
                        path: root.display(&dir.rel.join(&item.name)),
                        partial: root.display(&dir.rel.join(name)),
                        written,
                        of: meta.size,
                    };
                    sh.send(Event::Notice(Notice::KeptForResume(kept)));
                }
            }
            return (Outcome::Cancelled, progressed);
        }
        Err(CopyFail::Read(e)) => return (c.fail(dir, item, Op::Read, e, false).0, progressed),
        Err(CopyFail::Write(e)) => return (c.fail(dir, item, Op::Write, e, true).0, progressed),
        Err(CopyFail::Clone(e)) => return (c.fail(dir, item, Op::Clone, e, true).0, progressed),
        // Its partial goes with `new`: a skipped file is not resumed.
        Err(CopyFail::Skipped) => return (Outcome::Skipped(SkipReason::ByUser), progressed),
    }
    // What was read must be the file as it stood through the read: a file
    // that grew, shrank or was written meanwhile gets no final name.
    if fresh == Fresh::Checked {
        match sys::fstat(src.as_fd()) {
            Ok(now) if meta.changed_since(&SrcMeta::from(&now)) => {
                return c.changing(dir, item, progressed);
            }
            Ok(_) => {}
            Err(e) => return (c.fail(dir, item, Op::Stat, e.into(), false).0, progressed),
        }
    }
    let new_gid = c.new_file_gid(dir, dir_fd);
    if let Err(failed) = c.seal((src.as_fd(), out), (dir, item, &meta), new_gid) {
        return (failed, progressed);
    }
    let renamed = in_place.is_none();
    let put = new.commit(&item.name, replace);
    let outcome = c.put_in_place(put, (renamed, Some(dir_fd)), (dir, item, &meta));
    if let (Outcome::Copied, Some(h)) = (&outcome, hash) {
        c.written = Some((*h.finalize().as_bytes(), meta));
    }
    (outcome, progressed)
}

/// The partial a big file is written into (see `resume`), and how long it
/// was if an earlier run left it. `None` when another run is writing it: the
/// copy goes the ordinary way.
pub(crate) fn partial<'s, 'd, S: crate::engine::read::Source>(
    sh: &'s Shared<S, crate::engine::write::dest::DestRoot>,
    (dir_fd, dir): (BorrowedFd<'d>, &Arc<DirNode>),
    name: &OsStr,
    meta: &SrcMeta,
) -> io::Result<Option<(NewFile<'s, BorrowedFd<'d>>, Option<u64>)>> {
    let partial = resume::partial_name(name, meta);
    // A folder this run made holds no earlier run's partial.
    let look = !dir.fresh && dir.partials.load(Ordering::Relaxed);
    let Some(p) = resume::open(dir_fd, &partial, look, meta.mode)? else {
        return Ok(None);
    };
    Ok(Some((
        sh.root().partial_file(dir_fd, dir, partial, p.fd),
        p.found,
    )))
}

/// Where writing an earlier run's partial `found` bytes long continues: past
/// what reads as the source, or at 0 (then hashed so far under `--verify`).
fn resume_at(
    c: &mut Copier<'_>,
    (dir, name): (&Arc<DirNode>, &OsStr),
    (src, out): (BorrowedFd<'_>, BorrowedFd<'_>),
    (found, meta): (u64, &SrcMeta),
    hash: Option<&mut blake3::Hasher>,
) -> io::Result<u64> {
    // Made for this source by an earlier run: its mode may be stale.
    sys::fchmod(out, Mode::from_raw_mode(meta.mode & 0o777))?;
    let start = resume::valid_prefix(src, out, found, hash, &mut c.buf)?;
    sys::ftruncate(out, start)?;
    if start > 0 {
        let sh = c.sh;
        sh.send(Event::Notice(Notice::Resumed {
            path: sh.root().display(&dir.rel.join(name)),
            at: start,
            of: meta.size,
        }));
    }
    Ok(start)
}

/// A file above the small-file size: its own progress on its lane, and the
/// kernel's copy (or, sparse, data segment by data segment) from `start`.
fn copy_large(
    sh: &Shared,
    (src, out): (BorrowedFd<'_>, BorrowedFd<'_>),
    (dir, item, size, lane): (&Arc<DirNode>, &Item, u64, Option<WorkerId>),
    (sparse, start): (bool, u64),
    mv: &mut Mover<'_>,
) -> (Result<u64, CopyFail>, u64) {
    if let Some(worker) = lane {
        let number = sh.control.lane_started(worker);
        mv.lane = Some((worker, number));
        sh.send(Event::Started {
            worker,
            path: dir.rel_path(&item.name),
            size,
            number,
        });
    }
    let mut progressed = 0u64;
    let mut report = |n: u64| {
        if let Some(worker) = lane {
            progressed += n;
            sh.send(Event::Progress { worker, bytes: n });
        }
    };
    let ctl = &sh.control;
    let direct = !sparse && size >= direct::FROM && sh.root().direct_writes;
    let r = match sparse {
        true => bytes::copy_sparse(src, out, size, mv, ctl, &mut report),
        // Up to the size seen at the open, never after a file that grows
        // (a copy that chased a log being written would not end); a change
        // is found once the read is over, and the file read again.
        false => {
            let len = size.saturating_sub(start);
            direct
                .then(|| direct::copy(src, out, (start, len), mv, ctl, &mut report))
                .flatten()
                .unwrap_or_else(|| {
                    bytes::copy_range(src, out, (start, Some(len)), mv, ctl, &mut report)
                })
        }
    };
    (r, progressed)
}

/// The hash of a file that was cloned (no byte of it passed the copy).
fn hash_source(
    src: BorrowedFd<'_>,
    h: &mut blake3::Hasher,
    buf: &mut Vec<u8>,
) -> Result<u64, CopyFail> {
    sys::seek(src, rustix::fs::SeekFrom::Start(0)).map_err(|e| CopyFail::Read(e.into()))?;
    *h = verify::hash_rest(src, buf).map_err(CopyFail::Read)?;
    Ok(h.count())
}

/// Clones `src` into `out`: `None` when they cannot share data (learned
/// once: later files are copied without trying) and the bytes are to be
/// copied, unless clones were asked for whatever it takes.
fn clone_data(
    sh: &Shared,
    src: BorrowedFd<'_>,
    out: BorrowedFd<'_>,
) -> Option<Result<(), CopyFail>> {
    match bytes::clone_whole(src, out) {
        Cloned::Done => Some(Ok(())),
        Cloned::CannotShare(e) if sh.reflink == Reflink::Always => {
            let why = match e {
                Errno::XDEV => "the source is on another filesystem (--reflink=always)",
                _ => "the destination's filesystem has no clones (--reflink=always)",
            };
            Some(Err(CopyFail::Clone(io::Error::other(why))))
        }
        Cloned::CannotShare(_) => {
            sh.caps.learned.no_clones();
            None
        }
        Cloned::Failed(f) => Some(Err(f)),
    }
}

pub(crate) fn symlink<S: Source>(
    c: &mut Copier<'_, S, DestRoot>,
    dir_fd: Option<BorrowedFd<'_>>,
    dir: &Arc<DirNode>,
    item: &Item,
    in_place: bool,
) -> Option<Done> {
    let target = match read_link(c, dir, item) {
        Ok(t) => t,
        Err(e) => return Some(c.fail(dir, item, Op::ReadLink, e, false)),
    };
    let can = symlink_caps(c, dir_fd, dir);
    // Up to date: a symlink with the same target and, where the destination
    // keeps them, the same time.
    // A mount that hides escaping links' targets (sshfs) is compared on
    // what it shows: the target's length.
    let want = target.as_os_str().as_encoded_bytes();
    let same_link = |fd: BorrowedFd<'_>, d: &SrcMeta| {
        d.file_type() == FileType::Symlink
            && (can.times.is_err() || c.sh.window().same(d.mtime, item.meta.mtime))
            && match c.sh.root().read_link_at(fd, &item.name) {
                Ok(t) => t == want,
                Err(e) if caps::hidden_link(e) && caps::escapes(&target) => {
                    c.sh.caps.learned.links_hidden();
                    c.sh.kept.add(What::LinkTargets, Why::Hidden);
                    d.size == want.len() as u64
                }
                Err(_) => false,
            }
    };
    let replace = match c.check_dest(dir_fd, dir, item, same_link) {
        Verdict::Write { replace } => replace,
        Verdict::Done(done) => return Some(done),
        Verdict::Parked => return None,
    };
    Some(copy_symlink(
        c,
        dir_fd,
        dir,
        item,
        (replace, in_place),
        Some(target),
    ))
}

/// What the destination lets a symlink keep of its own metadata (the first
/// symlink of a run finds out).
fn symlink_caps<S: Source>(
    c: &Copier<'_, S, DestRoot>,
    dir_fd: Option<BorrowedFd<'_>>,
    dir: &Arc<DirNode>,
) -> SymlinkMeta {
    match dir_fd.filter(|_| !c.sh.dry_run) {
        Some(dir_fd) => {
            c.sh.caps
                .symlinks(|| c.sh.root().probe_symlink_meta(dir_fd, dir, c.sh.meta.owner))
        }
        None => SymlinkMeta {
            times: Ok(()),
            owner: Ok(()),
        },
    }
}

fn read_link<S: Source>(
    c: &mut Copier<'_, S, DestRoot>,
    dir: &DirNode,
    item: &Item,
) -> io::Result<PathBuf> {
    let d = c.source_dir(dir)?;
    c.sh.source.read_link(S::dir(&d), item.source_name())
}

/// Makes the symlink of `item` (its `target` read already, or read now):
/// `replace` an existing entry or not, write it `in_place` (in a staged
/// folder) or not. Outside a staged folder it gets its owner and times under
/// a temporary name and only then its own, so its name never shows a link
/// with the wrong metadata.
pub(crate) fn copy_symlink<S: Source>(
    c: &mut Copier<'_, S, DestRoot>,
    dir_fd: Option<BorrowedFd<'_>>,
    dir: &Arc<DirNode>,
    item: &Item,
    (replace, in_place): (bool, bool),
    target: Option<PathBuf>,
) -> Done {
    let target = match target.map_or_else(|| read_link(c, dir, item), Ok) {
        Ok(t) => t,
        Err(e) => return c.fail(dir, item, Op::ReadLink, e, false),
    };
    let Some(dir_fd) = dir_fd.filter(|_| !c.sh.dry_run) else {
        return (Outcome::Copied, 0);
    };
    let can = symlink_caps(c, Some(dir_fd), dir);
    let src_dir = match c.source_dir(dir) {
        Ok(d) => d,
        Err(e) => return c.fail(dir, item, Op::ReadLink, e, false),
    };
    let sh = c.sh;
    let learned = &sh.caps.learned;
    // A destination that holds no symlinks (exFAT, as its probe found):
    // counted, not failed.
    if !learned.symlinks() {
        sh.kept.add(What::Symlinks, Why::Unsupported);
        return (Outcome::Skipped(SkipReason::NotHeld("symlink")), 0);
    }
    // A source elsewhere has no attributes to give (the run asks for none).
    let from = match S::local_fd(&src_dir) {
        Some(fd) => At::Link(fd, item.source_name()),
        None => At::Link(dir_fd, &item.name),
    };
    if in_place && !replace {
        match sh.root().symlink_at(dir_fd, &target, &item.name) {
            Ok(()) => {}
            Err(Errno::EXIST) => return (Outcome::Skipped(SkipReason::Conflict), 0),
            Err(e) => return c.fail(dir, item, Op::Symlink, e.into(), true),
        }
        let attrs = Attrs {
            from,
            buf: &mut c.xbuf,
            lost: &sh.kept,
        };
        if let Err(e) = sh
            .meta
            .apply_symlink(dir_fd, &item.name, &item.meta, can, attrs)
        {
            if sh.root().remove_at(dir_fd, &item.name).is_err()
                && let Some(stage) = &dir.stage
            {
                stage.taint(item.name.clone());
            }
            return c.fail(dir, item, Op::SetMetadata, e, true);
        }
        count_hidden(sh, dir_fd, &item.name, &target);
        return (Outcome::Copied, 0);
    }
    let entry = match sh.root().temp_symlink(dir_fd, dir, &target) {
        Ok(entry) => entry,
        Err(e) => return c.fail(dir, item, Op::Symlink, e, true),
    };
    let attrs = Attrs {
        from,
        buf: &mut c.xbuf,
        lost: &sh.kept,
    };
    if let Err(e) = sh
        .meta
        .apply_symlink(dir_fd, entry.name(), &item.meta, can, attrs)
    {
        return c.fail(dir, item, Op::SetMetadata, e, true);
    }
    let placed = c.placed(entry.commit(&item.name, replace), dir, item);
    if matches!(placed, Outcome::Copied) {
        count_hidden(sh, dir_fd, &item.name, &target);
    }
    (placed, 0)
}

/// Counts a link made whose target the mount will not show again (said once
/// at the end of the run).
fn count_hidden<S: Source>(
    sh: &Shared<S, DestRoot>,
    dir_fd: BorrowedFd<'_>,
    name: &OsStr,
    target: &std::path::Path,
) {
    if sh.caps.learned.link_hidden(dir_fd, name, target) {
        sh.kept.add(What::LinkTargets, Why::Hidden);
    }
}
