//! Exit codes as a type, so the rules live in one place (and in the README).

/// How a run ended, as the command's exit code.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let t = tempfile::tempdir()?;
/// # let (src, dst) = (t.path().join("src"), t.path().join("dst"));
/// # std::fs::create_dir_all(src.join("sub"))?;
/// # std::fs::write(src.join("sub/a.txt"), "hello")?;
/// let summary = convoy::CopyTree::new(&src, &dst).run()?;
/// assert_eq!(summary.exit_code as u8, 0);
/// assert_eq!(convoy::ExitCode::Partial.worst(convoy::ExitCode::Usage), convoy::ExitCode::Usage);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// Everything copied or already up to date.
    Success = 0,
    /// Finished, but some entries failed or were skipped for a conflict, or a
    /// fatal error (disk full) stopped the run.
    Partial = 1,
    /// Bad usage or bad input; nothing was written.
    Usage = 2,
    /// Interrupted (Ctrl-C, or cancelled in the TUI).
    Interrupted = 130,
}

impl From<ExitCode> for std::process::ExitCode {
    fn from(c: ExitCode) -> Self {
        std::process::ExitCode::from(c as u8)
    }
}

impl ExitCode {
    /// The worse of two runs' codes (a queue's): interrupted, then bad
    /// input, then partial, then success.
    pub fn worst(self, other: ExitCode) -> ExitCode {
        let rank = |c: ExitCode| match c {
            ExitCode::Success => 0,
            ExitCode::Partial => 1,
            ExitCode::Usage => 2,
            ExitCode::Interrupted => 3,
        };
        if rank(other) > rank(self) {
            other
        } else {
            self
        }
    }

    /// The more serious of the two: a run interrupted or failed stays so.
    pub fn at_least(self, other: ExitCode) -> ExitCode {
        if self == ExitCode::Success {
            other
        } else {
            self
        }
    }
}
