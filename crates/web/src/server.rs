//! Running the server: listener, housekeeping, graceful shutdown.

use crate::{AppState, router};
use std::net::SocketAddr;
use std::time::Duration;

/// Serves until SIGTERM or Ctrl-C, then finishes in-flight requests.
pub async fn serve(st: AppState, listen: &str) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
    let local = listener.local_addr()?;
    tracing::info!(address = %local, "Gatehouse is listening on http://{local}");
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
    let app = router(st.clone()).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    housekeeping.abort();
    sealer.abort();
    let _ = stop_worker.send(true);
    if let Some(w) = worker {
        let _ = tokio::time::timeout(Duration::from_secs(10), w).await;
    }
    if let Err(e) = gatehouse_store::audit::seal_all(&st.store).await {
        tracing::warn!(error = %e, "sealing the audit log at shutdown failed");
    }
    st.store.close().await;
    tracing::info!("stopped");
    Ok(())
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

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}
