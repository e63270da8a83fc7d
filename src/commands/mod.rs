//! One module per subcommand. Each turns its arguments into the library's
//! options, calls the library, and prints through the `Printer`; none of them
//! does the work itself.

pub mod archive;
pub mod completions;
pub mod export;
pub mod import;
pub mod project;
pub mod rebuild;
pub mod replay;
pub mod status;
pub mod verify;

use chronicle::event::{format_millis, Millis};
use chronicle::exit::ExitStatus;
use chronicle::progress::{NoProgress, Progress};
use chronicle::settings::{Overrides, Settings};
use chronicle::store::{self, ScanFilter, Store};

use crate::cli::printer::Printer;
use crate::cli::progress_bar::TerminalProgress;
use crate::cli::summary::Figures;
use crate::cli::{Cli, Command, GlobalArgs};

pub fn run(cli: Cli, printer: &Printer) -> anyhow::Result<ExitStatus> {
    // These two need no settings: a broken chronicle.toml must not stop
    // someone from installing completions or reading the manual.
    let command = match cli.command {
        Command::Completions(args) => return completions::completions(args, printer),
        Command::Man(args) => return completions::man(args, printer),
        command => command,
    };
    let settings = resolve_settings(&cli.global)?;
    match command {
        Command::Import(args) => import::run(args, &settings, printer),
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
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
