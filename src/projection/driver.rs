//! The projection driver: opens the merged stream of a window (archive and
//! live store, read on their own threads), hands each event to a [`Kind`],
//! counts what went by, renews the lock, and lets the kind commit with the
//! checkpoint. The kinds (`table`, `latest`, `exec`, and the dry run) only
//! see rows, one at a time, in (received_at, id) order.

use crate::archive::location::Archive;
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::sync::Arc;

use super::boundary::Boundary;
use super::direct;
use super::sink::ProjectionState;
use super::source::{archived_rows, rows, LiveEvents, Merge, Origin, Prefetch, Prepare, Row};
use super::types::TypeIndex;
use crate::archive::parquet::Columns;
use crate::archive::read;
use crate::cancel::{self, Stop};
use crate::event::Millis;
use crate::progress::Progress;
use crate::store::lock::StoreLock;
use crate::store::{OpenMode, ScanFilter, Store};

/// Opens a connection to the store a run reads and keeps its lock and
/// checkpoints in: called once per connection the run needs (the lock's,
/// the boundary check's, one per live reader thread).
pub type StoreOpener<'a> = &'a (dyn Fn(OpenMode) -> anyhow::Result<Box<dyn Store>> + Sync);

/// What a kind wrote.
#[derive(Debug, Clone, Copy, Default)]
pub struct Written {
    pub rows: u64,
    /// `latest` only: events without `meta.aggregate_id`.
    pub without_aggregate: u64,
    /// `latest` only: the rows the table holds after the run (one per
    /// aggregate), which is not the number of upserts.
    pub table_rows: Option<u64>,
}

impl Written {
    pub fn rows(rows: u64) -> Written {
        Written {
            rows,
            ..Written::default()
        }
    }
}

/// A kind of projection, opened for one run by its own constructor: it is
/// given each event of the window in order ([`Kind::apply`]), then commits
/// its result together with the checkpoint ([`Kind::commit`]), or is
/// aborted ([`Kind::abort`]) when the run fails.
pub trait Kind: Send + Sized {
    /// What the reader threads make of each event for this kind.
    type Data: Send + 'static;

    /// The archive columns the kind reads (the others are not decoded).
    fn columns(&self) -> Columns;

    /// The per-event work done on the reader threads.
    fn prepare(&self) -> Arc<Prepare<Self::Data>>;

    /// Takes one event into the projection.
    fn apply(&mut self, row: Row<Self::Data>) -> anyhow::Result<()>;

    /// An empty copy that folds a later window on another thread, for the
    /// kinds whose folds combine ([`Kind::absorb`]); `None` = one thread.
    fn fork(&self) -> Option<Self> {
        None
    }

    /// Adds the fold of the next window (from [`Kind::fork`]).
    fn absorb(&mut self, _later: Self) -> anyhow::Result<()> {
        unreachable!("only kinds that fork absorb")
    }

    /// Writes the result and `state` (the new checkpoint) atomically.
    fn commit(self, state: ProjectionState) -> anyhow::Result<Written>;

    /// Gives up after a failure: nothing is committed.
    fn abort(self) {}
}

/// What went by, per source and per type.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    pub events: u64,
    pub from_archive: u64,
    pub from_live: u64,
    pub in_both: u64,
    pub per_type: Vec<u64>,
}

impl Stats {
    pub fn new(types: usize) -> Stats {
        Stats {
            per_type: vec![0; types],
            ..Stats::default()
        }
    }

    pub(super) fn add(&mut self, other: &Stats) {
        self.events += other.events;
        self.from_archive += other.from_archive;
        self.from_live += other.from_live;
        self.in_both += other.in_both;
        for (a, b) in self.per_type.iter_mut().zip(&other.per_type) {
            *a += b;
        }
    }
}

/// Where a run's events come from, and the progress and stop its threads
/// share (the first to fail stops the others).
pub struct Sources<'a> {
    pub stores: StoreOpener<'a>,
    /// The archive folder; read when it exists.
    pub archive: Option<&'a Archive>,
    pub boundary: Arc<Boundary>,
    pub types: Arc<TypeIndex>,
    pub progress: &'a dyn Progress,
    pub seen: AtomicU64,
    pub stop: Stop,
}

/// A merged stream of rows.
pub type Rows<'a, P> = Box<dyn Iterator<Item = anyhow::Result<(Origin, Row<P>)>> + 'a>;

impl Sources<'_> {
    /// The rows of `filter` from the archive (when it is a folder) and the
    /// live store, merged; each side leaves out the ids the boundary
    /// assigns to the other, so that an id is read once.
    fn open<P: Send + 'static>(
        &self,
        filter: &ScanFilter,
        columns: Columns,
        prepare: &Arc<Prepare<P>>,
    ) -> anyhow::Result<Rows<'static, P>> {
        let live_store = (self.stores)(OpenMode::ReadOnly)?;
        let live_filter = filter.clone();
        let skip = Arc::clone(&self.boundary);
        let (types, prep) = (Arc::clone(&self.types), Arc::clone(prepare));
        let live = Prefetch::spawn(move || {
            let events = LiveEvents::new(live_store, live_filter)
                .filter(move |e| !matches!(e, Ok(e) if skip.skip_live.contains(&e.id)));
            Ok(rows(events, types, prep))
        });
        let archived = match self.archive {
            Some(dir) if dir.exists()? => Some(self.archived(dir, filter, columns, prepare)?),
            _ => None,
        };
        Ok(match archived {
            Some(archived) => Box::new(Merge::new(archived, live)),
            None => Box::new(Merge::new(std::iter::empty(), live)),
        })
    }

    /// The archived rows of `filter`: one stream per partition, decoded
    /// on [`READERS`] threads in parallel and yielded in partition order.
    fn archived<P: Send + 'static>(
        &self,
        dir: &Archive,
        filter: &ScanFilter,
        columns: Columns,
        prepare: &Arc<Prepare<P>>,
    ) -> anyhow::Result<Prefetch<Row<P>>> {
        let opens: Vec<_> = read::partitions_for(dir, filter)?
            .into_iter()
            .map(|partition| {
                let (dir, skip) = (dir.clone(), Arc::clone(&self.boundary));
                let (types, prep) = (Arc::clone(&self.types), Arc::clone(prepare));
                let filter = filter.clone();
                move || {
                    let events = read::partition_events(&dir, vec![partition], &filter, columns);
                    Ok(archived_rows(events, skip, types, prep))
                }
            })
            .collect();
        Ok(Prefetch::spawn_ordered(READERS, opens))
    }
}

