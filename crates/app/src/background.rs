//! The jobs every front end needs running beside it: housekeeping (expired
//! sessions and old challenges), the audit sealer, and the delivery worker.

use crate::AppState;
use std::time::Duration;

/// The running jobs; [`Background::stop`] ends them.
pub struct Background {
    housekeeping: tokio::task::JoinHandle<()>,
    sealer: tokio::task::JoinHandle<()>,
    stop_worker: tokio::sync::watch::Sender<bool>,
    worker: Option<tokio::task::JoinHandle<()>>,
}

/// Starts the jobs on the current tokio runtime.
pub fn spawn(st: &AppState) -> Background {
    let housekeeping = tokio::spawn(housekeeping(st.clone()));
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

/// Removes timed-out sessions every few minutes.
async fn housekeeping(st: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(300));
    loop {
        tick.tick().await;
        match st.store.conn().await {
            Ok(mut conn) => {
                match gatehouse_store::sessions::purge_expired(&mut conn, st.now()).await {
                    Ok(n) if n > 0 => tracing::debug!(removed = n, "purged expired sessions"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "session purge failed"),
                }
                // Finished PhoneFactor challenges are kept a month for
                // investigations (the audit log keeps the story for good).
                let month_ago = st.now().plus_minutes(-30 * 24 * 60);
                if let Err(e) =
                    gatehouse_store::phonefactor::purge_challenges(&mut conn, month_ago).await
                {
                    tracing::warn!(error = %e, "challenge purge failed");
                }
            }
            Err(e) => tracing::warn!(error = %e, "session purge: no connection"),
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
