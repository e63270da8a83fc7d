//! The `_manifest.json` of one partition folder: the list of part files
//! that belong to the archive, with what each must contain. A part file is
//! part of the archive exactly when its manifest lists it; the manifest is
//! only ever replaced atomically, after the part it adds was verified, and
//! only if it is still the version the writer read (compare and swap).
//!
//! A manifest is data, not instructions: an entry may only name a plain
//! `part-NNNNN.parquet` file in its own folder, and its recorded facts
//! (rows, time range, types) are checked for consistency here and against
//! the file by `verify`. Readers never prune by them (see [`super::read`]).

use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

use super::layout::{part_name, part_seq, Partition, MANIFEST};
use super::location::{ControlFiles, Dir, Loc, Version};
use super::parquet::{WrittenPart, SCHEMA_VERSION};
use crate::event::{format_millis, now_millis, parse_rfc3339_millis, Millis};
use crate::exit::LostRaceError;

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
    /// On object storage, the ETag of the object whose SHA-256 is `sha256`
    /// (taken from the stored object when the part was archived). A reader
    /// that finds the same ETag reads that version with range requests,
    /// every one conditional on it, instead of reading the whole object
    /// again for its SHA-256. Absent on a local disk and in older entries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
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
            etag: None,
        }
    }

    /// The recorded time range, parsed.
    pub fn time_range(&self) -> Result<(Millis, Millis), String> {
        let parse = |field: &str, text: &str| {
            parse_rfc3339_millis(text)
                .map_err(|_| format!("{field} `{text}` is not an RFC 3339 time"))
        };
        Ok((
            parse("min_received_at", &self.min_received_at)?,
            parse("max_received_at", &self.max_received_at)?,
        ))
    }
}

/// True for a part file name: `part-` and a sequence number of at least
/// five digits, `.parquet`, nothing else (no folders, no `..`).
pub fn is_part_name(name: &str) -> bool {
    part_seq(name).is_some_and(|seq| part_name(seq) == name)
}

