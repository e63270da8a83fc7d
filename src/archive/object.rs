//! An archive on object storage: the [`Backend`] of `s3://bucket/prefix`
//! (and, through the same `object_store` crate, untested, `gs://` and
//! `az://`). The only async code of the archive layer lives here, driven by
//! a small tokio runtime of its own; every call below blocks until done.
//!
//! How each guarantee of a local folder is kept (docs/archive.md, "Object
//! storage"):
//! - a part is streamed in 8 MiB multipart chunks to a temporary object
//!   named after the run, then copied to its final name only if no object
//!   has that name (multipart copy completed with `If-None-Match: *`), so a
//!   writer that lost its lock can never replace another's listed part;
//! - each multipart upload's id is recorded in a marker object before its
//!   first chunk goes up, so that the next run or `verify` can abort the
//!   upload a killed run left ([`super::multipart`]);
//! - control files are created with `If-None-Match: *` and replaced with
//!   `If-Match: <ETag>`; S3 has no conditional delete here, so a delete is a
//!   conditional replace by an empty object, which reads as absent;
//! - reads are range requests: Parquet's footer, then the column chunks it
//!   asks for, in blocks of at least [`BLOCK`] bytes kept in a small cache
//!   but never past the end of the column chunk a read starts in; a part
//!   pinned to an ETag (its manifest's, `Loc::pinned`) is read with
//!   `If-Match` on every request.

use std::collections::VecDeque;
use std::future::Future;
use std::io::{Read, Write};
use std::sync::{Arc, Mutex, OnceLock};

use anyhow::Context;
use bytes::Bytes;
use futures::StreamExt;
use object_store::aws::{AmazonS3Builder, S3ConditionalPut, S3CopyIfNotExists};
use object_store::azure::MicrosoftAzureBuilder;
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::multipart::MultipartStore;
use object_store::path::Path as ObjectPath;
use object_store::{
    GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload,
    UpdateVersion, WriteMultipart,
};

use super::layout::{is_upload_marker, temp_name, upload_marker_name};
use super::location::{
    AbortedUpload, Backend, ControlFiles, Listing, PartFile, Stat, Upload, Version,
};
use super::multipart::{Marker, NamedUpload};
use super::root::{Cloud, RemoteLocation};

/// Bytes fetched per range request at least, and the size of the chunks
/// of a multipart upload (S3 wants at least 5 MiB but for the last one).
pub const BLOCK: usize = 4 << 20;
const UPLOAD_CHUNK: usize = 8 << 20;
/// Chunks of one upload in flight at once.
const UPLOADS_IN_FLIGHT: usize = 4;
/// Blocks cached per open part: enough for the interleaved column chunks
/// of one row group (8 columns), bounded (32 MiB per open part).
const CACHED_BLOCKS: usize = 8;

/// The runtime that drives every request; started on first use.
fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("chronicle-object-store")
            .enable_all()
            .build()
            .expect("cannot start the object storage runtime")
    })
}

fn block_on<F: Future>(future: F) -> F::Output {
    runtime().block_on(future)
}

/// An archive under a prefix of a bucket.
pub struct ObjectFolder {
    store: Arc<dyn ObjectStore>,
    /// The same client, for uploads whose id is recorded.
    multipart: Arc<dyn MultipartStore>,
    /// The key prefix, without a trailing `/`; empty for the bucket root.
    prefix: String,
    url: String,
}

