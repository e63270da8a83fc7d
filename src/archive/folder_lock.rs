//! The archive folder's own lock: one writer per archive folder, whichever
//! store it archives from. The store's lock keeps two runs on one store
//! apart; this one keeps apart two stores (or two machines) archiving into
//! the same folder, which would otherwise write the same part names and
//! replace each other's manifests.
//!
//! The lock is a small JSON record, `_archive.lock` in the archive root,
//! created only if absent and renewed or released only if it is still the
//! version this run wrote ([`ControlFiles`]: `create_new` and a checked
//! rename on disk, `If-None-Match`/`If-Match` on object storage). It names
//! its holder (host, pid, run id) and expires 10 minutes after its last
//! renewal. A lock past its expiry is taken over, and so is one whose
//! holder was a process on this host that no longer exists (a killed run).

use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::location::{ControlFiles, Version};
use crate::event::{format_millis, now_millis, parse_rfc3339_millis};
use crate::exit::{LockedError, LostRaceError};

/// The lock record's name in the archive root. The leading underscore makes
/// DuckDB, pyarrow and Spark skip it.
pub const LOCK_FILE: &str = "_archive.lock";

/// What the lock file holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LockRecord {
    /// `chronicle archive pid N on HOST (run R)`, as error messages show it.
    pub holder: String,
    pub host: String,
    pub pid: u32,
    /// The run id, which also names the run's temporary files.
    pub run: String,
    pub acquired_at: String,
    /// RFC 3339; after it the lock may be taken over.
    pub expires_at: String,
}

/// The archive folder's lock, held by this run until [`FolderLock::release`].
pub struct FolderLock<'a> {
    files: &'a dyn ControlFiles,
    record: LockRecord,
    version: Version,
    ttl_ms: i64,
    renewed: Instant,
}

impl<'a> FolderLock<'a> {
    /// Takes the lock, or fails with a [`LockedError`] (exit 75) naming the
    /// live holder.
    pub fn take(
        files: &'a dyn ControlFiles,
        holder: &str,
        run: &str,
        ttl_ms: i64,
    ) -> anyhow::Result<FolderLock<'a>> {
        let now = now_millis();
        let record = LockRecord {
            holder: holder.to_string(),
            host: crate::store::lock::hostname(),
            pid: std::process::id(),
            run: run.to_string(),
            acquired_at: format_millis(now),
            expires_at: format_millis(now + ttl_ms),
        };
        let bytes = encode(&record)?;
        // Two rounds: a stale lock is replaced only if it is still the
        // version judged stale; should another run take it over first, the
        // second round reports that run as the holder.
        for _ in 0..2 {
            if let Some(version) = files.create(LOCK_FILE, &bytes)? {
                return Ok(FolderLock::held(files, record, version, ttl_ms));
            }
            let Some((current, version)) = files.read(LOCK_FILE)? else {
                continue; // released in the meantime
            };
            let current = decode(files, &current)?;
            if !is_stale(&current) {
                return Err(locked(files, &current));
            }
            if let Some(version) = files.replace(LOCK_FILE, &version, &bytes)? {
                return Ok(FolderLock::held(files, record, version, ttl_ms));
            }
        }
        match files.read(LOCK_FILE)? {
            Some((current, _)) => Err(locked(files, &decode(files, &current)?)),
            None => anyhow::bail!(
                "could not take the lock {} (it keeps changing hands); try again",
                files.describe(LOCK_FILE)
            ),
        }
    }

    fn held(
        files: &'a dyn ControlFiles,
        record: LockRecord,
        version: Version,
        ttl_ms: i64,
    ) -> FolderLock<'a> {
        FolderLock {
            files,
            record,
            version,
            ttl_ms,
            renewed: Instant::now(),
        }
    }

    /// The control files of the locked folder, for the manifest updates
    /// made under the lock.
    pub fn files(&self) -> &'a dyn ControlFiles {
        self.files
    }

    /// The run id, which names this run's temporary files.
    pub fn run(&self) -> &str {
        &self.record.run
    }

    /// Extends the lock once a quarter of its lifetime has passed.
    pub fn renew(&mut self) -> anyhow::Result<()> {
        if self.renewed.elapsed().as_millis() < (self.ttl_ms / 4) as u128 {
            return Ok(());
        }
        self.confirm()
    }

    /// Extends the lock now, proving that this run still holds it: called
    /// right before every step that another writer must not interleave
    /// with (a manifest update, a delete from live). A lock taken over
    /// meanwhile (this run stalled past its expiry) is a [`LostRaceError`].
    pub fn confirm(&mut self) -> anyhow::Result<()> {
        let mut record = self.record.clone();
        record.expires_at = format_millis(now_millis() + self.ttl_ms);
        match self
            .files
            .replace(LOCK_FILE, &self.version, &encode(&record)?)?
        {
            Some(version) => {
                self.record = record;
                self.version = version;
                self.renewed = Instant::now();
                Ok(())
            }
            None => {
                let now_held_by = match self.files.read(LOCK_FILE)? {
                    Some((bytes, _)) => decode(self.files, &bytes)
                        .map(|r| r.holder)
                        .unwrap_or_else(|_| "an unreadable record".into()),
                    None => "nobody (it was released)".into(),
                };
                Err(LostRaceError(format!(
                    "lost the lock {} to {now_held_by}: this run stalled past the lock's expiry; it stopped before changing anything else",
                    self.files.describe(LOCK_FILE)
                ))
                .into())
            }
        }
    }

    /// Removes the lock if this run still holds it.
    pub fn release(self) -> anyhow::Result<()> {
        self.files.delete(LOCK_FILE, &self.version)?;
        Ok(())
    }
}

