//! The library's entry point: a copy described with a builder, then run to
//! its end for a [`Summary`], the way a test suite lays out a fixture.

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::config::{Config, ConflictPolicy, Preserve, Reflink};
use crate::engine::{self, StartError};
use crate::error::InputError;
use crate::exit::ExitCode;
use crate::progress::Progress;

/// A copy of the *contents* of a source folder into a destination folder
/// (created if missing, merged into if it exists), as `convoy --batch` makes
/// it: exact (bytes, modes, times, owners as root, symlinks, hard links,
/// holes, extended attributes and ACLs), never a half-written file under its
/// final name, never outside the destination.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let t = tempfile::tempdir()?;
/// let fixture = t.path().join("fixture");
/// std::fs::create_dir_all(fixture.join("data"))?;
/// std::fs::write(fixture.join("data/a.txt"), "hello")?;
/// std::fs::write(fixture.join("scratch.tmp"), "left out")?;
///
/// let work = t.path().join("work");
/// let summary = convoy::CopyTree::new(&fixture, &work)
///     .exclude("*.tmp")
///     .run()?;
///
/// assert!(summary.is_success(), "{summary:?}");
/// assert_eq!(summary.files_copied, 1);
/// assert_eq!(std::fs::read_to_string(work.join("data/a.txt"))?, "hello");
/// assert!(!work.join("scratch.tmp").exists());
///
/// // Run again, and nothing needs copying.
/// let again = convoy::CopyTree::new(&fixture, &work).exclude("*.tmp").run()?;
/// assert_eq!((again.files_copied, again.up_to_date), (0, 1));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct CopyTree {
    config: Config,
    /// Several sources (or a file): each goes into the destination under its
    /// own name, as `convoy SOURCE... DEST` copies them.
    sources: Option<Vec<PathBuf>>,
}

/// What a finished copy did: the counts `convoy --batch` prints, every
/// failure with its reason, and the exit code the command would give.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let t = tempfile::tempdir()?;
/// # let (src, dst) = (t.path().join("src"), t.path().join("dst"));
/// # std::fs::create_dir_all(src.join("sub"))?;
/// # std::fs::write(src.join("sub/a.txt"), "hello")?;
/// let summary = convoy::CopyTree::new(&src, &dst).run()?;
/// assert_eq!((summary.files_copied, summary.bytes_copied), (1, 5));
/// assert_eq!(summary.dirs, 1);
/// assert!(summary.failures.is_empty());
/// assert_eq!(summary.exit_code, convoy::ExitCode::Success);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Files written (or, in a dry run, that would be).
    pub files_copied: u64,
    /// Bytes of the files written.
    pub bytes_copied: u64,
    /// Files left alone because the destination had them with the same size
    /// and modification time.
    pub up_to_date: u64,
    /// Entries skipped: conflicts the policy kept, FIFOs and devices.
    pub skipped: u64,
    /// Entries that could not be copied; see `failures`.
    pub failed: u64,
    /// Folders copied.
    pub dirs: u64,
    /// Symlinks copied.
    pub symlinks: u64,
    /// Second (and further) names of hard-linked files, linked again.
    pub hard_links: u64,
    /// FIFOs, sockets and device nodes made.
    pub specials: u64,
    /// Files read back from the device and found equal (with `verify`).
    pub verified: u64,
    /// Entries a mirror deleted, or moved into the backup folder (what
    /// folders held counted).
    pub deleted: u64,
    /// Every entry that failed, with its path and why.
    pub failures: Vec<Failure>,
    /// What leaves the destination other than asked though no entry failed
    /// (a temporary that could not be removed, a flush that failed).
    pub problems: Vec<String>,
    /// Why the run stopped early (a full disk, a read-only destination).
    pub fatal: Option<String>,
    /// The exit code `convoy --batch` gives for this run.
    pub exit_code: ExitCode,
}

