//! What `import --dry-run` reports: the outcome a real run would have for
//! each mapped event, found by reading the store, never writing it. An id
//! not in the store would be imported; an id stored with the same content
//! is a duplicate, with other content a conflict. Events repeated within
//! the input are resolved against each other as the real run would (the
//! first one wins), using a 64-bit fingerprint of the content per id. That
//! memory is capped at [`MAX_TRACKED`] ids (about 100 MB); past it, repeats
//! of later ids within the input are no longer seen, and the dry run says so.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use uuid::Uuid;

use crate::event::Event;
use crate::store::{archived_outcome, AppendOutcome, ArchivedId, Store};

/// Distinct ids a dry run remembers at most.
pub const MAX_TRACKED: usize = 4_000_000;

/// Ids the dry run would have written, with their content's fingerprint.
pub struct DryRun {
    would_write: HashMap<Uuid, u64>,
    cap: usize,
    /// Set once the cap of remembered ids was reached.
    pub saturated: bool,
}

impl Default for DryRun {
    fn default() -> Self {
        DryRun::with_cap(MAX_TRACKED)
    }
}

fn fingerprint(e: &Event) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (
        &e.service,
        &e.event_type,
        e.created_at,
        &e.aggregate_id,
        &e.correlation_id,
        &e.payload,
    )
        .hash(&mut h);
    h.finish()
}

impl DryRun {
    pub fn with_cap(cap: usize) -> DryRun {
        DryRun {
            would_write: HashMap::new(),
            cap,
            saturated: false,
        }
    }

    /// The outcome of appending `events`, as [`Store::append`] would return
    /// it, without writing. `store` is `None` when there is no store yet.
    pub fn classify(
        &mut self,
        store: Option<&mut (dyn Store + '_)>,
        events: &[Event],
    ) -> anyhow::Result<Vec<AppendOutcome>> {
        let mut archived: HashMap<Uuid, ArchivedId> = HashMap::new();
        let stored: HashMap<Uuid, Event> = match store {
            Some(store) => {
                let ids: Vec<Uuid> = events
                    .iter()
                    .map(|e| e.id)
                    .filter(|id| !self.would_write.contains_key(id))
                    .collect();
                // Archived ids first, as the store's append checks them.
                archived = store
                    .get_archived(&ids)?
                    .into_iter()
                    .map(|r| (r.id, r))
                    .collect();
                store
                    .get_many(&ids)?
                    .into_iter()
                    .map(|e| (e.id, e))
                    .collect()
            }
            None => HashMap::new(),
        };
        Ok(events
            .iter()
            .map(|event| {
                if let Some(record) = archived.get(&event.id) {
                    return archived_outcome(event, record);
                }
                if let Some(stored) = stored.get(&event.id) {
                    return if stored.same_content(event) {
                        AppendOutcome::Duplicate
                    } else {
                        AppendOutcome::Conflict {
                            stored: Box::new(stored.clone()),
                        }
                    };
                }
                let print = fingerprint(event);
                match self.would_write.get(&event.id) {
                    None => {
                        if self.would_write.len() < self.cap {
                            self.would_write.insert(event.id, print);
                        } else {
                            self.saturated = true;
                        }
                        AppendOutcome::Inserted
                    }
                    Some(first) if *first == print => AppendOutcome::Duplicate,
                    // The first version is not kept (only its fingerprint),
                    // so the conflict shows the incoming event twice.
                    Some(_) => AppendOutcome::Conflict {
                        stored: Box::new(event.clone()),
                    },
                }
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(n: u128, payload: &str) -> Event {
        Event {
            id: Uuid::from_u128(n),
            service: "s".into(),
            event_type: "t".into(),
            created_at: 0,
            received_at: None,
            aggregate_id: None,
            correlation_id: None,
            payload: payload.into(),
        }
    }

    fn kinds(outcomes: Vec<AppendOutcome>) -> Vec<&'static str> {
        outcomes
            .into_iter()
            .map(|o| match o {
                AppendOutcome::Inserted => "new",
                AppendOutcome::Duplicate => "dup",
                AppendOutcome::Conflict { .. } | AppendOutcome::ArchivedConflict { .. } => {
                    "conflict"
                }
            })
            .collect()
    }

    #[test]
    fn repeats_within_the_input_resolve_like_a_real_run() {
        let mut dry = DryRun::default();
        let batch = [
            event(1, "{}"),
            event(1, "{}"),
            event(1, "{\"a\":1}"),
            event(2, "{}"),
        ];
        assert_eq!(
            kinds(dry.classify(None, &batch).unwrap()),
            ["new", "dup", "conflict", "new"]
        );
        // Across batches too.
        assert_eq!(
            kinds(dry.classify(None, &[event(2, "{}")]).unwrap()),
            ["dup"]
        );
        assert!(!dry.saturated);
    }

    #[test]
    fn the_remembered_ids_are_capped_and_the_cap_is_reported() {
        let mut dry = DryRun::with_cap(1);
        let batch = [
            event(1, "{}"),
            event(2, "{}"),
            event(2, "{}"),
            event(1, "{}"),
        ];
        assert_eq!(
            kinds(dry.classify(None, &batch).unwrap()),
            ["new", "new", "new", "dup"]
        );
        assert!(dry.saturated);
    }
}
