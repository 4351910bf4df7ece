//! The copy engine: a walker thread plans jobs into a bounded channel, a rayon pool
//! of long-lived worker loops copies them, and everything that happens is sent as
//! an [`Event`]. Nothing here knows about terminals.

mod ask;
mod beneath;
pub mod control;
pub(crate) mod copy;
pub(crate) mod dest;
mod finish;
mod job;
pub mod meta;
mod source;
mod stage;
mod sweep;
mod walk;
mod worker;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender};
use globset::{Glob, GlobSet, GlobSetBuilder};

use crate::config::{Config, ConflictPolicy};
use crate::error::InputError;
use crate::event::Event;
pub use control::{Answer, Choice, Control};
use dest::DestRoot;
use meta::MetaPolicy;
use source::SourceRoot;

/// Jobs waiting in the channel: enough to keep every worker fed while the walker
/// works ahead, few enough that memory does not grow with the tree.
const JOB_QUEUE: usize = 64;
/// Events are small; a slow consumer eventually slows the workers, never memory.
const EVENT_QUEUE: usize = 16 * 1024;
/// Descriptors a worker may hold at once: source file and folder, temporary,
/// destination folder.
const FDS_PER_WORKER: u64 = 4;
/// stdio, both roots, the walker's folder, signals, a sweep.
const FDS_RESERVED: u64 = 12;

/// What every thread of one run shares.
pub(crate) struct Shared {
    pub root: Option<DestRoot>,
    pub source: SourceRoot,
    pub meta: MetaPolicy,
    pub control: Control,
    pub events: Sender<Event>,
    pub policy: ConflictPolicy,
    pub dry_run: bool,
    pub dereference: bool,
    pub chunk_threshold: u64,
    pub chunk_size: u64,
    pub ask: ask::Ask,
}

impl Shared {
    pub fn send(&self, e: Event) {
        // A consumer that has gone away cannot be told anything; the run goes on
        // so temporaries are still cleaned up.
        let _ = self.events.send(e);
    }

    pub fn root(&self) -> &DestRoot {
        self.root
            .as_ref()
            .expect("a destination root exists whenever something is written")
    }
}

/// A copy in progress: read its events, steer it with its control handle.
pub struct Running {
    pub events: Receiver<Event>,
    pub control: Control,
    thread: Option<JoinHandle<()>>,
}

