//! The archive side of archived-id records: the store keeps one small
//! record (id, content hash, partition) per archived event so that an
//! archived id is never inserted again (see docs/archive.md, "Archived
//! ids"). This module computes those records from the part files, checks
//! and repairs the store's copy of them against the archive (`verify`,
//! `verify --repair`, and the upgrade at the start of every `archive` run),
//! and reads archived versions back for conflict reports.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Serialize;
use uuid::Uuid;

use super::layout::{list_partitions, Partition};
use super::location::{Archive, Dir};
use super::manifest::{part_path, Manifest, PartEntry};
use super::parquet::{for_each_row, read_ids, PartEvents};
use super::read::check_sha256;
use crate::event::{content_hash_of, ContentHash, Event, EventRef};
use crate::store::{live_and_archived, ArchivedId, ScanFilter, Store};

/// Ids named per problem; the rest are counted.
const SHOWN_IDS: usize = 5;

/// The record of one archived row.
pub fn record_of_row(row: &EventRef<'_>, partition: &str) -> ArchivedId {
    ArchivedId {
        id: row.id,
        hash: hash_of_row(row),
        partition: partition.to_string(),
    }
}

/// The content hash of one archived row, as its record holds it.
pub fn hash_of_row(row: &EventRef<'_>) -> ContentHash {
    content_hash_of(
        &row.id,
        row.service,
        row.event_type,
        row.created_at,
        row.aggregate_id,
        row.correlation_id,
        row.payload,
    )
}

/// The records every listed part of `partition` calls for, sorted by id.
/// Each part's SHA-256 is checked against its manifest first.
pub fn partition_records(root: &Archive, partition: &Partition) -> anyhow::Result<Vec<ArchivedId>> {
    let dir = partition.dir(root);
    let manifest = Manifest::load(&dir, partition)?;
    let name = partition.name();
    let mut out = Vec::with_capacity(manifest.rows() as usize);
    for entry in &manifest.parts {
        let path = check_sha256(&dir, entry)?;
        for_each_row(&path, |row| {
            out.push(record_of_row(&row, &name));
            Ok(())
        })?;
    }
    out.sort_unstable_by_key(|r| r.id);
    Ok(out)
}

/// How the store's archived-id records compare with the archive.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RecordsCheck {
    /// Archived events the store has no record of.
    pub missing: u64,
    /// Records the archive does not back.
    pub extra: u64,
    /// Records whose content hash or partition differs from the archive's.
    pub differing: u64,
    /// Records written or removed by `--repair`.
    pub repaired: u64,
    /// (partition folder or store, what is wrong)
    #[serde(skip)]
    pub problems: Vec<(String, String)>,
}

/// Compares the store's records with the archive, partition by partition,
/// and with `repair` makes them equal (writing missing and differing
/// records, removing extra ones). Memory: one partition's records twice.
pub fn check_records(
    root: &Archive,
    store: &mut dyn Store,
    repair: bool,
) -> anyhow::Result<RecordsCheck> {
    let mut check = RecordsCheck::default();
    let partitions = if root.exists()? {
        list_partitions(root)?
    } else {
        Vec::new()
    };
    let names: HashSet<String> = partitions.iter().map(|p| p.name()).collect();
    for p in &partitions {
        // A damaged part is verify's own finding; its records cannot be
        // checked (or repaired) until the part is restored.
        let expected = match partition_records(root, p) {
            Ok(records) => records,
            Err(e) => {
                check.problems.push((
                    p.dir(root).display().to_string(),
                    format!("archived-id records not checked: {e:#}"),
                ));
                continue;
            }
        };
        let stored = store.archived_in(&p.name())?;
        check_partition(root, store, p, expected, stored, repair, &mut check)?;
    }
    // Records of partitions the archive does not have at all.
    for count in store.archived_counts()? {
        if names.contains(&count.partition) {
            continue;
        }
        let stored = store.archived_in(&count.partition)?;
        check.extra += stored.len() as u64;
        check.problems.push((
            store.describe(),
            format!(
                "{} archived-id records name partition {}, which the archive does not have (e.g. {}){}",
                stored.len(),
                count.partition,
                shown(stored.iter().map(|r| r.id)),
                fix_hint(repair)
            ),
        ));
        if repair {
            let ids: Vec<Uuid> = stored.iter().map(|r| r.id).collect();
            check.repaired += store.remove_archived(&ids)?;
        }
    }
    Ok(check)
}

