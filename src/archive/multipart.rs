//! Multipart uploads that a killed run cannot leave behind unseen.
//!
//! An S3 multipart upload in progress is invisible: it is in no listing of
//! objects, readers never see it, and its parts are billed until it is
//! completed or aborted. `object_store`'s `put_multipart` hides the upload
//! id, so a run killed mid-part (SIGKILL, power loss) would leave one that
//! nothing can name. Instead, each part upload here goes through the
//! [`MultipartStore`] API, which returns the id, and the id is written to a
//! small marker object beside the temporary object before the first chunk
//! goes up (`.part-00001.parquet.upload.RUN.tmp`, a temporary name itself,
//! so every place that looks for leftovers finds it). The marker is deleted
//! once the upload is completed or aborted. The next run (under the archive
//! lock) and `verify` (for runs that no longer hold the lock) abort the
//! upload a marker names, then delete the marker: see
//! [`super::location::Backend::remove_temp`].
//!
//! Left unnamed: an upload created by a run killed before its marker was
//! written (one request's window, no parts yet), and the single-part
//! upload of the server-side copy that publishes a part (object_store makes
//! it internally and aborts it on failure, but not after a SIGKILL).
//! docs/archive.md recommends a bucket lifecycle rule for those.

use std::sync::{Arc, Mutex};

use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path as ObjectPath;
use object_store::{MultipartId, MultipartUpload, PutPayload, PutResult, UploadPart};
use serde::{Deserialize, Serialize};

/// What an upload marker holds.
#[derive(Debug, Serialize, Deserialize)]
pub struct Marker {
    /// The run that started the upload.
    pub run: String,
    /// The key of the object being uploaded, relative to the archive root.
    pub object: String,
    pub upload_id: String,
}

impl Marker {
    pub fn encode(&self) -> Vec<u8> {
        let mut text = serde_json::to_string_pretty(self).expect("a marker encodes");
        text.push('\n');
        text.into_bytes()
    }

    /// `None` for anything that is not a marker (nothing to abort then).
    pub fn decode(bytes: &[u8]) -> Option<Marker> {
        serde_json::from_slice(bytes).ok()
    }
}

/// One named multipart upload, as [`object_store::WriteMultipart`] drives
/// it: chunks are put as parts (several at once, in any order) and their
/// ids collected by index for the completion.
pub struct NamedUpload {
    store: Arc<dyn MultipartStore>,
    path: ObjectPath,
    id: MultipartId,
    parts: Arc<Mutex<Vec<Option<PartId>>>>,
    next: usize,
}

impl NamedUpload {
    pub fn new(store: Arc<dyn MultipartStore>, path: ObjectPath, id: MultipartId) -> NamedUpload {
        NamedUpload {
            store,
            path,
            id,
            parts: Arc::default(),
            next: 0,
        }
    }
}

impl std::fmt::Debug for NamedUpload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NamedUpload({}, {})", self.path, self.id)
    }
}

#[async_trait::async_trait]
impl MultipartUpload for NamedUpload {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        let index = self.next;
        self.next += 1;
        let (store, path, id) = (Arc::clone(&self.store), self.path.clone(), self.id.clone());
        let parts = Arc::clone(&self.parts);
        Box::pin(async move {
            let part = store.put_part(&path, &id, index, data).await?;
            let mut parts = parts.lock().expect("parts lock");
            if parts.len() <= index {
                parts.resize(index + 1, None);
            }
            parts[index] = Some(part);
            Ok(())
        })
    }

    async fn complete(&mut self) -> object_store::Result<PutResult> {
        // WriteMultipart completes only once every part it put succeeded.
        let parts = std::mem::take(&mut *self.parts.lock().expect("parts lock"));
        let parts: Option<Vec<PartId>> = parts.into_iter().collect();
        let parts = parts.ok_or_else(|| object_store::Error::Generic {
            store: "multipart",
            source: "a part of the upload is missing".into(),
        })?;
        self.store
            .complete_multipart(&self.path, &self.id, parts)
            .await
    }

    async fn abort(&mut self) -> object_store::Result<()> {
        self.store.abort_multipart(&self.path, &self.id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_round_trip_and_anything_else_is_none() {
        let marker = Marker {
            run: "0123abcd4567".into(),
            object: "year=2016/month=01/.part-00001.parquet.0123abcd4567.tmp".into(),
            upload_id: "abc".into(),
        };
        let back = Marker::decode(&marker.encode()).unwrap();
        assert_eq!(
            (back.run, back.object, back.upload_id),
            (marker.run, marker.object, marker.upload_id)
        );
        assert!(Marker::decode(b"PAR1").is_none());
        assert!(Marker::decode(b"").is_none());
    }
}
