//! A copier: one worker's state (its lane, its buffer, the source folder it has
//! open) and what every kind of entry needs on the way to an outcome: the
//! conflict check, failure messages with the path on the right side, putting a
//! finished copy in place, and reporting.

use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustix::io::Errno;

use crate::engine::control::decide::Decision;
use crate::engine::data::bytes::{Cache, CopyFail};
use crate::engine::data::same_bytes::Relation;
use crate::engine::meta::attrs::{Attrs, SrcMeta};
use crate::engine::meta::xattrs::{At, XattrBuf};
use crate::engine::plan::item::{Item, ItemKind};
use crate::engine::plan::node::DirNode;
use crate::engine::read::Source;
use crate::engine::read::source::SourceRoot;
use crate::engine::shared::Shared;
use crate::engine::trust::verify::{self, Round, Written};
use crate::engine::write::Dest;
use crate::engine::write::dest::DestRoot;
use crate::error::{CopyError, Op};
use crate::event::{Digest, EntryKind, Event, Fatal, Outcome, SkipReason, What, Why, WorkerId};

/// The outcome of one entry and how many of its bytes were already reported
/// through `Progress` events.
pub(crate) type Done = (Outcome, u64);

/// Files at least this large get a `Started` event and live byte progress.
pub(crate) const SHOW_PROGRESS_FROM: u64 = 1024 * 1024;

/// A file that changed while it was read is copied again, up to this many
/// times in all, before it is reported as changing.
pub(crate) const TRIES_WHEN_CHANGED: usize = 3;

/// `copy` again while the source changes under it (a log being written, a
/// download finishing): what gets the final name is the file as it stood
/// through one whole read. The outcome, and the bytes reported in all.
pub(crate) fn as_it_stands(mut copy: impl FnMut() -> Done) -> Done {
    let (mut progressed, mut tried) = (0, 1);
    loop {
        let (outcome, p) = copy();
        progressed += p;
        match &outcome {
            Outcome::Failed(e) if e.op == Op::Changed && tried < TRIES_WHEN_CHANGED => tried += 1,
            _ => return (outcome, progressed),
        }
    }
}

/// What the conflict check says of an entry.
pub(crate) enum Verdict {
    /// Write it, over what is there if `replace`.
    Write { replace: bool },
    /// Nothing to write: the entry is finished with this.
    Done(Done),
    /// Parked for a person to decide, or held back for a mirror.
    Parked,
}

/// Generic over the source and destination like [`Shared`]; the local ones
/// by default.
pub(crate) struct Copier<'a, S: Source = SourceRoot, D: Dest = DestRoot> {
    /// The lane this copier reports on; `None` for the conflict resolver.
    pub id: Option<WorkerId>,
    pub sh: &'a Shared<S, D>,
    /// Reused for every small file this copier copies.
    pub buf: Vec<u8>,
    /// The source folder of the last batch, kept open for the next one.
    src_dir: Option<(Arc<Path>, Arc<S::OpenDir>)>,
    /// The group new files get in the destination folder of the last batch.
    new_gid: Option<(Arc<Path>, u32)>,
    /// Reused for every entry's extended attributes.
    pub xbuf: XattrBuf,
    /// Under `--verify`: the digest of the file just copied and the size and
    /// time it was given, taken by the report that follows.
    pub written: Option<(Digest, SrcMeta)>,
    /// Under `--verify`: files copied and not yet read back.
    round: Round,
    /// Whether the next small file's first read asks if its data is in
    /// memory, and whether one of this batch's was not (see `files::batch`).
    pub cache: Cache,
    /// `--move --verify`: copies read back the same whose sources are
    /// still to go.
    pub verified: Vec<(Arc<DirNode>, Item)>,
}

/// What is done after each piece of a file copied through this machine: its
/// progress on `lane` (counted in `progressed`), the pace `--bwlimit` sets,
/// and a pause, skip or cancel honoured between pieces.
pub(crate) fn each_piece<'s, S: Source, D: Dest>(
    sh: &'s Shared<S, D>,
    lane: Option<(WorkerId, u64)>,
    progressed: &'s mut u64,
) -> impl FnMut(u64) -> Result<(), CopyFail> + 's {
    move |n| {
        if let Some((worker, _)) = lane {
            *progressed += n;
            sh.send(Event::Progress { worker, bytes: n });
        }
        sh.control.throttle(n)?;
        crate::engine::data::bytes::between_steps(&sh.control, lane)
    }
}

