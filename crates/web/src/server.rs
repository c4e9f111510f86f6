//! Running the server: listener, the application's background jobs,
//! graceful shutdown.

use crate::{AppState, HttpConfig, router_with};
use std::net::SocketAddr;

/// Serves until SIGTERM or Ctrl-C, then finishes in-flight requests.
pub async fn serve(st: AppState, http: HttpConfig, listen: &str) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
    let local = listener.local_addr()?;
    tracing::info!(address = %local, "Gatehouse is listening on http://{local}");
    let jobs = gatehouse_app::background::spawn(&st);
    let app = router_with(st.clone(), http).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    jobs.stop(&st).await;
    st.store.close().await;
    tracing::info!("stopped");
    Ok(())
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
