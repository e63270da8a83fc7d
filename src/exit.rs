//! The process exit codes, in one place, and the typed errors that select a
//! code other than the generic fatal one.

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
}

impl ExitStatus {
    pub fn code(self) -> i32 {
        self as i32
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

/// Marks a write to stdout that failed because its reader went away
/// (`chronicle export | head -1`). Only the CLI's stdout writer raises it,
/// wrapped in an `io::Error` of kind `BrokenPipe`, so that a broken pipe
/// elsewhere (an `exec` projection's child dying) stays a real failure.
#[derive(Debug, thiserror::Error)]
#[error("stdout was closed by its reader")]
pub struct StdoutClosed;

/// True when `error` (or one of its causes) is [`StdoutClosed`]: the command
/// then ends quietly with success, as ripgrep and cargo do under `| head`.
pub fn is_stdout_closed(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause.is::<StdoutClosed>()
            || cause
                .downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .is_some_and(|inner| inner.is::<StdoutClosed>())
    })
}

/// The exit status an error should produce.
pub fn status_for_error(error: &anyhow::Error) -> ExitStatus {
    if error.downcast_ref::<LockedError>().is_some() {
        ExitStatus::Locked
    } else if is_stdout_closed(error) {
        ExitStatus::Success
    } else {
        ExitStatus::Fatal
    }
}