/// One entry that could not be copied.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let t = tempfile::tempdir()?;
/// # let (src, dst) = (t.path().join("src"), t.path().join("dst"));
/// # std::fs::create_dir_all(src.join("sub"))?;
/// # std::fs::write(src.join("sub/a.txt"), "hello")?;
/// // Followed, a link to its own folder is a loop: reported, the rest copied.
/// std::os::unix::fs::symlink(".", src.join("sub/loop"))?;
/// let summary = convoy::CopyTree::new(&src, &dst).dereference(true).run()?;
/// assert!(!summary.is_success());
/// let failure = &summary.failures[0];
/// assert!(failure.path.ends_with("sub/loop"), "{failure:?}");
/// println!("{}: {}", failure.path.display(), failure.reason);
/// assert_eq!(std::fs::read_to_string(dst.join("sub/a.txt"))?, "hello");
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The source or destination path that failed.
    pub path: PathBuf,
    /// The operation and the system's reason, as convoy prints them.
    pub reason: String,
}

impl Summary {
    /// Everything copied or already up to date: the exit code is 0.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let t = tempfile::tempdir()?;
    /// # let (src, dst) = (t.path().join("src"), t.path().join("dst"));
    /// # std::fs::create_dir_all(src.join("sub"))?;
    /// # std::fs::write(src.join("sub/a.txt"), "hello")?;
    /// assert!(convoy::CopyTree::new(&src, &dst).run()?.is_success());
    /// # Ok(())
    /// # }
    /// ```
    pub fn is_success(&self) -> bool {
        self.exit_code == ExitCode::Success
    }

    fn from_progress(p: &Progress) -> Summary {
        Summary {
            files_copied: p.files_copied,
            bytes_copied: p.bytes_copied,
            up_to_date: p.up_to_date,
            skipped: p.skipped,
            failed: p.failed,
            dirs: p.dirs,
            symlinks: p.symlinks,
            hard_links: p.hard_links,
            specials: p.specials,
            verified: p.verified,
            deleted: p.pruned,
            failures: p
                .failures
                .iter()
                .map(|f| Failure {
                    path: f.path.clone(),
                    reason: f.reason.clone(),
                })
                .collect(),
            problems: p.problems.clone(),
            fatal: p.fatal.clone(),
            exit_code: p.exit_code(),
        }
    }
}

impl CopyTree {
    /// A copy of what `source` holds into `dest`, with convoy's defaults:
    /// two workers per core, conflicts skipped (an existing destination file
    /// that differs is kept), symlinks copied as symlinks, everything kept.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let t = tempfile::tempdir()?;
    /// # let (src, dst) = (t.path().join("src"), t.path().join("dst"));
    /// # std::fs::create_dir_all(src.join("sub"))?;
    /// # std::fs::write(src.join("sub/a.txt"), "hello")?;
    /// convoy::CopyTree::new(&src, &dst).run()?;
    /// assert_eq!(std::fs::read_to_string(dst.join("sub/a.txt"))?, "hello");
    /// # Ok(())
    /// # }
    /// ```
    pub fn new(source: impl AsRef<Path>, dest: impl AsRef<Path>) -> CopyTree {
        CopyTree {
            config: Config::new(source.as_ref(), dest.as_ref()),
            sources: None,
        }
    }

    /// A copy of each of `sources` (folders, files, symlinks) into the
    /// folder `dest` under its own name, as `cp -a a b c dest/` makes it;
    /// a single file with a `dest` that is not a folder is copied to that
    /// name. Every source is checked before anything is written.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let t = tempfile::tempdir()?;
    /// let (photos, notes) = (t.path().join("photos"), t.path().join("notes.txt"));
    /// std::fs::create_dir(&photos)?;
    /// std::fs::write(photos.join("a.jpg"), "jpeg")?;
    /// std::fs::write(&notes, "a note")?;
    /// let backup = t.path().join("backup");
    /// let summary = convoy::CopyTree::sources([&photos, &notes], &backup).run()?;
    /// assert_eq!(summary.files_copied, 2);
    /// assert_eq!(std::fs::read_to_string(backup.join("photos/a.jpg"))?, "jpeg");
    /// assert_eq!(std::fs::read_to_string(backup.join("notes.txt"))?, "a note");
    /// # Ok(())
    /// # }
    /// ```
    pub fn sources(
        sources: impl IntoIterator<Item = impl AsRef<Path>>,
        dest: impl AsRef<Path>,
    ) -> CopyTree {
        let sources: Vec<PathBuf> = sources
            .into_iter()
            .map(|s| s.as_ref().to_path_buf())
            .collect();
        let first = sources.first().cloned().unwrap_or_default();
        CopyTree {
            config: Config::new(first, dest.as_ref()),
            sources: Some(sources),
        }
    }

