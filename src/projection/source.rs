//! Where a projection's events come from: the live store, read in keyset
//! pages; the archive; and their merge into one stream in (received_at, id)
//! order in which an event present in both sources appears once. Each
//! source is read on its own thread into a bounded channel, so the two
//! sources and the fold overlap on separate cores while memory stays at a
//! few pages. What crosses the channel is a [`Row`]: the event's place in
//! the order plus what the projection's kind made of it on the reader
//! thread (the JSON fields it needs, an exec line), so that parsing runs
//! beside the fold instead of on its thread.

use std::cmp::Ordering;
use std::iter::Peekable;
use std::sync::Arc;

use uuid::Uuid;

use super::boundary::Boundary;
use super::types::TypeIndex;
use crate::archive::read::ArchivedEvents;
use crate::cancel::{self, Drain, Stop};
use crate::event::{Event, EventRef, Millis};
use crate::store::{ScanCursor, ScanFilter, Store};

/// Events per live store page.
pub const PAGE: usize = 8192;
/// Events per batch handed between threads: small enough that a batch's
/// memory is reused while still warm in cache.
const BATCH: usize = 1024;

pub type EventResult = anyhow::Result<Event>;

/// An item of a merged stream: ordered by (received_at, id).
pub trait Keyed {
    fn key(&self) -> (Millis, Uuid);
}

impl Keyed for Event {
    fn key(&self) -> (Millis, Uuid) {
        (self.received_at.unwrap_or_default(), self.id)
    }
}

/// One event as the fold receives it: its key, its type's position in the
/// projection's types, and `data`, what the kind's [`Prepare`] made of it.
pub struct Row<P> {
    pub received_at: Millis,
    pub id: Uuid,
    pub type_pos: usize,
    pub data: P,
}

impl<P> Keyed for Row<P> {
    fn key(&self) -> (Millis, Uuid) {
        (self.received_at, self.id)
    }
}

/// An event as a reader thread holds it: owned (from a live store page) or
/// borrowed from a decoded archive batch. A kind that keeps whole events
/// takes an owned one as it is ([`Input::into_event`]); the others read it
/// through [`Input::view`].
pub enum Input<'a> {
    Owned(Event),
    Borrowed(EventRef<'a>),
}

impl Input<'_> {
    pub fn view(&self) -> EventRef<'_> {
        match self {
            Input::Owned(event) => event.view(),
            Input::Borrowed(event) => *event,
        }
    }

    pub fn into_event(self) -> Event {
        match self {
            Input::Owned(event) => event,
            Input::Borrowed(event) => event.to_event(),
        }
    }
}

