//! Starting a run and seeing it through: the destination root, the descriptor
//! budget, then the threads (walker, a rayon pool of long-lived worker loops,
//! the conflict resolver) and, once the workers are done, the finish.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::Receiver;

use super::ask::Ask;
use super::kernel_copy::KernelCopy;

use super::control::Control;

use super::dest::DestRoot;
use super::finish;
use super::flush;
use super::kept::NotKept;
use super::meta::{FileMeta, MetaPolicy, SrcMeta, TimeWindow};
use super::resolver;
use super::shared::Shared;
use super::source::SourceRoot;
use super::walk::{self, Filter};
use super::worker;
use crate::config::{Chunking, Config, ConflictPolicy};
use crate::error::InputError;
use crate::event::{Event, Fatal, Notice};
use crate::exit::ExitCode;
use crate::retry;

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
    ended: Receiver<()>,
}

impl Running {
    /// Disconnects when the engine's thread ends, its last event (`Done`)
    /// already sent: a consumer that folds events on a timer wakes for the
    /// end at once instead of at its next tick.
    pub fn ended(&self) -> Receiver<()> {
        self.ended.clone()
    }

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

/// Why a run could not start. Nothing was copied either way.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Bad input: the source, the destination or an option (exit code 2).
    #[error(transparent)]
    Input(#[from] InputError),
    /// The system would not start the engine's thread (exit code 1).
    #[error("cannot start the copy: {0}")]
    Thread(std::io::Error),
}

impl StartError {
    /// The exit code the command gives for it: 2 for bad input, 1 otherwise.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            StartError::Input(_) => ExitCode::Usage,
            StartError::Thread(_) => ExitCode::Partial,
        }
    }
}

/// Starts copying `config.source` into `config.dest` (whose paths the caller has
/// checked): opens or creates the destination and starts the engine's threads.
/// An error here means nothing was copied.
pub fn start(config: Config) -> Result<Running, StartError> {
    let filter = Filter::new(&config.excludes, config.only.clone())?;
    let unreadable = |e| InputError::SourceUnreadable(config.source.clone(), e);
    let src_meta = retry::interrupted(|| std::fs::metadata(&config.source)).map_err(unreadable)?;
    let source_root = SourceRoot::open(&config.source, config.dereference).map_err(unreadable)?;
    let (mut root, dest_fresh) = open_destination(&config.dest, config.dry_run)?;
    if let Some(r) = &mut root {
        r.durable = config.fsync;
        r.direct_writes = super::direct::wanted(config.direct, r.root_fd());
    }

    // What the destination keeps decides what is set and how times compare.
    let wants_owner = config.preserve.owner && rustix::process::geteuid().is_root();
    let file_meta = match &root {
        Some(r) if !config.dry_run => r.probe_file_meta(wants_owner),
        _ => FileMeta::EXACT,
    };
    let (fd_workers, walker_fds) = fd_budget(fd_limit());
    let max_workers = config.jobs.max(16).min(fd_workers);
    let control = Control::new(config.jobs.min(max_workers), max_workers);
    control.set_bwlimit(config.bwlimit);
    let (ev_tx, ev_rx) = crossbeam_channel::bounded(EVENT_QUEUE);
    let shared = Arc::new(Shared {
        root,
        source: source_root,
        meta: MetaPolicy::current(config.preserve, file_meta),
        control: control.clone(),
        events: ev_tx,
        policy: config.policy,
        dry_run: config.dry_run,
        dereference: config.dereference,
        chunking: Chunking {
            threshold: config.chunking.threshold.max(1),
            size: config.chunking.size.max(64 * 1024),
        },
        reflink: config.reflink,
        verify: config.verify && !config.dry_run,
        fsync: config.fsync && !config.dry_run,
        flush: (config.flush || config.fsync) && !config.dry_run,
        ask: Ask::new(control.clone()),
        kept: NotKept::default(),
        file_meta,
        kernel: KernelCopy::default(),
    });
    if file_meta.window != TimeWindow::EXACT {
        shared.send(Event::Notice(Notice::TimeWindow(file_meta.window.0)));
    }
    if fd_workers < config.jobs {
        shared.send(Event::Notice(Notice::FdLimit {
            allowed: fd_workers,
            asked: config.jobs,
        }));
    }

    let source = config.source.clone();
    let (ending, ended) = crossbeam_channel::bounded::<()>(0);
    let thread = std::thread::Builder::new()
        .name(THREAD_PREFIX.into())
        .spawn(move || {
            // Dropped as the thread ends, after the last event.
            let _ending = ending;
            let ran = catch_unwind(AssertUnwindSafe(|| {
                run(
                    &shared,
                    &source,
                    (&src_meta).into(),
                    dest_fresh,
                    filter,
                    walker_fds,
                )
            }));
            if let Err(panic) = ran {
                shared.thread_died("the engine", &*panic);
                shared.send(Event::Done { cancelled: true });
            }
        })
        .map_err(StartError::Thread)?;
    Ok(Running {
        events: ev_rx,
        control,
        thread: Some(thread),
        ended,
    })
}

