//! Faults made with strace (`-e inject=…`) on convoy's own calls: convoy
//! under strace, how often it makes each call in a clean run, the cases that
//! make each call fail in turn, and runs that are killed if they hang.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::{BIN, need};

/// A run that takes longer than this has hung (a clean one takes well under
/// a second under strace).
pub const HANG: Duration = Duration::from_secs(60);

/// convoy under strace: `inject` (none: every call counted into `log`).
pub fn traced(inject: Option<&str>, log: Option<&Path>) -> Command {
    need("strace", "strace");
    let mut c = Command::new("strace");
    c.env_remove("NO_COLOR").args(["-f", "-qq", "-o"]);
    match log {
        Some(log) => c.arg(log),
        None => c.arg("/dev/null"),
    };
    if let Some(i) = inject {
        let call = i.split(':').next().unwrap();
        c.arg("-e").arg(format!("trace={call}"));
        c.arg("-e").arg(format!("inject={i}"));
    }
    c.arg("--").arg(BIN);
    c
}

/// Calls by name: how many.
pub type Counts = BTreeMap<String, usize>;

/// How many times convoy made each call in the run strace logged into
/// `log`, at most in any one of its threads (strace counts a fault's `when`
/// per thread), and how many its main thread made before its first thread
/// started (the dynamic loader's and the runtime's, not convoy's: a sweep
/// starts past them).
pub fn counts(log: &Path) -> (Counts, Counts) {
    let mut per_thread: BTreeMap<(String, String), usize> = BTreeMap::new();
    let (mut main, mut before, mut started) = (None, Counts::new(), false);
    for line in fs::read_to_string(log).unwrap().lines() {
        let Some((pid, rest)) = line.split_once(' ') else {
            continue;
        };
        let Some(name) = rest
            .trim_start()
            .split('(')
            .next()
            .filter(|n| !n.contains(' ') && !n.is_empty() && *n != "???")
        else {
            continue;
        };
        let key = (pid.to_string(), name.to_string());
        *per_thread.entry(key).or_insert(0) += 1;
        if *main.get_or_insert(pid) == pid && !started {
            started = name.starts_with("clone");
            *before.entry(name.to_string()).or_insert(0) += 1;
        }
    }
    let mut counts = Counts::new();
    for ((_, name), n) in per_thread {
        let most = counts.entry(name).or_insert(0);
        *most = (*most).max(n);
    }
    (counts, before)
}

/// Every call of `calls` that the clean run made (`counts`, past `before`),
/// failing with each of its errors at each making (at its first, middle and
/// last where it is made often), and from the middle on: strace's inject
/// expressions.
pub fn cases(calls: &[(&str, &[&str])], counts: &Counts, before: &Counts) -> Vec<String> {
    let mut cases = Vec::new();
    for (call, errnos) in calls {
        let Some(&last) = counts.get(*call) else {
            continue;
        };
        let first = before.get(*call).copied().unwrap_or(0) + 1;
        if first > last {
            continue;
        }
        let middle = (first + last).div_ceil(2);
        // A call made a few times fails at each making (each folder's
        // listing, say); one made often, at its first, middle and last.
        let whens: Vec<usize> = match last - first {
            0..=15 => (first..=last).collect(),
            _ => vec![first, middle, last],
        };
        for errno in *errnos {
            for when in &whens {
                cases.push(format!("{call}:error={errno}:when={when}"));
            }
            // An interruption happens once; it never keeps happening.
            if *errno != "EINTR" {
                cases.push(format!("{call}:error={errno}:when={middle}+"));
            }
        }
    }
    cases.dedup();
    cases
}

/// Runs `check` on every case, two at a time: what each found wrong.
pub fn two_at_a_time(
    cases: Vec<String>,
    check: impl Fn(usize, &str) -> Vec<String> + Sync,
) -> Vec<String> {
    let cases = std::sync::Mutex::new(cases.into_iter().enumerate().collect::<Vec<_>>());
    let failures = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                loop {
                    let Some((n, case)) = cases.lock().unwrap().pop() else {
                        return;
                    };
                    let bad = check(n, &case);
                    failures.lock().unwrap().extend(bad);
                }
            });
        }
    });
    failures.into_inner().unwrap()
}

/// The output of `c`, killed if it runs longer than [`HANG`] (then `true`).
pub fn within(mut c: Command) -> (Output, bool) {
    c.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = c.spawn().unwrap();
    let pid = child.id();
    let started = Instant::now();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(HANG) {
        Ok(out) => (out.unwrap(), false),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            let out = rx.recv().unwrap().unwrap();
            assert!(started.elapsed() >= HANG);
            (out, true)
        }
    }
}
