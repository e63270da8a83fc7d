//! The append path of the MongoDB store: unordered bulk inserts, two chunks
//! in flight, and the rounds that resolve what the server refused. A
//! duplicate `_id` is read back and compared (a duplicate, a conflict, or
//! our own insert whose reply was lost, recognised by `write_id`);
//! transient failures are sent again with backoff. The duplicate/conflict
//! rules are the store contract's (docs/stores.md).

use std::collections::HashMap;

use anyhow::{anyhow, bail};
use mongodb::bson::RawDocumentBuf;
use mongodb::error::{Error as MongoError, ErrorKind};
use serde_json::Value;
use uuid::Uuid;

use super::codec::{doc_to_event, event_to_doc};
use super::retry::{backoff, is_transient, DUPLICATE_KEY, MAX_ATTEMPTS, TRANSIENT_CODES};
use super::{MongoStore, INSERT_CHUNK};
use crate::event::{canonical_json, now_millis, Event};
use crate::store::{archived_outcome, AppendOutcome};

/// `insert_many` calls in flight at once within one append.
const WRITERS: usize = 2;

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

impl MongoStore {
    /// [`Store::append`](crate::store::Store::append) for MongoDB.
    pub(super) fn append_events(&mut self, events: &[Event]) -> anyhow::Result<Vec<AppendOutcome>> {
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