impl Running {
    /// Waits for the engine's thread; the event stream has ended with `Done`.
    pub fn join(mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn build_excludes(patterns: &[String]) -> Result<GlobSet, InputError> {
    let mut b = GlobSetBuilder::new();
    for p in patterns {
        let g =
            Glob::new(p).map_err(|e| InputError::BadExclude(p.clone(), e.kind().to_string()))?;
        b.add(g);
    }
    b.build().map_err(|e| InputError::Other(e.to_string()))
}

/// How many descriptors this process may open, after raising the soft limit to
/// the hard one (what the administrator allows, not an arbitrary default).
fn fd_limit() -> u64 {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut lim = getrlimit(Resource::Nofile);
    if lim.current < lim.maximum {
        lim.current = lim.maximum;
        let _ = setrlimit(Resource::Nofile, lim);
        lim = getrlimit(Resource::Nofile);
    }
    lim.current.unwrap_or(u64::MAX)
}

/// Workers the descriptor limit allows, and the walker's share of open folders.
fn fd_budget(limit: u64) -> (usize, usize) {
    let budget = limit.saturating_sub(FDS_RESERVED).max(FDS_PER_WORKER + 1);
    let walker = (budget / 4).clamp(1, 10);
    let workers = ((budget - walker) / FDS_PER_WORKER).max(1);
    (
        usize::try_from(workers).unwrap_or(usize::MAX),
        walker as usize,
    )
}

/// Validates nothing (the caller resolved paths already) but opens or creates the
/// destination and starts the run. Errors here mean nothing was copied.
pub fn start(config: Config) -> Result<Running, InputError> {
    let excludes = build_excludes(&config.excludes)?;
    let src_meta = std::fs::metadata(&config.source)
        .map_err(|e| InputError::SourceUnreadable(config.source.clone(), e))?;
    let source_root = SourceRoot::open(&config.source, config.dereference)
        .map_err(|e| InputError::SourceUnreadable(config.source.clone(), e))?;

    let dest_existed = config.dest.is_dir();
    let root = if config.dry_run && !dest_existed {
        None
    } else {
        if !dest_existed {
            std::fs::create_dir_all(&config.dest)
                .map_err(|e| InputError::DestCreate(config.dest.clone(), e))?;
        }
        Some(
            DestRoot::open(&config.dest)
                .map_err(|e| InputError::DestCreate(config.dest.clone(), e))?,
        )
    };

    let (fd_workers, walker_fds) = fd_budget(fd_limit());
    let max_workers = config.jobs.max(16).min(fd_workers);
    let control = Control::new(config.jobs.min(max_workers), max_workers);
    let (ev_tx, ev_rx) = crossbeam_channel::bounded(EVENT_QUEUE);
    let shared = Arc::new(Shared {
        root,
        source: source_root,
        meta: MetaPolicy::current(),
        control: control.clone(),
        events: ev_tx,
        policy: config.policy,
        dry_run: config.dry_run,
        dereference: config.dereference,
        chunk_threshold: config.chunk_threshold.max(1),
        chunk_size: config.chunk_size.max(64 * 1024),
        ask: ask::Ask::new(control.clone()),
    });
    if fd_workers < config.jobs {
        shared.send(Event::Notice(format!(
            "the open-file limit allows {fd_workers} workers, not {}",
            config.jobs
        )));
    }

    let source = config.source.clone();
    let filter = walk::Filter {
        excludes,
        only: config.only.clone(),
    };
    let thread = std::thread::Builder::new()
        .name("convoy-engine".into())
        .spawn(move || {
            run(
                &shared,
                &source,
                (&src_meta).into(),
                !dest_existed,
                filter,
                walker_fds,
            );
        })
        .map_err(|e| InputError::Other(format!("cannot start the engine thread: {e}")))?;
    Ok(Running {
        events: ev_rx,
        control,
        thread: Some(thread),
    })
}

fn run(
    shared: &Arc<Shared>,
    source: &Path,
    src_meta: meta::SrcMeta,
    dest_fresh: bool,
    filter: walk::Filter,
    walker_fds: usize,
) {
    let threads = shared.control.max_workers();
    let pool = match rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("convoy-worker-{i}"))
        .build()
    {
        Ok(p) => p,
        Err(e) => {
            shared.send(Event::Notice(format!("cannot start workers: {e}")));
            shared.control.cancel();
            shared.send(Event::Done { cancelled: true });
            return;
        }
    };
    let (job_tx, job_rx) = crossbeam_channel::bounded(JOB_QUEUE);
    let walker = {
        let shared = Arc::clone(shared);
        let source = source.to_path_buf();
        std::thread::Builder::new()
            .name("convoy-walker".into())
            .spawn(move || {
                walk::Walker::new(&shared, &source, src_meta, dest_fresh, filter, walker_fds)
                    .run(&job_tx)
            })
    };
    let walker = match walker {
        Ok(w) => w,
        Err(e) => {
            shared.send(Event::Notice(format!("cannot start the walker: {e}")));
            shared.send(Event::Done { cancelled: true });
            return;
        }
    };
    let stop_resolver = AtomicBool::new(false);
    let answers = shared.control.take_answers();
    std::thread::scope(|s| {
        if let Some(answers) = answers.filter(|_| shared.policy == ConflictPolicy::Ask) {
            s.spawn(|| ask::resolve_loop(shared, answers, &stop_resolver));
        }
        pool.broadcast(|ctx| worker::run(ctx.index(), shared, job_rx.clone()));
        // Workers are gone: a walker still blocked on a full queue must see it closed.
        drop(job_rx);
        // Conflicts still open keep the run open until answered (or cancelled).
        while shared.ask.pending() > 0 && !shared.control.is_cancelled() {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        stop_resolver.store(true, Ordering::Release);
    });
    let planned = walker.join().unwrap_or_default();
    finish::finish(shared, planned);
    shared.send(Event::Done {
        cancelled: shared.control.is_cancelled(),
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptor_budget_caps_workers_under_a_tiny_limit() {
        let (workers, walker) = fd_budget(32);
        assert!(workers * FDS_PER_WORKER as usize + walker + FDS_RESERVED as usize <= 32);
        assert!(workers >= 1 && walker >= 1);
        assert_eq!(fd_budget(1 << 20).1, 10);
    }
}
