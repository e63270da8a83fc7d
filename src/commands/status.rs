//! `chronicle status`: prints the library's status report.

use std::fmt::Write as _;

use anyhow::Context;
use clap::Args;

use chronicle::exit::ExitStatus;
use chronicle::settings::Settings;
use chronicle::status::{archive_status, status};

use chronicle::duration::format_duration_ms;

use super::{figures, open_existing_store, thousands};
use crate::cli::printer::Printer;

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Also list live events per month of received_at and every archived partition
    #[arg(long)]
    pub months: bool,
    /// Import runs to show: the last N, or `all`
    #[arg(long, value_name = "N|all", default_value = "5", value_parser = parse_runs)]
    pub runs: RunsShown,
}

#[derive(Debug, Clone, Copy)]
pub enum RunsShown {
    Last(usize),
    All,
}

fn parse_runs(text: &str) -> Result<RunsShown, String> {
    match text {
        "all" => Ok(RunsShown::All),
        n => n
            .parse()
            .map(RunsShown::Last)
            .map_err(|_| format!("`{n}` is neither a number nor `all`")),
    }
}

pub fn run(args: StatusArgs, settings: &Settings, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let mut store = open_existing_store(settings)?;
    let described = store.describe();
    let mut report =
        status(store.as_mut()).with_context(|| format!("cannot read store {described}"))?;
    report.archive = archive_status(&chronicle::archive::location::Archive::open(
        &settings.archive,
    )?)?;
    report.summarise_years();
    report.keep_last_runs(match args.runs {
        RunsShown::Last(n) => Some(n),
        RunsShown::All => None,
    });
    let now = chronicle::event::now_millis();
    report.projections =
        chronicle::projection::statuses(&settings.config.projections, &settings.store, now);
    let mut human = String::new();
    let _ = writeln!(
        human,
        "store {}: {} live events",
        report.store,
        thousands(report.live_total)
    );
    if let Some(archive) = &report.archive {
        let _ = writeln!(
            human,
            "archive {}: {} events in {} files, {} bytes",
            archive.folder,
            thousands(archive.total),
            archive.files,
            thousands(archive.bytes)
        );
    }
    if !report.by_year.is_empty() {
        let width = report
            .by_year
            .iter()
            .map(|y| y.event_type.len())
            .max()
            .unwrap_or(4)
            .max(4);
        // Without an archive folder, archived counts are unknown, not 0.
        let archived = |n: u64| match report.archive {
            Some(_) => format!("  {:>12}", thousands(n)),
            None => String::new(),
        };
        let _ = writeln!(
            human,
            "\nevents per year of received_at\n  year  {:<width$}  {:>12}{}",
            "type",
            "live",
            if report.archive.is_some() {
                format!("  {:>12}", "archived")
            } else {
                String::new()
            }
        );
        for y in &report.by_year {
            let _ = writeln!(
                human,
                "  {}  {:<width$}  {:>12}{}",
                y.year,
                y.event_type,
                thousands(y.live),
                archived(y.archived)
            );
        }
    }
    if args.months {
        if !report.live_by_month.is_empty() {
            let _ = writeln!(human, "\nlive events per month of received_at");
            for row in &report.live_by_month {
                let _ = writeln!(
                    human,
                    "  {}  {:>12}  {}",
                    row.month,
                    thousands(row.count),
                    row.event_type
                );
            }
        }
        if let Some(archive) = &report.archive {
            let _ = writeln!(human, "\narchived partitions");
            for p in &archive.partitions {
                let _ = writeln!(
                    human,
                    "  {:<10}  {:>12}  {} files  {:>14} bytes",
                    p.partition,
                    thousands(p.rows),
                    p.files,
                    thousands(p.bytes)
                );
            }
        }
    }
    // Archived-id records per partition: with --months, or whenever they
    // do not match the archive (a store not upgraded yet).
    let recorded: u64 = report.archived_ids.iter().map(|c| c.ids).sum();
    let archived_total = report.archive.as_ref().map_or(0, |a| a.total);
    if (args.months && (recorded > 0 || report.archive.is_some())) || recorded != archived_total {
        let _ = writeln!(human, "\narchived-id records in the store, per partition");
        let rows_of = |partition: &str| {
            report.archive.as_ref().and_then(|a| {
                a.partitions
                    .iter()
                    .find(|p| p.partition == partition)
                    .map(|p| p.rows)
            })
        };
        let mut names: Vec<&str> = report
            .archived_ids
            .iter()
            .map(|c| c.partition.as_str())
            .chain(
                report
                    .archive
                    .iter()
                    .flat_map(|a| a.partitions.iter().map(|p| p.partition.as_str())),
            )
            .collect();
        names.sort_unstable();
        names.dedup();
        for name in names {
            let ids = report
                .archived_ids
                .iter()
                .find(|c| c.partition == name)
                .map_or(0, |c| c.ids);
            let note = match rows_of(name) {
                Some(rows) if rows == ids => String::new(),
                Some(rows) => format!(
                    "  (archive holds {}: run `chronicle verify --repair`)",
                    thousands(rows)
                ),
                None => "  (no such partition in the archive folder)".to_string(),
            };
            let _ = writeln!(human, "  {name:<10}  {:>12}{note}", thousands(ids));
        }
    }
    if !report.import_runs.is_empty() {
        let shown = report.import_runs.len() as u64;
        let _ = if shown < report.import_runs_total {
            writeln!(
                human,
                "\nimport runs (the last {shown} of {}; --runs all shows every one)",
                report.import_runs_total
            )
        } else {
            writeln!(human, "\nimport runs")
        };
        for run in &report.import_runs {
            let _ = writeln!(
                human,
                "  {}  {:<8} {}  read {} imported {} duplicates {} conflicts {} rejected {} skipped {}{}{}",
                run.started_at,
                run.source,
                run.file,
                thousands(run.counts.read),
                thousands(run.counts.imported),
                thousands(run.counts.duplicates),
                thousands(run.counts.conflicts),
                thousands(run.counts.rejected),
                thousands(run.counts.skipped),
                run.created_months()
                    .map(|m| format!("  created {m}"))
                    .unwrap_or_default(),
                run.ending()
            );
        }
    }
    if !report.projections.is_empty() {
        let _ = writeln!(human, "\nprojections");
        for p in &report.projections {
            let _ = match (&p.error, &p.checkpoint) {
                (Some(e), _) => writeln!(human, "  {:<20} {:<6} error: {e}", p.name, p.kind),
                (None, None) => writeln!(human, "  {:<20} {:<6} never run (chronicle rebuild {})", p.name, p.kind, p.name),
                (None, Some(checkpoint)) => writeln!(
                    human,
                    "  {:<20} {:<6} checkpoint {checkpoint}, {} behind (lag {}), last run: {} at {}, {} events",
                    p.name,
                    p.kind,
                    format_duration_ms(p.behind_ms.unwrap_or(0)),
                    format_duration_ms(p.lag_ms),
                    p.last_run.as_deref().unwrap_or("-"),
                    p.last_run_at.as_deref().unwrap_or("-"),
                    thousands(p.last_run_events.unwrap_or(0))
                ),
            };
        }
    }
    printer.summary(
        human.trim_end(),
        &serde_json::to_value(&report)?,
        figures(settings, report.live_total),
    )?;
    Ok(ExitStatus::Success)
}