impl ObjectFolder {
    /// Builds the client: credentials, region and endpoint from the
    /// standard environment (`AWS_*`, `GOOGLE_*`, `AZURE_*`) and, for S3,
    /// a named AWS profile ([`super::aws_profile`]), overridden by
    /// `[archive] endpoint`, `region` and `allow_http`.
    pub fn open(location: &RemoteLocation) -> anyhow::Result<ObjectFolder> {
        // ring (already built for the MongoDB driver) does TLS.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let url = location.url();
        let (store, multipart) = match location.cloud {
            Cloud::S3 => {
                // The environment, then a named profile where it says
                // nothing, then chronicle.toml's `[archive]` table.
                let env = |name: &str| std::env::var(name).ok();
                let mut b = super::aws_profile::apply(AmazonS3Builder::from_env(), &env)
                    .with_context(|| format!("archive {url}"))?
                    .with_bucket_name(&location.bucket)
                    .with_conditional_put(S3ConditionalPut::ETagMatch)
                    .with_copy_if_not_exists(S3CopyIfNotExists::Multipart);
                if let Some(endpoint) = &location.endpoint {
                    b = b.with_endpoint(endpoint);
                }
                if let Some(region) = &location.region {
                    b = b.with_region(region);
                }
                if let Some(allow) = location.allow_http {
                    b = b.with_allow_http(allow);
                }
                both(b.build().map_err(|e| config_error(&url, e))?)
            }
            Cloud::Gcs => {
                let mut b =
                    GoogleCloudStorageBuilder::from_env().with_bucket_name(&location.bucket);
                if let Some(allow) = location.allow_http {
                    b = b.with_client_options(
                        object_store::ClientOptions::new().with_allow_http(allow),
                    );
                }
                both(b.build().map_err(|e| config_error(&url, e))?)
            }
            Cloud::Azure => {
                let mut b = MicrosoftAzureBuilder::from_env().with_container_name(&location.bucket);
                if let Some(endpoint) = &location.endpoint {
                    b = b.with_endpoint(endpoint.clone());
                }
                if let Some(allow) = location.allow_http {
                    b = b.with_allow_http(allow);
                }
                both(b.build().map_err(|e| config_error(&url, e))?)
            }
        };
        Ok(ObjectFolder {
            store,
            multipart,
            prefix: location.prefix.clone(),
            url,
        })
    }

    fn path(&self, key: &str) -> anyhow::Result<ObjectPath> {
        let full = match (self.prefix.is_empty(), key.is_empty()) {
            (true, _) => key.to_string(),
            (false, true) => self.prefix.clone(),
            (false, false) => format!("{}/{key}", self.prefix),
        };
        ObjectPath::parse(&full)
            .with_context(|| format!("{}: not a valid object key", self.describe(key)))
    }

    fn fail(&self, what: &str, key: &str, e: object_store::Error) -> anyhow::Error {
        anyhow::anyhow!("cannot {what} {}: {}", self.describe(key), clean(&e))
    }

    /// Writes `bytes` under `mode`: the new version, or `None` when the
    /// condition failed.
    fn put(&self, key: &str, bytes: &[u8], mode: PutMode) -> anyhow::Result<Option<Version>> {
        let path = self.path(key)?;
        let options = PutOptions {
            mode,
            ..Default::default()
        };
        let payload = PutPayload::from(Bytes::copy_from_slice(bytes));
        match block_on(self.store.put_opts(&path, payload, options)) {
            Ok(result) => Ok(Some(Version::new(result.e_tag.with_context(|| {
                format!("{}: the server returned no ETag", self.describe(key))
            })?))),
            Err(
                object_store::Error::AlreadyExists { .. }
                | object_store::Error::Precondition { .. }
                | object_store::Error::NotFound { .. },
            ) => Ok(None),
            Err(e) => Err(self.fail("write", key, e)),
        }
    }

    /// The content and ETag of `key`, empty objects (deleted control files)
    /// included.
    fn get_raw(&self, key: &str) -> anyhow::Result<Option<(Bytes, Version)>> {
        let path = self.path(key)?;
        let result = match block_on(self.store.get(&path)) {
            Ok(r) => r,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(self.fail("read", key, e)),
        };
        let etag = result
            .meta
            .e_tag
            .clone()
            .with_context(|| format!("{}: the server returned no ETag", self.describe(key)))?;
        let bytes = block_on(result.bytes()).map_err(|e| self.fail("read", key, e))?;
        Ok(Some((bytes, Version::new(etag))))
    }
}

/// One client as both of the traits an [`ObjectFolder`] uses.
fn both<S: ObjectStore + MultipartStore>(
    store: S,
) -> (Arc<dyn ObjectStore>, Arc<dyn MultipartStore>) {
    let store = Arc::new(store);
    (store.clone(), store)
}

/// An object_store error without anything but its message (which names
/// the key and the server's answer, never a credential).
fn clean(e: &object_store::Error) -> String {
    crate::redact::redact_uri(&e.to_string())
}

fn config_error(url: &str, e: object_store::Error) -> anyhow::Error {
    anyhow::anyhow!("archive {url}: {}", clean(&e))
}

impl ControlFiles for ObjectFolder {
    fn describe(&self, key: &str) -> String {
        if key.is_empty() {
            self.url.clone()
        } else {
            format!("{}/{key}", self.url)
        }
    }

    fn read(&self, key: &str) -> anyhow::Result<Option<(Vec<u8>, Version)>> {
        Ok(self
            .get_raw(key)?
            .filter(|(bytes, _)| !bytes.is_empty())
            .map(|(bytes, version)| (bytes.to_vec(), version)))
    }

