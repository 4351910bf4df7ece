//! What a worker does with its jobs, for each kind of destination: the local
//! one through folder handles and the kernel's data path (`files`, `chunked`),
//! one on another machine over SFTP (`upload`), and from another machine
//! (`download`). Chosen at compile time: the
//! local copy is what it was before there was any other.

use std::os::fd::BorrowedFd;
use std::path::Path;
use std::sync::Arc;

use super::copier::{Copier, Done};
use super::job::Job;
use crate::engine::bucket::dest::BucketDest;
use crate::engine::bucket::source::BucketSource;
use crate::engine::plan::deferred::Planned;
use crate::engine::plan::filter::Filter;
use crate::engine::plan::item::{Item, ItemKind};
use crate::engine::plan::node::DirNode;
use crate::engine::read::Source;
use crate::engine::read::source::SourceRoot;
use crate::engine::sftp::dest::SftpDest;
use crate::engine::sftp::source::SftpSource;
use crate::engine::shared::Shared;
use crate::engine::write::Dest;
use crate::engine::write::dest::DestRoot;

pub(crate) trait Writes<S: Source>: Dest + Sized {
    /// Copies one job's entries and reports each.
    fn job(c: &mut Copier<'_, S, Self>, job: Job);
    /// Work held for later (files to read back, sources to remove), done
    /// when the worker would otherwise wait, or stops.
    fn catch_up(c: &mut Copier<'_, S, Self>);
    /// After the workers: what was deferred (second names of hard links,
    /// folders' own metadata), a mirror's deletions, the flush.
    fn finish(
        sh: &Shared<S, Self>,
        planned: Planned,
        mirror: Option<&(Filter, crate::config::Mirror)>,
        flush_thread: String,
    );
    /// Writes an entry whose fate a person decided (`--on-conflict ask`),
    /// over what is there if `replace`.
    fn copy_decided(
        c: &mut Copier<'_, S, Self>,
        dir: Self::Dir<'_>,
        node: &Arc<DirNode>,
        item: &Item,
        replace: bool,
    ) -> Done;
    /// Reports an entry (or holds it to be read back first).
    fn report(c: &mut Copier<'_, S, Self>, node: &Arc<DirNode>, item: &Item, done: Done);
}

impl Writes<SourceRoot> for DestRoot {
    fn job(c: &mut Copier<'_>, job: Job) {
        let (dir, in_place) = {
            let (d, p) = job.dir();
            (std::sync::Arc::clone(d), p)
        };
        match job {
            Job::Batch(b) => super::files::batch(c, b),
            Job::Chunk(chunk) => super::chunked::copy_chunk(c, &chunk),
        }
        if let Some(root) = c.sh.root.as_ref().filter(|_| in_place) {
            root.job_done(&dir);
        }
    }

    fn catch_up(c: &mut Copier<'_>) {
        c.verify_round();
        super::moving::remove_verified(c);
    }

    fn finish(
        sh: &Shared,
        planned: Planned,
        mirror: Option<&(Filter, crate::config::Mirror)>,
        flush_thread: String,
    ) {
        super::finish::finish(sh, planned);
        if let Some((filter, m)) = mirror {
            super::mirror::prune(sh, filter, m.max_delete, m.confirm);
        }
        if sh.flush {
            crate::engine::trust::flush::to_device(sh, flush_thread);
        }
    }

    fn copy_decided(
        c: &mut Copier<'_>,
        dir: BorrowedFd<'_>,
        node: &Arc<DirNode>,
        item: &Item,
        replace: bool,
    ) -> Done {
        let fd = Some(dir);
        match item.kind {
            ItemKind::File => {
                super::files::copy_file_as_it_stands(c, fd, node, item, replace, false)
            }
            ItemKind::Symlink => {
                super::files::copy_symlink(c, fd, node, item, (replace, false), None)
            }
            ItemKind::Special => super::special::copy_special(c, fd, node, item, replace),
        }
    }

    fn report(c: &mut Copier<'_>, node: &Arc<DirNode>, item: &Item, done: Done) {
        c.finish_entry(node, item, done);
    }
}

impl Writes<SourceRoot> for SftpDest {
    fn job(c: &mut Copier<'_, SourceRoot, Self>, job: Job) {
        match job {
            Job::Batch(b) => super::upload::batch(c, b),
            // A remote run splits no file into pieces (`Chunking` of the
            // run): a piece would be a bug, reported as one.
            Job::Chunk(_) => panic!("a piece of a file was queued for a remote destination"),
        }
    }

    fn catch_up(_: &mut Copier<'_, SourceRoot, Self>) {}

    fn finish(
        sh: &Shared<SourceRoot, Self>,
        planned: Planned,
        _: Option<&(Filter, crate::config::Mirror)>,
        _: String,
    ) {
        super::upload_finish::finish(sh, planned);
    }

    fn copy_decided(
        c: &mut Copier<'_, SourceRoot, Self>,
        dir: &Path,
        node: &Arc<DirNode>,
        item: &Item,
        replace: bool,
    ) -> Done {
        super::upload::copy_decided(c, dir, node, item, replace)
    }

    fn report(c: &mut Copier<'_, SourceRoot, Self>, node: &Arc<DirNode>, item: &Item, done: Done) {
        super::upload::report(c, node, item, done);
    }
}

impl Writes<SftpSource> for DestRoot {
    fn job(c: &mut Copier<'_, SftpSource, Self>, job: Job) {
        let (dir, in_place) = {
            let (d, p) = job.dir();
            (Arc::clone(d), p)
        };
        match job {
            Job::Batch(b) => super::download::batch(c, b),
            // A run from another machine splits no file into pieces.
            Job::Chunk(_) => panic!("a piece of a file was queued from a remote source"),
        }
        if let Some(root) = c.sh.root.as_ref().filter(|_| in_place) {
            root.job_done(&dir);
        }
    }

    fn catch_up(c: &mut Copier<'_, SftpSource, Self>) {
        c.verify_round();
    }

    fn finish(
        sh: &Shared<SftpSource, Self>,
        planned: Planned,
        _: Option<&(Filter, crate::config::Mirror)>,
        flush_thread: String,
    ) {
        super::finish::finish_from(sh, planned);
        if sh.flush {
            crate::engine::trust::flush::to_device(sh, flush_thread);
        }
    }

    fn copy_decided(
        c: &mut Copier<'_, SftpSource, Self>,
        dir: BorrowedFd<'_>,
        node: &Arc<DirNode>,
        item: &Item,
        replace: bool,
    ) -> Done {
        super::download::copy_decided(c, dir, node, item, replace)
    }

    fn report(c: &mut Copier<'_, SftpSource, Self>, node: &Arc<DirNode>, item: &Item, done: Done) {
        super::download::report(c, node, item, done);
    }
}

impl Writes<SourceRoot> for BucketDest {
    fn job(c: &mut Copier<'_, SourceRoot, Self>, job: Job) {
        match job {
            Job::Batch(b) => super::to_bucket::batch(c, b),
            // A run into a bucket splits no file into pieces (`Chunking` of
            // the run): its parts are the upload's own.
            Job::Chunk(_) => panic!("a piece of a file was queued for a bucket"),
        }
    }

    fn catch_up(_: &mut Copier<'_, SourceRoot, Self>) {}

    fn finish(
        sh: &Shared<SourceRoot, Self>,
        planned: Planned,
        _: Option<&(Filter, crate::config::Mirror)>,
        _: String,
    ) {
        super::to_bucket::finish(sh, planned);
    }

    fn copy_decided(
        c: &mut Copier<'_, SourceRoot, Self>,
        dir: &str,
        node: &Arc<DirNode>,
        item: &Item,
        replace: bool,
    ) -> Done {
        super::to_bucket::copy_decided(c, dir, node, item, replace)
    }

    fn report(c: &mut Copier<'_, SourceRoot, Self>, node: &Arc<DirNode>, item: &Item, done: Done) {
        super::to_bucket::report(c, node, item, done);
    }
}

impl Writes<BucketSource> for DestRoot {
    fn job(c: &mut Copier<'_, BucketSource, Self>, job: Job) {
        let (dir, in_place) = {
            let (d, p) = job.dir();
            (Arc::clone(d), p)
        };
        match job {
            Job::Batch(b) => super::from_bucket::batch(c, b),
            // A run from a bucket splits no file into pieces.
            Job::Chunk(_) => panic!("a piece of a file was queued from a bucket"),
        }
        if let Some(root) = c.sh.root.as_ref().filter(|_| in_place) {
            root.job_done(&dir);
        }
    }

    fn catch_up(c: &mut Copier<'_, BucketSource, Self>) {
        c.verify_round();
    }

    fn finish(
        sh: &Shared<BucketSource, Self>,
        planned: Planned,
        _: Option<&(Filter, crate::config::Mirror)>,
        flush_thread: String,
    ) {
        super::finish::finish_from(sh, planned);
        if sh.flush {
            crate::engine::trust::flush::to_device(sh, flush_thread);
        }
    }

    fn copy_decided(
        c: &mut Copier<'_, BucketSource, Self>,
        dir: BorrowedFd<'_>,
        node: &Arc<DirNode>,
        item: &Item,
        replace: bool,
    ) -> Done {
        super::from_bucket::copy_decided(c, dir, node, item, replace)
    }

    fn report(
        c: &mut Copier<'_, BucketSource, Self>,
        node: &Arc<DirNode>,
        item: &Item,
        done: Done,
    ) {
        super::from_bucket::report(c, node, item, done);
    }
}
