//! Starting a run and seeing it through: the destination root, the descriptor
//! budget, then the threads (walker, a rayon pool of long-lived worker loops,
//! the conflict resolver) and, once the workers are done, the finish.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender};

use crate::engine::control::ask::Ask;
use crate::engine::write::caps::Caps;

use crate::engine::control::handle::Control;

use crate::config::{Chunking, Config, ConflictPolicy, Placing};
use crate::engine::bucket::dest::BucketDest;
use crate::engine::bucket::source::BucketSource;
use crate::engine::bucket::store::Store;
use crate::engine::copy::job::Job;
use crate::engine::copy::pair::Writes;
use crate::engine::meta::attrs::{FileMeta, MetaPolicy, SrcMeta, TimeWindow};
use crate::engine::meta::kept::NotKept;
use crate::engine::plan::deferred::Planned;
use crate::engine::plan::filter::Filter;
use crate::engine::read::Source;
use crate::engine::read::source::SourceRoot;
use crate::engine::sftp::dest::SftpDest;
use crate::engine::sftp::session::{Remote, Session};
use crate::engine::sftp::source::SftpSource;
use crate::engine::shared::Shared;
use crate::engine::walk;
use crate::engine::worker;
use crate::engine::write::Dest;
use crate::engine::write::caps::Learned;
use crate::engine::write::dest::DestRoot;
use crate::error::InputError;
use crate::event::{Event, Fatal, Notice};
use crate::exit::ExitCode;
use crate::location::Bucket;
use crate::retry;

/// Jobs waiting in the channel at most; what bounds memory is the backlog's
/// count of entries (see `backlog`), this only a backstop.
const JOB_QUEUE: usize = 1024;
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
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let t = tempfile::tempdir()?;
/// # let (src, dst) = (t.path().join("src"), t.path().join("dst"));
/// # std::fs::create_dir_all(src.join("sub"))?;
/// # std::fs::write(src.join("sub/a.txt"), "hello")?;
/// let refused = convoy::CopyTree::new(&src, &dst)
///     .on_conflict(convoy::ConflictPolicy::Ask)
///     .run()
///     .unwrap_err();
/// assert_eq!(refused.exit_code(), convoy::ExitCode::Usage);
/// # Ok(())
/// # }
/// ```
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
    if let Some(remote) = config.remote.clone() {
        return start_remote(config, remote);
    }
    if let Some(remote) = config.remote_source.clone() {
        return start_from_remote(config, remote);
    }
    if let Some(bucket) = config.bucket.clone() {
        return start_to_bucket(config, bucket);
    }
    if let Some(bucket) = config.bucket_source.clone() {
        return start_from_bucket(config, bucket);
    }
    let (source_root, walk) = open_source(&config)?;
    let own = config.dest_keeps_own_metadata;
    let (mut root, dest_fresh) = open_destination(&config.dest, config.dry_run, own)?;
    if let Some(r) = &mut root {
        r.durable = config.fsync;
        r.direct_writes = crate::engine::data::direct::wanted(config.direct, r.root_fd());
    }
    if config.mirror.is_some() {
        mirror_paths(&config)?;
    }
    let (backup, backup_rel) = match &config.backup_dir {
        Some(dir) => backup_dir(&config, dir, root.as_ref())?,
        None => (None, None),
    };
    if let Some(r) = &mut root {
        r.backup = backup.clone();
    }

    let dest_dev = root
        .as_ref()
        .and_then(|r| rustix::fs::fstat(r.root_fd()).ok())
        .map(|st| st.st_dev);
    // What the destination keeps decides what is set and how times compare.
    let wants_owner = config.preserve.owner && rustix::process::geteuid().is_root();
    let file_meta = match &root {
        Some(r) if !config.dry_run => r.probe_file_meta(wants_owner),
        _ => FileMeta::EXACT,
    };
    let learned = root
        .as_ref()
        .map_or_else(Arc::default, |r| Arc::clone(&r.learned));
    let (control, fd_workers) = workers(&config, config.jobs);
    let (engine, ev_tx, ev_rx) = engine_thread();
    let ends = (root, source_root, (file_meta, learned));
    let mut shared = shared_state(&config, ends, &control, ev_tx);
    shared.backup = backup;
    shared.backup_rel = backup_rel;
    shared.dest_dev = dest_dev;
    if fd_workers < config.jobs {
        shared.send(Event::Notice(Notice::FdLimit {
            allowed: fd_workers,
            asked: config.jobs,
        }));
    }
    launch(
        engine,
        shared,
        walk(dest_fresh),
        config.mirror,
        (control, ev_rx),
    )
}

