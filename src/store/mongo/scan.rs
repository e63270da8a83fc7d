//! Scans of the MongoDB store in (received_at, _id) order: the keyset query
//! on the `received_at_id` index, and a server cursor kept open between
//! pages so that paging through a range costs one query, not one per page.

use mongodb::bson::{doc, DateTime, Document, RawDocumentBuf};
use mongodb::sync::Cursor;

use super::codec::{doc_to_event, id_text};
use super::profile::Span;
use super::MongoStore;
use crate::event::Event;
use crate::store::{ScanCursor, ScanFilter};

/// A scan whose server cursor is kept open between pages, so that paging
/// through a range costs one query rather than one per page.
pub(super) struct OpenScan {
    filter: ScanFilter,
    /// Position of the last event handed out; the next page must ask for
    /// exactly this position to continue the cursor.
    last: Option<ScanCursor>,
    cursor: Cursor<RawDocumentBuf>,
}

impl MongoStore {
    /// [`Store::scan_page`](crate::store::Store::scan_page) for MongoDB.
    pub(super) fn scan_events(
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
        // BSON -> event (canonical JSON payload): chronicle's CPU share of a
        // scan, the rest is the server and the network.
        let decode = Span::start(&self.profile, "scan.decode");
        let mut page = Vec::with_capacity(raw.len());
        for d in &raw {
            page.push(doc_to_event(d)?);
        }
        drop(decode);
        if page.len() == limit {
            if let Some(last) = page.last() {
                open.last = Some((last.received_at.unwrap_or_default(), last.id));
                self.scan = Some(open);
            }
        }
        Ok(page)
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
