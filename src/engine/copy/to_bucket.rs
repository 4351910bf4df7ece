//! Files into a bucket: the same rules as the local copy's (the conflict
//! check, a file that changed while read is read again, nothing half-written
//! under a final name), in S3's terms. A file goes as one object whose upload
//! either ends whole or leaves nothing; a small one is read whole and its
//! upload left in flight while the worker goes on with the next (a batch's
//! all at once), a big one goes in parts, several in flight. What a bucket
//! has no place for (symlinks, special files, names that are not text) is
//! said for each and makes the run exit 1.

use std::os::fd::AsFd;
use std::sync::Arc;

use bytes::Bytes;
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path as Key;
use object_store::{
    ObjectStore, ObjectStoreExt, PutMode, PutMultipartOptions, PutOptions, PutPayload,
};
use tokio::task::JoinHandle;

use super::copier::{Copier, Done, Verdict, as_it_stands, each_piece, read_at};
use super::job::Batch;
use crate::engine::bucket::dest::{BucketDest, Listing, refuses_conditions};
use crate::engine::bucket::store::{PART, Store, UNIT};
use crate::engine::bucket::{meta, uploads};
use crate::engine::data::bytes::CopyFail;
use crate::engine::meta::attrs::SrcMeta;
use crate::engine::os::sys;
use crate::engine::plan::item::{Item, ItemKind};
use crate::engine::plan::node::DirNode;
use crate::engine::read::Source;
use crate::engine::read::source::SourceRoot;
use crate::engine::write::Dest;
use crate::error::Op;
use crate::event::{Digest, Outcome, SkipReason, What, Why};

type ToBucket<'a> = Copier<'a, SourceRoot, BucketDest>;

/// An upload in flight, and what its answer needs to be reported.
struct InFlight<'i> {
    item: &'i Item,
    key: Key,
    data: Bytes,
    meta: SrcMeta,
    replace: bool,
    answer: JoinHandle<object_store::Result<()>>,
    digest: Option<Digest>,
}

pub(crate) fn batch(c: &mut ToBucket<'_>, b: Batch) {
    let Ok(dir) = c.open_batch_dir(&b.dir, &b.items) else {
        return;
    };
    let dir = dir.as_deref();
    let found = look(c, dir.filter(|_| !b.dir.fresh), &b.items);
    let mut flying: Vec<InFlight<'_>> = Vec::new();
    for item in &b.items {
        if c.sh.control.checkpoint().is_err() {
            break;
        }
        let done = match item.kind {
            ItemKind::File => {
                let there = found(item);
                match c.check_found(dir, &b.dir, item, there, |_, _| false) {
                    Verdict::Write { replace } => match dir.filter(|_| !c.sh.dry_run) {
                        Some(d) if item.meta.size < PART => {
                            match start_small(c, d, &b.dir, item, replace) {
                                Ok(f) => {
                                    flying.push(f);
                                    None
                                }
                                Err(done) => Some(done),
                            }
                        }
                        Some(d) => Some(file(c, d, &b.dir, item, replace)),
                        None => Some((Outcome::Copied, 0)),
                    },
                    Verdict::Done(done) => Some(done),
                    Verdict::Parked => None,
                }
            }
            ItemKind::Symlink => Some(not_held(c, &b.dir, item, "symlinks")),
            ItemKind::Special => Some(not_held(c, &b.dir, item, "special files")),
        };
        if let Some(done) = done {
            report(c, &b.dir, item, done);
        }
    }
    for f in flying {
        let done = landed(c, &b.dir, f);
        report(c, &b.dir, done.0, done.1);
    }
}