/// Workers for a destination over SFTP at least: a worker waits on its
/// batch's answers (its small files all in flight at once, a big file's
/// writes pipelined), and the connection carries every worker's together.
const REMOTE_WORKERS: usize = 16;

/// Refuses, before anything is written, what a run to `place` cannot do
/// yet (`how`: where it goes, for the message).
fn not_yet(config: &Config, place: &str, how: &str) -> Result<(), InputError> {
    let not_yet = [
        (config.move_sources, "--move"),
        (config.mirror.is_some(), "--mirror"),
        (config.backup_dir.is_some(), "--backup-dir"),
        (
            config.reflink == crate::config::Reflink::Always,
            "--reflink=always",
        ),
    ];
    match not_yet.iter().find(|(on, _)| *on) {
        Some((_, what)) => Err(InputError::Other(format!(
            "{place}: {what} is not available {how} yet"
        ))),
        None => Ok(()),
    }
}

/// A copy into a folder on another machine over SFTP: ssh is started and the
/// folder opened (made) before anything else; what a remote run cannot do
/// yet is refused here, before anything is written.
fn start_remote(mut config: Config, remote: Remote) -> Result<Running, StartError> {
    let place = format!("{}:{}", remote.host, config.dest.display());
    not_yet(&config, &place, "over SFTP")?;
    let (source_root, walk) = open_source(&config)?;
    let session = Session::connect(&remote).map_err(|e| InputError::Other(e.to_string()))?;
    let session = Arc::new(session);
    // `convoy f host:dir` where dir is a folder there: f goes into it.
    if let (Placing::ToNameUnlessFolder, Some((_, name))) = (config.placing, &config.rename) {
        let there = config.dest.join(name);
        let mut fs = session.sftp().fs();
        if session
            .run(fs.metadata(&there))
            .is_ok_and(|m| m.file_type().is_some_and(|t| t.is_dir()))
        {
            config.dest = there;
            config.rename = None;
        }
    }
    let named = || {
        let mut p = std::ffi::OsString::from(format!("{}:", remote.host));
        p.push(config.dest.as_os_str());
        std::path::PathBuf::from(p)
    };
    let (mut root, dest_fresh) = SftpDest::open(session, &config.dest, config.dry_run)
        .map_err(|e| InputError::DestCreate(named(), e))?;
    let wants_owner = config.preserve.owner && rustix::process::geteuid().is_root();
    let file_meta = match root.as_mut() {
        Some(r) if !config.dry_run => {
            let owners = r.probe(wants_owner);
            r.keeps(owners)
        }
        _ => FileMeta::EXACT,
    };
    let look_first = root
        .as_ref()
        .is_some_and(|r| r.naming == crate::engine::sftp::dest::Naming::LookThenRename);
    let learned = root
        .as_ref()
        .map_or_else(Arc::default, |r| Arc::clone(&r.learned));
    let (control, _) = workers(&config, config.jobs.max(REMOTE_WORKERS));
    let (engine, ev_tx, ev_rx) = engine_thread();
    let ends = (root, source_root, (file_meta, learned));
    let mut shared = shared_state(&config, ends, &control, ev_tx);
    // A file goes whole, its writes pipelined on the connection; the data
    // passes through this machine (no clones, no kernel copy).
    shared.chunking = Chunking {
        threshold: u64::MAX,
        size: u64::MAX,
    };
    shared.reflink = crate::config::Reflink::Never;
    // No device to wait for from here: `--flush` flushes each file on the
    // server as `--fsync` does.
    shared.fsync = (config.fsync || config.flush) && !config.dry_run;
    shared.flush = false;
    if look_first {
        shared.send(Event::Notice(Notice::LookThenRename));
    }
    launch(engine, shared, walk(dest_fresh), None, (control, ev_rx))
}

