//! Pure decisions about what to do with one entry given what is at the destination.
//! No I/O here, so every rule is unit-tested on plain values.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use crate::config::ConflictPolicy;
use crate::engine::meta::attrs::{SrcMeta, TimeWindow};
use crate::event::SkipReason;

/// What to do with a file or symlink whose destination name is `dest`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Write it; `replace` when an existing entry is to be swapped out atomically.
    Copy {
        replace: bool,
    },
    UpToDate,
    Skip(SkipReason),
    /// Policy `Ask`: hold it for a person.
    Ask,
}

/// Up to date means a regular file of the same size and mtime (within what the
/// destination keeps of it), judged from the destination's `lstat`.
pub(crate) fn decide(
    src: &SrcMeta,
    dest: Option<&SrcMeta>,
    policy: ConflictPolicy,
    window: TimeWindow,
) -> Decision {
    let Some(dest) = dest else {
        return Decision::Copy { replace: false };
    };
    if dest.is_dir() {
        return Decision::Skip(SkipReason::DestIsDir);
    }
    if window.same_content(src, dest) {
        return Decision::UpToDate;
    }
    resolve(src, dest, policy, window)
}

fn resolve(src: &SrcMeta, dest: &SrcMeta, policy: ConflictPolicy, window: TimeWindow) -> Decision {
    match policy {
        ConflictPolicy::Skip => Decision::Skip(SkipReason::Conflict),
        ConflictPolicy::Overwrite => Decision::Copy { replace: true },
        // Updating a copy means the source's kind of entry, whatever its date
        // (as `rsync -u`): a symlink where the source now has a file is old.
        ConflictPolicy::Newer if src.file_type() != dest.file_type() => {
            Decision::Copy { replace: true }
        }
        ConflictPolicy::Newer if window.later(src.mtime, dest.mtime) => {
            Decision::Copy { replace: true }
        }
        ConflictPolicy::Newer => Decision::Skip(SkipReason::NotNewer),
        ConflictPolicy::Ask => Decision::Ask,
    }
}

/// What to do for a source folder whose destination name is `dest`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DirDecision {
    Create,
    Merge,
    /// A file or symlink is in the way and the policy says replace it.
    Replace,
    Skip(SkipReason),
}

pub(crate) fn decide_dir(
    src: &SrcMeta,
    dest: Option<&SrcMeta>,
    policy: ConflictPolicy,
) -> DirDecision {
    match dest {
        None => DirDecision::Create,
        Some(d) if d.is_dir() => DirDecision::Merge,
        // A folder cannot wait for an answer (its contents are being walked):
        // under Ask it is kept, and reported as a conflict.
        Some(d) => match resolve(src, d, policy, TimeWindow::EXACT) {
            Decision::Copy { .. } => DirDecision::Replace,
            Decision::Skip(r) => DirDecision::Skip(r),
            Decision::Ask | Decision::UpToDate => DirDecision::Skip(SkipReason::Conflict),
        },
    }
}

