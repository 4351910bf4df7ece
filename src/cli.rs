//! Command-line arguments as typed (clap), and their resolution into a
//! [`Config`] once, with every check that must pass before anything is written.

use std::path::PathBuf;

use clap::{Parser, ValueEnum};

use crate::config::{
    Chunking, Config, ConflictPolicy, DEFAULT_CHUNK_SIZE, DEFAULT_CHUNK_THRESHOLD, Direct,
    Preserve, Reflink, default_jobs,
};
use crate::error::InputError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OnConflict {
    /// Keep the destination file (nothing is lost unless asked).
    Skip,
    /// Replace the destination file.
    Overwrite,
    /// Replace it only if the source was modified later.
    Newer,
    /// Ask in the TUI, without stalling the copy (interactive only).
    Ask,
}

impl From<OnConflict> for ConflictPolicy {
    fn from(c: OnConflict) -> Self {
        match c {
            OnConflict::Skip => ConflictPolicy::Skip,
            OnConflict::Overwrite => ConflictPolicy::Overwrite,
            OnConflict::Newer => ConflictPolicy::Newer,
            OnConflict::Ask => ConflictPolicy::Ask,
        }
    }
}

/// Metadata that `--no-preserve` can leave out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Metadata {
    /// Extended attributes but ACLs (user, trusted, security: capabilities, labels).
    Xattr,
    /// POSIX ACLs.
    Acl,
    /// Owner and group (kept only when run as root).
    Owner,
    /// All of the above: bytes, mode and times only.
    All,
}

/// When files are cloned (`--reflink`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReflinkArg {
    Auto,
    Always,
    Never,
}

/// When big files are written past the page cache (`--direct`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DirectArg {
    Auto,
    Always,
    Never,
}

impl From<DirectArg> for Direct {
    fn from(d: DirectArg) -> Self {
        match d {
            DirectArg::Auto => Direct::Auto,
            DirectArg::Always => Direct::Always,
            DirectArg::Never => Direct::Never,
        }
    }
}

impl From<ReflinkArg> for Reflink {
    fn from(r: ReflinkArg) -> Self {
        match r {
            ReflinkArg::Auto => Reflink::Auto,
            ReflinkArg::Always => Reflink::Always,
            ReflinkArg::Never => Reflink::Never,
        }
    }
}

const EXAMPLES: &str = "\
Examples:
  convoy --batch photos backup/photos     copy the contents of photos into backup/photos
  convoy --batch photos                   copy into a sibling named 'photos (copy)'
  convoy --batch a b notes.txt dest       each source into dest under its own name
  convoy --batch notes.txt old-notes.txt  a file to a new name
  convoy --batch --json src dst | jq .    machine-readable events, one JSON object a line
  convoy --batch --on-conflict newer a b  update b with files that changed in a
  convoy --batch --exclude '*.tmp' --exclude 'target/**' src dst
  convoy --batch --dry-run src dst        show what would be copied, write nothing
  convoy --batch --mirror --dry-run src dst  list what a mirror would delete
  convoy --batch --mirror --backup-dir old src dst  mirror, keeping what goes in old/

Exit codes: 0 all copied or up to date; 1 some entries failed or were skipped for a
conflict (or the run stopped on a full disk); 2 bad usage or input, nothing written;
130 interrupted.";

