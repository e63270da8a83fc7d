//! `replay`: streams archived events back into a store in (received_at, id)
//! order. Appends are idempotent by id, so replaying twice inserts nothing
//! the second time, and an event whose id is stored with other content is
//! counted and reported as a conflict, never overwritten.
//!
//! A reader thread decodes Parquet while the calling thread appends, as in
//! the import pipeline (a failure on either ends both, an interrupt stops
//! at the next batch with what was appended committed); every file's SHA-256 is checked against its manifest
//! before its rows are used (see [`super::read`]).

use std::time::Instant;

use serde::Serialize;

use super::location::Archive;
use super::read::{archived_counts, archived_events};
use crate::cancel::{self, Interrupted, Stop};
use crate::progress::{Progress, Unit};
use crate::store::{write_failed, AppendOutcome, ScanFilter, Store};

/// Events per `append` call (the store groups calls into transactions).
pub const REPLAY_BATCH: usize = 10_000;

#[derive(Debug, Clone)]
pub struct ReplayOptions {
    pub root: Archive,
    pub filter: ScanFilter,
    pub batch_size: usize,
}

impl ReplayOptions {
    pub fn new(root: Archive, filter: ScanFilter) -> ReplayOptions {
        ReplayOptions {
            root,
            filter,
            batch_size: REPLAY_BATCH,
        }
    }
}

/// An archived event whose id the store holds with other content.
#[derive(Debug, Clone, Serialize)]
pub struct ReplayConflict {
    pub id: String,
    pub stored: String,
    pub archived: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ReplayReport {
    pub archive: String,
    pub store: String,
    pub read: u64,
    pub inserted: u64,
    pub duplicates: u64,
    pub conflicts: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub conflict_samples: Vec<ReplayConflict>,
    pub elapsed_s: f64,
    pub events_per_s: f64,
    /// Set when a signal stopped the replay; the counts were committed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interrupted: Option<Interrupted>,
}

const CONFLICT_SAMPLES: usize = 100;

pub fn replay(
    store: &mut dyn Store,
    options: &ReplayOptions,
    progress: &dyn Progress,
) -> anyhow::Result<ReplayReport> {
    let started = Instant::now();
    anyhow::ensure!(
        options.root.exists()?,
        "archive folder {} does not exist",
        options.root
    );
    let total: u64 = archived_counts(&options.root, &options.filter)?
        .iter()
        .map(|c| c.count)
        .sum();
    let mut report = ReplayReport {
        archive: options.root.to_string(),
        store: store.describe(),
        ..Default::default()
    };
    progress.start("replaying", Some(total), Unit::Events);
    let events = archived_events(&options.root, &options.filter)?;
    let batch_size = options.batch_size.max(1);
    let batches = cancel::spawn_feed("archive reader", 2, &Stop::new(), move |feed| {
        let mut batch = Vec::with_capacity(batch_size);
        for event in events {
            batch.push(event?);
            if batch.len() == batch_size {
                let full = std::mem::replace(&mut batch, Vec::with_capacity(batch_size));
                if feed.send(full).is_err() {
                    return Ok(());
                }
            }
        }
        if !batch.is_empty() {
            let _ = feed.send(batch);
        }
        Ok(())
    });
    let mut result = (|| -> anyhow::Result<()> {
        // `batches` moves in here: returning early drops it, which stops the
        // reader at its next send.
        for batch in batches {
            let batch = batch?;
            let outcomes = store.append(&batch).map_err(|e| write_failed(store, e))?;
            for (event, outcome) in batch.iter().zip(outcomes) {
                match outcome {
                    AppendOutcome::Inserted => report.inserted += 1,
                    AppendOutcome::Duplicate => report.duplicates += 1,
                    AppendOutcome::Conflict { stored } => {
                        report.conflicts += 1;
                        if report.conflict_samples.len() < CONFLICT_SAMPLES {
                            report.conflict_samples.push(ReplayConflict {
                                id: event.id.to_string(),
                                stored: stored.to_json_line(),
                                archived: event.to_json_line(),
                            });
                        }
                    }
                    // The store records this id as archived with other
                    // content: the archive holds two versions of it (e.g.
                    // replayed from another archive folder). The stored
                    // record is kept; the recorded version is in `partition`.
                    AppendOutcome::ArchivedConflict { partition } => {
                        report.conflicts += 1;
                        if report.conflict_samples.len() < CONFLICT_SAMPLES {
                            report.conflict_samples.push(ReplayConflict {
                                id: event.id.to_string(),
                                stored: format!("(archived in partition {partition})"),
                                archived: event.to_json_line(),
                            });
                        }
                    }
                }
            }
            report.read += batch.len() as u64;
            progress.set_position(report.read);
        }
        Ok(())
    })();
    // An interrupt keeps what was appended: it is committed like an end.
    report.interrupted = result.as_ref().err().and_then(cancel::interruption);
    if report.interrupted.is_some() {
        result = Ok(());
    }
    let result = result.and_then(|()| store.flush().map_err(|e| write_failed(store, e)));
    progress.finish();
    result?;
    let elapsed = started.elapsed().as_secs_f64();
    report.elapsed_s = (elapsed * 1000.0).round() / 1000.0;
    report.events_per_s = if elapsed > 0.0 {
        (report.read as f64 / elapsed).round()
    } else {
        0.0
    };
    Ok(report)
}
