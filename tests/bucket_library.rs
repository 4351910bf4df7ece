//! The library into and out of a bucket: `CopyTree` with an `s3://` DEST or
//! SOURCE, its credentials and endpoint from the process's environment as for
//! every AWS tool. Alone in its test binary: it sets that environment.

mod common;

use common::s3::*;
use common::*;
use convoy::CopyTree;

#[test]
fn the_library_copies_into_a_bucket_and_back() {
    let t = tempfile::tempdir().unwrap();
    let (src, back) = (t.path().join("src"), t.path().join("back"));
    write(src.join("a"), b"library");
    write(src.join("d/b"), &data(4, 70_000));
    set_mtime(src.join("d/b"), 1_600_000_000, 5);
    let s3 = Server::start(&t.path().join("store"), &["bkt"]);
    // SAFETY: this binary's only test, before the copy starts its threads.
    unsafe {
        std::env::set_var("HOME", t.path().join("home"));
        std::env::set_var("AWS_ACCESS_KEY_ID", KEY);
        std::env::set_var("AWS_SECRET_ACCESS_KEY", SECRET);
        std::env::set_var("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{}", s3.port));
        std::env::remove_var("AWS_PROFILE");
    }
    let up = CopyTree::new(&src, "s3://bkt/lib")
        .verify(true)
        .run()
        .unwrap();
    assert!(up.is_success(), "{up:?}");
    assert_eq!((up.files_copied, up.verified), (2, 2), "{up:?}");
    assert_eq!(
        std::fs::read(s3.root.join("bkt/lib/d/b")).unwrap(),
        data(4, 70_000)
    );
    let down = CopyTree::new("s3://bkt/lib", &back).run().unwrap();
    assert!(down.is_success(), "{down:?}");
    assert_eq!(std::fs::read(back.join("a")).unwrap(), b"library");
    let m = std::fs::metadata(back.join("d/b")).unwrap();
    use std::os::unix::fs::MetadataExt;
    assert_eq!((m.mtime(), m.mtime_nsec()), (1_600_000_000, 5));
}
