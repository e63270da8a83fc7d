//! Command-line definitions. The `///` comments on these fields are the
//! `--help` text.

pub mod examples;
pub mod printer;
pub mod progress_bar;
pub mod signals;
pub mod summary;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::commands;

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

/// Flags accepted before or after any subcommand.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Store URI: sqlite:PATH or mongodb://HOST:PORT/DB [default: sqlite:chronicle.db]
    #[arg(long, global = true, env = "CHRONICLE_STORE", value_name = "URI")]
    pub store: Option<String>,
    /// Config file [default: ./chronicle.toml when it exists]
    #[arg(long, global = true, env = "CHRONICLE_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Archive location: a folder, file:///abs/path or s3://bucket/prefix [default: CHRONICLE_ARCHIVE, else `archive` in chronicle.toml, else ./archive]
    #[arg(long, global = true, value_name = "DIR")]
    pub archive: Option<String>,
    /// Print the result as one JSON object on stdout
    #[arg(long, global = true)]
    pub json: bool,
    /// Print nothing but errors
    #[arg(long, short, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Print more detail (every reject and conflict)
    #[arg(long, short, global = true)]
    pub verbose: bool,
    /// Also write the run's figures to FILE in the Prometheus text format, atomically (for
    /// node_exporter's textfile collector; see docs/json.md)
    #[arg(long, global = true, value_name = "FILE")]
    pub metrics_file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Import CSV exports, database dumps or canonical JSON lines into the store
    #[command(after_help = examples::IMPORT)]
    Import(commands::import::ImportArgs),
    /// Draft a mapping file from a sample of an input (CSV or dump)
    #[command(after_help = examples::MAPPING)]
    Mapping(commands::mapping::MappingArgs),
    /// Write stored events as canonical JSON lines in (received_at, id) order
    #[command(after_help = examples::EXPORT)]
    Export(commands::export::ExportArgs),
    /// Show what the store holds and the recorded import runs
    #[command(after_help = examples::STATUS)]
    Status(commands::status::StatusArgs),
    /// Move old partitions of the live store into Parquet files (see docs/archive.md)
    #[command(after_help = examples::ARCHIVE)]
    Archive(commands::archive::ArchiveArgs),
    /// Check the archive against its manifests and the live store
    #[command(after_help = examples::VERIFY)]
    Verify(commands::verify::VerifyArgs),
    /// Stream archived events back into a store, idempotently
    #[command(after_help = examples::REPLAY)]
    Replay(commands::replay::ReplayArgs),
    /// Rebuild a projection from every archived and live event (blue/green)
    #[command(after_help = examples::REBUILD)]
    Rebuild(commands::rebuild::RebuildArgs),
    /// Bring a projection up to date with the events received since its checkpoint (for cron)
    #[command(after_help = examples::PROJECT)]
    Project(commands::project::ProjectArgs),
    /// Print a shell completion script (bash, zsh, fish or powershell) to stdout
    #[command(after_help = examples::COMPLETIONS)]
    Completions(commands::completions::CompletionsArgs),
    /// Print the man page, or write one per subcommand with --dir
    #[command(after_help = examples::MAN)]
    Man(commands::completions::ManArgs),
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
