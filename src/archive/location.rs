//! The archive backend: everything the archive commands do to where an
//! archive lives, behind one trait, so that a local folder and an
//! object-storage bucket give the same guarantees.
//!
//! [`Backend`] lists folders, reads byte ranges and whole files, uploads a
//! part while it is encoded and publishes it without ever replacing another
//! file, removes leftovers, and ([`ControlFiles`]) writes the small control
//! files (the folder lock and the partition manifests) by compare and swap:
//! created only if absent, replaced or deleted only if still the version the
//! caller read. [`super::local::LocalFolder`] implements it on a local or
//! mounted disk, [`super::object::ObjectFolder`] on S3-compatible object
//! storage with conditional requests (`If-None-Match: *`, `If-Match: ETag`).
//!
//! [`Archive`] is the shared handle the rest of the archive code holds;
//! [`Dir`] and [`Loc`] name a folder and a file in it, as a path would.

use std::fmt;
use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use bytes::Bytes;
use sha2::{Digest, Sha256};

use super::local::LocalFolder;
use super::root::ArchiveLocation;

/// The version of a control file as read: an opaque token that changes
/// whenever its content does (a content hash on disk, an ETag on object
/// storage).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version(String);

#[cfg_attr(not(feature = "s3"), allow(dead_code))]
impl Version {
    pub(crate) fn new(token: String) -> Version {
        Version(token)
    }

    /// The version of `bytes` on a local disk: their SHA-256.
    pub(crate) fn of(bytes: &[u8]) -> Version {
        Version(hex::encode(Sha256::digest(bytes)))
    }

    pub(crate) fn token(&self) -> &str {
        &self.0
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

/// The entries of one folder: sub-folder names and file names, sorted.
#[derive(Debug, Default)]
pub struct Listing {
    pub dirs: Vec<String>,
    pub files: Vec<String>,
}

/// What a file is: its size, and whether it is a plain file (not a symlink
/// or a folder; always true on object storage).
#[derive(Debug, Clone, Copy)]
pub struct Stat {
    pub len: u64,
    pub plain: bool,
}

/// One archive location.
pub trait Backend: ControlFiles {
    /// The location, for messages (a path, or `s3://bucket/prefix`).
    fn root(&self) -> String;
    /// True when the archive exists (a folder; on object storage, any
    /// object under the prefix).
    fn exists(&self) -> anyhow::Result<bool>;
    /// The entries of the folder `prefix` (`""` for the root, else
    /// `year=2016/month=01` without a trailing `/`); empty when it is absent.
    fn list(&self, prefix: &str) -> anyhow::Result<Listing>;
    /// The file `key`, or `None` when it does not exist.
    fn stat(&self, key: &str) -> anyhow::Result<Option<Stat>>;
    /// `key` opened for Parquet's random reads (footer, column chunks).
    /// With `etag` (object storage only), that version of it alone: an
    /// error when the object is another, and every read conditional on it.
    fn open(&self, key: &str, etag: Option<&str>) -> anyhow::Result<PartFile>;
    /// The ETag of `key` on object storage; `None` on a local disk, and
    /// when it does not exist.
    fn etag(&self, key: &str) -> anyhow::Result<Option<String>> {
        let _ = key;
        Ok(None)
    }
    /// `key` as one sequential stream (checksums).
    fn stream(&self, key: &str) -> anyhow::Result<Box<dyn Read + Send>>;
    /// Starts writing the file `key` under a temporary name carrying
    /// `run`; nothing is visible under `key` before [`Upload::publish`].
    fn upload(&self, key: &str, run: &str) -> anyhow::Result<Box<dyn Upload>>;
    /// Removes `key` (a leftover); removing a missing file is no error.
    fn remove(&self, key: &str) -> anyhow::Result<()>;
    /// Removes the temporary file `key` of an interrupted run. On object
    /// storage, an upload marker ([`super::layout::upload_marker_name`])
    /// first aborts the pending multipart upload it names, which is
    /// returned for the report.
    fn remove_temp(&self, key: &str) -> anyhow::Result<Option<AbortedUpload>> {
        self.remove(key)?;
        Ok(None)
    }
    /// Temporary files of interrupted runs in the folder `prefix`:
    /// `.NAME.RUN.tmp`, as [`Backend::upload`] and the control-file writes
    /// name them. Never the only copy of anything.
    fn temp_files(&self, prefix: &str) -> anyhow::Result<Vec<String>> {
        Ok(self
            .list(prefix)?
            .files
            .into_iter()
            .filter(|n| super::layout::temp_run(n).is_some())
            .collect())
    }
}

/// The multipart upload of an interrupted run, named by its marker and
/// cleaned: reported by the next `archive` run and by `verify`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AbortedUpload {
    /// The temporary object it was uploading (`s3://…/.part-00001.parquet.RUN.tmp`).
    pub object: String,
    pub upload_id: String,
    /// The run that started it.
    pub run: String,
    /// True when the upload was still pending and is now aborted; false
    /// when it had already ended (completed or aborted by its run, which
    /// was killed before deleting the marker) and only the marker went.
    pub pending: bool,
}

impl AbortedUpload {
    /// What was done about it, in the words of `archive` and `verify`
    /// (after the object's name).
    pub fn what_was_done(&self) -> String {
        if self.pending {
            format!(
                "aborted the pending multipart upload of interrupted run {}",
                self.run
            )
        } else {
            format!(
                "removed the upload marker of interrupted run {} (the upload had already ended)",
                self.run
            )
        }
    }
}

/// A file being written: bytes go out as they are written (streamed; on
/// object storage in multipart chunks), then [`Upload::publish`] makes it
/// visible under its final name.
pub trait Upload: std::io::Write + Send {
    /// Makes the written bytes durable and moves them to the final name,
    /// only if no file has that name yet: `false` when one does (the
    /// temporary copy is removed). Files are never replaced.
    fn publish(self: Box<Self>) -> anyhow::Result<bool>;
    /// Gives up: the temporary copy is removed, best effort.
    fn abandon(self: Box<Self>);
}

/// A part opened for reading, as Parquet's [`ChunkReader`] wants it.
///
/// [`ChunkReader`]: parquet::file::reader::ChunkReader
pub enum PartFile {
    Local(File),
    #[cfg(feature = "s3")]
    Remote(super::object::RangedObject),
}

impl PartFile {
    /// A second handle on a part on object storage (sharing its cache),
    /// kept to give it the footer once the Parquet reader has read it;
    /// `None` on a local disk.
    pub fn remote_handle(&self) -> Option<PartFile> {
        match self {
            PartFile::Local(_) => None,
            #[cfg(feature = "s3")]
            PartFile::Remote(r) => Some(PartFile::Remote(r.clone())),
        }
    }

