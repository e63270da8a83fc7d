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
//!   JSON text without changing a byte (see [`json_to_bson`]);
//! - every document carries the random `write_id` of the append call that
//!   inserted it, so that a batch retried after a network error tells "I
//!   inserted this on the first attempt" from "this was already stored" and
//!   counts neither twice nor as a duplicate.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use mongodb::bson::raw::{cstr, CStr};
use mongodb::bson::{doc, spec::BinarySubtype, Bson, DateTime, Document, RawBson};
use mongodb::bson::{RawArray, RawArrayBuf, RawBsonRef, RawDocument, RawDocumentBuf};
use mongodb::error::{Error as MongoError, ErrorKind, WriteFailure};
use mongodb::options::{ClientOptions, IndexOptions, ReturnDocument};
use mongodb::sync::{Client, Collection, Cursor, Database};
use mongodb::IndexModel;
use serde_json::{Map, Number, Value};
use uuid::Uuid;

use super::{
    archived_outcome, AppendOutcome, ArchivedCount, ArchivedId, ImportRun, LockAttempt, MonthCount,
    OpenMode, ScanCursor, ScanFilter, Store,
};
use crate::decimal::{decimal128_from_u64, decimal128_to_number};
use crate::event::{canonical_json, now_millis, Event, Millis};
use crate::redact::redact_uri as redact;

/// Used when the URI names no database.
pub const DEFAULT_DATABASE: &str = "chronicle";
/// Used when the URI has no `collection=` option.
pub const DEFAULT_COLLECTION: &str = "events";
/// MongoDB's drivers wait 30 s by default; an unreachable store should fail
/// a cron job sooner. `serverSelectionTimeoutMS` in the URI overrides it.
pub const DEFAULT_SERVER_SELECTION_TIMEOUT: Duration = Duration::from_secs(10);

/// Documents per `insert_many` call. Large enough that round trips do not
/// dominate, small enough that a retried chunk re-sends little.
const INSERT_CHUNK: usize = 1_000;
/// `insert_many` calls in flight at once within one append.
const WRITERS: usize = 2;
/// Ids per `$in` lookup.
const ID_CHUNK: usize = 1_000;
/// Attempts of one operation before a transient error becomes fatal.
const MAX_ATTEMPTS: u32 = 6;
/// Duplicate-key error code (the server's E11000).
const DUPLICATE_KEY: i32 = 11000;

/// Server error codes after which repeating the same write is safe and may
/// succeed: network trouble, a primary stepping down or restarting, write
/// conflicts and time-outs.
const TRANSIENT_CODES: &[i32] = &[
    6,     // HostUnreachable
    7,     // HostNotFound
    89,    // NetworkTimeout
    91,    // ShutdownInProgress
    112,   // WriteConflict
    134,   // ReadConcernMajorityNotAvailableYet
    189,   // PrimarySteppedDown
    262,   // ExceededTimeLimit
    9001,  // SocketException
    10058, // LegacyNotPrimary
    10107, // NotWritablePrimary
    11600, // InterruptedAtShutdown
    11602, // InterruptedDueToReplStateChange
    13435, // NotPrimaryNoSecondaryOk
    13436, // NotPrimaryOrSecondary
];

const INDEXES: &[(&str, &[&str])] = &[
    ("received_at_id", &["meta.received_at", "_id"]),
    (
        "type_received_at_id",
        &["meta.type", "meta.received_at", "_id"],
    ),
    ("aggregate_id", &["meta.aggregate_id"]),
];

/// What one round of bulk inserts did, by position in the batch.
#[derive(Default)]
struct InsertRound {
    inserted: Vec<usize>,
    /// Refused with a duplicate `_id`: stored before, or by our own attempt
    /// whose reply was lost.
    existing: Vec<usize>,
    /// Failed transiently: to be sent again.
    again: Vec<usize>,
    last_transient: Option<MongoError>,
}

/// A scan whose server cursor is kept open between pages, so that paging
/// through a range costs one query rather than one per page.
struct OpenScan {
    filter: ScanFilter,
    /// Position of the last event handed out; the next page must ask for
    /// exactly this position to continue the cursor.
    last: Option<ScanCursor>,
    cursor: Cursor<RawDocumentBuf>,
}

pub struct MongoStore {
    /// What the user typed between `://` and the path, without credentials.
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
}

/// A parsed `mongodb://` or `mongodb+srv://` store URI.
#[derive(Debug, Clone, PartialEq)]
pub struct MongoUri {
    /// The URI handed to the driver: chronicle's own options removed.
    pub driver_uri: String,
    /// Host list as written (for messages), without user and password.
    pub hosts: String,
    pub database: String,
    pub collection: String,
    pub server_selection_timeout: Option<Duration>,
}

