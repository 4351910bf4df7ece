//! The names of convoy's temporaries: made here, recognised here, so the run
//! that writes them and the sweep that removes a dead run's agree on one format.
//! `.convoy-` + 8 hex digits of the writer's pid + 8 of randomness + `.tmp` is
//! always 28 bytes, whatever the final name's length, so NAME_MAX is never at
//! stake.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::{AtomicU64, Ordering};

const PREFIX: &str = ".convoy-";
const SUFFIX: &str = ".tmp";
const LEN: usize = PREFIX.len() + 16 + SUFFIX.len();

/// Hands out temporary names for one run: unique within it, and unlikely to
/// meet another run's (a clash is retried by the caller with `O_EXCL`).
pub(crate) struct TempNames {
    pid: u32,
    seed: u64,
    seq: AtomicU64,
}

impl TempNames {
    pub fn new(pid: u32) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        TempNames {
            pid,
            seed: nanos ^ (u64::from(pid) << 32),
            seq: AtomicU64::new(0),
        }
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    pub fn next(&self) -> OsString {
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        let r = splitmix64(self.seed.wrapping_add(n)) as u32;
        OsString::from(format!("{PREFIX}{:08x}{r:08x}{SUFFIX}", self.pid))
    }
}

/// The pid that made a temporary, if `name` is one of convoy's.
pub(crate) fn owner(name: &OsStr) -> Option<u32> {
    let b = name.as_bytes();
    if b.len() != LEN || !b.starts_with(PREFIX.as_bytes()) || !b.ends_with(SUFFIX.as_bytes()) {
        return None;
    }
    let hex = &b[PREFIX.len()..PREFIX.len() + 16];
    if !hex.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    u32::from_str_radix(std::str::from_utf8(&hex[..8]).ok()?, 16).ok()
}

fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_names_have_a_fixed_length_and_are_recognised() {
        let names = TempNames::new(4242);
        let (a, b) = (names.next(), names.next());
        assert_ne!(a, b);
        assert_eq!(a.len(), LEN);
        assert_eq!(owner(&a), Some(4242));
        assert_eq!(owner(OsStr::new(".convoy-notatemp.tmp")), None);
        assert_eq!(owner(OsStr::new(".convoy-0000109zzzzzzzzz.tmp")), None);
        assert_eq!(owner(OsStr::new("report.tmp")), None);
    }
}
