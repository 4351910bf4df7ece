//! The copy engine: a walker thread plans jobs into a bounded channel, a rayon
//! pool of long-lived worker loops copies them, and everything that happens is
//! sent as an [`Event`](crate::event::Event). Nothing here knows about
//! terminals; any consumer of the events (a progress line, a screen, a test)
//! steers a run through its [`Control`] handle.
//!
//! Data flows one way through the files below: `run` starts the threads;
//! `walk` plans the tree into `job`s (folders as `node`s, staged per `stage`,
//! big files split by `chunked` when asked); `worker` loops hand each job to a
//! `copier` and `files` (or `chunked`), which read through `source`, decide
//! with `decide`, move bytes with `data`, write through `dest` (temporary names
//! from `temp_name`, leftovers removed by `sweep`) and set `meta`data; `ask`
//! parks conflicts for `resolver`; `finish` links second names and dates
//! folders from the walk's `plan`. A `--mirror` then deletes what the
//! source lacks (`mirror`, from what was `held` back), `--backup-dir`
//! keeping what is replaced or deleted (`backup`).

mod ask;
mod backlog;
mod backup;
mod beneath;
mod caps;
mod chunked;
mod control;
mod copier;
mod data;
mod decide;
mod dest;
mod direct;
mod files;
mod finish;
mod flush;
mod held;
mod item;
mod job;
mod kept;
mod kernel_copy;
mod limit;
mod meta;
mod mirror;
pub(crate) mod moving;
mod names;
mod node;
mod plan;
mod resolver;
mod resume;
mod run;
mod same_bytes;
mod shared;
mod source;
mod special;
mod stage;
mod sweep;
mod sys;
mod temp_entry;
mod temp_name;
mod verify;
mod walk;
mod worker;
mod xattrs;

pub use control::{Answer, Choice, Control};
pub use direct::page_cache_is_costly;
pub use resume::discard as discard_partial;
pub use run::{Running, StartError, THREAD_PREFIX, start};
/// Which paths a run takes (`--exclude`), for the comparison to take the same.
pub(crate) use walk::Filter as PathFilter;