impl MongoUri {
    /// Splits off chronicle's `collection=` option and reads the parts the
    /// messages need; everything else is the driver's business.
    pub fn parse(uri: &str) -> anyhow::Result<MongoUri> {
        let (scheme, rest) = uri
            .split_once("://")
            .filter(|(s, _)| *s == "mongodb" || *s == "mongodb+srv")
            .ok_or_else(|| {
                anyhow!(
                    "`{}` is not a mongodb:// or mongodb+srv:// URI",
                    redact(uri)
                )
            })?;
        let (before_query, query) = match rest.split_once('?') {
            Some((b, q)) => (b, Some(q)),
            None => (rest, None),
        };
        let (authority, path) = match before_query.split_once('/') {
            Some((a, p)) => (a, p),
            None => (before_query, ""),
        };
        let hosts = authority
            .rsplit_once('@')
            .map_or(authority, |(_, h)| h)
            .to_string();
        if hosts.is_empty() {
            bail!("store URI `{}` names no host", redact(uri));
        }
        let database = if path.is_empty() {
            DEFAULT_DATABASE.to_string()
        } else {
            path.to_string()
        };
        let mut collection = DEFAULT_COLLECTION.to_string();
        let mut server_selection_timeout = None;
        let mut kept = Vec::new();
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            if key.eq_ignore_ascii_case("collection") {
                if value.is_empty() || value.contains('$') || value.starts_with("system.") {
                    bail!("store URI option collection=`{value}` is not a usable collection name");
                }
                collection = value.to_string();
                continue;
            }
            if key.eq_ignore_ascii_case("serverSelectionTimeoutMS") {
                let ms: u64 = value.parse().map_err(|_| {
                    anyhow!("store URI option serverSelectionTimeoutMS=`{value}` is not a number of milliseconds")
                })?;
                server_selection_timeout = Some(Duration::from_millis(ms));
            }
            kept.push(pair);
        }
        let mut driver_uri = format!("{scheme}://{before_query}");
        if !kept.is_empty() {
            driver_uri.push('?');
            driver_uri.push_str(&kept.join("&"));
        }
        Ok(MongoUri {
            driver_uri,
            hosts,
            database,
            collection,
            server_selection_timeout,
        })
    }

    pub fn describe(&self) -> String {
        let mut s = format!("mongodb://{}/{}", self.hosts, self.database);
        if self.collection != DEFAULT_COLLECTION {
            s.push_str(&format!("?collection={}", self.collection));
        }
        s
    }
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
        let mut options = ClientOptions::parse(&parsed.driver_uri)
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

    /// The driver error as one short line naming the server, without the
    /// driver's topology dump.
    fn fatal(&self, error: &MongoError) -> anyhow::Error {
        if matches!(*error.kind, ErrorKind::ServerSelection { .. }) {
            anyhow!(
                "cannot reach MongoDB at {}: no server answered within {} (serverSelectionTimeoutMS)",
                self.hosts,
                crate::duration::format_duration_ms(self.server_selection_timeout.as_millis() as i64)
            )
        } else {
            anyhow!("MongoDB at {}: {}", self.hosts, short_error(error))
        }
    }

    /// Runs `op`, retrying transient failures with exponential backoff.
    /// Only for operations that are safe to repeat as a whole.
    fn retry<T>(&self, mut op: impl FnMut() -> mongodb::error::Result<T>) -> anyhow::Result<T> {
        let mut attempt = 1;
        loop {
            match op() {
                Ok(v) => return Ok(v),
                Err(e) if is_transient(&e) && attempt < MAX_ATTEMPTS => {
                    std::thread::sleep(backoff(attempt));
                    attempt += 1;
                }
                Err(e) => return Err(self.fatal(&e)),
            }
        }
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

    /// Inserts the documents at positions `which` of `docs` with unordered
    /// bulk inserts, `WRITERS` chunks at a time.
    fn insert_round(
        &self,
        docs: &[RawDocumentBuf],
        which: &[usize],
    ) -> anyhow::Result<InsertRound> {
        let chunks: Vec<&[usize]> = which.chunks(INSERT_CHUNK).collect();
        let events = &self.events;
        let mut results = Vec::with_capacity(chunks.len());
        for group in chunks.chunks(WRITERS) {
            let group_results: Vec<(usize, mongodb::error::Result<()>)> =
                std::thread::scope(|scope| {
                    let handles: Vec<_> = group
                        .iter()
                        .map(|chunk| {
                            scope.spawn(move || {
                                let result = events
                                    .insert_many(chunk.iter().map(|&i| &docs[i]))
                                    .ordered(false)
                                    .run()
                                    .map(|_| ());
                                (chunk.len(), result)
                            })
                        })
                        .collect();
                    handles
                        .into_iter()
                        .map(|h| h.join().expect("insert thread panicked"))
                        .collect()
                });
            results.extend(group.iter().zip(group_results));
        }
        let mut round = InsertRound::default();
        for (chunk, (_, result)) in results {
            let error = match result {
                Ok(()) => {
                    round.inserted.extend_from_slice(chunk);
                    continue;
                }
                Err(e) => e,
            };
            match &*error.kind {
                ErrorKind::InsertMany(failure) if failure.write_concern_error.is_none() => {
                    let mut failed = vec![None; chunk.len()];
                    for we in failure.write_errors.iter().flatten() {
                        if we.index < chunk.len() {
                            failed[we.index] = Some(we.code);
                        }
                    }
                    for (pos, code) in chunk.iter().zip(failed) {
                        match code {
                            None => round.inserted.push(*pos),
                            Some(DUPLICATE_KEY) => round.existing.push(*pos),
                            Some(code) if TRANSIENT_CODES.contains(&code) => round.again.push(*pos),
                            Some(code) => {
                                let id = docs[*pos].get_str("_id").unwrap_or("?");
                                let message = failure
                                    .write_errors
                                    .iter()
                                    .flatten()
                                    .find(|w| w.code == code)
                                    .map(|w| w.message.clone())
                                    .unwrap_or_default();
                                bail!(
                                    "MongoDB at {} refused event {id}: error {code}: {message}",
                                    self.hosts
                                );
                            }
                        }
                    }
                    if !round.again.is_empty() {
                        round.last_transient = Some(error.clone());
                    }
                }
                // A failed write concern, a network error or a step-down:
                // some of the chunk may be stored. Sending it again is safe
                // because `write_id` recognises our own earlier inserts.
                _ if is_transient(&error) => {
                    round.again.extend_from_slice(chunk);
                    round.last_transient = Some(error.clone());
                }
                _ => return Err(self.fatal(&error)),
            }
        }
        Ok(round)
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

    fn open_cursor(
        &self,
        filter: &ScanFilter,
        after: Option<&ScanCursor>,
        limit: usize,
    ) -> anyhow::Result<Cursor<RawDocumentBuf>> {
        let query = scan_query(filter, after);
        let batch = limit.clamp(100, 10_000) as u32;
        self.retry(|| {
            self.events
                .find(query.clone())
                .sort(doc! {"meta.received_at": 1, "_id": 1})
                .batch_size(batch)
                .run()
        })
    }

    fn read_page(
        &self,
        cursor: &mut Cursor<RawDocumentBuf>,
        limit: usize,
    ) -> mongodb::error::Result<Vec<RawDocumentBuf>> {
        let mut page = Vec::with_capacity(limit.min(10_000));
        while page.len() < limit && cursor.advance()? {
            page.push(cursor.current().to_owned());
        }
        Ok(page)
    }
}

/// The filter of a scan: types, the half-open range, and the keyset
/// position. The position is written as `received_at >= r AND
/// (received_at > r OR _id > id)` rather than a top-level `$or`, so that the
/// range on the leading index field stays a plain index bound for every
/// query planner.
fn scan_query(filter: &ScanFilter, after: Option<&ScanCursor>) -> Document {
    let mut query = Document::new();
    match filter.types.len() {
        0 => {}
        1 => {
            query.insert("meta.type", filter.types[0].clone());
        }
        _ => {
            query.insert("meta.type", doc! {"$in": filter.types.clone()});
        }
    }
    let mut range = Document::new();
    let since = match (filter.since, after) {
        (Some(s), Some((r, _))) => Some(s.max(*r)),
        (s, a) => s.or(a.map(|(r, _)| *r)),
    };
    if let Some(since) = since {
        range.insert("$gte", DateTime::from_millis(since));
    }
    if let Some(until) = filter.until {
        range.insert("$lt", DateTime::from_millis(until));
    }
    if !range.is_empty() {
        query.insert("meta.received_at", range);
    }
    if let Some((received_at, id)) = after {
        query.insert(
            "$or",
            vec![
                doc! {"meta.received_at": {"$gt": DateTime::from_millis(*received_at)}},
                doc! {"_id": {"$gt": id_text(id)}},
            ],
        );
    }
    query
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

fn id_text(id: &Uuid) -> String {
    id.hyphenated().to_string()
}

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis((100u64 << attempt.min(6)).min(5_000))
}

fn command_code(error: &MongoError) -> Option<i32> {
    match &*error.kind {
        ErrorKind::Command(c) => Some(c.code),
        ErrorKind::Write(WriteFailure::WriteError(w)) => Some(w.code),
        ErrorKind::Write(WriteFailure::WriteConcernError(w)) => Some(w.code),
        _ => None,
    }
}

/// True for failures after which the same operation may well succeed.
fn is_transient(error: &MongoError) -> bool {
    if error.contains_label(mongodb::error::RETRYABLE_WRITE_ERROR)
        || error.contains_label(mongodb::error::TRANSIENT_TRANSACTION_ERROR)
    {
        return true;
    }
    match &*error.kind {
        ErrorKind::Io(_)
        | ErrorKind::ConnectionPoolCleared { .. }
        | ErrorKind::ServerSelection { .. } => true,
        ErrorKind::Write(WriteFailure::WriteConcernError(_)) => true,
        ErrorKind::InsertMany(f) => f.write_concern_error.is_some(),
        _ => command_code(error).is_some_and(|c| TRANSIENT_CODES.contains(&c)),
    }
}

/// One line for a person: the error's kind and the server's code and
/// message, never the driver's internal state.
fn short_error(error: &MongoError) -> String {
    match &*error.kind {
        ErrorKind::Command(c) => format!("error {} ({}): {}", c.code, c.code_name, c.message),
        ErrorKind::Write(WriteFailure::WriteError(w)) => {
            format!("write error {}: {}", w.code, w.message)
        }
        ErrorKind::Write(WriteFailure::WriteConcernError(w)) => {
            format!("write concern error {}: {}", w.code, w.message)
        }
        ErrorKind::InsertMany(f) => match (&f.write_errors, &f.write_concern_error) {
            (Some(errors), _) if !errors.is_empty() => {
                format!("write error {}: {}", errors[0].code, errors[0].message)
            }
            (_, Some(w)) => format!("write concern error {}: {}", w.code, w.message),
            _ => "bulk insert failed".into(),
        },
        ErrorKind::Io(e) => format!("network error: {e}"),
        ErrorKind::Authentication { message, .. } => format!("authentication failed: {message}"),
        ErrorKind::InvalidArgument { message, .. } => message.clone(),
        ErrorKind::DnsResolve { message, .. } => format!("DNS lookup failed: {message}"),
        ErrorKind::ServerSelection { .. } => "no server answered".into(),
        other => other.to_string(),
    }
}

impl Store for MongoStore {
    fn describe(&self) -> String {
        self.description.clone()
    }

    fn append(&mut self, events: &[Event]) -> anyhow::Result<Vec<AppendOutcome>> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let now = now_millis();
        let write_id = (Uuid::new_v4().as_u128() as i64) & i64::MAX;
        // Only the first occurrence of an id goes to the server; later ones
        // are resolved against it below, as if appended one after another.
        let mut first_of: HashMap<Uuid, usize> = HashMap::with_capacity(events.len());
        let mut firsts = Vec::with_capacity(events.len());
        for (i, e) in events.iter().enumerate() {
            first_of.entry(e.id).or_insert_with(|| {
                firsts.push(i);
                i
            });
        }
        // Archived ids are settled by their records and never sent: one
        // `$in` query per 1,000 ids.
        let first_ids: Vec<Uuid> = firsts.iter().map(|&i| events[i].id).collect();
        let archived = self.archived_records(&first_ids)?;
        firsts.retain(|&i| !archived.contains_key(&events[i].id));
        let mut docs = Vec::with_capacity(events.len());
        for &i in &firsts {
            docs.push(event_to_doc(&events[i], now, write_id)?);
        }
        let mut outcome: Vec<Option<AppendOutcome>> = vec![None; events.len()];
        let mut stored_of: HashMap<usize, Event> = HashMap::new();
        let mut pending: Vec<usize> = (0..docs.len()).collect();
        let mut attempt = 1;
        while !pending.is_empty() {
            let InsertRound {
                inserted,
                existing,
                mut again,
                last_transient,
            } = self.insert_round(&docs, &pending)?;
            for d in inserted {
                outcome[firsts[d]] = Some(AppendOutcome::Inserted);
            }
            if !existing.is_empty() {
                let ids: Vec<Uuid> = existing.iter().map(|&d| events[firsts[d]].id).collect();
                let stored = self.stored_docs(&ids)?;
                for d in existing {
                    let i = firsts[d];
                    let Some(raw) = stored.get(&events[i].id) else {
                        // Deleted between the insert and the read: try again.
                        again.push(d);
                        continue;
                    };
                    if raw.get_i64("write_id").ok() == Some(write_id) {
                        outcome[i] = Some(AppendOutcome::Inserted);
                        continue;
                    }
                    let stored_event = doc_to_event(raw)?;
                    outcome[i] = Some(compare(&events[i], &stored_event));
                    stored_of.insert(i, stored_event);
                }
            }
            if again.is_empty() {
                break;
            }
            if attempt >= MAX_ATTEMPTS {
                let error = last_transient
                    .map(|e| self.fatal(&e))
                    .unwrap_or_else(|| anyhow!("MongoDB at {}: writes kept failing", self.hosts));
                return Err(error.context(format!(
                    "gave up after {MAX_ATTEMPTS} attempts; events already written are kept and re-running the job is safe"
                )));
            }
            std::thread::sleep(backoff(attempt));
            attempt += 1;
            again.sort_unstable();
            pending = again;
        }
        let mut out = Vec::with_capacity(events.len());
        for (i, event) in events.iter().enumerate() {
            if let Some(record) = archived.get(&event.id) {
                out.push(archived_outcome(event, record));
                continue;
            }
            let first = first_of[&event.id];
            if first == i {
                out.push(
                    outcome[i]
                        .take()
                        .expect("every first occurrence was resolved"),
                );
                continue;
            }
            let stored = match &outcome[first] {
                Some(AppendOutcome::Inserted) | None => {
                    let mut e = events[first].clone();
                    e.received_at = Some(e.received_at.unwrap_or(now));
                    e
                }
                Some(_) => stored_of[&first].clone(),
            };
            out.push(compare(event, &stored));
        }
        if out.iter().any(|o| matches!(o, AppendOutcome::Inserted)) {
            // An open scan may not see what was just written; the next page
            // re-queries from its position, exactly like a keyset page.
            self.scan = None;
        }
        Ok(out)
    }

    fn scan_page(
        &mut self,
        filter: &ScanFilter,
        after: Option<&ScanCursor>,
        limit: usize,
    ) -> anyhow::Result<Vec<Event>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut open = match self.scan.take() {
            Some(s) if s.filter == *filter && s.last.as_ref() == after => s,
            _ => OpenScan {
                filter: filter.clone(),
                last: after.copied(),
                cursor: self.open_cursor(filter, after, limit)?,
            },
        };
        let raw = match self.read_page(&mut open.cursor, limit) {
            Ok(raw) => raw,
            // The server may have dropped an idle cursor (CursorNotFound) or
            // the connection broke: re-query from the same position once.
            Err(_) => {
                open.cursor = self.open_cursor(filter, after, limit)?;
                self.read_page(&mut open.cursor, limit)
                    .map_err(|e| self.fatal(&e))?
            }
        };
        let mut page = Vec::with_capacity(raw.len());
        for d in &raw {
            page.push(doc_to_event(d)?);
        }
        if page.len() == limit {
            if let Some(last) = page.last() {
                open.last = Some((last.received_at.unwrap_or_default(), last.id));
                self.scan = Some(open);
            }
        }
        Ok(page)
    }

    fn get_many(&mut self, ids: &[Uuid]) -> anyhow::Result<Vec<Event>> {
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
        self.scan = None;
        let mut deleted = 0u64;
        for chunk in ids.chunks(ID_CHUNK) {
            let keys: Vec<String> = chunk.iter().map(id_text).collect();
            let filter = doc! {"_id": {"$in": &keys}};
            // Counted first so that a delete retried after a network error,
            // whose first attempt may have removed part of the chunk, still
            // reports exactly how many of these ids this call removed.
            let before = self.retry(|| self.events.count_documents(filter.clone()).run())?;
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
        self.upsert_archived(records)?;
        if !delete_live {
            return Ok(0);
        }
        let ids: Vec<Uuid> = records.iter().map(|r| r.id).collect();
        self.delete_ids(&ids)
    }

    fn get_archived(&mut self, ids: &[Uuid]) -> anyhow::Result<Vec<ArchivedId>> {
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
        let pipeline = vec![doc! {"$group": {"_id": "$p", "n": {"$sum": 1}}}];
        let rows: Vec<Document> = self.retry(|| {
            self.archived
                .aggregate(pipeline.clone())
                .allow_disk_use(true)
                .run()?
                .collect()
        })?;
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
        let rows: Vec<Document> = self.retry(|| {
            self.events
                .aggregate(pipeline.clone())
                .allow_disk_use(true)
                .run()?
                .collect()
        })?;
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
        }))
    }
}