/// What the folder `dir` holds of the batch's names, for the conflict
/// check: one listing, then a look at each object there of a name of the
/// batch, all at once: its own time is in its metadata (a listing's is the
/// upload's, and `--on-conflict newer` compares times).
fn look<'i>(
    c: &ToBucket<'_>,
    dir: Option<&str>,
    items: &'i [Item],
) -> impl Fn(&Item) -> std::io::Result<Option<SrcMeta>> + use<'i> {
    let root = c.sh.root.as_ref();
    let listed: Option<std::io::Result<Listing>> = match (root, dir) {
        (Some(r), Some(d)) => Some(r.list(d)),
        _ => None,
    };
    let mut looked: std::collections::HashMap<String, std::io::Result<Option<SrcMeta>>> =
        Default::default();
    if let (Some(r), Some(d), Some(Ok(listing))) = (root, dir, &listed) {
        let asks: Vec<_> = items
            .iter()
            .filter_map(|i| {
                let name = i.name.to_str()?;
                listing.contains_key(name).then_some(name)
            })
            .filter_map(|name| {
                let key = BucketDest::key(d, std::ffi::OsStr::new(name)).ok()?;
                let store = Arc::clone(&r.store);
                let ask = r
                    .store
                    .spawn(async move { BucketDest::head(&store, &key).await });
                Some((name.to_string(), ask))
            })
            .collect();
        for (name, ask) in asks {
            let answer = match r.store.run(ask) {
                Ok(Ok(m)) => Ok(m),
                Ok(Err(e)) => Err(r.io_error(&e)),
                Err(e) => Err(std::io::Error::other(e)),
            };
            looked.insert(name, answer);
        }
    }
    let listing = listed.map(|l| l.map_err(|e| crate::error::clone_io(&e)));
    move |item: &Item| {
        let Some(listing) = &listing else {
            return Ok(None);
        };
        let listing = listing.as_ref().map_err(crate::error::clone_io)?;
        let Some(name) = item.name.to_str() else {
            return Ok(None);
        };
        match looked.get(name) {
            Some(answer) => answer.as_ref().map(|m| *m).map_err(crate::error::clone_io),
            None => Ok(listing.get(name).copied()),
        }
    }
}

/// An entry a bucket has no place for: said with its reason, counted as not
/// copied (the run exits 1), the rest going on.
fn not_held(c: &ToBucket<'_>, dir: &Arc<DirNode>, item: &Item, what: &str) -> Done {
    let why = std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        format!("a bucket has no place for {what}: not copied"),
    );
    c.fail(dir, item, Op::Create, why, false)
}

/// Reads a small file and starts its upload.
fn start_small<'i>(
    c: &mut ToBucket<'_>,
    dir: &str,
    node: &Arc<DirNode>,
    item: &'i Item,
    replace: bool,
) -> Result<InFlight<'i>, Done> {
    let key =
        BucketDest::key(dir, &item.name).map_err(|e| c.fail(node, item, Op::Name, e, true))?;
    let (data, meta) = match c.read_whole(node, item) {
        Ok(x) => x,
        Err(Some(done)) => return Err(done),
        Err(None) => return Err(file(c, dir, node, item, replace)),
    };
    if c.sh.control.throttle(meta.size).is_err() {
        return Err((Outcome::Cancelled, 0));
    }
    let digest = c.sh.verify.then(|| *blake3::hash(&data).as_bytes());
    let data = Bytes::from(data);
    let root = c.sh.root();
    let answer = put(root, &key, data.clone(), &meta, replace, c.sh.meta.owner);
    Ok(InFlight {
        item,
        key,
        data,
        meta,
        replace,
        answer,
        digest,
    })
}

/// Starts the upload of `data` as the object `key`: conditional (nothing
/// may be there) unless it `replace`s or the store takes no conditions.
fn put(
    root: &BucketDest,
    key: &Key,
    data: Bytes,
    meta: &SrcMeta,
    replace: bool,
    owner: bool,
) -> JoinHandle<object_store::Result<()>> {
    let store = &root.store;
    let opts = PutOptions {
        mode: match replace || !root.conditional() {
            true => PutMode::Overwrite,
            false => PutMode::Create,
        },
        attributes: meta::attributes(meta, owner),
        ..PutOptions::default()
    };
    let units = units(data.len());
    let budget = Arc::clone(&store.bytes);
    let requests = Arc::clone(&store.requests);
    let (s3, key) = (Arc::clone(&store.s3), key.clone());
    store.spawn(async move {
        let _bytes = budget.acquire_many_owned(units).await;
        let _request = requests.acquire_owned().await;
        s3.put_opts(&key, PutPayload::from(data), opts)
            .await
            .map(|_| ())
    })
}

