//! The setup form's state: the two path fields with completion, the folder
//! browser and the options. Reads folders to list them; renders nothing.

use std::path::{Path, PathBuf};

use crate::config::{Config, ConflictPolicy, default_jobs};
use crate::paths;

/// Where keyboard focus is on the setup screen, in Tab order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Source,
    Dest,
    Browser,
    Jobs,
    Policy,
    Deref,
    DryRun,
    Verify,
    Flush,
    Move,
    Mirror,
    Compare,
    Start,
    Quit,
}

pub const FIELDS: [Field; 14] = [
    Field::Source,
    Field::Dest,
    Field::Browser,
    Field::Jobs,
    Field::Policy,
    Field::Deref,
    Field::DryRun,
    Field::Verify,
    Field::Flush,
    Field::Move,
    Field::Mirror,
    Field::Compare,
    Field::Start,
    Field::Quit,
];

pub const POLICIES: [ConflictPolicy; 4] = [
    ConflictPolicy::Ask,
    ConflictPolicy::Skip,
    ConflictPolicy::Overwrite,
    ConflictPolicy::Newer,
];

pub fn policy_name(p: ConflictPolicy) -> &'static str {
    match p {
        ConflictPolicy::Ask => "Ask",
        ConflictPolicy::Skip => "Skip",
        ConflictPolicy::Overwrite => "Overwrite",
        ConflictPolicy::Newer => "If newer",
    }
}

#[derive(Debug, Clone)]
pub struct Setup {
    pub source: String,
    pub dest: String,
    /// The destination still holds the `(copy)` default and follows the source.
    pub dest_auto: bool,
    pub focus: Field,
    /// Which path field the browser fills: the last one focused.
    pub browse_target: Field,
    pub browse_dir: PathBuf,
    /// `..`, the folders, then (browsing for the source) the files.
    pub browse_entries: Vec<String>,
    /// How many of `browse_entries` are `..` and folders; the rest are files.
    pub browse_dirs: usize,
    /// Sources picked in the browser (Space): each goes into the destination
    /// under its own name, as `convoy a b c DEST` copies them.
    pub picked: Vec<PathBuf>,
    pub browse_selected: usize,
    pub browse_offset: usize,
    pub suggestions: Vec<String>,
    pub suggestion: usize,
    /// Folders copied from and to before: what an empty path field offers.
    pub recent: super::recent::Recent,
    pub jobs: usize,
    pub policy: ConflictPolicy,
    pub dereference: bool,
    pub dry_run: bool,
    pub verify: bool,
    /// Wait until the copy is written to the device.
    pub flush: bool,
    /// Move: remove each source once its copy is safe (`--move`).
    pub move_sources: bool,
    /// Mirror: delete what the source does not have, once confirmed
    /// (`--mirror`).
    pub mirror: bool,
    /// Compare only: copy nothing, show how the destination differs.
    pub compare: bool,
    pub error: Option<String>,
    /// Other machines' folders listed for completion, by `host:folder`.
    pub remote_folders: std::collections::HashMap<String, super::remote::Folders>,
    /// Folders on other machines to list, for completion or the browser
    /// (the app asks its lister, see `remote`), each once.
    pub remote_wanted: Vec<(String, PathBuf)>,
    /// The machine the browser lists folders of, where the field it serves
    /// names one (`host:path`); `browse_dir` is then a path there.
    pub browse_host: Option<String>,
    /// The browser and the suggestions have been read. A copy started from
    /// the command line shows the form only if the user asks for it, so its
    /// start does not read the working folder (a `stat` per entry: 0.09 s in
    /// a folder of 300).
    listed: bool,
}

impl Setup {
    /// The form, its browser listing `start_dir`.
    pub fn new(source: Option<&Path>, start_dir: PathBuf) -> Self {
        let mut s = Setup::unlisted(source, start_dir);
        s.refresh();
        s
    }

    /// The form with nothing read yet: `show` reads it before it is shown.
    fn unlisted(source: Option<&Path>, start_dir: PathBuf) -> Self {
        let mut s = Setup {
            source: String::new(),
            dest: String::new(),
            dest_auto: true,
            focus: Field::Source,
            browse_target: Field::Source,
            browse_dir: start_dir,
            browse_entries: Vec::new(),
            browse_dirs: 0,
            picked: Vec::new(),
            browse_selected: 0,
            browse_offset: 0,
            suggestions: Vec::new(),
            suggestion: 0,
            recent: Default::default(),
            jobs: default_jobs(),
            policy: ConflictPolicy::Ask,
            dereference: false,
            dry_run: false,
            verify: false,
            flush: false,
            move_sources: false,
            mirror: false,
            compare: false,
            error: None,
            remote_folders: Default::default(),
            remote_wanted: Vec::new(),
            browse_host: None,
            listed: false,
        };
        if let Some(src) = source {
            s.source = src.display().to_string();
            s.source_changed();
            s.focus = Field::Dest;
        }
        s
    }