fn compare(incoming: &Event, stored: &Event) -> AppendOutcome {
    if incoming.same_content(stored) || same_after_canonical(incoming, stored) {
        AppendOutcome::Duplicate
    } else {
        AppendOutcome::Conflict {
            stored: Box::new(stored.clone()),
        }
    }
}

/// The stored payload is always canonical (it is rebuilt from BSON); an
/// incoming payload written by hand may order keys differently. Compare the
/// canonical forms before calling it a conflict.
fn same_after_canonical(incoming: &Event, stored: &Event) -> bool {
    if incoming.payload == stored.payload {
        return false;
    }
    let Ok(value) = serde_json::from_str::<Value>(&incoming.payload) else {
        return false;
    };
    let mut normalised = incoming.clone();
    normalised.payload = canonical_json(&value);
    normalised.same_content(stored)
}

fn archived_to_doc(r: &ArchivedId) -> Document {
    doc! {
        "_id": id_text(&r.id),
        "h": mongodb::bson::Binary { subtype: BinarySubtype::Generic, bytes: r.hash.to_vec() },
        "p": r.partition.as_str(),
    }
}

fn archived_from_doc(d: &Document) -> anyhow::Result<ArchivedId> {
    let text = d.get_str("_id").unwrap_or("?");
    let bad = || anyhow!("archived-id record `{text}` is damaged (expected _id, h: 16 bytes, p)");
    Ok(ArchivedId {
        id: Uuid::parse_str(text).map_err(|_| bad())?,
        hash: d
            .get_binary_generic("h")
            .ok()
            .and_then(|h| h.as_slice().try_into().ok())
            .ok_or_else(bad)?,
        partition: d.get_str("p").map_err(|_| bad())?.to_string(),
    })
}