fn units(len: usize) -> u32 {
    len.div_ceil(UNIT).max(1) as u32
}

/// The answer to an upload in flight, as the entry's outcome.
fn landed<'i>(c: &mut ToBucket<'_>, node: &Arc<DirNode>, f: InFlight<'i>) -> (&'i Item, Done) {
    let root = c.sh.root();
    let mut answer = root.store.run(f.answer).map_err(std::io::Error::other);
    // A store that takes no conditions is asked plainly, once the listing
    // said the name was free; and so for the rest of the run.
    if let Ok(Err(e)) = &answer
        && refuses_conditions(e)
        && !f.replace
    {
        root.unconditional
            .store(true, std::sync::atomic::Ordering::Relaxed);
        let again = put(root, &f.key, f.data, &f.meta, true, c.sh.meta.owner);
        answer = root.store.run(again).map_err(std::io::Error::other);
    }
    let done = match answer {
        Ok(Ok(())) => {
            if let Some(d) = f.digest {
                c.written = Some((d, f.meta));
            }
            (Outcome::Copied, 0)
        }
        Ok(Err(object_store::Error::AlreadyExists { .. })) => {
            (Outcome::Skipped(SkipReason::Conflict), 0)
        }
        Ok(Err(e)) => {
            let e = root.io_error(&e);
            c.fail(node, f.item, Op::Write, e, true)
        }
        Err(e) => c.fail(node, f.item, Op::Write, e, true),
    };
    (f.item, done)
}

/// A file uploaded on its own: a big one in parts with its progress on the
/// lane, or a small one that changed while it was read. Read again while
/// it changes.
pub(crate) fn file(
    c: &mut ToBucket<'_>,
    dir: &str,
    node: &Arc<DirNode>,
    item: &Item,
    replace: bool,
) -> Done {
    as_it_stands(|| send_file(c, dir, node, item, replace))
}