/// A copy into a bucket's prefix: the store is asked for the prefix's
/// listing before anything else (the bucket is there, the credentials open
/// it), what a run into a bucket cannot do is refused, and the uploads a
/// killed run left open are aborted.
fn start_to_bucket(mut config: Config, bucket: Bucket) -> Result<Running, StartError> {
    not_yet(&config, &bucket.to_string(), "into a bucket")?;
    let (source_root, walk) = open_source(&config)?;
    let refused = |e: crate::engine::bucket::store::BucketError| InputError::Other(e.to_string());
    let mut store = Store::open(&bucket).map_err(refused)?;
    let mut listed = store.check().map_err(refused)?;
    // `convoy f s3://b/x` where x/ holds objects: f goes into it.
    if let (Placing::ToNameUnlessFolder, Some((_, name))) = (config.placing, &config.rename) {
        let name = name.to_string_lossy().into_owned();
        if listed
            .common_prefixes
            .iter()
            .any(|p| p.filename() == Some(name.as_str()))
        {
            config.dest = config.dest.join(&name);
            config.rename = None;
            let mut inside = bucket.clone();
            inside.prefix = config.dest.to_string_lossy().into_owned();
            store = Store::open(&inside).map_err(refused)?;
            listed = store.check().map_err(refused)?;
        }
    }
    let fresh = listed;
    let dest_fresh = fresh.objects.is_empty() && fresh.common_prefixes.is_empty();
    if !config.dry_run {
        crate::engine::bucket::uploads::sweep(&store);
    }
    let root = BucketDest::new(Arc::new(store));
    // Modes, owners and times go as metadata (times to the nanosecond);
    // a bucket has no links, special files or folders of its own.
    let wants_owner = config.preserve.owner;
    let file_meta = FileMeta {
        window: TimeWindow::EXACT,
        modes: true,
        owners: wants_owner,
        hard_links: false,
        symlinks: false,
        nodes: false,
        ignores_case: false,
        attrs: crate::engine::meta::xattrs::Held {
            user: false,
            acls: false,
        },
        holes: false,
        rename_keeps_times: true,
        renames_keep_handles: false,
    };
    let (control, _) = workers(&config, config.jobs.max(REMOTE_WORKERS));
    let (engine, ev_tx, ev_rx) = engine_thread();
    let ends = (Some(root), source_root, (file_meta, Arc::default()));
    let mut shared = shared_state(&config, ends, &control, ev_tx);
    // A file goes whole (its parts are the upload's own), through this
    // machine; a bucket holds no extended attributes.
    shared.chunking = Chunking {
        threshold: u64::MAX,
        size: u64::MAX,
    };
    shared.reflink = crate::config::Reflink::Never;
    shared.fsync = false;
    shared.flush = false;
    shared.meta.attrs.xattrs = false;
    shared.meta.attrs.acls = false;
    launch(engine, shared, walk(dest_fresh), None, (control, ev_rx))
}

