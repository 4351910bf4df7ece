//! One worker loop: pass the gate, take a job, copy it, report every entry.

use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};

use crossbeam_channel::Receiver;
use rustix::fs::{self as rfs, AtFlags, FileType};
use rustix::io::Errno;

use super::Shared;
use super::copy::{self, CopyFail, SMALL_FILE};
use super::job::{Batch, BigFile, BigState, DirNode, Item, ItemKind, Job, OpenBig};
use super::meta::SrcMeta;
use super::source::{self, Fresh};
use crate::decide::{Decision, decide};
use crate::error::{CopyError, Op};
use crate::event::{EntryKind, Event, Outcome, SkipReason, WorkerId};

/// Files at least this large get a `Started` event and live byte progress.
const SHOW_PROGRESS_FROM: u64 = 1024 * 1024;

/// Gives the gate's permit back when the worker lets go of it, also when it
/// unwinds from a panic (the other workers would otherwise wait for it forever).
struct Permit<'a>(&'a super::control::Control);

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        self.0.leave();
    }
}

/// A worker loop. A panic (a bug) stops the run with a message instead of
/// hanging it: the partial file of the panicking worker is removed as its
/// guards unwind, the others finish their entry and stop.
pub(crate) fn run(id: WorkerId, shared: &Shared, jobs: Receiver<Job>) {
    let worked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(id, shared, jobs)));
    if let Err(panic) = worked {
        let why = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        shared.send(Event::Fatal(format!(
            "internal error in worker {id}, the copy was stopped: {why}"
        )));
        shared.control.cancel();
    }
}

fn work(id: WorkerId, shared: &Shared, jobs: Receiver<Job>) {
    let mut w = Worker {
        id: Some(id),
        sh: shared,
        buf: Vec::new(),
        src_dir: None,
    };
    while shared.control.enter().is_ok() {
        let _permit = Permit(&shared.control);
        loop {
            let Ok(job) = jobs.recv() else {
                return;
            };
            let (dir, in_place) = match job {
                Job::Batch(b) => {
                    let done = (Arc::clone(&b.dir), b.in_place);
                    w.batch(b);
                    done
                }
                Job::Chunk(f, i) => {
                    w.chunk(&f, i);
                    (Arc::clone(&f.dir), f.in_place)
                }
            };
            if let Some(root) = shared.root.as_ref().filter(|_| in_place) {
                root.job_done(&dir);
            }
            if shared.control.must_yield() {
                break;
            }
        }
    }
}

pub(super) struct Worker<'a> {
    /// The lane this worker reports on; `None` for the conflict resolver.
    pub id: Option<WorkerId>,
    pub sh: &'a Shared,
    /// Reused for every small file this worker copies.
    pub buf: Vec<u8>,
    /// The source folder of the last batch, kept open for the next one.
    pub src_dir: Option<(Arc<Path>, Arc<OwnedFd>)>,
}

/// The outcome of one entry and how many of its bytes were already reported
/// through `Progress` events.
pub(super) type Done = (Outcome, u64);

