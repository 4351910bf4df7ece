//! The write side: what the copy asks of a destination (`Dest`, and what it
//! can do in one record, `caps`), the local destination reached beneath its
//! root (`dest`), names that appear only complete (`temp_entry`, `temp_name`),
//! names it refuses (`names`), leftovers of dead runs (`sweep`), partial big
//! files kept to resume (`resume`) and what is replaced kept aside (`backup`).

pub(crate) mod backup;
pub(crate) mod caps;
pub(crate) mod dest;
pub(crate) mod names;
pub(crate) mod resume;
pub(crate) mod sweep;
pub(crate) mod temp_entry;
pub(crate) mod temp_name;

use std::ffi::{OsStr, OsString};
use std::io;
use std::path::Path;

use rustix::io::Errno;

use crate::engine::meta::attrs::SrcMeta;
use crate::engine::plan::node::DirNode;

/// Where the copy's entries go, as the rules of the copy (`copy`, `walk`) ask
/// for them: by name in an open folder, never by a path from the root, so that
/// a destination reached another way (over SFTP, into a bucket) can answer the
/// same questions. Refusals come as errno codes, which another kind of
/// destination maps its own to. `dest::DestRoot` is the local destination,
/// through folder handles; the calls that write a file's bytes are its own
/// still (next: files, the dry run and SFTP behind this).
pub(crate) trait Dest: Send + Sync {
    /// An open folder.
    type OpenDir: Send + Sync;
    /// An open folder as the calls take it.
    type Dir<'a>: Copy
    where
        Self: 'a;

    /// The open folder `open` as the calls take it.
    fn dir<'a>(open: &'a Self::OpenDir) -> Self::Dir<'a>;
    /// Makes a folder under a temporary name in `dir`, to be filled and
    /// placed (only where folder handles outlive a rename).
    fn make_staged_dir(&self, dir: Self::Dir<'_>) -> io::Result<OsString> {
        let _ = dir;
        Err(io::ErrorKind::Unsupported.into())
    }
    /// Why `node` cannot be reached, when a folder above it was not placed.
    fn unplaced(&self, node: &DirNode) -> Option<io::Error> {
        let _ = node;
        None
    }
    /// The walker queued the last in-place batch of a staged `node`.
    fn walker_done(&self, node: &DirNode) {
        let _ = node;
    }
    /// `--backup-dir`: where what is replaced goes instead of being removed.
    fn backup(&self) -> Option<&backup::Backup> {
        None
    }
    /// `dir` as a local folder handle, where the destination is local.
    fn local_dir<'a>(dir: Self::Dir<'a>) -> Option<std::os::fd::BorrowedFd<'a>>
    where
        Self: 'a,
    {
        let _ = dir;
        None
    }
    /// The destination's path of `rel`, for messages.
    fn display(&self, rel: &Path) -> std::path::PathBuf;
    /// The failure `e` of `op` on the entry `name` (at `path`), said as the
    /// destination refusing the name when that is what it is.
    fn name_error(
        &self,
        path: std::path::PathBuf,
        name: &OsStr,
        op: crate::error::Op,
        e: io::Error,
    ) -> crate::error::CopyError;
    /// Opens the folder of `node` wherever it is now (under its own name, or
    /// a temporary one while staged), never through a symlink.
    fn open_node(&self, node: &DirNode) -> io::Result<Self::OpenDir>;
    /// Opens `node` inside `parent`, the open folder of its parent.
    fn open_child_node(&self, parent: Self::Dir<'_>, node: &DirNode) -> io::Result<Self::OpenDir>;
    /// Opens the folder `name` in `dir`, never through a symlink.
    fn open_child_dir(&self, dir: Self::Dir<'_>, name: &OsStr) -> io::Result<Self::OpenDir>;
    /// What is at `name` in `dir` (not through a symlink); `None`: nothing.
    fn stat_at(&self, dir: Self::Dir<'_>, name: &OsStr) -> io::Result<Option<SrcMeta>>;
    /// What is at `name` in `dir` as the walk asks it, answered from what
    /// the destination already knows of the folder where it can.
    fn stat_child(&self, dir: Self::Dir<'_>, name: &OsStr) -> io::Result<Option<SrcMeta>> {
        self.stat_at(dir, name)
    }
    /// The open folder's own metadata.
    fn dir_meta(&self, dir: Self::Dir<'_>) -> io::Result<SrcMeta>;
    /// The owner of `meta` on the entry `name` (a change of owner clears
    /// set-id bits: the mode goes after).
    fn set_owner_at(&self, dir: Self::Dir<'_>, name: &OsStr, meta: &SrcMeta) -> io::Result<()>;
    /// The permission bits of `meta` on the entry `name`.
    fn set_mode_at(&self, dir: Self::Dir<'_>, name: &OsStr, meta: &SrcMeta) -> io::Result<()>;
    /// The times of `meta` on the entry `name` (not through a symlink).
    fn set_times_at(&self, dir: Self::Dir<'_>, name: &OsStr, meta: &SrcMeta) -> io::Result<()>;
    /// The permission bits `mode` on the open folder itself.
    fn set_mode(&self, dir: Self::Dir<'_>, mode: u32) -> io::Result<()>;
    /// The target of the symlink `name`, as raw bytes.
    fn read_link_at(&self, dir: Self::Dir<'_>, name: &OsStr) -> Result<Vec<u8>, Errno>;
    /// Makes the symlink `name` to `target`; EEXIST if the name is taken.
    fn symlink_at(&self, dir: Self::Dir<'_>, target: &Path, name: &OsStr) -> Result<(), Errno>;
    /// Gives a file a second name; EEXIST if that is taken.
    fn link_at(
        &self,
        target: (Self::Dir<'_>, &OsStr),
        link: (Self::Dir<'_>, &OsStr),
    ) -> Result<(), Errno>;
    /// Removes the entry `name` (not a folder).
    fn remove_at(&self, dir: Self::Dir<'_>, name: &OsStr) -> Result<(), Errno>;
    /// Makes the folder `name`, private until its own mode is set at the
    /// end; EEXIST if the name is taken.
    fn make_dir_at(&self, dir: Self::Dir<'_>, name: &OsStr) -> io::Result<()>;
    /// Removes the temporaries dead runs left in the folder `rel` (open as
    /// `dir`): what could not be removed, and whether it holds partials of
    /// big files to resume.
    fn sweep_temps(&self, dir: Self::Dir<'_>, rel: &Path) -> (Vec<crate::error::CopyError>, bool);
    /// How the file `name` in `dir` stands to the source file `name` in the
    /// local folder `src` (all its bytes, their beginning, or neither).
    fn relate_named(
        &self,
        src: (std::os::fd::BorrowedFd<'_>, &OsStr),
        dest: (Self::Dir<'_>, &OsStr),
    ) -> io::Result<crate::engine::data::same_bytes::Relation>;
    /// Takes a copy known to be bad away from its name: removed, or set aside
    /// under a temporary one where it cannot be; the removal's error when
    /// neither worked.
    fn take_away(&self, dir: Self::Dir<'_>, name: &OsStr) -> io::Result<TakenAway>;
}

/// How [`Dest::take_away`] took an entry from its name.
pub(crate) enum TakenAway {
    Removed,
    /// Renamed to the temporary `name`: it could not be removed, for `why`.
    SetAside {
        name: OsString,
        why: io::Error,
    },
}
