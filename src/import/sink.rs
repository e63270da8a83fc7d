//! The sink of one input's import: takes the reader's batches on the
//! calling thread, appends their events to the store (or classifies them,
//! for a dry run), writes rejects and conflicts beside the input, keeps the
//! counts and samples, and keeps the store's record of the run current, so
//! that a run that dies says what it had written.

use std::path::{Path, PathBuf};

use crate::cancel::Interrupted;
use crate::dry_run::DryRun;
use crate::event::{format_millis, now_millis};
use crate::source::{InputMeter, RejectsFormat};
use crate::store::{
    write_failed, AppendOutcome, ImportCounts, ImportRun, RunStatus, Store, WriteFailed,
};

use super::reader::Batch;
use super::side_files::{default_side_file, ConflictsWriter, RejectsWriter};
use super::{archived_versions_of, Conflict, ImportOptions, ImportReport, Limits, SAMPLES};

/// What the run record says about the input.
pub(super) struct RunInfo {
    pub source_kind: String,
    pub size: Option<u64>,
    pub mapping_text: String,
    pub mapping_path: String,
}

pub(super) struct Sink<'a, 's> {
    store: Option<&'a mut (dyn Store + 's)>,
    options: &'a ImportOptions,
    dry_run: &'a mut DryRun,
    path: PathBuf,
    /// A real run with a store: the run record is kept.
    writing: bool,
    report: ImportReport,
    rejects: RejectsWriter,
    conflicts: ConflictsWriter,
    run: ImportRun,
    /// The range of `created_at` seen so far.
    created: Option<(i64, i64)>,
}