    /// Worker threads (at least one).
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let t = tempfile::tempdir()?;
    /// # let (src, dst) = (t.path().join("src"), t.path().join("dst"));
    /// # std::fs::create_dir_all(src.join("sub"))?;
    /// # std::fs::write(src.join("sub/a.txt"), "hello")?;
    /// let summary = convoy::CopyTree::new(&src, &dst).jobs(1).run()?;
    /// assert_eq!(summary.files_copied, 1);
    /// # Ok(())
    /// # }
    /// ```
    pub fn jobs(mut self, n: usize) -> CopyTree {
        self.config.jobs = n.max(1);
        self
    }

    /// What to do with a destination file that exists and differs.
    /// [`ConflictPolicy::Ask`] needs a person: [`run`](CopyTree::run) refuses it.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let t = tempfile::tempdir()?;
    /// # let (src, dst) = (t.path().join("src"), t.path().join("dst"));
    /// # std::fs::create_dir_all(src.join("sub"))?;
    /// # std::fs::write(src.join("sub/a.txt"), "hello")?;
    /// use convoy::ConflictPolicy;
    /// std::fs::create_dir_all(dst.join("sub"))?;
    /// std::fs::write(dst.join("sub/a.txt"), "theirs")?;
    /// // The default keeps what differs, and says so (exit code 1)...
    /// let kept = convoy::CopyTree::new(&src, &dst).run()?;
    /// assert_eq!(kept.skipped, 1);
    /// assert_eq!(std::fs::read_to_string(dst.join("sub/a.txt"))?, "theirs");
    /// // ...Overwrite replaces it.
    /// convoy::CopyTree::new(&src, &dst).on_conflict(ConflictPolicy::Overwrite).run()?;
    /// assert_eq!(std::fs::read_to_string(dst.join("sub/a.txt"))?, "hello");
    /// # Ok(())
    /// # }
    /// ```
    pub fn on_conflict(mut self, policy: ConflictPolicy) -> CopyTree {
        self.config.policy = policy;
        self
    }

    /// Leaves out paths (relative to the source) matching `glob`; a matching
    /// folder is left out whole. May be given many times.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let t = tempfile::tempdir()?;
    /// # let (src, dst) = (t.path().join("src"), t.path().join("dst"));
    /// # std::fs::create_dir_all(src.join("sub"))?;
    /// # std::fs::write(src.join("sub/a.txt"), "hello")?;
    /// std::fs::write(src.join("scratch.tmp"), "left out")?;
    /// convoy::CopyTree::new(&src, &dst).exclude("*.tmp").exclude("cache/**").run()?;
    /// assert!(!dst.join("scratch.tmp").exists());
    /// # Ok(())
    /// # }
    /// ```
    pub fn exclude(mut self, glob: impl Into<String>) -> CopyTree {
        self.config.excludes.push(glob.into());
        self
    }

    /// Follows symlinks in the source and copies what they point to.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let t = tempfile::tempdir()?;
    /// # let (src, dst) = (t.path().join("src"), t.path().join("dst"));
    /// # std::fs::create_dir_all(src.join("sub"))?;
    /// # std::fs::write(src.join("sub/a.txt"), "hello")?;
    /// std::os::unix::fs::symlink("sub/a.txt", src.join("link"))?;
    /// convoy::CopyTree::new(&src, &dst).dereference(true).run()?;
    /// assert!(dst.join("link").symlink_metadata()?.is_file());
    /// # Ok(())
    /// # }
    /// ```
    pub fn dereference(mut self, yes: bool) -> CopyTree {
        self.config.dereference = yes;
        self
    }

