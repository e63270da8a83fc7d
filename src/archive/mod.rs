//! The archive: old partitions of the live store moved to Parquet files
//! (see docs/archive.md for the layout, the procedure and why it is safe to
//! kill at any step), checked by `verify` and streamed back by `replay`.

pub mod layout;
pub mod manifest;
pub mod parquet;
pub mod read;