fn doc_id(d: &RawDocument) -> anyhow::Result<Uuid> {
    let text = d
        .get_str("_id")
        .map_err(|_| anyhow!("a stored document has an _id that is not an event id text"))?;
    Uuid::parse_str(text).map_err(|_| anyhow!("stored document _id `{text}` is not a UUID"))
}

/// The stored document of an event (layout in docs/stores.md).
pub fn event_to_doc(event: &Event, now: Millis, write_id: i64) -> anyhow::Result<RawDocumentBuf> {
    let mut meta = RawDocumentBuf::new();
    meta.append(cstr!("service"), event.service.as_str());
    meta.append(cstr!("type"), event.event_type.as_str());
    meta.append(cstr!("created_at"), DateTime::from_millis(event.created_at));
    meta.append(
        cstr!("received_at"),
        DateTime::from_millis(event.received_at.unwrap_or(now)),
    );
    if let Some(a) = &event.aggregate_id {
        meta.append(cstr!("aggregate_id"), a.as_str());
    }
    if let Some(c) = &event.correlation_id {
        meta.append(cstr!("correlation_id"), c.as_str());
    }
    let payload: Value = serde_json::from_str(&event.payload)
        .with_context(|| format!("event {}: payload is not JSON", event.id))?;
    let Value::Object(map) = &payload else {
        bail!("event {}: payload is not a JSON object", event.id);
    };
    let payload = json_object_to_bson(map).with_context(|| format!("event {}", event.id))?;
    let mut d = RawDocumentBuf::new();
    d.append(cstr!("_id"), id_text(&event.id));
    d.append(cstr!("meta"), meta);
    d.append(cstr!("payload"), payload);
    d.append(cstr!("write_id"), write_id);
    Ok(d)
}

