//! Transient-failure handling for the MongoDB store: which driver errors are
//! worth repeating, the backoff between attempts, and the one-line messages
//! that name the server without the driver's topology dump. Every operation
//! the store repeats goes through [`MongoStore::retry`], so the rule for
//! "safe to try again" lives here once.

use std::time::Duration;

use anyhow::anyhow;
use mongodb::error::{Error as MongoError, ErrorKind, WriteFailure};

use super::MongoStore;

/// Attempts of one operation before a transient error becomes fatal.
pub(super) const MAX_ATTEMPTS: u32 = 6;
/// Duplicate-key error code (the server's E11000).
pub(super) const DUPLICATE_KEY: i32 = 11000;

/// Server error codes after which repeating the same write is safe and may
/// succeed: network trouble, a primary stepping down or restarting, write
/// conflicts and time-outs.
pub(super) const TRANSIENT_CODES: &[i32] = &[
    6,     // HostUnreachable
    7,     // HostNotFound
    89,    // NetworkTimeout
    91,    // ShutdownInProgress
    112,   // WriteConflict
    134,   // ReadConcernMajorityNotAvailableYet
    189,   // PrimarySteppedDown
    262,   // ExceededTimeLimit
    9001,  // SocketException
    10058, // LegacyNotPrimary
    10107, // NotWritablePrimary
    11600, // InterruptedAtShutdown
    11602, // InterruptedDueToReplStateChange
    13435, // NotPrimaryNoSecondaryOk
    13436, // NotPrimaryOrSecondary
];

impl MongoStore {
    /// The driver error as one short line naming the server, without the
    /// driver's topology dump.
    pub(super) fn fatal(&self, error: &MongoError) -> anyhow::Error {
        if matches!(*error.kind, ErrorKind::ServerSelection { .. }) {
            anyhow!(
                "cannot reach MongoDB at {}: no server answered within {} (serverSelectionTimeoutMS)",
                self.hosts,
                crate::duration::format_duration_ms(self.server_selection_timeout.as_millis() as i64)
            )
        } else {
            anyhow!("MongoDB at {}: {}", self.hosts, short_error(error))
        }
    }

    /// Runs `op`, retrying transient failures with exponential backoff.
    /// Only for operations that are safe to repeat as a whole.
    pub(super) fn retry<T>(
        &self,
        mut op: impl FnMut() -> mongodb::error::Result<T>,
    ) -> anyhow::Result<T> {
        let mut attempt = 1;
        loop {
            match op() {
                Ok(v) => return Ok(v),
                Err(e) if is_transient(&e) && attempt < MAX_ATTEMPTS => {
                    std::thread::sleep(backoff(attempt));
                    attempt += 1;
                }
                Err(e) => return Err(self.fatal(&e)),
            }
        }
    }
}

pub(super) fn backoff(attempt: u32) -> Duration {
    Duration::from_millis((100u64 << attempt.min(6)).min(5_000))
}

pub(super) fn command_code(error: &MongoError) -> Option<i32> {
    match &*error.kind {
        ErrorKind::Command(c) => Some(c.code),
        ErrorKind::Write(WriteFailure::WriteError(w)) => Some(w.code),
        ErrorKind::Write(WriteFailure::WriteConcernError(w)) => Some(w.code),
        _ => None,
    }
}

/// True for failures after which the same operation may well succeed.
pub(super) fn is_transient(error: &MongoError) -> bool {
    if error.contains_label(mongodb::error::RETRYABLE_WRITE_ERROR)
        || error.contains_label(mongodb::error::TRANSIENT_TRANSACTION_ERROR)
    {
        return true;
    }
    match &*error.kind {
        ErrorKind::Io(_)
        | ErrorKind::ConnectionPoolCleared { .. }
        | ErrorKind::ServerSelection { .. } => true,
        ErrorKind::Write(WriteFailure::WriteConcernError(_)) => true,
        ErrorKind::InsertMany(f) => f.write_concern_error.is_some(),
        _ => command_code(error).is_some_and(|c| TRANSIENT_CODES.contains(&c)),
    }
}

/// One line for a person: the error's kind and the server's code and
/// message, never the driver's internal state.
pub(super) fn short_error(error: &MongoError) -> String {
    match &*error.kind {
        ErrorKind::Command(c) => format!("error {} ({}): {}", c.code, c.code_name, c.message),
        ErrorKind::Write(WriteFailure::WriteError(w)) => {
            format!("write error {}: {}", w.code, w.message)
        }
        ErrorKind::Write(WriteFailure::WriteConcernError(w)) => {
            format!("write concern error {}: {}", w.code, w.message)
        }
        ErrorKind::InsertMany(f) => match (&f.write_errors, &f.write_concern_error) {
            (Some(errors), _) if !errors.is_empty() => {
                format!("write error {}: {}", errors[0].code, errors[0].message)
            }
            (_, Some(w)) => format!("write concern error {}: {}", w.code, w.message),
            _ => "bulk insert failed".into(),
        },
        ErrorKind::Io(e) => format!("network error: {e}"),
        ErrorKind::Authentication { message, .. } => format!("authentication failed: {message}"),
        ErrorKind::InvalidArgument { message, .. } => message.clone(),
        ErrorKind::DnsResolve { message, .. } => format!("DNS lookup failed: {message}"),
        ErrorKind::ServerSelection { .. } => "no server answered".into(),
        other => other.to_string(),
    }
}