    fn create(&self, key: &str, bytes: &[u8]) -> anyhow::Result<Option<Version>> {
        if let Some(version) = self.put(key, bytes, PutMode::Create)? {
            return Ok(Some(version));
        }
        // An empty object is a deleted control file: replace it, only if
        // it is still that one.
        match self.get_raw(key)? {
            Some((old, version)) if old.is_empty() => self.replace(key, &version, bytes),
            _ => Ok(None),
        }
    }

    fn replace(
        &self,
        key: &str,
        expected: &Version,
        bytes: &[u8],
    ) -> anyhow::Result<Option<Version>> {
        let mode = PutMode::Update(UpdateVersion {
            e_tag: Some(expected.token().to_string()),
            version: None,
        });
        self.put(key, bytes, mode)
    }

    fn delete(&self, key: &str, expected: &Version) -> anyhow::Result<bool> {
        Ok(self.replace(key, expected, b"")?.is_some())
    }
}

impl Backend for ObjectFolder {
    fn root(&self) -> String {
        self.url.clone()
    }

    fn exists(&self) -> anyhow::Result<bool> {
        let listing = self.list("")?;
        Ok(!listing.dirs.is_empty() || !listing.files.is_empty())
    }

    fn list(&self, prefix: &str) -> anyhow::Result<Listing> {
        let path = self.path(prefix)?;
        let scope = (!path.as_ref().is_empty()).then_some(&path);
        let result = block_on(self.store.list_with_delimiter(scope))
            .map_err(|e| self.fail("list", prefix, e))?;
        let mut out = Listing::default();
        for dir in result.common_prefixes {
            if let Some(name) = dir.filename() {
                out.dirs.push(name.to_string());
            }
        }
        for object in result.objects {
            if let Some(name) = object.location.filename() {
                out.files.push(name.to_string());
            }
        }
        out.dirs.sort();
        out.files.sort();
        Ok(out)
    }

    fn stat(&self, key: &str) -> anyhow::Result<Option<Stat>> {
        let path = self.path(key)?;
        match block_on(self.store.head(&path)) {
            Ok(meta) => Ok(Some(Stat {
                len: meta.size,
                plain: true,
            })),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.fail("read", key, e)),
        }
    }

    fn open(&self, key: &str, etag: Option<&str>) -> anyhow::Result<PartFile> {
        let path = self.path(key)?;
        let meta = block_on(self.store.head(&path)).map_err(|e| self.fail("open", key, e))?;
        if let Some(expected) = etag {
            anyhow::ensure!(
                meta.e_tag.as_deref() == Some(expected),
                "{} was replaced: its ETag is {}, its manifest entry records {expected}",
                self.describe(key),
                meta.e_tag.as_deref().unwrap_or("missing")
            );
        }
        Ok(PartFile::Remote(RangedObject(Arc::new(Ranged {
            store: Arc::clone(&self.store),
            path,
            len: meta.size,
            if_match: etag.map(str::to_string),
            chunk_ends: OnceLock::new(),
            cache: Mutex::new(VecDeque::new()),
        }))))
    }

    fn etag(&self, key: &str) -> anyhow::Result<Option<String>> {
        let path = self.path(key)?;
        match block_on(self.store.head(&path)) {
            Ok(meta) => Ok(meta.e_tag),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.fail("read", key, e)),
        }
    }

    fn stream(&self, key: &str) -> anyhow::Result<Box<dyn Read + Send>> {
        let path = self.path(key)?;
        let result = block_on(self.store.get(&path)).map_err(|e| self.fail("read", key, e))?;
        Ok(Box::new(StreamRead {
            stream: result.into_stream(),
            current: Bytes::new(),
        }))
    }

    fn upload(&self, key: &str, run: &str) -> anyhow::Result<Box<dyn Upload>> {
        let (folder, name) = key.rsplit_once('/').unwrap_or(("", key));
        let tmp_key = match folder {
            "" => temp_name(name, run),
            _ => format!("{folder}/{}", temp_name(name, run)),
        };
        let marker_key = match folder {
            "" => upload_marker_name(name, run),
            _ => format!("{folder}/{}", upload_marker_name(name, run)),
        };
        let tmp = self.path(&tmp_key)?;
        let dest = self.path(key)?;
        let marker = self.path(&marker_key)?;
        let upload_id = block_on(self.multipart.create_multipart(&tmp))
            .map_err(|e| self.fail("start uploading", &tmp_key, e))?;
        // Recorded before the first chunk goes up: from here on a killed
        // run leaves an upload the next run or `verify` can name and abort.
        let record = Marker {
            run: run.to_string(),
            object: tmp_key.clone(),
            upload_id: upload_id.clone(),
        };
        let recorded = PutPayload::from(record.encode());
        if let Err(e) = block_on(self.store.put(&marker, recorded)) {
            let _ = block_on(self.multipart.abort_multipart(&tmp, &upload_id));
            return Err(self.fail("write", &marker_key, e));
        }
        let upload = NamedUpload::new(Arc::clone(&self.multipart), tmp.clone(), upload_id);
        Ok(Box::new(ObjectUpload {
            store: Arc::clone(&self.store),
            writer: Some(WriteMultipart::new_with_chunk_size(
                Box::new(upload),
                UPLOAD_CHUNK,
            )),
            tmp,
            dest,
            marker,
            name: self.describe(key),
        }))
    }

    fn remove(&self, key: &str) -> anyhow::Result<()> {
        let path = self.path(key)?;
        match block_on(self.store.delete(&path)) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.fail("remove", key, e)),
        }
    }

    fn remove_temp(&self, key: &str) -> anyhow::Result<Option<AbortedUpload>> {
        let name = key.rsplit('/').next().unwrap_or(key);
        if !is_upload_marker(name) {
            self.remove(key)?;
            return Ok(None);
        }
        let Some((bytes, _)) = self.get_raw(key)? else {
            return Ok(None); // removed meanwhile
        };
        // Anything but a marker names no upload: only the object goes.
        let Some(marker) = Marker::decode(&bytes) else {
            self.remove(key)?;
            return Ok(None);
        };
        let object = self.path(&marker.object)?;
        // An upload that was completed or aborted already is not found.
        let pending = match block_on(self.multipart.abort_multipart(&object, &marker.upload_id)) {
            Ok(()) => true,
            Err(object_store::Error::NotFound { .. }) => false,
            Err(e) => return Err(self.fail("abort the upload of", &marker.object, e)),
        };
        self.remove(key)?;
        Ok(Some(AbortedUpload {
            object: self.describe(&marker.object),
            upload_id: marker.upload_id,
            run: marker.run,
            pending,
        }))
    }
}

