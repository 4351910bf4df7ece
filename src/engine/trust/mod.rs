//! Whether a copy can be trusted: read back and compared (`verify`, `same_bytes`)
//! and on the device (`flush`).

pub(crate) mod flush;
pub(crate) mod same_bytes;
pub(crate) mod verify;
