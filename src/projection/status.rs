//! `chronicle status`'s view of the projections: each one's checkpoint and
//! last run, read without changing anything.

use std::collections::BTreeMap;

use serde::Serialize;

use super::config::{self, KindDef};
use super::{read_state, sink};
use crate::event::{format_millis, Millis};
use crate::store::{self, OpenMode};

/// One line of `chronicle status` per projection.
#[derive(Debug, Clone, Serialize)]
pub struct ProjectionStatus {
    pub name: String,
    pub kind: String,
    pub lag_ms: i64,
    pub checkpoint: Option<String>,
    /// Milliseconds from the checkpoint to now (the lag included).
    pub behind_ms: Option<i64>,
    pub last_run: Option<String>,
    pub last_run_at: Option<String>,
    pub last_run_events: Option<u64>,
    /// Why the state could not be read (bad definition, target down).
    pub error: Option<String>,
}

/// The state of every configured projection; problems are reported per
/// projection rather than failing the whole status.
pub fn statuses(
    projections: &BTreeMap<String, toml::Value>,
    store_uri: &str,
    now: Millis,
) -> Vec<ProjectionStatus> {
    projections
        .iter()
        .map(|(name, value)| {
            let mut status = ProjectionStatus {
                name: name.clone(),
                kind: value
                    .get("kind")
                    .and_then(|k| k.as_str())
                    .unwrap_or("?")
                    .to_string(),
                lag_ms: 0,
                checkpoint: None,
                behind_ms: None,
                last_run: None,
                last_run_at: None,
                last_run_events: None,
                error: None,
            };
            let state = config::find(projections, name).and_then(|def| {
                status.lag_ms = def.lag_ms;
                // status only reads: a target file that is not there yet
                // means "never run", and is not created by looking.
                match &def.kind {
                    KindDef::Table(config::TableDef { target, .. })
                    | KindDef::Latest(config::LatestDef { target, .. })
                        if sink::sqlite_file_missing(target) =>
                    {
                        Ok(None)
                    }
                    _ => read_state(&def, &|mode: OpenMode| store::open_with(store_uri, mode)),
                }
            });
            match state {
                Ok(Some(s)) => {
                    status.checkpoint = Some(format_millis(s.checkpoint));
                    status.behind_ms = Some(now - s.checkpoint);
                    status.last_run = Some(s.last_run);
                    status.last_run_at = Some(format_millis(s.last_run_at));
                    status.last_run_events = Some(s.last_run_events);
                }
                Ok(None) => {}
                Err(e) => status.error = Some(format!("{e:#}")),
            }
            status
        })
        .collect()
}
