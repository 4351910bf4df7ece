//! SFTP's attributes in the engine's terms: what a server's answer says of
//! an entry, and how precisely (times in whole seconds).

use openssh_sftp_client::UnixTimeStamp;
use openssh_sftp_client::metadata::MetaData;

use crate::engine::meta::attrs::{SrcMeta, TimeWindow};

/// SFTP version 3 carries times in whole seconds.
pub(crate) const WINDOW: TimeWindow = TimeWindow(1_000_000_000);

/// The metadata of a server's answer, in the engine's terms. SFTP tells no
/// device, inode or link count (0, 0, 1): sameness of files is never asked
/// of them here.
pub(crate) fn meta_of(m: &MetaData) -> SrcMeta {
    let kind = m.file_type().map_or(0, |t| t.as_raw() as u32);
    let perm = m.permissions().map_or(0, |p| p.as_raw().bits());
    let secs = |t: Option<UnixTimeStamp>| t.map_or((0, 0), |t| (i64::from(t.into_raw()), 0));
    SrcMeta {
        mode: kind | (perm & 0o7777),
        uid: m.uid().unwrap_or(0),
        gid: m.gid().unwrap_or(0),
        size: m.len().unwrap_or(0),
        atime: secs(m.accessed()),
        mtime: secs(m.modified()),
        ctime: secs(m.modified()),
        dev: 0,
        ino: 0,
        nlink: 1,
        blocks: m.len().unwrap_or(0).div_ceil(512),
        rdev: 0,
    }
}
