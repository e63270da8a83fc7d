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

/// Tells mimalloc to keep the memory it frees instead of returning it to the
/// OS after 10 ms, for the projection runs: their Parquet readers allocate
/// and free megabyte buffers per column chunk and page, and each return and
/// re-fault cost a zeroed 2 MiB transparent huge page (measured: a fifth of a
/// rebuild's CPU, see docs/performance.md). Their peak RSS stays ~100 MB.
fn keep_freed_memory() {
    extern "C" {
        // mimalloc's own API (the symbol is in the library the allocator
        // above links); `mi_option_purge_delay` is 15 in mimalloc v2 and v3.
        fn mi_option_set(option: std::ffi::c_int, value: std::ffi::c_long);
    }
    const MI_OPTION_PURGE_DELAY: std::ffi::c_int = 15;
    // SAFETY: a plain option store, called before the job's threads start.
    unsafe { mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
}

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
    if matches!(
        args.command,
        commands::Command::Rebuild(_) | commands::Command::Project(_)
    ) {
        keep_freed_memory();
    }
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
