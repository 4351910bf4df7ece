//! Chunked copying, off by default (`--chunk-threshold`): a big file becomes
//! several jobs that share one open source, one temporary and a count of chunks
//! left, so idle workers can copy pieces of it at once. The first chunk to start
//! opens both ends; whoever finishes the last one applies metadata and puts the
//! file in place. On ext4 this loses to one worker per file (see `config`), so
//! the default path never comes here.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use super::copier::{Copier, Done, Verdict, folder_gid};
use crate::config::Chunking;
use crate::engine::data::bytes::{self, CopyFail, Mover};
use crate::engine::meta::attrs::SrcMeta;
use crate::engine::os::sys;
use crate::engine::plan::item::Item;
use crate::engine::plan::node::DirNode;
use crate::engine::read::Source;
use crate::engine::write::Dest;
use crate::engine::write::temp_entry::TempEntry;
use crate::error::{CopyError, Op};
use crate::event::{Event, Outcome};

/// Whether a file of this metadata is split, and into how many chunks. Sparse
/// files are not (their holes would be written), nor anything in a dry run.
pub(crate) fn chunk_count(meta: &SrcMeta, chunking: Chunking, dry_run: bool) -> Option<u64> {
    let split = meta.is_file() && meta.size >= chunking.threshold && !meta.is_sparse() && !dry_run;
    split.then(|| meta.size.div_ceil(chunking.size).max(1))
}

/// One piece of a big file: the job the walker queues.
pub(crate) struct Chunk {
    pub file: Arc<BigFile>,
    pub index: u64,
}

/// The chunks of `item`, ready to queue in order.
pub(crate) fn chunks(
    dir: &Arc<DirNode>,
    item: Item,
    in_place: bool,
    chunking: Chunking,
    count: u64,
) -> impl Iterator<Item = Chunk> {
    let file = Arc::new(BigFile {
        dir: Arc::clone(dir),
        item,
        in_place,
        chunk_size: chunking.size,
        remaining: AtomicU64::new(count),
        failed: AtomicBool::new(false),
        state: Mutex::new(BigState::NotStarted),
    });
    (0..count).map(move |index| Chunk {
        file: Arc::clone(&file),
        index,
    })
}

/// What the chunks of one file share. Dropped unfinished (cancel), the
/// temporary removes itself.
pub(crate) struct BigFile {
    pub dir: Arc<DirNode>,
    item: Item,
    /// Written under its own name: its folder is staged and waits for it.
    pub in_place: bool,
    chunk_size: u64,
    remaining: AtomicU64,
    failed: AtomicBool,
    state: Mutex<BigState>,
}

enum BigState {
    NotStarted,
    Open(Arc<OpenBig>),
    /// Decided without copying (up to date, skipped, failed to open): the other
    /// chunks have nothing to do.
    Settled,
}

struct OpenBig {
    src: OwnedFd,
    out: OwnedFd,
    entry: Mutex<Option<TempEntry<OwnedFd>>>,
    replace: bool,
    /// Fresh source metadata (from fstat), applied at the end.
    meta: SrcMeta,
    error: Mutex<Option<CopyError>>,
    progressed: AtomicU64,
    /// The group the temporary got from its folder.
    new_gid: u32,
}

/// Copies one chunk; the first opens the file, the last finishes it.
pub(crate) fn copy_chunk(c: &mut Copier<'_>, chunk: &Chunk) {
    let f = &chunk.file;
    if f.failed.load(Ordering::Relaxed) {
        return chunk_done(c, f);
    }
    let open = {
        let mut state = f.state.lock().unwrap_or_else(PoisonError::into_inner);
        match &*state {
            BigState::Settled => return,
            BigState::Open(o) => Arc::clone(o),
            BigState::NotStarted => match open_big(c, f) {
                Ok(o) => {
                    *state = BigState::Open(Arc::clone(&o));
                    o
                }
                Err(done) => {
                    *state = BigState::Settled;
                    f.failed.store(true, Ordering::Relaxed);
                    drop(state);
                    if let Some(done) = done {
                        c.finish_entry(&f.dir, &f.item, done);
                    }
                    return;
                }
            },
        }
    };
    let offset = chunk.index * f.chunk_size;
    let len = f.chunk_size.min(open.meta.size.saturating_sub(offset));
    let lane = c.id;
    if let Some(worker) = lane {
        c.sh.send(Event::Started {
            worker,
            path: f.dir.rel_path(&f.item.name),
            size: len,
            number: c.sh.control.lane_started(worker),
        });
    }
    let sh = c.sh;
    let mut report = |n: u64| {
        open.progressed.fetch_add(n, Ordering::Relaxed);
        if let Some(worker) = lane {
            sh.send(Event::Progress { worker, bytes: n });
        }
    };
    // Chunks are never verified (a verified file is not split).
    let mut mv = Mover {
        buf: &mut c.buf,
        lane: None,
        offload: sh.offload(),
        out_shared: true,
        hash: None,
        cache: bytes::Cache::Unasked,
    };
    let (src, out) = (open.src.as_fd(), open.out.as_fd());
    let r = bytes::copy_range(
        src,
        out,
        (offset, Some(len)),
        &mut mv,
        &sh.control,
        &mut report,
    );
    let err = match r {
        Ok(n) if n < len => Some((
            Op::Read,
            io::Error::other("file shrank while being copied"),
            false,
        )),
        Ok(_) | Err(CopyFail::Cancelled) => None,
        // (A chunk has no lane to be skipped from; were it, the file fails
        // rather than be placed with a piece missing.)
        Err(CopyFail::Skipped) => Some((Op::Write, io::Error::other("skipped"), true)),
        Err(CopyFail::Read(e)) => Some((Op::Read, e, false)),
        Err(CopyFail::Write(e)) => Some((Op::Write, e, true)),
        Err(CopyFail::Clone(e)) => Some((Op::Clone, e, true)),
    };
    if let Some((op, e, dest_side)) = err {
        f.failed.store(true, Ordering::Relaxed);
        let mut slot = open.error.lock().unwrap_or_else(PoisonError::into_inner);
        slot.get_or_insert(c.error(&f.dir, &f.item, op, e, dest_side));
    }
    chunk_done(c, f);
}

