//! The MongoDB backend: the production live store, behind the same
//! synchronous [`Store`] trait as the embedded SQLite file.
//!
//! It uses the official driver's blocking (`sync`) API, so the driver's
//! tokio runtime stays inside the driver and nothing async leaks into
//! chronicle. Layout, indexes and the duplicate/conflict rules are described
//! in docs/stores.md; the points that need care are explained where they are
//! implemented:
//! - `_id` is the event id as lowercase hyphenated text, so the `_id` order
//!   equals SQLite's blob order and (received_at, _id) scans agree;
//! - payloads are embedded documents, converted from and back to canonical
//!   JSON text without changing a byte (see `codec.rs`);
//! - every document carries the random `write_id` of the append call that
//!   inserted it, so that a batch retried after a network error tells "I
//!   inserted this on the first attempt" from "this was already stored" and
//!   counts neither twice nor as a duplicate.
//!
//! The module's rooms: `uri` (store URIs, through the driver's parser),
//! `codec` (events as BSON documents and back), `write` (the append path),
//! `scan` (ordered pages over an open cursor), `retry` (which failures are
//! transient, backoff, short messages). What stays here is the store itself:
//! opening, indexes, lookups by id, archived-id records and the small
//! collections (runs, checkpoints, locks).

mod codec;
mod profile;
mod retry;
mod scan;
mod uri;
mod write;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use mongodb::bson::{doc, Bson, Document, RawDocumentBuf};
use mongodb::error::ErrorKind;
use mongodb::options::{ClientOptions, IndexOptions, ReturnDocument};
use mongodb::sync::{Client, Collection, Database};
use mongodb::IndexModel;
use uuid::Uuid;

use super::{
    AppendOutcome, ArchivedCount, ArchivedId, ImportRun, LockAttempt, MonthCount, OpenMode,
    ScanCursor, ScanFilter, Store,
};
use crate::event::{now_millis, Event};
use crate::redact::redact_uri as redact;
use codec::{archived_from_doc, archived_to_doc, doc_id, group_count, id_text};
use profile::{Profile, Span};
use retry::{backoff, command_code, is_transient, short_error, DUPLICATE_KEY, MAX_ATTEMPTS};
use scan::OpenScan;

pub use codec::{doc_to_event, event_to_doc};
pub use uri::{MongoUri, DEFAULT_COLLECTION, DEFAULT_DATABASE, DEFAULT_SERVER_SELECTION_TIMEOUT};

/// Documents per `insert_many` call. Large enough that round trips do not
/// dominate, small enough that a retried chunk re-sends little.
const INSERT_CHUNK: usize = 1_000;
/// Ids per `$in` lookup.
const ID_CHUNK: usize = 1_000;

const INDEXES: &[(&str, &[&str])] = &[
    ("received_at_id", &["meta.received_at", "_id"]),
    (
        "type_received_at_id",
        &["meta.type", "meta.received_at", "_id"],
    ),
    ("aggregate_id", &["meta.aggregate_id"]),
];

pub struct MongoStore {
    /// The hosts as written (`host[:port]`, comma-separated), for messages.
    hosts: String,
    description: String,
    server_selection_timeout: Duration,
    events: Collection<RawDocumentBuf>,
    runs: Collection<Document>,
    checkpoints: Collection<Document>,
    locks: Collection<Document>,
    /// Archived-id records: `{_id: id text, h: BinData(16), p: partition}`.
    archived: Collection<Document>,
    scan: Option<OpenScan>,
    /// Wall time per operation, when `CHRONICLE_MONGO_PROFILE` is set.
    profile: Option<Arc<Profile>>,
}

impl MongoStore {
    /// Connects, checks that the server answers (waiting at most the
    /// server-selection timeout) and creates missing indexes.
    pub fn open(uri: &str) -> anyhow::Result<MongoStore> {
        MongoStore::open_with(uri, OpenMode::Create)
    }