fn check_partition(
    root: &Archive,
    store: &mut dyn Store,
    p: &Partition,
    expected: Vec<ArchivedId>,
    stored: Vec<ArchivedId>,
    repair: bool,
    check: &mut RecordsCheck,
) -> anyhow::Result<()> {
    let folder = p.dir(root).display().to_string();
    let stored: HashMap<Uuid, ArchivedId> = stored.into_iter().map(|r| (r.id, r)).collect();
    let mut seen: HashSet<Uuid> = HashSet::with_capacity(expected.len());
    let mut missing = Vec::new();
    let mut differing = Vec::new();
    for record in expected {
        seen.insert(record.id);
        match stored.get(&record.id) {
            Some(s) if s.hash == record.hash => {}
            Some(_) => differing.push(record),
            None => {
                // Recorded under another partition: the id is archived
                // twice (or the record is stale); compare what it says.
                match store.get_archived(&[record.id])?.into_iter().next() {
                    Some(other) if other == record => {}
                    Some(_) => differing.push(record),
                    None => missing.push(record),
                }
            }
        }
    }
    let extra: Vec<Uuid> = stored
        .keys()
        .filter(|id| !seen.contains(id))
        .copied()
        .collect();
    if !missing.is_empty() {
        check.problems.push((
            folder.clone(),
            format!(
                "{} archived events have no archived-id record in {} (e.g. {}); a re-import would store them live again{}",
                missing.len(),
                store.describe(),
                shown(missing.iter().map(|r| r.id)),
                fix_hint(repair)
            ),
        ));
    }
    if !differing.is_empty() {
        check.problems.push((
            folder.clone(),
            format!(
                "{} archived-id records in {} differ from the archive in content hash or partition (e.g. {}){}",
                differing.len(),
                store.describe(),
                shown(differing.iter().map(|r| r.id)),
                fix_hint(repair)
            ),
        ));
    }
    if !extra.is_empty() {
        check.problems.push((
            folder,
            format!(
                "{} archived-id records in {} name ids this partition does not hold (e.g. {}){}",
                extra.len(),
                store.describe(),
                shown(extra.iter().copied()),
                fix_hint(repair)
            ),
        ));
    }
    check.missing += missing.len() as u64;
    check.differing += differing.len() as u64;
    check.extra += extra.len() as u64;
    if repair {
        let mut put = missing;
        put.extend(differing);
        if !put.is_empty() {
            store.put_archived(&put, false)?;
            check.repaired += put.len() as u64;
        }
        if !extra.is_empty() {
            check.repaired += store.remove_archived(&extra)?;
        }
    }
    Ok(())
}

fn fix_hint(repair: bool) -> &'static str {
    if repair {
        "; repaired"
    } else {
        "; `chronicle verify --repair` (or the next `chronicle archive`) fixes this"
    }
}