fn is_sha256_hex(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The path of a listed part, once its entry names a plain part file of
/// this folder: a name such as `/etc/passwd`, `../month=04/part-00001.parquet`
/// or a symlink is refused with an error naming the entry, before anything
/// opens it.
pub fn part_path(dir: &Dir, entry: &PartEntry) -> anyhow::Result<Loc> {
    let manifest = dir.join(MANIFEST);
    anyhow::ensure!(
        is_part_name(&entry.file),
        "{}: entry `{}`: not a part file of this folder (expected part-NNNNN.parquet)",
        manifest.display(),
        entry.file
    );
    let path = dir.join(&entry.file);
    match path.stat()? {
        Some(stat) if !stat.plain => anyhow::bail!(
            "{}: entry `{}`: not a plain file (a symlink or folder); it is not read",
            manifest.display(),
            entry.file
        ),
        _ => Ok(path),
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

    /// Parses a manifest's text; `path` names it in errors.
    fn parse(bytes: &[u8], path: &str) -> anyhow::Result<Manifest> {
        let manifest: Manifest = serde_json::from_slice(bytes)
            .with_context(|| format!("{path} is not a valid archive manifest"))?;
        anyhow::ensure!(
            manifest.schema_version <= SCHEMA_VERSION,
            "{path} has schema version {}, newer than this chronicle understands ({SCHEMA_VERSION}); upgrade chronicle",
            manifest.schema_version
        );
        Ok(manifest)
    }

    /// Loads the manifest of a partition folder as it is, for `verify` to
    /// inspect; a folder without one has an empty manifest. Everything else
    /// reads manifests through [`Manifest::load_checked`].
    pub fn load(dir: &Dir, partition: &Partition) -> anyhow::Result<Manifest> {
        let key = dir.key(MANIFEST);
        let files = dir.archive().files();
        match files.read(&key)? {
            None => Ok(Manifest::empty(partition)),
            Some((bytes, _)) => Manifest::parse(&bytes, &files.describe(&key)),
        }
    }

    /// Loads a manifest and refuses it, naming the entry, when any entry
    /// breaks the rules of [`Manifest::problems`].
    pub fn load_checked(dir: &Dir, partition: &Partition) -> anyhow::Result<Manifest> {
        let manifest = Manifest::load(dir, partition)?;
        manifest.ensure_valid(&dir.join(MANIFEST).display().to_string(), partition)?;
        Ok(manifest)
    }

    fn ensure_valid(&self, path: &str, partition: &Partition) -> anyhow::Result<()> {
        let problems = self.problems(partition);
        anyhow::ensure!(
            problems.is_empty(),
            "{path}: {}; the manifest is damaged or was edited, run `chronicle verify`",
            problems.join("; ")
        );
        Ok(())
    }

    /// What is wrong with the manifest on its own, one line per problem,
    /// each naming the entry: its partition differs from the folder's, an
    /// entry names anything but a part file of this folder or is listed
    /// twice, a time range does not parse or lies outside the partition,
    /// the type counts do not add up to the rows, a digest is not SHA-256.
    pub fn problems(&self, partition: &Partition) -> Vec<String> {
        let mut out = Vec::new();
        if self.partition != partition.name() {
            out.push(format!(
                "names partition {} but lies in the folder of {}",
                self.partition,
                partition.name()
            ));
        }
        let mut seen = BTreeSet::new();
        for entry in &self.parts {
            let mut problem = |text: String| out.push(format!("entry `{}`: {text}", entry.file));
            if !is_part_name(&entry.file) {
                problem("not a part file of this folder (expected part-NNNNN.parquet)".into());
                continue;
            }
            if !seen.insert(entry.file.as_str()) {
                problem("listed more than once".into());
            }
            match entry.time_range() {
                Err(e) => problem(e),
                Ok((min, max)) if min > max => problem(format!(
                    "min_received_at {} is after max_received_at {}",
                    entry.min_received_at, entry.max_received_at
                )),
                Ok((min, max)) if min < partition.start() || max >= partition.end() => {
                    problem(format!(
                        "time range {} .. {} lies outside the partition [{}, {})",
                        entry.min_received_at,
                        entry.max_received_at,
                        format_millis(partition.start()),
                        format_millis(partition.end())
                    ))
                }
                Ok(_) => {}
            }
            // u128: counts are untrusted input, and a u64 sum of crafted
            // counts could wrap round to the row count.
            let typed: u128 = entry.types.values().map(|&n| u128::from(n)).sum();
            if entry.rows == 0 || typed != u128::from(entry.rows) {
                problem(format!(
                    "records {} rows but its types add up to {typed}",
                    entry.rows
                ));
            }
            for (field, value) in [("sha256", &entry.sha256), ("ids_digest", &entry.ids_digest)] {
                if !is_sha256_hex(value) {
                    problem(format!("{field} `{value}` is not a SHA-256 in hex"));
                }
            }
        }
        out
    }

    /// Reads a partition's manifest with its version, for a writer that
    /// will replace it with [`Manifest::save_if`]; `None` when there is none
    /// yet. A manifest that breaks the rules is an error.
    pub fn read_versioned(
        files: &dyn ControlFiles,
        partition: &Partition,
    ) -> anyhow::Result<(Manifest, Option<Version>)> {
        let key = partition.key(MANIFEST);
        let Some((bytes, version)) = files.read(&key)? else {
            return Ok((Manifest::empty(partition), None));
        };
        let path = files.describe(&key);
        let manifest = Manifest::parse(&bytes, &path)?;
        manifest.ensure_valid(&path, partition)?;
        Ok((manifest, Some(version)))
    }

    /// Replaces the manifest atomically, only if it is still `expected`
    /// (`None`: only if there is none yet), and returns the new version. A
    /// manifest that changed since it was read means another writer got
    /// there first: a [`LostRaceError`], and nothing is overwritten.
    pub fn save_if(
        &self,
        files: &dyn ControlFiles,
        partition: &Partition,
        expected: Option<&Version>,
    ) -> anyhow::Result<Version> {
        let mut text = serde_json::to_string_pretty(self)?;
        text.push('\n');
        let key = partition.key(MANIFEST);
        let saved = match expected {
            Some(version) => files.replace(&key, version, text.as_bytes())?,
            None => files.create(&key, text.as_bytes())?,
        };
        saved.ok_or_else(|| {
            LostRaceError(format!(
                "{} was changed by another writer since this run read it; this run stopped without overwriting it (its new part files stay unlisted and their events live; the next run settles them)",
                files.describe(&key)
            ))
            .into()
        })
    }

    pub fn rows(&self) -> u64 {
        self.parts
            .iter()
            .fold(0u64, |n, p| n.saturating_add(p.rows))
    }

    pub fn bytes(&self) -> u64 {
        self.parts
            .iter()
            .fold(0u64, |n, p| n.saturating_add(p.bytes))
    }

    pub fn contains(&self, file: &str) -> bool {
        self.parts.iter().any(|p| p.file == file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::layout::Granularity;
    use crate::event::parse_time_bound;

    fn entry(file: &str) -> PartEntry {
        PartEntry {
            file: file.into(),
            rows: 2,
            bytes: 100,
            sha256: "ab".repeat(32),
            min_received_at: "2016-01-02T00:00:00.000Z".into(),
            max_received_at: "2016-01-30T00:00:00.000Z".into(),
            ids_digest: "cd".repeat(32),
            types: [("x".to_string(), 2)].into(),
            written_at: "2026-01-01T00:00:00.000Z".into(),
            etag: None,
        }
    }

    #[test]
    fn entries_must_name_part_files_and_agree_with_themselves() {
        let jan = Partition::of(parse_time_bound("2016-01-10").unwrap(), Granularity::Month);
        let mut m = Manifest::empty(&jan);
        m.parts.push(entry("part-00001.parquet"));
        assert!(m.problems(&jan).is_empty(), "{:?}", m.problems(&jan));
        for bad in [
            "/etc/passwd",
            "../../../../etc/passwd",
            "../month=04/part-00001.parquet",
            "part-1.parquet",
            "part-+0001.parquet",
            "part-00001.parquet/x",
            "",
        ] {
            assert!(!is_part_name(bad), "{bad}");
            let mut m = m.clone();
            m.parts[0].file = bad.into();
            let problems = m.problems(&jan);
            assert_eq!(problems.len(), 1, "{problems:?}");
            assert!(problems[0].contains(&format!("entry `{bad}`")));
        }
        let mut late = m.clone();
        late.parts[0].max_received_at = "2016-02-01T00:00:00.000Z".into();
        assert!(late.problems(&jan)[0].contains("outside the partition"));
        let mut counts = m.clone();
        counts.parts[0].types.insert("y".into(), 1);
        assert!(counts.problems(&jan)[0].contains("types add up to 3"));
        // Crafted counts whose u64 sum wraps round to the rows are still
        // refused (and never overflow).
        let mut wrapping = m.clone();
        wrapping.parts[0].types = [("a".to_string(), u64::MAX), ("b".to_string(), 3)].into();
        assert!(wrapping.problems(&jan)[0].contains("types add up to"));
        let mut twice = m.clone();
        twice.parts.push(entry("part-00001.parquet"));
        assert!(twice.problems(&jan)[0].contains("more than once"));
        let feb = jan.next();
        assert!(m.problems(&feb)[0].contains("names partition 2016-01"));
    }
}
