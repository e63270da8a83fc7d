//! One module per subcommand. Each turns its arguments into the library's
//! options, calls the library, and prints through the `Printer`; none of them
//! does the work itself.

pub mod archive;
pub mod completions;
pub mod export;
pub mod import;
pub mod mapping;
pub mod project;
pub mod rebuild;
pub mod replay;
pub mod status;
pub mod verify;

use chronicle::cancel::Interrupted;
use chronicle::event::{format_millis, Millis};
use chronicle::exit::ExitStatus;
use chronicle::progress::{NoProgress, Progress};
use chronicle::settings::{Overrides, Settings};
use chronicle::store::{self, ScanFilter, Store};

use crate::cli::printer::Printer;
use crate::cli::progress_bar::TerminalProgress;
use crate::cli::summary::Figures;
use crate::cli::{Cli, Command, GlobalArgs};

pub fn run(mut cli: Cli, printer: &Printer) -> anyhow::Result<ExitStatus> {
    // These two need no settings: a broken chronicle.toml must not stop
    // someone from installing completions or reading the manual.
    let mut command = match cli.command {
        Command::Completions(args) => return completions::completions(args, printer),
        Command::Man(args) => return completions::man(args, printer),
        command => command,
    };
    // `archive --to` and `replay --from` are the old names of the global
    // `--archive`: folded into it, so that settings resolve it once.
    let old_name = match &mut command {
        Command::Archive(args) => args.to.take().map(|a| ("--to", a)),
        Command::Replay(args) => args.from.take().map(|a| ("--from", a)),
        _ => None,
    };
    if let Some((flag, archive)) = old_name {
        if cli.global.archive.is_some() {
            anyhow::bail!("give the archive once: {flag} is the old name of --archive");
        }
        cli.global.archive = Some(archive);
    }
    let settings = resolve_settings(&cli.global)?;
    match command {
        Command::Import(args) => import::run(args, &settings, printer),
        Command::Mapping(args) => mapping::run(args, printer),
        Command::Export(args) => export::run(args, &settings, printer),
        Command::Status(args) => status::run(args, &settings, printer),
        Command::Archive(args) => archive::run(args, &settings, printer),
        Command::Verify(args) => verify::run(args, &settings, printer),
        Command::Replay(args) => replay::run(args, &settings, printer),
        Command::Rebuild(args) => rebuild::run(args, &settings, printer),
        Command::Project(args) => project::run(args, &settings, printer),
        Command::Completions(_) | Command::Man(_) => unreachable!("handled above"),
    }
}

fn resolve_settings(global: &GlobalArgs) -> anyhow::Result<Settings> {
    Settings::resolve(&Overrides {
        store: global.store.clone(),
        config: global.config.clone(),
        archive: global.archive.clone(),
    })
}

/// The store for a command that writes (import, archive, replay): created
/// when it does not exist.
pub fn open_store(settings: &Settings) -> anyhow::Result<Box<dyn Store>> {
    store::open(&settings.store)
}

/// The store for a command that only reads (status, export, verify): it
/// must exist, and is opened read-only.
pub fn open_existing_store(settings: &Settings) -> anyhow::Result<Box<dyn Store>> {
    store::open_existing(&settings.store)
}

/// The summary figures of a command on the configured store.
pub fn figures<'a>(settings: &Settings, events: u64) -> Figures<'a> {
    Figures::new(store::describe_uri(&settings.store), events)
}

/// The scan filter of `--type/--since/--until`. An empty or inverted range
/// is refused (exit 2) rather than reading nothing and reporting success.
pub fn scan_filter(
    types: Vec<String>,
    since: Option<Millis>,
    until: Option<Millis>,
) -> anyhow::Result<ScanFilter> {
    if let (Some(since), Some(until)) = (since, until) {
        anyhow::ensure!(
            since < until,
            "--since {} is not before --until {}: the range is empty (--until is exclusive)",
            format_millis(since),
            format_millis(until)
        );
    }
    Ok(ScanFilter {
        types,
        since,
        until,
    })
}

pub fn progress(printer: &Printer) -> Box<dyn Progress> {
    if printer.wants_progress() {
        Box::new(TerminalProgress::new())
    } else {
        Box::new(NoProgress)
    }
}

/// Ends a job that a signal stopped at a batch boundary: says what was
/// kept and how to go on, and picks the exit code (130 or 143).
pub fn interrupted(printer: &Printer, interrupt: Interrupted, kept: &str) -> ExitStatus {
    printer.warn(format!(
        "{interrupt}: stopped at a batch boundary; {kept}. Run the same command again to finish the job (that is safe: nothing is written twice)"
    ));
    ExitStatus::interrupted(interrupt)
}

/// The line that says how many of `total` problems the `shown` samples
/// above it left out, so a `--quiet` cron mail never understates a run.
pub fn more_not_shown(printer: &Printer, total: u64, shown: usize, what: &str) {
    let shown = shown as u64;
    if total > shown {
        printer.problem(
            format!("... and {} more {what}", thousands(total - shown)),
            None,
        );
    }
}

/// `1234567` as `1,234,567`, for summaries people read at 3 a.m.
/// (indicatif's formatter, so that progress bars and summaries agree).
pub fn thousands(n: u64) -> String {
    indicatif::HumanCount(n).to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn thousands_are_grouped_by_commas() {
        for (n, shown) in [
            (0, "0"),
            (999, "999"),
            (1_000, "1,000"),
            (1_234_567, "1,234,567"),
            (u64::MAX, "18,446,744,073,709,551,615"),
        ] {
            assert_eq!(super::thousands(n), shown);
        }
    }
}
