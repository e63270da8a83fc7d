//! The import pipeline shared by every input format: a batching reader
//! (`reader.rs`) pulls items from an [`EventSource`] (parsing and mapping)
//! on a thread of its own, and the sink (`sink.rs`) on the calling thread
//! appends batches to the store, writes rejects and conflicts
//! (`side_files.rs`), and keeps the counts. Two threads because parsing and
//! SQLite writing each take about half the time of a large import. Any
//! failure ends both (see [`crate::cancel`]); an interrupt stops at the next
//! batch boundary with everything before it committed and the run recorded
//! as interrupted.

mod reader;
mod side_files;
mod sink;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use serde::Serialize;

use crate::cancel::{self, Interrupted};
use crate::dry_run::DryRun;
use crate::event::Event;
use crate::mapping::Mapping;
use crate::progress::{Progress, Unit};
use crate::source::{EventSource, InputMeter, Opened, Reject};
use crate::store::{AppendOutcome, ImportCounts, Store};

use reader::BatchReader;
use sink::{RunInfo, Sink};

/// Events per store transaction.
pub const DEFAULT_BATCH: usize = 10_000;

#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// Rejects file; default `<input>.rejects.csv` (or `.jsonl`).
    pub rejects: Option<PathBuf>,
    /// Stop as soon as more than this many records were rejected.
    pub max_rejects: Option<u64>,
    /// Map and validate, and read the store (if any) to classify each
    /// event as a real run would; write nothing.
    pub dry_run: bool,
    pub batch_size: usize,
    /// The archive folder, read for the archived version of an id that
    /// conflicts with its archived-id record.
    pub archive: Option<crate::archive::location::Archive>,
    /// Read only the first N records (over all inputs).
    pub limit: Option<u64>,
    /// Keep the first N mapped events and rejects for display.
    pub show: usize,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            rejects: None,
            max_rejects: None,
            dry_run: false,
            batch_size: DEFAULT_BATCH,
            archive: None,
            limit: None,
            show: 0,
        }
    }
}

/// One input to import: a path (or `-`) and what produced its events.
pub struct ImportInput {
    pub path: PathBuf,
    /// `csv`, `events`, `pgdump`, ... recorded with the run.
    pub source_kind: String,
    pub source: Box<dyn EventSource>,
    pub meter: InputMeter,
    pub size: Option<u64>,
    /// The mapping text (empty for canonical events).
    pub mapping_text: String,
    /// The mapping file's path as given (empty for canonical events).
    pub mapping_path: String,
}

impl ImportInput {
    /// An opened input and the mapping it was opened with (`None` for
    /// canonical events), as the run record keeps them.
    pub fn new(opened: Opened, mapping: Option<&Mapping>) -> ImportInput {
        ImportInput {
            path: opened.path,
            source_kind: opened.kind,
            source: opened.source,
            meter: opened.meter,
            size: opened.size,
            mapping_text: mapping.map(|m| m.text.clone()).unwrap_or_default(),
            mapping_path: mapping.map(|m| m.path.clone()).unwrap_or_default(),
        }
    }
}

/// Counts of one or more imported inputs. The JSON form has exactly the
/// documented keys.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct ImportSummary {
    #[serde(flatten)]
    pub counts: ImportCounts,
    pub elapsed_s: f64,
    pub events_per_s: f64,
    /// Set when a signal stopped the import at a batch boundary; the counts
    /// are what was committed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interrupted: Option<Interrupted>,
}

/// A conflict: the stored version is kept, the incoming one is reported.
#[derive(Debug, Clone)]
pub struct Conflict {
    pub file: PathBuf,
    pub line: u64,
    /// The version kept: live, or read from the archive. `None` only when
    /// the id is archived and the archive could not be read here.
    pub stored: Option<Event>,
    /// The archive partition holding the kept version, when it is archived.
    pub archived_in: Option<String>,
    pub incoming: Event,
}

/// Everything an import run learned, beyond the counts.
#[derive(Debug, Default)]
pub struct ImportReport {
    pub summary: ImportSummary,
    /// Per event type, for `--dry-run`.
    pub per_type: BTreeMap<String, u64>,
    /// The first conflicts (all of them are in the conflicts file).
    pub conflict_samples: Vec<Conflict>,
    /// The first rejects, for display.
    pub reject_samples: Vec<(PathBuf, Reject)>,
    pub rejects_files: Vec<PathBuf>,
    pub conflicts_files: Vec<PathBuf>,
    /// Set when `--max-rejects` stopped the import.
    pub stopped_early: bool,
    /// The input and line of the reject that stopped it.
    pub stopped_at: Option<(PathBuf, u64)>,
    /// The first mapped events (`--show N`).
    pub shown_events: Vec<Event>,
    /// A dry run stopped remembering ids (see [`DryRun`]): repeats within
    /// the input past that point were counted as would-import.
    pub dry_run_saturated: bool,
}

/// Conflicts and rejects kept for display.
const SAMPLES: usize = 10;