    /// Opens the store; unless `mode` is `Create`, its events collection
    /// must exist already (a mistyped database name is an error, not an
    /// empty store), and `ReadOnly` creates no index.
    pub fn open_with(uri: &str, mode: OpenMode) -> anyhow::Result<MongoStore> {
        let parsed = MongoUri::parse(uri)?;
        let hosts = parsed.hosts.clone();
        // Parsed already; `run` resolves a `mongodb+srv` name (DNS).
        let mut options = ClientOptions::parse(parsed.connection.clone())
            .run()
            .map_err(|e| anyhow!("cannot use store {}: {}", redact(uri), short_error(&e)))?;
        let timeout = parsed
            .server_selection_timeout
            .unwrap_or(DEFAULT_SERVER_SELECTION_TIMEOUT);
        options.server_selection_timeout = Some(timeout);
        if options.app_name.is_none() {
            options.app_name = Some("chronicle".into());
        }
        let client = Client::with_options(options)
            .map_err(|e| anyhow!("cannot use store {}: {}", redact(uri), short_error(&e)))?;
        let db: Database = client.database(&parsed.database);
        let collection = &parsed.collection;
        let store = MongoStore {
            description: parsed.describe(),
            hosts,
            server_selection_timeout: timeout,
            events: db.collection(collection),
            runs: db.collection(&format!("{collection}_import_runs")),
            checkpoints: db.collection(&format!("{collection}_checkpoints")),
            locks: db.collection(&format!("{collection}_locks")),
            archived: db.collection(&format!("{collection}_archived")),
            scan: None,
            profile: Profile::from_env(),
        };
        // One round trip that fails fast and clearly when nobody answers;
        // no retry here, the driver already waited the whole timeout.
        db.run_command(doc! {"ping": 1})
            .run()
            .map_err(|e| store.fatal(&e))?;
        if mode != OpenMode::Create {
            let found = store.retry(|| {
                db.list_collection_names()
                    .filter(doc! {"name": collection.as_str()})
                    .run()
            })?;
            if found.is_empty() {
                bail!(
                    "store {} does not exist: database {} has no collection {collection} (check --store or CHRONICLE_STORE; only import, archive and replay create a store)",
                    store.description,
                    parsed.database
                );
            }
        }
        if mode != OpenMode::ReadOnly {
            store.ensure_indexes()?;
        }
        Ok(store)
    }

    fn ensure_indexes(&self) -> anyhow::Result<()> {
        let existing: Vec<Document> = self.retry(|| {
            match self.events.list_indexes().run() {
                Ok(cursor) => cursor.map(|m| m.map(|m| m.keys)).collect(),
                // The collection does not exist yet (NamespaceNotFound).
                Err(e) if command_code(&e) == Some(26) => Ok(Vec::new()),
                Err(e) => Err(e),
            }
        })?;
        for (name, fields) in INDEXES {
            // Compared by key pattern, not name, so an index created by hand
            // under another name is reused rather than duplicated.
            if existing.iter().any(|k| is_ascending_index_on(k, fields)) {
                continue;
            }
            let mut keys = Document::new();
            for f in *fields {
                keys.insert(*f, 1i32);
            }
            let model = IndexModel::builder()
                .keys(keys)
                .options(IndexOptions::builder().name(name.to_string()).build())
                .build();
            self.retry(|| match self.events.create_index(model.clone()).run() {
                // Created meanwhile by another chronicle, or present with
                // other options (IndexOptionsConflict, IndexKeySpecsConflict).
                Err(e) if matches!(command_code(&e), Some(85 | 86)) => Ok(()),
                other => other.map(|_| ()),
            })
            .with_context(|| format!("cannot create index {name} on {}", self.description))?;
        }
        Ok(())
    }

    /// The documents of `collection` whose `_id` is one of `ids`, one
    /// `$in` query per [`ID_CHUNK`] ids.
    fn find_by_ids<T>(&self, collection: &Collection<T>, ids: &[Uuid]) -> anyhow::Result<Vec<T>>
    where
        T: serde::de::DeserializeOwned + Unpin + Send + Sync,
    {
        let mut out = Vec::new();
        for chunk in ids.chunks(ID_CHUNK) {
            let keys: Vec<String> = chunk.iter().map(id_text).collect();
            let docs: Vec<T> = self.retry(|| {
                collection
                    .find(doc! {"_id": {"$in": &keys}})
                    .batch_size(ID_CHUNK as u32)
                    .run()?
                    .collect()
            })?;
            out.extend(docs);
        }
        Ok(out)
    }

    /// Reads the stored documents with these ids, keyed by id.
    fn stored_docs(&self, ids: &[Uuid]) -> anyhow::Result<HashMap<Uuid, RawDocumentBuf>> {
        let mut out = HashMap::with_capacity(ids.len());
        for d in self.find_by_ids(&self.events, ids)? {
            out.insert(doc_id(&d)?, d);
        }
        Ok(out)
    }

