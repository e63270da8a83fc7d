//! The import pipeline shared by every input format: a reader thread pulls
//! items from an [`EventSource`] (parsing and mapping), the calling thread
//! appends batches to the store, writes rejects and conflicts, and keeps the
//! counts. Two threads because parsing and SQLite writing each take about
//! half the time of a large import. Any failure ends both (see
//! [`crate::cancel`]); an interrupt stops at the next batch boundary with
//! everything before it committed and the run recorded as interrupted.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use serde::Serialize;

use crate::cancel::{self, Interrupted, Stop};
use crate::dry_run::DryRun;
use crate::event::{format_millis, now_millis, Event};
use crate::progress::{Progress, Unit};
use crate::source::{EventSource, InputMeter, Item, RawRecord, Reject, RejectsFormat};
use crate::store::{
    write_failed, AppendOutcome, ImportCounts, ImportRun, RunStatus, Store, WriteFailed,
};

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

/// A batch handed from the reader thread to the writer.
struct Batch {
    events: Vec<Event>,
    lines: Vec<u64>,
    rejects: Vec<Reject>,
    read: u64,
    skipped: u64,
    /// The line of the reject that exceeded `--max-rejects`.
    stopped_at: Option<u64>,
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

fn default_side_file(input: &Path, suffix: &str) -> PathBuf {
    if input == Path::new("-") {
        // In the current folder, said so in the summary.
        PathBuf::from(format!("./stdin{suffix}"))
    } else {
        let mut name = input.as_os_str().to_os_string();
        name.push(suffix);
        PathBuf::from(name)
    }
}

/// What is left of `--max-rejects` and `--limit` for one input.
#[derive(Clone, Copy)]
struct Limits {
    max_rejects: Option<u64>,
    records: Option<u64>,
}

fn import_one<'s>(
    input: ImportInput,
    mut store: Option<&mut (dyn Store + 's)>,
    options: &ImportOptions,
    limits: Limits,
    dry_run: &mut DryRun,
    progress: &dyn Progress,
) -> anyhow::Result<ImportReport> {
    let max_rejects = limits.max_rejects;
    let ImportInput {
        path,
        source_kind,
        mut source,
        meter,
        size,
        mapping_text,
        mapping_path,
    } = input;
    let rejects_format = source.rejects_format();
    let rejects_path = options.rejects.clone().unwrap_or_else(|| {
        default_side_file(
            &path,
            match rejects_format {
                RejectsFormat::Csv(_) => ".rejects.csv",
                RejectsFormat::JsonLines => ".rejects.jsonl",
            },
        )
    });
    let conflicts_path = default_side_file(&path, ".conflicts.jsonl");
    let mut rejects = RejectsWriter::new(
        rejects_path,
        rejects_format,
        options.dry_run,
        options.rejects.is_none(),
    );
    let mut conflicts = ConflictsWriter::new(conflicts_path, options.dry_run);
    let started_at = format_millis(now_millis());
    let run_id = uuid::Uuid::new_v4().to_string();
    let mut run = ImportRun {
        run_id,
        source: source_kind,
        file: path.display().to_string(),
        size: size.unwrap_or(0),
        sha256: String::new(),
        mapping: mapping_text,
        mapping_path,
        started_at: started_at.clone(),
        finished_at: String::new(),
        counts: ImportCounts::default(),
        complete: false,
        created_min: None,
        created_max: None,
        status: Some(RunStatus::Running),
    };
    let mut created: Option<(i64, i64)> = None;
    if let Some(store) = store.as_deref_mut() {
        if !options.dry_run {
            store.record_run(&run).map_err(|e| write_failed(store, e))?;
        }
    }
    progress.start(&path.display().to_string(), size, Unit::Bytes);

    let batch_size = options.batch_size.max(1);
    let mut report = ImportReport::default();
    let reader_path = path.clone();
    let mut records_left = limits.records;
    // The reader owns its source, so it runs on a thread nobody waits for:
    // one blocked reading an idle stdin cannot hold up a failed or
    // interrupted import.
    let batches = cancel::spawn_feed("reader", 4, &Stop::new(), move |feed| {
        let mut rejected_total = 0u64;
        loop {
            let mut batch = Batch {
                events: Vec::with_capacity(batch_size),
                lines: Vec::with_capacity(batch_size),
                rejects: Vec::new(),
                read: 0,
                skipped: 0,
                stopped_at: None,
            };
            let mut end = false;
            while batch.events.len() < batch_size && batch.read < batch_size as u64 * 2 {
                if records_left == Some(0) {
                    end = true;
                    break;
                }
                if let Some(left) = records_left.as_mut() {
                    *left -= 1;
                }
                match source.next_item() {
                    Ok(Some(item)) => {
                        batch.read += 1;
                        match item {
                            Item::Event { event, line } => {
                                batch.events.push(event);
                                batch.lines.push(line);
                            }
                            Item::Skipped => batch.skipped += 1,
                            Item::Rejected(reject) => {
                                rejected_total += 1;
                                // The rule: stop as soon as the count
                                // exceeds N, so N rejects are tolerated.
                                if max_rejects.is_some_and(|m| rejected_total > m) {
                                    batch.stopped_at = Some(reject.line);
                                    batch.rejects.push(reject);
                                    end = true;
                                    break;
                                }
                                batch.rejects.push(reject);
                            }
                        }
                    }
                    Ok(None) => {
                        end = true;
                        break;
                    }
                    Err(e) => {
                        let _ = feed.send(batch);
                        return Err(e.context(format!("{}", reader_path.display())));
                    }
                }
            }
            // A gone consumer failed or was interrupted; it reports why.
            if feed.send(batch).is_err() || end {
                return Ok(());
            }
        }
    });
    let writing = store.is_some() && !options.dry_run;
    // `batches` moves into the closure: however it returns, the channel is
    // dropped and the reader stops at its next send.
    let outcome = (|| -> anyhow::Result<()> {
        for message in batches {
            let batch = message?;
            let s = &mut report.summary.counts;
            s.read += batch.read;
            s.skipped += batch.skipped;
            s.rejected += batch.rejects.len() as u64;
            if let Some(line) = batch.stopped_at {
                report.stopped_at = Some((path.clone(), line));
            }
            for reject in batch.rejects {
                if report.reject_samples.len() < SAMPLES.max(options.show) {
                    report.reject_samples.push((path.clone(), reject.clone()));
                }
                rejects.write(&reject)?;
            }
            for event in &batch.events {
                let t = event.created_at;
                created = Some(created.map_or((t, t), |(lo, hi)| (lo.min(t), hi.max(t))));
                if report.shown_events.len() < options.show {
                    report.shown_events.push(event.clone());
                }
            }
            let outcomes = if options.dry_run {
                for event in &batch.events {
                    *report.per_type.entry(event.event_type.clone()).or_default() += 1;
                }
                dry_run.classify(store.as_deref_mut(), &batch.events)?
            } else {
                let store = store.as_deref_mut().expect("a real run has a store");
                store
                    .append(&batch.events)
                    .map_err(|e| write_failed(store, e))?
            };
            let archived = archived_versions_of(options, &batch.events, &outcomes)?;
            for ((outcome, event), line) in outcomes.into_iter().zip(batch.events).zip(batch.lines)
            {
                let (stored, archived_in) = match outcome {
                    AppendOutcome::Inserted => {
                        s.imported += 1;
                        continue;
                    }
                    AppendOutcome::Duplicate => {
                        s.duplicates += 1;
                        continue;
                    }
                    AppendOutcome::Conflict { stored } => (Some(*stored), None),
                    AppendOutcome::ArchivedConflict { partition } => {
                        (archived.get(&event.id).cloned(), Some(partition))
                    }
                };
                s.conflicts += 1;
                let conflict = Conflict {
                    file: path.clone(),
                    line,
                    stored,
                    archived_in,
                    incoming: event,
                };
                conflicts.write(&conflict)?;
                if report.conflict_samples.len() < SAMPLES {
                    report.conflict_samples.push(conflict);
                }
            }
            if let Some(store) = store.as_deref_mut().filter(|_| writing) {
                // With each batch, so that the record of a run that dies
                // says what it had written.
                run.counts = *s;
                set_created(&mut run, created);
                store.record_run(&run).map_err(|e| write_failed(store, e))?;
            }
            progress.set_position(meter.bytes_read());
        }
        Ok(())
    })();
    report.summary.interrupted = outcome.as_ref().err().and_then(cancel::interruption);
    if let Err(error) = outcome {
        if report.summary.interrupted.is_none() {
            progress.finish();
            let _ = rejects.finish();
            let _ = conflicts.finish();
            // A store that has just refused a write is not asked again (a
            // locked one would only make the user wait once more); the run
            // record keeps the counts of its last committed batch.
            if let Some(store) = store.filter(|_| writing) {
                if error.downcast_ref::<WriteFailed>().is_none() && store.flush().is_ok() {
                    run.status = Some(RunStatus::Failed);
                    run.finished_at = format_millis(now_millis());
                    let _ = store.record_run(&run);
                }
            }
            return Err(error);
        }
    }
    if let Some(store) = store.as_deref_mut().filter(|_| writing) {
        store.flush().map_err(|e| write_failed(store, e))?;
    }
    progress.finish();
    report.stopped_early = report.stopped_at.is_some();
    let limited = limits
        .records
        .is_some_and(|n| report.summary.counts.read >= n);
    rejects.finish()?;
    conflicts.finish()?;
    report.rejects_files.extend(rejects.written_path());
    report.conflicts_files.extend(conflicts.written_path());

    run.counts = report.summary.counts;
    // A run cut short by --limit did not read the whole input either.
    let interrupted = report.summary.interrupted.is_some();
    run.complete = !report.stopped_early && !limited && !interrupted;
    run.status = Some(if interrupted {
        RunStatus::Interrupted
    } else if run.complete {
        RunStatus::Complete
    } else {
        RunStatus::Stopped
    });
    run.sha256 = if run.complete {
        meter.sha256()
    } else {
        String::new()
    };
    run.size = run.size.max(meter.bytes_read());
    run.finished_at = format_millis(now_millis());
    set_created(&mut run, created);
    if let Some(store) = store.filter(|_| writing) {
        store.record_run(&run).map_err(|e| write_failed(store, e))?;
    }
    Ok(report)
}

/// The range of `created_at` seen so far, in the run record.
fn set_created(run: &mut ImportRun, created: Option<(i64, i64)>) {
    if let Some((lo, hi)) = created {
        run.created_min = Some(format_millis(lo));
        run.created_max = Some(format_millis(hi));
    }
}

/// Writes rejected records next to the input, each with its original
/// bytes: for CSV inputs, CSV in the input's own dialect and encoding (its
/// header plus `chronicle_line` and `chronicle_reason`), so a corrected file
/// can be imported again with the same mapping; JSON lines otherwise, with
/// the record as text, or base64 where it is not UTF-8 or is binary.
/// Created on the first reject only.
struct RejectsWriter {
    path: PathBuf,
    format: RejectsFormat,
    disabled: bool,
    out: Option<BufWriter<File>>,
    /// When the path was not chosen explicitly, a stale file from an
    /// earlier run is removed if this run has no rejects.
    remove_stale: bool,
}

impl RejectsWriter {
    fn new(path: PathBuf, format: RejectsFormat, disabled: bool, remove_stale: bool) -> Self {
        RejectsWriter {
            path,
            format,
            disabled,
            out: None,
            remove_stale,
        }
    }

