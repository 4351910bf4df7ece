//! Which source entries a run takes: `--exclude` globs, and for a retry only
//! the listed paths (with the folders on the way to them). Pure: decided from
//! the relative path alone.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use globset::{Glob, GlobSet, GlobSetBuilder};

use crate::error::InputError;

#[derive(Clone)]
pub(crate) struct Filter {
    excludes: GlobSet,
    /// Copy only these paths (a folder with all it holds).
    only: Option<HashSet<PathBuf>>,
    /// With `only`: every folder that leads to a wanted path.
    on_the_way: HashSet<PathBuf>,
}

impl Filter {
    /// Fails on a pattern that is not a glob, naming it.
    pub fn new(excludes: &[String], only: Option<HashSet<PathBuf>>) -> Result<Self, InputError> {
        let mut b = GlobSetBuilder::new();
        for p in excludes {
            let g = Glob::new(p)
                .map_err(|e| InputError::BadExclude(p.clone(), e.kind().to_string()))?;
            b.add(g);
        }
        let excludes = b.build().map_err(|e| InputError::Other(e.to_string()))?;
        let on_the_way = only
            .iter()
            .flatten()
            .flat_map(|p| p.ancestors().skip(1).map(Path::to_path_buf))
            .collect();
        Ok(Filter {
            excludes,
            only,
            on_the_way,
        })
    }

    /// Whether the entry at `rel` (relative to the source) is copied; for a
    /// folder, whether the walk goes into it. A folder that only leads to
    /// wanted paths is created, but nothing else in it is taken.
    pub fn takes(&self, rel: &Path, is_dir: bool) -> bool {
        if self.excludes.is_match(rel) {
            return false;
        }
        let Some(only) = &self.only else {
            return true;
        };
        rel.ancestors().any(|a| only.contains(a)) || (is_dir && self.on_the_way.contains(rel))
    }

    /// Whether a mirror may delete the destination entry at `rel` that the
    /// source does not have: not excluded (rsync leaves those alone), and
    /// inside what the run copies (never beside a picked source).
    pub fn prunes(&self, rel: &Path) -> bool {
        !self.excludes.is_match(rel)
            && self
                .only
                .as_ref()
                .is_none_or(|only| rel.ancestors().skip(1).any(|a| only.contains(a)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn excludes(globs: &[&str]) -> Filter {
        let globs: Vec<String> = globs.iter().map(|s| s.to_string()).collect();
        Filter::new(&globs, None).unwrap()
    }

    #[test]
    fn excluded_paths_and_folders_are_not_taken() {
        let f = excludes(&["*.tmp", "target/**", "cache"]);
        assert!(!f.takes(Path::new("a.tmp"), false));
        assert!(
            !f.takes(Path::new("deep/in/b.tmp"), false),
            "* crosses folders"
        );
        assert!(!f.takes(Path::new("target/debug/x"), false));
        assert!(
            !f.takes(Path::new("cache"), true),
            "a matching folder is skipped whole"
        );
        assert!(f.takes(Path::new("sub/cache.txt"), false));
        assert!(f.takes(Path::new("src/main.rs"), false));
        assert!(
            f.takes(Path::new("target"), true),
            "target/** does not match target"
        );
    }

    #[test]
    fn a_mirror_prunes_only_inside_what_it_copies_and_never_what_is_excluded() {
        let f = excludes(&["*.keep"]);
        assert!(f.prunes(Path::new("old.txt")));
        assert!(!f.prunes(Path::new("deep/x.keep")));
        let only: HashSet<PathBuf> = [PathBuf::from("a")].into();
        let f = Filter::new(&[], Some(only)).unwrap();
        assert!(!f.prunes(Path::new("b")), "beside a picked source");
        assert!(!f.prunes(Path::new("a")), "the picked source itself");
        assert!(f.prunes(Path::new("a/old")), "inside it");
    }

    #[test]
    fn without_patterns_everything_is_taken() {
        let f = excludes(&[]);
        assert!(f.takes(Path::new("any/thing"), false));
        assert!(f.takes(Path::new("folder"), true));
    }

    #[test]
    fn a_bad_pattern_is_refused_with_its_text() {
        let err = Filter::new(&["[".to_string()], None)
            .err()
            .expect("refused");
        assert!(err.to_string().contains("\"[\""), "{err}");
    }

    #[test]
    fn only_takes_the_listed_paths_their_contents_and_the_folders_on_the_way() {
        let only = ["a/b/failed.txt", "c"].iter().map(PathBuf::from).collect();
        let f = Filter::new(&[], Some(only)).unwrap();
        assert!(f.takes(Path::new("a/b/failed.txt"), false));
        assert!(f.takes(Path::new("a"), true), "on the way");
        assert!(f.takes(Path::new("a/b"), true), "on the way");
        assert!(
            !f.takes(Path::new("a/ok.txt"), false),
            "a file beside the way"
        );
        assert!(!f.takes(Path::new("a/b/other.txt"), false));
        assert!(!f.takes(Path::new("a/x"), true), "a folder off the way");
        assert!(
            f.takes(Path::new("c/inside/deep.txt"), false),
            "a listed folder whole"
        );
        assert!(!f.takes(Path::new("d"), true));
    }

    #[test]
    fn excludes_win_over_only() {
        let only = ["keep"].iter().map(PathBuf::from).collect();
        let f = Filter::new(&["*.tmp".to_string()], Some(only)).unwrap();
        assert!(f.takes(Path::new("keep/a.txt"), false));
        assert!(!f.takes(Path::new("keep/a.tmp"), false));
    }
}