/// A copy from a bucket's prefix into a folder here: the store is asked
/// what the prefix is (a folder of keys, one object, or nothing) before the
/// destination is made.
fn start_from_bucket(mut config: Config, bucket: Bucket) -> Result<Running, StartError> {
    let named = config.source_named();
    let not_yet = [
        (config.move_sources, "--move"),
        (config.mirror.is_some(), "--mirror"),
        (config.backup_dir.is_some(), "--backup-dir"),
        (config.dereference, "--dereference"),
    ];
    if let Some((_, what)) = not_yet.iter().find(|(on, _)| *on) {
        return Err(InputError::Other(format!(
            "{}: {what} is not available from a bucket yet",
            named.display()
        ))
        .into());
    }
    let refused = |e: crate::engine::bucket::store::BucketError| InputError::Other(e.to_string());
    let store = Store::open(&bucket).map_err(refused)?;
    store.check().map_err(refused)?;
    let source = BucketSource::new(Arc::new(store));
    let unreadable = |e| InputError::SourceUnreadable(named.clone(), e);
    let meta = source.look().map_err(unreadable)?.ok_or_else(|| {
        unreadable(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "the bucket holds no such object or prefix",
        ))
    })?;
    let source = match meta.is_dir() && config.placing != Placing::Into {
        true => source,
        false => {
            place_one(&mut config, &named, meta.is_dir())?;
            let mut inside = bucket.clone();
            inside.prefix = config.source.to_string_lossy().into_owned();
            if inside.prefix == "." {
                inside.prefix = String::new();
                config.source = std::path::PathBuf::new();
            }
            let store = Store::open(&inside).map_err(refused)?;
            BucketSource::new(Arc::new(store))
        }
    };
    let named = config.source_named();
    let filter = Filter::new(&config.excludes, config.only.clone())?;
    let src_meta = source.folder_meta();
    into_here(
        &config,
        source,
        (named, src_meta, filter),
        TimeWindow::EXACT,
    )
}

/// A copy from a folder on another machine over SFTP into one here: ssh is
/// started and the source looked at before the destination is made; what
/// such a run cannot do yet is refused here, before anything is written.
fn start_from_remote(mut config: Config, remote: Remote) -> Result<Running, StartError> {
    let named = config.source_named();
    let not_yet = [
        (config.move_sources, "--move"),
        (config.mirror.is_some(), "--mirror"),
        (config.backup_dir.is_some(), "--backup-dir"),
        (config.dereference, "--dereference"),
        (
            config.reflink == crate::config::Reflink::Always,
            "--reflink=always",
        ),
    ];
    if let Some((_, what)) = not_yet.iter().find(|(on, _)| *on) {
        return Err(InputError::Other(format!(
            "{}: {what} is not available from another machine yet",
            named.display()
        ))
        .into());
    }
    let session = Session::connect(&remote).map_err(|e| InputError::Other(e.to_string()))?;
    let session = Arc::new(session);
    let unreadable = |e| InputError::SourceUnreadable(named.clone(), e);
    let meta = SftpSource::look(&session, &config.source).map_err(unreadable)?;
    if !meta.is_dir() || config.placing == Placing::Into {
        place_one(&mut config, &named, meta.is_dir())?;
    }
    let named = config.source_named();
    let filter = Filter::new(&config.excludes, config.only.clone())?;
    let (source, src_meta) = SftpSource::open(session, &config.source, named.clone())
        .map_err(|e| InputError::SourceUnreadable(named.clone(), e))?;
    // SFTP tells times in whole seconds: a copy made another way (to the
    // nanosecond) is up to date within one.
    let window = crate::engine::sftp::attrs::WINDOW;
    into_here(&config, source, (named, src_meta, filter), window)
}

