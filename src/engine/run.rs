//! Starting a run and seeing it through: the destination root, the descriptor
//! budget, then the threads (walker, a rayon pool of long-lived worker loops,
//! the conflict resolver) and, once the workers are done, the finish.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use crossbeam_channel::Receiver;

use super::ask::Ask;
use super::control::Control;
use super::dest::DestRoot;
use super::finish;
use super::meta::{MetaPolicy, SrcMeta};
use super::resolver;
use super::shared::Shared;
use super::source::SourceRoot;
use super::walk::{self, Filter};
use super::worker;
use crate::config::{Chunking, Config, ConflictPolicy};
use crate::error::InputError;
use crate::event::{Event, Notice};

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

/// Every thread the engine starts is named with this prefix, so a face can
/// tell the engine's threads (whose panics the engine reports as a stopped run)
/// from its own.
pub const THREAD_PREFIX: &str = "convoy-engine";

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

/// Starts copying `config.source` into `config.dest` (whose paths the caller has
/// checked): opens or creates the destination and starts the engine's threads.
/// An error here means nothing was copied.
pub fn start(config: Config) -> Result<Running, InputError> {
    let filter = Filter::new(&config.excludes, config.only.clone())?;
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
        chunking: Chunking {
            threshold: config.chunking.threshold.max(1),
            size: config.chunking.size.max(64 * 1024),
        },
        ask: Ask::new(control.clone()),
    });
    if fd_workers < config.jobs {
        shared.send(Event::Notice(Notice::FdLimit {
            allowed: fd_workers,
            asked: config.jobs,
        }));
    }

    let source = config.source.clone();
    let thread = std::thread::Builder::new()
        .name(THREAD_PREFIX.into())
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
    src_meta: SrcMeta,
    dest_fresh: bool,
    filter: Filter,
    walker_fds: usize,
) {
    let threads = shared.control.max_workers();
    let pool = match rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("{THREAD_PREFIX}-worker-{i}"))
        .build()
    {
        Ok(p) => p,
        Err(e) => {
            shared.send(Event::Notice(Notice::Start {
                what: "workers",
                error: std::io::Error::other(e.to_string()),
            }));
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
            .name(format!("{THREAD_PREFIX}-walker"))
            .spawn(move || {
                walk::walk(
                    &shared, &source, src_meta, dest_fresh, filter, walker_fds, &job_tx,
                )
            })
    };
    let walker = match walker {
        Ok(w) => w,
        Err(error) => {
            shared.send(Event::Notice(Notice::Start {
                what: "the walker",
                error,
            }));
            shared.send(Event::Done { cancelled: true });
            return;
        }
    };
    let stop_resolver = AtomicBool::new(false);
    let answers = shared.control.take_answers();
    std::thread::scope(|s| {
        if let Some(answers) = answers.filter(|_| shared.policy == ConflictPolicy::Ask) {
            s.spawn(|| resolver::resolve_loop(shared, answers, &stop_resolver));
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