fn dest_state(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<Option<SrcMeta>> {
    match rfs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(Some((&st).into())),
        Err(Errno::NOENT) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

impl Worker<'_> {
    /// The open source folder of `dir`, reopened only when it changes.
    fn source_dir(&mut self, dir: &DirNode) -> io::Result<Arc<OwnedFd>> {
        if let Some((rel, fd)) = &self.src_dir
            && (Arc::ptr_eq(rel, &dir.rel) || **rel == *dir.rel)
        {
            return Ok(Arc::clone(fd));
        }
        self.src_dir = None;
        let fd = Arc::new(self.sh.source.open_dir(&dir.rel)?);
        self.src_dir = Some((Arc::clone(&dir.rel), Arc::clone(&fd)));
        Ok(fd)
    }

    fn src_path(&self, dir: &DirNode, name: &OsStr) -> std::path::PathBuf {
        self.sh.source.display(&dir.rel).join(name)
    }

    /// Disk full or read-only: every further file would fail the same way.
    fn stop_if_fatal(&self, e: &CopyError) {
        if let Some(why) = e.fatal_reason()
            && !self.sh.control.is_cancelled()
        {
            self.sh.send(Event::Fatal(format!("{why} ({e})")));
            self.sh.control.cancel();
        }
    }

    pub(super) fn finish_entry(&self, dir: &DirNode, item: &Item, done: Done) {
        if let (Outcome::Failed(e), _) = &done {
            self.stop_if_fatal(e);
        }
        self.send_entry(dir, item, entry_kind(item.kind), done);
    }

    fn send_entry(&self, dir: &DirNode, item: &Item, kind: EntryKind, done: Done) {
        let (outcome, progressed) = done;
        self.sh.send(Event::Entry {
            worker: self.id,
            path: dir.rel_path(&item.name),
            kind,
            bytes: if kind == EntryKind::File {
                item.meta.size
            } else {
                0
            },
            progressed,
            outcome,
        });
    }

    fn dest_path(&self, dir: &DirNode, name: &OsStr) -> std::path::PathBuf {
        match &self.sh.root {
            Some(r) => r.display(&dir.rel).join(name),
            None => dir.rel.join(name),
        }
    }

    fn fail(&self, dir: &DirNode, item: &Item, op: Op, e: io::Error, dest_side: bool) -> Done {
        let path = if dest_side {
            self.dest_path(dir, &item.name)
        } else {
            self.src_path(dir, item.source_name())
        };
        (Outcome::Failed(CopyError::new(path, op, e)), 0)
    }

    fn batch(&mut self, b: Batch) {
        let dir_fd = if self.sh.dry_run && b.dir.fresh {
            None
        } else {
            match self.sh.root().open_node(&b.dir) {
                Ok(fd) => Some(fd),
                Err(e) => {
                    for item in &b.items {
                        let kind = entry_kind(item.kind);
                        let err = io::Error::new(e.kind(), e.to_string());
                        let done = self.fail(&b.dir, item, Op::OpenDir, err, true);
                        self.send_entry(&b.dir, item, kind, done);
                    }
                    return;
                }
            }
        };
        for item in &b.items {
            if self.sh.control.checkpoint().is_err() {
                return;
            }
            let dir_fd = dir_fd.as_ref().map(|f| f.as_fd());
            let done = match item.kind {
                ItemKind::File => self.file(dir_fd, &b.dir, item, b.in_place),
                ItemKind::Symlink => self.symlink(dir_fd, &b.dir, item),
            };
            // None: parked for a person to decide; reported once decided.
            if let Some(done) = done {
                self.finish_entry(&b.dir, item, done);
            }
        }
    }

    /// Conflict check shared by every kind of entry: `Ok(replace)` to write it,
    /// `Err(Some)` a finished outcome, `Err(None)` parked for a person to decide.
    fn check_dest(
        &self,
        dir_fd: Option<BorrowedFd<'_>>,
        dir: &Arc<DirNode>,
        item: &Item,
        same_content: impl FnOnce(BorrowedFd<'_>, &SrcMeta) -> bool,
    ) -> Result<bool, Option<Done>> {
        let existing = match (dir.fresh, dir_fd) {
            (false, Some(fd)) => match dest_state(fd, &item.name) {
                Ok(Some(d)) if same_content(fd, &d) => return Err(Some((Outcome::UpToDate, 0))),
                Ok(d) => d,
                Err(e) => return Err(Some(self.fail(dir, item, Op::Stat, e, true))),
            },
            _ => None,
        };
        match decide(&item.meta, existing.as_ref(), self.sh.policy) {
            Decision::Copy { replace } => Ok(replace),
            Decision::UpToDate => Err(Some((Outcome::UpToDate, 0))),
            Decision::Skip(r) => Err(Some((Outcome::Skipped(r), 0))),
            Decision::Ask => match existing {
                Some(dest) if !self.sh.dry_run => {
                    self.sh.ask.park(&self.sh.events, dir, item, &dest);
                    Err(None)
                }
                _ => Err(Some((Outcome::Skipped(SkipReason::Conflict), 0))),
            },
        }
    }

    fn file(
        &mut self,
        dir_fd: Option<BorrowedFd<'_>>,
        dir: &Arc<DirNode>,
        item: &Item,
        in_place: bool,
    ) -> Option<Done> {
        let replace = match self.check_dest(dir_fd, dir, item, |_, _| false) {
            Ok(r) => r,
            Err(done) => return done,
        };
        Some(self.write_file(dir_fd, dir, item, replace, in_place))
    }

    /// Copies a regular file whose fate is decided: `replace` an existing entry or
    /// not; write it `in_place` under its own name (in a staged folder) or not.
    pub(super) fn write_file(
        &mut self,
        dir_fd: Option<BorrowedFd<'_>>,
        dir: &DirNode,
        item: &Item,
        replace: bool,
        in_place: bool,
    ) -> Done {
        let Some(dir_fd) = dir_fd.filter(|_| !self.sh.dry_run) else {
            return (Outcome::Copied, 0);
        };
        #[cfg(test)]
        if item.name == tests::PANIC_NAME {
            panic!("injected by a test");
        }
        let opened = self.source_dir(dir).and_then(|d| {
            self.sh
                .source
                .open_file(d.as_fd(), item.source_name(), &item.meta)
        });
        let (src, mut meta, fresh) = match opened {
            Ok(x) => x,
            Err(e) => return self.fail(dir, item, Op::Open, e, false),
        };
        let in_place = in_place.then_some(item.name.as_os_str());
        let new = match self.sh.root().create_file(dir_fd, meta.mode, in_place) {
            Ok(x) => x,
            Err(e) => return self.fail(dir, item, Op::Create, e, true),
        };
        let out = new.fd();
        let mut progressed = 0u64;
        let result = if meta.size <= SMALL_FILE {
            let r = copy::read_write(
                src.as_fd(),
                out.as_fd(),
                &mut self.buf,
                meta.size,
                fresh == Fresh::Checked,
                &self.sh.control,
            );
            // It changed since the walk: stamp what was read with its own times.
            match r {
                Ok(n) if fresh == Fresh::Walked && n != meta.size => {
                    match source::regular_meta(src.as_fd()) {
                        Ok(m) => {
                            meta = m;
                            r
                        }
                        Err(e) => Err(CopyFail::Read(e)),
                    }
                }
                r => r,
            }
        } else {
            // The resolver has no lane; its files show up when finished.
            let lane = self.id.filter(|_| meta.size >= SHOW_PROGRESS_FROM);
            if let Some(worker) = lane {
                self.sh.send(Event::Started {
                    worker,
                    path: dir.rel_path(&item.name),
                    size: meta.size,
                });
            }
            let sh = self.sh;
            let mut report = |n: u64| {
                if let Some(worker) = lane {
                    progressed += n;
                    sh.send(Event::Progress { worker, bytes: n });
                }
            };
            let ctl = &self.sh.control;
            if meta.is_sparse() {
                copy::copy_sparse(
                    src.as_fd(),
                    out.as_fd(),
                    meta.size,
                    &mut self.buf,
                    ctl,
                    &mut report,
                )
            } else {
                copy::copy_range(
                    src.as_fd(),
                    out.as_fd(),
                    0,
                    None,
                    &mut self.buf,
                    ctl,
                    &mut report,
                )
            }
        };
        match result {
            Ok(_) => {}
            Err(CopyFail::Cancelled) => return (Outcome::Cancelled, progressed),
            Err(CopyFail::Read(e)) => {
                return (self.fail(dir, item, Op::Read, e, false).0, progressed);
            }
            Err(CopyFail::Write(e)) => {
                return (self.fail(dir, item, Op::Write, e, true).0, progressed);
            }
        }
        if let Err(e) = self.sh.meta.apply_fd(out.as_fd(), &meta) {
            return (self.fail(dir, item, Op::SetMetadata, e, true).0, progressed);
        }
        let placed = new.commit(&item.name, replace);
        (self.placed(placed, dir, item), progressed)
    }

    /// The outcome of putting a finished copy in place.
    fn placed(&self, result: io::Result<()>, dir: &DirNode, item: &Item) -> Outcome {
        match result {
            Ok(()) => Outcome::Copied,
            // Something appeared under the name since the check: keep it.
            Err(e) if e.raw_os_error() == Some(Errno::EXIST.raw_os_error()) => {
                Outcome::Skipped(SkipReason::Conflict)
            }
            Err(e) => self.fail(dir, item, Op::Rename, e, true).0,
        }
    }

    fn symlink(
        &mut self,
        dir_fd: Option<BorrowedFd<'_>>,
        dir: &Arc<DirNode>,
        item: &Item,
    ) -> Option<Done> {
        let target = match self.read_link(dir, item) {
            Ok(t) => t,
            Err(e) => return Some(self.fail(dir, item, Op::ReadLink, e, false)),
        };
        let same_link = |fd: BorrowedFd<'_>, d: &SrcMeta| {
            FileType::from_raw_mode(d.mode) == FileType::Symlink
                && rfs::readlinkat(fd, &item.name, Vec::new())
                    .is_ok_and(|t| t.as_bytes() == target.as_os_str().as_encoded_bytes())
        };
        let replace = match self.check_dest(dir_fd, dir, item, same_link) {
            Ok(r) => r,
            Err(done) => return done,
        };
        Some(self.write_symlink(dir_fd, dir, item, replace, Some(target)))
    }

    fn read_link(&mut self, dir: &DirNode, item: &Item) -> io::Result<std::path::PathBuf> {
        let d = self.source_dir(dir)?;
        self.sh.source.read_link(d.as_fd(), item.source_name())
    }

    pub(super) fn write_symlink(
        &mut self,
        dir_fd: Option<BorrowedFd<'_>>,
        dir: &DirNode,
        item: &Item,
        replace: bool,
        target: Option<std::path::PathBuf>,
    ) -> Done {
        let target = match target.map_or_else(|| self.read_link(dir, item), Ok) {
            Ok(t) => t,
            Err(e) => return self.fail(dir, item, Op::ReadLink, e, false),
        };
        let Some(dir_fd) = dir_fd.filter(|_| !self.sh.dry_run) else {
            return (Outcome::Copied, 0);
        };
        // A new symlink appears whole, so only a replacement needs a temporary.
        let created = if replace {
            match self.sh.root().temp_symlink(dir_fd, &target) {
                Ok(entry) => match self.placed(entry.commit(&item.name, true), dir, item) {
                    Outcome::Copied => Ok(()),
                    other => return (other, 0),
                },
                Err(e) => Err(e),
            }
        } else {
            match rfs::symlinkat(&target, dir_fd, &item.name) {
                Err(Errno::EXIST) => return (Outcome::Skipped(SkipReason::Conflict), 0),
                r => r.map_err(io::Error::from),
            }
        };
        if let Err(e) = created {
            return self.fail(dir, item, Op::Symlink, e, true);
        }
        match self
            .sh
            .meta
            .apply_symlink(dir_fd, Path::new(&item.name), &item.meta)
        {
            Ok(()) => (Outcome::Copied, 0),
            Err(e) => self.fail(dir, item, Op::SetMetadata, e, true),
        }
    }

    /// One chunk of a big file; the first opens it, the last finishes it.
    fn chunk(&mut self, f: &Arc<BigFile>, index: u64) {
        if f.failed.load(Ordering::Relaxed) {
            return self.chunk_done(f);
        }
        let open = {
            let mut state = f.state.lock().unwrap_or_else(PoisonError::into_inner);
            match &*state {
                BigState::Settled => return,
                BigState::Open(o) => Arc::clone(o),
                BigState::NotStarted => match self.open_big(f) {
                    Ok(o) => {
                        *state = BigState::Open(Arc::clone(&o));
                        o
                    }
                    Err(done) => {
                        *state = BigState::Settled;
                        f.failed.store(true, Ordering::Relaxed);
                        drop(state);
                        if let Some(done) = done {
                            self.finish_entry(&f.dir, &f.item, done);
                        }
                        return;
                    }
                },
            }
        };
        let offset = index * f.chunk_size;
        let len = f.chunk_size.min(open.meta.size.saturating_sub(offset));
        let lane = self.id;
        if let Some(worker) = lane {
            self.sh.send(Event::Started {
                worker,
                path: f.dir.rel_path(&f.item.name),
                size: len,
            });
        }
        let sh = self.sh;
        let mut report = |n: u64| {
            open.progressed.fetch_add(n, Ordering::Relaxed);
            if let Some(worker) = lane {
                sh.send(Event::Progress { worker, bytes: n });
            }
        };
        let ctl = &self.sh.control;
        let r = copy::copy_range(
            open.src.as_fd(),
            open.out.as_fd(),
            offset,
            Some(len),
            &mut self.buf,
            ctl,
            &mut report,
        );
        let err = match r {
            Ok(n) if n < len => Some((
                Op::Read,
                io::Error::other("file shrank while being copied"),
                false,
            )),
            Ok(_) => None,
            Err(CopyFail::Cancelled) => None,
            Err(CopyFail::Read(e)) => Some((Op::Read, e, false)),
            Err(CopyFail::Write(e)) => Some((Op::Write, e, true)),
        };
        if let Some((op, e, dest_side)) = err {
            f.failed.store(true, Ordering::Relaxed);
            let path = if dest_side {
                self.dest_path(&f.dir, &f.item.name)
            } else {
                self.src_path(&f.dir, f.item.source_name())
            };
            let mut slot = open.error.lock().unwrap_or_else(PoisonError::into_inner);
            slot.get_or_insert(CopyError::new(path, op, e));
        }
        self.chunk_done(f);
    }

    /// `Err(None)`: parked for a person to decide.
    fn open_big(&mut self, f: &BigFile) -> Result<Arc<OpenBig>, Option<Done>> {
        let src_dir = self.source_dir(&f.dir);
        let root = self.sh.root();
        let fail = |op, e, dest| Some(self.fail(&f.dir, &f.item, op, e, dest));
        let dir_fd = root
            .open_node(&f.dir)
            .map_err(|e| fail(Op::OpenDir, e, true))?;
        let replace = self.check_dest(Some(dir_fd.as_fd()), &f.dir, &f.item, |_, _| false)?;
        let (src, meta, _) = src_dir
            .and_then(|d| {
                self.sh
                    .source
                    .open_file(d.as_fd(), f.item.source_name(), &f.item.meta)
            })
            .map_err(|e| fail(Op::Open, e, false))?;
        let in_place = f.in_place.then_some(f.item.name.as_os_str());
        let (entry, out) = root
            .create_temp(dir_fd, meta.mode, in_place)
            .map_err(|e| fail(Op::Create, e, true))?;
        // Setting the length first lets chunks land at their offsets in any order
        // without the file growing chunk by chunk.
        if let Err(e) = rfs::ftruncate(&out, meta.size) {
            return Err(fail(Op::Write, e.into(), true));
        }
        Ok(Arc::new(OpenBig {
            src,
            out,
            entry: std::sync::Mutex::new(Some(entry)),
            replace,
            meta,
            error: std::sync::Mutex::new(None),
            progressed: 0.into(),
        }))
    }

    /// Counts a chunk off; the last one reports the file.
    fn chunk_done(&self, f: &BigFile) {
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
                self.stop_if_fatal(&e);
                Outcome::Failed(e)
            }
            (None, _) if self.sh.control.is_cancelled() => Outcome::Cancelled,
            (None, None) => Outcome::Cancelled,
            (None, Some(entry)) => match self.sh.meta.apply_fd(open.out.as_fd(), &open.meta) {
                Err(e) => self.fail(&f.dir, &f.item, Op::SetMetadata, e, true).0,
                Ok(()) => self.placed(entry.commit(&f.item.name, open.replace), &f.dir, &f.item),
            },
        };
        self.send_entry(&f.dir, &f.item, EntryKind::File, (outcome, progressed));
    }
}