/// A parallel folder copier with a live terminal UI.
///
/// Copies the contents of SOURCE into DEST (created if missing, merged into if it
/// exists). A destination file with the source's size and mtime is up to date and
/// left alone, so running the same command again is fast and changes nothing.
#[derive(Debug, Parser)]
#[command(
    name = "convoy",
    version,
    after_help = EXAMPLES,
    override_usage = "convoy [OPTIONS] [SOURCE] [DEST]\n       convoy [OPTIONS] SOURCE... DEST"
)]
pub struct Args {
    /// SOURCE... DEST. One folder: its contents go into DEST [default: "<SOURCE>
    /// (copy)" beside it]. Several sources, or a file: each goes into the
    /// folder DEST under its own name (as cp -a does); one file with a DEST that
    /// is not a folder is copied to that name.
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Run without the TUI: progress on stderr, a summary on stdout.
    #[arg(long)]
    pub batch: bool,
    /// Another copy, with the same options, run after this one: its own
    /// SOURCE and DEST; repeatable. Each has its own summary; the exit code
    /// is the worst of them. The TUI starts with them queued.
    #[arg(long = "and", value_names = ["SRC", "DEST"], num_args = 2, action = clap::ArgAction::Append, requires = "paths")]
    pub and: Vec<PathBuf>,
    /// Worker threads [default: two per core].
    #[arg(short = 'j', long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub jobs: Option<u16>,
    /// What to do with a destination file that exists and differs [default: skip in
    /// batch mode, ask in the TUI].
    #[arg(long, value_enum, value_name = "POLICY")]
    pub on_conflict: Option<OnConflict>,
    /// Follow symlinks in the source and copy what they point to.
    #[arg(short = 'L', long)]
    pub dereference: bool,
    /// Skip paths (relative to SOURCE) matching this glob; repeatable.
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,
    /// Skip paths matching the globs in FILE: one a line, blank lines and
    /// lines starting with '#' left out; repeatable, added to --exclude.
    #[arg(long, value_name = "FILE")]
    pub exclude_from: Vec<PathBuf>,
    /// Report what would be copied, write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Leave out metadata that is kept by default (comma-separated).
    #[arg(long, value_enum, value_name = "LIST", value_delimiter = ',')]
    pub no_preserve: Vec<Metadata>,
    /// Share data with the source where the filesystem can (XFS, btrfs):
    /// auto clones where it can and copies elsewhere, always fails a file
    /// that cannot be cloned, never really copies every byte [default: auto;
    /// alone: always].
    #[arg(long, value_enum, value_name = "WHEN", num_args = 0..=1, require_equals = true, default_missing_value = "always")]
    pub reflink: Option<ReflinkArg>,
    /// Write files of 32 MiB and more past the page cache (O_DIRECT): auto
    /// onto local disks (ext4, XFS, btrfs) where filling the cache costs more
    /// than writing the disk (a virtual machine handing its free memory back
    /// to its host), always wherever the filesystem takes it, never: through
    /// the cache as cp writes [default: auto; alone: always].
    #[arg(long, value_enum, value_name = "WHEN", num_args = 0..=1, require_equals = true, default_missing_value = "always")]
    pub direct: Option<DirectArg>,
    /// Hash every file as it is read (BLAKE3), read the copy back from the
    /// device and compare; a copy that differs is removed and reported.
    #[arg(long)]
    pub verify: bool,
    /// Flush each file to the device before it gets its name and each folder
    /// after its entries: after a power cut every name holds complete data.
    /// Implies --flush.
    #[arg(long)]
    pub fsync: bool,
    /// Wait until everything is written to the device before finishing
    /// ("safe to unplug"), showing what is left to write.
    #[arg(long)]
    pub flush: bool,
    /// Write at most RATE bytes a second, all workers together: a number
    /// with K, M, G or T (powers of 1024; "20M", "1.5G", "500KiB/s"); 0
    /// for no limit. The TUI changes it while the copy runs.
    #[arg(long, value_name = "RATE", value_parser = parse_rate)]
    pub bwlimit: Option<u64>,
    /// Record the run in FILE as JSON Lines (the --json events), in batch
    /// mode and in the TUI; appended to.
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// Move: each source entry is removed once its copy is complete under
    /// its final name and on the device, and only if it did not change since
    /// it was copied. A run that stops leaves every file in one place at
    /// least; the next run finishes the move.
    #[arg(long = "move", conflicts_with = "compare")]
    pub move_sources: bool,
    /// Make DEST identical to SOURCE: replace what differs (entries of
    /// another type too), then delete what SOURCE does not have. Nothing is
    /// deleted after any failure or an interrupt; --exclude'd entries in DEST
    /// are left alone; never through a symlink or into another mount.
    #[arg(long, conflicts_with_all = ["move_sources", "compare", "on_conflict"])]
    pub mirror: bool,
    /// With --mirror: if more than N entries (counting what folders hold)
    /// would be deleted, delete none. Also allows a SOURCE that lists empty.
    #[arg(long, value_name = "N", requires = "mirror")]
    pub max_delete: Option<u64>,
    /// The command that runs ssh for a `host:path` DEST, as rsync's -e:
    /// options of your own (`-e "ssh -p 2222 -i key"`), or another program
    /// that speaks SFTP on its standard input and output.
    #[arg(short = 'e', long, value_name = "COMMAND")]
    pub rsh: Option<String>,
    /// To or from a host: how many connections (ssh processes) a file of
    /// 64 MiB or more goes over, its pieces spread among them. Default: one
    /// where the round trip is under 5 ms, else one more for each 5 ms, at
    /// most 4 (one SSH channel moves at most 2 MiB a round trip).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(1..=16))]
    pub connections: Option<u8>,
    /// Move what is replaced or deleted into DIR (on DEST's filesystem)
    /// under its path relative to DEST, instead of removing it: a way back.
    #[arg(long, value_name = "DIR", conflicts_with = "compare")]
    pub backup_dir: Option<PathBuf>,
    /// Copy nothing: report how DEST differs from SOURCE (entries only on one
    /// side, type, content, mode, owner, mtime, attributes, ACLs, symlink
    /// targets, hard links). Exit 0 the same, 1 they differ, 2 something
    /// could not be read.
    #[arg(long, conflicts_with_all = ["dry_run", "verify", "fsync", "flush", "and"])]
    pub compare: bool,
    /// With --compare: compare files of the same size by their BLAKE3 digests
    /// (both sides read in parallel), not by size alone.
    #[arg(long, requires = "compare")]
    pub checksum: bool,
    /// JSON Lines events on stdout (with --batch).
    #[arg(long, requires = "batch")]
    pub json: bool,
    /// No progress and no summary; errors are still printed.
    #[arg(short, long)]
    pub quiet: bool,
    /// Files at least this large are split into chunks copied in parallel.
    #[arg(long, hide = true, value_name = "BYTES", default_value_t = DEFAULT_CHUNK_THRESHOLD)]
    pub chunk_threshold: u64,
    #[arg(long, hide = true, value_name = "BYTES", default_value_t = DEFAULT_CHUNK_SIZE)]
    pub chunk_size: u64,
    /// Print a completion script for SHELL on stdout and exit (see the
    /// README for where to put it).
    #[arg(long, value_enum, value_name = "SHELL", exclusive = true)]
    pub completions: Option<clap_complete::Shell>,
    /// Print the manual page (roff) on stdout and exit: `convoy --man-page >
    /// convoy.1`.
    #[arg(long, exclusive = true)]
    pub man_page: bool,
    /// TUI: quit as soon as the copy ends instead of showing the summary (for
    /// timing the TUI in the benchmark).
    #[arg(long, hide = true)]
    pub quit_when_done: bool,
}

