//! A file's metadata as object metadata, the way rclone keeps it, so that a
//! tree goes from convoy to rclone and back with its times and modes: the
//! modification time in `X-Amz-Meta-Mtime` as seconds with their fraction
//! (`1354040105.123456789`, trailing zeros dropped), and, as rclone's
//! `--metadata` writes them, `mode` (octal, with the type bits), `uid` and
//! `gid` (decimal), all lower-case user metadata.

use object_store::{Attribute, Attributes};

use crate::engine::meta::attrs::SrcMeta;

const MTIME: &str = "mtime";
const MODE: &str = "mode";
const UID: &str = "uid";
const GID: &str = "gid";

/// The attributes an object of a file with `meta` is written with; the
/// owner only where it is kept (`owner`).
pub(crate) fn attributes(meta: &SrcMeta, owner: bool) -> Attributes {
    let mut a = Attributes::new();
    let mut put = |k: &'static str, v: String| {
        a.insert(Attribute::Metadata(k.into()), v.into());
    };
    put(MTIME, seconds(meta.mtime));
    put(MODE, format!("{:o}", meta.mode));
    if owner {
        put(UID, meta.uid.to_string());
        put(GID, meta.gid.to_string());
    }
    a
}

/// `(seconds, nanoseconds)` as rclone writes a time.
pub(crate) fn seconds((s, ns): (i64, i64)) -> String {
    let total = i128::from(s) * 1_000_000_000 + i128::from(ns);
    let (sign, total) = if total < 0 {
        ("-", -total)
    } else {
        ("", total)
    };
    let (whole, frac) = (total / 1_000_000_000, total % 1_000_000_000);
    if frac == 0 {
        return format!("{sign}{whole}");
    }
    let frac = format!("{frac:09}");
    format!("{sign}{whole}.{}", frac.trim_end_matches('0'))
}

/// A time rclone wrote (see [`seconds`]); `None` if it is not one.
pub(crate) fn parse_seconds(text: &str) -> Option<(i64, i64)> {
    let (neg, text) = match text.strip_prefix('-') {
        Some(t) => (true, t),
        None => (false, text),
    };
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty()
        || frac.len() > 9
        || !(whole.bytes().chain(frac.bytes())).all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let whole: i128 = whole.parse().ok()?;
    let frac: i128 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<9}").parse().ok()?
    };
    let mut total = whole * 1_000_000_000 + frac;
    if neg {
        total = -total;
    }
    let s = i64::try_from(total.div_euclid(1_000_000_000)).ok()?;
    Some((s, total.rem_euclid(1_000_000_000) as i64))
}

/// What an object's attributes say of the file it holds, over `meta` (what
/// the listing said: its size, and its upload time where no time was kept).
pub(crate) fn read_back(attrs: &Attributes, mut meta: SrcMeta) -> SrcMeta {
    let get = |k: &'static str| attrs.get(&Attribute::Metadata(k.into()));
    if let Some(t) = get(MTIME).and_then(|v| parse_seconds(v)) {
        meta.mtime = t;
        meta.atime = t;
    }
    if let Some(m) = get(MODE).and_then(|v| u32::from_str_radix(v, 8).ok()) {
        // Only a regular file's mode is taken: an object is a file here.
        meta.mode = libc_file_type() | (m & 0o7777);
    }
    if let Some(u) = get(UID).and_then(|v| v.parse().ok()) {
        meta.uid = u;
    }
    if let Some(g) = get(GID).and_then(|v| v.parse().ok()) {
        meta.gid = g;
    }
    meta
}

/// `S_IFREG`.
fn libc_file_type() -> u32 {
    rustix::fs::FileType::RegularFile.as_raw_mode()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_written_as_rclone_writes_them_and_read_back_exactly() {
        assert_eq!(seconds((1354040105, 123456789)), "1354040105.123456789");
        assert_eq!(seconds((1354040105, 500_000_000)), "1354040105.5");
        assert_eq!(seconds((1354040105, 0)), "1354040105");
        assert_eq!(seconds((-1, 500_000_000)), "-0.5");
        for t in [(1354040105, 123456789), (0, 1), (-2, 999_999_999), (7, 0)] {
            assert_eq!(parse_seconds(&seconds(t)), Some(t), "{t:?}");
        }
        assert_eq!(parse_seconds("1.1234567891"), None);
        assert_eq!(parse_seconds("abc"), None);
        assert_eq!(parse_seconds(""), None);
    }

    #[test]
    fn mode_and_owner_go_and_come_back() {
        let meta = SrcMeta {
            mode: 0o100754,
            uid: 1000,
            gid: 100,
            size: 3,
            mtime: (1700000000, 42),
            ..SrcMeta::default()
        };
        let a = attributes(&meta, true);
        let back = read_back(&a, SrcMeta::default());
        assert_eq!(back.mode, 0o100754);
        assert_eq!((back.uid, back.gid), (1000, 100));
        assert_eq!(back.mtime, (1700000000, 42));
        let no_owner = attributes(&meta, false);
        assert_eq!(read_back(&no_owner, SrcMeta::default()).uid, 0);
    }
}
