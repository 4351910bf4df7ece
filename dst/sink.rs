//! An output stream that may fail: a full disk, a pipe whose reader has gone, a
//! closed terminal. The first failure is kept and later writes are dropped, so
//! the copy never depends on whether anybody reads; a lost report or log
//! becomes the exit code, as GNU tools report "write error".

use std::io::{self, Write};

pub(crate) struct Sink<W: Write> {
    w: W,
    failed: Option<io::Error>,
}

impl<W: Write> Sink<W> {
    pub fn new(w: W) -> Self {
        Sink { w, failed: None }
    }

    /// Writes `text` unless an earlier write failed; says whether it went out.
    pub fn write(&mut self, text: &str) -> bool {
        if self.failed.is_none()
            && let Err(e) = self.w.write_all(text.as_bytes())
        {
            self.failed = Some(e);
        }
        self.failed.is_none()
    }

    pub fn flush(&mut self) -> bool {
        if self.failed.is_none()
            && let Err(e) = self.w.flush()
        {
            self.failed = Some(e);
        }
        self.failed.is_none()
    }

    /// Why the stream stopped taking output, if it did.
    pub fn failure(&self) -> Option<&io::Error> {
        self.failed.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Takes `room` bytes, then fails like a full disk.
    struct Full {
        room: usize,
        writes: usize,
    }

    impl Write for Full {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.writes += 1;
            if buf.len() > self.room {
                return Err(io::Error::from_raw_os_error(28));
            }
            self.room -= buf.len();
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn the_first_failure_is_kept_and_later_writes_are_dropped() {
        let mut s = Sink::new(Full { room: 5, writes: 0 });
        assert!(s.write("abc"));
        assert!(!s.write("defgh"), "no room left");
        assert!(!s.write("x"));
        assert_eq!(s.w.writes, 2, "nothing is tried after the failure");
        assert_eq!(s.failure().and_then(io::Error::raw_os_error), Some(28));
        assert!(!s.flush());
    }
}