    /// The archived-id records of these ids, keyed by id.
    fn archived_records(&self, ids: &[Uuid]) -> anyhow::Result<HashMap<Uuid, ArchivedId>> {
        let mut out = HashMap::new();
        for d in self.find_by_ids(&self.archived, ids)? {
            let record = archived_from_doc(&d)?;
            out.insert(record.id, record);
        }
        Ok(out)
    }

    /// Inserts or replaces archived-id records.
    fn upsert_archived(&self, records: &[ArchivedId]) -> anyhow::Result<()> {
        for chunk in records.chunks(INSERT_CHUNK) {
            let docs: Vec<Document> = chunk.iter().map(archived_to_doc).collect();
            let mut attempt = 1;
            let existing: Vec<usize> = loop {
                match self.archived.insert_many(&docs).ordered(false).run() {
                    Ok(_) => break Vec::new(),
                    Err(e) => match &*e.kind {
                        ErrorKind::InsertMany(f)
                            if f.write_concern_error.is_none()
                                && f.write_errors
                                    .iter()
                                    .flatten()
                                    .all(|w| w.code == DUPLICATE_KEY) =>
                        {
                            break f.write_errors.iter().flatten().map(|w| w.index).collect();
                        }
                        _ if is_transient(&e) && attempt < MAX_ATTEMPTS => {
                            std::thread::sleep(backoff(attempt));
                            attempt += 1;
                        }
                        _ => return Err(self.fatal(&e)),
                    },
                }
            };
            // Rare (a repair, a re-archived id): replace one by one.
            for i in existing {
                let d = &docs[i];
                self.retry(|| {
                    self.archived
                        .replace_one(doc! {"_id": d.get("_id").cloned()}, d.clone())
                        .upsert(true)
                        .run()
                })?;
            }
        }
        Ok(())
    }
}

/// True when `keys` (an index key pattern) is exactly `fields`, ascending,
/// whatever numeric type a shell or another driver wrote the 1 in.
fn is_ascending_index_on(keys: &Document, fields: &[&str]) -> bool {
    keys.len() == fields.len()
        && keys.iter().zip(fields).all(|((k, v), f)| {
            k == f
                && match v {
                    Bson::Int32(n) => *n == 1,
                    Bson::Int64(n) => *n == 1,
                    Bson::Double(n) => *n == 1.0,
                    _ => false,
                }
        })
}

impl MongoStore {
    /// Runs an aggregation on `collection` and collects its rows, retried
    /// like every other call; `allowDiskUse` because a `$group` over a
    /// large store outgrows the server's in-memory limit.
    fn aggregate<T: Send + Sync>(
        &self,
        collection: &Collection<T>,
        pipeline: Vec<Document>,
    ) -> anyhow::Result<Vec<Document>> {
        self.retry(|| {
            collection
                .aggregate(pipeline.clone())
                .allow_disk_use(true)
                .run()?
                .collect()
        })
    }
}

impl Store for MongoStore {
    fn describe(&self) -> String {
        self.description.clone()
    }

    fn append(&mut self, events: &[Event]) -> anyhow::Result<Vec<AppendOutcome>> {
        let mut span = Span::start(&self.profile, "append");
        span.docs(events.len());
        self.append_events(events)
    }

    fn scan_page(
        &mut self,
        filter: &ScanFilter,
        after: Option<&ScanCursor>,
        limit: usize,
    ) -> anyhow::Result<Vec<Event>> {
        let mut span = Span::start(&self.profile, "scan");
        let page = self.scan_events(filter, after, limit)?;
        span.docs(page.len());
        Ok(page)
    }

    fn get_many(&mut self, ids: &[Uuid]) -> anyhow::Result<Vec<Event>> {
        let mut span = Span::start(&self.profile, "get");
        span.docs(ids.len());
        let stored = self.stored_docs(ids)?;
        let mut out = Vec::with_capacity(stored.len());
        for id in ids {
            if let Some(d) = stored.get(id) {
                out.push(doc_to_event(d)?);
            }
        }
        Ok(out)
    }

