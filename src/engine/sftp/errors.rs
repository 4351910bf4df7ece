//! The server's answers as the engine reads refusals: errno codes where SFTP
//! has one (no such file, permission denied, not supported), the server's own
//! words where it says only "failure", and a lost connection as what it is.

use std::io;

use openssh_sftp_client::Error;
use openssh_sftp_client::error::SftpErrorKind;
use rustix::io::Errno;

/// `e` as an `io::Error` the copy can report and act on. SFTP version 3 has
/// no "exists" code: a refusal to create a name is "failure", which callers
/// that need to tell look up with `lstat`.
pub(crate) fn to_io(e: Error) -> io::Error {
    match e {
        Error::SftpError(kind, msg) => match kind {
            SftpErrorKind::NoSuchFile => Errno::NOENT.into(),
            SftpErrorKind::PermDenied => Errno::ACCESS.into(),
            SftpErrorKind::OpUnsupported => Errno::NOTSUP.into(),
            _ => {
                let said = msg.get().0.trim();
                io::Error::other(match said {
                    "" | "Failure" => "the server refused it".to_string(),
                    said => format!("the server refused it: {said}"),
                })
            }
        },
        Error::UnsupportedExtension(name) => io::Error::new(
            io::ErrorKind::Unsupported,
            format!("the server has no {name}"),
        ),
        // Anything else is the connection itself failing: every request
        // after it fails the same way.
        other => lost(&other.to_string()),
    }
}

/// An error of the client's file writer (which wraps the client's own in an
/// `io::Error`) read as the client's error.
pub(crate) fn from_writer(e: io::Error) -> io::Error {
    if e.get_ref().is_some_and(|inner| inner.is::<Error>()) {
        let inner = e.into_inner().expect("checked");
        return to_io(*inner.downcast::<Error>().expect("checked"));
    }
    match e.kind() {
        io::ErrorKind::BrokenPipe
        | io::ErrorKind::UnexpectedEof
        | io::ErrorKind::ConnectionReset => lost(&e.to_string()),
        _ => e,
    }
}

/// The connection is gone (ssh exited, the server went away).
pub(crate) fn lost(why: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        format!("the connection was lost ({why})"),
    )
}

/// Whether `e` is the connection gone: every further call fails the same way.
pub(crate) fn is_lost(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::ConnectionAborted
}

/// `e` as an errno code, for the calls that answer with one.
pub(crate) fn errno(e: &io::Error) -> Errno {
    Errno::from_io_error(e).unwrap_or(Errno::IO)
}