/// The run id of the lock's holder while the lock is held (present and not
/// stale), read without taking it: `verify` leaves that run's uploads alone.
/// An unreadable lock record is an error.
pub fn live_holder_run(files: &dyn ControlFiles) -> anyhow::Result<Option<String>> {
    let Some((bytes, _)) = files.read(LOCK_FILE)? else {
        return Ok(None);
    };
    let record = decode(files, &bytes)?;
    Ok((!is_stale(&record)).then_some(record.run))
}

fn encode(record: &LockRecord) -> anyhow::Result<Vec<u8>> {
    let mut text = serde_json::to_string_pretty(record)?;
    text.push('\n');
    Ok(text.into_bytes())
}

fn decode(files: &dyn ControlFiles, bytes: &[u8]) -> anyhow::Result<LockRecord> {
    serde_json::from_slice(bytes).map_err(|e| {
        anyhow::anyhow!(
            "the archive folder's lock {} is not a lock record ({e}); if no archive run uses this folder, delete it",
            files.describe(LOCK_FILE)
        )
    })
}

/// Past its expiry, or held by a process of this host that is gone.
fn is_stale(record: &LockRecord) -> bool {
    let expired = parse_rfc3339_millis(&record.expires_at).map_or(true, |t| t <= now_millis());
    expired || crate::store::lock::process_is_gone(&record.host, record.pid)
}

fn locked(files: &dyn ControlFiles, record: &LockRecord) -> anyhow::Error {
    LockedError {
        what: format!("archive folder {}", files.describe(LOCK_FILE)),
        holder: record.holder.clone(),
        until: record.expires_at.clone(),
    }
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::local::LocalFolder;
    use crate::exit::{status_for_error, ExitStatus};

    #[test]
    fn one_holder_takeover_of_the_stale_and_loss_is_noticed() {
        let root = tempfile::tempdir().unwrap();
        let a = LocalFolder::new(root.path());
        let b = LocalFolder::new(root.path());
        let mut first = FolderLock::take(&a, "holder a", "a", 60_000).unwrap();
        let err = FolderLock::take(&b, "holder b", "b", 60_000).err().unwrap();
        assert_eq!(status_for_error(&err), ExitStatus::Locked);
        assert!(err.to_string().contains("holder a"), "{err}");
        first.confirm().unwrap();

        // a's lock expires (a stalled): b takes over, a notices at its next
        // confirmation and b's lock is left alone by a's release.
        let path = root.path().join(LOCK_FILE);
        let mut record: LockRecord =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        record.expires_at = format_millis(now_millis() - 1);
        std::fs::write(&path, serde_json::to_vec(&record).unwrap()).unwrap();
        let second = FolderLock::take(&b, "holder b", "b", 60_000).unwrap();
        let lost = first.confirm().unwrap_err();
        assert_eq!(status_for_error(&lost), ExitStatus::Locked);
        assert!(lost.to_string().contains("holder b"), "{lost}");
        first.release().unwrap();
        assert!(path.exists());
        second.release().unwrap();
        assert!(!path.exists());

        // A holder on this host whose process is gone is taken over at once.
        record.expires_at = format_millis(now_millis() + 60_000);
        record.host = crate::store::lock::hostname();
        record.pid = u32::MAX - 1;
        std::fs::write(&path, serde_json::to_vec(&record).unwrap()).unwrap();
        FolderLock::take(&a, "holder a", "a", 60_000).unwrap();
    }
}