    fn delete_ids(&mut self, ids: &[Uuid]) -> anyhow::Result<u64> {
        let mut span = Span::start(&self.profile, "delete");
        span.docs(ids.len());
        self.scan = None;
        let mut deleted = 0u64;
        for chunk in ids.chunks(ID_CHUNK) {
            let keys: Vec<String> = chunk.iter().map(id_text).collect();
            let filter = doc! {"_id": {"$in": &keys}};
            // Counted first so that a delete retried after a network error,
            // whose first attempt may have removed part of the chunk, still
            // reports exactly how many of these ids this call removed.
            let count = Span::start(&self.profile, "delete.count");
            let before = self.retry(|| self.events.count_documents(filter.clone()).run())?;
            drop(count);
            match self.events.delete_many(filter.clone()).run() {
                Ok(r) => deleted += r.deleted_count,
                Err(e) if is_transient(&e) => {
                    self.retry(|| self.events.delete_many(filter.clone()).run())?;
                    let left = self.retry(|| self.events.count_documents(filter.clone()).run())?;
                    deleted += before.saturating_sub(left);
                }
                Err(e) => return Err(self.fatal(&e)),
            }
        }
        Ok(deleted)
    }

    fn put_archived(&mut self, records: &[ArchivedId], delete_live: bool) -> anyhow::Result<u64> {
        // No multi-document transactions: records first, so that a crash
        // before the delete leaves ids live and recorded (the next archive
        // run deletes them), never deleted and unrecorded.
        let mut span = Span::start(&self.profile, "archived.records");
        span.docs(records.len());
        self.upsert_archived(records)?;
        drop(span);
        if !delete_live {
            return Ok(0);
        }
        let ids: Vec<Uuid> = records.iter().map(|r| r.id).collect();
        self.delete_ids(&ids)
    }

    fn get_archived(&mut self, ids: &[Uuid]) -> anyhow::Result<Vec<ArchivedId>> {
        let mut span = Span::start(&self.profile, "archived.lookup");
        span.docs(ids.len());
        let found = self.archived_records(ids)?;
        Ok(ids.iter().filter_map(|id| found.get(id).cloned()).collect())
    }

    fn archived_in(&mut self, partition: &str) -> anyhow::Result<Vec<ArchivedId>> {
        let docs: Vec<Document> = self.retry(|| {
            self.archived
                .find(doc! {"p": partition})
                .sort(doc! {"_id": 1})
                .run()?
                .collect()
        })?;
        docs.iter().map(archived_from_doc).collect()
    }

    fn remove_archived(&mut self, ids: &[Uuid]) -> anyhow::Result<u64> {
        let mut removed = 0;
        for chunk in ids.chunks(ID_CHUNK) {
            let keys: Vec<String> = chunk.iter().map(id_text).collect();
            // Deleting by id is idempotent, so a retry is safe; the count
            // may then be short by what the lost attempt removed.
            let r = self.retry(|| {
                self.archived
                    .delete_many(doc! {"_id": {"$in": &keys}})
                    .run()
            })?;
            removed += r.deleted_count;
        }
        Ok(removed)
    }

