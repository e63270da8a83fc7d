//! `chronicle import csv|dump|events`: builds the sources and options, calls
//! `chronicle::import`, prints the summary and picks the exit code.

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::{Args, Subcommand};

use chronicle::exit::ExitStatus;
use chronicle::import::{import_all, ImportInput, ImportOptions, ImportReport, DEFAULT_BATCH};
use chronicle::mapping::Mapping;
use chronicle::settings::Settings;
use chronicle::source::csv::CsvSource;
use chronicle::source::dump::open_dump;
use chronicle::source::events::JsonLinesSource;

use super::{open_store, progress, thousands};
use crate::cli::printer::Printer;

#[derive(Debug, Args)]
pub struct ImportArgs {
    #[command(subcommand)]
    pub kind: ImportKind,
}

#[derive(Debug, Subcommand)]
pub enum ImportKind {
    /// Import CSV exports (plain or .gz) through a mapping file
    Csv(CsvArgs),
    /// Import database dumps (pg_dump, mysqldump, mongodump, mongoexport) through a mapping file; see docs/dumps.md
    Dump(DumpArgs),
    /// Import canonical events as JSON lines (e.g. another store's export); `-` reads stdin
    Events(EventsArgs),
}

#[derive(Debug, Args)]
pub struct CsvArgs {
    /// CSV files to import, in order
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
    /// JSON-lines files of canonical events; `-` reads stdin
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    #[command(flatten)]
    pub common: CommonImportArgs,
}

#[derive(Debug, Args)]
pub struct CommonImportArgs {
    /// Where rejected records go [default: <input>.rejects.csv, or .rejects.jsonl]
    #[arg(long, value_name = "FILE")]
    pub rejects: Option<PathBuf>,
    /// Stop the import once N records were rejected (what was written stays)
    #[arg(long, value_name = "N")]
    pub max_rejects: Option<u64>,
    /// Map and validate everything, report per type, and write nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Events per store transaction
    #[arg(long, default_value_t = DEFAULT_BATCH, hide = true)]
    pub batch_size: usize,
}

pub fn run(args: ImportArgs, settings: &Settings, printer: &Printer) -> anyhow::Result<ExitStatus> {
    // Every input is opened (and its mapping compiled against its header)
    // before the store is touched, so a bad mapping costs nothing.
    let (inputs, common) = match args.kind {
        ImportKind::Csv(args) => {
            let mapping = Mapping::load(&args.mapping)?;
            let mut inputs = Vec::new();
            for path in args.files {
                let (source, meter, size) = CsvSource::open(&path, &mapping)?;
                inputs.push(ImportInput {
                    path,
                    source_kind: "csv".into(),
                    source: Box::new(source),
                    meter,
                    size,
                    mapping_text: mapping.text.clone(),
                });
            }
            (inputs, args.common)
        }
        ImportKind::Dump(args) => {
            let mapping = Mapping::load(&args.mapping)?;
            let mut inputs = Vec::new();
            for path in args.files {
                let dump = open_dump(&path, &mapping)?;
                inputs.push(ImportInput {
                    path: dump.path,
                    source_kind: dump.format.name().into(),
                    source: dump.source,
                    meter: dump.meter,
                    size: dump.size,
                    mapping_text: mapping.text.clone(),
                });
            }
            (inputs, args.common)
        }
        ImportKind::Events(args) => {
            let mut inputs = Vec::new();
            for path in args.files {
                let (source, meter, size) = JsonLinesSource::open(&path)?;
                inputs.push(ImportInput {
                    path,
                    source_kind: "events".into(),
                    source: Box::new(source),
                    meter,
                    size,
                    mapping_text: String::new(),
                });
            }
            (inputs, args.common)
        }
    };
    let options = ImportOptions {
        rejects: common.rejects,
        max_rejects: common.max_rejects,
        dry_run: common.dry_run,
        batch_size: common.batch_size,
        archive: Some(settings.archive.clone()),
    };
    let progress = progress(printer);
    let report = if options.dry_run {
        import_all(inputs, None, &options, progress.as_ref())?
    } else {
        let mut store = open_store(settings)?;
        import_all(inputs, Some(store.as_mut()), &options, progress.as_ref())?
    };
    print_report(&report, &options, printer);
    Ok(if report.stopped_early {
        ExitStatus::Fatal
    } else if report.summary.counts.rejected > 0 || report.summary.counts.conflicts > 0 {
        ExitStatus::Problems
    } else {
        ExitStatus::Success
    })
}

fn print_report(report: &ImportReport, options: &ImportOptions, printer: &Printer) {
    let s = &report.summary.counts;
    let shown = if printer.is_verbose() { usize::MAX } else { 5 };
    for (file, reject) in report.reject_samples.iter().take(shown) {
        printer.note(format!(
            "rejected {}:{}: {}",
            file.display(),
            reject.line,
            reject.reason
        ));
    }
    for c in report.conflict_samples.iter().take(shown) {
        let (where_, stored) = match (&c.archived_in, &c.stored) {
            (None, Some(stored)) => ("stored".to_string(), stored.to_json_line()),
            (Some(p), Some(stored)) => (format!("archived (partition {p})"), stored.to_json_line()),
            (Some(p), None) => (
                format!("archived (partition {p})"),
                "(the archive folder could not be read here)".to_string(),
            ),
            (None, None) => ("stored".to_string(), String::new()),
        };
        printer.note(format!(
            "conflict {}:{}: id {} is {where_} with other content\n  stored:   {stored}\n  incoming: {}",
            c.file.display(),
            c.line,
            c.incoming.id,
            c.incoming.to_json_line()
        ));
    }
    for path in &report.rejects_files {
        printer.note(format!(
            "rejected records were written to {}",
            path.display()
        ));
    }
    for path in &report.conflicts_files {
        printer.note(format!(
            "conflicts (both versions) were written to {}",
            path.display()
        ));
    }
    if report.stopped_early {
        printer.warn(format!(
            "stopped after {} rejects (--max-rejects); events written before that are kept, and re-running the import is safe",
            s.rejected
        ));
    }
    let mut human = String::new();
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
    printer.result(human, &json);
}
