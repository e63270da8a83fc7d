//! An archive in a folder on a local or mounted disk: the [`Backend`] of
//! `--archive PATH` and `file:///PATH`.
//!
//! Parts are written to a temporary file named after the run, fsynced and
//! moved into place by a rename that never replaces a file. Control files
//! (lock, manifests) are compared and swapped under a short advisory lock
//! on the folder ([`LocalFolder`]).

use std::fs::{self, File};
use std::io::{ErrorKind, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;

use super::layout::{fsync_dir, publish_new, temp_path, write_atomic};
use super::location::{Backend, ControlFiles, Listing, PartFile, Stat, Upload, Version};

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
    /// Names this process's temporary control files, so that two writers
    /// never share one.
    run: String,
}

impl LocalFolder {
    pub fn new(root: &Path) -> LocalFolder {
        LocalFolder {
            root: root.to_path_buf(),
            run: uuid::Uuid::new_v4().simple().to_string()[..12].to_string(),
        }
    }

    fn path(&self, key: &str) -> PathBuf {
        debug_assert!(!key.split('/').any(|c| c == ".." || c.is_empty()));
        self.root.join(key)
    }

    /// Holds the folder's advisory lock until the returned file is dropped.
    fn guard(&self) -> anyhow::Result<File> {
        // The first write into a new archive creates its folder.
        fs::create_dir_all(&self.root)
            .with_context(|| format!("cannot create archive folder {}", self.root.display()))?;
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
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        write_atomic(path, bytes, &self.run)?;
        Ok(Version::of(bytes))
    }
}

impl ControlFiles for LocalFolder {
    fn describe(&self, key: &str) -> String {
        if key.is_empty() {
            return self.root.display().to_string();
        }
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
                fsync_dir(path.parent().unwrap_or(Path::new(".")))?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}

impl Backend for LocalFolder {
    fn root(&self) -> String {
        self.root.display().to_string()
    }

    fn exists(&self) -> anyhow::Result<bool> {
        Ok(self.root.is_dir())
    }

    fn list(&self, prefix: &str) -> anyhow::Result<Listing> {
        let dir = if prefix.is_empty() {
            self.root.clone()
        } else {
            self.path(prefix)
        };
        let mut out = Listing::default();
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(e).with_context(|| format!("cannot list {}", dir.display())),
        };
        for entry in entries {
            let entry = entry.with_context(|| format!("cannot list {}", dir.display()))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if entry.file_type()?.is_dir() {
                out.dirs.push(name);
            } else {
                out.files.push(name);
            }
        }
        out.dirs.sort();
        out.files.sort();
        Ok(out)
    }

    fn stat(&self, key: &str) -> anyhow::Result<Option<Stat>> {
        let path = self.path(key);
        match fs::symlink_metadata(&path) {
            Ok(meta) => Ok(Some(Stat {
                // A symlink's size is its target's (it is refused as a
                // part anyway, by `plain`).
                len: fs::metadata(&path).map_or(meta.len(), |m| m.len()),
                plain: meta.file_type().is_file(),
            })),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
    }

    /// Files on a disk have no ETag: `Loc::pinned` is never given one here.
    fn open(&self, key: &str, _etag: Option<&str>) -> anyhow::Result<PartFile> {
        let path = self.path(key);
        Ok(PartFile::Local(File::open(&path).with_context(|| {
            format!("cannot open {}", path.display())
        })?))
    }

    fn stream(&self, key: &str) -> anyhow::Result<Box<dyn Read + Send>> {
        let path = self.path(key);
        let file = File::open(&path).with_context(|| format!("cannot open {}", path.display()))?;
        Ok(Box::new(file))
    }

    fn upload(&self, key: &str, run: &str) -> anyhow::Result<Box<dyn Upload>> {
        let path = self.path(key);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        let tmp = temp_path(&path, run);
        let file =
            File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
        Ok(Box::new(LocalUpload { file, tmp, path }))
    }

    fn remove(&self, key: &str) -> anyhow::Result<()> {
        let path = self.path(key);
        match fs::remove_file(&path) {
            Ok(()) => fsync_dir(path.parent().unwrap_or(Path::new("."))),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e).with_context(|| format!("cannot remove {}", path.display())),
        }
    }
}

/// A part file being written: a temporary file named after the run, then
/// fsync and a rename that never replaces a file ([`publish_new`]).
struct LocalUpload {
    file: File,
    tmp: PathBuf,
    path: PathBuf,
}

impl Write for LocalUpload {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.file.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

impl Upload for LocalUpload {
    fn publish(self: Box<Self>) -> anyhow::Result<bool> {
        self.file
            .sync_all()
            .with_context(|| format!("cannot fsync {}", self.tmp.display()))?;
        drop(self.file);
        if publish_new(&self.tmp, &self.path)? {
            return Ok(true);
        }
        let _ = fs::remove_file(&self.tmp);
        Ok(false)
    }

    fn abandon(self: Box<Self>) {
        drop(self.file);
        let _ = fs::remove_file(&self.tmp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_are_conditional_on_the_version_read() {
        let root = tempfile::tempdir().unwrap();
        let a = LocalFolder::new(root.path());
        let b = LocalFolder::new(root.path());
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
