//! Reading files over SFTP, for a copy from a server and for reading a copy
//! back from one (`--verify`): a small file in one open and one read, many
//! files at once; a big one with many reads in flight at increasing offsets
//! (the client reads one request at a time per handle, so each read goes on a
//! clone of the handle placed at its own offset).

use std::collections::VecDeque;
use std::ffi::OsString;
use std::io;
use std::path::Path;
use std::sync::Arc;

use bytes::BytesMut;
use openssh_sftp_client::file::File;

use super::errors;
use super::session::Session;
use super::spread::Spread;
use crate::engine::data::bytes::CopyFail;

/// Bytes one read request asks for: OpenSSH's server answers up to 255 KiB.
const READ: u32 = 255 * 1024;

/// A small file read whole: its bytes.
pub(crate) type Read = io::Result<Vec<u8>>;

/// Reads the small files `files` of the folder `dir` whole, all at once (each
/// opened, read and closed; every file's requests in flight together, up to
/// the connection's count of files), each with the size expected of it (see
/// [`read_one`]). Their bytes, in order.
pub(crate) fn read_many(
    session: &Arc<Session>,
    dir: &Path,
    files: Vec<(OsString, u64)>,
) -> Vec<Read> {
    let tasks = files.into_iter().map(|(name, size)| {
        let (session, path) = (Arc::clone(session), dir.join(name));
        async move {
            let _slot = session.files.acquire().await;
            read_one(&session, &path, size).await
        }
    });
    session
        .all(tasks)
        .into_iter()
        .map(|r| {
            r.unwrap_or_else(|| Err(io::Error::other("the read's task failed")))
                .map_err(|e| session.lost_why(e))
        })
        .collect()
}

/// Reads the bytes of the open file `src` from `from` up to `size` in order,
/// many reads in flight (up to [`IN_FLIGHT`] bytes), each piece handed to
/// `each` (which stops the reading when it fails). Stops early where the
/// file is shorter now.
pub(crate) fn pipelined(
    session: &Session,
    src: &File,
    range: (u64, u64),
    each: impl FnMut(&[u8]) -> Result<(), CopyFail>,
) -> Result<(), CopyFail> {
    spread(&Spread::one(session, src), range, each)
}

/// [`pipelined`] with the reads spread over the connections of `over`.
pub(crate) fn spread(
    over: &Spread<'_>,
    (from, size): (u64, u64),
    mut each: impl FnMut(&[u8]) -> Result<(), CopyFail>,
) -> Result<(), CopyFail> {
    let mut asked = VecDeque::new();
    let mut next = from;
    let depth = over.depth(READ as usize);
    let mut i = 0;
    loop {
        while asked.len() < depth && next < size {
            let want = (size - next).min(u64::from(READ)) as u32;
            let ((on, mut f), at) = (over.of(i), next);
            let answer = on.spawn_answer(async move { read_at(&mut f, at, want).await });
            asked.push_back((on, want, answer));
            next += u64::from(want);
            i += 1;
        }
        let Some((on, want, first)) = asked.pop_front() else {
            return Ok(());
        };
        let data = over
            .main()
            .block_on(first)
            .map_err(|e| CopyFail::Read(over.why(on, e)))?;
        each(&data)?;
        // Short: the file ends here now (it shrank).
        if data.len() < want as usize {
            return Ok(());
        }
    }
}

/// Reads up to `want` bytes at `at`, more requests where the server answers
/// with less: what came back, short only at the end of the file.
async fn read_at(f: &mut File, at: u64, want: u32) -> io::Result<Vec<u8>> {
    use tokio::io::AsyncSeekExt;
    f.seek(io::SeekFrom::Start(at))
        .await
        .map_err(errors::from_writer)?;
    let mut got = Vec::with_capacity(want as usize);
    while got.len() < want as usize {
        let left = want - got.len() as u32;
        match f.read(left, BytesMut::with_capacity(left as usize)).await {
            Ok(Some(b)) if !b.is_empty() => got.extend_from_slice(&b),
            Ok(_) => break,
            Err(e) => return Err(errors::to_io(e)),
        }
    }
    Ok(got)
}

/// Opens and reads the file at `path`, which the walk saw `size` bytes long:
/// its bytes, up to one more than that (one read request for most small
/// files, its answer short at the end of the file). Closed without waiting
/// for the answer. Bytes of another length mean the file changed since the
/// walk: the caller reads it again the careful way.
pub(crate) async fn read_one(session: &Session, path: &Path, size: u64) -> io::Result<Vec<u8>> {
    let mut f = session.sftp().open(path).await.map_err(errors::to_io)?;
    let mut data = Vec::with_capacity(size as usize + 1);
    let read = loop {
        let left = size + 1 - data.len() as u64;
        let want = left.min(u64::from(READ)) as u32;
        match f.read(want, BytesMut::with_capacity(want as usize)).await {
            Ok(Some(b)) => {
                data.extend_from_slice(&b);
                if b.len() < want as usize || data.len() as u64 > size {
                    break Ok(());
                }
            }
            Ok(None) => break Ok(()),
            Err(e) => break Err(errors::to_io(e)),
        }
    };
    tokio::spawn(async move {
        let _ = f.close().await;
    });
    read.map(|()| data)
}

/// Where a partial `found` bytes long of a `size`-byte file continues: past
/// its last whole MiB when that MiB reads the same in the remote file
/// `remote` and the local one `local` (whichever of them is the partial),
/// else at 0 (SFTP tells no more cheaply: the last MiB stands for the rest,
/// as for a local partial).
pub(crate) fn resume_point(
    session: &Session,
    remote: &File,
    local: std::os::fd::BorrowedFd<'_>,
    (found, size): (u64, u64),
) -> io::Result<u64> {
    const STEP: u64 = 1024 * 1024;
    let keep = (found.min(size) / STEP) * STEP;
    if keep < STEP {
        return Ok(0);
    }
    let mut here = vec![0u8; STEP as usize];
    let n = crate::engine::os::sys::pread_full(local, &mut here, keep - STEP)?;
    let mut there = Vec::new();
    let read = pipelined(session, remote, (keep - STEP, keep), |d| {
        there.extend_from_slice(d);
        Ok(())
    });
    Ok(match read.is_ok() && n == STEP as usize && there == here {
        true => keep,
        false => 0,
    })
}
