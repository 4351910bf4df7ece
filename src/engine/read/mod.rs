//! The read side: what the copy asks of a source (`Source`), and the local
//! source, reached through folder handles (`source`).

pub(crate) mod source;

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::BorrowedFd;
use std::path::{Path, PathBuf};

use rustix::fs::FileType;

use crate::engine::meta::attrs::SrcMeta;

/// Where an open source file's metadata comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fresh {
    /// `fstat` of the open file: type and size are known.
    Checked,
    /// The walk's `lstat`: to be checked if the file reads differently.
    Walked,
}

/// Where the copy's entries come from, as the copy asks for them: folders by
/// their path in the tree or by name in an open one, entries by name, never a
/// full path resolved per file, so a source reached another way (over SFTP,
/// from a bucket) can answer the same questions. `source::SourceRoot` is the
/// local source, through folder handles.
pub(crate) trait Source: Send + Sync {
    /// An open folder.
    type OpenDir: Send + Sync;
    /// An open folder as the calls take it.
    type Dir<'a>: Copy
    where
        Self: 'a;
    /// A file open for reading.
    type File;

    /// The open folder as the calls take it.
    fn dir(open: &Self::OpenDir) -> Self::Dir<'_>;
    /// Its local handle, where the source is on this machine: what only a
    /// local folder can give (extended attributes, a comparison of bytes
    /// through the kernel) is asked through it.
    fn local_fd(open: &Self::OpenDir) -> Option<BorrowedFd<'_>>;
    /// The source's path of `rel`, for messages.
    fn display(&self, rel: &Path) -> PathBuf;
    /// Opens the folder at `rel` in the tree.
    fn open_dir(&self, rel: &Path) -> io::Result<Self::OpenDir>;
    /// Opens the folder `name` inside the open folder `dir`.
    fn open_child_dir(&self, dir: Self::Dir<'_>, name: &OsStr) -> io::Result<Self::OpenDir>;
    /// Metadata of `name` in `dir` (of what a symlink points to, with `-L`).
    fn stat_at(&self, dir: Self::Dir<'_>, name: &OsStr) -> io::Result<SrcMeta>;
    /// Opens the regular file `name` for reading, with its metadata: the
    /// walk's when the caller trusts it (see [`Fresh`]), a fresh one otherwise.
    fn open_file(
        &self,
        dir: Self::Dir<'_>,
        name: &OsStr,
        walked: &SrcMeta,
        trust_walk: bool,
    ) -> io::Result<(Self::File, SrcMeta, Fresh)>;
    /// The target of the symlink `name`.
    fn read_link(&self, dir: Self::Dir<'_>, name: &OsStr) -> io::Result<PathBuf>;
    /// Each entry of `dir` but `.` and `..`, as it is read: its name, its
    /// metadata as [`Source::stat_at`] gives it, and the listing's own idea
    /// of its type (for an entry that cannot be looked at). `each` says
    /// whether to go on. An error reading the listing ends it, after what
    /// was read.
    fn list(
        &self,
        dir: Self::Dir<'_>,
        each: impl FnMut(OsString, io::Result<SrcMeta>, FileType) -> bool,
    ) -> io::Result<()>;
}