/// `Err(None)`: parked for a person to decide.
fn open_big(c: &mut Copier<'_>, f: &BigFile) -> Result<Arc<OpenBig>, Option<Done>> {
    let src_dir = c.source_dir(&f.dir);
    let root = c.sh.root();
    let dir_fd = root
        .open_node(&f.dir)
        .map_err(|e| Some(c.fail(&f.dir, &f.item, Op::OpenDir, e, true)))?;
    let replace = match c.check_dest(Some(dir_fd.as_fd()), &f.dir, &f.item, |_, _| false) {
        Verdict::Write { replace } => replace,
        Verdict::Done(done) => return Err(Some(done)),
        Verdict::Parked => return Err(None),
    };
    let fail = |op, e, dest| Some(c.fail(&f.dir, &f.item, op, e, dest));
    let (src, meta, _) = src_dir
        .and_then(|d| {
            c.sh.source
                .open_file(d.as_fd(), f.item.source_name(), &f.item.meta, false)
        })
        .map_err(|e| fail(Op::Open, e, false))?;
    let new_gid = folder_gid(c.sh, dir_fd.as_fd());
    let in_place = f.in_place.then_some(f.item.name.as_os_str());
    let (entry, out) = root
        .create_temp(dir_fd, &f.dir, meta.mode, in_place)
        .map_err(|e| fail(Op::Create, e, true))?;
    // Setting the length first lets chunks land at their offsets in any order
    // without the file growing chunk by chunk.
    if let Err(e) = sys::ftruncate(&out, meta.size) {
        return Err(fail(Op::Write, e.into(), true));
    }
    Ok(Arc::new(OpenBig {
        new_gid,
        src,
        out,
        entry: Mutex::new(Some(entry)),
        replace,
        meta,
        error: Mutex::new(None),
        progressed: 0.into(),
    }))
}

/// Counts a chunk off; the last one reports the file.
fn chunk_done(c: &mut Copier<'_>, f: &BigFile) {
    if f.remaining.fetch_sub(1, Ordering::AcqRel) != 1 {
        return;
    }
    let open = {
        let mut state = f.state.lock().unwrap_or_else(PoisonError::into_inner);
        match std::mem::replace(&mut *state, BigState::Settled) {
            BigState::Open(o) => o,
            _ => return, // already reported when it settled
        }
    };
    let progressed = open.progressed.load(Ordering::Relaxed);
    let entry = open
        .entry
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take();
    let error = open
        .error
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take();
    let outcome = match (error, entry) {
        (Some(e), _) => {
            c.stop_if_fatal(&e);
            Outcome::Failed(e)
        }
        (None, _) if c.sh.control.is_cancelled() => Outcome::Cancelled,
        (None, None) => Outcome::Cancelled,
        (None, Some(entry)) => {
            let what = (&*f.dir, &f.item, &open.meta);
            match c.seal((open.src.as_fd(), open.out.as_fd()), what, open.new_gid) {
                Err(failed) => failed,
                Ok(()) => {
                    let put = entry.commit(&f.item.name, open.replace);
                    c.put_in_place(put, (!f.in_place, None), (&f.dir, &f.item, &open.meta))
                }
            }
        }
    };
    c.send_entry(&f.dir, &f.item, (outcome, progressed), None);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(size: u64, blocks: u64) -> SrcMeta {
        SrcMeta {
            blocks,
            ..SrcMeta::test_file(size, 0)
        }
    }

    #[test]
    fn only_dense_files_at_the_threshold_are_split_and_never_in_a_dry_run() {
        let on = Chunking {
            threshold: 100,
            size: 40,
        };
        let dense = |size| file(size, size.div_ceil(512));
        assert_eq!(chunk_count(&dense(99), on, false), None);
        assert_eq!(chunk_count(&dense(100), on, false), Some(3));
        assert_eq!(chunk_count(&dense(120), on, false), Some(3));
        assert_eq!(chunk_count(&dense(121), on, false), Some(4));
        assert_eq!(chunk_count(&dense(120), on, true), None, "dry run");
        assert_eq!(chunk_count(&file(4096, 0), on, false), None, "sparse");
        assert_eq!(
            chunk_count(&dense(u64::MAX / 2), Chunking::default(), false),
            None,
            "off by default"
        );
    }
}