/// A part being uploaded: multipart chunks go out while the encoder
/// writes, a few at once; the whole part is never held in memory.
struct ObjectUpload {
    store: Arc<dyn ObjectStore>,
    writer: Option<WriteMultipart>,
    tmp: ObjectPath,
    dest: ObjectPath,
    /// The marker naming the upload, deleted once it is completed or
    /// aborted.
    marker: ObjectPath,
    name: String,
}

impl Write for ObjectUpload {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let writer = self
            .writer
            .as_mut()
            .ok_or_else(|| std::io::Error::other("upload already finished"))?;
        // `write` hands full chunks to tasks on the runtime.
        let _inside = runtime().enter();
        block_on(writer.wait_for_capacity(UPLOADS_IN_FLIGHT)).map_err(std::io::Error::other)?;
        writer.write(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Upload for ObjectUpload {
    fn publish(mut self: Box<Self>) -> anyhow::Result<bool> {
        let writer = self.writer.take().context("upload already finished")?;
        let name = self.name.clone();
        {
            let _inside = runtime().enter();
            block_on(writer.finish())
                .map_err(|e| anyhow::anyhow!("cannot upload {name}: {}", clean(&e)))?;
        }
        // The upload is complete: its marker names nothing pending now (a
        // marker left by a failed delete only costs the next run a request).
        let _ = block_on(self.store.delete(&self.marker));
        // Copied only if the final name is free, then the temporary object
        // goes (a crash in between leaves it for the next run to remove).
        let published = match block_on(self.store.copy_if_not_exists(&self.tmp, &self.dest)) {
            Ok(()) => true,
            Err(object_store::Error::AlreadyExists { .. })
            | Err(object_store::Error::Precondition { .. }) => false,
            Err(e) => {
                let _ = block_on(self.store.delete(&self.tmp));
                anyhow::bail!("cannot publish {name}: {}", clean(&e));
            }
        };
        block_on(self.store.delete(&self.tmp)).map_err(|e| {
            anyhow::anyhow!("cannot remove the temporary copy of {name}: {}", clean(&e))
        })?;
        Ok(published)
    }

    fn abandon(mut self: Box<Self>) {
        if let Some(writer) = self.writer.take() {
            let _inside = runtime().enter();
            if block_on(writer.abort()).is_ok() {
                let _ = block_on(self.store.delete(&self.marker));
            }
        }
        let _ = block_on(self.store.delete(&self.tmp));
    }
}

/// A whole-object GET as a [`Read`].
struct StreamRead {
    stream: futures::stream::BoxStream<'static, object_store::Result<Bytes>>,
    current: Bytes,
}

impl Read for StreamRead {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match block_on(self.stream.next()) {
                None => return Ok(0),
                Some(Ok(bytes)) => self.current = bytes,
                Some(Err(e)) => return Err(std::io::Error::other(clean(&e))),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current = self.current.slice(n..);
        Ok(n)
    }
}

struct Ranged {
    store: Arc<dyn ObjectStore>,
    path: ObjectPath,
    len: u64,
    /// The only version read, when pinned.
    if_match: Option<String>,
    /// Where the column chunks end, sorted, once the footer is read.
    chunk_ends: OnceLock<Vec<u64>>,
    /// Recently fetched blocks, (start, bytes), newest last.
    cache: Mutex<VecDeque<(u64, Bytes)>>,
}

/// A part object read with range requests, for Parquet's random reads.
#[derive(Clone)]
pub struct RangedObject(Arc<Ranged>);

impl RangedObject {
    pub fn len(&self) -> u64 {
        self.0.len
    }

    pub fn is_empty(&self) -> bool {
        self.0.len == 0
    }

    /// Takes the column chunk boundaries from the part's footer.
    pub fn learn_layout(&self, meta: &parquet::file::metadata::ParquetMetaData) {
        let mut ends: Vec<u64> = meta
            .row_groups()
            .iter()
            .flat_map(|rg| rg.columns())
            .map(|c| {
                let (start, len) = c.byte_range();
                start + len
            })
            .collect();
        ends.sort_unstable();
        ends.dedup();
        let _ = self.0.chunk_ends.set(ends);
    }

    pub fn get_read(&self, start: u64) -> RangedRead {
        RangedRead {
            object: self.clone(),
            pos: start,
        }
    }

    pub fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        let end = start + length as u64;
        if end > self.0.len {
            return Err(parquet::errors::ParquetError::EOF(format!(
                "range {start}..{end} is past the end of {} ({} bytes)",
                self.0.path, self.0.len
            )));
        }
        {
            let cache = self.0.cache.lock().expect("cache lock");
            for (at, bytes) in cache.iter().rev() {
                if *at <= start && end <= at + bytes.len() as u64 {
                    return Ok(bytes.slice((start - at) as usize..(end - at) as usize));
                }
            }
        }
        let mut fetch_end = (start + (length.max(BLOCK)) as u64).min(self.0.len);
        // A read inside one column chunk stops at its end: the next chunk
        // belongs to another column, which the reader may not want (a
        // projection that needs four small columns must not fetch blocks
        // of the payload column beside them).
        if let Some(ends) = self.0.chunk_ends.get() {
            if let Some(&chunk_end) = ends.get(ends.partition_point(|&e| e <= start)) {
                if end <= chunk_end {
                    fetch_end = fetch_end.min(chunk_end);
                }
            }
        }
        let options = GetOptions {
            range: Some(GetRange::Bounded(start..fetch_end)),
            if_match: self.0.if_match.clone(),
            ..Default::default()
        };
        let external = |e: object_store::Error| {
            parquet::errors::ParquetError::External(Box::new(std::io::Error::other(clean(&e))))
        };
        let bytes = block_on(async {
            self.0
                .store
                .get_opts(&self.0.path, options)
                .await?
                .bytes()
                .await
        })
        .map_err(external)?;
        let mut cache = self.0.cache.lock().expect("cache lock");
        if cache.len() == CACHED_BLOCKS {
            cache.pop_front();
        }
        cache.push_back((start, bytes.clone()));
        Ok(bytes.slice(0..length))
    }
}

/// Sequential reads from an offset of a [`RangedObject`], through its cache.
pub struct RangedRead {
    object: RangedObject,
    pos: u64,
}

impl Read for RangedRead {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = self.object.len().saturating_sub(self.pos);
        let n = (buf.len() as u64).min(left) as usize;
        if n == 0 {
            return Ok(0);
        }
        let bytes = self
            .object
            .get_bytes(self.pos, n)
            .map_err(std::io::Error::other)?;
        buf[..n].copy_from_slice(&bytes);
        self.pos += n as u64;
        Ok(n)
    }
}