/// The rest of a copy from elsewhere (a host, a bucket) into a folder here:
/// the destination opened (made), each file taken whole through this
/// machine, no extended attributes or ACLs asked for (neither shows them),
/// times up to date within `window` at least.
fn into_here<S: Source + 'static>(
    config: &Config,
    source: S,
    (named, src_meta, filter): (std::path::PathBuf, SrcMeta, Filter),
    window: TimeWindow,
) -> Result<Running, StartError>
where
    DestRoot: Writes<S>,
{
    let own = config.dest_keeps_own_metadata;
    let (mut root, dest_fresh) = open_destination(&config.dest, config.dry_run, own)?;
    if let Some(r) = &mut root {
        r.durable = config.fsync;
    }
    let dest_dev = root
        .as_ref()
        .and_then(|r| rustix::fs::fstat(r.root_fd()).ok())
        .map(|st| st.st_dev);
    let wants_owner = config.preserve.owner && rustix::process::geteuid().is_root();
    let mut file_meta = match &root {
        Some(r) if !config.dry_run => r.probe_file_meta(wants_owner),
        _ => FileMeta::EXACT,
    };
    file_meta.window = TimeWindow(file_meta.window.0.max(window.0));
    let learned = root
        .as_ref()
        .map_or_else(Arc::default, |r| Arc::clone(&r.learned));
    let (control, _) = workers(config, config.jobs.max(REMOTE_WORKERS));
    let (engine, ev_tx, ev_rx) = engine_thread();
    let ends = (root, source, (file_meta, learned));
    let mut shared = shared_state(config, ends, &control, ev_tx);
    shared.dest_dev = dest_dev;
    shared.chunking = Chunking {
        threshold: u64::MAX,
        size: u64::MAX,
    };
    shared.reflink = crate::config::Reflink::Never;
    shared.meta.attrs.xattrs = false;
    shared.meta.attrs.acls = false;
    let walk = WalkFrom {
        source: named,
        src_meta,
        dest_fresh,
        filter,
        walker_fds: fd_budget(fd_limit()).1,
    };
    launch(engine, shared, walk, None, (control, ev_rx))
}

/// A SOURCE on another machine that is a file, or one of several sources:
/// its parent folder is walked for it alone, and it goes into DEST under its
/// own name, or (a file whose DEST is no folder here, nor written `DEST/`)
/// to the name DEST.
fn place_one(config: &mut Config, named: &Path, is_dir: bool) -> Result<(), InputError> {
    let name = config.source.file_name().map(std::ffi::OsStr::to_os_string);
    let Some(name) = name else {
        return Err(InputError::Other(format!(
            "{}: name a folder or a file to copy into DEST",
            named.display()
        )));
    };
    let parent = match config.source.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let slash = config.dest.as_os_str().as_encoded_bytes().ends_with(b"/");
    let dest_is_dir =
        retry::interrupted(|| std::fs::metadata(&config.dest)).is_ok_and(|m| m.is_dir());
    if !is_dir && config.placing != Placing::Into && !slash && !dest_is_dir {
        let to = config.dest.file_name().map(std::ffi::OsStr::to_os_string);
        let to = to.ok_or_else(|| InputError::DestNotDir(config.dest.clone()))?;
        config.dest = match config.dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => std::path::PathBuf::from("."),
        };
        config.rename = Some((name.clone(), to));
    }
    config.source = parent;
    config.only = Some(std::collections::HashSet::from([std::path::PathBuf::from(
        name,
    )]));
    config.dest_keeps_own_metadata = true;
    Ok(())
}

/// The source folder opened, and the walk of it, given whether the
/// destination is fresh.
fn open_source(
    config: &Config,
) -> Result<(SourceRoot, impl FnOnce(bool) -> WalkFrom + use<>), StartError> {
    let filter = Filter::new(&config.excludes, config.only.clone())?;
    let unreadable = |e| InputError::SourceUnreadable(config.source.clone(), e);
    let src_meta = retry::interrupted(|| std::fs::metadata(&config.source)).map_err(unreadable)?;
    let source_root = SourceRoot::open(&config.source, config.dereference).map_err(unreadable)?;
    let source = config.source.clone();
    let walk = move |dest_fresh| WalkFrom {
        source,
        src_meta: (&src_meta).into(),
        dest_fresh,
        filter,
        walker_fds: fd_budget(fd_limit()).1,
    };
    Ok((source_root, walk))
}

/// The run's control handle, `jobs` workers within what the descriptor limit
/// allows (and that limit's count of workers).
fn workers(config: &Config, jobs: usize) -> (Control, usize) {
    let (fd_workers, _) = fd_budget(fd_limit());
    let max_workers = jobs.max(16).min(fd_workers);
    let control = Control::new(jobs.min(max_workers), max_workers);
    control.set_bwlimit(config.bwlimit);
    (control, fd_workers)
}

