//! The jobs every front end needs running beside it: housekeeping (expired
//! sessions, old challenges and attempt counters), the SQLite checkpointer,
//! the audit sealer, and the delivery worker.

use crate::AppState;
use std::time::Duration;

/// The running jobs; [`Background::stop`] ends them.
pub struct Background {
    housekeeping: tokio::task::JoinHandle<()>,
    checkpointer: tokio::task::JoinHandle<()>,
    sealer: tokio::task::JoinHandle<()>,
    stop_worker: tokio::sync::watch::Sender<bool>,
    worker: Option<tokio::task::JoinHandle<()>>,
}

/// Starts the jobs on the current tokio runtime.
pub fn spawn(st: &AppState) -> Background {
    let housekeeping = tokio::spawn(housekeeping(st.clone()));
    let checkpointer = tokio::spawn(checkpointer(st.clone()));
    let sealer = tokio::spawn(sealer(st.clone()));
    let (stop_worker, worker_stop) = tokio::sync::watch::channel(false);
    let worker = if st.config.delivery_worker {
        Some(tokio::spawn(crate::service::delivery::run_worker(
            st.clone(),
            worker_stop,
        )))
    } else {
        tracing::warn!("the delivery worker is off: texts, calls and e-mail stay queued");
        None
    };
    Background {
        housekeeping,
        checkpointer,
        sealer,
        stop_worker,
        worker,
    }
}

impl Background {
    /// Stops the jobs: the delivery worker finishes the message in hand
    /// (for at most ten seconds); then the audit log is sealed one last time.
    pub async fn stop(self, st: &AppState) {
        self.housekeeping.abort();
        self.checkpointer.abort();
        self.sealer.abort();
        let _ = self.stop_worker.send(true);
        if let Some(w) = self.worker {
            let _ = tokio::time::timeout(Duration::from_secs(10), w).await;
        }
        if let Err(e) = gatehouse_store::audit::seal_all(&st.store).await {
            tracing::warn!(error = %e, "sealing the audit log at shutdown failed");
        }
    }
}

/// Rows deleted per statement: each batch holds the write lock briefly, so
/// sign-ins and validations wait at most one batch.
const PURGE_BATCH: i64 = 500;

/// Every minute: deletes timed-out sessions, PhoneFactor challenges older
/// than a month (kept for investigations; the audit log keeps the story for
/// good) and attempt counters whose window is long over — in small batches.
async fn housekeeping(st: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let now = st.now();
        let month_ago = now.plus_minutes(-30 * 24 * 60);
        let two_days_ago = now.plus_minutes(-2 * 24 * 60);
        purge_in_batches(&st, "sessions", |c| {
            Box::pin(gatehouse_store::sessions::purge_expired(
                c,
                now,
                PURGE_BATCH,
            ))
        })
        .await;
        purge_in_batches(&st, "challenges", |c| {
            Box::pin(gatehouse_store::phonefactor::purge_challenges(
                c,
                month_ago,
                PURGE_BATCH,
            ))
        })
        .await;
        purge_in_batches(&st, "throttles", |c| {
            Box::pin(gatehouse_store::throttle::purge_stale(
                c,
                two_days_ago,
                PURGE_BATCH,
            ))
        })
        .await;
    }
}

type PurgeFuture<'c> =
    std::pin::Pin<Box<dyn std::future::Future<Output = gatehouse_store::Result<u64>> + Send + 'c>>;

/// Runs `purge` (one batch per call, each its own write) until a batch
/// comes back short.
async fn purge_in_batches(
    st: &AppState,
    what: &'static str,
    purge: impl for<'c> Fn(&'c mut gatehouse_store::Conn) -> PurgeFuture<'c>,
) {
    let mut total = 0;
    loop {
        let removed = match st.store.begin().await {
            Ok(mut tx) => match purge(&mut tx).await {
                Ok(n) => tx.commit().await.map(|()| n).map_err(Into::into),
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        };
        match removed {
            Ok(n) => {
                total += n;
                if n < PURGE_BATCH as u64 {
                    break;
                }
                // Let waiting writers in between batches.
                tokio::task::yield_now().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, what, "housekeeping failed; will retry");
                break;
            }
        }
    }
    if total > 0 {
        tracing::debug!(removed = total, what, "housekeeping");
        metrics::counter!("gatehouse_housekeeping_deleted_total", "what" => what).increment(total);
    }
}

/// Keeps SQLite's write-ahead log bounded: checks its size every second,
/// truncates it once it passes [`gatehouse_store::WAL_LIMIT_BYTES`] / 4, and
/// at least every 30 s when it is not empty. Exposes its size as
/// `gatehouse_sqlite_wal_bytes`.
async fn checkpointer(st: AppState) {
    const EVERY: Duration = Duration::from_secs(30);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last = tokio::time::Instant::now();
    loop {
        tick.tick().await;
        let wal = st.store.wal_bytes();
        metrics::gauge!("gatehouse_sqlite_wal_bytes").set(wal as f64);
        if wal == 0 || (wal < gatehouse_store::WAL_LIMIT_BYTES / 4 && last.elapsed() < EVERY) {
            continue;
        }
        last = tokio::time::Instant::now();
        match st.store.checkpoint().await {
            Ok(Some(c)) if c.busy => {
                tracing::debug!(
                    log_frames = c.log_frames,
                    "checkpoint could not finish; will retry"
                )
            }
            Ok(_) => metrics::gauge!("gatehouse_sqlite_wal_bytes").set(st.store.wal_bytes() as f64),
            Err(e) => tracing::warn!(error = %e, "checkpoint failed; will retry"),
        }
    }
}

/// Links new audit entries into the hash chain several times a second.
async fn sealer(st: AppState) {
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = gatehouse_store::audit::seal_all(&st.store).await {
            tracing::warn!(error = %e, "sealing the audit log failed; will retry");
        }
    }
}
