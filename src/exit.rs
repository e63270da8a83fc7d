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
    /// Another run holds the lock, or changed the archive folder under this
    /// one (EX_TEMPFAIL: cron may simply retry).
    Locked = 75,
    /// The URI names a backend this binary was built without (a slim
    /// `--no-default-features` build; EX_UNAVAILABLE).
    Unavailable = 69,
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
#[error("{what} is locked by {holder} until {until}; try again later (a lock is taken over once its TTL has passed, or at once when its holder was a process on this host that has died)")]
pub struct LockedError {
    pub what: String,
    pub holder: String,
    pub until: String,
}

/// Raised when a store, target or archive URI names a backend left out of
/// this build by its cargo features (docs/architecture.md, "Optional
/// backends"): the build, not the input, is what is missing.
#[derive(Debug, thiserror::Error)]
#[error("this chronicle was built without {backend} support, so it cannot use `{uri}`; build it with `--features {feature}` (default builds include it)")]
pub struct MissingBackendError {
    /// As people name it: `MongoDB`, `PostgreSQL`, `S3`.
    pub backend: &'static str,
    /// The cargo feature that brings it in.
    pub feature: &'static str,
    /// Redacted.
    pub uri: String,
}

impl MissingBackendError {
    pub fn new(backend: &'static str, feature: &'static str, uri: &str) -> MissingBackendError {
        MissingBackendError {
            backend,
            feature,
            uri: crate::redact::redact_uri(uri),
        }
    }
}

/// Raised when a job stops because of what it found in the data (e.g. an
/// id whose live and archived versions differ), not because it failed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ProblemsError(pub String);

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

/// Raised when another writer changed what this run had read (a lost
/// compare-and-swap on a manifest or a lock): the run stops without
/// overwriting anything, and trying again later is safe.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct LostRaceError(pub String);

/// The exit status an error should produce. The whole chain is searched,
/// because a lock or a lost race may surface with context added on the way.
pub fn status_for_error(error: &anyhow::Error) -> ExitStatus {
    if let Some(interrupt) = interruption(error) {
        ExitStatus::interrupted(interrupt)
    } else if error
        .chain()
        .any(|e| e.is::<LockedError>() || e.is::<LostRaceError>())
    {
        ExitStatus::Locked
    } else if error.chain().any(|e| e.is::<MissingBackendError>()) {
        ExitStatus::Unavailable
    } else if error.chain().any(|e| e.is::<ProblemsError>()) {
        ExitStatus::Problems
    } else if is_stdout_closed(error) {
        ExitStatus::Success
    } else {
        ExitStatus::Fatal
    }
}
