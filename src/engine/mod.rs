//! The copy engine: a walker thread plans jobs into a bounded channel, a rayon
//! pool of long-lived worker loops copies them, and everything that happens is
//! sent as an [`Event`](crate::event::Event). Nothing here knows about
//! terminals; any consumer of the events (a progress line, a screen, a test)
//! steers a run through its [`Control`] handle.
//!
//! Data flows one way, and the folders are layered the same way (no folder
//! uses one above it: `tests/architecture.rs`): `run` starts the threads and
//! holds what they share (`shared`); the `walk` plans the tree into the units
//! of `plan` and queues them as jobs; `worker` loops hand each job to `copy`,
//! which reads through `read`, moves bytes along the `data` path, writes
//! through `write` (temporaries, staging, what the destination keeps), sets
//! `meta`data, checks with `trust` (verify, flush) and asks `control` what to
//! do with conflicts, pauses and limits. Beneath them all, `os` holds the
//! system calls on folder handles.

mod bucket;
mod control;
mod copy;
mod data;
mod meta;
mod os;
mod plan;
mod read;
mod run;
mod sftp;
mod shared;
mod trust;
mod walk;
mod worker;
mod write;

pub use bucket::folders::BucketLister;
pub use bucket::store::BucketError;
pub use control::handle::{Answer, Choice, Control};
pub use data::direct::page_cache_is_costly;
/// Which paths a run takes (`--exclude`), for the comparison to take the same.
pub(crate) use plan::filter::Filter as PathFilter;
pub use run::{Running, StartError, THREAD_PREFIX, start};
pub use sftp::folders::FolderLister;
pub use sftp::session::{ConnectError, Remote};
pub use write::resume::discard as discard_partial;