    /// The form filled from a configuration (the command line's): its paths
    /// when given, and the options the form edits. Nothing is listed until
    /// the form is shown (`show`) or `refresh`ed.
    pub fn from_config(base: &Config, start_dir: PathBuf) -> Self {
        let source = (!base.source.as_os_str().is_empty()).then_some(base.source.as_path());
        let mut s = Setup::unlisted(source, start_dir);
        s.jobs = base.jobs;
        s.policy = base.policy;
        s.dereference = base.dereference;
        s.dry_run = base.dry_run;
        s.verify = base.verify;
        s.flush = base.flush;
        s.move_sources = base.move_sources;
        s.mirror = base.mirror.is_some();
        if !base.dest.as_os_str().is_empty() {
            s.dest = base.dest.display().to_string();
            s.dest_auto = false;
        }
        s
    }

    /// Writes what the form edits into `cfg`; everything else stays as it was.
    pub fn apply(&self, cfg: &mut Config) {
        cfg.source = PathBuf::from(&self.source);
        cfg.dest = PathBuf::from(&self.dest);
        cfg.jobs = self.jobs;
        cfg.policy = self.policy;
        cfg.dereference = self.dereference;
        cfg.dry_run = self.dry_run;
        cfg.verify = self.verify;
        cfg.flush = self.flush || cfg.fsync;
        cfg.move_sources = self.move_sources;
        // A mirror replaces what differs, and a person confirms its
        // deletions on screen.
        cfg.mirror = self.mirror.then(|| crate::config::Mirror {
            confirm: true,
            ..cfg.mirror.unwrap_or_default()
        });
        if self.mirror {
            cfg.policy = ConflictPolicy::Overwrite;
        }
    }

    /// Move or mirror, one at a time: a mirror deletes in DEST, a move in
    /// the source.
    pub fn toggle_move(&mut self) {
        self.move_sources = !self.move_sources;
        self.mirror &= !self.move_sources;
    }

    pub fn toggle_mirror(&mut self) {
        self.mirror = !self.mirror;
        self.move_sources &= !self.mirror;
    }

    pub fn field_text(&mut self, f: Field) -> Option<&mut String> {
        match f {
            Field::Source => Some(&mut self.source),
            Field::Dest => Some(&mut self.dest),
            _ => None,
        }
    }

    /// After the source changed: check it and fill the destination default.
    pub fn source_changed(&mut self) {
        self.error = None;
        let src = PathBuf::from(&self.source);
        if self.source.is_empty() || remote_of(&self.source).is_some() || in_bucket(&self.source) {
            // Another machine's folder or a bucket is looked at once reached.
            return;
        }
        match std::fs::metadata(&src) {
            Ok(m) if m.is_dir() => {
                if self.dest_auto {
                    let abs = std::fs::canonicalize(&src).unwrap_or(src);
                    let d = paths::default_dest(&abs, |p| std::fs::symlink_metadata(p).is_ok());
                    self.dest = d.display().to_string();
                }
            }
            Ok(_) => self.error = Some(format!("{}: source is not a folder", self.source)),
            Err(_) => self.error = Some(format!("{}: source does not exist", self.source)),
        }
    }

    pub fn type_char(&mut self, c: char) {
        let f = self.focus;
        if let Some(t) = self.field_text(f) {
            t.push(c);
            self.after_edit();
        }
    }

    /// Ctrl-U: empties the focused path field.
    pub fn clear_focused(&mut self) {
        let f = self.focus;
        if let Some(t) = self.field_text(f) {
            t.clear();
            self.after_edit();
        }
    }

    pub fn backspace(&mut self) {
        let f = self.focus;
        if let Some(t) = self.field_text(f) {
            t.pop();
            self.after_edit();
        }
    }

    fn after_edit(&mut self) {
        if self.focus == Field::Dest {
            self.dest_auto = self.dest.is_empty();
        }
        if self.focus == Field::Source {
            self.source_changed();
        }
        if self.focus == self.browse_target {
            self.browse_where_typed();
        }
        self.complete();
    }