/// What every thread of a run shares, from `config`, for a destination
/// `root` that keeps `file_meta`.
fn shared_state<S: Source, D: Dest>(
    config: &Config,
    (root, source, (file_meta, learned)): (Option<D>, S, (FileMeta, Arc<Learned>)),
    control: &Control,
    events: Sender<Event>,
) -> Shared<S, D> {
    Shared {
        root,
        source,
        meta: MetaPolicy::current(config.preserve, file_meta),
        control: control.clone(),
        events,
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
        not_made: Default::default(),
        repaired: Default::default(),
        backlog: Default::default(),
        grown: Default::default(),
        caps: Caps::new(file_meta, learned),
        dest_keeps_own_metadata: config.dest_keeps_own_metadata,
        rename: config.rename.clone(),
        moving: config.move_sources,
        mirror: config.mirror,
        in_the_way: Default::default(),
        trouble: Default::default(),
        backup: None,
        backup_rel: None,
        dest_dev: None,
        whole_folders: config.move_sources
            && config.excludes.is_empty()
            && config
                .only
                .as_ref()
                .is_none_or(|o| o.iter().all(|p| p.components().count() == 1)),
        removing: Default::default(),
        something_failed: Default::default(),
    }
}

/// The engine's thread, started before its work is known and handed it once
/// it runs: if it cannot start (a container at its thread limit), the work
/// is done on the caller's thread instead, its events kept until it ends.
struct EngineThread {
    give: Sender<Box<dyn FnOnce() + Send>>,
    thread: std::io::Result<JoinHandle<()>>,
}

fn engine_thread() -> (EngineThread, Sender<Event>, Receiver<Event>) {
    let (give, take) = crossbeam_channel::bounded::<Box<dyn FnOnce() + Send>>(1);
    let thread = std::thread::Builder::new()
        .name(THREAD_PREFIX.into())
        .spawn(move || {
            if let Ok(work) = take.recv() {
                work();
            }
        });
    let (ev_tx, ev_rx) = match &thread {
        Ok(_) => crossbeam_channel::bounded(EVENT_QUEUE),
        Err(_) => crossbeam_channel::unbounded(),
    };
    (EngineThread { give, thread }, ev_tx, ev_rx)
}

/// Where the walk starts, and what it needs.
struct WalkFrom {
    source: std::path::PathBuf,
    src_meta: SrcMeta,
    dest_fresh: bool,
    filter: Filter,
    walker_fds: usize,
}

/// Hands the run to the engine's thread (or runs it here).
fn launch<S: Source + 'static, D: Writes<S> + 'static>(
    engine: EngineThread,
    shared: Shared<S, D>,
    walk: WalkFrom,
    mirror: Option<crate::config::Mirror>,
    (control, ev_rx): (Control, Receiver<Event>),
) -> Result<Running, StartError> {
    let shared = Arc::new(shared);
    let window = shared.window();
    if window != TimeWindow::EXACT {
        shared.send(Event::Notice(Notice::TimeWindow(window.0)));
    }
    if let Err(e) = &engine.thread {
        shared.send(Event::Notice(Notice::FewerThreads(format!(
            "cannot start the engine's thread ({e}): the copy runs on the caller's, \
             and its progress is shown when it ends"
        ))));
    }
    let mirror = mirror.map(|m| (walk.filter.clone(), m));
    let (ending, ended) = crossbeam_channel::bounded::<()>(0);
    let work = move || {
        // Dropped as the work ends, after the last event.
        let _ending = ending;
        let ran = catch_unwind(AssertUnwindSafe(|| run(&shared, walk, mirror.as_ref())));
        if let Err(panic) = ran {
            shared.thread_died("the engine", &*panic);
            shared.send(Event::Done { cancelled: true });
        }
    };
    let thread = match engine.thread {
        Ok(thread) => {
            engine.give.send(Box::new(work)).map_err(|_| {
                StartError::Thread(std::io::Error::other("the engine's thread ended"))
            })?;
            Some(thread)
        }
        Err(_) => {
            work();
            None
        }
    };
    Ok(Running {
        events: ev_rx,
        control,
        thread,
        ended,
    })
}