fn send_file(
    c: &mut ToBucket<'_>,
    dir: &str,
    node: &Arc<DirNode>,
    item: &Item,
    replace: bool,
) -> Done {
    let key = match BucketDest::key(dir, &item.name) {
        Ok(k) => k,
        Err(e) => return c.fail(node, item, Op::Name, e, true),
    };
    let opened = c.source_dir(node).and_then(|d| {
        c.sh.source
            .open_file(d.as_fd(), item.source_name(), &item.meta, false)
    });
    let (src, meta, _) = match opened {
        Ok(x) => x,
        Err(e) => return c.fail(node, item, Op::Open, e, false),
    };
    let sh = c.sh;
    let root = sh.root();
    let store = &root.store;
    let opts = PutMultipartOptions {
        attributes: meta::attributes(&meta, sh.meta.owner),
        ..PutMultipartOptions::default()
    };
    let id = match store.run(store.s3.create_multipart_opts(&key, opts)) {
        Ok(id) => id,
        Err(e) => return c.fail(node, item, Op::Create, root.io_error(&e), true),
    };
    // Recorded until it ends, so that a run killed meanwhile has its
    // parts aborted by the next (they cost storage until then).
    let upload = uploads::Upload::started(store, &key, &id);
    let lane = c.lane_for(node, item, meta.size);
    let mut progressed = 0;
    let mut step = each_piece(sh, lane, &mut progressed);
    let mut hash = sh.verify.then(blake3::Hasher::new);
    let mut parts: Vec<JoinHandle<object_store::Result<PartId>>> = Vec::new();
    let mut at = 0u64;
    let read = loop {
        let len = PART.min(meta.size - at) as usize;
        if len == 0 && at > 0 {
            break Ok(());
        }
        let mut buf = vec![0u8; len];
        if let Err(e) = read_at(src.as_fd(), &mut buf, at) {
            break Err(CopyFail::Read(e));
        }
        if let Some(h) = hash.as_mut() {
            h.update(&buf);
        }
        let budget = Arc::clone(&store.bytes);
        let requests = Arc::clone(&store.requests);
        let (s3, key, id, index) = (Arc::clone(&store.s3), key.clone(), id.clone(), parts.len());
        let units = units(len);
        let data = PutPayload::from(Bytes::from(buf));
        // The budget is taken here, so that reading waits for the parts in
        // flight: memory stays within it however fast the disk is.
        let bytes = store.run(budget.acquire_many_owned(units));
        parts.push(store.spawn(async move {
            let _bytes = bytes;
            let _request = requests.acquire_owned().await;
            s3.put_part(&key, &id, index, data).await
        }));
        at += len as u64;
        if let Err(f) = step(len as u64) {
            break Err(f);
        }
        if at >= meta.size {
            break Ok(());
        }
    };
    drop(step);
    let mut ids = Vec::with_capacity(parts.len());
    let mut failed = None;
    for part in parts {
        match store.run(part) {
            Ok(Ok(p)) => ids.push(p),
            Ok(Err(e)) => failed = failed.or(Some(root.io_error(&e))),
            Err(e) => failed = failed.or(Some(std::io::Error::other(e))),
        }
    }
    let fail_here = |c: &mut ToBucket<'_>, op, e, dest_side| {
        upload.abort(store);
        (c.fail(node, item, op, e, dest_side).0, progressed)
    };
    match read {
        Ok(()) => {}
        Err(CopyFail::Cancelled) => {
            upload.abort(store);
            return (Outcome::Cancelled, progressed);
        }
        Err(CopyFail::Skipped) => {
            upload.abort(store);
            return (Outcome::Skipped(SkipReason::ByUser), progressed);
        }
        Err(CopyFail::Read(e)) => return fail_here(c, Op::Read, e, false),
        Err(CopyFail::Write(e) | CopyFail::Clone(e)) => return fail_here(c, Op::Write, e, true),
    }
    if let Some(e) = failed {
        return fail_here(c, Op::Write, e, true);
    }
    // What was sent must be the file as it stood through the read.
    match sys::fstat(src.as_fd()) {
        Ok(now) if meta.changed_since(&SrcMeta::from(&now)) => {
            upload.abort(store);
            return c.changing(node, item, progressed);
        }
        Ok(_) => {}
        Err(e) => return fail_here(c, Op::Stat, e.into(), false),
    }
    // The name is looked at again just before the object appears under it:
    // the completion itself cannot be made conditional through the client.
    if !replace {
        match store.run(BucketDest::head(store, &key)) {
            Ok(None) => {}
            Ok(Some(_)) => {
                upload.abort(store);
                return (Outcome::Skipped(SkipReason::Conflict), progressed);
            }
            Err(e) => return fail_here(c, Op::Stat, root.io_error(&e), true),
        }
    }
    match store.run(store.s3.complete_multipart(&key, &id, ids)) {
        Ok(_) => upload.ended(),
        Err(e) => return fail_here(c, Op::Write, root.io_error(&e), true),
    }
    if let Some(h) = hash {
        c.written = Some((*h.finalize().as_bytes(), meta));
    }
    (Outcome::Copied, progressed)
}

/// Reports an entry; under `--verify` a copied file is read back first and
/// its BLAKE3 compared with the source's as it was read.
pub(crate) fn report(c: &mut ToBucket<'_>, dir: &Arc<DirNode>, item: &Item, done: Done) {
    let (done, digest) = match (done, c.written.take()) {
        ((Outcome::Copied, p), Some((sent, _))) => match read_back(c, dir, item) {
            Ok(back) if back == sent => ((Outcome::Copied, p), Some(sent)),
            Ok(_) => {
                let why = std::io::Error::other("the object reads back differently");
                (c.fail(dir, item, Op::Verify, why, true), None)
            }
            Err(e) => {
                let why = std::io::Error::other(format!("cannot read it back ({e})"));
                (c.fail(dir, item, Op::Verify, why, true), None)
            }
        },
        (done, _) => (done, None),
    };
    if let (Outcome::Failed(e), _) = &done {
        c.stop_if_fatal(e);
    }
    c.send_entry(dir, item, done, digest);
}

