//! Where a SOURCE or DEST is: a path on this machine, a folder on another
//! reached over SSH, written `[user@]host:path` as scp and rsync write it, or
//! a bucket's prefix in an S3-compatible store, written `s3://bucket/prefix`.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;

/// A place the user named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Local(PathBuf),
    Remote(Remote),
    Bucket(Bucket),
}

/// A prefix in a bucket of an S3-compatible store: where the store is and
/// who may use it come from the environment, as for every AWS tool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucket {
    pub bucket: String,
    /// The keys' common beginning, without a slash at either end; empty
    /// for the whole bucket.
    pub prefix: String,
}

impl std::fmt::Display for Bucket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.prefix.as_str() {
            "" => write!(f, "s3://{}", self.bucket),
            p => write!(f, "s3://{}/{p}", self.bucket),
        }
    }
}

/// A folder (or file) on another machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remote {
    /// `host` or `user@host` as written: ssh resolves it (`~/.ssh/config`,
    /// its aliases, ports and jumps).
    pub host: String,
    /// The path there: from the login folder unless it starts with `/`;
    /// empty for the login folder itself.
    pub path: PathBuf,
}

impl std::fmt::Display for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.host, self.path.to_string_lossy())
    }
}

/// Why an argument names no place convoy can reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotAPlace {
    /// `host::module`: rsync's own daemon, which convoy does not speak.
    RsyncDaemon(String),
    /// A host that is not text (hosts are names or addresses).
    HostNotText,
    /// `[` without its `]` before the colon.
    Unclosed,
    /// `s3://` with no bucket, or with a name that cannot be one.
    BadBucket(String),
}

impl std::fmt::Display for NotAPlace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotAPlace::RsyncDaemon(host) => write!(
                f,
                "{host}:: names an rsync daemon's module, which convoy does not speak \
                 (write {host}:path to go through ssh, or ./{host}::… for a local name)"
            ),
            NotAPlace::HostNotText => write!(f, "the host name is not valid text"),
            NotAPlace::Unclosed => write!(f, "an address in [ ] has no closing ]"),
            NotAPlace::BadBucket(why) => write!(f, "{why}"),
        }
    }
}

/// Reads `arg` the way scp and rsync do: a colon before the first slash
/// makes what precedes it a host (`host:path`, `user@host:`, `[::1]:path`,
/// `user@[fe80::1]:path`); a path with a slash before its first colon
/// (`./a:b`, `/mnt/a:b`) or that starts with a colon is a local one.
pub fn parse(arg: &OsStr) -> Result<Location, NotAPlace> {
    let bytes = arg.as_bytes();
    if let Some(rest) = bytes.strip_prefix(b"s3://") {
        return bucket(rest).map(Location::Bucket);
    }
    let local = || Ok(Location::Local(PathBuf::from(arg)));
    if bytes.first() == Some(&b':') {
        return local();
    }
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'/' => return local(),
            // An address in brackets may hold colons of its own.
            b'[' if i == 0 || bytes[i - 1] == b'@' => {
                let Some(close) = bytes[i..].iter().position(|&b| b == b']') else {
                    return Err(NotAPlace::Unclosed);
                };
                i += close + 1;
                if bytes.get(i) != Some(&b':') {
                    return local();
                }
                continue;
            }
            b':' => break,
            _ => i += 1,
        }
    }
    if i >= bytes.len() {
        return local();
    }
    let host = std::str::from_utf8(&bytes[..i]).map_err(|_| NotAPlace::HostNotText)?;
    let rest = &bytes[i + 1..];
    if rest.first() == Some(&b':') {
        return Err(NotAPlace::RsyncDaemon(host.to_string()));
    }
    Ok(Location::Remote(Remote {
        host: host.to_string(),
        path: PathBuf::from(OsString::from_vec(rest.to_vec())),
    }))
}

