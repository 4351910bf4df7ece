//! Cleaning up after runs that died: their temporaries (named files, and staged
//! folders with everything in them) are found by name in the destination folders
//! a later run merges into, and removed through handles once their run is gone.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use rustix::fs::{AtFlags, Mode};
use rustix::io::Errno;

use super::resume;
use super::temp_name;
use crate::engine::os::beneath::DIR_FLAGS;
use crate::engine::os::sys;

/// Removes from `dir` the temporaries of convoy runs other than `own_pid` that
/// are no longer alive. Returns the ones it could not remove, with why; `Err`
/// when the folder itself cannot be listed.
pub(crate) fn sweep_dead_temps(dir: BorrowedFd<'_>, own_pid: u32) -> io::Result<Swept> {
    let mut failed = Vec::new();
    let mut partials = false;
    for entry in sys::read_dir(dir)? {
        let entry = entry?;
        let name = OsStr::from_bytes(entry.file_name().to_bytes());
        // Kept for the copy that resumes them (see `resume`).
        partials |= resume::is_partial(name);
        let Some(owner) = temp_name::owner(name) else {
            continue;
        };
        if !is_dead(owner, own_pid, || untouched_for(dir, name, LEASE)) {
            continue;
        }
        let removed = match sys::unlinkat(dir, name, AtFlags::empty()) {
            Ok(()) | Err(Errno::NOENT) => Ok(()),
            // A folder that was being filled when its run died.
            Err(Errno::ISDIR) => remove_tree(dir, name),
            Err(e) => Err(e.into()),
        };
        if let Err(e) = removed {
            failed.push((name.to_os_string(), e));
        }
    }
    Ok(Swept { failed, partials })
}

/// Whether the run that made a temporary of `owner` is gone: asked of the
/// process on this machine; another machine's run cannot be asked, so it is
/// alive until its temporary has been left untouched for a lease.
pub(crate) fn is_dead(
    owner: temp_name::Owner,
    own_pid: u32,
    untouched: impl FnOnce() -> bool,
) -> bool {
    match owner.is_here() {
        true => owner.pid != own_pid && !process_alive(owner.pid),
        false => untouched(),
    }
}

/// What a sweep of one folder found.
pub(crate) struct Swept {
    /// Dead runs' temporaries that could not be removed.
    pub failed: Vec<(OsString, io::Error)>,
    /// Whether it holds partials of big files to resume.
    pub partials: bool,
}