    fn write(&mut self, reject: &Reject) -> anyhow::Result<()> {
        if self.disabled {
            return Ok(());
        }
        let context = || format!("cannot write rejects file {}", self.path.display());
        if self.out.is_none() {
            let mut w = BufWriter::new(File::create(&self.path).with_context(context)?);
            if let RejectsFormat::Csv(csv) = &self.format {
                w.write_all(&csv.header).with_context(context)?;
                for extra in [
                    crate::mapping::REJECT_LINE_COLUMN,
                    crate::mapping::REJECT_REASON_COLUMN,
                ] {
                    w.write_all(&[csv.delimiter]).with_context(context)?;
                    w.write_all(&csv_field(csv, extra)).with_context(context)?;
                }
                w.write_all(csv.newline).with_context(context)?;
            }
            self.out = Some(w);
        }
        let w = self.out.as_mut().expect("just created");
        match &self.format {
            RejectsFormat::Csv(csv) => {
                let raw = match &reject.raw {
                    RawRecord::Csv(b) | RawRecord::Text(b) => b,
                    RawRecord::Binary { bytes, .. } => bytes,
                };
                w.write_all(raw).with_context(context)?;
                for extra in [reject.line.to_string(), reject.reason.clone()] {
                    w.write_all(&[csv.delimiter]).with_context(context)?;
                    w.write_all(&csv_field(csv, &extra)).with_context(context)?;
                }
                w.write_all(csv.newline).with_context(context)?;
            }
            RejectsFormat::JsonLines => {
                use base64::Engine as _;
                let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
                let mut line = serde_json::json!({"line": reject.line, "reason": reject.reason});
                match &reject.raw {
                    RawRecord::Csv(b) | RawRecord::Text(b) => match std::str::from_utf8(b) {
                        Ok(text) => line["record"] = text.into(),
                        Err(_) => line["record_base64"] = b64(b).into(),
                    },
                    RawRecord::Binary { bytes, shown } => {
                        line["record"] = shown.as_str().into();
                        line["record_base64"] = b64(bytes).into();
                    }
                }
                writeln!(w, "{line}").with_context(context)?;
            }
        }
        Ok(())
    }