    /// Hands the part's footer to its reader, so that reads of object
    /// storage stop at the end of the column chunk they are in rather than
    /// running on into columns nobody asked for.
    pub fn learn_layout(&self, meta: &parquet::file::metadata::ParquetMetaData) {
        match self {
            // A local read costs what it reads: nothing to bound.
            PartFile::Local(_) => {
                let _ = meta;
            }
            #[cfg(feature = "s3")]
            PartFile::Remote(r) => r.learn_layout(meta),
        }
    }
}

impl parquet::file::reader::Length for PartFile {
    fn len(&self) -> u64 {
        match self {
            PartFile::Local(f) => f.len(),
            #[cfg(feature = "s3")]
            PartFile::Remote(r) => r.len(),
        }
    }
}

/// The reader [`PartFile::get_read`] returns.
pub enum PartRead {
    Local(<File as parquet::file::reader::ChunkReader>::T),
    #[cfg(feature = "s3")]
    Remote(super::object::RangedRead),
}

impl Read for PartRead {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            PartRead::Local(r) => r.read(buf),
            #[cfg(feature = "s3")]
            PartRead::Remote(r) => r.read(buf),
        }
    }
}

impl parquet::file::reader::ChunkReader for PartFile {
    type T = PartRead;

    fn get_read(&self, start: u64) -> parquet::errors::Result<PartRead> {
        Ok(match self {
            PartFile::Local(f) => PartRead::Local(f.get_read(start)?),
            #[cfg(feature = "s3")]
            PartFile::Remote(r) => PartRead::Remote(r.get_read(start)),
        })
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        match self {
            PartFile::Local(f) => f.get_bytes(start, length),
            #[cfg(feature = "s3")]
            PartFile::Remote(r) => r.get_bytes(start, length),
        }
    }
}

/// The shared handle of one archive location.
#[derive(Clone)]
pub struct Archive(Arc<dyn Backend>);

impl Archive {
    /// Connects to `location` (no request is made yet).
    pub fn open(location: &ArchiveLocation) -> anyhow::Result<Archive> {
        match location {
            ArchiveLocation::Local(path) => Ok(Archive::local(path)),
            #[cfg(feature = "s3")]
            ArchiveLocation::Remote(remote) => Ok(Archive(Arc::new(
                super::object::ObjectFolder::open(remote)?,
            ))),
            // Refused when parsed; kept as an error should one be built.
            #[cfg(not(feature = "s3"))]
            ArchiveLocation::Remote(remote) => anyhow::bail!(
                "archive {}: this chronicle was built without object storage (cargo feature `s3`)",
                remote.url()
            ),
        }
    }