/// Removes the folder `name` in `dir` and everything in it, through handles:
/// nothing inside is followed, and at most two descriptors are open at a time
/// whatever the depth (each step reopens its way down from `dir`).
pub(crate) fn remove_tree(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<()> {
    let open = |path: &[OsString]| -> io::Result<OwnedFd> {
        let mut fd = sys::openat(dir, ".", DIR_FLAGS, Mode::empty())?;
        for n in path {
            fd = sys::openat(&fd, n, DIR_FLAGS, Mode::empty())?;
        }
        Ok(fd)
    };
    let mut path = vec![name.to_os_string()];
    // Entries may appear while it is emptied (a run still writing into it):
    // relist a few times, then give up.
    let mut retries = 8u32;
    while let Some(last) = path.last().cloned() {
        let fd = open(&path)?;
        let mut subfolder = None;
        for entry in sys::read_dir(&fd)? {
            let entry = entry?;
            let n = entry.file_name().to_bytes();
            if n == b"." || n == b".." {
                continue;
            }
            let n = OsStr::from_bytes(n);
            match sys::unlinkat(&fd, n, AtFlags::empty()) {
                Ok(()) | Err(Errno::NOENT) => {}
                Err(Errno::ISDIR) => {
                    subfolder = Some(n.to_os_string());
                    break;
                }
                Err(e) => return Err(e.into()),
            }
        }
        drop(fd);
        if let Some(sub) = subfolder {
            path.push(sub);
            continue;
        }
        let parent = open(&path[..path.len() - 1])?;
        match sys::unlinkat(&parent, &last, AtFlags::REMOVEDIR) {
            Ok(()) | Err(Errno::NOENT) => {
                path.pop();
            }
            Err(Errno::NOTEMPTY) if retries > 0 => retries -= 1,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// How long another machine's temporary must lie untouched before a run
/// takes its writer for dead: a live run writes into its temporaries, and
/// adds entries to the folders it stages, far more often than this. (A staged
/// folder that holds only one file, written for longer than this, is the case
/// it misjudges: its own time does not move while that file grows.)
pub(crate) const LEASE: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// Whether `name` in `dir` was last changed longer than `lease` ago (by its
/// own clock: a folder's entries, a file's bytes).
fn untouched_for(dir: BorrowedFd<'_>, name: &OsStr, lease: std::time::Duration) -> bool {
    let Ok(st) = sys::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) else {
        return false;
    };
    let changed = std::time::UNIX_EPOCH + std::time::Duration::from_secs(st.st_mtime.max(0) as u64);
    std::time::SystemTime::now()
        .duration_since(changed)
        .is_ok_and(|age| age > lease)
}

fn process_alive(pid: u32) -> bool {
    let Some(pid) = rustix::process::Pid::from_raw(pid as i32) else {
        return false;
    };
    // EPERM means it exists but belongs to someone else.
    !matches!(rustix::process::test_kill_process(pid), Err(Errno::SRCH))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn sweep_removes_a_dead_runs_staged_folder_and_nothing_a_link_in_it_points_to() {
        let dir = tempfile::tempdir().unwrap();
        let (dst, outside) = (dir.path().join("dst"), dir.path().join("outside"));
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("keep.txt"), b"keep").unwrap();
        // pid 0x7fffffff cannot be alive: pids stop at 2^22.
        let staged = dst.join(".convoy-7fffffff00000001.tmp");
        let mut deep = staged.clone();
        for i in 0..30 {
            deep.push(format!("level{i}"));
            std::fs::create_dir_all(&deep).unwrap();
            std::fs::write(deep.join("partial.bin"), b"half").unwrap();
        }
        std::os::unix::fs::symlink(&outside, deep.join("out")).unwrap();
        std::fs::write(dst.join("user.txt"), b"mine").unwrap();
        let fd = rustix::fs::open(&dst, DIR_FLAGS, Mode::empty()).unwrap();
        let swept = sweep_dead_temps(fd.as_fd(), std::process::id()).unwrap();
        assert!(swept.failed.is_empty(), "{:?}", swept.failed);
        assert!(!swept.partials);
        assert!(!staged.exists(), "the staged folder is gone");
        assert_eq!(std::fs::read(dst.join("user.txt")).unwrap(), b"mine");
        assert_eq!(std::fs::read(outside.join("keep.txt")).unwrap(), b"keep");
    }

    #[test]
    fn another_machines_temporaries_stay_until_untouched_for_a_lease() {
        let dir = tempfile::tempdir().unwrap();
        let other = temp_name::this_machine() ^ 0x5a5a;
        // Its pid is dead here, which says nothing of the other machine.
        let live = dir
            .path()
            .join(format!(".convoy-{other:08x}7fffffff00000001.tmp"));
        let dead = dir
            .path()
            .join(format!(".convoy-{other:08x}7fffffff00000002.tmp"));
        let dead_dir = dir
            .path()
            .join(format!(".convoy-{other:08x}7fffffff00000003.tmp"));
        std::fs::write(&live, b"being written").unwrap();
        std::fs::write(&dead, b"left").unwrap();
        std::fs::create_dir(&dead_dir).unwrap();
        std::fs::write(dead_dir.join("inside"), b"x").unwrap();
        let long_ago = std::time::SystemTime::now() - LEASE - std::time::Duration::from_secs(60);
        for p in [&dead, &dead_dir] {
            std::fs::File::open(p)
                .unwrap()
                .set_modified(long_ago)
                .unwrap();
        }
        let fd = rustix::fs::open(dir.path(), DIR_FLAGS, Mode::empty()).unwrap();
        let swept = sweep_dead_temps(fd.as_fd(), std::process::id()).unwrap();
        assert!(swept.failed.is_empty(), "{:?}", swept.failed);
        assert_eq!(
            std::fs::read(&live).unwrap(),
            b"being written",
            "a live one stays"
        );
        assert!(
            !dead.exists(),
            "one untouched for longer than the lease goes"
        );
        assert!(!dead_dir.exists(), "and so does a folder");
    }
}
