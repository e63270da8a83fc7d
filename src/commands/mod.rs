//! The command line's subcommands: [`Cli`] and [`Command`] (the `///`
//! comments are the `--help` text), and one module per subcommand. Each
//! turns its arguments into the library's options, calls the library, and
//! prints through `crate::cli`'s `Printer`; none of them does the work
//! itself.

pub mod archive;
pub mod completions;
pub mod export;
pub mod import;
pub mod mapping;
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

use clap::{Parser, Subcommand};

use crate::cli::printer::Printer;
use crate::cli::progress_bar::TerminalProgress;
use crate::cli::summary::Figures;
use crate::cli::{examples, GlobalArgs};

pub use crate::cli::thousands;

#[derive(Debug, Parser)]
#[command(
    name = "chronicle",
    version,
    about = "Import, export, archive, replay and rebuild for an append-only event store",
    long_about = "chronicle keeps a company's source of truth: every domain event is stored once, \
                  by id, and kept forever. Writes are idempotent: the same id with the same \
                  content is a duplicate, the same id with other content is a conflict that is \
                  reported and never overwritten."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Import CSV exports, database dumps or canonical JSON lines into the store
    #[command(after_help = examples::IMPORT)]
    Import(import::ImportArgs),
    /// Draft a mapping file from a sample of an input (CSV or dump)
    #[command(after_help = examples::MAPPING)]
    Mapping(mapping::MappingArgs),
    /// Write stored events as canonical JSON lines in (received_at, id) order
    #[command(after_help = examples::EXPORT)]
    Export(export::ExportArgs),
    /// Show what the store holds and the recorded import runs
    #[command(after_help = examples::STATUS)]
    Status(status::StatusArgs),
    /// Move old partitions of the live store into Parquet files (see docs/archive.md)
    #[command(after_help = examples::ARCHIVE)]
    Archive(archive::ArchiveArgs),
    /// Check the archive against its manifests and the live store
    #[command(after_help = examples::VERIFY)]
    Verify(verify::VerifyArgs),
    /// Stream archived events back into a store, idempotently
    #[command(after_help = examples::REPLAY)]
    Replay(replay::ReplayArgs),
    /// Rebuild a projection from every archived and live event (blue/green)
    #[command(after_help = examples::REBUILD)]
    Rebuild(rebuild::RebuildArgs),
    /// Bring a projection up to date with the events received since its checkpoint (for cron)
    #[command(after_help = examples::PROJECT)]
    Project(rebuild::ProjectArgs),
    /// Print a shell completion script (bash, zsh, fish or powershell) to stdout
    #[command(after_help = examples::COMPLETIONS)]
    Completions(completions::CompletionsArgs),
    /// Print the man page, or write one per subcommand with --dir
    #[command(after_help = examples::MAN)]
    Man(completions::ManArgs),
}

impl Command {
    /// The subcommand's name, as `command` in `--json` summaries and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Import(_) => "import",
            Command::Mapping(_) => "mapping",
            Command::Export(_) => "export",
            Command::Status(_) => "status",
            Command::Archive(_) => "archive",
            Command::Verify(_) => "verify",
            Command::Replay(_) => "replay",
            Command::Rebuild(_) => "rebuild",
            Command::Project(_) => "project",
            Command::Completions(_) => "completions",
            Command::Man(_) => "man",
        }
    }
}

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
        Command::Project(args) => rebuild::run_project(args, &settings, printer),
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

#[cfg(test)]
mod help_examples {
    use clap::{CommandFactory, Parser};

    use super::Cli;

    /// Every `chronicle ...` command of a help text, cut at pipes and
    /// redirections.
    fn commands(help: &str) -> Vec<Vec<String>> {
        help.lines()
            .flat_map(|line| line.split('|'))
            .map(|part| part.split('>').next().unwrap().trim())
            .filter(|part| part.starts_with("chronicle "))
            .map(|part| part.split_whitespace().map(str::to_string).collect())
            .collect()
    }

    #[test]
    fn every_subcommand_ends_its_help_with_examples_that_parse() {
        fn walk(cmd: &clap::Command, path: &mut Vec<String>) {
            for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
                path.push(sub.get_name().to_string());
                let help = sub
                    .get_after_help()
                    .map(|h| h.to_string())
                    .unwrap_or_default();
                let lines: Vec<&str> = help.lines().collect();
                assert_eq!(lines.first(), Some(&"Examples:"), "{path:?}");
                let examples = lines.len() - 1;
                // Short enough that clap never wraps them (it wraps at 100).
                for line in &lines {
                    assert!(line.len() <= 96, "{path:?}: too long for one line: {line}");
                }
                assert!((2..=4).contains(&examples), "{path:?}: {examples} examples");
                for words in commands(&help) {
                    if let Err(e) = Cli::try_parse_from(&words) {
                        panic!("{path:?}: example {words:?} does not parse: {e}");
                    }
                }
                // Each example runs the subcommand it documents.
                let own = commands(&help)
                    .into_iter()
                    .filter(|w| path.iter().all(|p| w.contains(p)))
                    .count();
                assert!(own >= 2, "{path:?}: fewer than 2 examples of itself");
                walk(sub, path);
                path.pop();
            }
        }
        walk(&Cli::command(), &mut Vec::new());
    }
}