/// `bucket/prefix` after `s3://`: a bucket name as S3 allows them (3 to 63
/// of a-z, 0-9, `.` and `-`), and a prefix that is text, its slashes at
/// either end dropped and never two in a row (a key with an empty part
/// names no file a copy could make or read back).
fn bucket(rest: &[u8]) -> Result<Bucket, NotAPlace> {
    let rest = std::str::from_utf8(rest)
        .map_err(|_| NotAPlace::BadBucket("an object's key must be valid text".into()))?;
    let (name, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let fits = (3..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-');
    if !fits {
        return Err(NotAPlace::BadBucket(if name.is_empty() {
            "s3:// needs a bucket: s3://bucket/prefix".into()
        } else {
            format!("{name:?} is not a bucket's name (3 to 63 of a-z, 0-9, '.' and '-')")
        }));
    }
    let prefix = prefix.trim_matches('/');
    if prefix
        .split('/')
        .any(|p| p == "." || p == ".." || (p.is_empty() && !prefix.is_empty()))
    {
        return Err(NotAPlace::BadBucket(format!(
            "s3://{name}/{prefix}: a prefix has no empty, '.' or '..' parts"
        )));
    }
    Ok(Bucket {
        bucket: name.into(),
        prefix: prefix.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn remote(host: &str, path: &str) -> Result<Location, NotAPlace> {
        Ok(Location::Remote(Remote {
            host: host.into(),
            path: path.into(),
        }))
    }

    fn local(path: &str) -> Result<Location, NotAPlace> {
        Ok(Location::Local(path.into()))
    }

    #[test]
    fn a_colon_before_the_first_slash_names_a_host() {
        let p = |s: &str| parse(OsStr::new(s));
        assert_eq!(p("host:dir/a"), remote("host", "dir/a"));
        assert_eq!(p("me@host:/srv/x"), remote("me@host", "/srv/x"));
        assert_eq!(p("host:"), remote("host", ""));
        assert_eq!(p("[::1]:/tmp"), remote("[::1]", "/tmp"));
        assert_eq!(p("me@[fe80::1]:x"), remote("me@[fe80::1]", "x"));
    }

    #[test]
    fn a_slash_first_or_no_colon_is_a_local_path() {
        let p = |s: &str| parse(OsStr::new(s));
        assert_eq!(p("./a:b"), local("./a:b"));
        assert_eq!(p("/mnt/a:b"), local("/mnt/a:b"));
        assert_eq!(p("dir/x"), local("dir/x"));
        assert_eq!(p(":odd"), local(":odd"));
        assert_eq!(p("plain"), local("plain"));
        assert_eq!(p("[notanaddress"), Err(NotAPlace::Unclosed));
        assert_eq!(p("[a]b"), local("[a]b"));
    }

    #[test]
    fn s3_names_a_bucket_and_its_prefix() {
        let p = |s: &str| parse(OsStr::new(s));
        let b = |bucket: &str, prefix: &str| {
            Ok(Location::Bucket(Bucket {
                bucket: bucket.into(),
                prefix: prefix.into(),
            }))
        };
        assert_eq!(p("s3://photos"), b("photos", ""));
        assert_eq!(p("s3://photos/"), b("photos", ""));
        assert_eq!(p("s3://photos/2024/may/"), b("photos", "2024/may"));
        assert_eq!(p("./s3://x"), local("./s3://x"));
        for bad in [
            "s3://",
            "s3://Ph",
            "s3://a_b/c",
            "s3://abc/x//y",
            "s3://abc/../x",
        ] {
            assert!(matches!(p(bad), Err(NotAPlace::BadBucket(_))), "{bad}");
        }
        let shown = |s: &str| match p(s) {
            Ok(Location::Bucket(b)) => b.to_string(),
            other => panic!("{other:?}"),
        };
        assert_eq!(shown("s3://photos/a/"), "s3://photos/a");
        assert_eq!(shown("s3://photos"), "s3://photos");
    }

    #[test]
    fn an_rsync_daemon_or_a_host_that_is_not_text_is_refused() {
        assert_eq!(
            parse(OsStr::new("host::module")),
            Err(NotAPlace::RsyncDaemon("host".into()))
        );
        let raw = OsStr::from_bytes(b"h\xffst:x");
        assert_eq!(parse(raw), Err(NotAPlace::HostNotText));
        // A path that is not text is fine where a path is.
        let raw = OsStr::from_bytes(b"host:caf\xe9");
        assert!(matches!(parse(raw), Ok(Location::Remote(_))));
    }
}