/// `report.txt` → `report (2).txt`; `.bashrc` → `.bashrc (2)`; `Makefile` →
/// `Makefile (2)`: the number goes before the last extension, as file managers do.
pub(crate) fn keep_both_name(name: &OsStr, n: u32) -> OsString {
    let bytes = name.as_bytes();
    let dot = bytes.iter().rposition(|&b| b == b'.').filter(|&i| i > 0);
    let (stem, ext) = dot.map_or((bytes, &b""[..]), |i| bytes.split_at(i));
    let mut out = stem.to_vec();
    out.extend_from_slice(format!(" ({n})").as_bytes());
    out.extend_from_slice(ext);
    OsString::from_vec(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ConflictPolicy::*;

    fn file(size: u64, mtime: i64) -> SrcMeta {
        SrcMeta::test_file(size, mtime)
    }

    fn dir() -> SrcMeta {
        SrcMeta {
            mode: 0o040755,
            ..file(4096, 0)
        }
    }

    fn symlink() -> SrcMeta {
        SrcMeta {
            mode: 0o120777,
            ..file(3, 5)
        }
    }

    #[test]
    fn missing_destination_is_copied_without_replacing() {
        for p in [Skip, Overwrite, Newer, Ask] {
            assert_eq!(
                decide(&file(1, 1), None, p, TimeWindow::EXACT),
                Decision::Copy { replace: false }
            );
        }
    }

    #[test]
    fn same_size_and_mtime_is_up_to_date_under_every_policy() {
        for p in [Skip, Overwrite, Newer, Ask] {
            assert_eq!(
                decide(&file(10, 7), Some(&file(10, 7)), p, TimeWindow::EXACT),
                Decision::UpToDate
            );
        }
    }

    #[test]
    fn times_are_compared_within_what_the_destination_keeps() {
        let src = SrcMeta {
            mtime: (1_000, 987_654_321),
            ..file(10, 0)
        };
        let exfat = SrcMeta {
            mtime: (1_000, 980_000_000),
            ..file(10, 0)
        };
        let ten_ms = TimeWindow(10_000_000);
        assert_eq!(decide(&src, Some(&exfat), Skip, ten_ms), Decision::UpToDate);
        assert_eq!(
            decide(&src, Some(&exfat), Skip, TimeWindow::EXACT),
            Decision::Skip(SkipReason::Conflict),
            "exact where the destination keeps nanoseconds"
        );
        let other_size = SrcMeta { size: 11, ..exfat };
        assert_eq!(
            decide(&src, Some(&other_size), Newer, ten_ms),
            Decision::Skip(SkipReason::NotNewer),
            "7 ms later is not newer where 10 ms are lost"
        );
        let a_second_later = SrcMeta {
            mtime: (1_001, 987_654_321),
            ..file(10, 0)
        };
        assert_eq!(
            decide(&a_second_later, Some(&other_size), Newer, ten_ms),
            Decision::Copy { replace: true }
        );
    }

    #[test]
    fn nanoseconds_count_for_up_to_date() {
        let mut d = file(10, 7);
        d.mtime.1 = 1;
        assert_eq!(
            decide(&file(10, 7), Some(&d), Skip, TimeWindow::EXACT),
            Decision::Skip(SkipReason::Conflict)
        );
    }

    #[test]
    fn differing_destination_follows_the_policy() {
        let (src, dst) = (file(10, 100), file(11, 50));
        assert_eq!(
            decide(&src, Some(&dst), Skip, TimeWindow::EXACT),
            Decision::Skip(SkipReason::Conflict)
        );
        assert_eq!(
            decide(&src, Some(&dst), Overwrite, TimeWindow::EXACT),
            Decision::Copy { replace: true }
        );
        assert_eq!(
            decide(&src, Some(&dst), Newer, TimeWindow::EXACT),
            Decision::Copy { replace: true }
        );
        assert_eq!(
            decide(&dst, Some(&src), Newer, TimeWindow::EXACT),
            Decision::Skip(SkipReason::NotNewer)
        );
        assert_eq!(
            decide(&src, Some(&dst), Ask, TimeWindow::EXACT),
            Decision::Ask
        );
    }

    #[test]
    fn newer_always_replaces_an_entry_of_another_kind_whatever_its_date() {
        let old_file = file(3, 5);
        let new_link = SrcMeta {
            mtime: (100, 0),
            ..symlink()
        };
        assert_eq!(
            decide(&old_file, Some(&new_link), Newer, TimeWindow::EXACT),
            Decision::Copy { replace: true },
            "a file in the source replaces a newer symlink"
        );
        assert_eq!(
            decide_dir(&dir(), Some(&new_link), Newer),
            DirDecision::Replace,
            "a folder in the source replaces a newer symlink"
        );
        assert_eq!(
            decide(&old_file, Some(&dir()), Newer, TimeWindow::EXACT),
            Decision::Skip(SkipReason::DestIsDir),
            "but a folder is never replaced"
        );
    }

    #[test]
    fn a_folder_in_the_way_of_a_file_is_never_replaced() {
        assert_eq!(
            decide(&file(1, 1), Some(&dir()), Overwrite, TimeWindow::EXACT),
            Decision::Skip(SkipReason::DestIsDir)
        );
    }

    #[test]
    fn a_destination_symlink_is_a_conflict_not_a_path_to_write_through() {
        assert_eq!(
            decide(&file(3, 5), Some(&symlink()), Skip, TimeWindow::EXACT),
            Decision::Skip(SkipReason::Conflict)
        );
        assert_eq!(
            decide(&file(3, 5), Some(&symlink()), Overwrite, TimeWindow::EXACT),
            Decision::Copy { replace: true }
        );
    }

    #[test]
    fn folders_merge_into_folders_and_replace_only_when_asked() {
        assert_eq!(decide_dir(&dir(), None, Skip), DirDecision::Create);
        assert_eq!(decide_dir(&dir(), Some(&dir()), Skip), DirDecision::Merge);
        assert_eq!(
            decide_dir(&dir(), Some(&symlink()), Skip),
            DirDecision::Skip(SkipReason::Conflict)
        );
        assert_eq!(
            decide_dir(&dir(), Some(&symlink()), Overwrite),
            DirDecision::Replace
        );
        assert_eq!(
            decide_dir(&dir(), Some(&file(1, 1)), Ask),
            DirDecision::Skip(SkipReason::Conflict)
        );
    }

    #[test]
    fn keep_both_numbers_before_the_extension() {
        let k = |s: &str, n| keep_both_name(OsStr::new(s), n);
        assert_eq!(k("report.txt", 1), "report (1).txt");
        assert_eq!(k("archive.tar.gz", 2), "archive.tar (2).gz");
        assert_eq!(k(".bashrc", 1), ".bashrc (1)");
        assert_eq!(k("Makefile", 3), "Makefile (3)");
    }
}
