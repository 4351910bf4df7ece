//! `convoy SOURCE... DEST` as `cp -a` reads it: one folder's contents into
//! DEST, or each source into DEST under its own name, or one file to a new
//! name. Every source is checked before anything is written, and the copies
//! are planned as engine runs over the sources' parent folders (`Config::only`
//! picks the sources out), one run per parent.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::error::InputError;
use crate::format::DisplayPath;
use crate::paths;
use crate::retry::interrupted as retry;

/// What the last path on the command line is for the sources before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// One folder: its contents go into DEST (convoy's first meaning).
    Contents,
    /// Each source goes into DEST under its own name.
    Into,
    /// One file (or symlink) copied to the name DEST.
    ToName,
}

/// How the sources land in DEST, decided from what each path is: pure, so
/// the rules read (and are tested) without a disk.
pub fn shape(
    sources: usize,
    first_is_dir: bool,
    dest_is_dir: Option<bool>,
    dest_slash: bool,
) -> Shape {
    match (sources, first_is_dir, dest_is_dir) {
        (1, true, _) => Shape::Contents,
        (1, false, Some(true)) => Shape::Into,
        (1, false, _) if dest_slash => Shape::Into,
        (1, false, _) => Shape::ToName,
        _ => Shape::Into,
    }
}

/// The engine runs `base` (its options) makes of `sources` and `dest`:
/// checked, with nothing written. One folder source keeps today's meaning;
/// otherwise one run per parent folder of the sources, in the order given.
pub fn plan(base: &Config, sources: &[PathBuf], dest: &Path) -> Result<Vec<Config>, InputError> {
    // One run of `base`, as `resolved` checks it.
    let one_run = |one: &PathBuf| {
        let cfg = Config {
            source: one.clone(),
            dest: dest.to_path_buf(),
            ..base.clone()
        };
        cfg.resolved().map(|c| vec![c])
    };
    let places = sources
        .iter()
        .map(|s| crate::config::place(s))
        .collect::<Result<Vec<_>, _>>()?;
    // Sources on another machine or in a bucket: each as written, and the
    // name it goes into DEST under.
    let elsewhere: Vec<(String, Option<OsString>)> = places
        .into_iter()
        .filter_map(|p| match p {
            crate::location::Location::Remote(r) => {
                Some((r.to_string(), r.path.file_name().map(OsString::from)))
            }
            crate::location::Location::Bucket(b) => {
                let name = b.prefix.rsplit('/').next().filter(|n| !n.is_empty());
                Some((b.to_string(), name.map(OsString::from)))
            }
            crate::location::Location::Local(_) => None,
        })
        .collect();
    if !elsewhere.is_empty() {
        if elsewhere.len() < sources.len() {
            return Err(InputError::Other(format!(
                "{}: sources elsewhere and on this machine go in two runs",
                elsewhere[0].0
            )));
        }
        if let [one] = sources {
            return one_run(one);
        }
        // Each goes into DEST under its own name; what each is, the run
        // finds out once it reaches it.
        let mut names = HashSet::new();
        for (shown, name) in &elsewhere {
            let name = name.clone().ok_or_else(|| {
                InputError::Other(format!(
                    "{shown}: name a folder or a file to copy into DEST"
                ))
            })?;
            if !names.insert(name.clone()) {
                return Err(InputError::Other(format!(
                    "{shown}: two sources are named {}; each goes into the destination under its own name",
                    DisplayPath(Path::new(&name))
                )));
            }
        }
        return sources
            .iter()
            .map(|s| {
                let cfg = Config {
                    source: s.clone(),
                    dest: dest.to_path_buf(),
                    placing: crate::config::Placing::Into,
                    ..base.clone()
                };
                cfg.resolved()
            })
            .collect();
    }
    match crate::config::place(dest)? {
        crate::location::Location::Remote(r) => {
            let last = r.path.file_name().map(|name| {
                let mut parent = OsString::from(format!("{}:", r.host));
                parent.push(r.path.parent().unwrap_or(Path::new("")).as_os_str());
                (name.to_os_string(), PathBuf::from(parent))
            });
            return to_another_place(base, sources, dest, last);
        }
        crate::location::Location::Bucket(b) => {
            let last = b.prefix.rsplit_once('/').map_or_else(
                || (b.prefix.clone(), String::new()),
                |(parent, name)| (name.to_string(), parent.to_string()),
            );
            let last = (!last.0.is_empty()).then(|| {
                let parent = crate::location::Bucket {
                    bucket: b.bucket.clone(),
                    prefix: last.1,
                };
                (OsString::from(last.0), PathBuf::from(parent.to_string()))
            });
            return to_another_place(base, sources, dest, last);
        }
        crate::location::Location::Local(_) => {}
    }
    let metas = sources
        .iter()
        .map(|s| lstat_source(s))
        .collect::<Result<Vec<_>, _>>()?;
    // One folder source is followed if it is a symlink, as before.
    let first_is_dir = retry(|| fs::metadata(&sources[0])).is_ok_and(|m| m.is_dir());
    let dest_is_dir = match retry(|| fs::metadata(dest)) {
        Ok(m) => Some(m.is_dir()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(InputError::DestCreate(dest.to_path_buf(), e)),
    };
    let slash = dest.as_os_str().as_encoded_bytes().ends_with(b"/");
    match shape(sources.len(), first_is_dir, dest_is_dir, slash) {
        Shape::Contents => one_run(&sources[0]),
        Shape::ToName => {
            let name = dest
                .file_name()
                .ok_or_else(|| InputError::DestNotDir(dest.to_path_buf()))?;
            if dest_is_dir == Some(false) {
                check_not_same(&sources[0], dest)?;
            }
            let parent = nonempty(dest.parent());
            let mut cfg = group(base, &sources[0], parent)?;
            let from = sources[0].file_name().unwrap_or_default().to_os_string();
            cfg.rename = Some((from, name.to_os_string()));
            Ok(vec![cfg])
        }
        Shape::Into => {
            if dest_is_dir == Some(false) {
                return Err(InputError::DestNotDir(dest.to_path_buf()));
            }
            let mut names = HashSet::new();
            for (s, m) in sources.iter().zip(&metas) {
                let name = unique_name(&mut names, s)?;
                let into = dest.join(&name);
                if is_dir_source(m, s, base) {
                    // The same checks as a folder copy into DEST/name.
                    paths::resolve(s, Some(&into))?;
                } else {
                    check_not_same(s, &into)?;
                }
            }
            by_parent(sources.iter().map(|s| group(base, s, dest)))
        }
    }
}

/// Sources here into DEST on another machine or in a bucket: one folder is
/// copied as DEST; one file goes into DEST written `host:dir/` (or the login
/// folder, or the bucket), else to the name DEST unless that is a folder
/// there (found out once connected); several go into DEST under their own
/// names, one run per parent folder. `last`: DEST's last name and its
/// parent, written as DEST is.
fn to_another_place(
    base: &Config,
    sources: &[PathBuf],
    dest: &Path,
    last: Option<(OsString, PathBuf)>,
) -> Result<Vec<Config>, InputError> {
    let metas = sources
        .iter()
        .map(|s| lstat_source(s))
        .collect::<Result<Vec<_>, _>>()?;
    let into_dest = |s: &Path| group(base, s, dest).and_then(Config::resolved);
    if let ([one], [m]) = (sources, &metas[..]) {
        if is_dir_source(m, one, base) {
            let cfg = Config {
                source: one.clone(),
                dest: dest.to_path_buf(),
                ..base.clone()
            };
            return Ok(vec![cfg.resolved()?]);
        }
        let slash = dest.as_os_str().as_encoded_bytes().ends_with(b"/");
        let Some((name, parent)) = last.filter(|_| !slash) else {
            return Ok(vec![into_dest(one)?]);
        };
        let mut cfg = group(base, one, &parent)?;
        let from = entry_name(one)?;
        cfg.rename = Some((from, name));
        cfg.placing = crate::config::Placing::ToNameUnlessFolder;
        return Ok(vec![cfg.resolved()?]);
    }
    let mut names = HashSet::new();
    for s in sources {
        unique_name(&mut names, s)?;
    }
    by_parent(sources.iter().map(|s| into_dest(s)))
}

/// The name `source` goes into DEST under, which no other source of the
/// command has (`names`: theirs so far).
fn unique_name(names: &mut HashSet<OsString>, source: &Path) -> Result<OsString, InputError> {
    let name = entry_name(source)?;
    if !names.insert(name.clone()) {
        return Err(InputError::Other(format!(
            "{}: two sources are named {}; each goes into the destination under its own name",
            DisplayPath(source),
            DisplayPath(Path::new(&name))
        )));
    }
    Ok(name)
}

/// The runs of several sources, one per parent folder: sources of one
/// folder are picked out of it by one run.
fn by_parent(
    runs: impl Iterator<Item = Result<Config, InputError>>,
) -> Result<Vec<Config>, InputError> {
    let mut out: Vec<Config> = Vec::new();
    for cfg in runs {
        let cfg = cfg?;
        match out.iter_mut().find(|r| r.source == cfg.source) {
            Some(run) => {
                let only = run.only.get_or_insert_with(HashSet::new);
                only.extend(cfg.only.into_iter().flatten());
            }
            None => out.push(cfg),
        }
    }
    Ok(out)
}

/// The parent of a path as typed, `.` for a bare name.
fn nonempty(p: Option<&Path>) -> &Path {
    match p {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// The name a source has in its parent folder (`.` and `..` resolved).
fn entry_name(source: &Path) -> Result<OsString, InputError> {
    if let Some(name) = source.file_name() {
        return Ok(name.to_os_string());
    }
    let canon = retry(|| fs::canonicalize(source))
        .map_err(|e| InputError::SourceUnreadable(source.into(), e))?;
    canon.file_name().map(OsString::from).ok_or_else(|| {
        InputError::Other(format!(
            "{}: the root cannot go into a folder under its own name",
            DisplayPath(source)
        ))
    })
}

/// A run over the parent folder of `source` that copies only `source`
/// into `dest`, leaving DEST's own mode and times as they are.
fn group(base: &Config, source: &Path, dest: &Path) -> Result<Config, InputError> {
    let name = entry_name(source)?;
    let parent = match source.file_name() {
        Some(_) => nonempty(source.parent()).to_path_buf(),
        None => {
            let canon = retry(|| fs::canonicalize(source))
                .map_err(|e| InputError::SourceUnreadable(source.into(), e))?;
            nonempty(canon.parent()).to_path_buf()
        }
    };
    let parent = retry(|| fs::canonicalize(&parent))
        .map_err(|e| InputError::SourceUnreadable(parent.clone(), e))?;
    Ok(Config {
        source: parent,
        dest: dest.to_path_buf(),
        only: Some(HashSet::from([PathBuf::from(name)])),
        dest_keeps_own_metadata: true,
        ..base.clone()
    })
}

fn lstat_source(source: &Path) -> Result<fs::Metadata, InputError> {
    match retry(|| fs::symlink_metadata(source)) {
        Ok(m) => Ok(m),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            Err(InputError::SourceMissing(source.into()))
        }
        Err(e) => Err(InputError::SourceUnreadable(source.into(), e)),
    }
}

/// A source goes in as a folder when it is one, or with `-L` a symlink to
/// one (without, the link itself is copied, as `cp -a` does).
fn is_dir_source(m: &fs::Metadata, path: &Path, base: &Config) -> bool {
    m.is_dir()
        || (base.dereference
            && m.file_type().is_symlink()
            && retry(|| fs::metadata(path)).is_ok_and(|t| t.is_dir()))
}

/// A file source must not be copied onto itself (the same inode under
/// another path, or through a hard link).
fn check_not_same(source: &Path, to: &Path) -> Result<(), InputError> {
    let (Ok(s), Ok(d)) = (
        retry(|| fs::symlink_metadata(source)),
        retry(|| fs::symlink_metadata(to)),
    ) else {
        return Ok(());
    };
    if (s.dev(), s.ino()) == (d.dev(), d.ino()) {
        return Err(InputError::DestIsSource(to.to_path_buf()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_folder_is_its_contents_and_anything_else_goes_in_by_name() {
        assert_eq!(shape(1, true, None, false), Shape::Contents);
        assert_eq!(shape(1, true, Some(true), false), Shape::Contents);
        assert_eq!(shape(1, false, Some(true), false), Shape::Into);
        assert_eq!(
            shape(1, false, None, true),
            Shape::Into,
            "a DEST/ that does not exist yet"
        );
        assert_eq!(shape(1, false, None, false), Shape::ToName);
        assert_eq!(shape(1, false, Some(false), false), Shape::ToName);
        assert_eq!(shape(2, true, None, false), Shape::Into);
        assert_eq!(shape(3, false, Some(true), false), Shape::Into);
    }
}
