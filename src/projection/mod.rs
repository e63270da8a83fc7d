//! Projections: read models and reports built from events (see
//! docs/projections.md). `rebuild` recomputes one from every event received
//! before the stable time (now minus lag), from the archive and the live
//! store merged; `project` applies the events received in
//! [checkpoint, stable) and moves the checkpoint. This module sets up a run
//! (lock, checkpoint, window, archive boundary) and reports it; the
//! [`driver`] streams the window into a [`driver::Kind`] (`table`, `latest`,
//! `exec`, see [`kinds`]), which only sees one event at a time, in
//! (received_at, id) order.

pub mod boundary;
pub mod config;
mod direct;
pub mod driver;
pub mod emit_sql;
pub mod exec;
pub mod expr;
pub mod json;
pub mod kinds;
pub mod latest;
pub mod memo;
pub mod money;
pub mod sink;
pub mod source;
pub mod status;
pub mod table;
pub mod types;

use crate::archive::location::Archive;
use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;

use self::boundary::{Boundary, Prefer};
use self::config::{KindDef, ProjectionDef};
use self::driver::{run_kind, Sources, Stats, StoreOpener};
use self::kinds::{DryRun, ExecKind, LatestKind, RunCtx, TableKind};
use self::sink::ProjectionState;
use self::types::TypeIndex;
use crate::cancel::{self, Stop};
use crate::event::{format_millis, Millis};
use crate::fault::fault;
use crate::progress::{Progress, Unit};
use crate::redact::redact_uri;
use crate::store::lock::{holder_label, StoreLock};
use crate::store::{OpenMode, ScanFilter, Store};

pub use self::status::{statuses, ProjectionStatus};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Rebuild,
    Project,
}

impl RunReport {
    pub fn mode_name(&self) -> &'static str {
        self.mode.name()
    }
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Rebuild => "rebuild",
            Mode::Project => "project",
        }
    }
}

#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The archive folder; read when it exists.
    pub archive: Option<Archive>,
    /// The clock, fixed by the caller so that a run has one stable time.
    pub now: Millis,
    pub dry_run: bool,
    /// Which version counts for an id both live and archived with
    /// different content; `None` stops the run (see [`boundary`]).
    pub prefer: Option<Prefer>,
}

/// What one run did, for the summary and `--json`.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub projection: String,
    pub kind: String,
    pub mode: Mode,
    pub dry_run: bool,
    pub target: String,
    /// Start of the window read (inclusive); `None` = from the beginning.
    pub since: Option<String>,
    /// The stable time: end of the window (exclusive), the new checkpoint.
    pub until: String,
    /// True when the checkpoint was already at the stable time.
    pub up_to_date: bool,
    pub events: u64,
    pub from_archive: u64,
    pub from_live: u64,
    /// Events found both archived and live, passed on once.
    pub in_both: u64,
    /// Of those, ids whose live and archived versions differ, settled by
    /// `--prefer`.
    pub in_both_differing: u64,
    pub per_type: BTreeMap<String, u64>,
    /// Rows inserted or updated (for `latest`, one upsert per event).
    pub rows_written: u64,
    /// `latest` only: events without `meta.aggregate_id`, which have no row.
    pub without_aggregate: u64,
    /// `latest` only: the rows the table holds after the run, one per
    /// aggregate; `None` for other kinds and dry runs.
    pub table_rows: Option<u64>,
    /// Events that changed the projection (for `latest`, those with an
    /// aggregate id).
    pub events_applied: u64,
    pub elapsed_s: f64,
    pub events_per_s: f64,
}

/// Takes `projection:NAME` in the store for the duration of a run.
fn take_lock(
    stores: StoreOpener<'_>,
    def: &ProjectionDef,
    mode: Mode,
) -> anyhow::Result<StoreLock> {
    StoreLock::acquire(
        stores(OpenMode::Existing)?,
        &store_checkpoint_name(&def.name),
        &holder_label(&format!("{} {}", mode.name(), def.name)),
        &format!("projection {}", def.name),
    )
}

/// The checkpoint of a projection, wherever its kind keeps it.
pub fn read_state(
    def: &ProjectionDef,
    stores: StoreOpener<'_>,
) -> anyhow::Result<Option<ProjectionState>> {
    match &def.kind {
        KindDef::Table(t) => sink::read_state(sink::open(&t.target)?.as_mut(), &def.name),
        KindDef::Latest(l) => sink::read_state(sink::open(&l.target)?.as_mut(), &def.name),
        KindDef::Exec(_) => read_store_state(stores(OpenMode::ReadOnly)?.as_mut(), &def.name),
    }
}

fn store_checkpoint_name(name: &str) -> String {
    format!("projection:{name}")
}

fn read_store_state(store: &mut dyn Store, name: &str) -> anyhow::Result<Option<ProjectionState>> {
    match store.checkpoint(&store_checkpoint_name(name))? {
        Some(text) => Ok(Some(serde_json::from_str(&text).map_err(|e| {
            anyhow::anyhow!("checkpoint of projection {name} in the store is damaged ({e})")
        })?)),
        None => Ok(None),
    }
}

