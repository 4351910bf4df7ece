//! The worker side: what a worker does with a job (`job`, `copier`): files in
//! batches (`files`), pieces of big files (`chunked`), links and special files
//! (`special`), a move's removal of sources (`moving`), the finish (`finish`),
//! answered conflicts (`resolver`) and a mirror's deletions (`mirror`); to
//! another machine over SFTP, files (`upload`) and the finish
//! (`upload_finish`); from another machine, files (`download`); into a
//! bucket, files and the finish (`to_bucket`); from one (`from_bucket`).
//! `pair` chooses between them
//! for each kind of destination.

pub(crate) mod chunked;
pub(crate) mod copier;
pub(crate) mod download;
pub(crate) mod files;
pub(crate) mod finish;
pub(crate) mod from_bucket;
pub(crate) mod job;
pub(crate) mod mirror;
pub(crate) mod moving;
pub(crate) mod pair;
pub(crate) mod resolver;
pub(crate) mod special;
pub(crate) mod to_bucket;
pub(crate) mod upload;
pub(crate) mod upload_finish;
