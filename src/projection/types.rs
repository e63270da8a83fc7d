//! The projection's event types and the context of per-event errors: a leaf
//! module that the kinds, the sources and the driver share without
//! depending on one another.

use crate::event::EventRef;

/// The projection's event types, with their positions for cheap lookups.
#[derive(Debug, Clone)]
pub struct TypeIndex(Vec<String>);

impl TypeIndex {
    pub fn new(types: Vec<String>) -> TypeIndex {
        TypeIndex(types)
    }

    pub fn position(&self, event_type: &str) -> Option<usize> {
        self.0.iter().position(|t| t == event_type)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn names(&self) -> &[String] {
        &self.0
    }
}

/// `event ID (TYPE)`, the prefix of every error about one event.
pub fn event_context(event: EventRef<'_>) -> String {
    format!("event {} ({})", event.id, event.event_type)
}
