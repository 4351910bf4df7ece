//! convoy as a library, used the way another project's integration tests use
//! it: lay out a fixture tree in a temporary folder, check the summary. Only
//! the crate-root API is used here (`convoy::CopyTree` and its types).

mod common;

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};

use common::{assert_same_tree, set_mtime, write};
use convoy::{ConflictPolicy, CopyTree, ExitCode, InputError, StartError};

fn fixture(root: &std::path::Path) {
    write(root.join("config/app.toml"), b"name = \"test\"\n");
    write(root.join("data/rows.csv"), b"a,b\n1,2\n");
    fs::set_permissions(
        root.join("data/rows.csv"),
        fs::Permissions::from_mode(0o640),
    )
    .unwrap();
    set_mtime(root.join("data/rows.csv"), 1_600_000_000, 123_456_789);
    fs::hard_link(root.join("data/rows.csv"), root.join("data/same.csv")).unwrap();
    symlink("../config/app.toml", root.join("data/app.toml")).unwrap();
    fs::create_dir_all(root.join("empty")).unwrap();
}

#[test]
fn a_fixture_is_laid_out_exactly_and_the_summary_says_so() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("fixture");
    fixture(&src);
    let work = t.path().join("work");
    let summary = CopyTree::new(&src, &work).jobs(2).run().unwrap();
    assert!(summary.is_success(), "{summary:?}");
    assert_eq!(summary.exit_code, ExitCode::Success);
    assert_eq!(
        (summary.files_copied, summary.hard_links, summary.symlinks),
        (2, 1, 1)
    );
    assert_eq!(summary.bytes_copied, 14 + 8);
    assert!(summary.failures.is_empty() && summary.fatal.is_none());
    assert_same_tree(&src, &work);

    // Again: up to date, nothing written.
    let again = CopyTree::new(&src, &work).run().unwrap();
    // Two files, their second name and the symlink.
    assert_eq!((again.files_copied, again.up_to_date), (0, 4), "{again:?}");
}

#[test]
fn what_cannot_be_copied_is_in_the_summary_not_an_error() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("fixture");
    fixture(&src);
    let work = t.path().join("work");
    write(work.join("config/app.toml"), b"edited by the test");
    let kept = CopyTree::new(&src, &work).run().unwrap();
    assert_eq!(kept.skipped, 1, "{kept:?}");
    assert_eq!(
        kept.exit_code,
        ExitCode::Partial,
        "a conflict kept is exit 1"
    );
    assert!(!kept.is_success());
    assert_eq!(
        fs::read(work.join("config/app.toml")).unwrap(),
        b"edited by the test"
    );
    let replaced = CopyTree::new(&src, &work)
        .on_conflict(ConflictPolicy::Overwrite)
        .run()
        .unwrap();
    assert!(replaced.is_success(), "{replaced:?}");
    assert_same_tree(&src, &work);
}

#[test]
fn bad_input_is_an_error_and_nothing_is_written() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("fixture");
    fixture(&src);
    let missing = CopyTree::new(t.path().join("nope"), t.path().join("w1")).run();
    assert!(
        matches!(
            missing,
            Err(StartError::Input(InputError::SourceMissing(_)))
        ),
        "{missing:?}"
    );
    let inside = CopyTree::new(&src, src.join("copy")).run();
    assert!(
        matches!(
            inside,
            Err(StartError::Input(InputError::DestInsideSource(..)))
        ),
        "{inside:?}"
    );
    let glob = CopyTree::new(&src, t.path().join("w2")).exclude("[").run();
    assert!(matches!(glob, Err(StartError::Input(_))), "{glob:?}");
    let ask = CopyTree::new(&src, t.path().join("w3"))
        .on_conflict(ConflictPolicy::Ask)
        .run();
    assert!(matches!(ask, Err(StartError::Input(_))), "{ask:?}");
    for w in ["w1", "w2", "w3"] {
        assert!(!t.path().join(w).exists(), "{w} written");
    }
    assert!(!src.join("copy").exists());

    let dry = CopyTree::new(&src, t.path().join("w4"))
        .dry_run(true)
        .run()
        .unwrap();
    assert_eq!(dry.files_copied, 2, "{dry:?}");
    assert!(!t.path().join("w4").exists(), "a dry run writes nothing");
}
