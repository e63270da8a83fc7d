//! The one lock every job takes in the store (`archive`, `projection:NAME`):
//! a guard built on [`Store::try_lock`] and [`Store::unlock`] that is
//! renewed while the job works and released when it is dropped.
//!
//! The rule (docs/architecture.md, "Locks"): a lock lasts [`LOCK_TTL_MS`]
//! unless renewed, and a running job renews it every quarter of that, so
//! only a dead job's lock ever expires. A lock whose holder is a chronicle
//! process on this host that no longer exists is taken over at once: the
//! holder string names the pid and host for exactly this check. A holder
//! on another host, or a live one, blocks until its TTL has passed, and the
//! job exits 75 naming it.

use std::path::Path;
use std::time::{Duration, Instant};

use uuid::Uuid;

use super::{LockAttempt, Store};
use crate::event::{format_millis, now_millis};
use crate::exit::LockedError;

/// Lock lifetime without renewal.
pub const LOCK_TTL_MS: i64 = 10 * 60 * 1000;
/// A held lock is renewed once it is this old.
const RENEW_AFTER: Duration = Duration::from_millis((LOCK_TTL_MS / 4) as u64);

/// A lock held in the store. It holds its own connection to the store, so
/// that the job keeps using its connection freely, and releases the lock
/// when dropped (a failed release only delays the next job until the TTL).
pub struct StoreLock {
    store: Box<dyn Store>,
    name: String,
    holder: String,
    renewed: Instant,
}

impl StoreLock {
    /// Takes lock `name` in `store` (a connection the guard keeps) for
    /// `holder`, a text naming the pid and host as in [`holder_label`].
    /// `what` names the locked thing in the exit-75 message ("archiving in
    /// sqlite:x.db").
    pub fn acquire(
        mut store: Box<dyn Store>,
        name: &str,
        holder: &str,
        what: &str,
    ) -> anyhow::Result<StoreLock> {
        let holder = holder.to_string();
        let mut attempt = store.try_lock(name, &holder, LOCK_TTL_MS)?;
        if let LockAttempt::Held { holder: stale, .. } = &attempt {
            // A job killed on this machine leaves its lock until the TTL
            // passes; when its process is gone, the lock is released now.
            // Should two jobs race here, `unlock` only releases the dead
            // holder's lock, so just one of them gets it.
            if holder_is_dead_here(stale) {
                store.unlock(name, stale)?;
                attempt = store.try_lock(name, &holder, LOCK_TTL_MS)?;
            }
        }
        match attempt {
            LockAttempt::Acquired => Ok(StoreLock {
                store,
                name: name.to_string(),
                holder,
                renewed: Instant::now(),
            }),
            LockAttempt::Held { holder, expires_at } => Err(LockedError {
                what: what.to_string(),
                holder,
                until: format_millis(expires_at),
            }
            .into()),
        }
    }

    /// Renews the lock when a quarter of its TTL has gone by (cheap to call
    /// often); fails if another job took it over meanwhile, which only
    /// happens when this one stalled past the TTL.
    pub fn renew(&mut self) -> anyhow::Result<()> {
        if self.renewed.elapsed() < RENEW_AFTER {
            return Ok(());
        }
        match self.store.try_lock(&self.name, &self.holder, LOCK_TTL_MS)? {
            LockAttempt::Acquired => {
                self.renewed = Instant::now();
                Ok(())
            }
            LockAttempt::Held { holder, .. } => anyhow::bail!(
                "lost the lock {} to {holder} (this run stalled past the lock's TTL); stopping before changing anything else",
                self.name
            ),
        }
    }

    pub fn holder(&self) -> &str {
        &self.holder
    }
}

impl Drop for StoreLock {
    fn drop(&mut self) {
        let _ = self.store.unlock(&self.name, &self.holder);
    }
}

/// `chronicle JOB (pid N on HOST, started TIME, run ID)`: what the exit-75
/// message shows, and what [`holder_is_dead_here`] reads back (it reads
/// any holder of the form `chronicle ... pid N on HOST ...`).
pub fn holder_label(job: &str) -> String {
    format!(
        "chronicle {job} (pid {} on {}, started {}, run {})",
        std::process::id(),
        hostname(),
        format_millis(now_millis()),
        &Uuid::new_v4().simple().to_string()[..8]
    )
}

/// This machine's name, for lock holders.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

/// The pid and host a holder string names (`... pid N on HOST ...`, also
/// the older `chronicle archive pid N on HOST (run x)`).
fn holder_pid_host(holder: &str) -> Option<(u32, &str)> {
    let rest = holder.strip_prefix("chronicle ")?;
    let at = rest.find("pid ")?;
    let mut words = rest[at + 4..].split(' ');
    let pid = words.next()?.parse().ok()?;
    if words.next()? != "on" {
        return None;
    }
    let host = words.next()?.trim_end_matches([',', ')']);
    Some((pid, host))
}

/// True when `holder` names a chronicle process on this host that no
/// longer exists.
pub fn holder_is_dead_here(holder: &str) -> bool {
    holder_pid_host(holder).is_some_and(|(pid, host)| process_is_gone(host, pid))
}

/// True when `host` is this host and it has no process `pid` (checked
/// where `/proc` exists; elsewhere a lock waits for its expiry).
pub fn process_is_gone(host: &str, pid: u32) -> bool {
    host == hostname()
        && Path::new("/proc/self").is_dir()
        && !Path::new("/proc").join(pid.to_string()).exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holders_name_their_pid_and_host() {
        let label = holder_label("rebuild daily");
        assert!(
            label.starts_with("chronicle rebuild daily (pid "),
            "{label}"
        );
        assert_eq!(
            holder_pid_host(&label),
            Some((std::process::id(), hostname().as_str()))
        );
        assert_eq!(
            holder_pid_host("chronicle archive pid 12 on box (run x)"),
            Some((12, "box"))
        );
        assert_eq!(holder_pid_host("someone else"), None);
    }

    #[test]
    fn only_dead_processes_on_this_host_are_dead() {
        // This process is alive.
        assert!(!holder_is_dead_here(&holder_label("archive")));
        // A pid beyond any pid_max is not running here...
        let dead = format!(
            "chronicle archive (pid 2147483647 on {}, started x)",
            hostname()
        );
        assert!(holder_is_dead_here(&dead));
        // ...but on another host nothing can be told.
        assert!(!holder_is_dead_here(
            "chronicle archive (pid 2147483647 on elsewhere.invalid, started x)"
        ));
    }
}
