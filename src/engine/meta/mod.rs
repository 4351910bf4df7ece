//! What an entry carries besides its bytes: its attributes as the walk saw them
//! and setting them on a copy (`attrs`), extended attributes and ACLs (`xattrs`),
//! and the tally of what a destination could not keep (`kept`).

pub(crate) mod attrs;
pub(crate) mod kept;
pub(crate) mod xattrs;