fn shown(ids: impl Iterator<Item = Uuid>) -> String {
    let mut ids: Vec<Uuid> = ids.collect();
    ids.sort_unstable();
    ids.iter()
        .take(SHOWN_IDS)
        .map(|id| id.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The upgrade at the start of an `archive` run: partitions whose record
/// count differs from their manifests' row count (a store written before
/// archived-id records existed has none) get their records repaired.
/// One grouped count over the records and the manifests; parts are read
/// only for partitions that need it. Returns the records written or removed;
/// a partition whose parts cannot be read is left for `verify` to report
/// and named in `problems`.
pub fn upgrade_records(
    root: &Archive,
    store: &mut dyn Store,
    problems: &mut Vec<String>,
) -> anyhow::Result<u64> {
    if !root.exists()? {
        return Ok(0);
    }
    let counts: BTreeMap<String, u64> = store
        .archived_counts()?
        .into_iter()
        .map(|c| (c.partition, c.ids))
        .collect();
    let mut repaired = 0;
    for p in list_partitions(root)? {
        let manifest = Manifest::load(&p.dir(root), &p)?;
        if counts.get(&p.name()).copied().unwrap_or(0) == manifest.rows() {
            continue;
        }
        let expected = match partition_records(root, &p) {
            Ok(records) => records,
            Err(e) => {
                problems.push(format!(
                    "{}: archived-id records not upgraded: {e:#}",
                    p.dir(root).display()
                ));
                continue;
            }
        };
        let stored = store.archived_in(&p.name())?;
        let mut check = RecordsCheck::default();
        check_partition(root, store, &p, expected, stored, true, &mut check)?;
        repaired += check.repaired;
    }
    Ok(repaired)
}

/// An archived event and the listed part that holds it.
#[derive(Debug, Clone)]
pub struct ArchivedVersion {
    pub event: Event,
    pub partition: Partition,
    pub dir: Dir,
    pub entry: PartEntry,
}

/// The archived versions of `wanted` (id, partition), for conflict reports
/// and the archive's settling of ids archived elsewhere: each partition
/// named is read once. Ids not found are absent.
pub fn archived_versions(
    root: &Archive,
    wanted: &[(Uuid, String)],
) -> anyhow::Result<HashMap<Uuid, ArchivedVersion>> {
    let mut by_partition: BTreeMap<&str, HashSet<Uuid>> = BTreeMap::new();
    for (id, partition) in wanted {
        by_partition.entry(partition).or_default().insert(*id);
    }
    let mut out = HashMap::new();
    if by_partition.is_empty() || !root.exists()? {
        return Ok(out);
    }
    for p in list_partitions(root)? {
        let Some(ids) = by_partition.get(p.name().as_str()) else {
            continue;
        };
        let dir = p.dir(root);
        let manifest = Manifest::load(&dir, &p)?;
        for entry in &manifest.parts {
            let path = check_sha256(&dir, entry)?;
            for event in PartEvents::open(&path, &ScanFilter::default())? {
                let event = event?;
                if ids.contains(&event.id) {
                    out.insert(
                        event.id,
                        ArchivedVersion {
                            event,
                            partition: p,
                            dir: dir.clone(),
                            entry: entry.clone(),
                        },
                    );
                }
            }
        }
    }
    Ok(out)
}

/// True when the store holds as many archived-id records per partition as
/// the archive holds rows: the store was written or upgraded by a chronicle
/// that keeps them.
pub fn records_complete(root: &Archive, store: &mut dyn Store) -> anyhow::Result<bool> {
    let counts: BTreeMap<String, u64> = store
        .archived_counts()?
        .into_iter()
        .map(|c| (c.partition, c.ids))
        .collect();
    for p in list_partitions(root)? {
        let rows = Manifest::load(&p.dir(root), &p)?.rows();
        if counts.get(&p.name()).copied().unwrap_or(0) != rows {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Live events matching `filter` whose id the archive under `root` also
/// holds, each with the record of its archived version. From the store's
/// records when they cover the archive; otherwise (a store not upgraded
/// yet) from the archive's id columns looked up in the live store, which
/// reads every part's ids once.
pub fn live_overlap(
    root: Option<&Archive>,
    store: &mut dyn Store,
    filter: &ScanFilter,
) -> anyhow::Result<Vec<(Event, ArchivedId)>> {
    let root = match root {
        Some(root) if root.exists()? => root,
        _ => return live_and_archived(store, filter),
    };
    // With no live event in the window, no id can be both live and
    // archived, whatever the records say: skip proving them complete (a read
    // of every record, or of every part's ids for a store without them).
    // The usual case after an archive run, and a dry run over an empty store.
    if store.scan_page(filter, None, 1)?.is_empty() {
        return Ok(Vec::new());
    }
    if records_complete(root, store)? {
        return live_and_archived(store, filter);
    }
    let in_filter = |e: &Event| {
        let r = e.received_at.unwrap_or_default();
        (filter.types.is_empty() || filter.types.contains(&e.event_type))
            && filter.since.is_none_or(|s| r >= s)
            && filter.until.is_none_or(|u| r < u)
    };
    let mut found: Vec<(String, Event)> = Vec::new();
    for p in list_partitions(root)? {
        let dir = p.dir(root);
        for entry in Manifest::load(&dir, &p)?.parts {
            let ids = read_ids(&part_path(&dir, &entry)?)?;
            for chunk in ids.chunks(10_000) {
                for live in store.get_many(chunk)? {
                    if in_filter(&live) {
                        found.push((p.name(), live));
                    }
                }
            }
        }
    }
    let wanted: Vec<(Uuid, String)> = found.iter().map(|(p, e)| (e.id, p.clone())).collect();
    let versions = archived_versions(root, &wanted)?;
    Ok(found
        .into_iter()
        .filter_map(|(p, live)| {
            let record = ArchivedId::of(&versions.get(&live.id)?.event, &p);
            Some((live, record))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::OpenMode;

    /// A copy of fixtures/legacy-archive (a store without archived-id
    /// records, its archive, two archived ids live again) with the January
    /// part file removed, so that any read of the archive's ids fails.
    fn legacy_without_a_part() -> (tempfile::TempDir, Archive, Box<dyn Store>) {
        let tmp = tempfile::tempdir().unwrap();
        let from = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/legacy-archive");
        let copy = |rel: &str| {
            let to = tmp.path().join(rel);
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(from.join(rel), to).unwrap();
        };
        copy("store.db");
        copy("archive/year=2016/month=01/_manifest.json");
        copy("archive/year=2016/month=02/_manifest.json");
        copy("archive/year=2016/month=02/part-00001.parquet");
        let store = crate::store::open_with(
            tmp.path().join("store.db").to_str().unwrap(),
            OpenMode::ReadOnly,
        )
        .unwrap();
        let root = Archive::local(&tmp.path().join("archive"));
        (tmp, root, store)
    }

    #[test]
    fn an_empty_live_window_is_settled_without_reading_the_archive() {
        let (_tmp, root, mut store) = legacy_without_a_part();
        // No live event of this type: nothing can be live and archived, and
        // the incomplete records are not proved by reading the parts.
        let empty = ScanFilter {
            types: vec!["no-such-type".into()],
            ..ScanFilter::default()
        };
        assert!(live_overlap(Some(&root), store.as_mut(), &empty)
            .unwrap()
            .is_empty());
        // With live events in the window, the archive's ids are read (and
        // the missing part is an error, never a guess).
        let err = live_overlap(Some(&root), store.as_mut(), &ScanFilter::default()).unwrap_err();
        assert!(format!("{err:#}").contains("part-00001"), "{err:#}");
    }
}
