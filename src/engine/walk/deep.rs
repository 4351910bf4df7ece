//! The walk through folder handles, for folders deeper than PATH_MAX: each level
//! is read whole into a list of names so its handle can be closed while deeper
//! levels are walked, at most `max_open` handles are held, and with `-L` a
//! symlink that leads back to any enclosing folder is reported, not followed.

use std::ffi::OsString;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustix::fs::{self as rfs, FileType};

use super::planner::{Planner, Visit};
use crate::engine::node::DirNode;
use crate::error::{CopyError, Op};
use crate::event::{EntryKind, Outcome};

/// One open folder of the walk: its names, read up front.
struct Level {
    node: Arc<DirNode>,
    fd: Option<Arc<OwnedFd>>,
    names: std::vec::IntoIter<OsString>,
    id: (u64, u64),
}

impl Level {
    fn read(
        node: Arc<DirNode>,
        fd: OwnedFd,
        id: (u64, u64),
    ) -> Result<Self, (Arc<DirNode>, io::Error)> {
        let mut names = Vec::new();
        let dir = match rfs::Dir::read_from(&fd) {
            Ok(d) => d,
            Err(e) => return Err((node, e.into())),
        };
        for entry in dir {
            match entry {
                Ok(e) => {
                    let n = e.file_name().to_bytes();
                    if n != b"." && n != b".." {
                        names.push(OsString::from_vec(n.to_vec()));
                    }
                }
                Err(e) => return Err((node, e.into())),
            }
        }
        names.sort_unstable();
        Ok(Level {
            node,
            fd: Some(Arc::new(fd)),
            names: names.into_iter(),
            id,
        })
    }
}

/// The error for a symlink that leads back to `ancestor` (with `-L`).
pub(super) fn loop_error(ancestor: &Path) -> io::Error {
    io::Error::other(format!(
        "symlink loop back to {}",
        crate::format::DisplayPath(ancestor)
    ))
}

/// Walks the folder at `path` (below `parent`) and everything beneath it
/// through handles. `made`: its destination, when the walk by path already
/// made it. `false`: stop the whole walk.
pub(super) fn walk(
    p: &mut Planner<'_>,
    parent: &Arc<DirNode>,
    path: &Path,
    made: Option<Arc<DirNode>>,
    max_open: usize,
) -> bool {
    let rel = path.strip_prefix(&p.source).unwrap_or(path).to_path_buf();
    let name = rel.file_name().map(OsString::from).unwrap_or_default();
    let meta = p.sh.source.stat(&rel);
    let opened = meta
        .as_ref()
        .map_err(crate::error::clone_io)
        .and_then(|_| p.sh.source.open_dir(&rel));
    let fd = match opened {
        Ok(fd) => fd,
        Err(e) => {
            let failure = CopyError::new(path, Op::ReadDir, e);
            p.report(parent, name, EntryKind::Dir, Outcome::Failed(failure));
            return true;
        }
    };
    let id = meta.as_ref().map_or((0, 0), |m| (m.dev, m.ino));
    let outer = match enclosing(p, &rel) {
        Ok(outer) => outer,
        Err(e) => {
            let failure = CopyError::new(path, Op::ReadDir, e);
            p.report(parent, name, EntryKind::Dir, Outcome::Failed(failure));
            return true;
        }
    };
    if let Some((_, anc)) = outer.iter().find(|(i, _)| *i == id) {
        let failure = CopyError::new(path, Op::ReadDir, loop_error(&p.source.join(anc)));
        p.report(parent, name, EntryKind::Dir, Outcome::Failed(failure));
        return true;
    }
    let visited = match made {
        Some(node) => Visit::Enter(node),
        None => p.visit(parent, name, &rel, FileType::Directory, meta),
    };
    let node = match visited {
        Visit::Enter(node) => node,
        Visit::Stop => return false,
        Visit::Next | Visit::Skip => return true,
    };
    let mut levels = match Level::read(node, fd, id) {
        Ok(l) => vec![l],
        Err((node, e)) => {
            p.folder_failed(&node, e);
            p.end_in_place(&node);
            return true;
        }
    };
    while let Some(top) = levels.last_mut() {
        if p.sh.control.is_cancelled() {
            return false;
        }
        let Some(name) = top.names.next() else {
            let node = Arc::clone(&top.node);
            levels.pop();
            p.end_in_place(&node);
            continue;
        };
        p.met_one();
        let parent = Arc::clone(&top.node);
        let dir = match level_fd(p, &mut levels, max_open) {
            Ok(fd) => fd,
            Err(e) => {
                p.folder_failed(&parent, e);
                levels.pop();
                p.end_in_place(&parent);
                continue;
            }
        };
        let rel = parent.rel.join(&name);
        let meta = p.sh.source.stat_at(dir.as_fd(), &name);
        let ft = meta
            .as_ref()
            .map_or(FileType::RegularFile, |m| m.file_type());
        let mut child = None;
        if ft == FileType::Directory {
            let id = meta.as_ref().map_or((0, 0), |m| (m.dev, m.ino));
            let ancestor = outer
                .iter()
                .find(|(i, _)| *i == id)
                .map(|(_, p)| p.as_path())
                .or_else(|| levels.iter().find(|l| l.id == id).map(|l| &*l.node.rel));
            let opened = if let Some(anc) = ancestor {
                Err(loop_error(&p.source.join(anc)))
            } else {
                p.sh.source.open_child_dir(dir.as_fd(), &name)
            };
            match opened {
                Ok(fd) => child = Some((fd, id)),
                Err(e) => {
                    let failure = CopyError::new(p.source.join(&rel), Op::ReadDir, e);
                    p.report(&parent, name, EntryKind::Dir, Outcome::Failed(failure));
                    continue;
                }
            }
        }
        match p.visit(&parent, name, &rel, ft, meta) {
            Visit::Enter(node) => {
                let (fd, id) = child.expect("a folder was opened");
                match Level::read(node, fd, id) {
                    Ok(l) => levels.push(l),
                    Err((node, e)) => {
                        p.folder_failed(&node, e);
                        p.end_in_place(&node);
                    }
                }
                limit_open(&mut levels, max_open);
            }
            Visit::Next | Visit::Skip => {}
            Visit::Stop => return false,
        }
    }
    true
}

