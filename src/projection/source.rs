//! Where a projection's events come from: the live store, read in keyset
//! pages; the archive; and their merge into one stream in (received_at, id)
//! order in which an event present in both sources appears once. Each
//! source is read on its own thread into a bounded channel, so the two
//! sources and the fold overlap on separate cores while memory stays at a
//! few pages.

use std::cmp::Ordering;
use std::iter::Peekable;

use crate::cancel::{self, Drain, Stop};
use crate::event::Event;
use crate::store::{ScanCursor, ScanFilter, Store};

/// Events per live store page.
pub const PAGE: usize = 8192;
/// Events per batch handed between threads: small enough that a batch's
/// memory is reused while still warm in cache.
const BATCH: usize = 1024;

pub type EventResult = anyhow::Result<Event>;

/// Which source an event of the merged stream came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Archive,
    Live,
    /// Present in both (e.g. archived with --keep-live): passed on once.
    Both,
}

/// The live store as an iterator of events in (received_at, id) order.
pub struct LiveEvents {
    store: Box<dyn Store>,
    filter: ScanFilter,
    cursor: Option<ScanCursor>,
    page: std::vec::IntoIter<Event>,
    done: bool,
}

impl LiveEvents {
    pub fn new(store: Box<dyn Store>, filter: ScanFilter) -> LiveEvents {
        LiveEvents {
            store,
            filter,
            cursor: None,
            page: Vec::new().into_iter(),
            done: false,
        }
    }

    fn next_page(&mut self) -> anyhow::Result<Vec<Event>> {
        // Once a cursor exists it implies the lower bound; keeping `since`
        // as well makes SQLite seek by `since` and walk the whole window
        // again for every page instead of seeking by the cursor.
        if self.cursor.is_some() && self.filter.since.is_some() {
            self.filter.since = None;
        }
        let page = self
            .store
            .scan_page(&self.filter, self.cursor.as_ref(), PAGE)?;
        if page.len() < PAGE {
            self.done = true;
        }
        if let Some(last) = page.last() {
            self.cursor = Some((last.received_at.unwrap_or_default(), last.id));
        }
        Ok(page)
    }
}

impl Iterator for LiveEvents {
    type Item = EventResult;