/// The BLAKE3 of the object `item` became, read from the store.
fn read_back(c: &ToBucket<'_>, dir: &Arc<DirNode>, item: &Item) -> std::io::Result<Digest> {
    let root = c.sh.root();
    let prefix = root.open_node(dir)?;
    let key = BucketDest::key(&prefix, &item.name)?;
    let store: &Store = &root.store;
    let got = store.run(async {
        let got = store.s3.get(&key).await?;
        got.bytes().await
    });
    let data = got.map_err(|e| root.io_error(&e))?;
    Ok(*blake3::hash(&data).as_bytes())
}

/// Writes an entry whose fate a person decided.
pub(crate) fn copy_decided(
    c: &mut ToBucket<'_>,
    dir: &str,
    node: &Arc<DirNode>,
    item: &Item,
    replace: bool,
) -> Done {
    match item.kind {
        ItemKind::File => file(c, dir, node, item, replace),
        ItemKind::Symlink => not_held(c, node, item, "symlinks"),
        ItemKind::Special => not_held(c, node, item, "special files"),
    }
}

/// The end of a copy into a bucket, after the workers: second names of
/// hard-linked files as objects of their own (said once). Folders keep no
/// metadata of their own there, and an empty one leaves no trace (said
/// once): object_store's keys cannot end in `/`, as rclone's folder
/// markers do.
pub(crate) fn finish(
    sh: &crate::engine::shared::Shared<SourceRoot, BucketDest>,
    planned: crate::engine::plan::deferred::Planned,
) {
    if !sh.control.is_cancelled() {
        for link in &planned.links {
            let outcome = match sh.dry_run {
                true => Outcome::Copied,
                false => second_name(sh, link),
            };
            sh.link_done(link, outcome);
        }
    }
    for (dir, _) in &planned.dirs {
        if !dir.is_root() && !sh.control.is_cancelled() && is_empty(sh, dir) {
            sh.kept.add(What::EmptyFolders, Why::Unsupported);
        }
        sh.folder_done(dir, Outcome::Copied);
    }
    sh.say_counted();
}

fn second_name(
    sh: &crate::engine::shared::Shared<SourceRoot, BucketDest>,
    link: &crate::engine::plan::deferred::DeferredLink,
) -> Outcome {
    let policy = match sh.policy {
        crate::config::ConflictPolicy::Ask => crate::config::ConflictPolicy::Skip,
        p => p,
    };
    let ldir = &link.link.0;
    let prefix = match sh.root().open_node(ldir) {
        Ok(p) => p,
        Err(e) => {
            let at = sh.root().display(&ldir.rel).join(&link.link.1);
            return Outcome::Failed(crate::error::CopyError::new(at, Op::Name, e));
        }
    };
    super::finish::separate_copy(sh, link, &prefix, policy, |c, item, replace| {
        let done = file(c, &prefix, ldir, item, replace);
        if let Some((sent, _)) = c.written.take() {
            return match read_back(c, ldir, item) {
                Ok(back) if back == sent => done.0,
                _ => {
                    let why = std::io::Error::other("the object reads back differently");
                    c.fail(ldir, item, Op::Verify, why, true).0
                }
            };
        }
        done.0
    })
}

/// Whether the source folder of `dir` holds nothing.
fn is_empty(sh: &crate::engine::shared::Shared<SourceRoot, BucketDest>, dir: &DirNode) -> bool {
    let mut empty = true;
    let listed = sh.source.open_dir(&dir.rel).and_then(|d| {
        sh.source.list(SourceRoot::dir(&d), |_, _, _| {
            empty = false;
            false
        })
    });
    listed.is_ok() && empty
}
