//! Group commit for SQLite: one writer connection on a thread of its own.
//!
//! Write jobs queue here; the writer takes whatever is waiting (up to
//! [`MAX_BATCH`] jobs), runs them inside one `BEGIN IMMEDIATE` transaction,
//! each in its own savepoint (a job that fails is rolled back alone and
//! the others stay), commits once, and only then answers each job. So a
//! caller hears "done" only after the commit that made its write durable,
//! and one commit serves many callers.
//!
//! Why a thread and rusqlite rather than a pooled sqlx connection: with
//! sqlx every statement is a round trip between a tokio worker and the
//! connection's own thread (a channel send, a wake-up and a context switch
//! each way), and those hand-offs, not SQLite, were where a validation's
//! time went. Here a whole batch runs on one thread with cached prepared
//! statements. It takes the process's write turn (the same one
//! [`Store::begin`](crate::Store::begin) takes), so it and the pooled
//! writers queue in order instead of meeting in SQLite's busy handler.

use crate::db::Durability;
use std::path::Path;
use std::sync::Arc;

/// Jobs per transaction at most: bounds the time one commit takes, so a
/// job waits for at most one batch ahead of it.
pub const MAX_BATCH: usize = 256;

/// Jobs that may wait; callers beyond it wait to enqueue (backpressure).
const QUEUE: usize = 4096;

/// A write job: runs on the writer's connection inside a savepoint, and
/// hears after the commit whether it held.
pub(crate) trait Job: Send {
    /// The job's statements. An error rolls back this job's savepoint only.
    fn run(&mut self, conn: &rusqlite::Connection) -> rusqlite::Result<()>;
    /// Called once the batch is committed (`Ok`), or failed as a whole.
    fn finish(self: Box<Self>, outcome: Result<(), String>);
}

/// The handle to the writer thread; cloning shares it.
#[derive(Clone)]
pub(crate) struct GroupWriter {
    queue: tokio::sync::mpsc::Sender<Box<dyn Job>>,
}

impl std::fmt::Debug for GroupWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GroupWriter")
    }
}

impl GroupWriter {
    /// Opens the writer's connection to `file` and starts its thread. The
    /// thread ends when the last handle is dropped.
    pub(crate) fn start(
        file: &Path,
        durability: Durability,
        turn: Arc<tokio::sync::Mutex<()>>,
    ) -> Result<Self, String> {
        let conn = rusqlite::Connection::open(file).map_err(|e| e.to_string())?;
        let sync = match durability {
            Durability::Normal => "NORMAL",
            Durability::Full => "FULL",
        };
        conn.execute_batch(&format!(
            "PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000; \
             PRAGMA synchronous = {sync}; \
             PRAGMA journal_size_limit = {};",
            crate::db::WAL_LIMIT_BYTES
        ))
        .map_err(|e| e.to_string())?;
        conn.set_prepared_statement_cache_capacity(64);
        let (queue, rx) = tokio::sync::mpsc::channel(QUEUE);
        std::thread::Builder::new()
            .name("gatehouse-sqlite-writer".into())
            .spawn(move || run(conn, rx, turn))
            .map_err(|e| format!("starting the writer thread: {e}"))?;
        Ok(Self { queue })
    }

    /// Queues `job`; it hears its outcome through [`Job::finish`].
    pub(crate) async fn submit(&self, job: Box<dyn Job>) -> Result<(), Box<dyn Job>> {
        self.queue.send(job).await.map_err(|e| e.0)
    }
}

fn run(
    mut conn: rusqlite::Connection,
    mut rx: tokio::sync::mpsc::Receiver<Box<dyn Job>>,
    turn: Arc<tokio::sync::Mutex<()>>,
) {
    while let Some(first) = rx.blocking_recv() {
        let mut jobs = vec![first];
        while jobs.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        let mut own = vec![Ok(()); jobs.len()];
        let outcome = {
            let _turn = turn.blocking_lock();
            batch(&mut conn, &mut jobs, &mut own)
        };
        tracing::trace!(jobs = jobs.len(), "group commit");
        for (job, own) in jobs.into_iter().zip(own) {
            job.finish(own.and(outcome.clone()));
        }
    }
}

/// One transaction over `jobs`, each in a savepoint; a job's own failure
/// goes to `own`, the transaction's is returned.
fn batch(
    conn: &mut rusqlite::Connection,
    jobs: &mut [Box<dyn Job>],
    own: &mut [Result<(), String>],
) -> Result<(), String> {
    let mut tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(|e| e.to_string())?;
    for (job, own) in jobs.iter_mut().zip(own.iter_mut()) {
        let mut sp = tx.savepoint().map_err(|e| e.to_string())?;
        sp.set_drop_behavior(rusqlite::DropBehavior::Rollback);
        match job.run(&sp) {
            Ok(()) => sp.commit().map_err(|e| e.to_string())?,
            Err(e) => {
                tracing::warn!(error = %e, "a grouped write failed; rolled back alone");
                *own = Err(e.to_string());
                drop(sp);
            }
        }
    }
    tx.commit().map_err(|e| e.to_string())
}