fn entry_kind(k: ItemKind) -> EntryKind {
    match k {
        ItemKind::File => EntryKind::File,
        ItemKind::Symlink => EntryKind::Symlink,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::config::Config;
    use crate::event::Event;

    /// A file by this name makes the worker copying it panic (unit tests only).
    pub(super) const PANIC_NAME: &str = "panic-in-worker.test";

    #[test]
    fn a_panicking_worker_stops_the_run_instead_of_hanging_it() {
        let t = tempfile::tempdir().unwrap();
        let src = t.path().join("src");
        for d in 0..10 {
            std::fs::create_dir_all(src.join(d.to_string())).unwrap();
            for f in 0..50 {
                std::fs::write(src.join(format!("{d}/{f}")), b"data").unwrap();
            }
        }
        std::fs::write(src.join("5").join(PANIC_NAME), b"boom").unwrap();
        let mut cfg = Config::new(&src, t.path().join("dst"));
        cfg.jobs = 2;
        let r = crate::engine::start(cfg).unwrap();
        let mut fatal = None;
        loop {
            match r.events.recv_timeout(Duration::from_secs(30)) {
                Ok(Event::Fatal(why)) => fatal = Some(why),
                Ok(Event::Done { cancelled }) => {
                    assert!(cancelled, "the run is stopped");
                    break;
                }
                Ok(_) => {}
                Err(e) => panic!("the run hung after a worker panicked: {e}"),
            }
        }
        r.join();
        let why = fatal.expect("a fatal event says why the run stopped");
        assert!(why.contains("internal error"), "{why}");
        assert!(
            !t.path().join("dst/5").join(PANIC_NAME).exists(),
            "nothing half-written under the file's name"
        );
    }
}
