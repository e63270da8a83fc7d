//! Where the archive and the live store meet in a projection run: an id
//! must reach a projection once, whichever side holds it. Before a run
//! reads its window, the live events of the window whose id is also
//! archived are found (docs/projections.md, "Archive and live"):
//! - identical content: the live copy is skipped, the archived one counts;
//! - different content (a store written before archived-id records
//!   existed): the run stops with exit 1 naming the ids, unless
//!   `--prefer archive|live` says which version counts.

use std::collections::HashSet;
use std::str::FromStr;

use serde::Serialize;
use uuid::Uuid;

use crate::archive::archived_ids::live_overlap;
use crate::exit::ProblemsError;
use crate::store::{ScanFilter, Store};

/// Which version counts when the live and archived versions of an id differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Prefer {
    Archive,
    Live,
}

impl FromStr for Prefer {
    type Err = String;
    fn from_str(s: &str) -> Result<Prefer, String> {
        match s {
            "archive" => Ok(Prefer::Archive),
            "live" => Ok(Prefer::Live),
            _ => Err(format!("`{s}` is not archive or live")),
        }
    }
}

/// The ids each side must leave out so that every id is read once.
#[derive(Debug, Default)]
pub struct Boundary {
    pub skip_live: HashSet<Uuid>,
    pub skip_archive: HashSet<Uuid>,
    /// Ids found live and archived with the same content.
    pub identical: u64,
    /// Ids found live and archived with different content (settled by
    /// `--prefer`).
    pub differing: u64,
}

/// Ids named in the error; the rest are counted.
const SHOWN: usize = 5;

impl Boundary {
    /// Finds the live events of `filter` whose id is archived and decides,
    /// per id, which copy the run reads.
    pub fn resolve(
        archive: Option<&crate::archive::location::Archive>,
        store: &mut dyn Store,
        filter: &ScanFilter,
        prefer: Option<Prefer>,
    ) -> anyhow::Result<Boundary> {
        let mut boundary = Boundary::default();
        let mut differing = Vec::new();
        for (live, record) in live_overlap(archive, store, filter)? {
            if live.content_hash() == record.hash {
                boundary.identical += 1;
                boundary.skip_live.insert(live.id);
                continue;
            }
            boundary.differing += 1;
            match prefer {
                Some(Prefer::Archive) => {
                    boundary.skip_live.insert(live.id);
                }
                Some(Prefer::Live) => {
                    boundary.skip_archive.insert(live.id);
                }
                None => differing.push((live.id, record.partition)),
            }
        }
        if !differing.is_empty() {
            differing.sort();
            let shown: Vec<String> = differing
                .iter()
                .take(SHOWN)
                .map(|(id, p)| format!("{id} (archived in {p})"))
                .collect();
            return Err(ProblemsError(format!(
                "{} ids are both live in {} and archived, with different content: {}{}; nothing was written. Choose the version that counts with --prefer archive or --prefer live (chronicle verify lists them all)",
                differing.len(),
                store.describe(),
                shown.join(", "),
                if differing.len() > SHOWN { ", ..." } else { "" }
            ))
            .into());
        }
        Ok(boundary)
    }

    pub fn is_empty(&self) -> bool {
        self.skip_live.is_empty() && self.skip_archive.is_empty()
    }
}
