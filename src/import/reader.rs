//! The batching reader: pulls items from an input's [`EventSource`]
//! (parsing and mapping) on a thread of its own and hands them to the sink
//! in batches, honouring `--limit` and stopping at the reject that exceeds
//! `--max-rejects`.

use std::path::PathBuf;

use crate::cancel::{self, Drain, Stop};
use crate::event::Event;
use crate::source::{EventSource, Item, Reject};

use super::Limits;

/// A batch handed from the reader thread to the sink.
pub(super) struct Batch {
    pub events: Vec<Event>,
    /// The line (or byte offset) of each event, for conflicts.
    pub lines: Vec<u64>,
    pub rejects: Vec<Reject>,
    pub read: u64,
    pub skipped: u64,
    /// The line of the reject that exceeded `--max-rejects`.
    pub stopped_at: Option<u64>,
}

pub(super) struct BatchReader {
    source: Box<dyn EventSource>,
    batch_size: usize,
    limits: Limits,
    rejected: u64,
}

impl BatchReader {
    pub fn new(source: Box<dyn EventSource>, batch_size: usize, limits: Limits) -> BatchReader {
        BatchReader {
            source,
            batch_size: batch_size.max(1),
            limits,
            rejected: 0,
        }
    }

    /// Reads the next batch into `batch`: up to a batch of events, or twice
    /// that many records when most are rejected or skipped. True when the
    /// input (or `--limit`, or `--max-rejects`) ended with it. On an error,
    /// `batch` holds what was read before it.
    fn fill(&mut self, batch: &mut Batch) -> anyhow::Result<bool> {
        let size = self.batch_size;
        while batch.events.len() < size && batch.read < size as u64 * 2 {
            if self.limits.records == Some(0) {
                return Ok(true);
            }
            if let Some(left) = self.limits.records.as_mut() {
                *left -= 1;
            }
            let Some(item) = self.source.next_item()? else {
                return Ok(true);
            };
            batch.read += 1;
            match item {
                Item::Event { event, line } => {
                    batch.events.push(event);
                    batch.lines.push(line);
                }
                Item::Skipped => batch.skipped += 1,
                Item::Rejected(reject) => {
                    self.rejected += 1;
                    // The rule: stop as soon as the count exceeds N, so N
                    // rejects are tolerated.
                    let over = self.limits.max_rejects.is_some_and(|m| self.rejected > m);
                    if over {
                        batch.stopped_at = Some(reject.line);
                    }
                    batch.rejects.push(reject);
                    if over {
                        return Ok(true);
                    }
                }
            }
        }
        Ok(false)
    }

    /// Starts reading on a thread nobody waits for: the reader owns its
    /// source, and one blocked reading an idle stdin must not hold up a
    /// failed or interrupted import. It stops at its next send once the
    /// returned drain is dropped; a read error ends the drain with the
    /// error, named after `path`, after the partial batch before it.
    pub fn spawn(mut self, path: PathBuf) -> Drain<Batch> {
        cancel::spawn_feed("reader", 4, &Stop::new(), move |feed| loop {
            let mut batch = Batch {
                events: Vec::with_capacity(self.batch_size),
                lines: Vec::with_capacity(self.batch_size),
                rejects: Vec::new(),
                read: 0,
                skipped: 0,
                stopped_at: None,
            };
            let end = match self.fill(&mut batch) {
                Ok(end) => end,
                Err(e) => {
                    let _ = feed.send(batch);
                    return Err(e.context(format!("{}", path.display())));
                }
            };
            // A gone consumer failed or was interrupted; it reports why.
            if feed.send(batch).is_err() || end {
                return Ok(());
            }
        })
    }
}