/// With `-L`: device and inode of every folder enclosing `rel` (the root
/// first), with their paths, since a followed symlink may lead back above
/// where this walk starts. Without `-L` nothing can loop.
fn enclosing(p: &Planner<'_>, rel: &Path) -> io::Result<Vec<((u64, u64), PathBuf)>> {
    if !p.sh.dereference {
        return Ok(Vec::new());
    }
    let ids =
        p.sh.source
            .ids_on_the_way(rel.parent().unwrap_or(Path::new("")))?;
    // Paired with their paths: the root, then one more component each.
    let mut on_the_way = PathBuf::new();
    Ok(ids
        .into_iter()
        .zip(std::iter::once(None).chain(rel.iter().map(Some)))
        .map(|(id, comp)| {
            on_the_way.extend(comp);
            (id, on_the_way.clone())
        })
        .collect())
}

/// The open handle of the deepest level, reopened if it was closed to stay
/// within the descriptor budget.
fn level_fd(p: &Planner<'_>, levels: &mut [Level], max_open: usize) -> io::Result<Arc<OwnedFd>> {
    let last = levels.len() - 1;
    if let Some(fd) = &levels[last].fd {
        return Ok(Arc::clone(fd));
    }
    // From the nearest level still open, one component at a time.
    let from = levels[..last].iter().rposition(|l| l.fd.is_some());
    let fd = match from {
        Some(i) => {
            let base = Arc::clone(levels[i].fd.as_ref().expect("open"));
            let suffix = levels[last]
                .node
                .rel
                .strip_prefix(&*levels[i].node.rel)
                .map_err(|_| io::Error::other("not beneath"))?
                .to_path_buf();
            p.sh.source
                .open_child_dir(base.as_fd(), suffix.as_os_str())?
        }
        None => p.sh.source.open_dir(&levels[last].node.rel)?,
    };
    let fd = Arc::new(fd);
    levels[last].fd = Some(Arc::clone(&fd));
    limit_open(levels, max_open);
    Ok(fd)
}

/// Closes the shallowest handles beyond the walk's share of descriptors.
fn limit_open(levels: &mut [Level], max_open: usize) {
    let mut open = levels.iter().filter(|l| l.fd.is_some()).count();
    for l in levels.iter_mut() {
        if open <= max_open {
            break;
        }
        if l.fd.take().is_some() {
            open -= 1;
        }
    }
}
