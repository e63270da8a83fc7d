//! `chronicle import csv|dump|events`: opens the inputs with
//! `chronicle::source::open`, calls `chronicle::import`, prints the summary
//! and picks the exit code.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};

use chronicle::diff::json_diff;
use chronicle::exit::ExitStatus;
use chronicle::import::{
    import_all, Conflict, ImportInput, ImportOptions, ImportReport, DEFAULT_BATCH,
};
use chronicle::mapping::Mapping;
use chronicle::settings::Settings;
use chronicle::source::{self, Format};
use chronicle::store;

use super::{figures, interrupted, more_not_shown, open_store, progress, thousands};
use crate::cli::examples;
use crate::cli::printer::Printer;

#[derive(Debug, Args)]
pub struct ImportArgs {
    #[command(subcommand)]
    pub kind: ImportKind,
}

#[derive(Debug, Subcommand)]
pub enum ImportKind {
    /// Import CSV exports (plain or .gz; `-` reads stdin) through a mapping file
    #[command(after_help = examples::IMPORT_CSV)]
    Csv(CsvArgs),
    /// Import database dumps (pg_dump, mysqldump, mongodump, mongoexport) through a mapping file; see docs/dumps.md
    #[command(after_help = examples::IMPORT_DUMP)]
    Dump(DumpArgs),
    /// Import canonical events as JSON lines (e.g. another store's export); `-` reads stdin
    #[command(after_help = examples::IMPORT_EVENTS)]
    Events(EventsArgs),
}

#[derive(Debug, Args)]
pub struct CsvArgs {
    /// CSV files to import, in order; `-` reads stdin (its rejects go to ./stdin.rejects.csv)
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Mapping file (TOML) describing how a row becomes an event; see docs/mapping.md
    #[arg(long, short, value_name = "MAPPING.toml")]
    pub mapping: PathBuf,
    #[command(flatten)]
    pub common: CommonImportArgs,
}

#[derive(Debug, Args)]
pub struct DumpArgs {
    /// Dump files (plain or .gz): pg_dump plain SQL, mysqldump SQL, mongodump NAME.bson (or its
    /// directory, with source.table) or mongoexport JSON
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Mapping file (TOML); [source] format and table pick the reader and the table; see docs/dumps.md
    #[arg(long, short, value_name = "MAPPING.toml")]
    pub mapping: PathBuf,
    #[command(flatten)]
    pub common: CommonImportArgs,
}

#[derive(Debug, Args)]
pub struct EventsArgs {
    /// JSON-lines files of canonical events; `-` reads stdin (its rejects go to ./stdin.rejects.jsonl)
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    #[command(flatten)]
    pub common: CommonImportArgs,
}

#[derive(Debug, Args)]
pub struct CommonImportArgs {
    /// Where rejected records go [default: <input>.rejects.csv, or .rejects.jsonl; ./stdin.rejects.csv
    /// for `-`]
    #[arg(long, value_name = "FILE")]
    pub rejects: Option<PathBuf>,
    /// Tolerate N rejected records: the import stops at the first reject beyond N, exit 2 (what
    /// was written stays)
    #[arg(long, value_name = "N")]
    pub max_rejects: Option<u64>,
    /// Map and validate everything and read the store to report what a real run would import,
    /// find duplicate or in conflict; write nothing (a missing store file is not created)
    #[arg(long)]
    pub dry_run: bool,
    /// Print the first N mapped events (canonical JSON) and the first N rejects with their reasons
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub show: usize,
    /// Read only the first N records (over all inputs), e.g. to try a mapping on a big file
    #[arg(long, value_name = "N")]
    pub limit: Option<u64>,
    /// Events per store transaction
    #[arg(long, default_value_t = DEFAULT_BATCH, hide = true)]
    pub batch_size: usize,
}

