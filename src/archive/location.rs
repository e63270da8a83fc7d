//! Conditional writes of an archive folder's small control files: the
//! folder lock and the partition manifests. Each is created only if absent,
//! and replaced or deleted only if it is still the version the caller read
//! (compare and swap), so two writers can never overwrite each other's
//! update unnoticed.
//!
//! [`ControlFiles`] is the interface; [`LocalFolder`] implements it on a
//! local (or mounted) disk. An object-storage backend implements the same
//! four calls with conditional requests: `PUT` with `If-None-Match: *` for
//! [`ControlFiles::create`], `PUT` and `DELETE` with `If-Match: <ETag>` for
//! [`ControlFiles::replace`] and [`ControlFiles::delete`], the ETag being
//! the [`Version`].

use std::fs::{self, File};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use sha2::{Digest, Sha256};

use super::layout::write_atomic;

/// The version of a control file as read: an opaque token that changes
/// whenever its content does (a content hash on disk, an ETag on object
/// storage).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version(String);

impl Version {
    /// The version of `bytes` on a local disk: their SHA-256.
    fn of(bytes: &[u8]) -> Version {
        Version(hex::encode(Sha256::digest(bytes)))
    }
}

/// Control files of one archive location, addressed by `/`-separated keys
/// relative to its root (`_archive.lock`, `year=2016/month=01/_manifest.json`).
pub trait ControlFiles: Send + Sync {
    /// Where `key` lives, for messages.
    fn describe(&self, key: &str) -> String;
    /// The current content and version, or `None` when it does not exist.
    fn read(&self, key: &str) -> anyhow::Result<Option<(Vec<u8>, Version)>>;
    /// Writes `bytes` only if `key` does not exist; `None` when it does.
    fn create(&self, key: &str, bytes: &[u8]) -> anyhow::Result<Option<Version>>;
    /// Replaces `key` only if it is still `expected`; `None` when it changed
    /// or is gone.
    fn replace(
        &self,
        key: &str,
        expected: &Version,
        bytes: &[u8],
    ) -> anyhow::Result<Option<Version>>;
    /// Deletes `key` only if it is still `expected`; `false` when it changed
    /// or is gone.
    fn delete(&self, key: &str, expected: &Version) -> anyhow::Result<bool>;
}

/// How long a writer waits for another process's check-and-write on the
/// same folder (each takes milliseconds) before it gives up with an error.
const GUARD_WAIT: Duration = Duration::from_secs(30);

/// An archive folder on a local or mounted disk.
///
/// Every conditional write holds an advisory lock (`flock`) on the archive
/// folder itself while it reads the current version, compares, writes a
/// temporary file named after the run, fsyncs and renames it into place.
/// The advisory lock lasts milliseconds and the kernel drops it when its
/// process dies, so it can neither be leaked nor left behind by a crash.
/// Readers need no lock: a rename replaces a file atomically.
pub struct LocalFolder {
    root: PathBuf,
    run: String,
}

impl LocalFolder {
    /// `run` names this run's temporary files, so that two writers never
    /// share one.
    pub fn new(root: &Path, run: &str) -> LocalFolder {
        LocalFolder {
            root: root.to_path_buf(),
            run: run.to_string(),
        }
    }

    fn path(&self, key: &str) -> PathBuf {
        debug_assert!(!key.split('/').any(|c| c == ".." || c.is_empty()));
        self.root.join(key)
    }

    /// Holds the folder's advisory lock until the returned file is dropped.
    fn guard(&self) -> anyhow::Result<File> {
        let dir = File::open(&self.root)
            .with_context(|| format!("cannot open archive folder {}", self.root.display()))?;
        let started = Instant::now();
        loop {
            match dir.try_lock() {
                Ok(()) => return Ok(dir),
                Err(fs::TryLockError::WouldBlock) if started.elapsed() < GUARD_WAIT => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(fs::TryLockError::WouldBlock) => anyhow::bail!(
                    "archive folder {} stayed locked by another process for {} s during a manifest or lock update",
                    self.root.display(),
                    GUARD_WAIT.as_secs()
                ),
                Err(fs::TryLockError::Error(e)) => {
                    return Err(e).with_context(|| {
                        format!("cannot lock archive folder {}", self.root.display())
                    })
                }
            }
        }
    }

    fn read_path(path: &Path) -> anyhow::Result<Option<Vec<u8>>> {
        match fs::read(path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
    }

    fn write(&self, path: &Path, bytes: &[u8]) -> anyhow::Result<Version> {
        write_atomic(path, bytes, &self.run)?;
        Ok(Version::of(bytes))
    }
}

impl ControlFiles for LocalFolder {
    fn describe(&self, key: &str) -> String {
        self.path(key).display().to_string()
    }

    fn read(&self, key: &str) -> anyhow::Result<Option<(Vec<u8>, Version)>> {
        Ok(Self::read_path(&self.path(key))?.map(|bytes| {
            let version = Version::of(&bytes);
            (bytes, version)
        }))
    }

    fn create(&self, key: &str, bytes: &[u8]) -> anyhow::Result<Option<Version>> {
        let path = self.path(key);
        let _guard = self.guard()?;
        if fs::symlink_metadata(&path).is_ok() {
            return Ok(None);
        }
        self.write(&path, bytes).map(Some)
    }

    fn replace(
        &self,
        key: &str,
        expected: &Version,
        bytes: &[u8],
    ) -> anyhow::Result<Option<Version>> {
        let path = self.path(key);
        let _guard = self.guard()?;
        match Self::read_path(&path)? {
            Some(current) if Version::of(&current) == *expected => {
                self.write(&path, bytes).map(Some)
            }
            _ => Ok(None),
        }
    }

    fn delete(&self, key: &str, expected: &Version) -> anyhow::Result<bool> {
        let path = self.path(key);
        let _guard = self.guard()?;
        match Self::read_path(&path)? {
            Some(current) if Version::of(&current) == *expected => {
                fs::remove_file(&path)
                    .with_context(|| format!("cannot remove {}", path.display()))?;
                super::layout::fsync_dir(path.parent().unwrap_or(Path::new(".")))?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_are_conditional_on_the_version_read() {
        let root = tempfile::tempdir().unwrap();
        let a = LocalFolder::new(root.path(), "run-a");
        let b = LocalFolder::new(root.path(), "run-b");
        let v1 = a.create("x.json", b"one").unwrap().unwrap();
        assert_eq!(b.create("x.json", b"other").unwrap(), None);
        let (bytes, read) = b.read("x.json").unwrap().unwrap();
        assert_eq!((bytes.as_slice(), &read), (&b"one"[..], &v1));
        // b replaces what it read; a's replace of the older version loses.
        let v2 = b.replace("x.json", &read, b"two").unwrap().unwrap();
        assert_eq!(a.replace("x.json", &v1, b"three").unwrap(), None);
        assert!(!a.delete("x.json", &v1).unwrap());
        assert_eq!(std::fs::read(root.path().join("x.json")).unwrap(), b"two");
        assert!(b.delete("x.json", &v2).unwrap());
        assert!(a.read("x.json").unwrap().is_none());
        assert_eq!(a.replace("x.json", &v2, b"four").unwrap(), None);
        // No temporary file is left behind.
        assert_eq!(std::fs::read_dir(root.path()).unwrap().count(), 0);
    }
}