/// Converts a JSON object to BSON so that [`bson_to_json`] gives back the
/// same canonical text: integers that fit are Int32/Int64, integers above
/// i64::MAX are exact Decimal128 integers, other numbers are doubles (the
/// f64 serde_json parsed, so printing it again gives the same digits).
fn json_object_to_bson(map: &Map<String, Value>) -> anyhow::Result<RawDocumentBuf> {
    let mut d = RawDocumentBuf::new();
    for (key, value) in map {
        let key: &CStr = key.as_str().try_into().map_err(|_| {
            anyhow!("payload key {key:?} contains a NUL character, which BSON cannot store")
        })?;
        match value {
            Value::Null => d.append(key, RawBson::Null),
            Value::Bool(b) => d.append(key, *b),
            Value::Number(n) => d.append(key, number_to_bson(n)),
            Value::String(s) => d.append(key, s.as_str()),
            Value::Array(items) => d.append(key, json_array_to_bson(items)?),
            Value::Object(map) => d.append(key, json_object_to_bson(map)?),
        }
    }
    Ok(d)
}

fn json_array_to_bson(items: &[Value]) -> anyhow::Result<RawArrayBuf> {
    let mut a = RawArrayBuf::new();
    for item in items {
        match item {
            Value::Null => a.push(RawBson::Null),
            Value::Bool(b) => a.push(*b),
            Value::Number(n) => a.push(number_to_bson(n)),
            Value::String(s) => a.push(s.as_str()),
            Value::Array(inner) => a.push(json_array_to_bson(inner)?),
            Value::Object(map) => a.push(json_object_to_bson(map)?),
        }
    }
    Ok(a)
}