/// Opens the destination, creating it (and its parents) when missing; says
/// whether this run created it, since nothing in a fresh folder can be in the
/// way. A failure to look is an error, never taken for "missing". In a dry run
/// nothing is created.
fn open_destination(dest: &Path, dry_run: bool) -> Result<(Option<DestRoot>, bool), InputError> {
    use std::io::ErrorKind::{AlreadyExists, NotFound};
    let cannot = |e| InputError::DestCreate(dest.to_path_buf(), e);
    // Private until the copy is done (its mode is the source's at the end),
    // so nobody lists names meant to be private while it is filled.
    let make = || {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new().mode(0o700).create(dest)
    };
    let created = if dry_run {
        match retry::interrupted(|| std::fs::metadata(dest)) {
            Ok(_) => false,
            Err(e) if e.kind() == NotFound => return Ok((None, true)),
            Err(e) => return Err(cannot(e)),
        }
    } else {
        match retry::interrupted(make) {
            Ok(()) => true,
            Err(e) if e.kind() == AlreadyExists => false,
            Err(e) if e.kind() == NotFound => {
                let parent = dest.parent().unwrap_or(Path::new("/"));
                retry::interrupted(|| std::fs::create_dir_all(parent)).map_err(cannot)?;
                match retry::interrupted(make) {
                    Ok(()) => true,
                    Err(e) if e.kind() == AlreadyExists => false,
                    Err(e) => return Err(cannot(e)),
                }
            }
            Err(e) => return Err(cannot(e)),
        }
    };
    let root = DestRoot::open(dest).map_err(cannot)?;
    Ok((Some(root), created))
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
            let error = std::io::Error::other(e.to_string());
            return stop_before_start(shared, "the workers", error);
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
            // The workers wait on the queue the walker would fill: it closes.
            return stop_before_start(shared, "the walker", error);
        }
    };
    let (stop_resolver, resolver_stops) = crossbeam_channel::bounded::<()>(0);
    let answers = shared.control.take_answers();
    std::thread::scope(|s| {
        if let Some(answers) = answers.filter(|_| shared.policy == ConflictPolicy::Ask) {
            let resolver = std::thread::Builder::new()
                .name(format!("{THREAD_PREFIX}-resolver"))
                .spawn_scoped(s, || {
                    let ran = catch_unwind(AssertUnwindSafe(|| {
                        resolver::resolve_loop(shared, answers, resolver_stops)
                    }));
                    if let Err(panic) = ran {
                        shared.thread_died("the conflict resolver", &*panic);
                    }
                });
            if let Err(error) = resolver {
                shared.send(Event::Fatal(Fatal::Start {
                    what: "the conflict resolver",
                    error,
                }));
                shared.control.cancel();
            }
        }
        pool.broadcast(|ctx| worker::run(ctx.index(), shared, job_rx.clone()));
        // Workers are gone: a walker still blocked on a full queue must see it closed.
        drop(job_rx);
        // Conflicts still open keep the run open until answered (or cancelled).
        while shared.ask.pending() > 0 && !shared.control.is_cancelled() {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        drop(stop_resolver);
    });
    // The walker catches its own panics and returns what it planned.
    let planned = walker.join().unwrap_or_default();
    finish::finish(shared, planned);
    if shared.flush {
        flush::to_device(shared, format!("{THREAD_PREFIX}-flush"));
    }
    shared.send(Event::Done {
        cancelled: shared.control.is_cancelled(),
    });
}

/// A thread the run needs could not be started: nothing was planned, so
/// nothing needs finishing; the run ends as a failure that says why.
fn stop_before_start(shared: &Shared, what: &'static str, error: std::io::Error) {
    shared.send(Event::Fatal(Fatal::Start { what, error }));
    shared.control.cancel();
    shared.send(Event::Done { cancelled: true });
}

/// Runs a copy to its end for unit tests: the fatal message (if any) and
/// whether the run was cancelled. A run that does not end is a failure.
#[cfg(test)]
pub(crate) fn run_to_end(config: Config) -> (Option<String>, bool) {
    let r = start(config).unwrap();
    let mut fatal = None;
    loop {
        match r.events.recv_timeout(std::time::Duration::from_secs(30)) {
            Ok(Event::Fatal(why)) => fatal = Some(why.to_string()),
            Ok(Event::Done { cancelled }) => {
                r.join();
                return (fatal, cancelled);
            }
            Ok(_) => {}
            Err(e) => panic!("the run hung: {e}"),
        }
    }
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
