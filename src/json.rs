//! The JSON Lines schema of `--batch --json` and `--log` (documented in the
//! README): one object per entry, progress tick, notice, fatal stop and the
//! final summary.

use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use serde_json::{Map, Value, json};

use crate::event::{Doomed, Event, KeptPartial, Notice, Outcome};
use crate::exit::ExitCode;
use crate::format;
use crate::progress::Progress;

/// A path as a string, and (when it is not UTF-8) also as its exact bytes.
fn path_json(obj: &mut Map<String, Value>, key: &str, p: &Path) {
    let bytes = p.as_os_str().as_bytes();
    match std::str::from_utf8(bytes) {
        Ok(s) => {
            obj.insert(key.into(), json!(s));
        }
        Err(_) => {
            // JSON strings are UTF-8: give a readable form and the exact bytes.
            obj.insert(key.into(), json!(String::from_utf8_lossy(bytes)));
            obj.insert(format!("{key}_bytes"), json!(bytes));
        }
    }
}

/// The line for an event, if the event has one (`p`: the totals with it).
pub(crate) fn event(ev: &Event, p: &Progress) -> Option<Value> {
    Some(match ev {
        Event::Entry {
            path,
            kind,
            bytes,
            outcome,
            digest,
            ..
        } => {
            let mut o = Map::new();
            o.insert("type".into(), json!("entry"));
            path_json(&mut o, "path", &path.join());
            o.insert("kind".into(), json!(kind.as_str()));
            o.insert("bytes".into(), json!(bytes));
            let name = match outcome {
                Outcome::Copied => "copied",
                Outcome::UpToDate => "up_to_date",
                Outcome::Skipped(r) => {
                    o.insert("reason".into(), json!(r.code()));
                    o.insert("message".into(), json!(r.describe()));
                    "skipped"
                }
                Outcome::Failed(e) => {
                    o.insert("error".into(), json!(e.reason()));
                    path_json(&mut o, "error_path", &e.path);
                    "failed"
                }
                Outcome::Cancelled => "cancelled",
            };
            o.insert("outcome".into(), json!(name));
            if let Some(d) = digest {
                o.insert("blake3".into(), json!(format::hex(d)));
            }
            Value::Object(o)
        }
        Event::Notice(n) => {
            let mut v = json!({
                "type": "notice",
                "reason": n.code(),
                "message": n.to_string(),
            });
            if let Notice::Resumed { path, at, of } = n {
                path_json(v.as_object_mut().expect("an object"), "path", path);
                v["at_bytes"] = json!(at);
                v["of_bytes"] = json!(of);
            }
            if let Notice::Unplaced(u) = n {
                path_json(v.as_object_mut().expect("an object"), "path", &u.path);
                v["files"] = json!(u.files);
                v["bytes"] = json!(u.bytes);
                v["symlinks"] = json!(u.symlinks);
            }
            if let Notice::KeptForResume(k) = n
                && let (Value::Object(v), Value::Object(k)) = (&mut v, kept_json(k))
            {
                v.extend(k);
            }
            v
        }
        // What is left, as the reducer bounds it by what this run wrote.
        Event::Flushing { .. } => json!({
            "type": "flushing",
            "left_bytes": p.flushing.map_or(0, |f| f.left),
        }),
        Event::Prune(plan) => {
            let mut v = json!({
                "type": "mirror_plan",
                "entries": plan.entries,
                "bytes": plan.bytes,
                "doomed": plan.doomed.iter().map(doomed_json).collect::<Vec<_>>(),
            });
            if let Some(b) = &plan.backup {
                path_json(v.as_object_mut().expect("an object"), "backup_dir", b);
            }
            v
        }
        Event::Pruned {
            doomed,
            backup,
            error,
        } => {
            let mut v = doomed_json(doomed);
            let o = v.as_object_mut().expect("an object");
            o.insert("type".into(), json!("deleted"));
            let outcome = match (backup, error) {
                (_, Some(e)) => {
                    o.insert("error".into(), json!(e.reason()));
                    "failed"
                }
                (Some(b), None) => {
                    path_json(o, "backup", b);
                    "backed_up"
                }
                (None, None) => "deleted",
            };
            o.insert("outcome".into(), json!(outcome));
            v
        }
        Event::Fatal(f) => json!({
            "type": "fatal",
            "reason": f.code(),
            "message": f.to_string(),
        }),
        _ => return None,
    })
}

pub(crate) fn progress(p: &Progress) -> Value {
    let (bps, fps) = p.rates();
    let (files_total, bytes_total) = p.known_totals();
    json!({
        "type": "progress",
        "files_done": p.files_done,
        "files_total": files_total,
        "bytes_done": p.bytes_done,
        "bytes_total": bytes_total,
        "scan_complete": p.scan.complete,
        "bytes_per_sec": bps.round(),
        "files_per_sec": fps.round(),
        "eta_secs": p.eta().map(|d| d.as_secs_f64()),
        "elapsed_secs": p.elapsed().as_secs_f64(),
        "flush_left": p.flushing.map(|f| f.left),
        "bwlimit": p.bwlimit,
        "verify_left": p.verifying().0,
    })
}

/// A copy of a queue begins: its place and its folders.
pub(crate) fn job(n: usize, of: usize, source: &Path, dest: &Path) -> Value {
    let mut o = serde_json::Map::new();
    o.insert("type".into(), json!("job"));
    o.insert("index".into(), json!(n));
    o.insert("of".into(), json!(of));
    path_json(&mut o, "source", source);
    path_json(&mut o, "dest", dest);
    Value::Object(o)
}

/// An entry of a mirror's plan: where, what, and how much goes with it.
fn doomed_json(d: &Doomed) -> Value {
    let mut o = serde_json::Map::new();
    path_json(&mut o, "path", &d.path);
    o.insert("kind".into(), json!(d.kind.as_str()));
    o.insert("entries".into(), json!(d.entries));
    o.insert("bytes".into(), json!(d.bytes));
    Value::Object(o)
}

/// A kept partial, for scripts: what it becomes, where it is, how much of it.
fn kept_json(k: &KeptPartial) -> Value {
    let mut o = serde_json::Map::new();
    path_json(&mut o, "path", &k.path);
    path_json(&mut o, "partial", &k.partial);
    o.insert("written_bytes".into(), json!(k.written));
    o.insert("of_bytes".into(), json!(k.of));
    Value::Object(o)
}

pub(crate) fn summary(p: &Progress, dry_run: bool, code: ExitCode) -> Value {
    json!({
        "type": "summary",
        "files_copied": p.files_copied,
        "up_to_date": p.up_to_date,
        "skipped": p.skipped,
        "failed": p.failed,
        "dirs": p.dirs,
        "symlinks": p.symlinks,
        "hard_links": p.hard_links,
        "specials": p.specials,
        "verified": p.verified,
        "bytes_copied": p.bytes_copied,
        "elapsed_secs": p.elapsed().as_secs_f64(),
        "bytes_per_sec": p.average_rate().round(),
        "dry_run": dry_run,
        "cancelled": p.cancelled,
        "fatal": p.fatal,
        "problems": p.problems,
        "time_window_ns": p.time_window_ns,
        "not_kept": p.not_kept.iter().map(|l| json!({
            "what": l.what.code(),
            "why": l.why.code(),
            "count": l.count,
            "message": l.to_string(),
        })).collect::<Vec<_>>(),
        "kept_for_resume": p.kept_partials.iter().map(kept_json).collect::<Vec<_>>(),
        "deleted": p.pruned,
        "deleted_bytes": p.pruned_bytes,
        "delete_failed": p.prune_failed,
        "exit_code": code as u8,
    })
}