    fn next(&mut self) -> Option<EventResult> {
        loop {
            if let Some(event) = self.page.next() {
                return Some(Ok(event));
            }
            if self.done {
                return None;
            }
            match self.next_page() {
                Ok(page) => self.page = page.into_iter(),
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
    }
}

/// An iterator produced on a background thread, handed over in batches.
/// Dropping it stops the producer at its next send; an interrupt ends it
/// with an error (see [`crate::cancel`]).
pub struct Prefetch {
    batches: Drain<Vec<Event>>,
    batch: std::vec::IntoIter<Event>,
}

impl Prefetch {
    /// `open` runs on the new thread, so the source it builds need not be
    /// `Send` itself.
    pub fn spawn<I, F>(open: F) -> Prefetch
    where
        F: FnOnce() -> anyhow::Result<I> + Send + 'static,
        I: Iterator<Item = EventResult>,
    {
        let batches = cancel::spawn_feed("event source", 32, &Stop::new(), move |feed| {
            let mut batch = Vec::with_capacity(BATCH);
            for item in open()? {
                batch.push(item?);
                if batch.len() < BATCH {
                    continue;
                }
                let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                if feed.send(full).is_err() {
                    return Ok(());
                }
            }
            if !batch.is_empty() {
                let _ = feed.send(batch);
            }
            Ok(())
        });
        Prefetch {
            batches,
            batch: Vec::new().into_iter(),
        }
    }
}

impl Iterator for Prefetch {
    type Item = EventResult;

    fn next(&mut self) -> Option<EventResult> {
        loop {
            if let Some(event) = self.batch.next() {
                return Some(Ok(event));
            }
            self.batch = match self.batches.next()? {
                Ok(batch) => batch.into_iter(),
                Err(e) => return Some(Err(e)),
            };
        }
    }
}

/// Merges two streams, each in (received_at, id) order, into one in that
/// order. An event with the same (received_at, id) in both is yielded once,
/// as the live copy, tagged [`Origin::Both`]. A stream found out of order is
/// an error: silently merging it would skip or repeat events.
pub struct Merge<A: Iterator<Item = EventResult>, B: Iterator<Item = EventResult>> {
    archive: Peekable<A>,
    live: Peekable<B>,
    last: Option<(i64, uuid::Uuid)>,
}

impl<A: Iterator<Item = EventResult>, B: Iterator<Item = EventResult>> Merge<A, B> {
    pub fn new(archive: A, live: B) -> Merge<A, B> {
        Merge {
            archive: archive.peekable(),
            live: live.peekable(),
            last: None,
        }
    }
}

fn key(event: &Event) -> (i64, uuid::Uuid) {
    (event.received_at.unwrap_or_default(), event.id)
}

impl<A: Iterator<Item = EventResult>, B: Iterator<Item = EventResult>> Iterator for Merge<A, B> {
    type Item = anyhow::Result<(Origin, Event)>;

    fn next(&mut self) -> Option<Self::Item> {
        // Errors first, so that they are never hidden behind the other side.
        if matches!(self.archive.peek(), Some(Err(_))) {
            return self.archive.next().map(|r| r.map(|e| (Origin::Archive, e)));
        }
        if matches!(self.live.peek(), Some(Err(_))) {
            return self.live.next().map(|r| r.map(|e| (Origin::Live, e)));
        }
        let order = match (self.archive.peek(), self.live.peek()) {
            (None, None) => return None,
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some(Ok(a)), Some(Ok(l))) => key(a).cmp(&key(l)),
            _ => unreachable!("errors were handled above"),
        };
        let (origin, event) = match order {
            Ordering::Less => (Origin::Archive, self.archive.next()?.ok()?),
            Ordering::Greater => (Origin::Live, self.live.next()?.ok()?),
            Ordering::Equal => {
                self.archive.next();
                (Origin::Both, self.live.next()?.ok()?)
            }
        };
        let k = key(&event);
        if let Some(last) = self.last {
            if k <= last {
                let side = match origin {
                    Origin::Archive => "the archive",
                    _ => "the live store",
                };
                return Some(Err(anyhow::anyhow!(
                    "{side} returned event {} out of (received_at, id) order; refusing to continue",
                    event.id
                )));
            }
        }
        self.last = Some(k);
        Some(Ok((origin, event)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(received_at: i64, id: u128) -> Event {
        Event {
            id: uuid::Uuid::from_u128(id),
            service: "s".into(),
            event_type: "t".into(),
            created_at: 0,
            received_at: Some(received_at),
            aggregate_id: None,
            correlation_id: None,
            payload: "{}".into(),
        }
    }

    fn merged(a: Vec<Event>, b: Vec<Event>) -> Vec<(Origin, i64, u128)> {
        Merge::new(a.into_iter().map(Ok), b.into_iter().map(Ok))
            .map(|r| {
                r.map(|(o, e)| (o, e.received_at.unwrap(), e.id.as_u128()))
                    .unwrap()
            })
            .collect()
    }

    #[test]
    fn merges_in_order_and_counts_shared_events_once() {
        let archive = vec![ev(1, 1), ev(2, 5), ev(2, 7), ev(5, 1)];
        let live = vec![ev(2, 6), ev(2, 7), ev(3, 1), ev(6, 0)];
        assert_eq!(
            merged(archive, live),
            vec![
                (Origin::Archive, 1, 1),
                (Origin::Archive, 2, 5),
                (Origin::Live, 2, 6),
                (Origin::Both, 2, 7),
                (Origin::Live, 3, 1),
                (Origin::Archive, 5, 1),
                (Origin::Live, 6, 0),
            ]
        );
        assert_eq!(merged(vec![], vec![ev(1, 1)]), vec![(Origin::Live, 1, 1)]);
        assert_eq!(
            merged(vec![ev(1, 1)], vec![]),
            vec![(Origin::Archive, 1, 1)]
        );
    }

    #[test]
    fn out_of_order_input_is_an_error() {
        let mut m = Merge::new(
            vec![ev(5, 1), ev(1, 1)].into_iter().map(Ok),
            std::iter::empty(),
        );
        assert!(m.next().unwrap().is_ok());
        assert!(m.next().unwrap().is_err());
    }

    #[test]
    fn prefetch_preserves_order_and_errors() {
        let items: Vec<Event> = (0..20_000).map(|i| ev(i, 1)).collect();
        let expected = items.clone();
        let got: Vec<Event> = Prefetch::spawn(move || Ok(items.into_iter().map(Ok)))
            .map(Result::unwrap)
            .collect();
        assert_eq!(got, expected);
        let mut failing = Prefetch::spawn(|| -> anyhow::Result<std::vec::IntoIter<EventResult>> {
            anyhow::bail!("no such archive")
        });
        assert!(failing.next().unwrap().is_err());
        assert!(failing.next().is_none());
    }
}
