//! What `import --dry-run` reports: the outcome a real run would have for
//! each mapped event, found by reading the store, never writing it. An id
//! not in the store would be imported; an id stored with the same content
//! is a duplicate, with other content a conflict. Events repeated within
//! the input are resolved against each other as the real run would (the
//! first one wins), using a 64-bit fingerprint of the content per id.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use uuid::Uuid;

use crate::event::Event;
use crate::store::{AppendOutcome, Store};

/// Ids the dry run would have written, with their content's fingerprint.
#[derive(Default)]
pub struct DryRun {
    would_write: HashMap<Uuid, u64>,
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
    /// The outcome of appending `events`, as [`Store::append`] would return
    /// it, without writing. `store` is `None` when there is no store yet.
    pub fn classify(
        &mut self,
        store: Option<&mut (dyn Store + '_)>,
        events: &[Event],
    ) -> anyhow::Result<Vec<AppendOutcome>> {
        let stored: HashMap<Uuid, Event> = match store {
            Some(store) => {
                let ids: Vec<Uuid> = events
                    .iter()
                    .map(|e| e.id)
                    .filter(|id| !self.would_write.contains_key(id))
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
                        self.would_write.insert(event.id, print);
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
