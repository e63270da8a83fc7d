//! `chronicle project NAME`: the cron job that applies the events received
//! since a projection's checkpoint.

use clap::Args;

use chronicle::exit::ExitStatus;
use chronicle::projection::boundary::Prefer;
use chronicle::projection::{self, config, Mode};
use chronicle::settings::Settings;

use super::progress;
use super::rebuild::{options, print_report, ClockArgs};
use crate::cli::printer::Printer;

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

pub fn run(
    args: ProjectArgs,
    settings: &Settings,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let def = config::find(&settings.config.projections, &args.name)?;
    let options = options(settings, args.dry_run, args.prefer, &args.clock)?;
    let progress = progress(printer);
    let report = projection::run(&def, Mode::Project, &options, progress.as_ref())?;
    print_report(&report, printer, settings)?;
    Ok(ExitStatus::Success)
}