/// Runs `rebuild` or `project` for one projection; `stores` opens the
/// store's connections (see [`StoreOpener`]).
pub fn run(
    def: &ProjectionDef,
    mode: Mode,
    options: &RunOptions,
    stores: StoreOpener<'_>,
    progress: &dyn Progress,
) -> anyhow::Result<RunReport> {
    let started = Instant::now();
    let stable = options.now - def.lag_ms;
    let target_name = match &def.kind {
        KindDef::Table(t) => format!("{} table {}", redact_uri(&t.target), t.table),
        KindDef::Latest(l) => format!("{} table {}", redact_uri(&l.target), l.table),
        KindDef::Exec(e) => crate::redact::redact_text(&e.command.join(" ")),
    };
    let mut lock = if options.dry_run {
        None
    } else {
        Some(take_lock(stores, def, mode)?)
    };
    fault("after-lock");
    let previous = match mode {
        Mode::Rebuild => None,
        Mode::Project => read_state(def, stores)?,
    };
    let since = previous.as_ref().map(|s| s.checkpoint);
    let mut report = RunReport {
        projection: def.name.clone(),
        kind: def.kind.name().to_string(),
        mode,
        dry_run: options.dry_run,
        target: target_name,
        since: since.map(format_millis),
        until: format_millis(stable),
        up_to_date: false,
        events: 0,
        from_archive: 0,
        from_live: 0,
        in_both: 0,
        in_both_differing: 0,
        per_type: BTreeMap::new(),
        rows_written: 0,
        without_aggregate: 0,
        table_rows: None,
        events_applied: 0,
        elapsed_s: 0.0,
        events_per_s: 0.0,
    };
    if since.is_some_and(|s| s >= stable) {
        report.up_to_date = true;
        return Ok(report);
    }
    let filter = ScanFilter {
        types: def.types.clone(),
        since,
        until: Some(stable),
    };
    let types = Arc::new(TypeIndex::new(def.types.clone()));
    let boundary = Arc::new(Boundary::resolve(
        options.archive.as_ref(),
        stores(OpenMode::ReadOnly)?.as_mut(),
        &filter,
        options.prefer,
    )?);
    let state = ProjectionState {
        checkpoint: stable,
        last_run_at: options.now,
        last_run: mode.name().to_string(),
        last_run_events: 0,
    };
    let sources = Sources {
        stores,
        archive: options.archive.as_ref(),
        boundary: Arc::clone(&boundary),
        types: Arc::clone(&types),
        progress,
        seen: AtomicU64::new(0),
        stop: Stop::new(),
    };
    progress.start(&format!("{} {}", mode.name(), def.name), None, Unit::Events);
    let mut stats = Stats::new(def.types.len());
    let ctx = RunCtx {
        name: &def.name,
        mode,
        since,
        until: stable,
        types: &types,
    };
    let lock = lock.as_mut();
    let stats_ref = &mut stats;
    let outcome = if options.dry_run {
        run_kind(DryRun, &sources, &filter, stats_ref, lock, state)
    } else {
        match &def.kind {
            KindDef::Table(t) => TableKind::open(&ctx, t)
                .and_then(|k| run_kind(k, &sources, &filter, stats_ref, lock, state)),
            KindDef::Latest(l) => LatestKind::open(&ctx, l)
                .and_then(|k| run_kind(k, &sources, &filter, stats_ref, lock, state)),
            KindDef::Exec(e) => ExecKind::open(&ctx, e, stores)
                .and_then(|k| run_kind(k, &sources, &filter, stats_ref, lock, state)),
        }
    };
    progress.set_position(stats.events);
    progress.finish();
    let written = outcome.map_err(|e| match cancel::interruption(&e) {
        Some(_) => e.context(format!(
            "{} {} stopped after {} events: nothing was committed and the checkpoint did not move (a run is one transaction); run it again",
            mode.name(),
            def.name,
            stats.events
        )),
        None => e,
    })?;
    report.rows_written = written.rows;
    report.without_aggregate = written.without_aggregate;
    report.table_rows = written.table_rows;
    report.events = stats.events;
    report.events_applied = stats.events - written.without_aggregate;
    report.from_archive = stats.from_archive;
    report.from_live = stats.from_live;
    report.in_both = stats.in_both + boundary.identical + boundary.differing;
    report.in_both_differing = boundary.differing;
    let elapsed = started.elapsed().as_secs_f64();
    for (t, n) in def.types.iter().zip(&stats.per_type) {
        report.per_type.insert(t.clone(), *n);
    }
    report.elapsed_s = (elapsed * 1000.0).round() / 1000.0;
    report.events_per_s = if elapsed > 0.0 {
        report.events as f64 / elapsed
    } else {
        0.0
    };
    Ok(report)
}
