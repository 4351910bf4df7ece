//! A prefix in a bucket of an S3-compatible store, through object_store's
//! client (never a home-made one): the store and whose credentials open it
//! (`store`, with the AWS tools' files: `profile`), the destination there
//! (`dest`), the source there (`source`), its folders for the TUI's form
//! (`folders`), a file's metadata as object metadata the way rclone keeps it
//! (`meta`), and the record of multipart uploads a killed run left
//! (`uploads`).

pub(crate) mod dest;
pub mod folders;
pub(crate) mod meta;
pub(crate) mod profile;
pub(crate) mod source;
pub(crate) mod store;
pub(crate) mod uploads;