    /// The browser follows a field that names another machine to the
    /// folder typed there (and back here when it names none).
    fn browse_where_typed(&mut self) {
        let text = match self.browse_target {
            Field::Dest => &self.dest,
            _ => &self.source,
        };
        match remote_of(text) {
            Some((host, path)) => {
                let dir = match path.rfind('/') {
                    Some(i) => &path[..i],
                    None => "",
                };
                let dir = PathBuf::from(dir);
                if self.browse_host.as_deref() != Some(host.as_str()) || self.browse_dir != dir {
                    self.browse_host = Some(host);
                    self.browse_dir = dir;
                    self.browse_selected = 0;
                    self.browse_offset = 0;
                    self.list_browser();
                }
            }
            None if self.browse_host.is_some() => {
                self.browse_host = None;
                self.browse_dir = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
                self.browse_selected = 0;
                self.browse_offset = 0;
                self.list_browser();
            }
            None => {}
        }
    }

    /// What the browser's title shows of the folder it lists.
    pub fn browse_shown(&self) -> String {
        match &self.browse_host {
            Some(host) => joined(host, &self.browse_dir.to_string_lossy()),
            None => self.browse_dir.display().to_string(),
        }
    }

    /// Folders that could complete what is typed in the focused path field.
    pub fn complete(&mut self) {
        self.suggestions.clear();
        self.suggestion = 0;
        let text = match self.focus {
            Field::Source => &self.source,
            Field::Dest => &self.dest,
            _ => return,
        };
        if let Some((host, path)) = remote_of(text) {
            return self.complete_remote(&host, &path);
        }
        if in_bucket(text) {
            self.suggestions.clear();
            return;
        }
        // Empty: the folders used last (sources that still exist).
        if text.is_empty() {
            self.suggestions = match self.focus {
                Field::Source => {
                    let there = |p: &&String| Path::new(p.as_str()).is_dir();
                    self.recent.sources.iter().filter(there).cloned().collect()
                }
                _ => self.recent.dests.clone(),
            };
            return;
        }
        let (dir, prefix) = match text.rfind('/') {
            Some(i) => (&text[..=i], &text[i + 1..]),
            None => ("", text.as_str()),
        };
        let listing = if dir.is_empty() {
            Path::new(".")
        } else {
            Path::new(dir)
        };
        let Ok(rd) = std::fs::read_dir(listing) else {
            return;
        };
        let mut found: Vec<String> = rd
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()) || e.path().is_dir())
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| n.starts_with(prefix) && (prefix.starts_with('.') || !n.starts_with('.')))
            .map(|n| format!("{dir}{n}/"))
            .filter(|s| s != text)
            .collect();
        found.sort();
        found.truncate(8);
        self.suggestions = found;
    }

    /// Completes `host:path` with the folders listed there: asked for once,
    /// shown when the answer comes (`remote_listed`).
    fn complete_remote(&mut self, host: &str, path: &str) {
        let (dir, prefix) = match path.rfind('/') {
            Some(i) => (&path[..=i], &path[i + 1..]),
            None => ("", path),
        };
        let key = joined(host, dir);
        match self.remote_folders.get(&key) {
            None => self.want_remote(host, dir),
            Some(Err(_)) => {}
            Some(Ok(names)) => {
                let text = joined(host, path);
                let mut found: Vec<String> = names
                    .iter()
                    .filter(|n| {
                        n.starts_with(prefix) && (prefix.starts_with('.') || !n.starts_with('.'))
                    })
                    .map(|n| joined(host, &format!("{dir}{n}/")))
                    .filter(|s| *s != text)
                    .collect();
                found.truncate(8);
                self.suggestions = found;
            }
        }
    }

    /// The folders of `dir` on `host` came (or why not): kept, and the
    /// suggestions read again; a host that could not be reached is said.
    pub fn remote_listed(
        &mut self,
        (host, dir): (String, PathBuf),
        folders: super::remote::Folders,
    ) {
        if let Err(why) = &folders {
            self.error = Some(why.clone());
        }
        let key = joined(&host, &dir.to_string_lossy());
        self.remote_folders.insert(key, folders);
        if self.browse_host.is_some() {
            self.list_browser();
        }
        self.complete();
    }

    /// Asks for the folders of `dir` on `host` (as typed: `""` is the
    /// login's home, else ending in `/`), once.
    fn want_remote(&mut self, host: &str, dir: &str) {
        let wanted = (host.to_string(), PathBuf::from(dir));
        if !self.remote_wanted.contains(&wanted) {
            self.remote_wanted.push(wanted);
        }
    }

    pub fn accept_suggestion(&mut self) -> bool {
        let Some(s) = self.suggestions.get(self.suggestion).cloned() else {
            return false;
        };
        let f = self.focus;
        if let Some(t) = self.field_text(f) {
            *t = s;
            self.after_edit();
            return true;
        }
        false
    }

    /// Reads the browser's folder and the focused field's suggestions anew.
    pub fn refresh(&mut self) {
        self.list_browser();
        self.complete();
        self.listed = true;
    }

    /// Before the form is shown: reads it if it never was.
    pub fn show(&mut self) {
        if !self.listed {
            self.refresh();
        }
    }

    /// Whether the browser and the suggestions have been read.
    pub fn is_listed(&self) -> bool {
        self.listed
    }

    pub fn list_browser(&mut self) {
        if let Some(host) = self.browse_host.clone() {
            return self.list_remote_browser(&host);
        }
        let (mut dirs, mut files) = (Vec::new(), Vec::new());
        for e in std::fs::read_dir(&self.browse_dir)
            .into_iter()
            .flatten()
            .flatten()
        {
            let Ok(name) = e.file_name().into_string() else {
                continue;
            };
            if name.starts_with('.') {
                continue;
            }
            match e.path().is_dir() {
                true => dirs.push(name),
                // Files are sources to pick, never a destination.
                false if self.browse_target != Field::Dest => files.push(name),
                false => {}
            }
        }
        dirs.sort();
        files.sort();
        self.browse_dirs = dirs.len() + 1;
        self.browse_entries = std::iter::once("..".to_string())
            .chain(dirs)
            .chain(files)
            .collect();
        self.browse_selected = self
            .browse_selected
            .min(self.browse_entries.len().saturating_sub(1));
    }

    /// The browser on another machine: its folders as listed there (asked
    /// for when not yet), no files (a source there is a folder typed or
    /// entered).
    fn list_remote_browser(&mut self, host: &str) {
        let dir = remote_dir_text(&self.browse_dir);
        let key = joined(host, &dir);
        let mut dirs: Vec<String> = match self.remote_folders.get(&key) {
            Some(Ok(names)) => names
                .iter()
                .filter(|n| !n.starts_with('.'))
                .cloned()
                .collect(),
            Some(Err(_)) => Vec::new(),
            None => {
                self.want_remote(host, &dir);
                Vec::new()
            }
        };
        dirs.sort();
        self.browse_dirs = dirs.len() + 1;
        self.browse_entries = std::iter::once("..".to_string()).chain(dirs).collect();
        self.browse_selected = self
            .browse_selected
            .min(self.browse_entries.len().saturating_sub(1));
    }

    /// Whether the browser's entry `index` is a file (picked, never entered).
    pub fn is_file_entry(&self, index: usize) -> bool {
        index >= self.browse_dirs && index < self.browse_entries.len()
    }

    /// The path of the browser's entry `index`.
    pub fn entry_path(&self, index: usize) -> Option<PathBuf> {
        let name = self.browse_entries.get(index).filter(|n| *n != "..")?;
        // Picking is of files here: the browser lists none on another machine.
        self.browse_host
            .is_none()
            .then(|| self.browse_dir.join(name))
    }

    /// Space in the browser: picks the entry as one of several sources, or
    /// lets it go. With sources picked, the Source field lists them and the
    /// destination is the folder they go into under their own names.
    pub fn toggle_pick(&mut self, index: usize) {
        let Some(path) = self.entry_path(index) else {
            return;
        };
        match self.picked.iter().position(|p| *p == path) {
            Some(i) => {
                self.picked.remove(i);
            }
            None => self.picked.push(path),
        }
        self.error = None;
        if self.dest_auto && !self.picked.is_empty() {
            self.dest.clear();
        }
    }

    /// What the Source field shows: the picked sources, or what is typed.
    pub fn source_shown(&self) -> String {
        if self.picked.is_empty() {
            return self.source.clone();
        }
        let names: Vec<String> = self
            .picked
            .iter()
            .map(|p| {
                p.file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        format!("{} picked: {}", self.picked.len(), names.join(", "))
    }

    /// Enter (or a click on the selected row): up on `..`, otherwise into the
    /// folder, which also fills the field the browser serves; a file is
    /// picked (or let go) as a source.
    pub fn browse_open(&mut self, index: usize) {
        if self.is_file_entry(index) {
            return self.toggle_pick(index);
        }
        let Some(name) = self.browse_entries.get(index).cloned() else {
            return;
        };
        if name == ".." {
            if let Some(p) = self.browse_dir.parent() {
                self.browse_dir = p.to_path_buf();
            }
        } else {
            self.browse_dir = self.browse_dir.join(&name);
            let path = match &self.browse_host {
                Some(host) => joined(host, &self.browse_dir.to_string_lossy()),
                None => self.browse_dir.display().to_string(),
            };
            match self.browse_target {
                Field::Dest => {
                    self.dest = path;
                    self.dest_auto = false;
                }
                _ => {
                    self.source = path;
                    self.source_changed();
                }
            }
        }
        self.browse_selected = 0;
        self.browse_offset = 0;
        self.list_browser();
    }

    pub fn browse_up(&mut self) {
        self.browse_selected = 0;
        self.browse_open(0);
    }

    pub fn cycle_policy(&mut self, step: isize) {
        let i = POLICIES.iter().position(|p| *p == self.policy).unwrap_or(0) as isize;
        let n = POLICIES.len() as isize;
        self.policy = POLICIES[((i + step).rem_euclid(n)) as usize];
    }

    pub fn focus_step(&mut self, step: isize) {
        let i = FIELDS.iter().position(|f| *f == self.focus).unwrap_or(0) as isize;
        let n = FIELDS.len() as isize;
        self.set_focus(FIELDS[((i + step).rem_euclid(n)) as usize]);
    }

    pub fn set_focus(&mut self, f: Field) {
        self.focus = f;
        if matches!(f, Field::Source | Field::Dest) {
            self.browse_target = f;
            self.complete();
        } else {
            self.suggestions.clear();
        }
    }
}

/// Whether `text` names a bucket, or is on the way to (`s3:`, `s3:/`).
fn in_bucket(text: &str) -> bool {
    text.starts_with("s3:") && (text.starts_with("s3://") || "s3://".starts_with(text))
}

/// A place's folder as a field holds it: `host:path`, or, for a bucket
/// (whose "host" is `s3://bucket`), `s3://bucket/prefix`.
fn joined(host: &str, path: &str) -> String {
    match (host.starts_with("s3://"), path.is_empty()) {
        (true, true) => format!("{host}/"),
        (true, false) => format!("{host}/{path}"),
        (false, _) => format!("{host}:{path}"),
    }
}

/// `host` and the path there, where `text` names another machine, or
/// `s3://bucket` and the prefix, where it names a bucket followed by a
/// slash (a bucket's name being typed is listed once it is whole).
fn remote_of(text: &str) -> Option<(String, String)> {
    if in_bucket(text) {
        let rest = text.strip_prefix("s3://")?;
        let (bucket, path) = rest.split_once('/')?;
        return (!bucket.is_empty()).then(|| (format!("s3://{bucket}"), path.to_string()));
    }
    match crate::location::parse(std::ffi::OsStr::new(text)) {
        Ok(crate::location::Location::Remote(r)) => {
            Some((r.host, r.path.to_string_lossy().into_owned()))
        }
        _ => None,
    }
}

/// A folder on another machine as the form types it: `""` for the login's
/// home, else its path ending in `/`.
fn remote_dir_text(dir: &Path) -> String {
    match dir.as_os_str().is_empty() {
        true => String::new(),
        false => format!("{}/", dir.display().to_string().trim_end_matches('/')),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typing_a_source_fills_the_destination_default_and_completes_folders() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(t.path().join("photos/2024")).unwrap();
        std::fs::create_dir_all(t.path().join("phones")).unwrap();
        let mut s = Setup::new(None, t.path().to_path_buf());
        for c in format!("{}/pho", t.path().display()).chars() {
            s.type_char(c);
        }
        assert_eq!(s.suggestions.len(), 2, "{:?}", s.suggestions);
        assert!(s.error.is_some(), "a partial path is not a folder yet");
        assert!(s.accept_suggestion());
        assert_eq!(s.source, format!("{}/phones/", t.path().display()));
        assert!(s.error.is_none());
        assert!(s.dest.ends_with("phones (copy)"), "{}", s.dest);
    }

    #[test]
    fn the_form_edits_its_fields_and_keeps_every_other_setting() {
        let t = tempfile::tempdir().unwrap();
        let mut base = Config::new("", "");
        base.jobs = 3;
        base.excludes = vec!["*.tmp".into()];
        base.chunking.threshold = 1 << 20;
        let mut s = Setup::from_config(&base, t.path().to_path_buf());
        assert_eq!(s.jobs, 3);
        s.jobs = 5;
        s.source = "/a".into();
        s.dest = "/b".into();
        let mut cfg = base.clone();
        s.apply(&mut cfg);
        assert_eq!(
            (cfg.jobs, cfg.source.as_path(), cfg.dest.as_path()),
            (5, std::path::Path::new("/a"), std::path::Path::new("/b"))
        );
        assert_eq!(cfg.excludes, ["*.tmp"], "not on the form, kept");
        assert_eq!(
            cfg.chunking.threshold,
            1 << 20,
            "hidden options survive the form"
        );
    }

    #[test]
    fn the_browser_lists_another_machine_s_folders_where_the_field_names_one() {
        let t = tempfile::tempdir().unwrap();
        let mut s = Setup::new(None, t.path().to_path_buf());
        for c in "host:work/".chars() {
            s.type_char(c);
        }
        assert_eq!(s.error, None, "a remote source is looked at once connected");
        assert_eq!(s.browse_shown(), "host:work");
        assert_eq!(s.browse_entries, [".."], "nothing until the server answers");
        assert!(
            s.remote_wanted
                .contains(&("host".into(), PathBuf::from("work/")))
        );
        let ok = |names: &[&str]| Ok(names.iter().map(|n| n.to_string()).collect());
        s.remote_listed(
            ("host".into(), PathBuf::from("work/")),
            ok(&["b", "a", ".hid"]),
        );
        assert_eq!(s.browse_entries, ["..", "a", "b"]);
        assert_eq!(s.entry_path(1), None, "nothing to pick there: folders only");
        s.browse_open(1);
        assert_eq!(s.source, "host:work/a");
        assert_eq!(s.browse_shown(), "host:work/a");
        assert!(
            s.remote_wanted
                .contains(&("host".into(), PathBuf::from("work/a/")))
        );
        s.remote_listed(("host".into(), PathBuf::from("work/a/")), ok(&["c"]));
        assert_eq!(s.browse_entries, ["..", "c"]);
        // Up: the folder listed before, from what was kept.
        s.browse_up();
        assert_eq!(s.browse_entries, ["..", "a", "b"]);
        // A field that names this machine again brings the browser back here.
        s.clear_focused();
        assert_eq!(s.browse_host, None);
    }

    #[test]
    fn a_bucket_typed_in_a_field_is_browsed_and_never_taken_for_a_host() {
        let t = tempfile::tempdir().unwrap();
        let mut s = Setup::new(None, t.path().to_path_buf());
        for c in "s3://bkt".chars() {
            s.type_char(c);
            assert!(s.remote_wanted.is_empty(), "no ssh to a host named s3");
        }
        assert_eq!(s.error, None, "a bucket source is looked at once reached");
        // Its name whole, the bucket's folders are asked for.
        for c in "/ph".chars() {
            s.type_char(c);
        }
        assert_eq!(s.remote_wanted, [("s3://bkt".to_string(), PathBuf::new())]);
        assert_eq!(s.browse_shown(), "s3://bkt/");
        let ok = |names: &[&str]| Ok(names.iter().map(|n| n.to_string()).collect());
        s.remote_listed(("s3://bkt".into(), PathBuf::new()), ok(&["photos", "docs"]));
        assert_eq!(s.suggestions, ["s3://bkt/photos/"]);
        assert_eq!(s.browse_entries, ["..", "docs", "photos"]);
        s.browse_open(2);
        assert_eq!(s.source, "s3://bkt/photos");
        assert!(
            s.remote_wanted
                .contains(&("s3://bkt".into(), PathBuf::from("photos/")))
        );
    }

    #[test]
    fn browser_descends_and_fills_the_field_it_serves() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(t.path().join("a/b")).unwrap();
        let mut s = Setup::new(None, t.path().to_path_buf());
        assert_eq!(s.browse_entries, ["..", "a"]);
        s.browse_open(1);
        assert_eq!(s.source, t.path().join("a").display().to_string());
        s.set_focus(Field::Dest);
        s.set_focus(Field::Browser);
        s.browse_open(1);
        assert_eq!(s.dest, t.path().join("a/b").display().to_string());
        s.browse_up();
        assert_eq!(s.browse_dir, t.path().join("a"));
    }
}
