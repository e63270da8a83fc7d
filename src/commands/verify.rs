//! `chronicle verify`: checks the archive folder (and, through the store,
//! that nothing is both live and archived, and that the store's archived-id
//! records match the archive exactly); exit 1 when anything is wrong.
//! `--repair` makes the records match the archive (the upgrade of a store
//! written before archived-id records existed).

use std::fmt::Write as _;

use clap::Args;

use chronicle::archive::archived_ids::check_records;
use chronicle::archive::verify::{verify, VerifyProblem};
use chronicle::archive::with_archive_lock;
use chronicle::exit::ExitStatus;
use chronicle::settings::Settings;

use super::{figures, open_existing_store, progress, thousands};
use crate::cli::printer::Printer;

/// The archive is the global `--archive`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Make the store's archived-id records match the archive: write the
    /// missing and differing ones, remove those the archive does not back
    /// (takes the archive lock)
    #[arg(long)]
    pub repair: bool,
}

pub fn run(args: VerifyArgs, settings: &Settings, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let root = &chronicle::archive::location::Archive::open(&settings.archive)?;
    // --repair writes archived-id records; plain verify only reads.
    let mut store = if args.repair {
        chronicle::store::open_with(&settings.store, chronicle::store::OpenMode::Existing)?
    } else {
        open_existing_store(settings)?
    };
    let progress = progress(printer);
    let mut report = verify(root, Some(store.as_mut()), progress.as_ref())?;
    let records = if args.repair {
        with_archive_lock(store.as_mut(), root, |store| {
            check_records(root, store, true)
        })?
    } else {
        check_records(root, store.as_mut(), false)?
    };
    for (path, problem) in &records.problems {
        if args.repair {
            eprintln!("repaired: {path}: {problem}");
        } else {
            report.problems.push(VerifyProblem {
                path: path.clone(),
                problem: problem.clone(),
            });
        }
    }
    // What verify cleaned (object storage) is said like what --repair
    // repaired: one line each on stderr.
    for u in &report.aborted_uploads {
        eprintln!("cleaned: {}: {}", u.object, u.what_was_done());
    }
    // Problems reach stderr in every mode, --quiet and --json included, one
    // line each naming the file, so that cron mail says what is wrong.
    for p in &report.problems {
        printer.problem(
            format!("problem: {}: {}", p.path, p.problem.replace('\n', " ")),
            None,
        );
    }
    let mut human = String::new();
    let _ = write!(
        human,
        "archive {}: {} partitions, {} files, {} rows, {} bytes; {}",
        report.archive,
        report.partitions,
        report.files,
        thousands(report.rows),
        thousands(report.bytes),
        if report.problems.is_empty() {
            "everything checks out".to_string()
        } else {
            format!("{} problems", report.problems.len())
        }
    );
    let mut json = serde_json::to_value(&report)?;
    json["archived_ids"] = serde_json::to_value(&records)?;
    printer.summary(human, &json, figures(settings, report.rows))?;
    Ok(if report.problems.is_empty() {
        ExitStatus::Success
    } else {
        ExitStatus::Problems
    })
}
