//! `chronicle rebuild NAME` and `chronicle project NAME`, which differ only in
//! their mode: a rebuild recomputes a projection from every archived and
//! live event; `project` (the cron job) applies the events received since
//! the projection's checkpoint. Both print the same summary.

use std::fmt::Write as _;

use clap::Args;

use chronicle::event::{now_millis, parse_time_bound, Millis};
use chronicle::exit::ExitStatus;
use chronicle::projection::boundary::Prefer;
use chronicle::projection::emit_sql::{self, Engine};
use chronicle::projection::{self, config, Mode, RunOptions, RunReport};
use chronicle::settings::Settings;
use chronicle::store::{self, OpenMode};

use super::{figures, progress, thousands};
use crate::cli::printer::Printer;

#[derive(Debug, Args)]
pub struct RebuildArgs {
    /// The projection, as named by [projections.NAME] in chronicle.toml
    pub name: String,
    /// Count what would be read, per source and per type, and write nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Which version counts when an id is both live and archived with different content (a store written before archived-id records existed); without it the run stops with exit 1 naming the ids
    #[arg(long, value_name = "archive|live")]
    pub prefer: Option<Prefer>,
    /// Print the SQL that computes this projection on DuckDB or Spark from the archive and an exported live part, and run nothing (docs/scale-out.md)
    #[arg(long, value_name = "duckdb|spark", conflicts_with_all = ["dry_run", "prefer"])]
    pub emit_sql: Option<Engine>,
    /// With --emit-sql: the live part the SQL reads, JSON lines written by `chronicle export` [default: live.jsonl]
    #[arg(long, value_name = "FILE", requires = "emit_sql")]
    pub live_part: Option<String>,
    #[command(flatten)]
    pub clock: ClockArgs,
}

#[derive(Debug, Args)]
pub struct ProjectArgs {
    /// The projection, as named by [projections.NAME] in chronicle.toml
    pub name: String,
    /// Count what would be applied, per source and per type, and write nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Which version counts when an id is both live and archived with different content; without it the run stops with exit 1 naming the ids
    #[arg(long, value_name = "archive|live")]
    pub prefer: Option<Prefer>,
    #[command(flatten)]
    pub clock: ClockArgs,
}

/// The clock of a run, fixed for tests and reproductions.
#[derive(Debug, Args)]
pub struct ClockArgs {
    /// Take this instant as "now" (RFC 3339); the stable time is NOW minus the lag
    #[arg(long, value_name = "TIME", value_parser = parse_time_bound, hide = true)]
    pub now: Option<Millis>,
}

fn options(
    settings: &Settings,
    dry_run: bool,
    prefer: Option<Prefer>,
    clock: &ClockArgs,
) -> anyhow::Result<RunOptions> {
    Ok(RunOptions {
        // Read besides the live store when the folder exists.
        archive: Some(chronicle::archive::location::Archive::open(
            &settings.archive,
        )?),
        now: clock.now.unwrap_or_else(now_millis),
        dry_run,
        prefer,
    })
}

/// `chronicle rebuild NAME`.
pub fn run(
    args: RebuildArgs,
    settings: &Settings,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    if let Some(engine) = args.emit_sql {
        let def = config::find(&settings.config.projections, &args.name)?;
        let inputs = emit_sql::Inputs {
            archive: settings.archive.to_string(),
            live: args.live_part.unwrap_or_else(|| "live.jsonl".into()),
            until: args.clock.now.unwrap_or_else(now_millis) - def.lag_ms,
        };
        std::io::Write::write_all(
            &mut printer.stdout(),
            emit_sql::emit(&def, engine, &inputs)?.as_bytes(),
        )?;
        return Ok(ExitStatus::Success);
    }
    let options = options(settings, args.dry_run, args.prefer, &args.clock)?;
    run_mode(&args.name, Mode::Rebuild, &options, settings, printer)
}

/// `chronicle project NAME`.
pub fn run_project(
    args: ProjectArgs,
    settings: &Settings,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let options = options(settings, args.dry_run, args.prefer, &args.clock)?;
    run_mode(&args.name, Mode::Project, &options, settings, printer)
}

fn run_mode(
    name: &str,
    mode: Mode,
    options: &RunOptions,
    settings: &Settings,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let def = config::find(&settings.config.projections, name)?;
    let progress = progress(printer);
    let stores = |mode: OpenMode| store::open_with(&settings.store, mode);
    let report = projection::run(&def, mode, options, &stores, progress.as_ref())?;
    print_report(&report, printer, settings)?;
    Ok(ExitStatus::Success)
}

fn print_report(report: &RunReport, printer: &Printer, settings: &Settings) -> anyhow::Result<()> {
    let mut human = String::new();
    let verb = match (report.mode, report.dry_run) {
        (_, true) => "would read",
        (Mode::Rebuild, false) => "rebuilt from",
        (Mode::Project, false) => "applied",
    };
    if report.up_to_date {
        let _ = write!(
            human,
            "{} {}: up to date (checkpoint {} is at or past the stable time {})",
            report.mode_name(),
            report.projection,
            report.since.as_deref().unwrap_or("-"),
            report.until
        );
    } else {
        let _ = writeln!(
            human,
            "{} {} ({}): {verb} {} events received {} .. {} (exclusive)",
            report.mode_name(),
            report.projection,
            report.kind,
            thousands(report.events),
            report.since.as_deref().unwrap_or("since the beginning"),
            report.until
        );
        let _ = writeln!(
            human,
            "  sources: {} archived, {} live, {} in both (counted once{})",
            thousands(report.from_archive),
            thousands(report.from_live),
            thousands(report.in_both),
            if report.in_both_differing > 0 {
                format!(
                    "; {} with different content, settled by --prefer",
                    thousands(report.in_both_differing)
                )
            } else {
                String::new()
            }
        );
        for (t, n) in &report.per_type {
            let _ = writeln!(human, "  {:>12}  {t}", thousands(*n));
        }
        if !report.dry_run {
            let _ = match report.table_rows {
                // A latest table holds one row per aggregate, however many
                // events updated it.
                Some(rows) => writeln!(
                    human,
                    "  {} rows in {} ({} events applied); checkpoint now {}",
                    thousands(rows),
                    report.target,
                    thousands(report.events_applied),
                    report.until
                ),
                None => writeln!(
                    human,
                    "  {} rows written to {}; checkpoint now {}",
                    thousands(report.rows_written),
                    report.target,
                    report.until
                ),
            };
        }
        if report.without_aggregate > 0 {
            printer.warn(format!(
                "{} events have no meta.aggregate_id and have no row in a latest projection",
                thousands(report.without_aggregate)
            ));
        }
        let _ = write!(
            human,
            "  {:.2} s, {} events/s",
            report.elapsed_s,
            thousands(report.events_per_s as u64)
        );
    }
    printer.summary(
        human.trim_end(),
        &serde_json::to_value(report)?,
        figures(settings, report.events),
    )?;
    Ok(())
}
