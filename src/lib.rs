//! convoy: a parallel folder copier. The engine walks, plans and copies and
//! reports everything as events; the batch reporter and the TUI consume them.
//!
//! As a library, [`CopyTree`] lays out a tree the way `convoy --batch` copies it
//! (exact, crash-safe, never outside the destination) and returns a
//! [`Summary`]: what other test suites use to set up fixtures.
//!
//! The items at the crate root are the library's API and follow semantic
//! versioning. The modules are the building blocks of the binary and of
//! convoy's own tests (the engine's event stream, the TUI's state): they are
//! public for those, hidden from these docs and may change in any release.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[doc(hidden)]
pub mod batch;
#[doc(hidden)]
pub mod cli;
mod compare;
#[doc(hidden)]
pub mod config;
mod copy;
#[doc(hidden)]
pub mod engine;
#[doc(hidden)]
pub mod error;
#[doc(hidden)]
pub mod event;
#[doc(hidden)]
pub mod exit;
#[doc(hidden)]
pub mod format;
mod json;
mod location;
#[doc(hidden)]
pub mod log;
#[doc(hidden)]
pub mod paths;
#[doc(hidden)]
pub mod progress;
mod retry;
mod sink;
#[doc(hidden)]
pub mod sources;
#[doc(hidden)]
pub mod summary;
#[cfg(feature = "tui")]
#[doc(hidden)]
pub mod tui;

pub use compare::{Compare, Comparison, Difference, Differs};
pub use config::{ConflictPolicy, Preserve, Reflink};
pub use copy::{CopyTree, Failure, Summary};
pub use engine::StartError;
pub use error::InputError;
pub use exit::ExitCode;