pub fn run(args: ImportArgs, settings: &Settings, printer: &Printer) -> anyhow::Result<ExitStatus> {
    // Every input is opened (and its mapping compiled against its header)
    // before the store is touched, so a bad mapping costs nothing.
    let (format, mapping, files, common) = match args.kind {
        ImportKind::Csv(args) => (Format::Csv, Some(args.mapping), args.files, args.common),
        ImportKind::Dump(args) => (Format::Dump, Some(args.mapping), args.files, args.common),
        ImportKind::Events(args) => (Format::Events, None, args.files, args.common),
    };
    let mapping = mapping.map(|m| Mapping::load(&m)).transpose()?;
    let inputs = files
        .iter()
        .map(|path| {
            let opened = source::open(format, path, mapping.as_ref())?;
            Ok(ImportInput::new(opened, mapping.as_ref()))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let options = ImportOptions {
        rejects: common.rejects,
        max_rejects: common.max_rejects,
        dry_run: common.dry_run,
        batch_size: common.batch_size,
        archive: Some(chronicle::archive::location::Archive::open(
            &settings.archive,
        )?),
        limit: common.limit,
        show: common.show,
    };
    let progress = progress(printer);
    let report = if options.dry_run {
        // A dry run reads the store to classify events, but a store file
        // that does not exist yet is not created: everything would import.
        let missing = store::sqlite_path(&settings.store)?.is_some_and(|p| !Path::new(p).exists());
        let mut store = if missing {
            None
        } else {
            Some(open_store(settings)?)
        };
        import_all(inputs, store.as_deref_mut(), &options, progress.as_ref())?
    } else {
        let mut store = open_store(settings)?;
        import_all(inputs, Some(store.as_mut()), &options, progress.as_ref())?
    };
    print_report(&report, &options, printer, settings)?;
    Ok(if let Some(interrupt) = report.summary.interrupted {
        interrupted(
            printer,
            interrupt,
            "the counts above were committed and the import run is recorded as interrupted",
        )
    } else if report.stopped_early {
        ExitStatus::Fatal
    } else if report.summary.counts.rejected > 0 || report.summary.counts.conflicts > 0 {
        ExitStatus::Problems
    } else {
        ExitStatus::Success
    })
}

/// A conflict as the fields that differ, with their JSON paths (the
/// conflicts file has both whole versions; --verbose prints them too).
fn conflict_text(c: &Conflict, whole: bool) -> String {
    let Some(stored_event) = &c.stored else {
        return format!(
            "conflict {}:{}: id {} is archived (partition {}) with other content; the archive folder could not be read here to show the archived version\n  incoming: {}",
            c.file.display(),
            c.line,
            c.incoming.id,
            c.archived_in.as_deref().unwrap_or("?"),
            c.incoming.to_json_line()
        );
    };
    let mut stored = stored_event.to_json_value();
    // received_at is the store's, not content: never part of a conflict.
    if let Some(meta) = stored.get_mut("meta").and_then(|m| m.as_object_mut()) {
        meta.remove("received_at");
    }
    let differences = json_diff(&stored, &c.incoming.to_json_value());
    let mut text = format!(
        "conflict {}:{}: id {} {}",
        c.file.display(),
        c.line,
        c.incoming.id,
        if differences.is_empty() {
            // Only a dry run reports this: of an id repeated within the
            // input, it keeps a fingerprint of the first version, not the
            // version itself.
            "repeats an earlier record of this input with other content".to_string()
        } else if let Some(partition) = &c.archived_in {
            format!("is archived (partition {partition}) with other content")
        } else {
            "is stored with other content".to_string()
        }
    );
    let show = |v: &Option<serde_json::Value>| match v {
        Some(v) => v.to_string(),
        None => "(absent)".to_string(),
    };
    for d in differences {
        let _ = write!(
            text,
            "\n  {}: stored {}, incoming {}",
            d.path,
            show(&d.left),
            show(&d.right)
        );
    }
    if whole {
        let _ = write!(
            text,
            "\n  stored:   {}\n  incoming: {}",
            stored_event.to_json_line(),
            c.incoming.to_json_line()
        );
    }
    text
}

fn print_report(
    report: &ImportReport,
    options: &ImportOptions,
    printer: &Printer,
    settings: &Settings,
) -> anyhow::Result<()> {
    let s = &report.summary.counts;
    let shown = printer.samples();
    for (file, reject) in report.reject_samples.iter().take(shown) {
        printer.problem(
            format!(
                "rejected {}:{}: {}",
                file.display(),
                reject.line,
                reject.reason
            ),
            None,
        );
    }
    more_not_shown(
        printer,
        s.rejected,
        report.reject_samples.len().min(shown),
        "rejected records",
    );
    for c in report.conflict_samples.iter().take(shown) {
        // The first line names the file, line and id; the differing
        // fields follow for a person at a terminal.
        let text = conflict_text(c, printer.is_verbose());
        match text.split_once('\n') {
            Some((line, detail)) => printer.problem(line, Some(detail)),
            None => printer.problem(&text, None),
        }
    }
    more_not_shown(
        printer,
        s.conflicts,
        report.conflict_samples.len().min(shown),
        "conflicts",
    );
    for path in &report.rejects_files {
        printer.problem(
            format!("rejected records were written to {}", path.display()),
            None,
        );
    }
    for path in &report.conflicts_files {
        printer.problem(
            format!(
                "conflicts (both versions) were written to {}",
                path.display()
            ),
            None,
        );
    }
    if report.dry_run_saturated {
        printer.warn(format!(
            "the dry run remembered the first {} distinct ids only: repeats of later ids within the input are counted as would-import",
            thousands(chronicle::dry_run::MAX_TRACKED as u64)
        ));
    }
    if let Some((file, line)) = &report.stopped_at {
        printer.problem(format!(
            "stopped at {}:{line}: {} rejects exceed --max-rejects {}, so the rest of the input was not read; events written before that are kept, and re-running the import is safe",
            file.display(),
            s.rejected,
            options.max_rejects.unwrap_or(0)
        ), None);
    }
    let mut human = String::new();
    if options.show > 0 {
        let _ = writeln!(
            human,
            "first {} mapped event(s):",
            report.shown_events.len()
        );
        for event in &report.shown_events {
            let _ = writeln!(human, "{}", event.to_json_line());
        }
        let rejects: Vec<_> = report.reject_samples.iter().take(options.show).collect();
        let _ = writeln!(human, "first {} reject(s):", rejects.len());
        for (file, reject) in &rejects {
            let _ = writeln!(
                human,
                "{}:{}: {}",
                file.display(),
                reject.line,
                reject.reason
            );
        }
    }
    if options.dry_run {
        let _ = writeln!(human, "dry run: nothing was written");
        for (event_type, n) in &report.per_type {
            let _ = writeln!(human, "  {:>12}  {event_type}", thousands(*n));
        }
    }
    let _ = writeln!(human, "read        {:>12}", thousands(s.read));
    let _ = writeln!(
        human,
        "{}{:>12}",
        if options.dry_run {
            "would import"
        } else {
            "imported    "
        },
        thousands(s.imported)
    );
    let _ = writeln!(human, "duplicates  {:>12}", thousands(s.duplicates));
    let _ = writeln!(human, "conflicts   {:>12}", thousands(s.conflicts));
    let _ = writeln!(human, "rejected    {:>12}", thousands(s.rejected));
    let _ = writeln!(human, "skipped     {:>12}", thousands(s.skipped));
    let _ = write!(
        human,
        "elapsed     {:>10.2} s ({} events/s)",
        report.summary.elapsed_s,
        thousands(report.summary.events_per_s as u64)
    );
    let mut json = serde_json::to_value(&report.summary).expect("summary serialises");
    if options.dry_run {
        json["per_type"] = serde_json::json!(report.per_type);
    }
    if options.show > 0 {
        json["events"] = report
            .shown_events
            .iter()
            .map(|e| e.to_json_value())
            .collect();
        json["rejects"] = report
            .reject_samples
            .iter()
            .take(options.show)
            .map(|(file, r)| {
                serde_json::json!({"file": file.display().to_string(), "line": r.line, "reason": r.reason})
            })
            .collect();
    }
    let mut figures = figures(settings, s.read);
    figures.rejects_files = &report.rejects_files;
    figures.conflicts_files = &report.conflicts_files;
    printer.summary(human, &json, figures)
}
