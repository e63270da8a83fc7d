//! Stopping a job, whichever thread asks: the one mechanism every pipeline
//! (import, archive, replay, rebuild, project, export) uses so that no job
//! ever hangs and every job can be interrupted.
//!
//! - A process-wide interrupt flag: the binary sets it on SIGINT or SIGTERM
//!   ([`interrupt`]); long loops check it at their batch boundaries and
//!   stop there, keeping what they committed ([`Interrupted`]).
//! - [`Stop`]: one job's threads stop together. The first failure stops the
//!   others instead of leaving them to finish (or to wait for ever).
//! - [`bounded`], [`pipeline`], [`spawn_feed`]: the channel between a
//!   producer thread and its consumer. A consumer that returns for any
//!   reason drops its end, which frees a producer blocked on a full channel;
//!   a producer's error reaches the consumer as an item, and a producer
//!   that dies without a word (a panic) is an error too, never a silent end
//!   of the stream. The consumer also sees an interrupt while it waits.

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

pub const SIGINT: i32 = 2;
pub const SIGTERM: i32 = 15;

/// The first interrupting signal received, 0 while none was.
static SIGNAL: AtomicI32 = AtomicI32::new(0);

/// How often a waiting consumer looks at the stop flags.
const POLL: Duration = Duration::from_millis(100);

/// Asks every running job to stop at its next batch boundary (called by the
/// binary's signal handler). The first signal is the one reported.
pub fn interrupt(signal: i32) {
    let _ = SIGNAL.compare_exchange(0, signal, Ordering::SeqCst, Ordering::SeqCst);
}

/// The interrupt received, if any.
pub fn interrupted() -> Option<Interrupted> {
    match SIGNAL.load(Ordering::Relaxed) {
        0 => None,
        signal => Some(Interrupted { signal }),
    }
}

/// `Err` once the process was interrupted: the check of a long loop.
pub fn check() -> Result<(), Interrupted> {
    interrupted().map_or(Ok(()), Err)
}

/// The job stopped because the process received `signal`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("interrupted by {}", self.name())]
pub struct Interrupted {
    pub signal: i32,
}

/// In JSON summaries: `"interrupted": "SIGINT"`.
impl serde::Serialize for Interrupted {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl Interrupted {
    pub fn name(&self) -> &'static str {
        match self.signal {
            SIGINT => "SIGINT",
            SIGTERM => "SIGTERM",
            _ => "a signal",
        }
    }
}

/// The interrupt behind `error`, if that is what it is.
pub fn interruption(error: &anyhow::Error) -> Option<Interrupted> {
    error
        .chain()
        .find_map(|cause| cause.downcast_ref::<Interrupted>())
        .copied()
}

/// A thread stopped because another thread of its job failed; that other
/// thread's error is the one to report.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("stopped because another part of this job failed")]
pub struct Stopped;

/// The threads of one job: once [`Stop::stop`] is called, or the process
/// is interrupted, [`Stop::check`] fails in every one of them.
#[derive(Debug, Clone, Default)]
pub struct Stop(Arc<AtomicBool>);

impl Stop {
    pub fn new() -> Stop {
        Stop::default()
    }

    /// Stops every thread of the job at its next check.
    pub fn stop(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// `Err(Interrupted)` once the process was interrupted, `Err(Stopped)`
    /// once another thread of the job failed.
    pub fn check(&self) -> anyhow::Result<()> {
        check()?;
        if self.0.load(Ordering::Relaxed) {
            return Err(Stopped.into());
        }
        Ok(())
    }

    /// Runs `work`, stopping the whole job if it fails.
    pub fn guard<T>(&self, work: impl FnOnce() -> anyhow::Result<T>) -> anyhow::Result<T> {
        let result = work();
        if result.is_err() {
            self.stop();
        }
        result
    }
}

/// Of two threads' results, the first real cause: an error that only says
/// "stopped because the other failed" never hides the other's error.
pub fn both<A, B>(a: anyhow::Result<A>, b: anyhow::Result<B>) -> anyhow::Result<(A, B)> {
    let secondary = |e: &anyhow::Error| e.downcast_ref::<Stopped>().is_some();
    match (a, b) {
        (Ok(a), Ok(b)) => Ok((a, b)),
        (Err(e), Ok(_)) | (Ok(_), Err(e)) => Err(e),
        (Err(a), Err(b)) => Err(if secondary(&a) { b } else { a }),
    }
}

enum Message<T> {
    Item(T),
    Failed(anyhow::Error),
    Done,
}

/// The producer's end of a [`bounded`] channel.
pub struct Feed<T> {
    tx: Sender<Message<T>>,
}

/// The consumer has gone (it failed, was interrupted, or needs no more):
/// the producer should return.
#[derive(Debug, Clone, Copy)]
pub struct Gone;

impl<T> Feed<T> {
    /// Hands over one item, waiting while the channel is full.
    pub fn send(&self, item: T) -> Result<(), Gone> {
        self.tx.send(Message::Item(item)).map_err(|_| Gone)
    }

