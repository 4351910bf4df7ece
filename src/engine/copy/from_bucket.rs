//! Objects from a bucket into a local folder: the same rules as the local
//! copy's (`files`): the conflict check, a file written complete (nameless or
//! under a temporary name) with its mode, owner and times from the object's
//! metadata, only then given its own name, never replacing what the policy
//! keeps. A batch's small objects are asked for all at once; a big one is
//! streamed into its file, its progress on the worker's lane.

use std::os::fd::{AsFd, BorrowedFd};
use std::sync::Arc;

use object_store::path::Path as Key;
use object_store::{GetOptions, GetRange, ObjectStore};
use tokio::task::JoinHandle;

use super::copier::{Copier, Done, Verdict, each_piece};
use super::job::Batch;
use crate::engine::bucket::source::BucketSource;
use crate::engine::bucket::store::{PART, Store, says};
use crate::engine::data::bytes::CopyFail;
use crate::engine::plan::item::{Item, ItemKind};
use crate::engine::plan::node::DirNode;
use crate::engine::read::Source;
use crate::engine::write::Dest;
use crate::engine::write::dest::DestRoot;
use crate::error::Op;
use crate::event::{Outcome, SkipReason};

type FromBucket<'a> = Copier<'a, BucketSource, DestRoot>;

pub(crate) fn batch(c: &mut FromBucket<'_>, mut b: Batch) {
    let Ok(dir_fd) = c.open_batch_dir(&b.dir, &b.items) else {
        return;
    };
    let fd = dir_fd.as_ref().map(|f| f.as_fd());
    if let Some(fd) = fd.filter(|_| !b.dir.fresh) {
        look_where_compared(c, fd, &b.dir, &mut b.items);
    }
    let mut small: Vec<(&Item, bool)> = Vec::new();
    for item in &b.items {
        if c.sh.control.checkpoint().is_err() {
            return;
        }
        let done = match item.kind {
            ItemKind::File => match c.check_dest(fd, &b.dir, item, |_, _| false) {
                Verdict::Write { replace } => match fd.filter(|_| !c.sh.dry_run) {
                    Some(_) if item.meta.size < PART => {
                        small.push((item, replace));
                        None
                    }
                    _ => Some(file(c, fd, &b.dir, item, replace, b.in_place)),
                },
                Verdict::Done(done) => Some(done),
                Verdict::Parked => None,
            },
            // A bucket lists objects and the prefixes they share, nothing else.
            ItemKind::Symlink | ItemKind::Special => {
                let why = std::io::Error::other("a bucket holds only files");
                Some(c.fail(&b.dir, item, Op::Open, why, false))
            }
        };
        if let Some(done) = done {
            report_in(c, &b, item, done);
        }
    }
    let Some(fd) = fd.filter(|_| !small.is_empty() && !c.sh.control.is_cancelled()) else {
        return;
    };
    let sh = c.sh;
    let store = &sh.source.store;
    let prefix = match sh.source.open_dir(&b.dir.rel) {
        Ok(p) => p,
        Err(e) => {
            for (item, _) in small {
                let done = c.fail(&b.dir, item, Op::OpenDir, crate::error::clone_io(&e), false);
                report_in(c, &b, item, done);
            }
            return;
        }
    };
    // Every small object of the batch asked for at once.
    let asks: Vec<_> = small
        .iter()
        .map(|(item, _)| {
            let key = sh
                .source
                .open_file(&prefix, item.source_name(), &item.meta, true);
            let listed = item.meta;
            key.map(|(key, _, _)| {
                let store = Arc::clone(store);
                store.clone().spawn(async move {
                    let _request = store.requests.acquire().await;
                    BucketSource::get(&store, &key, listed).await
                })
            })
        })
        .collect();
    for ((item, replace), ask) in small.into_iter().zip(asks) {
        let got = ask.and_then(|a| match store.run(a) {
            Ok(Ok(data)) => Ok(data),
            Ok(Err(e)) => Err(std::io::Error::other(store.why(&e))),
            Err(e) => Err(std::io::Error::other(e)),
        });
        let done = match got {
            // An object of another length changed since it was listed: it is
            // fetched again on its own, with a fresh look.
            Ok((data, meta)) if data.len() as u64 == item.meta.size => {
                match sh.control.throttle(item.meta.size) {
                    Ok(()) => super::download::write_small(
                        c,
                        (fd, &b.dir),
                        item,
                        (&data, &meta),
                        (replace, b.in_place),
                    ),
                    Err(_) => return,
                }
            }
            Ok(_) => file(c, Some(fd), &b.dir, item, replace, b.in_place),
            Err(e) => c.fail(&b.dir, item, Op::Read, e, false),
        };
        report_in(c, &b, item, done);
    }
}