    /// A folder on this machine.
    pub fn local(path: &Path) -> Archive {
        Archive(Arc::new(LocalFolder::new(path)))
    }

    pub fn backend(&self) -> &dyn Backend {
        self.0.as_ref()
    }

    pub fn files(&self) -> &dyn ControlFiles {
        self.0.as_ref()
    }

    /// The root folder.
    pub fn top(&self) -> Dir {
        self.dir(String::new())
    }

    /// The folder `prefix` (`year=2016/month=01`).
    pub fn dir(&self, prefix: String) -> Dir {
        Dir {
            archive: self.clone(),
            prefix,
        }
    }
}

impl std::ops::Deref for Archive {
    type Target = dyn Backend + 'static;
    fn deref(&self) -> &(dyn Backend + 'static) {
        self.0.as_ref()
    }
}

impl fmt::Debug for Archive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Archive({})", self.0.root())
    }
}

impl fmt::Display for Archive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.root())
    }
}

/// A folder of an archive, as a path names one.
#[derive(Clone)]
pub struct Dir {
    archive: Archive,
    prefix: String,
}

impl Dir {
    pub fn archive(&self) -> &Archive {
        &self.archive
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The key of `name` in this folder.
    pub fn key(&self, name: &str) -> String {
        if self.prefix.is_empty() {
            name.to_string()
        } else {
            format!("{}/{name}", self.prefix)
        }
    }

    pub fn join(&self, name: &str) -> Loc {
        Loc {
            archive: self.archive.clone(),
            key: self.key(name),
            etag: None,
        }
    }

    pub fn list(&self) -> anyhow::Result<Listing> {
        self.archive.list(&self.prefix)
    }

    /// For messages, as `Path::display` would.
    pub fn display(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Dir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.archive.describe(&self.prefix))
    }
}

impl fmt::Debug for Dir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Dir({self})")
    }
}

impl PartialEq for Dir {
    fn eq(&self, other: &Dir) -> bool {
        self.prefix == other.prefix && Arc::ptr_eq(&self.archive.0, &other.archive.0)
    }
}

/// A file of an archive, as a path names one.
#[derive(Clone)]
pub struct Loc {
    archive: Archive,
    key: String,
    /// The only version to read ([`Loc::pinned`]).
    etag: Option<String>,
}

impl Loc {
    pub fn key(&self) -> &str {
        &self.key
    }

    pub fn archive(&self) -> &Archive {
        &self.archive
    }

    /// The file name (the key's last component).
    pub fn name(&self) -> &str {
        self.key.rsplit('/').next().unwrap_or(&self.key)
    }

    pub fn stat(&self) -> anyhow::Result<Option<Stat>> {
        self.archive.stat(&self.key)
    }

    pub fn exists(&self) -> anyhow::Result<bool> {
        Ok(self.stat()?.is_some())
    }

    /// The size in bytes; an error naming the file when it is gone.
    pub fn size(&self) -> anyhow::Result<u64> {
        self.stat()?
            .map(|s| s.len)
            .with_context(|| format!("{self} does not exist"))
    }

    /// The same file, to be read only in the version `etag` (object
    /// storage): opening it fails if the object is another, and so does
    /// any read after it was replaced.
    pub fn pinned(mut self, etag: String) -> Loc {
        self.etag = Some(etag);
        self
    }

    /// The ETag on object storage (`None` on a local disk).
    pub fn etag(&self) -> anyhow::Result<Option<String>> {
        self.archive
            .etag(&self.key)
            .with_context(|| format!("cannot read {self}"))
    }

    pub fn open(&self) -> anyhow::Result<PartFile> {
        self.archive
            .open(&self.key, self.etag.as_deref())
            .with_context(|| format!("cannot open {self}"))
    }

    pub fn remove(&self) -> anyhow::Result<()> {
        self.archive
            .remove(&self.key)
            .with_context(|| format!("cannot remove {self}"))
    }

    /// Removes this temporary file of an interrupted run
    /// ([`Backend::remove_temp`]).
    pub fn remove_temp(&self) -> anyhow::Result<Option<AbortedUpload>> {
        self.archive
            .remove_temp(&self.key)
            .with_context(|| format!("cannot remove {self}"))
    }

    /// SHA-256 of the file's bytes, streamed.
    pub fn sha256(&self) -> anyhow::Result<String> {
        let mut stream = self
            .archive
            .stream(&self.key)
            .with_context(|| format!("cannot open {self}"))?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = stream
                .read(&mut buf)
                .with_context(|| format!("cannot read {self}"))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        Ok(hex::encode(hasher.finalize()))
    }

    /// For messages, as `Path::display` would.
    pub fn display(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Loc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.archive.describe(&self.key))
    }
}

impl fmt::Debug for Loc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Loc({self})")
    }
}