/// The group a file created in the folder `dir_fd` gets (see `new_file_gid`).
pub(crate) fn folder_gid<S: Source>(sh: &Shared<S, DestRoot>, dir_fd: BorrowedFd<'_>) -> u32 {
    match sh.root().dir_meta(dir_fd) {
        Ok(d) if sh.meta.owner && d.mode & 0o2000 != 0 => d.gid,
        _ => sh.meta.egid,
    }
}

pub(crate) fn entry_kind(k: ItemKind) -> EntryKind {
    match k {
        ItemKind::File => EntryKind::File,
        ItemKind::Symlink => EntryKind::Symlink,
        ItemKind::Special => EntryKind::Special,
    }
}

impl<'a, S: Source, D: Dest> Copier<'a, S, D> {
    pub fn new(id: Option<WorkerId>, sh: &'a Shared<S, D>) -> Self {
        Copier {
            id,
            sh,
            buf: Vec::new(),
            src_dir: None,
            new_gid: None,
            xbuf: XattrBuf::default(),
            written: None,
            round: Round::default(),
            cache: Cache::Unasked,
            verified: Vec::new(),
        }
    }

    /// The open source folder of `dir`, reopened only when it changes.
    pub fn source_dir(&mut self, dir: &DirNode) -> io::Result<Arc<S::OpenDir>> {
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

    fn src_path(&self, dir: &DirNode, name: &OsStr) -> PathBuf {
        self.sh.source.display(&dir.rel).join(name)
    }

    fn dest_path(&self, dir: &DirNode, name: &OsStr) -> PathBuf {
        match &self.sh.root {
            Some(r) => r.display(&dir.rel).join(name),
            None => dir.rel.join(name),
        }
    }

    /// A failure of `item`, named by its destination path when `dest_side`,
    /// by its source path otherwise.
    pub fn error(
        &self,
        dir: &DirNode,
        item: &Item,
        op: Op,
        e: io::Error,
        dest_side: bool,
    ) -> CopyError {
        if !dest_side {
            return CopyError::new(self.src_path(dir, item.source_name()), op, e);
        }
        let path = self.dest_path(dir, &item.name);
        match &self.sh.root {
            Some(root) => root.name_error(path, &item.name, op, e),
            None => CopyError::new(path, op, e),
        }
    }

    /// The lane a file `size` bytes long shows its progress on, said
    /// started; `None` for a small one (or a copier without a lane).
    pub fn lane_for(&self, dir: &DirNode, item: &Item, size: u64) -> Option<(WorkerId, u64)> {
        let worker = self.id.filter(|_| size >= SHOW_PROGRESS_FROM)?;
        let number = self.sh.control.lane_started(worker);
        self.sh.send(Event::Started {
            worker,
            path: dir.rel_path(&item.name),
            size,
            number,
        });
        Some((worker, number))
    }

    pub fn fail(&self, dir: &DirNode, item: &Item, op: Op, e: io::Error, dest_side: bool) -> Done {
        (Outcome::Failed(self.error(dir, item, op, e, dest_side)), 0)
    }

    /// The failure of a file whose size or times changed through every read
    /// of it (see [`as_it_stands`]), with the bytes it had reported.
    pub fn changing(&self, dir: &DirNode, item: &Item, progressed: u64) -> Done {
        let why =
            format!("its size or times changed while it was read, {TRIES_WHEN_CHANGED} times");
        let e = io::Error::other(why);
        (self.fail(dir, item, Op::Changed, e, false).0, progressed)
    }

    /// The destination folder of a batch of `items` in `dir`, opened: `None`
    /// in a dry run into a folder it did not make; `Err` when it cannot be
    /// opened, every entry then failed and reported with why.
    pub fn open_batch_dir(&self, dir: &DirNode, items: &[Item]) -> Result<Option<D::OpenDir>, ()> {
        if self.sh.dry_run && dir.fresh {
            return Ok(None);
        }
        match self.sh.root().open_node(dir) {
            Ok(open) => Ok(Some(open)),
            Err(e) => {
                for item in items {
                    let done = self.fail(dir, item, Op::OpenDir, crate::error::clone_io(&e), true);
                    self.send_entry(dir, item, done, None);
                }
                Err(())
            }
        }
    }

    /// Disk full or read-only: every further file would fail the same way.
    pub fn stop_if_fatal(&self, e: &CopyError) {
        if let Some(fatal) = Fatal::of_copy_error(e)
            && !self.sh.control.is_cancelled()
        {
            self.sh.send(Event::Fatal(fatal));
            self.sh.control.cancel();
        }
    }
    pub fn send_entry(&self, dir: &DirNode, item: &Item, done: Done, digest: Option<Digest>) {
        let (outcome, progressed) = done;
        let kind = entry_kind(item.kind);
        if kind == EntryKind::File && matches!(outcome, Outcome::Copied) && !self.sh.dry_run {
            self.sh.count_unkept();
        }
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
            digest,
        });
    }

    /// The outcome of putting a finished copy in place.
    pub fn placed(&self, result: io::Result<()>, dir: &DirNode, item: &Item) -> Outcome {
        match result {
            Ok(()) => Outcome::Copied,
            // Something appeared under the name since the check: keep it.
            Err(e) if e.raw_os_error() == Some(Errno::EXIST.raw_os_error()) => {
                Outcome::Skipped(SkipReason::Conflict)
            }
            Err(e) => self.fail(dir, item, Op::Rename, e, true).0,
        }
    }
}

