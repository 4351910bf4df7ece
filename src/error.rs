//! Typed errors. Every failure names the path, the operation and the OS reason, so a
//! person reading one line knows what went wrong and where.

use std::fmt;
use std::io;
use std::path::PathBuf;

use crate::format::DisplayPath;

/// What convoy was doing when the OS said no.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    ReadDir,
    Stat,
    Open,
    Read,
    Create,
    Write,
    CreateDir,
    OpenDir,
    SetMetadata,
    Rename,
    ReadLink,
    Symlink,
    HardLink,
    Walk,
    RemoveTemp,
    /// The destination will not take the name (see `engine::names`).
    Name,
    /// `--reflink=always` and the file could not share its source's data.
    Clone,
    /// `--verify` and the copy does not read back as it was written.
    Verify,
    /// Flushing to the device (`--fsync`).
    Flush,
    /// The source file changed while it was read, every time it was tried.
    Changed,
    /// `--move`: the source of an entry copied could not be removed.
    RemoveSource,
    /// `--mirror`: an entry the source does not have could not be deleted.
    Delete,
    /// `--backup-dir`: an entry could not be moved into the backup folder.
    Backup,
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Op::ReadDir => "cannot read folder",
            Op::Stat => "cannot read metadata",
            Op::Open => "cannot open for reading",
            Op::Read => "cannot read",
            Op::Create => "cannot create",
            Op::Write => "cannot write",
            Op::CreateDir => "cannot create folder",
            Op::OpenDir => "cannot open folder",
            Op::SetMetadata => "cannot set mode, owner or times",
            Op::Rename => "cannot move into place",
            Op::ReadLink => "cannot read symlink",
            Op::Symlink => "cannot create symlink",
            Op::HardLink => "cannot create hard link",
            Op::Walk => "cannot walk",
            Op::RemoveTemp => "cannot remove",
            Op::Name => "name refused",
            Op::Clone => "cannot clone",
            Op::Verify => "verification failed",
            Op::Flush => "cannot write to the device",
            Op::Changed => "changed while being copied",
            Op::RemoveSource => "not moved: cannot remove the source",
            Op::Delete => "cannot delete",
            Op::Backup => "cannot move into the backup folder",
        })
    }
}

/// A failure on one entry: the rest of the tree is still copied.
#[derive(Debug, thiserror::Error)]
#[error("{}: {op}: {source}", DisplayPath(path))]
pub struct CopyError {
    pub path: PathBuf,
    pub op: Op,
    #[source]
    pub source: io::Error,
}

/// The same OS error again: errors travel in events and are kept by faces.
pub fn clone_io(e: &io::Error) -> io::Error {
    match e.raw_os_error() {
        Some(code) => io::Error::from_raw_os_error(code),
        None => io::Error::new(e.kind(), e.to_string()),
    }
}

impl Clone for CopyError {
    fn clone(&self) -> Self {
        CopyError::new(self.path.clone(), self.op, clone_io(&self.source))
    }
}

impl CopyError {
    pub fn new(path: impl Into<PathBuf>, op: Op, source: io::Error) -> Self {
        CopyError {
            path: path.into(),
            op,
            source,
        }
    }

    /// The reason alone, for lists that already show the path.
    pub fn reason(&self) -> String {
        format!("{}: {}", self.op, self.source)
    }
}

/// Bad input found before anything is written: exit code 2.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let t = tempfile::tempdir()?;
/// # let (src, dst) = (t.path().join("src"), t.path().join("dst"));
/// # std::fs::create_dir_all(src.join("sub"))?;
/// # std::fs::write(src.join("sub/a.txt"), "hello")?;
/// let missing = convoy::CopyTree::new(t.path().join("nowhere"), &dst).run();
/// let why = missing.unwrap_err().to_string();
/// assert!(why.ends_with("nowhere: source does not exist"), "{why}");
/// # Ok(())
/// # }
/// ```
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// The source does not exist.
    #[error("{}: source does not exist", DisplayPath(.0))]
    SourceMissing(PathBuf),
    /// The source is not a folder.
    #[error("{}: source is not a folder", DisplayPath(.0))]
    SourceNotDir(PathBuf),
    /// The source cannot be opened or looked at.
    #[error("{}: cannot read source: {}", DisplayPath(.0), .1)]
    SourceUnreadable(PathBuf, io::Error),
    /// The destination is the source.
    #[error("{}: destination is the source itself", DisplayPath(.0))]
    DestIsSource(PathBuf),
    /// The destination is inside the source (the copy would copy itself).
    #[error("{}: destination is inside the source {}; the copy would copy itself", DisplayPath(.0), DisplayPath(.1))]
    DestInsideSource(PathBuf, PathBuf),
    /// The copy would write into the source.
    #[error("{}: source is inside the destination and the copy would write into the source at {}", DisplayPath(.0), DisplayPath(.1))]
    SourceInsideDest(PathBuf, PathBuf),
    /// The destination exists and is not a folder.
    #[error("{}: destination exists and is not a folder", DisplayPath(.0))]
    DestNotDir(PathBuf),
    /// The destination cannot be created.
    #[error("{}: cannot create destination: {}", DisplayPath(.0), .1)]
    DestCreate(PathBuf, io::Error),
    /// The destination cannot be written to.
    #[error("{}: destination is not writable: {}", DisplayPath(.0), .1)]
    DestNotWritable(PathBuf, io::Error),
    /// An exclude pattern that is not a glob.
    #[error("invalid --exclude pattern {0:?}: {1}")]
    BadExclude(String, String),
    /// The `--log` file cannot be opened.
    #[error("{}: cannot open the log: {}", DisplayPath(.0), .1)]
    Log(PathBuf, io::Error),
    /// An `--exclude-from` file cannot be read.
    #[error("{}: cannot read exclude file: {}", DisplayPath(.0), .1)]
    ExcludeFile(PathBuf, io::Error),
    /// The `--backup-dir` folder cannot serve.
    #[error("{}: cannot be the backup folder: {}", DisplayPath(.0), .1)]
    BackupDir(PathBuf, String),
    /// Any other bad input, said in full.
    #[error("{0}")]
    Other(String),
}
