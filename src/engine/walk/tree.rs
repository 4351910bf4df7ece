//! The walk: each source folder is read through its handle, its files planned
//! as they are read and its subfolders walked after them, depth first. No path
//! is resolved from the top, so no depth is too deep; at most `max_open`
//! folder handles are held (a closed one is reopened from the nearest open
//! one); a folder's listing is streamed, never held whole. Reading through
//! rustix rather than `std::fs::ReadDir` (walkdir) matters under faults: the
//! standard library's iterator panics when closing a folder fails (and aborts
//! on a second failure while unwinding), and ends a listing at its first
//! error, so an interrupted call would lose the rest of a folder.

use std::ffi::OsString;
use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use crossbeam_channel::Sender;
use rustix::fs::FileType;

use super::make_dir::make_writable;
use super::planner::{Planner, Visit};
use crate::engine::copy::job::Job;
use crate::engine::meta::attrs::SrcMeta;
use crate::engine::plan::deferred::Planned;
use crate::engine::plan::filter::Filter;
use crate::engine::plan::node::DirNode;
use crate::engine::read::Source;
use crate::engine::shared::Shared;
use crate::engine::write::Dest;
use crate::engine::write::names::CaseFold;
use crate::error::{CopyError, Op};
use crate::event::{EntryKind, Event, Notice, Outcome};

/// One folder on the way down: the subfolders it still has to walk.
struct Level<S: Source> {
    node: Arc<DirNode>,
    /// `None` while closed to stay within the walk's share of descriptors.
    fd: Option<Arc<S::OpenDir>>,
    subdirs: std::vec::IntoIter<(OsString, io::Result<SrcMeta>)>,
    /// Device and inode, for `-L` loop checks.
    id: (u64, u64),
}

/// Walks the whole source and plans it onto `jobs`; returns early only when
/// the run is cancelled or the workers are gone.
pub(crate) fn walk<S: Source, D: Dest>(
    sh: &Shared<S, D>,
    source: &Path,
    src_meta: SrcMeta,
    dest_fresh: bool,
    filter: Filter,
    max_open: usize,
    jobs: &Sender<Job>,
) -> Planned {
    let root = DirNode::root(dest_fresh);
    if let Some(dest) = sh.root.as_ref().filter(|_| !dest_fresh)
        && let Ok(open) = dest.open_node(&root)
    {
        let fd = D::dir(&open);
        if let Ok(st) = dest.dir_meta(fd) {
            make_writable(sh, fd, &st);
        }
        let (failed, partials) = dest.sweep_temps(fd, &root.rel);
        for e in failed {
            sh.send(Event::Notice(Notice::Sweep(e)));
        }
        root.partials.store(partials, Ordering::Relaxed);
    }
    let mut p = Planner::new(sh, source, jobs, filter, &root, src_meta);
    let mut levels = Vec::new();
    // A bug must not end the run as a success: it stops as a failure, and
    // what was planned is still finished (folders placed, given their modes
    // and times).
    let walked = catch_unwind(AssertUnwindSafe(|| {
        walk_tree(&mut p, &mut levels, root, src_meta, max_open)
    }));
    if let Err(panic) = walked {
        sh.thread_died("the walker", &*panic);
    }
    // Folders left on the stack were done with files when they were read.
    drop(levels);
    p.finish()
}

fn walk_tree<S: Source, D: Dest>(
    p: &mut Planner<'_, S, D>,
    levels: &mut Vec<Level<S>>,
    root: Arc<DirNode>,
    root_meta: SrcMeta,
    max_open: usize,
) {
    match p.sh.source.open_dir(Path::new("")) {
        Ok(fd) => {
            if !read_level(p, levels, root, fd, (root_meta.dev, root_meta.ino)) {
                return;
            }
        }
        Err(e) => return p.folder_failed(&root, e),
    }
    while let Some(top) = levels.last_mut() {
        if p.sh.control.is_cancelled() {
            return;
        }
        let Some((name, meta)) = top.subdirs.next() else {
            levels.pop();
            continue;
        };
        let parent = Arc::clone(&top.node);
        let rel = parent.rel.join(&name);
        let id = meta.as_ref().map_or((0, 0), |m| (m.dev, m.ino));
        let opened = level_fd(p, levels, max_open).and_then(|dir| {
            // With -L a symlink may lead back to a folder the walk is in.
            let ancestor = levels.iter().find(|l| l.id == id);
            match ancestor {
                Some(a) if p.sh.dereference => Err(loop_error(&p.source.join(&*a.node.rel))),
                _ => p.sh.source.open_child_dir(S::dir(&dir), &name),
            }
        });
        let fd = match (opened, &meta) {
            (Ok(fd), Ok(_)) => fd,
            // A folder that cannot be read (or looked at) is reported as it
            // is met; the walk goes on beside it.
            (Err(e), Ok(_)) => {
                let failure = CopyError::new(p.source.join(&rel), Op::ReadDir, e);
                p.report(&parent, name, EntryKind::Dir, Outcome::Failed(failure));
                continue;
            }
            (_, Err(_)) => {
                p.visit(&parent, name, &rel, FileType::Directory, meta);
                continue;
            }
        };
        match p.visit(&parent, name, &rel, FileType::Directory, meta) {
            Visit::Enter(node) => {
                if !read_level(p, levels, node, fd, id) {
                    return;
                }
                limit_open(levels, max_open);
            }
            Visit::Next | Visit::Skip => {}
            Visit::Stop => return,
        }
    }
}