/// A rate as `--bwlimit` takes it: bytes a second, with an optional K, M, G
/// or T (powers of 1024), an optional "iB" or "B" after it, and "/s".
pub fn parse_rate(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let t = t.strip_suffix("/s").unwrap_or(t);
    let t = t
        .strip_suffix("iB")
        .or_else(|| t.strip_suffix('B'))
        .unwrap_or(t);
    let (number, scale) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let scale = match c.to_ascii_uppercase() {
                'K' => 1u64 << 10,
                'M' => 1 << 20,
                'G' => 1 << 30,
                'T' => 1 << 40,
                _ => return Err(format!("unknown unit {c:?} in {text:?} (K, M, G or T)")),
            };
            (&t[..i], scale)
        }
        _ => (t, 1),
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a rate (e.g. 20M, 1.5G, 500K)"))?;
    if !value.is_finite() || value < 0.0 {
        return Err(format!("{text:?} is not a rate (e.g. 20M, 1.5G, 500K)"));
    }
    Ok((value * scale as f64).round() as u64)
}

/// The globs of an `--exclude-from` file, each checked, so a bad one is
/// named with its file and line.
fn patterns_in(file: &std::path::Path) -> Result<Vec<String>, InputError> {
    let text = std::fs::read(file).map_err(|e| InputError::ExcludeFile(file.to_path_buf(), e))?;
    let text = String::from_utf8_lossy(&text);
    let mut globs = Vec::new();
    for (n, line) in text.lines().enumerate() {
        // Spaces may be part of a name; only a Windows line end is not.
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        if let Err(e) = globset::Glob::new(line) {
            let at = format!("{}:{}", crate::format::DisplayPath(file), n + 1);
            return Err(InputError::Other(format!(
                "{at}: invalid pattern {line:?}: {}",
                e.kind()
            )));
        }
        globs.push(line.to_string());
    }
    Ok(globs)
}

