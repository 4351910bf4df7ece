//! Another machine's folder over SFTP, through the system's OpenSSH (the
//! user's `~/.ssh/config`, agent, keys and known hosts all apply): the
//! connection (`session`: the ssh process, the client and the runtime that
//! drives it), what the server's answers mean as errno codes (`errors`) and
//! as metadata (`attrs`), the destination there (`dest`, with the folders it
//! made ahead of their answer: `pending`), the source there (`source`), reading files there (`reads`), its folders
//! for the TUI's form (`folders`), and
//! the folders' listings both keep for the walk, asked for ahead
//! (`listings`).

pub(crate) mod attrs;
pub(crate) mod dest;
pub(crate) mod errors;
pub mod folders;
pub(crate) mod listings;
pub(crate) mod pending;
pub(crate) mod reads;
pub(crate) mod session;
pub(crate) mod source;
pub(crate) mod spread;
