//! The walker thread's work: streaming the source tree into jobs on the bounded
//! queue, ahead of the workers but never far (it blocks when the queue is full).
//! `tree` reads folders through handles and hands each entry to the `planner`,
//! which uses the pure `plan::filter` and `batching` and makes destination folders
//! with `make_dir`.

mod batching;
mod make_dir;
mod planner;
mod tree;

pub(crate) use tree::walk;