/// A mirror deletes what DEST has and SOURCE has not: with the source inside
/// DEST, that would be the source itself.
fn mirror_paths(config: &Config) -> Result<(), InputError> {
    let (Ok(source), Ok(dest)) = (
        std::fs::canonicalize(&config.source),
        std::fs::canonicalize(&config.dest),
    ) else {
        return Ok(());
    };
    if source.starts_with(&dest) {
        return Err(InputError::Other(format!(
            "{}: --mirror: the source is inside the destination {}, and a mirror deletes \
             what the source does not hold",
            crate::format::DisplayPath(&config.source),
            crate::format::DisplayPath(&config.dest)
        )));
    }
    Ok(())
}

/// The `--backup-dir` folder, opened (made), and where it is in DEST when
/// inside it (a mirror leaves it alone). It may not be inside the source
/// (the copy would take it), nor DEST or a folder holding DEST.
fn backup_dir(
    config: &Config,
    dir: &Path,
    root: Option<&DestRoot>,
) -> Result<
    (
        Option<Arc<crate::engine::write::backup::Backup>>,
        Option<std::path::PathBuf>,
    ),
    InputError,
> {
    let refuse = |why: &str| InputError::BackupDir(dir.to_path_buf(), why.into());
    let backup = crate::engine::write::backup::Backup::open(
        dir,
        root.map(DestRoot::root_fd),
        config.dry_run,
    )?;
    let real = |p: &Path| std::fs::canonicalize(p).ok();
    let (at, source, dest) = (
        real(dir).unwrap_or_else(|| std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf())),
        real(&config.source),
        real(&config.dest).unwrap_or_else(|| {
            std::path::absolute(&config.dest).unwrap_or_else(|_| config.dest.clone())
        }),
    );
    if source.as_ref().is_some_and(|s| at.starts_with(s)) {
        return Err(refuse("it is inside the source, so the copy would take it"));
    }
    if dest.starts_with(&at) {
        return Err(refuse("it is the destination or holds it"));
    }
    let rel = at.strip_prefix(&dest).ok().map(Path::to_path_buf);
    Ok((backup.map(Arc::new), rel))
}