fn number_to_bson(n: &Number) -> RawBson {
    if let Some(i) = n.as_i64() {
        match i32::try_from(i) {
            Ok(small) => RawBson::Int32(small),
            Err(_) => RawBson::Int64(i),
        }
    } else if let Some(u) = n.as_u64() {
        RawBson::Decimal128(decimal128_from_u64(u))
    } else {
        RawBson::Double(n.as_f64().unwrap_or(f64::NAN))
    }
}

fn bson_to_json(value: RawBsonRef<'_>, path: &str) -> anyhow::Result<Value> {
    Ok(match value {
        RawBsonRef::Null => Value::Null,
        RawBsonRef::Boolean(b) => Value::Bool(b),
        RawBsonRef::Int32(i) => Value::from(i),
        RawBsonRef::Int64(i) => Value::from(i),
        RawBsonRef::Double(f) => Value::Number(
            Number::from_f64(f)
                .ok_or_else(|| anyhow!("payload field {path} is {f}, which JSON cannot hold"))?,
        ),
        RawBsonRef::Decimal128(d) => {
            Value::Number(decimal128_to_number(&d).ok_or_else(|| {
                anyhow!("payload field {path} is a decimal that JSON cannot hold")
            })?)
        }
        RawBsonRef::String(s) => Value::String(s.to_string()),
        RawBsonRef::Document(d) => Value::Object(raw_doc_to_json(d, path)?),
        RawBsonRef::Array(a) => Value::Array(raw_array_to_json(a, path)?),
        // Never written by chronicle; documents written by other tools get
        // the closest JSON value rather than an error.
        RawBsonRef::DateTime(t) => Value::String(crate::event::format_millis(t.timestamp_millis())),
        RawBsonRef::ObjectId(o) => Value::String(o.to_hex()),
        RawBsonRef::Binary(b) if b.subtype == BinarySubtype::Uuid => Value::String(
            Uuid::from_slice(b.bytes)
                .map(|u| u.to_string())
                .unwrap_or_default(),
        ),
        other => bail!(
            "payload field {path} has BSON type {:?}, which has no JSON form",
            other.element_type()
        ),
    })
}