    fn finish(&mut self) -> anyhow::Result<()> {
        if let Some(w) = self.out.as_mut() {
            w.flush()
                .with_context(|| format!("cannot write rejects file {}", self.path.display()))?;
        }
        if self.out.is_none() && self.remove_stale && !self.disabled && self.path.exists() {
            std::fs::remove_file(&self.path).ok();
        }
        Ok(())
    }

    fn written_path(&self) -> Option<PathBuf> {
        self.out.as_ref().map(|_| self.path.clone())
    }
}

/// One extra field of a CSV rejects file, in the input's encoding, quoted
/// when it holds the delimiter, the quote or a line break.
fn csv_field(csv: &crate::source::CsvRejects, text: &str) -> Vec<u8> {
    let bytes = csv.encoding.encode(text).0;
    let needs_quotes = bytes
        .iter()
        .any(|&b| b == csv.delimiter || b == csv.quote || b == b'\n' || b == b'\r');
    if !needs_quotes {
        return bytes.into_owned();
    }
    let mut out = Vec::with_capacity(bytes.len() + 2);
    out.push(csv.quote);
    for &b in bytes.iter() {
        if b == csv.quote {
            out.push(b);
        }
        out.push(b);
    }
    out.push(csv.quote);
    out
}

/// Writes every conflict, with both versions, as JSON lines.
struct ConflictsWriter {
    path: PathBuf,
    disabled: bool,
    out: Option<BufWriter<File>>,
}

impl ConflictsWriter {
    fn new(path: PathBuf, disabled: bool) -> Self {
        ConflictsWriter {
            path,
            disabled,
            out: None,
        }
    }

    fn write(&mut self, conflict: &Conflict) -> anyhow::Result<()> {
        if self.disabled {
            return Ok(());
        }
        let context = || format!("cannot write conflicts file {}", self.path.display());
        if self.out.is_none() {
            self.out = Some(BufWriter::new(
                File::create(&self.path).with_context(context)?,
            ));
        }
        let mut line = serde_json::json!({
            "line": conflict.line,
            "id": conflict.incoming.id.to_string(),
            "stored": conflict.stored.as_ref().map(Event::to_json_value),
            "incoming": conflict.incoming.to_json_value(),
        });
        if let Some(partition) = &conflict.archived_in {
            line["archived_in"] = partition.as_str().into();
        }
        writeln!(self.out.as_mut().expect("just created"), "{line}").with_context(context)?;
        Ok(())
    }

    fn finish(&mut self) -> anyhow::Result<()> {
        if let Some(out) = self.out.as_mut() {
            out.flush()?;
        }
        Ok(())
    }

    fn written_path(&self) -> Option<PathBuf> {
        self.out.as_ref().map(|_| self.path.clone())
    }
}
