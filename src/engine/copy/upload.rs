//! Files and symlinks to a folder on another machine over SFTP: the same rules
//! as the local copy's (`files`): the conflict check, a file written complete
//! under a temporary name with its mode and times, only then given its own
//! name, never replacing what the policy keeps; a source that changed while
//! it was read is read again. What SFTP cannot hold (special files) is
//! skipped and said once.

use std::os::fd::AsFd;
use std::path::Path;
use std::sync::Arc;

use super::copier::{Copier, Done, Verdict};
use super::job::Batch;
use crate::engine::data::bytes::{self, CopyFail};
use crate::engine::meta::attrs::SrcMeta;
use crate::engine::meta::kept::{What, Why};
use crate::engine::os::sys;
use crate::engine::plan::item::{Item, ItemKind};
use crate::engine::plan::node::DirNode;
use crate::engine::read::Source;
use crate::engine::read::source::SourceRoot;
use crate::engine::sftp::dest::SftpDest;
use crate::engine::write::Dest;
use crate::error::Op;
use crate::event::{Event, Outcome, SkipReason};

type Uploader<'a> = Copier<'a, SourceRoot, SftpDest>;

/// Files at least this large get a `Started` event and live byte progress.
const SHOW_PROGRESS_FROM: u64 = 1024 * 1024;
/// A file that changed while it was read is sent again, up to this many
/// times in all, before it is reported as changing.
const TRIES_WHEN_CHANGED: usize = 3;

pub(crate) fn batch(c: &mut Uploader<'_>, b: Batch) {
    let dir = if c.sh.dry_run && b.dir.fresh {
        None
    } else {
        match c.sh.root().open_node(&b.dir) {
            Ok(d) => Some(d),
            Err(e) => {
                for item in &b.items {
                    let done = c.fail(&b.dir, item, Op::OpenDir, crate::error::clone_io(&e), true);
                    c.send_entry(&b.dir, item, done, None);
                }
                return;
            }
        }
    };
    for item in &b.items {
        if c.sh.control.checkpoint().is_err() {
            return;
        }
        let dir_path = dir.as_deref();
        let done = match item.kind {
            ItemKind::File => file(c, dir_path, &b.dir, item),
            ItemKind::Symlink => symlink(c, dir_path, &b.dir, item),
            ItemKind::Special => {
                c.sh.kept.add(What::SpecialFiles, Why::Unsupported);
                Some((Outcome::Skipped(SkipReason::NotHeld("special file")), 0))
            }
        };
        // None: parked for a person to decide; reported once decided.
        if let Some(done) = done {
            if let (Outcome::Failed(e), _) = &done {
                c.stop_if_fatal(e);
            }
            c.send_entry(&b.dir, item, done, None);
        }
    }
}

fn file(
    c: &mut Uploader<'_>,
    dir: Option<&Path>,
    node: &Arc<DirNode>,
    item: &Item,
) -> Option<Done> {
    let replace = match c.check_dest(dir, node, item, |_, _| false) {
        Verdict::Write { replace } => replace,
        Verdict::Done(done) => return Some(done),
        Verdict::Parked => return None,
    };
    let (mut progressed, mut tried) = (0, 1);
    loop {
        let (outcome, p) = send_file(c, dir, node, item, replace);
        progressed += p;
        match &outcome {
            Outcome::Failed(e) if e.op == Op::Changed && tried < TRIES_WHEN_CHANGED => tried += 1,
            _ => return Some((outcome, progressed)),
        }
    }
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
    let (name, out) = match root.create_temp(dir) {
        Ok(x) => x,
        Err(e) => return c.fail(node, item, Op::Create, e, true),
    };
    let mut temp = Temp {
        root,
        dir,
        name,
        placed: false,
    };
    let lane = c.id.filter(|_| meta.size >= SHOW_PROGRESS_FROM);
    let lane = lane.map(|worker| {
        let number = sh.control.lane_started(worker);
        sh.send(Event::Started {
            worker,
            path: node.rel_path(&item.name),
            size: meta.size,
            number,
        });
        (worker, number)
    });
    let mut progressed = 0;
    let step = |n: u64| -> Result<(), CopyFail> {
        if let Some((worker, _)) = lane {
            progressed += n;
            sh.send(Event::Progress { worker, bytes: n });
        }
        sh.control.throttle(n)?;
        bytes::between_steps(&sh.control, lane)
    };
    let sent = root.send(&out, src.as_fd(), meta.size, &mut c.buf, None, step);
    match sent {
        Ok(_) => {}
        Err(CopyFail::Cancelled) => return (Outcome::Cancelled, progressed),
        Err(CopyFail::Skipped) => return (Outcome::Skipped(SkipReason::ByUser), progressed),
        Err(CopyFail::Read(e)) => return (c.fail(node, item, Op::Read, e, false).0, progressed),
        Err(CopyFail::Write(e) | CopyFail::Clone(e)) => {
            return (c.fail(node, item, Op::Write, e, true).0, progressed);
        }
    }
    // What was sent must be the file as it stood through the read.
    match sys::fstat(src.as_fd()) {
        Ok(now) if meta.changed_since(&SrcMeta::from(&now)) => {
            let why =
                format!("its size or times changed while it was read, {TRIES_WHEN_CHANGED} times");
            let e = std::io::Error::other(why);
            return (c.fail(node, item, Op::Changed, e, false).0, progressed);
        }
        Ok(_) => {}
        Err(e) => return (c.fail(node, item, Op::Stat, e.into(), false).0, progressed),
    }
    if let Err(e) = root.seal(out, &meta, sh.meta.owner, sh.fsync) {
        let op = if sh.fsync { Op::Flush } else { Op::SetMetadata };
        return (c.fail(node, item, op, e, true).0, progressed);
    }
    let put = root.commit(dir, &temp.name, &item.name, replace);
    temp.placed = put.is_ok();
    (c.placed(put, node, item), progressed)
}

fn symlink(
    c: &mut Uploader<'_>,
    dir: Option<&Path>,
    node: &Arc<DirNode>,
    item: &Item,
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
    let replace = match c.check_dest(dir, node, item, same_link) {
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
