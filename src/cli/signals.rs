//! SIGINT (Ctrl-C) and SIGTERM for the commands that run long jobs: the
//! first signal asks the job to stop at its next batch boundary through
//! the library's cancellation flag (`chronicle::cancel`), so that it commits
//! what it has, records the run as interrupted and exits 130 or 143. A
//! second signal ends the process at once, as a kill would: everything
//! chronicle writes is idempotent and crash-safe, so that only loses the
//! work since the last commit.

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use chronicle::cancel::{self, Interrupted};

/// Handles SIGINT and SIGTERM on a thread of their own from now on.
/// `quiet` keeps the notice of the first signal off stderr.
pub fn install(quiet: bool) -> anyhow::Result<()> {
    let mut signals = Signals::new([SIGINT, SIGTERM])?;
    std::thread::spawn(move || {
        let mut received = false;
        for signal in signals.forever() {
            let name = Interrupted { signal }.name();
            if received {
                eprintln!("{name} again: stopping now; re-running the same command is safe");
                std::process::exit(128 + signal);
            }
            received = true;
            cancel::interrupt(signal);
            if !quiet {
                eprintln!(
                    "{name} received: stopping at the next batch boundary (send it again to stop at once)"
                );
            }
        }
    });
    Ok(())
}
