//! chronicle: tooling for an append-only event store that is a company's
//! source of truth. The library holds all behaviour (mapping, sources,
//! stores, pipelines); the `chronicle` binary only parses arguments, resolves
//! settings and prints. See docs/architecture.md for the data flow.

pub mod archive;
pub mod bson_json;
pub mod cancel;
pub mod decimal;
pub mod diff;
pub mod draft;
pub mod dry_run;
pub mod duration;
pub mod event;
pub mod exit;
pub mod export;
pub mod fault;
pub mod import;
pub mod mapping;
pub mod progress;
pub mod projection;
pub mod redact;
pub mod settings;
pub mod source;
pub mod status;
pub mod store;
