//! WAL checkpoints of an appending SQLite store, run on a thread and a
//! connection of their own so that the writer does not wait for them.
//!
//! A checkpoint copies the pages committed to the WAL back into the file and
//! makes both durable with `fsync`. SQLite's automatic checkpoint runs it in
//! the writer, at the end of a commit: for a 1M-event import that was about
//! 1.2 s of waiting in `fsync` (23 calls) plus the copy, an eighth of the
//! writer's wall time, while the second core sat mostly idle
//! (docs/performance.md, "Checkpoints beside the writer"). In WAL mode a
//! checkpoint from another connection runs beside the writer: `PASSIVE`
//! copies what no reader still needs and never blocks anyone.
//!
//! Nothing about durability changes: the same checkpoints happen, from
//! another connection, and SQLite recovers a checkpoint cut short by a kill
//! as it does in the writer. The writer keeps a larger automatic
//! checkpoint as a backstop ([`WRITER_CHECKPOINT_PAGES`]): a WAL restarts
//! from its start only once a checkpoint has copied all of it, which a
//! writer that begins its next group at once rarely lets the thread finish
//! first, so without the backstop the WAL file would only grow.

use std::sync::mpsc::{sync_channel, SyncSender};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;

/// The writer's own automatic checkpoint while a checkpointer runs, in
/// pages of 16 KiB: 128 MiB of WAL. By then the thread has copied most of
/// it, and the writer's checkpoint only finishes the rest and lets the WAL
/// start again from its beginning.
pub(super) const WRITER_CHECKPOINT_PAGES: i64 = 8192;

/// The thread; dropping it lets the checkpoint under way finish and waits
/// for it.
pub(super) struct Checkpointer {
    nudge: Option<SyncSender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Opens a connection of its own to `path` and starts the thread, and
    /// moves the writer's (`writer`) automatic checkpoint to the backstop.
    pub(super) fn start(path: &str, writer: &Connection) -> anyhow::Result<Checkpointer> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(10))?;
        // One nudge pending at most: commits that come while a checkpoint
        // runs are taken by the next one.
        let (nudge, nudged) = sync_channel::<()>(1);
        let thread = std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || {
                for () in nudged {
                    // A checkpoint that cannot run now (another holds the
                    // checkpoint lock) is the next nudge's, or the
                    // writer's backstop's.
                    let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
                }
            })?;
        writer.pragma_update(None, "wal_autocheckpoint", WRITER_CHECKPOINT_PAGES)?;
        Ok(Checkpointer {
            nudge: Some(nudge),
            thread: Some(thread),
        })
    }

    /// After a commit: a checkpoint is to copy it.
    pub(super) fn nudge(&self) {
        if let Some(nudge) = &self.nudge {
            // Full: a checkpoint is due already. Disconnected: the thread
            // is gone, and the writer's backstop checkpoints.
            let _ = nudge.try_send(());
        }
    }
}

impl Drop for Checkpointer {
    /// Stops the thread after the checkpoint under way. The writer's own
    /// checkpoint stays at the backstop: it closes next.
    fn drop(&mut self) {
        drop(self.nudge.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::{Duration, Instant};

    use uuid::Uuid;

    use super::super::SqliteStore;
    use crate::event::Event;
    use crate::store::Store;

    fn events(n: u128) -> Vec<Event> {
        (0..n)
            .map(|i| Event {
                id: Uuid::from_u128(i + 1),
                service: "core".into(),
                event_type: "t".into(),
                created_at: 1_000,
                received_at: Some(2_000 + i as i64),
                aggregate_id: None,
                correlation_id: None,
                payload: r#"{"note":"a payload of some length, so that pages fill"}"#.into(),
            })
            .collect()
    }

    /// A commit far smaller than SQLite's own automatic checkpoint (1,000
    /// pages) still reaches the file: the thread copied it. Once the store
    /// is dropped, the writer was the last connection and removed the WAL.
    #[test]
    fn commits_are_checkpointed_beside_the_writer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        let path = path.to_str().unwrap();
        let mut store = SqliteStore::open(path).unwrap();
        let file_size = || std::fs::metadata(path).unwrap().len();
        let empty = file_size();
        store.append(&events(2_000)).unwrap();
        store.flush().unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while file_size() == empty && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(file_size() > empty, "the commit is still only in the WAL");
        drop(store);
        assert!(!Path::new(&format!("{path}-wal")).exists());
        let mut again = SqliteStore::open(path).unwrap();
        assert_eq!(again.get_many(&[Uuid::from_u128(2_000)]).unwrap().len(), 1);
    }
}