impl<'a, 's> Sink<'a, 's> {
    /// Prepares the side files and records the run as running.
    pub fn open(
        mut store: Option<&'a mut (dyn Store + 's)>,
        options: &'a ImportOptions,
        dry_run: &'a mut DryRun,
        path: &Path,
        rejects_format: RejectsFormat,
        info: RunInfo,
    ) -> anyhow::Result<Sink<'a, 's>> {
        let rejects_path = options.rejects.clone().unwrap_or_else(|| {
            default_side_file(
                path,
                match rejects_format {
                    RejectsFormat::Csv(_) => ".rejects.csv",
                    RejectsFormat::JsonLines => ".rejects.jsonl",
                },
            )
        });
        let rejects = RejectsWriter::new(
            rejects_path,
            rejects_format,
            options.dry_run,
            options.rejects.is_none(),
        );
        let conflicts =
            ConflictsWriter::new(default_side_file(path, ".conflicts.jsonl"), options.dry_run);
        let run = ImportRun {
            run_id: uuid::Uuid::new_v4().to_string(),
            source: info.source_kind,
            file: path.display().to_string(),
            size: info.size.unwrap_or(0),
            sha256: String::new(),
            mapping: info.mapping_text,
            mapping_path: info.mapping_path,
            started_at: format_millis(now_millis()),
            finished_at: String::new(),
            counts: ImportCounts::default(),
            complete: false,
            created_min: None,
            created_max: None,
            status: Some(RunStatus::Running),
        };
        if let Some(store) = store.as_deref_mut() {
            if !options.dry_run {
                store.record_run(&run).map_err(|e| write_failed(store, e))?;
            }
        }
        Ok(Sink {
            writing: store.is_some() && !options.dry_run,
            store,
            options,
            dry_run,
            path: path.to_path_buf(),
            report: ImportReport::default(),
            rejects,
            conflicts,
            run,
            created: None,
        })
    }

    /// Takes one batch: counts, rejects, then the events and their
    /// duplicates and conflicts.
    pub fn take(&mut self, batch: Batch) -> anyhow::Result<()> {
        let options = self.options;
        let report = &mut self.report;
        let s = &mut report.summary.counts;
        s.read += batch.read;
        s.skipped += batch.skipped;
        s.rejected += batch.rejects.len() as u64;
        if let Some(line) = batch.stopped_at {
            report.stopped_at = Some((self.path.clone(), line));
        }
        for reject in batch.rejects {
            if report.reject_samples.len() < SAMPLES.max(options.show) {
                report
                    .reject_samples
                    .push((self.path.clone(), reject.clone()));
            }
            self.rejects.write(&reject)?;
        }
        for event in &batch.events {
            let t = event.created_at;
            self.created = Some(
                self.created
                    .map_or((t, t), |(lo, hi)| (lo.min(t), hi.max(t))),
            );
            if report.shown_events.len() < options.show {
                report.shown_events.push(event.clone());
            }
        }
        let outcomes = if options.dry_run {
            for event in &batch.events {
                *report.per_type.entry(event.event_type.clone()).or_default() += 1;
            }
            self.dry_run
                .classify(self.store.as_deref_mut(), &batch.events)?
        } else {
            let store = self.store.as_deref_mut().expect("a real run has a store");
            store
                .append(&batch.events)
                .map_err(|e| write_failed(store, e))?
        };
        let archived = archived_versions_of(options, &batch.events, &outcomes)?;
        for ((outcome, event), line) in outcomes.into_iter().zip(batch.events).zip(batch.lines) {
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
                file: self.path.clone(),
                line,
                stored,
                archived_in,
                incoming: event,
            };
            self.conflicts.write(&conflict)?;
            if report.conflict_samples.len() < SAMPLES {
                report.conflict_samples.push(conflict);
            }
        }
        if let Some(store) = self.store.as_deref_mut().filter(|_| self.writing) {
            // With each batch, so that the record of a run that dies says
            // what it had written.
            self.run.counts = *s;
            set_created(&mut self.run, self.created);
            store
                .record_run(&self.run)
                .map_err(|e| write_failed(store, e))?;
        }
        Ok(())
    }

    /// After a failure (not an interrupt): closes the side files and, if
    /// the store can still be written, records the run as failed. Returns
    /// the error.
    pub fn fail(mut self, error: anyhow::Error) -> anyhow::Error {
        let _ = self.rejects.finish();
        let _ = self.conflicts.finish();
        // A store that has just refused a write is not asked again (a
        // locked one would only make the user wait once more); the run
        // record keeps the counts of its last committed batch.
        if let Some(store) = self.store.filter(|_| self.writing) {
            if error.downcast_ref::<WriteFailed>().is_none() && store.flush().is_ok() {
                self.run.status = Some(RunStatus::Failed);
                self.run.finished_at = format_millis(now_millis());
                let _ = store.record_run(&self.run);
            }
        }
        error
    }

    /// Commits what the store still holds open: after the last batch, or at
    /// the batch boundary where an interrupt stopped the import.
    pub fn flush(&mut self) -> anyhow::Result<()> {
        if let Some(store) = self.store.as_deref_mut().filter(|_| self.writing) {
            store.flush().map_err(|e| write_failed(store, e))?;
        }
        Ok(())
    }

    /// Closes the side files and records how the run ended; after
    /// [`Self::flush`].
    pub fn finish(
        mut self,
        interrupted: Option<Interrupted>,
        meter: &InputMeter,
        limits: Limits,
    ) -> anyhow::Result<ImportReport> {
        let report = &mut self.report;
        report.summary.interrupted = interrupted;
        report.stopped_early = report.stopped_at.is_some();
        let limited = limits
            .records
            .is_some_and(|n| report.summary.counts.read >= n);
        self.rejects.finish()?;
        self.conflicts.finish()?;
        report.rejects_files.extend(self.rejects.written_path());
        report.conflicts_files.extend(self.conflicts.written_path());

        let run = &mut self.run;
        run.counts = report.summary.counts;
        // A run cut short by --limit did not read the whole input either.
        let interrupted = interrupted.is_some();
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
        set_created(run, self.created);
        if let Some(store) = self.store.filter(|_| self.writing) {
            store.record_run(run).map_err(|e| write_failed(store, e))?;
        }
        Ok(self.report)
    }
}

/// The range of `created_at` seen so far, in the run record.
fn set_created(run: &mut ImportRun, created: Option<(i64, i64)>) {
    if let Some((lo, hi)) = created {
        run.created_min = Some(format_millis(lo));
        run.created_max = Some(format_millis(hi));
    }
}