/// Threads decoding archive partitions at once: parsing Parquet, building
/// events and the kind's per-event work dominate a rebuild, and the fold
/// itself needs less than a core.
pub(super) const READERS: usize = 2;

/// Events counted between two progress updates and lock renewals.
const TICK: u64 = 8192;

/// Reads a merged stream, counts it into `stats`, and hands each row to
/// `kind`.
pub(super) fn drive<K: Kind>(
    rows: Rows<'_, K::Data>,
    kind: &mut K,
    stats: &mut Stats,
    sources: &Sources<'_>,
    mut lock: Option<&mut StoreLock>,
) -> anyhow::Result<()> {
    let mut unreported = 0u64;
    for item in rows {
        sources.stop.check()?;
        let (origin, row) = item?;
        stats.events += 1;
        match origin {
            Origin::Archive => stats.from_archive += 1,
            Origin::Live => stats.from_live += 1,
            Origin::Both => stats.in_both += 1,
        }
        stats.per_type[row.type_pos] += 1;
        kind.apply(row)?;
        unreported += 1;
        if unreported == TICK {
            let seen = sources.seen.fetch_add(unreported, AtomicOrdering::Relaxed) + unreported;
            sources.progress.set_position(seen);
            unreported = 0;
            if let Some(lock) = lock.as_deref_mut() {
                lock.renew()?;
            }
        }
    }
    sources.seen.fetch_add(unreported, AtomicOrdering::Relaxed);
    Ok(())
}

/// Where a fold can be cut in two windows read in parallel: the end of the
/// last archived partition inside the window, so that one thread reads
/// (mostly) the archive and the other (mostly) the live store. Both windows
/// are still merged from both sources, so the cut is only about speed,
/// never about which events are read.
fn split_point(archive: Option<&Archive>, filter: &ScanFilter) -> Option<Millis> {
    let dir = archive.filter(|d| d.exists().unwrap_or(false))?;
    let partitions = read::partitions_for(dir, filter).ok()?;
    let cut = partitions.last()?.end();
    let inside = filter.since.is_none_or(|s| cut > s) && filter.until.is_none_or(|u| cut < u);
    inside.then_some(cut)
}

/// Runs `kind` over the window `filter`, then commits it with `state`
/// (whose `last_run_events` is set here). Nothing is committed on failure.
pub fn run_kind<K: Kind>(
    mut kind: K,
    sources: &Sources<'_>,
    filter: &ScanFilter,
    stats: &mut Stats,
    lock: Option<&mut StoreLock>,
    mut state: ProjectionState,
) -> anyhow::Result<Written> {
    let outcome = fold(&mut kind, sources, filter, stats, lock);
    if let Err(e) = outcome {
        kind.abort();
        return Err(e);
    }
    state.last_run_events = stats.events;
    kind.commit(state)
}

fn fold<K: Kind>(
    kind: &mut K,
    sources: &Sources<'_>,
    filter: &ScanFilter,
    stats: &mut Stats,
    lock: Option<&mut StoreLock>,
) -> anyhow::Result<()> {
    let (columns, prepare) = (kind.columns(), kind.prepare());
    let combines = kind.fork().is_some();
    let window = |kind: &mut K, f: &ScanFilter, lock: Option<&mut StoreLock>| {
        // A window only the archive holds is folded partition by partition
        // (see `direct`), when the kind's folds combine.
        if let Some(dir) = sources.archive {
            if combines && dir.exists()? && direct::live_is_empty(sources, f)? {
                return direct::fold_archive(kind, sources, dir, f, lock);
            }
        }
        let mut s = Stats::new(sources.types.len());
        drive(
            sources.open(f, columns, &prepare)?,
            kind,
            &mut s,
            sources,
            lock,
        )?;
        Ok::<_, anyhow::Error>(s)
    };
    let later = split_point(sources.archive, filter).and_then(|cut| Some((cut, kind.fork()?)));
    let Some((cut, mut later)) = later else {
        let s = window(kind, filter, lock)?;
        stats.add(&s);
        return Ok(());
    };
    // Two windows folded on two threads; the later one is absorbed into the
    // earlier one, which gives exactly the sequential fold.
    let early = ScanFilter {
        until: Some(cut),
        ..filter.clone()
    };
    let late = ScanFilter {
        since: Some(cut),
        ..filter.clone()
    };
    let stop = &sources.stop;
    let (a, b) = std::thread::scope(|scope| {
        let later_fold = scope.spawn(|| {
            stop.guard(|| {
                let s = window(&mut later, &late, None)?;
                Ok((later, s))
            })
        });
        let earlier = stop.guard(|| window(kind, &early, lock));
        let later = later_fold
            .join()
            .unwrap_or_else(|_| Err(anyhow::anyhow!("the fold thread panicked")));
        (earlier, later)
    });
    let (sa, (later, sb)) = cancel::both(a, b)?;
    kind.absorb(later)?;
    stats.add(&sa);
    stats.add(&sb);
    Ok(())
}
