//! Where a SOURCE or DEST is: a path on this machine, or a folder on another
//! reached over SSH, written `[user@]host:path` as scp and rsync write it.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;

/// A place the user named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Local(PathBuf),
    Remote(Remote),
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
        }
    }
}

/// Reads `arg` the way scp and rsync do: a colon before the first slash
/// makes what precedes it a host (`host:path`, `user@host:`, `[::1]:path`,
/// `user@[fe80::1]:path`); a path with a slash before its first colon
/// (`./a:b`, `/mnt/a:b`) or that starts with a colon is a local one.
pub fn parse(arg: &OsStr) -> Result<Location, NotAPlace> {
    let bytes = arg.as_bytes();
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