fn raw_doc_to_json(d: &RawDocument, path: &str) -> anyhow::Result<Map<String, Value>> {
    let mut map = Map::new();
    for element in d {
        let (key, value) = element?;
        let child = format!("{path}.{key}");
        map.insert(key.as_str().to_string(), bson_to_json(value, &child)?);
    }
    Ok(map)
}

fn raw_array_to_json(a: &RawArray, path: &str) -> anyhow::Result<Vec<Value>> {
    let mut out = Vec::new();
    for (i, value) in a.into_iter().enumerate() {
        out.push(bson_to_json(value?, &format!("{path}[{i}]"))?);
    }
    Ok(out)
}

/// Reads a stored document back into an event, payload as canonical JSON.
pub fn doc_to_event(d: &RawDocument) -> anyhow::Result<Event> {
    let id = doc_id(d)?;
    let bad = |what: &str| anyhow!("stored event {id}: {what}");
    let meta = d.get_document("meta").map_err(|_| bad("meta is missing"))?;
    let text = |key: &str| -> anyhow::Result<String> {
        meta.get_str(key)
            .map(str::to_string)
            .map_err(|_| bad(&format!("meta.{key} is not a string")))
    };
    let optional = |key: &str| -> anyhow::Result<Option<String>> {
        match meta.get(key)? {
            None | Some(RawBsonRef::Null) => Ok(None),
            Some(RawBsonRef::String(s)) => Ok(Some(s.to_string())),
            Some(_) => Err(bad(&format!("meta.{key} is not a string"))),
        }
    };
    let date = |key: &str| -> anyhow::Result<Millis> {
        meta.get_datetime(key)
            .map(|t| t.timestamp_millis())
            .map_err(|_| bad(&format!("meta.{key} is not a date")))
    };
    let payload = d
        .get_document("payload")
        .map_err(|_| bad("payload is not a document"))?;
    let payload = Value::Object(raw_doc_to_json(payload, "payload")?);
    Ok(Event {
        id,
        service: text("service")?,
        event_type: text("type")?,
        created_at: date("created_at")?,
        received_at: Some(date("received_at")?),
        aggregate_id: optional("aggregate_id")?,
        correlation_id: optional("correlation_id")?,
        payload: canonical_json(&payload),
    })
}

