//! The local system's calls, each taking folder handles (`sys`), and resolving
//! a relative path beneath a root without leaving it (`beneath`).

pub(crate) mod beneath;
pub(crate) mod sys;
