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

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError};
use std::time::Duration;

use super::driver::{Kind, Sources, Stats, READERS, TICK};
use super::source::archived_rows;
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
    let quit = AtomicBool::new(false);
    std::thread::scope(|scope| {
        // Partitions are dealt round-robin, and a worker hands a finished
        // fold over only when the main thread takes it (a rendezvous): at
        // most two folds per worker (one being folded, one waiting) and the
        // one being absorbed are held, whatever the partitions' sizes.
        let mut lanes: Vec<Receiver<anyhow::Result<(K, Stats)>>> = Vec::with_capacity(workers);
        let mut handles = Vec::with_capacity(workers);
        for w in 0..workers {
            let (tx, rx) = sync_channel(0);
            lanes.push(rx);
            let mine: Vec<Partition> = partitions
                .iter()
                .skip(w)
                .step_by(workers)
                .copied()
                .collect();
            let template = kind
                .fork()
                .expect("only kinds that fork fold partitions apart");
            let quit = &quit;
            handles.push(scope.spawn(move || {
                for partition in mine {
                    let result = fold_partition(&template, sources, dir, partition, filter, quit);
                    let failed = result.is_err();
                    if tx.send(result).is_err() || failed {
                        return;
                    }
                }
            }));
        }
        let outcome = (|| {
            for i in 0..partitions.len() {
                let (fold, s) = loop {
                    // Renewed while waiting and after each partition
                    // (`renew` writes once a quarter of the TTL has passed).
                    sources.stop.check()?;
                    if let Some(lock) = lock.as_deref_mut() {
                        lock.renew()?;
                    }
                    match lanes[i % workers].recv_timeout(WAIT) {
                        Ok(result) => break result?,
                        Err(RecvTimeoutError::Timeout) => {}
                        // A worker sends before it ends, so only a panic
                        // (reported below, once joined) gets here.
                        Err(RecvTimeoutError::Disconnected) => {
                            anyhow::bail!("an archive reader thread ended early")
                        }
                    }
                };
                kind.absorb(fold)?;
                stats.add(&s);
            }
            Ok(())
        })();
        // Workers still folding stop at their next row, and those waiting
        // to hand over a fold find no receiver.
        quit.store(true, Ordering::Relaxed);
        drop(lanes);
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

/// Folds one partition into a fork of `template`.
fn fold_partition<K: Kind>(
    template: &K,
    sources: &Sources<'_>,
    dir: &Archive,
    partition: Partition,
    filter: &ScanFilter,
    quit: &AtomicBool,
) -> anyhow::Result<(K, Stats)> {
    let mut fold = template.fork().expect("a fork forks");
    let mut stats = Stats::new(sources.types.len());
    let events = read::partition_events(dir, vec![partition], filter, fold.columns());
    let rows = archived_rows(
        events,
        sources.boundary.clone(),
        sources.types.clone(),
        fold.prepare(),
    );
    let mut unreported = 0u64;
    for row in rows {
        sources.stop.check()?;
        if quit.load(Ordering::Relaxed) {
            anyhow::bail!(crate::cancel::Stopped);
        }
        let row = row?;
        stats.events += 1;
        stats.from_archive += 1;
        stats.per_type[row.type_pos] += 1;
        fold.apply(row)?;
        unreported += 1;
        if unreported == TICK {
            let seen = sources.seen.fetch_add(unreported, Ordering::Relaxed) + unreported;
            sources.progress.set_position(seen);
            unreported = 0;
        }
    }
    sources.seen.fetch_add(unreported, Ordering::Relaxed);
    Ok((fold, stats))
}