/// What a kind does to each event on the reader threads (the event and its
/// type's position in; the kind's row data out).
pub type Prepare<P> = dyn Fn(Input<'_>, usize) -> P + Send + Sync;

/// The row of one event, or none for an event of a type the projection
/// does not read (the sources filter by type already; this keeps the
/// promise even if one did not).
fn row_of<P>(event: Input<'_>, types: &TypeIndex, prepare: &Prepare<P>) -> Option<Row<P>> {
    let (type_pos, received_at, id) = {
        let view = event.view();
        let type_pos = types.position(view.event_type)?;
        (type_pos, view.received_at.unwrap_or_default(), view.id)
    };
    Some(Row {
        received_at,
        id,
        type_pos,
        data: prepare(event, type_pos),
    })
}

/// Turns events into rows.
pub fn rows<P>(
    events: impl Iterator<Item = EventResult>,
    types: Arc<TypeIndex>,
    prepare: Arc<Prepare<P>>,
) -> impl Iterator<Item = anyhow::Result<Row<P>>> {
    events.filter_map(move |item| match item {
        Err(e) => Some(Err(e)),
        Ok(event) => row_of(Input::Owned(event), &types, &*prepare).map(Ok),
    })
}

/// Turns archived events into rows without building owned events: each is
/// prepared borrowed from its batch. `skip` leaves out the ids the archive
/// boundary assigns to the live store.
pub fn archived_rows<P>(
    mut events: ArchivedEvents,
    skip: Arc<Boundary>,
    types: Arc<TypeIndex>,
    prepare: Arc<Prepare<P>>,
) -> impl Iterator<Item = anyhow::Result<Row<P>>> {
    // `next_with` gives none after an error, which ends this iterator.
    std::iter::from_fn(move || loop {
        let next = events.next_with(|event| {
            if skip.skip_archive.contains(&event.id) {
                return None;
            }
            row_of(Input::Borrowed(event), &types, &*prepare)
        });
        match next {
            Ok(Some(Some(row))) => return Some(Ok(row)),
            Ok(Some(None)) => {}
            Ok(None) => return None,
            Err(e) => return Some(Err(e)),
        }
    })
}

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

/// What a reader thread hands over: a batch of one stream, or that stream's
/// end.
enum Lane<T> {
    Batch(Vec<T>),
    End,
}

/// Iterators produced on background threads, handed over in batches and
/// yielded one after the other, in the order given. The streams are dealt
/// round-robin to a few reader threads ("lanes"), so that consecutive
/// streams (e.g. archive partitions) are decoded in parallel while the
/// output keeps their order; an error comes where its stream would have.
/// Dropping it stops the producers at their next send; an interrupt ends it
/// with an error (see [`crate::cancel`]).
pub struct Prefetch<T> {
    lanes: Vec<Drain<Lane<T>>>,
    /// The lane of the stream being read.
    lane: usize,
    streams_left: usize,
    batch: std::vec::IntoIter<T>,
}

impl<T: Send + 'static> Prefetch<T> {
    /// One stream on one thread. `open` runs on the new thread, so the
    /// source it builds need not be `Send` itself.
    pub fn spawn<I, F>(open: F) -> Prefetch<T>
    where
        F: FnOnce() -> anyhow::Result<I> + Send + 'static,
        I: Iterator<Item = anyhow::Result<T>>,
    {
        Self::spawn_ordered(1, vec![open])
    }

    /// The streams `opens` in order, read by up to `lanes` threads.
    pub fn spawn_ordered<I, F>(lanes: usize, opens: Vec<F>) -> Prefetch<T>
    where
        F: FnOnce() -> anyhow::Result<I> + Send + 'static,
        I: Iterator<Item = anyhow::Result<T>>,
    {
        let streams = opens.len();
        let lanes = lanes.clamp(1, streams.max(1));
        let mut dealt: Vec<Vec<F>> = (0..lanes).map(|_| Vec::new()).collect();
        for (i, open) in opens.into_iter().enumerate() {
            dealt[i % lanes].push(open);
        }
        let lanes = dealt
            .into_iter()
            .map(|opens| {
                cancel::spawn_feed("event source", 32, &Stop::new(), move |feed| {
                    for open in opens {
                        let mut batch = Vec::with_capacity(BATCH);
                        for item in open()? {
                            batch.push(item?);
                            if batch.len() < BATCH {
                                continue;
                            }
                            let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                            if feed.send(Lane::Batch(full)).is_err() {
                                return Ok(());
                            }
                        }
                        if !batch.is_empty() && feed.send(Lane::Batch(batch)).is_err() {
                            return Ok(());
                        }
                        if feed.send(Lane::End).is_err() {
                            return Ok(());
                        }
                    }
                    Ok(())
                })
            })
            .collect();
        Prefetch {
            lanes,
            lane: 0,
            streams_left: streams,
            batch: Vec::new().into_iter(),
        }
    }
}

impl<T> Iterator for Prefetch<T> {
    type Item = anyhow::Result<T>;

    fn next(&mut self) -> Option<anyhow::Result<T>> {
        loop {
            if let Some(item) = self.batch.next() {
                return Some(Ok(item));
            }
            if self.streams_left == 0 {
                return None;
            }
            match self.lanes[self.lane].next() {
                Some(Ok(Lane::Batch(batch))) => self.batch = batch.into_iter(),
                Some(Ok(Lane::End)) => {
                    self.streams_left -= 1;
                    self.lane = (self.lane + 1) % self.lanes.len();
                }
                Some(Err(e)) => {
                    self.streams_left = 0;
                    return Some(Err(e));
                }
                None => {
                    self.streams_left = 0;
                    return Some(Err(anyhow::anyhow!(
                        "an event source ended before its last stream"
                    )));
                }
            }
        }
    }
}

