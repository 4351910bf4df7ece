//! One big file's pieces spread over several connections: a handle on the
//! file on each connection ([`Session::spread`]), pieces in stripes of a
//! few MiB going round them. One SSH channel moves at most its window each
//! round trip; several channels, each with its own window, move several.

use std::io;
use std::path::Path;

use openssh_sftp_client::file::File;

use super::errors;
use super::session::{IN_FLIGHT, SPREAD_FROM, Session};

/// Pieces that go in a row on one connection: the server reads or writes
/// each connection's share of the file in runs, not one piece in four.
const STRIPE: u64 = 8;

pub(crate) struct Spread<'a> {
    /// The file on the main connection first, then on each helper.
    handles: Vec<(&'a Session, File)>,
}

impl<'a> Spread<'a> {
    /// The file `file` on `session` only.
    pub fn one(session: &'a Session, file: &File) -> Spread<'a> {
        Spread {
            handles: vec![(session, file.clone())],
        }
    }

    /// The file `file` on `session`, and where `bytes` are many enough, the
    /// same file opened at `path` on each other connection, for writing
    /// where `write` (one that cannot open it, or `same` finds is not the
    /// same file, is left out: the file goes over fewer).
    pub fn over(
        session: &'a Session,
        file: &File,
        (path, bytes, write): (&Path, u64, bool),
        same: impl Fn(&Session, &mut File) -> bool,
    ) -> Spread<'a> {
        let mut spread = Spread::one(session, file);
        if bytes < SPREAD_FROM {
            return spread;
        }
        for helper in session.spread().into_iter().skip(1) {
            let opened = match write {
                true => helper.run(helper.sftp().options().write(true).open(path)),
                false => helper.run(helper.sftp().open(path)),
            };
            if let Ok(mut f) = opened
                && same(helper, &mut f)
            {
                spread.handles.push((helper, f));
            }
        }
        spread
    }

    /// The main connection: the one the caller's own handle is on.
    pub fn main(&self) -> &'a Session {
        self.handles[0].0
    }

    /// The connection and handle of the `i`-th piece.
    pub fn of(&self, i: u64) -> (&'a Session, File) {
        let n = self.handles.len() as u64;
        let (session, f) = &self.handles[((i / STRIPE) % n) as usize];
        (session, f.clone())
    }

    /// The error `e` of a request on `on`, said as the run should take it:
    /// an added connection lost fails this file only (the run goes on over
    /// the main one, and later files over the connections left).
    pub fn why(&self, on: &Session, e: io::Error) -> io::Error {
        let e = on.lost_why(e);
        if std::ptr::eq(on, self.main()) || !errors::is_lost(&e) {
            return e;
        }
        io::Error::other(format!("one of its connections was lost ({e})"))
    }

    /// Pieces of `piece` bytes in flight at once over all the connections.
    pub fn depth(&self, piece: usize) -> usize {
        (IN_FLIGHT / piece).max(1) * self.handles.len()
    }

    /// Closes the handles on the other connections, every answer waited
    /// for (the main one is the caller's to close).
    pub fn close_helpers(self) -> io::Result<()> {
        let mut result = Ok(());
        let main = self.main();
        for (session, f) in self.handles.into_iter().skip(1) {
            let closed = session.block_on(f.close()).map_err(errors::to_io);
            let closed = closed.map_err(|e| match errors::is_lost(&session.lost_why(e)) {
                true => io::Error::other("one of its connections was lost"),
                false => main.lost_why(io::Error::other("a connection would not close it")),
            });
            result = result.and(closed);
        }
        result
    }
}
