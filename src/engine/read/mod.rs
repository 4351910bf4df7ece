//! The read side: the source, reached through folder handles (`source`).

pub(crate) mod source;