/// The conflict check, for any destination of a local source.
impl<S: Source, D: Dest> Copier<'_, S, D> {
    /// The conflict check every kind of entry goes through.
    pub fn check_dest(
        &mut self,
        dir_fd: Option<D::Dir<'_>>,
        dir: &Arc<DirNode>,
        item: &Item,
        same_content: impl FnOnce(D::Dir<'_>, &SrcMeta) -> bool,
    ) -> Verdict {
        let found = match (dir.fresh, dir_fd) {
            (false, Some(fd)) => self.sh.root().stat_at(fd, &item.name),
            _ => Ok(None),
        };
        self.check_found(dir_fd, dir, item, found, same_content)
    }

    /// The conflict check of an entry whose destination was looked at
    /// already (`found`: what is there, from one listing of its folder).
    pub fn check_found(
        &mut self,
        dir_fd: Option<D::Dir<'_>>,
        dir: &Arc<DirNode>,
        item: &Item,
        found: io::Result<Option<SrcMeta>>,
        same_content: impl FnOnce(D::Dir<'_>, &SrcMeta) -> bool,
    ) -> Verdict {
        let existing = match (found, dir_fd) {
            (Ok(Some(d)), Some(fd)) if same_content(fd, &d) => {
                return Verdict::Done((Outcome::UpToDate, 0));
            }
            (Ok(d), _) => d,
            (Err(e), _) => return Verdict::Done(self.fail(dir, item, Op::Stat, e, true)),
        };
        let decision = match self
            .sh
            .decide(&item.meta, existing.as_ref(), self.sh.policy)
        {
            Decision::Skip(SkipReason::Conflict | SkipReason::NotNewer) | Decision::Ask
                if self.grown(dir_fd, dir, item, existing.as_ref()) =>
            {
                Decision::Copy { replace: true }
            }
            d => d,
        };
        match decision {
            Decision::Copy { replace } => Verdict::Write { replace },
            Decision::UpToDate => match (dir_fd, &existing) {
                (Some(fd), Some(dest)) => match self.repair(fd, item, dest) {
                    Ok(()) => Verdict::Done((Outcome::UpToDate, 0)),
                    Err(e) => Verdict::Done(self.fail(dir, item, Op::SetMetadata, e, true)),
                },
                _ => Verdict::Done((Outcome::UpToDate, 0)),
            },
            // A mirror takes the folder away once the copy is complete.
            Decision::Skip(SkipReason::DestIsDir) if self.sh.mirror.is_some() => {
                let dest = existing.expect("a folder was found in the way");
                self.sh.in_the_way.add(dir, item, &dest);
                Verdict::Parked
            }
            Decision::Skip(r) => Verdict::Done((Outcome::Skipped(r), 0)),
            Decision::Ask => match existing {
                Some(dest) if !self.sh.dry_run => {
                    self.sh.ask.park(&self.sh.events, dir, item, &dest);
                    Verdict::Parked
                }
                _ => Verdict::Done((Outcome::Skipped(SkipReason::Conflict), 0)),
            },
        }
    }

    /// A destination file shorter than its source and no later, holding
    /// exactly the source's first bytes, is a copy from before the source
    /// grew (an earlier run's, of a file still being written): bringing it up
    /// to date loses none of its bytes, so it is replaced whatever the policy
    /// for other files. An empty file is no evidence of anything.
    fn grown(
        &mut self,
        dir_fd: Option<D::Dir<'_>>,
        dir: &DirNode,
        item: &Item,
        dest: Option<&SrcMeta>,
    ) -> bool {
        let (Some(fd), Some(dest)) = (dir_fd, dest) else {
            return false;
        };
        let m = &item.meta;
        if item.kind != ItemKind::File
            || !(m.is_file() && dest.is_file())
            || dest.size == 0
            || dest.size >= m.size
            || self.sh.window().later(dest.mtime, m.mtime)
        {
            return false;
        }
        // Bytes are compared through the kernel, from a local source only.
        let related = self.source_dir(dir).and_then(|src| {
            let src = S::local_fd(&src).ok_or(Errno::NOTSUP)?;
            self.sh
                .root()
                .relate_named((src, item.source_name()), (fd, &item.name))
        });
        let grown = matches!(related, Ok(Relation::Prefix));
        if grown {
            self.sh
                .grown
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        grown
    }

    /// A file up to date in its bytes whose owner or permission bits are not
    /// the source's (the destination could not keep them then, or someone
    /// changed them) gets them in place, without copying a byte; counted and
    /// said at the end.
    fn repair(&self, dir_fd: D::Dir<'_>, item: &Item, dest: &SrcMeta) -> io::Result<()> {
        let (sh, m) = (self.sh, &item.meta);
        if sh.dry_run || item.kind != ItemKind::File {
            return Ok(());
        }
        let owner = sh.meta.owner && (dest.uid, dest.gid) != (m.uid, m.gid);
        // A change of owner clears set-id bits: the mode is set again after.
        let mode = sh.meta.modes && (owner || dest.mode & 0o7777 != m.mode & 0o7777);
        if owner {
            sh.root().set_owner_at(dir_fd, &item.name, m)?;
        }
        if mode {
            sh.root().set_mode_at(dir_fd, &item.name, m)?;
        }
        if owner || mode {
            sh.repaired
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(())
    }
}

/// The write side of a local destination, whatever the source.
impl<S: Source> Copier<'_, S, DestRoot> {
    /// Reports an entry, or (a file copied under `--verify`) holds it for
    /// this worker's next round of reading back; a copier without a lane
    /// (the resolver) reads it back at once.
    /// Whether it was held for reading back.
    pub fn finish_entry(&mut self, dir: &Arc<DirNode>, item: &Item, done: Done) -> bool {
        if let (Outcome::Failed(e), _) = &done {
            self.stop_if_fatal(e);
        }
        let written = self.written.take();
        if let ((Outcome::Copied, progressed), Some((digest, stamped))) = (&done, written) {
            let w = Written {
                dir: Arc::clone(dir),
                item: item.clone(),
                progressed: *progressed,
                digest,
                stamped,
            };
            if self.round.push(w) || self.id.is_none() {
                self.verify_round();
            }
            return true;
        }
        self.send_entry(dir, item, done, None);
        false
    }

    /// Reads back the files of this worker's round and reports them.
    pub fn verify_round(&mut self) {
        let files = self.round.take();
        if files.is_empty() {
            return;
        }
        if let Some(worker) = self.id {
            self.sh.send(Event::Verifying {
                worker,
                files: files.len() as u64,
                bytes: files.iter().map(|w| w.item.meta.size).sum(),
            });
        }
        let results = verify::check(self.sh, &files, &mut self.buf);
        // `--move`: a source goes once its copy read back the same (see
        // `moving::remove_verified`).
        let mut moved: Vec<&Written> = Vec::new();
        for (w, r) in files.iter().zip(results) {
            match r {
                Ok(digest) => {
                    if self.sh.moving && w.item.meta.nlink <= 1 {
                        moved.push(w);
                    }
                    self.send_entry(
                        &w.dir,
                        &w.item,
                        (Outcome::Copied, w.progressed),
                        Some(digest),
                    );
                }
                Err(e) => {
                    self.stop_if_fatal(&e);
                    self.send_entry(&w.dir, &w.item, (Outcome::Failed(e), w.progressed), None);
                }
            }
        }
        self.verified.extend(
            moved
                .into_iter()
                .map(|w| (Arc::clone(&w.dir), w.item.clone())),
        );
    }

    /// A file copied outside any round (a hard link's second name copied on
    /// its own): read back at once.
    pub fn verified_now(&mut self, dir: &Arc<DirNode>, item: &Item, outcome: Outcome) -> Outcome {
        let Some((digest, stamped)) = self
            .written
            .take()
            .filter(|_| matches!(outcome, Outcome::Copied))
        else {
            return outcome;
        };
        let w = Written {
            dir: Arc::clone(dir),
            item: item.clone(),
            progressed: 0,
            digest,
            stamped,
        };
        match verify::check(self.sh, std::slice::from_ref(&w), &mut self.buf).pop() {
            Some(Err(e)) => Outcome::Failed(e),
            _ => outcome,
        }
    }

    /// The group a file created in `dir` (open as `dir_fd`) gets: the
    /// folder's own when it is set-gid, else the process's. Asked once per
    /// folder, and only where owners are kept.
    pub fn new_file_gid(&mut self, dir: &DirNode, dir_fd: BorrowedFd<'_>) -> u32 {
        let egid = self.sh.meta.egid;
        if !self.sh.meta.owner {
            return egid;
        }
        if let Some((rel, gid)) = &self.new_gid
            && (Arc::ptr_eq(rel, &dir.rel) || **rel == *dir.rel)
        {
            return *gid;
        }
        let gid = folder_gid(self.sh, dir_fd);
        self.new_gid = Some((Arc::clone(&dir.rel), gid));
        gid
    }

    /// The last steps of a file's copy before it takes its name: the source's
    /// metadata set on the open copy (`new_gid`: the group it was made with),
    /// then, with `--fsync`, data and metadata on the device. `Err`: the
    /// entry's failure, reported.
    pub fn seal(
        &mut self,
        (src, out): (BorrowedFd<'_>, BorrowedFd<'_>),
        (dir, item, meta): (&DirNode, &Item, &SrcMeta),
        new_gid: u32,
    ) -> Result<(), Outcome> {
        let sh = self.sh;
        let attrs = Attrs {
            from: At::Fd(src),
            buf: &mut self.xbuf,
            lost: &sh.kept,
        };
        let sealed = sh
            .meta
            .apply_fd(out, meta, new_gid, attrs)
            .map_err(|e| (Op::SetMetadata, e))
            .and_then(|()| match sh.fsync {
                true => sh.root().sync(out).map_err(|e| (Op::Flush, e)),
                false => Ok(()),
            });
        sealed.map_err(|(op, e)| self.fail(dir, item, op, e, true).0)
    }

    /// A sealed copy given its name (`put`: how that went), and what the
    /// destination lost of it on the way (see `settle`).
    pub fn put_in_place(
        &self,
        put: io::Result<()>,
        (renamed, dir_fd): (bool, Option<BorrowedFd<'_>>),
        (dir, item, meta): (&Arc<DirNode>, &Item, &SrcMeta),
    ) -> Outcome {
        let placed = self.placed(put, dir, item);
        self.settle(renamed, dir_fd, (dir, item, meta), placed)
    }

    /// What the destination did not keep of a file just copied: its holes are
    /// counted; if it was `renamed` into place, the time a rename changed
    /// (fusefat stamps a renamed file with the time of the rename) is set again
    /// under its final name, in `dir_fd` (opened here when `None`).
    pub fn settle(
        &self,
        renamed: bool,
        dir_fd: Option<BorrowedFd<'_>>,
        (dir, item, meta): (&Arc<DirNode>, &Item, &SrcMeta),
        outcome: Outcome,
    ) -> Outcome {
        if !matches!(outcome, Outcome::Copied) {
            return outcome;
        }
        let kept = self.sh.caps.keeps;
        if meta.is_sparse() && !kept.holes {
            self.sh.kept.add(What::Holes, Why::Unsupported);
        }
        if !renamed || kept.rename_keeps_times {
            return outcome;
        }
        let opened;
        let dir_fd = match dir_fd {
            Some(fd) => fd,
            None => match self.sh.root().open_node(dir) {
                Ok(fd) => {
                    opened = fd;
                    opened.as_fd()
                }
                Err(e) => return self.fail(dir, item, Op::SetMetadata, e, true).0,
            },
        };
        match self.sh.root().set_times_at(dir_fd, &item.name, meta) {
            Ok(()) => outcome,
            Err(e) => self.fail(dir, item, Op::SetMetadata, e, true).0,
        }
    }
}

impl Copier<'_> {
    /// A file up to date in its bytes whose extended attributes or ACLs are
    /// not the source's gets them in place (counted with the repaired);
    /// `dir_fd` is the destination folder.
    pub fn repair_attrs(
        &mut self,
        dir_fd: BorrowedFd<'_>,
        dir: &DirNode,
        item: &Item,
    ) -> io::Result<()> {
        let sh = self.sh;
        let wanted = sh.meta.attrs;
        if sh.dry_run || item.kind != ItemKind::File || !(wanted.xattrs || wanted.acls) {
            return Ok(());
        }
        let src = self.source_dir(dir)?;
        let from = crate::engine::meta::xattrs::At::Entry(src.as_fd(), item.source_name());
        let to = crate::engine::meta::xattrs::At::Entry(dir_fd, &item.name);
        if crate::engine::meta::xattrs::repair(from, to, wanted, &mut self.xbuf, &sh.kept)? {
            sh.repaired
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(())
    }
}

/// Fills `buf` from `src` at `at`; a file that ends first got shorter while
/// it was read (`UnexpectedEof`).
pub(crate) fn read_at(src: BorrowedFd<'_>, buf: &mut [u8], at: u64) -> io::Result<()> {
    let mut n = 0;
    while n < buf.len() {
        match rustix::io::pread(src, &mut buf[n..], at + n as u64) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the file got shorter while it was read",
                ));
            }
            Ok(got) => n += got,
            Err(Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

impl<D: Dest> Copier<'_, SourceRoot, D> {
    /// The bytes of a small file here, read whole, with the metadata they
    /// were read under, for a destination that takes them in one piece (a
    /// host, a bucket). `Err(None)`: the file changed while it was read,
    /// for the one-at-a-time way to read again; `Err(Some)`: it failed,
    /// reported.
    pub fn read_whole(
        &mut self,
        node: &Arc<DirNode>,
        item: &Item,
    ) -> Result<(Vec<u8>, SrcMeta), Option<Done>> {
        let opened = self.source_dir(node).and_then(|d| {
            self.sh
                .source
                .open_file(d.as_fd(), item.source_name(), &item.meta, false)
        });
        let (src, meta, _) = opened.map_err(|e| Some(self.fail(node, item, Op::Open, e, false)))?;
        let mut data = vec![0u8; meta.size as usize];
        match read_at(src.as_fd(), &mut data, 0) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Err(None),
            Err(e) => return Err(Some(self.fail(node, item, Op::Read, e, false))),
        }
        let now = crate::engine::os::sys::fstat(src.as_fd());
        if !now.is_ok_and(|now| !meta.changed_since(&SrcMeta::from(&now))) {
            return Err(None);
        }
        Ok((data, meta))
    }
}
