//! Waiting until the copy is on the device (`--flush`, `--fsync`): one
//! `syncfs` of the destination's filesystem, with what is left to write
//! reported while it runs, so "done" is only said once it is true.

use std::time::Duration;

use crate::engine::os::sys;
use crate::engine::read::Source;
use crate::engine::shared::Shared;
use crate::engine::write::Dest;
use crate::engine::write::dest::DestRoot;
use crate::error::{CopyError, Op};
use crate::event::{Event, Notice};

/// How often what is left is reported.
const EVERY: Duration = Duration::from_millis(250);

/// Writes everything of the destination's filesystem to its device (waiting
/// on a thread called `thread`), and says so if the device refused some of it.
pub(crate) fn to_device<S: Source>(sh: &Shared<S, DestRoot>, thread: String) {
    let root = sh.root();
    let (tx, rx) = crossbeam_channel::bounded(1);
    let synced = std::thread::scope(|s| {
        let flusher = std::thread::Builder::new()
            .name(thread)
            .spawn_scoped(s, || {
                let _ = tx.send(sys::syncfs(root.root_fd()));
            });
        if flusher.is_err() {
            // No thread to wait beside: wait without a gauge.
            return sys::syncfs(root.root_fd());
        }
        loop {
            sh.send(Event::Flushing {
                left: dirty_bytes(),
            });
            match rx.recv_timeout(EVERY) {
                Ok(r) => return r,
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => {
                    return Err(rustix::io::Errno::IO);
                }
            }
        }
    });
    sh.send(Event::Flushing { left: 0 });
    if let Err(e) = synced {
        let e = CopyError::new(root.display(std::path::Path::new("")), Op::Flush, e.into());
        sh.send(Event::Notice(Notice::Flush(e)));
    }
}

/// What the system still has to write to its devices, from `/proc/meminfo`
/// (dirty pages and pages being written back). 0 when it cannot be read.
fn dirty_bytes() -> u64 {
    let Ok(info) = std::fs::read_to_string("/proc/meminfo") else {
        return 0;
    };
    info.lines()
        .filter(|l| l.starts_with("Dirty:") || l.starts_with("Writeback:"))
        .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        .sum::<u64>()
        * 1024
}