/// The objects of `items` whose name is taken here: looked at all at once,
/// for the time and mode the comparison needs (a listing tells only the
/// upload time, and `--on-conflict newer` compares times).
fn look_where_compared(
    c: &FromBucket<'_>,
    fd: BorrowedFd<'_>,
    dir: &Arc<DirNode>,
    items: &mut [Item],
) {
    let sh = c.sh;
    let (root, store) = (sh.root(), &sh.source.store);
    let Ok(prefix) = sh.source.open_dir(&dir.rel) else {
        return;
    };
    let looks: Vec<_> = items
        .iter()
        .enumerate()
        .filter(|(_, i)| i.kind == ItemKind::File)
        .filter(|(_, i)| !matches!(root.stat_at(fd, &i.name), Ok(None)))
        .filter_map(|(n, i)| {
            let (key, _, _) = sh
                .source
                .open_file(&prefix, i.source_name(), &i.meta, true)
                .ok()?;
            let store = Arc::clone(store);
            let look = store.clone().spawn(async move {
                let _request = store.requests.acquire().await;
                crate::engine::bucket::dest::BucketDest::head(&store, &key).await
            });
            Some((n, look))
        })
        .collect();
    for (n, look) in looks {
        // An object that cannot be looked at is compared as listed: it
        // then differs, and the policy decides.
        if let Ok(Ok(Some(meta))) = store.run(look) {
            items[n].meta = meta;
        }
    }
}

/// Reports an entry of the batch `b` (see `download::report_in`).
fn report_in(c: &mut FromBucket<'_>, b: &Batch, item: &Item, done: Done) {
    if let (true, Outcome::Copied, Some(stage)) = (b.in_place, &done.0, &b.dir.stage) {
        stage.wrote(item.kind == ItemKind::File, item.meta.size);
    }
    report(c, &b.dir, item, done);
}

/// Reports an entry, or (a file copied under `--verify`) holds it to be read
/// back.
pub(crate) fn report(c: &mut FromBucket<'_>, dir: &Arc<DirNode>, item: &Item, done: Done) {
    if let (Outcome::Failed(e), _) = &done {
        c.stop_if_fatal(e);
    }
    c.finish_entry(dir, item, done);
}

/// A big object (or one that changed since it was listed), streamed into
/// its file, looked at afresh first.
fn file(
    c: &mut FromBucket<'_>,
    dir_fd: Option<BorrowedFd<'_>>,
    dir: &Arc<DirNode>,
    item: &Item,
    replace: bool,
    in_place: bool,
) -> Done {
    let Some(dir_fd) = dir_fd.filter(|_| !c.sh.dry_run) else {
        return (Outcome::Copied, 0);
    };
    let sh = c.sh;
    let opened = c.source_dir(dir).and_then(|d| {
        sh.source
            .open_file(&d, item.source_name(), &item.meta, false)
    });
    let (key, meta, _) = match opened {
        Ok(x) => x,
        Err(e) => return c.fail(dir, item, Op::Open, e, false),
    };
    let in_place = in_place.then_some(item.name.as_os_str());
    let new = match sh.root().create_file(dir_fd, dir, meta.mode, in_place) {
        Ok(new) => new,
        Err(e) => return c.fail(dir, item, Op::Create, e, true),
    };
    let out = new.fd();
    let lane = c.lane_for(dir, item, meta.size);
    let mut progressed = 0;
    let mut step = each_piece(sh, lane, &mut progressed);
    let mut hash = sh.verify.then(blake3::Hasher::new);
    let store = &sh.source.store;
    let got = fetch(store, &key, meta.size, |at, piece| {
        crate::engine::sftp::source::write_all_at(out, piece, at).map_err(CopyFail::Write)?;
        if let Some(h) = hash.as_mut() {
            h.update(piece);
        }
        step(piece.len() as u64)
    });
    drop(step);
    let got = match got {
        Ok(n) => n,
        Err(CopyFail::Cancelled) => return (Outcome::Cancelled, progressed),
        Err(CopyFail::Skipped) => return (Outcome::Skipped(SkipReason::ByUser), progressed),
        Err(CopyFail::Read(e)) => return (c.fail(dir, item, Op::Read, e, false).0, progressed),
        Err(CopyFail::Write(e) | CopyFail::Clone(e)) => {
            return (c.fail(dir, item, Op::Write, e, true).0, progressed);
        }
    };
    if got != meta.size {
        return c.changing(dir, item, progressed);
    }
    let new_gid = c.new_file_gid(dir, dir_fd);
    if let Err(failed) = c.seal((out, out), (dir, item, &meta), new_gid) {
        return (failed, progressed);
    }
    let put = new.commit(&item.name, replace);
    let outcome = c.put_in_place(put, (in_place.is_none(), Some(dir_fd)), (dir, item, &meta));
    if let (Outcome::Copied, Some(h)) = (&outcome, hash) {
        c.written = Some((*h.finalize().as_bytes(), meta));
    }
    (outcome, progressed)
}