/// Reads the folder of `node` through `fd`: every entry but its subfolders is
/// planned as it is read, then the folder is done with files (see `stage`) and
/// its subfolders wait on the stack. `false`: stop the walk.
fn read_level<S: Source, D: Dest>(
    p: &mut Planner<'_, S, D>,
    levels: &mut Vec<Level<S>>,
    node: Arc<DirNode>,
    fd: S::OpenDir,
    id: (u64, u64),
) -> bool {
    let mut subdirs = Vec::new();
    let mut go_on = true;
    let mut fold = p.sh.caps.keeps.ignores_case.then(CaseFold::default);
    let listed = p.sh.source.list(S::dir(&fd), |name, meta, listed| {
        p.met_one();
        // The listing's own idea of the type, when the entry cannot be
        // looked at: a folder that cannot be read is reported as one.
        let ft = meta.as_ref().map_or(listed, SrcMeta::file_type);
        if let Some(fold) = &mut fold
            && p.collides(fold, &node, &name, ft)
        {
            return true;
        }
        if ft == FileType::Directory {
            subdirs.push((name, meta));
            return true;
        }
        let rel = node.rel.join(&name);
        if let Visit::Stop = p.visit(&node, name, &rel, ft, meta) {
            go_on = false;
            return false;
        }
        true
    });
    // What could not be listed is reported with the folder; what was listed
    // is copied.
    if let Err(e) = listed {
        p.folder_failed(&node, e);
    }
    p.end_in_place(&node);
    levels.push(Level {
        node,
        fd: Some(Arc::new(fd)),
        subdirs: subdirs.into_iter(),
        id,
    });
    go_on
}

/// The error for a symlink that leads back to `ancestor` (with `-L`).
fn loop_error(ancestor: &Path) -> io::Error {
    io::Error::other(format!(
        "symlink loop back to {}",
        crate::format::DisplayPath(ancestor)
    ))
}

/// The open handle of the deepest level, reopened if it was closed to stay
/// within the descriptor budget.
fn level_fd<S: Source, D: Dest>(
    p: &Planner<'_, S, D>,
    levels: &mut [Level<S>],
    max_open: usize,
) -> io::Result<Arc<S::OpenDir>> {
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
                .open_child_dir(S::dir(&base), suffix.as_os_str())?
        }
        None => p.sh.source.open_dir(&levels[last].node.rel)?,
    };
    let fd = Arc::new(fd);
    levels[last].fd = Some(Arc::clone(&fd));
    limit_open(levels, max_open);
    Ok(fd)
}

/// Closes the shallowest handles beyond the walk's share of descriptors.
fn limit_open<S: Source>(levels: &mut [Level<S>], max_open: usize) {
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

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use std::os::unix::fs::PermissionsExt;

    use super::super::planner::PANIC_NAME;

    #[test]
    fn a_walker_that_dies_stops_the_run_as_a_failure_and_what_it_planned_is_finished() {
        let t = tempfile::tempdir().unwrap();
        let src = t.path().join("src");
        for d in 0..5 {
            let dir = src.join(format!("a{d}"));
            std::fs::create_dir_all(&dir).unwrap();
            for f in 0..20 {
                std::fs::write(dir.join(f.to_string()), b"data").unwrap();
            }
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o750)).unwrap();
        }
        std::fs::create_dir_all(src.join("z")).unwrap();
        std::fs::write(src.join("z").join(PANIC_NAME), b"boom").unwrap();
        let dst = t.path().join("dst");
        let cfg = Config::new(&src, &dst);
        let (fatal, cancelled) = crate::engine::run::run_to_end(cfg);
        assert!(cancelled, "a run without its walker is not a success");
        let why = fatal.expect("a fatal event says why the run stopped");
        assert!(why.contains("internal error in the walker"), "{why}");
        let mut placed = 0;
        for entry in std::fs::read_dir(&dst).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name().to_string_lossy().into_owned();
            assert!(
                !name.starts_with(".convoy-"),
                "a staged folder left: {name}"
            );
            let mode = entry.metadata().unwrap().permissions().mode() & 0o777;
            if name.starts_with('a') {
                assert_eq!(mode, 0o750, "{name} got its mode though the walk died");
                placed += 1;
            }
        }
        assert!(
            placed > 0,
            "the walker died before making any folder: nothing checked"
        );
    }
}
