//! Whether a copy can be trusted: read back and compared (`verify`)
//! and on the device (`flush`).

pub(crate) mod flush;
pub(crate) mod verify;
