//! `chronicle completions SHELL` and `chronicle man`: the shell completion
//! script and the man pages, both generated from the clap definitions so
//! they never fall behind the flags.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, CommandFactory};
use clap_complete::Shell;

use chronicle::exit::ExitStatus;

use super::Cli;
use crate::cli::printer::Printer;

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for
    #[arg(value_enum)]
    pub shell: Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write chronicle.1 and one page per subcommand (chronicle-import-csv.1, ...) into DIR
    /// instead of printing chronicle.1 to stdout
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

pub fn completions(args: CompletionsArgs, printer: &Printer) -> anyhow::Result<ExitStatus> {
    // Rendered in memory first: the generator panics on a failed write,
    // while the Printer's stdout turns a closed pipe into a clean exit.
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "chronicle", &mut script);
    let mut out = printer.stdout();
    out.write_all(&script)?;
    out.flush()?;
    Ok(ExitStatus::Success)
}

pub fn man(args: ManArgs, printer: &Printer) -> anyhow::Result<ExitStatus> {
    match args.dir {
        Some(dir) => {
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            clap_mangen::generate_to(Cli::command(), &dir)
                .with_context(|| format!("cannot write man pages into {}", dir.display()))?;
            printer.note(format!("man pages written to {}", dir.display()));
        }
        None => {
            let mut page = Vec::new();
            clap_mangen::Man::new(Cli::command()).render(&mut page)?;
            let mut out = printer.stdout();
            out.write_all(&page)?;
            out.flush()?;
        }
    }
    Ok(ExitStatus::Success)
}
