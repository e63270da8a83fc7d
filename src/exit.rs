//! The process exit codes, in one place, and the typed errors that select a
//! code other than the generic fatal one.

use crate::cancel::{interruption, Interrupted};

/// Exit codes of every chronicle command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// Everything was clean.
    Success = 0,
    /// The job finished, but with rejects, conflicts or verification failures.
    Problems = 1,
    /// Nothing useful happened: bad arguments or mapping, unreadable input,
    /// unreachable store, an aborted job.
    Fatal = 2,
    /// Another run holds the lock (EX_TEMPFAIL: cron may simply retry).
    Locked = 75,
    /// Stopped by SIGINT (Ctrl-C) at a batch boundary: 128 + 2, as shells
    /// report it. What was committed is kept; re-running continues.
    Interrupted = 130,
    /// Stopped by SIGTERM at a batch boundary: 128 + 15.
    Terminated = 143,
}

impl ExitStatus {
    pub fn code(self) -> i32 {
        self as i32
    }

    /// The status of a job stopped by `interrupt`.
    pub fn interrupted(interrupt: Interrupted) -> ExitStatus {
        if interrupt.signal == crate::cancel::SIGTERM {
            ExitStatus::Terminated
        } else {
            ExitStatus::Interrupted
        }
    }
}

/// Raised when a job's lock is held by another live run.
#[derive(Debug, thiserror::Error)]
#[error("{what} is locked by {holder} until {until}; try again later (a lock is taken over once its TTL has passed)")]
pub struct LockedError {
    pub what: String,
    pub holder: String,
    pub until: String,
}

/// The exit status an error should produce.
pub fn status_for_error(error: &anyhow::Error) -> ExitStatus {
    if let Some(interrupt) = interruption(error) {
        ExitStatus::interrupted(interrupt)
    } else if error.downcast_ref::<LockedError>().is_some() {
        ExitStatus::Locked
    } else {
        ExitStatus::Fatal
    }
}
