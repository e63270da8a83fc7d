//! Folding a window that only the archive holds: each partition is folded
//! on a reader thread into its own copy of the kind ([`Kind::fork`]), and
//! the copies are absorbed in partition order. Partitions do not overlap in
//! time, so this is the same fold as the merged stream's, without its
//! costs: no row crosses a thread, nothing is merged with a live store that
//! has nothing to add, and the fold's work runs on both cores (a tenth of a
//! rebuild's CPU was the merge and the hand-over between threads).
//!
//! Only for kinds whose folds combine, and only when the live store holds
//! no event of the window; otherwise the window goes through the merge.

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

use super::driver::{drive, Kind, Sources, Stats, READERS};
use super::source::{archived_rows, Origin};
use crate::archive::layout::Partition;
use crate::archive::location::Archive;
use crate::archive::read;
use crate::store::lock::StoreLock;
use crate::store::{OpenMode, ScanFilter};

/// True when the live store holds no event of `filter`'s window, so that
/// the archive alone is the window's stream.
pub(super) fn live_is_empty(sources: &Sources<'_>, filter: &ScanFilter) -> anyhow::Result<bool> {
    let mut store = (sources.stores)(OpenMode::ReadOnly)?;
    Ok(store.scan_page(filter, None, 1)?.is_empty())
}

/// How long the fold waits for a partition before renewing the lock.
const WAIT: Duration = Duration::from_millis(500);

/// Folds the archived partitions of `filter` into `kind` (see the module
/// documentation); `kind` must fork. An error is the one the sequential
/// fold would meet first: partitions are absorbed in order, and the first
/// failed one ends the run.
pub(super) fn fold_archive<K: Kind>(
    kind: &mut K,
    sources: &Sources<'_>,
    dir: &Archive,
    filter: &ScanFilter,
    mut lock: Option<&mut StoreLock>,
) -> anyhow::Result<Stats> {
    let partitions = read::partitions_for(dir, filter)?;
    let mut stats = Stats::new(sources.types.len());
    if partitions.is_empty() {
        return Ok(stats);
    }
    let workers = READERS.min(partitions.len());
    let board = Board {
        state: Mutex::new(BoardState {
            next: 0,
            absorbed: 0,
            done: BTreeMap::new(),
        }),
        changed: Condvar::new(),
        quit: AtomicBool::new(false),
    };
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                let template = kind
                    .fork()
                    .expect("only kinds that fork fold partitions apart");
                let (board, partitions) = (&board, &partitions);
                scope.spawn(move || {
                    while let Some(i) = board.take(partitions.len(), workers) {
                        // A panic is this partition's error: the main thread
                        // waits for every partition taken, so it must hear.
                        let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
                            fold_partition(
                                &template,
                                sources,
                                dir,
                                partitions[i],
                                filter,
                                &board.quit,
                            )
                        }))
                        .unwrap_or_else(|_| {
                            Err(anyhow::anyhow!("an archive reader thread panicked"))
                        });
                        let failed = result.is_err();
                        board.put(i, result);
                        if failed {
                            return;
                        }
                    }
                })
            })
            .collect();
        let outcome = (|| {
            for i in 0..partitions.len() {
                let (fold, s) = loop {
                    // Renewed while waiting and after each partition
                    // (`renew` writes once a quarter of the TTL has passed).
                    sources.stop.check()?;
                    if let Some(lock) = lock.as_deref_mut() {
                        lock.renew()?;
                    }
                    if let Some(result) = board.wait_for(i) {
                        break result?;
                    }
                };
                kind.absorb(fold)?;
                stats.add(&s);
            }
            Ok(())
        })();
        // Workers still folding stop at their next row; none takes more.
        board.finish();
        // Every worker is joined (a panic left unjoined would panic the
        // scope), and a panic is named as such.
        let panicked = handles
            .into_iter()
            .map(|h| h.join().is_err())
            .fold(false, |a, b| a | b);
        if panicked {
            anyhow::bail!("an archive reader thread panicked");
        }
        outcome
    })?;
    Ok(stats)
}

/// Where the workers take partitions and leave their folds. A worker takes
/// the next partition only while fewer than [`AHEAD`] per worker are
/// taken beyond the last one absorbed, so at most that many folds wait,
/// whatever the partitions' sizes; and no worker idles while another one
/// has partitions left, as a fixed share would.
struct Board<K> {
    state: Mutex<BoardState<K>>,
    changed: Condvar,
    /// Set (under the lock, so that no worker misses the wake-up) when the
    /// run ends: no partition is taken any more, and folds stop at their
    /// next row.
    quit: AtomicBool,
}

struct BoardState<K> {
    /// The next partition to take, and how many have been absorbed.
    next: usize,
    absorbed: usize,
    done: BTreeMap<usize, anyhow::Result<(K, Stats)>>,
}

/// Partitions a worker may be ahead of the absorbed ones (its own included).
const AHEAD: usize = 2;

impl<K> Board<K> {
    fn state(&self) -> MutexGuard<'_, BoardState<K>> {
        // A worker that panicked holding the lock left nothing half-done
        // that the others read.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The next partition to fold, once the window allows; none at the end.
    fn take(&self, partitions: usize, workers: usize) -> Option<usize> {
        let mut state = self.state();
        loop {
            if self.quit.load(Ordering::Relaxed) || state.next >= partitions {
                return None;
            }
            if state.next < state.absorbed + AHEAD * workers {
                state.next += 1;
                return Some(state.next - 1);
            }
            state = self.changed.wait(state).unwrap_or_else(|e| e.into_inner());
        }
    }

    fn put(&self, partition: usize, result: anyhow::Result<(K, Stats)>) {
        self.state().done.insert(partition, result);
        self.changed.notify_all();
    }

    /// Partition `i`'s fold, or none after [`WAIT`] without it.
    fn wait_for(&self, i: usize) -> Option<anyhow::Result<(K, Stats)>> {
        let mut state = self.state();
        if !state.done.contains_key(&i) {
            state = self
                .changed
                .wait_timeout(state, WAIT)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        let result = state.done.remove(&i)?;
        state.absorbed = i + 1;
        drop(state);
        self.changed.notify_all();
        Some(result)
    }

    fn finish(&self) {
        let state = self.state();
        self.quit.store(true, Ordering::Relaxed);
        drop(state);
        self.changed.notify_all();
    }
}

/// Folds one partition into a fork of `template`.
fn fold_partition<K: Kind>(
    template: &K,
    sources: &Sources<'_>,
    dir: &Archive,
    partition: Partition,
    filter: &ScanFilter,
    quit: &AtomicBool,
) -> anyhow::Result<(K, Stats)> {
    crate::fault::fault("fold-partition");
    let mut fold = template.fork().expect("a fork forks");
    let mut stats = Stats::new(sources.types.len());
    let events = read::partition_events(dir, vec![partition], filter, fold.columns());
    let rows = archived_rows(
        events,
        sources.boundary.clone(),
        sources.types.clone(),
        fold.prepare(),
    );
    // The driver's loop (counts, progress), over this partition's rows,
    // which end early once the run has.
    let rows = rows.map(move |row| {
        if quit.load(Ordering::Relaxed) {
            return Err(crate::cancel::Stopped.into());
        }
        row.map(|row| (Origin::Archive, row))
    });
    drive(Box::new(rows), &mut fold, &mut stats, sources, None)?;
    Ok((fold, stats))
}