/// Merges two streams, each in (received_at, id) order, into one in that
/// order. An event with the same (received_at, id) in both is yielded once,
/// as the live copy, tagged [`Origin::Both`]. A stream found out of order is
/// an error: silently merging it would skip or repeat events.
pub struct Merge<T, A, B>
where
    A: Iterator<Item = anyhow::Result<T>>,
    B: Iterator<Item = anyhow::Result<T>>,
{
    archive: Peekable<A>,
    live: Peekable<B>,
    last: Option<(Millis, Uuid)>,
}

impl<T, A, B> Merge<T, A, B>
where
    A: Iterator<Item = anyhow::Result<T>>,
    B: Iterator<Item = anyhow::Result<T>>,
{
    pub fn new(archive: A, live: B) -> Merge<T, A, B> {
        Merge {
            archive: archive.peekable(),
            live: live.peekable(),
            last: None,
        }
    }
}

impl<T, A, B> Iterator for Merge<T, A, B>
where
    T: Keyed,
    A: Iterator<Item = anyhow::Result<T>>,
    B: Iterator<Item = anyhow::Result<T>>,
{
    type Item = anyhow::Result<(Origin, T)>;

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
            (Some(Ok(a)), Some(Ok(l))) => a.key().cmp(&l.key()),
            _ => unreachable!("errors were handled above"),
        };
        let (origin, item) = match order {
            Ordering::Less => (Origin::Archive, self.archive.next()?.ok()?),
            Ordering::Greater => (Origin::Live, self.live.next()?.ok()?),
            Ordering::Equal => {
                self.archive.next();
                (Origin::Both, self.live.next()?.ok()?)
            }
        };
        let k = item.key();
        if let Some(last) = self.last {
            if k <= last {
                let side = match origin {
                    Origin::Archive => "the archive",
                    _ => "the live store",
                };
                return Some(Err(anyhow::anyhow!(
                    "{side} returned event {} out of (received_at, id) order; refusing to continue",
                    k.1
                )));
            }
        }
        self.last = Some(k);
        Some(Ok((origin, item)))
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
        let got: Vec<Event> = Prefetch::<Event>::spawn(move || Ok(items.into_iter().map(Ok)))
            .map(Result::unwrap)
            .collect();
        assert_eq!(got, expected);
        let mut failing =
            Prefetch::<Event>::spawn(|| -> anyhow::Result<std::vec::IntoIter<EventResult>> {
                anyhow::bail!("no such archive")
            });
        assert!(failing.next().unwrap().is_err());
        assert!(failing.next().is_none());
    }

    #[test]
    fn ordered_prefetch_keeps_the_order_of_its_streams_and_errors() {
        let streams: Vec<Vec<u32>> = (0..7)
            .map(|s| (s * 5000..s * 5000 + 3000 + s).collect())
            .collect();
        let expected: Vec<u32> = streams.iter().flatten().copied().collect();
        let opens: Vec<_> = streams
            .into_iter()
            .map(|s| move || -> anyhow::Result<_> { Ok(s.into_iter().map(Ok)) })
            .collect();
        let got: Vec<u32> = Prefetch::spawn_ordered(2, opens)
            .map(Result::unwrap)
            .collect();
        assert_eq!(got, expected);
        // A failing third stream: the first two come whole, then its error.
        let opens: Vec<_> = (0..4u32)
            .map(|s| {
                move || -> anyhow::Result<std::vec::IntoIter<anyhow::Result<u32>>> {
                    anyhow::ensure!(s != 2, "stream {s} is damaged");
                    Ok(vec![Ok(s)].into_iter())
                }
            })
            .collect();
        let got: Vec<anyhow::Result<u32>> = Prefetch::spawn_ordered(3, opens).collect();
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].as_ref().unwrap(), &0);
        assert_eq!(got[1].as_ref().unwrap(), &1);
        assert!(got[2]
            .as_ref()
            .unwrap_err()
            .to_string()
            .contains("stream 2"));
    }
}