    /// Ends the stream: cleanly, or with the producer's error, which the
    /// consumer receives after the items sent before it.
    pub fn finish(self, result: anyhow::Result<()>) {
        let _ = self.tx.send(match result {
            Ok(()) => Message::Done,
            Err(e) => Message::Failed(e),
        });
    }
}

/// The consumer's end of a [`bounded`] channel: an iterator of the items,
/// then `None` after a clean end. The producer's error, its death without
/// finishing, an interrupt or a stopped job each come as one `Err`, after
/// which the iterator ends. Dropping it releases the producer.
pub struct Drain<T> {
    rx: Receiver<Message<T>>,
    what: &'static str,
    stop: Stop,
    ended: bool,
}

impl<T> Iterator for Drain<T> {
    type Item = anyhow::Result<T>;

    fn next(&mut self) -> Option<anyhow::Result<T>> {
        if self.ended {
            return None;
        }
        loop {
            if let Err(e) = self.stop.check() {
                self.ended = true;
                return Some(Err(e));
            }
            match self.rx.recv_timeout(POLL) {
                Ok(Message::Item(item)) => return Some(Ok(item)),
                Ok(Message::Failed(e)) => {
                    self.ended = true;
                    return Some(Err(e));
                }
                Ok(Message::Done) => {
                    self.ended = true;
                    return None;
                }
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => {
                    self.ended = true;
                    return Some(Err(anyhow::anyhow!(
                        "the {} thread stopped without finishing its work (it panicked)",
                        self.what
                    )));
                }
            }
        }
    }
}

/// A channel of at most `capacity` items between two threads of the job
/// `stop`; `what` names the producer in errors.
pub fn bounded<T>(what: &'static str, capacity: usize, stop: &Stop) -> (Feed<T>, Drain<T>) {
    let (tx, rx) = crossbeam_channel::bounded(capacity);
    (
        Feed { tx },
        Drain {
            rx,
            what,
            stop: stop.clone(),
            ended: false,
        },
    )
}

/// Runs `produce` on a scoped thread that feeds `consume` on this one.
/// Whichever side fails first ends both: `consume` owns the drain, so its
/// return frees a producer blocked on a full channel, and the job is
/// stopped for the producer's own checks. The consumer's error is returned;
/// the producer's reaches the consumer through the channel.
pub fn pipeline<T: Send, R>(
    what: &'static str,
    capacity: usize,
    stop: &Stop,
    produce: impl FnOnce(&Feed<T>) -> anyhow::Result<()> + Send,
    consume: impl FnOnce(Drain<T>) -> anyhow::Result<R>,
) -> anyhow::Result<R> {
    let (feed, drain) = bounded(what, capacity, stop);
    std::thread::scope(|scope| {
        let producer = scope.spawn(move || {
            let result = produce(&feed);
            feed.finish(result);
        });
        let result = stop.guard(|| consume(drain));
        // A producer's panic already reached the consumer as an error;
        // joining it here keeps the scope from raising it again.
        let _ = producer.join();
        result
    })
}

/// As [`pipeline`], for a producer that owns what it reads: it runs on a
/// thread of its own that nobody waits for, so a producer blocked in a read
/// that may never return (an idle stdin) cannot hold up the job. It ends at
/// its next send once the drain is gone.
pub fn spawn_feed<T: Send + 'static>(
    what: &'static str,
    capacity: usize,
    stop: &Stop,
    produce: impl FnOnce(&Feed<T>) -> anyhow::Result<()> + Send + 'static,
) -> Drain<T> {
    let (feed, drain) = bounded(what, capacity, stop);
    std::thread::spawn(move || {
        let result = produce(&feed);
        feed.finish(result);
    });
    drain
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failing_consumer_releases_a_producer_blocked_on_a_full_channel() {
        let stop = Stop::new();
        let sent = std::sync::atomic::AtomicU64::new(0);
        let result: anyhow::Result<()> = pipeline(
            "test",
            1,
            &stop,
            |feed| {
                for i in 0u64.. {
                    if feed.send(i).is_err() {
                        return Ok(());
                    }
                    sent.fetch_add(1, Ordering::Relaxed);
                }
                Ok(())
            },
            |mut drain| {
                drain.next();
                anyhow::bail!("disk full")
            },
        );
        assert_eq!(result.unwrap_err().to_string(), "disk full");
        assert!(sent.load(Ordering::Relaxed) < 10);
    }

    #[test]
    fn a_producer_error_or_panic_is_never_a_clean_end() {
        let stop = Stop::new();
        let mut drain = spawn_feed("reader", 4, &stop, |feed| {
            feed.send(1).ok();
            anyhow::bail!("truncated input")
        });
        assert_eq!(drain.next().unwrap().unwrap(), 1);
        assert_eq!(
            drain.next().unwrap().unwrap_err().to_string(),
            "truncated input"
        );
        assert!(drain.next().is_none());

        let mut drain = spawn_feed::<u32>("reader", 4, &stop, |_| panic!("bug"));
        let err = drain.next().unwrap().unwrap_err().to_string();
        assert!(
            err.contains("reader thread stopped without finishing"),
            "{err}"
        );
    }

    #[test]
    fn a_stopped_job_stops_a_waiting_consumer_and_the_real_cause_wins() {
        let stop = Stop::new();
        let (_feed, mut drain) = bounded::<u32>("idle", 1, &stop);
        let stopper = stop.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(150));
            stopper.stop();
        });
        let err = drain.next().unwrap().unwrap_err();
        t.join().unwrap();
        assert!(err.downcast_ref::<Stopped>().is_some());
        let real = both::<(), ()>(Err(err), Err(anyhow::anyhow!("target full")));
        assert_eq!(real.unwrap_err().to_string(), "target full");
    }
}
