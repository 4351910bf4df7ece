//! convoy: a parallel folder copier. The engine walks, plans and copies and
//! reports everything as events; the batch reporter and the TUI consume them.
#![forbid(unsafe_code)]

pub mod batch;
pub mod cli;
pub mod config;
pub mod engine;
pub mod error;
pub mod event;
pub mod exit;
pub mod format;
mod json;
pub mod log;
pub mod paths;
pub mod progress;
mod retry;
mod sink;
pub mod summary;
pub mod tui;
