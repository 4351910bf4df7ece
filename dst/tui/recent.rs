//! Recent folders: the last sources and destinations copied from and to,
//! offered by the setup form's empty path fields. Kept in the user's state
//! folder (`$XDG_STATE_HOME/convoy/recent`, else `~/.local/state/convoy/recent`),
//! never in a copied tree; one line each, `source<TAB>path` or
//! `dest<TAB>path`, the most recent first.

use std::io;
use std::path::{Path, PathBuf};

/// How many of each are kept.
const KEPT: usize = 8;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recent {
    pub sources: Vec<String>,
    pub dests: Vec<String>,
}

/// Where the list lives for this user, if a home can be told.
pub fn file() -> Option<PathBuf> {
    let absolute = |v: std::ffi::OsString| Some(PathBuf::from(v)).filter(|p| p.is_absolute());
    let state = std::env::var_os("XDG_STATE_HOME")
        .and_then(absolute)
        .or_else(|| {
            std::env::var_os("HOME")
                .and_then(absolute)
                .map(|h| h.join(".local/state"))
        })?;
    Some(state.join("convoy").join("recent"))
}

/// The list in `file` (empty when there is none yet, or it cannot be read).
pub fn load(file: &Path) -> Recent {
    let mut r = Recent::default();
    let Ok(text) = std::fs::read_to_string(file) else {
        return r;
    };
    for line in text.lines() {
        match line.split_once('\t') {
            Some(("source", p)) if r.sources.len() < KEPT => r.sources.push(p.into()),
            Some(("dest", p)) if r.dests.len() < KEPT => r.dests.push(p.into()),
            _ => {}
        }
    }
    r
}

/// Puts `source` and `dest` first in the list in `file` and saves it
/// (written beside it and renamed over it: a crash leaves the old list).
pub fn remember(file: &Path, source: &Path, dest: &Path) -> io::Result<Recent> {
    let mut r = load(file);
    for (list, path) in [(&mut r.sources, source), (&mut r.dests, dest)] {
        // A name with a line break cannot be stored in a line.
        let Some(p) = path.to_str().filter(|p| !p.contains(['\n', '\r'])) else {
            continue;
        };
        list.retain(|x| x != p);
        list.insert(0, p.to_string());
        list.truncate(KEPT);
    }
    let mut text = String::new();
    for p in &r.sources {
        text.push_str(&format!("source\t{p}\n"));
    }
    for p in &r.dests {
        text.push_str(&format!("dest\t{p}\n"));
    }
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let temp = file.with_extension("new");
    std::fs::write(&temp, text)?;
    std::fs::rename(&temp, file)?;
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_folders_come_first_once_each_and_at_most_eight() {
        let t = tempfile::tempdir().unwrap();
        let f = t.path().join("state/convoy/recent");
        assert_eq!(load(&f), Recent::default(), "nothing yet");
        for i in 0..10 {
            remember(&f, Path::new(&format!("/src/{i}")), Path::new("/backup")).unwrap();
        }
        remember(&f, Path::new("/src/3"), Path::new("/other")).unwrap();
        let r = load(&f);
        assert_eq!(r.sources.len(), 8);
        assert_eq!(r.sources[0], "/src/3");
        assert_eq!(r.sources[1], "/src/9");
        assert_eq!(r.sources.iter().filter(|s| *s == "/src/3").count(), 1);
        assert_eq!(r.dests, ["/other", "/backup"]);
        remember(&f, Path::new("/a\nb"), Path::new("/other")).unwrap();
        assert_eq!(
            load(&f).sources[0],
            "/src/3",
            "a name with a line break is not kept"
        );
        assert!(!f.with_extension("new").exists());
    }
}