/// Opens the destination, creating it (and its parents) when missing; says
/// whether this run created it, since nothing in a fresh folder can be in the
/// way. A failure to look is an error, never taken for "missing". In a dry run
/// nothing is created.
fn open_destination(
    dest: &Path,
    dry_run: bool,
    keeps_own: bool,
) -> Result<(Option<DestRoot>, bool), InputError> {
    use std::io::ErrorKind::{AlreadyExists, NotFound};
    let cannot = |e| InputError::DestCreate(dest.to_path_buf(), e);
    // Private until the copy is done (its mode is the source's at the end),
    // so nobody lists names meant to be private while it is filled; a folder
    // that only receives entries gets the usual mode, as mkdir gives it.
    let mode = if keeps_own { 0o777 } else { 0o700 };
    let make = || {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new().mode(mode).create(dest)
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

/// What the walk needs, handed to the walker's thread once it runs (or
/// kept, to walk on the engine's own thread when that one cannot start).
struct Walk<S: Source, D: Writes<S>> {
    shared: Arc<Shared<S, D>>,
    from: WalkFrom,
    jobs: Sender<Job>,
}

impl<S: Source, D: Writes<S>> Walk<S, D> {
    fn run(self) -> Planned {
        let f = self.from;
        walk::walk(
            &self.shared,
            &f.source,
            f.src_meta,
            f.dest_fresh,
            f.filter,
            f.walker_fds,
            &self.jobs,
        )
    }
}

/// A pool of up to `asked` worker threads: as many as the system lets
/// start (halving after a refusal), with why not all; `None` when not even
/// one can, and the engine's thread does the copying.
fn worker_pool(asked: usize) -> (Option<rayon::ThreadPool>, Option<String>) {
    let mut n = asked;
    let mut refused = None;
    while n >= 1 {
        let built = rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .thread_name(|i| format!("{THREAD_PREFIX}-worker-{i}"))
            .build();
        match built {
            Ok(pool) => return (Some(pool), refused),
            Err(e) => refused = Some(e.to_string()),
        }
        n /= 2;
    }
    (None, refused)
}

fn run<S: Source + 'static, D: Writes<S> + 'static>(
    shared: &Arc<Shared<S, D>>,
    from: WalkFrom,
    mirror: Option<&(Filter, crate::config::Mirror)>,
) {
    // Threads that cannot start make the run go on with those that did:
    // the engine's own thread walks, or copies, or does both in turn.
    let asked = shared.control.max_workers();
    let (give, take) = crossbeam_channel::bounded::<Walk<S, D>>(1);
    let walker = std::thread::Builder::new()
        .name(format!("{THREAD_PREFIX}-walker"))
        .spawn(move || take.recv().map(Walk::run).unwrap_or_default());
    let (pool, refused) = worker_pool(asked);
    let started = pool
        .as_ref()
        .map_or(0, rayon::ThreadPool::current_num_threads);
    // With neither a walker nor a worker beside it, this thread walks the
    // whole tree first, into a queue without bound, then copies it.
    let (job_tx, job_rx) = match (&walker, &pool) {
        (Err(_), None) => crossbeam_channel::unbounded(),
        _ => crossbeam_channel::bounded(JOB_QUEUE),
    };
    let walk = Walk {
        shared: Arc::clone(shared),
        from,
        jobs: job_tx,
    };
    let mut here = match &walker {
        Ok(_) => give.send(walk).err().map(|e| e.into_inner()),
        Err(_) => Some(walk),
    };
    if let Some(why) = refused.or_else(|| walker.as_ref().err().map(ToString::to_string)) {
        shared.control.cap_workers(started.max(1));
        let walker_words = match &walker {
            Ok(_) => "",
            Err(_) => ", the folders walked on the engine's thread",
        };
        shared.send(Event::Notice(Notice::FewerThreads(format!(
            "only {started} of {asked} worker threads could start ({why}): the copy goes on \
             with {} workers{walker_words}",
            started.max(1)
        ))));
    }
    let mut planned_here = None;
    let (stop_resolver, resolver_stops) = crossbeam_channel::bounded::<()>(0);
    let answers = shared.control.take_answers();
    std::thread::scope(|s| {
        if let Some(answers) = answers.filter(|_| shared.policy == ConflictPolicy::Ask) {
            let resolver = std::thread::Builder::new()
                .name(format!("{THREAD_PREFIX}-resolver"))
                .spawn_scoped(s, || {
                    let ran = catch_unwind(AssertUnwindSafe(|| {
                        crate::engine::copy::resolver::resolve_loop(shared, answers, resolver_stops)
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
        match &pool {
            Some(pool) => pool.in_place_scope(|scope| {
                scope.spawn_broadcast(|_, ctx| worker::run(ctx.index(), shared, job_rx.clone()));
                // Dropping the walk's sender ends the workers' queue.
                planned_here = here.take().map(Walk::run);
            }),
            None => {
                planned_here = here.take().map(Walk::run);
                worker::run(0, shared, job_rx.clone());
            }
        }
        // Workers are gone: a walker still blocked on a full queue must see it closed.
        drop(job_rx);
        // Conflicts still open keep the run open until answered (or cancelled).
        while shared.ask.pending() > 0 && !shared.control.is_cancelled() {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        drop(stop_resolver);
    });
    // The walker catches its own panics and returns what it planned.
    let planned = match (planned_here, walker) {
        (Some(planned), _) => planned,
        (None, Ok(walker)) => walker.join().unwrap_or_default(),
        (None, Err(_)) => Planned::default(),
    };
    D::finish(shared, planned, mirror, format!("{THREAD_PREFIX}-flush"));
    shared.send(Event::Done {
        cancelled: shared.control.is_cancelled(),
    });
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
