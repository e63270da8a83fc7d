//! How library code reports progress without knowing about terminals. The
//! CLI layer implements [`Progress`] with an indicatif bar; tests and
//! embedders use [`NoProgress`].

/// Receives progress of one long-running job. Positions are in the unit the
/// job announced in [`Progress::start`] (bytes for imports, events for scans).
pub trait Progress: Send + Sync {
    fn start(&self, _label: &str, _total: Option<u64>, _unit: Unit) {}
    fn set_position(&self, _position: u64) {}
    fn finish(&self) {}
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Bytes,
    Events,
}

/// Discards all progress.
pub struct NoProgress;

impl Progress for NoProgress {}
