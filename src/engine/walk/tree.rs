//! The walk by path: walkdir streams the source tree (unsorted, so it never
//! holds a whole folder's listing) and each entry goes to the planner. Where a
//! path grows past PATH_MAX the walk goes on through folder handles (`deep`).

use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crossbeam_channel::Sender;
use rustix::io::Errno;
use walkdir::WalkDir;

use super::deep::{self, loop_error};
use super::filter::Filter;
use super::planner::{Planner, Visit};
use crate::engine::job::Job;
use crate::engine::meta::{SrcMeta, file_type_of};
use crate::engine::node::DirNode;
use crate::engine::plan::Planned;
use crate::engine::shared::Shared;
use crate::error::{CopyError, Op};
use crate::event::{EntryKind, Event, Notice, Outcome};

/// Walks the whole source and plans it onto `jobs`; returns early only when
/// the run is cancelled or the workers are gone. `max_open` bounds the folder
/// handles the walk holds at once.
pub(crate) fn walk(
    sh: &Shared,
    source: &Path,
    src_meta: SrcMeta,
    dest_fresh: bool,
    filter: Filter,
    max_open: usize,
    jobs: &Sender<Job>,
) -> Planned {
    let root = DirNode::root(dest_fresh);
    if let Some(dest) = sh.root.as_ref().filter(|_| !dest_fresh)
        && let Err(e) = dest.sweep_temps(dest.root_fd())
    {
        sh.send(Event::Notice(Notice::Sweep(e)));
    }
    let mut p = Planner::new(sh, source, jobs, filter, &root, src_meta);
    // Unsorted: sorting makes walkdir hold a whole folder's entries at once
    // (119 MiB for a folder of 1,000,000 files, 7.5 MiB unsorted).
    let mut it = WalkDir::new(source)
        .follow_links(sh.dereference)
        .max_open(max_open)
        .min_depth(1)
        .into_iter();
    // stack[d] is the destination folder for entries at depth d + 1.
    let mut stack: Vec<Arc<DirNode>> = vec![root];
    while let Some(next) = it.next() {
        if sh.control.is_cancelled() {
            break;
        }
        p.met_one();
        let entry = match next {
            Ok(e) => e,
            Err(err) => {
                if let Some((depth, path)) = too_deep(&err) {
                    // Past PATH_MAX: walkdir cannot open it by path; handles can.
                    let parent = Arc::clone(&stack[depth.clamp(1, stack.len()) - 1]);
                    // Mostly walkdir yielded the folder (and it was made)
                    // before failing to read it.
                    let made = stack
                        .get(depth)
                        .filter(|n| path.strip_prefix(source).is_ok_and(|r| *n.rel == *r))
                        .cloned();
                    if !deep::walk(&mut p, &parent, &path, made, max_open) {
                        break;
                    }
                } else {
                    walk_error(&p, &stack, err);
                }
                continue;
            }
        };
        for left in stack.drain(entry.depth()..) {
            p.end_in_place(&left);
        }
        let parent = Arc::clone(&stack[entry.depth() - 1]);
        if entry.file_type().is_dir() {
            p.end_in_place(&parent);
        }
        let rel = entry.path().strip_prefix(source).unwrap_or(entry.path());
        let meta = entry.metadata().map(|m| SrcMeta::from(&m)).or_else(|e| {
            let err = e
                .into_io_error()
                .unwrap_or_else(|| io::Error::other("cannot stat"));
            match err.raw_os_error() {
                // The full path is too long to stat; its folder's handle is not.
                Some(code) if code == Errno::NAMETOOLONG.raw_os_error() => sh.source.stat(rel),
                _ => Err(err),
            }
        });
        let name = entry.file_name().to_os_string();
        match p.visit(&parent, name, rel, file_type_of(entry.file_type()), meta) {
            Visit::Enter(node) => stack.push(node),
            Visit::Next => {}
            Visit::Skip => it.skip_current_dir(),
            Visit::Stop => break,
        }
    }
    for left in stack.drain(..) {
        p.end_in_place(&left);
    }
    p.finish()
}

/// A walkdir error that only means "too long a path": the depth and path of
/// the folder it could not open.
fn too_deep(err: &walkdir::Error) -> Option<(usize, PathBuf)> {
    let io = err.io_error()?;
    (io.raw_os_error() == Some(Errno::NAMETOOLONG.raw_os_error()) && err.loop_ancestor().is_none())
        .then(|| Some((err.depth(), err.path()?.to_path_buf())))
        .flatten()
}

fn walk_error(p: &Planner<'_>, stack: &[Arc<DirNode>], err: walkdir::Error) {
    let path = err
        .path()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| p.source.clone());
    let depth = err.depth().max(1).min(stack.len());
    let parent = &stack[depth - 1];
    let name = path.file_name().map(OsString::from).unwrap_or_default();
    let io = match err.loop_ancestor() {
        Some(anc) => loop_error(anc),
        None => err
            .into_io_error()
            .unwrap_or_else(|| io::Error::other("walk failed")),
    };
    let failure = CopyError::new(path, Op::ReadDir, io);
    p.report(parent, name, EntryKind::Dir, Outcome::Failed(failure));
}
