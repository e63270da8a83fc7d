//! One module per subcommand. Each turns its arguments into the library's
//! options, calls the library, and prints through the `Printer`; none of them
//! does the work itself.

pub mod archive;
pub mod export;
pub mod import;
pub mod mapping;
pub mod project;
pub mod rebuild;
pub mod replay;
pub mod status;
pub mod verify;

use chronicle::exit::ExitStatus;
use chronicle::progress::{NoProgress, Progress};
use chronicle::settings::{Overrides, Settings};
use chronicle::store::{self, Store};

use crate::cli::printer::Printer;
use crate::cli::progress_bar::TerminalProgress;
use crate::cli::{Cli, Command, GlobalArgs};

pub fn run(cli: Cli, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let settings = resolve_settings(&cli.global)?;
    match cli.command {
        Command::Import(args) => import::run(args, &settings, printer),
        Command::Mapping(args) => mapping::run(args, printer),
        Command::Export(args) => export::run(args, &settings, printer),
        Command::Status(args) => status::run(args, &settings, printer),
        Command::Archive(args) => archive::run(args, &settings, printer),
        Command::Verify(args) => verify::run(args, &settings, printer),
        Command::Replay(args) => replay::run(args, &settings, printer),
        Command::Rebuild(args) => rebuild::run(args, &settings, printer),
        Command::Project(args) => project::run(args, &settings, printer),
    }
}

fn resolve_settings(global: &GlobalArgs) -> anyhow::Result<Settings> {
    Settings::resolve(&Overrides {
        store: global.store.clone(),
        config: global.config.clone(),
    })
}

pub fn open_store(settings: &Settings) -> anyhow::Result<Box<dyn Store>> {
    store::open(&settings.store)
}

pub fn progress(printer: &Printer) -> Box<dyn Progress> {
    if printer.wants_progress() {
        Box::new(TerminalProgress::new())
    } else {
        Box::new(NoProgress)
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