/// A `$sum` from a `$group` stage: the server answers with whichever
/// numeric type fits, so every one is read.
fn group_count(row: &Document, key: &str, what: &str) -> anyhow::Result<u64> {
    Ok(match row.get(key) {
        Some(Bson::Int32(n)) => *n as u64,
        Some(Bson::Int64(n)) => *n as u64,
        Some(Bson::Double(n)) => *n as u64,
        _ => bail!("{what}: unexpected count in {row}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(payload: &str) -> String {
        let value: Value = serde_json::from_str(payload).unwrap();
        let canonical = canonical_json(&value);
        let Value::Object(map) = value else { panic!() };
        let bson = json_object_to_bson(&map).unwrap();
        let back = canonical_json(&Value::Object(raw_doc_to_json(&bson, "payload").unwrap()));
        assert_eq!(back, canonical, "round trip of {payload}");
        back
    }

    #[test]
    fn payload_round_trips_byte_for_byte() {
        round_trip(
            r#"{"a":1,"b":-1,"c":2147483648,"d":-9223372036854775808,"e":9223372036854775807}"#,
        );
        round_trip(r#"{"u":18446744073709551615,"v":9223372036854775808}"#);
        round_trip(r#"{"f":1.0,"g":0.1,"h":-0.0,"i":1e300,"j":2.5e-308,"k":123456789.123456789}"#);
        round_trip(
            r#"{"s":"x\u0000y\n\"é😀","n":null,"t":true,"arr":[1,2.5,"x",[],{}],"o":{"z":1,"a":{"b":[null]}}}"#,
        );
        round_trip(r#"{"$weird":1,"a.b":2,"":3}"#);
        assert_eq!(round_trip(r#"{"b":1,"a":2}"#), r#"{"a":2,"b":1}"#);
    }

    #[test]
    fn nul_in_key_is_an_error_not_a_panic() {
        let value: Value = serde_json::from_str(r#"{"a\u0000b":1}"#).unwrap();
        let Value::Object(map) = value else { panic!() };
        assert!(json_object_to_bson(&map).is_err());
    }

    #[test]
    fn uri_options() {
        let u = MongoUri::parse(
            "mongodb://u:p@h1:1,h2:2/db1?collection=ev&serverSelectionTimeoutMS=500&w=1",
        )
        .unwrap();
        assert_eq!(u.hosts, "h1:1,h2:2");
        assert_eq!(u.database, "db1");
        assert_eq!(u.collection, "ev");
        assert_eq!(u.server_selection_timeout, Some(Duration::from_millis(500)));
        assert_eq!(
            u.driver_uri,
            "mongodb://u:p@h1:1,h2:2/db1?serverSelectionTimeoutMS=500&w=1"
        );
        assert_eq!(u.describe(), "mongodb://h1:1,h2:2/db1?collection=ev");
        let u = MongoUri::parse("mongodb://localhost").unwrap();
        assert_eq!(
            (u.database.as_str(), u.collection.as_str()),
            ("chronicle", "events")
        );
        let u = MongoUri::parse("mongodb+srv://cluster.example.com/?retryWrites=true").unwrap();
        assert_eq!(u.database, "chronicle");
        assert_eq!(
            u.driver_uri,
            "mongodb+srv://cluster.example.com/?retryWrites=true"
        );
        assert!(MongoUri::parse("mongodb://h/db?collection=").is_err());
        assert!(MongoUri::parse("mongodb:///db").is_err());
    }

    #[test]
    fn event_documents_round_trip() {
        let event = Event::from_json_str(
            r#"{"id":"20ec0521-d127-4038-92ed-a4196c33705b","meta":{"service":"core","type":"t","created_at":"2016-01-01T12:00:00.123Z","aggregate_id":"a/1"},"payload":{"x":[1,{"y":2.5}]}}"#,
        )
        .unwrap();
        let d = event_to_doc(&event, 1_000, 7).unwrap();
        let back = doc_to_event(&d).unwrap();
        assert_eq!(back.received_at, Some(1_000));
        assert!(back.same_content(&event));
    }
}