    fn archived_counts(&mut self) -> anyhow::Result<Vec<ArchivedCount>> {
        let _span = Span::start(&self.profile, "counts");
        let pipeline = vec![doc! {"$group": {"_id": "$p", "n": {"$sum": 1}}}];
        let rows = self.aggregate(&self.archived, pipeline)?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            out.push(ArchivedCount {
                partition: row.get_str("_id")?.to_string(),
                ids: group_count(&row, "n", "archived counts")?,
            });
        }
        out.sort_by(|a, b| a.partition.cmp(&b.partition));
        Ok(out)
    }

    fn month_counts(&mut self) -> anyhow::Result<Vec<MonthCount>> {
        let _span = Span::start(&self.profile, "counts");
        let pipeline = vec![
            doc! {"$group": {
                "_id": {
                    "month": {"$dateToString": {"format": "%Y-%m", "date": "$meta.received_at", "timezone": "UTC"}},
                    "type": "$meta.type",
                },
                "count": {"$sum": 1},
            }},
            doc! {"$sort": {"_id.month": 1, "_id.type": 1}},
        ];
        let rows = self.aggregate(&self.events, pipeline)?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let key = row.get_document("_id")?;
            out.push(MonthCount {
                month: key.get_str("month")?.to_string(),
                event_type: key.get_str("type")?.to_string(),
                count: group_count(&row, "count", "month counts")?,
            });
        }
        // The server sorts by its own string collation; re-sort so the
        // order is byte order, as in SQLite.
        out.sort_by(|a, b| (&a.month, &a.event_type).cmp(&(&b.month, &b.event_type)));
        Ok(out)
    }

    fn record_run(&mut self, run: &ImportRun) -> anyhow::Result<()> {
        let mut record = mongodb::bson::serialize_to_document(run)?;
        record.insert("_id", run.run_id.clone());
        self.retry(|| {
            self.runs
                .replace_one(doc! {"_id": &run.run_id}, record.clone())
                .upsert(true)
                .run()
        })?;
        Ok(())
    }

    fn runs(&mut self) -> anyhow::Result<Vec<ImportRun>> {
        let docs: Vec<Document> = self.retry(|| {
            self.runs
                .find(doc! {})
                .sort(doc! {"started_at": 1, "_id": 1})
                .run()?
                .collect()
        })?;
        let mut out = Vec::with_capacity(docs.len());
        for mut d in docs {
            d.remove("_id");
            out.push(
                mongodb::bson::deserialize_from_document(d)
                    .context("unreadable import run record")?,
            );
        }
        Ok(out)
    }

    fn checkpoint(&mut self, name: &str) -> anyhow::Result<Option<String>> {
        let found = self.retry(|| self.checkpoints.find_one(doc! {"_id": name}).run())?;
        match found {
            None => Ok(None),
            Some(d) => Ok(Some(
                d.get_str("value")
                    .with_context(|| format!("checkpoint {name} has no string value"))?
                    .to_string(),
            )),
        }
    }

    fn set_checkpoint(&mut self, name: &str, value: &str) -> anyhow::Result<()> {
        self.retry(|| {
            self.checkpoints
                .replace_one(doc! {"_id": name}, doc! {"_id": name, "value": value})
                .upsert(true)
                .run()
        })?;
        Ok(())
    }

    fn try_lock(&mut self, name: &str, holder: &str, ttl_ms: i64) -> anyhow::Result<LockAttempt> {
        let _span = Span::start(&self.profile, "lock");
        // One conditional upsert: it matches our own lock or an expired one
        // and updates it; when someone else's live lock exists it does not
        // match, the upsert collides on `_id` (11000), and we report it.
        for _ in 0..MAX_ATTEMPTS {
            let now = now_millis();
            let result = self.retry(|| {
                let attempt = self
                    .locks
                    .find_one_and_update(
                        doc! {"_id": name, "$or": [{"holder": holder}, {"expires_at": {"$lte": now}}]},
                        doc! {"$set": {"holder": holder, "expires_at": now + ttl_ms}},
                    )
                    .upsert(true)
                    .return_document(ReturnDocument::After)
                    .run();
                match attempt {
                    Ok(_) => Ok(true),
                    Err(e) if command_code(&e) == Some(DUPLICATE_KEY) => Ok(false),
                    Err(e) => Err(e),
                }
            })?;
            if result {
                return Ok(LockAttempt::Acquired);
            }
            let current = self.retry(|| self.locks.find_one(doc! {"_id": name}).run())?;
            if let Some(d) = current {
                let current_holder = d.get_str("holder").unwrap_or("?");
                let expires_at = d.get_i64("expires_at").unwrap_or_default();
                if current_holder != holder && expires_at > now_millis() {
                    return Ok(LockAttempt::Held {
                        holder: current_holder.to_string(),
                        expires_at,
                    });
                }
            }
            // Released or expired in between: try again.
        }
        bail!(
            "lock {name} on {} kept changing hands; try again",
            self.description
        )
    }

    fn unlock(&mut self, name: &str, holder: &str) -> anyhow::Result<()> {
        self.retry(|| {
            self.locks
                .delete_one(doc! {"_id": name, "holder": holder})
                .run()
        })?;
        Ok(())
    }
    fn reopen(&self) -> anyhow::Result<Box<dyn Store>> {
        // The driver's client is a shared connection pool: a clone of the
        // collections is a second, independent handle on it.
        Ok(Box::new(MongoStore {
            hosts: self.hosts.clone(),
            description: self.description.clone(),
            server_selection_timeout: self.server_selection_timeout,
            events: self.events.clone(),
            runs: self.runs.clone(),
            checkpoints: self.checkpoints.clone(),
            locks: self.locks.clone(),
            archived: self.archived.clone(),
            scan: None,
            profile: self.profile.clone(),
        }))
    }
}