impl ImportReport {
    fn add(&mut self, other: ImportReport) {
        self.summary.counts.add(&other.summary.counts);
        for (k, v) in other.per_type {
            *self.per_type.entry(k).or_default() += v;
        }
        for c in other.conflict_samples {
            if self.conflict_samples.len() < SAMPLES {
                self.conflict_samples.push(c);
            }
        }
        // Each input keeps at most --show of each; import_all trims the sum.
        self.shown_events.extend(other.shown_events);
        self.reject_samples.extend(other.reject_samples);
        self.rejects_files.extend(other.rejects_files);
        self.conflicts_files.extend(other.conflicts_files);
        self.stopped_early |= other.stopped_early;
        self.summary.interrupted = self.summary.interrupted.or(other.summary.interrupted);
        if self.stopped_at.is_none() {
            self.stopped_at = other.stopped_at;
        }
    }
}

/// Imports inputs one after the other into `store` (`None` only for a dry run).
pub fn import_all<'s>(
    inputs: Vec<ImportInput>,
    mut store: Option<&mut (dyn Store + 's)>,
    options: &ImportOptions,
    progress: &dyn Progress,
) -> anyhow::Result<ImportReport> {
    let started = Instant::now();
    let mut total = ImportReport::default();
    let mut rejects_left = options.max_rejects;
    let mut records_left = options.limit;
    let mut dry_run = DryRun::default();
    for input in inputs {
        if records_left == Some(0) {
            break;
        }
        let limits = Limits {
            max_rejects: rejects_left,
            records: records_left,
        };
        let report = import_one(
            input,
            store.as_deref_mut(),
            options,
            limits,
            &mut dry_run,
            progress,
        )?;
        if let Some(left) = rejects_left.as_mut() {
            *left = left.saturating_sub(report.summary.counts.rejected);
        }
        if let Some(left) = records_left.as_mut() {
            *left = left.saturating_sub(report.summary.counts.read);
        }
        let stop = report.stopped_early || report.summary.interrupted.is_some();
        total.add(report);
        if stop {
            break;
        }
    }
    total.dry_run_saturated = dry_run.saturated;
    total.shown_events.truncate(options.show);
    total.reject_samples.truncate(SAMPLES.max(options.show));
    let elapsed = started.elapsed().as_secs_f64();
    total.summary.elapsed_s = (elapsed * 1000.0).round() / 1000.0;
    total.summary.events_per_s = if elapsed > 0.0 {
        (total.summary.counts.read as f64 / elapsed).round()
    } else {
        0.0
    };
    Ok(total)
}

/// The archived versions of a batch's archived conflicts, read from the
/// archive folder (each partition named is read once; conflicts are rare).
fn archived_versions_of(
    options: &ImportOptions,
    events: &[Event],
    outcomes: &[AppendOutcome],
) -> anyhow::Result<std::collections::HashMap<uuid::Uuid, Event>> {
    let wanted: Vec<(uuid::Uuid, String)> = events
        .iter()
        .zip(outcomes)
        .filter_map(|(e, o)| match o {
            AppendOutcome::ArchivedConflict { partition } => Some((e.id, partition.clone())),
            _ => None,
        })
        .collect();
    match (&options.archive, wanted.is_empty()) {
        (Some(root), false) => Ok(
            crate::archive::archived_ids::archived_versions(root, &wanted)?
                .into_iter()
                .map(|(id, found)| (id, found.event))
                .collect(),
        ),
        _ => Ok(Default::default()),
    }
}

/// What is left of `--max-rejects` and `--limit` for one input.
#[derive(Clone, Copy)]
struct Limits {
    max_rejects: Option<u64>,
    records: Option<u64>,
}

/// Imports one input: the batching reader feeds the sink until the input
/// ends, a limit stops it, or something fails.
fn import_one<'s>(
    input: ImportInput,
    store: Option<&mut (dyn Store + 's)>,
    options: &ImportOptions,
    limits: Limits,
    dry_run: &mut DryRun,
    progress: &dyn Progress,
) -> anyhow::Result<ImportReport> {
    let ImportInput {
        path,
        source_kind,
        source,
        meter,
        size,
        mapping_text,
        mapping_path,
    } = input;
    let info = RunInfo {
        source_kind,
        size,
        mapping_text,
        mapping_path,
    };
    let mut sink = Sink::open(
        store,
        options,
        dry_run,
        &path,
        source.rejects_format(),
        info,
    )?;
    progress.start(&path.display().to_string(), size, Unit::Bytes);
    let batches = BatchReader::new(source, options.batch_size, limits).spawn(path);
    // `batches` moves into the closure: however it returns, the channel is
    // dropped and the reader stops at its next send.
    let outcome = (|| -> anyhow::Result<()> {
        for message in batches {
            sink.take(message?)?;
            progress.set_position(meter.bytes_read());
        }
        Ok(())
    })();
    let interrupted = outcome.as_ref().err().and_then(cancel::interruption);
    if let Err(error) = outcome {
        if interrupted.is_none() {
            progress.finish();
            return Err(sink.fail(error));
        }
    }
    sink.flush()?;
    progress.finish();
    sink.finish(interrupted, &meter, limits)
}
