//! The data path: moving bytes between two open files (`bytes`), with the
//! kernel's copy where the filesystems take it (`kernel_copy`) and past the page
//! cache for big files where filling it is costly (`direct`); two files read
//! side by side (`same_bytes`).

pub(crate) mod bytes;
pub(crate) mod direct;
pub(crate) mod kernel_copy;
pub(crate) mod same_bytes;