/// Writes the completion script for `shell`, from the same definition as
/// the parser, so it never lags behind an option.
pub fn completions(shell: clap_complete::Shell, out: &mut dyn std::io::Write) {
    use clap::CommandFactory;
    clap_complete::generate(shell, &mut Args::command(), "convoy", out);
}

/// Writes the manual page (roff), from the same definition as `--help`.
pub fn man_page(out: &mut dyn std::io::Write) -> std::io::Result<()> {
    use clap::CommandFactory;
    clap_mangen::Man::new(Args::command()).render(out)
}

/// Which face runs the copy: the defaults differ (the TUI can ask about
/// conflicts, a script cannot).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Face {
    Batch,
    Tui,
}

impl Args {
    /// The first path: the (first) source.
    pub fn source(&self) -> Option<&PathBuf> {
        self.paths.first()
    }

    /// The last of two or more paths: the destination.
    pub fn dest(&self) -> Option<&PathBuf> {
        self.paths.last().filter(|_| self.paths.len() >= 2)
    }

    /// The sources: every path but the destination.
    pub fn sources(&self) -> &[PathBuf] {
        match self.paths.len() {
            0 | 1 => &self.paths,
            n => &self.paths[..n - 1],
        }
    }

    /// Both paths given: the interface starts the copy at once, without its form.
    pub fn starts_at_once(&self) -> bool {
        self.dest().is_some()
    }

    /// Every option as a [`Config`], the one route from arguments to the
    /// engine's settings: batch mode runs it once its paths are resolved, the
    /// TUI's setup form starts from it and overrides only the fields it edits.
    /// SOURCE and DEST are as typed (empty when not given) and not yet checked.
    pub fn base_config(&self, face: Face) -> Result<Config, InputError> {
        let default_policy = match face {
            Face::Batch => OnConflict::Skip,
            Face::Tui => OnConflict::Ask,
        };
        let policy = match (face, self.on_conflict.unwrap_or(default_policy)) {
            // A mirror replaces whatever differs: that is what it means.
            _ if self.mirror => ConflictPolicy::Overwrite,
            (Face::Batch, OnConflict::Ask) => {
                return Err(InputError::Other(
                    "--on-conflict ask needs the TUI; with --batch use skip, overwrite or newer"
                        .into(),
                ));
            }
            (_, p) => p.into(),
        };
        let mut excludes = self.exclude.clone();
        for file in &self.exclude_from {
            excludes.extend(patterns_in(file)?);
        }
        Ok(Config {
            source: self.source().cloned().unwrap_or_default(),
            dest: self.dest().cloned().unwrap_or_default(),
            jobs: self.jobs.map_or_else(default_jobs, usize::from),
            policy,
            dereference: self.dereference,
            excludes,
            dry_run: self.dry_run,
            preserve: self.preserve(),
            reflink: self.reflink.map_or(Reflink::Auto, Into::into),
            direct: self.direct.map_or(Direct::Auto, Into::into),
            verify: self.verify,
            fsync: self.fsync,
            flush: self.flush || self.fsync,
            bwlimit: self.bwlimit.filter(|r| *r > 0),
            chunking: Chunking {
                threshold: self.chunk_threshold,
                size: self.chunk_size,
            },
            only: None,
            dest_keeps_own_metadata: false,
            rename: None,
            move_sources: self.move_sources,
            mirror: self.mirror.then_some(crate::config::Mirror {
                max_delete: self.max_delete,
                confirm: false,
            }),
            backup_dir: self.backup_dir.clone(),
            remote: None,
            remote_source: None,
            bucket: None,
            bucket_source: None,
            rsh: self.rsh.clone(),
            connections: self.connections.map(usize::from),
            placing: crate::config::Placing::Contents,
        })
    }

