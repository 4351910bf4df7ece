//! The names of convoy's temporaries: made here, recognised here, so the run
//! that writes them and the sweep that removes a dead run's agree on one format.
//! `.convoy-` + 8 hex digits naming the machine + 8 of the writer's pid + 8 of
//! randomness + `.tmp` is always 36 bytes, whatever the final name's length, so
//! NAME_MAX is never at stake. The machine is there because a destination may
//! be shared (an NFS or SMB folder, an sshfs mount) by runs on several
//! machines: a pid says whether a run is alive only on the machine that made
//! it. Names of the older form, without the machine (28 bytes), are still
//! recognised, as this machine's.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::{AtomicU64, Ordering};

const PREFIX: &str = ".convoy-";
const SUFFIX: &str = ".tmp";
const LEN: usize = PREFIX.len() + 24 + SUFFIX.len();
/// The form older builds wrote: no machine.
const OLD_LEN: usize = PREFIX.len() + 16 + SUFFIX.len();

/// Who made a temporary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Owner {
    /// `None`: a name of the older form, taken as this machine's.
    pub machine: Option<u32>,
    pub pid: u32,
}

impl Owner {
    /// Whether this machine made it, so its pid can be asked about.
    pub fn is_here(&self) -> bool {
        self.machine.is_none_or(|m| m == this_machine())
    }
}

/// This machine, as its temporaries name it: the first bytes of a hash of
/// `/etc/machine-id` (systemd's, unique per installation), else of the
/// host name.
pub(crate) fn this_machine() -> u32 {
    static ID: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *ID.get_or_init(|| {
        let id = std::fs::read("/etc/machine-id")
            .ok()
            .filter(|id| !id.trim_ascii().is_empty())
            .unwrap_or_else(|| rustix::system::uname().nodename().to_bytes().to_vec());
        let h = blake3::hash(id.trim_ascii());
        u32::from_le_bytes(h.as_bytes()[..4].try_into().expect("4 bytes"))
    })
}

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
        let machine = this_machine();
        OsString::from(format!(
            "{PREFIX}{machine:08x}{:08x}{r:08x}{SUFFIX}",
            self.pid
        ))
    }
}

/// Who made a temporary, if `name` is one of convoy's.
pub(crate) fn owner(name: &OsStr) -> Option<Owner> {
    let b = name.as_bytes();
    if !(b.len() == LEN || b.len() == OLD_LEN)
        || !b.starts_with(PREFIX.as_bytes())
        || !b.ends_with(SUFFIX.as_bytes())
    {
        return None;
    }
    let hex = &b[PREFIX.len()..b.len() - SUFFIX.len()];
    if !hex.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    let word = |i: usize| u32::from_str_radix(std::str::from_utf8(&hex[i..i + 8]).ok()?, 16).ok();
    Some(match b.len() {
        LEN => Owner {
            machine: Some(word(0)?),
            pid: word(8)?,
        },
        _ => Owner {
            machine: None,
            pid: word(0)?,
        },
    })
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
    fn temp_names_have_a_fixed_length_and_name_their_machine_and_pid() {
        let names = TempNames::new(4242);
        let (a, b) = (names.next(), names.next());
        assert_ne!(a, b);
        assert_eq!(a.len(), LEN);
        let o = owner(&a).expect("recognised");
        assert_eq!((o.machine, o.pid), (Some(this_machine()), 4242));
        assert!(o.is_here());
        // Another machine's, and an older build's (taken as this machine's).
        let other = format!(".convoy-{:08x}0000002a00000001.tmp", this_machine() ^ 1);
        let o = owner(OsStr::new(&other)).expect("recognised");
        assert_eq!(o.pid, 42);
        assert!(!o.is_here());
        let old = owner(OsStr::new(".convoy-0000002a00000001.tmp")).expect("recognised");
        assert_eq!((old.machine, old.pid), (None, 42));
        assert!(old.is_here());
        assert_eq!(owner(OsStr::new(".convoy-notatemp.tmp")), None);
        assert_eq!(owner(OsStr::new(".convoy-0000109zzzzzzzzz.tmp")), None);
        assert_eq!(owner(OsStr::new("report.tmp")), None);
    }
}
