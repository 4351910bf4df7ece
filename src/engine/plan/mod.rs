//! What the walk plans, before any worker touches it: one entry (`item`), its
//! folder (`node`, placed once complete per `stage`), what waits for the finish
//! (`deferred`: folder times, second names of hard links), which paths the run
//! takes (`filter`) and how far the walker may lead (`backlog`).

pub(crate) mod backlog;
pub(crate) mod deferred;
pub(crate) mod filter;
pub(crate) mod item;
pub(crate) mod node;
pub(crate) mod stage;