/// The object `key` in one stream, handed to `each` piece by piece.
fn whole(
    store: &Store,
    key: &Key,
    mut each: impl FnMut(u64, &[u8]) -> Result<(), CopyFail>,
) -> Result<u64, CopyFail> {
    let failed = |e: object_store::Error| CopyFail::Read(std::io::Error::other(store.why(&e)));
    store.run(async {
        let got = store.s3.get_opts(key, GetOptions::default()).await;
        let mut body = got.map_err(failed)?.into_stream();
        let mut at = 0u64;
        while let Some(piece) = std::future::poll_fn(|cx| {
            futures_core::Stream::poll_next(std::pin::Pin::new(&mut body), cx)
        })
        .await
        {
            let piece = piece.map_err(failed)?;
            each(at, &piece)?;
            at += piece.len() as u64;
        }
        Ok(at)
    })
}

/// Ranges of a big object asked for at once: one stream of a big object
/// is slower than the disk here (`tests/bench/RESULTS.md`), as rclone's
/// four streams of one file found.
const RANGES_IN_FLIGHT: usize = 4;

/// The object `key` of `size` bytes, in ranges of [`PART`] asked for
/// several at once and handed to `each` in order (with their offset); the
/// ranges after the first must be of the version the first was (its ETag),
/// or the copy fails as changed. The bytes fetched.
fn fetch(
    store: &Arc<Store>,
    key: &Key,
    size: u64,
    mut each: impl FnMut(u64, &[u8]) -> Result<(), CopyFail>,
) -> Result<u64, CopyFail> {
    let failed = |e: object_store::Error| {
        CopyFail::Read(match e {
            object_store::Error::Precondition { .. } => {
                std::io::Error::other("the object changed while it was read")
            }
            e => std::io::Error::other(store.why(&e)),
        })
    };
    let range = |r: std::ops::Range<u64>, if_match: Option<String>| GetOptions {
        range: (size > 0).then_some(GetRange::Bounded(r)),
        if_match,
        ..GetOptions::default()
    };
    let first = store.run(async {
        let got = store
            .s3
            .get_opts(key, range(0..PART.min(size), None))
            .await?;
        let etag = got.meta.e_tag.clone();
        Ok((etag, got.bytes().await?))
    });
    let (etag, data) = match first {
        Ok(x) => x,
        // A store that answers a range with the whole object (rclone serve
        // s3 does) gets one stream.
        Err(e) if says(&e, "non-partial response") => {
            return whole(store, key, each);
        }
        Err(e) => return Err(failed(e)),
    };
    each(0, &data)?;
    let mut fetched = data.len() as u64;
    let mut rest = (PART..size)
        .step_by(PART as usize)
        .map(|a| a..(a + PART).min(size));
    let mut window: std::collections::VecDeque<(u64, JoinHandle<_>)> = Default::default();
    let stop = |window: &mut std::collections::VecDeque<(u64, JoinHandle<_>)>| {
        for (_, h) in window.drain(..) {
            h.abort();
        }
    };
    loop {
        while window.len() < RANGES_IN_FLIGHT {
            let Some(r) = rest.next() else { break };
            let (s, key, at) = (Arc::clone(store), key.clone(), r.start);
            let opts = range(r, etag.clone());
            let ask = store.spawn(async move {
                let _request = s.requests.acquire().await;
                s.s3.get_opts(&key, opts).await?.bytes().await
            });
            window.push_back((at, ask));
        }
        let Some((at, ask)) = window.pop_front() else {
            return Ok(fetched);
        };
        let data = match store.run(ask) {
            Ok(Ok(data)) => data,
            Ok(Err(e)) => {
                stop(&mut window);
                return Err(failed(e));
            }
            Err(e) => {
                stop(&mut window);
                return Err(CopyFail::Read(std::io::Error::other(e)));
            }
        };
        if let Err(f) = each(at, &data) {
            stop(&mut window);
            return Err(f);
        }
        fetched += data.len() as u64;
    }
}

/// An entry whose fate a person decided: written, over what is there if
/// `replace`.
pub(crate) fn copy_decided(
    c: &mut FromBucket<'_>,
    dir: BorrowedFd<'_>,
    node: &Arc<DirNode>,
    item: &Item,
    replace: bool,
) -> Done {
    file(c, Some(dir), node, item, replace, false)
}