    /// Reports what would be copied and writes nothing.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let t = tempfile::tempdir()?;
    /// # let (src, dst) = (t.path().join("src"), t.path().join("dst"));
    /// # std::fs::create_dir_all(src.join("sub"))?;
    /// # std::fs::write(src.join("sub/a.txt"), "hello")?;
    /// let summary = convoy::CopyTree::new(&src, &dst).dry_run(true).run()?;
    /// assert_eq!(summary.files_copied, 1);
    /// assert!(!dst.exists());
    /// # Ok(())
    /// # }
    /// ```
    pub fn dry_run(mut self, yes: bool) -> CopyTree {
        self.config.dry_run = yes;
        self
    }

    /// Which metadata beyond bytes, modes and times is kept.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let t = tempfile::tempdir()?;
    /// # let (src, dst) = (t.path().join("src"), t.path().join("dst"));
    /// # std::fs::create_dir_all(src.join("sub"))?;
    /// # std::fs::write(src.join("sub/a.txt"), "hello")?;
    /// let only_bytes_modes_times = convoy::Preserve { xattrs: false, acls: false, owner: false };
    /// convoy::CopyTree::new(&src, &dst).preserve(only_bytes_modes_times).run()?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn preserve(mut self, preserve: Preserve) -> CopyTree {
        self.config.preserve = preserve;
        self
    }

    /// Whether files share data with their source where the filesystem can.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let t = tempfile::tempdir()?;
    /// # let (src, dst) = (t.path().join("src"), t.path().join("dst"));
    /// # std::fs::create_dir_all(src.join("sub"))?;
    /// # std::fs::write(src.join("sub/a.txt"), "hello")?;
    /// // Every byte copied, never shared with the source.
    /// convoy::CopyTree::new(&src, &dst).reflink(convoy::Reflink::Never).run()?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn reflink(mut self, reflink: Reflink) -> CopyTree {
        self.config.reflink = reflink;
        self
    }

    /// Hashes every file as it is read and reads the copy back from the
    /// device; a copy that reads back differently fails.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let t = tempfile::tempdir()?;
    /// # let (src, dst) = (t.path().join("src"), t.path().join("dst"));
    /// # std::fs::create_dir_all(src.join("sub"))?;
    /// # std::fs::write(src.join("sub/a.txt"), "hello")?;
    /// let summary = convoy::CopyTree::new(&src, &dst).verify(true).run()?;
    /// assert_eq!(summary.verified, 1);
    /// # Ok(())
    /// # }
    /// ```
    pub fn verify(mut self, yes: bool) -> CopyTree {
        self.config.verify = yes;
        self
    }

    /// Flushes every file before it gets its name, every folder after its
    /// entries, and waits for the device at the end.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let t = tempfile::tempdir()?;
    /// # let (src, dst) = (t.path().join("src"), t.path().join("dst"));
    /// # std::fs::create_dir_all(src.join("sub"))?;
    /// # std::fs::write(src.join("sub/a.txt"), "hello")?;
    /// assert!(convoy::CopyTree::new(&src, &dst).fsync(true).run()?.is_success());
    /// # Ok(())
    /// # }
    /// ```
    pub fn fsync(mut self, yes: bool) -> CopyTree {
        self.config.fsync = yes;
        self.config.flush |= yes;
        self
    }

    /// Moves instead of copying: each source entry is removed once its copy
    /// is complete under its final name and on the device, and only if it did
    /// not change since it was copied (as `convoy --move`).
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let t = tempfile::tempdir()?;
    /// # let (src, dst) = (t.path().join("src"), t.path().join("dst"));
    /// # std::fs::create_dir_all(src.join("sub"))?;
    /// # std::fs::write(src.join("sub/a.txt"), "hello")?;
    /// let summary = convoy::CopyTree::new(&src, &dst).move_sources(true).run()?;
    /// assert!(summary.is_success());
    /// assert!(!src.exists(), "moved");
    /// assert_eq!(std::fs::read_to_string(dst.join("sub/a.txt"))?, "hello");
    /// # Ok(())
    /// # }
    /// ```
    pub fn move_sources(mut self, yes: bool) -> CopyTree {
        self.config.move_sources = yes;
        self
    }

    /// Makes the destination identical to the source (as `convoy --mirror`):
    /// what differs is replaced, entries of another type too, and once the
    /// copy is complete what the source does not have is deleted, unless
    /// anything went wrong before (then nothing is: see the summary's
    /// problems). `max_delete`: more entries than this to delete, and none
    /// is (it also lets a source that lists empty empty the destination).
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let t = tempfile::tempdir()?;
    /// # let (src, dst) = (t.path().join("src"), t.path().join("dst"));
    /// # std::fs::create_dir_all(src.join("sub"))?;
    /// # std::fs::write(src.join("sub/a.txt"), "hello")?;
    /// std::fs::create_dir_all(dst.join("old"))?;
    /// std::fs::write(dst.join("old/stale.txt"), "stale")?;
    /// let summary = convoy::CopyTree::new(&src, &dst).mirror(Some(10)).run()?;
    /// assert!(summary.is_success(), "{summary:?}");
    /// assert_eq!(summary.deleted, 2);
    /// assert!(!dst.join("old").exists());
    /// assert_eq!(std::fs::read_to_string(dst.join("sub/a.txt"))?, "hello");
    /// # Ok(())
    /// # }
    /// ```
    pub fn mirror(mut self, max_delete: Option<u64>) -> CopyTree {
        self.config.mirror = Some(crate::config::Mirror {
            max_delete,
            confirm: false,
        });
        self.config.policy = ConflictPolicy::Overwrite;
        self
    }

    /// Moves what the copy replaces, and what a mirror deletes, into `dir`
    /// (on the destination's filesystem) under its path relative to the
    /// destination, instead of removing it (as `--backup-dir`).
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let t = tempfile::tempdir()?;
    /// # let (src, dst) = (t.path().join("src"), t.path().join("dst"));
    /// # std::fs::create_dir_all(src.join("sub"))?;
    /// # std::fs::write(src.join("sub/a.txt"), "hello")?;
    /// std::fs::create_dir_all(&dst)?;
    /// std::fs::write(dst.join("stale.txt"), "stale")?;
    /// let keep = t.path().join("keep");
    /// let summary = convoy::CopyTree::new(&src, &dst).mirror(None).backup_dir(&keep).run()?;
    /// assert!(summary.is_success(), "{summary:?}");
    /// assert_eq!(std::fs::read_to_string(keep.join("stale.txt"))?, "stale");
    /// # Ok(())
    /// # }
    /// ```
    pub fn backup_dir(mut self, dir: impl AsRef<Path>) -> CopyTree {
        self.config.backup_dir = Some(dir.as_ref().to_path_buf());
        self
    }

    /// Waits at the end until everything is written to the device.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let t = tempfile::tempdir()?;
    /// # let (src, dst) = (t.path().join("src"), t.path().join("dst"));
    /// # std::fs::create_dir_all(src.join("sub"))?;
    /// # std::fs::write(src.join("sub/a.txt"), "hello")?;
    /// assert!(convoy::CopyTree::new(&src, &dst).flush(true).run()?.is_success());
    /// # Ok(())
    /// # }
    /// ```
    pub fn flush(mut self, yes: bool) -> CopyTree {
        self.config.flush = yes || self.config.fsync;
        self
    }

    /// Writes at most `bytes_per_sec` bytes a second, all workers together
    /// (`None`, or 0: no limit).
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let t = tempfile::tempdir()?;
    /// # let (src, dst) = (t.path().join("src"), t.path().join("dst"));
    /// # std::fs::create_dir_all(src.join("sub"))?;
    /// # std::fs::write(src.join("sub/a.txt"), "hello")?;
    /// let summary = convoy::CopyTree::new(&src, &dst).bwlimit(Some(50 << 20)).run()?;
    /// assert_eq!(summary.bytes_copied, 5);
    /// # Ok(())
    /// # }
    /// ```
    pub fn bwlimit(mut self, bytes_per_sec: Option<u64>) -> CopyTree {
        self.config.bwlimit = bytes_per_sec.filter(|r| *r > 0);
        self
    }

    /// The command that runs ssh for a destination on another machine
    /// (`host:path`, or `user@host:path`, as `CopyTree::new` takes it), as
    /// `-e` gives it: `ssh` with options of your own, or another program that
    /// speaks SFTP on its standard input and output.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let summary = convoy::CopyTree::new("fixtures", "me@build-host:work/fixtures")
    ///     .rsh("ssh -p 2222")
    ///     .run()?;
    /// assert!(summary.is_success(), "{summary:?}");
    /// # Ok(())
    /// # }
    /// ```
    pub fn rsh(mut self, command: impl Into<String>) -> CopyTree {
        self.config.rsh = Some(command.into());
        self
    }

    /// To or from another machine: how many connections a file of 64 MiB or
    /// more goes over (`--connections`; by default as many as the round trip
    /// needs, 1 to 4).
    pub fn connections(mut self, n: usize) -> CopyTree {
        self.config.connections = Some(n.max(1));
        self
    }

    /// Copies everything and returns what happened. An error means nothing
    /// was copied: a source that is missing or not a folder, a destination
    /// inside the source, a bad glob. Failed entries are not errors: they are
    /// in the summary, and the rest is copied.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let t = tempfile::tempdir()?;
    /// # let (src, dst) = (t.path().join("src"), t.path().join("dst"));
    /// # std::fs::create_dir_all(src.join("sub"))?;
    /// # std::fs::write(src.join("sub/a.txt"), "hello")?;
    /// let summary = convoy::CopyTree::new(&src, &dst).run()?;
    /// assert!(summary.is_success());
    /// // Bad input is an error, and nothing is written.
    /// let inside = convoy::CopyTree::new(&src, src.join("sub/copy")).run();
    /// assert!(inside.is_err());
    /// assert!(!src.join("sub/copy").exists());
    /// # Ok(())
    /// # }
    /// ```
    pub fn run(self) -> Result<Summary, StartError> {
        if self.config.policy == ConflictPolicy::Ask {
            return Err(StartError::Input(InputError::Other(
                "on_conflict(Ask) needs a person to ask; use Skip, Overwrite or Newer".into(),
            )));
        }
        let configs = match &self.sources {
            Some(sources) => crate::sources::plan(&self.config, sources, &self.config.dest)?,
            None => vec![self.config.resolved()?],
        };
        let mut all: Option<Summary> = None;
        for config in configs {
            let one = run_one(config)?;
            all = Some(match all {
                Some(before) => before.and(one),
                None => one,
            });
        }
        Ok(all.unwrap_or_else(|| Summary::from_progress(&Progress::new(Instant::now()))))
    }
}

/// Runs one planned copy to its end.
fn run_one(config: Config) -> Result<Summary, StartError> {
    let running = engine::start(config)?;
    let mut progress = Progress::new(Instant::now());
    for ev in running.events.iter() {
        progress.apply(&ev, Instant::now());
        if progress.done {
            break;
        }
    }
    if !progress.done {
        progress.engine_lost();
    }
    running.join();
    Ok(Summary::from_progress(&progress))
}

impl Summary {
    /// This copy's summary followed by `next`'s: counts added, failures and
    /// problems together, the worse exit code.
    fn and(mut self, next: Summary) -> Summary {
        self.files_copied += next.files_copied;
        self.bytes_copied += next.bytes_copied;
        self.up_to_date += next.up_to_date;
        self.skipped += next.skipped;
        self.failed += next.failed;
        self.dirs += next.dirs;
        self.symlinks += next.symlinks;
        self.hard_links += next.hard_links;
        self.specials += next.specials;
        self.verified += next.verified;
        self.deleted += next.deleted;
        self.failures.extend(next.failures);
        self.problems.extend(next.problems);
        self.fatal = self.fatal.or(next.fatal);
        self.exit_code = self.exit_code.worst(next.exit_code);
        self
    }
}
