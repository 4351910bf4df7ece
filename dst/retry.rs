//! Calling again what a signal interrupted. The standard library's file calls
//! do not retry EINTR (a signal, or an interrupted network or FUSE request),
//! and a check that fails on it would refuse a good path. Bounded, so a call
//! that keeps failing this way ends as an error, not a hang. (The engine's own
//! calls go through `engine::sys`, which does the same for rustix.)

use std::io;

/// Consecutive interruptions after which the failure stands.
pub(crate) const RETRIES: u32 = 64;

pub(crate) fn interrupted<T>(mut call: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    let mut left = RETRIES;
    loop {
        match call() {
            Err(e) if e.kind() == io::ErrorKind::Interrupted && left > 0 => left -= 1,
            r => return r,
        }
    }
}
