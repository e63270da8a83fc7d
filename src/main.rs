//! The `chronicle` binary: parses arguments, resolves settings once, runs one
//! command and turns its outcome into an exit code. All behaviour lives in
//! the library; see src/commands/ for the thin per-command glue.

mod cli;
mod commands;

use std::process::ExitCode;

/// mimalloc rather than the system allocator: pipelines allocate event
/// strings on reader threads and free them on the folding thread, a pattern
/// glibc's malloc handles poorly (measured: a third of a rebuild's time).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::Parser;

use chronicle::exit::{is_stdout_closed, status_for_error};

fn main() -> ExitCode {
    let args = commands::Cli::parse();
    let printer = cli::printer::Printer::new(&args.global, args.command.name());
    // The jobs that check the library's interrupt flag stop cleanly on
    // SIGINT/SIGTERM; the other commands only read and keep the default
    // (die at once).
    let long_job = matches!(
        args.command,
        commands::Command::Import(_)
            | commands::Command::Export(_)
            | commands::Command::Archive(_)
            | commands::Command::Replay(_)
            | commands::Command::Rebuild(_)
            | commands::Command::Project(_)
    );
    if long_job {
        if let Err(error) = cli::signals::install(args.global.quiet) {
            printer.error(&error);
            return ExitCode::from(status_for_error(&error).code() as u8);
        }
    }
    let status = match commands::run(args, &printer) {
        Ok(status) => status,
        Err(error) => {
            // A reader that stopped reading (`| head`) is not a failure.
            if !is_stdout_closed(&error) {
                printer.error(&error);
            }
            status_for_error(&error)
        }
    };
    printer.finish(status.code());
    ExitCode::from(status.code() as u8)
}