    fn preserve(&self) -> Preserve {
        let mut p = Preserve::default();
        for m in &self.no_preserve {
            match m {
                Metadata::Xattr => p.xattrs = false,
                Metadata::Acl => p.acls = false,
                Metadata::Owner => p.owner = false,
                Metadata::All => {
                    p = Preserve {
                        xattrs: false,
                        acls: false,
                        owner: false,
                    }
                }
            }
        }
        p
    }

    /// The runs of the command line's SOURCE... DEST, every option in each,
    /// every path checked and resolved (the default destination filled in).
    pub fn path_configs(&self, face: Face) -> Result<Vec<Config>, InputError> {
        let base = self.base_config(face)?;
        match self.dest() {
            None if self.source().is_none() => {
                Err(InputError::Other("SOURCE is required with --batch".into()))
            }
            None => Ok(vec![base.resolved()?]),
            Some(dest) => crate::sources::plan(&base, self.sources(), dest),
        }
    }

    /// Every copy of a batch run in order: SOURCE... to DEST, then each
    /// `--and` pair with the same options; all checked before any starts.
    pub fn batch_configs(&self) -> Result<Vec<Config>, InputError> {
        let mut all = self.path_configs(Face::Batch)?;
        all.extend(self.queued_configs(Face::Batch)?);
        Ok(all)
    }

    /// The copies `--and` queues after the first, checked.
    pub fn queued_configs(&self, face: Face) -> Result<Vec<Config>, InputError> {
        let base = self.base_config(face)?;
        let mut all = Vec::new();
        for pair in self.and.chunks(2) {
            let [source, dest] = pair else {
                return Err(InputError::Other("--and takes a SOURCE and a DEST".into()));
            };
            let cfg = Config {
                source: source.clone(),
                dest: dest.clone(),
                ..base.clone()
            };
            all.push(cfg.resolved()?);
        }
        Ok(all)
    }
}

#[cfg(test)]
mod tests {
    use super::parse_rate;

    #[test]
    fn rates_read_as_people_write_them() {
        assert_eq!(parse_rate("20M"), Ok(20 << 20));
        assert_eq!(parse_rate("1.5G"), Ok(3 << 29));
        assert_eq!(parse_rate("500KiB/s"), Ok(500 << 10));
        assert_eq!(parse_rate("64k"), Ok(64 << 10));
        assert_eq!(parse_rate("1000"), Ok(1000));
        assert_eq!(parse_rate("2MB"), Ok(2 << 20));
        assert_eq!(parse_rate("0"), Ok(0));
        assert!(parse_rate("fast").is_err());
        assert!(parse_rate("10X").unwrap_err().contains("unknown unit"));
        assert!(parse_rate("-1M").is_err());
    }
}
