//! Canonical events as JSON lines: the output of `chronicle export`, and the
//! way a store is moved to another. Each line is validated against the
//! schema; a bad line is rejected with its line number and the import goes on.

use std::io::BufRead;
use std::path::Path;

use super::{open_input, EventSource, InputMeter, Item, RawRecord, Reject};
use crate::event::Event;

pub struct JsonLinesSource {
    reader: Box<dyn BufRead + Send>,
    line: u64,
    buffer: Vec<u8>,
}

impl JsonLinesSource {
    pub fn open(path: &Path) -> anyhow::Result<(JsonLinesSource, InputMeter, Option<u64>)> {
        let input = open_input(path)?;
        Ok((
            JsonLinesSource {
                reader: input.reader,
                line: 0,
                buffer: Vec::new(),
            },
            input.meter,
            input.size,
        ))
    }
}

impl EventSource for JsonLinesSource {
    fn next_item(&mut self) -> anyhow::Result<Option<Item>> {
        loop {
            self.buffer.clear();
            let n = self
                .reader
                .read_until(b'\n', &mut self.buffer)
                .map_err(|e| anyhow::anyhow!("cannot read line {}: {e}", self.line + 1))?;
            if n == 0 {
                return Ok(None);
            }
            self.line += 1;
            let text = match std::str::from_utf8(&self.buffer) {
                Ok(text) => text.trim_end_matches(['\n', '\r']),
                Err(e) => {
                    return Ok(Some(Item::Rejected(Reject {
                        line: self.line,
                        reason: format!("not valid UTF-8 at byte {} of the line", e.valid_up_to()),
                        raw: RawRecord::Text(
                            String::from_utf8_lossy(&self.buffer).trim_end().to_string(),
                        ),
                    })))
                }
            };
            if text.trim().is_empty() {
                continue;
            }
            return Ok(Some(match Event::from_json_str(text) {
                Ok(event) => Item::Event {
                    event,
                    line: self.line,
                },
                Err(e) => Item::Rejected(Reject {
                    line: self.line,
                    reason: e.to_string(),
                    raw: RawRecord::Text(text.to_string()),
                }),
            }));
        }
    }
}
