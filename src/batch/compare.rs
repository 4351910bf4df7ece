//! The batch face of `--compare`: one line per difference (or a JSON object
//! with `--json`), what could not be read on stderr, and a closing line.

use std::io::{self, Write};

use serde_json::json;

use crate::compare::{Compare, Comparison};
use crate::exit::ExitCode;
use crate::format::DisplayPath;

/// Runs `cmp` and prints what it found; returns the exit code (0 the same,
/// 1 they differ, 2 something could not be read or the report could not be
/// written).
pub fn run(cmp: Compare, json: bool, quiet: bool) -> ExitCode {
    let found = match cmp.run() {
        Ok(found) => found,
        Err(e) => {
            eprintln!("convoy: {e}");
            return ExitCode::Usage;
        }
    };
    for f in &found.unreadable {
        eprintln!("convoy: {}: {}", DisplayPath(&f.path), f.reason);
    }
    let mut out = io::stdout().lock();
    let written = match json {
        true => print_json(&mut out, &found),
        false if quiet => Ok(()),
        false => print_text(&mut out, &found),
    };
    match written.and_then(|()| out.flush()) {
        Ok(()) => found.exit_code(),
        Err(e) => {
            eprintln!("convoy: write error: standard output: {e}");
            ExitCode::Usage
        }
    }
}

fn print_text(out: &mut impl Write, found: &Comparison) -> io::Result<()> {
    for d in &found.differences {
        writeln!(out, "{d}")?;
    }
    let entries = found.entries;
    match (found.differences.len(), found.unreadable.len()) {
        (0, 0) => writeln!(out, "Same: {entries} entries compared, no difference"),
        (n, 0) => writeln!(out, "Differ: {n} differences in {entries} entries compared"),
        (n, u) => writeln!(
            out,
            "Incomplete: {u} entries could not be read; {n} differences in {entries} entries compared"
        ),
    }
}

fn print_json(out: &mut impl Write, found: &Comparison) -> io::Result<()> {
    for d in &found.differences {
        let v = json!({
            "type": "difference",
            "path": d.path.to_string_lossy(),
            "what": d.what.code(),
            "source": d.source,
            "dest": d.dest,
        });
        writeln!(out, "{v}")?;
    }
    let unreadable: Vec<_> = found
        .unreadable
        .iter()
        .map(|f| json!({"path": f.path.to_string_lossy(), "reason": f.reason}))
        .collect();
    let v = json!({
        "type": "compare_summary",
        "entries": found.entries,
        "differences": found.differences.len(),
        "same": found.is_same(),
        "unreadable": unreadable,
        "exit_code": found.exit_code() as u8,
    });
    writeln!(out, "{v}")
}
