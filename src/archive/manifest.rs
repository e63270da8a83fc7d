//! The `_manifest.json` of one partition folder: the list of part files
//! that belong to the archive, with what each must contain. A part file is
//! part of the archive exactly when its manifest lists it; the manifest is
//! only ever replaced atomically, after the part it adds was verified.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::layout::{write_atomic, Partition, MANIFEST};
use super::parquet::{WrittenPart, SCHEMA_VERSION};
use crate::event::{format_millis, now_millis};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub schema_version: u32,
    /// `2016-01` or `2016-01-05`.
    pub partition: String,
    pub parts: Vec<PartEntry>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartEntry {
    /// File name inside the partition folder.
    pub file: String,
    pub rows: u64,
    pub bytes: u64,
    /// SHA-256 of the file's bytes, hex.
    pub sha256: String,
    /// RFC 3339, UTC, milliseconds.
    pub min_received_at: String,
    pub max_received_at: String,
    /// SHA-256 of the sorted lowercase ids, one per line (see docs/archive.md).
    pub ids_digest: String,
    /// Rows per event type, so that counts need no file reads.
    pub types: BTreeMap<String, u64>,
    /// When the part was written (RFC 3339).
    pub written_at: String,
}

impl PartEntry {
    /// The entry for a part file that was written, synced and renamed.
    pub fn new(file: &str, bytes: u64, sha256: String, part: &WrittenPart) -> PartEntry {
        PartEntry {
            file: file.to_string(),
            rows: part.rows,
            bytes,
            sha256,
            min_received_at: format_millis(part.min_received_at),
            max_received_at: format_millis(part.max_received_at),
            ids_digest: part.ids_digest.clone(),
            types: part.types.clone(),
            written_at: format_millis(now_millis()),
        }
    }
}

impl Manifest {
    pub fn empty(partition: &Partition) -> Manifest {
        Manifest {
            schema_version: SCHEMA_VERSION,
            partition: partition.name(),
            parts: Vec::new(),
        }
    }

    /// Loads the manifest of a partition folder; a folder without one has an
    /// empty manifest.
    pub fn load(dir: &Path, partition: &Partition) -> anyhow::Result<Manifest> {
        let path = dir.join(MANIFEST);
        if !path.exists() {
            return Ok(Manifest::empty(partition));
        }
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let manifest: Manifest = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a valid archive manifest", path.display()))?;
        anyhow::ensure!(
            manifest.schema_version <= SCHEMA_VERSION,
            "{} has schema version {}, newer than this chronicle understands ({SCHEMA_VERSION}); upgrade chronicle",
            path.display(),
            manifest.schema_version
        );
        Ok(manifest)
    }

    /// Replaces the manifest atomically (temp file, fsync, rename, fsync).
    pub fn save(&self, dir: &Path) -> anyhow::Result<()> {
        let mut text = serde_json::to_string_pretty(self)?;
        text.push('\n');
        write_atomic(&dir.join(MANIFEST), text.as_bytes())
    }

    pub fn rows(&self) -> u64 {
        self.parts.iter().map(|p| p.rows).sum()
    }

    pub fn bytes(&self) -> u64 {
        self.parts.iter().map(|p| p.bytes).sum()
    }

    pub fn contains(&self, file: &str) -> bool {
        self.parts.iter().any(|p| p.file == file)
    }
}
