//! What a worker does with its jobs, for each kind of destination: the local
//! one through folder handles and the kernel's data path (`files`, `chunked`),
//! one on another machine over SFTP (`upload`). Chosen at compile time: the
//! local copy is what it was before there was any other.

use super::copier::Copier;
use super::job::Job;
use crate::engine::plan::deferred::Planned;
use crate::engine::plan::filter::Filter;
use crate::engine::read::source::SourceRoot;
use crate::engine::sftp::dest::SftpDest;
use crate::engine::shared::Shared;
use crate::engine::write::Dest;
use crate::engine::write::dest::DestRoot;

pub(crate) trait Writes: Dest + Sized {
    /// Copies one job's entries and reports each.
    fn job(c: &mut Copier<'_, SourceRoot, Self>, job: Job);
    /// Work held for later (files to read back, sources to remove), done
    /// when the worker would otherwise wait, or stops.
    fn catch_up(c: &mut Copier<'_, SourceRoot, Self>);
    /// After the workers: what was deferred (second names of hard links,
    /// folders' own metadata), a mirror's deletions, the flush.
    fn finish(
        sh: &Shared<SourceRoot, Self>,
        planned: Planned,
        mirror: Option<&(Filter, crate::config::Mirror)>,
        flush_thread: String,
    );
    /// Copies the entries a person decided about (`--on-conflict ask`)
    /// until `stop` closes.
    fn resolve(
        sh: &Shared<SourceRoot, Self>,
        answers: crossbeam_channel::Receiver<crate::engine::control::handle::Answer>,
        stop: crossbeam_channel::Receiver<()>,
    );
}

impl Writes for DestRoot {
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

    fn resolve(
        sh: &Shared,
        answers: crossbeam_channel::Receiver<crate::engine::control::handle::Answer>,
        stop: crossbeam_channel::Receiver<()>,
    ) {
        super::resolver::resolve_loop(sh, answers, stop);
    }
}

impl Writes for SftpDest {
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

    /// A remote run never asks (refused at its start): nothing is parked.
    fn resolve(
        _: &Shared<SourceRoot, Self>,
        _: crossbeam_channel::Receiver<crate::engine::control::handle::Answer>,
        stop: crossbeam_channel::Receiver<()>,
    ) {
        let _ = stop.recv();
    }
}
